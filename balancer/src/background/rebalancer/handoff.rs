//! Step 5 of a move: the old copy goes, a request deadline after the set
//! was narrowed, so that every write that read the widened set (and so
//! was sent to the leaving node too) has landed or never will. A version
//! the leaving node took after the settle read it (such a write, or one
//! through the hashing fallback, which reads no index) is first carried
//! to the staying members, when it is newer than what they hold
//! ([`crate::newest::counts`]); then the copy is dropped at the version it
//! holds (fenced), unless the key's set names the node again; the version
//! goes to the key's set as it is then, not as the move left it. A hand-off
//! that cannot finish now (a node down or failing, the index, a copy that
//! keeps changing) is kept for the next pass; one whose node has left the
//! cluster (no ZooKeeper entry that may hold keys) is over.

use std::sync::Arc;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::Stopped;
use super::migrate::{Fenced, fenced};
use crate::config::WhenFull;
use crate::newest;
use crate::nodes::Node;
use crate::values::{self, Version};

/// Reads of the leaving node in one try before the hand-off waits for the
/// next pass.
const TRIES: usize = 3;

/// Hand-offs under way at once.
const AT_ONCE: usize = 16;

/// The old copy of a moved key, to hand off.
#[derive(Debug, Clone)]
pub(crate) struct HandOff {
    pub(super) key: String,
    /// The node the key left.
    pub(super) leaving: Arc<str>,
    /// The version the settle gave the staying members ("" for none);
    /// `None` for a hand-off taken over from an earlier leader, whose
    /// settle is not known: its copy is then carried only onto members
    /// that hold an older version, never onto one that holds none (that
    /// member may have had a newer version expire or be deleted since).
    /// A settle older than a tombstone's life counts as not known too: a
    /// delete since may have left the members holding nothing.
    pub(super) settled: Option<String>,
    /// When the hand-off was made.
    pub(super) made: Instant,
    /// The journal child that names it.
    pub(super) journal: Arc<str>,
}

impl Fenced<'_> {
    /// Hands off every copy it can, [`AT_ONCE`] at a time (the bulk pool
    /// is small); returns those left for the next pass, and what stopped
    /// the work, if anything did (the items not handed off are then all
    /// left, none lost). `check` is asked before each [`AT_ONCE`]: once
    /// it fails, or a server refuses the token, the rest are left.
    pub(super) async fn hand_off_all(
        &self,
        items: Vec<HandOff>,
        check: &(dyn Fn() -> Result<(), Stopped> + Sync),
    ) -> (Vec<HandOff>, Option<Stopped>) {
        let mut ends: Vec<Result<bool, Stopped>> = Vec::with_capacity(items.len());
        let (mut stopped, mut refused) = (None, false);
        for chunk in items.chunks(AT_ONCE) {
            if stopped.is_none() {
                stopped = check().err();
            }
            if stopped.is_some() || refused {
                ends.extend(chunk.iter().map(|_| Ok(false)));
                continue;
            }
            let chunk_ends = join_all(chunk.iter().map(|item| self.hand_off(item))).await;
            // A server refused the token: no later chunk is tried (the
            // refusal itself is taken below).
            refused |= chunk_ends.iter().any(Result::is_err);
            ends.extend(chunk_ends);
        }
        let mut left = Vec::new();
        for (item, end) in items.into_iter().zip(ends) {
            match end {
                Ok(true) => {}
                Ok(false) => left.push(item),
                Err(stop) => {
                    left.push(item);
                    stopped = Some(stop);
                }
            }
        }
        (left, stopped)
    }

    /// Whether the copy is gone (or was never there).
    async fn hand_off(&self, item: &HandOff) -> Result<bool, Stopped> {
        // The key's set now, not at the narrowing: a hand-off left from an
        // earlier pass may find the key moved since, even back onto the
        // node, whose copy is then a member's and stays. (A move onto a
        // node copies only a request deadline after it widens the set, far
        // longer than this check and the drop take.)
        let set = match self.index.lookup(&item.key).await {
            Ok(Some(set)) if set.iter().any(|id| **id == *item.leaving) => return Ok(true),
            // No entry in an index not yet rebuilt says nothing.
            Ok(None) if !self.index.is_complete() => return Ok(false),
            Ok(set) => set.unwrap_or_default(),
            Err(_) => return Ok(false),
        };
        let up = |id: &str| self.table.by_id(id).filter(|n| n.is_up());
        if self.table.by_id(&item.leaving).is_none() {
            return Ok(self.left_cluster(&item.leaving));
        }
        let (Some(leaving), Some(staying)) = (
            up(&item.leaving),
            set.iter().map(|id| up(id)).collect::<Option<Vec<&Node>>>(),
        ) else {
            return Ok(false);
        };
        for _ in 0..TRIES {
            let held = match values::read(&leaving.bulk, &item.key).await {
                Ok(Some(held)) => held,
                Ok(None) => return Ok(true),
                Err(_) => return Ok(false),
            };
            let fresh = item.made.elapsed() < self.tombstone_ttl;
            let settled = item.settled.as_ref().filter(|_| fresh);
            let when_full = match settled {
                Some(_) => self.when_full,
                None => WhenFull::Evict,
            };
            if settled.is_none_or(|s| *held.timestamp > **s) {
                let Ok(members) =
                    (join_all(staying.iter().map(|n| values::read(&n.bulk, &item.key))).await)
                        .into_iter()
                        .collect::<Result<Vec<Option<Version>>, _>>()
                else {
                    return Ok(false);
                };
                // Carried only when the members missed it (newest::counts).
                let to = newest::carried_to(&members, &held, when_full);
                let behind = (staying.iter().zip(to)).filter(|(_, carry)| *carry);
                let carried = join_all(behind.map(|(n, _)| self.copy(n, &item.key, &held))).await;
                if let Some(e) = carried.iter().find_map(|r| r.as_ref().err()) {
                    return fenced(e).map_or(Ok(false), Err);
                }
            }
            let dropped =
                values::drop_if_at_fenced(&leaving.bulk, &item.key, &held.timestamp, self.token);
            match dropped.await {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) => return fenced(&e).map_or(Ok(false), Err),
            }
        }
        Ok(false)
    }

    /// Whether node `id`, missing from the table, has left the cluster:
    /// ZooKeeper, as this pass read it, lists no entry for it that may
    /// hold keys (a table not yet caught up with a listing, or a pass that
    /// has not read it, leaves the hand-off waiting).
    fn left_cluster(&self, id: &str) -> bool {
        self.listed.is_some_and(|listed| !listed.contains(id))
    }
}
