//! kplug updating itself: `kplug self versions|check|update|use|rollback|
//! list|health`.
//!
//! The `kplug` a user runs becomes a symbolic link to
//! `$KPLUG_HOME/self/current/kplug` ([`store`]); the first update of a
//! plain-file install migrates it (the old file becomes a version of its
//! own, the path becomes the link), all or nothing. An update resolves the
//! release from `self.source` through the same sources, asset rules,
//! verification, size caps and lock as plugin installs, then:
//!
//! 1. the new binary's smoke test: `<new> version -o json` answers within
//!    10 s with exactly the version the release claims, for this platform;
//! 2. `current` is switched (a rename: atomic);
//! 3. the health probe: the new kplug runs `kplug self health` through the
//!    user's path; if that fails or hangs, `current` is switched back and
//!    the failure reported with the old version live again.
//!
//! A `kplug` kplug must not replace is refused before any download: one
//! not writable by the user, one a package manager owns, one cargo
//! installed.

pub mod store;

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::exec::{self, Spawn, Termination};
use crate::install::asset::{ArchiveKind, Platform};
use crate::install::extract::{self, Limits};
use crate::install::select::{self, Policy};
use crate::install::signing;
use crate::install::source::{Candidate, FetchContext, Intent, Request, Spec};
use crate::store::{Store, StoreLock, Verification};
use crate::ui::escape;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::{HostReceipt, HostStore, HostVersion};

/// How long the new binary has to report its version.
pub const SMOKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the health probe may take.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(20);
/// Exit status of `kplug self check` when an update is available.
pub const EXIT_UPDATE_AVAILABLE: i32 = 10;

/// The `kplug` the user runs.
#[derive(Debug, Clone)]
pub enum Installed {
    /// A link to `self/current/kplug` (already managed).
    Managed(PathBuf),
    /// A plain executable: migrated into the store by the first update.
    Plain(PathBuf),
}

impl Installed {
    pub fn path(&self) -> &Path {
        match self {
            Installed::Managed(p) | Installed::Plain(p) => p,
        }
    }
}

/// The path this kplug was started as: `argv[0]` when it holds a `/`,
/// else the first match on PATH (not `/proc/self/exe`, which would
/// resolve the link a managed install is).
fn invoked_path(cfg: &Config) -> Option<PathBuf> {
    let argv0 = PathBuf::from(std::env::args_os().next()?);
    if argv0.as_os_str().as_encoded_bytes().contains(&b'/') {
        return std::path::absolute(&argv0).ok();
    }
    cfg.path
        .iter()
        .map(|d| d.join(&argv0))
        .find(|p| crate::discovery::is_executable_file(p))
}

/// Why kplug must not replace the executable at `path`, and what to do
/// instead; `None` when it may.
pub fn refusal(path: &Path) -> Option<(String, String)> {
    let shown = path.display().to_string();
    // `..` and links in the directory part must not hide where it is.
    let dir = path.parent().unwrap_or(Path::new("/"));
    let real_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let text = real_dir
        .join(path.file_name().unwrap_or_default())
        .display()
        .to_string();
    let cargo_home = real_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    if text.contains("/.cargo/bin/")
        || cargo_home.join(".crates.toml").is_file()
        || cargo_home.join(".crates2.json").is_file()
    {
        return Some((
            format!("{shown} was installed by cargo"),
            "update it the way it was installed: `cargo install kplug` (or `cargo install --path .` in a checkout)".into(),
        ));
    }
    const SYSTEM: [&str; 7] = [
        "/usr/bin/",
        "/usr/sbin/",
        "/usr/lib/",
        "/usr/libexec/",
        "/bin/",
        "/sbin/",
        "/snap/",
    ];
    if SYSTEM.iter().any(|p| text.starts_with(p)) || dpkg_owns(Path::new(&text)) || dpkg_owns(path)
    {
        return Some((
            format!("{shown} belongs to the system's package manager"),
            "update it with the package manager, or install kplug somewhere of your own (e.g. ~/.local/bin) and update that".into(),
        ));
    }
    if !writable(dir) || !writable(path) {
        return Some((
            format!("{shown} is in a place this user cannot change ({})", dir.display()),
            "run the update as the user who owns it, or install kplug somewhere you can write (e.g. ~/.local/bin)".into(),
        ));
    }
    None
}

/// Whether a dpkg package lists `path` among its files.
fn dpkg_owns(path: &Path) -> bool {
    let Some(wanted) = path.to_str() else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir("/var/lib/dpkg/info") else {
        return false;
    };
    entries.flatten().any(|e| {
        e.path().extension().is_some_and(|x| x == "list")
            && crate::fsutil::read_bounded(&e.path(), 16 * 1024 * 1024)
                .is_ok_and(|b| String::from_utf8_lossy(&b).lines().any(|l| l == wanted))
    })
}

