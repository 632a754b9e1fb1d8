//! Installing one plugin, step by step, under the store lock:
//!
//! resolve (the source's versions, chosen by [`select`]) → for each
//! candidate, newest first: its contract before any download when the
//! source publishes one (or remembers one learned earlier) → fetch and
//! verify → stage (unpack, find the executable, smoke-test INFO) → gate
//! (requirements, installing missing required plugins with `--with-deps`)
//! → commit (the version directory and the receipt) → activate (switch
//! `current`, probe INFO through it) → prune.
//!
//! Everything before commit happens in a staging directory; commit and
//! activate are one [`Transaction`], so a failure anywhere (a health probe
//! that fails after the switch included) leaves the previous version live
//! and nothing partial visible.

use super::contracts::Contracts;
use super::extract::{self, Limits};
use super::select::{self, Candidate, Policy, Skipped, Spec, Verdict};
use super::signing;
use super::source::{
    self, Artifact, Content, FetchContext, Published, Request, Source, Verification,
};
use super::{InstallOptions, Installed};
use crate::config::Config;
use crate::discovery::{Located, Origin, probe};
use crate::error::{Error, Result};
use crate::hooks::{self, FireOptions};
use crate::install::asset::Platform;
use crate::protocol::{EXECUTABLE_PREFIX, Info, names};
use crate::protocol::{Event, ExecContext};
use crate::requirements::{self, Env, Report};
use crate::store::{InstalledVersion, Receipt, Slot, Staging, Store, StoreLock, Transaction};
use crate::ui;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Most releases downloaded in one install while looking for one whose
/// contract holds (releases judged without a download do not count).
const MAX_TRIAL_DOWNLOADS: usize = 5;

/// An artifact unpacked and smoke-tested in staging.
pub(crate) struct Staged {
    pub artifact: Artifact,
    pub info: Info,
    pub name: String,
    /// Where it came from, for the receipt.
    pub source: From,
    /// The executable's directory: becomes the version directory.
    pub exe_dir: PathBuf,
    /// Required plugins installed for it (`--with-deps`).
    pub deps: Vec<Installed>,
}

/// A source as a receipt records it.
#[derive(Debug, Clone)]
pub(crate) struct From {
    pub address: String,
    /// The configured source, if it came through one.
    pub name: Option<String>,
}

impl From {
    fn of(src: &dyn Source) -> From {
        From {
            address: src.address(),
            name: src.source_name(),
        }
    }
}

/// What [`Installer::gate`] decided.
pub(crate) enum Gate {
    /// Go ahead; these required plugins were installed on the way.
    Pass(Vec<Installed>),
    /// This version's contract does not hold here.
    Refused(Report),
}

/// What [`activate`] did.
#[derive(Debug)]
pub(crate) struct Switched {
    /// The version that was live before.
    pub previous: Option<String>,
    /// Old versions removed afterwards.
    pub pruned: Vec<String>,
}

/// What one install shares with the others of the same command: learned
/// contracts, and the one-at-a-time rule for changing the store.
pub(crate) struct Shared {
    contracts: Mutex<Contracts>,
    /// Held while a transaction changes the store: preparations run in
    /// parallel, commits (and dependency installs) one at a time.
    commits: Mutex<()>,
}

impl Shared {
    pub fn load(cfg: &Config) -> Shared {
        Shared {
            contracts: Mutex::new(Contracts::load(cfg)),
            commits: Mutex::new(()),
        }
    }

    /// Save what was learned.
    pub fn finish(self, cfg: &Config) {
        self.contracts
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .save(cfg);
    }
}

/// An install prepared (resolved, fetched, verified, staged, judged) and
/// not yet committed.
pub(crate) enum Prepared {
    /// Nothing to do.
    Done(Box<Installed>),
    Ready {
        /// Holds the staged tree until it is committed.
        staging: Staging,
        staged: Box<Staged>,
        skipped: Vec<Skipped>,
        other_major: Option<String>,
    },
}

/// One install (and the installs of its missing dependencies) under the
/// store lock.
pub(crate) struct Installer<'a> {
    cfg: &'a Config,
    store: &'a Store,
    lock: &'a StoreLock,
    opts: &'a InstallOptions,
    /// Plugins whose dependencies are being installed, outermost first (to
    /// stop a cycle).
    chain: Vec<String>,
    shared: &'a Shared,
    /// This installer runs under `shared.commits` already (it installs a
    /// dependency): it must not take that lock again.
    holds_commit: bool,
}

