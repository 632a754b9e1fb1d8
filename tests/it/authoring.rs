//! `kplug plugin new` and `kplug plugin validate`.
//!
//! Scaffolds of every language pass the conformance checker; each seeded
//! defect fails exactly the check made for it; the examples pass.

use crate::support::{TestEnv, write_exec};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The checks every plugin with one declared hook gets.
const CHECKS: &[&str] = &[
    "info-exit",
    "info-time",
    "info-document",
    "info-name-version",
    "info-protocol",
    "info-stable",
    "info-side-effects",
    "exec:post-cluster-create",
    "unknown-event",
    "run",
];

/// `PATH` for runs that need python3 (or cargo) where the machine has it.
fn path_with(env: &TestEnv, tools: &[&str]) -> String {
    let mut path = env.path_var();
    for tool in tools {
        if let Ok(p) = which::which(tool) {
            let dir = p.parent().unwrap().display().to_string();
            if !path.split(':').any(|d| d == dir) {
                path = format!("{dir}:{path}");
            }
        }
    }
    path
}

/// Run `plugin validate -o json` and return its exit code and report.
fn validate(env: &TestEnv, target: &Path) -> (i32, Value) {
    validate_with_path(env, target, &env.path_var())
}

fn validate_with_path(env: &TestEnv, target: &Path, path: &str) -> (i32, Value) {
    let out = env
        .kplug()
        .env("PATH", path)
        .args(["plugin", "validate", "-o", "json"])
        .arg(target)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "validate printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

/// The names of the failed checks.
fn failed(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn assert_passes(code: i32, report: &Value) {
    assert_eq!((code, failed(report)), (0, vec![]), "{report:#}");
    assert_eq!(report["ok"], true);
}

fn names(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// plugin new → plugin validate

fn scaffold(env: &TestEnv, name: &str, lang: &str) -> PathBuf {
    let dir = env.root.path().join(format!("kplug-{name}"));
    let out = env
        .kplug()
        .args(["plugin", "new", name, "--lang", lang])
        .assert()
        .success()
        .get_output()
        .clone();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("kplug plugin validate"), "{said}");
    assert!(said.contains("KPLUG_PLUGIN_PATH"), "{said}");
    for f in ["README.md", ".github/workflows/release.yml"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    dir
}

#[test]
fn bash_scaffold_validates_and_runs() {
    let env = TestEnv::new();
    let dir = scaffold(&env, "demo", "bash");
    let exe = dir.join("kplug-demo");
    let (code, report) = validate(&env, &exe);
    assert_passes(code, &report);
    assert_eq!(names(&report), CHECKS);
    assert!(
        check(&report, "exec:post-cluster-create")["detail"]
            .as_str()
            .unwrap()
            .contains("demo: cluster validate-sim is ready"),
        "{report:#}"
    );
    // kplug finds it through KPLUG_PLUGIN_PATH, as the next steps say.
    env.kplug()
        .env("KPLUG_PLUGIN_PATH", &dir)
        .args(["demo", "you"])
        .assert()
        .success()
        .stdout("hello from demo, you!\n");

    let workflow = std::fs::read_to_string(dir.join(".github/workflows/release.yml")).unwrap();
    for needle in [
        "kplug-demo_${version}",
        "checksums.txt",
        "kplug-plugin.yaml",
        "KPLUG_COMMAND=INFO",
    ] {
        assert!(workflow.contains(needle), "workflow lacks {needle}");
    }
}

#[test]
fn python_scaffold_validates() {
    let env = TestEnv::new();
    let path = path_with(&env, &["python3"]);
    // python3 is on every machine kplug is tested on (CI installs nothing
    // for it): a missing one is a failure, not a silent pass.
    assert!(
        which::which("python3").is_ok(),
        "python3 is needed for this test"
    );
    let dir = scaffold(&env, "pydemo", "python");
    let exe = dir.join("kplug-pydemo");
    assert!(
        std::fs::read_to_string(&exe)
            .unwrap()
            .starts_with("#!/usr/bin/env python3\n")
    );
    let (code, report) = validate_with_path(&env, &exe, &path);
    assert_passes(code, &report);
    assert_eq!(names(&report), CHECKS);
}

#[test]
fn rust_scaffold_builds_and_validates() {
    // The cargo running these tests.
    let cargo = env!("CARGO");
    let env = TestEnv::new();
    let dir = scaffold(&env, "rsdemo", "rust");
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    assert!(main.contains("const NAME: &str = \"rsdemo\";"));
    let workflow = std::fs::read_to_string(dir.join(".github/workflows/release.yml")).unwrap();
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ] {
        assert!(workflow.contains(target), "workflow lacks {target}");
    }

    // A target directory kept between runs, so only the scaffold recompiles.
    // Offline: the scaffold's only dependency (serde_json) is one of
    // kplug's own, so building kplug's tests has put it in cargo's cache.
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("authoring-rust-scaffold");
    let out = std::process::Command::new(cargo)
        .args(["build", "--quiet", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo build --offline of the scaffold failed (its dependencies should be in cargo's cache from building kplug): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exe = target_dir.join("debug/kplug-rsdemo");
    let (code, report) = validate(&env, &exe);
    assert_passes(code, &report);
    assert_eq!(names(&report), CHECKS);
}

#[test]
fn new_refuses_bad_names() {
    let env = TestEnv::new();
    for bad in ["Demo", "plugin", "plugin-x", "a_b", "demo-"] {
        let out = env
            .kplug()
            .args(["plugin", "new", bad, "--lang", "bash"])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a valid plugin name"), "{bad}: {err}");
        assert!(!env.root.path().join(format!("kplug-{bad}")).exists());
    }
}

#[test]
fn new_refuses_a_non_empty_dir_and_takes_an_empty_one() {
    let env = TestEnv::new();
    let full = env.dir("full");
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    let out = env
        .kplug()
        .args(["plugin", "new", "demo", "--lang", "bash", "--dir"])
        .arg(&full)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_dir(&full).unwrap().count(),
        1,
        "nothing was written"
    );
    // A file in the way is refused too.
    let file = env.root.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    env.kplug()
        .args(["plugin", "new", "demo", "--lang", "bash", "--dir"])
        .arg(&file)
        .assert()
        .code(2);

    let empty = env.dir("empty");
    env.kplug()
        .args(["plugin", "new", "demo", "--lang", "python", "--dir"])
        .arg(&empty)
        .assert()
        .success();
    assert!(empty.join("kplug-demo").is_file());
    // A second run into the same directory is refused.
    env.kplug()
        .args(["plugin", "new", "demo", "--lang", "python", "--dir"])
        .arg(&empty)
        .assert()
        .code(2);
}

// ---------------------------------------------------------------------------
// The examples

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plugins-examples")
        .join(name)
}

#[test]
fn example_plugins_pass() {
    let env = TestEnv::new();
    for name in ["kplug-hello", "kplug-registry"] {
        let (code, report) = validate(&env, &example(name));
        assert_passes(code, &report);
    }
}

#[test]
fn validate_finds_a_plugin_by_name_and_prints_a_table() {
    let env = TestEnv::new();
    let script = std::fs::read_to_string(example("kplug-hello")).unwrap();
    write_exec(&env.bin.join("kplug-hello"), &script);
    let out = env
        .kplug()
        .args(["plugin", "validate", "hello"])
        .assert()
        .success()
        .get_output()
        .clone();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("CHECK"), "{table}");
    assert!(table.contains("exec:pre-cluster-delete"), "{table}");
    assert!(!table.contains("FAIL"), "{table}");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("passed all 11 checks"), "{summary}");

    let out = env
        .kplug()
        .args(["plugin", "validate", "nosuch"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no plugin named `nosuch`"));
}

#[test]
fn json_output_shape() {
    let env = TestEnv::new();
    let (code, report) = validate(&env, &example("kplug-hello"));
    assert_eq!(code, 0);
    let obj = report.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["checks", "ok", "path", "plugin"]);
    assert_eq!(report["plugin"], "hello");
    assert!(report["path"].as_str().unwrap().ends_with("/kplug-hello"));
    for c in report["checks"].as_array().unwrap() {
        let c = c.as_object().unwrap();
        let mut keys: Vec<&str> = c.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["detail", "name", "ok"]);
        assert!(c["name"].is_string() && c["ok"].is_boolean() && c["detail"].is_string());
    }
}

// ---------------------------------------------------------------------------
// Seeded defects: each fails exactly its own check.

/// The parts of a fixture plugin that a defect changes.
struct Fixture {
    /// Shell lines run before INFO prints its document.
    info_prelude: &'static str,
    /// The INFO document (`$$` expands: the heredoc is unquoted).
    info: &'static str,
    /// What EXEC prints for post-cluster-create.
    result: &'static str,
    /// What EXEC does with an event it does not handle.
    unknown: &'static str,
}

const GOOD: Fixture = Fixture {
    info_prelude: "",
    info: "protocols: [1]\nname: fix\nversion: 1.0.0\nhooks:\n  - event: post-cluster-create",
    result: r#"{"messages":["ok"]}"#,
    unknown: r#"echo '{"code":4,"msg":"unknown event"}'; exit 1"#,
};

fn fixture(env: &TestEnv, f: &Fixture) -> PathBuf {
    let script = format!(
        r#"#!/bin/sh
case "${{KPLUG_COMMAND:-RUN}}" in
INFO)
{prelude}
cat <<EOF
{info}
EOF
;;
EXEC)
cat >/dev/null
case "$KPLUG_EVENT" in
post-cluster-create) echo '{result}' ;;
*) {unknown} ;;
esac
;;
*) echo "fix says hi" ;;
esac
"#,
        prelude = f.info_prelude,
        info = f.info,
        result = f.result,
        unknown = f.unknown,
    );
    write_exec(&env.dir("fixtures").join("kplug-fix"), &script)
}

