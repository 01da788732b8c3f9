//! The log of failed requests: the first failure of each reason in detail,
//! then one line per reason per interval with how many more there were.
//!
//! Why: a failing cluster fails every request the same way. Filling the
//! nodes to `maxmemory` once wrote 383,000 WARN lines (86 MB) in a minute,
//! one per 507; the metrics already count each failure. Here the log says
//! what went wrong and how often, in a few lines.
//!
//! [`Windows`] decides, pure; [`FailureLog`] holds them behind a lock,
//! writes the lines, and [`FailureLog::run`] flushes the counts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// What to do with one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// The first of its reason in this window: log it in detail.
    Detail,
    /// Counted for the window's line.
    Counted,
}

/// One reason's open window: when it began and how many failures it
/// counted beyond the detailed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    began: Instant,
    more: u64,
}

/// Every reason's window.
#[derive(Debug, Default)]
pub struct Windows(HashMap<&'static str, Window>);

impl Windows {
    /// A failure of `reason` at `now`.
    pub fn note(&mut self, reason: &'static str, now: Instant) -> Say {
        match self.0.get_mut(reason) {
            Some(window) => {
                window.more += 1;
                Say::Counted
            }
            None => {
                self.0.insert(
                    reason,
                    Window {
                        began: now,
                        more: 0,
                    },
                );
                Say::Detail
            }
        }
    }

    /// Ends the windows `interval` old at `now`: returns each reason that
    /// counted failures, with the count, and opens it a new window; closes
    /// the quiet ones, so the next failure of their reason is detailed.
    pub fn flush(&mut self, now: Instant, interval: Duration) -> Vec<(&'static str, u64)> {
        let mut lines = Vec::new();
        self.0.retain(|reason, window| {
            if now.duration_since(window.began) < interval {
                return true;
            }
            if window.more == 0 {
                return false;
            }
            lines.push((*reason, window.more));
            *window = Window {
                began: now,
                more: 0,
            };
            true
        });
        lines.sort_unstable();
        lines
    }
}

/// The failure log of a running balancer.
#[derive(Debug)]
pub struct FailureLog {
    interval: Duration,
    windows: Mutex<Windows>,
}

impl FailureLog {
    /// A log that writes a count line per reason every `interval`.
    pub fn new(interval: Duration) -> FailureLog {
        FailureLog {
            interval,
            windows: Mutex::new(Windows::default()),
        }
    }

    /// A request failed with `status` for `reason`, as `detail` says.
    pub fn failed(&self, reason: &'static str, status: u16, detail: &dyn std::fmt::Display) {
        let say = self
            .windows
            .lock()
            .expect("failure log lock")
            .note(reason, Instant::now());
        if say == Say::Detail {
            tracing::warn!(reason, status, error = %detail,
                "request failed (more of this reason are counted, not logged, for {:?})",
                self.interval);
        }
    }

    /// Writes the count lines every interval until `stop` turns true.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            let lines = self
                .windows
                .lock()
                .expect("failure log lock")
                .flush(Instant::now(), self.interval);
            for (reason, count) in lines {
                tracing::warn!(
                    reason,
                    count,
                    "more requests failed in the last {:?}",
                    self.interval
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(10);

    fn secs(start: Instant, s: u64) -> Instant {
        start + Duration::from_secs(s)
    }

    #[test]
    fn the_first_failure_of_a_reason_is_detailed_and_the_rest_counted() {
        let t = Instant::now();
        let mut windows = Windows::default();
        assert_eq!(windows.note("node_full", t), Say::Detail);
        assert_eq!(windows.note("timeout", t), Say::Detail);
        for _ in 0..9_999 {
            assert_eq!(windows.note("node_full", t), Say::Counted);
        }
        assert_eq!(windows.flush(secs(t, 9), EVERY), vec![]);
        assert_eq!(
            windows.flush(secs(t, 10), EVERY),
            vec![("node_full", 9_999)]
        );
    }

    #[test]
    fn a_reason_that_keeps_failing_gets_a_line_per_interval_and_no_more_detail() {
        let t = Instant::now();
        let mut windows = Windows::default();
        windows.note("node_full", t);
        windows.note("node_full", t);
        assert_eq!(windows.flush(secs(t, 10), EVERY), vec![("node_full", 1)]);
        assert_eq!(windows.note("node_full", secs(t, 11)), Say::Counted);
        assert_eq!(windows.flush(secs(t, 15), EVERY), vec![]);
        assert_eq!(windows.flush(secs(t, 20), EVERY), vec![("node_full", 1)]);
    }

    #[test]
    fn a_reason_quiet_for_an_interval_is_detailed_again() {
        let t = Instant::now();
        let mut windows = Windows::default();
        windows.note("timeout", t);
        assert_eq!(windows.flush(secs(t, 10), EVERY), vec![]);
        assert_eq!(windows.note("timeout", secs(t, 12)), Say::Detail);
    }
}
