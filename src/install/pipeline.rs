//! `plugin install` and `plugin remove`, step by step.
//!
//! Everything happens in a staging directory under the store lock until
//! the last two renames (the version directory, then `current`), so a
//! failure or a kill at any earlier point leaves the previous version live
//! and nothing half-installed visible; the next writer clears staging.
//!
//! The steps, for a GitHub source: list the candidate releases, newest
//! first ([`super::versions::candidates`]) → for each, check its contract
//! from a `kplug-plugin.yaml` asset when it has one (before any download)
//! → download and verify → unpack and smoke-test → check the contract from
//! its INFO → install missing required plugins (`--with-deps`) → move it
//! into the store → switch `current` → health-probe INFO through `current`
//! (switching back on failure) → prune old versions. A release whose
//! contract does not hold is passed over with the reason, and the next
//! older one is tried.

use super::asset::{self, Platform};
use super::download::Fetched;
use super::extract::{self, Limits};
use super::github::{GitHub, Release};
use super::source::{self, Repo, Source, Spec};
use super::versions::{self, CONTRACT_ASSET, Policy};
use super::{ArchiveKind, verify};
use crate::config::Config;
use crate::discovery::probe;
use crate::discovery::{Located, Origin};
use crate::error::{Error, Result, exit};
use crate::hooks::{self, FireOptions};
use crate::protocol::{EXECUTABLE_PREFIX, Event, ExecContext, Info, names};
use crate::requirements::{self, Env, Report};
use crate::store::{InstalledVersion, Receipt, Store, StoreLock};
use crate::ui;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Most releases downloaded in one install while looking for one whose
/// contract holds (releases with a `kplug-plugin.yaml` are judged without
/// a download and do not count).
const MAX_TRIAL_DOWNLOADS: usize = 5;

#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Admit prereleases.
    pub pre: bool,
    /// Reinstall even if this version is already current.
    pub force: bool,
    /// Refuse a release without a published checksum.
    pub require_checksum: bool,
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

/// A release passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub version: String,
    pub tag: String,
    pub reason: String,
}

/// A file to install, and what is known of it before unpacking.
struct Payload {
    file: Fetched,
    /// The asset (or file) name: decides how it is unpacked.
    asset: String,
    kind: ArchiveKind,
    source: String,
    tag: Option<String>,
    verified_by: String,
    /// The plugin name the source implies (GitHub repositories).
    expected_name: Option<String>,
}

/// A payload unpacked and smoke-tested in staging.
struct Staged {
    payload: Payload,
    info: Info,
    name: String,
    /// The executable, under its canonical name.
    exe: PathBuf,
    /// Its directory: becomes the version directory.
    exe_dir: PathBuf,
}

pub fn install(cfg: &Config, text: &str, opts: &InstallOptions) -> Result<Installed> {
    let source = source::parse(text)?;
    if let Some(s) = &opts.sha256
        && !verify::is_sha256(s)
    {
        return Err(Error::usage(format!(
            "`--sha256 {s}` is not a sha256 (64 hex digits)"
        )));
    }
    if matches!(source, Source::Dir(_)) && opts.sha256.is_some() {
        return Err(Error::usage(
            "`--sha256` checks a single file; it cannot check a directory",
        ));
    }
    if matches!(source, Source::Url(_)) && opts.sha256.is_none() {
        return Err(
            Error::usage("installing from a plain URL needs `--sha256 <hex>`").with_hint(
                "the sha256 is what makes a download from an arbitrary server trustworthy",
            ),
        );
    }
    if opts.major.is_some() && !matches!(source, Source::GitHub { .. }) {
        return Err(Error::usage(
            "`--major` picks among a repository's releases; it needs an `owner/repo` source",
        ));
    }
    let store = Store::new(cfg)?;
    let installed = {
        let lock = store.lock()?;
        let mut chain = Vec::new();
        install_source(cfg, &store, &lock, &source, opts, &mut chain)?
    };
    // Hooks run without the store lock: a hook may well call kplug.
    Ok(fire_post_install(cfg, installed, opts))
}

