"""The cells of analysis.ipynb: one request log (and nodes.csv) in plots.
Edit here, then run python3 notebooks/build_notebooks.py."""

MD, CODE = "markdown", "code"

CELLS = [
    (MD, """# Request-log analysis

Reads a request log written by `loadgen --log FILE` (one CSV row per request; columns in the README)
and shows throughput, errors, latency, how the load spread over the data nodes, the hit ratio, and a
model that predicts request latency from the load; with `nodes.csv` beside it (`--nodes-poll-ms`),
per-node utilization over time. Paths come from the environment: `REQUEST_LOG` (default:
`requests.csv` beside this notebook), `NODES_LOG` (default: `nodes.csv` beside the log) and
`PLOTS_DIR` (when set, every figure is also saved there as a PNG). Every figure is computed from the
logs."""),
    (CODE, """import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

log_path = Path(os.environ.get("REQUEST_LOG", "requests.csv"))
nodes_path = Path(os.environ.get("NODES_LOG", log_path.with_name("nodes.csv")))
plots_dir = os.environ.get("PLOTS_DIR")
log = pd.read_csv(log_path, keep_default_na=False, na_values=[])
if "source" not in log:  # logs from before the source column
    log["source"] = "-"
log["t_s"] = log["intended_us"] / 1e6
log["latency_ms"] = log["latency_us"] / 1e3
log["service_ms"] = log["service_us"] / 1e3
log["second"] = log["t_s"].astype(int)
log["is_error"] = log["outcome"] == "error"
plt.rcParams.update({"figure.figsize": (10, 4), "axes.grid": True})


def show(fig, name):
    # Shows the figure, and saves it as PLOTS_DIR/<name>.png when PLOTS_DIR is set.
    if plots_dir:
        Path(plots_dir).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(plots_dir) / f"{name}.png", dpi=100, bbox_inches="tight")
    plt.show()


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
show(fig, "throughput")
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
show(fig, "latency_percentiles")"""),
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
show(fig, "latency_distribution")
print(log["latency_ms"].describe(percentiles=[0.5, 0.9, 0.99, 0.999]).round(3).to_string())"""),
    (MD, "## Latency by operation and by value size"),
    (CODE, """fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
ops = sorted(log["op"].unique())
left.boxplot([log.loc[log["op"] == op, "latency_ms"] for op in ops], showfliers=False)
left.set_xticks(range(1, len(ops) + 1), ops)
left.set(title="Latency by operation (outliers hidden)", ylabel="latency (ms)")
# A write's size is its value's; a read hit's, its response body (the value
# with its key and ttl). Older logs have no response_bytes: writes only.
sized = {"write": log[log["value_bytes"] > 0].assign(size=lambda d: d["value_bytes"])}
if "response_bytes" in log.columns:
    sized["read hit"] = log[(log["op"] == "get") & (log["outcome"] == "hit")].assign(
        size=lambda d: d["response_bytes"])
for name, part in sized.items():
    if len(part) == 0:
        continue
    part = part.assign(size_bin=pd.qcut(part["size"], q=min(8, part["size"].nunique()),
                                        duplicates="drop"))
    by_size = part.groupby("size_bin", observed=True).agg(
        bytes=("size", "median"), p50=("latency_ms", "median"),
        p99=("latency_ms", lambda s: s.quantile(0.99)))
    right.plot(by_size["bytes"], by_size["p50"], marker="o", label=f"{name} p50")
    right.plot(by_size["bytes"], by_size["p99"], marker="o", label=f"{name} p99")
right.legend()
right.set(title="Latency by size", xlabel="bytes (median of bin)",
          ylabel="latency (ms)", xscale="log")
show(fig, "latency_by_op_and_size")
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
fig.tight_layout()
show(fig, "spread_by_node")
print(spread.to_string())"""),
    (MD, """## Per-node utilization over time, with the load

From `nodes.csv` (`loadgen --nodes-poll-ms 500` writes it beside the log): each node's utilization
(used + pending bytes over capacity; 100% is full) and the new keys this balancer placed on it, on the
request log's time axis, with requests/s. Memory-aware placement at work: when a node fills, its
placed-keys line flattens while the others climb."""),
    (CODE, """if nodes_path.exists():
    nodes = pd.read_csv(nodes_path)
    nodes["t_s"] = nodes["time_us"] / 1e6
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for node, rows in nodes.groupby("node"):
        top.plot(rows["t_s"], 100 * rows["utilization"], label=node)
        bottom.plot(rows["t_s"], rows["placed_keys"], label=node)
    top.set(title="Node utilization and offered load", ylabel="utilization (%)")
    top.set_ylim(bottom=0)
    rate = top.twinx()
    rate.plot(per_second.index, per_second["requests"], color="black", linestyle="--", linewidth=1,
              label="requests/s")
    rate.set_ylabel("requests per second")
    rate.set_ylim(bottom=0)
    handles = top.get_legend_handles_labels()[0] + rate.get_legend_handles_labels()[0]
    top.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize="small")
    bottom.set(title="New keys placed per node (cumulative)", xlabel="time since start (s)",
               ylabel="keys placed")
    show(fig, "node_utilization")
    last = nodes.sort_values("t_s").groupby("node").tail(1).set_index("node")
    print(last[["state", "used_bytes", "capacity_bytes", "utilization", "keys", "placed_keys"]].to_string())
