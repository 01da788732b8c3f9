//! Pass/fail criteria on a run, as k6 has them: `p99<5ms`, `errors<0.1%`,
//! `rate>0.95`. Parsed from `--threshold`, checked against the summary's
//! `all` line; a failed one makes loadgen exit 1 and says which.

use std::str::FromStr;

use hdrhistogram::Histogram;

use crate::summary::Summary;

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency percentile (0..=100), in milliseconds; `max` is 100.
    Latency(f64),
    /// Failed requests over completed ones, as a fraction.
    Errors,
    /// Achieved over target throughput (open loop only).
    Rate,
}

/// How the measured value must compare to the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `<`
    Below,
    /// `<=`
    AtMost,
    /// `>`
    Above,
    /// `>=`
    AtLeast,
}

/// One criterion, e.g. `p99<5ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As the user wrote it, for messages.
    pub text: String,
    /// What is measured.
    pub metric: Metric,
    /// How it must compare.
    pub comparison: Comparison,
    /// The limit, in the metric's unit (ms, fraction, ratio).
    pub limit: f64,
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = |why: &str| {
            format!(
                "threshold {s:?}: {why} (e.g. p99<5ms, p99.9<=20ms, max<1s, errors<0.1%, rate>0.95)"
            )
        };
        let at = text
            .find(['<', '>'])
            .ok_or_else(|| bad("no < or > in it"))?;
        let (name, rest) = text.split_at(at);
        let (comparison, limit) = match rest {
            r if r.starts_with("<=") => (Comparison::AtMost, &r[2..]),
            r if r.starts_with(">=") => (Comparison::AtLeast, &r[2..]),
            r if r.starts_with('<') => (Comparison::Below, &r[1..]),
            r => (Comparison::Above, &r[1..]),
        };
        let metric = match name {
            "errors" => Metric::Errors,
            "rate" => Metric::Rate,
            "max" => Metric::Latency(100.0),
            p if p.starts_with('p') => match p[1..].parse::<f64>() {
                Ok(q) if q > 0.0 && q <= 100.0 => Metric::Latency(q),
                _ => {
                    return Err(bad(
                        "a percentile is above p0 and at most p100 (p99, p99.9)",
                    ));
                }
            },
            _ => return Err(bad("unknown metric: pNN, max, errors or rate")),
        };
        let limit = match metric {
            Metric::Latency(_) => {
                milliseconds(limit).ok_or_else(|| bad("latency needs a unit: us, ms or s"))?
            }
            Metric::Errors => {
                fraction(limit).ok_or_else(|| bad("errors is a fraction or a percentage"))?
            }
            Metric::Rate => number(limit)
                .ok_or_else(|| bad("rate is a ratio of achieved to target, like 0.95"))?,
        };
        Ok(Threshold {
            text,
            metric,
            comparison,
            limit,
        })
    }
}

fn number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

