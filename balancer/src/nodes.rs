//! The node table: every data node with its connection, its latest memory
//! sample, whether it is up, and the bytes this balancer has placed on it
//! since that sample ("pending bytes").
//!
//! The table turns that state into what placement and lookup need: the
//! up nodes ranked for a key, each with its utilization. A sample older
//! than a few intervals makes a node's utilization unknown, so it is
//! ranked last for new keys but still serves the keys it holds. A
//! *draining* node takes no new keys but is still read.
//!
//! Whether a node is up is decided here from what the rest report: a
//! failed request or health check counts one consecutive failure, and
//! `eject_after` of them mark the node down (outlier ejection); a probe
//! agent's down report marks it down at once. Any answer, a sample or a
//! health check, marks it up again. A node that comes back up, or answers
//! with a new `run_id` (it restarted, empty), is flagged for the repairer.
//! Each node keeps its last state changes with their times.
//!
//! The table itself is an immutable snapshot; [`Membership`] swaps in a new
//! one when ZooKeeper adds, drains or removes nodes, carrying each
//! surviving [`Node`] (its connection and figures) over unchanged.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::time::Instant;

use crate::backend::{Backend, BackendError};
use crate::config::NodeSpec;
use crate::placement::Contender;
use crate::rendezvous;
use memreport::NodeInfo;

/// Samples older than this many intervals count as stale.
const STALE_AFTER_INTERVALS: u32 = 3;

/// State changes kept per node for `GET /nodes`.
const TRANSITIONS_KEPT: usize = 16;

/// One data node.
#[derive(Debug)]
pub struct Node {
    /// Stable id, used for hashing and in the index.
    pub id: Arc<str>,
    /// The node's Redis.
    pub backend: Backend,
    /// Rendezvous seed derived from the id.
    seed: u64,
    /// Capacity when the node has no `maxmemory`: its share of the host's
    /// memory (the host's memory divided by the nodes configured on it).
    host_share_divisor: AtomicU64,
    /// Takes no new keys, still serves the ones it holds.
    draining: AtomicBool,
    /// Bytes placed here since the last sample.
    pending_bytes: AtomicU64,
    /// New keys this balancer placed here since it started.
    placed: AtomicU64,
    /// Failed requests and health checks in a row.
    consecutive_failures: AtomicU32,
    /// Times the node came back up or restarted.
    rejoins: AtomicU64,
    state: Mutex<NodeState>,
}

/// One change of a node's state, for `GET /nodes`.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    /// `up`, `down` or `restarted`.
    pub state: &'static str,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Default)]
struct NodeState {
    up: bool,
    info: Option<NodeInfo>,
    sampled_at: Option<Instant>,
    last_error: Option<String>,
    /// The host of the probe agent that reports this node, once one has.
    agent: Option<String>,
    /// The Redis `run_id` last seen; a new one means the node restarted.
    run_id: Option<String>,
    /// Latest last.
    transitions: VecDeque<Transition>,
}

/// All data nodes, in configuration order.
#[derive(Debug)]
pub struct NodeTable {
    nodes: Vec<Arc<Node>>,
    by_id: HashMap<Arc<str>, usize>,
    seeds: Vec<u64>,
    stale_after: Duration,
}

/// What `GET /nodes` shows about one node.
#[derive(Debug, Serialize)]
pub struct NodeView {
    /// Node id.
    pub id: String,
    /// `host:port`.
    pub addr: String,
    /// `up`, `draining` (up, no new keys) or `down`.
    pub state: &'static str,
    /// Bytes used, from the last sample.
    pub used_memory_bytes: Option<u64>,
    /// Capacity in bytes: `maxmemory`, else the node's share of its host.
    pub capacity_bytes: Option<u64>,
    /// Used plus pending bytes over capacity; null when stale or unknown.
    pub utilization: Option<f64>,
    /// Keys on the node, from the last sample.
    pub keys: Option<u64>,
    /// New keys this balancer placed on the node.
    pub placed_keys: u64,
    /// Bytes placed since the last sample.
    pub pending_bytes: u64,
    /// Seconds since the last successful sample.
    pub report_age_seconds: Option<f64>,
    /// Where the memory figures come from: `agent:<host>` or `own_sampling`.
    pub report_source: String,
    /// The last error talking to the node, if it is down.
    pub last_error: Option<String>,
    /// Failed requests and health checks in a row.
    pub consecutive_failures: u32,
    /// The node's Redis `run_id`, as last seen.
    pub run_id: Option<String>,
    /// The last state changes, oldest first.
    pub transitions: Vec<Transition>,
}

