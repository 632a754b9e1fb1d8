//! Cluster operations with their hooks around them.
//!
//! This module puts engines and hooks together: take the cluster's lock,
//! fire `pre-*` (which may stop everything before the engine is touched),
//! run the engine, record the result, fire `post-*`. A create that fails
//! after the engine made something runs the delete hooks and removes the
//! remains. It also keeps the small per-cluster record (engine, spec,
//! annotations from `mutate` hooks) in `$KPLUG_HOME/state/clusters/`.

use crate::cluster::{Cluster, ClusterSpec, Engine};
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, FireOptions, Hook, HookRun};
use crate::protocol::{ClusterContext, Event, ExecContext, Spec};
use crate::{clock, ui};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Fire hooks at all (`--no-hooks`, `KPLUG_NO_HOOKS`).
    pub hooks: bool,
    /// Most `post-*` hooks at once.
    pub jobs: usize,
    /// Run after the engine created the cluster and before
    /// `post-cluster-create` (the sync of what it recommends, so a
    /// recommended plugin's hooks fire on it).
    pub after_create: Option<fn(&Config, &str)>,
}

/// What an operation did.
#[derive(Debug)]
pub struct Outcome {
    /// The cluster after the operation (`None` after a delete).
    pub cluster: Option<Cluster>,
    /// The `post-*` runs, in plan order.
    pub post: Vec<HookRun>,
    /// Set when `post-*` hooks failed (exit 4): the operation stands.
    pub post_error: Option<Error>,
}

/// What kplug remembers of a cluster it operated on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub engine: String,
    pub spec: ClusterSpec,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub created: String,
}

fn record_path(cfg: &Config, name: &str) -> Result<PathBuf> {
    crate::cluster::sim::validate_cluster_name(name)?;
    Ok(cfg
        .state_dir()?
        .join("clusters")
        .join(format!("{name}.json")))
}

/// The names of the clusters kplug created (and has not deleted), sorted.
pub fn recorded_clusters(cfg: &Config) -> Vec<String> {
    let Ok(dir) = cfg.state_dir().map(|d| d.join("clusters")) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_string)
        })
        .filter(|n| crate::cluster::sim::validate_cluster_name(n).is_ok())
        .collect();
    names.sort();
    names
}

/// The record of `name`, if kplug created it.
pub fn record(cfg: &Config, name: &str) -> Option<Record> {
    let bytes = crate::fsutil::read_bounded(&record_path(cfg, name).ok()?, 1024 * 1024).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_record(cfg: &Config, name: &str, record: &Record) -> Result<()> {
    let path = record_path(cfg, name)?;
    let json = serde_json::to_vec_pretty(record).expect("a record serialises");
    crate::fsutil::write_atomic(&path, &json)
        .with_context(|| format!("could not write {}", path.display()))
}

fn remove_record(cfg: &Config, name: &str) {
    if let Ok(path) = record_path(cfg, name) {
        let _ = std::fs::remove_file(path);
    }
}

/// Every engine that can be used here (k3d and kind only when installed),
/// or just `flag`'s.
pub fn available_engines(cfg: &Config, flag: Option<&str>) -> Result<Vec<Box<dyn Engine>>> {
    if let Some(f) = flag {
        return Ok(vec![crate::cluster::engine(cfg, f)?]);
    }
    Ok(crate::cluster::ENGINES
        .iter()
        .filter(|e| **e == "sim" || crate::cluster::find_binary(cfg, e).is_some())
        .filter_map(|e| crate::cluster::engine(cfg, e).ok())
        .collect())
}

fn no_cluster(name: &str) -> Error {
    Error::new(format!("no cluster `{name}`"))
        .with_hint("see the clusters with `kplug cluster list`, or name the engine with `--engine`")
}

/// The engine of an existing cluster: `flag` (`--engine`), else the one
/// kplug recorded when it created the cluster, else whichever available
/// engine knows a cluster of that name (clusters kplug did not create).
pub fn engine_for(cfg: &Config, name: &str, flag: Option<&str>) -> Result<Box<dyn Engine>> {
    Ok(find_cluster(cfg, name, flag)?.0)
}

/// A cluster by name, as its engine reports it now, with that engine (see
/// [`engine_for`] for how the engine is found). The one lookup behind
/// every command that names an existing cluster.
pub fn find_cluster(
    cfg: &Config,
    name: &str,
    flag: Option<&str>,
) -> Result<(Box<dyn Engine>, Cluster)> {
    crate::cluster::sim::validate_cluster_name(name)?;
    let known = match (flag, record(cfg, name)) {
        (Some(f), _) => Some(crate::cluster::engine(cfg, f)?),
        (None, Some(r)) => Some(crate::cluster::engine(cfg, &r.engine)?),
        (None, None) => None,
    };
    if let Some(engine) = known {
        return match engine.get(name)? {
            Some(c) => Ok((engine, c)),
            None => Err(
                Error::new(format!("no cluster `{name}` ({})", engine.name()))
                    .with_hint("see the clusters with `kplug cluster list`"),
            ),
        };
    }
    for engine in available_engines(cfg, None)? {
        if let Some(c) = engine.get(name).ok().flatten() {
            return Ok((engine, c));
        }
    }
    Err(no_cluster(name))
}

/// An interrupt that came while the `pre-*` hooks ran (between two of them,
/// or after the last) stops the operation before the engine is touched.
fn not_interrupted() -> Result<()> {
    if crate::exec::interrupt::interrupted() {
        return Err(Error::new("interrupted; nothing was changed")
            .with_code(crate::exec::interrupt::EXIT_INTERRUPTED));
    }
    Ok(())
}

/// One event at a time per cluster: an exclusive `flock` held for the
/// whole operation, released when the returned file is dropped (or the
/// process dies, so a crash never leaves a stale lock).
pub fn lock(cfg: &Config, name: &str) -> Result<File> {
    // The name becomes a file name below; refuse `../x` before any path is
    // built from it.
    crate::cluster::sim::validate_cluster_name(name)?;
    // Cluster state is a newer kplug's to change, if it is there.
    crate::store::check_layout(cfg)?;
    let dir = cfg.state_dir()?.join("locks");
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    let file = File::create(&path).with_context(|| format!("could not open {}", path.display()))?;
    // SAFETY: flock on an open descriptor has no memory-safety conditions.
    let busy = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0;
    if busy {
        ui::warn(
            cfg,
            &format!("another kplug is working on cluster `{name}`; waiting for it to finish"),
        );
        // Ctrl-C here stops the whole operation: nothing has happened yet.
        let _wait = crate::exec::interrupt::abortable(
            "waiting for another kplug to finish with the cluster",
        );
        // SAFETY: as above.
        while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::new(format!("could not lock cluster `{name}`")).caused_by(e));
            }
        }
    }
    Ok(file)
}

