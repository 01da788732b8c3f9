//! The history checker: per key, a last-writer-wins register with unique
//! values, deletes being writes of "absent", ordered by the balancers'
//! versions (Elle/Porcupine-style, specialised to this register).
//!
//! **The model.** Every put writes a value no other put writes, so a read's
//! value names the put that wrote it. A write's place in the register's
//! order is its version (`X-Cache-Version`, or a put's `version` field):
//! the data nodes keep the highest, so an acknowledged write with version
//! `v` means every later read returns something at least as new as `v`.
//! Operations that ended `info` may have happened, at any time after their
//! invocation, so their version is unknown; it is bounded above by their
//! invocation's wall clock plus a horizon (the request budget and the
//! clock drift a balancer may adopt: nothing stamps later). An answered
//! write without a version (a delete answered 404 may still have written
//! a tombstone) was stamped before its answer: its bound is its
//! completion's wall clock plus the slack a balancer's clock may run
//! ahead. Failed operations did not happen.
//!
//! A read's value `x` has an upper bound `hi(x)`: its put's version when
//! known (or the version the read itself carried), else that put's bound;
//! for a miss, the highest bound of the deletes that may have produced it
//! (none: the key was never deleted, the minimum). The read is *provably
//! older* than an acknowledged write or delete `W` when `hi(x) < v(W)`.
//!
//! **Anomalies** (each read gives at most one):
//! - `lost_write`: a read returns a value no put wrote before the read
//!   ended (or one a failed put wrote); or a *final* read (after every
//!   fault was healed and the cluster settled) is provably older than an
//!   acknowledged put — a value older than it, or a miss no delete can
//!   explain.
//! - `resurrected`: a read returns a value provably older than an
//!   acknowledged delete `D` that it had to see (below), `D` being the
//!   newest such operation, and no put that may be newer than `D` began
//!   before the read ended: the key came back.
//! - `stale_read`: any other mid-run read provably older than an
//!   acknowledged operation `W` it had to see.
//!
//! A read *had to see* `W` when `W` completed before the read began through
//! the same balancer (read-your-writes, strictly), or through another one
//! more than `lag_bound` earlier; final reads had to see everything. For
//! reads older than a `W` of another balancer that completed before they
//! began, the largest gap (read invocation − `W` completion) is the
//! `worst_cross_balancer_lag_ms`, within the bound or not.
//!
//! Everything is per key and indexed (prefix maxima over operations sorted
//! by time), so a 30-minute history checks in seconds.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::history::{Kind, Op, Outcome};
use crate::version::Version;

/// The checker's settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// How long after another balancer's acknowledged write a read may
    /// still miss it, µs.
    pub lag_bound_us: u64,
    /// How long after its invocation an operation of unknown outcome may
    /// still be stamped, by the stamping balancer's clock, ms.
    pub info_horizon_ms: u64,
    /// How far ahead of the harness's wall clock a balancer may stamp, ms:
    /// the drift bound it may adopt (`max_clock_drift_ms`) plus its test
    /// clock offset. Bounds answered operations that carry no version.
    pub stamp_slack_ms: u64,
    /// Operations of an anomaly's key history kept in the report at most
    /// (the latest; the rest are counted as omitted).
    pub max_history: usize,
    /// Anomalies of each kind reported with their evidence (the earliest);
    /// the rest are only counted.
    pub max_detailed: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lag_bound_us: 250_000,
            info_horizon_ms: 10_000,
            stamp_slack_ms: 1_500,
            max_history: 200,
            max_detailed: 20,
        }
    }
}

/// The kinds of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// An acknowledged write is gone, or a value nobody wrote appeared.
    LostWrite,
    /// A value deleted by an acknowledged delete came back.
    Resurrected,
    /// A read missed a write it had to see.
    StaleRead,
}

impl AnomalyKind {
    /// Every kind, in report order.
    pub const ALL: [AnomalyKind; 3] = [
        AnomalyKind::LostWrite,
        AnomalyKind::Resurrected,
        AnomalyKind::StaleRead,
    ];

    /// The name used in the summary.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::LostWrite => "lost_write",
            AnomalyKind::Resurrected => "resurrected",
            AnomalyKind::StaleRead => "stale_read",
        }
    }
}

