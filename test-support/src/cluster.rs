//! An index Redis and data nodes, all real processes, and what tests do to
//! them through a balancer: write keys, read where the index put them.

use std::collections::HashMap;

use balancer::config::Config;
use balancer::index::entry_key;
use hyper::StatusCode;
use serde_json::json;

use crate::{HttpClient, RedisServer, ServerAuth, TestBalancer, test_config};

/// An index Redis and a set of data nodes, all real processes.
#[derive(Debug)]
pub struct Cluster {
    /// The index Redis.
    pub index: RedisServer,
    /// The data nodes, in configuration order.
    pub nodes: Vec<RedisServer>,
}

impl Cluster {
    /// Starts an index and one data node per `maxmemory` value.
    pub fn start(maxmemories: &[&str]) -> Cluster {
        Cluster::with_auth(maxmemories, ServerAuth::None)
    }

    /// An index on `127.0.0.1` and one data node per `(host, maxmemory)`:
    /// nodes on distinct loopback addresses are distinct failure domains.
    pub fn on_hosts(nodes: &[(&str, &str)]) -> Cluster {
        Cluster {
            index: RedisServer::start(),
            nodes: nodes
                .iter()
                .map(|(host, m)| RedisServer::on_host(host, m, ServerAuth::None))
                .collect(),
        }
    }

    /// [`Cluster::start`] with every server wanting `auth` (and [`Cluster::config`]
    /// giving the balancer its credentials).
    pub fn with_auth(maxmemories: &[&str], auth: ServerAuth) -> Cluster {
        Cluster {
            index: RedisServer::with_auth("64mb", auth.clone()),
            nodes: maxmemories
                .iter()
                .map(|m| RedisServer::with_auth(m, auth.clone()))
                .collect(),
        }
    }

    /// A test configuration pointing at these servers.
    pub fn config(&self) -> Config {
        let nodes: Vec<&RedisServer> = self.nodes.iter().collect();
        test_config(&self.index, &nodes)
    }

    /// The same with one copy per key, for tests of where a key goes
    /// (placement, the index and its fallback); replication has its own.
    pub fn unreplicated_config(&self) -> Config {
        let mut config = self.config();
        config.replication.factor = std::num::NonZeroUsize::MIN;
        config
    }

    /// The index entry of `key` as stored: its replica set, primary first,
    /// comma separated; `None` when the index has no entry.
    pub async fn index_entry(&self, key: &str) -> Option<String> {
        let mut conn = self.index.connection().await;
        redis::cmd("GET")
            .arg(entry_key(key))
            .query_async(&mut conn)
            .await
            .expect("read the index entry")
    }

    /// The replica set the index records for `key`, primary first; empty
    /// when it has no entry.
    pub async fn replica_set(&self, key: &str) -> Vec<String> {
        members(self.index_entry(key).await)
    }

    /// [`Cluster::replica_set`] of each of `keys`, in order, read over one
    /// connection in one `MGET`: tests that poll hundreds of keys must see
    /// the index many times a second, not once every few.
    pub async fn replica_sets<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Vec<Vec<String>> {
        let entries: Vec<String> = keys.into_iter().map(entry_key).collect();
        if entries.is_empty() {
            return Vec::new();
        }
        let mut conn = self.index.connection().await;
        let stored: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&entries)
            .query_async(&mut conn)
            .await
            .expect("read the index entries");
        stored.into_iter().map(members).collect()
    }

    /// Empties the index Redis (`FLUSHALL`), as a restart without
    /// persistence does; its `run_id` stays the same.
    pub async fn flush_index(&self) {
        let mut conn = self.index.connection().await;
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .expect("flush the index");
    }

    /// Overwrites the index entry of `key` with `entry`, as another balancer
    /// moving the key would.
    pub async fn set_index_entry(&self, key: &str, entry: &str) {
        let mut conn = self.index.connection().await;
        let _: () = redis::cmd("SET")
            .arg(entry_key(key))
            .arg(entry)
            .query_async(&mut conn)
            .await
            .expect("write the index entry");
    }
}

/// Stores a version of `key` straight on `node`, around every balancer, as
/// the balancer stores values (a hash: `v` the JSON text, `t` the
/// timestamp): a copy an earlier placement left there.
pub async fn put_copy(node: &RedisServer, key: &str, json: &str, timestamp: &str) {
    let mut conn = node.connection().await;
    let _: () = redis::cmd("HSET")
        .arg(key)
        .arg("t")
        .arg(timestamp)
        .arg("v")
        .arg(json)
        .query_async(&mut conn)
        .await
        .expect("write a copy");
}

/// A write timestamp `ms_ago` milliseconds in the past, ordered before
/// every write a balancer stamps now.
pub fn past_timestamp(ms_ago: u64) -> String {
    format!("{:013}.000000.test", wall_ms() - ms_ago)
}

/// This machine's wall clock, which the test's Redis servers share, in
/// milliseconds since 1970: what a balancer's clock and a node's `TIME`
/// read.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// One key written through a balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenKey {
    /// `<prefix>-<i>`.
    pub key: String,
    /// The JSON string stored.
    pub value: String,
    /// The write's `X-Cache-Node`: the node, or the replicas comma
    /// separated.
    pub node: String,
}

/// Writes `count` new keys `<prefix>-0`, `<prefix>-1`, ... through
/// `balancer`, each with the value `value of <key>`, asserting each is
/// created; returns them in that order.
pub async fn write_keys(
    http: &HttpClient,
    balancer: &TestBalancer,
    prefix: &str,
    count: usize,
) -> Vec<WrittenKey> {
    write_keys_with(http, balancer, prefix, count, |key| {
        format!("value of {key}")
    })
    .await
}

/// The same with the value `value_of(key)`, e.g. a large one.
pub async fn write_keys_with(
    http: &HttpClient,
    balancer: &TestBalancer,
    prefix: &str,
    count: usize,
    value_of: impl Fn(&str) -> String,
) -> Vec<WrittenKey> {
    let mut written = Vec::with_capacity(count);
    for i in 0..count {
        let key = format!("{prefix}-{i}");
        let value = value_of(&key);
        let r = http
            .post_json(
                &format!("{}/cache", balancer.url),
                &json!({"key": key, "value": value}),
            )
            .await
            .expect("POST /cache");
        assert_eq!(r.status, StatusCode::CREATED, "{key}: {}", r.body);
        let node = r.node().expect("X-Cache-Node");
        written.push(WrittenKey { key, value, node });
    }
    written
}

/// The written keys with their values.
pub fn values_by_key(written: &[WrittenKey]) -> HashMap<String, String> {
    written
        .iter()
        .map(|w| (w.key.clone(), w.value.clone()))
        .collect()
}

/// The members an index entry names, primary first.
fn members(entry: Option<String>) -> Vec<String> {
    (entry.unwrap_or_default().split(','))
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect()
}
