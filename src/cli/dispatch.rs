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
    // A callable's own `--cluster NAME` makes NAME the active cluster: that
    // cluster's version of the plugin runs. (Scanning the words is cheap;
    // the configuration is copied only when there is one.)
    let named =
        cluster_arg(words).filter(|c| crate::cluster::sim::validate_cluster_name(c).is_ok());
    let scoped;
    let cfg = match &named {
        Some(c) => {
            scoped = cfg.for_cluster(c);
            &scoped
        }
        None => cfg,
    };
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
    // Only returns on failure.
    let err = exec::exec_replace(&plugin.path, &words[used..], env);
    Err(exec_failure(&plugin, err))
}

/// Exit status of a plugin kplug found but could not start (as shells
/// report a command that cannot be executed).
const CANNOT_EXECUTE: i32 = 126;

/// Why a found plugin did not start, in words a user can act on.
fn exec_failure(plugin: &discovery::Located, err: std::io::Error) -> Error {
    let path = plugin.path.display();
    let what = format!("could not run plugin `{}` ({path})", plugin.name);
    let (cause, hint) = match err.raw_os_error() {
        Some(libc::ENOEXEC) => (
            "it is not a program for this system: a script needs a `#!` line".to_string(),
            format!(
                "start {path} with a line like `#!/bin/sh`, or install a build for this platform"
            ),
        ),
        Some(libc::ENOENT) if plugin.path.exists() => match interpreter(&plugin.path) {
            Some(i) => (
                format!("its interpreter `{}` is missing", crate::ui::escape(&i)),
                "install that interpreter, or fix the `#!` line".to_string(),
            ),
            None => (
                err.to_string(),
                "check the file, then try again".to_string(),
            ),
        },
        // Gone between finding and starting it: removed, or switched.
        Some(libc::ENOENT) => (
            "it was removed (or replaced) while kplug was starting it".to_string(),
            format!("run `kplug {}` again", plugin.name),
        ),
        Some(libc::EACCES) => (
            err.to_string(),
            format!("check that {path} and its directories may be executed (`chmod +x`)"),
        ),
        _ => (
            err.to_string(),
            "check the file exists and is executable, then try again".to_string(),
        ),
    };
    Error::new(what)
        .caused_by(cause)
        .with_hint(hint)
        .with_code(CANNOT_EXECUTE)
}

/// The interpreter a script's `#!` line names, if it has one.
fn interpreter(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let text = String::from_utf8_lossy(line);
    text.split_whitespace().next().map(str::to_string)
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
        ui::warn(
            cfg,
            &format!(
                "requirement checks SKIPPED (KPLUG_SKIP_CHECKS): the Kubernetes range of plugin `{}` is not checked against cluster `{}`",
                plugin.name,
                ui::escape(cluster)
            ),
        );
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
    // A store entry that is broken, or a `kplug-<word>` that is there but
    // not executable, deserves an explanation rather than silence.
    if let Ok(store) = crate::store::Store::new(cfg)
        && names::validate(&word).is_ok()
    {
        if let Some(scopes) = store.scope_only(&word) {
            let scopes: Vec<String> = scopes.iter().map(|s| ui::escape(s).into_owned()).collect();
            err = err
                .caused_by(format!(
                    "`{word}` is installed only for {}, which {} not active here",
                    scopes.join(", "),
                    if scopes.len() == 1 { "is" } else { "are" }
                ))
                .with_hint(
                    "make that cluster active with `kplug cluster use NAME` (or work inside that project), or install it standalone with `kplug plugin install`",
                );
        } else if let Some(problem) = store.broken_entry(&word) {
            err = err
                .caused_by(format!(
                    "`{word}` is in kplug's store, but its entry is broken: {problem}"
                ))
                .with_hint(format!(
                    "reinstall it, or remove it with `kplug plugin remove {word}`"
                ));
        }
    }
    if names::check_syntax(&word).is_ok() {
        let file = format!("{EXECUTABLE_PREFIX}{word}");
        for dir in cfg.plugin_path.iter().chain(&cfg.path) {
            let path = dir.join(&file);
            if std::fs::metadata(&path).is_ok_and(|m| m.is_file())
                && !discovery::is_executable_file(&path)
            {
                err = err
                    .caused_by(format!("{} exists, but is not executable", path.display()))
                    .with_hint(format!("make it executable: `chmod +x {}`", path.display()));
                break;
            }
        }
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
