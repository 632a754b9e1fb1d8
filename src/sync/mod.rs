//! `kplug plugin sync`: install what the project and the active cluster
//! recommend, each for its own scope.
//!
//! This module owns the plan (per scope and plugin: install, switch,
//! already current, drop, or refused and why), carrying it out through the
//! installer (scoped installs never touch a standalone `current`), and
//! `kplug.lock`. A sync with nothing to do reads the project file, the lock,
//! the cluster's recommendations and a few receipts: no network.

pub mod project;
pub mod recommend;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::install::{self, InstallOptions, ScopeRequest, Spec};
use crate::scope::Scope;
use crate::store::{ScopeWant, Slot, Store};
use crate::ui::escape;
use serde::Serialize;
use std::collections::BTreeMap;

/// One plugin a scope wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Want {
    pub name: String,
    /// A version, a shortened version (`v1`, `v1.4`) or a range.
    pub request: String,
    /// A configured source's name, `owner/repo` or `oci://…`; `None`: the
    /// plugin's name is looked up in the configured sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Longest version request or source taken.
const MAX_TEXT: usize = 512;

impl Want {
    /// A checked want.
    pub fn new(name: &str, request: &str, source: Option<&str>) -> Result<Want> {
        crate::protocol::names::validate(name).map_err(|e| {
            Error::usage(format!("`{}` is not a plugin name: it {e}", escape(name)))
        })?;
        let request = request.trim();
        if !valid_request(request) {
            return Err(Error::usage(format!(
                "`{}` is not a version, shortened version (v1, v1.4) or range (^1.2)",
                escape(request)
            )));
        }
        let source = source.map(str::trim).filter(|s| !s.is_empty());
        if let Some(s) = source
            && (s.len() > MAX_TEXT
                || s.chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '@'))
        {
            return Err(Error::usage(format!(
                "`{}` is not a source (a configured source's name, owner/repo or oci://HOST/REPO)",
                escape(s)
            )));
        }
        Ok(Want {
            name: name.to_string(),
            request: request.to_string(),
            source: source.map(str::to_string),
            optional: false,
            description: None,
        })
    }

    /// As a cluster records it.
    pub fn to_recommendation(&self) -> crate::cluster::Recommendation {
        crate::cluster::Recommendation {
            name: self.name.clone(),
            recommended_version: self.request.clone(),
            source: self.source.clone(),
            description: self.description.clone(),
            optional: self.optional,
        }
    }

    /// `NAME@VERSION[=SOURCE]` (the `=` of a range operator is not the
    /// source's).
    pub fn parse_arg(text: &str) -> Result<Want> {
        let (name, rest) = text.split_once('@').ok_or_else(|| {
            Error::usage(format!("`{}` is not NAME@VERSION[=SOURCE]", escape(text)))
                .with_hint("e.g. hello@v1 or hello@1.2.0=acme/kplug-hello")
        })?;
        let split = rest.char_indices().rev().find(|&(i, c)| {
            c == '='
                && !rest[..i].ends_with(['<', '>', '=', '!'])
                && !rest[i + 1..].starts_with(['=', ' '])
                && !rest[i + 1..].starts_with(|c: char| c.is_ascii_digit())
        });
        let (version, source) = match split {
            Some((i, _)) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        Want::new(name, version, source)
    }

    /// Where this want comes from, judged without the network.
    /// Recommendations come from clusters and repositories, so a source is
    /// never a local path: only a configured source's name, `owner/repo`,
    /// `oci://…` or an inventory's URL (kplug's own checks applied).
    fn origin(&self, cfg: &Config) -> Result<From> {
        let Some(source) = &self.source else {
            return Ok(From::Name);
        };
        let refused = |why: String| {
            Error::new(format!(
                "{} is recommended from `{}`, {why}",
                self.name,
                escape(source)
            ))
        };
        if source.starts_with(crate::install::oci::reference::SCHEME) {
            crate::install::oci::Reference::parse(source)
                .map_err(|e| refused(format!("which is not an OCI repository: {}", e.message())))?;
            return Ok(From::Oci);
        }
        if source.contains("://") {
            let url = reqwest::Url::parse(source)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    refused("which is neither an inventory's http(s) URL nor oci://".into())
                })?;
            crate::install::inventory::check_fetchable(&url)
                .map_err(|why| refused(format!("an inventory that {why}")))?;
            return Ok(From::Url);
        }
        if cfg.file()?.sources.iter().any(|s| &s.name == source) {
            return Ok(From::Configured);
        }
        if source.contains('/') {
            return match crate::install::source::github::Repo::parse_pair(source) {
                Some(_) if !source.contains("..") => Ok(From::Repo),
                _ => Err(refused("which is not owner/repo".into())
                    .with_hint("a recommendation names a configured source, owner/repo, oci://HOST/REPO or an inventory's https:// URL")),
            };
        }
        Err(refused("which is not a configured source".into()).with_hint(format!(
            "add it with `kplug plugin source add {} …`, or see the sources with `kplug plugin source list`",
            escape(source)
        )))
    }

    /// The install request for `version` (a lock's exact one, or the
    /// request): built directly, never through the local-path guesses of a
    /// command line.
    fn install_request(&self, cfg: &Config, version: &str) -> Result<install::Request> {
        let spec = Spec::parse(version);
        let catalog = || install::catalog::Catalog::new(cfg);
        let origin = self.origin(cfg)?;
        let source = self.source.as_deref().unwrap_or_default();
        let mut req = match origin {
            From::Name => install::catalog::request(cfg, &self.name, None, false)?,
            From::Configured => catalog()?.request_from(source, &self.name, spec.clone())?,
            From::Url => {
                catalog()?.request_from(&url_source_name(source), &self.name, spec.clone())?
            }
            From::Oci => install::source::parse(cfg, source, None)?,
            From::Repo => {
                let repo = install::source::github::Repo::parse_pair(source)
                    .ok_or_else(|| Error::new(format!("`{}` is not owner/repo", escape(source))))?;
                install::Request {
                    source: Box::new(install::source::github::GitHubSource::new(cfg, repo)),
                    spec: spec.clone(),
                }
            }
        };
        req.spec = spec;
        Ok(req)
    }
}

