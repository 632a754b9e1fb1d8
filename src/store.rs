//! The plugin store under `$KPLUG_HOME`.
//!
//! ```text
//! plugins/<name>/<version>/…            an unpacked release
//! plugins/<name>/current -> <version>   swapped atomically (rename)
//! plugins/<name>/receipt.yaml           where each version came from, which scopes want which
//! plugins/<name>/scopes/<kind>/<id> -> ../../<version>   a cluster's or project's version (see `scope`)
//! cache/blobs/sha256/<hex>              verified artifacts, by content
//! .staging/<n>/                         work in progress; removed on the next run
//! .lock                                 one writer at a time
//! ```
//!
//! This module owns that layout and every change to it. Readers
//! (`discovery`) never take the lock: each change becomes visible by one
//! `rename`, so they see the old state or the new one, never a mix. Writers
//! hold [`StoreLock`] (an `flock`, released by the kernel when the holder
//! dies, so a killed kplug never leaves a stale lock); staging directories
//! left by a killed kplug are removed by the next writer. A change of
//! several steps is a [`Transaction`], which takes itself back unless it
//! is committed.
//!
//! What is read back from disk — a receipt's fields, the `current` link —
//! is checked before it names a path: a version is a semantic version, a
//! sha256 is 64 hex digits. Anything else is a broken store entry, never a
//! path outside the store.

use crate::clock;
use crate::config::Config;
use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// How an artifact's bytes were checked. Recorded in receipts under the
/// names shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verification {
    /// The sha256 GitHub computed for the release asset.
    #[serde(rename = "github-digest")]
    GitHubDigest,
    /// A checksums file of the same release.
    #[serde(rename = "checksums-file")]
    ChecksumsFile,
    /// The sha256 the user gave with `--sha256`.
    #[serde(rename = "--sha256")]
    Sha256Flag,
    /// A local file, taken as it is.
    #[serde(rename = "local-file")]
    LocalFile,
    /// A local directory, copied as it is.
    #[serde(rename = "local-dir")]
    LocalDir,
    /// The sha256 an inventory lists for the artifact.
    #[serde(rename = "inventory")]
    Inventory,
    /// The digest a registry's manifest gives for the layer.
    #[serde(rename = "oci-digest")]
    OciDigest,
    /// The SHA-256 an Omaha server gives for the package.
    #[serde(rename = "omaha-sha256")]
    Omaha,
    /// Only the SHA-1 an Omaha server gives for the package: weak.
    #[serde(rename = "omaha-sha1")]
    OmahaSha1,
    /// Nothing was published to check it against: TLS alone.
    #[serde(rename = "none")]
    None,
    /// Written by a kplug that knows a way this one does not.
    #[serde(other)]
    Unknown,
}

impl Verification {
    /// For the install summary.
    pub fn describe(self) -> &'static str {
        match self {
            Verification::GitHubDigest => "verified against GitHub's digest",
            Verification::ChecksumsFile => "verified against the release's checksums",
            Verification::Sha256Flag => "verified against --sha256",
            Verification::LocalFile => "a local file",
            Verification::LocalDir => "a local directory",
            Verification::Inventory => "verified against the inventory",
            Verification::OciDigest => "verified against the registry manifest's digest",
            Verification::Omaha => "verified against the Omaha server's sha256",
            Verification::OmahaSha1 => "checked only against the Omaha server's SHA-1 (weak)",
            Verification::None => "not verified: no checksum published",
            Verification::Unknown => "recorded",
        }
    }
}

/// Largest receipt read (a receipt lists a handful of versions).
const MAX_RECEIPT: u64 = 1024 * 1024;

/// The store of one `KPLUG_HOME`.
pub struct Store {
    root: PathBuf,
}

/// Where an installed version came from, and what was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledVersion {
    pub version: String,
    /// `owner/repo`, a URL, or a local path, as given to `plugin install`;
    /// for an inventory, its address.
    pub source: String,
    /// The configured source it came through (`kplug plugin source add`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The release tag, for sources with releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The artifact's name where it came from (asset or file name).
    pub asset: String,
    /// sha256 of that artifact (of the executable, for a directory).
    pub sha256: String,
    /// How the sha256 was checked.
    pub verified_by: Verification,
    pub installed: String,
    /// Who signed it, and how that key was trusted (`None`: unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<crate::install::signing::Signer>,
    /// The signature, as published (`plugin verify` checks it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// What the signature covers when not the artifact's bytes: an OCI
    /// index digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_over: Option<String>,
    /// sha256 of the installed executable (`plugin verify` compares it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable_sha256: Option<String>,
}

/// `plugins/<name>/receipt.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub name: String,
    /// Pinned plugins are skipped by updates.
    #[serde(default)]
    pub pinned: bool,
    /// Every installed version, oldest first.
    #[serde(default)]
    pub versions: Vec<InstalledVersion>,
    /// The version that was current before the current one (the target of
    /// `kplug plugin rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The scopes that want a version (`cluster/NAME`, `project:/PATH`),
    /// and what they asked for; the standalone want is `current`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub scopes: std::collections::BTreeMap<String, ScopeWant>,
    /// The keys later versions must be signed by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<crate::install::signing::Pinned>,
    /// A version of it was signed: an unsigned one is refused from then on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signed: bool,
}

/// What a scope wants of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeWant {
    /// The installed version it uses.
    pub version: String,
    /// What it asked for (a version, a shortened version or a range).
    pub request: String,
    /// Where it asked for it from (as given; empty: the plugin's sources).
    #[serde(default)]
    pub source: String,
}

/// Which link of a plugin a version is current in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// `current`: the user's own choice.
    Standalone,
    /// `scopes/<key>`.
    Scope(crate::scope::Scope),
}

impl Slot {
    pub fn label(&self) -> String {
        match self {
            Slot::Standalone => "standalone".to_string(),
            Slot::Scope(s) => s.label(),
        }
    }
}

