#!/usr/bin/python3
"""A redis client (python3-redis) for porthog tests.

  leaky:  a new client, so a new connection, per request, each kept in a list and
          PINGed every --heartbeat seconds (the connections look alive and are never used)
  pooled: one client, one connection, every request on it

Log lines as ph_client's: "pid N", "connect SPORT", "requests N" (pooled: every 500),
"done requests=N".
"""
import argparse
import os
import signal
import sys
import time

import redis


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--mode", choices=("leaky", "pooled"), required=True)
    ap.add_argument("--rate", type=float, default=10, help="requests/s")
    ap.add_argument("--count", type=int, default=30, help="requests (leaky: connections)")
    ap.add_argument("--heartbeat", type=float, default=1.0, help="leaky: PING interval, s")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready-file", required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log = open(a.out, "w", buffering=1)
    log.write(f"pid {os.getpid()}\n")
    held = []
    pooled = redis.Redis(host=a.host, port=a.port) if a.mode == "pooled" else None
    gap = 1.0 / a.rate if a.rate > 0 else 0
    next_req = next_beat = time.monotonic()
    done = 0
    while True:
        now = time.monotonic()
        if done < a.count and now >= next_req:
            if a.mode == "leaky":
                r = redis.Redis(host=a.host, port=a.port, single_connection_client=True)
                r.set(f"k{done}", "v")
                held.append(r)
                log.write(f"connect {r.connection._sock.getsockname()[1]}\n")
            else:
                pooled.set(f"k{done % 100}", str(done))
                pooled.get(f"k{done % 100}")
                if done == 0:
                    c = pooled.connection_pool._available_connections[0]
                    log.write(f"connect {c._sock.getsockname()[1]}\n")
                if (done + 1) % 500 == 0:
                    log.write(f"requests {done + 1}\n")
            done += 1
            next_req += gap
            if done == a.count:
                log.write(f"done requests={done}\n")
                open(a.ready_file, "w").write(f"pid {os.getpid()}\n")
        if held and a.heartbeat > 0 and now >= next_beat:
            for r in held:
                r.ping()
            next_beat = now + a.heartbeat
        time.sleep(max(0.0, min(next_req if done < a.count else now + 0.2,
                                next_beat if held else now + 0.2) - time.monotonic()))


if __name__ == "__main__":
    main()
