//! The balancer's own health checks: every interval, each data node is
//! asked `INFO server`. An answer marks the node up and reports its
//! `run_id` (a new one means it restarted empty); a failure or a timeout
//! counts toward the node's failure streak, as a failed request does, so a
//! hung node (SIGSTOP) is ejected as surely as a dead one.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::metrics::Metrics;
use crate::nodes::{Membership, Node};
use memreport::info;

/// Checks every node every `interval` until `shutdown` turns true.
pub(crate) async fn run(
    nodes: Arc<Membership>,
    metrics: Arc<Metrics>,
    interval: Duration,
    eject_after: u32,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let table = nodes.current();
                join_all(table.all().iter().map(|n| check(n, eject_after, &metrics))).await;
                metrics.record_nodes(&table);
            }
            _ = shutdown.changed() => return,
        }
    }
}

async fn check(node: &Node, eject_after: u32, metrics: &Metrics) {
    let cmd = redis::cmd("INFO").arg("server").clone();
    match node.backend.cmd::<String>(&cmd).await {
        Ok(text) => node.record_alive(&info::parse(&text).run_id),
        Err(e) => metrics.count_failure(node, &e, eject_after),
    }
}
