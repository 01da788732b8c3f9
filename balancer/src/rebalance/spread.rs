//! When the rebalancer looks for replica sets on one failure domain: a
//! walk of the whole index costs a read of every entry, so it is done
//! only after the serving nodes' domains change (a host added or back),
//! and never while they are one domain (a loopback stack, where every set
//! shares it and nothing can be spread). A walk that left sets unspread
//! (a member down, a node not sampled in time) is tried again, up to
//! `TRIES` walks per change. Pure.

/// Walks per change of the domains while sets are left unspread.
const TRIES: u32 = 3;

/// The domains last seen and whether a full walk is still owed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spread {
    domains: Vec<u64>,
    pending: bool,
    tries: u32,
}

impl Spread {
    /// Notes the serving nodes' failure `domains` (in any order, repeats
    /// allowed); returns whether this pass should look for sets to spread.
    pub fn note(&mut self, mut domains: Vec<u64>) -> bool {
        domains.sort_unstable();
        domains.dedup();
        if domains != self.domains {
            self.pending = domains.len() >= 2;
            self.domains = domains;
            self.tries = 0;
        }
        self.pending
    }

    /// A walk went through the whole index, leaving `unspread` sets it
    /// could not spread: nothing is owed until the domains change again,
    /// unless it left some and has not had `TRIES` walks yet.
    pub fn walked(&mut self, unspread: usize) {
        self.tries += 1;
        self.pending = unspread > 0 && self.tries < TRIES;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_is_owed_when_the_domains_change_and_paid_by_a_full_one() {
        let mut spread = Spread::default();
        assert!(spread.note(vec![2, 1, 2]), "a new leader looks once");
        assert!(spread.note(vec![1, 2]), "still owed: no full walk yet");
        spread.walked(0);
        assert!(!spread.note(vec![2, 1]));
        assert!(spread.note(vec![1, 2, 3]), "a host added");
        spread.walked(0);
        assert!(!spread.note(vec![1, 2, 3]));
    }

    #[test]
    fn a_walk_that_left_sets_unspread_is_tried_again_a_few_times() {
        let mut spread = Spread::default();
        assert!(spread.note(vec![1, 2]));
        for _ in 1..TRIES {
            spread.walked(5);
            assert!(spread.note(vec![1, 2]), "tried again");
        }
        spread.walked(5);
        assert!(!spread.note(vec![1, 2]), "given up until the next change");
        assert!(spread.note(vec![1, 2, 3]));
    }

    #[test]
    fn one_domain_owes_nothing() {
        let mut spread = Spread::default();
        assert!(!spread.note(vec![7, 7, 7]));
        assert!(!spread.note(vec![]));
    }
}
