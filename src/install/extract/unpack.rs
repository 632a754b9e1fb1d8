//! The unpackers: tar.gz, zip and a plain executable, each writing
//! through [`Unpacker`], which validates every entry before anything of it
//! touches the disk (see the threat model in the module above).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fmt::Display;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use super::{Limits, MIB, format_mib};
use crate::error::{Error, Result};

/// Copy buffer: also the most a bomb can make us read past the cap.
const BUF_SIZE: usize = 64 * 1024;
/// A symlink target longer than PATH_MAX is not a real symlink.
const MAX_LINK_TARGET: u64 = 4096;
/// Tar metadata (headers, PAX records, GNU long names, skipped data) the
/// stream may yield while moving to the next entry. The tar crate buffers
/// PAX and long-name records in memory, so this bounds memory per entry.
const TAR_META_PER_ENTRY: u64 = MIB;
/// Tar metadata allowed in total, on top of this much per entry: bounds CPU
/// spent decompressing things we never write.
const TAR_META_BASE: u64 = 16 * MIB;
const TAR_META_PER_ENTRY_TOTAL: u64 = 16 * 1024;
/// Links followed while resolving one symlink (the kernel's limit).
const MAX_LINK_HOPS: usize = 40;

const HOSTILE_HINT: &str = "the archive is malformed or was crafted to attack the machine \
                            unpacking it; report it to the plugin's author";

fn open_archive(archive: &Path, label: &str) -> Result<File> {
    File::open(archive).map_err(|e| Error::new(format!("could not open {label}")).caused_by(e))
}

// ---------------------------------------------------------------------------
// tar.gz

/// How many more bytes the decompressed tar stream may yield; shared between
/// [`Metered`] (which spends it) and the entry loop (which grants it).
#[derive(Default)]
struct Budget {
    allowance: Cell<u64>,
    exhausted: Cell<bool>,
}

/// The decompressed stream, refusing to go past its [`Budget`]. File content
/// is capped separately (by bytes written); this caps what the tar crate
/// reads on its own between entries, which we never see.
struct Metered<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.budget.allowance.get();
        if left == 0 && !buf.is_empty() {
            self.budget.exhausted.set(true);
            return Err(io::Error::other("too much tar metadata"));
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.budget.allowance.set(left - n as u64);
        Ok(n)
    }
}

pub(super) fn unpack_tar_gz(
    archive: &Path,
    label: &str,
    dest: &Path,
    limits: Limits,
) -> Result<u64> {
    let file = open_archive(archive, label)?;
    let budget = Rc::new(Budget::default());
    // MultiGzDecoder: concatenated gzip members are a valid .gz (and what a
    // cheap bomb is made of); GzDecoder would silently stop after the first.
    let stream = Metered {
        inner: flate2::read::MultiGzDecoder::new(BufReader::new(file)),
        budget: Rc::clone(&budget),
    };
    let mut tar = tar::Archive::new(stream);
    let mut u = Unpacker::new(label, dest, limits);
    let mut meta_left =
        TAR_META_BASE.saturating_add(limits.max_entries.saturating_mul(TAR_META_PER_ENTRY_TOTAL));
    let mut last: Option<String> = None;

    budget.allowance.set(TAR_META_PER_ENTRY.min(meta_left));
    let mut entries = tar
        .entries()
        .map_err(|e| tar_read_error(label, &budget, last.as_deref(), e))?;
    loop {
        let grant = TAR_META_PER_ENTRY.min(meta_left);
        budget.allowance.set(grant);
        let next = entries.next();
        meta_left -= grant - budget.allowance.get();
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(|e| tar_read_error(label, &budget, last.as_deref(), e))?;

        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        u.count_entry(&name)?;
        let kind = entry.header().entry_type();
        // Git's `pax_global_header`: metadata for the whole archive, already
        // read by the tar crate; nothing to create.
        if kind == tar::EntryType::XGlobalHeader {
            last = Some(name);
            continue;
        }
        let raw_path = entry.path_bytes().into_owned();
        let rel = u.entry_path(&name, Path::new(OsStr::from_bytes(&raw_path)))?;
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = entry.header().mode().unwrap_or(0o644);
                // Content is capped by bytes written, not by this budget.
                budget.allowance.set(u64::MAX);
                u.write_file(&name, &rel, &mut entry, mode)?;
            }
            tar::EntryType::Directory => u.make_dirs(&name, &rel)?,
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                u.add_symlink(&name, rel, Path::new(OsStr::from_bytes(&target)))?;
            }
            // A hard link's target is a path in the archive (or, with some
            // extractors, on disk): never worth the risk for a plugin.
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                return Err(u.refuse(
                    &name,
                    format!("it is a hard link (to `{target}`), which kplug does not unpack"),
                ));
            }
            tar::EntryType::Char => return Err(u.refuse(&name, "it is a character device")),
            tar::EntryType::Block => return Err(u.refuse(&name, "it is a block device")),
            tar::EntryType::Fifo => return Err(u.refuse(&name, "it is a FIFO (named pipe)")),
            tar::EntryType::GNUSparse => {
                return Err(u.refuse(
                    &name,
                    "it is a GNU sparse file, which kplug does not unpack",
                ));
            }
            other => {
                return Err(u.refuse(
                    &name,
                    format!(
                        "it has the unsupported tar entry type `{}`",
                        other.as_byte().escape_ascii()
                    ),
                ));
            }
        }
        last = Some(name);
    }
    u.finish()
}

