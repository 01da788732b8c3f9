//! Runs the load: open loop at the schedule's rate, or closed loop with a
//! fixed number of workers, and records every request.
//!
//! Open loop: a dispatcher sleeps until each request's due time and hands
//! it to its own task; at most `connections` requests are on the wire, the
//! rest wait for a connection. Latency counts from the due time, so waiting
//! for a connection behind a slow server is counted, not hidden.
//! Closed loop: each worker sends its next request when the previous one
//! answers; latency counts from the send. This finds the maximum
//! throughput, and (by design) hides queueing delay.
//!
//! A warm-up (sent, left out of every figure) runs first: in open loop at
//! the schedule's first rate, in closed loop with the same workers. A
//! request cap stops the measured run after that many requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::Client;
use crate::log::{LogSender, Row};
use crate::progress::Progress;
use crate::schedule::Schedule;
use crate::summary::{Sample, Tally};
use crate::workload::{Generator, Op, Request};

/// The timer's resolution.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// How requests are paced.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Send on schedule, whatever the server does.
    Open {
        /// When to send.
        schedule: Schedule,
        /// Requests on the wire at once.
        connections: usize,
    },
    /// Each worker waits for its answer before the next request.
    Closed {
        /// Concurrent workers.
        workers: usize,
        /// How long to run.
        duration: Duration,
    },
}

/// When and how long to measure.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// When the run (warm-up included) starts.
    pub start: Instant,
    /// Sent, not counted, before the measured run.
    pub warmup: Duration,
    /// Stop after this many measured requests.
    pub requests: Option<u64>,
}

impl Window {
    /// When the measured run starts.
    pub fn measured_from(&self) -> Instant {
        self.start + self.warmup
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Finished {
    /// Every measured request.
    pub tally: Tally,
    /// From the measured start to the last response.
    pub elapsed: Duration,
    /// Measured requests sent.
    pub sent: u64,
    /// Requests per second the schedule asked for (open loop).
    pub target_rate: Option<f64>,
}

/// Shared by every request task: the tallies and the log.
#[derive(Debug)]
struct Recorder {
    measured_from: Instant,
    tally: Arc<Mutex<Tally>>,
    log: Option<LogSender>,
}

impl Recorder {
    fn record(&self, req: &Request, res: &crate::client::Response, due: Instant, sent: Instant) {
        if due < self.measured_from {
            return; // warm-up
        }
        let done = Instant::now();
        let since = |t: Instant| t.saturating_duration_since(self.measured_from).as_micros() as u64;
        // From when it was due, or from when it was sent if that was
        // earlier (the dispatcher may send up to a timer tick ahead).
        let latency_us = (done - due.min(sent)).as_micros() as u64;
        let service_us = (done - sent).as_micros() as u64;
        self.tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(&Sample {
                op: req.op,
                status: res.status,
                error: res.error.as_deref(),
                latency_us,
                service_us,
                bytes_sent: req.body.as_ref().map_or(0, |b| b.len() as u64),
                bytes_received: res.bytes_received,
            });
        if let Some(log) = &self.log {
            let outcome = match (&res.error, res.status, req.op) {
                (Some(_), _, _) => "error",
                (None, 404, _) => "miss",
                (None, _, Op::Get) => "hit",
                (None, _, _) => "ok",
            };
            log.send(Row {
                intended_us: since(due),
                sent_us: since(sent),
                op: req.op.name(),
                key: req.key.clone(),
                value_bytes: req.value_bytes,
                status: res.status,
                outcome,
                latency_us,
                service_us,
                nodes: res.nodes.clone().unwrap_or_else(|| "-".into()),
                error: res.error.clone().unwrap_or_else(|| "-".into()),
                source: res.source.clone().unwrap_or_else(|| "-".into()),
                response_bytes: res.bytes_received,
            });
        }
    }
}

/// Runs the load to the end: the warm-up, then the measured run.
pub async fn run(
    client: Client,
    generator: Generator,
    mode: Mode,
    window: Window,
    log: Option<LogSender>,
    progress: &Progress,
) -> Finished {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let recorder = Arc::new(Recorder {
        measured_from: window.measured_from(),
        tally: tally.clone(),
        log,
    });
    let ticker = progress.follow(tally.clone());
    let (sent, target_rate) = match mode {
        Mode::Open {
            schedule,
            connections,
        } => {
            let schedule = schedule.after_warmup(window.warmup);
            open_loop(client, generator, &schedule, connections, window, &recorder).await
        }
        Mode::Closed { workers, duration } => {
            let sent = closed_loop(client, generator, workers, duration, window, &recorder).await;
            (sent, None)
        }
    };
    let elapsed = window.measured_from().elapsed();
    ticker.abort();
    progress.finish();
    drop(recorder);
    let tally = match Arc::try_unwrap(tally) {
        Ok(t) => t.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(shared) => std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner())),
    };
    Finished {
        tally,
        elapsed,
        sent,
        target_rate,
    }
}

