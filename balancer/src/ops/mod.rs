//! The cache operations behind the front doors: read, write and delete a
//! key across its replicas. Each public operation is a short function
//! that names its steps; follow them in this order:
//!
//! - [`read`]: near cache → location cache → index → hashing fallback,
//!   then the replicas in order;
//! - [`write`]: claim the replica set in the index (or, for an overwrite,
//!   confirm the cached one: [`overwrite`]) → fan the version out
//!   ([`fanout`]) → wait for the acknowledgement level;
//! - [`delete`]: find the holders → fan a tombstone out → shorten the
//!   index entry's life to the tombstone's;
//! - [`expire`]: read the newest version → write it again with the new
//!   time to live, stamped just after it, only over it;
//! - [`inline`]: a write's fan-out driven in the request's task, spawned
//!   only if the request stops waiting before it ends;
//! - [`search`]: the hashing fallback's I/O, asking nodes that
//!   [`crate::fallback`] chose.
//!
//! Decisions live in pure modules ([`crate::fallback`],
//! [`crate::replicas`], [`crate::acks`], [`crate::newest`],
//! [`crate::placement`]); these files do the I/O they decide.

mod delete;
mod expire;
mod fanout;
mod inline;
mod overwrite;
mod read;
mod search;
mod settle;
mod write;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::BackendError;
use crate::config::PlacementConfig;
use crate::config::ReplicationConfig;
use crate::hlc::Clock;
use crate::index::{Index, IndexError};
use crate::locations::{self, Location, LocationCache};
use crate::metrics::Metrics;
use crate::near::NearCache;
use crate::nodes::{Membership, Node};
use crate::repairs::RepairQueue;

/// The cache operations over the node table, the index and the caches.
#[derive(Debug)]
pub struct Ops {
    /// The data nodes.
    pub(crate) nodes: Arc<Membership>,
    /// Values kept in the balancer.
    pub(crate) near: Arc<NearCache>,
    /// Key locations kept in the balancer.
    pub(crate) locations: Arc<LocationCache>,
    /// The write timestamps' clock.
    pub(crate) clock: Clock,
    /// Replication settings.
    pub(crate) replication: ReplicationConfig,
    /// What a write's fan-out carries into its own task.
    pub(crate) context: Context,
}

/// The parts an operation shares with the fan-out task it spawns.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// The key-location index.
    pub(crate) index: Arc<Index>,
    /// Where replicas found out of line are queued.
    pub(crate) repairs: Arc<RepairQueue>,
    /// Metric families.
    pub(crate) metrics: Arc<Metrics>,
    /// Where new keys and substitutes go.
    pub(crate) placement: PlacementConfig,
    /// Failures in a row that eject a node.
    pub(crate) eject_after: u32,
    /// How far ahead of a node's clock a write may be stamped, in ms.
    pub(crate) max_drift_ms: u64,
}

impl Context {
    /// A request to `node` failed: counts it toward ejection.
    fn node_failed(&self, node: &Node, error: &BackendError) {
        self.metrics.count_failure(node, error, self.eject_after);
    }

    /// Counts a failed or skipped index call.
    fn index_failed(&self, e: &IndexError) {
        self.metrics.count_index_error(e);
    }
}

impl Ops {
    /// Counts where a read found (or did not find) its key.
    fn count_lookup(&self, source: &str) {
        self.context
            .metrics
            .lookups
            .with_label_values(&[source])
            .inc();
    }

    /// Keeps the key's replica set in the location cache, unless the index
    /// changed the entry since `reservation`; `writable` as
    /// [`Location::writable`] says.
    fn remember(
        &self,
        key: &str,
        reservation: locations::LocationReservation,
        set: Vec<Arc<str>>,
        epoch: u64,
        ttl_ms: Option<u64>,
        writable: bool,
    ) {
        if set.is_empty() {
            return;
        }
        let location = Location {
            nodes: set.into(),
            epoch,
            expires_at: ttl_ms.map(|ms| Instant::now() + Duration::from_millis(ms)),
            writable,
        };
        self.locations.record(key, reservation, location);
    }
}
