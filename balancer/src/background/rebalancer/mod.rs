//! The leader's rebalancer (issue 14): moves keys that are already
//! placed, off draining nodes and off nodes above the planner's high mark,
//! onto the nodes with room ([`crate::rebalance`] decides; this carries it
//! out). Only the elected balancer moves keys, and only while its lease
//! holds (checked before each step); every index and data-node write it
//! makes is fenced by its token ([`crate::fence`]), which it raises on
//! every server each pass, so a leader paused past its lease is refused
//! once it resumes (`tests/rebalance.rs` pauses one with SIGSTOP).
//!
//! A pass ([`walk`]) plans from the node table's memory figures and the
//! ZooKeeper entries ([`roles`]), walks the index, and moves keys in
//! batches, only keys whose set members are all up (the leaving one may be
//! down when it is being replaced). Moving a key ([`migrate`],
//! [`handoff`]) never lets a read miss an acknowledged write:
//!
//! 1. **widen**: the new node joins the key's set (a fenced
//!    compare-and-set on the set the walk read). From then on writes go to
//!    it too, and a write to a set wider than R is acknowledged only once
//!    every member holds it (`acks::needed_of`);
//! 2. **wait** `timeouts.request_ms` and a margin: a write that read the
//!    old set is acknowledged within that time of its start or never (both
//!    front doors answer by the deadline; every balancer must share the
//!    setting), so afterwards every acknowledged write is on the members
//!    that acknowledged it;
//! 3. **settle**: the newest version among the members goes, with its own
//!    version, to each member behind (fenced last-writer-wins);
//! 4. **narrow**: the leaving member is taken out of the set (fenced
//!    compare-and-set on the widened set), so every member left holds
//!    every acknowledged write;
//! 5. **hand off**, after the same wait again (a write that read the
//!    widened set reaches the leaving node too): a version the leaving
//!    node took after step 3 goes to the members, then its copy is dropped
//!    at the version it holds (fenced); one that cannot go now is tried
//!    again on later passes.
//!
//! A move that fails after step 1 (a member down, the set changed under
//! it, an error) leaves the set wide, its joining node maybe still empty
//! (it is last in the set, so reads ask it last); any pass that walks
//! narrows sets wider than R: a new leader finds the moves the old one did
//! not finish as sets wider than R. The hand-offs a stopped leader still
//! owed are in the ZooKeeper journal ([`journal`]): each batch is written
//! there, under the token, before its sets are widened, and a new leader
//! hands off the keys of every batch an earlier one left.
//!
//! A draining node is *drained* ([`sweep`]) once no index entry names it
//! and no copy on it is needed; the leader then marks it `removed` in
//! ZooKeeper (or deletes its entry, when its delete was forced).

mod handoff;
mod journal;
mod migrate;
mod roles;
mod sweep;
mod walk;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::App;
use journal::Carried;

/// Added to the request deadline before a widened set is settled: timer
/// slack, and a request's deadline starting a moment after it is read.
const GRACE_MARGIN: Duration = Duration::from_millis(500);

/// The leader's rebalancer.
#[derive(Debug, Clone)]
pub(crate) struct Rebalancer {
    pub(crate) app: Arc<App>,
}

impl Rebalancer {
    /// Runs a pass every `rebalance.interval_ms` while this balancer leads
    /// and the admin API has not paused it, until `shutdown`.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let standing = self.app.coordinator.standing();
        let interval = self.app.config.rebalance.interval;
        let mut carried = Carried::default();
        loop {
            let leadership = standing.now();
            let paused = self.app.coordinator.rebalance_paused();
            let token = leadership.token.filter(|_| leadership.is_leader);
            self.app.rebalance.update(|v| {
                v.leader = token.is_some();
                v.paused = paused;
                v.token = token;
            });
            if let (Some(token), false) = (token, paused) {
                let carried = &mut carried;
                let mut pass = walk::Pass::new(&self.app, &standing, token, &shutdown, carried);
                // A pass waits request deadlines between its steps: a stop
                // ends it at once (a move cut short leaves a wide set, as
                // any failed one does).
                let mut stop = shutdown.clone();
                let outcome = tokio::select! {
                    done = pass.run() => done,
                    _ = stop.wait_for(|&stopping| stopping) => Err(Stopped::Paused),
                };
                let metrics = &self.app.metrics.moves;
                metrics.active.set(0);
                self.app.rebalance.update(|v| {
                    v.active = false;
                    v.last_error = outcome.err().map(|e| e.to_string());
                });
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Why a pass stopped early.
#[derive(Debug, thiserror::Error)]
enum Stopped {
    /// Leadership ended, or passed to another token.
    #[error("leadership lost during the pass")]
    NotLeader,
    /// A server had seen a newer leader's token.
    #[error("fenced: {0}")]
    Fenced(String),
    /// The admin API paused the rebalancer, or the balancer is stopping.
    #[error("paused or shutting down")]
    Paused,
    /// The index could not be walked.
    #[error("index: {0}")]
    Index(String),
    /// The node entries could not be read.
    #[error("ZooKeeper: {0}")]
    ZooKeeper(String),
}
