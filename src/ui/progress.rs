//! Progress of downloads. On a terminal each running download has a line
//! of its own (name, bytes, rate), stacked when several run at once; when
//! stderr is not a terminal each finished download is one plain log line.
//!
//! The lines are drawn by indicatif from its own thread at a bounded rate;
//! other stderr output goes through [`suspend`] so it is printed above the
//! bars rather than through them.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Instant;

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Report no downloads from now on (a command that logs one line of its
/// own per run, like `plugin update --watch`).
pub fn quiet() {
    QUIET.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn is_quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::SeqCst)
}

/// Every bar of this process; `None` when stderr is not a terminal.
fn multi() -> Option<&'static MultiProgress> {
    static MULTI: OnceLock<Option<MultiProgress>> = OnceLock::new();
    MULTI
        .get_or_init(|| {
            std::io::stderr()
                .is_terminal()
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)))
        })
        .as_ref()
}

/// Run `f` (which writes to stderr) with the bars out of the way.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match multi() {
        Some(m) => m.suspend(f),
        None => f(),
    }
}

/// One download being reported.
pub struct Transfer {
    bar: Option<ProgressBar>,
    label: String,
    start: Instant,
    done: u64,
}

impl Transfer {
    /// Start reporting the download of `label` (already escaped), of
    /// `total` bytes if known.
    pub fn start(label: &str, total: Option<u64>) -> Transfer {
        let bar = multi().filter(|_| !is_quiet()).map(|m| {
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(
                    ProgressStyle::with_template(
                        "{prefix} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {wide_bar}",
                    )
                    .expect("a valid template"),
                ),
                None => ProgressBar::no_length().with_style(
                    ProgressStyle::with_template("{prefix} {bytes:>10} {binary_bytes_per_sec:>12}")
                        .expect("a valid template"),
                ),
            };
            m.add(bar.with_prefix(label.to_string()))
        });
        Transfer {
            bar,
            label: label.to_string(),
            start: Instant::now(),
            done: 0,
        }
    }

    pub fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    /// The download completed.
    pub fn finish(self) {
        match &self.bar {
            Some(b) => b.finish_and_clear(),
            None if is_quiet() => {}
            None => {
                let secs = self.start.elapsed().as_secs_f64().max(0.001);
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "downloaded {}: {} in {secs:.1}s ({}/s)",
                    self.label,
                    human(self.done),
                    human((self.done as f64 / secs) as u64)
                );
            }
        }
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        // A download that failed leaves no line behind.
        if let Some(b) = &self.bar
            && !b.is_finished()
        {
            b.finish_and_clear();
        }
    }
}

/// Bytes as people read them: `512 B`, `4.2 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::human(512), "512 B");
        assert_eq!(super::human(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(super::human(1536), "1.5 KiB");
    }
}
