//! The watchdog of one connection: what it is doing (a request in flight,
//! waiting for one, a request's headers begun) and the pure rule,
//! [`judge`], that says when to close it.
//!
//! hyper's own `header_read_timeout` is not used: its clock also runs
//! while a kept-alive connection waits for the next request, so it cannot
//! tell a slow client from an idle one. Here the IO ([`Watched`]) notes
//! the first byte of each request and the service notes requests in
//! flight ([`InFlight`]); [`judge`], pure, decides.
//!
//! Nothing wakes the watchdog when a request begins: waking it cost
//! about 2,500 instructions a request (callgrind, BENCHMARKS.md,
//! "Overload"). It looks at least every `header_read_timeout` instead,
//! so headers begun while it sleeps are cut between one and two header
//! timeouts after their first byte.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

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
    /// Its label in a closed-connections counter.
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

/// What to do with a connection in state `s` at `now`; never waits
/// longer than `header_read_timeout`, since a request may begin meanwhile.
pub fn judge(s: Snapshot, now: Duration, limits: &Limits) -> Verdict {
    let look_again = limits.header_read_timeout;
    if s.in_flight {
        return Verdict::Wait(look_again.min(limits.idle_timeout));
    }
    let (deadline, verdict) = match s.first_byte {
        Some(at) => (at + limits.header_read_timeout, Verdict::SlowHeaders),
        None => (s.waiting_since + limits.idle_timeout, Verdict::Idle),
    };
    match deadline.checked_sub(now) {
        Some(left) if !left.is_zero() => Verdict::Wait(left.min(look_again)),
        _ => verdict,
    }
}

/// Returns once [`judge`] closes the connection.
pub(crate) async fn watch(activity: &Activity, limits: &Limits) -> Verdict {
    loop {
        match judge(activity.snapshot(), activity.opened.elapsed(), limits) {
            Verdict::Wait(left) => tokio::time::sleep(left).await,
            verdict => return verdict,
        }
    }
}

/// Marks "no byte of a next request yet".
const NONE: u64 = u64::MAX;

/// What one connection is doing, shared by its IO, service and watchdog;
/// times in milliseconds since it opened.
#[derive(Debug)]
pub(crate) struct Activity {
    opened: Instant,
    in_flight: AtomicU32,
    waiting_since_ms: AtomicU64,
    first_byte_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            waiting_since_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(NONE),
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
            && self.first_byte_ms.load(Ordering::Acquire) == NONE
        {
            let _ = self.first_byte_ms.compare_exchange(
                NONE,
                self.now_ms(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
}

/// A request in flight on its connection, from its complete headers to
/// its response; the connection waits again when the last one ends.
pub(crate) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(crate) fn start(activity: Arc<Activity>) -> InFlight {
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

/// A connection's stream (after its handshake: for TLS, the plaintext)
/// that tells its [`Activity`] when bytes arrive.
pub(crate) struct Watched<S> {
    pub(crate) inner: S,
    pub(crate) activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
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

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
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
        assert_eq!(judge(silent, at(6), &LIMITS), Verdict::Wait(at(5)));
        assert_eq!(judge(silent, at(27), &LIMITS), Verdict::Wait(at(3)));
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
