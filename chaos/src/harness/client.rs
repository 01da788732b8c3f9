//! The clients: HTTP requests to the balancers with a short time limit,
//! each recorded as an [`Op`] with how it ended.
//!
//! How an answer ends an operation (README, "API"): 2xx and a get's 404
//! are `ok`; a delete's 404 is `ok` too (no live value; it may still have
//! written a tombstone, which the checker allows for); other 4xx are
//! `fail`, as is a 503 `no_nodes` (refused before anything was written)
//! and a connection that could not be made (nothing was sent). Everything
//! else — other 5xx (`too_few_replicas` and `index_unavailable` are
//! unknown outcomes; `clock_ahead` and 504/507 are treated as unknown to be
//! safe), a timeout, a reset — is `info`. A get that did not answer `ok`
//! changed nothing either way.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chaos::history::{Kind, Op, Outcome};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The admin token every balancer of the harness is given.
pub(crate) const ADMIN_TOKEN: &str = "chaos-admin-token";

/// A pooled keep-alive client whose every request gives up after `timeout`.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

/// The headers the history keeps.
#[derive(Debug, Default)]
pub(crate) struct Headers {
    /// `X-Cache-Version`.
    pub(crate) version: Option<String>,
    /// `X-Cache-Node`.
    pub(crate) node: Option<String>,
}

/// An answer, or why none came.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Status, the `X-Cache-Version` and `X-Cache-Node` headers, the body.
    Reply(u16, Headers, String),
    /// No connection could be made: nothing was sent.
    Refused(String),
    /// Sent, but no answer (timeout, reset, closed).
    Lost(String),
}

impl Http {
    /// A client giving up after `timeout`.
    pub(crate) fn new(timeout: Duration) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        Http {
            inner: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(5))
                .build(connector),
            timeout,
        }
    }

    /// Sends one request.
    pub(crate) async fn send(&self, method: Method, url: &str, body: String) -> Answer {
        let req = Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        self.exchange(req).await
    }

    /// Sends one request to the admin API, with the harness's token.
    pub(crate) async fn admin(&self, method: Method, url: &str) -> Answer {
        let req = Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        self.exchange(req).await
    }

    async fn exchange(&self, req: Request<Full<Bytes>>) -> Answer {
        let exchange = async {
            let res = self.inner.request(req).await.map_err(|e| {
                let text = error_chain(&e);
                if e.is_connect() {
                    Answer::Refused(text)
                } else {
                    Answer::Lost(text)
                }
            })?;
            let status = res.status().as_u16();
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let headers = Headers {
                version: header("x-cache-version"),
                node: header("x-cache-node"),
            };
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| Answer::Lost(error_chain(&e)))?
                .to_bytes();
            Ok(Answer::Reply(
                status,
                headers,
                String::from_utf8_lossy(&body).into_owned(),
            ))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer) | Err(answer)) => answer,
            Err(_) => Answer::Lost(format!("timeout after {:?}", self.timeout)),
        }
    }

    /// True when `GET url` answers 200.
    pub(crate) async fn ok(&self, url: String) -> bool {
        matches!(
            self.send(Method::GET, &url, String::new()).await,
            Answer::Reply(200, ..)
        )
    }

    /// The body of `GET url` when it answers 200.
    pub(crate) async fn get_text(&self, url: &str) -> Option<String> {
        match self.send(Method::GET, url, String::new()).await {
            Answer::Reply(200, _, body) => Some(body),
            _ => None,
        }
    }
}

/// The error and its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One request to make and record.
#[derive(Debug, Clone)]
pub(crate) struct Request1 {
    /// The client making it.
    pub(crate) client: usize,
    /// The balancer's name and base URL.
    pub(crate) balancer: (String, String),
    /// The key.
    pub(crate) key: String,
    /// What to do.
    pub(crate) kind: Kind,
    /// A put's value.
    pub(crate) value: Option<String>,
}

