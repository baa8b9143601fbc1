#!/usr/bin/env python3
"""Port accounting on the real kernel: porthog top and porthog snapshot."""
import json
import math
import os
import signal
import subprocess
import time

from phlib import (PORTHOG, Client, Netns, Porthog, Server, TestFailure, check, check_eq,
                   porthog_run, run_tests, wait_for)


def dest(state, dport=8080):
    for d in state["destinations"]:
        if d["dport"] == dport:
            return d
    return None


def proc(state, pid):
    for p in state["processes"]:
        if p["pid"] == pid:
            return p
    return None


def snapshot(ns, extra=()):
    r = porthog_run(["snapshot", "--json", "--netns", str(ns.inode)] + list(extra))
    check_eq(r.returncode, 0, f"snapshot exit code ({r.stderr.strip()})")
    return json.loads(r.stdout)


def last_state(ph, pred, timeout, what):
    """Wait for a top --json object matching pred; return it."""
    def find():
        try:
            lines = ph.json_lines()
        except ValueError:
            return None  # a line still being written
        for s in reversed(lines):
            if pred(s):
                return s
        if ph.proc.poll() is not None:
            raise TestFailure(f"porthog exited: {ph.stderr()}")
        return None
    return wait_for(find, timeout, what)


def test_leaky_client_exhausts_destination(tmp):
    ns = Netns("phtop", 41000, 41063)
    try:
        ph = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--netns", str(ns.inode)])
        srv = Server(ns, tmp)
        pooled = Client(ns, tmp, srv, "pooled", ["--count", "5"])
        leaky = Client(ns, tmp, srv, "leaky", ["--fail-count", "3"])
        lp, pp = leaky.parse(), pooled.parse()
        check_eq(len(lp["ports"]), 63, "leaky client got 63 ports")

        def done(s):
            p, d = proc(s, lp["pid"]), dest(s)
            return p and d and p["ports_held"] == 63 and p["failed"] == 3 and d["failed"] == 3
        s = last_state(ph, done, 15, "top to show the leaky pid with 63 ports and 3 failures")
        p, q, d = proc(s, lp["pid"]), proc(s, pp["pid"]), dest(s)
        check_eq(p["ports_held"], 63, "leaky ports_held")
        check_eq(p["failed"], 3, "leaky failed")
        check_eq(p["opened"], 63, "leaky opened")
        check_eq(p["comm"], "ph_client", "comm")
        check("--mode leaky" in p["cmdline"], f"cmdline is read: {p['cmdline']!r}")
        check_eq(q["ports_held"], 1, "pooled ports_held")
        check_eq(s["processes"][0]["pid"], lp["pid"], "leaky pid sorts first")
        check_eq((d["in_use"], d["capacity"], d["headroom_pct"]), (64, 64, 0), "destination")
        check_eq(d["eta_s"], 0, "eta_s at exhaustion")
        check_eq(s["lost_events"], 0, "lost_events")
        check_eq(s["skipped_events"], 0, "skipped_events")
        check_eq(s["attach_mode"], "tracepoint", "attach_mode")
        n = [x for x in s["netns"] if x["inode"] == ns.inode][0]
        check_eq((n["range_lo"], n["range_hi"], n["ports_in_use"]), (41000, 41063, 64), "netns")
        check_eq(p["top_destinations"][0]["dport"], 8080, "top destination")
        check_eq(p["top_destinations"][0]["count"], 63, "top destination count")
        check_eq(ph.stop(), 0, "exit code")
    finally:
        ns.delete()


def test_startup_snapshot_iter_and_diag(tmp):
    """Connections opened before porthog started are counted for their owner."""
    ns = Netns("phsnap", 41000, 41063)
    try:
        srv = Server(ns, tmp)
        pooled = Client(ns, tmp, srv, "pooled", ["--count", "5"])
        leaky = Client(ns, tmp, srv, "leaky", ["--fail-count", "1"])
        lp, pp = leaky.parse(), pooled.parse()
        for mode in ("iter", "diag"):
            s = snapshot(ns, ["--snapshot=" + mode])
            check_eq(s["snapshot"], mode, "snapshot mode")
            check_eq(proc(s, lp["pid"])["ports_held"], 63, f"{mode}: leaky ports_held")
            check_eq(proc(s, pp["pid"])["ports_held"], 1, f"{mode}: pooled ports_held")
            check_eq(proc(s, lp["pid"])["states"], {"ESTABLISHED": 63}, f"{mode}: states")
            d = dest(s)
            check_eq((d["in_use"], d["capacity"], d["headroom_pct"]), (64, 64, 0),
                     f"{mode}: destination")
        r = subprocess.run([PORTHOG, "top", "--json", "--count", "1", "--interval", "0.2",
                            "--netns", str(ns.inode)], capture_output=True, text=True, timeout=60)
        check_eq(r.returncode, 0, "top --count 1")
        s = json.loads(r.stdout.splitlines()[-1])
        check_eq(proc(s, lp["pid"])["ports_held"], 63, "top: pre-existing sockets counted")
    finally:
        ns.delete()


