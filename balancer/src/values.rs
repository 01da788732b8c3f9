//! Values on a data node: each key is stored under its own name as its JSON
//! text, with the Redis TTL as the key's TTL, so `redis-cli GET key` on a
//! node shows what the API returns. Each operation is one round trip.

use std::sync::LazyLock;

use redis::Script;

use crate::backend::{Backend, BackendError};

/// Writes the value and its TTL in one atomic step and says whether the key
/// existed. ARGV: value, TTL in seconds (0 for none).
static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local existed = redis.call('EXISTS', KEYS[1])
        local ttl = tonumber(ARGV[2])
        if ttl > 0 then
            redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
        else
            redis.call('SET', KEYS[1], ARGV[1])
        end
        return existed
        ",
    )
});

/// A value read from a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    /// The JSON text as written.
    pub json: Vec<u8>,
    /// Remaining seconds, or `None` when the key does not expire.
    pub ttl: Option<u64>,
}

/// Stores `json` under `key`; returns whether the key was already there.
pub async fn write(
    node: &Backend,
    key: &str,
    json: &str,
    ttl: Option<u64>,
) -> Result<bool, BackendError> {
    let mut call = WRITE.key(key);
    call.arg(json).arg(ttl.unwrap_or(0));
    let existed: i64 = node.script(&call).await?;
    Ok(existed == 1)
}

/// Reads the value and its remaining TTL in one round trip.
pub async fn read(node: &Backend, key: &str) -> Result<Option<StoredValue>, BackendError> {
    let mut pipe = redis::pipe();
    pipe.get(key).ttl(key);
    let (json, ttl): (Option<Vec<u8>>, i64) = node.pipe(&pipe).await?;
    Ok(json.map(|json| StoredValue {
        json,
        ttl: u64::try_from(ttl).ok(),
    }))
}

/// Deletes the key; returns whether it was there.
pub async fn remove(node: &Backend, key: &str) -> Result<bool, BackendError> {
    let removed: i64 = node.cmd(redis::cmd("DEL").arg(key)).await?;
    Ok(removed > 0)
}
