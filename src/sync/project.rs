//! `kplug.yaml` (what a project wants) and `kplug.lock` (what that
//! resolved to).
//!
//! ```yaml
//! # kplug.yaml
//! plugins:
//!   hello: v1                 # a version, a shortened version or a range
//!   lint: {version: ^0.4, source: acme/kplug-lint}
//! sources:                    # added to the configured ones inside the project
//! - {name: team, kind: index, address: https://plugins.example.com/index.yaml}
//! ```
//!
//! The lock is YAML too, sorted by plugin name, one key per line, so it
//! diffs well; it is written whole and renamed into place (never torn).

use super::Want;
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::protocol::names;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest project or lock file read.
const MAX_FILE: u64 = 1024 * 1024;
/// Most plugins a project may list.
const MAX_PLUGINS: usize = 1000;

/// A parsed `kplug.yaml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Project {
    pub dir: PathBuf,
    pub plugins: Vec<Want>,
    pub sources: Vec<SourceConfig>,
}

fn bad(path: &Path, key: &str, problem: impl std::fmt::Display) -> Error {
    Error::usage(format!(
        "{}: `{}` {problem}",
        path.display(),
        crate::ui::escape(key)
    ))
    .with_hint(format!(
        "fix {}: `plugins:` maps plugin names to a version (`v1`, `1.4.2`, `^1.2`) or to `{{version, source}}`",
        path.display()
    ))
}

/// Read the project file of `dir`.
pub fn load(dir: &Path) -> Result<Project> {
    let path = dir.join(crate::scope::PROJECT_FILE);
    let bytes = crate::fsutil::read_bounded(&path, MAX_FILE)
        .map_err(|e| Error::new(format!("could not read {}", path.display())).caused_by(e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::usage(format!("{} is not UTF-8 text", path.display())))?;
    let doc: serde_yaml::Value = if text.trim().is_empty() {
        serde_yaml::Value::Mapping(Default::default())
    } else {
        crate::protocol::yaml::from_str(&text).map_err(|e| {
            Error::usage(format!("{} is not valid YAML", path.display()))
                .caused_by(crate::ui::escape(&e).into_owned())
        })?
    };
    let map = doc
        .as_mapping()
        .ok_or_else(|| bad(&path, "(top level)", "is not a mapping"))?;
    let mut project = Project {
        dir: dir.to_path_buf(),
        ..Project::default()
    };
    for (key, value) in map {
        let key = key.as_str().unwrap_or("(not text)");
        match key {
            "plugins" => project.plugins = plugins(&path, value)?,
            "sources" => {
                project.sources = serde_yaml::from_value(value.clone())
                    .map_err(|e| bad(&path, "sources", format!("is not a list of sources: {e}")))?;
                for (i, s) in project.sources.iter().enumerate() {
                    crate::install::catalog::check_configured(s).map_err(|e| {
                        bad(
                            &path,
                            &format!("sources[{i}]"),
                            format!("is not usable: {}", e.message()),
                        )
                    })?;
                }
            }
            other => {
                return Err(bad(
                    &path,
                    other,
                    "is not a key of kplug.yaml (plugins, sources)",
                ));
            }
        }
    }
    Ok(project)
}

fn plugins(path: &Path, value: &serde_yaml::Value) -> Result<Vec<Want>> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    let map = value
        .as_mapping()
        .ok_or_else(|| bad(path, "plugins", "is not a mapping of plugin names"))?;
    if map.len() > MAX_PLUGINS {
        return Err(bad(
            path,
            "plugins",
            format!("lists more than {MAX_PLUGINS} plugins"),
        ));
    }
    let mut out = Vec::new();
    for (name, want) in map {
        let name = name
            .as_str()
            .ok_or_else(|| bad(path, "plugins", "has a key that is not text"))?;
        let key = format!("plugins.{name}");
        names::validate(name)
            .map_err(|e| bad(path, &key, format!("is not a plugin name: it {e}")))?;
        let (request, source) = match want {
            serde_yaml::Value::Mapping(m) => {
                let mut version = None;
                let mut source = None;
                for (k, v) in m {
                    match k.as_str() {
                        Some("version") => {
                            version = Some(scalar(path, &format!("{key}.version"), v)?)
                        }
                        Some("source") => source = Some(scalar(path, &format!("{key}.source"), v)?),
                        _ => {
                            return Err(bad(
                                path,
                                &format!("{key}.{}", k.as_str().unwrap_or("?")),
                                "is not a key of a plugin (version, source)",
                            ));
                        }
                    }
                }
                (version.unwrap_or_default(), source)
            }
            other => (scalar(path, &key, other)?, None),
        };
        out.push(
            Want::new(name, &request, source.as_deref())
                .map_err(|e| bad(path, &key, e.message().to_string()))?,
        );
    }
    Ok(out)
}