/// Whether this user can change `p`: `access(2)`, and at least one write
/// bit (a directory or file with none is meant to be read-only, even for
/// root).
fn writable(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access with a valid C string has no memory-safety conditions.
    let ok = unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0;
    ok && meta.permissions().mode() & 0o222 != 0
}

/// Whether `path` is the file this process runs (same device and inode):
/// argv[0] and PATH are what the caller says, `/proc/self/exe` is what is.
fn is_running_binary(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(exe), Ok(p)) = (std::env::current_exe(), std::fs::metadata(path)) else {
        return false;
    };
    std::fs::metadata(exe).is_ok_and(|e| e.dev() == p.dev() && e.ino() == p.ino())
}

/// Where the running `kplug` is and whether kplug may manage it.
pub fn locate(cfg: &Config) -> Result<Installed> {
    let host = HostStore::new(cfg)?;
    let path = invoked_path(cfg).ok_or_else(|| {
        Error::new("cannot tell where this kplug is installed")
            .with_hint("run it by its path, e.g. ~/.local/bin/kplug self update")
    })?;
    if !is_running_binary(&path) {
        return Err(Error::new(format!(
            "{} is not the kplug that is running (it was started under another name)",
            path.display()
        ))
        .with_hint(
            "run the kplug you want to update by its path, e.g. ~/.local/bin/kplug self update",
        ));
    }
    let meta = std::fs::symlink_metadata(&path)
        .with_context(|| format!("could not look at {}", path.display()))?;
    // One of the store's own copies, run directly (a rescue): it switches
    // `current`, and the links on PATH follow.
    let root = std::fs::canonicalize(host.root()).unwrap_or_else(|_| host.root().to_path_buf());
    if std::fs::canonicalize(&path).is_ok_and(|p| p.starts_with(&root))
        && !meta.file_type().is_symlink()
    {
        return Ok(Installed::Managed(path));
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&path).unwrap_or_default();
        let target = path.parent().map_or(target.clone(), |d| d.join(&target));
        let normal = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        // The link names `<store>/current/kplug`, however the store's path
        // is spelled (a relative or linked KPLUG_HOME).
        let via_current = |t: &Path| {
            t.file_name().is_some_and(|n| n == "kplug")
                && t.parent().is_some_and(|c| {
                    c.file_name().is_some_and(|n| n == "current")
                        && c.parent().and_then(|r| std::fs::canonicalize(r).ok())
                            == Some(root.clone())
                })
        };
        if normal(&target) == normal(&host.current_link_target()) || via_current(&normal(&target)) {
            return Ok(Installed::Managed(path));
        }
        return Err(Error::new(format!(
            "{} is a link to {}, which kplug does not manage",
            path.display(),
            target.display()
        ))
        .with_hint("update the file it points at the way it was installed, or replace the link with a plain kplug"));
    }
    if let Some((why, hint)) = refusal(&path) {
        return Err(Error::new(format!("kplug will not replace itself: {why}")).with_hint(hint));
    }
    Ok(Installed::Plain(path))
}

/// The releases of `self.source`, as a request; `channel` (`--channel`)
/// in place of an omaha source's own.
fn request(cfg: &Config, channel: Option<&str>) -> Result<Request> {
    let text = cfg.file()?.self_update.source.clone();
    let on_channel;
    let cfg = match channel {
        None => cfg,
        Some(ch) => {
            crate::install::source::omaha::check_channel(ch)
                .map_err(|why| Error::usage(format!("`--channel {}`: {why}", escape(ch))))?;
            let mut file = cfg.file()?.clone();
            let source = text.split_once('/').map(|(s, _)| s).unwrap_or_default();
            let Some(s) = file
                .sources
                .iter_mut()
                .find(|s| s.name == source && s.kind == crate::config::SourceKind::Omaha)
            else {
                return Err(Error::usage(format!(
                    "`--channel` picks an Omaha channel, and `self.source: {}` is not a plugin of an omaha source",
                    escape(&text)
                ))
                .with_hint("set `self.source: SOURCE/kplug` for an omaha source (docs/omaha.md)"));
            };
            s.channel = Some(ch.to_string());
            on_channel = cfg.with_file(file);
            &on_channel
        }
    };
    let req = crate::install::catalog::request(cfg, &text, None, true)?;
    if !req.source.has_versions() {
        return Err(Error::usage(format!(
            "`self.source: {}` does not list versions",
            escape(&text)
        ))
        .with_hint("point it at a repository of releases, like kplug/kplug"));
    }
    Ok(req)
}

/// A published version.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub version: String,
    pub current: bool,
    pub installed: bool,
}

pub fn current_version() -> Version {
    Version::parse(crate::version()).unwrap_or_else(|_| Version::new(0, 0, 0))
}

