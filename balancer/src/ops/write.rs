//! Writing a key: claim → fan-out → acknowledgement.
//!
//! 0. **A cached location**: an overwrite (no TTL, to an entry with none)
//!    whose replica set the location cache holds skips the claim once the
//!    index's invalidation stream confirms the set is still the index's
//!    (a fence shared by concurrent writes; see [`super::overwrite`]).
//!    A set changed meanwhile is claimed as below.
//! 1. **Claim**: the index arbitrates new keys. The replica set placement
//!    proposes is claimed before the value is written, so two balancers
//!    racing on one new key write to the same nodes; the loser of the
//!    race uses the winner's set. With the index down, the write goes to
//!    the nodes that already hold the key, or else to the key's top
//!    candidates, where the fallback will find it.
//!
//!    A claim that *creates* the entry does not prove the key new: the
//!    index may have lost it, the entry may have expired early, or a write
//!    may have gone around an index outage. So the nodes are searched too
//!    (as wide as [`crate::fallback::unlisted`] says, started alongside
//!    the claim unless the key's location is cached; the set's own
//!    members are not asked, their answers to the write say whether they
//!    held the key), and the holders
//!    found join the set ([`crate::replicas::supersede`]): the write
//!    reaches every copy, answers 200 if one was live, and no older copy is
//!    left outside the set for the fallback to bring back.
//! 2. **Fan-out** ([`super::fanout`]): the version, stamped by the hybrid
//!    logical clock, goes to every replica at once; each node keeps the
//!    newest (see [`crate::values`]).
//! 3. **Acknowledgement**: the client hears back once the level (`one`,
//!    `quorum`, `all`) is met and the primary has the write, by the rule
//!    in [`crate::acks`]; the rest of the write carries on in the
//!    background.
//!
//! Deletes ([`super::delete`]) use the same fan-out with a tombstone.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::Ops;
use super::fanout::Job;
use super::inline::Inline;
use super::overwrite::Cached;
use super::search::Holders;
use crate::acks::{self, Accepted, Ack};
use crate::answer::Written;
use crate::config::WriteAck;
use crate::error::Error;
use crate::fallback;
use crate::index::Claimed;
use crate::nodes::NodeTable;
use crate::replicas;
use crate::values::Version;

/// How an attempt at a write lost to a version stamped later, if it did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lost {
    /// A replica kept a version stamped after the attempt's.
    pub(super) superseded: bool,
    /// The clock could not adopt such a stamp: it is further ahead of this
    /// balancer's wall clock than the drift bound.
    pub(super) unadopted: bool,
}

/// Where a write goes, as its claim decided.
#[derive(Debug)]
pub(super) struct Placed {
    /// The replica set.
    set: Vec<String>,
    /// This write created the key's index entry.
    claimed: bool,
    /// The set came from the index.
    indexed: bool,
    /// A search after a claim that created the entry found a live copy:
    /// the key is not new.
    copies_found: bool,
}

impl Placed {
    /// A set the index holds, which this write did not create.
    pub(super) fn listed(set: Vec<String>) -> Placed {
        Placed {
            set,
            claimed: false,
            indexed: true,
            copies_found: false,
        }
    }
}

impl Ops {
    /// Writes a key, placing it first if it is new.
    ///
    /// A write stamped before a version a replica already holds (written
    /// by a balancer whose clock runs ahead, within the drift bound) does
    /// not take effect; the clock has then adopted that version, so the
    /// write is stamped again, after it, and sent once more. If a replica
    /// keeps a version stamped after the second stamp too, and the clock
    /// adopted every stamp that beat the first, that version was written
    /// while this write was in flight (a write acknowledged before this
    /// one began is held by a quorum of the set, so the first attempt saw
    /// it and the second stamp comes after it): this write is ordered just
    /// before it, and acknowledged. If the clock could not adopt a stamp
    /// (further ahead than the drift bound), the outcome is unknown
    /// ([`Error::Superseded`]).
    pub async fn put(
        &self,
        key: &str,
        json: &str,
        ttl_ms: Option<u64>,
        ack: Option<WriteAck>,
    ) -> Result<Written, Error> {
        let (first, lost) = self.put_stamped(key, json, ttl_ms, ack).await?;
        if !lost.superseded {
            return Ok(first);
        }
        // The first stamp took effect on some replicas: a repair settles
        // them on the newest version whatever the second attempt does.
        self.context.repairs.enqueue(key);
        let (second, lost_again) = self.put_stamped(key, json, ttl_ms, ack).await?;
        if lost_again.superseded && lost.unadopted {
            return Err(Error::Superseded);
        }
        Ok(Written {
            created: first.created,
            ..second
        })
    }

