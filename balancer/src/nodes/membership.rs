//! The current node table, swapped whole when membership changes, and the
//! pure rule for what a new node list from ZooKeeper makes of it.
//!
//! The rule: a listed entry whose address is not `host:port` (or that
//! cannot be connected to as one) is left out and reported, so one bad
//! entry never holds up the rest; the other listed nodes (each with its
//! draining flag) take new keys as listed; a node the table has that the
//! list lacks stays, draining, because its keys are still read until they
//! are moved. Nothing changes when the result equals the table as it is.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;

use super::NodeTable;
use crate::backend::Dial;
use crate::config::NodeSpec;

/// A member of the node list: its spec and whether it is draining.
pub type Member = (NodeSpec, bool);

/// A listed node left out of the table, as `GET /nodes` shows it under
/// `"rejected_nodes"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The entry's id.
    pub id: String,
    /// The address it lists.
    pub addr: String,
    /// Why it cannot be used.
    pub reason: String,
}

/// The listed members whose address is `host:port`, and the rest.
pub fn usable(listed: &[Member]) -> (Vec<Member>, Vec<Rejected>) {
    let mut rejected = Vec::new();
    let members = listed
        .iter()
        .filter(|(spec, _)| match memreport::check_host_port(&spec.addr) {
            Ok(()) => true,
            Err(reason) => {
                rejected.push(Rejected {
                    id: spec.id.clone(),
                    addr: spec.addr.clone(),
                    reason,
                });
                false
            }
        })
        .cloned()
        .collect();
    (members, rejected)
}

/// The members the table should have after `listed` arrives, given the
/// `current` ones; `None` when that is what it has already.
pub fn next_members(current: &[Member], listed: &[Member]) -> Option<Vec<Member>> {
    let mut members = listed.to_vec();
    for (spec, _) in current {
        if !listed.iter().any(|(l, _)| l.id == spec.id) {
            members.push((spec.clone(), true));
        }
    }
    let unchanged =
        members.len() == current.len() && members.iter().all(|m| current.iter().any(|c| c == m));
    (!unchanged).then_some(members)
}

/// The current table; every operation loads it once and works on that
/// snapshot.
#[derive(Debug)]
pub struct Membership {
    table: ArcSwap<NodeTable>,
    /// The listed nodes the last update left out.
    rejected: Mutex<Vec<Rejected>>,
}

impl Membership {
    /// Starts with `table`.
    pub fn new(table: NodeTable) -> Membership {
        Membership {
            table: ArcSwap::from_pointee(table),
            rejected: Mutex::new(Vec::new()),
        }
    }

    /// The listed nodes the last update left out, and why.
    pub fn rejected(&self) -> Vec<Rejected> {
        self.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current table.
    pub fn current(&self) -> Arc<NodeTable> {
        self.table.load_full()
    }

    /// Applies a node list from ZooKeeper by [`usable`] and
    /// [`next_members`], logging each entry newly left out. Returns whether
    /// the table changed.
    pub fn update(&self, listed: &[Member], dial: &Dial) -> bool {
        let (listed, mut rejected) = usable(listed);
        let changed = self.apply(&listed, dial, &mut rejected);
        let mut known = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        for r in rejected.iter().filter(|r| !known.contains(r)) {
            tracing::warn!(node = %r.id, addr = %r.addr, reason = %r.reason, "listed node left out");
        }
        *known = rejected;
        changed
    }

    fn apply(&self, listed: &[Member], dial: &Dial, rejected: &mut Vec<Rejected>) -> bool {
        let current = self.current();
        let now: Vec<Member> = current
            .all()
            .iter()
            .map(|n| {
                let spec = NodeSpec {
                    id: n.id.to_string(),
                    addr: n.backend.addr().to_string(),
                };
                (spec, n.is_draining())
            })
            .collect();
        let Some(members) = next_members(&now, listed) else {
            return false;
        };
        let (table, failed) = current.with_members(&members, dial);
        rejected.extend(failed.into_iter().map(|(spec, reason)| Rejected {
            id: spec.id,
            addr: spec.addr,
            reason,
        }));
        self.table.store(Arc::new(table));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, port: u16, draining: bool) -> Member {
        (
            NodeSpec {
                id: id.into(),
                addr: format!("127.0.0.1:{port}"),
            },
            draining,
        )
    }

    #[test]
    fn the_same_list_changes_nothing() {
        let current = [m("a", 1, false), m("b", 2, false)];
        assert_eq!(next_members(&current, &current), None);
        let reordered = [m("b", 2, false), m("a", 1, false)];
        assert_eq!(next_members(&current, &reordered), None);
    }

    #[test]
    fn a_new_node_joins_and_a_drain_flag_is_taken() {
        let current = [m("a", 1, false)];
        let listed = [m("a", 1, true), m("b", 2, false)];
        assert_eq!(next_members(&current, &listed), Some(listed.to_vec()));
    }

    #[test]
    fn a_node_missing_from_the_list_stays_draining() {
        let current = [m("a", 1, false), m("b", 2, false)];
        let listed = [m("a", 1, false)];
        assert_eq!(
            next_members(&current, &listed),
            Some(vec![m("a", 1, false), m("b", 2, true)])
        );
        let settled = [m("a", 1, false), m("b", 2, true)];
        assert_eq!(next_members(&settled, &listed), None);
    }

    #[test]
    fn an_entry_that_is_not_host_port_is_left_out_alone() {
        let mut bad = m("bad", 1, false);
        bad.0.addr = "127.0.0.1:notaport".into();
        let (members, rejected) = usable(&[m("a", 1, false), bad, m("b", 2, true)]);
        assert_eq!(members, [m("a", 1, false), m("b", 2, true)]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].id, "bad");
        assert!(
            rejected[0].reason.contains("host:port"),
            "{:?}",
            rejected[0]
        );
    }

    #[test]
    fn a_changed_address_is_a_change() {
        let current = [m("a", 1, false)];
        let listed = [m("a", 9, false)];
        assert_eq!(next_members(&current, &listed), Some(listed.to_vec()));
    }
}
