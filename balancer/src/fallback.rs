//! The hashing fallback, as a pure decision: which nodes a lookup asks
//! when the index cannot name a key's replicas.
//!
//! A read tries, in order: the near cache (the value itself), the local
//! location cache, the index Redis, and the hashing fallback. The index's
//! answer decides how wide the fallback looks ([`Scope`]): a key the index does not
//! know can only sit where placement puts keys it cannot index (the key's
//! top candidates), while with the index unreachable an indexed key may
//! sit anywhere placement's bounded-load overflow put it, so every up node
//! is asked. The same holds for an index that lost its data and is not
//! yet rebuilt (see `index/recovery.rs`): its missing entries prove
//! nothing.
//!
//! A write whose claim *created* the key's entry looks for copies already
//! on nodes the same way ([`unlisted`]), and starts that search alongside
//! the claim ([`search_before_claim`]) so that a new key pays the longer
//! of the two round trips, not both.

use crate::config::PlacementConfig;

/// Which nodes the hashing fallback asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The key's top candidates: where placement puts keys it cannot index.
    Candidates,
    /// Every up node: the index is unreachable.
    AllUp,
}

/// How wide to look for a key the index answered without an entry:
/// its candidates while the index is complete, else every up node.
pub fn unlisted(complete: bool) -> Scope {
    if complete {
        Scope::Candidates
    } else {
        Scope::AllUp
    }
}

/// How wide a read of a key the index lists must look beyond the entry:
/// not at all while the index is complete; every up node while it is
/// being rebuilt, since the entry may name only the copies the rebuild
/// has reached, older ones among them.
pub fn listed(complete: bool) -> Option<Scope> {
    (!complete).then_some(Scope::AllUp)
}

/// Whether a search as wide as `done` answers for one as wide as `needed`.
pub fn covers(done: Scope, needed: Scope) -> bool {
    done == Scope::AllUp || needed == Scope::Candidates
}

/// Whether a write's early search, as wide as `done` and skipping the
/// nodes it proposed (`skipped`: they get the write, and say whether they
/// held the key), answers for the search `needed` outside the key's `set`
/// as the claim returned it: it must be as wide, and skip only members.
pub fn reusable(done: Scope, needed: Scope, skipped: &[&str], set: &[String]) -> bool {
    covers(done, needed) && skipped.iter().all(|s| set.iter().any(|m| m == s))
}

/// The search for copies a write needs once its claim answered: none when
/// a complete index already listed the key; else as wide as
/// [`unlisted`] says. An index not yet rebuilt may list only some of a
/// key's copies (the rebuild has not reached the others), so it is
/// searched for even when listed.
pub fn search_after_claim(created: bool, complete: bool) -> Option<Scope> {
    (created || !complete).then(|| unlisted(complete))
}

/// The search a write starts alongside its claim, before it knows whether
/// the key is new, as wide as the index's last known state needs. None
/// when a complete index is expected to list the key, its location being
/// cached (most likely an overwrite: a claim that turns out to create the
/// entry searches after it), or when the index is down (the write then
/// looks on every node without it).
pub fn search_before_claim(located: bool, index_down: bool, complete: bool) -> Option<Scope> {
    (!(index_down || located && complete)).then(|| unlisted(complete))
}

