//! What `kplug self update` and a managed install cost, each against a
//! baseline in the same run.
//!
//! Run with `cargo bench --bench selfupdate` (this builds kplug in the bench
//! profile). Needs curl for the baseline.
//!
//! 1. **Update**: `kplug self update` of a ~10 MiB release (this bench's own
//!    kplug, stamped 0.2.0 in its version slot, plus padding in the
//!    archive) from a loopback fake GitHub, starting each round from a
//!    fresh plain-file install and a fresh `KPLUG_HOME`: resolve, download
//!    hashing, verify, unpack, smoke test, migrate the plain file, switch,
//!    and the health probe. Against `curl -s URL | tee >(sha256sum) | tar
//!    xz -C DIR && mv DIR/…/kplug PATH`. Target: ≤ 1.5×.
//! 2. **Dispatch through the link**: `kplug bench` (exec'ing a trivial C
//!    plugin) through a managed `kplug` — a symlink to
//!    `$KPLUG_HOME/self/current/kplug` — against the same binary run by its
//!    own path. Target: ≤ 1.02×.
//!
//! Rounds are interleaved; medians with p10–p90. Exit status is always 0.

mod common;

#[allow(dead_code)]
#[path = "../tests/it/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../tests/it/archives.rs"]
mod archives;

use common::{median, pseudo_random, report};
use server::{FakeAsset, FakeGitHub, FakeRelease};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const KPLUG: &str = env!("CARGO_BIN_EXE_kplug");
const BUILT: &str = env!("CARGO_PKG_VERSION");
const ROUNDS: usize = 9;
const DISPATCH_ROUNDS: usize = 600;

fn stamped(bin: &[u8], version: &str) -> Vec<u8> {
    let mut bin = bin.to_vec();
    let marker = format!("kplug-version-slot:{BUILT}");
    let at = bin
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("the version slot")
        + "kplug-version-slot:".len();
    for i in 0..(64 - "kplug-version-slot:".len()) {
        bin[at + i] = *version.as_bytes().get(i).unwrap_or(&0);
    }
    bin
}

