//! The host's version store: `$KPLUG_HOME/self/<version>/kplug`,
//! `self/current -> <version>`, and `self/receipt.yaml` (each version's
//! source, sha256 and install time, and the version before the current
//! one). Changes happen under the plugin store's lock; `current` is
//! switched by renaming a new link over it, so whatever runs through it
//! finds a complete version at every instant.

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::store::{StoreLock, Verification};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where one version came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostVersion {
    pub version: String,
    /// The source it was downloaded from, or the path it was migrated from.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    pub sha256: String,
    pub verified_by: Verification,
    pub installed: String,
    /// Who signed it (`None`: unsigned, or migrated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<crate::install::signing::Signer>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReceipt {
    #[serde(default)]
    pub versions: Vec<HostVersion>,
    /// The version that was current before the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// A switch whose health probe has not passed yet (the command was
    /// killed if this is still here): the next `self` command finishes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// A signed release was installed: unsigned ones are refused from then
    /// on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
}

pub struct HostStore {
    root: PathBuf,
}

const MAX_RECEIPT: u64 = 1024 * 1024;

impl HostStore {
    pub fn new(cfg: &Config) -> Result<HostStore> {
        // Absolute: links made to it must not depend on a working directory.
        let home = cfg.home()?;
        let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
        Ok(HostStore {
            root: home.join("self"),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn version_dir(&self, version: &str) -> PathBuf {
        self.root.join(version)
    }

    /// `self/current/kplug`: what a managed `kplug` links to.
    pub fn current_link_target(&self) -> PathBuf {
        self.root.join("current").join("kplug")
    }

    /// The current version, if the store has one.
    pub fn current(&self) -> Option<String> {
        let v = std::fs::read_link(self.root.join("current")).ok()?;
        let v = v.to_str()?;
        (crate::store::is_version(v) && self.version_dir(v).join("kplug").is_file())
            .then(|| v.to_string())
    }

    /// Installed versions, oldest first by semver.
    pub fn installed(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| crate::store::is_version(n) && self.version_dir(n).join("kplug").is_file())
            .collect();
        v.sort_by_key(|n| crate::requirements::parse_lenient(n));
        v
    }

    pub fn receipt(&self) -> Result<HostReceipt> {
        let path = self.root.join("receipt.yaml");
        let bytes = match crate::fsutil::read_bounded(&path, MAX_RECEIPT) {
            Ok(b) => b,
            Err(crate::fsutil::ReadError::Missing) => return Ok(HostReceipt::default()),
            Err(e) => {
                return Err(Error::new(format!("could not read {}", path.display())).caused_by(e));
            }
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::new(format!("{} is not UTF-8", path.display())))?;
        let r: HostReceipt = crate::protocol::yaml::from_str(&text).map_err(|e| {
            Error::new(format!("the receipt {} is corrupt", path.display()))
                .caused_by(e)
                .with_hint("remove it; the installed versions stay, their history is lost")
        })?;
        if let Some(bad) = r
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .chain(r.previous.as_deref())
            .find(|v| !crate::store::is_version(v))
        {
            return Err(Error::new(format!(
                "the receipt {} names `{}`, which is not a version",
                path.display(),
                crate::ui::escape(bad)
            )));
        }
        Ok(r)
    }

    pub fn write_receipt(&self, _lock: &StoreLock, r: &HostReceipt) -> Result<()> {
        let path = self.root.join("receipt.yaml");
        let text = serde_yaml::to_string(r).expect("a receipt serialises");
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("could not write {}", path.display()))
    }

    /// Move a checked executable into the store as `version` (the file is
    /// renamed, or copied when on another filesystem). A version already
    /// there is kept, unless `replace`: then its file is replaced
    /// atomically (it may be the current one).
    pub fn add(&self, _lock: &StoreLock, exe: &Path, version: &str, replace: bool) -> Result<()> {
        if !crate::store::is_version(version) {
            return Err(Error::new(format!(
                "`{}` is not a version",
                crate::ui::escape(version)
            )));
        }
        let dir = self.version_dir(version);
        let existing = dir.join("kplug").is_file();
        if existing && !replace {
            return Ok(());
        }
        let tmp = if existing {
            dir.join(".kplug-new")
        } else {
            let t = self.root.join(format!(".adding-{version}"));
            let _ = std::fs::remove_dir_all(&t);
            std::fs::create_dir_all(&t)
                .with_context(|| format!("could not create {}", t.display()))?;
            t.join("kplug")
        };
        let _ = std::fs::remove_file(&tmp);
        if std::fs::rename(exe, &tmp).is_err() {
            std::fs::copy(exe, &tmp).with_context(|| {
                format!(
                    "could not copy {} into {}",
                    exe.display(),
                    self.root.display()
                )
            })?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("could not make {} executable", tmp.display()))?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).ok();
        if existing {
            return std::fs::rename(&tmp, dir.join("kplug"))
                .with_context(|| format!("could not replace {}", dir.join("kplug").display()));
        }
        let staged = tmp.parent().expect("in a directory").to_path_buf();
        std::fs::rename(&staged, &dir)
            .with_context(|| format!("could not create {}", dir.display()))
    }

    /// Point `current` at `version`, atomically. Returns the version it
    /// pointed at before.
    pub fn switch(&self, _lock: &StoreLock, version: &str) -> Result<Option<String>> {
        if !self.version_dir(version).join("kplug").is_file() {
            return Err(Error::new(format!("kplug {version} is not installed")));
        }
        let before = self.current();
        let tmp = self.root.join(".current-new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(version, &tmp)
            .with_context(|| format!("could not create {}", tmp.display()))?;
        std::fs::rename(&tmp, self.root.join("current"))
            .with_context(|| format!("could not switch {}", self.root.join("current").display()))?;
        Ok(before)
    }

    /// Remove installed versions beyond the newest `keep`, never `current`
    /// or `previous`; what was removed.
    pub fn prune(&self, _lock: &StoreLock, keep: usize, previous: Option<&str>) -> Vec<String> {
        let current = self.current();
        let mut all = self.installed();
        all.reverse();
        let mut kept = 0;
        let mut removed = Vec::new();
        for v in all {
            let protected = Some(v.as_str()) == current.as_deref() || Some(v.as_str()) == previous;
            if protected || kept < keep {
                kept += 1;
                continue;
            }
            if std::fs::remove_dir_all(self.version_dir(&v)).is_ok() {
                removed.push(v);
            }
        }
        removed
    }
}
