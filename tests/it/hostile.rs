//! Hostile input: release metadata, store files, documents and signals
//! that try to make kplug write outside its store, hang, panic, drive the
//! terminal or leak a secret. Each test names the class of attack it pins.

use crate::archives::{platform, plugin_script, release};
use crate::server::{FakeGitHub, Reply, Server};
use crate::support::{TestEnv, process_ends, write_exec};
use predicates::prelude::*;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::Duration;

const REPO: &str = "acme/kplug-demo";

fn setup() -> (TestEnv, FakeGitHub) {
    let env = TestEnv::new();
    env.config_file("network:\n  connectTimeout: 2s\n  readTimeout: 2s\n  attempts: 1\n");
    (env, FakeGitHub::start())
}

fn kplug(env: &TestEnv, gh: &FakeGitHub) -> assert_cmd::Command {
    let mut cmd = env.kplug();
    cmd.env("KPLUG_GITHUB_API_URL", gh.url());
    cmd
}

/// Every file under `dir`, relative (to prove nothing appeared there).
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

/// Serve the release list of REPO with the real asset URLs but these asset
/// names and digests, as a hostile server would.
fn rename_assets(
    gh: &FakeGitHub,
    rename: impl Fn(&str) -> (String, Option<String>) + Send + Sync + 'static,
) {
    let base = gh.url();
    let real = format!("kplug-demo_1.0.0_{}.tar.gz", platform());
    gh.faults.lock().unwrap().override_api = Some(Box::new(move |req| {
        if !req.path.starts_with(&format!("/repos/{REPO}/releases")) {
            return None;
        }
        let (name, digest) = rename(&real);
        let mut asset = serde_json::json!({
            "name": name,
            "size": 1,
            "url": format!("{base}/dl/{REPO}/v1.0.0/{real}"),
            "browser_download_url": format!("{base}/dl/{REPO}/v1.0.0/{real}"),
        });
        if let Some(d) = digest {
            asset["digest"] = d.into();
        }
        let rel = serde_json::json!({"tag_name": "v1.0.0", "assets": [asset]});
        let body = if req.path.contains("/tags/") {
            rel.to_string()
        } else {
            serde_json::json!([rel]).to_string()
        };
        Some(Reply::json(200, body))
    }));
}

#[test]
fn asset_names_from_a_server_never_become_paths() {
    for hostile in ["../../../.ssh/", "/tmp/kplug-hostile-abs/", "sub/../../"] {
        let (env, gh) = setup();
        gh.publish(REPO, release("demo", "1.0.0"));
        let prefix = hostile.to_string();
        rename_assets(&gh, move |real| (format!("{prefix}{real}"), None));
        let before = files_under(env.root.path());
        let out = kplug(&env, &gh)
            .args(["plugin", "install", REPO])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        // Whatever the outcome, the only new files are kplug's own.
        let new: Vec<String> = files_under(env.root.path())
            .into_iter()
            .filter(|f| !before.contains(f))
            .filter(|f| !f.starts_with("kplug-home"))
            .collect();
        assert!(
            new.is_empty(),
            "{hostile}: written outside the store: {new:?}\n{stderr}"
        );
        assert!(!std::path::Path::new("/tmp/kplug-hostile-abs").exists());
        assert!(!env.root.path().join(".ssh").exists());
        // If it installed, it is the plugin, in the store.
        if out.status.success() {
            assert!(env.home.join("plugins/demo/1.0.0/kplug-demo").is_file());
        }
    }
}

#[test]
fn control_characters_in_asset_names_are_shown_escaped() {
    let (env, gh) = setup();
    gh.publish(REPO, release("demo", "1.0.0"));
    rename_assets(&gh, |_| {
        ("evil\u{1b}[2J\nerror: forged_linux_s390x.zip".into(), None)
    });
    let out = kplug(&env, &gh)
        .args(["plugin", "install", REPO])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(stderr.contains("\\x1b[2J\\nerror: forged"), "{stderr}");
    assert!(
        !stderr.lines().any(|l| l.starts_with("error: forged")),
        "{stderr}"
    );
}