/// One anomaly and the evidence for it.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    /// What kind.
    pub kind: AnomalyKind,
    /// The key.
    pub key: String,
    /// What is wrong, in words.
    pub what: String,
    /// The read that shows it.
    pub read: Op,
    /// The acknowledged operation the read should have reflected.
    pub missed: Option<Op>,
    /// The put that wrote the value the read returned.
    pub writer: Option<Op>,
    /// The read's invocation minus `missed`'s completion, ms.
    pub lag_ms: Option<f64>,
    /// The key's operations around it, by invocation: from a second before
    /// the earliest of the read, `missed` and `writer` to the read's end.
    pub history: Vec<Op>,
    /// Operations of that window left out (the earliest) to keep it short.
    pub history_omitted: usize,
}

/// What the checker found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Anomalies per kind, every kind present.
    pub counts: BTreeMap<&'static str, usize>,
    /// The first [`Config::max_detailed`] anomalies of each kind, with
    /// their evidence, by the read's invocation.
    pub anomalies: Vec<Anomaly>,
    /// The largest read invocation − write completion over reads older
    /// than an acknowledged write of another balancer, ms.
    pub worst_cross_balancer_lag_ms: Option<f64>,
    /// Reads checked (ok reads, final ones included).
    pub reads_checked: usize,
}

/// Checks a whole history (any order; ids index nothing).
pub fn check(history: &[Op], config: &Config) -> Report {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history {
        by_key.entry(&op.key).or_default().push(op);
    }
    let keys: Vec<KeyIndex> = by_key
        .into_values()
        .map(|ops| KeyIndex::new(ops, config))
        .collect();
    let mut report = Report {
        counts: AnomalyKind::ALL.iter().map(|k| (k.name(), 0)).collect(),
        ..Report::default()
    };
    let mut worst_lag_us: Option<u64> = None;
    let mut found = Vec::new();
    for key in &keys {
        for &read in key.ops.iter().filter(|o| o.is_ok_read()) {
            report.reads_checked += 1;
            let verdict = key.check_read(read);
            if let Some(lag) = verdict.cross_lag_us {
                worst_lag_us = Some(worst_lag_us.map_or(lag, |w| w.max(lag)));
            }
            if let Some(anomaly) = verdict.anomaly {
                *report.counts.entry(anomaly.kind.name()).or_default() += 1;
                found.push((key, read, anomaly));
            }
        }
    }
    // The earliest of each kind get their evidence gathered.
    found.sort_by_key(|(_, read, _)| (read.invoke_us, read.id));
    let mut detailed: BTreeMap<AnomalyKind, usize> = BTreeMap::new();
    for (key, read, anomaly) in found {
        let n = detailed.entry(anomaly.kind).or_default();
        if *n < config.max_detailed {
            *n += 1;
            report.anomalies.push(key.anomaly(read, anomaly));
        }
    }
    report.worst_cross_balancer_lag_ms = worst_lag_us.map(us_to_ms);
    report
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// An anomaly before its evidence is gathered.
struct Found<'h> {
    kind: AnomalyKind,
    what: String,
    missed: Option<&'h Op>,
    writer: Option<&'h Op>,
}

/// What one read shows.
struct Verdict<'h> {
    anomaly: Option<Found<'h>>,
    /// Read invocation − completion of the earliest acknowledged operation
    /// of another balancer it is older than.
    cross_lag_us: Option<u64>,
}

/// Acknowledged operations of one balancer on one key, by completion,
/// with the newest version so far at each.
#[derive(Default)]
struct Acked<'h> {
    complete_us: Vec<u64>,
    newest: Vec<(Version, &'h Op)>,
}

impl<'h> Acked<'h> {
    /// The newest acknowledged operation that completed before `cutoff_us`.
    fn newest_before(&self, cutoff_us: u64) -> Option<&(Version, &'h Op)> {
        let n = self.complete_us.partition_point(|&c| c < cutoff_us);
        n.checked_sub(1).map(|i| &self.newest[i])
    }

