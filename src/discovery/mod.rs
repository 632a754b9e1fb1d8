//! Finding plugins.
//!
//! This module owns the search order (kplug's store, then each directory of
//! `KPLUG_PLUGIN_PATH`, then each directory of `PATH`; first match wins),
//! the longest-prefix resolution of `kplug a b c` used on the dispatch path,
//! the full scan behind `kplug plugin list` (with shadowed duplicates and
//! refused names), and the catalog: each plugin with its INFO, taken from
//! the cache ([`cache`]) or asked for once ([`probe`]).
//!
//! The dispatch path ([`resolve_command`]) only `stat`s the few candidate
//! file names it needs: its cost does not grow with the number of plugins
//! installed, and it never runs INFO.

pub mod cache;
pub mod disabled;
pub mod probe;

use crate::config::Config;
use crate::protocol::{self, EXECUTABLE_PREFIX, Info, names};
use serde::Serialize;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What INFO said of a plugin: its document and the protocol spoken with
/// it, or why it is not usable. Judged by [`probe`], kept by [`cache`].
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Valid { info: Box<Info>, protocol: u32 },
    Invalid { reason: String },
}

/// Where a plugin was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Origin {
    /// Installed by `kplug plugin install`.
    #[serde(rename = "store")]
    Store,
    /// A directory of `KPLUG_PLUGIN_PATH`.
    #[serde(rename = "KPLUG_PLUGIN_PATH")]
    PluginPath,
    /// A directory of `PATH`.
    #[serde(rename = "PATH")]
    Path,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Store => "store",
            Origin::PluginPath => "KPLUG_PLUGIN_PATH",
            Origin::Path => "PATH",
        }
    }
}

/// A plugin executable found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub name: String,
    /// The executable.
    pub path: PathBuf,
    /// `KPLUG_PLUGIN_DIR`: the installed version's directory (store) or the
    /// directory holding the executable.
    pub dir: PathBuf,
    pub origin: Origin,
    /// The file's identity when a scan already read it (saves a second
    /// `stat` for the INFO cache lookup).
    pub stat: Option<cache::Key>,
    /// For the store: the scope whose version this is (`None`: standalone).
    pub scope: Option<crate::scope::Scope>,
}

impl Located {
    pub fn target(&self) -> crate::exec::Target<'_> {
        crate::exec::Target {
            name: &self.name,
            path: &self.path,
            dir: &self.dir,
        }
    }
}

/// Check a plugin name a user typed as an argument (a usage error, with
/// the rule, when it is not one).
pub fn check_name_arg(name: &str) -> crate::error::Result<()> {
    names::validate(name).map_err(|e| {
        crate::error::Error::usage(format!("invalid plugin name `{name}`: it {e}"))
            .with_hint("plugin names are lowercase letters, digits and `-`, like `registry`")
    })
}

/// Only regular files with an execute bit count (symlinks are followed; a
/// broken one is not a plugin).
pub fn is_executable_file(path: &Path) -> bool {
    executable_identity(path).is_some()
}

/// The identity of `path` if it is an executable regular file.
fn executable_identity(path: &Path) -> Option<cache::Key> {
    let m = std::fs::metadata(path).ok()?;
    (m.is_file() && m.permissions().mode() & 0o111 != 0).then(|| cache::Key::of(&m))
}

/// The executable of an installed plugin: the active project's version,
/// else the active cluster's, else the standalone `current`.
fn store_lookup(cfg: &Config, store: &Path, name: &str) -> Option<Located> {
    let plugin_dir = store.join(name);
    // Only a plugin some scope wants has `scopes/`: for every other one
    // this is one failed `open`, and the active scopes are never computed.
    let scopes = plugin_dir.join("scopes");
    if exists(&scopes) {
        // Only the kinds of scope this plugin has are looked for: a plugin
        // only clusters recommend never walks up for a kplug.yaml.
        let has = |kind: &str| exists(&scopes.join(kind));
        let mut wanted = Vec::with_capacity(2);
        if has("project")
            && let Some(p) = crate::scope::active_project(cfg)
        {
            wanted.push(crate::scope::Scope::Project(p.to_path_buf()));
        }
        if has("cluster")
            && let Some(c) = crate::scope::active_cluster(cfg)
        {
            wanted.push(crate::scope::Scope::Cluster(c.name.clone()));
        }
        for scope in wanted {
            let link = scopes.join(scope.key());
            if let Some(found) = linked(
                &plugin_dir,
                &link,
                name,
                Some(scope),
                crate::scope::LINK_PREFIX,
            ) {
                return Some(found);
            }
        }
    }
    linked(&plugin_dir, &plugin_dir.join("current"), name, None, "")
}

