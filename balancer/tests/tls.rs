//! HTTPS on the balancer's port, against a real balancer and real Redis:
//! the cache API over TLS with a client that trusts the test CA, ALPN
//! `http/1.1` only, a plain HTTP client on the TLS port closed cleanly,
//! the handshake bounded by the header-read timeout and holding a
//! connection slot, the header bound kept over TLS, and TLS settings the
//! binary refuses (exit 2). Behaviour, not timings.
//!
//! The certificates are TEST-ONLY fixtures (`fixtures/tls/generate`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use balancer::config::Config;
use rustls::pki_types::ServerName;
use serde_json::json;
use test_support::https::client_config;
use test_support::{Cluster, HttpsClient, TestBalancer, closed_count, wait_until};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// The cluster's configuration, serving HTTPS with the test certificate.
fn tls_config(cluster: &Cluster) -> Config {
    let mut config = cluster.unreplicated_config();
    config.server.tls_cert = Some(fixture("cert.pem"));
    config.server.tls_key = Some(fixture("key.pem"));
    config
}

/// Waits until the balancer answers `/healthz` over HTTPS.
async fn wait_serving(b: &TestBalancer, client: &HttpsClient) {
    let url = format!("{}/healthz", b.url);
    wait_until("the balancer serves HTTPS", 20, async || {
        client.get(&url).await.is_ok()
    })
    .await;
}

async fn connect(b: &TestBalancer) -> TcpStream {
    TcpStream::connect(b.url.trim_start_matches("https://"))
        .await
        .unwrap()
}

