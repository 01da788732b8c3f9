//! One pass of the rebalancer: plan from the node table's memory figures,
//! walk the index choosing each key's move by the planner's rules, and
//! carry the moves out in batches, several waiting at once (each waits a
//! request deadline before it is settled), at the configured pace.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use coordination::election::Standing;
use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;

use super::handoff::HandOff;
use super::journal::Carried;
use super::migrate::{Batch, Fenced, Moved, fenced, index_fenced};
use super::roles::Part;
use super::{GRACE_MARGIN, Stopped, sweep};

mod choose;
mod handing;
mod show;
mod zk;
use crate::App;
use crate::background::pace::Pace;
use crate::nodes::NodeTable;
use crate::rebalance::{self, Load, Marks, Progress, Role};
use crate::values;

/// One pass, under one leadership token.
pub(super) struct Pass<'a> {
    app: &'a App,
    standing: &'a Standing,
    token: u64,
    shutdown: &'a watch::Receiver<bool>,
    table: Arc<NodeTable>,
    /// Draining nodes whose delete was forced: moved off while down.
    replacing: HashSet<Arc<str>>,
    /// The ids of the ZooKeeper entries that may hold keys, once read.
    listed: Option<HashSet<String>>,
    /// What passes under this process leave for the next.
    carried: &'a mut Carried,
    /// Widened batches waiting out the request deadline to be settled.
    waiting: VecDeque<Batch>,
}

/// The node table as the planner sees it: a node gone from the cluster
/// sheds nothing and takes nothing.
fn loads(table: &NodeTable, parts: &[Part]) -> Vec<Load> {
    (table.all().iter().zip(parts))
        .map(|(node, part)| {
            let (used, capacity) = node.memory().unwrap_or((0, None));
            match part {
                Part::Serve => Load {
                    used,
                    capacity,
                    role: Role::Serving,
                },
                Part::Drain { .. } => Load {
                    used,
                    capacity,
                    role: Role::Draining,
                },
                Part::Gone => Load {
                    used: 0,
                    capacity: None,
                    role: Role::Draining,
                },
            }
        })
        .collect()
}

