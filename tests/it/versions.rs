//! Plugin versions and contracts: requirements, compatible version
//! selection, dependencies, conflicts, update / use / rollback / pin,
//! the health probe after a switch, and pruning — against the loopback
//! fake GitHub, with release archives built in the test.

use crate::archives::{Entry, plugin_script, release_with, tar_gz};
use crate::server::{FakeAsset, FakeGitHub, FakeRelease};
use crate::support::{TestEnv, write_exec};
use predicates::prelude::*;
use std::sync::atomic::Ordering;

const REPO: &str = "acme/kplug-demo";

fn kplug(env: &TestEnv, gh: &FakeGitHub) -> assert_cmd::Command {
    let mut cmd = env.kplug();
    cmd.env("KPLUG_GITHUB_API_URL", gh.url());
    cmd
}

fn run(env: &TestEnv, gh: &FakeGitHub, args: &[&str]) -> assert_cmd::assert::Assert {
    kplug(env, gh).args(args).assert()
}

fn setup() -> (TestEnv, FakeGitHub) {
    let env = TestEnv::new();
    env.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 2s\n  attempts: 2\n");
    (env, FakeGitHub::start())
}

/// What `kplug <name>` prints: the live version.
fn live(env: &TestEnv, name: &str) -> String {
    let out = env.kplug().arg(name).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn installed(env: &TestEnv, name: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env.home.join("plugins").join(name))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().unwrap().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A release of `name` `version` whose INFO adds `extra` (YAML lines, with
/// `\\n` line ends: the script prints them with printf).
fn release_req(name: &str, version: &str, extra: &str) -> FakeRelease {
    let script = plugin_script(name, version, extra);
    let body = tar_gz(&[Entry {
        path: &format!("kplug-{name}"),
        body: script.as_bytes(),
        mode: 0o755,
    }]);
    release_with(name, version, body, true)
}

/// The same, also publishing its INFO as `kplug-plugin.yaml`.
fn release_with_contract(name: &str, version: &str, extra: &str) -> FakeRelease {
    let mut r = release_req(name, version, extra);
    r.assets.push(FakeAsset {
        name: "kplug-plugin.yaml".into(),
        body: format!(
            "protocols: [1]\nname: {name}\nversion: {version}\n{}",
            extra.replace("\\n", "\n")
        )
        .into_bytes(),
        digest: true,
    });
    r
}

/// A release whose executable is `script`.
fn release_script(name: &str, version: &str, script: &str) -> FakeRelease {
    let body = tar_gz(&[Entry {
        path: &format!("kplug-{name}"),
        body: script.as_bytes(),
        mode: 0o755,
    }]);
    release_with(name, version, body, true)
}

/// Paths of binary asset downloads so far.
fn binary_downloads(gh: &FakeGitHub) -> Vec<String> {
    gh.server
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.contains(".tar.gz"))
        .collect()
}

#[test]
fn the_newest_incompatible_release_is_passed_over_with_the_reason() {
    let (env, gh) = setup();
    gh.publish(REPO, release_req("demo", "1.0.0", ""));
    gh.publish(
        REPO,
        release_req("demo", "1.1.0", "requires: {kplug: \">=0.1\"}\\n"),
    );
    // Judged after its download: no contract asset.
    gh.publish(
        REPO,
        release_req("demo", "1.2.0", "requires: {kplug: \">=99\"}\\n"),
    );
    // Judged from its contract asset: never downloaded.
    gh.publish(
        REPO,
        release_with_contract("demo", "1.3.0", "requires: {kplug: \">=50\"}\\n"),
    );

    run(&env, &gh, &["plugin", "install", REPO])
        .success()
        .stderr(predicate::str::contains(
            "skipped demo v1.3.0: requires kplug >=50, but this kplug is 0.1.0",
        ))
        .stderr(predicate::str::contains(
            "skipped demo v1.2.0: requires kplug >=99, but this kplug is 0.1.0",
        ))
        .stderr(predicate::str::contains("installed demo 1.1.0"));
    assert_eq!(live(&env, "demo"), "demo 1.1.0");
    let downloads = binary_downloads(&gh);
    assert!(
        !downloads.iter().any(|p| p.contains("_1.3.0_")),
        "{downloads:?}"
    );
    assert!(downloads.iter().any(|p| p.contains("_1.2.0_")));
    // Only what was accepted is in the store.
    assert_eq!(installed(&env, "demo"), ["1.1.0"]);

    // The listing: newest first, the current one starred, reasons shown.
    let out = run(&env, &gh, &["plugin", "versions", "demo"])
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].contains("1.3.0") && lines[1].contains("incompatible: requires kplug >=50"),
        "{text}"
    );
    // 1.2.0 publishes no contract: what its download showed is remembered.
    assert!(
        lines[2].contains("1.2.0") && lines[2].contains("incompatible: requires kplug >=99"),
        "{text}"
    );
    assert!(
        lines[3].starts_with('*') && lines[3].contains("1.1.0 ") && lines[3].contains("current"),
        "{text}"
    );
    assert!(lines[4].contains("1.0.0"), "{text}");
    let json: serde_json::Value = serde_json::from_slice(
        &run(&env, &gh, &["plugin", "versions", "demo", "-o", "json"])
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    let v = &json["versions"];
    assert_eq!(v[0]["version"], "1.3.0");
    assert_eq!(v[0]["compatible"], false);
    assert_eq!(v[0]["contractFrom"], "published");
    assert_eq!(v[1]["compatible"], false);
    assert_eq!(v[1]["contractFrom"], "learned");
    assert_eq!(v[2]["current"], true);
    // 1.0.0 was never downloaded nor published a contract: unknown.
    assert_eq!(v[3]["compatible"], serde_json::Value::Null);
    assert_eq!(v[2]["compatible"], true);
    // By repository, for a plugin that is not installed.
    run(
        &env,
        &gh,
        &["plugin", "versions", "acme/kplug-demo", "-o", "yaml"],
    )
    .success()
    .stdout(predicate::str::contains("repository: acme/kplug-demo"));
    run(&env, &gh, &["plugin", "versions", "nothere"])
        .code(1)
        .stderr(predicate::str::contains("`nothere` is not installed"));
}

