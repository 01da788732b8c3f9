"""served.py LOG [OP]: from a loadgen request log (only the rows of OP, get
or set, when given), one line:

    ok_per_s ok_p99_ms ok_service_p99_ms n503 service_p99_503_ms

ok_per_s counts the 2xx answers over the run's real span, from the first
request's due time to the last answer (an open loop past capacity answers
after its nominal duration); p99s from the due time (what a client waits,
queueing in the generator included) and from the send (service time: what
the server took)."""

import csv
import sys


def p99(values):
    if not values:
        return 0.0
    values.sort()
    return values[min(len(values) - 1, int(0.99 * len(values)))] / 1000.0


ok, ok_service, shed_service = [], [], []
first, last = None, 0
with open(sys.argv[1]) as f:
    for row in csv.DictReader(f):
        if len(sys.argv) > 2 and row["op"] != sys.argv[2]:
            continue
        intended, sent, service = int(row["intended_us"]), int(row["sent_us"]), int(row["service_us"])
        first = intended if first is None else min(first, intended)
        last = max(last, sent + service)
        status = int(row["status"])
        if 200 <= status < 300:
            ok.append(int(row["latency_us"]))
            ok_service.append(service)
        elif status == 503:
            shed_service.append(service)
span = max(last - (first or 0), 1) / 1e6
print(f"{len(ok) / span:.0f} {p99(ok):.2f} {p99(ok_service):.2f} {len(shed_service)} {p99(shed_service):.2f}")
