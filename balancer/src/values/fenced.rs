//! The data-node writes the rebalancer makes, under the leader's fencing
//! token ([`crate::fence`]): copying a version to a key's new replica,
//! and deleting the copy the key's old replica kept, each the unfenced
//! script refused once the node has seen a higher token; and a raise of
//! the node's token alone.

use std::sync::LazyLock;

use redis::Script;

use super::{APPLY_LUA, Applied, DROP_IF_AT_LUA, Version, apply_args};
use crate::backend::{Backend, BackendError};
use crate::fence;

static FENCED_APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(&fence::wrap(APPLY_LUA)));
static FENCED_DROP_IF_AT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&fence::wrap(DROP_IF_AT_LUA)));
static RAISE: LazyLock<Script> = LazyLock::new(|| Script::new(&fence::wrap(fence::NOTHING)));

/// [`super::apply`] under the fencing `token`.
pub async fn apply_fenced(
    node: &Backend,
    key: &str,
    version: &Version,
    max_drift_ms: u64,
    token: u64,
) -> Result<Applied, BackendError> {
    let mut call = FENCED_APPLY.key(key);
    call.key(fence::NODE_FENCE);
    apply_args(&mut call, version, max_drift_ms);
    call.arg(token);
    let answer = node.script(&call).await?;
    Ok(Applied::from_reply(answer))
}

/// [`super::drop_if_at`] under the fencing `token`.
pub async fn drop_if_at_fenced(
    node: &Backend,
    key: &str,
    timestamp: &str,
    token: u64,
) -> Result<bool, BackendError> {
    let mut call = FENCED_DROP_IF_AT.key(key);
    call.key(fence::NODE_FENCE).arg(timestamp).arg(token);
    let dropped: i64 = node.script(&call).await?;
    Ok(dropped == 1)
}

/// Raises the node's token to `token`, or says it has a higher one.
pub async fn raise_fence(node: &Backend, token: u64) -> Result<(), BackendError> {
    let mut call = RAISE.key(fence::NODE_FENCE);
    call.arg(token);
    node.script::<i64>(&call).await.map(drop)
}
