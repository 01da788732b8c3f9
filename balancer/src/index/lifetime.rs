//! An entry's life after its value's time to live changed (`EXPIRE`,
//! `PERSIST`): the entry must outlive the value, or the key is left to the
//! hashing fallback, which may not find it. Entries are only ever made to
//! live longer here, never shorter: a write racing the change may have
//! given the value a longer life (or none), and an entry that outlives
//! its value costs a few bytes until it expires (or, after a `PERSIST`
//! that lost to a write with a TTL, until the key is written or deleted
//! again).

use std::sync::LazyLock;

use redis::Script;

use super::{Index, IndexError, TTL_GRACE_SECONDS, entry_key};

/// Makes the entry KEYS[1] live at least ARGV[1] ms (0: for good), if it
/// exists; returns 1 if it does.
static OUTLIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local left = redis.call('PTTL', KEYS[1])
        if left == -2 then return 0 end
        local wanted = tonumber(ARGV[1])
        if wanted == 0 then
            redis.call('PERSIST', KEYS[1])
        elseif left >= 0 and left < wanted then
            redis.call('PEXPIRE', KEYS[1], wanted)
        end
        return 1
        ",
    )
});

impl Index {
    /// Makes the key's entry outlive a value whose time to live is now
    /// `ttl_ms` (`None`: for good); `false` when there is no entry.
    pub async fn outlive(&self, key: &str, ttl_ms: Option<u64>) -> Result<bool, IndexError> {
        let mut call = OUTLIVE.key(entry_key(key));
        call.arg(ttl_ms.map_or(0, |ms| ms + TTL_GRACE_SECONDS * 1000));
        let exists: i64 = self.guarded(self.backend.script(&call)).await?;
        Ok(exists == 1)
    }
}
