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
    /// The cache operation a request asks for, by its method and path;
    /// `None` for other routes and for methods a cache route does not take.
    pub fn of(method: &hyper::Method, path: &str) -> Option<Op> {
        use hyper::Method;
        match (path, method) {
            ("/cache", &Method::POST) => Some(Op::Set),
            (p, &Method::GET) if p.starts_with("/cache/") => Some(Op::Get),
            (p, &Method::DELETE) if p.starts_with("/cache/") => Some(Op::Delete),
            _ => None,
        }
    }

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
    /// How `op` ended, by the status of its response.
    pub fn of(op: Op, status: hyper::StatusCode) -> Outcome {
        match status.as_u16() {
            201 => Outcome::Created,
            200 if op == Op::Set => Outcome::Updated,
            200 => Outcome::Hit,
            204 => Outcome::Deleted,
            404 => Outcome::Miss,
            s if s >= 500 => Outcome::ServerError,
            _ => Outcome::ClientError,
        }
    }

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

#[cfg(test)]
mod tests {
    use hyper::{Method, StatusCode};

    use super::*;

    #[test]
    fn a_request_is_classified_by_method_and_path_then_by_status() {
        assert_eq!(Op::of(&Method::POST, "/cache"), Some(Op::Set));
        assert_eq!(Op::of(&Method::GET, "/cache/k"), Some(Op::Get));
        assert_eq!(Op::of(&Method::DELETE, "/cache/k"), Some(Op::Delete));
        assert_eq!(Op::of(&Method::GET, "/cache"), None);
        assert_eq!(Op::of(&Method::PUT, "/cache/k"), None);
        assert_eq!(Op::of(&Method::GET, "/nodes"), None);
        let ended = |op, status| Outcome::of(op, StatusCode::from_u16(status).unwrap());
        assert_eq!(ended(Op::Set, 201), Outcome::Created);
        assert_eq!(ended(Op::Set, 200), Outcome::Updated);
        assert_eq!(ended(Op::Get, 200), Outcome::Hit);
        assert_eq!(ended(Op::Get, 404), Outcome::Miss);
        assert_eq!(ended(Op::Delete, 204), Outcome::Deleted);
        assert_eq!(ended(Op::Set, 408), Outcome::ClientError);
        assert_eq!(ended(Op::Set, 503), Outcome::ServerError);
        assert_eq!(ended(Op::Set, 507), Outcome::ServerError);
    }
}
