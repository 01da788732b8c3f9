//! The `/nodes` schema: what `GET /nodes` shows of each data node.
//!
//! loadgen's `--nodes-poll-ms`, dashboards and operators read these
//! fields, so they are a contract: later changes add fields and keep the
//! existing ones with their names, units and meanings. The same schema is
//! written out for users in `docs/ARCHITECTURE.md` ("The /nodes schema").

use serde::Serialize;

use super::capacity::Source;

/// One data node, as `GET /nodes` shows it under `"nodes"`.
#[derive(Debug, Serialize)]
pub struct NodeView {
    /// Node id, as used in the index and in `X-Cache-Node`.
    pub id: String,
    /// `host:port` of the node's Redis.
    pub addr: String,
    /// `up`, `draining` (up, takes no new keys) or `down`.
    pub state: &'static str,
    /// Who holds the node down, when it is: `own` (this balancer's checks
    /// and requests, or not checked yet), `agent` (its probe agent's
    /// report), `latency` (ejected as a latency outlier). Empty when up.
    pub down_for: Vec<&'static str>,
    /// Bytes used (Redis `used_memory`), from the last sample; null before one.
    pub used_memory_bytes: Option<u64>,
    /// Capacity in bytes, by `capacity_source`; null before a sample and
    /// when unknown.
    pub capacity_bytes: Option<u64>,
    /// Where the capacity comes from: `maxmemory`, `cgroup` (the limit the
    /// node's probe agent reports), `configured`
    /// (`placement.node_capacity_bytes`) or `unknown` (the node takes no
    /// new keys); null before a sample.
    pub capacity_source: Option<Source>,
    /// Why the capacity is unknown, in words; null otherwise.
    pub capacity_unknown_because: Option<String>,
    /// (used + pending bytes) / capacity, a fraction (1.0 = full); null when
    /// the sample is stale or the capacity unknown.
    pub utilization: Option<f64>,
    /// Keys on the node (all databases), from the last sample.
    pub keys: Option<u64>,
    /// Keys the node evicted since it started (Redis `evicted_keys`), from
    /// the last sample.
    pub evicted_keys: Option<u64>,
    /// The node's Redis `maxmemory_policy`, from the last sample; null
    /// before one or from an agent too old to report it. `/nodes` names the
    /// nodes whose policy does not fit `replication.when_full` under
    /// `"when_full"`.
    pub maxmemory_policy: Option<String>,
    /// New keys this balancer placed on the node since it started.
    pub placed_keys: u64,
    /// Bytes this balancer placed on the node since the last sample.
    pub pending_bytes: u64,
    /// Seconds since the last successful sample; null before one.
    pub report_age_seconds: Option<f64>,
    /// Where the memory figures come from: `agent:<host>` or `own_sampling`.
    pub report_source: String,
    /// Why the node was last marked down, until it answers again.
    pub last_error: Option<String>,
    /// Failed requests and health checks in a row.
    pub consecutive_failures: u32,
    /// This balancer's own checks (health checks, memory samples) answered
    /// in a row; a node it marked down needs `failure.rise` of them.
    pub consecutive_successes: u32,
    /// Mean round trip of the latest health checks (up to 5), in
    /// milliseconds; null before one answered or after a failure.
    pub check_latency_ms: Option<f64>,
    /// Writes meant for the node that went elsewhere since its last
    /// resync: its return resyncs it when this is above 0.
    pub missed_writes: u64,
    /// Times the node came back needing a resync (it restarted, moved to
    /// a new address, or missed writes), counted across its addresses.
    pub rejoins: u64,
    /// The node's Redis `run_id`, as last seen; a new one means it restarted.
    pub run_id: Option<String>,
    /// The last state changes (at most 16), oldest first.
    pub transitions: Vec<Transition>,
}

/// One change of a node's state.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    /// `up`, `down` or `restarted`.
    pub state: &'static str,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Why, in words.
    pub reason: String,
}
