//! The index edits the rebalancer makes, under the leader's fencing token
//! ([`crate::fence`]): the same compare-and-set on a key's replica set as
//! a write's [`Index::swap_members`], refused once the index has seen a
//! higher token.

use std::sync::LazyLock;

use redis::Script;

use super::{Index, IndexError, SWAP_MEMBERS_LUA, Swap, entry_key};
use crate::fence;

static FENCED_SWAP_MEMBERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(&fence::wrap(SWAP_MEMBERS_LUA)));

impl Index {
    /// [`Index::swap_members`] under the fencing `token`: a
    /// [`crate::backend::BackendError::Fenced`] once the index has taken a
    /// higher one.
    pub async fn swap_members_fenced(
        &self,
        key: &str,
        expected: &[String],
        gone: &[&str],
        added: &[&str],
        token: u64,
    ) -> Result<Swap, IndexError> {
        let mut call = FENCED_SWAP_MEMBERS.key(entry_key(key));
        call.key(fence::INDEX_FENCE)
            .arg(gone.join(","))
            .arg(added.join(","))
            .arg(expected.join(","))
            .arg(token);
        let found: Option<(i64, String)> = self.guarded(self.backend.script(&call)).await?;
        Ok(Swap::from_reply(found))
    }
}
