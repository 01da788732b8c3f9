//! The agent's HTTP connections: accepted up to a limit, and closed when
//! a client is too slow with a request's headers or sits idle between
//! requests, so a few slow or forgotten clients cannot hold every socket
//! and task of a process that runs on every data host.
//!
//! The rules (times from [`Limits`]):
//! - past `max_connections` open connections, a new one is answered
//!   `503` and closed at once;
//! - once the first byte of a request has arrived, its headers must be
//!   complete within `header_read_timeout`, or the connection is closed;
//! - a connection with no request in flight and no byte of a next one
//!   (after its last response, or since it opened) is closed after
//!   `idle_timeout`. A long poll is a request in flight, never idle.
//!
//! hyper's own `header_read_timeout` is not used: its clock also runs
//! while a kept-alive connection waits for the next request, so it cannot
//! tell a slow client from an idle one. Here the IO ([`Watched`]) notes
//! the first byte of each request and the service notes requests in
//! flight; [`judge`], pure, decides.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::http::{self, State};

/// The body of the answer to a connection past the limit.
const REFUSED: &str = r#"{"error":"too_many_connections","message":"the agent's connection limit is reached; try again later"}"#;

/// How connections are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a request's first byte to its complete headers.
    pub header_read_timeout: Duration,
    /// With no request in flight and none begun.
    pub idle_timeout: Duration,
    /// Open connections at once.
    pub max_connections: usize,
}

/// Why a connection was closed early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do yet; look again after this long.
    Wait(Duration),
    /// Headers not complete within `header_read_timeout`.
    SlowHeaders,
    /// Idle for `idle_timeout`.
    Idle,
}

impl Verdict {
    /// The label of `dlb_probe_connections_closed_total`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Wait(_) => "open",
            Verdict::SlowHeaders => "slow_headers",
            Verdict::Idle => "idle",
        }
    }
}

/// What a connection was doing at one moment, times since it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// A request's response is not produced yet.
    pub in_flight: bool,
    /// When it last began waiting for a request.
    pub waiting_since: Duration,
    /// When the first byte of the next request came, if one has.
    pub first_byte: Option<Duration>,
}

/// What to do with a connection in state `s` at `now`.
pub fn judge(s: Snapshot, now: Duration, limits: &Limits) -> Verdict {
    if s.in_flight {
        return Verdict::Wait(limits.header_read_timeout.min(limits.idle_timeout));
    }
    let (deadline, verdict) = match s.first_byte {
        Some(at) => (at + limits.header_read_timeout, Verdict::SlowHeaders),
        None => (s.waiting_since + limits.idle_timeout, Verdict::Idle),
    };
    match deadline.checked_sub(now) {
        Some(left) if !left.is_zero() => Verdict::Wait(left),
        _ => verdict,
    }
}

/// Serves `state` on `listener` within `limits` until `shutdown`
/// completes; open requests get two seconds to finish.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    state: State,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            state.metrics.connection_closed("refused");
            tokio::spawn(refuse(stream));
            continue;
        };
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = {
            let (state, activity) = (state.clone(), activity.clone());
            service_fn(move |req| {
                let state = state.clone();
                let guard = InFlight::start(activity.clone());
                async move {
                    let reply = http::route(&state, req).await;
                    drop(guard);
                    Ok::<_, Infallible>(reply)
                }
            })
        };
        let conn = graceful.watch(http1::Builder::new().serve_connection(io, service));
        let metrics = state.metrics.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = conn => {}
                verdict = watch(&activity, &limits) => metrics.connection_closed(verdict.name()),
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}

/// Answers `503` and closes, without waiting long for a slow reader.
async fn refuse(mut stream: TcpStream) {
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{REFUSED}",
        REFUSED.len()
    );
    let write = stream.write_all(reply.as_bytes());
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// Returns once [`judge`] closes the connection. Waits until the
/// deadline judged, or until a request's first byte starts its header
/// clock, whichever comes first.
async fn watch(activity: &Activity, limits: &Limits) -> Verdict {
    loop {
        match judge(activity.snapshot(), activity.opened.elapsed(), limits) {
            Verdict::Wait(left) => tokio::select! {
                () = tokio::time::sleep(left) => {}
                () = activity.first_byte_came.notified() => {}
            },
            verdict => return verdict,
        }
    }
}

/// Marks "no byte of a next request yet".
const NONE: u64 = u64::MAX;

/// What one connection is doing, shared by its IO, service and watchdog;
/// times in milliseconds since it opened.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicU32,
    waiting_since_ms: AtomicU64,
    first_byte_ms: AtomicU64,
    /// Wakes the watchdog, asleep until an idle deadline, when a request
    /// begins.
    first_byte_came: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            waiting_since_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(NONE),
            first_byte_came: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn snapshot(&self) -> Snapshot {
        let first = self.first_byte_ms.load(Ordering::Acquire);
        Snapshot {
            in_flight: self.in_flight.load(Ordering::Acquire) > 0,
            waiting_since: Duration::from_millis(self.waiting_since_ms.load(Ordering::Acquire)),
            first_byte: (first != NONE).then(|| Duration::from_millis(first)),
        }
    }

    /// Bytes arrived: the first while waiting starts the header clock.
    fn read_some(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .first_byte_ms
                .compare_exchange(NONE, self.now_ms(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.first_byte_came.notify_one();
        }
    }
}

/// A request in flight on its connection, from its complete headers to
/// its response; the connection waits again when the last one ends.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.first_byte_ms.store(NONE, Ordering::Release);
        a.waiting_since_ms.store(a.now_ms(), Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's socket that tells its [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header_read_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(30),
        max_connections: 8,
    };

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_silent_connection_is_idle_after_the_idle_timeout_only() {
        let silent = Snapshot {
            in_flight: false,
            waiting_since: at(0),
            first_byte: None,
        };
        assert_eq!(judge(silent, at(6), &LIMITS), Verdict::Wait(at(24)));
        assert_eq!(judge(silent, at(30), &LIMITS), Verdict::Idle);
        let after_a_response = Snapshot {
            waiting_since: at(100),
            ..silent
        };
        assert_eq!(
            judge(after_a_response, at(129), &LIMITS),
            Verdict::Wait(at(1))
        );
    }

    #[test]
    fn headers_begun_must_end_within_the_header_timeout() {
        let begun = Snapshot {
            in_flight: false,
            waiting_since: at(0),
            first_byte: Some(at(20)),
        };
        assert_eq!(judge(begun, at(22), &LIMITS), Verdict::Wait(at(3)));
        assert_eq!(judge(begun, at(25), &LIMITS), Verdict::SlowHeaders);
    }

    #[test]
    fn a_request_in_flight_is_never_closed() {
        let polling = Snapshot {
            in_flight: true,
            waiting_since: at(0),
            first_byte: Some(at(0)),
        };
        assert_eq!(judge(polling, at(3600), &LIMITS), Verdict::Wait(at(5)));
    }
}
