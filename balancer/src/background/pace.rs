//! Rate limits for the background walks (resync, index rebuild): a walk
//! that has handled some keys waits until those keys, and every key before
//! them, were allowed to be done, so it never goes faster than its setting
//! however fast the servers answer, and the time the work itself took
//! counts toward the wait. A walk held up for a while (a node down, a full
//! repair queue) may catch up by at most [`BURST`] worth of keys.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The most a walk that fell behind may catch up at once.
const BURST: Duration = Duration::from_secs(1);

/// Spreads a walk out to at most `per_sec` keys a second.
#[derive(Debug)]
pub(super) struct Pace {
    per_key: Duration,
    /// When the keys handled so far are allowed to be done.
    due: Mutex<Instant>,
}

impl Pace {
    /// A pace of `per_sec` keys a second (at least one), from now.
    pub(super) fn new(per_sec: u32) -> Pace {
        Pace {
            per_key: Duration::from_secs(1) / per_sec.max(1),
            due: Mutex::new(Instant::now()),
        }
    }

    /// Counts `keys` more keys handled; returns how long to wait before
    /// the next.
    pub(super) fn time(&self, keys: usize) -> Duration {
        let now = Instant::now();
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = now.checked_sub(BURST).unwrap_or(now);
        *due = (*due).max(earliest) + self.per_key.saturating_mul(keys as u32);
        due.saturating_duration_since(now)
    }

    /// Counts `keys` more keys handled and waits as long as [`Pace::time`]
    /// says.
    pub(super) async fn wait(&self, keys: usize) {
        tokio::time::sleep(self.time(keys)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_walk_takes_as_long_as_its_keys_allow() {
        let pace = Pace::new(1000);
        let start = Instant::now();
        pace.wait(500).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        pace.wait(500).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        let start = Instant::now();
        Pace::new(0).wait(1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1), "never zero");
    }

    #[tokio::test(start_paused = true)]
    async fn the_work_counts_toward_the_wait_and_a_stall_buys_one_burst() {
        tokio::time::advance(BURST).await;
        let pace = Pace::new(1000);
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(pace.time(500), Duration::from_millis(200));
        tokio::time::advance(Duration::from_millis(900)).await;
        assert_eq!(pace.time(100), Duration::ZERO, "behind: no wait");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            pace.time(2000),
            Duration::from_secs(1),
            "one second caught up"
        );
    }
}
