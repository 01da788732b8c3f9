//! Runs a decoded RESP command against the cluster, through the same
//! operations as the HTTP API ([`crate::ops`]): placement, the index,
//! replication and the near cache all apply. Keys and values map as
//! [`super::value`] says. Each key's read, write or delete is counted in
//! `dlb_requests_total` and `dlb_request_duration_seconds` as the HTTP
//! API's are.
//!
//! Each command is answered within `timeouts.request_ms`, as an HTTP
//! request is: past it the answer is an error and the outcome unknown, so
//! no write is decided acknowledged later than that after it began (the
//! reply may reach the client later, behind other replies). The
//! rebalancer's moves rely on that bound (`background/rebalancer/`).

use futures_util::future::join_all;
use tokio::time::Instant;

use super::batch;
use super::command::{Command, SERVED, SetTtl};
use super::reply::Reply;
use super::value;
use crate::App;
use crate::answer::Found;
use crate::error::Error;
use crate::input::{self, Invalid};
use crate::metrics::{Op, Outcome};
use crate::ttl_change::Change;

/// Most value bytes one `MGET` answers.
const MAX_MGET_REPLY: usize = 64 * 1024 * 1024;

/// What a connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    /// Reads the next command.
    Continue,
    /// Closes once the reply is sent (`QUIT`).
    Close,
}

/// Runs `command` within the request deadline; `protocol` is the
/// connection's version, which `HELLO` may change.
pub(super) async fn run(app: &App, command: Command, protocol: &mut u8) -> (Reply, After) {
    let deadline = app.config.timeouts.request;
    match tokio::time::timeout(deadline, answer(app, command, protocol)).await {
        Ok(answered) => answered,
        Err(_) => {
            let ms = deadline.as_millis();
            let text =
                format!("ERR no answer within {ms} ms (timeouts.request_ms): outcome unknown");
            (Reply::Error(text), After::Continue)
        }
    }
}

/// Runs `command`.
async fn answer(app: &App, command: Command, protocol: &mut u8) -> (Reply, After) {
    let reply = match command {
        Command::Get(key) => get(app, &key).await.unwrap_or_else(Reply::Error),
        Command::Set { key, value, ttl } => set(app, &key, &value, ttl)
            .await
            .unwrap_or_else(Reply::Error),
        Command::MGet(keys) => mget(app, &keys).await.unwrap_or_else(Reply::Error),
        Command::MSet(pairs) => mset(app, &pairs).await.unwrap_or_else(Reply::Error),
        Command::Del(keys) => count(app, &keys, delete).await,
        Command::Exists(keys) => count(app, &keys, exists).await,
        Command::Ttl { key, millis } => ttl(app, &key, millis).await.unwrap_or_else(Reply::Error),
        Command::Expire { key, at, when } => {
            let ms = at.millis_from(unix_millis());
            let change = Change::Expire { ms, when };
            change_ttl(app, &key, change)
                .await
                .unwrap_or_else(Reply::Error)
        }
        Command::Persist(key) => change_ttl(app, &key, Change::Persist)
            .await
            .unwrap_or_else(Reply::Error),
        Command::Ping(None) => Reply::Simple("PONG"),
        Command::Ping(Some(message)) | Command::Echo(message) => Reply::Bulk(message),
        Command::Select | Command::ClientOk => Reply::Simple("OK"),
        Command::ClientGetName => Reply::Null,
        Command::Info => Reply::text(info(app)),
        Command::Quit => return (Reply::Simple("OK"), After::Close),
        Command::CommandList => Reply::Array(Vec::new()),
        Command::CommandCount => Reply::Integer(SERVED),
        Command::Hello(version) => {
            if let Some(v) = version {
                *protocol = v;
            }
            hello(*protocol)
        }
    };
    (reply, After::Continue)
}

/// The cluster's answer to a failed operation, as RESP error text.
/// A full node answers as a full Redis does (`OOM ...`), so client
/// libraries raise their out-of-memory error.
fn failed(e: &Error) -> String {
    match e {
        Error::NodeFull(_) => format!("OOM command not allowed: {e}"),
        _ => format!("ERR {e}"),
    }
}