/// The kinds of place a want comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    /// The plugin's name, looked up in the sources.
    Name,
    /// A configured source (or a project's).
    Configured,
    /// An inventory's URL.
    Url,
    Oci,
    /// A GitHub repository.
    Repo,
}

/// Whether a recommendation's source is an inventory's URL.
fn is_inventory_url(source: &str) -> bool {
    reqwest::Url::parse(source)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// The source name an inventory URL goes by while syncing: derived from
/// the URL, so its cached copy is found again next time.
fn url_source_name(url: &str) -> String {
    use sha2::Digest;
    format!(
        "url-{}",
        crate::fsutil::hex(&sha2::Sha256::digest(url.as_bytes())[..6])
    )
}

/// An index source for each inventory URL the items name.
fn url_sources(items: &[Item]) -> Vec<crate::config::SourceConfig> {
    let mut out: Vec<crate::config::SourceConfig> = Vec::new();
    for url in items.iter().filter_map(|i| i.source.as_deref()) {
        let usable = reqwest::Url::parse(url)
            .is_ok_and(|u| crate::install::inventory::check_fetchable(&u).is_ok());
        if is_inventory_url(url) && usable && !out.iter().any(|s| s.address == url) {
            out.push(crate::config::SourceConfig {
                name: url_source_name(url),
                kind: crate::config::SourceKind::Index,
                address: url.to_string(),
                ttl: None,
                channel: None,
                apps: Default::default(),
                require_sha256: false,
                trust: Vec::new(),
            });
        }
    }
    out
}

/// Whether `text` is a version request kplug understands.
fn valid_request(text: &str) -> bool {
    if text.is_empty() || text.len() > 128 {
        return false;
    }
    let bare = text.strip_prefix('v').unwrap_or(text);
    if semver::Version::parse(bare).is_ok() {
        return true;
    }
    let short = bare.split('.').count() <= 2
        && bare
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()));
    short || semver::VersionReq::parse(text).is_ok()
}

