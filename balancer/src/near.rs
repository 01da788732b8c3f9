//! The near cache: values of recently read keys kept in the balancer, so
//! a hot key is answered without a Redis round trip, and kept true by the
//! data nodes themselves through Redis server-assisted client-side caching
//! (`CLIENT TRACKING`, broadcast mode).
//!
//! The values live in a [`crate::tracking`] store bounded by bytes, each
//! with the version it was read at, and each data node has one
//! invalidation stream.
//!
//! **When a cached value may be served**: it was read from node N through
//! the key's replica set (never by the hashing fallback); N is up; every
//! node that is up (N included) has its stream open and at most
//! `max_lag` behind (`near_cache_max_lag_ms`, at most half the node
//! timeout; see [`crate::tracking::stream`]); no node has rejoined since;
//! the key has not expired. Right before serving, every stream is
//! drained.
//!
//! **What that guarantees**: a write acknowledged to anyone was applied by
//! at least one node that is up, and a stream that is at most `max_lag`
//! behind has applied the invalidation of every write acknowledged before
//! that, so a hit lags a write made through another balancer, or around
//! the balancers, by at most `max_lag`. A large backlog of invalidations
//! can hold one back in the server after the write's answer is out; the
//! heartbeat then stops hits from that server until the backlog is read,
//! rather than serving past the bound. Reads through the balancer that
//! made a write see it at once: its writes and deletes drop the key here
//! themselves, before and after they run. While a node that is up has no
//! open stream (it just joined, or its stream is reconnecting) nothing is
//! served from here. `near_cache_bytes = 0` turns the near cache off.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::answer::{Found, Source};
use crate::backend::Dial;
use crate::metrics::Metrics;
use crate::nodes::{Membership, NodeTable};
use crate::tracking::store::{Store, Ticket};
use crate::tracking::stream::{Drained, Stream};

/// Bytes counted for each entry beyond its key and value: the slot, the
/// LRU links and the hash table share.
const ENTRY_OVERHEAD: usize = 96;

/// A cached value and where it was read.
#[derive(Debug, Clone)]
struct Entry {
    /// The node that served it.
    node: Arc<str>,
    /// The JSON text.
    json: Bytes,
    /// The version's timestamp.
    version: Arc<str>,
    /// When the key's TTL runs out, if it has one.
    expires_at: Option<Instant>,
    /// The node table's rejoin epoch when it was read.
    epoch: u64,
}

/// Values near the balancer, and the streams that invalidate them.
#[derive(Debug)]
pub struct NearCache {
    store: Store<Entry>,
    /// One stream per data node id, as the node table lists them.
    streams: RwLock<HashMap<Arc<str>, Arc<Stream>>>,
    max_bytes: usize,
    /// How its streams reach the data nodes: their command timeout and
    /// the credentials.
    dial: Dial,
    max_lag: Duration,
    metrics: Arc<Metrics>,
}

/// A read's claim to fill the cache; see [`NearCache::reserve`].
#[derive(Debug)]
pub struct ValueReservation(Option<Ticket>);

/// What `GET /nodes` shows of the near cache.
#[derive(Debug, Serialize)]
pub struct NearView {
    /// The byte budget; 0 when the near cache is off.
    pub max_bytes: usize,
    /// Bytes held now.
    pub bytes: usize,
    /// Values held now, pending reads included.
    pub entries: usize,
    /// Each node's invalidation stream: `fresh`, `stale` (further behind
    /// than the lag allows: nothing is served) or `closed`.
    pub streams: HashMap<String, &'static str>,
}

impl NearCache {
    /// A near cache of at most `max_bytes` (0 turns it off) over data
    /// nodes reached as `dial` says (its timeout and credentials), serving while
    /// its streams are at most `max_lag` behind.
    pub fn new(
        max_bytes: usize,
        dial: Dial,
        max_lag: Duration,
        metrics: Arc<Metrics>,
    ) -> NearCache {
        NearCache {
            store: Store::new(max_bytes, weigh, metrics.near_clears.clone()),
            streams: RwLock::new(HashMap::new()),
            max_bytes,
            dial,
            max_lag,
            metrics,
        }
    }

    fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The key's value, if it may be served from here.
    pub fn get(&self, key: &str, nodes: &NodeTable, epoch: u64) -> Option<Found> {
        if !self.enabled() {
            return None;
        }
        let entry = self.store.get(key, expired)?;
        if entry.epoch != epoch {
            self.store.remove_key(key);
            return None;
        }
        if !self.drain_all(nodes, &entry.node) {
            return None;
        }
        let entry = self.store.get(key, expired)?;
        Some(Found {
            source: Source::Near,
            node: entry.node,
            json: entry.json,
            version: entry.version,
            ttl_ms: entry
                .expires_at
                .map(|t| t.saturating_duration_since(Instant::now()).as_millis() as u64),
        })
    }

