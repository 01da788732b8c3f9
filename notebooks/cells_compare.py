"""The cells of compare.ipynb: two sets of runs, A and B, side by side, with
bootstrap intervals. Edit here, then run python3 notebooks/build_notebooks.py."""

MD, CODE = "markdown", "code"

CELLS = [
    (MD, """# A against B

Two sets of `loadgen --log` runs of the same workload, A and B (two builds, two settings, two
machines), at least 3 runs each: percentiles, distributions, throughput over time and errors side by
side, then for each figure whether the difference between A and B exceeds the spread between runs of
the same set.

Inputs from the environment: `RUNS_A` and `RUNS_B`, each a list of request logs or glob patterns
separated by `:` (e.g. `RUNS_A='runs/a/*/requests.csv'`); `LABEL_A` and `LABEL_B` name the sets
(default `A`, `B`); `PLOTS_DIR`, when set, receives every figure as a PNG."""),
    (CODE, """import glob
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

plots_dir = os.environ.get("PLOTS_DIR")
plt.rcParams.update({"figure.figsize": (10, 4), "axes.grid": True})
MIN_RUNS = 3


def show(fig, name):
    # Shows the figure, and saves it as PLOTS_DIR/<name>.png when PLOTS_DIR is set.
    if plots_dir:
        Path(plots_dir).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(plots_dir) / f"{name}.png", dpi=100, bbox_inches="tight")
    plt.show()


def run_paths(variable):
    patterns = [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
    paths = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    if len(paths) < MIN_RUNS:
        raise SystemExit(f"{variable} names {len(paths)} request logs ({patterns}); "
                         f"a comparison needs at least {MIN_RUNS} runs per set")
    return paths


def load(path):
    log = pd.read_csv(path, keep_default_na=False, na_values=[])
    log["t_s"] = log["intended_us"] / 1e6
    log["latency_ms"] = log["latency_us"] / 1e3
    log["is_error"] = log["outcome"] == "error"
    return log


labels = {"A": os.environ.get("LABEL_A", "A"), "B": os.environ.get("LABEL_B", "B")}
runs = [(s, i, path, load(path))
        for s, variable in [("A", "RUNS_A"), ("B", "RUNS_B")]
        for i, path in enumerate(run_paths(variable))]
colors = {"A": "tab:blue", "B": "tab:orange"}
for s, i, path, log in runs:
    print(f"{labels[s]} run {i}: {len(log):,} requests, {log['t_s'].max():.1f} s, {path}")"""),
    (MD, """## Percentiles, throughput and errors per run

Throughput is completed requests over the time from the first due time to the last response."""),
    (CODE, """QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p99.9": 0.999}


def run_figures(log):
    figures = {name: log["latency_ms"].quantile(q) for name, q in QUANTILES.items()}
    figures["max"] = log["latency_ms"].max()
    span_s = ((log["intended_us"] + log["latency_us"]).max() - log["intended_us"].min()) / 1e6
    figures["req/s"] = len(log) / max(span_s, 1e-9)
    figures["errors %"] = 100 * log["is_error"].mean()
    return figures


per_run = pd.DataFrame([{"set": labels[s], "run": i, **run_figures(log)} for s, i, _, log in runs])
print(per_run.round(3).to_string(index=False))
print()
print(per_run.groupby("set").agg(["mean", "min", "max"]).drop(columns="run").round(3).T.to_string())"""),
    (MD, "## Latency distributions, run by run"),
    (CODE, """fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
for s, i, _, log in runs:
    ordered = np.sort(log["latency_ms"].to_numpy())
    tail = 1 - np.arange(len(ordered)) / len(ordered)
    label = labels[s] if i == 0 else None
    right.plot(ordered, tail, color=colors[s], alpha=0.7, label=label)
    left.hist(log["latency_ms"], bins=np.logspace(-2, 4, 80), histtype="step", color=colors[s],
              density=True, label=label)
left.set(title="Latency histogram (density)", xlabel="latency (ms)", ylabel="density", xscale="log")
left.legend()
right.set(title="Latency tail (complementary CDF)", xlabel="latency (ms)", ylabel="fraction slower",
          xscale="log", yscale="log")
right.legend()
show(fig, "distributions")"""),
    (MD, "## Throughput and p99 over time"),
    (CODE, """fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
for s, i, _, log in runs:
    second = log["t_s"].astype(int)
    label = labels[s] if i == 0 else None
    top.plot(log.groupby(second).size(), color=colors[s], alpha=0.7, label=label)
    bottom.plot(log.groupby(second)["latency_ms"].quantile(0.99), color=colors[s], alpha=0.7,
                label=label)
top.set(title="Requests per second (by due time)", ylabel="requests/s")
top.legend()
bottom.set(title="p99 latency per second", xlabel="time since start (s)", ylabel="latency (ms)",
           yscale="log")
bottom.legend()
show(fig, "over_time")"""),
    (MD, "## Errors"),
    (CODE, """fig, ax = plt.subplots()
positions = np.arange(len(per_run))
ax.bar(positions, per_run["errors %"], color=[colors[s] for s, *_ in runs])
ax.set_xticks(positions, [f"{labels[s]} {i}" for s, i, *_ in runs])
ax.set(title="Error rate per run", ylabel="errors (%)")
show(fig, "errors")
kinds = pd.concat([log.loc[log["is_error"]].assign(set=labels[s], run=i) for s, i, _, log in runs])
if len(kinds):
    kinds["kind"] = kinds["status"].map(lambda st: f"http_{st}" if st else "no response")
    print(kinds.groupby(["set", "run", "kind"]).size().to_string())
else:
    print("no errors in any run")"""),
    (MD, """## Do the differences exceed the run-to-run spread?

For each figure: the difference of the means, B − A, with a 95% bootstrap interval that resamples
*runs* within each set (10,000 resamples), so it carries the spread between runs, not only the noise
within one. A difference is called real only when the interval excludes 0 **and** the two sets' runs do
not overlap (every B run above every A run, or below). Otherwise it is within the run-to-run spread:
not shown to differ.

Honestly: with 3 runs a set, resampling runs has only 10 distinct outcomes per set, so the intervals
are coarse and too narrow more often than 5% of the time; the overlap rule is there to guard against
that. A difference called real on 3 runs is a lead to confirm with more runs, not a result."""),
    (CODE, """rng = np.random.default_rng(0)
RESAMPLES = 10_000


def bootstrap_difference(a, b):
    a, b = np.asarray(a), np.asarray(b)
    means_a = a[rng.integers(0, len(a), (RESAMPLES, len(a)))].mean(axis=1)
    means_b = b[rng.integers(0, len(b), (RESAMPLES, len(b)))].mean(axis=1)
    return np.percentile(means_b - means_a, [2.5, 97.5])


rows = []
for figure in [*QUANTILES, "max", "req/s", "errors %"]:
    a = per_run.loc[per_run["set"] == labels["A"], figure].to_numpy()
    b = per_run.loc[per_run["set"] == labels["B"], figure].to_numpy()
    low, high = bootstrap_difference(a, b)
    apart = b.min() > a.max() or b.max() < a.min()
    real = (low > 0 or high < 0) and apart
    rows.append({"figure": figure, "A mean": a.mean(), "B mean": b.mean(),
                 "B - A": b.mean() - a.mean(), "95% low": low, "95% high": high,
                 "A runs": f"{a.min():.3f}..{a.max():.3f}", "B runs": f"{b.min():.3f}..{b.max():.3f}",
                 "verdict": "exceeds run-to-run spread" if real else "within run-to-run spread"})
verdicts = pd.DataFrame(rows).set_index("figure")
print(verdicts.round(3).to_string())"""),
    (CODE, """fig, ax = plt.subplots(figsize=(10, 4))
shown = verdicts.loc[list(QUANTILES)]
y = np.arange(len(shown))
ax.errorbar(shown["B - A"], y, xerr=[shown["B - A"] - shown["95% low"], shown["95% high"] - shown["B - A"]],
            fmt="o", capsize=4)
ax.axvline(0, color="black", linewidth=1)
ax.set_yticks(y, shown.index)
ax.set(title=f"{labels['B']} − {labels['A']} latency, 95% bootstrap interval over runs",
       xlabel="difference (ms)")
show(fig, "differences")
for figure, row in verdicts.iterrows():
    print(f"{figure}: {labels['B']} − {labels['A']} = {row['B - A']:+.3f} "
          f"[{row['95% low']:+.3f}, {row['95% high']:+.3f}]: {row['verdict']}")"""),
]