/// Every published version, newest first.
pub fn versions(cfg: &Config, pre: bool) -> Result<Vec<Published>> {
    let mut req = request(cfg, None)?;
    req.source
        .set_installed(Some(crate::version()), Intent::Look);
    let all = req.source.versions(&Spec::Latest)?;
    let installed = HostStore::new(cfg)?.installed();
    let current = crate::version();
    let mut out: Vec<(Version, Published)> = all
        .into_iter()
        .filter_map(|c| {
            let v = c.version?;
            (pre || v.pre.is_empty()).then(|| {
                let s = v.to_string();
                (
                    v,
                    Published {
                        current: s == current,
                        installed: installed.contains(&s),
                        version: s,
                    },
                )
            })
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

/// What `self update` would take: the newest candidate allowed, if newer.
struct Choice {
    candidate: Candidate,
    version: Version,
    /// Newer releases left out for being of another major.
    other_major: Option<String>,
}

fn choose(
    req: &mut Request,
    opts: &UpdateOptions,
    from: &str,
    intent: Intent,
) -> Result<(Option<Choice>, Option<String>)> {
    let spec = match &opts.version {
        Some(v) => Spec::parse(v),
        None => Spec::Latest,
    };
    let current = Version::parse(from).unwrap_or_else(|_| current_version());
    let policy = if req.source.exact_versions() {
        Policy::channel(Some(current.clone()))
    } else {
        Policy::new(&spec, opts.pre, opts.major, true, Some(current.clone()))
    };
    let label = req.source.label();
    req.source.set_installed(Some(from), intent);
    let offered = req.source.versions(&spec)?;
    let found = select::choose(&label, offered, &spec, &policy)?;
    let other_major = found.other_major.as_ref().map(ToString::to_string);
    let Some(candidate) = found.list.into_iter().next() else {
        return Ok((None, other_major));
    };
    let Some(version) = candidate.version.clone() else {
        return Err(Error::new(format!(
            "{} is not a version",
            escape(&candidate.label)
        )));
    };
    // Never an implicit downgrade; the current version only with --force.
    let stale = if opts.version.is_none() {
        version < current || (version == current && !opts.force)
    } else {
        version == current && !opts.force
    };
    if stale {
        return Ok((None, other_major));
    }
    Ok((
        Some(Choice {
            candidate,
            version,
            other_major: other_major.clone(),
        }),
        other_major,
    ))
}

#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// A version or range (`--version`).
    pub version: Option<String>,
    pub pre: bool,
    pub force: bool,
    pub dry_run: bool,
    pub major: Option<u64>,
    /// An Omaha channel in place of the source's (`--channel`).
    pub channel: Option<String>,
}

/// What an update did.
#[derive(Debug, Serialize)]
pub struct Updated {
    pub from: String,
    /// `None`: nothing newer.
    pub to: Option<String>,
    pub dry_run: bool,
    /// A newer release of another major, left out.
    pub other_major: Option<String>,
    /// The plain file migrated into the store, when this was the first update.
    pub migrated: Option<PathBuf>,
    pub pruned: Vec<String>,
}

/// The cached answer of the last `self check`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckCache {
    checked_ms: i64,
    current: String,
    latest: String,
}

fn check_cache_path(cfg: &Config) -> Result<PathBuf> {
    Ok(cfg.home()?.join("cache").join("self-check.json"))
}

/// `self check`: the newest version allowed, if newer than this one (and
/// the answer cached for `kplug version`'s notice).
pub fn check(cfg: &Config, channel: Option<&str>) -> Result<Option<String>> {
    let mut req = request(cfg, channel)?;
    let (choice, _) = choose(
        &mut req,
        &UpdateOptions::default(),
        crate::version(),
        Intent::Look,
    )?;
    let latest = choice
        .as_ref()
        .map_or_else(|| crate::version().to_string(), |c| c.version.to_string());
    // Another channel's answer is not what a plain `self update` takes:
    // `kplug version`'s notice is left alone.
    if let Ok(path) = check_cache_path(cfg)
        && channel.is_none()
    {
        let c = CheckCache {
            checked_ms: crate::clock::now_unix_ms(),
            current: crate::version().to_string(),
            latest: latest.clone(),
        };
        let _ = crate::fsutil::write_atomic(&path, &serde_json::to_vec(&c).expect("JSON"));
    }
    Ok(choice.map(|c| c.version.to_string()))
}

/// The notice `kplug version` prints: a newer version the last `self
/// check` (less than a day ago) found.
pub fn notice(cfg: &Config) -> Option<String> {
    let bytes = crate::fsutil::read_bounded(&check_cache_path(cfg).ok()?, 4096).ok()?;
    let c: CheckCache = serde_json::from_slice(&bytes).ok()?;
    let age = crate::clock::now_unix_ms() - c.checked_ms;
    let latest = Version::parse(&c.latest).ok()?;
    (c.current == crate::version()
        && (0..24 * 3600 * 1000).contains(&age)
        && latest > current_version())
    .then(|| format!("kplug {latest} is available (`kplug self update`)"))
}

/// `self update`.
pub fn update(cfg: &Config, opts: &UpdateOptions) -> Result<Updated> {
    // Where this kplug is, and whether it may be replaced, before anything
    // else (no download for a refusal).
    locate(cfg)?;
    let store = Store::new(cfg)?;
    let lock = if opts.dry_run {
        None
    } else {
        Some(store.lock_for_self()?)
    };
    let host = HostStore::new(cfg)?;
    if let Some(lock) = &lock {
        recover(cfg, lock, &host)?;
    }
    // Decided under the lock: a concurrent update has finished by now.
    let installed = locate(cfg)?;
    let from = running_version(&host, &installed);
    let mut req = request(cfg, opts.channel.as_deref())?;
    let intent = if opts.dry_run {
        Intent::Look
    } else {
        Intent::Install
    };
    let (choice, other_major) = choose(&mut req, opts, &from, intent)?;
    let nothing = |other_major| Updated {
        from: from.clone(),
        to: None,
        dry_run: opts.dry_run,
        other_major,
        migrated: None,
        pruned: Vec::new(),
    };
    let Some(choice) = choice else {
        return Ok(nothing(other_major));
    };
    let Some(lock) = lock else {
        return Ok(Updated {
            to: Some(choice.version.to_string()),
            other_major: choice.other_major,
            ..nothing(None)
        });
    };
    let staging = store.staging(&lock)?;
    let version = choice.version.to_string();
    let ever_signed = host.receipt()?.signed;
    let Checked { exe, entry, report } = fetch_checked(
        cfg,
        &mut req,
        &choice.candidate,
        staging.path(),
        &version,
        ever_signed,
    )?;
    host.add(&lock, &exe, &version, opts.force)?;
    let mut receipt = host.receipt()?;
    receipt.versions.retain(|v| v.version != version);
    receipt.signed |= entry.signer.is_some();
    receipt.versions.push(entry);
    // A failed switch drops `report`, which tells a source that reports
    // back (Omaha) that the update failed.
    let migrated = switch_to(cfg, &lock, &host, &installed, &mut receipt, &version)?;
    if let Some(r) = report {
        r.installed();
    }
    let pruned = host.prune(
        &lock,
        cfg.file()?.self_update.keep_versions.max(1),
        receipt.previous.as_deref(),
    );
    receipt.versions.retain(|v| !pruned.contains(&v.version));
    host.write_receipt(&lock, &receipt)?;
    warn_newer_layout(cfg, &store, &version);
    Ok(Updated {
        from,
        to: Some(version),
        dry_run: false,
        other_major: choice.other_major,
        migrated,
        pruned,
    })
}

/// The version the user's `kplug` runs now: the store's current one for a
/// managed install, this binary's otherwise.
fn running_version(host: &HostStore, installed: &Installed) -> String {
    match installed {
        Installed::Managed(_) => host
            .current()
            .unwrap_or_else(|| crate::version().to_string()),
        Installed::Plain(_) => crate::version().to_string(),
    }
}

/// Finish what a killed `self` command left: a switch whose health probe
/// never ran is probed now, and switched back if it fails.
fn recover(cfg: &Config, lock: &StoreLock, host: &HostStore) -> Result<()> {
    let mut receipt = host.receipt()?;
    let Some(p) = receipt.pending.take() else {
        return Ok(());
    };
    if host.current().as_deref() != Some(p.to.as_str()) {
        return host.write_receipt(lock, &receipt);
    }
    if let Err(e) = health(cfg, &host.current_link_target()) {
        match &p.from {
            Some(from) if host.installed().contains(from) => {
                host.switch(lock, from)?;
                crate::ui::warn(
                    cfg,
                    &format!(
                        "an interrupted update had left kplug {} unprobed; it failed its health probe, so kplug {from} is current again: {}",
                        p.to, e
                    ),
                );
            }
            _ => crate::ui::warn(
                cfg,
                &format!("kplug {} fails its health probe: {}", p.to, e),
            ),
        }
    } else if p.from.as_deref() != Some(p.to.as_str()) {
        // The interrupted switch was good: finish it as the update would.
        receipt.previous = p.from;
    }
    host.write_receipt(lock, &receipt)
}

/// A release downloaded, verified, unpacked and smoke-tested.
struct Checked {
    exe: PathBuf,
    entry: HostVersion,
    /// Told when the update is live (dropped: it failed), for a source
    /// that reports to its server.
    report: Option<Box<dyn crate::install::source::Report>>,
}

/// Download, verify, unpack and smoke-test a release into `dir`.
fn fetch_checked(
    cfg: &Config,
    req: &mut Request,
    c: &Candidate,
    dir: &Path,
    version: &str,
    ever_signed: bool,
) -> Result<Checked> {
    let platform = Platform::host().ok_or_else(|| {
        Error::new("kplug cannot pick release assets for this operating system or architecture")
    })?;
    let max = cfg
        .file()?
        .install
        .max_download_mib
        .saturating_mul(1024 * 1024);
    let ctx = FetchContext {
        cfg,
        dir,
        platform: &platform,
        max_bytes: max,
    };
    let mut artifact = req.source.fetch(c, &ctx)?;
    if artifact.verified == Verification::None && cfg.file()?.install.require_checksum {
        return Err(Error::new(format!(
            "kplug {version} publishes no checksum, and install.requireChecksum is set"
        ))
        .with_hint("nothing was changed"));
    }
    let signer = check_signature(cfg, req, c, &artifact, version, ever_signed)?;
    let shown = escape(&artifact.name).into_owned();
    let crate::install::source::Content::File { file, kind } = &artifact.content else {
        return Err(Error::new(format!("{shown} is not a release archive")));
    };
    let root = dir.join("root");
    std::fs::create_dir_all(&root).context("could not create the staging directory")?;
    extract::extract(&file.path, *kind, "kplug", &root, Limits::of(cfg)?)?;
    let exe = find_kplug(&root, *kind).ok_or_else(|| {
        Error::new(format!("{shown} holds no executable named `kplug`"))
            .with_hint("nothing was changed; a kplug release archive holds the executable `kplug`")
    })?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))
        .context("could not make the new kplug executable")?;
    smoke_test(cfg, &exe, version)?;
    Ok(Checked {
        exe,
        entry: HostVersion {
            version: version.to_string(),
            source: req.source.address(),
            asset: Some(artifact.name.clone()),
            sha256: file.sha256.clone(),
            verified_by: artifact.verified,
            installed: crate::store::now(),
            signer,
        },
        report: artifact.report.take(),
    })
}