    /// Reserves `key` before a read whose answer may fill the cache: an
    /// invalidation that arrives before [`NearCache::fill`] cancels it.
    /// Invalidations already delivered (a write just acknowledged) are
    /// applied first, so they cannot cancel the read that follows them.
    pub fn reserve(&self, key: &str) -> ValueReservation {
        if !self.enabled() {
            return ValueReservation(None);
        }
        for stream in self.read_streams().values() {
            self.drain(stream);
        }
        ValueReservation(Some(self.store.reserve(key)))
    }

    /// Keeps `found`, read under `reservation` at rejoin `epoch` through the
    /// key's replica set, if its node's stream is fresh and nothing
    /// invalidated the key meanwhile.
    pub fn fill(
        &self,
        key: &str,
        reservation: ValueReservation,
        found: &Found,
        nodes: &NodeTable,
        epoch: u64,
    ) {
        let ValueReservation(Some(ticket)) = reservation else {
            return;
        };
        if !self.drain_all(nodes, &found.node) {
            return;
        }
        let entry = Entry {
            node: found.node.clone(),
            json: found.json.clone(),
            version: found.version.clone(),
            expires_at: found
                .ttl_ms
                .map(|ms| ticket.taken_at + Duration::from_millis(ms)),
            epoch,
        };
        self.store.fill(key, ticket, entry);
    }

    /// Drops `key`: this balancer is about to change it, or just did.
    pub fn invalidate(&self, key: &str) {
        if self.enabled() {
            self.store.remove_key(key);
        }
    }

    /// Applies what every stream has delivered; then says whether a value
    /// read from `source` may be served: `source` is up, and every node
    /// that is up has a fresh stream (a write acknowledged anywhere reached
    /// at least one up node, whose stream has told this cache unless the
    /// write is younger than the lag).
    fn drain_all(&self, nodes: &NodeTable, source: &str) -> bool {
        let streams = self.read_streams();
        let mut servable = nodes.by_id(source).is_some_and(|n| n.is_up());
        for node in nodes.all() {
            let fresh = streams
                .get(&node.id)
                .is_some_and(|stream| self.drain(stream).fresh);
            servable &= fresh || !node.is_up();
        }
        servable
    }

    fn drain(&self, stream: &Stream) -> Drained {
        let drained = stream.drain(&self.store);
        self.metrics
            .near_invalidations
            .inc_by(drained.invalidations);
        drained
    }

    /// Keeps one invalidation stream open to every node of the current
    /// table until `shutdown`.
    pub async fn run(self: Arc<Self>, nodes: Arc<Membership>, shutdown: watch::Receiver<bool>) {
        if !self.enabled() {
            return;
        }
        let mut tasks: HashMap<Arc<str>, JoinHandle<()>> = HashMap::new();
        let mut stop = shutdown.clone();
        loop {
            self.follow(&nodes.current(), &mut tasks, &shutdown);
            tokio::select! {
                _ = tokio::time::sleep(self.dial.timeout) => {}
                _ = stop.changed() => break,
            }
        }
        for (_, task) in tasks {
            let _ = task.await;
        }
    }

    /// Opens a stream to every node that lacks one, and stops those of
    /// nodes that left the table.
    fn follow(
        self: &Arc<Self>,
        table: &NodeTable,
        tasks: &mut HashMap<Arc<str>, JoinHandle<()>>,
        shutdown: &watch::Receiver<bool>,
    ) {
        let mut streams = self.streams.write().unwrap_or_else(|e| e.into_inner());
        let left: Vec<Arc<str>> = streams
            .iter()
            .filter(|(id, t)| table.by_id(id).is_none_or(|n| n.backend.addr() != t.addr()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in left {
            streams.remove(&id);
            if let Some(task) = tasks.remove(&id) {
                task.abort();
            }
        }
        for node in table.all() {
            if streams.contains_key(&node.id) {
                continue;
            }
            let addr = node.backend.addr();
            let stream = Arc::new(Stream::new(addr, "", &self.dial, self.max_lag));
            streams.insert(node.id.clone(), stream.clone());
            let (near, shutdown) = (self.clone(), shutdown.clone());
            let task = tokio::spawn(async move { stream.run(&near.store, shutdown).await });
            tasks.insert(node.id.clone(), task);
        }
    }

    /// Copies the cache's size into its gauges.
    pub fn record_size(&self) {
        let (entries, bytes) = self.store.size();
        self.metrics.record_near_cache(entries, bytes);
    }

    /// The cache's size and streams, for `GET /nodes`.
    pub fn view(&self) -> NearView {
        let (entries, bytes) = self.store.size();
        NearView {
            max_bytes: self.max_bytes,
            bytes,
            entries,
            streams: self
                .read_streams()
                .iter()
                .map(|(id, t)| (id.to_string(), t.state()))
                .collect(),
        }
    }

    fn read_streams(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<Stream>>> {
        self.streams.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// What an entry weighs against the byte budget; a reservation weighs
/// its key and the overhead.
fn weigh(key: &str, entry: Option<&Entry>) -> usize {
    ENTRY_OVERHEAD + key.len() + entry.map_or(0, |e| e.json.len() + e.version.len())
}

fn expired(entry: &Entry) -> bool {
    entry.expires_at.is_some_and(|t| t <= Instant::now())
}
