//! ZooKeeper digest auth (`zookeeper_auth`) with a real ZooKeeper: a
//! balancer and a probe agent with the credentials register, elect and
//! discover each other as before, every znode they create under `/dlb` is
//! for their identity only, and a client without the credentials (or with
//! others) can neither read, write nor delete there. Without the setting,
//! znodes stay open to anyone, as before.

use std::time::Duration;

use balancer::config::{Config, Secret};
use coordination::session::{ZkConfig, connect};
use coordination::{Acls, Client, CreateMode, Error, Permission, paths};
use serde_json::{Value, json};
use test_support::{
    Cluster, HttpClient, TestAgent, TestBalancer, ZooKeeperServer, node_entries, nodes_view,
    wait_until,
};

const SESSION_MS: u64 = 2000;
const AUTH: &str = "dlb:zk-s3cret";

fn with_zk(mut config: Config, zk: &ZooKeeperServer, auth: Option<&str>) -> Config {
    config.zookeeper = Some(zk.addr());
    config.zookeeper_session = Duration::from_millis(SESSION_MS);
    config.zookeeper_auth = auth.map(Secret::new);
    config.id = Some("b1".into());
    config
}

async fn coordination(http: &HttpClient, b: &TestBalancer) -> Value {
    nodes_view(http, b).await["coordination"].clone()
}

async fn client(zk: &ZooKeeperServer, auth: Option<&str>) -> Client {
    let config = ZkConfig::new(&zk.addr(), SESSION_MS);
    let config = match auth {
        Some(auth) => config.with_auth(auth),
        None => config,
    };
    connect(&config).await.unwrap()
}

/// Every path under `/dlb`, depth first.
async fn tree(client: &Client, path: &str) -> Vec<String> {
    let mut found = vec![path.to_string()];
    for child in client.list_children(path).await.unwrap() {
        found.extend(Box::pin(tree(client, &paths::child(path, &child))).await);
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_only_the_credentials_reach_dlb_and_the_stack_works_as_before() {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let mut agent = TestAgent::config("acl-host", &[&cluster.nodes[0], &cluster.nodes[1]]);
    agent.zookeeper = Some(zk.addr());
    agent.zookeeper_session = Duration::from_millis(SESSION_MS);
    agent.zookeeper_auth = Some(Secret::new(AUTH));
    let _agent = TestAgent::start(agent).await;
    let b = TestBalancer::start(with_zk(cluster.config(), &zk, Some(AUTH))).await;
    let http = HttpClient::new();
    wait_until("registered, elected, the agent found", 10, async || {
        let view = coordination(&http, &b).await;
        view["is_leader"] == json!(true)
            && view["discovered_probes"]
                .as_array()
                .is_some_and(|p| p.len() == 1)
            && node_entries(&http, &b)
                .await
                .iter()
                .all(|n| n["report_source"] == json!("agent:acl-host"))
    })
    .await;

    let owner = client(&zk, Some(AUTH)).await;
    let node = paths::child(paths::NODES, &cluster.nodes[0].addr());
    let me = paths::child(paths::BALANCERS, "b1");
    let everything = tree(&owner, "/dlb").await;
    for path in [
        &node,
        &me,
        &paths::child(paths::ANNOUNCED, &cluster.nodes[0].addr()),
    ] {
        assert!(everything.contains(path), "{path} missing: {everything:?}");
    }
    assert!(everything.iter().any(|p| p.starts_with("/dlb/election/")));
    assert!(
        everything
            .iter()
            .any(|p| p.starts_with("/dlb/probes/acl-host:"))
    );
    for path in &everything {
        let (acls, _) = owner.get_acl(path).await.unwrap();
        assert_eq!(acls.len(), 1, "{path}: {acls:?}");
        assert_eq!(acls[0].scheme(), "digest", "{path}: {acls:?}");
        assert!(acls[0].id().starts_with("dlb:"), "{path}: {acls:?}");
        assert_eq!(acls[0].permission(), Permission::ALL, "{path}");
    }

    let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let draining = br#"{"addr":"x:1","weight":1,"state":"draining"}"#;
    for outsider in [
        client(&zk, None).await,
        client(&zk, Some("dlb:wrong")).await,
    ] {
        let no_auth = |what: &str, r: Result<(), Error>| {
            assert_eq!(r, Err(Error::NoAuth), "{what}");
        };
        let rogue = paths::child(paths::NODES, "rogue");
        no_auth(
            "create a node entry",
            outsider.create(&rogue, b"{}", &open).await.map(drop),
        );
        no_auth(
            "create under /dlb",
            outsider.create("/dlb/x", b"", &open).await.map(drop),
        );
        no_auth(
            "change an entry",
            outsider.set_data(&node, draining, None).await.map(drop),
        );
        no_auth("delete an entry", outsider.delete(&node, None).await);
        no_auth("delete a registration", outsider.delete(&me, None).await);
        no_auth("read an entry", outsider.get_data(&node).await.map(drop));
        no_auth("list /dlb", outsider.list_children("/dlb").await.map(drop));
    }
    assert_eq!(
        tree(&owner, "/dlb").await,
        everything,
        "an outsider changed /dlb"
    );

    // The operator, with the credentials, drains a node as usual.
    let entry = json!({"addr": cluster.nodes[1].addr(), "weight": 1, "state": "draining"});
    let drained = paths::child(paths::NODES, &cluster.nodes[1].addr());
    owner
        .set_data(&drained, entry.to_string().as_bytes(), None)
        .await
        .unwrap();
    let addr = cluster.nodes[1].addr();
    wait_until("the balancer sees the node draining", 10, async || {
        node_entries(&http, &b)
            .await
            .iter()
            .any(|n| n["addr"] == addr && n["state"] == json!("draining"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_the_znodes_stay_open() {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb"]);
    let b = TestBalancer::start(with_zk(cluster.config(), &zk, None)).await;
    let http = HttpClient::new();
    wait_until("registered and elected", 10, async || {
        coordination(&http, &b).await["is_leader"] == json!(true)
    })
    .await;
    let anyone = client(&zk, None).await;
    for path in ["/dlb", "/dlb/balancers", "/dlb/balancers/b1"] {
        let (acls, _) = anyone.get_acl(path).await.unwrap();
        assert_eq!(acls.len(), 1, "{path}: {acls:?}");
        assert_eq!(
            (acls[0].scheme(), acls[0].id()),
            ("world", "anyone"),
            "{path}"
        );
        assert_eq!(acls[0].permission(), Permission::ALL, "{path}");
    }
    anyone
        .set_data("/dlb/balancers/b1", b"x", None)
        .await
        .unwrap();
}