/// Install `source` under the lock, in a staging directory of its own.
/// `chain` holds the plugins whose dependencies are being installed (to
/// stop a dependency cycle).
fn install_source(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    source: &Source,
    opts: &InstallOptions,
    chain: &mut Vec<String>,
) -> Result<Installed> {
    let staging = store.staging(lock)?;
    let result = install_locked(cfg, store, lock, &staging, source, opts, chain);
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn install_locked(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    staging: &Path,
    source: &Source,
    opts: &InstallOptions,
    chain: &mut Vec<String>,
) -> Result<Installed> {
    let payload = match source {
        Source::GitHub { repo, spec } => {
            return install_github(cfg, store, lock, staging, repo, spec, opts, chain);
        }
        Source::Url(url) => {
            if opts.offline {
                return Err(Error::usage("`--offline` cannot download from a URL"));
            }
            let name = url.rsplit('/').next().unwrap_or("download").to_string();
            let max = cfg.file()?.install.max_download_mib * 1024 * 1024;
            let file = super::github::download_url(cfg, url, &staging.join(&name), max)?;
            let expected = opts
                .sha256
                .clone()
                .expect("checked above")
                .to_ascii_lowercase();
            check_sha(&file, &expected, &name)?;
            Payload {
                kind: asset::archive_kind(&name).unwrap_or(ArchiveKind::Binary),
                asset: name,
                file,
                source: url.clone(),
                tag: None,
                verified_by: "--sha256".into(),
                expected_name: None,
            }
        }
        Source::File(path) => local_file(path, opts)?,
        Source::Dir(dir) => local_dir(dir, staging, cfg)?,
    };
    finish(cfg, store, lock, staging, payload, opts, chain)
}

/// Stage one payload, check its contract (refusing it if it does not
/// hold), and commit it.
fn finish(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    staging: &Path,
    payload: Payload,
    opts: &InstallOptions,
    chain: &mut Vec<String>,
) -> Result<Installed> {
    let staged = stage(cfg, staging, payload)?;
    let mut deps = Vec::new();
    if let Some(report) = gate(cfg, store, lock, &staged.info, opts, chain, &mut deps, true)? {
        return Err(report.refusal("its requirements do not hold here"));
    }
    let mut done = commit(cfg, store, lock, staging, staged, opts)?;
    done.deps = deps;
    Ok(done)
}

/// The newest candidate release of a repository whose contract holds:
/// installed, or the reason none was.
#[allow(clippy::too_many_arguments)]
fn install_github(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    staging: &Path,
    repo: &Repo,
    spec: &Spec,
    opts: &InstallOptions,
    chain: &mut Vec<String>,
) -> Result<Installed> {
    let repo_s = repo.to_string();
    let name = repo.plugin_name()?;
    let receipt = store.receipt(&name)?;
    let current = store.current(&name);
    if let Some(fetch) = cached_payload(store, &receipt, repo, spec, opts)? {
        return match fetch {
            Fetch::AlreadyCurrent(v) => Ok(Installed::unchanged(&name, &v)),
            Fetch::Payload(p) => finish(cfg, store, lock, staging, *p, opts, chain),
        };
    }

    let gh = GitHub::new(cfg)?;
    let policy = Policy::for_install(
        opts,
        spec,
        current.as_deref().and_then(requirements::parse_lenient),
    );
    let found = versions::candidates(&gh, &repo_s, spec, &policy)?;
    // Already current: by version, or by the tag the current version came
    // from (a tag and the INFO version may differ, e.g. `v2.0` and 2.0.0).
    let current_tag = current
        .as_deref()
        .and_then(|c| receipt.version(c))
        .filter(|v| v.source == repo_s)
        .and_then(|v| v.tag.clone());
    let skip = requirements::skip_checks(cfg, opts.skip_checks);
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut downloads = 0;
    let explicit = matches!(spec, Spec::Tag(_));
    let already = |version: &str, skipped: Vec<Skipped>| {
        let mut done = Installed::unchanged(&name, version);
        done.skipped = skipped;
        done.other_major = found.other_major.as_ref().map(|v| v.to_string());
        done
    };
    for (i, release) in found.list.iter().enumerate() {
        let version = release.version();
        let same_version = version
            .as_ref()
            .is_some_and(|v| current.as_deref() == Some(v.to_string().as_str()));
        if (same_version || current_tag.as_deref() == Some(release.tag_name.as_str()))
            && !opts.force
        {
            return Ok(already(current.as_deref().unwrap_or_default(), skipped));
        }
        let label = version
            .as_ref()
            .map_or_else(|| release.tag_name.clone(), |v| v.to_string());
        let pass_over = |reason: String| Skipped {
            version: label.clone(),
            tag: release.tag_name.clone(),
            reason,
        };
        // Each candidate starts from an empty staging directory.
        let dir = staging;
        if i > 0 {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::new("could not create the staging directory").caused_by(e))?;
        }
        let mut deps = Vec::new();
        // The contract before the download, when the release publishes it.
        if !skip && let Some(contract) = versions::fetch_contract(&gh, release)? {
            match contract {
                Ok(info) => {
                    if let Some(report) =
                        gate(cfg, store, lock, &info, opts, chain, &mut deps, false)?
                    {
                        if explicit {
                            return Err(report.refusal(&format!(
                                "its requirements do not hold here (from the release's {CONTRACT_ASSET}; nothing was downloaded)"
                            )));
                        }
                        skipped.push(pass_over(report.summary()));
                        continue;
                    }
                }
                Err(problem) => {
                    if explicit {
                        return Err(Error::new(format!(
                            "refusing {repo_s} {}: its {CONTRACT_ASSET} is invalid",
                            release.tag_name
                        ))
                        .caused_by(problem));
                    }
                    skipped.push(pass_over(format!(
                        "its {CONTRACT_ASSET} is invalid: {problem}"
                    )));
                    continue;
                }
            }
        }
        if downloads == MAX_TRIAL_DOWNLOADS {
            skipped.push(pass_over(format!(
                "not tried: gave up after downloading {MAX_TRIAL_DOWNLOADS} releases"
            )));
            break;
        }
        downloads += 1;
        let payload = fetch_release(cfg, &gh, release, repo, &name, dir, opts)?;
        let staged = stage(cfg, dir, payload)?;
        match gate(cfg, store, lock, &staged.info, opts, chain, &mut deps, true)? {
            Some(report) if explicit => {
                return Err(report.refusal("its requirements do not hold here"));
            }
            Some(report) => skipped.push(pass_over(report.summary())),
            None => {
                let mut done = commit(cfg, store, lock, dir, staged, opts)?;
                done.skipped = skipped;
                done.deps = deps;
                done.other_major = found.other_major.as_ref().map(|v| v.to_string());
                return Ok(done);
            }
        }
    }
    match &current {
        // Implicitly never older: what is live stays.
        Some(cur) if policy.no_downgrade => Ok(already(cur, skipped)),
        _ if skipped.is_empty() => Err(versions::no_candidates(&repo_s, spec, &policy, &found)),
        _ => {
            let mut err = Error::new(format!(
                "no release of {repo_s}{} works here",
                versions::scope(spec, &policy)
            ));
            for s in &skipped {
                err = err.caused_by(format!("{}: {}", s.tag, s.reason));
            }
            Err(err
                .with_hint(format!(
                    "see `kplug plugin versions {name}`; `--skip-checks` installs one anyway, at your own risk"
                ))
                .with_hint("nothing was changed"))
        }
    }
}

