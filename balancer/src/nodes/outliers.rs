//! Latency outlier ejection, decided purely: after each round of health
//! checks, which nodes to eject because their checks answer far slower
//! than the other nodes', and which ejected ones to let back. Modelled on
//! Envoy's outlier detection, with its cap (`max_ejection_percent`); the
//! reference is the median of the other nodes rather than Envoy's mean
//! and deviation, because a cluster here has a handful of nodes.
//!
//! The rules:
//! - A node's latency is the mean of its last [`WINDOW`] health-check round
//!   trips; a node with fewer is not judged (ejected or not, it stays so).
//! - It is an outlier when that is above `factor` times the reference, the
//!   median of the other nodes that are up and not ejected (at least
//!   [`MIN_PEERS`] of them with a latency), and at least `margin` above it,
//!   so that noise on a fast network ejects nothing.
//! - A node down for another reason is left as it is.
//! - An ejected node that is no longer an outlier comes back.
//! - New outliers are ejected slowest first, each only while the nodes out
//!   (down for any reason or ejected) would stay within `max_percent` of
//!   all nodes and at least `keep_up` nodes (the replication factor) would
//!   stay up.

use std::collections::VecDeque;
use std::time::Duration;

/// Health-check round trips a node's latency is the mean of.
pub const WINDOW: usize = 5;
/// Other nodes with a latency a node is compared with, at least.
pub const MIN_PEERS: usize = 2;

/// The settings the decision follows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// How many times the reference a node's latency must be.
    pub factor: f64,
    /// How far above the reference it must be, at least.
    pub margin: Duration,
    /// The largest share of nodes, in percent, that may be out.
    pub max_percent: u32,
    /// Nodes that must stay up, at least.
    pub keep_up: usize,
}

/// What the decision sees of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Mean of its last [`WINDOW`] round trips; `None` with fewer.
    pub latency: Option<Duration>,
    /// Ejected as a latency outlier now.
    pub ejected: bool,
    /// Down for another reason (this balancer's checks, its agent).
    pub down: bool,
}

/// A node's latest health-check round trips, at most [`WINDOW`].
#[derive(Debug, Default)]
pub struct RoundTrips(VecDeque<Duration>);

impl RoundTrips {
    /// Adds the latest, dropping the oldest beyond [`WINDOW`].
    pub fn push(&mut self, round_trip: Duration) {
        if self.0.len() == WINDOW {
            self.0.pop_front();
        }
        self.0.push_back(round_trip);
    }

    /// Forgets them: they tell nothing after the node failed.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Their mean once there are [`WINDOW`] of them: the node's latency.
    pub fn latency(&self) -> Option<Duration> {
        (self.0.len() == WINDOW).then(|| self.mean())
    }

    /// Their mean in milliseconds, however many there are; `None` with none.
    pub fn mean_ms(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.mean().as_secs_f64() * 1000.0)
    }

    fn mean(&self) -> Duration {
        self.0.iter().sum::<Duration>() / self.0.len() as u32
    }
}

/// What to do with one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it as it is.
    Keep,
    /// Eject it: its latency, and the reference it is far above.
    Eject {
        /// Its latency.
        latency: Duration,
        /// The median of the other nodes'.
        reference: Duration,
    },
    /// Let it back.
    Return,
}

/// The verdict for each node, in the order given.
pub fn decide(nodes: &[Observed], rules: &Rules) -> Vec<Verdict> {
    let judged: Vec<Option<(Duration, Duration)>> = (0..nodes.len())
        .map(|i| {
            let latency = nodes[i].latency?;
            let reference = reference(nodes, i)?;
            is_outlier(latency, reference, rules).then_some((latency, reference))
        })
        .collect();
    let mut verdicts = vec![Verdict::Keep; nodes.len()];
    let mut out = nodes.iter().filter(|n| n.down || n.ejected).count();
    for (i, node) in nodes.iter().enumerate() {
        if node.ejected && !node.down && node.latency.is_some() && judged[i].is_none() {
            verdicts[i] = Verdict::Return;
            out -= 1;
        }
    }
    let mut candidates: Vec<(usize, Duration, Duration)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.down && !n.ejected)
        .filter_map(|(i, _)| judged[i].map(|(l, r)| (i, l, r)))
        .collect();
    candidates.sort_by_key(|&(_, latency, _)| std::cmp::Reverse(latency));
    let max_out = nodes.len() * rules.max_percent as usize / 100;
    for (i, latency, reference) in candidates {
        if out + 1 > max_out || nodes.len() - (out + 1) < rules.keep_up {
            break;
        }
        verdicts[i] = Verdict::Eject { latency, reference };
        out += 1;
    }
    verdicts
}

/// The median latency of the nodes other than `i` that are up and not
/// ejected; `None` with fewer than [`MIN_PEERS`] of them.
fn reference(nodes: &[Observed], i: usize) -> Option<Duration> {
    let mut peers: Vec<Duration> = nodes
        .iter()
        .enumerate()
        .filter(|&(j, n)| j != i && !n.down && !n.ejected)
        .filter_map(|(_, n)| n.latency)
        .collect();
    if peers.len() < MIN_PEERS {
        return None;
    }
    peers.sort();
    let mid = peers.len() / 2;
    Some(if peers.len().is_multiple_of(2) {
        (peers[mid - 1] + peers[mid]) / 2
    } else {
        peers[mid]
    })
}

