//! The last-writer-wins script on a real redis-server: a node keeps the
//! newest version, and a delete's tombstone keeps a late, older write from
//! bringing the key back.

use std::time::Duration;

use balancer::backend::{Backend, BackendError};
use balancer::values::{self, Version};
use test_support::{RedisServer, wall_ms};

/// The drift bound the balancer uses by default, in ms.
const DRIFT_MS: u64 = 1000;

fn live(timestamp: &str, value: &str) -> Version {
    Version {
        json: Some(value.as_bytes().to_vec()),
        timestamp: timestamp.into(),
        ttl_ms: None,
    }
}

fn tombstone(timestamp: &str) -> Version {
    Version {
        json: None,
        timestamp: timestamp.into(),
        ttl_ms: Some(60_000),
    }
}

#[tokio::test]
async fn the_newest_version_wins_whatever_order_writes_arrive_in() {
    let redis = RedisServer::start();
    let node = Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap();
    let newer = "0000000000002.000000.b";
    let older = "0000000000001.000000.a";

    let first = values::apply(&node, "k", &live(newer, "\"new\""), DRIFT_MS)
        .await
        .unwrap();
    assert!(first.applied && !first.existed);
    let late = values::apply(&node, "k", &live(older, "\"old\""), DRIFT_MS)
        .await
        .unwrap();
    assert!(!late.applied && late.existed);
    assert_eq!(late.timestamp, newer, "the node says what it holds");
    let held = values::read(&node, "k").await.unwrap().unwrap();
    assert_eq!(held.json.as_deref(), Some(&b"\"new\""[..]));
    assert_eq!(held.timestamp, newer);

    let same = values::apply(&node, "k", &live(newer, "\"other\""), DRIFT_MS)
        .await
        .unwrap();
    assert!(!same.applied, "an equal timestamp is not newer");
}

/// `existed` says whether a live value was there, whatever held the key:
/// a version of ours, a tombstone, or data written around the balancer (a
/// string, a hash of someone else's), which counts as older and is
/// replaced.
#[tokio::test]
async fn a_write_says_whether_a_live_value_was_there() {
    let redis = RedisServer::start();
    let node = Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap();
    let write = |stamp: &'static str| live(stamp, "\"x\"");

    let over_live = {
        values::apply(&node, "ours", &write("0000000000001.000000.a"), DRIFT_MS)
            .await
            .unwrap();
        values::apply(&node, "ours", &write("0000000000002.000000.a"), DRIFT_MS)
            .await
            .unwrap()
    };
    assert!(over_live.applied && over_live.existed, "{over_live:?}");

    let _: redis::Value = node
        .cmd(redis::cmd("SET").arg("string").arg("raw"))
        .await
        .unwrap();
    let over_string = values::apply(&node, "string", &write("0000000000001.000000.a"), DRIFT_MS)
        .await
        .unwrap();
    assert!(
        over_string.applied && !over_string.existed,
        "{over_string:?}"
    );
    let held = values::read(&node, "string").await.unwrap().unwrap();
    assert_eq!(held.json.as_deref(), Some(&b"\"x\""[..]));

    let _: redis::Value = node
        .cmd(redis::cmd("HSET").arg("hash").arg("v").arg("1"))
        .await
        .unwrap();
    let over_hash = values::apply(&node, "hash", &write("0000000000001.000000.a"), DRIFT_MS)
        .await
        .unwrap();
    assert!(over_hash.applied && over_hash.existed, "{over_hash:?}");

    let _: redis::Value = node
        .cmd(redis::cmd("RPUSH").arg("list").arg("1"))
        .await
        .unwrap();
    let deleted = values::apply(
        &node,
        "list",
        &tombstone("0000000000001.000000.a"),
        DRIFT_MS,
    )
    .await
    .unwrap();
    assert!(deleted.applied && !deleted.existed, "{deleted:?}");
    assert!(
        !values::read(&node, "list")
            .await
            .unwrap()
            .unwrap()
            .is_live()
    );
}