/// The key kplug's own releases are signed with.
const RELEASE_KEY: &str = include_str!("release-key.pub");

/// kplug's releases are checked against its built-in release key,
/// `self.trust` and the keys its source trusts (never on first use); an
/// unsigned release is refused from kplug's own repository, from a source
/// that trusts keys, once a signed one was installed, or under
/// `install.requireSignature`.
fn check_signature(
    cfg: &Config,
    req: &mut Request,
    c: &Candidate,
    artifact: &crate::install::source::Artifact,
    version: &str,
    ever_signed: bool,
) -> Result<Option<signing::Signer>> {
    let file = cfg.file()?;
    let mut keys = vec![(
        signing::Key::parse(RELEASE_KEY).expect("the built-in release key parses"),
        signing::How::BuiltIn,
    )];
    keys.extend(
        signing::keys(&file.self_update.trust, signing::How::BuiltIn).map_err(|why| {
            Error::usage(format!("`self.trust` {why}"))
                .with_hint("give minisign public keys, the `RW…` line of a minisign.pub")
        })?,
    );
    let source_keys = !req.source.trusted().is_empty();
    let published = req.source.signature(c, artifact)?.map(|mut p| {
        p.vouched.extend(keys);
        // Only these keys: no first use for kplug itself.
        p.offered = None;
        p
    });
    let what = format!("kplug {version}");
    let ctx = signing::Context {
        plugin: "kplug",
        what: &what,
        artifact: &artifact.name,
        pins: &[],
        ever_signed,
        // kplug's own repository signs every release: one without a
        // signature there is refused, the first update included.
        require: if file.install.require_signature {
            Some("install.requireSignature")
        } else if file.self_update.source == crate::config::SELF_SOURCE {
            Some("kplug's own releases (kplug/kplug, which signs every release)")
        } else if source_keys {
            Some("its source (which trusts keys)")
        } else {
            None
        },
        reset: "a fork that stopped signing is accepted again once `signed: true` is removed from $KPLUG_HOME/self/receipt.yaml",
        max: file.install.max_download_mib.saturating_mul(1024 * 1024),
    };
    let accepted = signing::judge(&ctx, published.as_ref())?;
    if accepted.is_none() {
        crate::ui::warn(
            cfg,
            &format!("{what} is not signed: nothing says who made it"),
        );
    }
    Ok(accepted.map(|a| a.signer))
}

