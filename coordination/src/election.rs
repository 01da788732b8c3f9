//! Leader election and named locks, on the standard recipe: each contender
//! creates an ephemeral sequential node and waits for the one just before
//! it to go; the lowest sequence holds the lock. Nobody herds on one
//! watch, and a dead holder's node vanishes with its session.

use std::future::pending;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client::{Acls, Client, CreateMode, Error, LockClient, LockOptions, LockPrefix};

use crate::paths::{ELECTION, LOCKS, child};

/// Who leads, as far as this process knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// The leader's id, when known.
    pub leader: Option<String>,
    /// Whether this process is the leader.
    pub is_leader: bool,
}

fn lock_options() -> Result<LockOptions<'static>, Error> {
    LockOptions::new(Acls::anyone_all())
        .with_ancestor_options(CreateMode::Persistent.with_acls(Acls::anyone_all()))
}

/// Takes the lock `name` for `holder`, waiting as long as it takes; the
/// lock is released when the returned guard drops or the session ends.
///
/// # Errors
/// The ZooKeeper error.
pub async fn lock<'a>(
    client: &'a Client,
    name: &str,
    holder: &str,
) -> Result<LockClient<'a>, Error> {
    let dir = child(LOCKS, name);
    let prefix = LockPrefix::new_curator(&dir, "lock-")?;
    client
        .lock(prefix, holder.as_bytes(), lock_options()?)
        .await
}

/// Stands for election as `id` and keeps `leadership` current: who leads
/// now, and whether it is us. Runs until the session ends or an error.
///
/// # Errors
/// The ZooKeeper error that stopped it.
pub async fn stand(
    client: &Client,
    id: &str,
    poll: Duration,
    leadership: &watch::Sender<Leadership>,
) -> Result<(), Error> {
    let campaign = async {
        let prefix = LockPrefix::new_curator(ELECTION, "leader-")?;
        let _won = client.lock(prefix, id.as_bytes(), lock_options()?).await?;
        tracing::info!(id, "elected leader");
        leadership.send_modify(|l| {
            l.is_leader = true;
            l.leader = Some(id.to_string());
        });
        pending::<Result<(), Error>>().await
    };
    let observe = async {
        loop {
            let (names, watcher) = client.list_and_watch_children(ELECTION).await?;
            let leader = match lowest(&names) {
                Some(name) => match client.get_data(&child(ELECTION, name)).await {
                    Ok((data, _)) => Some(String::from_utf8_lossy(&data).into_owned()),
                    Err(Error::NoNode) => continue,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            leadership.send_if_modified(|l| {
                let is_leader = leader.as_deref() == Some(id);
                let changed = l.leader != leader || l.is_leader != is_leader;
                l.leader = leader.clone();
                l.is_leader = is_leader;
                changed
            });
            tokio::select! {
                _ = watcher.changed() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    };
    let result = tokio::select! {
        r = campaign => r,
        r = observe => r,
    };
    leadership.send_replace(Leadership::default());
    result
}

/// The contender with the lowest sequence number (the last 10 digits).
fn lowest(names: &[String]) -> Option<&String> {
    names
        .iter()
        .min_by_key(|n| n.get(n.len().saturating_sub(10)..).unwrap_or(n).to_string())
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
}