def test_snapshot_without_full_walk(tmp):
    """Sockets held in open files plus a dump of the states after close() replace the
    namespace's full socket walk when the kernel's counts add up; else it is walked."""
    ns = Netns("phheld", 41000, 41063)
    try:
        srv = Server(ns, tmp)
        pooled = Client(ns, tmp, srv, "pooled", ["--count", "5"])
        churn = Client(ns, tmp, srv, "churn", ["--count", "20", "--close", "fin"])
        pp, cp = pooled.parse(), churn.parse()
        check_eq(len(cp["ports"]), 20, "churn connects")
        for mode in ("iter", "diag"):
            def twenty_tw():
                s = snapshot(ns, ["--snapshot=" + mode])
                return s if dest(s)["time_wait"] == 20 else None
            s = wait_for(twenty_tw, 10, f"{mode}: 20 TIME_WAIT ports")
            check_eq(proc(s, pp["pid"])["ports_held"], 1, f"{mode}: pooled ports_held")
            check_eq(proc(s, pp["pid"])["states"], {"ESTABLISHED": 1}, f"{mode}: pooled states")
            check_eq((dest(s)["in_use"], dest(s)["time_wait"]), (21, 20), f"{mode}: destination")
            r = porthog_run(["snapshot", "-v", "--json", "--snapshot=" + mode,
                             "--netns", str(ns.inode)])
            check_eq(r.returncode, 0, f"{mode}: snapshot -v exit code")
            check(f"netns {ns.inode}: 3 sockets held in open files, 21 dumped" in r.stderr
                  and "no full walk" in r.stderr,
                  f"{mode}: pooled client, its accepted socket, the listener held; 20 TIME_WAIT "
                  f"and the listener dumped: {r.stderr}")
        # a connection waiting in an accept queue has no fd: the namespace is walked in full
        waiting = Server(ns, tmp, port=8081, extra=["--no-accept"], name="waiting")
        queued = Client(ns, tmp, waiting, "pooled", ["--count", "1"], name="queued")
        qp = queued.parse()
        r = porthog_run(["snapshot", "-v", "--json", "--netns", str(ns.inode)])
        check_eq(r.returncode, 0, "snapshot -v exit code")
        check(f"netns {ns.inode}: 6 sockets hashed, 5 held in open files, 22 dumped: full walk"
              in r.stderr, f"full walk with an unaccepted connection: {r.stderr}")
        s = json.loads(r.stdout)
        check_eq(proc(s, qp["pid"])["ports_held"], 1, "queued client ports_held")
        check_eq(proc(s, pp["pid"])["ports_held"], 1, "pooled ports_held after a full walk")
        check_eq(dest(s, 8081)["in_use"], 1, "destination of the unaccepted connection")
    finally:
        ns.delete()


def test_time_wait_counted(tmp):
    ns = Netns("phtw", 41000, 41063)
    try:
        ph = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--netns", str(ns.inode)])
        srv = Server(ns, tmp)
        churn = Client(ns, tmp, srv, "churn", ["--count", "20", "--close", "fin"])
        cp = churn.parse()
        check_eq(len(cp["ports"]), 20, "churn connects")

        def tw(s):
            p, d = proc(s, cp["pid"]), dest(s)
            return p and d and d["time_wait"] == 20 and p["time_wait"] == 20
        s = last_state(ph, tw, 15, "20 TIME_WAIT ports for the churn pid")
        d = dest(s)
        check_eq((d["in_use"], d["time_wait"]), (20, 20), "TIME_WAIT ports held per destination")
        check_eq(proc(s, cp["pid"])["ports_held"], 0, "no held ports besides TIME_WAIT")
        ph.stop()
        s = snapshot(ns)
        check_eq(dest(s)["time_wait"], 20, "snapshot counts TIME_WAIT too")
    finally:
        ns.delete()


