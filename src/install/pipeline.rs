//! `plugin install` and `plugin remove`, step by step.
//!
//! Everything happens in a staging directory under the store lock until
//! the last two renames (the version directory, then `current`), so a
//! failure or a kill at any earlier point leaves the previous version live
//! and nothing half-installed visible; the next writer clears staging.

use super::asset::{self, Platform};
use super::download::{self, Fetched};
use super::extract::{self, Limits};
use super::github::{GitHub, Release};
use super::source::{self, Repo, Source, Spec};
use super::{ArchiveKind, verify};
use crate::config::Config;
use crate::discovery::probe;
use crate::discovery::{Located, Origin};
use crate::error::{Error, Result, exit};
use crate::hooks::{self, FireOptions};
use crate::protocol::{
    self, EXECUTABLE_PREFIX, Event, ExecContext, HostContext, Info, PluginContext, names,
};
use crate::store::{InstalledVersion, Receipt, Store, StoreLock};
use crate::ui;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
}

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// The version that was current before, if any.
    pub previous: Option<String>,
    /// Nothing to do: this version was already current.
    pub unchanged: bool,
    pub entry: Option<InstalledVersion>,
    /// `post-plugin-install` failed (exit 4): the install stands.
    pub hook_error: Option<Error>,
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
    let store = Store::new(cfg)?;
    let installed = {
        let lock = store.lock()?;
        let staging = store.staging(&lock)?;
        let result = install_locked(cfg, &store, &lock, &staging, &source, opts);
        let _ = std::fs::remove_dir_all(&staging);
        result?
    };
    // Hooks run without the store lock: a hook may well call kplug.
    Ok(fire_post_install(cfg, installed, opts))
}

