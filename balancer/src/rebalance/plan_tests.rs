use super::*;

const GB: u64 = 1_000_000_000;

fn serving(used: u64, capacity: u64) -> Load {
    Load {
        used,
        capacity: Some(capacity),
        role: Role::Serving,
    }
}

/// Utilization of each node once the plan's transfers are done.
fn after(nodes: &[Load], plan: &Plan) -> Vec<f64> {
    let mut used: Vec<i128> = nodes.iter().map(|n| i128::from(n.used)).collect();
    for t in &plan.transfers {
        used[t.from] -= i128::from(t.bytes);
        used[t.to] += i128::from(t.bytes);
    }
    nodes
        .iter()
        .zip(used)
        .map(|(n, u)| u as f64 / n.capacity.unwrap_or(0) as f64)
        .collect()
}

fn moved(plan: &Plan) -> u64 {
    plan.transfers.iter().map(|t| t.bytes).sum()
}

/// Every serving node ends within `[mean / high, high x mean]`.
fn assert_within_marks(nodes: &[Load], plan: &Plan, marks: Marks) {
    let mean = plan.mean.unwrap();
    for (i, u) in after(nodes, plan).into_iter().enumerate() {
        if nodes[i].role == Role::Serving {
            let ratio = u / mean;
            assert!(
                (1.0 / marks.high - 1e-9..=marks.high + 1e-9).contains(&ratio),
                "node {i} ends at {ratio:.4} x mean"
            );
        }
    }
}

fn one_added_to(n: usize) {
    let mut nodes = vec![serving(7 * GB / 10, GB); n];
    nodes.push(serving(0, GB));
    let marks = Marks::default();
    let plan = plan(&nodes, marks);
    let mean = plan.mean.unwrap();
    assert!((mean - 0.7 * n as f64 / (n + 1) as f64).abs() < 1e-9);
    assert_within_marks(&nodes, &plan, marks);
    let new = after(&nodes, &plan)[n];
    assert!(
        new >= mean / marks.low - 1e-6,
        "new node at {new}, mean {mean}"
    );
    assert!(new <= mean, "new node overfilled: {new}");
    assert!(
        plan.transfers.iter().all(|t| t.to == n),
        "only the new node takes"
    );
    // The bytes moved are about the new node's share: 1/(n+1) of the total.
    let share = moved(&plan) as f64 / (0.7 * GB as f64 * n as f64);
    let ideal = 1.0 / (n + 1) as f64;
    assert!(
        (share / ideal - 1.0).abs() < 0.03,
        "moved {share}, ideal {ideal}"
    );
}

#[test]
fn one_node_added_to_four_at_70_percent_takes_its_share() {
    one_added_to(4);
}

#[test]
fn one_node_added_to_a_thousand_at_70_percent_takes_its_share() {
    one_added_to(1000);
}

#[test]
fn a_drain_moves_exactly_the_drained_nodes_bytes() {
    let mut nodes = vec![serving(6 * GB / 10, GB); 4];
    nodes.push(Load {
        role: Role::Draining,
        ..serving(GB / 2, GB)
    });
    let plan = plan(&nodes, Marks::default());
    assert_eq!(plan.shed[4], GB / 2);
    assert_eq!(moved(&plan), GB / 2);
    assert!(plan.transfers.iter().all(|t| t.from == 4));
    assert!(after(&nodes, &plan)[4].abs() < f64::EPSILON);
    assert_within_marks(&nodes, &plan, Marks::default());
}

#[test]
fn a_draining_node_without_capacity_still_sheds_everything() {
    let nodes = [
        serving(GB / 2, GB),
        serving(GB / 2, GB),
        Load {
            used: 1234,
            capacity: None,
            role: Role::Draining,
        },
    ];
    let plan = plan(&nodes, Marks::default());
    assert_eq!(moved(&plan), 1234);
    assert!(plan.excluded.is_empty());
}

