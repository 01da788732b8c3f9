//! A thin client for one Redis server (a data node or the index): one
//! shared, auto-reconnecting multiplexed connection with time limits, and
//! errors that say whether the server could not be reached.
//!
//! One shared connection per server ([`wire`]), not a pool checkout per
//! request: commands from all request tasks pipeline over the one
//! connection, and a pool's recycle check would add two round trips to
//! every request (measured in `shared/STACK-NOTES.md`: 54k against 22k
//! GET/s). It reconnects by itself after an I/O error, so a node that
//! comes back is used again without help. Commands, pipelines and
//! scripts are redis-rs's, run over it.
//!
//! Every connection authenticates with the [`Dial`]'s credentials; a
//! server that refuses them is unreachable "because authentication
//! failed", so the node (or the index) shows as down for that reason.

use std::time::Duration;

use redis::{Cmd, FromRedisValue, IntoConnectionInfo, Pipeline, RedisError, ScriptInvocation};

use crate::auth::{self, RedisAuth};

pub mod reply;
mod wire;

use wire::Wire;

/// How to reach a set of Redis servers: the time limit of a command (and
/// of a connection), and the credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dial {
    /// Time limit of one command, and of opening a connection.
    pub timeout: Duration,
    /// Sent on every connection.
    pub auth: RedisAuth,
    /// Pooled connections per server for bulk work ([`Backend::bulk`]);
    /// 0 shares the request path's connection.
    pub bulk_connections: usize,
}

impl Dial {
    /// No credentials, no bulk pool.
    pub fn new(timeout: Duration) -> Dial {
        Dial {
            timeout,
            auth: RedisAuth::default(),
            bulk_connections: 0,
        }
    }
}

/// A failed command to one Redis server.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The server could not be reached or did not answer in time.
    #[error("{addr} unreachable: {reason}")]
    Unreachable {
        /// The server's address.
        addr: String,
        /// What happened.
        reason: String,
    },
    /// The server is out of memory for writes (`maxmemory` reached).
    #[error("{addr} is out of memory")]
    OutOfMemory {
        /// The server's address.
        addr: String,
    },
    /// The server refused a write stamped further ahead of its clock than
    /// the drift bound allows (see `values.rs`).
    #[error("{addr} refused the write: {reason}")]
    ClockAhead {
        /// The server's address.
        addr: String,
        /// How far ahead, in the server's words.
        reason: String,
    },
    /// The server refused a write fenced by a token lower than one it has
    /// seen: a leader that lost its leadership (see [`crate::fence`]).
    #[error("{addr} refused a fenced write: {reason}")]
    Fenced {
        /// The server's address.
        addr: String,
        /// The tokens, in the server's words.
        reason: String,
    },
    /// The server answered with an error.
    #[error("{addr} replied with an error: {reason}")]
    Reply {
        /// The server's address.
        addr: String,
        /// The error text.
        reason: String,
    },
}

/// One Redis server behind one shared connection, or, for bulk work, a
/// pool of them ([`Backend::bulk`]).
#[derive(Clone)]
pub struct Backend {
    addr: String,
    conn: Conn,
    timeout: Duration,
}

/// How a backend reaches its server.
#[derive(Clone)]
enum Conn {
    /// One multiplexed connection every caller shares: commands pipeline
    /// across tasks, so the hot path pays no checkout (STACK-NOTES: 54k
    /// against 22k GETs/s with a checkout per request).
    Shared(Wire),
    /// Connections checked out one caller at a time: bulk transfers
    /// (moves, repairs, resyncs, rebuilds) never queue in front of
    /// requests on the shared one, and the pool's size bounds how many
    /// run at once.
    Pooled(deadpool_redis::Pool),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("addr", &self.addr).finish()
    }
}

impl Backend {
    /// Prepares a connection to `addr` (`host:port`) without credentials;
    /// see [`Backend::dial`].
    pub fn new(addr: &str, timeout: Duration) -> Result<Backend, BackendError> {
        Backend::dial(addr, &Dial::new(timeout))
    }

    /// Prepares a connection to `addr` (`host:port`) as `dial` says;
    /// nothing is sent until the first command, so a server that is down
    /// at start-up is no error.
    pub fn dial(addr: &str, dial: &Dial) -> Result<Backend, BackendError> {
        // The address is checked as the pool's connections read it.
        connection_info(addr, dial)?;
        Ok(Backend {
            addr: addr.to_string(),
            conn: Conn::Shared(Wire::new(addr, dial.timeout, dial.auth.clone())),
            timeout: dial.timeout,
        })
    }