impl Receipt {
    pub fn version(&self, version: &str) -> Option<&InstalledVersion> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// The first field that cannot be trusted to name a path, if any.
    fn problem(&self) -> Option<String> {
        for (i, v) in self.versions.iter().enumerate() {
            if !is_version(&v.version) {
                return Some(format!(
                    "versions[{i}].version `{}` is not a semantic version",
                    crate::ui::escape(&v.version)
                ));
            }
            if !v.sha256.is_empty() && !crate::fsutil::is_sha256(&v.sha256) {
                return Some(format!(
                    "versions[{i}].sha256 `{}` is not a sha256",
                    crate::ui::escape(&v.sha256)
                ));
            }
        }
        for (label, want) in &self.scopes {
            if !is_version(&want.version) || crate::scope::Scope::from_label(label).is_none() {
                return Some(format!(
                    "scopes.`{}` is not a scope with a semantic version",
                    crate::ui::escape(label)
                ));
            }
        }
        match &self.previous {
            Some(p) if !is_version(p) => Some(format!(
                "previous `{}` is not a semantic version",
                crate::ui::escape(p)
            )),
            _ => None,
        }
    }
}

/// Whether `text` may name a version directory: a semantic version, which
/// cannot hold `/`, `..` or anything but letters, digits, `.`, `-`, `+`.
pub fn is_version(text: &str) -> bool {
    semver::Version::parse(text).is_ok()
}

/// An artifact in the cache.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub sha256: String,
    pub size: u64,
    /// `name version` of each installed version whose receipt names it.
    pub used_by: Vec<String>,
}

/// The layout of `$KPLUG_HOME` this kplug reads and writes. A store with a
/// newer one is read-only to it; an older one is migrated under the lock.
///
/// 1: verified artifacts in `cache/blobs/sha256/` (0 kept them under
/// `cache/downloads/<sha256>/<asset>`).
pub const LAYOUT: u32 = 1;

/// A store's layout version and the kplug that wrote it.
#[derive(Debug, Clone)]
pub struct Layout {
    pub version: u32,
    pub writer: String,
}

/// The store's writer lock; released on drop (or when the process dies).
pub struct StoreLock {
    _file: File,
}

/// A staging directory of one step, removed when dropped.
pub struct Staging {
    path: PathBuf,
}

impl Staging {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Empty it, for the next attempt.
    pub fn reset(&self) -> Result<()> {
        let _ = std::fs::remove_dir_all(&self.path);
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("could not create {}", self.path.display()))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Store {
    pub fn new(cfg: &Config) -> Result<Store> {
        Ok(Store {
            root: cfg.home()?.to_path_buf(),
        })
    }

    pub fn plugin_dir(&self, name: &str) -> PathBuf {
        self.root.join("plugins").join(name)
    }

    /// The directory of an installed version. `version` must be a
    /// semantic version ([`is_version`]); callers check what they read.
    pub fn version_dir(&self, name: &str, version: &str) -> PathBuf {
        debug_assert!(is_version(version), "{version:?}");
        self.plugin_dir(name).join(version)
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("cache").join("blobs").join("sha256")
    }

    /// Where kplug 0.1 kept verified downloads (read, never written).
    fn legacy_downloads_dir(&self) -> PathBuf {
        self.root.join("cache").join("downloads")
    }

    fn staging_root(&self) -> PathBuf {
        self.root.join(".staging")
    }

    /// Take the writer lock, waiting for another kplug if needed (Ctrl-C
    /// aborts the wait), then clear what killed writers left in staging.
    pub fn lock(&self) -> Result<StoreLock> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("could not create {}", self.root.display()))?;
        let path = self.root.join(".lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("could not open the store lock {}", path.display()))?;
        // SAFETY: flock on an open descriptor has no memory-safety conditions.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = crate::fsutil::read_bounded(&path, 32)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| s.trim().bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or_default();
            eprintln!(
                "waiting for another kplug (pid {}) to finish changing the plugin store…",
                holder.trim()
            );
            let _wait = crate::exec::interrupt::abortable("waiting for the plugin store's lock");
            // SAFETY: as above.
            while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(Error::new("could not lock the plugin store").caused_by(e));
                }
            }
        }
        // The pid is only for the message above; the flock is the lock.
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        // A newer kplug's store is not this one's to change.
        let found = self.layout()?;
        if found.version > LAYOUT {
            return Err(newer_layout(&self.root, &found));
        }
        // Whoever left staging behind is gone: we hold the lock.
        let _ = std::fs::remove_dir_all(self.staging_root());
        if found.version < LAYOUT {
            self.migrate(found.version)?;
        }
        Ok(StoreLock { _file: file })
    }

    /// The writer lock for `kplug self`, which must work on a store of any
    /// layout: it is how a kplug too old for the store gets replaced. No
    /// layout check or migration (the new kplug does those).
    pub fn lock_for_self(&self) -> Result<StoreLock> {
        let found = self.layout()?;
        if found.version <= LAYOUT {
            return self.lock();
        }
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("could not create {}", self.root.display()))?;
        let path = self.root.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("could not open the store lock {}", path.display()))?;
        let _wait = crate::exec::interrupt::abortable("waiting for the plugin store's lock");
        // SAFETY: flock on an open descriptor has no memory-safety conditions.
        while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::new("could not lock the plugin store").caused_by(e));
            }
        }
        let _ = std::fs::remove_dir_all(self.staging_root());
        Ok(StoreLock { _file: file })
    }

    /// The layout version of the store (0: one older than layouts).
    pub fn layout(&self) -> Result<Layout> {
        read_layout(&self.root)
    }
}

/// The error for a store of a newer layout than this kplug's.
fn newer_layout(root: &Path, found: &Layout) -> Error {
    let back = if is_version(&found.writer) {
        let installed = root
            .join("self")
            .join(&found.writer)
            .join("kplug")
            .is_file();
        format!(
            "go back to that kplug with `kplug self use {}`{}, or update this one with `kplug self update`",
            found.writer,
            if installed { "" } else { " (it downloads it)" }
        )
    } else {
        "update this kplug with `kplug self update`".to_string()
    };
    Error::new(format!(
        "this kplug ({}) cannot change {}: it has layout {}, written by kplug {}, newer than the layout {LAYOUT} it knows",
        crate::version(),
        root.display(),
        found.version,
        crate::ui::escape(&found.writer)
    ))
    .with_hint(back)
    .with_hint("reading still works")
}

/// Refuse a change to `$KPLUG_HOME` when a newer kplug's layout is there
/// (for writers outside the store lock: `plugin disable`, cluster state).
pub fn check_layout(cfg: &Config) -> Result<()> {
    let root = cfg.home()?;
    let found = read_layout(root)?;
    if found.version > LAYOUT {
        return Err(newer_layout(root, &found));
    }
    Ok(())
}