    /// The completion of the first operation newer than `version`.
    fn first_newer_than(&self, version: &Version) -> Option<u64> {
        let i = self.newest.partition_point(|(v, _)| v <= version);
        self.complete_us.get(i).copied()
    }
}

/// Writes that may have happened, by invocation, with the highest version
/// bound so far at each.
#[derive(Default)]
struct Bounds {
    invoke_us: Vec<u64>,
    highest: Vec<Version>,
}

impl Bounds {
    fn new(mut ops: Vec<(u64, Version)>) -> Bounds {
        ops.sort_by_key(|(t, _)| *t);
        let mut bounds = Bounds::default();
        for (t, v) in ops {
            let v = match bounds.highest.last() {
                Some(h) if *h > v => h.clone(),
                _ => v,
            };
            bounds.invoke_us.push(t);
            bounds.highest.push(v);
        }
        bounds
    }

    /// The highest bound among those invoked before `cutoff_us`.
    fn highest_before(&self, cutoff_us: u64) -> Option<&Version> {
        let n = self.invoke_us.partition_point(|&t| t < cutoff_us);
        n.checked_sub(1).map(|i| &self.highest[i])
    }
}

/// One key's history, indexed for checking its reads.
struct KeyIndex<'h> {
    config: &'h Config,
    ops: Vec<&'h Op>,
    writers: HashMap<&'h str, &'h Op>,
    acked: BTreeMap<&'h str, Acked<'h>>,
    puts: Bounds,
    deletes: Bounds,
}