#[test]
fn a_present_but_unusable_digest_refuses_instead_of_counting_as_none() {
    for digest in [
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "SHA256:0000000000000000000000000000000000000000000000000000000000000000",
        "sha256:xyz",
        "sha256:00",
    ] {
        let (env, gh) = setup();
        gh.publish(REPO, release("demo", "1.0.0"));
        let d = digest.to_string();
        rename_assets(&gh, move |real| (real.to_string(), Some(d.clone())));
        kplug(&env, &gh)
            .args(["plugin", "install", REPO])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("unusable"))
            .stderr(predicate::str::contains("refusing it"));
        assert!(!env.home.join("plugins/demo").exists(), "{digest}");
    }
}

#[test]
fn an_endless_api_response_is_cut_off() {
    let (env, gh) = setup();
    // 17 MiB of a JSON array that never closes.
    let mut body = b"[".to_vec();
    body.resize(17 * 1024 * 1024, b' ');
    gh.faults.lock().unwrap().override_api = Some(Box::new(move |req| {
        req.path
            .starts_with("/repos/")
            .then(|| Reply::json(200, String::from_utf8(body.clone()).unwrap()))
    }));
    kplug(&env, &gh)
        .args(["plugin", "install", REPO])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the response is larger than"));
}

#[test]
fn receipt_fields_never_name_paths_outside_the_store() {
    let env = TestEnv::new();
    env.store_plugin("demo", "1.0.0", &crate::support::info("demo"), "echo demo");
    let victim = env.dir("victim");
    std::fs::write(victim.join("keep"), "precious").unwrap();
    let receipt = "name: demo\nversions:\n- version: 1.0.0\n  source: acme/kplug-demo\n  asset: a\n  sha256: ../../../victim\n  verifiedBy: none\n  installed: t\n";
    std::fs::write(env.home.join("plugins/demo/receipt.yaml"), receipt).unwrap();
    env.kplug()
        .args(["plugin", "remove", "demo", "--all", "--no-hooks"])
        .assert()
        .success()
        .stderr(predicate::str::contains("is corrupt"));
    assert_eq!(
        std::fs::read_to_string(victim.join("keep")).unwrap(),
        "precious"
    );
    assert!(!env.home.join("plugins/demo").exists());

    // A version argument is a version, never a path.
    env.store_plugin("demo", "1.0.0", &crate::support::info("demo"), "echo demo");
    let outside = env.dir("elsewhere");
    write_exec(
        &outside.join("kplug-demo"),
        &plugin_script("demo", "6.6.6", ""),
    );
    env.kplug()
        .args(["plugin", "use", "demo", "../../elsewhere"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a version"));
    assert_eq!(
        std::fs::read_link(env.home.join("plugins/demo/current")).unwrap(),
        std::path::Path::new("1.0.0")
    );
}

#[test]
fn a_current_link_out_of_the_store_runs_nothing_and_says_why() {
    let env = TestEnv::new();
    env.store_plugin("demo", "1.0.0", &crate::support::info("demo"), "echo demo");
    let outside = env.dir("elsewhere");
    write_exec(&outside.join("kplug-demo"), "#!/bin/sh\necho ran-outside\n");
    let link = env.home.join("plugins/demo/current");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../../../elsewhere", &link).unwrap();
    env.kplug()
        .arg("demo")
        .assert()
        .code(2)
        .stdout(predicate::str::contains("ran-outside").not())
        .stderr(predicate::str::contains("its entry is broken"))
        .stderr(predicate::str::contains("not a version of the plugin"));
    // A dangling one says so too.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("9.9.9", &link).unwrap();
    env.kplug()
        .arg("demo")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("whose directory is missing"));
}

#[test]
fn a_deeply_nested_info_document_is_refused_quickly() {
    let env = TestEnv::new();
    let doc = format!(
        "protocols: [1]\nname: deep\nversion: 1.0.0\nhooks: {}{}\n",
        "[".repeat(400_000),
        "]".repeat(400_000)
    );
    let body = format!("#!/bin/sh\ncat <<'EOF'\n{doc}\nEOF\n");
    write_exec(&env.bin.join("kplug-deep"), &body);
    env.kplug()
        .args(["plugin", "list", "-o", "json"])
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicate::str::contains("more than 64 deep"));
}

