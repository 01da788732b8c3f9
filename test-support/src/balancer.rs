//! A balancer running in this process on a free port, stopped on drop.

use std::sync::Arc;
use std::time::Duration;

use balancer::App;
use balancer::config::{Config, NodeSpec, Secret};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::{HttpClient, RedisServer};

/// A running balancer.
#[derive(Debug)]
pub struct TestBalancer {
    /// `http://127.0.0.1:<port>`, or `https://` when the configuration
    /// names TLS files.
    pub url: String,
    /// The running app, to read its state and metrics.
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A configuration for these servers, with short timeouts and a fast
/// sampler, and the index's credentials when it wants some.
pub fn test_config(index: &RedisServer, nodes: &[&RedisServer]) -> Config {
    let mut config = Config {
        index: index.addr(),
        nodes: nodes
            .iter()
            .map(|n| NodeSpec::from_addr(n.addr()))
            .collect(),
        sample_interval: Duration::from_millis(200),
        ..Config::default()
    };
    config.timeouts.node = Duration::from_millis(300);
    config.timeouts.index = Duration::from_millis(300);
    config.timeouts.index_retry = Duration::from_millis(300);
    config.timeouts.shutdown_grace = Duration::from_millis(2000);
    let (user, password) = index.auth().credentials();
    config.redis_username = user.map(str::to_string);
    config.redis_password = password.map(Secret::new);
    config
}

impl TestBalancer {
    /// Starts `balancer::run` on a free port. Over plain HTTP, returns
    /// once it answers; over TLS, at once (the test waits with its own
    /// client, which trusts its CA).
    pub async fn start(mut config: Config) -> TestBalancer {
        config.validate().expect("valid test config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        config.listen = listener.local_addr().expect("local addr");
        let resp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        config.server.resp_listen = Some(resp.local_addr().expect("local addr"));
        let app = Arc::new(App::build(config).expect("build app"));
        let scheme = if app.tls.is_tls() { "https" } else { "http" };
        let url = format!("{scheme}://{}", app.config.listen);
        let (stop, stopped) = oneshot::channel::<()>();
        let listeners = balancer::Listeners {
            http: listener,
            resp: Some(resp),
        };
        let task = tokio::spawn(balancer::run(listeners, app.clone(), async {
            let _ = stopped.await;
        }));
        // `run` samples the nodes before it serves; wait until it answers.
        let client = HttpClient::new();
        let tries = if app.tls.is_tls() { 0 } else { 200 };
        for _ in 0..tries {
            if client.get(&format!("{url}/healthz")).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        TestBalancer {
            url,
            app,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Two balancers on one configuration, with ids `a` and `b`, as two
    /// processes sharing the index and the nodes.
    pub async fn start_pair(mut config: Config) -> (TestBalancer, TestBalancer) {
        config.id = Some("a".into());
        let a = TestBalancer::start(config.clone()).await;
        config.id = Some("b".into());
        (a, TestBalancer::start(config).await)
    }

    /// Stops it and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestBalancer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// How many connections the balancer closed early for `reason`, as
/// `dlb_connections_closed_total` shows it ("0" before the first).
pub fn closed_count(balancer: &TestBalancer, reason: &str) -> String {
    let text = balancer.app.metrics.render();
    let line = format!("dlb_connections_closed_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or("0")
        .to_string()
}

/// Writes `key` = `value` (a JSON string) through `balancer`, asserting
/// a 2xx.
pub async fn write_value(http: &HttpClient, balancer: &TestBalancer, key: &str, value: &str) {
    let body = serde_json::json!({"key": key, "value": value});
    let r = http
        .post_json(&format!("{}/cache", balancer.url), &body)
        .await
        .unwrap();
    assert!(r.status.is_success(), "{key}: {} {}", r.status, r.body);
}

/// The balancer's `GET /nodes` answer.
pub async fn nodes_view(http: &HttpClient, balancer: &TestBalancer) -> Value {
    http.get(&format!("{}/nodes", balancer.url))
        .await
        .expect("GET /nodes")
        .json()
}

/// Its `nodes` list: one entry per data node, in configuration order.
pub async fn node_entries(http: &HttpClient, balancer: &TestBalancer) -> Vec<Value> {
    nodes_view(http, balancer).await["nodes"]
        .as_array()
        .expect("a nodes list")
        .clone()
}

/// The `state` that `/nodes` gives the node at `addr`, if it lists it.
pub async fn node_state(http: &HttpClient, balancer: &TestBalancer, addr: &str) -> Option<String> {
    node_entries(http, balancer)
        .await
        .iter()
        .find(|n| n["addr"] == addr)
        .map(|n| n["state"].as_str().expect("a state").to_string())
}
