//! The rebuild of an index that lost its data (see `index/recovery.rs`).
//!
//! Every `index_retry_ms` each balancer asks the index for its
//! completeness marker and reports the answer (`dlb_index_rebuilding`).
//! Without it, a balancer takes the rebuild lock if no other holds it and
//! walks every node, at most `index_rebuild_keys_per_sec`: a `SCAN` of
//! its hashes, a pipelined read of their timestamps and TTLs, and a
//! pipelined adoption of each copy into its key's entry. A copy adopted
//! into an entry that already named other nodes gets a repair queued
//! (the copies may differ; the repair writes the newest to all), and the
//! walk waits while the repair queue is half full rather than have
//! repairs dropped. A node that is down is scanned when it is back: the
//! marker is set only once every node has been scanned, so a key is never
//! taken for new while a copy of it may sit anywhere. The lock is renewed
//! every step; a flush takes it, which stops the walk, and the next check
//! starts it over. The other balancers wait for the marker, and serve
//! meanwhile by asking every node for keys the index lacks.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::pace::Pace;
use crate::index::{Adopted, Index};
use crate::metrics::Metrics;
use crate::nodes::{Membership, Node};
use crate::repairs::RepairQueue;

/// How long the rebuild lock lasts unless renewed.
const LOCK_TTL: Duration = Duration::from_secs(10);
/// Keys per scan step.
const BATCH: usize = 500;
/// How long a step that failed waits before it is tried again.
const RETRY: Duration = Duration::from_millis(200);

/// What the rebuild works with.
#[derive(Debug, Clone)]
pub(crate) struct Rebuilder {
    pub(crate) index: Arc<Index>,
    pub(crate) nodes: Arc<Membership>,
    pub(crate) repairs: Arc<RepairQueue>,
    pub(crate) metrics: Arc<Metrics>,
    /// This balancer's id: the lock's holder.
    pub(crate) owner: String,
    pub(crate) keys_per_sec: u32,
    /// How often the marker is checked.
    pub(crate) interval: Duration,
}

/// The rebuild lost its lock (it expired, or a flush took it).
#[derive(Debug)]
struct LockLost;

/// Why a node's scan stopped before its end.
#[derive(Debug)]
enum Stopped {
    /// The node went down; it is scanned again when it is back.
    NodeDown,
    /// Another balancer may be rebuilding now.
    Lock(LockLost),
}

