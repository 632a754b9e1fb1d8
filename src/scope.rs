//! Scopes: who wants an installed plugin version, and which are active.
//!
//! A plugin the user installs is *standalone* (the store's `current`
//! link). One installed because a cluster or a project recommends it is
//! *scoped*: `plugins/<name>/scopes/<key>` links to its version, and it is
//! active only while that cluster is the active one or kplug runs inside
//! that project. This module owns the scope names, the link keys, and
//! finding the active project (the nearest `kplug.yaml`) and the active
//! cluster (`--cluster`, `KPLUG_CLUSTER`, else the kubeconfig's current
//! context when it names a cluster kplug knows).
//!
//! Both are computed at most once per process, and only when asked: the
//! dispatch path asks only for a plugin that has a `scopes` directory.

use crate::config::Config;
use serde::Serialize;
use sha2::Digest;
use std::path::{Path, PathBuf};

/// The project file, looked for in the working directory and its parents.
pub const PROJECT_FILE: &str = "kplug.yaml";
/// The lock file beside it, written by `kplug plugin sync`.
pub const LOCK_FILE: &str = "kplug.lock";
/// How many parent directories are searched for a project file.
const MAX_PARENTS: usize = 64;

/// A scope other than standalone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Recommended by this cluster.
    Cluster(String),
    /// Recommended by the project in this directory (absolute).
    Project(PathBuf),
}

/// What a scope link holds before the version: the link is
/// `plugins/<name>/scopes/<kind>/<id> -> ../../<version>`.
pub const LINK_PREFIX: &str = "../../";

impl Scope {
    /// Its link's path under `plugins/<name>/scopes/`: `cluster/NAME` (the
    /// name is validated: no `/`), or `project/` and a digest of the
    /// project's path (any path fits in a file name that way). One
    /// directory per kind, so dispatch learns with a `stat` whether a
    /// plugin has a project's version at all before looking for a project.
    pub fn key(&self) -> String {
        match self {
            Scope::Cluster(name) => format!("cluster/{name}"),
            Scope::Project(dir) => format!("project/{}", project_key(dir)),
        }
    }

    /// How it is shown and recorded: `cluster/NAME`, `project:/PATH`.
    pub fn label(&self) -> String {
        match self {
            Scope::Cluster(name) => format!("cluster/{name}"),
            Scope::Project(dir) => format!("project:{}", dir.display()),
        }
    }

    /// The scope a label names (as recorded in receipts).
    pub fn from_label(label: &str) -> Option<Scope> {
        if let Some(name) = label.strip_prefix("cluster/") {
            return crate::cluster::sim::validate_cluster_name(name)
                .is_ok()
                .then(|| Scope::Cluster(name.to_string()));
        }
        let dir = Path::new(label.strip_prefix("project:")?);
        dir.is_absolute().then(|| Scope::Project(dir.to_path_buf()))
    }
}

/// The first 16 hex digits of the sha256 of a project's path.
pub fn project_key(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let digest = sha2::Sha256::digest(dir.as_os_str().as_bytes());
    crate::fsutil::hex(&digest[..8])
}

/// Whether a link key is one kplug writes (and so may name a path).
pub fn is_key(key: &str) -> bool {
    if let Some(name) = key.strip_prefix("cluster/") {
        return crate::cluster::sim::validate_cluster_name(name).is_ok();
    }
    key.strip_prefix("project/")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Where the active cluster came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterFrom {
    /// `--cluster NAME`, or the cluster a hook fires for.
    Flag,
    /// `KPLUG_CLUSTER`.
    Env,
    /// The kubeconfig's current context (named here).
    Kubeconfig,
}

/// The active cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveCluster {
    pub name: String,
    pub from: ClusterFrom,
    /// The kubeconfig context it was read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// The nearest directory at or above `start` holding a project file.
pub fn find_project(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .take(MAX_PARENTS)
        .find(|d| d.join(PROJECT_FILE).is_file())
        .map(Path::to_path_buf)
}

/// The project kplug runs in, if any (computed once).
pub fn active_project(cfg: &Config) -> Option<&Path> {
    cfg.active_project
        .get_or_init(|| {
            let cwd = std::env::current_dir().ok()?;
            find_project(&cwd)
        })
        .as_deref()
}

/// The active cluster, if any (computed once).
pub fn active_cluster(cfg: &Config) -> Option<&ActiveCluster> {
    cfg.active_cluster
        .get_or_init(|| {
            if let Some(name) = &cfg.cluster_override {
                return Some(ActiveCluster {
                    name: name.clone(),
                    from: ClusterFrom::Flag,
                    context: None,
                });
            }
            // A value that is no cluster name names no cluster (`kplug
            // cluster current` says so).
            if let Some(name) = cfg
                .var(crate::config::vars::CLUSTER)
                .and_then(|v| v.to_str())
                .filter(|n| crate::cluster::sim::validate_cluster_name(n).is_ok())
            {
                return Some(ActiveCluster {
                    name: name.to_string(),
                    from: ClusterFrom::Env,
                    context: None,
                });
            }
            let context = crate::kubeconfig::current_context(cfg)?;
            let (_, name) = crate::kubeconfig::cluster_of(&context)?;
            Some(ActiveCluster {
                name: name.to_string(),
                from: ClusterFrom::Kubeconfig,
                context: Some(context.clone()),
            })
        })
        .as_ref()
}

/// The active scopes, most specific first: the project's, then the
/// cluster's.
pub fn active(cfg: &Config) -> Vec<Scope> {
    let mut out = Vec::new();
    if let Some(p) = active_project(cfg) {
        out.push(Scope::Project(p.to_path_buf()));
    }
    if let Some(c) = active_cluster(cfg) {
        out.push(Scope::Cluster(c.name.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_keys_round_trip_and_never_name_paths() {
        let c = Scope::Cluster("dev".into());
        assert_eq!(c.label(), "cluster/dev");
        assert_eq!(c.key(), "cluster/dev");
        assert_eq!(Scope::from_label("cluster/dev"), Some(c));
        let p = Scope::Project("/home/ada/app".into());
        assert_eq!(p.label(), "project:/home/ada/app");
        assert_eq!(Scope::from_label(&p.label()), Some(p.clone()));
        assert!(is_key(&p.key()), "{}", p.key());
        assert_eq!(Scope::from_label("cluster/../x"), None);
        assert_eq!(Scope::from_label("project:relative"), None);
        assert!(!is_key("cluster/../x"));
        assert!(!is_key("project/zz"));
    }

    #[test]
    fn the_nearest_project_wins() {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path();
        let inner = outer.join("a/b");
        std::fs::create_dir_all(inner.join("c")).unwrap();
        assert_eq!(find_project(&inner), None);
        std::fs::write(outer.join(PROJECT_FILE), "plugins: {}\n").unwrap();
        assert_eq!(find_project(&inner.join("c")).as_deref(), Some(outer));
        std::fs::write(inner.join(PROJECT_FILE), "plugins: {}\n").unwrap();
        assert_eq!(find_project(&inner.join("c")).as_deref(), Some(&*inner));
    }
}