#[test]
fn nothing_compatible_lists_every_candidate_and_why() {
    let (env, gh) = setup();
    gh.publish(
        REPO,
        release_req("demo", "1.0.0", "requires: {kplug: \">=98\"}\\n"),
    );
    gh.publish(
        REPO,
        release_with_contract("demo", "2.0.0", "requires: {kplug: \">=99\"}\\n"),
    );
    run(&env, &gh, &["plugin", "install", REPO])
        .code(1)
        .stderr(predicate::str::contains(
            "no release of acme/kplug-demo works here",
        ))
        .stderr(predicate::str::contains(
            "caused by: v2.0.0: requires kplug >=99, but this kplug is 0.1.0",
        ))
        .stderr(predicate::str::contains(
            "v1.0.0: requires kplug >=98, but this kplug is 0.1.0",
        ))
        .stderr(predicate::str::contains("--skip-checks"));
    assert!(!env.home.join("plugins/demo").exists());
    // An explicit version is refused directly, naming the fix.
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.0.0")])
        .code(1)
        .stderr(predicate::str::contains(
            "refusing demo 1.0.0: its requirements do not hold here",
        ))
        .stderr(predicate::str::contains(
            "hint: upgrade kplug to a version matching >=98",
        ));
    // The escape hatch, loudly.
    run(&env, &gh, &["plugin", "install", REPO, "--skip-checks"])
        .success()
        .stderr(predicate::str::contains(
            "requirement checks SKIPPED for demo 2.0.0",
        ))
        .stderr(predicate::str::contains(
            "it would have been refused: requires kplug >=99",
        ));
    assert_eq!(live(&env, "demo"), "demo 2.0.0");
    run(&env, &gh, &["plugin", "use", "demo", "1.0.0"])
        .code(1)
        .stderr(predicate::str::contains("requires kplug >=98"));
    assert_eq!(live(&env, "demo"), "demo 2.0.0");
    kplug(&env, &gh)
        .env("KPLUG_SKIP_CHECKS", "1")
        .args(["plugin", "use", "demo", "1.0.0"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "requirement checks SKIPPED for demo 1.0.0",
        ));
    assert_eq!(live(&env, "demo"), "demo 1.0.0");
}

