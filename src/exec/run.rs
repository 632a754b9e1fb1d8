//! Running a plugin to completion with captured output.
//!
//! The child gets its own process group so that a timeout (or a cancel)
//! reaches everything it started: SIGTERM to the group, a grace period,
//! then SIGKILL. Output is captured by reader threads with hard bounds —
//! stdout up to a limit, stderr as a rolling tail — so a plugin printing
//! without end costs neither memory nor a hang. stdin is written from its
//! own thread so a plugin that never reads it cannot block kplug.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// stdin documents up to this size are written without a thread: a fresh
/// pipe holds at least this much (Linux: 64 KiB; POSIX guarantees 4 KiB,
/// and every platform kplug runs on has at least 16 KiB).
const PIPE_WRITE_AT_ONCE: usize = 16 * 1024;

/// How long a process group has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// Longest stderr line streamed in one piece.
const MAX_LINE: usize = 64 * 1024;

/// After the leader exited: how often to look whether anything is left in
/// its group, and how long output may still arrive once nothing is.
const POLL_GROUP: Duration = Duration::from_millis(20);
const PIPE_GRACE: Duration = Duration::from_millis(100);

/// Whether no process is left in group `pgid`.
fn group_is_empty(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the group exists.
    let alive = unsafe { libc::kill(-pgid, 0) } == 0;
    !alive && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// What to run and within which bounds.
pub struct Spawn {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The complete environment (the child inherits nothing else).
    pub env: Vec<(OsString, OsString)>,
    /// Working directory of the child; kplug's own when `None`.
    pub cwd: Option<PathBuf>,
    /// Written to the child's stdin; `None` gives it `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Bytes of stdout kept.
    pub stdout_limit: usize,
    /// Kill the process group once stdout passes the limit (for documents
    /// that are useless when cut, like INFO); otherwise the excess is
    /// drained and dropped.
    pub kill_on_stdout_overflow: bool,
    /// Bytes of the end of stderr kept.
    pub stderr_tail: usize,
    /// Stream stderr live to kplug's stderr, each line behind this prefix.
    pub stderr_prefix: Option<String>,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
    /// Killed by kplug because the timeout passed.
    TimedOut,
    /// Killed by kplug because stdout passed its limit.
    OutputLimit,
    /// Stopped by kplug because the user interrupted it (see [`cancel_all`]).
    Cancelled,
}

#[derive(Debug)]
pub struct Outcome {
    pub termination: Termination,
    pub stdout: Vec<u8>,
    /// True when stdout passed the limit and was cut.
    pub stdout_truncated: bool,
    pub stderr_tail: Vec<u8>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.termination == Termination::Exited(0)
    }

    /// The last non-empty lines of stderr, for error messages.
    pub fn stderr_summary(&self, max_lines: usize) -> String {
        let text = String::from_utf8_lossy(&self.stderr_tail);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(max_lines)..].join("\n")
    }
}