def test_reserved_ports_lower_capacity(tmp):
    ns = Netns("phres", 41000, 41063)
    try:
        ns.sysctl("net.ipv4.ip_local_reserved_ports", "41010-41014,50000")
        srv = Server(ns, tmp)
        Client(ns, tmp, srv, "pooled", ["--count", "1"])
        s = snapshot(ns)
        check_eq(dest(s)["capacity"], 59, "64 - 5 reserved in range")
        n = [x for x in s["netns"] if x["inode"] == ns.inode][0]
        check_eq(n["reserved_in_range"], 5, "reserved_in_range")
    finally:
        ns.delete()


def test_busy_port_lowers_capacity(tmp):
    ns = Netns("phbusy", 41000, 41063)
    try:
        srv = Server(ns, tmp)
        Server(ns, tmp, port=41020, name="inrange")
        Client(ns, tmp, srv, "pooled", ["--count", "1"])
        s = snapshot(ns)
        check_eq(dest(s)["capacity"], 63, "a listener inside the range")
        check_eq(dest(s)["in_use"], 1, "the listener's port is not in use by the destination")
    finally:
        ns.delete()


def test_eta_forecast(tmp):
    ns = Netns("pheta", 41000, 41063)
    try:
        ph = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--eta-window", "3",
                           "--netns", str(ns.inode)])
        srv = Server(ns, tmp)
        rate = 8.0
        leaky = Client(ns, tmp, srv, "leaky", ["--rate", str(rate), "--fail-count", "1"],
                       wait=False)

        def growing(s):
            d = dest(s)
            return d and d["in_use"] >= 30 and d["eta_s"] is not None
        s = last_state(ph, growing, 20, "a destination with a finite eta_s")
        d = dest(s)
        truth = (d["capacity"] - d["in_use"]) / rate
        check(math.isfinite(d["eta_s"]), "eta_s is finite")
        check(abs(d["eta_s"] - truth) <= max(0.35 * truth, 1.0),
              f"eta_s {d['eta_s']:.1f}s near the truth {truth:.1f}s")
        leaky.stop()
        ph.stop()
    finally:
        ns.delete()


def test_syn_sent_ports_count_while_hanging(tmp):
    """SYNs dropped (full accept queue, nobody accepts): ports held in SYN_SENT
    count for their owners while the connects hang, long before they time out."""
    ns = Netns("phsynsent", 41000, 41063)
    try:
        ph = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--netns", str(ns.inode)])
        srv = Server(ns, tmp, extra=["--backlog", "1", "--no-accept"])
        clients = [Client(ns, tmp, srv, "leaky", ["--count", "1"], name=f"c{i}", wait=False)
                   for i in range(6)]
        pids = [wait_for(lambda c=c: c.parse()["pid"], 10, "client pid") for c in clients]

        def hanging(s):
            d = dest(s)
            ps = [proc(s, p) for p in pids]
            if not d or d["in_use"] != 6 or not all(ps):
                return False
            return all(p["ports_held"] == 1 for p in ps) and \
                sum(p["states"].get("SYN_SENT", 0) for p in ps) >= 3
        s = last_state(ph, hanging, 15, "6 clients holding one port each, some in SYN_SENT")
        stuck = [p for p in pids if proc(s, p)["states"].get("SYN_SENT")]
        for c in clients:
            if c.parse()["pid"] in stuck:
                check_eq(c.parse()["ports"], [], "a stuck client's connect() has not returned")
        check_eq(dest(s)["capacity"], 64, "capacity")
        check_eq(ph.stop(), 0, "exit code")
    finally:
        ns.delete()


