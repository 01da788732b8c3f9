//! The memory report: what a probe agent serves about its host and the
//! Redis instances on it, and what a balancer reads to place keys. Also the
//! parser for Redis `INFO` text that both sides use.
//!
//! Kept tiny and dependency-free (serde only) so both binaries share one
//! definition of the wire format, the way tower-service is shared.
//!
//! # Layout
//! - [`Report`], [`HostMemory`], [`NodeReport`], [`NodeState`],
//!   [`MemoryLimit`]: the JSON served at `GET /report`, versioned by
//!   [`VERSION`]. Fields added later carry `#[serde(default)]`, so a
//!   balancer reads an older agent's reports (and ignores fields it does
//!   not know in a newer one's).
//! - [`info`]: `INFO` text to [`info::NodeInfo`].
//! - [`node_spec`]: a node's id and address as configured.
//! - [`settings`]: what both configurations share: durations in
//!   milliseconds or seconds, and [`overrides!`] for flags over a file.

pub mod info;
pub mod node_spec;
pub mod settings;

use serde::{Deserialize, Serialize};

pub use crate::info::NodeInfo;
pub use crate::node_spec::{NodeSpec, check_host_port};

/// Version of the report format; bumped on any incompatible change.
pub const VERSION: u32 = 1;

/// One sample of a host and its Redis instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`VERSION`] of the format.
    pub version: u32,
    /// The host's name, as the agent registers it.
    pub host: String,
    /// Increases by one with every sample; a restarted agent starts at 1.
    pub seq: u64,
    /// When the sample was taken, milliseconds since the Unix epoch.
    pub taken_at_ms: u64,
    /// How often the agent samples, milliseconds.
    pub interval_ms: u64,
    /// The host's memory.
    pub memory: HostMemory,
    /// CPU use across all cores, percent (0-100).
    pub cpu_percent: f32,
    /// One entry per watched Redis.
    pub nodes: Vec<NodeReport>,
}

/// Host memory, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMemory {
    /// All physical memory.
    pub total_bytes: u64,
    /// Memory available to new allocations without swapping.
    pub available_bytes: u64,
    /// Memory in use.
    pub used_bytes: u64,
}

/// One Redis instance as the agent saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    /// The node's id (what the index and rendezvous hashing use).
    pub id: String,
    /// `host:port`.
    pub addr: String,
    /// Whether it answered `INFO` this time.
    pub state: NodeState,
    /// Its `INFO` figures, when up.
    pub info: Option<NodeInfo>,
    /// Why it is down, when down.
    pub error: Option<String>,
    /// The memory limit of the node's cgroup as the agent sees it; `None`
    /// when the agent could not find it (see `memory_limit_error`), and in
    /// reports from agents older than this field.
    #[serde(default)]
    pub memory_limit: Option<MemoryLimit>,
    /// Why `memory_limit` is `None`, in words, when the node is up.
    #[serde(default)]
    pub memory_limit_error: Option<String>,
}

/// The memory limit of the cgroup a Redis process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryLimit {
    /// The tightest limit, bytes, of the process's memory cgroup and its
    /// ancestors (`memory.max` in cgroup v2, `memory.limit_in_bytes` in
    /// v1); `None` when none of them limits memory.
    pub limit_bytes: Option<u64>,
    /// The cgroup that sets that limit (the process's own cgroup when none
    /// does), as `/proc/<pid>/cgroup` names it.
    pub cgroup: String,
}

/// Whether a node answered its last sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// It answered.
    Up,
    /// It did not answer in time.
    Down,
}
