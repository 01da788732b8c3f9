//! A node's health as a pure state machine: what each observation does to
//! it. Modelled on pingora's `Health::observe_health`: the I/O code reports
//! what it saw, this decides, and the [`super::Node`] applies the outcome
//! (state, transitions shown in `GET /nodes`, rejoin count, logs).
//!
//! The rules:
//! - **An answer** (a memory sample, a health check, an agent's up report)
//!   marks the node up. A `run_id` other than the one last seen means the
//!   node restarted, empty: a rejoin. Coming back up after being seen down
//!   is a rejoin too. Each rejoin asks the repairer to resync the node.
//! - **A down report** (the node's agent says so, or a sample failed)
//!   marks it down at once.
//! - **A failure streak** (failed requests and health checks in a row)
//!   marks it down once it reaches `eject_after`: outlier ejection.

/// A node's state change, as listed in `GET /nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It answered after being down or unknown.
    Up,
    /// It was marked down.
    Down,
    /// It answered with a new `run_id`: it restarted, empty.
    Restarted,
}

impl Change {
    /// The name `GET /nodes` shows.
    pub fn name(self) -> &'static str {
        match self {
            Change::Up => "up",
            Change::Down => "down",
            Change::Restarted => "restarted",
        }
    }
}

/// What one observation changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// The changes, in order, each with its reason.
    pub changes: Vec<(Change, String)>,
    /// Rejoins this observation caused (0, 1 or 2).
    pub rejoins: u64,
}

/// What a node's health is made of.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Health {
    /// Whether it answered its last sample or check.
    pub up: bool,
    /// Why it was last marked down, until it answers again.
    pub last_error: Option<String>,
    /// The Redis `run_id` last seen.
    pub run_id: Option<String>,
}

impl Health {
    /// The node answered, reporting `run_id` (empty when the answer
    /// carries none); `why` names the kind of answer.
    pub fn answered(&mut self, run_id: &str, why: &str) -> Step {
        let mut step = Step::default();
        let seen_down = self.last_error.take().is_some();
        let restarted =
            !run_id.is_empty() && self.run_id.as_deref().is_some_and(|known| known != run_id);
        if !run_id.is_empty() {
            self.run_id = Some(run_id.to_string());
        }
        if restarted {
            step.changes
                .push((Change::Restarted, format!("new run_id {run_id}")));
            step.rejoins += 1;
        }
        if !self.up {
            self.up = true;
            step.changes.push((Change::Up, why.to_string()));
            if seen_down {
                step.rejoins += 1;
            }
        }
        step
    }

    /// Something reliable says the node is down.
    pub fn reported_down(&mut self, reason: String) -> Step {
        let mut step = Step::default();
        if self.up {
            step.changes.push((Change::Down, reason.clone()));
        }
        self.up = false;
        self.last_error = Some(reason);
        step
    }

    /// A request or check failed, the `streak`-th in a row; returns the
    /// step and whether this failure ejected the node.
    pub fn failed(&mut self, streak: u32, eject_after: u32, error: &str) -> (Step, bool) {
        if streak < eject_after || !self.up {
            return (Step::default(), false);
        }
        let step = self.reported_down(format!("{streak} failures in a row, last: {error}"));
        (step, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(step: &Step) -> Vec<Change> {
        step.changes.iter().map(|c| c.0).collect()
    }

    #[test]
    fn a_first_answer_brings_a_node_up_without_a_rejoin() {
        let mut h = Health::default();
        let step = h.answered("r1", "memory sample");
        assert_eq!(changes(&step), vec![Change::Up]);
        assert_eq!(step.rejoins, 0);
        assert!(h.up);
        assert_eq!(h.answered("r1", "health check").changes, vec![]);
    }

    #[test]
    fn coming_back_after_down_is_a_rejoin() {
        let mut h = Health::default();
        h.answered("r1", "sample");
        let down = h.reported_down("agent: no answer".into());
        assert_eq!(changes(&down), vec![Change::Down]);
        assert!(!h.up);
        let back = h.answered("r1", "sample");
        assert_eq!(changes(&back), vec![Change::Up]);
        assert_eq!(back.rejoins, 1);
        assert_eq!(h.last_error, None);
    }

    #[test]
    fn a_new_run_id_is_a_restart_even_while_up() {
        let mut h = Health::default();
        h.answered("r1", "sample");
        let step = h.answered("r2", "health check");
        assert_eq!(changes(&step), vec![Change::Restarted]);
        assert_eq!(step.rejoins, 1);
        assert_eq!(h.run_id.as_deref(), Some("r2"));
    }

    #[test]
    fn a_restart_seen_after_down_counts_twice() {
        let mut h = Health::default();
        h.answered("r1", "sample");
        h.reported_down("refused".into());
        let step = h.answered("r2", "sample");
        assert_eq!(changes(&step), vec![Change::Restarted, Change::Up]);
        assert_eq!(step.rejoins, 2);
    }

    #[test]
    fn an_answer_without_run_id_keeps_the_known_one() {
        let mut h = Health::default();
        h.answered("r1", "sample");
        assert_eq!(h.answered("", "check").rejoins, 0);
        assert_eq!(h.run_id.as_deref(), Some("r1"));
    }

    #[test]
    fn a_streak_ejects_at_the_threshold_once() {
        let mut h = Health::default();
        h.answered("r1", "sample");
        assert_eq!(h.failed(1, 3, "timeout"), (Step::default(), false));
        assert_eq!(h.failed(2, 3, "timeout"), (Step::default(), false));
        let (step, ejected) = h.failed(3, 3, "timeout");
        assert!(ejected);
        assert_eq!(changes(&step), vec![Change::Down]);
        assert!(step.changes[0].1.contains("3 failures in a row"));
        assert!(!h.failed(4, 3, "timeout").1, "already down");
    }

    #[test]
    fn a_down_report_on_a_down_node_changes_nothing_but_the_reason() {
        let mut h = Health::default();
        let step = h.reported_down("refused".into());
        assert!(step.changes.is_empty());
        assert_eq!(h.last_error.as_deref(), Some("refused"));
    }
}
