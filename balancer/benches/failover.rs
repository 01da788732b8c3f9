//! Failover benchmark: a balancer with R = 2 over four real Redis nodes,
//! under a steady closed-loop load of reads (of keys written beforehand)
//! and writes, while one node is killed (SIGKILL) or hung (SIGSTOP).
//! Prints, per event: how long the balancer took to mark the node down,
//! requests that failed during the load, and, after the load, how long the
//! node took to be whole again once it returned (restarted empty: every
//! key whose set names it back on it; resumed: marked up). Then the throughput of R = 1,
//! 2 and 3 measured side by side, alternating, on the same nodes.
//!
//! Run: `cargo bench -p balancer --bench failover` (about a minute and a
//! half). `BENCH_KEYS` sets the keys written beforehand (default 5 000),
//! `BENCH_CONCURRENCY` the requests in flight (default 32). Under
//! `cargo test` (no `--bench` argument) it runs as a short smoke test.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use balancer::config::Config;
use balancer::index::ENTRY_PREFIX;
use serde_json::json;
use test_support::{Cluster, HttpClient, RedisServer, TestBalancer, WrittenKey, write_keys};

/// What a load saw.
#[derive(Debug, Default)]
struct Counts {
    reads: AtomicUsize,
    failed_reads: AtomicUsize,
    writes: AtomicUsize,
    failed_writes: AtomicUsize,
}

/// Closed-loop workers reading `keys` and writing fresh keys (or only one
/// of the two) until `stop` turns true.
fn start_load(
    url: &str,
    keys: Arc<Vec<WrittenKey>>,
    concurrency: usize,
    mix: Mix,
    stop: Arc<AtomicBool>,
) -> (Arc<Counts>, Vec<tokio::task::JoinHandle<()>>) {
    let counts = Arc::new(Counts::default());
    let workers = (0..concurrency)
        .map(|w| {
            let (url, keys, counts, stop) =
                (url.to_string(), keys.clone(), counts.clone(), stop.clone());
            tokio::spawn(async move {
                let http = HttpClient::new();
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    if mix != Mix::WritesOnly {
                        let WrittenKey { key, value, .. } = &keys[i % keys.len()];
                        let ok = match http.get(&format!("{url}/cache/{key}")).await {
                            Ok(r) => r.status == 200 && r.json()["value"] == value.as_str(),
                            Err(_) => false,
                        };
                        counts.reads.fetch_add(1, Ordering::Relaxed);
                        counts
                            .failed_reads
                            .fetch_add(usize::from(!ok), Ordering::Relaxed);
                    }
                    if mix != Mix::ReadsOnly {
                        let body = json!({"key": format!("w{w}-{i}"), "value": "x".repeat(100)});
                        let ok = http
                            .post_json(&format!("{url}/cache"), &body)
                            .await
                            .is_ok_and(|r| r.status.is_success());
                        counts.writes.fetch_add(1, Ordering::Relaxed);
                        counts
                            .failed_writes
                            .fetch_add(usize::from(!ok), Ordering::Relaxed);
                    }
                    i += concurrency;
                }
            })
        })
        .collect();
    (counts, workers)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    Both,
    ReadsOnly,
    WritesOnly,
}

fn config(cluster: &Cluster, factor: usize) -> Config {
    let mut config = cluster.config();
    config.replication.factor = NonZeroUsize::new(factor).expect("positive");
    config
}

/// Polls until `check` holds; returns how long that took, or `None` after `limit`.
async fn time_until(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

fn is_up(b: &TestBalancer, id: &str) -> bool {
    b.app.nodes.current().by_id(id).is_some_and(|n| n.is_up())
}

/// Whether every key whose replica set names `node` is on it.
async fn fully_repaired(index: &RedisServer, node: &RedisServer) -> bool {
    let (mut index, mut conn) = (index.connection().await, node.connection().await);
    let mut cursor = 0u64;
    loop {
        let (next, entries): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{ENTRY_PREFIX}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut index)
            .await
            .expect("scan index");
        let sets: Vec<Option<String>> = if entries.is_empty() {
            Vec::new()
        } else {
            redis::cmd("MGET")
                .arg(&entries)
                .query_async(&mut index)
                .await
                .expect("mget")
        };
        for (entry, set) in entries.iter().zip(sets) {
            if set.is_some_and(|s| s.split(',').any(|id| id == node.addr())) {
                let key = entry.strip_prefix(ENTRY_PREFIX).expect("an index entry");
                let held: bool = redis::cmd("EXISTS")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .expect("exists");
                if !held {
                    return false;
                }
            }
        }
        cursor = next;
        if cursor == 0 {
            return true;
        }
    }
}

/// One row of the event table.
struct EventRow {
    event: &'static str,
    detection: Option<Duration>,
    reads: usize,
    failed_reads: usize,
    writes: usize,
    failed_writes: usize,
    back: Option<Duration>,
}

#[derive(Clone, Copy)]
enum Fault {
    Kill,
    Hang,
}

