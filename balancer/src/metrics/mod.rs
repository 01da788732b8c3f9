//! Every metric the balancer exports, registered in one place with help
//! text and units. Each `App` owns its registry, so tests read their own.

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

mod labels;
mod moves;
mod record;
mod stats;

use labels::{OPS, OUTCOMES};
pub use labels::{Op, Outcome};
pub use moves::Moves;
pub use stats::Stats;

/// The balancer's metric families.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `dlb_requests_total{op, outcome}`: cache operations by outcome.
    requests: IntCounterVec,
    /// `dlb_request_duration_seconds{op}`.
    latency: HistogramVec,
    /// Handles resolved once, so the request path does no label lookups:
    /// `[op][outcome]` counters and `[op]` histograms.
    request_counters: Vec<Vec<Option<IntCounter>>>,
    latency_histograms: Vec<Histogram>,
    /// `dlb_location_lookups_total{source}`: where a read found its key:
    /// `near_cache` (the value itself, no node asked), or its location in
    /// the `cache`, the `index` or by `fallback`; else `none`.
    pub lookups: IntCounterVec,
    /// `dlb_write_locations_total{source}`: where a write found its
    /// replica set: the `cache` (confirmed, no claim), the `index` (a
    /// claim, nothing usable cached), or `cache_stale` (a cached set not
    /// confirmed: the index changed it, or the fence timed out; then
    /// claimed).
    pub write_locations: IntCounterVec,
    /// `dlb_index_errors_total`: index calls that failed or were skipped.
    pub index_errors: IntCounterVec,
    /// `dlb_connections_closed_total{reason}`: client connections the
    /// front door closed or refused (`slow_handshake`, `slow_headers`,
    /// `idle`, `refused`).
    connections_closed: IntCounterVec,
    /// `dlb_placements_total{node}`: new keys placed per node.
    pub placements: IntCounterVec,
    /// `dlb_failovers_total{op}`: reads served by a replica after the
    /// primary failed, and writes that moved a replica to a substitute node.
    pub failovers: IntCounterVec,
    /// `dlb_repairs_total{outcome}`: replica repairs by how they ended
    /// (`repaired`, `in_sync`, `gave_up`, `dropped` when the queue was full).
    pub repairs: IntCounterVec,
    /// `dlb_read_repairs_total`: repairs a read asked for.
    pub read_repairs: IntCounter,
    /// `dlb_repairs_pending`: keys waiting for a repair (replica lag).
    pub repairs_pending: IntGauge,
    /// `dlb_resyncs_total`: resyncs of nodes that came back.
    pub resyncs: IntCounter,
    /// The rebalancer's families.
    pub moves: Moves,
    /// `dlb_stale_copies_removed_total`: copies dropped from nodes that
    /// are no longer a key's replicas.
    pub stale_copies_removed: IntCounter,
    /// `dlb_index_rebuilding`: 1 while this balancer finds the index
    /// incomplete (it lost its data and is not rebuilt yet), so keys it
    /// lacks are looked for on every node.
    pub index_rebuilding: IntGauge,
    /// `dlb_index_rebuild_keys_total`: copies found on the nodes and
    /// adopted into the index by this balancer's rebuilds.
    pub index_rebuild_keys: IntCounter,
    /// `dlb_clock_drift_total{kind}`: timestamps past the drift bound:
    /// `not_adopted` (seen on a node, too far ahead of this balancer's
    /// clock) and `refused` (this balancer's write, too far ahead of a
    /// node's clock).
    pub clock_drift: IntCounterVec,
    /// `dlb_ejections_total{node}`: nodes marked down by failures in a row.
    pub ejections: IntCounterVec,
    /// `dlb_near_cache_invalidations_total`: keys the data nodes said
    /// changed, dropped from the near cache.
    pub near_invalidations: IntCounter,
    /// `dlb_near_cache_clears_total`: times the near cache was emptied
    /// (an invalidation stream opened or was lost, a node was flushed).
    pub near_clears: IntCounter,
    /// `dlb_location_cache_clears_total`: times the location cache was
    /// emptied (the index's invalidation stream opened or was lost).
    pub location_clears: IntCounter,
    near_entries: IntGauge,
    near_bytes: IntGauge,
    node_used: IntGaugeVec,
    node_capacity: IntGaugeVec,
    node_utilization: GaugeVec,
    node_up: IntGaugeVec,
    nodes_up: IntGauge,
    zookeeper_connected: IntGauge,
    leader: IntGauge,
}

