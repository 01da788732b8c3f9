//! One data node: its connection, its latest memory sample, its capacity
//! (decided by [`super::capacity`]), its health (decided by
//! [`super::state`]) and the bytes this balancer has placed on it since
//! that sample ("pending bytes").

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memreport::NodeInfo;
use tokio::time::Instant;

use super::capacity::{self, Capacity, CgroupReport, Source};
use super::state::{Change, Health, Step};
use super::view::{NodeView, Transition};
use crate::backend::Backend;

/// State changes kept per node for `GET /nodes`.
const TRANSITIONS_KEPT: usize = 16;

/// One data node.
#[derive(Debug)]
pub struct Node {
    /// Stable id, used for hashing and in the index.
    pub id: Arc<str>,
    /// The node's Redis.
    pub backend: Backend,
    /// Rendezvous seed derived from the id.
    pub(super) seed: u64,
    /// `placement.node_capacity_bytes` for this node; 0 when none.
    pub(super) configured_capacity: AtomicU64,
    /// Takes no new keys, still serves the ones it holds.
    pub(super) draining: AtomicBool,
    /// Bytes placed here since the last sample.
    pending_bytes: AtomicU64,
    /// New keys this balancer placed here since it started.
    placed: AtomicU64,
    /// Failed requests and health checks in a row. An atomic apart from
    /// the locked state, so a success on the request path costs one load.
    consecutive_failures: AtomicU32,
    /// Times the node came back up or restarted.
    rejoins: AtomicU64,
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
    /// Latest last.
    transitions: VecDeque<Transition>,
}

impl Node {
    /// A node not yet heard from, talking to `backend`.
    pub(super) fn new(id: &str, backend: Backend, seed: u64) -> Node {
        Node {
            id: id.into(),
            backend,
            seed,
            configured_capacity: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            pending_bytes: AtomicU64::new(0),
            placed: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            rejoins: AtomicU64::new(0),
            state: Mutex::new(NodeState::default()),
        }
    }

    /// Whether the node takes no new keys.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether the node answered its last sample or request.
    pub fn is_up(&self) -> bool {
        self.lock().health.up
    }

    /// Records the balancer's own sample: the node is up, and pending
    /// bytes start again from zero.
    pub fn record_sample(&self, info: NodeInfo) {
        self.record(info, None);
    }

    /// Records a probe agent's report that the node is up, with what the
    /// agent found of its cgroup's memory limit.
    pub fn record_agent_report(&self, info: NodeInfo, agent: &str, cgroup: CgroupReport) {
        self.record(info, Some((agent, cgroup)));
    }

    fn record(&self, info: NodeInfo, agent: Option<(&str, CgroupReport)>) {
        let mut state = self.lock();
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let step = state.health.answered(&info.run_id, "memory sample");
        self.apply(&mut state, step);
        state.info = Some(info);
        state.sampled_at = Some(Instant::now());
        if let Some((agent, cgroup)) = agent {
            state.agent = Some(agent.to_string());
            state.cgroup = cgroup;
        }
        self.pending_bytes.store(0, Ordering::Relaxed);
    }

    /// Records an answer to the balancer's own health check, which reports
    /// the node's `run_id`.
    pub fn record_alive(&self, run_id: &str) {
        let mut state = self.lock();
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let step = state.health.answered(run_id, "health check answered");
        self.apply(&mut state, step);
    }

    /// Marks the node down at once: its agent says so, or a sample failed.
    pub fn mark_down(&self, error: &dyn std::fmt::Display) {
        let mut state = self.lock();
        let step = state.health.reported_down(error.to_string());
        self.apply(&mut state, step);
    }

    /// Counts a failed request or health check; the `eject_after`-th in a
    /// row marks the node down. Returns whether this call ejected it.
    pub fn record_failure(&self, error: &dyn std::fmt::Display, eject_after: u32) -> bool {
        let streak = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if streak < eject_after {
            return false;
        }
        let mut state = self.lock();
        let (step, ejected) = state.health.failed(streak, eject_after, &error.to_string());
        self.apply(&mut state, step);
        ejected
    }