impl<'a> Pass<'a> {
    pub(super) fn new(
        app: &'a App,
        standing: &'a Standing,
        token: u64,
        shutdown: &'a watch::Receiver<bool>,
        carried: &'a mut Carried,
    ) -> Pass<'a> {
        let table = app.nodes.current();
        Pass {
            app,
            standing,
            token,
            shutdown,
            table,
            replacing: HashSet::new(),
            listed: None,
            carried,
            waiting: VecDeque::new(),
        }
    }

    /// Plans, walks the index once, moves what the plan asks, then sweeps
    /// the draining nodes no entry names any more.
    pub(super) async fn run(&mut self) -> Result<(), Stopped> {
        self.raise_fences().await?;
        self.claim_journal().await?;
        let parts = self.parts().await?;
        let earlier = std::mem::take(&mut self.carried.leftovers);
        self.hand_off(earlier).await?;
        self.clear_journal().await?;
        let loads = loads(&self.table, &parts);
        let config = &self.app.config.rebalance;
        let marks = Marks {
            high: config.high,
            low: config.low,
        };
        let plan = rebalance::plan(&loads, marks);
        let draining: Vec<usize> = (0..parts.len())
            .filter(|&i| matches!(parts[i], Part::Drain { .. }))
            .collect();
        self.replacing = (draining.iter())
            .filter(|&&i| parts[i] == Part::Drain { replacing: true })
            .map(|&i| self.table.get(i).id.clone())
            .collect();
        // The hosts that can take a copy now: a node not up (or sampled)
        // yet, or away, changes them when it comes (back): a walk is owed.
        let serving = (0..parts.len())
            .filter(|&i| parts[i] == Part::Serve)
            .filter(|&i| self.table.takes_keys_sampled(i));
        let domains = serving.map(|i| self.table.domain(i)).collect();
        let returns = self.table.returns();
        let spreading = (self.carried.spread).note(domains, returns, std::time::Instant::now());
        let idle = plan.is_empty() && draining.is_empty() && !spreading;
        if idle || !self.app.index.is_complete() {
            return self.hand_off_waiting().await;
        }
        let mut progress = Progress::new(&plan, &loads);
        self.app.metrics.moves.active.set(1);
        self.show(&progress, &loads, None);
        let started = Instant::now();
        let grace = self.grace();
        let keys_pace = Pace::new(config.keys_per_sec);
        let bytes_pace = Pace::new(u32::try_from(config.bytes_per_sec).unwrap_or(u32::MAX));
        let mut named: HashSet<Arc<str>> = HashSet::new();
        let mut moved = (0u64, 0u64);
        let mut unspread = 0;
        let mut cursor = 0;
        loop {
            self.check()?;
            let (next, entries) = (self.app.index.scan(cursor, config.batch_keys).await)
                .map_err(|e| Stopped::Index(e.to_string()))?;
            let moves = self.choose(
                &entries,
                &mut progress,
                spreading,
                &mut named,
                &mut unspread,
            );
            let moves = moves.await;
            let count = moves.len();
            if !moves.is_empty() {
                let journal = self.record(&moves).await?;
                let keys = self.fenced().widen(moves).await?;
                self.waiting.push_back(Batch {
                    ready_at: Instant::now() + grace,
                    keys,
                    journal,
                });
            }
            while (self.waiting.front()).is_some_and(|b| b.ready_at <= Instant::now()) {
                let batch = self.waiting.pop_front().expect("a front batch");
                let (bytes, hand_offs) = self.finish(&batch, &mut named, &mut moved).await?;
                if !hand_offs.is_empty() {
                    (self.carried.handing).push_back((Instant::now() + grace, hand_offs));
                }
                self.show(&progress, &loads, Some((started, moved)));
                bytes_pace.wait(bytes as usize).await;
            }
            while (self.carried.handing.front()).is_some_and(|(at, _)| *at <= Instant::now()) {
                let (_, items) = self.carried.handing.pop_front().expect("a front hand-off");
                self.hand_off(items).await?;
                self.clear_journal().await?;
            }
            keys_pace.wait(count).await;
            cursor = next;
            if cursor == 0 {
                let now = std::time::Instant::now();
                (self.carried.spread).walked(spreading, unspread, now);
                break;
            }
            if progress.done() && draining.is_empty() && !spreading {
                break;
            }
        }
        while let Some(batch) = self.waiting.pop_front() {
            tokio::time::sleep_until(batch.ready_at).await;
            self.check()?;
            let (_, hand_offs) = self.finish(&batch, &mut named, &mut moved).await?;
            if !hand_offs.is_empty() {
                (self.carried.handing).push_back((Instant::now() + grace, hand_offs));
            }
            self.show(&progress, &loads, Some((started, moved)));
        }
        self.hand_off_waiting().await?;
        for &i in &draining {
            let node = self.table.get(i);
            if named.contains(&node.id) {
                continue;
            }
            // The entry's version before the check: a node activated and
            // drained again after it may hold keys the check missed.
            let Some(version) = self.entry_version(&node.id).await? else {
                continue;
            };
            if sweep::drained(&self.fenced(), node).await? {
                self.mark_drained(&node.id, version).await?;
            }
        }
        Ok(())
    }

    /// Settles a batch; returns the bytes copied and the hand-offs due.
    /// When a server refuses the token, the hand-offs of the keys already
    /// narrowed are kept before the pass stops.
    async fn finish(
        &mut self,
        batch: &Batch,
        named: &mut HashSet<Arc<str>>,
        moved: &mut (u64, u64),
    ) -> Result<(u64, Vec<HandOff>), Stopped> {
        self.check()?;
        let (ends, stopped) = self.fenced().finish(batch).await;
        let (mut done, mut bytes, mut hand_offs) = (0, 0, Vec::new());
        let metrics = &self.app.metrics.moves;
        for (from, end, hand_off) in ends {
            hand_offs.extend(hand_off);
            match end {
                Moved::Done(copied) => {
                    done += 1;
                    bytes += copied;
                    metrics.migrations.with_label_values(&["moved"]).inc();
                }
                Moved::Skipped => {
                    named.insert(from);
                    metrics.migrations.with_label_values(&["skipped"]).inc();
                }
            }
        }
        metrics.bytes.inc_by(bytes);
        *moved = (moved.0 + done, moved.1 + bytes);
        self.app.rebalance.update(|v| {
            v.keys_moved += done;
            v.bytes_moved += bytes;
        });
        if let Some(stop) = stopped {
            // Narrowed just now: their copies wait out the deadline too.
            let due = Instant::now() + self.grace();
            self.carried.handing.push_back((due, hand_offs));
            return Err(stop);
        }
        Ok((bytes, hand_offs))
    }

    /// Raises this token on the index and every up node, so a leader
    /// that lost its leadership is refused everywhere, not only where this
    /// one moved keys; done every pass, because a server that restarts
    /// empty forgets its token.
    async fn raise_fences(&self) -> Result<(), Stopped> {
        let token = self.token;
        if let Err(e) = self.app.index.raise_fence(token).await
            && let Some(stop) = index_fenced(&e)
        {
            return Err(stop);
        }
        let nodes = self.table.all().iter().filter(|n| n.is_up());
        let raised = join_all(nodes.map(|n| values::raise_fence(&n.bulk, token))).await;
        match raised
            .iter()
            .find_map(|r| r.as_ref().err().and_then(fenced))
        {
            Some(stop) => Err(stop),
            None => Ok(()),
        }
    }

    /// The wait after a widening or a narrowing: a request deadline, in
    /// which a write that read the set before lands or never will.
    fn grace(&self) -> Duration {
        self.app.config.timeouts.request + GRACE_MARGIN
    }

    fn fenced(&self) -> Fenced<'_> {
        let replication = &self.app.config.replication;
        Fenced {
            index: &self.app.index,
            table: &self.table,
            token: self.token,
            replacing: &self.replacing,
            max_drift_ms: replication.max_clock_drift.as_millis() as u64,
            when_full: replication.when_full,
            tombstone_ttl: replication.tombstone_ttl,
            listed: self.listed.as_ref(),
        }
    }

    /// Stops the pass when this balancer no longer leads under its token,
    /// is paused, or is shutting down.
    fn check(&self) -> Result<(), Stopped> {
        let now = self.standing.now();
        if !now.is_leader || now.token != Some(self.token) {
            return Err(Stopped::NotLeader);
        }
        if self.app.coordinator.rebalance_paused() || *self.shutdown.borrow() {
            return Err(Stopped::Paused);
        }
        Ok(())
    }
}
