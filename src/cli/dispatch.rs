//! `kplug <plugin> [ARGS]...`: run a callable.
//!
//! This is the hot path. It resolves the plugin with a handful of `stat`
//! calls (no directory listing, no INFO, no config file) and replaces the
//! kplug process with the plugin. It does more only when the plugin's
//! arguments name a cluster (`--cluster NAME`: its Kubernetes range is
//! checked first) or when nothing matches (to explain what went wrong).

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
    // Only when the user names a cluster: the plugin's `requires.kubernetes`
    // is checked against it. Everything else stays a few stats and an exec.
    if let Some(cluster) = cluster_arg(&words[used..]) {
        check_kubernetes(cfg, &plugin, &cluster)?;
    }
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

/// The value of `--cluster NAME` / `--cluster=NAME` among a callable's
/// arguments (before a `--`).
fn cluster_arg(args: &[OsString]) -> Option<String> {
    let mut it = args.iter().map(|a| a.to_str());
    while let Some(arg) = it.next() {
        match arg? {
            "--" => return None,
            "--cluster" => return it.next()?.map(str::to_string),
            a => {
                if let Some(v) = a.strip_prefix("--cluster=") {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

/// Refuse to run a plugin whose `requires.kubernetes` excludes the version
/// of the cluster it is pointed at. A cluster kplug cannot find, or a
/// plugin that states no range, is the plugin's business.
fn check_kubernetes(cfg: &Config, plugin: &discovery::Located, cluster: &str) -> Result<()> {
    if crate::requirements::skip_checks(cfg, false) {
        return Ok(());
    }
    let discovery::Probe::Valid { info, .. } = discovery::probe::probe_one(cfg, plugin) else {
        return Ok(());
    };
    let Some(req) = &info.requires.kubernetes else {
        return Ok(());
    };
    let Some(found) = crate::lifecycle::find_cluster(cfg, cluster, None)
        .ok()
        .and_then(|(_, c)| c.kubernetes_version)
    else {
        return Ok(());
    };
    match crate::requirements::parse_lenient(&found) {
        Some(v) if !crate::requirements::satisfies(req, &v) => Err(Error::new(format!(
            "plugin `{}` requires Kubernetes {req}, but cluster `{cluster}` runs {found}",
            plugin.name
        ))
        .with_hint(
            "use a cluster with a matching version, or run it anyway with KPLUG_SKIP_CHECKS=1",
        )),
        _ => Ok(()),
    }
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
