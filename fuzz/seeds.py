#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs, from real traffic: a throwaway
redis-server with a recording proxy in front, driven by redis-cli and
redis-py (RESP2 and RESP3, pipelined too), and a tracking connection set
up the way the balancer sets up its own (HELLO 3, CLIENT TRACKING ON
BCAST). The bytes each client sent seed resp_frontend; the bytes the
tracking connection received (its replies and the >invalidate pushes of
writes, deletes, expiries and a flush) seed tracking_resp; put bodies as
the README and loadgen send them, keys and ack levels seed http_input.

    python3 fuzz/seeds.py OUT_DIR    # writes OUT_DIR/<target>/<name>

Needs redis-server, redis-cli and the redis package (pip install redis).
The seeds go through `cargo fuzz run` and `cargo fuzz cmin` before any
input is committed under fuzz/corpus/ (see fuzz/README.md).
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """A TCP proxy to Redis that keeps each connection's bytes, both ways."""

    def __init__(self, redis_port):
        self.redis_port = redis_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = []  # per connection: bytearray the client sent
        self.received = []  # per connection: bytearray the server sent
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.redis_port))
            sent, received = bytearray(), bytearray()
            self.sent.append(sent)
            self.received.append(received)
            for a, b, log in ((client, server, sent), (server, client, received)):
                threading.Thread(target=pump, args=(a, b, log), daemon=True).start()

    def take(self):
        """The connections recorded since the last call, then forgets them."""
        time.sleep(0.3)
        sent, received = self.sent, self.received
        self.sent, self.received = [], []
        return sent, received


def pump(src, dst, log):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        log.extend(data)
        dst.sendall(data)


def write(out, target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(bytes(data))


def resp_frontend(out, rec):
    cli = ["redis-cli", "-p", str(rec.port)]
    commands = [
        ["SET", "user:2", '{"name": "Grace"}', "EX", "300"],
        ["GET", "user:2"],
        ["MSET", "a", "1", "b", "2"],
        ["MGET", "a", "b", "nope"],
        ["DEL", "a", "b"],
        ["SET", "k", "v", "PX", "1500", "KEEPTTL"],
        ["TTL", "user:2"],
        ["EXISTS", "user:2", "a"],
        ["PING"],
    ]
    for i, args in enumerate(commands):
        subprocess.run(cli + args, check=True, capture_output=True)
        write(out, "resp_frontend", f"redis-cli-{i}", b"".join(rec.take()[0]))
    # redis-cli -3 opens with HELLO 3.
    subprocess.run(cli + ["-3", "GET", "user:2"], check=True, capture_output=True)
    write(out, "resp_frontend", "redis-cli-resp3", b"".join(rec.take()[0]))
    # redis-cli --pipe: the mass-insertion protocol.
    pipe = "".join(f"SET key:{i} {i * 7}\r\n" for i in range(20)).encode()
    subprocess.run(cli + ["--pipe"], input=pipe, check=True, capture_output=True)
    write(out, "resp_frontend", "redis-cli-pipe", b"".join(rec.take()[0]))

    for protocol in (2, 3):
        r = redis.Redis(port=rec.port, protocol=protocol)
        r.set("user:1", '{"name": "Ada", "langs": ["en", "fr"]}', ex=300)
        r.get("user:1")
        r.mget(["user:1", "user:2", "missing"])
        p = r.pipeline(transaction=False)
        for i in range(5):
            p.set(f"p:{i}", "x" * i)
            p.get(f"p:{i}")
        p.delete("p:0", "p:1")
        p.execute()
        r.close()
        write(out, "resp_frontend", f"redis-py-resp{protocol}", b"".join(rec.take()[0]))

    # What a person types into telnet: inline commands, quoting included.
    inline = b'PING\r\nSET greeting "hello\\tworld\\x21" EX 60\r\nGET greeting\nSET q \'it\\\'s\'\r\n\r\n'
    write(out, "resp_frontend", "inline", inline)


def tracking_resp(out, rec):
    s = socket.create_connection(("127.0.0.1", rec.port))
    s.sendall(b"HELLO 3\r\nCLIENT TRACKING ON BCAST\r\nPING\r\n")
    time.sleep(0.2)
    r = redis.Redis(port=rec.port)
    r.set("user:1", "1")
    r.mset({f"key:{i}": i for i in range(50)})
    r.delete("user:1", "key:3")
    r.set("short", "x", px=50)
    time.sleep(0.3)
    r.get("short")  # expired: its invalidation is pushed
    s.sendall(b"PING\r\n")
    r.flushall()
    s.sendall(b"PING\r\n")
    time.sleep(0.3)
    s.close()
    r.close()
    # The tracking connection was opened first.
    stream = rec.take()[1][0]
    write(out, "tracking_resp", "bcast-stream", stream)
    # Each frame of it on its own too, split at each reply and push.
    frames, at = [], 0
    for marker in (b"\r\n+", b"\r\n>"):
        at = 0
        while (at := stream.find(marker, at) + 1) > 0:
            frames.append(at + 1)
    cuts = sorted(set([0] + frames + [len(stream)]))
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        write(out, "tracking_resp", f"frame-{i:03}", stream[a:b])

    # The location cache's stream: PREFIX loc: on the index Redis.
    s = socket.create_connection(("127.0.0.1", rec.port))
    s.sendall(b"HELLO 3\r\nCLIENT TRACKING ON BCAST PREFIX loc:\r\n")
    time.sleep(0.2)
    r = redis.Redis(port=rec.port)
    r.hset("loc:user:1", mapping={"nodes": "127.0.0.1:5400,127.0.0.1:5600"})
    r.delete("loc:user:1")
    time.sleep(0.3)
    s.close()
    r.close()
    write(out, "tracking_resp", "bcast-prefix-stream", rec.take()[1][0])


def http_input(out):
    bodies = [
        b'{"key": "user:1", "value": {"name": "Ada", "langs": ["en", "fr"]}, "ttl": 300}',
        b'{"key": "k", "value": 1}',
        b'{"key": "n", "value": [1, 2]}',
        b'{"key":"k","value":{"a": [1.50, "\\u00e9", null]},"ttl":5}',
        b'{"key":"k","value":null,"ttl":null}',
        b'{"key":"key:000042","value":"' + b"x" * 100 + b'"}',
        b'{"key":"caf\\u00e9 \\"q\\"","value":true}',
    ]
    keys = [b"user:1", b"a%20b%2Fc", b"caf%C3%A9", b"key:000042", b"%FF"]
    acks = [b"one", b"quorum", b"all", b"ALL"]
    for i, data in enumerate(bodies + keys + acks):
        write(out, "http_input", f"seed-{i:02}", data)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.1)
            rec = Recorder(port)
            resp_frontend(out, rec)
            tracking_resp(out, rec)
            http_input(out)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
