//! The agent's metrics, registered in one place: the latest report as
//! gauges, plus a sample counter.

use memreport::{NodeState, Report};
use prometheus::{
    Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The agent's metric families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    samples: IntCounter,
    seq: IntGauge,
    host_memory: IntGaugeVec,
    cpu: Gauge,
    node_up: IntGaugeVec,
    node_used: IntGaugeVec,
    node_maxmemory: IntGaugeVec,
    node_keys: IntGaugeVec,
    node_memory_limit: IntGaugeVec,
    connections_closed: IntCounterVec,
}

fn gauge_vec(name: &str, help: &str, label: &str) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), &[label]).expect("valid metric")
}

impl Metrics {
    /// Registers every family in a fresh registry.
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::new(),
            samples: IntCounter::new("dlb_probe_samples_total", "Reports taken").expect("valid"),
            seq: IntGauge::new(
                "dlb_probe_report_seq",
                "Sequence number of the latest report",
            )
            .expect("valid"),
            host_memory: gauge_vec(
                "dlb_probe_host_memory_bytes",
                "Host memory by kind: total, available, used",
                "kind",
            ),
            cpu: Gauge::new(
                "dlb_probe_host_cpu_percent",
                "Host CPU use, percent of all cores",
            )
            .expect("valid"),
            node_up: gauge_vec(
                "dlb_probe_node_up",
                "1 when the Redis answered INFO",
                "node",
            ),
            node_used: gauge_vec(
                "dlb_probe_node_used_memory_bytes",
                "Redis used_memory",
                "node",
            ),
            node_maxmemory: gauge_vec("dlb_probe_node_maxmemory_bytes", "Redis maxmemory", "node"),
            node_keys: gauge_vec("dlb_probe_node_keys", "Keys in the Redis", "node"),
            node_memory_limit: gauge_vec(
                "dlb_probe_node_memory_limit_bytes",
                "Memory limit of the Redis's cgroup; absent while unknown or unlimited",
                "node",
            ),
            connections_closed: IntCounterVec::new(
                Opts::new(
                    "dlb_probe_connections_closed_total",
                    "HTTP connections the agent closed early: refused (over the limit), slow_headers, idle",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        };
        let families: [Box<dyn prometheus::core::Collector>; 10] = [
            Box::new(m.samples.clone()),
            Box::new(m.seq.clone()),
            Box::new(m.host_memory.clone()),
            Box::new(m.cpu.clone()),
            Box::new(m.node_up.clone()),
            Box::new(m.node_used.clone()),
            Box::new(m.node_maxmemory.clone()),
            Box::new(m.node_keys.clone()),
            Box::new(m.node_memory_limit.clone()),
            Box::new(m.connections_closed.clone()),
        ];
        for family in families {
            m.registry
                .register(family)
                .expect("metric names are unique");
        }
        m
    }

    /// Copies a report into the gauges.
    pub fn record(&self, report: &Report) {
        self.samples.inc();
        self.seq.set(report.seq as i64);
        let mem = report.memory;
        for (kind, bytes) in [
            ("total", mem.total_bytes),
            ("available", mem.available_bytes),
            ("used", mem.used_bytes),
        ] {
            self.host_memory
                .with_label_values(&[kind])
                .set(bytes as i64);
        }
        self.cpu.set(f64::from(report.cpu_percent));
        for node in &report.nodes {
            let id = [node.id.as_str()];
            self.node_up
                .with_label_values(&id)
                .set(i64::from(node.state == NodeState::Up));
            if let Some(info) = &node.info {
                self.node_used
                    .with_label_values(&id)
                    .set(info.used_memory as i64);
                self.node_maxmemory
                    .with_label_values(&id)
                    .set(info.maxmemory as i64);
                self.node_keys.with_label_values(&id).set(info.keys as i64);
            }
            match node.memory_limit.as_ref().and_then(|l| l.limit_bytes) {
                Some(bytes) => self
                    .node_memory_limit
                    .with_label_values(&id)
                    .set(bytes as i64),
                None => {
                    let _ = self.node_memory_limit.remove_label_values(&id);
                }
            }
        }
    }

    /// Counts a connection closed early, by reason.
    pub fn connection_closed(&self, reason: &str) {
        self.connections_closed.with_label_values(&[reason]).inc();
    }

    /// The Prometheus text exposition.
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
