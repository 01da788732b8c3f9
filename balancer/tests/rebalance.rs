//! The leader's rebalancer with real servers: fenced writes refuse a lower
//! token, a draining node is emptied while clients write, and no
//! acknowledged write is lost or read back older on the way.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use balancer::backend::BackendError;
use balancer::config::Config;
use balancer::index::{IndexError, Swap};
use balancer::values::{self, Version};
use coordination::journal::{self, JournalError, Moving};
use coordination::paths::{self, NodeEntry};
use coordination::{Acls, Client};
use hyper::StatusCode;
use serde_json::json;
use test_support::listing::{list_nodes, set_state};
use test_support::{
    Cluster, HttpClient, RedisServer, TestBalancer, WrittenKey, ZooKeeperServer, wait_until,
    write_keys,
};

const SESSION_MS: u64 = 2000;

fn fenced(e: &BackendError) -> bool {
    matches!(e, BackendError::Fenced { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_writes_refuse_a_token_lower_than_one_taken() {
    let cluster = Cluster::start(&["64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &b, "fence", 1).await;
    let key = &written[0].key;
    let set = cluster.replica_set(key).await;
    let index = &b.app.index;

    // The index: token 7 is taken, then 6 is refused and changes nothing.
    let swap = index.swap_members_fenced(key, &set, &[], &[], 7).await;
    assert_eq!(swap.unwrap(), Swap::Done(set.clone()));
    let stale = index
        .swap_members_fenced(key, &set, &[&set[1]], &[], 6)
        .await;
    assert!(
        matches!(&stale, Err(IndexError::Failed(e)) if fenced(e)),
        "{stale:?}"
    );
    assert_eq!(
        cluster.replica_set(key).await,
        set,
        "a refused swap changes nothing"
    );
    let same = index.swap_members_fenced(key, &set, &[], &[], 7).await;
    assert!(
        same.is_ok(),
        "the holder of the highest token goes on: {same:?}"
    );

    // A data node: a copy under token 9, then a drop under 8 is refused.
    let table = b.app.nodes.current();
    let node = &table.by_id(&set[0]).unwrap().backend;
    let held = values::read(node, key).await.unwrap().unwrap();
    let newer = Version {
        json: Some(b"\"moved\"".to_vec()),
        timestamp: format!("{}z", held.timestamp),
        ttl_ms: None,
    };
    let applied = values::apply_fenced(node, key, &newer, 1000, 9)
        .await
        .unwrap();
    assert!(applied.applied);
    let dropped = values::drop_if_at_fenced(node, key, &newer.timestamp, 8).await;
    assert!(matches!(&dropped, Err(e) if fenced(e)), "{dropped:?}");
    assert_eq!(values::read(node, key).await.unwrap(), Some(newer.clone()));
    // The fence is the node's own: the other node has seen no token.
    let other = &table.by_id(&set[1]).unwrap().backend;
    assert!(
        values::drop_if_at_fenced(other, key, "none", 1)
            .await
            .is_ok()
    );
    // Unfenced writes (the request path's) do not look at the fence.
    assert!(
        values::drop_if_at(node, key, &newer.timestamp)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_refuses_a_leader_once_a_later_one_claimed_it() {
    let zk = ZooKeeperServer::start();
    let client = zk.client(SESSION_MS).await;
    let acls = Acls::anyone_all();
    let moving = |key: &str| {
        vec![Moving {
            key: key.into(),
            from: "127.0.0.1:1".into(),
        }]
    };
    let early = journal::claim(&client, 5, acls).await.unwrap();
    let path = journal::record(&client, early, moving("a"), acls)
        .await
        .unwrap();
    let late = journal::claim(&client, 9, acls).await.unwrap();

    let refused = journal::record(&client, early, moving("b"), acls).await;
    assert!(matches!(refused, Err(JournalError::Fenced)), "{refused:?}");
    let refused = journal::clear(&client, early, &path).await;
    assert!(matches!(refused, Err(JournalError::Fenced)), "{refused:?}");
    let refused = journal::claim(&client, 5, acls).await;
    assert!(matches!(refused, Err(JournalError::Fenced)), "{refused:?}");
    let entries = journal::entries(&client).await.unwrap();
    assert_eq!(
        entries.len(),
        1,
        "the earlier leader's batch is left to resume"
    );
    assert_eq!(entries[0].1.as_ref().unwrap().keys, moving("a"));

    assert_eq!(journal::claim(&client, 9, acls).await.unwrap(), late);
    journal::clear(&client, late, &path).await.unwrap();
    assert!(journal::entries(&client).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_hands_off_the_old_copies_its_predecessor_left() {
    // Two listed nodes hold every key, one copy each; a third is added.
    // The leader stops a moment after its first keys were narrowed onto
    // the new node, inside the wait before their old copies go: the next
    // leader finds them in the journal and drops them.
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let client = zk.client(SESSION_MS).await;
    let (old, added) = (&cluster.nodes[..2], &cluster.nodes[2]);
    list_nodes(&client, &old.iter().collect::<Vec<_>>()).await;
    let mut first = leader_config(&cluster, &zk);
    first.replication.factor = std::num::NonZeroUsize::MIN;
    first.nodes.truncate(2);
    first.timeouts.request = Duration::from_millis(3000);
    let mut second = first.clone();
    second.id = Some("second".into());
    let first = start_leader(first).await;
    let second = TestBalancer::start(second).await;
    let http = HttpClient::new();
    let written =
        test_support::write_keys_with(&http, &first, "orphan", 300, |_| "x".repeat(4096)).await;

    set_state(&client, added, NodeEntry::ACTIVE).await;
    wait_until("a key is narrowed onto the added node", 30, async || {
        let sets = cluster.replica_sets(keys(&written)).await;
        sets.iter().any(|set| *set == [added.addr()])
    })
    .await;
    first.shutdown().await;
    assert!(
        outside_copies(&cluster, &written).await > 0,
        "the first leader stopped before handing off"
    );
    wait_until(
        "the second leads and only the members of each set hold a copy",
        40,
        async || {
            second.app.coordinator.view().is_leader
                && outside_copies(&cluster, &written).await == 0
                && journal::entries(&client).await.unwrap().is_empty()
        },
    )
    .await;
    assert_read_back(&http, &second, &written).await;
}

/// Copies of `keys` held by a node their set does not name.
async fn outside_copies(cluster: &Cluster, written: &[WrittenKey]) -> usize {
    let sets = cluster.replica_sets(keys(written)).await;
    let mut outside = 0;
    for node in &cluster.nodes {
        let held = node.held_each(keys(written)).await;
        outside += (sets.iter().zip(&held))
            .filter(|(set, held)| !set.contains(&node.addr()) && **held != (None, None))
            .count();
    }
    outside
}

/// The keys of `written`, in order.
fn keys(written: &[WrittenKey]) -> impl Iterator<Item = &str> {
    written.iter().map(|w| w.key.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_hand_off_never_brings_back_a_value_the_set_no_longer_holds() {
    // An earlier leader journaled a key leaving node `old`; the key's set
    // is `member`, whose newer version has since gone (expired, say: here
    // deleted around the balancer), while `old` still holds an older one.
    // The next leader does not know what was settled: it drops the old
    // copy and does not carry it onto a member that holds nothing.
    let (zk, cluster, client) = listed_cluster().await;
    let mut config = leader_config(&cluster, &zk);
    config.replication.factor = std::num::NonZeroUsize::MIN;
    let first = start_leader(config.clone()).await;
    let http = HttpClient::new();
    let key = write_keys(&http, &first, "taken", 1).await[0].key.clone();
    let set = cluster.replica_set(&key).await;
    let member = cluster.nodes.iter().find(|n| n.addr() == set[0]).unwrap();
    let old = cluster.nodes.iter().find(|n| n.addr() != set[0]).unwrap();
    let (_, t) = member.held(&key).await;
    let older: String = (t.unwrap().chars())
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect();
    let mut conn = old.connection().await;
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("v")
        .arg("\"older\"")
        .arg("t")
        .arg(&older)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut conn = member.connection().await;
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let token = first.app.coordinator.view().leader_token.unwrap();
    first.shutdown().await;
    let claimed = journal::claim(&client, token, Acls::anyone_all())
        .await
        .unwrap();
    let moving = vec![Moving {
        key: key.clone(),
        from: old.addr(),
    }];
    journal::record(&client, claimed, moving, Acls::anyone_all())
        .await
        .unwrap();

    config.id = Some("second".into());
    let second = start_leader(config).await;
    wait_until(
        "the old copy is dropped and the journal cleared",
        20,
        async || {
            old.held(&key).await == (None, None)
                && journal::entries(&client).await.unwrap().is_empty()
        },
    )
    .await;
    assert_eq!(member.held(&key).await, (None, None), "nothing carried");
    let r = http
        .get(&format!("{}/cache/{}", second.url, key))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_after_an_index_outage_moves_the_keys_written_during_it() {
    // Keys written while the index Redis hung went through the hashing
    // fallback; once it is back, they are adopted with wide sets. A drain
    // then moves every one of them off the node, and ends.
    let (zk, cluster, client) = listed_cluster().await;
    let b = start_leader(leader_config(&cluster, &zk)).await;
    let http = HttpClient::new();
    let mut written = write_keys(&http, &b, "before", 100).await;
    cluster.index.pause();
    for i in 0..30 {
        let key = format!("during-{i}");
        let value = format!("value of {key}");
        let r = http
            .post_json(
                &format!("{}/cache", b.url),
                &json!({"key": key, "value": value}),
            )
            .await
            .unwrap();
        if r.status.is_success() {
            let node = r.node().unwrap_or_default();
            written.push(WrittenKey { key, value, node });
        }
    }
    cluster.index.resume();
    assert!(written.len() > 100, "some writes went through the fallback");
    wait_until("the index is complete again", 30, async || {
        b.app.index.is_complete()
    })
    .await;
    let leaving = &cluster.nodes[0];
    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until("the node is drained and removed", 60, async || {
        entry_state(&client, leaving).await.as_deref() == Some(NodeEntry::REMOVED)
    })
    .await;
    assert_eq!(entries_naming(&cluster, &written, &leaving.addr()).await, 0);
    assert_eq!(hashes_on(leaving).await, 0);
    assert_read_back(&http, &b, &written).await;
}

/// The state of `node`'s entry in ZooKeeper; `None` when it has none.
async fn entry_state(client: &Client, node: &RedisServer) -> Option<String> {
    let path = paths::child(paths::NODES, &node.addr());
    match client.get_data(&path).await {
        Ok((data, _)) => Some(serde_json::from_slice::<NodeEntry>(&data).unwrap().state),
        Err(coordination::Error::NoNode) => None,
        Err(e) => panic!("read {path}: {e}"),
    }
}

/// A leader over `cluster`, moving keys quickly: a short request deadline
/// (the wait before a widened set is settled) and a short interval.
fn leader_config(cluster: &Cluster, zk: &ZooKeeperServer) -> Config {
    let mut config = cluster.config();
    config.zookeeper = Some(zk.addr());
    config.zookeeper_session = Duration::from_millis(SESSION_MS);
    config.id = Some("leader".into());
    config.timeouts.request = Duration::from_millis(1000);
    config.rebalance.interval = Duration::from_millis(200);
    config.rebalance.batch_keys = 50;
    config
}

/// ZooKeeper, three 64 MB nodes listed in it as `active`, and a client.
async fn listed_cluster() -> (ZooKeeperServer, Cluster, Client) {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let client = zk.client(SESSION_MS).await;
    list_nodes(&client, &cluster.nodes.iter().collect::<Vec<_>>()).await;
    (zk, cluster, client)
}

/// Pauses or starts the rebalancer through ZooKeeper, as the admin API
/// does, and waits until balancer `b` has read it.
async fn set_paused(client: &Client, b: &TestBalancer, paused: bool) {
    let control = paths::RebalanceControl { paused };
    coordination::admin::write_control(client, &control, Acls::anyone_all())
        .await
        .expect("the control is written");
    wait_until("the balancer reads the control", 10, async || {
        b.app.coordinator.rebalance_paused() == paused
    })
    .await;
}

/// Starts a balancer with `config` and waits until it leads.
async fn start_leader(config: Config) -> TestBalancer {
    let b = TestBalancer::start(config).await;
    wait_until("this balancer leads", 10, async || {
        b.app.coordinator.view().is_leader
    })
    .await;
    b
}

/// Hashes `node` holds (its fence key is a string, not counted).
async fn hashes_on(node: &RedisServer) -> usize {
    let mut conn = node.connection().await;
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(100_000)
        .arg("TYPE")
        .arg("hash")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.len()
}

/// Reads every key of `written` through `b`: each its written value.
async fn assert_read_back(http: &HttpClient, b: &TestBalancer, written: &[WrittenKey]) {
    for w in written {
        let r = http
            .get(&format!("{}/cache/{}", b.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.json()["value"], *w.value, "{}", w.key);
    }
}

/// The node the most entries of `written` name: placement goes by memory,
/// so a fixed node may hold none of a few keys, and draining it moves
/// nothing.
async fn most_named<'c>(cluster: &'c Cluster, written: &[WrittenKey]) -> &'c RedisServer {
    let sets = cluster.replica_sets(keys(written)).await;
    (cluster.nodes.iter())
        .max_by_key(|node| sets.iter().filter(|set| set.contains(&node.addr())).count())
        .expect("a node")
}

/// Index entries naming `id`.
async fn entries_naming(cluster: &Cluster, written: &[WrittenKey], id: &str) -> usize {
    let sets = cluster.replica_sets(keys(written)).await;
    sets.iter()
        .filter(|set| set.iter().any(|n| n == id))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_is_emptied_while_clients_write_and_every_write_is_kept() {
    let (zk, cluster, client) = listed_cluster().await;
    let b = Arc::new(start_leader(leader_config(&cluster, &zk)).await);
    let http = HttpClient::new();
    let written = write_keys(&http, &b, "drain", 300).await;
    let leaving = &cluster.nodes[2];
    assert!(entries_naming(&cluster, &written, &leaving.addr()).await > 0);

    // Clients overwrite the keys the whole time; each acknowledged value is
    // the one a read must return from then on.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (b, stop, keys) = (b.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let http = HttpClient::new();
            let mut acked: HashMap<String, String> = HashMap::new();
            let mut failed = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                for w in keys.iter().step_by(7) {
                    let value = format!("{} round {round}", w.key);
                    let url = format!("{}/cache", b.url);
                    let r = http
                        .post_json(&url, &json!({"key": w.key, "value": value}))
                        .await;
                    match r {
                        Ok(r) if r.status == StatusCode::OK => {
                            acked.insert(w.key.clone(), value);
                        }
                        other => failed.push(format!("POST {}: {other:?}", w.key)),
                    }
                    let r = http.get(&format!("{}/cache/{}", b.url, w.key)).await;
                    let want = acked.get(&w.key).unwrap_or(&w.value);
                    match r {
                        Ok(r) if r.status == StatusCode::OK && r.json()["value"] == **want => {}
                        other => failed.push(format!("GET {} wanted {want}: {other:?}", w.key)),
                    }
                }
            }
            (acked, failed)
        })
    };

    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until(
        "no entry names the draining node and it holds nothing",
        60,
        async || {
            entries_naming(&cluster, &written, &leaving.addr()).await == 0
                && hashes_on(leaving).await == 0
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = load.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(!acked.is_empty());

    let moved = b.app.metrics.render();
    assert!(
        moved.contains("dlb_migrations_total{outcome=\"moved\"}"),
        "{moved}"
    );
    wait_until("the drained node is marked removed", 20, async || {
        entry_state(&client, leaving).await.as_deref() == Some(NodeEntry::REMOVED)
    })
    .await;
    for w in &written {
        let want = acked.get(&w.key).unwrap_or(&w.value);
        let r = http
            .get(&format!("{}/cache/{}", b.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", w.key);
        assert_eq!(r.json()["value"], **want, "{}", w.key);
        assert_eq!(
            cluster.replica_set(&w.key).await.len(),
            2,
            "{}: R copies",
            w.key
        );
    }
}

/// Memory used by each node, as `/nodes` shows the last samples.
async fn used_by_node(http: &HttpClient, b: &TestBalancer) -> Vec<(String, u64)> {
    test_support::node_entries(http, b)
        .await
        .iter()
        .filter_map(|n| {
            Some((
                n["id"].as_str()?.to_string(),
                n["used_memory_bytes"].as_u64()?,
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_added_to_a_loaded_cluster_draws_its_share() {
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let client = zk.client(SESSION_MS).await;
    let (old, added) = (&cluster.nodes[..2], &cluster.nodes[2]);
    list_nodes(&client, &old.iter().collect::<Vec<_>>()).await;
    let mut config = leader_config(&cluster, &zk);
    config.replication.factor = std::num::NonZeroUsize::MIN;
    config.nodes.truncate(2);
    let b = start_leader(config).await;
    let http = HttpClient::new();
    let written = test_support::write_keys_with(&http, &b, "grow", 600, |_| "x".repeat(4096)).await;
    assert!(written.iter().all(|w| w.node != added.addr()));

    set_state(&client, added, NodeEntry::ACTIVE).await;
    wait_until(
        "the added node holds keys and max/mean is at most 1.05",
        60,
        async || {
            let used = used_by_node(&http, &b).await;
            let mean = used.iter().map(|(_, u)| *u as f64).sum::<f64>() / used.len() as f64;
            let max = used.iter().map(|(_, u)| *u as f64).fold(0.0, f64::max);
            used.len() == 3 && max / mean <= 1.05
        },
    )
    .await;
    assert_read_back(&http, &b, &written).await;
    assert!(entries_naming(&cluster, &written, &added.addr()).await > 0);
}

/// The keys whose replica set has two members on one host, with the set.
async fn sharing_a_host(cluster: &Cluster, written: &[WrittenKey]) -> Vec<(String, Vec<String>)> {
    let sets = cluster.replica_sets(keys(written)).await;
    let mut sharing = Vec::new();
    for (w, set) in written.iter().zip(sets) {
        let mut hosts: Vec<&str> = (set.iter())
            .filter_map(|id| id.rsplit_once(':'))
            .map(|(h, _)| h)
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        if hosts.len() < set.len() {
            sharing.push((w.key.clone(), set));
        }
    }
    sharing
}

/// Keys of `keys` whose set is wider than `factor`: a move under way.
async fn wide_sets(cluster: &Cluster, written: &[WrittenKey], factor: usize) -> usize {
    let sets = cluster.replica_sets(keys(written)).await;
    sets.iter().filter(|set| set.len() > factor).count()
}

/// Panics when the replica set of a key has two members on one host.
async fn assert_spread(cluster: &Cluster, keys: &[WrittenKey]) {
    // A set of three is a move under way (R = 2 here): it names both the
    // leaving and the joining node by design, until it is narrowed.
    let mut sharing = sharing_a_host(cluster, keys).await;
    sharing.retain(|(_, set)| set.len() <= 2);
    let some = &sharing[..sharing.len().min(3)];
    assert!(
        sharing.is_empty(),
        "{} keys have two copies on one host: {some:?}",
        sharing.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_keeps_a_key_s_copies_on_distinct_hosts() {
    // Two nodes on host .1 and two on host .2 hold one copy of each key
    // per host. A node added on host .2 may take keys from host .2's nodes
    // only: a key from host .1 moved there would have both copies on .2.
    let zk = ZooKeeperServer::start();
    let (one, two) = ("127.0.0.1", "127.0.0.2");
    let cluster = Cluster::on_hosts(&[
        (one, "64mb"),
        (one, "64mb"),
        (two, "64mb"),
        (two, "64mb"),
        (two, "64mb"),
    ]);
    let client = zk.client(SESSION_MS).await;
    let (old, added) = (&cluster.nodes[..4], &cluster.nodes[4]);
    list_nodes(&client, &old.iter().collect::<Vec<_>>()).await;
    let mut config = leader_config(&cluster, &zk);
    config.nodes.truncate(4);
    let b = start_leader(config).await;
    let http = HttpClient::new();
    let written =
        test_support::write_keys_with(&http, &b, "spread", 600, |_| "x".repeat(4096)).await;
    assert_spread(&cluster, &written).await;

    set_state(&client, added, NodeEntry::ACTIVE).await;
    let (mut held, mut since) = (0, tokio::time::Instant::now());
    wait_until(
        "the added node holds keys and has drawn none for 3 s, no move under way",
        90,
        async || {
            let now = hashes_on(added).await;
            let moving = wide_sets(&cluster, &written, 2).await > 0;
            if now != held || moving {
                since = tokio::time::Instant::now();
            }
            held = now;
            held > 0 && since.elapsed() >= Duration::from_secs(3)
        },
    )
    .await;
    assert_spread(&cluster, &written).await;
    assert_read_back(&http, &b, &written).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_on_one_host_is_spread_once_another_host_takes_keys() {
    // Keys written while only host .2 took them have both copies there;
    // once host .1's node is listed, each set moves a copy onto it, and
    // no move takes one back (host .1's node then holds a copy of every
    // key and sheds nothing: its keys could only go beside their others).
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::on_hosts(&[
        ("127.0.0.1", "64mb"),
        ("127.0.0.2", "64mb"),
        ("127.0.0.2", "64mb"),
    ]);
    let client = zk.client(SESSION_MS).await;
    let (alone, host_two) = (&cluster.nodes[0], &cluster.nodes[1..]);
    list_nodes(&client, &host_two.iter().collect::<Vec<_>>()).await;
    let mut config = leader_config(&cluster, &zk);
    config.nodes.remove(0);
    let b = start_leader(config).await;
    let http = HttpClient::new();
    // 4 KiB values: the plan alone moves about half the keys.
    let written =
        test_support::write_keys_with(&http, &b, "one-host", 100, |_| "x".repeat(4096)).await;
    assert_eq!(entries_naming(&cluster, &written, &alone.addr()).await, 0);

    set_state(&client, alone, NodeEntry::ACTIVE).await;
    wait_until("every set is spread over both hosts", 60, async || {
        entries_naming(&cluster, &written, &alone.addr()).await == written.len()
            && sharing_a_host(&cluster, &written).await.is_empty()
    })
    .await;
    let moved = || {
        b.app
            .metrics
            .moves
            .migrations
            .with_label_values(&["moved"])
            .get()
    };
    let settled = moved();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        moved(),
        settled,
        "keys kept moving after the sets were spread"
    );
    assert_read_back(&http, &b, &written).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_placed_while_a_host_was_away_are_spread_when_it_is_back() {
    // Host .1's node hangs: keys written meanwhile have both copies on
    // host .2. Its entry stays active throughout; its return (up again)
    // is what owes the spread walk. The rebalancer is paused while the
    // host is away, so no pass sees the domains change: a node back
    // within one pass interval must still owe the walk.
    let zk = ZooKeeperServer::start();
    let cluster = Cluster::on_hosts(&[
        ("127.0.0.1", "64mb"),
        ("127.0.0.2", "64mb"),
        ("127.0.0.2", "64mb"),
    ]);
    let client = zk.client(SESSION_MS).await;
    list_nodes(&client, &cluster.nodes.iter().collect::<Vec<_>>()).await;
    let b = start_leader(leader_config(&cluster, &zk)).await;
    let http = HttpClient::new();
    // Passes walk only a complete index: let the first spread walk (of
    // an empty index) be paid before the host goes.
    wait_until("the index is complete", 10, async || {
        b.app.index.is_complete()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    set_paused(&client, &b, true).await;
    let away = &cluster.nodes[0];
    away.pause();
    wait_until("the hung node is down", 15, async || {
        test_support::node_state(&http, &b, &away.addr())
            .await
            .as_deref()
            == Some("down")
    })
    .await;
    let written = test_support::write_keys_with(&http, &b, "away", 100, |_| "x".repeat(4096)).await;
    assert_eq!(entries_naming(&cluster, &written, &away.addr()).await, 0);

    away.resume();
    wait_until("the node is up again", 15, async || {
        test_support::node_state(&http, &b, &away.addr())
            .await
            .as_deref()
            == Some("up")
    })
    .await;
    set_paused(&client, &b, false).await;
    let spread = async || {
        entries_naming(&cluster, &written, &away.addr()).await == written.len()
            && sharing_a_host(&cluster, &written).await.is_empty()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !spread().await {
        if tokio::time::Instant::now() > deadline {
            let status = b.app.rebalance.view();
            let nodes = test_support::node_entries(&http, &b).await;
            panic!(
                "not spread after 90 s: {} sets on one host; rebalancer {status:?}; nodes {nodes:?}",
                sharing_a_host(&cluster, &written).await.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_read_back(&http, &b, &written).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_the_leaving_node_takes_during_the_move_is_carried_to_the_new_set() {
    // A write through the hashing fallback reads no index: it lands on
    // whichever nodes hold the key, the leaving one included, even after
    // the move read that node. Here such a version is put on the leaving
    // node by hand while the joining node holds the move up (its writes
    // paused), after the move's read and before its narrowing.
    let (zk, cluster, client) = listed_cluster().await;
    let mut config = leader_config(&cluster, &zk);
    config.timeouts.node = Duration::from_millis(4000);
    let b = start_leader(config).await;
    let http = HttpClient::new();
    let key = &write_keys(&http, &b, "late", 1).await[0].key;
    let set = cluster.replica_set(key).await;
    let by_addr = |addr: &str| cluster.nodes.iter().find(|n| n.addr() == addr).unwrap();
    let leaving = by_addr(&set[0]);
    let joining = (cluster.nodes.iter())
        .find(|n| !set.contains(&n.addr()))
        .unwrap();

    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until("the set is widened to the joining node", 10, async || {
        cluster.replica_set(key).await.contains(&joining.addr())
    })
    .await;
    let mut paused = joining.connection().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("WRITE")
        .query_async(&mut paused)
        .await
        .unwrap();
    // The move reads the members 1.5 s after widening (the request
    // deadline and its margin), then waits on the paused node.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let late = test_support::past_timestamp(0);
    test_support::put_copy(leaving, key, "\"late\"", &late).await;

    wait_until(
        "the leaving node is out of the set and empty",
        15,
        async || {
            !cluster.replica_set(key).await.contains(&leaving.addr())
                && leaving.held(key).await == (None, None)
        },
    )
    .await;
    for addr in cluster.replica_set(key).await {
        assert_eq!(
            by_addr(&addr).held(key).await,
            (Some("\"late\"".into()), Some(late.clone())),
            "{addr} holds the version the leaving node took"
        );
    }
    let r = http.get(&format!("{}/cache/{key}", b.url)).await.unwrap();
    assert_eq!(r.json()["value"], "late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_s_forced_delete_re_replicates_its_keys_then_deletes_its_entry() {
    let zk = ZooKeeperServer::start();
    let mut cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let client = zk.client(SESSION_MS).await;
    list_nodes(&client, &cluster.nodes.iter().collect::<Vec<_>>()).await;
    let mut config = leader_config(&cluster, &zk);
    config.admin_token = Some(balancer::config::Secret::new("t0ken-for-the-test"));
    let b = start_leader(config).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &b, "dead", 100).await;
    let dead = cluster.nodes[0].addr();
    assert!(entries_naming(&cluster, &written, &dead).await > 0);
    cluster.nodes[0].stop();
    wait_until("the dead node is down", 10, async || {
        test_support::node_state(&http, &b, &dead).await.as_deref() == Some("down")
    })
    .await;

    let url = format!("{}/admin/nodes/{dead}?force=true", b.url);
    let auth = [("authorization", "Bearer t0ken-for-the-test")];
    let r = http
        .send_with(hyper::Method::DELETE, &url, &auth, "")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    wait_until(
        "no entry names the dead node and its entry is gone",
        60,
        async || {
            entries_naming(&cluster, &written, &dead).await == 0
                && entry_state(&client, &cluster.nodes[0]).await.is_none()
        },
    )
    .await;
    for w in &written {
        let r = http
            .get(&format!("{}/cache/{}", b.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.json()["value"], *w.value, "{}", w.key);
        assert_eq!(
            cluster.replica_set(&w.key).await.len(),
            2,
            "{}: R copies again",
            w.key
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_balancer_finishes_a_drain_whose_leader_stopped_in_the_middle() {
    let (zk, cluster, client) = listed_cluster().await;
    let mut first = leader_config(&cluster, &zk);
    // One key a step: the drain is still under way when its leader stops.
    first.rebalance.batch_keys = 1;
    first.rebalance.keys_per_sec = 20;
    let mut second = first.clone();
    second.id = Some("second".into());
    let first = TestBalancer::start(first).await;
    wait_until("the first balancer leads", 10, async || {
        first.app.coordinator.view().is_leader
    })
    .await;
    let second = TestBalancer::start(second).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &first, "handover", 60).await;
    let leaving = most_named(&cluster, &written).await;
    let before = entries_naming(&cluster, &written, &leaving.addr()).await;

    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until("the first leader has moved some keys", 20, async || {
        entries_naming(&cluster, &written, &leaving.addr()).await < before
    })
    .await;
    assert!(
        entries_naming(&cluster, &written, &leaving.addr()).await > 0,
        "still under way"
    );
    first.shutdown().await;
    wait_until(
        "the second balancer leads and finishes the drain",
        60,
        async || {
            second.app.coordinator.view().is_leader
                && entry_state(&client, leaving).await.as_deref() == Some(NodeEntry::REMOVED)
        },
    )
    .await;
    assert_eq!(entries_naming(&cluster, &written, &leaving.addr()).await, 0);
    assert_eq!(hashes_on(leaving).await, 0);
    for w in &written {
        let r = http
            .get(&format!("{}/cache/{}", second.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.json()["value"], *w.value, "{}", w.key);
        assert_eq!(cluster.replica_set(&w.key).await.len(), 2, "{}", w.key);
    }
}

/// Every index entry of `keys`, as stored.
async fn entries(cluster: &Cluster, keys: &[WrittenKey]) -> Vec<Option<String>> {
    let mut all = Vec::new();
    for w in keys {
        all.push(cluster.index_entry(&w.key).await);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_in_the_middle_of_a_drain_changes_nothing_when_it_resumes() {
    let (zk, cluster, client) = listed_cluster().await;
    // The first leader is a process, so it can be SIGSTOPped.
    let port = test_support::free_port();
    let nodes: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("{:?}", n.addr()))
        .collect();
    let file = std::env::temp_dir().join(format!("dlb-paused-leader-{port}.toml"));
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:{port}\"\nindex = {:?}\nnodes = [{}]\nzookeeper = {:?}\n\
             zookeeper_session_ms = {SESSION_MS}\nid = \"paused\"\n\
             [timeouts]\nrequest_ms = 1000\n\
             [rebalance]\ninterval_ms = 200\nbatch_keys = 1\nkeys_per_sec = 10\n",
            cluster.index.addr(),
            nodes.join(", "),
            zk.addr(),
        ),
    )
    .unwrap();
    let paused = Process(
        std::process::Command::new(env!("CARGO_BIN_EXE_balancer"))
            .arg("--config")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = HttpClient::new();
    let url = format!("http://127.0.0.1:{port}");
    wait_until("the process leads", 15, async || {
        (http.get(&format!("{url}/nodes")).await)
            .is_ok_and(|r| r.json()["coordination"]["is_leader"] == true)
    })
    .await;
    let mut written = Vec::new();
    for i in 0..40 {
        let (key, value) = (format!("paused-{i}"), format!("value {i}"));
        let r = http
            .post_json(
                &format!("{url}/cache"),
                &json!({"key": key, "value": value}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        written.push(WrittenKey {
            key,
            value,
            node: String::new(),
        });
    }
    let leaving = most_named(&cluster, &written).await;
    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until("the paused-to-be leader widened a set", 20, async || {
        let sets = cluster.replica_sets(keys(&written)).await;
        sets.iter().any(|set| set.len() == 3)
    })
    .await;
    let stop = |signal: &str| {
        let status = std::process::Command::new("kill")
            .args([signal, &paused.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    stop("-STOP");

    let mut config = leader_config(&cluster, &zk);
    config.id = Some("next".into());
    let next = TestBalancer::start(config).await;
    wait_until("the next leader finishes the drain", 60, async || {
        next.app.coordinator.view().is_leader
            && entry_state(&client, leaving).await.as_deref() == Some(NodeEntry::REMOVED)
    })
    .await;
    let before = entries(&cluster, &written).await;
    stop("-CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        entries(&cluster, &written).await,
        before,
        "the resumed leader changed the index"
    );
    assert_eq!(hashes_on(leaving).await, 0);
    for w in &written {
        let r = http
            .get(&format!("{}/cache/{}", next.url, w.key))
            .await
            .unwrap();
        assert_eq!(r.json()["value"], *w.value, "{}", w.key);
        assert_eq!(cluster.replica_set(&w.key).await.len(), 2, "{}", w.key);
    }
    let answer = http.get(&format!("{url}/nodes")).await.unwrap().json();
    assert_eq!(answer["coordination"]["is_leader"], false, "{answer}");
    let _ = std::fs::remove_file(&file);
}

/// A child process, killed when dropped (a failed test included).
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_copy_outlives_the_narrowing_by_a_request_deadline_then_goes() {
    // A write that read the widened set is sent to the leaving node too,
    // and may land there after the set was narrowed: the old copy is
    // handed off only once every such write has landed or never will
    // (the request deadline, 1 s here, and its margin).
    let (zk, cluster, client) = listed_cluster().await;
    let b = start_leader(leader_config(&cluster, &zk)).await;
    let http = HttpClient::new();
    let key = &write_keys(&http, &b, "handoff", 1).await[0].key;
    let set = cluster.replica_set(key).await;
    let leaving = cluster.nodes.iter().find(|n| n.addr() == set[0]).unwrap();
    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until("the set is narrowed", 15, async || {
        let now = cluster.replica_set(key).await;
        now.len() == 2 && !now.contains(&leaving.addr())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        leaving.held(key).await.0.is_some(),
        "the old copy waits a request deadline after the narrowing"
    );
    wait_until("the old copy is handed off", 10, async || {
        leaving.held(key).await == (None, None)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_in_the_middle_of_a_move_stops_at_once_when_asked() {
    // A pass waits a request deadline between steps; scripts/up gives a
    // balancer 5 s after SIGTERM, so a stop must not wait for the pass.
    let (zk, cluster, client) = listed_cluster().await;
    let mut config = leader_config(&cluster, &zk);
    config.timeouts.request = Duration::from_millis(5000);
    let b = start_leader(config).await;
    let http = HttpClient::new();
    let written = write_keys(&http, &b, "stop", 20).await;
    let leaving = most_named(&cluster, &written).await;
    set_state(&client, leaving, NodeEntry::DRAINING).await;
    wait_until(
        "a set is widened: the pass waits out its deadline",
        40,
        async || {
            let sets = cluster.replica_sets(keys(&written)).await;
            sets.iter().any(|set| set.len() == 3)
        },
    )
    .await;
    let asked = tokio::time::Instant::now();
    b.shutdown().await;
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the stop waited {took:?} for the pass"
    );
}
