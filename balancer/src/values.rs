//! Values on a data node, each a version stamped by the writer's clock
//! ([`crate::hlc`]). A key is a Redis hash under the key's own name:
//! field `v` holds the JSON text as written, field `t` the timestamp, and
//! the Redis TTL is the key's TTL. `redis-cli HGET key v` on a node shows
//! what the API returns.
//!
//! A delete is a write too: a *tombstone*, the hash with `t` and no `v`,
//! kept for a short TTL so that a late write older than the delete cannot
//! bring the key back. Every write goes through one Lua script that
//! applies it only if its timestamp is newer than the node's: that is
//! last-writer-wins, atomic on each node. Each operation is one round trip.

use std::sync::LazyLock;

use redis::Script;

use crate::backend::{Backend, BackendError};

mod fenced;

pub use fenced::{apply_fenced, drop_if_at_fenced, raise_fence};

/// Applies a version if it is newer than the node's. KEYS[1]: the key.
/// ARGV: timestamp, TTL in ms (0 for none), the node time from which the
/// timestamp is within the drift bound ([`crate::hlc::drift_floor`]),
/// then the JSON value, absent (or empty) for a tombstone, then, for a TTL
/// change only, the written version it changes: the change is applied
/// only over that version or a change of it, live. Returns `{applied, 1
/// if a live value was there, the timestamp the node now holds}`.
/// Anything under the key that is not a versioned hash (written around the
/// balancer) counts as older. A timestamp more than the bound ahead of the
/// node's own clock (`TIME`) is refused with a `CLOCKAHEAD` error, so a
/// balancer with a fast clock cannot win every later write (see
/// [`crate::hlc`]).
///
/// Every `redis.call` costs a node 4,000 to 6,000 instructions, so the
/// usual write makes four: `TIME`, `HGET` (an error for a key that is not
/// a hash, which `pcall` turns into "foreign"), `HSET`, and `PEXPIRE` or
/// `PERSIST`. Whether a live value was there is read from what `HSET`
/// added (the `t` field exists exactly when `HGET` found a stamp), and
/// asked with `HEXISTS` only on the rarer paths: a lost write, a delete, a
/// TTL change (BENCHMARKS.md, "The allocator and the last-writer-wins
/// script").
// A live write's first write command is HSET (after a DEL only when the
// key holds another type), so a full node refuses it (OOM) before
// anything changes; a tombstone starts with DEL, which Redis allows when
// full, so deletes still work on a full node.
const APPLY_LUA: &str = r"
        local now = redis.call('TIME')
        if ARGV[3] > now[1] then
            local past = tonumber(string.sub(ARGV[3], 1, 10)) * 1000
                + tonumber(string.sub(ARGV[3], 12))
                - (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
            if past > 0 then
                return redis.error_reply('CLOCKAHEAD write stamped ' .. past
                    .. ' ms beyond the drift bound ahead of this node')
            end
        end
        local current = redis.pcall('HGET', KEYS[1], 't')
        local foreign = type(current) == 'table'
        if foreign then current = false end
        if current and current >= ARGV[1] then
            return {0, redis.call('HEXISTS', KEYS[1], 'v'), current}
        end
        local value = ARGV[4] and ARGV[4] ~= ''
        local live
        if ARGV[5] or not value then
            live = foreign and 0 or redis.call('HEXISTS', KEYS[1], 'v')
            if ARGV[5] and not (live == 1 and current and (current == ARGV[5]
                    or string.sub(current, 1, #ARGV[5] + 1) == ARGV[5] .. '!')) then
                return {0, live, current or ''}
            end
        end
        if value then
            if foreign then redis.call('DEL', KEYS[1]) end
            local added = redis.call('HSET', KEYS[1], 't', ARGV[1], 'v', ARGV[4])
            live = (current and 1 or 2) - added
        else
            redis.call('DEL', KEYS[1])
            redis.call('HSET', KEYS[1], 't', ARGV[1])
        end
        local ttl = tonumber(ARGV[2])
        if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
        return {1, live, ARGV[1]}
        ";
static APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(APPLY_LUA));

/// Deletes the key only if it still holds timestamp ARGV[1].
const DROP_IF_AT_LUA: &str = r"
        if redis.call('TYPE', KEYS[1]).ok == 'hash'
            and redis.call('HGET', KEYS[1], 't') == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        ";
static DROP_IF_AT: LazyLock<Script> = LazyLock::new(|| Script::new(DROP_IF_AT_LUA));

/// Deletes the key only if it holds a timestamp not newer than ARGV[1].
static DROP_UNLESS_NEWER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('TYPE', KEYS[1]).ok == 'hash' then
            local current = redis.call('HGET', KEYS[1], 't')
            if current and current <= ARGV[1] then
                return redis.call('DEL', KEYS[1])
            end
        end
        return 0
        ",
    )
});

/// One version of a key as a node holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The JSON text, or `None` for a tombstone.
    pub json: Option<Vec<u8>>,
    /// The writer's timestamp; versions order by it.
    pub timestamp: String,
    /// Remaining milliseconds, or `None` when the key does not expire.
    pub ttl_ms: Option<u64>,
}

impl Version {
    /// A live value, as opposed to a tombstone.
    pub fn is_live(&self) -> bool {
        self.json.is_some()
    }
}

/// What a node did with a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The write was newer and is now what the node holds.
    pub applied: bool,
    /// A live value was there before.
    pub existed: bool,
    /// The timestamp the node holds now (a newer one when not applied).
    pub timestamp: String,
}

