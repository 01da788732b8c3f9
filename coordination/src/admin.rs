//! The admin API's changes to the tree: node entries (`/dlb/nodes/<id>`)
//! listed, added, drained and deleted, and the rebalance control
//! (`/dlb/rebalance`) read and set.
//!
//! Every change to an existing entry reads it and writes it back at the
//! version read; when another writer came between (`BadVersion`), it reads
//! again and decides again. So two admins racing, or an admin and the
//! leader marking a node `removed`, never lose each other's update: the
//! later change is decided on what the earlier one wrote. What a change
//! does to an entry is [`decide`]'s, pure. Calls ride out a lost
//! connection ([`crate::reconnect::retrying`]); the caller bounds the
//! whole with its own deadline.

use zookeeper_client::{Acls, Client, CreateMode, Error};

use crate::paths::{self, NodeEntry, RebalanceControl};
use crate::reconnect::retrying;
use crate::registry;

/// A change to an existing node entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Take no new keys; the leader moves the node's keys off, then marks
    /// it `removed`.
    Drain,
    /// Delete the entry of a node the leader has emptied (`removed`).
    Delete,
    /// Delete a dead node: drain it with the leader re-creating its keys'
    /// copies from their other replicas, and have the leader delete the
    /// entry then (`delete_when_drained`). A `removed` node is deleted at once.
    ForceDelete,
    /// Take new keys again: a drain called off, or a drained node
    /// brought back (empty; the leader fills it as an added node).
    Activate,
    /// The leader emptied the node: a draining entry becomes `removed`,
    /// or is deleted when its delete was forced. An entry activated
    /// meanwhile is kept as it is.
    Drained,
}

/// What a change does to an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The entry says so already.
    Keep,
    /// Write this entry.
    Write(NodeEntry),
    /// Delete the entry.
    Delete,
}

/// Why a change does not apply to an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The node is `removed` (emptied): it is not drained again.
    Removed,
    /// Only a `removed` node's entry is deleted without force; this one's
    /// state is the string held.
    NotDrained(String),
}

/// What `change` does to `entry`.
///
/// # Errors
/// The change does not apply to the entry's state.
pub fn decide(change: Change, entry: &NodeEntry) -> Result<Plan, Refusal> {
    let removed = entry.state == NodeEntry::REMOVED;
    let draining = entry.state == NodeEntry::DRAINING;
    let drained = |delete_when_drained| NodeEntry {
        state: NodeEntry::DRAINING.into(),
        delete_when_drained,
        ..entry.clone()
    };
    match change {
        Change::Drain if removed => Err(Refusal::Removed),
        Change::Drain if draining => Ok(Plan::Keep),
        Change::Drain => Ok(Plan::Write(drained(entry.delete_when_drained))),
        Change::Delete | Change::ForceDelete if removed => Ok(Plan::Delete),
        Change::Delete => Err(Refusal::NotDrained(entry.state.clone())),
        Change::ForceDelete if draining && entry.delete_when_drained => Ok(Plan::Keep),
        Change::ForceDelete => Ok(Plan::Write(drained(true))),
        Change::Activate if entry.takes_new_keys() && !entry.delete_when_drained => Ok(Plan::Keep),
        Change::Activate => Ok(Plan::Write(NodeEntry {
            state: NodeEntry::ACTIVE.into(),
            delete_when_drained: false,
            ..entry.clone()
        })),
        Change::Drained if draining && entry.delete_when_drained => Ok(Plan::Delete),
        Change::Drained if draining => Ok(Plan::Write(NodeEntry {
            state: NodeEntry::REMOVED.into(),
            ..entry.clone()
        })),
        Change::Drained => Ok(Plan::Keep),
    }
}

/// What became of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It holds this now.
    Entry(NodeEntry),
    /// It is gone.
    Deleted,
}

/// Why an admin change was not made.
#[derive(Debug)]
pub enum AdminError {
    /// No entry by that id.
    NoSuchNode,
    /// An entry by that id exists already.
    Exists,
    /// What the node holds is not the JSON this project writes there.
    Unreadable(String),
    /// The change does not apply to the entry's state.
    Refused(Refusal),
    /// ZooKeeper failed.
    ZooKeeper(Error),
}

impl From<Error> for AdminError {
    fn from(e: Error) -> AdminError {
        AdminError::ZooKeeper(e)
    }
}

/// Every node entry, `(id, entry)` sorted by id; an entry that is not
/// JSON this project reads carries why instead.
///
/// # Errors
/// The ZooKeeper error.
pub async fn list_nodes(
    client: &Client,
) -> Result<Vec<(String, Result<NodeEntry, String>)>, Error> {
    let mut ids = match retrying(client, || client.list_children(paths::NODES)).await {
        Ok(ids) => ids,
        Err(Error::NoNode) => return Ok(Vec::new()), // no node listed yet
        Err(e) => return Err(e),
    };
    ids.sort();
    let mut listing = Vec::with_capacity(ids.len());
    for id in ids {
        let path = paths::child(paths::NODES, &id);
        match retrying(client, || client.get_data(&path)).await {
            Ok((data, _)) => {
                let entry = serde_json::from_slice(&data).map_err(|e| e.to_string());
                listing.push((id, entry));
            }
            Err(Error::NoNode) => {} // deleted between the listing and the read
            Err(e) => return Err(e),
        }
    }
    Ok(listing)
}