/// A sortable bound of a request, for "the highest version wins".
fn rank(request: &str) -> (u64, u64, u64) {
    let bare = request.strip_prefix('v').unwrap_or(request);
    if let Ok(v) = semver::Version::parse(bare) {
        return (v.major, v.minor, v.patch);
    }
    let parts: Vec<Option<u64>> = bare.split('.').map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [Some(m)] => return (*m, u64::MAX, u64::MAX),
        [Some(m), Some(n)] => return (*m, *n, u64::MAX),
        _ => {}
    }
    semver::VersionReq::parse(request)
        .ok()
        .and_then(|r| {
            r.comparators
                .iter()
                .map(|c| (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)))
                .max()
        })
        .unwrap_or((0, 0, 0))
}

/// Add `want`, or keep the one of the same name with the higher version.
pub(crate) fn keep_highest(wants: &mut Vec<Want>, want: Want) {
    match wants.iter_mut().find(|w| w.name == want.name) {
        Some(w) if rank(&want.request) > rank(&w.request) => *w = want,
        Some(_) => {}
        None => wants.push(want),
    }
}

/// What sync does with one plugin of one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Download and install (or take from the blob cache).
    Install,
    /// An installed version: point the scope at it.
    Switch,
    /// Nothing to do.
    Current,
    /// The scope no longer wants it: its link goes.
    Drop,
    /// Not installable as asked (why is in `reason`).
    Refused,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Switch => "switch",
            Action::Current => "current",
            Action::Drop => "drop",
            Action::Refused => "refused",
        }
    }
}

/// One line of the plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub scope: String,
    pub name: String,
    pub request: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The version the scope uses now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    pub action: Action,
    /// The exact version it goes to, when known before resolving (a lock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    #[serde(skip)]
    sha256: Option<String>,
    #[serde(skip)]
    target: Scope,
}

impl Item {
    /// What this item asks for, as a want.
    fn want(&self) -> Want {
        Want {
            name: self.name.clone(),
            request: self.request.clone(),
            source: self.source.clone(),
            optional: self.optional,
            description: None,
        }
    }

    /// A scope's link to `name` (at `version`) that goes.
    fn dropping(scope: &Scope, name: String, version: String, reason: Option<String>) -> Item {
        Item {
            scope: scope.label(),
            name,
            request: String::new(),
            source: None,
            current: Some(version),
            action: Action::Drop,
            version: None,
            reason,
            optional: false,
            sha256: None,
            target: scope.clone(),
        }
    }
}

/// Options of [`plan`].
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// The cluster (else the active one).
    pub cluster: Option<String>,
    /// Leave the project out.
    pub no_project: bool,
    /// Leave the cluster out (`--project`).
    pub no_cluster: bool,
    /// Install exactly the lock; fail if kplug.yaml asks for more.
    pub locked: bool,
    pub jobs: usize,
}

/// The plan, and what it was made from.
#[derive(Debug)]
pub struct Plan {
    pub items: Vec<Item>,
    pub warnings: Vec<String>,
    /// The project and its lock.
    project: Option<(project::Project, Option<project::Lock>)>,
    cluster: Option<String>,
    /// Each scope's configuration: the configured sources, plus the
    /// project's for the project (never for a cluster), plus a source per
    /// inventory URL the scope names.
    cfgs: Vec<(Scope, Config)>,
    cfg: Config,
}

