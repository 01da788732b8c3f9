//! Rate limits for the background walks (resync, index rebuild): a walk
//! that has handled some keys waits as long as those keys are allowed to
//! take, so it never goes faster than its setting however fast the
//! servers answer.

use std::time::Duration;

/// Spreads a walk out to at most `per_sec` keys a second.
#[derive(Debug)]
pub(super) struct Pace {
    per_key: Duration,
}

impl Pace {
    /// A pace of `per_sec` keys a second (at least one).
    pub(super) fn new(per_sec: u32) -> Pace {
        Pace {
            per_key: Duration::from_secs(1) / per_sec.max(1),
        }
    }

    /// The time `keys` keys take at this pace.
    pub(super) fn time(&self, keys: usize) -> Duration {
        self.per_key * keys as u32
    }

    /// Waits for the time `keys` keys take at this pace.
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
        let start = tokio::time::Instant::now();
        pace.wait(500).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        let start = tokio::time::Instant::now();
        Pace::new(0).wait(1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1), "never zero");
    }
}
