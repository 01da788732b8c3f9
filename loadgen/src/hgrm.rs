//! `--hdr-out`: the full latency distribution in HdrHistogram's `.hgrm`
//! text, the percentile table wrk2 prints and HdrHistogram's plotter
//! (`plotFiles.html`, `hdr-plot`) reads. Values are milliseconds; the
//! percentile steps halve the distance to 100% five ticks at a time, as
//! HdrHistogram's `outputPercentileDistribution` does.
//!
//! Two files: FILE holds the corrected distribution (latency from each
//! request's due time, so queueing behind a slow server counts), and the
//! uncorrected one (service time, from the send) goes beside it, with
//! `.uncorrected` before the `.hgrm` extension.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Steps per halving of the distance to 100%.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// A histogram of µs values as `.hgrm` text, in milliseconds.
pub fn format(h: &Histogram<u64>) -> String {
    let digits = usize::from(h.sigfig());
    let ms = |us: u64| us as f64 / 1000.0;
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += v.count_since_last_iteration();
        let value = ms(h.highest_equivalent(v.value_iterated_to()));
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:>12.digits$} {q:>2.12} {total:>10}");
        }
    }
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.digits$}, StdDeviation   = {:>12.digits$}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        ms(h.max()),
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_buckets
    );
    out
}

/// Where the uncorrected distribution goes, beside `path`:
/// `lat.hgrm` → `lat.uncorrected.hgrm`, `lat` → `lat.uncorrected`.
pub fn uncorrected_path(path: &str) -> String {
    match path.strip_suffix(".hgrm") {
        Some(stem) => format!("{stem}.uncorrected.hgrm"),
        None => format!("{path}.uncorrected"),
    }
}

/// Writes the corrected distribution to `path` and the uncorrected one
/// beside it.
///
/// # Errors
/// A file that cannot be written, in words.
pub fn write(
    path: &str,
    corrected: &Histogram<u64>,
    uncorrected: &Histogram<u64>,
) -> Result<(), String> {
    let other = uncorrected_path(path);
    for (file, h) in [(path, corrected), (other.as_str(), uncorrected)] {
        std::fs::write(file, format(h)).map_err(|e| format!("cannot write {file:?}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_climbs_to_100_percent_with_cumulative_counts() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in 1..=10_000u64 {
            h.record(us * 10).unwrap();
        }
        let text = format(&h);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        let rows: Vec<Vec<f64>> = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.contains("Value"))
            .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() > 50, "{} rows", rows.len());
        assert!(
            rows.windows(2)
                .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1] && w[0][2] <= w[1][2])
        );
        let median = rows.iter().find(|r| r[1] >= 0.5).unwrap();
        assert!((median[0] - 50.0).abs() < 0.1, "median {} ms", median[0]);
        let last = rows.last().unwrap();
        assert_eq!((last[1], last[2], last.len()), (1.0, 10_000.0, 3));
        assert!(
            text.contains("#[Max     =      100.031, Total count    =        10000]"),
            "{text}"
        );
        assert!(text.contains("SubBuckets     =         2048]"));
    }

    #[test]
    fn the_uncorrected_file_sits_beside() {
        assert_eq!(uncorrected_path("out/lat.hgrm"), "out/lat.uncorrected.hgrm");
        assert_eq!(uncorrected_path("lat.txt"), "lat.txt.uncorrected");
    }
}