impl<'h> KeyIndex<'h> {
    fn new(mut ops: Vec<&'h Op>, config: &'h Config) -> KeyIndex<'h> {
        ops.sort_by_key(|o| (o.invoke_us, o.id));
        let mut writers = HashMap::new();
        let mut acked: BTreeMap<&str, Vec<(u64, Version, &Op)>> = BTreeMap::new();
        let (mut puts, mut deletes) = (Vec::new(), Vec::new());
        for &op in &ops {
            if op.kind == Kind::Put
                && let Some(value) = &op.value
            {
                writers.insert(value.as_str(), op);
            }
            if let Some(v) = op.acked_version() {
                acked
                    .entry(&op.balancer)
                    .or_default()
                    .push((op.complete_us, v, op));
            }
            if op.may_write() {
                let bound = (op.invoke_us, upper_bound(op, config));
                match op.kind {
                    Kind::Put => puts.push(bound),
                    Kind::Delete => deletes.push(bound),
                    Kind::Get => {}
                }
            }
        }
        let acked = acked
            .into_iter()
            .map(|(balancer, mut list)| {
                list.sort_by_key(|(t, _, _)| *t);
                let mut index = Acked::default();
                for (t, v, op) in list {
                    let newest = match index.newest.last() {
                        Some(n) if n.0 > v => n.clone(),
                        _ => (v, op),
                    };
                    index.complete_us.push(t);
                    index.newest.push(newest);
                }
                (balancer, index)
            })
            .collect();
        KeyIndex {
            config,
            ops,
            writers,
            acked,
            puts: Bounds::new(puts),
            deletes: Bounds::new(deletes),
        }
    }

    fn check_read(&self, read: &'h Op) -> Verdict<'h> {
        let clean = |cross_lag_us| Verdict {
            anomaly: None,
            cross_lag_us,
        };
        // The newest version the returned value (or miss) may have.
        let (hi, writer) = match &read.value {
            Some(value) => match self.writers.get(value.as_str()) {
                None => return garbage(None, "a value no put wrote"),
                Some(w) if w.outcome == Outcome::Fail => {
                    return garbage(Some(w), "the value of a put that failed");
                }
                Some(w) if w.invoke_us > read.complete_us => {
                    return garbage(Some(w), "a value written only after the read");
                }
                Some(&w) => {
                    let hi = read
                        .parsed_version()
                        .or_else(|| w.acked_version())
                        .unwrap_or_else(|| upper_bound(w, self.config));
                    (hi, Some(w))
                }
            },
            None => (
                self.deletes
                    .highest_before(read.complete_us)
                    .cloned()
                    .unwrap_or(Version::MIN),
                None,
            ),
        };

        // The newest acknowledged operation the read had to see.
        let mut missed: Option<&(Version, &Op)> = None;
        let mut cross_lag_us = None;
        for (balancer, acked) in &self.acked {
            let same = *balancer == read.balancer;
            let cutoff = if same || read.final_read {
                read.invoke_us
            } else {
                read.invoke_us.saturating_sub(self.config.lag_bound_us)
            };
            if let Some(newest) = acked.newest_before(cutoff)
                && missed.is_none_or(|m| newest.0 > m.0)
            {
                missed = Some(newest);
            }
            if !same
                && !read.final_read
                && let Some(t) = acked.first_newer_than(&hi)
                && t < read.invoke_us
            {
                let lag = read.invoke_us - t;
                cross_lag_us = Some(cross_lag_us.map_or(lag, |l: u64| l.max(lag)));
            }
        }
        let Some((missed_version, missed)) = missed.filter(|m| m.0 > hi) else {
            return clean(cross_lag_us);
        };

        let newer_put_began = self
            .puts
            .highest_before(read.complete_us)
            .is_some_and(|p| p > missed_version);
        let (kind, what) = match (missed.kind, &read.value) {
            (Kind::Delete, Some(_)) if read.final_read || !newer_put_began => (
                AnomalyKind::Resurrected,
                "returned a value older than an acknowledged delete",
            ),
            (_, Some(_)) if read.final_read => (
                AnomalyKind::LostWrite,
                "the final read returned a value older than an acknowledged put",
            ),
            (_, None) if read.final_read => (
                AnomalyKind::LostWrite,
                "the final read missed the key although an acknowledged put is newer than every delete",
            ),
            (_, Some(_)) => (
                AnomalyKind::StaleRead,
                "returned a value older than an acknowledged operation it had to see",
            ),
            (_, None) => (
                AnomalyKind::StaleRead,
                "missed the key although an acknowledged put it had to see is newer than every delete",
            ),
        };
        Verdict {
            anomaly: Some(Found {
                kind,
                what: what.to_string(),
                missed: Some(missed),
                writer,
            }),
            cross_lag_us,
        }
    }

    fn anomaly(&self, read: &Op, found: Found<'h>) -> Anomaly {
        let start = [Some(read), found.missed, found.writer]
            .into_iter()
            .flatten()
            .map(|o| o.invoke_us)
            .min()
            .unwrap_or(read.invoke_us)
            .saturating_sub(1_000_000);
        let window: Vec<&Op> = self
            .ops
            .iter()
            .copied()
            .filter(|o| o.complete_us >= start && o.invoke_us <= read.complete_us)
            .collect();
        let omitted = window.len().saturating_sub(self.config.max_history);
        Anomaly {
            kind: found.kind,
            key: read.key.clone(),
            what: found.what,
            read: read.clone(),
            lag_ms: found
                .missed
                .map(|m| us_to_ms(read.invoke_us.saturating_sub(m.complete_us))),
            missed: found.missed.cloned(),
            writer: found.writer.cloned(),
            history: window[omitted..].iter().map(|&o| o.clone()).collect(),
            history_omitted: omitted,
        }
    }
}

/// A read of a value that cannot be there: a lost write.
fn garbage<'h>(writer: Option<&'h Op>, what: &str) -> Verdict<'h> {
    Verdict {
        anomaly: Some(Found {
            kind: AnomalyKind::LostWrite,
            what: format!("returned {what}"),
            missed: None,
            writer,
        }),
        cross_lag_us: None,
    }
}

