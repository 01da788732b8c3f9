//! The admin API with real servers: its bearer token, its absence without
//! one, and each change it makes to ZooKeeper (nodes added, drained,
//! deleted, force-deleted; the rebalancer paused and started), checked
//! in ZooKeeper itself and in how the balancer's node table follows it;
//! with `zookeeper_auth`, what it creates is for that identity only; a
//! change pinned to a version is not made once the entry changed.

use std::time::{Duration, Instant};

use balancer::config::{Config, Secret};
use coordination::Acls;
use coordination::admin::{self, Change, Outcome};
use coordination::paths::{self, NodeEntry, RebalanceControl};
use coordination::session::{ZkConfig, connect};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use test_support::{
    Cluster, HttpClient, HttpReply, RedisServer, TestBalancer, ZooKeeperServer, node_state,
    nodes_view, wait_until,
};

const SESSION_MS: u64 = 2000;
const TOKEN: &str = "t0ken-for-the-tests";

/// A balancer on `cluster` with `token`, and ZooKeeper when given.
fn config(cluster: &Cluster, zk: Option<&ZooKeeperServer>, token: Option<&str>) -> Config {
    let mut config = cluster.unreplicated_config();
    config.zookeeper = zk.map(ZooKeeperServer::addr);
    config.zookeeper_session = Duration::from_millis(SESSION_MS);
    config.id = Some("b1".into());
    config.admin_token = token.map(Secret::new);
    config
}

/// Sends admin requests to one balancer, with the token or another
/// `Authorization`.
struct Admin {
    http: HttpClient,
    url: String,
}

impl Admin {
    fn of(balancer: &TestBalancer) -> Admin {
        Admin {
            http: HttpClient::new(),
            url: balancer.url.clone(),
        }
    }

    /// `method path` with `headers` (no `Authorization` unless given).
    async fn send_as(
        &self,
        headers: &[(&str, &str)],
        method: Method,
        path: &str,
        body: &str,
    ) -> HttpReply {
        let url = format!("{}{path}", self.url);
        self.http
            .send_with(method, &url, headers, body.to_string())
            .await
            .unwrap()
    }

    /// `method path` with the token.
    async fn send(&self, method: Method, path: &str, body: &str) -> HttpReply {
        let auth = format!("Bearer {TOKEN}");
        self.send_as(&[("authorization", &auth)], method, path, body)
            .await
    }
}

/// Asserts `reply` is `status` with the error body `code`; its message.
fn refused(reply: &HttpReply, status: u16, code: &str) -> String {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], code, "{}", reply.body);
    body["message"].as_str().expect("a message").to_string()
}

async fn zk_client(zk: &ZooKeeperServer) -> coordination::Client {
    zk.client(SESSION_MS).await
}

