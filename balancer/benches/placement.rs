//! Placement benchmark: loads keys with heavy-tailed value sizes through a
//! real balancer onto four real Redis nodes of different `maxmemory`, once
//! per placement policy, and prints how evenly memory fills up.
//!
//! Run: `cargo bench -p balancer --bench placement` (about a minute).
//! `BENCH_KEYS` sets the key count (default 200 000), `BENCH_CONCURRENCY`
//! the requests in flight (default 64). Under `cargo test` (no `--bench`
//! argument) it runs as a quick smoke test with 2 000 keys.
//!
//! Value sizes are log-normal (median 600 B, sigma 1.0) clipped to
//! 100 B..64 KiB, from a fixed seed, so every policy sees the same load.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use balancer::config::Choices;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use test_support::{Cluster, HttpClient, TestBalancer};

const MAXMEMORY: [&str; 4] = ["64mb", "64mb", "128mb", "256mb"];

struct Policy {
    name: &'static str,
    choices: Choices,
    load_epsilon: f64,
}

struct Row {
    policy: &'static str,
    errors: usize,
    seconds: f64,
    utilization: Vec<f64>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Log-normal sizes via Box-Muller, clipped to 100 B..64 KiB.
fn value_sizes(n: usize) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(42);
    (0..n)
        .map(|_| {
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            ((600f64.ln() + z).exp() as usize).clamp(100, 64 * 1024)
        })
        .collect()
}

async fn run(policy: &Policy, sizes: Arc<Vec<usize>>, concurrency: usize) -> Row {
    let cluster = Cluster::start(&MAXMEMORY);
    let mut config = cluster.config();
    config.placement.choices = policy.choices;
    config.placement.load_epsilon = policy.load_epsilon;
    config.sample_interval_ms = 1000;
    let balancer = TestBalancer::start(config).await;
    let url = format!("{}/cache", balancer.url);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, next, errors, sizes) = (
                HttpClient::new(),
                url.clone(),
                next.clone(),
                errors.clone(),
                sizes.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&size) = sizes.get(i) else { break };
                    let body = format!(r#"{{"key":"k{i}","value":"{}"}}"#, "x".repeat(size));
                    let ok = http
                        .send(hyper::Method::POST, &url, body)
                        .await
                        .is_ok_and(|r| r.status.is_success());
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut utilization = Vec::new();
    for node in &cluster.nodes {
        let mut c = node.connection().await;
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut c)
            .await
            .expect("INFO");
        let parsed = memreport::info::parse(&info);
        utilization.push(parsed.used_memory as f64 / parsed.maxmemory as f64);
    }
    balancer.shutdown().await;
    Row {
        policy: policy.name,
        errors: errors.load(Ordering::Relaxed),
        seconds,
        utilization,
    }
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let keys = env_usize("BENCH_KEYS", if benchmarking { 200_000 } else { 2_000 });
    let concurrency = env_usize("BENCH_CONCURRENCY", 64);
    let sizes = Arc::new(value_sizes(keys));
    let total: usize = sizes.iter().sum();
    let policies = [
        Policy {
            name: "hashing alone (k=1)",
            choices: Choices::Top(NonZeroUsize::new(1).expect("1")),
            load_epsilon: 1e9,
        },
        Policy {
            name: "k=2",
            choices: Choices::Top(NonZeroUsize::new(2).expect("2")),
            load_epsilon: 0.25,
        },
        Policy {
            name: "k=all",
            choices: Choices::All,
            load_epsilon: 0.25,
        },
    ];
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "placement benchmark: {keys} keys, {:.1} MiB of values (log-normal, median 600 B, 100 B..64 KiB), \
         nodes maxmemory {MAXMEMORY:?}, {concurrency} requests in flight",
        total as f64 / (1024.0 * 1024.0)
    );
    println!();
    println!("| policy | utilization per node | max/mean | failed writes | writes/s |");
    println!("| --- | --- | --- | --- | --- |");
    for policy in &policies {
        let row = runtime.block_on(run(policy, sizes.clone(), concurrency));
        let mean = row.utilization.iter().sum::<f64>() / row.utilization.len() as f64;
        let max = row.utilization.iter().copied().fold(0.0, f64::max);
        let per_node: Vec<String> = row
            .utilization
            .iter()
            .map(|u| format!("{:.0}%", u * 100.0))
            .collect();
        println!(
            "| {} | {} | {:.2} | {} | {:.0} |",
            row.policy,
            per_node.join(" / "),
            max / mean,
            row.errors,
            keys as f64 / row.seconds
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
