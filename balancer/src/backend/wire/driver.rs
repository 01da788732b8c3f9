//! The task that drives one server's shared connection ([`super`]): it
//! opens the connection when a command comes, writes every command
//! waiting when the socket can take more in one go, hands each reply to
//! the command it answers, in order, and fails every command in flight
//! when the connection breaks, closes, or stops answering for a whole
//! time limit; then the next command opens a new one.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use redis::{RedisError, RedisResult, ServerError, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::auth::{self, RedisAuth};
use crate::backend::reply;

/// The server, and how to open a connection to it.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) addr: String,
    pub(super) timeout: Duration,
    pub(super) auth: RedisAuth,
}

/// Packed commands and the number of replies they get.
pub(super) struct Request {
    pub(super) packed: Vec<u8>,
    pub(super) replies: usize,
    pub(super) answer: oneshot::Sender<RedisResult<Vec<Value>>>,
}

/// A request sent on the connection, waiting for its replies.
struct Pending {
    replies: usize,
    values: Vec<Value>,
    answer: oneshot::Sender<RedisResult<Vec<Value>>>,
    sent: Instant,
}

/// Why a connection could not serve: kept so that every waiting command
/// gets an error of its own (`RedisError` is not `Clone`).
enum Failure {
    Io(io::ErrorKind, String),
    /// The server refused the connection's credentials.
    Refused(ServerError),
}

impl Failure {
    fn io(e: &io::Error) -> Failure {
        Failure::Io(e.kind(), e.to_string())
    }

    /// The server answered the opening of a connection with `error`.
    fn opening(error: ServerError) -> Failure {
        let e = RedisError::from(error.clone());
        if auth::is_auth_failure(&e) {
            Failure::Refused(error)
        } else {
            Failure::Io(
                io::ErrorKind::ConnectionRefused,
                format!("the server refused the connection: {e}"),
            )
        }
    }

    fn error(&self) -> RedisError {
        match self {
            Failure::Io(kind, text) => io::Error::new(*kind, text.clone()).into(),
            Failure::Refused(error) => error.clone().into(),
        }
    }
}

/// The driver: opens a connection when a command comes, serves it until
/// it fails, and again; ends when every [`super::Wire`] is dropped.
pub(super) async fn drive(target: Target, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut waiting: Vec<Request> = Vec::new();
    loop {
        if waiting.is_empty() {
            let Some(first) = requests.recv().await else {
                return;
            };
            waiting.push(first);
        }
        while let Ok(more) = requests.try_recv() {
            waiting.push(more);
        }
        waiting.retain(|r| !r.answer.is_closed());
        if waiting.is_empty() {
            continue;
        }
        match target.connect().await {
            Ok(stream) => {
                if serve(&target, &stream, &mut requests, &mut waiting).await == Served::Ended {
                    return;
                }
            }
            Err(failure) => {
                // Those that came during the attempt waited for it too.
                while let Ok(more) = requests.try_recv() {
                    waiting.push(more);
                }
                for request in waiting.drain(..) {
                    let _ = request.answer.send(Err(failure.error()));
                }
            }
        }
    }
}

impl Target {
    /// A new connection, authenticated and answering, within the time
    /// limit.
    async fn connect(&self) -> Result<TcpStream, Failure> {
        let timed_out = || Failure::Io(io::ErrorKind::TimedOut, "connection timed out".into());
        let opening = async {
            let mut stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| Failure::io(&e))?;
            stream.set_nodelay(true).map_err(|e| Failure::io(&e))?;
            let login = self.auth.login();
            let replies = 1 + usize::from(login.is_some());
            let mut hello = login.unwrap_or_default();
            hello.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
            stream
                .write_all(&hello)
                .await
                .map_err(|e| Failure::io(&e))?;
            let mut input = BytesMut::with_capacity(256);
            let mut answered = 0;
            while answered < replies {
                match reply::parse(&input) {
                    Ok(Some((Value::ServerError(error), _))) => {
                        return Err(Failure::opening(error));
                    }
                    Ok(Some((_, used))) => {
                        input.advance(used);
                        answered += 1;
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => return Err(Failure::Io(io::ErrorKind::InvalidData, e.to_string())),
                }
                if stream
                    .read_buf(&mut input)
                    .await
                    .map_err(|e| Failure::io(&e))?
                    == 0
                {
                    return Err(Failure::Io(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection as it opened".into(),
                    ));
                }
            }
            Ok(stream)
        };
        tokio::time::timeout(self.timeout, opening)
            .await
            .unwrap_or_else(|_| Err(timed_out()))
    }
}