#[test]
fn requirements_in_kplug_plugin_yaml_are_checked_before_any_download() {
    let (env, gh) = setup();
    gh.publish(
        REPO,
        release_with_contract("demo", "1.0.0", "requires: {kplug: \">=99\"}\\n"),
    );
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.0.0")])
        .code(1)
        .stderr(predicate::str::contains(
            "refusing demo 1.0.0: its requirements do not hold here (from the release's kplug-plugin.yaml; nothing was downloaded)",
        ))
        .stderr(predicate::str::contains("requires kplug >=99, but this kplug is 0.1.0"));
    run(&env, &gh, &["plugin", "install", REPO])
        .code(1)
        .stderr(predicate::str::contains("v1.0.0: requires kplug >=99"));
    // Only the two contract documents were fetched: no binary.
    assert_eq!(binary_downloads(&gh), Vec::<String>::new());
    assert_eq!(gh.asset_requests.load(Ordering::SeqCst), 2);
    assert!(!env.home.join("plugins/demo").exists());

    // A contract that lies about its version is not trusted.
    let mut r = release_with_contract("demo", "1.1.0", "");
    r.assets.last_mut().unwrap().body = b"protocols: [1]\nname: demo\nversion: 9.9.9\n".to_vec();
    gh.publish(REPO, r);
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.1.0")])
        .code(1)
        .stderr(predicate::str::contains(
            "the release's kplug-plugin.yaml cannot be used",
        ))
        .stderr(predicate::str::contains(
            "it says version 9.9.9, but the release is 1.1.0",
        ));
}

#[test]
fn with_deps_installs_a_chain_and_without_it_names_the_command() {
    let (env, gh) = setup();
    gh.publish(
        "acme/kplug-app",
        release_req(
            "app",
            "1.0.0",
            "requires: {plugins: {base: {version: \"^1\", source: acme/kplug-base}}}\\n",
        ),
    );
    gh.publish(
        "acme/kplug-base",
        release_with_contract(
            "base",
            "1.2.0",
            "requires: {plugins: {core: {version: \">=2\", source: acme/kplug-core}}}\\n",
        ),
    );
    gh.publish("acme/kplug-base", release_req("base", "2.0.0", ""));
    gh.publish("acme/kplug-core", release_req("core", "1.0.0", ""));
    gh.publish("acme/kplug-core", release_req("core", "2.1.0", ""));

    run(&env, &gh, &["plugin", "install", "acme/kplug-app"])
        .code(1)
        .stderr(predicate::str::contains(
            "refusing app 1.0.0: required plugins are missing",
        ))
        .stderr(predicate::str::contains(
            "requires the plugin base ^1, which is not installed",
        ))
        .stderr(predicate::str::contains(
            "install it first with `kplug plugin install acme/kplug-base@^1`, or add `--with-deps`",
        ));
    assert!(!env.home.join("plugins").join("app").exists());

    run(
        &env,
        &gh,
        &["plugin", "install", "acme/kplug-app", "--with-deps"],
    )
    .success()
    .stderr(predicate::str::contains(
        "installed core 2.1.0 (required by base)",
    ))
    .stderr(predicate::str::contains(
        "installed base 1.2.0 (required by app)",
    ))
    .stderr(predicate::str::contains("installed app 1.0.0"));
    assert_eq!(live(&env, "app"), "app 1.0.0");
    assert_eq!(live(&env, "base"), "base 1.2.0");
    assert_eq!(live(&env, "core"), "core 2.1.0");

    // A dependency without a source cannot be installed for you.
    gh.publish(
        "acme/kplug-orphan",
        release_req("orphan", "1.0.0", "requires: {plugins: {ghost: \"*\"}}\\n"),
    );
    run(
        &env,
        &gh,
        &["plugin", "install", "acme/kplug-orphan", "--with-deps"],
    )
    .code(1)
    .stderr(predicate::str::contains(
        "does not say where that comes from",
    ))
    .stderr(predicate::str::contains(
        "install the plugin `ghost` (*) first",
    ));
}

