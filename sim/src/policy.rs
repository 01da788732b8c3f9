//! What every simulated policy answers: where a new key goes, what it
//! moves when the node set changes, and how a lookup finds a key without
//! an index.

use crate::cluster::Cluster;

/// How the node set changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Joined(usize),
    Draining(usize),
}

/// What a lookup of one key costs without the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// The holder's place in the order the policy asks nodes in (1 = the
    /// first node asked holds it).
    pub(crate) position: usize,
    /// Nodes asked at once by the lookup the policy runs without an index.
    pub(crate) asks: usize,
    /// Size of the policy's fixed candidate set (a lookup that finds the key
    /// within it needs no wider search).
    pub(crate) candidates: usize,
}

pub(crate) trait Policy: Send {
    fn name(&self) -> &'static str;
    /// Where balancer `b` puts a new key.
    fn place(&mut self, c: &Cluster, key: &str, b: usize) -> usize;
    /// The node set changed: rebuild, and move what the policy moves.
    fn changed(&mut self, c: &mut Cluster, change: Change);
    /// Once per tick, after the tick's arrivals.
    fn tick(&mut self, _c: &mut Cluster, _tick: u32) {}
    /// How a lookup without the index finds `key` on `holder`.
    fn lookup(&self, c: &Cluster, key: &str, holder: usize) -> Lookup;
}

/// A key's name, as the hashes see it.
pub(crate) fn key_name(key: u32) -> String {
    format!("key:{key}")
}

/// Every live key, in node order (the order a scan of the nodes finds them).
pub(crate) fn live(c: &Cluster) -> Vec<u32> {
    c.keys.iter().flatten().copied().collect()
}