fn invalid(e: &Invalid) -> String {
    format!("ERR {e}")
}

fn checked_key<'k>(app: &App, key: &'k [u8]) -> Result<&'k str, String> {
    let key = value::key(key).map_err(str::to_string)?;
    input::check_key(key, &app.config.limits).map_err(|e| invalid(&e))?;
    Ok(key)
}

/// Reads a checked key, counted in the request metrics as a GET.
async fn read(app: &App, key: &str) -> Result<Option<Found>, Error> {
    let started = Instant::now();
    let found = app.ops.get(key).await;
    let outcome = match &found {
        Ok(Some(_)) => Outcome::Hit,
        Ok(None) => Outcome::Miss,
        Err(_) => Outcome::ServerError,
    };
    record(app, Op::Get, outcome, started);
    found
}

async fn get(app: &App, key: &[u8]) -> Result<Reply, String> {
    let key = checked_key(app, key)?;
    match read(app, key).await {
        Ok(Some(found)) => Ok(Reply::Bulk(value::from_json(&found.json))),
        Ok(None) => Ok(Reply::Null),
        Err(e) => Err(failed(&e)),
    }
}

/// Every key's value in order, nil for a miss; a key that cannot be read
/// fails the whole command (a nil would say it is absent), and so does a
/// reply past [`MAX_MGET_REPLY`] bytes. Its keys are read as many at a
/// time as a pipeline's commands run ([`batch::widest_run`]).
async fn mget(app: &App, keys: &[Vec<u8>]) -> Result<Reply, String> {
    for key in keys {
        checked_key(app, key)?;
    }
    let mut values = Vec::with_capacity(keys.len());
    let mut bytes = 0;
    let widest = batch::widest_run(app.config.limits.max_value_bytes, usize::MAX);
    for chunk in keys.chunks(widest) {
        for value in join_all(chunk.iter().map(|key| get(app, key))).await {
            let value = value?;
            if let Reply::Bulk(v) = &value {
                bytes += v.len();
            }
            if bytes > MAX_MGET_REPLY {
                return Err(format!(
                    "ERR MGET reply is over {MAX_MGET_REPLY} bytes; ask for fewer keys at a time"
                ));
            }
            values.push(value);
        }
    }
    Ok(Reply::Array(values))
}

