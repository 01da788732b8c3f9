//! The cache operations behind the HTTP API: find where a key lives, place
//! a new key, and read, write or delete its value on that node.
//!
//! Lookup order for reads: the local location cache, then the index Redis,
//! then the hashing fallback (ask the key's rendezvous candidates in
//! parallel). Writes always ask the index, which arbitrates new keys: the
//! location is claimed before the value is written, so two balancers
//! racing on one new key write to the same node. With the index down, a
//! write goes to the node that already holds the key, or else to a node
//! among the key's top-`k` candidates, where the fallback will find it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use crate::error::Error;
use crate::index::{Index, IndexError};
use crate::locations::{Location, LocationCache};
use crate::metrics::Metrics;
use crate::nodes::{Membership, Node, NodeTable};
use crate::placement::{self, Policy};
use crate::values::{self, StoredValue};

/// The result of a write.
#[derive(Debug)]
pub struct Written {
    /// The node that holds the key.
    pub node: Arc<str>,
    /// True when the key did not exist before.
    pub created: bool,
}

/// The result of a read hit.
#[derive(Debug)]
pub struct Found {
    /// The node that served the key.
    pub node: Arc<str>,
    /// The value and its remaining TTL.
    pub value: StoredValue,
}

/// Which nodes the hashing fallback asks.
#[derive(Debug, Clone, Copy)]
enum FallbackScope {
    /// The key's top-`k` candidates: where placement puts keys it cannot index.
    Candidates,
    /// Every up node: the index is unreachable, so an indexed key may sit
    /// anywhere placement's bounded-load overflow put it.
    AllUp,
}

/// Cache operations over the node table and the index.
#[derive(Debug)]
pub struct Cache {
    nodes: Arc<Membership>,
    index: Arc<Index>,
    locations: LocationCache,
    policy: Policy,
    metrics: Arc<Metrics>,
}

impl Cache {
    /// Wires the parts together.
    pub fn new(
        nodes: Arc<Membership>,
        index: Arc<Index>,
        locations: LocationCache,
        policy: Policy,
        metrics: Arc<Metrics>,
    ) -> Cache {
        Cache {
            nodes,
            index,
            locations,
            policy,
            metrics,
        }
    }

    /// Reads a key; `Ok(None)` is a miss.
    pub async fn get(&self, key: &str) -> Result<Option<Found>, Error> {
        let nodes = self.nodes.current();
        if let Some(node) = self.locations.get(key).and_then(|l| nodes.by_id(&l.node)) {
            if let Some(value) = read_from(node, key).await? {
                self.count_lookup("cache");
                return Ok(Some(Found {
                    node: node.id.clone(),
                    value,
                }));
            }
            self.locations.remove(key);
        }
        let scope = match self.index.lookup(key).await {
            Ok(Some(id)) => match nodes.by_id(&id) {
                Some(node) => {
                    self.count_lookup("index");
                    let found = read_from(node, key).await?;
                    if let Some(value) = &found {
                        self.remember(key, node, value.ttl);
                    }
                    return Ok(found.map(|value| Found {
                        node: node.id.clone(),
                        value,
                    }));
                }
                None => FallbackScope::AllUp,
            },
            Ok(None) => FallbackScope::Candidates,
            Err(e) => {
                self.count_index_error(&e);
                FallbackScope::AllUp
            }
        };
        let found = self.find_by_hashing(&nodes, key, scope).await;
        self.count_lookup(if found.is_some() { "fallback" } else { "none" });
        Ok(found)
    }

    /// Writes a key, placing it first if it is new.
    pub async fn put(&self, key: &str, json: &str, ttl: Option<u64>) -> Result<Written, Error> {
        let nodes = self.nodes.current();
        let contenders = nodes.contenders(key);
        let choice = placement::choose(&contenders, &self.policy, true).ok_or(Error::NoNodes)?;
        let choice = nodes.get(choice);
        let (node, claimed) = match self.index.claim(key, &choice.id, ttl).await {
            Ok((owner, created)) => {
                let node = nodes.by_id(&owner);
                (node.ok_or(Error::UnknownNode(owner))?, created)
            }
            Err(e) => {
                self.count_index_error(&e);
                self.place_without_index(&nodes, key).await?
            }
        };
        tracing::trace!(key, node = %node.id, claimed, "write");
        let existed = match values::write(&node.backend, key, json, ttl).await {
            Ok(existed) => existed,
            Err(e) => {
                if claimed {
                    // Undo the claim so the key is placed afresh next time.
                    let _ = self.index.release(key, &node.id).await;
                }
                if e.is_unreachable() {
                    node.mark_down(&e);
                }
                return Err(e.into());
            }
        };
        if !existed {
            node.record_placement(json.len() as u64);
            self.metrics
                .placements
                .with_label_values(&[&*node.id])
                .inc();
        }
        self.remember(key, node, ttl);
        Ok(Written {
            node: node.id.clone(),
            created: !existed,
        })
    }

