//! Streaming a download to disk, hashing it on the way (no second pass),
//! within a size cap, with a progress bar on a terminal.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// A file on disk and what we know of it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of everything `r` yields, as lowercase hex.
pub fn sha256_of(mut r: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(hex(&hasher.finalize())),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
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
    let bar = progress(total, label);
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
        if let Some(b) = &bar {
            b.set_position(size);
        }
    }
    file.sync_all()
        .map_err(|e| Error::new(format!("could not write {}", dest.display())).caused_by(e))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(Fetched {
        path: dest.to_path_buf(),
        sha256: hex(&hasher.finalize()),
        size,
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

/// A bar on a terminal, nothing otherwise (logs and pipes stay clean).
fn progress(total: Option<u64>, label: &str) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_message(label.to_string());
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_while_saving() {
        let dir = tempfile::tempdir().unwrap();
        let f = save(&b"hello"[..], &dir.path().join("a"), 10, Some(5), "a").unwrap();
        assert_eq!(f.size, 5);
        assert_eq!(
            f.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(sha256_of(&b"hello"[..]).unwrap(), f.sha256);
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