#[test]
fn conflicts_are_refused_both_ways() {
    let (env, gh) = setup();
    env.plugin(
        "legacy",
        "protocols: [1]\nname: legacy\nversion: 0.3.0\n",
        "",
    );
    gh.publish(REPO, release_req("demo", "1.0.0", "conflicts: [legacy]\\n"));
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.0.0")])
        .code(1)
        .stderr(predicate::str::contains(
            "conflicts with the plugin legacy, which is installed",
        ))
        .stderr(predicate::str::contains(
            "remove legacy from your PATH / KPLUG_PLUGIN_PATH first",
        ));
    assert!(!env.home.join("plugins/demo").exists());

    // Declared by the installed side.
    env.plugin(
        "legacy",
        "protocols: [1]\nname: legacy\nversion: 0.4.0\nconflicts: [other]\n",
        "",
    );
    gh.publish("acme/kplug-other", release_req("other", "1.0.0", ""));
    run(&env, &gh, &["plugin", "install", "acme/kplug-other"])
        .code(1)
        .stderr(predicate::str::contains(
            "the installed plugin legacy declares a conflict with other",
        ));
    std::fs::remove_file(env.bin.join("kplug-legacy")).unwrap();
    run(&env, &gh, &["plugin", "install", "acme/kplug-other"]).success();
}

