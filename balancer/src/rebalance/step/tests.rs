//! The planner's choices key by key, with made-up loads and domains.

use super::super::plan::{Marks, plan};
use super::*;

fn serving(used: u64, capacity: u64) -> Load {
    Load {
        used,
        capacity: Some(capacity),
        role: Role::Serving,
    }
}

/// Nodes `order` ranked for a key, with utilizations and domains.
fn ranked(order: &[usize], nodes: &[Load], domains: &[u64]) -> Vec<Contender> {
    order
        .iter()
        .map(|&node| Contender {
            node,
            utilization: Some(nodes[node].used as f64 / nodes[node].capacity.unwrap() as f64),
            domain: domains[node],
        })
        .collect()
}

#[test]
fn a_key_goes_to_the_least_utilized_sink_among_its_candidates() {
    // Node 0 is over; nodes 2 and 3 are under the mean, 3 the emptier.
    let nodes = [
        serving(900, 1000),
        serving(450, 1000),
        serving(300, 1000),
        serving(200, 1000),
    ];
    let plan = plan(&nodes, Marks::default());
    let progress = Progress::new(&plan, &nodes);
    let policy = PlacementConfig::top(2);
    let r = ranked(&[1, 2, 0, 3], &nodes, &[1, 2, 3, 4]);
    // Node 1 is no sink: the key's top two sinks are 2 and 3.
    assert_eq!(progress.next(0, 10, &r, &[], &[], &policy), Step::Move(3));
    // The key's other copy is on node 3: node 2.
    assert_eq!(progress.next(0, 10, &r, &[3], &[4], &policy), Step::Move(2));
    // A node that sheds nothing keeps its keys.
    assert_eq!(progress.next(1, 10, &r, &[], &[], &policy), Step::Keep);
}

#[test]
fn copies_stay_on_distinct_failure_domains() {
    let nodes = [serving(900, 1000), serving(100, 1000), serving(300, 1000)];
    let plan = plan(&nodes, Marks::default());
    let progress = Progress::new(&plan, &nodes);
    // Node 1 shares a domain (7) with the key's other copy.
    let r = ranked(&[1, 2, 0], &nodes, &[5, 7, 8]);
    let policy = PlacementConfig::top(2);
    assert_eq!(progress.next(0, 10, &r, &[], &[7], &policy), Step::Move(2));
    assert_eq!(progress.next(0, 10, &r, &[], &[], &policy), Step::Move(1));
}

#[test]
fn a_move_never_joins_a_key_s_other_copy_on_its_domain_when_another_domain_is_free() {
    // Hosts a (nodes 0, 1), b (nodes 2, 3), c (nodes 4, 5): node 0 is
    // over; only node 3, on the host of the key's other copy (node 2),
    // has room left to take.
    let nodes = [
        serving(900, 1000),
        serving(500, 1000),
        serving(500, 1000),
        serving(100, 1000),
        serving(500, 1000),
        serving(500, 1000),
    ];
    let plan = plan(&nodes, Marks::default());
    let progress = Progress::new(&plan, &nodes);
    assert!(progress.room(3) > 0 && progress.room(4) == 0 && progress.room(5) == 0);
    let domains = [1, 1, 2, 2, 3, 3];
    let r = ranked(&[3, 4, 5, 1, 0, 2], &nodes, &domains);
    let policy = PlacementConfig::top(2);
    // A serving node keeps the key rather than put both copies on host b.
    assert_eq!(progress.next(0, 10, &r, &[2], &[2], &policy), Step::Keep);
    // With its other copy on host c, node 3 is apart: it goes there.
    assert_eq!(progress.next(0, 10, &r, &[4], &[3], &policy), Step::Move(3));
    // A draining node's key must move: to host c, past the room left.
    let mut drained = nodes;
    drained[0].role = Role::Draining;
    let drain = Progress::new(
        &super::super::plan::plan(&drained, Marks::default()),
        &drained,
    );
    let Step::Move(to) = drain.next(0, 10, &r, &[2], &[2], &policy) else {
        panic!("a draining node's key must move");
    };
    assert_eq!(domains[to], 3, "moved to node {to}, beside its other copy");
}

#[test]
fn a_serving_node_keeps_a_key_that_could_only_go_beside_its_other_copy() {
    // Node 0 alone on domain 1; the key's other copy is on node 1, on
    // domain 2 with node 2, which has room.
    let nodes = [serving(900, 1000), serving(500, 1000), serving(100, 1000)];
    let plan = plan(&nodes, Marks::default());
    let progress = Progress::new(&plan, &nodes);
    let r = ranked(&[1, 2, 0], &nodes, &[1, 2, 2]);
    let policy = PlacementConfig::top(2);
    assert!(progress.room(2) > 0);
    assert_eq!(progress.next(0, 10, &r, &[1], &[2], &policy), Step::Keep);
    // A full apart node is no way out either: node 2 on domain 3, full.
    let full = [serving(900, 1000), serving(500, 1000), serving(1000, 1000)];
    let r = ranked(&[1, 2, 0], &full, &[1, 2, 3]);
    assert_eq!(progress.next(0, 10, &r, &[1], &[2], &policy), Step::Keep);
}

