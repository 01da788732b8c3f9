//! When the rebalancer looks for replica sets on one failure domain: a
//! walk of the whole index costs a read of every entry, so it is done
//! only after the serving nodes' domains change (a host added or back),
//! or after a node could take keys again (up again, or active again after
//! a drain; counted by [`crate::nodes::NodeTable::returns`]): a node away
//! for less than one pass leaves the domains the same from pass to pass,
//! yet keys placed meanwhile may share a host. Never while the serving
//! nodes are one domain (a loopback stack, where every set
//! shares it and nothing can be spread). A walk that left sets unspread
//! (a member down, no node on another host sampled in time or under 90%)
//! is owed again after a wait that doubles from [`RETRY_FIRST`] up to
//! [`RETRY_MOST`]: a set that cannot be spread now costs a walk that
//! often, and one held back by a moment of stale samples (a busy
//! machine) is not given up. Pure.

use std::time::{Duration, Instant};

/// The wait before the first walk again after one left sets unspread.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between walks while sets are left unspread.
const RETRY_MOST: Duration = Duration::from_secs(300);

/// The domains and returns last seen and whether a full walk is owed,
/// from when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spread {
    domains: Vec<u64>,
    returns: u64,
    pending: bool,
    /// Walks since the domains last changed.
    tries: u32,
    /// No walk is owed before this.
    not_before: Option<Instant>,
}

impl Spread {
    /// Notes the serving nodes' failure `domains` (in any order, repeats
    /// allowed) and the count of node `returns` at `now`; returns whether
    /// this pass should look for sets to spread.
    pub fn note(&mut self, mut domains: Vec<u64>, returns: u64, now: Instant) -> bool {
        domains.sort_unstable();
        domains.dedup();
        if domains != self.domains || returns != self.returns {
            self.pending = domains.len() >= 2;
            self.domains = domains;
            self.returns = returns;
            self.tries = 0;
            self.not_before = None;
        }
        self.pending && self.not_before.is_none_or(|t| now >= t)
    }

    /// A walk went through the whole index at `now`, looking for sets to
    /// spread or not (`looked`: what [`Spread::note`] said), leaving
    /// `unspread` sets it could not spread: once it looked, nothing is
    /// owed until the domains change again, unless it left some, which
    /// are owed after the next wait. A walk that did not look pays nothing.
    pub fn walked(&mut self, looked: bool, unspread: usize, now: Instant) {
        if !looked {
            return;
        }
        self.pending = unspread > 0;
        let wait = RETRY_FIRST.saturating_mul(1 << self.tries.min(16));
        self.not_before = Some(now + wait.min(RETRY_MOST));
        self.tries = self.tries.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_is_owed_when_the_domains_change_and_paid_by_a_full_one() {
        let now = Instant::now();
        let mut spread = Spread::default();
        assert!(
            spread.note(vec![2, 1, 2], 0, now),
            "a new leader looks once"
        );
        assert!(
            spread.note(vec![1, 2], 0, now),
            "still owed: no full walk yet"
        );
        spread.walked(true, 0, now);
        assert!(!spread.note(vec![2, 1], 0, now + RETRY_MOST * 2));
        assert!(spread.note(vec![1, 2, 3], 0, now), "a host added: at once");
        spread.walked(true, 0, now);
        assert!(!spread.note(vec![1, 2, 3], 0, now + RETRY_MOST * 2));
    }

    #[test]
    fn a_walk_that_left_sets_unspread_is_owed_again_after_a_growing_wait() {
        let mut now = Instant::now();
        let mut spread = Spread::default();
        assert!(spread.note(vec![1, 2], 0, now));
        let mut wait = RETRY_FIRST;
        for _ in 0..12 {
            spread.walked(true, 5, now);
            assert!(!spread.note(vec![1, 2], 0, now + wait / 2), "not yet");
            now += wait;
            assert!(spread.note(vec![1, 2], 0, now), "owed again after {wait:?}");
            wait = (wait * 2).min(RETRY_MOST);
        }
        assert_eq!(wait, RETRY_MOST, "the wait stops growing");
        spread.walked(true, 0, now);
        assert!(!spread.note(vec![1, 2], 0, now + RETRY_MOST), "paid");
    }

    #[test]
    fn a_walk_that_did_not_look_leaves_a_retry_owed() {
        let now = Instant::now();
        let mut spread = Spread::default();
        assert!(spread.note(vec![1, 2], 0, now));
        spread.walked(true, 5, now);
        assert!(!spread.note(vec![1, 2], 0, now), "waiting");
        spread.walked(false, 0, now);
        assert!(spread.note(vec![1, 2], 0, now + RETRY_FIRST), "still owed");
    }

    #[test]
    fn a_change_of_domains_owes_a_walk_at_once_whatever_the_wait() {
        let now = Instant::now();
        let mut spread = Spread::default();
        assert!(spread.note(vec![1, 2], 0, now));
        spread.walked(true, 5, now);
        spread.walked(true, 5, now);
        assert!(spread.note(vec![1, 2, 3], 0, now));
    }

    #[test]
    fn a_node_back_between_two_passes_owes_a_walk_though_the_domains_look_the_same() {
        let now = Instant::now();
        let mut spread = Spread::default();
        assert!(spread.note(vec![1, 2], 3, now));
        spread.walked(true, 0, now);
        assert!(!spread.note(vec![1, 2], 3, now + RETRY_MOST));
        assert!(
            spread.note(vec![1, 2], 4, now + RETRY_MOST),
            "a node came back"
        );
        spread.walked(true, 0, now + RETRY_MOST);
        assert!(!spread.note(vec![1, 2], 4, now + RETRY_MOST * 2));
        assert!(
            !spread.note(vec![2], 5, now),
            "one domain: nothing to spread onto"
        );
    }

    #[test]
    fn one_domain_owes_nothing() {
        let now = Instant::now();
        let mut spread = Spread::default();
        assert!(!spread.note(vec![7, 7, 7], 0, now));
        assert!(!spread.note(vec![], 0, now));
    }
}
