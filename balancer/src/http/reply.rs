//! Building responses: JSON bodies, rejections, misses, `X-Cache-Node`,
//! `X-Cache-Source`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    ALLOW, CONNECTION, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Response, StatusCode};

use super::rejection::{Rejection, error_body};
use crate::failures::FailureLog;

/// The response type every handler returns.
pub(super) type Reply = Response<Full<Bytes>>;

// The headers are `HeaderName`s made once: inserted by `&str`, each name
// was parsed and validated again per response (~700 instructions each,
// callgrind, BENCHMARKS.md "Overload").

/// The header naming the node(s) that served a request.
const CACHE_NODE: HeaderName = HeaderName::from_static("x-cache-node");

/// The header saying where a read was served from: `near` (the
/// balancer's near cache) or `node` (a data node).
const CACHE_SOURCE: HeaderName = HeaderName::from_static("x-cache-source");

/// The header carrying the version a read returned or a delete wrote (a
/// write's is in its body).
const CACHE_VERSION: HeaderName = HeaderName::from_static("x-cache-version");

/// A JSON response with `status`.
pub(super) fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A body-less response with `status`.
pub(super) fn empty(status: StatusCode) -> Reply {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The rejection's status and JSON body; with [`rejected_with`], the one
/// place rejections become responses.
pub(super) fn rejected(failures: &FailureLog, e: &Rejection) -> Reply {
    rejected_with(failures, e, e.body())
}

/// The rejection's status and headers with `body` (a route's own error
/// shape). Server errors go to the failure log, which keeps it short.
pub(super) fn rejected_with(failures: &FailureLog, e: &Rejection, body: String) -> Reply {
    let (status, code) = e.status_and_code();
    if status.is_server_error() {
        failures.failed(code, status.as_u16(), e);
    }
    let mut response = json(status, body);
    let headers = response.headers_mut();
    match e {
        Rejection::MethodNotAllowed { allowed, .. } => {
            headers.insert(ALLOW, HeaderValue::from_static(allowed));
        }
        Rejection::Overloaded => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // The scheme the admin API takes (RFC 6750).
        Rejection::Unauthorized(_) => {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // The rest of a slow body is not worth waiting for.
        Rejection::SlowBody => {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        _ => {}
    }
    response
}

/// The 404 of a key that is not there: a miss, not a failure.
pub(super) fn miss() -> Reply {
    json(
        StatusCode::NOT_FOUND,
        error_body("key_not_found", "key not found"),
    )
}

/// Adds `X-Cache-Version`: the version (HLC timestamp) the request read
/// or wrote.
pub(super) fn with_version(mut response: Reply, version: &str) -> Reply {
    if let Ok(value) = HeaderValue::from_str(version) {
        response.headers_mut().insert(CACHE_VERSION, value);
    }
    response
}

/// Adds `X-Cache-Source`: `near` or `node`.
pub(super) fn with_source(mut response: Reply, source: &'static str) -> Reply {
    response
        .headers_mut()
        .insert(CACHE_SOURCE, HeaderValue::from_static(source));
    response
}

/// Adds `X-Cache-Node` with the given node ids, comma-separated.
pub(super) fn with_nodes<S: AsRef<str>>(mut response: Reply, nodes: &[S]) -> Reply {
    let list = nodes
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(",");
    if let Ok(value) = HeaderValue::from_str(&list) {
        response.headers_mut().insert(CACHE_NODE, value);
    }
    response
}
