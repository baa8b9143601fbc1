#!/usr/bin/env python3
"""porthog explain against real software in namespaces with a narrowed port range:
nginx and curl in a loop (churn of short-lived processes), redis-server and a
python3-redis client that opens a connection per request and PINGs each (leak),
next to a healthy client that runs every request on one connection, and SYNs
dropped by nftables (syn_hang). Each finding is checked against what the
workloads did and what ss shows: kind, pid or pids, destination, port counts."""
import json
import os
import re
import signal
import subprocess
import time

from phlib import (ROOT, Netns, Porthog, TestFailure, check, check_eq, run_tests, wait_for)

WORKLOADS = os.path.join(ROOT, "tests", "workloads")
# python3-redis is a Debian package: the system interpreter has it
PYTHON = "/usr/bin/python3"
ADDR = "10.77.0.1"      # not loopback: tcp_tw_reuse=2 does not apply to it


def real_netns(name, tw_reuse=2):
    """A namespace of 64 ports with the kernel's default tcp_tw_reuse (2) and an
    address on lo that is not a loopback address."""
    ns = Netns(name, 41000, 41063)
    ns.sysctl("net.ipv4.tcp_tw_reuse", str(tw_reuse))
    ns.run(["ip", "addr", "add", f"{ADDR}/32", "dev", "lo"])
    return ns


def stop_all(ns):
    """Every process left in the namespace (nginx workers outlive a killed master)."""
    r = subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True, text=True)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    ns.delete()


def explain(tmp, ns):
    """porthog explain --json, attached when this returns; conclude() ends the watch
    (SIGINT concludes early), so the workloads decide how long it watches."""
    return Porthog(tmp, ["explain", "--json", "--duration", "120", "--netns", str(ns.inode)],
                   name="explain")


def conclude(ph):
    rc = ph.stop(signal.SIGINT, timeout=60)
    check_eq(rc, 0, f"explain exit code ({ph.stderr().strip()[-300:]})")
    with open(ph.out) as f:
        res = json.load(f)
    check_eq(res["lost_events"], 0, "lost_events")
    return res


def summaries(res):
    return [(f["kind"], f["pid"], f["summary"]) for f in res["findings"]]


def of_kind(res, kind):
    return [f for f in res["findings"] if f["kind"] == kind]


def only(res, kind):
    fs = of_kind(res, kind)
    check_eq(len(fs), 1, f"{kind} findings in {summaries(res)}")
    return fs[0]


def healthy(res, pid, what):
    for f in res["findings"]:
        check(f["pid"] != pid and pid not in f["pids"],
              f"{what} (pid {pid}) must not be flagged: {f['kind']}: {f['summary']}")


def ss(ns):
    """Every TCP socket of the namespace as ss -tanpoi shows it: (state, local port,
    peer, the rest: process, timer and TCP info)."""
    r = subprocess.run(["ip", "netns", "exec", ns.name, "ss", "-tanHpoi"],
                       capture_output=True, text=True, check=True)
    out = []
    for line in r.stdout.splitlines():
        if line[:1].isspace():
            out[-1] = out[-1][:3] + (out[-1][3] + " " + line.strip(),)
            continue
        w = line.split()
        out.append((w[0], int(w[3].rsplit(":", 1)[1]), w[4], " ".join(w[5:])))
    return out


