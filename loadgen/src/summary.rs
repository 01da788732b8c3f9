//! Per-operation results: counts, statuses, errors by kind, hit ratio,
//! throughput and latency percentiles from an HDR histogram (1 µs to 60 s,
//! 3 significant digits); for the whole run, body bytes per second sent and
//! received, and the service-time histogram beside the latency one.
//! Printed as a table, or written as JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::workload::Op;

const MAX_LATENCY_US: u64 = 60_000_000;

/// Running tallies for one operation.
#[derive(Debug)]
pub struct OpStats {
    count: u64,
    hits: u64,
    misses: u64,
    statuses: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    latency: Histogram<u64>,
}

/// Running tallies for a whole run.
#[derive(Debug)]
pub struct Tally {
    ops: BTreeMap<Op, OpStats>,
    /// Latency from the due time, all operations together.
    all: Histogram<u64>,
    /// Service time (from the send), all operations together.
    service: Histogram<u64>,
    bytes_sent: u64,
    bytes_received: u64,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            ops: BTreeMap::new(),
            all: histogram(),
            service: histogram(),
            bytes_sent: 0,
            bytes_received: 0,
        }
    }
}

/// One finished request, as the tally counts it.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The operation.
    pub op: Op,
    /// HTTP status, 0 when none arrived.
    pub status: u16,
    /// What went wrong, if it failed.
    pub error: Option<&'a str>,
    /// From the due time to the full response.
    pub latency_us: u64,
    /// From the send to the full response.
    pub service_us: u64,
    /// Request body bytes.
    pub bytes_sent: u64,
    /// Response body bytes.
    pub bytes_received: u64,
}

/// The summary of one operation, as printed and as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct OpSummary {
    /// Operation name, or `all`.
    pub op: String,
    /// Requests completed.
    pub count: u64,
    /// Responses by HTTP status (successes and failures; requests that got
    /// no response are only in `errors`).
    pub statuses: BTreeMap<String, u64>,
    /// Errors, by kind (`http_503`, `timeout`, `transport`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Hits over hits plus misses (gets only).
    pub hit_ratio: Option<f64>,
    /// Completed requests per second of run time.
    pub throughput_per_s: f64,
    /// Latency percentiles in milliseconds.
    pub latency_ms: Percentiles,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// The whole run's summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Seconds from the first due time to the last response.
    pub elapsed_s: f64,
    /// Requests the run sent (after the warm-up).
    pub sent: u64,
    /// Requests per second the schedule asked for (open loop only).
    pub target_rate_per_s: Option<f64>,
    /// Request body bytes sent per second.
    pub sent_bytes_per_s: f64,
    /// Response body bytes received per second.
    pub received_bytes_per_s: f64,
    /// One entry per operation, then `all`.
    pub ops: Vec<OpSummary>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// The error kind of a failed request, for grouping.
pub fn error_kind(status: u16, error: &str) -> String {
    if status > 0 {
        format!("http_{status}")
    } else if error.starts_with("timeout") {
        "timeout".into()
    } else {
        "transport".into()
    }
}

impl Tally {
    /// Records one finished request.
    pub fn record(&mut self, sample: &Sample) {
        let stats = self.ops.entry(sample.op).or_insert_with(|| OpStats {
            count: 0,
            hits: 0,
            misses: 0,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            latency: histogram(),
        });
        stats.count += 1;
        let latency = sample.latency_us.clamp(1, MAX_LATENCY_US);
        stats.latency.saturating_record(latency);
        self.all.saturating_record(latency);
        self.service
            .saturating_record(sample.service_us.clamp(1, MAX_LATENCY_US));
        self.bytes_sent += sample.bytes_sent;
        self.bytes_received += sample.bytes_received;
        if sample.status > 0 {
            *stats.statuses.entry(sample.status.to_string()).or_default() += 1;
        }
        match sample.error {
            Some(e) => {
                *stats
                    .errors
                    .entry(error_kind(sample.status, e))
                    .or_default() += 1
            }
            None if sample.status == 404 => stats.misses += 1,
            None if sample.op == Op::Get => stats.hits += 1,
            None => {}
        }
    }

    /// Latency from the due time, every operation, in µs.
    pub fn latency(&self) -> &Histogram<u64> {
        &self.all
    }

    /// Service time (from the send), every operation, in µs.
    pub fn service(&self) -> &Histogram<u64> {
        &self.service
    }

    /// Requests completed so far.
    pub fn completed(&self) -> u64 {
        self.ops.values().map(|s| s.count).sum()
    }

    /// Errors so far.
    pub fn errors(&self) -> u64 {
        self.ops.values().flat_map(|s| s.errors.values()).sum()
    }

    /// The p99 over every operation so far, in milliseconds.
    pub fn p99_ms(&self) -> f64 {
        self.all.value_at_quantile(0.99) as f64 / 1000.0
    }