def test_lost_events_counted_and_reconciled(tmp):
    """A ring buffer too small for a burst loses events: the loss is shown, and the
    reconcile walk still brings the counts back to the truth."""
    ns = Netns("phlost", 41000, 60999)
    try:
        ph = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--netns", str(ns.inode),
                           "--ringbuf-size", "4096", "--reconcile", "1"])
        srv = Server(ns, tmp)
        # porthog stopped: the burst overflows the 4 KiB ring buffer
        ph.proc.send_signal(signal.SIGSTOP)
        burst = Client(ns, tmp, srv, "leaky", ["--count", "3000"], name="burst")
        ph.proc.send_signal(signal.SIGCONT)
        bp = burst.parse()
        check_eq(len(bp["ports"]), 3000, "the burst client holds 3000 ports")

        def settled(s):
            p = proc(s, bp["pid"])
            return s["lost_events"] > 0 and p and p["ports_held"] == 3000 and \
                dest(s)["in_use"] == 3000
        s = last_state(ph, settled, 20, "lost events shown and 3000 ports after reconcile")
        check(s["lost_events"] > 0, "lost_events counted")
        check_eq(s["skipped_events"], 0, "ring buffer losses are not counted as skipped")
        ph.proc.send_signal(signal.SIGSTOP)
        burst.stop()
        ph.proc.send_signal(signal.SIGCONT)
        # most closes are lost too: the walk still drops the ports
        s = last_state(ph, lambda s: not proc(s, bp["pid"]) or
                       proc(s, bp["pid"])["ports_held"] == 0, 20, "ports released after exit")
        check(not dest(s) or dest(s)["in_use"] - dest(s)["time_wait"] == 0,
              "no port left counted forever")
        check_eq(ph.stop(), 0, "exit code")
    finally:
        ns.delete()


class Tmux:
    """porthog top on a real terminal: a detached tmux session, keys sent, screen read."""

    def __init__(self, args, width=200, height=50):
        self.session = os.environ.get("PH_NS_PREFIX", "") + "porthog-top"
        subprocess.run(["tmux", "kill-session", "-t", self.session], stderr=subprocess.DEVNULL)
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", str(width),
                        "-y", str(height), " ".join([PORTHOG, "top"] + args)], check=True)

    def keys(self, *keys):
        subprocess.run(["tmux", "send-keys", "-t", self.session] + list(keys), check=True)

    def screen(self):
        r = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session],
                           capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else ""

    def wait(self, pred, what, timeout=20):
        """The screen once pred(lines) holds."""
        def ok():
            out = self.screen()
            return out if pred(out.splitlines()) else None
        return wait_for(ok, timeout, what)

    def alive(self):
        return subprocess.run(["tmux", "has-session", "-t", self.session],
                              stderr=subprocess.DEVNULL).returncode == 0

    def kill(self):
        subprocess.run(["tmux", "kill-session", "-t", self.session], stderr=subprocess.DEVNULL)


def row(lines, pid):
    """The words of the process list row of pid, or None."""
    for line in lines:
        w = line.split()
        if len(w) > 3 and w[0] == str(pid) and w[1] == "ph_client":
            return w
    return None


def proc_view(lines, pid):
    return any(l.startswith(f"PID {pid} ") for l in lines)


def lports(lines):
    """Local ports listed under LPORT in the process view."""
    out, on = [], False
    for line in lines:
        w = line.split()
        if w and w[0] == "LPORT":
            on = True
        elif on and len(w) == 7 and w[0].isdigit():
            out.append((int(w[0]), w[1], w[2]))
    return out