class Nginx:
    def __init__(self, ns, tmp, port=8081):
        self.port = port
        conf = os.path.join(tmp, "nginx.conf")
        self.pidfile = os.path.join(tmp, "nginx.pid")
        temp = "".join(f"  {k}_temp_path {tmp}/ngx-{k};\n"
                       for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(conf, "w") as f:
            f.write(f"worker_processes 1;\npid {self.pidfile};\nerror_log {tmp}/nginx.err;\n"
                    "daemon off;\nevents { worker_connections 1024; }\n"
                    f"http {{\n  access_log off;\n{temp}"
                    f"  server {{ listen {port}; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n")
        self.proc = ns.popen(["nginx", "-e", os.path.join(tmp, "nginx.err"), "-c", conf],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: any(s[0] == "LISTEN" and s[1] == port for s in ss(ns)), 20,
                 "nginx to listen")


def curl(ns, url, extra=()):
    """One curl process: (its pid, the local port it used, its exit code)."""
    p = ns.popen(["curl", "-s", "-o", "/dev/null", "-w", "%{local_port} %{exitcode}"] +
                 list(extra) + [url], stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(30)
    port, code = out.split()
    return p.pid, int(port), int(code)


def test_curl_loop_against_nginx_is_churn(tmp):
    """curl in a loop, a process and a connection per request: each curl closes first and
    leaves its port in TIME_WAIT for 60 s. 64 get a port, the next ones fail. One churn
    finding for all of them (pid null, their pids), no victims, the tcp_tw_reuse in force."""
    ns = real_netns("phreal-churn")
    try:
        Nginx(ns, tmp)
        ph = explain(tmp, ns)
        runs = [curl(ns, f"http://{ADDR}:8081/") for _ in range(76)]
        ok = [r for r in runs if r[2] == 0]
        failed = [r for r in runs if r[2] != 0]
        check_eq(len(ok), 64, f"curls that got one of the 64 ports ({runs})")
        check_eq({r[2] for r in failed}, {7}, "the others could not connect (curl exit 7)")
        tw = {s[1] for s in ss(ns) if s[0] == "TIME-WAIT"}
        check_eq(tw, {r[1] for r in ok}, "ss: the ports curl used wait in TIME_WAIT")
        res = conclude(ph)
        f = only(res, "churn")
        check_eq((f["pid"], f["comm"], f["processes"]), (None, "curl", 76),
                 "one finding for all 76 curl processes")
        pids = {r[0] for r in runs}
        check(len(f["pids"]) == 8 and set(f["pids"]) <= pids, f"pids listed: {f['pids']}")
        check_eq((f["daddr"], f["dport"], f["netns"]), (ADDR, 8081, ns.inode), "where")
        check_eq(f["ports"], 64, "ports in TIME_WAIT")
        check_eq(f["severity"], "critical", "severity: connects fail")
        e = f["evidence"]
        check_eq((e["time_wait"], e["opened"], e["closed"], e["closed_time_wait"], e["failed"]),
                 (64, 64, 64, 64, 12), "evidence counts")
        check(e["lifetime_p50_s"] < 1, f"short lives: {e['lifetime_p50_s']}")
        check_eq((e["tcp_tw_reuse"], e["tcp_timestamps"]), (2, 1), "settings in force")
        check("tcp_tw_reuse is 2 here: loopback only, so it does not apply to this destination"
              in f["advice"], f"advice on tcp_tw_reuse: {f['advice']}")
        check("12 connects failed" in f["summary"], f"summary: {f['summary']}")
        check_eq(of_kind(res, "victim"), [], "the failing curls are the churn, not victims")
        # ranked: the cause first, then the narrow range
        check_eq([x["kind"] for x in res["findings"]], ["churn", "range"], "findings, ranked")
    finally:
        stop_all(ns)


def test_curl_loop_on_loopback_with_tw_reuse_is_no_churn(tmp):
    """The same loop to 127.0.0.1, at most 10 connects a second: tcp_tw_reuse=2 hands a
    TIME_WAIT port to a new connect 1 s after its last use, so nothing fails and there is
    no churn to report."""
    ns = real_netns("phreal-reuse")
    try:
        Nginx(ns, tmp)
        ph = explain(tmp, ns)
        runs = []
        for _ in range(80):
            runs.append(curl(ns, "http://127.0.0.1:8081/"))
            time.sleep(0.1)
        check_eq([r for r in runs if r[2] != 0], [], "no curl failed")
        check(len({r[1] for r in runs}) <= 64, "ports were reused")
        res = conclude(ph)
        check_eq(of_kind(res, "churn"), [], "no churn where tcp_tw_reuse applies")
        check_eq(of_kind(res, "victim"), [], "no victims")
    finally:
        stop_all(ns)


class Redis:
    def __init__(self, ns, tmp, port=6379):
        self.port = port
        self.proc = ns.popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", tmp,
                              "--logfile", os.path.join(tmp, "redis.log")],
                             stdout=subprocess.DEVNULL)
        wait_for(lambda: any(s[0] == "LISTEN" and s[1] == port for s in ss(ns)), 20,
                 "redis-server to listen")


class RedisClient:
    """tests/workloads/redis_client.py under the system python3 (python3-redis)."""

    def __init__(self, ns, tmp, mode, args):
        self.log = os.path.join(tmp, f"redis-{mode}.log")
        self.ready = os.path.join(tmp, f"redis-{mode}.ready")
        self.proc = ns.popen([PYTHON, os.path.join(WORKLOADS, "redis_client.py"), "--mode", mode,
                              "--out", self.log, "--ready-file", self.ready] + list(args))

    def wait_ready(self, timeout=30):
        wait_for(lambda: os.path.exists(self.ready) or self.proc.poll() is not None, timeout,
                 f"redis client {self.log}")
        check(self.proc.poll() is None, f"redis client exited with {self.proc.returncode}")

    def parse(self):
        res = {"pid": None, "ports": [], "requests": 0}
        with open(self.log) as f:
            for line in f:
                w = line.split()
                if w[0] == "pid":
                    res["pid"] = int(w[1])
                elif w[0] == "connect":
                    res["ports"].append(int(w[1]))
                elif w[0] == "requests":
                    res["requests"] = int(w[1])
        return res


