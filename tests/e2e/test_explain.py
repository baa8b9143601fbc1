#!/usr/bin/env python3
"""porthog explain on the real kernel: each way of running out of ports, from C
workloads in namespaces with a narrowed range, is named with its kind, pid and
destination; a pooled client next to it never is."""
import json
import os
import subprocess

from phlib import (Client, Netns, Porthog, Server, TestFailure, check, check_eq, porthog_run,
                   run_tests)


class Dest:
    """A destination without a server (its SYNs are dropped)."""

    def __init__(self, addr, port):
        self.addr, self.port = addr, port


def server_and_pool(ns, tmp):
    """The server, and a healthy client next to it: one pooled connection carrying a
    request every 10 ms for the whole test. No finding may name it."""
    srv = Server(ns, tmp)
    pooled = Client(ns, tmp, srv, "pooled", ["--count", "1000000", "--rate", "100"],
                    wait=False)
    return srv, pooled


def explain(tmp, ns, duration, extra=(), name="explain"):
    """porthog explain --json in the background; attached when this returns."""
    return Porthog(tmp, ["explain", "--json", "--duration", str(duration),
                         "--netns", str(ns.inode)] + list(extra), name=name)


def snapshot(ns, extra=()):
    r = porthog_run(["snapshot", "--json", "--netns", str(ns.inode)] + list(extra))
    check_eq(r.returncode, 0, f"snapshot exit code ({r.stderr.strip()[-300:]})")
    return json.loads(r.stdout)


def result(ph, timeout=120):
    try:
        rc = ph.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure("explain did not finish")
    check_eq(rc, 0, f"explain exit code ({ph.stderr().strip()[-300:]})")
    with open(ph.out) as f:
        return json.load(f)


def of_kind(res, kind):
    return [f for f in res["findings"] if f["kind"] == kind]


def one(res, kind, pid):
    fs = [f for f in of_kind(res, kind) if f["pid"] == pid]
    check_eq(len(fs), 1, f"{kind} findings for pid {pid} in {summaries(res)}")
    return fs[0]


def summaries(res):
    return [(f["kind"], f["pid"], f["summary"]) for f in res["findings"]]


def healthy(res, pid, what):
    """No finding names pid, alone or in a pids list."""
    for f in res["findings"]:
        check(f["pid"] != pid and pid not in f["pids"],
              f"{what} (pid {pid}) must not be flagged: {f['kind']}: {f['summary']}")


def test_leaky_heartbeat_client_is_a_leak(tmp):
    ns = Netns("phexleak", 41000, 41063)
    try:
        srv, pooled = server_and_pool(ns, tmp)
        ph = explain(tmp, ns, 8)
        leaky = Client(ns, tmp, srv, "leaky", ["--rate", "20", "--count", "30",
                                               "--heartbeat", "1"])
        res = result(ph)
        lp, pp = leaky.parse(), pooled.parse()
        check_eq(len(lp["ports"]), 30, "leaky client got 30 ports")
        f = one(res, "leak", lp["pid"])
        check_eq((f["daddr"], f["dport"], f["netns"]), ("127.0.0.1", 8080, ns.inode), "where")
        check_eq(f["comm"], "ph_client", "comm")
        check_eq(f["ports"], 30, "ports")
        e = f["evidence"]
        check_eq((e["established"], e["opened"], e["closed"]), (30, 30, 0), "evidence counts")
        check_eq((e["activity_known"], e["quiet"]), (30, 30), "all 30 carry heartbeats only")
        check(e["bytes_per_conn_p50"] > 0, f"heartbeats are counted: {e['bytes_per_conn_p50']}")
        check("reuse one connection" in f["advice"] and "heartbeat" in f["advice"],
              f"advice: {f['advice']}")
        healthy(res, pp["pid"], "the pooled client")
        check_eq(res["lost_events"], 0, "lost_events")
    finally:
        ns.delete()


