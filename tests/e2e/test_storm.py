#!/usr/bin/env python3
"""A connect storm on loopback in a namespace, first with RST closes, then with TIME_WAIT
closes, under `porthog trace --json` and `porthog top --json`: every connect and every close
the load generator made is reported, nothing is lost or skipped (the catcher takes the hits
the kernel skips), and top's TIME_WAIT count after the storm is what ss counts in the port
range. Not timed: the counts must be exact."""
import collections
import json
import os
import subprocess

from phlib import BUILD, Netns, Porthog, check, check_eq, run_tests, wait_for

CONNSTORM = os.path.join(BUILD, "connstorm")
LO, HI, PORT = 10000, 65535, 5000


def storm(ns, mode, extra):
    """One connstorm client run; its own exact counts (--json) and its PID."""
    p = ns.popen([CONNSTORM, "--addr", "127.0.0.1", "--port", str(PORT), "--threads", "2",
                  "--mode", mode, "--json"] + extra, stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=180)
    check_eq(p.returncode, 0, f"connstorm --mode {mode} exit code")
    r = json.loads(out.strip().splitlines()[-1])
    r["pid"] = p.pid
    return r


def ss_states(ns):
    """Client sockets to the storm port by state, and TIME_WAIT ones with a local port
    in the range, as ss sees them."""
    out = subprocess.run(["ip", "netns", "exec", ns.name, "ss", "-tanH"], capture_output=True,
                         text=True, check=True).stdout
    states, tw = collections.Counter(), 0
    for line in out.splitlines():
        f = line.split()
        if len(f) < 5 or not f[4].endswith(f":{PORT}"):
            continue
        states[f[0]] += 1
        if f[0] == "TIME-WAIT" and LO <= int(f[3].rsplit(":", 1)[1]) <= HI:
            tw += 1
    return states, tw


def count_events(ph):
    c = collections.Counter()
    lost = []
    try:
        with open(ph.out) as f:
            for line in f:
                if not line.endswith("\n"):
                    break          # a line being written
                e = json.loads(line)
                c[e["event"]] += 1
                if e["event"] == "lost":
                    lost.append(e)
    except FileNotFoundError:
        pass
    return c, lost


def last_top(ph):
    last = None
    with open(ph.out) as f:
        for line in f:
            if line.endswith("\n"):
                last = json.loads(line)
    return last


def test_storm_rst_then_time_wait(tmp):
    ns = Netns("phstorm", LO, HI)
    try:
        ns.sysctl("net.core.somaxconn", "65535")
        netns = str(ns.inode)
        trace = Porthog(tmp, ["trace", "--json", "--netns", netns], name="trace")
        # TIME_WAIT sockets a RST kills (RFC 1337) end without a state change: top's
        # reconcile walk, not an event, removes them; walk every 3 s here
        top = Porthog(tmp, ["top", "--json", "--interval", "1", "--netns", netns,
                            "--reconcile", "3"], name="top")
        srv = ns.popen([CONNSTORM, "--server", "--addr", "127.0.0.1", "--port", str(PORT),
                        "--threads", "2"], stdout=subprocess.PIPE, text=True)
        check_eq(srv.stdout.readline().strip(), "READY", "connstorm server ready")

        rst = storm(ns, "rst", ["--duration", "3"])
        tw = storm(ns, "short", ["--count", "30000", "--duration", "120"])
        for r in (rst, tw):
            check(r["connects"] > 1000, f"a storm: {r}")
            # every failure is accounted for: a port (timeout) or none (EADDRNOTAVAIL)
            check_eq(r["failures"], r["timeouts"] + r["eaddrnotavail"], f"failures of {r}")
        # a timed-out connect held a port too (its SYN went out): porthog reports it
        ports = rst["connects"] + rst["timeouts"] + tw["connects"] + tw["timeouts"]
        failed = rst["eaddrnotavail"] + tw["eaddrnotavail"]

        # every client socket closed: only TIME_WAIT left
        def settled():
            st, _ = ss_states(ns)
            return not (set(st) - {"TIME-WAIT"})
        wait_for(settled, 60, "the storm's sockets to close")
        states, ss_tw = ss_states(ns)
        check(ss_tw > 0, f"TIME_WAIT sockets after the storm: {states}")

        def all_closes():
            c, _ = count_events(trace)
            return c["close"] >= ports
        try:
            wait_for(all_closes, 30, f"{ports} close events")
        except Exception:
            pass                   # the counts below say what is missing
        check_eq(trace.stop(), 0, "trace exit code")
        c, lost = count_events(trace)
        check_eq(lost, [], "in-band lost lines")
        check_eq(c["connect"], ports, "connect events (the load generator's connects)")
        check_eq(c["close"], ports, "close events (every connect closed)")
        check_eq(c["connect_failed"], failed, "connect_failed events")
        check("skipped_events" not in trace.stderr() and "lost_events" not in trace.stderr(),
              f"no loss warning: {trace.stderr()}")
        pids = collections.Counter()
        with open(trace.out) as f:
            for line in f:
                pids[json.loads(line)["pid"]] += 1
        check_eq(set(pids), {rst["pid"], tw["pid"]}, "PIDs of the events")

        def top_tw():
            s = last_top(top)
            d = [x for x in (s or {}).get("destinations", []) if x["dport"] == PORT]
            return s if d and d[0]["time_wait"] == ss_tw else None
        try:
            s = wait_for(top_tw, 20, f"top to show {ss_tw} TIME_WAIT")
        except Exception:
            s = last_top(top)
            d = [x for x in s.get("destinations", []) if x["dport"] == PORT]
            check_eq(d[0]["time_wait"] if d else None, ss_tw, "top's TIME_WAIT against ss")
        check_eq((s["lost_events"], s["skipped_events"]), (0, 0), "top's lost and skipped")
        _, ss_tw2 = ss_states(ns)
        check_eq(ss_tw2, ss_tw, "ss TIME_WAIT count steady (no reuse, 60 s lifetime)")
        check_eq(top.stop(), 0, "top exit code")
    finally:
        ns.delete()


if __name__ == "__main__":
    run_tests(globals())
