//! The balancer's configuration: one typed tree, read from a TOML file and
//! then overridden by command-line flags or environment variables.
//!
//! Reading a source (a file, the process arguments) is kept apart from
//! parsing it, so tests build a [`Config`] from a string or by hand and never
//! touch the real environment. [`Config::validate`] checks everything once at
//! start-up; a bad value is a [`ConfigError`], never a panic later.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

pub use memreport::NodeSpec;
use serde::Deserialize;

/// Everything the balancer needs to run. Every field has a default, so an
/// empty file is a valid configuration for the one-machine local stack.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on. Default `127.0.0.1:3100`.
    pub listen: SocketAddr,
    /// Address of the index Redis that holds key locations. Default `127.0.0.1:5000`.
    pub index: String,
    /// The data nodes, each `addr` or `id=addr` (the id defaults to the
    /// address). Default: 127.0.0.1 ports 5300, 5400, 5500 and 5600.
    pub nodes: Vec<NodeSpec>,
    /// Probe agents to follow, as base URLs (`http://host:8000`). Nodes
    /// they report take their memory figures from them; the rest are
    /// sampled by the balancer itself. Default: none.
    pub probes: Vec<String>,
    /// ZooKeeper ensemble (`host:port[,...]`) for registration, leader
    /// election and probe discovery; none by default (static settings only).
    pub zookeeper: Option<String>,
    /// ZooKeeper session timeout in milliseconds. Default 5000.
    pub zookeeper_session_ms: u64,
    /// This balancer's id in ZooKeeper; default `balancer-<listen address>`.
    pub id: Option<String>,
    /// Where new keys go.
    pub placement: PlacementConfig,
    /// Request size limits.
    pub limits: Limits,
    /// Replication and write acknowledgement.
    pub replication: ReplicationConfig,
    /// Failure detection.
    pub failure: FailureConfig,
    /// Repairs of replicas that missed writes.
    pub repair: RepairConfig,
    /// Time budgets, in milliseconds.
    pub timeouts: Timeouts,
    /// How often each node's memory is sampled with `INFO`, in milliseconds. Default 1000.
    pub sample_interval_ms: u64,
    /// Entries in the in-process key-location cache (an LRU). Default 100 000.
    pub location_cache_entries: NonZeroUsize,
    /// Bytes of values the near cache keeps in the balancer, answered
    /// without a Redis round trip and invalidated by the data nodes
    /// (`CLIENT TRACKING`); 0 turns it off. Default 64 MiB.
    pub near_cache_bytes: usize,
}

/// Placement settings (see `placement.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementConfig {
    /// How many rendezvous candidates compete for a new key: a number, or
    /// `"all"` for pure least-utilized placement. Default 2.
    pub choices: Choices,
    /// Bounded-load slack: a node above `(1 + epsilon) x mean utilization`
    /// takes no new keys while another node is under that cap. Default 0.25.
    pub load_epsilon: f64,
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
    /// bringing the key back, in seconds. Default 60.
    pub tombstone_ttl_secs: u64,
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

/// Failure detection settings (see `health.rs` and `nodes.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FailureConfig {
    /// Failed requests or health checks in a row that mark a node down
    /// (outlier ejection). Default 3.
    pub eject_after: u32,
    /// How often the balancer checks every node itself (`INFO server`), in
    /// milliseconds; a down node is marked up by the first answer. Default 500.
    pub health_interval_ms: u64,
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
    /// Largest value, in bytes of its JSON text. Default 1 MiB.
    pub max_value_bytes: usize,
}

/// Time budgets, all in milliseconds.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// One command to a data node. Default 500.
    pub node_ms: u64,
    /// One command to the index Redis. Default 200.
    pub index_ms: u64,
    /// How often a down index is pinged to see whether it is back. Default 1000.
    pub index_retry_ms: u64,
    /// A whole client request. Default 5000.
    pub request_ms: u64,
    /// How long in-flight requests may run on after a shutdown signal. Default 10 000.
    pub shutdown_grace_ms: u64,
}

/// A configuration that cannot be used, with what is wrong in words.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this tree.
    #[error("invalid config file: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