/// Runs `req` and records it; `start` is the run's zero.
pub(crate) async fn run(http: &Http, req: Request1, start: Instant) -> Op {
    let (name, base) = req.balancer;
    let (method, url, body) = match req.kind {
        Kind::Get => (
            Method::GET,
            format!("{base}/cache/{}", req.key),
            String::new(),
        ),
        Kind::Delete => (
            Method::DELETE,
            format!("{base}/cache/{}", req.key),
            String::new(),
        ),
        Kind::Put => (
            Method::POST,
            format!("{base}/cache"),
            serde_json::json!({"key": req.key, "value": req.value}).to_string(),
        ),
    };
    let invoke_wall_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let invoke_us = start.elapsed().as_micros() as u64;
    let answer = http.send(method, &url, body).await;
    let complete_us = start.elapsed().as_micros() as u64;
    let mut op = Op {
        id: 0,
        client: req.client,
        balancer: name,
        key: req.key,
        kind: req.kind,
        value: req.value,
        invoke_us,
        complete_us,
        invoke_wall_ms,
        outcome: Outcome::Info,
        status: None,
        version: None,
        error: None,
        node: None,
        final_read: false,
    };
    match answer {
        Answer::Refused(e) => {
            op.outcome = Outcome::Fail;
            op.error = Some(e);
        }
        Answer::Lost(e) => op.error = Some(e),
        Answer::Reply(status, headers, body) => {
            op.status = Some(status);
            op.version = headers.version;
            op.node = headers.node;
            classify(&mut op, status, &body);
        }
    }
    op
}

/// Sets the outcome (and a get's value, a put's version) from an answer.
fn classify(op: &mut Op, status: u16, body: &str) {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = json["error"].as_str().map(str::to_string);
    op.outcome = match (op.kind, status) {
        (Kind::Get, 200) => {
            op.value = Some(match &json["value"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            Outcome::Ok
        }
        (Kind::Put, 200 | 201) => {
            if op.version.is_none() {
                op.version = json["version"].as_str().map(str::to_string);
            }
            Outcome::Ok
        }
        (Kind::Get | Kind::Delete, 404) if code.as_deref() == Some("key_not_found") => Outcome::Ok,
        (Kind::Delete, 204) => Outcome::Ok,
        (_, 400..=499) => Outcome::Fail,
        (Kind::Get, _) => Outcome::Fail,
        (_, 503) if code.as_deref() == Some("no_nodes") => Outcome::Fail,
        _ => Outcome::Info,
    };
    if op.outcome != Outcome::Ok {
        op.error = Some(code.unwrap_or_else(|| format!("status {status}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: Kind) -> Op {
        Op {
            id: 0,
            client: 0,
            balancer: "b1".into(),
            key: "k".into(),
            kind,
            value: (kind == Kind::Put).then(|| "v".to_string()),
            invoke_us: 0,
            complete_us: 0,
            invoke_wall_ms: 0,
            outcome: Outcome::Info,
            status: None,
            version: None,
            error: None,
            node: None,
            final_read: false,
        }
    }

    fn outcome(kind: Kind, status: u16, body: &str) -> Op {
        let mut op = op(kind);
        classify(&mut op, status, body);
        op
    }

    #[test]
    fn answers_end_operations_as_the_readme_says() {
        let put = outcome(Kind::Put, 201, r#"{"version":"5.0.b1","created":true}"#);
        assert_eq!(
            (put.outcome, put.version.as_deref()),
            (Outcome::Ok, Some("5.0.b1"))
        );
        let get = outcome(Kind::Get, 200, r#"{"key":"k","value":"c1-2","ttl":null}"#);
        assert_eq!(
            (get.outcome, get.value.as_deref()),
            (Outcome::Ok, Some("c1-2"))
        );
        let miss = outcome(Kind::Get, 404, r#"{"error":"key_not_found"}"#);
        assert_eq!((miss.outcome, miss.value), (Outcome::Ok, None));
        assert_eq!(outcome(Kind::Delete, 204, "").outcome, Outcome::Ok);
        assert_eq!(
            outcome(Kind::Delete, 404, r#"{"error":"key_not_found"}"#).outcome,
            Outcome::Ok
        );
        assert_eq!(
            outcome(Kind::Put, 400, r#"{"error":"bad"}"#).outcome,
            Outcome::Fail
        );
        assert_eq!(
            outcome(Kind::Put, 503, r#"{"error":"no_nodes"}"#).outcome,
            Outcome::Fail
        );
        for code in ["too_few_replicas", "index_unavailable", "clock_ahead"] {
            let body = format!(r#"{{"error":"{code}"}}"#);
            let put = outcome(Kind::Put, 503, &body);
            assert_eq!(put.outcome, Outcome::Info, "{code}");
            assert_eq!(put.error.as_deref(), Some(code));
        }
        assert_eq!(outcome(Kind::Delete, 504, "").outcome, Outcome::Info);
        assert_eq!(outcome(Kind::Get, 503, "").outcome, Outcome::Fail);
    }
}
