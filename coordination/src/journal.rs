//! The rebalance journal: the keys a leader is moving, so that a leader
//! after it hands off the old copies the first one left behind.
//!
//! `/dlb/rebalance-journal` holds the highest leader token that claimed
//! it ([`Claim`]); under it, one persistent sequential child per batch of
//! moves ([`Entry`]: the token and each key with the node it leaves). A
//! leader claims the journal once per leadership by raising the token at
//! the version it read, and writes every child in a multi-op that checks
//! that version: once a later leader has claimed it, an earlier one's
//! writes fail ([`JournalError::Fenced`]), as its index and data-node
//! writes do. A child is written before its keys' sets are widened and
//! deleted once their old copies are handed off; a child left by an
//! earlier token is what a new leader resumes.

use serde::{Deserialize, Serialize};
use zookeeper_client::{Acls, Client, CreateMode, Error, MultiWriteError, MultiWriteResult};

use crate::paths::{JOURNAL, child};
use crate::reconnect::retrying;
use crate::registry;

/// The journal's own data: the token of the leader that last claimed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The claiming leader's fencing token.
    pub token: u64,
}

/// One key being moved: the key and the node it leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moving {
    /// The key.
    pub key: String,
    /// The id of the node it leaves.
    pub from: String,
}

/// One batch of moves, as a child of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The token of the leader that wrote it.
    pub token: u64,
    /// The keys of the batch.
    pub keys: Vec<Moving>,
}

/// The journal, claimed by a leader at this version of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// The claiming leader's fencing token.
    pub token: u64,
    version: i32,
}

/// What a leader with `token` does with a journal claimed by `held`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Raise the claim to `token`.
    Raise,
    /// Already its own.
    Keep,
    /// A later leader holds it: this one must stop.
    Fenced,
}

/// The pure rule of [`claim`].
#[must_use]
pub fn step(held: Option<u64>, token: u64) -> Step {
    match held {
        Some(held) if held > token => Step::Fenced,
        Some(held) if held == token => Step::Keep,
        _ => Step::Raise,
    }
}

/// Whether a child written under `entry_token` is for the leader holding
/// `token` to resume: one an earlier leader left.
#[must_use]
pub fn left_by_earlier(entry_token: u64, token: u64) -> bool {
    entry_token < token
}

/// Why a journal call failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A later leader claimed the journal.
    #[error("a later leader claimed the rebalance journal")]
    Fenced,
    /// The journal holds data this build cannot read.
    #[error("the rebalance journal at {path} does not read: {reason}")]
    Unreadable {
        /// The journal's path.
        path: String,
        /// Why it does not read.
        reason: String,
    },
    /// ZooKeeper failed.
    #[error("ZooKeeper: {0}")]
    ZooKeeper(#[from] Error),
}

