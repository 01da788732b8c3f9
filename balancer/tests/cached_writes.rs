//! An overwrite whose location this balancer has cached skips the index
//! claim, and still never writes to a replica set the index no longer
//! holds: the location is confirmed through the index's invalidation
//! stream while the write is on its way (see `balancer::locations`).

use std::time::Duration;

use balancer::index::entry_key;
use hyper::StatusCode;
use serde_json::json;
use test_support::{Cluster, HttpClient, TcpProxy, TestBalancer, nodes_view, wait_until};

/// `dlb_write_locations_total{source}` in the balancer's `/metrics`.
async fn write_locations(http: &HttpClient, b: &TestBalancer, source: &str) -> u64 {
    let text = http.get(&format!("{}/metrics", b.url)).await.unwrap().body;
    let prefix = format!("dlb_write_locations_total{{source=\"{source}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

async fn post(http: &HttpClient, b: &TestBalancer, key: &str, value: &str) -> StatusCode {
    let body = json!({"key": key, "value": value});
    let reply = http
        .post_json(&format!("{}/cache", b.url), &body)
        .await
        .unwrap();
    assert!(reply.status.is_success(), "{}", reply.body);
    reply.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_of_a_cached_key_skips_the_claim() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    // Until the start-up rebuild completes the index, and the index's
    // stream is up, every write claims: the rounds below would race them.
    wait_until(
        "the index is complete and its stream fresh",
        10,
        async || {
            let view = nodes_view(&http, &b).await;
            view["index"]["complete"] == json!(true)
                && view["location_cache"]["index_stream"] == json!("fresh")
        },
    )
    .await;

    for round in 0..20 {
        let status = post(&http, &b, "cached", &format!("v{round}")).await;
        assert_eq!(status == StatusCode::CREATED, round == 0, "round {round}");
    }
    let cached = write_locations(&http, &b, "cache").await;
    assert!(
        cached >= 15,
        "{cached} of 19 overwrites used the cached location"
    );
    assert_eq!(write_locations(&http, &b, "cache_stale").await, 0);
    let got = http.get(&format!("{}/cache/cached", b.url)).await.unwrap();
    assert_eq!(got.json()["value"], "v19");
}

/// Another balancer moves a key (its index entry now names another node)
/// while the invalidation of the move is held back on its way here: the
/// next overwrite through this balancer must still reach the node the
/// index names, not the one its cache remembers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_reaches_the_set_the_index_holds_even_when_the_cache_lags() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let proxy = TcpProxy::start(&cluster.index.addr()).await;
    let mut config = cluster.unreplicated_config();
    config.index = proxy.addr();
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();

    for round in 0..5 {
        let key = format!("moved-{round}");
        post(&http, &b, &key, "first").await;
        post(&http, &b, &key, "second").await;
        let old = cluster.replica_set(&key).await;
        let new = cluster
            .nodes
            .iter()
            .map(|n| n.addr())
            .find(|addr| !old.contains(addr))
            .unwrap();

        // The index's answers (the invalidation of the move among them)
        // arrive 60 ms late; the stream stays within its lag bound.
        proxy.delay_answers(Duration::from_millis(60));
        cluster.set_index_entry(&key, &new).await;
        post(&http, &b, &key, "third").await;
        proxy.heal();

        let node = cluster.nodes.iter().find(|n| n.addr() == new).unwrap();
        assert_eq!(
            node.held(&key).await.0.as_deref(),
            Some("\"third\""),
            "round {round}: the node the index names has the acknowledged write"
        );
    }
    assert!(write_locations(&http, &b, "cache_stale").await >= 1);
}

/// A race of other writes can leave a key's index entry with a TTL over a
/// live value that has none (a delete's expiry set after a newer write's
/// claim). A read cannot see the entry's TTL, only the value's; the next
/// write must still claim, which makes the entry lasting again, rather
/// than go through the location the read cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_a_read_renews_an_entry_ttl_the_read_cannot_see() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    post(&http, &b, "lasting", "first").await;

    let mut index = cluster.index.connection().await;
    let _: () = redis::cmd("EXPIRE")
        .arg(entry_key("lasting"))
        .arg(30)
        .query_async(&mut index)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = http.get(&format!("{}/cache/lasting", b.url)).await.unwrap();
    assert_eq!(got.json()["value"], "first");
    post(&http, &b, "lasting", "second").await;

    let ttl: i64 = redis::cmd("TTL")
        .arg(entry_key("lasting"))
        .query_async(&mut index)
        .await
        .unwrap();
    assert_eq!(ttl, -1, "the write's claim made the entry lasting again");
}
