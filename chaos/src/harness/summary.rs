//! The run's summary: the JSON written to `--summary-json` and the short
//! table printed at the end. Both checkers' anomalies count alike: any
//! makes the run fail.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chaos::checker::{Anomaly, Report};
use chaos::history::{Kind, Op, Outcome};
use chaos::leader_checker::{self, Span};
use chaos::leader_polls::Poll;
use serde::Serialize;

use super::Plan;
use super::nemesis::{FaultEvent, Record};

/// One RSS sample of one process.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RssSample {
    /// When, s since the run started.
    pub(crate) t_s: f64,
    /// The process's pid then (it changes on restarts); none while down.
    pub(crate) pid: Option<u32>,
    /// VmRSS, KiB; none while down.
    pub(crate) rss_kib: Option<u64>,
}

/// What the summary takes besides the history and the report.
#[derive(Debug)]
pub(crate) struct Extras {
    /// Key × balancer final reads that never answered.
    pub(crate) unanswered_final_reads: usize,
    /// What did not settle before the final reads.
    pub(crate) unsettled: Vec<String>,
    /// Writes by where their replica set came from, since each
    /// balancer's last start.
    pub(crate) write_locations: BTreeMap<&'static str, usize>,
    /// The injected put, if any.
    pub(crate) injected: Option<Op>,
    /// The leadership checker's report.
    pub(crate) leaders: leader_checker::Report,
    /// RSS series per process (the harness itself as `chaos`).
    pub(crate) rss: BTreeMap<String, Vec<RssSample>>,
    /// Logs and configs.
    pub(crate) run_dir: PathBuf,
    /// Seconds from the cluster being up to the end of the checks.
    pub(crate) wall_s: f64,
}

/// The summary, as written.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    duration_s: f64,
    wall_s: f64,
    seed: u64,
    balancers: usize,
    nodes: usize,
    clients: usize,
    keys: usize,
    /// Every operation, final reads included.
    pub(crate) ops: usize,
    ops_by_kind: BTreeMap<&'static str, usize>,
    ops_by_outcome: BTreeMap<&'static str, usize>,
    /// Puts and deletes acknowledged with a version.
    acked_writes: usize,
    acked_puts: usize,
    acked_deletes: usize,
    faults: BTreeMap<&'static str, usize>,
    fault_log: Vec<FaultEvent>,
    /// Anomalies per kind, the leadership checker's included.
    pub(crate) anomalies: BTreeMap<&'static str, usize>,
    /// The first anomalies of each kind (`--max-detailed`) with their key
    /// histories.
    anomaly_details: Vec<Anomaly>,
    worst_cross_balancer_lag_ms: Option<f64>,
    lag_bound_ms: f64,
    reads_checked: usize,
    /// Key × balancer final reads that never answered.
    pub(crate) unanswered_final_reads: usize,
    unsettled: Vec<String>,
    write_locations: BTreeMap<&'static str, usize>,
    injected: Option<Op>,
    /// What the leadership poller saw: counts, and the evidence of its
    /// anomalies.
    leadership: leader_checker::Report,
    rss_kib: BTreeMap<String, Vec<RssSample>>,
    run_dir: String,
}

impl Summary {
    /// Summarises a checked run.
    pub(crate) fn new(
        plan: &Plan,
        ops: &[Op],
        faults: &Record,
        report: Report,
        extras: Extras,
    ) -> Summary {
        let mut ops_by_kind = BTreeMap::new();
        let mut ops_by_outcome = BTreeMap::new();
        let (mut acked_puts, mut acked_deletes) = (0, 0);
        for op in ops {
            let kind = match op.kind {
                Kind::Get => "get",
                Kind::Put => "put",
                Kind::Delete => "delete",
            };
            *ops_by_kind.entry(kind).or_default() += 1;
            let outcome = match op.outcome {
                Outcome::Ok => "ok",
                Outcome::Fail => "fail",
                Outcome::Info => "info",
            };
            *ops_by_outcome.entry(outcome).or_default() += 1;
            if op.acked_version().is_some() {
                match op.kind {
                    Kind::Put => acked_puts += 1,
                    _ => acked_deletes += 1,
                }
            }
        }
        let mut details = report.anomalies;
        details.sort_by_key(|a| a.kind);
        let mut anomalies = report.counts;
        anomalies.extend(extras.leaders.counts.clone());
        Summary {
            duration_s: plan.duration.as_secs_f64(),
            wall_s: extras.wall_s,
            seed: plan.seed,
            balancers: plan.shape.balancers,
            nodes: plan.shape.nodes,
            clients: plan.clients,
            keys: plan.keys,
            ops: ops.len(),
            ops_by_kind,
            ops_by_outcome,
            acked_writes: acked_puts + acked_deletes,
            acked_puts,
            acked_deletes,
            faults: faults.counts(&plan.faults),
            fault_log: faults.events.clone(),
            anomalies,
            anomaly_details: details,
            worst_cross_balancer_lag_ms: report.worst_cross_balancer_lag_ms,
            lag_bound_ms: plan.check.lag_bound_us as f64 / 1000.0,
            reads_checked: report.reads_checked,
            unanswered_final_reads: extras.unanswered_final_reads,
            unsettled: extras.unsettled,
            write_locations: extras.write_locations,
            injected: extras.injected,
            leadership: extras.leaders,
            rss_kib: extras.rss,
            run_dir: extras.run_dir.display().to_string(),
        }
    }

