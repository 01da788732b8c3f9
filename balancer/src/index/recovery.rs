//! The index after data loss. An index Redis that restarts without
//! persistence, or is flushed, comes back empty (a `FLUSHALL` keeps its
//! `run_id`), and then a missing entry no longer means a new key: copies
//! may sit on any node (substitutes, overflow placements), outside the
//! candidates the hashing fallback asks.
//!
//! So the index is only trusted to be *complete* while it holds
//! [`COMPLETE_MARKER`], which a finished rebuild sets. Every lookup and
//! claim reads the marker with the entry, in the same command, so a
//! balancer notices a loss on its next request, not after a polling
//! interval; until the marker is back, a missing entry means "ask every
//! node". The rebuild (`background/rebuild.rs`) scans the nodes and
//! *adopts* each copy it finds into the key's entry with [`Index::adopt`],
//! under a lock ([`REBUILD_LOCK`]) so one balancer does it while the
//! others wait for the marker. A flush during the rebuild takes the lock
//! with it, so the marker is never set over an index emptied meanwhile.

use std::sync::LazyLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::Script;

use super::{Index, IndexError, entry_key, split_set};

/// Set by a finished rebuild; its absence means the index may have lost
/// entries. Outside the `loc:` prefix, so no walk of entries sees it.
pub const COMPLETE_MARKER: &str = "dlb:index:complete";

/// Held (with a time limit, renewed) by the balancer that rebuilds.
pub const REBUILD_LOCK: &str = "dlb:index:rebuild";

/// Grace, in ms, by which an adopted entry outlives the copy it names.
const ADOPT_GRACE_MS: u64 = 1000;

/// Adds the ids in ARGV[1] (comma separated) that the entry lacks, or
/// creates it with them; ARGV[2] is the TTL in ms of the copies they hold
/// (0 for none). An entry that gains members lives at least that long, so
/// it never expires before a copy it names. Returns `{set, 0 created, 1
/// nothing added, 2 members added}`.
pub(super) const ADOPT_LUA: &str = r"
        local current = redis.call('GET', KEYS[1])
        local ttl = tonumber(ARGV[2])
        if not current then
            redis.call('SET', KEYS[1], ARGV[1])
            if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
            return {ARGV[1], 0}
        end
        local seen, set, added = {}, current, 0
        for id in string.gmatch(current, '[^,]+') do seen[id] = true end
        for id in string.gmatch(ARGV[1], '[^,]+') do
            if not seen[id] then
                seen[id] = true
                set = set .. ',' .. id
                added = 1
            end
        end
        if added == 0 then return {set, 1} end
        redis.call('SET', KEYS[1], set, 'KEEPTTL')
        local left = redis.call('PTTL', KEYS[1])
        if ttl == 0 then
            redis.call('PERSIST', KEYS[1])
        elseif left >= 0 and left < ttl then
            redis.call('PEXPIRE', KEYS[1], ttl)
        end
        return {set, 2}
        ";
static ADOPT: LazyLock<Script> = LazyLock::new(|| Script::new(ADOPT_LUA));

/// Extends the lock KEYS[1] by ARGV[2] ms if ARGV[1] still holds it.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        ",
    )
});

/// If ARGV[1] still holds the lock KEYS[1] (no flush took it), sets the
/// marker KEYS[2] and lets the lock go; returns 1 if it did.
static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('SET', KEYS[2], ARGV[1])
            redis.call('DEL', KEYS[1])
            return 1
        end
        return 0
        ",
    )
});

/// What adopting a copy did to its key's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopted {
    /// There was no entry; it now names the copy's node.
    Created,
    /// The entry already named the node.
    Present,
    /// The entry named other nodes and now names this one too: their
    /// copies and this one may differ, so the key needs a repair.
    Added,
}

impl Adopted {
    fn from_code(code: i64) -> Adopted {
        match code {
            0 => Adopted::Created,
            1 => Adopted::Present,
            _ => Adopted::Added,
        }
    }
}

/// The TTL argument for copies that expire in `ttl_ms` (`None`: never).
pub(super) fn adopt_ttl(ttl_ms: Option<u64>) -> u64 {
    ttl_ms.map_or(0, |ms| ms + ADOPT_GRACE_MS)
}