enum Fetch {
    Payload(Box<Payload>),
    AlreadyCurrent(String),
}

/// A known version of this source whose verified archive is cached needs no
/// network at all: an explicit tag always, anything with `--offline`.
/// `None`: go to the network.
fn cached_payload(
    store: &Store,
    receipt: &Receipt,
    repo: &Repo,
    spec: &Spec,
    opts: &InstallOptions,
) -> Result<Option<Fetch>> {
    // The cache serves only offline installs and explicit tags; anything
    // else asks the network, so do not hash cached archives for nothing.
    if !opts.offline && !matches!(spec, Spec::Tag(_)) {
        return Ok(None);
    }
    let repo_s = repo.to_string();
    let name = repo.plugin_name()?;
    let current = store.current(&name);
    let cached = |entry: &InstalledVersion| {
        (entry.source == repo_s)
            .then(|| store.cached_download(&entry.sha256, &entry.asset))
            .flatten()
    };
    let wanted_version = |v: &InstalledVersion| -> bool {
        let parsed = semver::Version::parse(&v.version);
        let in_major = opts
            .major
            .is_none_or(|m| parsed.as_ref().is_ok_and(|p| p.major == m));
        in_major
            && match spec {
                Spec::Tag(t) => v
                    .tag
                    .as_deref()
                    .is_some_and(|vt| vt == t || vt == format!("v{t}")),
                Spec::Req(req) => parsed.is_ok_and(|ver| req.matches(&ver)),
                Spec::Latest => true,
            }
    };
    let prerelease =
        |v: &InstalledVersion| semver::Version::parse(&v.version).is_ok_and(|v| !v.pre.is_empty());
    // Each candidate with the path of its verified archive (hashed once).
    let mut local: Vec<(&InstalledVersion, PathBuf)> = receipt
        .versions
        .iter()
        .filter(|v| wanted_version(v))
        .filter(|v| opts.pre || matches!(spec, Spec::Tag(_)) || !prerelease(v))
        .filter_map(|v| Some((v, cached(v)?)))
        .collect();
    local.sort_by_key(|(v, _)| semver::Version::parse(&v.version).ok());
    // Offline, "the newest" never means older than what is installed.
    if opts.offline
        && !matches!(spec, Spec::Tag(_))
        && let (Some(cur), Some(best)) = (
            current
                .as_deref()
                .and_then(|c| semver::Version::parse(c).ok()),
            local
                .last()
                .and_then(|(v, _)| semver::Version::parse(&v.version).ok()),
        )
        && best < cur
    {
        return Ok(Some(Fetch::AlreadyCurrent(cur.to_string())));
    }
    if let Some((entry, path)) = local.pop() {
        if current.as_deref() == Some(entry.version.as_str()) && !opts.force {
            return Ok(Some(Fetch::AlreadyCurrent(entry.version.clone())));
        }
        return Ok(Some(Fetch::Payload(Box::new(Payload {
            file: Fetched {
                path,
                sha256: entry.sha256.clone(),
            },
            kind: asset::archive_kind(&entry.asset).unwrap_or(ArchiveKind::Binary),
            asset: entry.asset.clone(),
            source: repo_s,
            tag: entry.tag.clone(),
            verified_by: entry.verified_by.clone(),
            expected_name: Some(name),
        }))));
    }
    if opts.offline {
        return Err(Error::new(format!(
            "nothing cached for {repo_s} that matches; cannot install offline"
        ))
        .with_hint("run the install once without `--offline` to fill the download cache"));
    }
    Ok(None)
}