/// The nodes a fallback lookup asks, best-ranked first, without repeats.
///
/// `readable` is every up node ranked for the key (draining ones
/// included); `placing` the nodes that take new keys, ranked. For
/// [`Scope::Candidates`]: the top `k + R - 1` of both rankings (the
/// ranking as it is now, and as it was before any node started draining),
/// since each of a key's R replicas was chosen among the top `k` of what
/// the earlier ones left.
pub fn nodes_to_ask(
    scope: Scope,
    readable: &[usize],
    placing: &[usize],
    policy: &PlacementConfig,
    factor: usize,
) -> Vec<usize> {
    let mut asked: Vec<usize> = match scope {
        Scope::AllUp => readable.to_vec(),
        Scope::Candidates => {
            let spread = factor.saturating_sub(1);
            let top = |ranked: &[usize]| {
                let k = (policy.candidate_count(ranked.len()) + spread).min(ranked.len());
                ranked[..k].to_vec()
            };
            let mut asked = top(readable);
            for node in top(placing) {
                if !asked.contains(&node) {
                    asked.push(node);
                }
            }
            asked
        }
    };
    asked.dedup();
    asked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_key_is_looked_for_everywhere_only_while_the_index_is_rebuilt() {
        assert_eq!(listed(true), None);
        assert_eq!(listed(false), Some(Scope::AllUp));
    }

    #[test]
    fn all_up_asks_every_readable_node_in_rank_order() {
        let asked = nodes_to_ask(
            Scope::AllUp,
            &[3, 1, 0, 2],
            &[1, 0],
            &PlacementConfig::top(2),
            2,
        );
        assert_eq!(asked, vec![3, 1, 0, 2]);
    }

    #[test]
    fn candidates_are_the_top_k_plus_r_minus_one() {
        let readable = [3, 1, 0, 2, 4];
        let k2 = PlacementConfig::top(2);
        for (factor, expected) in [(1, vec![3, 1]), (2, vec![3, 1, 0]), (9, readable.to_vec())] {
            let asked = nodes_to_ask(Scope::Candidates, &readable, &readable, &k2, factor);
            assert_eq!(asked, expected, "R = {factor}");
        }
    }

    #[test]
    fn candidates_also_cover_the_ranking_before_a_node_drained() {
        // Node 3 drains: it is still readable, but no longer places keys,
        // so the placing ranking reaches one node further.
        let asked = nodes_to_ask(
            Scope::Candidates,
            &[3, 1, 0, 2],
            &[1, 0, 2],
            &PlacementConfig::top(2),
            1,
        );
        assert_eq!(asked, vec![3, 1, 0]);
    }

    #[test]
    fn an_incomplete_index_proves_nothing_by_a_missing_entry() {
        assert_eq!(unlisted(true), Scope::Candidates);
        assert_eq!(unlisted(false), Scope::AllUp);
    }

    #[test]
    fn a_wider_search_answers_for_a_narrower_one() {
        assert!(covers(Scope::AllUp, Scope::AllUp));
        assert!(covers(Scope::AllUp, Scope::Candidates));
        assert!(covers(Scope::Candidates, Scope::Candidates));
        assert!(!covers(Scope::Candidates, Scope::AllUp));
    }

    #[test]
    fn a_write_searches_early_unless_its_key_is_located_or_the_index_down() {
        assert_eq!(
            search_before_claim(false, false, true),
            Some(Scope::Candidates)
        );
        assert_eq!(search_before_claim(false, false, false), Some(Scope::AllUp));
        assert_eq!(search_before_claim(true, false, true), None);
        assert_eq!(
            search_before_claim(true, false, false),
            Some(Scope::AllUp),
            "an index being rebuilt may list a key partly"
        );
        assert_eq!(search_before_claim(false, true, true), None);
    }

    #[test]
    fn an_early_search_is_reused_if_wide_enough_and_it_skipped_only_members() {
        let set = vec!["a".to_string(), "b".to_string()];
        let (c, all) = (Scope::Candidates, Scope::AllUp);
        assert!(
            reusable(c, c, &["a", "b"], &set),
            "the claim took the proposal"
        );
        assert!(reusable(all, c, &["a"], &set));
        assert!(!reusable(c, all, &["a"], &set), "not wide enough");
        assert!(
            !reusable(all, all, &["a", "c"], &set),
            "c is no member: its copy would be missed"
        );
    }

    #[test]
    fn a_claim_needs_a_search_unless_a_complete_index_listed_the_key() {
        assert_eq!(search_after_claim(false, true), None);
        assert_eq!(search_after_claim(true, true), Some(Scope::Candidates));
        assert_eq!(search_after_claim(false, false), Some(Scope::AllUp));
        assert_eq!(search_after_claim(true, false), Some(Scope::AllUp));
    }

    #[test]
    fn nothing_up_asks_nobody() {
        assert!(nodes_to_ask(Scope::Candidates, &[], &[], &PlacementConfig::top(2), 2).is_empty());
        assert!(nodes_to_ask(Scope::AllUp, &[], &[], &PlacementConfig::top(2), 2).is_empty());
    }
}
