//! The printed tables, in markdown (they go into BENCHMARKS.md as they are).

use std::fmt::Write as _;

use crate::report::{event_figures, lookup_figures, skew};
use crate::run::{Schedule, Trace};

/// Ticks after the add at which the added node's fill is read.
const SOON: u32 = 10;

fn pct(x: f64) -> String {
    format!("{:.3}%", 100.0 * x)
}

pub(crate) fn render(traces: &[Trace], s: &Schedule, window: u32) -> String {
    let mut out = String::new();
    let at = |t: &Trace, tick: u32| t.rows[(tick as usize).min(t.rows.len() - 1)];
    let _ = writeln!(
        out,
        "\nUtilization, max/mean (mean = used / capacity of the up nodes)\n\n\
         | policy | before the add: mean / peak (ticks {}..{}) | {SOON} ticks after the add: max/mean, added node / mean | before the drain: added node / mean | end: max/mean | run s |\n\
         | --- | --- | --- | --- | --- | --- |",
        s.add_at / 2,
        s.add_at
    );
    for t in traces {
        let (mean, peak) = skew(&t.rows, s.add_at / 2, s.add_at);
        let soon = at(t, s.add_at + SOON);
        let before_drain = at(t, s.drain_at.saturating_sub(1));
        let last = t.rows[t.rows.len() - 1];
        let added = |r: crate::run::Row| r.added.map_or(f64::NAN, |u| u / r.mean);
        let _ = writeln!(
            out,
            "| {} | {mean:.3} / {peak:.3} | {:.3}, {:.2} | {:.2} | {:.3} | {:.0} |",
            t.policy,
            soon.max / soon.mean,
            added(soon),
            added(before_drain),
            last.max / last.mean,
            t.seconds
        );
    }
    let _ = writeln!(
        out,
        "\nKeys moved, as a share of the live keys (window: the change's tick and the {window} after it, so the add's ends before the drain)\n\n\
         | policy | add: at once | add: window | add: ideal 1/(n+1) | drain: at once | drain: window | drain: ideal (its keys) | as many ticks before the add | drained node's bytes at the end |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for t in traces {
        let figures = event_figures(t, window);
        let cell = |add: bool| {
            let Some(e) = t.events.iter().zip(&figures).find(|(e, _)| e.add == add) else {
                return "- | - | -".to_string();
            };
            let live = e.0.live_keys.max(1) as f64;
            format!(
                "{} | {} | {}",
                pct(e.0.moved_at_once as f64 / live),
                pct(e.1.fraction),
                pct(e.1.ideal)
            )
        };
        let left = t.rows[t.rows.len() - 1].drained_bytes;
        let background = figures.iter().find(|e| e.add).map_or(0.0, |e| e.background);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {left} |",
            t.policy,
            cell(true),
            cell(false),
            pct(background)
        );
    }
    let _ = writeln!(
        out,
        "\nLookups without the index (sampled live keys at the end)\n\n\
         | policy | nodes asked at once | holder's place in the lookup order: mean / p99 / max | fixed candidates | keys within them |\n\
         | --- | --- | --- | --- | --- |"
    );
    for t in traces {
        let l = lookup_figures(t);
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} / {} / {} | {} | {:.2}% |",
            t.policy,
            l.asks,
            l.mean,
            l.p99,
            l.max,
            l.candidates,
            100.0 * l.within
        );
    }
    out
}
