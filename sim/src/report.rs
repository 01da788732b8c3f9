//! The figures out of the traces: three CSV files (one row per policy and
//! tick, per node change, per policy's lookups) and a printed table.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::run::{Row, Trace};

/// Writes `timeline.csv`, `events.csv` and `lookups.csv` into `dir`.
pub(crate) fn write_csv(dir: &Path, traces: &[Trace], ticks_after: u32) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut timeline = String::from(
        "policy,tick,live_keys,mean_util,max_util,min_util,max_over_mean,added_util,drained_bytes,moved_keys,moved_bytes\n",
    );
    let mut events = String::from(
        "policy,event,tick,nodes_before,live_keys,keys_moved_at_once,keys_moved_window,window_ticks,fraction_moved,ideal_fraction,capacity_share,background_fraction\n",
    );
    let mut lookups = String::from(
        "policy,sampled_keys,asks_without_index,position_mean,position_p99,position_max,candidates,within_candidates\n",
    );
    for t in traces {
        for r in &t.rows {
            let added = r.added.map_or(String::new(), |u| format!("{u:.6}"));
            let _ = writeln!(
                timeline,
                "{},{},{},{:.6},{:.6},{:.6},{:.6},{added},{},{},{}",
                t.policy,
                r.tick,
                r.live_keys,
                r.mean,
                r.max,
                r.min,
                r.max / r.mean,
                r.drained_bytes,
                r.moved_keys,
                r.moved_bytes
            );
        }
        for e in event_figures(t, ticks_after) {
            let _ = writeln!(events, "{}", e.csv(t.policy));
        }
        let l = lookup_figures(t);
        let _ = writeln!(
            lookups,
            "{},{},{:.3},{:.3},{},{},{},{:.6}",
            t.policy, l.sampled, l.asks, l.mean, l.p99, l.max, l.candidates, l.within
        );
    }
    std::fs::write(dir.join("timeline.csv"), timeline)?;
    std::fs::write(dir.join("events.csv"), events)?;
    std::fs::write(dir.join("lookups.csv"), lookups)
}

pub(crate) struct EventFigures {
    pub(crate) add: bool,
    tick: u32,
    nodes: usize,
    live_keys: u64,
    at_once: u64,
    pub(crate) window: u64,
    window_ticks: u32,
    pub(crate) fraction: f64,
    pub(crate) ideal: f64,
    capacity_share: f64,
    /// Keys moved in as many ticks just before the change, as a share of
    /// the live keys: what the rebalancer moves anyway.
    pub(crate) background: f64,
}

impl EventFigures {
    fn csv(&self, policy: &str) -> String {
        format!(
            "{policy},{},{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6}",
            if self.add { "add" } else { "drain" },
            self.tick,
            self.nodes,
            self.live_keys,
            self.at_once,
            self.window,
            self.window_ticks,
            self.fraction,
            self.ideal,
            self.capacity_share,
            self.background
        )
    }
}

/// Keys moved because of each change: at once, and over the `ticks_after`
/// it (the rebalancer works on afterwards, and also corrects skew that
/// would have been corrected anyway).
pub(crate) fn event_figures(t: &Trace, ticks_after: u32) -> Vec<EventFigures> {
    let moved_by = |tick: u32| t.rows.get(tick as usize).map_or(0, |r: &Row| r.moved_keys);
    let last = t.rows.len() as u32 - 1;
    t.events
        .iter()
        .map(|e| {
            let end = (e.tick + ticks_after).min(last);
            let before = e.tick.checked_sub(1).map_or(0, moved_by);
            let window = moved_by(end) - before;
            let span = end - e.tick + 1;
            let earlier = e.tick.checked_sub(1 + span).map_or(0, moved_by);
            let ideal = if e.add {
                1.0 / (e.nodes + 1) as f64
            } else {
                e.drained_keys as f64 / e.live_keys.max(1) as f64
            };
            EventFigures {
                add: e.add,
                tick: e.tick,
                nodes: e.nodes,
                live_keys: e.live_keys,
                at_once: e.moved_at_once,
                window,
                window_ticks: span,
                fraction: window as f64 / e.live_keys.max(1) as f64,
                ideal,
                capacity_share: e.capacity_share,
                background: (before - earlier) as f64 / e.live_keys.max(1) as f64,
            }
        })
        .collect()
}

pub(crate) struct LookupFigures {
    sampled: usize,
    pub(crate) asks: f64,
    pub(crate) mean: f64,
    pub(crate) p99: usize,
    pub(crate) max: usize,
    pub(crate) candidates: usize,
    pub(crate) within: f64,
}

pub(crate) fn lookup_figures(t: &Trace) -> LookupFigures {
    let n = t.lookups.len().max(1);
    let mut positions: Vec<usize> = t.lookups.iter().map(|l| l.position).collect();
    positions.sort_unstable();
    let candidates = t.lookups.first().map_or(0, |l| l.candidates);
    LookupFigures {
        sampled: t.lookups.len(),
        asks: t.lookups.iter().map(|l| l.asks as f64).sum::<f64>() / n as f64,
        mean: positions.iter().sum::<usize>() as f64 / n as f64,
        p99: positions
            .get((positions.len() * 99) / 100)
            .copied()
            .unwrap_or(0),
        max: positions.last().copied().unwrap_or(0),
        candidates,
        within: t
            .lookups
            .iter()
            .filter(|l| l.position <= l.candidates)
            .count() as f64
            / n as f64,
    }
}

/// Mean and peak of max/mean over the ticks in `from..to`.
pub(crate) fn skew(rows: &[Row], from: u32, to: u32) -> (f64, f64) {
    let span: Vec<f64> = rows
        .iter()
        .filter(|r| (from..to).contains(&r.tick))
        .map(|r| r.max / r.mean)
        .collect();
    let mean = span.iter().sum::<f64>() / span.len().max(1) as f64;
    (mean, span.iter().copied().fold(0.0, f64::max))
}
