//! An overwrite through a cached location: the replica set the location
//! cache holds for the key, confirmed by a fence on the index's
//! invalidation stream to be the one the index holds, so the write needs
//! no claim (see [`crate::locations`] and docs/ARCHITECTURE.md, "Writes
//! through a cached location").

use super::Ops;
use super::write::Placed;
use crate::locations::{Location, LocationReservation};
use crate::nodes::NodeTable;

/// What the location cache offered a write.
#[derive(Debug)]
pub(super) enum Cached {
    /// A set confirmed to be the index's, and the reservation that records
    /// it again.
    Confirmed(Placed, LocationReservation),
    /// A cached set the index changed (or that could not be confirmed in
    /// time): the write claims.
    Stale,
    /// Nothing usable: the write claims.
    Absent,
}

impl Ops {
    /// An overwrite's replica set from the location cache, confirmed to be
    /// the one the index holds (see [`crate::locations`]), with the
    /// reservation that records it again. Only for a write without a TTL
    /// to an entry without one (a claim also sets the entry's TTL, which
    /// must outlive the value's), as [`Location::writable`] records.
    pub(super) async fn cached_placement(
        &self,
        nodes: &NodeTable,
        key: &str,
        ttl: Option<u64>,
    ) -> Cached {
        let index = &self.context.index;
        if ttl.is_some() || index.is_down() || !index.is_complete() {
            return Cached::Absent;
        }
        let epoch = nodes.rejoin_epoch();
        let usable = |l: &Location| l.writable && l.epoch == epoch;
        let Some((location, reservation)) = self.locations.lease(key, usable) else {
            return Cached::Absent;
        };
        if !self.locations.confirm(key, &reservation).await {
            return Cached::Stale;
        }
        let set = location.nodes.iter().map(|id| id.to_string()).collect();
        Cached::Confirmed(Placed::listed(set), reservation)
    }
}
