//! Write timestamps: a hybrid logical clock (Kulkarni et al., "Logical
//! physical clocks", 2014) with the balancer's id as the tie-breaker.
//!
//! A timestamp is wall-clock milliseconds plus a counter that orders
//! writes within one millisecond (or while the wall clock lags behind a
//! timestamp already seen). It is written as fixed-width text,
//! `<ms:013>.<counter:06>.<balancer id>`, so the Lua script on a data node
//! orders two timestamps by comparing strings: that comparison is
//! last-writer-wins.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// One balancer's clock.
#[derive(Debug)]
pub struct Clock {
    id: String,
    last: Mutex<(u64, u64)>,
}

/// A timestamp as its two numbers; `Ord` is the write order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp {
    millis: u64,
    counter: u64,
}

/// Counters wrap into the next millisecond before they outgrow six digits.
const MAX_COUNTER: u64 = 999_999;

impl Clock {
    /// A clock for the balancer `id`.
    pub fn new(id: &str) -> Clock {
        Clock {
            id: id.to_string(),
            last: Mutex::new((0, 0)),
        }
    }

    /// A timestamp later than every one this clock has issued or observed.
    pub fn now(&self) -> String {
        self.tick(wall_millis())
    }

    /// Moves the clock past `timestamp`, seen on a node, so this balancer's
    /// next write orders after it even when its wall clock lags.
    pub fn observe(&self, timestamp: &str) {
        let Some(seen) = parse(timestamp) else { return };
        let mut last = self.lock();
        if seen
            > (Stamp {
                millis: last.0,
                counter: last.1,
            })
        {
            *last = (seen.millis, seen.counter);
        }
    }

    fn tick(&self, wall: u64) -> String {
        let mut last = self.lock();
        let (millis, counter) = if wall > last.0 {
            (wall, 0)
        } else if last.1 < MAX_COUNTER {
            (last.0, last.1 + 1)
        } else {
            (last.0 + 1, 0)
        };
        *last = (millis, counter);
        format!("{millis:013}.{counter:06}.{}", self.id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, u64)> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse(timestamp: &str) -> Option<Stamp> {
    let mut parts = timestamp.splitn(3, '.');
    let millis = parts.next()?.parse().ok()?;
    let counter = parts.next()?.parse().ok()?;
    Some(Stamp { millis, counter })
}

fn wall_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_grow_even_when_the_wall_clock_stands_still_or_steps_back() {
        let clock = Clock::new("b1");
        let a = clock.tick(1_000);
        let b = clock.tick(1_000);
        let c = clock.tick(900);
        let d = clock.tick(1_001);
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
        assert_eq!(a, "0000000001000.000000.b1");
        assert_eq!(c, "0000000001000.000002.b1");
    }

    #[test]
    fn observing_a_later_timestamp_moves_the_clock_past_it() {
        let ahead = Clock::new("fast");
        let seen = ahead.tick(5_000);
        let clock = Clock::new("slow");
        clock.observe(&seen);
        let next = clock.tick(1_000);
        assert!(next > seen, "{next} <= {seen}");
    }

    #[test]
    fn the_balancer_id_breaks_ties() {
        let a = Clock::new("a").tick(7);
        let b = Clock::new("b").tick(7);
        assert!(a < b);
    }

    #[test]
    fn a_full_counter_rolls_into_the_next_millisecond() {
        let clock = Clock::new("x");
        clock.observe("0000000000010.999999.y");
        let next = clock.tick(10);
        assert_eq!(next, "0000000000011.000000.x");
        assert!(next.as_str() > "0000000000010.999999.y");
    }
}
