//! Recording into the metric families: what the request path, the node
//! table and the background loops report.

use super::{Metrics, Op, Outcome};
use crate::index::IndexError;
use crate::nodes::{Node, NodeTable};

impl Metrics {
    /// Counts one finished cache operation and its latency.
    pub fn record_request(&self, op: Op, outcome: Outcome, seconds: f64) {
        if let Some(counter) = &self.request_counters[op as usize][outcome as usize] {
            counter.inc();
        }
        self.latency_histograms[op as usize].observe(seconds);
    }

    /// The front door closed or refused a client connection, for `reason`.
    pub fn connection_closed(&self, reason: &str) {
        self.connections_closed.with_label_values(&[reason]).inc();
    }

    /// A request or check to `node` failed: counts it toward the node's
    /// ejection after `eject_after` in a row, and counts the ejection.
    pub fn count_failure(&self, node: &Node, error: &dyn std::fmt::Display, eject_after: u32) {
        if node.record_failure(error, eject_after) {
            self.ejections.with_label_values(&[&*node.id]).inc();
        }
    }

    /// Counts a failed or skipped index call.
    pub fn count_index_error(&self, e: &IndexError) {
        let kind = match e {
            IndexError::Skipped => "skipped",
            IndexError::Failed(_) => "failed",
            IndexError::Contended => "contended",
        };
        self.index_errors.with_label_values(&[kind]).inc();
    }

    /// Copies the node table's latest figures into the node gauges.
    pub fn record_nodes(&self, nodes: &NodeTable) {
        for view in nodes.views() {
            let id = [view.id.as_str()];
            self.node_up
                .with_label_values(&id)
                .set(i64::from(view.state == "up"));
            if let Some(used) = view.used_memory_bytes {
                self.node_used.with_label_values(&id).set(used as i64);
            }
            if let Some(capacity) = view.capacity_bytes {
                self.node_capacity
                    .with_label_values(&id)
                    .set(capacity as i64);
            }
            if let Some(u) = view.utilization {
                self.node_utilization.with_label_values(&id).set(u);
            }
        }
        self.nodes_up.set(nodes.up_count() as i64);
    }

    /// Records the near cache's size.
    pub fn record_near_cache(&self, entries: usize, bytes: usize) {
        self.near_entries.set(entries as i64);
        self.near_bytes.set(bytes as i64);
    }

    /// Records the ZooKeeper session state and leadership.
    pub fn record_coordination(&self, connected: bool, leader: bool) {
        self.zookeeper_connected.set(i64::from(connected));
        self.leader.set(i64::from(leader));
    }
}
