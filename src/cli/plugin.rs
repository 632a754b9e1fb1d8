//! `kplug plugin …`.

use super::args::PluginCommand;
use crate::config::Config;
use crate::discovery::{self, CatalogOptions, Plugin, Status};
use crate::error::{Context, Error, Result};
use crate::exec::interrupt;
use crate::install::{self, InstallOptions};
use crate::protocol::format_duration;
use crate::ui::{self, Format, Table};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

pub fn run(cfg: &Config, command: PluginCommand) -> Result<i32> {
    match command {
        PluginCommand::List {
            output,
            refresh,
            scope,
        } => list(cfg, output, refresh, &scope),
        PluginCommand::Sync {
            cluster,
            project,
            no_project,
            dry_run,
            locked,
            jobs,
            output,
        } => super::sync::run(
            cfg,
            &crate::sync::SyncOptions {
                cluster,
                no_project,
                no_cluster: project,
                locked,
                jobs: usize::from(jobs),
            },
            dry_run,
            output,
        ),
        PluginCommand::Info { name, output } => info(cfg, &name, output),
        PluginCommand::Install {
            sources,
            group,
            jobs,
            pre,
            force,
            require_checksum,
            require_signature,
            offline,
            sha256,
            no_hooks,
            with_deps,
            skip_checks,
            major,
        } => {
            interrupt::install();
            let opts = InstallOptions {
                pre,
                force,
                require_checksum,
                require_signature,
                offline,
                sha256,
                hooks: !no_hooks,
                with_deps,
                skip_checks,
                major,
                update: false,
                scope: None,
            };
            let results =
                install::install_many(cfg, &sources, group.as_deref(), &opts, usize::from(jobs))?;
            if results.len() == 1 {
                let (_, result) = results.into_iter().next().expect("one");
                return report_install(cfg, &result?);
            }
            let (mut failed, total) = (0, results.len());
            let mut code = 0;
            for (label, result) in results {
                match result {
                    Ok(done) => code = code.max(report_install(cfg, &done)?),
                    Err(e) => {
                        failed += 1;
                        ui::print_error(cfg, &e.labelled(&ui::escape(&label)));
                    }
                }
            }
            if failed > 0 {
                eprintln!("{failed} of {total} plugins could not be installed");
                return Ok(crate::error::exit::FAILED);
            }
            Ok(code)
        }
        PluginCommand::Remove {
            name,
            all,
            no_hooks,
        } => {
            interrupt::install();
            let removed = install::remove(cfg, &name, all, !no_hooks)?;
            eprintln!(
                "removed {} ({}){}",
                removed.name,
                removed.versions.join(", "),
                if all {
                    ", its cached downloads and its data"
                } else {
                    ""
                }
            );
            Ok(0)
        }
        PluginCommand::Versions(command) => super::versions::run(cfg, command),
        PluginCommand::Authoring(command) => super::authoring::run(cfg, command),
        PluginCommand::Sources(command) => super::sources::run(cfg, command),
        PluginCommand::Trust(command) => super::trust::run(cfg, command),
        PluginCommand::Disable { name } => set_disabled(cfg, &name, true),
        PluginCommand::Enable { name } => set_disabled(cfg, &name, false),
    }
}

/// Say what one install did; its exit code (4 when its hook failed).
fn report_install(cfg: &Config, done: &install::Installed) -> Result<i32> {
    super::versions::report_installed(done);
    if done.unchanged {
        eprintln!(
            "{} {} is already installed and current (use `--force` to reinstall)",
            done.name, done.version
        );
        return Ok(0);
    }
    let was = done
        .previous
        .as_ref()
        .map(|p| format!(", was {p}"))
        .unwrap_or_default();
    let how = done
        .entry
        .as_ref()
        .map(|e| {
            format!(
                " from {} ({}, sha256 {})",
                ui::escape(e.source_name.as_deref().unwrap_or(&e.source)),
                ui::escape(&e.asset),
                e.verified_by.describe()
            )
        })
        .unwrap_or_default();
    eprintln!("installed {} {}{how}{was}", done.name, done.version);
    match &done.hook_error {
        Some(e) => {
            ui::print_error(cfg, e);
            Ok(e.code())
        }
        None => Ok(0),
    }
}

fn set_disabled(cfg: &Config, name: &str, disabled: bool) -> Result<i32> {
    crate::discovery::check_name_arg(name)?;
    // Enabling always works (the plugin may be gone); disabling wants a
    // plugin that exists, to catch typos.
    if disabled && discovery::find(cfg, name).is_none() {
        return Err(Error::new(format!("no plugin named `{name}`"))
            .with_hint("view all plugins with `kplug plugin list`"));
    }
    let changed = discovery::disabled::set(cfg, name, disabled)?;
    let state = if disabled { "disabled" } else { "enabled" };
    if changed {
        eprintln!(
            "plugin `{name}` {state}: its hooks {}",
            if disabled {
                "will not fire"
            } else {
                "fire again"
            }
        );
    } else {
        eprintln!("plugin `{name}` was already {state}");
    }
    Ok(0)
}

