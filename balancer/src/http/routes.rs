//! The routing table and the cache handlers.
//!
//! | method | path | handler |
//! | --- | --- | --- |
//! | POST | `/cache` | [`put`]: store a key (201 new, 200 replaced) |
//! | GET | `/cache/{key}` | [`get`]: 200 with the value and its version, 404 on a miss |
//! | DELETE | `/cache/{key}` | [`delete`]: 204, or 404 when absent |
//!
//! Writes and deletes take their acknowledgement level from `?ack=` or the
//! `X-Write-Ack` header (`one`, `quorum`, `all`), else from the config.
//! | GET | `/nodes`, `/healthz`, `/readyz`, `/metrics` | `admin.rs` |

use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode};
use tokio::time::Instant;

use super::rejection::Rejection;
use super::reply::{self, Reply};
use super::{admin, body};
use crate::App;
use crate::config::WriteAck;
use crate::error::Error;
use crate::metrics::{Op, Outcome};

/// Sends a request to its handler.
pub(super) async fn dispatch(app: &App, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let path = uri.path();
    let route_error = |allowed| Rejection::MethodNotAllowed {
        method: method.to_string(),
        allowed,
    };
    let result = match (path, &method) {
        ("/cache", &Method::POST) => {
            let (parts, body) = req.into_parts();
            Ok(timed(app, Op::Set, put(app, &parts, body)).await)
        }
        ("/cache", _) => Err(route_error("POST")),
        (p, m) if p.starts_with("/cache/") => {
            let encoded = &p["/cache/".len()..];
            match *m {
                Method::GET => Ok(timed(app, Op::Get, get(app, encoded)).await),
                Method::DELETE => {
                    let (parts, _) = req.into_parts();
                    Ok(timed(app, Op::Delete, delete(app, &parts, encoded)).await)
                }
                _ => Err(route_error("GET, DELETE")),
            }
        }
        ("/nodes" | "/healthz" | "/readyz" | "/metrics", m) if m != Method::GET => {
            Err(route_error("GET"))
        }
        ("/nodes", _) => Ok(admin::nodes(app)),
        ("/healthz", _) => Ok(admin::healthz()),
        ("/readyz", _) => Ok(admin::readyz(app).await),
        ("/metrics", _) => Ok(admin::metrics(app)),
        _ => Err(Rejection::RouteNotFound(path.to_string())),
    };
    result.unwrap_or_else(|e| reply::rejected(&e))
}

/// What a cache handler returns: the reply and how the operation ended.
type Handled = Result<(Reply, Outcome), Rejection>;

/// Runs a cache handler under the request budget and records its metrics.
async fn timed(app: &App, op: Op, handler: impl Future<Output = Handled>) -> Reply {
    let start = Instant::now();
    let result = tokio::time::timeout(app.config.timeouts.request, handler)
        .await
        .unwrap_or(Err(Rejection::Timeout));
    let (reply, outcome) = result.unwrap_or_else(|e| {
        let outcome = if e.status_and_code().0.is_client_error() {
            Outcome::ClientError
        } else {
            Outcome::ServerError
        };
        (reply::rejected(&e), outcome)
    });
    app.metrics
        .record_request(op, outcome, start.elapsed().as_secs_f64());
    reply
}

/// The acknowledgement level a write asks for, if it names one.
fn write_ack(parts: &Parts) -> Result<Option<WriteAck>, Rejection> {
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("ack="))
            .map(str::to_string)
    });
    let from_header = || {
        parts
            .headers
            .get("x-write-ack")
            .map(|v| v.to_str().unwrap_or("").to_string())
    };
    from_query
        .or_else(from_header)
        .map(|text| {
            text.parse()
                .map_err(|m: String| Rejection::bad_request("invalid_ack", m))
        })
        .transpose()
}

/// `POST /cache`.
async fn put(app: &App, parts: &Parts, body: Incoming) -> Handled {
    let ack = write_ack(parts)?;
    let bytes = body::read(body, &app.config.limits).await?;
    let req = body::parse_put(&bytes, &app.config.limits)?;
    let written = app.ops.put(&req.key, &req.json, req.ttl, ack).await?;
    let (status, outcome) = if written.created {
        (StatusCode::CREATED, Outcome::Created)
    } else {
        (StatusCode::OK, Outcome::Updated)
    };
    let body = serde_json::json!({
        "key": req.key,
        "node": written.nodes.first().map(|n| &**n),
        "nodes": written.nodes.iter().map(|n| &**n).collect::<Vec<_>>(),
        "created": written.created,
        "version": written.version,
        "ttl": req.ttl,
    });
    let reply = reply::json(status, body.to_string());
    Ok((reply::with_nodes(reply, &written.nodes), outcome))
}

/// `GET /cache/{key}`.
async fn get(app: &App, encoded: &str) -> Handled {
    let key = body::key_from_path(encoded, &app.config.limits)?;
    let Some(found) = app.ops.get(&key).await? else {
        return Ok((reply::miss(), Outcome::Miss));
    };
    let value = std::str::from_utf8(&found.json).map_err(|_| Rejection::Failed(Error::NotJson))?;
    let key_json = serde_json::to_string(&key).expect("a string serializes");
    let ttl = found
        .ttl_seconds()
        .map_or("null".to_string(), |t| t.to_string());
    let body = format!(r#"{{"key":{key_json},"value":{value},"ttl":{ttl}}}"#);
    let reply = reply::with_version(reply::json(StatusCode::OK, body), &found.version);
    let reply = reply::with_source(reply, found.source.name());
    Ok((reply::with_nodes(reply, &[found.node]), Outcome::Hit))
}

/// `DELETE /cache/{key}`.
async fn delete(app: &App, parts: &Parts, encoded: &str) -> Handled {
    let ack = write_ack(parts)?;
    let key = body::key_from_path(encoded, &app.config.limits)?;
    match app.ops.delete(&key, ack).await? {
        Some(deleted) => {
            let reply = reply::empty(StatusCode::NO_CONTENT);
            let reply = reply::with_version(reply, &deleted.version);
            Ok((reply::with_nodes(reply, &deleted.nodes), Outcome::Deleted))
        }
        None => Ok((reply::miss(), Outcome::Miss)),
    }
}
