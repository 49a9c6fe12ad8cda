//! When a wait gives up. Like Kubernetes' `progressDeadlineSeconds`, a wait fails
//! when nothing it watches has changed for the progress deadline — rolling 200
//! querynodes that take a minute each is slow, not broken — and, only when
//! `--timeout` is given, when the whole run has taken that long.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// Kubernetes' default `progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE: Duration = Duration::from_secs(600);

/// The run's clocks: a progress deadline per wait, and an optional total.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    progress: Duration,
    total: Option<Duration>,
    ends: Option<Instant>,
}

impl Clock {
    pub fn start(progress: Duration, total: Option<Duration>) -> Self {
        Clock {
            progress,
            total,
            ends: total.map(|t| Instant::now() + t),
        }
    }

    /// A rollback gets a total of its own, as long as the run's.
    pub fn restart(&mut self) {
        *self = Clock::start(self.progress, self.total);
    }

    /// A new wait: its progress clock starts now.
    pub fn watch<T: PartialEq>(&self) -> Stall<T> {
        Stall {
            clock: *self,
            last: Instant::now(),
            seen: None,
            held: false,
        }
    }
}

/// Why a wait gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Nothing changed for the progress deadline.
    NoProgress(Duration),
    /// The `--timeout` of the whole run passed.
    Total(Duration),
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expired::NoProgress(d) => write!(
                f,
                "no progress for {} (--progress-deadline)",
                humantime::format_duration(*d)
            ),
            Expired::Total(d) => write!(
                f,
                "the run's --timeout of {} passed",
                humantime::format_duration(*d)
            ),
        }
    }
}

/// One wait's progress clock: reset whenever the state it watches changes.
#[derive(Debug)]
pub struct Stall<T> {
    clock: Clock,
    last: Instant,
    seen: Option<T>,
    held: bool,
}

impl<T: PartialEq> Stall<T> {
    /// The state now; a change is progress. Returns whether it changed.
    pub fn observe(&mut self, state: T) -> bool {
        let changed = self.seen.as_ref() != Some(&state);
        if changed {
            self.seen = Some(state);
            self.last = Instant::now();
        }
        changed
    }

    /// While held (a pod that runs its job), only the total applies; letting go
    /// restarts the progress clock.
    pub fn hold(&mut self, held: bool) {
        if self.held && !held {
            self.last = Instant::now();
        }
        self.held = held;
    }

    /// When the wait gives up and why; None when it may wait forever.
    pub fn expiry(&self) -> Option<(Instant, Expired)> {
        let stalled = (!self.held).then(|| {
            (
                self.last + self.clock.progress,
                Expired::NoProgress(self.clock.progress),
            )
        });
        let total = self
            .clock
            .ends
            .zip(self.clock.total)
            .map(|(at, t)| (at, Expired::Total(t)));
        match (stalled, total) {
            (Some(s), Some(t)) => Some(if t.0 < s.0 { t } else { s }),
            (s, t) => s.or(t),
        }
    }

    /// Completes when the wait gives up.
    pub async fn expired(&self) -> Expired {
        match self.expiry() {
            Some((at, why)) => {
                tokio::time::sleep_until(at).await;
                why
            }
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_change_restarts_the_progress_clock_and_a_repeat_does_not() {
        let clock = Clock::start(10 * MIN, None);
        let mut stall = clock.watch::<i32>();
        assert!(stall.observe(1));
        let (first, why) = stall.expiry().unwrap();
        assert_eq!(why, Expired::NoProgress(10 * MIN));
        assert!(!stall.observe(1));
        assert_eq!(stall.expiry().unwrap().0, first);
        std::thread::sleep(Duration::from_millis(5));
        assert!(stall.observe(2));
        assert!(stall.expiry().unwrap().0 > first);
    }

    #[test]
    fn the_total_wins_when_it_ends_first() {
        let clock = Clock::start(10 * MIN, Some(MIN));
        let stall = clock.watch::<()>();
        assert_eq!(stall.expiry().unwrap().1, Expired::Total(MIN));
        let long = Clock::start(MIN, Some(60 * MIN)).watch::<()>();
        assert_eq!(long.expiry().unwrap().1, Expired::NoProgress(MIN));
    }

    #[test]
    fn a_held_wait_has_only_the_total() {
        let mut free = Clock::start(MIN, None).watch::<()>();
        free.hold(true);
        assert_eq!(free.expiry(), None);
        let mut bounded = Clock::start(MIN, Some(5 * MIN)).watch::<()>();
        bounded.hold(true);
        assert_eq!(bounded.expiry().unwrap().1, Expired::Total(5 * MIN));
        bounded.hold(false);
        assert_eq!(bounded.expiry().unwrap().1, Expired::NoProgress(MIN));
    }

    #[test]
    fn expiry_reads_like_the_flags() {
        assert_eq!(
            Expired::NoProgress(Duration::from_secs(600)).to_string(),
            "no progress for 10m (--progress-deadline)"
        );
        assert_eq!(
            Expired::Total(Duration::from_secs(90)).to_string(),
            "the run's --timeout of 1m 30s passed"
        );
    }
}
