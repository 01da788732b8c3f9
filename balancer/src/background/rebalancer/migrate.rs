//! Moving a batch of keys, in the steps the module doc of
//! [`super`] names: widen each key's set, wait out the writes that read
//! the old set, settle the members on the newest version, narrow the set,
//! drop the old copy. Every write is fenced by the leader's token.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::Stopped;
use super::handoff::HandOff;
use crate::backend::BackendError;
use crate::config::WhenFull;
use crate::index::{Index, IndexError, Swap};
use crate::newest;
use crate::nodes::{Node, NodeTable};
use crate::values::{self, Version};

/// One key to move: its set as the walk read it, the member that leaves
/// and the node that joins (none when the set is already wide enough).
#[derive(Debug, Clone)]
pub(super) struct Move {
    pub(super) key: String,
    pub(super) set: Vec<String>,
    pub(super) from: Arc<str>,
    pub(super) to: Option<Arc<str>>,
}

/// A key whose set was widened, waiting to be settled.
#[derive(Debug)]
pub(super) struct Widened {
    key: String,
    wide: Vec<String>,
    from: Arc<str>,
    to: Option<Arc<str>>,
}

/// Widened keys that may be settled from `ready_at` on.
#[derive(Debug)]
pub(super) struct Batch {
    pub(super) ready_at: Instant,
    pub(super) keys: Vec<Widened>,
    /// The journal child that names its keys.
    pub(super) journal: Arc<str>,
}

/// How one key's move ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moved {
    /// Moved; this many value bytes were copied to the new node.
    Done(u64),
    /// Left as it was, or wide: the next pass looks at it again.
    Skipped,
}

/// How one key's move ended: the node it was leaving, what became of
/// it, and the hand-off of the old copy still to come.
pub(super) type Ended = (Arc<str>, Moved, Option<HandOff>);

/// What the I/O of a move needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fenced<'a> {
    pub(super) index: &'a Index,
    pub(super) table: &'a NodeTable,
    pub(super) token: u64,
    /// Draining nodes whose delete was forced (see `roles.rs`).
    pub(super) replacing: &'a HashSet<Arc<str>>,
    pub(super) max_drift_ms: u64,
    /// Whether a member without a copy lost it or may have evicted it.
    pub(super) when_full: WhenFull,
    /// How long a delete's tombstone lasts.
    pub(super) tombstone_ttl: Duration,
    /// The ids of the ZooKeeper entries that may hold keys (not emptied),
    /// once the pass has read them.
    pub(super) listed: Option<&'a HashSet<String>>,
}

/// A server refused the token: a newer leader exists.
pub(super) fn fenced(e: &BackendError) -> Option<Stopped> {
    matches!(e, BackendError::Fenced { .. }).then(|| Stopped::Fenced(e.to_string()))
}

pub(super) fn index_fenced(e: &IndexError) -> Option<Stopped> {
    match e {
        IndexError::Failed(e) => fenced(e),
        _ => None,
    }
}

