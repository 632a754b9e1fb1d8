//! clap types. Their doc comments are the help text.

use crate::protocol::Event;
use crate::ui::Format;
use clap::{Args, Parser, Subcommand};

/// A plugin host for local Kubernetes clusters (k3d, kind, or a simulator).
///
/// `kplug <plugin> [ARGS]...` runs the executable `kplug-<plugin>` found in
/// kplug's store, in KPLUG_PLUGIN_PATH or on PATH, with ARGS untouched.
#[derive(Debug, Parser)]
#[command(
    name = "kplug",
    version = crate::version(),
    arg_required_else_help = true,
    after_help = "Run `kplug plugin list` to see the plugins kplug can run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Create, delete, start, stop and inspect clusters, with hooks around them
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Show, fire and review lifecycle hooks
    Hooks {
        #[command(subcommand)]
        command: HooksCommand,
    },
    /// Inspect and manage plugins
    Plugin {
        /// The registry host KPLUG_REGISTRY_USERNAME and KPLUG_REGISTRY_PASSWORD are for
        #[arg(long, global = true, value_name = "HOST")]
        registry_host: Option<String>,
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Update kplug itself, and move between its installed versions
    #[command(name = "self")]
    SelfUpdate {
        #[command(subcommand)]
        command: super::host::SelfCommand,
    },
    /// Show and change kplug's settings (the config file)
    Config {
        #[command(subcommand)]
        command: super::config::ConfigCommand,
    },
    /// Write a starter kplug.yaml for this project
    Init {
        /// List the standalone plugins installed now (at their major version)
        #[arg(long)]
        from_installed: bool,
        /// Replace an existing kplug.yaml
        #[arg(long)]
        force: bool,
    },
    #[command(flatten)]
    Authoring(super::authoring::TopCommand),
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
        /// Which versions: all, active (what `kplug NAME` runs here),
        /// standalone, cluster/NAME or project
        #[arg(long, value_name = "SCOPE", default_value = "all")]
        scope: String,
    },
    /// Install what the project (kplug.yaml) and the active cluster recommend
    ///
    /// Each plugin is installed for the scope that wants it and never
    /// replaces a standalone install. The project's resolved versions are
    /// written to kplug.lock; `--locked` installs exactly the lock (for CI).
    Sync {
        /// The cluster whose recommendations to install (default: the active one)
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// Only the project's plugins
        #[arg(long, conflicts_with_all = ["no_project", "cluster"])]
        project: bool,
        /// Leave the project out
        #[arg(long)]
        no_project: bool,
        /// Show the plan; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Install exactly kplug.lock; fail if kplug.yaml asks for more
        #[arg(long)]
        locked: bool,
        /// Most downloads at once
        #[arg(long, short, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Show what one plugin declares: version, hooks, requirements
    Info {
        /// The plugin's name (`registry` for `kplug-registry`)
        name: String,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Install plugins by name, from a GitHub release, a URL, or a local path
    ///
    /// Each SOURCE is a plugin name found in the configured sources
    /// (`registry`, `team/registry` for source `team`, `registry@^1.2`,
    /// `registry@v1` for the newest 1.x.y), `owner/repo` (latest stable
    /// release), `owner/repo@v1.2.3` (a tag), `owner/repo@^1.2` (a semver
    /// range), a github.com repository or release URL, a local archive,
    /// executable or directory, or a URL with `--sha256`. Several are
    /// downloaded in parallel; one that fails does not stop the others.
    Install {
        /// What to install
        #[arg(required_unless_present = "group", value_name = "SOURCE")]
        sources: Vec<String>,
        /// Also install every plugin of an inventory's group, `NAME` or `NAME@VERSION`
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Most downloads at once
        #[arg(long, short, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        /// Admit prereleases
        #[arg(long)]
        pre: bool,
        /// Reinstall even if this version is already the current one
        #[arg(long)]
        force: bool,
        /// Refuse a release that publishes no checksum
        #[arg(long)]
        require_checksum: bool,
        /// Refuse an artifact that carries no signature (also: install.requireSignature)
        #[arg(long)]
        require_signature: bool,
        /// No network: use the sources' copies and the artifact cache
        #[arg(long)]
        offline: bool,
        /// Expected sha256 of the download (required for a plain URL)
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Do not fire the plugin's post-plugin-install hook
        #[arg(long)]
        no_hooks: bool,
        /// Also install missing required plugins from their `source`
        #[arg(long)]
        with_deps: bool,
        /// Do not enforce the plugin's requirements and conflicts (also: KPLUG_SKIP_CHECKS=1)
        #[arg(long)]
        skip_checks: bool,
        /// Only consider releases of this major version
        #[arg(long, value_name = "N")]
        major: Option<u64>,
    },
    /// Remove an installed plugin (every version) from kplug's store
    #[command(visible_aliases = ["rm", "uninstall"])]
    Remove {
        /// The plugin's name
        name: String,
        /// Also delete its cached downloads and its data directory
        #[arg(long)]
        all: bool,
        /// Do not fire the plugin's pre-plugin-remove hook
        #[arg(long)]
        no_hooks: bool,
    },
    #[command(flatten)]
    Versions(super::versions::VersionsCommand),
    #[command(flatten)]
    Authoring(super::authoring::AuthoringCommand),
    #[command(flatten)]
    Sources(super::sources::SourcesCommand),
    #[command(flatten)]
    Trust(super::trust::TrustAndVerify),
    /// Stop a plugin's hooks from firing (it can still be called)
    Disable {
        /// The plugin's name
        name: String,
    },
    /// Let a disabled plugin's hooks fire again
    Enable {
        /// The plugin's name
        name: String,
    },
}

/// Flags of every command that fires hooks.
#[derive(Debug, Args)]
pub struct HookFlags {
    /// Cluster engine: k3d, kind or sim (default: the engine the cluster was
    /// created with; for a new cluster the config's `engine`, else the first
    /// of k3d and kind on PATH)
    #[arg(long, value_name = "ENGINE", value_parser = ENGINE_VALUES)]
    pub engine: Option<String>,
    /// Most post-* hooks running at once [default: number of CPUs]
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Fire no hooks (also: KPLUG_NO_HOOKS=1)
    #[arg(long)]
    pub no_hooks: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster, firing pre- and post-cluster-create hooks
    Create {
        /// Name of the cluster
        name: String,
        /// Number of server (control-plane) nodes
        #[arg(long, default_value_t = 1, value_name = "N")]
        servers: u32,
        /// Number of agent (worker) nodes
        #[arg(long, default_value_t = 0, value_name = "N")]
        agents: u32,
        #[command(flatten)]
        hooks: HookFlags,
        /// A plugin the (simulated) cluster recommends, NAME@VERSION[=SOURCE]; repeatable
        #[arg(long = "recommend", value_name = "NAME@VERSION[=SOURCE]")]
        recommend: Vec<String>,
        /// Do not install the cluster's recommended plugins (also: `sync.auto: false`)
        #[arg(long)]
        no_sync: bool,
        /// Extra arguments for the engine, after `--`
        #[arg(last = true, value_name = "ENGINE_ARGS")]
        engine_args: Vec<String>,
    },
    /// Make a cluster the active one (the kubeconfig's current context)
    Use {
        /// The cluster's name
        name: String,
        /// Do not install the cluster's recommended plugins (also: `sync.auto: false`)
        #[arg(long)]
        no_sync: bool,
    },
    /// Show the active cluster and where that comes from
    Current {
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Recommend a plugin on a cluster (a CLIPlugin resource, applied with kubectl)
    Recommend {
        /// NAME@VERSION: a version, a shortened version (v1, v1.4) or a range
        #[arg(value_name = "PLUGIN@VERSION")]
        plugin: String,
        /// Where it comes from: a source's name, owner/repo or oci://HOST/REPO
        #[arg(long, value_name = "SOURCE")]
        source: Option<String>,
        /// The cluster (default: the active one)
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// A line saying what it is for
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// A failure to install it does not fail a sync
        #[arg(long)]
        optional: bool,
    },
    /// Delete a cluster, firing pre- and post-cluster-delete hooks
    Delete {
        /// The cluster's name
        name: String,
        #[command(flatten)]
        hooks: HookFlags,
    },
    /// Start a stopped cluster, firing pre- and post-cluster-start hooks
    Start {
        /// The cluster's name
        name: String,
        #[command(flatten)]
        hooks: HookFlags,
    },
    /// Stop a running cluster, firing pre- and post-cluster-stop hooks
    Stop {
        /// The cluster's name
        name: String,
        #[command(flatten)]
        hooks: HookFlags,
    },
    /// List clusters of every engine found (or of `--engine`)
    #[command(visible_alias = "ls")]
    List {
        #[arg(long, value_name = "ENGINE", value_parser = ENGINE_VALUES)]
        engine: Option<String>,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Show one cluster as its engine reports it
    Get {
        /// The cluster's name
        name: String,
        #[arg(long, value_name = "ENGINE", value_parser = ENGINE_VALUES)]
        engine: Option<String>,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
}

/// The engines `--engine` takes (completion offers them; a typo gets a
/// did-you-mean from clap).
const ENGINE_VALUES: [&str; 3] = crate::cluster::ENGINES;

/// Event names as clap values: completed by the shells, and an unknown one
/// is refused with the list and a did-you-mean.
fn event_parser() -> impl clap::builder::TypedValueParser<Value = Event> {
    use clap::builder::TypedValueParser as _;
    let names: Vec<&'static str> = Event::ALL.iter().map(|e| e.as_str()).collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|s| s.parse::<Event>().expect("one of Event::ALL"))
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Show the plan: which hooks run on an event, in which order, how
    #[command(visible_alias = "ls")]
    List {
        /// Only this event (e.g. post-cluster-create)
        #[arg(value_parser = event_parser())]
        event: Option<Event>,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
    /// Fire a cluster event by hand, for tools that change clusters outside kplug
    Fire {
        /// The event, e.g. post-cluster-create
        #[arg(value_parser = event_parser())]
        event: Event,
        /// The cluster the event is about
        #[arg(long, value_name = "NAME")]
        cluster: String,
        #[command(flatten)]
        hooks: HookFlags,
    },
    /// Show the journal of hook runs, newest last
    Log {
        /// How many runs to show
        #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
        lines: usize,
        /// Output format
        #[arg(long, short, value_enum, default_value_t)]
        output: Format,
    },
}
