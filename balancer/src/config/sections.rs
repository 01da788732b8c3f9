//! The tables of the configuration file (`[placement]`, `[timeouts]`, ...)
//! and the values they hold. Each `Default` impl is where that table's
//! defaults are written, and the only place.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Deserialize;

use super::{WhenFull, millis, secs};

/// Where new keys go (see `placement.rs`, which decides with it).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementConfig {
    /// How many rendezvous candidates compete for a new key: a number, or
    /// `"all"` for pure least-utilized placement. Default 2.
    pub choices: Choices,
    /// Bounded-load slack, a fraction: a node above `(1 + epsilon) x mean
    /// utilization` takes no new keys while another node is under that
    /// cap. Default 0.25.
    pub load_epsilon: f64,
    /// Capacity in bytes of nodes without `maxmemory`, by node id, for
    /// those whose probe agent reports no cgroup limit (a node with
    /// neither takes no new keys; see `nodes/capacity.rs`). A table
    /// `[placement.node_capacity_bytes]`, e.g. `n1 = 2147483648`; file only.
    /// Default: none.
    pub node_capacity_bytes: BTreeMap<String, u64>,
}

/// Replication settings (see `cache.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationConfig {
    /// Copies of each key, R: the primary and R-1 replicas on distinct
    /// nodes, capped at the number of up nodes. Default 2.
    pub factor: NonZeroUsize,
    /// Replicas that must take a write before it is acknowledged: `one`,
    /// `quorum` (a majority of R) or `all`; a request may ask for another
    /// with `?ack=` or the `X-Write-Ack` header. Default `quorum`.
    pub write_ack: WriteAck,
    /// How long a delete's tombstone keeps a late, older write from
    /// bringing the key back; whole seconds, key `tombstone_ttl_secs`.
    /// Default 60 s.
    #[serde(rename = "tombstone_ttl_secs", deserialize_with = "secs::deserialize")]
    pub tombstone_ttl: Duration,
    /// How far ahead of a clock a write timestamp may be: this balancer
    /// adopts no timestamp seen on a node further ahead of its wall clock,
    /// and a node refuses a write stamped further ahead of its own (see
    /// `hlc.rs`); whole milliseconds, key `max_clock_drift_ms`. Default 1000 ms.
    #[serde(
        rename = "max_clock_drift_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub max_clock_drift: Duration,
    /// What a full cluster does: `refuse` writes with 507 (the nodes run
    /// `noeviction`), or `evict` as a cache (the nodes run an `allkeys-*`
    /// policy) without copying an evicted key back. Default `refuse`.
    pub when_full: WhenFull,
}

/// How many replicas must take a write before the client hears it worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteAck {
    /// The first replica.
    One,
    /// A majority of the replica set.
    Quorum,
    /// Every replica.
    All,
}

/// Repair settings (see `repair.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RepairConfig {
    /// Keys waiting for a repair at most; more are dropped and counted,
    /// left to the resync that follows the node's return. Default 100 000.
    pub queue_limit: usize,
    /// Tries per repair, with doubling back-off from 100 ms. Default 8.
    pub max_attempts: u32,
    /// Keys per second a resync of a returning node copies at most. Default 5000.
    pub resync_keys_per_sec: u32,
    /// Keys per second the rebuild of an index that lost its data reads
    /// from the nodes and adopts into the index at most. Default 20000.
    pub index_rebuild_keys_per_sec: u32,
}

/// Settings that exist only for tests (the chaos harness); production
/// configurations leave this table out.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TestingConfig {
    /// TEST-ONLY: milliseconds added to this balancer's wall-clock reading
    /// for its write timestamps (negative: behind), to simulate a skewed
    /// host clock (see `hlc.rs`). Default 0.
    pub clock_offset_ms: i64,
}

/// The number of rendezvous candidates considered for a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choices {
    /// The top `n` candidates by rendezvous rank.
    Top(NonZeroUsize),
    /// Every up node.
    All,
}

/// Request size limits.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest key, in bytes of UTF-8. Default 1024.
    pub max_key_bytes: usize,
    /// Largest value, in bytes of its JSON text. Default 1 MiB (1048576).
    pub max_value_bytes: usize,
}

