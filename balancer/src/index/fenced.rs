//! The index edits the rebalancer makes, under the leader's fencing token
//! ([`crate::fence`]): the same compare-and-set on a key's replica set as
//! a write's [`Index::swap_members`], the same adoption of copies as the
//! rebuild's [`Index::adopt`], and a raise of the index's token alone;
//! each refused once the index has seen a higher token.

use std::sync::LazyLock;

use redis::Script;

use super::recovery::{ADOPT_LUA, adopt_ttl};
use super::{Index, IndexError, SWAP_MEMBERS_LUA, Swap, entry_key, split_set};
use crate::fence;

static FENCED_SWAP_MEMBERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(&fence::wrap(SWAP_MEMBERS_LUA)));
static FENCED_ADOPT: LazyLock<Script> = LazyLock::new(|| Script::new(&fence::wrap(ADOPT_LUA)));
static RAISE: LazyLock<Script> = LazyLock::new(|| Script::new(&fence::wrap(fence::NOTHING)));

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

    /// [`Index::adopt`] under the fencing `token`.
    pub async fn adopt_fenced(
        &self,
        key: &str,
        members: &[&str],
        ttl_ms: Option<u64>,
        token: u64,
    ) -> Result<Vec<String>, IndexError> {
        let mut call = FENCED_ADOPT.key(entry_key(key));
        call.key(fence::INDEX_FENCE)
            .arg(members.join(","))
            .arg(adopt_ttl(ttl_ms))
            .arg(token);
        let (set, _): (String, i64) = self.guarded(self.backend.script(&call)).await?;
        Ok(split_set(&set))
    }

    /// Raises the index's token to `token`, or says it has a higher one.
    pub async fn raise_fence(&self, token: u64) -> Result<(), IndexError> {
        let mut call = RAISE.key(fence::INDEX_FENCE);
        call.arg(token);
        self.guarded(self.backend.script::<i64>(&call))
            .await
            .map(drop)
    }
}
