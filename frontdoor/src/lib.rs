//! The HTTP/1.1 front door of the balancer and of the probe agent: the
//! accept loop, and the bounds that keep a few slow, idle or numerous
//! clients from holding every socket and task of the process.
//!
//! The rules (times from [`Limits`]):
//! - past `max_connections` open connections, a new one is answered
//!   `503` with `Retry-After` and closed at once; open ones keep working;
//! - a connection's [`Handshake`] (none for plain HTTP, TLS for HTTPS)
//!   must end within `header_read_timeout` of its accept, or it is closed
//!   (see `handshake.rs`); it holds its connection's slot meanwhile;
//! - once the first byte of a request has arrived, its headers must be
//!   complete within `header_read_timeout`, or the connection is closed
//!   (at most one more `header_read_timeout` later: see `watchdog.rs`);
//! - a connection with no request in flight and no byte of a next one
//!   (after its last response, or since it opened) is closed after
//!   `idle_timeout`. A long poll is a request in flight, never idle: the
//!   time a request (its body included) may take is the service's to
//!   bound.
//!
//! On shutdown the listener closes and open requests get a grace period.
//! What each connection is doing, and when it is closed, lives in
//! `watchdog.rs`.
//!
//! A refused connection's `503` is written on the bare socket, before any
//! handshake: a TLS client sees the connection fail rather than the
//! answer, which costs the server nothing while it is full.

mod handshake;
mod watchdog;

use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub use handshake::{Handshake, Plain};
use watchdog::{Activity, InFlight, Watched, watch};
pub use watchdog::{Limits, Snapshot, Verdict, judge};

/// The body of the answer to a connection past the limit.
const REFUSED: &str = r#"{"error":"too_many_connections","message":"the connection limit is reached; try again later"}"#;

/// The label [`serve`] reports for a connection refused at the limit.
pub const REFUSED_LABEL: &str = "refused";

/// The label [`serve`] reports for a connection whose handshake did not
/// end within `header_read_timeout`.
pub const SLOW_HANDSHAKE_LABEL: &str = "slow_handshake";

/// Errors a service may end a request with (hyper's bound).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `service` on `listener`, each connection through `handshake`
/// first, within `limits` until `shutdown` completes, then lets open
/// requests finish for up to `grace`.
///
/// `closed` hears why each connection the front door closed early was
/// closed: a [`Verdict::name`], [`REFUSED_LABEL`] or
/// [`SLOW_HANDSHAKE_LABEL`]. A handshake that fails (a plain HTTP client
/// on a TLS port) closes its connection and is logged at debug level.
pub async fn serve<H, S, B>(
    listener: TcpListener,
    handshake: H,
    limits: Limits,
    service: S,
    closed: impl Fn(&'static str) + Clone + Send + 'static,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    H: Handshake,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            closed(REFUSED_LABEL);
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handshake = handshake.clone();
        let service = service.clone();
        let closed = closed.clone();
        // Taken now, before `shutdown` can be signalled, so a connection
        // still shaking hands is drained like the others.
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let shaking =
                tokio::time::timeout(limits.header_read_timeout, handshake.handshake(stream));
            let stream = match shaking.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "handshake failed");
                    return;
                }
                Err(_) => {
                    closed(SLOW_HANDSHAKE_LABEL);
                    return;
                }
            };
            let activity = Arc::new(Activity::new());
            let io = TokioIo::new(Watched {
                inner: stream,
                activity: activity.clone(),
            });
            let tracked = {
                let activity = activity.clone();
                service_fn(move |req| {
                    let guard = InFlight::start(activity.clone());
                    let answer = service.call(req);
                    async move {
                        let answer = answer.await;
                        drop(guard);
                        answer
                    }
                })
            };
            let conn = watcher.watch(http1::Builder::new().serve_connection(io, tracked));
            tokio::select! {
                ended = conn => if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                verdict = watch(&activity, &limits) => closed(verdict.name()),
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "grace period over, dropping connections"),
    }
}

/// Answers `503` and closes, without waiting long for a slow reader.
async fn refuse(mut stream: TcpStream) {
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{REFUSED}",
        REFUSED.len()
    );
    let write = stream.write_all(reply.as_bytes());
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}