    /// One attempt at a write, stamped now; says whether a replica kept a
    /// version stamped later, and whether the clock adopted its stamp.
    async fn put_stamped(
        &self,
        key: &str,
        json: &str,
        ttl_ms: Option<u64>,
        ack: Option<WriteAck>,
    ) -> Result<(Written, Lost), Error> {
        // The index keeps whole seconds; an entry must outlive its value.
        let ttl = ttl_ms.map(|ms| ms.div_ceil(1000));
        let version = Version {
            json: Some(json.as_bytes().to_vec()),
            timestamp: self.clock.now(),
            ttl_ms,
        };
        self.near.invalidate(key);
        let nodes = self.nodes.current();
        let replicas = replicas::count(self.replication.factor.get(), nodes.up_count())
            .ok_or(Error::NoNodes)?;
        if replicas < self.replication.factor.get() {
            nodes.record_short_write();
        }
        let cached = self.cached_placement(&nodes, key, ttl).await;
        let source = match &cached {
            Cached::Confirmed(..) => "cache",
            Cached::Stale => "cache_stale",
            Cached::Absent => "index",
        };
        let metrics = &self.context.metrics;
        metrics.write_locations.with_label_values(&[source]).inc();
        let (placed, located) = match cached {
            Cached::Confirmed(placed, located) => (placed, located),
            Cached::Stale | Cached::Absent => {
                let known = self.locations.knows(key);
                // Before the claim, so that no change to the entry made
                // after the claim read it can be missed by the record
                // below (the claim's own change cancels it too: a new
                // key's set is recorded by its next write or read).
                let located = self.locations.reserve(key);
                (
                    self.claim(&nodes, key, replicas, ttl, known).await?,
                    located,
                )
            }
        };
        let timestamp = version.timestamp.clone();
        let (order, indexed) = (placed.set.clone(), placed.indexed);
        let job = Job {
            key: key.to_string(),
            version,
            set: placed.set,
            claimed: placed.claimed,
            indexed: placed.indexed,
            replicas,
            over: None,
        };
        let accepted = self.replicate(&nodes, job, ack).await;
        self.near.invalidate(key);
        let accepted = accepted?;
        let created = acks::created(placed.claimed, placed.copies_found, &accepted);
        let took = replicas::in_set_order(accepted.nodes, &order);
        // Only a set the index holds: no invalidation would ever drop one
        // the fallback chose while the index was down. Writable only when
        // the entry lasts and every member took the write: a later write
        // through the cache must reach every member, not only those that
        // answered first (R = 3 with `quorum` answers after two).
        if indexed {
            let whole =
                took.len() == order.len() && took.iter().zip(&order).all(|(t, o)| **t == **o);
            let writable = whole && ttl.is_none();
            let epoch = nodes.rejoin_epoch();
            self.remember(key, located, took.clone(), epoch, ttl_ms, writable);
        }
        let written = Written {
            nodes: took,
            created,
            version: timestamp,
        };
        let lost = Lost {
            superseded: accepted.superseded,
            unadopted: accepted.unadopted,
        };
        Ok((written, lost))
    }

