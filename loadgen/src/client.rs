//! Sends one request to the balancer's HTTP API and says how it went:
//! to the next target in the weighted cycle, with the extra headers asked
//! for, counting body bytes both ways.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request as HttpRequest};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::targets::{self, Target};
use crate::workload::{Op, Request};

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status, 0 when none arrived.
    pub status: u16,
    /// The `X-Cache-Node` header, if any.
    pub nodes: Option<String>,
    /// The `X-Cache-Source` header (`near` or `node`), if any.
    pub source: Option<String>,
    /// Response body bytes.
    pub bytes_received: u64,
    /// What went wrong, if the request failed.
    pub error: Option<String>,
}

impl Response {
    fn failed(error: String) -> Response {
        Response {
            status: 0,
            nodes: None,
            source: None,
            bytes_received: 0,
            error: Some(error),
        }
    }
}

/// A keep-alive HTTP client for one or more balancers.
#[derive(Debug, Clone)]
pub struct Client {
    bases: Arc<[String]>,
    cycle: Arc<[usize]>,
    next: Arc<AtomicUsize>,
    headers: Arc<[(HeaderName, HeaderValue)]>,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Client {
    /// A client for `targets` (at least one), sending `headers` with every
    /// request.
    pub fn new(
        targets: &[Target],
        headers: &[(HeaderName, HeaderValue)],
        connections: usize,
        timeout: Duration,
    ) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build(connector);
        Client {
            bases: targets.iter().map(|t| t.url.clone()).collect(),
            cycle: targets::cycle(targets).into(),
            next: Arc::new(AtomicUsize::new(0)),
            headers: headers.into(),
            http,
            timeout,
        }
    }

    /// Checks that every target answers `GET /healthz`.
    pub async fn check_reachable(&self) -> Result<(), String> {
        for base in self.bases.iter() {
            let url = format!("{base}/healthz");
            match self.fetch(&url).await {
                Ok((200..=299, _)) => {}
                Ok((status, _)) => return Err(format!("{url} answered {status}")),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `GET /nodes` from the first target, parsed.
    pub async fn nodes(&self) -> Result<serde_json::Value, String> {
        let url = format!("{}/nodes", self.bases[0]);
        let (_, body) = self.fetch(&url).await?;
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// A plain GET within 3 s: the status and body.
    async fn fetch(&self, url: &str) -> Result<(u16, Bytes), String> {
        let req = HttpRequest::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad target URL {url:?}: {e}"))?;
        let exchange = async {
            let res = self
                .http
                .request(req)
                .await
                .map_err(|e| format!("cannot reach {url}: {e}"))?;
            let status = res.status().as_u16();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(Duration::from_secs(3), exchange)
            .await
            .map_err(|_| format!("{url} did not answer within 3 s"))?
    }

    /// Sends a request to the next target and reads the whole response.
    pub async fn send(&self, request: &Request) -> Response {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.cycle.len();
        let base = &self.bases[self.cycle[slot]];
        match tokio::time::timeout(self.timeout, self.exchange(base, request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => Response::failed(e),
            Err(_) => Response::failed(format!("timeout after {:?}", self.timeout)),
        }
    }

    async fn exchange(&self, base: &str, request: &Request) -> Result<Response, String> {
        let (method, url, body) = match request.op {
            Op::Get => (Method::GET, key_url(base, &request.key), Bytes::new()),
            Op::Delete => (Method::DELETE, key_url(base, &request.key), Bytes::new()),
            Op::Set => (
                Method::POST,
                format!("{base}/cache"),
                Bytes::from(request.body.clone().unwrap_or_default()),
            ),
        };
        let mut req = HttpRequest::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        for (name, value) in self.headers.iter() {
            req.headers_mut().append(name.clone(), value.clone());
        }
        let res = self
            .http
            .request(req)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = res.status().as_u16();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (nodes, source) = (header("x-cache-node"), header("x-cache-source"));
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
            source,
            bytes_received: body.len() as u64,
            error,
        })
    }
}

fn key_url(base: &str, key: &str) -> String {
    let mut url = format!("{base}/cache/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Parses `--header 'Name: value'`.
///
/// # Errors
/// No colon, or a name or value HTTP does not allow, in words.
pub fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("header {s:?} is not 'Name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("header {s:?}: {:?} is not a header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("header {s:?}: the value has characters HTTP does not allow"))?;
    Ok((name, value))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_or_say_why_not() {
        let (name, value) = parse_header("X-Write-Ack: all").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("x-write-ack", "all")
        );
        assert!(
            parse_header("X-Write-Ack all")
                .unwrap_err()
                .contains("is not 'Name: value'")
        );
        assert!(
            parse_header("Bad Name: x")
                .unwrap_err()
                .contains("is not a header name")
        );
        assert!(
            parse_header("X-A: line\nbreak")
                .unwrap_err()
                .contains("does not allow")
        );
    }
}
