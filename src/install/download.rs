//! Streaming a download to disk, hashing it on the way (no second pass),
//! within a size cap, reporting its progress (`ui::progress`).

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A file on disk and what we know of it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub sha256: String,
}

/// Copy `body` into a new file at `dest`, hashing as it streams. Stops with
/// an error past `max_bytes`. `total` (from Content-Length) sizes the bar.
pub fn save(
    body: impl Read,
    dest: &Path,
    max_bytes: u64,
    total: Option<u64>,
    label: &str,
) -> Result<Fetched> {
    save_inner(body, dest, max_bytes, total, label, None)
}

/// [`save`], also checking the bytes against `digest` (`sha256:<hex>` or
/// `sha512:<hex>`) as they stream: a mismatch removes the file and is an
/// error naming both digests.
pub fn save_checked(
    body: impl Read,
    dest: &Path,
    max_bytes: u64,
    total: Option<u64>,
    label: &str,
    digest: &str,
) -> Result<Fetched> {
    save_inner(body, dest, max_bytes, total, label, Some(digest))
}

fn save_inner(
    mut body: impl Read,
    dest: &Path,
    max_bytes: u64,
    total: Option<u64>,
    label: &str,
    digest: Option<&str>,
) -> Result<Fetched> {
    let mut sha512 = digest
        .is_some_and(|d| d.starts_with("sha512:"))
        .then(sha2::Sha512::new);
    if let Some(t) = total
        && t > max_bytes
    {
        return Err(over(label, max_bytes, digest.is_some()));
    }
    let mut file = std::fs::File::create_new(dest)
        .map_err(|e| Error::new(format!("could not create {}", dest.display())).caused_by(e))?;
    let mut hasher = Sha256::new();
    let written =
        |e: io::Error| Error::new(format!("could not write {}", dest.display())).caused_by(e);
    copy(&mut body, &mut file, max_bytes, total, label, |chunk| {
        hasher.update(chunk);
        if let Some(h) = &mut sha512 {
            h.update(chunk);
        }
    })
    .map_err(|b| match b {
        Broke::Read(e, size) => Error::new(format!(
            "the download of {label} broke off after {size} bytes"
        ))
        .caused_by(e),
        Broke::Write(e) => written(e),
        Broke::Over => over(label, max_bytes, digest.is_some()),
    })?;
    file.sync_all().map_err(written)?;
    let sha256 = crate::fsutil::hex(&hasher.finalize());
    if let Some(expected) = digest {
        let got = match sha512 {
            Some(h) => format!("sha512:{}", crate::fsutil::hex(&h.finalize())),
            None => format!("sha256:{sha256}"),
        };
        if got != expected {
            drop(file);
            let _ = std::fs::remove_file(dest);
            return Err(Error::new(format!(
                "{label} does not match its digest: expected {expected}, got {got}"
            ))
            .with_hint(
                "nothing was installed; the server or something between may be corrupting data",
            ));
        }
    }
    Ok(Fetched {
        path: dest.to_path_buf(),
        sha256,
    })
}

/// Why [`copy`] stopped short.
#[derive(Debug)]
pub enum Broke {
    /// Reading the body failed after this many bytes.
    Read(io::Error, u64),
    Write(io::Error),
    /// More than the cap arrived.
    Over,
}

/// Stream `body` into `out`, each chunk shown to `seen` (a hasher) before
/// it is written, reporting its progress as `label` (of `total` bytes, if
/// known); more than `max` bytes stops it. The bytes copied.
pub fn copy(
    mut body: impl Read,
    out: &mut dyn Write,
    max: u64,
    total: Option<u64>,
    label: &str,
    mut seen: impl FnMut(&[u8]),
) -> std::result::Result<u64, Broke> {
    let mut progress = crate::ui::progress::Transfer::start(label, total);
    let mut size: u64 = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Broke::Read(e, size)),
        };
        size += n as u64;
        if size > max {
            return Err(Broke::Over);
        }
        seen(&buf[..n]);
        out.write_all(&buf[..n]).map_err(Broke::Write)?;
        progress.advance(n as u64);
    }
    progress.finish();
    Ok(size)
}

/// Past the cap: the configured one, or (for a checked blob) the size its
/// descriptor gave, which no setting can raise.
fn over(label: &str, max: u64, described: bool) -> Error {
    if described {
        return Error::new(format!(
            "{label} is larger than its descriptor says ({max} bytes); refusing it"
        ))
        .with_hint(
            "nothing was installed; the registry or something between may be corrupting data",
        );
    }
    too_big(label, max)
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
    fn checks_sha256_and_sha512_digests_as_it_streams() {
        let dir = tempfile::tempdir().unwrap();
        let sha512 = "sha512:9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043";
        let f = save_checked(&b"hello"[..], &dir.path().join("a"), 10, None, "a", sha512).unwrap();
        assert_eq!(
            f.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let wrong = format!("sha256:{}", "0".repeat(64));
        let e =
            save_checked(&b"hello"[..], &dir.path().join("b"), 10, None, "b", &wrong).unwrap_err();
        assert!(e.message().contains("does not match its digest"), "{e}");
        assert!(
            !dir.path().join("b").exists(),
            "nothing is left of a mismatch"
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
