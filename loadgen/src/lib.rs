//! `loadgen`: drives the balancer's HTTP API at a chosen rate with a chosen
//! workload, shows progress, summarizes latency from HDR histograms and
//! writes a per-request log for the notebooks.
//!
//! # Layout
//! - [`workload`]: what to send (mix, keys, values, TTLs), seeded.
//! - [`schedule`]: when to send it (open loop: rates, steps, ramps).
//! - [`driver`]: open and closed loops, preloading, recording.
//! - [`client`]: one HTTP request and its outcome.
//! - [`summary`]: per-operation tallies and percentiles.
//! - [`log`]: the CSV request log and its schema.
//! - [`progress`]: the live progress line.

pub mod client;
pub mod driver;
pub mod log;
pub mod progress;
pub mod schedule;
pub mod summary;
pub mod workload;

use std::time::Duration;

use crate::client::Client;
use crate::driver::Mode;
use crate::progress::Progress;
use crate::summary::Summary;
use crate::workload::{Generator, Workload};

/// A whole run, checked and ready.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Base URL of the balancer.
    pub target: String,
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
    /// Where to write the request log.
    pub log: Option<String>,
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
}

/// Checks the target, preloads, runs the load, and writes the log and the
/// JSON summary.
///
/// # Errors
/// An unreachable target or a file that cannot be written, in words.
pub async fn execute(plan: &Plan) -> Result<Report, String> {
    let client = Client::new(&plan.target, plan.connections, plan.timeout);
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
        Mode::Closed { .. } => None,
    };
    let progress = Progress::new(total, plan.quiet);
    let (sender, writer) = log.unzip();
    let summary = driver::run(client, generator, plan.mode.clone(), sender, &progress).await;
    let logged_rows = match writer {
        Some(w) => Some(w.finish().await?),
        None => None,
    };
    if let Some(path) = &plan.summary_json {
        let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
        std::fs::write(path, json).map_err(|e| format!("cannot write {path:?}: {e}"))?;
    }
    Ok(Report {
        summary,
        logged_rows,
        preload_failures,
    })
}