fn milliseconds(s: &str) -> Option<f64> {
    let (digits, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else {
        (s.strip_suffix('s')?, 1e3)
    };
    number(digits).map(|v| v * scale)
}

fn fraction(s: &str) -> Option<f64> {
    match s.strip_suffix('%') {
        Some(v) => number(v).map(|v| v / 100.0),
        None => number(s),
    }
}

impl Threshold {
    /// Whether this threshold needs a target rate (open loop).
    pub fn needs_target_rate(&self) -> bool {
        self.metric == Metric::Rate
    }

    /// The measured value, in the limit's unit, from the summary's `all`
    /// line and the latency histogram (µs, from the due time); `None` when
    /// the run has nothing to measure it on.
    pub fn measure(&self, summary: &Summary, latency_us: &Histogram<u64>) -> Option<f64> {
        let all = summary.ops.iter().find(|o| o.op == "all")?;
        match self.metric {
            Metric::Latency(q) => Some(latency_us.value_at_quantile(q / 100.0) as f64 / 1000.0),
            Metric::Errors => {
                let errors: u64 = all.errors.values().sum();
                (all.count > 0).then(|| errors as f64 / all.count as f64)
            }
            Metric::Rate => summary
                .target_rate_per_s
                .map(|target| all.throughput_per_s / target),
        }
    }

    /// `None` when it passes, else a line saying what failed and by what.
    pub fn check(&self, summary: &Summary, latency_us: &Histogram<u64>) -> Option<String> {
        let Some(value) = self.measure(summary, latency_us) else {
            return Some(format!(
                "threshold {} failed: nothing to measure it on",
                self.text
            ));
        };
        let passed = match self.comparison {
            Comparison::Below => value < self.limit,
            Comparison::AtMost => value <= self.limit,
            Comparison::Above => value > self.limit,
            Comparison::AtLeast => value >= self.limit,
        };
        let shown = match self.metric {
            Metric::Latency(_) => format!("{value:.3} ms"),
            Metric::Errors => format!("{:.4}%", value * 100.0),
            Metric::Rate => format!("{value:.4}"),
        };
        (!passed).then(|| format!("threshold {} failed: measured {shown}", self.text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_errors_and_rate() {
        let t: Threshold = "p99<5ms".parse().unwrap();
        assert_eq!(
            (t.metric, t.comparison, t.limit),
            (Metric::Latency(99.0), Comparison::Below, 5.0)
        );
        let t: Threshold = "p99.9 <= 250us".parse().unwrap();
        assert_eq!(
            (t.metric, t.comparison),
            (Metric::Latency(99.9), Comparison::AtMost)
        );
        assert!((t.limit - 0.25).abs() < 1e-12);
        let t: Threshold = "max<1s".parse().unwrap();
        assert_eq!((t.metric, t.limit), (Metric::Latency(100.0), 1000.0));
        let t: Threshold = "errors<0.1%".parse().unwrap();
        assert_eq!((t.metric, t.limit), (Metric::Errors, 0.001));
        let t: Threshold = "rate>=0.95".parse().unwrap();
        assert_eq!(
            (t.metric, t.comparison, t.limit),
            (Metric::Rate, Comparison::AtLeast, 0.95)
        );
        assert!(t.needs_target_rate());
    }

    #[test]
    fn checks_say_which_failed_and_by_what() {
        use crate::summary::{Sample, Tally};
        use crate::workload::Op;
        let mut tally = Tally::default();
        for i in 1..=1000u64 {
            let error = (i % 100 == 0).then_some("HTTP 503");
            tally.record(&Sample {
                op: Op::Get,
                status: if error.is_some() { 503 } else { 200 },
                error,
                latency_us: i * 10,
                service_us: i,
                bytes_sent: 0,
                bytes_received: 10,
            });
        }
        let summary = tally.summary(std::time::Duration::from_secs(1), 1000, Some(1250.0));
        let check = |t: &str| {
            t.parse::<Threshold>()
                .unwrap()
                .check(&summary, tally.latency())
        };
        assert_eq!(check("p99<10ms"), None);
        assert_eq!(
            check("p50<5ms"),
            Some("threshold p50<5ms failed: measured 5.003 ms".into())
        );
        assert_eq!(check("errors<=1%"), None);
        assert!(check("errors<0.5%").unwrap().contains("measured 1.0000%"));
        assert_eq!(check("rate>0.75"), None);
        assert!(check("rate>0.95").unwrap().contains("measured 0.8000"));
        let closed = tally.summary(std::time::Duration::from_secs(1), 1000, None);
        let rate: Threshold = "rate>0.95".parse().unwrap();
        assert!(
            rate.check(&closed, tally.latency())
                .unwrap()
                .contains("nothing to measure")
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for (bad, why) in [
            ("p99", "no < or >"),
            ("p99<5", "needs a unit"),
            ("p0<5ms", "above p0 and at most p100"),
            ("p101<5ms", "above p0 and at most p100"),
            ("latency<5ms", "unknown metric"),
            ("errors<lots", "fraction or a percentage"),
            ("rate>fast", "ratio"),
            ("p99<-1ms", "needs a unit"),
        ] {
            let err = bad.parse::<Threshold>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
