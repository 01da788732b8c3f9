//! Deleting a key: find the nodes that hold it → fan a tombstone out to
//! them → let the index entry expire with the tombstones.
//!
//! A delete is a write of a tombstone (a version with no value, kept for
//! `tombstone_ttl_secs`), so a late write older than the delete cannot
//! bring the key back while the tombstone lives. It goes through the same
//! fan-out and acknowledgement rule as a write ([`super::write`]).

use super::Ops;
use super::fanout::Job;
use super::write::Lost;
use crate::answer::Deleted;
use crate::config::WriteAck;
use crate::error::Error;
use crate::fallback::{self, Scope};
use crate::nodes::NodeTable;
use crate::values::Version;

/// The nodes that may hold a key, as [`Ops::holding`] found them.
pub(super) struct Holding {
    /// The index's set (with, while it is not rebuilt, every up node
    /// holding the key), else the fallback's holders, newest first.
    pub(super) set: Vec<String>,
    /// The set came from the index.
    pub(super) indexed: bool,
    /// The index could not be asked: the set is every up node's holders.
    pub(super) index_failed: bool,
    /// The set came from the index, or a node the fallback asked answered
    /// (an empty set then means no node holds the key).
    pub(super) reached: bool,
}

/// One tombstone sent: where and at which version, whether a replica
/// held a live value, and whether one kept a version stamped later.
struct Tombstone {
    deleted: Deleted,
    existed: bool,
    lost: Lost,
}

impl Ops {
    /// Deletes a key: writes a tombstone to every replica. Returns `None`
    /// when no node held a live value. A tombstone stamped before a
    /// version a replica holds is stamped again, as a write is; a second
    /// loss is acknowledged, or answered [`Error::Superseded`], by the
    /// same rule (see [`Ops::put`]).
    pub async fn delete(&self, key: &str, ack: Option<WriteAck>) -> Result<Option<Deleted>, Error> {
        let Some(first) = self.delete_stamped(key, ack).await? else {
            return Ok(None);
        };
        if !first.lost.superseded {
            return Ok(first.existed.then_some(first.deleted));
        }
        // The first tombstone took effect on some replicas: a repair
        // settles them on the newest version whatever the second does.
        self.context.repairs.enqueue(key);
        Ok(match self.delete_stamped(key, ack).await? {
            Some(second) if second.lost.superseded && first.lost.unadopted => {
                return Err(Error::Superseded);
            }
            Some(second) => (first.existed || second.existed).then_some(second.deleted),
            None => first.existed.then_some(first.deleted),
        })
    }

    /// One attempt at a delete, stamped now; `None` when no node may hold
    /// the key.
    async fn delete_stamped(
        &self,
        key: &str,
        ack: Option<WriteAck>,
    ) -> Result<Option<Tombstone>, Error> {
        self.locations.remove(key);
        self.near.invalidate(key);
        let nodes = self.nodes.current();
        let Holding { set, indexed, .. } = self.holding(&nodes, key).await;
        if set.is_empty() {
            return Ok(None);
        }
        let tombstone_ttl = self.replication.tombstone_ttl.as_millis() as u64;
        let timestamp = self.clock.now();
        let job = Job {
            key: key.to_string(),
            version: Version {
                json: None,
                timestamp: timestamp.clone(),
                ttl_ms: Some(tombstone_ttl),
            },
            replicas: set.len(),
            set,
            claimed: false,
            indexed,
            over: None,
        };
        let accepted = self.replicate(&nodes, job, ack).await;
        self.near.invalidate(key);
        let accepted = accepted?;
        if !accepted.superseded {
            let expired = self
                .context
                .index
                .expire_with_tombstone(key, tombstone_ttl)
                .await;
            if let Err(e) = expired {
                self.context.index_failed(&e);
            }
        }
        Ok(Some(Tombstone {
            existed: accepted.any_existed,
            lost: Lost {
                superseded: accepted.superseded,
                unadopted: accepted.unadopted,
            },
            deleted: Deleted {
                nodes: accepted.nodes,
                version: timestamp,
            },
        }))
    }

    /// The nodes that may hold the key, and whether the index named them:
    /// its set in the index, else the fallback's holders. An index not yet
    /// rebuilt may name only some of the holders: every up node is asked
    /// too, so no copy is left without its tombstone.
    pub(super) async fn holding(&self, nodes: &NodeTable, key: &str) -> Holding {
        let index = &self.context.index;
        let listed = index.lookup(key).await;
        let scope = match &listed {
            Ok(Some(_)) if index.is_complete() => None,
            Ok(Some(_)) => Some(Scope::AllUp),
            Ok(None) => Some(fallback::unlisted(index.is_complete())),
            Err(e) => {
                self.context.index_failed(e);
                Some(Scope::AllUp)
            }
        };
        let (found, reached) = match scope {
            Some(scope) => self.holders_reaching(nodes, key, scope).await,
            None => (Vec::new(), true),
        };
        let index_failed = listed.is_err();
        match listed {
            Ok(Some(mut set)) => {
                for holder in found {
                    if !set.contains(&holder) {
                        set.push(holder);
                    }
                }
                Holding {
                    set,
                    indexed: true,
                    index_failed,
                    reached: true,
                }
            }
            _ => Holding {
                set: found,
                indexed: false,
                index_failed,
                reached,
            },
        }
    }
}
