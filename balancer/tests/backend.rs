//! The shared connection to one Redis server (`backend/wire.rs`), on a
//! real redis-server: concurrent callers each get their own replies over
//! the one socket, also when others gave up waiting for theirs; a
//! restarted server, or a killed connection, is reconnected to; a hung
//! server has its connection dropped once a reply is a time limit late;
//! a server that refuses the connection as it opens is unreachable; and
//! the connection closes when the last handle is dropped.

use std::time::Duration;

use balancer::backend::{Backend, BackendError};
use redis::Script;
use test_support::{RedisServer, wait_until};

const LIMIT: Duration = Duration::from_millis(500);

/// The id the server gives the connection a command arrives on.
async fn client_id(node: &Backend) -> Result<i64, BackendError> {
    node.cmd(redis::cmd("CLIENT").arg("ID")).await
}

/// A write and a read of it: each command gets its own reply.
async fn round_trip(node: &Backend) {
    let _: () = node.cmd(redis::cmd("SET").arg("k").arg("v")).await.unwrap();
    let v: String = node.cmd(redis::cmd("GET").arg("k")).await.unwrap();
    assert_eq!(v, "v");
}

/// A plain connection of the test's own to `server`.
fn watcher(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// How many clients the server has connected besides `watcher`.
fn others(watcher: &mut redis::Connection) -> usize {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(watcher).unwrap();
    list.lines().count() - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_each_get_their_own_replies_on_one_connection() {
    let server = RedisServer::start();
    let node = Backend::new(&server.addr(), LIMIT).unwrap();
    let first = client_id(&node).await.unwrap();

    let calls = (0..500).map(|i| {
        let node = node.clone();
        tokio::spawn(async move {
            let echoed: String = node.cmd(redis::cmd("ECHO").arg(i)).await.unwrap();
            let mut pipe = redis::pipe();
            pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
            pipe.cmd("GET").arg(format!("k{i}"));
            pipe.cmd("HGET").arg("absent").arg("f");
            let (got, absent): (i64, Option<String>) = node.pipe(&pipe).await.unwrap();
            let script = Script::new("return tonumber(ARGV[1]) * 2");
            let doubled: i64 = node.script(script.prepare_invoke().arg(i)).await.unwrap();
            (i, echoed, got, absent, doubled)
        })
    });
    for call in calls {
        let (i, echoed, got, absent, doubled) = call.await.unwrap();
        assert_eq!(
            (echoed, got, absent, doubled),
            (i.to_string(), i, None, i * 2)
        );
    }
    let error = node.cmd::<i64>(redis::cmd("INCR").arg("k1").arg("x")).await;
    assert!(
        matches!(error, Err(BackendError::Reply { ref reason, .. }) if reason.contains("wrong number")),
        "{error:?}"
    );
    assert_eq!(
        client_id(&node).await.unwrap(),
        first,
        "one connection throughout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_reconnected_to() {
    let mut server = RedisServer::start();
    let node = Backend::new(&server.addr(), LIMIT).unwrap();
    client_id(&node).await.unwrap();

    server.stop();
    let down = client_id(&node).await;
    assert!(matches!(down, Err(ref e) if e.is_unreachable()), "{down:?}");
    server.restart();
    wait_until("the node answers again", 10, async || {
        client_id(&node).await.is_ok()
    })
    .await;
    round_trip(&node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_loses_its_connection_and_its_late_replies_reach_no_one() {
    let server = RedisServer::start();
    let node = Backend::new(&server.addr(), LIMIT).unwrap();
    let before = client_id(&node).await.unwrap();

    server.pause();
    let hung = node.cmd::<i64>(redis::cmd("INCR").arg("late")).await;
    assert!(matches!(hung, Err(ref e) if e.is_unreachable()), "{hung:?}");
    // The connection goes once its oldest command is a whole limit late.
    tokio::time::sleep(LIMIT * 2).await;
    server.resume();

    // The connection the INCR went down was dropped, not kept waiting
    // for the paused server's replies.
    let after = client_id(&node).await.unwrap();
    assert_ne!(after, before, "a new connection");
    round_trip(&node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_closes_when_the_last_handle_is_dropped() {
    let server = RedisServer::start();
    let mut watcher = watcher(&server);
    let node = Backend::new(&server.addr(), LIMIT).unwrap();
    let copy = node.clone();
    assert_eq!(others(&mut watcher), 0, "nothing opened before a command");
    client_id(&node).await.unwrap();
    assert_eq!(others(&mut watcher), 1);
    drop(node);
    client_id(&copy).await.unwrap();
    assert_eq!(others(&mut watcher), 1, "the copy shares it");
    drop(copy);
    wait_until("the connection closes", 5, async || {
        others(&mut watcher) == 0
    })
    .await;
}

/// A caller that stops waiting leaves its place in the queue: the reply
/// it would have had is used up, not handed to the next caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_does_not_shift_the_replies_of_the_others() {
    let server = RedisServer::start();
    let node = Backend::new(&server.addr(), LIMIT).unwrap();
    let id = client_id(&node).await.unwrap();

    // BLPOP holds the connection for 300 ms, then answers nil.
    let blocking = redis::cmd("BLPOP").arg("absent").arg(0.3).clone();
    let gave_up = tokio::time::timeout(Duration::from_millis(100), node.cmd::<()>(&blocking)).await;
    assert!(gave_up.is_err(), "still blocked");
    let echoed: String = node.cmd(redis::cmd("ECHO").arg("mine")).await.unwrap();
    assert_eq!(echoed, "mine");
    assert_eq!(client_id(&node).await.unwrap(), id, "the same connection");

    // Many callers, a third of them giving up at once or after a few
    // microseconds: every caller that waits gets its own reply.
    let calls = (0..600u64).map(|i| {
        let node = node.clone();
        tokio::spawn(async move {
            let echo = redis::cmd("ECHO").arg(i).clone();
            if i % 3 == 0 {
                let wait = Duration::from_micros(i % 50);
                let _ = tokio::time::timeout(wait, node.cmd::<String>(&echo)).await;
                return None;
            }
            Some((i, node.cmd::<String>(&echo).await.unwrap()))
        })
    });
    for call in calls {
        if let Some((i, echoed)) = call.await.unwrap() {
            assert_eq!(echoed, i.to_string());
        }
    }
    assert_eq!(client_id(&node).await.unwrap(), id, "the same connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_fails_its_commands_and_is_replaced() {
    let server = RedisServer::start();
    let mut watcher = watcher(&server);
    let node = Backend::new(&server.addr(), LIMIT).unwrap();
    let id = client_id(&node).await.unwrap();

    let blocked = {
        let node = node.clone();
        tokio::spawn(async move {
            let blocking = redis::cmd("BLPOP").arg("absent").arg(0.4).clone();
            node.cmd::<()>(&blocking).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query(&mut watcher)
        .unwrap();
    let failed = blocked.await.unwrap();
    assert!(
        matches!(failed, Err(ref e) if e.is_unreachable()),
        "{failed:?}"
    );
    let again = client_id(&node).await.unwrap();
    assert_ne!(again, id, "a new connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_the_connection_as_it_opens_is_unreachable() {
    let server = RedisServer::start();
    let mut watcher = watcher(&server);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg(1)
        .query(&mut watcher)
        .unwrap();
    let node = Backend::new(&server.addr(), LIMIT).unwrap();
    let refused = client_id(&node).await;
    assert!(
        matches!(refused, Err(BackendError::Unreachable { ref reason, .. }) if reason.contains("max number of clients")),
        "{refused:?}"
    );
    drop(watcher);
    wait_until(
        "the node answers once a client slot is free",
        5,
        async || client_id(&node).await.is_ok(),
    )
    .await;
}
