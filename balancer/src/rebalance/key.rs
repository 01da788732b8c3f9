//! For one key's replica set, as the executor walks the index: which
//! member leaves and whether a node joins first, so that sets shed what
//! the plan asks and keep their copies on distinct failure domains. Pure.

use super::step::Progress;

/// What to do with one key's replica set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPlan {
    /// Leave the set as it is.
    Leave,
    /// Take this member out: the others already make the replication
    /// factor (a set widened by a move a leader did not finish, or copies
    /// adopted after index loss).
    Narrow(usize),
    /// Add a node ([`Progress::next`] chooses it), then take this member
    /// out.
    Replace(usize),
    /// Add a node on a failure domain apart from the other members
    /// ([`Progress::spread`] chooses it, if one can take it), then take
    /// this member out: it shares a domain with another member.
    Spread(usize),
}

/// The plan for a set of `members` (node indexes, primary first), each on
/// failure domain `domains[i]`, under replication factor `factor`.
///
/// The member that leaves is the first that is draining, else, from a set
/// wider than the factor, the last that shares a domain with an earlier
/// member, else the first with bytes left to shed; a set wider than the
/// factor with none of these loses its last member, the one a move added.
/// While `spreading`, a set no wider than the factor whose members share a
/// domain, none draining, is spread before it sheds: its last such member
/// leaves for a node on another domain (a set moved while a host was away,
/// or placed while only one host took keys).
pub fn key_plan(
    progress: &Progress,
    members: &[usize],
    domains: &[u64],
    factor: usize,
    spreading: bool,
) -> KeyPlan {
    let draining = members.iter().position(|&m| progress.is_draining(m));
    let shared = (1..members.len())
        .rev()
        .find(|&i| domains[..i].contains(&domains[i]));
    let shedding = members.iter().position(|&m| progress.left(m) > 0);
    let wide = members.len() > factor;
    let leaving = draining.or(shared.filter(|_| wide)).or(shedding);
    match (leaving, shared) {
        (Some(i), _) if wide => KeyPlan::Narrow(members[i]),
        (None, _) if wide => KeyPlan::Narrow(*members.last().expect("a wide set has members")),
        (_, Some(i)) if spreading && draining.is_none() => KeyPlan::Spread(members[i]),
        (Some(i), _) => KeyPlan::Replace(members[i]),
        (None, _) => KeyPlan::Leave,
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::{Load, Marks, Role, plan};
    use super::*;

    fn load(used: u64, role: Role) -> Load {
        Load {
            used,
            capacity: Some(1000),
            role,
        }
    }

    /// Node 0 over the mean, 1 and 2 under, 3 draining.
    fn progress() -> Progress {
        let nodes = [
            load(900, Role::Serving),
            load(300, Role::Serving),
            load(300, Role::Serving),
            load(100, Role::Draining),
        ];
        Progress::new(&plan(&nodes, Marks::default()), &nodes)
    }

    /// Each member on a domain of its own.
    fn apart(members: &[usize]) -> Vec<u64> {
        members.iter().map(|&m| m as u64).collect()
    }

    fn plan_of(p: &Progress, members: &[usize], factor: usize) -> KeyPlan {
        key_plan(p, members, &apart(members), factor, true)
    }

    #[test]
    fn a_draining_member_leaves_before_a_shedding_one() {
        let p = progress();
        assert_eq!(plan_of(&p, &[0, 3], 2), KeyPlan::Replace(3));
        assert_eq!(plan_of(&p, &[0, 1], 2), KeyPlan::Replace(0));
        assert_eq!(plan_of(&p, &[1, 2], 2), KeyPlan::Leave);
    }

    #[test]
    fn a_set_wider_than_the_factor_is_narrowed() {
        let p = progress();
        assert_eq!(plan_of(&p, &[1, 3, 2], 2), KeyPlan::Narrow(3));
        assert_eq!(plan_of(&p, &[0, 1, 2], 2), KeyPlan::Narrow(0));
        assert_eq!(plan_of(&p, &[1, 2, 0], 3), KeyPlan::Replace(0));
        assert_eq!(
            key_plan(&p, &[1, 2, 1], &[1, 2, 3], 2, true),
            KeyPlan::Narrow(1),
            "the last member"
        );
        assert_eq!(plan_of(&p, &[], 2), KeyPlan::Leave);
    }

    #[test]
    fn a_wide_set_loses_a_member_that_shares_a_domain_before_a_shedding_one() {
        let p = progress();
        // Nodes 1 and 2 on one host: narrowing 0 would leave both there.
        assert_eq!(
            key_plan(&p, &[1, 0, 2], &[7, 8, 7], 2, true),
            KeyPlan::Narrow(2)
        );
        // A draining member still goes first.
        assert_eq!(
            key_plan(&p, &[1, 3, 2], &[7, 8, 7], 2, true),
            KeyPlan::Narrow(3)
        );
    }

    #[test]
    fn a_set_on_one_domain_is_spread_while_spreading_before_it_sheds() {
        let p = progress();
        assert_eq!(key_plan(&p, &[1, 2], &[7, 7], 2, true), KeyPlan::Spread(2));
        assert_eq!(key_plan(&p, &[1, 0], &[7, 7], 2, true), KeyPlan::Spread(0));
        // A draining member goes first; apart members stay.
        assert_eq!(key_plan(&p, &[1, 3], &[7, 7], 2, true), KeyPlan::Replace(3));
        assert_eq!(key_plan(&p, &[1, 2], &[7, 8], 2, true), KeyPlan::Leave);
        // Not spreading: as the plan says.
        assert_eq!(key_plan(&p, &[1, 2], &[7, 7], 2, false), KeyPlan::Leave);
        assert_eq!(
            key_plan(&p, &[1, 0], &[7, 7], 2, false),
            KeyPlan::Replace(0)
        );
    }
}