def test_short_connections_closed_by_client_are_churn(tmp):
    ns = Netns("phexchurn", 41000, 41063)
    try:
        srv, pooled = server_and_pool(ns, tmp)
        ph = explain(tmp, ns, 6)
        churn = Client(ns, tmp, srv, "churn", ["--close", "fin", "--rate", "40",
                                               "--count", "1000000", "--fail-count", "1000000"],
                       wait=False)
        res = result(ph)
        cp, pp = churn.parse(), pooled.parse()
        f = one(res, "churn", cp["pid"])
        check_eq((f["daddr"], f["dport"]), ("127.0.0.1", 8080), "where")
        e = f["evidence"]
        check(f["ports"] >= 16 and f["ports"] == e["time_wait"], f"ports in TIME_WAIT: {f}")
        check(e["closed_time_wait"] >= 16 and e["time_wait_share"] > 0.9,
              f"this side closes first: {e}")
        check(e["lifetime_p50_s"] < 1, f"short lives: {e['lifetime_p50_s']}")
        check_eq(e["tcp_tw_reuse"], 0, "tcp_tw_reuse in force")
        check("tcp_tw_reuse is 0 here" in f["advice"], f"advice cites tcp_tw_reuse: {f['advice']}")
        healthy(res, pp["pid"], "the pooled client")
    finally:
        ns.delete()


def test_dropped_syns_are_a_syn_hang(tmp):
    ns = Netns("phexsyn", 41000, 41063)
    try:
        ns.sysctl("net.ipv4.tcp_syn_retries", "3")
        ns.run(["nft", "add table inet phx"])
        ns.run(["nft", "add chain inet phx input { type filter hook input priority 0 ; }"])
        ns.run(["nft", "add rule inet phx input tcp dport 9999 drop"])
        srv, pooled = server_and_pool(ns, tmp)
        ph = explain(tmp, ns, 5)
        hang = Client(ns, tmp, Dest("127.0.0.1", 9999), "leaky",
                      ["--nonblock", "--no-wait", "--count", "6", "--rate", "50"], name="hang")
        res = result(ph)
        hp, pp = hang.parse(), pooled.parse()
        f = one(res, "syn_hang", hp["pid"])
        check_eq((f["daddr"], f["dport"], f["ports"]), ("127.0.0.1", 9999, 6), "where, ports")
        e = f["evidence"]
        check_eq(e["syn_sent"], 6, "sockets in SYN_SENT")
        check(e["syn_retrans_max"] >= 1, f"SYNs were resent: {e['syn_retrans_max']}")
        check_eq((e["tcp_syn_retries"], e["syn_timeout_s"]), (3, 15), "syn retries and timeout")
        check("tcp_syn_retries is 3 here: a connect gives up after 15 s" in f["advice"],
              f"advice: {f['advice']}")
        healthy(res, pp["pid"], "the pooled client")
        # one look (no events) supports it too: the walk's SYN retransmit counts
        snap = snapshot(ns)
        f = one(snap, "syn_hang", hp["pid"])
        check_eq((f["dport"], f["ports"]), (9999, 6), "snapshot: syn_hang port and ports")
        healthy(snap, pp["pid"], "the pooled client (snapshot)")
        # without iterators: sock_diag's tcp_info gives the SYNs resent
        snap = snapshot(ns, ["--snapshot=diag"])
        f = one(snap, "syn_hang", hp["pid"])
        check(f["evidence"]["syn_retrans_max"] >= 1, f"diag: SYNs resent: {f['evidence']}")
    finally:
        ns.delete()


