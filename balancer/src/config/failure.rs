//! The `[failure]` table: how a node is judged down and up again (see
//! `nodes/state.rs`, `nodes/outliers.rs` and `background/health.rs`).

use std::time::Duration;

use serde::Deserialize;

use super::millis;

/// Failure detection settings (see `nodes/state.rs`, `nodes/outliers.rs`
/// and `background/health.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FailureConfig {
    /// Failed requests or health checks in a row that mark a node down
    /// (outlier ejection). Default 3.
    pub eject_after: u32,
    /// How often the balancer checks every node itself (`INFO server`).
    /// Whole milliseconds, key `health_interval_ms`. Default 500 ms.
    #[serde(
        rename = "health_interval_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub health_interval: Duration,
    /// The balancer's own checks (health checks, memory samples) that must
    /// answer in a row before a node it marked down is up again; an agent's
    /// report never brings it back. Default 3.
    pub rise: u32,
    /// Latency ejection: a node whose mean health-check round trip (of its
    /// last 5) is more than this many times the median of the other up
    /// nodes' is ejected until it is not. Default 10.
    pub latency_factor: f64,
    /// ... and at least this much above that median, so noise on a fast
    /// network ejects nothing. Whole milliseconds, key `latency_margin_ms`.
    /// Default 100 ms.
    #[serde(rename = "latency_margin_ms", deserialize_with = "millis::deserialize")]
    pub latency_margin: Duration,
    /// Latency ejection ejects no node that would put more than this share
    /// of the nodes, in percent, out (down or ejected), nor one that would
    /// leave fewer up nodes than the replication factor. Default 50.
    pub max_ejected_percent: u32,
}

impl Default for FailureConfig {
    fn default() -> Self {
        FailureConfig {
            eject_after: 3,
            health_interval: Duration::from_millis(500),
            rise: 3,
            latency_factor: 10.0,
            latency_margin: Duration::from_millis(100),
            max_ejected_percent: 50,
        }
    }
}

impl FailureConfig {
    /// What is wrong with these settings, if anything.
    pub(super) fn problem(&self) -> Option<String> {
        let factor = self.latency_factor;
        if self.eject_after == 0 || self.rise == 0 {
            Some("failure.eject_after and failure.rise must be positive".into())
        } else if !(factor.is_finite() && factor >= 1.0) {
            Some(format!("failure.latency_factor must be >= 1, got {factor}"))
        } else if self.max_ejected_percent > 100 {
            Some("failure.max_ejected_percent must be at most 100".into())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_settings_out_of_range_are_named() {
        assert_eq!(FailureConfig::default().problem(), None);
        let bad = [
            FailureConfig {
                rise: 0,
                ..FailureConfig::default()
            },
            FailureConfig {
                latency_factor: 0.5,
                ..FailureConfig::default()
            },
            FailureConfig {
                max_ejected_percent: 101,
                ..FailureConfig::default()
            },
        ];
        let problems: Vec<String> = bad.iter().filter_map(FailureConfig::problem).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[1].contains("latency_factor"), "{problems:?}");
    }
}