    /// Ends a failure streak after a successful request.
    pub fn record_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Times the node came back up or restarted; the repairer resyncs it
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

    /// New keys placed here since start.
    pub fn placed(&self) -> u64 {
        self.placed.load(Ordering::Relaxed)
    }

    /// Applies a health step: transitions, rejoins and logs.
    fn apply(&self, state: &mut NodeState, step: Step) {
        self.rejoins.fetch_add(step.rejoins, Ordering::Relaxed);
        for (change, reason) in step.changes {
            match change {
                Change::Down => tracing::warn!(node = %self.id, error = %reason, "data node down"),
                Change::Restarted => {
                    let run_id = state.health.run_id.as_deref().unwrap_or_default();
                    tracing::warn!(node = %self.id, run_id, "data node restarted, empty");
                }
                Change::Up if step.rejoins > 0 => tracing::info!(node = %self.id, "data node up"),
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

    /// The capacity by [`capacity::decide`], from the last sample.
    fn capacity(&self, state: &NodeState, info: &NodeInfo) -> Capacity {
        let configured = self.configured_capacity.load(Ordering::Relaxed);
        capacity::decide(
            info.maxmemory,
            &state.cgroup,
            (configured > 0).then_some(configured),
        )
    }

    /// Used plus pending bytes over capacity; `None` when the last sample
    /// is older than `stale_after` or the capacity unknown.
    fn utilization(&self, state: &NodeState, now: Instant, stale_after: Duration) -> Option<f64> {
        let fresh = state.sampled_at.is_some_and(|t| now - t <= stale_after);
        let info = state.info.as_ref().filter(|_| fresh)?;
        let capacity = self.capacity(state, info).bytes.filter(|&c| c > 0)?;
        let used = info.used_memory + self.pending_bytes.load(Ordering::Relaxed);
        Some(used as f64 / capacity as f64)
    }

    /// Whether the node may take a new key, with its utilization if so:
    /// `None` when it is down, draining, or sampled with a capacity that is
    /// unknown. A node not sampled yet may, ranked last (utilization
    /// `None`), as may a stale one.
    pub(super) fn for_new_keys(&self, now: Instant, stale_after: Duration) -> Option<Option<f64>> {
        if self.is_draining() {
            return None;
        }
        let state = self.lock();
        if !state.health.up {
            return None;
        }
        if let Some(info) = &state.info {
            self.capacity(&state, info).bytes?;
        }
        Some(self.utilization(&state, now, stale_after))
    }

    /// What `GET /nodes` shows of this node.
    pub(super) fn view(&self, now: Instant, stale_after: Duration) -> NodeView {
        let state = self.lock();
        let utilization = self.utilization(&state, now, stale_after);
        let info = state.info.as_ref();
        let capacity = info.map(|i| self.capacity(&state, i));
        NodeView {
            id: self.id.to_string(),
            addr: self.backend.addr().to_string(),
            state: match (state.health.up, self.is_draining()) {
                (false, _) => "down",
                (true, true) => "draining",
                (true, false) => "up",
            },
            used_memory_bytes: info.map(|i| i.used_memory),
            capacity_bytes: capacity.and_then(|c| c.bytes),
            capacity_source: capacity.map(|c| c.source),
            capacity_unknown_because: capacity
                .filter(|c| c.source == Source::Unknown)
                .map(|_| capacity::why_unknown(&state.cgroup)),
            utilization,
            keys: info.map(|i| i.keys),
            placed_keys: self.placed(),
            pending_bytes: self.pending_bytes.load(Ordering::Relaxed),
            report_age_seconds: state.sampled_at.map(|t| (now - t).as_secs_f64()),
            report_source: match &state.agent {
                Some(host) => format!("agent:{host}"),
                None => "own_sampling".into(),
            },
            last_error: state.health.last_error.clone(),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            run_id: state.health.run_id.clone(),
            transitions: state.transitions.iter().cloned().collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
