//! What scopes and `kplug plugin sync` cost, against baselines measured in
//! the same run. `cargo bench --bench sync` (a minute or two on two cores).
//!
//! 1. **Dispatch with scopes.** `kplug bench` (a trivial C plugin in the
//!    store) with a 50-context kubeconfig whose current context names
//!    cluster `dev`, 20 plugins scoped to `dev`, the dispatched one among
//!    them, against the same dispatch with neither kubeconfig nor scopes.
//!    Target: at most 1.05×. Also measured: the same store with the plugin
//!    scoped to a project, run six directories deep inside it; and, when
//!    `KPLUG_BASELINE_BIN` names a kplug built before scopes existed, that
//!    kplug's dispatch (today's, exactly) as a second baseline.
//! 2. **A sync with nothing to do.** `kplug plugin sync` with 20 plugins a
//!    (simulated) cluster recommends, all already current, against
//!    `kplug plugin list` on the same store. Target: at most 2×.
//! 3. **A sync that installs.** 8 recommended plugins of 5 MiB each from a
//!    loopback GitHub, fresh `KPLUG_HOME` each round, against installing
//!    the same 8 one by one with `kplug plugin install`. Target: at most
//!    0.6×.
//!
//! Variants are interleaved with their baselines; medians with p10–p90.

mod common;

#[allow(dead_code)]
#[path = "../tests/it/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../tests/it/archives.rs"]
mod archives;

use common::{median, pseudo_random, report};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KPLUG: &str = env!("CARGO_BIN_EXE_kplug");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fixtures");
const DISPATCH_ROUNDS: usize = 2000;
const LIST_ROUNDS: usize = 40;
const INSTALL_ROUNDS: usize = 5;

fn kplug(home: &Path, root: &Path) -> Command {
    kplug_bin(KPLUG.as_ref(), home, root)
}

fn kplug_bin(bin: &Path, home: &Path, root: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("HOME", root)
        .env("KPLUG_HOME", home)
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("PATH", "/usr/bin:/bin")
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn run(mut c: Command) -> Duration {
    let t = Instant::now();
    let status = c.status().expect("kplug runs");
    let d = t.elapsed();
    assert!(status.success(), "{c:?} failed");
    d
}

fn compile_plugin(out: &Path) {
    let ok = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(out)
        .arg(Path::new(FIXTURES).join("plugin.c"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this bench needs a C compiler (cc) for its trivial plugin"
    );
}

/// A store entry laid out as the installer does: `versions`, `current`,
/// and optionally a scope link to the last version.
fn store_entry(home: &Path, name: &str, exe: &Path, versions: &[&str], scope: Option<&str>) {
    let dir = home.join("plugins").join(name);
    for v in versions {
        std::fs::create_dir_all(dir.join(v)).unwrap();
        std::fs::copy(exe, dir.join(v).join(format!("kplug-{name}"))).unwrap();
    }
    std::os::unix::fs::symlink(versions[0], dir.join("current")).unwrap();
    if let Some(key) = scope {
        let link = dir.join("scopes").join(key);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let last = versions[versions.len() - 1];
        std::os::unix::fs::symlink(format!("../../{last}"), link).unwrap();
    }
}

fn kubeconfig(contexts: usize, current: &str) -> String {
    let mut s = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for i in 0..contexts {
        s.push_str(&format!(
            "- name: c{i}\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\n",
            6000 + i,
            "QUJD".repeat(300)
        ));
    }
    s.push_str("contexts:\n");
    for i in 0..contexts {
        let name = if i == 0 {
            current.to_string()
        } else {
            format!("k3d-c{i}")
        };
        s.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: c{i}\n    user: u{i}\n"
        ));
    }
    s.push_str("users:\n");
    for i in 0..contexts {
        s.push_str(&format!("- name: u{i}\n  user:\n    token: t{i}\n"));
    }
    s.push_str(&format!("current-context: {current}\n"));
    s
}

