//! ZooKeeper with real processes: balancers register and elect one leader,
//! a leader that stops is replaced, probe agents are found without
//! configuration, and a ZooKeeper outage neither stops the cache nor
//! survives as lost registrations once ZooKeeper returns.

use std::time::Duration;

use balancer::config::Config;
use coordination::session::{ZkConfig, connect};
use coordination::{Acls, paths};
use hyper::StatusCode;
use serde_json::{Value, json};
use test_support::wait_until;
use test_support::{
    Cluster, HttpClient, RedisServer, TestAgent, TestBalancer, WrittenKey, ZooKeeperServer,
    node_entries, node_state, nodes_view, write_keys_with,
};

const SESSION_MS: u64 = 2000;

fn with_zk(mut config: Config, zk: &ZooKeeperServer, id: &str) -> Config {
    config.zookeeper = Some(zk.addr());
    config.zookeeper_session = std::time::Duration::from_millis(SESSION_MS);
    config.id = Some(id.into());
    config
}

async fn coordination(http: &HttpClient, b: &TestBalancer) -> Value {
    nodes_view(http, b).await["coordination"].clone()
}

/// A probe agent on a free port registering in `zk`; stopped on drop.
async fn start_agent(zk: &ZooKeeperServer, host: &str, nodes: &[&RedisServer]) -> TestAgent {
    let mut config = TestAgent::config(host, nodes);
    config.zookeeper = Some(zk.addr());
    config.zookeeper_session = std::time::Duration::from_millis(SESSION_MS);
    TestAgent::start(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balancers_elect_one_leader_and_replace_one_that_stops() {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let first = TestBalancer::start(with_zk(cluster.unreplicated_config(), &zk, "b1")).await;
    let second = TestBalancer::start(with_zk(cluster.unreplicated_config(), &zk, "b2")).await;
    let http = HttpClient::new();

    wait_until("both see the same single leader", 10, async || {
        let (a, b) = (
            coordination(&http, &first).await,
            coordination(&http, &second).await,
        );
        a["leader"].is_string()
            && a["leader"] == b["leader"]
            && a["is_leader"].as_bool().unwrap() != b["is_leader"].as_bool().unwrap()
    })
    .await;
    // The peer listing follows its own watch, so it can arrive later.
    wait_until("the first balancer lists both", 10, async || {
        let view = coordination(&http, &first).await;
        view["balancers"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    let view = coordination(&http, &first).await;
    assert_eq!(view["zookeeper"], json!("connected"));
    let peers = view["balancers"].as_array().unwrap();
    assert_eq!(peers.len(), 2, "each balancer sees both: {peers:?}");
    assert!(peers[0].as_str().unwrap().starts_with("b1=127.0.0.1:"));
    let (leader, follower) = if view["is_leader"] == json!(true) {
        (first, second)
    } else {
        (second, first)
    };
    let metrics = http
        .get(&format!("{}/metrics", leader.url))
        .await
        .unwrap()
        .body;
    assert!(metrics.contains("dlb_leader 1") && metrics.contains("dlb_zookeeper_connected 1"));

    leader.shutdown().await;
    wait_until(
        "the other balancer leads",
        SESSION_MS / 1000 + 5,
        async || coordination(&http, &follower).await["is_leader"] == json!(true),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_agents_are_found_through_zookeeper() {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb"]);
    // Two agents on one host (different ports) both register.
    let _agent = start_agent(&zk, "zk-host", &[&cluster.nodes[0]]).await;
    let _second = start_agent(&zk, "zk-host", &[&cluster.nodes[1]]).await;
    let b = TestBalancer::start(with_zk(cluster.unreplicated_config(), &zk, "b1")).await;
    let http = HttpClient::new();
    wait_until("the agent's reports arrive", 10, async || {
        node_entries(&http, &b)
            .await
            .iter()
            .all(|n| n["report_source"] == json!("agent:zk-host"))
    })
    .await;
    // The agent also listed the data nodes persistently.
    let client = zk.client(SESSION_MS).await;
    let listed = client.list_children(paths::NODES).await.unwrap();
    assert!(listed.contains(&cluster.nodes[0].addr()), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_outage_keeps_the_cache_serving_and_heals() {
    let mut zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let b = TestBalancer::start(with_zk(cluster.unreplicated_config(), &zk, "b1")).await;
    let _early_agent = start_agent(&zk, "early-host", &[&cluster.nodes[1]]).await;
    let http = HttpClient::new();
    wait_until("connected, the early agent found", 10, async || {
        let view = coordination(&http, &b).await;
        view["zookeeper"] == json!("connected")
            && view["discovered_probes"]
                .as_array()
                .is_some_and(|p| p.len() == 1)
    })
    .await;

    zk.stop();
    wait_until("the outage is seen", 10, async || {
        coordination(&http, &b).await["zookeeper"] != json!("connected")
    })
    .await;
    for i in 0..20 {
        let body = json!({"key": format!("zk-down-{i}"), "value": i});
        let r = http
            .post_json(&format!("{}/cache", b.url), &body)
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        let r = http
            .get(&format!("{}/cache/zk-down-{i}", b.url))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK);
    }
    let ready = http.get(&format!("{}/readyz", b.url)).await.unwrap();
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "ZooKeeper does not decide readiness"
    );
    assert_ne!(ready.json()["zookeeper"], json!("connected"));

    // Wait past the session timeout so the old session is gone, then return.
    tokio::time::sleep(Duration::from_millis(SESSION_MS + 500)).await;
    zk.restart();
    wait_until("reconnected", 20, async || {
        coordination(&http, &b).await["zookeeper"] == json!("connected")
    })
    .await;
    let client = zk.client(SESSION_MS).await;
    let me = paths::child(paths::BALANCERS, "b1");
    wait_until("registered again", 10, async || {
        client.check_stat(&me).await.unwrap().is_some()
    })
    .await;
    wait_until("the agent registered again", 10, async || {
        let agents = client.list_children(paths::PROBES).await.unwrap();
        agents.iter().any(|name| name.starts_with("early-host:"))
    })
    .await;
    // Watches work again: an agent that registers now is found.
    let _agent = start_agent(&zk, "late-host", &[&cluster.nodes[0]]).await;
    wait_until("the new agent is discovered", 10, async || {
        coordination(&http, &b).await["discovered_probes"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_added_and_drained_in_zookeeper_steer_new_keys() {
    use coordination::paths::NodeEntry;
    use coordination::registry::ensure_persistent;
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let extra = RedisServer::start();
    let b = TestBalancer::start(with_zk(cluster.unreplicated_config(), &zk, "b1")).await;
    let http = HttpClient::new();
    let client = zk.client(SESSION_MS).await;
    let entry = |addr: String, state: &str| {
        serde_json::to_vec(&NodeEntry {
            state: state.into(),
            ..NodeEntry::active(addr, 1)
        })
        .unwrap()
    };
    coordination::registry::ensure_path(&client, paths::NODES, Acls::anyone_all())
        .await
        .unwrap();
    for node in cluster.nodes.iter().chain([&extra]) {
        let path = paths::child(paths::NODES, &node.addr());
        ensure_persistent(
            &client,
            &path,
            &entry(node.addr(), "active"),
            Acls::anyone_all(),
        )
        .await
        .unwrap();
    }
    wait_until("the added node is up", 10, async || {
        node_state(&http, &b, &extra.addr()).await.as_deref() == Some("up")
    })
    .await;

    // Values big enough that the other nodes' growth outweighs the few KiB
    // by which a fresh node's own bookkeeping may start out fuller.
    let on_extra: Vec<WrittenKey> =
        write_keys_with(&http, &b, "grow", 100, |_| "x".repeat(8 * 1024))
            .await
            .into_iter()
            .filter(|w| w.node == extra.addr())
            .collect();
    let view = http.get(&format!("{}/nodes", b.url)).await.unwrap().body;
    assert!(
        !on_extra.is_empty(),
        "new keys flow to the added node: {view}"
    );

    let path = paths::child(paths::NODES, &extra.addr());
    client
        .set_data(&path, &entry(extra.addr(), "draining"), None)
        .await
        .unwrap();
    wait_until("the node drains", 10, async || {
        node_state(&http, &b, &extra.addr()).await.as_deref() == Some("draining")
    })
    .await;
    for i in 0..100 {
        let r = http
            .post_json(
                &format!("{}/cache", b.url),
                &json!({"key": format!("drained{i}"), "value": i}),
            )
            .await
            .unwrap();
        assert_ne!(
            r.node().unwrap(),
            extra.addr(),
            "no new key on a draining node"
        );
    }
    for w in on_extra {
        let r = http
            .get(&format!("{}/cache/{}", b.url, w.key))
            .await
            .unwrap();
        assert_eq!(
            r.status,
            StatusCode::OK,
            "a draining node still serves its keys"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_the_session_timeout() {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb"]);
    let http = HttpClient::new();
    // The first balancer is a real process, so it can be SIGKILLed: its
    // session then ends only by timing out.
    let port = test_support::free_port();
    let mut killed = std::process::Command::new(env!("CARGO_BIN_EXE_balancer"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--index",
            &cluster.index.addr(),
        ])
        .args([
            "--nodes",
            &cluster.nodes[0].addr(),
            "--zookeeper",
            &zk.addr(),
            "--id",
            "doomed",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/nodes");
    wait_until("the process leads", 15, async || {
        http.get(&url)
            .await
            .is_ok_and(|r| r.json()["coordination"]["is_leader"] == json!(true))
    })
    .await;
    let mut config = with_zk(cluster.unreplicated_config(), &zk, "survivor");
    config.zookeeper_session = std::time::Duration::from_millis(5000); // the killed process asked for 5 s (the default)
    let survivor = TestBalancer::start(config).await;
    wait_until("the survivor sees the leader", 10, async || {
        coordination(&http, &survivor).await["leader"] == json!("doomed")
    })
    .await;
    killed.kill().unwrap();
    killed.wait().unwrap();
    let killed_at = tokio::time::Instant::now();
    wait_until("the survivor leads", 5 + 5, async || {
        coordination(&http, &survivor).await["is_leader"] == json!(true)
    })
    .await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(5 + 3),
        "{:?}",
        killed_at.elapsed()
    );
}

#[tokio::test]
async fn the_lock_helper_admits_one_holder_at_a_time_with_growing_tokens() {
    let zk = ZooKeeperServer::start();
    // No session expires here: a long timeout only gives a JVM that is
    // still warming up (the other tests start theirs at the same moment)
    // time for its first answer.
    let config = ZkConfig::new(&zk.addr(), 10_000);
    let (a, b) = (
        connect(&config).await.unwrap(),
        connect(&config).await.unwrap(),
    );
    let held = coordination::election::lock(&a, "rebalance", "a", Acls::anyone_all())
        .await
        .unwrap();
    let waiting = coordination::election::lock(&b, "rebalance", "b", Acls::anyone_all());
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "a second holder waits while the lock is held"
    );
    let first_token = held.token;
    drop(held);
    let second = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("released locks pass to the next in line")
        .unwrap();
    assert!(
        second.token > first_token,
        "fencing tokens grow: {} then {}",
        first_token,
        second.token
    );
}

#[tokio::test]
async fn a_registration_never_evicts_another_session() {
    use coordination::registry::register_ephemeral;
    let zk = ZooKeeperServer::start();
    // No session expires here: a long timeout only gives a JVM that is
    // still warming up (the other tests start theirs at the same moment)
    // time for its first answer.
    let config = ZkConfig::new(&zk.addr(), 10_000);
    let (a, b) = (
        connect(&config).await.unwrap(),
        connect(&config).await.unwrap(),
    );
    coordination::registry::ensure_path(&a, paths::BALANCERS, Acls::anyone_all())
        .await
        .unwrap();
    let path = paths::child(paths::BALANCERS, "same-id");
    let wait = Duration::from_millis(300);
    register_ephemeral(&a, &path, b"127.0.0.1:1", wait, Acls::anyone_all())
        .await
        .unwrap();
    // Neither other data nor the same data lets another session take it.
    for data in [&b"127.0.0.1:2"[..], b"127.0.0.1:1"] {
        let taken = register_ephemeral(&b, &path, data, wait, Acls::anyone_all()).await;
        assert!(
            matches!(taken, Err(coordination::Error::NodeExists)),
            "{taken:?}"
        );
    }
    let (data, stat) = a.get_data(&path).await.unwrap();
    assert_eq!(data, b"127.0.0.1:1", "the first holder keeps its data");
    assert_eq!(stat.ephemeral_owner, a.session_id().0);
    // Its own session registering again keeps the node, with new data.
    register_ephemeral(&a, &path, b"127.0.0.1:3", wait, Acls::anyone_all())
        .await
        .unwrap();
    let (data, again) = a.get_data(&path).await.unwrap();
    assert_eq!(
        (data.as_slice(), again.czxid),
        (&b"127.0.0.1:3"[..], stat.czxid)
    );
    // Once the holder's session ends, the other may register.
    drop(a);
    register_ephemeral(
        &b,
        &path,
        b"127.0.0.1:2",
        Duration::from_secs(5),
        Acls::anyone_all(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_address_in_zookeeper_does_not_block_a_good_one() {
    use coordination::paths::NodeEntry;
    use coordination::registry::{ensure_path, ensure_persistent};
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb"]);
    let extra = RedisServer::start();
    let client = zk.client(SESSION_MS).await;
    ensure_path(&client, paths::NODES, Acls::anyone_all())
        .await
        .unwrap();
    for (id, addr) in [
        ("bad", "127.0.0.1:notaport".to_string()),
        ("good", extra.addr()),
    ] {
        let entry = NodeEntry::active(addr, 1);
        let path = paths::child(paths::NODES, id);
        ensure_persistent(
            &client,
            &path,
            &serde_json::to_vec(&entry).unwrap(),
            Acls::anyone_all(),
        )
        .await
        .unwrap();
    }
    let b = TestBalancer::start(with_zk(cluster.unreplicated_config(), &zk, "b1")).await;
    let http = HttpClient::new();
    wait_until("the good node is up", 10, async || {
        node_state(&http, &b, &extra.addr()).await.as_deref() == Some("up")
    })
    .await;
    let view = nodes_view(&http, &b).await;
    let rejected = view["rejected_nodes"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{view}");
    assert_eq!(rejected[0]["id"], json!("bad"));
    assert_eq!(rejected[0]["addr"], json!("127.0.0.1:notaport"));
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("host:port")
    );
    assert!(
        node_entries(&http, &b)
            .await
            .iter()
            .all(|n| n["id"] != json!("bad"))
    );
}
