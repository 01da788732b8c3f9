//! `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` and `PERSIST` on the RESP
//! port, against balancers over real Redis nodes (R = 2): Redis's answers,
//! the change on every replica and the index entry outliving it, and the
//! two things a TTL change must never do: undo a write made after the
//! version it read, or bring back a key deleted or expired meanwhile.

use std::collections::HashMap;
use std::time::Duration;

use balancer::index::entry_key;
use redis::aio::MultiplexedConnection;
use test_support::{Cluster, HttpClient, RedisServer, TestBalancer};

async fn resp(b: &TestBalancer) -> MultiplexedConnection {
    let addr = b
        .app
        .config
        .server
        .resp_listen
        .expect("test balancers serve RESP");
    redis::Client::open(format!("redis://{addr}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the RESP port")
}

async fn int(c: &mut MultiplexedConnection, args: &[&str]) -> i64 {
    let mut command = redis::cmd(args[0]);
    for a in &args[1..] {
        command.arg(*a);
    }
    match command.query_async(c).await {
        Ok(n) => n,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

/// `(PTTL, timestamp)` of `key` on each replica the index names.
async fn on_replicas(cluster: &Cluster, key: &str) -> Vec<(i64, Option<String>)> {
    let by_addr: HashMap<String, &RedisServer> =
        cluster.nodes.iter().map(|n| (n.addr(), n)).collect();
    let mut held = Vec::new();
    for id in cluster.replica_set(key).await {
        let node = by_addr[&id];
        let mut conn = node.connection().await;
        let pttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        held.push((pttl, node.held(key).await.1));
    }
    held
}

async fn entry_pttl(cluster: &Cluster, key: &str) -> i64 {
    let mut conn = cluster.index.connection().await;
    redis::cmd("PTTL")
        .arg(entry_key(key))
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn ttl_changes_answer_as_redis_does_and_reach_every_replica() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let mut c = resp(&b).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut c)
        .await
        .unwrap();

    assert_eq!(int(&mut c, &["EXPIRE", "k", "100"]).await, 1);
    let replicas = on_replicas(&cluster, "k").await;
    assert_eq!(replicas.len(), 2);
    for (pttl, timestamp) in &replicas {
        assert!((90_000..=100_000).contains(pttl), "{replicas:?}");
        assert!(
            timestamp.as_deref().is_some_and(|t| t.contains('!')),
            "{replicas:?}"
        );
    }
    assert_eq!(replicas[0].1, replicas[1].1, "one version on both replicas");
    let entry = entry_pttl(&cluster, "k").await;
    assert_eq!(entry, -1, "an entry with no TTL is left lasting");
    let http = HttpClient::new()
        .get(&format!("{}/cache/k", b.url))
        .await
        .unwrap();
    assert_eq!(http.json()["ttl"], 100, "one key space: {}", http.body);

    assert_eq!(int(&mut c, &["PEXPIRE", "k", "50000", "GT"]).await, 0);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "200", "GT"]).await, 1);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "5", "NX"]).await, 0);
    assert!((190..=200).contains(&int(&mut c, &["TTL", "k"]).await));
    assert_eq!(int(&mut c, &["PERSIST", "k"]).await, 1);
    assert_eq!(int(&mut c, &["TTL", "k"]).await, -1);
    assert!(
        on_replicas(&cluster, "k")
            .await
            .iter()
            .all(|(pttl, _)| *pttl == -1)
    );
    assert_eq!(int(&mut c, &["PERSIST", "k"]).await, 0);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "5", "XX"]).await, 0);
    assert_eq!(int(&mut c, &["EXPIRE", "absent", "5"]).await, 0);

    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    assert_eq!(int(&mut c, &["EXPIREAT", "k", &at.to_string()]).await, 1);
    assert!((298..=300).contains(&int(&mut c, &["TTL", "k"]).await));
    let value: Option<String> = redis::cmd("GET")
        .arg("k")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("v"), "the value is kept");

    // A key with a TTL: its entry is made to outlive a longer one.
    let _: () = (redis::cmd("SET").arg("short").arg("v").arg("EX").arg("10"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(entry_pttl(&cluster, "short").await <= 11_000);
    assert_eq!(int(&mut c, &["EXPIRE", "short", "1000"]).await, 1);
    assert!(entry_pttl(&cluster, "short").await > 1_000_000);
    assert_eq!(int(&mut c, &["PERSIST", "short"]).await, 1);
    assert_eq!(entry_pttl(&cluster, "short").await, -1);

    // An expiry not in the future deletes, as in Redis.
    assert_eq!(int(&mut c, &["EXPIRE", "k", "0"]).await, 1);
    let gone: Option<String> = redis::cmd("GET")
        .arg("k")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(gone, None);
}

#[tokio::test]
async fn a_ttl_change_to_a_deleted_or_expired_key_answers_0_and_writes_nothing() {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let mut c = resp(&b).await;
    let _: () = redis::cmd("SET")
        .arg("d")
        .arg("v")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(int(&mut c, &["DEL", "d"]).await, 1);
    assert_eq!(int(&mut c, &["EXPIRE", "d", "100"]).await, 0);
    assert_eq!(int(&mut c, &["PERSIST", "d"]).await, 0);
    assert_eq!(int(&mut c, &["EXISTS", "d"]).await, 0);

    let _: () = (redis::cmd("SET").arg("e").arg("v").arg("PX").arg("200"))
        .query_async(&mut c)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(int(&mut c, &["EXPIRE", "e", "100"]).await, 0);
    assert_eq!(int(&mut c, &["EXISTS", "e"]).await, 0);
    for node in &cluster.nodes {
        assert_eq!(node.held("e").await.0, None, "no copy came back");
    }
}

/// Writers through one balancer overwrite keys in sequence, each write
/// read back at once, while both balancers change the same keys' TTLs as
/// fast as they can. A change stamped as a fresh write, or applied over
/// whatever a replica holds, would put back the value it read over a
/// write acknowledged after that read; two changes racing must leave the
/// replicas holding one version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_change_never_undoes_a_write_made_after_the_version_it_read() {
    const KEYS: usize = 8;
    const WRITES: usize = 60;
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let writer = TestBalancer::start(cluster.config()).await;
    let changer = TestBalancer::start(cluster.config()).await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut changers = Vec::new();
    for (k, b) in (0..KEYS).flat_map(|k| [(k, &changer), (k, &writer)]) {
        let (mut c, done) = (resp(b).await, done.clone());
        changers.push(tokio::spawn(async move {
            let key = format!("race-{k}");
            let mut changed = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let change: &[&str] = if changed % 2 == 0 {
                    &["EXPIRE", &key, "1000"]
                } else {
                    &["PERSIST", &key]
                };
                changed += int(&mut c, change).await;
            }
            changed
        }));
    }
    let mut writers = Vec::new();
    for k in 0..KEYS {
        let mut c = resp(&writer).await;
        writers.push(tokio::spawn(async move {
            let key = format!("race-{k}");
            for i in 1..=WRITES {
                let _: () = (redis::cmd("SET").arg(&key).arg(i))
                    .query_async(&mut c)
                    .await
                    .unwrap();
                // Time for a change that read the version before this
                // write to land, had it raced it.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let read: String = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                assert_eq!(read, i.to_string(), "{key}: write {i} read back as {read}");
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // Changes of each key's last write, racing one another.
    tokio::time::sleep(Duration::from_millis(300)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut changed = 0;
    for c in changers {
        changed += c.await.unwrap();
    }
    assert!(changed > 0, "no TTL change took effect");

    let by_addr: HashMap<String, &RedisServer> =
        cluster.nodes.iter().map(|n| (n.addr(), n)).collect();
    let mut c = resp(&changer).await;
    for k in 0..KEYS {
        let key = format!("race-{k}");
        let read: String = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(read, WRITES.to_string(), "{key} through the other balancer");
        for id in cluster.replica_set(&key).await {
            let (value, _) = by_addr[&id].held(&key).await;
            assert_eq!(value, Some(format!("\"{WRITES}\"")), "{key} on {id}");
        }
        // The replicas converge on one version: at once, or by the repair
        // a change queues where it passed a replica over.
        let mut held = Vec::new();
        for _ in 0..50 {
            held = on_replicas(&cluster, &key).await;
            let same = |(ttl, t): &(i64, Option<String>)| (*ttl == -1, t.clone());
            if held.windows(2).all(|w| same(&w[0]) == same(&w[1])) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ttls: Vec<bool> = held.iter().map(|(ttl, _)| *ttl == -1).collect();
        let versions: Vec<&Option<String>> = held.iter().map(|(_, t)| t).collect();
        assert!(
            versions.windows(2).all(|w| w[0] == w[1]) && ttls.windows(2).all(|w| w[0] == w[1]),
            "{key}: the replicas hold {held:?}"
        );
    }
}

#[tokio::test]
async fn a_ttl_change_is_refused_while_the_index_cannot_be_asked() {
    let mut cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let b = TestBalancer::start(cluster.config()).await;
    let mut c = resp(&b).await;
    let _: () = (redis::cmd("SET").arg("k").arg("v").arg("EX").arg("100"))
        .query_async(&mut c)
        .await
        .unwrap();
    cluster.index.stop();
    for change in [&["PERSIST", "k"][..], &["EXPIRE", "k", "500"]] {
        let mut command = redis::cmd(change[0]);
        command.arg(&change[1..]);
        let refused: redis::RedisResult<i64> = command.query_async(&mut c).await;
        let err = refused.expect_err("a TTL change without the index");
        assert!(err.to_string().contains("index"), "{change:?}: {err}");
    }
    let ttl = int(&mut c, &["TTL", "k"]).await;
    assert!((90..=100).contains(&ttl), "unchanged: {ttl}");
}
