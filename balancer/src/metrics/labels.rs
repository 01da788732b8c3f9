//! The labels of the request metrics: which operation, and how it ended.

/// The cache operations, as labelled in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /cache/{key}`.
    Get,
    /// `POST /cache`.
    Set,
    /// `DELETE /cache/{key}`.
    Delete,
}

/// How a cache operation ended, as labelled in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A read found the key.
    Hit,
    /// A read or delete did not find the key.
    Miss,
    /// A write created the key.
    Created,
    /// A write replaced a value.
    Updated,
    /// A delete removed the key.
    Deleted,
    /// The request was refused (4xx).
    ClientError,
    /// The balancer or a node failed (5xx).
    ServerError,
}

pub(super) const OPS: [Op; 3] = [Op::Get, Op::Set, Op::Delete];
pub(super) const OUTCOMES: [Outcome; 7] = [
    Outcome::Hit,
    Outcome::Miss,
    Outcome::Created,
    Outcome::Updated,
    Outcome::Deleted,
    Outcome::ClientError,
    Outcome::ServerError,
];

impl Op {
    /// Whether this operation can end in `outcome` (a read creates nothing).
    pub(super) fn can_end_in(self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Hit => self == Op::Get,
            Outcome::Miss => self != Op::Set,
            Outcome::Created | Outcome::Updated => self == Op::Set,
            Outcome::Deleted => self == Op::Delete,
            Outcome::ClientError | Outcome::ServerError => true,
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
        }
    }
}

impl Outcome {
    pub(super) fn label(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Deleted => "deleted",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
        }
    }
}
