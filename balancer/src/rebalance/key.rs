//! For one key's replica set, as the executor walks the index: which
//! member leaves and whether a node joins first. Pure.

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
}

/// The plan for a set of `members` (node indexes, primary first) under
/// replication factor `factor`. The member that leaves is the first that
/// is draining, else the first with bytes left to shed; a set wider than
/// the factor with neither loses its last member, the one a move added.
pub fn key_plan(progress: &Progress, members: &[usize], factor: usize) -> KeyPlan {
    let source = members
        .iter()
        .find(|&&m| progress.is_draining(m))
        .or_else(|| members.iter().find(|&&m| progress.left(m) > 0))
        .copied();
    match (source, members.last()) {
        (Some(from), _) if members.len() > factor => KeyPlan::Narrow(from),
        (None, Some(&last)) if members.len() > factor => KeyPlan::Narrow(last),
        (Some(from), _) => KeyPlan::Replace(from),
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

    #[test]
    fn a_draining_member_leaves_before_a_shedding_one() {
        let p = progress();
        assert_eq!(key_plan(&p, &[0, 3], 2), KeyPlan::Replace(3));
        assert_eq!(key_plan(&p, &[0, 1], 2), KeyPlan::Replace(0));
        assert_eq!(key_plan(&p, &[1, 2], 2), KeyPlan::Leave);
    }

    #[test]
    fn a_set_wider_than_the_factor_is_narrowed() {
        let p = progress();
        assert_eq!(key_plan(&p, &[1, 3, 2], 2), KeyPlan::Narrow(3));
        assert_eq!(key_plan(&p, &[0, 1, 2], 2), KeyPlan::Narrow(0));
        assert_eq!(key_plan(&p, &[1, 2, 0], 3), KeyPlan::Replace(0));
        assert_eq!(
            key_plan(&p, &[2, 1, 2], 2),
            KeyPlan::Narrow(2),
            "the last member"
        );
        assert_eq!(key_plan(&p, &[], 2), KeyPlan::Leave);
    }
}
