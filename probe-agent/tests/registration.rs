//! The agent's ZooKeeper entries with a real ZooKeeper: a node's entry is
//! announced once, so an entry an operator deleted is not brought back by
//! a restarted agent, until the operator deletes its marker too.

use coordination::session::{ZkConfig, connect};
use coordination::{Acls, paths};
use memreport::NodeSpec;
use test_support::{RedisServer, TestAgent, ZooKeeperServer, wait_until};

const SESSION_MS: u64 = 2000;

/// An agent on `port` (0: a free one) registering node `n1` in `zk`.
async fn start_agent(zk: &ZooKeeperServer, node: &RedisServer, port: u16) -> TestAgent {
    let mut config = TestAgent::config("reg-host", &[]);
    config.nodes = vec![NodeSpec {
        id: "n1".into(),
        addr: node.addr(),
    }];
    config.listen.set_port(port);
    config.zookeeper = Some(zk.addr());
    config.zookeeper_session = std::time::Duration::from_millis(SESSION_MS);
    TestAgent::start(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_the_operator_deleted_is_not_recreated_by_a_restarted_agent() {
    let zk = ZooKeeperServer::start();
    let node = RedisServer::start();
    let client = connect(&ZkConfig::new(&zk.addr(), SESSION_MS))
        .await
        .unwrap();
    let entry = paths::child(paths::NODES, "n1");
    let exists = async |path: &str| client.check_stat(path).await.unwrap().is_some();

    let agent = start_agent(&zk, &node, 0).await;
    let port = agent.addr.port();
    let probe = paths::child(paths::PROBES, &format!("reg-host:{port}"));
    wait_until("the agent announces its node", 10, async || {
        exists(&entry).await
    })
    .await;
    assert!(exists(&paths::child(paths::ANNOUNCED, "n1")).await);

    // The operator removes the node while the agent runs, then the agent
    // restarts (a new process, a new session).
    client.delete(&entry, None).await.unwrap();
    agent.stop().await;
    wait_until("the old registration is gone", 10, async || {
        !exists(&probe).await
    })
    .await;
    let agent = start_agent(&zk, &node, port).await;
    wait_until("the restarted agent registers", 10, async || {
        exists(&probe).await
    })
    .await;
    assert!(!exists(&entry).await, "the deleted entry came back");

    // Deleting the marker lets the next registration announce it again.
    client
        .delete(&paths::child(paths::ANNOUNCED, "n1"), None)
        .await
        .unwrap();
    agent.stop().await;
    wait_until("the registration is gone", 10, async || {
        !exists(&probe).await
    })
    .await;
    let _agent = start_agent(&zk, &node, port).await;
    wait_until("the node is announced again", 10, async || {
        exists(&entry).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_made_by_hand_is_kept_as_it_is() {
    use coordination::paths::NodeEntry;
    let zk = ZooKeeperServer::start();
    let node = RedisServer::start();
    let client = connect(&ZkConfig::new(&zk.addr(), SESSION_MS))
        .await
        .unwrap();
    coordination::registry::ensure_path(&client, paths::NODES, Acls::anyone_all())
        .await
        .unwrap();
    let by_hand = NodeEntry {
        state: "draining".into(),
        ..NodeEntry::active(node.addr(), 1)
    };
    let entry = paths::child(paths::NODES, "n1");
    coordination::registry::ensure_persistent(
        &client,
        &entry,
        &serde_json::to_vec(&by_hand).unwrap(),
        Acls::anyone_all(),
    )
    .await
    .unwrap();
    let _agent = start_agent(&zk, &node, 0).await;
    let marker = paths::child(paths::ANNOUNCED, "n1");
    wait_until("the agent marks the node announced", 10, async || {
        client.check_stat(&marker).await.unwrap().is_some()
    })
    .await;
    let (data, _) = client.get_data(&entry).await.unwrap();
    let kept: NodeEntry = serde_json::from_slice(&data).unwrap();
    assert_eq!(kept, by_hand);
}
