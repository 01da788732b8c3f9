//! One server's invalidation stream: a RESP3 connection in
//! `CLIENT TRACKING ON BCAST` mode (optionally for one key prefix), on
//! which the server pushes the name of every key that changes on it
//! (written, deleted, expired, evicted; `null` after a flush), from any
//! client.
//!
//! Nothing reads the socket in the background between heartbeats: a
//! cache *drains* it, without blocking, right before it serves or stores
//! something from this server. A drain reads for as long as bytes are
//! there to read and applies each invalidated key as soon as its bytes
//! are in ([`super::frames`]), so a backlog of megabytes costs each drain
//! only the bytes it brings.
//!
//! What a drain has read is not everything the server has sent: Redis
//! writes one client at most 64 KiB per event-loop pass, so behind a large
//! backlog a write's invalidation can still wait in the server after the
//! writer has its answer. What bounds the cache is the heartbeat
//! ([`super::heartbeat`]): a `PING` every quarter of the stream's
//! `max_lag`, each noted when sent, and a `PONG` proves every write
//! acknowledged before its `PING` was sent has been applied. A cache
//! serves what it copied from this server only while the newest answered
//! `PING` was sent at most `max_lag` ago, so a hit lags any acknowledged
//! write by at most `max_lag`. That lag is at most half the server's
//! command timeout, less than the time a write needs to give up on a hung
//! server and acknowledge elsewhere. A `PING` unanswered for a whole
//! timeout drops the session, which is then started afresh.
//!
//! Every new session, and every lost one, empties the whole cache it
//! feeds: invalidations missed while the stream was down are unknowable.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Sink;
use super::frames::{Event, Reader};
use super::heartbeat::{self, Heartbeat};
use super::resp::{Frame, ProtocolError};

/// Replies the handshake (`HELLO 3`, `CLIENT TRACKING`) waits for.
const HANDSHAKE_REPLIES: usize = 2;
const PING: &[u8] = b"PING\r\n";
/// Bytes a read makes room for: what Redis sends one client per pass.
const READ_CHUNK: usize = 64 * 1024;

/// The invalidation stream of one server.
#[derive(Debug)]
pub(crate) struct Stream {
    addr: String,
    /// The commands that open a session.
    handshake: Vec<u8>,
    /// The server's command timeout: a `PING` unanswered that long drops
    /// the session.
    timeout: Duration,
    /// How far behind the server the stream may be for values to be
    /// served.
    max_lag: Duration,
    /// Heartbeat period.
    ping_every: Duration,
    session: Mutex<Option<Session>>,
}

#[derive(Debug)]
struct Session {
    socket: OwnedReadHalf,
    /// Bytes read and not yet used: at most part of one frame.
    buf: Vec<u8>,
    frames: Reader,
    heartbeat: Heartbeat,
}

