//! The plugin store under `$KPLUG_HOME`.
//!
//! ```text
//! plugins/<name>/<version>/…            an unpacked release
//! plugins/<name>/current -> <version>   swapped atomically (rename)
//! plugins/<name>/receipt.yaml           where each version came from
//! cache/downloads/<sha256>/<asset>      verified archives (offline reinstall)
//! .staging/<pid>-<n>/                   work in progress; removed on the next run
//! .lock                                 one writer at a time
//! ```
//!
//! This module owns that layout and every change to it. Readers
//! (`discovery`) never take the lock: each change becomes visible by one
//! `rename`, so they see the old state or the new one, never a mix. Writers
//! hold [`StoreLock`] (an `flock`, released by the kernel when the holder
//! dies, so a killed kplug never leaves a stale lock); staging directories
//! left by a killed kplug are removed by the next writer.

use crate::clock;
use crate::config::Config;
use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The store of one `KPLUG_HOME`.
pub struct Store {
    root: PathBuf,
}

/// Where an installed version came from, and what was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledVersion {
    pub version: String,
    /// `owner/repo`, a URL, or a local path, as given to `plugin install`.
    pub source: String,
    /// The release tag, for GitHub sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The file that was installed (asset or local file name).
    pub asset: String,
    /// sha256 of that file.
    pub sha256: String,
    /// How the sha256 was checked: `github-digest`, `checksums-file`,
    /// `--sha256`, or `none` (trusting TLS alone).
    pub verified_by: String,
    pub installed: String,
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
}

impl Receipt {
    pub fn version(&self, version: &str) -> Option<&InstalledVersion> {
        self.versions.iter().find(|v| v.version == version)
    }
}

/// The store's writer lock; released on drop (or when the process dies).
pub struct StoreLock {
    _file: File,
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

