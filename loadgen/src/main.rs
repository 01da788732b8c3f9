//! The `loadgen` binary: parse flags into a plan, run it, print the summary.

use std::process::ExitCode;

use clap::Parser;
use loadgen::driver::Mode;
use loadgen::schedule::{Schedule, Step, parse_duration};
use loadgen::workload::{KeyDist, Mix, Payload, TtlChoice, ValueSize, Workload};
use loadgen::{Plan, execute};

/// Load generator for the balancer's HTTP cache API.
///
/// Open loop (default) sends at a set rate whatever the server does and
/// measures latency from when each request was due; closed loop runs N
/// workers back to back to find the maximum throughput.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Base URL of the balancer.
    #[arg(long, default_value = "http://127.0.0.1:3100")]
    target: String,
    /// `open` (a set rate) or `closed` (N workers back to back).
    #[arg(long, default_value = "open")]
    mode: String,
    /// Requests per second (open loop).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// How long to run: 30s, 2m, 500ms.
    #[arg(long, default_value = "10s")]
    duration: String,
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
        let duration = parse_duration(&self.duration)?;
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
        if self.keys == 0 || (matches!(self.key_dist, KeyDist::Zipf(_)) && self.keys > 50_000_000) {
            return Err("keys must be 1.. (at most 50,000,000 with zipf)".into());
        }
        Ok(Plan {
            target: self.target,
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
            log: self.log,
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
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}
