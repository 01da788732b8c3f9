//! The `[users]` table: the settings of the user-record API
//! (`http/users/`), which stores each user as the cache key
//! `user:{username}`.

use std::time::Duration;

use serde::Deserialize;

use super::secs;

/// How user records are kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UsersConfig {
    /// How long a user record lives after its last create or update, and
    /// its entry in the user index with it; whole seconds, key
    /// `ttl_secs`. Default 14 400 s (4 h).
    #[serde(rename = "ttl_secs", deserialize_with = "secs::deserialize")]
    pub ttl: Duration,
}

/// The longest TTL the cache API takes (`input::MAX_TTL_MS`, which
/// imports this module's tree and so cannot be imported here).
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl UsersConfig {
    /// What is wrong with these settings, if anything.
    pub(super) fn problem(&self) -> Option<String> {
        (self.ttl.is_zero() || self.ttl > MAX_TTL).then(|| {
            format!(
                "users.ttl_secs must be from 1 to {}, got {}",
                MAX_TTL.as_secs(),
                self.ttl.as_secs()
            )
        })
    }
}

impl Default for UsersConfig {
    fn default() -> Self {
        UsersConfig {
            ttl: Duration::from_secs(4 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_is_four_hours_by_default_and_bounded() {
        let users = UsersConfig::default();
        assert_eq!(users.ttl, Duration::from_secs(14_400));
        assert_eq!(users.problem(), None);
        for secs in [0, MAX_TTL.as_secs() + 1] {
            let users = UsersConfig {
                ttl: Duration::from_secs(secs),
            };
            assert!(users.problem().unwrap().contains("users.ttl_secs"));
        }
    }
}