impl<'a> Installer<'a> {
    pub fn new(
        cfg: &'a Config,
        store: &'a Store,
        lock: &'a StoreLock,
        opts: &'a InstallOptions,
        shared: &'a Shared,
    ) -> Installer<'a> {
        Installer {
            cfg,
            store,
            lock,
            opts,
            chain: Vec::new(),
            shared,
            holds_commit: false,
        }
    }

    fn contracts(&self) -> std::sync::MutexGuard<'_, Contracts> {
        self.shared
            .contracts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn skip_checks(&self) -> bool {
        requirements::skip_checks(self.cfg, self.opts.skip_checks)
    }

    /// The link this install switches: `current`, or a scope's.
    fn slot(&self) -> Slot {
        match &self.opts.scope {
            Some(s) => Slot::Scope(s.scope.clone()),
            None => Slot::Standalone,
        }
    }

    /// The version live in this install's slot.
    fn current(&self, name: &str) -> Option<String> {
        self.store.current_in(name, &self.slot())
    }

    /// Install what `req` names.
    #[cfg(test)]
    pub fn install(&self, req: Request) -> Result<Installed> {
        let prepared = self.prepare(req)?;
        self.commit(prepared)
    }

    /// Install several requests: prepared in parallel (at most `jobs` at
    /// once: resolving, downloading, unpacking and smoke-testing are
    /// independent), then committed one at a time in the order given. A
    /// failure of one leaves the others to go on.
    pub fn install_all(&self, reqs: Vec<Request>, jobs: usize) -> Vec<Result<Installed>> {
        let n = reqs.len();
        let queue = Mutex::new(reqs.into_iter().enumerate().collect::<Vec<_>>());
        let done: Mutex<Vec<Option<Result<Prepared>>>> = Mutex::new((0..n).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..jobs.clamp(1, n.max(1)) {
                scope.spawn(|| {
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                        let Some((i, req)) = next else { break };
                        let r = self.prepare(req);
                        done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                    }
                });
            }
        });
        done.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|p| {
                p.expect("every request prepared")
                    .and_then(|p| self.commit(p))
            })
            .collect()
    }

    /// Everything short of changing the store.
    pub fn prepare(&self, mut req: Request) -> Result<Prepared> {
        let src = req.source.as_mut();
        let staging = self.store.staging(self.lock)?;
        if let Some(cached) = self.cached(src, &req.spec)? {
            return match cached {
                Cached::Current(name, version) => Ok(Prepared::Done(Box::new(
                    Installed::unchanged(&name, &version),
                ))),
                Cached::Artifact(mut artifact) => {
                    self.recheck_cached(src, &mut artifact)?;
                    let name = src.plugin_name();
                    self.single(staging, *artifact, name.as_deref(), From::of(src))
                }
            };
        }
        if !src.has_versions() {
            let c = src.versions(&req.spec)?.remove(0);
            let artifact = self.fetch(src, &c, &staging)?;
            return self.single(staging, artifact, None, From::of(src));
        }
        self.choose(src, &req.spec, staging)
    }

    /// A single artifact: stage, judge.
    fn single(
        &self,
        staging: Staging,
        artifact: Artifact,
        expected: Option<&str>,
        source: From,
    ) -> Result<Prepared> {
        let mut staged = self.stage(&staging, artifact, expected, source)?;
        match self.gate(&staged.info, true)? {
            Gate::Refused(report) => Err(report.refusal("its requirements do not hold here")),
            Gate::Pass(deps) => {
                staged.deps = deps;
                Ok(Prepared::Ready {
                    staging,
                    staged: Box::new(staged),
                    skipped: Vec::new(),
                    other_major: None,
                })
            }
        }
    }

    /// The newest candidate whose contract holds: staged, or the reason
    /// none was.
    fn choose(&self, src: &mut dyn Source, spec: &Spec, staging: Staging) -> Result<Prepared> {
        let address = src.address();
        let name = src
            .plugin_name()
            .ok_or_else(|| Error::new(format!("{address} does not say which plugin it holds")))?;
        let receipt = self.store.receipt(&name)?;
        let current = self.current(&name);
        let current_version = current.as_deref().and_then(requirements::parse_lenient);
        let policy = if src.exact_versions() {
            Policy::channel(current_version)
        } else {
            Policy::new(
                spec,
                self.opts.pre,
                self.opts.major,
                self.opts.update,
                current_version,
            )
        };
        let label = src.label();
        // What a server that decides by it is told: the version installed
        // from this very source (one from elsewhere is not its to judge).
        let installed_here = current
            .as_deref()
            .filter(|c| receipt.version(c).is_some_and(|v| v.source == address));
        src.set_installed(installed_here, source::Intent::Install);
        let offered = src.versions(spec)?;
        let found = select::choose(&label, offered, spec, &policy)?;
        // Current: by version, or by the tag it came from (a tag and the
        // INFO version may differ, e.g. `v2.0` and 2.0.0).
        let current_tag = current
            .as_deref()
            .and_then(|c| receipt.version(c))
            .filter(|v| v.source == address)
            .and_then(|v| v.tag.clone());
        let force = self.opts.force;
        let is_current = |c: &Candidate| {
            !force
                && (c.version.as_ref().map(|v| v.to_string()) == current
                    || current_tag.as_deref() == Some(c.label.as_str()))
        };
        let explicit = spec.is_explicit();
        let mut downloads = 0;
        let walked = select::walk(&found, is_current, |c| {
            self.try_candidate(src, c, explicit, &staging, &mut downloads)
        })?;
        let other_major = found.other_major.as_ref().map(|v| v.to_string());
        if let Some((_, staged)) = walked.taken {
            return Ok(Prepared::Ready {
                staging,
                staged: Box::new(staged),
                skipped: walked.skipped,
                other_major,
            });
        }
        let already = |skipped: Vec<Skipped>| {
            let mut done = Installed::unchanged(&name, current.as_deref().unwrap_or_default());
            done.skipped = skipped;
            done.other_major = other_major.clone();
            Prepared::Done(Box::new(done))
        };
        if walked.reached_current.is_some() {
            return Ok(already(walked.skipped));
        }
        match &current {
            // Implicitly never older: what is live stays.
            Some(_) if policy.no_downgrade => Ok(already(walked.skipped)),
            _ if walked.skipped.is_empty() => {
                Err(select::no_candidates(&label, spec, &policy, &found))
            }
            _ => {
                let mut err = Error::new(format!(
                    "no release of {label}{} works here",
                    select::scope(spec, &policy)
                ));
                for s in &walked.skipped {
                    err = err.caused_by(format!("{}: {}", ui::escape(&s.tag), s.reason));
                }
                Err(err
                    .with_hint(format!(
                        "see `kplug plugin versions {name}`; `--skip-checks` installs one anyway, at your own risk"
                    ))
                    .with_hint("nothing was changed"))
            }
        }
    }

    /// Judge one candidate: its known contract first, then (within the
    /// download budget) its artifact.
    fn try_candidate(
        &self,
        src: &mut dyn Source,
        c: &Candidate,
        explicit: bool,
        staging: &Staging,
        downloads: &mut usize,
    ) -> Result<Verdict<Staged>> {
        staging.reset()?;
        let tag = ui::escape(&c.label).into_owned();
        // Dependencies installed on the way (`--with-deps`), before or after
        // the download.
        let mut deps = Vec::new();
        if !self.skip_checks() {
            let known =
                known_contract_with(src, c, |a, l, s| self.contracts().find(a, l, s).cloned())?;
            match known {
                Some(Known::Published(Ok(info))) | Some(Known::Learned(info)) => {
                    match self.gate(&info, false)? {
                        Gate::Refused(report) if explicit => {
                            return Err(report.refusal(&format!(
                                "its requirements do not hold here (from {}; nothing was downloaded)",
                                src.contract_origin()
                            )));
                        }
                        Gate::Refused(report) => return Ok(Verdict::Pass(report.summary())),
                        Gate::Pass(installed) => deps = installed,
                    }
                }
                Some(Known::Published(Err(problem))) => {
                    if explicit {
                        return Err(Error::new(format!(
                            "refusing {} {tag}: {} cannot be used",
                            src.label(),
                            src.contract_origin()
                        ))
                        .caused_by(problem));
                    }
                    return Ok(Verdict::Pass(format!(
                        "{} cannot be used: {problem}",
                        src.contract_origin()
                    )));
                }
                None => {}
            }
        }
        if *downloads == MAX_TRIAL_DOWNLOADS {
            return Ok(Verdict::Stop(format!(
                "not tried: gave up after downloading {MAX_TRIAL_DOWNLOADS} releases"
            )));
        }
        *downloads += 1;
        let artifact = self.fetch(src, c, staging)?;
        let name = src.plugin_name();
        let mut staged = self.stage(staging, artifact, name.as_deref(), From::of(src))?;
        if src.exact_versions()
            && let Some(v) = &c.version
            && *v != staged.info.version
        {
            let from = src
                .source_name()
                .map(|s| format!(" from source `{s}`"))
                .unwrap_or_default();
            return Err(Error::new(format!(
                "refusing {} {v}{from} ({}): the plugin in its package says it is version {}",
                staged.name,
                src.label(),
                staged.info.version
            ))
            .with_hint(
                "the server's package for this version holds another build; nothing was installed",
            ));
        }
        if let Some(sha) = staged.artifact.sha256() {
            self.contracts()
                .learn(sha, &src.address(), &c.label, &staged.info);
        }
        match self.gate(&staged.info, true)? {
            Gate::Refused(report) if explicit => {
                Err(report.refusal("its requirements do not hold here"))
            }
            Gate::Refused(report) => Ok(Verdict::Pass(report.summary())),
            Gate::Pass(more) => {
                deps.extend(more);
                staged.deps = deps;
                Ok(Verdict::Take(staged))
            }
        }
    }

    /// A known version of this source whose verified artifact is cached
    /// needs no network at all: an explicit tag always, anything with
    /// `--offline`. `None`: go to the network.
    fn cached(&self, src: &dyn Source, spec: &Spec) -> Result<Option<Cached>> {
        // The cache serves only offline installs and explicit tags; anything
        // else asks the network, so cached archives are not hashed for
        // nothing.
        // A source whose server decides the version is asked every time.
        if !self.opts.offline && (!spec.is_explicit() || src.exact_versions()) {
            return Ok(None);
        }
        let address = src.address();
        let Some(name) = src.plugin_name() else {
            if self.opts.offline && src.is_remote() {
                return Err(Error::usage(format!(
                    "`--offline` cannot download from {}",
                    ui::escape(&address)
                ))
                .with_hint("drop `--offline`; it installs versions kplug downloaded before from their repository"));
            }
            return Ok(None);
        };
        let receipt = self.store.receipt(&name)?;
        let current = self.current(&name);
        let version_of = |v: &InstalledVersion| semver::Version::parse(&v.version).ok();
        let wanted = |v: &InstalledVersion| {
            let in_major = self
                .opts
                .major
                .is_none_or(|m| version_of(v).is_some_and(|p| p.major == m));
            let pre_ok = self.opts.pre
                || spec.is_explicit()
                || version_of(v).is_some_and(|p| p.pre.is_empty());
            v.source == address && in_major && pre_ok && spec.admits(&v.version, v.tag.as_deref())
        };
        // Each candidate with the path of its verified artifact (hashed once).
        let mut local: Vec<(&InstalledVersion, PathBuf)> = receipt
            .versions
            .iter()
            .filter(|v| wanted(v))
            .filter_map(|v| Some((v, self.store.cached_blob(&v.sha256, &v.asset)?)))
            .collect();
        local.sort_by_key(|(v, _)| version_of(v));
        // Offline, "the newest" never means older than what is installed.
        let cur = current
            .as_deref()
            .and_then(|c| semver::Version::parse(c).ok());
        if self.opts.offline
            && !spec.is_explicit()
            && let (Some(cur), Some(best)) = (&cur, local.last().and_then(|(v, _)| version_of(v)))
            && best < *cur
        {
            return Ok(Some(Cached::Current(name, cur.to_string())));
        }
        if let Some((entry, path)) = local.pop() {
            if current.as_deref() == Some(entry.version.as_str()) && !self.opts.force {
                return Ok(Some(Cached::Current(name, entry.version.clone())));
            }
            return Ok(Some(Cached::Artifact(Box::new(Artifact {
                content: Content::File {
                    file: super::download::Fetched {
                        path,
                        sha256: entry.sha256.clone(),
                    },
                    kind: super::asset::archive_kind(&entry.asset)
                        .unwrap_or(super::ArchiveKind::Binary),
                },
                name: entry.asset.clone(),
                verified: entry.verified_by,
                tag: entry.tag.clone(),
                report: None,
                // What was accepted when it was installed: judged again
                // (`recheck_cached`) against today's keys and policy.
                signed: entry.signer.clone().map(|signer| signing::Accepted {
                    signer,
                    pin: None,
                    text: entry.signature.clone().unwrap_or_default(),
                    over: entry.signed_over.clone(),
                }),
            }))));
        }
        // A source that lists its versions from a local copy (an
        // inventory) goes on offline: its artifacts may be in the cache.
        if self.opts.offline && src.lists_offline() {
            return Ok(None);
        }
        if self.opts.offline {
            return Err(Error::new(format!(
                "nothing cached for {address} that matches; cannot install offline"
            ))
            .with_hint("run the install once without `--offline` to fill the download cache"));
        }
        Ok(None)
    }

    /// Fetch a candidate's artifact into staging, then apply `--sha256` and
    /// the checksum policy on top of what the source verified.
    fn fetch(&self, src: &mut dyn Source, c: &Candidate, staging: &Staging) -> Result<Artifact> {
        let platform = host_platform()?;
        let install = &self.cfg.file()?.install;
        let ctx = FetchContext {
            cfg: self.cfg,
            dir: staging.path(),
            platform: &platform,
            max_bytes: install.max_download_mib.saturating_mul(1024 * 1024),
        };
        // An artifact whose sha256 the source publishes and the cache holds
        // is never downloaded again, whichever source names it.
        let cached = src
            .planned(c, &platform)?
            .and_then(|p| Some((self.store.cached_blob(&p.sha256, &p.name)?, p)));
        let mut artifact = match cached {
            Some((path, p)) => Artifact {
                content: Content::File {
                    file: super::download::Fetched {
                        path,
                        sha256: p.sha256,
                    },
                    kind: p.kind,
                },
                name: p.name,
                verified: p.verified,
                tag: Some(c.label.clone()),
                report: None,
                signed: None,
            },
            None if self.opts.offline => {
                return Err(Error::new(format!(
                    "{} {} is not in kplug's download cache; cannot install it offline",
                    ui::escape(&src.address()),
                    ui::escape(&c.label)
                ))
                .with_hint("run the install once without `--offline` to fill the cache"));
            }
            None => src.fetch(c, &ctx)?,
        };
        if let (Some(expected), Content::File { file, .. }) = (&self.opts.sha256, &artifact.content)
        {
            super::verify::check_sha(file, expected, &artifact.name)?;
            if artifact.verified == Verification::None {
                artifact.verified = Verification::Sha256Flag;
            }
        }
        if artifact.verified == Verification::None {
            let what = format!(
                "{} {} publishes no checksum for {}",
                src.address(),
                ui::escape(&c.label),
                ui::escape(&artifact.name)
            );
            if self.opts.require_checksum || install.require_checksum {
                return Err(Error::new(format!(
                    "{what}; refusing it ({})",
                    if self.opts.require_checksum {
                        "--require-checksum"
                    } else {
                        "install.requireChecksum in the config file"
                    }
                ))
                .with_hint(
                    "ask the author to publish a checksums.txt, or install without --require-checksum",
                ));
            }
            ui::warn(
                self.cfg,
                &format!("{what}: its integrity rests on TLS alone"),
            );
        }
        self.check_signature(src, c, &mut artifact)?;
        Ok(artifact)
    }

    /// A cached artifact's signature, judged again as a download's would
    /// be: by today's pins, the source's keys and the policy (a key removed
    /// since, or an unsigned version of a plugin signed since, is refused).
    fn recheck_cached(&self, src: &dyn Source, artifact: &mut Artifact) -> Result<()> {
        let Some(name) = src.plugin_name() else {
            return Ok(());
        };
        let Content::File { file, .. } = &artifact.content else {
            return Ok(());
        };
        let published = artifact
            .signed
            .take()
            .filter(|a| !a.text.is_empty())
            .map(|a| signing::Published {
                signature: a.text,
                origin: format!("the signature recorded for {}", artifact.name),
                over: match a.over {
                    Some(t) => signing::Over::Text(t),
                    None => signing::Over::File(file.path.clone()),
                },
                vouched: src.trusted(),
                offered: None,
            });
        let version = artifact.tag.clone().unwrap_or_default();
        artifact.signed = self.judge(src, &name, &version, &artifact.name, published)?;
        Ok(())
    }

    /// Why this install refuses unsigned artifacts, if it does.
    fn signature_required(&self, src: &dyn Source) -> Result<Option<String>> {
        Ok(if self.opts.require_signature {
            Some("--require-signature".into())
        } else if self.cfg.file()?.install.require_signature {
            Some("install.requireSignature in the config file".into())
        } else if !src.trusted().is_empty() {
            Some(format!(
                "its source (which trusts keys: `trust:` of `{}`)",
                src.source_name().unwrap_or_default()
            ))
        } else {
            None
        })
    }

    /// The one judgement of an artifact's signature; `None`: unsigned (and
    /// allowed).
    fn judge(
        &self,
        src: &dyn Source,
        name: &str,
        version: &str,
        artifact: &str,
        published: Option<signing::Published>,
    ) -> Result<Option<signing::Accepted>> {
        let require = self.signature_required(src)?;
        let receipt = self.store.receipt(name)?;
        let what = format!("{name} {}", ui::escape(version));
        let reset = format!("forget its keys with `kplug plugin trust remove {name} --all`");
        let ctx = signing::Context {
            plugin: name,
            what: &what,
            artifact,
            pins: &receipt.keys,
            ever_signed: receipt.signed,
            require: require.as_deref(),
            reset: &reset,
            max: self
                .cfg
                .file()?
                .install
                .max_download_mib
                .saturating_mul(1024 * 1024),
        };
        let accepted = signing::judge(&ctx, published.as_ref())?;
        if accepted.is_none() && src.is_remote() {
            ui::warn(
                self.cfg,
                &format!(
                    "{what} is not signed: nothing says who made it (`--require-signature` refuses such)"
                ),
            );
        }
        Ok(accepted)
    }

    /// Judge who made the artifact (see [`signing`]): a signature the
    /// source publishes must verify by a key trusted for this plugin; an
    /// unsigned one warns, or is refused by policy or for a plugin signed
    /// before.
    fn check_signature(
        &self,
        src: &mut dyn Source,
        c: &Candidate,
        artifact: &mut Artifact,
    ) -> Result<()> {
        let Some(name) = src.plugin_name() else {
            if let Some(why) = self.signature_required(src)? {
                return Err(Error::new(format!(
                    "refusing {}: a file or URL carries no signature kplug can check, and {why} requires one",
                    ui::escape(&src.address())
                ))
                .with_hint("install it from a source that publishes signatures; nothing was installed"));
            }
            return Ok(());
        };
        let published = src.signature(c, artifact)?;
        artifact.signed = self.judge(src, &name, &c.shown(), &artifact.name, published)?;
        Ok(())
    }

    /// Unpack an artifact in staging, find the plugin executable and
    /// smoke-test it with INFO.
    fn stage(
        &self,
        staging: &Staging,
        artifact: Artifact,
        expected: Option<&str>,
        source: From,
    ) -> Result<Staged> {
        let root = staging.path().join("root");
        match &artifact.content {
            Content::Tree(tree) => std::fs::rename(tree, &root)
                .map_err(|e| Error::new("could not stage the directory").caused_by(e))?,
            Content::File { file, kind } => {
                std::fs::create_dir_all(&root).map_err(|e| {
                    Error::new("could not create the staging directory").caused_by(e)
                })?;
                extract::extract(
                    &file.path,
                    *kind,
                    &artifact.name,
                    &root,
                    Limits::of(self.cfg)?,
                )?;
            }
        }
        let exe = extract::find_plugin(&root, expected)?;
        // The executable's directory becomes the version directory.
        let exe_dir = exe.parent().expect("found under root").to_path_buf();
        let probe_name = expected.map(str::to_string).unwrap_or_else(|| {
            let file = exe.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            file.strip_prefix(EXECUTABLE_PREFIX)
                .unwrap_or(file)
                .to_string()
        });
        let shown = ui::escape(&artifact.name).into_owned();
        let located = Located {
            name: probe_name,
            path: exe.clone(),
            dir: exe_dir.clone(),
            origin: Origin::Store,
            stat: None,
            scope: None,
        };
        let (info, _protocol) = probe::smoke_test(self.cfg, &located).map_err(|reason| {
            Error::new(format!("refusing {shown}: the plugin does not work here"))
                .caused_by(reason)
                .with_hint("nothing was installed; a plugin must answer `KPLUG_COMMAND=INFO` (see docs/protocol.md)")
        })?;
        let name = check_name(&info, expected, &shown)?;
        // Installed under its canonical name, whatever the archive called it.
        let canonical = exe_dir.join(format!("{EXECUTABLE_PREFIX}{name}"));
        if exe != canonical {
            std::fs::rename(&exe, &canonical)
                .map_err(|e| Error::new("could not rename the plugin executable").caused_by(e))?;
        }
        Ok(Staged {
            artifact,
            info,
            name,
            source,
            exe_dir,
            deps: Vec::new(),
        })
    }

    /// Judge a plugin's contract before installing it, installing missing
    /// required plugins first with `--with-deps`. An error: a required
    /// plugin is missing and cannot (or may not) be installed. `last` is
    /// the final check (from the real INFO): the one that warns when checks
    /// are skipped.
    pub fn gate(&self, info: &Info, last: bool) -> Result<Gate> {
        let report = requirements::check_info(info, &Env::now(self.cfg, &info.name, None));
        if self.skip_checks() {
            if last {
                requirements::warn_skipped(self.cfg, &report);
            }
            return Ok(Gate::Pass(Vec::new()));
        }
        if !report.compatible() {
            return Ok(Gate::Refused(report));
        }
        let missing: Vec<requirements::Item> = report.missing().cloned().collect();
        if missing.is_empty() {
            return Ok(Gate::Pass(Vec::new()));
        }
        if !self.opts.with_deps {
            return Err(report
                .refusal("required plugins are missing")
                .with_hint("nothing was changed"));
        }
        // Before the download the contract is only judged: the missing
        // plugins are installed at the final gate, once the artifact has
        // passed every check (its signature included), so a refused
        // artifact leaves nothing installed.
        if !last {
            return Ok(Gate::Pass(Vec::new()));
        }
        let mut deps = Vec::new();
        for item in missing {
            deps.push(self.install_dependency(info, &report, &item)?);
        }
        let report = requirements::check_info(info, &Env::now(self.cfg, &info.name, None));
        if !report.ok() {
            return Err(report
                .refusal("its requirements still do not hold after installing its dependencies"));
        }
        Ok(Gate::Pass(deps))
    }

    fn install_dependency(
        &self,
        info: &Info,
        report: &Report,
        item: &requirements::Item,
    ) -> Result<Installed> {
        let Some(src) = &item.source else {
            return Err(report.refusal(&format!(
                "it requires the plugin {}, and does not say where that comes from",
                item.name
            )));
        };
        if self.chain.contains(&item.name) || item.name == info.name {
            return Err(Error::new(format!(
                "refusing {} {}: its required plugins form a cycle ({} > {})",
                info.name,
                info.version,
                self.chain.join(" > "),
                item.name
            )));
        }
        let mut req = source::parse(self.cfg, src, None)?;
        let range = semver::VersionReq::parse(&item.wanted).unwrap_or(semver::VersionReq::STAR);
        if req.source.has_versions() {
            req.spec = if range == semver::VersionReq::STAR {
                Spec::Latest
            } else {
                Spec::Req(range)
            };
        }
        eprintln!(
            "installing {} {} from {}, required by {} {}…",
            item.name,
            item.wanted,
            ui::escape(src),
            info.name,
            info.version
        );
        let dep_opts = InstallOptions {
            require_checksum: self.opts.require_checksum,
            require_signature: self.opts.require_signature,
            offline: self.opts.offline,
            hooks: self.opts.hooks,
            with_deps: true,
            ..InstallOptions::default()
        };
        let mut inner = Installer {
            cfg: self.cfg,
            store: self.store,
            lock: self.lock,
            opts: &dep_opts,
            chain: self.chain.clone(),
            shared: self.shared,
            holds_commit: true,
        };
        inner.chain.push(info.name.clone());
        // One at a time: parallel preparations may meet the same dependency.
        let result = {
            let _one = self.one_at_a_time();
            inner.prepare(req).and_then(|p| inner.commit_unlocked(p))
        };
        let dep = result.map_err(|e| {
            e.context(format!(
                "could not install {} (required by {} {})",
                item.name, info.name, info.version
            ))
        })?;
        if dep.name != item.name {
            return Err(Error::new(format!(
                "{} installed the plugin `{}`, but {} requires `{}`",
                ui::escape(src),
                dep.name,
                info.name,
                item.name
            )));
        }
        Ok(dep)
    }

    /// Commit a prepared install (one commit at a time).
    pub fn commit(&self, prepared: Prepared) -> Result<Installed> {
        let _one = self.one_at_a_time();
        self.commit_unlocked(prepared)
    }

    /// The commit lock, unless this installer runs under it already (a
    /// dependency's dependency).
    fn one_at_a_time(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        (!self.holds_commit).then(|| {
            self.shared
                .commits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        })
    }

    fn commit_unlocked(&self, prepared: Prepared) -> Result<Installed> {
        // An interrupt aborting another thread's download waits for this.
        let _changing = crate::exec::interrupt::changing();
        match prepared {
            Prepared::Done(done) => Ok(*done),
            Prepared::Ready {
                staging,
                staged,
                skipped,
                other_major,
            } => {
                // `staging` lives until the commit is done: the staged tree,
                // and the old tree of a forced reinstall, are in it.
                let mut done = self.commit_staged(*staged)?;
                drop(staging);
                done.skipped = skipped;
                done.other_major = other_major;
                Ok(done)
            }
        }
    }

    /// Move a staged, checked plugin into the store and switch to it, as one
    /// transaction; keep its artifact in the cache.
    fn commit_staged(&self, staged: Staged) -> Result<Installed> {
        let Staged {
            mut artifact,
            info,
            name,
            source: from,
            exe_dir,
            deps,
        } = staged;
        let address = from.address;
        let version = info.version.to_string();
        let previous = self.current(&name);
        let sha256 = match artifact.sha256() {
            Some(s) => s.to_string(),
            // A directory: the executable stands for it.
            None => crate::fsutil::sha256_file(&executable(&exe_dir, &name))
                .map_err(|e| Error::new("could not read the plugin").caused_by(e))?,
        };
        // A lock's pin holds for the version already in place too.
        if let Some(pinned) = self.opts.scope.as_ref().and_then(|s| s.pinned.get(&name))
            && *pinned != sha256
        {
            return Err(Error::new(format!(
                "{name} {version} from {} has sha256 {sha256}, but kplug.lock pins {pinned}",
                ui::escape(&address)
            ))
            .with_hint("the source serves other bytes than when the lock was written: nothing was installed")
            .with_hint(format!(
                "if that change is expected, remove {name} from kplug.lock and run `kplug plugin sync` to lock what is served now"
            )));
        }
        if previous.as_deref() == Some(version.as_str()) && !self.opts.force {
            self.record_scope(&name, &version)?;
            if let Some(r) = artifact.report.take() {
                r.installed();
            }
            let mut done = Installed::unchanged(&name, &version);
            done.deps = deps;
            return Ok(done);
        }
        let receipt = self.store.receipt(&name)?;
        check_unchanged_release(
            self.cfg,
            &receipt,
            &name,
            &version,
            &address,
            &sha256,
            self.opts.force,
        )?;
        let entry = InstalledVersion {
            version: version.clone(),
            source: address,
            source_name: from.name,
            tag: artifact.tag.clone(),
            asset: artifact.name.clone(),
            sha256: sha256.clone(),
            verified_by: artifact.verified,
            installed: crate::store::now(),
            signer: artifact.signed.as_ref().map(|s| s.signer.clone()),
            signature: artifact
                .signed
                .as_ref()
                .map(|s| s.text.clone())
                .filter(|t| !t.is_empty()),
            signed_over: artifact.signed.as_ref().and_then(|s| s.over.clone()),
            // An archive's executable is hashed here; a directory's was above.
            executable_sha256: match artifact.content {
                Content::Tree(_) => Some(sha256.clone()),
                Content::File { .. } => {
                    crate::fsutil::sha256_file(&executable(&exe_dir, &name)).ok()
                }
            },
        };
        let pin = artifact.signed.as_ref().and_then(|s| s.pin.clone());
        let mut tx = self.store.transaction(self.lock);
        // A version another slot already has (same source and bytes, as
        // checked above) is shared, not replaced under it.
        let shared_version = !self.opts.force
            && receipt.version(&version).is_some()
            && self.store.version_dir(&name, &version).is_dir();
        if !shared_version {
            tx.add_version(&exe_dir, &name, &version)?;
        }
        let want = self.want(&name, &version);
        tx.update_receipt(&name, |r| {
            r.versions.retain(|v| v.version != version);
            r.versions.push(entry.clone());
            if let Some(p) = &pin {
                r.keys.retain(|k| k.key_id != p.key_id);
                r.keys.push(p.clone());
            }
            r.signed |= entry.signer.is_some();
            if let Some((label, want)) = want {
                r.scopes.insert(label, want);
            }
        })?;
        let switched = activate_in(
            self.cfg,
            self.store,
            self.lock,
            tx,
            &name,
            &version,
            &self.slot(),
        )?;
        // Live and probed: a source that reports to its server says so.
        if let Some(r) = artifact.report.take() {
            r.installed();
        }
        // Said once it is pinned, not when it was only judged.
        if let Some(p) = pin.as_ref().filter(|p| p.trusted == signing::How::FirstUse) {
            eprintln!(
                "trusting {name}'s signing key {} on first use: later versions must be signed by it",
                p.key_id
            );
        }
        // A verified artifact of a release or an inventory is kept in the
        // cache (a download in staging moved there, a local one copied).
        if let Content::File { file, .. } = &artifact.content
            && artifact.tag.is_some()
            && let Err(e) = self.store.keep_blob(self.lock, &file.path, &sha256)
        {
            ui::warn(
                self.cfg,
                &format!("could not keep the download for offline reinstalls: {e}"),
            );
        }
        Ok(Installed {
            name,
            version,
            previous,
            unchanged: false,
            entry: Some(entry),
            hook_error: None,
            skipped: Vec::new(),
            other_major: None,
            deps,
            pruned: switched.pruned,
        })
    }
}