impl Plan {
    pub fn project_dir(&self) -> Option<&std::path::Path> {
        self.project.as_ref().map(|(p, _)| p.dir.as_path())
    }
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }
    pub fn changes(&self) -> bool {
        self.items.iter().any(|i| i.action != Action::Current)
    }
}

/// The configuration with a project's sources added to the configured
/// ones (a configured source of the same name wins).
pub fn with_project_sources(cfg: &Config, extra: &[crate::config::SourceConfig]) -> Result<Config> {
    if extra.is_empty() {
        return Ok(cfg.clone());
    }
    let mut file = cfg.file()?.clone();
    for s in extra {
        if !file.sources.iter().any(|x| x.name == s.name) {
            file.sources.push(s.clone());
        }
    }
    Ok(cfg.with_file(file))
}

/// Decide what to do, scope by scope: nothing is changed.
pub fn plan(cfg: &Config, opts: &SyncOptions) -> Result<Plan> {
    let store = Store::new(cfg)?;
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    let mut project_state = None;
    let mut cfgs = Vec::new();
    if !opts.no_project
        && let Some(dir) = crate::scope::active_project(cfg)
    {
        let project = project::load(dir)?;
        let lock = project::load_lock(dir)?;
        let scope = Scope::Project(project.dir.clone());
        let mut missing = Vec::new();
        let mut mine = Vec::new();
        for want in &project.plugins {
            let locked = lock
                .as_ref()
                .and_then(|l| l.plugins.get(&want.name))
                .filter(|l| l.request == want.request && l.source == want.source);
            if opts.locked && locked.is_none() {
                missing.push(want.clone());
                continue;
            }
            mine.push(item_for(&store, &scope, want, locked)?);
        }
        if !missing.is_empty() {
            let mut err = Error::new(format!(
                "{} asks for what kplug.lock does not have",
                dir.join(crate::scope::PROJECT_FILE).display()
            ));
            for w in &missing {
                err = err.caused_by(format!("{} {}", w.name, w.request));
            }
            return Err(err.with_hint(
                "run `kplug plugin sync` without --locked to resolve them and update the lock, then commit kplug.lock",
            ));
        }
        mine.extend(dropped(&store, &scope, &project.plugins)?);
        let scoped = with_project_sources(cfg, &project.sources)?;
        let scoped = with_project_sources(&scoped, &url_sources(&mine))?;
        judge_sources(&scoped, &mut mine);
        resolve_targets(&scoped, &store, &mut mine, opts.jobs);
        items.extend(mine);
        cfgs.push((scope, scoped));
        project_state = Some((project, lock));
    }
    let cluster = if opts.no_cluster {
        None
    } else {
        opts.cluster
            .clone()
            .or_else(|| crate::scope::active_cluster(cfg).map(|c| c.name.clone()))
    };
    if let Some(name) = &cluster {
        let scope = Scope::Cluster(name.clone());
        // A cluster that cannot be read leaves its plugins as they are and
        // the project's sync goes on.
        match recommend::read(cfg, name) {
            Ok(found) => {
                warnings.extend(found.warnings);
                let mut mine = Vec::new();
                for want in &found.wants {
                    let mut item = item_for(&store, &scope, want, None)?;
                    item.optional = want.optional;
                    mine.push(item);
                }
                // Only a complete answer says what the cluster no longer
                // wants (without kubectl nothing is known).
                if found.complete {
                    mine.extend(dropped(&store, &scope, &found.wants)?);
                }
                                let scoped = with_project_sources(cfg, &url_sources(&mine))?;
                                judge_sources(&scoped, &mut mine);
                resolve_targets(&scoped, &store, &mut mine, opts.jobs);
                items.extend(mine);
                cfgs.push((scope, scoped));
            }
            Err(e) if opts.cluster.is_none() => warnings.push(format!(
                "what cluster `{name}` recommends was not read, so its plugins stay as they are: {}",
                e
            )),
            Err(e) => return Err(e),
        }
    }
    items.extend(stale_projects(&store));
    Ok(Plan {
        items,
        warnings,
        project: project_state,
        cluster,
        cfgs,
        cfg: cfg.clone(),
    })
}

