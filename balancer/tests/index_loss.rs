//! The index Redis loses its data (`FLUSHALL`, or a restart without
//! persistence; its `run_id` stays the same after a `FLUSHALL`): a key's
//! copies may then sit outside its hashing candidates, and a missing entry
//! no longer means a new key. Reads still find such copies, a write
//! supersedes the copies already on nodes (200, not 201), a delete leaves
//! nothing for the fallback to bring back, and the index is rebuilt from
//! the nodes, by one balancer (issue 11, items 2 and 5).

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;
use test_support::{
    Cluster, HttpClient, RedisServer, TestBalancer, nodes_view, past_timestamp, put_copy,
    wait_until, write_keys,
};

/// The marker a finished rebuild leaves in the index.
const COMPLETE: &str = "dlb:index:complete";

fn server<'c>(cluster: &'c Cluster, id: &str) -> &'c RedisServer {
    cluster
        .nodes
        .iter()
        .find(|n| n.addr() == id)
        .expect("a configured node")
}

/// The balancer's nodes ranked for `key` by rendezvous hashing, best first.
fn ranked(b: &TestBalancer, key: &str) -> Vec<String> {
    let table = b.app.nodes.current();
    table
        .readable(key)
        .into_iter()
        .map(|i| table.get(i).id.to_string())
        .collect()
}

