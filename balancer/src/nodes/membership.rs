//! The current node table, swapped whole when membership changes, and the
//! pure rule for what a new node list from ZooKeeper makes of it.
//!
//! The rule: a listed entry whose address is not `host:port` (or that
//! cannot be connected to as one) is left out and reported, so one bad
//! entry never holds up the rest; the other listed nodes (each with its
//! draining flag) take new keys as listed; a node the table has that the
//! list lacks stays, draining, because its keys are still read until they
//! are moved, unless its last listing said it holds nothing the cluster
//! needs (`removed`, or a forced delete whose copies were re-created):
//! then it leaves the table, so nothing (an index rebuild, a resync) waits
//! for a server its operator has stopped. Nothing changes when the result
//! equals the table as it is.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;

use super::NodeTable;
use crate::backend::Dial;
use crate::config::NodeSpec;

/// A member of the node table: its spec and whether it is draining.
pub type Member = (NodeSpec, bool);

/// A node as `/dlb/nodes` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its id and address.
    pub spec: NodeSpec,
    /// It takes no new keys (draining or removed).
    pub draining: bool,
    /// It holds nothing the cluster needs: `removed` (emptied), or being
    /// replaced (a forced delete, its copies re-created elsewhere). When
    /// its entry goes, it leaves the table.
    pub emptied: bool,
}

impl Listed {
    /// A listing of `spec` that takes new keys unless `draining`, emptied
    /// of nothing.
    pub fn new(spec: NodeSpec, draining: bool) -> Listed {
        Listed {
            spec,
            draining,
            emptied: false,
        }
    }
}

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

/// The listed nodes whose address is `host:port`, and the rest.
pub fn usable(listed: &[Listed]) -> (Vec<Listed>, Vec<Rejected>) {
    let mut rejected = Vec::new();
    let members = listed
        .iter()
        .filter(
            |Listed { spec, .. }| match memreport::check_host_port(&spec.addr) {
                Ok(()) => true,
                Err(reason) => {
                    rejected.push(Rejected {
                        id: spec.id.clone(),
                        addr: spec.addr.clone(),
                        reason,
                    });
                    false
                }
            },
        )
        .cloned()
        .collect();
    (members, rejected)
}

/// The members the table should have after `listed` arrives, given the
/// `current` ones and the ids the previous listing said were `emptied`;
/// `None` when that is what it has already.
pub fn next_members(
    current: &[Member],
    listed: &[Listed],
    emptied: &HashSet<String>,
) -> Option<Vec<Member>> {
    let mut members: Vec<Member> = listed
        .iter()
        .map(|l| (l.spec.clone(), l.draining))
        .collect();
    for (spec, _) in current {
        if !listed.iter().any(|l| l.spec.id == spec.id) && !emptied.contains(&spec.id) {
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
    /// The ids the last listing said were emptied.
    emptied: Mutex<HashSet<String>>,
}

impl Membership {
    /// Starts with `table`.
    pub fn new(table: NodeTable) -> Membership {
        Membership {
            table: ArcSwap::from_pointee(table),
            rejected: Mutex::new(Vec::new()),
            emptied: Mutex::new(HashSet::new()),
        }
    }

    /// The listed nodes the last update left out, and why.
    pub fn rejected(&self) -> Vec<Rejected> {
        self.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The ids the last listing said were emptied, sorted: each leaves the
    /// table when its entry goes.
    pub fn emptied(&self) -> Vec<String> {
        let emptied = self.emptied.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<String> = emptied.iter().cloned().collect();
        ids.sort();
        ids
    }

    /// The current table.
    pub fn current(&self) -> Arc<NodeTable> {
        self.table.load_full()
    }

    /// Applies a node list from ZooKeeper by [`usable`] and
    /// [`next_members`], logging each entry newly left out. Returns whether
    /// the table changed.
    pub fn update(&self, listed: &[Listed], dial: &Dial) -> bool {
        let (listed, mut rejected) = usable(listed);
        let changed = {
            let mut emptied = self.emptied.lock().unwrap_or_else(|e| e.into_inner());
            let changed = self.apply(&listed, &emptied, dial, &mut rejected);
            *emptied = (listed.iter().filter(|l| l.emptied))
                .map(|l| l.spec.id.clone())
                .collect();
            changed
        };
        let mut known = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        for r in rejected.iter().filter(|r| !known.contains(r)) {
            tracing::warn!(node = %r.id, addr = %r.addr, reason = %r.reason, "listed node left out");
        }
        *known = rejected;
        changed
    }

    fn apply(
        &self,
        listed: &[Listed],
        emptied: &HashSet<String>,
        dial: &Dial,
        rejected: &mut Vec<Rejected>,
    ) -> bool {
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
        let Some(members) = next_members(&now, listed, emptied) else {
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

    fn l(id: &str, port: u16, draining: bool) -> Listed {
        let (spec, draining) = m(id, port, draining);
        Listed::new(spec, draining)
    }

    fn none() -> HashSet<String> {
        HashSet::new()
    }

    #[test]
    fn the_same_list_changes_nothing() {
        let current = [m("a", 1, false), m("b", 2, false)];
        let listed = [l("a", 1, false), l("b", 2, false)];
        assert_eq!(next_members(&current, &listed, &none()), None);
        let reordered = [l("b", 2, false), l("a", 1, false)];
        assert_eq!(next_members(&current, &reordered, &none()), None);
    }

    #[test]
    fn a_new_node_joins_and_a_drain_flag_is_taken() {
        let current = [m("a", 1, false)];
        let listed = [l("a", 1, true), l("b", 2, false)];
        assert_eq!(
            next_members(&current, &listed, &none()),
            Some(vec![m("a", 1, true), m("b", 2, false)])
        );
    }

    #[test]
    fn a_node_missing_from_the_list_stays_draining() {
        let current = [m("a", 1, false), m("b", 2, false)];
        let listed = [l("a", 1, false)];
        assert_eq!(
            next_members(&current, &listed, &none()),
            Some(vec![m("a", 1, false), m("b", 2, true)])
        );
        let settled = [m("a", 1, false), m("b", 2, true)];
        assert_eq!(next_members(&settled, &listed, &none()), None);
    }

    #[test]
    fn a_node_last_listed_as_emptied_leaves_the_table_with_its_entry() {
        let current = [m("a", 1, false), m("b", 2, true), m("c", 3, true)];
        let listed = [l("a", 1, false)];
        // b's last listing said it was emptied; c's did not.
        let emptied = HashSet::from(["b".to_string()]);
        assert_eq!(
            next_members(&current, &listed, &emptied),
            Some(vec![m("a", 1, false), m("c", 3, true)])
        );
    }

    #[test]
    fn an_entry_that_is_not_host_port_is_left_out_alone() {
        let mut bad = l("bad", 1, false);
        bad.spec.addr = "127.0.0.1:notaport".into();
        let (members, rejected) = usable(&[l("a", 1, false), bad, l("b", 2, true)]);
        assert_eq!(members, [l("a", 1, false), l("b", 2, true)]);
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
        let listed = [l("a", 9, false)];
        assert_eq!(
            next_members(&current, &listed, &none()),
            Some(vec![m("a", 9, false)])
        );
    }
}
