//! Data nodes listed in ZooKeeper's `/dlb/nodes` by hand, as the admin
//! API or an operator would: for tests of what balancers make of entries.

use coordination::paths::{self, NodeEntry};
use coordination::{Acls, Client};
use serde_json::json;

use crate::RedisServer;

/// Lists `nodes` in ZooKeeper as `active`, by address.
pub async fn list_nodes(client: &Client, nodes: &[&RedisServer]) {
    coordination::registry::ensure_path(client, paths::NODES, Acls::anyone_all())
        .await
        .unwrap();
    for node in nodes {
        set_state(client, node, NodeEntry::ACTIVE).await;
    }
}

/// Writes `node`'s entry (id and address its address) with `state`,
/// creating it when missing.
pub async fn set_state(client: &Client, node: &RedisServer, state: &str) {
    let path = paths::child(paths::NODES, &node.addr());
    let data =
        serde_json::to_vec(&json!({"addr": node.addr(), "weight": 1, "state": state})).unwrap();
    match client.set_data(&path, &data, None).await {
        Ok(_) => {}
        Err(coordination::Error::NoNode) => {
            coordination::registry::ensure_persistent(client, &path, &data, Acls::anyone_all())
                .await
                .unwrap();
        }
        Err(e) => panic!("set {path}: {e}"),
    }
}
