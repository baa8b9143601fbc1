#!/usr/bin/env python3
"""porthog trace on the real kernel: a leaky and a pooled client in a 64-port namespace."""
import collections
import time

from phlib import (Client, Netns, Porthog, Server, check, check_eq, porthog_run, run_tests,
                   wait_for)


def leak_scenario(tmp, addr, extra=(), nsname="phtrace", ph_extra=()):
    ns = Netns(nsname, 41000, 41063)
    try:
        ph = Porthog(tmp, ["trace", "--json", "--netns", str(ns.inode)] + list(ph_extra))
        srv = Server(ns, tmp, addr=addr)
        pooled = Client(ns, tmp, srv, "pooled", ["--count", "20"] + list(extra))
        leaky = Client(ns, tmp, srv, "leaky", ["--fail-count", "3"] + list(extra))
        p, l = pooled.parse(), leaky.parse()
        check_eq(len(p["ports"]), 1, "pooled client's own connect count")
        check_eq(len(l["ports"]), 63, "leaky client's own connect count (64 ports - 1 pooled)")
        check_eq(l["failures"], [99, 99, 99], "leaky client's own failures")
        # Server first: clients then close in CLOSE_WAIT -> LAST_ACK -> CLOSE,
        # the last step in softirq context, where current is not the opener.
        srv.stop()
        leaky.stop()
        pooled.stop()
        time.sleep(1.0)
        check_eq(ph.stop(), 0, "porthog trace exit code on SIGINT")
        events = ph.json_lines()
        return p, l, events, ph
    finally:
        ns.delete()


def assert_scenario(p, l, events, family):
    by = collections.defaultdict(list)
    for e in events:
        by[(e["pid"], e["event"])].append(e)
    connects = by[(l["pid"], "connect")]
    check_eq(sorted(e["sport"] for e in connects), sorted(l["ports"]),
             "source ports of the leaky PID's connect events")
    for e in connects:
        check_eq(e["family"], family, "family")
        check_eq(e["dport"], 8080, "dport")
        check_eq(e["tid"], l["pid"], "tid of a single-threaded client")
        check_eq(e["comm"], "ph_client", "comm")
    fails = by[(l["pid"], "connect_failed")]
    check_eq(len(fails), len(l["failures"]), "connect_failed events of the leaky PID")
    for e in fails:
        check_eq(e["errno"], 99, "errno")
        check_eq(e["errname"], "EADDRNOTAVAIL", "errname")
        check_eq(e["dport"], 8080, "failed dport")
    pc = by[(p["pid"], "connect")]
    check_eq([e["sport"] for e in pc], p["ports"], "pooled client's connect events")
    closes = by[(l["pid"], "close")]
    check_eq(sorted(e["sport"] for e in closes), sorted(l["ports"]),
             "close events attributed to the leaky opener")
    check_eq([e["sport"] for e in by[(p["pid"], "close")]], p["ports"],
             "close event of the pooled opener")
    for e in events:
        check(e["pid"] in (l["pid"], p["pid"]), f"event of an unexpected pid: {e}")
        for key in ("ts", "tid", "uid", "cgroup_id", "netns", "saddr", "daddr"):
            check(key in e, f"field {key} missing in {e}")


def test_ipv4_blocking(tmp):
    p, l, ev, _ = leak_scenario(tmp, "127.0.0.1")
    assert_scenario(p, l, ev, "ipv4")


def test_ipv6_blocking(tmp):
    p, l, ev, _ = leak_scenario(tmp, "::1")
    assert_scenario(p, l, ev, "ipv6")
    check(all(e["daddr"] == "::1" for e in ev), "IPv6 daddr is ::1")


def test_ipv4_nonblocking(tmp):
    p, l, ev, _ = leak_scenario(tmp, "127.0.0.1", ["--nonblock"])
    assert_scenario(p, l, ev, "ipv4")


def test_ipv6_nonblocking(tmp):
    p, l, ev, _ = leak_scenario(tmp, "::1", ["--nonblock"])
    assert_scenario(p, l, ev, "ipv6")


def test_syscall_errno(tmp):
    """--syscall-errno holds each failure until connect() returns and reports its errno."""
    p, l, ev, _ = leak_scenario(tmp, "127.0.0.1", ph_extra=["--syscall-errno"])
    assert_scenario(p, l, ev, "ipv4")
    fails = [e for e in ev if e["event"] == "connect_failed"]
    check(all(e["errno_source"] == "syscall" for e in fails), "errno confirmed at syscall exit")
    check(all(e["tid"] == l["pid"] for e in fails), "failure in the connecting thread")


def test_bind_before_connect(tmp):
    """bind(port 0) then connect(): the port comes from the range at bind time."""
    ns = Netns("phbind", 41000, 41063)
    try:
        ph = Porthog(tmp, ["trace", "--json", "--netns", str(ns.inode)])
        srv = Server(ns, tmp)
        leaky = Client(ns, tmp, srv, "leaky", ["--bind", "--max-errors", "3"])
        lg = leaky.parse()
        check_eq(len(lg["ports"]), 64, "bound connects until the range is gone")
        leaky.stop()
        srv.stop()
        time.sleep(0.5)
        ph.stop()
        ev = ph.json_lines()
        conn = [e for e in ev if e["pid"] == lg["pid"] and e["event"] == "connect"]
        check_eq(sorted(e["sport"] for e in conn), sorted(lg["ports"]), "bound source ports")
        fails = [e for e in ev if e["pid"] == lg["pid"] and e["event"] == "connect_failed"]
        # once the range is gone, bind() fails with EADDRINUSE before any connect()
        check_eq(lg["failures"], [98, 98, 98], "client's bind failures")
        check_eq(len(fails), 0, "no connect_failed: connect() never ran")
    finally:
        ns.delete()


