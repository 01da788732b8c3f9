//! The balancer's caches over real redis-server processes, kept true by
//! the servers they copy. Near cache: hot keys are answered from the
//! balancer, and a change made anywhere (another balancer, a client
//! writing around the balancer, a flush) is seen by the next read, even
//! behind a large backlog of invalidations at most `near_cache_max_lag_ms`
//! after the change was acknowledged; a hung node's values stop being
//! served before a write can give up on it; a read answers the version it
//! returns, from a node or from the near cache. Location cache: a change
//! to a key's index entry made elsewhere is followed by the very next
//! read.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::json;
use test_support::{
    Cluster, HttpClient, RedisServer, TestBalancer, nodes_view, wait_until, write_value,
};

/// Reads answered by `source` (`near_cache`, `cache`, `index`, ...).
fn lookups(b: &TestBalancer, source: &str) -> u64 {
    b.app.metrics.lookups.with_label_values(&[source]).get()
}

/// Waits until every node's invalidation stream is open and current.
async fn wait_for_streams(http: &HttpClient, b: &TestBalancer) {
    // A read while the fresh index is still being rebuilt looks on every
    // node, and what it finds that way is not kept near.
    wait_until(
        "every invalidation stream is fresh, the index complete",
        10,
        async || {
            let view = nodes_view(http, b).await;
            let streams = view["near_cache"]["streams"].as_object().unwrap().clone();
            !streams.is_empty()
                && streams.values().all(|s| s == "fresh")
                && view["index"]["complete"] == serde_json::json!(true)
        },
    )
    .await;
}

/// Balancers `a` and `b` on `cluster`, `a`'s streams fresh.
async fn two_balancers(cluster: &Cluster) -> (TestBalancer, TestBalancer) {
    let (a, b) = TestBalancer::start_pair(cluster.config()).await;
    wait_for_streams(&HttpClient::new(), &a).await;
    (a, b)
}

