//! Moving installed plugins between versions (`update`, `use`,
//! `rollback`, `pin`) and reporting on them (`versions`, `outdated`,
//! `contract`). Everything that chooses a version goes through
//! [`select`]'s one walk; everything that switches goes through the
//! installer's `activate` (switch, health probe, automatic switch back,
//! prune).

use super::contracts::Contracts;
use super::installer::{self, Gate, Installer, Known};
use super::select::{self, Candidate, Found, Policy, Skipped, Spec, Verdict};
use super::source::{self, Intent, Request, Source};
use super::{CONTRACT_ASSET, InstallOptions, Installed};
use crate::config::Config;
use crate::discovery::{self, Located, Origin, probe};
use crate::error::{Error, Result};
use crate::protocol::{EXECUTABLE_PREFIX, Info, Requires};
use crate::requirements::{self, Cluster, Env, Report};
use crate::store::{self, Store};
use semver::Version;
use serde::Serialize;

/// Most published contracts read to annotate one listing.
const MAX_CONTRACTS_LISTED: usize = 30;

/// The source an installed plugin came from (or one given directly, like
/// `owner/repo`), and the plugin name.
fn resolve_target(cfg: &Config, store: &Store, target: &str) -> Result<(String, Request)> {
    if target.contains('/') {
        let req = super::catalog::request(cfg, target, None, true)?;
        let name = match (req.source.has_versions(), req.source.plugin_name()) {
            (true, Some(n)) => n,
            _ => {
                return Err(Error::usage(format!(
                    "`{}` is not a source with versions (like `owner/repo`)",
                    crate::ui::escape(target)
                )));
            }
        };
        return Ok((name, req));
    }
    discovery::check_name_arg(target)?;
    let receipt = store.receipt(target)?;
    let current = store.current(target);
    let entry = current
        .as_deref()
        .and_then(|c| receipt.version(c))
        .or_else(|| receipt.versions.last());
    let Some(entry) = entry else {
        return Err(
            Error::new(format!("`{target}` is not installed in kplug's store")).with_hint(format!(
                "give its repository instead, like `kplug plugin versions owner/kplug-{target}`"
            )),
        );
    };
    let not_from_release = || {
        Error::new(format!(
            "{target} {} was installed from {}, not from a release: kplug cannot look for other versions",
            entry.version,
            crate::ui::escape(&entry.source)
        ))
        .with_hint(format!(
            "reinstall it from its repository (`kplug plugin install owner/kplug-{target}`)"
        ))
    };
    if entry.tag.is_none() {
        return Err(not_from_release());
    }
    // Through the configured source it came from, when it did.
    if let Some(name) = &entry.source_name {
        let catalog = super::catalog::Catalog::new(cfg)?;
        if catalog.get(name).is_none() {
            return Err(Error::new(format!(
                "{target} came from the source `{name}`, which is no longer configured"
            ))
            .with_hint(format!(
                "add it back with `kplug plugin source add {name} ADDRESS`"
            )));
        }
        catalog.refresh_and_warn(Some(name), false);
        return Ok((
            target.to_string(),
            catalog.request_from(name, target, Spec::Latest)?,
        ));
    }
    match source::parse(cfg, &entry.source, None) {
        Ok(req) if req.source.has_versions() => Ok((target.to_string(), req)),
        _ => Err(not_from_release()),
    }
}

fn require_installed(store: &Store, name: &str) -> Result<String> {
    discovery::check_name_arg(name)?;
    if let Some(scopes) = store.scope_only(name) {
        return Err(Error::new(format!(
            "`{name}` is installed only for {}: `kplug plugin sync` keeps it at the version {} asks for",
            scopes.join(", "),
            if scopes.len() == 1 { "that scope" } else { "each" }
        ))
        .with_hint(format!(
            "to choose its version yourself, install it standalone: `kplug plugin install {name}@VERSION`"
        )));
    }
    store.current(name).ok_or_else(|| {
        let hint = match store.broken_entry(name) {
            Some(problem) => format!(
                "its store entry is broken ({problem}); reinstall it, or `kplug plugin remove {name}`"
            ),
            None => format!("install it with `kplug plugin install owner/kplug-{name}`"),
        };
        Error::new(format!("`{name}` is not installed in kplug's store")).with_hint(hint)
    })
}

