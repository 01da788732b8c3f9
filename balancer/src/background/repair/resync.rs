//! Resync of a node that came back up or restarted empty (a new
//! `run_id`): walk the index and repair every key whose set names the
//! node; a key whose set has fewer than R members (written while fewer
//! than R nodes were up) takes the node as a new member and is copied to
//! it, once a copy of its own the members do not outdate is dropped. Then
//! walk the node and remove the copies it holds of keys whose set no
//! longer names it and that are stale ([`crate::newest::counts`]), so
//! they can never come back as answers. Both
//! walks run at a bounded rate, and wait out index or node errors rather
//! than stop: the resync is the only thing that refills the node.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::super::pace::Pace;
use super::{RepairOutcome, Repairer, Retry};
use crate::config::WhenFull;
use crate::index::{Index, Swap};
use crate::newest;
use crate::nodes::{Node, NodeTable};
use crate::values::{self, Version};

/// Keys per walk step.
const WALK_BATCH: usize = 500;
/// How long a walk waits before it retries a step that failed.
const WALK_RETRY: Duration = Duration::from_secs(1);

impl Repairer {
    /// Refills a node that came back and clears its stale copies.
    pub(super) async fn resync(self, id: Arc<str>) {
        self.metrics.resyncs.inc();
        tracing::info!(node = %id, "resync started");
        let pace = Pace::new(self.config.resync_keys_per_sec);
        let mut cursor = 0;
        let mut repaired = 0u64;
        loop {
            let (next, entries) = match self.index.scan(cursor, WALK_BATCH).await {
                Ok(step) => step,
                Err(e) => {
                    tracing::warn!(node = %id, error = %e, "resync waits for the index");
                    tokio::time::sleep(WALK_RETRY).await;
                    continue;
                }
            };
            let table = self.nodes.current();
            let takes_keys = table.by_id(&id).is_some_and(|n| !n.is_draining());
            let mut mine: Vec<&String> = Vec::new();
            for (key, set) in &entries {
                let member = set.iter().any(|n| **n == *id);
                // A short set takes the node back as a member if it takes
                // keys (not draining or removed), without a stale copy of
                // its own.
                if member
                    || (set.len() < self.factor
                        && takes_keys
                        && self.clear_to_join(&table, set, &id, key).await
                        && matches!(
                            self.index.swap_members(key, set, &[], &[&id]).await,
                            Ok(Swap::Done(_))
                        ))
                {
                    mine.push(key);
                }
            }
            for key in &mine {
                match self.repair_key(&table, key).await {
                    Ok(outcome) => {
                        repaired += u64::from(outcome == RepairOutcome::Repaired);
                        self.count(outcome);
                    }
                    Err(Retry) => self.queue.enqueue(key),
                }
            }
            pace.wait(mine.len()).await;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let removed = self.sweep(&id, &pace).await;
        tracing::info!(node = %id, repaired, removed, "resync done");
    }

    /// Whether node `id` may join `key`'s short `set`: its own copy, if
    /// any, counts, or was dropped as stale ([`own_copy`]): when nodes
    /// evict, a copy of its own that no member's outdates may be older
    /// than one the members evicted. Unread: not now.
    async fn clear_to_join(&self, table: &NodeTable, set: &[String], id: &str, key: &str) -> bool {
        let Some(node) = table.by_id(id) else {
            return false;
        };
        match own_copy(table, set, node, key, self.when_full).await {
            Own::Stale(mine) => values::drop_if_at(&node.bulk, key, &mine.timestamp)
                .await
                .unwrap_or(false),
            Own::Counts => true,
            Own::Unread => false,
        }
    }

    /// Removes the node's copies of keys whose replica set no longer
    /// names it and whose copy is stale ([`own_copy`]).
    async fn sweep(&self, id: &str, pace: &Pace) -> u64 {
        let mut removed = 0;
        let mut cursor = 0u64;
        loop {
            let table = self.nodes.current();
            let Some(node) = table.by_id(id) else {
                return removed;
            };
            let cmd = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(WALK_BATCH)
                .arg("TYPE")
                .arg("hash")
                .clone();
            let (next, keys) = match node.bulk.cmd::<(u64, Vec<String>)>(&cmd).await {
                Ok(step) => step,
                Err(_) if node.is_up() => {
                    tokio::time::sleep(WALK_RETRY).await;
                    continue;
                }
                // Down again: its next return starts a new resync.
                Err(_) => return removed,
            };
            for key in &keys {
                if drop_if_stale(&table, &self.index, node, key, self.when_full).await {
                    removed += 1;
                    self.metrics.stale_copies_removed.inc();
                }
            }
            pace.wait(keys.len()).await;
            cursor = next;
            if cursor == 0 {
                return removed;
            }
        }
    }
}

/// Drops `node`'s copy of `key` when the key's set no longer names the
/// node and the copy is stale ([`own_copy`]); returns whether it did.
async fn drop_if_stale(
    table: &NodeTable,
    index: &Index,
    node: &Node,
    key: &str,
    when_full: WhenFull,
) -> bool {
    let Ok(Some(set)) = index.lookup(key).await else {
        return false;
    };
    if set.iter().any(|id| **id == *node.id) {
        return false;
    }
    match own_copy(table, &set, node, key, when_full).await {
        Own::Stale(mine) => values::drop_if_at(&node.bulk, key, &mine.timestamp)
            .await
            .unwrap_or(false),
        Own::Counts | Own::Unread => false,
    }
}

/// What a node's own copy of a key is, against what the set's members
/// hold.
enum Own {
    /// None, or one that counts ([`newest::counts`]): newer than theirs.
    Counts,
    /// One their copies outdate (or, when nodes evict, may outdate).
    Stale(Version),
    /// A read failed, or a member is not in the table: nothing is decided.
    Unread,
}

/// `node`'s own copy of `key` against what the members of `set` hold.
async fn own_copy(
    table: &NodeTable,
    set: &[String],
    node: &Node,
    key: &str,
    when_full: WhenFull,
) -> Own {
    let mine = match values::read(&node.bulk, key).await {
        Ok(Some(mine)) => mine,
        Ok(None) => return Own::Counts,
        Err(_) => return Own::Unread,
    };
    let Some(members) = set
        .iter()
        .map(|id| table.by_id(id))
        .collect::<Option<Vec<&Node>>>()
    else {
        return Own::Unread;
    };
    let reads = join_all(members.iter().map(|n| values::read(&n.bulk, key))).await;
    let Ok(held) = reads
        .into_iter()
        .collect::<Result<Vec<Option<Version>>, _>>()
    else {
        return Own::Unread;
    };
    if newest::counts(held.iter().flatten(), &mine, when_full) {
        Own::Counts
    } else {
        Own::Stale(mine)
    }
}
