//! A key's time to live changed without writing it (`EXPIRE`, `PEXPIRE`,
//! `PERSIST` on the RESP port): no new version, so a concurrent write is
//! never undone. The version is read first; the index entry is made to
//! outlive the new time to live; then every node that may hold the key
//! takes the new time to live only if it still holds that version
//! ([`crate::values::expire_if_at`]). A replica holding a newer version
//! keeps that write's time to live: the change is ordered before it.

use futures_util::future::join_all;

use super::Ops;
use crate::answer::Found;
use crate::error::Error;
use crate::values;

impl Ops {
    /// Sets `key`'s time to live to `ttl_ms` (`None`: the key no longer
    /// expires); answers the version read, with its time to live before
    /// the change, or `None` when the key does not exist. If a node that
    /// may hold the key cannot be reached, the outcome is unknown: the
    /// replicas that answered have the new time to live.
    pub async fn expire(&self, key: &str, ttl_ms: Option<u64>) -> Result<Option<Found>, Error> {
        let Some(found) = self.get(key).await? else {
            return Ok(None);
        };
        let index = &self.context.index;
        if let Err(e) = index.outlive(key, ttl_ms).await {
            self.context.index_failed(&e);
            return Err(Error::IndexUnavailable(e.to_string()));
        }
        let nodes = self.nodes.current();
        let (set, _) = self.holding(&nodes, key).await;
        let replies = join_all(
            set.iter()
                .filter_map(|id| nodes.by_id(id))
                .map(|node| async {
                    let set =
                        values::expire_if_at(&node.backend, key, &found.version, ttl_ms).await;
                    if let Err(e) = &set {
                        self.context.node_failed(node, e);
                    }
                    set
                }),
        )
        .await;
        // A cached location's `writable` and expiry assume the old TTL.
        self.locations.remove(key);
        self.near.invalidate(key);
        match replies.into_iter().find_map(Result::err) {
            Some(e) => Err(Error::from(e)),
            None => Ok(Some(found)),
        }
    }
}
