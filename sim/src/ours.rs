//! This project's policy, run by the balancer's own code: top-`k`
//! rendezvous ([`balancer::rendezvous`]) and the least utilized with the
//! bounded-load cap ([`balancer::placement`]), keys found through the
//! index, so nothing has to move when the node set changes. With the
//! rebalancer, a leader (balancer 0) plans with [`balancer::rebalance`]
//! from what it sees, every `every` ticks and at once when a node joins
//! or drains, and moves keys one by one with [`Progress`] until the plan
//! is met. Each node is its own failure domain; one copy per key.

use balancer::config::PlacementConfig;
use balancer::fallback::{self, Scope};
use balancer::placement::{self, Contender};
use balancer::rebalance::{self, Load, Marks, Progress, Role, Step};
use balancer::rendezvous;

use crate::cluster::{Cluster, State};
use crate::policy::{Change, Lookup, Policy, key_name};

/// The rendezvous head ranked per key; the whole ranking only when no
/// node of the head is under the cap.
const HEAD: usize = 8;

pub(crate) struct Ours {
    pub(crate) placement: PlacementConfig,
    /// The rebalancer's marks and period in ticks; `None`: off.
    pub(crate) rebalance: Option<(Marks, u32)>,
    /// The up nodes, and their rendezvous seeds.
    placing: Vec<usize>,
    seeds: Vec<u64>,
    /// Every node's rendezvous seed.
    all_seeds: Vec<u64>,
}

impl Ours {
    pub(crate) fn new(
        c: &Cluster,
        placement: PlacementConfig,
        rebalance: Option<(Marks, u32)>,
    ) -> Ours {
        let mut ours = Ours {
            placement,
            rebalance,
            placing: Vec::new(),
            seeds: Vec::new(),
            all_seeds: Vec::new(),
        };
        ours.rebuild(c);
        ours
    }

    fn rebuild(&mut self, c: &Cluster) {
        self.all_seeds = (0..c.capacity.len()).map(seed).collect();
        self.placing = c.up();
        self.seeds = self.placing.iter().map(|&n| self.all_seeds[n]).collect();
    }

    fn contenders(&self, c: &Cluster, order: &[usize], b: usize) -> Vec<Contender> {
        order
            .iter()
            .map(|&i| {
                let node = self.placing[i];
                Contender {
                    node,
                    utilization: Some(c.seen(b, node)),
                    domain: node as u64,
                }
            })
            .collect()
    }

    /// Plans from what the leader sees and carries the plan out.
    fn rebalance(&mut self, c: &mut Cluster, marks: Marks) {
        let members: Vec<usize> = (0..c.capacity.len())
            .filter(|&i| c.state[i] != State::Gone)
            .collect();
        let loads: Vec<Load> = members
            .iter()
            .map(|&i| Load {
                used: c.seen_bytes(0, i),
                capacity: Some(c.capacity[i]),
                role: if c.state[i] == State::Up {
                    Role::Serving
                } else {
                    Role::Draining
                },
            })
            .collect();
        let plan = rebalance::plan(&loads, marks);
        let mut progress = Progress::new(&plan, &loads);
        let mut sources: Vec<usize> = plan.transfers.iter().map(|t| t.from).collect();
        sources.dedup();
        for from in sources {
            let draining = loads[from].role == Role::Draining;
            for key in c.keys[members[from]].clone() {
                let size = c.size(key);
                if !draining && size > progress.left(from) {
                    continue;
                }
                let name = key_name(key);
                // The key's ranking over the members that still take bytes
                // (every up member, for a draining node's keys).
                let sinks: Vec<usize> = (0..members.len())
                    .filter(|&i| loads[i].role == Role::Serving)
                    .filter(|&i| draining || progress.room(i) > 0)
                    .collect();
                let seeds: Vec<u64> = sinks.iter().map(|&i| self.all_seeds[members[i]]).collect();
                let ranked: Vec<Contender> = rendezvous::rank(&name, &seeds)
                    .into_iter()
                    .map(|r| Contender {
                        node: sinks[r],
                        utilization: Some(c.seen(0, members[sinks[r]])),
                        domain: members[sinks[r]] as u64,
                    })
                    .collect();
                match progress.next(from, size, &ranked, &[], &[], &self.placement) {
                    Step::Move(to) => {
                        c.relocate(key, members[to], 0);
                        progress.moved(from, to, size);
                    }
                    Step::Keep => {}
                    Step::Done => return,
                }
                if !draining && progress.left(from) == 0 {
                    break;
                }
            }
        }
    }
}

fn seed(node: usize) -> u64 {
    rendezvous::node_seed(&format!("node-{node}"))
}

