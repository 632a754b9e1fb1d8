//! `kplug cluster …`.

use super::args::{ClusterCommand, HookFlags};
use crate::cluster::{self, Cluster, ClusterSpec};
use crate::config::Config;
use crate::error::{Context, Result};
use crate::exec::interrupt;
use crate::lifecycle::{self, Options, Outcome, available_engines, engine_for};
use crate::ui::{self, Format, Table};
use serde::Serialize;

pub fn run(cfg: &Config, command: ClusterCommand) -> Result<i32> {
    interrupt::install();
    match command {
        ClusterCommand::Create {
            name,
            servers,
            agents,
            hooks,
            recommend,
            no_sync,
            engine_args,
        } => {
            let engine = cluster::select(cfg, hooks.engine.as_deref())?;
            let recommend = recommend
                .iter()
                .map(|r| crate::sync::Want::parse_arg(r).map(|w| w.to_recommendation()))
                .collect::<Result<Vec<_>>>()?;
            if !recommend.is_empty() && engine.name() != "sim" {
                return Err(crate::error::Error::usage(
                    "`--recommend` is for simulated clusters (`--engine sim`)",
                )
                .with_hint(format!(
                    "on a real cluster, recommend plugins after it is created: `kplug cluster recommend NAME@VERSION --cluster {name}`"
                )));
            }
            let spec = ClusterSpec {
                name,
                servers,
                agents,
                engine_args,
                recommend,
            };
            let mut opts = options(cfg, &hooks)?;
            if super::sync::auto_enabled(cfg, no_sync) {
                opts.after_create = Some(super::sync::auto);
            }
            let outcome = lifecycle::create(cfg, &*engine, spec, opts)?;
            if let Some(c) = &outcome.cluster {
                eprintln!(
                    "created cluster `{}` ({}{}): {} server(s), {} agent(s); kubeconfig {}",
                    c.name,
                    c.engine,
                    if c.simulated {
                        ", simulated: no containers run"
                    } else {
                        ""
                    },
                    c.count("server"),
                    c.count("agent"),
                    c.kubeconfig
                );
            }
            finish(cfg, outcome)
        }
        ClusterCommand::Delete { name, hooks } => {
            let engine = engine_for(cfg, &name, hooks.engine.as_deref())?;
            let outcome = lifecycle::delete(cfg, &*engine, &name, options(cfg, &hooks)?)?;
            eprintln!("deleted cluster `{name}` ({})", engine.name());
            // Its plugins go with it (versions another scope or the keep
            // rules want stay).
            match crate::sync::forget_scope(cfg, &crate::scope::Scope::Cluster(name.clone())) {
                Ok(names) if !names.is_empty() => {
                    eprintln!(
                        "dropped the plugins cluster `{name}` recommended: {}",
                        names.join(", ")
                    )
                }
                Ok(_) => {}
                Err(e) => ui::warn(
                    cfg,
                    &format!("could not drop cluster `{name}`'s plugins: {e}"),
                ),
            }
            finish(cfg, outcome)
        }
        ClusterCommand::Start { name, hooks } => start_stop(cfg, &name, &hooks, true),
        ClusterCommand::Stop { name, hooks } => start_stop(cfg, &name, &hooks, false),
        ClusterCommand::List { engine, output } => list(cfg, engine.as_deref(), output),
        ClusterCommand::Use { name, no_sync } => use_cluster(cfg, &name, no_sync),
        ClusterCommand::Current { output } => current(cfg, output),
        ClusterCommand::Recommend {
            plugin,
            source,
            cluster,
            description,
            optional,
        } => recommend(cfg, &plugin, source, cluster, description, optional),
        ClusterCommand::Get {
            name,
            engine,
            output,
        } => get(cfg, &name, engine.as_deref(), output),
    }
}

/// Resolve the hook flags against the environment and config file.
pub(super) fn options(cfg: &Config, flags: &HookFlags) -> Result<Options> {
    let jobs = match flags.jobs {
        Some(n) => usize::from(n),
        None => match cfg.file()?.jobs {
            Some(n) => n.max(1),
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        },
    };
    Ok(Options {
        hooks: !flags.no_hooks && !cfg.no_hooks(),
        jobs,
        after_create: None,
    })
}

