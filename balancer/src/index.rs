//! The key-location index in the index Redis: `loc:<key>` holds the id of
//! the node that owns the key, with the key's TTL plus a second of grace so
//! the entry never expires before the value it points to.
//!
//! A new key's location is *claimed* with one script that keeps an existing
//! owner, so two balancers racing on the same new key agree on one node.
//! After a failure the index is marked down and requests skip it, so an
//! outage costs them nothing instead of a timeout each; they use the
//! hashing fallback. [`Index::watch`] pings a down index every
//! `index_retry_ms` and marks it up again when it answers.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::Script;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::backend::{Backend, BackendError};

/// Seconds an index entry outlives its value.
const TTL_GRACE_SECONDS: u64 = 1;

/// Returns `{owner, 1 if this call created the entry else 0}`, claiming
/// the key for ARGV[1] if it has no owner, and sets the entry's TTL
/// (ARGV[2], 0 for none).
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local owner = redis.call('GET', KEYS[1])
        local created = 0
        if not owner then
            owner = ARGV[1]
            created = 1
            redis.call('SET', KEYS[1], owner)
        end
        local ttl = tonumber(ARGV[2])
        if ttl > 0 then
            redis.call('EXPIRE', KEYS[1], ttl)
        else
            redis.call('PERSIST', KEYS[1])
        end
        return {owner, created}
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
    /// The index is marked down; it was not asked.
    #[error("index marked down after a failure")]
    Skipped,
    /// This call failed.
    #[error(transparent)]
    Failed(#[from] BackendError),
}

/// The index Redis, and whether it is marked down.
#[derive(Debug)]
pub struct Index {
    backend: Backend,
    down: AtomicBool,
}

/// The index key for a cache key.
pub fn entry_key(key: &str) -> String {
    format!("loc:{key}")
}

impl Index {
    /// An index at `backend`, assumed up until a call fails.
    pub fn new(backend: Backend) -> Index {
        Index {
            backend,
            down: AtomicBool::new(false),
        }
    }

    /// Whether requests currently skip the index.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// The node that owns `key`, if the index knows it.
    pub async fn lookup(&self, key: &str) -> Result<Option<String>, IndexError> {
        let cmd = redis::cmd("GET").arg(entry_key(key)).clone();
        self.guarded(self.backend.cmd(&cmd)).await
    }

    /// Claims `key` for `node` unless it has an owner; returns the owner
    /// and whether this call created the entry. Sets the entry's TTL to
    /// follow the value's.
    pub async fn claim(
        &self,
        key: &str,
        node: &str,
        ttl: Option<u64>,
    ) -> Result<(String, bool), IndexError> {
        let mut call = CLAIM.key(entry_key(key));
        call.arg(node).arg(ttl.map_or(0, |t| t + TTL_GRACE_SECONDS));
        let (owner, created): (String, i64) = self.guarded(self.backend.script(&call)).await?;
        Ok((owner, created == 1))
    }

    /// Undoes a claim this balancer created, when the value could not be
    /// written.
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

    /// Whether the index answers a PING now; an answer marks it up.
    pub async fn ping(&self) -> Result<(), BackendError> {
        let result = self
            .backend
            .cmd::<String>(&redis::cmd("PING"))
            .await
            .map(drop);
        if result.is_ok() && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("index reachable again");
        }
        result
    }

    /// While the index is down, pings it every `interval` until it answers;
    /// returns when `shutdown` turns true.
    pub async fn watch(&self, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if self.is_down() {
                        let _ = self.ping().await;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, IndexError> {
        if self.is_down() {
            return Err(IndexError::Skipped);
        }
        call.await.map_err(|e| {
            if e.is_unreachable() && !self.down.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "index down, using the hashing fallback");
            }
            IndexError::Failed(e)
        })
    }
}
