"""Every command the RESP port serves, through redis-py (a real client
library, from PyPI), over RESP2 and RESP3, pipelined too; each value is
also read back over HTTP, since both front doors share one key space. Run
by scripts/smoke-up against scripts/up's stack:

  resp_clients.py HOST:RESP_PORT HTTP_URL

Exits 1 on the first check that fails, naming it.
"""

import json
import sys
import time
import urllib.request

import redis


def http_value(url, key):
    with urllib.request.urlopen(f"{url}/cache/{key}") as r:
        return json.load(r)["value"]


def refused(call, words):
    try:
        call()
    except redis.ResponseError as e:
        assert any(w in str(e) for w in words), f"{e!r} does not say {words}"
        return
    raise AssertionError("not refused")


def check(r, url, tag):
    k = f"py:{tag}"
    assert r.ping() is True
    assert r.echo("é") == "é"
    assert r.execute_command("SELECT", 0) in (True, "OK")
    assert r.client_setname("smoke") is True
    assert r.set(k, "v1") is True and r.get(k) == "v1"
    assert http_value(url, k) == "v1", "one key space with HTTP"
    assert r.ttl(k) == -1 and r.ttl(f"{k}:absent") == -2
    assert r.set(k, "v2", ex=100) is True and 99 <= r.ttl(k) <= 100
    assert r.set(k, "v3", keepttl=True) is True and r.get(k) == "v3" and r.ttl(k) > 90
    assert r.set(f"{k}:px", "x", px=50_000) is True and 40_000 <= r.pttl(f"{k}:px") <= 50_000
    assert r.mset({f"{k}:a": "1", f"{k}:b": "2"}) is True
    assert r.mget([f"{k}:a", f"{k}:none", f"{k}:b"]) == ["1", None, "2"]
    assert r.exists(k, k, f"{k}:none") == 2
    assert r.delete(k, f"{k}:none") == 1 and r.get(k) is None
    assert r.unlink(f"{k}:a") == 1
    info = r.info()
    assert info.get("redis_mode") == "standalone" and "dlb_nodes_up" in info, info
    assert r.command_count() == 22
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"{k}:p{i}", str(i))
    for i in range(100):
        pipe.get(f"{k}:p{i}")
    replies = pipe.execute()
    assert replies[:100] == [True] * 100 and replies[100:] == [str(i) for i in range(100)]
    refused(lambda: r.set(k, "v", nx=True), ["not supported", "atomic"])
    refused(lambda: r.incr(k), ["not supported"])
    e = f"{k}:e"
    assert r.set(e, "v") is True and r.expire(e, 100) is True and 99 <= r.ttl(e) <= 100
    assert r.pexpire(e, 50_000, gt=True) is False and r.expire(e, 200, gt=True) is True
    assert r.expire(e, 5, nx=True) is False and r.persist(e) is True and r.ttl(e) == -1
    assert r.persist(e) is False and r.expire(f"{k}:none", 5) is False
    assert r.expireat(e, int(time.time()) + 300) is True and 298 <= r.ttl(e) <= 300
    assert r.pexpireat(e, int(time.time() * 1000) + 60_000) is True and r.get(e) == "v"
    assert r.expire(e, 0) is True and r.get(e) is None
    refused(lambda: r.execute_command("FLUSHALL"), ["unknown command"])
    assert r.ping() is True, "the connection still serves after errors"


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    url = sys.argv[2]
    for protocol in (2, 3):
        r = redis.Redis(host=host, port=int(port), protocol=protocol, decode_responses=True,
                        socket_timeout=10)
        started = time.monotonic()
        check(r, url, f"resp{protocol}")
        print(f"redis-py {redis.__version__}, RESP{protocol}: every check held "
              f"({time.monotonic() - started:.2f} s)")
        r.close()


if __name__ == "__main__":
    main()