/// A version or source as text. YAML reads `1.2` as a number (and `1.10`
/// as 1.1): only whole numbers are taken, anything else must be quoted.
fn scalar(path: &Path, key: &str, v: &serde_yaml::Value) -> Result<String> {
    match v {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        serde_yaml::Value::Number(_) => Err(bad(
            path,
            key,
            "is a number: write versions as text, e.g. \"1.10\" (YAML reads 1.10 as 1.1)",
        )),
        _ => Err(bad(path, key, "is not text")),
    }
}

/// `kplug.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The lock format.
    pub version: u32,
    #[serde(default)]
    pub plugins: BTreeMap<String, Locked>,
}

/// One plugin of the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    /// What `kplug.yaml` asked for when this was resolved.
    pub request: String,
    /// Where from, as `kplug.yaml` says (absent: the plugin's sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The exact version it resolved to.
    pub version: String,
    /// The sha256 of its artifact.
    pub sha256: String,
    /// Where the artifact came from (a repository, an inventory, a registry).
    pub resolved: String,
}

pub const LOCK_FORMAT: u32 = 1;

/// Read `kplug.lock` beside `kplug.yaml` (`None` when there is none).
pub fn load_lock(dir: &Path) -> Result<Option<Lock>> {
    let path = dir.join(crate::scope::LOCK_FILE);
    let bytes = match crate::fsutil::read_bounded(&path, MAX_FILE) {
        Ok(b) => b,
        Err(crate::fsutil::ReadError::Missing) => return Ok(None),
        Err(e) => return Err(Error::new(format!("could not read {}", path.display())).caused_by(e)),
    };
    let broken = |problem: String| {
        Error::usage(format!("{} is not a kplug lock file", path.display()))
            .caused_by(problem)
            .with_hint(
                "restore it from version control, or delete it and run `kplug plugin sync` to write it again",
            )
    };
    let text = String::from_utf8(bytes).map_err(|_| broken("it is not UTF-8 text".into()))?;
    let lock: Lock = crate::protocol::yaml::from_str(&text)
        .map_err(|e| broken(crate::ui::escape(&e).into_owned()))?;
    if lock.version != LOCK_FORMAT {
        return Err(broken(format!(
            "it has format {}, this kplug writes format {LOCK_FORMAT}",
            lock.version
        )));
    }
    for (name, l) in &lock.plugins {
        if names::validate(name).is_err() {
            return Err(broken(format!(
                "`{}` is not a plugin name",
                crate::ui::escape(name)
            )));
        }
        if !crate::store::is_version(&l.version) {
            return Err(broken(format!(
                "plugins.{name}.version is not a semantic version"
            )));
        }
        if !crate::fsutil::is_sha256(&l.sha256) {
            return Err(broken(format!("plugins.{name}.sha256 is not a sha256")));
        }
    }
    Ok(Some(lock))
}