/// The shallowest regular file named `kplug` under `root`.
fn find_kplug(root: &Path, kind: ArchiveKind) -> Option<PathBuf> {
    if kind == ArchiveKind::Binary {
        return Some(root.join("kplug")).filter(|p| p.is_file());
    }
    let mut level = vec![root.to_path_buf()];
    for _ in 0..8 {
        let mut next = Vec::new();
        let mut entries: Vec<PathBuf> = level
            .iter()
            .flat_map(|d| {
                std::fs::read_dir(d)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
            })
            .collect();
        entries.sort();
        for p in entries {
            let meta = std::fs::symlink_metadata(&p).ok()?;
            if meta.is_file() && p.file_name().is_some_and(|n| n == "kplug") {
                return Some(p);
            }
            if meta.is_dir() {
                next.push(p);
            }
        }
        if next.is_empty() {
            return None;
        }
        level = next;
    }
    None
}

/// `<exe> version -o json` must answer within [`SMOKE_TIMEOUT`] with
/// exactly `version`, for this platform.
fn smoke_test(cfg: &Config, exe: &Path, version: &str) -> Result<()> {
    let refused = |why: String| {
        Error::new(format!("refusing kplug {version}: the new binary {why}"))
            .with_hint("nothing was changed; the running kplug stays")
    };
    let outcome = exec::run(Spawn {
        program: exe.to_path_buf(),
        args: vec!["version".into(), "-o".into(), "json".into()],
        env: minimal_env(cfg),
        cwd: None,
        stdin: None,
        timeout: SMOKE_TIMEOUT,
        stdout_limit: 64 * 1024,
        kill_on_stdout_overflow: true,
        stderr_tail: 4096,
        stderr_prefix: None,
    })
    .map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOEXEC) {
            refused("is not a program for this system".into())
        } else {
            refused(format!("cannot be run: {e}"))
        }
    })?;
    match outcome.termination {
        Termination::Exited(0) => {}
        Termination::TimedOut => {
            return Err(refused(format!(
                "did not answer `version` within {} and was stopped",
                crate::protocol::format_duration(SMOKE_TIMEOUT)
            )));
        }
        Termination::Exited(code) => {
            return Err(refused(format!("exited with status {code} on `version`"))
                .caused_by(escape(outcome.stderr_summary(3).trim()).into_owned()));
        }
        other => {
            return Err(refused(format!(
                "ended abnormally ({other:?}) on `version`"
            )));
        }
    }
    #[derive(Deserialize)]
    struct Said {
        version: String,
        os: Option<String>,
        arch: Option<String>,
    }
    let said: Said = serde_json::from_slice(&outcome.stdout).map_err(|_| {
        refused("answered `version -o json` with something that is not its version".into())
    })?;
    if said.version != version {
        return Err(refused(format!(
            "says it is version {}, but the release is {version}",
            escape(&said.version)
        )));
    }
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    if said.os.as_deref().is_some_and(|o| o != os)
        || said.arch.as_deref().is_some_and(|a| a != arch)
    {
        return Err(refused(format!(
            "is for {}/{}, not {os}/{arch}",
            escape(said.os.as_deref().unwrap_or("?")),
            escape(said.arch.as_deref().unwrap_or("?"))
        )));
    }
    Ok(())
}