#[test]
fn update_stays_in_its_major_skips_pinned_and_never_downgrades() {
    let (env, gh) = setup();
    for v in ["1.0.0", "1.2.0", "2.0.0"] {
        gh.publish(REPO, release_req("demo", v, ""));
    }
    for v in ["1.0.0", "1.1.0"] {
        gh.publish("acme/kplug-held", release_req("held", v, ""));
    }
    for v in ["1.0.0", "1.5.0", "2.0.0-rc.1"] {
        gh.publish("acme/kplug-edge", release_req("edge", v, ""));
    }
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.0.0")]).success();
    run(&env, &gh, &["plugin", "install", "acme/kplug-held@v1.0.0"]).success();
    run(
        &env,
        &gh,
        &["plugin", "install", "acme/kplug-edge", "--pre"],
    )
    .success();
    assert_eq!(live(&env, "edge"), "edge 2.0.0-rc.1");
    run(&env, &gh, &["plugin", "pin", "held"])
        .success()
        .stderr(predicate::str::contains("pinned held at 1.0.0"));
    assert!(
        std::fs::read_to_string(env.home.join("plugins/held/receipt.yaml"))
            .unwrap()
            .contains("pinned: true")
    );

    // outdated: what update would pick, and the newest of any major.
    let rows: serde_json::Value = serde_json::from_slice(
        &run(&env, &gh, &["plugin", "outdated", "-o", "json"])
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    let row = |n: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(row("demo")["wanted"], "1.2.0");
    assert_eq!(row("demo")["latest"], "2.0.0");
    assert_eq!(row("held")["pinned"], true);
    assert_eq!(row("edge")["wanted"], serde_json::Value::Null);
    run(&env, &gh, &["plugin", "outdated"])
        .success()
        .stdout(predicate::str::is_match(r"demo\s+1\.0\.0\s+1\.2\.0\s+2\.0\.0").unwrap());

    run(&env, &gh, &["plugin", "update", "demo", "--dry-run"])
        .success()
        .stderr(predicate::str::contains("would update demo 1.0.0 → 1.2.0"));
    assert_eq!(live(&env, "demo"), "demo 1.0.0");

    run(&env, &gh, &["plugin", "update", "--all"])
        .success()
        .stderr(predicate::str::contains("updated demo 1.0.0 → 1.2.0"))
        .stderr(predicate::str::contains(
            "demo 2.0.0 is available in another major version: `kplug plugin update demo --major 2`",
        ))
        .stderr(predicate::str::contains("held is pinned at 1.0.0: skipped"))
        .stderr(predicate::str::contains("edge is already at 2.0.0-rc.1"));
    assert_eq!(live(&env, "demo"), "demo 1.2.0");
    assert_eq!(live(&env, "held"), "held 1.0.0");
    assert_eq!(live(&env, "edge"), "edge 2.0.0-rc.1", "an update went down");

    run(&env, &gh, &["plugin", "update", "demo"])
        .success()
        .stderr(predicate::str::contains("demo is already at 1.2.0"));
    run(&env, &gh, &["plugin", "update", "demo", "--major", "2"])
        .success()
        .stderr(predicate::str::contains("updated demo 1.2.0 → 2.0.0"));
    assert_eq!(live(&env, "demo"), "demo 2.0.0");
    // An implicit install never goes down either.
    run(&env, &gh, &["plugin", "install", "acme/kplug-edge"])
        .success()
        .stderr(predicate::str::contains(
            "edge 2.0.0-rc.1 is already installed",
        ));
    assert_eq!(live(&env, "edge"), "edge 2.0.0-rc.1");

    run(&env, &gh, &["plugin", "unpin", "held"]).success();
    run(&env, &gh, &["plugin", "update", "held"])
        .success()
        .stderr(predicate::str::contains("updated held 1.0.0 → 1.1.0"));
    // A plugin installed from a directory has no releases: skipped, said so.
    let dir = env.dir("local");
    write_exec(
        &dir.join("kplug-local"),
        &plugin_script("local", "0.1.0", ""),
    );
    run(&env, &gh, &["plugin", "install", dir.to_str().unwrap()]).success();
    run(&env, &gh, &["plugin", "update", "--all", "--dry-run"])
        .success()
        .stderr(predicate::str::contains("local 0.1.0 was installed from"))
        .stderr(predicate::str::contains("not a GitHub release: skipped"));
    run(&env, &gh, &["plugin", "update"]).code(2);
    run(&env, &gh, &["plugin", "update", "ghost"])
        .code(1)
        .stderr(predicate::str::contains("`ghost` is not installed"));
}

#[test]
fn rollback_and_use_work_with_the_server_stopped() {
    let (env, gh) = setup();
    for v in ["1.0.0", "2.0.0", "2.1.0"] {
        gh.publish(REPO, release_req("demo", v, ""));
    }
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.0.0")]).success();
    // Not installed: downloaded, then switched.
    run(&env, &gh, &["plugin", "use", "demo", "v2.0.0"])
        .success()
        .stderr(predicate::str::contains(
            "switched demo to 2.0.0, downloaded (was 1.0.0",
        ));
    assert_eq!(live(&env, "demo"), "demo 2.0.0");
    gh.server.stop();

    run(&env, &gh, &["plugin", "rollback", "demo"])
        .success()
        .stderr(predicate::str::contains(
            "switched demo to 1.0.0, installed locally (was 2.0.0",
        ));
    assert_eq!(live(&env, "demo"), "demo 1.0.0");
    // Twice goes back again, like `cd -`.
    run(&env, &gh, &["plugin", "rollback", "demo"]).success();
    assert_eq!(live(&env, "demo"), "demo 2.0.0");
    run(&env, &gh, &["plugin", "use", "demo", "1.0.0"])
        .success()
        .stderr(predicate::str::contains("installed locally"));
    assert_eq!(live(&env, "demo"), "demo 1.0.0");
    run(&env, &gh, &["plugin", "use", "demo", "1.0.0"])
        .success()
        .stderr(predicate::str::contains("already the current version"));
    // Not installed and no server: an error, and nothing moved.
    run(&env, &gh, &["plugin", "use", "demo", "2.1.0"])
        .code(1)
        .stderr(predicate::str::contains("could not connect"));
    assert_eq!(live(&env, "demo"), "demo 1.0.0");
    run(&env, &gh, &["plugin", "rollback", "ghost"])
        .code(1)
        .stderr(predicate::str::contains("`ghost` is not installed"));

    // One version only: nothing to roll back to.
    let (env2, gh2) = setup();
    gh2.publish(REPO, release_req("demo", "1.0.0", ""));
    run(&env2, &gh2, &["plugin", "install", REPO]).success();
    run(&env2, &gh2, &["plugin", "rollback", "demo"])
        .code(1)
        .stderr(predicate::str::contains("nothing to roll back to"));
}

#[test]
fn a_version_that_fails_its_health_probe_is_switched_back() {
    let (env, gh) = setup();
    gh.publish(REPO, release_req("demo", "1.0.0", ""));
    // Answers INFO in staging, not through the live `current` link.
    gh.publish(
        REPO,
        release_script(
            "demo",
            "2.0.0",
            "#!/bin/sh\nif [ \"$KPLUG_COMMAND\" = INFO ]; then\n  case \"$0\" in */current/*) echo 'cannot find my data' >&2; exit 3;; esac\n  printf 'protocols: [1]\\nname: demo\\nversion: 2.0.0\\n'\n  exit 0\nfi\necho demo 2.0.0\n",
        ),
    );
    // Answers INFO once (the smoke test), then never again.
    gh.publish(
        REPO,
        release_script(
            "demo",
            "3.0.0",
            "#!/bin/sh\nif [ \"$KPLUG_COMMAND\" = INFO ]; then\n  [ -e \"$MARKER\" ] && { echo 'second INFO fails' >&2; exit 4; }\n  touch \"$MARKER\"\n  printf 'protocols: [1]\\nname: demo\\nversion: 3.0.0\\n'\n  exit 0\nfi\necho demo 3.0.0\n",
        ),
    );
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.0.0")]).success();
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v2.0.0")])
        .code(1)
        .stderr(predicate::str::contains(
            "demo 2.0.0 failed its health check after the switch; switched back: demo 1.0.0 is live again",
        ))
        .stderr(predicate::str::contains("INFO exited with status 3: cannot find my data"));
    assert_eq!(live(&env, "demo"), "demo 1.0.0");
    assert_eq!(installed(&env, "demo"), ["1.0.0"]);

    let marker = env.out.join("marker");
    kplug(&env, &gh)
        .env("MARKER", &marker)
        .args(["plugin", "install", &format!("{REPO}@v3.0.0")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "demo 3.0.0 failed its health check after the switch; switched back: demo 1.0.0 is live again",
        ))
        .stderr(predicate::str::contains("second INFO fails"));
    assert!(marker.exists());
    assert_eq!(live(&env, "demo"), "demo 1.0.0");
    let receipt = std::fs::read_to_string(env.home.join("plugins/demo/receipt.yaml")).unwrap();
    assert!(!receipt.contains("3.0.0"), "{receipt}");

    // A first install whose probe fails leaves nothing behind.
    let (env2, gh2) = setup();
    gh2.publish(REPO, gh.releases.lock().unwrap()[REPO][1].clone());
    run(&env2, &gh2, &["plugin", "install", REPO])
        .code(1)
        .stderr(predicate::str::contains(
            "demo 2.0.0 failed its health check after the switch; demo was not installed before, and is not now",
        ));
    assert!(!env2.home.join("plugins/demo").exists());
    env2.kplug().arg("demo").assert().failure();
}

#[test]
fn pruning_keeps_the_configured_number_of_versions() {
    let (env, gh) = setup();
    env.config_file("network:\n  attempts: 2\ninstall:\n  keepVersions: 2\n");
    for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0"] {
        gh.publish(REPO, release_req("demo", v, ""));
    }
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        run(&env, &gh, &["plugin", "install", &format!("{REPO}@v{v}")]).success();
    }
    assert_eq!(installed(&env, "demo"), ["1.1.0", "1.2.0"]);
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.3.0")])
        .success()
        .stderr(predicate::str::contains(
            "pruned demo 1.1.0 (install.keepVersions)",
        ));
    assert_eq!(installed(&env, "demo"), ["1.2.0", "1.3.0"]);
    // The current version survives any pruning; so does the rollback target.
    run(&env, &gh, &["plugin", "rollback", "demo"]).success();
    assert_eq!(live(&env, "demo"), "demo 1.2.0");
    assert_eq!(installed(&env, "demo"), ["1.2.0", "1.3.0"]);

    // The default keeps three.
    let (env3, gh3) = setup();
    for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0"] {
        gh3.publish(REPO, release_req("demo", v, ""));
        run(&env3, &gh3, &["plugin", "install", &format!("{REPO}@v{v}")]).success();
    }
    assert_eq!(installed(&env3, "demo"), ["1.1.0", "1.2.0", "1.3.0"]);
}

