//! The nemesis: faults injected while the clients run, and healed.
//!
//! Two loops run side by side. The *data-node* loop does one fault at a
//! time to one data node (kill -9 and restart empty, SIGSTOP/SIGCONT, or a
//! partition between one balancer and the node), so with R = 2 no replica
//! set ever has both members hurt. The *infrastructure* loop does one of
//! the faults that touch no data node at a time (the index Redis losing its
//! data, a ZooKeeper restart, ZooKeeper frozen, a balancer killed and
//! restarted, a balancer restarted with a skewed clock, a partition between
//! a balancer and ZooKeeper). Each loop waits 1–3 s, takes the next kind of its rounds
//! (each round every enabled kind once, shuffled, so a short run still
//! sees each kind), does it, holds it a few seconds and heals it; a stop
//! request heals at once. Faults are counted by kind and logged with their
//! times.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::{Mutex, watch};

use super::client::Answer;
use super::cluster::Cluster;
use hyper::Method;

/// The clock offset of the skew fault, ms: well under the default
/// `max_clock_drift_ms` (1000).
pub(crate) const SKEW_MS: i64 = 300;

/// How long the freeze fault stops ZooKeeper, ms: uniform over 1–7 s
/// around the balancers' session timeout S (the harness sets no
/// `zookeeper_session_ms`, so 5000 ms). Below S/2 (a quarter of the
/// freezes) the leader's lease must carry it through; between S/2 and S
/// (over a third) the leader must stop claiming although its session
/// survives; beyond S (a third) ZooKeeper expires the sessions when it
/// resumes and a leader is elected again.
const ZK_FREEZE_MS: std::ops::Range<u64> = 1000..7000;

/// How long the drain fault waits for the node to be removed.
const DRAIN_WAIT_MS: u64 = 20_000;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fault {
    /// kill -9 a data node, start it again empty on its port.
    NodeKill,
    /// SIGSTOP a data node, SIGCONT it.
    NodePause,
    /// Drop one balancer's traffic to one data node.
    PartitionNode,
    /// The index Redis loses its data (FLUSHALL, or kill -9 and restart).
    IndexLoss,
    /// kill -9 ZooKeeper, start it again with its data.
    ZkRestart,
    /// SIGSTOP ZooKeeper for 1–7 s, SIGCONT it.
    ZkFreeze,
    /// kill -9 a balancer, start it again.
    BalancerKill,
    /// Restart a balancer with its clock ±300 ms off (or back to 0).
    ClockSkew,
    /// Drop one balancer's traffic to ZooKeeper.
    PartitionZk,
    /// SIGSTOP a balancer past its ZooKeeper session (6–8 s), SIGCONT it:
    /// a leader paused mid-move resumes after another has taken over.
    BalancerPause,
    /// Drain a data node through the admin API, wait until the leader has
    /// moved its keys off and marked it removed (at most 20 s), then
    /// activate it again, so the leader fills it back.
    Drain,
}

impl Fault {
    /// Every kind, in report order.
    pub(crate) const ALL: [Fault; 11] = [
        Fault::NodeKill,
        Fault::NodePause,
        Fault::PartitionNode,
        Fault::IndexLoss,
        Fault::ZkRestart,
        Fault::ZkFreeze,
        Fault::BalancerKill,
        Fault::ClockSkew,
        Fault::PartitionZk,
        Fault::BalancerPause,
        Fault::Drain,
    ];

    /// Its name on the command line and in the summary.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::NodeKill => "node-kill",
            Fault::NodePause => "node-pause",
            Fault::PartitionNode => "partition-node",
            Fault::IndexLoss => "index-loss",
            Fault::ZkRestart => "zk-restart",
            Fault::ZkFreeze => "zk-freeze",
            Fault::BalancerKill => "balancer-kill",
            Fault::ClockSkew => "clock-skew",
            Fault::PartitionZk => "partition-zk",
            Fault::BalancerPause => "balancer-pause",
            Fault::Drain => "drain",
        }
    }

    /// True for faults done to a data node (one at a time, cluster-wide).
    pub(crate) fn hits_a_data_node(self) -> bool {
        matches!(
            self,
            Fault::NodeKill | Fault::NodePause | Fault::PartitionNode
        )
    }

    /// True for partitions, which need cgroup v2 and iptables.
    pub(crate) fn is_partition(self) -> bool {
        matches!(self, Fault::PartitionNode | Fault::PartitionZk)
    }
}

