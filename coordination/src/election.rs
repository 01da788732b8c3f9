//! Leader election and named locks, on the standard recipe: each contender
//! creates an ephemeral sequential node and waits for the one just before
//! it to go; the lowest sequence holds the lock. Nobody herds on one
//! watch, and a dead holder's node vanishes with its session.
//!
//! Leadership is read only through [`Standing`], which checks the lease
//! ([`crate::lease`]) and the connection: a leader cut off from ZooKeeper
//! stops claiming leadership within half a session timeout, before anyone
//! else can be elected. Each grant carries a fencing token (its node's
//! sequence number, which only grows) for whatever it writes to check.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use zookeeper_client::{Acls, Client, CreateMode, Error, LockClient, LockOptions, LockPrefix};

use crate::lease::Lease;
use crate::paths::{ELECTION, LOCKS, child};
use crate::reconnect::retrying;
use crate::session::ZkState;

/// Who leads, as far as this process knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// The leader's id, when known.
    pub leader: Option<String>,
    /// Whether this process is the leader.
    pub is_leader: bool,
    /// The leader's fencing token: its election node's sequence number.
    /// Every new leader's is higher than any before it.
    pub token: Option<u64>,
}

/// This process's standing: what the election said, checked against the
/// lease and the connection. The only way to read leadership, so no
/// reader can skip the check.
#[derive(Debug, Clone)]
pub struct Standing {
    claim: watch::Receiver<Leadership>,
    lease: Arc<Lease>,
    state: watch::Receiver<ZkState>,
}

impl Standing {
    /// Reads `claim` (published by [`stand`]) under `lease`, while `state`
    /// says the session is connected.
    pub fn new(
        claim: watch::Receiver<Leadership>,
        lease: Arc<Lease>,
        state: watch::Receiver<ZkState>,
    ) -> Standing {
        Standing {
            claim,
            lease,
            state,
        }
    }

    /// Leadership now: this process leads only while the election says so,
    /// the session is connected and the lease holds.
    pub fn now(&self) -> Leadership {
        let mut leadership = self.claim.borrow().clone();
        leadership.is_leader = leadership.is_leader
            && *self.state.borrow() == ZkState::Connected
            && self.lease.holds(Instant::now());
        leadership
    }
}

/// A named lock, held until dropped or the session ends.
#[derive(Debug)]
pub struct Grant<'a> {
    /// The fencing token: the lock node's sequence number, higher for
    /// every later holder.
    pub token: u64,
    _lock: LockClient<'a>,
}

/// Lock nodes, and the directories above them, get `acls`.
fn lock_options(acls: Acls<'_>) -> Result<LockOptions<'_>, Error> {
    LockOptions::new(acls).with_ancestor_options(CreateMode::Persistent.with_acls(acls))
}

/// Takes the lock `name` for `holder`, waiting as long as it takes; the
/// lock is released when the returned grant drops or the session ends.
/// Its nodes get `acls`.
///
/// # Errors
/// The ZooKeeper error.
pub async fn lock<'a>(
    client: &'a Client,
    name: &str,
    holder: &str,
    acls: Acls<'_>,
) -> Result<Grant<'a>, Error> {
    let dir = child(LOCKS, name);
    let prefix = LockPrefix::new_curator(&dir, "lock-")?;
    let lock = client
        .lock(prefix, holder.as_bytes(), lock_options(acls)?)
        .await?;
    let token = sequence(lock.lock_path()).ok_or(Error::RuntimeInconsistent)?;
    Ok(Grant { token, _lock: lock })
}

/// Stands for election as `id` and keeps `claim` current: who leads now,
/// whether it is this process (recognised by its own election node, never
/// by id), and the leader's token. While leading, renews `lease` by
/// checking its election node is still its session's. Runs until the
/// session ends or an error other than a lost connection. Its nodes get
/// `acls`.
///
/// # Errors
/// The ZooKeeper error that stopped it; [`Error::NoNode`] when this
/// process's election node vanished.
pub async fn stand(
    client: &Client,
    id: &str,
    poll: Duration,
    claim: &watch::Sender<Leadership>,
    lease: &Lease,
    acls: Acls<'_>,
) -> Result<(), Error> {
    let (won, mut ours) = watch::channel(None::<String>);
    let campaign = async {
        let prefix = LockPrefix::new_curator(ELECTION, "leader-")?;
        let lock = client
            .lock(prefix, id.as_bytes(), lock_options(acls)?)
            .await?;
        let path = lock.lock_path().to_string();
        tracing::info!(id, node = %path, "elected leader");
        loop {
            let sent = Instant::now();
            let stat = retrying(client, || client.check_stat(&path)).await?;
            match stat {
                Some(stat) if stat.ephemeral_owner == client.session_id().0 => lease.renew(sent),
                _ => return Err(Error::NoNode),
            }
            won.send_if_modified(|w| {
                let first = w.is_none();
                *w = Some(path.clone());
                first
            });
            tokio::time::sleep(lease.renew_every()).await;
        }
    };
    let observe = async {
        loop {
            let (names, watcher) =
                retrying(client, || client.list_and_watch_children(ELECTION)).await?;
            let leading = lowest(&names);
            let leader = match leading {
                Some(name) => {
                    match retrying(client, || client.get_data(&child(ELECTION, name))).await {
                        Ok((data, _)) => Some(String::from_utf8_lossy(&data).into_owned()),
                        Err(Error::NoNode) => continue,
                        Err(e) => return Err(e),
                    }
                }
                None => None,
            };
            let is_leader = leading.is_some_and(|name| {
                ours.borrow_and_update()
                    .as_deref()
                    .is_some_and(|path| path == child(ELECTION, name))
            });
            let now = Leadership {
                leader,
                is_leader,
                token: leading.and_then(|name| sequence(name)),
            };
            claim.send_if_modified(|known| {
                let changed = *known != now;
                *known = now;
                changed
            });
            tokio::select! {
                _ = watcher.changed() => {}
                _ = ours.changed() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    };
    let result = tokio::select! {
        r = campaign => r,
        r = observe => r,
    };
    lease.revoke();
    claim.send_replace(Leadership::default());
    result
}

/// The contender with the lowest sequence number (the last 10 digits).
fn lowest(names: &[String]) -> Option<&String> {
    names
        .iter()
        .min_by_key(|n| n.get(n.len().saturating_sub(10)..).unwrap_or(n).to_string())
}

/// The sequence number ending a sequential node's name or path.
fn sequence(name: &str) -> Option<u64> {
    name.get(name.len().checked_sub(10)?..)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_sequence_wins_whatever_the_prefix() {
        let names = vec![
            "_c_9f-leader-0000000012".to_string(),
            "_c_01-leader-0000000003".to_string(),
            "_c_aa-leader-0000000007".to_string(),
        ];
        assert_eq!(lowest(&names).unwrap(), "_c_01-leader-0000000003");
        assert_eq!(lowest(&[]), None);
    }

    #[test]
    fn a_token_is_the_sequence_number_ending_the_node() {
        assert_eq!(sequence("/dlb/election/_c_01-leader-0000000042"), Some(42));
        assert_eq!(sequence("_c_9f-leader-0000000012"), Some(12));
        assert_eq!(sequence("short"), None);
        assert_eq!(sequence("_c_9f-leader-00000000x2"), None);
    }
}
