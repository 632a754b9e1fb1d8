//! kplug: a plugin host for local Kubernetes cluster tooling.
//!
//! The library holds everything; the `kplug` binary is a thin shell around
//! [`cli::main`]. Modules, from the bottom up:
//!
//! * [`protocol`] — pure types of the exec protocol (no I/O);
//! * [`config`] — the environment and config file, resolved once;
//! * [`exec`] — spawning plugins: environment, timeouts, process groups;
//! * [`discovery`] — finding plugins, the INFO cache;
//! * [`cluster`] — cluster engines (k3d, kind, the simulator);
//! * [`hooks`] — planning and firing lifecycle hooks, the journal;
//! * [`ui`] — output formats and messages;
//! * [`cli`] — argument parsing and the commands.

pub mod authoring;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod error;
pub mod exec;
pub mod fsutil;
pub mod hooks;
pub mod install;
pub mod lifecycle;
pub mod protocol;
pub mod requirements;
pub mod store;
pub mod ui;

/// The host's version, as plugins see it in `KPLUG_VERSION`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
