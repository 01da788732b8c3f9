//! Why an HTTP request got no success, and the one place each reason
//! becomes a status and a JSON body `{"error": code, "message": text}`
//! (linkerd's single "rescue" at the server edge).
//!
//! A rejection is either the request's own fault (malformed, too large,
//! no such route), the request budget running out, or a domain
//! [`Error`] from the cache operations.

use hyper::StatusCode;

use crate::error::Error;
use crate::input::Invalid;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The request is malformed; `code` names the rule it broke.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable reason, e.g. `invalid_ttl`.
        code: &'static str,
        /// What is wrong, for a person.
        message: String,
    },
    /// A field of a user-record body is missing (`missing_field`) or
    /// breaks its rule (`invalid_field`).
    #[error("{message}")]
    BadField {
        /// `missing_field` or `invalid_field`.
        code: &'static str,
        /// The field, as the body names it.
        field: &'static str,
        /// What is wrong, for a person.
        message: String,
    },
    /// No user by that username.
    #[error("user not found")]
    UserNotFound,
    /// A user's key holds JSON that is not a user record (written through
    /// `/cache` or the RESP port).
    #[error("the value stored under this user's key is not a user record")]
    NotAUser,
    /// The body, key or value is over its limit.
    #[error("{0}")]
    TooLarge(String),
    /// The body is not declared JSON (the user routes require it).
    #[error("the body must be sent as Content-Type: application/json, not {0}")]
    UnsupportedMediaType(String),
    /// No such route.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// The route exists but not for this method.
    #[error("method {method} not allowed; allowed: {allowed}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods the route takes.
        allowed: &'static str,
    },
    /// The request took longer than its budget.
    #[error("request timed out")]
    Timeout,
    /// The body did not arrive within its deadline.
    #[error("the request body did not arrive in time")]
    SlowBody,
    /// Too many requests in flight; try again shortly.
    #[error("too many requests in flight; retry later")]
    Overloaded,
    /// The admin API's bearer token is missing or not `admin_token`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No node entry by that id (the admin API).
    #[error("no node {0:?} is listed in ZooKeeper")]
    NodeNotFound(String),
    /// The change does not fit the state of what it would change; `code`
    /// says how (`node_exists`, `node_not_drained`, `node_removed`).
    #[error("{message}")]
    Conflict {
        /// Machine-readable reason.
        code: &'static str,
        /// What is in the way, for a person.
        message: String,
    },
    /// ZooKeeper is not configured (`zookeeper_not_configured`) or did not
    /// answer (`zookeeper_unavailable`); the admin API cannot work.
    #[error("{message}")]
    ZooKeeper {
        /// Machine-readable reason.
        code: &'static str,
        /// What failed, for a person.
        message: String,
    },
    /// ZooKeeper holds something this project does not write there.
    #[error("{0}")]
    Unreadable(String),
    /// The cache operation failed.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<Invalid> for Rejection {
    fn from(invalid: Invalid) -> Rejection {
        let message = invalid.to_string();
        match invalid {
            Invalid::EmptyKey => Rejection::bad_request("empty_key", message),
            Invalid::KeyTooLong { .. } => Rejection::bad_request("key_too_long", message),
            Invalid::ValueTooLarge { .. } => Rejection::TooLarge(message),
        }
    }
}

