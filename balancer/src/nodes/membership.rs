//! The current node table, swapped whole when membership changes, and the
//! pure rule for what a new node list from ZooKeeper makes of it.
//!
//! The rule: the listed nodes (each with its draining flag) take new keys
//! as listed; a node the table has that the list lacks stays, draining,
//! because its keys are still read until they are moved. Nothing changes
//! when the result equals the table as it is.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::NodeTable;
use crate::backend::BackendError;
use crate::config::NodeSpec;

/// A member of the node list: its spec and whether it is draining.
pub type Member = (NodeSpec, bool);

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
}

impl Membership {
    /// Starts with `table`.
    pub fn new(table: NodeTable) -> Membership {
        Membership {
            table: ArcSwap::from_pointee(table),
        }
    }

    /// The current table.
    pub fn current(&self) -> Arc<NodeTable> {
        self.table.load_full()
    }

    /// Applies a node list from ZooKeeper by [`next_members`]. Returns
    /// whether anything changed.
    ///
    /// # Errors
    /// A listed address that cannot be used.
    pub fn update(&self, listed: &[Member], timeout: Duration) -> Result<bool, BackendError> {
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
            return Ok(false);
        };
        self.table
            .store(Arc::new(current.with_members(&members, timeout)?));
        Ok(true)
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
    fn a_changed_address_is_a_change() {
        let current = [m("a", 1, false)];
        let listed = [m("a", 9, false)];
        assert_eq!(next_members(&current, &listed), Some(listed.to_vec()));
    }
}
