//! The ZooKeeper tree:
//!
//! | path | kind | data |
//! | --- | --- | --- |
//! | `/dlb/balancers/<id>` | ephemeral | the balancer's HTTP address |
//! | `/dlb/probes/<host>:<port>` | ephemeral | [`ProbeEntry`] as JSON |
//! | `/dlb/nodes/<id>` | persistent | [`NodeEntry`] as JSON |
//! | `/dlb/announced/<id>` | persistent | empty: an agent created `/dlb/nodes/<id>` once, and no agent creates it again |
//! | `/dlb/election/...` | ephemeral sequential | a candidate balancer's id |
//! | `/dlb/locks/<name>/...` | ephemeral sequential | the holder's id |
//! | `/dlb/rebalance` | persistent | [`RebalanceControl`] as JSON: whether the leader moves keys |
//! | `/dlb/rebalance-journal` | persistent | [`journal::Claim`](crate::journal::Claim) as JSON: the highest leader token that claimed the journal |
//! | `/dlb/rebalance-journal/moves-<seq>` | persistent sequential | [`journal::Entry`](crate::journal::Entry) as JSON: a batch of keys being moved, each with the node it leaves |

use serde::{Deserialize, Serialize};

/// Balancers register here.
pub const BALANCERS: &str = "/dlb/balancers";
/// Probe agents register here.
pub const PROBES: &str = "/dlb/probes";
/// Data nodes are listed here.
pub const NODES: &str = "/dlb/nodes";
/// Markers of the node entries agents have created, so a deleted entry
/// stays deleted (see `registry::create_once`).
pub const ANNOUNCED: &str = "/dlb/announced";
/// Leader election among balancers.
pub const ELECTION: &str = "/dlb/election";
/// Named locks.
pub const LOCKS: &str = "/dlb/locks";
/// Whether the leader moves keys ([`RebalanceControl`]); absent means it does.
pub const REBALANCE: &str = "/dlb/rebalance";
/// The leader's batches of moves, so a new leader hands off their old
/// copies.
pub const JOURNAL: &str = "/dlb/rebalance-journal";

/// What a probe agent registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeEntry {
    /// Base URL of its HTTP API.
    pub url: String,
    /// Its host name.
    pub host: String,
    /// The ids of the data nodes it watches.
    pub nodes: Vec<String>,
}

/// A data node's persistent entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// `host:port` of its Redis.
    pub addr: String,
    /// Relative capacity weight.
    pub weight: u32,
    /// `active`; `draining` (takes no new keys, and the leader moves its
    /// keys off); or `removed` (drained: holds nothing, safe to stop).
    pub state: String,
    /// A dead node the admin API force-deleted: the leader re-creates its
    /// keys' copies from their other replicas, then deletes this entry.
    /// Written only when true, so the entries of agents and of older
    /// balancers read and write as before.
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_when_drained: bool,
}

impl NodeEntry {
    /// The state of a node that takes new keys.
    pub const ACTIVE: &str = "active";
    /// The state of a node being emptied.
    pub const DRAINING: &str = "draining";
    /// The state of a node the leader has emptied.
    pub const REMOVED: &str = "removed";

    /// A node that takes new keys, as an agent or an operator adds it.
    pub fn active(addr: impl Into<String>, weight: u32) -> NodeEntry {
        NodeEntry {
            addr: addr.into(),
            weight,
            state: Self::ACTIVE.into(),
            delete_when_drained: false,
        }
    }

    /// Whether the node takes new keys: only an `active` one does (an
    /// unknown state is read as not taking any).
    pub fn takes_new_keys(&self) -> bool {
        self.state == Self::ACTIVE
    }

    /// Whether the node holds nothing the cluster needs: `removed` (the
    /// rebalancer emptied it), or being replaced (a forced delete: its
    /// copies are re-created from the other replicas, and its entry goes
    /// only once they are). A balancer drops such a node from its table
    /// when the entry goes.
    pub fn is_emptied(&self) -> bool {
        self.state == Self::REMOVED || self.delete_when_drained
    }
}

/// What `/dlb/rebalance` holds: the admin API's start and pause.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalanceControl {
    /// The leader moves no key while paused (a drain waits too).
    pub paused: bool,
}

/// Serde's test for leaving [`NodeEntry::delete_when_drained`] out.
fn is_false(flag: &bool) -> bool {
    !flag
}

/// `parent/child`.
pub fn child(parent: &str, name: &str) -> String {
    format!("{parent}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_without_the_delete_flag_reads_and_writes_as_before() {
        let old = r#"{"addr":"10.0.0.1:6379","weight":1,"state":"active"}"#;
        let entry: NodeEntry = serde_json::from_str(old).unwrap();
        assert_eq!(entry, NodeEntry::active("10.0.0.1:6379", 1));
        assert_eq!(serde_json::to_string(&entry).unwrap(), old);
        let forced = NodeEntry {
            state: NodeEntry::DRAINING.into(),
            delete_when_drained: true,
            ..entry
        };
        let json = serde_json::to_string(&forced).unwrap();
        assert!(json.contains(r#""delete_when_drained":true"#), "{json}");
        assert_eq!(serde_json::from_str::<NodeEntry>(&json).unwrap(), forced);
    }

    #[test]
    fn a_removed_or_replaced_node_is_emptied_and_a_draining_one_is_not() {
        let active = NodeEntry::active("10.0.0.1:6379", 1);
        let with = |state: &str, delete_when_drained| NodeEntry {
            state: state.into(),
            delete_when_drained,
            ..active.clone()
        };
        assert!(!active.is_emptied());
        assert!(!with(NodeEntry::DRAINING, false).is_emptied());
        assert!(with(NodeEntry::DRAINING, true).is_emptied());
        assert!(with(NodeEntry::REMOVED, false).is_emptied());
    }
}
