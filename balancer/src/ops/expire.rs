//! Changing a key's time to live (`EXPIRE` and the like on the RESP
//! port): read the newest version from the key's holders → decide
//! ([`crate::ttl_change`]) → write the same value again with the new time
//! to live, as a version of its own.
//!
//! The new version is stamped [`Clock::just_after`](crate::hlc::Clock::just_after)
//! the one read: after it, and before every write stamped after it, so a
//! write or a delete made meanwhile always wins over the change, on every
//! replica and through every repair. And a replica takes the change only
//! over the version read, live ([`crate::values::apply_over`]): one that
//! holds a later version, a tombstone, or nothing (the key expired
//! there) keeps what it holds, so the change never brings a key back. The
//! change goes through the write's fan-out and acknowledgement rule
//! ([`super::write`]); a replica that answered without taking it (it
//! missed the version read) is queued for a repair.
//!
//! The index entry is made to outlive the new time to live first, so the
//! key is never left to the hashing fallback while its value lives.

use futures_util::future::join_all;

use super::Ops;
use super::fanout::Job;
use crate::backend::BackendError;
use crate::error::Error;
use crate::input::MAX_TTL_MS;
use crate::newest;
use crate::nodes::NodeTable;
use crate::ttl_change::{self, Change, Decision};
use crate::values::{self, Version};

impl Ops {
    /// Applies `change` to the key's time to live; `true` when it took
    /// effect (Redis's 1), `false` when the key is missing or a condition
    /// did not hold (0).
    pub async fn change_ttl(&self, key: &str, change: Change) -> Result<bool, Error> {
        let nodes = self.nodes.current();
        let (set, indexed) = self.holding(&nodes, key).await;
        let Some(current) = self.newest_of(&nodes, key, &set).await? else {
            return Ok(false);
        };
        let ttl_ms = match ttl_change::decide(current.ttl_ms, change, MAX_TTL_MS) {
            Decision::Unchanged => return Ok(false),
            Decision::Delete => return self.delete(key, None).await.map(|d| d.is_some()),
            Decision::Ttl(ttl_ms) => ttl_ms,
        };
        let timestamp =
            (self.clock.just_after(&current.timestamp)).ok_or(Error::TtlChangesExhausted)?;
        if indexed && let Err(e) = self.context.index.outlive(key, ttl_ms).await {
            self.context.index_failed(&e);
            return Err(Error::IndexUnavailable(e.to_string()));
        }
        self.locations.remove(key);
        self.near.invalidate(key);
        let job = Job {
            key: key.to_string(),
            version: Version {
                json: current.json,
                timestamp,
                ttl_ms,
            },
            replicas: set.len(),
            set,
            claimed: false,
            indexed,
            over: Some(current.timestamp),
        };
        let accepted = self.replicate(&nodes, job, None).await;
        self.near.invalidate(key);
        let accepted = accepted?;
        if accepted.any_existed && !(accepted.applied_any || accepted.superseded) {
            // Live, but not at the version read: a replica that missed it.
            self.context.repairs.enqueue(key);
        }
        Ok(accepted.applied_any || accepted.superseded)
    }

    /// The newest live version among the up members of `set`; `None` when
    /// the newest is a tombstone or none holds the key. Fails when no
    /// member answered (every one down or failing): the key may be on one.
    async fn newest_of(
        &self,
        nodes: &NodeTable,
        key: &str,
        set: &[String],
    ) -> Result<Option<Version>, Error> {
        let members: Vec<_> = set
            .iter()
            .filter_map(|id| nodes.by_id(id))
            .filter(|n| n.is_up())
            .collect();
        let reads = join_all(members.iter().map(|n| values::read(&n.backend, key))).await;
        let mut versions = Vec::with_capacity(reads.len());
        let (mut answered, mut last_error) = (set.is_empty(), None);
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
                    reason: "every replica of the key is down for this balancer".into(),
                }
            })));
        }
        Ok(newest::newest(&versions).filter(|v| v.is_live()).cloned())
    }
}
