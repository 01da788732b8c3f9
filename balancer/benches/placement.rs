//! Placement benchmark: loads keys with heavy-tailed value sizes through
//! real balancers onto four real Redis nodes of different `maxmemory`, and
//! prints how evenly memory fills up, per placement policy.
//!
//! Sections (`BENCH_SECTIONS`, comma-separated; default all):
//! - `policies`: one balancer sampling the nodes itself.
//! - `agents`: two balancers loading concurrently, both placing from a
//!   probe agent's live reports (1 s interval) found through ZooKeeper.
//! - `overhead`: one balancer, k = 2, side by side without and with
//!   ZooKeeper + agent reports: what coordination adds per request.
//!
//! Run: `cargo bench -p balancer --bench placement` (about three minutes).
//! `BENCH_KEYS` sets the key count (default 200 000), `BENCH_CONCURRENCY`
//! the requests in flight (default 64). Under `cargo test` (no `--bench`
//! argument) it runs as a quick smoke test with 2 000 keys.
//!
//! Value sizes are log-normal (median 600 B, sigma 1.0) clipped to
//! 100 B..64 KiB, from a fixed seed, so every run sees the same load.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use balancer::config::{Choices, Config};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use test_support::{
    Cluster, HttpClient, RedisServer, TestAgent, TestBalancer, ZooKeeperServer, node_entries,
    wait_until,
};

const MAXMEMORY: [&str; 4] = ["64mb", "64mb", "128mb", "256mb"];

struct Policy {
    name: &'static str,
    choices: Choices,
    load_epsilon: f64,
}

