//! The leader's rebalancer with real servers: fenced writes refuse a lower
//! token, a draining node is emptied while clients write, and no
//! acknowledged write is lost or read back older on the way.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use balancer::backend::BackendError;
use balancer::config::Config;
use balancer::index::{IndexError, Swap};
use balancer::values::{self, Version};
use coordination::paths::{self, NodeEntry};
use coordination::session::{ZkConfig, connect};
use coordination::{Acls, Client};
use hyper::StatusCode;
use serde_json::json;
use test_support::{
    Cluster, HttpClient, RedisServer, TestBalancer, WrittenKey, ZooKeeperServer, wait_until,
    write_keys,
};

const SESSION_MS: u64 = 2000;

fn fenced(e: &BackendError) -> bool {
    matches!(e, BackendError::Fenced { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_writes_refuse_a_token_lower_than_one_taken() {
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &b, "fence", 1).await;
    let key = &written[0].key;
    let set = cluster.replica_set(key).await;
    let index = &b.app.index;

    // The index: token 7 is taken, then 6 is refused and changes nothing.
    let swap = index.swap_members_fenced(key, &set, &[], &[], 7).await;
    assert_eq!(swap.unwrap(), Swap::Done(set.clone()));
    let stale = index
        .swap_members_fenced(key, &set, &[&set[1]], &[], 6)
        .await;
    assert!(
        matches!(&stale, Err(IndexError::Failed(e)) if fenced(e)),
        "{stale:?}"
    );
    assert_eq!(
        cluster.replica_set(key).await,
        set,
        "a refused swap changes nothing"
    );
    let same = index.swap_members_fenced(key, &set, &[], &[], 7).await;
    assert!(
        same.is_ok(),
        "the holder of the highest token goes on: {same:?}"
    );

    // A data node: a copy under token 9, then a drop under 8 is refused.
    let table = b.app.nodes.current();
    let node = &table.by_id(&set[0]).unwrap().backend;
    let held = values::read(node, key).await.unwrap().unwrap();
    let newer = Version {
        json: Some(b"\"moved\"".to_vec()),
        timestamp: format!("{}z", held.timestamp),
        ttl_ms: None,
    };
    let applied = values::apply_fenced(node, key, &newer, 1000, 9)
        .await
        .unwrap();
    assert!(applied.applied);
    let dropped = values::drop_if_at_fenced(node, key, &newer.timestamp, 8).await;
    assert!(matches!(&dropped, Err(e) if fenced(e)), "{dropped:?}");
    assert_eq!(values::read(node, key).await.unwrap(), Some(newer.clone()));
    // The fence is the node's own: the other node has seen no token.
    let other = &table.by_id(&set[1]).unwrap().backend;
    assert!(
        values::drop_if_at_fenced(other, key, "none", 1)
            .await
            .is_ok()
    );
    // Unfenced writes (the request path's) do not look at the fence.
    assert!(
        values::drop_if_at(node, key, &newer.timestamp)
            .await
            .unwrap()
    );
}

/// Lists `nodes` in ZooKeeper as `active`, by address.
async fn list_nodes(client: &Client, nodes: &[&RedisServer]) {
    coordination::registry::ensure_path(client, paths::NODES, Acls::anyone_all())
        .await
        .unwrap();
    for node in nodes {
        set_state(client, node, NodeEntry::ACTIVE).await;
    }
}

async fn set_state(client: &Client, node: &RedisServer, state: &str) {
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

/// A leader over `cluster`, moving keys quickly: a short request deadline
/// (the wait before a widened set is settled) and a short interval.
fn leader_config(cluster: &Cluster, zk: &ZooKeeperServer) -> Config {
    let mut config = cluster.config();
    config.zookeeper = Some(zk.addr());
    config.zookeeper_session = Duration::from_millis(SESSION_MS);
    config.id = Some("leader".into());
    config.timeouts.request = Duration::from_millis(1000);
    config.rebalance.interval = Duration::from_millis(200);
    config.rebalance.batch_keys = 50;
    config
}

/// Hashes `node` holds (its fence key is a string, not counted).
async fn hashes_on(node: &RedisServer) -> usize {
    let mut conn = node.connection().await;
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(100_000)
        .arg("TYPE")
        .arg("hash")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.len()
}

/// Index entries naming `id`.
async fn entries_naming(cluster: &Cluster, keys: &[WrittenKey], id: &str) -> usize {
    let mut naming = 0;
    for w in keys {
        naming += usize::from(cluster.replica_set(&w.key).await.iter().any(|n| n == id));
    }
    naming
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_is_emptied_while_clients_write_and_every_write_is_kept() {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let client = connect(&ZkConfig::new(&zk.addr(), SESSION_MS))
        .await
        .unwrap();
    let nodes: Vec<&RedisServer> = cluster.nodes.iter().collect();
    list_nodes(&client, &nodes).await;
    let b = Arc::new(TestBalancer::start(leader_config(&cluster, &zk)).await);
    let http = HttpClient::new();
    wait_until("this balancer leads", 10, async || {
        b.app.coordinator.view().is_leader
    })
    .await;
    let written = write_keys(&http, &b, "drain", 300).await;
    let leaving = &cluster.nodes[2];
    assert!(entries_naming(&cluster, &written, &leaving.addr()).await > 0);

    // Clients overwrite the keys the whole time; each acknowledged value is
    // the one a read must return from then on.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (b, stop, keys) = (b.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let http = HttpClient::new();
            let mut acked: HashMap<String, String> = HashMap::new();
            let mut failed = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                for w in keys.iter().step_by(7) {
                    let value = format!("{} round {round}", w.key);
                    let url = format!("{}/cache", b.url);
                    let r = http
                        .post_json(&url, &json!({"key": w.key, "value": value}))
                        .await;
                    match r {
                        Ok(r) if r.status == StatusCode::OK => {
                            acked.insert(w.key.clone(), value);
                        }
                        other => failed.push(format!("POST {}: {other:?}", w.key)),
                    }
                    let r = http.get(&format!("{}/cache/{}", b.url, w.key)).await;
                    let want = acked.get(&w.key).unwrap_or(&w.value);
                    match r {
                        Ok(r) if r.status == StatusCode::OK && r.json()["value"] == **want => {}
                        other => failed.push(format!("GET {} wanted {want}: {other:?}", w.key)),
                    }
                }
            }
            (acked, failed)
        })
    };

    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until(
        "no entry names the draining node and it holds nothing",
        60,
        async || {
            entries_naming(&cluster, &written, &leaving.addr()).await == 0
                && hashes_on(leaving).await == 0
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = load.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(!acked.is_empty());

    let moved = b.app.metrics.render();
    assert!(
        moved.contains("dlb_migrations_total{outcome=\"moved\"}"),
        "{moved}"
    );
    for w in &written {
        let want = acked.get(&w.key).unwrap_or(&w.value);
        let r = http
            .get(&format!("{}/cache/{}", b.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", w.key);
        assert_eq!(r.json()["value"], **want, "{}", w.key);
        assert_eq!(
            cluster.replica_set(&w.key).await.len(),
            2,
            "{}: R copies",
            w.key
        );
    }
}
