//! The cache operations behind the HTTP API: find a key's replicas, place a
//! new key, and read, write or delete its value on them.
//!
//! **Lookup** for reads: the near cache (the value itself, kept true by
//! the nodes' invalidations; see [`crate::near`]), then the local location
//! cache, then the index Redis, then the hashing fallback (ask the key's
//! rendezvous candidates in parallel and take the newest version). A read goes to the primary, then
//! to the next replica on an error, a timeout or an empty answer (a node
//! that restarted empty); a read served past the primary asks for a read
//! repair. When every replica is down the key is a miss. A value read
//! through the location cache or the index may be kept in the near cache;
//! one found by the fallback is not.
//!
//! **Writes** always ask the index, which arbitrates new keys: the replica
//! set is claimed before the value is written, so two balancers racing on
//! one new key write to the same nodes. Every write carries a hybrid
//! logical clock timestamp and each node keeps the newest (see
//! [`crate::values`]); a delete writes tombstones. A replica that is down
//! or fails the write is replaced by a substitute chosen by placement, and
//! the index entry is edited to the nodes that took the write, so it never
//! names a replica holding an older value; replicas left short are queued
//! for repair (see [`crate::replication`]). The client hears back once
//! the write's acknowledgement level (`one`, `quorum`, `all`) is met and,
//! when the set changed, once the index entry is edited; the rest of the
//! write carries on in the background. With the index down, a write goes
//! to the nodes that already hold the key, or else to the key's top
//! candidates, where the fallback will find it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::backend::BackendError;
use crate::config::{PlacementConfig, ReplicationConfig, WriteAck};
use crate::error::Error;
use crate::health::count_failure;
use crate::hlc::Clock;
use crate::index::{Index, IndexError};
use crate::locations::{self, Location, LocationCache};
use crate::metrics::Metrics;
use crate::near::NearCache;
use crate::nodes::{Membership, Node, NodeTable};
use crate::placement;
use crate::repair::Repairer;
use crate::replication::{Ack, Job, Writer, count_index_error};
use crate::values::{self, Version};

/// The result of a write or a delete.
#[derive(Debug)]
pub struct Written {
    /// The replicas that acknowledged it before the reply.
    pub nodes: Vec<Arc<str>>,
    /// For a write, the key had no live value before; for a delete, it had one.
    pub changed: bool,
    /// The write's timestamp: the version the replicas keep unless a
    /// newer write arrives.
    pub version: String,
}

/// The result of a read hit.
#[derive(Debug)]
pub struct Found {
    /// The node that served the key.
    pub node: Arc<str>,
    /// The JSON text.
    pub json: Bytes,
    /// Remaining milliseconds, or `None` when the key does not expire.
    pub ttl_ms: Option<u64>,
}

impl Found {
    /// Remaining whole seconds, rounded up, as the API reports a TTL.
    pub fn ttl_seconds(&self) -> Option<u64> {
        self.ttl_ms.map(|ms| ms.div_ceil(1000))
    }
}

/// Which nodes the hashing fallback asks.
#[derive(Debug, Clone, Copy)]
enum FallbackScope {
    /// The key's top candidates: where placement puts keys it cannot index.
    Candidates,
    /// Every up node: the index is unreachable, so an indexed key may sit
    /// anywhere placement's bounded-load overflow put it.
    AllUp,
}

/// Cache operations over the node table and the index.
#[derive(Debug)]
pub struct Cache {
    nodes: Arc<Membership>,
    near: Arc<NearCache>,
    locations: Arc<LocationCache>,
    clock: Clock,
    replication: ReplicationConfig,
    writer: Writer,
}

