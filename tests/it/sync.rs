//! Scoped plugins and `kplug plugin sync`: what a (simulated) cluster and a
//! project recommend, installed for their scope beside the user's own
//! standalone installs, from a loopback GitHub.

use crate::archives::{Entry, platform, plugin_script, release, tar_gz};
use crate::server::{FakeAsset, FakeGitHub, FakeRelease};
use crate::support::TestEnv;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

const REPO: &str = "acme/kplug-hello";

struct Env {
    env: TestEnv,
    gh: FakeGitHub,
}

fn setup() -> Env {
    let env = TestEnv::new();
    env.config_file("network:\n  attempts: 1\n");
    let gh = FakeGitHub::start();
    for v in ["1.0.0", "2.0.0", "2.1.0"] {
        gh.publish(REPO, release("hello", v));
    }
    Env { env, gh }
}

impl Env {
    fn kplug_in(&self, dir: &Path) -> assert_cmd::Command {
        let mut cmd = self.env.kplug();
        cmd.env("KPLUG_GITHUB_API_URL", self.gh.url())
            .current_dir(dir);
        cmd
    }

    fn kplug(&self) -> assert_cmd::Command {
        self.kplug_in(self.env.root.path())
    }

    fn downloads(&self) -> u64 {
        self.gh.asset_requests.load(Ordering::SeqCst)
    }

    /// Requests for plugin archives (not for published contracts).
    fn archive_downloads(&self) -> usize {
        self.gh
            .server
            .requests()
            .iter()
            .filter(|r| {
                r.path
                    .split('?')
                    .next()
                    .is_some_and(|p| p.ends_with(".tar.gz"))
            })
            .count()
    }

    /// What `kplug hello` runs, in `dir` (and with `vars`).
    fn hello_in(&self, dir: &Path, vars: &[(&str, &str)]) -> String {
        let mut cmd = self.kplug_in(dir);
        cmd.arg("hello");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.assert().success();
        String::from_utf8_lossy(&out.get_output().stdout)
            .trim()
            .to_string()
    }

    fn hello(&self) -> String {
        self.hello_in(self.env.root.path(), &[])
    }

    fn list(&self, dir: &Path, scope: &str) -> Vec<serde_json::Value> {
        let out = self
            .kplug_in(dir)
            .args(["plugin", "list", "-o", "json", "--scope", scope])
            .assert()
            .success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }
}

