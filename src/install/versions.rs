//! Plugin versions: which release to pick, and the commands that move an
//! installed plugin between versions (`update`, `use`, `rollback`, `pin`)
//! or report on them (`versions`, `outdated`, `contract`).
//!
//! Selection ([`candidates`]): stable releases with a semantic version tag,
//! newest first, that match the source's spec; within one major version
//! when asked (`--major N`, or the installed major for an update); never
//! older than the installed version for an implicit choice. The install
//! pipeline walks that list and takes the first release whose contract
//! holds. Everything that switches versions goes through the pipeline's
//! `activate` (switch, health probe, automatic switch back, prune).

use super::github::{GitHub, Release};
use super::pipeline::{self, InstallOptions, Installed, Skipped};
use super::source::{self, Repo, Source, Spec};
use crate::config::Config;
use crate::discovery::{self, Located, Origin, probe};
use crate::error::{Error, Result};
use crate::protocol::{EXECUTABLE_PREFIX, Info, Requires};
use crate::requirements::{self, Cluster, Env, Report};
use crate::store::Store;
use semver::Version;
use serde::Serialize;

/// The release asset holding a plugin's INFO document, read before any
/// binary is downloaded.
pub use super::CONTRACT_ASSET;

/// Most `kplug-plugin.yaml` assets read to annotate one listing.
const MAX_CONTRACTS_LISTED: usize = 30;

/// What may be chosen.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Admit prereleases.
    pub pre: bool,
    /// Only releases of this major version.
    pub major: Option<u64>,
    /// The installed version.
    pub current: Option<Version>,
    /// Never older than `current` (an implicit choice: latest, update).
    pub no_downgrade: bool,
}

impl Policy {
    pub(crate) fn for_install(
        opts: &InstallOptions,
        spec: &Spec,
        current: Option<Version>,
    ) -> Policy {
        let major = opts.major.or_else(|| {
            opts.update
                .then(|| current.as_ref().map(|c| c.major))
                .flatten()
        });
        Policy {
            pre: opts.pre,
            major,
            no_downgrade: matches!(spec, Spec::Latest),
            current,
        }
    }
}

/// The releases a spec and policy allow, newest first.
#[derive(Debug, Default)]
pub struct Found {
    pub list: Vec<Release>,
    /// The newest release left out for being of a newer major version.
    pub other_major: Option<Version>,
    /// Tags of every release with a semantic version.
    pub seen: Vec<String>,
}

/// List the releases of `repo` that `spec` and `policy` allow, newest
/// first. An explicit tag is one candidate, whatever the policy says.
pub fn candidates(gh: &GitHub, repo: &str, spec: &Spec, policy: &Policy) -> Result<Found> {
    if let Spec::Tag(tag) = spec {
        return Ok(Found {
            list: vec![gh.by_tag(repo, tag)?],
            ..Found::default()
        });
    }
    let mut found = Found::default();
    let mut fitting: Vec<(Version, Release)> = Vec::new();
    for r in gh.releases(repo)?.into_iter().filter(|r| !r.draft) {
        let Some(v) = r.version() else { continue };
        found.seen.push(r.tag_name.clone());
        let fits = match spec {
            // A range admits prereleases only if it names one (semver's
            // rule) or `--pre` is given.
            Spec::Req(req) => {
                req.matches(&v)
                    || (policy.pre && req.matches(&Version::new(v.major, v.minor, v.patch)))
            }
            _ => true,
        };
        if fits && (policy.pre || !r.prerelease) {
            fitting.push((v, r));
        }
    }
    if fitting.is_empty() {
        let what = match spec {
            Spec::Req(req) => format!("no release of {repo} matches `{req}`"),
            _ => format!("{repo} has no release with a semantic version tag"),
        };
        let hint = if found.seen.is_empty() {
            "it has no releases tagged like v1.2.3".to_string()
        } else {
            format!("releases seen: {}", found.seen.join(", "))
        };
        return Err(Error::new(what).with_hint(hint));
    }
    fitting.sort_by(|a, b| b.0.cmp(&a.0));
    for (v, r) in fitting {
        if let Some(m) = policy.major
            && v.major != m
        {
            if v.major > m && found.other_major.as_ref().is_none_or(|o| v > *o) {
                found.other_major = Some(v);
            }
            continue;
        }
        if policy.no_downgrade
            && let Some(c) = &policy.current
            && v < *c
        {
            continue;
        }
        found.list.push(r);
    }
    Ok(found)
}

