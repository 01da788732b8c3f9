//! The index entry's scripts on a real redis-server: a changed replica
//! set is recorded only over the set the write used, so two writes that
//! change one key's set at once cannot leave it naming a node that missed
//! the newer of them.

use std::time::Duration;

use balancer::backend::Backend;
use balancer::index::{Index, Swap};
use test_support::RedisServer;

fn index(redis: &RedisServer) -> Index {
    Index::new(Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap())
}

fn ids(set: &[&str]) -> Vec<String> {
    set.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_set_change_is_recorded_over_the_set_the_write_used() {
    let redis = RedisServer::start();
    let index = index(&redis);
    index.claim("k", &["a", "b"], None).await.unwrap();

    let swap = index
        .swap_members("k", &ids(&["a", "b"]), &["b"], &["c"])
        .await
        .unwrap();

    assert_eq!(swap, Swap::Done(ids(&["a", "c"])));
    assert_eq!(index.lookup("k").await.unwrap(), Some(ids(&["a", "c"])));
}

#[tokio::test]
async fn a_set_another_write_changed_first_is_left_alone_and_returned() {
    let redis = RedisServer::start();
    let index = index(&redis);
    index.claim("k", &["a", "b"], None).await.unwrap();
    // A concurrent write found `a` down and moved the key to {b, d}.
    index
        .swap_members("k", &ids(&["a", "b"]), &["a"], &["d"])
        .await
        .unwrap();

    // This write used {a, b} too, found `b` down and wrote to {a, c}.
    let swap = index
        .swap_members("k", &ids(&["a", "b"]), &["b"], &["c"])
        .await
        .unwrap();

    assert_eq!(swap, Swap::Changed(ids(&["b", "d"])));
    assert_eq!(index.lookup("k").await.unwrap(), Some(ids(&["b", "d"])));
}

#[tokio::test]
async fn a_key_without_an_entry_has_nothing_to_edit() {
    let redis = RedisServer::start();
    let index = index(&redis);

    let swap = index
        .swap_members("k", &ids(&["a", "b"]), &["b"], &["c"])
        .await
        .unwrap();

    assert_eq!(swap, Swap::Missing);
    assert_eq!(index.lookup("k").await.unwrap(), None);
}
