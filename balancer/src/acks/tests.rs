//! The acknowledgement rule's cases.

use super::*;

fn ack(node: &str, primary: bool, existed: bool) -> Ack {
    Ack {
        node: Arc::from(node),
        primary,
        applied: Applied {
            applied: true,
            existed,
            timestamp: "t".into(),
        },
        superseded: false,
    }
}

#[test]
fn a_replica_that_kept_a_later_version_marks_the_write_superseded() {
    let taken = vec![ack("a", true, true), ack("b", false, true)];
    assert!(!verdict(taken, 2, None).unwrap().superseded);
    let mut kept = ack("b", false, true);
    kept.applied.applied = false;
    kept.superseded = true;
    let taken = vec![ack("a", true, true), kept];
    assert!(verdict(taken, 2, None).unwrap().superseded);
}

#[test]
fn the_primary_must_be_among_the_acknowledgements_it_was_sent() {
    let two = [ack("b", false, false), ack("c", false, false)];
    assert!(!enough(&two, 2, true), "the primary has not answered");
    assert!(enough(&two, 2, false), "the primary was not sent the write");
    let with_primary = [ack("b", false, false), ack("a", true, false)];
    assert!(enough(&with_primary, 2, true));
    assert!(!enough(&with_primary[..1], 2, false), "too few");
}

fn unreachable() -> BackendError {
    BackendError::Unreachable {
        addr: "a".into(),
        reason: "timed out".into(),
    }
}

#[test]
fn needed_per_level() {
    for (ack, r, n) in [
        (WriteAck::One, 3, 1),
        (WriteAck::One, 0, 0),
        (WriteAck::Quorum, 1, 1),
        (WriteAck::Quorum, 2, 2),
        (WriteAck::Quorum, 3, 2),
        (WriteAck::Quorum, 4, 3),
        (WriteAck::All, 3, 3),
    ] {
        assert_eq!(needed(ack, r), n, "{ack:?} of {r}");
    }
}

#[test]
fn a_set_wider_than_the_factor_needs_every_member() {
    assert_eq!(needed_of(WriteAck::Quorum, 2, 2, 2), 2);
    assert_eq!(needed_of(WriteAck::Quorum, 3, 3, 3), 2);
    assert_eq!(needed_of(WriteAck::One, 2, 3, 2), 3);
    assert_eq!(needed_of(WriteAck::Quorum, 3, 4, 3), 4);
    assert_eq!(
        needed_of(WriteAck::Quorum, 1, 2, 2),
        1,
        "one node up of R = 2"
    );
}

#[test]
fn a_settled_wide_set_is_held_to_r_s_level() {
    assert_eq!(settled_need(WriteAck::Quorum, 2, 3, true), 2);
    assert_eq!(settled_need(WriteAck::Quorum, 2, 3, false), 3);
}

#[test]
fn acks_pass_at_once_while_the_set_holds() {
    let mut p = Progress::new(false);
    assert!(p.ack(ack("a", true, false)).is_some());
    assert!(p.release().is_empty());
}

#[test]
fn a_failure_holds_the_acks_still_to_come_until_release() {
    let mut p = Progress::new(false);
    assert!(p.ack(ack("a", true, false)).is_some());
    p.fail(Arc::from("b"), unreachable());
    assert!(p.ack(ack("c", false, false)).is_none());
    assert_eq!(p.failed(), 1);
    assert_eq!(p.unreachable, vec![Arc::from("b")]);
    let released = p.release();
    assert_eq!(released.len(), 1);
    assert_eq!(&*released[0].node, "c");
    assert_eq!(p.acked.len(), 2);
}

#[test]
fn a_set_changed_before_the_write_holds_every_ack() {
    let mut p = Progress::new(true);
    assert!(p.ack(ack("a", true, false)).is_none());
    assert_eq!(p.release().len(), 1);
}

#[test]
fn existed_follows_the_primary_else_the_first_ack() {
    let acks = vec![ack("b", false, true), ack("a", true, false)];
    let accepted = verdict(acks, 2, None).unwrap();
    assert!(!accepted.existed);
    assert!(accepted.any_existed);
    assert_eq!(accepted.nodes, vec![Arc::from("b"), Arc::from("a")]);
    let accepted = verdict(vec![ack("b", false, true)], 1, None).unwrap();
    assert!(accepted.existed);
}

#[test]
fn a_new_entry_is_a_new_key_only_if_no_copy_was_live() {
    let accepted = |existed, any_existed| Accepted {
        nodes: Vec::new(),
        existed,
        any_existed,
        applied_any: true,
        superseded: false,
        unadopted: false,
    };
    assert!(created(true, false, &accepted(false, false)));
    assert!(!created(true, true, &accepted(false, false)));
    assert!(!created(true, false, &accepted(false, true)));
    assert!(
        created(false, false, &accepted(false, true)),
        "the primary decides"
    );
    assert!(!created(false, false, &accepted(true, true)));
}

#[test]
fn too_few_acks_say_why() {
    let e = verdict(vec![], 1, Some(unreachable())).unwrap_err();
    assert!(matches!(e, Error::NodeUnavailable(_)));
    let e = verdict(vec![ack("a", true, false)], 2, Some(unreachable())).unwrap_err();
    assert!(matches!(
        e,
        Error::TooFewReplicas {
            acked: 1,
            needed: 2,
            ..
        }
    ));
    assert!(matches!(verdict(vec![], 1, None), Err(Error::NoNodes)));
    let some = vec![ack("a", true, false)];
    assert!(
        matches!(verdict(some, 2, None), Err(Error::TooFewReplicas { .. })),
        "a write some replica took is never answered as not applied"
    );
    assert!(matches!(verdict(vec![], 0, None), Err(Error::NoNodes)));
}

#[test]
fn a_write_no_replica_applied_says_so() {
    let mut refused = ack("a", true, false);
    refused.applied.applied = false;
    let accepted = verdict(vec![refused], 1, None).unwrap();
    assert!(!accepted.applied_any);
    let accepted = verdict(vec![ack("a", true, false), ack("b", false, false)], 2, None).unwrap();
    assert!(accepted.applied_any);
}