/// Whether caches may be written (not into a newer kplug's layout). Cheap:
/// one small read; a cache a newer kplug keeps is left to it.
pub fn layout_writable(cfg: &Config) -> bool {
    cfg.home_opt()
        .is_none_or(|h| read_layout(h).is_ok_and(|l| l.version <= LAYOUT))
}

fn read_layout(root: &Path) -> Result<Layout> {
    let path = root.join("layout");
    let text = match crate::fsutil::read_bounded(&path, 4096) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(crate::fsutil::ReadError::Missing) => {
            return Ok(Layout {
                version: 0,
                writer: "0.1.0".into(),
            });
        }
        Err(e) => {
            return Err(Error::new(format!("could not read {}", path.display())).caused_by(e));
        }
    };
    let mut lines = text.lines();
    let version = lines
        .next()
        .and_then(|l| l.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            Error::new(format!("{} is not a layout version", path.display()))
                .with_hint("it holds one number; remove the file to let kplug write it again")
        })?;
    let writer = lines
        .find_map(|l| l.strip_prefix("written by kplug "))
        .unwrap_or("an unknown version")
        .trim()
        .chars()
        .take(64)
        .collect();
    Ok(Layout { version, writer })
}

impl Store {
    /// Bring an older layout up to this one, once, under the lock; the
    /// layout file is written last, so a migration cut short runs again.
    fn migrate(&self, from: u32) -> Result<()> {
        if from < 1 {
            self.migrate_downloads();
        }
        let path = self.root.join("layout");
        let text = format!("{LAYOUT}\nwritten by kplug {}\n", crate::version());
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("could not write {}", path.display()))
    }

    /// Move kplug 0.1's `cache/downloads/<sha256>/<asset>` into the blob
    /// cache, once (under the lock; each move is a rename). Best effort: a
    /// file that cannot be moved is still read where it is.
    fn migrate_downloads(&self) {
        let old = self.legacy_downloads_dir();
        let Ok(entries) = std::fs::read_dir(&old) else {
            return;
        };
        let _ = std::fs::create_dir_all(self.blobs_dir());
        for e in entries.flatten() {
            let Some(sha) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Some(dest) = self.blob_path(&sha) else {
                continue;
            };
            let files = std::fs::read_dir(e.path()).into_iter().flatten().flatten();
            for f in files {
                let ok = f.file_type().is_ok_and(|t| t.is_file())
                    && crate::fsutil::sha256_file(&f.path()).is_ok_and(|h| h == sha);
                if ok && !dest.exists() {
                    let _ = std::fs::rename(f.path(), &dest);
                }
            }
            let _ = std::fs::remove_dir_all(e.path());
        }
        let _ = std::fs::remove_dir(&old);
    }

    /// A fresh staging directory (requires the lock), removed when dropped.
    pub fn staging(&self, _lock: &StoreLock) -> Result<Staging> {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = self
            .staging_root()
            .join(N.fetch_add(1, Ordering::Relaxed).to_string());
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("could not create {}", path.display()))?;
        Ok(Staging { path })
    }

    /// The receipt of `name` (empty when it has none). A receipt that does
    /// not parse, or holds a field that cannot name a path, is an error
    /// that names the file.
    pub fn receipt(&self, name: &str) -> Result<Receipt> {
        let path = self.plugin_dir(name).join("receipt.yaml");
        let corrupt = |why: String| {
            Error::new(format!("the receipt {} is corrupt", path.display()))
                .caused_by(why)
                .with_hint(format!(
                    "reinstall the plugin, or remove it with `kplug plugin remove {name}`"
                ))
        };
        let bytes = match crate::fsutil::read_bounded(&path, MAX_RECEIPT) {
            Ok(b) => b,
            Err(crate::fsutil::ReadError::Missing) => {
                return Ok(Receipt {
                    name: name.into(),
                    ..Receipt::default()
                });
            }
            Err(e) => return Err(corrupt(e.to_string())),
        };
        let text = String::from_utf8(bytes).map_err(|_| corrupt("it is not UTF-8".into()))?;
        let mut receipt: Receipt = crate::protocol::yaml::from_str(&text).map_err(corrupt)?;
        if let Some(p) = receipt.problem() {
            return Err(corrupt(p));
        }
        receipt.name = name.to_string();
        Ok(receipt)
    }

    fn receipt_path(&self, name: &str) -> PathBuf {
        self.plugin_dir(name).join("receipt.yaml")
    }

    /// Write `name`'s receipt atomically; the temp file lives in staging,
    /// so a writer killed half-way leaves nothing in the plugin's directory.
    pub fn write_receipt(&self, lock: &StoreLock, name: &str, receipt: &Receipt) -> Result<()> {
        let path = self.receipt_path(name);
        let mut receipt = receipt.clone();
        receipt.name = name.to_string();
        let text = serde_yaml::to_string(&receipt).expect("a receipt serialises");
        let scratch = self.staging(lock)?;
        std::fs::create_dir_all(self.plugin_dir(name))
            .with_context(|| format!("could not create {}", self.plugin_dir(name).display()))?;
        crate::fsutil::write_atomic_via(&path, text.as_bytes(), scratch.path())
            .with_context(|| format!("could not write {}", path.display()))
    }

    /// Names of the plugins in the store (those with a `current` link).
    pub fn plugins(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root.join("plugins")) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.') && self.current(n).is_some())
            .collect();
        out.sort();
        out
    }

    /// The version `current` points to, if the plugin is installed and the
    /// link names a version (a link to anything else is a broken entry).
    pub fn current(&self, name: &str) -> Option<String> {
        let target = std::fs::read_link(self.plugin_dir(name).join("current")).ok()?;
        let v = target.to_str()?;
        is_version(v).then(|| v.to_string())
    }

    /// The version current in `slot`.
    pub fn current_in(&self, name: &str, slot: &Slot) -> Option<String> {
        match slot {
            Slot::Standalone => self.current(name),
            Slot::Scope(scope) => self.scope_version(name, &scope.key()),
        }
    }

    fn scope_version(&self, name: &str, key: &str) -> Option<String> {
        let target = std::fs::read_link(self.plugin_dir(name).join("scopes").join(key)).ok()?;
        let v = target.to_str()?.strip_prefix(crate::scope::LINK_PREFIX)?;
        is_version(v).then(|| v.to_string())
    }

    /// Each scope link of `name`: its key and version.
    pub fn scope_links(&self, name: &str) -> Vec<(String, String)> {
        let scopes = self.plugin_dir(name).join("scopes");
        let mut out = Vec::new();
        for kind in ["cluster", "project"] {
            let Ok(entries) = std::fs::read_dir(scopes.join(kind)) else {
                continue;
            };
            for e in entries.flatten() {
                let Some(id) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let key = format!("{kind}/{id}");
                if crate::scope::is_key(&key)
                    && let Some(v) = self.scope_version(name, &key)
                {
                    out.push((key, v));
                }
            }
        }
        out.sort();
        out
    }

    /// Remove a scope's link to `name` and its record in the receipt; a
    /// plugin left with no `current` and no scope is removed.
    pub fn drop_scope(
        &self,
        lock: &StoreLock,
        name: &str,
        scope: &crate::scope::Scope,
    ) -> Result<()> {
        let mut tx = self.transaction(lock);
        tx.switch_in(name, &Slot::Scope(scope.clone()), None)?;
        tx.update_receipt(name, |r| {
            r.scopes.remove(&scope.label());
        })?;
        tx.commit();
        if self.current(name).is_none() && self.scope_links(name).is_empty() {
            self.remove_plugin(lock, name)?;
        }
        Ok(())
    }

    /// The scopes that want `name`, when only scopes do (no standalone
    /// `current`): such a plugin is `kplug plugin sync`'s to manage.
    pub fn scope_only(&self, name: &str) -> Option<Vec<String>> {
        if self.current(name).is_some() || self.scope_links(name).is_empty() {
            return None;
        }
        let receipt = self.receipt(name).unwrap_or_default();
        Some(receipt.scopes.keys().cloned().collect())
    }

    /// Every plugin in the store, standalone or wanted only by a scope.
    pub fn all_plugins(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root.join("plugins")) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| {
                !n.starts_with('.')
                    && crate::protocol::names::validate(n).is_ok()
                    && (self.current(n).is_some() || !self.scope_links(n).is_empty())
            })
            .collect();
        out.sort();
        out
    }

    /// What is wrong with `name`'s store entry when `kplug NAME` cannot run
    /// it although its directory exists; `None` when there is no entry.
    pub fn broken_entry(&self, name: &str) -> Option<String> {
        let dir = self.plugin_dir(name);
        if !dir.is_dir() {
            return None;
        }
        let link = dir.join("current");
        let Ok(target) = std::fs::read_link(&link) else {
            if self.scope_only(name).is_some() {
                // Not broken: wanted by scopes only (see `scope_only`).
                return None;
            }
            return Some(format!("{} has no `current` link", dir.display()));
        };
        let shown = crate::ui::escape(&target.to_string_lossy()).into_owned();
        let Some(v) = target.to_str().filter(|v| is_version(v)) else {
            return Some(format!(
                "{} points to `{shown}`, which is not a version of the plugin",
                link.display()
            ));
        };
        let exe = self
            .version_dir(name, v)
            .join(format!("{}{name}", crate::protocol::EXECUTABLE_PREFIX));
        if !self.version_dir(name, v).is_dir() {
            return Some(format!(
                "{} points to version {v}, whose directory is missing",
                link.display()
            ));
        }
        let executable = std::fs::metadata(&exe).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        });
        if !executable {
            return Some(format!("{} is missing or not executable", exe.display()));
        }
        None
    }

    /// Installed version directories of `name` (only those named like a
    /// version; anything else in the plugin's directory is not one).
    pub fn installed_versions(&self, name: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.plugin_dir(name)) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| is_version(n))
            .collect();
        out.sort();
        out
    }

    /// Begin a change of several steps.
    pub fn transaction<'a>(&'a self, lock: &'a StoreLock) -> Transaction<'a> {
        Transaction {
            store: self,
            lock,
            undo: Vec::new(),
            done: false,
        }
    }

    /// Remove a plugin from the store: renamed away first (so it disappears
    /// at once), then deleted.
    pub fn remove_plugin(&self, lock: &StoreLock, name: &str) -> Result<()> {
        let dir = self.plugin_dir(name);
        let staging = self.staging(lock)?;
        std::fs::rename(&dir, staging.path().join("removed"))
            .with_context(|| format!("could not remove {}", dir.display()))
    }

    /// The cached artifact of `sha256`, if there is a file (not checked).
    pub fn blob_file(&self, sha256: &str) -> Option<PathBuf> {
        self.blob_path(sha256).filter(|p| p.is_file())
    }

    fn blob_path(&self, sha256: &str) -> Option<PathBuf> {
        crate::fsutil::is_sha256(sha256).then(|| self.blobs_dir().join(sha256))
    }

    /// The cached artifact with this sha256, if it is there and still has
    /// that hash (it is hashed again: the cache is only a hint).
    pub fn cached_blob(&self, sha256: &str, asset: &str) -> Option<PathBuf> {
        let good = |p: PathBuf| {
            crate::fsutil::sha256_file(&p)
                .ok()
                .filter(|h| h == sha256)
                .map(|_| p)
        };
        let blob = self.blob_path(sha256)?;
        if let Some(p) = good(blob) {
            return Some(p);
        }
        // kplug 0.1 kept `downloads/<sha256>/<asset name>`.
        let plain =
            !asset.is_empty() && asset != "." && asset != ".." && !asset.contains(['/', '\0']);
        plain
            .then(|| self.legacy_downloads_dir().join(sha256).join(asset))
            .and_then(good)
    }

    /// Keep a verified artifact (a download in staging, which is moved) in
    /// the cache under its sha256.
    pub fn keep_blob(&self, _lock: &StoreLock, file: &Path, sha256: &str) -> Result<()> {
        let dest = self
            .blob_path(sha256)
            .ok_or_else(|| Error::new(format!("`{sha256}` is not a sha256")))?;
        if dest.is_file() {
            return Ok(());
        }
        let dir = self.blobs_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let failed = || format!("could not keep the download in {}", dest.display());
        // A download in staging is kplug's to move; any other file (an
        // inventory's artifact on a shared disk) is the user's: copied,
        // through a temp name so a half copy is never a blob.
        if file.starts_with(self.staging_root()) && std::fs::rename(file, &dest).is_ok() {
            return Ok(());
        }
        let tmp = tempfile::NamedTempFile::new_in(&dir).with_context(failed)?;
        std::fs::copy(file, tmp.path()).with_context(failed)?;
        tmp.persist(&dest)
            .map_err(|e| e.error)
            .with_context(failed)?;
        Ok(())
    }

    /// Whether any plugin's receipt still names the artifact `sha256`; a
    /// receipt that cannot be read might, so it counts as naming it.
    fn blob_in_use(&self, sha256: &str) -> bool {
        let Ok(entries) = std::fs::read_dir(self.root.join("plugins")) else {
            return false;
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| crate::protocol::names::validate(n).is_ok())
            .any(|n| match self.receipt(&n) {
                Ok(r) => r.versions.iter().any(|v| v.sha256 == sha256),
                Err(_) => true,
            })
    }

    /// Remove cached artifacts that no receipt names any more.
    pub fn drop_blobs(&self, _lock: &StoreLock, hashes: &[String]) {
        for h in hashes {
            if self.blob_in_use(h) {
                continue;
            }
            if let Some(p) = self.blob_path(h) {
                let _ = std::fs::remove_file(p);
                let _ = std::fs::remove_dir_all(self.legacy_downloads_dir().join(h));
            }
        }
    }

    /// Every artifact in the cache, with the installed versions whose
    /// receipts name it, largest first; and the receipts that could not be
    /// read (whose artifacts are therefore unknown).
    pub fn blobs(&self) -> (Vec<Blob>, Vec<Error>) {
        let mut users: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut unreadable = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.root.join("plugins")) {
            for name in entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
            {
                if crate::protocol::names::validate(&name).is_err() {
                    continue;
                }
                match self.receipt(&name) {
                    Ok(r) => {
                        for v in r.versions {
                            users
                                .entry(v.sha256)
                                .or_default()
                                .push(format!("{name} {}", v.version));
                        }
                    }
                    Err(e) => unreadable.push(e),
                }
            }
        }
        let mut out: Vec<Blob> = std::fs::read_dir(self.blobs_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let sha256 = e.file_name().to_str()?.to_string();
                if !crate::fsutil::is_sha256(&sha256) {
                    return None;
                }
                let meta = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
                Some(Blob {
                    used_by: users.remove(&sha256).unwrap_or_default(),
                    sha256,
                    size: meta.len(),
                })
            })
            .collect();
        out.sort_by(|a, b| b.size.cmp(&a.size).then(a.sha256.cmp(&b.sha256)));
        (out, unreadable)
    }

    /// Remove the cached artifacts no receipt names; what was removed. With
    /// a receipt that cannot be read nothing is removed: it may name any
    /// of them.
    pub fn prune_blobs(&self, _lock: &StoreLock) -> Result<Vec<Blob>> {
        let (blobs, mut unreadable) = self.blobs();
        if !unreadable.is_empty() {
            let e = unreadable.remove(0);
            return Err(Error::new(
                "nothing was pruned: a receipt cannot be read, and it may name any cached artifact",
            )
            .caused_by(e.to_string())
            .with_hint(
                "fix or remove that plugin first (`kplug plugin remove NAME`), then prune again",
            ));
        }
        let unused: Vec<Blob> = blobs.into_iter().filter(|b| b.used_by.is_empty()).collect();
        for b in &unused {
            if let Some(p) = self.blob_path(&b.sha256) {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(unused)
    }

    /// Pin or unpin a plugin; returns whether that changed anything.
    pub fn set_pinned(&self, lock: &StoreLock, name: &str, pinned: bool) -> Result<bool> {
        let mut receipt = self.receipt(name)?;
        if receipt.pinned == pinned {
            return Ok(false);
        }
        receipt.pinned = pinned;
        self.write_receipt(lock, name, &receipt)?;
        Ok(true)
    }

    /// Remove one installed version (never the current one): its directory
    /// (renamed away first, so it disappears at once), its receipt entry, and
    /// its cached artifact unless a receipt still names it. A plugin left
    /// with no version at all is removed.
    pub fn remove_version(&self, lock: &StoreLock, name: &str, version: &str) -> Result<()> {
        if !is_version(version) {
            return Err(Error::new(format!(
                "`{}` is not a version of {name}",
                crate::ui::escape(version)
            )));
        }
        if self.current(name).as_deref() == Some(version) {
            return Err(Error::new(format!(
                "{name} {version} is the current version; it cannot be removed"
            )));
        }
        if self.scope_links(name).iter().any(|(_, v)| v == version) {
            return Err(Error::new(format!(
                "{name} {version} is used by a cluster's or project's scope; it cannot be removed"
            )));
        }
        let dir = self.version_dir(name, version);
        if dir.exists() {
            let staging = self.staging(lock)?;
            std::fs::rename(&dir, staging.path().join("removed"))
                .with_context(|| format!("could not remove {}", dir.display()))?;
        }
        let mut receipt = self.receipt(name)?;
        let gone: Vec<String> = receipt
            .versions
            .iter()
            .filter(|v| v.version == version && !v.sha256.is_empty())
            .map(|v| v.sha256.clone())
            .collect();
        receipt.versions.retain(|v| v.version != version);
        if receipt.previous.as_deref() == Some(version) {
            receipt.previous = None;
        }
        if self.current(name).is_none()
            && self.installed_versions(name).is_empty()
            && self.scope_links(name).is_empty()
        {
            self.remove_plugin(lock, name)?;
        } else {
            self.write_receipt(lock, name, &receipt)?;
        }
        self.drop_blobs(lock, &gone);
        Ok(())
    }

    /// The versions to remove so that at most `keep` stay (at least one):
    /// the current one and the rollback target stay first, then the most
    /// recently installed; directories the receipt does not know go first.
    pub fn prune_plan(&self, name: &str, keep: usize) -> Result<Vec<String>> {
        let receipt = self.receipt(name)?;
        let current = self.current(name);
        let installed = self.installed_versions(name);
        let mut ranked: Vec<String> = Vec::new();
        let mut push = |v: &str| {
            if installed.iter().any(|i| i == v) && !ranked.iter().any(|r| r == v) {
                ranked.push(v.to_string());
            }
        };
        if let Some(c) = &current {
            push(c);
        }
        if let Some(p) = &receipt.previous {
            push(p);
        }
        for v in receipt.versions.iter().rev() {
            push(&v.version);
        }
        for v in &installed {
            push(v);
        }
        // Unknown directories rank last: move them behind the receipt's.
        let known = |v: &String| {
            Some(v) == current.as_ref()
                || receipt.previous.as_ref() == Some(v)
                || receipt.version(v).is_some()
        };
        let (mut order, unknown): (Vec<String>, Vec<String>) = ranked.into_iter().partition(known);
        order.extend(unknown);
        // A version a scope uses is never pruned; it does count as kept.
        let scoped: Vec<String> = self.scope_links(name).into_iter().map(|(_, v)| v).collect();
        Ok(order
            .into_iter()
            .skip(keep.max(1))
            .filter(|v| !scoped.contains(v) && current.as_ref() != Some(v))
            .collect())
    }

    /// Prune to `keep` versions (see [`Store::prune_plan`]); returns the
    /// versions removed.
    pub fn prune(&self, lock: &StoreLock, name: &str, keep: usize) -> Result<Vec<String>> {
        let doomed = self.prune_plan(name, keep)?;
        for v in &doomed {
            self.remove_version(lock, name, v)?;
        }
        Ok(doomed)
    }
}

/// One step of a [`Transaction`] and how to take it back.
enum Undo {
    /// A version directory that was not there before: remove it.
    Added { dir: PathBuf },
    /// A version directory exchanged with a staged one (a forced reinstall):
    /// the old one waits at `aside`; exchange them back.
    Exchanged { dir: PathBuf, aside: PathBuf },
    /// The receipt as it was (`None`: there was none).
    Receipt { name: String, old: Option<Vec<u8>> },
    /// A slot's link as it was (`None`: there was none).
    Current {
        name: String,
        slot: Slot,
        old: Option<String>,
    },
}

/// Changes to the store that take themselves back, newest first, unless
/// [`Transaction::commit`] is called: a failure at any step (or a panic)
/// leaves the store as it was. Every step is itself atomic (a rename), so
/// a kill half-way leaves the old state or the new one of each.
pub struct Transaction<'a> {
    store: &'a Store,
    lock: &'a StoreLock,
    undo: Vec<Undo>,
    done: bool,
}

