//! The RESP listener and its connections: read requests as they arrive,
//! run them in the order sent, those on distinct keys of a pipeline at
//! the same time ([`super::batch`] decides), and write the replies back
//! in that order, batched while the client pipelines.
//!
//! While replies are being written the connection keeps reading, as
//! Redis does: a client that sends a whole pipeline before reading any
//! reply (redis-py's and Jedis's pipelines do) would otherwise fill both
//! directions' socket buffers and wait on the balancer forever. What it
//! reads meanwhile is bounded by [`parse::MAX_REQUEST`].
//!
//! Bounds, as Redis's own: past `max_connections` open connections a new
//! one is answered `-ERR max number of clients reached` and closed; a
//! protocol error is answered and the connection closed; no idle timeout
//! (Redis's `timeout 0`). On shutdown the listener closes and each
//! connection closes at its next read: the commands being run then get no
//! reply.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::batch::{self, Decoded};
use super::command;
use super::exec::After;
use super::parse;
use super::reply::Reply;
use super::together;
use crate::App;

/// Replies buffered before they are written even while more requests
/// wait: a long pipeline's answers start flowing.
const FLUSH_BYTES: usize = 64 * 1024;

/// Request bytes taken into one batch at most (past them the batch ends
/// after the request that crossed them): requests are copied out of the
/// input buffer as they are decoded, so this bounds how many a batch
/// holds at once.
const BATCH_BYTES: usize = 1024 * 1024;

/// A buffer grown past this for one large request or reply is given back
/// once it is empty, not kept for the connection's life.
const SHRINK_ABOVE: usize = 1024 * 1024;

/// Serves RESP on `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(app.config.server.max_connections));
    let spare = Arc::new(Semaphore::new(app.config.server.max_in_flight));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "RESP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let pools = Pools {
            _slot: slot,
            spare: spare.clone(),
        };
        tokio::spawn(connection(stream, app.clone(), pools, stop.clone()));
    }
}

async fn refuse(mut stream: TcpStream) {
    let _ = stream
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
}

/// What a connection holds of the port's shared bounds.
struct Pools {
    /// Its place among `max_connections`.
    _slot: OwnedSemaphorePermit,
    /// The `max_in_flight` slots a run's commands beyond its first borrow.
    spare: Arc<Semaphore>,
}

async fn connection(
    mut stream: TcpStream,
    app: Arc<App>,
    pools: Pools,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.split();
    let max_bulk = app.config.limits.max_value_bytes;
    let widest = batch::widest_run(max_bulk, app.config.server.max_in_flight);
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = Vec::with_capacity(16 * 1024);
    let mut partial = parse::Partial::default();
    let mut protocol = 2;
    let mut batch = VecDeque::new();
    loop {
        loop {
            let broken = read_batch(&mut input, max_bulk, &mut partial, &mut batch);
            if batch.is_empty() && broken.is_none() {
                break;
            }
            while !batch.is_empty() {
                let n = batch::run_length(batch.make_contiguous(), widest);
                let run = batch.drain(..n).collect();
                let ran =
                    together::run_together(&app, run, &pools.spare, &mut protocol, &mut output);
                if ran.await == After::Close {
                    let _ = writer.write_all(&output).await;
                    return;
                }
                if output.len() >= FLUSH_BYTES
                    && send(&mut reader, &mut writer, &mut input, &mut output)
                        .await
                        .is_err()
                {
                    return;
                }
            }
            if let Some(e) = broken {
                Reply::Error(format!("ERR Protocol error: {}", e.0)).write(protocol, &mut output);
                let _ = writer.write_all(&output).await;
                return;
            }
        }
        if !output.is_empty() {
            match send(&mut reader, &mut writer, &mut input, &mut output).await {
                // Requests read while writing are answered before waiting
                // for more bytes.
                Ok(true) => continue,
                Ok(false) => {}
                Err(_) => return,
            }
        }
        if *stop.borrow() {
            return;
        }
        if input.capacity() > SHRINK_ABOVE && input.is_empty() {
            input = BytesMut::with_capacity(16 * 1024);
        }
        tokio::select! {
            read = reader.read_buf(&mut input) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = stop.changed() => return,
        }
    }
}

/// Takes the complete requests at the front of `input` into `batch`,
/// decoded, up to [`batch::MAX_RUN`] of them or [`BATCH_BYTES`] (empty
/// requests are dropped and not counted: a batch ends empty only when no
/// complete request is left); returns the protocol error that stopped it,
/// if one did (the requests before it are in `batch`).
fn read_batch(
    input: &mut BytesMut,
    max_bulk: usize,
    partial: &mut parse::Partial,
    batch: &mut VecDeque<Decoded>,
) -> Option<parse::ProtocolError> {
    let mut taken = 0;
    while batch.len() < batch::MAX_RUN && taken < BATCH_BYTES {
        let request = match parse::parse(input, max_bulk, partial) {
            Ok(Some(request)) => request,
            Ok(None) => return None,
            Err(e) => return Some(e),
        };
        input.advance(request.consumed);
        if !request.args.is_empty() {
            taken += request.consumed;
            batch.push_back(command::decode(&request.args));
        }
    }
    None
}

/// Writes `output` whole, reading into `input` meanwhile (up to
/// [`parse::MAX_REQUEST`] bytes buffered), then empties it. Says whether
/// it read anything.
async fn send(
    reader: &mut ReadHalf<'_>,
    writer: &mut WriteHalf<'_>,
    input: &mut BytesMut,
    output: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let mut sent = 0;
    let mut open = true;
    let mut read_any = false;
    while sent < output.len() {
        tokio::select! {
            written = writer.write(&output[sent..]) => match written? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => sent += n,
            },
            read = reader.read_buf(input), if open && input.len() < parse::MAX_REQUEST => {
                open = matches!(read, Ok(n) if n > 0);
                read_any |= open;
            }
        }
    }
    if output.capacity() > SHRINK_ABOVE {
        *output = Vec::with_capacity(16 * 1024);
    } else {
        output.clear();
    }
    Ok(read_any)
}
