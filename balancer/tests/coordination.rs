//! Coordination through ZooKeeper trouble (issue 12), with a real
//! ZooKeeper frozen by SIGSTOP: leadership ends within its lease when the
//! leader cannot reach ZooKeeper, a freeze shorter than the session moves
//! neither leadership nor registrations, and a second live balancer with
//! an id already registered is refused.

use std::time::Duration;

use balancer::config::Config;
use coordination::paths;
use serde_json::{Value, json};
use test_support::{Cluster, HttpClient, TestBalancer, ZooKeeperServer, nodes_view, wait_until};
use tokio::time::Instant;

fn with_zk(mut config: Config, zk: &ZooKeeperServer, id: &str, session_ms: u64) -> Config {
    config.zookeeper = Some(zk.addr());
    config.zookeeper_session = Duration::from_millis(session_ms);
    config.id = Some(id.into());
    config
}

async fn coordination(http: &HttpClient, b: &TestBalancer) -> Value {
    nodes_view(http, b).await["coordination"].clone()
}

async fn leader_gauge(http: &HttpClient, b: &TestBalancer) -> Option<String> {
    let metrics = http.get(&format!("{}/metrics", b.url)).await.ok()?.body;
    metrics
        .lines()
        .find(|l| l.starts_with("dlb_leader "))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_by_a_frozen_zookeeper_stops_claiming_leadership_within_its_lease() {
    const SESSION_MS: u64 = 3000;
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let b = TestBalancer::start(with_zk(
        cluster.unreplicated_config(),
        &zk,
        "b1",
        SESSION_MS,
    ))
    .await;
    let http = HttpClient::new();
    wait_until("it leads, in /nodes and dlb_leader", 15, async || {
        coordination(&http, &b).await["is_leader"] == json!(true)
            && leader_gauge(&http, &b).await.as_deref() == Some("dlb_leader 1")
    })
    .await;

    zk.pause();
    let frozen_at = Instant::now();
    // The lease is half the session timeout, counted from the last answered
    // exchange, which came before the freeze; the gauge follows within a
    // twentieth of the session. The margin is for polling on a busy host.
    let deadline = Duration::from_millis(SESSION_MS / 2 + SESSION_MS / 20 + 600);
    let mut given_up = None;
    while frozen_at.elapsed() < deadline {
        let view = coordination(&http, &b).await;
        if view["is_leader"] == json!(false)
            && leader_gauge(&http, &b).await.as_deref() == Some("dlb_leader 0")
        {
            given_up = Some(frozen_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    zk.resume();
    assert!(
        given_up.is_some(),
        "still claimed leadership {deadline:?} into the freeze, past its lease"
    );
    wait_until("it leads again once ZooKeeper is back", 20, async || {
        coordination(&http, &b).await["is_leader"] == json!(true)
    })
    .await;
}

/// Who owns each balancer's registration (the session id), and which
/// election node leads.
async fn owners(client: &coordination::Client) -> (Vec<(String, i64)>, Option<String>) {
    let mut registrations = Vec::new();
    for id in ["b1", "b2"] {
        let (_, stat) = client
            .get_data(&paths::child(paths::BALANCERS, id))
            .await
            .unwrap();
        registrations.push((id.to_string(), stat.ephemeral_owner));
    }
    let mut candidates = client.list_children(paths::ELECTION).await.unwrap();
    candidates.sort_by_key(|n| n[n.len() - 10..].to_string());
    (registrations, candidates.first().cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_freeze_of_half_the_session_moves_no_leadership_and_no_registration() {
    const SESSION_MS: u64 = 6000;
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let config = cluster.unreplicated_config();
    let first = TestBalancer::start(with_zk(config.clone(), &zk, "b1", SESSION_MS)).await;
    let second = TestBalancer::start(with_zk(config, &zk, "b2", SESSION_MS)).await;
    let http = HttpClient::new();
    wait_until("one leader, both registered", 15, async || {
        let (a, b) = (
            coordination(&http, &first).await,
            coordination(&http, &second).await,
        );
        a["leader"].is_string()
            && a["is_leader"] != b["is_leader"]
            && a["balancers"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    let observer = zk.client(10_000).await;
    let before = owners(&observer).await;
    let token = |v: &Value| v["leader_token"].clone();
    let (token_1, token_2) = (
        token(&coordination(&http, &first).await),
        token(&coordination(&http, &second).await),
    );

    zk.pause();
    tokio::time::sleep(Duration::from_millis(SESSION_MS / 2)).await;
    zk.resume();
    // Time for anything the freeze broke to show: a session closed and
    // opened again, a registration or election node created anew.
    wait_until("both connected again", 10, async || {
        coordination(&http, &first).await["zookeeper"] == json!("connected")
            && coordination(&http, &second).await["zookeeper"] == json!("connected")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_eq!(owners(&observer).await, before, "owners changed");
    let (a, b) = (
        coordination(&http, &first).await,
        coordination(&http, &second).await,
    );
    assert!(a["is_leader"] != b["is_leader"], "{a} {b}");
    assert_eq!(
        (token(&a), token(&b)),
        (token_1, token_2),
        "leadership moved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_live_balancer_with_a_registered_id_exits_2() {
    const SESSION_MS: u64 = 2000;
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb"]);
    let config = with_zk(cluster.unreplicated_config(), &zk, "same-id", SESSION_MS);
    let first = TestBalancer::start(config).await;
    let http = HttpClient::new();
    wait_until("the first registered", 15, async || {
        coordination(&http, &first).await["balancers"]
            .as_array()
            .is_some_and(|p| p.len() == 1)
    })
    .await;

    let file = std::env::temp_dir().join(format!("dlb-same-id-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\nindex = \"{}\"\nnodes = [\"{}\"]\n\
             zookeeper = \"{}\"\nzookeeper_session_ms = {SESSION_MS}\nid = \"same-id\"\n",
            cluster.index.addr(),
            cluster.nodes[0].addr(),
            zk.addr()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_balancer"))
        .arg("--config")
        .arg(&file)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("the second balancer stops by itself")
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("same-id"), "{stderr}");
    assert!(
        started.elapsed() >= Duration::from_millis(SESSION_MS),
        "a registration left by a killed process lives up to a session timeout: wait that long first"
    );
    assert_eq!(
        coordination(&http, &first).await["balancers"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
