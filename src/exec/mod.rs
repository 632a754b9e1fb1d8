//! Spawning plugins.
//!
//! This module owns how a plugin process is started: the environment it
//! gets ([`plugin_env`]), the nesting guard ([`check_depth`]), running it
//! with captured, bounded output and a timeout in its own process group
//! ([`run`]), and replacing kplug with it for a callable ([`exec_replace`]).
//! It does not decide *which* plugin to run (`discovery`) or what its output
//! means (`protocol`).

mod run;
pub mod watchdog;

pub mod interrupt;

pub use run::{Outcome, Spawn, Termination, cancel_all, cancelled, kill_all_now, run};

use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::protocol::{self, Command, env};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The plugin a process is started for.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub name: &'a str,
    pub path: &'a Path,
    /// `KPLUG_PLUGIN_DIR`: the install directory (store) or the directory
    /// holding the executable (search path).
    pub dir: &'a Path,
}

/// Refuse to start a plugin past the nesting limit, naming the chain so the
/// loop is obvious.
pub fn check_depth(cfg: &Config, name: &str) -> Result<()> {
    if cfg.depth < protocol::MAX_DEPTH {
        return Ok(());
    }
    let mut chain = cfg.chain.clone();
    chain.push(name.to_string());
    Err(Error::new(format!(
        "plugins are nested more than {} deep: {}",
        protocol::MAX_DEPTH,
        chain.join(" → ")
    ))
    .with_hint("a plugin is probably calling itself through kplug; check how it uses $KPLUG_BIN"))
}

fn is_host_credential(key: &[u8]) -> bool {
    config::vars::TOKENS.iter().any(|t| t.as_bytes() == key)
}

/// The environment of a plugin process: the inherited environment without
/// any `KPLUG_*` variable and without host credentials, plus the host's
/// resolved configuration and the protocol variables.
pub fn plugin_env(
    cfg: &Config,
    target: Target<'_>,
    command: Command,
    protocol_version: u32,
) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = cfg
        .vars
        .iter()
        .filter(|(k, _)| {
            let k = k.as_bytes();
            !k.starts_with(env::PREFIX.as_bytes()) && !is_host_credential(k)
        })
        .cloned()
        .collect();
    out.reserve(16);
    let mut set = |k: &str, v: OsString| out.push((k.into(), v));
    for name in config::PASSED_TO_PLUGINS {
        let value = match name {
            config::vars::HOME => cfg.home_opt().map(|h| h.as_os_str().to_owned()),
            _ => cfg.var(name).map(ToOwned::to_owned),
        };
        if let Some(v) = value {
            set(name, v);
        }
    }
    set(env::COMMAND, command.as_str().into());
    set(env::PROTOCOL, protocol_version.to_string().into());
    set(env::VERSION, crate::version().into());
    if let Some(bin) = kplug_bin() {
        set(env::BIN, bin.as_os_str().to_owned());
    }
    set(env::PLUGIN_NAME, target.name.into());
    set(env::PLUGIN_DIR, target.dir.as_os_str().to_owned());
    if let Some(data) = cfg.plugin_data_dir(target.name) {
        set(env::DATA_DIR, data.into());
    }
    set(env::DEPTH, (cfg.depth + 1).to_string().into());
    let mut chain = cfg.chain.join(">");
    if !chain.is_empty() {
        chain.push('>');
    }
    chain.push_str(target.name);
    set(env::CHAIN, chain.into());
    out
}

/// The environment of an EXEC: [`plugin_env`] plus the event's variables
/// (the cluster's, for cluster events).
pub fn exec_env(
    cfg: &Config,
    target: Target<'_>,
    protocol_version: u32,
    event: &str,
    cluster: Option<&protocol::ClusterContext>,
) -> Vec<(OsString, OsString)> {
    let mut vars = plugin_env(cfg, target, Command::Exec, protocol_version);
    vars.push((env::EVENT.into(), event.into()));
    if let Some(c) = cluster {
        for (k, v) in [
            (env::CLUSTER, c.name.clone()),
            (env::ENGINE, c.engine.clone()),
            (env::NETWORK, c.network.clone()),
            (env::KUBECONFIG, c.kubeconfig.clone()),
            (env::SERVERS, c.node_list("server")),
            (env::AGENTS, c.node_list("agent")),
        ] {
            vars.push((k.into(), v.into()));
        }
    }
    vars
}