/// Exit 4 (with the report) when post hooks failed; the operation stands.
pub(super) fn finish(cfg: &Config, outcome: Outcome) -> Result<i32> {
    match outcome.post_error {
        Some(e) => {
            ui::print_error(cfg, &e);
            Ok(e.code())
        }
        None => Ok(0),
    }
}

fn start_stop(cfg: &Config, name: &str, flags: &HookFlags, start: bool) -> Result<i32> {
    let engine = engine_for(cfg, name, flags.engine.as_deref())?;
    let outcome = lifecycle::start_stop(cfg, &*engine, name, start, options(cfg, flags)?)?;
    eprintln!(
        "{} cluster `{name}` ({})",
        if start { "started" } else { "stopped" },
        engine.name()
    );
    finish(cfg, outcome)
}

fn list(cfg: &Config, engine: Option<&str>, output: Format) -> Result<i32> {
    let mut clusters: Vec<Cluster> = Vec::new();
    for e in available_engines(cfg, engine)? {
        match e.list() {
            Ok(found) => clusters.extend(found),
            // One broken engine must not hide the others' clusters.
            Err(err) if engine.is_none() => {
                ui::warn(cfg, &format!("could not list {} clusters: {err}", e.name()))
            }
            Err(err) => return Err(err),
        }
    }
    if output != Format::Table {
        ui::emit(output, &clusters).context("could not write to stdout")?;
        return Ok(0);
    }
    if clusters.is_empty() {
        eprintln!(
            "no clusters; create one with `kplug cluster create NAME` (add `--engine sim` to simulate)"
        );
        return Ok(0);
    }
    let mut t = Table::new(&[
        "NAME",
        "ENGINE",
        "STATUS",
        "SERVERS",
        "AGENTS",
        "KUBECONFIG",
    ]);
    for c in &clusters {
        t.row(vec![
            c.name.clone(),
            if c.simulated {
                format!("{} (simulated)", c.engine)
            } else {
                c.engine.clone()
            },
            c.status.clone(),
            c.count("server").to_string(),
            c.count("agent").to_string(),
            c.kubeconfig.clone(),
        ]);
    }
    ui::print_stdout(&t.render()).context("could not write to stdout")?;
    Ok(0)
}

#[derive(Serialize)]
struct ClusterView<'a> {
    #[serde(flatten)]
    cluster: &'a Cluster,
    /// Annotations from `mutate` hooks, as recorded at create time.
    annotations: std::collections::BTreeMap<String, String>,
}

fn get(cfg: &Config, name: &str, engine: Option<&str>, output: Format) -> Result<i32> {
    let (_, cluster) = lifecycle::find_cluster(cfg, name, engine)?;
    let view = ClusterView {
        annotations: lifecycle::record(cfg, name)
            .map(|r| r.annotations)
            .unwrap_or_default(),
        cluster: &cluster,
    };
    if output != Format::Table {
        ui::emit(output, &view).context("could not write to stdout")?;
        return Ok(0);
    }
    let mut s = String::new();
    // Values come from the engine: shown escaped, one line each.
    let mut field =
        |k: &str, v: &str| s.push_str(&format!("{:<12}{}\n", format!("{k}:"), ui::escape(v)));
    field("name", &cluster.name);
    field(
        "engine",
        &if cluster.simulated {
            format!("{} (simulated: no containers run)", cluster.engine)
        } else {
            cluster.engine.clone()
        },
    );
    field("status", &cluster.status);
    field("network", &cluster.network);
    field("kubeconfig", &cluster.kubeconfig);
    if let Some(v) = &cluster.kubernetes_version {
        field("kubernetes", v);
    }
    for (k, v) in &view.annotations {
        field("annotation", &format!("{k}={v}"));
    }
    let mut t = Table::new(&["NODE", "ROLE", "IP"]);
    for n in &cluster.nodes {
        t.row(vec![n.name.clone(), n.role.clone(), n.ip.clone()]);
    }
    s.push_str(&t.render());
    ui::print_stdout(&s).context("could not write to stdout")?;
    Ok(0)
}