// === impl Config ===

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3100)),
            index: "127.0.0.1:5000".into(),
            nodes: [5300, 5400, 5500, 5600]
                .iter()
                .map(|p| NodeSpec::from_addr(format!("127.0.0.1:{p}")))
                .collect(),
            probes: Vec::new(),
            zookeeper: None,
            zookeeper_session_ms: 5000,
            id: None,
            placement: PlacementConfig::default(),
            limits: Limits::default(),
            replication: ReplicationConfig::default(),
            failure: FailureConfig::default(),
            repair: RepairConfig::default(),
            timeouts: Timeouts::default(),
            sample_interval_ms: 1000,
            location_cache_entries: NonZeroUsize::new(100_000).expect("non-zero"),
            near_cache_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Config {
    /// Parses a TOML document; missing fields take their defaults.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &str) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_string(),
            source,
        })?;
        Config::from_toml_str(&text)
    }

    /// Checks the values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.nodes.is_empty() {
            return invalid("at least one data node is needed".into());
        }
        let mut ids: Vec<&str> = self.nodes.iter().map(|n| n.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return invalid(format!("node id {:?} appears twice", w[0]));
        }
        for node in &self.nodes {
            if node.id.contains(',') {
                return invalid(format!("node id {:?} must not contain a comma", node.id));
            }
            check_host_port("node address", &node.addr)?;
        }
        check_host_port("index address", &self.index)?;
        for url in &self.probes {
            let rest = url.strip_prefix("http://").unwrap_or_default();
            check_host_port("probe agent URL", rest.trim_end_matches('/')).map_err(|_| {
                ConfigError::Invalid(format!("probe agent URL {url:?} is not http://host:port"))
            })?;
        }
        let eps = self.placement.load_epsilon;
        if !(eps.is_finite() && eps >= 0.0) {
            return invalid(format!("placement.load_epsilon must be >= 0, got {eps}"));
        }
        if self.limits.max_key_bytes == 0 || self.limits.max_value_bytes == 0 {
            return invalid("limits must be positive".into());
        }
        if self.failure.eject_after == 0 || self.failure.health_interval_ms == 0 {
            return invalid("failure.eject_after and health_interval_ms must be positive".into());
        }
        if self.replication.tombstone_ttl_secs == 0 {
            return invalid("replication.tombstone_ttl_secs must be positive".into());
        }
        let r = &self.repair;
        if r.queue_limit == 0 || r.max_attempts == 0 || r.resync_keys_per_sec == 0 {
            return invalid("repair settings must be positive".into());
        }
        let t = &self.timeouts;
        if [t.node_ms, t.index_ms, t.request_ms, self.sample_interval_ms].contains(&0) {
            return invalid("timeouts and sample_interval_ms must be positive".into());
        }
        Ok(())
    }

    /// ZooKeeper settings, when configured.
    pub fn zookeeper(&self) -> Option<coordination::session::ZkConfig> {
        let session_ms = self.zookeeper_session_ms;
        self.zookeeper
            .as_deref()
            .map(|address| coordination::session::ZkConfig::new(address, session_ms))
    }

    /// This balancer's id.
    pub fn balancer_id(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("balancer-{}", self.listen))
    }

    /// The per-command budget for a data node.
    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.timeouts.node_ms)
    }

    /// The per-command budget for the index Redis.
    pub fn index_timeout(&self) -> Duration {
        Duration::from_millis(self.timeouts.index_ms)
    }

    /// The budget for a whole client request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.timeouts.request_ms)
    }

    /// How long in-flight requests may finish after a shutdown signal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.timeouts.shutdown_grace_ms)
    }

    /// How often a down index is pinged.
    pub fn index_retry(&self) -> Duration {
        Duration::from_millis(self.timeouts.index_retry_ms)
    }

    /// The interval of the balancer's own health checks.
    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.failure.health_interval_ms)
    }

    /// The memory sampling period.
    pub fn sample_interval(&self) -> Duration {
        Duration::from_millis(self.sample_interval_ms)
    }
}

fn check_host_port(what: &str, addr: &str) -> Result<(), ConfigError> {
    memreport::check_host_port(addr).map_err(|e| ConfigError::Invalid(format!("{what} {e}")))
}

// === impl PlacementConfig, Choices, Limits, Timeouts ===

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            choices: Choices::Top(NonZeroUsize::new(2).expect("non-zero")),
            load_epsilon: 0.25,
        }
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

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            factor: NonZeroUsize::new(2).expect("non-zero"),
            write_ack: WriteAck::Quorum,
            tombstone_ttl_secs: 60,
        }
    }
}

impl WriteAck {
    /// Acknowledgements needed from a replica set of `replicas` nodes.
    pub fn needed(self, replicas: usize) -> usize {
        match self {
            WriteAck::One => 1.min(replicas),
            WriteAck::Quorum => replicas / 2 + 1,
            WriteAck::All => replicas,
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

impl Default for FailureConfig {
    fn default() -> Self {
        FailureConfig {
            eject_after: 3,
            health_interval_ms: 500,
        }
    }
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig {
            queue_limit: 100_000,
            max_attempts: 8,
            resync_keys_per_sec: 5000,
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
            node_ms: 500,
            index_ms: 200,
            index_retry_ms: 1000,
            request_ms: 5000,
            shutdown_grace_ms: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
        Config::default().validate().unwrap();
    }

    #[test]
    fn example_file_shows_the_defaults() {
        let example = Config::from_toml_str(include_str!("../balancer.example.toml")).unwrap();
        assert_eq!(example, Config::default());
    }

    #[test]
    fn parses_nodes_and_choices() {
        let c = Config::from_toml_str(
            r#"
            nodes = ["a=127.0.0.1:7000", "127.0.0.1:7001"]
            [placement]
            choices = "all"
            "#,
        )
        .unwrap();
        assert_eq!(c.nodes[0].id, "a");
        assert_eq!(c.nodes[1].id, "127.0.0.1:7001");
        assert_eq!(c.placement.choices, Choices::All);
        let c = Config::from_toml_str("[placement]\nchoices = 3").unwrap();
        assert_eq!(
            c.placement.choices,
            Choices::Top(NonZeroUsize::new(3).unwrap())
        );
    }

    #[test]
    fn rejects_bad_values() {
        assert!(Config::from_toml_str("[placement]\nchoices = 0").is_err());
        assert!(Config::from_toml_str("bogus = 1").is_err());
        let mut c = Config::default();
        c.nodes.push(c.nodes[0].clone());
        assert!(c.validate().unwrap_err().to_string().contains("twice"));
        let c = Config {
            nodes: vec!["nope".parse().unwrap()],
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }
}