/// Map `f` over `items` on at most `jobs` threads, keeping the order (INFO
/// probes, post hooks). One item runs on the calling thread.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    if items.len() <= 1 || jobs <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(items.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item mapped"))
        .collect()
}

/// The kplug executable running now (read once: a firing of 100 hooks
/// would otherwise readlink 100 times).
pub fn kplug_bin() -> Option<&'static Path> {
    static BIN: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    BIN.get_or_init(|| std::env::current_exe().ok()).as_deref()
}

/// Replace the kplug process with the plugin (a callable): argv passes
/// through untouched and stdio, the terminal, signals and the exit code
/// behave exactly as if the plugin had been run directly. Returns only on
/// failure.
///
/// `execve`, not `execvp`: a file that is not a program (a script without
/// a `#!` line) fails with ENOEXEC instead of being handed to `/bin/sh`, so
/// that `kplug NAME` runs exactly the files `plugin list` calls valid.
pub fn exec_replace(
    path: &Path,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
) -> std::io::Error {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let built = (|| {
        let program = cstr(path.as_os_str().as_bytes())?;
        let mut argv = vec![program.clone()];
        for a in args {
            argv.push(cstr(a.as_bytes())?);
        }
        let mut envp = Vec::with_capacity(env.len());
        for (k, v) in &env {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            envp.push(cstr(&kv)?);
        }
        Ok::<_, std::io::Error>((program, argv, envp))
    })();
    let (program, argv, envp) = match built {
        Ok(b) => b,
        Err(e) => return e,
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: every pointer is to a NUL-terminated string that outlives the
    // call, and both arrays end with a null pointer. SIGPIPE goes back to
    // its default (kplug may have ignored it), and kplug blocks no signals,
    // so the plugin starts as from a shell.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::execve(program.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
    }
    std::io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_vars(
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
        )
    }

    fn get<'a>(env: &'a [(OsString, OsString)], k: &str) -> Option<&'a str> {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn strips_kplug_vars_and_credentials() {
        let c = cfg(&[
            ("PATH", "/bin"),
            ("KPLUG_HOME", "/k"),
            ("KPLUG_EVENT", "spoofed"),
            ("KPLUG_GITHUB_TOKEN", "t1"),
            ("GITHUB_TOKEN", "t2"),
            ("GH_TOKEN", "t3"),
            ("KPLUG_DEPTH", "2"),
            ("KPLUG_CHAIN", "a>b"),
        ]);
        let target = Target {
            name: "hello",
            path: Path::new("/p/kplug-hello"),
            dir: Path::new("/p"),
        };
        let env = plugin_env(&c, target, Command::Run, 1);
        assert_eq!(get(&env, "PATH"), Some("/bin"));
        assert_eq!(get(&env, "KPLUG_EVENT"), None);
        for t in config::vars::TOKENS {
            assert_eq!(get(&env, t), None, "{t} leaked");
        }
        assert_eq!(get(&env, "KPLUG_HOME"), Some("/k"));
        assert_eq!(get(&env, "KPLUG_COMMAND"), Some("RUN"));
        assert_eq!(get(&env, "KPLUG_PROTOCOL"), Some("1"));
        assert_eq!(get(&env, "KPLUG_PLUGIN_NAME"), Some("hello"));
        assert_eq!(get(&env, "KPLUG_PLUGIN_DIR"), Some("/p"));
        assert_eq!(get(&env, "KPLUG_DATA_DIR"), Some("/k/state/plugins/hello"));
        assert_eq!(get(&env, "KPLUG_DEPTH"), Some("3"));
        assert_eq!(get(&env, "KPLUG_CHAIN"), Some("a>b>hello"));
        let names: Vec<_> = env.iter().map(|(k, _)| k).collect();
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len(), "duplicate variables: {names:?}");
    }

    #[test]
    fn depth_guard_names_the_chain() {
        assert!(check_depth(&cfg(&[("KPLUG_DEPTH", "7")]), "x").is_ok());
        let e =
            check_depth(&cfg(&[("KPLUG_DEPTH", "8"), ("KPLUG_CHAIN", "a>b")]), "c").unwrap_err();
        assert!(e.message().contains("a → b → c"), "{e}");
    }
}
