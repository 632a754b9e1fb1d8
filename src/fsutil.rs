//! Small filesystem helpers with the atomicity and bounds kplug relies on:
//! replacing a file atomically, reading a state file that may be anything
//! (a FIFO, a link to `/dev/zero`, a huge file) without hanging or running
//! out of memory, and hashing.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Temp files of [`write_atomic`] older than this are debris of a killed
/// writer and are removed by the next write to the same file.
const STALE_TEMP: Duration = Duration::from_secs(10 * 60);

/// Replace `path` with `data` atomically: a temp file (unique name, mode
/// 0600) in the same directory, written and synced, renamed over the
/// target, then the directory synced. Readers see the old or the new
/// content, never a mix, and a crash leaves one of the two. Creates the
/// parent directory if needed.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = parent(path)?;
    std::fs::create_dir_all(dir)?;
    write_atomic_via(path, data, dir)?;
    sweep_stale_temps(dir, &temp_prefix(path));
    Ok(())
}

/// [`write_atomic`] with the temp file in `tmp_dir`, which must be on the
/// same filesystem: for writers that own a directory their successors clear
/// (the store's staging), so a kill leaves nothing beside the target.
pub fn write_atomic_via(path: &Path, data: &[u8], tmp_dir: &Path) -> io::Result<()> {
    let dir = parent(path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .tempfile_in(tmp_dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

fn parent(path: &Path) -> io::Result<&Path> {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))
}

fn temp_prefix(path: &Path) -> String {
    format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// fsync a directory, so a rename into it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Remove temp files a killed writer left beside the target (best effort).
fn sweep_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let stale = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix))
            && e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TEMP);
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Why a state file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// There is no such file.
    Missing,
    /// It is not a regular file (a FIFO, a device, a directory).
    NotAFile,
    /// It is larger than the limit.
    TooLarge(u64),
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => f.write_str("it does not exist"),
            ReadError::NotAFile => f.write_str("it is not a regular file"),
            ReadError::TooLarge(max) => write!(f, "it is larger than {max} bytes"),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Read a file kplug keeps (a cache, a receipt, a record), which anyone who
/// can write kplug's directories may have replaced with anything: only a
/// regular file is read (opening never blocks, so a FIFO cannot hang
/// kplug), and at most `max` bytes of it.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if meta.len() > max {
        return Err(ReadError::TooLarge(max));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut data)
        .map_err(ReadError::Io)?;
    if data.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(data)
}

/// The last `max` bytes of a file kplug appends to (a journal), from the
/// first whole line in them; the same checks as [`read_bounded`].
pub fn read_tail(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::{Seek, SeekFrom};
    let mut file = open_regular(path)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start)).map_err(ReadError::Io)?;
    let mut data = Vec::new();
    file.take(max)
        .read_to_end(&mut data)
        .map_err(ReadError::Io)?;
    if start > 0 {
        // Cut into a line: drop its end.
        let first = data
            .iter()
            .position(|b| *b == b'\n')
            .map_or(data.len(), |i| i + 1);
        data.drain(..first);
    }
    Ok(data)
}

/// Open a file for reading only if it is a regular file (never blocking on
/// a FIFO).
fn open_regular(path: &Path) -> Result<File, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ReadError::Missing,
            _ => ReadError::Io(e),
        })?;
    if !file.metadata().map_err(ReadError::Io)?.is_file() {
        return Err(ReadError::NotAFile);
    }
    Ok(file)
}

/// Whether `s` is a sha256 in hex: 64 hex digits (either case).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
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

/// sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    sha256_of(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_creates_parents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/file.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn stale_temps_of_a_killed_writer_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("receipt.yaml");
        let stale = dir.path().join(".receipt.yaml.tmpAbC123");
        let fresh = dir.path().join(".receipt.yaml.tmpXyZ789");
        let other = dir.path().join(".other.tmpAbC");
        for f in [&stale, &fresh, &other] {
            std::fs::write(f, "x").unwrap();
        }
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(old)
            .unwrap();
        write_atomic(&p, b"x").unwrap();
        assert!(!stale.exists(), "the stale temp of this file is removed");
        assert!(fresh.exists(), "a recent one may belong to a live writer");
        assert!(other.exists(), "another file's temps are not ours");
    }

    #[test]
    fn via_a_scratch_directory_leaves_nothing_beside_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        let p = dir.path().join("f");
        write_atomic_via(&p, b"data", &scratch).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"data");
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    }

    #[test]
    fn bounded_reads_refuse_what_is_not_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_bounded(&f, 5).unwrap(), b"hello");
        assert!(matches!(read_bounded(&f, 4), Err(ReadError::TooLarge(4))));
        assert!(matches!(
            read_bounded(&dir.path().join("nope"), 5),
            Err(ReadError::Missing)
        ));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(read_bounded(&fifo, 5), Err(ReadError::NotAFile)));
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(read_bounded(&zero, 5), Err(ReadError::NotAFile)));
        assert!(matches!(
            read_bounded(dir.path(), 5),
            Err(ReadError::NotAFile)
        ));
    }

    #[test]
    fn tails_start_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("j");
        std::fs::write(&f, b"one\ntwo\nthree\n").unwrap();
        assert_eq!(read_tail(&f, 100).unwrap(), b"one\ntwo\nthree\n");
        assert_eq!(read_tail(&f, 8).unwrap(), b"three\n");
        assert!(matches!(
            read_tail(&dir.path().join("no"), 8),
            Err(ReadError::Missing)
        ));
    }

    #[test]
    fn hashes() {
        assert_eq!(
            sha256_of(&b"hello"[..]).unwrap(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
    }
}

/// Identity of the file behind a path: when any of these changed, what was
/// derived from the file is stale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileKey {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
}

impl std::fmt::Display for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}.{} {}.{} {}",
            self.size, self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1, self.ino
        )
    }
}

impl FileKey {
    pub fn of(m: &std::fs::Metadata) -> FileKey {
        use std::os::unix::fs::MetadataExt;
        FileKey {
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
        }
    }
}