/// Whether `path` exists, in one system call: `access(2)`. (A failed
/// `stat` through std costs two, as it probes whether `statx` exists.)
fn exists(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
    unsafe { libc::access(c.as_ptr(), libc::F_OK) == 0 }
}

/// The version a store link names, if it is a version whose executable
/// is there. A link to anything but a version (`../../bin`) names no
/// plugin: it never leads out of the store.
fn linked(
    plugin_dir: &Path,
    link: &Path,
    name: &str,
    scope: Option<crate::scope::Scope>,
    prefix: &str,
) -> Option<Located> {
    let target = std::fs::read_link(link).ok()?;
    let version = target
        .to_str()?
        .strip_prefix(prefix)
        .filter(|v| crate::store::is_version(v))?;
    let dir = plugin_dir.join(version);
    let path = dir.join(format!("{EXECUTABLE_PREFIX}{name}"));
    let stat = executable_identity(&path)?;
    Some(Located {
        name: name.to_string(),
        path,
        dir,
        origin: Origin::Store,
        stat: Some(stat),
        scope,
    })
}

/// Find the plugin `name` in search order (no INFO, no directory listing).
pub fn find(cfg: &Config, name: &str) -> Option<Located> {
    if let Some(found) = cfg.store_dir().and_then(|s| store_lookup(cfg, &s, name)) {
        return Some(found);
    }
    let file = format!("{EXECUTABLE_PREFIX}{name}");
    let dirs = cfg
        .plugin_path
        .iter()
        .map(|d| (d, Origin::PluginPath))
        .chain(cfg.path.iter().map(|d| (d, Origin::Path)));
    for (dir, origin) in dirs {
        let path = dir.join(&file);
        if is_executable_file(&path) {
            return Some(Located {
                name: name.to_string(),
                path,
                dir: dir.clone(),
                origin,
                stat: None,
                scope: None,
            });
        }
    }
    None
}

/// Resolve the leading words of a command line to a plugin, longest prefix
/// first: `a b c` tries `kplug-a-b-c`, then `kplug-a-b`, then `kplug-a`.
/// Returns the plugin and how many words its name used.
pub fn resolve_command(cfg: &Config, words: &[impl AsRef<OsStr>]) -> Option<(Located, usize)> {
    let mut name = String::new();
    let mut names: Vec<String> = Vec::new();
    for word in words {
        let w = word.as_ref().as_bytes();
        if !names::is_segment(w) || name.len() + 1 + w.len() > names::MAX_LEN {
            break;
        }
        if !name.is_empty() {
            name.push('-');
        }
        name.push_str(std::str::from_utf8(w).expect("segments are ASCII"));
        names.push(name.clone());
    }
    names.into_iter().enumerate().rev().find_map(|(i, name)| {
        if names::validate(&name).is_err() {
            return None;
        }
        find(cfg, &name).map(|found| (found, i + 1))
    })
}

/// Why a found executable is not the one `kplug <name>` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// First in search order: this is the plugin.
    Active,
    /// An earlier directory has a plugin of the same name.
    Shadowed { by: PathBuf },
    /// The name breaks the naming rules.
    BadName(String),
}

#[derive(Debug, Clone)]
pub struct Found {
    pub located: Located,
    pub standing: Standing,
}

fn scan_dir(dir: &Path, origin: Origin, out: &mut Vec<Located>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut here = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(name) = file
            .to_str()
            .and_then(|f| f.strip_prefix(EXECUTABLE_PREFIX))
        else {
            continue;
        };
        let path = entry.path();
        // A regular file is stat'ed relative to the open directory (no
        // path walk); only symlinks need their target looked up by path.
        let stat = match entry.file_type() {
            Ok(t) if t.is_file() => entry
                .metadata()
                .ok()
                .filter(|m| m.permissions().mode() & 0o111 != 0)
                .map(|m| cache::Key::of(&m)),
            Ok(t) if t.is_symlink() => executable_identity(&path),
            _ => None,
        };
        if let Some(stat) = stat {
            here.push(Located {
                name: name.to_string(),
                path,
                dir: dir.to_path_buf(),
                origin,
                stat: Some(stat),
                scope: None,
            });
        }
    }
    // Names are unique within a directory: no need for a stable sort.
    here.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    out.extend(here);
}