impl Index {
    /// Whether the index held its completeness marker when last asked: a
    /// missing entry then means the key is on none of the nodes outside
    /// its hashing candidates.
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Relaxed)
    }

    /// Records what the index said about its marker.
    pub(super) fn saw_marker(&self, present: bool) {
        let was = self.complete.swap(present, Ordering::Relaxed);
        if was && !present {
            tracing::warn!(
                "the index lost its data: keys it lacks are looked for on every node until it is rebuilt"
            );
        } else if !was && present {
            tracing::info!("the index is complete");
        }
    }

    /// Asks the index whether it holds its completeness marker.
    pub async fn check_marker(&self) -> Result<bool, IndexError> {
        let cmd = redis::cmd("EXISTS").arg(COMPLETE_MARKER).clone();
        let present: i64 = self.guarded(self.backend.cmd(&cmd)).await?;
        self.saw_marker(present == 1);
        Ok(present == 1)
    }

    /// Takes the rebuild lock for `owner` for `ttl`, unless another holds
    /// it; returns whether it was taken.
    pub async fn lock_rebuild(&self, owner: &str, ttl: Duration) -> Result<bool, IndexError> {
        let cmd = redis::cmd("SET")
            .arg(REBUILD_LOCK)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .clone();
        let taken: Option<String> = self.guarded(self.backend.cmd(&cmd)).await?;
        Ok(taken.is_some())
    }

    /// Extends `owner`'s lock by `ttl`; false when it is no longer held
    /// (it expired, or a flush took it).
    pub async fn renew_rebuild(&self, owner: &str, ttl: Duration) -> Result<bool, IndexError> {
        let mut call = RENEW.key(REBUILD_LOCK);
        call.arg(owner).arg(ttl.as_millis() as u64);
        let renewed: i64 = self.guarded(self.backend.script(&call)).await?;
        Ok(renewed == 1)
    }

    /// Sets the marker and lets the lock go, if `owner` still holds it;
    /// returns whether it did.
    pub async fn finish_rebuild(&self, owner: &str) -> Result<bool, IndexError> {
        let mut call = FINISH.key(REBUILD_LOCK);
        call.key(COMPLETE_MARKER).arg(owner);
        let done: i64 = self.guarded(self.backend.script(&call)).await?;
        if done == 1 {
            self.saw_marker(true);
        }
        Ok(done == 1)
    }

    /// Adds `members` to the key's replica set (creating the entry if it
    /// has none), for copies that expire in `ttl_ms`; returns the set.
    pub async fn adopt(
        &self,
        key: &str,
        members: &[&str],
        ttl_ms: Option<u64>,
    ) -> Result<Vec<String>, IndexError> {
        let mut call = ADOPT.key(entry_key(key));
        call.arg(members.join(",")).arg(adopt_ttl(ttl_ms));
        let (set, _): (String, i64) = self.guarded(self.backend.script(&call)).await?;
        Ok(split_set(&set))
    }

    /// Adopts `node`'s copies, each a key with the TTL of what the node
    /// holds, in one round trip; returns what each adoption did.
    pub async fn adopt_all(
        &self,
        node: &str,
        copies: &[(String, Option<u64>)],
    ) -> Result<Vec<Adopted>, IndexError> {
        if copies.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.load_script(&ADOPT).ignore();
        for (key, ttl_ms) in copies {
            let mut call = ADOPT.key(entry_key(key));
            call.arg(node).arg(adopt_ttl(*ttl_ms));
            pipe.invoke_script(&call);
        }
        let answers: Vec<(String, i64)> = self.guarded(self.backend.pipe(&pipe)).await?;
        Ok(answers
            .into_iter()
            .map(|(_, code)| Adopted::from_code(code))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adopted_entries_outlive_their_copies() {
        assert_eq!(adopt_ttl(None), 0, "no TTL");
        assert_eq!(adopt_ttl(Some(0)), ADOPT_GRACE_MS);
        assert_eq!(adopt_ttl(Some(5000)), 5000 + ADOPT_GRACE_MS);
    }

    #[test]
    fn adoption_codes() {
        assert_eq!(Adopted::from_code(0), Adopted::Created);
        assert_eq!(Adopted::from_code(1), Adopted::Present);
        assert_eq!(Adopted::from_code(2), Adopted::Added);
    }
}