impl Fenced<'_> {
    /// Step 1: the joining node enters each key's set, if the set is still
    /// the one the walk read; returns the keys widened (and those that
    /// need no new node), the others skipped. When nodes evict, a copy the
    /// joining node held from before goes first: the members may have
    /// evicted a newer one, and reads reach every member.
    pub(super) async fn widen(&self, moves: Vec<Move>) -> Result<Vec<Widened>, Stopped> {
        let swaps = join_all(moves.iter().map(|m| async move {
            match &m.to {
                Some(to) => {
                    if !self.when_full.repairs_missing()
                        && let Err(e) = self.drop_outside_copy(to, &m.key).await
                    {
                        return Err(IndexError::Failed(e));
                    }
                    let added = [&**to];
                    (self.index)
                        .swap_members_fenced(&m.key, &m.set, &[], &added, self.token)
                        .await
                }
                None => Ok(Swap::Done(m.set.clone())),
            }
        }))
        .await;
        let mut widened = Vec::new();
        for (m, swap) in moves.into_iter().zip(swaps) {
            match swap {
                Ok(Swap::Done(wide)) => widened.push(Widened {
                    key: m.key,
                    wide,
                    from: m.from,
                    to: m.to,
                }),
                Ok(_) => {}
                Err(e) => {
                    if let Some(stop) = index_fenced(&e) {
                        return Err(stop);
                    }
                }
            }
        }
        Ok(widened)
    }

    /// Steps 3 and 4 for every key of a batch whose wait is over: how
    /// each ended, with the node it was leaving and, for a key moved off
    /// an up node, the hand-off of its old copy (step 5, a wait later);
    /// and what stopped the batch, if a server refused the token (the
    /// keys it did not end are left wide).
    pub(super) async fn finish(&self, batch: &Batch) -> (Vec<Ended>, Option<Stopped>) {
        let ends = join_all((batch.keys.iter()).map(|w| self.settle_and_narrow(w, &batch.journal)));
        let (mut ended, mut stopped) = (Vec::new(), None);
        for (w, end) in batch.keys.iter().zip(ends.await) {
            match end {
                Ok((moved, hand_off)) => ended.push((w.from.clone(), moved, hand_off)),
                Err(stop) => stopped = Some(stop),
            }
        }
        (ended, stopped)
    }

    async fn settle_and_narrow(
        &self,
        w: &Widened,
        journal: &Arc<str>,
    ) -> Result<(Moved, Option<HandOff>), Stopped> {
        let up = |id: &str| self.table.by_id(id).filter(|n| n.is_up());
        let staying: Option<Vec<&Node>> = (w.wide.iter())
            .filter(|id| **id != *w.from)
            .map(|id| up(id))
            .collect();
        // A leaving node that is down may hold the only copy of a write
        // (a set shorter than R, a write through the hashing fallback):
        // the key waits for it, unless the node is being replaced (an
        // operator forced its delete: its copies are given up).
        let Some(staying) = staying else {
            return Ok((Moved::Skipped, None));
        };
        let leaving = up(&w.from);
        if leaving.is_none() && !self.replacing.contains(&w.from) {
            return Ok((Moved::Skipped, None));
        }
        let reads = join_all(
            (staying.iter().chain(leaving.as_ref())).map(|n| values::read(&n.bulk, &w.key)),
        )
        .await;
        let Ok(held) = reads
            .into_iter()
            .collect::<Result<Vec<Option<Version>>, _>>()
        else {
            return Ok((Moved::Skipped, None));
        };
        let newest = newest::newest(held.iter().flatten()).cloned();
        let mut copied = 0;
        if let Some(newest) = &newest {
            for (node, held) in staying.iter().zip(&held) {
                // The joining node takes it; a member without a copy only
                // when it lost one (not when it may have evicted it).
                let joining = w.to.as_deref() == Some(&*node.id);
                let behind = if joining {
                    newest::is_behind(held.as_ref(), newest)
                } else {
                    newest::needs_repair(held.as_ref(), newest, self.when_full)
                };
                if !behind {
                    continue;
                }
                if let Err(e) = self.copy(node, &w.key, newest).await {
                    return fenced(&e).map_or(Ok((Moved::Skipped, None)), Err);
                }
                if w.to.as_deref() == Some(&*node.id) {
                    copied = newest.json.as_ref().map_or(0, Vec::len) as u64;
                }
            }
        }
        let narrowed = (self.index)
            .swap_members_fenced(&w.key, &w.wide, &[&w.from], &[], self.token)
            .await;
        match narrowed {
            Ok(Swap::Done(_)) => {}
            Ok(_) => return Ok((Moved::Skipped, None)),
            Err(e) => return index_fenced(&e).map_or(Ok((Moved::Skipped, None)), Err),
        }
        let hand_off = leaving.map(|_| HandOff {
            key: w.key.clone(),
            leaving: w.from.clone(),
            settled: Some(newest.map(|v| v.timestamp).unwrap_or_default()),
            made: Instant::now(),
            journal: journal.clone(),
        });
        Ok((Moved::Done(copied), hand_off))
    }

    /// Drops the copy of `key` node `id` holds, at the version it holds
    /// (fenced); an error (the node down, a read failed, the copy changed
    /// meanwhile) leaves the move undone.
    async fn drop_outside_copy(&self, id: &str, key: &str) -> Result<(), BackendError> {
        let node = (self.table.by_id(id).filter(|n| n.is_up())).ok_or_else(|| {
            BackendError::Unreachable {
                addr: id.to_string(),
                reason: "down: its copy cannot be dropped".into(),
            }
        })?;
        let Some(held) = values::read(&node.bulk, key).await? else {
            return Ok(());
        };
        if values::drop_if_at_fenced(&node.bulk, key, &held.timestamp, self.token).await? {
            return Ok(());
        }
        Err(BackendError::Unreachable {
            addr: id.to_string(),
            reason: "its copy changed while it was dropped".into(),
        })
    }

    /// Copies `version` to `node` under the token (last-writer-wins).
    pub(super) async fn copy(
        &self,
        node: &Node,
        key: &str,
        version: &Version,
    ) -> Result<(), BackendError> {
        values::apply_fenced(&node.bulk, key, version, self.max_drift_ms, self.token)
            .await
            .map(drop)
    }
}
