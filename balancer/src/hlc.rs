//! Write timestamps: a hybrid logical clock (Kulkarni et al., "Logical
//! physical clocks", 2014) with the balancer's id as the tie-breaker.
//!
//! A timestamp is wall-clock milliseconds plus a counter that orders
//! writes within one millisecond (or while the wall clock lags behind a
//! timestamp already seen). It is written as fixed-width text,
//! `<ms:013>.<counter:06>.<balancer id>`, so the Lua script on a data node
//! orders two timestamps by comparing strings: that comparison is
//! last-writer-wins.
//!
//! **Bounded drift.** A clock moves past the timestamps it observes on the
//! nodes, so that a balancer whose wall clock lags still orders its next
//! write after what it saw. Unbounded, that lets one balancer with a fast
//! wall clock drag every other clock ahead, and win every write from then
//! on. So a timestamp more than `max_drift` ahead of this balancer's wall
//! clock is not adopted ([`Clock::observe`] says so, and the caller counts
//! it), and the nodes refuse writes stamped more than `max_drift` ahead of
//! their own clock (see [`crate::values`]).
//!
//! **Versions of a TTL change.** A changed time to live is a new version
//! of the value already written, ordered just after it: `<written>!<stamp>`,
//! the written version's stamp, then a fresh stamp of this clock
//! ([`Clock::just_after`]). It sorts after the written stamp and before
//! every stamp written after that one, because `!` sorts below every
//! character of a stamp (digits, dots, and balancer ids, which are
//! printable ASCII without `!`: checked at start), so a TTL change can
//! never win over a write made after the version it changed. Changes of
//! one written version order among themselves by their fresh stamps,
//! which are unique, so two changes racing never tie.
//!
//! **Test-only skew.** [`Clock::with_test_offset_ms`] shifts this clock's
//! reading of the wall clock by a fixed amount (`[testing] clock_offset_ms`),
//! so the chaos harness (`chaos/`) can run one balancer with a skewed clock
//! on a host whose clock it cannot change. Production leaves it at 0.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod text;

pub use text::drift_floor;
use text::text;

/// One balancer's clock.
#[derive(Debug)]
pub struct Clock {
    id: String,
    last: Mutex<(u64, u64)>,
    /// How far ahead of the wall clock an observed timestamp may be.
    max_drift_ms: u64,
    /// Added to every wall-clock reading; 0 outside tests.
    offset_ms: i64,
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
    /// A clock for the balancer `id` that adopts observed timestamps at
    /// most `max_drift` ahead of its wall clock.
    pub fn new(id: &str, max_drift: Duration) -> Clock {
        Clock {
            id: id.to_string(),
            last: Mutex::new((0, 0)),
            max_drift_ms: max_drift.as_millis() as u64,
            offset_ms: 0,
        }
    }

    /// The same clock reading the wall clock `offset_ms` off (negative:
    /// behind). Test-only: it simulates a skewed host clock.
    pub fn with_test_offset_ms(self, offset_ms: i64) -> Clock {
        Clock { offset_ms, ..self }
    }

    /// A timestamp later than every one this clock has issued or observed.
    pub fn now(&self) -> String {
        self.tick(self.wall())
    }

    /// Moves the clock past `timestamp`, seen on a node, so this balancer's
    /// next write orders after it even when its wall clock lags. Returns
    /// `false` when the timestamp is more than the drift bound ahead of the
    /// wall clock, and so was not adopted.
    pub fn observe(&self, timestamp: &str) -> bool {
        self.observe_at(timestamp, self.wall())
    }

    fn observe_at(&self, timestamp: &str, wall: u64) -> bool {
        let Some(seen) = parse(timestamp) else {
            return true;
        };
        if seen.millis > wall.saturating_add(self.max_drift_ms) {
            return false;
        }
        let mut last = self.lock();
        if seen
            > (Stamp {
                millis: last.0,
                counter: last.1,
            })
        {
            *last = (seen.millis, seen.counter);
        }
        true
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
        drop(last);
        text(millis, counter, &self.id)
    }

    /// The version of a TTL change to the version stamped `timestamp` (a
    /// write's, or an earlier change's): after it, before every stamp
    /// written after the write (see the module docs). `None` when
    /// `timestamp` is a change stamped further ahead than this clock
    /// adopts, so no fresh stamp can follow it.
    pub fn just_after(&self, timestamp: &str) -> Option<String> {
        self.just_after_at(timestamp, self.wall())
    }

    fn just_after_at(&self, timestamp: &str, wall: u64) -> Option<String> {
        let (written, change) = split_change(timestamp);
        if let Some(change) = change {
            self.observe_at(change, wall);
        }
        let stamp = self.tick(wall);
        if change.is_some_and(|change| stamp.as_str() <= change) {
            return None;
        }
        Some(format!("{written}{CHANGE_MARK}{stamp}"))
    }

