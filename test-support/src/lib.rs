//! Test support: real `redis-server` and ZooKeeper processes on free loopback ports, a
//! balancer and a probe agent running in-process on port 0, a small HTTP
//! client, and helpers over a running cluster.
//!
//! Everything here cleans up on `Drop`: a test that panics leaves no
//! process behind.
//!
//! # Layout
//! - [`redis_server`]: [`RedisServer`], one child process per instance,
//!   optionally wanting a password or an ACL user ([`ServerAuth`]).
//! - [`balancer`]: [`TestBalancer`], `balancer::run` on a spawned task,
//!   and its `/nodes` view ([`nodes_view`], [`node_entries`], [`node_state`]).
//! - [`cluster`]: [`Cluster`], an index and data nodes; [`write_keys`]
//!   through a balancer, and a key's replica set as the index records it
//!   ([`Cluster::replica_set`]).
//! - [`container`]: [`RedisContainer`], a Redis in a memory-limited
//!   Docker container, from an image built here.
//! - [`agent`]: [`TestAgent`], `probe_agent::run` with fixed host figures.
//! - [`http`]: [`HttpClient`], JSON requests with status and headers.
//! - [`https`]: [`HttpsClient`], the same over TLS, trusting a test CA.
//! - [`proxy`]: [`TcpProxy`], a TCP proxy in front of a node that a test
//!   can cut for some clients or slow down.
//! - [`zookeeper`]: [`ZooKeeperServer`], a standalone ZooKeeper process.
//! - `signal.rs`: the `SIGSTOP`/`SIGCONT` both servers' `pause` and
//!   `resume` send.

pub mod agent;
pub mod balancer;
pub mod cluster;
pub mod container;
pub mod http;
pub mod https;
pub mod listing;
pub mod proxy;
pub mod redis_server;
mod signal;
pub mod zookeeper;

pub use self::agent::{AGENT_CPU_PERCENT, AGENT_HOST_MEMORY, TestAgent};
pub use self::balancer::{
    TestBalancer, closed_count, node_entries, node_state, nodes_view, test_config, write_value,
};
pub use self::cluster::{
    Cluster, WrittenKey, past_timestamp, put_copy, values_by_key, wall_ms, write_keys,
    write_keys_with,
};
pub use self::container::{Pids, RedisContainer};
pub use self::http::{HttpClient, HttpReply};
pub use self::https::HttpsClient;
pub use self::proxy::TcpProxy;
pub use self::redis_server::{RedisServer, ServerAuth};
pub use self::zookeeper::ZooKeeperServer;

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// Polls `check` every 50 ms until it holds; panics after `seconds`.
pub async fn wait_until(what: &str, seconds: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out after {seconds} s waiting until {what}");
}
