//! The plan: how many bytes each node sheds or takes, and the transfers
//! that match them, fullest source to emptiest sink. See the module doc of
//! [`crate::rebalance`] for the rules.

/// The two marks, as multiples of the target mean utilization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marks {
    /// A node above `high x mean` sheds; a node under `mean / high` draws.
    /// Default 1.05.
    pub high: f64,
    /// Down to `low x mean` (a shedding node), up to `mean / low` (a
    /// drawing one). Default 1.02.
    pub low: f64,
}

impl Default for Marks {
    fn default() -> Self {
        Marks {
            high: 1.05,
            low: 1.02,
        }
    }
}

impl Marks {
    /// What is wrong with these marks, if anything: they need
    /// `1 <= low < high`, both finite.
    pub fn problem(&self) -> Option<String> {
        crate::config::marks_problem(self.high, self.low)
    }
}

/// What a node does in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds keys and takes new ones.
    Serving,
    /// Being emptied: sheds every byte, takes none. A dead node being
    /// replaced is one too (its bytes are copied from the other replicas).
    Draining,
}

/// One node as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Bytes used (the last report, plus what moved since).
    pub used: u64,
    /// Capacity in bytes; `None` when unknown.
    pub capacity: Option<u64>,
    /// Serving or draining.
    pub role: Role,
}

/// Why a serving node was left out of the plan (neither source nor sink,
/// and not counted in the mean).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excluded {
    /// No capacity is known for it.
    UnknownCapacity,
    /// Its capacity is zero.
    ZeroCapacity,
}

/// Bytes to move from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The node shedding.
    pub from: usize,
    /// The node taking.
    pub to: usize,
    /// How many bytes.
    pub bytes: u64,
}

/// What the rebalancer should do, per node (by index in the input).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The target mean utilization; `None` when no serving node has a
    /// known capacity (then nothing can move).
    pub mean: Option<f64>,
    /// Bytes each node should shed.
    pub shed: Vec<u64>,
    /// Bytes each node should take.
    pub take: Vec<u64>,
    /// The matching of sheds to takes, fullest source first.
    pub transfers: Vec<Transfer>,
    /// Serving nodes left out, and why.
    pub excluded: Vec<(usize, Excluded)>,
    /// Bytes draining nodes must shed that no node can take (no serving
    /// node with a known capacity).
    pub stranded: u64,
}

impl Plan {
    /// Whether nothing needs to move.
    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty() && self.stranded == 0
    }
}

