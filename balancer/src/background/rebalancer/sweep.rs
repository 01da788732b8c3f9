//! Whether a draining node is drained: once the walk found no index
//! entry naming it, its copies are looked at one by one. A copy whose
//! key's set holds the same version or a newer one is dropped (fenced);
//! a tombstone no entry names is dropped; a live copy no entry names (its
//! entry expired before it, or it was written while the index was down)
//! gets an entry naming the node, so the next pass moves it. The node is
//! drained when nothing on it is kept.

use super::Stopped;
use super::migrate::Fenced;
use crate::background::repair::drop_if_stale;
use crate::nodes::Node;
use crate::values;

/// Keys per `SCAN` step.
const STEP: usize = 500;

/// Whether `node` holds nothing the cluster needs, after dropping what it
/// need not hold. A node that is down (being replaced) is drained as soon
/// as no entry names it: its copies come from the other replicas.
pub(super) async fn drained(f: &Fenced<'_>, node: &Node) -> Result<bool, Stopped> {
    if !node.is_up() {
        return Ok(true);
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
        let Ok((next, keys)) = node.backend.cmd::<(u64, Vec<String>)>(&cmd).await else {
            return Ok(false);
        };
        for key in &keys {
            if !needless(f, node, key).await {
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
/// kept (and, for a live copy no entry names, given one).
async fn needless(f: &Fenced<'_>, node: &Node, key: &str) -> bool {
    match f.index.lookup(key).await {
        Ok(Some(set)) if set.iter().any(|id| **id == *node.id) => false,
        Ok(Some(_)) => drop_if_stale(f.table, f.index, node, key, Some(f.token)).await,
        Ok(None) => match values::read(&node.backend, key).await {
            Ok(None) => true,
            Ok(Some(version)) if !version.is_live() => {
                let dropped =
                    values::drop_if_at_fenced(&node.backend, key, &version.timestamp, f.token);
                dropped.await.unwrap_or(false)
            }
            Ok(Some(version)) => {
                let ttl_secs = version.ttl_ms.map(|ms| ms.div_ceil(1000));
                let _ = f.index.claim(key, &[&node.id], ttl_secs).await;
                false
            }
            Err(_) => false,
        },
        Err(_) => false,
    }
}