/// An error from the tar stream itself (not from one entry's content).
fn tar_read_error(label: &str, budget: &Budget, after: Option<&str>, e: io::Error) -> Error {
    let err = if budget.exhausted.get() {
        Error::new(format!(
            "{label} has more tar metadata than kplug allows; refusing (a decompression bomb?)"
        ))
        .with_hint(HOSTILE_HINT)
    } else {
        Error::new(format!("could not read {label}")).caused_by(e)
    };
    match after {
        Some(entry) => err.caused_by(format!("after entry `{entry}`")),
        None => err,
    }
}

// ---------------------------------------------------------------------------
// zip

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

pub(super) fn unpack_zip(archive: &Path, label: &str, dest: &Path, limits: Limits) -> Result<u64> {
    let file = open_archive(archive, label)?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::new(format!("could not read {label} as a zip archive")).caused_by(e))?;
    // The central directory tells us the count up front: refuse before
    // writing anything.
    if zip.len() as u64 > limits.max_entries {
        return Err(Error::new(format!(
            "{label} has {} entries, more than the limit of {}; refusing",
            zip.len(),
            limits.max_entries
        )));
    }
    // The zip crate indexes entries by name, so a duplicate would silently
    // hide one of them: refuse rather than guess which one the author meant.
    if zip.has_duplicate_names() {
        return Err(Error::new(format!(
            "refusing {label}: it has several entries with the same name"
        ))
        .with_hint(HOSTILE_HINT));
    }
    let mut u = Unpacker::new(label, dest, limits);
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| {
            Error::new(format!("could not read entry {} of {label}", i + 1)).caused_by(e)
        })?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        u.count_entry(&name)?;
        // `enclosed_name` quietly turns `/etc/x` into `etc/x`; an absolute
        // name is a sign of a hostile or broken archive, so refuse it.
        if name.starts_with(['/', '\\']) || name.as_bytes().get(1) == Some(&b':') {
            return Err(u.refuse(&name, "it is an absolute path"));
        }
        let Some(enclosed) = entry.enclosed_name() else {
            return Err(u.refuse(&name, "it points outside the archive"));
        };
        let rel = u.entry_path(&name, &enclosed)?;
        let mode = entry.unix_mode().unwrap_or(0);
        match mode & S_IFMT {
            S_IFLNK => {
                // A zip symlink stores its target as the entry's content.
                let mut target = Vec::new();
                (&mut entry)
                    .take(MAX_LINK_TARGET + 1)
                    .read_to_end(&mut target)
                    .map_err(|e| u.io_error(&name, e))?;
                if target.len() as u64 > MAX_LINK_TARGET {
                    return Err(u.refuse(&name, "it is a symbolic link with an overlong target"));
                }
                u.add_symlink(&name, rel, Path::new(OsStr::from_bytes(&target)))?;
            }
            S_IFDIR => u.make_dirs(&name, &rel)?,
            _ if entry.is_dir() => u.make_dirs(&name, &rel)?,
            // No type bits: made on a system without unix modes.
            0 | S_IFREG => u.write_file(&name, &rel, &mut entry, mode)?,
            _ => return Err(u.refuse(&name, "it is a special file (device, FIFO or socket)")),
        }
    }
    u.finish()
}

// ---------------------------------------------------------------------------
// plain binary

