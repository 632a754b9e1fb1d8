//! What search and installs by name cost, each against a baseline in the
//! same run.
//!
//! Run with `cargo bench --bench sources` (this builds kplug in the bench
//! profile, i.e. with the release settings; the measurement itself takes
//! about a minute on two cores).
//!
//! 1. **`kplug plugin search`** over an inventory of 2,000 plugins × 5
//!    versions (one artifact each for this platform), served by a loopback
//!    server and already fetched (a fresh copy), against
//!    `grep -c name: inventory.yaml` on the same document (a floor for
//!    reading it at all). Target: a median of at most 20 ms. The same 2,000
//!    plugins split over 4 fresh sources (500 each) show that fresh sources
//!    cost no more than one: the server's request counter must not move
//!    during either.
//! 2. **Parallel install**: `kplug plugin install` of 8 plugins of 5 MiB
//!    each (incompressible data beside the executable) from the loopback
//!    server with `--jobs 8`, against the same 8 with `--jobs 1` (one after
//!    the other). Each round gets a fresh `KPLUG_HOME` with the sources'
//!    copies in it, so every round downloads all 8. Target: ≤ 0.6×.
//!
//! Rounds of a comparison are interleaved so machine noise hits both
//! alike; figures are medians with p10–p90. Exit status is always 0: this
//! is a measurement, not a test.

mod common;

#[allow(dead_code)]
#[path = "../tests/it/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../tests/it/archives.rs"]
mod archives;

use common::{median, ms, pseudo_random, report};
use server::{Reply, Request, Server, sha256_hex};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KPLUG: &str = env!("CARGO_BIN_EXE_kplug");
const PLUGINS: usize = 2000;
const VERSIONS: usize = 5;
const SEARCH_ROUNDS: usize = 30;
const INSTALL_ROUNDS: usize = 7;
const INSTALL_PLUGINS: usize = 8;
const DATA_BYTES: usize = 5 * 1024 * 1024;

type Files = Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>;

