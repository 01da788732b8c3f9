//! Why a cache operation failed, in the domain's words. Nothing here knows
//! of HTTP: each front door maps these to its own answers (for HTTP, in
//! `http/rejection.rs`). A miss is not an error: operations answer `None`.

use crate::backend::BackendError;
use crate::index::IndexError;

/// Why a cache operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No data node is up.
    #[error("no data node is reachable")]
    NoNodes,
    /// The node holding or chosen for the key failed.
    #[error("data node unavailable: {0}")]
    NodeUnavailable(BackendError),
    /// Fewer replicas took a write than its acknowledgement level needs.
    #[error("only {acked} of the {needed} replicas needed took the write; last error: {last}")]
    TooFewReplicas {
        /// Replicas that took it.
        acked: usize,
        /// Replicas needed.
        needed: usize,
        /// The last replica error.
        last: String,
    },
    /// The write reached replicas outside the key's set, and the index
    /// could not record the new set: its outcome is unknown.
    #[error("the index could not record the write's replica set: {0}")]
    IndexUnavailable(String),
    /// Another write changed the key's replica set first, and a member of
    /// that set could not take this write: its outcome is unknown.
    #[error("the key's replica set changed under this write and a member of it could not take it")]
    SetContended,
    /// The node holding the key is at its memory limit.
    #[error("data node full: {0}")]
    NodeFull(BackendError),
    /// The nodes refused the write: its timestamp is further ahead of their
    /// clocks than the drift bound (this balancer's clock runs fast).
    #[error("write refused, clock ahead: {0}")]
    ClockAhead(BackendError),
    /// A version stamped later than this write's, twice, from a clock
    /// further ahead than this balancer adopts (the drift bound), holds
    /// the key: the write may not have taken effect.
    #[error(
        "a version stamped later, by a clock further ahead than this balancer adopts, holds the key"
    )]
    Superseded,
    /// A node holds something under the key that is not a JSON value
    /// (written around the balancer).
    #[error("the value stored under this key is not JSON")]
    NotJson,
}

impl Error {
    /// A write's changed set could not be recorded: `e` says why.
    pub(crate) fn unrecorded(e: IndexError) -> Error {
        match e {
            IndexError::Contended => Error::SetContended,
            _ => Error::IndexUnavailable(e.to_string()),
        }
    }
}

impl From<BackendError> for Error {
    fn from(e: BackendError) -> Error {
        match e {
            BackendError::OutOfMemory { .. } => Error::NodeFull(e),
            BackendError::ClockAhead { .. } => Error::ClockAhead(e),
            _ => Error::NodeUnavailable(e),
        }
    }
}