pub(super) fn unpack_binary(
    archive: &Path,
    label: &str,
    binary_name: &str,
    dest: &Path,
    limits: Limits,
) -> Result<u64> {
    // The name comes from the release's asset list, which is as untrusted as
    // an archive entry.
    let mut comps = Path::new(binary_name).components();
    if !matches!(
        (comps.next(), comps.next()),
        (Some(Component::Normal(_)), None)
    ) {
        return Err(Error::new(format!(
            "refusing to install {label} as `{binary_name}`: not a plain file name"
        )));
    }
    let mut file = open_archive(archive, label)?;
    let mut u = Unpacker::new(label, dest, limits);
    u.count_entry(binary_name)?;
    u.write_file(binary_name, Path::new(binary_name), &mut file, 0o755)?;
    u.finish()
}

// ---------------------------------------------------------------------------
// writing entries

/// A symlink seen in the archive, created by [`Unpacker::finish`] only.
struct PendingLink {
    entry: String,
    path: PathBuf,
    target: PathBuf,
}

/// Writes validated entries under `dest`, counting entries and bytes.
///
/// Symlinks are collected and created last, after every file and directory:
/// while anything is being written there is no symlink under `dest` to be
/// written through.
struct Unpacker<'a> {
    archive: &'a str,
    dest: &'a Path,
    limits: Limits,
    entries: u64,
    written: u64,
    links: Vec<PendingLink>,
    link_paths: HashSet<PathBuf>,
    buf: Vec<u8>,
}

impl<'a> Unpacker<'a> {
    fn new(archive: &'a str, dest: &'a Path, limits: Limits) -> Self {
        Unpacker {
            archive,
            dest,
            limits,
            entries: 0,
            written: 0,
            links: Vec::new(),
            link_paths: HashSet::new(),
            buf: vec![0; BUF_SIZE],
        }
    }

    fn refuse(&self, entry: &str, why: impl Display) -> Error {
        Error::new(format!(
            "refusing entry `{entry}` in {}: {why}",
            self.archive
        ))
        .with_hint(HOSTILE_HINT)
    }

    fn io_error(&self, entry: &str, e: io::Error) -> Error {
        Error::new(format!(
            "could not unpack entry `{entry}` of {}",
            self.archive
        ))
        .caused_by(e)
    }

    fn bomb(&self, entry: &str) -> Error {
        Error::new(format!(
            "{} unpacks to more than {}; refusing (a decompression bomb?)",
            self.archive,
            format_mib(self.limits.max_bytes)
        ))
        .caused_by(format!("the limit was reached writing entry `{entry}`"))
    }

