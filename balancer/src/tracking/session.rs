//! One open invalidation stream: the socket's reading half, the bytes read
//! and not yet parsed, and the heartbeat's bookkeeping. [`super::stream`]
//! owns the session's life (opening, the `PING`s, closing); this reads.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

use super::Sink;
use super::frames::{Event, Reader};
use super::heartbeat::Heartbeat;
use super::resp::{Frame, ProtocolError};

/// Bytes a read makes room for: what Redis sends one client per pass.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub(super) struct Session {
    /// Shared with the stream's task, which waits on it for `PONG`s.
    pub(super) socket: Arc<OwnedReadHalf>,
    /// Bytes read and not yet used: at most part of one frame.
    buf: Vec<u8>,
    frames: Reader,
    pub(super) heartbeat: Heartbeat,
}

impl Session {
    /// Connects to `addr` and sends `handshake`, then waits for its
    /// `replies_expected` replies; the session is fresh from the moment
    /// the handshake is sent. Returns the writing half beside it.
    pub(super) async fn open(
        addr: &str,
        handshake: &[u8],
        replies_expected: usize,
    ) -> std::io::Result<(Session, OwnedWriteHalf)> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let opened_at = Instant::now();
        stream.write_all(handshake).await?;
        let (socket, writer) = stream.into_split();
        let mut session = Session {
            socket: Arc::new(socket),
            buf: Vec::new(),
            frames: Reader::default(),
            heartbeat: Heartbeat::new(opened_at),
        };
        let mut replies = 0;
        while replies < replies_expected {
            session.socket.readable().await?;
            match read_some(&session.socket, &mut session.buf) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
            // Invalidations before the cache is emptied do not matter.
            // The first error is the one to tell: a refused `HELLO ...
            // AUTH` makes the commands after it fail with `NOAUTH`.
            let mut failure = None;
            feed(&mut session.frames, &mut session.buf, |event| match event {
                Event::Reply(Frame::Error(e)) => {
                    failure.get_or_insert(e);
                }
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

    /// Reads until the socket has nothing more, applying every event as
    /// soon as its bytes are in; returns the invalidations applied.
    pub(super) fn read_available(&mut self, store: &dyn Sink) -> Result<u64, String> {
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
