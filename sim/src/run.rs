//! One policy through the whole run: per tick a report lands, scheduled
//! node changes happen, the tick's deaths and arrivals are applied, and
//! the policy gets its tick; a row of figures is kept per tick.

use crate::cluster::{Cluster, State};
use crate::policy::{Change, Lookup, Policy, key_name};
use crate::stream::Stream;

/// When nodes join and drain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub(crate) add_at: u32,
    pub(crate) add_nodes: usize,
    pub(crate) add_capacity: u64,
    pub(crate) drain_at: u32,
    pub(crate) drain_node: usize,
    pub(crate) balancers: usize,
    pub(crate) lookup_sample: usize,
}

/// The figures of one tick, after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub(crate) tick: u32,
    pub(crate) live_keys: u64,
    pub(crate) mean: f64,
    pub(crate) max: f64,
    pub(crate) min: f64,
    /// The first added node's utilization, once added.
    pub(crate) added: Option<f64>,
    /// The drained node's bytes, while it has any.
    pub(crate) drained_bytes: u64,
    pub(crate) moved_keys: u64,
    pub(crate) moved_bytes: u64,
}

/// A node change, as it happened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) add: bool,
    pub(crate) tick: u32,
    /// Up nodes before the change.
    pub(crate) nodes: usize,
    pub(crate) live_keys: u64,
    /// Keys on the drained node when it started draining (0 for an add).
    pub(crate) drained_keys: u64,
    /// The added nodes' share of the capacity (0 for a drain).
    pub(crate) capacity_share: f64,
    /// Keys moved while the change was handled, before the tick's arrivals.
    pub(crate) moved_at_once: u64,
}

#[derive(Debug)]
pub(crate) struct Trace {
    pub(crate) policy: &'static str,
    pub(crate) rows: Vec<Row>,
    pub(crate) events: Vec<Event>,
    pub(crate) lookups: Vec<Lookup>,
    pub(crate) seconds: f64,
}

pub(crate) fn run(
    mut policy: Box<dyn Policy>,
    mut c: Cluster,
    stream: &Stream,
    s: Schedule,
) -> Trace {
    let started = std::time::Instant::now();
    let mut rows = Vec::with_capacity(stream.arrivals.len());
    let mut events = Vec::new();
    let mut added = None;
    for (tick, arrivals) in stream.arrivals.iter().enumerate() {
        let tick = tick as u32;
        c.report();
        if tick == s.add_at {
            let before = event(&c, true, tick, 0);
            for _ in 0..s.add_nodes {
                let node = c.add_node(s.add_capacity);
                added.get_or_insert(node);
                policy.changed(&mut c, Change::Joined(node));
            }
            let total: u64 = c.up().iter().map(|&n| c.capacity[n]).sum();
            events.push(Event {
                capacity_share: (s.add_nodes as u64 * s.add_capacity) as f64 / total as f64,
                moved_at_once: c.moved.0 - before.moved_at_once,
                ..before
            });
        }
        if tick == s.drain_at && c.state[s.drain_node] == State::Up {
            let drained = c.keys[s.drain_node].len() as u64;
            let before = event(&c, false, tick, drained);
            c.set_state(s.drain_node, State::Draining);
            policy.changed(&mut c, Change::Draining(s.drain_node));
            events.push(Event {
                moved_at_once: c.moved.0 - before.moved_at_once,
                ..before
            });
        }
        for &key in &stream.deaths[tick as usize] {
            c.remove(key);
        }
        for key in arrivals.clone() {
            let b = key as usize % s.balancers;
            let node = policy.place(&c, &key_name(key), b);
            c.insert(key, node, b);
        }
        policy.tick(&mut c, tick);
        for node in 0..c.capacity.len() {
            if c.state[node] == State::Draining && c.keys[node].is_empty() {
                c.set_state(node, State::Gone);
            }
        }
        rows.push(row(&c, tick, added, s.drain_node));
    }
    let lookups = lookups(&*policy, &c, s.lookup_sample);
    Trace {
        policy: policy.name(),
        rows,
        events,
        lookups,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn event(c: &Cluster, add: bool, tick: u32, drained_keys: u64) -> Event {
    Event {
        add,
        tick,
        nodes: c.up().len(),
        live_keys: c.live_keys(),
        drained_keys,
        capacity_share: 0.0,
        moved_at_once: c.moved.0,
    }
}

fn row(c: &Cluster, tick: u32, added: Option<usize>, drained: usize) -> Row {
    let up = c.up();
    let util = |n: usize| c.used[n] as f64 / c.capacity[n] as f64;
    let used: u64 = up.iter().map(|&n| c.used[n]).sum();
    let capacity: u64 = up.iter().map(|&n| c.capacity[n]).sum();
    let utils = up.iter().map(|&n| util(n));
    Row {
        tick,
        live_keys: c.live_keys(),
        mean: used as f64 / capacity as f64,
        max: utils.clone().fold(0.0, f64::max),
        min: utils.fold(f64::INFINITY, f64::min),
        added: added.map(util),
        drained_bytes: c.used[drained],
        moved_keys: c.moved.0,
        moved_bytes: c.moved.1,
    }
}

/// Lookups of about `sample` live keys, spread over every node.
fn lookups(policy: &dyn Policy, c: &Cluster, sample: usize) -> Vec<Lookup> {
    let live = c.live_keys() as usize;
    let stride = (live / sample.max(1)).max(1);
    c.keys
        .iter()
        .enumerate()
        .flat_map(|(node, keys)| keys.iter().map(move |&k| (node, k)))
        .step_by(stride)
        .map(|(node, key)| policy.lookup(c, &key_name(key), node))
        .collect()
}
