//! The agent's HTTP server against real sockets: a client too slow with
//! its headers is dropped, an idle connection is closed after the idle
//! timeout (and not before), and connections past the limit are refused.

use std::time::Duration;

use test_support::{RedisServer, TestAgent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: agent\r\n\r\n";

async fn agent(node: &RedisServer, header_ms: u64, idle_ms: u64, max: usize) -> TestAgent {
    let mut config = TestAgent::config("conn-host", &[node]);
    config.header_read_timeout = Duration::from_millis(header_ms);
    config.idle_timeout = Duration::from_millis(idle_ms);
    config.max_connections = max;
    TestAgent::start(config).await
}

/// Reads until the server closes; returns what it sent, or `None` if it
/// is still open after `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.ok()?;
    Some(String::from_utf8_lossy(&got).into_owned())
}

/// Sends one request and reads one answer (the server keeps the
/// connection); empty when the server closed it instead.
async fn ask(stream: &mut TcpStream) -> String {
    let _ = stream.write_all(REQUEST).await;
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf));
    match read.await.expect("an answer or a close within 2 s") {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(_) => String::new(),
    }
}

#[tokio::test]
async fn a_client_sending_headers_too_slowly_is_dropped() {
    let node = RedisServer::start();
    let agent = agent(&node, 300, 10_000, 8).await;
    let mut slow = TcpStream::connect(agent.addr).await.unwrap();
    let started = Instant::now();
    // A byte every 100 ms: the headers never end within 300 ms.
    let trickle = async {
        for byte in b"GET /healthz HTTP/1.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaa" {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), trickle)
        .await
        .expect("the server still reads a client trickling its headers after 2 s");
    let rest = read_until_closed(&mut slow, Duration::from_secs(1)).await;
    assert!(rest.is_some(), "still open");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!rest.unwrap().contains("200 OK"));

    // A client that sends its request at once is served on the same agent.
    let mut fast = TcpStream::connect(agent.addr).await.unwrap();
    assert!(ask(&mut fast).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout_not_the_header_one() {
    let node = RedisServer::start();
    let agent = agent(&node, 200, 1000, 8).await;
    let mut conn = TcpStream::connect(agent.addr).await.unwrap();
    // Silent for longer than the header timeout: still open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(ask(&mut conn).await.starts_with("HTTP/1.1 200"));
    // Kept alive after the answer, then idle: closed after about 1 s.
    let answered = Instant::now();
    let closed = read_until_closed(&mut conn, Duration::from_secs(3)).await;
    assert_eq!(closed.as_deref(), Some(""), "closed without another answer");
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_millis(2000),
        "{idle:?}"
    );
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_until_one_closes() {
    let node = RedisServer::start();
    let agent = agent(&node, 5000, 30_000, 2).await;
    let mut first = TcpStream::connect(agent.addr).await.unwrap();
    let _second = TcpStream::connect(agent.addr).await.unwrap();
    assert!(ask(&mut first).await.starts_with("HTTP/1.1 200"));

    let mut third = TcpStream::connect(agent.addr).await.unwrap();
    let refused = read_until_closed(&mut third, Duration::from_secs(2))
        .await
        .expect("the third connection is closed");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too_many_connections"), "{refused}");

    drop(first);
    let mut served = false;
    for _ in 0..40 {
        let mut conn = TcpStream::connect(agent.addr).await.unwrap();
        if ask(&mut conn).await.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "a slot frees when a connection closes");
}
