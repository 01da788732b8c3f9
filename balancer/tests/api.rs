//! The cache API end to end against real Redis processes: set, get,
//! delete, overwrite, JSON round trips, TTLs, bad input, admin endpoints.

use std::time::Duration;

use hyper::StatusCode;
use redis::AsyncCommands;
use serde_json::json;
use test_support::{Cluster, HttpClient, TestBalancer, node_entries};

async fn stack() -> (Cluster, TestBalancer, HttpClient) {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let balancer = TestBalancer::start(cluster.config()).await;
    (cluster, balancer, HttpClient::new())
}

/// The nodes named in `X-Cache-Node`, sorted.
fn replicas(r: &test_support::HttpReply) -> Vec<String> {
    let mut nodes: Vec<String> = r
        .node()
        .expect("X-Cache-Node")
        .split(',')
        .map(str::to_string)
        .collect();
    nodes.sort();
    nodes
}

#[tokio::test]
async fn set_get_overwrite_delete_and_miss() {
    let (_cluster, b, http) = stack().await;
    let url = |p: &str| format!("{}{p}", b.url);

    let r = http
        .post_json(&url("/cache"), &json!({"key": "user:1", "value": "ada"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let nodes = replicas(&r);
    assert_eq!(nodes.len(), 2, "two replicas by default");
    let mut listed: Vec<String> = r.json()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, nodes, "the body and X-Cache-Node agree");

    let r = http.get(&url("/cache/user:1")).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"key": "user:1", "value": "ada", "ttl": null})
    );
    assert!(nodes.contains(&r.node().unwrap()), "served by a replica");

    let r = http
        .post_json(&url("/cache"), &json!({"key": "user:1", "value": "grace"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(replicas(&r), nodes, "an update stays on its replicas");
    let written_version = r.json()["version"].as_str().unwrap().to_string();
    let r = http.get(&url("/cache/user:1")).await.unwrap();
    assert_eq!(r.json()["value"], json!("grace"));

    let r = http.delete(&url("/cache/user:1")).await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(replicas(&r), nodes);
    let deleted_version = r.headers["x-cache-version"].to_str().unwrap();
    assert!(
        deleted_version > written_version.as_str(),
        "a delete answers its tombstone's version, ordered after the write: {deleted_version} vs {written_version}"
    );
    let r = http.get(&url("/cache/user:1")).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], json!("key_not_found"));
    let r = http.delete(&url("/cache/user:1")).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], json!("key_not_found"));
}

