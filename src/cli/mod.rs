//! The command line: parse, run, map errors to exit codes.
//!
//! `kplug <word> …` where `<word>` is not a built-in goes straight to
//! `dispatch` without clap: the callable path stays as cheap as a few
//! `stat` calls and an `exec`. Everything else is parsed by clap (`args`)
//! and handed to the command modules, which only turn arguments into calls
//! into the library.

mod args;
mod authoring;
mod cluster;
mod completion;
mod config;
mod dispatch;
mod hooks;
mod host;
mod plugin;
mod reference;
mod sources;
mod sync;
mod trust;
mod version;
mod versions;

use crate::config::Config;
use crate::error::{Result, exit};
use crate::protocol::names;
use crate::ui;
use args::{Cli, Commands};
use clap::Parser;
use std::ffi::OsString;

/// Run kplug with this process's arguments and environment; returns the
/// exit code.
pub fn main() -> i32 {
    let cfg = Config::from_process();
    let args: Vec<OsString> = std::env::args_os().collect();
    match run(&cfg, args) {
        Ok(code) => code,
        Err(e) => {
            ui::print_error(&cfg, &e);
            e.code()
        }
    }
}

/// The clap definition of the whole command line (for completion scripts
/// and the generated CLI reference).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// The CLI reference (docs/cli.md): every command of [`command`] as Markdown.
pub fn reference() -> String {
    reference::render(&command())
}

/// Whether the first argument names a plugin rather than a built-in or a
/// flag.
fn is_external(first: &OsString) -> bool {
    let bytes = first.as_encoded_bytes();
    // `__complete` (for the completion scripts) can never be a plugin name.
    !bytes.starts_with(b"-")
        && !bytes.starts_with(b"__")
        && !names::BUILTINS.iter().any(|b| b.as_bytes() == bytes)
}

pub fn run(cfg: &Config, args: Vec<OsString>) -> Result<i32> {
    if let Some(first) = args.get(1)
        && is_external(first)
    {
        return dispatch::run(cfg, &args[1..]);
    }
    if args
        .get(1)
        .is_some_and(|a| a == crate::exec::watchdog::COMMAND)
    {
        return Ok(crate::exec::watchdog::serve());
    }
    // Everything else writes to pipes (a hook's stdin, `| head`): a closed
    // one must be an EPIPE error, not death by SIGPIPE. (The binary skips
    // std's runtime set-up, which would do this; a plugin exec'd above
    // starts with the default disposition, as from a shell.)
    // SAFETY: setting a signal disposition has no memory-safety conditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match cli.command {
        Commands::Cluster { command } => cluster::run(cfg, command),
        Commands::Config { command } => config::run(cfg, command),
        Commands::Hooks { command } => hooks::run(cfg, command),
        Commands::Plugin {
            registry_host: Some(host),
            command,
        } => {
            // The flag is the variable, for everything that reads it.
            let mut vars = cfg.vars.clone();
            vars.retain(|(k, _)| k != crate::config::vars::REGISTRY_HOST);
            vars.push((crate::config::vars::REGISTRY_HOST.into(), host.into()));
            plugin::run(&Config::from_vars(vars), command)
        }
        Commands::Plugin {
            registry_host: None,
            command,
        } => plugin::run(cfg, command),
        Commands::Version { output } => version::run(cfg, output),
        Commands::SelfUpdate { command } => host::run(cfg, command),
        Commands::Init {
            from_installed,
            force,
        } => sync::init(cfg, from_installed, force),
        Commands::Authoring(command) => authoring::run_top(cfg, command),
    }
}