/// Time budgets. Each is written in whole milliseconds, under its name
/// with `_ms` added (`node` is `node_ms`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// One command to a data node. Default 500 ms.
    #[serde(rename = "node_ms", deserialize_with = "millis::deserialize")]
    pub node: Duration,
    /// One command to the index Redis. Default 200 ms.
    #[serde(rename = "index_ms", deserialize_with = "millis::deserialize")]
    pub index: Duration,
    /// How often a down index is pinged to see whether it is back. Default 1000 ms.
    #[serde(rename = "index_retry_ms", deserialize_with = "millis::deserialize")]
    pub index_retry: Duration,
    /// A whole client request. Default 5000 ms.
    #[serde(rename = "request_ms", deserialize_with = "millis::deserialize")]
    pub request: Duration,
    /// How long in-flight requests may run on after a shutdown signal.
    /// Default 10 000 ms.
    #[serde(rename = "shutdown_grace_ms", deserialize_with = "millis::deserialize")]
    pub shutdown_grace: Duration,
}

// === impl PlacementConfig, Choices ===

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            choices: Choices::Top(NonZeroUsize::new(2).expect("non-zero")),
            load_epsilon: 0.25,
            node_capacity_bytes: BTreeMap::new(),
        }
    }
}

impl PlacementConfig {
    /// What is wrong with these settings, if anything.
    pub(super) fn problem(&self) -> Option<String> {
        let eps = self.load_epsilon;
        if !(eps.is_finite() && eps >= 0.0) {
            return Some(format!("placement.load_epsilon must be >= 0, got {eps}"));
        }
        let (id, _) = self.node_capacity_bytes.iter().find(|(_, b)| **b == 0)?;
        Some(format!(
            "placement.node_capacity_bytes.{id} must be positive"
        ))
    }
}

impl std::str::FromStr for Choices {
    type Err = String;

    /// Parses a positive number or `all`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Choices::All);
        }
        s.parse::<NonZeroUsize>()
            .map(Choices::Top)
            .map_err(|_| format!("choices must be a positive number or \"all\", got {s:?}"))
    }
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => NonZeroUsize::new(n)
                .map(Choices::Top)
                .ok_or_else(|| serde::de::Error::custom("choices must be positive")),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

// === impl ReplicationConfig, WriteAck ===

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            factor: NonZeroUsize::new(2).expect("non-zero"),
            write_ack: WriteAck::Quorum,
            tombstone_ttl: Duration::from_secs(60),
            max_clock_drift: Duration::from_millis(1000),
            when_full: WhenFull::Refuse,
        }
    }
}

impl std::str::FromStr for WriteAck {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "one" => Ok(WriteAck::One),
            "quorum" => Ok(WriteAck::Quorum),
            "all" => Ok(WriteAck::All),
            _ => Err(format!(
                "write ack must be \"one\", \"quorum\" or \"all\", got {s:?}"
            )),
        }
    }
}

// === impl RepairConfig, Limits, Timeouts ===

impl RepairConfig {
    /// Whether a setting that must be positive is zero.
    pub(super) fn has_zero(&self) -> bool {
        self.queue_limit == 0
            || self.max_attempts == 0
            || self.resync_keys_per_sec == 0
            || self.index_rebuild_keys_per_sec == 0
    }
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig {
            queue_limit: 100_000,
            max_attempts: 8,
            resync_keys_per_sec: 5000,
            index_rebuild_keys_per_sec: 20_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            node: Duration::from_millis(500),
            index: Duration::from_millis(200),
            index_retry: Duration::from_millis(1000),
            request: Duration::from_millis(5000),
            shutdown_grace: Duration::from_millis(10_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_repair_setting_must_be_positive() {
        assert!(!RepairConfig::default().has_zero());
        let rebuild = RepairConfig {
            index_rebuild_keys_per_sec: 0,
            ..RepairConfig::default()
        };
        assert!(rebuild.has_zero());
    }

    #[test]
    fn a_configured_capacity_must_be_positive_and_epsilon_not_negative() {
        assert_eq!(PlacementConfig::default().problem(), None);
        let mut placement = PlacementConfig::default();
        placement.node_capacity_bytes.insert("a".into(), 1 << 30);
        assert_eq!(placement.problem(), None);
        placement.node_capacity_bytes.insert("b".into(), 0);
        let problem = placement.problem().unwrap();
        assert!(
            problem.contains("node_capacity_bytes.b must be positive"),
            "{problem}"
        );
        placement.load_epsilon = -1.0;
        assert!(placement.problem().unwrap().contains("load_epsilon"));
    }
}