/// The JSON of `/dlb/nodes/<id>`, or `None` when there is none.
async fn zk_entry(client: &coordination::Client, id: &str) -> Option<Value> {
    match client.get_data(&paths::child(paths::NODES, id)).await {
        Ok((data, _)) => Some(serde_json::from_slice(&data).unwrap()),
        Err(coordination::Error::NoNode) => None,
        Err(e) => panic!("ZooKeeper: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_routes_need_the_token_and_are_off_without_one() {
    let cluster = Cluster::start(&["64mb"]);
    let on = TestBalancer::start(config(&cluster, None, Some(TOKEN))).await;
    let admin = Admin::of(&on);
    for (method, path) in [
        (Method::GET, "/admin/nodes"),
        (Method::POST, "/admin/nodes"),
        (Method::POST, "/admin/nodes/n1/drain"),
        (Method::DELETE, "/admin/nodes/n1"),
        (Method::GET, "/admin/rebalance"),
        (Method::POST, "/admin/rebalance"),
    ] {
        let bare = admin.send_as(&[], method.clone(), path, "{}").await;
        let message = refused(&bare, 401, "unauthorized");
        assert!(message.contains("Authorization: Bearer"), "{message}");
        assert_eq!(
            bare.headers["www-authenticate"], "Bearer",
            "{method} {path}"
        );
        for wrong in [
            "Bearer t0ken-for-the-test",
            "Bearer t0ken-for-the-testss",
            "Bearer t0ken-for-the-testS",
            "Basic dDBrZW4=",
            TOKEN,
        ] {
            let reply = admin
                .send_as(&[("authorization", wrong)], method.clone(), path, "{}")
                .await;
            refused(&reply, 401, "unauthorized");
            assert!(!reply.body.contains(TOKEN), "the token is shown");
        }
    }
    // With the token, and no ZooKeeper to write to.
    let reply = admin.send(Method::GET, "/admin/nodes", "").await;
    refused(&reply, 503, "zookeeper_not_configured");
    let nodes = HttpClient::new()
        .get(&format!("{}/nodes", on.url))
        .await
        .unwrap();
    assert!(!nodes.body.contains(TOKEN), "GET /nodes shows the token");

    let off = TestBalancer::start(config(&cluster, None, None)).await;
    let admin = Admin::of(&off);
    for (method, path) in [
        (Method::GET, "/admin/nodes"),
        (Method::PUT, "/admin/nodes"),
        (Method::POST, "/admin/nodes/n1/drain"),
        (Method::DELETE, "/admin/nodes/n1"),
        (Method::POST, "/admin/rebalance"),
    ] {
        let reply = admin.send(method.clone(), path, "{}").await;
        refused(&reply, 404, "route_not_found");
        assert!(
            !reply.headers.contains_key("www-authenticate"),
            "{method} {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_added_drained_and_deleted_through_zookeeper() {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let extra = RedisServer::start();
    let b = TestBalancer::start(config(&cluster, Some(&zk), Some(TOKEN))).await;
    let admin = Admin::of(&b);
    let http = HttpClient::new();
    let client = zk_client(&zk).await;
    wait_until("the balancer's session is open", 10, async || {
        nodes_view(&http, &b).await["coordination"]["zookeeper"] == "connected"
    })
    .await;
    // This balancer leads: its rebalancer would drain the empty node and
    // mark it removed at once; this test marks it removed by hand.
    let pause = r#"{"action": "pause"}"#;
    let reply = admin.send(Method::POST, "/admin/rebalance", pause).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    wait_until("the balancer sees the pause", 10, async || {
        b.app.coordinator.rebalance_paused()
    })
    .await;

    // The configured nodes first, so listing the new one keeps them.
    for node in &cluster.nodes {
        let body = json!({"id": node.addr(), "addr": node.addr(), "weight": 1}).to_string();
        let reply = admin.send(Method::POST, "/admin/nodes", &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let body = json!({"id": "extra", "addr": extra.addr(), "weight": 3}).to_string();
    let reply = admin.send(Method::POST, "/admin/nodes", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"id": "extra", "addr": extra.addr(), "weight": 3, "state": "active",
               "delete_when_drained": false})
    );
    assert_eq!(
        zk_entry(&client, "extra").await.unwrap(),
        json!({"addr": extra.addr(), "weight": 3, "state": "active"}),
        "an active entry is written as agents write theirs"
    );
    let again = json!({"id": "extra", "addr": cluster.nodes[0].addr(), "weight": 1}).to_string();
    refused(
        &admin.send(Method::POST, "/admin/nodes", &again).await,
        409,
        "node_exists",
    );
    assert_eq!(zk_entry(&client, "extra").await.unwrap()["weight"], 3);

    wait_until("the balancer's table takes the new node", 10, async || {
        node_state(&http, &b, &extra.addr()).await.as_deref() == Some("up")
    })
    .await;
    wait_until(
        "the listing shows the table's view, sampled",
        10,
        async || {
            let listed = admin.send(Method::GET, "/admin/nodes", "").await.json();
            listed["nodes"].as_array().unwrap().iter().any(|n| {
                n["id"] == "extra"
                    && n["table"]["state"] == "up"
                    && n["table"]["capacity_bytes"].is_u64()
            })
        },
    )
    .await;
    let listed = admin.send(Method::GET, "/admin/nodes", "").await.json();
    let ids: Vec<&str> = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let mut expected = vec![cluster.nodes[0].addr(), cluster.nodes[1].addr()];
    expected.push("extra".into());
    expected.sort();
    assert_eq!(ids, expected);
    let extra_listed = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "extra");
    let extra_listed = extra_listed.unwrap();
    assert_eq!(extra_listed["weight"], 3);
    assert_eq!(extra_listed["state"], "active");
    assert!(
        extra_listed["table"]["capacity_bytes"].is_u64(),
        "{extra_listed}"
    );

    // Drain: the entry says so, and the balancer stops placing keys there.
    for _ in 0..2 {
        let reply = admin
            .send(Method::POST, "/admin/nodes/extra/drain", "")
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        assert_eq!(reply.json()["state"], "draining");
    }
    assert_eq!(
        zk_entry(&client, "extra").await.unwrap()["state"],
        "draining"
    );
    wait_until("the balancer shows the node draining", 10, async || {
        node_state(&http, &b, &extra.addr()).await.as_deref() == Some("draining")
    })
    .await;
    let reply = admin
        .send(Method::POST, "/admin/nodes/nope/drain", "")
        .await;
    refused(&reply, 404, "node_not_found");

    // Only a removed node's entry is deleted.
    let message = refused(
        &admin.send(Method::DELETE, "/admin/nodes/extra", "").await,
        409,
        "node_not_drained",
    );
    assert!(message.contains("force"), "{message}");
    assert_eq!(
        zk_entry(&client, "extra").await.unwrap()["state"],
        "draining"
    );
    // The rebalancer marks a drained node removed; here, by hand.
    let path = paths::child(paths::NODES, "extra");
    let removed = NodeEntry {
        state: NodeEntry::REMOVED.into(),
        ..NodeEntry::active(extra.addr(), 3)
    };
    client
        .set_data(&path, &serde_json::to_vec(&removed).unwrap(), None)
        .await
        .unwrap();
    let reply = admin
        .send(Method::POST, "/admin/nodes/extra/drain", "")
        .await;
    refused(&reply, 409, "node_removed");
    assert_eq!(
        zk_entry(&client, "extra").await.unwrap()["state"],
        "removed"
    );
    wait_until("the balancer sees the node emptied", 10, async || {
        nodes_view(&http, &b).await["emptied_nodes"] == json!(["extra"])
    })
    .await;
    let reply = admin.send(Method::DELETE, "/admin/nodes/extra", "").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(zk_entry(&client, "extra").await, None);
    // Emptied, it leaves the table with its entry: nothing waits for it.
    wait_until(
        "the deleted node leaves the balancer's table",
        10,
        async || node_state(&http, &b, &extra.addr()).await.is_none(),
    )
    .await;
    let reply = admin.send(Method::DELETE, "/admin/nodes/extra", "").await;
    refused(&reply, 404, "node_not_found");

    // A dead node: forced, it drains with the order to delete it after.
    let dead = cluster.nodes[1].addr();
    for _ in 0..2 {
        let reply = admin
            .send(
                Method::DELETE,
                &format!("/admin/nodes/{dead}?force=true"),
                "",
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        assert_eq!(reply.json()["delete_when_drained"], true);
    }
    assert_eq!(
        zk_entry(&client, &dead).await.unwrap(),
        json!({"addr": dead, "weight": 1, "state": "draining", "delete_when_drained": true})
    );
    wait_until(
        "the balancer shows the dead node draining",
        10,
        async || node_state(&http, &b, &dead).await.as_deref() == Some("draining"),
    )
    .await;

    // Drains and forced deletes racing on one entry: each is decided on the
    // entry it read and written at that version, so no drain decided on
    // the active entry overwrites a forced delete's order.
    let racing = cluster.nodes[0].addr();
    let drain = format!("/admin/nodes/{racing}/drain");
    let force = format!("/admin/nodes/{racing}?force=true");
    let replies = futures_util::future::join_all((0..16).map(|i| {
        let (method, path) = match i % 2 {
            0 => (Method::POST, &drain),
            _ => (Method::DELETE, &force),
        };
        admin.send(method, path, "")
    }))
    .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    }
    assert_eq!(
        zk_entry(&client, &racing).await.unwrap(),
        json!({"addr": racing, "weight": 1, "state": "draining", "delete_when_drained": true})
    );

    let reply = admin
        .send(
            Method::DELETE,
            &format!("/admin/nodes/{dead}?force=maybe"),
            "",
        )
        .await;
    refused(&reply, 400, "invalid_force");
    let reply = admin.send(Method::DELETE, "/admin/nodes/a%2Fb", "").await;
    refused(&reply, 400, "invalid_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rebalancer_is_paused_and_started_and_bad_input_changes_nothing() {
    let mut zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb"]);
    let mut config = config(&cluster, Some(&zk), Some(TOKEN));
    config.timeouts.request = Duration::from_millis(1500);
    let b = TestBalancer::start(config).await;
    let admin = Admin::of(&b);
    let client = zk_client(&zk).await;
    wait_until("the balancer leads", 10, async || {
        let status = admin.send(Method::GET, "/admin/rebalance", "").await;
        status.status == StatusCode::OK && status.json()["leader_id"] == "b1"
    })
    .await;
    let status = admin.send(Method::GET, "/admin/rebalance", "").await.json();
    assert_eq!(status["paused"], false, "{status}");
    assert!(status["targets"].is_array(), "{status}");

    let control = async || -> RebalanceControl {
        let (data, _) = client.get_data(paths::REBALANCE).await.unwrap();
        serde_json::from_slice(&data).unwrap()
    };
    let reply = admin
        .send(Method::POST, "/admin/rebalance", r#"{"action": "pause"}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({"paused": true}));
    assert!(control().await.paused);
    let status = admin.send(Method::GET, "/admin/rebalance", "").await.json();
    assert_eq!(status["paused"], true, "{status}");
    let reply = admin
        .send(Method::POST, "/admin/rebalance", r#"{"action": "start"}"#)
        .await;
    assert_eq!(reply.json(), json!({"paused": false}));
    assert!(!control().await.paused);

    // Refused before ZooKeeper is asked: the control stays started.
    for (body, code, field) in [
        (r#"{"action": "stop"}"#, "invalid_field", "action"),
        (r#"{}"#, "missing_field", "action"),
        (
            r#"{"action": "pause", "force": 1}"#,
            "unknown_field",
            "force",
        ),
        ("pause", "invalid_json", "action"),
    ] {
        let reply = admin.send(Method::POST, "/admin/rebalance", body).await;
        let message = refused(&reply, 400, code);
        assert!(message.contains(field), "{body}: {message}");
    }
    let text = [
        ("authorization", &*format!("Bearer {TOKEN}")),
        ("content-type", "text/plain"),
    ];
    let reply = admin
        .send_as(
            &text,
            Method::POST,
            "/admin/rebalance",
            r#"{"action": "pause"}"#,
        )
        .await;
    refused(&reply, 415, "unsupported_media_type");
    assert!(!control().await.paused);

    for (body, code, field) in [
        (
            r#"{"id": "a/b", "addr": "h:1", "weight": 1}"#,
            "invalid_field",
            "\"id\"",
        ),
        (
            r#"{"id": "n", "addr": "nope", "weight": 1}"#,
            "invalid_field",
            "\"addr\"",
        ),
        (
            r#"{"id": "n", "addr": "h:1", "weight": 0}"#,
            "invalid_field",
            "\"weight\"",
        ),
        (
            r#"{"id": "n", "addr": "h:1"}"#,
            "missing_field",
            "\"weight\"",
        ),
        (
            r#"{"id": "n", "addr": "h:1", "weight": 1, "x": 1}"#,
            "unknown_field",
            "\"x\"",
        ),
    ] {
        let reply = admin.send(Method::POST, "/admin/nodes", body).await;
        let message = refused(&reply, 400, code);
        assert!(message.contains(field), "{body}: {message}");
    }
    let reply = admin
        .send_as(
            &text,
            Method::POST,
            "/admin/nodes",
            r#"{"id": "n", "addr": "h:1", "weight": 1}"#,
        )
        .await;
    refused(&reply, 415, "unsupported_media_type");
    let listed = client.list_children(paths::NODES).await.unwrap();
    assert!(listed.is_empty(), "nothing was added: {listed:?}");

    // ZooKeeper gone: a clear 503 within the request deadline.
    zk.stop();
    for (method, path, body) in [
        (Method::POST, "/admin/rebalance", r#"{"action": "pause"}"#),
        (Method::GET, "/admin/nodes", ""),
    ] {
        let began = Instant::now();
        let reply = admin.send(method, path, body).await;
        let message = refused(&reply, 503, "zookeeper_unavailable");
        assert!(message.contains("ZooKeeper"), "{message}");
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{:?}",
            began.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_zookeeper_auth_what_the_admin_api_creates_is_for_that_identity_only() {
    const AUTH: &str = "dlb:zk-s3cret";
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb"]);
    let mut config = config(&cluster, Some(&zk), Some(TOKEN));
    config.zookeeper_auth = Some(Secret::new(AUTH));
    let b = TestBalancer::start(config).await;
    let admin = Admin::of(&b);
    wait_until("the balancer's session is open", 10, async || {
        admin.send(Method::GET, "/admin/nodes", "").await.status == StatusCode::OK
    })
    .await;
    let body = json!({"id": "n9", "addr": cluster.nodes[0].addr(), "weight": 1}).to_string();
    let reply = admin.send(Method::POST, "/admin/nodes", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = admin
        .send(Method::POST, "/admin/rebalance", r#"{"action": "pause"}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let owner = connect(&ZkConfig::new(&zk.addr(), SESSION_MS).with_auth(AUTH))
        .await
        .unwrap();
    let anyone = zk_client(&zk).await;
    for path in [
        paths::child(paths::NODES, "n9"),
        paths::REBALANCE.to_string(),
    ] {
        let (acls, _) = owner.get_acl(&path).await.unwrap();
        assert_eq!(acls.len(), 1, "{path}: {acls:?}");
        assert_eq!(acls[0].scheme(), "digest", "{path}: {acls:?}");
        assert!(acls[0].id().starts_with("dlb:"), "{path}: {acls:?}");
        assert_eq!(
            anyone.get_data(&path).await.map(drop),
            Err(coordination::Error::NoAuth),
            "{path} is readable without the credentials"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_pinned_to_a_version_is_not_made_once_the_entry_changed() {
    let zk = ZooKeeperServer::start();
    let client = zk_client(&zk).await;
    let draining = NodeEntry {
        state: NodeEntry::DRAINING.into(),
        ..NodeEntry::active("127.0.0.1:1", 1)
    };
    admin::add_node(&client, "n", &draining, Acls::anyone_all())
        .await
        .unwrap();
    // The rebalancer reads the version, then checks the node is empty;
    // meanwhile the node is activated (it may take keys) and drained again.
    let (_, checked) = admin::read_node(&client, "n").await.unwrap();
    admin::change_node(&client, "n", Change::Activate)
        .await
        .unwrap();
    admin::change_node(&client, "n", Change::Drain)
        .await
        .unwrap();
    let marked = admin::change_node_at(&client, "n", Change::Drained, checked).await;
    assert_eq!(marked.unwrap(), None);
    assert_eq!(zk_entry(&client, "n").await.unwrap()["state"], "draining");

    let (_, now) = admin::read_node(&client, "n").await.unwrap();
    let marked = admin::change_node_at(&client, "n", Change::Drained, now).await;
    let Some(Outcome::Entry(entry)) = marked.unwrap() else {
        panic!("a drained node at the version read is marked");
    };
    assert_eq!(entry.state, NodeEntry::REMOVED);
    assert_eq!(zk_entry(&client, "n").await.unwrap()["state"], "removed");
}
