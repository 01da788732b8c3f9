//! The index Redis goes away and comes back: reads of existing keys go on
//! through the hashing fallback, writes go on, and once the index returns
//! new writes are indexed again.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;
use test_support::{Cluster, HttpClient, TestBalancer};

#[tokio::test]
async fn reads_and_writes_survive_an_index_outage() {
    let mut cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let mut config = cluster.unreplicated_config();
    // A tiny location cache, so reads really go to the index or fallback.
    config.location_cache_entries = std::num::NonZeroUsize::new(1).unwrap();
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let cache = format!("{}/cache", b.url);

    for i in 0..50 {
        let r = http
            .post_json(&cache, &json!({"key": format!("old{i}"), "value": i}))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
    }

    cluster.index.stop();
    for i in 0..50 {
        let r = http.get(&format!("{cache}/old{i}")).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "old{i}: {}", r.body);
        assert_eq!(r.json()["value"], json!(i));
    }
    for i in 0..20 {
        let r = http
            .post_json(&cache, &json!({"key": format!("during{i}"), "value": i}))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // An update during the outage finds the existing copy.
        let r = http
            .post_json(&cache, &json!({"key": format!("old{i}"), "value": -i}))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    for i in 0..20 {
        let r = http.get(&format!("{cache}/during{i}")).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "during{i}: {}", r.body);
        let r = http.get(&format!("{cache}/old{i}")).await.unwrap();
        assert_eq!(r.json()["value"], json!(-i));
    }
    let r = http.get(&format!("{}/readyz", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);

    cluster.index.restart();
    // The balancer notices within a few retry intervals.
    let mut ready = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = http.get(&format!("{}/readyz", b.url)).await.unwrap();
        if r.status == StatusCode::OK {
            ready = true;
            break;
        }
    }
    assert!(ready, "the index is seen again after it returns");
    for i in 0..20 {
        let key = format!("after{i}");
        let r = http
            .post_json(&cache, &json!({"key": key, "value": i}))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        let entry = cluster.index_entry(&key).await;
        assert_eq!(entry, r.node(), "{key} is indexed on its node");
    }
    // The restarted index is empty: keys from before are found by hashing.
    for i in 20..50 {
        let r = http.get(&format!("{cache}/old{i}")).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "old{i}");
    }
}

#[tokio::test]
async fn a_write_while_the_index_is_down_leaves_no_location_in_the_cache() {
    // The 30-minute chaos run's stale reads: the index restarted empty,
    // its invalidation stream was open again while the index was still
    // marked down, and a write placed by the fallback recorded its nodes
    // in the location cache. The index never holds that set, so nothing
    // ever invalidates it: a write through another balancer that placed
    // the key elsewhere stayed unseen by reads here.
    let mut cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let mut config = cluster.config();
    config.timeouts.index_retry = Duration::from_secs(60);
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let cache = format!("{}/cache", b.url);
    let r = http
        .post_json(&cache, &json!({"key": "k", "value": "v1"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // A request while the index is gone marks it down, for a minute; it
    // comes back empty, and its invalidation stream reopens meanwhile.
    cluster.index.stop();
    let _ = http.get(&format!("{cache}/k")).await.unwrap();
    cluster.index.restart();
    test_support::wait_until("the index is down, its stream open", 10, async || {
        let nodes = http.get(&format!("{}/nodes", b.url)).await.unwrap().json();
        b.app.index.is_down() && nodes["location_cache"]["index_stream"] == json!("fresh")
    })
    .await;

    let r = http
        .post_json(&cache, &json!({"key": "k", "value": "v2"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(b.app.index.is_down(), "the write ran with the index down");
    assert_eq!(
        b.app.locations.get("k"),
        None,
        "a set no index entry holds is in the location cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_through_the_fallback_that_reaches_no_node_is_unavailable_not_a_miss() {
    let mut cluster = Cluster::start(&["64mb", "64mb"]);
    let mut config = cluster.config();
    config.near_cache_bytes = 0;
    config.location_cache_entries = std::num::NonZeroUsize::new(1).unwrap();
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let cache = format!("{}/cache", b.url);
    let r = http
        .post_json(&cache, &json!({"key": "held", "value": 1}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED);

    // The index away, and both nodes hung: the key may be on either.
    cluster.index.stop();
    for node in &cluster.nodes {
        node.pause();
    }
    // While the nodes time out, then once they are marked down.
    for _ in 0..6 {
        let r = http.get(&format!("{cache}/held")).await.unwrap();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert_eq!(r.json()["error"], json!("node_unavailable"), "{}", r.body);
    }
    for node in &cluster.nodes {
        node.resume();
    }
}