async fn event(fault: Fault, keys: usize, concurrency: usize, window: Duration) -> EventRow {
    let mut cluster = Cluster::start(&["256mb", "256mb", "256mb", "256mb"]);
    let b = TestBalancer::start(config(&cluster, 2)).await;
    let http = HttpClient::new();
    let preloaded = Arc::new(write_keys(&http, &b, "pre", keys).await);
    let stop = Arc::new(AtomicBool::new(false));
    let (counts, workers) = start_load(&b.url, preloaded, concurrency, Mix::Both, stop.clone());
    tokio::time::sleep(window / 4).await;
    let victim = cluster.nodes[1].addr();
    let struck = Instant::now();
    match fault {
        Fault::Kill => cluster.nodes[1].stop(),
        Fault::Hang => cluster.nodes[1].pause(),
    }
    let detection = time_until(window, async || !is_up(&b, &victim))
        .await
        .map(|_| struck.elapsed());
    tokio::time::sleep(window.saturating_sub(detection.unwrap_or(window))).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let returned = Instant::now();
    let back = match fault {
        Fault::Kill => {
            cluster.nodes[1].restart();
            let (index, node) = (&cluster.index, &cluster.nodes[1]);
            time_until(Duration::from_secs(60), async || {
                is_up(&b, &victim) && fully_repaired(index, node).await
            })
            .await
        }
        Fault::Hang => {
            cluster.nodes[1].resume();
            time_until(Duration::from_secs(30), async || is_up(&b, &victim)).await
        }
    }
    .map(|_| returned.elapsed());
    b.shutdown().await;
    EventRow {
        event: match fault {
            Fault::Kill => "kill -9, restart empty",
            Fault::Hang => "SIGSTOP, SIGCONT",
        },
        detection,
        reads: counts.reads.load(Ordering::Relaxed),
        failed_reads: counts.failed_reads.load(Ordering::Relaxed),
        writes: counts.writes.load(Ordering::Relaxed),
        failed_writes: counts.failed_writes.load(Ordering::Relaxed),
        back,
    }
}

/// Requests per second of reads and of writes at replication factor `r`.
async fn throughput(
    cluster: &Cluster,
    r: usize,
    keys: usize,
    concurrency: usize,
    phase: Duration,
) -> (f64, f64) {
    for node in &cluster.nodes {
        let mut conn = node.connection().await;
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .expect("flush");
    }
    let mut index = cluster.index.connection().await;
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut index)
        .await
        .expect("flush");
    let b = TestBalancer::start(config(cluster, r)).await;
    let http = HttpClient::new();
    let preloaded = Arc::new(write_keys(&http, &b, "pre", keys).await);
    let mut rates = [0.0; 2];
    for (slot, mix) in [(0, Mix::ReadsOnly), (1, Mix::WritesOnly)] {
        let stop = Arc::new(AtomicBool::new(false));
        let (counts, workers) =
            start_load(&b.url, preloaded.clone(), concurrency, mix, stop.clone());
        let start = Instant::now();
        tokio::time::sleep(phase).await;
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let _ = w.await;
        }
        let done = counts.reads.load(Ordering::Relaxed) + counts.writes.load(Ordering::Relaxed);
        let failed = counts.failed_reads.load(Ordering::Relaxed)
            + counts.failed_writes.load(Ordering::Relaxed);
        assert_eq!(failed, 0, "no request fails without a fault");
        rates[slot] = done as f64 / start.elapsed().as_secs_f64();
    }
    b.shutdown().await;
    (rates[0], rates[1])
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("not within limit".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let keys = env_usize("BENCH_KEYS", if benchmarking { 5_000 } else { 300 });
    let concurrency = env_usize("BENCH_CONCURRENCY", 32);
    let (window, phase, rounds) = if benchmarking {
        (Duration::from_secs(6), Duration::from_secs(4), 3)
    } else {
        (Duration::from_secs(2), Duration::from_millis(500), 1)
    };
    println!(
        "failover benchmark: 4 nodes, R = 2, write ack quorum, node timeout 300 ms, \
         eject after 3 failures, health check every 500 ms; {keys} keys written first; \
         {concurrency} closed-loop workers each reading a preloaded key then writing a new one"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!();
    println!(
        "| event | detected after | reads (failed) | writes (failed) | node whole again after |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for fault in [Fault::Kill, Fault::Hang] {
        let row = runtime.block_on(event(fault, keys, concurrency, window));
        println!(
            "| {} | {} | {} ({}) | {} ({}) | {} |",
            row.event,
            ms(row.detection),
            row.reads,
            row.failed_reads,
            row.writes,
            row.failed_writes,
            ms(row.back)
        );
    }

    println!();
    println!(
        "throughput by replication factor ({rounds} rounds running R = 1, 2, 3 in rotated order, each {:.1} s of reads then {:.1} s of writes; median):",
        phase.as_secs_f64(),
        phase.as_secs_f64()
    );
    let cluster = Cluster::start(&["256mb", "256mb", "256mb", "256mb"]);
    let mut samples: HashMap<usize, Vec<(f64, f64)>> = HashMap::new();
    for round in 0..rounds {
        // Each round starts with another factor, so no factor always runs first.
        let mut order = [1, 2, 3];
        order.rotate_left(round % 3);
        for r in order {
            let rate =
                runtime.block_on(throughput(&cluster, r, keys.min(2_000), concurrency, phase));
            samples.entry(r).or_default().push(rate);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = samples[&1].clone();
    let (base_reads, base_writes) = (
        median(base.iter().map(|s| s.0).collect()),
        median(base.iter().map(|s| s.1).collect()),
    );
    println!();
    println!("| R | GET req/s | vs R=1 | POST req/s | vs R=1 |");
    println!("| --- | --- | --- | --- | --- |");
    for r in [1, 2, 3] {
        let reads = median(samples[&r].iter().map(|s| s.0).collect());
        let writes = median(samples[&r].iter().map(|s| s.1).collect());
        println!(
            "| {r} | {reads:.0} | {:.2}x | {writes:.0} | {:.2}x |",
            reads / base_reads,
            writes / base_writes
        );
    }
}