impl Metrics {
    /// Registers every family in a fresh registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let (ops, node) = (["op"], ["node"]);
        let buckets = vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0,
        ];
        let mut m = Metrics {
            moves: Moves::registered(&registry),
            registry,
            request_counters: Vec::new(),
            latency_histograms: Vec::new(),
            requests: IntCounterVec::new(
                Opts::new("dlb_requests_total", "Cache operations by type and outcome"),
                &["op", "outcome"],
            )
            .expect("valid metric"),
            latency: HistogramVec::new(
                HistogramOpts::new("dlb_request_duration_seconds", "Cache operation latency")
                    .buckets(buckets),
                &ops,
            )
            .expect("valid metric"),
            lookups: IntCounterVec::new(
                Opts::new(
                    "dlb_location_lookups_total",
                    "Key lookups by where they were answered: near_cache (the value itself), cache, index, fallback, or none",
                ),
                &["source"],
            )
            .expect("valid metric"),
            index_errors: IntCounterVec::new(
                Opts::new(
                    "dlb_index_errors_total",
                    "Index calls that failed or were skipped",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            connections_closed: IntCounterVec::new(
                Opts::new(
                    "dlb_connections_closed_total",
                    "Client connections closed or refused by the front door's bounds",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            write_locations: IntCounterVec::new(
                Opts::new(
                    "dlb_write_locations_total",
                    "Writes by where their replica set came from: cache (no claim), index (a claim), or cache_stale (a cached set not confirmed, then a claim)",
                ),
                &["source"],
            )
            .expect("valid metric"),
            placements: IntCounterVec::new(
                Opts::new("dlb_placements_total", "New keys placed, per node"),
                &node,
            )
            .expect("valid metric"),
            failovers: IntCounterVec::new(
                Opts::new(
                    "dlb_failovers_total",
                    "Reads served by a replica after the primary failed, and replicas moved by writes",
                ),
                &ops,
            )
            .expect("valid metric"),
            repairs: IntCounterVec::new(
                Opts::new("dlb_repairs_total", "Replica repairs, by outcome"),
                &["outcome"],
            )
            .expect("valid metric"),
            read_repairs: IntCounter::new(
                "dlb_read_repairs_total",
                "Repairs asked for by reads that found replicas disagreeing",
            )
            .expect("valid metric"),
            repairs_pending: IntGauge::new(
                "dlb_repairs_pending",
                "Keys waiting for a replica repair (replica lag)",
            )
            .expect("valid metric"),
            resyncs: IntCounter::new(
                "dlb_resyncs_total",
                "Resyncs of data nodes that came back or restarted",
            )
            .expect("valid metric"),
            stale_copies_removed: IntCounter::new(
                "dlb_stale_copies_removed_total",
                "Copies removed from nodes no longer in a key's replica set",
            )
            .expect("valid metric"),
            index_rebuilding: IntGauge::new(
                "dlb_index_rebuilding",
                "1 while the index is incomplete after losing its data: keys it lacks are looked for on every node",
            )
            .expect("valid metric"),
            index_rebuild_keys: IntCounter::new(
                "dlb_index_rebuild_keys_total",
                "Copies found on the data nodes and adopted into the index by this balancer's rebuilds",
            )
            .expect("valid metric"),
            clock_drift: IntCounterVec::new(
                Opts::new(
                    "dlb_clock_drift_total",
                    "Write timestamps past the clock drift bound: not_adopted (seen on a node) and refused (by a node)",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            ejections: IntCounterVec::new(
                Opts::new(
                    "dlb_ejections_total",
                    "Data nodes marked down after failures in a row",
                ),
                &node,
            )
            .expect("valid metric"),
            near_invalidations: IntCounter::new(
                "dlb_near_cache_invalidations_total",
                "Keys dropped from the near cache because a data node said they changed",
            )
            .expect("valid metric"),
            near_clears: IntCounter::new(
                "dlb_near_cache_clears_total",
                "Times the near cache was emptied: an invalidation stream opened or was lost",
            )
            .expect("valid metric"),
            location_clears: IntCounter::new(
                "dlb_location_cache_clears_total",
                "Times the location cache was emptied: the index's invalidation stream opened or was lost",
            )
            .expect("valid metric"),
            near_entries: IntGauge::new(
                "dlb_near_cache_entries",
                "Values (and pending reads) in the near cache",
            )
            .expect("valid metric"),
            near_bytes: IntGauge::new(
                "dlb_near_cache_bytes",
                "Bytes held by the near cache, keys and overhead included",
            )
            .expect("valid metric"),
            node_used: IntGaugeVec::new(
                Opts::new(
                    "dlb_node_used_memory_bytes",
                    "Memory used by each data node",
                ),
                &node,
            )
            .expect("valid metric"),
            node_capacity: IntGaugeVec::new(
                Opts::new("dlb_node_capacity_bytes", "Capacity of each data node"),
                &node,
            )
            .expect("valid metric"),
            node_utilization: GaugeVec::new(
                Opts::new(
                    "dlb_node_utilization_ratio",
                    "Used plus pending bytes over capacity, per data node",
                ),
                &node,
            )
            .expect("valid metric"),
            node_up: IntGaugeVec::new(
                Opts::new("dlb_node_up", "1 when the data node is up, else 0"),
                &node,
            )
            .expect("valid metric"),
            nodes_up: IntGauge::new("dlb_nodes_up", "Data nodes up").expect("valid metric"),
            zookeeper_connected: IntGauge::new(
                "dlb_zookeeper_connected",
                "1 while this balancer has a live ZooKeeper session",
            )
            .expect("valid metric"),
            leader: IntGauge::new("dlb_leader", "1 while this balancer is the elected leader")
                .expect("valid metric"),
        };
        let families: [Box<dyn prometheus::core::Collector>; 29] = [
            Box::new(m.index_rebuilding.clone()),
            Box::new(m.index_rebuild_keys.clone()),
            Box::new(m.clock_drift.clone()),
            Box::new(m.location_clears.clone()),
            Box::new(m.near_invalidations.clone()),
            Box::new(m.near_clears.clone()),
            Box::new(m.near_entries.clone()),
            Box::new(m.near_bytes.clone()),
            Box::new(m.failovers.clone()),
            Box::new(m.repairs.clone()),
            Box::new(m.read_repairs.clone()),
            Box::new(m.repairs_pending.clone()),
            Box::new(m.resyncs.clone()),
            Box::new(m.stale_copies_removed.clone()),
            Box::new(m.ejections.clone()),
            Box::new(m.zookeeper_connected.clone()),
            Box::new(m.leader.clone()),
            Box::new(m.requests.clone()),
            Box::new(m.latency.clone()),
            Box::new(m.lookups.clone()),
            Box::new(m.index_errors.clone()),
            Box::new(m.connections_closed.clone()),
            Box::new(m.write_locations.clone()),
            Box::new(m.placements.clone()),
            Box::new(m.node_used.clone()),
            Box::new(m.node_capacity.clone()),
            Box::new(m.node_utilization.clone()),
            Box::new(m.node_up.clone()),
            Box::new(m.nodes_up.clone()),
        ];
        for family in families {
            m.registry
                .register(family)
                .expect("metric names are unique");
        }
        m.request_counters = OPS
            .iter()
            .map(|op| {
                OUTCOMES
                    .iter()
                    .map(|&o| {
                        op.can_end_in(o)
                            .then(|| m.requests.with_label_values(&[op.label(), o.label()]))
                    })
                    .collect()
            })
            .collect();
        m.latency_histograms = OPS
            .iter()
            .map(|op| m.latency.with_label_values(&[op.label()]))
            .collect();
        m
    }

    /// The Prometheus text exposition of every family.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("exposition is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