def test_screen_in_tmux(tmp):
    """The offender on the screen; Down/Enter open exactly the selected process with its
    destination and sockets; Esc goes back; / filters by command; q quits."""
    ns = Netns("phscr", 41000, 41063)
    t = None
    try:
        t = Tmux(["--interval", "0.5", "--reconcile", "1", "--netns", str(ns.inode)], height=90)
        t.wait(lambda l: l and l[0].startswith("porthog top  attach=tracepoint"), "top attached")
        srv = Server(ns, tmp)
        pooled = Client(ns, tmp, srv, "pooled", ["--count", "1"])
        leaky = Client(ns, tmp, srv, "leaky", ["--fail-count", "2"])
        lp, pp = leaky.parse(), pooled.parse()
        check_eq(len(lp["ports"]), 63, "leaky client got 63 ports")
        out = t.wait(lambda l: row(l, lp["pid"]) and row(l, lp["pid"])[2] == "63" and
                     row(l, lp["pid"])[10] == "LEAK" and row(l, pp["pid"]),
                     "both clients on the tmux screen, the leak diagnosed")
        lines = out.splitlines()
        check_eq(row(lines, lp["pid"])[2:8], ["63", "63", "0", "0", "63", "2"],
                 "leaky row: held, tcp, udp, tw, opened, failed")
        check_eq([row(lines, pp["pid"])[2], row(lines, pp["pid"])[10]], ["1", "-"],
                 "pooled row: held, no finding")
        check("DIAG" in lines[2].split(), f"DIAG column: {lines[2]!r}")
        check(lines.index(next(l for l in lines if l.startswith(str(lp["pid"])))) <
              lines.index(next(l for l in lines if l.startswith(str(pp["pid"])))),
              "the leaky pid sorts first")
        check("DESTINATION" in out and "127.0.0.1 -> 127.0.0.1:8080" in out, "destination pane")

        # Enter opens the selected (first) row: the leaky client
        t.keys("Enter")
        out = t.wait(lambda l: proc_view(l, lp["pid"]) and len(lports(l)) == 63,
                     "the leaky client's view with its 63 sockets")
        lines = out.splitlines()
        dl = [l.split() for l in lines if l.startswith("127.0.0.1 -> 127.0.0.1:8080")]
        check_eq(dl[0][3:8], ["63", "63", "0", "0", "0"],
                 "its destination: ports, ESTABLISHED, SYN_SENT, TIME_WAIT, other")
        socks = lports(lines)
        check_eq(sorted(p for p, _, _ in socks), sorted(lp["ports"]),
                 "exactly the leaky client's local ports")
        check(all(d == "127.0.0.1:8080" and st == "ESTABLISHED" for _, d, st in socks),
              "each socket's destination and state")
        check(any("--mode leaky" in l for l in lines if l.startswith("cmdline:")), "cmdline")
        fi = lines.index("FINDINGS")
        check_eq(lines[fi + 1].split(), ["CRITICAL", "LEAK", "127.0.0.1", "->", "127.0.0.1:8080",
                                         "63", "ports"], "the leak finding")
        check(lines[fi + 2].strip().startswith("connection leak: 63 connections to 127.0.0.1:8080"),
              f"its summary: {lines[fi + 2]!r}")
        check(any(l.startswith("  advice: ") for l in lines[fi:]), "its advice")
        idle = [l for l in lines if l.split()[:1] == ["LPORT"]][0].split()
        check_eq(idle[3:], ["AGE", "IDLE", "SENT", "RECEIVED"], "socket columns")

        # Esc back to the list, Down selects the second row, Enter opens the pooled client
        t.keys("Escape")
        t.wait(lambda l: row(l, lp["pid"]) and not lports(l), "Esc back to the list")
        t.keys("Down", "Enter")
        out = t.wait(lambda l: proc_view(l, pp["pid"]) and lports(l),
                     "the pooled client's view after Down, Enter")
        check_eq(lports(out.splitlines()), [(pp["ports"][0], "127.0.0.1:8080", "ESTABLISHED")],
                 "the pooled client's one socket")
        check("FINDINGS" not in out.splitlines(), "no findings for the pooled client")
        t.keys("Escape")
        t.wait(lambda l: row(l, pp["pid"]) and not lports(l), "Esc back to the list")

        # / filters by command: only the pooled client; Esc clears
        t.keys("/")
        t.wait(lambda l: any(x.startswith("filter (Enter apply") for x in l), "filter prompt")
        t.keys("-l", "mode pooled")
        t.keys("Enter")
        out = t.wait(lambda l: row(l, pp["pid"]) and not row(l, lp["pid"]) and
                     any(x.startswith("filter: mode pooled") for x in l),
                     "only the pooled client after the filter")
        t.keys("Enter")
        t.wait(lambda l: proc_view(l, pp["pid"]), "Enter opens the only filtered row")
        t.keys("Escape")
        t.wait(lambda l: row(l, pp["pid"]) and not row(l, lp["pid"]), "filter kept")
        t.keys("Escape")
        t.wait(lambda l: row(l, pp["pid"]) and row(l, lp["pid"]), "Esc clears the filter")

        # End/Home, PgDn in the list; s still sorts
        t.keys("End", "Enter")
        t.wait(lambda l: proc_view(l, pp["pid"]), "End selects the last row")
        t.keys("Escape", "Home", "Enter")
        t.wait(lambda l: proc_view(l, lp["pid"]), "Home selects the first row")
        t.keys("Escape", "NPage", "Enter")
        t.wait(lambda l: proc_view(l, pp["pid"]), "PgDn moves down a page")
        t.keys("Escape", "PPage", "Enter")
        t.wait(lambda l: proc_view(l, lp["pid"]), "PgUp moves up a page")
        t.keys("Escape")
        t.keys("s")
        t.wait(lambda l: l and "sort=time_wait" in l[0], "s changes the sort key")

        # a small terminal: still usable, no wrapped lines
        subprocess.run(["tmux", "resize-window", "-t", t.session, "-x", "50", "-y", "8"],
                       check=True)
        out = t.wait(lambda l: row(l, lp["pid"]), "the offender on a 50x8 terminal")
        check(all(len(l) <= 50 for l in out.splitlines()), "lines cut at the width")
        t.keys("Enter")
        t.wait(lambda l: proc_view(l, lp["pid"]), "process view on a small terminal")
        t.keys("End")
        out = t.wait(lambda l: [x for x in l if x.strip()][-1].split()[0] == str(lp["ports"][-1]),
                     "End scrolls the process view to its newest socket")
        t.keys("q")
        wait_for(lambda: not t.alive(), 10, "q to quit top")
    finally:
        if t:
            t.kill()
        ns.delete()


