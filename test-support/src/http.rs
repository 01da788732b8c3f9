//! A small HTTP/1.1 client for tests: send a request, get status, headers
//! and the body as text or JSON.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled keep-alive client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

/// A response, fully read.
#[derive(Debug)]
pub struct HttpReply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl HttpReply {
    /// The body parsed as JSON; panics when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The `X-Cache-Node` header, if present.
    pub fn node(&self) -> Option<String> {
        self.headers
            .get("x-cache-node")
            .map(|v| v.to_str().expect("ascii header").to_string())
    }
}

impl HttpClient {
    /// A new client.
    pub fn new() -> HttpClient {
        HttpClient {
            inner: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends `method url` with an optional body.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: impl Into<Bytes>,
    ) -> Result<HttpReply, String> {
        self.send_with(method, url, &[], body).await
    }

    /// Sends `method url` with extra headers and an optional body.
    pub async fn send_with(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<HttpReply, String> {
        let mut req = Request::builder().method(method).uri(url);
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Full::new(body.into()))
            .map_err(|e| e.to_string())?;
        let res = self.inner.request(req).await.map_err(|e| e.to_string())?;
        read_reply(res).await
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<HttpReply, String> {
        self.send(Method::GET, url, Bytes::new()).await
    }

    /// `POST url` with a JSON body.
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<HttpReply, String> {
        self.send(Method::POST, url, body.to_string()).await
    }

    /// `DELETE url`.
    pub async fn delete(&self, url: &str) -> Result<HttpReply, String> {
        self.send(Method::DELETE, url, Bytes::new()).await
    }
}

/// Reads a whole response.
pub(crate) async fn read_reply(res: Response<Incoming>) -> Result<HttpReply, String> {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(HttpReply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}