    /// The backend for bulk work on the same server: a pool of
    /// `dial.bulk_connections` connections, opened as they are needed;
    /// `shared` itself when that is 0.
    pub fn bulk(shared: &Backend, dial: &Dial) -> Result<Backend, BackendError> {
        if dial.bulk_connections == 0 {
            return Ok(shared.clone());
        }
        let addr = &shared.addr;
        let manager = deadpool_redis::Manager::new(connection_info(addr, dial)?)
            .map_err(|e| unreachable(addr, &e))?;
        let pool = deadpool_redis::Pool::builder(manager)
            .max_size(dial.bulk_connections)
            .runtime(deadpool_redis::Runtime::Tokio1)
            // Bulk callers queue for the few connections: a wait is
            // their turn, not a failure, up to ten command time limits.
            .wait_timeout(Some(dial.timeout * 10))
            .create_timeout(Some(dial.timeout))
            .recycle_timeout(Some(dial.timeout))
            .build()
            .map_err(|e| BackendError::Unreachable {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        Ok(Backend {
            addr: addr.clone(),
            conn: Conn::Pooled(pool),
            timeout: dial.timeout,
        })
    }

    /// The server's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Runs one command.
    pub async fn cmd<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, BackendError> {
        match &self.conn {
            Conn::Shared(conn) => self.bounded(cmd.query_async(&mut conn.clone())).await,
            // Boxed: bulk calls can afford the allocation, and the
            // request path's futures stay as shallow as before the pool.
            Conn::Pooled(pool) => {
                Box::pin(async {
                    let mut conn = self.checkout(pool).await?;
                    self.bounded(cmd.query_async(&mut *conn)).await
                })
                .await
            }
        }
    }

    /// Runs a pipeline in one round trip.
    pub async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, BackendError> {
        match &self.conn {
            Conn::Shared(conn) => self.bounded(pipe.query_async(&mut conn.clone())).await,
            // Boxed: bulk calls can afford the allocation, and the
            // request path's futures stay as shallow as before the pool.
            Conn::Pooled(pool) => {
                Box::pin(async {
                    let mut conn = self.checkout(pool).await?;
                    self.bounded(pipe.query_async(&mut *conn)).await
                })
                .await
            }
        }
    }

    /// A pooled connection, within the time limit.
    async fn checkout(
        &self,
        pool: &deadpool_redis::Pool,
    ) -> Result<deadpool_redis::Connection, BackendError> {
        pool.get().await.map_err(|e| BackendError::Unreachable {
            addr: self.addr.clone(),
            reason: format!("no pooled connection: {e}"),
        })
    }

    /// Runs a Lua script by its hash, loading it first if the server lacks it.
    pub async fn script<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, BackendError> {
        match &self.conn {
            Conn::Shared(conn) => {
                self.bounded(invocation.invoke_async(&mut conn.clone()))
                    .await
            }
            // Boxed: bulk calls can afford the allocation, and the
            // request path's futures stay as shallow as before the pool.
            Conn::Pooled(pool) => {
                Box::pin(async {
                    let mut conn = self.checkout(pool).await?;
                    self.bounded(invocation.invoke_async(&mut *conn)).await
                })
                .await
            }
        }
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.classify(e)),
            Err(_) => Err(BackendError::Unreachable {
                addr: self.addr.clone(),
                reason: format!("no answer within {:?}", self.timeout),
            }),
        }
    }

    fn classify(&self, e: RedisError) -> BackendError {
        let addr = self.addr.clone();
        if auth::is_auth_failure(&e) {
            BackendError::Unreachable {
                addr,
                reason: format!("authentication failed: {e}"),
            }
        } else if e.code() == Some("OOM") {
            BackendError::OutOfMemory { addr }
        } else if e.code() == Some("CLOCKAHEAD") {
            BackendError::ClockAhead {
                addr,
                reason: e.detail().unwrap_or_default().to_string(),
            }
        } else if e.code() == Some("FENCED") {
            BackendError::Fenced {
                addr,
                reason: e.detail().unwrap_or_default().to_string(),
            }
        } else if matches!(
            e.code(),
            Some("LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN")
        ) || e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
        {
            BackendError::Unreachable {
                addr,
                reason: e.to_string(),
            }
        } else {
            BackendError::Reply {
                addr,
                reason: e.to_string(),
            }
        }
    }
}

impl BackendError {
    /// True when the server could not be reached, timed out, or said it
    /// cannot serve yet (`LOADING`, `BUSY`...), as opposed to answering
    /// with an error about the command.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, BackendError::Unreachable { .. })
    }
}

/// The connection settings for `addr` with `dial`'s credentials.
fn connection_info(addr: &str, dial: &Dial) -> Result<redis::ConnectionInfo, BackendError> {
    let info = format!("redis://{addr}/")
        .into_connection_info()
        .map_err(|e| unreachable(addr, &e))?;
    let settings = dial.auth.settings(info.redis_settings().clone());
    Ok(info.set_redis_settings(settings))
}

fn unreachable(addr: &str, e: &RedisError) -> BackendError {
    BackendError::Unreachable {
        addr: addr.to_string(),
        reason: e.to_string(),
    }
}
