//! The Rust (kplug-sdk) and Python example plugins follow the protocol: kplug
//! lists them valid, runs them as callables, fires their hooks on a
//! simulated cluster, and `kplug plugin validate` passes them.

use crate::support::{TestEnv, entry};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins-examples"))
}

/// Build `plugins-examples/rust-hello` once and return the directory that
/// holds `kplug-rust-hello`. It shares the workspace's target directory
/// (cargo holds no lock on it while test binaries run), so the SDK and its
/// dependencies are mostly built already.
fn rust_hello_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        let out = std::process::Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .args(["build", "--quiet", "-p", "kplug-rust-hello"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "cargo build -p kplug-rust-hello failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = target.join("debug");
        assert!(dir.join("kplug-rust-hello").is_file());
        dir
    })
}

/// `kplug` with `dir` as `KPLUG_PLUGIN_PATH`.
fn kplug_with(env: &TestEnv, dir: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = env.kplug();
    cmd.env("KPLUG_PLUGIN_PATH", dir).args(args);
    cmd
}

fn listed(env: &TestEnv, dir: &Path) -> Vec<serde_json::Value> {
    let out = kplug_with(env, dir, &["plugin", "list", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

/// EXEC by hand, as the hook engine does: `event` in the env and a context
/// on stdin.
fn exec(exe: &Path, event: &str) -> std::process::Output {
    use std::io::Write;
    let context = format!(
        r#"{{"protocol":1,"event":"{event}","invocationId":"t-1","host":{{"version":"0.1.0"}},
            "cluster":{{"name":"dev","engine":"sim","network":"k3d-dev","kubeconfig":"/k",
            "nodes":[{{"name":"k3d-dev-server-0","role":"server","ip":"10.0.0.2"}}],
            "annotations":{{}},"simulated":true}},
            "spec":{{"servers":1,"agents":0,"engineArgs":[]}},"previous":{{}}}}"#
    );
    let mut child = std::process::Command::new(exe)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("KPLUG_COMMAND", "EXEC")
        .env("KPLUG_PROTOCOL", "1")
        .env("KPLUG_EVENT", event)
        .env("KPLUG_CLUSTER", "dev")
        .env("KPLUG_ENGINE", "sim")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(context.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn check_exec(exe: &Path, greeting: &str) {
    let out = exec(exe, "post-cluster-create");
    assert!(out.status.success(), "{out:?}");
    let result = kplug::protocol::HookResult::parse(&out.stdout).unwrap();
    assert_eq!(result.messages, [greeting]);
    let out = exec(exe, "post-cluster-stop");
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(
        kplug::protocol::ErrorDoc::parse(&out.stdout).unwrap().code,
        4
    );
}

#[test]
fn the_python_example_answers_info_run_and_exec() {
    let env = TestEnv::new();
    let list = listed(&env, examples());
    let py = entry(&list, "py-hello");
    assert_eq!(py["status"], "valid", "{py:#}");
    assert_eq!(py["info"]["hooks"][0]["event"], "post-cluster-create");
    kplug_with(&env, examples(), &["py-hello", "Ada"])
        .assert()
        .success()
        .stdout("hello, Ada!\n");
    check_exec(
        &examples().join("kplug-py-hello"),
        "hello from Python, dev!",
    );
}

#[test]
fn the_rust_example_is_listed_runs_and_fires_on_a_simulated_cluster() {
    let env = TestEnv::new();
    let dir = rust_hello_dir();
    let list = listed(&env, dir);
    let rust = entry(&list, "rust-hello");
    assert_eq!(rust["status"], "valid", "{rust:#}");
    assert_eq!(rust["info"]["hooks"][0]["event"], "post-cluster-create");
    kplug_with(&env, dir, &["rust-hello", "Ada"])
        .assert()
        .success()
        .stdout("hello, Ada!\n");
    check_exec(&dir.join("kplug-rust-hello"), "hello from Rust, dev!");

    kplug_with(&env, dir, &["cluster", "create", "demo", "--engine", "sim"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "[rust-hello] hello from Rust, demo!",
        ))
        .stderr(predicates::str::contains(
            "[rust-hello] rust-hello: cluster demo is up (engine sim, 1 server(s), 0 agent(s), simulated)",
        ));
    let log = kplug_with(&env, dir, &["hooks", "log", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let log: Vec<serde_json::Value> = serde_json::from_slice(&log).unwrap();
    assert!(
        log.iter()
            .any(|e| e["hook"] == "rust-hello" && e["outcome"] == "ok"),
        "{log:#?}"
    );
}

#[test]
fn both_examples_pass_plugin_validate() {
    let env = TestEnv::new();
    for exe in [
        examples().join("kplug-py-hello"),
        rust_hello_dir().join("kplug-rust-hello"),
    ] {
        let out = env
            .kplug()
            .args(["plugin", "validate", "-o", "json"])
            .arg(&exe)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} fails validation:\n{}\n{}",
            exe.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["ok"], true, "{report:#}");
        let checks = report["checks"].as_array().unwrap();
        assert!(checks.len() >= 8, "{report:#}");
        assert!(checks.iter().all(|c| c["ok"] == true), "{report:#}");
    }
}
