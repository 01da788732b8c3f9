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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::Client;
use crate::log::{LogSender, Row};
use crate::progress::Progress;
use crate::schedule::Schedule;
use crate::summary::{Summary, Tally};
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

/// Shared by every request task: the tallies and the log.
#[derive(Debug)]
struct Recorder {
    start: Instant,
    tally: Arc<Mutex<Tally>>,
    log: Option<LogSender>,
}

impl Recorder {
    fn record(&self, req: &Request, res: &crate::client::Response, due: Instant, sent: Instant) {
        let done = Instant::now();
        let since = |t: Instant| (t - self.start).as_micros() as u64;
        // From when it was due, or from when it was sent if that was
        // earlier (the dispatcher may send up to a timer tick ahead).
        let latency_us = (done - due.min(sent)).as_micros() as u64;
        self.tally.lock().unwrap_or_else(|e| e.into_inner()).record(
            req.op,
            res.status,
            res.error.as_deref(),
            latency_us,
        );
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
                service_us: (done - sent).as_micros() as u64,
                nodes: res.nodes.clone().unwrap_or_else(|| "-".into()),
                error: res.error.clone().unwrap_or_else(|| "-".into()),
            });
        }
    }
}

/// Runs the load to the end and returns its summary.
pub async fn run(
    client: Client,
    generator: Generator,
    mode: Mode,
    log: Option<LogSender>,
    progress: &Progress,
) -> Summary {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let recorder = Arc::new(Recorder {
        start: Instant::now(),
        tally: tally.clone(),
        log,
    });
    let ticker = progress.follow(tally.clone());
    let sent = match mode {
        Mode::Open {
            schedule,
            connections,
        } => open_loop(client, generator, &schedule, connections, &recorder).await,
        Mode::Closed { workers, duration } => {
            closed_loop(client, generator, workers, duration, &recorder).await
        }
    };
    let elapsed = recorder.start.elapsed();
    ticker.abort();
    progress.finish();
    tally
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .summary(elapsed, sent)
}

async fn open_loop(
    client: Client,
    mut generator: Generator,
    schedule: &Schedule,
    connections: usize,
    recorder: &Arc<Recorder>,
) -> u64 {
    let wire = Arc::new(Semaphore::new(connections));
    let mut tasks = JoinSet::new();
    let mut sent = 0;
    for offset in schedule.send_times() {
        let due = recorder.start + offset;
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
        sent += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    sent
}

async fn closed_loop(
    client: Client,
    generator: Generator,
    workers: usize,
    duration: Duration,
    recorder: &Arc<Recorder>,
) -> u64 {
    let generator = Arc::new(Mutex::new(generator));
    let deadline = recorder.start + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (client, generator, recorder) = (client.clone(), generator.clone(), recorder.clone());
        tasks.spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let req = generator
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_request();
                let sent_at = Instant::now();
                let res = client.send(&req).await;
                recorder.record(&req, &res, sent_at, sent_at);
                sent += 1;
            }
            sent
        });
    }
    let mut sent = 0;
    while let Some(n) = tasks.join_next().await {
        sent += n.unwrap_or(0);
    }
    sent
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
