//! The plan carried out key by key: an executor walks a source node's keys
//! and asks [`Progress::next`] what to do with each, then reports each
//! move it made with [`Progress::moved`], until [`Step::Done`].

use super::plan::{Load, Plan, Role};
use crate::config::PlacementConfig;
use crate::placement::{self, Contender};

/// A spread moves a copy only onto a node whose utilization (moves of this
/// pass included, see `Node::record_moved_in`) is known and below this,
/// so spreading never fills a node that then refuses writes.
const SPREAD_BELOW: f64 = 0.9;

/// What to do with one key of a source node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Move it to this node.
    Move(usize),
    /// Leave it: its (serving) node has shed enough, the key is larger
    /// than what is left to shed, or no node can take it.
    Keep,
    /// The plan is met: stop.
    Done,
}

/// The bytes each node has left to shed and to take.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    shed: Vec<u64>,
    take: Vec<u64>,
    draining: Vec<bool>,
}

impl Progress {
    /// Starts carrying out `plan`, made from `nodes`.
    pub fn new(plan: &Plan, nodes: &[Load]) -> Progress {
        Progress {
            shed: plan.shed.clone(),
            take: plan.take.clone(),
            draining: nodes.iter().map(|n| n.role == Role::Draining).collect(),
        }
    }

    /// Bytes `node` has left to shed.
    pub fn left(&self, node: usize) -> u64 {
        self.shed[node]
    }

    /// Whether `node` is being emptied.
    pub fn is_draining(&self, node: usize) -> bool {
        self.draining[node]
    }

    /// Bytes `node` has left to take.
    pub fn room(&self, node: usize) -> u64 {
        self.take[node]
    }

    /// Whether every node has shed what the plan asked.
    pub fn done(&self) -> bool {
        self.shed.iter().all(|&s| s == 0)
    }

    /// Where a key of `size` bytes on node `from` goes. `ranked` is the
    /// key's rendezvous ranking of the nodes that take keys (as placement
    /// sees them); `holders` are the nodes holding its other copies, whose
    /// failure domains are `taken`. Spread comes before room: when some
    /// node (not full) is on a domain apart from the other copies, only
    /// such nodes are candidates, so a move never puts two copies of a key
    /// on one host that another host could have spared; when none is, a
    /// serving node keeps the key unless it already shares a domain with
    /// another copy (a move never narrows a set's spread; a draining
    /// node's key goes where it can). Among the candidates the
    /// key goes to the node placement would choose among those with bytes
    /// left to take (room for the whole key where one has it); a serving
    /// node keeps a key no candidate has room for. A draining node's keys
    /// all move, also past its planned bytes (its report may lag): when no
    /// candidate has room left, to any candidate placement chooses; its
    /// executor stops when the node is empty, not at [`Step::Done`].
    pub fn next(
        &self,
        from: usize,
        size: u64,
        ranked: &[Contender],
        holders: &[usize],
        taken: &[u64],
        policy: &PlacementConfig,
    ) -> Step {
        let draining = self.draining[from];
        if !draining && self.done() {
            return Step::Done;
        }
        if !draining && (self.shed[from] == 0 || size > self.shed[from]) {
            return Step::Keep;
        }
        let free = free(ranked, from, holders);
        let apart = apart_from(&free, taken);
        // A serving node's key may go beside another copy only when it is
        // beside one already: a move never narrows a set's spread.
        let beside = ranked
            .iter()
            .any(|c| c.node == from && taken.contains(&c.domain));
        let candidates = if !apart.is_empty() {
            apart
        } else if draining || beside {
            free
        } else {
            return Step::Keep;
        };
        let with_room = |room: u64| -> Vec<Contender> {
            candidates
                .iter()
                .filter(|c| self.take[c.node] >= room.max(1))
                .copied()
                .collect()
        };
        let mut pool = with_room(size);
        if pool.is_empty() {
            pool = with_room(1);
        }
        if pool.is_empty() && draining {
            pool = candidates;
        }
        match placement::choose_replicas(&pool, policy, true, 1, taken).first() {
            Some(&to) => Step::Move(to),
            None => Step::Keep,
        }
    }

    /// Where a key on `from` that shares a failure domain with another of
    /// its copies goes: the node placement would choose among the free
    /// nodes on a domain apart from every other copy (`taken`) and under
    /// `SPREAD_BELOW` (0.9) utilization, whatever bytes the plan leaves them;
    /// [`Step::Keep`] when there is none (one host only, the others away,
    /// or full).
    pub fn spread(
        &self,
        from: usize,
        ranked: &[Contender],
        holders: &[usize],
        taken: &[u64],
        policy: &PlacementConfig,
    ) -> Step {
        let free = free(ranked, from, holders);
        let roomy = (apart_from(&free, taken).into_iter())
            .filter(|c| c.utilization.is_some_and(|u| u < SPREAD_BELOW))
            .collect::<Vec<_>>();
        match placement::choose_replicas(&roomy, policy, true, 1, taken).first() {
            Some(&to) => Step::Move(to),
            None => Step::Keep,
        }
    }

    /// Records that a key of `size` bytes moved from `from` to `to`.
    pub fn moved(&mut self, from: usize, to: usize, size: u64) {
        self.shed[from] = self.shed[from].saturating_sub(size);
        self.take[to] = self.take[to].saturating_sub(size);
    }
}

/// The nodes of `ranked` that are neither `from` nor one of `holders`.
fn free(ranked: &[Contender], from: usize, holders: &[usize]) -> Vec<Contender> {
    (ranked.iter())
        .filter(|c| c.node != from && !holders.contains(&c.node))
        .copied()
        .collect()
}

/// The nodes of `free` on a domain none of `taken` is on, and not full
/// (a full node refuses the copy; its utilization is at least 1).
fn apart_from(free: &[Contender], taken: &[u64]) -> Vec<Contender> {
    free.iter()
        .filter(|c| !taken.contains(&c.domain))
        .filter(|c| c.utilization.is_none_or(|u| u < 1.0))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests;
