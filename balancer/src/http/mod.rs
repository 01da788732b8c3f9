//! The HTTP front end: an HTTP/1.1 accept loop with graceful shutdown, and
//! a router that sends each request to its handler.
//!
//! Request path: [`serve`] accepts a connection -> [`routes::dispatch`]
//! picks the handler by method and path -> the handler in `routes.rs`
//! (cache operations) or `admin.rs` (nodes, health, metrics) calls
//! [`crate::ops::Ops`] and turns the outcome into a response with
//! `reply.rs`.

mod admin;
mod body;
mod rejection;
mod reply;
mod routes;

use std::convert::Infallible;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::App;

/// Serves `app` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish for up to the configured grace period.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(routes::dispatch(&app, req).await) }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let grace = app.config.timeouts.shutdown_grace;
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "grace period over, dropping connections"),
    }
}
