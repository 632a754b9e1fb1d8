//! The INFO cache: `$KPLUG_HOME/cache/info.json`.
//!
//! An entry is keyed by the executable's path and the identity of the file
//! behind it (size, mtime, ctime, inode), so INFO runs once per binary
//! version and again as soon as the binary changes. The whole file is also
//! dropped when kplug itself changes version, since negotiation depends on
//! the host. A missing, unreadable or corrupt cache is simply rebuilt.

use super::Probe;
use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// 2: flat entries (serde's fast path; 1 used `flatten` and a tagged enum).
const FORMAT: u32 = 2;

pub use crate::fsutil::FileKey as Key;

/// One cached answer. Flat on purpose: `plugin list` reads a thousand of
/// these, and serde parses plain structs without buffering.
#[derive(Serialize, Deserialize)]
struct Entry {
    key: Key,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    info: Option<Box<crate::protocol::Info>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Entry {
    fn new(key: Key, probe: Probe) -> Entry {
        match probe {
            Probe::Valid { info, protocol } => Entry {
                key,
                info: Some(info),
                protocol: Some(protocol),
                reason: None,
            },
            Probe::Invalid { reason } => Entry {
                key,
                info: None,
                protocol: None,
                reason: Some(reason),
            },
        }
    }

    fn into_probe(self) -> Probe {
        match (self.info, self.protocol, self.reason) {
            (Some(info), Some(protocol), _) => Probe::Valid { info, protocol },
            (_, _, Some(reason)) => Probe::Invalid { reason },
            _ => Probe::Invalid {
                reason: "the INFO cache entry is incomplete".into(),
            },
        }
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    kplug: String,
    entries: BTreeMap<String, Entry>,
}

/// Largest cache file read (1000 plugins take ~1 MiB).
const MAX_FILE: u64 = 64 * 1024 * 1024;

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
        // Anything but a small regular file (a FIFO, a link to /dev/zero)
        // is rebuilt, never waited on or read without end.
        let bytes = match crate::fsutil::read_bounded(path, MAX_FILE) {
            Ok(b) => b,
            Err(crate::fsutil::ReadError::Missing) => return cache,
            Err(_) => {
                cache.dirty = true;
                return cache;
            }
        };
        // UTF-8 checked once for the whole file (fast), not string by string.
        let parsed = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| serde_json::from_str::<File>(text).ok());
        match parsed {
            Some(f) if f.format == FORMAT && f.kplug == crate::version() => {
                cache.entries = f.entries
            }
            // Corrupt or from another kplug: rebuild it.
            _ => cache.dirty = true,
        }
        cache
    }

    /// The identity of the file at `path` now (`None` if it cannot be read).
    pub fn key_of(path: &Path) -> Option<Key> {
        std::fs::metadata(path).ok().map(|m| Key::of(&m))
    }

    /// Take the answer for `path` out of the cache if the file is unchanged.
    /// (Taking, not cloning: a warm `plugin list` reads every entry once.)
    pub fn take(&mut self, path: &Path, key: &Key) -> Option<Probe> {
        let e = self.entries.remove(path.to_str()?)?;
        (e.key == *key).then(|| e.into_probe())
    }

    /// Whether entries are left that no live plugin took: then the file
    /// holds stale entries and is worth rewriting.
    pub fn has_leftovers(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Keep, of the entries no plugin took, those for store versions that
    /// are still there unchanged (versions of scopes not active here: a
    /// listing of the active ones must not forget them); drop the rest.
    /// Whether any was dropped.
    pub fn drop_stale(&mut self, store: Option<&Path>) -> bool {
        let before = self.entries.len();
        self.entries.retain(|p, e| {
            let path = Path::new(p);
            store.is_some_and(|s| path.starts_with(s))
                && InfoCache::key_of(path).is_some_and(|k| k == e.key)
        });
        before != self.entries.len()
    }

    /// A cache to rewrite, starting from the entries left in this one.
    pub fn rest(self) -> InfoCache {
        InfoCache {
            dirty: true,
            ..self
        }
    }

    /// Whether the file must be rewritten (corrupt, another version).
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn insert(&mut self, path: &Path, key: Key, probe: Probe) {
        // Paths that are not UTF-8 cannot be JSON keys; they are probed
        // each time instead.
        if let Some(p) = path.to_str() {
            self.entries.insert(p.to_string(), Entry::new(key, probe));
            self.dirty = true;
        }
    }

    /// Write the cache if it changed (atomically: temp file, then rename).
    /// A cache that cannot be written is only a warning.
    pub fn save(self, cfg: &Config) {
        let (true, Some(path)) = (self.dirty, &self.path) else {
            return;
        };
        // A newer kplug's cache is left to it.
        if !crate::store::layout_writable(cfg) {
            return;
        }
        let file = File {
            format: FORMAT,
            kplug: crate::version().to_string(),
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
