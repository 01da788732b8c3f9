//! Failure detection over real redis-server processes, with a TCP proxy
//! in front of a node where a test must break or slow the network to it
//! for the balancer alone: each observer's view of a node is kept apart (a
//! node this balancer cannot reach stays down whatever its agent reports),
//! a return resyncs the node only when something was missed, a node whose
//! checks answer far slower than the others' is ejected, and a node moved
//! to a new address is a new incarnation, refilled.

use std::time::Duration;

use balancer::config::NodeSpec;
use balancer::nodes::membership::Listed;
use serde_json::{Value, json};
use test_support::{
    Cluster, HttpClient, RedisServer, TcpProxy, TestAgent, TestBalancer, node_entries,
    values_by_key, wait_until, write_keys,
};
use tokio::time::Instant;

/// The `/nodes` entry of the node `id`.
async fn entry(http: &HttpClient, b: &TestBalancer, id: &str) -> Value {
    node_entries(http, b)
        .await
        .into_iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("{id} is listed"))
}

/// Waits until `/nodes` shows the node `id` in `state`.
async fn wait_for_state(http: &HttpClient, b: &TestBalancer, id: &str, state: &str) {
    wait_until(&format!("{id} is {state}"), 10, async || {
        entry(http, b, id).await["state"] == state
    })
    .await;
}

/// Three nodes; the balancer reaches the first only through `proxy`, and,
/// with `with_agent`, a probe agent reports that node through the same
/// proxy, connected before the balancer (its connections are the first
/// `agent_connections`).
struct BehindProxy {
    cluster: Cluster,
    proxy: TcpProxy,
    agent: Option<TestAgent>,
    agent_connections: usize,
    b: TestBalancer,
    http: HttpClient,
    /// The node's id and address in the balancer's table: the proxy's.
    id: String,
}