def test_bind_before_connect_is_a_bind_hog(tmp):
    ns = Netns("phexbind", 41000, 41063)
    try:
        srv, pooled = server_and_pool(ns, tmp)
        ph = explain(tmp, ns, 5)
        hog = Client(ns, tmp, srv, "leaky", ["--bind", "--count", "20", "--rate", "50",
                                             "--heartbeat", "1"], name="hog")
        res = result(ph)
        hp, pp = hog.parse(), pooled.parse()
        f = one(res, "bind_hog", hp["pid"])
        check_eq((f["daddr"], f["dport"], f["ports"]), ("127.0.0.1", 8080, 20), "where, ports")
        check_eq(f["evidence"]["bound"], 20, "bound sockets")
        check("IP_BIND_ADDRESS_NO_PORT" in f["advice"], f"advice: {f['advice']}")
        healthy(res, pp["pid"], "the pooled client")
        # one look: the walk sees the ports came from bind()
        snap = snapshot(ns)
        f = one(snap, "bind_hog", hp["pid"])
        check_eq(f["ports"], 20, "snapshot: bind_hog ports")
    finally:
        ns.delete()


def test_failing_second_process_is_a_victim_of_the_first(tmp):
    ns = Netns("phexvictim", 41000, 41063)
    try:
        srv, pooled = server_and_pool(ns, tmp)
        ph = explain(tmp, ns, 6)
        holder = Client(ns, tmp, srv, "leaky", ["--fail-count", "1"], name="holder")
        victim = Client(ns, tmp, srv, "churn", ["--count", "5", "--fail-count", "5"],
                        name="victim")
        res = result(ph)
        hp, vp, pp = holder.parse(), victim.parse(), pooled.parse()
        check_eq(len(vp["failures"]), 5, "the victim's connects failed")
        f = one(res, "victim", vp["pid"])
        check_eq((f["daddr"], f["dport"], f["severity"]), ("127.0.0.1", 8080, "critical"),
                 "where, severity")
        e = f["evidence"]
        check_eq(e["failed"], 5, "failed connects")
        check_eq(e["holders"][0]["pid"], hp["pid"], "the first holder named")
        check_eq(e["holders"][0]["ports"], len(hp["ports"]), "its ports")
        check_eq(e["holders"][0]["kind"], "leak", "and its own finding")
        check(f"PID {hp['pid']}" in f["advice"], f"advice names the holder: {f['advice']}")
        one(res, "leak", hp["pid"])
        healthy(res, pp["pid"], "the pooled client")
    finally:
        ns.delete()


def test_report_of_a_recording_explains_the_leak(tmp):
    ns = Netns("phexrep", 41000, 41063)
    try:
        srv, pooled = server_and_pool(ns, tmp)
        out = os.path.join(tmp, "leak.phtrace")
        rec = Porthog(tmp, ["record", "-o", out, "--duration", "7", "--netns", str(ns.inode)],
                      name="record")
        leaky = Client(ns, tmp, srv, "leaky", ["--rate", "20", "--count", "30",
                                               "--heartbeat", "1"])
        check_eq(rec.proc.wait(60), 0, f"record exit code ({rec.stderr()[-300:]})")
        lp, pp = leaky.parse(), pooled.parse()
        r = porthog_run(["report", out, "--json"])
        check_eq(r.returncode, 0, f"report exit code ({r.stderr.strip()})")
        res = json.loads(r.stdout)
        f = one(res, "leak", lp["pid"])
        check_eq((f["daddr"], f["dport"], f["ports"]), ("127.0.0.1", 8080, 30), "where, ports")
        e = f["evidence"]
        check_eq((e["opened"], e["closed"], e["activity_known"], e["quiet"]), (30, 0, 30, 30),
                 "evidence from the recording (activity from its last walk)")
        healthy(res, pp["pid"], "the pooled client")
        r = porthog_run(["report", out])
        check_eq(r.returncode, 0, "report text exit code")
        check(f"leak  ph_client (pid {lp['pid']})  -> 127.0.0.1:8080" in r.stdout,
              f"text findings: {r.stdout[:2000]}")
        check("a heartbeat keeps a connection open" in r.stdout, "text advice")
    finally:
        ns.delete()


if __name__ == "__main__":
    run_tests(globals())
