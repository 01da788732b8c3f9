//! Registrations and discovery. An ephemeral registration belongs to the
//! session that created it (its `ephemeralOwner`): it is never taken over
//! by data or by name, only waited for.
//!
//! Every function that creates a znode takes the ACL to give it
//! ([`crate::session::ZkConfig::acls`]).

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Acls, Client, CreateMode, Error, MultiWriteError, Stat};

use crate::reconnect::retrying;

/// Creates `path` and its parents as persistent nodes if missing.
///
/// # Errors
/// The ZooKeeper error, when not "already exists".
pub async fn ensure_path(client: &Client, path: &str, acls: Acls<'_>) -> Result<(), Error> {
    let options = CreateMode::Persistent.with_acls(acls);
    match retrying(client, || client.mkdir(path, &options)).await {
        Ok(()) | Err(Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Waits until `path` is absent or owned by this client's session, at
/// most `wait`. A node another session owns may be a leftover of a killed
/// process, which ZooKeeper removes a session timeout after that process
/// went silent; one that outlives `wait` belongs to a live process.
/// Answers the node's stat when it is this session's own.
///
/// # Errors
/// [`Error::NodeExists`] when another session still owns it after `wait`;
/// any other ZooKeeper error.
pub async fn await_ownable(
    client: &Client,
    path: &str,
    wait: Duration,
) -> Result<Option<Stat>, Error> {
    let deadline = Instant::now() + wait;
    loop {
        let (stat, watcher) = retrying(client, || client.check_and_watch_stat(path)).await?;
        match stat {
            None => return Ok(None),
            Some(stat) if stat.ephemeral_owner == client.session_id().0 => return Ok(Some(stat)),
            Some(stat) => {
                if Instant::now() >= deadline {
                    tracing::warn!(
                        path,
                        owner = format!("{:#x}", stat.ephemeral_owner),
                        "registered by another live session"
                    );
                    return Err(Error::NodeExists);
                }
                tokio::select! {
                    _ = watcher.changed() => {}
                    () = tokio::time::sleep_until(deadline) => {}
                }
            }
        }
    }
}

/// Registers `path` as an ephemeral node of this session holding `data`.
/// A node another session owns is never removed: the registration waits
/// up to `wait` for it to go (see [`await_ownable`]). A node this session
/// already owns (a create whose answer was lost) is kept, its data set at
/// the version read.
///
/// # Errors
/// [`Error::NodeExists`] when another live session holds `path`; any
/// other ZooKeeper error.
pub async fn register_ephemeral(
    client: &Client,
    path: &str,
    data: &[u8],
    wait: Duration,
    acls: Acls<'_>,
) -> Result<(), Error> {
    let options = CreateMode::Ephemeral.with_acls(acls);
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match await_ownable(client, path, left).await? {
            Some(stat) => {
                let (held, _) = retrying(client, || client.get_data(path)).await?;
                if held != data {
                    client.set_data(path, data, Some(stat.version)).await?;
                }
                return Ok(());
            }
            None => match retrying(client, || client.create(path, data, &options)).await {
                Ok(_) => return Ok(()),
                Err(Error::NodeExists) => {} // ours (a lost answer) or a newcomer's: look again
                Err(e) => return Err(e),
            },
        }
    }
}

/// Creates `path` as a persistent node holding `data` unless it exists
/// (an existing entry, e.g. one an operator marked draining, is kept).
///
/// # Errors
/// The ZooKeeper error.
pub async fn ensure_persistent(
    client: &Client,
    path: &str,
    data: &[u8],
    acls: Acls<'_>,
) -> Result<(), Error> {
    let options = CreateMode::Persistent.with_acls(acls);
    match retrying(client, || client.create(path, data, &options)).await {
        Ok(_) | Err(Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `path` holding `data` once ever: together with the persistent
/// `marker`, in one transaction, unless `marker` exists. So an entry that
/// was created once and then deleted (say by an operator) is never created
/// again through here, by this process or any other, until someone
/// deletes `marker`. An entry that exists without its marker (made by
/// hand, or before markers) gets the marker and is kept as it is. Returns
/// whether `path` was created.
///
/// # Errors
/// The ZooKeeper error.
pub async fn create_once(
    client: &Client,
    path: &str,
    marker: &str,
    data: &[u8],
    acls: Acls<'_>,
) -> Result<bool, Error> {
    let options = CreateMode::Persistent.with_acls(acls);
    let mut both = client.new_multi_writer();
    both.add_create(marker, &[], &options)?;
    both.add_create(path, data, &options)?;
    match both.commit().await {
        Ok(_) => Ok(true),
        Err(MultiWriteError::OperationFailed {
            index: 0,
            source: Error::NodeExists,
        }) => Ok(false),
        Err(MultiWriteError::OperationFailed {
            index: 1,
            source: Error::NodeExists,
        }) => ensure_persistent(client, marker, &[], acls)
            .await
            .map(|()| false),
        Err(e) => Err(e.into()),
    }
}

/// Reads every child of `parent` as `(name, data)`, sets a watch on the
/// children, and returns once they change or `poll` has passed (the
/// polling fallback for a watch that was lost), handing each listing to
/// `on_listing`. Runs until an error, which it returns.
///
/// # Errors
/// The ZooKeeper error that stopped it.
pub async fn follow_children(
    client: &Client,
    parent: &str,
    poll: Duration,
    mut on_listing: impl FnMut(Vec<(String, Vec<u8>)>),
) -> Result<(), Error> {
    loop {
        let (names, watcher) = retrying(client, || client.list_and_watch_children(parent)).await?;
        let mut listing = Vec::with_capacity(names.len());
        for name in names {
            let path = crate::paths::child(parent, &name);
            match retrying(client, || client.get_data(&path)).await {
                Ok((data, _)) => listing.push((name, data)),
                Err(Error::NoNode) => {} // gone between the listing and the read
                Err(e) => return Err(e),
            }
        }
        on_listing(listing);
        tokio::select! {
            _ = watcher.changed() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}
