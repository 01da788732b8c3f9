//! The data nodes: the table every operation works on, and what decides
//! each node's state.
//!
//! - [`NodeTable`] (here): every node, ranked for a key with its
//!   utilization, the view placement and lookup need. A sample older than a
//!   few intervals makes a node's utilization unknown, so it is ranked last
//!   for new keys but still serves the keys it holds. A *draining* node
//!   takes no new keys but is still read.
//! - [`node`]: one node, its connection and figures.
//! - [`state`]: the pure health state machine (up, down, restarted), each
//!   observer's view kept apart, and when a return resyncs.
//! - [`outliers`]: the pure latency outlier decision.
//! - [`membership`]: the current table, swapped whole when ZooKeeper
//!   changes the node list, and the pure diff that decides the new list.
//!   A node whose address changes is a new incarnation
//!   ([`Node::succeeding`]): resynced once up, its rejoin count carried on.
//! - [`view`]: the `/nodes` schema.

pub mod membership;
pub mod node;
pub mod outliers;
pub mod state;
pub mod view;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

pub use membership::Membership;
pub use node::Node;
pub use view::{NodeView, Transition};

use crate::backend::{Backend, BackendError};
use crate::config::NodeSpec;
use crate::placement::Contender;
use crate::rendezvous;

/// Samples older than this many intervals count as stale.
const STALE_AFTER_INTERVALS: u32 = 3;

/// All data nodes, in configuration order; an immutable snapshot (see
/// [`Membership`]).
#[derive(Debug)]
pub struct NodeTable {
    nodes: Vec<Arc<Node>>,
    by_id: HashMap<Arc<str>, usize>,
    seeds: Vec<u64>,
    stale_after: Duration,
}

impl NodeTable {
    /// Builds the table; connections open lazily on first use.
    pub fn new(
        specs: &[NodeSpec],
        timeout: Duration,
        sample_interval: Duration,
    ) -> Result<NodeTable, BackendError> {
        let members: Vec<(NodeSpec, bool)> = specs.iter().map(|s| (s.clone(), false)).collect();
        NodeTable::assemble(
            &members,
            &[],
            timeout,
            sample_interval * STALE_AFTER_INTERVALS,
        )
    }

    /// A new table with these members (`(spec, draining)`), reusing this
    /// table's node for every id whose address is unchanged; an id at a new
    /// address gets a new incarnation of its node.
    pub fn with_members(
        &self,
        members: &[(NodeSpec, bool)],
        timeout: Duration,
    ) -> Result<NodeTable, BackendError> {
        NodeTable::assemble(members, &self.nodes, timeout, self.stale_after)
    }

    fn assemble(
        members: &[(NodeSpec, bool)],
        existing: &[Arc<Node>],
        timeout: Duration,
        stale_after: Duration,
    ) -> Result<NodeTable, BackendError> {
        let host_of = |addr: &str| addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string();
        let mut per_host: HashMap<String, u64> = HashMap::new();
        for (spec, _) in members {
            *per_host.entry(host_of(&spec.addr)).or_default() += 1;
        }
        let mut nodes = Vec::with_capacity(members.len());
        for (spec, draining) in members {
            let previous = existing.iter().find(|n| *n.id == *spec.id);
            let node = match previous {
                Some(node) if node.backend.addr() == spec.addr => node.clone(),
                Some(node) => Arc::new(Node::succeeding(node, Backend::new(&spec.addr, timeout)?)),
                None => Arc::new(Node::new(
                    &spec.id,
                    Backend::new(&spec.addr, timeout)?,
                    rendezvous::node_seed(&spec.id),
                )),
            };
            node.host_share_divisor
                .store(per_host[&host_of(&spec.addr)], Ordering::Relaxed);
            node.draining.store(*draining, Ordering::Relaxed);
            nodes.push(node);
        }
        let by_id = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        let seeds = nodes.iter().map(|n| n.seed).collect();
        Ok(NodeTable {
            nodes,
            by_id,
            seeds,
            stale_after,
        })
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

    /// How many nodes are up.
    pub fn up_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_up()).count()
    }

    /// The nodes that may take `key` if it is new (up, not draining),
    /// ranked best first, with their utilization.
    pub fn contenders(&self, key: &str) -> Vec<Contender> {
        let now = Instant::now();
        rendezvous::rank(key, &self.seeds)
            .into_iter()
            .filter(|&i| self.nodes[i].is_up() && !self.nodes[i].is_draining())
            .map(|node| Contender {
                node,
                utilization: self.nodes[node].utilization(now, self.stale_after),
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