// === impl NodeTable ===

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
    /// table's node for every id whose address is unchanged.
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
            let reused = existing
                .iter()
                .find(|n| *n.id == *spec.id && n.backend.addr() == spec.addr);
            let node = match reused {
                Some(node) => node.clone(),
                None => Arc::new(Node {
                    id: spec.id.as_str().into(),
                    backend: Backend::new(&spec.addr, timeout)?,
                    seed: rendezvous::node_seed(&spec.id),
                    host_share_divisor: AtomicU64::new(1),
                    draining: AtomicBool::new(false),
                    pending_bytes: AtomicU64::new(0),
                    placed: AtomicU64::new(0),
                    consecutive_failures: AtomicU32::new(0),
                    rejoins: AtomicU64::new(0),
                    state: Mutex::new(NodeState::default()),
                }),
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

    /// Grows whenever a node comes back or restarts: a cached location
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

// === impl Node ===

impl Node {
    /// Whether the node takes no new keys.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether the node answered its last sample or request.
    pub fn is_up(&self) -> bool {
        self.lock().up
    }

    /// Records the balancer's own sample: the node is up, and pending
    /// bytes start again from zero.
    pub fn record_sample(&self, info: NodeInfo) {
        self.record(info, None);
    }

    /// Records a probe agent's report that the node is up.
    pub fn record_agent_report(&self, info: NodeInfo, agent: &str) {
        self.record(info, Some(agent));
    }

    fn record(&self, info: NodeInfo, agent: Option<&str>) {
        let mut state = self.lock();
        self.come_up(&mut state, &info.run_id, "memory sample");
        state.info = Some(info);
        state.sampled_at = Some(Instant::now());
        if let Some(agent) = agent {
            state.agent = Some(agent.to_string());
        }
        self.pending_bytes.store(0, Ordering::Relaxed);
    }

    /// Records an answer to the balancer's own health check, which reports
    /// the node's `run_id`.
    pub fn record_alive(&self, run_id: &str) {
        let mut state = self.lock();
        self.come_up(&mut state, run_id, "health check answered");
    }

    /// The node answered: it is up, its failure streak ends, and a new
    /// `run_id` or a return from down flags it for repair.
    fn come_up(&self, state: &mut NodeState, run_id: &str, why: &str) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let was_seen_down = state.last_error.is_some();
        state.last_error = None;
        let restarted =
            !run_id.is_empty() && state.run_id.as_deref().is_some_and(|known| known != run_id);
        if !run_id.is_empty() {
            state.run_id = Some(run_id.to_string());
        }
        if restarted {
            tracing::warn!(node = %self.id, run_id, "data node restarted, empty");
            push_transition(state, "restarted", format!("new run_id {run_id}"));
            self.rejoins.fetch_add(1, Ordering::Relaxed);
        }
        if !state.up {
            state.up = true;
            push_transition(state, "up", why.to_string());
            if was_seen_down {
                tracing::info!(node = %self.id, "data node up");
                self.rejoins.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Marks the node down at once: its agent says so, or a sample failed.
    pub fn mark_down(&self, error: &dyn std::fmt::Display) {
        let mut state = self.lock();
        if state.up {
            tracing::warn!(node = %self.id, %error, "data node down");
            push_transition(&mut state, "down", error.to_string());
        }
        state.up = false;
        state.last_error = Some(error.to_string());
    }

    /// Counts a failed request or health check; the `eject_after`-th in a
    /// row marks the node down. Returns whether this call ejected it.
    pub fn record_failure(&self, error: &dyn std::fmt::Display, eject_after: u32) -> bool {
        let streak = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if streak < eject_after || !self.is_up() {
            return false;
        }
        self.mark_down(&format!("{streak} failures in a row, last: {error}"));
        true
    }

    /// Ends a failure streak after a successful request.
    pub fn record_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Times the node came back up or restarted; the repairer resyncs it
    /// when this grows.
    pub fn rejoins(&self) -> u64 {
        self.rejoins.load(Ordering::Relaxed)
    }

    /// Whether a probe agent reports this node, so the balancer's own
    /// sampler leaves it alone (a silent agent makes it stale instead).
    pub fn is_covered_by_agent(&self) -> bool {
        self.lock().agent.is_some()
    }

    /// Counts a new key placed here, and its bytes until the next sample.
    pub fn record_placement(&self, bytes: u64) {
        self.placed.fetch_add(1, Ordering::Relaxed);
        self.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// New keys placed here since start.
    pub fn placed(&self) -> u64 {
        self.placed.load(Ordering::Relaxed)
    }

    /// Capacity in bytes, from the last sample.
    fn capacity(&self, info: &NodeInfo) -> u64 {
        if info.maxmemory > 0 {
            info.maxmemory
        } else {
            info.total_system_memory / self.host_share_divisor.load(Ordering::Relaxed).max(1)
        }
    }

    fn utilization(&self, now: Instant, stale_after: Duration) -> Option<f64> {
        let state = self.lock();
        let fresh = state.sampled_at.is_some_and(|t| now - t <= stale_after);
        let info = state.info.as_ref().filter(|_| fresh)?;
        let capacity = self.capacity(info);
        if capacity == 0 {
            return None;
        }
        let used = info.used_memory + self.pending_bytes.load(Ordering::Relaxed);
        Some(used as f64 / capacity as f64)
    }

    fn view(&self, now: Instant, stale_after: Duration) -> NodeView {
        let utilization = self.utilization(now, stale_after);
        let state = self.lock();
        let info = state.info.as_ref();
        NodeView {
            id: self.id.to_string(),
            addr: self.backend.addr().to_string(),
            state: match (state.up, self.is_draining()) {
                (false, _) => "down",
                (true, true) => "draining",
                (true, false) => "up",
            },
            used_memory_bytes: info.map(|i| i.used_memory),
            capacity_bytes: info.map(|i| self.capacity(i)),
            utilization,
            keys: info.map(|i| i.keys),
            placed_keys: self.placed(),
            pending_bytes: self.pending_bytes.load(Ordering::Relaxed),
            report_age_seconds: state.sampled_at.map(|t| (now - t).as_secs_f64()),
            report_source: match &state.agent {
                Some(host) => format!("agent:{host}"),
                None => "own_sampling".into(),
            },
            last_error: state.last_error.clone(),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            run_id: state.run_id.clone(),
            transitions: state.transitions.iter().cloned().collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn push_transition(state: &mut NodeState, to: &'static str, reason: String) {
    if state.transitions.len() == TRANSITIONS_KEPT {
        state.transitions.pop_front();
    }
    let at_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    state.transitions.push_back(Transition {
        state: to,
        at_unix_ms,
        reason,
    });
}

/// The current node table, swapped whole when membership changes; every
/// operation loads the table once and works on that snapshot.
#[derive(Debug)]
pub struct Membership {
    table: ArcSwap<NodeTable>,
}

impl Membership {
    /// Starts with `table`.
    pub fn new(table: NodeTable) -> Membership {
        Membership {
            table: ArcSwap::from_pointee(table),
        }
    }

    /// The current table.
    pub fn current(&self) -> Arc<NodeTable> {
        self.table.load_full()
    }

    /// Replaces the table.
    pub fn replace(&self, table: NodeTable) {
        self.table.store(Arc::new(table));
    }

    /// Makes `listed` (`(spec, draining)`) the nodes that take new keys, as
    /// listed. A node this table has that `listed` lacks stays, draining:
    /// its keys are still read. Returns whether anything changed.
    ///
    /// # Errors
    /// A listed address that cannot be used.
    pub fn update(
        &self,
        listed: &[(NodeSpec, bool)],
        timeout: Duration,
    ) -> Result<bool, BackendError> {
        let current = self.current();
        let mut members = listed.to_vec();
        for node in current.all() {
            if !listed.iter().any(|(spec, _)| *spec.id == *node.id) {
                let spec = NodeSpec {
                    id: node.id.to_string(),
                    addr: node.backend.addr().to_string(),
                };
                members.push((spec, true));
            }
        }
        let unchanged = members.len() == current.all().len()
            && members.iter().all(|(spec, draining)| {
                current
                    .by_id(&spec.id)
                    .is_some_and(|n| n.backend.addr() == spec.addr && n.is_draining() == *draining)
            });
        if unchanged {
            return Ok(false);
        }
        self.replace(current.with_members(&members, timeout)?);
        Ok(true)
    }
}