#[test]
fn contract_shows_each_requirement_and_whether_it_holds() {
    let (env, gh) = setup();
    let info = "protocols: [1]\nname: demo\nversion: 1.0.0\nrequires:\n  kplug: \">=0.1\"\n  kubernetes: \">=1.27\"\n  plugins: {dns: {version: \"^1\", source: acme/kplug-dns}}\nconflicts: [legacy]\n";
    env.plugin("demo", info, "");
    let out = run(&env, &gh, &["plugin", "contract", "demo"])
        .success()
        .stderr(predicate::str::contains(
            "hint: install it first with `kplug plugin install acme/kplug-dns@^1`",
        ))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("demo 1.0.0 ("), "{text}");
    for re in [
        r"kplug\s+>=0\.1\s+0\.1\.0\s+yes",
        r"kubernetes\s+>=1\.27\s+-\s+unknown\s+requires Kubernetes >=1\.27: not checked, no cluster in context",
        r"plugin dns \(acme/kplug-dns\)\s+\^1\s+-\s+missing",
        r"conflict legacy\s+absent\s+-\s+yes",
    ] {
        assert!(regex_match(re, &text), "{re}\n{text}");
    }

    // Against a cluster: its Kubernetes version decides.
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(
        &run(
            &env,
            &gh,
            &[
                "plugin",
                "contract",
                "demo",
                "--cluster",
                "dev",
                "-o",
                "json",
            ],
        )
        .success()
        .get_output()
        .stdout,
    )
    .unwrap();
    let k8s = json["checks"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "kubernetes")
        .unwrap()
        .clone();
    assert_eq!(k8s["state"], "holds");
    assert_eq!(k8s["found"], "v1.31.2+kplug-sim");
    assert_eq!(json["requires"]["kubernetes"], ">=1.27");

    write_exec(
        &env.bin.join("kplug-demo"),
        &crate::support::plugin_script(
            "protocols: [1]\nname: demo\nversion: 1.0.0\nrequires: {kubernetes: \">=1.32\"}\n",
            "",
        ),
    );
    run(
        &env,
        &gh,
        &["plugin", "contract", "demo", "--cluster", "dev"],
    )
    .success()
    .stdout(predicate::str::contains(
        "requires Kubernetes >=1.32, but cluster `dev` runs v1.31.2+kplug-sim",
    ))
    .stderr(predicate::str::contains(
        "hint: use a cluster running Kubernetes >=1.32",
    ));
    run(
        &env,
        &gh,
        &["plugin", "contract", "demo", "--cluster", "nope"],
    )
    .code(1)
    .stderr(predicate::str::contains("no cluster `nope`"));
    // A cluster kplug did not create (made with k3d itself) is found too.
    let k3d_state = env.fake_k3d();
    std::fs::write(k3d_state.join("outside"), "").unwrap();
    run(
        &env,
        &gh,
        &["plugin", "contract", "demo", "--cluster", "outside"],
    )
    .success()
    .stdout(predicate::str::contains(
        "requires Kubernetes >=1.32, but cluster `outside` runs v1.31.2",
    ));
    run(&env, &gh, &["plugin", "contract", "ghost"])
        .code(1)
        .stderr(predicate::str::contains("no plugin named `ghost`"));
}