/// PATH, HOME and the kplug directories: enough for `version` and `self
/// health`, nothing secret.
fn minimal_env(cfg: &Config) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    cfg.vars
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.to_str(),
                Some(
                    "PATH"
                        | "HOME"
                        | "KPLUG_HOME"
                        | "XDG_CONFIG_HOME"
                        | "XDG_DATA_HOME"
                        | "TMPDIR"
                        | "LANG"
                        | "NO_COLOR"
                )
            )
        })
        .cloned()
        .chain([("KPLUG_NO_UPDATE_NOTICE".into(), "1".into())])
        .collect()
}

/// Make `version` current (migrating a plain install first), then probe
/// its health through the user's path; on failure switch back. The
/// receipt carries a `pending` mark from the switch until the probe has
/// passed, so a kill in between is finished by the next `self` command.
fn switch_to(
    cfg: &Config,
    lock: &StoreLock,
    host: &HostStore,
    installed: &Installed,
    receipt: &mut HostReceipt,
    version: &str,
) -> Result<Option<PathBuf>> {
    let before = host.current();
    // A plain install: its file becomes a version of its own first (it is
    // the running binary: `locate` checked).
    let was = match installed {
        Installed::Plain(path) => {
            let was = crate::version().to_string();
            if !host.version_dir(&was).join("kplug").is_file() {
                std::fs::create_dir_all(host.root())
                    .context("could not create the version store")?;
                let copy = host.root().join(format!(".migrating-{was}"));
                let _ = std::fs::remove_file(&copy);
                std::fs::copy(path, &copy)
                    .with_context(|| format!("could not copy {}", path.display()))?;
                let added = host.add(lock, &copy, &was, false);
                let _ = std::fs::remove_file(&copy);
                added?;
            }
            if !receipt.versions.iter().any(|v| v.version == was) {
                receipt.versions.insert(
                    0,
                    HostVersion {
                        version: was.clone(),
                        source: path.display().to_string(),
                        asset: None,
                        sha256: crate::fsutil::sha256_file(path).unwrap_or_default(),
                        verified_by: Verification::LocalFile,
                        installed: crate::store::now(),
                        signer: None,
                    },
                );
            }
            Some(was)
        }
        Installed::Managed(_) => None,
    };
    // What the user ran before this command: where a failure goes back to.
    let back = was.clone().or(before.clone());
    receipt.pending = Some(store::Pending {
        from: back.clone(),
        to: version.to_string(),
    });
    host.write_receipt(lock, receipt)?;
    host.switch(lock, version)?;
    let mut migrated = None;
    if let Installed::Plain(path) = installed {
        // Last: the link over the plain file. Until it is there, the path
        // runs the old file, whatever happens.
        let link = path.with_file_name(format!(".kplug-link-{}", std::process::id()));
        let _ = std::fs::remove_file(&link);
        let made = std::os::unix::fs::symlink(host.current_link_target(), &link)
            .and_then(|_| std::fs::rename(&link, path));
        if let Err(e) = made {
            let _ = std::fs::remove_file(&link);
            match &before {
                Some(b) => {
                    host.switch(lock, b)?;
                }
                None => {
                    let _ = std::fs::remove_file(host.root().join("current"));
                }
            }
            receipt.pending = None;
            host.write_receipt(lock, receipt)?;
            return Err(Error::new(format!(
                "could not turn {} into a link to kplug's version store",
                path.display()
            ))
            .caused_by(e)
            .with_hint(format!(
                "{} is unchanged and runs kplug {}",
                path.display(),
                crate::version()
            )));
        }
        migrated = Some(path.clone());
    }
    // Through the user's path (a stored copy run directly: through the link).
    let probe = match installed {
        Installed::Managed(p) if !p.starts_with(host.root()) => p.clone(),
        Installed::Plain(p) => p.clone(),
        Installed::Managed(_) => host.current_link_target(),
    };
    if let Err(e) = health(cfg, &probe) {
        receipt.pending = None;
        let live = match &back {
            Some(b) if b != version => match host.switch(lock, b) {
                Ok(_) => format!("kplug {b} is live again"),
                Err(undo) => {
                    host.write_receipt(lock, receipt)?;
                    return Err(e
                        .caused_by(format!(
                            "and switching back to {b} failed: {}",
                            undo.message()
                        ))
                        .with_hint(format!("run `kplug self use {b}`")));
                }
            },
            _ => {
                format!("there is no earlier version to go back to: kplug {version} stays current")
            }
        };
        host.write_receipt(lock, receipt)?;
        return Err(e.with_hint(live));
    }
    receipt.pending = None;
    if back.as_deref() != Some(version) {
        receipt.previous = back;
    }
    Ok(migrated)
}

