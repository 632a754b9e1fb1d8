//! Checking on a timer: the first check after a random 5–15 minutes,
//! then every 45–90 minutes (jittered) after each attempt, so a fleet that
//! starts together does not ask together. [`Scheduler::stop`] cuts a wait
//! short and abandons a download in flight.

use crate::{Client, Outcome, Result, Updater};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The waits of a [`Scheduler`]: each is drawn uniformly from its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub first: (Duration, Duration),
    pub every: (Duration, Duration),
}

impl Default for Intervals {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(n * 60);
        Intervals {
            first: (m(5), m(15)),
            every: (m(45), m(90)),
        }
    }
}

/// The stop flag waits watch.
#[derive(Debug, Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
    /// Read by the client's download, to abandon it.
    cancel: Arc<std::sync::atomic::AtomicBool>,
}

impl Stop {
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        self.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// Time, for the scheduler (tests inject their own: no sleeps).
pub trait Clock: Send + Sync {
    /// Wait `d`, or until `stop` is set; whether the wait ran its course.
    fn wait(&self, d: Duration, stop: &Stop) -> bool;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wait(&self, d: Duration, stop: &Stop) -> bool {
        // A wait past what the clock can count is a wait until stopped.
        let deadline = std::time::Instant::now().checked_add(d);
        let mut stopped = stop.stopped.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *stopped {
                return false;
            }
            let now = std::time::Instant::now();
            let left = match deadline {
                Some(d) if now >= d => return true,
                Some(d) => d - now,
                None => Duration::from_secs(3600),
            };
            stopped = stop
                .wake
                .wait_timeout(stopped, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The waits of a schedule, jittered, for a caller that runs its own loop
/// (in the foreground, say): the first from `intervals.first`, every later
/// one from `intervals.every`.
pub struct Schedule {
    intervals: Intervals,
    jitter: Jitter,
    started: bool,
}

impl Schedule {
    pub fn new(intervals: Intervals) -> Schedule {
        Schedule {
            intervals,
            jitter: Jitter::seeded(),
            started: false,
        }
    }

    /// How long to wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let range = if self.started {
            self.intervals.every
        } else {
            self.intervals.first
        };
        self.started = true;
        self.jitter.between(range)
    }
}

/// A running scheduler; stop it with [`Scheduler::stop`] (or drop it).
pub struct Scheduler {
    stop: Arc<Stop>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A small PRNG for jitter (not for secrets): splitmix64.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        let id = crate::random_id();
        Jitter(u64::from_str_radix(&id[..16], 16).unwrap_or(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (lo, hi) = (ms(lo), ms(hi).max(ms(lo)));
        // The span wraps to 0 only for the whole u64 range.
        let span = (hi - lo).wrapping_add(1);
        let r = if span == 0 {
            self.next()
        } else {
            self.next() % span
        };
        Duration::from_millis(lo.saturating_add(r))
    }
}

impl Scheduler {
    /// Run `client.run_once(updater)` on the default timer.
    pub fn start<U: Updater + Send + 'static>(client: Client, updater: U) -> Scheduler {
        Scheduler::start_with(
            client,
            updater,
            Intervals::default(),
            Arc::new(SystemClock),
            |_| {},
        )
    }

    /// The same with other intervals, another clock, and `observe` called
    /// after each attempt with its result. After an update, the client
    /// reports the new version.
    pub fn start_with<U: Updater + Send + 'static>(
        client: Client,
        mut updater: U,
        intervals: Intervals,
        clock: Arc<dyn Clock>,
        observe: impl Fn(&Result<Outcome>) + Send + 'static,
    ) -> Scheduler {
        let stop = Arc::new(Stop::default());
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut schedule = Schedule::new(intervals);
            let mut client = client.with_cancel(flag.cancel.clone());
            loop {
                if !clock.wait(schedule.next_wait(), &flag) {
                    return;
                }
                let result = client.run_once(&mut updater);
                if let Ok(Outcome::Updated { version, .. }) = &result {
                    client = client.with_version(version);
                }
                observe(&result);
                // `cancel` is set first by `stop`: checked too, so an attempt
                // cut short is never followed by another.
                if flag.is_stopped() || flag.cancel.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
            }
        });
        Scheduler {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop: a wait ends at once; a download in flight is abandoned (the
    /// next chunk it receives ends it); a check or an event in flight is
    /// let finish (bounded by the transport's timeouts).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_its_range() {
        let mut j = Jitter(7);
        let r = (Duration::from_secs(300), Duration::from_secs(900));
        let draws: Vec<Duration> = (0..1000).map(|_| j.between(r)).collect();
        assert!(draws.iter().all(|d| *d >= r.0 && *d <= r.1));
        let spread = draws.iter().max().unwrap().as_secs() - draws.iter().min().unwrap().as_secs();
        assert!(spread > 500, "draws spread over the range: {spread}s");
    }

    #[test]
    fn the_system_clock_is_cut_short_by_stop() {
        let stop = Arc::new(Stop::default());
        let s = stop.clone();
        let t = std::thread::spawn(move || SystemClock.wait(Duration::from_secs(3600), &s));
        std::thread::sleep(Duration::from_millis(50));
        stop.stop();
        // An hour's wait that returns now, saying it was stopped.
        assert!(!t.join().unwrap(), "the wait did not run its course");
        // Positive control: an unstopped short wait runs its course.
        assert!(SystemClock.wait(Duration::from_millis(1), &Stop::default()));
    }
}