/// Creates the entry of node `id`.
///
/// # Errors
/// [`AdminError::Exists`] when the id has an entry (also, rarely, when a
/// create whose answer a lost connection swallowed is tried again); the
/// ZooKeeper error.
pub async fn add_node(
    client: &Client,
    id: &str,
    entry: &NodeEntry,
    acls: Acls<'_>,
) -> Result<(), AdminError> {
    registry::ensure_path(client, paths::NODES, acls).await?;
    let path = paths::child(paths::NODES, id);
    let data = serde_json::to_vec(entry).expect("a node entry serializes");
    let options = CreateMode::Persistent.with_acls(acls);
    match retrying(client, || client.create(&path, &data, &options)).await {
        Ok(_) => Ok(()),
        Err(Error::NodeExists) => Err(AdminError::Exists),
        Err(e) => Err(e.into()),
    }
}

/// Applies `change` to node `id`'s entry, at the version read (again on
/// a race, see the module doc).
///
/// # Errors
/// No such node, an unreadable entry, the change refused, or ZooKeeper's
/// error.
pub async fn change_node(client: &Client, id: &str, change: Change) -> Result<Outcome, AdminError> {
    let path = paths::child(paths::NODES, id);
    let mut deleting = false;
    loop {
        if let Some(outcome) = change_once(client, &path, change, None, &mut deleting).await? {
            return Ok(outcome);
        }
    }
}

/// Node `id`'s entry and its version, for a later [`change_node_at`].
///
/// # Errors
/// No such node, an unreadable entry, or ZooKeeper's error.
pub async fn read_node(client: &Client, id: &str) -> Result<(NodeEntry, i32), AdminError> {
    let path = paths::child(paths::NODES, id);
    let (data, stat) = match retrying(client, || client.get_data(&path)).await {
        Ok(read) => read,
        Err(Error::NoNode) => return Err(AdminError::NoSuchNode),
        Err(e) => return Err(e.into()),
    };
    let entry = serde_json::from_slice(&data).map_err(|e| AdminError::Unreadable(e.to_string()))?;
    Ok((entry, stat.version))
}

/// Applies `change` to node `id`'s entry only while it is still at
/// `version`, read before the caller checked what the change rests on
/// (the rebalancer: that a draining node is empty). `Ok(None)` when the
/// entry changed since (a node activated and drained again may hold keys
/// the check did not see).
///
/// # Errors
/// No such node, an unreadable entry, the change refused, or ZooKeeper's
/// error.
pub async fn change_node_at(
    client: &Client,
    id: &str,
    change: Change,
    version: i32,
) -> Result<Option<Outcome>, AdminError> {
    let path = paths::child(paths::NODES, id);
    change_once(client, &path, change, Some(version), &mut false).await
}

/// One read, decision and write of `change` on the entry at `path`, at
/// the version read (and, with `at`, only when that is `at`). `Ok(None)`
/// when the entry changed under it. `deleting` carries across tries that
/// a delete was sent, so an entry gone after a lost answer is `Deleted`.
async fn change_once(
    client: &Client,
    path: &str,
    change: Change,
    at: Option<i32>,
    deleting: &mut bool,
) -> Result<Option<Outcome>, AdminError> {
    let (data, stat) = match retrying(client, || client.get_data(path)).await {
        Ok(read) => read,
        // A delete tried again after its answer was lost finds it gone.
        Err(Error::NoNode) if *deleting => return Ok(Some(Outcome::Deleted)),
        Err(Error::NoNode) => return Err(AdminError::NoSuchNode),
        Err(e) => return Err(e.into()),
    };
    if at.is_some_and(|version| version != stat.version) {
        return Ok(None);
    }
    let entry: NodeEntry =
        serde_json::from_slice(&data).map_err(|e| AdminError::Unreadable(e.to_string()))?;
    let written = match decide(change, &entry).map_err(AdminError::Refused)? {
        Plan::Keep => return Ok(Some(Outcome::Entry(entry))),
        Plan::Write(next) => {
            let data = serde_json::to_vec(&next).expect("a node entry serializes");
            retrying(client, || client.set_data(path, &data, Some(stat.version)))
                .await
                .map(|_| Outcome::Entry(next))
        }
        Plan::Delete => {
            *deleting = true;
            retrying(client, || client.delete(path, Some(stat.version)))
                .await
                .map(|()| Outcome::Deleted)
        }
    };
    match written {
        Ok(outcome) => Ok(Some(outcome)),
        Err(Error::NoNode) if *deleting => Ok(Some(Outcome::Deleted)),
        Err(Error::BadVersion | Error::NoNode) => Ok(None), // changed meanwhile
        Err(e) => Err(e.into()),
    }
}

