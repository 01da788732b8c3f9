//! HTTPS on the balancer's port, off unless `[server]` names both a
//! certificate and a key: the PEM files read into a rustls server
//! configuration, and the [`frontdoor::Handshake`] that runs it on each
//! accepted connection.
//!
//! The crypto is rustls's `ring` provider (aws-lc-rs, rustls's default,
//! needs cmake and clang to build); TLS 1.2 and 1.3, rustls's safe
//! defaults. ALPN offers `http/1.1` only, since the server speaks nothing
//! else; a client that offers ALPN without it is refused by rustls.
//!
//! The files are read once, at start-up (`App::build`): a file that
//! cannot be read or holds no usable certificate or key is a
//! [`ConfigError`] naming the setting, the file and what is wrong, and the
//! binary exits 2. The handshake's time bound and its connection slot are
//! the front door's (`frontdoor/src/handshake.rs`).

use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::{ConfigError, ServerConfig};

/// How the balancer's connections begin: plain HTTP, or a TLS handshake.
#[derive(Clone, Default)]
pub struct Acceptor(Option<TlsAcceptor>);

impl Acceptor {
    /// Reads `server.tls_cert` and `server.tls_key` when they are set
    /// (validation made sure they come as a pair); plain HTTP when not.
    ///
    /// # Errors
    /// A [`ConfigError::Tls`] when a file cannot be read, holds no
    /// certificate or key, or the key is not the certificate's.
    pub fn from_config(server: &ServerConfig) -> Result<Acceptor, ConfigError> {
        let (Some(cert), Some(key)) = (&server.tls_cert, &server.tls_key) else {
            return Ok(Acceptor(None));
        };
        let config = server_config(cert, key)?;
        Ok(Acceptor(Some(TlsAcceptor::from(Arc::new(config)))))
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Acceptor")
            .field(&if self.is_tls() { "tls" } else { "plain" })
            .finish()
    }
}

impl frontdoor::Handshake for Acceptor {
    type Io = Stream;

    async fn handshake(self, tcp: TcpStream) -> io::Result<Stream> {
        match self.0 {
            None => Ok(Stream::Plain(tcp)),
            Some(tls) => Ok(Stream::Tls(Box::new(tls.accept(tcp).await?))),
        }
    }
}

/// The rustls configuration for these files: the chain, its key, ALPN
/// `http/1.1`.
fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, ConfigError> {
    let bad_cert = |problem: String| tls_error("server.tls_cert", cert, problem);
    let bad_key = |problem: String| tls_error("server.tls_key", key, problem);
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad_cert(pem_problem(e)))?;
    if chain.is_empty() {
        return Err(bad_cert(
            "no certificate in it (a PEM \"CERTIFICATE\" section)".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        pem::Error::NoItemsFound => bad_key(
            "no private key in it (a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \
             \"EC PRIVATE KEY\" section)"
                .into(),
        ),
        e => bad_key(pem_problem(e)),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => bad_key(format!(
                "is not the key of the certificate in {}",
                cert.display()
            )),
            rustls::Error::InvalidCertificate(_) => bad_cert(format!("unusable certificate: {e}")),
            e => bad_key(format!("unusable private key: {e}")),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn tls_error(setting: &'static str, path: &Path, problem: String) -> ConfigError {
    ConfigError::Tls {
        setting,
        path: path.display().to_string(),
        problem,
    }
}

/// A PEM reading error in words.
fn pem_problem(e: pem::Error) -> String {
    match e {
        pem::Error::Io(e) => format!("cannot read it: {e}"),
        e => format!("not valid PEM: {e}"),
    }
}

/// A connection's stream: the socket, or TLS over it (boxed: rustls's
/// state is some hundreds of bytes a plain connection need not carry).
#[derive(Debug)]
pub enum Stream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS, its handshake done.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
