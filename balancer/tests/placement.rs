//! Placement against real nodes: new keys avoid a node that is far fuller
//! than the rest, and with `choices = all` go to the emptiest node.

use std::time::Duration;

use balancer::config::Choices;
use hyper::StatusCode;
use test_support::{Cluster, HttpClient, TestBalancer, write_keys};

/// Waits past a few sample intervals so the balancer sees the new memory.
async fn let_samples_catch_up() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn new_keys_avoid_a_node_filled_around_the_balancer() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.unreplicated_config()).await;
    let http = HttpClient::new();
    let full = cluster.nodes[0].addr();

    let before = write_keys(&http, &b, "before", 200).await;
    assert!(
        before.iter().any(|w| w.node == full),
        "the node takes keys while it is empty"
    );

    cluster.nodes[0].fill_with_junk(40).await;
    let_samples_catch_up().await;
    let after = write_keys(&http, &b, "after", 200).await;
    assert!(
        !after.iter().any(|w| w.node == full),
        "no new key lands on the full node"
    );

    // Its keys are still read from it.
    for w in before.iter().filter(|w| w.node == full) {
        let r = http
            .get(&format!("{}/cache/{}", b.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.node().unwrap(), full);
    }
}

#[tokio::test]
async fn with_choices_all_new_keys_go_to_the_emptiest_node() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    // Two nodes hold junk; the emptiest is node 2.
    cluster.nodes[0].fill_with_junk(40).await;
    cluster.nodes[1].fill_with_junk(40).await;
    let mut config = cluster.unreplicated_config();
    config.placement.choices = Choices::All;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &b, "k", 100).await;
    let emptiest = cluster.nodes[2].addr();
    assert!(written.iter().all(|w| w.node == emptiest), "{written:?}");
}

#[tokio::test]
async fn utilization_counts_capacity_not_just_bytes() {
    // Same bytes used, different maxmemory: the bigger node is less utilized.
    let cluster = Cluster::start(&["64mb", "256mb"]);
    let mut config = cluster.unreplicated_config();
    config.placement.choices = Choices::All;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &b, "k", 50).await;
    let big = cluster.nodes[1].addr();
    assert!(written.iter().all(|w| w.node == big), "{written:?}");
}

#[tokio::test]
async fn a_keys_copies_go_to_distinct_hosts() {
    // Four nodes on two "hosts": the OS sees one machine, but placement
    // takes a node's failure domain from the host part of its address, and
    // `127.0.0.1:<port>` and `localhost:<port>` name two.
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let mut config = cluster.config();
    for spec in &mut config.nodes[2..] {
        spec.addr = spec.addr.replace("127.0.0.1", "localhost");
    }
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &b, "k", 60).await;
    let hosts = |set: &[String]| -> Vec<bool> {
        let ids: Vec<String> = cluster.nodes[2..].iter().map(|n| n.addr()).collect();
        set.iter().map(|id| ids.contains(id)).collect()
    };
    for w in &written {
        let set = cluster.replica_set(&w.key).await;
        assert_eq!(set.len(), 2, "{}: {set:?}", w.key);
        let on_second_host = hosts(&set);
        assert_ne!(
            on_second_host[0], on_second_host[1],
            "{}: both copies on one host: {set:?}",
            w.key
        );
    }
}