#[test]
fn state_files_that_are_not_files_neither_hang_nor_exhaust_memory() {
    let env = TestEnv::new();
    env.plugin("hello", &crate::support::info("hello"), "echo hi");
    let cache = env.home.join("cache/info.json");
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    let c = std::ffi::CString::new(cache.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    env.kplug()
        .args(["plugin", "list"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success()
        .stdout(predicate::str::contains("hello"));
    let _ = std::fs::remove_file(&cache);
    std::os::unix::fs::symlink("/dev/zero", &cache).unwrap();
    env.kplug()
        .args(["plugin", "list"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success()
        .stdout(predicate::str::contains("hello"));
    // The journal, too.
    let journal = env.home.join("state/journal.jsonl");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &journal).unwrap();
    env.kplug()
        .args(["hooks", "log"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a regular file"));
}

#[test]
fn an_enormous_duration_in_the_config_is_an_error_not_a_panic() {
    let env = TestEnv::new();
    env.config_file("timeouts:\n  post: 18446744073709551615h\n");
    env.kplug()
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("longer than a week"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn plugin_supplied_text_cannot_drive_the_terminal() {
    let env = TestEnv::new();
    let info = "protocols: [1]\nname: evil\nversion: 1.0.0\ndescription: \"clear\\e[2J\\nevil  9.9.9  valid  forged\"\nhooks:\n  - event: post-cluster-create\n";
    env.plugin(
        "evil",
        info,
        "cat >/dev/null; printf '{\"messages\":[\"\\\\u001b]0;owned\\\\u0007 done\"]}'",
    );
    let out = env.kplug().args(["plugin", "list"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("evil")).count(),
        1,
        "a description forged a row: {stdout}"
    );
    let out = env
        .kplug()
        .args(["plugin", "info", "evil"])
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(info.contains("clear\\x1b[2J\\nevil"), "{info}");
    assert!(!info.contains('\u{1b}'), "{info:?}");
    let out = env
        .kplug()
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[evil] \\x1b]0;owned\\x07 done"),
        "{stderr:?}"
    );
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
}

#[test]
fn credentials_in_urls_never_reach_a_message() {
    let env = TestEnv::new();
    env.config_file("network:\n  connectTimeout: 1s\n  attempts: 1\n");
    // Nothing listens on port 1.
    env.kplug()
        .env(
            "KPLUG_GITHUB_API_URL",
            "http://user:s3cret-token@127.0.0.1:1/api/",
        )
        .args(["plugin", "install", REPO])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("s3cret").not())
        .stderr(predicate::str::contains(
            "could not connect to http://127.0.0.1:1",
        ));
    let out = env
        .kplug()
        .args([
            "plugin",
            "install",
            "http://127.0.0.1:1/x.tar.gz?X-Signature=s3cret",
            "--sha256",
            &"0".repeat(64),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(
        stderr.contains("could not connect to http://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    // The hint for a URL does not suggest `--offline`, which cannot help.
    assert!(!stderr.contains("--offline"), "{stderr}");
}

/// Hold `path`'s flock in this process until the returned file is dropped.
fn hold_lock(path: &std::path::Path) -> std::fs::File {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    // SAFETY: flock on an open descriptor.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    f
}

/// Start kplug, wait until its stderr says it waits, send `signal`, and
/// return its exit code and stderr.
fn interrupt_a_wait(
    env: &TestEnv,
    args: &[&str],
    waiting: &str,
    signal: i32,
) -> (Option<i32>, String) {
    let mut child = env
        .kplug_process()
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("kplug ended before waiting: {seen}");
        }
        seen.push_str(&line);
        if line.contains(waiting) {
            break;
        }
    }
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    (status.code(), seen + &rest)
}

#[test]
fn ctrl_c_while_waiting_for_the_store_lock_aborts() {
    let env = TestEnv::new();
    let dir = env.dir("plugin-dir");
    write_exec(&dir.join("kplug-demo"), &plugin_script("demo", "1.0.0", ""));
    let _held = hold_lock(&env.home.join(".lock"));
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let (code, stderr) = interrupt_a_wait(
            &env,
            &["plugin", "install", dir.to_str().unwrap()],
            "waiting for another kplug",
            signal,
        );
        assert_eq!(code, Some(130), "{stderr}");
        assert!(
            stderr.contains("interrupted while waiting for the plugin store's lock"),
            "{stderr}"
        );
        assert!(
            !env.home.join("plugins/demo").exists(),
            "installed after the interrupt"
        );
    }
    // Control: with the lock free, the same install works.
    drop(_held);
    env.kplug()
        .args(["plugin", "install", dir.to_str().unwrap()])
        .assert()
        .success();
}

#[test]
fn ctrl_c_while_waiting_for_a_cluster_lock_deletes_nothing() {
    let env = TestEnv::new();
    env.sim_create("dev").assert().success();
    let held = hold_lock(&env.home.join("state/locks/dev.lock"));
    let (code, stderr) = interrupt_a_wait(
        &env,
        &["cluster", "delete", "dev"],
        "another kplug is working on cluster `dev`",
        libc::SIGINT,
    );
    assert_eq!(code, Some(130), "{stderr}");
    drop(held);
    env.kplug()
        .args(["cluster", "get", "dev"])
        .assert()
        .success();
}

#[test]
fn hooks_die_with_a_killed_kplug() {
    let env = TestEnv::new();
    let pidfile = env.out.join("hook.pid");
    env.hook_plugin(
        "sleeper",
        "  - event: post-cluster-create",
        &format!("echo $$ > '{}'\nexec sleep 60", pidfile.display()),
    );
    let mut child = env
        .kplug_process()
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut tries = 0;
    while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
        tries += 1;
        assert!(tries < 200, "the hook never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let hook: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Control: the hook is running while kplug is.
    // SAFETY: signal 0 only checks that the process exists.
    assert_eq!(unsafe { libc::kill(hook, 0) }, 0, "the hook is not running");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(process_ends(hook), "the hook outlived kplug");
}

#[test]
fn invalid_cluster_names_are_usage_errors_shown_escaped() {
    let env = TestEnv::new();
    for cmd in [
        vec!["cluster", "create", "a\nerror: forged", "--engine", "sim"],
        vec!["cluster", "delete", "../x"],
        vec!["cluster", "get", "a\u{1b}[2J"],
    ] {
        let out = env.kplug().args(&cmd).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
        assert!(stderr.contains("invalid cluster name"), "{stderr}");
        assert!(
            !stderr.lines().any(|l| l.starts_with("error: forged")),
            "{stderr}"
        );
        assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    }
}

#[test]
fn a_stalled_server_fails_after_the_read_timeout() {
    let (env, _gh) = setup();
    let stall = Server::start("127.0.0.1", |_| Reply::Stall);
    let started = std::time::Instant::now();
    env.kplug()
        .env("KPLUG_GITHUB_API_URL", stall.url())
        .args(["plugin", "install", REPO])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("did not answer within 2s"));
    // Not a timing assertion on kplug: only that it gave up by itself long
    // before the stall (60 s) would have ended.
    assert!(started.elapsed() < Duration::from_secs(50));
}