#[tokio::test]
async fn a_delete_then_a_delayed_older_write_leaves_the_key_deleted() {
    let redis = RedisServer::start();
    let node = Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap();
    let write = "0000000000005.000000.a";
    let delayed = "0000000000006.000000.b";
    let delete = "0000000000007.000000.a";

    values::apply(&node, "k", &live(write, "1"), DRIFT_MS)
        .await
        .unwrap();
    let deleted = values::apply(&node, "k", &tombstone(delete), DRIFT_MS)
        .await
        .unwrap();
    assert!(deleted.applied && deleted.existed);
    let resurrect = values::apply(&node, "k", &live(delayed, "2"), DRIFT_MS)
        .await
        .unwrap();
    assert!(!resurrect.applied && !resurrect.existed);

    let held = values::read(&node, "k").await.unwrap().unwrap();
    assert!(!held.is_live(), "still a tombstone");
    assert_eq!(held.timestamp, delete);
    assert!(
        held.ttl_ms.is_some_and(|ms| ms <= 60_000),
        "tombstones expire"
    );

    let recreate = values::apply(&node, "k", &live("0000000000008.000000.b", "3"), DRIFT_MS)
        .await
        .unwrap();
    assert!(
        recreate.applied && !recreate.existed,
        "a newer write creates the key again"
    );
}

#[tokio::test]
async fn a_stale_copy_is_dropped_only_at_the_version_it_held() {
    let redis = RedisServer::start();
    let node = Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap();
    values::apply(&node, "k", &live("0000000000001.000000.a", "1"), DRIFT_MS)
        .await
        .unwrap();
    assert!(
        !values::drop_if_at(&node, "k", "0000000000000.000000.a")
            .await
            .unwrap()
    );
    assert!(
        values::drop_if_at(&node, "k", "0000000000001.000000.a")
            .await
            .unwrap()
    );
    assert_eq!(values::read(&node, "k").await.unwrap(), None);
}

#[tokio::test]
async fn a_write_stamped_past_the_drift_bound_is_refused() {
    let redis = RedisServer::start();
    let node = Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap();
    let now_ms = wall_ms();
    let stamp = |ms: u64| format!("{ms:013}.000000.b");
    let current = live(&stamp(now_ms), "1");
    values::apply(&node, "k", &current, DRIFT_MS).await.unwrap();

    // A balancer whose clock runs a minute fast: refused, nothing changes.
    let fast = live(&stamp(now_ms + 60_000), "2");
    let refused = values::apply(&node, "k", &fast, DRIFT_MS).await;
    assert!(
        matches!(refused, Err(BackendError::ClockAhead { .. })),
        "{refused:?}"
    );
    let held = values::read(&node, "k").await.unwrap().unwrap();
    assert_eq!(held.timestamp, current.timestamp, "the node kept its value");

    // Just past the bound, in the same second of the node's clock: refused
    // to the millisecond, where a check by whole seconds would let it in.
    // Stamped from a fresh reading early in a second, so the floor (300
    // ms after it) falls in that second whatever the test took so far.
    let early = loop {
        let ms = wall_ms();
        if ms % 1000 < 500 {
            break ms;
        }
        tokio::time::sleep(Duration::from_millis(1010 - ms % 1000)).await;
    };
    let just_past = live(&stamp(early + DRIFT_MS + 300), "2");
    let refused = values::apply(&node, "k", &just_past, DRIFT_MS).await;
    assert!(
        matches!(refused, Err(BackendError::ClockAhead { .. })),
        "{refused:?}"
    );

    // Within the bound, ahead of the node's clock, still applies.
    let slightly = live(&stamp(now_ms + DRIFT_MS / 2), "3");
    let applied = values::apply(&node, "k", &slightly, DRIFT_MS)
        .await
        .unwrap();
    assert!(applied.applied);
    let tombstone_ahead = tombstone(&stamp(now_ms + 60_000));
    let refused = values::apply(&node, "k", &tombstone_ahead, DRIFT_MS).await;
    assert!(matches!(refused, Err(BackendError::ClockAhead { .. })));
}

/// A TTL change of the write `written`, stamped after it by a clock at
/// `ms` on balancer `by`, with value "1" (`None`: a tombstone).
fn change(written: &str, ms: u64, by: &str, ttl_ms: Option<u64>) -> Version {
    Version {
        json: ttl_ms.map(|_| b"1".to_vec()),
        timestamp: format!("{written}!{ms:013}.000000.{by}"),
        ttl_ms: Some(ttl_ms.unwrap_or(60_000)),
    }
}

