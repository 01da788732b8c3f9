//! The rebalancer's metric families: keys and bytes moved, and whether a
//! plan is being carried out. Only the leader's counters move.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// `dlb_migrations_total{outcome}`, `dlb_migration_bytes_total`,
/// `dlb_rebalance_active`.
#[derive(Debug, Clone)]
pub struct Moves {
    /// Keys the rebalancer tried to move, by outcome: `moved`, `skipped`
    /// (the key's set changed under the move, a member was down, or the
    /// key went away; it is tried again on a later pass) and `fenced` (a
    /// server had seen a newer leader's token).
    pub migrations: IntCounterVec,
    /// Value bytes copied to the keys' new nodes.
    pub bytes: IntCounter,
    /// 1 while this balancer carries out a plan.
    pub active: IntGauge,
}

impl Moves {
    /// The families, registered in `registry`.
    pub(super) fn registered(registry: &Registry) -> Moves {
        let moves = Moves {
            migrations: IntCounterVec::new(
                Opts::new(
                    "dlb_migrations_total",
                    "Keys the rebalancer moved, by outcome",
                ),
                &["outcome"],
            )
            .expect("valid metric"),
            bytes: IntCounter::new(
                "dlb_migration_bytes_total",
                "Value bytes the rebalancer copied to keys' new nodes",
            )
            .expect("valid metric"),
            active: IntGauge::new(
                "dlb_rebalance_active",
                "1 while this balancer (the leader) carries out a rebalance plan",
            )
            .expect("valid metric"),
        };
        for family in [
            Box::new(moves.migrations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(moves.bytes.clone()),
            Box::new(moves.active.clone()),
        ] {
            registry.register(family).expect("metric names are unique");
        }
        moves
    }
}
