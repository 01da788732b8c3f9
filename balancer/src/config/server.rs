//! The `[server]` table: how the HTTP front end bounds its clients (see
//! `http/stack.rs` and the `frontdoor` crate), where its TLS certificate
//! and key are (read by `tls.rs`), and where the RESP front end listens
//! (`resp/`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::millis;

/// Bounds on connections and requests.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Open client connections at once; the next is answered 503 with
    /// `Retry-After` and closed, and open ones keep working. Keep the
    /// process's file descriptor limit (`ulimit -n`) above it, with room
    /// for the connections to Redis. Default 10 000.
    pub max_connections: usize,
    /// Cache requests handled at once (their bodies already read); past
    /// it a request is answered 503 `overloaded` with `Retry-After` at
    /// once rather than queued. Default 1024, Envoy's default request
    /// limit: at 256, clients that retry at once got fewer writes through
    /// (BENCHMARKS.md, "Overload").
    pub max_in_flight: usize,
    /// From a request's first byte to its complete headers. Whole
    /// milliseconds, key `header_read_timeout_ms`. Default 10 000 ms.
    #[serde(
        rename = "header_read_timeout_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub header_read_timeout: Duration,
    /// A request body, from its headers to its last byte; a slower one is
    /// answered 408 and its connection closed. Whole milliseconds, key
    /// `body_timeout_ms`. Default 10 000 ms.
    #[serde(rename = "body_timeout_ms", deserialize_with = "millis::deserialize")]
    pub body_timeout: Duration,
    /// A connection with no request in flight and none begun is closed
    /// after this long. Whole milliseconds, key `idle_timeout_ms`.
    /// Default 60 000 ms.
    #[serde(rename = "idle_timeout_ms", deserialize_with = "millis::deserialize")]
    pub idle_timeout: Duration,
    /// Failed requests are logged once in detail per reason, then counted
    /// and logged as one line per reason per this interval. Whole
    /// milliseconds, key `failure_log_interval_ms`. Default 10 000 ms.
    #[serde(
        rename = "failure_log_interval_ms",
        deserialize_with = "millis::deserialize"
    )]
    pub failure_log_interval: Duration,
    /// Address of the RESP (Redis protocol) front end; none by default.
    /// It takes `max_connections` connections of its own.
    pub resp_listen: Option<SocketAddr>,
    /// PEM file of the certificate chain to serve HTTPS with, the
    /// server's certificate first. Set with `tls_key`, or neither: no
    /// TLS, plain HTTP (the default).
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the private key of `tls_cert` (PKCS#8, PKCS#1 or
    /// SEC1). Set with `tls_cert`, or neither.
    pub tls_key: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            max_in_flight: 1024,
            header_read_timeout: Duration::from_millis(10_000),
            body_timeout: Duration::from_millis(10_000),
            idle_timeout: Duration::from_millis(60_000),
            failure_log_interval: Duration::from_millis(10_000),
            resp_listen: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl ServerConfig {
    /// What is wrong with these settings, if anything: every bound must
    /// be positive, and the TLS files come as a pair. Whether the files
    /// hold a usable certificate and key is checked when they are read
    /// (`tls.rs`, from `App::build`).
    pub(super) fn problem(&self) -> Option<String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Some("server.tls_cert is set without server.tls_key: set both (HTTPS) or neither (HTTP)".into());
            }
            (None, Some(_)) => {
                return Some("server.tls_key is set without server.tls_cert: set both (HTTPS) or neither (HTTP)".into());
            }
            _ => {}
        }
        let counts = [
            ("max_connections", self.max_connections),
            ("max_in_flight", self.max_in_flight),
        ];
        let times = [
            ("header_read_timeout_ms", self.header_read_timeout),
            ("body_timeout_ms", self.body_timeout),
            ("idle_timeout_ms", self.idle_timeout),
            ("failure_log_interval_ms", self.failure_log_interval),
        ];
        let zero = counts
            .iter()
            .find(|(_, n)| *n == 0)
            .map(|(name, _)| name)
            .or_else(|| {
                times
                    .iter()
                    .find(|(_, t)| t.is_zero())
                    .map(|(name, _)| name)
            })?;
        Some(format!("server.{zero} must be positive"))
    }

    /// The connection bounds the front door enforces.
    pub fn connection_limits(&self) -> frontdoor::Limits {
        frontdoor::Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_must_be_positive() {
        assert_eq!(ServerConfig::default().problem(), None);
        let no_slots = ServerConfig {
            max_in_flight: 0,
            ..ServerConfig::default()
        };
        assert_eq!(
            no_slots.problem().as_deref(),
            Some("server.max_in_flight must be positive")
        );
        let no_time = ServerConfig {
            body_timeout: Duration::ZERO,
            ..ServerConfig::default()
        };
        assert_eq!(
            no_time.problem().as_deref(),
            Some("server.body_timeout_ms must be positive")
        );
    }

    #[test]
    fn the_tls_files_come_as_a_pair() {
        let both = ServerConfig {
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            ..ServerConfig::default()
        };
        assert_eq!(both.problem(), None);
        let cert_only = ServerConfig {
            tls_key: None,
            ..both.clone()
        };
        let problem = cert_only.problem().unwrap();
        assert!(
            problem.contains("tls_cert is set without server.tls_key"),
            "{problem}"
        );
        let key_only = ServerConfig {
            tls_cert: None,
            ..both
        };
        let problem = key_only.problem().unwrap();
        assert!(
            problem.contains("tls_key is set without server.tls_cert"),
            "{problem}"
        );
    }
}
