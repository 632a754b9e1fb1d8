//! Ctrl-C while plugins run.
//!
//! Plugins run in their own process groups, so the terminal's SIGINT reaches
//! only kplug. [`install`] turns SIGINT/SIGTERM/SIGHUP into a cancel of
//! every run in progress ([`super::cancel_all`]: SIGTERM to each group, a
//! grace period, SIGKILL), after which the operation stops and reports the
//! interrupted hooks as cancelled. A second signal SIGKILLs every running
//! group and exits at once.
//!
//! A *wait* is different: while kplug waits for a lock or for a server
//! ([`abortable`]), nothing has changed yet, so an interrupt ends kplug at
//! once (exit 130) instead of letting the operation go on afterwards. What
//! a killed writer leaves in the store's staging is cleared by the next.
//!
//! The handler only writes a byte to a pipe (async-signal-safe); a thread
//! reading the pipe does the real work.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static SIGNALLED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();
/// How many [`Abortable`] waits are in progress, and what the last began.
static WAITS: AtomicUsize = AtomicUsize::new(0);
static WAITING_FOR: Mutex<&str> = Mutex::new("");
/// How many [`Changing`] store changes are in progress; an abort waits
/// for them (another thread may be committing while this one waits).
static CHANGING: AtomicUsize = AtomicUsize::new(0);
/// An interrupt came during a wait while a change was in progress.
static ABORT_PENDING: AtomicBool = AtomicBool::new(false);

/// Exit status for an interrupted kplug (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

extern "C" fn on_signal(_: libc::c_int) {
    if SIGNALLED.swap(true, Ordering::SeqCst) {
        // Second signal: the user insists. Take everything down with us.
        super::kill_all_now();
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(EXIT_INTERRUPTED) };
    }
    let fd = WRITE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is valid.
        unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    }
}

/// Route interrupts to [`super::cancel_all`]. Idempotent.
pub fn install() {
    INSTALL.call_once(|| {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return;
        }
        let (read_fd, write_fd) = (fds[0], fds[1]);
        for fd in fds {
            // SAFETY: fd was just created; FD_CLOEXEC keeps it out of plugins.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        WRITE_FD.store(write_fd, Ordering::SeqCst);
        std::thread::spawn(move || {
            let mut b = [0u8; 1];
            // SAFETY: read_fd is open for the life of the process.
            while unsafe { libc::read(read_fd, b.as_mut_ptr().cast(), 1) } != 1 {}
            if WAITS.load(Ordering::SeqCst) > 0 {
                if CHANGING.load(Ordering::SeqCst) == 0 {
                    abort_wait();
                }
                ABORT_PENDING.store(true, Ordering::SeqCst);
            }
            super::cancel_all();
        });
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: a zeroed sigaction with a valid handler is well formed.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    });
}

/// Whether an interrupt arrived.
pub fn interrupted() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}

/// A wait in progress; see [`abortable`].
#[must_use = "the wait is abortable only while this is held"]
pub struct Abortable(());

impl Drop for Abortable {
    fn drop(&mut self) {
        WAITS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Mark a wait (for a lock, for a server) during which nothing has changed
/// yet: an interrupt while it is held, or one that came before, ends kplug
/// with exit 130 and says what it was waiting for. Installs the handlers.
pub fn abortable(what: &'static str) -> Abortable {
    install();
    *WAITING_FOR.lock().unwrap_or_else(|e| e.into_inner()) = what;
    WAITS.fetch_add(1, Ordering::SeqCst);
    if interrupted() {
        if CHANGING.load(Ordering::SeqCst) == 0 {
            abort_wait();
        }
        ABORT_PENDING.store(true, Ordering::SeqCst);
    }
    Abortable(())
}

/// A change to the store in progress (a commit): an interrupt that would
/// abort a wait elsewhere lets it finish first.
#[must_use = "the change is protected only while this is held"]
pub struct Changing(());

impl Drop for Changing {
    fn drop(&mut self) {
        if CHANGING.fetch_sub(1, Ordering::SeqCst) == 1
            && ABORT_PENDING.load(Ordering::SeqCst)
            && WAITS.load(Ordering::SeqCst) > 0
        {
            abort_wait();
        }
    }
}

/// Mark a store change in progress.
pub fn changing() -> Changing {
    CHANGING.fetch_add(1, Ordering::SeqCst);
    Changing(())
}

fn abort_wait() -> ! {
    super::kill_all_now();
    let what = *WAITING_FOR.lock().unwrap_or_else(|e| e.into_inner());
    if ABORT_PENDING.load(Ordering::SeqCst) {
        eprintln!(
            "\nerror: interrupted while {what}; the install being committed was finished first, nothing else was changed"
        );
    } else {
        eprintln!("\nerror: interrupted while {what}; nothing was changed");
    }
    // SAFETY: _exit ends the process without running destructors of other
    // threads' state, which is what an abort wants.
    unsafe { libc::_exit(EXIT_INTERRUPTED) }
}
