//! One data node: its connection, its latest memory sample, its capacity
//! (decided by [`super::capacity`]), its health (decided by
//! [`super::state`]), the round trips of its latest health checks (judged
//! by [`super::outliers`]), the writes meant for it that went elsewhere
//! while it was out, and the bytes this balancer has placed on it since
//! that sample ("pending bytes").

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memreport::NodeInfo;
use tokio::time::Instant;

use super::capacity::CgroupReport;
use super::outliers::{Observed, RoundTrips};
use super::state::{Change, Health, Step};
use super::view::Transition;
use crate::backend::Backend;

mod memory;
mod shown;

/// State changes kept per node for `GET /nodes`.
const TRANSITIONS_KEPT: usize = 16;

/// One data node.
#[derive(Debug)]
pub struct Node {
    /// Stable id, used for hashing and in the index.
    pub id: Arc<str>,
    /// The node's Redis, as the request path reaches it.
    pub backend: Backend,
    /// The same Redis for bulk work: moves, repairs, resyncs, rebuilds.
    pub bulk: Backend,
    /// Rendezvous seed derived from the id.
    pub(super) seed: u64,
    /// `placement.node_capacity_bytes` for this node; 0 when none.
    pub(super) configured_capacity: AtomicU64,
    /// Takes no new keys, still serves the ones it holds.
    draining: AtomicBool,
    /// Bytes placed here since the last sample.
    pending_bytes: AtomicU64,
    /// New keys this balancer placed here since it started.
    placed: AtomicU64,
    /// Failed requests and own checks in a row. An atomic apart from
    /// the locked state, so a success on the request path costs one load.
    consecutive_failures: AtomicU32,
    /// Own checks (health checks, memory samples) answered in a row.
    consecutive_successes: AtomicU32,
    /// Writes meant for this node that went elsewhere (it was out, or
    /// could not be reached) since its last resync.
    missed_writes: AtomicU64,
    /// Times the node came back needing a resync (restarted, moved, or
    /// having missed writes); carried over to the node that replaces it
    /// at a new address, so it never goes back.
    rejoins: AtomicU64,
    /// Times the node could take new keys again after it could not: up
    /// after down (or up for the first time), active after draining.
    returns: AtomicU64,
    state: Mutex<NodeState>,
}

#[derive(Debug, Default)]
struct NodeState {
    health: Health,
    info: Option<NodeInfo>,
    sampled_at: Option<Instant>,
    /// The host of the probe agent that reports this node, once one has.
    agent: Option<String>,
    /// What that agent last said of the node's cgroup memory limit.
    cgroup: CgroupReport,
    /// Round trips of the latest answered health checks.
    round_trips: RoundTrips,
    /// Latest last.
    transitions: VecDeque<Transition>,
}

impl Node {
    /// A node not yet heard from, talking to `backends` (the request
    /// path's, then the bulk one).
    pub(super) fn new(id: &str, backends: (Backend, Backend), seed: u64) -> Node {
        Node::with_health(id, backends, seed, Health::default(), 0)
    }

    /// The node that replaces `previous` (same id) at a new address: a new
    /// incarnation, resynced once up, that keeps counting its rejoins.
    pub(super) fn succeeding(previous: &Node, backends: (Backend, Backend)) -> Node {
        let (id, seed, rejoins) = (&previous.id, previous.seed, previous.rejoins());
        Node::with_health(id, backends, seed, Health::new_incarnation(), rejoins)
    }

    fn with_health(
        id: &str,
        (backend, bulk): (Backend, Backend),
        seed: u64,
        health: Health,
        rejoins: u64,
    ) -> Node {
        Node {
            id: id.into(),
            backend,
            bulk,
            seed,
            configured_capacity: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            pending_bytes: AtomicU64::new(0),
            placed: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            consecutive_successes: AtomicU32::new(0),
            missed_writes: AtomicU64::new(0),
            rejoins: AtomicU64::new(rejoins),
            returns: AtomicU64::new(0),
            state: Mutex::new(NodeState {
                health,
                ..NodeState::default()
            }),
        }
    }

