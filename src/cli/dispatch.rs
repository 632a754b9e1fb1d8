//! `kplug <plugin> [ARGS]...`: run a callable.
//!
//! This is the hot path. It resolves the plugin with a handful of `stat`
//! calls (no directory listing, no INFO, no config file) and replaces the
//! kplug process with the plugin. Only when nothing matches does it do more
//! work, to explain what went wrong.

use crate::config::Config;
use crate::discovery::{self, Standing};
use crate::error::{Error, Result};
use crate::exec;
use crate::protocol::{self, Command, EXECUTABLE_PREFIX, names};
use crate::ui;
use std::ffi::OsString;

pub fn run(cfg: &Config, words: &[OsString]) -> Result<i32> {
    let Some((plugin, used)) = discovery::resolve_command(cfg, words) else {
        return Err(no_such_command(cfg, words));
    };
    exec::check_depth(cfg, &plugin.name)?;
    if let Some(data) = cfg.plugin_data_dir(&plugin.name) {
        // Best effort: a read-only home must not stop the plugin from running.
        // One mkdir in the common case (it exists), the full walk only the
        // first time.
        if let Err(e) = std::fs::create_dir(&data)
            && e.kind() == std::io::ErrorKind::NotFound
        {
            let _ = std::fs::create_dir_all(&data);
        }
    }
    let env = exec::plugin_env(
        cfg,
        plugin.target(),
        Command::Run,
        protocol::CURRENT_PROTOCOL,
    );
    // Only returns on failure: the file vanished or became unreadable since
    // it was found. (A file without `#!` is run by /bin/sh, as a shell would.)
    let err = exec::exec_replace(&plugin.path, &words[used..], env);
    Err(Error::new(format!(
        "could not run plugin `{}` ({})",
        plugin.name,
        plugin.path.display()
    ))
    .caused_by(err)
    .with_hint("check the file exists and is executable, then try again"))
}

fn no_such_command(cfg: &Config, words: &[OsString]) -> Error {
    let word = words[0].to_string_lossy();
    let mut err = Error::usage(format!("no such command: `{word}`"));
    if let Err(e) = names::check_syntax(&word) {
        err = err.caused_by(format!("`{word}` is not a plugin name: it {e}"));
    }
    let found = discovery::scan(cfg);
    // A `kplug-<word>` that exists but was refused deserves an explanation.
    for f in &found {
        if f.located.name == word
            && let Standing::BadName(reason) = &f.standing
        {
            err = err.caused_by(format!(
                "{} exists, but the {reason}",
                f.located.path.display()
            ));
        }
    }
    let mut candidates: Vec<&str> = names::BUILTINS.to_vec();
    candidates.extend(
        found
            .iter()
            .filter(|f| f.standing == Standing::Active)
            .map(|f| f.located.name.as_str()),
    );
    if let Some(s) = ui::did_you_mean(&word, candidates) {
        err = err.with_hint(format!("did you mean `{s}`?"));
    }
    err.with_hint(format!(
        "view all plugins with `kplug plugin list`; a plugin is an executable named `{EXECUTABLE_PREFIX}<name>` on PATH"
    ))
}