/// Pick this platform's asset of a release, download it into `staging` and
/// verify it.
fn fetch_release(
    cfg: &Config,
    gh: &GitHub,
    release: &Release,
    repo: &Repo,
    name: &str,
    staging: &Path,
    opts: &InstallOptions,
) -> Result<Payload> {
    let repo_s = repo.to_string();
    let platform = Platform::host().ok_or_else(|| {
        Error::new("kplug cannot pick release assets for this operating system or architecture")
    })?;
    let names: Vec<&str> = release.assets.iter().map(|a| a.name.as_str()).collect();
    let choice = asset::select(&names, name, &platform).map_err(|e| {
        Error::new(format!("{repo_s} {} has no asset kplug can install here", release.tag_name))
            .caused_by(e)
            .with_hint("plugin authors: publish `kplug-<name>_<os>_<arch>.tar.gz` assets (see docs/install.md)")
    })?;
    let chosen = release
        .assets
        .iter()
        .find(|a| a.name == names[choice.index])
        .expect("selected from the list");
    let max = cfg.file()?.install.max_download_mib * 1024 * 1024;
    let file = gh.download(chosen, &staging.join(&chosen.name), max)?;

    // Verify: GitHub's digest, else a checksums asset, else only TLS; and
    // --sha256 on top when given.
    let mut verified_by = None;
    if let Some(expected) = &opts.sha256 {
        check_sha(&file, expected, &chosen.name)?;
        verified_by = Some("--sha256");
    }
    if let Some(expected) = chosen.digest.as_deref().and_then(verify::parse_digest) {
        check_sha(&file, &expected, &chosen.name)?;
        verified_by = Some("github-digest");
    } else if verified_by.is_none() {
        for sums in verify::checksum_assets(&chosen.name, &names) {
            let sums_asset = release
                .assets
                .iter()
                .find(|a| a.name == sums)
                .expect("from the list");
            let text = gh.fetch_text(sums_asset)?;
            let single = sums
                .to_ascii_lowercase()
                .starts_with(&chosen.name.to_ascii_lowercase());
            if let Some(expected) = verify::find_checksum(&text, &chosen.name, single) {
                check_sha(&file, &expected, &chosen.name)?;
                verified_by = Some("checksums-file");
                break;
            }
        }
    }
    let verified_by = match verified_by {
        Some(v) => v.to_string(),
        None if opts.require_checksum || cfg.file()?.install.require_checksum => {
            return Err(Error::new(format!(
                "{repo_s} {} publishes no checksum for {}; refusing it ({})",
                release.tag_name,
                chosen.name,
                if opts.require_checksum {
                    "--require-checksum"
                } else {
                    "install.requireChecksum in the config file"
                }
            ))
            .with_hint(
                "ask the author to publish a checksums.txt, or install without --require-checksum",
            ));
        }
        None => {
            ui::warn(
                cfg,
                &format!(
                    "{repo_s} {} publishes no checksum for {}: its integrity rests on TLS alone",
                    release.tag_name, chosen.name
                ),
            );
            "none".to_string()
        }
    };
    Ok(Payload {
        file,
        asset: chosen.name.clone(),
        kind: choice.kind,
        source: repo_s,
        tag: Some(release.tag_name.clone()),
        verified_by,
        expected_name: Some(name.to_string()),
    })
}