/// Writes `version` to the node unless the node holds a newer one, or the
/// version is stamped more than `max_drift_ms` ahead of the node's clock
/// ([`BackendError::ClockAhead`]).
pub async fn apply(
    node: &Backend,
    key: &str,
    version: &Version,
    max_drift_ms: u64,
) -> Result<Applied, BackendError> {
    let mut call = APPLY.key(key);
    apply_args(&mut call, version, max_drift_ms);
    let answer = node.script(&call).await?;
    Ok(Applied::from_reply(answer))
}

/// Writes `version`, a TTL change (or a delete by one: a tombstone)
/// stamped [`crate::hlc::Clock::just_after`] a version of the write
/// stamped `written`, only where the node holds that write live, as
/// written or as changed before: a node that holds a later write, a
/// tombstone, or nothing (the key expired there, or it missed the write)
/// keeps what it holds, and the answer says so (not applied, with the
/// node's timestamp, empty when it holds none). So a change never brings
/// back a key that expired or was deleted, and of two changes of one
/// write each node keeps the later.
pub async fn apply_over(
    node: &Backend,
    key: &str,
    version: &Version,
    written: &str,
    max_drift_ms: u64,
) -> Result<Applied, BackendError> {
    let mut call = APPLY.key(key);
    apply_args(&mut call, version, max_drift_ms);
    if !version.is_live() {
        call.arg("");
    }
    call.arg(written);
    let answer = node.script(&call).await?;
    Ok(Applied::from_reply(answer))
}

/// The arguments of [`APPLY_LUA`] for `version`.
fn apply_args(call: &mut redis::ScriptInvocation<'_>, version: &Version, max_drift_ms: u64) {
    // 0 means "no TTL" to the script: a value read a moment before it
    // expires (PTTL 0) is copied with the shortest TTL instead.
    call.arg(&version.timestamp)
        .arg(version.ttl_ms.map_or(0, |ms| ms.max(1)))
        .arg(crate::hlc::drift_floor(&version.timestamp, max_drift_ms));
    if let Some(json) = &version.json {
        call.arg(json);
    }
}

impl Applied {
    /// What [`APPLY_LUA`]'s answer says.
    fn from_reply((applied, existed, timestamp): (i64, i64, String)) -> Applied {
        Applied {
            applied: applied == 1,
            existed: existed == 1,
            timestamp,
        }
    }
}

/// Reads the key's version (a tombstone included) in one round trip;
/// `None` when the node holds nothing under it.
pub async fn read(node: &Backend, key: &str) -> Result<Option<Version>, BackendError> {
    let mut pipe = redis::pipe();
    pipe.cmd("HMGET").arg(key).arg("v").arg("t").pttl(key);
    let ((json, timestamp), pttl): ((Option<Vec<u8>>, Option<String>), i64) =
        node.pipe(&pipe).await?;
    Ok(version_from(json, timestamp, pttl))
}

/// What a read's two answers make. The pipeline is not atomic: a key that
/// expired (or was deleted) between `HMGET` and `PTTL` answers `PTTL` with
/// -2, and is gone, not a value without a TTL (which a repair would then
/// copy back for good). -1 is a key without a TTL.
fn version_from(json: Option<Vec<u8>>, timestamp: Option<String>, pttl: i64) -> Option<Version> {
    if json.is_none() && timestamp.is_none() {
        return None;
    }
    let ttl_ms = match pttl {
        -2 => return None,
        -1 => None,
        ms => Some(u64::try_from(ms).unwrap_or(0)),
    };
    Some(Version {
        json,
        timestamp: timestamp.unwrap_or_default(),
        ttl_ms,
    })
}

/// Deletes the key if the node still holds `timestamp`: removes a copy
/// left behind on a node that is no longer one of the key's replicas,
/// without touching a newer write.
pub async fn drop_if_at(node: &Backend, key: &str, timestamp: &str) -> Result<bool, BackendError> {
    let mut call = DROP_IF_AT.key(key);
    call.arg(timestamp);
    let dropped: i64 = node.script(&call).await?;
    Ok(dropped == 1)
}

/// Deletes the key if the node holds a version no newer than `timestamp`:
/// removes what a replica that left the set kept, whether it missed the
/// write (an older copy) or applied it late, after it was replaced (a hung
/// node resuming with the write still in its socket): the set holds that
/// write, and a copy outside it could come back once the set's tombstones
/// expire.
pub async fn drop_unless_newer(
    node: &Backend,
    key: &str,
    timestamp: &str,
) -> Result<bool, BackendError> {
    let mut call = DROP_UNLESS_NEWER.key(key);
    call.arg(timestamp);
    let dropped: i64 = node.script(&call).await?;
    Ok(dropped == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pttl: i64) -> Option<Version> {
        version_from(Some(b"1".to_vec()), Some("t".into()), pttl)
    }

    #[test]
    fn a_key_gone_before_its_ttl_was_read_is_gone() {
        assert_eq!(read(-2), None);
    }

    #[test]
    fn a_ttl_is_kept_and_none_means_none() {
        assert_eq!(read(1500).unwrap().ttl_ms, Some(1500));
        assert_eq!(read(0).unwrap().ttl_ms, Some(0));
        assert_eq!(read(-1).unwrap().ttl_ms, None);
        assert_eq!(version_from(None, None, -2), None);
        let tombstone = version_from(None, Some("t".into()), 900).unwrap();
        assert!(!tombstone.is_live());
    }
}