impl Installer<'_> {
    /// The receipt's record of this install's scope, if it is scoped.
    fn want(&self, name: &str, version: &str) -> Option<(String, crate::store::ScopeWant)> {
        self.opts.scope.as_ref().map(|s| {
            let asked = s.wants.get(name);
            (
                s.scope.label(),
                crate::store::ScopeWant {
                    version: version.to_string(),
                    request: asked.map(|w| w.request.clone()).unwrap_or_default(),
                    source: asked.map(|w| w.source.clone()).unwrap_or_default(),
                },
            )
        })
    }

    /// Record what a scope asked for when its version did not change (the
    /// request may have: `v1` became `^1.2`).
    fn record_scope(&self, name: &str, version: &str) -> Result<()> {
        let Some((label, want)) = self.want(name, version) else {
            return Ok(());
        };
        let mut receipt = self.store.receipt(name)?;
        if receipt.scopes.get(&label) != Some(&want) {
            receipt.scopes.insert(label, want);
            self.store.write_receipt(self.lock, name, &receipt)?;
        }
        Ok(())
    }
}

/// Install `req` under the store lock, then fire `post-plugin-install`
/// (without the lock: a hook may well call kplug).
pub(crate) fn run(cfg: &Config, req: Request, opts: &InstallOptions) -> Result<Installed> {
    run_all(cfg, vec![req], opts, 1)?
        .pop()
        .expect("one result per request")
}

