//! The figures of `GET /stats`, which the `/dashboard` page polls: a few
//! totals and estimates read back from the gathered metric families, so
//! they say exactly what `/metrics` says. Everything here is a pure
//! function of the families; counts are since the balancer started, and
//! rates are left to whoever polls (two polls, a difference).

use std::collections::BTreeMap;

use prometheus::proto::{Metric, MetricFamily};
use serde::Serialize;

use super::Metrics;

/// What `GET /stats` answers. Fields are only ever added.
#[derive(Debug, Serialize, PartialEq)]
pub struct Stats {
    /// Cache operations finished, whatever their outcome, by `op` (get,
    /// set, delete).
    pub requests: BTreeMap<String, u64>,
    /// The sum of `requests`.
    pub requests_total: u64,
    /// Reads that found their key over reads that ended in a hit or a
    /// miss; null before any.
    pub hit_ratio: Option<f64>,
    /// Median latency of every cache operation, in seconds, estimated
    /// from the `dlb_request_duration_seconds` buckets; null before any.
    pub latency_p50_seconds: Option<f64>,
    /// 99th percentile latency, likewise.
    pub latency_p99_seconds: Option<f64>,
    /// New keys placed, by node.
    pub placements: BTreeMap<String, u64>,
    /// The sum of `placements`.
    pub placements_total: u64,
    /// Replica repairs, by how they ended (`repaired`, `in_sync`, ...).
    pub repairs: BTreeMap<String, u64>,
    /// The sum of `repairs`.
    pub repairs_total: u64,
    /// Keys waiting for a repair now.
    pub repairs_pending: u64,
    /// Every metric named `dlb_migration*` with a value above zero, by
    /// name, summed over its labels; null when there is none (nothing
    /// moved yet, so the page shows no such section).
    pub migrations: Option<BTreeMap<String, u64>>,
}

impl Metrics {
    /// The figures of `GET /stats`, read from this registry.
    pub fn stats(&self) -> Stats {
        summarize(&self.registry.gather())
    }
}

/// The figures of `families`, as gathered from a registry.
fn summarize(families: &[MetricFamily]) -> Stats {
    let requests = by_label(families, "dlb_requests_total", "op");
    let outcomes = by_label(families, "dlb_requests_total", "outcome");
    let (hits, misses) = (count(&outcomes, "hit"), count(&outcomes, "miss"));
    let buckets = buckets(families, "dlb_request_duration_seconds");
    let placements = by_label(families, "dlb_placements_total", "node");
    let repairs = by_label(families, "dlb_repairs_total", "outcome");
    let migrations: BTreeMap<String, u64> = families
        .iter()
        .filter(|f| f.name().starts_with("dlb_migration"))
        .map(|f| (f.name().to_string(), f.get_metric().iter().map(value).sum()))
        .filter(|&(_, sum)| sum > 0)
        .collect();
    Stats {
        requests_total: requests.values().sum(),
        requests,
        hit_ratio: ratio(hits, hits + misses),
        latency_p50_seconds: quantile(0.5, &buckets),
        latency_p99_seconds: quantile(0.99, &buckets),
        placements_total: placements.values().sum(),
        placements,
        repairs_total: repairs.values().sum(),
        repairs,
        repairs_pending: by_label(families, "dlb_repairs_pending", "").values().sum(),
        migrations: (!migrations.is_empty()).then_some(migrations),
    }
}

/// The family `name`'s values summed by their `label` (all under `""`
/// when `label` is empty or absent).
fn by_label(families: &[MetricFamily], name: &str, label: &str) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for metric in families
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric())
    {
        let key = metric
            .get_label()
            .iter()
            .find(|l| l.name() == label)
            .map_or(String::new(), |l| l.value().to_string());
        *sums.entry(key).or_insert(0) += value(metric);
    }
    sums
}

fn count(sums: &BTreeMap<String, u64>, key: &str) -> u64 {
    sums.get(key).copied().unwrap_or(0)
}

/// A counter's or gauge's value, as a whole number (they count things).
fn value(metric: &Metric) -> u64 {
    let v = metric.get_counter().get_value() + metric.get_gauge().get_value();
    v.max(0.0).round() as u64
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The histogram `name` merged over its labels: `(upper bound,
/// observations at or below it)` in bound order, then `(+inf, all)`.
fn buckets(families: &[MetricFamily], name: &str) -> Vec<(f64, u64)> {
    let mut merged: Vec<(f64, u64)> = Vec::new();
    let mut total = 0;
    for h in families
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric())
        .map(Metric::get_histogram)
    {
        total += h.get_sample_count();
        for (i, b) in h.get_bucket().iter().enumerate() {
            match merged.get_mut(i) {
                Some(m) => m.1 += b.cumulative_count(),
                None => merged.push((b.upper_bound(), b.cumulative_count())),
            }
        }
    }
    merged.push((f64::INFINITY, total));
    merged
}