#[test]
fn skew_of_130_percent_of_the_mean_is_corrected() {
    let mut nodes = vec![serving(GB / 2, GB); 9];
    nodes.push(serving(13 * GB / 20, GB));
    let marks = Marks::default();
    let plan = plan(&nodes, marks);
    let mean = plan.mean.unwrap();
    let ends = after(&nodes, &plan);
    assert!(ends[9] / mean <= 1.05, "still {} x mean", ends[9] / mean);
    assert!(
        (ends[9] / mean - marks.low).abs() < 1e-6,
        "down to the low mark"
    );
    assert!(plan.transfers.iter().all(|t| t.from == 9));
    assert_within_marks(&nodes, &plan, marks);
}

#[test]
fn nothing_moves_when_every_node_is_within_the_marks() {
    let nodes = [serving(520, 1000), serving(485, 1000), serving(495, 1000)];
    let plan = plan(&nodes, Marks::default());
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.shed, vec![0; 3]);
    assert_eq!(plan.take, vec![0; 3]);
}

#[test]
fn heterogeneous_capacities_are_weighted_by_capacity() {
    // 1x, 2x, 4x nodes holding the same bytes: the small one is far over.
    let nodes = [
        serving(GB, 2 * GB),
        serving(GB, 4 * GB),
        serving(GB, 8 * GB),
    ];
    let marks = Marks::default();
    let plan = plan(&nodes, marks);
    assert!((plan.mean.unwrap() - 3.0 / 14.0).abs() < 1e-12);
    assert_within_marks(&nodes, &plan, marks);
    assert_eq!(plan.transfers[0].from, 0, "the fullest sheds first");
    assert_eq!(plan.transfers[0].to, 2, "to the emptiest");
}

#[test]
fn nodes_without_a_capacity_are_excluded_and_named() {
    let nodes = [
        serving(GB / 2, GB),
        Load {
            used: 5 * GB,
            capacity: None,
            role: Role::Serving,
        },
        serving(GB, 0),
        serving(GB / 2, GB),
    ];
    let plan = plan(&nodes, Marks::default());
    assert_eq!(
        plan.excluded,
        vec![(1, Excluded::UnknownCapacity), (2, Excluded::ZeroCapacity)]
    );
    assert!(
        (plan.mean.unwrap() - 0.5).abs() < 1e-12,
        "their bytes do not count"
    );
    assert!(plan.is_empty());
}

#[test]
fn a_drain_with_nowhere_to_go_is_stranded() {
    let nodes = [Load {
        used: 77,
        capacity: Some(100),
        role: Role::Draining,
    }];
    let plan = plan(&nodes, Marks::default());
    assert_eq!(plan.mean, None);
    assert_eq!(plan.stranded, 77);
    assert!(plan.transfers.is_empty() && !plan.is_empty());
}

#[test]
fn transfers_match_every_shed_and_no_take_is_exceeded() {
    let nodes = [
        serving(900, 1000),
        serving(100, 1000),
        serving(800, 1000),
        serving(200, 2000),
        serving(500, 1000),
    ];
    let plan = plan(&nodes, Marks::default());
    for i in 0..nodes.len() {
        let out: u64 = plan
            .transfers
            .iter()
            .filter(|t| t.from == i)
            .map(|t| t.bytes)
            .sum();
        let into: u64 = plan
            .transfers
            .iter()
            .filter(|t| t.to == i)
            .map(|t| t.bytes)
            .sum();
        assert!(out <= plan.shed[i] && into <= plan.take[i]);
        assert!(out == 0 || into == 0, "node {i} both sheds and takes");
    }
    assert_eq!(plan.transfers[0].from, 0);
    let shed: u64 = plan.shed.iter().sum();
    let take: u64 = plan.take.iter().sum();
    assert!(moved(&plan) + 5 >= shed.min(take), "rounding only");
    assert_within_marks(&nodes, &plan, Marks::default());
}

#[test]
fn marks_must_be_ordered() {
    assert_eq!(Marks::default().problem(), None);
    let bad = [
        (1.02, 1.05),
        (1.05, 0.9),
        (1.05, 1.05),
        (f64::INFINITY, 1.0),
    ];
    for (high, low) in bad {
        assert!(Marks { high, low }.problem().is_some(), "{high} {low}");
    }
}
