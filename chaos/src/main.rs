//! The `chaos` binary: a Jepsen-style run against real processes, then the
//! history checker (the `chaos` library). `scripts/chaos` builds and runs
//! it; `chaos --help` explains every flag.
//!
//! Exit status: 0 when the history shows no anomaly, 1 when it shows any,
//! 2 when the run could not be made or checked (set-up failed, final reads
//! never answered, interrupted).

mod harness;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::harness::cluster::Shape;
use crate::harness::nemesis::parse_faults;
use crate::harness::{Plan, default_run_dir};

/// Chaos harness for dlb: balancer processes, data nodes, index Redis,
/// ZooKeeper; concurrent clients; faults; a history checked for lost
/// writes, resurrected deletes and stale reads; the balancers' leadership
/// polled and checked for two leaders at once and fencing tokens going
/// back.
#[derive(Debug, Parser)]
#[command(name = "chaos")]
struct Args {
    /// How long the clients run (e.g. 45s, 60s, 5m, 30m).
    #[arg(long, default_value = "60s", value_parser = chaos::duration::parse)]
    duration: Duration,
    /// Write the JSON summary here.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Write every operation here, one JSON object a line.
    #[arg(long)]
    history_jsonl: Option<PathBuf>,
    /// Write every leadership poll (`GET /nodes` of one balancer) here,
    /// one JSON object a line.
    #[arg(long)]
    polls_jsonl: Option<PathBuf>,
    /// Balancer processes.
    #[arg(long, default_value_t = 2)]
    balancers: usize,
    /// Data nodes (redis-server processes).
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Keys the clients share.
    #[arg(long, default_value_t = 20)]
    keys: usize,
    /// Pause between one client's operations (e.g. 10ms, 0ms); with the
    /// defaults about 1000 operations a second, about 2 million in 30 min.
    #[arg(long, default_value = "10ms", value_parser = chaos::duration::parse)]
    think: Duration,
    /// The clients' time limit per request.
    #[arg(long, default_value = "2s", value_parser = chaos::duration::parse)]
    client_timeout: Duration,
    /// Faults: all, none, or a comma-separated list of node-kill,
    /// node-pause, partition-node, index-loss, zk-restart, zk-freeze,
    /// balancer-kill, clock-skew, partition-zk, balancer-pause, drain.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Inject a fault beyond what R = 2 survives, to prove the checker
    /// sees it: `lost-write` deletes an acknowledged key on every node and
    /// in the index before the final reads.
    #[arg(long, value_parser = ["lost-write"])]
    inject: Option<String>,
    /// How long after another balancer's acknowledged write a read may
    /// still miss it, ms.
    #[arg(long, default_value_t = 250)]
    lag_bound_ms: u64,
    /// How long after its invocation an operation of unknown outcome may
    /// still be stamped, ms (the request budget plus clock drift).
    #[arg(long, default_value_t = 10_000)]
    info_horizon_ms: u64,
    /// Anomalies of each kind reported with their evidence (the earliest:
    /// key histories, leadership answers); the rest are only counted.
    #[arg(long, default_value_t = 20)]
    max_detailed: usize,
    /// Sample every process's RSS this often (e.g. 60s) into the summary.
    #[arg(long, value_parser = chaos::duration::parse)]
    rss_every: Option<Duration>,
    /// Quiet time after the healed cluster reports settled, before the
    /// final reads.
    #[arg(long, default_value = "3s", value_parser = chaos::duration::parse)]
    settle: Duration,
    /// Random seed of the clients and the nemesis [default: from the
    /// clock]; the summary records it, to run the same choices again.
    #[arg(long)]
    seed: Option<u64>,
    /// Start nothing: check the history of an earlier run (a
    /// `--history-jsonl` file) with this run's checker settings, print
    /// the anomalies per kind and write the checker's report to
    /// `--summary-json`.
    #[arg(long)]
    check_history: Option<PathBuf>,
    /// Where the built `balancer` and `probe-agent` are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// The run's id (cgroup names, the default run directory).
    #[arg(long)]
    run_id: Option<String>,
    /// Logs, configs, pids and ZooKeeper's data [default: $TMPDIR/dlb-chaos-<run id>].
    #[arg(long)]
    run_dir: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    match main_with(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("[chaos] error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn main_with(args: Args) -> anyhow::Result<ExitCode> {
    let check = chaos::checker::Config {
        lag_bound_us: args.lag_bound_ms * 1000,
        info_horizon_ms: args.info_horizon_ms,
        max_detailed: args.max_detailed,
        ..chaos::checker::Config::default()
    };
    if let Some(path) = &args.check_history {
        return check_history(path, &check, args.summary_json.as_deref());
    }
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| std::process::id().to_string());
    let run_dir = std::path::absolute(
        args.run_dir
            .clone()
            .unwrap_or_else(|| default_run_dir(&run_id)),
    )?;
    std::fs::create_dir_all(&run_dir)?;
    let plan = Plan {
        duration: args.duration,
        shape: Shape {
            nodes: args.nodes,
            balancers: args.balancers,
            bin_dir: std::path::absolute(&args.bin_dir)?,
            run_dir,
        },
        run_id,
        clients: args.clients,
        keys: args.keys,
        think: args.think,
        client_timeout: args.client_timeout,
        faults: parse_faults(&args.faults).map_err(anyhow::Error::msg)?,
        inject_lost_write: args.inject.is_some(),
        rss_every: args.rss_every,
        settle: args.settle,
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 % 1_000_000)
        }),
        check,
        leader_check: chaos::leader_checker::Config {
            max_detailed: args.max_detailed,
            ..chaos::leader_checker::Config::default()
        },
    };
    anyhow::ensure!(plan.shape.nodes >= 3, "--nodes must be at least 3");
    anyhow::ensure!(plan.shape.balancers >= 1, "--balancers must be at least 1");
    anyhow::ensure!(
        plan.clients >= 1 && plan.keys >= 1,
        "--clients and --keys must be positive"
    );

    let harness::Recorded {
        summary,
        ops,
        polls,
    } = harness::run(&plan, interrupted()).await?;
    if let Some(path) = &args.history_jsonl {
        write_jsonl(path, &ops)?;
    }
    if let Some(path) = &args.polls_jsonl {
        write_jsonl(path, &polls)?;
    }
    if let Some(path) = &args.summary_json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)?;
    }
    print!("{}", summary.table());
    if let Some(path) = &args.summary_json {
        println!("{:<28} {}", "summary", path.display());
    }
    Ok(if summary.anomaly_total() > 0 {
        ExitCode::from(1)
    } else if summary.unanswered_final_reads > 0 {
        eprintln!("[chaos] error: some final reads never answered; the run is not checked in full");
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes `items` to `path`, one JSON object a line.
fn write_jsonl<T: serde::Serialize>(path: &std::path::Path, items: &[T]) -> anyhow::Result<()> {
    let mut text = String::new();
    for item in items {
        text.push_str(&serde_json::to_string(item)?);
        text.push('\n');
    }
    Ok(std::fs::write(path, text)?)
}

/// `--check-history`: checks a recorded history again.
fn check_history(
    path: &std::path::Path,
    config: &chaos::checker::Config,
    report_path: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(path)?;
    let ops = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<Vec<chaos::history::Op>, _>>()?;
    let report = chaos::checker::check(&ops, config);
    if let Some(out) = report_path {
        std::fs::write(out, serde_json::to_string_pretty(&report)?)?;
    }
    println!("{} ops, {} reads checked", ops.len(), report.reads_checked);
    for (kind, n) in &report.counts {
        println!("{kind:<12} {n}");
    }
    Ok(if report.counts.values().sum::<usize>() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Completes on SIGINT or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
