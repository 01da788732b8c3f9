//! The admin API (issue 14): nodes added, drained and deleted, and the
//! rebalancer paused and started. Every change goes to ZooKeeper, so every
//! balancer follows it (the listings of `background/coordinator.rs`); the
//! keys are moved by the leader's rebalancer, not here.
//!
//! | method | path | answer |
//! | --- | --- | --- |
//! | GET | `/admin/nodes` | 200: the entries `/dlb/nodes/<id>`, each with this balancer's view of the node (`listing.rs`) |
//! | POST | `/admin/nodes` | 201: `{"id", "addr", "weight"}` listed `active`; 409 `node_exists` |
//! | POST | `/admin/nodes/{id}/drain` | 202: the entry, `draining` (again: the same); 409 `node_removed` |
//! | POST | `/admin/nodes/{id}/activate` | 202: the entry, `active`: a drain called off, or a removed node brought back (empty; the leader fills it) |
//! | DELETE | `/admin/nodes/{id}` | 204: a `removed` node's entry deleted; else 409 `node_not_drained` |
//! | DELETE | `/admin/nodes/{id}?force=true` | 202: a dead node marked `draining` with `delete_when_drained`, for the leader to re-replicate its keys and then delete it (204 for a `removed` one) |
//! | GET | `/admin/rebalance` | 200: the rebalancer's status, with `paused` as ZooKeeper holds it and `leader_id` |
//! | POST | `/admin/rebalance` | 200: `{"action": "start" \| "pause"}` written to `/dlb/rebalance` |
//!
//! The rules, in the order they are checked:
//! 1. without `admin_token` the routes are off: `paths.rs` does not route
//!    them (404, as an unknown route);
//! 2. `Authorization: Bearer <admin_token>` (`token.rs`, constant time),
//!    or 401 with `WWW-Authenticate: Bearer`, before the body is read;
//! 3. a POST body must be `application/json` (415), read within
//!    `server.body_timeout_ms` and [`MAX_BODY_BYTES`], then checked
//!    (`input.rs`, 400 naming the field);
//! 4. ZooKeeper: 503 `zookeeper_not_configured` without it, 503
//!    `zookeeper_unavailable` with no session now or no answer within
//!    `timeouts.request_ms` (a change's outcome is then unknown:
//!    `GET /admin/nodes` shows what is listed).
//!
//! They are operator routes: never load-shed, outside the request metrics.
//! The ZooKeeper writes are `coordination::admin`'s, each at the version it
//! read.

mod input;
mod listing;
mod token;

use std::time::Duration;

use bytes::Bytes;
use coordination::admin::{self, AdminError, Change, Outcome, Refusal};
use coordination::paths::RebalanceControl;
use coordination::{Acls, Client};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Request, StatusCode};

use self::input::NewNode;
use self::listing::Entry;
use super::rejection::Rejection;
use super::reply::{self, Reply};
use super::{body, query, users};
use crate::App;

/// Largest admin request body: a node or an action is a few dozen bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The admin routes (`paths.rs` routes each method and path to one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    ListNodes,
    AddNode,
    DrainNode,
    ActivateNode,
    DeleteNode,
    RebalanceStatus,
    SetRebalance,
}

/// What a checked request asks of ZooKeeper.
enum Task {
    ListNodes,
    AddNode(NewNode),
    Change(String, Change),
    RebalanceStatus,
    SetRebalance(RebalanceControl),
}

/// An admin request, answered.
pub(super) async fn handle(app: &App, route: Route, req: Request<Incoming>) -> Reply {
    serve(app, route, req)
        .await
        .unwrap_or_else(|e| reply::rejected(&app.failures, &e))
}

async fn serve(app: &App, route: Route, req: Request<Incoming>) -> Result<Reply, Rejection> {
    let Some(token) = &app.config.admin_token else {
        return Err(Rejection::RouteNotFound(req.uri().path().to_string()));
    };
    token::authorize(token.expose(), req.headers().get(AUTHORIZATION))?;
    let (parts, incoming) = req.into_parts();
    let body = match route {
        Route::AddNode | Route::SetRebalance => read_json(app, &parts, incoming).await?,
        _ => Bytes::new(),
    };
    let task = check(route, &parts, &body)?;
    let (client, acls) = zookeeper(app)?;
    let deadline = app.config.timeouts.request;
    tokio::time::timeout(deadline, run(app, task, &client, acls))
        .await
        .unwrap_or_else(|_| Err(no_answer(deadline)))
}

/// A POST body: declared JSON, read whole within the body deadline.
async fn read_json(app: &App, parts: &Parts, incoming: Incoming) -> Result<Bytes, Rejection> {
    let content_type = parts.headers.get(CONTENT_TYPE);
    users::check_json_type(content_type.map(|c| c.to_str().unwrap_or("(not text)")))?;
    let read = body::read_at_most(incoming, MAX_BODY_BYTES);
    tokio::time::timeout(app.config.server.body_timeout, read)
        .await
        .unwrap_or(Err(Rejection::SlowBody))
}

