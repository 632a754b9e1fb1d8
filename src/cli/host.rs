//! `kplug self …`: kplug's own versions.

use crate::config::Config;
use crate::error::{Context, Result};
use crate::host::{self, UpdateOptions, Updated};
use crate::ui::{self, Format, Table};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SelfCommand {
    /// List kplug's published versions, newest first (`*` marks this one)
    Versions {
        /// Include prereleases
        #[arg(long)]
        pre: bool,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Say whether a newer kplug is published (exit 10 if one is)
    Check {
        /// Ask this Omaha channel instead of the source's (an omaha `self.source`)
        #[arg(long, value_name = "CHANNEL")]
        channel: Option<String>,
    },
    /// Update kplug to the newest stable release within its major version
    ///
    /// The new binary must report its version (`version -o json`) within
    /// 10 s, and pass `kplug self health` once it is current; otherwise
    /// the running version is made current again. The first update of a
    /// plain-file install moves it into `$KPLUG_HOME/self/` and makes its
    /// path a link there.
    Update {
        /// This version or range instead of the newest
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// Admit prereleases
        #[arg(long)]
        pre: bool,
        /// Reinstall the current version
        #[arg(long)]
        force: bool,
        /// Say what would be installed; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Move to this major version
        #[arg(long, value_name = "N")]
        major: Option<u64>,
        /// Ask this Omaha channel instead of the source's (an omaha `self.source`)
        #[arg(long, value_name = "CHANNEL")]
        channel: Option<String>,
    },
    /// Switch to VERSION (installed: offline; otherwise downloaded first)
    Use {
        /// The version, like 0.2.0 or v0.2.0
        version: String,
    },
    /// Switch back to the version that was current before (offline)
    Rollback,
    /// List the installed versions of kplug
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Check that this kplug works here: its store, caches, config, and
    /// running a plugin (what `self update` asks of a new version)
    Health,
}

pub fn run(cfg: &Config, command: SelfCommand) -> Result<i32> {
    crate::exec::interrupt::install();
    match command {
        SelfCommand::Versions { pre, output } => {
            let all = host::versions(cfg, pre)?;
            if output != Format::Table {
                ui::emit(output, &all).context("could not write to stdout")?;
                return Ok(0);
            }
            let mut t = Table::new(&["", "VERSION", "STATUS"]);
            for v in all {
                t.row(vec![
                    if v.current { "*".into() } else { " ".into() },
                    v.version,
                    if v.current {
                        "current".into()
                    } else if v.installed {
                        "installed".into()
                    } else {
                        "-".into()
                    },
                ]);
            }
            ui::print_stdout(&t.render()).context("could not write to stdout")?;
            Ok(0)
        }
        SelfCommand::Check { channel } => match host::check(cfg, channel.as_deref())? {
            Some(v) => {
                eprintln!("kplug {v} is available: run `kplug self update`");
                Ok(host::EXIT_UPDATE_AVAILABLE)
            }
            None => {
                eprintln!("kplug {} is up to date", crate::version());
                Ok(0)
            }
        },
        SelfCommand::Update {
            version,
            pre,
            force,
            dry_run,
            major,
            channel,
        } => {
            let done = host::update(
                cfg,
                &UpdateOptions {
                    version,
                    pre,
                    force,
                    dry_run,
                    major,
                    channel,
                },
            )?;
            report(&done);
            Ok(0)
        }
        SelfCommand::Use { version } => {
            report(&host::use_version(cfg, &version)?);
            Ok(0)
        }
        SelfCommand::Rollback => {
            report(&host::rollback(cfg)?);
            Ok(0)
        }
        SelfCommand::List { output } => {
            let all = host::list(cfg)?;
            if output != Format::Table {
                ui::emit(output, &all).context("could not write to stdout")?;
                return Ok(0);
            }
            if all.is_empty() {
                eprintln!(
                    "kplug's version store is empty: this kplug ({}) is a plain file until its first `kplug self update`",
                    crate::version()
                );
                return Ok(0);
            }
            let mut t = Table::new(&["", "VERSION", "STATUS", "INSTALLED", "SOURCE"]);
            for v in all {
                t.row(vec![
                    if v.current { "*".into() } else { " ".into() },
                    v.version,
                    if v.current {
                        "current".into()
                    } else if v.previous {
                        "previous".into()
                    } else {
                        "-".into()
                    },
                    v.installed.unwrap_or_default(),
                    v.source.unwrap_or_default(),
                ]);
            }
            ui::print_stdout(&t.render_within(100, 4)).context("could not write to stdout")?;
            Ok(0)
        }
        SelfCommand::Health => {
            host::self_health(cfg)?;
            eprintln!("kplug {} is healthy", crate::version());
            Ok(0)
        }
    }
}

fn report(done: &Updated) {
    if let Some(path) = &done.migrated {
        eprintln!(
            "moved kplug {} into kplug's version store; {} now links to it",
            done.from,
            path.display()
        );
    }
    match (&done.to, done.dry_run) {
        (Some(to), true) => eprintln!("would update kplug {} to {to}", done.from),
        (Some(to), false) => eprintln!("kplug is now {to} (was {})", done.from),
        (None, _) => eprintln!("kplug {} is up to date", done.from),
    }
    if let Some(v) = &done.other_major {
        eprintln!(
            "kplug {v} is available in another major version: `kplug self update --major {}`",
            crate::requirements::parse_lenient(v)
                .map(|v| v.major)
                .unwrap_or_default()
        );
    }
    if !done.pruned.is_empty() {
        eprintln!(
            "removed kplug {} (self.keepVersions)",
            done.pruned.join(", ")
        );
    }
}
