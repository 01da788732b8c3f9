//! The agent against real Redis processes: reports carry the host and each
//! node's INFO, a stopped node is down in the very next report, and the
//! long poll hands out each new report as soon as it is taken; a node that
//! wants a password is up with it and down "for authentication" without.

use std::time::Duration;

use hyper::StatusCode;
use memreport::settings::Secret;
use memreport::{NodeState, Report};
use test_support::{
    AGENT_CPU_PERCENT, AGENT_HOST_MEMORY, HttpClient, RedisServer, ServerAuth, TestAgent,
};

/// An agent on host `test-host` naming its nodes `n0`, `n1`, ...
async fn start(nodes: &[&RedisServer], interval_ms: u64) -> TestAgent {
    let mut config = TestAgent::config("test-host", nodes);
    config.interval = std::time::Duration::from_millis(interval_ms);
    for (i, node) in config.nodes.iter_mut().enumerate() {
        node.id = format!("n{i}");
    }
    TestAgent::start(config).await
}

async fn report(http: &HttpClient, url: &str) -> Report {
    for _ in 0..100 {
        let r = http.get(url).await.unwrap();
        if r.status == StatusCode::OK {
            return serde_json::from_str(&r.body).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no report from {url}");
}

#[tokio::test]
async fn reports_host_and_node_figures() {
    let small = RedisServer::with_maxmemory("32mb");
    let big = RedisServer::with_maxmemory("128mb");
    big.fill_with_junk(3).await;
    let agent = start(&[&small, &big], 200).await;
    let http = HttpClient::new();
    let r = report(&http, &format!("{}/report", agent.url)).await;
    assert_eq!(r.version, memreport::VERSION);
    assert_eq!(r.host, "test-host");
    assert_eq!(r.memory, AGENT_HOST_MEMORY);
    assert_eq!(r.cpu_percent, AGENT_CPU_PERCENT);
    assert!(r.seq >= 1 && r.taken_at_ms > 0);
    assert_eq!(r.interval_ms, 200);
    let (n0, n1) = (&r.nodes[0], &r.nodes[1]);
    assert_eq!((n0.id.as_str(), n0.state), ("n0", NodeState::Up));
    assert_eq!(n0.info.as_ref().unwrap().maxmemory, 32 << 20);
    let info = n1.info.as_ref().unwrap();
    assert_eq!(info.maxmemory, 128 << 20);
    assert_eq!(info.keys, 3);
    assert!(info.used_memory > 3 << 20);
    assert!(!info.run_id.is_empty());

    let metrics = http
        .get(&format!("{}/metrics", agent.url))
        .await
        .unwrap()
        .body;
    assert!(
        metrics.contains(r#"dlb_probe_node_up{node="n1"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("dlb_probe_host_memory_bytes{kind=\"total\"} 17179869184"));
}

#[tokio::test]
async fn a_stopped_node_is_down_in_the_next_report() {
    let mut node = RedisServer::start();
    let agent = start(&[&node], 200).await;
    let http = HttpClient::new();
    let first = report(&http, &format!("{}/report", agent.url)).await;
    assert_eq!(first.nodes[0].state, NodeState::Up);
    node.stop();
    // A sample already under way when the node stopped may still see it
    // up; the one after must not.
    let mut seen = first.seq;
    let down = loop {
        let url = format!("{}/report?after={seen}&wait_ms=2000", agent.url);
        let r: Report = serde_json::from_str(&http.get(&url).await.unwrap().body).unwrap();
        if r.nodes[0].state == NodeState::Down || r.seq > first.seq + 1 {
            break r;
        }
        seen = r.seq;
    };
    assert_eq!(
        down.nodes[0].state,
        NodeState::Down,
        "down in the next full report"
    );
    assert!(down.nodes[0].error.is_some());
    assert!(down.nodes[0].info.is_none());
}

#[tokio::test]
async fn long_poll_returns_the_next_report_or_204() {
    let node = RedisServer::start();
    let agent = start(&[&node], 300).await;
    let http = HttpClient::new();
    let first = report(&http, &format!("{}/report", agent.url)).await;
    let started = tokio::time::Instant::now();
    let r = http
        .get(&format!("{}/report?after={}", agent.url, first.seq))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let next: Report = serde_json::from_str(&r.body).unwrap();
    assert_eq!(next.seq, first.seq + 1);
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "arrives when taken"
    );

    let far = http
        .get(&format!(
            "{}/report?after={}&wait_ms=100",
            agent.url,
            first.seq + 100
        ))
        .await
        .unwrap();
    assert_eq!(far.status, StatusCode::NO_CONTENT);

    for (path, status) in [
        ("/report?after=x", StatusCode::BAD_REQUEST),
        ("/nope", StatusCode::NOT_FOUND),
    ] {
        let r = http.get(&format!("{}{path}", agent.url)).await.unwrap();
        assert_eq!(r.status, status);
        assert!(r.json()["error"].is_string());
    }
}

/// The first report of an agent watching `node` with these credentials.
async fn first_report(node: &RedisServer, user: Option<&str>, password: Option<&str>) -> Report {
    let mut config = TestAgent::config("auth-host", &[node]);
    config.redis_username = user.map(str::to_string);
    config.redis_password = password.map(Secret::new);
    let agent = TestAgent::start(config).await;
    report(&HttpClient::new(), &format!("{}/report", agent.url)).await
}

#[tokio::test]
async fn with_the_password_a_node_is_up_without_it_down_for_authentication() {
    let node = RedisServer::with_auth("64mb", ServerAuth::Password("agent-pass".into()));
    let r = first_report(&node, None, Some("agent-pass")).await;
    assert_eq!(r.nodes[0].state, NodeState::Up, "{:?}", r.nodes[0].error);
    assert_eq!(r.nodes[0].info.as_ref().unwrap().maxmemory, 64 << 20);

    for password in [None, Some("wrong")] {
        let r = first_report(&node, None, password).await;
        assert_eq!(r.nodes[0].state, NodeState::Down, "{password:?}");
        let error = r.nodes[0].error.as_deref().unwrap();
        assert!(error.contains("authentication failed"), "{error}");
    }
}

#[tokio::test]
async fn as_an_acl_user_a_node_is_up_and_a_wrong_user_is_refused() {
    let auth = ServerAuth::User("probe".into(), "probe-pass".into());
    let node = RedisServer::with_auth("64mb", auth);
    let r = first_report(&node, Some("probe"), Some("probe-pass")).await;
    assert_eq!(r.nodes[0].state, NodeState::Up, "{:?}", r.nodes[0].error);
    let r = first_report(&node, Some("nobody"), Some("probe-pass")).await;
    assert_eq!(r.nodes[0].state, NodeState::Down);
    let error = r.nodes[0].error.as_deref().unwrap();
    assert!(error.contains("authentication failed"), "{error}");
}
