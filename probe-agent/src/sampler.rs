//! Takes a report every interval: the host through a [`MemorySource`], and
//! every watched Redis in parallel. Each new report replaces the last in a
//! `watch` channel, which `GET /report` serves and long polls wait on.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use memreport::{Report, VERSION};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::host::MemorySource;
use crate::metrics::Metrics;
use crate::redis_probe::RedisProbe;

/// What the sampler needs.
pub struct Sampler {
    /// Host name in the reports.
    pub host: String,
    /// Host figures.
    pub source: Box<dyn MemorySource>,
    /// The watched nodes.
    pub probes: Vec<RedisProbe>,
    /// How often.
    pub interval: Duration,
    /// Where reports go.
    pub reports: watch::Sender<Option<Arc<Report>>>,
    /// Gauges to update.
    pub metrics: Arc<Metrics>,
}

impl Sampler {
    /// Takes one report and publishes it.
    pub async fn sample_once(&mut self, seq: u64) {
        let (memory, cpu_percent) = self.source.sample();
        let nodes = join_all(self.probes.iter_mut().map(RedisProbe::sample)).await;
        let taken_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let report = Report {
            version: VERSION,
            host: self.host.clone(),
            seq,
            taken_at_ms,
            interval_ms: self.interval.as_millis() as u64,
            memory,
            cpu_percent,
            nodes,
        };
        self.metrics.record(&report);
        self.reports.send_replace(Some(Arc::new(report)));
    }

    /// Samples every interval until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seq = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    seq += 1;
                    self.sample_once(seq).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