/// Plans the moves that bring `nodes` within `marks`.
pub fn plan(nodes: &[Load], marks: Marks) -> Plan {
    let n = nodes.len();
    let mut excluded = Vec::new();
    let mut serving: Vec<(usize, f64)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match (node.role, node.capacity) {
            (Role::Draining, _) => {}
            (Role::Serving, None) => excluded.push((i, Excluded::UnknownCapacity)),
            (Role::Serving, Some(0)) => excluded.push((i, Excluded::ZeroCapacity)),
            (Role::Serving, Some(c)) => serving.push((i, c as f64)),
        }
    }
    let draining: Vec<usize> = (0..n)
        .filter(|&i| nodes[i].role == Role::Draining)
        .collect();
    let drained: u64 = draining.iter().map(|&i| nodes[i].used).sum();
    let mut plan = Plan {
        mean: None,
        shed: vec![0; n],
        take: vec![0; n],
        transfers: Vec::new(),
        excluded,
        stranded: 0,
    };
    let capacity: f64 = serving.iter().map(|&(_, c)| c).sum();
    if serving.is_empty() {
        plan.stranded = drained;
        return plan;
    }
    let used = |i: usize| nodes[i].used as f64;
    let mean = (serving.iter().map(|&(i, _)| used(i)).sum::<f64>() + drained as f64) / capacity;
    plan.mean = Some(mean);

    let mut shed = vec![0.0; n];
    let mut take = vec![0.0; n];
    for &i in &draining {
        shed[i] = used(i);
    }
    for &(i, c) in &serving {
        if used(i) / c > marks.high * mean {
            shed[i] = used(i) - marks.low * mean * c;
        }
    }
    // What is shed fills the nodes under the mean from the bottom, evenly.
    let under: Vec<(f64, f64)> = serving
        .iter()
        .filter(|&&(i, c)| used(i) / c < mean)
        .map(|&(i, c)| (used(i) / c, c))
        .collect();
    let level = fill_up(&under, shed.iter().sum(), mean);
    for &(i, c) in &serving {
        take[i] = (c * (level - used(i) / c)).max(0.0);
    }
    // A node under mean / high draws up to mean / low from the fullest.
    let drawn: f64 = serving
        .iter()
        .filter(|&&(i, c)| used(i) / c < mean / marks.high)
        .map(|&(i, c)| {
            let extra = (c * mean / marks.low - used(i) - take[i]).max(0.0);
            take[i] += extra;
            extra
        })
        .sum();
    if drawn > 0.0 {
        let after: Vec<(usize, f64, f64)> = serving
            .iter()
            .map(|&(i, c)| (i, (used(i) - shed[i]) / c, c))
            .collect();
        let over: Vec<(f64, f64)> = after
            .iter()
            .filter(|&&(_, u, _)| u > mean)
            .map(|&(_, u, c)| (-u, c))
            .collect();
        let floor = -fill_up(&over, drawn, -mean);
        for (i, u, c) in after {
            shed[i] += (c * (u - floor)).max(0.0);
        }
    }
    for i in 0..n {
        plan.shed[i] = if nodes[i].role == Role::Draining {
            nodes[i].used
        } else {
            shed[i].round() as u64
        };
        plan.take[i] = take[i].round() as u64;
    }
    plan.transfers = matching(nodes, &plan.shed, &plan.take);
    plan
}

/// The level `x <= limit` at which `sum(cap x (x - u))` over the `items`
/// (utilization, capacity) under `x` equals `amount`: water filling.
fn fill_up(items: &[(f64, f64)], amount: f64, limit: f64) -> f64 {
    let mut items = items.to_vec();
    items.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(&(first, _)) = items.first() else {
        return limit;
    };
    let (mut level, mut width, mut left) = (first, 0.0, amount);
    for &(u, c) in &items {
        let next = u.min(limit);
        let cost = width * (next - level);
        if cost >= left {
            return level + left / width;
        }
        left -= cost;
        level = next;
        width += c;
    }
    (level + left / width).min(limit)
}

/// Sources (draining first, then fullest) matched to sinks (emptiest
/// first), each transfer as large as both allow.
fn matching(nodes: &[Load], shed: &[u64], take: &[u64]) -> Vec<Transfer> {
    let utilization = |i: usize| match (nodes[i].role, nodes[i].capacity) {
        (Role::Serving, Some(c)) if c > 0 => nodes[i].used as f64 / c as f64,
        _ => f64::INFINITY,
    };
    let mut sources: Vec<usize> = (0..nodes.len()).filter(|&i| shed[i] > 0).collect();
    sources.sort_by(|&a, &b| utilization(b).total_cmp(&utilization(a)));
    let mut sinks: Vec<usize> = (0..nodes.len()).filter(|&i| take[i] > 0).collect();
    sinks.sort_by(|&a, &b| utilization(a).total_cmp(&utilization(b)));
    let (mut shed, mut take) = (shed.to_vec(), take.to_vec());
    let mut transfers = Vec::new();
    let (mut s, mut t) = (0, 0);
    while s < sources.len() && t < sinks.len() {
        let (from, to) = (sources[s], sinks[t]);
        let bytes = shed[from].min(take[to]);
        transfers.push(Transfer { from, to, bytes });
        shed[from] -= bytes;
        take[to] -= bytes;
        s += usize::from(shed[from] == 0);
        t += usize::from(take[to] == 0);
    }
    transfers
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