/// Judge a plugin's contract before installing it. `Ok(None)`: go ahead
/// (after installing missing required plugins, with `--with-deps`).
/// `Ok(Some(report))`: this version is incompatible here. An error: a
/// required plugin is missing and cannot (or may not) be installed.
/// `last` is the final check (from the real INFO): the one that warns when
/// checks are skipped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gate(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    info: &Info,
    opts: &InstallOptions,
    chain: &mut Vec<String>,
    deps: &mut Vec<Installed>,
    last: bool,
) -> Result<Option<Report>> {
    let report = requirements::check_info(info, &Env::now(cfg, &info.name, None));
    if requirements::skip_checks(cfg, opts.skip_checks) {
        if last {
            requirements::warn_skipped(cfg, &report);
        }
        return Ok(None);
    }
    if !report.compatible() {
        return Ok(Some(report));
    }
    let missing: Vec<requirements::Item> = report.missing().cloned().collect();
    if missing.is_empty() {
        return Ok(None);
    }
    if !opts.with_deps {
        return Err(report
            .refusal("required plugins are missing")
            .with_hint("nothing was changed"));
    }
    for item in missing {
        let req = semver::VersionReq::parse(&item.wanted).unwrap_or(semver::VersionReq::STAR);
        let Some(src) = &item.source else {
            return Err(report.refusal(&format!(
                "it requires the plugin {}, and does not say where that comes from",
                item.name
            )));
        };
        if chain.contains(&item.name) || item.name == info.name {
            return Err(Error::new(format!(
                "refusing {} {}: its required plugins form a cycle ({} > {})",
                info.name,
                info.version,
                chain.join(" > "),
                item.name
            )));
        }
        let source = source::parse(src)?;
        let spec = if req == semver::VersionReq::STAR {
            Spec::Latest
        } else {
            Spec::Req(req.clone())
        };
        let source = match source {
            Source::GitHub { repo, .. } => Source::GitHub { repo, spec },
            other => other,
        };
        eprintln!(
            "installing {} {} from {src}, required by {} {}…",
            item.name, item.wanted, info.name, info.version
        );
        let dep_opts = InstallOptions {
            require_checksum: opts.require_checksum,
            offline: opts.offline,
            hooks: opts.hooks,
            with_deps: true,
            ..InstallOptions::default()
        };
        chain.push(info.name.clone());
        let result = install_source(cfg, store, lock, &source, &dep_opts, chain);
        chain.pop();
        let dep = result.map_err(|e| {
            e.context(format!(
                "could not install {} (required by {} {})",
                item.name, info.name, info.version
            ))
        })?;
        if dep.name != item.name {
            return Err(Error::new(format!(
                "{src} installed the plugin `{}`, but {} requires `{}`",
                dep.name, info.name, item.name
            )));
        }
        deps.push(dep);
    }
    let report = requirements::check_info(info, &Env::now(cfg, &info.name, None));
    if !report.ok() {
        return Err(
            report.refusal("its requirements still do not hold after installing its dependencies")
        );
    }
    Ok(None)
}

fn check_sha(file: &Fetched, expected: &str, name: &str) -> Result<()> {
    if file.sha256 == expected.to_ascii_lowercase() {
        return Ok(());
    }
    Err(
        Error::new(format!("checksum mismatch for {name}: refusing it"))
            .caused_by(format!("expected sha256 {expected}"))
            .caused_by(format!("downloaded  {}", file.sha256))
            .with_hint("the download is corrupt or was tampered with; nothing was installed"),
    )
}

fn local_file(path: &Path, opts: &InstallOptions) -> Result<Payload> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::usage(format!("`{}` has no usable file name", path.display())))?
        .to_string();
    let data = std::fs::File::open(path)
        .map_err(|e| Error::new(format!("could not read {}", path.display())).caused_by(e))?;
    let sha256 = crate::fsutil::sha256_of(data)
        .map_err(|e| Error::new(format!("could not read {}", path.display())).caused_by(e))?;
    let mut verified_by = "local-file".to_string();
    let file = Fetched {
        path: path.to_path_buf(),
        sha256,
    };
    if let Some(expected) = &opts.sha256 {
        check_sha(&file, expected, &name)?;
        verified_by = "--sha256".into();
    }
    Ok(Payload {
        kind: asset::archive_kind(&name).unwrap_or(ArchiveKind::Binary),
        asset: name,
        file,
        source: path.display().to_string(),
        tag: None,
        verified_by,
        expected_name: None,
    })
}