impl Cache {
    /// Wires the parts together.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        nodes: Arc<Membership>,
        near: Arc<NearCache>,
        index: Arc<Index>,
        locations: Arc<LocationCache>,
        policy: PlacementConfig,
        replication: ReplicationConfig,
        eject_after: u32,
        clock: Clock,
        repairs: Arc<Repairer>,
        metrics: Arc<Metrics>,
    ) -> Cache {
        Cache {
            nodes,
            near,
            locations,
            clock,
            replication,
            writer: Writer {
                index,
                repairs,
                metrics,
                policy,
                eject_after,
            },
        }
    }

    /// Reads a key; `Ok(None)` is a miss.
    pub async fn get(&self, key: &str) -> Result<Option<Found>, Error> {
        let nodes = self.nodes.current();
        let epoch = nodes.rejoin_epoch();
        if let Some(found) = self.near.get(key, &nodes, epoch) {
            self.count_lookup("near_cache");
            return Ok(Some(found));
        }
        let reservation = self.near.reserve(key);
        if let Some(location) = self.locations.get(key).filter(|l| l.epoch == epoch) {
            if let Some(found) = self.read_replicas(&nodes, key, &location.nodes).await? {
                self.count_lookup("cache");
                self.near.fill(key, reservation, &found, &nodes, epoch);
                return Ok(Some(found));
            }
            self.locations.remove(key);
        }
        let located = self.locations.reserve(key);
        let scope = match self.writer.index.lookup(key).await {
            Ok(Some(set)) => {
                self.count_lookup("index");
                let set: Vec<Arc<str>> = set.into_iter().map(Arc::from).collect();
                let found = self.read_replicas(&nodes, key, &set).await?;
                if let Some(found) = &found {
                    self.remember(key, located, set, epoch, found.ttl_ms);
                    self.near.fill(key, reservation, found, &nodes, epoch);
                }
                return Ok(found);
            }
            Ok(None) => FallbackScope::Candidates,
            Err(e) => {
                self.count_index_error(&e);
                FallbackScope::AllUp
            }
        };
        let holders = self.find_by_hashing(&nodes, key, scope).await;
        self.count_lookup(if holders.is_empty() {
            "none"
        } else {
            "fallback"
        });
        let newest = holders
            .into_iter()
            .max_by(|a, b| a.1.timestamp.cmp(&b.1.timestamp));
        if let Some((_, version)) = &newest {
            check_json(version)?;
        }
        Ok(newest.and_then(|(node, version)| found(node, version)))
    }

    /// Writes a key, placing it first if it is new.
    pub async fn put(
        &self,
        key: &str,
        json: &str,
        ttl: Option<u64>,
        ack: Option<WriteAck>,
    ) -> Result<Written, Error> {
        let ttl_ms = ttl.map(|t| t * 1000);
        let version = Version {
            json: Some(json.as_bytes().to_vec()),
            timestamp: self.clock.now(),
            ttl_ms,
        };
        self.near.invalidate(key);
        let nodes = self.nodes.current();
        let replicas = self.replica_count(&nodes)?;
        let proposal =
            placement::choose_replicas(&nodes.contenders(key), &self.writer.policy, true, replicas);
        let proposal: Vec<&str> = proposal.iter().map(|&i| &*nodes.get(i).id).collect();
        let (set, claimed) = match self.writer.index.claim(key, &proposal, ttl).await {
            Ok((set, created)) => (set, created),
            Err(e) => {
                self.count_index_error(&e);
                (self.place_without_index(&nodes, key, replicas).await, false)
            }
        };
        // After the claim: its own change to the entry is behind us, and
        // any later one cancels the record below.
        let located = self.locations.reserve(key);
        let ack = ack.unwrap_or(self.replication.write_ack);
        let written = self
            .replicate(&nodes, key, version, set, claimed, ack, replicas)
            .await;
        self.near.invalidate(key);
        let written = written?;
        let epoch = nodes.rejoin_epoch();
        self.remember(key, located, written.0.nodes.clone(), epoch, ttl_ms);
        Ok(written.0)
    }

    /// Deletes a key: writes a tombstone to every replica. Returns `None`
    /// when no node held a live value.
    pub async fn delete(&self, key: &str, ack: Option<WriteAck>) -> Result<Option<Written>, Error> {
        self.locations.remove(key);
        self.near.invalidate(key);
        let nodes = self.nodes.current();
        let set = match self.writer.index.lookup(key).await {
            Ok(Some(set)) => set,
            Ok(None) => self.holders(&nodes, key, FallbackScope::Candidates).await,
            Err(e) => {
                self.count_index_error(&e);
                self.holders(&nodes, key, FallbackScope::AllUp).await
            }
        };
        if set.is_empty() {
            return Ok(None);
        }
        let tombstone_ttl = self.replication.tombstone_ttl.as_millis() as u64;
        let version = Version {
            json: None,
            timestamp: self.clock.now(),
            ttl_ms: Some(tombstone_ttl),
        };
        let replicas = set.len();
        let ack = ack.unwrap_or(self.replication.write_ack);
        let replicated = self
            .replicate(&nodes, key, version, set, false, ack, replicas)
            .await;
        self.near.invalidate(key);
        let (mut written, existed) = replicated?;
        if let Err(e) = self
            .writer
            .index
            .expire_with_tombstone(key, tombstone_ttl)
            .await
        {
            self.count_index_error(&e);
        }
        written.changed = existed;
        Ok(existed.then_some(written))
    }

    /// Sends `version` to the replica set in a task of its own and waits
    /// until `ack` is met. Returns the write and whether any replica held
    /// a live value before.
    #[allow(clippy::too_many_arguments)]
    async fn replicate(
        &self,
        nodes: &Arc<NodeTable>,
        key: &str,
        version: Version,
        set: Vec<String>,
        claimed: bool,
        ack: WriteAck,
        replicas: usize,
    ) -> Result<(Written, bool), Error> {
        let needed = ack.needed(replicas);
        let timestamp = version.timestamp.clone();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let job = Job {
            key: key.to_string(),
            version,
            set,
            claimed,
            replicas,
        };
        let task = tokio::spawn(self.writer.clone().write(nodes.clone(), job, tx));
        let mut acks: Vec<Ack> = Vec::with_capacity(replicas);
        while acks.len() < needed {
            match rx.recv().await {
                Some(ack) => {
                    if !ack.applied.applied {
                        self.clock.observe(&ack.applied.timestamp);
                    }
                    acks.push(ack);
                }
                None => break,
            }
        }
        if acks.len() < needed {
            let failure = task.await.unwrap_or_default();
            return Err(match failure.last {
                Some(e) if acks.is_empty() => e.into(),
                Some(e) => Error::TooFewReplicas {
                    acked: acks.len(),
                    needed,
                    last: e.to_string(),
                },
                None => Error::NoNodes,
            });
        }
        let existed_on_primary = acks.iter().find(|a| a.primary).map(|a| a.applied.existed);
        let existed = existed_on_primary.unwrap_or(acks[0].applied.existed);
        let any_existed = acks.iter().any(|a| a.applied.existed);
        Ok((
            Written {
                nodes: acks.into_iter().map(|a| a.node).collect(),
                changed: !existed,
                version: timestamp,
            },
            any_existed,
        ))
    }

    /// The replica count for a new write: the configured factor, capped at
    /// the nodes up.
    fn replica_count(&self, nodes: &NodeTable) -> Result<usize, Error> {
        let up = nodes.up_count();
        if up == 0 {
            return Err(Error::NoNodes);
        }
        Ok(self.replication.factor.get().min(up))
    }

    /// Where a write goes when the index cannot be asked: the nodes already
    /// holding the key, else the best of its top candidates.
    async fn place_without_index(
        &self,
        nodes: &NodeTable,
        key: &str,
        replicas: usize,
    ) -> Vec<String> {
        let holders = self.holders(nodes, key, FallbackScope::AllUp).await;
        if !holders.is_empty() {
            return holders;
        }
        let chosen = placement::choose_replicas(
            &nodes.contenders(key),
            &self.writer.policy,
            false,
            replicas,
        );
        chosen
            .into_iter()
            .map(|i| nodes.get(i).id.to_string())
            .collect()
    }

    /// The ids of the fallback nodes that hold any version of the key,
    /// newest first.
    async fn holders(&self, nodes: &NodeTable, key: &str, scope: FallbackScope) -> Vec<String> {
        let mut found = self.find_by_hashing(nodes, key, scope).await;
        found.sort_by(|a, b| b.1.timestamp.cmp(&a.1.timestamp));
        found
            .into_iter()
            .map(|(node, _)| node.to_string())
            .collect()
    }

    /// Reads the set in order, skipping nodes that are down, failing or
    /// empty; a hit past a replica that answered without the key (or
    /// failed) queues a read repair. Skipping a replica known to be down
    /// does not: it cannot take a repair, and its resync covers it.
    async fn read_replicas(
        &self,
        nodes: &NodeTable,
        key: &str,
        set: &[Arc<str>],
    ) -> Result<Option<Found>, Error> {
        let mut passed_live = false;
        for (position, id) in set.iter().enumerate() {
            let Some(node) = nodes.by_id(id).filter(|n| n.is_up()) else {
                continue;
            };
            match values::read(&node.backend, key).await {
                Ok(Some(version)) => {
                    node.record_success();
                    if position > 0 {
                        self.writer
                            .metrics
                            .failovers
                            .with_label_values(&["get"])
                            .inc();
                    }
                    if passed_live {
                        self.writer.metrics.read_repairs.inc();
                        self.writer.repairs.enqueue(key);
                    }
                    check_json(&version)?;
                    return Ok(found(node.id.clone(), version));
                }
                Ok(None) => {
                    node.record_success();
                    passed_live = true;
                }
                Err(e) if e.is_unreachable() => {
                    count_failure(node, &e, self.writer.eject_after, &self.writer.metrics);
                    passed_live = true;
                }
                Err(BackendError::Reply { .. }) => return Err(Error::NotJson),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Asks the fallback nodes in parallel; returns each holder with the
    /// version it has, in rank order.
    async fn find_by_hashing(
        &self,
        nodes: &NodeTable,
        key: &str,
        scope: FallbackScope,
    ) -> Vec<(Arc<str>, Version)> {
        let asked = self.fallback_nodes(nodes, key, scope);
        let reads = join_all(asked.iter().map(|n| values::read(&n.backend, key))).await;
        asked
            .into_iter()
            .zip(reads)
            .filter_map(|(node, read)| match read {
                Ok(Some(version)) => Some((node.id.clone(), version)),
                Ok(None) => None,
                Err(e) => {
                    if e.is_unreachable() {
                        count_failure(node, &e, self.writer.eject_after, &self.writer.metrics);
                    }
                    None
                }
            })
            .collect()
    }

    /// The nodes a lookup asks, best-ranked first. Candidates: the top
    /// `k + R - 1` of the ranking as it is now and as it was before any
    /// node started draining, since each replica was chosen among the top
    /// `k` of what the earlier ones left.
    fn fallback_nodes<'t>(
        &self,
        nodes: &'t NodeTable,
        key: &str,
        scope: FallbackScope,
    ) -> Vec<&'t Node> {
        let readable = nodes.readable(key);
        let spread = self.replication.factor.get() - 1;
        let mut asked: Vec<usize> = match scope {
            FallbackScope::AllUp => readable,
            FallbackScope::Candidates => {
                let policy = &self.writer.policy;
                let k = (policy.candidate_count(readable.len()) + spread).min(readable.len());
                let placing = nodes.contenders(key);
                let k_placing = (policy.candidate_count(placing.len()) + spread).min(placing.len());
                let mut asked = readable[..k].to_vec();
                for c in placing.iter().take(k_placing) {
                    if !asked.contains(&c.node) {
                        asked.push(c.node);
                    }
                }
                asked
            }
        };
        asked.dedup();
        asked.into_iter().map(|i| nodes.get(i)).collect()
    }

    fn remember(
        &self,
        key: &str,
        reservation: locations::Reservation,
        set: Vec<Arc<str>>,
        epoch: u64,
        ttl_ms: Option<u64>,
    ) {
        if set.is_empty() {
            return;
        }
        let location = Location {
            nodes: set.into(),
            epoch,
            expires_at: ttl_ms.map(|ms| Instant::now() + Duration::from_millis(ms)),
        };
        self.locations.record(key, reservation, location);
    }

    fn count_lookup(&self, source: &str) {
        self.writer
            .metrics
            .lookups
            .with_label_values(&[source])
            .inc();
    }

    fn count_index_error(&self, e: &IndexError) {
        count_index_error(&self.writer.metrics, e);
    }
}

/// A hit, unless the version is a tombstone.
fn found(node: Arc<str>, version: Version) -> Option<Found> {
    let ttl_ms = version.ttl_ms;
    version.json.map(|json| Found {
        node,
        json: Bytes::from(json),
        ttl_ms,
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