/// `MSET`: every pair checked first, so bad input changes nothing; then
/// each key written in turn (not atomic: the first failure answers, and
/// the keys before it keep their new values).
async fn mset(app: &App, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Reply, String> {
    for (key, v) in pairs {
        checked_key(app, key)?;
        let json = value::to_json(v).map_err(str::to_string)?;
        input::check_value(&json, &app.config.limits).map_err(|e| invalid(&e))?;
    }
    for (key, v) in pairs {
        set(app, key, v, SetTtl::Persist).await?;
    }
    Ok(Reply::Simple("OK"))
}

async fn set(app: &App, key: &[u8], v: &[u8], ttl: SetTtl) -> Result<Reply, String> {
    let key = checked_key(app, key)?;
    let json = value::to_json(v).map_err(str::to_string)?;
    input::check_value(&json, &app.config.limits).map_err(|e| invalid(&e))?;
    let started = Instant::now();
    let ttl_ms = match ttl {
        SetTtl::Persist => None,
        SetTtl::Millis(ms) => Some(ms.min(input::MAX_TTL_MS)),
        // Not atomic: the TTL is the one the key had when read (see
        // README, "RESP").
        SetTtl::Keep => match read(app, key).await {
            Ok(found) => found.and_then(|f| f.ttl_ms).filter(|&ms| ms > 0),
            Err(e) => return Err(failed(&e)),
        },
    };
    let written = app.ops.put(key, &json, ttl_ms, None).await;
    let outcome = match &written {
        Ok(w) if w.created => Outcome::Created,
        Ok(_) => Outcome::Updated,
        Err(_) => Outcome::ServerError,
    };
    record(app, Op::Set, outcome, started);
    written.map(|_| Reply::Simple("OK")).map_err(|e| failed(&e))
}

async fn delete(app: &App, key: &str) -> Result<bool, Error> {
    let started = Instant::now();
    let deleted = app.ops.delete(key, None).await;
    let outcome = match &deleted {
        Ok(Some(_)) => Outcome::Deleted,
        Ok(None) => Outcome::Miss,
        Err(_) => Outcome::ServerError,
    };
    record(app, Op::Delete, outcome, started);
    deleted.map(|d| d.is_some())
}

async fn exists(app: &App, key: &str) -> Result<bool, Error> {
    read(app, key).await.map(|found| found.is_some())
}

/// `DEL` or `EXISTS`: how many of `keys` `each` said yes for; a key named
/// twice counts twice, as in Redis. The first failure is the answer.
async fn count<'a, F, Fut>(app: &'a App, keys: &'a [Vec<u8>], each: F) -> Reply
where
    F: Fn(&'a App, &'a str) -> Fut,
    Fut: Future<Output = Result<bool, Error>>,
{
    let mut checked = Vec::with_capacity(keys.len());
    for key in keys {
        match checked_key(app, key) {
            Ok(key) => checked.push(key),
            Err(e) => return Reply::Error(e),
        }
    }
    let mut n = 0;
    for key in checked {
        match each(app, key).await {
            Ok(yes) => n += i64::from(yes),
            Err(e) => return Reply::Error(failed(&e)),
        }
    }
    Reply::Integer(n)
}

async fn ttl(app: &App, key: &[u8], millis: bool) -> Result<Reply, String> {
    let key = checked_key(app, key)?;
    let found = read(app, key).await.map_err(|e| failed(&e))?;
    let left = match found.map(|f| f.ttl_ms) {
        None => -2,
        Some(None) => -1,
        Some(Some(ms)) => {
            // Seconds rounded to the nearest, as Redis's TTL answers.
            let left = if millis { ms } else { (ms + 500) / 1000 };
            i64::try_from(left).unwrap_or(i64::MAX)
        }
    };
    Ok(Reply::Integer(left))
}

/// `EXPIRE`-family and `PERSIST`: 1 when the change took effect, counted
/// in the request metrics as a write (`updated`, else `miss`).
async fn change_ttl(app: &App, key: &[u8], change: Change) -> Result<Reply, String> {
    let key = checked_key(app, key)?;
    let started = Instant::now();
    let changed = app.ops.change_ttl(key, change).await;
    let outcome = match &changed {
        Ok(true) => Outcome::Updated,
        Ok(false) => Outcome::Miss,
        Err(_) => Outcome::ServerError,
    };
    record(app, Op::Set, outcome, started);
    changed
        .map(|yes| Reply::Integer(i64::from(yes)))
        .map_err(|e| failed(&e))
}

/// The balancer's wall clock, for `EXPIREAT`'s absolute times.
fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn record(app: &App, op: Op, outcome: Outcome, started: Instant) {
    app.metrics
        .record_request(op, outcome, started.elapsed().as_secs_f64());
}

fn hello(protocol: u8) -> Reply {
    Reply::Map(vec![
        ("server", Reply::text("dlb")),
        ("version", Reply::text(env!("CARGO_PKG_VERSION"))),
        ("proto", Reply::Integer(i64::from(protocol))),
        ("id", Reply::Integer(0)),
        ("mode", Reply::text("standalone")),
        ("role", Reply::text("master")),
        ("modules", Reply::Array(Vec::new())),
    ])
}

fn info(app: &App) -> String {
    let nodes = app.nodes.current();
    format!(
        "# Server\r\nredis_version:7.0.0\r\ndlb_version:{}\r\nredis_mode:standalone\r\n\
         # Cluster\r\ndlb_nodes:{}\r\ndlb_nodes_up:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        nodes.all().len(),
        nodes.up_count()
    )
}
