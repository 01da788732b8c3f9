//! Each flag of issue 17, through the binary, against a real balancer over
//! real Redis: headers, several targets with weights, the warm-up, the
//! request cap, thresholds, the `.hgrm` files, `nodes.csv`, and the
//! `source` column (near cache or node).

use std::path::{Path, PathBuf};
use std::process::Command;

use test_support::balancer::nodes_view;
use test_support::{Cluster, HttpClient, TestBalancer, wait_until};

/// Output of one loadgen run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary off the runtime's threads, so the in-process balancer
/// keeps serving.
async fn loadgen(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .arg("--quiet")
            .args(&args)
            .output()
            .expect("run loadgen");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).to_string_lossy().into_owned()
}

fn rows(log: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(log)
        .unwrap()
        .records()
        .map(|r| r.unwrap())
        .collect()
}

/// Cache requests a balancer counted, from its `/metrics`.
async fn served(http: &HttpClient, b: &TestBalancer) -> u64 {
    let text = http.get(&format!("{}/metrics", b.url)).await.unwrap().body;
    text.lines()
        .filter(|l| l.starts_with("dlb_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_is_sent_with_every_request() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let base = [
        "--target",
        &b.url,
        "--rate",
        "200",
        "--duration",
        "1s",
        "--mix",
        "set=1",
    ];
    // An ack level the balancer refuses (400), in either place of two
    // headers: only a header that was sent can cause the 400s.
    for headers in [
        ["X-Write-Ack: sometimes", "X-Trace: 1"],
        ["X-Trace: 1", "X-Write-Ack: sometimes"],
    ] {
        let mut run_args = args(&base);
        for header in headers {
            run_args.extend(args(&["--header", header]));
        }
        let run = loadgen(run_args).await;
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(
            run.stdout.contains("400=200; http_400=200"),
            "the balancer saw {headers:?}: {}",
            run.stdout
        );
    }
    let mut all = args(&base);
    all.extend(args(&["--header", "X-Write-Ack: all"]));
    let run = loadgen(all).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("201="), "{}", run.stdout);
    assert!(
        !run.stdout.contains("http_"),
        "ack=all is taken: {}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_share_the_requests_by_weight() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let (a, b) = TestBalancer::start_pair(cluster.config()).await;
    let http = HttpClient::new();
    let (a_target, b_target) = (format!("{}=3", a.url), b.url.clone());
    let run = loadgen(args(&[
        "--target",
        &a_target,
        "--target",
        &b_target,
        "--requests",
        "400",
        "--rate",
        "400",
    ]))
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        (served(&http, &a).await, served(&http, &b).await),
        (300, 100)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_is_sent_but_left_out() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let dir = scratch("warmup");
    let log = path(&dir, "requests.csv");
    let run = loadgen(args(&[
        "--target",
        &b.url,
        "--warmup",
        "1s",
        "--rate",
        "200",
        "--duration",
        "1s",
        "--log",
        &log,
    ]))
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(served(&http, &b).await, 400, "the warm-up was sent");
    let rows = rows(&log);
    assert_eq!(rows.len(), 200, "only the measured second is logged");
    let first: u64 = rows[0][0].parse().unwrap();
    assert!(
        first < 10_000,
        "log times count from the measured start: {first} µs"
    );
    assert!(run.stdout.contains("200 requests in 1.0"), "{}", run.stdout);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_caps_open_and_closed_runs() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let run = loadgen(args(&[
        "--target",
        &b.url,
        "--rate",
        "500",
        "--requests",
        "150",
    ]))
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("150 requests in 0.3"),
        "150 at 500/s take 0.3 s: {}",
        run.stdout
    );
    assert_eq!(served(&http, &b).await, 150);
    let run = loadgen(args(&[
        "--target",
        &b.url,
        "--mode",
        "closed",
        "--workers",
        "4",
        "--requests",
        "120",
    ]))
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(served(&http, &b).await, 270);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_set_the_exit_code_and_name_the_failure() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let base = ["--target", &b.url, "--rate", "200", "--duration", "1s"];
    let mut pass = args(&base);
    pass.extend(args(&[
        "--threshold",
        "p99<30s",
        "--threshold",
        "errors<0.1%",
        "--threshold",
        "rate>0.9",
    ]));
    let run = loadgen(pass).await;
    assert_eq!(run.code, Some(0), "{} {}", run.stdout, run.stderr);
    let mut fail = args(&base);
    fail.extend(args(&["--threshold", "p99<30s", "--threshold", "p50<1us"]));
    let run = loadgen(fail).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("threshold p50<1us failed: measured"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("p99<30s"), "{}", run.stderr);
    let mut errors = args(&base);
    errors.extend(args(&[
        "--mix",
        "set=1",
        "--header",
        "X-Write-Ack: no",
        "--threshold",
        "errors<50%",
    ]));
    let run = loadgen(errors).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("threshold errors<50% failed: measured 100.0000%"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hdr_out_writes_corrected_and_uncorrected_distributions() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let dir = scratch("hdr");
    let hgrm = path(&dir, "latency.hgrm");
    // One connection at a rate it cannot keep: requests queue in the
    // generator, so latency from the due time (corrected) exceeds the
    // service time (uncorrected).
    let run = loadgen(args(&[
        "--target",
        &b.url,
        "--requests",
        "300",
        "--rate",
        "20000",
        "--connections",
        "1",
        "--hdr-out",
        &hgrm,
    ]))
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut max_values = Vec::new();
    for file in ["latency.hgrm", "latency.uncorrected.hgrm"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"),
            "{file}"
        );
        assert!(
            text.contains("Total count    =          300]"),
            "{file}: {text}"
        );
        let last = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap();
        let fields: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(&fields[1..], ["1.000000000000", "300"], "{file}");
        max_values.push(fields[0].parse::<f64>().unwrap());
    }
    assert!(
        max_values[0] > 2.0 * max_values[1],
        "queued: the corrected maximum {} is well above the service time's {}",
        max_values[0],
        max_values[1]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_poll_writes_node_memory_over_time() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let dir = scratch("nodes");
    let log = path(&dir, "requests.csv");
    let run = loadgen(args(&[
        "--target",
        &b.url,
        "--rate",
        "300",
        "--duration",
        "2s",
        "--mix",
        "set=1",
        "--keys",
        "100000",
        "--value-size",
        "2000",
        "--log",
        &log,
        "--nodes-poll-ms",
        "200",
    ]))
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("/nodes polls written to"),
        "{}",
        run.stdout
    );
    let mut reader = csv::Reader::from_path(dir.join("nodes.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "time_us",
            "node",
            "state",
            "used_bytes",
            "capacity_bytes",
            "utilization",
            "keys",
            "placed_keys"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let mut nodes: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let mut expected: Vec<String> = cluster.nodes.iter().map(|n| n.addr()).collect();
    expected.sort_unstable();
    assert_eq!(nodes, expected);
    assert!(
        rows.len() >= 3 * 8,
        "about 10 polls of 3 nodes: {}",
        rows.len()
    );
    let placed = |r: &csv::StringRecord| r[7].parse::<u64>().unwrap();
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    let total_placed: u64 = rows[rows.len() - 3..].iter().map(placed).sum();
    assert!(
        total_placed > 300,
        "keys were placed while polling: {total_placed}"
    );
    assert!(first[0].parse::<i64>().unwrap() < last[0].parse::<i64>().unwrap());
    assert!(last[3].parse::<u64>().unwrap() > 0 && last[4] == *"67108864");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_column_tells_near_hits_from_node_reads() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    wait_until(
        "every invalidation stream is fresh, the index complete",
        10,
        async || {
            let view = nodes_view(&http, &b).await;
            let streams = view["near_cache"]["streams"].as_object().unwrap().clone();
            !streams.is_empty()
                && streams.values().all(|s| s == "fresh")
                && view["index"]["complete"] == serde_json::json!(true)
        },
    )
    .await;
    let dir = scratch("source");
    let log = path(&dir, "requests.csv");
    let run = loadgen(args(&[
        "--target",
        &b.url,
        "--rate",
        "300",
        "--duration",
        "1s",
        "--mix",
        "get=1",
        "--keys",
        "20",
        "--preload",
        "20",
        "--log",
        &log,
    ]))
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut reader = csv::Reader::from_path(&log).unwrap();
    assert_eq!(&reader.headers().unwrap()[11], "source");
    assert_eq!(&reader.headers().unwrap()[12], "response_bytes");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let sources: Vec<String> = rows.iter().map(|r| r[11].to_string()).collect();
    // A hit's body holds the preloaded value (100 bytes by default), its
    // key and its ttl.
    assert!(
        rows.iter().all(|r| r[12].parse::<u64>().unwrap() > 100),
        "every hit's response_bytes counts its body"
    );
    let near = sources.iter().filter(|s| *s == "near").count();
    let node = sources.iter().filter(|s| *s == "node").count();
    assert_eq!(near + node, 300, "every get hit says where it came from");
    assert!(
        (1..=40).contains(&node),
        "each key is read from a node about once: {node}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
