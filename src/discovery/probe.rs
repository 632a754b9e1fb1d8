//! Asking a plugin for its INFO document, and deciding whether it is valid.
//!
//! A probe never fails: whatever the plugin does (hang, crash, print
//! garbage, speak another protocol), the outcome is a [`Probe::Invalid`]
//! with a reason a user can act on.

use super::cache::InfoCache;
use super::{Located, Probe};
use crate::config::Config;
use crate::exec::{self, Spawn, Termination};
use crate::protocol::{self, Command, Info};
use std::time::Duration;

/// Largest INFO document accepted.
pub const INFO_LIMIT: usize = 1024 * 1024;
/// Bytes of stderr kept for error messages.
pub const STDERR_TAIL: usize = 64 * 1024;

/// A probe, and whether it depends only on the binary (and may be cached)
/// rather than on the moment (fork failed, nesting too deep).
pub struct Answer {
    pub probe: Probe,
    pub cacheable: bool,
}

fn invalid(reason: impl Into<String>) -> Answer {
    Answer {
        probe: Probe::Invalid {
            reason: reason.into(),
        },
        cacheable: true,
    }
}

/// Run INFO and judge the answer.
pub fn probe(cfg: &Config, plugin: &Located, timeout: Duration) -> Answer {
    let answer = ask(cfg, plugin, timeout);
    match answer.probe {
        Probe::Valid { ref info, .. } if info.name != plugin.name => invalid(format!(
            "INFO reports the name `{}`, but the executable is `{}{}`",
            info.name,
            protocol::EXECUTABLE_PREFIX,
            plugin.name
        )),
        _ => answer,
    }
}

/// Smoke-test an executable before it is installed: INFO must answer, parse
/// and share a protocol with this host. Returns the INFO and the protocol,
/// or why the executable is refused.
pub fn smoke_test(cfg: &Config, plugin: &Located) -> Result<(Info, u32), String> {
    let timeout = cfg
        .file()
        .map(|f| f.timeouts.info.0)
        .map_err(|e| e.to_string())?;
    match ask(cfg, plugin, timeout).probe {
        Probe::Valid { info, protocol } => Ok((*info, protocol)),
        Probe::Invalid { reason } => Err(reason),
    }
}

/// Run INFO and judge the document, whatever name it reports.
fn ask(cfg: &Config, plugin: &Located, timeout: Duration) -> Answer {
    if let Err(e) = exec::check_depth(cfg, &plugin.name) {
        return Answer {
            probe: Probe::Invalid {
                reason: e.to_string(),
            },
            cacheable: false,
        };
    }
    let env = exec::plugin_env(
        cfg,
        plugin.target(),
        Command::Info,
        protocol::CURRENT_PROTOCOL,
    );
    let outcome = exec::run(Spawn {
        program: plugin.path.clone(),
        args: Vec::new(),
        env,
        cwd: None,
        stdin: None,
        timeout,
        stdout_limit: INFO_LIMIT,
        kill_on_stdout_overflow: true,
        stderr_tail: STDERR_TAIL,
        stderr_prefix: None,
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let binary_fault = matches!(
                e.raw_os_error(),
                Some(libc::ENOEXEC | libc::EACCES | libc::ENOENT)
            );
            let reason = if e.raw_os_error() == Some(libc::ENOEXEC) {
                "cannot be executed: not a program for this system (wrong architecture, or a script without a `#!` line)".to_string()
            } else {
                format!("cannot be executed: {e}")
            };
            return Answer {
                probe: Probe::Invalid { reason },
                cacheable: binary_fault,
            };
        }
    };
    let stderr = || {
        let tail = outcome.stderr_summary(3);
        if tail.is_empty() {
            String::new()
        } else {
            format!(": {tail}")
        }
    };
    match outcome.termination {
        Termination::Exited(0) => {}
        Termination::Exited(code) => {
            return invalid(format!("INFO exited with status {code}{}", stderr()));
        }
        Termination::Signaled(sig) => {
            return invalid(format!("INFO was killed by signal {sig}{}", stderr()));
        }
        Termination::TimedOut => {
            return invalid(format!(
                "INFO did not finish within {} and was killed",
                protocol::format_duration(timeout)
            ));
        }
        Termination::Cancelled => {
            return Answer {
                probe: Probe::Invalid {
                    reason: "INFO was interrupted".into(),
                },
                cacheable: false,
            };
        }
        Termination::OutputLimit => {
            return invalid(format!(
                "INFO printed more than {} KiB and was killed",
                INFO_LIMIT / 1024
            ));
        }
    }
    let info = match Info::parse(&outcome.stdout) {
        Ok(info) => info,
        Err(e) => return invalid(e.to_string()),
    };
    let Some(version) = protocol::negotiate(&info.protocols) else {
        return invalid(format!(
            "no protocol in common: {}; upgrade kplug, or use a release of the plugin for protocol {}",
            super::describe_protocols(&info.protocols),
            protocol::CURRENT_PROTOCOL
        ));
    };
    Answer {
        probe: Probe::Valid {
            info: Box::new(info),
            protocol: version,
        },
        cacheable: true,
    }
}

