//! The data nodes: the table every operation works on, and what decides
//! each node's state.
//!
//! - [`NodeTable`] (here): every node, ranked for a key with its
//!   utilization, the view placement and lookup need. A sample older than a
//!   few intervals makes a node's utilization unknown, so it is ranked last
//!   for new keys but still serves the keys it holds. A *draining* node
//!   takes no new keys but is still read.
//! - [`node`]: one node, its connection and figures.
//! - [`capacity`]: the pure rule for a node's capacity and its source; a
//!   node whose capacity is unknown takes no new keys.
//! - [`state`]: the pure health state machine (up, down, restarted), each
//!   observer's view kept apart, and when a return resyncs.
//! - [`outliers`]: the pure latency outlier decision.
//! - [`membership`]: the current table, swapped whole when ZooKeeper
//!   changes the node list, and the pure diff that decides the new list.
//!   A node whose address changes is a new incarnation
//!   ([`Node::succeeding`]): resynced once up, its rejoin count carried on.
//! - [`view`]: the `/nodes` schema.

pub mod capacity;
pub mod membership;
pub mod node;
pub mod outliers;
pub mod state;
pub mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

pub use membership::Membership;
pub use node::Node;
pub use view::{NodeView, Transition};

use crate::backend::{Backend, BackendError, Dial};
use crate::config::NodeSpec;
use crate::placement::{self, Contender};
use crate::rendezvous;

/// Samples older than this many intervals count as stale.
const STALE_AFTER_INTERVALS: u32 = 3;

/// How many times longer a sample counts for the rebalancer's moves.
const MOVES_STALE_AFTER: u32 = 4;

/// Bytes of capacity configured per node id (`placement.node_capacity_bytes`).
pub type Capacities = BTreeMap<String, u64>;

/// All data nodes, in configuration order; an immutable snapshot (see
/// [`Membership`]).
#[derive(Debug)]
pub struct NodeTable {
    nodes: Vec<Arc<Node>>,
    by_id: HashMap<Arc<str>, usize>,
    seeds: Vec<u64>,
    /// Each node's failure domain ([`placement::domain_of`]).
    domains: Vec<u64>,
    stale_after: Duration,
    capacities: Arc<Capacities>,
}

impl NodeTable {
    /// Builds the table; connections open lazily on first use.
    ///
    /// # Errors
    /// A configured address that cannot be used.
    pub fn new(
        specs: &[NodeSpec],
        capacities: Capacities,
        dial: &Dial,
        sample_interval: Duration,
    ) -> Result<NodeTable, BackendError> {
        let mut table = NodeTable {
            nodes: Vec::new(),
            by_id: HashMap::new(),
            seeds: Vec::new(),
            domains: Vec::new(),
            stale_after: sample_interval * STALE_AFTER_INTERVALS,
            capacities: Arc::new(capacities),
        };
        for spec in specs {
            table.push(spec, false, None, dial)?;
        }
        Ok(table)
    }

    /// A new table with these members (`(spec, draining)`), reusing this
    /// table's node for every id whose address is unchanged; an id at a new
    /// address gets a new incarnation of its node. A member whose address
    /// cannot be used is left out and returned with the reason.
    pub fn with_members(
        &self,
        members: &[(NodeSpec, bool)],
        dial: &Dial,
    ) -> (NodeTable, Vec<(NodeSpec, String)>) {
        let mut table = NodeTable {
            nodes: Vec::with_capacity(members.len()),
            by_id: HashMap::new(),
            seeds: Vec::new(),
            domains: Vec::new(),
            stale_after: self.stale_after,
            capacities: self.capacities.clone(),
        };
        let mut rejected = Vec::new();
        for (spec, draining) in members {
            let previous = self.nodes.iter().find(|n| *n.id == *spec.id);
            if let Err(e) = table.push(spec, *draining, previous, dial) {
                rejected.push((spec.clone(), e.to_string()));
            }
        }
        (table, rejected)
    }

    /// Adds `spec`'s node at the end: `previous` (the node that had its
    /// id) when its address is unchanged, its next incarnation when the
    /// address changed, else a new node.
    fn push(
        &mut self,
        spec: &NodeSpec,
        draining: bool,
        previous: Option<&Arc<Node>>,
        dial: &Dial,
    ) -> Result<(), BackendError> {
        let node = match previous {
            Some(node) if node.backend.addr() == spec.addr => node.clone(),
            Some(node) => Arc::new(Node::succeeding(node, backends(&spec.addr, dial)?)),
            None => Arc::new(Node::new(
                &spec.id,
                backends(&spec.addr, dial)?,
                rendezvous::node_seed(&spec.id),
            )),
        };
        let configured = self.capacities.get(&spec.id).copied().unwrap_or(0);
        node.configured_capacity
            .store(configured, Ordering::Relaxed);
        node.set_draining(draining);
        self.by_id.insert(node.id.clone(), self.nodes.len());
        self.seeds.push(node.seed);
        self.domains.push(placement::domain_of(&spec.addr));
        self.nodes.push(node);
        Ok(())
    }

    /// All nodes, in configuration order.
    pub fn all(&self) -> &[Arc<Node>] {
        &self.nodes
    }

    /// The node with this id.
    pub fn by_id(&self, id: &str) -> Option<&Node> {
        self.by_id.get(id).map(|&i| &*self.nodes[i])
    }

