//! Sources, inventories, `plugin search`, installs by name and the artifact
//! cache, against inventories written by the tests and served from
//! 127.0.0.1 by a server that honours ETags and counts every request.

use crate::archives::{self, Entry, platform, plugin_script, tar_gz};
use crate::server::{FakeGitHub, Reply, Request, Server, sha256_hex};
use crate::support::TestEnv;
use predicates::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A team's web server: files by path, each served with a strong ETag
/// (and `304` for a matching `If-None-Match`).
struct Team {
    server: Server,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Team {
    fn start() -> Team {
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let f = files.clone();
        let server = Server::start("127.0.0.1", move |req: &Request| {
            let path = req.path.split('?').next().unwrap_or_default();
            let Some(body) = f.lock().unwrap().get(path).cloned() else {
                return Reply::status(404, &[]);
            };
            let etag = format!("\"{}\"", &sha256_hex(&body)[..16]);
            if req.header("if-none-match") == Some(etag.as_str()) {
                return Reply::Body {
                    status: 304,
                    headers: vec![("ETag".into(), etag)],
                    body: Vec::new(),
                };
            }
            Reply::Body {
                status: 200,
                headers: vec![("ETag".into(), etag)],
                body,
            }
        });
        Team { server, files }
    }

    fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.files.lock().unwrap().insert(path.into(), body.into());
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// Requests for `path` so far.
    fn hits(&self, path: &str) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path.split('?').next() == Some(path))
            .count()
    }

    fn requests(&self) -> usize {
        self.server.requests().len()
    }
}

/// One plugin version an inventory lists, with its archive.
struct Offer {
    name: &'static str,
    version: &'static str,
    /// Extra INFO lines (and the inventory's contract, when `requires` is
    /// given).
    requires: Option<&'static str>,
    archive: Vec<u8>,
}

fn offer(name: &'static str, version: &'static str) -> Offer {
    Offer {
        name,
        version,
        requires: None,
        archive: archives::plugin_tar_gz(name, version),
    }
}

fn file_name(o: &Offer) -> String {
    format!("kplug-{}_{}_{}.tar.gz", o.name, o.version, platform())
}

/// The inventory listing `offers` (artifacts at `base/<file name>`), with
/// `extra` appended (groups).
fn inventory(offers: &[Offer], base: &str, extra: &str) -> String {
    let (os, arch) = platform().split_once('_').unwrap();
    let mut by_name: Vec<&str> = offers.iter().map(|o| o.name).collect();
    by_name.dedup();
    let mut doc = String::from("apiVersion: kplug.dev/v1\nkind: Inventory\nplugins:\n");
    let mut seen = Vec::new();
    for name in by_name {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        doc.push_str(&format!(
            "  {name}:\n    description: The {name} plugin of the team\n    versions:\n"
        ));
        for o in offers.iter().filter(|o| o.name == name) {
            doc.push_str(&format!("      - version: {}\n", o.version));
            if let Some(r) = o.requires {
                doc.push_str(&format!("        requires: {r}\n"));
            }
            doc.push_str(&format!(
                "        artifacts:\n          - {{os: {os}, arch: {arch}, url: \"{base}/{}\", sha256: {}, size: {}}}\n",
                file_name(o),
                sha256_hex(&o.archive),
                o.archive.len()
            ));
        }
    }
    doc.push_str(extra);
    doc
}

/// Serve `offers` and their inventory at `/inventory.yaml`.
fn publish(team: &Team, offers: &[Offer], extra: &str) {
    for o in offers {
        team.put(&format!("/dl/{}", file_name(o)), o.archive.clone());
    }
    team.put(
        "/inventory.yaml",
        inventory(offers, &team.url("/dl"), extra),
    );
}

fn setup() -> TestEnv {
    let env = TestEnv::new();
    env.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 2s\n  attempts: 1\n");
    env
}