/// `kplug cluster use NAME`: its context becomes the kubeconfig's current
/// one (only that line of the file changes), then its plugins are synced.
fn use_cluster(cfg: &Config, name: &str, no_sync: bool) -> Result<i32> {
    crate::cluster::sim::validate_cluster_name(name)?;
    let merged = crate::kubeconfig::load(cfg)?;
    let Some((_, context)) = crate::kubeconfig::contexts_for(name)
        .into_iter()
        .find(|(_, c)| merged.has_context(c))
    else {
        let files: Vec<String> = crate::kubeconfig::files(cfg)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(crate::error::Error::new(format!("kplug knows no cluster `{name}`"))
            .caused_by(format!(
                "none of the contexts k3d-{name}, kind-{name}, sim-{name} is in the kubeconfig ({})",
                if files.is_empty() { "none".to_string() } else { files.join(", ") }
            ))
            .with_hint("see the clusters with `kplug cluster list`, and the contexts with `kubectl config get-contexts`"));
    };
    let file = crate::kubeconfig::use_context(cfg, &context)?;
    eprintln!(
        "cluster `{name}` is active (context {context} in {})",
        file.display()
    );
    if super::sync::auto_enabled(cfg, no_sync) {
        super::sync::auto(&cfg.for_cluster(name), name);
    }
    Ok(0)
}

#[derive(Serialize)]
struct CurrentView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a crate::scope::ActiveCluster>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<&'a std::path::Path>,
}

/// `kplug cluster current`.
fn current(cfg: &Config, output: Format) -> Result<i32> {
    // A broken kubeconfig or KPLUG_CLUSTER is reported here, not taken
    // for "no cluster".
    match cfg.var(crate::config::vars::CLUSTER) {
        None => {
            crate::kubeconfig::load(cfg)?;
        }
        Some(v) => {
            let text = v.to_string_lossy();
            crate::cluster::sim::validate_cluster_name(&text).map_err(|e| {
                crate::error::Error::usage(format!(
                    "KPLUG_CLUSTER `{}` is not a cluster name",
                    ui::escape(&text)
                ))
                .caused_by(e.message())
            })?;
        }
    }
    let active = crate::scope::active_cluster(cfg);
    let view = CurrentView {
        cluster: active,
        project: crate::scope::active_project(cfg),
    };
    if output != Format::Table {
        ui::emit(output, &view).context("could not write to stdout")?;
        return Ok(if active.is_some() { 0 } else { 1 });
    }
    match active {
        Some(c) => {
            let from = match (&c.from, &c.context) {
                (crate::scope::ClusterFrom::Env, _) => "KPLUG_CLUSTER".to_string(),
                (crate::scope::ClusterFrom::Flag, _) => "--cluster".to_string(),
                (_, Some(ctx)) => format!("kubeconfig context {}", ui::escape(ctx)),
                (_, None) => "the kubeconfig".to_string(),
            };
            ui::print_stdout(&format!("{}\n", c.name)).context("could not write to stdout")?;
            eprintln!("(from {from})");
            Ok(0)
        }
        None => {
            eprintln!(
                "no active cluster: the kubeconfig's current context names no cluster kplug knows (k3d-NAME, kind-NAME, sim-NAME)"
            );
            eprintln!("make one active with `kplug cluster use NAME`");
            Ok(1)
        }
    }
}

/// `kplug cluster recommend PLUGIN@VERSION`.
fn recommend(
    cfg: &Config,
    plugin: &str,
    source: Option<String>,
    cluster: Option<String>,
    description: Option<String>,
    optional: bool,
) -> Result<i32> {
    let (name, version) = plugin.split_once('@').ok_or_else(|| {
        crate::error::Error::usage(format!("`{}` is not PLUGIN@VERSION", ui::escape(plugin)))
            .with_hint("e.g. `kplug cluster recommend hello@v1 --source acme/kplug-hello`")
    })?;
    let mut want = crate::sync::Want::new(name, version, source.as_deref())?;
    want.description = description;
    want.optional = optional;
    let cluster = match cluster {
        Some(c) => c,
        None => crate::scope::active_cluster(cfg)
            .map(|c| c.name.clone())
            .ok_or_else(|| {
                crate::error::Error::usage("there is no active cluster to recommend it on")
                    .with_hint("name one with `--cluster NAME`, or make one active with `kplug cluster use NAME`")
            })?,
    };
    crate::sync::recommend::recommend(cfg, &cluster, &want)?;
    eprintln!(
        "cluster `{cluster}` recommends {} {}; install it with `kplug plugin sync --cluster {cluster}`",
        want.name, want.request
    );
    Ok(0)
}
