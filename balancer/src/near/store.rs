//! The near cache's memory: values by key in an LRU bounded by bytes.
//! Pure bookkeeping, no I/O; [`super::NearCache`] decides what may go in.
//!
//! A read that may fill the cache first *reserves* the key (a pending
//! slot with a ticket), then reads the node, then fills the slot only if
//! the ticket is still there. An invalidation that arrives in between
//! removes the slot, so a value read before a write can never be stored
//! after that write's invalidation (the placeholder scheme Redis's
//! client-side caching guide recommends).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;
use prometheus::IntCounter;
use tokio::time::Instant;

/// Bytes counted for each entry beyond its key and value: the slot, the
/// LRU links and the hash table share.
const ENTRY_OVERHEAD: usize = 96;

/// A cached value and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The node that served it; its tracker's invalidations keep it true.
    pub(crate) node: Arc<str>,
    /// The JSON text.
    pub(crate) json: Bytes,
    /// When the key's TTL runs out, if it has one.
    pub(crate) expires_at: Option<Instant>,
    /// The node table's rejoin epoch when it was read.
    pub(crate) epoch: u64,
}

/// A reservation made before a read; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    id: u64,
    /// When the read was about to be sent: TTLs count from here, so a
    /// cached value never outlives the stored one.
    pub(crate) taken_at: Instant,
}

#[derive(Debug)]
enum Slot {
    Pending(u64),
    Ready(Entry),
}

/// The bounded LRU of cached values.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// Counts every [`Store::clear`].
    clears: IntCounter,
}

#[derive(Debug)]
struct Inner {
    slots: LruCache<String, Slot>,
    bytes: usize,
    next_ticket: u64,
}

impl Store {
    /// An empty store holding at most `max_bytes`, counting its clears.
    pub(crate) fn new(max_bytes: usize, clears: IntCounter) -> Store {
        Store {
            inner: Mutex::new(Inner {
                slots: LruCache::unbounded(),
                bytes: 0,
                next_ticket: 0,
            }),
            max_bytes,
            clears,
        }
    }

    /// The key's cached value, unless absent, pending or expired.
    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        let mut inner = self.lock();
        let expired = match inner.slots.get(key)? {
            Slot::Ready(entry) if entry.expires_at.is_none_or(|t| t > Instant::now()) => {
                return Some(entry.clone());
            }
            Slot::Ready(_) => true,
            Slot::Pending(_) => false,
        };
        if expired {
            inner.remove(key);
        }
        None
    }

    /// Reserves `key` for a fill by the read about to be sent.
    pub(crate) fn reserve(&self, key: &str) -> Ticket {
        let mut inner = self.lock();
        inner.next_ticket += 1;
        let id = inner.next_ticket;
        inner.remove(key);
        inner.bytes += slot_bytes(key, 0);
        inner.slots.put(key.to_string(), Slot::Pending(id));
        self.trim(&mut inner);
        Ticket {
            id,
            taken_at: Instant::now(),
        }
    }

    /// Stores `entry` if `ticket` still holds the key's slot; returns
    /// whether it did.
    pub(crate) fn fill(&self, key: &str, ticket: Ticket, entry: Entry) -> bool {
        let mut inner = self.lock();
        match inner.slots.peek(key) {
            Some(Slot::Pending(id)) if *id == ticket.id => {}
            _ => return false,
        }
        let size = slot_bytes(key, entry.json.len());
        if size > self.max_bytes {
            inner.remove(key);
            return false;
        }
        inner.bytes += size - slot_bytes(key, 0);
        inner.slots.put(key.to_string(), Slot::Ready(entry));
        self.trim(&mut inner);
        true
    }

    /// Forgets `key`, a value or a reservation; returns whether there was
    /// one.
    pub(crate) fn invalidate(&self, key: &[u8]) -> bool {
        match std::str::from_utf8(key) {
            Ok(key) => self.lock().remove(key),
            Err(_) => false,
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.slots.clear();
        inner.bytes = 0;
        self.clears.inc();
    }

    /// `(entries, bytes)` held now, reservations included.
    pub(crate) fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.slots.len(), inner.bytes)
    }

    fn trim(&self, inner: &mut Inner) {
        while inner.bytes > self.max_bytes {
            let Some((key, slot)) = inner.slots.pop_lru() else {
                break;
            };
            inner.bytes -= slot.bytes(&key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves the LRU and its byte count consistent before
        // anything can panic; keep serving after a poisoned lock.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn remove(&mut self, key: &str) -> bool {
        match self.slots.pop(key) {
            Some(slot) => {
                self.bytes -= slot.bytes(key);
                true
            }
            None => false,
        }
    }
}

impl Slot {
    fn bytes(&self, key: &str) -> usize {
        match self {
            Slot::Pending(_) => slot_bytes(key, 0),
            Slot::Ready(entry) => slot_bytes(key, entry.json.len()),
        }
    }
}

fn slot_bytes(key: &str, value: usize) -> usize {
    ENTRY_OVERHEAD + key.len() + value
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn store(max_bytes: usize) -> Store {
        Store::new(max_bytes, IntCounter::new("clears", "clears").unwrap())
    }

    fn entry(json: &str, expires_at: Option<Instant>) -> Entry {
        Entry {
            node: Arc::from("n1"),
            json: Bytes::copy_from_slice(json.as_bytes()),
            expires_at,
            epoch: 0,
        }
    }

    #[test]
    fn a_fill_lands_only_while_its_reservation_stands() {
        let store = store(1 << 20);
        let ticket = store.reserve("k");
        assert_eq!(store.get("k"), None, "a reservation is not a value");
        assert!(store.fill("k", ticket, entry("1", None)));
        assert_eq!(store.get("k").unwrap().json, "1");

        let ticket = store.reserve("k");
        assert!(store.invalidate(b"k"));
        assert!(
            !store.fill("k", ticket, entry("old", None)),
            "an invalidation between read and fill wins"
        );
        assert_eq!(store.get("k"), None);

        let first = store.reserve("k");
        let second = store.reserve("k");
        assert!(!store.fill("k", first, entry("a", None)));
        assert!(store.fill("k", second, entry("b", None)));
        store.clear();
        assert_eq!(store.size(), (0, 0));
    }

    #[test]
    fn the_byte_budget_evicts_least_recently_used() {
        let one = slot_bytes("k0", 100);
        let store = store(one * 3);
        let value = "x".repeat(100);
        for i in 0..3 {
            let key = format!("k{i}");
            let t = store.reserve(&key);
            assert!(store.fill(&key, t, entry(&value, None)));
        }
        assert!(store.get("k0").is_some());
        let t = store.reserve("k3");
        assert!(store.fill("k3", t, entry(&value, None)));
        assert_eq!(store.get("k1"), None, "least recently used went first");
        assert!(store.get("k0").is_some());
        assert_eq!(store.size(), (3, one * 3));

        let t = store.reserve("huge");
        assert!(!store.fill("huge", t, entry(&"y".repeat(one * 4), None)));
        assert_eq!(store.get("huge"), None);
        let (_, bytes) = store.size();
        assert!(bytes <= one * 3);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_values_are_gone() {
        let store = store(1 << 20);
        let t = store.reserve("k");
        let soon = Some(Instant::now() + Duration::from_secs(2));
        assert!(store.fill("k", t, entry("1", soon)));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(store.get("k"), None);
        assert_eq!(store.size(), (0, 0));
    }
}
