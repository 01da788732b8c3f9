//! The clients' workload, the settle wait, the injected fault and the
//! final reads.
//!
//! Each client loops until the deadline: a random key of the key set, a
//! random balancer, and get (50%), put (35%, a value no other put writes:
//! `c<client>-<n>`) or delete (15%), with a short pause between
//! operations. After the faults are healed, [`settle`] waits until every
//! balancer sees every node up and has no repair pending, and
//! [`final_reads`] reads every key through every balancer;
//! [`inject_lost_write`] loses an acknowledged write on purpose first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chaos::history::{Kind, Op, Outcome};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::client::{Http, Request1, run};
use super::cluster::Cluster;
use super::nemesis::redis_conn;

/// What the clients do.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    /// Concurrent clients.
    pub(crate) clients: usize,
    /// The key set: `k00`, `k01`, ...
    pub(crate) keys: usize,
    /// Pause between one client's operations.
    pub(crate) think: Duration,
    /// The balancers' names and base URLs.
    pub(crate) balancers: Vec<(String, String)>,
}

/// The key of the injected lost write: outside the clients' key set, so
/// no operation of theirs can explain its loss.
pub(crate) const INJECTED_KEY: &str = "injected";

/// The name of key `i`.
pub(crate) fn key_name(i: usize) -> String {
    format!("k{i:02}")
}

/// Runs the clients until `until`; their operations, unordered.
pub(crate) async fn clients(
    w: &Workload,
    http: &Http,
    seed: u64,
    start: Instant,
    until: Instant,
) -> Vec<Op> {
    let mut tasks = Vec::new();
    for client in 0..w.clients {
        let w = w.clone();
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng =
                SmallRng::seed_from_u64(seed.wrapping_mul(1000).wrapping_add(client as u64));
            let mut ops = Vec::new();
            let mut n = 0u64;
            while Instant::now() < until {
                let key = key_name(rng.random_range(0..w.keys));
                let balancer = w.balancers[rng.random_range(0..w.balancers.len())].clone();
                let roll = rng.random_range(0..100);
                let (kind, value) = match roll {
                    0..50 => (Kind::Get, None),
                    50..85 => {
                        n += 1;
                        (Kind::Put, Some(format!("c{client}-{n}")))
                    }
                    _ => (Kind::Delete, None),
                };
                let req = Request1 {
                    client,
                    balancer,
                    key,
                    kind,
                    value,
                };
                ops.push(run(&http, req, start).await);
                tokio::time::sleep(w.think).await;
            }
            ops
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

/// Waits until every balancer lists every node `up` and has no repair
/// pending (each up to `limit`), then `extra`. Returns what did not settle.
pub(crate) async fn settle(
    http: &Http,
    urls: &[String],
    nodes: usize,
    limit: Duration,
    extra: Duration,
) -> Vec<String> {
    let mut unsettled = Vec::new();
    for url in urls {
        let deadline = Instant::now() + limit;
        let mut all_up = false;
        while Instant::now() < deadline {
            if let Some(body) = http.get_text(&format!("{url}/nodes")).await
                && let Ok(view) = serde_json::from_str::<Value>(&body)
                && let Some(list) = view["nodes"].as_array()
                && list.len() >= nodes
                && list.iter().all(|n| n["state"] == "up")
            {
                all_up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if !all_up {
            unsettled.push(format!("{url}: not every node up after {limit:?}"));
        }
        let mut drained = false;
        while Instant::now() < deadline {
            if let Some(metrics) = http.get_text(&format!("{url}/metrics")).await
                && metric(&metrics, "dlb_repairs_pending") == Some(0.0)
            {
                drained = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if !drained {
            unsettled.push(format!("{url}: repairs still pending after {limit:?}"));
        }
    }
    tokio::time::sleep(extra).await;
    unsettled
}

/// The value of an unlabelled metric in Prometheus text.
/// Where the balancers' writes found their replica sets
/// (`dlb_write_locations_total{source}`), summed over the balancers: what
/// each counted since it last started (the nemesis restarts them), read
/// when the load stops, so a share of the run, showing which write paths
/// the history covered; a balancer down then counts nothing.
pub(crate) async fn write_locations(http: &Http, urls: &[String]) -> BTreeMap<&'static str, usize> {
    let mut sums = BTreeMap::new();
    for url in urls {
        let Some(text) = http.get_text(&format!("{url}/metrics")).await else {
            continue;
        };
        for source in ["cache", "cache_stale", "index"] {
            let name = format!("dlb_write_locations_total{{source=\"{source}\"}}");
            let count = metric(&text, &name).unwrap_or(0.0) as usize;
            *sums.entry(source).or_default() += count;
        }
    }
    sums
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Reads every key through every balancer, retrying what does not answer
/// `ok` (up to 5 tries, 500 ms apart); every try is recorded, the reads
/// that answered marked final. Returns them and how many keys never
/// answered.
pub(crate) async fn final_reads(
    w: &Workload,
    keys: &[String],
    http: &Http,
    start: Instant,
) -> (Vec<Op>, usize) {
    let mut ops = Vec::new();
    let mut unanswered = 0;
    for key in keys {
        for balancer in &w.balancers {
            let mut answered = false;
            for _ in 0..5 {
                let req = Request1 {
                    client: w.clients + 1,
                    balancer: balancer.clone(),
                    key: key.clone(),
                    kind: Kind::Get,
                    value: None,
                };
                let mut op = run(http, req, start).await;
                answered = op.outcome == Outcome::Ok;
                op.final_read = answered;
                ops.push(op);
                if answered {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if !answered {
                unanswered += 1;
            }
        }
    }
    (ops, unanswered)
}

/// The injected fault: an acknowledged put of `key` through the first
/// balancer, then the key deleted behind the balancers' backs on every
/// data node and in the index: more replicas lost than R − 1, so the
/// checker must report a lost write. Returns the put.
pub(crate) async fn inject_lost_write(
    w: &Workload,
    http: &Http,
    cluster: &Arc<Cluster>,
    key: &str,
    start: Instant,
) -> Result<Op> {
    let mut put = None;
    for n in 0..20 {
        let req = Request1 {
            client: w.clients,
            balancer: w.balancers[0].clone(),
            key: key.to_string(),
            kind: Kind::Put,
            value: Some(format!("injected-{n}")),
        };
        let op = run(http, req, start).await;
        let acked = op.outcome == Outcome::Ok;
        put = Some(op);
        if acked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let put = put.context("no put made")?;
    anyhow::ensure!(
        put.outcome == Outcome::Ok,
        "the injected put was never acknowledged: {:?}",
        put.error
    );
    for &port in &cluster.node_ports {
        let mut conn = redis_conn(port).await?;
        let _: i64 = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
    }
    let mut conn = redis_conn(cluster.index_port).await?;
    let _: i64 = redis::cmd("DEL")
        .arg(format!("loc:{key}"))
        .query_async(&mut conn)
        .await?;
    // Let the invalidations reach the balancers' caches.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(put)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_unlabelled_metric() {
        let text = "# HELP dlb_repairs_pending x\n# TYPE dlb_repairs_pending gauge\n\
                    dlb_repairs_pending_other 3\ndlb_repairs_pending 0\n";
        assert_eq!(metric(text, "dlb_repairs_pending"), Some(0.0));
        assert_eq!(
            metric("dlb_repairs_pending 7\n", "dlb_repairs_pending"),
            Some(7.0)
        );
        assert_eq!(metric("", "dlb_repairs_pending"), None);
    }

    #[test]
    fn keys_sort_as_named() {
        assert_eq!(key_name(3), "k03");
        assert_eq!(key_name(42), "k42");
    }
}