#[tokio::test]
async fn a_ttl_change_applies_only_over_the_write_it_changes() {
    let redis = RedisServer::start();
    let node = Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap();
    let written = "0000000000001.000000.b";
    let apply_over = |v: Version| {
        let node = node.clone();
        async move {
            values::apply_over(&node, "k", &v, written, DRIFT_MS)
                .await
                .unwrap()
        }
    };

    // Nothing there (the key expired, or the node missed the write): the
    // change does not bring the value back.
    let absent = apply_over(change(written, 5, "a", Some(50_000))).await;
    assert!(!absent.applied && !absent.existed);
    assert_eq!(absent.timestamp, "");
    assert_eq!(values::read(&node, "k").await.unwrap(), None);

    // Over the write itself: applied, with the new TTL.
    values::apply(&node, "k", &live(written, "1"), DRIFT_MS)
        .await
        .unwrap();
    let first = change(written, 5, "a", Some(50_000));
    assert!(apply_over(first.clone()).await.applied);
    let held = values::read(&node, "k").await.unwrap().unwrap();
    assert_eq!(held.timestamp, first.timestamp);
    assert!(held.ttl_ms.is_some_and(|ms| ms > 40_000), "{held:?}");

    // Two changes of one write, in either order: the node keeps the later.
    let later_change = change(written, 6, "c", Some(90_000));
    assert!(
        apply_over(later_change.clone()).await.applied,
        "over an earlier change"
    );
    let late = apply_over(first).await;
    assert!(!late.applied);
    assert_eq!(late.timestamp, later_change.timestamp);

    // A later write, by a balancer whose id the written one's is a prefix
    // of: it sorts after every change, and no change applies over it.
    let later = "0000000000001.000000.b-2";
    let kept = values::apply(&node, "k", &live(later, "2"), DRIFT_MS)
        .await
        .unwrap();
    assert!(kept.applied, "a write after the changed one wins");
    let over_later = apply_over(change(written, 9_999_999, "z", Some(1))).await;
    assert!(!over_later.applied);
    assert_eq!(over_later.timestamp, later, "the node says what it holds");
    let held = values::read(&node, "k").await.unwrap().unwrap();
    assert_eq!((held.json.as_deref(), held.ttl_ms), (Some(&b"2"[..]), None));
}

#[tokio::test]
async fn a_delete_by_ttl_change_applies_only_over_the_write_it_changes() {
    let redis = RedisServer::start();
    let node = Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap();
    let written = "0000000000001.000000.b";
    values::apply(&node, "k", &live(written, "1"), DRIFT_MS)
        .await
        .unwrap();
    let deleted = values::apply_over(
        &node,
        "k",
        &change(written, 5, "a", None),
        written,
        DRIFT_MS,
    )
    .await
    .unwrap();
    assert!(deleted.applied && deleted.existed);
    let held = values::read(&node, "k").await.unwrap().unwrap();
    assert!(!held.is_live(), "a tombstone: {held:?}");

    // Over a tombstone, or a later write, nothing changes.
    let again = values::apply_over(
        &node,
        "k",
        &change(written, 6, "a", Some(5)),
        written,
        DRIFT_MS,
    )
    .await
    .unwrap();
    assert!(!again.applied);
    assert!(!values::read(&node, "k").await.unwrap().unwrap().is_live());
    let later = "0000000000002.000000.b";
    values::apply(&node, "k", &live(later, "2"), DRIFT_MS)
        .await
        .unwrap();
    let refused = values::apply_over(
        &node,
        "j",
        &change(written, 7, "a", None),
        written,
        DRIFT_MS,
    )
    .await
    .unwrap();
    assert!(!refused.applied, "nothing under the key");
    let refused = values::apply_over(
        &node,
        "k",
        &change(written, 7, "a", None),
        written,
        DRIFT_MS,
    )
    .await
    .unwrap();
    assert!(!refused.applied);
    assert_eq!(refused.timestamp, later);

    // A hash written around the balancer, without a timestamp: refused.
    let mut conn = redis.connection().await;
    let _: () = redis::cmd("HSET")
        .arg("raw")
        .arg("v")
        .arg("1")
        .query_async(&mut conn)
        .await
        .unwrap();
    let raw = values::apply_over(
        &node,
        "raw",
        &change(written, 7, "a", Some(5)),
        written,
        DRIFT_MS,
    )
    .await
    .unwrap();
    assert!(!raw.applied);
}

