//! A node's health as a pure state machine, modelled on pingora's
//! `Health::observe_health`: the I/O code reports what it saw, this
//! decides, and [`super::Node`] applies the outcome (state, transitions in
//! `GET /nodes`, resyncs, logs).
//!
//! Three observers hold a node down, and it is up only while none does:
//! - **this balancer** (its requests, health checks, and memory samples
//!   where no agent reports the node): `eject_after` failures in a row, or
//!   one failed sample. Once down, only `rise` of its own checks answered
//!   in a row bring it back, never an agent's report;
//! - **the node's probe agent**: its down report, until it reports up;
//! - **latency** ([`super::outliers`] decides): ejected while its checks
//!   answer far slower than the other nodes'.
//!
//! The first answer of a node never seen brings it up at once.
//!
//! **Resync rule**: when the node comes up, or is seen restarted while up,
//! it is resynced if its `run_id` changed (restarted, empty), it is a new
//! incarnation (a new address), or writes meant for it went elsewhere
//! (`missed` > 0). Otherwise the return is quiet: no resync, caches kept.

/// A node's state change, as listed in `GET /nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It is up after being down or unknown.
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
    /// The node is to be resynced: it came back having missed something.
    pub resync: bool,
}

/// This balancer's own verdict on a node (`Unknown`: not checked yet).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Own {
    #[default]
    Unknown,
    Up,
    Down,
}

/// What a node's health is made of.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Health {
    own: Own,
    /// The agent's down report, while it stands.
    agent_down: Option<String>,
    /// Why it is ejected as a latency outlier, while it is.
    pub outlier: Option<String>,
    /// Whether no observer holds it down.
    pub up: bool,
    /// Why it was last marked down, until it is up again.
    pub last_error: Option<String>,
    /// The Redis `run_id` last seen.
    pub run_id: Option<String>,
    /// A restart or a new address was seen while out: resync on return.
    resync_due: bool,
}

impl Health {
    /// The health of a node that replaces one at another address: a new
    /// incarnation, resynced when it is first up.
    pub fn new_incarnation() -> Health {
        Health {
            resync_due: true,
            ..Health::default()
        }
    }

    /// One of this balancer's own checks answered, the `successes`-th in a
    /// row, with `run_id` (or ""); `missed` writes went elsewhere meanwhile.
    pub fn own_answered(
        &mut self,
        run_id: &str,
        successes: u32,
        rise: u32,
        missed: u64,
        why: &str,
    ) -> Step {
        let mut step = Step::default();
        self.note_run_id(run_id, &mut step);
        let why = match self.own {
            Own::Unknown | Own::Up => why.to_string(),
            Own::Down if successes >= rise => format!("{successes} checks answered in a row"),
            Own::Down => return self.settle(step, missed, String::new()),
        };
        self.own = Own::Up;
        self.settle(step, missed, why)
    }

    /// One of this balancer's own checks failed, the `streak`-th in a row;
    /// returns the step and whether this failure ejected the node.
    pub fn own_failed(&mut self, streak: u32, eject_after: u32, error: &str) -> (Step, bool) {
        if streak < eject_after || self.own == Own::Down {
            return (Step::default(), false);
        }
        let was_up = self.up;
        let step = self.own_down(format!("{streak} failures in a row, last: {error}"));
        (step, was_up)
    }

    /// This balancer's memory sample failed: down here at once.
    pub fn own_down(&mut self, reason: String) -> Step {
        self.own = Own::Down;
        self.last_error = Some(reason.clone());
        self.settle(Step::default(), 0, reason)
    }

    /// Its agent reports it up, with `run_id`: lifts that agent's report only.
    pub fn agent_answered(&mut self, run_id: &str, missed: u64, agent: &str) -> Step {
        let mut step = Step::default();
        self.note_run_id(run_id, &mut step);
        self.agent_down = None;
        self.settle(step, missed, format!("agent {agent} reports it up"))
    }

