//! What the cache operations answer: a value found, a write taken, a key
//! deleted. A miss is `None`, never an error.
//!
//! These types sit apart from [`crate::ops`] so that the near cache,
//! which hands back a [`Found`] too, does not import the operations that
//! use it.

use std::sync::Arc;

use bytes::Bytes;

/// A read hit.
#[derive(Debug, Clone)]
pub struct Found {
    /// The node that served the key.
    pub node: Arc<str>,
    /// The JSON text.
    pub json: Bytes,
    /// Remaining milliseconds, or `None` when the key does not expire.
    pub ttl_ms: Option<u64>,
    /// The version's timestamp, as the write that made it answered.
    pub version: Arc<str>,
    /// Where the value came from.
    pub source: Source,
}

/// Where a read hit was served from, as `X-Cache-Source` tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The balancer's near cache: no Redis round trip.
    Near,
    /// A data node (the one named in `X-Cache-Node`).
    Node,
}

impl Source {
    /// The header value: `near` or `node`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Near => "near",
            Source::Node => "node",
        }
    }
}

impl Found {
    /// Remaining whole seconds, rounded up, as the API reports a TTL.
    pub fn ttl_seconds(&self) -> Option<u64> {
        self.ttl_ms.map(|ms| ms.div_ceil(1000))
    }
}

/// A write its acknowledgement level accepted.
#[derive(Debug)]
pub struct Written {
    /// The replicas that acknowledged it before the reply.
    pub nodes: Vec<Arc<str>>,
    /// The key had no live value before this write.
    pub created: bool,
    /// The write's timestamp: the version the replicas keep unless a
    /// newer write arrives.
    pub version: String,
}

/// A delete that found a live value and replaced it with tombstones.
#[derive(Debug)]
pub struct Deleted {
    /// The replicas that acknowledged the tombstone before the reply.
    pub nodes: Vec<Arc<str>>,
    /// The tombstone's timestamp, so a history can order the delete
    /// among the writes of the key.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_whole_seconds() {
        let found = |ttl_ms| Found {
            node: Arc::from("a"),
            json: Bytes::new(),
            ttl_ms,
            version: Arc::from("1.000000.b"),
            source: Source::Node,
        };
        assert_eq!(found(None).ttl_seconds(), None);
        assert_eq!(found(Some(1)).ttl_seconds(), Some(1));
        assert_eq!(found(Some(1000)).ttl_seconds(), Some(1));
        assert_eq!(found(Some(1001)).ttl_seconds(), Some(2));
    }
}
