//! The leader's lease: how long after its last successful exchange with
//! ZooKeeper a leader may still act as one.
//!
//! Why: ZooKeeper expires a silent session a session timeout after the
//! last message it received from it, and only then can another contender
//! be elected. A leader cut off from ZooKeeper cannot know when that
//! happens, so it counts from when it *sent* its last request that was
//! answered: the server received it later, so the session lives at least
//! a session timeout past that instant. The lease is half of that, which
//! leaves the other half for clocks that run at different rates and for
//! the moment between a check and an action. What a lease cannot cover (a
//! leader paused between its check and its action for longer than the
//! other half) is what the fencing token is for: see [`crate::election`].

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A leader's lease, renewed by each answered exchange.
#[derive(Debug)]
pub struct Lease {
    length: Duration,
    renewed: Mutex<Option<Instant>>,
}

impl Lease {
    /// A lease of half `session_timeout`.
    pub fn for_session(session_timeout: Duration) -> Lease {
        Lease {
            length: session_timeout / 2,
            renewed: Mutex::new(None),
        }
    }

    /// How often a leader should exchange with ZooKeeper to keep the
    /// lease: three times per lease, so one lost exchange does not end it.
    pub fn renew_every(&self) -> Duration {
        self.length / 3
    }

    /// An exchange sent at `sent` was answered.
    pub fn renew(&self, sent: Instant) {
        let mut renewed = self.renewed.lock().expect("lease lock");
        *renewed = Some(renewed.map_or(sent, |r| r.max(sent)));
    }

    /// The lease ends now (leadership lost, session ended).
    pub fn revoke(&self) {
        *self.renewed.lock().expect("lease lock") = None;
    }

    /// Whether the lease holds at `now`.
    pub fn holds(&self, now: Instant) -> bool {
        holds(*self.renewed.lock().expect("lease lock"), now, self.length)
    }
}

/// A lease last renewed at `renewed` (never: `None`), `length` long,
/// holds at `now` when `now` is before its end.
pub fn holds(renewed: Option<Instant>, now: Instant, length: Duration) -> bool {
    renewed.is_some_and(|r| now < r + length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_holds_from_its_renewal_until_its_length_has_passed() {
        let t = Instant::now();
        let length = Duration::from_millis(1000);
        assert!(!holds(None, t, length), "never renewed");
        assert!(holds(Some(t), t, length));
        assert!(holds(Some(t), t + Duration::from_millis(999), length));
        assert!(!holds(Some(t), t + length, length));
    }

    #[test]
    fn a_lease_is_half_the_session_renewed_three_times_and_never_moved_back() {
        let lease = Lease::for_session(Duration::from_millis(6000));
        assert_eq!(lease.renew_every(), Duration::from_millis(1000));
        let t = Instant::now();
        assert!(!lease.holds(t));
        lease.renew(t + Duration::from_millis(500));
        lease.renew(t);
        assert!(
            lease.holds(t + Duration::from_millis(3400)),
            "the later renewal counts"
        );
        assert!(!lease.holds(t + Duration::from_millis(3500)));
        lease.revoke();
        assert!(!lease.holds(t + Duration::from_millis(600)));
    }
}
