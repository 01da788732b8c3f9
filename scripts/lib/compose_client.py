"""The compose test's client: preloads replicated keys, then, through both
balancers until told to stop, reads them back and writes other keys,
counting every request that failed, per phase of the test. Each time the
phase changes (and at the end) it checks every key it wrote: each must
read back, through each balancer, as the last write it saw acknowledged,
or as a later write whose outcome it does not know.

A client of a cluster with two balancers does what a client library
behind a health-checked load balancer would: a request whose connection
is refused or cut, or that gets 503 (the balancer is starting or shedding
load), is tried once on the other balancer. A request fails when that try
fails too, when it times out (5 s; not retried), or when a balancer
answers anything else unexpected (any other status, or a read whose value
is not the one preloaded).

  compose_client.py preload URL N KEYS_FILE
  compose_client.py run URL1,URL2 KEYS_FILE PHASE_FILE STOP_FILE OUT_JSON
"""

import http.client
import json
import sys
import time
import urllib.parse

RETRY_STATUSES = {503}
WRITTEN_KEYS = 200
# Longer than the near cache's lag bound (200 ms): a read through the
# other balancer after that sees the last acknowledged write.
SETTLE_SECONDS = 0.5


class Balancer:
    """One balancer, over one keep-alive connection, reopened on error."""

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.url = url
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """(status, body) or raises OSError / http.client errors."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise


def attempt(balancers, first, method, path, body=None, headers=None):
    """Sends to balancers[first], then once to the other on a refused or
    cut connection or a 503; a timeout is not retried. Returns (status,
    body, error): the status and body of the answer taken (None when it
    failed), and what went wrong with the first try (None when it was
    taken)."""
    error = None
    for i in (first, 1 - first)[: len(balancers)]:
        try:
            status, data = balancers[i].request(method, path, body, headers)
        except TimeoutError as e:
            return None, None, f"{balancers[i].url}: timed out: {e}"
        except (OSError, http.client.HTTPException) as e:
            error = f"{balancers[i].url}: {type(e).__name__}: {e}"
            continue
        if status in RETRY_STATUSES:
            error = f"{balancers[i].url}: {status}"
            continue
        return status, data, error
    return None, None, error


def cache_path(key):
    return "/cache/" + urllib.parse.quote(key, safe="")


def preload(url, count, keys_file):
    balancer = Balancer(url)
    keys = {}
    for i in range(count):
        key, value = f"replicated-{i}", f"value of replicated-{i}"
        body = json.dumps({"key": key, "value": value})
        status, data = balancer.request(
            "POST", "/cache", body,
            {"Content-Type": "application/json", "X-Write-Ack": "all"},
        )
        if status not in (200, 201):
            sys.exit(f"preload {key}: {status} {data[:200]!r}")
        keys[key] = value
    with open(keys_file, "w") as f:
        json.dump(keys, f)


class Writes:
    """What the client knows of each key it wrote: the last value a write
    of it was acknowledged with, and the values of later writes that
    failed (they may have taken effect)."""

    def __init__(self):
        self.acked = {}
        self.unknown = {}

    def record(self, key, value, acked):
        if acked:
            self.acked[key] = value
            self.unknown[key] = set()
        else:
            self.unknown.setdefault(key, set()).add(value)

    def check(self, balancers, phase):
        """Reads every written key through each balancer; counts in
        `phase` the reads that do not give an allowed value."""
        time.sleep(SETTLE_SECONDS)
        for key in sorted(set(self.acked) | set(self.unknown)):
            allowed = self.unknown.get(key, set()) | (
                {self.acked[key]} if key in self.acked else set())
            for i in range(len(balancers)):
                status, data, error = attempt(balancers, i, "GET", cache_path(key))
                phase["verified"] += 1
                if status == 200:
                    got = json.loads(data).get("value")
                    if got in allowed:
                        continue
                elif status == 404 and key not in self.acked:
                    continue
                else:
                    got = None
                phase["verify_failures"] += 1
                if len(phase["examples"]) < 10:
                    phase["examples"].append({
                        "check": "written key", "key": key, "status": status,
                        "error": error, "got": got, "last_acked": self.acked.get(key)})


def new_phase():
    return {"reads": 0, "read_failures": 0, "writes": 0, "write_failures": 0,
            "retried_elsewhere": 0, "verified": 0, "verify_failures": 0,
            "examples": []}


def run(urls, keys_file, phase_file, stop_file, out_json):
    balancers = [Balancer(u) for u in urls.split(",")]
    keys = list(json.load(open(keys_file)).items())
    phases = {}
    writes = Writes()
    current = None
    n = 0
    while True:
        try:
            open(stop_file).close()
            break
        except FileNotFoundError:
            pass
        try:
            name = open(phase_file).read().strip() or "none"
        except FileNotFoundError:
            name = "none"
        if name != current:
            if current is not None:
                writes.check(balancers, phases[current])
            current = name
        p = phases.setdefault(name, new_phase())
        first = n % len(balancers)
        if n % 4 == 3:
            key = f"written-{(n // 4) % WRITTEN_KEYS}"
            value = f"write {n}"
            body = json.dumps({"key": key, "value": value})
            status, data, error = attempt(balancers, first, "POST", "/cache", body,
                                          {"Content-Type": "application/json"})
            p["writes"] += 1
            failed = status not in (200, 201)
            writes.record(key, value, acked=not failed)
            kind = "write_failures"
        else:
            key, value = keys[n % len(keys)]
            status, data, error = attempt(balancers, first, "GET", cache_path(key))
            p["reads"] += 1
            failed = status != 200 or json.loads(data).get("value") != value
            kind = "read_failures"
        if error and not failed:
            p["retried_elsewhere"] += 1
        if failed:
            p[kind] += 1
            if len(p["examples"]) < 10:
                p["examples"].append({"key": key, "status": status, "error": error,
                                      "body": (data or b"")[:200].decode("utf-8", "replace")})
        n += 1
    if current is not None:
        writes.check(balancers, phases[current])
    with open(out_json, "w") as f:
        json.dump(phases, f, indent=2)


if __name__ == "__main__":
    if sys.argv[1] == "preload":
        preload(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "run":
        run(*sys.argv[2:7])
    else:
        sys.exit(__doc__)
