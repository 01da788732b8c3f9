//! One server's invalidation stream: a RESP3 connection in
//! `CLIENT TRACKING ON BCAST` mode (optionally for one key prefix), on
//! which the server pushes the name of every key that changes on it
//! (written, deleted, expired, evicted; `null` after a flush), from any
//! client.
//!
//! The stream's own task reads the socket only while a `PING` waits for
//! its `PONG`; otherwise a cache *drains* it, without blocking, right
//! before it serves or stores something from this server. A drain reads
//! for as long as bytes are there to read and applies each invalidated
//! key as soon as its bytes are in ([`super::frames`]), so a backlog of
//! megabytes costs each drain only the bytes it brings.
//!
//! What a drain has read is not everything the server has sent: Redis
//! writes one client at most 64 KiB per event-loop pass, so behind a large
//! backlog a write's invalidation can still wait in the server after the
//! writer has its answer. What bounds the cache is the heartbeat
//! ([`super::heartbeat`]): a `PING` every quarter of the stream's
//! `max_lag` (none while one is unanswered), each noted when sent, and a
//! `PONG` proves every write acknowledged before its `PING` was sent has
//! been applied. A cache
//! serves what it copied from this server only while the newest answered
//! `PING` was sent at most `max_lag` ago, so a hit lags any acknowledged
//! write by at most `max_lag`. That lag is at most half the server's
//! command timeout, less than the time a write needs to give up on a hung
//! server and acknowledge elsewhere. A `PING` unanswered for a whole
//! timeout drops the session, which is then started afresh.
//!
//! A **fence** ([`Stream::fence`]) is a stronger proof, on demand: a
//! caller that acts on something it cached asks for a `PING` sent after a
//! given instant and waits for its `PONG`; every change the server made
//! before that instant has then been applied to the cache. It needs more
//! than the heartbeat's argument. Redis writes a broadcast invalidation at
//! the end of the event-loop pass that made the change, after that pass's
//! replies, so a change made in the pass that answers the `PING`, before
//! the `PING` was read, can follow the `PONG`; and that pass may have
//! begun before the `PING` was sent if earlier bytes of this connection
//! were waiting to be read. So the stream has **one `PING` in flight at a
//! time**: a `PING` is then the only unread byte of its connection, the
//! pass that reads it began after it was sent, and every change made
//! before it was sent came in an earlier pass, whose invalidations precede
//! the `PONG`. Callers waiting at once share one `PING` (the next one
//! after theirs began), so under load a fence costs a fraction of a round
//! trip each, and at most two. The key-location cache uses it for writes
//! ([`crate::locations::LocationCache::confirm`]).
//!
//! Every new session, and every lost one, empties the whole cache it
//! feeds: invalidations missed while the stream was down are unknowable.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::Sink;
use super::heartbeat;
use super::session::Session;
use crate::auth;
use crate::backend::Dial;

const PING: &[u8] = b"PING\r\n";

/// The commands that open a session. They may hold a password: `Debug`
/// shows only their length.
struct Handshake {
    commands: Vec<u8>,
    replies: usize,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Handshake({} bytes, {} replies)",
            self.commands.len(),
            self.replies
        )
    }
}

/// The invalidation stream of one server.
#[derive(Debug)]
pub(crate) struct Stream {
    addr: String,
    /// The commands that open a session (`AUTH` when a password is set,
    /// `HELLO 3`, `CLIENT TRACKING`), and how many replies they get.
    handshake: Handshake,
    /// The server's command timeout: a `PING` unanswered that long drops
    /// the session.
    timeout: Duration,
    /// How far behind the server the stream may be for values to be
    /// served.
    max_lag: Duration,
    /// Heartbeat period.
    ping_every: Duration,
    session: Mutex<Option<Session>>,
    /// Why the last attempt to open a session failed, to log each new
    /// reason once (a wrong password fails every attempt alike).
    open_failure: Mutex<Option<String>>,
    /// Wakes the stream's task to send a `PING` for a fence.
    fence_wanted: Notify,
    /// When the newest answered `PING` was sent, in any session.
    answered: watch::Sender<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drained {
    /// The stream is open and at most its `max_lag` behind the server.
    pub(crate) fresh: bool,
    /// Keys (or flushes) it applied.
    pub(crate) invalidations: u64,
}

impl Drained {
    const CLOSED: Drained = Drained {
        fresh: false,
        invalidations: 0,
    };
}

impl Stream {
    /// A stream of the server at `addr`, for keys starting with `prefix`
    /// (every key when empty), reached as `dial` says (its commands time
    /// out after its timeout; `HELLO` sends its credentials), serving
    /// while at most `max_lag` behind (capped by [`heartbeat::max_lag`]);
    /// not connected until [`Stream::run`].
    pub(crate) fn new(addr: &str, prefix: &str, dial: &Dial, max_lag: Duration) -> Stream {
        let timeout = dial.timeout;
        let mut tracking = "CLIENT TRACKING ON BCAST".to_string();
        if !prefix.is_empty() {
            tracking = format!("{tracking} PREFIX {prefix}");
        }
        let max_lag = heartbeat::max_lag(max_lag, timeout);
        Stream {
            addr: addr.to_string(),
            handshake: Handshake {
                commands: [dial.auth.hello(), format!("{tracking}\r\n").into_bytes()].concat(),
                replies: dial.auth.hello_replies() + 1,
            },
            timeout,
            max_lag,
            ping_every: heartbeat::ping_period(max_lag),
            session: Mutex::new(None),
            open_failure: Mutex::new(None),
            fence_wanted: Notify::new(),
            answered: watch::channel(Instant::now()).0,
        }
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// `fresh`, `stale` (open, too far behind) or `closed`.
    pub(crate) fn state(&self) -> &'static str {
        match &*self.lock() {
            Some(s) if s.heartbeat.is_fresh(Instant::now(), self.max_lag) => "fresh",
            Some(_) => "stale",
            None => "closed",
        }
    }