    /// Where the write goes: the set the index holds, or the one it takes
    /// from placement's proposal joined by the nodes found holding the
    /// key, or, with the index down, one found without it. `known`: the
    /// location cache held the key (most likely an overwrite).
    async fn claim(
        &self,
        nodes: &NodeTable,
        key: &str,
        replicas: usize,
        ttl: Option<u64>,
        known: bool,
    ) -> Result<Placed, Error> {
        let proposal = replicas::propose(&nodes.contenders(key), &self.context.placement, replicas);
        let proposal: Vec<&str> = proposal.iter().map(|&i| &*nodes.get(i).id).collect();
        let index = &self.context.index;
        let early = fallback::search_before_claim(known, index.is_down(), index.is_complete());
        let (claimed, searched) = tokio::join!(
            index.claim(key, &proposal, ttl),
            self.search_if(nodes, key, early, &proposal)
        );
        match claimed {
            Ok(claimed) => match fallback::search_after_claim(claimed.created, claimed.complete) {
                Some(needed) => {
                    let found = match searched {
                        Some((done, found))
                            if fallback::reusable(done, needed, &proposal, &claimed.set) =>
                        {
                            found
                        }
                        _ => {
                            let set: Vec<&str> = claimed.set.iter().map(String::as_str).collect();
                            self.search_outside(nodes, key, needed, &set).await
                        }
                    };
                    self.take_over(key, claimed, &found, ttl.map(|t| t * 1000))
                        .await
                }
                None => Ok(Placed::listed(claimed.set)),
            },
            Err(e) => {
                self.context.index_failed(&e);
                Ok(Placed {
                    set: self.place_without_index(nodes, key, replicas).await,
                    claimed: false,
                    indexed: false,
                    copies_found: false,
                })
            }
        }
    }

    /// After a claim that created the key's entry, or found one in an
    /// index not yet rebuilt: adds the nodes `found` holding copies to the
    /// entry. If the index cannot record them the write is not made: it
    /// would leave older copies outside the set.
    async fn take_over(
        &self,
        key: &str,
        claimed: Claimed,
        found: &Holders,
        ttl_ms: Option<u64>,
    ) -> Result<Placed, Error> {
        let holders: Vec<(&str, bool)> = found.iter().map(|(id, v)| (&**id, v.is_live())).collect();
        let decision = replicas::supersede(&claimed.set, &holders);
        let mut set = claimed.set;
        if !decision.joining.is_empty() {
            let index = &self.context.index;
            match index.adopt(key, &decision.joining, ttl_ms).await {
                Ok(adopted) => set = adopted,
                Err(e) => {
                    self.context.index_failed(&e);
                    if claimed.created {
                        let _ = index.release(key, &set).await;
                    }
                    return Err(Error::IndexUnavailable(e.to_string()));
                }
            }
            // A racing writer that read the claimed set wrote only there.
            self.context.repairs.enqueue(key);
        }
        Ok(Placed {
            set,
            claimed: claimed.created,
            indexed: true,
            copies_found: decision.existed,
        })
    }

    /// Sends `job` to its replica set and waits until `ack` (else the
    /// configured level) is met; the fan-out runs on after that when it
    /// has more to do ([`super::inline`]).
    pub(super) async fn replicate(
        &self,
        nodes: &Arc<NodeTable>,
        job: Job,
        ack: Option<WriteAck>,
    ) -> Result<Accepted, Error> {
        let ack = ack.unwrap_or(self.replication.write_ack);
        let (replicas, factor) = (job.replicas, self.replication.factor.get());
        let needed = acks::needed_of(ack, replicas, job.set.len(), factor);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (sent_tx, sent_rx) = oneshot::channel();
        let mut fanout = Inline::new(self.context.clone().write(nodes.clone(), job, tx, sent_tx));
        let primary_sent = fanout.beside(sent_rx).await.unwrap_or(false);
        let mut taken: Vec<Ack> = Vec::with_capacity(needed);
        let mut unadopted = false;
        while !acks::enough(&taken, needed, primary_sent) {
            let Some(ack) = fanout.beside(rx.recv()).await else {
                break;
            };
            if !ack.applied.applied && !self.clock.observe(&ack.applied.timestamp) {
                unadopted |= ack.superseded;
                let metrics = &self.context.metrics;
                metrics
                    .clock_drift
                    .with_label_values(&["not_adopted"])
                    .inc();
            }
            taken.push(ack);
        }
        let verdict = if acks::enough(&taken, needed, primary_sent) {
            acks::verdict(taken, needed, None)
        } else {
            let fate = fanout.finish().await;
            if let Some(e) = fate.unrecorded {
                return Err(Error::unrecorded(e));
            }
            let needed = acks::settled_need(ack, replicas, needed, fate.settled);
            acks::verdict(taken, needed, fate.last_error)
        };
        verdict.map(|accepted| Accepted {
            unadopted,
            ..accepted
        })
    }
}