impl Rejection {
    /// A 400 with a reason code.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Rejection {
        Rejection::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status and machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Rejection::BadRequest { code, .. } | Rejection::BadField { code, .. } => {
                (StatusCode::BAD_REQUEST, code)
            }
            Rejection::UserNotFound => (StatusCode::NOT_FOUND, "user_not_found"),
            Rejection::NotAUser => (StatusCode::BAD_GATEWAY, "stored_value_not_user"),
            Rejection::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Rejection::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Rejection::RouteNotFound(_) => (StatusCode::NOT_FOUND, "route_not_found"),
            Rejection::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            Rejection::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            Rejection::SlowBody => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            Rejection::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Rejection::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Rejection::NodeNotFound(_) => (StatusCode::NOT_FOUND, "node_not_found"),
            Rejection::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Rejection::ZooKeeper { code, .. } => (StatusCode::SERVICE_UNAVAILABLE, code),
            Rejection::Unreadable(_) => (StatusCode::BAD_GATEWAY, "unreadable_entry"),
            Rejection::Failed(e) => match e {
                Error::NoNodes => (StatusCode::SERVICE_UNAVAILABLE, "no_nodes"),
                Error::NodeUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "node_unavailable"),
                Error::TooFewReplicas { .. } => {
                    (StatusCode::SERVICE_UNAVAILABLE, "too_few_replicas")
                }
                Error::IndexUnavailable(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "index_unavailable")
                }
                Error::SetContended => (StatusCode::SERVICE_UNAVAILABLE, "set_contended"),
                Error::Superseded => (StatusCode::SERVICE_UNAVAILABLE, "superseded"),
                Error::NodeFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "node_full"),
                Error::ClockAhead(_) => (StatusCode::SERVICE_UNAVAILABLE, "clock_ahead"),
                Error::NotJson => (StatusCode::BAD_GATEWAY, "stored_value_not_json"),
            },
        }
    }

    /// The JSON body: `{"error": code, "message": text}`.
    pub(crate) fn body(&self) -> String {
        let (_, code) = self.status_and_code();
        error_body(code, &self.to_string())
    }
}

/// `{"error": code, "message": text}`.
pub(crate) fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "error": code, "message": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_status_and_code() {
        let cases: Vec<(Rejection, u16, &str)> = vec![
            (
                Rejection::bad_request("invalid_ttl", "x"),
                400,
                "invalid_ttl",
            ),
            (Rejection::TooLarge("x".into()), 413, "too_large"),
            (
                Rejection::BadField {
                    code: "invalid_field",
                    field: "name",
                    message: "x".into(),
                },
                400,
                "invalid_field",
            ),
            (Rejection::UserNotFound, 404, "user_not_found"),
            (Rejection::NotAUser, 502, "stored_value_not_user"),
            (
                Rejection::UnsupportedMediaType("text/plain".into()),
                415,
                "unsupported_media_type",
            ),
            (
                Rejection::RouteNotFound("/x".into()),
                404,
                "route_not_found",
            ),
            (Rejection::Timeout, 504, "timeout"),
            (Rejection::SlowBody, 408, "body_timeout"),
            (Rejection::Overloaded, 503, "overloaded"),
            (Rejection::Unauthorized("x"), 401, "unauthorized"),
            (Rejection::NodeNotFound("n".into()), 404, "node_not_found"),
            (
                Rejection::Conflict {
                    code: "node_not_drained",
                    message: "x".into(),
                },
                409,
                "node_not_drained",
            ),
            (
                Rejection::ZooKeeper {
                    code: "zookeeper_not_configured",
                    message: "x".into(),
                },
                503,
                "zookeeper_not_configured",
            ),
            (Rejection::Unreadable("x".into()), 502, "unreadable_entry"),
            (Error::NoNodes.into(), 503, "no_nodes"),
            (Error::NotJson.into(), 502, "stored_value_not_json"),
            (
                Error::unrecorded(crate::index::IndexError::Contended).into(),
                503,
                "set_contended",
            ),
            (
                Error::unrecorded(crate::index::IndexError::Skipped).into(),
                503,
                "index_unavailable",
            ),
        ];
        for (rejection, status, code) in cases {
            assert_eq!(
                rejection.status_and_code(),
                (StatusCode::from_u16(status).unwrap(), code)
            );
            let body: serde_json::Value = serde_json::from_str(&rejection.body()).unwrap();
            assert_eq!(body["error"], code);
            assert_eq!(body["message"], rejection.to_string());
        }
    }
}