/// INFO of an installed version, from its own directory (no network).
fn installed_info(cfg: &Config, store: &Store, name: &str, version: &str) -> Result<Info, String> {
    let dir = store.version_dir(name, version);
    let located = Located {
        name: name.to_string(),
        path: dir.join(format!("{EXECUTABLE_PREFIX}{name}")),
        dir,
        origin: Origin::Store,
        stat: None,
        scope: None,
    };
    probe::smoke_test(cfg, &located).map(|(info, _)| info)
}

// ---------------------------------------------------------------- versions

/// Where a listed version's contract was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractFrom {
    /// Published with the version (a release's `kplug-plugin.yaml`).
    Published,
    /// Learned when kplug downloaded it.
    Learned,
    /// The installed copy's INFO.
    Installed,
}

/// One version as `kplug plugin versions` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRow {
    pub version: String,
    /// The release tag; `None` for an installed version that is not
    /// published (any more).
    pub tag: Option<String>,
    pub prerelease: bool,
    pub current: bool,
    pub installed: bool,
    /// Whether its contract holds here; `None` when unknown (not published,
    /// never downloaded, not installed).
    pub compatible: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_from: Option<ContractFrom>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    pub name: String,
    pub repository: String,
    pub pinned: bool,
    pub versions: Vec<VersionRow>,
}

fn verdict(info: Result<Info, String>, env: &Env) -> (Option<bool>, Vec<String>) {
    match info {
        Err(problem) => (Some(false), vec![problem]),
        Ok(info) => {
            let report = requirements::check_info(&info, env);
            (Some(report.compatible()), report.reasons())
        }
    }
}

/// The published versions of a plugin (or `owner/repo`), newest first, with
/// what is installed and what is known to work here.
pub fn list(cfg: &Config, target: &str) -> Result<Listing> {
    let store = Store::new(cfg)?;
    let (name, mut req) = resolve_target(cfg, &store, target)?;
    let src = req.source.as_mut();
    let current = store.current(&name);
    let installed = store.installed_versions(&name);
    let env = Env::now(cfg, &name, None);
    let contracts = Contracts::load(cfg);
    src.set_installed(current.as_deref(), Intent::Look);
    let mut offered: Vec<(Version, Candidate)> = src
        .versions(&Spec::Latest)?
        .into_iter()
        .filter_map(|c| Some((c.version.clone()?, c)))
        .collect();
    offered.sort_by(|a, b| b.0.cmp(&a.0));
    let mut rows = Vec::new();
    for (i, (v, c)) in offered.iter().enumerate() {
        let vs = v.to_string();
        let is_installed = installed.contains(&vs);
        let published = if i < MAX_CONTRACTS_LISTED {
            src.contract(c)?
        } else {
            None
        };
        let (info, from) = match published {
            Some(p) => (Some(p), Some(ContractFrom::Published)),
            None => match installer::known_contract_learned(src, c, &contracts)? {
                Some(info) => (Some(Ok(info)), Some(ContractFrom::Learned)),
                None if is_installed => (
                    Some(installed_info(cfg, &store, &name, &vs)),
                    Some(ContractFrom::Installed),
                ),
                None => (None, None),
            },
        };
        let (compatible, reasons) = info.map_or((None, Vec::new()), |i| verdict(i, &env));
        rows.push(VersionRow {
            current: current.as_deref() == Some(vs.as_str()),
            installed: is_installed,
            version: vs,
            tag: Some(c.label.clone()),
            prerelease: c.prerelease,
            compatible,
            contract_from: from,
            reasons,
        });
    }
    // Installed versions that are not (or no longer) published.
    for v in installed {
        if !rows.iter().any(|r| r.version == v) {
            let (compatible, reasons) = verdict(installed_info(cfg, &store, &name, &v), &env);
            rows.push(VersionRow {
                current: current.as_deref() == Some(v.as_str()),
                installed: true,
                prerelease: Version::parse(&v).is_ok_and(|p| !p.pre.is_empty()),
                version: v,
                tag: None,
                compatible,
                contract_from: Some(ContractFrom::Installed),
                reasons,
            });
        }
    }
    rows.sort_by(|a, b| {
        let key = |r: &VersionRow| Version::parse(&r.version).ok();
        key(b).cmp(&key(a))
    });
    Ok(Listing {
        pinned: store.receipt(&name)?.pinned,
        name,
        repository: src.address(),
        versions: rows,
    })
}