fn rows(list: &[serde_json::Value], name: &str) -> Vec<(String, String, String)> {
    list.iter()
        .filter(|p| p["name"] == name)
        .map(|p| {
            (
                p["info"]["version"].as_str().unwrap_or("-").to_string(),
                p["scope"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn row(v: &str, scope: &str, status: &str) -> (String, String, String) {
    (v.into(), scope.into(), status.into())
}

#[test]
fn a_cluster_recommendation_is_installed_for_its_scope_and_the_standalone_install_stays() {
    let e = setup();
    e.kplug()
        .args(["plugin", "install", &format!("{REPO}@v1.0.0")])
        .assert()
        .success();
    assert_eq!(e.hello(), "hello 1.0.0");
    // Created, made active (the simulator writes its context into the
    // kubeconfig, as k3d does), and synced before post-cluster-create.
    e.kplug()
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .args(["--recommend", &format!("hello@v2={REPO}")])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "cluster/dev: installed hello 2.1.0",
        ));
    let kubeconfig = std::fs::read_to_string(e.env.root.path().join(".kube/config")).unwrap();
    assert!(
        kubeconfig.contains("current-context: sim-dev"),
        "{kubeconfig}"
    );
    e.kplug()
        .args(["cluster", "current"])
        .assert()
        .success()
        .stdout("dev\n")
        .stderr(predicate::str::contains("kubeconfig context sim-dev"));
    assert_eq!(e.hello(), "hello 2.1.0", "the active cluster's version");
    assert_eq!(
        e.hello_in(e.env.root.path(), &[("KPLUG_CLUSTER", "other")]),
        "hello 1.0.0",
        "another cluster: the standalone version"
    );
    let store = e.env.home.join("plugins/hello");
    assert_eq!(
        std::fs::read_link(store.join("current")).unwrap(),
        Path::new("1.0.0"),
        "the standalone install is never overridden"
    );
    let all = e.list(e.env.root.path(), "all");
    assert_eq!(
        rows(&all, "hello"),
        [
            row("2.1.0", "cluster/dev", "valid"),
            row("1.0.0", "standalone", "inactive"),
        ]
    );
    assert_eq!(
        rows(&e.list(e.env.root.path(), "standalone"), "hello"),
        [row("1.0.0", "standalone", "inactive")]
    );
    assert_eq!(
        rows(&e.list(e.env.root.path(), "cluster/dev"), "hello"),
        [row("2.1.0", "cluster/dev", "valid")]
    );
    // Nothing changed: nothing downloaded, nothing even asked.
    let before = e.downloads();
    let asked = e.gh.server.requests().len();
    e.kplug()
        .args(["plugin", "sync"])
        .assert()
        .success()
        .stderr(predicate::str::contains("sync: 1 already current"));
    assert_eq!(e.downloads(), before, "a second sync downloads nothing");
    assert_eq!(e.gh.server.requests().len(), asked, "and sends no request");
    // A dry run shows the plan and changes nothing.
    e.kplug()
        .args(["cluster", "recommend", "hello@1.0.0", "--source", REPO])
        .assert()
        .success();
    e.kplug()
        .args(["plugin", "sync", "--dry-run"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                r"cluster/dev\s+hello\s+1\.0\.0 \(acme/kplug-hello\)\s+2\.1\.0\s+switch",
            )
            .unwrap(),
        );
    assert_eq!(e.hello(), "hello 2.1.0");
    // The recommendation changed to a version the store has: a switch, no
    // download.
    e.kplug()
        .args(["plugin", "sync"])
        .assert()
        .success()
        .stderr(predicate::str::contains("switched hello to 1.0.0"));
    assert_eq!(e.downloads(), before);
    assert_eq!(e.hello(), "hello 1.0.0");
    // The cluster goes, and its scope with it.
    e.kplug()
        .args(["cluster", "delete", "dev"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "dropped the plugins cluster `dev` recommended: hello",
        ));
    assert!(!store.join("scopes").exists());
    let kubeconfig = std::fs::read_to_string(e.env.root.path().join(".kube/config")).unwrap();
    assert!(!kubeconfig.contains("sim-dev"), "{kubeconfig}");
    assert_eq!(e.hello(), "hello 1.0.0");
}

/// A hook plugin release: EXEC appends `<version> <event> <cluster>` to
/// `record`.
fn hook_release(version: &str, record: &Path) -> FakeRelease {
    let info = "hooks:\\n- event: post-cluster-create\\n  mode: observe\\n";
    let script = plugin_script("audit", version, info).replace(
        "echo \"audit",
        &format!(
            "[ \"$KPLUG_COMMAND\" = EXEC ] && {{ echo \"{version} $KPLUG_EVENT $KPLUG_CLUSTER\" >> '{}'; cat >/dev/null; exit 0; }}\necho \"audit",
            record.display()
        ),
    );
    let body = tar_gz(&[Entry {
        path: "kplug-audit",
        body: script.as_bytes(),
        mode: 0o755,
    }]);
    FakeRelease {
        tag: format!("v{version}"),
        prerelease: false,
        assets: vec![FakeAsset {
            name: format!("kplug-audit_{version}_{}.tar.gz", platform()),
            body,
            digest: true,
        }],
    }
}

#[test]
fn hooks_of_a_cluster_use_the_versions_it_recommends() {
    let e = setup();
    let record = e.env.out.join("audit");
    for v in ["1.0.0", "2.0.0"] {
        e.gh.publish("acme/kplug-audit", hook_release(v, &record));
    }
    e.kplug()
        .args(["plugin", "install", "acme/kplug-audit@v1.0.0"])
        .assert()
        .success();
    e.kplug()
        .args(["cluster", "create", "a", "--engine", "sim"])
        .args(["--recommend", "audit@2.0.0=acme/kplug-audit"])
        .assert()
        .success();
    e.kplug()
        .args(["cluster", "create", "b", "--engine", "sim"])
        .assert()
        .success();
    // `a` recommended 2.0.0: synced before its post-cluster-create, so that
    // version fired for it; `b` recommends nothing: the standalone one.
    let lines = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        ["2.0.0 post-cluster-create a", "1.0.0 post-cluster-create b"]
    );
    // Positive control for --no-sync: nothing installed for `c`.
    e.kplug()
        .args(["cluster", "create", "c", "--engine", "sim", "--no-sync"])
        .args(["--recommend", "audit@2.0.0=acme/kplug-audit"])
        .assert()
        .success();
    assert!(!e.env.home.join("plugins/audit/scopes/cluster/c").exists());
    assert!(e.env.home.join("plugins/audit/scopes/cluster/a").exists());
}

fn project(e: &Env, yaml: &str) -> PathBuf {
    let dir = e.env.dir("app");
    std::fs::write(dir.join("kplug.yaml"), yaml).unwrap();
    dir
}

fn sha_of(store: &Path, name: &str) -> Vec<String> {
    let receipt =
        std::fs::read_to_string(store.join(format!("plugins/{name}/receipt.yaml"))).unwrap();
    let r: serde_yaml::Value = serde_yaml::from_str(&receipt).unwrap();
    r["versions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                v["version"].as_str().unwrap(),
                v["sha256"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_project_syncs_into_its_scope_writes_a_lock_and_locked_reproduces_it() {
    let e = setup();
    e.kplug()
        .args(["plugin", "install", &format!("{REPO}@v1.0.0")])
        .assert()
        .success();
    let app = project(
        &e,
        &format!("plugins:\n  hello: {{version: v2.0, source: {REPO}}}\n"),
    );
    let sub = app.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    e.kplug_in(&sub)
        .args(["plugin", "sync"])
        .assert()
        .success()
        .stderr(predicate::str::contains("project: installed hello 2.0.0"))
        .stderr(predicate::str::contains("wrote"));
    let lock = std::fs::read_to_string(app.join("kplug.lock")).unwrap();
    let sha = crate::server::sha256_hex(&crate::archives::plugin_tar_gz("hello", "2.0.0"));
    assert!(
        lock.contains("version: 2.0.0") && lock.contains(&sha),
        "{lock}"
    );
    assert!(
        lock.contains("request: v2.0") && lock.contains(&format!("source: {REPO}")),
        "{lock}"
    );
    // Inside the project its version runs; outside, the standalone one.
    assert_eq!(e.hello_in(&sub, &[]), "hello 2.0.0");
    assert_eq!(e.hello(), "hello 1.0.0");
    // The project wins over the active cluster, which wins over standalone.
    e.kplug()
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .args(["--recommend", &format!("hello@2.1.0={REPO}")])
        .assert()
        .success();
    assert_eq!(e.hello(), "hello 2.1.0");
    assert_eq!(e.hello_in(&app, &[]), "hello 2.0.0");
    e.kplug_in(&app)
        .args(["plugin", "list"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "project {}",
            app.display()
        )));

    // A newer 2.0.x does not move a request that did not change.
    e.gh.publish(REPO, release("hello", "2.0.1"));
    e.kplug_in(&app)
        .args(["plugin", "sync", "--project"])
        .assert()
        .success();
    assert_eq!(e.hello_in(&app, &[]), "hello 2.0.0");
    assert_eq!(
        std::fs::read_to_string(app.join("kplug.lock")).unwrap(),
        lock
    );

    // A clean KPLUG_HOME installs exactly the lock: same versions, same bytes.
    let clean = e.env.dir("clean-home");
    let before = e.downloads();
    e.kplug_in(&app)
        .env("KPLUG_HOME", &clean)
        .args(["plugin", "sync", "--locked", "--project"])
        .assert()
        .success();
    assert_eq!(e.downloads(), before + 1);
    assert_eq!(sha_of(&clean, "hello"), [format!("2.0.0 {sha}")]);
    assert_eq!(
        std::fs::read_to_string(app.join("kplug.lock")).unwrap(),
        lock,
        "untouched"
    );

    // --locked refuses a kplug.yaml asking for more than the lock has.
    std::fs::write(
        app.join("kplug.yaml"),
        format!("plugins:\n  hello: {{version: v2.0, source: {REPO}}}\n  extra: {{version: v1, source: acme/kplug-extra}}\n"),
    )
    .unwrap();
    e.kplug_in(&app)
        .env("KPLUG_HOME", &clean)
        .args(["plugin", "sync", "--locked"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "asks for what kplug.lock does not have",
        ))
        .stderr(predicate::str::contains("extra v1"));

    // The request changed: only that entry is resolved again.
    std::fs::write(
        app.join("kplug.yaml"),
        format!("plugins:\n  hello: {{version: v2, source: {REPO}}}\n"),
    )
    .unwrap();
    e.kplug_in(&app)
        .args(["plugin", "sync", "--project"])
        .assert()
        .success();
    assert_eq!(e.hello_in(&app, &[]), "hello 2.1.0");
    let relocked = std::fs::read_to_string(app.join("kplug.lock")).unwrap();
    assert!(
        relocked.contains("version: 2.1.0") && relocked.contains("request: v2\n"),
        "{relocked}"
    );
}

/// Sync `app` (hello 2.0.0), then forge its lock's sha256 to `fill`s:
/// the real sha256, the forged one, and the lock as forged.
fn forge_lock(e: &Env, app: &Path, fill: char) -> (String, String, String) {
    e.kplug_in(app).args(["plugin", "sync"]).assert().success();
    let lock = std::fs::read_to_string(app.join("kplug.lock")).unwrap();
    let sha = crate::server::sha256_hex(&crate::archives::plugin_tar_gz("hello", "2.0.0"));
    let forged = fill.to_string().repeat(64);
    let written = lock.replace(&sha, &forged);
    std::fs::write(app.join("kplug.lock"), &written).unwrap();
    (sha, forged, written)
}

#[test]
fn a_lock_whose_sha256_the_source_no_longer_serves_is_refused() {
    let e = setup();
    let app = project(
        &e,
        &format!("plugins:\n  hello: {{version: 2.0.0, source: {REPO}}}\n"),
    );
    let (sha, forged, _) = forge_lock(&e, &app, 'f');
    let clean = e.env.dir("clean-home");
    e.kplug_in(&app)
        .env("KPLUG_HOME", &clean)
        .args(["plugin", "sync", "--locked"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("hello"))
        .stderr(predicate::str::contains(&forged))
        .stderr(predicate::str::contains(&sha));
    assert!(!clean.join("plugins/hello").exists(), "nothing installed");
}

#[test]
fn bad_project_files_and_kubeconfigs_are_named() {
    let e = setup();
    let app = project(&e, "plugins:\n  hello: 1.10\n");
    e.kplug_in(&app)
        .args(["plugin", "sync"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "kplug.yaml: `plugins.hello` is a number",
        ));
    std::fs::write(app.join("kplug.yaml"), "plugins:\n  hello: v1\n").unwrap();
    std::fs::write(app.join("kplug.lock"), "version: 1\nplugins: [\n").unwrap();
    e.kplug_in(&app)
        .args(["plugin", "sync"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "kplug.lock is not a kplug lock file",
        ));
    std::fs::remove_file(app.join("kplug.lock")).unwrap();
    // A recommendation naming a source that is not configured.
    std::fs::write(
        app.join("kplug.yaml"),
        "plugins:\n  hello: {version: v1, source: nowhere}\n",
    )
    .unwrap();
    e.kplug_in(&app)
        .args(["plugin", "sync"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "recommended from `nowhere`, which is not a configured source",
        ));
    // `cluster use` of a cluster kplug does not know; a broken kubeconfig.
    e.kplug()
        .args(["cluster", "use", "ghost"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("kplug knows no cluster `ghost`"));
    let kube = e.env.dir(".kube").join("config");
    std::fs::write(&kube, "{ not: [yaml").unwrap();
    e.kplug()
        .args(["cluster", "current"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "the kubeconfig {} is not valid",
            kube.display()
        )));
    // Dispatch is not stopped by it.
    crate::support::write_exec(&e.env.bin.join("kplug-ok"), "#!/bin/sh\necho ok\n");
    e.kplug().arg("ok").assert().success().stdout("ok\n");
}

#[test]
fn cluster_use_changes_only_the_current_context_line() {
    let e = setup();
    for name in ["a", "b"] {
        e.kplug()
            .args(["cluster", "create", name, "--engine", "sim", "--no-sync"])
            .assert()
            .success();
    }
    let kube = e.env.root.path().join(".kube/config");
    let text = std::fs::read_to_string(&kube).unwrap();
    assert!(text.contains("current-context: sim-b"));
    // The user's own formatting and comments stay, byte for byte.
    let edited = format!(
        "# my clusters\n{}",
        text.replace("current-context: sim-b", "current-context: sim-b   # last")
    );
    std::fs::write(&kube, &edited).unwrap();
    e.kplug().args(["cluster", "use", "a"]).assert().success();
    let after = std::fs::read_to_string(&kube).unwrap();
    assert_eq!(
        after,
        edited.replace(
            "current-context: sim-b   # last",
            "current-context: sim-a # last"
        )
    );
    // A kubeconfig kplug cannot change safely is left alone (JSON).
    let json = r#"{"apiVersion":"v1","kind":"Config","contexts":[{"name":"sim-a","context":{}},{"name":"sim-b","context":{}}],"current-context":"sim-a"}"#;
    std::fs::write(&kube, json).unwrap();
    e.kplug()
        .args(["cluster", "use", "b"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is a JSON kubeconfig"))
        .stderr(predicate::str::contains("kubectl config use-context sim-b"));
    assert_eq!(std::fs::read_to_string(&kube).unwrap(), json);
    let out = e
        .kplug()
        .args(["cluster", "current", "-o", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["cluster"]["name"], "a");
    assert_eq!(v["cluster"]["from"], "kubeconfig");
    assert_eq!(v["cluster"]["context"], "sim-a");
    // KPLUG_CLUSTER and --cluster come first.
    e.kplug()
        .env("KPLUG_CLUSTER", "b")
        .args(["cluster", "current"])
        .assert()
        .success()
        .stdout("b\n");
}

#[test]
fn a_cluster_recommends_through_the_real_kubectl() {
    use crate::kube::{FakeApi, cliplugin};
    let kubectl = crate::kube::kubectl();
    let e = setup();
    std::os::unix::fs::symlink(&kubectl, e.env.bin.join("kubectl")).unwrap();
    let api = FakeApi::start();
    api.items.lock().unwrap().extend([
        cliplugin("hello", "team-a", "v2.0", REPO),
        cliplugin("hello", "team-b", "1.0.0", REPO),
        cliplugin("broken", "team-b", "not a version!", REPO),
    ]);
    std::fs::write(
        e.env.dir(".kube").join("config"),
        api.kubeconfig("kind-fake"),
    )
    .unwrap();
    // The kubeconfig's current context names cluster `fake`.
    e.kplug()
        .args(["cluster", "current"])
        .assert()
        .success()
        .stdout("fake\n");
    e.kplug()
        .args(["plugin", "sync"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "cluster/fake: installed hello 2.0.0",
        ))
        .stderr(predicate::str::contains(
            "CLIPlugin `broken` in namespace `team-b` of cluster `fake` is ignored",
        ));
    assert_eq!(
        e.hello(),
        "hello 2.0.0",
        "the highest of the two namespaces'"
    );
    let log = api.requests();
    assert!(
        log.contains(&"GET /apis/cli.kplug.dev/v1alpha1/cliplugins bearer-ok".to_string()),
        "{log:?}"
    );
    assert!(
        log.iter().all(|l| l.ends_with("bearer-ok")),
        "the token on every request: {log:?}"
    );
    // No kubectl: a warning that names it, and the cluster's plugins stay.
    let empty = e.env.dir("no-kubectl");
    e.kplug()
        .env("PATH", &empty)
        .args(["plugin", "sync"])
        .assert()
        .success()
        .stderr(predicate::str::contains("kubectl is not on PATH"));
    assert_eq!(
        e.hello(),
        "hello 2.0.0",
        "nothing dropped without an answer"
    );
    // No CRD: nothing recommended, not an error (the scope's plugin goes).
    api.crd.store(false, Ordering::SeqCst);
    e.kplug()
        .args(["plugin", "sync"])
        .assert()
        .success()
        .stderr(predicate::str::contains("cluster/fake: dropped hello"));
    e.kplug().arg("hello").assert().failure();
}

#[test]
fn a_sync_killed_mid_download_leaves_every_plugin_old_or_new_and_the_lock_whole() {
    let e = setup();
    e.gh.publish("acme/kplug-slow", release("slow", "1.0.0"));
    let slow_asset = format!("kplug-slow_1.0.0_{}.tar.gz", platform());
    let app = project(
        &e,
        &format!(
            "plugins:\n  hello: {{version: 2.0.0, source: {REPO}}}\n  slow: {{version: v1, source: acme/kplug-slow}}\n"
        ),
    );
    // A lock from before: it must stay whole, old or new.
    e.kplug_in(&app).args(["plugin", "sync"]).assert().success();
    let old_lock = std::fs::read_to_string(app.join("kplug.lock")).unwrap();
    // 4 MiB that do not compress: seconds at the throttled rate.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let noise: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let script = plugin_script("slow", "1.1.0", "");
    let body = tar_gz(&[
        Entry {
            path: "kplug-slow",
            body: script.as_bytes(),
            mode: 0o755,
        },
        Entry {
            path: "noise.bin",
            body: &noise,
            mode: 0o644,
        },
    ]);
    e.gh.publish(
        "acme/kplug-slow",
        crate::archives::release_with("slow", "1.1.0", body, true),
    );
    std::fs::write(
        app.join("kplug.yaml"),
        format!("plugins:\n  hello: {{version: 2.1.0, source: {REPO}}}\n  slow: {{version: 1.1.0, source: acme/kplug-slow}}\n"),
    )
    .unwrap();
    e.gh.faults.lock().unwrap().throttle = Some(slow_asset.replace("1.0.0", "1.1.0"));
    let before = e.downloads();
    let mut child = e
        .env
        .kplug_process()
        .env("KPLUG_GITHUB_API_URL", e.gh.url())
        .current_dir(&app)
        .args(["plugin", "sync"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while e.downloads() < before + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the downloads never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    // Each plugin at its old version or its new one, never in between.
    assert!(["hello 2.0.0", "hello 2.1.0"].contains(&e.hello_in(&app, &[]).as_str()));
    let slow = e.kplug_in(&app).arg("slow").assert().success();
    let slow = String::from_utf8_lossy(&slow.get_output().stdout)
        .trim()
        .to_string();
    assert_eq!(slow, "slow 1.0.0", "its download never finished");
    assert_eq!(
        std::fs::read_to_string(app.join("kplug.lock")).unwrap(),
        old_lock
    );
    // The next sync finishes the job.
    e.gh.faults.lock().unwrap().throttle = None;
    e.kplug_in(&app).args(["plugin", "sync"]).assert().success();
    assert_eq!(e.hello_in(&app, &[]), "hello 2.1.0");
    let lock = std::fs::read_to_string(app.join("kplug.lock")).unwrap();
    assert!(
        lock.contains("version: 1.1.0") && lock.contains("version: 2.1.0"),
        "{lock}"
    );
}

#[test]
fn init_writes_a_starter_project_from_what_is_installed_and_the_nearest_project_wins() {
    let e = setup();
    e.kplug()
        .args(["plugin", "install", &format!("{REPO}@v2.0.0")])
        .assert()
        .success();
    let app = e.env.dir("app");
    e.kplug_in(&app)
        .args(["init", "--from-installed"])
        .assert()
        .success();
    let yaml = std::fs::read_to_string(app.join("kplug.yaml")).unwrap();
    assert!(
        yaml.contains(&format!("hello: {{version: v2, source: \"{REPO}\"}}")),
        "{yaml}"
    );
    e.kplug_in(&app)
        .args(["init"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already exists"));
    e.kplug_in(&app).args(["plugin", "sync"]).assert().success();
    assert_eq!(e.hello_in(&app, &[]), "hello 2.1.0");
    // A project inside it: the nearest wins, and `plugin list` says so.
    let inner = app.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    e.kplug_in(&inner).args(["init"]).assert().success();
    e.kplug_in(&inner)
        .args(["plugin", "list"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "project {} (the nearest kplug.yaml; the one in {} is not used here)",
            inner.display(),
            app.display()
        )));
    assert_eq!(
        e.hello_in(&inner, &[]),
        "hello 2.0.0",
        "the inner project wants nothing"
    );
}

#[test]
fn a_recommendation_may_name_an_inventory_by_its_url_and_one_failure_leaves_the_others() {
    use crate::server::{Reply, Request, Server, sha256_hex};
    let e = setup();
    let archive = crate::archives::plugin_tar_gz("tool", "1.0.0");
    let file = format!("kplug-tool_1.0.0_{}.tar.gz", platform());
    let (os, arch) = platform().split_once('_').unwrap();
    let served = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (doc, body, name) = (served.clone(), archive.clone(), file.clone());
    let team = Server::start("127.0.0.1", move |req: &Request| {
        match req.path.split('?').next().unwrap_or_default() {
            "/inventory.yaml" => Reply::bytes(doc.lock().unwrap().clone().into_bytes()),
            p if p == format!("/dl/{name}") => Reply::bytes(body.clone()),
            _ => Reply::status(404, &[]),
        }
    });
    *served.lock().unwrap() = format!(
        "apiVersion: kplug.dev/v1\nkind: Inventory\nplugins:\n  tool:\n    versions:\n      - version: 1.0.0\n        artifacts:\n          - {{os: {os}, arch: {arch}, url: \"{}/dl/{file}\", sha256: {}, size: {}}}\n",
        team.url(),
        sha256_hex(&archive),
        archive.len()
    );
    let inventory = format!("{}/inventory.yaml", team.url());
    e.kplug()
        .args(["cluster", "create", "dev", "--engine", "sim", "--no-sync"])
        .args(["--recommend", &format!("tool@v1={inventory}")])
        .args(["--recommend", &format!("hello@2.0.0={REPO}")])
        .args(["--recommend", "ghost@v1=acme/kplug-ghost"])
        .assert()
        .success();
    e.kplug()
        .args(["plugin", "sync"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cluster/dev: installed tool 1.0.0",
        ))
        .stderr(predicate::str::contains(
            "cluster/dev: installed hello 2.0.0",
        ))
        .stderr(predicate::str::contains("cluster/dev: ghost v1 failed"))
        .stderr(predicate::str::contains("sync: 2 installed, 1 failed"));
    let out = e.kplug().arg("tool").assert().success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout).trim(),
        "tool 1.0.0"
    );
    assert_eq!(e.hello(), "hello 2.0.0");
    // `cluster use` syncs on its own: a recommendation added since is there.
    e.kplug()
        .args(["cluster", "recommend", "hello@1.0.0", "--source", REPO])
        .assert()
        .success();
    e.kplug()
        .args(["cluster", "create", "other", "--engine", "sim", "--no-sync"])
        .assert()
        .success();
    e.kplug()
        .args(["cluster", "use", "dev"])
        .assert()
        .success()
        .stderr(predicate::str::contains("installed hello 1.0.0"));
    assert_eq!(e.hello(), "hello 1.0.0");
}

#[test]
fn recommendations_never_install_local_paths_and_a_broken_cluster_does_not_stop_the_project() {
    let e = setup();
    // A directory that looks like the recommended repository, where sync
    // runs: the repository is still what is installed.
    let app = project(
        &e,
        &format!("plugins:\n  hello: {{version: 2.0.0, source: {REPO}}}\n"),
    );
    let decoy = app.join(REPO);
    std::fs::create_dir_all(&decoy).unwrap();
    crate::support::write_exec(
        &decoy.join("kplug-hello"),
        &plugin_script("hello", "6.6.6", ""),
    );
    // The active cluster cannot be read (no such context): a warning, and
    // the project is synced.
    e.kplug_in(&app)
        .env("KPLUG_CLUSTER", "ghost")
        .args(["plugin", "sync"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "what cluster `ghost` recommends was not read",
        ))
        .stderr(predicate::str::contains("project: installed hello 2.0.0"));
    assert_eq!(e.hello_in(&app, &[]), "hello 2.0.0");
    // A cluster recommending a path on this machine is refused.
    let evil = e.env.dir("evil");
    crate::support::write_exec(
        &evil.join("kplug-tool"),
        &plugin_script("tool", "1.0.0", ""),
    );
    e.kplug()
        .args(["cluster", "create", "dev", "--engine", "sim", "--no-sync"])
        .args(["--recommend", &format!("tool@1.0.0={}", evil.display())])
        .args(["--recommend", "tool2@1.0.0=./evil"])
        .assert()
        .success();
    e.kplug()
        .args(["plugin", "sync"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("which is not owner/repo"))
        .stderr(predicate::str::contains("sync: 2 failed"));
    assert!(!e.env.home.join("plugins/tool").exists());
    assert!(!e.env.home.join("plugins/tool2").exists());
}

#[test]
fn a_lock_pin_holds_for_a_version_already_installed() {
    let e = setup();
    let app = project(
        &e,
        &format!("plugins:\n  hello: {{version: 2.0.0, source: {REPO}}}\n"),
    );
    let (sha, forged, written) = forge_lock(&e, &app, 'e');
    for args in [&["plugin", "sync", "--locked"][..], &["plugin", "sync"][..]] {
        e.kplug_in(&app)
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(&sha))
            .stderr(predicate::str::contains(&forged));
    }
    assert_eq!(
        std::fs::read_to_string(app.join("kplug.lock")).unwrap(),
        written,
        "the lock is not rewritten to what is installed"
    );
}

#[test]
fn the_plan_judges_published_requirements_before_any_download() {
    let e = setup();
    let contract = |version: &str, requires: &str| {
        let mut r = release("picky", version);
        r.assets.push(FakeAsset {
            name: "kplug-plugin.yaml".into(),
            body: format!(
                "protocols: [1]\nname: picky\nversion: {version}\nrequires: {requires}\n"
            )
            .into_bytes(),
            digest: true,
        });
        r
    };
    e.gh.publish("acme/kplug-picky", contract("1.0.0", "{kplug: \">=0.1\"}"));
    e.gh.publish("acme/kplug-picky", contract("1.1.0", "{kplug: \">=99\"}"));
    let app = project(
        &e,
        "plugins:\n  picky: {version: v1, source: acme/kplug-picky}\n",
    );
    // The newest 1.x needs kplug 99: the plan takes 1.0.0, says so, and
    // downloads no archive (only the small published contracts).
    let before = e.archive_downloads();
    e.kplug_in(&app)
        .args(["plugin", "sync", "--dry-run"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                r"project\s+picky\s+v1 \(acme/kplug-picky\)\s+-\s+install 1\.0\.0",
            )
            .unwrap(),
        );
    assert_eq!(e.archive_downloads(), before, "a plan downloads no archive");
    assert!(!app.join("kplug.lock").exists(), "a dry run writes no lock");
    // A request only the refused version satisfies is refused, with why.
    std::fs::write(
        app.join("kplug.yaml"),
        "plugins:\n  picky: {version: 1.1.0, source: acme/kplug-picky}\n",
    )
    .unwrap();
    e.kplug_in(&app)
        .args(["plugin", "sync", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("refused"));
    e.kplug_in(&app)
        .args(["plugin", "sync"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(">=99"));
    assert_eq!(e.archive_downloads(), before);
    assert!(!e.env.home.join("plugins/picky").exists());
    // Positive control: the install that holds downloads its archive.
    std::fs::write(
        app.join("kplug.yaml"),
        "plugins:\n  picky: {version: v1, source: acme/kplug-picky}\n",
    )
    .unwrap();
    e.kplug_in(&app)
        .args(["plugin", "sync"])
        .assert()
        .success()
        .stderr(predicate::str::contains("project: installed picky 1.0.0"));
    assert_eq!(e.archive_downloads(), before + 1);
}

#[test]
fn hooks_use_the_project_version_over_the_cluster_one() {
    let e = setup();
    let record = e.env.out.join("audit");
    for v in ["1.0.0", "2.0.0"] {
        e.gh.publish("acme/kplug-audit", hook_release(v, &record));
    }
    let app = project(
        &e,
        "plugins:\n  audit: {version: 1.0.0, source: acme/kplug-audit}\n",
    );
    e.kplug_in(&app).args(["plugin", "sync"]).assert().success();
    // Created from inside the project: the project's version fires, though
    // the cluster recommends another; from outside, the cluster's.
    e.kplug_in(&app)
        .args(["cluster", "create", "a", "--engine", "sim"])
        .args(["--recommend", "audit@2.0.0=acme/kplug-audit"])
        .assert()
        .success();
    e.kplug()
        .args(["hooks", "fire", "post-cluster-create", "--cluster", "a"])
        .assert()
        .success();
    let lines = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        ["1.0.0 post-cluster-create a", "2.0.0 post-cluster-create a"]
    );
}

#[test]
fn a_plugin_only_a_scope_wants_says_so_and_a_bad_cluster_name_is_refused() {
    let e = setup();
    e.kplug()
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .args(["--recommend", &format!("hello@2.0.0={REPO}")])
        .assert()
        .success();
    assert_eq!(e.hello(), "hello 2.0.0");
    e.kplug()
        .env("KPLUG_CLUSTER", "other")
        .arg("hello")
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "`hello` is installed only for cluster/dev, which is not active here",
        ));
    e.kplug()
        .args(["plugin", "update", "hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("`kplug plugin sync` keeps it"));
    e.kplug()
        .env("KPLUG_CLUSTER", "../x")
        .args(["cluster", "current"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "KPLUG_CLUSTER `../x` is not a cluster name",
        ));
}