fn main() {
    let started = Instant::now();
    let files: Files = Arc::default();
    let f = files.clone();
    let server = Server::start("127.0.0.1", move |req: &Request| {
        let path = req.path.split('?').next().unwrap_or_default();
        match f.lock().unwrap().get(path) {
            Some(body) => Reply::bytes(body.to_vec()),
            None => Reply::status(404, &[]),
        }
    });
    let root = tempfile::tempdir().expect("temp dir");
    let (os, arch) = archives::platform().split_once('_').unwrap();

    // --- search -----------------------------------------------------------
    let inventory = |from: usize, to: usize| -> String {
        let mut doc = String::from("apiVersion: kplug.dev/v1\nkind: Inventory\nplugins:\n");
        for i in from..to {
            doc.push_str(&format!(
                "  tool-{i:04}:\n    description: Plugin number {i} of the team, for benchmarks\n    versions:\n"
            ));
            for v in (0..VERSIONS).rev() {
                doc.push_str(&format!(
                    "      - version: 1.{v}.0\n        requires: {{kplug: '>=0.1'}}\n        artifacts:\n          - {{os: {os}, arch: {arch}, url: https://example.com/kplug-tool-{i:04}_1.{v}.0_{os}_{arch}.tar.gz, sha256: {}, size: 1048576}}\n",
                    "ab".repeat(32)
                ));
            }
        }
        doc
    };
    let whole = inventory(0, PLUGINS);
    let whole_file = root.path().join("inventory.yaml");
    std::fs::write(&whole_file, &whole).unwrap();
    files
        .lock()
        .unwrap()
        .insert("/all.yaml".into(), Arc::new(whole.clone().into_bytes()));
    for q in 0..4 {
        let part = inventory(q * PLUGINS / 4, (q + 1) * PLUGINS / 4);
        files
            .lock()
            .unwrap()
            .insert(format!("/part-{q}.yaml"), Arc::new(part.into_bytes()));
    }
    let config = |dir: &Path, sources: &[(&str, String)]| {
        let mut yaml = String::from("sources:\n");
        for (name, url) in sources {
            yaml.push_str(&format!(
                "  - {{name: {name}, kind: index, address: {url}}}\n"
            ));
        }
        std::fs::create_dir_all(dir.join("kplug")).unwrap();
        std::fs::write(dir.join("kplug/config.yaml"), yaml).unwrap();
    };
    let env = |home: &Path, config: &Path| -> Vec<(OsString, OsString)> {
        vec![
            ("HOME".into(), root.path().into()),
            ("KPLUG_HOME".into(), home.into()),
            ("XDG_CONFIG_HOME".into(), config.into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
        ]
    };
    let one = (root.path().join("one-home"), root.path().join("one-config"));
    let four = (
        root.path().join("four-home"),
        root.path().join("four-config"),
    );
    config(&one.1, &[("team", format!("{}/all.yaml", server.url()))]);
    let parts: Vec<(String, String)> = (0..4)
        .map(|q| {
            (
                format!("part{q}"),
                format!("{}/part-{q}.yaml", server.url()),
            )
        })
        .collect();
    let parts: Vec<(&str, String)> = parts.iter().map(|(n, u)| (n.as_str(), u.clone())).collect();
    config(&four.1, &parts);
    let search = |(home, cfg): &(PathBuf, PathBuf)| -> Duration {
        let start = Instant::now();
        let out = Command::new(KPLUG)
            .args(["plugin", "search"])
            .env_clear()
            .envs(env(home, cfg))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("spawn kplug");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "search failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = out.stdout.iter().filter(|b| **b == b'\n').count();
        assert_eq!(
            rows,
            PLUGINS + 1,
            "one row per plugin and a header: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    let grep = || -> Duration {
        let start = Instant::now();
        let out = Command::new("grep")
            .args(["-c", "name:"])
            .arg(&whole_file)
            .stdout(Stdio::piped())
            .output()
            .expect("spawn grep");
        let took = start.elapsed();
        // Exit 1 is "no line matched" (plugins are keys here, not `name:`
        // fields); grep still read the whole file.
        assert!(matches!(out.status.code(), Some(0 | 1)), "grep failed");
        took
    };
    // Fetch the copies (untimed), then every timed search must ask nothing.
    search(&one);
    search(&four);
    let asked = server.requests().len();
    let (mut g, mut s1, mut s4) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        grep();
        search(&one);
        search(&four);
    }
    for _ in 0..SEARCH_ROUNDS {
        g.push(grep());
        s1.push(search(&one));
        s4.push(search(&four));
    }
    let fresh_requests = server.requests().len() - asked;

    // --- parallel install -------------------------------------------------
    let mut offers = String::from("apiVersion: kplug.dev/v1\nkind: Inventory\nplugins:\n");
    for i in 0..INSTALL_PLUGINS {
        let name = format!("big{i}");
        let script = archives::plugin_script(&name, "1.0.0", "");
        let data = pseudo_random(DATA_BYTES, i as u64 + 1);
        let body = archives::tar_gz(&[
            archives::Entry {
                path: &format!("kplug-{name}"),
                body: script.as_bytes(),
                mode: 0o755,
            },
            archives::Entry {
                path: "data.bin",
                body: &data,
                mode: 0o644,
            },
        ]);
        let file = format!("kplug-{name}_1.0.0_{os}_{arch}.tar.gz");
        offers.push_str(&format!(
            "  {name}:\n    versions:\n      - version: 1.0.0\n        artifacts:\n          - {{os: {os}, arch: {arch}, url: {}/dl/{file}, sha256: {}}}\n",
            server.url(),
            sha256_hex(&body)
        ));
        files
            .lock()
            .unwrap()
            .insert(format!("/dl/{file}"), Arc::new(body));
    }
    files
        .lock()
        .unwrap()
        .insert("/big.yaml".into(), Arc::new(offers.into_bytes()));
    let big_cfg = root.path().join("big-config");
    config(&big_cfg, &[("team", format!("{}/big.yaml", server.url()))]);
    // A home holding the source's copy, cloned (untimed) for every round.
    let seed = root.path().join("big-seed");
    let names: Vec<String> = (0..INSTALL_PLUGINS).map(|i| format!("big{i}")).collect();
    let out = Command::new(KPLUG)
        .args(["plugin", "source", "refresh"])
        .env_clear()
        .envs(env(&seed, &big_cfg))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut n = 0;
    let mut install = |jobs: &str| -> Duration {
        n += 1;
        let home = root.path().join(format!("big-home-{n}"));
        let status = Command::new("cp")
            .arg("-a")
            .arg(&seed)
            .arg(&home)
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        let out = Command::new(KPLUG)
            .args(["plugin", "install", "--no-hooks", "--jobs", jobs])
            .args(&names)
            .env_clear()
            .envs(env(&home, &big_cfg))
            .output()
            .expect("spawn kplug");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for name in &names {
            let data = home.join("plugins").join(name).join("1.0.0/data.bin");
            assert_eq!(
                std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0),
                DATA_BYTES as u64,
                "{name} was not installed whole"
            );
        }
        std::fs::remove_dir_all(&home).unwrap();
        took
    };
    install("1");
    install("8");
    let (mut seq, mut par) = (Vec::new(), Vec::new());
    for round in 0..INSTALL_ROUNDS {
        if round % 2 == 0 {
            seq.push(install("1"));
            par.push(install("8"));
        } else {
            par.push(install("8"));
            seq.push(install("1"));
        }
    }

    // --- report -----------------------------------------------------------
    println!(
        "plugin search: {PLUGINS} plugins × {VERSIONS} versions ({:.1} MiB of YAML), fresh copies, {SEARCH_ROUNDS} rounds (medians, p10–p90)",
        whole.len() as f64 / (1024.0 * 1024.0)
    );
    let gb = median(&mut g);
    report("baseline: grep -c name: inventory.yaml", &mut g, gb);
    let r1 = report("kplug plugin search, 1 source", &mut s1, gb);
    let r4 = report("kplug plugin search, 4 sources of 500", &mut s4, gb);
    let m1 = median(&mut s1);
    let m4 = median(&mut s4);
    println!(
        "target ≤ 20 ms: {} ({:.1} ms); 4 sources / 1 source: {:.2}×; requests during the timed searches: {fresh_requests}",
        if m1 <= Duration::from_millis(20) {
            "PASS"
        } else {
            "over"
        },
        ms(m1),
        m4.as_secs_f64() / m1.as_secs_f64()
    );
    let _ = (r1, r4);
    println!(
        "\nparallel install: {INSTALL_PLUGINS} plugins of {} MiB from a loopback inventory, fresh KPLUG_HOME each, {INSTALL_ROUNDS} rounds",
        DATA_BYTES / (1024 * 1024)
    );
    let sb = median(&mut seq);
    report("baseline: --jobs 1 (one after the other)", &mut seq, sb);
    let rp = report("--jobs 8", &mut par, sb);
    println!(
        "target ≤ 0.6×: {} ({rp:.2}×); total bench time {:.1} s",
        if rp <= 0.6 { "PASS" } else { "over" },
        started.elapsed().as_secs_f64()
    );
}