/// How [`serve`] ended.
#[derive(PartialEq, Eq)]
enum Served {
    /// The connection failed; every command in flight on it failed too.
    Failed,
    /// Every [`super::Wire`] is gone.
    Ended,
}

/// Serves the `waiting` commands and all that come after on `stream`
/// until it fails.
async fn serve(
    target: &Target,
    stream: &TcpStream,
    requests: &mut mpsc::UnboundedReceiver<Request>,
    waiting: &mut Vec<Request>,
) -> Served {
    let mut out = BytesMut::new();
    let mut input = BytesMut::new();
    let mut in_flight: VecDeque<Pending> = VecDeque::new();
    let now = Instant::now();
    for request in waiting.drain(..) {
        take(request, now, &mut out, &mut in_flight);
    }
    let check = tokio::time::sleep(target.timeout);
    tokio::pin!(check);
    let failure = loop {
        if !out.is_empty()
            && let Err(e) = write_now(stream, &mut out)
        {
            break Failure::io(&e);
        }
        tokio::select! {
            biased;
            ready = stream.readable() => {
                // What arrived before the connection ended still answers.
                let ended = ready.map_or_else(|e| Some(Failure::io(&e)), |()| read_now(stream, &mut input));
                if let Err(e) = deliver(&mut input, &mut in_flight) {
                    break Failure::Io(io::ErrorKind::InvalidData, e.to_string());
                }
                if let Some(failure) = ended {
                    break failure;
                }
            }
            request = requests.recv() => {
                let Some(request) = request else {
                    return Served::Ended;
                };
                let now = Instant::now();
                take(request, now, &mut out, &mut in_flight);
                while let Ok(more) = requests.try_recv() {
                    take(more, now, &mut out, &mut in_flight);
                }
            }
            ready = stream.writable(), if !out.is_empty() => {
                if let Err(e) = ready {
                    break Failure::io(&e);
                }
            }
            () = &mut check, if !in_flight.is_empty() => {
                let oldest = in_flight.front().map_or(now, |p| p.sent);
                if oldest.elapsed() >= target.timeout {
                    break Failure::Io(
                        io::ErrorKind::TimedOut,
                        format!("no reply within {:?}", target.timeout),
                    );
                }
                check.as_mut().reset(oldest + target.timeout);
            }
        }
    };
    for pending in in_flight {
        let _ = pending.answer.send(Err(failure.error()));
    }
    Served::Failed
}

/// Queues `request`'s bytes for the socket and its answer for its replies.
fn take(request: Request, now: Instant, out: &mut BytesMut, in_flight: &mut VecDeque<Pending>) {
    if request.answer.is_closed() {
        return;
    }
    out.extend_from_slice(&request.packed);
    in_flight.push_back(Pending {
        replies: request.replies,
        values: Vec::with_capacity(request.replies),
        answer: request.answer,
        sent: now,
    });
}

/// Writes what the socket takes now.
fn write_now(stream: &TcpStream, out: &mut BytesMut) -> io::Result<()> {
    while !out.is_empty() {
        match stream.try_write(out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what has arrived; says how the connection ended if it did (the
/// server closing it, an error), after keeping what it read first.
fn read_now(stream: &TcpStream, input: &mut BytesMut) -> Option<Failure> {
    loop {
        input.reserve(16 * 1024);
        match stream.try_read_buf(input) {
            Ok(0) => {
                return Some(Failure::Io(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection".into(),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => return Some(Failure::io(&e)),
        }
    }
}

/// Hands every whole reply in `input` to the command it answers.
fn deliver(input: &mut BytesMut, in_flight: &mut VecDeque<Pending>) -> Result<(), String> {
    while let Some((value, used)) = reply::parse(input).map_err(|e| e.to_string())? {
        input.advance(used);
        let pending = in_flight
            .front_mut()
            .ok_or("a reply no command asked for")?;
        pending.values.push(value);
        if pending.values.len() == pending.replies
            && let Some(done) = in_flight.pop_front()
        {
            let _ = done.answer.send(Ok(done.values));
        }
    }
    Ok(())
}