/// The first candidate of `found` newer than `current` whose known
/// contract holds (no download: a version without a known contract counts
/// as a fit, to be judged after its download). The judge's `T` is the note
/// of how the version taken was judged.
fn first_fit(
    src: &mut dyn Source,
    found: &Found,
    current: &str,
    env: &Env,
    contracts: &Contracts,
    skip: bool,
) -> Result<select::Walk<String>> {
    select::walk(
        found,
        |c| c.version.as_ref().map(Version::to_string).as_deref() == Some(current),
        |c| {
            if skip {
                return Ok(Verdict::Take("requirement checks would be skipped".into()));
            }
            let (info, how) = match installer::known_contract(src, c, contracts)? {
                None => {
                    return Ok(Verdict::Take(format!(
                        "no {CONTRACT_ASSET}: requirements are checked after the download"
                    )));
                }
                Some(Known::Published(Err(problem))) => {
                    return Ok(Verdict::Pass(format!(
                        "{} cannot be used: {problem}",
                        src.contract_origin()
                    )));
                }
                Some(Known::Published(Ok(info))) => {
                    (info, format!("from {}", src.contract_origin()))
                }
                Some(Known::Learned(info)) => (info, "as learned when it was downloaded".into()),
            };
            let report = requirements::check_info(&info, env);
            if !report.compatible() {
                return Ok(Verdict::Pass(report.summary()));
            }
            let missing: Vec<String> = report.missing().map(|i| i.detail.clone()).collect();
            Ok(Verdict::Take(if missing.is_empty() {
                format!("its requirements hold ({how})")
            } else {
                format!("{}: the update needs `--with-deps`", missing.join("; "))
            }))
        },
    )
}

/// What an install of a request would take here, judged without
/// downloading any artifact: its version (and how it was judged), or why
/// no version holds.
#[derive(Debug, Clone)]
pub struct Pick {
    pub version: Option<String>,
    pub note: String,
    pub skipped: Vec<Skipped>,
}

/// Resolve `req` as an install would and judge each candidate's known
/// contract (published, or learned from an earlier download), newest
/// first. A candidate whose contract is unknown counts as a fit, judged
/// after its download.
pub fn pick(cfg: &Config, req: &mut Request, name: &str) -> Result<Pick> {
    let spec = req.spec.clone();
    let src = req.source.as_mut();
    let policy = if src.exact_versions() {
        Policy::channel(None)
    } else {
        Policy::new(&spec, false, None, false, None)
    };
    let label = src.label();
    src.set_installed(Store::new(cfg)?.current(name).as_deref(), Intent::Look);
    let offered = src.versions(&spec)?;
    let found = select::choose(&label, offered, &spec, &policy)?;
    let env = Env::now(cfg, name, None);
    let contracts = Contracts::load(cfg);
    let skip = requirements::skip_checks(cfg, false);
    let walked = first_fit(src, &found, "", &env, &contracts, skip)?;
    Ok(match walked.taken {
        Some((c, note)) => Pick {
            version: c.version.as_ref().map(Version::to_string),
            note,
            skipped: walked.skipped,
        },
        None => Pick {
            version: None,
            note: format!("no release of {label} works here"),
            skipped: walked.skipped,
        },
    })
}

// ------------------------------------------------------------------ update

#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// Say what would happen; change nothing.
    pub dry_run: bool,
    /// Move to this major version (default: stay in the installed one).
    pub major: Option<u64>,
    pub skip_checks: bool,
    pub with_deps: bool,
    pub require_checksum: bool,
    pub require_signature: bool,
    /// Fire `post-plugin-install`.
    pub hooks: bool,
}

/// What `update --dry-run` would do.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub target: Option<String>,
    pub note: String,
    pub skipped: Vec<Skipped>,
    pub other_major: Option<String>,
}

#[derive(Debug)]
pub enum Update {
    /// Pinned: left alone.
    Pinned {
        name: String,
        version: String,
    },
    /// Installed from a file, URL or directory: no versions to update from.
    NotFromRelease {
        name: String,
        version: String,
        source: String,
    },
    /// Already at the newest compatible version (see `skipped`).
    Unchanged(Installed),
    Updated(Installed),
    /// `--dry-run`.
    Planned {
        name: String,
        version: String,
        plan: Plan,
    },
}

/// The plugins in kplug's store, by name.
pub fn installed_plugins(cfg: &Config) -> Result<Vec<String>> {
    Ok(Store::new(cfg)?.plugins())
}

