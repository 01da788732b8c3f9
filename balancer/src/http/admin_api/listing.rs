//! What the admin API answers about node entries, pure: one entry with
//! its id, and `GET /admin/nodes`, the entries ZooKeeper lists each
//! joined (by id) with what this balancer's node table says of the node.

use coordination::paths::NodeEntry;
use serde::Serialize;

use crate::nodes::NodeView;

/// A node entry as the admin API shows it.
#[derive(Debug, Serialize)]
pub(super) struct Entry<'a> {
    id: &'a str,
    addr: &'a str,
    weight: u32,
    /// `active`, `draining` or `removed`, as ZooKeeper holds it.
    state: &'a str,
    /// Whether the leader deletes the entry once the node is drained.
    delete_when_drained: bool,
}

impl<'a> Entry<'a> {
    /// `entry`, the entry of node `id`.
    pub(super) fn new(id: &'a str, entry: &'a NodeEntry) -> Entry<'a> {
        Entry {
            id,
            addr: &entry.addr,
            weight: entry.weight,
            state: &entry.state,
            delete_when_drained: entry.delete_when_drained,
        }
    }
}

/// A listed entry and what this balancer's table says of its node.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    entry: Entry<'a>,
    /// Null while this balancer's table does not hold the node (not
    /// picked up yet, or its address could not be used: `GET /nodes`
    /// shows why under `rejected_nodes`).
    table: Option<Seen<'a>>,
}

/// The node as this balancer's table has it (`GET /nodes` has the rest).
#[derive(Debug, Serialize)]
struct Seen<'a> {
    /// `up`, `draining` or `down`.
    state: &'static str,
    /// The address the table dials (an entry's new address is picked up
    /// with the listing).
    addr: &'a str,
    used_memory_bytes: Option<u64>,
    capacity_bytes: Option<u64>,
    utilization: Option<f64>,
}

/// An entry that is not JSON this project writes.
#[derive(Debug, Serialize)]
struct Unreadable<'a> {
    id: &'a str,
    reason: &'a str,
}

/// The `GET /admin/nodes` body: `{"nodes": [...], "unreadable": [...]}`,
/// in the listing's order.
pub(super) fn body(listing: &[(String, Result<NodeEntry, String>)], table: &[NodeView]) -> String {
    let mut nodes = Vec::with_capacity(listing.len());
    let mut unreadable = Vec::new();
    for (id, entry) in listing {
        match entry {
            Ok(entry) => nodes.push(Listed {
                entry: Entry::new(id, entry),
                table: table.iter().find(|v| v.id == *id).map(|v| Seen {
                    state: v.state,
                    addr: &v.addr,
                    used_memory_bytes: v.used_memory_bytes,
                    capacity_bytes: v.capacity_bytes,
                    utilization: v.utilization,
                }),
            }),
            Err(reason) => unreadable.push(Unreadable { id, reason }),
        }
    }
    serde_json::json!({ "nodes": nodes, "unreadable": unreadable }).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn view(id: &str, state: &'static str) -> NodeView {
        NodeView {
            id: id.into(),
            addr: format!("{id}.local:6379"),
            state,
            down_for: Vec::new(),
            used_memory_bytes: Some(10),
            capacity_bytes: Some(100),
            capacity_source: None,
            capacity_unknown_because: None,
            utilization: Some(0.1),
            keys: None,
            evicted_keys: None,
            maxmemory_policy: None,
            placed_keys: 0,
            pending_bytes: 0,
            report_age_seconds: None,
            report_source: "own_sampling".into(),
            last_error: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
            check_latency_ms: None,
            missed_writes: 0,
            rejoins: 0,
            run_id: None,
            transitions: Vec::new(),
        }
    }

    #[test]
    fn entries_are_joined_with_the_table_by_id() {
        let forced = NodeEntry {
            state: NodeEntry::DRAINING.into(),
            delete_when_drained: true,
            ..NodeEntry::active("b.local:6379", 1)
        };
        let listing = vec![
            ("a".to_string(), Ok(NodeEntry::active("a.local:6379", 2))),
            ("b".to_string(), Ok(forced)),
            ("c".to_string(), Ok(NodeEntry::active("c.local:6379", 1))),
            ("d".to_string(), Err("expected value at line 1".to_string())),
        ];
        let table = [view("b", "draining"), view("a", "up"), view("z", "up")];
        let body: Value = serde_json::from_str(&body(&listing, &table)).unwrap();
        let nodes = body["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(
            nodes[0],
            json!({
                "id": "a", "addr": "a.local:6379", "weight": 2, "state": "active",
                "delete_when_drained": false,
                "table": {"state": "up", "addr": "a.local:6379", "used_memory_bytes": 10,
                          "capacity_bytes": 100, "utilization": 0.1},
            })
        );
        assert_eq!(nodes[1]["state"], "draining");
        assert_eq!(nodes[1]["delete_when_drained"], true);
        assert_eq!(nodes[1]["table"]["state"], "draining");
        assert_eq!(nodes[2]["id"], "c");
        assert_eq!(nodes[2]["table"], Value::Null, "not in the table");
        assert_eq!(
            body["unreadable"],
            json!([{"id": "d", "reason": "expected value at line 1"}])
        );
    }
}
