//! What kplug costs on its hot paths, measured against the cost of the plugin
//! itself.
//!
//! Run with `cargo bench --bench dispatch` (this builds kplug in the bench
//! profile, i.e. with the release settings, and takes well under a minute to
//! run on two cores).
//!
//! Measured, in one run:
//!
//! 1. **Dispatch latency.** A trivial plugin run directly (the baseline)
//!    against `kplug bench` exec'ing the same plugin, once with a single
//!    `kplug-*` on `PATH` and once with 1000 of them in the same directory.
//!    Targets: at most 2× the baseline, and no growth with the number of
//!    plugins (dispatch only `stat`s the names it needs).
//! 2. **`kplug plugin list`** with 1000 plugins that all answer INFO and a
//!    warm INFO cache. Target: a median of at most 10 ms; the ratio to the
//!    baseline above is shown to make the figure comparable across machines.
//! 3. **Peak RSS of one dispatch** (`ru_maxrss` of `kplug bench`, which
//!    covers kplug and the plugin it becomes), against the plugin's own.
//!    Target: at most 4 MiB.
//!
//! The machines this runs on are shared and noisy, so absolute figures mean
//! little. Every variant is interleaved with its baseline in the same loop
//! and the report gives medians (with p10/p90) and ratios of medians. The
//! targets are reported as PASS or over; the bench always exits 0, because
//! it is a measurement, not a test.
//!
//! The plugin is `benches/fixtures/plugin.c`, compiled with `cc -O2` when the
//! bench starts: `return 0`, unless asked for INFO. Without a C compiler it
//! is a `/bin/sh` script instead, which makes the baseline slower and so
//! flatters the dispatch ratio; the report says so. Peak RSS is read through
//! `benches/fixtures/rss-probe.c` (see there for why not from this process).

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KPLUG: &str = env!("CARGO_BIN_EXE_kplug");
/// Where `scripts/build-release` leaves the binary kplug ships (static,
/// non-PIE); measured beside the cargo-built one when it is there.
const RELEASED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/x86_64-unknown-linux-gnu/release/kplug"
);