    /// The node at this position.
    pub fn get(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// Whether the node at position `i` can take a moved key now with a
    /// known utilization: up, not draining, sampled lately (by the
    /// measure of [`NodeTable::move_contenders`]) with a known capacity.
    pub fn takes_keys_sampled(&self, i: usize) -> bool {
        let stale_after = self.stale_after * MOVES_STALE_AFTER;
        (self.nodes[i].for_new_keys(Instant::now(), stale_after)).is_some_and(|u| u.is_some())
    }

    /// The nodes' returns summed ([`Node::returns`]): when it changes, a
    /// node could take keys again, and sets placed while it could not may
    /// share a host.
    pub fn returns(&self) -> u64 {
        self.nodes.iter().map(|n| n.returns()).sum()
    }

    /// The failure domain of the node at position `i`.
    pub fn domain(&self, i: usize) -> u64 {
        self.domains[i]
    }

    /// The failure domains of the nodes `ids` names that the table has.
    pub fn domains_of(&self, ids: &[String]) -> Vec<u64> {
        ids.iter()
            .filter_map(|id| self.by_id.get(id.as_str()))
            .map(|&i| self.domains[i])
            .collect()
    }

    /// The position of node `id` in the table.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// How many nodes are up.
    pub fn up_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_up()).count()
    }

    /// The nodes that may take `key` if it is new (up, not draining, of
    /// known capacity), ranked best first, with their utilization.
    pub fn contenders(&self, key: &str) -> Vec<Contender> {
        self.ranked(key, self.stale_after)
    }

    /// The same for a key the rebalancer spreads onto another host: a
    /// utilization counts as known for [`MOVES_STALE_AFTER`] times as
    /// long, so a sampler that lags on a busy machine does not leave every
    /// candidate unknown (a spread moves only onto a node of known
    /// utilization under 90%, a soft bound an older sample serves).
    pub fn move_contenders(&self, key: &str) -> Vec<Contender> {
        self.ranked(key, self.stale_after * MOVES_STALE_AFTER)
    }

    fn ranked(&self, key: &str, stale_after: Duration) -> Vec<Contender> {
        let now = Instant::now();
        rendezvous::rank(key, &self.seeds)
            .into_iter()
            .filter_map(|node| {
                let utilization = self.nodes[node].for_new_keys(now, stale_after)?;
                Some(Contender {
                    node,
                    utilization,
                    domain: self.domains[node],
                })
            })
            .collect()
    }

    /// The up nodes, draining ones included, ranked for `key`: where a
    /// lookup may find it.
    pub fn readable(&self, key: &str) -> Vec<usize> {
        rendezvous::rank(key, &self.seeds)
            .into_iter()
            .filter(|&i| self.nodes[i].is_up())
            .collect()
    }

    /// A write went to fewer replicas than the replication factor, too few
    /// nodes being up: every node that is out missed it, and is resynced
    /// (given the key) when it returns.
    pub fn record_short_write(&self) {
        for node in self.nodes.iter().filter(|n| !n.is_up()) {
            node.record_missed_write();
        }
    }

    /// Grows whenever a node comes back needing a resync (restarted, moved,
    /// or having missed writes), and never goes back: a cached location
    /// taken under another epoch may name a copy that has gone stale.
    pub fn rejoin_epoch(&self) -> u64 {
        self.nodes.iter().map(|n| n.rejoins()).sum()
    }

    /// Every node's view, for `GET /nodes`.
    pub fn views(&self) -> Vec<NodeView> {
        let now = Instant::now();
        self.nodes
            .iter()
            .map(|n| n.view(now, self.stale_after))
            .collect()
    }
}

/// The request path's backend to `addr`, and the bulk one.
fn backends(addr: &str, dial: &Dial) -> Result<(Backend, Backend), BackendError> {
    let backend = Backend::dial(addr, dial)?;
    let bulk = Backend::bulk(&backend, dial)?;
    Ok((backend, bulk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, port: u16) -> NodeSpec {
        NodeSpec {
            id: id.into(),
            addr: format!("127.0.0.1:{port}"),
        }
    }

    // A tokio runtime: dropping a node's connection spawns.
    #[tokio::test]
    async fn a_node_up_again_or_active_again_counts_as_a_return() {
        let dial = Dial::new(Duration::from_secs(1));
        let specs = [spec("a", 1), spec("b", 2)];
        let table = NodeTable::new(&specs, Capacities::new(), &dial, Duration::from_secs(1))
            .expect("a table");
        let a = table.get(0);
        a.record_alive("run", Duration::ZERO, 1);
        assert_eq!(table.returns(), 1, "up for the first time");
        a.record_alive("run", Duration::ZERO, 1);
        assert_eq!(table.returns(), 1, "still up: no return");
        a.record_failure(&"refused", 1);
        assert_eq!(table.returns(), 1, "down is no return");
        a.record_alive("run", Duration::ZERO, 1);
        assert_eq!(table.returns(), 2, "up again");

        let members = |draining| [(specs[0].clone(), false), (specs[1].clone(), draining)];
        let (draining, _) = table.with_members(&members(true), &dial);
        assert_eq!(draining.returns(), 2, "a drain is no return");
        let (active, _) = draining.with_members(&members(false), &dial);
        assert_eq!(active.returns(), 3, "active again after the drain");
        let (same, _) = active.with_members(&members(false), &dial);
        assert_eq!(same.returns(), 3, "still active: no return");
    }
}