    /// The wall clock as this balancer reads it: with the test offset.
    fn wall(&self) -> u64 {
        wall_millis().saturating_add_signed(self.offset_ms)
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

/// Marks a TTL change's version; sorts below every character of a stamp.
const CHANGE_MARK: char = '!';

/// The written version a timestamp is of, and the TTL change's own
/// stamp when it is one.
pub fn split_change(timestamp: &str) -> (&str, Option<&str>) {
    match timestamp.split_once(CHANGE_MARK) {
        Some((written, change)) => (written, Some(change)),
        None => (timestamp, None),
    }
}

fn wall_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock whose bound no test timestamp comes near.
    fn clock(id: &str) -> Clock {
        Clock::new(id, Duration::from_secs(3600 * 24 * 365 * 100))
    }

    #[test]
    fn timestamps_grow_even_when_the_wall_clock_stands_still_or_steps_back() {
        let clock = clock("b1");
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
        let ahead = clock("fast");
        let seen = ahead.tick(5_000);
        let clock = clock("slow");
        clock.observe(&seen);
        let next = clock.tick(1_000);
        assert!(next > seen, "{next} <= {seen}");
    }

    #[test]
    fn a_timestamp_beyond_the_drift_bound_is_not_adopted() {
        let clock = Clock::new("slow", Duration::from_millis(500));
        assert!(clock.observe_at("0000000010400.000000.fast", 10_000));
        assert_eq!(clock.tick(10_000), "0000000010400.000001.slow");
        assert!(!clock.observe_at("0000000010501.000000.fast", 10_000));
        assert_eq!(clock.tick(10_000), "0000000010400.000002.slow");
        assert!(!clock.observe("9999999999999.000000.fast"));
        assert!(clock.now().as_str() < "9999999999999");
    }

    #[test]
    fn a_test_offset_shifts_the_wall_clock_reading() {
        let ahead = clock("ahead").with_test_offset_ms(300);
        let behind = clock("behind").with_test_offset_ms(-300);
        let wall = wall_millis();
        assert!(ahead.wall() >= wall + 300);
        assert!(behind.wall() < wall);
        let ahead_ms: u64 = ahead.now()[..13].parse().unwrap();
        assert!(ahead_ms >= wall + 300, "{ahead_ms} vs {wall}");
    }

    #[test]
    fn the_balancer_id_breaks_ties() {
        let a = clock("a").tick(7);
        let b = clock("b").tick(7);
        assert!(a < b);
    }

    #[test]
    fn a_ttl_change_sorts_after_its_version_and_before_every_later_write() {
        let ids = [
            "b", "b-2", "b+", "b.x", "b/y", "b_z", "b~", "bA", "b0", "B", "a", "b\"q",
        ];
        let written = text(1_000, 5, "b");
        let later: Vec<String> = ids
            .iter()
            .flat_map(|id| [text(1_000, 5, id), text(1_000, 6, id), text(1_001, 0, id)])
            .filter(|w| w.as_str() > written.as_str())
            .collect();
        assert!(later.iter().any(|w| w.starts_with(written.as_str())));
        let mut change = written.clone();
        for (changer, wall) in [("z", 5_000), ("b", 4_000), ("a-1", 9_000)] {
            let next = clock(changer).just_after_at(&change, wall).unwrap();
            assert!(next > change, "{next} <= {change}");
            assert_eq!(split_change(&next).0, written);
            for w in &later {
                assert!(
                    next < *w,
                    "the change {next} sorts after the later write {w}"
                );
            }
            change = next;
        }
        assert_eq!(change, "0000000001000.000005.b!0000000009000.000000.a-1");
    }

    #[test]
    fn two_changes_to_one_version_never_tie() {
        let written = text(1_000, 0, "b");
        let one = clock("a");
        let (x, y) = (
            one.just_after_at(&written, 7),
            one.just_after_at(&written, 7),
        );
        assert!(x < y, "{x:?} {y:?}");
        let other = clock("c").just_after_at(&written, 7).unwrap();
        assert!(x.unwrap() < other);
    }

    #[test]
    fn a_change_stamped_beyond_the_drift_bound_has_no_next_change() {
        let clock = Clock::new("slow", Duration::from_millis(500));
        let ahead = format!("{}!{}", text(1_000, 0, "b"), text(90_000, 0, "fast"));
        assert_eq!(clock.just_after_at(&ahead, 10_000), None);
        let within = format!("{}!{}", text(1_000, 0, "b"), text(10_400, 0, "fast"));
        let next = clock.just_after_at(&within, 10_000).unwrap();
        assert!(next > within, "{next} {within}");
    }

    #[test]
    fn a_full_counter_rolls_into_the_next_millisecond() {
        let clock = clock("x");
        clock.observe("0000000000010.999999.y");
        let next = clock.tick(10);
        assert_eq!(next, "0000000000011.000000.x");
        assert!(next.as_str() > "0000000000010.999999.y");
    }
}