    /// The node's agent reports it down.
    pub fn agent_reported_down(&mut self, reason: String) -> Step {
        self.agent_down = Some(reason.clone());
        self.last_error = Some(reason.clone());
        self.settle(Step::default(), 0, reason)
    }

    /// Ejects it as a latency outlier (`Some(why)`), or lets it back.
    pub fn set_outlier(&mut self, why: Option<String>, missed: u64) -> Step {
        let reason = why.clone().unwrap_or_else(|| "latency back in line".into());
        self.last_error = why.clone().or(self.last_error.take());
        self.outlier = why;
        self.settle(Step::default(), missed, reason)
    }

    /// Whether this balancer's checks or the agent hold it down.
    pub fn is_down_otherwise(&self) -> bool {
        self.own != Own::Up || self.agent_down.is_some()
    }

    /// The observers that hold it down now: `own`, `agent`, `latency`.
    pub fn down_for(&self) -> Vec<&'static str> {
        let holds = [
            self.own != Own::Up,
            self.agent_down.is_some(),
            self.outlier.is_some(),
        ];
        let names = ["own", "agent", "latency"].into_iter().zip(holds);
        names
            .filter_map(|(name, held)| held.then_some(name))
            .collect()
    }

    /// Records `run_id`; a different one than known is a restart.
    fn note_run_id(&mut self, run_id: &str, step: &mut Step) {
        if run_id.is_empty() {
            return;
        }
        if self.run_id.as_deref().is_some_and(|known| known != run_id) {
            step.changes
                .push((Change::Restarted, format!("new run_id {run_id}")));
            self.resync_due = true;
        }
        self.run_id = Some(run_id.to_string());
    }

    /// Brings `up` in line with the observers; `reason` is why it changed.
    fn settle(&mut self, mut step: Step, missed: u64, reason: String) -> Step {
        let up = self.own == Own::Up && self.agent_down.is_none() && self.outlier.is_none();
        if up && !self.up {
            step.changes.push((Change::Up, reason));
            self.last_error = None;
            step.resync = missed > 0;
        } else if !up && self.up {
            step.changes.push((Change::Down, reason));
        }
        self.up = up;
        if up && self.resync_due {
            step.resync = true;
            self.resync_due = false;
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RISE: u32 = 3;

    fn changes(step: &Step) -> Vec<Change> {
        step.changes.iter().map(|c| c.0).collect()
    }

    /// A node that answered its first check.
    fn up() -> Health {
        let mut h = Health::default();
        h.own_answered("r1", 1, RISE, 0, "check");
        h
    }

    /// A node this balancer ejected after three failures.
    fn ejected() -> Health {
        let mut h = up();
        assert!(h.own_failed(3, 3, "timeout").1);
        h
    }

    #[test]
    fn a_first_answer_brings_a_node_up_without_a_resync() {
        let mut h = Health::default();
        let step = h.own_answered("r1", 1, RISE, 0, "memory sample");
        assert_eq!(changes(&step), vec![Change::Up]);
        assert!(!step.resync);
        assert_eq!(h.own_answered("", 2, RISE, 0, "check"), Step::default());
        assert_eq!(
            h.run_id.as_deref(),
            Some("r1"),
            "an answer without one keeps it"
        );
    }

    #[test]
    fn a_streak_ejects_at_the_threshold_once() {
        let mut h = up();
        assert_eq!(h.own_failed(1, 3, "timeout"), (Step::default(), false));
        assert_eq!(h.own_failed(2, 3, "timeout"), (Step::default(), false));
        let (step, ejected) = h.own_failed(3, 3, "timeout");
        assert!(ejected);
        assert_eq!(changes(&step), vec![Change::Down]);
        assert!(step.changes[0].1.contains("3 failures in a row"));
        assert!(!h.own_failed(4, 3, "timeout").1, "already down");
    }

    #[test]
    fn an_ejected_node_needs_rise_answers_in_a_row_to_come_back() {
        let mut h = ejected();
        assert_eq!(h.own_answered("r1", 1, RISE, 0, "check"), Step::default());
        assert_eq!(h.own_answered("r1", 2, RISE, 0, "check"), Step::default());
        assert!(!h.up);
        let step = h.own_answered("r1", 3, RISE, 0, "check");
        assert_eq!(changes(&step), vec![Change::Up]);
        assert_eq!(step.changes[0].1, "3 checks answered in a row");
        assert!(h.up);
        assert_eq!(h.last_error, None);
    }

    #[test]
    fn an_agent_up_report_does_not_bring_back_a_node_this_balancer_ejected() {
        let mut h = ejected();
        for _ in 0..10 {
            assert_eq!(h.agent_answered("r1", 0, "host-a"), Step::default());
        }
        assert!(!h.up);
        assert_eq!(h.down_for(), vec!["own"]);
    }

    #[test]
    fn an_agent_down_report_holds_the_node_down_until_the_agent_says_up() {
        let mut h = up();
        let down = h.agent_reported_down("agent host-a: no answer".into());
        assert_eq!(changes(&down), vec![Change::Down]);
        assert_eq!(h.own_answered("r1", 5, RISE, 0, "check"), Step::default());
        assert!(!h.up, "own answers do not lift the agent's report");
        let back = h.agent_answered("r1", 0, "host-a");
        assert_eq!(changes(&back), vec![Change::Up]);
        assert!(!back.resync, "same run_id, nothing missed");
    }

    #[test]
    fn a_return_resyncs_only_when_writes_were_missed() {
        let mut quiet = ejected();
        for n in 1..=RISE {
            assert!(!quiet.own_answered("r1", n, RISE, 0, "check").resync);
        }
        assert!(quiet.up);
        let mut missed = ejected();
        missed.own_answered("r1", 1, RISE, 2, "check");
        missed.own_answered("r1", 2, RISE, 2, "check");
        assert!(missed.own_answered("r1", 3, RISE, 2, "check").resync);
    }

    #[test]
    fn a_restart_seen_while_out_resyncs_on_the_return() {
        let mut h = ejected();
        let seen = h.own_answered("r2", 1, RISE, 0, "check");
        assert_eq!(changes(&seen), vec![Change::Restarted]);
        assert!(!seen.resync, "not while it is still out");
        h.own_answered("r2", 2, RISE, 0, "check");
        let back = h.own_answered("r2", 3, RISE, 0, "check");
        assert_eq!(changes(&back), vec![Change::Up]);
        assert!(back.resync);
        assert!(!h.own_answered("r2", 4, RISE, 0, "check").resync, "once");
    }

    #[test]
    fn a_restart_seen_while_up_resyncs_at_once() {
        let mut h = up();
        let step = h.agent_answered("r2", 0, "host-a");
        assert_eq!(changes(&step), vec![Change::Restarted]);
        assert!(step.resync);
        assert_eq!(h.run_id.as_deref(), Some("r2"));
    }

    #[test]
    fn a_new_incarnation_is_resynced_when_first_up() {
        let mut h = Health::new_incarnation();
        let step = h.own_answered("r9", 1, RISE, 0, "check");
        assert_eq!(changes(&step), vec![Change::Up]);
        assert!(step.resync);
    }

    #[test]
    fn a_latency_outlier_is_down_until_let_back() {
        let mut h = up();
        let out = h.set_outlier(Some("slow".into()), 0);
        assert_eq!(changes(&out), vec![Change::Down]);
        assert_eq!(h.down_for(), vec!["latency"]);
        assert!(!h.is_down_otherwise());
        let back = h.set_outlier(None, 1);
        assert_eq!(changes(&back), vec![Change::Up]);
        assert!(back.resync, "a write went elsewhere meanwhile");
    }

    #[test]
    fn a_failed_sample_marks_the_node_down_here_at_once() {
        let mut h = up();
        assert_eq!(changes(&h.own_down("refused".into())), vec![Change::Down]);
        assert!(h.own_down("refused again".into()).changes.is_empty());
        assert_eq!(h.last_error.as_deref(), Some("refused again"));
    }
}