/// Run `kplug self health` through `path` (the new version, now current).
fn health(cfg: &Config, path: &Path) -> Result<()> {
    let failed = |why: String| Error::new(format!("the new kplug failed its health probe: {why}"));
    let outcome = exec::run(Spawn {
        program: path.to_path_buf(),
        args: vec!["self".into(), "health".into()],
        env: minimal_env(cfg),
        cwd: None,
        stdin: None,
        timeout: HEALTH_TIMEOUT,
        stdout_limit: 64 * 1024,
        kill_on_stdout_overflow: false,
        stderr_tail: 4096,
        stderr_prefix: None,
    })
    .map_err(|e| failed(format!("it cannot be run: {e}")))?;
    match outcome.termination {
        Termination::Exited(0) => Ok(()),
        Termination::TimedOut => Err(failed(format!(
            "`kplug self health` did not finish within {}",
            crate::protocol::format_duration(HEALTH_TIMEOUT)
        ))),
        Termination::Exited(code) => Err(failed(format!(
            "`kplug self health` exited with status {code}"
        ))
        .caused_by(escape(outcome.stderr_summary(5).trim()).into_owned())),
        other => Err(failed(format!(
            "`kplug self health` ended abnormally ({other:?})"
        ))),
    }
}

/// `self use VERSION`: an installed version is switched to offline; a
/// missing one is downloaded first.
pub fn use_version(cfg: &Config, version: &str) -> Result<Updated> {
    let wanted = crate::requirements::parse_lenient(version)
        .ok_or_else(|| Error::usage(format!("`{}` is not a version", escape(version))))?
        .to_string();
    let host = HostStore::new(cfg)?;
    if !host.installed().contains(&wanted) {
        return update(
            cfg,
            &UpdateOptions {
                version: Some(wanted),
                force: true,
                pre: true,
                ..UpdateOptions::default()
            },
        );
    }
    switch_offline(cfg, &wanted)
}

/// `self rollback`: the version before the current one, offline.
pub fn rollback(cfg: &Config) -> Result<Updated> {
    let host = HostStore::new(cfg)?;
    let previous = host
        .receipt()?
        .previous
        .filter(|p| host.installed().contains(p))
        .ok_or_else(|| {
            Error::new("there is no previous version of kplug to go back to")
                .with_hint("see the installed versions with `kplug self list`")
        })?;
    switch_offline(cfg, &previous)
}

fn switch_offline(cfg: &Config, version: &str) -> Result<Updated> {
    locate(cfg)?;
    let store = Store::new(cfg)?;
    let lock = store.lock_for_self()?;
    let host = HostStore::new(cfg)?;
    recover(cfg, &lock, &host)?;
    let installed = locate(cfg)?;
    let mut receipt = host.receipt()?;
    let from = running_version(&host, &installed);
    if from == version && matches!(installed, Installed::Managed(_)) {
        // Already current; make sure the link on PATH is the store's.
        return Ok(Updated {
            from,
            to: None,
            dry_run: false,
            other_major: None,
            migrated: None,
            pruned: Vec::new(),
        });
    }
    let migrated = switch_to(cfg, &lock, &host, &installed, &mut receipt, version)?;
    host.write_receipt(&lock, &receipt)?;
    warn_newer_layout(cfg, &store, version);
    Ok(Updated {
        from,
        to: Some(version.to_string()),
        dry_run: false,
        other_major: None,
        migrated,
        pruned: Vec::new(),
    })
}

