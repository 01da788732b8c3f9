//! The `loadgen` binary: parse flags into a plan, run it, print the summary.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use loadgen::client::parse_header;
use loadgen::driver::Mode;
use loadgen::schedule::{Schedule, Step, parse_duration};
use loadgen::targets::Target;
use loadgen::threshold::Threshold;
use loadgen::workload::{KeyDist, Mix, Payload, TtlChoice, ValueSize, Workload};
use loadgen::{Plan, execute};

/// How long a closed loop with `--requests` and no `--duration` may run.
const CLOSED_REQUESTS_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Load generator for the balancer's HTTP cache API.
///
/// Open loop (default) sends at a set rate whatever the server does and
/// measures latency from when each request was due; closed loop runs N
/// workers back to back to find the maximum throughput.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Base URL of a balancer, optionally with a weight: URL or URL=W.
    /// Repeat for several balancers: requests go round robin, or in
    /// proportion to the weights. `/nodes` is polled from the first.
    #[arg(long = "target", default_value = "http://127.0.0.1:3100")]
    targets: Vec<Target>,
    /// An extra header on every request, 'Name: value' (e.g.
    /// 'X-Write-Ack: all'). Repeatable.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// `open` (a set rate) or `closed` (N workers back to back).
    #[arg(long, default_value = "open")]
    mode: String,
    /// Requests per second (open loop).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// How long to run: 30s, 2m, 500ms [default: 10s; with --requests at
    /// a constant open-loop rate, as long as the requests take; closed
    /// loop with --requests: at most 24 h].
    #[arg(long)]
    duration: Option<String>,
    /// Send at the first rate (or with the workers) for this long first,
    /// leaving those requests out of every figure and the log: 10s.
    #[arg(long)]
    warmup: Option<String>,
    /// Stop after N measured requests (or at the end of the duration or
    /// schedule, whichever comes first).
    #[arg(long)]
    requests: Option<u64>,
    /// Fail the run (exit 1, naming the threshold) unless it holds:
    /// pNN<TIME (p99<5ms, p99.9<=20ms, max<1s), errors<FRACTION
    /// (errors<0.1%), rate>RATIO (achieved/target, open loop: rate>0.95).
    /// Repeatable.
    #[arg(long = "threshold")]
    thresholds: Vec<Threshold>,
    /// Ramp linearly from --rate to this rate over --duration (open loop).
    #[arg(long)]
    ramp_to: Option<f64>,
    /// Step schedule, overriding --rate/--duration/--ramp-to: comma-separated
    /// RATE:DURATION steps, RATE as N or FROM->TO, e.g. `1000:30s,5000:30s`.
    #[arg(long)]
    schedule: Option<String>,
    /// Connections, and the most requests in flight (open loop).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Concurrent workers (closed loop).
    #[arg(long, default_value_t = 50)]
    workers: usize,
    /// Operation weights: get=80,set=15,delete=5.
    #[arg(long, default_value = "get=80,set=15,delete=5")]
    mix: Mix,
    /// Size of the key space.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Key distribution: uniform, sequential, zipf or zipf:SKEW (default skew 0.99).
    #[arg(long, default_value = "uniform")]
    key_dist: KeyDist,
    /// Key names are PREFIX<n>.
    #[arg(long, default_value = "key:")]
    key_prefix: String,
    /// Value size in bytes: N, LO..HI, or lognormal:MEDIAN[:SIGMA] (heavy-tailed).
    #[arg(long, default_value = "100")]
    value_size: ValueSize,
    /// Value kind: text, json[:depth=D,width=W] or file:PATH (one JSON value per line).
    #[arg(long, default_value = "text")]
    payload: String,
    /// TTL of each write: none, SECONDS or LO..HI.
    #[arg(long, default_value = "none")]
    ttl: TtlChoice,
    /// Write keys 0..N before the measured run (not logged).
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// Seed for every random choice; the same seed replays the same requests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-request time limit.
    #[arg(long, default_value = "5s")]
    timeout: String,
    /// Write one CSV row per request to FILE (columns in the README).
    #[arg(long)]
    log: Option<String>,
    /// Poll the first target's /nodes every N ms into nodes.csv beside the
    /// --log file (time, node, state, memory, capacity, utilization, keys).
    #[arg(long)]
    nodes_poll_ms: Option<u64>,
    /// Write the latency distribution in HdrHistogram .hgrm text to FILE
    /// (corrected: from the due time) and beside it with .uncorrected
    /// before .hgrm (service time, from the send).
    #[arg(long)]
    hdr_out: Option<String>,
    /// Write the summary as JSON to FILE.
    #[arg(long)]
    summary_json: Option<String>,
    /// Runtime threads; 1 keeps the generator on one core.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