    /// Deletes a key from every node that may hold it and from the index;
    /// returns the nodes it was removed from, or `None` if it was absent.
    pub async fn delete(&self, key: &str) -> Result<Option<Vec<Arc<str>>>, Error> {
        self.locations.remove(key);
        let nodes = self.nodes.current();
        let (indexed, scope) = match self.index.lookup(key).await {
            Ok(Some(id)) => (nodes.by_id(&id), FallbackScope::Candidates),
            Ok(None) => (None, FallbackScope::Candidates),
            Err(e) => {
                self.count_index_error(&e);
                (None, FallbackScope::AllUp)
            }
        };
        let mut targets = self.fallback_nodes(&nodes, key, scope);
        if let Some(node) = indexed
            && !targets.iter().any(|n| n.id == node.id)
        {
            targets.push(node);
        }
        let results = join_all(targets.iter().map(|n| values::remove(&n.backend, key))).await;
        let mut removed_from = Vec::new();
        for (node, result) in targets.iter().zip(results) {
            match result {
                Ok(true) => removed_from.push(node.id.clone()),
                Ok(false) => {}
                Err(e) => {
                    if e.is_unreachable() {
                        node.mark_down(&e);
                    }
                    // The node the index names must take the delete; a
                    // candidate that merely might hold a copy need not.
                    if indexed.is_some_and(|i| i.id == node.id) {
                        return Err(e.into());
                    }
                }
            }
        }
        if let Err(e) = self.index.forget(key).await {
            self.count_index_error(&e);
        }
        Ok((!removed_from.is_empty()).then_some(removed_from))
    }

    /// Where a write goes when the index cannot be asked: the node already
    /// holding the key, else the best of its top-`k` candidates.
    async fn place_without_index<'t>(
        &self,
        nodes: &'t NodeTable,
        key: &str,
    ) -> Result<(&'t Node, bool), Error> {
        if let Some(found) = self.find_by_hashing(nodes, key, FallbackScope::AllUp).await
            && let Some(node) = nodes.by_id(&found.node)
        {
            return Ok((node, false));
        }
        let contenders = nodes.contenders(key);
        let choice = placement::choose(&contenders, &self.policy, false).ok_or(Error::NoNodes)?;
        Ok((nodes.get(choice), false))
    }

    /// Asks the fallback nodes in parallel; the best-ranked holder wins.
    async fn find_by_hashing(
        &self,
        nodes: &NodeTable,
        key: &str,
        scope: FallbackScope,
    ) -> Option<Found> {
        let asked = self.fallback_nodes(nodes, key, scope);
        let reads = join_all(asked.iter().map(|n| read_from(n, key))).await;
        asked
            .into_iter()
            .zip(reads)
            .find_map(|(node, read)| match read {
                Ok(Some(value)) => Some(Found {
                    node: node.id.clone(),
                    value,
                }),
                _ => None,
            })
    }

    /// The nodes a lookup asks, best-ranked first. Candidates: the top `k`
    /// of the ranking as it is now and as it was before any node started
    /// draining, since the key may have been placed either way.
    fn fallback_nodes<'t>(
        &self,
        nodes: &'t NodeTable,
        key: &str,
        scope: FallbackScope,
    ) -> Vec<&'t Node> {
        let readable = nodes.readable(key);
        let mut asked: Vec<usize> = match scope {
            FallbackScope::AllUp => readable,
            FallbackScope::Candidates => {
                let k = self.policy.candidate_count(readable.len());
                let placing = nodes.contenders(key);
                let mut asked = readable[..k].to_vec();
                for c in placing
                    .iter()
                    .take(self.policy.candidate_count(placing.len()))
                {
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

    fn remember(&self, key: &str, node: &Node, ttl: Option<u64>) {
        let location = Location {
            node: node.id.clone(),
            expires_at: ttl.map(|t| Instant::now() + Duration::from_secs(t)),
        };
        self.locations.put(key, location);
    }

    fn count_lookup(&self, source: &str) {
        self.metrics.lookups.with_label_values(&[source]).inc();
    }

    fn count_index_error(&self, e: &IndexError) {
        let kind = match e {
            IndexError::Skipped => "skipped",
            IndexError::Failed(_) => "failed",
        };
        self.metrics.index_errors.with_label_values(&[kind]).inc();
    }
}

/// Reads a key from one node, checking that what it holds is JSON.
async fn read_from(node: &Node, key: &str) -> Result<Option<StoredValue>, Error> {
    match values::read(&node.backend, key).await {
        Ok(Some(value)) => {
            serde_json::from_slice::<serde::de::IgnoredAny>(&value.json)
                .map_err(|_| Error::NotJson)?;
            Ok(Some(value))
        }
        Ok(None) => Ok(None),
        Err(e) => {
            if e.is_unreachable() {
                node.mark_down(&e);
            }
            Err(e.into())
        }
    }
}
