//! What `kplug plugin install` costs for a large release, against the
//! shell pipeline a user would write by hand.
//!
//! Run with `cargo bench --bench install` (this builds kplug in the bench
//! profile, i.e. with the release settings; the measurement itself takes
//! well under a minute).
//!
//! The release `acme/kplug-bench` v1.0.0 is served by the tests' loopback
//! `FakeGitHub` (`tests/it/server.rs`), with GitHub's `digest` published. Its
//! asset for this platform is a tar.gz of ~20 MiB compressed: 19 MiB of
//! incompressible xorshift output (`data.bin`, which gzip grows by ~5%)
//! plus `kplug-bench`, a
//! `/bin/sh` plugin whose INFO answers `name: bench`, `version: 1.0.0`
//! (`tests/it/archives.rs`). In one loop, interleaved so machine noise hits
//! both alike:
//!
//! * **baseline** — `bash -c 'curl -s URL | tee >(sha256sum >/dev/null) |
//!   tar xz -C DIR'` against the asset's `browser_download_url`
//!   (`/dl/acme/kplug-bench/v1.0.0/<asset>`), into a fresh directory: a
//!   download hashed and unpacked while streaming, with no safety checks,
//!   no fsync and no bookkeeping. (bash does not wait for the `>(…)`
//!   process, so the tail of its hashing may fall outside the timing: if
//!   anything this flatters the baseline.)
//! * **kplug** — `kplug plugin install acme/kplug-bench@v1.0.0` with
//!   `KPLUG_GITHUB_API_URL` pointing at the fake server: resolve the tag,
//!   download while hashing, verify against the digest, unpack safely, run
//!   the INFO smoke test, keep the archive in the download cache, write the
//!   receipt, rename the version into the store and switch `current`.
//!
//! Each kplug round gets a **fresh, empty `KPLUG_HOME`** (deleted, untimed,
//! right after the round, as is the baseline's directory). That, rather
//! than a new version per round or `--force`, is what makes every round a
//! real download: with the same home, an explicit tag whose archive is in
//! the download cache is installed from the cache without any network
//! (so `--force` would measure an offline reinstall), and unique versions
//! would need a distinct 20 MiB archive per round and let the store,
//! receipt and cache grow from round to round. A fresh home gives every
//! round the same starting state, like the baseline's fresh directory.
//! Every round is checked, untimed: exactly one asset download per run
//! (the server's counter), the unpacked `data.bin` of the right size, and
//! for kplug `current -> 1.0.0`.
//!
//! Target: kplug ≤ 1.3× the baseline. Without `curl` nothing is measured.
//! Exit status is always 0: this is a measurement, not a test.

mod common;

#[allow(dead_code)]
#[path = "../tests/it/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../tests/it/archives.rs"]
mod archives;

use common::{median, ms, pseudo_random};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const REPO: &str = "acme/kplug-bench";
const VERSION: &str = "1.0.0";
/// Incompressible payload in the archive: 19 MiB, which the tests' gzip
/// (`Compression::fast`, static Huffman on random bytes, ~5% growth) turns
/// into a ~20 MiB asset.
const DATA_BYTES: usize = 19 * 1024 * 1024;
const WARMUP_ROUNDS: usize = 2;
const ROUNDS: usize = 15;
const TARGET: f64 = 1.3;

