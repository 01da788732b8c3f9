//! Operator endpoints: `/nodes`, `/healthz` (alias `/health`), `/readyz`,
//! `/metrics`, `/stats`, the `/dashboard` page that polls `/nodes` and
//! `/stats`, and `/openapi.json`. The page is `dashboard.html` and the
//! contract `openapi.json`, both built into the binary: the page fetches
//! nothing from anywhere but this balancer.

use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};

use super::reply::{self, Reply};
use crate::App;

/// `GET /nodes`: every data node with its state, memory and placements.
pub(super) fn nodes(app: &App) -> Reply {
    let views = app.nodes.current().views();
    let when_full = app.config.replication.when_full;
    let misfits: Vec<&str> = views
        .iter()
        .filter(|v| {
            v.maxmemory_policy
                .as_deref()
                .is_some_and(|p| !when_full.fits(p))
        })
        .map(|v| v.id.as_str())
        .collect();
    let body = serde_json::json!({
        "when_full": {"policy": when_full, "nodes_not_fitting": misfits},
        "nodes": views,
        "rejected_nodes": app.nodes.rejected(),
        "emptied_nodes": app.nodes.emptied(),
        "near_cache": app.near.view(),
        "location_cache": {"index_stream": app.locations.stream_state()},
        "index": {"complete": app.index.is_complete()},
        "coordination": app.coordinator.view(),
        "rebalance": app.rebalance.view(),
    });
    reply::json(StatusCode::OK, body.to_string())
}

/// `GET /healthz`: the process is alive.
pub(super) fn healthz() -> Reply {
    reply::json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// `GET /readyz`: 200 when the index answers and at least one node is up.
/// ZooKeeper's state is shown but does not decide: without it the balancer
/// serves with the membership it last knew.
pub(super) async fn readyz(app: &App) -> Reply {
    let index = app.index.ping().await;
    let table = app.nodes.current();
    let nodes_up = table.up_count();
    let ready = index.is_ok() && nodes_up > 0;
    let body = serde_json::json!({
        "ready": ready,
        "index": match &index { Ok(()) => "up".to_string(), Err(e) => e.to_string() },
        "nodes_up": nodes_up,
        "nodes_total": table.all().len(),
        "zookeeper": app.coordinator.view().zookeeper,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply::json(status, body.to_string())
}

/// `GET /metrics`: Prometheus text format.
pub(super) fn metrics(app: &App) -> Reply {
    app.near.record_size();
    let mut reply = reply::json(StatusCode::OK, app.metrics.render());
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    reply
}

/// `GET /stats`: the dashboard's figures, from the metrics (see
/// [`crate::metrics::Stats`]).
pub(super) fn stats(app: &App) -> Reply {
    let body = serde_json::to_string(&app.metrics.stats()).expect("stats serialize");
    reply::json(StatusCode::OK, body)
}

/// The dashboard page: HTML, CSS and script in one file, no external
/// resources.
const DASHBOARD: &str = include_str!("dashboard.html");

/// The page may run its own inline script and style and fetch from this
/// balancer only: the browser enforces "no external fetch".
const DASHBOARD_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src data:";

/// `GET /dashboard`: a live page of the nodes and the traffic.
pub(super) fn dashboard() -> Reply {
    let mut reply = reply::json(StatusCode::OK, DASHBOARD);
    let headers = reply.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(DASHBOARD_POLICY),
    );
    reply
}

/// The OpenAPI 3.1 contract of every route; a test in `paths.rs` holds the
/// routing table to it and schemathesis holds the answers to it.
const OPENAPI: &str = include_str!("openapi.json");

/// `GET /openapi.json`: the API's contract.
pub(super) fn openapi() -> Reply {
    reply::json(StatusCode::OK, OPENAPI)
}
