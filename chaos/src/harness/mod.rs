//! One chaos run, start to end: set up partitions and the cluster, run the
//! clients with the nemesis, the leadership poller and the RSS sampler,
//! heal and settle, inject (if asked), read every key, stop everything,
//! check the histories and summarise them.
//!
//! - [`procs`]: child processes (kill, freeze, restart, RSS).
//! - [`netfault`]: cgroup v2 + iptables partitions.
//! - [`cluster`]: the processes of the cluster, started and healed.
//! - [`client`]: HTTP requests recorded as operations.
//! - [`workload`]: the clients, the settle wait, the final reads, the
//!   injected lost write.
//! - [`nemesis`]: the faults.
//! - [`poller`]: every balancer's view of leadership, polled.
//! - [`summary`]: the JSON summary and the table.

pub(crate) mod client;
pub(crate) mod cluster;
pub(crate) mod nemesis;
pub(crate) mod netfault;
pub(crate) mod poller;
pub(crate) mod procs;
pub(crate) mod summary;
pub(crate) mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chaos::history::Op;
use chaos::leader_checker::{Span, Stop};
use chaos::leader_polls::Poll;
use tokio::sync::{Mutex, watch};

use self::client::Http;
use self::cluster::{Cluster, Shape};
use self::nemesis::Fault;
use self::netfault::Partitions;
use self::summary::{RssSample, Summary};
use self::workload::Workload;

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// How long the clients run.
    pub(crate) duration: Duration,
    /// The processes to start.
    pub(crate) shape: Shape,
    /// The run's id, in cgroup names.
    pub(crate) run_id: String,
    /// Concurrent clients.
    pub(crate) clients: usize,
    /// Keys.
    pub(crate) keys: usize,
    /// Pause between one client's operations.
    pub(crate) think: Duration,
    /// The clients' time limit per request.
    pub(crate) client_timeout: Duration,
    /// Faults enabled.
    pub(crate) faults: Vec<Fault>,
    /// Inject a lost write before the final reads.
    pub(crate) inject_lost_write: bool,
    /// Sample every process's RSS this often.
    pub(crate) rss_every: Option<Duration>,
    /// Quiet time after the cluster reports settled.
    pub(crate) settle: Duration,
    /// Random seed.
    pub(crate) seed: u64,
    /// The checker's settings.
    pub(crate) check: chaos::checker::Config,
    /// The leadership checker's settings.
    pub(crate) leader_check: chaos::leader_checker::Config,
}

/// What a run leaves: its summary and both histories.
#[derive(Debug)]
pub(crate) struct Recorded {
    /// The summary.
    pub(crate) summary: Summary,
    /// Every operation, final reads included, by invocation.
    pub(crate) ops: Vec<Op>,
    /// Every leadership poll, in the order the answers came.
    pub(crate) polls: Vec<Poll>,
}

/// Runs the plan, stopping early (with everything cleaned up) when
/// `interrupted` completes.
pub(crate) async fn run(plan: &Plan, interrupted: impl Future<Output = ()>) -> Result<Recorded> {
    let partitions = if plan.faults.iter().any(|f| f.is_partition()) {
        Some(Partitions::detect(&plan.run_id)?)
    } else {
        None
    };
    let setup = Instant::now();
    let cluster = Arc::new(Cluster::start(&plan.shape, partitions).await?);
    eprintln!(
        "[chaos] cluster up in {:.1} s ({})",
        setup.elapsed().as_secs_f64(),
        cluster.run_dir.display()
    );
    let result = tokio::select! {
        r = run_on(plan, &cluster) => r,
        () = interrupted => Err(anyhow::anyhow!("interrupted; stopped everything")),
    };
    cluster.stop().await;
    result
}

