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
    /// `active`, or `draining` (no new keys).
    pub state: String,
}

/// `parent/child`.
pub fn child(parent: &str, name: &str) -> String {
    format!("{parent}/{name}")
}