    /// Anomalies of any kind.
    pub(crate) fn anomaly_total(&self) -> usize {
        self.anomalies.values().sum()
    }

    /// The short table for stdout.
    pub(crate) fn table(&self) -> String {
        let list = |m: &BTreeMap<&'static str, usize>| {
            if m.is_empty() {
                return "none".to_string();
            }
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = String::new();
        let mut line = |name: &str, value: String| {
            out.push_str(&format!("{name:<28} {value}\n"));
        };
        line(
            "run",
            format!(
                "{:.0} s load, {} balancers, {} nodes, {} clients, {} keys, seed {}",
                self.duration_s, self.balancers, self.nodes, self.clients, self.keys, self.seed
            ),
        );
        line(
            "ops",
            format!("{} ({})", self.ops, list(&self.ops_by_outcome)),
        );
        line(
            "acked writes",
            format!(
                "{} (puts {}, deletes {})",
                self.acked_writes, self.acked_puts, self.acked_deletes
            ),
        );
        line("faults", list(&self.faults));
        line(
            "write sets from",
            format!(
                "{} (since each balancer's last start)",
                list(&self.write_locations)
            ),
        );
        line("anomalies", list(&self.anomalies));
        line("leader polls", self.leader_polls());
        line(
            "worst cross-balancer lag",
            match self.worst_cross_balancer_lag_ms {
                Some(ms) => format!("{ms:.1} ms (bound {:.0} ms)", self.lag_bound_ms),
                None => format!("none seen (bound {:.0} ms)", self.lag_bound_ms),
            },
        );
        if self.unanswered_final_reads > 0 {
            line(
                "unanswered final reads",
                self.unanswered_final_reads.to_string(),
            );
        }
        for a in self.anomaly_details.iter().take(5) {
            line(
                &format!("  {}", a.kind.name()),
                format!(
                    "{} via {} at {:.3} s: {}",
                    a.key,
                    a.read.balancer,
                    a.read.invoke_us as f64 / 1e6,
                    a.what
                ),
            );
        }
        for e in self.leadership.two_leaders.iter().take(5) {
            let [a, b] = &e.first_pair;
            line(
                "  two_leaders",
                format!(
                    "{} ({}) and {} ({}) from {:.3} s to {:.3} s, {} pairs; the first sent at {:.3} s and {:.3} s",
                    a.balancer,
                    token(a),
                    b.balancer,
                    token(b),
                    s(e.span.from_us),
                    s(e.span.to_us),
                    e.pairs,
                    s(a.sent_us),
                    s(b.sent_us),
                ),
            );
        }
        for w in self.leadership.token_went_back.iter().take(5) {
            line(
                "  token_went_back",
                format!("at {:.3} s: {}", s(w.later.sent_us), w.what),
            );
        }
        out
    }

    /// The leadership poller's counts, one line.
    fn leader_polls(&self) -> String {
        let l = &self.leadership;
        let longest = match l.longest_without_leader {
            Some(span @ Span { from_us, to_us }) => format!(
                "{:.1} s ({:.1}–{:.1} s)",
                s(span.len_us()),
                s(from_us),
                s(to_us)
            ),
            None => "none".to_string(),
        };
        format!(
            "{} polls, {} answered, {} claims, {} leader changes, longest without a leader {longest}",
            l.polls, l.answers, l.claims, l.leader_changes
        )
    }
}

/// The token an answer reports, in words.
fn token(poll: &Poll) -> String {
    match poll.token() {
        Some(t) => format!("token {t}"),
        None => "token unknown".to_string(),
    }
}

/// µs since the run started as seconds.
fn s(us: u64) -> f64 {
    us as f64 / 1e6
}
