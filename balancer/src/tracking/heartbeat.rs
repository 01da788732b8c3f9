//! How current one invalidation stream is, judged from its heartbeat.
//! Pure bookkeeping over instants the stream hands in; no I/O.
//!
//! The stream sends `PING` now and then and notes when each one left
//! (before it leaves, so its `PONG` always finds it). Redis writes a key's
//! invalidation to this connection no later than its reply to the write
//! that changed the key (in the same event-loop pass, the invalidation
//! first), and answers this connection's commands in order. So a `PING`
//! sent after a write was acknowledged to anyone is answered behind that
//! write's invalidation: once its `PONG` is read, every write acknowledged
//! before the `PING` was *sent* has been applied to the cache. That
//! instant, of the newest answered `PING`, is the stream's `fresh_since`.
//! The moment the `PONG` *arrived* proves nothing more: behind a large
//! backlog of invalidations (Redis sends one client at most 64 KiB per
//! pass) a `PONG` can arrive long after its `PING` left, while a newer
//! write's invalidation still waits in the server.
//!
//! So a cache serves from the stream only while `now - fresh_since` is at
//! most its `max_lag`, and a hit then misses at most the writes
//! acknowledged in the last `max_lag`.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The lag a stream of a server whose commands time out after `timeout`
/// may have: the `configured` one, but at most half the timeout, so a hung
/// server's values stop being served well before a write, which waits a
/// whole timeout, can give up on it and be acknowledged elsewhere.
pub(crate) fn max_lag(configured: Duration, timeout: Duration) -> Duration {
    configured.min(timeout / 2)
}

/// The heartbeat period that keeps a healthy stream within `max_lag`: an
/// answered `PING` is at most two periods old when the next one is read,
/// which leaves half the lag for scheduling delays.
pub(crate) fn ping_period(max_lag: Duration) -> Duration {
    max_lag / 4
}

/// One session's heartbeat.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    /// When each `PING` not answered yet was sent, oldest first.
    outstanding: VecDeque<Instant>,
    /// When the newest answered `PING` was sent: every invalidation the
    /// server generated before then has been applied.
    fresh_since: Instant,
}

impl Heartbeat {
    /// A session whose handshake was sent at `opened_at`: its cache is
    /// emptied once tracking is on, so nothing older can be missing.
    pub(crate) fn new(opened_at: Instant) -> Heartbeat {
        Heartbeat {
            outstanding: VecDeque::new(),
            fresh_since: opened_at,
        }
    }

    /// A `PING` is about to be sent, at `at`.
    pub(crate) fn sent(&mut self, at: Instant) {
        self.outstanding.push_back(at);
    }

    /// A `PONG` was read: the oldest outstanding `PING` is answered.
    pub(crate) fn answered(&mut self) {
        if let Some(sent) = self.outstanding.pop_front() {
            self.fresh_since = self.fresh_since.max(sent);
        }
    }

    /// Whether the stream is at most `max_lag` behind the server at `now`.
    pub(crate) fn is_fresh(&self, now: Instant, max_lag: Duration) -> bool {
        now.saturating_duration_since(self.fresh_since) <= max_lag
    }

    /// When the newest answered `PING` was sent.
    pub(crate) fn fresh_since(&self) -> Instant {
        self.fresh_since
    }

    /// Whether a `PING` waits for its `PONG`.
    pub(crate) fn awaiting(&self) -> bool {
        !self.outstanding.is_empty()
    }

    /// Whether a `PING` has gone unanswered for longer than `timeout`.
    pub(crate) fn is_silent(&self, now: Instant, timeout: Duration) -> bool {
        self.outstanding
            .front()
            .is_some_and(|sent| now.saturating_duration_since(*sent) > timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn freshness_counts_from_when_the_ping_was_sent_not_when_the_pong_came() {
        let t0 = Instant::now();
        let mut heartbeat = Heartbeat::new(t0);
        heartbeat.sent(t0 + 10 * MS);
        // The PONG comes 300 ms later, behind a backlog: it proves the
        // stream current only up to t0 + 10 ms.
        heartbeat.answered();
        let arrived = t0 + 310 * MS;
        assert!(!heartbeat.is_fresh(arrived, 200 * MS));
        assert!(heartbeat.is_fresh(arrived, 300 * MS));
        assert!(heartbeat.is_fresh(t0 + 210 * MS, 200 * MS));
    }

    #[test]
    fn pongs_answer_pings_in_order() {
        let t0 = Instant::now();
        let mut heartbeat = Heartbeat::new(t0);
        heartbeat.sent(t0 + 100 * MS);
        heartbeat.sent(t0 + 200 * MS);
        let now = t0 + 250 * MS;
        assert!(!heartbeat.is_fresh(now, 200 * MS), "only the handshake");
        heartbeat.answered();
        assert!(heartbeat.is_fresh(now, 150 * MS));
        assert!(!heartbeat.is_fresh(now, 149 * MS));
        heartbeat.answered();
        assert!(heartbeat.is_fresh(now, 50 * MS));
        heartbeat.answered();
        assert!(
            heartbeat.is_fresh(now, 50 * MS),
            "a stray PONG changes nothing"
        );
    }

    #[test]
    fn a_new_session_is_fresh_from_its_handshake() {
        let t0 = Instant::now();
        let heartbeat = Heartbeat::new(t0);
        assert!(heartbeat.is_fresh(t0 + 200 * MS, 200 * MS));
        assert!(!heartbeat.is_fresh(t0 + 201 * MS, 200 * MS));
    }

    #[test]
    fn silence_is_a_ping_unanswered_for_a_timeout() {
        let t0 = Instant::now();
        let mut heartbeat = Heartbeat::new(t0);
        assert!(
            !heartbeat.is_silent(t0 + 10_000 * MS, 500 * MS),
            "no PING yet"
        );
        heartbeat.sent(t0);
        heartbeat.sent(t0 + 400 * MS);
        assert!(!heartbeat.is_silent(t0 + 500 * MS, 500 * MS));
        assert!(heartbeat.is_silent(t0 + 501 * MS, 500 * MS));
        heartbeat.answered();
        assert!(!heartbeat.is_silent(t0 + 900 * MS, 500 * MS));
        assert!(heartbeat.is_silent(t0 + 901 * MS, 500 * MS));
    }

    #[test]
    fn the_lag_is_at_most_half_the_timeout_and_pings_keep_within_it() {
        assert_eq!(max_lag(200 * MS, 500 * MS), 200 * MS);
        assert_eq!(max_lag(200 * MS, 300 * MS), 150 * MS);
        assert_eq!(ping_period(200 * MS), 50 * MS);
        assert!(2 * ping_period(max_lag(200 * MS, 500 * MS)) <= 200 * MS / 2);
    }
}
