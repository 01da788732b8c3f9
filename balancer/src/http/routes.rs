//! The routing table and the cache handlers.
//!
//! | method | path | handler |
//! | --- | --- | --- |
//! | POST | `/cache` | [`put`]: store a key (201 new, 200 replaced) |
//! | GET | `/cache/{key}` | [`get`]: 200 with the value, 404 on a miss |
//! | DELETE | `/cache/{key}` | [`delete`]: 204, or 404 when absent |
//! | GET | `/nodes`, `/healthz`, `/readyz`, `/metrics` | `admin.rs` |

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use tokio::time::Instant;

use super::reply::{self, Reply};
use super::{admin, body};
use crate::App;
use crate::error::Error;

/// Sends a request to its handler.
pub(super) async fn dispatch(app: &App, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route_error = |allowed| Error::MethodNotAllowed {
        method: method.to_string(),
        allowed,
    };
    let result = match (path.as_str(), &method) {
        ("/cache", &Method::POST) => Ok(timed(app, "set", put(app, req.into_body())).await),
        ("/cache", _) => Err(route_error("POST")),
        (p, m) if p.starts_with("/cache/") => {
            let encoded = &p["/cache/".len()..];
            match *m {
                Method::GET => Ok(timed(app, "get", get(app, encoded)).await),
                Method::DELETE => Ok(timed(app, "delete", delete(app, encoded)).await),
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
        _ => Err(Error::RouteNotFound(path.clone())),
    };
    result.unwrap_or_else(|e| reply::error(&e))
}

/// What a cache handler returns: the reply and its outcome label.
type Outcome = Result<(Reply, &'static str), Error>;

/// Runs a cache handler under the request budget and records its metrics.
async fn timed(app: &App, op: &'static str, handler: impl Future<Output = Outcome>) -> Reply {
    let start = Instant::now();
    let result = tokio::time::timeout(app.config.request_timeout(), handler)
        .await
        .unwrap_or(Err(Error::Timeout));
    let (reply, outcome) = result.unwrap_or_else(|e| {
        let client = e.status_and_code().0.is_client_error();
        (
            reply::error(&e),
            if client {
                "client_error"
            } else {
                "server_error"
            },
        )
    });
    app.metrics.requests.with_label_values(&[op, outcome]).inc();
    app.metrics
        .latency
        .with_label_values(&[op])
        .observe(start.elapsed().as_secs_f64());
    reply
}

/// `POST /cache`.
async fn put(app: &App, body: Incoming) -> Outcome {
    let bytes = body::read(body, &app.config.limits).await?;
    let req = body::parse_put(&bytes, &app.config.limits)?;
    let written = app.cache.put(&req.key, &req.json, req.ttl).await?;
    let (status, outcome) = if written.created {
        (StatusCode::CREATED, "created")
    } else {
        (StatusCode::OK, "updated")
    };
    let body = serde_json::json!({
        "key": req.key,
        "node": &*written.node,
        "created": written.created,
        "ttl": req.ttl,
    });
    let reply = reply::json(status, body.to_string());
    Ok((reply::with_nodes(reply, &[written.node]), outcome))
}

/// `GET /cache/{key}`.
async fn get(app: &App, encoded: &str) -> Outcome {
    let key = body::key_from_path(encoded, &app.config.limits)?;
    let Some(found) = app.cache.get(&key).await? else {
        return Ok((reply::error(&Error::KeyNotFound), "miss"));
    };
    let value = std::str::from_utf8(&found.value.json).map_err(|_| Error::NotJson)?;
    let key_json = serde_json::to_string(&key).expect("a string serializes");
    let ttl = found
        .value
        .ttl
        .map_or("null".to_string(), |t| t.to_string());
    let body = format!(r#"{{"key":{key_json},"value":{value},"ttl":{ttl}}}"#);
    let reply = reply::json(StatusCode::OK, body);
    Ok((reply::with_nodes(reply, &[found.node]), "hit"))
}

/// `DELETE /cache/{key}`.
async fn delete(app: &App, encoded: &str) -> Outcome {
    let key = body::key_from_path(encoded, &app.config.limits)?;
    match app.cache.delete(&key).await? {
        Some(nodes) => {
            let reply = reply::empty(StatusCode::NO_CONTENT);
            Ok((reply::with_nodes(reply, &nodes), "deleted"))
        }
        None => Ok((reply::error(&Error::KeyNotFound), "miss")),
    }
}
