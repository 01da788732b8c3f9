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