async fn run_on(plan: &Plan, cluster: &Arc<Cluster>) -> Result<Recorded> {
    let start = Instant::now();
    let urls = cluster.balancer_urls();
    let workload = Workload {
        clients: plan.clients,
        keys: plan.keys,
        think: plan.think,
        balancers: urls
            .iter()
            .enumerate()
            .map(|(i, u)| (format!("b{}", i + 1), u.clone()))
            .collect(),
    };
    let http = Http::new(plan.client_timeout);
    eprintln!(
        "[chaos] load for {:?} with faults: {}",
        plan.duration,
        fault_names(&plan.faults)
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let rss = Arc::new(Mutex::new(BTreeMap::<String, Vec<RssSample>>::new()));
    let sampler = plan.rss_every.map(|every| {
        tokio::spawn(sample_rss(
            cluster.clone(),
            every,
            start,
            rss.clone(),
            stop_rx.clone(),
        ))
    });
    let nemesis = tokio::spawn(nemesis::run(
        cluster.clone(),
        plan.faults.clone(),
        plan.seed,
        start,
        stop_rx.clone(),
    ));
    let (poll_stop_tx, poll_stop_rx) = watch::channel(false);
    let poller = tokio::spawn(poller::run(workload.balancers.clone(), start, poll_stop_rx));
    let until = Instant::now() + plan.duration;
    let mut ops = workload::clients(&workload, &http, plan.seed, start, until).await;
    let _ = stop_tx.send(true);
    let faults = nemesis.await.unwrap_or_default();

    eprintln!(
        "[chaos] load done ({} ops); healing and settling",
        ops.len()
    );
    // Before healing, which restarts stopped balancers with fresh counters.
    let write_locations = workload::write_locations(&http, &urls).await;
    cluster.heal_all().await?;
    let unsettled = workload::settle(
        &http,
        &urls,
        cluster.node_ports.len(),
        Duration::from_secs(60),
        plan.settle,
    )
    .await;
    for u in &unsettled {
        eprintln!("[chaos] warning: {u}");
    }

    let injected = if plan.inject_lost_write {
        let op =
            workload::inject_lost_write(&workload, &http, cluster, workload::INJECTED_KEY, start)
                .await?;
        ops.push(op.clone());
        Some(op)
    } else {
        None
    };

    let mut keys: Vec<String> = (0..workload.keys).map(workload::key_name).collect();
    if injected.is_some() {
        keys.push(workload::INJECTED_KEY.to_string());
    }
    let (finals, unanswered) = workload::final_reads(&workload, &keys, &http, start).await;
    ops.extend(finals);
    let _ = poll_stop_tx.send(true);
    let polls = poller.await.unwrap_or_default();
    if let Some(s) = sampler {
        sample_once(cluster, start, &rss).await;
        s.abort();
    }
    ops.sort_by_key(|o| (o.invoke_us, o.client));
    for (i, op) in ops.iter_mut().enumerate() {
        op.id = i;
    }

    let report = chaos::checker::check(&ops, &plan.check);
    let stops: Vec<Stop> = faults
        .events
        .iter()
        .filter_map(|e| {
            Some(Stop {
                balancer: e.stopped_gracefully.clone()?,
                span: Span {
                    from_us: (e.at_s * 1e6) as u64,
                    to_us: (e.healed_at_s? * 1e6) as u64,
                },
            })
        })
        .collect();
    let leaders = chaos::leader_checker::check(&polls, &stops, &plan.leader_check);
    let rss = std::mem::take(&mut *rss.lock().await);
    let summary = Summary::new(
        plan,
        &ops,
        &faults,
        report,
        summary::Extras {
            unanswered_final_reads: unanswered,
            unsettled,
            write_locations,
            injected,
            leaders,
            rss,
            run_dir: cluster.run_dir.clone(),
            wall_s: start.elapsed().as_secs_f64(),
        },
    );
    Ok(Recorded {
        summary,
        ops,
        polls,
    })
}

fn fault_names(faults: &[Fault]) -> String {
    if faults.is_empty() {
        return "none".into();
    }
    faults
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Samples every process's RSS every `every` until stopped.
async fn sample_rss(
    cluster: Arc<Cluster>,
    every: Duration,
    start: Instant,
    rss: Arc<Mutex<BTreeMap<String, Vec<RssSample>>>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        sample_once(&cluster, start, &rss).await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn sample_once(
    cluster: &Cluster,
    start: Instant,
    rss: &Mutex<BTreeMap<String, Vec<RssSample>>>,
) {
    let t_s = start.elapsed().as_secs_f64();
    let mut pids = cluster.pids().await;
    // The harness itself: its history grows with the run.
    pids.push(("chaos".to_string(), Some(std::process::id())));
    let mut rss = rss.lock().await;
    for (name, pid) in pids {
        let sample = RssSample {
            t_s,
            pid,
            rss_kib: pid.and_then(procs::rss_kib),
        };
        rss.entry(name).or_default().push(sample);
    }
}

/// The default run directory for `run_id`.
pub(crate) fn default_run_dir(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dlb-chaos-{run_id}"))
}
