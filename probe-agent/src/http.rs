//! The agent's HTTP API: what each route answers. Connections, their
//! limits and timeouts are the `frontdoor` crate's.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /report` | the latest report as JSON (503 before the first) |
//! | `GET /report?after=SEQ[&wait_ms=MS]` | long poll: the first report newer than `SEQ`, as soon as it is taken; 204 if none comes within `wait_ms` (default 30 000, at most 60 000) |
//! | `GET /metrics` | Prometheus text |
//! | `GET /healthz` | 200 while the process runs |
//!
//! Why a long poll rather than a stream: each balancer keeps one request
//! open per agent and gets every report one round trip after it is taken,
//! with plain request/response HTTP (no framing to parse, works with curl
//! and through any proxy). A balancer that falls behind simply receives
//! the latest report next time; nothing queues up for it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use memreport::Report;
use tokio::sync::watch;

use crate::metrics::Metrics;

const DEFAULT_WAIT: Duration = Duration::from_secs(30);
const MAX_WAIT: Duration = Duration::from_secs(60);

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct State {
    /// The latest report.
    pub reports: watch::Receiver<Option<Arc<Report>>>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

type Reply = Response<Full<Bytes>>;

/// Answers one request.
pub async fn route(state: &State, req: Request<Incoming>) -> Reply {
    let path = req.uri().path();
    if !matches!(path, "/report" | "/metrics" | "/healthz") {
        return error(
            StatusCode::NOT_FOUND,
            "route_not_found",
            &format!("no route for {path}"),
        );
    }
    if req.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "only GET is allowed",
        );
    }
    match path {
        "/report" => match parse_query(req.uri().query().unwrap_or("")) {
            Ok(None) => latest(state),
            Ok(Some((after, wait))) => next_after(state, after, wait).await,
            Err(message) => error(StatusCode::BAD_REQUEST, "bad_query", &message),
        },
        "/metrics" => {
            let mut reply = json(StatusCode::OK, state.metrics.render());
            reply.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            reply
        }
        _ => json(StatusCode::OK, r#"{"status":"ok"}"#.to_string()),
    }
}

/// `after=SEQ[&wait_ms=MS]` -> `Some((SEQ, wait))`; no `after` -> `None`.
fn parse_query(query: &str) -> Result<Option<(u64, Duration)>, String> {
    let mut after = None;
    let mut wait = DEFAULT_WAIT;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{name} must be a whole number, got {value:?}"))
        };
        match name {
            "after" => after = Some(number()?),
            "wait_ms" => wait = Duration::from_millis(number()?).min(MAX_WAIT),
            other => {
                return Err(format!(
                    "unknown query parameter {other:?} (after, wait_ms)"
                ));
            }
        }
    }
    Ok(after.map(|a| (a, wait)))
}

fn latest(state: &State) -> Reply {
    match state.reports.borrow().as_ref() {
        Some(report) => report_reply(report),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_report_yet",
            "the first sample is not taken yet",
        ),
    }
}

async fn next_after(state: &State, after: u64, wait: Duration) -> Reply {
    let mut reports = state.reports.clone();
    let newer = reports.wait_for(|r| r.as_ref().is_some_and(|r| r.seq > after));
    match tokio::time::timeout(wait, newer).await {
        Ok(Ok(report)) => report_reply(report.as_ref().expect("checked above")),
        Ok(Err(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the agent is stopping",
        ),
        Err(_) => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Full::new(Bytes::new()))
            .expect("valid response"),
    }
}

fn report_reply(report: &Report) -> Reply {
    json(
        StatusCode::OK,
        serde_json::to_string(report).expect("report serializes"),
    )
}

fn json(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    json(
        status,
        serde_json::json!({ "error": code, "message": message }).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(parse_query("").unwrap(), None);
        assert_eq!(parse_query("after=3").unwrap(), Some((3, DEFAULT_WAIT)));
        assert_eq!(
            parse_query("after=3&wait_ms=999999").unwrap(),
            Some((3, MAX_WAIT))
        );
        assert!(parse_query("after=x").is_err());
        assert!(parse_query("since=1").is_err());
    }
}
