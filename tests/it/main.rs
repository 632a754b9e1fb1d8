//! kplug's integration tests: one binary, one module per capability.
//!
//! Every test runs kplug hermetically through [`support::TestEnv`]: an empty
//! environment, HOME/KPLUG_HOME/XDG dirs in a temp dir, and fake plugins the
//! test writes itself.

mod archives;
mod server;
mod support;

mod authoring;
mod cache;
mod completion;
mod config;
mod contract;
mod dispatch;
mod engines;
mod examples;
mod hooks;
mod hostile;
mod install;
mod kube;
mod list;
mod oci;
mod omaha;
mod reference;
mod sdk_examples;
mod selfupdate;
mod signing;
mod sources;
mod sync;
mod tutorial;
mod versions;