/// Every `kplug-*` executable in search order, each with its standing.
/// Sorted by name; duplicates of a name follow their active copy.
pub fn scan(cfg: &Config) -> Vec<Found> {
    let mut all: Vec<Located> = Vec::new();
    if let Some(store) = cfg.store_dir()
        && let Ok(entries) = std::fs::read_dir(&store)
    {
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        all.extend(names.iter().filter_map(|n| store_lookup(cfg, &store, n)));
    }
    for dir in &cfg.plugin_path {
        scan_dir(dir, Origin::PluginPath, &mut all);
    }
    for dir in &cfg.path {
        scan_dir(dir, Origin::Path, &mut all);
    }

    let mut found: Vec<Found> = Vec::with_capacity(all.len());
    // Name → path of the active copy.
    let mut active: std::collections::HashMap<String, PathBuf> = std::collections::HashMap::new();
    for located in all {
        let standing = if let Err(e) = names::validate(&located.name) {
            Standing::BadName(format!("plugin name `{}` {e}", located.name))
        } else if let Some(first) = active.get(&located.name) {
            Standing::Shadowed { by: first.clone() }
        } else {
            active.insert(located.name.clone(), located.path.clone());
            Standing::Active
        };
        found.push(Found { located, standing });
    }
    // Stable: keeps search order among copies of one name.
    found.sort_by(|a, b| a.located.name.cmp(&b.located.name));
    found
}

/// A plugin as `kplug plugin list` reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    pub name: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub path: PathBuf,
    pub origin: Origin,
    /// `standalone`, `cluster/NAME` or `project:/PATH`: who wants this
    /// version.
    pub scope: String,
    #[serde(skip)]
    pub dir: PathBuf,
    /// The negotiated protocol version, for valid plugins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
    /// For plugins in the store: where the current version came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<crate::store::InstalledVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<Info>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Valid,
    /// Valid, but its hooks are turned off (`kplug plugin disable`).
    Disabled,
    Invalid,
    Shadowed,
    /// Installed for a scope that is not active here, or a standalone
    /// version a scope's overrides.
    Inactive,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Disabled => "disabled",
            Status::Invalid => "invalid",
            Status::Shadowed => "shadowed",
            Status::Inactive => "inactive",
        }
    }
}

/// Options of [`catalog`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CatalogOptions {
    /// Ask every plugin for INFO again, ignoring the cache.
    pub refresh: bool,
    /// Read each store plugin's receipt (where it came from): for listings,
    /// not for hook planning, which fires often and never shows it.
    pub receipts: bool,
    /// Also list the store's versions that are not active here (other
    /// scopes', standalone ones a scope overrides), as `inactive`.
    pub inactive: bool,
}

/// Every plugin with its INFO (from the cache, or asked for once and cached).
/// Shadowed copies and refused names are listed with the reason and never
/// executed.
pub fn catalog(cfg: &Config, opts: CatalogOptions) -> Vec<Plugin> {
    let disabled = disabled::load(cfg).unwrap_or_else(|e| {
        crate::ui::warn(cfg, &e.to_string());
        Default::default()
    });
    let found = scan(cfg);
    let active: Vec<&Located> = found
        .iter()
        .filter(|f| f.standing == Standing::Active)
        .map(|f| &f.located)
        .collect();
    let extra = if opts.inactive {
        inactive_candidates(cfg, &found)
    } else {
        Vec::new()
    };
    let mut asked = active.clone();
    asked.extend(extra.iter().map(|(l, _)| l));
    let probes = probe::probe_all(cfg, &asked, opts.refresh);
    let mut probes = probes.into_iter();
    let mut plugins: Vec<Plugin> = found
        .into_iter()
        .map(|f| {
            let Found { located, standing } = f;
            let (status, reason, protocol, info) = match standing {
                Standing::Active => match probes.next().expect("one probe per active plugin") {
                    Probe::Valid { info, protocol } => {
                        let status = if disabled.contains(&located.name) {
                            Status::Disabled
                        } else {
                            Status::Valid
                        };
                        (status, None, Some(protocol), Some(*info))
                    }
                    Probe::Invalid { reason } => (Status::Invalid, Some(reason), None, None),
                },
                Standing::Shadowed { by } => (
                    Status::Shadowed,
                    Some(format!("shadowed by {}", by.display())),
                    None,
                    None,
                ),
                Standing::BadName(reason) => (Status::Invalid, Some(reason), None, None),
            };
            let installed = (opts.receipts && located.origin == Origin::Store)
                .then(|| receipt_entry(cfg, &located))
                .flatten();
            Plugin {
                name: located.name,
                status,
                reason,
                path: located.path,
                origin: located.origin,
                scope: scope_label(located.scope.as_ref()),
                dir: located.dir,
                protocol,
                info,
                installed,
            }
        })
        .collect();
    for ((located, why), probe) in extra.into_iter().zip(probes) {
        let (info, protocol, reason) = match probe {
            Probe::Valid { info, protocol } => (Some(*info), Some(protocol), why),
            Probe::Invalid { reason } => (None, None, format!("{why}; {reason}")),
        };
        let installed = opts
            .receipts
            .then(|| receipt_entry(cfg, &located))
            .flatten();
        plugins.push(Plugin {
            name: located.name,
            status: Status::Inactive,
            reason: Some(reason),
            path: located.path,
            origin: located.origin,
            scope: scope_label(located.scope.as_ref()),
            dir: located.dir,
            protocol,
            installed,
            info,
        });
    }
    if opts.inactive {
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
    }
    plugins
}

