//! Reading a key: the lookup tiers in order, each a step below.
//!
//! 1. The near cache: the value itself, kept true by the nodes'
//!    invalidations (see [`crate::near`]).
//! 2. The location cache: the replica set, kept true by the index's
//!    invalidations (see [`crate::locations`]).
//! 3. The index Redis.
//! 4. The hashing fallback, as wide as [`crate::fallback`] says (every
//!    up node while the index is unreachable or not yet rebuilt after a
//!    loss); the newest version among the holders answers, and a miss
//!    needs a node that answered: when none did, the read fails.
//!
//! A replica set is read in order: the primary, then the next replica on
//! an error, a timeout or an empty answer (a node that restarted empty,
//! or evicted the key); a hit past a replica that failed, or that answered
//! without the key while nodes do not evict, queues a read repair. The key
//! is a miss only when every member answered without it (a tombstone is
//! an answer: the key was deleted); when one did not answer, the read
//! fails, since that one may hold the only copy, and members past the
//! first R (the joining end of a move) are not asked after it. A value read
//! through the location cache or the index may be kept in the near cache;
//! one found by the fallback is not.

use std::sync::Arc;

use bytes::Bytes;

use super::Ops;
use crate::answer::{Found, Source};
use crate::backend::BackendError;
use crate::error::Error;
use crate::fallback::{self, Scope};
use crate::newest;
use crate::nodes::NodeTable;
use crate::values::{self, Version};

impl Ops {
    /// Reads a key; `Ok(None)` is a miss.
    pub async fn get(&self, key: &str) -> Result<Option<Found>, Error> {
        let nodes = self.nodes.current();
        let epoch = nodes.rejoin_epoch();
        if let Some(found) = self.near.get(key, &nodes, epoch) {
            self.count_lookup("near_cache");
            return Ok(Some(found));
        }
        let reservation = self.near.reserve(key);
        // A cached set a member of which did not answer: should the index
        // not answer either, the fallback's search must hear from them.
        let mut unanswered_cached = Vec::new();
        if let Some(location) = self.locations.get(key).filter(|l| l.epoch == epoch) {
            match self.read_replicas(&nodes, key, &location.nodes).await {
                Ok(Some(found)) => {
                    self.count_lookup("cache");
                    self.near.fill(key, reservation, &found, &nodes, epoch);
                    return Ok(Some(found));
                }
                // Not there, or a member did not answer: the index may know better.
                Ok(None) => {}
                Err(Error::NodeUnavailable(_)) => {
                    unanswered_cached = location.nodes.iter().map(|n| n.to_string()).collect();
                }
                Err(e) => return Err(e),
            }
            self.locations.remove(key);
        }
        let located = self.locations.reserve(key);
        let index = &self.context.index;
        let mut listed = Vec::new();
        let scope = match index.lookup(key).await {
            Ok(Some(set)) if let Some(scope) = fallback::listed(index.is_complete()) => {
                listed = set;
                scope
            }
            Ok(Some(set)) => {
                self.count_lookup("index");
                let set: Vec<Arc<str>> = set.into_iter().map(Arc::from).collect();
                let found = self.read_replicas(&nodes, key, &set).await?;
                if let Some(found) = &found {
                    self.remember(key, located, set, epoch, found.ttl_ms, false);
                    self.near.fill(key, reservation, found, &nodes, epoch);
                }
                return Ok(found);
            }
            Ok(None) => fallback::unlisted(index.is_complete()),
            Err(e) => {
                self.context.index_failed(&e);
                listed = unanswered_cached;
                Scope::AllUp
            }
        };
        let (mut holders, answered) = self.search_reaching(&nodes, key, scope, &[]).await;
        self.count_lookup(if holders.is_empty() {
            "none"
        } else {
            "fallback"
        });
        // The members of a known set must all answer, for a hit as for a
        // miss: one that did not may hold the newest version.
        let members_answered = (listed.iter()).all(|m| answered.iter().any(|a| **a == **m));
        if answered.is_empty() || !members_answered {
            return Err(Error::NodeUnavailable(BackendError::Unreachable {
                addr: "the hashing fallback's nodes".into(),
                reason: "no node it asked for the key answered, or a member of its set did not"
                    .into(),
            }));
        }
        let Some(newest) = newest::position(holders.iter().map(|h| &h.1)) else {
            return Ok(None);
        };
        let (node, version) = holders.swap_remove(newest);
        check_json(&version)?;
        Ok(found(node, version))
    }

