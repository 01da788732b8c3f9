//! What the rebalancer is doing, as `GET /admin/rebalance` and the metrics
//! show it: the leader's executor writes it, the admin API reads it. A
//! balancer that does not lead shows that it does not, and what it last
//! did when it led.

use std::sync::Mutex;

use serde::Serialize;

/// One node as the current plan sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeTarget {
    /// The node's id.
    pub id: String,
    /// `serving` or `draining`.
    pub role: &'static str,
    /// Bytes used when the plan was made, plus what moved since.
    pub used: u64,
    /// Bytes it has left to shed under the plan.
    pub shed_left: u64,
    /// Bytes it has left to take under the plan.
    pub take_left: u64,
}

/// The rebalancer's state, as shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct View {
    /// This balancer leads, so its executor is the one that moves keys.
    pub leader: bool,
    /// Moves are paused (`POST /admin/rebalance {"action": "pause"}`).
    pub paused: bool,
    /// A plan is being carried out now.
    pub active: bool,
    /// The fencing token the executor writes under, while it leads.
    pub token: Option<u64>,
    /// Keys moved since this balancer started.
    pub keys_moved: u64,
    /// Bytes moved since this balancer started.
    pub bytes_moved: u64,
    /// Keys per second over the current plan so far.
    pub keys_per_sec: f64,
    /// Bytes per second over the current plan so far.
    pub bytes_per_sec: f64,
    /// Bytes the current plan has left to move.
    pub remaining_bytes: u64,
    /// Seconds the rest would take at the current rate, when known.
    pub remaining_secs: Option<f64>,
    /// Per node: what the plan asks of it.
    pub targets: Vec<NodeTarget>,
    /// The last error that stopped a pass, if the latest pass failed.
    pub last_error: Option<String>,
}

/// The shared state: the executor updates it, readers take a copy.
#[derive(Debug, Default)]
pub struct Status {
    view: Mutex<View>,
}

impl Status {
    /// A copy of the state now.
    pub fn view(&self) -> View {
        self.view.lock().expect("rebalance status lock").clone()
    }

    /// Changes the state.
    pub fn update(&self, change: impl FnOnce(&mut View)) {
        change(&mut self.view.lock().expect("rebalance status lock"));
    }
}
