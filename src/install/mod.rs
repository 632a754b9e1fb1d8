//! Installing plugins into the store, and moving them between versions.
//!
//! Layers, each importing only those below it:
//!
//! * this module — the facade the commands call ([`install`], [`remove`],
//!   and the version commands of [`manage`]) and their option and result
//!   types;
//! * [`manage`] — update, use, rollback, pin, outdated, versions, contract;
//! * `installer` — one install under the store lock, step by step (resolve
//!   → fetch → verify → stage → gate → commit → activate → probe), its
//!   store changes one transaction that takes itself back on failure;
//! * [`select`] — the one walk over candidate versions;
//! * [`source`] — `trait Source` and its kinds (GitHub releases, a URL, a
//!   local file or directory);
//! * mechanisms: [`http`], [`download`], [`verify`], [`extract`],
//!   [`asset`], and the memory of learned contracts.
//!
//! Every step may fail; a failure at any step leaves the previous version
//! live and nothing partial visible.

pub mod asset;
pub mod catalog;
mod contracts;
pub mod download;
pub mod extract;
pub mod http;
mod installer;
pub mod inventory;
pub mod manage;
pub mod oci;
pub mod select;
pub mod signing;
pub mod source;
pub mod verify;

pub use asset::ArchiveKind;
pub use select::Skipped;
pub use source::github::CONTRACT_ASSET;
pub use source::{Request, Spec};

use crate::config::Config;
use crate::error::{Error, Result, exit};
use crate::hooks::{self, FireOptions};
use crate::protocol::{Event, ExecContext};
use crate::store::{InstalledVersion, Store};

#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Admit prereleases.
    pub pre: bool,
    /// Reinstall even if this version is already current.
    pub force: bool,
    /// Refuse a release without a published checksum.
    pub require_checksum: bool,
    /// Refuse an artifact without a signature.
    pub require_signature: bool,
    /// Use only the download cache.
    pub offline: bool,
    /// Expected sha256 (required for plain URLs).
    pub sha256: Option<String>,
    /// Fire `post-plugin-install`.
    pub hooks: bool,
    /// Install missing required plugins from their `source`.
    pub with_deps: bool,
    /// Do not enforce the plugin's contract (also `KPLUG_SKIP_CHECKS=1`).
    pub skip_checks: bool,
    /// Only releases of this major version.
    pub major: Option<u64>,
    /// An update: stay within the installed major version unless `major`
    /// says otherwise.
    pub update: bool,
    /// Install for a cluster's or project's scope (its `scopes/` link),
    /// never touching the standalone `current`; what the scope asked for.
    pub scope: Option<ScopeRequest>,
}

/// A scoped install: the scope, and what it asked of each plugin (recorded
/// in the receipt with the version it got).
#[derive(Debug, Clone)]
pub struct ScopeRequest {
    pub scope: crate::scope::Scope,
    pub wants: std::collections::BTreeMap<String, crate::store::ScopeWant>,
    /// The sha256 a lock file pins a plugin's artifact to: anything else is
    /// refused before the store changes.
    pub pinned: std::collections::BTreeMap<String, String>,
}

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// The version that was current before, if any.
    pub previous: Option<String>,
    /// Nothing to do: this version was already current (or nothing newer
    /// is compatible; see `skipped`).
    pub unchanged: bool,
    pub entry: Option<InstalledVersion>,
    /// `post-plugin-install` failed (exit 4): the install stands.
    pub hook_error: Option<Error>,
    /// Releases passed over because their contract does not hold, newest
    /// first.
    pub skipped: Vec<Skipped>,
    /// Newer releases left out because they are of another major version.
    pub other_major: Option<String>,
    /// Required plugins installed along the way (`--with-deps`).
    pub deps: Vec<Installed>,
    /// Old versions removed after the switch.
    pub pruned: Vec<String>,
}

impl Installed {
    fn unchanged(name: &str, version: &str) -> Installed {
        Installed {
            name: name.to_string(),
            version: version.to_string(),
            previous: None,
            unchanged: true,
            entry: None,
            hook_error: None,
            skipped: Vec::new(),
            other_major: None,
            deps: Vec::new(),
            pruned: Vec::new(),
        }
    }
}

/// Install what SOURCE names (see [`catalog::request`] for its forms).
pub fn install(cfg: &Config, text: &str, opts: &InstallOptions) -> Result<Installed> {
    let mut done = install_many(cfg, &[text.to_string()], None, opts, 1)?;
    done.pop().expect("one result per source").1
}