/// A local directory is packed as-is: copied into staging, then treated as
/// an already unpacked release.
fn local_dir(dir: &Path, staging: &Path, cfg: &Config) -> Result<Payload> {
    let limits = limits(cfg)?;
    let copy = staging.join("dir");
    let mut budget = (limits.max_bytes, limits.max_entries);
    copy_tree(dir, &copy, &mut budget).map_err(|e| {
        Error::new(format!("could not copy {}", dir.display()))
            .caused_by(e)
            .with_hint(
                "a plugin directory must stay within install.maxUnpackedMib and install.maxEntries",
            )
    })?;
    Ok(Payload {
        file: Fetched {
            path: copy,
            sha256: String::new(),
        },
        asset: dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("dir")
            .to_string(),
        kind: ArchiveKind::Binary,
        source: dir.display().to_string(),
        tag: None,
        verified_by: "local-dir".into(),
        expected_name: None,
    })
}

/// Copy regular files and directories (links are skipped: a plugin
/// directory is copied, not mirrored), within the unpack limits.
fn copy_tree(from: &Path, to: &Path, budget: &mut (u64, u64)) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        budget.1 = budget
            .1
            .checked_sub(1)
            .ok_or_else(|| std::io::Error::other("it holds more files than the install limit"))?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest, budget)?;
        } else if kind.is_file() {
            let n = std::fs::copy(entry.path(), &dest)?;
            budget.0 = budget
                .0
                .checked_sub(n)
                .ok_or_else(|| std::io::Error::other("it is larger than the install limit"))?;
        }
    }
    Ok(())
}

fn limits(cfg: &Config) -> Result<Limits> {
    let i = &cfg.file()?.install;
    Ok(Limits {
        max_bytes: i.max_unpacked_mib * 1024 * 1024,
        max_entries: i.max_entries,
    })
}

/// Unpack a payload in staging, find the plugin executable and smoke-test
/// it with INFO.
fn stage(cfg: &Config, staging: &Path, payload: Payload) -> Result<Staged> {
    let root = staging.join("root");
    if payload.verified_by == "local-dir" {
        std::fs::rename(&payload.file.path, &root)
            .map_err(|e| Error::new("could not stage the directory").caused_by(e))?;
    } else {
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::new("could not create the staging directory").caused_by(e))?;
        extract::extract(
            &payload.file.path,
            payload.kind,
            &payload.asset,
            &root,
            limits(cfg)?,
        )?;
    }
    let exe = match &payload.expected_name {
        Some(name) => extract::find_plugin_binary(&root, name)?,
        None => find_any_plugin(&root)?,
    };
    // The executable's directory becomes the version directory.
    let exe_dir = exe.parent().expect("found under root").to_path_buf();
    let probe_name = payload.expected_name.clone().unwrap_or_else(|| {
        let file = exe.file_name().and_then(|f| f.to_str()).unwrap_or_default();
        file.strip_prefix(EXECUTABLE_PREFIX)
            .unwrap_or(file)
            .to_string()
    });
    let located = Located {
        name: probe_name.clone(),
        path: exe.clone(),
        dir: exe_dir.clone(),
        origin: Origin::Store,
        stat: None,
    };
    let (info, _protocol) = probe::smoke_test(cfg, &located).map_err(|reason| {
        Error::new(format!("refusing {}: the plugin does not work here", payload.asset))
            .caused_by(reason)
            .with_hint("nothing was installed; a plugin must answer `KPLUG_COMMAND=INFO` (see docs/protocol.md)")
    })?;
    let name = check_name(&info, payload.expected_name.as_deref(), &payload.asset)?;
    // Installed under its canonical name, whatever the archive called it.
    let canonical = exe_dir.join(format!("{EXECUTABLE_PREFIX}{name}"));
    if exe != canonical {
        std::fs::rename(&exe, &canonical)
            .map_err(|e| Error::new("could not rename the plugin executable").caused_by(e))?;
    }
    Ok(Staged {
        payload,
        info,
        name,
        exe: canonical,
        exe_dir,
    })
}

