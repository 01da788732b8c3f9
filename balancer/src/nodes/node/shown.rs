//! What `GET /nodes` shows of one node, read from its state in one lock.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::super::capacity::{self, Source};
use super::super::view::NodeView;
use super::Node;

impl Node {
    /// What `GET /nodes` shows of this node.
    pub(in crate::nodes) fn view(&self, now: Instant, stale_after: Duration) -> NodeView {
        let state = self.lock();
        let utilization = self.utilization(&state, now, stale_after);
        let info = state.info.as_ref();
        let capacity = info.map(|i| self.capacity(&state, i));
        NodeView {
            id: self.id.to_string(),
            addr: self.backend.addr().to_string(),
            state: match (state.health.up, self.is_draining()) {
                (false, _) => "down",
                (true, true) => "draining",
                (true, false) => "up",
            },
            used_memory_bytes: info.map(|i| i.used_memory),
            capacity_bytes: capacity.and_then(|c| c.bytes),
            capacity_source: capacity.map(|c| c.source),
            capacity_unknown_because: capacity
                .filter(|c| c.source == Source::Unknown)
                .map(|_| capacity::why_unknown(&state.cgroup)),
            utilization,
            keys: info.map(|i| i.keys),
            evicted_keys: info.map(|i| i.evicted_keys),
            maxmemory_policy: info
                .map(|i| i.maxmemory_policy.clone())
                .filter(|p| !p.is_empty()),
            placed_keys: self.placed(),
            pending_bytes: self.pending_bytes.load(Ordering::Relaxed),
            report_age_seconds: state.sampled_at.map(|t| (now - t).as_secs_f64()),
            report_source: match &state.agent {
                Some(host) => format!("agent:{host}"),
                None => "own_sampling".into(),
            },
            last_error: state.health.last_error.clone(),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            consecutive_successes: self.consecutive_successes.load(Ordering::Relaxed),
            down_for: state.health.down_for(),
            check_latency_ms: state.round_trips.mean_ms(),
            missed_writes: self.missed_writes.load(Ordering::Relaxed),
            rejoins: self.rejoins(),
            run_id: state.health.run_id.clone(),
            transitions: state.transitions.iter().cloned().collect(),
        }
    }
}