def test_redis_client_per_request_with_heartbeat_is_a_leak(tmp):
    """A python3-redis client that makes a new client (a new connection) per request and
    PINGs each every second: 40 connections that look alive and are never used again.
    A leak with its pid and destination, all 40 heartbeat-sized. The client next to it
    runs thousands of requests on one pooled connection and is never flagged."""
    ns = real_netns("phreal-redis")
    try:
        Redis(ns, tmp)
        pooled = RedisClient(ns, tmp, "pooled", ["--rate", "500", "--count", "1000000000"])
        wait_for(lambda: os.path.exists(pooled.log) and pooled.parse()["ports"], 30,
                 "the pooled client's connection")
        ph = explain(tmp, ns)
        leaky = RedisClient(ns, tmp, "leaky", ["--rate", "20", "--count", "40",
                                               "--heartbeat", "1"])
        leaky.wait_ready()
        lp = leaky.parse()
        check_eq(len(lp["ports"]), 40, "the leaky client made 40 connections")
        # a connection shows its byte rate once it is 3 s old: wait for the youngest
        time.sleep(4)
        held = sorted(s[1] for s in ss(ns) if s[0] == "ESTAB" and s[2] == "127.0.0.1:6379"
                      and f"pid={lp['pid']}," in s[3])
        check_eq(held, sorted(lp["ports"]), "ss: the leaky client holds its 40 connections")
        res = conclude(ph)
        pp = pooled.parse()
        f = only(res, "leak")
        check_eq((f["pid"], f["pids"], f["comm"]), (lp["pid"], [lp["pid"]], "python3"), "who")
        check_eq((f["daddr"], f["dport"], f["netns"]), ("127.0.0.1", 6379, ns.inode), "where")
        check_eq(f["ports"], 40, "ports")
        e = f["evidence"]
        check_eq((e["established"], e["opened"], e["closed"]), (40, 40, 0), "evidence counts")
        check_eq((e["activity_known"], e["quiet"], e["idle"]), (40, 40, 0),
                 "all 40 heartbeat-sized, none idle (the PINGs)")
        check(0 < e["bytes_per_conn_p50"] < 1000, f"bytes per connection: {e['bytes_per_conn_p50']}")
        check("40 of the 40 connections are idle or heartbeat-sized" in f["advice"] and
              "a heartbeat keeps a connection open, it does not make it used" in f["advice"],
              f"advice: {f['advice']}")
        check(pp["requests"] >= 1000, f"the pooled client ran thousands of requests: {pp}")
        check_eq(len(pp["ports"]), 1, "on one connection")
        healthy(res, pp["pid"], "the pooled redis client")
        check_eq([x["kind"] for x in res["findings"]], ["leak", "range"], "findings, ranked")
    finally:
        stop_all(ns)


def test_syns_dropped_by_nftables_are_a_syn_hang(tmp):
    """nftables drops every SYN to one port; five curls wait in SYN_SENT, resending. One
    syn_hang finding for the five (pid null, their pids) with the tcp_syn_retries in
    force and the time it implies."""
    ns = real_netns("phreal-syn")
    try:
        ns.sysctl("net.ipv4.tcp_syn_retries", "3")
        ns.run(["nft", "add table inet phreal"])
        ns.run(["nft", "add chain inet phreal out { type filter hook output priority 0 ; }"])
        ns.run(["nft", "add rule inet phreal out tcp dport 9999 drop"])
        Redis(ns, tmp)
        pooled = RedisClient(ns, tmp, "pooled", ["--rate", "200", "--count", "1000000000"])
        wait_for(lambda: os.path.exists(pooled.log) and pooled.parse()["ports"], 30,
                 "the pooled client's connection")
        ph = explain(tmp, ns)
        curls = [ns.popen(["curl", "-s", "-o", "/dev/null", f"http://{ADDR}:9999/"])
                 for _ in range(5)]
        pids = {p.pid for p in curls}

        def hanging():
            return [x for x in ss(ns) if x[0] == "SYN-SENT" and x[2] == f"{ADDR}:9999"]

        # every one's SYN resent at least once: "retrans:0/N", N >= 1
        wait_for(lambda: len(hanging()) == 5 and
                 all(re.search(r"retrans:0/[1-9]", x[3]) for x in hanging()), 20,
                 "five sockets in SYN_SENT, their SYN resent")
        check_eq(sorted(f"pid={pid}," in x[3] for x in hanging() for pid in pids).count(True), 5,
                 "ss: the five curls own them")
        res = conclude(ph)
        f = only(res, "syn_hang")
        check_eq((f["pid"], f["comm"], f["processes"], set(f["pids"])), (None, "curl", 5, pids),
                 "one finding for the five curl processes")
        check_eq((f["daddr"], f["dport"], f["ports"]), (ADDR, 9999, 5), "where, ports")
        e = f["evidence"]
        check_eq(e["syn_sent"], 5, "SYN_SENT")
        check(e["syn_retrans_max"] >= 1, f"SYNs resent: {e['syn_retrans_max']}")
        check_eq((e["tcp_syn_retries"], e["syn_timeout_s"]), (3, 15), "tcp_syn_retries, timeout")
        check("tcp_syn_retries is 3 here: a connect gives up after 15 s" in f["advice"],
              f"advice: {f['advice']}")
        healthy(res, pooled.parse()["pid"], "the pooled redis client")
    finally:
        stop_all(ns)


if __name__ == "__main__":
    run_tests(globals())
