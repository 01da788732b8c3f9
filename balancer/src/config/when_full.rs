//! What the cluster does once its nodes are at `maxmemory`
//! (`[replication] when_full`), and which Redis eviction policies fit it.
//! Read and repair ask it whether a replica without a key lost its copy
//! or may have evicted it.

use serde::{Deserialize, Serialize};

/// What the cluster does once its nodes are at `maxmemory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// Writes are refused (507); a node holds every copy it took until it
    /// is deleted or expires, so a replica that answers without a key has
    /// lost it (restarted empty) and is repaired.
    Refuse,
    /// Nodes evict keys as a cache does; a replica that answers without a
    /// key may have evicted it, so a read asks the other replicas and no
    /// repair writes it back there.
    Evict,
}

impl WhenFull {
    /// Whether a replica that answers without a key is repaired: it lost
    /// its copy (`refuse`), where with `evict` it may have evicted it.
    pub fn repairs_missing(self) -> bool {
        self == WhenFull::Refuse
    }

    /// Whether a node in Redis `maxmemory_policy` `policy` behaves as this
    /// setting assumes: `refuse` needs `noeviction` (an evicting node would
    /// drop copies reads count on), `evict` an `allkeys-*` policy (a
    /// `volatile-*` one evicts only keys with a TTL: full of others, it
    /// refuses writes, and is not refilled as a refusing node is).
    pub fn fits(self, policy: &str) -> bool {
        match self {
            WhenFull::Refuse => policy == "noeviction",
            WhenFull::Evict => policy.starts_with("allkeys-"),
        }
    }
}

impl std::str::FromStr for WhenFull {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "refuse" => Ok(WhenFull::Refuse),
            "evict" => Ok(WhenFull::Evict),
            _ => Err(format!(
                "when full must be \"refuse\" or \"evict\", got {s:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_either_policy_and_names_the_choices_otherwise() {
        assert_eq!("evict".parse(), Ok(WhenFull::Evict));
        assert_eq!("Refuse".parse(), Ok(WhenFull::Refuse));
        let e = "lru".parse::<WhenFull>().unwrap_err();
        assert!(e.contains("\"refuse\" or \"evict\""), "{e}");
    }

    #[test]
    fn refuse_fits_noeviction_only_and_evict_the_allkeys_policies() {
        assert!(WhenFull::Refuse.fits("noeviction"));
        assert!(!WhenFull::Refuse.fits("allkeys-lru"));
        for policy in ["noeviction", "volatile-lru", "volatile-ttl"] {
            assert!(!WhenFull::Evict.fits(policy), "{policy}");
        }
        for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            assert!(WhenFull::Evict.fits(policy), "{policy}");
        }
    }
}
