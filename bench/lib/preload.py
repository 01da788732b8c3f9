"""Writes COUNT keys PREFIX0.. with 100-byte values through a balancer.

    python3 bench/lib/preload.py PORT PREFIX COUNT [CONNECTIONS]

The same bodies as bench/lib/common.sh's `preload` (one curl per key), sent
over CONNECTIONS keep-alive connections (default 50) at once: on a busy
2-core machine, 10,000 curl processes took minutes where this takes
seconds. Exits 1 when any write is not answered 2xx.
"""

import http.client
import sys
import threading


def main() -> int:
    port, prefix, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    connections = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    value = "v" * 100
    failures = []
    lock = threading.Lock()

    def worker(first: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(first, count, connections):
            body = ('{"key":"%s%d","value":"%s"}' % (prefix, i, value)).encode()
            try:
                conn.request("POST", "/cache", body, {"content-type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                ok = 200 <= resp.status < 300
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok, resp = False, e
            if not ok:
                with lock:
                    failures.append(f"{prefix}{i}: {getattr(resp, 'status', resp)}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        print(f"preload: {len(failures)} of {count} writes failed, e.g. {failures[:3]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
