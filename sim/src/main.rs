//! Placement simulator (issue 14): one key stream, many nodes, several
//! policies side by side, with the balancer's own placement and rebalance
//! code (`balancer::placement`, `rendezvous`, `rebalance`, `fallback`)
//! against ketama, consistent hashing with bounded loads and power of two
//! choices. Prints markdown tables and writes `timeline.csv`, `events.csv`
//! and `lookups.csv` (read by `notebooks/sim.ipynb`).
//!
//! A tick is one memory-report interval. Keys arrive evenly, each with a
//! log-normal size and an exponential TTL (some deleted earlier); node
//! capacities are 1x/2x/4x (5:3:2), sized so the cluster is at `--fill`
//! when a node is added; a node drains later. See `cluster.rs` for what
//! the balancers see of memory, `ring.rs` for the baselines.

mod cluster;
mod ours;
mod policy;
mod report;
mod ring;
mod run;
mod stream;
mod table;

use std::path::PathBuf;

use balancer::config::{Choices, PlacementConfig};
use balancer::rebalance::Marks;
use clap::Parser;

use crate::cluster::Cluster;
use crate::ours::Ours;
use crate::policy::Policy;
use crate::ring::{Bounded, Ketama, Ring, TwoChoices};
use crate::run::{Schedule, Trace};
use crate::stream::{Shape, Stream};

/// Capacity classes, one per node in turn: half 1x, 30% 2x, 20% 4x.
const WEIGHTS: [u64; 10] = [1, 1, 1, 1, 1, 2, 2, 2, 4, 4];

/// Placement simulator: the balancer's policy against the classic ones.
#[derive(Debug, Parser)]
struct Args {
    /// Data nodes at the start.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Keys in the stream.
    #[arg(long, default_value_t = 3_000_000)]
    keys: u32,
    /// Ticks (memory-report intervals) in the run.
    #[arg(long, default_value_t = 300)]
    ticks: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Median value size, bytes (log-normal).
    #[arg(long, default_value_t = 600.0)]
    median: f64,
    /// Log-normal sigma of value sizes.
    #[arg(long, default_value_t = 1.0)]
    sigma: f64,
    /// Largest value size, bytes (sizes are clipped to 100 B..this).
    #[arg(long, default_value_t = 65536.0)]
    max_size: f64,
    /// Mean TTL in ticks (exponential); default the length of the run.
    #[arg(long)]
    ttl: Option<f64>,
    /// Share of keys deleted before their TTL.
    #[arg(long, default_value_t = 0.1)]
    deletes: f64,
    /// Cluster utilization when the node is added (sizes the capacities).
    #[arg(long, default_value_t = 0.7)]
    fill: f64,
    /// Balancers placing keys, each seeing only its own writes between reports.
    #[arg(long, default_value_t = 2)]
    balancers: usize,
    /// Ticks a memory report is old when it lands.
    #[arg(long, default_value_t = 0)]
    report_lag: usize,
    /// Placement candidates k.
    #[arg(long, default_value_t = 2)]
    choices: usize,
    /// Bounded-load slack (ours and bounded-load CH).
    #[arg(long, default_value_t = 0.25)]
    load_epsilon: f64,
    /// Rebalancer marks over the mean.
    #[arg(long, default_value_t = 1.05)]
    high: f64,
    #[arg(long, default_value_t = 1.02)]
    low: f64,
    /// The rebalancer plans every this many ticks.
    #[arg(long, default_value_t = 10)]
    rebalance_every: u32,
    /// Tick a node is added at; default 60% of the run.
    #[arg(long)]
    add_at: Option<u32>,
    /// Nodes added (2x capacity each).
    #[arg(long, default_value_t = 1)]
    add_nodes: usize,
    /// Tick node 0 (1x) starts draining at; default 80% of the run.
    #[arg(long)]
    drain_at: Option<u32>,
    /// Live keys sampled for the lookup figures.
    #[arg(long, default_value_t = 100_000)]
    lookup_sample: usize,
    /// Directory for the CSV files.
    #[arg(long, default_value = "sim-out")]
    out: PathBuf,
}

fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let ticks = a.ticks.max(2);
    let add_at = a.add_at.unwrap_or(ticks * 6 / 10);
    let drain_at = a.drain_at.unwrap_or(ticks * 8 / 10);
    let started = std::time::Instant::now();
    let stream = Stream::draw(Shape {
        keys: a.keys,
        ticks,
        seed: a.seed,
        median: a.median,
        sigma: a.sigma,
        max: a.max_size,
        ttl: a.ttl.unwrap_or(f64::from(ticks)),
        deletes: a.deletes,
    });
    let weights: u64 = (0..a.nodes).map(|i| WEIGHTS[i % WEIGHTS.len()]).sum();
    let live = stream.live_bytes()[add_at.min(ticks - 1) as usize];
    let base = ((live as f64 / a.fill) / weights as f64).max(1.0) as u64;
    let capacity: Vec<u64> = (0..a.nodes)
        .map(|i| base * WEIGHTS[i % WEIGHTS.len()])
        .collect();
    let schedule = Schedule {
        add_at,
        add_nodes: a.add_nodes,
        add_capacity: 2 * base,
        drain_at,
        drain_node: 0,
        balancers: a.balancers.max(1),
        lookup_sample: a.lookup_sample,
    };
    let empty = Cluster::new(capacity, &stream.sizes, schedule.balancers, a.report_lag);
    let placement = PlacementConfig {
        choices: Choices::Top(std::num::NonZeroUsize::new(a.choices.max(1)).expect("k > 0")),
        load_epsilon: a.load_epsilon,
        ..PlacementConfig::default()
    };
    let marks = Marks {
        high: a.high,
        low: a.low,
    };
    if let Some(problem) = marks.problem() {
        eprintln!("{problem}");
        std::process::exit(2);
    }
    let ring = Ring::new(&empty, base);
    let policies: Vec<Box<dyn Policy>> = vec![
        Box::new(Ours::new(&empty, placement.clone(), None)),
        Box::new(Ours::new(
            &empty,
            placement,
            Some((marks, a.rebalance_every.max(1))),
        )),
        Box::new(Ketama {
            base,
            ring: ring.clone(),
        }),
        Box::new(Bounded {
            base,
            epsilon: a.load_epsilon,
            ring: ring.clone(),
        }),
        Box::new(TwoChoices { base, ring }),
    ];
    let drawn = started.elapsed().as_secs_f64();
    let traces: Vec<Trace> = std::thread::scope(|scope| {
        let runs: Vec<_> = policies
            .into_iter()
            .map(|p| {
                let (c, stream) = (empty.clone(), &stream);
                scope.spawn(move || run::run(p, c, stream, schedule))
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("a policy's run"))
            .collect()
    });
    let window = drain_at.saturating_sub(add_at + 1);
    report::write_csv(&a.out, &traces, window)?;
    print!("{}", table::render(&traces, &schedule, window));
    println!(
        "\n{} nodes, {} keys, {} ticks; stream drawn in {drawn:.1} s, {:.1} s in all; CSV in {}",
        a.nodes,
        a.keys,
        ticks,
        started.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
