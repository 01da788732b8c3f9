//! One write's fan-out to its replica set, in a task of its own so that it
//! finishes after the client has its answer.
//!
//! Each replica in the set that is up gets the version at once; a replica
//! that is down, and one that fails the write, is replaced by a substitute
//! chosen by placement among the nodes outside the set. Every replica
//! that takes the write is reported on the acknowledgement channel, which
//! the caller waits on until its acknowledgement level is met.
//!
//! **When the set changes** (a member is down or failed), the
//! acknowledgements still to come are held back until the set is settled:
//! the index entry is edited to the nodes that took the write (so it never
//! names a replica holding an older value, and every balancer's cached
//! location of the key is invalidated by the index), a member that
//! refused the write while up has its older copy removed, and a repair of
//! the key is queued (a concurrent write may have edited the set too).
//! Only then does the client hear that the write worked, so no read that
//! follows the answer can be sent to the older copy.

use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use crate::backend::BackendError;
use crate::config::PlacementConfig;
use crate::health::count_failure;
use crate::index::{Index, IndexError};
use crate::metrics::Metrics;
use crate::nodes::{Node, NodeTable};
use crate::placement;
use crate::repair::Repairer;
use crate::values::{self, Applied, Version};

/// What a write needs, cloned into the task that carries it out.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pub(crate) index: Arc<Index>,
    pub(crate) repairs: Arc<Repairer>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) policy: PlacementConfig,
    pub(crate) eject_after: u32,
}

/// One replica's answer to a write.
#[derive(Debug)]
pub(crate) struct Ack {
    pub(crate) node: Arc<str>,
    pub(crate) primary: bool,
    pub(crate) applied: Applied,
}

/// Why a write's replicas could not take it.
#[derive(Debug, Default)]
pub(crate) struct WriteFailure {
    pub(crate) last: Option<BackendError>,
}

/// Where a write stands.
#[derive(Debug)]
struct Progress {
    sender: mpsc::UnboundedSender<Ack>,
    /// Acknowledgements held back until the set is settled.
    held: Vec<Ack>,
    hold: bool,
    acked: Vec<Arc<str>>,
    /// Replicas that answered the write with an error (full, say).
    refused: Vec<Arc<str>>,
    /// Replicas that could not be reached in time.
    unreachable: Vec<Arc<str>>,
    failure: WriteFailure,
}

/// A write: the key, its version, the replica set it was given, and the
/// number of replicas it should reach.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) key: String,
    pub(crate) version: Version,
    pub(crate) set: Vec<String>,
    /// This write created the key's index entry.
    pub(crate) claimed: bool,
    pub(crate) replicas: usize,
}

impl Writer {
    /// Carries out `job` on `nodes`, reporting each acknowledgement on
    /// `acks`; see the module docs.
    pub(crate) async fn write(
        self,
        nodes: Arc<NodeTable>,
        job: Job,
        acks: mpsc::UnboundedSender<Ack>,
    ) -> WriteFailure {
        let Job {
            key,
            version,
            set,
            claimed,
            replicas,
        } = job;
        let primary = set.first().cloned();
        let (mut targets, mut gone): (Vec<&Node>, Vec<Arc<str>>) = (Vec::new(), Vec::new());
        for id in &set {
            match nodes.by_id(id).filter(|n| n.is_up()) {
                Some(node) => targets.push(node),
                None => gone.push(Arc::from(id.as_str())),
            }
        }
        let mut added: Vec<Arc<str>> = Vec::new();
        let short = replicas.saturating_sub(targets.len());
        for node in self.substitutes(&nodes, &key, &set, &[], short) {
            added.push(node.id.clone());
            targets.push(node);
        }
        let mut progress = Progress::new(acks, !gone.is_empty() || !added.is_empty());
        self.write_to(&targets, &key, &version, primary.as_deref(), &mut progress)
            .await;
        let failed = progress.refused.len() + progress.unreachable.len();
        if failed > 0 {
            let tried: Vec<Arc<str>> = targets.iter().map(|n| n.id.clone()).collect();
            let extra = self.substitutes(&nodes, &key, &set, &tried, failed);
            added.extend(extra.iter().map(|n| n.id.clone()));
            self.write_to(&extra, &key, &version, None, &mut progress)
                .await;
        }
        let moved = !gone.is_empty() || failed > 0 || !added.is_empty();
        if moved && !progress.acked.is_empty() {
            self.settle(&nodes, &key, &version, &set, &gone, &added, &progress)
                .await;
        }
        let Progress {
            sender,
            held,
            acked,
            failure,
            ..
        } = progress;
        for ack in held {
            let _ = sender.send(ack);
        }
        drop(sender);
        if acked.is_empty() && claimed {
            // Undo the claim so the key is placed afresh next time.
            let _ = self.index.release(&key, &set).await;
        } else if acked.len() < replicas {
            self.repairs.enqueue(&key);
        }
        failure
    }