/// The highest version `op` may have: its own when known; else, for an
/// answered operation (a delete answered 404 may have written a tombstone
/// it does not name), its completion's wall clock plus the stamp slack;
/// else its invocation's wall clock plus the horizon.
fn upper_bound(op: &Op, config: &Config) -> Version {
    op.parsed_version().unwrap_or_else(|| {
        let after_invoke = if op.outcome == Outcome::Ok {
            (op.complete_us.saturating_sub(op.invoke_us) / 1000)
                .saturating_add(config.stamp_slack_ms)
        } else {
            config.info_horizon_ms
        };
        Version::upper_bound_at(op.invoke_wall_ms.saturating_add(after_invoke))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds histories: times in ms, the wall clock equal to them, and
    /// versions `<ms>.0.<balancer>` at each write's completion unless given.
    #[derive(Default)]
    struct H {
        ops: Vec<Op>,
    }

    impl H {
        #[allow(clippy::too_many_arguments)]
        fn push(
            &mut self,
            kind: Kind,
            balancer: &str,
            value: Option<&str>,
            span: (u64, u64),
            outcome: Outcome,
            status: Option<u16>,
            version: Option<String>,
        ) -> usize {
            let id = self.ops.len();
            self.ops.push(Op {
                id,
                client: 0,
                balancer: balancer.into(),
                key: "k".into(),
                kind,
                value: value.map(str::to_string),
                invoke_us: span.0 * 1000,
                complete_us: span.1 * 1000,
                invoke_wall_ms: 1_000_000 + span.0,
                outcome,
                status,
                version,
                error: None,
                node: None,
                final_read: false,
            });
            id
        }

        fn stamp(balancer: &str, at_ms: u64) -> Option<String> {
            Some(format!("{:013}.000000.{balancer}", 1_000_000 + at_ms))
        }

        /// An acknowledged put, stamped at its completion.
        fn put(&mut self, b: &str, value: &str, span: (u64, u64)) -> usize {
            let v = H::stamp(b, span.1);
            self.push(Kind::Put, b, Some(value), span, Outcome::Ok, Some(200), v)
        }

        /// A put with an unknown outcome.
        fn put_info(&mut self, b: &str, value: &str, span: (u64, u64)) -> usize {
            self.push(Kind::Put, b, Some(value), span, Outcome::Info, None, None)
        }

        /// An acknowledged delete (204), stamped at its completion.
        fn delete(&mut self, b: &str, span: (u64, u64)) -> usize {
            let v = H::stamp(b, span.1);
            self.push(Kind::Delete, b, None, span, Outcome::Ok, Some(204), v)
        }

        fn get(&mut self, b: &str, value: Option<&str>, span: (u64, u64)) -> usize {
            let status = if value.is_some() { 200 } else { 404 };
            self.push(Kind::Get, b, value, span, Outcome::Ok, Some(status), None)
        }

        fn final_get(&mut self, b: &str, value: Option<&str>, at: u64) -> usize {
            let id = self.get(b, value, (at, at + 1));
            self.ops[id].final_read = true;
            id
        }

        fn check(&self) -> Report {
            check(&self.ops, &Config::default())
        }
    }

    fn kinds(report: &Report) -> Vec<(AnomalyKind, usize)> {
        report
            .anomalies
            .iter()
            .map(|a| (a.kind, a.read.id))
            .collect()
    }

    #[test]
    fn a_correct_history_has_no_anomaly() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.get("b1", Some("a"), (20, 25));
        h.get("b2", Some("a"), (30, 35));
        h.put("b2", "b", (40, 50));
        h.get("b2", Some("b"), (60, 65));
        h.delete("b1", (70, 80));
        h.get("b1", None, (90, 95));
        h.get("b2", None, (400, 405));
        h.final_get("b1", None, 1000);
        h.final_get("b2", None, 1000);
        let report = h.check();
        assert!(report.anomalies.is_empty(), "{:#?}", report.anomalies);
        assert_eq!(report.reads_checked, 7);
        assert_eq!(report.worst_cross_balancer_lag_ms, None);
    }

    #[test]
    fn a_final_read_older_than_an_acknowledged_put_is_a_lost_write() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        let lost = h.put("b2", "b", (20, 30));
        let read = h.final_get("b1", Some("a"), 1000);
        let report = h.check();
        assert_eq!(kinds(&report), [(AnomalyKind::LostWrite, read)]);
        let a = &report.anomalies[0];
        assert_eq!(a.missed.as_ref().unwrap().id, lost);
        assert_eq!(a.writer.as_ref().unwrap().value.as_deref(), Some("a"));
        assert_eq!(a.history.len(), 3);
        assert_eq!(report.counts["lost_write"], 1);
        assert_eq!(report.counts["stale_read"], 0);
    }

    #[test]
    fn a_final_miss_after_an_acknowledged_put_is_a_lost_write() {
        let mut h = H::default();
        h.delete("b1", (0, 10));
        h.put("b1", "a", (20, 30));
        let read = h.final_get("b2", None, 1000);
        assert_eq!(kinds(&h.check()), [(AnomalyKind::LostWrite, read)]);
    }

    #[test]
    fn a_value_nobody_wrote_or_a_failed_put_wrote_is_a_lost_write() {
        let mut h = H::default();
        h.push(
            Kind::Put,
            "b1",
            Some("refused"),
            (0, 5),
            Outcome::Fail,
            Some(400),
            None,
        );
        let a = h.get("b1", Some("nobody"), (10, 15));
        let b = h.get("b1", Some("refused"), (20, 25));
        let c = h.get("b1", Some("later"), (30, 35));
        h.put("b2", "later", (40, 50));
        assert_eq!(
            kinds(&h.check()),
            [
                (AnomalyKind::LostWrite, a),
                (AnomalyKind::LostWrite, b),
                (AnomalyKind::LostWrite, c)
            ]
        );
    }

    #[test]
    fn a_value_older_than_an_acknowledged_delete_is_resurrected() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.delete("b1", (20, 30));
        let mid = h.get("b1", Some("a"), (40, 45));
        let fin = h.final_get("b2", Some("a"), 1000);
        let report = h.check();
        assert_eq!(
            kinds(&report),
            [
                (AnomalyKind::Resurrected, mid),
                (AnomalyKind::Resurrected, fin)
            ]
        );
        assert_eq!(report.anomalies[0].lag_ms, Some(10.0));
    }

    #[test]
    fn a_stale_value_while_a_newer_put_runs_is_a_stale_read_not_a_resurrection() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.delete("b1", (20, 30));
        h.put_info("b2", "c", (35, 2035));
        let read = h.get("b1", Some("a"), (40, 45));
        assert_eq!(kinds(&h.check()), [(AnomalyKind::StaleRead, read)]);
    }

    #[test]
    fn read_your_writes_holds_strictly_through_one_balancer() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.put("b1", "b", (20, 30));
        let read = h.get("b1", Some("a"), (31, 35));
        let report = h.check();
        assert_eq!(kinds(&report), [(AnomalyKind::StaleRead, read)]);
        assert_eq!(report.anomalies[0].lag_ms, Some(1.0));
        assert_eq!(report.worst_cross_balancer_lag_ms, None);
    }

    #[test]
    fn another_balancer_may_lag_up_to_the_bound_and_the_worst_lag_is_measured() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.put("b1", "b", (20, 30));
        h.get("b2", Some("a"), (130, 135)); // 100 ms behind: allowed
        let report = h.check();
        assert!(report.anomalies.is_empty(), "{:#?}", report.anomalies);
        assert_eq!(report.worst_cross_balancer_lag_ms, Some(100.0));

        let late = h.get("b2", Some("a"), (430, 435)); // 400 ms behind
        let report = h.check();
        assert_eq!(kinds(&report), [(AnomalyKind::StaleRead, late)]);
        assert_eq!(report.worst_cross_balancer_lag_ms, Some(400.0));
    }

    #[test]
    fn a_read_concurrent_with_a_put_may_return_either_value() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.put("b1", "b", (20, 40));
        h.get("b1", Some("a"), (30, 35));
        h.get("b1", Some("b"), (30, 35));
        assert!(h.check().anomalies.is_empty());
    }

    #[test]
    fn an_info_op_explains_the_value_or_the_miss_it_may_have_written() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.put_info("b2", "b", (20, 2020));
        h.get("b1", Some("b"), (30, 35));
        h.get("b1", Some("a"), (40, 45)); // b may not have happened yet
        h.final_get("b1", Some("b"), 3000);
        assert!(h.check().anomalies.is_empty());

        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.push(
            Kind::Delete,
            "b2",
            None,
            (20, 2020),
            Outcome::Info,
            None,
            None,
        );
        h.final_get("b1", None, 3000);
        assert!(h.check().anomalies.is_empty());
    }

    #[test]
    fn an_info_op_is_bounded_by_the_horizon() {
        // An unknown put invoked at 0 can have no version past 0 + 10 s: a
        // put acknowledged 20 s later is newer, so reading the unknown
        // put's value after it is stale.
        let mut h = H::default();
        h.put_info("b1", "a", (0, 2000));
        h.put("b1", "b", (20_000, 20_010));
        let read = h.get("b1", Some("a"), (20_020, 20_025));
        assert_eq!(kinds(&h.check()), [(AnomalyKind::StaleRead, read)]);
    }

    #[test]
    fn a_delete_answered_404_may_have_left_a_tombstone() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.push(
            Kind::Delete,
            "b2",
            None,
            (5, 15),
            Outcome::Ok,
            Some(404),
            None,
        );
        h.final_get("b1", None, 3000);
        assert!(h.check().anomalies.is_empty());
    }

    #[test]
    fn a_delete_answered_404_long_before_a_put_explains_no_later_miss() {
        let mut h = H::default();
        h.push(
            Kind::Delete,
            "b2",
            None,
            (0, 10),
            Outcome::Ok,
            Some(404),
            None,
        );
        h.put("b1", "a", (5000, 5010));
        let read = h.final_get("b1", None, 6000);
        assert_eq!(kinds(&h.check()), [(AnomalyKind::LostWrite, read)]);
    }

    #[test]
    fn versions_not_arrival_order_writes() {
        // b2's clock runs behind: its put, acknowledged later, is older and
        // loses; reads of b1's value are right.
        let mut h = H::default();
        h.put("b1", "a", (0, 100));
        h.push(
            Kind::Put,
            "b2",
            Some("b"),
            (200, 210),
            Outcome::Ok,
            Some(200),
            H::stamp("b2", 50),
        );
        h.get("b2", Some("a"), (220, 230));
        h.final_get("b1", Some("a"), 1000);
        assert!(h.check().anomalies.is_empty());
    }

    #[test]
    fn a_version_the_read_carries_wins_over_the_bound() {
        let mut h = H::default();
        h.put_info("b1", "a", (0, 2000));
        h.put("b1", "b", (100, 110));
        // The read says "a" was stamped at 50: older than "b".
        let read = h.push(
            Kind::Get,
            "b1",
            Some("a"),
            (200, 210),
            Outcome::Ok,
            Some(200),
            H::stamp("b1", 50),
        );
        assert_eq!(kinds(&h.check()), [(AnomalyKind::StaleRead, read)]);
    }

    #[test]
    fn failed_and_unknown_reads_are_not_checked() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.push(Kind::Get, "b1", None, (20, 30), Outcome::Info, None, None);
        h.push(
            Kind::Get,
            "b1",
            None,
            (20, 30),
            Outcome::Fail,
            Some(503),
            None,
        );
        let report = h.check();
        assert!(report.anomalies.is_empty());
        assert_eq!(report.reads_checked, 0);
    }

    #[test]
    fn only_the_earliest_anomalies_of_a_kind_carry_evidence() {
        let mut h = H::default();
        h.put("b1", "a", (0, 10));
        h.put("b1", "b", (20, 30));
        for i in 0..5 {
            h.get("b1", Some("a"), (100 + i, 101 + i));
        }
        let config = Config {
            max_detailed: 2,
            ..Config::default()
        };
        let report = check(&h.ops, &config);
        assert_eq!(report.counts["stale_read"], 5);
        let reads: Vec<u64> = report.anomalies.iter().map(|a| a.read.invoke_us).collect();
        assert_eq!(reads, [100_000, 101_000]);
    }

    #[test]
    fn a_long_history_is_cut_to_its_latest_operations() {
        let mut h = H::default();
        for i in 0..300 {
            h.get("b1", None, (i, i + 1));
        }
        h.put("b1", "a", (300, 310));
        h.final_get("b1", None, 400);
        let config = Config {
            max_history: 50,
            ..Config::default()
        };
        let report = check(&h.ops, &config);
        let a = &report.anomalies[0];
        assert_eq!(a.history.len(), 50);
        assert!(a.history_omitted > 0);
        assert_eq!(a.history.last().unwrap().id, a.read.id);
    }
}
