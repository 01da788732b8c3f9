//! The RESP listener and its connections: read requests as they arrive,
//! run them one after another in the order sent, and write the replies
//! back in that order, batched while the client pipelines.
//!
//! Bounds, as Redis's own: past `max_connections` open connections a new
//! one is answered `-ERR max number of clients reached` and closed; a
//! protocol error is answered and the connection closed; no idle timeout
//! (Redis's `timeout 0`). On shutdown the listener closes, and each
//! connection closes once the requests it has read are answered.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::command;
use super::exec::{self, After};
use super::parse;
use super::reply::Reply;
use crate::App;

/// Replies buffered before they are written even while more requests
/// wait: a long pipeline's answers start flowing.
const FLUSH_BYTES: usize = 64 * 1024;

/// Serves RESP on `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(app.config.server.max_connections));
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
        tokio::spawn(connection(stream, app.clone(), slot, stop.clone()));
    }
}

async fn refuse(mut stream: TcpStream) {
    let _ = stream
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
}

async fn connection(
    mut stream: TcpStream,
    app: Arc<App>,
    _slot: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let limits = &app.config.limits;
    let max_bulk = limits.max_value_bytes.max(limits.max_key_bytes);
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = Vec::with_capacity(16 * 1024);
    let mut protocol = 2;
    loop {
        loop {
            let request = match parse::parse(&input, max_bulk) {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(e) => {
                    Reply::Error(format!("ERR Protocol error: {}", e.0))
                        .write(protocol, &mut output);
                    let _ = stream.write_all(&output).await;
                    return;
                }
            };
            input.advance(request.consumed);
            if request.args.is_empty() {
                continue;
            }
            let (reply, after) = match command::decode(&request.args) {
                Ok(cmd) => exec::run(&app, cmd, &mut protocol).await,
                Err(e) => (Reply::Error(e), After::Continue),
            };
            reply.write(protocol, &mut output);
            if after == After::Close {
                let _ = stream.write_all(&output).await;
                return;
            }
            if output.len() >= FLUSH_BYTES {
                if stream.write_all(&output).await.is_err() {
                    return;
                }
                output.clear();
            }
        }
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            read = stream.read_buf(&mut input) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = stop.changed() => return,
        }
    }
}