impl Transaction<'_> {
    /// Move an unpacked, tested version from staging into the store. If the
    /// same version is already there (a forced reinstall), the two are
    /// exchanged atomically and the old one is left at `staged`'s place
    /// until the transaction ends.
    pub fn add_version(&mut self, staged: &Path, name: &str, version: &str) -> Result<()> {
        if !is_version(version) {
            return Err(Error::new(format!(
                "`{}` is not a version kplug can install",
                crate::ui::escape(version)
            )));
        }
        let plugin_dir = self.store.plugin_dir(name);
        std::fs::create_dir_all(&plugin_dir)
            .with_context(|| format!("could not create {}", plugin_dir.display()))?;
        let dir = self.store.version_dir(name, version);
        let fail = |e| {
            Error::new(format!(
                "could not move the new version into {}",
                dir.display()
            ))
            .caused_by(e)
        };
        if dir.exists() {
            exchange(staged, &dir).map_err(fail)?;
            self.undo.push(Undo::Exchanged {
                dir,
                aside: staged.to_path_buf(),
            });
        } else {
            std::fs::rename(staged, &dir).map_err(fail)?;
            self.undo.push(Undo::Added { dir });
        }
        Ok(())
    }

    /// Change `name`'s receipt (written at once, atomically).
    pub fn update_receipt(&mut self, name: &str, change: impl FnOnce(&mut Receipt)) -> Result<()> {
        let mut receipt = self.store.receipt(name)?;
        let first = !self
            .undo
            .iter()
            .any(|u| matches!(u, Undo::Receipt { name: n, .. } if n == name));
        if first {
            let old = crate::fsutil::read_bounded(&self.store.receipt_path(name), MAX_RECEIPT).ok();
            self.undo.push(Undo::Receipt {
                name: name.to_string(),
                old,
            });
        }
        change(&mut receipt);
        self.store.write_receipt(self.lock, name, &receipt)
    }

    /// Point `current` at `version`: a new link under a temporary name,
    /// renamed over the old one, so `current` always resolves.
    pub fn switch(&mut self, name: &str, version: &str) -> Result<()> {
        self.switch_in(name, &Slot::Standalone, Some(version))
    }

    /// Point a slot's link at `version`, or remove it (`None`).
    pub fn switch_in(&mut self, name: &str, slot: &Slot, version: Option<&str>) -> Result<()> {
        let old = self.store.current_in(name, slot);
        link_slot(self.store, self.lock, name, slot, version)?;
        self.undo.push(Undo::Current {
            name: name.to_string(),
            slot: slot.clone(),
            old,
        });
        Ok(())
    }

    /// Keep every change.
    pub fn commit(mut self) {
        self.done = true;
    }

    /// Take every change back, newest first, and say what failed doing so.
    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.undo_all()
    }

    fn undo_all(&mut self) -> Result<()> {
        let mut failures = Vec::new();
        while let Some(step) = self.undo.pop() {
            let result = match step {
                Undo::Added { dir } => self
                    .store
                    .staging(self.lock)
                    .map_err(|e| e.to_string())
                    .and_then(|s| {
                        std::fs::rename(&dir, s.path().join("undone")).map_err(|e| e.to_string())
                    })
                    .map(|()| {
                        // A plugin's first version taken back leaves no
                        // empty directory behind (rmdir fails if not empty).
                        if let Some(parent) = dir.parent() {
                            let _ = std::fs::remove_dir(parent);
                        }
                    }),
                Undo::Exchanged { dir, aside } => exchange(&aside, &dir).map_err(|e| e.to_string()),
                Undo::Receipt { name, old } => {
                    let path = self.store.receipt_path(&name);
                    match old {
                        Some(bytes) => self
                            .store
                            .staging(self.lock)
                            .map_err(|e| e.to_string())
                            .and_then(|s| {
                                crate::fsutil::write_atomic_via(&path, &bytes, s.path())
                                    .map_err(|e| e.to_string())
                            }),
                        None => match std::fs::remove_file(&path) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                Err(e.to_string())
                            }
                            _ => Ok(()),
                        },
                    }
                }
                Undo::Current { name, slot, old } => {
                    link_slot(self.store, self.lock, &name, &slot, old.as_deref())
                        .map_err(|e| e.to_string())
                }
            };
            if let Err(e) = result {
                failures.push(e);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            let mut err = Error::new("could not take back every change to the plugin store");
            for f in failures {
                err = err.caused_by(f);
            }
            Err(err)
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.undo_all();
        }
    }
}