/// Refuse, before anything is downloaded, what names no usable source.
fn judge_sources(cfg: &Config, items: &mut [Item]) {
    for item in items {
        if matches!(item.action, Action::Install | Action::Switch)
            && let Err(e) = item.want().origin(cfg)
        {
            item.action = Action::Refused;
            item.reason = Some(
                std::iter::once(e.to_string())
                    .chain(e.hints().iter().cloned())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
    }
}

/// Resolve what each install would take, judging published (or learned)
/// contracts before any artifact is downloaded: the plan shows exact
/// versions, a version the store has becomes a switch, and a request no
/// version of which holds here is refused with the reasons.
fn resolve_targets(cfg: &Config, store: &Store, items: &mut [Item], jobs: usize) {
    let pending: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].action == Action::Install && items[i].version.is_none())
        .collect();
    if pending.is_empty() {
        return;
    }
    if let Ok(catalog) = install::catalog::Catalog::new(cfg) {
        catalog.refresh_and_warn(None, false);
    }
    // Each is a round trip or two to its source: asked in parallel.
    let wants: Vec<Want> = pending.iter().map(|&i| items[i].want()).collect();
    let picks = crate::exec::parallel_map(&wants, jobs.max(1), |want| {
        want.install_request(cfg, &want.request)
            .and_then(|mut req| install::manage::pick(cfg, &mut req, &want.name))
    });
    for (i, picked) in pending.into_iter().zip(picks) {
        let item = &mut items[i];
        match picked {
            Ok(install::manage::Pick {
                version: Some(v), ..
            }) => {
                let receipt = store.receipt(&item.name).unwrap_or_default();
                let have =
                    receipt.version(&v).is_some() && store.version_dir(&item.name, &v).is_dir();
                if have && item.current.as_deref() != Some(v.as_str()) {
                    item.action = Action::Switch;
                }
                item.version = Some(v);
            }
            Ok(pick) => {
                item.action = Action::Refused;
                let reasons: Vec<String> = pick
                    .skipped
                    .iter()
                    .map(|s| format!("{}: {}", escape(&s.tag), s.reason))
                    .collect();
                item.reason = Some(if reasons.is_empty() {
                    pick.note
                } else {
                    format!("{} ({})", pick.note, reasons.join("; "))
                });
            }
            Err(e) => {
                item.action = Action::Refused;
                item.reason = Some(e.to_string());
            }
        }
    }
}

/// Project scopes whose project is gone (its kplug.yaml deleted or moved):
/// their links are dropped, so the versions they held can be pruned.
fn stale_projects(store: &Store) -> Vec<Item> {
    let mut out = Vec::new();
    for name in store.all_plugins() {
        let Ok(receipt) = store.receipt(&name) else {
            continue;
        };
        for (label, want) in &receipt.scopes {
            if let Some(Scope::Project(dir)) = Scope::from_label(label)
                && !dir.join(crate::scope::PROJECT_FILE).is_file()
            {
                let file = dir.join(crate::scope::PROJECT_FILE);
                let reason = format!("{} is gone", file.display());
                out.push(Item::dropping(
                    &Scope::Project(dir),
                    name.clone(),
                    want.version.clone(),
                    Some(reason),
                ));
            }
        }
    }
    out
}