fn write_exe(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn main() {
    let started = Instant::now();
    let root = tempfile::tempdir().expect("temp dir");
    let bin = std::fs::read(KPLUG).unwrap();
    let config = root.path().join("config");
    std::fs::create_dir_all(config.join("kplug")).unwrap();
    std::fs::write(
        config.join("kplug/config.yaml"),
        "self:\n  source: acme/kplug\n",
    )
    .unwrap();

    // The release: kplug 0.2.0 and padding up to ~10 MiB compressed.
    let new = stamped(&bin, "0.2.0");
    let pad = pseudo_random((10 * 1024 * 1024usize).saturating_sub(new.len() / 3), 7);
    let stem = format!("kplug_0.2.0_{}", archives::platform());
    let body = archives::tar_gz(&[
        archives::Entry {
            path: &format!("{stem}/kplug"),
            body: &new,
            mode: 0o755,
        },
        archives::Entry {
            path: &format!("{stem}/padding.bin"),
            body: &pad,
            mode: 0o644,
        },
    ]);
    let mib = body.len() as f64 / (1024.0 * 1024.0);
    let gh = FakeGitHub::start();
    let asset = format!("{stem}.tar.gz");
    gh.publish(
        "acme/kplug",
        FakeRelease {
            tag: "v0.2.0".into(),
            prerelease: false,
            assets: vec![FakeAsset {
                name: asset.clone(),
                body,
                digest: true,
            }],
        },
    );
    let url = format!("{}/dl/acme/kplug/v0.2.0/{asset}", gh.url());

    let mut n = 0usize;
    let mut fresh = || {
        n += 1;
        let d = root.path().join(format!("round-{n}"));
        std::fs::create_dir_all(d.join("bin")).unwrap();
        d
    };
    let update = |dir: &Path| -> Duration {
        let app = dir.join("bin/kplug");
        write_exe(&app, &bin);
        let start = Instant::now();
        let out = Command::new(&app)
            .args(["self", "update"])
            .env_clear()
            .env("HOME", dir)
            .env("KPLUG_HOME", dir.join("home"))
            .env("XDG_CONFIG_HOME", &config)
            .env("PATH", "/usr/bin:/bin")
            .env("KPLUG_GITHUB_API_URL", gh.url())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "self update: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            std::fs::symlink_metadata(&app)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        std::fs::remove_dir_all(dir).unwrap();
        took
    };
    let pipeline = format!(
        "curl -s '{url}' | tee >(sha256sum >/dev/null) | tar xz -C \"$OUT\" && mv \"$OUT/{stem}/kplug\" \"$OUT/bin/kplug\""
    );
    let baseline = |dir: &Path| -> Duration {
        let start = Instant::now();
        let status = Command::new("bash")
            .args(["-c", &pipeline])
            .env("OUT", dir)
            .status()
            .unwrap();
        let took = start.elapsed();
        assert!(status.success());
        assert!(dir.join("bin/kplug").is_file());
        std::fs::remove_dir_all(dir).unwrap();
        took
    };
    let has_curl = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (mut base, mut upd) = (Vec::new(), Vec::new());
    update(&fresh());
    for round in 0..ROUNDS {
        if has_curl && round % 2 == 0 {
            base.push(baseline(&fresh()));
        }
        upd.push(update(&fresh()));
        if has_curl && round % 2 == 1 {
            base.push(baseline(&fresh()));
        }
    }
    let downloads = gh.asset_requests.load(Ordering::SeqCst);

    // Dispatch: the same binary through a managed link and by its path.
    let plugin_dir = root.path().join("plugins");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let plugin = plugin_dir.join("kplug-bench");
    let cc = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&plugin)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/fixtures/plugin.c"
        ))
        .status()
        .is_ok_and(|s| s.success());
    if !cc {
        write_exe(&plugin, b"#!/bin/sh\nexit 0\n");
    }
    let home = root.path().join("managed");
    std::fs::create_dir_all(home.join("self/0.1.0")).unwrap();
    let plain = home.join("self/0.1.0/kplug");
    write_exe(&plain, &bin);
    std::os::unix::fs::symlink("0.1.0", home.join("self/current")).unwrap();
    let link = root.path().join("kplug-link");
    std::os::unix::fs::symlink(home.join("self/current/kplug"), &link).unwrap();
    let run = |exe: &Path| -> Duration {
        let start = Instant::now();
        let status = Command::new(exe)
            .arg("bench")
            .env_clear()
            .env("PATH", plugin_dir.to_str().unwrap())
            .env("KPLUG_HOME", &home)
            .status()
            .unwrap();
        let took = start.elapsed();
        assert!(status.success());
        took
    };
    let (mut direct, mut linked) = (Vec::new(), Vec::new());
    for i in 0..DISPATCH_ROUNDS + 20 {
        let (a, b) = if i % 2 == 0 {
            (run(&plain), run(&link))
        } else {
            let b = run(&link);
            (run(&plain), b)
        };
        if i >= 20 {
            direct.push(a);
            linked.push(b);
        }
    }

    println!(
        "kplug self update of a {mib:.1} MiB release from a loopback fake GitHub, {ROUNDS} rounds, fresh install and KPLUG_HOME each (medians, p10–p90)"
    );
    if has_curl {
        let b = median(&mut base);
        report(
            "baseline: curl | tee >(sha256sum) | tar xz && mv",
            &mut base,
            b,
        );
        let r = report("kplug self update (smoke test, health probe)", &mut upd, b);
        println!(
            "target ≤ 1.5×: {} ({r:.2}×); asset downloads: {downloads}",
            if r <= 1.5 { "PASS" } else { "over" }
        );
    } else {
        let u = median(&mut upd);
        report("kplug self update (no curl for the baseline)", &mut upd, u);
    }
    println!("\ndispatch of a trivial plugin, {DISPATCH_ROUNDS} rounds");
    let d = median(&mut direct);
    report("baseline: kplug by its own path", &mut direct, d);
    let r = report("kplug through the self/current link", &mut linked, d);
    println!(
        "target ≤ 1.02×: {} ({r:.3}×); total bench time {:.1} s",
        if r <= 1.02 { "PASS" } else { "over" },
        started.elapsed().as_secs_f64()
    );
}