/// Point a slot of `name` at `version`, or remove it (`None`). A scope's
/// link is `scopes/<kind>/<id> -> ../../<version>`; its directories exist
/// only while they hold a link (the dispatch path's cheap test).
fn link_slot(
    store: &Store,
    lock: &StoreLock,
    name: &str,
    slot: &Slot,
    version: Option<&str>,
) -> Result<()> {
    let plugin_dir = store.plugin_dir(name);
    let (dir, link, target) = match slot {
        Slot::Standalone => (
            plugin_dir.clone(),
            plugin_dir.join("current"),
            version.map(str::to_string),
        ),
        Slot::Scope(scope) => {
            let link = plugin_dir.join("scopes").join(scope.key());
            let dir = link.parent().map(Path::to_path_buf).unwrap_or_default();
            (
                dir,
                link,
                version.map(|v| format!("{}{v}", crate::scope::LINK_PREFIX)),
            )
        }
    };
    let Some(target) = target else {
        let removed = match std::fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("could not remove {}", link.display()))
            }
            _ => Ok(()),
        };
        if matches!(slot, Slot::Scope(_)) {
            // Each fails while other links are in it, as it should.
            let _ = std::fs::remove_dir(&dir);
            let _ = std::fs::remove_dir(plugin_dir.join("scopes"));
        }
        return removed;
    };
    let version = version.unwrap_or_default();
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    // The new link is made in staging (cleared by the next writer if we are
    // killed) and renamed over the old one.
    let scratch = store.staging(lock)?;
    let tmp = scratch.path().join("current");
    std::os::unix::fs::symlink(&target, &tmp)
        .and_then(|()| std::fs::rename(&tmp, &link))
        .and_then(|()| crate::fsutil::sync_dir(&dir))
        .with_context(|| format!("could not switch {name} to {version}"))
}

