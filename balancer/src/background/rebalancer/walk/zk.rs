//! What a pass reads from and writes to ZooKeeper: each node's part, an
//! entry's version, the mark of a drained node, and the journal of its
//! moves ([`super::super::journal`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use coordination::admin::{self, AdminError, Change};
use coordination::journal::{self, Claimed, JournalError};
use coordination::paths::NodeEntry;
use coordination::{Acls, Client};
use tokio::time::Instant;

use super::super::Stopped;
use super::super::journal::{finished, moving, resume};
use super::super::migrate::Move;
use super::super::roles::{self, Part};
use super::Pass;

impl From<JournalError> for Stopped {
    fn from(e: JournalError) -> Stopped {
        match e {
            JournalError::Fenced => Stopped::Fenced(e.to_string()),
            e => Stopped::ZooKeeper(e.to_string()),
        }
    }
}

impl Pass<'_> {
    /// What each node is to this pass, from the ZooKeeper entries; notes
    /// the ids of the entries that may hold keys.
    pub(super) async fn parts(&mut self) -> Result<Vec<Part>, Stopped> {
        let client = (self.app.coordinator.live_client()).ok_or(Stopped::NotLeader)?;
        let listed = admin::list_nodes(&client)
            .await
            .map_err(|e| Stopped::ZooKeeper(e.to_string()))?;
        // An entry that does not read may still hold keys.
        let holding = (listed.iter()).filter(|(_, e)| e.as_ref().map_or(true, |e| !e.is_emptied()));
        self.listed = Some(holding.map(|(id, _)| id.clone()).collect());
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

    /// The live session's client and the ACL of the znodes it creates.
    fn zookeeper(&self) -> Result<(Client, Acls<'static>), Stopped> {
        let zk = (self.app.config.zookeeper()).ok_or(Stopped::NotLeader)?;
        let client = (self.app.coordinator.live_client()).ok_or(Stopped::NotLeader)?;
        Ok((client, zk.acls()))
    }

    /// The journal as this leader claimed it, claimed first under a new
    /// token, which then takes over the hand-offs earlier leaders left.
    async fn claimed(&mut self) -> Result<Claimed, Stopped> {
        if let Some(claimed) = self.carried.claimed.filter(|c| c.token == self.token) {
            return Ok(claimed);
        }
        let (client, acls) = self.zookeeper()?;
        let claimed = journal::claim(&client, self.token, acls).await?;
        let entries =
            (journal::entries(&client).await).map_err(|e| Stopped::ZooKeeper(e.to_string()))?;
        let readable = (entries.into_iter()).filter_map(|(path, entry)| match entry {
            Ok(entry) => Some((path, entry)),
            Err(reason) => {
                tracing::warn!(%path, %reason, "a rebalance journal entry does not read; left");
                None
            }
        });
        let taken = resume(readable.collect(), self.token, &self.live_journal());
        if !taken.is_empty() {
            // The earlier leader may have narrowed these sets a moment
            // ago: a write that read the wide set may still land.
            tracing::info!(
                keys = taken.len(),
                "hand-offs taken over from an earlier leader"
            );
            self.carried
                .open
                .extend(taken.iter().map(|h| h.journal.clone()));
            let due = Instant::now() + self.grace();
            self.carried.handing.push_back((due, taken));
        }
        self.carried.claimed = Some(claimed);
        Ok(claimed)
    }

    /// The journal children that work of this process still names.
    fn live_journal(&self) -> HashSet<&str> {
        let handing = self.carried.handing.iter().flat_map(|(_, h)| h);
        (self.waiting.iter().map(|b| &*b.journal))
            .chain(handing.chain(&self.carried.leftovers).map(|h| &*h.journal))
            .collect()
    }

    /// Claims the journal for this pass's token, if not yet done.
    pub(super) async fn claim_journal(&mut self) -> Result<(), Stopped> {
        self.check()?;
        self.claimed().await.map(drop)
    }

    /// Writes `moves` to the journal before their sets are widened;
    /// returns the child's path.
    pub(super) async fn record(&mut self, moves: &[Move]) -> Result<Arc<str>, Stopped> {
        self.check()?;
        let claimed = self.claimed().await?;
        let (client, acls) = self.zookeeper()?;
        let path: Arc<str> = journal::record(&client, claimed, moving(moves), acls)
            .await?
            .into();
        self.carried.open.insert(path.clone());
        Ok(path)
    }

    /// Clears the journal children no batch or hand-off still names.
    pub(super) async fn clear_journal(&mut self) -> Result<(), Stopped> {
        let done = finished(&self.carried.open, &self.live_journal());
        if done.is_empty() {
            return Ok(());
        }
        self.check()?;
        let claimed = self.claimed().await?;
        let (client, _) = self.zookeeper()?;
        for path in done {
            journal::clear(&client, claimed, &path).await?;
            self.carried.open.remove(&path);
        }
        Ok(())
    }
}