enum Msg {
    Cancel,
    Exited(io::Result<ExitStatus>),
    StdoutOverflow,
    StdoutDone,
    StderrDone,
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions. A negative pid
    // addresses the process group; ESRCH (already gone) is fine.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Output read so far: a reader thread appends, [`run`] takes it when the
/// reader is done or when it stops waiting for it.
type Captured = Arc<Mutex<(Vec<u8>, bool)>>;

fn read_bounded(
    mut r: impl Read,
    limit: usize,
    tx: &mpsc::Sender<Msg>,
    report_overflow: bool,
    into: &Captured,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let mut guard = into.lock().unwrap_or_else(|e| e.into_inner());
                let (kept, truncated) = &mut *guard;
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                if n > room && !*truncated {
                    *truncated = true;
                    if report_overflow {
                        let _ = tx.send(Msg::StdoutOverflow);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// Cancellation: runs in progress register here so that one interrupt
/// reaches all of them, wherever they are waiting.
static CANCELLED: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static ACTIVE: Mutex<Vec<(u64, mpsc::Sender<Msg>)>> = Mutex::new(Vec::new());

/// Stop every run in progress (SIGTERM, grace, SIGKILL to each process
/// group) and refuse to start new ones. Used on Ctrl-C.
pub fn cancel_all() {
    CANCELLED.store(true, Ordering::SeqCst);
    for (_, tx) in ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = tx.send(Msg::Cancel);
    }
}

/// Whether [`cancel_all`] was called.
pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Process groups of the runs in progress, readable from a signal handler
/// (no locks, no allocation): see [`kill_all_now`]. Runs beyond the table's
/// size are still cancelled normally, only not by a second Ctrl-C.
static GROUPS: [AtomicI32; 512] = [const { AtomicI32::new(0) }; 512];

/// SIGKILL every process group in progress. Async-signal-safe: used when
/// the user presses Ctrl-C a second time and kplug exits at once.
pub fn kill_all_now() {
    for slot in &GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

/// Deregisters a run from [`ACTIVE`] and [`GROUPS`] however `run` returns.
struct Registration(u64, Option<usize>, i32);

impl Registration {
    fn new(tx: mpsc::Sender<Msg>, pgid: i32) -> Registration {
        let slot = GROUPS.iter().position(|s| {
            s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        ACTIVE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, tx.clone()));
        // A cancel between the check in `run` and this registration would
        // otherwise be missed.
        if cancelled() {
            let _ = tx.send(Msg::Cancel);
        }
        super::watchdog::watch(pgid);
        Registration(id, slot, pgid)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        super::watchdog::unwatch(self.2);
        if let Some(slot) = self.1 {
            GROUPS[slot].store(0, Ordering::SeqCst);
        }
        ACTIVE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != self.0);
    }
}

/// Write complete lines of `chunk` to stderr behind `prefix`; a partial last
/// line waits in `pending` for the rest.
fn stream_lines(
    sink: &mut impl Write,
    prefix: &str,
    pending: &mut Vec<u8>,
    chunk: &[u8],
    flush: bool,
) {
    let mut out = Vec::new();
    // Only the new bytes are searched: a line that never ends costs
    // linear time, not a rescan of all it held so far.
    let mut rest = chunk;
    while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.append(pending);
        out.extend_from_slice(&rest[..=pos]);
        rest = &rest[pos + 1..];
    }
    pending.extend_from_slice(rest);
    // A line longer than this is shown in pieces rather than kept whole.
    if pending.len() > MAX_LINE || (flush && !pending.is_empty()) {
        out.extend_from_slice(prefix.as_bytes());
        out.append(pending);
        out.push(b'\n');
    }
    if !out.is_empty() {
        // One write per batch of lines keeps concurrent hooks' lines whole.
        let _ = sink.write_all(&out);
    }
}

fn read_tail(mut r: impl Read, tail: usize, prefix: Option<&str>, into: &Captured) {
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut err = io::stderr();
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(p) = prefix {
                    stream_lines(&mut err, p, &mut pending, &buf[..n], false);
                }
                let mut guard = into.lock().unwrap_or_else(|e| e.into_inner());
                let kept = &mut guard.0;
                kept.extend_from_slice(&buf[..n]);
                // Trim in batches, not on every read, to stay linear.
                if kept.len() > tail * 2 {
                    kept.drain(..kept.len() - tail);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    if let Some(p) = prefix {
        stream_lines(&mut err, p, &mut pending, &[], true);
    }
}

fn cancelled_outcome(start: Instant) -> Outcome {
    Outcome {
        termination: Termination::Cancelled,
        stdout: Vec::new(),
        stdout_truncated: false,
        stderr_tail: Vec::new(),
        elapsed: start.elapsed(),
    }
}

/// Spawn, retrying briefly on ETXTBSY: another thread of kplug forking at
/// the moment a just-written executable was closed can hold it open for
/// writing until that child execs.
fn spawn_retrying(cmd: &mut Command) -> io::Result<std::process::Child> {
    let mut delay = Duration::from_millis(5);
    for _ in 0..6 {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                thread::sleep(delay);
                delay *= 2;
            }
            other => return other,
        }
    }
    cmd.spawn()
}

/// Run a process to completion within the bounds of `spawn`.
///
/// Returns an error only when the process cannot be started.
pub fn run(spawn: Spawn) -> io::Result<Outcome> {
    let start = Instant::now();
    if cancelled() {
        return Ok(cancelled_outcome(start));
    }
    // Durations are bounded where they are parsed; this stays safe anyway.
    let deadline = start
        .checked_add(spawn.timeout)
        .unwrap_or(start + crate::protocol::MAX_DURATION);
    // No `pre_exec`: std then uses posix_spawn, much cheaper than fork for
    // a fan-out of hooks, and which (unlike execvp) never hands a file
    // without `#!` to /bin/sh. Hooks die with kplug through the watchdog.
    let mut cmd = Command::new(&spawn.program);
    cmd.args(&spawn.args)
        .env_clear()
        .envs(spawn.env)
        .stdin(if spawn.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &spawn.cwd {
        cmd.current_dir(dir);
    }
    let mut child = spawn_retrying(&mut cmd)?;
    let pgid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    let _registration = Registration::new(tx.clone(), pgid);

    if let (Some(data), Some(mut w)) = (spawn.stdin, child.stdin.take()) {
        // A plugin may exit without reading its stdin: EPIPE is expected
        // (SIGPIPE is ignored). A document that fits in an empty pipe is
        // written at once; a larger one from a thread, so that a plugin that
        // never reads cannot block kplug.
        if data.len() <= PIPE_WRITE_AT_ONCE {
            let _ = w.write_all(&data);
        } else {
            thread::spawn(move || {
                let _ = w.write_all(&data);
            });
        }
    }
    let out_capture: Captured = Arc::default();
    let err_capture: Captured = Arc::default();
    let (out_buf, err_buf) = (out_capture.clone(), err_capture.clone());
    let spawn_tail = spawn.stderr_tail;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (limit, kill_on_overflow) = (spawn.stdout_limit, spawn.kill_on_stdout_overflow);
    let out_tx = tx.clone();
    thread::spawn(move || {
        read_bounded(stdout, limit, &out_tx, kill_on_overflow, &out_buf);
        let _ = out_tx.send(Msg::StdoutDone);
    });
    let stderr = child.stderr.take().expect("stderr is piped");
    let tail = spawn.stderr_tail;
    let prefix = spawn.stderr_prefix;
    let err_tx = tx.clone();
    thread::spawn(move || {
        read_tail(stderr, tail, prefix.as_deref(), &err_buf);
        let _ = err_tx.send(Msg::StderrDone);
    });
    thread::spawn(move || {
        let _ = tx.send(Msg::Exited(child.wait()));
    });

    let mut status: Option<ExitStatus> = None;
    let (mut stdout_done, mut stderr_done) = (false, false);
    let mut killed: Option<Termination> = None;
    let mut kill_deadline: Option<Instant> = None;
    let mut sent_kill = false;

    // When the leader exited but its pipes are still open.
    let mut exited_at: Option<Instant> = None;

    // Done when the process has exited and both pipes are closed, or when
    // the group was killed and the pipes stay open anyway (a process that
    // left the group still holds them): then stop waiting for them. A
    // leader that exits by itself, leaving only processes outside its group
    // (a daemon started with `setsid`) holding the pipes, is done too, after
    // a moment's grace for the last output to arrive.
    while status.is_none() || !stdout_done || !stderr_done {
        let now = Instant::now();
        let wait_until = match (killed, kill_deadline) {
            (None, _) if exited_at.is_some() => deadline.min(now + POLL_GROUP),
            (None, _) => deadline,
            (Some(_), Some(k)) => k,
            (Some(_), None) => now + GRACE,
        };
        let msg = rx.recv_timeout(wait_until.saturating_duration_since(now));
        match msg {
            Ok(Msg::Cancel) => {
                if killed.is_none() && status.is_none() {
                    killed = Some(Termination::Cancelled);
                    signal_group(pgid, libc::SIGTERM);
                    kill_deadline = Some(Instant::now() + GRACE);
                }
            }
            Ok(Msg::Exited(s)) => {
                status = Some(s?);
                exited_at = Some(Instant::now());
            }
            Ok(Msg::StdoutDone) => stdout_done = true,
            Ok(Msg::StderrDone) => stderr_done = true,
            Ok(Msg::StdoutOverflow) => {
                if killed.is_none() {
                    killed = Some(Termination::OutputLimit);
                    signal_group(pgid, libc::SIGKILL);
                    sent_kill = true;
                    kill_deadline = Some(Instant::now() + GRACE);
                }
            }
            // The deadline passed. If the leader already exited, whatever it
            // left in its group still holds the pipes: that is a timeout too.
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if killed.is_none()
                    && let Some(at) = exited_at
                    && Instant::now() < deadline
                {
                    if group_is_empty(pgid) && at.elapsed() >= PIPE_GRACE {
                        break;
                    }
                    continue;
                }
                if killed.is_none() {
                    killed = Some(Termination::TimedOut);
                    signal_group(pgid, libc::SIGTERM);
                    kill_deadline = Some(Instant::now() + GRACE);
                } else if !sent_kill {
                    signal_group(pgid, libc::SIGKILL);
                    sent_kill = true;
                    kill_deadline = Some(Instant::now() + GRACE);
                } else if status.is_some() {
                    // Killed and reaped, but something outside the group
                    // still holds a pipe: give up on the rest of the output.
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if killed.is_some() && !sent_kill {
        // Whatever in the group survived SIGTERM's grace (the leader may
        // have exited on SIGTERM while a grandchild ignored it).
        signal_group(pgid, libc::SIGKILL);
    }

    let status = status.expect("the waiter thread always reports");
    let termination = match killed {
        Some(k) => k,
        None => match (status.code(), status.signal()) {
            (Some(code), _) => Termination::Exited(code),
            (None, Some(sig)) => Termination::Signaled(sig),
            (None, None) => Termination::Exited(1),
        },
    };
    // What the readers got, whether or not they finished (a pipe held by a
    // process outside the group never ends).
    let (stdout, stdout_truncated) =
        std::mem::take(&mut *out_capture.lock().unwrap_or_else(|e| e.into_inner()));
    let stderr_tail = {
        let mut kept = std::mem::take(&mut err_capture.lock().unwrap_or_else(|e| e.into_inner()).0);
        if kept.len() > spawn_tail {
            kept.drain(..kept.len() - spawn_tail);
        }
        kept
    };
    Ok(Outcome {
        termination,
        stdout,
        stdout_truncated,
        stderr_tail,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> Outcome {
        run(Spawn {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            cwd: None,
            stdin: Some(b"hello stdin".to_vec()),
            timeout,
            stdout_limit: 1024,
            kill_on_stdout_overflow: true,
            stderr_tail: 16,
            stderr_prefix: None,
        })
        .unwrap()
    }

    #[test]
    fn captures_output_and_exit_code() {
        let o = sh("cat; echo oops >&2; exit 3", Duration::from_secs(10));
        assert_eq!(o.termination, Termination::Exited(3));
        assert_eq!(o.stdout, b"hello stdin");
        assert_eq!(o.stderr_tail, b"oops\n");
    }

    #[test]
    fn keeps_only_the_stderr_tail() {
        let o = sh(
            "i=0; while [ $i -lt 100 ]; do echo line$i >&2; i=$((i+1)); done",
            Duration::from_secs(10),
        );
        assert_eq!(o.stderr_tail, b"7\nline98\nline99\n");
    }

    #[test]
    fn kills_on_timeout() {
        let o = sh("echo $$; exec sleep 30", Duration::from_millis(200));
        assert_eq!(o.termination, Termination::TimedOut);
        assert!(o.elapsed < Duration::from_secs(20));
        // The child is gone, not merely abandoned.
        let pid: i32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
        // SAFETY: signal 0 only checks that the process exists.
        assert_ne!(
            unsafe { libc::kill(pid, 0) },
            0,
            "the child outlived its timeout"
        );
    }

    #[test]
    fn kills_on_stdout_overflow() {
        let o = sh("yes", Duration::from_secs(30));
        assert_eq!(o.termination, Termination::OutputLimit);
        assert_eq!(o.stdout.len(), 1024);
        assert!(o.stdout_truncated);
    }

    #[test]
    fn reports_signals() {
        let o = sh("kill -9 $$", Duration::from_secs(10));
        assert_eq!(o.termination, Termination::Signaled(9));
    }

    #[test]
    fn a_plugin_ignoring_stdin_does_not_block() {
        let big = vec![b'x'; 4 * 1024 * 1024];
        let o = run(Spawn {
            program: "/bin/true".into(),
            args: vec![],
            env: vec![],
            cwd: None,
            stdin: Some(big),
            timeout: Duration::from_secs(10),
            stdout_limit: 10,
            kill_on_stdout_overflow: false,
            stderr_tail: 10,
            stderr_prefix: None,
        })
        .unwrap();
        assert!(o.success());
    }

    #[test]
    fn missing_program_is_an_error() {
        let r = run(Spawn {
            program: "/nonexistent/kplug-x".into(),
            args: vec![],
            env: vec![],
            cwd: None,
            stdin: None,
            timeout: Duration::from_secs(1),
            stdout_limit: 10,
            kill_on_stdout_overflow: false,
            stderr_tail: 10,
            stderr_prefix: None,
        });
        assert!(r.is_err());
    }

    #[test]
    fn a_daemon_outside_the_group_holding_stdout_does_not_stall() {
        // The leader answers and exits; a daemon in its own session keeps
        // stdout open. The answer stands.
        let o = sh("setsid sleep 30 & echo answered", Duration::from_secs(20));
        assert_eq!(o.termination, Termination::Exited(0));
        assert_eq!(o.stdout, b"answered\n");
        assert!(o.elapsed < Duration::from_secs(20));
        // Control: a child left in the group is the hook's own, and counts.
        let o = sh("sleep 30 & echo answered", Duration::from_millis(300));
        assert_eq!(o.termination, Termination::TimedOut);
    }

    #[test]
    fn an_endless_stderr_line_is_streamed_in_pieces() {
        let mut pending = Vec::new();
        let chunk = vec![b'x'; 16 * 1024];
        for _ in 0..(MAX_LINE / chunk.len() + 2) {
            stream_lines(&mut io::sink(), "", &mut pending, &chunk, false);
            assert!(pending.len() <= MAX_LINE, "{}", pending.len());
        }
        let mut shown = Vec::new();
        stream_lines(&mut shown, "> ", &mut pending, b"tail\nnext", false);
        assert!(shown.starts_with(b"> xxx") && shown.ends_with(b"tail\n"));
        assert_eq!(pending, b"next");
        stream_lines(&mut io::sink(), "", &mut pending, b"", true);
        assert!(pending.is_empty());
    }
}
