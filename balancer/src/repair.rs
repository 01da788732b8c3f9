//! Brings a key's replicas back in line, three ways:
//!
//! - **Retry with back-off**: a write that a replica missed queues the key;
//!   the repair reads every replica in the key's set, takes the newest
//!   version (tombstones included) and writes it, with its own timestamp,
//!   to the replicas that lack it. The node's last-writer-wins script makes
//!   a repair that races a newer write harmless. The queue is bounded: a
//!   key over the limit is dropped and counted, and left to the resync.
//! - **Read repair**: a read that had to skip past its primary queues the
//!   key the same way.
//! - **Stale copies**: a replica that failed a write while still up is
//!   taken out of the key's set; its older copy is then deleted (only if
//!   still older than the write), so a location cached by another balancer
//!   cannot read it back.
//! - **Resync** of a node that came back up or restarted empty (a new
//!   `run_id`): walk the index and repair every key whose set names the
//!   node; a key whose set has fewer than R members (written while fewer
//!   than R nodes were up) takes the node as a new member and is copied to
//!   it. Then walk the node and remove the copies it holds of keys whose
//!   set no longer names it, so they can never come back as answers. Both
//!   walks run at a bounded rate, and wait out index or node errors rather
//!   than stop: the resync is the only thing that refills the node.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::config::RepairConfig;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::nodes::{Membership, Node, NodeTable};
use crate::values::{self, Version};

/// The first retry waits this long; each next one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How often the repairer looks for due repairs and returning nodes.
const TICK: Duration = Duration::from_millis(100);
/// Keys per walk step.
const WALK_BATCH: usize = 500;
/// How long a walk waits before it retries a step that failed.
const WALK_RETRY: Duration = Duration::from_secs(1);

/// The repair queue and its settings.
#[derive(Debug)]
pub struct Repairer {
    queue: Mutex<Queue>,
    wake: Notify,
    config: RepairConfig,
    /// The replication factor R: sets shorter than this are topped up.
    factor: usize,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct Queue {
    tasks: VecDeque<Task>,
    queued: HashSet<Job>,
}

/// What a task does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Job {
    /// Bring the key's replicas in line.
    Repair(String),
    /// Delete `node`'s copy of `key` if older than `timestamp`.
    DropStale {
        key: String,
        node: Arc<str>,
        timestamp: String,
    },
}

#[derive(Debug)]
struct Task {
    job: Job,
    attempt: u32,
    due: Instant,
}

/// How one repair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every replica already held the newest version, or the key is gone.
    InSync,
    /// At least one replica was brought up to date.
    Repaired,
}

/// A replica could not be read or written; the repair is tried again.
#[derive(Debug)]
struct Retry;

impl Repairer {
    /// An empty queue, for replica sets of `factor` nodes.
    pub fn new(config: RepairConfig, factor: usize, metrics: Arc<Metrics>) -> Repairer {
        Repairer {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            config,
            factor,
            metrics,
        }
    }

    /// Queues a repair of `key` (once, however often it is asked).
    pub fn enqueue(&self, key: &str) {
        self.push(Job::Repair(key.to_string()));
    }

    /// Queues the removal of `node`'s copy of `key` if it is older than
    /// `timestamp`: the node missed that write and left the key's set.
    pub fn drop_stale(&self, key: &str, node: Arc<str>, timestamp: &str) {
        self.push(Job::DropStale {
            key: key.to_string(),
            node,
            timestamp: timestamp.to_string(),
        });
    }

    fn push(&self, job: Job) {
        let mut queue = self.lock();
        if queue.queued.contains(&job) {
            return;
        }
        if queue.tasks.len() >= self.config.queue_limit {
            self.metrics.repairs.with_label_values(&["dropped"]).inc();
            return;
        }
        queue.queued.insert(job.clone());
        queue.tasks.push_back(Task {
            job,
            attempt: 0,
            due: Instant::now(),
        });
        self.metrics.repairs_pending.set(queue.tasks.len() as i64);
        drop(queue);
        self.wake.notify_one();
    }

    /// Keys waiting for a repair.
    pub fn pending(&self) -> usize {
        self.lock().tasks.len()
    }