/// Move a staged, checked plugin into the store and switch to it.
fn commit(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    staging: &Path,
    staged: Staged,
    opts: &InstallOptions,
) -> Result<Installed> {
    let Staged {
        payload,
        info,
        name,
        exe,
        exe_dir,
    } = staged;
    let version = info.version.to_string();
    let previous = store.current(&name);
    if previous.as_deref() == Some(version.as_str()) && !opts.force {
        return Ok(Installed::unchanged(&name, &version));
    }
    let receipt = store.receipt(&name)?;
    let sha256 = if payload.file.sha256.is_empty() {
        crate::fsutil::sha256_of(
            std::fs::File::open(&exe)
                .map_err(|e| Error::new("could not read the plugin").caused_by(e))?,
        )
        .map_err(|e| Error::new("could not read the plugin").caused_by(e))?
    } else {
        payload.file.sha256.clone()
    };
    if let Some(old) = receipt.version(&version)
        && old.source == payload.source
        && old.sha256 != sha256
    {
        let what = format!(
            "{name} {version} from {} is not the file installed before under that version",
            payload.source
        );
        let hashes = format!("recorded sha256 {}, this one {sha256}", old.sha256);
        if !opts.force {
            return Err(Error::new(what).caused_by(hashes).with_hint(
                "a release should never change once published; reinstall with `--force` only if you trust the change",
            ));
        }
        ui::warn(
            cfg,
            &format!("{what} ({hashes}); installing it anyway (--force)"),
        );
    }

    let entry = InstalledVersion {
        version: version.clone(),
        source: payload.source.clone(),
        tag: payload.tag.clone(),
        asset: payload.asset.clone(),
        sha256: sha256.clone(),
        verified_by: payload.verified_by.clone(),
        installed: crate::store::now(),
    };
    if payload.tag.is_some() && payload.file.path.starts_with(staging) {
        store.cache_download(lock, &payload.file.path, &sha256, &payload.asset)?;
    }
    // Only a version that was not in the store is removed again if its
    // health probe fails.
    let fresh = !store.version_dir(&name, &version).exists();
    store.record_version(lock, &name, entry.clone())?;
    store.commit_version(lock, &exe_dir, &name, &version)?;
    let switched = activate(cfg, store, lock, &name, &version, fresh)?;
    Ok(Installed {
        name,
        version,
        previous,
        unchanged: false,
        entry: Some(entry),
        hook_error: None,
        skipped: Vec::new(),
        other_major: None,
        deps: Vec::new(),
        pruned: switched.pruned,
    })
}

/// What [`activate`] did.
#[derive(Debug)]
pub(crate) struct Switched {
    /// The version that was live before.
    pub previous: Option<String>,
    /// Old versions removed afterwards.
    pub pruned: Vec<String>,
}

/// Switch `current` to an installed version, then probe it through the live
/// link. A failed probe switches back (and removes the version if it was
/// `fresh`, i.e. new in the store), and the error says both what failed and
/// what is live now. On success the old `current` becomes the rollback
/// target and old versions are pruned (`install.keepVersions`).
pub(crate) fn activate(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    name: &str,
    version: &str,
    fresh: bool,
) -> Result<Switched> {
    let previous = store.current(name);
    store.switch(lock, name, version)?;
    if let Err(reason) = health_probe(cfg, store, name, version) {
        return Err(revert(
            store,
            lock,
            name,
            version,
            previous.as_deref(),
            fresh,
            reason,
        ));
    }
    if previous.as_deref() != Some(version)
        && let Err(e) = store.set_previous(lock, name, previous.as_deref())
    {
        ui::warn(cfg, &format!("could not record the rollback target: {e}"));
    }
    let keep = cfg.file()?.install.keep_versions;
    let pruned = store.prune(lock, name, keep).unwrap_or_else(|e| {
        ui::warn(cfg, &format!("could not prune old versions of {name}: {e}"));
        Vec::new()
    });
    Ok(Switched { previous, pruned })
}

/// INFO through `plugins/<name>/current/kplug-<name>`: the file a dispatch
/// or a hook runs now. It must answer, and report this name and version.
fn health_probe(cfg: &Config, store: &Store, name: &str, version: &str) -> Result<(), String> {
    let located = Located {
        name: name.to_string(),
        path: store
            .plugin_dir(name)
            .join("current")
            .join(format!("{EXECUTABLE_PREFIX}{name}")),
        dir: store.version_dir(name, version),
        origin: Origin::Store,
        stat: None,
    };
    let (info, _) = probe::smoke_test(cfg, &located)?;
    if info.name != name {
        return Err(format!(
            "INFO through `current` reports the name `{}`",
            info.name
        ));
    }
    if info.version.to_string() != version {
        return Err(format!(
            "INFO through `current` reports version {}, not {version}",
            info.version
        ));
    }
    Ok(())
}

/// Undo a switch whose health probe failed.
fn revert(
    store: &Store,
    lock: &StoreLock,
    name: &str,
    version: &str,
    previous: Option<&str>,
    fresh: bool,
    reason: String,
) -> Error {
    let back = match previous.filter(|p| *p != version) {
        Some(p) => store
            .switch(lock, name, p)
            .map(|()| format!("switched back: {name} {p} is live again")),
        None => store
            .unlink_current(lock, name)
            .map(|()| format!("{name} was not installed before, and is not now")),
    };
    if fresh && back.is_ok() {
        let _ = store.remove_version(lock, name, version);
    }
    match back {
        Ok(what) => Error::new(format!(
            "{name} {version} failed its health check after the switch; {what}"
        ))
        .caused_by(reason)
        .with_hint(format!(
            "{name} {version} answered INFO in staging but not through its live `current` link"
        )),
        Err(e) => Error::new(format!(
            "{name} {version} failed its health check after the switch, and switching back failed"
        ))
        .caused_by(reason)
        .caused_by(e)
        .with_hint(format!(
            "switch by hand with `kplug plugin use {name} VERSION`"
        )),
    }
}