/// Validate a fixture and check that exactly `expected` failed.
fn seeded(env: &TestEnv, f: &Fixture, expected: &str) -> Value {
    let exe = fixture(env, f);
    let (code, report) = validate(env, &exe);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);
    assert_eq!(failed(&report), [expected], "{report:#}");
    check(&report, expected).clone()
}

#[test]
fn the_good_fixture_passes() {
    let env = TestEnv::new();
    let (code, report) = validate(&env, &fixture(&env, &GOOD));
    assert_passes(code, &report);
    assert_eq!(names(&report), CHECKS);
}

#[test]
fn defect_info_writes_a_file() {
    let env = TestEnv::new();
    let c = seeded(
        &env,
        &Fixture {
            info_prelude: r#"echo seen > "$HOME/.fix-was-here"; mkdir -p state && touch state/x"#,
            ..GOOD
        },
        "info-side-effects",
    );
    let detail = c["detail"].as_str().unwrap();
    assert!(detail.contains("$HOME/.fix-was-here"), "{detail}");
    assert!(detail.contains("./state"), "{detail}");
    // Nothing leaked into the real HOME of the run.
    assert!(!env.root.path().join(".fix-was-here").exists());
}

#[test]
fn defect_info_differs_between_runs() {
    let env = TestEnv::new();
    let c = seeded(
        &env,
        &Fixture {
            info: "protocols: [1]\nname: fix\nversion: 1.0.0\ndescription: process $$\nhooks:\n  - event: post-cluster-create",
            ..GOOD
        },
        "info-stable",
    );
    assert!(c["detail"].as_str().unwrap().contains("line 4"), "{c:#}");
}

