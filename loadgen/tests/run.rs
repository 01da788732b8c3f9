//! loadgen end to end: against a real balancer over real Redis, and against
//! a deliberately slow server to show the open loop counts queueing delay
//! (no coordinated omission) where the closed loop cannot.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use loadgen::driver::Mode;
use loadgen::schedule::Schedule;
use loadgen::workload::{KeyDist, Payload, TtlChoice, ValueSize, Workload};
use loadgen::{Plan, execute};
use test_support::{Cluster, TestBalancer};

fn plan(target: String, mode: Mode, log: Option<String>) -> Plan {
    Plan {
        targets: vec![target.parse().unwrap()],
        headers: Vec::new(),
        mode,
        workload: Workload {
            mix: "get=70,set=20,delete=10".parse().unwrap(),
            keys: 2000,
            key_dist: KeyDist::Uniform,
            key_prefix: "lg:".into(),
            value_size: ValueSize::Fixed(100),
            payload: Payload::Text,
            ttl: TtlChoice::None,
        },
        seed: 9,
        preload: 0,
        connections: 32,
        timeout: Duration::from_secs(5),
        warmup: Duration::ZERO,
        requests: None,
        thresholds: Vec::new(),
        log,
        nodes_poll: None,
        hdr_out: None,
        summary_json: None,
        quiet: true,
    }
}

fn open(rate: f64, seconds: u64, connections: usize) -> Mode {
    Mode::Open {
        schedule: format!("{rate}:{seconds}s").parse::<Schedule>().unwrap(),
        connections,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_the_stack_keeps_its_rate_and_logs_every_request() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let balancer = TestBalancer::start(cluster.config()).await;
    let dir = std::env::temp_dir().join(format!("loadgen-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("requests.csv").to_string_lossy().into_owned();

    let report = execute(&plan(
        balancer.url.clone(),
        open(400.0, 3, 32),
        Some(log.clone()),
    ))
    .await
    .unwrap();
    let all = report.summary.ops.iter().find(|o| o.op == "all").unwrap();
    assert_eq!(report.summary.sent, 1200);
    assert_eq!(all.count, 1200);
    assert_eq!(report.logged_rows, Some(1200));
    assert!(all.errors.is_empty(), "{:?}", all.errors);
    let achieved = all.count as f64 / report.summary.elapsed_s;
    assert!(
        (achieved - 400.0).abs() / 400.0 < 0.05,
        "achieved {achieved}/s"
    );

    let mut reader = csv::Reader::from_path(&log).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "intended_us",
            "sent_us",
            "op",
            "key",
            "value_bytes",
            "status",
            "outcome",
            "latency_us",
            "service_us",
            "nodes",
            "error",
            "source",
            "response_bytes"
        ]
    );
    let mut misses = 0;
    let mut rows = 0;
    for row in reader.records() {
        let row = row.unwrap();
        rows += 1;
        assert!(row.iter().all(|f| !f.is_empty()), "empty column in {row:?}");
        let (op, status, outcome) = (&row[2], &row[5], &row[6]);
        let expected: &[&str] = match op {
            "get" => &["200", "404"],
            "set" => &["200", "201"],
            "delete" => &["204", "404"],
            other => panic!("unknown op {other}"),
        };
        assert!(expected.contains(&status), "{op} answered {status}");
        if status == "404" {
            assert_eq!(outcome, "miss");
            assert_eq!(&row[10], "-", "a miss is not an error");
            misses += 1;
        }
        if op == "set" {
            assert!(row[9].starts_with("127.0.0.1:"), "a write names its node");
            assert_eq!(&row[4], "102");
        }
    }
    assert_eq!(rows, 1200);
    assert!(misses > 100, "never-written keys miss: {misses}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A server that answers `/cache/*` one request at a time, each after
/// `service`, and `/healthz` at once.
async fn slow_server(service: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let one_at_a_time = Arc::new(tokio::sync::Mutex::new(()));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let gate = one_at_a_time.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let gate = gate.clone();
                    async move {
                        if req.uri().path() != "/healthz" {
                            let _turn = gate.lock().await;
                            tokio::time::sleep(service).await;
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

fn latencies(log: &str) -> Vec<u64> {
    csv::Reader::from_path(log)
        .unwrap()
        .records()
        .map(|r| r.unwrap()[7].parse().unwrap())
        .collect()
}

fn mean(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / v.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_counts_queueing_delay_that_closed_loop_hides() {
    // The server does 50 requests a second; the open loop asks for 100.
    let service = Duration::from_millis(20);
    let url = slow_server(service).await;
    let dir = std::env::temp_dir().join(format!("loadgen-slow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let open_log = dir.join("open.csv").to_string_lossy().into_owned();
    let closed_log = dir.join("closed.csv").to_string_lossy().into_owned();

    execute(&plan(
        url.clone(),
        open(100.0, 2, 4),
        Some(open_log.clone()),
    ))
    .await
    .unwrap();
    let open_latencies = latencies(&open_log);
    let quarter = open_latencies.len() / 4;
    let (first, last) = (
        mean(&open_latencies[..quarter]),
        mean(&open_latencies[open_latencies.len() - quarter..]),
    );
    assert!(
        last > 5.0 * first && last > 500_000.0,
        "open-loop latency grows with the backlog: first quarter {first} µs, last {last} µs"
    );

    // A fresh server: requests the open loop gave up on may still be queued
    // at the first one.
    let url = slow_server(service).await;
    let closed = Mode::Closed {
        workers: 1,
        duration: Duration::from_secs(2),
    };
    execute(&plan(url, closed, Some(closed_log.clone())))
        .await
        .unwrap();
    let mut closed_latencies = latencies(&closed_log);
    let quarter = closed_latencies.len() / 4;
    let (first, last) = (
        mean(&closed_latencies[..quarter]),
        mean(&closed_latencies[closed_latencies.len() - quarter..]),
    );
    closed_latencies.sort_unstable();
    let median = closed_latencies[closed_latencies.len() / 2] as f64;
    let service_us = service.as_micros() as f64;
    assert!(
        median < 2.0 * service_us && last < 2.0 * first,
        "closed-loop latency stays near the service time and does not grow: \
         median {median} µs, first quarter {first} µs, last {last} µs"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_unreachable_target_is_a_clear_error() {
    let port = test_support::free_port();
    let err = execute(&plan(
        format!("http://127.0.0.1:{port}"),
        open(10.0, 1, 1),
        None,
    ))
    .await
    .unwrap_err();
    assert!(err.contains("cannot reach"), "{err}");
}
