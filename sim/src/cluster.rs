//! One policy's cluster: the nodes, where each live key sits, and what
//! each balancer *sees* of the nodes' memory.
//!
//! What the balancers see is modelled on the real one: a memory report of
//! every node lands once per tick (the probe agent's 1 s interval) and
//! shows the bytes used `lag` ticks before; between reports each balancer
//! adds the bytes it placed itself (the pending counter of `nodes`, reset
//! when a report lands), and sees nothing of the other balancers' writes
//! or of the deaths (expiries, deletes) since the report.

use std::collections::VecDeque;

/// No node: the key is not live.
const NONE: u32 = u32::MAX;

/// A node's part in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Holds keys and takes new ones.
    Up,
    /// Takes no new keys; left once empty.
    Draining,
    /// Left the cluster.
    Gone,
}

#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) capacity: Vec<u64>,
    pub(crate) state: Vec<State>,
    pub(crate) used: Vec<u64>,
    /// The keys on each node.
    pub(crate) keys: Vec<Vec<u32>>,
    /// Keys moved between nodes so far, and their bytes.
    pub(crate) moved: (u64, u64),
    sizes: Vec<u32>,
    node_of: Vec<u32>,
    slot_of: Vec<u32>,
    /// Reports taken, newest last; the one `lag` ticks old is seen.
    reports: VecDeque<Vec<u64>>,
    lag: usize,
    /// Per balancer, per node: bytes placed since the report landed.
    pending: Vec<Vec<i64>>,
    /// Per balancer: the sum of the utilizations it sees over up nodes.
    seen_sum: Vec<f64>,
}

impl Cluster {
    pub(crate) fn new(capacity: Vec<u64>, sizes: &[u32], balancers: usize, lag: usize) -> Cluster {
        let n = capacity.len();
        let mut cluster = Cluster {
            state: vec![State::Up; n],
            used: vec![0; n],
            keys: vec![Vec::new(); n],
            moved: (0, 0),
            sizes: sizes.to_vec(),
            node_of: vec![NONE; sizes.len()],
            slot_of: vec![0; sizes.len()],
            reports: VecDeque::from([vec![0; n]]),
            lag,
            pending: vec![vec![0; n]; balancers],
            seen_sum: vec![0.0; balancers],
            capacity,
        };
        cluster.report();
        cluster
    }

    pub(crate) fn size(&self, key: u32) -> u64 {
        u64::from(self.sizes[key as usize])
    }

    pub(crate) fn node_of(&self, key: u32) -> Option<usize> {
        let node = self.node_of[key as usize];
        (node != NONE).then_some(node as usize)
    }

    /// The nodes taking new keys.
    pub(crate) fn up(&self) -> Vec<usize> {
        (0..self.capacity.len())
            .filter(|&i| self.state[i] == State::Up)
            .collect()
    }

    pub(crate) fn add_node(&mut self, capacity: u64) -> usize {
        self.capacity.push(capacity);
        self.state.push(State::Up);
        self.used.push(0);
        self.keys.push(Vec::new());
        self.reports.iter_mut().for_each(|r| r.push(0));
        self.pending.iter_mut().for_each(|p| p.push(0));
        self.resum();
        self.capacity.len() - 1
    }

    pub(crate) fn set_state(&mut self, node: usize, state: State) {
        self.state[node] = state;
        self.resum();
    }

    /// A report of every node lands: pending counters restart.
    pub(crate) fn report(&mut self) {
        self.reports.push_back(self.used.clone());
        while self.reports.len() > self.lag + 1 {
            self.reports.pop_front();
        }
        self.pending.iter_mut().for_each(|p| p.fill(0));
        self.resum();
    }

    /// Bytes balancer `b` believes `node` uses.
    pub(crate) fn seen_bytes(&self, b: usize, node: usize) -> u64 {
        (self.reports[0][node] as i64 + self.pending[b][node]).max(0) as u64
    }

    /// Utilization balancer `b` believes `node` is at.
    pub(crate) fn seen(&self, b: usize, node: usize) -> f64 {
        self.seen_bytes(b, node) as f64 / self.capacity[node] as f64
    }