    /// Settles a set that changed: edits the index entry, removes older
    /// copies left on members that left, and queues a repair.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        nodes: &NodeTable,
        key: &str,
        version: &Version,
        set: &[String],
        gone: &[Arc<str>],
        added: &[Arc<str>],
        progress: &Progress,
    ) {
        self.metrics.failovers.with_label_values(&["set"]).inc();
        let out: Vec<&str> = gone
            .iter()
            .chain(&progress.refused)
            .chain(&progress.unreachable)
            .map(|id| &**id)
            .collect();
        let added_ok: Vec<&str> = added
            .iter()
            .filter(|id| progress.acked.contains(id))
            .map(|id| &**id)
            .collect();
        if let Err(e) = self.index.swap_members(key, &out, &added_ok).await {
            count_index_error(&self.metrics, &e);
        }
        let was_member = |id: &Arc<str>| set.iter().any(|s| **s == **id);
        for id in progress.refused.iter().filter(|id| was_member(id)) {
            // It answered, so it can be asked to drop its older copy now.
            let dropped = match nodes.by_id(id) {
                Some(node) => values::drop_if_older(&node.backend, key, &version.timestamp).await,
                None => Ok(false),
            };
            match dropped {
                Ok(true) => self.metrics.stale_copies_removed.inc(),
                Ok(false) => {}
                Err(_) => self.repairs.drop_stale(key, id.clone(), &version.timestamp),
            }
        }
        for id in gone.iter().chain(&progress.unreachable) {
            if was_member(id) {
                self.repairs.drop_stale(key, id.clone(), &version.timestamp);
            }
        }
        self.repairs.enqueue(key);
    }

    /// Writes to every target at once, recording each answer in `progress`.
    async fn write_to(
        &self,
        targets: &[&Node],
        key: &str,
        version: &Version,
        primary: Option<&str>,
        progress: &mut Progress,
    ) {
        let mut writes: FuturesUnordered<_> = targets
            .iter()
            .map(|node| async move { (*node, values::apply(&node.backend, key, version).await) })
            .collect();
        while let Some((node, result)) = writes.next().await {
            match result {
                Ok(applied) => {
                    node.record_success();
                    if applied.applied && !applied.existed && version.is_live() {
                        let bytes = version.json.as_ref().map_or(0, Vec::len) as u64;
                        node.record_placement(bytes);
                        self.metrics
                            .placements
                            .with_label_values(&[&*node.id])
                            .inc();
                    }
                    progress.ack(Ack {
                        node: node.id.clone(),
                        primary: primary == Some(&*node.id),
                        applied,
                    });
                }
                Err(e) => {
                    if e.is_unreachable() {
                        count_failure(node, &e, self.eject_after, &self.metrics);
                    }
                    progress.fail(node.id.clone(), e);
                }
            }
        }
    }

    /// Up to `count` up nodes, chosen by placement, that are neither in
    /// `set` nor already `tried`.
    fn substitutes<'t>(
        &self,
        nodes: &'t NodeTable,
        key: &str,
        set: &[String],
        tried: &[Arc<str>],
        count: usize,
    ) -> Vec<&'t Node> {
        if count == 0 {
            return Vec::new();
        }
        let free: Vec<_> = nodes
            .contenders(key)
            .into_iter()
            .filter(|c| {
                let id = &nodes.get(c.node).id;
                !set.iter().any(|s| **s == **id) && !tried.contains(id)
            })
            .collect();
        placement::choose_replicas(&free, &self.policy, true, count)
            .into_iter()
            .map(|i| nodes.get(i))
            .collect()
    }
}

impl Progress {
    fn new(sender: mpsc::UnboundedSender<Ack>, hold: bool) -> Progress {
        Progress {
            sender,
            held: Vec::new(),
            hold,
            acked: Vec::new(),
            refused: Vec::new(),
            unreachable: Vec::new(),
            failure: WriteFailure::default(),
        }
    }

    /// A replica took the write: tell the caller, unless the set is
    /// changing.
    fn ack(&mut self, ack: Ack) {
        self.acked.push(ack.node.clone());
        if self.hold {
            self.held.push(ack);
        } else {
            let _ = self.sender.send(ack);
        }
    }

    /// A replica failed the write: the set will change, so hold back the
    /// acknowledgements still to come.
    fn fail(&mut self, node: Arc<str>, error: BackendError) {
        if error.is_unreachable() {
            self.unreachable.push(node);
        } else {
            self.refused.push(node);
        }
        self.failure.last = Some(error);
        self.hold = true;
    }
}

/// Counts a failed or skipped index call.
pub(crate) fn count_index_error(metrics: &Metrics, e: &IndexError) {
    let kind = match e {
        IndexError::Skipped => "skipped",
        IndexError::Failed(_) => "failed",
    };
    metrics.index_errors.with_label_values(&[kind]).inc();
}
