//! The hand-offs of a pass (step 5 of a move, [`super::super::handoff`]):
//! those due now, those waiting out their deadline, and those kept for a
//! later pass.

use super::super::Stopped;
use super::super::handoff::HandOff;
use super::Pass;

/// Most hand-offs kept for a later pass.
const LEFTOVERS: usize = 100_000;

impl Pass<'_> {
    /// Hands off `items` and those left from earlier, keeping what is
    /// still left (at most [`LEFTOVERS`]: past that, a node keeps the
    /// copy until its next resync, as after a lost hand-off).
    pub(super) async fn hand_off(&mut self, items: Vec<HandOff>) -> Result<(), Stopped> {
        if let Err(stop) = self.check() {
            self.keep(items);
            return Err(stop);
        }
        let check = || self.check();
        let (left, stopped) = self.fenced().hand_off_all(items, &check).await;
        self.keep(left);
        stopped.map_or(Ok(()), Err)
    }

    /// Hands off what waits out its deadline, each once it is over, then
    /// clears the journal of what is done.
    pub(super) async fn hand_off_waiting(&mut self) -> Result<(), Stopped> {
        while let Some(&(at, _)) = self.carried.handing.front() {
            tokio::time::sleep_until(at).await;
            let (_, items) = self.carried.handing.pop_front().expect("a front hand-off");
            self.hand_off(items).await?;
        }
        self.clear_journal().await
    }

    /// Keeps hand-offs for a later pass, at most [`LEFTOVERS`]; the
    /// journal child of one past that is left in ZooKeeper (no longer
    /// this process's to clear), for the next leader to take over.
    pub(super) fn keep(&mut self, mut left: Vec<HandOff>) {
        let room = LEFTOVERS.saturating_sub(self.carried.leftovers.len());
        for lost in left.drain(room.min(left.len())..) {
            self.carried.open.remove(&lost.journal);
            if let Some(node) = self.table.by_id(&lost.leaving) {
                node.record_missed_write();
            }
        }
        self.carried.leftovers.append(&mut left);
    }
}