fn add_source(env: &TestEnv, name: &str, address: &str) {
    env.kplug()
        .args(["plugin", "source", "add", name, address])
        .assert()
        .success();
}

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn search_json(env: &TestEnv, args: &[&str]) -> Vec<serde_json::Value> {
    let out = env
        .kplug()
        .args(["plugin", "search", "-o", "json"])
        .args(args)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn live(env: &TestEnv, name: &str) -> String {
    let out = env.kplug().arg(name).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn receipt(env: &TestEnv, name: &str) -> String {
    std::fs::read_to_string(env.home.join("plugins").join(name).join("receipt.yaml"))
        .unwrap_or_default()
}

fn blobs(env: &TestEnv) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env.home.join("cache/blobs/sha256"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn search_with_a_fresh_copy_asks_nothing_and_a_stale_one_asks_conditionally() {
    let env = setup();
    let team = Team::start();
    publish(
        &team,
        &[offer("registry", "1.0.0"), offer("lint", "0.3.0")],
        "",
    );
    add_source(&env, "team", &team.url("/inventory.yaml"));
    assert_eq!(team.hits("/inventory.yaml"), 1, "added: fetched once");

    let found = search_json(&env, &[]);
    let names: Vec<&str> = found.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lint", "registry"]);
    assert_eq!(found[1]["version"], "1.0.0");
    assert_eq!(found[1]["source"], "team");
    assert_eq!(found[1]["description"], "The registry plugin of the team");
    assert!(found[1]["installed"].is_null());
    let table = env
        .kplug()
        .args(["plugin", "search", "reg"])
        .assert()
        .success();
    let out = stdout_of(&table);
    assert!(out.contains("registry") && !out.contains("lint"), "{out}");
    assert_eq!(team.requests(), 1, "fresh copy: no request at all");

    // --refresh asks again, conditionally: the server says 304.
    search_json(&env, &["--refresh"]);
    let reqs = team.server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs[1].header("if-none-match").is_some(),
        "conditional request"
    );

    // A changed inventory is seen on the next refresh (positive control).
    publish(
        &team,
        &[offer("registry", "1.1.0"), offer("registry", "1.0.0")],
        "",
    );
    let found = search_json(&env, &["--refresh", "registry", "--all-versions"]);
    assert_eq!(found[0]["version"], "1.1.0");
    assert_eq!(found[0]["versions"], serde_json::json!(["1.1.0", "1.0.0"]));
}

#[test]
fn a_copy_older_than_its_ttl_is_refreshed_and_an_unreachable_source_keeps_its_copy() {
    let env = setup();
    let team = Team::start();
    publish(&team, &[offer("registry", "1.0.0")], "");
    env.config_file(&format!(
        "network:\n  connectTimeout: 2s\n  readTimeout: 2s\n  attempts: 1\nsources:\n  - name: team\n    kind: index\n    address: {}\n    ttl: 1ms\n",
        team.url("/inventory.yaml")
    ));
    search_json(&env, &[]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    search_json(&env, &[]);
    let reqs = team.server.requests();
    assert_eq!(reqs.len(), 2, "stale after 1ms: asked again");
    assert!(reqs[1].header("if-none-match").is_some());

    team.server.stop();
    let a = env.kplug().args(["plugin", "search"]).assert().success();
    assert!(stdout_of(&a).contains("registry"), "the stale copy is used");
    let err = stderr_of(&a);
    assert!(
        err.contains("source `team` could not be refreshed") && err.contains("using the copy from"),
        "{err}"
    );
}

#[test]
fn a_hanging_source_times_out_and_the_others_still_print() {
    let env = TestEnv::new();
    let (one, two) = (Team::start(), Team::start());
    publish(&one, &[offer("alpha", "1.0.0")], "");
    publish(&two, &[offer("beta", "2.0.0")], "");
    let hang = Server::start("127.0.0.1", |_| Reply::Stall);
    env.config_file(&format!(
        "network:\n  connectTimeout: 1s\n  readTimeout: 1s\n  attempts: 1\nsources:\n  - {{name: one, kind: index, address: {}}}\n  - {{name: stuck, kind: index, address: {}/inventory.yaml}}\n  - {{name: two, kind: index, address: {}}}\n",
        one.url("/inventory.yaml"),
        hang.url(),
        two.url("/inventory.yaml"),
    ));
    let a = env.kplug().args(["plugin", "search"]).assert().success();
    let out = stdout_of(&a);
    assert!(out.contains("alpha") && out.contains("beta"), "{out}");
    let err = stderr_of(&a);
    assert!(
        err.contains("source `stuck` could not be refreshed, and there is no copy of it yet"),
        "{err}"
    );
    assert_eq!(hang.requests().len(), 1, "the hanging source was asked");
}

#[test]
fn install_by_name_records_the_source_and_update_outdated_versions_contract_work() {
    let env = setup();
    let team = Team::start();
    publish(&team, &[offer("registry", "1.0.0")], "");
    add_source(&env, "team", &team.url("/inventory.yaml"));
    let a = env
        .kplug()
        .args(["plugin", "install", "registry"])
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains("installed registry 1.0.0 from team"),
        "{}",
        stderr_of(&a)
    );
    assert_eq!(live(&env, "registry"), "registry 1.0.0");
    let r = receipt(&env, "registry");
    assert!(
        r.contains("sourceName: team") || r.contains("source_name: team"),
        "{r}"
    );
    assert!(r.contains(&team.url("/inventory.yaml")), "{r}");
    let found = search_json(&env, &["registry"]);
    assert_eq!(found[0]["installed"], "1.0.0");

    // A new version: outdated sees it, versions lists it, update takes it.
    publish(
        &team,
        &[offer("registry", "1.1.0"), offer("registry", "1.0.0")],
        "",
    );
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success();
    let out = env
        .kplug()
        .args(["plugin", "outdated", "-o", "json"])
        .assert()
        .success();
    let outdated: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(outdated.to_string().contains("1.1.0"), "{outdated}");
    let v = env
        .kplug()
        .args(["plugin", "versions", "registry"])
        .assert()
        .success();
    let listed = stdout_of(&v);
    assert!(
        listed.contains("1.1.0") && listed.contains("1.0.0"),
        "{listed}"
    );
    env.kplug()
        .args(["plugin", "update", "registry"])
        .assert()
        .success();
    assert_eq!(live(&env, "registry"), "registry 1.1.0");
    env.kplug()
        .args(["plugin", "contract", "registry"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "rollback", "registry"])
        .assert()
        .success();
    assert_eq!(live(&env, "registry"), "registry 1.0.0");
}

#[test]
fn requirements_in_the_inventory_are_judged_before_any_download() {
    let env = setup();
    let team = Team::start();
    let mut too_new = offer("registry", "2.0.0");
    too_new.requires = Some("{kplug: '>=99'}");
    publish(&team, &[too_new, offer("registry", "1.0.0")], "");
    add_source(&env, "team", &team.url("/inventory.yaml"));
    let a = env
        .kplug()
        .args(["plugin", "install", "registry"])
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(
        err.contains("skipped registry 2.0.0") || err.contains("skipped registry v2.0.0"),
        "{err}"
    );
    assert_eq!(live(&env, "registry"), "registry 1.0.0");
    let two = format!("/dl/kplug-registry_2.0.0_{}.tar.gz", platform());
    let one = format!("/dl/kplug-registry_1.0.0_{}.tar.gz", platform());
    assert_eq!(team.hits(&two), 0, "the refused version was never fetched");
    assert_eq!(team.hits(&one), 1, "positive control: the chosen one was");
    // Search shows the newest this host can install.
    assert_eq!(search_json(&env, &[])[0]["version"], "1.0.0");
}

#[test]
fn shortened_versions_and_ranges_pick_the_newest_that_matches() {
    let env = setup();
    let team = Team::start();
    publish(
        &team,
        &[
            offer("registry", "2.0.0"),
            offer("registry", "1.4.2"),
            offer("registry", "1.4.0"),
            offer("registry", "1.3.0"),
        ],
        "",
    );
    add_source(&env, "team", &team.url("/inventory.yaml"));
    for (asked, got) in [
        ("registry@v1", "1.4.2"),
        ("registry@v1.3", "1.3.0"),
        ("team/registry@v1.4", "1.4.2"),
        ("registry@1.4.0", "1.4.0"),
        ("registry@~1.3", "1.3.0"),
        ("registry", "2.0.0"),
    ] {
        env.kplug()
            .args(["plugin", "install", asked])
            .assert()
            .success();
        assert_eq!(live(&env, "registry"), format!("registry {got}"), "{asked}");
    }
    env.kplug()
        .args(["plugin", "install", "registry@v3"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "no release of registry in source `team` matches `>=3.0.0, <4.0.0`",
        ));
}

#[test]
fn a_name_in_two_sources_is_refused_with_the_commands_that_pick_one() {
    let env = setup();
    let (one, two) = (Team::start(), Team::start());
    publish(&one, &[offer("registry", "1.0.0")], "");
    publish(&two, &[offer("registry", "1.1.0")], "");
    add_source(&env, "team", &one.url("/inventory.yaml"));
    add_source(&env, "lab", &two.url("/inventory.yaml"));
    let a = env
        .kplug()
        .args(["plugin", "install", "registry@1.0.0"])
        .assert()
        .failure();
    let err = stderr_of(&a);
    assert!(err.contains("`registry` is offered by 2 sources"), "{err}");
    assert!(
        err.contains("kplug plugin install team/registry@1.0.0"),
        "{err}"
    );
    assert!(
        err.contains("kplug plugin install lab/registry@1.0.0"),
        "{err}"
    );
    assert!(
        !env.home.join("plugins/registry").exists(),
        "nothing installed"
    );
    env.kplug()
        .args(["plugin", "install", "lab/registry"])
        .assert()
        .success();
    assert_eq!(live(&env, "registry"), "registry 1.1.0");
    assert!(receipt(&env, "registry").contains("lab"));
}

#[test]
fn a_group_installs_its_members_at_their_versions() {
    let env = setup();
    let team = Team::start();
    let groups = "groups:\n  - name: tools\n    version: 1.0.0\n    plugins:\n      - {name: registry, version: 1.0.0}\n      - {name: lint, version: 0.3.0}\n  - name: tools\n    version: 2.0.0\n    plugins:\n      - {name: registry, version: 1.1.0}\n";
    publish(
        &team,
        &[
            offer("registry", "1.1.0"),
            offer("registry", "1.0.0"),
            offer("lint", "0.3.0"),
        ],
        groups,
    );
    add_source(&env, "team", &team.url("/inventory.yaml"));
    let a = env
        .kplug()
        .args(["plugin", "install", "--group", "tools@1.0.0"])
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains("group tools 1.0.0 from source `team`"),
        "{}",
        stderr_of(&a)
    );
    assert_eq!(live(&env, "registry"), "registry 1.0.0");
    assert_eq!(live(&env, "lint"), "lint 0.3.0");
    // Without a version: the group's newest.
    env.kplug()
        .args(["plugin", "install", "--group", "tools"])
        .assert()
        .success();
    assert_eq!(live(&env, "registry"), "registry 1.1.0");
    env.kplug()
        .args(["plugin", "install", "--group", "nope"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nope"));
}

#[test]
fn five_installed_in_parallel_one_failing_leaves_the_other_four_installed() {
    let env = setup();
    let team = Team::start();
    let offers = vec![
        offer("aa", "1.0.0"),
        offer("bb", "1.0.0"),
        offer("cc", "1.0.0"),
        offer("dd", "1.0.0"),
        offer("ee", "1.0.0"),
    ];
    publish(&team, &offers, "");
    // `cc` is served with other bytes than the inventory's sha256.
    team.put(
        &format!("/dl/{}", file_name(&offers[2])),
        archives::plugin_tar_gz("cc", "6.6.6"),
    );
    add_source(&env, "team", &team.url("/inventory.yaml"));
    let a = env
        .kplug()
        .args([
            "plugin", "install", "aa", "bb", "cc", "dd", "ee", "--jobs", "5",
        ])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("error: cc:") && err.contains("sha256"),
        "{err}"
    );
    assert!(
        err.contains("1 of 5 plugins could not be installed"),
        "{err}"
    );
    for n in ["aa", "bb", "dd", "ee"] {
        assert_eq!(live(&env, n), format!("{n} 1.0.0"));
    }
    assert!(
        !env.home.join("plugins/cc").exists(),
        "cc left no trace in the store"
    );
    assert_eq!(
        blobs(&env).len(),
        4,
        "the mismatching download was not cached"
    );
    assert!(!blobs(&env).contains(&sha256_hex(&offers[2].archive)));
    let staging: Vec<_> = std::fs::read_dir(env.home.join(".staging"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "nothing left in staging: {staging:?}");
    // Every archive was asked for (the four in parallel with the failure).
    for o in &offers {
        assert_eq!(team.hits(&format!("/dl/{}", file_name(o))), 1);
    }
}

#[test]
fn two_sources_serving_the_same_bytes_share_one_blob_and_offline_installs_from_it() {
    let env = setup();
    let (team, mirror) = (Team::start(), Team::start());
    let offers = [offer("registry", "1.0.0")];
    publish(&team, &offers, "");
    publish(&mirror, &offers, "");
    add_source(&env, "team", &team.url("/inventory.yaml"));
    add_source(&env, "mirror", &mirror.url("/inventory.yaml"));
    let path = format!("/dl/{}", file_name(&offers[0]));
    env.kplug()
        .args(["plugin", "install", "team/registry"])
        .assert()
        .success();
    assert_eq!(team.hits(&path), 1);
    env.kplug()
        .args(["plugin", "remove", "registry"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "install", "mirror/registry"])
        .assert()
        .success();
    assert_eq!(
        mirror.hits(&path),
        0,
        "the mirror's copy was never downloaded"
    );
    assert_eq!(blobs(&env), [sha256_hex(&offers[0].archive)]);
    assert!(receipt(&env, "registry").contains("mirror"));

    // No network at all: from the sources' copies and the blob.
    env.kplug()
        .args(["plugin", "remove", "registry"])
        .assert()
        .success();
    team.server.stop();
    mirror.server.stop();
    env.kplug()
        .args(["plugin", "install", "team/registry", "--offline"])
        .assert()
        .success();
    assert_eq!(live(&env, "registry"), "registry 1.0.0");
}

#[test]
fn cache_list_shows_users_and_prune_keeps_what_a_receipt_names() {
    let env = setup();
    let team = Team::start();
    publish(
        &team,
        &[offer("registry", "1.0.0"), offer("lint", "0.3.0")],
        "",
    );
    add_source(&env, "team", &team.url("/inventory.yaml"));
    env.kplug()
        .args(["plugin", "install", "registry", "lint"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "remove", "lint"])
        .assert()
        .success();
    let out = env
        .kplug()
        .args(["plugin", "cache", "list", "-o", "json"])
        .assert()
        .success();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(list.len(), 2);
    let used: Vec<_> = list
        .iter()
        .filter(|b| !b["usedBy"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0]["usedBy"], serde_json::json!(["registry 1.0.0"]));
    let a = env
        .kplug()
        .args(["plugin", "cache", "list"])
        .assert()
        .success();
    assert!(stderr_of(&a).contains("unused"), "{}", stderr_of(&a));

    let a = env
        .kplug()
        .args(["plugin", "cache", "prune"])
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains("removed 1 unused artifact"),
        "{}",
        stderr_of(&a)
    );
    let left = blobs(&env);
    assert_eq!(left, [used[0]["sha256"].as_str().unwrap().to_string()]);

    // A receipt that cannot be read stops the prune: it may name any blob.
    std::fs::write(
        env.home.join("plugins/registry/receipt.yaml"),
        "{{{ not yaml",
    )
    .unwrap();
    env.kplug()
        .args(["plugin", "cache", "prune"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nothing was pruned"));
    assert_eq!(blobs(&env), left);
}

#[test]
fn bad_inventories_are_refused_with_the_path_and_nothing_is_added() {
    let env = setup();
    let team = Team::start();
    let good = inventory(&[offer("registry", "1.0.0")], "https://example.com", "");
    let sha = sha256_hex(&offer("registry", "1.0.0").archive);
    let cases: Vec<(&str, String, &str)> = vec![
        ("not-yaml", "{ this is: [not".into(), "is not an inventory document"),
        ("api", good.replace("kplug.dev/v1", "kplug.dev/v9"), "apiVersion"),
        ("semver", good.replace("version: 1.0.0", "version: one"), "versions[0].version"),
        ("no-sha", good.replace(&format!("sha256: {sha}, "), ""), "sha256"),
        (
            "http",
            good.replace("https://example.com", "http://example.com"),
            "plain http",
        ),
        (
            "twice",
            good.replace(
                "        artifacts:\n",
                &format!(
                    "        artifacts:\n          - {{os: {}, arch: {}, url: x.tar.gz, sha256: {sha}}}\n",
                    platform().split('_').next().unwrap(),
                    platform().split('_').nth(1).unwrap()
                ),
            ),
            "artifacts[1]",
        ),
        (
            "group",
            format!("{good}groups:\n  - {{name: g, version: 1.0.0, plugins: [{{name: ghost, version: 1.0.0}}]}}\n"),
            "groups[0].plugins[0]",
        ),
    ];
    for (name, doc, expect) in cases {
        let path = format!("/{name}.yaml");
        team.put(&path, doc);
        let a = env
            .kplug()
            .args(["plugin", "source", "add", name, &team.url(&path)])
            .assert()
            .failure();
        let err = stderr_of(&a);
        assert!(err.contains(expect), "{name}: {err}");
        assert!(
            err.contains(&format!("source `{name}`")),
            "{name} names the source: {err}"
        );
    }
    let out = env
        .kplug()
        .args(["plugin", "source", "list", "-o", "json"])
        .assert()
        .success();
    assert_eq!(stdout_of(&out).trim(), "[]", "no source was added");
    // Positive control: the good document is accepted.
    team.put("/good.yaml", good);
    add_source(&env, "good", &team.url("/good.yaml"));
}

#[test]
fn source_names_addresses_and_removal() {
    let env = setup();
    let team = Team::start();
    publish(&team, &[offer("registry", "1.0.0")], "");
    let url = team.url("/inventory.yaml");
    for bad in ["Team", "../x", "a/b", "-x", &"x".repeat(40)] {
        env.kplug()
            .args(["plugin", "source", "add", bad, &url])
            .assert()
            .code(2);
    }
    add_source(&env, "team", &url);
    env.kplug()
        .args(["plugin", "source", "add", "team", &url])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists already"));
    env.kplug()
        .args([
            "plugin",
            "source",
            "add",
            "web",
            "http://example.com/inventory.yaml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not loopback"));
    env.kplug()
        .args([
            "plugin",
            "source",
            "add",
            "gone",
            &team.url("/missing.yaml"),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("was not added"));
    let out = env
        .kplug()
        .args(["plugin", "source", "list"])
        .assert()
        .success();
    let table = stdout_of(&out);
    assert!(
        table.contains("team") && table.contains("index") && !table.contains("gone"),
        "{table}"
    );
    assert!(env.home.join("cache/sources/team/meta.json").exists());
    env.kplug()
        .args(["plugin", "source", "remove", "team"])
        .assert()
        .success();
    assert!(
        !env.home.join("cache/sources/team").exists(),
        "its copy is gone"
    );
    env.kplug()
        .args(["plugin", "source", "remove", "team"])
        .assert()
        .code(2);
    env.kplug()
        .args(["plugin", "search"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no sources are configured"));
}

#[test]
fn a_github_owner_is_searched_by_topic_and_its_plugins_installed_by_name() {
    let env = setup();
    let gh = FakeGitHub::start();
    gh.publish("acme/kplug-hello", archives::release("hello", "1.2.0"));
    gh.topics
        .lock()
        .unwrap()
        .push(("acme/kplug-hello".into(), "Says hello".into()));
    let kplug = || {
        let mut c = env.kplug();
        c.env("KPLUG_GITHUB_API_URL", gh.url());
        c
    };
    kplug()
        .args(["plugin", "source", "add", "acme", "acme"])
        .assert()
        .success()
        .stderr(predicate::str::contains("(github, acme): 1 plugin"));
    let out = kplug()
        .args(["plugin", "search", "-o", "json"])
        .assert()
        .success();
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "hello");
    assert_eq!(found[0]["version"], "1.2.0");
    assert_eq!(found[0]["description"], "Says hello");
    kplug()
        .args(["plugin", "install", "hello"])
        .assert()
        .success();
    assert_eq!(live(&env, "hello"), "hello 1.2.0");
    assert!(receipt(&env, "hello").contains("acme"));
}

/// An archive holding `kplug-<name>` for another platform: not a program
/// this machine can run.
fn foreign_archive(name: &str) -> Vec<u8> {
    tar_gz(&[Entry {
        path: &format!("kplug-{name}"),
        body: b"\x7fELF not for this machine\x00\x01\x02",
        mode: 0o755,
    }])
}

#[test]
fn inventory_build_makes_an_inventory_kplug_installs_from() {
    let env = setup();
    let dist = env.dir("dist");
    let here = dist.join(format!("kplug-registry_1.4.0_{}.tar.gz", platform()));
    let info = plugin_script(
        "registry",
        "1.4.0",
        r#"description: Local registry\nrequires: {kplug: ">=0.1"}\n"#,
    );
    std::fs::write(
        &here,
        tar_gz(&[Entry {
            path: "kplug-registry",
            body: info.as_bytes(),
            mode: 0o755,
        }]),
    )
    .unwrap();
    let other = if platform() == "linux_amd64" {
        "darwin_arm64"
    } else {
        "linux_amd64"
    };
    let there = dist.join(format!("kplug-registry_1.4.0_{other}.tar.gz"));
    std::fs::write(&there, foreign_archive("registry")).unwrap();
    let out = dist.join("inventory.yaml");
    let a = env
        .kplug()
        .args(["plugin", "inventory", "build"])
        .arg(&here)
        .arg(&there)
        .args(["--base-url", ".", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains("1 plugin, 1 version"),
        "{}",
        stderr_of(&a)
    );
    let doc = std::fs::read_to_string(&out).unwrap();
    assert!(doc.contains("apiVersion: kplug.dev/v1"), "{doc}");
    assert!(doc.contains("description: Local registry"), "{doc}");
    assert!(
        doc.contains(&sha256_hex(&std::fs::read(&here).unwrap())),
        "{doc}"
    );
    assert!(
        doc.contains(&format!("url: ./kplug-registry_1.4.0_{other}.tar.gz")),
        "{doc}"
    );
    assert!(doc.contains(">=0.1"), "the contract came from INFO: {doc}");

    // --merge adds a version and keeps the first.
    let newer = dist.join(format!("kplug-registry_1.5.0_{}.tar.gz", platform()));
    std::fs::write(&newer, archives::plugin_tar_gz("registry", "1.5.0")).unwrap();
    env.kplug()
        .args(["plugin", "inventory", "build"])
        .arg(&newer)
        .args(["--base-url", ".", "--merge", "-o"])
        .arg(&out)
        .assert()
        .success();
    let doc = std::fs::read_to_string(&out).unwrap();
    assert!(doc.contains("1.5.0") && doc.contains("1.4.0"), "{doc}");

    // The result installs from a path source, artifacts beside it.
    add_source(&env, "local", out.to_str().unwrap());
    env.kplug()
        .args(["plugin", "install", "registry@v1.4"])
        .assert()
        .success();
    assert_eq!(live(&env, "registry"), "registry 1.4.0");

    // A file name that names no platform is refused.
    let vague = dist.join("kplug-registry.tar.gz");
    std::fs::write(&vague, archives::plugin_tar_gz("registry", "1.6.0")).unwrap();
    env.kplug()
        .args(["plugin", "inventory", "build"])
        .arg(&vague)
        .args(["--base-url", "https://example.com", "-o", "-"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("which OS and architecture"));
    // Two archives for one platform are refused.
    env.kplug()
        .args(["plugin", "inventory", "build"])
        .arg(&here)
        .arg(&here)
        .args(["--base-url", "https://example.com", "-o", "-"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("two archives"));
}

#[test]
fn a_damaged_copy_is_fetched_whole_again_and_a_bad_document_keeps_the_last_copy() {
    let env = setup();
    let team = Team::start();
    publish(&team, &[offer("registry", "1.0.0")], "");
    add_source(&env, "team", &team.url("/inventory.yaml"));
    let copy = env.home.join("cache/sources/team/inventory.json");

    // Tampered on disk: refused when read, with the way out.
    std::fs::write(
        &copy,
        br#"{"apiVersion":"kplug.dev/v1","kind":"Inventory","plugins":{"../x":{"versions":[]}}}"#,
    )
    .unwrap();
    env.kplug()
        .args(["plugin", "install", "team/registry"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is damaged"))
        .stderr(predicate::str::contains("kplug plugin source refresh team"));
    // A refresh of a damaged copy asks without conditions (a 304 would
    // leave it damaged).
    std::fs::remove_file(&copy).unwrap();
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .success();
    let last = team.server.requests().last().cloned().unwrap();
    assert!(last.header("if-none-match").is_none(), "unconditional");
    env.kplug()
        .args(["plugin", "install", "team/registry"])
        .assert()
        .success();

    // The source then serves a bad document: a warning, the copy stands.
    team.put(
        "/inventory.yaml",
        "apiVersion: kplug.dev/v9\nkind: Inventory\nplugins: {}\n",
    );
    let a = env
        .kplug()
        .args(["plugin", "search", "--refresh"])
        .assert()
        .success();
    assert!(stdout_of(&a).contains("registry"), "{}", stdout_of(&a));
    assert!(stderr_of(&a).contains("kplug.dev/v9"), "{}", stderr_of(&a));
    env.kplug()
        .args(["plugin", "source", "refresh", "team"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("keeps its previous copy"));
}

#[test]
fn artifact_urls_resolve_against_the_inventory_and_must_stay_fetchable() {
    let env = setup();
    let team = Team::start();
    let o = offer("registry", "1.0.0");
    team.put(&format!("/team/dl/{}", file_name(&o)), o.archive.clone());
    // Relative to the inventory's URL.
    team.put(
        "/team/inventory.yaml",
        inventory(std::slice::from_ref(&o), "dl", ""),
    );
    add_source(&env, "team", &team.url("/team/inventory.yaml"));
    env.kplug()
        .args(["plugin", "install", "registry"])
        .assert()
        .success();
    assert_eq!(team.hits(&format!("/team/dl/{}", file_name(&o))), 1);

    // Ways of naming another host that look like paths are refused.
    for (i, base) in [
        "http:/example.com",
        "//example.com",
        "https://u:p@example.com",
        "http://example.com\\\\@127.0.0.1",
    ]
    .iter()
    .enumerate()
    {
        let path = format!("/bad{i}.yaml");
        team.put(&path, inventory(std::slice::from_ref(&o), base, ""));
        env.kplug()
            .args([
                "plugin",
                "source",
                "add",
                &format!("bad{i}"),
                &team.url(&path),
            ])
            .assert()
            .failure()
            .stderr(predicate::str::contains("artifacts[0].url"));
    }
}

#[test]
fn a_redirect_to_plain_http_on_another_host_is_refused() {
    let env = setup();
    let hop = Server::start("127.0.0.1", |_| {
        Reply::redirect("http://example.com/inventory.yaml")
    });
    env.kplug()
        .args([
            "plugin",
            "source",
            "add",
            "hop",
            &format!("{}/inventory.yaml", hop.url()),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("which is not https; refusing it"));
}

#[test]
fn what_a_source_says_is_printed_escaped() {
    let env = setup();
    let team = Team::start();
    publish(&team, &[offer("registry", "1.0.0")], "");
    let doc = String::from_utf8(team.files.lock().unwrap()["/inventory.yaml"].clone()).unwrap();
    team.put(
        "/inventory.yaml",
        doc.replace(
            "The registry plugin of the team",
            "\"evil \\e]0;owned\\a\\e[2J\"",
        ),
    );
    add_source(&env, "team", &team.url("/inventory.yaml"));
    let a = env.kplug().args(["plugin", "search"]).assert().success();
    let out = stdout_of(&a);
    assert!(out.contains("registry") && out.contains("evil"), "{out}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}'),
        "no terminal control: {out:?}"
    );
}

#[test]
fn sources_written_by_hand_are_checked_like_added_ones() {
    let env = TestEnv::new();
    for (yaml, expect) in [
        (
            "sources:\n  - {name: ../up, kind: index, address: /tmp/x.yaml}\n",
            "cannot name a source",
        ),
        (
            "sources:\n  - {name: web, kind: index, address: 'http://example.com/i.yaml'}\n",
            "not loopback",
        ),
        (
            "sources:\n  - {name: a, kind: index, address: /x}\n  - {name: a, kind: index, address: /y}\n",
            "twice",
        ),
    ] {
        env.config_file(yaml);
        env.kplug()
            .args(["plugin", "search"])
            .assert()
            .failure()
            .stderr(predicate::str::contains(expect))
            .stderr(predicate::str::contains("config.yaml"));
    }
}

#[test]
fn offline_without_a_copy_and_update_after_the_source_is_gone_say_what_to_do() {
    let env = setup();
    let team = Team::start();
    publish(&team, &[offer("registry", "1.0.0")], "");
    add_source(&env, "team", &team.url("/inventory.yaml"));
    env.kplug()
        .args(["plugin", "install", "registry"])
        .assert()
        .success();
    std::fs::remove_dir_all(env.home.join("cache/sources/team")).unwrap();
    env.kplug()
        .args(["plugin", "install", "lint", "--offline"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("lint"));
    env.kplug()
        .args(["plugin", "source", "remove", "team"])
        .assert()
        .success();
    env.kplug()
        .args(["plugin", "update", "registry"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no longer configured"))
        .stderr(predicate::str::contains("kplug plugin source add team"));
    assert_eq!(live(&env, "registry"), "registry 1.0.0", "it still runs");
}

#[test]
fn a_plain_name_is_a_plugin_even_beside_a_directory_of_that_name() {
    let env = setup();
    let team = Team::start();
    publish(&team, &[offer("registry", "1.0.0")], "");
    add_source(&env, "team", &team.url("/inventory.yaml"));
    std::fs::create_dir_all(env.root.path().join("registry")).unwrap();
    env.kplug()
        .args(["plugin", "install", "registry"])
        .assert()
        .success();
    assert!(receipt(&env, "registry").contains("sourceName: team"));
}