    /// Reads whatever the socket holds, without waiting, and applies it
    /// to `store`.
    pub(crate) fn drain(&self, store: &dyn Sink) -> Drained {
        let mut slot = self.lock();
        let Some(session) = slot.as_mut() else {
            return Drained::CLOSED;
        };
        let answered = session.heartbeat.fresh_since();
        match session.read_available(store) {
            Ok(invalidations) => {
                let fresh_since = session.heartbeat.fresh_since();
                if fresh_since > answered {
                    self.answered.send_if_modified(|at| {
                        let newer = fresh_since > *at;
                        *at = (*at).max(fresh_since);
                        newer
                    });
                }
                Drained {
                    fresh: session.heartbeat.is_fresh(Instant::now(), self.max_lag),
                    invalidations,
                }
            }
            Err(reason) => {
                tracing::warn!(server = %self.addr, %reason, "invalidation stream lost");
                *slot = None;
                store.clear();
                Drained::CLOSED
            }
        }
    }

    /// Waits until every change the server made before `since` has been
    /// applied to the cache this stream feeds: until a `PING` sent after
    /// `since` is answered. False when none is within `max_lag` (the
    /// stream is slow, or lost).
    pub(crate) async fn fence(&self, since: Instant) -> bool {
        let mut answered = self.answered.subscribe();
        if *answered.borrow_and_update() > since {
            return true;
        }
        self.fence_wanted.notify_one();
        let fenced = answered.wait_for(|at| *at > since);
        matches!(tokio::time::timeout(self.max_lag, fenced).await, Ok(Ok(_)))
    }

    /// Keeps a session open and its heartbeat going until `shutdown`,
    /// reconnecting after a failure. Each drop or new session empties
    /// `store`.
    pub(crate) async fn run(&self, store: &dyn Sink, mut shutdown: watch::Receiver<bool>) {
        loop {
            let session = tokio::select! {
                s = tokio::time::timeout(self.timeout, Session::open(&self.addr, &self.handshake.commands, self.handshake.replies)) => s,
                _ = shutdown.changed() => return,
            };
            let (reader, mut writer) = match session {
                Ok(Ok((session, writer))) => {
                    let reader = session.socket.clone();
                    // Empty the cache before the session counts as open:
                    // a fill racing this cannot land after the clear.
                    store.clear();
                    *self.lock() = Some(session);
                    self.opened(None);
                    tracing::debug!(server = %self.addr, "invalidation stream open");
                    (reader, writer)
                }
                Ok(Err(e)) => {
                    self.opened(Some(e.to_string()));
                    if wait(self.ping_every, &mut shutdown).await {
                        return;
                    }
                    continue;
                }
                Err(_) => continue,
            };
            let mut next_beat = Instant::now() + self.ping_every;
            loop {
                let awaiting = match &*self.lock() {
                    Some(session) => session.heartbeat.awaiting(),
                    None => break,
                };
                // A fence's wake-up waits, kept by the `Notify`, until no
                // `PING` is in flight (see the module docs).
                tokio::select! {
                    _ = shutdown.changed() => {
                        self.close(store);
                        return;
                    }
                    () = tokio::time::sleep_until(next_beat) => {
                        next_beat = Instant::now() + self.ping_every;
                    }
                    () = self.fence_wanted.notified(), if !awaiting => {}
                    _ = reader.readable(), if awaiting => {
                        self.drain(store);
                        continue;
                    }
                }
                let silent = match &*self.lock() {
                    Some(session) => session.heartbeat.is_silent(Instant::now(), self.timeout),
                    None => break,
                };
                if silent {
                    tracing::warn!(server = %self.addr, "invalidation stream silent; reopening");
                    self.close(store);
                    break;
                }
                if awaiting {
                    continue;
                }
                // Noted before it leaves, so its PONG always finds it.
                match &mut *self.lock() {
                    Some(session) => session.heartbeat.sent(Instant::now()),
                    None => break,
                }
                let sent = tokio::time::timeout(self.timeout, writer.write_all(PING)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    tracing::warn!(server = %self.addr, "invalidation stream cannot send; reopening");
                    self.close(store);
                    break;
                }
                self.drain(store);
            }
        }
    }

    /// Notes how an attempt to open a session ended: each new reason
    /// for failing is logged once, as a warning, an authentication
    /// failure in those words; the same reason again only at debug level.
    fn opened(&self, failure: Option<String>) {
        let failure = failure.map(|e| match auth::is_auth_reply(&e) {
            true => format!("authentication failed: {e}"),
            false => e,
        });
        let mut last = self.open_failure.lock().unwrap_or_else(|e| e.into_inner());
        match &failure {
            Some(e) if last.as_ref() != Some(e) => {
                tracing::warn!(server = %self.addr, error = %e, "invalidation stream cannot open");
            }
            Some(e) => tracing::debug!(server = %self.addr, error = %e, "invalidation stream"),
            None => {}
        }
        *last = failure;
    }

    fn close(&self, store: &dyn Sink) {
        *self.lock() = None;
        store.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sleeps `period`; true when `shutdown` came first.
async fn wait(period: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(period) => false,
        _ = shutdown.changed() => true,
    }
}