/// What one want of one scope needs.
fn item_for(
    store: &Store,
    scope: &Scope,
    want: &Want,
    locked: Option<&project::Locked>,
) -> Result<Item> {
    let slot = Slot::Scope(scope.clone());
    let current = store.current_in(&want.name, &slot);
    let receipt = store.receipt(&want.name)?;
    let recorded = receipt.scopes.get(&scope.label());
    let mut item = Item {
        scope: scope.label(),
        name: want.name.clone(),
        request: want.request.clone(),
        source: want.source.clone(),
        current: current.clone(),
        action: Action::Install,
        version: None,
        reason: None,
        optional: false,
        sha256: None,
        target: scope.clone(),
    };
    if let Some(l) = locked {
        item.version = Some(l.version.clone());
        item.sha256 = Some(l.sha256.clone());
        if let Some(e) = receipt.version(&l.version)
            && e.sha256 != l.sha256
        {
            // This store has other bytes under that version than the lock.
            item.action = Action::Refused;
            item.reason = Some(format!(
                "{} {} in the store has sha256 {}, but kplug.lock pins {}; remove it (`kplug plugin remove {}`) to install the locked bytes, or drop it from kplug.lock to lock what is installed",
                want.name, l.version, e.sha256, l.sha256, want.name
            ));
            return Ok(item);
        }
        let installed = receipt.version(&l.version).is_some();
        item.action = match &current {
            Some(c) if installed && *c == l.version => Action::Current,
            _ if installed && store.version_dir(&want.name, &l.version).is_dir() => Action::Switch,
            _ => Action::Install,
        };
        return Ok(item);
    }
    let same_request = recorded.is_some_and(|r| {
        Some(&r.version) == current.as_ref()
            && r.request == want.request
            && r.source == want.source.clone().unwrap_or_default()
    });
    if same_request {
        item.action = Action::Current;
        return Ok(item);
    }
    // An exact version the store has from the same place: a switch.
    let exact = item
        .request
        .strip_prefix('v')
        .unwrap_or(&item.request)
        .parse::<semver::Version>()
        .ok()
        .map(|v| v.to_string());
    if let Some(v) = exact
        && let Some(entry) = receipt.version(&v)
        && want
            .source
            .as_ref()
            .is_none_or(|s| *s == entry.source || entry.source_name.as_ref() == Some(s))
        && store.version_dir(&want.name, &v).is_dir()
    {
        item.action = if current.as_deref() == Some(v.as_str()) {
            Action::Install
        } else {
            Action::Switch
        };
        item.version = Some(v);
    }
    Ok(item)
}

/// The plugins a scope has links for but no longer wants.
fn dropped(store: &Store, scope: &Scope, wants: &[Want]) -> Result<Vec<Item>> {
    let key = scope.key();
    let mut out = Vec::new();
    for name in store.all_plugins() {
        if wants.iter().any(|w| w.name == name) {
            continue;
        }
        let Some((_, version)) = store
            .scope_links(&name)
            .into_iter()
            .find(|(k, _)| *k == key)
        else {
            continue;
        };
        out.push(Item::dropping(scope, name, version, None));
    }
    Ok(out)
}

/// How one item went.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Done {
    #[serde(flatten)]
    pub item: Item,
    /// The version the scope uses after the sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a sync did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub done: Vec<Done>,
    pub warnings: Vec<String>,
    /// The lock file written, if it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<std::path::PathBuf>,
}

impl Report {
    /// Failures that fail the sync (an optional plugin's does not).
    pub fn failed(&self) -> usize {
        self.done
            .iter()
            .filter(|d| d.error.is_some() && !d.item.optional)
            .count()
    }
}