/// The request's query, path and body, checked.
fn check(route: Route, parts: &Parts, body: &[u8]) -> Result<Task, Rejection> {
    let allowed: &[&'static str] = match route {
        Route::DeleteNode => &["force"],
        _ => &[],
    };
    let params = query::params(parts.uri.query(), allowed)?;
    let id = || {
        let rest = parts.uri.path().strip_prefix("/admin/nodes/");
        input::node_id(rest.and_then(|r| r.split('/').next()).unwrap_or_default())
    };
    Ok(match route {
        Route::ListNodes => Task::ListNodes,
        Route::AddNode => Task::AddNode(input::parse_new_node(body)?),
        Route::DrainNode => Task::Change(id()?, Change::Drain),
        Route::ActivateNode => Task::Change(id()?, Change::Activate),
        Route::DeleteNode => {
            let change = match input::force(query::value(&params, "force"))? {
                true => Change::ForceDelete,
                false => Change::Delete,
            };
            Task::Change(id()?, change)
        }
        Route::RebalanceStatus => Task::RebalanceStatus,
        Route::SetRebalance => Task::SetRebalance(input::parse_control(body)?),
    })
}

/// The live session's client and the ACL new znodes get.
fn zookeeper(app: &App) -> Result<(Client, Acls<'static>), Rejection> {
    let Some(zk) = app.config.zookeeper() else {
        return Err(Rejection::ZooKeeper {
            code: "zookeeper_not_configured",
            message: "the admin API changes what ZooKeeper lists, and this balancer has no \
                      `zookeeper` configured"
                .into(),
        });
    };
    match app.coordinator.live_client() {
        Some(client) => Ok((client, zk.acls())),
        None => Err(unavailable(format!(
            "no ZooKeeper session at {} now ({}); try again shortly",
            zk.address,
            app.coordinator.view().zookeeper
        ))),
    }
}

async fn run(
    app: &App,
    task: Task,
    client: &Client,
    acls: Acls<'static>,
) -> Result<Reply, Rejection> {
    match task {
        Task::ListNodes => {
            let listing = admin::list_nodes(client).await.map_err(zk_failed)?;
            let body = listing::body(&listing, &app.nodes.current().views());
            Ok(reply::json(StatusCode::OK, body))
        }
        Task::AddNode(new) => {
            admin::add_node(client, &new.id, &new.entry, acls)
                .await
                .map_err(|e| refused(&new.id, e))?;
            Ok(entry_reply(
                StatusCode::CREATED,
                Entry::new(&new.id, &new.entry),
            ))
        }
        Task::Change(id, change) => match admin::change_node(client, &id, change).await {
            Ok(Outcome::Entry(entry)) => {
                Ok(entry_reply(StatusCode::ACCEPTED, Entry::new(&id, &entry)))
            }
            Ok(Outcome::Deleted) => Ok(reply::empty(StatusCode::NO_CONTENT)),
            Err(e) => Err(refused(&id, e)),
        },
        Task::RebalanceStatus => {
            let control = admin::read_control(client)
                .await
                .map_err(zk_failed)?
                .map_err(|why| {
                    Rejection::Unreadable(format!(
                        "/dlb/rebalance does not hold a rebalance control ({why}); \
                         POST an action to replace it"
                    ))
                })?;
            let mut body = serde_json::to_value(app.rebalance.view()).expect("a view serializes");
            body["paused"] = control.paused.into();
            body["leader_id"] = app.coordinator.view().leader.into();
            Ok(reply::json(StatusCode::OK, body.to_string()))
        }
        Task::SetRebalance(control) => {
            admin::write_control(client, &control, acls)
                .await
                .map_err(zk_failed)?;
            let body = serde_json::to_string(&control).expect("a control serializes");
            Ok(reply::json(StatusCode::OK, body))
        }
    }
}

fn entry_reply(status: StatusCode, entry: Entry<'_>) -> Reply {
    reply::json(
        status,
        serde_json::to_string(&entry).expect("an entry serializes"),
    )
}

/// A change to node `id` that was not made, as the client is told.
fn refused(id: &str, e: AdminError) -> Rejection {
    let conflict = |code, message| Rejection::Conflict { code, message };
    match e {
        AdminError::NoSuchNode => Rejection::NodeNotFound(id.to_string()),
        AdminError::Exists => conflict(
            "node_exists",
            format!("node {id:?} is listed already; its entry changes through drain and delete"),
        ),
        AdminError::Refused(Refusal::Removed) => conflict(
            "node_removed",
            format!(
                "node {id:?} is removed (the rebalancer emptied it) and is not drained again; \
                 delete its entry, then add it again to use it"
            ),
        ),
        AdminError::Refused(Refusal::NotDrained(state)) => conflict(
            "node_not_drained",
            format!(
                "node {id:?} is {state:?}: only a removed node's entry is deleted (drain it and \
                 wait for the rebalancer to mark it removed), or ?force=true for a dead node"
            ),
        ),
        AdminError::Unreadable(why) => Rejection::Unreadable(format!(
            "/dlb/nodes/{id} does not hold a node entry ({why}); fix or delete it with zkCli.sh"
        )),
        AdminError::ZooKeeper(e) => zk_failed(e),
    }
}

fn zk_failed(e: coordination::Error) -> Rejection {
    unavailable(format!("ZooKeeper failed: {e}"))
}

fn no_answer(deadline: Duration) -> Rejection {
    unavailable(format!(
        "ZooKeeper did not answer within {} ms (timeouts.request_ms); a change may or may not \
         have been made: GET /admin/nodes or /admin/rebalance shows what holds",
        deadline.as_millis()
    ))
}

fn unavailable(message: String) -> Rejection {
    Rejection::ZooKeeper {
        code: "zookeeper_unavailable",
        message,
    }
}