/// A kplug switched to under a newer layout can read the store, not change
/// it: say so once, at the switch.
fn warn_newer_layout(cfg: &Config, store: &Store, version: &str) {
    if let Ok(found) = store.layout()
        && found.version > crate::store::LAYOUT
    {
        crate::ui::warn(
            cfg,
            &format!(
                "the store has layout {}, written by kplug {}: kplug {version} can read it but not change it",
                found.version,
                escape(&found.writer)
            ),
        );
    }
}

/// One installed version, for `self list`.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub version: String,
    pub current: bool,
    pub previous: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<String>,
}

pub fn list(cfg: &Config) -> Result<Vec<Listed>> {
    let host = HostStore::new(cfg)?;
    let receipt = host.receipt()?;
    let current = host.current();
    let mut out: Vec<Listed> = host
        .installed()
        .into_iter()
        .map(|v| {
            let entry = receipt.versions.iter().find(|e| e.version == v);
            Listed {
                current: current.as_deref() == Some(v.as_str()),
                previous: receipt.previous.as_deref() == Some(v.as_str()),
                source: entry.map(|e| e.source.clone()),
                installed: entry.map(|e| e.installed.clone()),
                version: v,
            }
        })
        .collect();
    out.reverse();
    Ok(out)
}

/// `self health`: the store, the INFO cache and the config open, and one
/// trivial plugin runs. What failed, if anything.
pub fn self_health(cfg: &Config) -> Result<()> {
    cfg.file()
        .map_err(|e| e.context("the config file does not load"))?;
    let store = Store::new(cfg)?;
    store.layout()?;
    for name in store.plugins() {
        store.receipt(&name)?;
    }
    HostStore::new(cfg)?.receipt()?;
    let _ = crate::discovery::catalog(
        cfg,
        crate::discovery::CatalogOptions {
            refresh: false,
            receipts: false,
            inactive: false,
        },
    );
    // One trivial plugin, run the way every plugin is.
    let dir = tempfile::tempdir().context("could not make a temp directory")?;
    let exe = dir.path().join("kplug-health");
    std::fs::write(
        &exe,
        "#!/bin/sh\nprintf 'protocols: [1]\\nname: health\\nversion: 1.0.0\\n'\n",
    )
    .context("could not write the probe plugin")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))
        .context("could not write the probe plugin")?;
    let located = crate::discovery::Located {
        name: "health".into(),
        path: exe,
        dir: dir.path().to_path_buf(),
        origin: crate::discovery::Origin::Path,
        stat: None,
        scope: None,
    };
    crate::discovery::probe::smoke_test(cfg, &located)
        .map_err(|why| Error::new("a trivial plugin does not run").caused_by(why))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(home: &Path) -> Config {
        Config::from_vars(vec![("KPLUG_HOME".into(), home.into())])
    }

    #[test]
    fn the_notice_comes_from_a_fresh_check_of_this_version_only() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg(dir.path());
        assert_eq!(notice(&cfg), None, "no check yet");
        let write = |ms: i64, current: &str, latest: &str| {
            std::fs::create_dir_all(dir.path().join("cache")).unwrap();
            let c = CheckCache {
                checked_ms: ms,
                current: current.into(),
                latest: latest.into(),
            };
            std::fs::write(
                dir.path().join("cache/self-check.json"),
                serde_json::to_vec(&c).unwrap(),
            )
            .unwrap();
        };
        let now = crate::clock::now_unix_ms();
        write(now - 1000, crate::version(), "99.0.0");
        assert_eq!(
            notice(&cfg).as_deref(),
            Some("kplug 99.0.0 is available (`kplug self update`)")
        );
        write(now - 25 * 3600 * 1000, crate::version(), "99.0.0");
        assert_eq!(notice(&cfg), None, "older than a day");
        write(now - 1000, "0.0.1", "99.0.0");
        assert_eq!(notice(&cfg), None, "checked by another version");
        write(now - 1000, crate::version(), crate::version());
        assert_eq!(notice(&cfg), None, "up to date");
    }

    #[test]
    fn what_kplug_will_not_replace() {
        let why = |p: &str| refusal(Path::new(p)).map(|(w, _)| w);
        assert!(why("/home/ada/.cargo/bin/kplug").unwrap().contains("cargo"));
        assert!(why("/usr/bin/kplug").unwrap().contains("package manager"));
        assert!(
            why("/usr/lib/kplug/kplug")
                .unwrap()
                .contains("package manager")
        );
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("kplug");
        std::fs::write(&exe, "").unwrap();
        assert_eq!(why(exe.to_str().unwrap()), None);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert!(
            why(exe.to_str().unwrap())
                .unwrap()
                .contains("cannot change")
        );
    }
}
