//! One write's fan-out to its replica set, which finishes after the client
//! has its answer ([`super::inline`]).
//!
//! Each replica in the set that is up gets the version at once; a replica
//! that is down, and one that fails the write, is replaced by a substitute
//! chosen by [`crate::replicas::substitutes`] among the nodes outside the
//! set. A replica that is down or cannot be reached counts the write as
//! missed, so its return resyncs it ([`crate::nodes::state`]). Every replica that takes the write is reported on the
//! acknowledgement channel, which the caller waits on until its
//! acknowledgement level is met.
//!
//! **When the set changes** (a member is down or failed), the
//! acknowledgements still to come are held back ([`crate::acks::Progress`])
//! until [`super::settle`] has settled the set. Only then does the client
//! hear that the write worked.

use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::Context;
use crate::acks::{Ack, Progress};
use crate::backend::{Backend, BackendError};
use crate::index::IndexError;
use crate::nodes::{Node, NodeTable};
use crate::replicas;
use crate::values::{self, Applied, Version};

/// A write: the key, its version, the replica set it was given, and the
/// number of replicas it should reach.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) key: String,
    pub(super) version: Version,
    pub(super) set: Vec<String>,
    /// This write created the key's index entry.
    pub(super) claimed: bool,
    /// The set came from the index (else from the fallback, the index
    /// being unreachable): a changed set must then be recorded there.
    pub(super) indexed: bool,
    pub(super) replicas: usize,
    /// For a TTL change: the written version it changes, the only one a
    /// replica applies it over, as written or changed before
    /// ([`values::apply_over`]).
    pub(super) over: Option<String>,
}

impl Job {
    /// Sends the version to one node: by last-writer-wins, and for a TTL
    /// change only over the version it changes.
    pub(super) async fn apply_to(
        &self,
        node: &Backend,
        max_drift_ms: u64,
    ) -> Result<Applied, BackendError> {
        let (key, version) = (&self.key, &self.version);
        match &self.over {
            None => values::apply(node, key, version, max_drift_ms).await,
            Some(over) => values::apply_over(node, key, version, over, max_drift_ms).await,
        }
    }
}

/// How a write's fan-out ended, for a caller that got too few
/// acknowledgements.
#[derive(Debug)]
pub(super) struct Fate {
    /// The last replica error.
    pub(super) last_error: Option<BackendError>,
    /// The set changed and the index could not record it: the held
    /// acknowledgements were never released.
    pub(super) unrecorded: Option<IndexError>,
    /// The set changed and the index records it: every member of the
    /// recorded set holds this write.
    pub(super) settled: bool,
}

/// Who a write went to: the members that got it, the substitutes added,
/// the members skipped because they were down.
#[derive(Debug, Default)]
pub(super) struct Targets<'t> {
    pub(super) nodes: Vec<&'t Node>,
    pub(super) added: Vec<Arc<str>>,
    pub(super) gone: Vec<Arc<str>>,
}

impl Context {
    /// Carries out `job` on `nodes`, passing each acknowledgement on to
    /// `acks` as [`Progress`] allows, after telling `primary_sent` whether
    /// the set's primary is among the targets; returns how it ended.
    pub(super) async fn write(
        self,
        nodes: Arc<NodeTable>,
        job: Job,
        acks: mpsc::UnboundedSender<Ack>,
        primary_sent: oneshot::Sender<bool>,
    ) -> Fate {
        let mut targets = self.targets(&nodes, &job);
        let mut progress = Progress::new(!targets.gone.is_empty() || !targets.added.is_empty());
        let primary = job.set.first().map(String::as_str);
        let _ = primary_sent.send(targets.nodes.iter().any(|n| Some(&*n.id) == primary));
        self.write_to(&targets.nodes, &job, primary, &mut progress, &acks)
            .await;
        let failed = progress.failed();
        if failed > 0 {
            let tried: Vec<Arc<str>> = targets.nodes.iter().map(|n| n.id.clone()).collect();
            let extra = self.substitutes(&nodes, &job, &tried, failed);
            targets.added.extend(extra.iter().map(|n| n.id.clone()));
            self.write_to(&extra, &job, None, &mut progress, &acks)
                .await;
        }
        let moved = !targets.gone.is_empty() || failed > 0 || !targets.added.is_empty();
        let mut unrecorded = None;
        if moved && !progress.acked.is_empty() {
            unrecorded = self.settle(&nodes, &job, &targets, &progress).await.err();
        }
        if unrecorded.is_none() {
            for ack in progress.release() {
                let _ = acks.send(ack);
            }
        }
        drop(acks);
        if progress.acked.is_empty() && job.claimed {
            // Undo the claim so the key is placed afresh next time.
            let _ = self.index.release(&job.key, &job.set).await;
        } else if progress.acked.len() < job.replicas {
            self.repairs.enqueue(&job.key);
        }
        Fate {
            last_error: progress.last_error,
            settled: moved && !progress.acked.is_empty() && unrecorded.is_none(),
            unrecorded,
        }
    }