/// Update one plugin to the newest compatible version within its major.
pub fn update(cfg: &Config, name: &str, opts: &UpdateOptions) -> Result<Update> {
    let store = Store::new(cfg)?;
    let current = require_installed(&store, name)?;
    let receipt = store.receipt(name)?;
    if receipt.pinned {
        return Ok(Update::Pinned {
            name: name.to_string(),
            version: current,
        });
    }
    let entry = receipt.version(&current);
    if entry.is_none_or(|e| e.tag.is_none()) {
        return Ok(Update::NotFromRelease {
            name: name.to_string(),
            source: entry.map_or_else(|| "an unknown source".to_string(), |e| e.source.clone()),
            version: current,
        });
    }
    let (_, mut req) = resolve_target(cfg, &store, name)?;
    req.spec = Spec::Latest;
    if opts.dry_run {
        let plan = plan(cfg, name, req.source.as_mut(), &current, opts)?;
        return Ok(Update::Planned {
            name: name.to_string(),
            version: current,
            plan,
        });
    }
    let done = installer::run(
        cfg,
        req,
        &InstallOptions {
            hooks: opts.hooks,
            with_deps: opts.with_deps,
            skip_checks: opts.skip_checks,
            require_checksum: opts.require_checksum,
            require_signature: opts.require_signature,
            major: opts.major,
            update: true,
            ..InstallOptions::default()
        },
    )?;
    Ok(if done.unchanged {
        Update::Unchanged(done)
    } else {
        Update::Updated(done)
    })
}

/// The policy of an update from `current`.
fn update_policy(current: &str, major: Option<u64>) -> Policy {
    Policy::new(
        &Spec::Latest,
        false,
        major,
        true,
        requirements::parse_lenient(current),
    )
}

/// What an update would pick, judging contracts the source publishes or
/// kplug learned (nothing is downloaded but published contracts).
fn plan(
    cfg: &Config,
    name: &str,
    src: &mut dyn Source,
    current: &str,
    opts: &UpdateOptions,
) -> Result<Plan> {
    let policy = if src.exact_versions() {
        Policy::channel(requirements::parse_lenient(current))
    } else {
        update_policy(current, opts.major)
    };
    src.set_installed(Some(current), Intent::Look);
    let offered = src.versions(&Spec::Latest)?;
    let found = select::choose(&src.label(), offered, &Spec::Latest, &policy)?;
    let skip = requirements::skip_checks(cfg, opts.skip_checks);
    let env = Env::now(cfg, name, None);
    let walked = first_fit(src, &found, current, &env, &Contracts::load(cfg), skip)?;
    let other_major = found.other_major.as_ref().map(Version::to_string);
    Ok(match walked.taken {
        Some((c, note)) => Plan {
            target: Some(c.shown()),
            note,
            skipped: walked.skipped,
            other_major,
        },
        None => Plan {
            target: None,
            note: format!(
                "{name} {current} is the newest compatible release{}",
                select::scope(&Spec::Latest, &policy)
            ),
            skipped: walked.skipped,
            other_major,
        },
    })
}

// ------------------------------------------------------- use and rollback

/// What `use` or `rollback` did.
#[derive(Debug)]
pub struct Used {
    pub name: String,
    pub version: String,
    pub previous: Option<String>,
    /// Already the current version.
    pub unchanged: bool,
    /// It was installed: switched without the network.
    pub offline: bool,
    pub pruned: Vec<String>,
    /// A download happened (not installed before).
    pub installed: Option<Installed>,
}

#[derive(Debug, Clone, Default)]
pub struct UseOptions {
    pub skip_checks: bool,
    pub hooks: bool,
}

/// Switch to `version`: an installed one at once and offline, otherwise
/// downloaded from the plugin's source first.
pub fn use_version(cfg: &Config, name: &str, version: &str, opts: &UseOptions) -> Result<Used> {
    let store = Store::new(cfg)?;
    require_installed(&store, name)?;
    let bare = version.trim();
    let bare = bare.strip_prefix('v').unwrap_or(bare);
    if !store::is_version(bare) {
        return Err(Error::usage(format!(
            "`{}` is not a version: give one like `1.4.0` or `v1.4.0`",
            crate::ui::escape(version)
        ))
        .with_hint(format!("see `kplug plugin versions {name}`")));
    }
    if store.version_dir(name, bare).is_dir() {
        return relink(cfg, &store, name, bare, opts);
    }
    let (_, mut req) = resolve_target(cfg, &store, name)?;
    req.spec = Spec::Tag(version.trim().to_string());
    let done = installer::run(
        cfg,
        req,
        &InstallOptions {
            hooks: opts.hooks,
            skip_checks: opts.skip_checks,
            ..InstallOptions::default()
        },
    )?;
    Ok(Used {
        name: done.name.clone(),
        version: done.version.clone(),
        previous: done.previous.clone(),
        unchanged: done.unchanged,
        offline: false,
        pruned: done.pruned.clone(),
        installed: Some(done),
    })
}

