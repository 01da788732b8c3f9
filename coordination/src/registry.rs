//! Registrations and discovery.

use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode, Error, MultiWriteError};

/// Creates `path` and its parents as persistent nodes if missing.
///
/// # Errors
/// The ZooKeeper error, when not "already exists".
pub async fn ensure_path(client: &Client, path: &str) -> Result<(), Error> {
    match client
        .mkdir(path, &CreateMode::Persistent.with_acls(Acls::anyone_all()))
        .await
    {
        Ok(()) | Err(Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Registers `path` as an ephemeral node holding `data`. A node already
/// there with the same data is a leftover of an earlier session of ours and
/// is replaced; one with other data belongs to another process, and the
/// registration fails with [`Error::NodeExists`] rather than evict it.
///
/// # Errors
/// The ZooKeeper error.
pub async fn register_ephemeral(client: &Client, path: &str, data: &[u8]) -> Result<(), Error> {
    let options = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    match client.create(path, data, &options).await {
        Ok(_) => Ok(()),
        Err(Error::NodeExists) => {
            match client.get_data(path).await {
                Ok((existing, _)) if existing != data => return Err(Error::NodeExists),
                Ok(_) | Err(Error::NoNode) => {}
                Err(e) => return Err(e),
            }
            match client.delete(path, None).await {
                Ok(()) | Err(Error::NoNode) => {}
                Err(e) => return Err(e),
            }
            client.create(path, data, &options).await.map(drop)
        }
        Err(e) => Err(e),
    }
}

/// Creates `path` as a persistent node holding `data` unless it exists
/// (an existing entry, e.g. one an operator marked draining, is kept).
///
/// # Errors
/// The ZooKeeper error.
pub async fn ensure_persistent(client: &Client, path: &str, data: &[u8]) -> Result<(), Error> {
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    match client.create(path, data, &options).await {
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
) -> Result<bool, Error> {
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
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
        }) => ensure_persistent(client, marker, &[]).await.map(|()| false),
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
        let (names, watcher) = client.list_and_watch_children(parent).await?;
        let mut listing = Vec::with_capacity(names.len());
        for name in names {
            match client.get_data(&crate::paths::child(parent, &name)).await {
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