    pub fn version_dir(&self, name: &str, version: &str) -> PathBuf {
        self.plugin_dir(name).join(version)
    }

    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("cache").join("downloads")
    }

    fn staging_root(&self) -> PathBuf {
        self.root.join(".staging")
    }

    /// Take the writer lock, waiting for another kplug if needed, then clear
    /// what killed writers left in staging.
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
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            eprintln!(
                "waiting for another kplug (pid {}) to finish changing the plugin store…",
                holder.trim()
            );
            // SAFETY: as above.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(Error::new("could not lock the plugin store")
                    .caused_by(std::io::Error::last_os_error()));
            }
        }
        // The pid is only for the message above; the flock is the lock.
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        // Whoever left staging behind is gone: we hold the lock.
        let _ = std::fs::remove_dir_all(self.staging_root());
        Ok(StoreLock { _file: file })
    }

    /// A fresh staging directory (requires the lock).
    pub fn staging(&self, _lock: &StoreLock) -> Result<PathBuf> {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = self.staging_root().join(format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        Ok(dir)
    }

    /// The receipt of `name` (empty when it has none).
    pub fn receipt(&self, name: &str) -> Result<Receipt> {
        let path = self.plugin_dir(name).join("receipt.yaml");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_yaml::from_str(&text).map_err(|e| {
                Error::new(format!("the receipt {} is corrupt", path.display()))
                    .caused_by(e)
                    .with_hint(format!(
                        "reinstall the plugin, or remove it with `kplug plugin remove {name}`"
                    ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Receipt {
                name: name.into(),
                ..Receipt::default()
            }),
            Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
        }
    }

    pub fn write_receipt(&self, _lock: &StoreLock, receipt: &Receipt) -> Result<()> {
        let path = self.plugin_dir(&receipt.name).join("receipt.yaml");
        let text = serde_yaml::to_string(receipt).expect("a receipt serialises");
        crate::fsutil::write_atomic(&path, text.as_bytes())
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

    /// The version `current` points to, if the plugin is installed.
    pub fn current(&self, name: &str) -> Option<String> {
        let target = std::fs::read_link(self.plugin_dir(name).join("current")).ok()?;
        Some(target.to_str()?.to_string())
    }

    /// Installed version directories of `name`.
    pub fn installed_versions(&self, name: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.plugin_dir(name)) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        out.sort();
        out
    }

    /// Move an unpacked, tested version from staging into the store. If the
    /// same version is already there (a forced reinstall), the two are
    /// exchanged atomically and the old one is left in staging.
    pub fn commit_version(
        &self,
        _lock: &StoreLock,
        staged: &Path,
        name: &str,
        version: &str,
    ) -> Result<()> {
        let dest = self.version_dir(name, version);
        std::fs::create_dir_all(self.plugin_dir(name))
            .with_context(|| format!("could not create {}", self.plugin_dir(name).display()))?;
        let result = if dest.exists() {
            exchange(staged, &dest)
        } else {
            std::fs::rename(staged, &dest)
        };
        result.with_context(|| format!("could not move the new version into {}", dest.display()))
    }

    /// Point `current` at `version`: a new link under a temporary name,
    /// renamed over the old one, so `current` always resolves.
    pub fn switch(&self, _lock: &StoreLock, name: &str, version: &str) -> Result<()> {
        let dir = self.plugin_dir(name);
        let tmp = dir.join(format!(".current.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(version, &tmp)
            .and_then(|()| std::fs::rename(&tmp, dir.join("current")))
            .with_context(|| format!("could not switch {name} to {version}"))
    }

    /// Remove a plugin from the store: renamed away first (so it disappears
    /// at once), then deleted.
    pub fn remove_plugin(&self, lock: &StoreLock, name: &str) -> Result<()> {
        let dir = self.plugin_dir(name);
        let staging = self.staging(lock)?;
        let result = std::fs::rename(&dir, staging.join("removed"))
            .with_context(|| format!("could not remove {}", dir.display()));
        let _ = std::fs::remove_dir_all(&staging);
        result
    }

    /// The cached archive of a verified download, if it is still there and
    /// still has that hash (the name in the cache is only a hint).
    pub fn cached_download(&self, sha256: &str, asset: &str) -> Option<PathBuf> {
        let path = self.downloads_dir().join(sha256).join(asset);
        let data = std::fs::File::open(&path).ok()?;
        (crate::fsutil::sha256_of(data).ok()? == sha256).then_some(path)
    }

    /// Keep a verified download for offline reinstalls.
    pub fn cache_download(
        &self,
        _lock: &StoreLock,
        file: &Path,
        sha256: &str,
        asset: &str,
    ) -> Result<()> {
        let dir = self.downloads_dir().join(sha256);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let dest = dir.join(asset);
        let tmp = dir.join(format!(".{asset}.{}", std::process::id()));
        std::fs::copy(file, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &dest))
            .with_context(|| format!("could not keep the download in {}", dest.display()))
    }

    /// Pin or unpin a plugin; returns whether that changed anything.
    pub fn set_pinned(&self, lock: &StoreLock, name: &str, pinned: bool) -> Result<bool> {
        let mut receipt = self.receipt(name)?;
        if receipt.pinned == pinned {
            return Ok(false);
        }
        receipt.name = name.to_string();
        receipt.pinned = pinned;
        self.write_receipt(lock, &receipt)?;
        Ok(true)
    }

    /// Remember which version was current before a switch.
    pub fn set_previous(&self, lock: &StoreLock, name: &str, previous: Option<&str>) -> Result<()> {
        let mut receipt = self.receipt(name)?;
        receipt.name = name.to_string();
        receipt.previous = previous.map(str::to_string);
        self.write_receipt(lock, &receipt)
    }

    /// Remove the `current` link (a first install whose health probe failed).
    pub fn unlink_current(&self, _lock: &StoreLock, name: &str) -> Result<()> {
        let link = self.plugin_dir(name).join("current");
        match std::fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("could not remove {}", link.display()))
            }
            _ => Ok(()),
        }
    }

    /// Remove one installed version (never the current one): its directory
    /// (renamed away first, so it disappears at once), its receipt entry, and
    /// its cached download unless another entry shares it. A plugin left
    /// with no version at all is removed.
    pub fn remove_version(&self, lock: &StoreLock, name: &str, version: &str) -> Result<()> {
        if self.current(name).as_deref() == Some(version) {
            return Err(Error::new(format!(
                "{name} {version} is the current version; it cannot be removed"
            )));
        }
        let dir = self.version_dir(name, version);
        if dir.exists() {
            let staging = self.staging(lock)?;
            let result = std::fs::rename(&dir, staging.join("removed"))
                .with_context(|| format!("could not remove {}", dir.display()));
            let _ = std::fs::remove_dir_all(&staging);
            result?;
        }
        let mut receipt = self.receipt(name)?;
        let gone: Vec<InstalledVersion> = receipt
            .versions
            .iter()
            .filter(|v| v.version == version)
            .cloned()
            .collect();
        receipt.versions.retain(|v| v.version != version);
        if receipt.previous.as_deref() == Some(version) {
            receipt.previous = None;
        }
        for g in gone {
            if !g.sha256.is_empty() && !receipt.versions.iter().any(|v| v.sha256 == g.sha256) {
                let _ = std::fs::remove_dir_all(self.downloads_dir().join(&g.sha256));
            }
        }
        if self.current(name).is_none() && self.installed_versions(name).is_empty() {
            return self.remove_plugin(lock, name);
        }
        receipt.name = name.to_string();
        self.write_receipt(lock, &receipt)
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
        Ok(order.into_iter().skip(keep.max(1)).collect())
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

    /// Record a newly installed version in the receipt (before the switch: a
    /// receipt entry for a version that is not current is harmless, a
    /// current version without one is not).
    pub fn record_version(
        &self,
        lock: &StoreLock,
        name: &str,
        entry: InstalledVersion,
    ) -> Result<Receipt> {
        let mut receipt = self.receipt(name)?;
        receipt.name = name.to_string();
        receipt.versions.retain(|v| v.version != entry.version);
        receipt.versions.push(entry);
        self.write_receipt(lock, &receipt)?;
        Ok(receipt)
    }
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

    fn stage(store: &Store, lock: &StoreLock, content: &str) -> PathBuf {
        let d = store.staging(lock).unwrap().join("root");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("kplug-x"), content).unwrap();
        d
    }

    #[test]
    fn commit_and_switch() {
        let (_d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        store
            .commit_version(&lock, &stage(&store, &lock, "one"), "x", "1.0.0")
            .unwrap();
        store.switch(&lock, "x", "1.0.0").unwrap();
        assert_eq!(store.current("x").as_deref(), Some("1.0.0"));
        store
            .commit_version(&lock, &stage(&store, &lock, "two"), "x", "2.0.0")
            .unwrap();
        store.switch(&lock, "x", "2.0.0").unwrap();
        assert_eq!(store.current("x").as_deref(), Some("2.0.0"));
        assert_eq!(store.installed_versions("x"), ["1.0.0", "2.0.0"]);
        // A forced reinstall of the live version swaps it in one step.
        store
            .commit_version(&lock, &stage(&store, &lock, "two again"), "x", "2.0.0")
            .unwrap();
        let live = store.plugin_dir("x").join("current/kplug-x");
        assert_eq!(std::fs::read_to_string(live).unwrap(), "two again");
    }

    #[test]
    fn receipts_round_trip_and_replace_a_version() {
        let (_d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        assert!(store.receipt("x").unwrap().versions.is_empty());
        let entry = |v: &str, sha: &str| InstalledVersion {
            version: v.into(),
            source: "o/kplug-x".into(),
            tag: Some(format!("v{v}")),
            asset: "a.tar.gz".into(),
            sha256: sha.into(),
            verified_by: "github-digest".into(),
            installed: now(),
        };
        store
            .record_version(&lock, "x", entry("1.0.0", "aa"))
            .unwrap();
        store
            .record_version(&lock, "x", entry("1.0.0", "bb"))
            .unwrap();
        let r = store
            .record_version(&lock, "x", entry("2.0.0", "cc"))
            .unwrap();
        assert_eq!(r.versions.len(), 2);
        assert_eq!(store.receipt("x").unwrap(), r);
        assert_eq!(r.version("1.0.0").unwrap().sha256, "bb");
    }

    #[test]
    fn pruning_keeps_the_current_the_previous_and_the_newest() {
        let (_d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0"] {
            store
                .commit_version(&lock, &stage(&store, &lock, v), "x", v)
                .unwrap();
            store
                .record_version(
                    &lock,
                    "x",
                    InstalledVersion {
                        version: v.into(),
                        source: "o/kplug-x".into(),
                        tag: None,
                        asset: "a".into(),
                        sha256: format!("sha-{v}"),
                        verified_by: "none".into(),
                        installed: now(),
                    },
                )
                .unwrap();
            std::fs::create_dir_all(store.downloads_dir().join(format!("sha-{v}"))).unwrap();
        }
        // Live: 1.0.0 (the oldest), rolled back to from 1.1.0.
        store.switch(&lock, "x", "1.0.0").unwrap();
        store.set_previous(&lock, "x", Some("1.1.0")).unwrap();
        assert_eq!(store.prune_plan("x", 3).unwrap(), ["1.3.0", "1.2.0"]);
        assert_eq!(store.prune(&lock, "x", 3).unwrap(), ["1.3.0", "1.2.0"]);
        assert_eq!(store.installed_versions("x"), ["1.0.0", "1.1.0", "2.0.0"]);
        let r = store.receipt("x").unwrap();
        assert_eq!(r.versions.len(), 3);
        assert!(!store.downloads_dir().join("sha-1.2.0").exists());
        assert!(store.downloads_dir().join("sha-2.0.0").exists());
        // Never below one, never the current one.
        assert_eq!(store.prune(&lock, "x", 0).unwrap(), ["1.1.0", "2.0.0"]);
        assert_eq!(store.installed_versions("x"), ["1.0.0"]);
        assert!(store.remove_version(&lock, "x", "1.0.0").is_err());
        assert_eq!(store.receipt("x").unwrap().previous, None);
    }

    #[test]
    fn pin_and_unlink() {
        let (_d, store, _cfg) = store();
        let lock = store.lock().unwrap();
        store
            .commit_version(&lock, &stage(&store, &lock, "one"), "x", "1.0.0")
            .unwrap();
        store.switch(&lock, "x", "1.0.0").unwrap();
        assert!(store.set_pinned(&lock, "x", true).unwrap());
        assert!(!store.set_pinned(&lock, "x", true).unwrap());
        assert!(store.receipt("x").unwrap().pinned);
        store.unlink_current(&lock, "x").unwrap();
        store.unlink_current(&lock, "x").unwrap();
        assert_eq!(store.current("x"), None);
        // The last version of a plugin takes the plugin with it.
        store.remove_version(&lock, "x", "1.0.0").unwrap();
        assert!(!store.plugin_dir("x").exists());
    }

    #[test]
    fn the_lock_clears_staging_and_remove_is_whole() {
        let (_d, store, _cfg) = store();
        {
            let lock = store.lock().unwrap();
            stage(&store, &lock, "left behind");
        }
        let lock = store.lock().unwrap();
        assert_eq!(
            std::fs::read_dir(store.staging_root())
                .map(|d| d.count())
                .unwrap_or(0),
            0
        );
        store
            .commit_version(&lock, &stage(&store, &lock, "x"), "x", "1.0.0")
            .unwrap();
        store.switch(&lock, "x", "1.0.0").unwrap();
        store.remove_plugin(&lock, "x").unwrap();
        assert!(!store.plugin_dir("x").exists());
    }

    #[test]
    fn a_corrupt_receipt_is_named() {
        let (_d, store, _cfg) = store();
        std::fs::create_dir_all(store.plugin_dir("x")).unwrap();
        std::fs::write(store.plugin_dir("x").join("receipt.yaml"), "versions: {").unwrap();
        let e = store.receipt("x").unwrap_err();
        assert!(e.message().contains("receipt.yaml is corrupt"), "{e}");
    }
}