fn context(
    event: Event,
    cluster: ClusterContext,
    spec: Option<Spec>,
    invocation_id: &str,
) -> ExecContext {
    ExecContext {
        cluster: Some(cluster),
        spec,
        ..ExecContext::new(event, invocation_id)
    }
}

/// The context of a cluster that does not exist (before a create, after a
/// delete): only its name and engine are known.
fn absent_cluster(engine: &dyn Engine, name: &str) -> ClusterContext {
    ClusterContext {
        name: name.into(),
        engine: engine.name().into(),
        network: String::new(),
        kubeconfig: String::new(),
        kubernetes_version: None,
        nodes: Vec::new(),
        annotations: BTreeMap::new(),
        simulated: engine.name() == "sim",
    }
}

fn spec_of(spec: &ClusterSpec) -> Spec {
    Spec {
        servers: spec.servers,
        agents: spec.agents,
        engine_args: spec.engine_args.clone(),
    }
}

fn plan(cfg: &Config, opts: Options, event: Event) -> Result<Vec<Hook>> {
    if !opts.hooks {
        return Ok(Vec::new());
    }
    hooks::plan(cfg, event, None)
}

/// The plan of an event about an existing cluster: plugins whose
/// `requires.kubernetes` excludes the cluster's version are left out (with
/// a warning).
fn plan_for(cfg: &Config, opts: Options, ctx: &ExecContext) -> Result<Vec<Hook>> {
    let hooks = plan(cfg, opts, ctx.event)?;
    Ok(match &ctx.cluster {
        Some(c) => hooks::kubernetes_gate(cfg, hooks, &c.name, c.kubernetes_version.as_deref()),
        None => hooks,
    })
}

fn fire_options(opts: Options, best_effort: bool) -> FireOptions {
    FireOptions {
        jobs: opts.jobs,
        best_effort,
    }
}

fn cluster_context(cfg: &Config, cluster: &Cluster) -> ClusterContext {
    let annotations = record(cfg, &cluster.name)
        .map(|r| r.annotations)
        .unwrap_or_default();
    cluster.context(annotations)
}