    /// Whether the node takes no new keys.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Marks the node draining or not; active again after draining counts
    /// as a return.
    pub(super) fn set_draining(&self, draining: bool) {
        if self.draining.swap(draining, Ordering::Relaxed) && !draining {
            self.returns.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Times the node could take new keys again after it could not; keys
    /// placed while it could not may share another host.
    pub fn returns(&self) -> u64 {
        self.returns.load(Ordering::Relaxed)
    }

    /// Whether no observer holds the node down (see [`super::state`]).
    pub fn is_up(&self) -> bool {
        self.lock().health.up
    }

    /// Records the balancer's own memory sample: one of its own checks
    /// answered, and pending bytes start again from zero.
    pub fn record_sample(&self, info: NodeInfo, rise: u32) {
        let mut state = self.lock();
        self.own_answered(&mut state, &info.run_id, rise, "memory sample");
        self.take_figures(&mut state, info);
    }

    /// Records a probe agent's report that the node is up: its figures,
    /// what the agent found of its cgroup's memory limit, and the end of
    /// that agent's down report, nothing more.
    pub fn record_agent_report(&self, info: NodeInfo, agent: &str, cgroup: CgroupReport) {
        let mut state = self.lock();
        let missed = self.missed_writes.load(Ordering::Relaxed);
        let step = state.health.agent_answered(&info.run_id, missed, agent);
        self.apply(&mut state, step, missed);
        state.agent = Some(agent.to_string());
        state.cgroup = cgroup;
        self.take_figures(&mut state, info);
    }

    fn take_figures(&self, state: &mut NodeState, info: NodeInfo) {
        state.info = Some(info);
        state.sampled_at = Some(Instant::now());
        self.pending_bytes.store(0, Ordering::Relaxed);
    }

    /// Records an answer to the balancer's own health check, which reports
    /// the node's `run_id`, and how long it took.
    pub fn record_alive(&self, run_id: &str, round_trip: Duration, rise: u32) {
        let mut state = self.lock();
        state.round_trips.push(round_trip);
        self.own_answered(&mut state, run_id, rise, "health check answered");
    }

    fn own_answered(&self, state: &mut NodeState, run_id: &str, rise: u32, why: &str) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let successes = self.consecutive_successes.fetch_add(1, Ordering::Relaxed) + 1;
        let missed = self.missed_writes.load(Ordering::Relaxed);
        let step = state
            .health
            .own_answered(run_id, successes, rise, missed, why);
        self.apply(state, step, missed);
    }

    /// The balancer's own memory sample failed: down here at once.
    pub fn mark_own_down(&self, error: &dyn std::fmt::Display) {
        self.consecutive_successes.store(0, Ordering::Relaxed);
        let mut state = self.lock();
        state.round_trips.clear();
        let before = state.health.last_error.clone();
        let step = state.health.own_down(error.to_string());
        // A node down from the start (a wrong password, say) has no
        // transition to log: its reason is logged here, once.
        if state.transitions.is_empty() && before != state.health.last_error {
            tracing::warn!(node = %self.id, %error, "data node not reachable");
        }
        self.apply(&mut state, step, 0);
    }

    /// The node's agent reports it down.
    pub fn mark_agent_down(&self, reason: String) {
        let mut state = self.lock();
        let step = state.health.agent_reported_down(reason);
        self.apply(&mut state, step, 0);
    }

    /// Counts a failed request or own check; the `eject_after`-th in a
    /// row marks the node down here. Returns whether this call ejected it.
    pub fn record_failure(&self, error: &dyn std::fmt::Display, eject_after: u32) -> bool {
        self.consecutive_successes.store(0, Ordering::Relaxed);
        let streak = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if streak < eject_after {
            return false;
        }
        let mut state = self.lock();
        state.round_trips.clear();
        let (step, ejected) = state
            .health
            .own_failed(streak, eject_after, &error.to_string());
        self.apply(&mut state, step, 0);
        ejected
    }

    /// Ends a failure streak after a successful request.
    pub fn record_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a write meant for this node that went elsewhere: the node
    /// was out, could not be reached, or the write's set was short of it.
    pub fn record_missed_write(&self) {
        self.missed_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// What latency outlier ejection sees of this node.
    pub fn observed(&self) -> Observed {
        let state = self.lock();
        Observed {
            latency: state.round_trips.latency(),
            ejected: state.health.outlier.is_some(),
            down: state.health.is_down_otherwise(),
        }
    }

    /// Ejects the node as a latency outlier (`Some(why)`) or lets it back.
    pub fn set_outlier(&self, why: Option<String>) {
        let mut state = self.lock();
        let missed = self.missed_writes.load(Ordering::Relaxed);
        let step = state.health.set_outlier(why, missed);
        self.apply(&mut state, step, missed);
    }

    /// Times the node came back needing a resync; the repairer resyncs it
    /// when this grows.
    pub fn rejoins(&self) -> u64 {
        self.rejoins.load(Ordering::Relaxed)
    }

    /// Whether a probe agent reports this node, so the balancer's own
    /// sampler leaves it alone (a silent agent makes it stale instead).
    pub fn is_covered_by_agent(&self) -> bool {
        self.lock().agent.is_some()
    }

    /// Counts a new key placed here, and its bytes until the next sample.
    pub fn record_placement(&self, bytes: u64) {
        self.placed.fetch_add(1, Ordering::Relaxed);
        self.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts bytes the rebalancer is moving here, until the next sample:
    /// later choices in the same pass see the node fuller.
    pub fn record_moved_in(&self, bytes: u64) {
        self.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// New keys placed here since start.
    pub fn placed(&self) -> u64 {
        self.placed.load(Ordering::Relaxed)
    }

    /// Applies a health step: transitions, the resync (which takes the
    /// `missed` writes it was decided on) and logs.
    fn apply(&self, state: &mut NodeState, step: Step, missed: u64) {
        if step.resync {
            self.rejoins.fetch_add(1, Ordering::Relaxed);
            self.missed_writes.fetch_sub(missed, Ordering::Relaxed);
        }
        for (change, reason) in step.changes {
            if change == Change::Up {
                self.returns.fetch_add(1, Ordering::Relaxed);
            }
            match change {
                Change::Down => tracing::warn!(node = %self.id, error = %reason, "data node down"),
                Change::Restarted => {
                    let run_id = state.health.run_id.as_deref().unwrap_or_default();
                    tracing::warn!(node = %self.id, run_id, "data node restarted, empty");
                }
                Change::Up if !state.transitions.is_empty() => {
                    tracing::info!(node = %self.id, %reason, resync = step.resync, "data node up");
                }
                Change::Up => {}
            }
            if state.transitions.len() == TRANSITIONS_KEPT {
                state.transitions.pop_front();
            }
            let at_unix_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            state.transitions.push_back(Transition {
                state: change.name(),
                at_unix_ms,
                reason,
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
