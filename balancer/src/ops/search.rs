//! The hashing fallback's I/O: ask the nodes [`crate::fallback`] chose, in
//! parallel, for their version of a key. Used when the index has no entry
//! for a key or cannot be asked: by reads (which version answers), by
//! deletes (which nodes get tombstones), by writes with the index down
//! and by writes whose claim created the key's entry (which nodes already
//! hold the key).

use std::sync::Arc;

use futures_util::future::join_all;

use super::Ops;
use crate::fallback::{self, Scope};
use crate::newest;
use crate::nodes::NodeTable;
use crate::replicas;
use crate::values::{self, Version};

/// Nodes holding a version of a key, each with the version it holds.
pub(super) type Holders = Vec<(Arc<str>, Version)>;

impl Ops {
    /// Asks the fallback nodes in parallel, but not those in `skip` (those
    /// a write goes to anyway: their own answers say whether they held the
    /// key); returns each holder with the version it has, in rank order.
    pub(super) async fn search_outside(
        &self,
        nodes: &NodeTable,
        key: &str,
        scope: Scope,
        skip: &[&str],
    ) -> Holders {
        self.search_reaching(nodes, key, scope, skip).await.0
    }

    /// [`Ops::search_outside`], and the nodes asked that answered (with
    /// or without the key): a read that reached none cannot call the key
    /// missing.
    pub(super) async fn search_reaching(
        &self,
        nodes: &NodeTable,
        key: &str,
        scope: Scope,
        skip: &[&str],
    ) -> (Holders, Vec<Arc<str>>) {
        let placing: Vec<usize> = match scope {
            Scope::Candidates => nodes.contenders(key).iter().map(|c| c.node).collect(),
            Scope::AllUp => Vec::new(),
        };
        let asked = fallback::nodes_to_ask(
            scope,
            &nodes.readable(key),
            &placing,
            &self.context.placement,
            self.replication.factor.get(),
        );
        let asked: Vec<_> = asked
            .into_iter()
            .map(|i| nodes.get(i))
            .filter(|n| !skip.contains(&&*n.id))
            .collect();
        let reads = join_all(asked.iter().map(|n| values::read(&n.backend, key))).await;
        let answered = (asked.iter().zip(&reads))
            .filter(|(_, read)| read.is_ok())
            .map(|(node, _)| node.id.clone())
            .collect();
        let holders = asked
            .into_iter()
            .zip(reads)
            .filter_map(|(node, read)| match read {
                Ok(Some(version)) => Some((node.id.clone(), version)),
                Ok(None) => None,
                Err(e) => {
                    if e.is_unreachable() {
                        self.context.node_failed(node, &e);
                    }
                    None
                }
            })
            .collect();
        (holders, answered)
    }

    /// [`Ops::search_outside`] as wide as `scope`, if one is given, with
    /// the scope.
    pub(super) async fn search_if(
        &self,
        nodes: &NodeTable,
        key: &str,
        scope: Option<Scope>,
        skip: &[&str],
    ) -> Option<(Scope, Holders)> {
        let scope = scope?;
        Some((scope, self.search_outside(nodes, key, scope, skip).await))
    }

    /// The ids of the fallback nodes that hold any version of the key,
    /// newest first.
    pub(super) async fn holders(&self, nodes: &NodeTable, key: &str, scope: Scope) -> Vec<String> {
        self.holders_reaching(nodes, key, scope).await.0
    }

    /// [`Ops::holders`], and whether any node asked answered.
    pub(super) async fn holders_reaching(
        &self,
        nodes: &NodeTable,
        key: &str,
        scope: Scope,
    ) -> (Vec<String>, bool) {
        let (mut found, answered) = self.search_reaching(nodes, key, scope, &[]).await;
        newest::sort_newest_first(&mut found);
        let ids = found.into_iter().map(|(node, _)| node.to_string());
        (ids.collect(), !answered.is_empty())
    }

    /// Where a write goes when the index cannot be asked: the nodes already
    /// holding the key, else the best of its top candidates.
    pub(super) async fn place_without_index(
        &self,
        nodes: &NodeTable,
        key: &str,
        count: usize,
    ) -> Vec<String> {
        let holders = self.holders(nodes, key, Scope::AllUp).await;
        if !holders.is_empty() {
            return holders;
        }
        replicas::unindexed(&nodes.contenders(key), &self.context.placement, count)
            .into_iter()
            .map(|i| nodes.get(i).id.to_string())
            .collect()
    }
}
