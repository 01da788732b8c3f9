//! One answer of the leadership poller as the harness records it: which
//! balancer was asked (`GET /nodes`), when the request was sent and when
//! its answer (or the give-up) came, in monotonic microseconds since the
//! run started (the operations' clock), and what the answer's
//! `coordination` object said about leadership. The claim an answer
//! carries was made at some instant between the two times; the checker
//! ([`crate::leader_checker`]) reasons on those intervals only.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One `GET /nodes` of one balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    /// The balancer asked (`b1`, `b2`, ...).
    pub balancer: String,
    /// When the request was sent, µs since the run started.
    pub sent_us: u64,
    /// When the answer (or the give-up) came, µs since the run started.
    pub received_us: u64,
    /// What the answer said; none when the balancer did not answer 200
    /// with a `coordination` object (killed, restarting, timed out): its
    /// leadership is unknown.
    pub view: Option<View>,
    /// Why there is no view.
    #[serde(default)]
    pub error: Option<String>,
}

/// What one balancer said about leadership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Its ZooKeeper session: `connected`, `connecting`, `disconnected`.
    pub zookeeper: String,
    /// The leader's id as it knows it.
    pub leader: Option<String>,
    /// Whether it claims to lead.
    pub is_leader: bool,
    /// The leader's fencing token (the sequence number of its election
    /// node); none when unknown or not reported (a balancer without it).
    pub leader_token: Option<u64>,
}

impl View {
    /// The `coordination` object of a `/nodes` body; none when the body
    /// has none (or is not JSON). A missing or non-integer `leader_token`
    /// or `leader` reads as none.
    pub fn from_nodes_body(body: &str) -> Option<View> {
        let json: Value = serde_json::from_str(body).ok()?;
        let c = json.get("coordination")?;
        Some(View {
            zookeeper: c.get("zookeeper")?.as_str()?.to_string(),
            leader: c.get("leader").and_then(Value::as_str).map(str::to_string),
            is_leader: c.get("is_leader")?.as_bool()?,
            leader_token: c.get("leader_token").and_then(Value::as_u64),
        })
    }
}

impl Poll {
    /// The token this answer claims leadership with: `Some(token)` when it
    /// says `is_leader` (the token itself may be unknown).
    pub fn claim(&self) -> Option<Option<u64>> {
        self.view
            .as_ref()
            .filter(|v| v.is_leader)
            .map(|v| v.leader_token)
    }

    /// The leader token it reports, leader or not.
    pub fn token(&self) -> Option<u64> {
        self.view.as_ref().and_then(|v| v.leader_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_coordination_object_of_a_nodes_body() {
        let body = r#"{"nodes":[],"coordination":{"zookeeper":"connected",
            "balancer_id":"b1","leader":"b1","is_leader":true,"leader_token":12,
            "discovered_probes":[],"balancers":[]}}"#;
        assert_eq!(
            View::from_nodes_body(body),
            Some(View {
                zookeeper: "connected".into(),
                leader: Some("b1".into()),
                is_leader: true,
                leader_token: Some(12),
            })
        );
    }

    #[test]
    fn a_missing_token_or_leader_is_none_and_a_body_without_coordination_is_no_view() {
        let old =
            r#"{"coordination":{"zookeeper":"disconnected","leader":null,"is_leader":false}}"#;
        assert_eq!(
            View::from_nodes_body(old),
            Some(View {
                zookeeper: "disconnected".into(),
                leader: None,
                is_leader: false,
                leader_token: None,
            })
        );
        assert_eq!(View::from_nodes_body(r#"{"nodes":[]}"#), None);
        assert_eq!(View::from_nodes_body("not json"), None);
        assert_eq!(
            View::from_nodes_body(r#"{"coordination":{"zookeeper":"connected"}}"#),
            None
        );
    }

    #[test]
    fn only_an_answer_saying_is_leader_claims() {
        let mut poll = Poll {
            balancer: "b1".into(),
            sent_us: 0,
            received_us: 1,
            view: None,
            error: Some("connection refused".into()),
        };
        assert_eq!(poll.claim(), None);
        poll.view = Some(View {
            zookeeper: "connected".into(),
            leader: Some("b2".into()),
            is_leader: false,
            leader_token: Some(7),
        });
        assert_eq!((poll.claim(), poll.token()), (None, Some(7)));
        poll.view.as_mut().unwrap().is_leader = true;
        assert_eq!(poll.claim(), Some(Some(7)));
    }
}
