//! The repair queue: keys whose replicas a write or a read found out of
//! line, and older copies to remove. The request path only adds to it;
//! the repairer in [`crate::background`] works it, retrying with doubling
//! back-off. The queue is bounded: a job over the limit is dropped and
//! counted, and left to the resync that follows the node's return.
//!
//! A job is queued once however often it is asked for. A job asked for
//! again while it runs is run once more after it ends: the running repair
//! may have read the replicas before the write that asked again reached
//! them, and dropping the ask would leave a replica behind.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The first retry waits this long; each next one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What a repair does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RepairJob {
    /// Bring the key's replicas in line.
    Repair(String),
    /// Delete `node`'s copy of `key` unless newer than `timestamp`.
    DropStale {
        /// The key.
        key: String,
        /// The node that missed a write and left the key's set.
        node: Arc<str>,
        /// The write it missed.
        timestamp: String,
    },
}

/// A queued job and when it is due.
#[derive(Debug)]
pub struct Task {
    /// What to do.
    pub job: RepairJob,
    attempt: u32,
    due: Instant,
}

/// The queue, shared by the request path and the repairer.
#[derive(Debug)]
pub struct RepairQueue {
    inner: Mutex<Inner>,
    wake: Notify,
    limit: usize,
    max_attempts: u32,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct Inner {
    tasks: VecDeque<Task>,
    /// Every job waiting or running.
    queued: HashSet<RepairJob>,
    /// Jobs taken out to run and not yet ended.
    running: HashSet<RepairJob>,
    /// Running jobs asked for again meanwhile.
    again: HashSet<RepairJob>,
}

impl RepairQueue {
    /// An empty queue holding at most `limit` jobs, each tried at most
    /// `max_attempts` times.
    pub fn new(limit: usize, max_attempts: u32, metrics: Arc<Metrics>) -> RepairQueue {
        RepairQueue {
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            limit,
            max_attempts,
            metrics,
        }
    }

    /// Queues a repair of `key` (once, however often it is asked).
    pub fn enqueue(&self, key: &str) {
        self.push(RepairJob::Repair(key.to_string()));
    }

    /// Queues the removal of `node`'s copy of `key` if it is older than
    /// `timestamp`: the node missed that write and left the key's set.
    pub fn drop_stale(&self, key: &str, node: Arc<str>, timestamp: &str) {
        self.push(RepairJob::DropStale {
            key: key.to_string(),
            node,
            timestamp: timestamp.to_string(),
        });
    }

    fn push(&self, job: RepairJob) {
        let mut inner = self.lock();
        if inner.running.contains(&job) {
            inner.again.insert(job);
            return;
        }
        if inner.queued.contains(&job) {
            return;
        }
        if inner.tasks.len() >= self.limit {
            self.metrics.repairs.with_label_values(&["dropped"]).inc();
            return;
        }
        inner.queued.insert(job.clone());
        inner.tasks.push_back(Task {
            job,
            attempt: 0,
            due: Instant::now(),
        });
        self.metrics.repairs_pending.set(inner.tasks.len() as i64);
        drop(inner);
        self.wake.notify_one();
    }

    /// Jobs waiting.
    pub fn pending(&self) -> usize {
        self.lock().tasks.len()
    }

    /// Whether the queue is half full: a walk that queues repairs waits
    /// then, rather than have them dropped.
    pub fn is_filling(&self) -> bool {
        self.pending() * 2 >= self.limit
    }

    /// Completes when a job may have been added.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Takes every task due by `now` out of the queue.
    pub fn take_due(&self, now: Instant) -> VecDeque<Task> {
        let mut inner = self.lock();
        let (due, later) = std::mem::take(&mut inner.tasks)
            .into_iter()
            .partition(|t| t.due <= now);
        inner.tasks = later;
        inner
            .running
            .extend(due.iter().map(|t: &Task| t.job.clone()));
        due
    }

    /// Puts tasks taken but not run back, as they were.
    pub fn put_back(&self, tasks: impl IntoIterator<Item = Task>) {
        let mut inner = self.lock();
        for task in tasks {
            inner.running.remove(&task.job);
            inner.again.remove(&task.job);
            inner.tasks.push_back(task);
        }
        self.metrics.repairs_pending.set(inner.tasks.len() as i64);
    }

    /// The task ran to an end: it leaves the queue, unless it was asked
    /// for again while it ran.
    pub fn finish(&self, task: &Task) {
        let mut inner = self.lock();
        inner.queued.remove(&task.job);
        inner.running.remove(&task.job);
        let again = inner.again.remove(&task.job);
        self.metrics.repairs_pending.set(inner.tasks.len() as i64);
        drop(inner);
        if again {
            self.push(task.job.clone());
        }
    }

    /// The task failed: it is tried again after a back-off, or given up
    /// and counted once out of attempts.
    pub fn retry(&self, mut task: Task) {
        if task.attempt + 1 >= self.max_attempts {
            self.finish(&task);
            self.metrics.repairs.with_label_values(&["gave_up"]).inc();
            return;
        }
        task.due = Instant::now() + FIRST_BACKOFF * 2u32.pow(task.attempt.min(16));
        task.attempt += 1;
        self.put_back([task]);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(limit: usize) -> RepairQueue {
        RepairQueue::new(limit, 2, Arc::new(Metrics::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_queued_once_until_its_repair_ends() {
        let q = queue(10);
        q.enqueue("k");
        q.enqueue("k");
        assert_eq!(q.pending(), 1);
        let task = q.take_due(Instant::now()).pop_front().unwrap();
        q.finish(&task);
        q.enqueue("k");
        assert_eq!(q.pending(), 1, "a finished repair can be asked for again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_repair_asked_for_while_it_runs_runs_again_after() {
        // The running repair may have read the replicas before the write
        // that asked again reached them: dropping the ask would leave a
        // replica behind for good.
        let q = queue(10);
        q.enqueue("k");
        let task = q.take_due(Instant::now()).pop_front().unwrap();
        q.enqueue("k");
        q.enqueue("k");
        assert_eq!(q.pending(), 0, "not run twice at once");
        q.finish(&task);
        assert_eq!(q.pending(), 1, "run once more after");
        let again = q.take_due(Instant::now()).pop_front().unwrap();
        assert_eq!(again.job, RepairJob::Repair("k".into()));
        q.finish(&again);
        assert_eq!(q.pending(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn over_the_limit_is_dropped_and_counted() {
        let q = queue(1);
        q.enqueue("a");
        q.enqueue("b");
        assert_eq!(q.pending(), 1);
        assert_eq!(q.metrics.repairs.with_label_values(&["dropped"]).get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_task_backs_off_then_gives_up() {
        let q = queue(10);
        q.enqueue("k");
        let task = q.take_due(Instant::now()).pop_front().unwrap();
        q.retry(task);
        assert!(q.take_due(Instant::now()).is_empty(), "backing off");
        tokio::time::advance(FIRST_BACKOFF).await;
        let task = q.take_due(Instant::now()).pop_front().unwrap();
        q.retry(task);
        assert_eq!(q.pending(), 0);
        assert_eq!(q.metrics.repairs.with_label_values(&["gave_up"]).get(), 1);
    }
}