/// Writes `k = "v1"` through `b`, then fills the nodes that hold it until
/// the balancer sees them well above the others, so new placements go
/// elsewhere; returns the holders.
async fn write_v1_then_fill_its_holders(
    cluster: &Cluster,
    http: &HttpClient,
    b: &TestBalancer,
) -> Vec<String> {
    let r = http
        .post_json(
            &format!("{}/cache", b.url),
            &json!({"key": "k", "value": "v1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let holders = cluster.replica_set("k").await;
    assert_eq!(holders.len(), 2, "{holders:?}");
    for id in &holders {
        server(cluster, id).fill_with_junk(40).await;
    }
    wait_until("the balancer sees the holders full", 10, async || {
        let view = nodes_view(http, b).await;
        view["nodes"].as_array().unwrap().iter().all(|n| {
            !holders.contains(&n["addr"].as_str().unwrap().to_string())
                || n["utilization"].as_f64().is_some_and(|u| u > 0.5)
        })
    })
    .await;
    holders
}

async fn config_with_short_tombstones(cluster: &Cluster) -> balancer::config::Config {
    let mut config = cluster.config();
    config.replication.tombstone_ttl = Duration::from_secs(2);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_loss_does_not_bring_the_first_value_back() {
    // Issue 11, item 2, step by step.
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(config_with_short_tombstones(&cluster).await).await;
    let http = HttpClient::new();
    let url = format!("{}/cache", b.url);
    write_v1_then_fill_its_holders(&cluster, &http, &b).await;

    cluster.flush_index().await;
    let r = http
        .post_json(&url, &json!({"key": "k", "value": "v2"}))
        .await
        .unwrap();
    assert!(r.status.is_success(), "{}", r.body);
    let r = http.delete(&format!("{url}/k")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = http.get(&format!("{url}/k")).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND, "came back: {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_index_loss_supersedes_the_copies_on_nodes() {
    // Issue 11, item 5: the write is an overwrite, and no node is left
    // holding the first value.
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let url = format!("{}/cache", b.url);
    let first = write_v1_then_fill_its_holders(&cluster, &http, &b).await;

    cluster.flush_index().await;
    let r = http
        .post_json(&url, &json!({"key": "k", "value": "v2"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "an overwrite: {}", r.body);
    assert_eq!(r.json()["created"], json!(false), "{}", r.body);
    let set = cluster.replica_set("k").await;
    for id in &first {
        let copy = server(&cluster, id).held("k").await.0;
        assert!(
            set.contains(id) || copy.is_none(),
            "{id} keeps a copy outside the set {set:?}: {copy:?}"
        );
    }
    wait_until("no node holds v1", 5, async || {
        for node in &cluster.nodes {
            if node.held("k").await.0.as_deref() == Some("\"v1\"") {
                return false;
            }
        }
        true
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_supersedes_a_copy_its_index_entry_does_not_name() {
    // Issue 11, item 5: a copy on a candidate node with no index entry (an
    // entry that expired early, a write made during an index outage).
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(config_with_short_tombstones(&cluster).await).await;
    let http = HttpClient::new();
    let url = format!("{}/cache", b.url);
    // With two choices and two replicas, the first two ranked nodes take a
    // new key; the third is the one the fallback also asks.
    let third = ranked(&b, "k")[2].clone();
    put_copy(
        server(&cluster, &third),
        "k",
        "\"v1\"",
        &past_timestamp(1000),
    )
    .await;

    let r = http
        .post_json(&url, &json!({"key": "k", "value": "v2"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "an overwrite: {}", r.body);
    assert_eq!(r.json()["created"], json!(false), "{}", r.body);
    assert!(
        cluster.replica_set("k").await.contains(&third),
        "the copy's node joins the set"
    );
    assert_eq!(
        server(&cluster, &third).held("k").await.0.as_deref(),
        Some("\"v2\"")
    );

    // A copy on a node the write goes to anyway (the search skips it: the
    // node's own answer to the write says it held the key).
    let first = ranked(&b, "k2")[0].clone();
    put_copy(
        server(&cluster, &first),
        "k2",
        "\"v1\"",
        &past_timestamp(1000),
    )
    .await;
    let r = http
        .post_json(&url, &json!({"key": "k2", "value": "v2"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "an overwrite: {}", r.body);

    let r = http.delete(&format!("{url}/k")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = http.get(&format!("{url}/k")).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND, "came back: {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_right_after_index_loss_finds_a_key_outside_its_candidates() {
    // One copy per key: the fallback's candidates are the top two nodes.
    // The key sits on the last-ranked node, as a substitute or an earlier
    // overflow placement would leave it, and the index says so.
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    // No near cache: the read must look the key up.
    let mut config = cluster.unreplicated_config();
    config.near_cache_bytes = 0;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let url = format!("{}/cache/k", b.url);
    let last = ranked(&b, "k")[3].clone();
    put_copy(
        server(&cluster, &last),
        "k",
        "\"v1\"",
        &past_timestamp(1000),
    )
    .await;
    cluster.set_index_entry("k", &last).await;

    cluster.flush_index().await;
    let r = http.get(&url).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "lost: {}", r.body);
    assert_eq!(r.json()["value"], json!("v1"));
}

/// The value of an unlabelled metric in the balancer's `/metrics`.
async fn metric(http: &HttpClient, b: &TestBalancer, name: &str) -> f64 {
    let text = http.get(&format!("{}/metrics", b.url)).await.unwrap().body;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Waits until the index holds the marker a finished rebuild sets.
async fn marked_complete(cluster: &Cluster) {
    wait_until("the rebuild finishes", 20, async || {
        let mut conn = cluster.index.connection().await;
        redis::cmd("EXISTS")
            .arg(COMPLETE)
            .query_async::<i64>(&mut conn)
            .await
            .unwrap()
            == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_balancer_rebuilds_the_index_from_the_nodes() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let (a, b) = TestBalancer::start_pair(cluster.config()).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &a, "key", 200).await;
    let mut sets = Vec::new();
    for w in &written {
        let mut set = cluster.replica_set(&w.key).await;
        set.sort();
        sets.push(set);
    }

    // The first rebuild, of the empty index they started with, may have
    // adopted a key or two written while it ran.
    marked_complete(&cluster).await;
    let before = [
        metric(&http, &a, "dlb_index_rebuild_keys_total").await,
        metric(&http, &b, "dlb_index_rebuild_keys_total").await,
    ];

    cluster.flush_index().await;
    marked_complete(&cluster).await;
    for (w, before) in written.iter().zip(&sets) {
        let mut set = cluster.replica_set(&w.key).await;
        set.sort();
        assert_eq!(&set, before, "{}", w.key);
    }
    for balancer in [&a, &b] {
        wait_until("both balancers leave rebuild mode", 5, async || {
            metric(&http, balancer, "dlb_index_rebuilding").await == 0.0
                && nodes_view(&http, balancer).await["index"]["complete"] == json!(true)
        })
        .await;
    }
    let adopted = [
        metric(&http, &a, "dlb_index_rebuild_keys_total").await - before[0],
        metric(&http, &b, "dlb_index_rebuild_keys_total").await - before[1],
    ];
    assert!(
        adopted.contains(&0.0) && adopted.contains(&400.0),
        "one balancer adopts all 400 copies: {adopted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_index_is_rebuilt_writes_and_deletes_reach_copies_it_does_not_name_yet() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let url = format!("{}/cache", b.url);
    marked_complete(&cluster).await;
    let mut sets = Vec::new();
    for key in ["w", "d"] {
        let r = http
            .post_json(&url, &json!({"key": key, "value": "v1"}))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        sets.push(cluster.replica_set(key).await);
    }

    // The index is lost, and its rebuild has adopted only the first copy
    // of each key so far (another balancer holds the lock, and stalls).
    cluster.flush_index().await;
    let mut conn = cluster.index.connection().await;
    let _: () = redis::cmd("SET")
        .arg("dlb:index:rebuild")
        .arg("stalled")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    for (key, set) in ["w", "d"].iter().zip(&sets) {
        cluster.set_index_entry(key, &set[0]).await;
    }

    let r = http
        .post_json(&url, &json!({"key": "w", "value": "v2"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = http.delete(&format!("{url}/d")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    wait_until("every copy took the write and the delete", 5, async || {
        for id in &sets[0] {
            if server(&cluster, id).held("w").await.0.as_deref() != Some("\"v2\"") {
                return false;
            }
        }
        for id in &sets[1] {
            let (value, timestamp) = server(&cluster, id).held("d").await;
            if value.is_some() || timestamp.is_none() {
                return false;
            }
        }
        true
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_while_the_index_is_rebuilt_does_not_trust_a_partial_entry() {
    // Found by the 30-minute chaos soak: after an index loss the rebuild
    // had recorded only a node holding an older copy in a key's entry, and
    // reads took that copy, older than an acknowledged write on other
    // nodes. Until the index is complete, an entry may name only some of
    // a key's copies, so a read looks at every node.
    let cluster = Cluster::start(&["16mb", "16mb", "16mb"]);
    let mut config = cluster.config();
    config.near_cache_bytes = 0;
    // Slow enough that the rebuild does not finish during the test.
    config.repair.index_rebuild_keys_per_sec = 1;
    for node in &cluster.nodes {
        for i in 0..50 {
            put_copy(node, &format!("filler-{i}"), "0", &past_timestamp(60_000)).await;
        }
    }
    let (old, newer) = (&cluster.nodes[0], &cluster.nodes[1..]);
    put_copy(old, "k", "\"old\"", &past_timestamp(5_000)).await;
    for node in newer {
        put_copy(node, "k", "\"acknowledged\"", &past_timestamp(1_000)).await;
    }
    cluster.set_index_entry("k", &old.addr()).await;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();

    let r = http.get(&format!("{}/cache/k", b.url)).await.unwrap();

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["value"], json!("acknowledged"), "{}", r.body);
}
