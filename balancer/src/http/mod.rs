//! The HTTP front end: connections accepted within their bounds by the
//! `frontdoor` crate (through a TLS handshake first when configured,
//! `crate::tls`), then each request through the tower stack of
//! `stack.rs` to its handler.
//!
//! Request path: `frontdoor::serve` accepts a connection -> `stack::Front`
//! answers a CORS preflight itself (`cors/`), sends a data request (cache
//! or user route) through the bounds (metrics, `rescue.rs`, body
//! deadline, load shedding, request deadline) to `routes::cache`, an
//! operator request to `routes::admin` -> the handler in `routes.rs`
//! (cache operations), `users/` (the user-record API), `admin.rs`
//! (nodes, health, metrics, the dashboard) or `admin_api/` (nodes added
//! and drained, the rebalancer paused, through ZooKeeper) does the work
//! and turns the outcome into a response with `reply.rs`.
//!
//! Public only for its pure parsers ([`body`], answering [`rejection`]s),
//! which the fuzz targets in `fuzz/` drive.

mod admin;
mod admin_api;
pub mod body;
mod cors;
mod measure;
mod paths;
mod query;
pub mod rejection;
mod reply;
mod rescue;
mod routes;
mod shed;
mod stack;
mod upload;
mod users;

use std::sync::Arc;

use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::App;

/// Serves `app` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish for up to the configured grace period.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) {
    let service = TowerToHyperService::new(stack::front(app.clone()));
    let closed = {
        let metrics = app.metrics.clone();
        move |why: &'static str| metrics.connection_closed(why)
    };
    let limits = app.config.server.connection_limits();
    let grace = app.config.timeouts.shutdown_grace;
    let tls = app.tls.clone();
    frontdoor::serve(listener, tls, limits, service, closed, shutdown, grace).await;
}
