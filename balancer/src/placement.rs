//! Where a new key goes: the least-utilized of its top-`k` rendezvous
//! candidates, with a bounded-load cap. Pure: no I/O, no clocks.
//!
//! Power of `k` choices (Mitzenmacher, "The power of two choices in
//! randomized load balancing", 2001) keeps the fullest node close to the
//! mean while a key stays findable by asking only `k` nodes. The cap from
//! consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
//! 2018) handles the case where all `k` candidates are already far above
//! the mean: placement then walks further down the key's ranking to the
//! first node under `(1 + epsilon) x mean`, but only when the choice can be
//! recorded in the index (`may_overflow`), since the hashing fallback asks
//! only the top `k`.
//!
//! A key's copies go to distinct *failure domains* (hosts) where they can:
//! each node's domain is the host part of its address ([`domain_of`]), so
//! two Redis servers on one machine, or in one container, are one domain,
//! and losing that host loses at most one copy of a key that had a choice.
//! This too applies only where the index records the set: the fallback's
//! search bound assumes the plain top-`k` walk.

use crate::config::{Choices, PlacementConfig};

/// A node as placement sees it, in the key's rendezvous order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contender {
    /// The node's index in the node table.
    pub node: usize,
    /// Utilization in `[0, inf)`: memory used plus pending bytes over
    /// capacity; `None` when the node's report is missing or stale.
    pub utilization: Option<f64>,
    /// The node's failure domain ([`domain_of`], hashed): copies of a key
    /// go to distinct domains where they can.
    pub domain: u64,
}