/// Every applied write leaves the key with the version's TTL, whatever
/// the key held before: a write without one removes the TTL a write, a
/// TTL change, a tombstone or a client around the balancer set, and keeps
/// none where there was none.
#[tokio::test]
async fn an_applied_write_leaves_the_key_with_its_own_ttl() {
    let redis = RedisServer::start();
    let node = Backend::new(&redis.addr(), Duration::from_secs(2)).unwrap();
    let stamp = |n: u64| format!("{n:013}.000000.a");
    let with_ttl = |n: u64, value: &str| Version {
        ttl_ms: Some(60_000),
        ..live(&stamp(n), value)
    };
    let ttl_of = |key: &'static str| {
        let node = node.clone();
        async move { values::read(&node, key).await.unwrap().unwrap().ttl_ms }
    };
    let expiring = |ttl: Option<u64>| ttl.is_some_and(|ms| ms > 50_000 && ms <= 60_000);
    let apply = |key: &'static str, v: Version| {
        let node = node.clone();
        async move { values::apply(&node, key, &v, DRIFT_MS).await.unwrap() }
    };

    // Each step: the write, whether a live value was there, the TTL after.
    let first = apply("k", live(&stamp(1), "1")).await;
    assert!(first.applied && !first.existed, "{first:?}");
    assert_eq!(ttl_of("k").await, None);
    let again = apply("k", live(&stamp(2), "2")).await;
    assert!(again.applied && again.existed, "{again:?}");
    assert_eq!(ttl_of("k").await, None, "none where there was none");
    let expires = apply("k", with_ttl(3, "3")).await;
    assert!(expires.applied && expires.existed, "{expires:?}");
    assert!(expiring(ttl_of("k").await));
    let persists = apply("k", live(&stamp(4), "4")).await;
    assert!(persists.applied && persists.existed, "{persists:?}");
    assert_eq!(ttl_of("k").await, None, "a write without a TTL removes one");
    let held = values::read(&node, "k").await.unwrap().unwrap();
    assert_eq!(held.json.as_deref(), Some(&b"4"[..]));

    // Over a tombstone, which expires.
    let deleted = apply("k", tombstone(&stamp(5))).await;
    assert!(deleted.applied && deleted.existed, "{deleted:?}");
    assert!(expiring(ttl_of("k").await));
    let back = apply("k", live(&stamp(6), "6")).await;
    assert!(back.applied && !back.existed, "{back:?}");
    assert_eq!(ttl_of("k").await, None, "the tombstone's TTL is gone");

    // Over a TTL change of a write that had none.
    let changed = values::apply_over(
        &node,
        "k",
        &change(&stamp(6), 7, "a", Some(60_000)),
        &stamp(6),
        DRIFT_MS,
    )
    .await
    .unwrap();
    assert!(changed.applied, "{changed:?}");
    assert!(expiring(ttl_of("k").await));
    let after_change = apply("k", live(&stamp(8), "8")).await;
    assert!(
        after_change.applied && after_change.existed,
        "{after_change:?}"
    );
    assert_eq!(ttl_of("k").await, None, "the change's TTL is gone");

    // Over a hash a client wrote around the balancer, with a TTL of its
    // own, and over a string with one.
    let _: redis::Value = node
        .cmd(
            redis::cmd("HSET")
                .arg("hash")
                .arg("v")
                .arg("1")
                .arg("t")
                .arg(stamp(1)),
        )
        .await
        .unwrap();
    let _: redis::Value = node
        .cmd(redis::cmd("PEXPIRE").arg("hash").arg(60_000))
        .await
        .unwrap();
    let over_hash = apply("hash", live(&stamp(2), "2")).await;
    assert!(over_hash.applied && over_hash.existed, "{over_hash:?}");
    assert_eq!(ttl_of("hash").await, None);
    let _: redis::Value = node
        .cmd(
            redis::cmd("SET")
                .arg("string")
                .arg("raw")
                .arg("PX")
                .arg(60_000),
        )
        .await
        .unwrap();
    let over_string = apply("string", live(&stamp(1), "1")).await;
    assert!(
        over_string.applied && !over_string.existed,
        "{over_string:?}"
    );
    assert_eq!(ttl_of("string").await, None);
}
