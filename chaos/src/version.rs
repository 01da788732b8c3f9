//! The balancer's write versions: hybrid-logical-clock timestamps
//! `<ms>.<counter>.<balancer id>` (`balancer/src/hlc.rs`), ordered as the
//! data nodes order them (last writer wins). The checker orders writes by
//! them, and bounds from above the version an operation with an unknown
//! outcome may have got.

use std::fmt;

/// One version, comparable: milliseconds, then counter, then balancer id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Wall-clock milliseconds of the balancer that stamped it.
    pub millis: u64,
    /// Orders stamps within one millisecond.
    pub counter: u64,
    /// The stamping balancer's id: the tie-breaker.
    pub id: String,
}

impl Version {
    /// Below every real version: the state of a key never written.
    pub const MIN: Version = Version {
        millis: 0,
        counter: 0,
        id: String::new(),
    };

    /// Parses `<ms>.<counter>.<id>`; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.splitn(3, '.');
        let millis = parts.next()?.parse().ok()?;
        let counter = parts.next()?.parse().ok()?;
        let id = parts.next()?.to_string();
        Some(Version {
            millis,
            counter,
            id,
        })
    }

    /// Above every version stamped at or before wall-clock `millis`: the
    /// bound for an operation whose version is unknown, `millis` being its
    /// invocation's wall clock plus the horizon in which a balancer may
    /// still stamp it.
    pub fn upper_bound_at(millis: u64) -> Version {
        Version {
            millis,
            counter: u64::MAX,
            id: String::new(),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:013}.{:06}.{}", self.millis, self.counter, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_the_nodes_do() {
        let a = Version::parse("1795382011364.000000.b1").unwrap();
        let b = Version::parse("1795382011364.000001.b1").unwrap();
        let c = Version::parse("1795382011364.000001.b2").unwrap();
        let d = Version::parse("1795382011365.000000.a").unwrap();
        assert!(Version::MIN < a && a < b && b < c && c < d);
        assert_eq!(a.to_string(), "1795382011364.000000.b1");
        assert_eq!(Version::parse("x.1.b"), None);
        assert_eq!(Version::parse("12"), None);
    }

    #[test]
    fn an_upper_bound_is_above_every_stamp_of_its_millisecond() {
        let bound = Version::upper_bound_at(1000);
        assert!(Version::parse("0000000001000.999999.zzz").unwrap() < bound);
        assert!(bound < Version::parse("0000000001001.000000.a").unwrap());
    }

    #[test]
    fn ids_with_dots_stay_whole() {
        let v = Version::parse("5.1.balancer-127.0.0.1:3100").unwrap();
        assert_eq!(v.id, "balancer-127.0.0.1:3100");
    }
}