fn scope_label(scope: Option<&crate::scope::Scope>) -> String {
    scope.map_or_else(|| "standalone".to_string(), crate::scope::Scope::label)
}

/// The store's versions that `kplug NAME` does not run here: those of
/// scopes that are not active, and standalone versions an active scope's
/// overrides; each with why it is inactive.
fn inactive_candidates(cfg: &Config, found: &[Found]) -> Vec<(Located, String)> {
    let Ok(store) = crate::store::Store::new(cfg) else {
        return Vec::new();
    };
    let scopes = crate::scope::active(cfg);
    let mut out = Vec::new();
    for name in store.all_plugins() {
        let plugin_dir = store.plugin_dir(&name);
        let live = found
            .iter()
            .find(|f| f.located.name == name && f.standing == Standing::Active)
            .map(|f| &f.located);
        // Only a plugin some scope wants has versions that may be inactive.
        let receipt = store.receipt(&name).unwrap_or_default();
        if receipt.scopes.is_empty() {
            continue;
        }
        let mut slots: Vec<(Option<crate::scope::Scope>, PathBuf, &str)> =
            vec![(None, plugin_dir.join("current"), "")];
        for label in receipt.scopes.keys() {
            if let Some(scope) = crate::scope::Scope::from_label(label) {
                let link = plugin_dir.join("scopes").join(scope.key());
                slots.push((Some(scope), link, crate::scope::LINK_PREFIX));
            }
        }
        for (scope, link, prefix) in slots {
            let Some(located) = linked(&plugin_dir, &link, &name, scope.clone(), prefix) else {
                continue;
            };
            if live.is_some_and(|l| l.scope == scope && l.path == located.path) {
                continue;
            }
            let why = match (&scope, live) {
                (None, Some(l)) => format!("overridden here by {}", scope_label(l.scope.as_ref())),
                (None, None) => "not run here".to_string(),
                (Some(s), Some(l)) if scopes.contains(s) => {
                    format!("overridden here by {}", scope_label(l.scope.as_ref()))
                }
                (Some(crate::scope::Scope::Cluster(c)), _) => {
                    format!("used while cluster {c} is the active one")
                }
                (Some(crate::scope::Scope::Project(d)), _) => {
                    format!("used inside {}", crate::ui::escape(&d.to_string_lossy()))
                }
            };
            out.push((located, why));
        }
    }
    out
}

/// The receipt entry of a store plugin's current version.
fn receipt_entry(cfg: &Config, located: &Located) -> Option<crate::store::InstalledVersion> {
    let store = crate::store::Store::new(cfg).ok()?;
    let version = located.dir.file_name()?.to_str()?;
    store.receipt(&located.name).ok()?.version(version).cloned()
}

/// Plugin names for "did you mean" suggestions and completion: no INFO.
pub fn names(cfg: &Config) -> Vec<String> {
    // `scan` marks one copy of each name active, so there are no duplicates.
    scan(cfg)
        .into_iter()
        .filter(|f| f.standing == Standing::Active)
        .map(|f| f.located.name)
        .collect()
}

/// The protocol versions a plugin speaks, as text for messages.
pub fn describe_protocols(list: &[u32]) -> String {
    let host: Vec<String> = protocol::SUPPORTED_PROTOCOLS
        .iter()
        .map(u32::to_string)
        .collect();
    let plugin: Vec<String> = list.iter().map(u32::to_string).collect();
    format!(
        "the plugin speaks protocol {}, this kplug speaks {}",
        plugin.join(", "),
        host.join(", ")
    )
}
