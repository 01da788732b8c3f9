//! `loadgen`: drives the balancer's HTTP API at a chosen rate with a chosen
//! workload, shows progress, summarizes latency from HDR histograms and
//! writes a per-request log for the notebooks.
//!
//! # Layout
//! - [`workload`]: what to send (mix, keys, values, TTLs), seeded.
//! - [`schedule`]: when to send it (open loop: rates, steps, ramps).
//! - [`driver`]: open and closed loops, preloading, recording.
//! - [`client`]: one HTTP request and its outcome.
//! - [`targets`]: several balancers, round robin or weighted.
//! - [`summary`]: per-operation tallies and percentiles.
//! - [`threshold`]: pass/fail criteria that set the exit code.
//! - [`hgrm`]: the latency distribution as HdrHistogram text.
//! - [`log`]: the CSV request log and its schema.
//! - [`nodes_poll`]: node memory over time, from `/nodes`.
//! - [`progress`]: the live progress line.

pub mod client;
pub mod driver;
pub mod hgrm;
pub mod log;
pub mod nodes_poll;
pub mod progress;
pub mod schedule;
pub mod summary;
pub mod targets;
pub mod threshold;
pub mod workload;

use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::client::Client;
use crate::driver::{Mode, Window};
use crate::nodes_poll::PollCount;
use crate::progress::Progress;
use crate::summary::Summary;
use crate::targets::Target;
use crate::threshold::Threshold;
use crate::workload::{Generator, Workload};

/// A whole run, checked and ready.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The balancers, at least one; `/nodes` is polled from the first.
    pub targets: Vec<Target>,
    /// Extra headers on every request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Pacing.
    pub mode: Mode,
    /// What to send.
    pub workload: Workload,
    /// Seed for every random choice.
    pub seed: u64,
    /// Keys to write before the measured run (0 for none).
    pub preload: u64,
    /// Connections to keep (and requests in flight in open loop).
    pub connections: usize,
    /// Per-request time limit.
    pub timeout: Duration,
    /// Sent first and left out of every figure.
    pub warmup: Duration,
    /// Stop the measured run after this many requests.
    pub requests: Option<u64>,
    /// Criteria that fail the run.
    pub thresholds: Vec<Threshold>,
    /// Where to write the request log.
    pub log: Option<String>,
    /// How often to poll `/nodes` into `nodes.csv` beside the log.
    pub nodes_poll: Option<Duration>,
    /// Where to write the latency distribution (`.hgrm`).
    pub hdr_out: Option<String>,
    /// Where to write the summary as JSON.
    pub summary_json: Option<String>,
    /// No progress bar.
    pub quiet: bool,
}

/// What a run produced.
#[derive(Debug)]
pub struct Report {
    /// The summary.
    pub summary: Summary,
    /// Rows written to the log, when there is one.
    pub logged_rows: Option<u64>,
    /// Preload writes that failed.
    pub preload_failures: u64,
    /// `/nodes` polls, when polling.
    pub node_polls: Option<PollCount>,
    /// One line per threshold that failed.
    pub failed_thresholds: Vec<String>,
}

/// Checks the targets, preloads, runs the load (polling `/nodes` when
/// asked), writes the log, the HDR files and the JSON summary, and checks
/// the thresholds.
///
/// # Errors
/// An unreachable target or a file that cannot be written, in words.
pub async fn execute(plan: &Plan) -> Result<Report, String> {
    let client = Client::new(&plan.targets, &plan.headers, plan.connections, plan.timeout);
    client.check_reachable().await?;
    let log = plan.log.as_deref().map(log::open).transpose()?;
    let mut generator = Generator::new(plan.workload.clone(), plan.seed);
    let preload_failures = if plan.preload > 0 {
        driver::preload(&client, &mut generator, plan.preload, plan.connections).await
    } else {
        0
    };
    let total = match &plan.mode {
        Mode::Open { schedule, .. } => Some(schedule.total_requests()),
        Mode::Closed { .. } => plan.requests,
    };
    let total = total.map(|t| plan.requests.map_or(t, |cap| t.min(cap)));
    let progress = Progress::new(total, plan.quiet);
    let window = Window {
        start: Instant::now(),
        warmup: plan.warmup,
        requests: plan.requests,
    };
    let poller = match (plan.nodes_poll, &plan.log) {
        (Some(every), Some(log)) => Some(nodes_poll::start(
            client.clone(),
            &nodes_poll::path_beside(log),
            every,
            window.measured_from(),
        )?),
        _ => None,
    };
    let (sender, writer) = log.unzip();
    let finished = driver::run(
        client,
        generator,
        plan.mode.clone(),
        window,
        sender,
        &progress,
    )
    .await;
    let node_polls = match poller {
        Some(p) => Some(p.finish().await?),
        None => None,
    };
    let logged_rows = match writer {
        Some(w) => Some(w.finish().await?),
        None => None,
    };
    let tally = &finished.tally;
    let summary = tally.summary(finished.elapsed, finished.sent, finished.target_rate);
    if let Some(path) = &plan.hdr_out {
        hgrm::write(path, tally.latency(), tally.service())?;
    }
    if let Some(path) = &plan.summary_json {
        let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
        std::fs::write(path, json).map_err(|e| format!("cannot write {path:?}: {e}"))?;
    }
    let failed_thresholds = plan
        .thresholds
        .iter()
        .filter_map(|t| t.check(&summary, tally.latency()))
        .collect();
    Ok(Report {
        summary,
        logged_rows,
        preload_failures,
        node_polls,
        failed_thresholds,
    })
}
