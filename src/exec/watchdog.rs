//! Plugin processes die with kplug, even when kplug is SIGKILLed.
//!
//! Each plugin runs in a process group of its own (so that a timeout or a
//! Ctrl-C reaches everything it started); nothing would stop those groups
//! if kplug itself were killed. So the first time kplug starts a plugin
//! process it also starts a watchdog: `kplug __watchdog`, in a process
//! group of its own, reading from a pipe whose only writer is kplug. kplug
//! tells it each group it starts and each it is done with; when the pipe
//! ends — kplug exited or was killed, the kernel closes it either way — the
//! watchdog SIGKILLs the groups still listed and exits.
//!
//! A parent-death signal set in the child would do this without a helper,
//! but needs code between fork and exec, which makes std fork instead of
//! posix_spawn: twice the cost of firing a hundred hooks.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The hidden command that runs the watchdog.
pub const COMMAND: &str = "__watchdog";

/// Most groups the watchdog tracks (more than kplug ever runs at once).
const MAX_GROUPS: usize = 4096;

/// kplug's end of the pipe; `None` when the watchdog could not be started
/// (then plugins only lose this safety net).
static PIPE: OnceLock<Option<Mutex<ChildStdin>>> = OnceLock::new();

fn pipe() -> Option<&'static Mutex<ChildStdin>> {
    PIPE.get_or_init(|| {
        // A watchdog that died must not take kplug down with SIGPIPE when
        // it is written to (the write fails instead). A plugin exec'd
        // later gets SIGPIPE back at its default (see `exec_replace`).
        // SAFETY: setting a signal disposition has no memory-safety
        // conditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let bin = super::kplug_bin()?;
        let child = Command::new(bin)
            .arg(COMMAND)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of the terminal's reach: a Ctrl-C is kplug's to handle,
            // and must not take the watchdog down before kplug.
            .process_group(0)
            .spawn()
            .ok()?;
        // The child is never waited for: it outlives kplug by design, and
        // its parent's death reparents it.
        let mut child = child;
        child.stdin.take().map(Mutex::new)
    })
    .as_ref()
}

fn send(value: i32) {
    if let Some(p) = pipe() {
        // Four bytes: one write, never interleaved with another thread's.
        let _ = p
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(&value.to_le_bytes());
    }
}

/// Kill process group `pgid` if kplug dies before [`unwatch`].
pub fn watch(pgid: i32) {
    if pgid > 0 {
        send(pgid);
    }
}

/// kplug is done with `pgid` (it ended, or kplug stopped it).
pub fn unwatch(pgid: i32) {
    if pgid > 0 {
        send(-pgid);
    }
}

/// The watchdog itself: track groups from stdin until it ends, then kill
/// those left. Returns the exit status.
pub fn serve() -> i32 {
    let mut groups: Vec<i32> = Vec::new();
    let mut stdin = std::io::stdin().lock();
    let mut word = [0u8; 4];
    while stdin.read_exact(&mut word).is_ok() {
        let v = i32::from_le_bytes(word);
        if v > 0 {
            if groups.len() < MAX_GROUPS {
                groups.push(v);
            }
        } else if let Some(i) = groups.iter().position(|g| *g == -v) {
            groups.swap_remove(i);
        }
    }
    for g in groups {
        // SAFETY: kill(2) has no memory-safety preconditions; a group that
        // is gone already (ESRCH) is fine.
        unsafe { libc::kill(-g, libc::SIGKILL) };
    }
    0
}
