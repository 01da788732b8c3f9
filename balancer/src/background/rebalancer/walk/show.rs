//! What a pass shows of itself: the plan's targets and the rates, in the
//! shared status `GET /admin/rebalance` reads.

use std::time::Duration;

use tokio::time::Instant;

use super::Pass;
use crate::rebalance::{Load, NodeTarget, Progress};

impl Pass<'_> {
    /// Publishes the plan's state; `moved` is `(started, (keys, bytes))`
    /// for the rates once anything moved.
    pub(super) fn show(
        &self,
        progress: &Progress,
        loads: &[Load],
        moved: Option<(Instant, (u64, u64))>,
    ) {
        let targets: Vec<NodeTarget> = (self.table.all().iter().enumerate())
            .map(|(i, node)| NodeTarget {
                id: node.id.to_string(),
                role: if progress.is_draining(i) {
                    "draining"
                } else {
                    "serving"
                },
                used: loads[i].used,
                shed_left: progress.left(i),
                take_left: progress.room(i),
            })
            .collect();
        let remaining: u64 = targets.iter().map(|t| t.shed_left).sum();
        self.app.rebalance.update(|v| {
            v.active = true;
            v.targets = targets;
            v.remaining_bytes = remaining;
            if let Some((started, (keys, bytes))) = moved {
                let secs = started
                    .elapsed()
                    .as_secs_f64()
                    .max(Duration::from_millis(1).as_secs_f64());
                v.keys_per_sec = keys as f64 / secs;
                v.bytes_per_sec = bytes as f64 / secs;
                v.remaining_secs =
                    (v.bytes_per_sec > 0.0).then(|| remaining as f64 / v.bytes_per_sec);
            }
        });
    }
}
