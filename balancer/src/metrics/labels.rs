//! The labels of the request metrics: which operation, and how it ended.
//! Both are closed sets, so the number of series is fixed whatever the
//! paths clients send: a path that names no operation is not recorded.

/// The data operations, as labelled in metrics: the cache routes and the
/// user-record routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /cache/{key}`.
    Get,
    /// `POST /cache`.
    Set,
    /// `DELETE /cache/{key}`.
    Delete,
    /// `POST /createUser`.
    CreateUser,
    /// `POST /getUser`.
    GetUser,
    /// `POST /updateUser`.
    UpdateUser,
    /// `POST /deleteUser`.
    DeleteUser,
    /// `GET /getAllUsers`.
    ListUsers,
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

pub(super) const OPS: [Op; 8] = [
    Op::Get,
    Op::Set,
    Op::Delete,
    Op::CreateUser,
    Op::GetUser,
    Op::UpdateUser,
    Op::DeleteUser,
    Op::ListUsers,
];
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
    /// The data operation a request asks for, by its method and path;
    /// `None` for other routes and for methods a data route does not take.
    pub fn of(method: &hyper::Method, path: &str) -> Option<Op> {
        use hyper::Method;
        match (path, method) {
            ("/cache", &Method::POST) => Some(Op::Set),
            (p, &Method::GET) if p.starts_with("/cache/") => Some(Op::Get),
            (p, &Method::DELETE) if p.starts_with("/cache/") => Some(Op::Delete),
            ("/createUser", &Method::POST) => Some(Op::CreateUser),
            ("/getUser", &Method::POST) => Some(Op::GetUser),
            ("/updateUser", &Method::POST) => Some(Op::UpdateUser),
            ("/deleteUser", &Method::POST) => Some(Op::DeleteUser),
            ("/getAllUsers", &Method::GET) => Some(Op::ListUsers),
            _ => None,
        }
    }

    /// Whether this operation can end in `outcome` (a read creates nothing).
    pub(super) fn can_end_in(self, outcome: Outcome) -> bool {
        use Op::*;
        match outcome {
            Outcome::Hit => matches!(self, Get | GetUser | ListUsers),
            Outcome::Miss => !matches!(self, Set | CreateUser | ListUsers),
            Outcome::Created => matches!(self, Set | CreateUser),
            Outcome::Updated => matches!(self, Set | CreateUser | UpdateUser),
            Outcome::Deleted => matches!(self, Delete | DeleteUser),
            Outcome::ClientError | Outcome::ServerError => true,
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::CreateUser => "create_user",
            Op::GetUser => "get_user",
            Op::UpdateUser => "update_user",
            Op::DeleteUser => "delete_user",
            Op::ListUsers => "list_users",
        }
    }

    /// What a 200 means for this operation: a write that replaced a
    /// value, a user deleted, or else a read that found what it asked.
    fn ok_means(self) -> Outcome {
        match self {
            Op::Set | Op::CreateUser | Op::UpdateUser => Outcome::Updated,
            Op::DeleteUser => Outcome::Deleted,
            _ => Outcome::Hit,
        }
    }
}

impl Outcome {
    /// How `op` ended, by the status of its response.
    pub fn of(op: Op, status: hyper::StatusCode) -> Outcome {
        match status.as_u16() {
            201 => Outcome::Created,
            200 => op.ok_means(),
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

    #[test]
    fn the_user_routes_are_operations_too_and_each_ends_only_as_it_can() {
        let post = |p| Op::of(&Method::POST, p);
        assert_eq!(post("/createUser"), Some(Op::CreateUser));
        assert_eq!(post("/getUser"), Some(Op::GetUser));
        assert_eq!(post("/updateUser"), Some(Op::UpdateUser));
        assert_eq!(post("/deleteUser"), Some(Op::DeleteUser));
        assert_eq!(Op::of(&Method::GET, "/getAllUsers"), Some(Op::ListUsers));
        assert_eq!(Op::of(&Method::GET, "/createUser"), None);
        assert_eq!(post("/createUser/x"), None);
        let ended = |op, status| Outcome::of(op, StatusCode::from_u16(status).unwrap());
        for (op, status, outcome) in [
            (Op::CreateUser, 201, Outcome::Created),
            (Op::CreateUser, 200, Outcome::Updated),
            (Op::UpdateUser, 200, Outcome::Updated),
            (Op::UpdateUser, 404, Outcome::Miss),
            (Op::DeleteUser, 200, Outcome::Deleted),
            (Op::GetUser, 200, Outcome::Hit),
            (Op::ListUsers, 200, Outcome::Hit),
            (Op::ListUsers, 400, Outcome::ClientError),
        ] {
            assert_eq!(ended(op, status), outcome, "{op:?} {status}");
            assert!(op.can_end_in(outcome), "{op:?} {outcome:?}");
        }
        assert!(!Op::ListUsers.can_end_in(Outcome::Miss));
        assert!(!Op::GetUser.can_end_in(Outcome::Created));
    }
}
