//! Streaming a download to disk, hashing it on the way (no second pass),
//! within a size cap, with a progress line on a terminal.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A file on disk and what we know of it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub sha256: String,
}

/// Copy `body` into a new file at `dest`, hashing as it streams. Stops with
/// an error past `max_bytes`. `total` (from Content-Length) sizes the bar.
pub fn save(
    mut body: impl Read,
    dest: &Path,
    max_bytes: u64,
    total: Option<u64>,
    label: &str,
) -> Result<Fetched> {
    if let Some(t) = total
        && t > max_bytes
    {
        return Err(too_big(label, max_bytes));
    }
    let mut file = std::fs::File::create_new(dest)
        .map_err(|e| Error::new(format!("could not create {}", dest.display())).caused_by(e))?;
    let mut bar = Progress::new(total, label);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::new(format!(
                    "the download of {label} broke off after {size} bytes"
                ))
                .caused_by(e));
            }
        };
        size += n as u64;
        if size > max_bytes {
            return Err(too_big(label, max_bytes));
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| Error::new(format!("could not write {}", dest.display())).caused_by(e))?;
        if let Some(b) = &mut bar {
            b.update(size);
        }
    }
    file.sync_all()
        .map_err(|e| Error::new(format!("could not write {}", dest.display())).caused_by(e))?;
    if let Some(b) = bar {
        b.finish();
    }
    Ok(Fetched {
        path: dest.to_path_buf(),
        sha256: crate::fsutil::hex(&hasher.finalize()),
    })
}

fn too_big(label: &str, max: u64) -> Error {
    Error::new(format!(
        "{label} is larger than {} MiB; refusing it",
        max / (1024 * 1024)
    ))
    .with_hint(
        "raise `install.maxDownloadMib` in the config file if the release is really that large",
    )
}

/// A one-line progress report on a terminal, nothing otherwise (logs and
/// pipes stay clean). Hand-written rather than a progress-bar crate: the one
/// we used pulled libm into every kplug process, a measurable share of the
/// dispatch path (benches/dispatch.rs).
struct Progress {
    label: String,
    total: Option<u64>,
    start: Instant,
    drawn: Option<Instant>,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Progress {
    fn new(total: Option<u64>, label: &str) -> Option<Progress> {
        io::stderr().is_terminal().then(|| Progress {
            label: label.to_string(),
            total,
            start: Instant::now(),
            drawn: None,
        })
    }

    fn update(&mut self, done: u64) {
        let now = Instant::now();
        if self
            .drawn
            .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.drawn = Some(now);
        let secs = (now - self.start).as_secs_f64().max(0.001);
        let rate = done as f64 / MIB / secs;
        let line = match self.total {
            Some(t) if t > 0 => format!(
                "{}  {:.1}/{:.1} MiB  {:>3}%  {rate:.1} MiB/s",
                self.label,
                done as f64 / MIB,
                t as f64 / MIB,
                done * 100 / t
            ),
            _ => format!(
                "{}  {:.1} MiB  {rate:.1} MiB/s",
                self.label,
                done as f64 / MIB
            ),
        };
        // \r and erase-to-end: redraw in place.
        let _ = write!(io::stderr().lock(), "\r{line}\x1b[K");
    }

    fn finish(self) {
        if self.drawn.is_some() {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_while_saving() {
        let dir = tempfile::tempdir().unwrap();
        let f = save(&b"hello"[..], &dir.path().join("a"), 10, Some(5), "a").unwrap();
        assert_eq!(std::fs::metadata(&f.path).unwrap().len(), 5);
        assert_eq!(
            f.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn stops_at_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let e = save(
            io::repeat(0).take(100),
            &dir.path().join("b"),
            10,
            None,
            "big",
        )
        .unwrap_err();
        assert!(e.message().contains("larger than"), "{e}");
        let e = save(&b""[..], &dir.path().join("c"), 10, Some(11), "declared").unwrap_err();
        assert!(e.message().contains("larger than"), "{e}");
    }
}