/// The rebalance control; the default (not paused) when none was set;
/// why not, inside, when `/dlb/rebalance` holds something else.
///
/// # Errors
/// The ZooKeeper error.
pub async fn read_control(client: &Client) -> Result<Result<RebalanceControl, String>, Error> {
    match retrying(client, || client.get_data(paths::REBALANCE)).await {
        Ok((data, _)) => Ok(serde_json::from_slice(&data).map_err(|e| e.to_string())),
        Err(Error::NoNode) => Ok(Ok(RebalanceControl::default())),
        Err(e) => Err(e),
    }
}

/// Sets the rebalance control, creating `/dlb/rebalance` when absent. The
/// whole control is replaced, whatever it held: a start or a pause does
/// not depend on what was there, so the last one sent wins.
///
/// # Errors
/// The ZooKeeper error.
pub async fn write_control(
    client: &Client,
    control: &RebalanceControl,
    acls: Acls<'_>,
) -> Result<(), Error> {
    let data = serde_json::to_vec(control).expect("a control serializes");
    let options = CreateMode::Persistent.with_acls(acls);
    let parent = paths::REBALANCE.rsplit_once('/').map_or("/", |(p, _)| p);
    loop {
        match retrying(client, || client.set_data(paths::REBALANCE, &data, None)).await {
            Err(Error::NoNode) => {}
            done => return done.map(|_| ()),
        }
        registry::ensure_path(client, parent, acls).await?;
        match retrying(client, || client.create(paths::REBALANCE, &data, &options)).await {
            Err(Error::NodeExists) => {} // created meanwhile: set it
            done => return done.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: &str, delete_when_drained: bool) -> NodeEntry {
        NodeEntry {
            state: state.into(),
            delete_when_drained,
            ..NodeEntry::active("10.0.0.1:6379", 3)
        }
    }

    #[test]
    fn a_drain_marks_the_node_draining_once_and_never_brings_back_a_removed_one() {
        let draining = entry(NodeEntry::DRAINING, false);
        assert_eq!(
            decide(Change::Drain, &entry(NodeEntry::ACTIVE, false)),
            Ok(Plan::Write(draining.clone()))
        );
        assert_eq!(decide(Change::Drain, &draining), Ok(Plan::Keep));
        // An unknown state is read as draining already by the balancers,
        // and written as the one they all know.
        assert_eq!(
            decide(Change::Drain, &entry("paused", false)),
            Ok(Plan::Write(draining))
        );
        assert_eq!(
            decide(Change::Drain, &entry(NodeEntry::REMOVED, false)),
            Err(Refusal::Removed)
        );
        // Draining a force-deleted node keeps the leader's order to delete it.
        let forced = entry(NodeEntry::DRAINING, true);
        assert_eq!(decide(Change::Drain, &forced), Ok(Plan::Keep));
    }

    #[test]
    fn the_leader_marks_a_drained_node_removed_or_deletes_a_forced_one() {
        let removed = entry(NodeEntry::REMOVED, false);
        assert_eq!(
            decide(Change::Drained, &entry(NodeEntry::DRAINING, false)),
            Ok(Plan::Write(removed.clone()))
        );
        assert_eq!(
            decide(Change::Drained, &entry(NodeEntry::DRAINING, true)),
            Ok(Plan::Delete)
        );
        for kept in [entry(NodeEntry::ACTIVE, false), removed] {
            assert_eq!(decide(Change::Drained, &kept), Ok(Plan::Keep), "{kept:?}");
        }
    }

    #[test]
    fn activating_calls_a_drain_off_and_brings_a_removed_node_back() {
        let active = entry(NodeEntry::ACTIVE, false);
        for state in [NodeEntry::DRAINING, NodeEntry::REMOVED] {
            for forced in [false, true] {
                let was = entry(state, forced);
                assert_eq!(
                    decide(Change::Activate, &was),
                    Ok(Plan::Write(active.clone()))
                );
            }
        }
        assert_eq!(decide(Change::Activate, &active), Ok(Plan::Keep));
    }

    #[test]
    fn only_a_removed_node_is_deleted_without_force() {
        assert_eq!(
            decide(Change::Delete, &entry(NodeEntry::REMOVED, false)),
            Ok(Plan::Delete)
        );
        for state in [NodeEntry::ACTIVE, NodeEntry::DRAINING] {
            assert_eq!(
                decide(Change::Delete, &entry(state, false)),
                Err(Refusal::NotDrained(state.into()))
            );
        }
    }

    #[test]
    fn a_forced_delete_drains_the_node_and_leaves_the_delete_to_the_leader() {
        let forced = entry(NodeEntry::DRAINING, true);
        for state in [NodeEntry::ACTIVE, NodeEntry::DRAINING] {
            assert_eq!(
                decide(Change::ForceDelete, &entry(state, false)),
                Ok(Plan::Write(forced.clone())),
                "{state}"
            );
        }
        assert_eq!(decide(Change::ForceDelete, &forced), Ok(Plan::Keep));
        assert_eq!(
            decide(Change::ForceDelete, &entry(NodeEntry::REMOVED, false)),
            Ok(Plan::Delete)
        );
    }
}
