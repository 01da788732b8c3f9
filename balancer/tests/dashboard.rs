//! The operator page and what it polls, against real Redis processes:
//! `GET /dashboard` (the page), `GET /stats` (its figures), and the
//! `/health` alias of `/healthz`. What the page shows in a browser is
//! checked by `scripts/dashboard-check`.

use hyper::{Method, StatusCode};
use serde_json::json;
use test_support::{Cluster, HttpClient, TestBalancer};

/// `GET /stats`, checked to be JSON.
async fn stats(http: &HttpClient, b: &TestBalancer) -> serde_json::Value {
    let r = http.get(&format!("{}/stats", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    r.json()
}

#[tokio::test]
async fn the_dashboard_is_a_self_contained_page_polling_nodes_and_stats() {
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();

    let r = http.get(&format!("{}/dashboard", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    let policy = r.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(r.body.starts_with("<!doctype html>"));
    for needle in ["<script>", "getJson(\"/nodes\")", "getJson(\"/stats\")"] {
        assert!(r.body.contains(needle), "missing {needle}");
    }
    // Self-contained: nothing is loaded from elsewhere.
    for outside in ["http://", "https://", "<script src", "<link"] {
        assert!(!r.body.contains(outside), "the page names {outside}");
    }

    let r = http
        .send(Method::POST, &format!("{}/dashboard", b.url), String::new())
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET");
}

#[tokio::test]
async fn stats_answer_the_fields_the_dashboard_reads() {
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();

    let before = stats(&http, &b).await;
    assert_eq!(before["requests_total"], json!(0));
    assert_eq!(before["hit_ratio"], json!(null));
    assert_eq!(before["latency_p99_seconds"], json!(null));
    assert_eq!(before["placements_total"], json!(0));
    assert_eq!(
        before["migrations"],
        json!(null),
        "no migration counter yet"
    );

    for i in 0..5 {
        let body = json!({"key": format!("d{i}"), "value": i});
        let r = http
            .post_json(&format!("{}/cache", b.url), &body)
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        let r = http.get(&format!("{}/cache/d{i}", b.url)).await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
    }
    http.get(&format!("{}/cache/absent", b.url)).await.unwrap();

    let after = stats(&http, &b).await;
    assert_eq!(after["requests_total"], json!(11));
    assert_eq!(after["requests"]["get"], json!(6));
    assert_eq!(after["requests"]["set"], json!(5));
    assert_eq!(after["hit_ratio"].as_f64().unwrap(), 5.0 / 6.0);
    let p50 = after["latency_p50_seconds"].as_f64().unwrap();
    let p99 = after["latency_p99_seconds"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 <= p99 && p99 < 5.0, "p50 {p50}, p99 {p99}");
    assert_eq!(after["placements_total"], json!(10), "5 keys, 2 replicas");
    assert_eq!(after["placements"].as_object().unwrap().len(), 2);
    for field in ["repairs", "repairs_total", "repairs_pending"] {
        assert!(!after[field].is_null(), "{field} in {after}");
    }
    assert_eq!(after["migrations"], json!(null));
}

#[tokio::test]
async fn health_is_an_alias_of_healthz() {
    let cluster = Cluster::start(&["64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let healthz = http.get(&format!("{}/healthz", b.url)).await.unwrap();
    let health = http.get(&format!("{}/health", b.url)).await.unwrap();
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, healthz.body);
    assert_eq!(health.json(), json!({"status": "ok"}));
    let r = http
        .send(Method::DELETE, &format!("{}/health", b.url), String::new())
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}