/// Parses `all`, `none` or a comma-separated list of fault names.
pub(crate) fn parse_faults(text: &str) -> Result<Vec<Fault>, String> {
    match text.trim() {
        "all" => return Ok(Fault::ALL.to_vec()),
        "none" | "" => return Ok(Vec::new()),
        _ => {}
    }
    let mut faults = Vec::new();
    for name in text.split(',').map(str::trim) {
        let fault = Fault::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown fault {name:?}; known: all, none, {}",
                    names.join(", ")
                )
            })?;
        if !faults.contains(&fault) {
            faults.push(fault);
        }
    }
    faults.sort();
    Ok(faults)
}

/// One fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FaultEvent {
    /// Its kind's name.
    pub(crate) kind: &'static str,
    /// What it was done to, e.g. `node2`, `b1->node3`, `b2 offset -300ms`.
    pub(crate) target: String,
    /// When it started, s since the run started.
    pub(crate) at_s: f64,
    /// When it was healed, s since the run started.
    pub(crate) healed_at_s: Option<f64>,
    /// What went wrong doing or healing it.
    pub(crate) error: Option<String>,
    /// The balancer it stopped with SIGTERM (and started again), which
    /// closes its ZooKeeper session on its way out.
    #[serde(skip)]
    pub(crate) stopped_gracefully: Option<String>,
}

/// What the nemesis did.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// Every fault, in order.
    pub(crate) events: Vec<FaultEvent>,
}

impl Record {
    /// Faults per kind, every enabled kind present.
    pub(crate) fn counts(&self, enabled: &[Fault]) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            enabled.iter().map(|f| (f.name(), 0)).collect();
        for e in &self.events {
            *counts.entry(e.kind).or_default() += 1;
        }
        counts
    }
}

/// Runs the nemesis loops until `stop` turns true; every fault is healed
/// when they return.
pub(crate) async fn run(
    cluster: Arc<Cluster>,
    faults: Vec<Fault>,
    seed: u64,
    start: Instant,
    stop: watch::Receiver<bool>,
) -> Record {
    let record = Arc::new(Mutex::new(Record::default()));
    let (data, infra): (Vec<Fault>, Vec<Fault>) =
        faults.into_iter().partition(|f| f.hits_a_data_node());
    let mut loops = Vec::new();
    for (i, kinds) in [data, infra].into_iter().enumerate() {
        if kinds.is_empty() {
            continue;
        }
        let lp = Loop {
            cluster: cluster.clone(),
            kinds,
            rng: SmallRng::seed_from_u64(seed.wrapping_add(i as u64)),
            start,
            stop: stop.clone(),
            record: record.clone(),
            round: Vec::new(),
            index_flush_next: true,
        };
        loops.push(tokio::spawn(lp.run()));
    }
    for l in loops {
        let _ = l.await;
    }
    Arc::try_unwrap(record)
        .map(Mutex::into_inner)
        .unwrap_or_default()
}

struct Loop {
    cluster: Arc<Cluster>,
    kinds: Vec<Fault>,
    rng: SmallRng,
    start: Instant,
    stop: watch::Receiver<bool>,
    record: Arc<Mutex<Record>>,
    /// What is left of this round, taken from the end.
    round: Vec<Fault>,
    /// Index loss alternates between FLUSHALL and kill + restart.
    index_flush_next: bool,
}

impl Loop {
    async fn run(mut self) {
        loop {
            let quiet = self.rng.random_range(1000..3000);
            if self.hold(quiet).await {
                return;
            }
            let fault = next_fault(&mut self.round, &self.kinds, &mut self.rng);
            let at_s = self.start.elapsed().as_secs_f64();
            let node = self.rng.random_range(0..self.cluster.nodes.len());
            let b = self.rng.random_range(0..self.cluster.balancers.len());
            let (target, result) = self.inflict(fault, node, b).await;
            let event = FaultEvent {
                kind: fault.name(),
                target,
                at_s,
                healed_at_s: Some(self.start.elapsed().as_secs_f64()),
                error: result.err().map(|e| format!("{e:#}")),
                stopped_gracefully: (fault == Fault::ClockSkew).then(|| format!("b{}", b + 1)),
            };
            if let Some(e) = &event.error {
                eprintln!("[chaos] fault {} on {}: {e}", event.kind, event.target);
            }
            self.record.lock().await.events.push(event);
            if *self.stop.borrow() {
                return;
            }
        }
    }

