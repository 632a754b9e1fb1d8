//! `kplug plugin versions|update|use|rollback|pin|unpin|outdated|contract`.

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::exec::interrupt;
use crate::install::Installed;
use crate::install::manage::{self as versions, Update, UpdateOptions, UseOptions, Used};
use crate::requirements::State;
use crate::ui::{self, Format, Table};
use clap::Subcommand;
use std::time::Duration;

/// Version management commands, flattened into `kplug plugin`.
#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// List a plugin's published releases, newest first (`*` marks the current one)
    Versions {
        /// The plugin's name, or its repository `owner/repo`
        name: String,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Update plugins to the newest compatible release within their major version
    #[command(visible_alias = "upgrade")]
    Update {
        /// The plugin's name (or `--all`)
        #[arg(conflicts_with = "all")]
        name: Option<String>,
        /// Update every plugin in kplug's store (pinned ones are skipped)
        #[arg(long)]
        all: bool,
        /// Say what would be updated; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Move to this major version instead of staying in the installed one
        #[arg(long, value_name = "N")]
        major: Option<u64>,
        /// Also install missing required plugins from their `source`
        #[arg(long)]
        with_deps: bool,
        /// Do not enforce requirements and conflicts (also: KPLUG_SKIP_CHECKS=1)
        #[arg(long)]
        skip_checks: bool,
        /// Refuse a release that publishes no checksum
        #[arg(long)]
        require_checksum: bool,
        /// Refuse an artifact that carries no signature (also: install.requireSignature)
        #[arg(long)]
        require_signature: bool,
        /// Do not fire post-plugin-install hooks
        #[arg(long)]
        no_hooks: bool,
        /// Keep running: update on a jittered timer, one log line per check, until SIGTERM or Ctrl-C (with --all)
        #[arg(long, requires = "all", conflicts_with = "dry_run")]
        watch: bool,
        /// With --watch: the wait between checks, a duration or a range to draw from [default: 45m-90m]
        #[arg(long, value_name = "DURATION[-DURATION]", requires = "watch", value_parser = parse_every)]
        every: Option<(Duration, Duration)>,
        /// With --watch: the wait before the first check (`0` for none) [default: 5m-15m]
        #[arg(long, value_name = "DURATION[-DURATION]", requires = "watch", value_parser = parse_range)]
        first_after: Option<(Duration, Duration)>,
    },
    /// Switch a plugin to VERSION (installed: instantly and offline; otherwise downloaded)
    Use {
        /// The plugin's name
        name: String,
        /// The version, like `1.4.0` or `v1.4.0`
        version: String,
        /// Do not enforce requirements and conflicts (also: KPLUG_SKIP_CHECKS=1)
        #[arg(long)]
        skip_checks: bool,
        /// Do not fire the post-plugin-install hook after a download
        #[arg(long)]
        no_hooks: bool,
    },
    /// Switch a plugin back to the version that was current before (offline)
    Rollback {
        /// The plugin's name
        name: String,
        /// Do not enforce requirements and conflicts (also: KPLUG_SKIP_CHECKS=1)
        #[arg(long)]
        skip_checks: bool,
    },
    /// Keep a plugin at its current version: updates skip it
    Pin {
        /// The plugin's name
        name: String,
    },
    /// Let updates move a pinned plugin again
    Unpin {
        /// The plugin's name
        name: String,
    },
    /// List installed plugins for which a newer release exists
    Outdated {
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Show a plugin's requirements and conflicts, and whether each holds now
    Contract {
        /// The plugin's name
        name: String,
        /// Check `requires.kubernetes` against this cluster's version
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
}

pub fn run(cfg: &Config, command: VersionsCommand) -> Result<i32> {
    match command {
        VersionsCommand::Versions { name, output } => list(cfg, &name, output),
        VersionsCommand::Update {
            name,
            all,
            dry_run,
            major,
            with_deps,
            skip_checks,
            require_checksum,
            require_signature,
            no_hooks,
            watch,
            every,
            first_after,
        } => {
            interrupt::install();
            let opts = UpdateOptions {
                dry_run,
                major,
                skip_checks,
                with_deps,
                require_checksum,
                require_signature,
                hooks: !no_hooks,
            };
            let defaults = omaha_client::Intervals::default();
            match (all, name) {
                (true, _) if watch => watch_all(
                    cfg,
                    &opts,
                    omaha_client::Intervals {
                        first: first_after.unwrap_or(defaults.first),
                        every: every.unwrap_or(defaults.every),
                    },
                ),
                (true, _) => update_all(cfg, &opts),
                (false, Some(name)) => update_one(cfg, &name, &opts),
                (false, None) => Err(Error::usage("`plugin update` needs a plugin name, or `--all`")
                    .with_hint("update one plugin with `kplug plugin update NAME`, every plugin with `kplug plugin update --all`")),
            }
        }
        VersionsCommand::Use {
            name,
            version,
            skip_checks,
            no_hooks,
        } => {
            interrupt::install();
            let used = versions::use_version(
                cfg,
                &name,
                &version,
                &UseOptions {
                    skip_checks,
                    hooks: !no_hooks,
                },
            )?;
            report_used(cfg, &used)
        }
        VersionsCommand::Rollback { name, skip_checks } => {
            interrupt::install();
            let used = versions::rollback(
                cfg,
                &name,
                &UseOptions {
                    skip_checks,
                    hooks: false,
                },
            )?;
            report_used(cfg, &used)
        }
        VersionsCommand::Pin { name } => {
            let (version, changed) = versions::set_pinned(cfg, &name, true)?;
            if changed {
                eprintln!(
                    "pinned {name} at {version}: updates leave it alone (`kplug plugin unpin {name}` to undo)"
                );
            } else {
                eprintln!("{name} was already pinned at {version}");
            }
            Ok(0)
        }
        VersionsCommand::Unpin { name } => {
            let (version, changed) = versions::set_pinned(cfg, &name, false)?;
            if changed {
                eprintln!("unpinned {name} ({version}): updates may move it again");
            } else {
                eprintln!("{name} was not pinned");
            }
            Ok(0)
        }
        VersionsCommand::Outdated { output } => outdated(cfg, output),
        VersionsCommand::Contract {
            name,
            cluster,
            output,
        } => contract(cfg, &name, cluster.as_deref(), output),
    }
}

/// What an install did besides the install itself: dependencies installed,
/// releases passed over, old versions pruned, a newer major left alone.
pub fn report_installed(done: &Installed) {
    for dep in &done.deps {
        report_installed(dep);
        if !dep.unchanged {
            eprintln!(
                "installed {} {} (required by {})",
                dep.name, dep.version, done.name
            );
        }
    }
    for s in &done.skipped {
        eprintln!(
            "skipped {} {}: {}",
            done.name,
            ui::escape(&s.tag),
            ui::escape(&s.reason)
        );
    }
    if !done.pruned.is_empty() {
        eprintln!(
            "pruned {} {} (install.keepVersions)",
            done.name,
            done.pruned.join(", ")
        );
    }
}

fn other_major_hint(name: &str, other: Option<&str>) {
    if let Some(v) = other
        && let Some(major) = crate::requirements::parse_lenient(v).map(|v| v.major)
    {
        eprintln!(
            "{name} {v} is available in another major version: `kplug plugin update {name} --major {major}`"
        );
    }
}

fn list(cfg: &Config, target: &str, output: Format) -> Result<i32> {
    let listing = versions::list(cfg, target)?;
    if output != Format::Table {
        ui::emit(output, &listing).context("could not write to stdout")?;
        return Ok(0);
    }
    if listing.versions.is_empty() {
        eprintln!(
            "{} has no releases with a semantic version tag",
            listing.repository
        );
        return Ok(0);
    }
    let mut table = Table::new(&["", "VERSION", "TAG", "STATUS", "NOTE"]);
    for row in &listing.versions {
        let mut status: Vec<&str> = Vec::new();
        if row.current {
            status.push("current");
        } else if row.installed {
            status.push("installed");
        }
        if row.prerelease {
            status.push("prerelease");
        }
        let note = match row.compatible {
            Some(false) => format!("incompatible: {}", row.reasons.join("; ")),
            _ => String::new(),
        };
        if row.compatible == Some(false) && status.is_empty() {
            status.push("incompatible");
        }
        table.row(vec![
            if row.current { "*" } else { "" }.into(),
            row.version.clone(),
            row.tag.clone().unwrap_or_else(|| "-".into()),
            status.join(","),
            note,
        ]);
    }
    ui::print_stdout(&table.render()).context("could not write to stdout")?;
    if listing.pinned {
        eprintln!("{} is pinned: updates leave it alone", listing.name);
    }
    Ok(0)
}

fn update_one(cfg: &Config, name: &str, opts: &UpdateOptions) -> Result<i32> {
    match versions::update(cfg, name, opts)? {
        Update::Pinned { name, version } => {
            eprintln!(
                "{name} is pinned at {version}: skipped (`kplug plugin unpin {name}` to let it update)"
            );
            Ok(0)
        }
        Update::NotFromRelease {
            name,
            version,
            source,
        } => {
            eprintln!(
                "{name} {version} was installed from {source}, not a GitHub release: skipped (reinstall it to update)"
            );
            Ok(0)
        }
        Update::Planned {
            name,
            version,
            plan,
        } => {
            for s in &plan.skipped {
                eprintln!(
                    "would skip {name} {}: {}",
                    ui::escape(&s.tag),
                    ui::escape(&s.reason)
                );
            }
            match &plan.target {
                Some(t) => eprintln!(
                    "would update {name} {version} → {t} ({})",
                    ui::escape(&plan.note)
                ),
                None => eprintln!("{name} is already at {version}: {}", plan.note),
            }
            other_major_hint(&name, plan.other_major.as_deref());
            Ok(0)
        }
        Update::Unchanged(done) => {
            report_installed(&done);
            eprintln!(
                "{} is already at {}{}",
                done.name,
                done.version,
                if done.skipped.is_empty() {
                    ": nothing to do"
                } else {
                    ", the newest compatible release"
                }
            );
            other_major_hint(&done.name, done.other_major.as_deref());
            Ok(0)
        }
        Update::Updated(done) => {
            report_installed(&done);
            eprintln!(
                "updated {} {} → {}",
                done.name,
                done.previous.as_deref().unwrap_or("?"),
                done.version
            );
            other_major_hint(&done.name, done.other_major.as_deref());
            match done.hook_error {
                Some(e) => {
                    ui::print_error(cfg, &e);
                    Ok(e.code())
                }
                None => Ok(0),
            }
        }
    }
}

fn update_all(cfg: &Config, opts: &UpdateOptions) -> Result<i32> {
    let names = versions::installed_plugins(cfg)?;
    if names.is_empty() {
        eprintln!("no plugins installed in kplug's store");
        return Ok(0);
    }
    let mut failed: Vec<String> = Vec::new();
    let mut code = 0;
    for name in names {
        match update_one(cfg, &name, opts) {
            Ok(c) => code = code.max(c),
            Err(e) => {
                ui::print_error(cfg, &e);
                failed.push(name);
            }
        }
    }
    if failed.is_empty() {
        return Ok(code);
    }
    Err(Error::new(format!(
        "{} of the updates failed: {}",
        failed.len(),
        failed.join(", ")
    ))
    .with_hint("each failed plugin kept its previous version"))
}

/// `DURATION` or `MIN-MAX` (`0` is no wait).
fn parse_range(text: &str) -> std::result::Result<(Duration, Duration), String> {
    let one = |t: &str| {
        if t.trim() == "0" {
            Ok(Duration::ZERO)
        } else {
            crate::protocol::parse_duration(t)
        }
    };
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => (one(text)?, one(text)?),
    };
    if hi < lo {
        return Err(format!("{text:?}: the range ends before it starts"));
    }
    Ok((lo, hi))
}

/// `--every`: a range of at least a second, so a typo cannot turn the
/// watch into a loop hammering the servers.
fn parse_every(text: &str) -> std::result::Result<(Duration, Duration), String> {
    let r = parse_range(text)?;
    if r.0 < Duration::from_secs(1) {
        return Err(format!("{text:?}: checks are at least a second apart"));
    }
    Ok(r)
}

fn format_range((lo, hi): (Duration, Duration)) -> String {
    let f = crate::protocol::format_duration;
    if lo == hi {
        f(lo)
    } else {
        format!("{}-{}", f(lo), f(hi))
    }
}

/// Wait `d`, or until an interrupt: whether the wait ran its course.
fn wait_unless_interrupted(d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    loop {
        if interrupt::interrupted() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// `plugin update --all --watch`: every plugin updated on a jittered timer
/// (the Omaha scheduler's), one line per check, until SIGTERM or Ctrl-C.
/// A signal between checks ends the wait at once (exit 0); one during a
/// check abandons a download in flight with the store unchanged (exit 130,
/// as for any interrupted wait); a commit in progress is finished first.
fn watch_all(
    cfg: &Config,
    opts: &UpdateOptions,
    intervals: omaha_client::Intervals,
) -> Result<i32> {
    crate::ui::progress::quiet();
    let mut schedule = omaha_client::Schedule::new(intervals);
    eprintln!(
        "{} watching for updates: the first check in {}, then every {}",
        crate::store::now(),
        format_range(intervals.first),
        format_range(intervals.every)
    );
    let mut n = 0u64;
    loop {
        if !wait_unless_interrupted(schedule.next_wait()) {
            eprintln!("{} stopped after {n} checks", crate::store::now());
            return Ok(0);
        }
        n += 1;
        let line = check_once(cfg, opts);
        eprintln!("{} check {n}: {line}", crate::store::now());
        if interrupt::interrupted() {
            eprintln!("{} stopped after {n} checks", crate::store::now());
            return Ok(0);
        }
    }
}

/// One check of every plugin, said in one line.
fn check_once(cfg: &Config, opts: &UpdateOptions) -> String {
    let names = match versions::installed_plugins(cfg) {
        Ok(n) => n,
        Err(e) => return format!("could not read the store: {}", e.message()),
    };
    let (mut updated, mut failed) = (Vec::new(), Vec::new());
    let (mut current, mut pinned, mut other) = (0, 0, 0);
    for name in &names {
        if interrupt::interrupted() {
            failed.push(format!("{name}: not checked (stopping)"));
            continue;
        }
        match versions::update(cfg, name, opts) {
            Ok(Update::Updated(done)) => {
                let mut s = format!(
                    "{} {} -> {}",
                    done.name,
                    done.previous.as_deref().unwrap_or("-"),
                    done.version
                );
                if let Some(e) = &done.hook_error {
                    s.push_str(&format!(" (post-plugin-install failed: {})", e.message()));
                }
                updated.push(s);
            }
            Ok(Update::Unchanged(_)) => current += 1,
            Ok(Update::Pinned { .. }) => pinned += 1,
            Ok(_) => other += 1,
            Err(e) => failed.push(format!("{name}: {}", e.message())),
        }
    }
    let mut parts = Vec::new();
    if !updated.is_empty() {
        parts.push(format!("updated {}", updated.join(", ")));
    }
    parts.push(format!("{current} up to date"));
    if pinned > 0 {
        parts.push(format!("{pinned} pinned"));
    }
    if other > 0 {
        parts.push(format!("{other} not from a release"));
    }
    if !failed.is_empty() {
        parts.push(format!("failed {}", failed.join("; ")));
    }
    parts.join("; ")
}

fn report_used(cfg: &Config, used: &Used) -> Result<i32> {
    if let Some(done) = &used.installed {
        report_installed(done);
    }
    if used.unchanged {
        eprintln!(
            "{} {} is already the current version",
            used.name, used.version
        );
        return Ok(0);
    }
    let was = used
        .previous
        .as_ref()
        .map(|p| format!(" (was {p}; back with `kplug plugin use {} {p}`)", used.name))
        .unwrap_or_default();
    eprintln!(
        "switched {} to {}{}{was}",
        used.name,
        used.version,
        if used.offline {
            ", installed locally"
        } else {
            ", downloaded"
        }
    );
    if used.installed.is_none() && !used.pruned.is_empty() {
        eprintln!(
            "pruned {} {} (install.keepVersions)",
            used.name,
            used.pruned.join(", ")
        );
    }
    match used.installed.as_ref().and_then(|d| d.hook_error.as_ref()) {
        Some(e) => {
            ui::print_error(cfg, e);
            Ok(e.code())
        }
        None => Ok(0),
    }
}

fn outdated(cfg: &Config, output: Format) -> Result<i32> {
    let rows = versions::outdated(cfg)?;
    if output != Format::Table {
        ui::emit(output, &rows).context("could not write to stdout")?;
        return Ok(0);
    }
    let shown: Vec<_> = rows
        .iter()
        .filter(|r| {
            r.is_outdated()
                || r.note
                    .as_deref()
                    .is_some_and(|n| n.starts_with("could not"))
        })
        .collect();
    if shown.is_empty() {
        eprintln!("every plugin in kplug's store is up to date");
        return Ok(0);
    }
    let mut table = Table::new(&["NAME", "CURRENT", "WANTED", "LATEST", "PINNED", "NOTE"]);
    for r in shown {
        table.row(vec![
            r.name.clone(),
            r.current.clone(),
            r.wanted.clone().unwrap_or_else(|| "-".into()),
            r.latest.clone().unwrap_or_else(|| "-".into()),
            if r.pinned { "yes" } else { "" }.into(),
            r.note.clone().unwrap_or_default(),
        ]);
    }
    ui::print_stdout(&table.render()).context("could not write to stdout")?;
    Ok(0)
}

fn contract(cfg: &Config, name: &str, cluster: Option<&str>, output: Format) -> Result<i32> {
    let c = versions::contract(cfg, name, cluster)?;
    if output != Format::Table {
        ui::emit(output, &c).context("could not write to stdout")?;
        return Ok(0);
    }
    let mut out = format!("{} {} ({})\n", c.name, c.version, c.path.display());
    if c.checks.items.is_empty() {
        out.push_str("declares no requirements and no conflicts\n");
        ui::print_stdout(&out).context("could not write to stdout")?;
        return Ok(0);
    }
    let mut table = Table::new(&["REQUIREMENT", "WANTED", "FOUND", "HOLDS", "DETAIL"]);
    for item in &c.checks.items {
        let what = match item.kind {
            crate::requirements::Kind::Kplug => "kplug".to_string(),
            crate::requirements::Kind::Kubernetes => "kubernetes".to_string(),
            crate::requirements::Kind::Plugin => match &item.source {
                Some(s) => format!("plugin {} ({s})", item.name),
                None => format!("plugin {}", item.name),
            },
            crate::requirements::Kind::Conflict => format!("conflict {}", item.name),
        };
        table.row(vec![
            what,
            item.wanted.clone(),
            item.found.clone().unwrap_or_else(|| "-".into()),
            item.state.as_str().into(),
            item.detail.clone(),
        ]);
    }
    out.push_str(&table.render());
    ui::print_stdout(&out).context("could not write to stdout")?;
    for item in &c.checks.items {
        if matches!(item.state, State::Fails | State::Missing)
            && let Some(fix) = &item.fix
        {
            eprintln!("hint: {fix}");
        }
    }
    Ok(0)
}