fn install_locked(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    staging: &Path,
    source: &Source,
    opts: &InstallOptions,
) -> Result<Installed> {
    let payload = match source {
        Source::GitHub { repo, spec } => {
            let name = repo.plugin_name()?;
            let receipt = store.receipt(&name)?;
            match github_payload(cfg, store, &receipt, staging, repo, spec, opts)? {
                Fetch::Payload(p) => p,
                Fetch::AlreadyCurrent(version) => {
                    return Ok(Installed {
                        name,
                        version,
                        previous: None,
                        unchanged: true,
                        entry: None,
                        hook_error: None,
                    });
                }
            }
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
    unpack_and_commit(cfg, store, lock, staging, payload, opts)
}

enum Fetch {
    Payload(Payload),
    AlreadyCurrent(String),
}

/// Resolve, download (or take from the cache) and verify a GitHub release.
fn github_payload(
    cfg: &Config,
    store: &Store,
    receipt: &Receipt,
    staging: &Path,
    repo: &Repo,
    spec: &Spec,
    opts: &InstallOptions,
) -> Result<Fetch> {
    let repo_s = repo.to_string();
    let name = repo.plugin_name()?;
    let current = store.current(&name);
    // A known version of this source whose verified archive is cached needs
    // no network at all: an explicit tag always, anything with --offline.
    let cached = |entry: &InstalledVersion| {
        (entry.source == repo_s)
            .then(|| store.cached_download(&entry.sha256, &entry.asset))
            .flatten()
    };
    let wanted_version = |v: &InstalledVersion| -> bool {
        match spec {
            Spec::Tag(t) => v
                .tag
                .as_deref()
                .is_some_and(|vt| vt == t || vt == format!("v{t}")),
            Spec::Req(req) => semver::Version::parse(&v.version).is_ok_and(|ver| req.matches(&ver)),
            Spec::Latest => true,
        }
    };
    let prerelease =
        |v: &InstalledVersion| semver::Version::parse(&v.version).is_ok_and(|v| !v.pre.is_empty());
    let mut local: Vec<&InstalledVersion> = receipt
        .versions
        .iter()
        .filter(|v| wanted_version(v) && cached(v).is_some())
        .filter(|v| opts.pre || matches!(spec, Spec::Tag(_)) || !prerelease(v))
        .collect();
    local.sort_by_key(|v| semver::Version::parse(&v.version).ok());
    // Offline, "the newest" never means older than what is installed.
    if opts.offline
        && !matches!(spec, Spec::Tag(_))
        && let (Some(cur), Some(best)) = (
            current
                .as_deref()
                .and_then(|c| semver::Version::parse(c).ok()),
            local
                .last()
                .and_then(|v| semver::Version::parse(&v.version).ok()),
        )
        && best < cur
    {
        return Ok(Fetch::AlreadyCurrent(cur.to_string()));
    }
    if let Some(entry) = local.last()
        && (opts.offline || matches!(spec, Spec::Tag(_)))
    {
        if current.as_deref() == Some(entry.version.as_str()) && !opts.force {
            return Ok(Fetch::AlreadyCurrent(entry.version.clone()));
        }
        let path = cached(entry).expect("filtered on being cached");
        return Ok(Fetch::Payload(Payload {
            file: Fetched {
                path,
                sha256: entry.sha256.clone(),
                size: 0,
            },
            kind: asset::archive_kind(&entry.asset).unwrap_or(ArchiveKind::Binary),
            asset: entry.asset.clone(),
            source: repo_s,
            tag: entry.tag.clone(),
            verified_by: entry.verified_by.clone(),
            expected_name: Some(name),
        }));
    }
    if opts.offline {
        return Err(Error::new(format!(
            "nothing cached for {repo_s} that matches; cannot install offline"
        ))
        .with_hint("run the install once without `--offline` to fill the download cache"));
    }

    let gh = GitHub::new(cfg)?;
    let release = resolve(&gh, &repo_s, spec, opts.pre)?;
    // Already current: by version, or by the tag the current version came
    // from (a tag and the INFO version may differ, e.g. `v2.0` and 2.0.0).
    let current_tag = current
        .as_deref()
        .and_then(|c| receipt.version(c))
        .filter(|v| v.source == repo_s)
        .and_then(|v| v.tag.clone());
    let same_version = release
        .version()
        .is_some_and(|v| current.as_deref() == Some(v.to_string().as_str()));
    if (same_version || current_tag.as_deref() == Some(release.tag_name.as_str())) && !opts.force {
        return Ok(Fetch::AlreadyCurrent(current.clone().unwrap_or_default()));
    }
    let platform = Platform::host().ok_or_else(|| {
        Error::new("kplug cannot pick release assets for this operating system or architecture")
    })?;
    let names: Vec<&str> = release.assets.iter().map(|a| a.name.as_str()).collect();
    let choice = asset::select(&names, &name, &platform).map_err(|e| {
        Error::new(format!("{repo_s} {} has no asset kplug can install here", release.tag_name))
            .caused_by(e)
            .with_hint("plugin authors: publish `kplug-<name>_<os>_<arch>.tar.gz` assets (see docs/install.md)")
    })?;
    let chosen = &release.assets[choice.index];
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
            let text = gh.fetch_text(sums_asset, staging)?;
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
    Ok(Fetch::Payload(Payload {
        file,
        asset: chosen.name.clone(),
        kind: choice.kind,
        source: repo_s,
        tag: Some(release.tag_name.clone()),
        verified_by,
        expected_name: Some(name),
    }))
}

/// The release a spec means.
fn resolve(gh: &GitHub, repo: &str, spec: &Spec, pre: bool) -> Result<Release> {
    match spec {
        Spec::Tag(tag) => gh.by_tag(repo, tag),
        Spec::Latest if !pre => gh.latest(repo),
        Spec::Latest | Spec::Req(_) => {
            let releases = gh.releases(repo)?;
            let mut seen: Vec<String> = Vec::new();
            let best = releases
                .into_iter()
                .filter(|r| !r.draft)
                .filter_map(|r| {
                    let v = r.version()?;
                    seen.push(r.tag_name.clone());
                    let fits = match spec {
                        // A range admits prereleases only if it names one
                        // (semver's rule) or `--pre` is given.
                        Spec::Req(req) => {
                            req.matches(&v)
                                || (pre
                                    && req
                                        .matches(&semver::Version::new(v.major, v.minor, v.patch)))
                        }
                        _ => true,
                    };
                    (fits && (pre || !r.prerelease)).then_some((v, r))
                })
                .max_by(|a, b| a.0.cmp(&b.0));
            best.map(|(_, r)| r).ok_or_else(|| {
                let what = match spec {
                    Spec::Req(req) => format!("no release of {repo} matches `{req}`"),
                    _ => format!("{repo} has no release with a semantic version tag"),
                };
                let hint = if seen.is_empty() {
                    "it has no releases tagged like v1.2.3".to_string()
                } else {
                    format!("releases seen: {}", seen.join(", "))
                };
                Error::new(what).with_hint(hint)
            })
        }
    }
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
    let sha256 = download::sha256_of(data)
        .map_err(|e| Error::new(format!("could not read {}", path.display())).caused_by(e))?;
    let mut verified_by = "local-file".to_string();
    let file = Fetched {
        path: path.to_path_buf(),
        sha256,
        size: 0,
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
            size: 0,
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

/// Unpack, find and smoke-test the plugin, then move it into the store and
/// switch to it.
fn unpack_and_commit(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    staging: &Path,
    payload: Payload,
    opts: &InstallOptions,
) -> Result<Installed> {
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
    let version = info.version.to_string();
    let previous = store.current(&name);
    if previous.as_deref() == Some(version.as_str()) && !opts.force {
        return Ok(Installed {
            name,
            version,
            previous: None,
            unchanged: true,
            entry: None,
            hook_error: None,
        });
    }
    let receipt = store.receipt(&name)?;
    let sha256 = if payload.file.sha256.is_empty() {
        download::sha256_of(
            std::fs::File::open(&canonical)
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
    store.record_version(lock, &name, entry.clone())?;
    store.commit_version(lock, &exe_dir, &name, &version)?;
    store.switch(lock, &name, &version)?;
    Ok(Installed {
        name,
        version,
        previous,
        unchanged: false,
        entry: Some(entry),
        hook_error: None,
    })
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
    ExecContext {
        protocol: protocol::CURRENT_PROTOCOL,
        event,
        invocation_id: crate::clock::invocation_id(),
        host: HostContext {
            version: crate::VERSION.into(),
        },
        cluster: None,
        spec: None,
        plugin: Some(PluginContext {
            name: name.into(),
            version: version.into(),
        }),
        previous: BTreeMap::new(),
    }
}

fn fire_post_install(cfg: &Config, mut installed: Installed, opts: &InstallOptions) -> Installed {
    if installed.unchanged || !opts.hooks || cfg.no_hooks() {
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
    installed.hook_error = hooks::fire::post_failures(Event::PostPluginInstall, &done, &runs);
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
    names::validate(name)
        .map_err(|e| Error::usage(format!("invalid plugin name `{name}`: it {e}")))?;
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
