//! One operation of a chaos run as the harness records it: which client,
//! through which balancer, on which key, what it asked and what came
//! back, when (monotonic microseconds since the run started), and how it
//! ended (Jepsen's `ok` / `fail` / `info`).

use serde::{Deserialize, Serialize};

use crate::version::Version;

/// What an operation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `GET /cache/<key>`.
    Get,
    /// `POST /cache` with a unique value.
    Put,
    /// `DELETE /cache/<key>`.
    Delete,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened, and the answer says what it did.
    Ok,
    /// It certainly did not happen (a 4xx, a refusal before anything was
    /// written, a connection that was never made).
    Fail,
    /// Unknown: it may have happened, at any time after its invocation (a
    /// timeout, a reset connection, a killed balancer, a 503 whose write
    /// may have landed).
    Info,
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Its index in the history.
    pub id: usize,
    /// The client that ran it.
    pub client: usize,
    /// The balancer it went through (`b1`, `b2`, ...).
    pub balancer: String,
    /// The key.
    pub key: String,
    /// What it asked.
    pub kind: Kind,
    /// A put: the value written; a get that found the key: the value read.
    pub value: Option<String>,
    /// When it was sent, µs since the run started (monotonic).
    pub invoke_us: u64,
    /// When its answer (or the give-up) came, µs since the run started.
    pub complete_us: u64,
    /// The wall clock at invocation, ms since the Unix epoch: bounds the
    /// version an operation of unknown outcome can have been stamped with.
    pub invoke_wall_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    /// The version the answer carried (`X-Cache-Version`, or a put's
    /// `version` field).
    pub version: Option<String>,
    /// Why it failed or is unknown: the error code or transport error.
    pub error: Option<String>,
    /// `X-Cache-Node`: the node that served a read, the replicas that took
    /// a write.
    #[serde(default)]
    pub node: Option<String>,
    /// One of the reads made after the cluster was healed and settled.
    #[serde(default)]
    pub final_read: bool,
}

impl Op {
    /// Its version, when the answer carried one that parses.
    pub fn parsed_version(&self) -> Option<Version> {
        self.version.as_deref().and_then(Version::parse)
    }

    /// An acknowledged write: a put or a delete (204, a tombstone written)
    /// that ended `ok` with a version.
    pub fn acked_version(&self) -> Option<Version> {
        let acked = match self.kind {
            Kind::Put => self.outcome == Outcome::Ok,
            Kind::Delete => self.outcome == Outcome::Ok && self.status == Some(204),
            Kind::Get => false,
        };
        if acked { self.parsed_version() } else { None }
    }

    /// A write (put or delete) that may have changed the key: anything but
    /// a certain failure. A delete answered 404 may have left a tombstone.
    pub fn may_write(&self) -> bool {
        self.kind != Kind::Get && self.outcome != Outcome::Fail
    }

    /// A read that answered: the value, or `None` for a miss.
    pub fn is_ok_read(&self) -> bool {
        self.kind == Kind::Get && self.outcome == Outcome::Ok
    }
}
