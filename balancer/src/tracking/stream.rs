//! One server's invalidation stream: a RESP3 connection in
//! `CLIENT TRACKING ON BCAST` mode (optionally for one key prefix), on
//! which the server pushes the name of every key that changes on it
//! (written, deleted, expired, evicted; `null` after a flush), from any
//! client.
//!
//! Nothing reads the socket in the background between heartbeats: a
//! cache *drains* it, without blocking, right before it serves or stores
//! something from this server. Redis queues a key's invalidation before
//! it answers the write that changed the key, so a write acknowledged to
//! anyone before a read arrives here has had its invalidation delivered to
//! this socket by then, and the drain applies it. A heartbeat `PING` every
//! quarter of the server's command timeout proves the stream is current:
//! replies come in order, so a `PONG` means every invalidation sent before
//! it was read. A cache serves what it copied from this server only while
//! the last `PONG` is younger than half that timeout, which is less than
//! the time a write needs to give up on a hung server and acknowledge
//! elsewhere. Without a `PONG` for a whole timeout the session is dropped
//! and started afresh.
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
use super::resp::{self, Frame};

/// Replies the handshake (`HELLO 3`, `CLIENT TRACKING`) waits for.
const HANDSHAKE_REPLIES: usize = 2;
const PING: &[u8] = b"PING\r\n";
/// Bytes a drain makes room for before it reads.
const READ_CHUNK: usize = 16 * 1024;

/// The invalidation stream of one server.
#[derive(Debug)]
pub(crate) struct Stream {
    addr: String,
    /// The commands that open a session.
    handshake: Vec<u8>,
    /// Heartbeat period.
    ping_every: Duration,
    /// How young the last `PONG` must be for values to be served.
    fresh_for: Duration,
    session: Mutex<Option<Session>>,
}

#[derive(Debug)]
struct Session {
    reader: OwnedReadHalf,
    buf: Vec<u8>,
    last_pong: Instant,
}

/// What a drain found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drained {
    /// The stream is open.
    pub(crate) open: bool,
    /// The stream is open and its last `PONG` is fresh.
    pub(crate) fresh: bool,
    /// Keys (or flushes) it applied.
    pub(crate) invalidations: u64,
}

impl Drained {
    const CLOSED: Drained = Drained {
        open: false,
        fresh: false,
        invalidations: 0,
    };
}

impl Stream {
    /// A stream of the server at `addr`, for keys starting with `prefix`
    /// (every key when empty), whose commands time out after `timeout`;
    /// not connected until [`Stream::run`].
    pub(crate) fn new(addr: &str, prefix: &str, timeout: Duration) -> Stream {
        let mut tracking = "CLIENT TRACKING ON BCAST".to_string();
        if !prefix.is_empty() {
            tracking = format!("{tracking} PREFIX {prefix}");
        }
        Stream {
            addr: addr.to_string(),
            handshake: format!("HELLO 3\r\n{tracking}\r\n").into_bytes(),
            ping_every: timeout / 4,
            fresh_for: timeout / 2,
            session: Mutex::new(None),
        }
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// `fresh`, `stale` (open, heartbeat late) or `closed`.
    pub(crate) fn state(&self) -> &'static str {
        match &*self.lock() {
            Some(s) if s.last_pong.elapsed() <= self.fresh_for => "fresh",
            Some(_) => "stale",
            None => "closed",
        }
    }

    /// Reads whatever has reached the socket, without waiting, and applies
    /// it to `store`.
    pub(crate) fn drain(&self, store: &dyn Sink) -> Drained {
        let mut slot = self.lock();
        let Some(session) = slot.as_mut() else {
            return Drained::CLOSED;
        };
        match session.read_available(store) {
            Ok(invalidations) => Drained {
                open: true,
                fresh: session.last_pong.elapsed() <= self.fresh_for,
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
        let timeout = self.ping_every * 4;
        loop {
            let session = tokio::select! {
                s = tokio::time::timeout(timeout, self.open()) => s,
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
                let sent = tokio::time::timeout(self.ping_every, writer.write_all(PING)).await;
                self.drain(store);
                let silent = match &*self.lock() {
                    Some(session) => session.last_pong.elapsed() > timeout,
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

    /// Connects and turns tracking on; the session starts fresh.
    async fn open(&self) -> std::io::Result<(Session, OwnedWriteHalf)> {
        let mut stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&self.handshake).await?;
        let (reader, writer) = stream.into_split();
        let mut buf = Vec::new();
        let mut replies = 0;
        while replies < HANDSHAKE_REPLIES {
            reader.readable().await?;
            match read_some(&reader, &mut buf) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
            while let Some((frame, used)) = resp::parse(&buf).map_err(std::io::Error::other)? {
                buf.drain(..used);
                if let Frame::Error(e) = frame {
                    return Err(std::io::Error::other(e));
                }
                replies += 1;
            }
        }
        let session = Session {
            reader,
            buf,
            last_pong: Instant::now(),
        };
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
    /// Reads until the socket has nothing more and applies every complete
    /// frame; returns the invalidations applied.
    fn read_available(&mut self, store: &dyn Sink) -> Result<u64, String> {
        // Nothing is copied or zeroed unless the socket has bytes: when it
        // has none, Tokio answers from its readiness state without a
        // system call, which is what a drain costs on most requests.
        loop {
            match read_some(&self.reader, &mut self.buf) {
                Ok(0) => return Err("connection closed".into()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        let mut applied = 0;
        let mut used = 0;
        while let Some((frame, n)) = resp::parse(&self.buf[used..]).map_err(|e| e.to_string())? {
            used += n;
            match frame {
                Frame::Push(items) => applied += invalidate(store, &items),
                Frame::Simple(s) if s == "PONG" => self.last_pong = Instant::now(),
                Frame::Error(e) => return Err(e),
                _ => {}
            }
        }
        self.buf.drain(..used);
        Ok(applied)
    }
}

/// Reads what the socket holds now into `buf`'s spare capacity, making
/// room first; `Ok(0)` is the end of the stream, `WouldBlock` no data.
fn read_some(reader: &OwnedReadHalf, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    reader.try_read_buf(buf)
}

/// Applies an `invalidate` push: each named key, or everything for null.
fn invalidate(store: &dyn Sink, push: &[Frame]) -> u64 {
    match push {
        [Frame::Bulk(kind), keys] if kind == b"invalidate" => match keys {
            Frame::Array(keys) => {
                for key in keys {
                    if let Frame::Bulk(key) = key {
                        store.invalidate(key);
                    }
                }
                keys.len() as u64
            }
            _ => {
                store.clear();
                1
            }
        },
        _ => 0,
    }
}

/// Sleeps `period`; true when `shutdown` came first.
async fn wait(period: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(period) => false,
        _ = shutdown.changed() => true,
    }
}