/// Create a cluster with its hooks.
pub fn create(
    cfg: &Config,
    engine: &dyn Engine,
    mut spec: ClusterSpec,
    opts: Options,
) -> Result<Outcome> {
    // Hooks fire for this cluster: its scoped plugins are the active ones.
    let cfg = &cfg.for_cluster(&spec.name);
    let _lock = lock(cfg, &spec.name)?;
    if engine.get(&spec.name)?.is_some() {
        return Err(Error::new(format!(
            "cluster `{}` already exists ({})",
            spec.name,
            engine.name()
        ))
        .with_hint(format!(
            "delete it first with `kplug cluster delete {}`",
            spec.name
        )));
    }
    let id = clock::invocation_id();
    let mut ctx = context(
        Event::PreClusterCreate,
        absent_cluster(engine, &spec.name),
        Some(spec_of(&spec)),
        &id,
    );
    let pre = plan(cfg, opts, Event::PreClusterCreate)?;
    hooks::fire_pre(cfg, &pre, &mut ctx, fire_options(opts, false))?;
    if let Some(s) = &ctx.spec {
        spec.engine_args = s.engine_args.clone();
    }
    let annotations = ctx
        .cluster
        .take()
        .map(|c| c.annotations)
        .unwrap_or_default();

    not_interrupted()?;
    if let Err(e) = engine.create(&spec) {
        return Err(rollback(cfg, engine, &spec.name, &annotations, opts, e));
    }
    let cluster = engine.get(&spec.name)?.ok_or_else(|| {
        Error::new(format!(
            "{} reported success, but cluster `{}` cannot be found",
            engine.name(),
            spec.name
        ))
    })?;
    write_record(
        cfg,
        &spec.name,
        &Record {
            engine: engine.name().into(),
            spec: spec.clone(),
            annotations: annotations.clone(),
            created: clock::rfc3339(clock::now_unix()),
        },
    )?;
    if let Some(after) = opts.after_create {
        after(cfg, &spec.name);
    }
    let ctx = context(
        Event::PostClusterCreate,
        cluster.context(annotations),
        Some(spec_of(&spec)),
        &id,
    );
    let post = plan_for(cfg, opts, &ctx)?;
    let runs = hooks::fire_post(cfg, &post, &ctx, fire_options(opts, false));
    let done = format!("cluster `{}` was created and is kept", spec.name);
    Ok(Outcome {
        post_error: hooks::fire::post_failures(Event::PostClusterCreate, &done, &runs),
        cluster: Some(cluster),
        post: runs,
    })
}

/// The engine failed during create. If it left something behind, run the
/// delete hooks (best effort) and remove it, so that nothing half-made
/// stays.
fn rollback(
    cfg: &Config,
    engine: &dyn Engine,
    name: &str,
    annotations: &BTreeMap<String, String>,
    opts: Options,
    cause: Error,
) -> Error {
    let mut err = cause.context(format!("could not create cluster `{name}`"));
    if crate::exec::interrupt::interrupted() {
        err = err.with_code(crate::exec::interrupt::EXIT_INTERRUPTED);
    }
    let partial = match engine.get(name) {
        Ok(Some(c)) => c,
        Ok(None) => return err.with_hint("nothing was created"),
        Err(e) => {
            return err.with_hint(format!(
                "kplug could not check for a half-made cluster ({e}); check `kplug cluster list`"
            ));
        }
    };
    ui::warn(
        cfg,
        &format!(
            "{} left a partial cluster `{name}`; rolling back",
            engine.name()
        ),
    );
    let id = clock::invocation_id();
    let mut ctx = context(
        Event::PreClusterDelete,
        partial.context(annotations.clone()),
        None,
        &id,
    );
    let best_effort = fire_options(opts, true);
    let mut failed: Vec<String> = Vec::new();
    if let Ok(pre) = plan_for(cfg, opts, &ctx) {
        // Best effort: failures were already warned about one by one.
        let _ = hooks::fire_pre(cfg, &pre, &mut ctx, best_effort);
    }
    let removed = engine.delete(name);
    ctx.event = Event::PostClusterDelete;
    ctx.previous.clear();
    if let Ok(post) = plan_for(cfg, opts, &ctx) {
        for run in hooks::fire_post(cfg, &post, &ctx, best_effort) {
            if !run.ok() {
                failed.push(format!("{}: {}", run.label(), run.message()));
            }
        }
    }
    for f in &failed {
        err = err.caused_by(format!("during the rollback, {f}"));
    }
    let hooks_note = if crate::exec::cancelled() {
        "interrupted, so its delete hooks did not all run"
    } else if failed.is_empty() {
        "its delete hooks ran"
    } else {
        "its delete hooks ran, some failed"
    };
    match removed {
        Ok(()) => err.with_hint(format!("the partial cluster was removed; {hooks_note}")),
        Err(e) => err.with_hint(format!(
            "the partial cluster could not be removed ({e}); remove it with `kplug cluster delete {name}`"
        )),
    }
}

fn not_found(engine: &dyn Engine, name: &str) -> Error {
    Error::new(format!("no cluster `{name}` ({})", engine.name()))
        .with_hint("see the clusters with `kplug cluster list`")
}