fn main() {
    let started = Instant::now();
    if !Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        println!(
            "install bench: the baseline needs curl (`apt-get install curl`); nothing measured"
        );
        return;
    }

    let data = pseudo_random(DATA_BYTES, 0);
    let script = archives::plugin_script("bench", VERSION, "");
    let body = archives::tar_gz(&[
        archives::Entry {
            path: "kplug-bench",
            body: script.as_bytes(),
            mode: 0o755,
        },
        archives::Entry {
            path: "data.bin",
            body: &data,
            mode: 0o644,
        },
    ]);
    drop(data);
    let size = body.len();
    let release = archives::release_with("bench", VERSION, body, true);
    let asset = release.assets[0].name.clone();
    let gh = server::FakeGitHub::start();
    gh.publish(REPO, release);
    let url = format!("{}/dl/{REPO}/v{VERSION}/{asset}", gh.url());

    let root = tempfile::tempdir().expect("temp dir");
    let config = root.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let kplug = PathBuf::from(env!("CARGO_BIN_EXE_kplug"));
    let source = format!("{REPO}@v{VERSION}");
    let pipeline = format!("curl -s '{url}' | tee >(sha256sum >/dev/null) | tar xz -C \"$OUT\"");
    let env = |home: &Path| -> Vec<(OsString, OsString)> {
        vec![
            ("HOME".into(), root.path().into()),
            ("KPLUG_HOME".into(), home.into()),
            ("XDG_CONFIG_HOME".into(), config.clone().into()),
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("KPLUG_GITHUB_API_URL".into(), gh.url().into()),
        ]
    };
    let downloads = || gh.asset_requests.load(Ordering::SeqCst);

    let mut n = 0usize;
    let mut fresh = |what: &str| {
        n += 1;
        root.path().join(format!("{what}-{n}"))
    };
    let baseline_run = |dir: &Path| -> Duration {
        std::fs::create_dir_all(dir).unwrap();
        let before = downloads();
        let start = Instant::now();
        let status = Command::new("bash")
            .args(["-c", &pipeline])
            .env_clear()
            .envs(env(dir))
            .env("OUT", dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn bash");
        let took = start.elapsed();
        assert!(status.success(), "the baseline pipeline failed: {status}");
        check(dir, downloads() - before, "baseline");
        std::fs::remove_dir_all(dir).unwrap();
        took
    };
    let kplug_run = |home: &Path| -> Duration {
        let before = downloads();
        let start = Instant::now();
        let out = Command::new(&kplug)
            .args(["plugin", "install", &source])
            .env_clear()
            .envs(env(home))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("spawn kplug");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "kplug plugin install failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let plugin = home.join("plugins/bench");
        assert_eq!(
            std::fs::read_link(plugin.join("current")).ok(),
            Some(PathBuf::from(VERSION)),
            "kplug did not switch to {VERSION}"
        );
        check(&plugin.join(VERSION), downloads() - before, "kplug");
        std::fs::remove_dir_all(home).unwrap();
        took
    };

    for _ in 0..WARMUP_ROUNDS {
        baseline_run(&fresh("curl"));
        kplug_run(&fresh("home"));
    }
    let mut base = Vec::new();
    let mut kp = Vec::new();
    for round in 0..ROUNDS {
        // Alternate which goes first, so neither always follows the other.
        if round % 2 == 0 {
            base.push(baseline_run(&fresh("curl")));
            kp.push(kplug_run(&fresh("home")));
        } else {
            kp.push(kplug_run(&fresh("home")));
            base.push(baseline_run(&fresh("curl")));
        }
    }

    let mib = size as f64 / (1024.0 * 1024.0);
    let b = median(&mut base);
    println!(
        "install of a {mib:.1} MiB tar.gz ({:.1} MB, incompressible) from a loopback fake GitHub, \
         {ROUNDS} rounds, fresh KPLUG_HOME / dir each (medians, p10–p90)",
        size as f64 / 1e6
    );
    println!(
        "  {:<46} {:>10}  {:>17}  {:>6}  {:>6}",
        "variant", "median", "p10–p90", "ratio", "MiB/s"
    );
    report(
        "baseline: curl | tee >(sha256sum) | tar xz",
        &mut base,
        b,
        mib,
    );
    let r = report(&format!("kplug plugin install {source}"), &mut kp, b, mib);
    println!(
        "target ≤ {TARGET}× the baseline: {} ({r:.2}×)",
        if r <= TARGET { "PASS" } else { "over" }
    );
    let k = median(&mut kp);
    println!(
        "per MiB: baseline {:.2} ms ({:.0} MiB/s), kplug {:.2} ms ({:.0} MiB/s); \
         total bench time {:.1} s",
        ms(b) / mib,
        mib / b.as_secs_f64(),
        ms(k) / mib,
        mib / k.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Each run downloaded the asset exactly once and unpacked all of it.
fn check(dir: &Path, downloads: u64, who: &str) {
    assert_eq!(
        downloads, 1,
        "{who}: expected exactly one asset download per run"
    );
    let len = std::fs::metadata(dir.join("data.bin"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(
        len, DATA_BYTES as u64,
        "{who}: data.bin is missing or truncated"
    );
}

fn report(label: &str, v: &mut [Duration], base: Duration, mib: f64) -> f64 {
    v.sort();
    let m = v[v.len() / 2];
    let p10 = v[v.len() / 10];
    let p90 = v[v.len() * 9 / 10];
    let ratio = m.as_secs_f64() / base.as_secs_f64();
    let spread = format!("{:.1}–{:.1} ms", ms(p10), ms(p90));
    println!(
        "  {label:<46} {:>7.1} ms  {spread:>17}  {ratio:>5.2}×  {:>6.0}",
        ms(m),
        mib / m.as_secs_f64()
    );
    ratio
}