#[tokio::test]
async fn every_json_type_round_trips_exactly() {
    let (_cluster, b, http) = stack().await;
    let values = [
        r#""plain string""#,
        "42",
        "-7.25",
        "1e300",
        "18446744073709551616123",
        "true",
        "false",
        "null",
        r#"{"a":{"b":[1,{"c":null}],"d":"é"},"e":[]}"#,
        r#"[1,"two",[3.0,{"four":4}],null,true]"#,
        r#""unicode: 日本語 ✓ \ud83d\ude00 \" \\ \n""#,
        "{}",
        "[]",
    ];
    for (i, value) in values.iter().enumerate() {
        let key = format!("json-{i}");
        let body = format!(r#"{{"key":"{key}","value":{value}}}"#);
        let r = http
            .send(hyper::Method::POST, &format!("{}/cache", b.url), body)
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{value}: {}", r.body);
        let r = http.get(&format!("{}/cache/{key}", b.url)).await.unwrap();
        let expected = format!(r#"{{"key":"{key}","value":{value},"ttl":null}}"#);
        assert_eq!(r.body, expected, "value text must come back byte for byte");
    }
}

#[tokio::test]
async fn keys_with_spaces_slashes_and_unicode_work_through_the_path() {
    let (_cluster, b, http) = stack().await;
    let key = "a b/c?d#é";
    let r = http
        .post_json(
            &format!("{}/cache", b.url),
            &json!({"key": key, "value": 1}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED);
    let encoded = "a%20b%2Fc%3Fd%23%C3%A9";
    let r = http
        .get(&format!("{}/cache/{encoded}", b.url))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["key"], json!(key));
}

#[tokio::test]
async fn ttl_expires_the_value_and_its_index_entry() {
    let (cluster, b, http) = stack().await;
    let r = http
        .post_json(
            &format!("{}/cache", b.url),
            &json!({"key": "short", "value": [1], "ttl": 1}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED);
    let r = http.get(&format!("{}/cache/short", b.url)).await.unwrap();
    let ttl = r.json()["ttl"].as_u64().expect("a ttl");
    assert!(ttl <= 1, "ttl {ttl}");
    let entry = cluster.index_entry("short").await;
    assert!(
        entry.is_some(),
        "the index entry exists while the value lives"
    );

    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = http.get(&format!("{}/cache/short", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let entry = cluster.index_entry("short").await;
    assert_eq!(entry, None, "the index entry expires with the value");
    for node in &cluster.nodes {
        let mut c = node.connection().await;
        let exists: bool = c.exists("short").await.unwrap();
        assert!(!exists);
    }
}

#[tokio::test]
async fn bad_input_gets_its_status_and_leaves_the_store_unchanged() {
    let (cluster, b, http) = stack().await;
    let cache = format!("{}/cache", b.url);
    let r = http
        .post_json(
            &cache,
            &json!({"key": "keep", "value": {"v": 1}, "ttl": 1000}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED);
    let before = http.get(&format!("{cache}/keep")).await.unwrap().json();

    use StatusCode as S;
    use hyper::Method as M;
    let long_key = "k".repeat(1025);
    let mut bad_bodies: Vec<(String, S, &str)> = vec![
        ("{not json".into(), S::BAD_REQUEST, "invalid_json"),
        (r#"{"value":1}"#.into(), S::BAD_REQUEST, "missing_key"),
        (
            r#"{"key":"","value":1}"#.into(),
            S::BAD_REQUEST,
            "empty_key",
        ),
        (
            format!(r#"{{"key":"{long_key}","value":1}}"#),
            S::BAD_REQUEST,
            "key_too_long",
        ),
        (r#"{"key":"keep"}"#.into(), S::BAD_REQUEST, "missing_value"),
    ];
    let big = "x".repeat(1024 * 1024);
    let big_value = format!(r#"{{"key":"keep","value":"{big}"}}"#);
    bad_bodies.push((big_value, S::PAYLOAD_TOO_LARGE, "too_large"));
    for ttl in ["0", "-5", "\"10\"", "1.5"] {
        let body = format!(r#"{{"key":"keep","value":2,"ttl":{ttl}}}"#);
        bad_bodies.push((body, S::BAD_REQUEST, "invalid_ttl"));
    }
    let not_allowed = (S::METHOD_NOT_ALLOWED, "method_not_allowed");
    let bad_routes: Vec<(M, String, (S, &str))> = vec![
        (M::GET, "/nope".into(), (S::NOT_FOUND, "route_not_found")),
        (M::PUT, "/cache".into(), not_allowed),
        (M::PATCH, "/cache/keep".into(), not_allowed),
        (M::POST, "/nodes".into(), not_allowed),
        (
            M::GET,
            format!("/cache/{long_key}"),
            (S::BAD_REQUEST, "key_too_long"),
        ),
        (M::GET, "/cache/".into(), (S::BAD_REQUEST, "empty_key")),
    ];
    let requests = bad_bodies
        .into_iter()
        .map(|(body, status, code)| (M::POST, cache.clone(), body, status, code))
        .chain(
            bad_routes
                .into_iter()
                .map(|(method, path, (status, code))| {
                    (
                        method,
                        format!("{}{path}", b.url),
                        String::new(),
                        status,
                        code,
                    )
                }),
        );
    for (method, url, body, status, code) in requests {
        let r = http.send(method.clone(), &url, body).await.unwrap();
        assert_eq!(r.status, status, "{method} {url}: {}", r.body);
        let j = r.json();
        assert_eq!(j["error"], json!(code), "{method} {url}");
        assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    let after = http.get(&format!("{cache}/keep")).await.unwrap().json();
    assert_eq!(before["value"], after["value"]);
    assert!(
        after["ttl"].as_u64().unwrap() > 990,
        "the ttl was not touched"
    );
    let keys: usize = {
        let mut total = 0;
        for node in &cluster.nodes {
            let mut c = node.connection().await;
            let n: usize = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
            total += n;
        }
        total
    };
    assert_eq!(keys, 2, "only the good key, on its two replicas");
}

#[tokio::test]
async fn no_reachable_node_is_503_and_writes_nothing() {
    let mut cluster = Cluster::start(&["64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    for node in &mut cluster.nodes {
        node.stop();
    }
    let cache = format!("{}/cache", b.url);
    // The first write may find the nodes still marked up; it fails on the
    // node itself. Either way: 503 and no index entry left behind.
    for i in 0..3 {
        let r = http
            .post_json(&cache, &json!({"key": format!("k{i}"), "value": 1}))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert!(r.json()["error"].is_string());
    }
    let mut index = cluster.index.connection().await;
    let entries: Vec<String> = redis::cmd("KEYS")
        .arg("loc:*")
        .query_async(&mut index)
        .await
        .unwrap();
    assert_eq!(entries, Vec::<String>::new(), "no half-written index entry");
    let r = http.get(&format!("{}/readyz", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["nodes_up"], json!(0));
}

#[tokio::test]
async fn admin_endpoints_report_nodes_health_and_metrics() {
    let (_cluster, b, http) = stack().await;
    for i in 0..20 {
        let r = http
            .post_json(
                &format!("{}/cache", b.url),
                &json!({"key": format!("m{i}"), "value": i}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        http.get(&format!("{}/cache/m{i}", b.url)).await.unwrap();
    }
    http.get(&format!("{}/cache/absent", b.url)).await.unwrap();

    let r = http.get(&format!("{}/healthz", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let r = http.get(&format!("{}/readyz", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["nodes_up"], json!(4));

    let nodes = node_entries(&http, &b).await;
    assert_eq!(nodes.len(), 4);
    let placed: u64 = nodes
        .iter()
        .map(|n| n["placed_keys"].as_u64().unwrap())
        .sum();
    assert_eq!(placed, 40, "20 keys, two replicas each");
    for n in &nodes {
        assert_eq!(n["state"], json!("up"));
        assert_eq!(n["capacity_bytes"], json!(64 * 1024 * 1024));
        let u = n["utilization"].as_f64().unwrap();
        assert!(u > 0.0 && u < 1.0);
        for field in ["addr", "used_memory_bytes", "keys", "report_age_seconds"] {
            assert!(!n[field].is_null(), "{field} in {n}");
        }
    }

    let text = http.get(&format!("{}/metrics", b.url)).await.unwrap().body;
    for line in [
        r#"dlb_requests_total{op="set",outcome="created"} 20"#,
        r#"dlb_requests_total{op="get",outcome="hit"} 20"#,
        r#"dlb_requests_total{op="get",outcome="miss"} 1"#,
        r#"dlb_location_lookups_total{source="none"} 1"#,
        "dlb_nodes_up 4",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // A new key's write may or may not leave its location cached (its
    // claim's own change to the entry cancels the record when its
    // invalidation is in first); an index lookup may search the nodes too
    // while a fresh index is not yet marked complete. Each read found its
    // key one of these ways.
    let by_location: u64 = ["cache", "index", "fallback"]
        .iter()
        .map(|s| b.app.metrics.lookups.with_label_values(&[s]).get())
        .sum();
    assert_eq!(by_location, 20);
    for family in [
        "dlb_request_duration_seconds_bucket",
        "dlb_placements_total",
        "dlb_node_utilization_ratio",
        "dlb_node_used_memory_bytes",
        "dlb_node_capacity_bytes",
    ] {
        assert!(text.contains(family), "missing {family}");
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_cluster, b, http) = stack().await;
    let addr = b.url.trim_start_matches("http://").to_string();
    let body = r#"{"key":"in-flight","value":"done"}"#;
    let (head, tail) = body.split_at(10);
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /cache HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{head}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    // Make sure the server is reading this request before it is told to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = b.url.clone();
    let stopping = tokio::spawn(b.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        http.get(&format!("{url}/healthz")).await.is_err(),
        "a stopping balancer takes no new connections"
    );
    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_full_node_refuses_an_update_with_507_and_keeps_the_key() {
    let cluster = Cluster::start(&["4mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let cache = format!("{}/cache", b.url);
    let r = http
        .post_json(&cache, &json!({"key": "kept", "value": "old"}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED);

    // Fill the node around the balancer until Redis refuses writes.
    let mut conn = cluster.nodes[0].connection().await;
    let junk = vec![b'j'; 64 * 1024];
    for i in 0.. {
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("junk:{i}"))
            .arg(&junk)
            .query_async(&mut conn)
            .await;
        if set.is_err() {
            break;
        }
    }
    let big = "n".repeat(256 * 1024);
    let r = http
        .post_json(&cache, &json!({"key": "kept", "value": big}))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.body);
    assert_eq!(r.json()["error"], json!("node_full"));

    let entry = cluster.index_entry("kept").await;
    assert_eq!(
        entry,
        Some(cluster.nodes[0].addr()),
        "a failed update keeps the index entry"
    );
    let r = http.get(&format!("{cache}/kept")).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["value"], json!("old"));
}
