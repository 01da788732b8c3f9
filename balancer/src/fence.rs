//! Writes made under leadership carry the leader's fencing token
//! (`coordination::election`), and the server they go to refuses them once
//! it has seen a higher one. A leader paused (GC, SIGSTOP) past its lease
//! may act after another has taken over; its writes then change nothing.
//!
//! Each server keeps the highest token it has taken in one key: the index
//! under [`INDEX_FENCE`], each data node under [`NODE_FENCE`], a name no
//! client can write (keys are UTF-8 text at both front doors, and this one
//! is not). A fenced script is an ordinary script ([`wrap`]) with the
//! fence key appended to its keys and the token to its arguments: it
//! refuses a lower token with a `FENCED` error before doing anything, runs
//! the body as it is, then raises the stored token. Raising comes after
//! the body so that a full data node still refuses the body's first write
//! (as `values.rs` relies on); on a full node the raise itself may fail
//! without failing the call, and that node then keeps its older token.
//! The leader raises its token on every server each pass ([`NOTHING`],
//! fenced), so a server refuses a former leader whether or not the new
//! one has moved a key there; a server that restarted empty has no token
//! until that next raise.
//!
//! Only the rebalancer writes fenced: the request path's writes are
//! ordered by their versions, not by leadership.

/// The index's fence key.
pub const INDEX_FENCE: &str = "dlb:fence";

/// A data node's fence key: not UTF-8, so no client key can be it.
pub const NODE_FENCE: &[u8] = b"\xffdlb:fence";

/// A script body that does nothing: fenced, it raises the server's token
/// alone (a new leader's first act on each server).
pub const NOTHING: &str = "return 1";

/// The fenced form of the script `body`, which reads `KEYS` and `ARGV`
/// as it would unfenced. Call it with the fence key as the last key and
/// the token as the last argument.
pub fn wrap(body: &str) -> String {
    format!(
        r"
        local fence = table.remove(KEYS)
        local token = tonumber(table.remove(ARGV))
        local seen = tonumber(redis.call('GET', fence) or '0')
        if token < seen then
            return redis.error_reply('FENCED token ' .. token .. ' is below ' .. seen)
        end
        local function body()
            {body}
        end
        local result = body()
        if token > seen then
            redis.pcall('SET', fence, token)
        end
        return result
        "
    )
}