/// What a drain found.
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
    /// (every key when empty), whose commands time out after `timeout`,
    /// serving while at most `max_lag` behind (capped by
    /// [`heartbeat::max_lag`]); not connected until [`Stream::run`].
    pub(crate) fn new(addr: &str, prefix: &str, timeout: Duration, max_lag: Duration) -> Stream {
        let mut tracking = "CLIENT TRACKING ON BCAST".to_string();
        if !prefix.is_empty() {
            tracking = format!("{tracking} PREFIX {prefix}");
        }
        let max_lag = heartbeat::max_lag(max_lag, timeout);
        Stream {
            addr: addr.to_string(),
            handshake: format!("HELLO 3\r\n{tracking}\r\n").into_bytes(),
            timeout,
            max_lag,
            ping_every: heartbeat::ping_period(max_lag),
            session: Mutex::new(None),
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
        match session.read_available(store) {
            Ok(invalidations) => Drained {
                fresh: session.heartbeat.is_fresh(Instant::now(), self.max_lag),
                invalidations,
            },
            Err(reason) => {
                tracing::warn!(server = %self.addr, %reason, "invalidation stream lost");
                *slot = None;
                store.clear();
                Drained::CLOSED
            }
        }
    }

    /// Keeps a session open and its heartbeat going until `shutdown`,
    /// reconnecting after a failure. Each drop or new session empties
    /// `store`.
    pub(crate) async fn run(&self, store: &dyn Sink, mut shutdown: watch::Receiver<bool>) {
        loop {
            let session = tokio::select! {
                s = tokio::time::timeout(self.timeout, self.open()) => s,
                _ = shutdown.changed() => return,
            };
            let mut writer = match session {
                Ok(Ok((session, writer))) => {
                    // Empty the cache before the session counts as open:
                    // a fill racing this cannot land after the clear.
                    store.clear();
                    *self.lock() = Some(session);
                    tracing::debug!(server = %self.addr, "invalidation stream open");
                    writer
                }
                Ok(Err(e)) => {
                    tracing::debug!(server = %self.addr, error = %e, "invalidation stream");
                    if wait(self.ping_every, &mut shutdown).await {
                        return;
                    }
                    continue;
                }
                Err(_) => continue,
            };
            loop {
                if wait(self.ping_every, &mut shutdown).await {
                    self.close(store);
                    return;
                }
                // Noted before it leaves, so its PONG always finds it.
                match &mut *self.lock() {
                    Some(session) => session.heartbeat.sent(Instant::now()),
                    None => break,
                }
                let sent = tokio::time::timeout(self.timeout, writer.write_all(PING)).await;
                self.drain(store);
                let silent = match &*self.lock() {
                    Some(session) => session.heartbeat.is_silent(Instant::now(), self.timeout),
                    None => break,
                };
                if !matches!(sent, Ok(Ok(()))) || silent {
                    tracing::warn!(server = %self.addr, "invalidation stream silent; reopening");
                    self.close(store);
                    break;
                }
            }
        }
    }

    /// Connects and turns tracking on; the session is fresh from the
    /// moment the handshake is sent.
    async fn open(&self) -> std::io::Result<(Session, OwnedWriteHalf)> {
        let mut stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        let opened_at = Instant::now();
        stream.write_all(&self.handshake).await?;
        let (socket, writer) = stream.into_split();
        let mut session = Session {
            socket,
            buf: Vec::new(),
            frames: Reader::default(),
            heartbeat: Heartbeat::new(opened_at),
        };
        let mut replies = 0;
        while replies < HANDSHAKE_REPLIES {
            session.socket.readable().await?;
            match read_some(&session.socket, &mut session.buf) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
            // Invalidations before the cache is emptied do not matter.
            let mut failure = None;
            feed(&mut session.frames, &mut session.buf, |event| match event {
                Event::Reply(Frame::Error(e)) => failure = Some(e),
                Event::Reply(_) => replies += 1,
                _ => {}
            })
            .map_err(std::io::Error::other)?;
            if let Some(e) = failure {
                return Err(std::io::Error::other(e));
            }
        }
        Ok((session, writer))
    }

    fn close(&self, store: &dyn Sink) {
        *self.lock() = None;
        store.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Session {
    /// Reads until the socket has nothing more, applying every event as
    /// soon as its bytes are in; returns the invalidations applied.
    fn read_available(&mut self, store: &dyn Sink) -> Result<u64, String> {
        // Nothing is copied or zeroed unless the socket has bytes: when it
        // has none, Tokio answers from its readiness state without a
        // system call, which is what a drain costs on most requests.
        let mut applied = 0;
        loop {
            match read_some(&self.socket, &mut self.buf) {
                Ok(0) => return Err("connection closed".into()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(applied),
                Err(e) => return Err(e.to_string()),
            }
            let mut failure = None;
            let heartbeat = &mut self.heartbeat;
            feed(&mut self.frames, &mut self.buf, |event| match event {
                Event::Invalidate(key) => {
                    store.invalidate(&key);
                    applied += 1;
                }
                Event::Flush => {
                    store.clear();
                    applied += 1;
                }
                Event::Reply(Frame::Simple(s)) if s == "PONG" => heartbeat.answered(),
                Event::Reply(Frame::Error(e)) => failure = Some(e),
                Event::Reply(_) => {}
            })
            .map_err(|e| e.to_string())?;
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }
}

/// Hands `on_event` every event complete in `buf`, in order, and drops the
/// bytes they took.
fn feed(
    frames: &mut Reader,
    buf: &mut Vec<u8>,
    on_event: impl FnMut(Event),
) -> Result<(), ProtocolError> {
    let used = frames.feed(buf, on_event)?;
    buf.drain(..used);
    Ok(())
}

/// Reads what the socket holds now into `buf`'s spare capacity, making
/// room first; `Ok(0)` is the end of the stream, `WouldBlock` no data.
fn read_some(reader: &OwnedReadHalf, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    reader.try_read_buf(buf)
}

/// Sleeps `period`; true when `shutdown` came first.
async fn wait(period: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(period) => false,
        _ = shutdown.changed() => true,
    }
}