else:
    print(f"no {nodes_path}: run loadgen with --nodes-poll-ms 500 (and --log) to get it")"""),
    (MD, """## Latency from the due time against latency from the send

`latency_us` counts from when a request was due, `service_us` from when it was sent. While they
track each other the generator sends on time; where they part, requests wait for a connection
before they are sent: queueing has started (the server is not keeping up with the offered rate)."""),
    (CODE, """fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
due = log.groupby("second")["latency_ms"].quantile([0.5, 0.99]).unstack()
sent = log.groupby("second")["service_ms"].quantile([0.5, 0.99]).unstack()
for q, style in [(0.5, ":"), (0.99, "-")]:
    top.plot(due.index, due[q], style, color="tab:red", label=f"p{round(q * 100)} from due time")
    top.plot(sent.index, sent[q], style, color="tab:blue", label=f"p{round(q * 100)} from send")
top.set(title="Latency from the due time and from the send", ylabel="latency (ms)", yscale="log")
top.legend(fontsize="small")
wait = (log["latency_ms"] - log["service_ms"]).clip(lower=0)
waited = wait.groupby(log["second"]).quantile(0.99)
bottom.plot(waited.index, waited, color="tab:purple")
bottom.set(title="p99 wait before the send (due to sent)", xlabel="time since start (s)",
           ylabel="wait (ms)")
bottom.set_ylim(bottom=0)
show(fig, "due_vs_send")
late = waited[waited > 1.0]
print("no second with a p99 wait over 1 ms: no queueing" if late.empty else
      f"queueing (p99 wait over 1 ms) from second {late.index.min()}, worst {late.max():.1f} ms")"""),
    (MD, """## Near-cache hits against node reads

The `source` column holds the balancer's `X-Cache-Source` answer on a get hit: `near` (its near
cache, no Redis round trip) or `node`. Their share over time and their latencies."""),
    (CODE, """hits = log[(log["op"] == "get") & log["source"].isin(["near", "node"])]
if len(hits):
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    share = hits.groupby(["second", "source"]).size().unstack(fill_value=0)
    share = share.div(share.sum(axis=1), axis=0) * 100
    left.stackplot(share.index, [share[c] for c in share.columns], labels=share.columns)
    left.set(title="Where get hits were served", xlabel="time since start (s)", ylabel="share (%)",
             ylim=(0, 100))
    left.legend(loc="lower right")
    for source, rows in hits.groupby("source"):
        ordered = np.sort(rows["service_ms"].to_numpy())
        right.plot(ordered, 1 - np.arange(len(ordered)) / len(ordered), label=source)
    right.set(title="Service time of get hits (complementary CDF)", xlabel="service time (ms)",
              ylabel="fraction slower", xscale="log", yscale="log")
    right.legend()
    show(fig, "near_vs_node")
    print(hits.groupby("source")["service_ms"].describe(percentiles=[0.5, 0.99]).round(3).to_string())
else:
    print("no get hits with a source in this log (a balancer without X-Cache-Source, or no gets)")"""),
    (MD, "## Latency by node"),
    (CODE, """by_node = log[log["nodes"] != "-"].assign(node=lambda d: d["nodes"].str.split(",").str[0])
if len(by_node):
    names = sorted(by_node["node"].unique())
    fig, ax = plt.subplots()
    ax.boxplot([by_node.loc[by_node["node"] == n, "service_ms"] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.tick_params(axis="x", rotation=30)
    ax.set(title="Service time by the node that served (first named; outliers hidden)",
           ylabel="service time (ms)")
    show(fig, "latency_by_node")
    print(by_node.groupby(["node", "op"])["service_ms"].describe(percentiles=[0.5, 0.99])
          .round(3).to_string())
else:
    print("no request in this log names a node")"""),
    (MD, "## Hit ratio"),
    (CODE, """gets = log[log["op"] == "get"]
if len(gets):
    hits = gets.groupby("second")["outcome"].apply(lambda s: (s == "hit").mean())
    fig, ax = plt.subplots()
    ax.plot(hits.index, 100 * hits)
    ax.set(title="Hit ratio of gets per second", xlabel="time since start (s)", ylabel="hits (%)",
           ylim=(0, 100))
    show(fig, "hit_ratio")
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
show(fig, "model_held_out")"""),
]


