//! The RESP front end: the Redis protocol (RESP2, and RESP3 after
//! `HELLO 3`) on its own port (`--resp-listen`), so that any Redis client
//! reaches the whole cluster: placement, the index, replication and the
//! near cache, through the same operations as the HTTP API and over one
//! key space with it.
//!
//! **Follow one `GET k`**: `server.rs` reads bytes into the connection's
//! buffer; `parse.rs` frames the request; `command.rs` decides what it
//! asks ([`command::Command::Get`]; `options.rs` checks the options of
//! `SET`, `CLIENT` and `HELLO`); `exec.rs` runs it with
//! [`crate::ops::Ops::get`] and maps the JSON value back to bytes
//! (`value.rs`); `reply.rs` writes the bulk string; `server.rs` sends the
//! replies once no complete request is left in the buffer. Pipelined
//! commands on distinct keys run at the same time (`batch.rs` decides).

mod batch;
pub mod command;
mod exec;
mod options;
pub mod parse;
pub mod reply;
mod server;
mod together;
pub mod value;

pub use server::serve;
