//! Sends one request to the balancer's HTTP API and says how it went.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request as HttpRequest};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::workload::{Op, Request};

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status, 0 when none arrived.
    pub status: u16,
    /// The `X-Cache-Node` header, if any.
    pub nodes: Option<String>,
    /// What went wrong, if the request failed.
    pub error: Option<String>,
}

/// A keep-alive HTTP client for one balancer.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:3100`).
    pub fn new(base: &str, connections: usize, timeout: Duration) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build(connector);
        Client {
            base: base.trim_end_matches('/').to_string(),
            http,
            timeout,
        }
    }

    /// Checks that the target answers `GET /healthz`.
    pub async fn check_reachable(&self) -> Result<(), String> {
        let url = format!("{}/healthz", self.base);
        let req = HttpRequest::get(&url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad target URL {:?}: {e}", self.base))?;
        match tokio::time::timeout(Duration::from_secs(3), self.http.request(req)).await {
            Ok(Ok(r)) if r.status().is_success() => Ok(()),
            Ok(Ok(r)) => Err(format!("{url} answered {}", r.status())),
            Ok(Err(e)) => Err(format!("cannot reach {url}: {e}")),
            Err(_) => Err(format!("{url} did not answer within 3 s")),
        }
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, request: &Request) -> Response {
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => Response {
                status: 0,
                nodes: None,
                error: Some(e),
            },
            Err(_) => Response {
                status: 0,
                nodes: None,
                error: Some(format!("timeout after {:?}", self.timeout)),
            },
        }
    }

    async fn exchange(&self, request: &Request) -> Result<Response, String> {
        let (method, url, body) = match request.op {
            Op::Get => (Method::GET, self.key_url(&request.key), Bytes::new()),
            Op::Delete => (Method::DELETE, self.key_url(&request.key), Bytes::new()),
            Op::Set => (
                Method::POST,
                format!("{}/cache", self.base),
                Bytes::from(request.body.clone().unwrap_or_default()),
            ),
        };
        let req = HttpRequest::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let res = self
            .http
            .request(req)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = res.status().as_u16();
        let nodes = res
            .headers()
            .get("x-cache-node")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading body: {e}"))?
            .to_bytes();
        let error = (!ok_status(request.op, status))
            .then(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        Ok(Response {
            status,
            nodes,
            error,
        })
    }

    fn key_url(&self, key: &str) -> String {
        let mut url = format!("{}/cache/", self.base);
        for b in key.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
                url.push(b as char);
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
        url
    }
}

/// Whether a status is a normal answer to the operation: a 404 on a get or
/// delete is a miss, not an error.
pub fn ok_status(op: Op, status: u16) -> bool {
    match op {
        Op::Get => status == 200 || status == 404,
        Op::Set => status == 200 || status == 201,
        Op::Delete => status == 204 || status == 404,
    }
}
