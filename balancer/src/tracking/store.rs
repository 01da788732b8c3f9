//! A tracked cache's memory: an LRU with reservations, bounded by a
//! weight (bytes for values, entries for locations). Pure bookkeeping, no
//! I/O; the cache that owns it decides what may go in.
//!
//! A read that may fill the cache first *reserves* the key (a pending
//! slot with a ticket), then reads the source, then fills the slot only if
//! the ticket is still there. An invalidation that arrives in between
//! removes the slot, so a value read before a change can never be stored
//! after that change's invalidation (the placeholder scheme of Redis's
//! client-side caching guide).

use std::sync::Mutex;

use lru::LruCache;
use prometheus::IntCounter;
use tokio::time::Instant;

use super::Sink;

/// What a cached value weighs against the store's budget; `None` is a
/// reservation.
pub(crate) type Weigh<V> = fn(key: &str, value: Option<&V>) -> usize;

/// A reservation made before a read; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    id: u64,
    /// When the read was about to be sent: TTLs count from here, so a
    /// cached value never outlives the stored one.
    pub(crate) taken_at: Instant,
}

#[derive(Debug)]
enum Slot<V> {
    Pending(u64),
    Ready(V),
}

/// The bounded LRU of cached values.
#[derive(Debug)]
pub(crate) struct Store<V> {
    inner: Mutex<Inner<V>>,
    max_weight: usize,
    weigh: Weigh<V>,
    /// Counts every [`Sink::clear`].
    clears: IntCounter,
}

#[derive(Debug)]
struct Inner<V> {
    slots: LruCache<String, Slot<V>>,
    weight: usize,
    next_ticket: u64,
}

impl<V: Clone> Store<V> {
    /// An empty store weighing at most `max_weight`, counting its clears.
    pub(crate) fn new(max_weight: usize, weigh: Weigh<V>, clears: IntCounter) -> Store<V> {
        Store {
            inner: Mutex::new(Inner {
                slots: LruCache::unbounded(),
                weight: 0,
                next_ticket: 0,
            }),
            max_weight,
            weigh,
            clears,
        }
    }

    /// The key's cached value, unless absent, pending or `expired`.
    pub(crate) fn get(&self, key: &str, expired: impl Fn(&V) -> bool) -> Option<V> {
        let mut inner = self.lock();
        match inner.slots.get(key)? {
            Slot::Ready(value) if !expired(value) => return Some(value.clone()),
            Slot::Ready(_) => {}
            Slot::Pending(_) => return None,
        }
        self.remove(&mut inner, key);
        None
    }

    /// Reserves `key` for a fill by the read about to be sent.
    pub(crate) fn reserve(&self, key: &str) -> Ticket {
        let mut inner = self.lock();
        self.pend(&mut inner, key)
    }

    /// Stores `value` if `ticket` still holds the key's slot; returns
    /// whether it did.
    pub(crate) fn fill(&self, key: &str, ticket: Ticket, value: V) -> bool {
        let mut inner = self.lock();
        match inner.slots.peek(key) {
            Some(Slot::Pending(id)) if *id == ticket.id => {}
            _ => return false,
        }
        let weight = (self.weigh)(key, Some(&value));
        self.remove(&mut inner, key);
        if weight > self.max_weight {
            return false;
        }
        inner.weight += weight;
        inner.slots.put(key.to_string(), Slot::Ready(value));
        self.trim(&mut inner);
        true
    }

    /// Takes the key's cached value if `usable`, leaving a reservation in
    /// its place: a write that acts on the value can then learn, through
    /// [`Store::holds`], whether an invalidation came since.
    pub(crate) fn take(&self, key: &str, usable: impl Fn(&V) -> bool) -> Option<(V, Ticket)> {
        let mut inner = self.lock();
        let value = match inner.slots.peek(key)? {
            Slot::Ready(value) if usable(value) => value.clone(),
            _ => return None,
        };
        Some((value, self.pend(&mut inner, key)))
    }

    /// Whether `ticket` still holds the key's slot: nothing invalidated,
    /// filled or reserved the key since it was taken.
    pub(crate) fn holds(&self, key: &str, ticket: Ticket) -> bool {
        matches!(self.lock().slots.peek(key), Some(Slot::Pending(id)) if *id == ticket.id)
    }

    /// Forgets `key`, a value or a reservation.
    pub(crate) fn remove_key(&self, key: &str) {
        let mut inner = self.lock();
        self.remove(&mut inner, key);
    }