    /// The summary of everything recorded over `elapsed`, with the rate
    /// the schedule asked for, if any.
    pub fn summary(&self, elapsed: Duration, sent: u64, target_rate: Option<f64>) -> Summary {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut ops: Vec<OpSummary> = self
            .ops
            .iter()
            .map(|(op, s)| OpSummary {
                op: op.name().into(),
                count: s.count,
                statuses: s.statuses.clone(),
                errors: s.errors.clone(),
                hit_ratio: (*op == Op::Get && s.hits + s.misses > 0)
                    .then(|| s.hits as f64 / (s.hits + s.misses) as f64),
                throughput_per_s: s.count as f64 / secs,
                latency_ms: percentiles(&s.latency),
            })
            .collect();
        if !self.ops.is_empty() {
            let (mut statuses, mut errors) = (BTreeMap::new(), BTreeMap::new());
            for s in self.ops.values() {
                for (k, v) in &s.statuses {
                    *statuses.entry(k.clone()).or_default() += v;
                }
                for (k, v) in &s.errors {
                    *errors.entry(k.clone()).or_default() += v;
                }
            }
            ops.push(OpSummary {
                op: "all".into(),
                count: self.completed(),
                statuses,
                errors,
                hit_ratio: None,
                throughput_per_s: self.completed() as f64 / secs,
                latency_ms: percentiles(&self.all),
            });
        }
        Summary {
            elapsed_s: secs,
            sent,
            target_rate_per_s: target_rate,
            sent_bytes_per_s: self.bytes_sent as f64 / secs,
            received_bytes_per_s: self.bytes_received as f64 / secs,
            ops,
        }
    }
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |us: u64| us as f64 / 1000.0;
    Percentiles {
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    }
}

impl Summary {
    /// A plain-text table, one line per operation.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<7} {:>9} {:>8} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9}  statuses; errors\n",
            "op",
            "count",
            "errors",
            "hit%",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9",
            "max ms"
        );
        for s in &self.ops {
            let errors: u64 = s.errors.values().sum();
            let hit = s
                .hit_ratio
                .map_or("-".into(), |h| format!("{:.1}", h * 100.0));
            let statuses: Vec<String> =
                s.statuses.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let kinds: Vec<String> = s.errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let l = &s.latency_ms;
            out.push_str(&format!(
                "{:<7} {:>9} {:>8} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2}  {}{}\n",
                s.op,
                s.count,
                errors,
                hit,
                s.throughput_per_s,
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max,
                statuses.join(" "),
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!("; {}", kinds.join(" "))
                }
            ));
        }
        let target = self
            .target_rate_per_s
            .map_or(String::new(), |t| format!(" (target {t:.0} req/s)"));
        out.push_str(&format!(
            "{} requests in {:.2} s{target}; bodies sent {}/s, received {}/s\n",
            self.sent,
            self.elapsed_s,
            bytes(self.sent_bytes_per_s),
            bytes(self.received_bytes_per_s)
        ));
        out
    }
}

/// Bytes in B, KiB, MiB or GiB.
fn bytes(n: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_misses_and_errors_by_kind() {
        let mut t = Tally::default();
        let sample = |op, status, error, latency_us| Sample {
            op,
            status,
            error,
            latency_us,
            service_us: latency_us / 2,
            bytes_sent: if op == Op::Set { 1000 } else { 0 },
            bytes_received: 512,
        };
        t.record(&sample(Op::Get, 200, None, 1000));
        t.record(&sample(Op::Get, 200, None, 2000));
        t.record(&sample(Op::Get, 404, None, 1500));
        t.record(&sample(Op::Set, 503, Some("HTTP 503"), 9000));
        t.record(&sample(Op::Set, 0, Some("timeout after 5s"), 5_000_000));
        let s = t.summary(Duration::from_secs(2), 5, Some(2.5));
        let get = &s.ops[0];
        assert_eq!(get.count, 3);
        assert!((get.hit_ratio.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        let set = &s.ops[1];
        assert_eq!(set.errors["http_503"], 1);
        assert_eq!(set.errors["timeout"], 1);
        let all = &s.ops[2];
        assert_eq!(all.count, 5);
        assert!((all.latency_ms.max - 5000.0).abs() < 5.0);
        assert_eq!(get.statuses["200"], 2);
        assert_eq!(get.statuses["404"], 1);
        assert_eq!(set.statuses.len(), 1, "a timeout has no status");
        assert_eq!(all.statuses["503"], 1);
        assert_eq!(s.sent_bytes_per_s, 1000.0);
        assert_eq!(s.received_bytes_per_s, 1280.0);
        assert!((t.service().max() as f64 - 2_500_000.0).abs() < 5_000.0);
        let table = s.table();
        assert!(table.contains("200=2 404=1\n"), "{table}");
        assert!(table.contains("503=1; http_503=1 timeout=1\n"), "{table}");
        assert!(table.contains("http_503=1"), "{table}");
        assert!(
            table.contains("(target 2 req/s); bodies sent 1000.0 B/s, received 1.2 KiB/s"),
            "{table}"
        );
        assert_eq!(t.errors(), 2);
    }
}
