//! Contracts learned by downloading: a version that publishes no contract
//! is judged from its INFO after the download; what INFO said is kept here,
//! keyed by the artifact's sha256, so that later walks pass it over without
//! downloading it again and `plugin versions` shows why it is incompatible.
//!
//! `$KPLUG_HOME/cache/contracts.json`. It is a cache: a missing or broken
//! file is an empty one, and what it says only ever saves a download or
//! annotates a listing (an install still judges the real INFO).

use crate::config::Config;
use crate::protocol::Info;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

const FORMAT: u32 = 1;
/// Most contracts kept (the oldest learned go first).
const MAX_ENTRIES: usize = 2000;
/// Largest file read.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Learned {
    /// The source address and the version's label there.
    pub source: String,
    pub label: String,
    /// When it was learned (seconds since the epoch).
    pub learned: i64,
    pub info: Info,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    /// By sha256 of the artifact.
    entries: BTreeMap<String, Learned>,
}

pub struct Contracts {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Learned>,
    dirty: bool,
}

impl Contracts {
    pub fn load(cfg: &Config) -> Contracts {
        let path = cfg
            .home_opt()
            .map(|h| h.join("cache").join("contracts.json"));
        let entries = path
            .as_deref()
            .and_then(|p| crate::fsutil::read_bounded(p, MAX_BYTES).ok())
            .and_then(|b| serde_json::from_slice::<File>(&b).ok())
            .filter(|f| f.format == FORMAT)
            .map(|f| f.entries)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| super::verify::is_sha256(k))
            .collect();
        Contracts {
            path,
            entries,
            dirty: false,
        }
    }

    /// The contract learned for the artifact `sha256`, or (when the source
    /// does not publish the artifact's sha256 before a download) for the
    /// version `label` of `source`.
    pub fn find(&self, source: &str, label: &str, sha256: Option<&str>) -> Option<&Info> {
        if let Some(h) = sha256 {
            return self.entries.get(h).map(|l| &l.info);
        }
        self.entries
            .values()
            .filter(|l| l.source == source && l.label == label)
            .max_by_key(|l| l.learned)
            .map(|l| &l.info)
    }

    pub fn learn(&mut self, sha256: &str, source: &str, label: &str, info: &Info) {
        if !super::verify::is_sha256(sha256) {
            return;
        }
        self.entries.insert(
            sha256.to_string(),
            Learned {
                source: source.to_string(),
                label: label.to_string(),
                learned: crate::clock::now_unix(),
                info: info.clone(),
            },
        );
        self.dirty = true;
    }

    /// Write the file if anything was learned (a cache that cannot be
    /// written is only a warning).
    pub fn save(mut self, cfg: &Config) {
        let (true, Some(path)) = (self.dirty, self.path.take()) else {
            return;
        };
        if !crate::store::layout_writable(cfg) {
            return;
        }
        while self.entries.len() > MAX_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, l)| l.learned)
                .map(|(k, _)| k.clone())
                .expect("not empty");
            self.entries.remove(&oldest);
        }
        let json = serde_json::to_vec(&File {
            format: FORMAT,
            entries: self.entries,
        })
        .expect("contracts serialise");
        if let Err(e) = crate::fsutil::write_atomic(&path, &json) {
            crate::ui::warn(cfg, &format!("could not write {}: {e}", path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_contracts_are_found_by_hash_or_by_source_and_label() {
        let home = tempfile::tempdir().unwrap();
        let cfg = Config::from_vars(vec![("KPLUG_HOME".into(), home.path().into())]);
        let info =
            Info::parse(b"protocols: [1]\nname: x\nversion: 1.4.0\nrequires: {kplug: '>=9'}\n")
                .unwrap();
        let sha = "ab".repeat(32);
        let mut c = Contracts::load(&cfg);
        assert!(c.find("o/x", "v1.4.0", None).is_none());
        c.learn(&sha, "o/x", "v1.4.0", &info);
        c.learn("not-a-hash", "o/x", "v1.4.0", &info);
        c.save(&cfg);
        let c = Contracts::load(&cfg);
        assert_eq!(c.entries.len(), 1);
        assert_eq!(
            c.find("o/x", "v1.4.0", None).unwrap().version.to_string(),
            "1.4.0"
        );
        assert!(c.find("o/x", "v1.4.0", Some(&sha)).is_some());
        assert!(
            c.find("o/x", "v1.4.0", Some(&"cd".repeat(32))).is_none(),
            "another artifact"
        );
        assert!(c.find("o/y", "v1.4.0", None).is_none());
        // A broken file is an empty cache.
        std::fs::write(home.path().join("cache/contracts.json"), "{").unwrap();
        assert!(Contracts::load(&cfg).entries.is_empty());
    }
}