/// Carry the plan out: installs in parallel, scope by scope; a failure of
/// one plugin leaves the others done. Then the lock.
pub fn apply(plan: Plan, opts: &SyncOptions) -> Result<Report> {
    let Plan {
        items,
        project,
        cfgs,
        cfg: base,
        ..
    } = plan;
    let store = Store::new(&base)?;
    // The plan's warnings were the plan's to show.
    let mut warnings = Vec::new();
    let mut done: Vec<Done> = Vec::new();
    // Scopes in plan order (the project's first).
    let mut scopes: Vec<Scope> = Vec::new();
    for i in &items {
        if !scopes.contains(&i.target) {
            scopes.push(i.target.clone());
        }
    }
    for scope in scopes {
        let cfg = cfgs
            .iter()
            .find(|(s, _)| *s == scope)
            .map_or_else(|| base.clone(), |(_, c)| c.clone());
        // Hooks of a cluster's plugins (post-plugin-install) see its scope.
        let cfg = match &scope {
            Scope::Cluster(c) => cfg.for_cluster(c),
            Scope::Project(_) => cfg,
        };
        let mine: Vec<Item> = items
            .iter()
            .filter(|i| i.target == scope)
            .cloned()
            .collect();
        let (work, rest): (Vec<Item>, Vec<Item>) = mine
            .into_iter()
            .partition(|i| matches!(i.action, Action::Install | Action::Switch));
        for item in rest {
            match item.action {
                Action::Drop => {
                    let result = drop_scope_link(&cfg, &store, &item.name, &scope);
                    done.push(Done {
                        now: None,
                        error: result.err().map(|e| e.to_string()),
                        item,
                    });
                }
                Action::Refused => done.push(Done {
                    now: None,
                    error: item.reason.clone(),
                    item,
                }),
                _ => done.push(Done {
                    now: item.current.clone(),
                    error: None,
                    item,
                }),
            }
        }
        if work.is_empty() {
            continue;
        }
        // What comes through sources needs their copies: each scope's
        // sources (its own set) are refreshed once for its installs.
        let through_sources = work.iter().any(|i| {
            matches!(
                i.want().origin(&cfg),
                Ok(From::Name | From::Configured | From::Url)
            )
        });
        if through_sources && let Ok(catalog) = install::catalog::Catalog::new(&cfg) {
            catalog.refresh_and_warn(None, false);
        }
        let mut reqs = Vec::new();
        let mut requested: Vec<Item> = Vec::new();
        let mut wants = BTreeMap::new();
        let mut pinned = BTreeMap::new();
        for item in work {
            let made = item
                .want()
                .install_request(&cfg, item.version.as_deref().unwrap_or(&item.request));
            match made {
                Ok(req) => {
                    if let Some(sha) = &item.sha256 {
                        pinned.insert(item.name.clone(), sha.clone());
                    }
                    wants.insert(
                        item.name.clone(),
                        ScopeWant {
                            version: String::new(),
                            request: item.request.clone(),
                            source: item.source.clone().unwrap_or_default(),
                        },
                    );
                    reqs.push(req);
                    requested.push(item);
                }
                Err(e) => done.push(Done {
                    now: None,
                    error: Some(e.to_string()),
                    item,
                }),
            }
        }
        let install_opts = InstallOptions {
            hooks: true,
            scope: Some(ScopeRequest {
                scope: scope.clone(),
                wants,
                pinned,
            }),
            ..InstallOptions::default()
        };
        let results = install::install_requests(&cfg, reqs, &install_opts, opts.jobs.max(1))?;
        for (item, result) in requested.into_iter().zip(results) {
            match result {
                Ok(installed) => {
                    if let Some(e) = &installed.hook_error {
                        warnings.push(e.to_string());
                    }
                    done.push(Done {
                        now: Some(installed.version),
                        error: None,
                        item,
                    });
                }
                Err(e) => {
                    done.push(Done {
                        now: None,
                        error: Some(e.to_string()),
                        item,
                    });
                }
            }
        }
    }
    let lock = match &project {
        Some((p, old)) if !opts.locked => write_project_lock(&store, p, old.as_ref(), &done)?,
        _ => None,
    };
    Ok(Report {
        done,
        warnings,
        lock,
    })
}

