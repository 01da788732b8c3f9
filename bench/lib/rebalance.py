"""Measurements for bench/rebalance, from a running cluster and loadgen logs.

    python3 bench/lib/rebalance.py watch URL TOKEN UNTIL LIMIT OUT [HOLD]
    python3 bench/lib/rebalance.py moved URL...
    python3 bench/lib/rebalance.py skew-maxmemory URL TOKEN FACTOR
    python3 bench/lib/rebalance.py utilization URL TOKEN
    python3 bench/lib/rebalance.py traffic WORK FROM DRAIN END PRESENT_KEYS PREFIX
    python3 bench/lib/rebalance.py pool-table ROWS

watch polls the balancer at URL (the leader) every 0.5 s, appending one JSON
line per poll to OUT: its /nodes figures (per node: id, state, entry
state, used_memory, capacity, keys, the node's own DBSIZE asked directly,
report age, missed writes), the ZooKeeper entries of /admin/nodes and
/admin/rebalance. UNTIL is `removed:ID` (the entry of
node ID reads `removed`) or `ratio:R:N` (max/mean utilization over N
serving nodes at most R, after a poll that saw it above R: the change
under test is visible). It prints one line of KEY=VALUE:

    outcome  reached or not_reached
    at       seconds from the start of the watch when the condition first
             held (the LIMIT when it did not)
    ratio    max/mean then (the last value seen when not reached)
    peak     the highest max/mean seen
    final    max/mean once the rebalancer has been idle for two polls after
             the condition held (HOLD s at least, LIMIT at most)
    keys_at, bytes_at    keys and bytes the leader moved from the start of
             the watch until the condition held (its /admin/rebalance counts)
    keys_end, bytes_end  ... until the end of the watch
    last_move  seconds from the start of the watch when the leader's
             keys_moved first reached its highest value (to a poll)
    first_move  ... when it first rose (the first batch settled; the
             LIMIT when it never did)
    empty    for removed:ID, seconds from the start of the watch when
             node ID's DBSIZE first read at most 1 (its fence key) after
             holding more (the LIMIT when it did not; - for ratio:R:N)

max/mean: the highest used/capacity over the serving nodes (entry
`active`, node `up`) over their total used / total capacity, as the
planner counts its mean. Figures come from /nodes, so they lag the nodes
by up to a memory sample (1 s).

moved sums dlb_migrations_total by outcome and dlb_migration_bytes_total
over the balancers at URL...: `moved=N skipped=N ... bytes=N`.

skew-maxmemory prints `ID ADDR USED MAXMEMORY`: the fullest serving node
and the maxmemory that puts it at FACTOR x the mean (the mean taken after
the change, its capacity included).

utilization prints `MEAN MAX/MEAN USED_TOTAL CAPACITY_TOTAL` now.

traffic reads WORK/traffic-*.csv (loadgen logs) with the wall-clock start
of each in WORK/traffic-*.start and splits the requests into [FROM, DRAIN)
and [DRAIN, END] (Unix seconds). For each window: requests, failed (no
answer, or a status other than 200/201/404), lost (a 404 on a read of a
key PREFIX<n> with n < PRESENT_KEYS: one written before the traffic, never
deleted), the p99 of GET and POST and the slowest request in ms, from the
due time:

    before REQUESTS FAILED LOST GET_P99 POST_P99 MAX FAILED_EXAMPLES
    during ...

pool-table reads ROWS, one line of KEY=VALUE per drain of the pool scenario
(bulk, round, get_before, get_during, post_before, post_during, secs, ...
as bench/rebalance writes them), and prints two Markdown tables: one row
per drain, with the p99s before and during it and their ratio during /
before; and the ratios shared (bulk 0) / pool (bulk 4) of each figure,
per round (the drains of one round ran one after the other) and over all
rounds (the mean of the shared drains over the mean of the pool ones).
Before the drain nothing differs between the two settings (no bulk work
runs), so the ratios of the "before" columns show the noise.
"""