/// The released binary to measure too: `KPLUG_RELEASE_BIN`, else the one
/// `scripts/build-release` builds, if present.
fn released() -> Option<PathBuf> {
    #[allow(clippy::disallowed_methods, reason = "the bench's own setting")]
    let path = std::env::var_os("KPLUG_RELEASE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(RELEASED));
    path.is_file().then_some(path)
}
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fixtures");

/// Plugins on `PATH` in the crowded cases (the trivial one included).
const PLUGINS: usize = 1000;
/// Untimed rounds first, so page cache and CPU frequency settle.
const WARMUP_ROUNDS: usize = 20;
const DISPATCH_ROUNDS: usize = 600;
const LIST_ROUNDS: usize = 200;
const RSS_ROUNDS: usize = 30;

const DISPATCH_RATIO_TARGET: f64 = 2.0;
/// How much slower dispatch may be with 1000 plugins than with 1 and still
/// count as flat: the noise of medians on a shared machine, not a budget.
const FLATNESS_TARGET: f64 = 1.10;
const LIST_TARGET_MS: f64 = 10.0;
const RSS_TARGET_KIB: f64 = 4096.0;

fn main() {
    let started = Instant::now();
    let fx = Fixture::new();
    let mut summary = Summary::default();

    let kplug_size = std::fs::metadata(KPLUG).map_or(0, |m| m.len());
    println!("kplug dispatch benchmark");
    println!(
        "  kplug    {KPLUG} ({:.1} MiB)",
        kplug_size as f64 / (1024.0 * 1024.0)
    );
    println!("  plugin   {}", fx.plugin_kind);
    println!(
        "  machine  {} CPUs; variants interleaved in one loop, ratios are of medians",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    dispatch_latency(&fx, &mut summary);
    plugin_list(&fx, &mut summary);
    peak_rss(&fx, &mut summary);

    println!();
    summary.print();
    println!(
        "  (total bench time {:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

fn dispatch_latency(fx: &Fixture, summary: &mut Summary) {
    let direct = fx.direct();
    let one = fx.dispatch(&fx.one, KPLUG.as_ref(), "kplug bench");
    let many = fx.dispatch(&fx.many, KPLUG.as_ref(), "kplug bench");
    // The floors: the least a dispatcher in C, or in Rust linked as kplug
    // is, can cost here (a second exec). They show what the target allows
    // on this machine.
    let floors: Vec<Variant> = fx.floors();
    // The binary kplug ships, when built (scripts/build-release).
    let shipped: Vec<Variant> = released()
        .map(|bin| {
            vec![
                fx.dispatch(&fx.one, &bin, "released kplug bench"),
                fx.dispatch(&fx.many, &bin, "released kplug bench"),
            ]
        })
        .unwrap_or_default();
    let mut variants = vec![&direct, &one, &many];
    variants.extend(floors.iter());
    variants.extend(shipped.iter());
    for v in &variants {
        v.check();
    }
    interleave_all(&variants, WARMUP_ROUNDS, Variant::time_ms);
    let samples: Vec<Stats> = interleave_all(&variants, DISPATCH_ROUNDS, Variant::time_ms)
        .into_iter()
        .map(Stats::of)
        .collect();
    let (direct_s, one_s, many_s) = (&samples[0], &samples[1], &samples[2]);

    let mut t = Table::new(&format!(
        "1. Dispatch latency, ms ({DISPATCH_ROUNDS} rounds)"
    ));
    t.baseline(&direct.label, direct_s);
    for (v, s) in floors.iter().zip(&samples[3..]) {
        t.row(&v.label, Some(s), s.median / direct_s.median, Check::Info);
    }
    let shipped_s = &samples[3 + floors.len()..];
    let mut measured = vec![(&one, one_s), (&many, many_s)];
    measured.extend(shipped.iter().zip(shipped_s));
    for (v, s) in measured {
        let ratio = s.median / direct_s.median;
        let pass = t.row(
            &v.label,
            Some(s),
            ratio,
            Check::AtMost(DISPATCH_RATIO_TARGET, "×"),
        );
        summary.add(&format!("dispatch, {}", v.label), pass);
    }
    let flat = many_s.median / one_s.median;
    let pass = t.row(
        &format!("{PLUGINS} vs 1 on PATH"),
        None,
        flat,
        Check::AtMost(FLATNESS_TARGET, "×"),
    );
    summary.add("dispatch flat in the number of plugins", pass);
    t.note(&format!(
        "kplug's own cost per dispatch: {:+.3} ms (1 on PATH), {:+.3} ms ({PLUGINS} on PATH)",
        one_s.median - direct_s.median,
        many_s.median - direct_s.median
    ));
    t.note(
        match released() {
            Some(bin) => format!("released kplug: {} (scripts/build-release)", bin.display()),
            None => "released kplug: not built; run scripts/build-release to measure it too".into(),
        }
        .as_str(),
    );
}

fn plugin_list(fx: &Fixture, summary: &mut Summary) {
    let direct = fx.direct();
    let list = Variant {
        label: format!("kplug plugin list, {PLUGINS} plugins, warm cache"),
        program: KPLUG.into(),
        args: vec!["plugin".into(), "list".into()],
        env: fx.list.env(),
    };

    // The untimed run that fills the cache doubles as the check that every
    // plugin really is valid: timing a list of broken plugins would measure
    // another code path.
    let mut fill = list.command();
    fill.args(["--output", "json"]).stdout(Stdio::piped());
    let out = fill.output().expect("run kplug plugin list");
    assert!(
        out.status.success(),
        "kplug plugin list failed: {}",
        out.status
    );
    let valid = String::from_utf8_lossy(&out.stdout)
        .matches("\"valid\"")
        .count();
    assert_eq!(valid, PLUGINS, "every plugin should answer INFO");
    let cache = fx.list.kplug_home.join("cache/info.json");
    let cache_before = std::fs::metadata(&cache).and_then(|m| m.modified());

    let shipped: Vec<Variant> = released()
        .map(|bin| Variant {
            label: format!("released kplug plugin list, {PLUGINS} plugins, warm cache"),
            program: bin,
            ..list.clone()
        })
        .into_iter()
        .collect();
    let mut variants = vec![&direct, &list];
    variants.extend(shipped.iter());
    interleave_all(&variants, WARMUP_ROUNDS / 4, Variant::time_ms);
    let samples: Vec<Stats> = interleave_all(&variants, LIST_ROUNDS, Variant::time_ms)
        .into_iter()
        .map(Stats::of)
        .collect();
    let cache_after = std::fs::metadata(&cache).and_then(|m| m.modified());

    let mut t = Table::new(&format!("2. Plugin list, ms ({LIST_ROUNDS} rounds)"));
    let direct_s = &samples[0];
    t.baseline(&direct.label, direct_s);
    for (v, s) in variants[1..].iter().zip(&samples[1..]) {
        let pass = t.row(
            &v.label,
            Some(s),
            s.median / direct_s.median,
            Check::MedianAtMost(LIST_TARGET_MS, " ms"),
        );
        summary.add(
            &format!("plugin list with {PLUGINS} plugins, {}", v.label),
            pass,
        );
    }
    let warm = matches!((&cache_before, &cache_after), (Ok(a), Ok(b)) if a == b);
    t.note(if warm {
        "the INFO cache was not rewritten during the timed runs: every run was warm"
    } else {
        "WARNING: the INFO cache changed during the timed runs: some runs were not warm"
    });
}

fn peak_rss(fx: &Fixture, summary: &mut Summary) {
    let direct = fx.direct();
    let one = fx.dispatch(&fx.one, KPLUG.as_ref(), "kplug bench");
    let many = fx.dispatch(&fx.many, KPLUG.as_ref(), "kplug bench");
    let variants = [&direct, &one, &many];
    let samples = interleave(&variants, RSS_ROUNDS, |v| fx.peak_rss_kib(v));
    let [direct_s, one_s, many_s] = samples.map(Stats::of);

    let mut t = Table::new(&format!("3. Peak RSS, KiB ({RSS_ROUNDS} rounds)"));
    t.baseline(&direct.label, &direct_s);
    for (v, s) in [(&one, &one_s), (&many, &many_s)] {
        let pass = t.row(
            &v.label,
            Some(s),
            s.median / direct_s.median,
            Check::MedianAtMost(RSS_TARGET_KIB, " KiB"),
        );
        summary.add(&format!("peak RSS, {}", v.label), pass);
    }
    t.note(if fx.rss_probe.is_some() {
        "ru_maxrss via rss-probe: covers kplug and the plugin it execs; floor ~0.3 MiB"
    } else {
        "no C compiler: ru_maxrss read from this process, so it includes the bench's own memory"
    });
}

/// Everything the variants run in: a temp dir with the plugin, `PATH`
/// directories with 1 and 1000 plugins, and separate homes so one case
/// cannot warm a cache for another.
struct Fixture {
    _root: tempfile::TempDir,
    plugin_kind: String,
    /// The trivial plugin, `kplug-bench`, alone in its directory.
    trivial: PathBuf,
    rss_probe: Option<PathBuf>,
    /// Helper programs compiled for the bench.
    tools: PathBuf,
    one: Site,
    many: Site,
    list: Site,
}

/// One environment: the directory of plugins on `PATH`, and the homes.
struct Site {
    plugin_dir: PathBuf,
    home: PathBuf,
    kplug_home: PathBuf,
}

impl Site {
    /// The whole environment of a run. `/usr/bin` is there because a real
    /// `PATH` has it (and a shell-script plugin may need it); the plugins
    /// come first so that dispatch finds them with one `stat`.
    fn env(&self) -> Vec<(OsString, OsString)> {
        let mut path = self.plugin_dir.clone().into_os_string();
        path.push(":/usr/bin");
        vec![
            ("PATH".into(), path),
            ("HOME".into(), self.home.clone().into()),
            ("KPLUG_HOME".into(), self.kplug_home.clone().into()),
        ]
    }
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().expect("create a temp dir");
        let dir = |name: &str| {
            let d = root.path().join(name);
            std::fs::create_dir_all(&d).expect("create a fixture dir");
            d
        };
        let one_dir = dir("one");
        let many_dir = dir("many");
        let tools = dir("tools");
        let home = dir("home");

        let trivial = one_dir.join("kplug-bench");
        let compiled = compile(&Path::new(FIXTURES).join("plugin.c"), &trivial);
        let plugin_kind = if compiled {
            "C, benches/fixtures/plugin.c built with cc -O2".to_string()
        } else {
            write_script_plugin(&trivial);
            "/bin/sh script (no working cc): baseline is slower, dispatch ratios look better than they are".to_string()
        };
        // Without a compiler for the plugin there is none for the probe
        // either: one warning is enough.
        let rss_probe = tools.join("rss-probe");
        let rss_probe = (compiled && compile(&Path::new(FIXTURES).join("rss-probe.c"), &rss_probe))
            .then_some(rss_probe);

        // Links of one binary: 1000 valid plugins (INFO derives the name
        // from argv[0]) that cost no disk and stay in the page cache.
        link_or_copy(&trivial, &many_dir.join("kplug-bench"));
        for i in 0..PLUGINS - 1 {
            link_or_copy(&trivial, &many_dir.join(format!("kplug-p{i:04}")));
        }

        let site = |plugin_dir: &Path, kplug_home: &str| Site {
            plugin_dir: plugin_dir.to_path_buf(),
            home: home.clone(),
            kplug_home: root.path().join(kplug_home),
        };
        Fixture {
            plugin_kind,
            trivial,
            rss_probe,
            tools: tools.clone(),
            one: site(&one_dir, "kplug-home-one"),
            many: site(&many_dir, "kplug-home-many"),
            list: site(&many_dir, "kplug-home-list"),
            _root: root,
        }
    }

    /// Minimal exec'ers, compiled now; none without the compilers.
    fn floors(&self) -> Vec<Variant> {
        let mut out = Vec::new();
        let exec = |label: &str, program: PathBuf| Variant {
            label: label.into(),
            program,
            args: vec![self.trivial.clone().into()],
            env: self.one.env(),
        };
        let c = self.tools.join("exec-c");
        if compile(&Path::new(FIXTURES).join("exec.c"), &c) {
            out.push(exec("floor: a C program that only execs it", c));
        }
        let rs = self.tools.join("exec-rs");
        let built = Command::new("rustc")
            .args(["-O", "-C", "link-arg=-no-pie", "-o"])
            .arg(&rs)
            .arg(Path::new(FIXTURES).join("exec.rs"))
            .status()
            .is_ok_and(|s| s.success());
        if built {
            out.push(exec("floor: the same in Rust, linked as kplug", rs));
        }
        out
    }

    /// The baseline: the plugin exec'd straight from this process.
    fn direct(&self) -> Variant {
        Variant {
            label: "plugin run directly (baseline)".into(),
            program: self.trivial.clone(),
            args: Vec::new(),
            env: self.one.env(),
        }
    }

    fn dispatch(&self, site: &Site, kplug: &Path, what: &str) -> Variant {
        let n = std::fs::read_dir(&site.plugin_dir).map_or(0, Iterator::count);
        Variant {
            label: format!("{what}, {n} kplug-* on PATH"),
            program: kplug.into(),
            args: vec!["bench".into()],
            env: site.env(),
        }
    }

    fn peak_rss_kib(&self, v: &Variant) -> f64 {
        let Some(probe) = &self.rss_probe else {
            return peak_rss_in_process(v);
        };
        let mut cmd = Command::new(probe);
        cmd.arg(&v.program)
            .args(&v.args)
            .env_clear()
            .envs(v.env.iter().cloned())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        let out = cmd.output().expect("run rss-probe");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text.split_whitespace().map(|f| f.parse::<i64>().ok());
        let (Some(Some(kib)), Some(Some(status))) = (fields.next(), fields.next()) else {
            panic!("rss-probe printed {text:?}");
        };
        assert!(
            libc::WIFEXITED(status as i32) && libc::WEXITSTATUS(status as i32) == 0,
            "{} failed under rss-probe (wait status {status})",
            v.label
        );
        kib as f64
    }
}

/// Fallback without a C compiler: wait4 on our own child. Its ru_maxrss
/// includes this process's memory (see rss-probe.c), so it is an upper bound.
fn peak_rss_in_process(v: &Variant) -> f64 {
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4, which also gives its rusage"
    )]
    let child = v.command().spawn().expect("spawn");
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own unwaited child; the pointers are valid.
    let r = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(r > 0, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} failed",
        v.label
    );
    usage.ru_maxrss as f64
}

