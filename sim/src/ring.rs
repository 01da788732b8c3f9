//! The baselines, on a consistent-hashing ring (Karger et al., 1997) with
//! ketama's 160 points per node, weighted by capacity (a 2x node gets 320):
//!
//! - [`Ketama`]: the owner of the key's point, nothing else;
//! - [`Bounded`]: consistent hashing with bounded loads (Mirrokni, Thorup,
//!   Zadimoghaddam, 2018), on memory: the first node clockwise whose
//!   utilization (as the balancer sees it) is under `(1 + epsilon) x mean`;
//! - [`TwoChoices`]: power of two choices (Mitzenmacher, 2001) on memory:
//!   the less utilized of the owners of two independent points.
//!
//! None keeps an index, so each must keep every key where its lookup looks:
//! when the node set changes they move the keys whose place changed.
//! Points are `xxh3` (ketama uses MD5; only the spread matters here).

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::cluster::{Cluster, State};
use crate::policy::{Change, Lookup, Policy, key_name, live};

const POINTS: u64 = 160;

/// Points on the ring, sorted, each with its node.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ring {
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// The ring of the up nodes, `base` bytes of capacity per 160 points.
    pub(crate) fn new(c: &Cluster, base: u64) -> Ring {
        let mut points = Vec::new();
        for node in c.up() {
            let count = (POINTS * c.capacity[node]).div_ceil(base);
            let seed = xxh3_64(format!("node-{node}").as_bytes());
            points.extend(
                (0..count).map(|j| (xxh3_64_with_seed(&j.to_le_bytes(), seed), node as u32)),
            );
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The distinct nodes clockwise from `hash`, nearest first.
    pub(crate) fn walk(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.points.partition_point(|&(p, _)| p < hash);
        let mut seen: Vec<u32> = Vec::new();
        (0..self.points.len())
            .map(move |i| self.points[(start + i) % self.points.len()].1)
            .filter(move |node| {
                let new = !seen.contains(node);
                if new {
                    seen.push(*node);
                }
                new
            })
            .map(|node| node as usize)
    }

    fn owner(&self, hash: u64) -> usize {
        self.walk(hash).next().expect("a ring with points")
    }
}

fn hash(key: &str, which: u64) -> u64 {
    xxh3_64_with_seed(key.as_bytes(), which)
}

/// Moves the keys for which `home` names another node than theirs.
fn settle(c: &mut Cluster, mut home: impl FnMut(&Cluster, &str, usize) -> usize) {
    for key in live(c) {
        let holder = c.node_of(key).expect("live");
        let to = home(c, &key_name(key), holder);
        if to != holder {
            c.relocate(key, to, 0);
        }
    }
}

/// Drained nodes are emptied at once and leave.
fn leave(c: &mut Cluster, change: Change) {
    if let Change::Draining(node) = change {
        c.set_state(node, State::Gone);
    }
}

pub(crate) struct Ketama {
    pub(crate) base: u64,
    pub(crate) ring: Ring,
}

impl Policy for Ketama {
    fn name(&self) -> &'static str {
        "ketama"
    }
    fn place(&mut self, _c: &Cluster, key: &str, _b: usize) -> usize {
        self.ring.owner(hash(key, 0))
    }
    fn changed(&mut self, c: &mut Cluster, change: Change) {
        leave(c, change);
        self.ring = Ring::new(c, self.base);
        let ring = &self.ring;
        settle(c, |_, key, _| ring.owner(hash(key, 0)));
    }
    fn lookup(&self, _c: &Cluster, _key: &str, _holder: usize) -> Lookup {
        Lookup {
            position: 1,
            asks: 1,
            candidates: 1,
        }
    }
}

pub(crate) struct Bounded {
    pub(crate) base: u64,
    pub(crate) epsilon: f64,
    pub(crate) ring: Ring,
}

impl Bounded {
    fn first_under_cap(&self, c: &Cluster, key: &str, b: usize) -> usize {
        let cap = (1.0 + self.epsilon) * c.seen_mean(b);
        let mut walk = self.ring.walk(hash(key, 0));
        let first = walk.next().expect("a ring with points");
        std::iter::once(first)
            .chain(walk)
            .find(|&n| c.seen(b, n) <= cap)
            .unwrap_or(first)
    }
}

