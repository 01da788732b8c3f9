//! The agent's configuration: a TOML file, overridden by flags.

use std::net::SocketAddr;
use std::time::Duration;

use memreport::NodeSpec;
use serde::Deserialize;

/// Everything the agent needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP server. Default `127.0.0.1:8000`.
    pub listen: SocketAddr,
    /// The host name in reports; default: this machine's name.
    pub host: Option<String>,
    /// The local Redis instances to watch, `addr` or `id=addr`; ids must
    /// match the balancer's. Default: none.
    pub nodes: Vec<NodeSpec>,
    /// Sampling interval in milliseconds. Default 1000.
    pub interval_ms: u64,
    /// Time limit for one `INFO`, milliseconds. Default 500.
    pub node_timeout_ms: u64,
    /// ZooKeeper ensemble (`host:port[,...]`) to register in; none by default.
    pub zookeeper: Option<String>,
    /// ZooKeeper session timeout, milliseconds. Default 5000.
    pub zookeeper_session_ms: u64,
    /// The URL balancers should use to reach this agent; default
    /// `http://<listen>`.
    pub advertise: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            host: None,
            nodes: Vec::new(),
            interval_ms: 1000,
            node_timeout_ms: 500,
            zookeeper: None,
            zookeeper_session_ms: 5000,
            advertise: None,
        }
    }
}

impl Config {
    /// Reads and parses a TOML file.
    pub fn from_file(path: &str) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {path}: {e}"))?;
        toml::from_str(&text).map_err(|e| format!("invalid config file {path}: {e}"))
    }

    /// Checks what types cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("no Redis node to watch: give --nodes or nodes in the file".into());
        }
        for node in &self.nodes {
            memreport::check_host_port(&node.addr).map_err(|e| format!("node address {e}"))?;
        }
        if self.interval_ms == 0 || self.node_timeout_ms == 0 {
            return Err("interval_ms and node_timeout_ms must be positive".into());
        }
        Ok(())
    }

    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// ZooKeeper settings, when configured.
    pub fn zookeeper(&self) -> Option<coordination::session::ZkConfig> {
        let session_ms = self.zookeeper_session_ms;
        self.zookeeper
            .as_deref()
            .map(|address| coordination::session::ZkConfig::new(address, session_ms))
    }

    /// The URL to register.
    pub fn advertised_url(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The time limit for one `INFO`.
    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.node_timeout_ms)
    }
}
