//! An entry's lifetime when its key's time to live changes without a
//! write (`EXPIRE`, `PERSIST` on the RESP port): the entry must never
//! expire before the value it locates, or a lookup would fall back to the
//! key's top candidates, where a recorded set need not be.

use std::sync::LazyLock;

use redis::Script;

use super::{Index, IndexError, TTL_GRACE_SECONDS, entry_key};

/// KEYS[1]: the entry; ARGV[1]: the value's new TTL in ms, 0 for none.
/// Makes the entry last at least that long (plus the grace), or for good;
/// never shortens it. Returns 0 when there is no entry.
static OUTLIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local left = redis.call('PTTL', KEYS[1])
        if left == -2 then return 0 end
        local ttl = tonumber(ARGV[1])
        if ttl == 0 then
            redis.call('PERSIST', KEYS[1])
        elseif left ~= -1 and left < ttl then
            redis.call('PEXPIRE', KEYS[1], ttl)
        end
        return 1
        ",
    )
});

impl Index {
    /// Makes `key`'s entry outlive a value whose time to live becomes
    /// `ttl_ms` (`None`: the value no longer expires). `Ok(false)` when
    /// the index has no entry for the key.
    pub async fn outlive(&self, key: &str, ttl_ms: Option<u64>) -> Result<bool, IndexError> {
        let mut call = OUTLIVE.key(entry_key(key));
        call.arg(ttl_ms.map_or(0, |ms| ms + TTL_GRACE_SECONDS * 1000));
        let found: i64 = self.guarded(self.backend.script(&call)).await?;
        Ok(found == 1)
    }
}
