//! What each node of the table is to a pass, from its ZooKeeper entry
//! (the admin API's word, fresher than the table's draining flag, which
//! follows the same entries). Pure.

use std::collections::HashMap;

use coordination::paths::NodeEntry;

/// A node's part in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// Holds keys and takes them.
    Serve,
    /// Being emptied; `replacing` when its delete was forced (a dead
    /// node): its keys' copies then come from their other replicas, even
    /// while it is down.
    Drain { replacing: bool },
    /// Removed, or its entry deleted: it takes nothing and is not swept
    /// again; a key whose set still names it moves off it.
    Gone,
}

/// The part of each node `(id, draining in the table)`, given the entries
/// listed in ZooKeeper. With none listed (a balancer on its static node
/// list) the table's flags stand.
pub(super) fn parts(table: &[(&str, bool)], listed: &HashMap<String, NodeEntry>) -> Vec<Part> {
    table
        .iter()
        .map(|&(id, draining)| match listed.get(id) {
            _ if listed.is_empty() && draining => Part::Drain { replacing: false },
            _ if listed.is_empty() => Part::Serve,
            Some(entry) if entry.takes_new_keys() => Part::Serve,
            Some(entry) if entry.state == NodeEntry::DRAINING => Part::Drain {
                replacing: entry.delete_when_drained,
            },
            _ => Part::Gone,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: &str, forced: bool) -> NodeEntry {
        NodeEntry {
            state: state.into(),
            delete_when_drained: forced,
            ..NodeEntry::active("10.0.0.1:6379", 1)
        }
    }

    #[test]
    fn entries_decide_and_an_empty_listing_leaves_the_table_s_flags() {
        let listed: HashMap<String, NodeEntry> = [
            ("a", entry(NodeEntry::ACTIVE, false)),
            ("b", entry(NodeEntry::DRAINING, false)),
            ("c", entry(NodeEntry::DRAINING, true)),
            ("d", entry(NodeEntry::REMOVED, false)),
        ]
        .into_iter()
        .map(|(id, e)| (id.to_string(), e))
        .collect();
        let table = [
            ("a", true),
            ("b", false),
            ("c", true),
            ("d", true),
            ("e", true),
        ];
        assert_eq!(
            parts(&table, &listed),
            [
                Part::Serve,
                Part::Drain { replacing: false },
                Part::Drain { replacing: true },
                Part::Gone,
                Part::Gone,
            ]
        );
        let none = HashMap::new();
        assert_eq!(
            parts(&[("a", false), ("b", true)], &none),
            [Part::Serve, Part::Drain { replacing: false }]
        );
    }
}
