//! Changing a key's time to live (`EXPIRE` and the like on the RESP
//! port): read the newest version from the key's holders → decide
//! ([`crate::ttl_change`]) → write the same value again with the new time
//! to live (or a tombstone, for an expiry not in the future), as a version
//! of its own.
//!
//! The new version is stamped [`Clock::just_after`](crate::hlc::Clock::just_after)
//! the one read: after it, and before every write stamped after the write
//! it changes, so a write or a delete made meanwhile always wins over the
//! change, on every replica and through every repair. A replica takes the
//! change only where it holds that write live, as written or changed
//! before ([`crate::values::apply_over`]): one that holds a later version,
//! a tombstone, or nothing (the key expired there) keeps what it holds,
//! so a change never brings a key back; of two changes racing, each
//! replica keeps the later. The change goes through the write's fan-out
//! and acknowledgement rule ([`super::write`]); a replica that answers
//! without taking it is queued for a repair (`super::fanout`).
//!
//! The index entry is made to outlive the new time to live first, so the
//! key is never left to the hashing fallback while its value lives; with
//! the index unreachable the change is refused.

use futures_util::future::join_all;

use super::Ops;
use super::delete::Holding;
use super::fanout::Job;
use crate::backend::BackendError;
use crate::error::Error;
use crate::hlc::split_change;
use crate::input::MAX_TTL_MS;
use crate::newest;
use crate::nodes::NodeTable;
use crate::ttl_change::{self, Change, Decision};
use crate::values::{self, Version};

impl Ops {
    /// Applies `change` to the key's time to live; `true` when it took
    /// effect (Redis's 1; also when a write made meanwhile replaced it),
    /// `false` when the key is missing or a condition did not hold (0).
    pub async fn change_ttl(&self, key: &str, change: Change) -> Result<bool, Error> {
        let nodes = self.nodes.current();
        let holding = self.holding(&nodes, key).await;
        if holding.index_failed {
            return Err(Error::IndexUnavailable(
                "a TTL change makes the key's index entry outlive its value, and the index \
                 could not be asked"
                    .into(),
            ));
        }
        let Some(current) = self.newest_of(&nodes, key, &holding).await? else {
            return Ok(false);
        };
        let tombstone_ttl = self.replication.tombstone_ttl.as_millis() as u64;
        let (json, ttl_ms) = match ttl_change::decide(current.ttl_ms, change, MAX_TTL_MS) {
            Decision::Unchanged => return Ok(false),
            Decision::Delete => (None, Some(tombstone_ttl)),
            Decision::Ttl(ttl_ms) => (current.json, ttl_ms),
        };
        let version = Version {
            json,
            timestamp: (self.clock.just_after(&current.timestamp)).ok_or(Error::Superseded)?,
            ttl_ms,
        };
        let deleting = !version.is_live();
        let index = &self.context.index;
        if holding.indexed
            && !deleting
            && let Err(e) = index.outlive(key, ttl_ms).await
        {
            self.context.index_failed(&e);
            return Err(Error::IndexUnavailable(e.to_string()));
        }
        self.locations.remove(key);
        self.near.invalidate(key);
        let job = Job {
            key: key.to_string(),
            version,
            replicas: holding.set.len(),
            set: holding.set,
            claimed: false,
            indexed: holding.indexed,
            over: Some(split_change(&current.timestamp).0.to_string()),
        };
        let accepted = self.replicate(&nodes, job, None).await;
        self.near.invalidate(key);
        let accepted = accepted?;
        if deleting && accepted.applied_any && !accepted.superseded {
            // As after a delete: the entry lives on with the tombstones.
            if let Err(e) = index.expire_with_tombstone(key, tombstone_ttl).await {
                self.context.index_failed(&e);
            }
        }
        Ok(accepted.applied_any || accepted.superseded)
    }

    /// The newest live version among the up nodes of `holding`; `None`
    /// when the newest is a tombstone or none holds the key. Fails when
    /// no node answered (every one down or failing): the key may be on
    /// one.
    async fn newest_of(
        &self,
        nodes: &NodeTable,
        key: &str,
        holding: &Holding,
    ) -> Result<Option<Version>, Error> {
        let set = &holding.set;
        let members: Vec<_> = set
            .iter()
            .filter_map(|id| nodes.by_id(id))
            .filter(|n| n.is_up())
            .collect();
        let reads = join_all(members.iter().map(|n| values::read(&n.backend, key))).await;
        let mut versions = Vec::with_capacity(reads.len());
        let (mut answered, mut last_error) = (set.is_empty() && holding.reached, None);
        for (node, read) in members.iter().zip(reads) {
            match read {
                Ok(version) => {
                    answered = true;
                    versions.extend(version);
                }
                Err(e) => {
                    if e.is_unreachable() {
                        self.context.node_failed(node, &e);
                    }
                    last_error = Some(e);
                }
            }
        }
        if !answered {
            return Err(Error::NodeUnavailable(last_error.unwrap_or_else(|| {
                BackendError::Unreachable {
                    addr: set.join(","),
                    reason: "no node that may hold the key answered".into(),
                }
            })));
        }
        Ok(newest::newest(&versions).filter(|v| v.is_live()).cloned())
    }
}
