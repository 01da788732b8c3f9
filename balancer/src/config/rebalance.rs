//! The `[rebalance]` table: when the leader moves keys that are already
//! placed (`background/rebalancer/`), how fast, and over how many bulk
//! connections per node.

use std::time::Duration;

use serde::Deserialize;

use super::millis;

/// The rebalancer's marks and pace.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RebalanceConfig {
    /// A node above `high` times the mean utilization sheds keys. Default 1.05.
    pub high: f64,
    /// ... down to `low` times the mean. Default 1.02.
    pub low: f64,
    /// Most keys moved per second. Default 500.
    pub keys_per_sec: u32,
    /// Most value bytes moved per second. Default 8 MiB.
    pub bytes_per_sec: u64,
    /// Keys moved together: one index round trip per step for all of
    /// them. Default 100.
    pub batch_keys: usize,
    /// How often the leader plans again while nothing moves. Whole
    /// milliseconds, key `interval_ms`. Default 2000 ms.
    #[serde(rename = "interval_ms", deserialize_with = "millis::deserialize")]
    pub interval: Duration,
    /// Pooled connections per data node for bulk work (moves, repairs,
    /// resyncs, the index rebuild), apart from the one requests share;
    /// 0 shares that one. Default 4.
    pub bulk_connections: usize,
}

impl Default for RebalanceConfig {
    fn default() -> Self {
        RebalanceConfig {
            high: 1.05,
            low: 1.02,
            keys_per_sec: 500,
            bytes_per_sec: 8 * 1024 * 1024,
            batch_keys: 100,
            interval: Duration::from_millis(2000),
            bulk_connections: 4,
        }
    }
}

/// What is wrong with the marks `high` and `low`, if anything: they need
/// `1 <= low < high`, both finite. (`rebalance::Marks::problem` asks
/// this too.)
pub fn marks_problem(high: f64, low: f64) -> Option<String> {
    let ordered = 1.0 <= low && low < high && high.is_finite();
    (!ordered)
        .then(|| format!("rebalance marks need 1 <= low < high, got low {low} and high {high}"))
}

/// The most bytes one journal entry may take: ZooKeeper's default
/// `jute.maxbuffer` (1 MiB), less room for the rest of the request.
const JOURNAL_ENTRY_BYTES: usize = 900_000;

/// What is wrong with `batch_keys` keys of up to `max_key_bytes` each, if
/// anything: a batch is one journal entry in ZooKeeper (each key as JSON,
/// a control character escaped to 6 bytes, and about 100 bytes for the
/// node it leaves), which must fit in one znode.
pub(super) fn journal_problem(batch_keys: usize, max_key_bytes: usize) -> Option<String> {
    let worst = batch_keys.saturating_mul(max_key_bytes.saturating_mul(6).saturating_add(100));
    (worst > JOURNAL_ENTRY_BYTES).then(|| {
        format!(
            "rebalance.batch_keys ({batch_keys}) times limits.max_key_bytes ({max_key_bytes}) \
             can make a journal entry of {worst} bytes, over the {JOURNAL_ENTRY_BYTES} a \
             ZooKeeper znode takes: lower one of them"
        )
    })
}

impl RebalanceConfig {
    /// What is wrong with these settings, if anything.
    pub(super) fn problem(&self) -> Option<String> {
        if let Some(problem) = marks_problem(self.high, self.low) {
            return Some(problem);
        }
        let zero = self.keys_per_sec == 0
            || self.bytes_per_sec == 0
            || self.batch_keys == 0
            || self.interval.is_zero();
        zero.then(|| {
            "rebalance.keys_per_sec, bytes_per_sec, batch_keys and interval_ms must be positive"
                .to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_out_of_order_and_zero_paces_are_refused() {
        assert_eq!(RebalanceConfig::default().problem(), None);
        let swapped = RebalanceConfig {
            high: 1.01,
            low: 1.02,
            ..RebalanceConfig::default()
        };
        assert!(swapped.problem().unwrap().contains("low < high"));
        let stopped = RebalanceConfig {
            keys_per_sec: 0,
            ..RebalanceConfig::default()
        };
        assert!(stopped.problem().unwrap().contains("positive"));
    }

    #[test]
    fn a_batch_must_fit_one_journal_entry() {
        assert_eq!(journal_problem(100, 1024), None, "the defaults fit");
        assert_eq!(journal_problem(1000, 100), None);
        let big = journal_problem(1000, 1024).unwrap();
        assert!(big.contains("batch_keys (1000)"), "{big}");
    }
}
