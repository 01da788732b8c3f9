//! Replica choice, as pure decisions: how many copies a write makes, which
//! nodes a new key's set proposes, which nodes stand in for members that
//! are down or fail a write, and which members of a set another write
//! changed this write must still reach.
//!
//! A write whose claim created the key's index entry may still find copies
//! of the key on nodes (the index lost them, an entry expired early, a
//! write went around an index outage): [`supersede`] decides which nodes
//! join the set so that the write reaches every copy.
//!
//! The proposals come from [`crate::placement`]: each replica is the best
//! candidate (least utilized among the top `k` by rendezvous rank) of what
//! the earlier ones left, on a host of its own while there is one, so a
//! key's copies land on distinct nodes and hosts. A set placed without
//! the index ([`unindexed`]) keeps to the plain walk, so the hashing
//! fallback finds it among the top `k + R - 1`; a recorded set may sit
//! anywhere, and is found through its entry.

use std::sync::Arc;

use crate::config::PlacementConfig;
use crate::placement::{self, Contender};

/// Copies a new write makes: the replication factor, capped at the nodes
/// up; `None` when no node is up.
pub fn count(factor: usize, up: usize) -> Option<usize> {
    (up > 0).then(|| factor.min(up))
}

/// The set proposed for a new key: `count` distinct nodes, best first,
/// overflowing past full candidates (the index will remember where).
pub fn propose(ranked: &[Contender], policy: &PlacementConfig, count: usize) -> Vec<usize> {
    placement::choose_replicas(ranked, policy, true, count, &[])
}

/// Where a write goes when the index cannot remember it: the best of the
/// key's top candidates only, so the fallback finds it again.
pub fn unindexed(ranked: &[Contender], policy: &PlacementConfig, count: usize) -> Vec<usize> {
    placement::choose_replicas(ranked, policy, false, count, &[])
}

/// Up to `count` stand-ins for a write, chosen by placement among the
/// ranked nodes that `excluded` does not rule out (members of the set,
/// nodes already tried), on other hosts than the set's members (`taken`,
/// their domains) where there are any.
pub fn substitutes(
    ranked: &[Contender],
    excluded: impl Fn(usize) -> bool,
    policy: &PlacementConfig,
    count: usize,
    taken: &[u64],
) -> Vec<usize> {
    if count == 0 {
        return Vec::new();
    }
    let free: Vec<Contender> = ranked
        .iter()
        .filter(|c| !excluded(c.node))
        .copied()
        .collect();
    placement::choose_replicas(&free, policy, true, count, taken)
}

/// What a write that created its key's entry does about the copies a
/// search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseding<'h> {
    /// The holders outside the claimed set: they join it, so the write
    /// (and every later one, and the delete) reaches their copies. The
    /// claimed set is kept whole: a racing writer that read it from the
    /// index writes there.
    pub joining: Vec<&'h str>,
    /// A holder had a live value: the write replaces it (200, not 201).
    pub existed: bool,
}

/// Decides [`Superseding`] from the `claimed` set and the `holders` found,
/// each a node id and whether its copy is live (else a tombstone).
pub fn supersede<'h>(claimed: &[String], holders: &'h [(&'h str, bool)]) -> Superseding<'h> {
    Superseding {
        joining: holders
            .iter()
            .map(|&(id, _)| id)
            .filter(|id| !claimed.iter().any(|c| c == id))
            .collect(),
        existed: holders.iter().any(|&(_, live)| live),
    }
}

/// The members of a key's `current` set that a write has not `reached`:
/// when another write changed the set first, this one must reach them, or
/// the set would name a node without this write.
pub fn unreached(current: &[String], reached: &[Arc<str>]) -> Vec<String> {
    current
        .iter()
        .filter(|id| !reached.iter().any(|r| **r == ***id))
        .cloned()
        .collect()
}

/// The replicas that took a write, in the order of the key's `set`
/// (primary first), substitutes after: the order reads ask them in.
pub fn in_set_order(mut took: Vec<Arc<str>>, set: &[String]) -> Vec<Arc<str>> {
    took.sort_by_key(|id| set.iter().position(|s| **s == **id).unwrap_or(set.len()));
    took
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(utils: &[f64]) -> Vec<Contender> {
        utils
            .iter()
            .enumerate()
            .map(|(node, &u)| Contender {
                node,
                utilization: Some(u),
                domain: 0,
            })
            .collect()
    }

    #[test]
    fn count_is_capped_at_the_nodes_up() {
        assert_eq!(count(2, 4), Some(2));
        assert_eq!(count(3, 2), Some(2));
        assert_eq!(count(2, 0), None);
    }

    #[test]
    fn proposals_are_distinct_and_least_utilized_first() {
        let r = ranked(&[0.5, 0.2, 0.1, 0.3]);
        assert_eq!(propose(&r, &PlacementConfig::top(2), 2), vec![1, 2]);
        assert_eq!(unindexed(&r, &PlacementConfig::top(2), 2), vec![1, 2]);
    }

    #[test]
    fn only_proposals_overflow_past_full_candidates() {
        let r = ranked(&[0.9, 0.8, 0.05, 0.05]);
        assert_eq!(propose(&r, &PlacementConfig::top(2), 1), vec![2]);
        assert_eq!(unindexed(&r, &PlacementConfig::top(2), 1), vec![1]);
    }

    #[test]
    fn holders_outside_the_claimed_set_join_it() {
        let claimed = vec!["c".to_string(), "d".to_string()];
        let none = supersede(&claimed, &[]);
        assert!(none.joining.is_empty() && !none.existed);
        let found = [("a", true), ("d", false), ("b", false)];
        let s = supersede(&claimed, &found);
        assert_eq!(s.joining, vec!["a", "b"]);
        assert!(s.existed, "a live copy makes it an overwrite");
        let tombstones = supersede(&claimed, &[("a", false)]);
        assert_eq!(tombstones.joining, vec!["a"]);
        assert!(!tombstones.existed, "after a delete the key is new again");
    }

    #[test]
    fn substitutes_skip_excluded_nodes_and_never_repeat() {
        let r = ranked(&[0.1, 0.2, 0.3, 0.4]);
        assert_eq!(
            substitutes(&r, |n| n == 0, &PlacementConfig::top(2), 1, &[]),
            vec![1]
        );
        assert_eq!(
            substitutes(&r, |n| n < 2, &PlacementConfig::top(2), 5, &[]),
            vec![2, 3]
        );
        assert!(substitutes(&r, |_| true, &PlacementConfig::top(2), 1, &[]).is_empty());
        assert!(substitutes(&r, |_| false, &PlacementConfig::top(2), 0, &[]).is_empty());
    }

    #[test]
    fn unreached_members_are_those_not_written() {
        let current: Vec<String> = ["a", "c", "d"].iter().map(|s| s.to_string()).collect();
        let reached: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("e")];
        assert_eq!(
            unreached(&current, &reached),
            vec!["c".to_string(), "d".to_string()]
        );
        assert!(unreached(&current[..1], &reached).is_empty());
        assert!(unreached(&[], &reached).is_empty());
    }

    #[test]
    fn replicas_that_took_a_write_are_kept_primary_first() {
        let set: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let took: Vec<Arc<str>> = vec![Arc::from("c"), Arc::from("b"), Arc::from("a")];
        let ordered = in_set_order(took, &set);
        let ordered: Vec<&str> = ordered.iter().map(|s| &**s).collect();
        assert_eq!(ordered, ["a", "b", "c"]);
    }
}
