//! When the rebalancer looks for replica sets on one failure domain: a
//! walk of the whole index costs a read of every entry, so it is done
//! only after the serving nodes' domains change (a host added or back),
//! and never while they are one domain (a loopback stack, where every set
//! shares it and nothing can be spread). Pure.

/// The domains last seen and whether a full walk is still owed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spread {
    domains: Vec<u64>,
    pending: bool,
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
        }
        self.pending
    }

    /// A walk went through the whole index: nothing is owed until the
    /// domains change again.
    pub fn walked(&mut self) {
        self.pending = false;
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
        spread.walked();
        assert!(!spread.note(vec![2, 1]));
        assert!(spread.note(vec![1, 2, 3]), "a host added");
        spread.walked();
        assert!(!spread.note(vec![1, 2, 3]));
    }

    #[test]
    fn one_domain_owes_nothing() {
        let mut spread = Spread::default();
        assert!(!spread.note(vec![7, 7, 7]));
        assert!(!spread.note(vec![]));
    }
}
