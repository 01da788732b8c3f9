//! The HTTP server's bounds, against a real balancer and real Redis: a
//! slow client is cut off, the connection limit holds, a request past
//! the in-flight limit gets a fast 503 with `Retry-After`, and a flood of
//! failed requests writes a few log lines, not one each. Behaviour, not
//! timings.

use std::time::Duration;

use serde_json::json;
use test_support::{Cluster, HttpClient, TestBalancer, closed_count, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects to the balancer at `url` (`http://host:port`).
async fn connect(b: &TestBalancer) -> TcpStream {
    TcpStream::connect(b.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Everything the server sends until it closes the connection; panics if
/// it is still open after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut text = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut text))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&text).into_owned()
}

/// One request on an open connection, answered with a short body.
async fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slow_with_its_headers_is_cut_off() {
    let cluster = Cluster::start(&["64mb"]);
    let mut config = cluster.unreplicated_config();
    config.server.header_read_timeout = Duration::from_millis(300);
    let b = TestBalancer::start(config).await;
    let mut slow = connect(&b).await;
    slow.write_all(b"GET /cache/k HTTP/1.1\r\nhost: t\r\n")
        .await
        .unwrap();
    read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert_eq!(closed_count(&b, "slow_headers"), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slow_with_its_body_gets_408_and_is_cut_off_and_nothing_is_written() {
    let cluster = Cluster::start(&["64mb"]);
    let mut config = cluster.unreplicated_config();
    config.server.body_timeout = Duration::from_millis(300);
    let b = TestBalancer::start(config).await;
    let mut slow = connect(&b).await;
    let body = r#"{"key":"slow","value":1}"#;
    let head = format!(
        "POST /cache HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..5]).await.unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"body_timeout""#), "{answer}");
    let http = HttpClient::new();
    let read = http.get(&format!("{}/cache/slow", b.url)).await.unwrap();
    assert_eq!(read.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_a_new_connection_gets_503_and_open_ones_keep_working() {
    let cluster = Cluster::start(&["64mb"]);
    let mut config = cluster.unreplicated_config();
    config.server.max_connections = 2;
    let b = TestBalancer::start(config).await;
    // The start-up probe's pooled connection may still be open: wait for it
    // to go, then hold both slots.
    let mut open = Vec::new();
    while open.len() < 2 {
        let mut conn = connect(&b).await;
        if exchange(&mut conn, HEALTH)
            .await
            .starts_with("HTTP/1.1 200")
        {
            open.push(conn);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut third = connect(&b).await;
    let refused = read_until_closed(&mut third, Duration::from_secs(10)).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(refused.contains("too_many_connections"), "{refused}");
    for conn in &mut open {
        assert!(exchange(conn, HEALTH).await.starts_with("HTTP/1.1 200"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_in_flight_limit_is_answered_503_overloaded_with_retry_after() {
    let cluster = Cluster::start(&["64mb"]);
    let mut config = cluster.unreplicated_config();
    config.server.max_in_flight = 1;
    config.timeouts.node = Duration::from_millis(3000);
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let url = format!("{}/cache", b.url);
    let put = |key: &str| json!({"key": key, "value": 1});
    assert_eq!(
        http.post_json(&url, &put("warm")).await.unwrap().status,
        201
    );

    // With the only node frozen, a write holds the only slot for the node
    // timeout: of two sent together, one is shed.
    cluster.nodes[0].pause();
    let post = |key: &'static str| {
        let (http, url, body) = (http.clone(), url.clone(), put(key));
        async move { http.post_json(&url, &body).await.unwrap() }
    };
    let nodes_url = format!("{}/nodes", b.url);
    let mut seen = None;
    wait_until("one of two writes sent together is shed", 20, async || {
        let (first, second, nodes) = tokio::join!(post("a"), post("b"), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            http.get(&nodes_url).await.unwrap()
        });
        let shed = [first, second]
            .into_iter()
            .find(|r| r.status == 503 && r.json()["error"] == "overloaded");
        seen = shed.map(|shed| (shed, nodes.status));
        seen.is_some()
    })
    .await;
    let (shed, nodes_status) = seen.unwrap();
    assert_eq!(shed.headers["retry-after"], "1");
    assert_eq!(nodes_status, 200, "the operator routes are not bounded");
    cluster.nodes[0].resume();
    let metrics = b.app.metrics.render();
    let shed_count: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"dlb_requests_total{op="set",outcome="server_error"} "#))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(shed_count >= 1, "a shed request is counted");
}

/// The log without colour codes.
fn plain(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_failed_requests_write_a_few_log_lines_that_count_them_all() {
    const FAILED: u64 = 10_000;
    let index = test_support::RedisServer::start();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (listen, no_node) = (free_port(), free_port());
    let file = std::env::temp_dir().join(format!("dlb-failure-log-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "listen = \"{listen}\"\nindex = \"{}\"\nnodes = [\"{no_node}\"]\n\
             [server]\nfailure_log_interval_ms = 500\n",
            index.addr()
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_balancer"))
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = HttpClient::new();
    let url = format!("http://{listen}");
    wait_until("the balancer answers", 30, async || {
        http.get(&format!("{url}/healthz")).await.is_ok()
    })
    .await;
    let senders: Vec<_> = (0..20)
        .map(|s| {
            let (http, url) = (http.clone(), format!("{url}/cache"));
            tokio::spawn(async move {
                for i in 0..FAILED / 20 {
                    let body = json!({"key": format!("k{s}-{i}"), "value": i});
                    let reply = http.post_json(&url, &body).await.unwrap();
                    assert_eq!(reply.status, 503, "{}", reply.body);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    // Two intervals: the last window's count line is written.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the balancer stops on SIGTERM")
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let log = plain(&[out.stdout, out.stderr].concat());
    let detailed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request failed"))
        .collect();
    let counted: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("more requests failed"))
        .map(|l| {
            let count = l.split("count=").nth(1).expect("a count field");
            count.split_whitespace().next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(detailed.len(), 1, "{log}");
    assert!(detailed[0].contains("no_nodes"), "{log}");
    assert!(counted.len() <= 30, "{} count lines: {log}", counted.len());
    assert_eq!(1 + counted.iter().sum::<u64>(), FAILED, "{log}");
}