async fn behind_proxy(with_agent: bool) -> BehindProxy {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let proxy = TcpProxy::start(&cluster.nodes[0].addr()).await;
    let id = proxy.addr();
    let http = HttpClient::new();
    let mut agent = None;
    if with_agent {
        let mut config = TestAgent::config("host-a", &[]);
        config.nodes = vec![NodeSpec::from_addr(id.clone())];
        let started = TestAgent::start(config).await;
        wait_until("the agent reports the node up", 5, async || {
            let report = http.get(&format!("{}/report", started.url)).await;
            report.is_ok_and(|r| r.json()["nodes"][0]["state"] == "up")
        })
        .await;
        agent = Some(started);
    }
    let agent_connections = proxy.accepted();
    let mut config = cluster.config();
    config.nodes[0] = NodeSpec::from_addr(id.clone());
    config.probes = agent.iter().map(|a| a.url.clone()).collect();
    let b = TestBalancer::start(config).await;
    wait_for_state(&http, &b, &id, "up").await;
    BehindProxy {
        cluster,
        proxy,
        agent,
        agent_connections,
        b,
        http,
        id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_only_its_agent_reaches_stays_down_here_and_returns_without_a_resync() {
    let s = behind_proxy(true).await;
    let agent = s.agent.as_ref().expect("an agent");
    wait_until("the agent's reports arrive", 5, async || {
        entry(&s.http, &s.b, &s.id).await["report_source"] == "agent:host-a"
    })
    .await;
    write_keys(&s.http, &s.b, "before", 50).await;
    let resyncs = s.b.app.metrics.resyncs.get();
    let epoch = s.b.app.nodes.current().rejoin_epoch();

    s.proxy.cut_all_but_first(s.agent_connections);
    wait_for_state(&s.http, &s.b, &s.id, "down").await;
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let n = entry(&s.http, &s.b, &s.id).await;
        assert_eq!(n["state"], "down", "an agent report brought it back: {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The agent kept reaching the node, and its reports kept arriving.
    let report = s.http.get(&format!("{}/report", agent.url)).await.unwrap();
    assert_eq!(report.json()["nodes"][0]["state"], "up", "{}", report.body);
    let n = entry(&s.http, &s.b, &s.id).await;
    assert!(n["report_age_seconds"].as_f64().unwrap() < 1.0, "{n}");
    assert_eq!(
        s.b.app.metrics.resyncs.get(),
        resyncs,
        "resynced while down"
    );

    s.proxy.heal();
    wait_for_state(&s.http, &s.b, &s.id, "up").await;
    assert_eq!(
        s.b.app.metrics.resyncs.get(),
        resyncs,
        "same run_id and no write missed: no resync"
    );
    assert_eq!(s.b.app.nodes.current().rejoin_epoch(), epoch, "caches kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_after_writes_went_elsewhere_resyncs_the_node() {
    let s = behind_proxy(false).await;
    let written = write_keys(&s.http, &s.b, "before", 60).await;
    let mut mine = Vec::new();
    for w in &written {
        if s.cluster.replica_set(&w.key).await.contains(&s.id) {
            mine.push(w.key.clone());
        }
    }
    assert!(!mine.is_empty());
    let resyncs = s.b.app.metrics.resyncs.get();

    s.proxy.cut_all_but_first(0);
    wait_for_state(&s.http, &s.b, &s.id, "down").await;
    for key in &mine {
        let r = s
            .http
            .post_json(
                &format!("{}/cache", s.b.url),
                &json!({"key": key, "value": "moved"}),
            )
            .await
            .unwrap();
        assert!(r.status.is_success(), "{key}: {}", r.body);
    }
    s.proxy.heal();
    wait_for_state(&s.http, &s.b, &s.id, "up").await;
    wait_until("the returning node is resynced", 5, async || {
        s.b.app.metrics.resyncs.get() > resyncs
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_checks_answer_far_slower_than_the_others_is_ejected_until_they_do_not() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let proxy = TcpProxy::start(&cluster.nodes[0].addr()).await;
    let id = proxy.addr();
    let mut config = cluster.config();
    config.nodes[0] = NodeSpec::from_addr(id.clone());
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    wait_for_state(&http, &b, &id, "up").await;

    // Well within the node timeout (300 ms): no check fails.
    proxy.delay_answers(Duration::from_millis(150));
    wait_for_state(&http, &b, &id, "down").await;
    let n = entry(&http, &b, &id).await;
    assert_eq!(n["consecutive_failures"], 0, "{n}");
    assert!(n["last_error"].as_str().unwrap().contains("latency"), "{n}");
    let placed = write_keys(&http, &b, "while-slow", 30).await;
    assert!(
        placed.iter().all(|w| !w.node.split(',').any(|n| n == id)),
        "an ejected node takes no new key"
    );

    proxy.heal();
    wait_for_state(&http, &b, &id, "up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_moved_to_a_new_address_is_refilled_and_the_epoch_does_not_go_back() {
    let mut cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let new_home = RedisServer::start();
    let mut config = cluster.config();
    for (i, node) in config.nodes.iter_mut().enumerate() {
        node.id = format!("n{i}");
    }
    let b = TestBalancer::start(config.clone()).await;
    let http = HttpClient::new();
    let written = values_by_key(&write_keys(&http, &b, "k", 100).await);
    let mut mine = Vec::new();
    for key in written.keys() {
        if cluster.replica_set(key).await.contains(&"n2".to_string()) {
            mine.push(key.clone());
        }
    }
    assert!(!mine.is_empty());

    // A restart first, so the node has rejoined once: an epoch to lose.
    cluster.nodes[2].stop();
    wait_for_state(&http, &b, "n2", "down").await;
    cluster.nodes[2].restart();
    wait_until("the restart is seen", 10, async || {
        b.app.nodes.current().rejoin_epoch() > 0
    })
    .await;
    let epoch = b.app.nodes.current().rejoin_epoch();

    let moved: Vec<Listed> = config
        .nodes
        .iter()
        .map(|n| match n.id.as_str() {
            "n2" => NodeSpec {
                id: n.id.clone(),
                addr: new_home.addr(),
            },
            _ => n.clone(),
        })
        .map(|n| Listed::new(n, false))
        .collect();
    assert!(b.app.nodes.update(&moved, &config.node_dial()));
    assert!(
        b.app.nodes.current().rejoin_epoch() >= epoch,
        "the epoch went back"
    );
    wait_until("the new address holds the node's keys", 20, async || {
        for key in &mine {
            let stored = serde_json::to_string(&written[key]).unwrap();
            if new_home.held(key).await.0 != Some(stored) {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        b.app.nodes.current().rejoin_epoch() > epoch,
        "a new incarnation is a rejoin"
    );
}
