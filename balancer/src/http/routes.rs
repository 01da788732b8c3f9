//! The handlers of the data routes, and the dispatch of every route to
//! its handler, as the table of `paths.rs` decides:
//!
//! | method | path | handler |
//! | --- | --- | --- |
//! | POST | `/cache` | [`put`]: store a key (201 new, 200 replaced) |
//! | GET | `/cache/{key}` | [`get`]: 200 with the value and its version, 404 on a miss |
//! | DELETE | `/cache/{key}` | [`delete`]: 204, or 404 when absent |
//! | POST | `/createUser` | `users/`: store a user (201 new, 200 replaced) |
//! | POST | `/getUser` | `users/`: 200 with the user, 404 when absent |
//! | POST | `/updateUser` | `users/`: replace a user, 404 when absent |
//! | POST | `/deleteUser` | `users/`: 200, or 404 when absent |
//! | GET | `/getAllUsers?cursor=&limit=` | `users/`: a page of users, from the user index |
//! | GET | `/nodes`, `/healthz` (or `/health`), `/readyz`, `/metrics`, `/stats`, `/dashboard`, `/openapi.json` | `admin.rs` |
//! | GET, POST | `/admin/nodes`, `/admin/rebalance` | `admin_api/`, with `admin_token` |
//! | POST | `/admin/nodes/{id}/drain` | `admin_api/` |
//! | POST | `/admin/nodes/{id}/activate` | `admin_api/` |
//! | DELETE | `/admin/nodes/{id}[?force=true]` | `admin_api/` |
//! | OPTIONS | any, as a CORS preflight | `cors/`, when `[cors]` allows the origin (`stack.rs`) |
//!
//! Writes and deletes take their acknowledgement level from `?ack=` or the
//! `X-Write-Ack` header (`one`, `quorum`, `all`), else from the config;
//! any other query parameter is refused (`query.rs`).
//!
//! Data requests (cache and user routes) reach [`cache`] through the
//! bounds of `stack.rs`, their bodies already read and their handler in
//! their extensions; the operator routes reach [`admin`] directly.
//! [`rejected`] answers a rejection in the body shape of the route it
//! happened on.

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, StatusCode};

use super::paths::{Data, Operator};
use super::rejection::Rejection;
use super::reply::{self, Reply};
use super::users::{self, Route};
use super::{admin, admin_api, body, query};
use crate::App;
use crate::error::Error;
use crate::failures::FailureLog;

/// `e` answered in the body shape of the route at `route` (from
/// [`Route::of`]): a user route's own, else `{"error", "message"}`.
pub(super) fn rejected(route: Option<Route>, failures: &FailureLog, e: &Rejection) -> Reply {
    match route {
        Some(route) => users::rejected(failures, route, e),
        None => reply::rejected(failures, e),
    }
}

/// A data request, its body read, served by the handler `stack.rs` found
/// for it and put in its extensions.
pub(super) async fn cache(app: &App, req: Request<Bytes>) -> Reply {
    if let Some(&Data::User(route)) = req.extensions().get::<Data>() {
        return users::handle(app, route, req).await;
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let result = match parts.extensions.get::<Data>() {
        Some(Data::PutKey) => put(app, &parts, &body).await,
        Some(Data::GetKey) => get(app, &parts, key_part(path)).await,
        Some(Data::DeleteKey) => delete(app, &parts, key_part(path)).await,
        // A user route was answered above.
        Some(Data::User(_)) | None => Err(Rejection::RouteNotFound(path.to_string())),
    };
    result.unwrap_or_else(|e| reply::rejected(&app.failures, &e))
}

/// The encoded key of a `/cache/{key}` path.
fn key_part(path: &str) -> &str {
    path.strip_prefix("/cache/").unwrap_or_default()
}

/// An operator request; only the admin API reads more of it than its
/// path.
pub(super) async fn admin(app: &App, handler: Operator, req: Request<Incoming>) -> Reply {
    match handler {
        Operator::Admin(route) => admin_api::handle(app, route, req).await,
        Operator::Nodes => admin::nodes(app),
        Operator::Health => admin::healthz(),
        Operator::Ready => admin::readyz(app).await,
        Operator::Metrics => admin::metrics(app),
        Operator::Stats => admin::stats(app),
        Operator::Dashboard => admin::dashboard(),
        Operator::OpenApi => admin::openapi(),
    }
}

/// The body of a `POST /cache` answer, its fields in the order the
/// README shows. Serialized straight from borrowed fields: building a
/// `serde_json::Value` first cost ~6,700 instructions a write (callgrind).
#[derive(serde::Serialize)]
struct PutAnswer<'a> {
    created: bool,
    key: &'a str,
    node: Option<&'a str>,
    nodes: Vec<&'a str>,
    ttl: Option<u64>,
    version: &'a str,
}

/// `POST /cache`.
async fn put(app: &App, parts: &Parts, body: &[u8]) -> Result<Reply, Rejection> {
    let params = query::params(parts.uri.query(), &["ack"])?;
    let ack = query::write_ack(&params, &parts.headers)?;
    let req = body::parse_put(body, &app.config.limits)?;
    let ttl_ms = req.ttl.map(|t| t * 1000);
    let written = app.ops.put(&req.key, &req.json, ttl_ms, ack).await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = PutAnswer {
        created: written.created,
        key: &req.key,
        node: written.nodes.first().map(|n| &**n),
        nodes: written.nodes.iter().map(|n| &**n).collect(),
        ttl: req.ttl,
        version: &written.version,
    };
    let body = serde_json::to_string(&body).expect("a string map serializes");
    let reply = reply::json(status, body);
    Ok(reply::with_nodes(reply, &written.nodes))
}

/// `GET /cache/{key}`.
async fn get(app: &App, parts: &Parts, encoded: &str) -> Result<Reply, Rejection> {
    query::params(parts.uri.query(), &[])?;
    let key = body::key_from_path(encoded, &app.config.limits)?;
    let Some(found) = app.ops.get(&key).await? else {
        return Ok(reply::miss());
    };
    let value = std::str::from_utf8(&found.json).map_err(|_| Rejection::Failed(Error::NotJson))?;
    let key_json = serde_json::to_string(&key).expect("a string serializes");
    let ttl = found
        .ttl_seconds()
        .map_or("null".to_string(), |t| t.to_string());
    let body = format!(r#"{{"key":{key_json},"value":{value},"ttl":{ttl}}}"#);
    let reply = reply::with_version(reply::json(StatusCode::OK, body), &found.version);
    let reply = reply::with_source(reply, found.source.name());
    Ok(reply::with_nodes(reply, &[found.node]))
}

/// `DELETE /cache/{key}`.
async fn delete(app: &App, parts: &Parts, encoded: &str) -> Result<Reply, Rejection> {
    let params = query::params(parts.uri.query(), &["ack"])?;
    let ack = query::write_ack(&params, &parts.headers)?;
    let key = body::key_from_path(encoded, &app.config.limits)?;
    match app.ops.delete(&key, ack).await? {
        Some(deleted) => {
            let reply = reply::empty(StatusCode::NO_CONTENT);
            let reply = reply::with_version(reply, &deleted.version);
            Ok(reply::with_nodes(reply, &deleted.nodes))
        }
        None => Ok(reply::miss()),
    }
}
