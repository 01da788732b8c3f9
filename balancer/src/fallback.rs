//! The hashing fallback, as a pure decision: which nodes a lookup asks
//! when the index cannot name a key's replicas.
//!
//! A read tries, in order: the near cache (the value itself), the local
//! location cache, the index Redis, and the hashing fallback. The index's
//! answer decides how wide the fallback looks ([`Scope`]): a key the index does not
//! know can only sit where placement puts keys it cannot index (the key's
//! top candidates), while with the index unreachable an indexed key may
//! sit anywhere placement's bounded-load overflow put it, so every up node
//! is asked.

use crate::config::PlacementConfig;

/// Which nodes the hashing fallback asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The key's top candidates: where placement puts keys it cannot index.
    Candidates,
    /// Every up node: the index is unreachable.
    AllUp,
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
    fn nothing_up_asks_nobody() {
        assert!(nodes_to_ask(Scope::Candidates, &[], &[], &PlacementConfig::top(2), 2).is_empty());
        assert!(nodes_to_ask(Scope::AllUp, &[], &[], &PlacementConfig::top(2), 2).is_empty());
    }
}
