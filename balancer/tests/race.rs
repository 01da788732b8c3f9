//! Two balancers sharing one index write the same new keys at the same
//! moment: each time they agree on one node, and reads through either
//! return the last value written.

use balancer::config::Choices;
use hyper::StatusCode;
use serde_json::json;
use test_support::{Cluster, HttpClient, TestBalancer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_balancers_agree_on_one_node() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    // Make the two balancers disagree: `a` places by hashing alone (k = 1),
    // `b` on the least utilized node, never node 0, which is full of junk.
    // Whenever `a`'s choice is node 0, only the index claim makes them agree.
    cluster.nodes[0].fill_with_junk(30).await;
    let mut config = cluster.unreplicated_config();
    config.placement.choices = Choices::Top(std::num::NonZeroUsize::new(1).unwrap());
    config.placement.load_epsilon = 1e9; // no bounded-load overflow either
    let a = TestBalancer::start(config.clone()).await;
    config.placement.choices = Choices::All;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let full = cluster.nodes[0].addr();
    let mut on_full = 0;

    for round in 0..200 {
        let key = format!("race-{round}");
        let send = |url: String, who: &str| {
            let http = http.clone();
            let body = json!({"key": key, "value": format!("{who}-{round}")});
            async move {
                http.post_json(&format!("{url}/cache"), &body)
                    .await
                    .unwrap()
            }
        };
        let (ra, rb) = tokio::join!(send(a.url.clone(), "a"), send(b.url.clone(), "b"));
        for r in [&ra, &rb] {
            assert!(
                r.status == StatusCode::CREATED || r.status == StatusCode::OK,
                "{}",
                r.body
            );
        }
        assert_eq!(ra.node(), rb.node(), "round {round}: both on one node");
        let created = [&ra, &rb]
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        assert_eq!(
            created, 1,
            "round {round}: exactly one write created the key"
        );

        // The last write wins, and both balancers read the same value.
        let holder = ra.node().unwrap();
        on_full += usize::from(holder == full);
        let node = cluster.nodes.iter().find(|n| n.addr() == holder).unwrap();
        let mut conn = node.connection().await;
        let stored: String = redis::cmd("HGET")
            .arg(&key)
            .arg("v")
            .query_async(&mut conn)
            .await
            .unwrap();
        for url in [&a.url, &b.url] {
            let r = http.get(&format!("{url}/cache/{key}")).await.unwrap();
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.json()["value"].to_string(), stored);
            assert_eq!(r.node().unwrap(), holder);
        }
    }
    assert!(
        on_full > 0,
        "some races were won by a's choice, which b would not make"
    );
    assert!(on_full < 200, "some races were won by b's choice");
}

/// Writes `json` to `key` on each of `nodes` as a balancer whose clock runs
/// `ahead_ms` ahead would: stamped in the future, within the drift bound.
/// Returns the version.
async fn write_from_a_fast_clock(
    nodes: &[&test_support::RedisServer],
    key: &str,
    ahead_ms: u64,
) -> String {
    let now = test_support::wall_ms();
    let version = balancer::values::Version {
        json: Some(b"\"from the fast clock\"".to_vec()),
        timestamp: format!("{:013}.000000.fast", now + ahead_ms),
        ttl_ms: None,
    };
    for node in nodes {
        let backend =
            balancer::backend::Backend::new(&node.addr(), std::time::Duration::from_secs(2))
                .unwrap();
        let applied = balancer::values::apply(&backend, key, &version, 1000)
            .await
            .unwrap();
        assert!(applied.applied);
    }
    version.timestamp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_acknowledged_after_a_fast_clocks_write_wins_over_it() {
    // Another balancer's clock runs 500 ms ahead (within the drift bound):
    // its write carries a later version than this balancer's clock gives.
    // A write acknowledged after it must still be the value read.
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let url = format!("{}/cache", b.url);
    let r = http
        .post_json(&url, &json!({"key": "k", "value": "v1"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let set = cluster.replica_set("k").await;
    let holders: Vec<_> = cluster
        .nodes
        .iter()
        .filter(|n| set.contains(&n.addr()))
        .collect();
    let fast = write_from_a_fast_clock(&holders, "k", 500).await;

    let r = http
        .post_json(&url, &json!({"key": "k", "value": "v2"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let written = r.json()["version"].as_str().unwrap().to_string();

    let r = http.get(&format!("{url}/k")).await.unwrap();
    assert_eq!(r.json()["value"], json!("v2"), "the later write wins");
    assert!(
        written > fast,
        "the answer names a version after the fast clock's: {written} vs {fast}"
    );
}