/// Switch back to the version that was current before (offline).
pub fn rollback(cfg: &Config, name: &str, opts: &UseOptions) -> Result<Used> {
    let store = Store::new(cfg)?;
    let current = require_installed(&store, name)?;
    let receipt = store.receipt(name)?;
    let installed = store.installed_versions(name);
    let target = receipt
        .previous
        .clone()
        .filter(|p| *p != current && installed.contains(p))
        .or_else(|| {
            receipt
                .versions
                .iter()
                .rev()
                .map(|v| v.version.clone())
                .find(|v| *v != current && installed.contains(v))
        });
    let Some(target) = target else {
        return Err(Error::new(format!(
            "no other version of {name} is installed: there is nothing to roll back to"
        ))
        .with_hint(format!(
            "see `kplug plugin versions {name}`, and switch with `kplug plugin use {name} VERSION`"
        )));
    };
    relink(cfg, &store, name, &target, opts)
}

/// Switch to an installed version, after checking its contract, without
/// touching the network.
fn relink(
    cfg: &Config,
    store: &Store,
    name: &str,
    version: &str,
    opts: &UseOptions,
) -> Result<Used> {
    let lock = store.lock()?;
    let current = store.current(name);
    if current.as_deref() == Some(version) {
        return Ok(Used {
            name: name.to_string(),
            version: version.to_string(),
            previous: None,
            unchanged: true,
            offline: true,
            pruned: Vec::new(),
            installed: None,
        });
    }
    let live = current.as_deref().unwrap_or("?");
    let info = installed_info(cfg, store, name, version).map_err(|reason| {
        Error::new(format!("{name} {version} does not work here; not switching to it"))
            .caused_by(reason)
            .with_hint(format!(
                "{name} {live} stays live; reinstall that version with `kplug plugin install owner/kplug-{name}@{version} --force`"
            ))
    })?;
    let install_opts = InstallOptions {
        skip_checks: opts.skip_checks,
        ..InstallOptions::default()
    };
    let shared = installer::Shared::load(cfg);
    let gatekeeper = Installer::new(cfg, store, &lock, &install_opts, &shared);
    if let Gate::Refused(report) = gatekeeper.gate(&info, true)? {
        return Err(report
            .refusal("its requirements do not hold here")
            .with_hint(format!("nothing was changed: {name} {live} stays live")));
    }
    let switched = installer::activate(cfg, store, &lock, store.transaction(&lock), name, version)?;
    Ok(Used {
        name: name.to_string(),
        version: version.to_string(),
        previous: switched.previous,
        unchanged: false,
        offline: true,
        pruned: switched.pruned,
        installed: None,
    })
}

// -------------------------------------------------------------------- pin

/// Pin or unpin; returns the current version and whether anything changed.
pub fn set_pinned(cfg: &Config, name: &str, pinned: bool) -> Result<(String, bool)> {
    let store = Store::new(cfg)?;
    let current = require_installed(&store, name)?;
    let lock = store.lock()?;
    let changed = store.set_pinned(&lock, name, pinned)?;
    Ok((current, changed))
}