/// The `q` quantile of a cumulative histogram, as Prometheus's
/// `histogram_quantile` estimates it: linear within the bucket that holds
/// the rank, the lowest bucket starting at 0, and the highest finite
/// bound when the rank falls in the `+inf` bucket. `None` when empty.
pub(crate) fn quantile(q: f64, buckets: &[(f64, u64)]) -> Option<f64> {
    let total = buckets.last().map_or(0, |b| b.1);
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = (0.0, 0u64);
    for &(bound, cumulative) in buckets {
        if cumulative as f64 >= rank {
            if bound.is_infinite() {
                return Some(below.0);
            }
            let inside = (cumulative - below.1) as f64;
            let into = (rank - below.1 as f64) / inside;
            return Some(below.0 + (bound - below.0) * into);
        }
        below = (bound, cumulative);
    }
    Some(below.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Op, Outcome};

    #[test]
    fn quantiles_interpolate_within_the_bucket_holding_the_rank() {
        let buckets = [(0.001, 50), (0.01, 90), (0.1, 100), (f64::INFINITY, 100)];
        assert_eq!(quantile(0.5, &buckets), Some(0.001));
        let p99 = quantile(0.99, &buckets).unwrap();
        assert!((p99 - 0.091).abs() < 1e-9, "{p99}");
        let p25 = quantile(0.25, &buckets).unwrap();
        assert!(
            (p25 - 0.0005).abs() < 1e-9,
            "the lowest bucket starts at 0: {p25}"
        );
        assert_eq!(quantile(0.5, &[(0.1, 0), (f64::INFINITY, 0)]), None);
        let overflow = [(0.1, 1), (1.0, 1), (f64::INFINITY, 10)];
        assert_eq!(quantile(0.99, &overflow), Some(1.0), "past the last bound");
    }

    #[test]
    fn a_fresh_registry_has_no_ratio_no_latency_and_no_migrations() {
        let stats = Metrics::new().stats();
        assert_eq!(stats.requests_total, 0);
        assert_eq!(stats.hit_ratio, None);
        assert_eq!(stats.latency_p50_seconds, None);
        assert_eq!(stats.placements_total, 0);
        assert_eq!(stats.migrations, None);
    }

    #[test]
    fn stats_add_up_what_was_recorded() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.record_request(Op::Get, Outcome::Hit, 0.0002);
        }
        m.record_request(Op::Get, Outcome::Miss, 0.0002);
        m.record_request(Op::Set, Outcome::Created, 0.02);
        m.placements.with_label_values(&["a"]).inc_by(2);
        m.placements.with_label_values(&["b"]).inc();
        m.repairs.with_label_values(&["repaired"]).inc();
        m.repairs_pending.set(4);
        let s = m.stats();
        assert_eq!(s.requests_total, 5);
        assert_eq!(s.requests["get"], 4);
        assert_eq!(s.requests["set"], 1);
        assert_eq!(s.hit_ratio, Some(0.75));
        let p50 = s.latency_p50_seconds.unwrap();
        assert!(p50 > 0.0001 && p50 <= 0.00025, "{p50}");
        let p99 = s.latency_p99_seconds.unwrap();
        assert!(p99 > 0.01 && p99 <= 0.025, "{p99}");
        assert_eq!(s.placements_total, 3);
        assert_eq!(s.placements["a"], 2);
        assert_eq!((s.repairs_total, s.repairs_pending), (1, 4));
    }

    #[test]
    fn any_migration_counter_with_a_value_shows() {
        let m = Metrics::new();
        let moved = &m.moves.migrations;
        assert_eq!(m.stats().migrations, None, "no value yet");
        m.moves.bytes.inc_by(0);
        assert_eq!(m.stats().migrations, None, "a zero is no value");
        moved.with_label_values(&["moved"]).inc_by(3);
        moved.with_label_values(&["failed"]).inc();
        let shown = m.stats().migrations.unwrap();
        assert_eq!(shown["dlb_migrations_total"], 4);
        assert!(!shown.contains_key("dlb_migration_bytes_total"));
    }
}
