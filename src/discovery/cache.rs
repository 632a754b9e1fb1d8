//! The INFO cache: `$KPLUG_HOME/cache/info.json`.
//!
//! An entry is keyed by the executable's path and the identity of the file
//! behind it (size, mtime, ctime, inode), so INFO runs once per binary
//! version and again as soon as the binary changes. The whole file is also
//! dropped when kplug itself changes version, since negotiation depends on
//! the host. A missing, unreadable or corrupt cache is simply rebuilt.

use super::probe::Probe;
use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const FORMAT: u32 = 1;

/// Identity of the file behind a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: Key,
    #[serde(flatten)]
    probe: Probe,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    kplug: String,
    entries: BTreeMap<String, Entry>,
}

pub struct InfoCache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Entry>,
    dirty: bool,
}

impl InfoCache {
    pub fn empty(cfg: &Config) -> InfoCache {
        InfoCache {
            path: cfg.info_cache_path(),
            entries: BTreeMap::new(),
            dirty: true,
        }
    }

    /// Read the cache; anything wrong with it yields an empty one.
    pub fn load(cfg: &Config) -> InfoCache {
        let mut cache = InfoCache::empty(cfg);
        cache.dirty = false;
        let Some(path) = &cache.path else {
            return cache;
        };
        let Ok(bytes) = std::fs::read(path) else {
            return cache;
        };
        match serde_json::from_slice::<File>(&bytes) {
            Ok(f) if f.format == FORMAT && f.kplug == crate::VERSION => cache.entries = f.entries,
            // Corrupt or from another kplug: rebuild it.
            _ => cache.dirty = true,
        }
        cache
    }

    /// The identity of the file at `path` now (`None` if it cannot be read).
    pub fn key_of(path: &Path) -> Option<Key> {
        let m = std::fs::metadata(path).ok()?;
        Some(Key {
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
        })
    }

    pub fn get(&self, path: &Path, key: &Key) -> Option<&Probe> {
        let e = self.entries.get(path.to_str()?)?;
        (e.key == *key).then_some(&e.probe)
    }

    pub fn insert(&mut self, path: &Path, key: Key, probe: Probe) {
        // Paths that are not UTF-8 cannot be JSON keys; they are probed
        // each time instead.
        if let Some(p) = path.to_str() {
            self.entries.insert(p.to_string(), Entry { key, probe });
            self.dirty = true;
        }
    }

    /// Forget entries of executables that are gone.
    pub fn retain<'a>(&mut self, live: impl Iterator<Item = &'a Path>) {
        let live: HashSet<&str> = live.filter_map(Path::to_str).collect();
        let before = self.entries.len();
        self.entries.retain(|p, _| live.contains(p.as_str()));
        self.dirty |= self.entries.len() != before;
    }

    /// Write the cache if it changed (atomically: temp file, then rename).
    /// A cache that cannot be written is only a warning.
    pub fn save(self, cfg: &Config) {
        let (true, Some(path)) = (self.dirty, &self.path) else {
            return;
        };
        let file = File {
            format: FORMAT,
            kplug: crate::VERSION.to_string(),
            entries: self.entries,
        };
        let json = serde_json::to_vec(&file).expect("the cache serialises");
        if let Err(e) = crate::fsutil::write_atomic(path, &json) {
            crate::ui::warn(
                cfg,
                &format!("could not write the INFO cache {}: {e}", path.display()),
            );
        }
    }
}