// --------------------------------------------------------------- outdated

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutdatedRow {
    pub name: String,
    pub current: String,
    /// The newest compatible release within the installed major (what
    /// `update` would pick), when newer than `current`.
    pub wanted: Option<String>,
    /// The newest stable release of any major.
    pub latest: Option<String>,
    pub pinned: bool,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl OutdatedRow {
    /// Something newer exists.
    pub fn is_outdated(&self) -> bool {
        let newer = |v: &Option<String>| {
            v.as_deref()
                .and_then(requirements::parse_lenient)
                .zip(requirements::parse_lenient(&self.current))
                .is_some_and(|(n, c)| n > c)
        };
        newer(&self.wanted) || newer(&self.latest)
    }
}

/// Every plugin in the store with what is newer.
pub fn outdated(cfg: &Config) -> Result<Vec<OutdatedRow>> {
    let store = Store::new(cfg)?;
    let contracts = Contracts::load(cfg);
    let mut rows = Vec::new();
    for name in store.plugins() {
        let Some(current) = store.current(&name) else {
            continue;
        };
        let receipt = store.receipt(&name)?;
        let source = receipt
            .version(&current)
            .map(|e| e.source.clone())
            .unwrap_or_default();
        let mut row = OutdatedRow {
            name: name.clone(),
            current: current.clone(),
            wanted: None,
            latest: None,
            pinned: receipt.pinned,
            source: source.clone(),
            note: None,
        };
        let Ok((_, mut req)) = resolve_target(cfg, &store, &name) else {
            row.note = Some(format!(
                "installed from {}: no releases to compare",
                crate::ui::escape(&source)
            ));
            rows.push(row);
            continue;
        };
        match newest(cfg, req.source.as_mut(), &name, &current, &contracts) {
            Ok((wanted, latest, note)) => {
                row.wanted = wanted;
                row.latest = latest;
                row.note = note;
            }
            Err(e) => row.note = Some(format!("could not check: {e}")),
        }
        rows.push(row);
    }
    Ok(rows)
}

/// (wanted, latest, note) for one plugin.
fn newest(
    cfg: &Config,
    src: &mut dyn Source,
    name: &str,
    current: &str,
    contracts: &Contracts,
) -> Result<(Option<String>, Option<String>, Option<String>)> {
    src.set_installed(Some(current), Intent::Look);
    let offered = src.versions(&Spec::Latest)?;
    let channel = src
        .exact_versions()
        .then(|| Policy::channel(requirements::parse_lenient(current)));
    let any = select::choose(
        &src.label(),
        offered.clone(),
        &Spec::Latest,
        &channel.clone().unwrap_or_default(),
    )?;
    let latest = any.list.first().map(Candidate::shown);
    let policy = channel.unwrap_or_else(|| update_policy(current, None));
    let within = select::choose(&src.label(), offered, &Spec::Latest, &policy)?;
    let env = Env::now(cfg, name, None);
    let walked = first_fit(src, &within, current, &env, contracts, false)?;
    let note = (!walked.skipped.is_empty()).then(|| {
        let each: Vec<String> = walked
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.version, s.reason))
            .collect();
        format!("incompatible: {}", each.join("; "))
    });
    Ok((walked.taken.map(|(c, _)| c.shown()), latest, note))
}

// --------------------------------------------------------------- contract

/// A plugin's contract as declared, and whether each part holds now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub name: String,
    pub version: String,
    pub path: std::path::PathBuf,
    pub requires: Requires,
    pub conflicts: Vec<String>,
    /// The cluster it was checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub checks: Report,
}

/// The contract of the plugin `kplug NAME` runs, checked against this host
/// (and `cluster`'s Kubernetes version when given).
pub fn contract(cfg: &Config, name: &str, cluster: Option<&str>) -> Result<Contract> {
    discovery::check_name_arg(name)?;
    let found = discovery::find(cfg, name).ok_or_else(|| {
        Error::new(format!("no plugin named `{name}`"))
            .with_hint("view all plugins with `kplug plugin list`")
    })?;
    let (info, _) = probe::smoke_test(cfg, &found).map_err(|reason| {
        Error::new(format!(
            "{name} does not answer INFO; its contract is unknown"
        ))
        .caused_by(reason)
    })?;
    let cluster = match cluster {
        None => None,
        Some(c) => Some(cluster_version(cfg, c)?),
    };
    let cluster_name = cluster.as_ref().map(|c| c.name.clone());
    let checks = requirements::check_info(&info, &Env::now(cfg, name, cluster));
    Ok(Contract {
        name: info.name.clone(),
        version: info.version.to_string(),
        path: found.path,
        requires: info.requires.clone(),
        conflicts: info.conflicts.clone(),
        cluster: cluster_name,
        checks,
    })
}

/// A cluster, with its Kubernetes version as its engine reports it now.
pub fn cluster_version(cfg: &Config, name: &str) -> Result<Cluster> {
    let (_, cluster) = crate::lifecycle::find_cluster(cfg, name, None)?;
    Ok(Cluster {
        name: name.to_string(),
        kubernetes: cluster.kubernetes_version,
    })
}