    /// Sleeps `ms`, or less when a stop is asked; true when it was.
    async fn hold(&mut self, ms: u64) -> bool {
        if *self.stop.borrow() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => *self.stop.borrow(),
            _ = self.stop.changed() => true,
        }
    }

    /// Does `fault` to data node `node` or balancer `b`, as it concerns,
    /// holds it, heals it: what it hit, and whether it all worked.
    async fn inflict(&mut self, fault: Fault, node: usize, b: usize) -> (String, Result<()>) {
        let c = self.cluster.clone();
        let node_name = format!("node{}", node + 1);
        let b_name = format!("b{}", b + 1);
        match fault {
            Fault::NodeKill => {
                c.nodes[node].lock().await.kill();
                let hold = self.rng.random_range(2000..4000);
                self.hold(hold).await;
                (node_name, c.start_node(node).await)
            }
            Fault::NodePause => {
                c.nodes[node].lock().await.freeze();
                let hold = self.rng.random_range(2000..5000);
                self.hold(hold).await;
                c.nodes[node].lock().await.thaw();
                (node_name, Ok(()))
            }
            Fault::PartitionNode => {
                let port = c.node_ports[node];
                let target = format!("{b_name}->{node_name}");
                let hold = self.rng.random_range(2000..5000);
                (target, self.partition(b, port, hold).await)
            }
            Fault::PartitionZk => {
                let hold = self.rng.random_range(3000..8000);
                (
                    format!("{b_name}->zookeeper"),
                    self.partition(b, c.zk_port, hold).await,
                )
            }
            Fault::IndexLoss => {
                self.index_flush_next = !self.index_flush_next;
                if !self.index_flush_next {
                    ("index (FLUSHALL)".into(), flushall(c.index_port).await)
                } else {
                    c.index.lock().await.kill();
                    let hold = self.rng.random_range(500..1500);
                    self.hold(hold).await;
                    (
                        "index (kill -9, restart empty)".into(),
                        c.start_index().await,
                    )
                }
            }
            Fault::ZkRestart => {
                c.zk.lock().await.kill();
                let hold = self.rng.random_range(1000..3000);
                self.hold(hold).await;
                ("zookeeper".into(), c.start_zk().await)
            }
            Fault::ZkFreeze => {
                c.zk.lock().await.freeze();
                let hold = self.rng.random_range(ZK_FREEZE_MS);
                self.hold(hold).await;
                c.zk.lock().await.thaw();
                (format!("zookeeper ({hold} ms)"), Ok(()))
            }
            Fault::BalancerKill => {
                let offset = {
                    let mut bal = c.balancers[b].lock().await;
                    bal.proc.kill();
                    bal.offset_ms
                };
                let hold = self.rng.random_range(500..2000);
                self.hold(hold).await;
                (b_name, c.start_balancer(b, offset).await)
            }
            Fault::Drain => {
                let id = format!("127.0.0.1:{}", c.node_ports[node]);
                (
                    format!("{node_name} via {b_name}"),
                    self.drain(b, &id).await,
                )
            }
            Fault::BalancerPause => {
                c.balancers[b].lock().await.proc.freeze();
                let hold = self.rng.random_range(6000..8000);
                self.hold(hold).await;
                c.balancers[b].lock().await.proc.thaw();
                (format!("{b_name} ({hold} ms)"), Ok(()))
            }
            Fault::ClockSkew => {
                let current = c.balancers[b].lock().await.offset_ms;
                let offset = if current != 0 {
                    0
                } else if self.rng.random_bool(0.5) {
                    SKEW_MS
                } else {
                    -SKEW_MS
                };
                c.balancers[b]
                    .lock()
                    .await
                    .proc
                    .terminate(Duration::from_secs(3))
                    .await;
                (
                    format!("{b_name} offset {offset:+}ms"),
                    c.start_balancer(b, offset).await,
                )
            }
        }
    }

    /// Drains node `id` through balancer `b`'s admin API, waits (at most
    /// [`DRAIN_WAIT_MS`], less on a stop) until it is `removed`, then
    /// activates it again. An error when it was not removed in time.
    async fn drain(&mut self, b: usize, id: &str) -> Result<()> {
        let base = format!(
            "http://127.0.0.1:{}",
            self.cluster.balancers[b].lock().await.port
        );
        let http = self.cluster.http.clone();
        let node = format!("{base}/admin/nodes/{id}");
        let answer = http.admin(Method::POST, &format!("{node}/drain")).await;
        let Answer::Reply(202, ..) = answer else {
            bail!("drain: {answer:?}");
        };
        let started = Instant::now();
        let mut removed = false;
        while !removed && started.elapsed() < Duration::from_millis(DRAIN_WAIT_MS) {
            if self.hold(500).await {
                break;
            }
            if let Answer::Reply(200, _, body) = http
                .admin(Method::GET, &format!("{base}/admin/nodes"))
                .await
            {
                let listing: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                removed = listing["nodes"].as_array().is_some_and(|nodes| {
                    nodes
                        .iter()
                        .any(|n| n["id"] == id && n["state"] == "removed")
                });
            }
        }
        let answer = http.admin(Method::POST, &format!("{node}/activate")).await;
        let Answer::Reply(202, ..) = answer else {
            bail!("activate: {answer:?}");
        };
        if !removed && !*self.stop.borrow() {
            bail!("not removed within {DRAIN_WAIT_MS} ms");
        }
        Ok(())
    }

    /// Drops balancer `b`'s traffic to `port` for `hold` ms, then heals.
    async fn partition(&mut self, b: usize, port: u16, hold: u64) -> Result<()> {
        let c = self.cluster.clone();
        let Some(partitions) = &c.partitions else {
            bail!("partitions are not set up");
        };
        let group = c.balancers[b]
            .lock()
            .await
            .group
            .clone()
            .context("the balancer has no cgroup")?;
        partitions.lock().await.drop_port(&group, port)?;
        self.hold(hold).await;
        partitions.lock().await.heal_port(&group, port)
    }
}

