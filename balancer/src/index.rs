//! The key-location index in the index Redis: `loc:<key>` holds the key's
//! replica set, the ids of the nodes that hold it, primary first and comma
//! separated, with the key's TTL plus a second of grace so the entry never
//! expires before the value it points to.
//!
//! A new key's replica set is *claimed* with one script that keeps an
//! existing set, so two balancers racing on the same new key agree on the
//! same nodes. When a replica fails, [`Index::swap_members`] edits the set
//! in place, so the entry only lists nodes that took the latest write.
//! After a failure the index is marked down and requests skip it, so an
//! outage costs them nothing instead of a timeout each; they use the
//! hashing fallback. [`Index::watch`] pings a down index every
//! `index_retry_ms` and marks it up again when it answers.
//!
//! Whether the index is *complete* (names every copy on the nodes) is
//! kept apart, in `index/recovery.rs`: every lookup and claim reads the
//! marker a finished rebuild leaves, so an index that lost its data is
//! noticed on the next request.
//!
//! The user index (`index/users.rs`), which `GET /getAllUsers` pages
//! through, lives in the same Redis, apart from the entries.

mod fenced;
mod lifetime;
mod recovery;
mod users;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::Script;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::backend::{Backend, BackendError};
pub use recovery::{Adopted, COMPLETE_MARKER, REBUILD_LOCK};
pub use users::{USER_EXPIRY, USER_NAMES, UserPage};

/// Seconds an index entry outlives its value.
const TTL_GRACE_SECONDS: u64 = 1;

/// Returns `{replica set, 1 if this call created the entry else 0, 1 if
/// the completeness marker KEYS[2] exists else 0}`, claiming the key for
/// the set ARGV[1] if it has none, and sets the entry's TTL (ARGV[2], 0
/// for none).
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
        return {owner, created, redis.call('EXISTS', KEYS[2])}
        ",
    )
});

/// Deletes the entry only if it still holds the set ARGV[1].
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

/// Over the set ARGV[3] only: removes the ids in ARGV[1] from it and
/// appends those in ARGV[2] (both comma separated) that it lacks, keeping
/// the entry's TTL; returns `{1, new set}`. An entry holding another set
/// is left alone and returned as `{0, set}`; no entry returns false.
const SWAP_MEMBERS_LUA: &str = r"
        local current = redis.call('GET', KEYS[1])
        if not current then
            return false
        end
        if current ~= ARGV[3] then
            return {0, current}
        end
        local gone, members, seen = {}, {}, {}
        for id in string.gmatch(ARGV[1], '[^,]+') do gone[id] = true end
        for id in string.gmatch(current .. ',' .. ARGV[2], '[^,]+') do
            if not gone[id] and not seen[id] then
                seen[id] = true
                table.insert(members, id)
            end
        end
        local set = table.concat(members, ',')
        redis.call('SET', KEYS[1], set, 'KEEPTTL')
        return {1, set}
        ";
static SWAP_MEMBERS: LazyLock<Script> = LazyLock::new(|| Script::new(SWAP_MEMBERS_LUA));

/// What [`Index::swap_members`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The entry held the expected set and now holds this one.
    Done(Vec<String>),
    /// The entry holds this other set, which it keeps: another write
    /// changed it first.
    Changed(Vec<String>),
    /// The key has no entry: nothing to edit.
    Missing,
}

impl Swap {
    /// What the swap script's answer says.
    fn from_reply(found: Option<(i64, String)>) -> Swap {
        match found {
            Some((1, set)) => Swap::Done(split_set(&set)),
            Some((_, set)) => Swap::Changed(split_set(&set)),
            None => Swap::Missing,
        }
    }
}

/// The index could not be used for this request.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The index is marked down; it was not asked.
    #[error("index marked down after a failure")]
    Skipped,
    /// This call failed.
    #[error(transparent)]
    Failed(#[from] BackendError),
    /// Another write changed the key's replica set first, and one of its
    /// members could not take this write (it failed it, or is down for
    /// this balancer).
    #[error("the key's replica set changed under this write and a member of it failed")]
    Contended,
}

/// The index Redis, whether it is marked down, and whether it was
/// complete when last asked.
#[derive(Debug)]
pub struct Index {
    backend: Backend,
    down: AtomicBool,
    complete: AtomicBool,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The key's replica set, primary first.
    pub set: Vec<String>,
    /// This call created the entry: the index did not know the key.
    pub created: bool,
    /// The index was complete ([`Index::is_complete`]) when it answered.
    pub complete: bool,
}

