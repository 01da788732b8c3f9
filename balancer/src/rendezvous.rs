//! Rendezvous (highest random weight) hashing: every node gets a weight for
//! a key, `xxh3(key, seed = xxh3(node id))`, and the nodes ranked by weight
//! are the key's candidates, best first.
//!
//! Why rendezvous rather than a ring: the ranking needs no ring to rebuild,
//! every balancer computes the same order from the node ids alone, and
//! adding or removing a node changes the first choice of only about 1/N of
//! the keys. Placement puts a new key on one of its top `k` candidates, so
//! with the index gone a key is found again by asking those `k` nodes.
//! (Thaler and Ravishankar, "Using name-based mappings to increase hit
//! rates", 1998.)

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The hashing seed of a node, derived from its id; compute it once.
pub fn node_seed(node_id: &str) -> u64 {
    xxh3_64(node_id.as_bytes())
}

/// The indices of `seeds` ordered by the key's weight, highest first.
/// Equal weights (practically never) keep index order, so the result is
/// the same on every balancer.
pub fn rank(key: &str, seeds: &[u64]) -> Vec<usize> {
    top(key, seeds, seeds.len())
}

/// The first `m` of [`rank`], without sorting the rest: for callers that
/// look only at the head of a long ranking (the placement simulator ranks
/// a thousand nodes per key).
pub fn top(key: &str, seeds: &[u64], m: usize) -> Vec<usize> {
    let mut weighted: Vec<(u64, usize)> = seeds
        .iter()
        .enumerate()
        .map(|(i, &seed)| (xxh3_64_with_seed(key.as_bytes(), seed), i))
        .collect();
    let order = |a: &(u64, usize), b: &(u64, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
    let m = m.min(weighted.len());
    if m < weighted.len() {
        weighted.select_nth_unstable_by(m, order);
        weighted.truncate(m);
    }
    weighted.sort_unstable_by(order);
    weighted.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(n: usize) -> Vec<u64> {
        (0..n).map(|i| node_seed(&format!("node-{i}"))).collect()
    }

    #[test]
    fn ranking_is_a_permutation_and_stable() {
        let s = seeds(5);
        let r = rank("user:42", &s);
        let mut sorted = r.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        assert_eq!(r, rank("user:42", &s));
    }

    #[test]
    fn the_top_m_is_the_head_of_the_ranking() {
        let s = seeds(50);
        for i in 0..200 {
            let key = format!("k{i}");
            let full = rank(&key, &s);
            for m in [0, 1, 2, 7, 49, 50, 60] {
                assert_eq!(top(&key, &s, m), full[..m.min(50)], "m = {m}");
            }
        }
    }

    #[test]
    fn first_choices_spread_evenly() {
        let s = seeds(4);
        let mut counts = [0usize; 4];
        for i in 0..40_000 {
            counts[rank(&format!("k{i}"), &s)[0]] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "uneven spread {counts:?}");
        }
    }

    #[test]
    fn adding_a_node_moves_about_one_in_n_keys() {
        let four = seeds(4);
        let five = seeds(5);
        let n = 20_000;
        let moved = (0..n)
            .filter(|i| {
                let k = format!("k{i}");
                rank(&k, &four)[0] != rank(&k, &five)[0]
            })
            .count();
        // Exactly the keys whose new first choice is node 4 move: about n/5.
        let share = moved as f64 / n as f64;
        assert!((0.17..0.23).contains(&share), "moved {share}");
        for i in 0..n {
            let k = format!("k{i}");
            let (a, b) = (rank(&k, &four)[0], rank(&k, &five)[0]);
            assert!(a == b || b == 4, "key {k} moved between old nodes");
        }
    }
}