/// Install each of `texts`, and the members of `group` (`NAME` or
/// `NAME@VERSION` of an inventory's group), prepared `jobs` at a time.
/// Each request has its own outcome, labelled with what was asked: one
/// that fails leaves the others to go on. An error for the whole (a bad
/// option, a group that does not exist) comes first.
pub fn install_many(
    cfg: &Config,
    texts: &[String],
    group: Option<&str>,
    opts: &InstallOptions,
    jobs: usize,
) -> Result<Vec<(String, Result<Installed>)>> {
    if let Some(s) = &opts.sha256
        && !verify::is_sha256(s)
    {
        return Err(Error::usage(format!(
            "`--sha256 {}` is not a sha256 (64 hex digits)",
            crate::ui::escape(s)
        )));
    }
    if opts.sha256.is_some() && (texts.len() != 1 || group.is_some()) {
        return Err(Error::usage(
            "`--sha256` checks one file: give one SOURCE with it",
        ));
    }
    let mut labels: Vec<String> = texts.to_vec();
    // The sources are refreshed once for every name asked (and the group).
    let by_name = |t: &String| !t.contains("://") && !t.starts_with(['/', '.', '~']);
    if !opts.offline && (group.is_some() || texts.iter().any(by_name)) {
        let catalog = catalog::Catalog::new(cfg)?;
        catalog.refresh_and_warn(None, false);
    }
    let mut asked: Vec<Result<Request>> = texts
        .iter()
        .map(|t| catalog::request(cfg, t, opts.sha256.as_deref(), false))
        .collect();
    if let Some(g) = group {
        let (name, version) = match g.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (g, None),
        };
        let catalog = catalog::Catalog::new(cfg)?;
        let (source, group) = catalog.group(name, version)?;
        eprintln!(
            "group {} {} from source `{source}`: {}",
            crate::ui::escape(&group.name),
            group.version,
            group
                .plugins
                .iter()
                .map(|m| format!("{} {}", crate::ui::escape(&m.name), m.version))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for m in group.plugins {
            labels.push(format!("{source}/{}@{}", m.name, m.version));
            asked.push(catalog.request_from(&source, &m.name, Spec::Tag(m.version.to_string())));
        }
    }
    for r in asked.iter().flatten() {
        if opts.major.is_some() && !r.source.has_versions() {
            return Err(Error::usage(
                "`--major` picks among a source's versions; a single file or URL has none",
            ));
        }
    }
    // Parse failures stand; the rest are installed together.
    let mut outcomes: Vec<Option<Result<Installed>>> = Vec::new();
    let mut reqs = Vec::new();
    for r in asked {
        match r {
            Ok(req) => {
                outcomes.push(None);
                reqs.push(req);
            }
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }
    let mut done = if reqs.is_empty() {
        Vec::new().into_iter()
    } else {
        installer::run_all(cfg, reqs, opts, jobs)?.into_iter()
    };
    let results: Vec<Result<Installed>> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| done.next().expect("one result per request")))
        .collect();
    Ok(labels.into_iter().zip(results).collect())
}

/// Install prepared requests (`jobs` at a time), each with its own
/// outcome, in order.
pub fn install_requests(
    cfg: &Config,
    reqs: Vec<Request>,
    opts: &InstallOptions,
    jobs: usize,
) -> Result<Vec<Result<Installed>>> {
    if reqs.is_empty() {
        return Ok(Vec::new());
    }
    installer::run_all(cfg, reqs, opts, jobs)
}

/// What a remove did.
#[derive(Debug)]
pub struct Removed {
    pub name: String,
    pub versions: Vec<String>,
}

/// Remove an installed plugin: `pre-plugin-remove` (it may refuse), then
/// every version and its receipt. `all` also drops its cached downloads and
/// its data directory.
pub fn remove(cfg: &Config, name: &str, all: bool, hooks_on: bool) -> Result<Removed> {
    crate::discovery::check_name_arg(name)?;
    let store = Store::new(cfg)?;
    let versions = store.installed_versions(name);
    let Some(version) = store.current(name).or_else(|| versions.last().cloned()) else {
        if store.plugin_dir(name).is_dir() {
            // A broken entry (no version left, a bad `current`): removing
            // it is the fix.
            let lock = store.lock()?;
            store.remove_plugin(&lock, name)?;
            return Ok(Removed {
                name: name.to_string(),
                versions: Vec::new(),
            });
        }
        let mut err = Error::new(format!("`{name}` is not installed in kplug's store"));
        if let Some(found) = crate::discovery::find(cfg, name) {
            err = err.with_hint(format!(
                "`kplug {name}` runs {} ({}), which kplug did not install: remove that file yourself",
                found.path.display(),
                found.origin.as_str()
            ));
        }
        return Err(err);
    };
    if hooks_on && !cfg.no_hooks() {
        let plan = hooks::plan(cfg, Event::PrePluginRemove, Some(name))?;
        let mut ctx = ExecContext::for_plugin(
            Event::PrePluginRemove,
            crate::clock::invocation_id(),
            name,
            &version,
        );
        hooks::fire_pre(
            cfg,
            &plan,
            &mut ctx,
            FireOptions {
                jobs: 1,
                best_effort: false,
            },
        )
        .map_err(|e| {
            if e.code() == exit::VETOED {
                e.with_hint(format!(
                    "remove it anyway with `kplug plugin remove {name} --no-hooks`"
                ))
            } else {
                e
            }
        })?;
    }
    let lock = store.lock()?;
    // A corrupt receipt does not stop a removal: it only means the cached
    // downloads cannot be found to drop with `--all`.
    let hashes: Vec<String> = match store.receipt(name) {
        Ok(r) => r.versions.into_iter().map(|v| v.sha256).collect(),
        Err(e) => {
            if all {
                crate::ui::warn(cfg, &format!("{e}; its cached downloads are left alone"));
            }
            Vec::new()
        }
    };
    store.remove_plugin(&lock, name)?;
    if all {
        store.drop_blobs(&lock, &hashes);
        if let Some(data) = cfg.plugin_data_dir(name) {
            let _ = std::fs::remove_dir_all(data);
        }
    }
    Ok(Removed {
        name: name.to_string(),
        versions,
    })
}