/// The ids in a stored replica set.
fn split_set(set: &str) -> Vec<String> {
    set.split(',')
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect()
}

/// What every index entry's name starts with.
pub const ENTRY_PREFIX: &str = "loc:";

/// The index key for a cache key.
pub fn entry_key(key: &str) -> String {
    format!("{ENTRY_PREFIX}{key}")
}

impl Index {
    /// An index at `backend`, assumed up until a call fails, and
    /// incomplete until it shows its marker.
    pub fn new(backend: Backend) -> Index {
        Index {
            backend,
            down: AtomicBool::new(false),
            complete: AtomicBool::new(false),
        }
    }

    /// Whether requests currently skip the index.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// The replica set of `key`, primary first, if the index knows it.
    /// Reads the completeness marker in the same command.
    pub async fn lookup(&self, key: &str) -> Result<Option<Vec<String>>, IndexError> {
        let cmd = redis::cmd("MGET")
            .arg(entry_key(key))
            .arg(COMPLETE_MARKER)
            .clone();
        let (entry, marker): (Option<String>, Option<String>) =
            self.guarded(self.backend.cmd(&cmd)).await?;
        self.saw_marker(marker.is_some());
        Ok(entry.as_deref().map(split_set))
    }

    /// Claims `key` for the replica set `proposed` unless it has one;
    /// returns the set, whether this call created the entry and whether
    /// the index was complete. Sets the entry's TTL to follow the value's.
    pub async fn claim(
        &self,
        key: &str,
        proposed: &[&str],
        ttl: Option<u64>,
    ) -> Result<Claimed, IndexError> {
        let mut call = CLAIM.key(entry_key(key));
        call.key(COMPLETE_MARKER)
            .arg(proposed.join(","))
            .arg(ttl.map_or(0, |t| t + TTL_GRACE_SECONDS));
        let (set, created, complete): (String, i64, i64) =
            self.guarded(self.backend.script(&call)).await?;
        self.saw_marker(complete == 1);
        Ok(Claimed {
            set: split_set(&set),
            created: created == 1,
            complete: complete == 1,
        })
    }

    /// Undoes a claim this balancer created, when no replica took the value.
    pub async fn release(&self, key: &str, claimed: &[String]) -> Result<(), IndexError> {
        let mut call = RELEASE.key(entry_key(key));
        call.arg(claimed.join(","));
        self.guarded(self.backend.script::<i64>(&call))
            .await
            .map(drop)
    }

    /// Takes `gone` out of the key's replica set and adds `added`, if the
    /// entry still holds `expected` (the set the caller wrote to).
    pub async fn swap_members(
        &self,
        key: &str,
        expected: &[String],
        gone: &[&str],
        added: &[&str],
    ) -> Result<Swap, IndexError> {
        let mut call = SWAP_MEMBERS.key(entry_key(key));
        call.arg(gone.join(","))
            .arg(added.join(","))
            .arg(expected.join(","));
        let found: Option<(i64, String)> = self.guarded(self.backend.script(&call)).await?;
        Ok(Swap::from_reply(found))
    }

    /// After a delete: the entry lives on as long as the tombstones do, so
    /// a late write lands on the nodes that hold them.
    pub async fn expire_with_tombstone(&self, key: &str, ttl_ms: u64) -> Result<(), IndexError> {
        let cmd = redis::cmd("PEXPIRE")
            .arg(entry_key(key))
            .arg(ttl_ms)
            .clone();
        self.guarded(self.backend.cmd::<i64>(&cmd)).await.map(drop)
    }

    /// One step of a walk over every entry: up to about `count` keys with
    /// their replica sets, and the cursor for the next step (0 at the end).
    pub async fn scan(
        &self,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<(String, Vec<String>)>), IndexError> {
        let cmd = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{ENTRY_PREFIX}*"))
            .arg("COUNT")
            .arg(count)
            .clone();
        let (next, entries): (u64, Vec<String>) = self.guarded(self.backend.cmd(&cmd)).await?;
        if entries.is_empty() {
            return Ok((next, Vec::new()));
        }
        let sets: Vec<Option<String>> = self
            .guarded(self.backend.cmd(redis::cmd("MGET").arg(&entries)))
            .await?;
        let found = entries
            .into_iter()
            .zip(sets)
            .filter_map(|(entry, set)| {
                let key = entry.strip_prefix(ENTRY_PREFIX)?.to_string();
                Some((key, split_set(&set?)))
            })
            .collect();
        Ok((next, found))
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
