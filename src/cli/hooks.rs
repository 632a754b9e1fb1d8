//! `kplug hooks …`.

use super::args::HooksCommand;
use super::cluster::{finish, options};
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::exec::interrupt;
use crate::hooks::{self, journal};
use crate::lifecycle;
use crate::lifecycle::engine_for;
use crate::protocol::{Event, format_duration};
use crate::ui::{self, Format, Table};
use serde::Serialize;

pub fn run(cfg: &Config, command: HooksCommand) -> Result<i32> {
    match command {
        HooksCommand::List { event, output } => list(cfg, event, output),
        HooksCommand::Fire {
            event,
            cluster,
            hooks,
        } => {
            if event.is_plugin_event() {
                return Err(Error::usage(format!(
                    "`{event}` is fired by `kplug plugin install`/`remove` for one plugin, not by hand"
                )));
            }
            if hooks.no_hooks {
                return Err(Error::usage(
                    "`--no-hooks` would make `hooks fire` do nothing",
                ));
            }
            interrupt::install();
            crate::cluster::sim::validate_cluster_name(&cluster)?;
            // The hooks of cluster X use X's scoped plugins.
            let cfg = &cfg.for_cluster(&cluster);
            // Before a create (and after a delete) the cluster does not
            // exist: the engine is chosen as `cluster create` chooses it.
            let engine = match engine_for(cfg, &cluster, hooks.engine.as_deref()) {
                Err(_)
                    if matches!(event, Event::PreClusterCreate | Event::PostClusterDelete)
                        && lifecycle::record(cfg, &cluster).is_none() =>
                {
                    crate::cluster::sim::validate_cluster_name(&cluster)?;
                    crate::cluster::select(cfg, hooks.engine.as_deref())?
                }
                other => other?,
            };
            let outcome = lifecycle::fire(cfg, &*engine, event, &cluster, options(cfg, &hooks)?)?;
            finish(cfg, outcome)
        }
        HooksCommand::Log { lines, output } => log(cfg, lines, output),
    }
}

#[derive(Serialize)]
struct Planned {
    event: Event,
    #[serde(flatten)]
    hook: hooks::Hook,
}

fn list(cfg: &Config, event: Option<Event>, output: Format) -> Result<i32> {
    let events: Vec<Event> = match event {
        Some(e) => vec![e],
        None => Event::ALL.to_vec(),
    };
    let mut planned = Vec::new();
    for e in events {
        for hook in hooks::plan(cfg, e, None)? {
            planned.push(Planned { event: e, hook });
        }
    }
    if output != Format::Table {
        ui::emit(output, &planned).context("could not write to stdout")?;
        return Ok(0);
    }
    if planned.is_empty() {
        eprintln!(
            "no hooks registered{}; plugins declare hooks in their INFO, scripts go in {}",
            event.map(|e| format!(" for {e}")).unwrap_or_default(),
            cfg.hooks_dir()
                .map_or("$XDG_CONFIG_HOME/kplug/hooks".into(), |d| format!(
                    "{}/<event>.d/",
                    d.display()
                ))
        );
        return Ok(0);
    }
    let mut t = Table::new(&["EVENT", "ORDER", "HOOK", "KIND", "MODE", "TIMEOUT", "PATH"]);
    for p in &planned {
        t.row(vec![
            p.event.to_string(),
            p.hook.order.to_string(),
            p.hook.name.clone(),
            p.hook.kind.as_str().into(),
            p.hook.mode.to_string(),
            format_duration(p.hook.timeout),
            p.hook.path.display().to_string(),
        ]);
    }
    ui::print_stdout(&t.render()).context("could not write to stdout")?;
    Ok(0)
}

fn log(cfg: &Config, lines: usize, output: Format) -> Result<i32> {
    let entries = journal::tail(cfg, lines)?;
    if output != Format::Table {
        ui::emit(output, &entries).context("could not write to stdout")?;
        return Ok(0);
    }
    if entries.is_empty() {
        if lines > 0 {
            eprintln!("no hook has run yet");
        }
        return Ok(0);
    }
    let mut t = Table::new(&[
        "TIME", "EVENT", "CLUSTER", "HOOK", "RESULT", "EXIT", "DURATION",
    ]);
    for e in &entries {
        let result = match (&e.outcome[..], e.code, &e.message) {
            ("ok", _, _) => "ok".to_string(),
            (_, Some(code), Some(m)) => format!("failed ({code}): {m}"),
            (_, None, Some(m)) => format!("failed: {m}"),
            (o, _, None) => o.to_string(),
        };
        t.row(vec![
            e.time.clone(),
            e.event.clone(),
            e.cluster.clone(),
            format!("{} ({})", e.hook, e.kind),
            result.lines().next().unwrap_or_default().to_string(),
            e.exit.map_or("-".into(), |c| c.to_string()),
            format!("{}ms", e.duration_ms),
        ]);
    }
    ui::print_stdout(&t.render()).context("could not write to stdout")?;
    Ok(0)
}
