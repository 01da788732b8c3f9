//! The full-cluster policy (`[replication] when_full`) with real servers:
//! `refuse` answers 507 once the nodes are at `maxmemory`; `evict` runs
//! over nodes in an LRU policy, keeps taking writes, reads a copy one
//! replica evicted from another, never a value older than the last write,
//! and never copies an evicted key back onto the node that evicted it.
//!
//! With `evict`, a copy kept off a key's set (a draining node's, a
//! joining node's from before, a returning node's) must not outlive the
//! newer copies the members evicted: the drain, the move and the resync
//! drop it rather than carry it (`newest::counts`). An eviction is a
//! `DEL` to the balancer (both send the same invalidation and leave the
//! same nothing); those tests delete by hand to pick which copy goes.

use std::time::Duration;

use balancer::config::{Config, WhenFull};
use coordination::Client;
use coordination::paths::NodeEntry;
use hyper::StatusCode;
use serde_json::json;
use test_support::listing::{list_nodes, set_state};
use test_support::{
    Cluster, HttpClient, RedisServer, TestBalancer, ZooKeeperServer, node_state, nodes_view,
    past_timestamp, put_copy, wait_until,
};

/// Puts `node` in the LRU policy an evicting cluster runs its nodes in.
async fn evict_lru(node: &RedisServer) {
    let mut conn = node.connection().await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// `evicted_keys` from the node's `INFO stats`.
async fn evicted_keys(node: &RedisServer) -> u64 {
    let mut conn = node.connection().await;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has evicted_keys")
}

/// Two 8 MB nodes, R = 2, with `when_full`; the nodes evict (LRU) when
/// the policy is `evict`. The near cache is off, so reads ask the nodes.
async fn full_cluster(when_full: WhenFull) -> (Cluster, TestBalancer) {
    let cluster = Cluster::start(&["8mb", "8mb"]);
    if when_full == WhenFull::Evict {
        for node in &cluster.nodes {
            evict_lru(node).await;
        }
    }
    let mut config = cluster.config();
    config.replication.when_full = when_full;
    config.near_cache_bytes = 0;
    let b = TestBalancer::start(config).await;
    (cluster, b)
}

/// Writes `key` = `value`; the status.
async fn post(http: &HttpClient, b: &TestBalancer, key: &str, value: &str) -> StatusCode {
    http.post_json(
        &format!("{}/cache", b.url),
        &json!({"key": key, "value": value}),
    )
    .await
    .unwrap()
    .status
}

/// Writes keys `k0..k3000` of 4 KiB each (12 MB per copy, over each
/// node's 8 MB), each twice, the second time after 100 more keys: the
/// statuses of the second writes.
async fn overfill(http: &HttpClient, b: &TestBalancer) -> Vec<StatusCode> {
    let mut second = Vec::new();
    for i in 0..3100 {
        if i < 3000 {
            post(
                http,
                b,
                &format!("k{i}"),
                &format!("1:{}", "x".repeat(4096)),
            )
            .await;
        }
        if i >= 100 {
            let k = i - 100;
            second.push(
                post(
                    http,
                    b,
                    &format!("k{k}"),
                    &format!("2:{}", "y".repeat(4096)),
                )
                .await,
            );
        }
    }
    second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_refuses_answers_507_once_full() {
    let (_cluster, b) = full_cluster(WhenFull::Refuse).await;
    let http = HttpClient::new();
    let statuses = overfill(&http, &b).await;
    let full = statuses
        .iter()
        .filter(|s| **s == StatusCode::INSUFFICIENT_STORAGE)
        .count();
    assert!(full > 0, "no write was refused: {statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_evicts_takes_every_write_and_never_reads_back_an_older_one() {
    let (cluster, b) = full_cluster(WhenFull::Evict).await;
    let http = HttpClient::new();
    let statuses = overfill(&http, &b).await;
    let refused: Vec<_> = statuses.iter().filter(|s| !s.is_success()).collect();
    assert!(refused.is_empty(), "refused writes: {refused:?}");
    for node in &cluster.nodes {
        assert!(
            evicted_keys(node).await > 0,
            "{} evicted nothing",
            node.addr()
        );
    }
    let (mut hits, mut misses) = (0, 0);
    for i in 0..3000 {
        let r = http.get(&format!("{}/cache/k{i}", b.url)).await.unwrap();
        match r.status {
            StatusCode::OK => {
                let value = r.json()["value"].as_str().unwrap().to_string();
                assert!(value.starts_with("2:"), "k{i} read back its first value");
                hits += 1;
            }
            StatusCode::NOT_FOUND => misses += 1,
            s => panic!("k{i}: {s} {}", r.body),
        }
    }
    assert!(hits > 0 && misses > 0, "{hits} hits, {misses} misses");
}

/// Writes `key` through the balancer, then evicts the copy on its first
/// replica for real: LRU junk written around the balancer pushes it out.
/// Returns that replica.
async fn evict_primary_copy<'a>(
    cluster: &'a Cluster,
    http: &HttpClient,
    b: &TestBalancer,
    key: &str,
) -> &'a RedisServer {
    assert_eq!(post(http, b, key, "kept").await, StatusCode::CREATED);
    let set = cluster.replica_set(key).await;
    let primary = cluster.nodes.iter().find(|n| n.addr() == set[0]).unwrap();
    evict_lru(primary).await;
    primary.fill_with_junk(16).await;
    assert_eq!(
        primary.held(key).await,
        (None, None),
        "still on the primary"
    );
    primary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_evicting_a_copy_one_replica_evicted_is_read_from_the_other_and_not_copied_back() {
    let (cluster, b) = full_cluster(WhenFull::Evict).await;
    let http = HttpClient::new();
    let primary = evict_primary_copy(&cluster, &http, &b, "evicted").await;

    let r = http.get(&format!("{}/cache/evicted", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["value"], json!("kept"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(primary.held("evicted").await, (None, None));
    assert_eq!(b.app.metrics.read_repairs.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_refusing_a_copy_a_replica_lost_is_read_from_the_other_and_repaired() {
    let (cluster, b) = full_cluster(WhenFull::Refuse).await;
    let http = HttpClient::new();
    let primary = evict_primary_copy(&cluster, &http, &b, "lost").await;

    let r = http.get(&format!("{}/cache/lost", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    wait_until("the read repair refilled the primary", 10, async || {
        primary.held("lost").await.0.is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_names_a_node_whose_eviction_policy_does_not_fit_the_setting() {
    let cluster = Cluster::start(&["8mb", "8mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let evicting = &cluster.nodes[1];
    evict_lru(evicting).await;
    wait_until("/nodes names the evicting node", 10, async || {
        let view = nodes_view(&http, &b).await;
        view["when_full"] == json!({"policy": "refuse", "nodes_not_fitting": [evicting.addr()]})
            && view["nodes"][1]["maxmemory_policy"] == json!("allkeys-lru")
    })
    .await;
}

/// Evicts `key` from `node`, as far as the balancer can tell.
async fn evict(node: &RedisServer, key: &str) {
    let mut conn = node.connection().await;
    let _: i64 = redis::cmd("DEL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// ZooKeeper, three nodes listed `active`, and an evicting leader that
/// moves keys at once (near cache off, so reads go to the nodes).
async fn evicting_leader() -> (ZooKeeperServer, Cluster, Client, TestBalancer) {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let client = zk.client(2000).await;
    list_nodes(&client, &cluster.nodes.iter().collect::<Vec<_>>()).await;
    let mut config: Config = cluster.config();
    config.zookeeper = Some(zk.addr());
    config.zookeeper_session = Duration::from_millis(2000);
    config.id = Some("leader".into());
    config.timeouts.request = Duration::from_millis(1000);
    config.rebalance.interval = Duration::from_millis(200);
    config.replication.when_full = WhenFull::Evict;
    config.near_cache_bytes = 0;
    let b = TestBalancer::start(config).await;
    wait_until("this balancer leads", 10, async || {
        b.app.coordinator.view().is_leader
    })
    .await;
    (zk, cluster, client, b)
}

/// Deletes `k` through `b`, then evicts its tombstones from `members`.
async fn delete_then_evict_tombstones(
    http: &HttpClient,
    b: &TestBalancer,
    members: &[&RedisServer],
) {
    let r = http.delete(&format!("{}/cache/k", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    for member in members {
        evict(member, "k").await;
    }
}

/// `key`'s members, and a node outside its set holding an old copy.
async fn with_old_copy_outside<'a>(
    cluster: &'a Cluster,
    key: &str,
) -> (Vec<&'a RedisServer>, &'a RedisServer) {
    let set = cluster.replica_set(key).await;
    let members = (set.iter())
        .map(|addr| cluster.nodes.iter().find(|n| n.addr() == *addr).unwrap())
        .collect();
    let outside = (cluster.nodes.iter())
        .find(|n| !set.contains(&n.addr()))
        .unwrap();
    put_copy(outside, key, "\"old\"", &past_timestamp(60_000)).await;
    (members, outside)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_does_not_carry_an_old_copy_onto_a_member_that_evicted() {
    let (_zk, cluster, client, b) = evicting_leader().await;
    let http = HttpClient::new();
    assert_eq!(post(&http, &b, "k", "new").await, StatusCode::CREATED);
    let (members, outside) = with_old_copy_outside(&cluster, "k").await;
    evict(members[0], "k").await;
    set_state(&client, outside, NodeEntry::DRAINING).await;
    wait_until("the draining node holds nothing", 20, async || {
        outside.held("k").await == (None, None)
    })
    .await;
    let r = http.get(&format!("{}/cache/k", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["value"], json!("new"));
    assert_eq!(members[0].held("k").await, (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_does_not_bring_back_a_key_whose_tombstones_were_evicted() {
    let (_zk, cluster, client, b) = evicting_leader().await;
    let http = HttpClient::new();
    assert_eq!(post(&http, &b, "k", "v1").await, StatusCode::CREATED);
    let (members, outside) = with_old_copy_outside(&cluster, "k").await;
    delete_then_evict_tombstones(&http, &b, &members).await;
    set_state(&client, outside, NodeEntry::DRAINING).await;
    wait_until("the draining node holds nothing", 20, async || {
        outside.held("k").await == (None, None)
    })
    .await;
    let r = http.get(&format!("{}/cache/k", b.url)).await.unwrap();
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a deleted key came back: {}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_onto_a_node_with_an_old_copy_does_not_spread_it() {
    let (_zk, cluster, client, b) = evicting_leader().await;
    let http = HttpClient::new();
    assert_eq!(post(&http, &b, "k", "v1").await, StatusCode::CREATED);
    let (members, outside) = with_old_copy_outside(&cluster, "k").await;
    delete_then_evict_tombstones(&http, &b, &members).await;
    let leaving = members[0];
    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until("the key moved onto the node outside", 20, async || {
        let now = cluster.replica_set("k").await;
        now.contains(&outside.addr()) && !now.contains(&leaving.addr())
    })
    .await;
    let r = http.get(&format!("{}/cache/k", b.url)).await.unwrap();
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a deleted key came back: {}",
        r.body
    );
    assert_eq!(outside.held("k").await, (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_node_s_old_copy_does_not_outlive_the_evicted_newer_one() {
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let mut config = cluster.config();
    config.replication.when_full = WhenFull::Evict;
    config.near_cache_bytes = 0;
    // The drop of the away node's old copy is given up at once, as it is
    // after a long outage.
    config.repair.max_attempts = 1;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    assert_eq!(post(&http, &b, "k", "v1").await, StatusCode::CREATED);
    let set = cluster.replica_set("k").await;
    let node = |addr: &str| cluster.nodes.iter().find(|n| n.addr() == addr).unwrap();
    let (stay, away) = (node(&set[0]), node(&set[1]));
    away.pause();
    wait_until("the paused node is down", 15, async || {
        node_state(&http, &b, &away.addr()).await.as_deref() == Some("down")
    })
    .await;
    assert!(post(&http, &b, "k", "v2").await.is_success());
    assert_eq!(cluster.replica_set("k").await, [stay.addr()]);
    evict(stay, "k").await;
    away.resume();
    wait_until("the returning node is resynced", 20, async || {
        b.app.metrics.resyncs.get() > 0 && away.held("k").await == (None, None)
    })
    .await;
    let r = http.get(&format!("{}/cache/k", b.url)).await.unwrap();
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an older value than v2: {}",
        r.body
    );
}
