//! The balancer's own health checks: every interval, each data node is
//! asked `INFO server`. An answer counts toward bringing a node this
//! balancer marked down back (`failure.rise` in a row), reports its
//! `run_id` (a new one means it restarted empty) and its round trip; a
//! failure or a timeout counts toward the node's failure streak, as a
//! failed request does, so a hung node (SIGSTOP) is ejected as surely as a
//! dead one. After each round, [`outliers::decide`] ejects the nodes whose
//! checks answer far slower than the others' and lets back those that no
//! longer do.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::FailureConfig;
use crate::metrics::Metrics;
use crate::nodes::outliers::{self, Rules, Verdict};
use crate::nodes::{Membership, Node, NodeTable};
use memreport::info;

/// Checks every node every `failure.health_interval` until `shutdown`
/// turns true; latency ejection keeps at least `keep_up` nodes up.
pub(crate) async fn run(
    nodes: Arc<Membership>,
    metrics: Arc<Metrics>,
    failure: FailureConfig,
    keep_up: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let rules = Rules {
        factor: failure.latency_factor,
        margin: failure.latency_margin,
        max_percent: failure.max_ejected_percent,
        keep_up,
    };
    let mut ticker = tokio::time::interval(failure.health_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let table = nodes.current();
                join_all(table.all().iter().map(|n| check(n, &failure, &metrics))).await;
                eject_outliers(&table, &rules, &metrics);
                metrics.record_nodes(&table);
            }
            _ = shutdown.changed() => return,
        }
    }
}

async fn check(node: &Node, failure: &FailureConfig, metrics: &Metrics) {
    let cmd = redis::cmd("INFO").arg("server").clone();
    let sent = Instant::now();
    match node.backend.cmd::<String>(&cmd).await {
        Ok(text) => node.record_alive(&info::parse(&text).run_id, sent.elapsed(), failure.rise),
        Err(e) => metrics.count_failure(node, &e, failure.eject_after),
    }
}

/// Applies the latency outlier decision to the table.
fn eject_outliers(table: &NodeTable, rules: &Rules, metrics: &Metrics) {
    let observed: Vec<_> = table.all().iter().map(|n| n.observed()).collect();
    let verdicts = outliers::decide(&observed, rules);
    for (node, verdict) in table.all().iter().zip(verdicts) {
        match verdict {
            Verdict::Keep => {}
            Verdict::Eject { latency, reference } => {
                node.set_outlier(Some(format!(
                    "latency outlier: health checks take {} on average, the other nodes {}",
                    ms(latency),
                    ms(reference)
                )));
                metrics.ejections.with_label_values(&[&*node.id]).inc();
            }
            Verdict::Return => node.set_outlier(None),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
