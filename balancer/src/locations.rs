//! The in-process key-location cache: a bounded LRU in front of the index
//! Redis. It serves reads only; writes always ask the index, which is the
//! authority, so a stale entry here can cost a read one extra lookup but
//! never sends a write to the wrong node. Each entry carries the node
//! table's rejoin epoch: once a node comes back, entries taken before may
//! name a copy that another balancer has since moved away from, so reads
//! skip them (see `NodeTable::rejoin_epoch`).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use tokio::time::Instant;

/// A cached location: the nodes that hold a key, and when the key expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The ids of the key's replicas, primary first.
    pub nodes: Arc<[Arc<str>]>,
    /// The node table's rejoin epoch when this was recorded.
    pub epoch: u64,
    /// When the key's TTL runs out, if it has one.
    pub expires_at: Option<Instant>,
}

/// A bounded, thread-safe LRU of key locations.
#[derive(Debug)]
pub struct LocationCache {
    entries: Mutex<LruCache<String, Location>>,
}

impl LocationCache {
    /// A cache holding at most `capacity` keys.
    pub fn new(capacity: NonZeroUsize) -> LocationCache {
        LocationCache {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The key's location, unless absent or expired.
    pub fn get(&self, key: &str) -> Option<Location> {
        let mut entries = self.lock();
        let loc = entries.get(key)?;
        if loc.expires_at.is_some_and(|t| t <= Instant::now()) {
            entries.pop(key);
            return None;
        }
        Some(loc.clone())
    }

    /// Records where a key lives.
    pub fn put(&self, key: &str, location: Location) {
        self.lock().put(key.to_string(), location);
    }

    /// Forgets a key.
    pub fn remove(&self, key: &str) {
        self.lock().pop(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Location>> {
        // A panic while holding the lock cannot leave an LRU half-updated in a
        // way that matters here: entries are hints. Keep serving.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(node: &str, expires_at: Option<Instant>) -> Location {
        Location {
            nodes: vec![Arc::from(node)].into(),
            epoch: 0,
            expires_at,
        }
    }

    #[test]
    fn evicts_least_recently_used() {
        let c = LocationCache::new(NonZeroUsize::new(2).unwrap());
        c.put("a", at("n1", None));
        c.put("b", at("n2", None));
        assert!(c.get("a").is_some());
        c.put("c", at("n3", None));
        assert!(c.get("b").is_none());
        assert_eq!(&*c.get("a").unwrap().nodes[0], "n1");
        c.remove("a");
        assert!(c.get("a").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_gone() {
        let c = LocationCache::new(NonZeroUsize::new(4).unwrap());
        c.put("k", at("n1", Some(Instant::now() + Duration::from_secs(5))));
        assert!(c.get("k").is_some());
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(c.get("k").is_none());
    }
}