/// A node's failure domain: the host part of its `host:port` address,
/// hashed (FNV-1a, so every balancer computes the same value). Every node
/// of a loopback stack is one domain; the nodes of one Docker host
/// (`host1:6379`, `host1:6380`) are one domain.
pub fn domain_of(addr: &str) -> u64 {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl PlacementConfig {
    /// The top `k` candidates compete, with the default slack: for tests.
    #[cfg(test)]
    pub(crate) fn top(k: usize) -> PlacementConfig {
        PlacementConfig {
            choices: Choices::Top(std::num::NonZeroUsize::new(k).expect("k > 0")),
            ..PlacementConfig::default()
        }
    }

    /// How many of `n` ranked nodes are candidates.
    pub fn candidate_count(&self, n: usize) -> usize {
        match self.choices {
            Choices::All => n,
            Choices::Top(k) => k.get().min(n),
        }
    }
}

/// Chooses the node for a new key among `ranked` (up nodes only, best
/// rendezvous rank first). Returns `None` only when `ranked` is empty.
///
/// Nodes with unknown utilization rank after every known one; ties keep
/// rendezvous order.
pub fn choose(ranked: &[Contender], policy: &PlacementConfig, may_overflow: bool) -> Option<usize> {
    choose_under(
        ranked,
        policy,
        may_overflow,
        load_cap(ranked, policy.load_epsilon),
    )
}

/// [`choose`] with the bounded-load `cap` given: for a caller that passes
/// only the head of a long ranking and knows the mean over every node
/// (the placement simulator). Where nothing in `ranked` is under the cap,
/// it returns the best of the top `k`, as [`choose`] does.
pub fn choose_under(
    ranked: &[Contender],
    policy: &PlacementConfig,
    may_overflow: bool,
    cap: f64,
) -> Option<usize> {
    let k = policy.candidate_count(ranked.len());
    let best = least_utilized(&ranked[..k])?;
    let under_cap = |c: &Contender| c.utilization.is_some_and(|u| u <= cap);
    if under_cap(&best) || !may_overflow {
        return Some(best.node);
    }
    let overflow = ranked[k..].iter().find(|c| under_cap(c));
    Some(overflow.unwrap_or(&best).node)
}

/// Chooses up to `count` distinct nodes for a new key's replica set: the
/// primary by [`choose`], then each next replica the same way among the
/// nodes not chosen yet. Fewer when fewer nodes are ranked. When the set
/// is recorded (`may_overflow`), each node is chosen among those outside
/// the domains already `taken` (by copies kept elsewhere) or chosen here,
/// while there are any.
pub fn choose_replicas(
    ranked: &[Contender],
    policy: &PlacementConfig,
    may_overflow: bool,
    count: usize,
    taken: &[u64],
) -> Vec<usize> {
    let mut left = ranked.to_vec();
    let mut chosen = Vec::with_capacity(count);
    let mut domains = taken.to_vec();
    while chosen.len() < count {
        let apart: Vec<Contender> = if may_overflow {
            left.iter()
                .filter(|c| !domains.contains(&c.domain))
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        let pool = if apart.is_empty() { &left } else { &apart };
        let Some(node) = choose(pool, policy, may_overflow) else {
            break;
        };
        chosen.push(node);
        if let Some(c) = left.iter().find(|c| c.node == node) {
            domains.push(c.domain);
        }
        left.retain(|c| c.node != node);
    }
    chosen
}

fn least_utilized(candidates: &[Contender]) -> Option<Contender> {
    let key = |c: &Contender| c.utilization.unwrap_or(f64::INFINITY);
    candidates
        .iter()
        .copied()
        .min_by(|a, b| key(a).total_cmp(&key(b)))
}

/// `(1 + epsilon) x mean` of the known utilizations; infinite when none is known.
fn load_cap(nodes: &[Contender], epsilon: f64) -> f64 {
    let known: Vec<f64> = nodes.iter().filter_map(|c| c.utilization).collect();
    if known.is_empty() {
        return f64::INFINITY;
    }
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    (1.0 + epsilon) * mean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(utils: &[Option<f64>]) -> Vec<Contender> {
        utils
            .iter()
            .enumerate()
            .map(|(node, &utilization)| Contender {
                node,
                utilization,
                domain: 0,
            })
            .collect()
    }

    /// `ranked` with each node's domain: `hosts[i]` for node `i`.
    fn on_hosts(utils: &[Option<f64>], hosts: &[&str]) -> Vec<Contender> {
        ranked(utils)
            .into_iter()
            .zip(hosts)
            .map(|(c, host)| Contender {
                domain: domain_of(&format!("{host}:6379")),
                ..c
            })
            .collect()
    }

    #[test]
    fn a_domain_is_the_host_part_of_the_address() {
        assert_eq!(domain_of("host1:6379"), domain_of("host1:6380"));
        assert_ne!(domain_of("host1:6379"), domain_of("host2:6379"));
        assert_eq!(domain_of("127.0.0.1:5300"), domain_of("127.0.0.1:5400"));
        assert_eq!(domain_of("[::1]:5300"), domain_of("[::1]:5400"));
        assert_ne!(domain_of("[::1]:5300"), domain_of("[::2]:5300"));
    }

    #[test]
    fn recorded_replicas_go_to_distinct_hosts_while_there_are_any() {
        // Nodes 0 and 1 share a host and are the two best candidates.
        let r = on_hosts(
            &[Some(0.1), Some(0.2), Some(0.5), Some(0.6)],
            &["a", "a", "b", "c"],
        );
        let policy = PlacementConfig::top(2);
        assert_eq!(choose_replicas(&r, &policy, true, 2, &[]), vec![0, 2]);
        assert_eq!(choose_replicas(&r, &policy, true, 3, &[]), vec![0, 2, 3]);
        // A fourth copy has no host left to itself: it shares one.
        assert_eq!(choose_replicas(&r, &policy, true, 4, &[]), vec![0, 2, 3, 1]);
        // Unrecorded sets keep the plain walk the fallback's bound assumes.
        assert_eq!(choose_replicas(&r, &policy, false, 2, &[]), vec![0, 1]);
        // One host only (a loopback stack): the plain walk.
        let one = on_hosts(&[Some(0.1), Some(0.2), Some(0.5)], &["a", "a", "a"]);
        assert_eq!(choose_replicas(&one, &policy, true, 2, &[]), vec![0, 1]);
    }

    #[test]
    fn a_stand_in_avoids_the_hosts_of_the_copies_kept() {
        // The set kept a copy on host "b"; node 2 (host b) ranks first.
        let r = on_hosts(&[Some(0.1), Some(0.2), Some(0.3)], &["b", "c", "c"]);
        let taken = [domain_of("b:6379")];
        let policy = PlacementConfig::top(2);
        assert_eq!(choose_replicas(&r, &policy, true, 1, &taken), vec![1]);
        // Every host taken: the plain walk.
        let all = [domain_of("b:1"), domain_of("c:1")];
        assert_eq!(choose_replicas(&r, &policy, true, 1, &all), vec![0]);
    }

    #[test]
    fn the_head_of_a_ranking_with_the_whole_cap_chooses_as_the_whole() {
        let r = ranked(&[Some(0.9), Some(0.8), Some(0.7), Some(0.05), Some(0.05)]);
        let policy = PlacementConfig::top(2);
        let cap = load_cap(&r, policy.load_epsilon);
        let whole = choose(&r, &policy, true);
        assert_eq!(whole, Some(3), "the first node under the cap");
        for head in 2..=5 {
            let under = choose_under(&r[..head], &policy, true, cap);
            // Past the head's end it falls back to the best of the top k.
            let expected = if head > 3 { whole } else { Some(1) };
            assert_eq!(under, expected, "head {head}");
        }
    }

    #[test]
    fn empty_has_no_choice() {
        assert_eq!(choose(&[], &PlacementConfig::top(2), true), None);
    }

    #[test]
    fn picks_least_utilized_of_top_k() {
        let r = ranked(&[Some(0.5), Some(0.2), Some(0.1), Some(0.3)]);
        assert_eq!(choose(&r, &PlacementConfig::top(2), true), Some(1));
        let all = PlacementConfig {
            choices: Choices::All,
            ..PlacementConfig::default()
        };
        assert_eq!(choose(&r, &all, true), Some(2));
    }

    #[test]
    fn ties_keep_rendezvous_order() {
        let r = ranked(&[Some(0.2), Some(0.2), Some(0.2)]);
        assert_eq!(choose(&r, &PlacementConfig::top(3), true), Some(0));
    }

    #[test]
    fn unknown_utilization_ranks_last() {
        let r = ranked(&[None, Some(0.9), Some(0.1)]);
        assert_eq!(choose(&r, &PlacementConfig::top(2), false), Some(1));
        let r = ranked(&[None, None]);
        assert_eq!(choose(&r, &PlacementConfig::top(2), true), Some(0));
    }

    #[test]
    fn overflows_past_full_candidates_only_when_allowed() {
        // Mean 0.45, cap 0.5625: both top candidates are above it.
        let r = ranked(&[Some(0.9), Some(0.8), Some(0.05), Some(0.05)]);
        assert_eq!(choose(&r, &PlacementConfig::top(2), true), Some(2));
        assert_eq!(choose(&r, &PlacementConfig::top(2), false), Some(1));
    }

    #[test]
    fn never_picks_beyond_the_list_and_always_picks_a_listed_node() {
        // A small exhaustive sweep standing in for a property test.
        let levels = [None, Some(0.0), Some(0.3), Some(1.2)];
        for a in levels {
            for b in levels {
                for c in levels {
                    let r = ranked(&[a, b, c]);
                    for k in 1..=3 {
                        for overflow in [false, true] {
                            let n = choose(&r, &PlacementConfig::top(k), overflow).unwrap();
                            assert!(n < 3);
                            if !overflow {
                                assert!(n < k, "picked outside the top {k}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn replicas_are_distinct_and_each_the_best_of_what_is_left() {
        let r = ranked(&[Some(0.5), Some(0.2), Some(0.1), Some(0.3)]);
        assert_eq!(
            choose_replicas(&r, &PlacementConfig::top(2), false, 2, &[]),
            vec![1, 2]
        );
        assert_eq!(
            choose_replicas(&r, &PlacementConfig::top(4), false, 3, &[]),
            vec![2, 1, 3]
        );
        assert_eq!(
            choose_replicas(&r, &PlacementConfig::top(2), false, 9, &[]),
            vec![1, 2, 3, 0]
        );
        assert!(choose_replicas(&[], &PlacementConfig::top(2), false, 2, &[]).is_empty());
    }
}
