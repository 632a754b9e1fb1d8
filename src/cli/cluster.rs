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
            engine_args,
        } => {
            let engine = cluster::select(cfg, hooks.engine.as_deref())?;
            let spec = ClusterSpec {
                name,
                servers,
                agents,
                engine_args,
            };
            let outcome = lifecycle::create(cfg, &*engine, spec, options(cfg, &hooks)?)?;
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
            finish(cfg, outcome)
        }
        ClusterCommand::Start { name, hooks } => start_stop(cfg, &name, &hooks, true),
        ClusterCommand::Stop { name, hooks } => start_stop(cfg, &name, &hooks, false),
        ClusterCommand::List { engine, output } => list(cfg, engine.as_deref(), output),
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