impl Args {
    fn plan(self) -> Result<Plan, String> {
        if self.requests == Some(0) {
            return Err("requests must be at least 1".into());
        }
        let duration = match (&self.duration, self.requests) {
            (Some(d), _) => parse_duration(d)?,
            (None, Some(n)) if self.mode == "open" && self.ramp_to.is_none() => {
                // Request i is due at i / rate: N of them take N / rate.
                Duration::from_secs_f64((n as f64 + 0.5) / self.rate.max(1e-9))
            }
            (None, Some(_)) if self.mode == "closed" => CLOSED_REQUESTS_LIMIT,
            (None, _) => Duration::from_secs(10),
        };
        let mode = match self.mode.as_str() {
            "open" => {
                let schedule = match &self.schedule {
                    Some(spec) => spec.parse()?,
                    None => Schedule::new(vec![Step {
                        from_rate: self.rate,
                        to_rate: self.ramp_to.unwrap_or(self.rate),
                        duration,
                    }])?,
                };
                Mode::Open {
                    schedule,
                    connections: positive("connections", self.connections)?,
                }
            }
            "closed" => Mode::Closed {
                workers: positive("workers", self.workers)?,
                duration,
            },
            other => return Err(format!("unknown mode {other:?} (open, closed)")),
        };
        if self.keys == 0 {
            return Err("keys must be at least 1".into());
        }
        if let (Some(t), Mode::Closed { .. }) = (
            self.thresholds.iter().find(|t| t.needs_target_rate()),
            &mode,
        ) {
            return Err(format!(
                "threshold {} needs a target rate: open loop only",
                t.text
            ));
        }
        let nodes_poll = match (self.nodes_poll_ms, &self.log) {
            (Some(ms), Some(_)) if ms >= 10 => Some(Duration::from_millis(ms)),
            (Some(_), Some(_)) => return Err("nodes-poll-ms must be at least 10".into()),
            (Some(_), None) => {
                return Err(
                    "--nodes-poll-ms writes nodes.csv beside the request log: give --log too"
                        .into(),
                );
            }
            (None, _) => None,
        };
        let headers = self
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Plan {
            targets: self.targets,
            headers,
            mode,
            workload: Workload {
                mix: self.mix,
                keys: self.keys,
                key_dist: self.key_dist,
                key_prefix: self.key_prefix,
                value_size: self.value_size,
                payload: Payload::parse(&self.payload)?,
                ttl: self.ttl,
            },
            seed: self.seed,
            preload: self.preload,
            connections: positive("connections", self.connections)?,
            timeout: parse_duration(&self.timeout)?,
            warmup: match &self.warmup {
                Some(w) => parse_duration(w)?,
                None => Duration::ZERO,
            },
            requests: self.requests,
            thresholds: self.thresholds,
            log: self.log,
            nodes_poll,
            hdr_out: self.hdr_out,
            summary_json: self.summary_json,
            quiet: self.quiet,
        })
    }
}

fn positive(name: &str, n: usize) -> Result<usize, String> {
    if n == 0 {
        return Err(format!("{name} must be at least 1"));
    }
    Ok(n)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args.threads;
    let plan = match args.plan() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(&plan)) {
        Ok(report) => {
            if report.preload_failures > 0 {
                eprintln!("loadgen: {} preload writes failed", report.preload_failures);
            }
            print!("{}", report.summary.table());
            if let (Some(rows), Some(path)) = (report.logged_rows, &plan.log) {
                println!("{rows} rows written to {path}");
            }
            if let (Some(polls), Some(path)) = (report.node_polls, &plan.log) {
                let nodes = loadgen::nodes_poll::path_beside(path);
                println!(
                    "{} /nodes polls written to {} ({} failed)",
                    polls.answered,
                    nodes.display(),
                    polls.failed
                );
            }
            if let Some(path) = &plan.hdr_out {
                let other = loadgen::hgrm::uncorrected_path(path);
                println!("latency distribution written to {path} and {other}");
            }
            for failed in &report.failed_thresholds {
                eprintln!("loadgen: {failed}");
            }
            if report.failed_thresholds.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}
