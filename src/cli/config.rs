//! `kplug config path|list|get|set|unset`: the config file, as gh and tanzu
//! users expect to reach it.

use crate::config::{Config, edit};
use crate::error::{Context, Error, Result};
use crate::ui::{self, Format, Table};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print where the config file is (whether or not it exists)
    Path,
    /// List every setting with its value (the file's, else the default)
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Print one setting, like `network.readTimeout`
    Get {
        /// The setting's key (see `kplug config list`)
        key: String,
    },
    /// Set one setting in the config file (checked before it is written)
    Set {
        /// The setting's key, like `engine` or `install.keepVersions`
        key: String,
        /// The value, read as YAML: `sim`, `5`, `true`, `30s`
        value: String,
    },
    /// Remove one setting from the config file (back to its default)
    Unset {
        /// The setting's key
        key: String,
    },
}

fn path(cfg: &Config) -> Result<std::path::PathBuf> {
    cfg.config_file_path().ok_or_else(|| {
        Error::new("cannot tell where the config file is: neither XDG_CONFIG_HOME nor HOME is set")
            .with_hint("set HOME (or XDG_CONFIG_HOME)")
    })
}

pub fn run(cfg: &Config, command: ConfigCommand) -> Result<i32> {
    match command {
        ConfigCommand::Path => {
            ui::print_stdout(&format!("{}\n", path(cfg)?.display()))
                .context("could not write to stdout")?;
        }
        ConfigCommand::List { output } => {
            let all = edit::list(cfg.file()?);
            if output != Format::Table {
                let map: std::collections::BTreeMap<&str, &str> =
                    all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                ui::emit(output, &map).context("could not write to stdout")?;
                return Ok(0);
            }
            let mut t = Table::new(&["KEY", "VALUE"]);
            for (k, v) in all {
                t.row(vec![k, v]);
            }
            ui::print_stdout(&t.render()).context("could not write to stdout")?;
        }
        ConfigCommand::Get { key } => {
            let v = edit::get(cfg.file()?, &key)?;
            ui::print_stdout(&format!("{v}\n")).context("could not write to stdout")?;
        }
        ConfigCommand::Set { key, value } => {
            // The one key whose values the file's types do not pin down.
            if key == "engine" && !crate::cluster::ENGINES.contains(&value.as_str()) {
                let mut err = Error::usage(format!(
                    "`{}` is not an engine: choose k3d, kind or sim",
                    ui::escape(&value)
                ));
                if let Some(s) = ui::did_you_mean(&value, crate::cluster::ENGINES) {
                    err = err.with_hint(format!("did you mean `{s}`?"));
                }
                return Err(err.with_hint("nothing was changed"));
            }
            let file = path(cfg)?;
            if edit::set(&file, &key, Some(&value))? {
                eprintln!("set {key} in {}", file.display());
            } else {
                eprintln!("{key} was already {}", ui::escape(&value));
            }
        }
        ConfigCommand::Unset { key } => {
            let file = path(cfg)?;
            if edit::set(&file, &key, None)? {
                eprintln!(
                    "removed {key} from {}: it is back to its default",
                    file.display()
                );
            } else {
                eprintln!("{key} was not set in {}", file.display());
            }
        }
    }
    Ok(0)
}
