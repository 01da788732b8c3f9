"""The cells of sim.ipynb: the placement simulator's CSV files as plots. Edit here, then run
python3 notebooks/build_notebooks.py."""

MD, CODE = "markdown", "code"

CELLS = [
    (MD, """# Placement simulator (issue 14)

The `sim` binary runs one key stream through this project's placement (top-`k` rendezvous, least
utilized, bounded-load cap; with the rebalancer on and off) and through ketama, consistent hashing
with bounded loads and power of two choices, then writes three CSV files:

- `timeline.csv`: per policy and tick, the max, mean and min utilization of the up nodes, the added
  node's utilization, and the keys moved so far;
- `events.csv`: per policy, the keys moved when a node is added and when one drains, against the
  ideal;
- `lookups.csv`: per policy, what finding a key costs without the index.

Inputs from the environment: `SIM_DIR`, the folder holding the three files (default `sim-out`
beside the notebook); `PLOTS_DIR`, when set, receives every figure as a PNG. Make the files with
`target/release/sim --out DIR` (`--help` lists the scale and workload flags)."""),
    (CODE, """import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

sim_dir = Path(os.environ.get("SIM_DIR", "sim-out"))
plots_dir = os.environ.get("PLOTS_DIR")
plt.rcParams.update({"figure.figsize": (10, 4), "axes.grid": True})


def show(fig, name):
    # Shows the figure, and saves it as PLOTS_DIR/<name>.png when PLOTS_DIR is set.
    if plots_dir:
        Path(plots_dir).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(plots_dir) / f"{name}.png", dpi=100, bbox_inches="tight")
    plt.show()


timeline = pd.read_csv(sim_dir / "timeline.csv")
events = pd.read_csv(sim_dir / "events.csv")
lookups = pd.read_csv(sim_dir / "lookups.csv")
policies = list(dict.fromkeys(timeline["policy"]))
if timeline.empty or events.empty or lookups.empty:
    raise SystemExit(f"{sim_dir}: a CSV file is empty")
add_tick = events.loc[events["event"] == "add", "tick"].min()
drain_tick = events.loc[events["event"] == "drain", "tick"].min()
print(f"{len(policies)} policies, {timeline['tick'].max() + 1} ticks; node added at tick {add_tick}, "
      f"node drained at tick {drain_tick}")"""),
    (MD, """## Max / mean utilization over time

1.0 is a perfectly even cluster. The dotted lines mark the add and the drain. Each policy's own
line is the fullest node over the mean of the up nodes (used over capacity)."""),
    (CODE, """fig, ax = plt.subplots()
for policy in policies:
    run = timeline[timeline["policy"] == policy]
    ax.plot(run["tick"], run["max_over_mean"], label=policy)
for tick, what in [(add_tick, "add"), (drain_tick, "drain")]:
    ax.axvline(tick, color="grey", linestyle=":")
    ax.annotate(what, (tick, 1.0), textcoords="offset points", xytext=(3, 3))
ax.set_xlabel("tick (memory-report interval)")
ax.set_ylabel("max / mean utilization")
ax.set_ylim(bottom=1.0)
ax.legend()
show(fig, "max_over_mean")

steady = timeline[(timeline["tick"] >= add_tick // 2) & (timeline["tick"] < add_tick)]
print(steady.groupby("policy", sort=False)["max_over_mean"].agg(["mean", "max"]).round(3).to_string())"""),
    (MD, """## The added node filling up

Its utilization over the cluster's mean: at 1.0 it holds its share. Without the rebalancer this
project's placement fills it with new keys only, as old keys expire."""),
    (CODE, """fig, ax = plt.subplots()
after = timeline[timeline["tick"] >= add_tick]
for policy in policies:
    run = after[after["policy"] == policy]
    ax.plot(run["tick"], run["added_util"] / run["mean_util"], label=policy)
ax.axhline(1.0, color="grey", linestyle=":")
ax.set_xlabel("tick")
ax.set_ylabel("added node / mean utilization")
ax.legend()
show(fig, "added_node")"""),
    (MD, """## Keys moved on an add and on a drain, against the ideal

The ideal for an add is 1/(n+1) of the keys; for a drain, the drained node's keys. "At once" is
what the change itself moved; "window" counts every move until the next change (or the end), and
"as many ticks before" what was moved in a span as long just before the change: the rebalancer's
steady skew correction, not caused by the change."""),
    (CODE, """fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, kind in zip(axes, ["add", "drain"]):
    rows = events[events["event"] == kind].set_index("policy")
    at_once = rows["keys_moved_at_once"] / rows["live_keys"]
    frame = pd.DataFrame({"at once": 100 * at_once, "window": 100 * rows["fraction_moved"],
                          "as many ticks before": 100 * rows["background_fraction"],
                          "ideal": 100 * rows["ideal_fraction"]})
    frame.plot.bar(ax=ax, rot=20)
    ax.set_title(f"keys moved on the {kind}")
    ax.set_ylabel("% of live keys")
show(fig, "keys_moved")
print(events[["policy", "event", "keys_moved_at_once", "keys_moved_window", "fraction_moved",
              "ideal_fraction", "background_fraction"]].round(5).to_string(index=False))"""),
    (CODE, """fig, ax = plt.subplots()
for policy in policies:
    run = timeline[timeline["policy"] == policy]
    ax.plot(run["tick"], 100 * run["moved_keys"] / run["live_keys"].clip(lower=1), label=policy)
for tick in [add_tick, drain_tick]:
    ax.axvline(tick, color="grey", linestyle=":")
ax.set_xlabel("tick")
ax.set_ylabel("keys moved so far, % of live keys")
ax.legend()
show(fig, "moved_over_time")"""),
    (MD, """## Lookups without the index

`asks_without_index`: the nodes a lookup asks at once when no index answers (this project's
hashing fallback asks every up node, since bounded-load overflow and the rebalancer can put a key
anywhere); `position`: the holder's place in the order the policy would ask nodes one by one;
`within_candidates`: keys found among the policy's fixed candidates (for this project, the top
`k + R - 1` that a search for a key the index does not list asks)."""),
    (CODE, """print(lookups.round(3).to_string(index=False))
fig, ax = plt.subplots()
frame = lookups.set_index("policy")
ax.bar(frame.index, frame["asks_without_index"], label="asked at once", alpha=0.6)
ax.plot(frame.index, frame["position_p99"], "o", color="black", label="holder's place, p99")
ax.set_yscale("log")
ax.set_ylabel("nodes")
ax.tick_params(axis="x", rotation=20)
ax.legend()
show(fig, "lookups")"""),
]