/// The name a plugin will be installed under: what its INFO says, which
/// must match what the source implies.
fn check_name(info: &Info, expected: Option<&str>, asset: &str) -> Result<String> {
    if let Some(expected) = expected
        && info.name != expected
    {
        return Err(Error::new(format!(
            "refusing {asset}: its INFO reports the name `{}`, but the repository is for `{expected}`",
            info.name
        ))
        .with_hint("the repository `kplug-<name>` (or `<name>`) must ship the plugin `<name>`"));
    }
    names::validate(&info.name)
        .map_err(|e| Error::new(format!("refusing {asset}: plugin name `{}` {e}", info.name)))?;
    Ok(info.name.clone())
}

/// For sources that do not imply a name: the single `kplug-*` executable
/// (shallowest), or the single executable of the tree.
fn find_any_plugin(root: &Path) -> Result<PathBuf> {
    let mut found: Vec<(usize, PathBuf)> = Vec::new();
    let mut execs: Vec<PathBuf> = Vec::new();
    fn walk(dir: &Path, depth: usize, found: &mut Vec<(usize, PathBuf)>, execs: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                walk(&path, depth + 1, found, execs);
            } else if t.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let exec = e
                    .metadata()
                    .is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
                let is_named = e
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(EXECUTABLE_PREFIX));
                if is_named {
                    found.push((depth, path.clone()));
                }
                if exec {
                    execs.push(path);
                }
            }
        }
    }
    walk(root, 0, &mut found, &mut execs);
    found.sort();
    if let Some((depth, first)) = found.first() {
        if found.iter().filter(|(d, _)| d == depth).count() > 1 {
            let names: Vec<String> = found.iter().map(|(_, p)| p.display().to_string()).collect();
            return Err(Error::new(
                "more than one `kplug-*` file; cannot tell which is the plugin",
            )
            .caused_by(names.join(", ")));
        }
        set_executable(first)?;
        return Ok(first.clone());
    }
    match execs.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(
            Error::new("no plugin executable found: expected a file named `kplug-<name>`")
                .with_hint("a plugin release holds an executable named `kplug-<name>`"),
        ),
    }
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o644);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o755)).map_err(|e| {
        Error::new(format!("could not make {} executable", path.display())).caused_by(e)
    })
}

fn plugin_context(event: Event, name: &str, version: &str) -> ExecContext {
    ExecContext::for_plugin(event, crate::clock::invocation_id(), name, version)
}

fn fire_post_install(cfg: &Config, mut installed: Installed, opts: &InstallOptions) -> Installed {
    // Dependencies were installed first; their hooks fire first.
    installed.deps = std::mem::take(&mut installed.deps)
        .into_iter()
        .map(|d| fire_post_install(cfg, d, opts))
        .collect();
    let dep_error = installed.deps.iter_mut().find_map(|d| d.hook_error.take());
    if installed.unchanged || !opts.hooks || cfg.no_hooks() {
        installed.hook_error = dep_error;
        return installed;
    }
    let plan = match hooks::plan(cfg, Event::PostPluginInstall, Some(&installed.name)) {
        Ok(p) => p,
        Err(e) => {
            installed.hook_error = Some(e);
            return installed;
        }
    };
    let ctx = plugin_context(
        Event::PostPluginInstall,
        &installed.name,
        &installed.version,
    );
    let runs = hooks::fire_post(
        cfg,
        &plan,
        &ctx,
        FireOptions {
            jobs: 1,
            best_effort: false,
        },
    );
    let done = format!("{} {} is installed", installed.name, installed.version);
    installed.hook_error =
        hooks::fire::post_failures(Event::PostPluginInstall, &done, &runs).or(dep_error);
    installed
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
    let Some(version) = store
        .current(name)
        .or_else(|| store.installed_versions(name).pop())
    else {
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
        let mut ctx = plugin_context(Event::PrePluginRemove, name, &version);
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
    let receipt = store.receipt(name).unwrap_or_default();
    let versions = store.installed_versions(name);
    store.remove_plugin(&lock, name)?;
    if all {
        for v in &receipt.versions {
            let _ = std::fs::remove_dir_all(store.downloads_dir().join(&v.sha256));
        }
        if let Some(data) = cfg.plugin_data_dir(name) {
            let _ = std::fs::remove_dir_all(data);
        }
    }
    Ok(Removed {
        name: name.to_string(),
        versions,
    })
}