fn regex_match(re: &str, text: &str) -> bool {
    predicate::str::is_match(re).unwrap().eval(text)
}

/// Regression: every release's contract is fetched in one run (they once
/// shared a temp file name, and the second fetch failed).
#[test]
fn several_published_contracts_are_read_in_one_run() {
    let (env, gh) = setup();
    gh.publish(REPO, release_with_contract("demo", "1.0.0", ""));
    gh.publish(REPO, release_with_contract("demo", "1.1.0", ""));
    gh.publish(
        REPO,
        release_with_contract("demo", "2.0.0", "requires:\n  kplug: '>=99'\n"),
    );
    run(&env, &gh, &["plugin", "install", &format!("{REPO}@v1.0.0")]).success();
    run(&env, &gh, &["plugin", "versions", "demo"])
        .success()
        .stdout(predicate::str::contains("1.1.0"))
        .stdout(predicate::str::contains("requires kplug >=99"));
    let json: serde_json::Value = serde_json::from_slice(
        &run(&env, &gh, &["plugin", "versions", "demo", "-o", "json"])
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    let rows = json["versions"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        assert_eq!(row["contractFrom"], "published", "{row}");
    }
    assert_eq!(rows[0]["compatible"], false);
    assert_eq!(rows[1]["compatible"], true);
    run(&env, &gh, &["plugin", "update", "demo", "--dry-run"])
        .success()
        .stderr(predicate::str::contains("would update demo 1.0.0 → 1.1.0"));
    let out: serde_json::Value = serde_json::from_slice(
        &run(&env, &gh, &["plugin", "outdated", "-o", "json"])
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(out[0]["wanted"], "1.1.0");
    assert_eq!(out[0]["latest"], "2.0.0");
    run(&env, &gh, &["plugin", "update", "demo"]).success();
    assert_eq!(live(&env, "demo"), "demo 1.1.0");
}