    /// Reads the set in order, skipping nodes that are down, failing or
    /// empty; a hit past a replica that failed, or that answered without
    /// the key while nodes do not evict, queues a read repair. Skipping a replica known to be down
    /// does not: it cannot take a repair, and its resync covers it. A miss
    /// needs every replica to answer ([`misses`]): when one could not be
    /// asked (down for this balancer, or failing) the read fails, as the
    /// key's value may be on it, and past it only the first R members
    /// answer ([`trusted`]).
    pub(super) async fn read_replicas(
        &self,
        nodes: &NodeTable,
        key: &str,
        set: &[Arc<str>],
    ) -> Result<Option<Found>, Error> {
        let context = &self.context;
        let mut passed_live = false;
        let (mut answered, mut unanswered, mut last_error) = (false, false, None);
        for (position, id) in set.iter().enumerate() {
            if unanswered && !trusted(position, self.replication.factor.get()) {
                break;
            }
            let Some(node) = nodes.by_id(id).filter(|n| n.is_up()) else {
                unanswered = true;
                continue;
            };
            match values::read(&node.backend, key).await {
                Ok(Some(version)) => {
                    node.record_success();
                    if position > 0 {
                        context.metrics.failovers.with_label_values(&["get"]).inc();
                    }
                    if passed_live {
                        context.metrics.read_repairs.inc();
                        context.repairs.enqueue(key);
                    }
                    check_json(&version)?;
                    return Ok(found(node.id.clone(), version));
                }
                Ok(None) => {
                    node.record_success();
                    passed_live |= self.replication.when_full.repairs_missing();
                    answered = true;
                }
                Err(e) if e.is_unreachable() => {
                    context.node_failed(node, &e);
                    passed_live = true;
                    unanswered = true;
                    last_error = Some(e);
                }
                Err(BackendError::Reply { .. }) => return Err(Error::NotJson),
                Err(e) => return Err(e.into()),
            }
        }
        if misses(answered, unanswered) {
            return Ok(None);
        }
        Err(Error::NodeUnavailable(last_error.unwrap_or_else(|| {
            BackendError::Unreachable {
                addr: set.join(","),
                reason: "a replica of the key is down for this balancer, and none that answered holds it".into(),
            }
        })))
    }
}

/// Whether a read of a replica set that found no version of the key is a
/// miss: only when a member answered and every member did. A member can
/// lack a key that has an acknowledged write (it restarted empty, it
/// joined the set in a move not yet settled, it evicted the key), so its
/// answer proves nothing while a member that may hold the key did not
/// answer: the read then fails rather than answer a miss
/// (`tests/failover.rs`, found by a chaos run).
fn misses(answered: bool, unanswered: bool) -> bool {
    answered && !unanswered
}

/// Whether the member at `position` of a set may answer once a member
/// before it did not: only among the first `factor`. A set wider than the
/// replication factor is a move under way, and its joining members (last)
/// may hold nothing yet or an older version, or tombstone, the move has
/// not replaced (`tests/failover.rs`).
fn trusted(position: usize, factor: usize) -> bool {
    position < factor
}

/// A hit, unless the version is a tombstone.
fn found(node: Arc<str>, version: Version) -> Option<Found> {
    let ttl_ms = version.ttl_ms;
    version.json.map(|json| Found {
        source: Source::Node,
        node,
        json: Bytes::from(json),
        ttl_ms,
        version: Arc::from(version.timestamp),
    })
}

/// Checks that a live value is JSON (it may have been written around the
/// balancer).
fn check_json(version: &Version) -> Result<(), Error> {
    match &version.json {
        Some(json) => serde_json::from_slice::<serde::de::IgnoredAny>(json)
            .map(drop)
            .map_err(|_| Error::NotJson),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{misses, trusted};

    #[test]
    fn a_miss_needs_every_member_to_answer() {
        assert!(misses(true, false));
        assert!(!misses(true, true), "one member did not answer");
        assert!(!misses(false, true), "none answered");
    }

    #[test]
    fn past_a_silent_member_only_the_first_factor_members_answer() {
        assert!(trusted(1, 2));
        assert!(!trusted(2, 2), "a joining member of a widened set");
        assert!(!trusted(1, 1));
    }
}