/// " in major 2", " matching `^1`", or "": what the choice was limited to.
pub fn scope(spec: &Spec, policy: &Policy) -> String {
    let mut s = String::new();
    if let Spec::Req(req) = spec {
        s.push_str(&format!(" matching `{req}`"));
    }
    if let Some(m) = policy.major {
        s.push_str(&format!(" in major {m}"));
    }
    s
}

/// The error for a policy that leaves no release at all.
pub fn no_candidates(repo: &str, spec: &Spec, policy: &Policy, found: &Found) -> Error {
    let mut err = Error::new(format!(
        "no release of {repo}{} to install",
        scope(spec, policy)
    ));
    if !found.seen.is_empty() {
        err = err.with_hint(format!("releases seen: {}", found.seen.join(", ")));
    }
    err
}

/// A release's published contract (`kplug-plugin.yaml`), if it has one:
/// the INFO document, or why it cannot be used.
pub fn fetch_contract(
    gh: &GitHub,
    release: &Release,
) -> Result<Option<std::result::Result<Info, String>>> {
    let Some(asset) = release.assets.iter().find(|a| a.name == CONTRACT_ASSET) else {
        return Ok(None);
    };
    let text = gh.fetch_text(asset)?;
    let info = match Info::parse(text.as_bytes()) {
        Ok(info) => info,
        Err(e) => return Ok(Some(Err(e.to_string()))),
    };
    if let Some(v) = release.version()
        && v != info.version
    {
        return Ok(Some(Err(format!(
            "it says version {}, but the release is {v}",
            info.version
        ))));
    }
    Ok(Some(Ok(info)))
}

/// The repository an installed plugin came from (or `owner/repo` given
/// directly), and the plugin name.
fn resolve_target(store: &Store, target: &str) -> Result<(String, Repo)> {
    if target.contains('/') {
        return match source::parse(target)? {
            Source::GitHub { repo, .. } => Ok((repo.plugin_name()?, repo)),
            _ => Err(Error::usage(format!(
                "`{target}` is not a GitHub repository"
            ))),
        };
    }
    crate::discovery::check_name_arg(target)?;
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
    match source::parse(&entry.source) {
        Ok(Source::GitHub { repo, .. }) if entry.tag.is_some() => Ok((target.to_string(), repo)),
        _ => Err(Error::new(format!(
            "{target} {} was installed from {}, not from a GitHub release: kplug cannot look for other versions",
            entry.version, entry.source
        ))
        .with_hint(format!(
            "reinstall it from its repository (`kplug plugin install owner/kplug-{target}`)"
        ))),
    }
}