impl Rebuilder {
    /// Checks the marker every interval and rebuilds when it is missing
    /// and no other balancer is at it, until `shutdown`.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => return,
            }
            let Ok(complete) = self.index.check_marker().await else {
                continue;
            };
            self.metrics.index_rebuilding.set(i64::from(!complete));
            if complete
                || !matches!(
                    self.index.lock_rebuild(&self.owner, LOCK_TTL).await,
                    Ok(true)
                )
            {
                continue;
            }
            tokio::select! {
                _ = self.rebuild() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Scans every node, adopting what it holds, then sets the marker.
    async fn rebuild(&self) {
        tracing::info!("index rebuild started");
        let started = Instant::now();
        let pace = Pace::new(self.keys_per_sec);
        let mut scanned: HashSet<Arc<str>> = HashSet::new();
        let mut adopted = 0u64;
        loop {
            let table = self.nodes.current();
            let left = unscanned(table.all().iter().map(|n| &n.id), &scanned);
            if left.is_empty() {
                break;
            }
            for node in table.all().iter().filter(|n| left.contains(&n.id)) {
                if !node.is_up() {
                    continue;
                }
                match self.scan(node, &pace).await {
                    Ok(keys) => {
                        adopted += keys;
                        scanned.insert(node.id.clone());
                    }
                    Err(Stopped::NodeDown) => {}
                    Err(Stopped::Lock(LockLost)) => {
                        tracing::warn!("index rebuild lost its lock; starting over");
                        return;
                    }
                }
            }
            if scanned.len() < table.all().len() && self.wait(RETRY).await.is_err() {
                // Some node is down: it was waited for, holding the lock,
                // until the lock was lost.
                return;
            }
        }
        if matches!(self.index.finish_rebuild(&self.owner).await, Ok(true)) {
            self.metrics.index_rebuilding.set(0);
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(
                adopted,
                seconds,
                keys_per_sec = adopted as f64 / seconds.max(1e-3),
                "index rebuild done"
            );
        }
    }

    /// Adopts every copy `node` holds; returns how many.
    async fn scan(&self, node: &Node, pace: &Pace) -> Result<u64, Stopped> {
        let mut adopted = 0;
        let mut cursor = 0u64;
        loop {
            while self.repairs.is_filling() {
                self.wait(RETRY).await.map_err(Stopped::Lock)?;
            }
            let cmd = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(BATCH)
                .arg("TYPE")
                .arg("hash")
                .clone();
            let step = node.bulk.cmd::<(u64, Vec<String>)>(&cmd).await;
            let (next, keys) = match step {
                Ok(step) => step,
                Err(_) if node.is_up() => {
                    self.wait(RETRY).await.map_err(Stopped::Lock)?;
                    continue;
                }
                Err(_) => return Err(Stopped::NodeDown),
            };
            let found = keys.len();
            let copies = match self.copies(node, keys).await {
                Ok(copies) => copies,
                Err(()) if node.is_up() => {
                    self.wait(RETRY).await.map_err(Stopped::Lock)?;
                    continue;
                }
                Err(()) => return Err(Stopped::NodeDown),
            };
            let outcomes = loop {
                match self.index.adopt_all(&node.id, &copies).await {
                    Ok(outcomes) => break outcomes,
                    Err(_) => self.wait(RETRY).await.map_err(Stopped::Lock)?,
                }
            };
            for ((key, _), outcome) in copies.iter().zip(outcomes) {
                if needs_repair(outcome) {
                    self.repairs.enqueue(key);
                }
            }
            adopted += copies.len() as u64;
            self.metrics.index_rebuild_keys.inc_by(copies.len() as u64);
            self.wait(pace.time(found)).await.map_err(Stopped::Lock)?;
            cursor = next;
            if cursor == 0 {
                return Ok(adopted);
            }
        }
    }

    /// Which of `keys` on `node` are copies the balancer wrote (a
    /// timestamp), each with its TTL; one round trip.
    async fn copies(
        &self,
        node: &Node,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<u64>)>, ()> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("HEXISTS").arg(key).arg("t").pttl(key);
        }
        let answers: Vec<i64> = node.bulk.pipe(&pipe).await.map_err(drop)?;
        Ok(keys
            .into_iter()
            .zip(answers.chunks(2))
            .filter_map(|(key, a)| Some((key, copy_ttl(a[0] == 1, a[1])?)))
            .collect())
    }

    /// Sleeps for `time`, renewing the lock at least every quarter of its
    /// lease and at the end; an error once it is lost.
    async fn wait(&self, time: Duration) -> Result<(), LockLost> {
        let mut left = time;
        loop {
            let slice = left.min(LOCK_TTL / 4);
            tokio::time::sleep(slice).await;
            self.renew().await?;
            left -= slice;
            if left.is_zero() {
                return Ok(());
            }
        }
    }

    /// Keeps the lock; an error once it is lost. An index that does not
    /// answer now is no loss yet: the lock outlives a short outage.
    async fn renew(&self) -> Result<(), LockLost> {
        match self.index.renew_rebuild(&self.owner, LOCK_TTL).await {
            Ok(false) => Err(LockLost),
            _ => Ok(()),
        }
    }
}

/// The ids in `all` not yet `scanned`.
fn unscanned<'a>(
    all: impl Iterator<Item = &'a Arc<str>>,
    scanned: &HashSet<Arc<str>>,
) -> Vec<Arc<str>> {
    all.filter(|id| !scanned.contains(*id)).cloned().collect()
}

/// Whether a key holding a timestamp (`versioned`) with `pttl` (Redis's
/// answer: -1 no TTL, -2 gone) is a copy to adopt, and with what TTL.
fn copy_ttl(versioned: bool, pttl: i64) -> Option<Option<u64>> {
    match pttl {
        _ if !versioned => None,
        -2 => None,
        -1 => Some(None),
        ms => Some(Some(u64::try_from(ms).unwrap_or(0))),
    }
}

/// Whether an adoption leaves copies that may differ under one entry.
fn needs_repair(outcome: Adopted) -> bool {
    outcome == Adopted::Added
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_versioned_copies_that_still_exist_are_adopted() {
        assert_eq!(copy_ttl(true, -1), Some(None));
        assert_eq!(copy_ttl(true, 1500), Some(Some(1500)));
        assert_eq!(copy_ttl(true, -2), None, "expired between the reads");
        assert_eq!(copy_ttl(false, -1), None, "written around the balancer");
    }

    #[test]
    fn a_copy_joining_other_members_is_repaired() {
        assert!(needs_repair(Adopted::Added));
        assert!(!needs_repair(Adopted::Created));
        assert!(!needs_repair(Adopted::Present));
    }

    #[test]
    fn the_nodes_left_are_those_not_scanned() {
        let ids: Vec<Arc<str>> = ["a", "b", "c"].map(Arc::from).to_vec();
        let scanned: HashSet<Arc<str>> = [Arc::from("b")].into();
        let left = unscanned(ids.iter(), &scanned);
        assert_eq!(left, vec![Arc::from("a"), Arc::from("c")]);
    }
}
