//! The one error type a request can end in, and the one place that turns it
//! into an HTTP status and a JSON body.

use hyper::StatusCode;

use crate::backend::BackendError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; `code` names the rule it broke.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable reason, e.g. `invalid_ttl`.
        code: &'static str,
        /// What is wrong, for a person.
        message: String,
    },
    /// The body, key or value is over its limit.
    #[error("{0}")]
    TooLarge(String),
    /// No such key.
    #[error("key not found")]
    KeyNotFound,
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
    /// The node holding the key is at its memory limit.
    #[error("data node full: {0}")]
    NodeFull(BackendError),
    /// A node holds something under the key that is not a JSON value
    /// (written around the balancer).
    #[error("the value stored under this key is not JSON")]
    NotJson,
    /// The request took longer than its budget.
    #[error("request timed out")]
    Timeout,
}

impl Error {
    /// A 400 with a reason code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Error {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status and machine-readable code for this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Error::KeyNotFound => (StatusCode::NOT_FOUND, "key_not_found"),
            Error::RouteNotFound(_) => (StatusCode::NOT_FOUND, "route_not_found"),
            Error::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            Error::NoNodes => (StatusCode::SERVICE_UNAVAILABLE, "no_nodes"),
            Error::NodeUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "node_unavailable"),
            Error::TooFewReplicas { .. } => (StatusCode::SERVICE_UNAVAILABLE, "too_few_replicas"),
            Error::NodeFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "node_full"),
            Error::NotJson => (StatusCode::BAD_GATEWAY, "stored_value_not_json"),
            Error::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        }
    }

    /// The JSON body: `{"error": code, "message": text}`.
    pub fn body(&self) -> String {
        let (_, code) = self.status_and_code();
        serde_json::json!({ "error": code, "message": self.to_string() }).to_string()
    }
}

impl From<BackendError> for Error {
    fn from(e: BackendError) -> Error {
        match e {
            BackendError::OutOfMemory { .. } => Error::NodeFull(e),
            _ => Error::NodeUnavailable(e),
        }
    }
}