impl Policy for Ours {
    fn name(&self) -> &'static str {
        if self.rebalance.is_some() {
            "ours + rebalancer"
        } else {
            "ours"
        }
    }

    fn place(&mut self, c: &Cluster, key: &str, b: usize) -> usize {
        let cap = (1.0 + self.placement.load_epsilon) * c.seen_mean(b);
        let head = self.contenders(c, &rendezvous::top(key, &self.seeds, HEAD), b);
        let node = placement::choose_under(&head, &self.placement, true, cap).expect("up nodes");
        if c.seen(b, node) <= cap || head.len() == self.seeds.len() {
            return node;
        }
        let all = self.contenders(c, &rendezvous::rank(key, &self.seeds), b);
        placement::choose_under(&all, &self.placement, true, cap).expect("up nodes")
    }

    fn changed(&mut self, c: &mut Cluster, _change: Change) {
        self.rebuild(c);
        if let Some((marks, _)) = self.rebalance {
            self.rebalance(c, marks);
        }
    }

    fn tick(&mut self, c: &mut Cluster, tick: u32) {
        if let Some((marks, every)) = self.rebalance
            && tick.is_multiple_of(every)
        {
            self.rebalance(c, marks);
        }
    }

    /// Without the index the fallback asks every up node at once
    /// ([`Scope::AllUp`]); `position` is the holder's place in the key's
    /// ranking, and `candidates` the top `k + R - 1` that a search of a
    /// key the index does not list asks ([`Scope::Candidates`]).
    fn lookup(&self, c: &Cluster, key: &str, holder: usize) -> Lookup {
        let readable: Vec<usize> = (0..c.capacity.len())
            .filter(|&i| c.state[i] != State::Gone)
            .collect();
        let seeds: Vec<u64> = readable.iter().map(|&n| self.all_seeds[n]).collect();
        let ranked: Vec<usize> = rendezvous::rank(key, &seeds)
            .into_iter()
            .map(|i| readable[i])
            .collect();
        let placing: Vec<usize> = ranked
            .iter()
            .copied()
            .filter(|&n| c.state[n] == State::Up)
            .collect();
        let ask =
            |scope| fallback::nodes_to_ask(scope, &ranked, &placing, &self.placement, 1).len();
        Lookup {
            position: 1 + ranked
                .iter()
                .position(|&n| n == holder)
                .unwrap_or(ranked.len()),
            asks: ask(Scope::AllUp),
            candidates: ask(Scope::Candidates),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use balancer::config::Choices;

    use super::*;

    /// Four nodes of 100 kB holding 2,000 keys of 100 B (50%), placed by
    /// `ours`, a report every 100 keys.
    fn loaded(rebalance: Option<(Marks, u32)>) -> (Cluster, Ours) {
        let mut c = Cluster::new(vec![100_000; 4], &[100; 2000], 1, 0);
        let policy = PlacementConfig {
            choices: Choices::Top(NonZeroUsize::new(2).unwrap()),
            ..PlacementConfig::default()
        };
        let mut ours = Ours::new(&c, policy, rebalance);
        for key in 0..2000 {
            let node = ours.place(&c, &key_name(key), 0);
            c.insert(key, node, 0);
            if key % 100 == 99 {
                c.report();
            }
        }
        (c, ours)
    }

    #[test]
    fn the_rebalancer_fills_an_added_node_and_empties_a_draining_one() {
        let marks = Marks::default();
        let (mut c, mut ours) = loaded(Some((marks, 10)));
        let new = c.add_node(100_000);
        ours.changed(&mut c, Change::Joined(new));
        let mean = 0.4;
        for node in 0..5 {
            let u = c.used[node] as f64 / 100_000.0;
            assert!(
                (mean / marks.high - 0.001..=mean * marks.high + 0.001).contains(&u),
                "node {node} at {u}"
            );
        }
        assert!(c.used[new] as f64 >= 100_000.0 * mean / marks.low - 100.0);
        c.report();
        c.set_state(0, State::Draining);
        ours.changed(&mut c, Change::Draining(0));
        assert!(c.keys[0].is_empty(), "node 0 still holds keys");
        assert_eq!(c.live_keys(), 2000);
    }

    #[test]
    fn without_the_rebalancer_nothing_moves() {
        let (mut c, mut ours) = loaded(None);
        let new = c.add_node(100_000);
        ours.changed(&mut c, Change::Joined(new));
        assert_eq!((c.used[new], c.moved), (0, (0, 0)));
        let fresh = (0..20).filter(|i| ours.place(&c, &format!("fresh:{i}"), 0) == new);
        assert!(fresh.count() > 0, "new keys go to the empty node");
    }
}
