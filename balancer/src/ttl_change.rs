//! What a change of a key's time to live (`EXPIRE`, `PEXPIRE`,
//! `EXPIREAT`, `PEXPIREAT`, `PERSIST`) does to the key, decided from the
//! time to live the key has, by Redis's rules (`expire.c`): the `NX`,
//! `XX`, `GT` and `LT` conditions, a key without one counting as living
//! for ever, and an expiry not in the future deleting the key. Pure: the
//! I/O is in `ops/expire.rs`.

/// A requested change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Expire `ms` milliseconds from now (not positive: at once), if
    /// `when` holds.
    Expire {
        /// Milliseconds from now; 0 or less deletes the key.
        ms: i64,
        /// The conditions given.
        when: When,
    },
    /// Remove the time to live.
    Persist,
}

/// `EXPIRE`'s conditions, as given (Redis 7): `NX` alone, or `XX` with
/// `GT` or `LT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct When {
    /// Only if the key has no time to live.
    pub nx: bool,
    /// Only if the key has one.
    pub xx: bool,
    /// Only if the new one ends later (a key without one never qualifies).
    pub gt: bool,
    /// Only if the new one ends sooner (a key without one always does).
    pub lt: bool,
}

/// What the key gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing changes; the command answers 0.
    Unchanged,
    /// The key is deleted (an expiry not in the future); answers 1.
    Delete,
    /// The value is written again with this time to live (`None`: for
    /// good); answers 1.
    Ttl(Option<u64>),
}

/// The decision for a live key whose time to live is `current` (`None`:
/// it has none). `max_ms` caps a time to live as a write's is capped.
pub fn decide(current: Option<u64>, change: Change, max_ms: u64) -> Decision {
    let (ms, when) = match change {
        Change::Persist if current.is_some() => return Decision::Ttl(None),
        Change::Persist => return Decision::Unchanged,
        Change::Expire { ms, when } => (ms, when),
    };
    let refused = match current {
        None => when.xx || when.gt,
        Some(left) => when.nx || (when.gt && ms <= as_i64(left)) || (when.lt && ms >= as_i64(left)),
    };
    if refused {
        Decision::Unchanged
    } else if ms <= 0 {
        Decision::Delete
    } else {
        Decision::Ttl(Some((ms as u64).min(max_ms)))
    }
}

fn as_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 10_000_000;

    fn expire(ms: i64, flags: &str) -> Change {
        let when = When {
            nx: flags.contains("nx"),
            xx: flags.contains("xx"),
            gt: flags.contains("gt"),
            lt: flags.contains("lt"),
        };
        Change::Expire { ms, when }
    }

    #[test]
    fn a_plain_expire_sets_the_ttl_and_one_not_in_the_future_deletes() {
        assert_eq!(
            decide(None, expire(5_000, ""), MAX),
            Decision::Ttl(Some(5_000))
        );
        assert_eq!(
            decide(Some(9), expire(5_000, ""), MAX),
            Decision::Ttl(Some(5_000))
        );
        assert_eq!(decide(Some(9), expire(0, ""), MAX), Decision::Delete);
        assert_eq!(decide(None, expire(-3, ""), MAX), Decision::Delete);
        assert_eq!(
            decide(None, expire(i64::MAX, ""), MAX),
            Decision::Ttl(Some(MAX))
        );
    }

    #[test]
    fn persist_removes_a_ttl_only_when_there_is_one() {
        assert_eq!(decide(Some(10), Change::Persist, MAX), Decision::Ttl(None));
        assert_eq!(decide(None, Change::Persist, MAX), Decision::Unchanged);
    }

    #[test]
    fn nx_and_xx_look_at_whether_there_is_a_ttl() {
        assert_eq!(decide(None, expire(5, "nx"), MAX), Decision::Ttl(Some(5)));
        assert_eq!(decide(Some(9), expire(5, "nx"), MAX), Decision::Unchanged);
        assert_eq!(decide(None, expire(5, "xx"), MAX), Decision::Unchanged);
        assert_eq!(
            decide(Some(9), expire(5, "xx"), MAX),
            Decision::Ttl(Some(5))
        );
    }

    #[test]
    fn gt_and_lt_count_no_ttl_as_for_ever() {
        assert_eq!(decide(None, expire(5, "gt"), MAX), Decision::Unchanged);
        assert_eq!(decide(Some(9), expire(9, "gt"), MAX), Decision::Unchanged);
        assert_eq!(
            decide(Some(9), expire(10, "gt"), MAX),
            Decision::Ttl(Some(10))
        );
        assert_eq!(decide(None, expire(5, "lt"), MAX), Decision::Ttl(Some(5)));
        assert_eq!(decide(Some(9), expire(9, "lt"), MAX), Decision::Unchanged);
        assert_eq!(
            decide(Some(9), expire(8, "xx lt"), MAX),
            Decision::Ttl(Some(8))
        );
        assert_eq!(decide(Some(9), expire(-1, "lt"), MAX), Decision::Delete);
        assert_eq!(decide(Some(9), expire(-1, "gt"), MAX), Decision::Unchanged);
    }
}