/// The rate a schedule asked for over its measured part: `sent` requests,
/// the last due `last_due` after the measured start. With the first due
/// at the start, the requests span `last_due * sent / (sent - 1)`: exact
/// at a constant rate (`N` requests at `r` span `N / r`).
pub fn target_rate(sent: u64, last_due: Duration) -> Option<f64> {
    let span = last_due.as_secs_f64() * sent as f64 / (sent as f64 - 1.0);
    (sent >= 2 && span > 0.0).then(|| sent as f64 / span)
}

/// Returns the measured requests sent and the rate the schedule asked for.
async fn open_loop(
    client: Client,
    mut generator: Generator,
    schedule: &Schedule,
    connections: usize,
    window: Window,
    recorder: &Arc<Recorder>,
) -> (u64, Option<f64>) {
    let wire = Arc::new(Semaphore::new(connections));
    let mut tasks = JoinSet::new();
    let (mut sent, mut last_due) = (0, Duration::ZERO);
    for offset in schedule.send_times() {
        if let Some(measured) = offset.checked_sub(window.warmup) {
            if window.requests.is_some_and(|cap| sent >= cap) {
                break;
            }
            sent += 1;
            last_due = measured;
        }
        let due = window.start + offset;
        // Tokio's timer ticks in milliseconds and fires late within a
        // tick; waking a tick early and sending at most one tick ahead keeps
        // the generator's own lateness out of the latencies.
        if due > Instant::now() + TIMER_TICK {
            tokio::time::sleep_until(due - TIMER_TICK).await;
        }
        let req = generator.next_request();
        let (client, wire, recorder) = (client.clone(), wire.clone(), recorder.clone());
        tasks.spawn(async move {
            let _permit = wire.acquire_owned().await.expect("semaphore open");
            let sent_at = Instant::now();
            let res = client.send(&req).await;
            recorder.record(&req, &res, due, sent_at);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    (sent, target_rate(sent, last_due))
}

async fn closed_loop(
    client: Client,
    generator: Generator,
    workers: usize,
    duration: Duration,
    window: Window,
    recorder: &Arc<Recorder>,
) -> u64 {
    let generator = Arc::new(Mutex::new(generator));
    let deadline = window.measured_from() + duration;
    let measured = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (client, generator, recorder) = (client.clone(), generator.clone(), recorder.clone());
        let measured = measured.clone();
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let req = generator
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_request();
                let sent_at = Instant::now();
                if sent_at >= window.measured_from() {
                    let n = measured.fetch_add(1, Ordering::Relaxed);
                    if window.requests.is_some_and(|cap| n >= cap) {
                        break;
                    }
                }
                let res = client.send(&req).await;
                recorder.record(&req, &res, sent_at, sent_at);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let taken = measured.load(Ordering::Relaxed);
    window.requests.map_or(taken, |cap| taken.min(cap))
}

/// Writes keys `0..count` with `workers` concurrent requests, unlogged, so
/// the measured run finds data. Returns how many writes failed.
pub async fn preload(
    client: &Client,
    generator: &mut Generator,
    count: u64,
    workers: usize,
) -> u64 {
    let requests: Vec<Request> = (0..count).map(|i| generator.set_for_index(i)).collect();
    let queue = Arc::new(Mutex::new(requests.into_iter()));
    let mut tasks = JoinSet::new();
    for _ in 0..workers.max(1) {
        let (client, queue) = (client.clone(), queue.clone());
        tasks.spawn(async move {
            let mut failed = 0u64;
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some(req) = next else { break };
                if client.send(&req).await.error.is_some() {
                    failed += 1;
                }
            }
            failed
        });
    }
    let mut failed = 0;
    while let Some(n) = tasks.join_next().await {
        failed += n.unwrap_or(0);
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_rate_counts_the_last_interval() {
        // 1000 requests at 100/s: the last is due at 9.99 s.
        let rate = target_rate(1000, Duration::from_millis(9990)).unwrap();
        assert!((rate - 100.0).abs() < 1e-9, "{rate}");
        assert_eq!(target_rate(1, Duration::ZERO), None);
        assert_eq!(target_rate(0, Duration::ZERO), None);
    }
}