impl Policy for Bounded {
    fn name(&self) -> &'static str {
        "bounded-load CH"
    }
    fn place(&mut self, c: &Cluster, key: &str, b: usize) -> usize {
        self.first_under_cap(c, key, b)
    }
    /// A key stays unless its walk now meets, before its holder, a node
    /// that joined and is under the cap (a lookup stops at the first node
    /// under the cap), or its node drained.
    fn changed(&mut self, c: &mut Cluster, change: Change) {
        leave(c, change);
        self.ring = Ring::new(c, self.base);
        match change {
            Change::Joined(new) => settle(c, |c, key, holder| {
                let cap = (1.0 + self.epsilon) * c.seen_mean(0);
                let before = self.ring.walk(hash(key, 0)).take_while(|&n| n != holder);
                let meets = before.into_iter().any(|n| n == new);
                if meets && c.seen(0, new) <= cap {
                    new
                } else {
                    holder
                }
            }),
            Change::Draining(gone) => settle(c, |c, key, holder| {
                if holder == gone {
                    self.first_under_cap(c, key, 0)
                } else {
                    holder
                }
            }),
        }
    }
    fn lookup(&self, _c: &Cluster, key: &str, holder: usize) -> Lookup {
        let position = 1 + self
            .ring
            .walk(hash(key, 0))
            .take_while(|&n| n != holder)
            .count();
        Lookup {
            position,
            asks: position,
            candidates: 1,
        }
    }
}

pub(crate) struct TwoChoices {
    pub(crate) base: u64,
    pub(crate) ring: Ring,
}

impl TwoChoices {
    fn choices(&self, key: &str) -> [usize; 2] {
        let first = self.ring.owner(hash(key, 1));
        let second = self
            .ring
            .walk(hash(key, 2))
            .find(|&n| n != first)
            .unwrap_or(first);
        [first, second]
    }

    fn best(&self, c: &Cluster, key: &str, b: usize) -> usize {
        let [x, y] = self.choices(key);
        if c.seen(b, y) < c.seen(b, x) { y } else { x }
    }
}

impl Policy for TwoChoices {
    fn name(&self) -> &'static str {
        "two choices"
    }
    fn place(&mut self, c: &Cluster, key: &str, b: usize) -> usize {
        self.best(c, key, b)
    }
    /// A key whose node is no longer one of its two choices moves to the
    /// better of them.
    fn changed(&mut self, c: &mut Cluster, change: Change) {
        leave(c, change);
        self.ring = Ring::new(c, self.base);
        settle(c, |c, key, holder| {
            if self.choices(key).contains(&holder) {
                holder
            } else {
                self.best(c, key, 0)
            }
        });
    }
    fn lookup(&self, _c: &Cluster, key: &str, holder: usize) -> Lookup {
        let position = 1 + usize::from(self.choices(key)[0] != holder);
        Lookup {
            position,
            asks: 2,
            candidates: 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(capacity: Vec<u64>) -> Cluster {
        Cluster::new(capacity, &[1; 8], 1, 0)
    }

    #[test]
    fn points_follow_capacity() {
        let c = cluster(vec![100, 200, 400]);
        let ring = Ring::new(&c, 100);
        assert_eq!(ring.points.len(), 160 * 7);
        let mut owned = [0usize; 3];
        for i in 0..70_000u64 {
            owned[ring.owner(xxh3_64(&i.to_le_bytes()))] += 1;
        }
        let share = owned[2] as f64 / 70_000.0;
        assert!((0.5..0.65).contains(&share), "a 4x node owns {share}");
    }

    #[test]
    fn a_walk_names_each_node_once() {
        let c = cluster(vec![100, 100, 100]);
        let ring = Ring::new(&c, 100);
        let mut walk: Vec<usize> = ring.walk(12345).collect();
        walk.sort_unstable();
        assert_eq!(walk, vec![0, 1, 2]);
    }

    #[test]
    fn bounded_loads_skip_a_node_over_the_cap() {
        let mut c = cluster(vec![100, 100]);
        let mut p = Bounded {
            base: 100,
            epsilon: 0.25,
            ring: Ring::new(&c, 100),
        };
        let first = p.ring.owner(hash("k", 0));
        c.insert(0, first, 0);
        // The owner is at 1%, the other at 0%: mean 0.5%, cap 0.625%.
        assert_ne!(p.place(&c, "k", 0), first);
        assert_eq!(p.lookup(&c, "k", 1 - first).position, 2);
    }
}