#[test]
fn defect_info_too_slow() {
    let env = TestEnv::new();
    env.config_file("timeouts:\n  info: 1s\n");
    let c = seeded(
        &env,
        &Fixture {
            info_prelude: "sleep 1.3",
            ..GOOD
        },
        "info-time",
    );
    let detail = c["detail"].as_str().unwrap();
    assert!(detail.contains("the limit is 1s"), "{detail}");
}

#[test]
fn defect_malformed_result_json() {
    let env = TestEnv::new();
    let c = seeded(
        &env,
        &Fixture {
            result: r#"{"messages": ["ok""#,
            ..GOOD
        },
        "exec:post-cluster-create",
    );
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("not a valid result document"),
        "{c:#}"
    );
}

#[test]
fn defect_unknown_event_answered_with_success() {
    let env = TestEnv::new();
    let c = seeded(
        &env,
        &Fixture {
            unknown: "exit 0",
            ..GOOD
        },
        "unknown-event",
    );
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("pre-cluster-explode"),
        "{c:#}"
    );
}

#[test]
fn defect_missing_name() {
    let env = TestEnv::new();
    let c = seeded(
        &env,
        &Fixture {
            info: "protocols: [1]\nversion: 1.0.0\nhooks:\n  - event: post-cluster-create",
            ..GOOD
        },
        "info-name-version",
    );
    assert!(
        c["detail"].as_str().unwrap().contains("`name`: is missing"),
        "{c:#}"
    );
}

