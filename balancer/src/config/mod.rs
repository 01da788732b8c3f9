//! The balancer's configuration: one typed tree, read from a TOML file and
//! then overridden by command-line flags or environment variables.
//!
//! The `Default` impls (here and in [`sections`]) are the one place the
//! defaults are written: the flags ([`Overrides`]) carry none of their own
//! and replace only what they are given, and the README, the example file
//! and the `[default: ...]` of each `--help` text are checked against them
//! by tests where they state a value.
//!
//! Durations are [`Duration`]s, written as whole milliseconds (or seconds)
//! under names that say so (`node_ms`), read by [`millis`] and [`secs`].
//!
//! Reading a source (a file, the process arguments) is kept apart from
//! parsing it, so tests build a [`Config`] from a string, an [`Overrides`]
//! or by hand and never touch the real environment. [`Config::validate`]
//! checks everything once at start-up; a bad value is a [`ConfigError`],
//! never a panic later.

mod cli;
mod cors;
mod error;
mod failure;
mod identity;
mod rebalance;
mod sections;
mod server;
mod users;
mod when_full;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

pub use memreport::NodeSpec;
pub use memreport::settings::{Secret, millis, secs};
use serde::Deserialize;

pub use self::cli::{Args, Overrides};
pub use self::cors::CorsConfig;
pub use self::error::ConfigError;
pub use self::failure::FailureConfig;
pub use self::rebalance::{RebalanceConfig, marks_problem};
pub use self::sections::{
    Choices, Limits, PlacementConfig, RepairConfig, ReplicationConfig, TestingConfig, Timeouts,
    WriteAck,
};
pub use self::server::ServerConfig;
pub use self::users::UsersConfig;
pub use self::when_full::WhenFull;

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
    /// ZooKeeper session timeout: how long this balancer's registration
    /// outlives it. Whole milliseconds, key `zookeeper_session_ms`. Default 5000 ms.
    #[serde(
        rename = "zookeeper_session_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub zookeeper_session: Duration,
    /// This balancer's id in ZooKeeper; default
    /// `balancer-<host name>-<listen address>`.
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
    /// Time budgets.
    pub timeouts: Timeouts,
    /// Bounds on client connections and requests.
    pub server: ServerConfig,
    /// The user-record API (`[users]`).
    pub users: UsersConfig,
    /// Cross-origin requests from browsers (`[cors]`); off by default.
    pub cors: CorsConfig,
    /// Moving placed keys: drains, skew, added nodes (`[rebalance]`).
    pub rebalance: RebalanceConfig,
    /// How often each node's memory is sampled with `INFO`. Whole
    /// milliseconds, key `sample_interval_ms`. Default 1000 ms.
    #[serde(
        rename = "sample_interval_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub sample_interval: Duration,
    /// Entries in the in-process key-location cache (an LRU). Default 100 000.
    pub location_cache_entries: NonZeroUsize,
    /// Bytes of values the near cache keeps in the balancer, answered
    /// without a Redis round trip and invalidated by the data nodes
    /// (`CLIENT TRACKING`); 0 turns it off. Default 64 MiB (67108864).
    pub near_cache_bytes: usize,
    /// How far a near-cache hit may lag a write acknowledged through
    /// another balancer (or around the balancers): values are served from
    /// a node's stream only while a heartbeat sent at most this long ago
    /// has been answered. Also bounds the location cache's lag behind the
    /// index. Capped at half the server's command timeout. Whole
    /// milliseconds, key `near_cache_max_lag_ms`. Default 200 ms.
    #[serde(
        rename = "near_cache_max_lag_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub near_cache_max_lag: Duration,
    /// Redis ACL user for the index and the data nodes; none by default
    /// (Redis's `default` user, the one `requirepass` sets).
    pub redis_username: Option<String>,
    /// Password for the index and the data nodes (`requirepass`, or the
    /// ACL user's), sent on every connection; none by default (no AUTH).
    pub redis_password: Option<Secret>,
    /// ZooKeeper digest credentials, `user:password`: the session
    /// authenticates with them, and every znode this balancer creates
    /// under `/dlb` gets an ACL giving all permissions to that identity
    /// only. None by default: no auth, open ACLs.
    pub zookeeper_auth: Option<Secret>,
    /// The bearer token the admin API (`/admin/...`) requires; none by
    /// default, which turns the admin routes off (404).
    pub admin_token: Option<Secret>,
    /// TEST-ONLY settings (`[testing]`): a skewed clock for the chaos
    /// harness. Leave it out in production.
    pub testing: TestingConfig,
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
            zookeeper_session: Duration::from_millis(5000),
            id: None,
            placement: PlacementConfig::default(),
            limits: Limits::default(),
            replication: ReplicationConfig::default(),
            failure: FailureConfig::default(),
            repair: RepairConfig::default(),
            timeouts: Timeouts::default(),
            server: ServerConfig::default(),
            users: UsersConfig::default(),
            cors: CorsConfig::default(),
            rebalance: RebalanceConfig::default(),
            sample_interval: Duration::from_millis(1000),
            location_cache_entries: NonZeroUsize::new(100_000).expect("non-zero"),
            near_cache_bytes: 64 * 1024 * 1024,
            near_cache_max_lag: Duration::from_millis(200),
            redis_username: None,
            redis_password: None,
            zookeeper_auth: None,
            admin_token: None,
            testing: TestingConfig::default(),
        }
    }
}

