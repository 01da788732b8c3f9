//! Choosing the newest version among a key's copies: last-writer-wins by
//! timestamp, tombstones included. Used by the hashing fallback (which
//! copy a read answers with, and in what order holders are listed) and by
//! repair (which copy every replica is brought up to, and which replicas
//! it writes).
//!
//! Timestamps are hybrid logical clock strings that order as text (see
//! [`crate::hlc`]). Two copies with the same timestamp are the same write;
//! among them the last listed answers (the lowest-ranked holder, whose TTL
//! and node id the reply carries), as it always has.

use crate::config::WhenFull;
use crate::values::Version;

/// The newest of `versions`; `None` when there are none.
pub fn newest<'v>(versions: impl IntoIterator<Item = &'v Version>) -> Option<&'v Version> {
    versions.into_iter().fold(None, |best, v| match best {
        Some(b) if b.timestamp > v.timestamp => Some(b),
        _ => Some(v),
    })
}

/// Where the newest of `versions` stands in the list.
pub fn position<'v>(versions: impl IntoIterator<Item = &'v Version>) -> Option<usize> {
    let mut best: Option<(usize, &Version)> = None;
    for (i, v) in versions.into_iter().enumerate() {
        if best.is_none_or(|(_, b)| v.timestamp >= b.timestamp) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// Sorts copies held by nodes newest first; ties keep their order.
pub fn sort_newest_first<N>(holders: &mut [(N, Version)]) {
    holders.sort_by(|a, b| b.1.timestamp.cmp(&a.1.timestamp));
}

/// Whether a replica holding `held` (`None`: nothing) lacks `newest`.
pub fn is_behind(held: Option<&Version>, newest: &Version) -> bool {
    held.is_none_or(|v| v.timestamp < newest.timestamp)
}

/// Whether a repair writes `newest` to a member holding `held`: one that
/// is behind, except, when nodes evict, one holding nothing (its copy may
/// have been evicted, and writing it back would fight the node's policy).
pub fn needs_repair(held: Option<&Version>, newest: &Version, when_full: WhenFull) -> bool {
    is_behind(held, newest) && (held.is_some() || when_full.repairs_missing())
}

/// Whether a copy kept outside a key's set (`outside`: a draining node's,
/// a leaving node's after the move, a returning node's) counts against
/// what the members hold (`members`): when it is newer than every copy a
/// member holds, it is a version they missed, carried to them; otherwise
/// it is stale and goes. When no member holds a copy, it counts only with
/// `refuse` (the members lost theirs); with `evict` they may have evicted
/// a newer one than it, so it goes: a miss, never an older value.
pub fn counts<'v>(
    members: impl IntoIterator<Item = &'v Version>,
    outside: &Version,
    when_full: WhenFull,
) -> bool {
    match newest(members) {
        Some(member) => outside.timestamp > member.timestamp,
        None => when_full.repairs_missing(),
    }
}

/// Which members (each holding `members[i]`) an outside copy goes to:
/// none unless it [`counts`], and then each that [`needs_repair`].
pub fn carried_to(
    members: &[Option<Version>],
    outside: &Version,
    when_full: WhenFull,
) -> Vec<bool> {
    let counts = counts(members.iter().flatten(), outside, when_full);
    (members.iter())
        .map(|held| counts && needs_repair(held.as_ref(), outside, when_full))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(timestamp: &str, json: Option<&str>) -> Version {
        Version {
            json: json.map(|j| j.as_bytes().to_vec()),
            timestamp: timestamp.into(),
            ttl_ms: None,
        }
    }

    #[test]
    fn the_latest_timestamp_wins_tombstones_included() {
        let copies = [v("0002", Some("1")), v("0003", None), v("0001", Some("2"))];
        assert_eq!(newest(&copies), Some(&copies[1]));
        assert_eq!(position(&copies), Some(1));
        assert_eq!(newest(&[]), None);
        assert_eq!(position(&[]), None);
    }

    #[test]
    fn a_tie_answers_with_the_last_copy() {
        let copies = [v("0002", Some("a")), v("0002", Some("b")), v("0001", None)];
        assert!(std::ptr::eq(newest(&copies).unwrap(), &copies[1]));
        assert_eq!(position(&copies), Some(1));
    }

    #[test]
    fn holders_sort_newest_first_and_ties_keep_rank() {
        let mut holders = vec![
            ("a", v("0001", None)),
            ("b", v("0003", None)),
            ("c", v("0001", None)),
            ("d", v("0002", None)),
        ];
        sort_newest_first(&mut holders);
        let order: Vec<&str> = holders.iter().map(|h| h.0).collect();
        assert_eq!(order, vec!["b", "d", "a", "c"]);
    }

    #[test]
    fn an_evicting_cluster_repairs_older_copies_and_leaves_missing_ones() {
        let newest = v("0002", Some("x"));
        for when_full in [WhenFull::Refuse, WhenFull::Evict] {
            assert!(needs_repair(
                Some(&v("0001", Some("x"))),
                &newest,
                when_full
            ));
            assert!(needs_repair(Some(&v("0001", None)), &newest, when_full));
            assert!(!needs_repair(Some(&newest), &newest, when_full));
        }
        assert!(needs_repair(None, &newest, WhenFull::Refuse));
        assert!(!needs_repair(None, &newest, WhenFull::Evict));
    }

    #[test]
    fn an_outside_copy_counts_only_when_newer_than_what_the_members_hold() {
        let outside = v("0002", Some("x"));
        for when_full in [WhenFull::Refuse, WhenFull::Evict] {
            assert!(counts([&v("0001", Some("x"))], &outside, when_full));
            assert!(!counts([&v("0002", Some("x"))], &outside, when_full));
            assert!(!counts([&v("0003", None)], &outside, when_full));
        }
        // No member holds a copy: lost (refuse), or maybe evicted (evict).
        assert!(counts([], &outside, WhenFull::Refuse));
        assert!(!counts([], &outside, WhenFull::Evict));
    }

    #[test]
    fn an_outside_copy_goes_to_the_members_behind_it_only_when_it_counts() {
        let outside = v("0002", Some("x"));
        let members = [Some(v("0001", Some("x"))), None];
        assert_eq!(
            carried_to(&members, &outside, WhenFull::Refuse),
            [true, true]
        );
        assert_eq!(
            carried_to(&members, &outside, WhenFull::Evict),
            [true, false]
        );
        let ahead = [Some(v("0003", Some("y"))), Some(v("0001", Some("x")))];
        assert_eq!(
            carried_to(&ahead, &outside, WhenFull::Refuse),
            [false, false]
        );
        assert_eq!(carried_to(&[None], &outside, WhenFull::Evict), [false]);
    }

    #[test]
    fn behind_means_missing_or_older() {
        let newest = v("0002", Some("x"));
        assert!(is_behind(None, &newest));
        assert!(is_behind(Some(&v("0001", Some("x"))), &newest));
        assert!(!is_behind(Some(&v("0002", None)), &newest));
        assert!(!is_behind(Some(&v("0003", None)), &newest));
    }
}