    /// The set's members that are up, and substitutes for those that are
    /// not (or for a set shorter than the write's replica count).
    fn targets<'t>(&self, nodes: &'t NodeTable, job: &Job) -> Targets<'t> {
        let mut targets = Targets::default();
        for id in &job.set {
            match nodes.by_id(id) {
                Some(node) if node.is_up() => targets.nodes.push(node),
                Some(node) => {
                    node.record_missed_write();
                    targets.gone.push(node.id.clone());
                }
                None => targets.gone.push(Arc::from(id.as_str())),
            }
        }
        let short = job.replicas.saturating_sub(targets.nodes.len());
        for node in self.substitutes(nodes, job, &[], short) {
            targets.added.push(node.id.clone());
            targets.nodes.push(node);
        }
        targets
    }

    /// Writes to every target at once, recording each answer in `progress`
    /// and passing on the acknowledgements it lets through.
    async fn write_to(
        &self,
        targets: &[&Node],
        job: &Job,
        primary: Option<&str>,
        progress: &mut Progress,
        acks: &mpsc::UnboundedSender<Ack>,
    ) {
        let version = &job.version;
        let mut writes: FuturesUnordered<_> = targets
            .iter()
            .map(
                |node| async move { (*node, job.apply_to(&node.backend, self.max_drift_ms).await) },
            )
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
                    let ack = Ack {
                        node: node.id.clone(),
                        primary: primary == Some(&*node.id),
                        superseded: !applied.applied && applied.timestamp > version.timestamp,
                        applied,
                    };
                    if job.over.is_some() && !ack.applied.applied && !ack.superseded {
                        // A TTL change passed over a node without the
                        // write it changes (missed, or a copy still on its
                        // way): the repair brings it the newest version.
                        self.repairs.enqueue(&job.key);
                    }
                    if let Some(ack) = progress.ack(ack) {
                        let _ = acks.send(ack);
                    }
                }
                Err(e) => {
                    if e.is_unreachable() {
                        self.node_failed(node, &e);
                        node.record_missed_write();
                    }
                    if matches!(e, BackendError::ClockAhead { .. }) {
                        self.metrics
                            .clock_drift
                            .with_label_values(&["refused"])
                            .inc();
                    }
                    progress.fail(node.id.clone(), e);
                }
            }
        }
    }

    /// Up to `count` up nodes, chosen by placement, that are neither in
    /// the job's set nor already `tried`, away from the set's hosts.
    fn substitutes<'t>(
        &self,
        nodes: &'t NodeTable,
        job: &Job,
        tried: &[Arc<str>],
        count: usize,
    ) -> Vec<&'t Node> {
        if count == 0 {
            return Vec::new();
        }
        let excluded = |i: usize| {
            let id = &nodes.get(i).id;
            job.set.iter().any(|s| **s == **id) || tried.contains(id)
        };
        replicas::substitutes(
            &nodes.contenders(&job.key),
            excluded,
            &self.placement,
            count,
            &nodes.domains_of(&job.set),
        )
        .into_iter()
        .map(|i| nodes.get(i))
        .collect()
    }
}