#[test]
fn with_one_domain_only_a_move_goes_where_there_is_room() {
    // Every node on one host (a loopback stack): spreading is not
    // possible, so room decides.
    let nodes = [serving(900, 1000), serving(500, 1000), serving(100, 1000)];
    let plan = plan(&nodes, Marks::default());
    let progress = Progress::new(&plan, &nodes);
    let r = ranked(&[1, 2, 0], &nodes, &[1, 1, 1]);
    let policy = PlacementConfig::top(2);
    assert_eq!(progress.next(0, 10, &r, &[1], &[1], &policy), Step::Move(2));
}

#[test]
fn a_spread_goes_to_another_domain_or_nowhere() {
    // Node 0 shares domain 1 with the key's other copy on node 1.
    let nodes = [serving(500, 1000), serving(500, 1000), serving(500, 1000)];
    let progress = Progress::new(&plan(&nodes, Marks::default()), &nodes);
    let policy = PlacementConfig::top(2);
    let r = ranked(&[1, 0, 2], &nodes, &[1, 1, 2]);
    // Balanced, so nothing has room: a spread goes all the same.
    assert_eq!(progress.room(2), 0);
    assert_eq!(progress.spread(0, &r, &[1], &[1], &policy), Step::Move(2));
    // One domain only: nowhere to go.
    let one = ranked(&[1, 0, 2], &nodes, &[1, 1, 1]);
    assert_eq!(progress.spread(0, &one, &[1], &[1], &policy), Step::Keep);
    // Nor onto a node at SPREAD_BELOW, or one not sampled yet.
    let fuller = [serving(500, 1000), serving(500, 1000), serving(900, 1000)];
    let r = ranked(&[1, 0, 2], &fuller, &[1, 1, 2]);
    assert_eq!(progress.spread(0, &r, &[1], &[1], &policy), Step::Keep);
    let mut unknown = ranked(&[1, 0, 2], &nodes, &[1, 1, 2]);
    unknown[2].utilization = None;
    assert_eq!(
        progress.spread(0, &unknown, &[1], &[1], &policy),
        Step::Keep
    );
}

#[test]
fn an_executor_stops_when_the_plan_is_met() {
    let nodes = [serving(900, 1000), serving(100, 1000)];
    let plan = plan(&nodes, Marks::default());
    let mut progress = Progress::new(&plan, &nodes);
    let policy = PlacementConfig::top(2);
    let r = ranked(&[0, 1], &nodes, &[1, 2]);
    let mut moved = 0;
    while let Step::Move(to) = progress.next(0, 10, &r, &[], &[], &policy) {
        progress.moved(0, to, 10);
        moved += 10;
    }
    // Down to 1.02 x mean (510): 390 to shed, 39 keys of 10.
    assert_eq!(plan.shed[0], 390);
    assert_eq!(moved, 390);
    assert!(progress.done());
    assert_eq!(progress.next(0, 10, &r, &[], &[], &policy), Step::Done);
}

#[test]
fn a_serving_source_keeps_a_key_larger_than_what_is_left() {
    let nodes = [serving(900, 1000), serving(100, 1000)];
    let plan = plan(&nodes, Marks::default());
    let progress = Progress::new(&plan, &nodes);
    let r = ranked(&[0, 1], &nodes, &[1, 2]);
    let policy = PlacementConfig::top(2);
    assert_eq!(progress.left(0), 390);
    assert_eq!(progress.next(0, 391, &r, &[], &[], &policy), Step::Keep);
    assert_eq!(progress.next(0, 390, &r, &[], &[], &policy), Step::Move(1));
}

#[test]
fn every_key_of_a_draining_node_moves_even_past_the_plan() {
    // The plan saw 100 bytes on the draining node; it holds 150.
    let nodes = [
        serving(500, 1000),
        serving(500, 1000),
        Load {
            role: Role::Draining,
            ..serving(100, 1000)
        },
    ];
    let plan = plan(&nodes, Marks::default());
    let mut progress = Progress::new(&plan, &nodes);
    let policy = PlacementConfig::top(2);
    let r = ranked(&[0, 1], &nodes, &[1, 2, 3]);
    for size in [60, 40] {
        let Step::Move(to) = progress.next(2, size, &r, &[], &[], &policy) else {
            panic!("a draining node's key must move");
        };
        progress.moved(2, to, size);
    }
    assert!(progress.done());
    assert!(matches!(
        progress.next(2, 50, &r, &[], &[], &policy),
        Step::Move(_)
    ));
    assert_eq!(progress.next(0, 50, &r, &[], &[], &policy), Step::Done);
}
