//! clap types. Their doc comments are the help text.

use crate::ui::Format;
use clap::{Parser, Subcommand};

/// A plugin host for local Kubernetes clusters (k3d, kind, or a simulator).
///
/// `kplug <plugin> [ARGS]...` runs the executable `kplug-<plugin>` found in
/// kplug's store, in KPLUG_PLUGIN_PATH or on PATH, with ARGS untouched.
#[derive(Debug, Parser)]
#[command(
    name = "kplug",
    version,
    arg_required_else_help = true,
    after_help = "Run `kplug plugin list` to see the plugins kplug can run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Inspect and manage plugins
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Print kplug's version and the protocol versions it speaks
    Version {
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List every plugin kplug can find, valid or not
    ///
    /// Plugins are searched in kplug's store, then in each directory of
    /// KPLUG_PLUGIN_PATH, then in each directory of PATH; the first of a name
    /// wins and later copies are listed as shadowed.
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
        /// Ask every plugin for its INFO again instead of using the cache
        #[arg(long)]
        refresh: bool,
    },
    /// Show what one plugin declares: version, hooks, requirements
    Info {
        /// The plugin's name (`registry` for `kplug-registry`)
        name: String,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
}
