//! What a pass reads from and writes to ZooKeeper: each node's part, an
//! entry's version, and the mark of a drained node.

use std::collections::HashMap;

use coordination::admin::{self, AdminError, Change};
use coordination::paths::NodeEntry;

use super::super::Stopped;
use super::super::roles::{self, Part};
use super::Pass;

impl Pass<'_> {
    /// What each node is to this pass, from the ZooKeeper entries.
    pub(super) async fn parts(&self) -> Result<Vec<Part>, Stopped> {
        let client = (self.app.coordinator.live_client()).ok_or(Stopped::NotLeader)?;
        let listed = admin::list_nodes(&client)
            .await
            .map_err(|e| Stopped::ZooKeeper(e.to_string()))?;
        let listed: HashMap<String, NodeEntry> = (listed.into_iter())
            .filter_map(|(id, entry)| Some((id, entry.ok()?)))
            .collect();
        let table: Vec<(&str, bool)> = (self.table.all().iter())
            .map(|n| (&*n.id, n.is_draining()))
            .collect();
        Ok(roles::parts(&table, &listed))
    }

    /// The version of node `id`'s ZooKeeper entry; `None` when it has
    /// none that reads (a static node list, or an entry deleted or broken).
    pub(super) async fn entry_version(&self, id: &str) -> Result<Option<i32>, Stopped> {
        let client = (self.app.coordinator.live_client()).ok_or(Stopped::NotLeader)?;
        match admin::read_node(&client, id).await {
            Ok((_, version)) => Ok(Some(version)),
            Err(AdminError::ZooKeeper(e)) => Err(Stopped::ZooKeeper(e.to_string())),
            Err(_) => Ok(None),
        }
    }

    /// Marks node `id` `removed` in ZooKeeper (its entry deleted when its
    /// delete was forced) if its entry is still at `version`, while this
    /// balancer leads; a changed entry waits for the next pass's check.
    pub(super) async fn mark_drained(&self, id: &str, version: i32) -> Result<(), Stopped> {
        self.check()?;
        let client = (self.app.coordinator.live_client()).ok_or(Stopped::NotLeader)?;
        match admin::change_node_at(&client, id, Change::Drained, version).await {
            Ok(Some(outcome)) => tracing::info!(node = id, ?outcome, "node drained"),
            Ok(None) => tracing::info!(node = id, "node entry changed during the drained check"),
            Err(e) => tracing::warn!(node = id, error = ?e, "drained node not marked"),
        }
        Ok(())
    }
}
