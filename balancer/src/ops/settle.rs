//! Settling a replica set that a write changed (a member was down or
//! failed it, and a substitute took its place), before the write's held
//! acknowledgements are released:
//!
//! 1. **Record** the new set in the index, over the set the write used
//!    only (compare-and-swap), so the entry names nodes that took the
//!    write and every balancer's cached location of the key is
//!    invalidated by the index. When another write changed the set first,
//!    the entry stays as that write left it: this write's version goes to
//!    the members of that set it has not reached (each node keeps the
//!    newest), and its own substitutes stay outside the set. Sets never
//!    grow past what one write made them. When one of those members is
//!    down for this balancer, or fails the write, the write is not
//!    acknowledged: the other balancers may still read that member.
//! 2. **Catch up** the recorded set: the newest version among its members,
//!    and among the members that refused the write while up, goes to every
//!    member behind it, so a substitute added here holds the writes
//!    acknowledged through the old set, not only this one.
//! 3. **Clean up**: a member that left the set and refused the write while
//!    up has its older copy removed; one that could not be reached gets the
//!    removal queued; a repair of the key is queued.
//!
//! When the index cannot record the new set of a key it lists, the old set
//! stays the key's set: no copy is dropped, the repair brings its members
//! up to date, and the error says the write is not to be acknowledged.
//!
//! The window left: a write that did not change the set, acknowledged by
//! the old set's members while this one records its change, reaches a
//! substitute added here only through the catch-up (when it landed before
//! the catch-up read) or the queued repair (when after).

use std::sync::Arc;

use futures_util::future::join_all;

use super::Context;
use super::fanout::{Job, Targets};
use crate::acks::Progress;
use crate::index::{IndexError, Swap};
use crate::newest;
use crate::nodes::{Node, NodeTable};
use crate::replicas;
use crate::values;

impl Context {
    /// Settles a set that changed: records it, catches it up, cleans up
    /// after it (see the module docs).
    pub(super) async fn settle(
        &self,
        nodes: &NodeTable,
        job: &Job,
        targets: &Targets<'_>,
        progress: &Progress,
    ) -> Result<(), IndexError> {
        let (key, timestamp) = (&job.key, &job.version.timestamp);
        self.metrics.failovers.with_label_values(&["set"]).inc();
        let out: Vec<&str> = targets
            .gone
            .iter()
            .chain(&progress.refused)
            .chain(&progress.unreachable)
            .map(|id| &**id)
            .collect();
        let added_ok: Vec<&str> = targets
            .added
            .iter()
            .filter(|id| progress.acked.contains(id))
            .map(|id| &**id)
            .collect();
        let recorded = match self.record(nodes, job, &out, &added_ok, progress).await {
            Ok(recorded) => recorded,
            Err(e) => {
                self.index_failed(&e);
                self.repairs.enqueue(key);
                if job.indexed || matches!(e, IndexError::Contended) {
                    return Err(e);
                }
                None
            }
        };
        let recorded = recorded.unwrap_or_else(|| {
            replicas::in_set_order(progress.acked.clone(), &job.set)
                .iter()
                .map(|id| id.to_string())
                .collect()
        });
        self.catch_up(nodes, key, &recorded, &progress.refused)
            .await;
        let left = |id: &Arc<str>| {
            job.set.iter().any(|s| **s == **id) && !recorded.iter().any(|s| **s == **id)
        };
        for id in progress.refused.iter().filter(|id| left(id)) {
            // It answered, so it can be asked to drop its older copy now.
            let dropped = match nodes.by_id(id) {
                Some(node) => values::drop_unless_newer(&node.backend, key, timestamp).await,
                None => Ok(false),
            };
            match dropped {
                Ok(true) => self.metrics.stale_copies_removed.inc(),
                Ok(false) => {}
                Err(_) => self.repairs.drop_stale(key, id.clone(), timestamp),
            }
        }
        for id in targets.gone.iter().chain(&progress.unreachable) {
            if left(id) {
                self.repairs.drop_stale(key, id.clone(), timestamp);
            }
        }
        self.repairs.enqueue(key);
        Ok(())
    }

    /// Records the changed set over the set the write used, or, when
    /// another write changed it first, sends this write to that set's
    /// members it has not reached. Returns the key's set as the index now
    /// holds it; `None` when the key has no entry.
    async fn record(
        &self,
        nodes: &NodeTable,
        job: &Job,
        out: &[&str],
        added: &[&str],
        progress: &Progress,
    ) -> Result<Option<Vec<String>>, IndexError> {
        let current = match self
            .index
            .swap_members(&job.key, &job.set, out, added)
            .await?
        {
            Swap::Done(set) => return Ok(Some(set)),
            Swap::Missing => return Ok(None),
            Swap::Changed(current) => current,
        };
        for id in replicas::unreached(&current, &progress.acked) {
            // A member down for this balancer only (partitioned from it)
            // stays up for the others, which would read the older value
            // there: the write is not to be acknowledged.
            let node = nodes
                .by_id(&id)
                .filter(|n| n.is_up())
                .ok_or(IndexError::Contended)?;
            job.apply_to(&node.backend, self.max_drift_ms)
                .await
                .map_err(|_| IndexError::Contended)?;
        }
        Ok(Some(current))
    }

    /// Brings every up member of `set` to the newest version held by the
    /// set's members and by `also` (members that refused the write).
    async fn catch_up(&self, nodes: &NodeTable, key: &str, set: &[String], also: &[Arc<str>]) {
        let mut readers: Vec<&Node> = Vec::new();
        let ids = set
            .iter()
            .map(String::as_str)
            .chain(also.iter().map(|id| &**id));
        for node in ids.filter_map(|id| nodes.by_id(id)).filter(|n| n.is_up()) {
            if !readers.iter().any(|r| r.id == node.id) {
                readers.push(node);
            }
        }
        let held: Vec<_> = join_all(readers.iter().map(|n| values::read(&n.backend, key)))
            .await
            .into_iter()
            .map(|r| r.ok().flatten())
            .collect();
        let Some(newest) = newest::newest(held.iter().flatten()) else {
            return;
        };
        for (node, held) in readers.iter().zip(&held) {
            let member = set.iter().any(|id| **id == *node.id);
            if member && newest::is_behind(held.as_ref(), newest) {
                let applied = values::apply(&node.backend, key, newest, self.max_drift_ms).await;
                if applied.is_err() {
                    self.repairs.enqueue(key);
                }
            }
        }
    }
}
