//! The in-process key-location cache: a bounded LRU in front of the index
//! Redis, kept true by the index itself. The index pushes the name of
//! every `loc:` entry that changes (a claim, a replica swap, an expiry, a
//! delete) on an invalidation stream ([`crate::tracking`]), and the entry
//! is dropped here before the next read uses it. So when one balancer
//! moves a key's replicas away from a node that kept an older copy,
//! another balancer's cached location cannot send a read to that copy.
//!
//! It holds only sets the index holds (read from it, or recorded in it by
//! a write): a set the fallback chose while the index was down would never
//! be invalidated. An entry is used only while the stream is open and at
//! most its `max_lag` behind the index (`near_cache_max_lag_ms`, capped at
//! half the index timeout; see [`crate::tracking::stream`]), so a location
//! a read uses lags a change made elsewhere by at most that; while the
//! index is down, or its stream is further behind, nothing cached here is
//! used. Each entry also carries the node table's rejoin epoch: once a
//! node comes back, entries taken before may name a copy that has gone
//! stale, so they are skipped (see `NodeTable::rejoin_epoch`).
//!
//! **Writes** use it too, with a stronger check than reads. A write must
//! reach the set the index holds *when it is sent*, as the index's claim
//! would tell it; a cached set may lag by `max_lag`. So a write *leases*
//! a [`Location::writable`] entry ([`LocationCache::lease`]: the entry is
//! swapped for a reservation, which any invalidation of the key removes)
//! and then *confirms* it ([`LocationCache::confirm`]): it waits for a
//! fence on the index's stream ([`crate::tracking::stream`]), which proves
//! every change the index made before the lease applied here. If the
//! reservation survived, the index held the set at a moment after the
//! lease, as a claim made then would have shown, and the write goes there
//! without a claim. Otherwise it claims as a new key does.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::backend::Dial;
use crate::index::ENTRY_PREFIX;
use crate::tracking::Sink;
use crate::tracking::store::{Store, Ticket};
use crate::tracking::stream::Stream;

/// A cached location: the nodes that hold a key, and when the key expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The ids of the key's replicas, primary first.
    pub nodes: Arc<[Arc<str>]>,
    /// The node table's rejoin epoch when this was recorded.
    pub epoch: u64,
    /// When the key's TTL runs out, if it has one.
    pub expires_at: Option<Instant>,
    /// A write may go to these nodes without a claim, once confirmed: they
    /// are the entry's whole set, and the entry lasts (no TTL), as this
    /// balancer's own claim or confirmed write left it. A read sees the
    /// value's TTL, not the entry's, so what it records is never writable.
    pub writable: bool,
}

/// A bounded, thread-safe LRU of key locations, invalidated by the index.
#[derive(Debug)]
pub struct LocationCache {
    store: Store<Location>,
    stream: Stream,
}

/// A read's claim to record a location; see [`LocationCache::reserve`].
#[derive(Debug)]
pub struct LocationReservation(Ticket);

/// Turns the index's `loc:<key>` invalidations into cache keys.
struct IndexSink<'a>(&'a Store<Location>);

impl LocationCache {
    /// A cache of at most `capacity` keys in front of the index at
    /// `index_addr`, reached as `dial` says, used while
    /// at most `max_lag` behind the index; counts its clears in `clears`.
    pub fn new(
        capacity: NonZeroUsize,
        index_addr: &str,
        dial: &Dial,
        max_lag: Duration,
        clears: IntCounter,
    ) -> LocationCache {
        LocationCache {
            store: Store::new(capacity.get(), |_, _| 1, clears),
            stream: Stream::new(index_addr, ENTRY_PREFIX, dial, max_lag),
        }
    }

    /// The key's location, unless absent, expired, or not known to be
    /// current.
    pub fn get(&self, key: &str) -> Option<Location> {
        self.store.get(key, expired)?;
        if !self.stream.drain(&IndexSink(&self.store)).fresh {
            return None;
        }
        self.store.get(key, expired)
    }

    /// Whether the cache holds a location for `key`, current or not: a
    /// hint (a write's "most likely an overwrite"), never an answer.
    pub fn knows(&self, key: &str) -> bool {
        self.store.get(key, expired).is_some()
    }

    /// Takes the key's location for a write, leaving a reservation in its
    /// place, if the stream is current and the entry is `usable`; the
    /// write then [`confirm`](LocationCache::confirm)s it.
    pub fn lease(
        &self,
        key: &str,
        usable: impl Fn(&Location) -> bool,
    ) -> Option<(Location, LocationReservation)> {
        if !self.stream.drain(&IndexSink(&self.store)).fresh {
            return None;
        }
        let (location, ticket) = self.store.take(key, |l| !expired(l) && usable(l))?;
        Some((location, LocationReservation(ticket)))
    }

    /// Whether the index still held the leased location at a moment after
    /// the lease: waits for the stream to pass that moment (a fence), then
    /// checks that no invalidation of the key came since.
    pub async fn confirm(&self, key: &str, reservation: &LocationReservation) -> bool {
        let ticket = reservation.0;
        self.store.holds(key, ticket)
            && self.stream.fence(ticket.taken_at).await
            && self.store.holds(key, ticket)
    }

    /// Reserves `key` before asking the index: a change to its entry that
    /// arrives before [`LocationCache::record`] cancels the record.
    pub fn reserve(&self, key: &str) -> LocationReservation {
        self.stream.drain(&IndexSink(&self.store));
        LocationReservation(self.store.reserve(key))
    }

    /// Records where a key lives, if nothing changed its index entry since
    /// `reservation` and the stream is current.
    pub fn record(&self, key: &str, reservation: LocationReservation, location: Location) {
        if self.stream.drain(&IndexSink(&self.store)).fresh {
            self.store.fill(key, reservation.0, location);
        }
    }

    /// Forgets a key.
    pub fn remove(&self, key: &str) {
        self.store.remove_key(key);
    }

    /// The index stream's state: `fresh`, `stale` or `closed`.
    pub fn stream_state(&self) -> &'static str {
        self.stream.state()
    }

    /// Keeps the index stream open until `shutdown`.
    pub async fn run(&self, shutdown: watch::Receiver<bool>) {
        self.stream.run(&IndexSink(&self.store), shutdown).await;
    }
}

impl Sink for IndexSink<'_> {
    fn invalidate(&self, entry: &[u8]) {
        if let Some(key) = entry.strip_prefix(ENTRY_PREFIX.as_bytes()) {
            self.0.invalidate(key);
        }
    }

    fn clear(&self) {
        self.0.clear();
    }
}

fn expired(location: &Location) -> bool {
    location.expires_at.is_some_and(|t| t <= Instant::now())
}
