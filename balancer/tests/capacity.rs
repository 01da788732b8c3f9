//! A node's capacity when its Redis has no `maxmemory`: never the host's
//! RAM. With nothing else known it takes no new keys and `/nodes` says
//! why; a configured capacity or the cgroup limit its probe agent reports
//! makes it take keys again, placed by that figure.

use balancer::config::Choices;
use hyper::StatusCode;
use memreport::NodeSpec;
use serde_json::{Value, json};
use test_support::{
    Cluster, HttpClient, Pids, RedisContainer, TestAgent, TestBalancer, node_entries, wait_until,
    write_keys,
};

/// The `/nodes` entry of the node at `addr`, once it has been sampled.
async fn sampled(http: &HttpClient, b: &TestBalancer, addr: &str) -> Value {
    let mut found = Value::Null;
    wait_until("the node is sampled", 10, async || {
        found = node_entries(http, b)
            .await
            .into_iter()
            .find(|n| n["addr"] == addr)
            .unwrap_or_default();
        !found["capacity_source"].is_null()
    })
    .await;
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_maxmemory_or_a_known_limit_a_node_takes_no_new_keys_but_serves_its_own() {
    let cluster = Cluster::start(&["64mb", "0"]);
    let unlimited = cluster.nodes[1].addr();
    let http = HttpClient::new();

    let blind = TestBalancer::start(cluster.unreplicated_config()).await;
    let n = sampled(&http, &blind, &unlimited).await;
    assert_eq!(n["capacity_bytes"], Value::Null, "{n}");
    assert_eq!(n["capacity_source"], json!("unknown"));
    assert_eq!(n["state"], json!("up"));
    let why = n["capacity_unknown_because"].as_str().unwrap();
    assert!(
        why.contains("maxmemory is 0") && why.contains("takes no new keys"),
        "{why}"
    );
    let first = sampled(&http, &blind, &cluster.nodes[0].addr()).await;
    assert_eq!(first["capacity_source"], json!("maxmemory"));
    let placed = write_keys(&http, &blind, "blind", 60).await;
    assert!(placed.iter().all(|w| w.node != unlimited), "{placed:?}");

    // A balancer told the node's capacity places keys on it...
    let mut config = cluster.unreplicated_config();
    config.placement.choices = Choices::All;
    config
        .placement
        .node_capacity_bytes
        .insert(unlimited.clone(), 1 << 30);
    let told = TestBalancer::start(config).await;
    let n = sampled(&http, &told, &unlimited).await;
    assert_eq!(n["capacity_source"], json!("configured"));
    assert_eq!(n["capacity_bytes"], json!(1u64 << 30));
    let placed = write_keys(&http, &told, "told", 20).await;
    let on_it: Vec<_> = placed.iter().filter(|w| w.node == unlimited).collect();
    assert!(!on_it.is_empty(), "{placed:?}");

    // ...and the first still reads them there.
    for w in on_it {
        let r = http
            .get(&format!("{}/cache/{}", blind.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.node().unwrap(), unlimited);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cgroup_limit_an_agent_reports_is_the_capacity() {
    let Some(container) = RedisContainer::start("256m", Pids::Host) else {
        return;
    };
    let cluster = Cluster::start(&["64mb"]);
    let mut agent_config = TestAgent::config("docker-host", &[]);
    agent_config.nodes = vec![NodeSpec::from_addr(container.addr())];
    let agent = TestAgent::start(agent_config).await;
    let mut config = cluster.unreplicated_config();
    config.nodes.push(NodeSpec::from_addr(container.addr()));
    config.probes = vec![agent.url.clone()];
    config.placement.choices = Choices::All;
    let b = TestBalancer::start(config).await;
    let http = HttpClient::new();

    let mut n = Value::Null;
    wait_until("the agent's report is taken", 10, async || {
        n = sampled(&http, &b, &container.addr()).await;
        n["report_source"] == json!("agent:docker-host")
    })
    .await;
    assert_eq!(n["capacity_source"], json!("cgroup"), "{n}");
    assert_eq!(n["capacity_bytes"], json!(256u64 << 20));
    let utilization = n["utilization"].as_f64().unwrap();
    let used = n["used_memory_bytes"].as_f64().unwrap();
    assert!(
        (utilization - used / f64::from(256u32 << 20)).abs() < 0.01,
        "{n}"
    );
    // Less full by that figure than the 64 MiB node: it takes the keys.
    let placed = write_keys(&http, &b, "k", 20).await;
    assert!(
        placed.iter().all(|w| w.node == container.addr()),
        "{placed:?}"
    );
}
