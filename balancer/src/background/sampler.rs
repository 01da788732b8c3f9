//! Samples data nodes' memory with `INFO` on an interval: every node that
//! no probe agent reports. Agents are the memory source where they run;
//! this is the fallback where none does. A sample is one of the balancer's
//! own checks: an answer counts toward `failure.rise`, a failure marks the
//! node down here at once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::metrics::Metrics;
use crate::nodes::{Membership, Node, NodeTable};
use memreport::info;

/// Samples all nodes at once and records the results; `rise` answers in
/// a row bring back a node this balancer marked down.
pub async fn sample_all(nodes: &NodeTable, metrics: &Metrics, rise: u32) {
    let rounds = nodes
        .all()
        .iter()
        .filter(|n| !n.is_covered_by_agent())
        .map(|n| sample_node(n, rise));
    join_all(rounds).await;
    metrics.record_nodes(nodes);
}

async fn sample_node(node: &Node, rise: u32) {
    let cmd = redis::cmd("INFO").arg(&info::SECTIONS).clone();
    match node.backend.cmd::<String>(&cmd).await {
        Ok(text) => node.record_sample(info::parse(&text), rise),
        Err(e) => node.mark_own_down(&e),
    }
}

/// Samples every `interval` until `shutdown` turns true.
pub async fn run(
    nodes: Arc<Membership>,
    metrics: Arc<Metrics>,
    interval: Duration,
    rise: u32,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => sample_all(&nodes.current(), &metrics, rise).await,
            _ = shutdown.changed() => return,
        }
    }
}
