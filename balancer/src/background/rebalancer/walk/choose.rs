//! Choosing the moves of one step of the walk: each entry's plan
//! ([`rebalance::key_plan`]), the key's size on its leaving node, and the
//! joining node the planner's [`Progress`] picks.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::future::join_all;

use super::super::migrate::Move;
use super::Pass;
use crate::rebalance::{self, KeyPlan, Progress, Step};

impl Pass<'_> {
    /// The moves for one step of the walk; sets on one failure domain are
    /// spread only while `spreading`, and counted in `unspread` when they
    /// cannot be. An entry naming a draining node that is not moved now
    /// marks the node as still `named`.
    pub(super) async fn choose(
        &self,
        entries: &[(String, Vec<String>)],
        progress: &mut Progress,
        spreading: bool,
        named: &mut HashSet<Arc<str>>,
        unspread: &mut usize,
    ) -> Vec<Move> {
        let factor = self.app.config.replication.factor.get();
        let mut wanted = Vec::new();
        for (key, set) in entries {
            let members: Option<Vec<usize>> =
                set.iter().map(|id| self.table.index_of(id)).collect();
            let Some(members) = members else { continue };
            for &m in &members {
                if progress.is_draining(m) {
                    named.insert(self.table.get(m).id.clone());
                }
            }
            let domains = self.table.domains_of(set);
            match rebalance::key_plan(progress, &members, &domains, factor, spreading) {
                KeyPlan::Leave => {}
                KeyPlan::Spread(from) if !self.movable(&members, from) => *unspread += 1,
                KeyPlan::Narrow(from) | KeyPlan::Replace(from) if !self.movable(&members, from) => {
                }
                plan => wanted.push((key, set, members, plan)),
            }
        }
        let sizes = join_all(wanted.iter().map(|(key, _, _, plan)| {
            let (KeyPlan::Narrow(from) | KeyPlan::Replace(from) | KeyPlan::Spread(from)) = *plan
            else {
                unreachable!("left out above")
            };
            self.size(from, key)
        }))
        .await;
        let mut moves = Vec::new();
        for ((key, set, members, plan), size) in wanted.into_iter().zip(sizes) {
            let (from, to) = match plan {
                KeyPlan::Narrow(from) => (from, None),
                KeyPlan::Replace(from) | KeyPlan::Spread(from) => {
                    let holders: Vec<usize> =
                        members.iter().copied().filter(|&m| m != from).collect();
                    let holder_ids: Vec<String> = (holders.iter())
                        .map(|&m| self.table.get(m).id.to_string())
                        .collect();
                    let taken = self.table.domains_of(&holder_ids);
                    let policy = &self.app.config.placement;
                    let step = match plan {
                        // A spread needs a known utilization, which a
                        // lagging sampler may not give (`move_contenders`).
                        KeyPlan::Spread(_) => {
                            let ranked = self.table.move_contenders(key);
                            progress.spread(from, &ranked, &holders, &taken, policy)
                        }
                        _ => {
                            let ranked = self.table.contenders(key);
                            progress.next(from, size, &ranked, &holders, &taken, policy)
                        }
                    };
                    match step {
                        Step::Move(to) => (from, Some(to)),
                        _ if matches!(plan, KeyPlan::Spread(_)) => {
                            *unspread += 1;
                            continue;
                        }
                        // Met: the sets to spread may still follow.
                        Step::Keep | Step::Done => continue,
                    }
                }
                KeyPlan::Leave => continue,
            };
            progress.moved(from, to.unwrap_or(from), size);
            if let Some(to) = to {
                self.table.get(to).record_moved_in(size);
            }
            moves.push(Move {
                key: key.clone(),
                set: set.clone(),
                from: self.table.get(from).id.clone(),
                to: to.map(|t| self.table.get(t).id.clone()),
            });
        }
        moves
    }

    /// Whether a key of `members` can leave `from` now: every other
    /// member is up (the move reads them all), and so is `from`, unless it
    /// is being replaced. A set is never widened for a move that would
    /// then wait: it would name a node that holds nothing.
    fn movable(&self, members: &[usize], from: usize) -> bool {
        let up = |m: usize| self.table.get(m).is_up();
        let leaving = self.table.get(from);
        members.iter().all(|&m| m == from || up(m))
            && (leaving.is_up() || self.replacing.contains(&leaving.id))
    }

    /// The memory `key` takes on node `node`; 0 when unknown.
    async fn size(&self, node: usize, key: &str) -> u64 {
        let cmd = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .clone();
        let backend = &self.table.get(node).bulk;
        backend
            .cmd::<Option<u64>>(&cmd)
            .await
            .ok()
            .flatten()
            .unwrap_or(0)
    }
}
