//! The repairer: brings keys' replicas back in line, three ways.
//!
//! - **The queue** ([`crate::repairs`]): a write that a replica missed,
//!   or a read that had to skip past a replica, queues the key; the repair
//!   reads every member of the key's set, takes the newest version
//!   (tombstones included, see [`crate::newest`]) and writes it, with its
//!   own timestamp, to the members that lack it. The node's
//!   last-writer-wins script makes a repair that races a newer write
//!   harmless. Failed repairs are retried with back-off.
//! - **Stale copies**: a replica that failed or missed a write was taken
//!   out of the key's set; its copy is deleted unless it is newer than the
//!   write (it may have applied the write late, on resuming), so neither a
//!   location cached by another balancer nor the fallback, once the set's
//!   tombstones expire, can read it back.
//! - **Resync** of a node that came back up or restarted empty: see
//!   [`resync`].

mod resync;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{RepairConfig, WhenFull};
use crate::index::Index;
use crate::metrics::Metrics;
use crate::newest;
use crate::nodes::{Membership, Node, NodeTable};
use crate::repairs::{RepairJob, RepairQueue};
use crate::values;

/// How often the repairer looks for due repairs and returning nodes.
const TICK: Duration = Duration::from_millis(100);

/// What the repairer works with.
#[derive(Debug, Clone)]
pub(crate) struct Repairer {
    pub(crate) queue: Arc<RepairQueue>,
    pub(crate) nodes: Arc<Membership>,
    pub(crate) index: Arc<Index>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: RepairConfig,
    /// The replication factor R: sets shorter than this are topped up.
    pub(crate) factor: usize,
    /// How far ahead of a node's clock a copied version may be stamped, in ms.
    pub(crate) max_drift_ms: u64,
    /// Whether a member without the key is written (not when nodes evict).
    pub(crate) when_full: WhenFull,
}

/// How one repair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RepairOutcome {
    /// Every replica already held the newest version, or the key is gone.
    InSync,
    /// At least one replica was brought up to date.
    Repaired,
}

/// A replica could not be read or written; the repair is tried again.
#[derive(Debug)]
struct Retry;

impl Repairer {
    /// Works the queue and resyncs returning nodes until `shutdown`.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut seen_rejoins: HashMap<Arc<str>, u64> = HashMap::new();
        let mut resyncs: HashMap<Arc<str>, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let table = self.nodes.current();
            for node in table.all() {
                let rejoins = node.rejoins();
                let seen = seen_rejoins.entry(node.id.clone()).or_insert(rejoins);
                let running = resyncs.get(&node.id).is_some_and(|t| !t.is_finished());
                if rejoins > *seen && !running {
                    *seen = rejoins;
                    let task = tokio::spawn(self.clone().resync(node.id.clone()));
                    resyncs.insert(node.id.clone(), task);
                }
            }
            self.work_due(&table, &shutdown).await;
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.queue.woken() => {}
                _ = shutdown.changed() => break,
            }
        }
        for task in resyncs.into_values() {
            task.abort();
        }
    }

    /// Runs every repair that is due, rescheduling those that fail; stops
    /// early on `shutdown`, leaving the rest queued.
    async fn work_due(&self, table: &NodeTable, shutdown: &watch::Receiver<bool>) {
        let mut due = self.queue.take_due(Instant::now()).into_iter();
        while let Some(task) = due.next() {
            if *shutdown.borrow() {
                self.queue.put_back(std::iter::once(task).chain(due));
                return;
            }
            let outcome = match &task.job {
                RepairJob::Repair(key) => self.repair_key(table, key).await,
                RepairJob::DropStale {
                    key,
                    node,
                    timestamp,
                } => self.drop_older(table, key, node, timestamp).await,
            };
            match outcome {
                Ok(outcome) => {
                    self.queue.finish(&task);
                    self.count(outcome);
                }
                Err(Retry) => self.queue.retry(task),
            }
        }
    }

    /// Deletes `id`'s copy of `key` unless it is newer than `timestamp`.
    async fn drop_older(
        &self,
        table: &NodeTable,
        key: &str,
        id: &str,
        timestamp: &str,
    ) -> Result<RepairOutcome, Retry> {
        let Some(node) = table.by_id(id) else {
            return Ok(RepairOutcome::InSync);
        };
        if !node.is_up() {
            return Err(Retry);
        }
        // The rebalancer may have moved the key back onto the node since,
        // with this very version: a member's copy stays.
        if let Ok(Some(set)) = self.index.lookup(key).await
            && set.iter().any(|member| **member == *id)
        {
            return Ok(RepairOutcome::InSync);
        }
        match values::drop_unless_newer(&node.bulk, key, timestamp).await {
            Ok(true) => {
                self.metrics.stale_copies_removed.inc();
                // A balancer paused between the lookup and the drop may
                // have dropped the copy of a member the rebalancer had
                // since moved the key onto: its repair refills it.
                if let Ok(Some(set)) = self.index.lookup(key).await
                    && set.iter().any(|member| **member == *id)
                {
                    self.queue.enqueue(key);
                }
                Ok(RepairOutcome::Repaired)
            }
            Ok(false) => Ok(RepairOutcome::InSync),
            Err(_) => Err(Retry),
        }
    }

    fn count(&self, outcome: RepairOutcome) {
        let label = match outcome {
            RepairOutcome::InSync => "in_sync",
            RepairOutcome::Repaired => "repaired",
        };
        self.metrics.repairs.with_label_values(&[label]).inc();
    }
}

impl Repairer {
    /// Copies the newest version of `key` to every replica in its set that
    /// lacks it ([`newest::needs_repair`]: when nodes evict, only to those
    /// holding an older one).
    async fn repair_key(&self, table: &NodeTable, key: &str) -> Result<RepairOutcome, Retry> {
        let Some(set) = self.index.lookup(key).await.map_err(|_| Retry)? else {
            return Ok(RepairOutcome::InSync);
        };
        // Members that are down are not asked (a hung one would cost a
        // timeout on every try); the repair is retried until they are back.
        let mut unreachable = set
            .iter()
            .any(|id| table.by_id(id).is_none_or(|n| !n.is_up()));
        let members: Vec<&Node> = set
            .iter()
            .filter_map(|id| table.by_id(id))
            .filter(|n| n.is_up())
            .collect();
        let reads = join_all(members.iter().map(|n| values::read(&n.bulk, key))).await;
        let held = reads
            .iter()
            .filter_map(|r| r.as_ref().ok().and_then(Option::as_ref));
        let Some(newest) = newest::newest(held).cloned() else {
            return if reads.iter().any(Result::is_err) || unreachable {
                Err(Retry)
            } else {
                Ok(RepairOutcome::InSync)
            };
        };
        let mut behind: Vec<&Node> = Vec::new();
        for (node, read) in members.iter().zip(&reads) {
            match read {
                Ok(held) if newest::needs_repair(held.as_ref(), &newest, self.when_full) => {
                    behind.push(node)
                }
                Ok(_) => {}
                Err(_) => unreachable = true,
            }
        }
        let writes = join_all(
            behind
                .iter()
                .map(|n| values::apply(&n.bulk, key, &newest, self.max_drift_ms)),
        )
        .await;
        unreachable |= writes.iter().any(Result::is_err);
        if unreachable {
            return Err(Retry);
        }
        Ok(if behind.is_empty() {
            RepairOutcome::InSync
        } else {
            RepairOutcome::Repaired
        })
    }
}
