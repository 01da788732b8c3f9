"""Sends exactly N requests, one at a time, on one keep-alive connection.

    python3 bench/lib/seqreq.py PORT GET KEY N    # GET /cache/KEY, N times
    python3 bench/lib/seqreq.py PORT POST KEY N   # POST /cache {"key": KEY, "value": "v" * 100}
    python3 bench/lib/seqreq.py PORT NEW KEY N    # the same POST of N new keys, KEY-<run>-<i>

Used by bench/callgrind, where the balancer runs under valgrind and the
client must not: a fixed count of requests (wrk's are bounded by time), in
sequence, each answered before the next is sent. Exits 1 at the first
answer that is not 2xx, or when the connection drops.
"""

import http.client
import sys
import time


def main() -> int:
    port, method, key, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    # The body wrk's Lua sends in bench/throughput, byte for byte.
    body = ('{"key":"%s","value":"%s"}' % (key, "v" * 100)).encode()
    headers = {"content-type": "application/json"}
    run = time.time_ns()
    for i in range(n):
        if method == "GET":
            conn.request("GET", "/cache/" + key)
        elif method == "NEW":
            new = ('{"key":"%s-%d-%d","value":"%s"}' % (key, run, i, "v" * 100)).encode()
            conn.request("POST", "/cache", new, headers)
        else:
            conn.request("POST", "/cache", body, headers)
        resp = conn.getresponse()
        data = resp.read()
        if not 200 <= resp.status < 300:
            print(f"request {i + 1}/{n}: {method} {key}: {resp.status} {data[:200]!r}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