/// Write `kplug.lock` atomically (a kill leaves the old one or the new).
pub fn write_lock(dir: &Path, lock: &Lock) -> Result<PathBuf> {
    let path = dir.join(crate::scope::LOCK_FILE);
    let body = serde_yaml::to_string(lock)
        .map_err(|e| Error::new("could not encode the lock file").caused_by(e))?;
    let text = format!(
        "# Written by `kplug plugin sync` from kplug.yaml: commit it, do not edit it.\n{body}"
    );
    crate::fsutil::write_atomic(&path, text.as_bytes())
        .map_err(|e| Error::new(format!("could not write {}", path.display())).caused_by(e))?;
    Ok(path)
}

/// A starter `kplug.yaml`: each standalone plugin installed from a source
/// at its major version (`v1`), or an empty list.
pub fn starter(installed: &[(String, String, Option<String>)]) -> String {
    let mut out = String::from(
        "# Plugins this project uses; `kplug plugin sync` installs them and writes kplug.lock.\n\
         # Versions: exact (1.4.2), shortened (v1 = newest 1.x, v1.4 = newest 1.4.x) or a range (^1.2).\n",
    );
    if installed.is_empty() {
        out.push_str("plugins: {}\n");
        return out;
    }
    out.push_str("plugins:\n");
    for (name, version, source) in installed {
        let major = semver::Version::parse(version).map_or_else(
            |_| version.clone(),
            |v| {
                if v.major == 0 {
                    format!("v0.{}", v.minor)
                } else {
                    format!("v{}", v.major)
                }
            },
        );
        match source {
            Some(s) => out.push_str(&format!(
                "  {name}: {{version: {major}, source: {}}}\n",
                serde_json::to_string(s).unwrap_or_default()
            )),
            None => out.push_str(&format!("  {name}: {major}\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Project> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kplug.yaml"), text).unwrap();
        load(dir.path())
    }

    #[test]
    fn versions_and_sources_are_read() {
        let p =
            parse("plugins:\n  hello: v1\n  lint: {version: ^0.4, source: acme/lint}\n  two: 2\n")
                .unwrap();
        let got: Vec<(String, String, Option<String>)> = p
            .plugins
            .iter()
            .map(|w| (w.name.clone(), w.request.clone(), w.source.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("hello".into(), "v1".into(), None),
                ("lint".into(), "^0.4".into(), Some("acme/lint".into())),
                ("two".into(), "2".into(), None),
            ]
        );
    }

    #[test]
    fn bad_files_name_the_key_and_the_problem() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert!(err("plugins: [a]").contains("`plugins` is not a mapping"));
        assert!(err("plugin: {}").contains("`plugin` is not a key"));
        assert!(err("plugins:\n  Bad: v1\n").contains("`plugins.Bad` is not a plugin name"));
        assert!(err("plugins:\n  a: 1.10\n").contains("write versions as text"));
        assert!(err("plugins:\n  a: {version: v1, sorce: x}\n").contains("`plugins.a.sorce`"));
        assert!(err("plugins:\n  a: \"not a version!\"\n").contains("`plugins.a`"));
        assert!(err("plugins: {a: v1").contains("not valid YAML"));
    }

    #[test]
    fn the_lock_round_trips_sorted_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = Lock {
            version: LOCK_FORMAT,
            ..Lock::default()
        };
        for name in ["zeta", "alpha"] {
            lock.plugins.insert(
                name.into(),
                Locked {
                    request: "v1".into(),
                    source: None,
                    version: "1.0.0".into(),
                    sha256: "a".repeat(64),
                    resolved: "acme/x".into(),
                },
            );
        }
        write_lock(dir.path(), &lock).unwrap();
        let text = std::fs::read_to_string(dir.path().join("kplug.lock")).unwrap();
        assert!(text.find("alpha").unwrap() < text.find("zeta").unwrap());
        assert_eq!(load_lock(dir.path()).unwrap(), Some(lock));
        std::fs::write(
            dir.path().join("kplug.lock"),
            text.replace(&"a".repeat(64), "x"),
        )
        .unwrap();
        assert!(
            load_lock(dir.path())
                .unwrap_err()
                .to_string()
                .contains("sha256 is not a sha256")
        );
    }
}