/// The next fault: the rest of the round, or a new round of every kind
/// in a random order.
fn next_fault(round: &mut Vec<Fault>, kinds: &[Fault], rng: &mut SmallRng) -> Fault {
    if round.is_empty() {
        round.extend_from_slice(kinds);
        round.shuffle(rng);
    }
    round.pop().expect("at least one kind")
}

/// FLUSHALL on the Redis at `port`.
pub(crate) async fn flushall(port: u16) -> Result<()> {
    let mut conn = redis_conn(port).await?;
    let () = tokio::time::timeout(
        Duration::from_secs(2),
        redis::cmd("FLUSHALL").query_async(&mut conn),
    )
    .await
    .context("FLUSHALL timed out")??;
    Ok(())
}

/// A connection to the Redis at `port`, within 2 s.
pub(crate) async fn redis_conn(port: u16) -> Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    Ok(tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .context("connect timed out")??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_parse() {
        assert_eq!(parse_faults("all").unwrap(), Fault::ALL.to_vec());
        assert!(parse_faults("none").unwrap().is_empty());
        assert_eq!(
            parse_faults("zk-restart,node-kill,node-kill").unwrap(),
            [Fault::NodeKill, Fault::ZkRestart]
        );
        assert_eq!(
            parse_faults("zk-freeze, partition-zk").unwrap(),
            [Fault::ZkFreeze, Fault::PartitionZk]
        );
        assert!(parse_faults("node-kil").unwrap_err().contains("known"));
    }

    #[test]
    fn every_kind_comes_once_a_round() {
        let kinds = [Fault::IndexLoss, Fault::ZkRestart, Fault::BalancerKill];
        let mut rng = SmallRng::seed_from_u64(3);
        let mut round = Vec::new();
        for _ in 0..4 {
            let mut seen: Vec<Fault> = (0..kinds.len())
                .map(|_| next_fault(&mut round, &kinds, &mut rng))
                .collect();
            seen.sort();
            assert_eq!(
                seen,
                [Fault::IndexLoss, Fault::ZkRestart, Fault::BalancerKill]
            );
        }
    }

    #[test]
    fn only_node_faults_share_the_one_at_a_time_loop() {
        let data: Vec<&str> = Fault::ALL
            .into_iter()
            .filter(|f| f.hits_a_data_node())
            .map(Fault::name)
            .collect();
        assert_eq!(data, ["node-kill", "node-pause", "partition-node"]);
        let counts = Record {
            events: vec![FaultEvent {
                kind: "zk-restart",
                target: "zookeeper".into(),
                at_s: 1.0,
                healed_at_s: None,
                error: None,
                stopped_gracefully: None,
            }],
        }
        .counts(&[Fault::NodeKill, Fault::ZkRestart]);
        assert_eq!(counts["zk-restart"], 1);
        assert_eq!(counts["node-kill"], 0);
    }
}