    /// The mean of the utilizations balancer `b` sees over the up nodes:
    /// what placement's bounded-load cap is taken over.
    pub(crate) fn seen_mean(&self, b: usize) -> f64 {
        let up = self.state.iter().filter(|&&s| s == State::Up).count();
        self.seen_sum[b] / up.max(1) as f64
    }

    pub(crate) fn insert(&mut self, key: u32, node: usize, b: usize) {
        let size = self.size(key);
        self.node_of[key as usize] = node as u32;
        self.slot_of[key as usize] = self.keys[node].len() as u32;
        self.keys[node].push(key);
        self.used[node] += size;
        self.note(b, node, size as i64);
    }

    /// Removes a key (it expired or was deleted); no balancer sees it
    /// until the next report.
    pub(crate) fn remove(&mut self, key: u32) -> Option<usize> {
        let node = self.node_of(key)?;
        let slot = self.slot_of[key as usize] as usize;
        self.keys[node].swap_remove(slot);
        if let Some(&moved) = self.keys[node].get(slot) {
            self.slot_of[moved as usize] = slot as u32;
        }
        self.used[node] -= self.size(key);
        self.node_of[key as usize] = NONE;
        Some(node)
    }

    /// Moves a live key, as balancer `b` (which then sees the move).
    pub(crate) fn relocate(&mut self, key: u32, to: usize, b: usize) {
        let Some(from) = self.remove(key) else { return };
        let size = self.size(key);
        self.note(b, from, -(size as i64));
        self.insert(key, to, b);
        self.moved.0 += 1;
        self.moved.1 += size;
    }

    pub(crate) fn live_keys(&self) -> u64 {
        self.keys.iter().map(|k| k.len() as u64).sum()
    }

    fn note(&mut self, b: usize, node: usize, bytes: i64) {
        let before = self.seen(b, node);
        self.pending[b][node] += bytes;
        if self.state[node] == State::Up {
            self.seen_sum[b] += self.seen(b, node) - before;
        }
    }

    fn resum(&mut self) {
        for b in 0..self.pending.len() {
            self.seen_sum[b] = (0..self.capacity.len())
                .filter(|&i| self.state[i] == State::Up)
                .map(|i| self.seen(b, i))
                .sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balancer_sees_its_own_writes_and_others_only_after_a_report() {
        let mut c = Cluster::new(vec![100, 100], &[10, 20, 30], 2, 0);
        c.insert(0, 0, 0);
        c.insert(1, 1, 1);
        assert_eq!((c.seen_bytes(0, 0), c.seen_bytes(0, 1)), (10, 0));
        assert_eq!((c.seen_bytes(1, 0), c.seen_bytes(1, 1)), (0, 20));
        assert!((c.seen_mean(0) - 0.05).abs() < 1e-12);
        c.report();
        assert_eq!((c.seen_bytes(1, 0), c.seen_bytes(1, 1)), (10, 20));
        c.remove(0);
        assert_eq!(c.seen_bytes(1, 0), 10, "a death shows at the next report");
        assert_eq!(c.used[0], 0);
    }

    #[test]
    fn a_lagging_report_shows_older_bytes() {
        let mut c = Cluster::new(vec![100], &[10, 20], 1, 1);
        c.insert(0, 0, 0);
        c.report();
        assert_eq!(c.seen_bytes(0, 0), 0, "the report shows the tick before");
        c.report();
        assert_eq!(c.seen_bytes(0, 0), 10);
    }

    #[test]
    fn keys_are_tracked_through_removes_and_moves() {
        let mut c = Cluster::new(vec![100, 100], &[1, 2, 3], 1, 0);
        for k in 0..3 {
            c.insert(k, 0, 0);
        }
        assert_eq!(c.remove(0), Some(0));
        c.relocate(2, 1, 0);
        assert_eq!(c.keys, vec![vec![1], vec![2]]);
        assert_eq!((c.node_of(2), c.node_of(0)), (Some(1), None));
        assert_eq!(c.used, vec![2, 3]);
        assert_eq!(c.moved, (1, 3));
        assert_eq!(c.live_keys(), 2);
    }
}
