//! The user index in the index Redis: which users exist, so that
//! `GET /getAllUsers` can page through them without `KEYS` and without
//! scanning a data node.
//!
//! Two sorted sets, outside the `loc:` prefix so no walk of entries sees
//! them: [`USER_NAMES`] holds every username with score 0, so it pages
//! in byte order with `ZRANGEBYLEX`; [`USER_EXPIRY`] holds the same
//! members scored by the time their record expires (ms since the epoch,
//! by the index Redis's own clock, `TIME`, so balancers' clocks do not
//! matter). Expired members are swept from both sets a bounded batch at
//! a time ([`SWEEP_ON_ADD`] by every add, [`SWEEP_ON_PAGE`] by every
//! page), so the sets stay bounded while users are written even if no one
//! lists, and no one script walks an unbounded backlog (a long script
//! stalls every client of the index Redis). The count is of the members
//! not yet expired, whatever the sweep has left.
//!
//! The sets live only in the index Redis: if it loses its data, they are
//! empty until users are written again (the index rebuild restores key
//! locations, not this).

use std::sync::LazyLock;

use redis::Script;

use super::{Index, IndexError};

/// Usernames, score 0: the lexicographic order pages follow.
pub const USER_NAMES: &str = "dlb:users:names";

/// Usernames scored by when their record expires, in ms by `TIME`.
pub const USER_EXPIRY: &str = "dlb:users:expiry";

/// Expired members an add sweeps, at most.
const SWEEP_ON_ADD: usize = 100;

/// Expired members a page sweeps, at most.
const SWEEP_ON_PAGE: usize = 1000;

/// Adds or refreshes ARGV[1] in both sets, expiring ARGV[2] ms from now,
/// after sweeping up to ARGV[3] expired members. The new entry goes in
/// first: a full index refuses that `ZADD` before anything changed.
static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZADD', KEYS[1], 0, ARGV[1])
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
        local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ARGV[3])
        if #gone > 0 then
            redis.call('ZREM', KEYS[1], unpack(gone))
            redis.call('ZREM', KEYS[2], unpack(gone))
        end
        return 1
        ",
    )
});

/// Removes ARGV[1] from both sets.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('ZREM', KEYS[1], ARGV[1])
        return redis.call('ZREM', KEYS[2], ARGV[1])
        ",
    )
});

/// Sweeps up to ARGV[3] expired members from both sets, then returns
/// `{members not expired, up to ARGV[2] usernames from ARGV[1]}` (ARGV[1]
/// is `-` for the start, or `(name` for after `name`); a page may name
/// an expired member the sweep has not reached, whose read then misses.
/// ARGV[3] stays within what Lua's `unpack` takes.
static PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ARGV[3])
        if #gone > 0 then
            redis.call('ZREM', KEYS[1], unpack(gone))
            redis.call('ZREM', KEYS[2], unpack(gone))
        end
        local count = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
        local page = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[2])
        return {count, page}
        ",
    )
});

/// One page of the user index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// Users in the index whose entry has not expired.
    pub count: u64,
    /// Up to the limit asked for, in byte order.
    pub usernames: Vec<String>,
    /// Whether more follow the last of `usernames`.
    pub more: bool,
}

impl Index {
    /// Adds `username` to the user index, or refreshes it, expiring
    /// `ttl_ms` from now.
    pub async fn add_user(&self, username: &str, ttl_ms: u64) -> Result<(), IndexError> {
        let mut call = ADD.key(USER_NAMES);
        call.key(USER_EXPIRY)
            .arg(username)
            .arg(ttl_ms)
            .arg(SWEEP_ON_ADD);
        self.guarded(self.backend.script::<i64>(&call))
            .await
            .map(drop)
    }

    /// Takes `username` out of the user index.
    pub async fn remove_user(&self, username: &str) -> Result<(), IndexError> {
        let mut call = REMOVE.key(USER_NAMES);
        call.key(USER_EXPIRY).arg(username);
        self.guarded(self.backend.script::<i64>(&call))
            .await
            .map(drop)
    }

    /// Up to `limit` usernames after `after` (from the start when
    /// `None`), after a sweep of expired ones.
    pub async fn user_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<UserPage, IndexError> {
        let mut call = PAGE.key(USER_NAMES);
        call.key(USER_EXPIRY)
            .arg(after.map_or_else(|| "-".to_string(), |a| format!("({a}")))
            .arg(limit + 1)
            .arg(SWEEP_ON_PAGE);
        let (count, mut usernames): (u64, Vec<String>) =
            self.guarded(self.backend.script(&call)).await?;
        let more = usernames.len() > limit;
        usernames.truncate(limit);
        Ok(UserPage {
            count,
            usernames,
            more,
        })
    }
}