    /// Works the queue and resyncs returning nodes until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        nodes: Arc<Membership>,
        index: Arc<Index>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut seen_rejoins: HashMap<Arc<str>, u64> = HashMap::new();
        let mut resyncs: HashMap<Arc<str>, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let table = nodes.current();
            for node in table.all() {
                let rejoins = node.rejoins();
                let seen = seen_rejoins.entry(node.id.clone()).or_insert(rejoins);
                let running = resyncs.get(&node.id).is_some_and(|t| !t.is_finished());
                if rejoins > *seen && !running {
                    *seen = rejoins;
                    let task = tokio::spawn(self.clone().resync(
                        nodes.clone(),
                        index.clone(),
                        node.id.clone(),
                    ));
                    resyncs.insert(node.id.clone(), task);
                }
            }
            self.work_due(&table, &index, &shutdown).await;
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => break,
            }
        }
        for task in resyncs.into_values() {
            task.abort();
        }
    }

    /// Runs every repair that is due, rescheduling those that fail; stops
    /// early on `shutdown`, leaving the rest queued.
    async fn work_due(&self, table: &NodeTable, index: &Index, shutdown: &watch::Receiver<bool>) {
        let now = Instant::now();
        let due: VecDeque<Task> = {
            let mut queue = self.lock();
            let (due, later) = std::mem::take(&mut queue.tasks)
                .into_iter()
                .partition(|t| t.due <= now);
            queue.tasks = later;
            due
        };
        let mut due = due.into_iter();
        while let Some(mut task) = due.next() {
            if *shutdown.borrow() {
                self.lock().tasks.extend(std::iter::once(task).chain(due));
                return;
            }
            let outcome = match &task.job {
                Job::Repair(key) => repair_key(table, index, key).await,
                Job::DropStale {
                    key,
                    node,
                    timestamp,
                } => self.drop_older(table, key, node, timestamp).await,
            };
            let mut queue = self.lock();
            match outcome {
                Ok(outcome) => {
                    queue.queued.remove(&task.job);
                    self.count(outcome);
                }
                Err(Retry) if task.attempt + 1 < self.config.max_attempts => {
                    task.due = Instant::now() + FIRST_BACKOFF * 2u32.pow(task.attempt.min(16));
                    task.attempt += 1;
                    queue.tasks.push_back(task);
                }
                Err(Retry) => {
                    queue.queued.remove(&task.job);
                    self.metrics.repairs.with_label_values(&["gave_up"]).inc();
                }
            }
            self.metrics.repairs_pending.set(queue.tasks.len() as i64);
        }
    }

    /// Refills a node that came back and clears its stale copies.
    async fn resync(self: Arc<Self>, nodes: Arc<Membership>, index: Arc<Index>, id: Arc<str>) {
        self.metrics.resyncs.inc();
        tracing::info!(node = %id, "resync started");
        let pace = Pace::new(self.config.resync_keys_per_sec);
        let mut cursor = 0;
        let mut repaired = 0u64;
        loop {
            let (next, entries) = match index.scan(cursor, WALK_BATCH).await {
                Ok(step) => step,
                Err(e) => {
                    tracing::warn!(node = %id, error = %e, "resync waits for the index");
                    tokio::time::sleep(WALK_RETRY).await;
                    continue;
                }
            };
            let table = nodes.current();
            let mut mine: Vec<&String> = Vec::new();
            for (key, set) in &entries {
                let member = set.iter().any(|n| **n == *id);
                // A short set takes the node back as a member.
                if member
                    || (set.len() < self.factor
                        && index.swap_members(key, &[], &[&id]).await.is_ok())
                {
                    mine.push(key);
                }
            }
            for key in &mine {
                match repair_key(&table, &index, key).await {
                    Ok(outcome) => {
                        repaired += u64::from(outcome == Outcome::Repaired);
                        self.count(outcome);
                    }
                    Err(Retry) => self.enqueue(key),
                }
            }
            pace.wait(mine.len()).await;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let removed = self.sweep(&nodes, &index, &id, &pace).await;
        tracing::info!(node = %id, repaired, removed, "resync done");
    }

    /// Removes the node's copies of keys whose replica set no longer
    /// names it and whose set holds a newer version.
    async fn sweep(&self, nodes: &Membership, index: &Index, id: &str, pace: &Pace) -> u64 {
        let mut removed = 0;
        let mut cursor = 0u64;
        loop {
            let table = nodes.current();
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
            let (next, keys) = match node.backend.cmd::<(u64, Vec<String>)>(&cmd).await {
                Ok(step) => step,
                Err(_) if node.is_up() => {
                    tokio::time::sleep(WALK_RETRY).await;
                    continue;
                }
                // Down again: its next return starts a new resync.
                Err(_) => return removed,
            };
            for key in &keys {
                if drop_if_stale(&table, index, node, key).await {
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

    /// Deletes `id`'s copy of `key` if it is older than `timestamp`.
    async fn drop_older(
        &self,
        table: &NodeTable,
        key: &str,
        id: &str,
        timestamp: &str,
    ) -> Result<Outcome, Retry> {
        let Some(node) = table.by_id(id) else {
            return Ok(Outcome::InSync);
        };
        if !node.is_up() {
            return Err(Retry);
        }
        match values::drop_if_older(&node.backend, key, timestamp).await {
            Ok(true) => {
                self.metrics.stale_copies_removed.inc();
                Ok(Outcome::Repaired)
            }
            Ok(false) => Ok(Outcome::InSync),
            Err(_) => Err(Retry),
        }
    }

    fn count(&self, outcome: Outcome) {
        let label = match outcome {
            Outcome::InSync => "in_sync",
            Outcome::Repaired => "repaired",
        };
        self.metrics.repairs.with_label_values(&[label]).inc();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Copies the newest version of `key` to every replica in its set that
/// lacks it.
async fn repair_key(table: &NodeTable, index: &Index, key: &str) -> Result<Outcome, Retry> {
    let Some(set) = index.lookup(key).await.map_err(|_| Retry)? else {
        return Ok(Outcome::InSync);
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
    let reads = join_all(members.iter().map(|n| values::read(&n.backend, key))).await;
    let newest: Option<&Version> = reads
        .iter()
        .filter_map(|r| r.as_ref().ok().and_then(Option::as_ref))
        .max_by(|a, b| a.timestamp.cmp(&b.timestamp));
    let Some(newest) = newest.cloned() else {
        return if reads.iter().any(Result::is_err) || unreachable {
            Err(Retry)
        } else {
            Ok(Outcome::InSync)
        };
    };
    let behind: Vec<&Node> = members
        .iter()
        .zip(&reads)
        .filter_map(|(node, read)| match read {
            Ok(Some(v)) if v.timestamp >= newest.timestamp => None,
            Ok(_) => Some(*node),
            Err(_) => {
                unreachable = true;
                None
            }
        })
        .collect();
    let writes = join_all(
        behind
            .iter()
            .map(|n| values::apply(&n.backend, key, &newest)),
    )
    .await;
    unreachable |= writes.iter().any(Result::is_err);
    if unreachable {
        return Err(Retry);
    }
    Ok(if behind.is_empty() {
        Outcome::InSync
    } else {
        Outcome::Repaired
    })
}

/// Drops `node`'s copy of `key` when the key's set no longer names the
/// node and a member holds a newer version; returns whether it did.
async fn drop_if_stale(table: &NodeTable, index: &Index, node: &Node, key: &str) -> bool {
    let Ok(Some(set)) = index.lookup(key).await else {
        return false;
    };
    if set.iter().any(|id| **id == *node.id) {
        return false;
    }
    let Ok(Some(mine)) = values::read(&node.backend, key).await else {
        return false;
    };
    let members = set.iter().filter_map(|id| table.by_id(id));
    let reads = join_all(members.map(|n| values::read(&n.backend, key))).await;
    let superseded = reads.iter().any(|r| {
        r.as_ref()
            .ok()
            .and_then(Option::as_ref)
            .is_some_and(|v| v.timestamp > mine.timestamp)
    });
    superseded
        && values::drop_if_at(&node.backend, key, &mine.timestamp)
            .await
            .unwrap_or(false)
}

/// Spreads a walk out to at most `per_sec` keys a second.
#[derive(Debug)]
struct Pace {
    per_key: Duration,
}

impl Pace {
    fn new(per_sec: u32) -> Pace {
        Pace {
            per_key: Duration::from_secs(1) / per_sec.max(1),
        }
    }

    async fn wait(&self, keys: usize) {
        tokio::time::sleep(self.per_key * keys as u32).await;
    }
}