/// `cc -O2 -o out src`; false when there is no working C compiler.
fn compile(src: &Path, out: &Path) -> bool {
    match Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(out)
        .arg(src)
        .status()
    {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("warning: cc failed on {} ({s})", src.display());
            false
        }
        Err(e) => {
            eprintln!("warning: cannot run cc ({e})");
            false
        }
    }
}

/// The fallback plugin: the same behaviour as plugin.c, in sh.
fn write_script_plugin(path: &Path) {
    let script = "#!/bin/sh\n\
        if [ \"$KPLUG_COMMAND\" = INFO ]; then\n\
        \x20 n=${0##*/}\n\
        \x20 printf 'protocols: [1]\\nname: %s\\nversion: 1.0.0\\n' \"${n#kplug-}\"\n\
        fi\n";
    std::fs::write(path, script).expect("write the script plugin");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("make the script plugin executable");
}

fn link_or_copy(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).expect("copy the plugin");
    }
}

/// One thing to run, with everything needed to spawn it.
#[derive(Clone)]
struct Variant {
    label: String,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Variant {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Run once before timing, with stderr kept, so a broken setup fails
    /// loudly instead of timing an error path.
    fn check(&self) {
        let out = self
            .command()
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.label));
        assert!(
            out.status.success(),
            "{} failed ({}): {}",
            self.label,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Wall time from spawn to reaped exit, in ms.
    fn time_ms(&self) -> f64 {
        let mut cmd = self.command();
        let start = Instant::now();
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.label));
        let elapsed = start.elapsed();
        assert!(status.success(), "{} failed: {status}", self.label);
        ms(elapsed)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Measure every variant `rounds` times, interleaved, so that noise from the
/// rest of the machine lands on all of them alike. The first variant of
/// each round rotates, so that none is always the one running right after
/// a particular other (warm caches, CPU frequency).
fn interleave<const N: usize>(
    variants: &[&Variant; N],
    rounds: usize,
    measure: impl FnMut(&Variant) -> f64,
) -> [Vec<f64>; N] {
    interleave_all(variants, rounds, measure)
        .try_into()
        .unwrap_or_else(|_| unreachable!("one sample list per variant"))
}

/// [`interleave`] for a number of variants known only at run time.
fn interleave_all(
    variants: &[&Variant],
    rounds: usize,
    mut measure: impl FnMut(&Variant) -> f64,
) -> Vec<Vec<f64>> {
    let n = variants.len();
    let mut samples: Vec<Vec<f64>> = (0..n).map(|_| Vec::with_capacity(rounds)).collect();
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            samples[i].push(measure(variants[i]));
        }
    }
    samples
}