/// Install `reqs` under the store lock (prepared `jobs` at a time, see
/// [`Installer::install_all`]), then fire `post-plugin-install` for each.
/// The error for the whole: the store could not be opened or locked.
pub(crate) fn run_all(
    cfg: &Config,
    reqs: Vec<Request>,
    opts: &InstallOptions,
    jobs: usize,
) -> Result<Vec<Result<Installed>>> {
    let results = {
        let store = Store::new(cfg)?;
        let lock = store.lock()?;
        let shared = Shared::load(cfg);
        let installer = Installer::new(cfg, &store, &lock, opts, &shared);
        let results = installer.install_all(reqs, jobs);
        shared.finish(cfg);
        results
    };
    // Hooks run without the store lock: a hook may well call kplug.
    Ok(results
        .into_iter()
        .map(|r| r.map(|i| fire_post_install(cfg, i, opts)))
        .collect())
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
    let ctx = ExecContext::for_plugin(
        Event::PostPluginInstall,
        crate::clock::invocation_id(),
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

/// A candidate's contract known without a download: published by the
/// source, or learned by an earlier download of the same artifact.
pub(crate) fn known_contract(
    src: &mut dyn Source,
    c: &Candidate,
    contracts: &Contracts,
) -> Result<Option<Known>> {
    known_contract_with(src, c, |a, l, s| contracts.find(a, l, s).cloned())
}

/// [`known_contract`], looking learned contracts up with `find` (address,
/// label, sha256), which is called only after the source was asked: the
/// parallel installer holds its lock for the lookup alone, never across a
/// request to the source.
pub(crate) fn known_contract_with(
    src: &mut dyn Source,
    c: &Candidate,
    find: impl FnOnce(&str, &str, Option<&str>) -> Option<Info>,
) -> Result<Option<Known>> {
    if let Some(p) = src.contract(c)? {
        return Ok(Some(Known::Published(p)));
    }
    let sha = planned_sha(src, c)?;
    Ok(find(&src.address(), &c.label, sha.as_deref()).map(Known::Learned))
}

fn planned_sha(src: &mut dyn Source, c: &Candidate) -> Result<Option<String>> {
    Ok(match Platform::host() {
        Some(platform) => src.planned(c, &platform)?.map(|p| p.sha256),
        None => None,
    })
}

/// A contract learned by an earlier download of `c`'s artifact.
pub(crate) fn known_contract_learned(
    src: &mut dyn Source,
    c: &Candidate,
    contracts: &Contracts,
) -> Result<Option<Info>> {
    let sha = planned_sha(src, c)?;
    Ok(contracts
        .find(&src.address(), &c.label, sha.as_deref())
        .cloned())
}

/// A candidate's contract known without a download.
pub(crate) enum Known {
    Published(Published),
    Learned(Info),
}

enum Cached {
    /// Nothing to do: this version is current.
    Current(String, String),
    Artifact(Box<Artifact>),
}

fn host_platform() -> Result<Platform> {
    Platform::host().ok_or_else(|| {
        Error::new("kplug cannot pick release assets for this operating system or architecture")
    })
}

/// A release must never change once published: the same version from the
/// same source with other bytes is refused (unless `--force`).
fn check_unchanged_release(
    cfg: &Config,
    receipt: &Receipt,
    name: &str,
    version: &str,
    source: &str,
    sha256: &str,
    force: bool,
) -> Result<()> {
    let Some(old) = receipt.version(version) else {
        return Ok(());
    };
    if old.source != source || old.sha256 == sha256 {
        return Ok(());
    }
    let what = format!(
        "{name} {version} from {source} is not the file installed before under that version"
    );
    let hashes = format!("recorded sha256 {}, this one {sha256}", old.sha256);
    if !force {
        return Err(Error::new(what).caused_by(hashes).with_hint(
            "a release should never change once published; reinstall with `--force` only if you trust the change",
        ));
    }
    ui::warn(
        cfg,
        &format!("{what} ({hashes}); installing it anyway (--force)"),
    );
    Ok(())
}

/// Switch `current` to an installed version within `tx`, then probe it
/// through the live link. A failed probe takes the whole transaction back
/// (the switch, and the version and receipt entry if `tx` added them), and
/// the error says both what failed and what is live now. On success the
/// old `current` becomes the rollback target, the transaction is
/// committed, and old versions are pruned (`install.keepVersions`).
pub(crate) fn activate(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    tx: Transaction<'_>,
    name: &str,
    version: &str,
) -> Result<Switched> {
    activate_in(cfg, store, lock, tx, name, version, &Slot::Standalone)
}

/// [`activate`] for any slot: a scope's link is switched and probed the
/// same way; only the standalone `current` has a rollback target.
pub(crate) fn activate_in(
    cfg: &Config,
    store: &Store,
    lock: &StoreLock,
    mut tx: Transaction<'_>,
    name: &str,
    version: &str,
    slot: &Slot,
) -> Result<Switched> {
    let previous = store.current_in(name, slot);
    tx.switch_in(name, slot, Some(version))?;
    if let Err(reason) = health_probe(cfg, store, name, version, slot) {
        let back = tx.rollback();
        let live = match (&back, store.current_in(name, slot)) {
            (Err(_), _) => String::new(),
            (Ok(()), Some(p)) => format!("switched back: {name} {p} is live again"),
            (Ok(()), None) => format!("{name} was not installed before, and is not now"),
        };
        return Err(match back {
            Ok(()) => Error::new(format!(
                "{name} {version} failed its health check after the switch; {live}"
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
            .with_hint(format!("switch by hand with `kplug plugin use {name} VERSION`")),
        });
    }
    if previous.as_deref() != Some(version) && *slot == Slot::Standalone {
        tx.update_receipt(name, |r| r.previous = previous.clone())?;
    }
    tx.commit();
    let keep = cfg.file()?.install.keep_versions;
    let pruned = store.prune(lock, name, keep).unwrap_or_else(|e| {
        ui::warn(cfg, &format!("could not prune old versions of {name}: {e}"));
        Vec::new()
    });
    Ok(Switched { previous, pruned })
}

/// INFO through `plugins/<name>/current/kplug-<name>`: the file a dispatch
/// or a hook runs now. It must answer, and report this name and version.
fn health_probe(
    cfg: &Config,
    store: &Store,
    name: &str,
    version: &str,
    slot: &Slot,
) -> Result<(), String> {
    let link = match slot {
        Slot::Standalone => store.plugin_dir(name).join("current"),
        Slot::Scope(s) => store.plugin_dir(name).join("scopes").join(s.key()),
    };
    let located = Located {
        name: name.to_string(),
        path: link.join(format!("{EXECUTABLE_PREFIX}{name}")),
        dir: store.version_dir(name, version),
        origin: Origin::Store,
        stat: None,
        scope: None,
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

/// The name a plugin will be installed under: what its INFO says, which
/// must match what the source implies.
fn check_name(info: &Info, expected: Option<&str>, shown: &str) -> Result<String> {
    if let Some(expected) = expected
        && info.name != expected
    {
        return Err(Error::new(format!(
            "refusing {shown}: its INFO reports the name `{}`, but the source is for `{expected}`",
            info.name
        ))
        .with_hint("the repository `kplug-<name>` (or `<name>`) must ship the plugin `<name>`"));
    }
    names::validate(&info.name)
        .map_err(|e| Error::new(format!("refusing {shown}: plugin name `{}` {e}", info.name)))?;
    Ok(info.name.clone())
}

/// The path of a plugin's executable in a version directory.
pub(crate) fn executable(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{EXECUTABLE_PREFIX}{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::source::Candidate;
    use std::sync::{Arc, Mutex as TestMutex};

    /// One version a fake source offers: its contract (if published), and
    /// the INFO its artifact answers with (its `requires`), and the shell
    /// line it runs before answering INFO.
    struct Offer {
        version: &'static str,
        published: Option<&'static str>,
        requires: &'static str,
        before_info: &'static str,
    }

    fn offer(version: &'static str, requires: &'static str) -> Offer {
        Offer {
            version,
            published: None,
            requires,
            before_info: "",
        }
    }

    /// A source kept in memory; what it fetched is recorded.
    struct Fake {
        offers: Vec<Offer>,
        verified: Verification,
        fetched: Arc<TestMutex<Vec<String>>>,
    }

    fn script(o: &Offer) -> String {
        format!(
            "#!/bin/sh\n{}\nif [ \"$KPLUG_COMMAND\" = INFO ]; then\ncat <<'EOF'\nprotocols: [1]\nname: demo\nversion: {}\n{}\nEOF\nexit 0\nfi\n",
            o.before_info, o.version, o.requires
        )
    }

    impl Source for Fake {
        fn address(&self) -> String {
            "test/kplug-demo".into()
        }
        fn plugin_name(&self) -> Option<String> {
            Some("demo".into())
        }
        fn versions(&mut self, spec: &Spec) -> Result<Vec<Candidate>> {
            Ok(self
                .offers
                .iter()
                .enumerate()
                .filter(|(_, o)| !matches!(spec, Spec::Tag(t) if t.trim_start_matches('v') != o.version))
                .map(|(i, o)| Candidate {
                    version: semver::Version::parse(o.version).ok(),
                    label: format!("v{}", o.version),
                    prerelease: false,
                    key: i,
                })
                .collect())
        }
        fn contract(&mut self, c: &Candidate) -> Result<Option<Published>> {
            Ok(self.offers[c.key].published.map(|requires| {
                let doc = format!(
                    "protocols: [1]\nname: demo\nversion: {}\n{requires}",
                    self.offers[c.key].version
                );
                Info::parse(doc.as_bytes()).map_err(|e| e.to_string())
            }))
        }
        fn fetch(&mut self, c: &Candidate, ctx: &FetchContext<'_>) -> Result<Artifact> {
            let o = &self.offers[c.key];
            self.fetched.lock().unwrap().push(o.version.to_string());
            let path = ctx.dir.join("artifact");
            std::fs::write(&path, script(o)).unwrap();
            Ok(Artifact {
                content: Content::File {
                    file: crate::install::download::Fetched {
                        sha256: crate::fsutil::sha256_file(&path).unwrap(),
                        path,
                    },
                    kind: crate::install::ArchiveKind::Binary,
                },
                name: "kplug-demo".into(),
                verified: self.verified,
                tag: Some(c.label.clone()),
                report: None,
                signed: None,
            })
        }
    }

    struct Env {
        _home: tempfile::TempDir,
        cfg: Config,
        fetched: Arc<TestMutex<Vec<String>>>,
    }

    fn env() -> Env {
        let home = tempfile::tempdir().unwrap();
        let cfg = Config::from_vars(vec![
            ("KPLUG_HOME".into(), home.path().join("kplug").into()),
            ("HOME".into(), home.path().into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
        ]);
        Env {
            _home: home,
            cfg,
            fetched: Arc::default(),
        }
    }

    impl Env {
        fn install(
            &self,
            offers: Vec<Offer>,
            spec: Spec,
            opts: InstallOptions,
        ) -> Result<Installed> {
            self.install_verified(offers, spec, opts, Verification::ChecksumsFile)
        }

        fn install_verified(
            &self,
            offers: Vec<Offer>,
            spec: Spec,
            opts: InstallOptions,
            verified: Verification,
        ) -> Result<Installed> {
            let store = Store::new(&self.cfg).unwrap();
            let lock = store.lock().unwrap();
            let shared = Shared::load(&self.cfg);
            let i = Installer::new(&self.cfg, &store, &lock, &opts, &shared);
            let req = Request {
                source: Box::new(Fake {
                    offers,
                    verified,
                    fetched: self.fetched.clone(),
                }),
                spec,
            };
            let r = i.install(req);
            shared.finish(&self.cfg);
            r
        }

        fn store(&self) -> Store {
            Store::new(&self.cfg).unwrap()
        }

        fn fetched(&self) -> Vec<String> {
            self.fetched.lock().unwrap().clone()
        }
    }

    const TOO_NEW: &str = "requires: {kplug: '>=99'}\n";

    #[test]
    fn the_newest_that_holds_is_installed_and_a_published_refusal_is_never_fetched() {
        let e = env();
        let offers = vec![
            offer("1.0.0", ""),
            offer("1.1.0", ""),
            Offer {
                published: Some(TOO_NEW),
                ..offer("1.3.0", TOO_NEW)
            },
            offer("1.2.0", TOO_NEW),
        ];
        let done = e
            .install(offers, Spec::Latest, InstallOptions::default())
            .unwrap();
        assert_eq!(done.version, "1.1.0");
        assert_eq!(e.fetched(), ["1.2.0", "1.1.0"], "1.3.0 was judged unseen");
        let skipped: Vec<&str> = done.skipped.iter().map(|s| s.tag.as_str()).collect();
        assert_eq!(skipped, ["v1.3.0", "v1.2.0"]);
        assert!(done.skipped[0].reason.contains("requires kplug >=99"));
        let store = e.store();
        assert_eq!(store.current("demo").as_deref(), Some("1.1.0"));
        assert_eq!(store.installed_versions("demo"), ["1.1.0"]);
        let entry = store.receipt("demo").unwrap();
        assert_eq!(entry.versions[0].verified_by, Verification::ChecksumsFile);
        assert_eq!(entry.versions[0].tag.as_deref(), Some("v1.1.0"));
    }

    #[test]
    fn a_contract_learned_by_downloading_is_not_downloaded_again() {
        let e = env();
        let offers = || vec![offer("1.0.0", ""), offer("1.2.0", TOO_NEW)];
        e.install(offers(), Spec::Latest, InstallOptions::default())
            .unwrap();
        assert_eq!(e.fetched(), ["1.2.0", "1.0.0"]);
        let again = e
            .install(
                offers(),
                Spec::Latest,
                InstallOptions {
                    update: true,
                    ..InstallOptions::default()
                },
            )
            .unwrap();
        assert!(again.unchanged);
        assert_eq!(
            e.fetched(),
            ["1.2.0", "1.0.0"],
            "nothing fetched the second time"
        );
        assert!(
            again.skipped[0].reason.contains(">=99"),
            "{:?}",
            again.skipped
        );
    }

    #[test]
    fn a_health_probe_that_fails_after_the_switch_takes_everything_back() {
        let e = env();
        e.install(
            vec![offer("1.0.0", "")],
            Spec::Latest,
            InstallOptions::default(),
        )
        .unwrap();
        let store = e.store();
        let receipt = std::fs::read(store.plugin_dir("demo").join("receipt.yaml")).unwrap();
        // Answers INFO in staging, not through the live `current` link.
        let broken = Offer {
            before_info: "case \"$0\" in */current/*) exit 3 ;; esac",
            ..offer("2.0.0", "")
        };
        let err = e
            .install(
                vec![offer("1.0.0", ""), broken],
                Spec::Latest,
                InstallOptions::default(),
            )
            .unwrap_err();
        assert!(
            err.message().contains(
                "failed its health check after the switch; switched back: demo 1.0.0 is live again"
            ),
            "{err}"
        );
        assert_eq!(store.current("demo").as_deref(), Some("1.0.0"));
        assert_eq!(store.installed_versions("demo"), ["1.0.0"]);
        assert_eq!(
            std::fs::read(store.plugin_dir("demo").join("receipt.yaml")).unwrap(),
            receipt,
            "the receipt is as it was"
        );
    }

    #[test]
    fn downloads_stop_after_the_budget() {
        let e = env();
        let offers: Vec<Offer> = [
            "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0",
        ]
        .into_iter()
        .map(|v| offer(v, TOO_NEW))
        .collect();
        let err = e
            .install(offers, Spec::Latest, InstallOptions::default())
            .unwrap_err();
        assert_eq!(e.fetched().len(), MAX_TRIAL_DOWNLOADS);
        let text = err.to_string();
        assert!(
            text.contains("no release of test/kplug-demo works here"),
            "{text}"
        );
        assert!(
            text.contains("gave up after downloading 5 releases"),
            "{text}"
        );
        assert!(e.store().plugins().is_empty());
    }

    #[test]
    fn an_explicit_version_that_does_not_hold_is_an_error_not_a_skip() {
        let e = env();
        let offers = vec![
            offer("1.0.0", ""),
            Offer {
                published: Some(TOO_NEW),
                ..offer("2.0.0", TOO_NEW)
            },
        ];
        let err = e
            .install(
                offers,
                Spec::Tag("v2.0.0".into()),
                InstallOptions::default(),
            )
            .unwrap_err();
        assert!(err.message().contains("refusing demo 2.0.0"), "{err}");
        assert!(err.message().contains("nothing was downloaded"), "{err}");
        assert!(e.fetched().is_empty());
    }

    #[test]
    fn an_unverified_artifact_warns_or_is_refused_by_policy() {
        let e = env();
        let err = e
            .install_verified(
                vec![offer("1.0.0", "")],
                Spec::Latest,
                InstallOptions {
                    require_checksum: true,
                    ..InstallOptions::default()
                },
                Verification::None,
            )
            .unwrap_err();
        assert!(err.message().contains("publishes no checksum"), "{err}");
        assert!(e.store().plugins().is_empty());
        let done = e
            .install_verified(
                vec![offer("1.0.0", "")],
                Spec::Latest,
                InstallOptions::default(),
                Verification::None,
            )
            .unwrap();
        assert_eq!(done.entry.unwrap().verified_by, Verification::None);
        // `--sha256` on top makes it verified.
        let sha = {
            let o = offer("1.1.0", "");
            let text = script(&o);
            crate::fsutil::sha256_of(text.as_bytes()).unwrap()
        };
        let done = e
            .install_verified(
                vec![offer("1.1.0", "")],
                Spec::Latest,
                InstallOptions {
                    sha256: Some(sha),
                    ..InstallOptions::default()
                },
                Verification::None,
            )
            .unwrap();
        assert_eq!(done.entry.unwrap().verified_by, Verification::Sha256Flag);
        let err = e
            .install_verified(
                vec![offer("1.2.0", "")],
                Spec::Latest,
                InstallOptions {
                    sha256: Some("0".repeat(64)),
                    ..InstallOptions::default()
                },
                Verification::None,
            )
            .unwrap_err();
        assert!(err.message().contains("checksum mismatch"), "{err}");
        assert_eq!(e.store().current("demo").as_deref(), Some("1.1.0"));
    }

    #[test]
    fn a_forced_reinstall_of_the_current_version_replaces_it() {
        let e = env();
        e.install(
            vec![offer("1.0.0", "")],
            Spec::Latest,
            InstallOptions::default(),
        )
        .unwrap();
        let same = e
            .install(
                vec![offer("1.0.0", "")],
                Spec::Latest,
                InstallOptions::default(),
            )
            .unwrap();
        assert!(same.unchanged);
        assert_eq!(e.fetched(), ["1.0.0"], "current: nothing fetched");
        let forced = e
            .install(
                vec![offer("1.0.0", "")],
                Spec::Latest,
                InstallOptions {
                    force: true,
                    ..InstallOptions::default()
                },
            )
            .unwrap();
        assert!(!forced.unchanged);
        assert_eq!(e.fetched(), ["1.0.0", "1.0.0"]);
        assert_eq!(e.store().installed_versions("demo"), ["1.0.0"]);
    }
}
