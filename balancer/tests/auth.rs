//! Redis AUTH with real servers that want a password (`requirepass`) or an
//! ACL user: a balancer with the right credentials serves reads and writes
//! through the index and the data nodes, and its near cache is still kept
//! true by the nodes' invalidation streams (which authenticate in their
//! `HELLO`); with a wrong or missing password every node is down, and the
//! index unready, for a reason that says authentication failed.

use balancer::config::{Config, Secret};
use hyper::StatusCode;
use serde_json::{Value, json};
use test_support::{
    Cluster, HttpClient, ServerAuth, TestBalancer, node_entries, nodes_view, wait_until,
    write_value,
};

fn near_hits(b: &TestBalancer) -> u64 {
    b.app
        .metrics
        .lookups
        .with_label_values(&["near_cache"])
        .get()
}

/// Waits until the index is complete and every stream (the nodes', and the
/// index's for the location cache) is fresh: each has authenticated.
async fn wait_for_streams(http: &HttpClient, b: &TestBalancer) {
    wait_until("every invalidation stream is fresh", 10, async || {
        let view = nodes_view(http, b).await;
        let streams = view["near_cache"]["streams"].as_object().unwrap().clone();
        !streams.is_empty()
            && streams.values().all(|s| s == "fresh")
            && view["location_cache"]["index_stream"] == json!("fresh")
            && view["index"]["complete"] == json!(true)
    })
    .await;
}

/// The value read through `b`, and where it came from (`near` or `node`).
async fn read(http: &HttpClient, b: &TestBalancer, key: &str) -> (Value, String) {
    let r = http.get(&format!("{}/cache/{key}", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{key}: {}", r.body);
    let source = r.headers["x-cache-source"].to_str().unwrap().to_string();
    (r.json()["value"].clone(), source)
}

/// Two balancers over a cluster that wants `auth`: both serve, `a` answers
/// a hot key from its near cache, and writes through `b` and around both
/// balancers reach `a`'s near cache as invalidations.
async fn serves_and_invalidates(auth: ServerAuth) {
    let cluster = Cluster::with_auth(&["64mb", "64mb"], auth);
    let (a, b) = TestBalancer::start_pair(cluster.config()).await;
    let http = HttpClient::new();
    wait_for_streams(&http, &a).await;

    write_value(&http, &a, "hot", "v0").await;
    assert_eq!(read(&http, &a, "hot").await.0, "v0");
    assert_eq!(read(&http, &a, "hot").await, (json!("v0"), "near".into()));
    assert_eq!(near_hits(&a), 1, "the second read is a near hit");
    assert_eq!(
        cluster.replica_set("hot").await.len(),
        2,
        "the index has it"
    );

    write_value(&http, &b, "hot", "v1").await;
    wait_until("a write through b reaches a's near cache", 2, async || {
        read(&http, &a, "hot").await == (json!("v1"), "near".into())
    })
    .await;

    // Written on the nodes themselves, over their own authenticated
    // connections: the very next read through `a` sees it, told by the
    // nodes' invalidation streams.
    let invalidations = a.app.metrics.near_invalidations.get();
    for node in &cluster.nodes {
        let mut conn = node.connection().await;
        let _: () = redis::cmd("HSET")
            .arg("hot")
            .arg("v")
            .arg("\"around\"")
            .arg("t")
            .arg("9999999999999.000001.test")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    assert_eq!(read(&http, &a, "hot").await.0, "around");
    assert!(a.app.metrics.near_invalidations.get() > invalidations);
    let r = http.get(&format!("{}/readyz", a.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_requirepass_the_balancers_serve_and_invalidations_arrive() {
    serves_and_invalidates(ServerAuth::Password("s3cret-pass".into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_an_acl_user_the_balancers_serve_and_invalidations_arrive() {
    serves_and_invalidates(ServerAuth::User("dlb".into(), "acl-pass".into())).await;
}

/// Starts a balancer over `cluster` with `config`, and checks that every
/// node goes down, and the index unready, because authentication failed,
/// and that a request fails cleanly.
async fn refused(cluster: &Cluster, config: Config) {
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    wait_until("every node is down for authentication", 10, async || {
        node_entries(&http, &b).await.iter().all(|n| {
            n["state"] == "down"
                && n["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("authentication failed"))
        })
    })
    .await;
    let r = http.get(&format!("{}/readyz", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let ready = r.json();
    let index = ready["index"].as_str().unwrap();
    assert!(index.contains("authentication failed"), "{ready}");
    let view = nodes_view(&http, &b).await;
    assert!(
        view["near_cache"]["streams"]
            .as_object()
            .unwrap()
            .values()
            .all(|s| s == "closed"),
        "a stream opened without the password: {view}"
    );
    let body = json!({"key": "k", "value": 1});
    let r = http
        .post_json(&format!("{}/cache", b.url), &body)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    // Nothing reached the servers.
    let mut conn = cluster.nodes[0].connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_password_is_a_clear_down_reason() {
    let cluster = Cluster::with_auth(&["64mb", "64mb"], ServerAuth::Password("right".into()));
    let mut config = cluster.config();
    config.redis_password = Some(Secret::new("wrong"));
    refused(&cluster, config).await;
    let mut config = cluster.config();
    config.redis_password = None;
    refused(&cluster, config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_acl_user_is_a_clear_down_reason() {
    let auth = ServerAuth::User("dlb".into(), "acl-pass".into());
    let cluster = Cluster::with_auth(&["64mb"], auth);
    let mut config = cluster.config();
    config.redis_username = Some("someone-else".into());
    refused(&cluster, config).await;
}