async fn read(http: &HttpClient, b: &TestBalancer, key: &str) -> serde_json::Value {
    let r = http.get(&format!("{}/cache/{key}", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{key}: {}", r.body);
    r.json()["value"].clone()
}

/// Reads `key` until a read finds it through the location cache: a new
/// key's first write does not record its location (its claim's own change
/// to the index entry cancels the record), and the invalidation of that
/// change can cancel the first read's record too.
async fn read_until_cached(http: &HttpClient, b: &TestBalancer, key: &str) {
    wait_until("a read goes by the cached location", 5, async || {
        let before = lookups(b, "cache");
        read(http, b, key).await;
        lookups(b, "cache") > before
    })
    .await;
}

/// Writes `key` on `node` directly, as a client bypassing the balancer
/// would, with a timestamp newer than any balancer's.
async fn write_around(node: &RedisServer, key: &str, value: &str, round: usize) {
    let mut conn = node.connection().await;
    let _: () = redis::cmd("HSET")
        .arg(key)
        .arg("v")
        .arg(serde_json::to_string(value).unwrap())
        .arg("t")
        .arg(format!("9999999999999.{round:06}.test"))
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_keys_are_served_near_and_a_change_around_the_balancer_shows_at_once() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    wait_for_streams(&http, &b).await;
    write_value(&http, &b, "hot", "v0").await;
    assert_eq!(read(&http, &b, "hot").await, "v0");
    assert_eq!(read(&http, &b, "hot").await, "v0");
    assert_eq!(
        lookups(&b, "near_cache"),
        1,
        "the second read is a near hit"
    );

    for round in 1..=200 {
        let value = format!("around-{round}");
        for node in &cluster.nodes {
            write_around(node, "hot", &value, round).await;
        }
        assert_eq!(
            read(&http, &b, "hot").await,
            value.as_str(),
            "round {round}"
        );
        assert_eq!(
            read(&http, &b, "hot").await,
            value.as_str(),
            "round {round}"
        );
    }
    let near = lookups(&b, "near_cache");
    assert!(near >= 150, "repeat reads were near hits: {near} of 200");

    let view = nodes_view(&http, &b).await;
    assert!(
        view["near_cache"]["entries"].as_u64().unwrap() > 0,
        "{view}"
    );
    let mut conn = cluster.nodes[0].connection().await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    wait_until("a flush empties the near cache", 5, async || {
        let view = nodes_view(&http, &b).await;
        view["near_cache"]["entries"] == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_balancer_is_read_at_once_through_another() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let (a, b) = two_balancers(&cluster).await;
    let http = HttpClient::new();

    for round in 0..300 {
        let key = format!("shared-{}", round % 10);
        if round < 10 {
            write_value(&http, &b, &key, "first").await;
        }
        read(&http, &a, &key).await;
        let value = format!("from-b-{round}");
        write_value(&http, &b, &key, &value).await;
        assert_eq!(read(&http, &a, &key).await, value.as_str(), "round {round}");
    }
    let near = lookups(&a, "near_cache");
    assert!(near >= 250, "reads through a were near hits: {near} of 600");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_node_s_values_stop_being_served_before_a_write_gives_up_on_it() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let (a, b) = two_balancers(&cluster).await;
    let http = HttpClient::new();

    write_value(&http, &b, "k", "before").await;
    read(&http, &a, "k").await;
    let r = http.get(&format!("{}/cache/k", a.url)).await.unwrap();
    assert_eq!(lookups(&a, "near_cache"), 1, "a serves k from near");
    let serving = r.node().unwrap();
    let hung = cluster.nodes.iter().find(|n| n.addr() == serving).unwrap();

    hung.pause();
    write_value(&http, &b, "k", "after").await;
    assert_eq!(read(&http, &a, "k").await, "after");
    hung.resume();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_bytes_every_read_asks_a_node() {
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let mut config = cluster.config();
    config.near_cache_bytes = 0;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    write_value(&http, &b, "k", "v").await;
    read_until_cached(&http, &b, "k").await;
    let before = lookups(&b, "cache");
    for _ in 0..5 {
        assert_eq!(read(&http, &b, "k").await, "v");
    }
    assert_eq!(lookups(&b, "near_cache"), 0);
    assert_eq!(lookups(&b, "cache"), before + 5);
    let view = nodes_view(&http, &b).await;
    assert_eq!(view["near_cache"]["max_bytes"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_location_follows_an_index_entry_changed_elsewhere() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let mut config = cluster.config();
    config.near_cache_bytes = 0;
    config.replication.factor = std::num::NonZeroUsize::MIN;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    wait_until("the index stream is fresh", 10, async || {
        let view = nodes_view(&http, &b).await;
        view["location_cache"]["index_stream"] == "fresh"
    })
    .await;

    for round in 1..=50 {
        let key = format!("moved-{round}");
        write_value(&http, &b, &key, "old").await;
        assert_eq!(read(&http, &b, &key).await, "old");
        read_until_cached(&http, &b, &key).await;

        // Elsewhere, the key moves: a newer value on another node, and the
        // index entry pointing there. The old node keeps its old copy.
        let entry = cluster.index_entry(&key).await.unwrap();
        let elsewhere = cluster.nodes.iter().find(|n| n.addr() != entry).unwrap();
        write_around(elsewhere, &key, "new", round).await;
        cluster.set_index_entry(&key, &elsewhere.addr()).await;
        assert_eq!(read(&http, &b, &key).await, "new", "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_answers_the_version_its_write_answered_and_says_node_or_near() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    wait_for_streams(&http, &b).await;
    for round in 0..3 {
        let body = json!({"key": "k", "value": round});
        let r = http.post_json(&format!("{}/cache", b.url), &body).await;
        let version = r.unwrap().json()["version"].as_str().unwrap().to_string();
        let near = lookups(&b, "near_cache");
        for source in ["node", "near"] {
            let r = http.get(&format!("{}/cache/k", b.url)).await.unwrap();
            assert_eq!(r.json()["value"], round);
            assert_eq!(r.headers["x-cache-version"], version.as_str());
            assert_eq!(r.headers["x-cache-source"], source, "round {round}");
        }
        assert_eq!(
            lookups(&b, "near_cache"),
            near + 1,
            "the second read is near"
        );
    }
}

/// How far a near hit may lag a write made elsewhere, in the backlog
/// tests below.
const MAX_LAG: Duration = Duration::from_millis(50);

/// How long the backlog tests keep the replicas paused.
const PAUSE: Duration = Duration::from_millis(300);

/// `MSET` of `count` keys with 200-byte names: written straight onto a
/// node, around every balancer, it owes each of the node's
/// broadcast-tracking clients one invalidation push of about `count` x
/// 210 bytes, which Redis sends 64 KiB per event-loop pass, as fast as the
/// client reads.
fn backlog(count: usize) -> redis::Cmd {
    let mut mset = redis::cmd("MSET");
    for i in 0..count {
        mset.arg(format!("backlog-{i:0>192}")).arg("x");
    }
    mset
}

/// Runs `pipeline` on `node`, waiting as long as it takes.
async fn run_pipeline(node: &RedisServer, pipeline: &redis::Pipeline) {
    let mut conn = node.connection().await;
    conn.set_response_timeout(Duration::from_secs(60));
    let _: () = pipeline.query_async(&mut conn).await.unwrap();
}

/// `a`, `b`, and the servers of `k`'s replicas, with `k` = `v1` held in
/// `a`'s near cache; the node timeout is long, so neither a slow heartbeat
/// nor a pause drops a stream or a node: only the lag bound may keep an
/// old value away.
async fn k_held_near(cluster: &Cluster) -> (TestBalancer, TestBalancer, Vec<&RedisServer>) {
    let mut config = cluster.config();
    config.timeouts.node = Duration::from_millis(2000);
    config.near_cache_max_lag = MAX_LAG;
    let (a, b) = TestBalancer::start_pair(config).await;
    let http = HttpClient::new();
    wait_for_streams(&http, &a).await;
    write_value(&http, &b, "k", "v1").await;
    assert_eq!(read(&http, &a, "k").await, "v1");
    assert_eq!(read(&http, &a, "k").await, "v1");
    assert_eq!(lookups(&a, "near_cache"), 1, "a holds k near");
    let replicas = cluster.replica_set("k").await;
    let replicas = cluster
        .nodes
        .iter()
        .filter(|n| replicas.contains(&n.addr()))
        .collect();
    (a, b, replicas)
}

/// Reads `k` through `a` back to back for a second from `acknowledged`,
/// resuming the paused `replicas` after [`PAUSE`]; asserts that every read
/// that started more than [`MAX_LAG`] after `acknowledged` answered `v2`.
/// Returns when the stale reads (all within the lag) started.
async fn reads_lag_at_most_max_lag(
    a: &TestBalancer,
    replicas: &[&RedisServer],
    acknowledged: Instant,
) -> Vec<Duration> {
    let http = HttpClient::new();
    let mut stale = Vec::new();
    let mut late_reads = 0;
    let reads = async {
        while acknowledged.elapsed() < Duration::from_secs(1) {
            let started = acknowledged.elapsed();
            let value = read(&http, a, "k").await;
            late_reads += usize::from(started > MAX_LAG);
            if value != "v2" {
                stale.push(started);
            }
        }
    };
    let resume = async {
        tokio::time::sleep(PAUSE).await;
        replicas.iter().for_each(|n| n.resume());
    };
    tokio::join!(reads, resume);
    assert!(late_reads > 10, "only {late_reads} reads after the lag");
    let too_late: Vec<_> = stale.iter().filter(|s| **s > MAX_LAG).collect();
    assert!(
        too_late.is_empty(),
        "old value read {} ms after the write was acknowledged ({} stale reads in all)",
        too_late.last().map_or(0, |s| s.as_millis()),
        stale.len()
    );
    stale
}

/// Issue 11, item 9: a write's invalidation can wait in Redis behind a
/// large invalidation backlog while the writer's answer is already out.
/// A near hit may then lag that write, but by at most the configured lag:
/// every read that starts later than that after the write was
/// acknowledged answers the new value. The replicas pause for a moment
/// right after the acknowledgement, as busy servers would, so what is left
/// of the backlog stays in Redis while the reads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_lags_a_write_through_another_balancer_by_at_most_the_max_lag() {
    let cluster = Cluster::start(&["512mb", "512mb", "512mb"]);
    let (a, b, replicas) = k_held_near(&cluster).await;
    let http = HttpClient::new();
    let mut mset = redis::pipe();
    mset.add_command(backlog(40_000));
    futures_util::future::join_all(replicas.iter().map(|n| run_pipeline(n, &mset))).await;
    write_value(&http, &b, "k", "v2").await;
    let acknowledged = Instant::now();
    replicas.iter().for_each(|n| n.pause());
    let stale = reads_lag_at_most_max_lag(&a, &replicas, acknowledged).await;
    eprintln!("stale reads, all within the lag: {stale:?}");
}

/// The same with the write made around the balancers, in one pipeline
/// with the backlog on each replica, each paused as soon as it answers:
/// the key's invalidation is then always the last of the backlog's push,
/// still in the server while the reads go on, whatever the timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_lags_a_write_behind_a_backlog_by_at_most_the_max_lag() {
    let cluster = Cluster::start(&["512mb", "512mb", "512mb"]);
    let (a, _b, replicas) = k_held_near(&cluster).await;
    let mut pipeline = redis::pipe();
    pipeline.add_command(backlog(40_000)).cmd("HSET").arg("k");
    pipeline
        .arg("v")
        .arg("\"v2\"")
        .arg("t")
        .arg("9999999999999.000001.test");
    let written = replicas.iter().map(|n| async {
        run_pipeline(n, &pipeline).await;
        n.pause();
    });
    futures_util::future::join_all(written).await;
    let acknowledged = Instant::now();
    let stale = reads_lag_at_most_max_lag(&a, &replicas, acknowledged).await;
    eprintln!("stale reads, all within the lag: {stale:?}");
}
