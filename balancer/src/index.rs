//! The key-location index in the index Redis: `loc:<key>` holds the id of
//! the node that owns the key, with the key's TTL plus a second of grace so
//! the entry never expires before the value it points to.
//!
//! A new key's location is *claimed* with one script that keeps an existing
//! owner, so two balancers racing on the same new key agree on one node.
//! After a failure the index is skipped for `index_retry_ms`, so an index
//! outage costs each request nothing instead of a timeout; callers then use
//! the hashing fallback.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use redis::Script;
use tokio::time::Instant;

use crate::backend::{Backend, BackendError};

/// Seconds an index entry outlives its value.
const TTL_GRACE_SECONDS: u64 = 1;

/// Returns the owner, claiming the key for ARGV[1] if it has none, and sets
/// the entry's TTL (ARGV[2], 0 for none).
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local owner = redis.call('GET', KEYS[1])
        if not owner then
            owner = ARGV[1]
            redis.call('SET', KEYS[1], owner)
        end
        local ttl = tonumber(ARGV[2])
        if ttl > 0 then
            redis.call('EXPIRE', KEYS[1], ttl)
        else
            redis.call('PERSIST', KEYS[1])
        end
        return owner
        ",
    )
});

/// Deletes the entry only if it still names ARGV[1].
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        ",
    )
});

/// The index could not be used for this request.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A recent failure; the index is skipped until the retry time.
    #[error("index skipped after a recent failure")]
    Skipped,
    /// This call failed.
    #[error(transparent)]
    Failed(#[from] BackendError),
}

/// The index Redis, with a short memory of its own failures.
#[derive(Debug)]
pub struct Index {
    backend: Backend,
    retry_after: Duration,
    skip_until: Mutex<Option<Instant>>,
}

/// The index key for a cache key.
pub fn entry_key(key: &str) -> String {
    format!("loc:{key}")
}

impl Index {
    /// An index at `backend`, skipped for `retry_after` after each failure.
    pub fn new(backend: Backend, retry_after: Duration) -> Index {
        Index {
            backend,
            retry_after,
            skip_until: Mutex::new(None),
        }
    }

    /// The node that owns `key`, if the index knows it.
    pub async fn lookup(&self, key: &str) -> Result<Option<String>, IndexError> {
        let cmd = redis::cmd("GET").arg(entry_key(key)).clone();
        self.guarded(self.backend.cmd(&cmd)).await
    }

    /// Claims `key` for `node` unless it has an owner; returns the owner.
    /// Sets the entry's TTL to follow the value's.
    pub async fn claim(
        &self,
        key: &str,
        node: &str,
        ttl: Option<u64>,
    ) -> Result<String, IndexError> {
        let mut call = CLAIM.key(entry_key(key));
        call.arg(node).arg(ttl.map_or(0, |t| t + TTL_GRACE_SECONDS));
        self.guarded(self.backend.script(&call)).await
    }

    /// Undoes a claim whose value could not be written.
    pub async fn release(&self, key: &str, node: &str) -> Result<(), IndexError> {
        let mut call = RELEASE.key(entry_key(key));
        call.arg(node);
        self.guarded(self.backend.script::<i64>(&call))
            .await
            .map(drop)
    }

    /// Removes the entry.
    pub async fn forget(&self, key: &str) -> Result<(), IndexError> {
        let cmd = redis::cmd("DEL").arg(entry_key(key)).clone();
        self.guarded(self.backend.cmd::<i64>(&cmd)).await.map(drop)
    }

    /// Whether the index answers a PING now (ignores the skip window).
    pub async fn ping(&self) -> Result<(), BackendError> {
        let result = self
            .backend
            .cmd::<String>(&redis::cmd("PING"))
            .await
            .map(drop);
        if result.is_ok() {
            *self.lock() = None;
        }
        result
    }

    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, IndexError> {
        if self.lock().is_some_and(|until| Instant::now() < until) {
            return Err(IndexError::Skipped);
        }
        match call.await {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_unreachable() {
                    tracing::warn!(error = %e, "index unavailable, using the hashing fallback");
                    *self.lock() = Some(Instant::now() + self.retry_after);
                }
                Err(IndexError::Failed(e))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.skip_until.lock().unwrap_or_else(|e| e.into_inner())
    }
}
