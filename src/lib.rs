//! kplug: a plugin host for local Kubernetes cluster tooling.
//!
//! The library holds everything; the `kplug` binary is a thin shell around
//! [`cli::main`]. Modules, from the bottom up (each uses only those above
//! it in this list):
//!
//! * [`protocol`] — pure types of the exec protocol (no I/O);
//! * [`error`], [`clock`], [`fsutil`] — errors with causes and hints, time,
//!   atomic and bounded file access;
//! * [`config`] — the environment and config file, resolved once;
//! * [`ui`] — output formats, messages, escaping of untrusted text;
//! * [`exec`] — spawning plugins: environment, timeouts, process groups,
//!   interrupts;
//! * [`store`] — the on-disk store: layout, receipts, the lock,
//!   transactions;
//! * [`discovery`] — finding plugins, the INFO cache;
//! * [`requirements`] — judging a plugin's contract;
//! * [`hooks`] — planning and firing lifecycle hooks, the journal;
//! * [`cluster`] — cluster engines (k3d, kind, the simulator);
//! * [`lifecycle`] — cluster operations with their hooks around them;
//! * [`install`] — sources, selection, the installer, version management;
//! * [`authoring`] — scaffolding and validating plugins;
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