#[test]
fn defect_unsupported_protocol() {
    let env = TestEnv::new();
    let c = seeded(
        &env,
        &Fixture {
            info: "protocols: [99]\nname: fix\nversion: 1.0.0\nhooks:\n  - event: post-cluster-create",
            ..GOOD
        },
        "info-protocol",
    );
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("no protocol in common"),
        "{c:#}"
    );
}

#[test]
fn a_name_that_differs_from_the_file_fails_the_name_check() {
    let env = TestEnv::new();
    let c = seeded(
        &env,
        &Fixture {
            info: "protocols: [1]\nname: other\nversion: 1.0.0\nhooks:\n  - event: post-cluster-create",
            ..GOOD
        },
        "info-name-version",
    );
    assert!(c["detail"].as_str().unwrap().contains("kplug-fix"), "{c:#}");
}

#[test]
fn a_hung_run_is_stopped() {
    let env = TestEnv::new();
    env.config_file("timeouts:\n  info: 1s\n");
    // Run without KPLUG_COMMAND, this fixture never ends.
    let exe = write_exec(
        &env.dir("fixtures").join("kplug-fix"),
        &format!(
            "#!/bin/sh\nif [ -z \"$KPLUG_COMMAND\" ]; then sleep 60; exit 0; fi\ncase \"$KPLUG_COMMAND\" in\nINFO) cat <<'EOF'\n{}\nEOF\n;;\nEXEC) cat >/dev/null; case \"$KPLUG_EVENT\" in post-cluster-create) ;; *) echo '{{\"code\":4,\"msg\":\"no\"}}'; exit 1;; esac;;\nesac\n",
            GOOD.info
        ),
    );
    let start = std::time::Instant::now();
    let (code, report) = validate(&env, &exe);
    assert_eq!(
        (code, failed(&report)),
        (1, vec!["run".to_string()]),
        "{report:#}"
    );
    assert!(
        check(&report, "run")["detail"]
            .as_str()
            .unwrap()
            .contains("did not exit within 1s")
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
fn a_hung_info_is_stopped_once_and_the_rest_still_runs() {
    let env = TestEnv::new();
    env.config_file("timeouts:\n  info: 1s\n");
    let start = std::time::Instant::now();
    let c = {
        let exe = fixture(
            &env,
            &Fixture {
                info_prelude: "sleep 60",
                ..GOOD
            },
        );
        let (code, report) = validate(&env, &exe);
        assert_eq!(code, 1);
        report
    };
    // INFO is given three times its limit, once, then stopped.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(12),
        "{:?}",
        start.elapsed()
    );
    assert!(
        check(&c, "info-time")["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer within 3s"),
        "{c:#}"
    );
    // Without a document nothing can be said about its contents, but the
    // checks that need none still pass.
    assert_eq!(check(&c, "unknown-event")["ok"], true, "{c:#}");
    assert_eq!(check(&c, "run")["ok"], true, "{c:#}");
    assert_eq!(check(&c, "exec")["ok"], false, "{c:#}");
}

#[test]
fn a_file_not_named_kplug_takes_the_name_from_info() {
    let env = TestEnv::new();
    let script = std::fs::read_to_string(example("kplug-hello")).unwrap();
    let exe = write_exec(&env.dir("elsewhere").join("hello.sh"), &script);
    let (code, report) = validate(&env, &exe);
    assert_passes(code, &report);
    assert_eq!(report["plugin"], "hello");
}

#[test]
fn validating_a_scaffold_directory_points_at_its_executable() {
    let env = TestEnv::new();
    let dir = scaffold(&env, "hello3", "bash");
    env.kplug()
        .args(["plugin", "validate"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is a directory"))
        .stderr(predicates::str::contains(format!(
            "kplug plugin validate {}",
            dir.join("kplug-hello3").display()
        )));
}