/// `renameat2(RENAME_EXCHANGE)`: swap two paths in one step (Linux). Other
/// systems fall back to two renames, with a short window in which the
/// version directory is missing.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let ca = CString::new(a.as_os_str().as_bytes())?;
        let cb = CString::new(b.as_os_str().as_bytes())?;
        // SAFETY: both are valid NUL-terminated paths for the call's duration.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINVAL) && err.raw_os_error() != Some(libc::ENOSYS) {
            return Err(err);
        }
    }
    let aside = a.with_extension("old");
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

/// Now, for receipts.
pub fn now() -> String {
    clock::rfc3339(clock::now_unix())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn store() -> (tempfile::TempDir, Store, Config) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::from_vars(vec![(OsString::from("KPLUG_HOME"), dir.path().into())]);
        let store = Store::new(&cfg).unwrap();
        (dir, store, cfg)
    }

    /// A staged version directory holding `kplug-x` with `content`.
    fn stage(staging: &Staging, content: &str) -> PathBuf {
        let d = staging.path().join(format!("root-{}", content.len()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("kplug-x"), content).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("kplug-x"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        d
    }

    fn sha(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    fn entry(v: &str, sha: &str) -> InstalledVersion {
        InstalledVersion {
            version: v.into(),
            source: "o/kplug-x".into(),
            source_name: None,
            tag: Some(format!("v{v}")),
            asset: "a.tar.gz".into(),
            sha256: sha.into(),
            verified_by: Verification::GitHubDigest,
            installed: now(),
            signer: None,
            signature: None,
            signed_over: None,
            executable_sha256: None,
        }
    }

    /// Install `v` as a transaction would, committed.
    fn install(store: &Store, lock: &StoreLock, v: &str, content: &str, sha: &str) {
        let staging = store.staging(lock).unwrap();
        let mut tx = store.transaction(lock);
        tx.add_version(&stage(&staging, content), "x", v).unwrap();
        tx.update_receipt("x", |r| {
            r.versions.retain(|e| e.version != v);
            r.versions.push(entry(v, sha));
        })
        .unwrap();
        tx.switch("x", v).unwrap();
        tx.commit();
    }

    fn live(store: &Store) -> String {
        std::fs::read_to_string(store.plugin_dir("x").join("current/kplug-x")).unwrap()
    }

    #[test]
    fn a_committed_transaction_stays() {
        let (_d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        install(&store, &lock, "1.0.0", "one", &sha(1));
        assert_eq!(store.current("x").as_deref(), Some("1.0.0"));
        install(&store, &lock, "2.0.0", "two", &sha(2));
        assert_eq!(store.current("x").as_deref(), Some("2.0.0"));
        assert_eq!(store.installed_versions("x"), ["1.0.0", "2.0.0"]);
        assert_eq!(store.receipt("x").unwrap().versions.len(), 2);
        // A forced reinstall of the live version swaps it in one step.
        install(&store, &lock, "2.0.0", "two again", &sha(3));
        assert_eq!(live(&store), "two again");
        assert_eq!(
            store.receipt("x").unwrap().version("2.0.0").unwrap().sha256,
            sha(3)
        );
    }

    #[test]
    fn an_uncommitted_transaction_takes_every_step_back() {
        let (_d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        install(&store, &lock, "1.0.0", "one", &sha(1));
        let receipt_before = std::fs::read(store.receipt_path("x")).unwrap();
        {
            let staging = store.staging(&lock).unwrap();
            let mut tx = store.transaction(&lock);
            tx.add_version(&stage(&staging, "two"), "x", "2.0.0")
                .unwrap();
            tx.update_receipt("x", |r| r.versions.push(entry("2.0.0", &sha(2))))
                .unwrap();
            tx.switch("x", "2.0.0").unwrap();
            assert_eq!(live(&store), "two");
            // dropped without commit
        }
        assert_eq!(store.current("x").as_deref(), Some("1.0.0"));
        assert_eq!(store.installed_versions("x"), ["1.0.0"]);
        assert_eq!(
            std::fs::read(store.receipt_path("x")).unwrap(),
            receipt_before
        );

        // A forced reinstall taken back puts the old directory back.
        {
            let staging = store.staging(&lock).unwrap();
            let mut tx = store.transaction(&lock);
            tx.add_version(&stage(&staging, "one, rebuilt"), "x", "1.0.0")
                .unwrap();
            assert_eq!(live(&store), "one, rebuilt");
            tx.rollback().unwrap();
        }
        assert_eq!(live(&store), "one");

        // The first install of a plugin, taken back, leaves no trace of it.
        let (_d2, store2, _) = self::store();
        let lock2 = store2.lock().unwrap();
        {
            let staging = store2.staging(&lock2).unwrap();
            let mut tx = store2.transaction(&lock2);
            tx.add_version(&stage(&staging, "new"), "x", "1.0.0")
                .unwrap();
            tx.update_receipt("x", |r| r.versions.push(entry("1.0.0", &sha(1))))
                .unwrap();
            tx.switch("x", "1.0.0").unwrap();
        }
        assert_eq!(store2.current("x"), None);
        assert!(store2.installed_versions("x").is_empty());
        assert!(!store2.plugin_dir("x").exists());
        assert!(store2.plugins().is_empty());
    }

    #[test]
    fn pruning_keeps_the_current_the_previous_and_the_newest() {
        let (_d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        for (i, v) in ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0"]
            .iter()
            .enumerate()
        {
            install(&store, &lock, v, v, &sha(i as u8));
            std::fs::create_dir_all(store.blobs_dir()).unwrap();
            std::fs::write(store.blob_path(&sha(i as u8)).unwrap(), v).unwrap();
        }
        // Live: 1.0.0 (the oldest), rolled back to from 1.1.0.
        let mut tx = store.transaction(&lock);
        tx.switch("x", "1.0.0").unwrap();
        tx.update_receipt("x", |r| r.previous = Some("1.1.0".into()))
            .unwrap();
        tx.commit();
        assert_eq!(store.prune_plan("x", 3).unwrap(), ["1.3.0", "1.2.0"]);
        assert_eq!(store.prune(&lock, "x", 3).unwrap(), ["1.3.0", "1.2.0"]);
        assert_eq!(store.installed_versions("x"), ["1.0.0", "1.1.0", "2.0.0"]);
        let r = store.receipt("x").unwrap();
        assert_eq!(r.versions.len(), 3);
        assert!(!store.blob_path(&sha(2)).unwrap().exists(), "1.2.0's blob");
        assert!(store.blob_path(&sha(4)).unwrap().exists(), "2.0.0's blob");
        // Never below one, never the current one.
        assert_eq!(store.prune(&lock, "x", 0).unwrap(), ["1.1.0", "2.0.0"]);
        assert_eq!(store.installed_versions("x"), ["1.0.0"]);
        assert!(store.remove_version(&lock, "x", "1.0.0").is_err());
        assert_eq!(store.receipt("x").unwrap().previous, None);
    }

    #[test]
    fn pin_and_the_last_version_takes_the_plugin_with_it() {
        let (_d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        install(&store, &lock, "1.0.0", "one", &sha(1));
        assert!(store.set_pinned(&lock, "x", true).unwrap());
        assert!(!store.set_pinned(&lock, "x", true).unwrap());
        assert!(store.receipt("x").unwrap().pinned);
        link_slot(&store, &lock, "x", &Slot::Standalone, None).unwrap();
        link_slot(&store, &lock, "x", &Slot::Standalone, None).unwrap();
        assert_eq!(store.current("x"), None);
        store.remove_version(&lock, "x", "1.0.0").unwrap();
        assert!(!store.plugin_dir("x").exists());
    }

    #[test]
    fn the_lock_clears_staging_and_remove_is_whole() {
        let (_d, store, _cfg) = store();
        {
            let lock = store.lock().unwrap();
            let s = store.staging(&lock).unwrap();
            stage(&s, "left behind");
            std::mem::forget(s); // as a killed writer would leave it
        }
        assert_eq!(std::fs::read_dir(store.staging_root()).unwrap().count(), 1);
        let lock = store.lock().unwrap();
        assert_eq!(
            std::fs::read_dir(store.staging_root())
                .map(|d| d.count())
                .unwrap_or(0),
            0
        );
        install(&store, &lock, "1.0.0", "x", &sha(1));
        store.remove_plugin(&lock, "x").unwrap();
        assert!(!store.plugin_dir("x").exists());
        assert_eq!(std::fs::read_dir(store.staging_root()).unwrap().count(), 0);
    }

    #[test]
    fn receipts_that_could_name_paths_outside_are_corrupt() {
        let (_d, store, _cfg) = store();
        std::fs::create_dir_all(store.plugin_dir("x")).unwrap();
        let write = |text: &str| std::fs::write(store.receipt_path("x"), text).unwrap();
        write("versions: {");
        let e = store.receipt("x").unwrap_err();
        assert!(e.message().contains("receipt.yaml is corrupt"), "{e}");
        let base = "name: x\nversions:\n- version: VERSION\n  source: o/x\n  asset: a\n  sha256: SHA\n  verifiedBy: none\n  installed: t\n";
        let good_sha = sha(7);
        write(&base.replace("VERSION", "1.0.0").replace("SHA", &good_sha));
        assert_eq!(store.receipt("x").unwrap().versions.len(), 1);
        for (version, sha, needle) in [
            ("../../etc", good_sha.as_str(), "versions[0].version"),
            ("1.0.0", "../../../.ssh", "versions[0].sha256"),
            ("1.0.0/../..", good_sha.as_str(), "versions[0].version"),
        ] {
            write(&base.replace("VERSION", version).replace("SHA", sha));
            let e = store.receipt("x").unwrap_err();
            assert!(e.causes()[0].contains(needle), "{e:?}");
        }
        write(&format!(
            "{}previous: ../..\n",
            base.replace("VERSION", "1.0.0").replace("SHA", &good_sha)
        ));
        assert!(store.receipt("x").unwrap_err().causes()[0].contains("previous"));
        // A receipt that is not a regular file is not read (a FIFO would hang).
        std::fs::remove_file(store.receipt_path("x")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", store.receipt_path("x")).unwrap();
        assert!(store.receipt("x").is_err());
    }

    #[test]
    fn a_current_link_out_of_the_store_is_a_broken_entry() {
        let (d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        install(&store, &lock, "1.0.0", "one", &sha(1));
        assert_eq!(store.broken_entry("x"), None, "a healthy entry");
        let link = store.plugin_dir("x").join("current");
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("../../..", &link).unwrap();
        assert_eq!(store.current("x"), None);
        assert!(store.broken_entry("x").unwrap().contains("not a version"));
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("9.9.9", &link).unwrap();
        assert!(store.broken_entry("x").unwrap().contains("missing"));
        std::fs::remove_file(&link).unwrap();
        assert!(store.broken_entry("x").unwrap().contains("no `current`"));
        assert_eq!(store.broken_entry("nothing"), None);
        // A version given by a user is checked the same way.
        assert!(store.remove_version(&lock, "x", "../../..").is_err());
        assert!(d.path().join("plugins/x/1.0.0").is_dir());
    }
}