/// What one load produced.
struct Outcome {
    errors: usize,
    seconds: f64,
    write_latency: Histogram<u64>,
    read_latency: Histogram<u64>,
    utilization: Vec<f64>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn policies() -> [Policy; 3] {
    [
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
    ]
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

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds")
}

/// Writes every key (then reads each once) through `urls` in turn, with
/// `concurrency` requests in flight, and reads the nodes' utilization.
async fn load(
    cluster: &Cluster,
    urls: &[String],
    sizes: &Arc<Vec<usize>>,
    concurrency: usize,
) -> Outcome {
    let errors = Arc::new(AtomicUsize::new(0));
    let writes = Arc::new(Mutex::new(histogram()));
    let reads = Arc::new(Mutex::new(histogram()));
    let started = Instant::now();
    for phase in ["write", "read"] {
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..concurrency)
            .map(|w| {
                let url = urls[w % urls.len()].clone();
                let (next, errors, sizes) = (next.clone(), errors.clone(), sizes.clone());
                let latency = if phase == "write" {
                    writes.clone()
                } else {
                    reads.clone()
                };
                tokio::spawn(async move {
                    let http = HttpClient::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&size) = sizes.get(i) else { break };
                        let sent = Instant::now();
                        let result = if phase == "write" {
                            let body =
                                format!(r#"{{"key":"k{i}","value":"{}"}}"#, "x".repeat(size));
                            http.send(hyper::Method::POST, &format!("{url}/cache"), body)
                                .await
                        } else {
                            http.get(&format!("{url}/cache/k{i}")).await
                        };
                        let micros = sent.elapsed().as_micros() as u64;
                        latency
                            .lock()
                            .expect("lock")
                            .saturating_record(micros.max(1));
                        if !result.is_ok_and(|r| r.status.is_success()) {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.expect("worker");
        }
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
    let write_latency = writes.lock().expect("lock").clone();
    let read_latency = reads.lock().expect("lock").clone();
    Outcome {
        errors: errors.load(Ordering::Relaxed),
        seconds,
        write_latency,
        read_latency,
        utilization,
    }
}

fn configure(config: &mut Config, policy: &Policy) {
    config.placement.choices = policy.choices;
    config.placement.load_epsilon = policy.load_epsilon;
    config.sample_interval = std::time::Duration::from_secs(1);
    // One copy per key: the table compares where policies put keys, and
    // replication would only double every node's share.
    config.replication.factor = std::num::NonZeroUsize::MIN;
}

/// Starts a probe agent reporting `cluster`'s nodes (with this host's real
/// memory and CPU) every second and registering in `zk`; stops on drop.
async fn start_agent(cluster: &Cluster, zk: &ZooKeeperServer) -> TestAgent {
    let nodes: Vec<&RedisServer> = cluster.nodes.iter().collect();
    let mut config = TestAgent::config("bench-host", &nodes);
    config.interval = std::time::Duration::from_secs(1);
    config.node_timeout = probe_agent::config::Config::default().node_timeout;
    config.zookeeper = Some(zk.addr());
    let source = Box::new(probe_agent::host::SysinfoSource::new().expect("sysinfo"));
    TestAgent::start_with(config, source).await
}

/// Waits until every balancer takes its figures from the agent.
async fn await_agent_reports(balancers: &[TestBalancer]) {
    let http = HttpClient::new();
    wait_until(
        "the balancers receive the agent's reports",
        10,
        async || {
            for b in balancers {
                let nodes = node_entries(&http, b).await;
                if !nodes
                    .iter()
                    .all(|n| n["report_source"] == serde_json::json!("agent:bench-host"))
                {
                    return false;
                }
            }
            true
        },
    )
    .await;
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn print_row(label: &str, keys: usize, o: &Outcome) {
    let mean = o.utilization.iter().sum::<f64>() / o.utilization.len() as f64;
    let max = o.utilization.iter().copied().fold(0.0, f64::max);
    let per_node: Vec<String> = o
        .utilization
        .iter()
        .map(|u| format!("{:.0}%", u * 100.0))
        .collect();
    println!(
        "| {label} | {} | {:.2} | {} | {:.0} | {:.2} / {:.2} | {:.2} / {:.2} |",
        per_node.join(" / "),
        max / mean,
        o.errors,
        2.0 * keys as f64 / o.seconds,
        ms(&o.write_latency, 0.5),
        ms(&o.write_latency, 0.99),
        ms(&o.read_latency, 0.5),
        ms(&o.read_latency, 0.99),
    );
}

fn header() {
    println!(
        "| setup | utilization per node | max/mean | failed requests | requests/s | write p50 / p99 ms | read p50 / p99 ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
}

async fn section_policies(sizes: &Arc<Vec<usize>>, concurrency: usize) {
    println!("\n### One balancer, own INFO sampling\n");
    header();
    for policy in &policies() {
        let cluster = Cluster::start(&MAXMEMORY);
        let mut config = cluster.config();
        configure(&mut config, policy);
        let b = TestBalancer::start(config).await;
        let outcome = load(&cluster, std::slice::from_ref(&b.url), sizes, concurrency).await;
        b.shutdown().await;
        print_row(policy.name, sizes.len(), &outcome);
    }
}

async fn section_agents(sizes: &Arc<Vec<usize>>, concurrency: usize) {
    println!("\n### Two balancers loading concurrently, placing from live agent reports (1 s)\n");
    header();
    for policy in &policies() {
        let zk = ZooKeeperServer::start();
        let cluster = Cluster::start(&MAXMEMORY);
        let _agent = start_agent(&cluster, &zk).await;
        let mut config = cluster.config();
        configure(&mut config, policy);
        config.zookeeper = Some(zk.addr());
        let (a, b) = TestBalancer::start_pair(config).await;
        let balancers = [a, b];
        let urls: Vec<String> = balancers.iter().map(|b| b.url.clone()).collect();
        await_agent_reports(&balancers).await;
        let outcome = load(&cluster, &urls, sizes, concurrency).await;
        for b in balancers {
            b.shutdown().await;
        }
        print_row(policy.name, sizes.len(), &outcome);
    }
}

async fn section_overhead(sizes: &Arc<Vec<usize>>, concurrency: usize) {
    println!(
        "\n### What ZooKeeper and agent reports add to the request path (one balancer, k=2)\n"
    );
    header();
    let policy = &policies()[1];
    for with_coordination in [false, true] {
        let zk = ZooKeeperServer::start();
        let cluster = Cluster::start(&MAXMEMORY);
        let _agent = if with_coordination {
            Some(start_agent(&cluster, &zk).await)
        } else {
            None
        };
        let mut config = cluster.config();
        configure(&mut config, policy);
        if with_coordination {
            config.zookeeper = Some(zk.addr());
        }
        let b = TestBalancer::start(config).await;
        if with_coordination {
            await_agent_reports(std::slice::from_ref(&b)).await;
        }
        let outcome = load(&cluster, std::slice::from_ref(&b.url), sizes, concurrency).await;
        b.shutdown().await;
        let label = if with_coordination {
            "ZooKeeper + agent reports"
        } else {
            "static, own sampling"
        };
        print_row(label, sizes.len(), &outcome);
    }
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let keys = env_usize("BENCH_KEYS", if benchmarking { 200_000 } else { 2_000 });
    let concurrency = env_usize("BENCH_CONCURRENCY", 64);
    let sections =
        std::env::var("BENCH_SECTIONS").unwrap_or_else(|_| "policies,agents,overhead".into());
    let sizes = Arc::new(value_sizes(keys));
    let total: usize = sizes.iter().sum();
    println!(
        "placement benchmark: {keys} keys written then read once, {:.1} MiB of values \
         (log-normal, median 600 B, 100 B..64 KiB), nodes maxmemory {MAXMEMORY:?}, \
         {concurrency} requests in flight",
        total as f64 / (1024.0 * 1024.0)
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for section in sections.split(',') {
        match section.trim() {
            "policies" => runtime.block_on(section_policies(&sizes, concurrency)),
            "agents" => runtime.block_on(section_agents(&sizes, concurrency)),
            "overhead" => runtime.block_on(section_overhead(&sizes, concurrency)),
            other => panic!("unknown section {other:?} (policies, agents, overhead)"),
        }
    }
}
