//! What a connection goes through between its accept and its first byte
//! of HTTP: nothing for plain HTTP ([`Plain`]), a TLS handshake for HTTPS
//! (the balancer's, over rustls). The front door stays free of any TLS
//! library: it only bounds the handshake, whatever it is.
//!
//! The handshake runs on the connection's own task, holding its slot (so
//! it counts against `max_connections`), and must end within
//! `header_read_timeout` of the accept: a client that opens a socket and
//! never says hello is cut off as one slow with its headers would be
//! (`slow_handshake`). Only the bytes that come out of the handshake's
//! stream (for TLS, the plaintext) are watched for the idle and header
//! timeouts.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Turns an accepted socket into the stream HTTP is spoken over.
pub trait Handshake: Clone + Send + 'static {
    /// The stream the HTTP/1.1 connection reads and writes.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Runs the handshake on `tcp`; an error closes the connection.
    fn handshake(self, tcp: TcpStream) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// Plain HTTP: the socket as it is, with nothing to wait for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Handshake for Plain {
    type Io = TcpStream;

    async fn handshake(self, tcp: TcpStream) -> io::Result<TcpStream> {
        Ok(tcp)
    }
}