impl Config {
    /// Parses a TOML document; missing fields take their defaults.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            ConfigError::Parse(memreport::settings::toml_error(
                text,
                e.message(),
                e.span(),
                &["redis_password", "zookeeper_auth", "admin_token"],
            ))
        })
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &str) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_string(),
            source,
        })?;
        Config::from_toml_str(&text)
    }

    /// The configuration to run with: the file's (the defaults without
    /// one), with `overrides` written over it, checked.
    pub fn load(file: Option<&str>, overrides: Overrides) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        overrides.apply(&mut config);
        config.validate()?;
        Ok(config)
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
        if let Some(problem) = self.credentials_problem() {
            return invalid(problem);
        }
        if let Some(problem) = self.placement.problem() {
            return invalid(problem);
        }
        if self.limits.max_key_bytes == 0 || self.limits.max_value_bytes == 0 {
            return invalid("limits must be positive".into());
        }
        let batch = self.rebalance.batch_keys;
        if let Some(problem) = rebalance::journal_problem(batch, self.limits.max_key_bytes) {
            return invalid(problem);
        }
        if let Some(problem) = self.failure.problem() {
            return invalid(problem);
        }
        if let Some(problem) = self.server.problem() {
            return invalid(problem);
        }
        let problem = (self.users.problem())
            .or_else(|| self.cors.problem())
            .or_else(|| self.rebalance.problem());
        if let Some(problem) = problem {
            return invalid(problem);
        }
        if self.repair.has_zero() {
            return invalid("repair settings must be positive".into());
        }
        // Named as the file names them; the flags' names end the same way.
        // Only the shutdown grace may be zero (no grace).
        let t = &self.timeouts;
        let durations = [
            ("timeouts.node_ms", t.node),
            ("timeouts.index_ms", t.index),
            ("timeouts.index_retry_ms", t.index_retry),
            ("timeouts.request_ms", t.request),
            ("sample_interval_ms", self.sample_interval),
            ("near_cache_max_lag_ms", self.near_cache_max_lag),
            ("failure.health_interval_ms", self.failure.health_interval),
            (
                "replication.tombstone_ttl_secs",
                self.replication.tombstone_ttl,
            ),
            (
                "replication.max_clock_drift_ms",
                self.replication.max_clock_drift,
            ),
        ];
        match durations.iter().find(|(_, d)| d.is_zero()) {
            Some((name, _)) => invalid(format!("{name} must be positive")),
            None => Ok(()),
        }
    }
}

fn check_host_port(what: &str, addr: &str) -> Result<(), ConfigError> {
    memreport::check_host_port(addr).map_err(|e| ConfigError::Invalid(format!("{what} {e}")))
}

#[cfg(test)]
mod tests;