/// Everything the server sends until it closes the connection; panics if
/// it is still open after `limit`.
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Vec<u8> {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut bytes))
        .await
        .expect("the server closes the connection");
    // A TLS stream cut without close_notify ends in an error: closed all the same.
    let _ = read;
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_post_and_get_cache_work_for_a_client_trusting_the_ca() {
    let cluster = Cluster::start(&["64mb"]);
    let b = TestBalancer::start(tls_config(&cluster)).await;
    assert!(b.url.starts_with("https://"), "{}", b.url);
    let client = HttpsClient::trusting(&fixture("ca.pem"));
    wait_serving(&b, &client).await;

    let value = json!({"name": "Ada", "langs": ["en", "fr"]});
    let put = client
        .post_json(
            &format!("{}/cache", b.url),
            &json!({"key": "tls:1", "value": value}),
        )
        .await
        .unwrap();
    assert_eq!(put.status, 201, "{}", put.body);
    let got = client.get(&format!("{}/cache/tls:1", b.url)).await.unwrap();
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.json()["value"], value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_offers_http_1_1_only() {
    let cluster = Cluster::start(&["64mb"]);
    let b = TestBalancer::start(tls_config(&cluster)).await;
    wait_serving(&b, &HttpsClient::trusting(&fixture("ca.pem"))).await;
    let name = ServerName::try_from("127.0.0.1").unwrap();

    let both = client_config(&fixture("ca.pem"), &[b"h2", b"http/1.1"]);
    let tls = TlsConnector::from(Arc::new(both))
        .connect(name.clone(), connect(&b).await)
        .await
        .expect("a handshake offering h2 and http/1.1");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let h2_only = client_config(&fixture("ca.pem"), &[b"h2"]);
    let refused = TlsConnector::from(Arc::new(h2_only))
        .connect(name, connect(&b).await)
        .await;
    assert!(refused.is_err(), "a client offering only h2 is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port_is_closed_and_the_server_keeps_serving() {
    let cluster = Cluster::start(&["64mb"]);
    let b = TestBalancer::start(tls_config(&cluster)).await;
    let client = HttpsClient::trusting(&fixture("ca.pem"));
    wait_serving(&b, &client).await;

    let mut plain = connect(&b).await;
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut plain, Duration::from_secs(10)).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP answered: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let health = client.get(&format!("{}/healthz", b.url)).await.unwrap();
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_says_hello_is_cut_off_within_the_header_timeout() {
    let cluster = Cluster::start(&["64mb"]);
    let mut config = tls_config(&cluster);
    config.server.header_read_timeout = Duration::from_millis(300);
    config.server.idle_timeout = Duration::from_secs(600);
    let b = TestBalancer::start(config).await;
    let mut silent = connect(&b).await;
    let sent = read_until_closed(&mut silent, Duration::from_secs(20)).await;
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(closed_count(&b, "slow_handshake"), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_shaking_hands_holds_a_slot() {
    let cluster = Cluster::start(&["64mb"]);
    let mut config = tls_config(&cluster);
    config.server.max_connections = 1;
    config.server.header_read_timeout = Duration::from_secs(3);
    let b = TestBalancer::start(config).await;
    // No connection came before: the silent one takes the only slot.
    let mut silent = connect(&b).await;
    let mut second = connect(&b).await;
    let refused = read_until_closed(&mut second, Duration::from_secs(20)).await;
    let refused = String::from_utf8_lossy(&refused);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too_many_connections"), "{refused}");
    // Once the silent one is cut off, the slot serves again.
    read_until_closed(&mut silent, Duration::from_secs(20)).await;
    wait_serving(&b, &HttpsClient::trusting(&fixture("ca.pem"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_client_slow_with_its_headers_is_cut_off() {
    let cluster = Cluster::start(&["64mb"]);
    let mut config = tls_config(&cluster);
    config.server.header_read_timeout = Duration::from_millis(300);
    config.server.idle_timeout = Duration::from_secs(600);
    let b = TestBalancer::start(config).await;
    wait_serving(&b, &HttpsClient::trusting(&fixture("ca.pem"))).await;
    let tls = client_config(&fixture("ca.pem"), &[b"http/1.1"]);
    let mut slow = TlsConnector::from(Arc::new(tls))
        .connect(
            ServerName::try_from("127.0.0.1").unwrap(),
            connect(&b).await,
        )
        .await
        .unwrap();
    slow.write_all(b"GET /cache/k HTTP/1.1\r\nhost: t\r\n")
        .await
        .unwrap();
    read_until_closed(&mut slow, Duration::from_secs(20)).await;
    assert_eq!(closed_count(&b, "slow_headers"), "1");
}

/// Runs the binary with `args`; its exit code and standard error. One
/// that has not exited after 20 s (it started serving) is killed: no code.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_balancer"))
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("DLB_NODES")
        .env_remove("DLB_TLS_CERT")
        .env_remove("DLB_TLS_KEY")
        .env_remove("DLB_ZOOKEEPER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run balancer");
    for _ in 0..200 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_certificate_without_a_key_or_a_key_without_a_certificate_is_refused() {
    let dir = std::env::temp_dir().join(format!("dlb-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cert-only.toml");
    let cert = fixture("cert.pem");
    std::fs::write(&file, format!("[server]\ntls_cert = {:?}\n", cert)).unwrap();
    let (code, err) = run(&["--config", file.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("server.tls_cert is set without server.tls_key"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();

    let key = fixture("key.pem");
    let (code, err) = run(&["--tls-key", key.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("server.tls_key is set without server.tls_cert"),
        "{err}"
    );
}

#[test]
fn unusable_tls_files_are_refused_naming_the_file_and_the_problem() {
    let path = |name: &str| fixture(name).to_str().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("dlb-tls-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbled = dir.join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbled = garbled.to_str().unwrap().to_string();
    let cases = [
        (
            ["/nonexistent/cert.pem".to_string(), path("key.pem")],
            "server.tls_cert /nonexistent/cert.pem: cannot read it".to_string(),
        ),
        (
            [path("cert.pem"), "/nonexistent/key.pem".into()],
            "server.tls_key /nonexistent/key.pem: cannot read it".into(),
        ),
        (
            [path("key.pem"), path("key.pem")],
            format!("server.tls_cert {}: no certificate in it", path("key.pem")),
        ),
        (
            [garbled.clone(), path("key.pem")],
            format!("server.tls_cert {garbled}: not valid PEM"),
        ),
        (
            [path("cert.pem"), path("cert.pem")],
            format!("server.tls_key {}: no private key in it", path("cert.pem")),
        ),
        (
            [path("cert.pem"), path("other-key.pem")],
            format!(
                "server.tls_key {}: is not the key of the certificate",
                path("other-key.pem")
            ),
        ),
    ];
    for ([cert, key], expected) in cases {
        let (code, err) = run(&["--tls-cert", &cert, "--tls-key", &key]);
        assert_eq!(code, Some(2), "{cert} {key}: {err}");
        assert!(err.contains(&expected), "expected {expected:?} in: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