def test_pid_filter(tmp):
    ns = Netns("phpid", 41000, 41063)
    try:
        srv = Server(ns, tmp)
        churn = Client(ns, tmp, srv, "churn", ["--count", "60", "--rate", "20", "--close", "rst",
                                               "--hold", "0"], name="target", wait=False)
        pid = wait_for(lambda: churn.parse()["pid"], 10, "target pid")
        ph = Porthog(tmp, ["trace", "--json", "-p", str(pid)])
        other = Client(ns, tmp, srv, "churn", ["--count", "20", "--close", "rst", "--hold", "0"],
                       name="other")
        churn.wait_ready(30)
        time.sleep(0.3)
        check_eq(ph.stop(), 0, "exit code")
        ev = ph.json_lines()
        target_ports = set(churn.parse()["ports"])
        check(all(e["pid"] == pid for e in ev), f"only pid {pid} is traced")
        conns = [e["sport"] for e in ev if e["event"] == "connect"]
        check(len(conns) >= 20, f"most of the target's connects are seen after attach: {len(conns)}")
        check(set(conns) <= target_ports, "connect ports are the target's own")
        check_eq(len(other.parse()["ports"]), 20, "the other client ran")
    finally:
        ns.delete()


def test_syn_retransmit_attribution(tmp):
    """The first SYN is dropped (accept queue full): the connect completes from the
    retransmit timer, in softirq context, and must still name the connecting PID."""
    ns = Netns("phsyn", 41000, 41063)
    try:
        ph = Porthog(tmp, ["trace", "--json", "--netns", str(ns.inode)])
        srv = Server(ns, tmp, extra=["--backlog", "1", "--accept-after", "2.5"])
        clients = [Client(ns, tmp, srv, "leaky", ["--count", "1"], name=f"c{i}", wait=False)
                   for i in range(6)]
        for c in clients:
            c.wait_ready(30)
        logs = [c.parse() for c in clients]
        for c in clients:
            c.stop()
        srv.stop()
        time.sleep(0.5)
        ph.stop()
        ev = [e for e in ph.json_lines() if e["event"] == "connect"]
        got = sorted((e["pid"], e["sport"]) for e in ev)
        want = sorted((lg["pid"], port) for lg in logs for port in lg["ports"])
        check_eq(got, want, "(pid, sport) of every connect, including retransmitted SYNs")
        late = [e for e in ev if e["ts"] - min(x["ts"] for x in ev) > 0.5]
        check(len(late) >= 1, "at least one connect completed by the SYN retransmit timer")
        check(all(e["syn_sent"] for e in late),
              "late connects are reported at their first SYN retransmit, still in SYN_SENT")
        check(not any(e["syn_sent"] for e in ev if e not in late), "prompt connects are not")
    finally:
        ns.delete()


def test_bad_flags(tmp):
    for args in (["trace", "--bogus"], ["trace", "-p", "abc"], ["trace", "--duration", "-1"],
                 ["trace", "--attach", "magic"], ["nosuchcommand"]):
        r = porthog_run(args)
        check_eq(r.returncode, 2, f"exit code of porthog {' '.join(args)}")
        check(r.stderr.strip() != "", f"an error message for {args}")


def test_duration(tmp):
    t0 = time.time()
    r = porthog_run(["trace", "--json", "--duration", "1"])
    check_eq(r.returncode, 0, "exit code with --duration")
    check(0.9 < time.time() - t0 < 15, "--duration 1 stops after about a second")
    check("attached with backend tracepoint" in r.stderr, "backend is named on stderr")
    check("skipping backend fentry" in r.stderr, "why fentry was skipped")
    check("skipping backend kprobe" in r.stderr, "why kprobe was skipped")


def test_check_verifier(tmp):
    """Every program of every backend whose program type loads here passes the verifier."""
    r = porthog_run(["check", "--json"])
    check_eq(r.returncode, 0, "porthog check exit code")
    rows = {j["backend"]: j for j in map(__import__("json").loads, r.stdout.splitlines())}
    check(rows["kprobe"]["load"], "kprobe programs pass the verifier")
    check(not rows["kprobe"]["attach"], "kprobe attach fails here (no CONFIG_KPROBES)")
    check("No such file" in rows["kprobe"]["attach_error"], "kprobe attach error names ENOENT")
    check(rows["tracepoint"]["load"] and rows["tracepoint"]["attach"], "tracepoint backend works")
    check(rows["iterators"]["load"] and rows["iterators"]["attach"], "iterators load")
    check(rows["syscall-errno"]["load"] and rows["syscall-errno"]["attach"],
          "the connect() syscall exit programs load and attach")
    check(not rows["fentry"]["load"], "fentry does not load here")
    check("Operation not permitted" in rows["fentry"]["load_error"], "fentry error says EPERM")


if __name__ == "__main__":
    run_tests(globals())