/// Claims the journal for the leader with `token`, creating it when
/// missing.
///
/// # Errors
/// [`JournalError::Fenced`] when a later leader claimed it.
pub async fn claim(client: &Client, token: u64, acls: Acls<'_>) -> Result<Claimed, JournalError> {
    let data = serde_json::to_vec(&Claim { token }).expect("a claim serializes");
    loop {
        let (held, version) = match retrying(client, || client.get_data(JOURNAL)).await {
            Ok((data, stat)) => {
                let held: Claim =
                    serde_json::from_slice(&data).map_err(|e| JournalError::Unreadable {
                        path: JOURNAL.into(),
                        reason: e.to_string(),
                    })?;
                (Some(held.token), stat.version)
            }
            Err(Error::NoNode) => {
                let parent = JOURNAL.rsplit_once('/').map_or("/", |(p, _)| p);
                registry::ensure_path(client, parent, acls).await?;
                let options = CreateMode::Persistent.with_acls(acls);
                match retrying(client, || client.create(JOURNAL, &data, &options)).await {
                    Ok((stat, _)) => {
                        return Ok(Claimed {
                            token,
                            version: stat.version,
                        });
                    }
                    Err(Error::NodeExists) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        match step(held, token) {
            Step::Fenced => return Err(JournalError::Fenced),
            Step::Keep => return Ok(Claimed { token, version }),
            Step::Raise => {}
        }
        let set = retrying(client, || client.set_data(JOURNAL, &data, Some(version))).await;
        match set {
            Ok(stat) => {
                return Ok(Claimed {
                    token,
                    version: stat.version,
                });
            }
            Err(Error::BadVersion) => {} // claimed meanwhile: read it again
            Err(e) => return Err(e.into()),
        }
    }
}

/// The fencing of a multi-op: its first operation checks the claim.
fn checked(error: MultiWriteError) -> JournalError {
    match error {
        MultiWriteError::OperationFailed {
            index: 0,
            source: Error::BadVersion | Error::NoNode,
        } => JournalError::Fenced,
        e => JournalError::ZooKeeper(e.into()),
    }
}

/// Writes `keys` as a child, under the claim; returns its path. Not
/// retried on a lost connection (the child may have been written: a
/// later leader resumes it).
///
/// # Errors
/// [`JournalError::Fenced`] when a later leader claimed the journal.
pub async fn record(
    client: &Client,
    claimed: Claimed,
    keys: Vec<Moving>,
    acls: Acls<'_>,
) -> Result<String, JournalError> {
    let entry = Entry {
        token: claimed.token,
        keys,
    };
    let data = serde_json::to_vec(&entry).expect("an entry serializes");
    let options = CreateMode::PersistentSequential.with_acls(acls);
    let mut write = client.new_multi_writer();
    write.add_check_version(JOURNAL, claimed.version)?;
    write.add_create(&child(JOURNAL, "moves-"), &data, &options)?;
    let results = write.commit().await.map_err(checked)?;
    match results.into_iter().nth(1) {
        Some(MultiWriteResult::Create { path, .. }) => Ok(path),
        _ => Err(JournalError::ZooKeeper(Error::UnexpectedError(
            "a multi-op create answered no path".into(),
        ))),
    }
}

/// Deletes the child at `path`, under the claim; one already gone is fine.
///
/// # Errors
/// [`JournalError::Fenced`] when a later leader claimed the journal.
pub async fn clear(client: &Client, claimed: Claimed, path: &str) -> Result<(), JournalError> {
    let mut write = client.new_multi_writer();
    write.add_check_version(JOURNAL, claimed.version)?;
    write.add_delete(path, None)?;
    match write.commit().await {
        Ok(_) => Ok(()),
        Err(MultiWriteError::OperationFailed {
            index: 1,
            source: Error::NoNode,
        }) => Ok(()),
        Err(e) => Err(checked(e)),
    }
}

/// Every child of the journal, by path; a child that does not read is
/// returned as its error (left in place for an operator to look at).
///
/// # Errors
/// The ZooKeeper error.
pub async fn entries(client: &Client) -> Result<Vec<(String, Result<Entry, String>)>, Error> {
    let names = match retrying(client, || client.list_children(JOURNAL)).await {
        Ok(names) => names,
        Err(Error::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut all = Vec::with_capacity(names.len());
    for name in names {
        let path = child(JOURNAL, &name);
        match retrying(client, || client.get_data(&path)).await {
            Ok((data, _)) => {
                let entry = serde_json::from_slice(&data).map_err(|e| e.to_string());
                all.push((path, entry));
            }
            Err(Error::NoNode) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_raises_an_earlier_claim_keeps_its_own_and_stops_at_a_later_one() {
        assert_eq!(step(None, 7), Step::Raise);
        assert_eq!(step(Some(3), 7), Step::Raise);
        assert_eq!(step(Some(7), 7), Step::Keep);
        assert_eq!(step(Some(9), 7), Step::Fenced);
    }

    #[test]
    fn only_what_an_earlier_leader_wrote_is_resumed() {
        assert!(left_by_earlier(3, 7));
        assert!(!left_by_earlier(7, 7));
        assert!(!left_by_earlier(9, 7));
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let entry = Entry {
            token: 5,
            keys: vec![Moving {
                key: "k é".into(),
                from: "127.0.0.1:7001".into(),
            }],
        };
        let data = serde_json::to_vec(&entry).unwrap();
        assert_eq!(serde_json::from_slice::<Entry>(&data).unwrap(), entry);
    }
}