import csv
import glob
import json
import os
import subprocess
import sys
import time
import urllib.request


def get(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


def snapshot(url, token):
    nodes = get(f"{url}/nodes", token=None)["nodes"]
    entries = {e["id"]: e for e in get(f"{url}/admin/nodes", token)["nodes"]}
    rebalance = get(f"{url}/admin/rebalance", token)
    return nodes, entries, rebalance


def dbsize(addr):
    """The node's DBSIZE, asked directly (its fence key included), or None."""
    host, _, port = addr.rpartition(":")
    try:
        out = subprocess.run(["redis-cli", "-h", host, "-p", port, "dbsize"],
                             capture_output=True, text=True, timeout=2).stdout
        return int(out.strip())
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def serving(nodes, entries):
    out = []
    for n in nodes:
        entry = entries.get(n["id"])
        if entry is None or entry["state"] != "active" or n["state"] != "up":
            continue
        if not n.get("capacity_bytes") or n.get("used_memory_bytes") is None:
            continue
        out.append(n)
    return out


def ratio(nodes, entries):
    s = serving(nodes, entries)
    if not s:
        return None, None
    used = sum(n["used_memory_bytes"] for n in s)
    cap = sum(n["capacity_bytes"] for n in s)
    mean = used / cap
    top = max(n["used_memory_bytes"] / n["capacity_bytes"] for n in s)
    return top / mean, mean


def watch(url, token, until, limit, out, hold=0.0):
    kind, _, arg = until.partition(":")
    if kind == "ratio":
        bound, count = (float(x) for x in arg.split(":"))
    armed = False
    start = time.time()
    reached_at = reached_ratio = None
    peak = last = 0.0
    idle_polls = 0
    moved = {}  # "start", "at", "end": (keys, bytes) of the leader's status
    top, last_move = -1, 0.0
    first_move = empty = None
    held = False  # whether node ID (removed:ID) was seen holding keys
    with open(out, "a") as f:
        while True:
            t = time.time() - start
            try:
                nodes, entries, rb = snapshot(url, token)
            except OSError as e:
                f.write(json.dumps({"t": round(t, 2), "error": str(e)}) + "\n")
                if t > limit:
                    break
                time.sleep(0.5)
                continue
            r, mean = ratio(nodes, entries)
            if r is not None:
                last = r
                peak = max(peak, r)
            now = (rb.get("keys_moved") or 0, rb.get("bytes_moved") or 0)
            sizes = {n["id"]: dbsize(n["addr"]) for n in nodes}
            moved.setdefault("start", now)
            moved["end"] = now
            if now[0] > top:
                top, last_move = now[0], t
            if first_move is None and now[0] > moved["start"][0]:
                first_move = t
            if kind == "removed" and empty is None:
                size = sizes.get(arg)
                if size is not None and size > 1:
                    held = True
                elif size is not None and held:
                    empty = t
            f.write(json.dumps({
                "t": round(t, 2),
                "ratio": r,
                "mean": mean,
                "nodes": [[n["id"], n["state"], entries.get(n["id"], {}).get("state"),
                           n.get("used_memory_bytes"), n.get("capacity_bytes"), n.get("keys"),
                           sizes[n["id"]], n.get("report_age_seconds"), n.get("missed_writes")]
                          for n in nodes],
                "rebalance": {k: rb.get(k) for k in (
                    "leader", "active", "keys_moved", "bytes_moved", "keys_per_sec",
                    "bytes_per_sec", "remaining_bytes", "remaining_secs", "last_error", "targets")},
            }) + "\n")
            f.flush()
            if reached_at is None:
                if kind == "removed":
                    done = entries.get(arg, {}).get("state") == "removed"
                else:
                    counted = len(serving(nodes, entries)) == count and r is not None
                    armed = armed or (counted and r > bound)
                    done = armed and counted and r <= bound
                if done:
                    reached_at, reached_ratio = t, r
                    moved["at"] = now
            else:
                idle_polls = 0 if rb.get("active") else idle_polls + 1
                if idle_polls >= 2 and t - reached_at >= hold:
                    break
            if t > limit:
                break
            time.sleep(0.5)
    moved.setdefault("start", (0, 0))
    moved.setdefault("end", moved["start"])
    moved.setdefault("at", moved["end"])
    fields = {
        "outcome": "reached" if reached_at is not None else "not_reached",
        "at": "%.1f" % (reached_at if reached_at is not None else limit),
        "ratio": "%.3f" % (reached_ratio if reached_ratio is not None else last),
        "peak": "%.3f" % peak,
        "final": "%.3f" % last,
        "keys_at": moved["at"][0] - moved["start"][0],
        "bytes_at": moved["at"][1] - moved["start"][1],
        "keys_end": moved["end"][0] - moved["start"][0],
        "bytes_end": moved["end"][1] - moved["start"][1],
        "last_move": "%.1f" % last_move,
        "first_move": "%.1f" % (first_move if first_move is not None else limit),
        "empty": ("-" if kind != "removed" else
                  "%.1f" % (empty if empty is not None else limit)),
    }
    print(" ".join(f"{k}={v}" for k, v in fields.items()))


def moved(urls):
    totals = {}
    for url in urls:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            if line.startswith("dlb_migrations_total{"):
                outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
                totals[outcome] = totals.get(outcome, 0) + int(float(line.rsplit(" ", 1)[1]))
            elif line.startswith("dlb_migration_bytes_total"):
                totals["bytes"] = totals.get("bytes", 0) + int(float(line.rsplit(" ", 1)[1]))
    totals.setdefault("moved", 0)
    totals.setdefault("skipped", 0)
    totals.setdefault("bytes", 0)
    print(" ".join(f"{k}={v}" for k, v in sorted(totals.items())))


def skew_maxmemory(url, token, factor):
    nodes, entries, _ = snapshot(url, token)
    s = serving(nodes, entries)
    x = max(s, key=lambda n: n["used_memory_bytes"] / n["capacity_bytes"])
    used = sum(n["used_memory_bytes"] for n in s)
    others = sum(n["capacity_bytes"] for n in s if n is not x)
    ux = x["used_memory_bytes"]
    # ux / c = factor * used / (others + c)  =>  c = ux * others / (factor * used - ux)
    c = int(ux * others / (factor * used - ux))
    print(x["id"], x["addr"], ux, c)


def utilization(url, token):
    nodes, entries, _ = snapshot(url, token)
    s = serving(nodes, entries)
    used = sum(n["used_memory_bytes"] for n in s)
    cap = sum(n["capacity_bytes"] for n in s)
    r, mean = ratio(nodes, entries)
    print(f"{mean:.4f} {r:.4f} {used} {cap}")


def p99(values):
    if not values:
        return float("nan")
    values.sort()
    return values[min(len(values) - 1, int(0.99 * len(values)))] / 1000.0


def traffic(work, t_from, t_drain, t_end, present_keys, prefix):
    windows = {"before": (t_from, t_drain), "during": (t_drain, t_end)}
    stats = {w: {"n": 0, "failed": 0, "lost": 0, "get": [], "set": [], "examples": []}
             for w in windows}
    for path in sorted(glob.glob(os.path.join(work, "traffic-*.csv"))):
        with open(path[:-4] + ".start") as f:
            started = float(f.read().strip())
        with open(path) as f:
            for row in csv.DictReader(f):
                at = started + int(row["intended_us"]) / 1e6
                w = next((w for w, (a, b) in windows.items() if a <= at < b), None)
                if w is None:
                    continue
                s = stats[w]
                s["n"] += 1
                status = int(row["status"])
                if status not in (200, 201, 404):
                    s["failed"] += 1
                    if len(s["examples"]) < 3:
                        s["examples"].append(f'{row["op"]}:{status}:{row["error"]}')
                    continue
                if status == 404 and row["op"] == "get":
                    n = row["key"][len(prefix):]
                    if n.isdigit() and int(n) < present_keys:
                        s["lost"] += 1
                        if len(s["examples"]) < 3:
                            s["examples"].append(f'lost:{row["key"]}')
                if row["op"] in ("get", "set"):
                    s[row["op"]].append(int(row["latency_us"]))
    for w in windows:
        s = stats[w]
        examples = ",".join(s["examples"]) or "-"
        slowest = max(s["get"] + s["set"], default=0) / 1000.0
        print(f'{w} {s["n"]} {s["failed"]} {s["lost"]} {p99(s["get"]):.2f} {p99(s["set"]):.2f} '
              f'{slowest:.1f} {examples}')


def pool_table(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                rows.append(dict(kv.split("=", 1) for kv in line.split()))
    name = {"4": "pool (4)", "0": "shared (0)"}

    def num(row, key):
        try:
            return float(row[key])
        except (KeyError, ValueError):
            return float("nan")

    def ratio(a, b):
        return "%.2f" % (a / b) if b else "-"

    print("| bulk_connections | round | GET p99 ms before / during | GET during / before "
          "| POST p99 ms before / during | POST during / before "
          "| s to: first move / node empty / removed "
          "| MB / keys moved | requests before / during | failed | lost reads "
          "| slowest ms before / during | hashes left on it | keys read back | load average (1 min) at the end |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        mb = num(r, "bytes") / 1048576
        state = "" if r.get("state") == "removed" else f' ({r.get("state", "?").replace("_", " ")})'
        print(f'| {name.get(r["bulk"], r["bulk"])} | {r["round"]} '
              f'| {r["get_before"]} / {r["get_during"]} '
              f'| {ratio(num(r, "get_during"), num(r, "get_before"))} '
              f'| {r["post_before"]} / {r["post_during"]} '
              f'| {ratio(num(r, "post_during"), num(r, "post_before"))} '
              f'| {r["first"]} / {r["empty"]} / {r["secs"]}{state} | {mb:.1f} / {r["keys_moved"]} '
              f'| {r["requests_before"]} / {r["requests"]} | {r["failed"]} | {r["lost"]} '
              f'| {r["slowest_before"]} / {r["slowest_during"]} | {r["left"]} '
              f'| {r["readable"]} / {r["keys"]} | {r.get("load", "-")} |')
    figures = [("get_before", "GET p99 before"), ("get_during", "GET p99 during"),
               ("post_before", "POST p99 before"), ("post_during", "POST p99 during"),
               ("empty", "s to node empty"), ("secs", "s to removed")]
    print()
    print("| shared / pool | " + " | ".join(label for _, label in figures) + " |")
    print("| --- |" + " --- |" * len(figures))
    rounds = sorted({r["round"] for r in rows}, key=int)
    for rnd in rounds:
        pool = next((r for r in rows if r["round"] == rnd and r["bulk"] == "4"), None)
        shared = next((r for r in rows if r["round"] == rnd and r["bulk"] == "0"), None)
        if pool and shared:
            print(f"| round {rnd} | "
                  + " | ".join(ratio(num(shared, k), num(pool, k)) for k, _ in figures) + " |")
    if len(rounds) > 1:
        def mean(bulk, key):
            values = [num(r, key) for r in rows if r["bulk"] == bulk]
            return sum(values) / len(values) if values else float("nan")
        print("| all rounds (mean / mean) | "
              + " | ".join(ratio(mean("0", k), mean("4", k)) for k, _ in figures) + " |")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "watch":
        url, token, until, limit, out = args[:5]
        watch(url, token, until, float(limit), out, float(args[5]) if len(args) > 5 else 0.0)
    elif cmd == "moved":
        moved(args)
    elif cmd == "skew-maxmemory":
        skew_maxmemory(args[0], args[1], float(args[2]))
    elif cmd == "utilization":
        utilization(args[0], args[1])
    elif cmd == "traffic":
        traffic(args[0], float(args[1]), float(args[2]), float(args[3]), int(args[4]), args[5])
    elif cmd == "pool-table":
        pool_table(args[0])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
