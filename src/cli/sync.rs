//! `kplug plugin sync`, `kplug init`, and the sync `cluster create` and
//! `cluster use` run on their own.

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::sync::{self, Action, Plan, Report, SyncOptions};
use crate::ui::{self, Format, Table, escape};

/// `kplug plugin sync`.
pub fn run(cfg: &Config, opts: &SyncOptions, dry_run: bool, output: Format) -> Result<i32> {
    crate::exec::interrupt::install();
    let plan = sync::plan(cfg, opts)?;
    if plan.project_dir().is_none() && plan.cluster().is_none() {
        eprintln!(
            "nothing to sync: no {} here or above, and no active cluster",
            crate::scope::PROJECT_FILE
        );
        return Ok(0);
    }
    for w in &plan.warnings {
        ui::warn(cfg, w);
    }
    if dry_run {
        if output != Format::Table {
            ui::emit(output, &plan.items).context("could not write to stdout")?;
        } else {
            print_plan(&plan)?;
            eprintln!("dry run: nothing was changed");
        }
        return Ok(0);
    }
    if output == Format::Table && plan.changes() {
        print_plan(&plan)?;
    }
    let report = sync::apply(plan, opts)?;
    for w in &report.warnings {
        ui::warn(cfg, w);
    }
    if output != Format::Table {
        ui::emit(output, &report).context("could not write to stdout")?;
    } else {
        summarize(&report);
    }
    Ok(if report.failed() > 0 { 1 } else { 0 })
}

fn print_plan(plan: &Plan) -> Result<()> {
    let mut table = Table::new(&["SCOPE", "PLUGIN", "WANTS", "NOW", "ACTION"]);
    for i in &plan.items {
        let action = match (i.action, &i.version, &i.reason) {
            (Action::Refused, _, Some(r)) => {
                format!("refused: {}", r.lines().next().unwrap_or_default())
            }
            (Action::Install | Action::Switch, Some(v), _) => format!("{} {v}", i.action.as_str()),
            (a, _, _) => a.as_str().to_string(),
        };
        let wants = match &i.source {
            Some(s) => format!("{} ({})", i.request, escape(s)),
            None if i.request.is_empty() => "-".into(),
            None => i.request.clone(),
        };
        table.row(vec![
            scope_short(&i.scope),
            i.name.clone(),
            wants,
            i.current.clone().unwrap_or_else(|| "-".into()),
            action,
        ]);
    }
    ui::print_stdout(&table.render_within(100, 2)).context("could not write to stdout")
}

/// A project scope's label is long: `project` says enough beside the
/// project line printed above.
fn scope_short(label: &str) -> String {
    if label.starts_with("project:") {
        "project".into()
    } else {
        label.to_string()
    }
}

fn summarize(report: &Report) {
    let mut counts = std::collections::BTreeMap::new();
    for d in &report.done {
        let what = match (&d.error, d.item.action) {
            (Some(e), _) => {
                eprintln!(
                    "{}: {} {} failed: {e}",
                    scope_short(&d.item.scope),
                    d.item.name,
                    d.item.request
                );
                "failed"
            }
            (None, Action::Install | Action::Switch) if d.now == d.item.current => {
                "already current"
            }
            (None, a @ (Action::Install | Action::Switch)) => {
                let (done, to) = if a == Action::Install {
                    ("installed", "")
                } else {
                    ("switched", "to ")
                };
                eprintln!(
                    "{}: {done} {} {to}{}",
                    scope_short(&d.item.scope),
                    d.item.name,
                    d.now.as_deref().unwrap_or_default()
                );
                done
            }
            (None, Action::Drop) => {
                eprintln!("{}: dropped {}", scope_short(&d.item.scope), d.item.name);
                "dropped"
            }
            (None, Action::Current) => "already current",
            (None, Action::Refused) => "failed",
        };
        *counts.entry(what).or_insert(0) += 1;
    }
    let order = [
        "installed",
        "switched",
        "already current",
        "dropped",
        "failed",
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|k| counts.get(k).map(|n| format!("{n} {k}")))
        .collect();
    if parts.is_empty() {
        eprintln!("sync: nothing recommended");
    } else {
        eprintln!("sync: {}", parts.join(", "));
    }
    if let Some(lock) = &report.lock {
        eprintln!("wrote {}", lock.display());
    }
}

/// The sync `cluster create` and `cluster use` run for their cluster: a
/// failure is reported, and the cluster operation stands.
pub fn auto(cfg: &Config, cluster: &str) {
    let opts = SyncOptions {
        cluster: Some(cluster.to_string()),
        no_project: true,
        jobs: 4,
        ..SyncOptions::default()
    };
    let outcome = sync::plan(cfg, &opts).and_then(|plan| {
        for w in &plan.warnings {
            ui::warn(cfg, w);
        }
        if !plan.changes() {
            return Ok(None);
        }
        sync::apply(plan, &opts).map(Some)
    });
    match outcome {
        Ok(Some(report)) => {
            for w in &report.warnings {
                ui::warn(cfg, w);
            }
            summarize(&report);
        }
        Ok(None) => {}
        Err(e) => ui::warn(
            cfg,
            &format!(
                "could not install what cluster `{cluster}` recommends: {e} (retry with `kplug plugin sync --cluster {cluster}`)"
            ),
        ),
    }
}

/// Whether `cluster create`/`use` sync on their own.
pub fn auto_enabled(cfg: &Config, no_sync: bool) -> bool {
    !no_sync && cfg.file().map(|f| f.sync.auto).unwrap_or(true)
}

/// `kplug init`.
pub fn init(cfg: &Config, from_installed: bool, force: bool) -> Result<i32> {
    let dir = std::env::current_dir().context("could not tell the working directory")?;
    let path = dir.join(crate::scope::PROJECT_FILE);
    if path.exists() && !force {
        return Err(Error::new(format!("{} already exists", path.display()))
            .with_hint("edit it, or replace it with `kplug init --force`"));
    }
    let mut installed = Vec::new();
    if from_installed {
        let store = crate::store::Store::new(cfg)?;
        for name in store.plugins() {
            let Some(version) = store.current(&name) else {
                continue;
            };
            let receipt = store.receipt(&name)?;
            let Some(entry) = receipt.version(&version) else {
                continue;
            };
            // Only what can be installed again elsewhere: not local files.
            let source = match (&entry.source_name, entry.verified_by) {
                (
                    _,
                    crate::store::Verification::LocalFile | crate::store::Verification::LocalDir,
                ) => continue,
                (Some(configured), _) => Some(configured.clone()),
                (None, _)
                    if entry.source.starts_with("https://")
                        && !entry.source.contains("github.com") =>
                {
                    continue;
                }
                (None, _) => Some(entry.source.clone()),
            };
            installed.push((name, version, source));
        }
    }
    let text = sync::project::starter(&installed);
    crate::fsutil::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("could not write {}", path.display()))?;
    eprintln!(
        "wrote {} ({} plugin{}); run `kplug plugin sync` to install them and write {}",
        path.display(),
        installed.len(),
        if installed.len() == 1 { "" } else { "s" },
        crate::scope::LOCK_FILE
    );
    Ok(0)
}
