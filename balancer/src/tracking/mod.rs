//! Caches kept true by the servers they copy, through Redis
//! server-assisted client-side caching (`CLIENT TRACKING` in broadcast
//! mode): the server pushes the name of every key that changes, from any
//! client, and the cache drops it.
//!
//! Two caches are built on this: the near cache of values
//! ([`crate::near`], one stream per data node) and the key-location cache
//! ([`crate::locations`], one stream on the index Redis, `loc:` keys only).
//!
//! - [`store`]: an LRU with reservations, so a read that raced a change
//!   never stores what it read.
//! - [`stream`]: one server's invalidation stream, drained on demand, with
//!   a heartbeat that bounds how far behind the server it may be.
//! - [`heartbeat`]: how current a stream is, from when its answered
//!   `PING`s were sent.
//! - [`frames`]: the stream's bytes turned into invalidations as they
//!   arrive, each byte parsed once.
//! - [`session`]: one open stream's socket, unparsed bytes and heartbeat.
//! - [`resp`]: the RESP3 frames a stream carries.
//!
//! [`frames`] and [`resp`] are public, pure parsers, for the fuzz targets
//! in `fuzz/`; the rest is the crate's own.

pub mod frames;
pub(crate) mod heartbeat;
pub mod resp;
pub(crate) mod session;
pub(crate) mod store;
pub(crate) mod stream;

/// Where a stream's invalidations go.
pub(crate) trait Sink: Send + Sync {
    /// The server says this key changed.
    fn invalidate(&self, key: &[u8]);
    /// Everything may have changed: a flush, or a stream opened or lost.
    fn clear(&self);
}