fn require_installed(store: &Store, name: &str) -> Result<String> {
    crate::discovery::check_name_arg(name)?;
    store.current(name).ok_or_else(|| {
        Error::new(format!("`{name}` is not installed in kplug's store")).with_hint(format!(
            "install it with `kplug plugin install owner/kplug-{name}`"
        ))
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
    };
    probe::smoke_test(cfg, &located).map(|(info, _)| info)
}

// ---------------------------------------------------------------- versions

/// One release as `kplug plugin versions` shows it.
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
    /// Whether its contract holds here; `None` when unknown (no
    /// `kplug-plugin.yaml`, and not installed).
    pub compatible: Option<bool>,
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

/// The published releases of a plugin (or `owner/repo`), newest first, with
/// what is installed and what works here.
pub fn list(cfg: &Config, target: &str) -> Result<Listing> {
    let store = Store::new(cfg)?;
    let (name, repo) = resolve_target(&store, target)?;
    let gh = GitHub::new(cfg)?;
    let current = store.current(&name);
    let installed = store.installed_versions(&name);
    let env = Env::now(cfg, &name, None);
    let mut releases: Vec<(Version, Release)> = gh
        .releases(&repo.to_string())?
        .into_iter()
        .filter(|r| !r.draft)
        .filter_map(|r| Some((r.version()?, r)))
        .collect();
    releases.sort_by(|a, b| b.0.cmp(&a.0));
    let mut rows = Vec::new();
    for (i, (v, r)) in releases.iter().enumerate() {
        let vs = v.to_string();
        let is_installed = installed.contains(&vs);
        let info = if i < MAX_CONTRACTS_LISTED
            && let Some(contract) = fetch_contract(&gh, r)?
        {
            Some(contract)
        } else if is_installed {
            Some(installed_info(cfg, &store, &name, &vs))
        } else {
            None
        };
        let (compatible, reasons) = match info {
            None => (None, Vec::new()),
            Some(Err(problem)) => (Some(false), vec![problem]),
            Some(Ok(info)) => {
                let report = requirements::check_info(&info, &env);
                (Some(report.compatible()), report.reasons())
            }
        };
        rows.push(VersionRow {
            current: current.as_deref() == Some(vs.as_str()),
            installed: is_installed,
            version: vs,
            tag: Some(r.tag_name.clone()),
            prerelease: r.prerelease || !v.pre.is_empty(),
            compatible,
            reasons,
        });
    }
    // Installed versions that are not (or no longer) published.
    for v in installed {
        if !rows.iter().any(|r| r.version == v) {
            let (compatible, reasons) = match installed_info(cfg, &store, &name, &v) {
                Ok(info) => {
                    let report = requirements::check_info(&info, &env);
                    (Some(report.compatible()), report.reasons())
                }
                Err(problem) => (Some(false), vec![problem]),
            };
            rows.push(VersionRow {
                current: current.as_deref() == Some(v.as_str()),
                installed: true,
                prerelease: Version::parse(&v).is_ok_and(|p| !p.pre.is_empty()),
                version: v,
                tag: None,
                compatible,
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
        repository: repo.to_string(),
        versions: rows,
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
    /// Installed from a file, URL or directory: no releases to update from.
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
    let store = Store::new(cfg)?;
    Ok(store.plugins())
}

/// Update one plugin to the newest compatible release within its major.
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
    let from_release = receipt
        .version(&current)
        .filter(|e| e.tag.is_some())
        .map(|e| e.source.clone());
    let Some(source) = from_release else {
        return Ok(Update::NotFromRelease {
            name: name.to_string(),
            source: receipt
                .version(&current)
                .map_or_else(|| "an unknown source".to_string(), |e| e.source.clone()),
            version: current,
        });
    };
    let repo = match source::parse(&source) {
        Ok(Source::GitHub { repo, .. }) => repo,
        _ => resolve_target(&store, name)?.1,
    };
    if opts.dry_run {
        let plan = plan(cfg, name, &repo, &current, opts)?;
        return Ok(Update::Planned {
            name: name.to_string(),
            version: current,
            plan,
        });
    }
    let done = pipeline::install(
        cfg,
        &repo.to_string(),
        &InstallOptions {
            hooks: opts.hooks,
            with_deps: opts.with_deps,
            skip_checks: opts.skip_checks,
            require_checksum: opts.require_checksum,
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

/// What an update would pick, judging contracts from `kplug-plugin.yaml`
/// where releases publish one (nothing is downloaded but those).
fn plan(
    cfg: &Config,
    name: &str,
    repo: &Repo,
    current: &str,
    opts: &UpdateOptions,
) -> Result<Plan> {
    let gh = GitHub::new(cfg)?;
    let cur = requirements::parse_lenient(current);
    let policy = Policy {
        pre: false,
        major: opts.major.or(cur.as_ref().map(|c| c.major)),
        current: cur.clone(),
        no_downgrade: true,
    };
    let found = candidates(&gh, &repo.to_string(), &Spec::Latest, &policy)?;
    let skip = requirements::skip_checks(cfg, opts.skip_checks);
    let env = Env::now(cfg, name, None);
    let mut skipped = Vec::new();
    let other_major = found.other_major.as_ref().map(Version::to_string);
    for r in &found.list {
        let v = r.version().map(|v| v.to_string()).unwrap_or_default();
        if v == current {
            break;
        }
        let contract = if skip { None } else { fetch_contract(&gh, r)? };
        let note = match contract {
            None if skip => "requirement checks would be skipped".to_string(),
            None => format!("no {CONTRACT_ASSET}: requirements are checked after the download"),
            Some(Err(problem)) => {
                skipped.push(Skipped {
                    version: v,
                    tag: r.tag_name.clone(),
                    reason: format!("its {CONTRACT_ASSET} is invalid: {problem}"),
                });
                continue;
            }
            Some(Ok(info)) => {
                let report = requirements::check_info(&info, &env);
                if !report.compatible() {
                    skipped.push(Skipped {
                        version: v,
                        tag: r.tag_name.clone(),
                        reason: report.summary(),
                    });
                    continue;
                }
                let missing: Vec<String> = report.missing().map(|i| i.detail.clone()).collect();
                if missing.is_empty() {
                    format!("its requirements hold (from its {CONTRACT_ASSET})")
                } else {
                    format!("{}: the update needs `--with-deps`", missing.join("; "))
                }
            }
        };
        return Ok(Plan {
            target: Some(v),
            note,
            skipped,
            other_major,
        });
    }
    Ok(Plan {
        target: None,
        note: format!(
            "{name} {current} is the newest compatible release{}",
            scope(&Spec::Latest, &policy)
        ),
        skipped,
        other_major,
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
/// downloaded from the plugin's repository first.
pub fn use_version(cfg: &Config, name: &str, version: &str, opts: &UseOptions) -> Result<Used> {
    let store = Store::new(cfg)?;
    require_installed(&store, name)?;
    let bare = version.trim();
    let bare = bare.strip_prefix('v').unwrap_or(bare);
    if store.version_dir(name, bare).is_dir() {
        return relink(cfg, &store, name, bare, opts);
    }
    let (_, repo) = resolve_target(&store, name)?;
    let done = pipeline::install(
        cfg,
        &format!("{repo}@{version}"),
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
    let info = installed_info(cfg, store, name, version).map_err(|reason| {
        Error::new(format!("{name} {version} does not work here; not switching to it"))
            .caused_by(reason)
            .with_hint(format!(
                "{name} {} stays live; reinstall that version with `kplug plugin install owner/kplug-{name}@{version} --force`",
                current.as_deref().unwrap_or("?")
            ))
    })?;
    let install_opts = InstallOptions {
        skip_checks: opts.skip_checks,
        ..InstallOptions::default()
    };
    let mut chain = Vec::new();
    let mut deps = Vec::new();
    if let Some(report) = pipeline::gate(
        cfg,
        store,
        &lock,
        &info,
        &install_opts,
        &mut chain,
        &mut deps,
        true,
    )? {
        return Err(report
            .refusal("its requirements do not hold here")
            .with_hint(format!(
                "nothing was changed: {name} {} stays live",
                current.as_deref().unwrap_or("?")
            )));
    }
    let switched = pipeline::activate(cfg, store, &lock, name, version, false)?;
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
    let mut rows = Vec::new();
    let mut gh: Option<GitHub> = None;
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
        let repo = match resolve_target(&store, &name) {
            Ok((_, repo)) => repo,
            Err(_) => {
                row.note = Some(format!("installed from {source}: no releases to compare"));
                rows.push(row);
                continue;
            }
        };
        if gh.is_none() {
            gh = Some(GitHub::new(cfg)?);
        }
        let gh = gh.as_ref().expect("set above");
        match newest(cfg, gh, &name, &repo, &current) {
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
    gh: &GitHub,
    name: &str,
    repo: &Repo,
    current: &str,
) -> Result<(Option<String>, Option<String>, Option<String>)> {
    let cur = requirements::parse_lenient(current);
    let all = candidates(gh, &repo.to_string(), &Spec::Latest, &Policy::default())?;
    let latest = all
        .list
        .first()
        .and_then(Release::version)
        .map(|v| v.to_string());
    let policy = Policy {
        pre: false,
        major: cur.as_ref().map(|c| c.major),
        current: cur,
        no_downgrade: true,
    };
    let within: Vec<&Release> = all
        .list
        .iter()
        .filter(|r| {
            r.version().is_some_and(|v| {
                policy.major.is_none_or(|m| v.major == m)
                    && policy.current.as_ref().is_none_or(|c| v > *c)
            })
        })
        .collect();
    let env = Env::now(cfg, name, None);
    let mut passed_over = Vec::new();
    for r in within {
        let v = r.version().map(|v| v.to_string()).unwrap_or_default();
        match fetch_contract(gh, r)? {
            Some(Ok(info)) => {
                let report = requirements::check_info(&info, &env);
                if !report.compatible() {
                    passed_over.push(format!("{v}: {}", report.summary()));
                    continue;
                }
            }
            Some(Err(problem)) => {
                passed_over.push(format!("{v}: {problem}"));
                continue;
            }
            None => {}
        }
        let note =
            (!passed_over.is_empty()).then(|| format!("incompatible: {}", passed_over.join("; ")));
        return Ok((Some(v), latest, note));
    }
    let note =
        (!passed_over.is_empty()).then(|| format!("incompatible: {}", passed_over.join("; ")));
    Ok((None, latest, note))
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
    crate::discovery::check_name_arg(name)?;
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
