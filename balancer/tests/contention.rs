//! Many clients write one key at once through two balancers whose clocks
//! differ (one runs 800 ms ahead, inside the drift bound). A write that
//! finds a version stamped later is stamped again after it; when that
//! second stamp loses too, the version that beat it was written while this
//! write was in flight, so this write is ordered just before it and
//! acknowledged, not failed. Every write must be acknowledged, and the key
//! must end on the newest version any write was acknowledged with.

use hyper::StatusCode;
use serde_json::json;
use test_support::{Cluster, HttpClient, TestBalancer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_to_one_key_are_all_acknowledged() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let mut config = cluster.config();
    config.testing.clock_offset_ms = 800;
    let ahead = TestBalancer::start(config.clone()).await;
    config.testing.clock_offset_ms = 0;
    let behind = TestBalancer::start(config).await;
    let http = HttpClient::new();
    let urls = [ahead.url.clone(), behind.url.clone()];

    let mut writers = Vec::new();
    for w in 0..16 {
        let http = http.clone();
        let urls = urls.clone();
        writers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..40 {
                let url = format!("{}/cache", urls[(w + i) % 2]);
                let r = http
                    .post_json(&url, &json!({"key": "hot", "value": format!("{w}-{i}")}))
                    .await
                    .expect("POST");
                answers.push((r.status, r.body));
            }
            answers
        }));
    }
    let mut newest = String::new();
    for writer in writers {
        for (status, body) in writer.await.unwrap() {
            assert!(
                status == StatusCode::OK || status == StatusCode::CREATED,
                "{status}: {body}"
            );
            let version = serde_json::from_str::<serde_json::Value>(&body).unwrap()["version"]
                .as_str()
                .unwrap()
                .to_string();
            newest = newest.max(version);
        }
    }
    // Past the near cache's lag bound (200 ms).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    for url in &urls {
        let r = http.get(&format!("{url}/cache/hot")).await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        let read = r
            .headers
            .get("x-cache-version")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(read >= newest, "read {read}, newest acknowledged {newest}");
    }
}

/// Two balancers whose clocks are further apart than the drift bound
/// (each within it of the nodes): `ahead` +900 ms, `behind` -200 ms, bound
/// 1000 ms, so `behind` does not adopt `ahead`'s stamps. A write through
/// `behind` after one through `ahead` loses to it twice; it must not be
/// acknowledged while the earlier value stays, or an acknowledged write
/// would be lost: it is either read back or answered 503 `superseded`.
#[tokio::test]
async fn a_write_that_loses_to_a_stamp_it_cannot_adopt_is_not_acknowledged() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let mut config = cluster.config();
    config.testing.clock_offset_ms = 900;
    let ahead = TestBalancer::start(config.clone()).await;
    config.testing.clock_offset_ms = -200;
    let behind = TestBalancer::start(config).await;
    let http = HttpClient::new();
    for i in 0..5 {
        let key = format!("k{i}");
        let first = json!({"key": key, "value": "earlier"});
        let r = http
            .post_json(&format!("{}/cache", ahead.url), &first)
            .await
            .unwrap();
        assert!(r.status.is_success(), "{}", r.body);
        let second = json!({"key": key, "value": "later"});
        let r = http
            .post_json(&format!("{}/cache", behind.url), &second)
            .await
            .unwrap();
        if r.status.is_success() {
            let read = http
                .get(&format!("{}/cache/{key}", behind.url))
                .await
                .unwrap();
            assert_eq!(
                read.json()["value"],
                "later",
                "an acknowledged write was lost"
            );
        } else {
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
            assert!(r.body.contains("superseded"), "{}", r.body);
        }
    }
}
