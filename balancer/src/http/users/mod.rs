//! The user-record API, the routes of the prototype this project
//! replaces: `POST /createUser`, `/getUser`, `/updateUser`,
//! `/deleteUser` and `GET /getAllUsers`.
//!
//! Each user is the cache key `user:{username}` holding
//! `{"name", "email", "username"}`, written and read through the same
//! [`crate::ops::Ops`] as `/cache` (placement, replication, the near
//! cache), with the TTL of `[users] ttl_secs`. The listing pages through
//! the user index in the index Redis (`index/users.rs`), never through
//! the data nodes: a create or update adds or refreshes the user's entry
//! *before* it writes the record (so a write that fails, or whose outcome
//! is unknown, leaves at most an entry that lists no one rather than a
//! user missing from the listing; README "User API" lists the races that
//! remain), a delete removes it once the tombstone is
//! acknowledged, or finds no user (so a retried delete clears an entry a
//! failed write left), and each listed user is then read with `ops.get`
//! (one that misses, or whose record is not a user, is left out, its
//! entry left alone).
//!
//! The POST routes take only bodies sent as `application/json` (415
//! otherwise; see `input::check_json_type`).
//!
//! The POST routes take no query parameter, `getAllUsers` only `cursor`
//! and `limit` (`query.rs`). `input.rs` checks what clients send, `shape.rs` shapes the answers;
//! this file does the I/O between them.

mod input;
mod shape;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use hyper::{Request, StatusCode};

use self::input::User;
pub(super) use self::input::check_json_type;
pub(super) use self::shape::Route;
use super::query;
use super::rejection::Rejection;
use super::reply::{self, Reply};
use crate::App;
use crate::answer::Written;
use crate::error::Error;
use crate::failures::FailureLog;
use crate::index::IndexError;

/// Users of a page read from the nodes at once.
const PAGE_READS_IN_FLIGHT: usize = 16;

/// A request for a user route, its body read and its method checked
/// (`paths.rs`).
pub(super) async fn handle(app: &App, route: Route, req: Request<Bytes>) -> Reply {
    let (parts, body) = req.into_parts();
    if route != Route::List {
        let content_type = parts.headers.get(hyper::header::CONTENT_TYPE);
        let content_type = content_type.map(|c| c.to_str().unwrap_or("(not text)"));
        if let Err(e) = input::check_json_type(content_type) {
            return rejected(&app.failures, route, &e);
        }
    }
    let result = match route {
        Route::Create => create(app, parts.uri.query(), &body).await,
        Route::Get => get(app, parts.uri.query(), &body).await,
        Route::Update => update(app, parts.uri.query(), &body).await,
        Route::Delete => delete(app, parts.uri.query(), &body).await,
        Route::List => list(app, parts.uri.query()).await,
    };
    result.unwrap_or_else(|e| rejected(&app.failures, route, &e))
}

/// `e` as `route` answers it.
pub(super) fn rejected(failures: &FailureLog, route: Route, e: &Rejection) -> Reply {
    reply::rejected_with(failures, e, shape::error_body(route, e))
}

/// The cache key of a user.
fn key(username: &str) -> String {
    format!("user:{username}")
}

/// The user index could not be used: a 503 like the cache routes' when
/// the index fails them.
fn index_failed(app: &App, e: IndexError) -> Rejection {
    app.metrics.count_index_error(&e);
    Rejection::Failed(Error::unrecorded(e))
}

/// Adds (or refreshes) `user`'s user-index entry, then stores it. The
/// entry outlives the record by the request deadline, the longest the
/// write may take after it.
async fn store(app: &App, user: &User) -> Result<Written, Rejection> {
    let ttl_ms = app.config.users.ttl.as_millis() as u64;
    let entry_ms = ttl_ms + app.config.timeouts.request.as_millis() as u64;
    app.index
        .add_user(&user.username, entry_ms)
        .await
        .map_err(|e| index_failed(app, e))?;
    let json = serde_json::to_string(user).expect("a user serializes");
    Ok(app
        .ops
        .put(&key(&user.username), &json, Some(ttl_ms), None)
        .await?)
}

/// `POST /createUser`: 201 when new, 200 when it replaced a user.
async fn create(app: &App, query: Option<&str>, body: &[u8]) -> Result<Reply, Rejection> {
    query::params(query, &[])?;
    let user = input::parse_user(body)?;
    let written = store(app, &user).await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let reply = reply::json(status, shape::done(status));
    Ok(reply::with_nodes(reply, &written.nodes))
}

/// `POST /getUser`.
async fn get(app: &App, query: Option<&str>, body: &[u8]) -> Result<Reply, Rejection> {
    query::params(query, &[])?;
    let username = input::parse_username(body, "username")?;
    let found = app
        .ops
        .get(&key(&username))
        .await?
        .ok_or(Rejection::UserNotFound)?;
    let user = input::stored_user(&found.json, &username)?;
    let reply = reply::json(StatusCode::OK, shape::fetched(&user));
    Ok(reply::with_nodes(reply, &[found.node]))
}

/// `POST /updateUser`: a read, then a write; 404 when the read misses.
async fn update(app: &App, query: Option<&str>, body: &[u8]) -> Result<Reply, Rejection> {
    query::params(query, &[])?;
    let user = input::parse_user(body)?;
    if app.ops.get(&key(&user.username)).await?.is_none() {
        return Err(Rejection::UserNotFound);
    }
    let written = store(app, &user).await?;
    let reply = reply::json(StatusCode::OK, shape::done(StatusCode::OK));
    Ok(reply::with_nodes(reply, &written.nodes))
}

/// `POST /deleteUser` with `{"id": username}`.
async fn delete(app: &App, query: Option<&str>, body: &[u8]) -> Result<Reply, Rejection> {
    query::params(query, &[])?;
    let username = input::parse_username(body, "id")?;
    let deleted = app.ops.delete(&key(&username), None).await?;
    app.index
        .remove_user(&username)
        .await
        .map_err(|e| index_failed(app, e))?;
    let deleted = deleted.ok_or(Rejection::UserNotFound)?;
    let reply = reply::json(StatusCode::OK, shape::done(StatusCode::OK));
    Ok(reply::with_nodes(reply, &deleted.nodes))
}

/// `GET /getAllUsers?cursor=&limit=`: one page of the user index, each
/// user read from the nodes; `next_cursor` is the page's last username
/// while more follow. A user that misses, or whose key holds something
/// else, is left out of the page.
async fn list(app: &App, query: Option<&str>) -> Result<Reply, Rejection> {
    let params = query::params(query, &["cursor", "limit"])?;
    let query = input::parse_page(&params)?;
    let page = app
        .index
        .user_page(query.after.as_deref(), query.limit)
        .await
        .map_err(|e| index_failed(app, e))?;
    let reads: Vec<_> = stream::iter(page.usernames.iter().cloned())
        .map(|username| async move {
            let read = app.ops.get(&key(&username)).await;
            (username, read)
        })
        .buffered(PAGE_READS_IN_FLIGHT)
        .collect()
        .await;
    let mut users = Vec::with_capacity(reads.len());
    for (username, read) in reads {
        match read {
            Ok(Some(found)) => users.extend(input::stored_user(&found.json, &username).ok()),
            Ok(None) | Err(Error::NotJson) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let next_cursor = page
        .more
        .then(|| page.usernames.last().map(String::as_str))
        .flatten();
    let body = shape::listed(page.count, &users, next_cursor);
    Ok(reply::json(StatusCode::OK, body))
}