/// One line of a long reason, for a table cell.
fn short(reason: &str) -> String {
    let line = reason.lines().next().unwrap_or_default();
    if line.chars().count() > 100 {
        format!("{}…", line.chars().take(99).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Which rows `plugin list --scope` keeps.
enum ScopeFilter {
    All,
    Active,
    Standalone,
    Label(String),
}

fn scope_filter(cfg: &Config, text: &str) -> Result<ScopeFilter> {
    Ok(match text {
        "all" => ScopeFilter::All,
        "active" => ScopeFilter::Active,
        "standalone" => ScopeFilter::Standalone,
        "project" => {
            let dir = crate::scope::active_project(cfg).ok_or_else(|| {
                Error::usage(format!(
                    "`--scope project`: there is no {} here or above",
                    crate::scope::PROJECT_FILE
                ))
                .with_hint("write one with `kplug init`")
            })?;
            ScopeFilter::Label(crate::scope::Scope::Project(dir.to_path_buf()).label())
        }
        other => match crate::scope::Scope::from_label(other) {
            Some(s @ crate::scope::Scope::Cluster(_)) => ScopeFilter::Label(s.label()),
            _ => {
                return Err(
                    Error::usage(format!("`{}` is not a scope", ui::escape(other)))
                        .with_hint("use all, active, standalone, cluster/NAME or project"),
                );
            }
        },
    })
}

/// Where the project comes from, and a farther one it hides.
fn project_note(cfg: &Config) {
    let Some(dir) = crate::scope::active_project(cfg) else {
        return;
    };
    let outer = dir.parent().and_then(crate::scope::find_project);
    match outer {
        Some(o) => eprintln!(
            "project {} (the nearest {}; the one in {} is not used here)",
            ui::escape(&dir.to_string_lossy()),
            crate::scope::PROJECT_FILE,
            ui::escape(&o.to_string_lossy())
        ),
        None => eprintln!("project {}", ui::escape(&dir.to_string_lossy())),
    }
}

fn list(cfg: &Config, output: Format, refresh: bool, scope: &str) -> Result<i32> {
    let filter = scope_filter(cfg, scope)?;
    let mut plugins = discovery::catalog(
        cfg,
        CatalogOptions {
            refresh,
            receipts: true,
            inactive: !matches!(filter, ScopeFilter::Active),
        },
    );
    plugins.retain(|p| match &filter {
        ScopeFilter::All | ScopeFilter::Active => true,
        ScopeFilter::Standalone => p.scope == "standalone",
        ScopeFilter::Label(l) => p.scope == *l,
    });
    if output == Format::Table {
        project_note(cfg);
    }
    if output != Format::Table {
        ui::emit(output, &plugins).context("could not write to stdout")?;
        return Ok(0);
    }
    if plugins.is_empty() {
        ui::warn(
            cfg,
            "no plugins found in kplug's store, KPLUG_PLUGIN_PATH or PATH (a plugin is an executable named `kplug-<name>`)",
        );
        return Ok(0);
    }
    // Fits a 100-column terminal: where each came from is `plugin info`'s.
    let mut table = Table::new(&[
        "NAME",
        "VERSION",
        "STATUS",
        "ORIGIN",
        "SCOPE",
        "HOOKS",
        "SIGNER",
        "DESCRIPTION",
    ]);
    for p in &plugins {
        let (version, description) = match (&p.info, &p.reason) {
            (Some(i), Some(r)) if p.status == Status::Inactive => (i.version.to_string(), short(r)),
            (Some(i), _) => (i.version.to_string(), i.description.clone()),
            (None, Some(r)) => ("-".into(), short(r)),
            (None, None) => ("-".into(), String::new()),
        };
        let hooks = p.info.as_ref().map_or(0, |i| i.hooks.len());
        table.row(vec![
            p.name.clone(),
            version,
            p.status.as_str().into(),
            p.origin.as_str().into(),
            if p.scope.starts_with("project:") {
                "project".into()
            } else {
                p.scope.clone()
            },
            if hooks == 0 {
                "-".into()
            } else {
                hooks.to_string()
            },
            p.installed
                .as_ref()
                .and_then(|r| r.signer.as_ref())
                .map_or_else(
                    || "-".into(),
                    |s| format!("{} {}", s.key_id, s.trusted.as_str()),
                ),
            description,
        ]);
    }
    ui::print_stdout(&table.render_within(LIST_WIDTH, 7)).context("could not write to stdout")?;
    if plugins
        .iter()
        .any(|p| p.reason.is_some() && !matches!(p.status, Status::Shadowed | Status::Inactive))
    {
        eprintln!("see why a plugin is invalid with `kplug plugin info NAME`");
    }
    Ok(0)
}

/// The width `plugin list` fits in.
const LIST_WIDTH: usize = 100;

#[derive(Serialize)]
struct InfoView<'a> {
    #[serde(flatten)]
    plugin: &'a Plugin,
    /// Other executables of the same name, later in search order.
    shadowed: Vec<&'a PathBuf>,
}

fn info(cfg: &Config, name: &str, output: Format) -> Result<i32> {
    crate::discovery::check_name_arg(name)?;
    let plugins = discovery::catalog(
        cfg,
        CatalogOptions {
            refresh: false,
            receipts: true,
            inactive: false,
        },
    );
    let Some(plugin) = plugins
        .iter()
        .find(|p| p.name == name && p.status != Status::Shadowed)
    else {
        let mut err = Error::new(format!("no plugin named `{name}`"));
        if let Some(s) = ui::did_you_mean(name, plugins.iter().map(|p| p.name.as_str())) {
            err = err.with_hint(format!("did you mean `{s}`?"));
        }
        return Err(err.with_hint("view all plugins with `kplug plugin list`"));
    };
    let view = InfoView {
        plugin,
        shadowed: plugins
            .iter()
            .filter(|p| p.name == name && p.status == Status::Shadowed)
            .map(|p| &p.path)
            .collect(),
    };
    if output != Format::Table {
        ui::emit(output, &view).context("could not write to stdout")?;
        return Ok(0);
    }
    ui::print_stdout(&render_info(&view)).context("could not write to stdout")?;
    Ok(0)
}

fn render_info(view: &InfoView<'_>) -> String {
    let p = view.plugin;
    let mut s = String::new();
    // Every value may come from the plugin: shown escaped, one line each.
    let mut field = |k: &str, v: &str| {
        let _ = writeln!(s, "{:<13}{}", format!("{k}:"), ui::escape(v));
    };
    field("name", &p.name);
    field("status", p.status.as_str());
    if let Some(r) = &p.reason {
        field("reason", r);
    }
    field("path", &p.path.display().to_string());
    field("found in", p.origin.as_str());
    if let Some(r) = &p.installed {
        match &r.source_name {
            Some(n) => field("source", &format!("{n} ({})", r.source)),
            None => field("source", &r.source),
        }
        if let Some(tag) = &r.tag {
            field("release", tag);
        }
        field("asset", &r.asset);
        field(
            "sha256",
            &format!("{} ({})", r.sha256, r.verified_by.describe()),
        );
        field("installed", &r.installed);
        match &r.signer {
            Some(s) => field(
                "signed by",
                &format!("key {} ({})", s.key_id, s.trusted.describe()),
            ),
            None => field("signed by", "nobody (not signed)"),
        }
    }
    if let Some(i) = &p.info {
        field("version", &i.version.to_string());
        if !i.description.is_empty() {
            field("description", &i.description);
        }
        if let Some(u) = &i.usage {
            field("usage", u);
        }
        let spoken: Vec<String> = i.protocols.iter().map(u32::to_string).collect();
        field(
            "protocol",
            &format!(
                "{} (the plugin speaks {})",
                p.protocol.unwrap_or_default(),
                spoken.join(", ")
            ),
        );
        if !i.conflicts.is_empty() {
            field("conflicts", &i.conflicts.join(", "));
        }
        if i.hooks.is_empty() {
            field("hooks", "none (callable only)");
        } else {
            let mut t = Table::new(&["EVENT", "MODE", "ORDER", "TIMEOUT"]);
            for h in &i.hooks {
                t.row(vec![
                    h.event.to_string(),
                    h.mode.to_string(),
                    h.order.to_string(),
                    h.timeout
                        .map_or_else(|| "default".into(), |t| format_duration(t.0)),
                ]);
            }
            s.push_str("hooks:\n");
            for line in t.render().lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        if !i.requires.is_empty() {
            s.push_str("requires:\n");
            if let Some(r) = &i.requires.kplug {
                let _ = writeln!(s, "  kplug {r}");
            }
            if let Some(r) = &i.requires.kubernetes {
                let _ = writeln!(s, "  kubernetes {r}");
            }
            for (dep, r) in &i.requires.plugins {
                let from = r
                    .source
                    .as_ref()
                    .map(|src| format!(" (from {})", ui::escape(src)))
                    .unwrap_or_default();
                let _ = writeln!(s, "  plugin {dep} {}{from}", r.version);
            }
        }
        for w in &i.warnings {
            let _ = writeln!(s, "warning:     {}", ui::escape(w));
        }
    }
    for path in &view.shadowed {
        let _ = writeln!(s, "{:<13}{} (shadowed)", "also at:", path.display());
    }
    s
}