def test_batch_diag_column(tmp):
    """--batch: the DIAG column names the leak and the churn, and nothing for a pool."""
    ns = Netns("phdiag", 41000, 41199)
    try:
        ph = Porthog(tmp, ["top", "--batch", "--interval", "0.5", "--reconcile", "1",
                           "--netns", str(ns.inode)])
        srv = Server(ns, tmp)
        pooled = Client(ns, tmp, srv, "pooled", ["--count", "5"])
        leaky = Client(ns, tmp, srv, "leaky", ["--count", "40"])
        churn = Client(ns, tmp, srv, "churn", ["--count", "40", "--close", "fin"])
        pids = {leaky.parse()["pid"]: "LEAK", churn.parse()["pid"]: "CHURN",
                pooled.parse()["pid"]: "-"}

        def frame():
            with open(ph.out) as f:
                frames = f.read().split("porthog 20")
            for fr in reversed(frames[:-1]):  # the last one may be half written
                lines = fr.splitlines()
                hdr = [l.split() for l in lines if l.startswith("PID ")]
                got = {int(w[0]): w[10] for w in map(str.split, lines)
                       if len(w) > 10 and w[0].isdigit() and int(w[0]) in pids}
                if hdr and got == pids:
                    return hdr[0]
            return None
        hdr = wait_for(frame, 20, f"DIAG column {pids}")
        check_eq(hdr[10:12], ["DIAG", "CMDLINE"], "batch header")
        check_eq(ph.stop(), 0, "exit code")
    finally:
        ns.delete()


def test_leak_named_while_the_destination_runs_out(tmp):
    """No reconcile walk for ten minutes: while a destination is under 20% headroom, top
    reads the sockets' traffic anyway (every 5 s), so the leak is named, not '-'."""
    ns = Netns("phdiaglow", 41000, 41063)
    try:
        ph = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--reconcile", "600",
                           "--netns", str(ns.inode)])
        srv = Server(ns, tmp)
        pooled = Client(ns, tmp, srv, "pooled", ["--count", "1000000", "--rate", "100"],
                        wait=False)
        leaky = Client(ns, tmp, srv, "leaky", ["--count", "60", "--rate", "30",
                                               "--heartbeat", "1"])
        lp, pp = leaky.parse(), pooled.parse()

        def leak():
            with open(ph.out) as f:
                lines = f.read().split("\n")[:-1]  # whole lines only
            for line in reversed(lines):
                fs = [f for f in json.loads(line)["findings"] if f["kind"] == "leak"]
                if fs:
                    return fs
            return None
        fs = wait_for(leak, 40, "a leak finding in top --json")
        check_eq([(f["pid"], f["dport"], f["ports"]) for f in fs], [(lp["pid"], 8080, 60)],
                 "the leak: pid, port, its 60 connections")
        check(pp["pid"] not in fs[0]["pids"], "the pooled client is not in it")
        check_eq(ph.stop(), 0, "exit code")
    finally:
        ns.delete()


def test_top_needs_terminal_or_batch(tmp):
    r = porthog_run(["top"])
    check_eq(r.returncode, 2, "top without a terminal and without --batch")
    r = porthog_run(["top", "--batch", "--count", "1", "--interval", "0.2"])
    check_eq(r.returncode, 0, "top --batch")
    check("DESTINATION" in r.stdout and "PID" in r.stdout, "batch text has both panes")
    for bad in (["--interval", "0"], ["--warn-pct", "101"], ["--sort", "nope"],
                ["--snapshot=xyz"], ["--max-procs", "-5"]):
        r = porthog_run(["top", "--json"] + bad)
        check_eq(r.returncode, 2, f"exit code for bad {bad}")


if __name__ == "__main__":
    run_tests(globals())
