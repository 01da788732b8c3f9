//! Samples data nodes' memory with `INFO` on an interval: every node that
//! no probe agent reports. Agents are the memory source where they run;
//! this is the fallback where none does.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::metrics::Metrics;
use crate::nodes::{Membership, Node, NodeTable};
use memreport::info;

/// Samples all nodes at once and records the results.
pub async fn sample_all(nodes: &NodeTable, metrics: &Metrics) {
    let rounds = nodes
        .all()
        .iter()
        .filter(|n| !n.is_covered_by_agent())
        .map(|n| sample_node(n));
    join_all(rounds).await;
    metrics.record_nodes(nodes);
}

async fn sample_node(node: &Node) {
    let cmd = redis::cmd("INFO").arg(&info::SECTIONS).clone();
    match node.backend.cmd::<String>(&cmd).await {
        Ok(text) => node.record_sample(info::parse(&text)),
        Err(e) => node.mark_down(&e),
    }
}

/// Samples every `interval` until `shutdown` turns true.
pub async fn run(
    nodes: Arc<Membership>,
    metrics: Arc<Metrics>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => sample_all(&nodes.current(), &metrics).await,
            _ = shutdown.changed() => return,
        }
    }
}
