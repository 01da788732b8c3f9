"""Writes analysis.ipynb from the cells below, so the notebook's source is
reviewable as plain Python. Run: python3 notebooks/build_notebooks.py"""

import json
from pathlib import Path

MD, CODE = "markdown", "code"

CELLS = [
    (MD, """# Request-log analysis

Reads a request log written by `loadgen --log FILE` (one CSV row per request; columns in the README)
and shows throughput, errors, latency, how the load spread over the data nodes, the hit ratio, and a
model that predicts request latency from the load. The log path comes from the `REQUEST_LOG`
environment variable (default: `requests.csv` beside this notebook). Every figure is computed from
the log."""),
    (CODE, """import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

log_path = Path(os.environ.get("REQUEST_LOG", "requests.csv"))
log = pd.read_csv(log_path, keep_default_na=False, na_values=[])
log["t_s"] = log["intended_us"] / 1e6
log["latency_ms"] = log["latency_us"] / 1e3
log["service_ms"] = log["service_us"] / 1e3
log["second"] = log["t_s"].astype(int)
log["is_error"] = log["outcome"] == "error"
plt.rcParams.update({"figure.figsize": (10, 4), "axes.grid": True})
print(f"{len(log):,} requests from {log_path}, {log['t_s'].max():.1f} s, "
      f"operations: {log['op'].value_counts().to_dict()}")"""),
    (MD, "## Throughput and error rate over time"),
    (CODE, """per_second = log.groupby("second").agg(requests=("op", "size"), errors=("is_error", "sum"))
per_second["error_rate"] = per_second["errors"] / per_second["requests"]
fig, ax = plt.subplots()
ax.plot(per_second.index, per_second["requests"], label="requests/s (by due time)")
ax.set(title="Throughput over time", xlabel="time since start (s)", ylabel="requests per second")
ax2 = ax.twinx()
ax2.plot(per_second.index, 100 * per_second["error_rate"], color="tab:red", label="error rate")
ax2.set_ylabel("errors (%)")
ax2.set_ylim(bottom=0)
handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
ax.legend(handles, [h.get_label() for h in handles], loc="upper left")
plt.show()
print(f"overall: {len(log) / max(log['t_s'].max(), 1e-9):.0f} requests/s, "
      f"{log['is_error'].mean():.2%} errors")"""),
    (MD, "## Latency percentiles over time"),
    (CODE, """pct = log.groupby("second")["latency_ms"].quantile([0.5, 0.9, 0.99]).unstack()
fig, ax = plt.subplots()
for q, label in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")]:
    ax.plot(pct.index, pct[q], label=label)
ax.set(title="Latency percentiles per second", xlabel="time since start (s)", ylabel="latency (ms)",
       yscale="log")
ax.legend()
plt.show()"""),
    (MD, "## Latency distribution"),
    (CODE, """fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
bins = np.logspace(np.log10(max(log["latency_ms"].min(), 1e-3)), np.log10(log["latency_ms"].max()), 60)
left.hist(log["latency_ms"], bins=bins)
left.set(title="Latency histogram", xlabel="latency (ms, log scale)", ylabel="requests", xscale="log")
ordered = np.sort(log["latency_ms"].to_numpy())
tail = 1 - np.arange(len(ordered)) / len(ordered)
right.plot(ordered, tail)
right.set(title="Latency tail (complementary CDF)", xlabel="latency (ms)", ylabel="fraction slower",
          xscale="log", yscale="log")
plt.show()
print(log["latency_ms"].describe(percentiles=[0.5, 0.9, 0.99, 0.999]).round(3).to_string())"""),
    (MD, "## Latency by operation and by value size"),
    (CODE, """fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
ops = sorted(log["op"].unique())
left.boxplot([log.loc[log["op"] == op, "latency_ms"] for op in ops], showfliers=False)
left.set_xticks(range(1, len(ops) + 1), ops)
left.set(title="Latency by operation (outliers hidden)", ylabel="latency (ms)")
writes = log[log["value_bytes"] > 0].copy()
if len(writes):
    writes["size_bin"] = pd.qcut(writes["value_bytes"], q=min(8, writes["value_bytes"].nunique()),
                                 duplicates="drop")
    by_size = writes.groupby("size_bin", observed=True).agg(
        bytes=("value_bytes", "median"), p50=("latency_ms", "median"),
        p99=("latency_ms", lambda s: s.quantile(0.99)))
    right.plot(by_size["bytes"], by_size["p50"], marker="o", label="p50")
    right.plot(by_size["bytes"], by_size["p99"], marker="o", label="p99")
    right.legend()
right.set(title="Write latency by value size", xlabel="value size (bytes, median of bin)",
          ylabel="latency (ms)", xscale="log")
plt.show()
print(log.groupby("op")["latency_ms"].describe(percentiles=[0.5, 0.99]).round(3).to_string())"""),
    (MD, "## How requests, keys and bytes spread across nodes"),
    (CODE, """served = log[log["nodes"] != "-"].assign(node=lambda d: d["nodes"].str.split(",")).explode("node")
spread = served.groupby("node").agg(requests=("op", "size"), keys=("key", "nunique"),
                                    bytes_written=("value_bytes", "sum"))
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
for ax, column, title in zip(axes, spread.columns, ["Requests", "Distinct keys", "Bytes written"]):
    ax.bar(spread.index, spread[column])
    ax.set(title=f"{title} per node", ylabel=column.replace("_", " "))
    ax.tick_params(axis="x", rotation=30)
plt.tight_layout()
plt.show()
print(spread.to_string())"""),
    (MD, "## Hit ratio"),
    (CODE, """gets = log[log["op"] == "get"]
if len(gets):
    hits = gets.groupby("second")["outcome"].apply(lambda s: (s == "hit").mean())
    fig, ax = plt.subplots()
    ax.plot(hits.index, 100 * hits)
    ax.set(title="Hit ratio of gets per second", xlabel="time since start (s)", ylabel="hits (%)",
           ylim=(0, 100))
    plt.show()
    print(f"overall hit ratio: {(gets['outcome'] == 'hit').mean():.1%} of {len(gets):,} gets")
else:
    print("no gets in this log")"""),
    (MD, """## Predicting latency from load

Features known when a request is sent: the offered rate over the previous second, the value size,
the operation and the node. The model (gradient boosting on log latency) trains on the first 75% of
the run and is scored on the last 25%, so it predicts forward in time; a constant (the training
median) is the baseline to beat."""),
    (CODE, """from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, r2_score

data = log.sort_values("intended_us").reset_index(drop=True)
due = data["intended_us"].to_numpy()
data["rate_1s"] = np.arange(len(due)) - np.searchsorted(due, due - 1_000_000)
data["first_node"] = data["nodes"].str.split(",").str[0]
features = pd.get_dummies(data[["rate_1s", "value_bytes", "op", "first_node"]],
                          columns=["op", "first_node"], dtype=float)
target = np.log1p(data["latency_us"])
split = int(len(data) * 0.75)
model = HistGradientBoostingRegressor(max_iter=200, random_state=0)
model.fit(features[:split], target[:split])
predicted_ms = np.expm1(model.predict(features[split:])) / 1e3
actual_ms = data["latency_ms"][split:].to_numpy()
baseline_ms = np.full_like(actual_ms, np.expm1(np.median(target[:split])) / 1e3)
print(f"held-out requests: {len(actual_ms):,}")
print(f"model    MAE {mean_absolute_error(actual_ms, predicted_ms):.3f} ms, "
      f"R2 on log latency {r2_score(np.log1p(actual_ms), np.log1p(predicted_ms)):.3f}")
print(f"baseline MAE {mean_absolute_error(actual_ms, baseline_ms):.3f} ms")"""),
    (CODE, """fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
left.scatter(actual_ms, predicted_ms, s=4, alpha=0.4)
lims = [min(actual_ms.min(), predicted_ms.min()), max(actual_ms.max(), predicted_ms.max())]
left.plot(lims, lims, color="black", linewidth=1, label="perfect")
left.set(title="Predicted against actual latency (held out)", xlabel="actual (ms)",
         ylabel="predicted (ms)", xscale="log", yscale="log")
left.legend()
held_out = data.iloc[split:]
right.plot(held_out["t_s"], actual_ms, ".", markersize=2, alpha=0.4, label="actual")
right.plot(held_out["t_s"], predicted_ms, ".", markersize=2, alpha=0.6, label="predicted")
right.set(title="Held-out part of the run", xlabel="time since start (s)", ylabel="latency (ms)",
          yscale="log")
right.legend()
plt.show()"""),
]


def cell(number, kind, source):
    lines = source.splitlines(keepends=True)
    common = {"id": f"cell-{number}", "metadata": {}, "source": lines}
    if kind == MD:
        return {"cell_type": "markdown", **common}
    return {"cell_type": "code", "execution_count": None, "outputs": [], **common}


def main():
    notebook = {
        "cells": [cell(i, kind, source) for i, (kind, source) in enumerate(CELLS)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = Path(__file__).with_name("analysis.ipynb")
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