/// The configured INFO time limit (the default, with a warning, when the
/// config file is broken: listing plugins must not fail over it).
fn info_timeout(cfg: &Config) -> Duration {
    match cfg.file() {
        Ok(f) => f.timeouts.info.0,
        Err(e) => {
            crate::ui::warn(cfg, &e.to_string());
            crate::config::Timeouts::default().info.0
        }
    }
}

/// One plugin's probe: cached when its binary is unchanged, else asked and
/// added to the cache. Unlike [`probe_all`], which is given every plugin
/// and rewrites the cache from them, the other entries stay as they are.
pub fn probe_one(cfg: &Config, plugin: &Located) -> Probe {
    let mut cache = InfoCache::load(cfg);
    let key = plugin
        .stat
        .clone()
        .or_else(|| InfoCache::key_of(&plugin.path));
    if let Some(k) = &key
        && let Some(cached) = cache.take(&plugin.path, k)
    {
        return cached;
    }
    let answer = probe(cfg, plugin, info_timeout(cfg));
    if let (true, Some(k)) = (answer.cacheable, key) {
        cache.insert(&plugin.path, k, answer.probe.clone());
        cache.save(cfg);
    }
    answer.probe
}

/// Probes for each plugin, in order: cached answers where the binary is
/// unchanged, fresh INFO runs (in parallel) for the rest. The cache is
/// rewritten, from exactly these answers, only when something changed.
pub fn probe_all(cfg: &Config, plugins: &[&Located], refresh: bool) -> Vec<Probe> {
    let mut cache = if refresh {
        InfoCache::empty(cfg)
    } else {
        InfoCache::load(cfg)
    };
    let keys: Vec<_> = plugins
        .iter()
        .map(|p| p.stat.clone().or_else(|| InfoCache::key_of(&p.path)))
        .collect();
    let mut results: Vec<Option<Probe>> = plugins
        .iter()
        .zip(&keys)
        .map(|(p, key)| key.as_ref().and_then(|k| cache.take(&p.path, k)))
        .collect();
    // Leftovers are answers for executables that are gone or changed, or
    // for store versions of scopes that are not active (kept).
    let store = cfg.store_dir();
    let mut changed =
        cache.is_dirty() || (cache.has_leftovers() && cache.drop_stale(store.as_deref()));

    let missing: Vec<usize> = (0..plugins.len())
        .filter(|&i| results[i].is_none())
        .collect();
    let mut uncacheable = vec![false; plugins.len()];
    if !missing.is_empty() {
        changed = true;
        let timeout = info_timeout(cfg);
        // INFO runs mostly wait on a child process: more workers than CPUs.
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get() * 2)
            .clamp(2, 16);
        let answers = exec::parallel_map(&missing, workers, |&i| probe(cfg, plugins[i], timeout));
        for (i, answer) in missing.into_iter().zip(answers) {
            uncacheable[i] = !answer.cacheable;
            results[i] = Some(answer.probe);
        }
    }
    let results: Vec<Probe> = results
        .into_iter()
        .map(|r| r.expect("every plugin probed"))
        .collect();
    if changed {
        let mut fresh = if refresh {
            InfoCache::empty(cfg)
        } else {
            cache.rest()
        };
        for (i, probe) in results.iter().enumerate() {
            if let (false, Some(key)) = (uncacheable[i], &keys[i]) {
                fresh.insert(&plugins[i].path, key.clone(), probe.clone());
            }
        }
        fresh.save(cfg);
    }
    results
}
