//! The rebalancer's use of the ZooKeeper journal
//! ([`coordination::journal`]): each batch of moves is written there
//! before its sets are widened, and cleared once no hand-off of it is
//! left, so a leader that stops between a narrowing and its hand-off
//! leaves the old copies named for the next leader, which hands them off
//! (the sets themselves need no journal: a move cut short before its
//! narrowing is a set wider than R in the index, which any walk narrows).
//!
//! The decisions are pure: which children a new leader resumes
//! ([`resume`]) and which of its own are done ([`finished`]).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use coordination::journal::{Claimed, Entry, Moving, left_by_earlier};
use tokio::time::Instant;

use super::handoff::HandOff;
use super::migrate::Move;
use crate::rebalance::Spread;

/// What one pass leaves for the next under the same process.
#[derive(Debug, Default)]
pub(super) struct Carried {
    /// Hand-offs an earlier pass could not finish.
    pub(super) leftovers: Vec<HandOff>,
    /// Hand-offs waiting out the request deadline after their narrowing
    /// (or their take-over), each batch with the time it is due.
    pub(super) handing: VecDeque<(Instant, Vec<HandOff>)>,
    /// Whether a walk is owed to sets on one failure domain.
    pub(super) spread: Spread,
    /// The journal, as this process last claimed it: a new token claims
    /// it again and resumes what earlier leaders left.
    pub(super) claimed: Option<Claimed>,
    /// Journal children this process answers for and has not cleared.
    pub(super) open: HashSet<Arc<str>>,
}

/// What a batch of moves writes to the journal.
pub(super) fn moving(moves: &[Move]) -> Vec<Moving> {
    (moves.iter())
        .map(|m| Moving {
            key: m.key.clone(),
            from: m.from.to_string(),
        })
        .collect()
}

/// The hand-offs a leader with `token` takes over from the journal's
/// `entries`: every key of a child an earlier leader wrote, unless work
/// this process still holds names the child (`live`: its own hand-offs
/// from an earlier leadership, still under way). What the earlier leader
/// settled is not known (see [`HandOff::settled`]).
pub(super) fn resume(
    entries: Vec<(String, Entry)>,
    token: u64,
    live: &HashSet<&str>,
) -> Vec<HandOff> {
    let mut taken = Vec::new();
    for (path, entry) in entries {
        if !left_by_earlier(entry.token, token) || live.contains(path.as_str()) {
            continue;
        }
        let path: Arc<str> = path.into();
        taken.extend(entry.keys.into_iter().map(|m| HandOff {
            key: m.key,
            leaving: m.from.into(),
            settled: None,
            made: Instant::now(),
            journal: path.clone(),
        }));
    }
    taken
}

/// The `open` children no work still `live` names: done, to clear.
pub(super) fn finished(open: &HashSet<Arc<str>>, live: &HashSet<&str>) -> Vec<Arc<str>> {
    (open.iter())
        .filter(|p| !live.contains(&***p))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token: u64, keys: &[(&str, &str)]) -> Entry {
        Entry {
            token,
            keys: (keys.iter())
                .map(|(key, from)| Moving {
                    key: (*key).into(),
                    from: (*from).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_new_leader_takes_over_the_keys_earlier_leaders_left_and_nothing_else() {
        let live: HashSet<&str> = ["/j/moves-3"].into();
        let entries = vec![
            ("/j/moves-1".into(), entry(4, &[("a", "n1"), ("b", "n2")])),
            ("/j/moves-2".into(), entry(7, &[("c", "n1")])),
            ("/j/moves-3".into(), entry(5, &[("d", "n1")])),
            ("/j/moves-4".into(), entry(9, &[("e", "n1")])),
        ];
        let taken = resume(entries, 7, &live);
        let keys: Vec<(&str, &str, &str)> = (taken.iter())
            .map(|h| (&*h.key, &*h.leaving, &*h.journal))
            .collect();
        assert_eq!(keys, [("a", "n1", "/j/moves-1"), ("b", "n2", "/j/moves-1")]);
        assert!(taken.iter().all(|h| h.settled.is_none()));
    }

    #[test]
    fn a_child_is_done_once_no_work_names_it() {
        let open: HashSet<Arc<str>> = [Arc::from("/j/1"), Arc::from("/j/2")].into();
        let live: HashSet<&str> = ["/j/2", "/j/9"].into();
        assert_eq!(finished(&open, &live), [Arc::from("/j/1")]);
        assert!(finished(&open, &["/j/1", "/j/2"].into()).is_empty());
    }
}
