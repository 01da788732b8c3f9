//! Parses the text of Redis `INFO` into the figures placement and the
//! probe report need. Pure, and tested against text captured from a real
//! Redis 7.

use serde::{Deserialize, Serialize};

/// The sections to ask for: `INFO memory keyspace server stats replication`.
pub const SECTIONS: [&str; 5] = ["memory", "keyspace", "server", "stats", "replication"];

/// What one `INFO` reply says about a node. Missing fields stay zero/empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `used_memory`: bytes Redis has allocated.
    pub used_memory: u64,
    /// `used_memory_rss`: bytes the OS holds for the process.
    pub used_memory_rss: u64,
    /// `maxmemory`: the configured limit in bytes, 0 when unlimited.
    pub maxmemory: u64,
    /// `total_system_memory`: the host's memory in bytes.
    pub total_system_memory: u64,
    /// Keys in all databases.
    pub keys: u64,
    /// `evicted_keys` since start.
    pub evicted_keys: u64,
    /// `instantaneous_ops_per_sec`.
    pub ops_per_sec: u64,
    /// `run_id`: changes whenever the server restarts.
    pub run_id: String,
    /// `role`: `master` or `slave`.
    pub role: String,
    /// `uptime_in_seconds`.
    pub uptime_seconds: u64,
    /// `process_id`: the server's pid in its own pid namespace (0 from
    /// reports older than this field).
    #[serde(default)]
    pub process_id: u32,
    /// `tcp_port`: the port the server listens on in its own network
    /// namespace (0 from reports older than this field).
    #[serde(default)]
    pub tcp_port: u16,
    /// `maxmemory_policy`: what the node does at `maxmemory` (`noeviction`,
    /// `allkeys-lru`, ...); empty from reports older than this field.
    #[serde(default)]
    pub maxmemory_policy: String,
}

/// Reads the fields it knows from `INFO` text.
pub fn parse(text: &str) -> NodeInfo {
    let mut info = NodeInfo::default();
    for line in text.lines() {
        let Some((name, value)) = line.trim_end().split_once(':') else {
            continue;
        };
        let number = || value.parse::<u64>().unwrap_or(0);
        match name {
            "used_memory" => info.used_memory = number(),
            "used_memory_rss" => info.used_memory_rss = number(),
            "maxmemory" => info.maxmemory = number(),
            "total_system_memory" => info.total_system_memory = number(),
            "evicted_keys" => info.evicted_keys = number(),
            "instantaneous_ops_per_sec" => info.ops_per_sec = number(),
            "uptime_in_seconds" => info.uptime_seconds = number(),
            "process_id" => info.process_id = value.parse().unwrap_or(0),
            "tcp_port" => info.tcp_port = value.parse().unwrap_or(0),
            "run_id" => info.run_id = value.to_string(),
            "role" => info.role = value.to_string(),
            "maxmemory_policy" => info.maxmemory_policy = value.to_string(),
            db if db.starts_with("db") => info.keys += keyspace_keys(value),
            _ => {}
        }
    }
    info
}

/// `keys=12,expires=0,avg_ttl=0` -> 12.
fn keyspace_keys(value: &str) -> u64 {
    value
        .split(',')
        .find_map(|kv| kv.strip_prefix("keys="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_redis_7_info() {
        let text = include_str!("../fixtures/info_redis_7.txt");
        let info = parse(text);
        assert_eq!(info.used_memory, 941_632);
        assert_eq!(info.maxmemory, 64 * 1024 * 1024);
        assert_eq!(info.total_system_memory, 25_276_502_016);
        assert_eq!(info.keys, 1);
        assert_eq!(info.run_id, "19298087e01e4f2465fd650787cfdf2d38adc36d");
        assert_eq!(info.used_memory_rss, 6_864_896);
        assert_eq!(info.role, "master");
        assert_eq!(info.evicted_keys, 0);
        assert_eq!((info.process_id, info.tcp_port), (17313, 16398));
        assert_eq!(info.maxmemory_policy, "noeviction");
    }

    #[test]
    fn a_report_without_the_newer_fields_still_reads() {
        let old = r#"{"used_memory":1,"used_memory_rss":2,"maxmemory":0,
            "total_system_memory":3,"keys":0,"evicted_keys":0,"ops_per_sec":0,
            "run_id":"r","role":"master","uptime_seconds":1}"#;
        let info: NodeInfo = serde_json::from_str(old).unwrap();
        assert_eq!((info.process_id, info.tcp_port), (0, 0));
        assert_eq!(info.maxmemory_policy, "");
    }

    #[test]
    fn sums_databases_and_tolerates_crlf() {
        let info =
            parse("# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=9\r\ndb2:keys=4,expires=0\r\n");
        assert_eq!(info.keys, 7);
        assert_eq!(info.used_memory, 0);
    }
}