fn dispatch(root: &Path) -> (f64, Duration) {
    let exe = root.join("kplug-bench.bin");
    compile_plugin(&exe);
    // Baseline: today's dispatch, no kubeconfig, no scopes.
    let plain_root = root.join("plain");
    let plain = plain_root.join("home");
    std::fs::create_dir_all(&plain).unwrap();
    store_entry(&plain, "bench", &exe, &["1.0.0"], None);
    // Scoped: 50 contexts, 20 plugins scoped to `dev`, `bench` one of them.
    let scoped_root = root.join("scoped");
    let scoped = scoped_root.join("home");
    std::fs::create_dir_all(scoped_root.join(".kube")).unwrap();
    std::fs::write(scoped_root.join(".kube/config"), kubeconfig(50, "k3d-dev")).unwrap();
    store_entry(
        &scoped,
        "bench",
        &exe,
        &["1.0.0", "2.0.0"],
        Some("cluster/dev"),
    );
    for i in 0..19 {
        store_entry(
            &scoped,
            &format!("p{i}"),
            &exe,
            &["1.0.0", "2.0.0"],
            Some("cluster/dev"),
        );
    }
    // Project: `bench` and 19 others scoped to a project, run from six
    // directories inside it.
    let project_root = root.join("project");
    let project_home = project_root.join("home");
    let project_dir = project_root.join("app");
    let deep = project_dir.join("a/b/c/d/e/f");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(project_dir.join("kplug.yaml"), "plugins: {}\n").unwrap();
    let key = {
        use sha2::Digest;
        use std::os::unix::ffi::OsStrExt;
        let digest = sha2::Sha256::digest(project_dir.as_os_str().as_bytes());
        format!(
            "project/{}",
            digest[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    store_entry(
        &project_home,
        "bench",
        &exe,
        &["1.0.0", "2.0.0"],
        Some(&key),
    );
    for i in 0..19 {
        store_entry(
            &project_home,
            &format!("p{i}"),
            &exe,
            &["1.0.0", "2.0.0"],
            Some(&key),
        );
    }
    #[allow(clippy::disallowed_methods, reason = "the bench's own setting")]
    let old = std::env::var_os("KPLUG_BASELINE_BIN").map(PathBuf::from);
    let dispatch_with = |bin: &Path, cwd: &Path, root: &Path, home: &Path| {
        let mut c = kplug_bin(bin, home, root);
        c.arg("bench").current_dir(cwd);
        c
    };
    let dispatch_in = |root: &Path, home: &Path| dispatch_with(KPLUG.as_ref(), root, root, home);
    // Warm up: the kubeconfig cache is written by the first run.
    for _ in 0..5 {
        run(dispatch_in(&plain_root, &plain));
        run(dispatch_in(&scoped_root, &scoped));
    }
    assert!(
        std::fs::read_link(scoped.join("cache/kubeconfig")).is_ok(),
        "the kubeconfig cache"
    );
    let project_run = || dispatch_with(KPLUG.as_ref(), &deep, &project_root, &project_home);
    run(project_run());
    // Each variant runs the version it claims to.
    for (cwd, root, home, want) in [
        (&deep, &project_root, &project_home, "/2.0.0/"),
        (&scoped_root, &scoped_root, &scoped, "/2.0.0/"),
        (&plain_root, &plain_root, &plain, "/1.0.0/"),
    ] {
        let out = kplug(home, root)
            .args(["plugin", "list", "--scope", "active", "-o", "json"])
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let path = list
            .as_array()
            .and_then(|l| l.iter().find(|p| p["name"] == "bench"))
            .and_then(|p| p["path"].as_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            path.contains(want),
            "{} runs {path}, not {want}",
            cwd.display()
        );
    }
    let (mut base, mut with, mut proj, mut before) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Rotating order: no variant always runs first.
    for i in 0..DISPATCH_ROUNDS {
        let mut order: Vec<u8> = vec![0, 1, 2, 3];
        order.rotate_left(i % 4);
        for v in order {
            match v {
                0 => base.push(run(dispatch_in(&plain_root, &plain))),
                1 => with.push(run(dispatch_in(&scoped_root, &scoped))),
                2 => proj.push(run(project_run())),
                _ => {
                    if let Some(old) = &old {
                        before.push(run(dispatch_with(old, &plain_root, &plain_root, &plain)));
                    }
                }
            }
        }
    }
    println!("dispatch of a trivial store plugin, {DISPATCH_ROUNDS} rounds (medians, p10–p90)");
    let b = median(&mut base.clone());
    report("baseline: no kubeconfig, no scoped plugins", &mut base, b);
    if !before.is_empty() {
        report(
            "kplug before scopes (KPLUG_BASELINE_BIN), same store",
            &mut before,
            b,
        );
    }
    report(
        "20 plugins scoped to a project, run 6 levels deep",
        &mut proj,
        b,
    );
    let mut r = report(
        "50-context kubeconfig, 20 plugins scoped to it",
        &mut with,
        b,
    );
    if !before.is_empty() {
        // Against today's dispatch exactly, when that binary is given.
        let old = median(&mut before.clone());
        r = median(&mut with.clone()).as_secs_f64() / old.as_secs_f64();
        let p = median(&mut proj.clone()).as_secs_f64() / old.as_secs_f64();
        println!("  against kplug before scopes: cluster-scoped {r:.3}×, project-scoped {p:.3}×");
    }
    println!(
        "target ≤ 1.05×: {} ({r:.3}×)\n",
        if r <= 1.05 { "PASS" } else { "over" }
    );
    (r, b)
}

/// A release of `kplug-<name>` 1.0.0 padded with `pad` bytes of noise.
fn padded_release(name: &str, pad: usize, seed: u64) -> server::FakeRelease {
    let script = archives::plugin_script(name, "1.0.0", "");
    let noise = pseudo_random(pad, seed);
    let path = format!("kplug-{name}");
    let mut entries = vec![archives::Entry {
        path: &path,
        body: script.as_bytes(),
        mode: 0o755,
    }];
    if pad > 0 {
        entries.push(archives::Entry {
            path: "data.bin",
            body: &noise,
            mode: 0o644,
        });
    }
    archives::release_with(name, "1.0.0", archives::tar_gz(&entries), true)
}

fn recommend_args(names: &[String]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| {
            [
                "--recommend".to_string(),
                format!("{n}@1.0.0=acme/kplug-{n}"),
            ]
        })
        .collect()
}

fn idle_sync(root: &Path) {
    let gh = server::FakeGitHub::start();
    let names: Vec<String> = (0..20).map(|i| format!("rec{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        gh.publish(&format!("acme/kplug-{n}"), padded_release(n, 0, i as u64));
    }
    let dir = root.join("idle");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut create = kplug(&home, &dir);
    create
        .env("KPLUG_GITHUB_API_URL", gh.url())
        .args(["cluster", "create", "dev", "--engine", "sim"])
        .args(recommend_args(&names));
    run(create);
    assert_eq!(
        std::fs::read_dir(home.join("plugins")).unwrap().count(),
        20,
        "the cluster's plugins were synced"
    );
    let requests = gh.server.requests().len();
    let sync = || {
        let mut c = kplug(&home, &dir);
        c.env("KPLUG_GITHUB_API_URL", gh.url())
            .args(["plugin", "sync"]);
        c
    };
    let list = || {
        let mut c = kplug(&home, &dir);
        c.args(["plugin", "list"]);
        c
    };
    for _ in 0..3 {
        run(sync());
        run(list());
    }
    let (mut base, mut with) = (Vec::new(), Vec::new());
    for _ in 0..LIST_ROUNDS {
        base.push(run(list()));
        with.push(run(sync()));
    }
    println!("a sync with 20 recommended plugins, all current, {LIST_ROUNDS} rounds");
    let b = median(&mut base.clone());
    report("baseline: kplug plugin list (same store)", &mut base, b);
    let r = report("kplug plugin sync (nothing to do)", &mut with, b);
    let asked = gh.server.requests().len() - requests;
    println!(
        "target ≤ 2×: {} ({r:.2}×); requests to the source during the idle syncs: {asked}\n",
        if r <= 2.0 { "PASS" } else { "over" }
    );
}

fn installing_sync(root: &Path) {
    let gh = server::FakeGitHub::start();
    let names: Vec<String> = (0..8).map(|i| format!("big{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        gh.publish(
            &format!("acme/kplug-{n}"),
            padded_release(n, 5 * 1024 * 1024, 100 + i as u64),
        );
    }
    let mut one_by_one = Vec::new();
    let mut synced = Vec::new();
    for round in 0..INSTALL_ROUNDS {
        // Baseline: eight installs, one after the other.
        let dir = root.join(format!("seq{round}"));
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let t = Instant::now();
        for n in &names {
            let mut c = kplug(&home, &dir);
            c.env("KPLUG_GITHUB_API_URL", gh.url()).args([
                "plugin",
                "install",
                &format!("acme/kplug-{n}@v1.0.0"),
            ]);
            run(c);
        }
        one_by_one.push(t.elapsed());
        // Sync: the cluster exists (created without syncing), then one sync.
        let dir = root.join(format!("sync{round}"));
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut create = kplug(&home, &dir);
        create
            .args(["cluster", "create", "dev", "--engine", "sim", "--no-sync"])
            .args(recommend_args(&names));
        run(create);
        let mut sync = kplug(&home, &dir);
        sync.env("KPLUG_GITHUB_API_URL", gh.url())
            .args(["plugin", "sync", "--jobs", "8"]);
        synced.push(run(sync));
        assert_eq!(std::fs::read_dir(home.join("plugins")).unwrap().count(), 8);
        let _ = std::fs::remove_dir_all(root.join(format!("seq{round}")));
        let _ = std::fs::remove_dir_all(root.join(format!("sync{round}")));
    }
    println!("installing 8 recommended plugins of 5 MiB from loopback, {INSTALL_ROUNDS} rounds");
    let b = median(&mut one_by_one.clone());
    report(
        "baseline: 8 × kplug plugin install, one by one",
        &mut one_by_one,
        b,
    );
    let r = report("kplug plugin sync (8 at once)", &mut synced, b);
    println!(
        "target ≤ 0.6×: {} ({r:.2}×)",
        if r <= 0.6 { "PASS" } else { "over" }
    );
}

fn main() {
    let started = Instant::now();
    let root = tempfile::tempdir().expect("temp dir");
    let root: PathBuf = root.path().to_path_buf();
    std::fs::create_dir_all(root.join("config/kplug")).unwrap();
    dispatch(&root);
    idle_sync(&root);
    installing_sync(&root);
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
}