fn is_outlier(latency: Duration, reference: Duration, rules: &Rules) -> bool {
    latency.as_secs_f64() > rules.factor * reference.as_secs_f64()
        && latency >= reference + rules.margin
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        factor: 10.0,
        margin: Duration::from_millis(100),
        max_percent: 50,
        keep_up: 2,
    };

    fn ms(latencies: &[u64]) -> Vec<Observed> {
        latencies
            .iter()
            .map(|&l| Observed {
                latency: Some(Duration::from_millis(l)),
                ejected: false,
                down: false,
            })
            .collect()
    }

    fn ejects(v: &Verdict) -> bool {
        matches!(v, Verdict::Eject { .. })
    }

    #[test]
    fn the_latency_is_the_mean_of_a_full_window() {
        let mut trips = RoundTrips::default();
        for ms in [100, 1, 1, 1] {
            trips.push(Duration::from_millis(ms));
        }
        assert_eq!(trips.latency(), None);
        assert!((trips.mean_ms().unwrap() - 25.75).abs() < 1e-9);
        trips.push(Duration::from_millis(2));
        assert_eq!(trips.latency(), Some(Duration::from_millis(21)));
        trips.push(Duration::from_millis(5));
        assert_eq!(
            trips.latency(),
            Some(Duration::from_millis(2)),
            "the oldest dropped"
        );
    }

    #[test]
    fn a_node_far_slower_than_the_others_is_ejected() {
        let verdicts = decide(&ms(&[150, 1, 1, 2]), &RULES);
        assert_eq!(
            verdicts[0],
            Verdict::Eject {
                latency: Duration::from_millis(150),
                reference: Duration::from_millis(1),
            }
        );
        assert!(verdicts[1..].iter().all(|v| *v == Verdict::Keep));
    }

    #[test]
    fn slower_but_not_by_the_factor_or_the_margin_is_no_outlier() {
        // 9x the others: under the factor.
        assert!(!decide(&ms(&[180, 20, 20, 20]), &RULES).iter().any(ejects));
        // 50x the others, but only 49 ms more: under the margin.
        assert!(!decide(&ms(&[50, 1, 1, 1]), &RULES).iter().any(ejects));
    }

    #[test]
    fn too_few_peers_or_samples_judge_nothing() {
        assert!(!decide(&ms(&[500, 1]), &RULES).iter().any(ejects));
        let mut nodes = ms(&[500, 1, 1]);
        nodes[1].latency = None;
        assert!(!decide(&nodes, &RULES).iter().any(ejects));
    }

    #[test]
    fn the_cap_on_nodes_out_holds_slowest_first() {
        // Two outliers among five: 50% allows two out, one is down already.
        let mut nodes = ms(&[300, 200, 1, 1, 1]);
        nodes[4].down = true;
        let verdicts = decide(&nodes, &RULES);
        assert!(ejects(&verdicts[0]), "the slowest goes first");
        assert_eq!(verdicts[1], Verdict::Keep, "the cap: 2 of 5 out");
    }

    #[test]
    fn never_fewer_up_than_the_replication_factor() {
        let rules = Rules {
            max_percent: 100,
            keep_up: 3,
            ..RULES
        };
        assert!(!decide(&ms(&[300, 1, 1]), &rules).iter().any(ejects));
        assert!(ejects(&decide(&ms(&[300, 1, 1, 1]), &rules)[0]));
    }

    #[test]
    fn an_ejected_node_returns_once_in_line_and_stays_while_not() {
        let mut nodes = ms(&[300, 1, 1, 1]);
        nodes[0].ejected = true;
        assert_eq!(decide(&nodes, &RULES)[0], Verdict::Keep);
        nodes[0].latency = Some(Duration::from_millis(40));
        assert_eq!(decide(&nodes, &RULES)[0], Verdict::Return);
        nodes[0].latency = None;
        assert_eq!(decide(&nodes, &RULES)[0], Verdict::Keep, "not judged");
    }

    #[test]
    fn a_node_down_otherwise_is_left_alone_and_not_a_reference() {
        let mut nodes = ms(&[300, 1, 1, 900]);
        nodes[3].down = true;
        let verdicts = decide(&nodes, &RULES);
        assert!(ejects(&verdicts[0]));
        assert_eq!(verdicts[3], Verdict::Keep);
    }

    #[test]
    fn a_return_frees_room_for_a_new_ejection() {
        let mut nodes = ms(&[20, 300, 1, 1]);
        nodes[0].ejected = true;
        let rules = Rules {
            max_percent: 25,
            ..RULES
        };
        let verdicts = decide(&nodes, &rules);
        assert_eq!(verdicts[0], Verdict::Return);
        assert!(ejects(&verdicts[1]));
    }
}
