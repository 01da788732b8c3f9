//! The full-cluster policy (`[replication] when_full`) with real servers:
//! `refuse` answers 507 once the nodes are at `maxmemory`; `evict` runs
//! over nodes in an LRU policy, keeps taking writes, reads a copy one
//! replica evicted from another, never a value older than the last write,
//! and never copies an evicted key back onto the node that evicted it.

use std::time::Duration;

use balancer::config::WhenFull;
use hyper::StatusCode;
use serde_json::json;
use test_support::{Cluster, HttpClient, RedisServer, TestBalancer, nodes_view, wait_until};

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
/// the policy is `evict`.
async fn full_cluster(when_full: WhenFull) -> (Cluster, TestBalancer) {
    let cluster = Cluster::start(&["8mb", "8mb"]);
    if when_full == WhenFull::Evict {
        for node in &cluster.nodes {
            evict_lru(node).await;
        }
    }
    let mut config = cluster.config();
    config.replication.when_full = when_full;
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
    let cluster = Cluster::start(&["8mb", "8mb"]);
    let mut config = cluster.config();
    config.replication.when_full = WhenFull::Evict;
    config.near_cache_bytes = 0;
    let b = TestBalancer::start(config).await;
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
    let cluster = Cluster::start(&["8mb", "8mb"]);
    let mut config = cluster.config();
    config.near_cache_bytes = 0;
    let b = TestBalancer::start(config).await;
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