fn require(engine: &dyn Engine, name: &str) -> Result<Cluster> {
    engine.get(name)?.ok_or_else(|| not_found(engine, name))
}

/// Delete a cluster: `pre-cluster-delete` (reverse order; a veto stops it),
/// the engine, `post-cluster-delete`.
pub fn delete(cfg: &Config, engine: &dyn Engine, name: &str, opts: Options) -> Result<Outcome> {
    let cfg = &cfg.for_cluster(name);
    let _lock = lock(cfg, name)?;
    let cluster = require(engine, name)?;
    let id = clock::invocation_id();
    let mut ctx = context(
        Event::PreClusterDelete,
        cluster_context(cfg, &cluster),
        None,
        &id,
    );
    let pre = plan_for(cfg, opts, &ctx)?;
    hooks::fire_pre(cfg, &pre, &mut ctx, fire_options(opts, false))?;
    not_interrupted()?;
    engine.delete(name)?;
    remove_record(cfg, name);
    ctx.event = Event::PostClusterDelete;
    ctx.previous.clear();
    let post = plan_for(cfg, opts, &ctx)?;
    let runs = hooks::fire_post(cfg, &post, &ctx, fire_options(opts, false));
    let done = format!("cluster `{name}` was deleted");
    Ok(Outcome {
        post_error: hooks::fire::post_failures(Event::PostClusterDelete, &done, &runs),
        cluster: None,
        post: runs,
    })
}

/// Start or stop a cluster with the matching hooks.
pub fn start_stop(
    cfg: &Config,
    engine: &dyn Engine,
    name: &str,
    start: bool,
    opts: Options,
) -> Result<Outcome> {
    let cfg = &cfg.for_cluster(name);
    let verb = if start { "start" } else { "stop" };
    if !engine.supports_start_stop() {
        return Err(Error::new(format!(
            "the {} engine cannot {verb} a cluster",
            engine.name()
        ))
        .with_hint(format!(
            "delete and create it again, or use an engine that can {verb} clusters (k3d, sim)"
        )));
    }
    let _lock = lock(cfg, name)?;
    let cluster = require(engine, name)?;
    let (pre_event, post_event) = if start {
        (Event::PreClusterStart, Event::PostClusterStart)
    } else {
        (Event::PreClusterStop, Event::PostClusterStop)
    };
    let id = clock::invocation_id();
    let mut ctx = context(pre_event, cluster_context(cfg, &cluster), None, &id);
    let pre = plan_for(cfg, opts, &ctx)?;
    hooks::fire_pre(cfg, &pre, &mut ctx, fire_options(opts, false))?;
    not_interrupted()?;
    if start {
        engine.start(name)?;
    } else {
        engine.stop(name)?;
    }
    let cluster = require(engine, name)?;
    let ctx = context(post_event, cluster_context(cfg, &cluster), None, &id);
    let post = plan_for(cfg, opts, &ctx)?;
    let runs = hooks::fire_post(cfg, &post, &ctx, fire_options(opts, false));
    let done = format!(
        "cluster `{name}` was {}",
        if start { "started" } else { "stopped" }
    );
    Ok(Outcome {
        post_error: hooks::fire::post_failures(post_event, &done, &runs),
        cluster: Some(cluster),
        post: runs,
    })
}

/// Fire one cluster event by hand (`kplug hooks fire`), for tools outside
/// kplug that changed a cluster themselves.
pub fn fire(
    cfg: &Config,
    engine: &dyn Engine,
    event: Event,
    name: &str,
    opts: Options,
) -> Result<Outcome> {
    let _lock = lock(cfg, name)?;
    let cluster = engine.get(name)?;
    let ctx_cluster = match (&cluster, event) {
        (Some(c), _) => cluster_context(cfg, c),
        // Before a create (or after a delete) the cluster does not exist.
        (None, Event::PreClusterCreate | Event::PostClusterDelete) => absent_cluster(engine, name),
        (None, _) => return Err(not_found(engine, name)),
    };
    let spec = record(cfg, name).map(|r| spec_of(&r.spec));
    let mut ctx = context(event, ctx_cluster, spec, &clock::invocation_id());
    let hooks = plan_for(cfg, opts, &ctx)?;
    if event.is_pre() {
        hooks::fire_pre(cfg, &hooks, &mut ctx, fire_options(opts, false))?;
        Ok(Outcome {
            cluster,
            post: Vec::new(),
            post_error: None,
        })
    } else {
        let runs = hooks::fire_post(cfg, &hooks, &ctx, fire_options(opts, false));
        Ok(Outcome {
            post_error: hooks::fire::post_failures(event, "the event was fired", &runs),
            cluster,
            post: runs,
        })
    }
}
