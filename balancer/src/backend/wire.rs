//! One shared connection to a Redis server, multiplexed: every caller's
//! command goes down the one socket, and the replies come back in order.
//! A task of its own drives the socket; callers hand it their packed
//! commands over a channel and wait on a oneshot for the replies.
//!
//! What the driver does, and why:
//! - **Coalescing.** Every command waiting when the socket can take more
//!   goes out in one write, so concurrent requests to one node share a
//!   system call (the "pipelines coalesced per node" of issue 13).
//! - **Lazy connection, reconnection.** Nothing is opened until the
//!   first command; a connection that fails (an I/O error, the server
//!   closing it, a reply that is not RESP) fails every command in flight
//!   on it, and the next command opens a new one. A connection attempt
//!   that fails fails the commands that waited for it, and the next
//!   command tries again: a node that comes back is used again without
//!   help, as with redis-rs's `ConnectionManager` this replaces.
//! - **A stuck server.** When the oldest command in flight has waited
//!   the whole time limit, the connection is dropped and its commands
//!   fail as timed out: a server that stopped answering (a paused
//!   process, a lost network) does not keep a socket whose replies will
//!   never come. Callers bound their own wait too ([`super::Backend`]).
//! - **Opening.** `AUTH` opens each connection when a password is set
//!   ([`RedisAuth::login`]), then a `PING`: a server that refuses either
//!   (a wrong password, `maxclients` reached, still loading) fails the
//!   commands waiting for the connection, never answers one of them.
//!   A refused password keeps the server's `WRONGPASS` or `NOAUTH`, which
//!   [`crate::auth::is_auth_failure`] names; any other refusal is an I/O
//!   error, so the server counts as unreachable.
//! - **Unbounded queues.** Callers queue without limit: each bounds its
//!   own wait, and the request limits of the front doors bound how many
//!   wait at once. An array reply is parsed again from its start as more
//!   of it arrives, which is cheap for the batches this project asks for
//!   (a scan step, at most a few thousand entries).
//!
//! It implements redis-rs's `ConnectionLike`, so commands, pipelines and
//! scripts (with their `NOSCRIPT` reload) are built and read by redis-rs
//! as before; only the socket and the reply parser ([`super::reply`]) are
//! this project's. Written by hand for the cost: redis-rs's
//! `ConnectionManager`, its multiplexed pipeline and its parser cost about
//! 13,000 instructions a write of the script (BENCHMARKS.md, "Writes
//! through the balancer's own connection").

use std::io;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

use crate::auth::RedisAuth;

mod driver;

use driver::{Request, Target, drive};

/// The shared connection to one server; clones share it.
#[derive(Clone)]
pub(super) struct Wire {
    shared: Arc<Shared>,
}

/// What the clones share: where the driver is, once a command started it
/// (again, if the task ended: its runtime shut down).
struct Shared {
    target: Target,
    requests: ArcSwapOption<mpsc::UnboundedSender<Request>>,
}

impl Wire {
    /// The connection to `addr`, opened by the first command, with
    /// `timeout` for opening it and for a reply.
    pub(super) fn new(addr: &str, timeout: Duration, auth: RedisAuth) -> Wire {
        Wire {
            shared: Arc::new(Shared {
                target: Target {
                    addr: addr.to_string(),
                    timeout,
                    auth,
                },
                requests: ArcSwapOption::empty(),
            }),
        }
    }

    /// Sends `packed` and waits for its `replies` replies.
    async fn send(&self, packed: Vec<u8>, replies: usize) -> RedisResult<Vec<Value>> {
        if replies == 0 {
            return Ok(Vec::new());
        }
        let (answer, answered) = oneshot::channel();
        let request = Request {
            packed,
            replies,
            answer,
        };
        let current = self.shared.requests.load();
        match &*current {
            Some(requests) if !requests.is_closed() => requests.send(request),
            _ => self.start().send(request),
        }
        .map_err(|_| ended())?;
        answered.await.map_err(|_| ended())?
    }

    /// Starts the driver task.
    fn start(&self) -> Arc<mpsc::UnboundedSender<Request>> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(self.shared.target.clone(), rx));
        let tx = Arc::new(tx);
        self.shared.requests.store(Some(tx.clone()));
        tx
    }
}

impl ConnectionLike for Wire {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let packed = cmd.get_packed_command();
        Box::pin(async move {
            let mut values = self.send(packed, 1).await?;
            Ok(values.pop().unwrap_or(Value::Nil))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let packed = pipeline.get_packed_pipeline();
        Box::pin(async move {
            let mut values = self.send(packed, offset + count).await?;
            let answers = values.split_off(offset);
            // A transaction's skipped replies (`MULTI`'s, each `QUEUED`):
            // a command refused there aborted it, with that error.
            if let Some(Value::ServerError(refused)) = values
                .into_iter()
                .find(|v| matches!(v, Value::ServerError(_)))
            {
                return Err(refused.into());
            }
            Ok(answers)
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// The error of a command whose connection task is gone.
fn ended() -> RedisError {
    io::Error::new(io::ErrorKind::BrokenPipe, "the connection's task ended").into()
}
