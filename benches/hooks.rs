//! What firing a hook costs, against spawning the hook processes bare.
//!
//! Run with `cargo bench --bench hooks`.
//!
//! A `sim` cluster exists; 100 trivial compiled plugins
//! (`benches/fixtures/hook.c`) declare `post-cluster-create`, and the INFO
//! cache is warm. In one loop, interleaved so machine noise hits both alike:
//!
//! * **baseline** — `benches/fixtures/spawn-all.c` starts the same 100
//!   executables at once and waits for them: the floor of running 100 hooks
//!   concurrently;
//! * **kplug** — `kplug hooks fire post-cluster-create --cluster bench`:
//!   planning from the cache, the context document on each hook's stdin,
//!   bounded capture of its output, the journal. Run with the default
//!   `--jobs` (the number of CPUs) and with `--jobs 100`.
//!
//! Target: kplug ≤ 1.5× the baseline. Also reported, for information: a
//! whole `kplug cluster create` + `delete` on the simulator with the same
//! 100 hooks. Exit status is always 0: this is a measurement, not a test.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PLUGINS: usize = 100;
const ROUNDS: usize = 40;

fn main() {
    let root = tempfile::tempdir().expect("temp dir");
    let bin = root.path().join("bin");
    let home = root.path().join("home");
    let config = root.path().join("config");
    for d in [&bin, &home, &config] {
        std::fs::create_dir_all(d).unwrap();
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fixtures");
    let hook = root.path().join("hook");
    let driver = root.path().join("spawn-all");
    if !compile(&fixtures.join("hook.c"), &hook) || !compile(&fixtures.join("spawn-all.c"), &driver)
    {
        println!("hooks bench: no working C compiler (cc); nothing measured");
        return;
    }
    let mut plugins = Vec::new();
    for i in 0..PLUGINS {
        let p = bin.join(format!("kplug-hook{i:03}"));
        std::fs::hard_link(&hook, &p)
            .or_else(|_| std::fs::copy(&hook, &p).map(|_| ()))
            .unwrap();
        plugins.push(p);
    }
    let kplug = PathBuf::from(env!("CARGO_BIN_EXE_kplug"));
    let env: Vec<(OsString, OsString)> = vec![
        ("HOME".into(), root.path().into()),
        ("KPLUG_HOME".into(), home.clone().into()),
        ("XDG_CONFIG_HOME".into(), config.into()),
        (
            "PATH".into(),
            format!("{}:/usr/bin:/bin", bin.display()).into(),
        ),
    ];
    let run = |program: &Path, args: &[&str]| {
        let status = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn");
        assert!(
            status.success(),
            "{} {args:?} failed: {status}",
            program.display()
        );
    };
    let timed = |program: &Path, args: &[&str]| {
        let start = Instant::now();
        run(program, args);
        start.elapsed()
    };
    // A cluster to fire at, and a warm INFO cache (the create's hooks plan
    // asks every plugin for INFO once).
    run(&kplug, &["cluster", "create", "bench", "--engine", "sim"]);
    let list = plugins
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect::<Vec<_>>();

    let fire = ["hooks", "fire", "post-cluster-create", "--cluster", "bench"];
    let fire_wide = [&fire[..], &["--jobs", "100"]].concat();
    let mut base = Vec::new();
    let mut kp = Vec::new();
    let mut kp_wide = Vec::new();
    let mut cycle = Vec::new();
    for round in 0..ROUNDS {
        base.push(timed(&driver, &list));
        kp.push(timed(&kplug, &fire));
        base.push(timed(&driver, &list));
        kp_wide.push(timed(&kplug, &fire_wide));
        if round % 4 == 0 {
            let start = Instant::now();
            run(&kplug, &["cluster", "create", "cycle", "--engine", "sim"]);
            run(&kplug, &["cluster", "delete", "cycle"]);
            cycle.push(start.elapsed());
        }
    }
    let b = median(&mut base);
    println!(
        "hook fan-out to {PLUGINS} trivial compiled plugins, {ROUNDS} rounds (medians, p10–p90)"
    );
    println!(
        "  {:<44} {:>8}  {:>15}  {:>6}",
        "variant", "median", "p10–p90", "ratio"
    );
    report("baseline: spawn-all (C, concurrent)", &mut base, b);
    let r1 = report("kplug hooks fire (default --jobs)", &mut kp, b);
    let r2 = report("kplug hooks fire --jobs 100", &mut kp_wide, b);
    report("kplug cluster create + delete (info)", &mut cycle, b);
    let best = r1.min(r2);
    println!(
        "target ≤ 1.5× the baseline: {} (default jobs {r1:.2}×, --jobs 100 {r2:.2}×)",
        if r1 <= 1.5 {
            "PASS"
        } else if best <= 1.5 {
            "PASS with --jobs 100 only"
        } else {
            "over"
        }
    );
    println!(
        "per hook: baseline {:.3} ms, kplug {:.3} ms",
        ms(b) / PLUGINS as f64,
        ms(median(&mut kp)) / PLUGINS as f64
    );
}

fn compile(src: &Path, out: &Path) -> bool {
    Command::new("cc")
        .args(["-O2", "-o"])
        .arg(out)
        .arg(src)
        .status()
        .is_ok_and(|s| s.success())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(label: &str, v: &mut [Duration], base: Duration) -> f64 {
    v.sort();
    let m = v[v.len() / 2];
    let p10 = v[v.len() / 10];
    let p90 = v[v.len() * 9 / 10];
    let ratio = m.as_secs_f64() / base.as_secs_f64();
    println!(
        "  {label:<44} {:>6.2}ms  {:>6.2}–{:<6.2}ms  {ratio:>5.2}×",
        ms(m),
        ms(p10),
        ms(p90)
    );
    ratio
}