    /// Count an entry before doing anything with it.
    fn count_entry(&mut self, entry: &str) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Error::new(format!(
                "{} has more than {} entries; refusing",
                self.archive, self.limits.max_entries
            ))
            .caused_by(format!("entry `{entry}` is number {}", self.entries)));
        }
        Ok(())
    }

    /// Validate an entry's path; return it normalised (no `.`, no empty
    /// components), relative to `dest`.
    fn entry_path(&self, entry: &str, raw: &Path) -> Result<PathBuf> {
        let mut rel = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(s) => rel.push(s),
                Component::CurDir => {}
                // Even `a/../b`, which stays inside: no legitimate archiver
                // writes it, and refusing is simpler than reasoning about it.
                Component::ParentDir => {
                    return Err(self.refuse(entry, "it points outside the archive"));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.refuse(entry, "it is an absolute path"));
                }
            }
        }
        if rel.as_os_str().is_empty() {
            return Err(self.refuse(entry, "its path is empty"));
        }
        let count = rel.components().count();
        let mut prefix = PathBuf::new();
        for (i, c) in rel.components().enumerate() {
            prefix.push(c);
            let last = i + 1 == count;
            if self.link_paths.contains(&prefix) {
                return Err(if last {
                    self.refuse(entry, "it appears more than once in the archive")
                } else {
                    self.refuse(
                        entry,
                        format!(
                            "its path goes through the symbolic link `{}`",
                            prefix.display()
                        ),
                    )
                });
            }
            // Belt and braces: we create no symlink before `finish`, but
            // never trust that `dest` holds none.
            if !last && is_symlink(&self.dest.join(&prefix)) {
                return Err(self.refuse(
                    entry,
                    format!(
                        "its path goes through the symbolic link `{}`",
                        prefix.display()
                    ),
                ));
            }
        }
        Ok(rel)
    }

    /// Create `rel` and its parents under `dest`, one component at a time,
    /// refusing to go through a symlink or a file.
    fn make_dirs(&self, entry: &str, rel: &Path) -> Result<()> {
        let mut path = self.dest.to_path_buf();
        for c in rel.components() {
            path.push(c);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.refuse(
                        entry,
                        format!(
                            "its path goes through the symbolic link `{}`",
                            path.strip_prefix(self.dest).unwrap_or(&path).display()
                        ),
                    ));
                }
                Ok(_) => {
                    return Err(self.refuse(
                        entry,
                        format!(
                            "it needs a directory where the archive has a file (`{}`)",
                            path.strip_prefix(self.dest).unwrap_or(&path).display()
                        ),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
                    .mode(0o755)
                    .create(&path)
                    .map_err(|e| self.io_error(entry, e))?,
                Err(e) => return Err(self.io_error(entry, e)),
            }
        }
        Ok(())
    }

    /// Write a regular file's content, counting every byte against the cap.
    fn write_file(
        &mut self,
        entry: &str,
        rel: &Path,
        content: &mut dyn Read,
        mode: u32,
    ) -> Result<()> {
        if let Some(parent) = rel.parent() {
            self.make_dirs(entry, parent)?;
        }
        // create_new = O_CREAT|O_EXCL: an existing file or link (dangling or
        // not) is never followed nor overwritten.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.dest.join(rel))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    self.refuse(entry, "it appears more than once in the archive")
                } else {
                    self.io_error(entry, e)
                }
            })?;
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.copy_capped(entry, content, &mut file, &mut buf);
        self.buf = buf;
        result?;
        // Only "executable or not" survives: never setuid/setgid/sticky,
        // never group/other-writable.
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| self.io_error(entry, e))
    }

    fn copy_capped(
        &mut self,
        entry: &str,
        content: &mut dyn Read,
        file: &mut File,
        buf: &mut [u8],
    ) -> Result<()> {
        loop {
            let n = match content.read(buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(entry, e)),
            };
            // Checked before writing: `dest` never holds more than the cap.
            if self.written + n as u64 > self.limits.max_bytes {
                return Err(self.bomb(entry));
            }
            file.write_all(&buf[..n])
                .map_err(|e| self.io_error(entry, e))?;
            self.written += n as u64;
        }
    }

    /// Validate a symlink now (so the refusal names it early), and again in
    /// `finish` against every link of the archive.
    fn add_symlink(&mut self, entry: &str, rel: PathBuf, target: &Path) -> Result<()> {
        self.check_link(entry, &rel, target)?;
        self.link_paths.insert(rel.clone());
        self.links.push(PendingLink {
            entry: entry.to_string(),
            path: rel,
            target: target.to_path_buf(),
        });
        Ok(())
    }

    /// Refuse a link whose target is empty or absolute, or leaves `dest`
    /// read lexically from the link's directory.
    fn check_link(&self, entry: &str, rel: &Path, target: &Path) -> Result<()> {
        let shown = target.display();
        if target.as_os_str().is_empty() {
            return Err(self.refuse(entry, "it is a symbolic link with an empty target"));
        }
        if target.has_root() {
            return Err(self.refuse(
                entry,
                format!("it is a symbolic link to the absolute path `{shown}`"),
            ));
        }
        let mut at: PathBuf = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        for c in target.components() {
            match c {
                Component::Normal(s) => at.push(s),
                Component::CurDir => {}
                Component::ParentDir if at.pop() => {}
                _ => {
                    return Err(self.refuse(
                        entry,
                        format!(
                            "it is a symbolic link to `{shown}`, which points outside the archive"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Resolve `target`, read from directory `from`, the way the kernel
    /// will once every link exists: each component that is one of the
    /// archive's links is replaced by what it points to. `None` when the
    /// resolution climbs above `dest` (or loops): the lexical check cannot
    /// see that `sub/b -> ..`, `b -> sub/b`, `esc -> b/b/../../x` climbs out
    /// through the links it goes through.
    fn resolve(
        links: &HashMap<PathBuf, PathBuf>,
        from: &Path,
        target: &Path,
        hops: &mut usize,
    ) -> Option<PathBuf> {
        let mut at = from.to_path_buf();
        for c in target.components() {
            match c {
                Component::Normal(s) => {
                    at.push(s);
                    if let Some(next) = links.get(&at) {
                        *hops += 1;
                        if *hops > MAX_LINK_HOPS || next.has_root() {
                            return None;
                        }
                        at.pop();
                        at = Self::resolve(links, &at, next, hops)?;
                    }
                }
                Component::CurDir => {}
                Component::ParentDir => {
                    if !at.pop() {
                        return None;
                    }
                }
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        Some(at)
    }

    /// Create the symlinks, now that every file has been written, after
    /// resolving each through all the others; return the bytes written.
    fn finish(mut self) -> Result<u64> {
        let links = std::mem::take(&mut self.links);
        let map: HashMap<PathBuf, PathBuf> = links
            .iter()
            .map(|l| (l.path.clone(), l.target.clone()))
            .collect();
        for link in &links {
            let from = link.path.parent().unwrap_or(Path::new(""));
            let mut hops = 0;
            if Self::resolve(&map, from, &link.target, &mut hops).is_none() {
                return Err(self.refuse(
                    &link.entry,
                    format!(
                        "it is a symbolic link to `{}`, which, through the archive's other links, points outside the archive",
                        link.target.display()
                    ),
                ));
            }
        }
        for link in &links {
            if let Some(parent) = link.path.parent() {
                self.make_dirs(&link.entry, parent)?;
            }
            // symlink(2) never replaces what exists: a link at the path of
            // a file or directory from the archive fails here.
            std::os::unix::fs::symlink(&link.target, self.dest.join(&link.path)).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    self.refuse(&link.entry, "it appears more than once in the archive")
                } else {
                    self.io_error(&link.entry, e)
                }
            })?;
        }
        Ok(self.written)
    }
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::asset::ArchiveKind;
    use crate::install::extract::extract;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use tar::EntryType;
    use zip::write::SimpleFileOptions;

    /// A tempdir with an empty `dest` and a sibling `outside` that must stay
    /// empty, plus a unique `/tmp/evil-…` name that must never appear.
    struct Fixture {
        tmp: tempfile::TempDir,
        dest: PathBuf,
        outside: PathBuf,
        evil: String,
    }

    impl Fixture {
        fn new() -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let tmp = tempfile::tempdir().unwrap();
            let dest = tmp.path().join("dest");
            let outside = tmp.path().join("outside");
            fs::create_dir(&dest).unwrap();
            fs::create_dir(&outside).unwrap();
            let evil = format!(
                "evil-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            Fixture {
                tmp,
                dest,
                outside,
                evil,
            }
        }

        fn archive(&self, file_name: &str) -> PathBuf {
            self.tmp.path().join(file_name)
        }

        fn assert_nothing_outside(&self) {
            assert_eq!(fs::read_dir(&self.outside).unwrap().count(), 0);
            let tmp_evil = Path::new("/tmp").join(&self.evil);
            assert!(
                fs::symlink_metadata(&tmp_evil).is_err(),
                "{tmp_evil:?} exists"
            );
            let siblings: Vec<_> = fs::read_dir(self.tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("kplug-x") && n != "dest" && n != "outside")
                .collect();
            assert!(siblings.is_empty(), "written next to dest: {siblings:?}");
        }

        /// Extract, expect a refusal mentioning all of `needles`, and check
        /// nothing escaped.
        fn refused(
            &self,
            archive: &Path,
            kind: ArchiveKind,
            limits: Limits,
            needles: &[&str],
        ) -> Error {
            let name = archive.file_name().unwrap().to_str().unwrap();
            let err = extract(archive, kind, name, &self.dest, limits).unwrap_err();
            let text = err.to_string();
            for needle in needles {
                assert!(text.contains(needle), "{text:?} lacks {needle:?}");
            }
            self.assert_nothing_outside();
            err
        }
    }

    /// One tar entry, written with raw header bytes so hostile names
    /// (`..`, absolute) and link targets get through the builder.
    struct T<'a> {
        name: &'a str,
        kind: EntryType,
        mode: u32,
        data: &'a [u8],
        link: &'a str,
    }

    fn file<'a>(name: &'a str, data: &'a [u8], mode: u32) -> T<'a> {
        T {
            name,
            kind: EntryType::Regular,
            mode,
            data,
            link: "",
        }
    }
    fn dir(name: &str) -> T<'_> {
        T {
            name,
            kind: EntryType::Directory,
            mode: 0o755,
            data: b"",
            link: "",
        }
    }
    fn link<'a>(name: &'a str, target: &'a str) -> T<'a> {
        T {
            name,
            kind: EntryType::Symlink,
            mode: 0o777,
            data: b"",
            link: target,
        }
    }
    fn special(name: &str, kind: EntryType) -> T<'_> {
        T {
            name,
            kind,
            mode: 0o644,
            data: b"",
            link: "",
        }
    }

    fn header(t: &T<'_>, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name[..t.name.len()].copy_from_slice(t.name.as_bytes());
        old.linkname[..t.link.len()].copy_from_slice(t.link.as_bytes());
        h.set_entry_type(t.kind);
        h.set_mode(t.mode);
        h.set_size(size);
        h.set_cksum();
        h
    }

    fn write_tgz(path: &Path, entries: &[T<'_>]) {
        let gz = GzEncoder::new(File::create(path).unwrap(), Compression::fast());
        let mut b = tar::Builder::new(gz);
        for t in entries {
            b.append(&header(t, t.data.len() as u64), t.data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    fn write_zip(path: &Path, files: &[(&str, &[u8], u32)], links: &[(&str, &str)]) {
        let mut z = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, data, mode) in files {
            z.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))
                .unwrap();
            z.write_all(data).unwrap();
        }
        for (name, target) in links {
            z.add_symlink(*name, *target, SimpleFileOptions::default())
                .unwrap();
        }
        z.finish().unwrap();
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn small() -> Limits {
        Limits {
            max_bytes: MIB,
            max_entries: 100,
        }
    }

    #[test]
    fn tar_gz_unpacks_nested_files_and_keeps_the_exec_bit() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        write_tgz(
            &a,
            &[
                dir("./pkg/"),
                file("./pkg/bin/kplug-x", b"#!/bin/sh\n", 0o4775),
                file("./pkg/README", b"hello", 0o666),
                link("pkg/kplug-x", "bin/kplug-x"),
            ],
        );
        let n = extract(&a, ArchiveKind::TarGz, "x", &fx.dest, Limits::default()).unwrap();
        assert_eq!(n, 15);
        let bin = fx.dest.join("pkg/bin/kplug-x");
        assert_eq!(fs::read(&bin).unwrap(), b"#!/bin/sh\n");
        assert_eq!(mode_of(&bin), 0o755);
        assert_eq!(mode_of(&fx.dest.join("pkg/README")), 0o644);
        assert_eq!(
            fs::read_link(fx.dest.join("pkg/kplug-x")).unwrap(),
            Path::new("bin/kplug-x")
        );
        fx.assert_nothing_outside();
    }

    #[test]
    fn zip_unpacks_nested_files_and_keeps_the_exec_bit() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.zip");
        write_zip(
            &a,
            &[
                ("bin/kplug-x", b"#!/bin/sh\n", 0o755),
                ("README.md", b"hi", 0o644),
            ],
            &[("kplug-x", "bin/kplug-x")],
        );
        let n = extract(&a, ArchiveKind::Zip, "x", &fx.dest, Limits::default()).unwrap();
        assert_eq!(n, 12);
        assert_eq!(mode_of(&fx.dest.join("bin/kplug-x")), 0o755);
        assert_eq!(mode_of(&fx.dest.join("README.md")), 0o644);
        assert!(is_symlink(&fx.dest.join("kplug-x")));
        fx.assert_nothing_outside();
    }

    #[test]
    fn plain_binary_is_copied_executable() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x_linux_amd64");
        fs::write(&a, b"\x7fELF").unwrap();
        let n = extract(
            &a,
            ArchiveKind::Binary,
            "kplug-x_linux_amd64",
            &fx.dest,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(n, 4);
        assert_eq!(mode_of(&fx.dest.join("kplug-x_linux_amd64")), 0o755);
        let err =
            extract(&a, ArchiveKind::Binary, "../x", &fx.dest, Limits::default()).unwrap_err();
        assert!(err.to_string().contains("not a plain file name"));
        fx.assert_nothing_outside();
    }

    #[test]
    fn tar_path_escapes_are_refused() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        write_tgz(
            &a,
            &[
                file("ok", b"1", 0o644),
                file("../outside/evil", b"x", 0o644),
            ],
        );
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &[
                "refusing entry `../outside/evil` in kplug-x.tar.gz",
                "points outside the archive",
            ],
        );

        let abs = format!("/tmp/{}", fx.evil);
        write_tgz(&a, &[file(&abs, b"x", 0o644)]);
        fx.refused(&a, ArchiveKind::TarGz, small(), &[&abs, "absolute path"]);

        write_tgz(&a, &[file("./", b"x", 0o644)]);
        fx.refused(&a, ArchiveKind::TarGz, small(), &["path is empty"]);
    }

    #[test]
    fn tar_symlinks_out_are_refused() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        write_tgz(&a, &[link("sub/link", "../../outside")]);
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`sub/link`", "points outside the archive"],
        );

        write_tgz(&a, &[link("link", "/etc")]);
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`link`", "absolute path `/etc`"],
        );

        // Each link stays inside lexically; together, `up/..` climbs out.
        write_tgz(&a, &[link("sub/up", ".."), link("l", "sub/up/../outside")]);
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`l`", "through the archive's other links, points outside"],
        );
        assert!(!is_symlink(&fx.dest.join("l")));

        // A chain through another link: `b/b` is `sub/b/b`, which is `b`…
        // each `..` then climbs from wherever the links lead.
        write_tgz(
            &a,
            &[
                link("sub/b", ".."),
                link("b", "sub/b"),
                link("esc", "b/b/b/../../../bin/sh"),
            ],
        );
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`esc`", "points outside"],
        );
        assert!(!is_symlink(&fx.dest.join("esc")));

        // A loop is refused rather than followed forever.
        write_tgz(&a, &[link("a", "b"), link("b", "a"), link("c", "a/x")]);
        fx.refused(&a, ArchiveKind::TarGz, small(), &["points outside"]);
    }

    #[test]
    fn link_chains_that_stay_inside_are_kept() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        write_tgz(
            &a,
            &[
                file("real/lib/x", b"#!/bin/sh\n", 0o755),
                link("lib", "real/lib"),
                link("bin/kplug-x", "../lib/x"),
                link("up", "real/.."),
            ],
        );
        extract(&a, ArchiveKind::TarGz, "x.tar.gz", &fx.dest, small()).unwrap();
        assert_eq!(
            fs::read(fx.dest.join("bin/kplug-x")).unwrap(),
            b"#!/bin/sh\n"
        );
        assert!(is_symlink(&fx.dest.join("up")));
        fx.assert_nothing_outside();
    }

    #[test]
    fn tar_entries_through_symlinks_are_refused() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        let through = format!("d/{}", fx.evil);
        write_tgz(&a, &[link("d", "/tmp"), file(&through, b"x", 0o644)]);
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`d`", "absolute path `/tmp`"],
        );

        // Even a link that stays inside may not be written through.
        let fx = Fixture::new();
        write_tgz(
            &a,
            &[dir("sub"), link("d", "sub"), file("d/x", b"x", 0o644)],
        );
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`d/x`", "goes through the symbolic link `d`"],
        );
        assert!(!fx.dest.join("sub/x").exists());
    }

    #[test]
    fn tar_hard_links_and_special_files_are_refused() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        let mut hard = special("h", EntryType::Link);
        hard.link = "/etc/passwd";
        write_tgz(&a, &[file("f", b"1", 0o644), hard]);
        fx.refused(&a, ArchiveKind::TarGz, small(), &["`h`", "hard link"]);

        let mut inner = special("h", EntryType::Link);
        inner.link = "f";
        write_tgz(&a, &[inner]);
        fx.refused(&a, ArchiveKind::TarGz, small(), &["`h`", "hard link"]);

        write_tgz(&a, &[special("null", EntryType::Char)]);
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`null`", "character device"],
        );
        write_tgz(&a, &[special("sda", EntryType::Block)]);
        fx.refused(&a, ArchiveKind::TarGz, small(), &["`sda`", "block device"]);
        write_tgz(&a, &[special("pipe", EntryType::Fifo)]);
        fx.refused(&a, ArchiveKind::TarGz, small(), &["`pipe`", "FIFO"]);
    }

    #[test]
    fn tar_duplicate_entries_are_refused() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        write_tgz(
            &a,
            &[
                file("kplug-x", b"good", 0o755),
                file("kplug-x", b"evil", 0o755),
            ],
        );
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`kplug-x`", "more than once"],
        );
        assert_eq!(fs::read(fx.dest.join("kplug-x")).unwrap(), b"good");

        let fx = Fixture::new();
        write_tgz(&a, &[link("kplug-x", "a"), file("kplug-x", b"evil", 0o755)]);
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["`kplug-x`", "more than once"],
        );
    }

    #[test]
    fn pax_global_header_is_skipped() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        let comment = b"52 comment=0123456789012345678901234567890123456789\n";
        write_tgz(
            &a,
            &[
                T {
                    name: "pax_global_header",
                    kind: EntryType::XGlobalHeader,
                    mode: 0o666,
                    data: comment,
                    link: "",
                },
                file("kplug-x", b"1", 0o755),
            ],
        );
        extract(&a, ArchiveKind::TarGz, "x", &fx.dest, small()).unwrap();
        assert!(!fx.dest.join("pax_global_header").exists());
        assert!(fx.dest.join("kplug-x").is_file());
    }

    /// 1 MiB of zeros as one gzip member, compressed once for all tests.
    fn zeros_member() -> &'static [u8] {
        static MEMBER: OnceLock<Vec<u8>> = OnceLock::new();
        MEMBER.get_or_init(|| {
            let mut gz = GzEncoder::new(Vec::new(), Compression::best());
            gz.write_all(&vec![0; MIB as usize]).unwrap();
            gz.finish().unwrap()
        })
    }

    #[test]
    fn tar_gz_bomb_stops_at_the_cap() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        {
            let mut out = io::BufWriter::new(File::create(&a).unwrap());
            let mut first = GzEncoder::new(Vec::new(), Compression::fast());
            first
                .write_all(header(&file("big", b"", 0o644), 1 << 30).as_bytes())
                .unwrap();
            out.write_all(&first.finish().unwrap()).unwrap();
            for _ in 0..1000 {
                out.write_all(zeros_member()).unwrap();
            }
        }
        assert!(fs::metadata(&a).unwrap().len() < 8 * MIB);
        let limits = Limits {
            max_bytes: 8 * MIB,
            max_entries: 100,
        };
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            limits,
            &[
                "kplug-x.tar.gz unpacks to more than 8 MiB; refusing (a decompression bomb?)",
                "`big`",
            ],
        );
        let written = fs::metadata(fx.dest.join("big")).unwrap().len();
        assert!((7 * MIB..=8 * MIB).contains(&written), "{written}");
    }

    #[test]
    fn tar_metadata_bomb_is_refused() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        // A directory "holding" 2 MiB: the tar crate would skip (decompress)
        // it without us ever seeing a byte.
        let zeros = vec![0; 2 * MIB as usize];
        write_tgz(
            &a,
            &[
                T {
                    name: "d",
                    kind: EntryType::Directory,
                    mode: 0o755,
                    data: &zeros,
                    link: "",
                },
                file("f", b"1", 0o644),
            ],
        );
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["more tar metadata", "after entry `d`"],
        );
    }

    #[test]
    fn too_many_entries_are_refused() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.gz");
        let names: Vec<String> = (0..101).map(|i| format!("f{i:03}")).collect();
        let entries: Vec<T<'_>> = names.iter().map(|n| file(n, b"1", 0o644)).collect();
        write_tgz(&a, &entries);
        fx.refused(
            &a,
            ArchiveKind::TarGz,
            small(),
            &["more than 100 entries", "`f100`"],
        );
        assert!(fx.dest.join("f099").exists());
        assert!(!fx.dest.join("f100").exists());

        let fx = Fixture::new();
        write_tgz(&a, &entries[..100]);
        extract(&a, ArchiveKind::TarGz, "x", &fx.dest, small()).unwrap();

        let z = fx.archive("kplug-x.zip");
        let files: Vec<(&str, &[u8], u32)> = names
            .iter()
            .map(|n| (n.as_str(), &b"1"[..], 0o644))
            .collect();
        write_zip(&z, &files, &[]);
        let fx = Fixture::new();
        fx.refused(
            &z,
            ArchiveKind::Zip,
            small(),
            &["101 entries, more than the limit of 100"],
        );
        assert_eq!(fs::read_dir(&fx.dest).unwrap().count(), 0);
    }

    #[test]
    fn zip_escapes_are_refused() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.zip");
        write_zip(&a, &[("../evil", b"x", 0o644)], &[]);
        fx.refused(
            &a,
            ArchiveKind::Zip,
            small(),
            &["refusing entry `../evil` in kplug-x.zip", "points outside"],
        );

        let abs = format!("/tmp/{}", fx.evil);
        write_zip(&a, &[(abs.as_str(), b"x", 0o644)], &[]);
        fx.refused(&a, ArchiveKind::Zip, small(), &[&abs, "absolute path"]);

        write_zip(&a, &[], &[("link", "../../outside")]);
        fx.refused(
            &a,
            ArchiveKind::Zip,
            small(),
            &["`link`", "points outside the archive"],
        );

        write_zip(&a, &[], &[("link", "/etc")]);
        fx.refused(
            &a,
            ArchiveKind::Zip,
            small(),
            &["`link`", "absolute path `/etc`"],
        );
    }

    #[test]
    fn zip_bytes_are_capped() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.zip");
        write_zip(&a, &[("big", &vec![0; 2 * MIB as usize], 0o644)], &[]);
        fx.refused(
            &a,
            ArchiveKind::Zip,
            small(),
            &["unpacks to more than 1 MiB", "decompression bomb"],
        );
        assert!(fs::metadata(fx.dest.join("big")).unwrap().len() <= MIB);
    }

    #[test]
    fn tar_xz_is_not_supported() {
        let fx = Fixture::new();
        let a = fx.archive("kplug-x.tar.xz");
        fs::write(&a, b"\xfd7zXZ\0").unwrap();
        let err = fx.refused(
            &a,
            ArchiveKind::TarXz,
            small(),
            &[
                "kplug-x.tar.xz",
                "unpacking .tar.xz is not supported by this kplug",
            ],
        );
        assert!(err.hints()[0].contains(".tar.gz or .zip"));
    }
}