struct Stats {
    median: f64,
    p10: f64,
    p90: f64,
}

impl Stats {
    fn of(mut xs: Vec<f64>) -> Stats {
        assert!(!xs.is_empty());
        xs.sort_by(f64::total_cmp);
        let at = |p: f64| xs[((xs.len() - 1) as f64 * p).round() as usize];
        Stats {
            median: at(0.5),
            p10: at(0.1),
            p90: at(0.9),
        }
    }
}

/// A target a row is judged against.
enum Check {
    /// The ratio to the baseline, at most this.
    AtMost(f64, &'static str),
    /// The median, at most this (an absolute target).
    MedianAtMost(f64, &'static str),
    /// No target: shown for context.
    Info,
}

/// One section of the report.
struct Table;

const LABEL_WIDTH: usize = 48;

impl Table {
    fn new(title: &str) -> Table {
        println!();
        println!("{title}");
        println!(
            "  {:<LABEL_WIDTH$} {:>9} {:>9} {:>9} {:>7}  {:<11} result",
            "variant", "median", "p10", "p90", "ratio", "target"
        );
        Table
    }

    fn baseline(&mut self, label: &str, s: &Stats) {
        println!(
            "  {:<LABEL_WIDTH$} {:>9} {:>9} {:>9} {:>6.2}×",
            label,
            num(s.median),
            num(s.p10),
            num(s.p90),
            1.0
        );
    }

    /// Print a judged row; returns whether its target is met.
    fn row(&mut self, label: &str, s: Option<&Stats>, ratio: f64, check: Check) -> bool {
        let (target, pass) = match check {
            Check::AtMost(max, unit) => (format!("≤ {max:.2}{unit}"), ratio <= max),
            Check::MedianAtMost(max, unit) => {
                let median = s.expect("an absolute target needs figures").median;
                (format!("≤ {max}{unit}"), median <= max)
            }
            Check::Info => (String::new(), true),
        };
        let [median, p10, p90] = match s {
            Some(s) => [s.median, s.p10, s.p90].map(num),
            None => ["".into(), "".into(), "".into()],
        };
        let result = match check {
            Check::Info => "floor",
            _ if pass => "PASS",
            _ => "over",
        };
        println!(
            "  {label:<LABEL_WIDTH$} {median:>9} {p10:>9} {p90:>9} {ratio:>6.2}×  {target:<11} {result}"
        );
        pass
    }

    fn note(&mut self, text: &str) {
        println!("  {text}");
    }
}

/// A figure with as many decimals as its size deserves.
fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

/// The targets, for the closing verdict.
#[derive(Default)]
struct Summary {
    results: Vec<(String, bool)>,
}

impl Summary {
    fn add(&mut self, what: &str, pass: bool) {
        self.results.push((what.to_string(), pass));
    }

    fn print(&self) {
        let met = self.results.iter().filter(|(_, p)| *p).count();
        println!("Targets met: {met}/{}", self.results.len());
        for (what, pass) in &self.results {
            println!("  {} {what}", if *pass { "PASS" } else { "over" });
        }
    }
}
