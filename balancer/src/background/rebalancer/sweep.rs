//! Whether a draining node is drained: once the walk found no index
//! entry naming it, its copies are looked at one by one.
//!
//! - A copy whose key's set does not name the node goes, once every
//!   member answered: after its version is carried to the members behind
//!   it when it is the newest (a write through the hashing fallback
//!   landed there late).
//! - A copy no entry names (its entry expired before it, or it was
//!   written while the index was down) is adopted: an entry naming every
//!   up node that holds a copy, as a write's search would make it, so the
//!   next pass moves it.
//!
//! The node is drained when nothing on it is kept. A node that is down
//! is not, its copies unread, unless it is being replaced (its delete
//! forced): then no entry naming it is enough.

use futures_util::future::join_all;

use super::Stopped;
use super::migrate::{Fenced, fenced, index_fenced};
use crate::backend::BackendError;
use crate::newest;
use crate::nodes::Node;
use crate::values::{self, Version};

/// Keys per `SCAN` step.
const STEP: usize = 500;

/// Whether `node` holds nothing the cluster needs, after dropping what it
/// need not hold.
pub(super) async fn drained(f: &Fenced<'_>, node: &Node) -> Result<bool, Stopped> {
    if !node.is_up() {
        return Ok(f.replacing.contains(&node.id));
    }
    let mut kept = 0usize;
    let mut cursor = 0u64;
    loop {
        let cmd = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(STEP)
            .arg("TYPE")
            .arg("hash")
            .clone();
        let Ok((next, keys)) = node.bulk.cmd::<(u64, Vec<String>)>(&cmd).await else {
            return Ok(false);
        };
        for key in &keys {
            if !needless(f, node, key).await? {
                kept += 1;
            }
        }
        cursor = next;
        if cursor == 0 {
            return Ok(kept == 0);
        }
    }
}

/// Drops `node`'s copy of `key` when nothing needs it; false when it is
/// kept (and, for a copy no entry names, adopted into the index).
async fn needless(f: &Fenced<'_>, node: &Node, key: &str) -> Result<bool, Stopped> {
    let Ok(Some(mine)) = values::read(&node.bulk, key).await else {
        return Ok(false);
    };
    match f.index.lookup(key).await {
        Ok(Some(set)) if set.iter().any(|id| **id == *node.id) => Ok(false),
        Ok(Some(set)) => hand_over(f, node, key, &mine, &set).await,
        Ok(None) => {
            adopt(f, key, &mine).await?;
            Ok(false)
        }
        Err(_) => Ok(false),
    }
}

/// Carries `mine` to the members of `set` behind it when it is newer than
/// what they hold, then drops it; false when a member cannot be read or
/// written.
async fn hand_over(
    f: &Fenced<'_>,
    node: &Node,
    key: &str,
    mine: &Version,
    set: &[String],
) -> Result<bool, Stopped> {
    let members: Option<Vec<&Node>> = set
        .iter()
        .map(|id| f.table.by_id(id).filter(|n| n.is_up()))
        .collect();
    let Some(members) = members else {
        return Ok(false);
    };
    let reads = join_all(members.iter().map(|n| values::read(&n.bulk, key))).await;
    let Ok(held) = reads
        .into_iter()
        .collect::<Result<Vec<Option<Version>>, _>>()
    else {
        return Ok(false);
    };
    // Only a version the members missed is carried (`newest::counts`);
    // a stale one, or one whose newer copies may have been evicted, goes.
    let carried = newest::carried_to(&held, mine, f.when_full);
    for (member, carry) in members.iter().zip(carried) {
        if carry {
            let copied = values::apply_fenced(&member.bulk, key, mine, f.max_drift_ms, f.token);
            if let Err(e) = copied.await {
                return refused(&e);
            }
        }
    }
    match values::drop_if_at_fenced(&node.bulk, key, &mine.timestamp, f.token).await {
        Ok(dropped) => Ok(dropped),
        Err(e) => refused(&e),
    }
}

/// Gives `key` an entry naming every up node holding a copy of it, the
/// newest first: reads ask the primary first, and until the next pass
/// settles the set, only the newest may answer.
async fn adopt(f: &Fenced<'_>, key: &str, mine: &Version) -> Result<(), Stopped> {
    let nodes: Vec<&Node> = (f.table.all().iter())
        .map(|n| &**n)
        .filter(|n| n.is_up())
        .collect();
    let reads = join_all(nodes.iter().map(|n| values::read(&n.bulk, key))).await;
    let mut held: Vec<(&str, String)> = (nodes.iter().zip(reads))
        .filter_map(|(n, read)| Some((&*n.id, read.ok()??.timestamp)))
        .collect();
    held.sort_by(|a, b| b.1.cmp(&a.1));
    let holders: Vec<&str> = held.into_iter().map(|(id, _)| id).collect();
    match f
        .index
        .adopt_fenced(key, &holders, mine.ttl_ms, f.token)
        .await
    {
        Err(e) => index_fenced(&e).map_or(Ok(()), Err),
        Ok(_) => Ok(()),
    }
}

/// A fenced refusal stops the pass; any other error keeps the copy.
fn refused(e: &BackendError) -> Result<bool, Stopped> {
    fenced(e).map_or(Ok(false), Err)
}
