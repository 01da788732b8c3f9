//! What a node's memory figures say: its capacity, its utilization, and
//! whether it takes new keys.

use std::sync::atomic::Ordering;
use std::time::Duration;

use memreport::NodeInfo;
use tokio::time::Instant;

use super::super::capacity::{self, Capacity};
use super::{Node, NodeState};

impl Node {
    /// The capacity by [`capacity::decide`], from the last sample.
    pub(super) fn capacity(&self, state: &NodeState, info: &NodeInfo) -> Capacity {
        let configured = self.configured_capacity.load(Ordering::Relaxed);
        capacity::decide(
            info.maxmemory,
            &state.cgroup,
            (configured > 0).then_some(configured),
        )
    }

    /// Bytes used and the capacity (`None` when unknown), from the last
    /// sample; `None` before one.
    pub fn memory(&self) -> Option<(u64, Option<u64>)> {
        let state = self.lock();
        let info = state.info.as_ref()?;
        Some((info.used_memory, self.capacity(&state, info).bytes))
    }

    /// Used plus pending bytes over capacity; `None` when the last sample
    /// is older than `stale_after` or the capacity unknown.
    pub(super) fn utilization(
        &self,
        state: &NodeState,
        now: Instant,
        stale_after: Duration,
    ) -> Option<f64> {
        let fresh = state.sampled_at.is_some_and(|t| now - t <= stale_after);
        let info = state.info.as_ref().filter(|_| fresh)?;
        let capacity = self.capacity(state, info).bytes.filter(|&c| c > 0)?;
        let used = info.used_memory + self.pending_bytes.load(Ordering::Relaxed);
        Some(used as f64 / capacity as f64)
    }

    /// Whether the node may take a new key, with its utilization if so:
    /// `None` when it is down, draining, or sampled with a capacity that is
    /// unknown. A node not sampled yet may, ranked last (utilization
    /// `None`), as may a stale one.
    pub(in crate::nodes) fn for_new_keys(
        &self,
        now: Instant,
        stale_after: Duration,
    ) -> Option<Option<f64>> {
        if self.is_draining() {
            return None;
        }
        let state = self.lock();
        if !state.health.up {
            return None;
        }
        if let Some(info) = &state.info {
            self.capacity(&state, info).bytes?;
        }
        Some(self.utilization(&state, now, stale_after))
    }
}
