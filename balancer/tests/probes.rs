//! Placement from probe-agent reports: real agents (in-process, fixed host
//! figures) watching real Redis nodes. Reports steer new keys; a silent
//! agent makes its nodes stale, and they get no new keys while fresh ones
//! exist; a restarted agent makes them fresh again; a report is applied to
//! a node only when it names the node's id at the node's address.

use balancer::config::NodeSpec;
use hyper::StatusCode;
use serde_json::json;
use test_support::{
    Cluster, HttpClient, TestAgent, TestBalancer, WrittenKey, free_port, node_entries, wait_until,
    write_keys,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_steer_placement_and_a_silent_agent_makes_its_nodes_stale() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let agent_a = TestAgent::start(TestAgent::config("host-a", &[&cluster.nodes[0]])).await;
    let agent_b = TestAgent::start(TestAgent::config(
        "host-b",
        &[&cluster.nodes[1], &cluster.nodes[2]],
    ))
    .await;
    let mut config = cluster.unreplicated_config();
    config.probes = vec![agent_a.url.clone(), agent_b.url.clone()];
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();

    wait_until("every node is reported by its agent", 5, async || {
        let n = node_entries(&http, &b).await;
        n[0]["report_source"] == json!("agent:host-a")
            && n[1]["report_source"] == json!("agent:host-b")
            && n[2]["report_source"] == json!("agent:host-b")
    })
    .await;

    // Fill node 1 around the balancer: the agent's next report steers new keys away.
    cluster.nodes[1].fill_with_junk(40).await;
    wait_until("the agent reports the filled node", 5, async || {
        node_entries(&http, &b).await[1]["used_memory_bytes"]
            .as_u64()
            .unwrap()
            > 40 << 20
    })
    .await;
    let placed = write_keys(&http, &b, "steered", 100).await;
    assert!(
        !placed.iter().any(|w| w.node == cluster.nodes[1].addr()),
        "no new key on the full node"
    );

    // Agent A goes silent: node 0 goes stale, still serves its keys, takes no new ones.
    let on_node0: Vec<WrittenKey> = write_keys(&http, &b, "before", 60)
        .await
        .into_iter()
        .filter(|w| w.node == cluster.nodes[0].addr())
        .collect();
    assert!(!on_node0.is_empty());
    let addr_a = agent_a.addr;
    agent_a.stop().await;
    wait_until("node 0 is stale", 5, async || {
        node_entries(&http, &b).await[0]["utilization"].is_null()
    })
    .await;
    let n0 = &node_entries(&http, &b).await[0];
    assert_eq!(n0["state"], json!("up"));
    assert!(n0["report_age_seconds"].as_f64().unwrap() > 0.5);
    for w in &on_node0 {
        let r = http
            .get(&format!("{}/cache/{}", b.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK, "a stale node still serves reads");
    }
    let placed = write_keys(&http, &b, "stale", 100).await;
    assert!(
        !placed.iter().any(|w| w.node == cluster.nodes[0].addr()),
        "no new key on the stale node"
    );

    // Agent A returns (on the same port): node 0 is fresh again.
    let mut config_a = TestAgent::config("host-a", &[&cluster.nodes[0]]);
    config_a.listen = addr_a;
    let _agent_a = TestAgent::start(config_a).await;
    wait_until("node 0 is fresh again", 5, async || {
        !node_entries(&http, &b).await[0]["utilization"].is_null()
    })
    .await;
    let placed = write_keys(&http, &b, "fresh", 100).await;
    assert!(
        placed.iter().any(|w| w.node == cluster.nodes[0].addr()),
        "node 0 takes new keys again"
    );
}

#[tokio::test]
async fn an_agent_reporting_a_node_down_takes_it_out_of_placement() {
    let mut cluster = Cluster::start(&["64mb", "64mb"]);
    let agent = TestAgent::start(TestAgent::config(
        "host",
        &[&cluster.nodes[0], &cluster.nodes[1]],
    ))
    .await;
    let mut config = cluster.unreplicated_config();
    config.probes = vec![agent.url.clone()];
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    cluster.nodes[0].stop();
    wait_until("the agent reports node 0 down", 5, async || {
        let n = node_entries(&http, &b).await;
        n[0]["state"] == json!("down")
            && n[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("agent host"))
    })
    .await;
    let placed = write_keys(&http, &b, "k", 20).await;
    assert!(placed.iter().all(|w| w.node == cluster.nodes[1].addr()));
}

#[tokio::test]
async fn a_report_for_a_known_id_at_another_address_is_not_applied() {
    // The agent watches an address where nothing listens, under the id of
    // a node the balancer knows at another address: its down reports are
    // about another server, not this node.
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let mut agent_config = TestAgent::config("host", &[]);
    agent_config.nodes = vec![NodeSpec {
        id: "n0".into(),
        addr: format!("127.0.0.1:{}", free_port()),
    }];
    let agent = TestAgent::start(agent_config).await;
    let mut config = cluster.unreplicated_config();
    config.nodes[0].id = "n0".into();
    config.probes = vec![agent.url.clone()];
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();
    wait_until("the agent reports n0 down", 5, async || {
        let report = http.get(&format!("{}/report", agent.url)).await;
        report.is_ok_and(|r| r.json()["nodes"][0]["state"] == "down")
    })
    .await;
    // Several reports later. The balancer's own checks would bring the
    // node back at once: its transitions show whether a report took it down.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let n0 = &node_entries(&http, &b).await[0];
    assert_eq!(n0["state"], json!("up"), "{n0}");
    let transitions = n0["transitions"].as_array().unwrap();
    assert!(!transitions.iter().any(|t| t["state"] == "down"), "{n0}");
    assert_eq!(n0["report_source"], json!("own_sampling"), "{n0}");
}

#[tokio::test]
async fn an_agent_that_stalls_its_body_is_given_up_on_and_polled_again() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An "agent" that answers every poll with headers promising a body it
    // never sends, keeping each connection open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (accepted, mut connections) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{";
            let _ = stream.write_all(head.as_bytes()).await;
            held.push(stream);
            let _ = accepted.send(());
        }
    });
    let cluster = Cluster::start(&["64mb"]);
    let mut config = cluster.unreplicated_config();
    config.probes = vec![url];
    let _b = TestBalancer::start(config).await;
    let within = std::time::Duration::from_secs(10);
    for poll in ["first", "second"] {
        tokio::time::timeout(within, connections.recv())
            .await
            .unwrap_or_else(|_| panic!("no {poll} poll within {within:?}"));
    }
}