/// The lock after a sync: each wanted plugin at the version its scope now
/// uses; one that failed keeps its old entry. Written only if it changed.
fn write_project_lock(
    store: &Store,
    p: &project::Project,
    old: Option<&project::Lock>,
    done: &[Done],
) -> Result<Option<std::path::PathBuf>> {
    let label = Scope::Project(p.dir.clone()).label();
    let mut lock = project::Lock {
        version: project::LOCK_FORMAT,
        plugins: BTreeMap::new(),
    };
    for want in &p.plugins {
        let outcome = done
            .iter()
            .find(|d| d.item.scope == label && d.item.name == want.name);
        // An entry the sync installed as locked stays exactly as it was.
        if let Some(d) = outcome
            && d.item.sha256.is_some()
            && d.now.is_some()
            && d.now == d.item.version
            && let Some(l) = old.and_then(|o| o.plugins.get(&want.name))
        {
            lock.plugins.insert(want.name.clone(), l.clone());
            continue;
        }
        let version = outcome.and_then(|d| d.now.clone());
        let entry = version.as_ref().and_then(|v| {
            let receipt = store.receipt(&want.name).ok()?;
            receipt.version(v).cloned()
        });
        match entry {
            Some(e) if crate::fsutil::is_sha256(&e.sha256) => {
                lock.plugins.insert(
                    want.name.clone(),
                    project::Locked {
                        request: want.request.clone(),
                        source: want.source.clone(),
                        version: e.version,
                        sha256: e.sha256,
                        resolved: e.source,
                    },
                );
            }
            _ => {
                if let Some(l) = old.and_then(|o| o.plugins.get(&want.name)) {
                    lock.plugins.insert(want.name.clone(), l.clone());
                }
            }
        }
    }
    if old == Some(&lock) || (old.is_none() && lock.plugins.is_empty() && !p.plugins.is_empty()) {
        return Ok(None);
    }
    project::write_lock(&p.dir, &lock).map(Some)
}

/// Remove a scope's link to `name` and its record; prune what no one uses.
fn drop_scope_link(cfg: &Config, store: &Store, name: &str, scope: &Scope) -> Result<()> {
    let lock = store.lock()?;
    store.drop_scope(&lock, name, scope)?;
    let keep = cfg.file()?.install.keep_versions;
    let _ = store.prune(&lock, name, keep);
    Ok(())
}

/// Drop every link of a scope (a deleted cluster), pruning what no scope
/// and no keep rule still wants. The plugins it touched.
pub fn forget_scope(cfg: &Config, scope: &Scope) -> Result<Vec<String>> {
    let store = Store::new(cfg)?;
    let key = scope.key();
    let names: Vec<String> = store
        .all_plugins()
        .into_iter()
        .filter(|n| store.scope_links(n).iter().any(|(k, _)| *k == key))
        .collect();
    for name in &names {
        drop_scope_link(cfg, &store, name, scope)?;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wants_parse_from_arguments() {
        let w = Want::parse_arg("hello@v1=acme/kplug-hello").unwrap();
        assert_eq!((w.name.as_str(), w.request.as_str()), ("hello", "v1"));
        assert_eq!(w.source.as_deref(), Some("acme/kplug-hello"));
        let w = Want::parse_arg("hello@>=1.2, <2=team").unwrap();
        assert_eq!(w.request, ">=1.2, <2");
        assert_eq!(w.source.as_deref(), Some("team"));
        let w = Want::parse_arg("hello@>=1.2").unwrap();
        assert_eq!((w.request.as_str(), w.source), (">=1.2", None));
        assert!(Want::parse_arg("hello").is_err());
        assert!(Want::parse_arg("hello@banana").is_err());
        assert!(Want::parse_arg("Hello@v1").is_err());
        assert!(Want::parse_arg("hello@v1=a b").is_err());
    }

    #[test]
    fn the_highest_request_wins() {
        let mut wants = Vec::new();
        for r in ["v1.2", "1.4.0", "v1", "^1.3", "0.9.0"] {
            keep_highest(&mut wants, Want::new("x", r, None).unwrap());
        }
        assert_eq!(wants.len(), 1);
        assert_eq!(wants[0].request, "v1", "v1 reaches past every 1.x");
    }
}