    /// `(entries, weight)` held now, reservations included.
    pub(crate) fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.slots.len(), inner.weight)
    }

    /// Puts a new reservation in the key's slot, in place of whatever
    /// was there.
    fn pend(&self, inner: &mut Inner<V>, key: &str) -> Ticket {
        inner.next_ticket += 1;
        let id = inner.next_ticket;
        self.remove(inner, key);
        inner.weight += (self.weigh)(key, None);
        inner.slots.put(key.to_string(), Slot::Pending(id));
        self.trim(inner);
        Ticket {
            id,
            taken_at: Instant::now(),
        }
    }

    fn remove(&self, inner: &mut Inner<V>, key: &str) {
        if let Some(slot) = inner.slots.pop(key) {
            inner.weight -= self.slot_weight(key, &slot);
        }
    }

    fn trim(&self, inner: &mut Inner<V>) {
        while inner.weight > self.max_weight {
            let Some((key, slot)) = inner.slots.pop_lru() else {
                break;
            };
            inner.weight -= self.slot_weight(&key, &slot);
        }
    }

    fn slot_weight(&self, key: &str, slot: &Slot<V>) -> usize {
        match slot {
            Slot::Pending(_) => (self.weigh)(key, None),
            Slot::Ready(value) => (self.weigh)(key, Some(value)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // Every update leaves the LRU and its weight consistent before
        // anything can panic; keep serving after a poisoned lock.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<V: Clone + Send> Sink for Store<V> {
    fn invalidate(&self, key: &[u8]) {
        if let Ok(key) = std::str::from_utf8(key) {
            self.remove_key(key);
        }
    }

    fn clear(&self) {
        let mut inner = self.lock();
        inner.slots.clear();
        inner.weight = 0;
        self.clears.inc();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Values weigh their length plus one; reservations one.
    fn store(max_weight: usize) -> Store<(String, Option<Instant>)> {
        Store::new(
            max_weight,
            |_, v| 1 + v.map_or(0, |(s, _)| s.len()),
            IntCounter::new("clears", "clears").unwrap(),
        )
    }

    fn get(store: &Store<(String, Option<Instant>)>, key: &str) -> Option<String> {
        store
            .get(key, |(_, at)| at.is_some_and(|t| t <= Instant::now()))
            .map(|(s, _)| s)
    }

    fn v(s: &str) -> (String, Option<Instant>) {
        (s.to_string(), None)
    }

    #[test]
    fn a_fill_lands_only_while_its_reservation_stands() {
        let store = store(1 << 20);
        let ticket = store.reserve("k");
        assert_eq!(get(&store, "k"), None, "a reservation is not a value");
        assert!(store.fill("k", ticket, v("1")));
        assert_eq!(get(&store, "k").as_deref(), Some("1"));

        let ticket = store.reserve("k");
        store.invalidate(b"k");
        assert!(
            !store.fill("k", ticket, v("old")),
            "an invalidation between read and fill wins"
        );
        assert_eq!(get(&store, "k"), None);

        let first = store.reserve("k");
        let second = store.reserve("k");
        assert!(!store.fill("k", first, v("a")));
        assert!(store.fill("k", second, v("b")));
        store.clear();
        assert_eq!(store.size(), (0, 0));
        assert_eq!(store.clears.get(), 1);
    }

    #[test]
    fn a_taken_value_leaves_a_reservation_an_invalidation_voids() {
        let store = store(1 << 20);
        assert!(store.take("k", |_| true).is_none(), "nothing cached");
        let t = store.reserve("k");
        assert!(store.fill("k", t, v("1")));
        assert!(store.take("k", |_| false).is_none(), "not usable");
        assert_eq!(get(&store, "k").as_deref(), Some("1"), "left in place");

        let (value, ticket) = store.take("k", |_| true).unwrap();
        assert_eq!(value, v("1"));
        assert_eq!(store.size(), (1, 1), "a reservation weighs one");
        assert_eq!(get(&store, "k"), None, "taken");
        assert!(store.holds("k", ticket));
        assert!(store.fill("k", ticket, v("2")), "the write records its set");
        assert!(!store.holds("k", ticket), "filled");

        let (_, ticket) = store.take("k", |_| true).unwrap();
        store.invalidate(b"k");
        assert!(!store.holds("k", ticket));
        let t = store.reserve("k");
        assert!(!store.holds("k", ticket), "another reservation");
        assert!(store.holds("k", t));
    }

    #[test]
    fn the_weight_budget_evicts_least_recently_used() {
        let store = store(3 * 101);
        let value = "x".repeat(100);
        for i in 0..3 {
            let key = format!("k{i}");
            let t = store.reserve(&key);
            assert!(store.fill(&key, t, v(&value)));
        }
        assert!(get(&store, "k0").is_some());
        let t = store.reserve("k3");
        assert!(store.fill("k3", t, v(&value)));
        assert_eq!(get(&store, "k1"), None, "least recently used went first");
        assert!(get(&store, "k0").is_some());
        assert_eq!(store.size(), (3, 3 * 101));

        let t = store.reserve("huge");
        assert!(!store.fill("huge", t, v(&"y".repeat(400))));
        assert_eq!(get(&store, "huge"), None);
        assert!(store.size().1 <= 3 * 101);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_values_are_gone() {
        let store = store(1 << 20);
        let t = store.reserve("k");
        let soon = Some(Instant::now() + Duration::from_secs(2));
        assert!(store.fill("k", t, ("1".into(), soon)));
        assert!(get(&store, "k").is_some());
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(get(&store, "k"), None);
        assert_eq!(store.size(), (0, 0));
    }
}
