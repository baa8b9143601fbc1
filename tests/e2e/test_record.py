#!/usr/bin/env python3
"""porthog record and porthog report on the real kernel, and the reader against bad files."""
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import time

from phlib import (PORTHOG, Client, Netns, Porthog, Server, TestFailure, check, check_eq,
                   porthog_run, run_tests, wait_for)

EXIT_USAGE, EXIT_BADFILE, EXIT_IO, EXIT_TRUNCATED = 2, 6, 7, 8


def report_json(path, extra=(), want_rc=0):
    r = porthog_run(["report", "--json"] + list(extra) + [path])
    check_eq(r.returncode, want_rc, f"report exit code ({r.stderr.strip()})")
    return json.loads(r.stdout)


def report_events(path, want_rc=0):
    r = porthog_run(["report", "--events", path])
    check_eq(r.returncode, want_rc, f"report --events exit code ({r.stderr.strip()})")
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def offender(rep, pid):
    for o in rep["offenders"]:
        if o["pid"] == pid:
            return o
    raise TestFailure(f"pid {pid} is not among the offenders")


def dest(rep, dport=8080):
    for d in rep["destinations"]:
        if d["dport"] == dport:
            return d
    raise TestFailure(f"no destination with port {dport}")


def wait_exit(ph, timeout, what):
    try:
        return ph.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        ph.proc.kill()
        ph.proc.wait()
        raise TestFailure(f"porthog record did not stop by itself: {what}")


def leaky_recording(tmp, ns, extra=()):
    """Record the leaky scenario until 1 s after the first EADDRNOTAVAIL."""
    out = os.path.join(tmp, "leaky.phtrace")
    ph = Porthog(tmp, ["record", "-o", out, "--until-fail=1", "--netns", str(ns.inode)]
                 + list(extra), name="record")
    srv = Server(ns, tmp)
    pooled = Client(ns, tmp, srv, "pooled", ["--count", "5"])
    leaky = Client(ns, tmp, srv, "leaky", ["--fail-count", "3"])
    check_eq(wait_exit(ph, 30, "--until-fail=1"), 0, f"record exit code ({ph.stderr()})")
    return out, ph, leaky.parse(), pooled.parse()


def test_leaky_scenario_report(tmp):
    ns = Netns("phrec", 41000, 41063)
    try:
        out, ph, lp, pp = leaky_recording(tmp, ns)
        check_eq(len(lp["ports"]), 63, "leaky client got 63 ports")
        check_eq(len(lp["failures"]), 3, "leaky client saw 3 failures")
        check_eq(stat.S_IMODE(os.stat(out).st_mode), 0o600, "trace file mode")
        check("trigger: connect_failed: pid %d" % lp["pid"] in ph.stderr(), "trigger logged")

        rep = report_json(out)
        check_eq(rep["file"]["complete"], True, "file complete")
        check_eq(rep["file"]["bytes_cut"], 0, "bytes cut")
        check_eq(rep["attach_mode"], "tracepoint", "attach mode")
        check_eq(rep["host"], os.uname().nodename, "host")
        check_eq(rep["lost_events"], 0, "lost events")
        top = rep["offenders"][0]
        check_eq(top["pid"], lp["pid"], "top offender is the leaky pid")
        check_eq(top["comm"], "ph_client", "comm")
        check("--mode leaky" in top["cmdline"], f"cmdline recorded: {top['cmdline']!r}")
        check_eq((top["peak_ports_held"], top["opened"], top["failed"]), (63, 63, 3),
                 "leaky peak ports held, opened, failed")
        check_eq(offender(rep, pp["pid"])["peak_ports_held"], 1, "pooled peak")
        d = dest(rep)
        check_eq((d["peak_in_use"], d["capacity"], d["failed"]), (64, 64, 3), "destination")
        ff = rep["first_failure"]
        check_eq((ff["pid"], ff["dport"], ff["in_use"], ff["capacity"]),
                 (lp["pid"], 8080, 64, 64), "first failure")
        check_eq(ff["holders"][0], {"pid": lp["pid"], "comm": "ph_client", "held": 63},
                 "top holder at the first failure")
        check_eq(ff["holders"][1]["pid"], pp["pid"], "second holder")
        check(rep["trigger"].startswith("connect_failed: pid %d" % lp["pid"]), "trigger")

        # every event, with the exact ports the client got
        ev = report_events(out)
        mine = [e for e in ev if e["pid"] == lp["pid"]]
        check_eq([e["sport"] for e in mine if e["event"] == "connect"], lp["ports"],
                 "recorded source ports")
        fails = [e for e in mine if e["event"] == "connect_failed"]
        check_eq(len(fails), 3, "recorded failures")
        check(all(e["errname"] == "EADDRNOTAVAIL" and e["errno"] == 99 for e in fails), f"errno: {fails}")

        # text summary
        r = porthog_run(["report", out])
        check_eq(r.returncode, 0, "text report exit code")
        first = [l for l in r.stdout.splitlines() if l.startswith(str(lp["pid"]))]
        check(first and first[0].split()[1:8] == ["ph_client", "63", "63", "0", "0", "63", "3"],
              f"offender row (comm, held, tcp, udp, tw, opened, failed): {first}")
        check("FIRST FAILURE" in r.stdout, "first failure section")

        # no root needed: an unprivileged user reads a copy
        pub = os.path.join(tmp, "pub.phtrace")
        shutil.copy(out, pub)
        os.chmod(pub, 0o644)
        os.chmod(tmp, 0o755)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            PORTHOG, "report", "--json", pub], capture_output=True, text=True)
        check_eq(r.returncode, 0, f"report as nobody ({r.stderr.strip()})")
        check_eq(json.loads(r.stdout)["offenders"][0]["peak_ports_held"], 63, "as nobody")
    finally:
        ns.delete()


def test_html_report_in_chromium(tmp):
    ns = Netns("phhtml", 41000, 41063)
    try:
        out, ph, lp, pp = leaky_recording(tmp, ns)
        html = os.path.join(tmp, "report.html")
        r = porthog_run(["report", "--html", html, out])
        check_eq(r.returncode, 0, f"report --html ({r.stderr.strip()})")
        with open(html) as f:
            page = f.read()
        check("<svg" in page and "http://" not in page.replace("http://www.w3.org/2000/svg", ""),
              "self-contained page with an inline SVG")
        check("<script src" not in page and "<link" not in page, "no external assets")
        png = os.path.join(tmp, "report.png")
        base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--user-data-dir=" + os.path.join(tmp, "chrome"), "--window-size=1280,1400"]
        r = subprocess.run(base + ["--dump-dom", "file://" + html], capture_output=True,
                           text=True, timeout=120)
        check_eq(r.returncode, 0, f"chromium --dump-dom ({r.stderr[-300:]})")
        dom = r.stdout
        check('id="chart"' in dom, "the chart is in the rendered DOM")
        check("<polyline" in dom or "<path" in dom, "the chart draws series")
        check(str(lp["pid"]) in dom and "ph_client" in dom, "the offender is on the page")
        check("capacity" in dom, "the capacity line is labelled")
        # the top offender's ports by state, on a wall-clock (UTC) time axis
        rep = report_json(out)
        check(f"Ports of pid {lp['pid']} (ph_client) by state" in dom, "the state chart's title")
        states = dom[dom.index('id="states"'):]
        states = states[:states.index("</svg>")]
        for st, peak in (("ESTABLISHED", 63), ("TIME_WAIT", 0), ("SYN_SENT", 0)):
            check(f'class="state {st}"' in states, f"a {st} line")
            check(f"{st} peak {peak}<" in states, f"{st} peaks at {peak}")
        # the findings: the 64 port range of the namespace (a trace has no traffic
        # activity, so the leak itself is not concluded from it)
        rows = re.findall(r'<tr class="finding (\w+)">(.*?)</tr>', dom)
        check_eq([k for k, _ in rows], ["range"], "findings of the recording")
        cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1])
        check_eq(cells[:6], ["critical", "RANGE", "", "", f"netns {ns.inode}", "28168"],
                 "the range finding: severity, kind, pid, comm, where, ports cut")
        check(cells[6].startswith("host settings cut capacity: ip_local_port_range "
                                  "41000-41063 is only 64 ports"), f"its summary: {cells[6]!r}")
        first, last = rep["first_event"], rep["last_event"]
        midnight = first - first % 86400
        day = time.strftime("%Y-%m-%d", time.gmtime(first))
        check_eq(dom.count(f"UTC, {day}<"), 2, "both charts name the UTC day")
        ticks = re.findall(r'class="tick"[^>]*>([0-9:.]+)<', dom)
        check(len(ticks) >= 4, f"time axis ticks: {ticks}")
        for t in ticks:
            h, m, sec = t.split(":")
            at = midnight + int(h) * 3600 + int(m) * 60 + float(sec)
            if at < first - 1:
                at += 86400
            check(first - 0.001 <= at <= last + 0.001,
                  f"tick {t} lies within the recording {first:.3f}..{last:.3f}")
        r = subprocess.run(base + ["--screenshot=" + png, "file://" + html],
                           capture_output=True, text=True, timeout=120)
        check_eq(r.returncode, 0, f"chromium --screenshot ({r.stderr[-300:]})")
        with open(png, "rb") as f:
            data = f.read()
        check(data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000,
              f"screenshot is a real PNG ({len(data)} bytes)")
    finally:
        ns.delete()


def test_html_findings_churn(tmp):
    """A churning client in the recording: the report's findings name it, with its
    TIME_WAIT ports, and its by-state chart shows them."""
    ns = Netns("phhtmlchurn", 41000, 41199)
    try:
        out = os.path.join(tmp, "churn.phtrace")
        ph = Porthog(tmp, ["record", "-o", out, "--netns", str(ns.inode)], name="record")
        wait_for(lambda: "recording to" in ph.stderr(), 10, "the start snapshot written")
        srv = Server(ns, tmp)
        churn = Client(ns, tmp, srv, "churn", ["--count", "40", "--close", "fin"])
        cp = churn.parse()
        check_eq(len(cp["ports"]), 40, "the churn client's connects")

        # the last closes may still be on their way to TIME_WAIT: stop once ss sees all 40
        def time_wait():
            r = subprocess.run(["ip", "netns", "exec", ns.name, "ss", "-Htan", "state",
                                "time-wait", "sport", ">=", ":41000"],
                               capture_output=True, text=True)
            return len(r.stdout.splitlines()) == 40
        wait_for(time_wait, 10, "40 TIME_WAIT sockets in the namespace")
        check_eq(ph.stop(), 0, f"record exit code ({ph.stderr()})")
        html = os.path.join(tmp, "churn.html")
        r = porthog_run(["report", "--html", html, out])
        check_eq(r.returncode, 0, f"report --html ({r.stderr.strip()})")
        r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                            "--user-data-dir=" + os.path.join(tmp, "chrome"), "--dump-dom",
                            "file://" + html], capture_output=True, text=True, timeout=120)
        check_eq(r.returncode, 0, f"chromium --dump-dom ({r.stderr[-300:]})")
        rows = dict(re.findall(r'<tr class="finding (\w+)">(.*?)</tr>', r.stdout))
        check("churn" in rows, f"a churn finding: {sorted(rows)}")
        cells = re.findall(r"<td[^>]*>(.*?)</td>", rows["churn"])
        check_eq(cells[1:6], ["CHURN", str(cp["pid"]), "ph_client",
                              "127.0.0.1 -&gt; 127.0.0.1:8080", "40"],
                 "kind, pid, comm, destination, ports in TIME_WAIT")
        check(cells[6].startswith("connection churn: 40 ports to 127.0.0.1:8080 wait in "
                                  "TIME_WAIT"), f"its summary: {cells[6]!r}")
        states = r.stdout[r.stdout.index('id="states"'):]
        check("TIME_WAIT peak 40<" in states, "the churn client's TIME_WAIT ports by state")
    finally:
        ns.delete()


def test_sigkill_keeps_written_blocks(tmp):
    ns = Netns("phkill", 41000, 41063)
    try:
        out = os.path.join(tmp, "killed.phtrace")
        ph = Porthog(tmp, ["record", "-o", out, "--flush-interval", "0.2",
                           "--netns", str(ns.inode)], name="record")
        srv = Server(ns, tmp)
        leaky = Client(ns, tmp, srv, "leaky", ["--rate", "20", "--fail-count", "1"], wait=False)
        pid = wait_for(lambda: leaky.parse()["pid"], 10, "the client's pid")

        def seen():
            ev = report_events(out, want_rc=EXIT_TRUNCATED)
            n = len([e for e in ev if e["event"] == "connect" and e["pid"] == pid])
            return n if n >= 20 else None
        before = wait_for(seen, 20, "20 leaky connects on disk while recording")
        ph.proc.send_signal(signal.SIGKILL)
        ph.proc.wait()
        check(before < 64, f"killed while the client was still connecting ({before})")
        leaky.wait_ready()
        lp = leaky.parse()
        r = porthog_run(["report", "--json", out])
        check_eq(r.returncode, EXIT_TRUNCATED, "exit code of a report on a killed recording")
        lines = r.stderr.strip().splitlines()
        check(len(lines) == 1 and "incomplete" in lines[0], f"one-line note: {r.stderr!r}")
        rep = json.loads(r.stdout)
        check_eq(rep["file"]["complete"], False, "file marked incomplete")
        ev = report_events(out, want_rc=EXIT_TRUNCATED)
        got = [e["sport"] for e in ev if e["event"] == "connect" and e["pid"] == lp["pid"]]
        check(len(got) >= before, f"every block written before the kill is read: {len(got)} < {before}")
        check_eq(got, lp["ports"][:len(got)], "ports read back are the client's, in order")
        check_eq(offender(rep, lp["pid"])["opened"], len(got), "report counts them")
    finally:
        ns.delete()


def test_flight_recorder_fires_on_first_failure(tmp):
    ns = Netns("phring", 41000, 41063)
    try:
        out = os.path.join(tmp, "ring.phtrace")
        envf = os.path.join(tmp, "trigger.env")
        ph = Porthog(tmp, ["record", "-o", out, "--ring", "30", "--post", "1",
                           "--netns", str(ns.inode),
                           "--on-trigger", f"env | grep ^PORTHOG_ > {envf}"], name="record")
        srv = Server(ns, tmp)
        # 64 ports at 20/s: the first failure comes about 3 s after the first connect
        leaky = Client(ns, tmp, srv, "leaky", ["--rate", "20", "--fail-count", "1"])
        check(not os.path.exists(out), "nothing is written before the trigger")
        check_eq(wait_exit(ph, 30, "--post 1 after the trigger"), 0,
                 f"record exit code ({ph.stderr()})")
        lp = leaky.parse()
        rep = report_json(out)
        check(rep["trigger"].startswith("connect_failed: pid %d" % lp["pid"]),
              f"trigger: {rep['trigger']!r}")
        ff = rep["first_failure"]
        check_eq((ff["pid"], ff["in_use"], ff["capacity"]), (lp["pid"], 64, 64), "first failure")
        o = offender(rep, lp["pid"])
        check_eq((o["peak_ports_held"], o["opened"], o["failed"]), (64, 64, 1), "leaky")
        ev = report_events(out)
        mine = [e for e in ev if e["pid"] == lp["pid"] and e["event"] == "connect"]
        check_eq([e["sport"] for e in mine], lp["ports"], "every connect before the trigger")
        check(ff["ts"] - mine[0]["ts"] >= 2.5,
              f"the window holds the seconds before the trigger ({ff['ts'] - mine[0]['ts']:.2f}s)")
        with open(envf) as f:
            env = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
        check_eq(env.get("PORTHOG_TRIGGER"), "connect_failed", "PORTHOG_TRIGGER")
        check_eq(env.get("PORTHOG_PID"), str(lp["pid"]), "PORTHOG_PID")
        check_eq(env.get("PORTHOG_DEST"), "127.0.0.1:8080", "PORTHOG_DEST")
        check_eq(env.get("PORTHOG_NETNS"), str(ns.inode), "PORTHOG_NETNS")
        check_eq(env.get("PORTHOG_FILE"), out, "PORTHOG_FILE")
    finally:
        ns.delete()


def test_flight_recorder_headroom_and_signal(tmp):
    ns = Netns("phring2", 41000, 41063)
    try:
        srv = Server(ns, tmp)
        # headroom: 64 ports, trigger under 50 % = when the 33rd port is taken
        out = os.path.join(tmp, "headroom.phtrace")
        ph = Porthog(tmp, ["record", "-o", out, "--ring", "30", "--post", "0.5",
                           "--trigger-pct", "50", "--netns", str(ns.inode)], name="rec1")
        leaky = Client(ns, tmp, srv, "leaky", ["--rate", "20", "--count", "40"])
        check_eq(wait_exit(ph, 30, "headroom trigger"), 0, f"exit code ({ph.stderr()})")
        rep = report_json(out)
        check(rep["trigger"].startswith("headroom: 127.0.0.1 -> 127.0.0.1:8080 at"),
              f"trigger: {rep['trigger']!r}")
        pct = float(rep["trigger"].split(" at ")[1].split("%")[0])
        check(pct < 50, f"headroom under 50% ({pct})")
        check_eq(rep["first_failure"], None, "no failure")
        leaky.stop()

        # SIGUSR1 dumps the window on demand
        out2 = os.path.join(tmp, "signal.phtrace")
        ph2 = Porthog(tmp, ["record", "-o", out2, "--ring", "30", "--post", "0.5",
                            "--netns", str(ns.inode)], name="rec2")
        churn = Client(ns, tmp, srv, "churn", ["--rate", "50", "--count", "20"], name="churn")
        wait_for(lambda: len(churn.parse()["ports"]) == 20, 20, "20 churn connects")
        ph2.proc.send_signal(signal.SIGUSR1)
        check_eq(wait_exit(ph2, 20, "SIGUSR1 trigger"), 0, f"exit code ({ph2.stderr()})")
        rep = report_json(out2)
        check_eq(rep["trigger"], "signal: SIGUSR1", "signal trigger")
        cp = churn.parse()
        ev = report_events(out2)
        got = [e["sport"] for e in ev if e["event"] == "connect" and e["pid"] == cp["pid"]]
        check_eq(got, cp["ports"], "the churn client's connects are in the window")

        # no trigger: nothing is written
        out3 = os.path.join(tmp, "quiet.phtrace")
        ph3 = Porthog(tmp, ["record", "-o", out3, "--ring", "10", "--duration", "1",
                            "--netns", str(ns.inode)], name="rec3")
        check_eq(wait_exit(ph3, 20, "--duration 1"), 0, "exit code without a trigger")
        check(not os.path.exists(out3), "no file without a trigger")
        check("no trigger fired" in ph3.stderr(), "says so")
    finally:
        ns.delete()


def top_states(ph):
    return [json.loads(l) for l in open(ph.out) if l.strip()]


def holder(state, pid):
    for p in state["processes"]:
        if p["pid"] == pid:
            return p["ports_held"]
    return 0


def test_report_at_matches_top(tmp):
    ns = Netns("phat", 41000, 41063)
    try:
        out = os.path.join(tmp, "at.phtrace")
        rec = Porthog(tmp, ["record", "-o", out, "--netns", str(ns.inode)], name="record")
        top = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--netns", str(ns.inode)],
                      name="top")
        srv = Server(ns, tmp)
        leaky = Client(ns, tmp, srv, "leaky", ["--rate", "15", "--fail-count", "2"])
        lp = leaky.parse()
        pid = lp["pid"]
        wait_for(lambda: any(holder(s, pid) == 64 and s["destinations"][0]["failed"] == 2
                             for s in top_states(top)), 20, "top to show the end state")
        top.stop()
        rec.stop()
        states = top_states(top)
        growing = [i for i in range(1, len(states) - 1)
                   if 0 < holder(states[i], pid) < 64]
        check(len(growing) >= 4, f"top saw the growth ({len(growing)} states)")
        for i in growing:
            s = states[i]
            lo, hi = holder(states[i - 1], pid), holder(states[i + 1], pid)
            rep = report_json(out, ["--at", "%.6f" % s["ts"]])
            got = holder(rep, pid)
            check(lo <= got <= hi, f"report --at {s['ts']}: {got} ports, top showed "
                  f"{lo} / {holder(s, pid)} / {hi} one interval before / at / after")
            check(abs(got - holder(s, pid)) <= 8, "within one interval of growth (15/s * 0.5 s)")
        # the end state is exact
        last = states[-1]
        rep = report_json(out, ["--at", "%.6f" % last["ts"]])
        check_eq(holder(rep, pid), holder(last, pid), "ports held at the end")
        rd, td = rep["destinations"][0], last["destinations"][0]
        for k in ("in_use", "time_wait", "capacity", "failed", "dport"):
            check_eq(rd[k], td[k], f"destination {k} at the end")
        # +offset from the start works too
        rep = report_json(out, ["--at", "+0"])
        check_eq(holder(rep, pid), 0, "nothing held at the start")
    finally:
        ns.delete()


def test_lost_events_resynced_in_the_report(tmp):
    """Events lost to a full ring buffer: the recorder writes the whole table after
    a walk, and the report applies it, so no port stays counted forever."""
    ns = Netns("phrlost", 41000, 60999)
    try:
        out = os.path.join(tmp, "lossy.phtrace")
        ph = Porthog(tmp, ["record", "-o", out, "--ringbuf-size", "4096",
                           "--netns", str(ns.inode)], name="record")
        srv = Server(ns, tmp)
        ph.proc.send_signal(signal.SIGSTOP)
        burst = Client(ns, tmp, srv, "leaky", ["--count", "2000"], name="burst")
        ph.proc.send_signal(signal.SIGCONT)
        bp = burst.parse()
        check_eq(len(bp["ports"]), 2000, "the burst client holds 2000 ports")
        time.sleep(2)
        t_held = time.time()
        time.sleep(0.5)
        ph.proc.send_signal(signal.SIGSTOP)
        burst.stop()
        ph.proc.send_signal(signal.SIGCONT)
        time.sleep(2.5)
        check_eq(ph.stop(), 0, "record exit code")
        rep = report_json(out)
        check(rep["lost_events"] > 0, f"lost events reported ({rep['lost_events']})")
        check_eq(offender(rep, bp["pid"])["peak_ports_held"], 2000, "peak after the resync")
        at = report_json(out, ["--at", "%.6f" % t_held])
        check_eq(holder(at, bp["pid"]), 2000, "held while the client lived")
        end = report_json(out, ["--at", "%.6f" % time.time()])
        check_eq(holder(end, bp["pid"]), 0, "nothing held after the client exited")
        d = [x for x in end["destinations"] if x["dport"] == 8080]
        check(not d or d[0]["in_use"] == d[0]["time_wait"], f"no live port left: {d}")
    finally:
        ns.delete()


def test_namespace_created_while_recording(tmp):
    """A namespace that appears after the recorder started: its port range is read
    at its first event and written to the file, so the report knows its capacity."""
    out = os.path.join(tmp, "late-ns.phtrace")
    ph = Porthog(tmp, ["record", "-o", out], name="record")
    top = Porthog(tmp, ["top", "--json", "--interval", "0.5"], name="top")
    ns = Netns("phlate", 41000, 41063)
    try:
        srv = Server(ns, tmp)
        leaky = Client(ns, tmp, srv, "leaky", ["--fail-count", "2"])
        lp = leaky.parse()

        def shown(s):
            d = [x for x in s["destinations"] if x["netns"] == ns.inode and x["dport"] == 8080]
            return d and d[0]["in_use"] == 64 and d[0]["capacity"] == 64 and d[0]["failed"] == 2
        wait_for(lambda: any(shown(s) for s in top_states(top)), 10,
                 "top to show the new namespace's destination at 64 of 64")
        top.stop()
        check_eq(ph.stop(), 0, "record exit code")
        rep = report_json(out)
        d = [x for x in rep["destinations"] if x["netns"] == ns.inode and x["dport"] == 8080]
        check(d, "the destination is in the report")
        check_eq((d[0]["peak_in_use"], d[0]["capacity"], d[0]["failed"]), (64, 64, 2),
                 "peak, capacity and failures in a namespace born after the start")
        check_eq(offender(rep, lp["pid"])["peak_ports_held"], 64, "the leaky client's peak")
    finally:
        ns.delete()


def make_small_trace(tmp, ns):
    out = os.path.join(tmp, "small.phtrace")
    ph = Porthog(tmp, ["record", "-o", out, "--flush-interval", "0.1",
                       "--netns", str(ns.inode)], name="small")
    srv = Server(ns, tmp)
    c = Client(ns, tmp, srv, "churn", ["--count", "200", "--rate", "400", "--close", "rst"],
               name="churn")
    wait_for(lambda: len(c.parse()["ports"]) == 200, 20, "200 connects")
    time.sleep(0.5)
    check_eq(ph.stop(), 0, "record exit code")
    return out


def test_bad_files(tmp):
    ns = Netns("phbad", 41000, 41063)
    try:
        good = make_small_trace(tmp, ns)
        data = open(good, "rb").read()
        check(len(data) > 20000, f"a trace with several blocks ({len(data)} bytes)")
        full = report_json(good)
        check_eq(full["file"]["complete"], True, "good file is complete")

        def variant(name, blob):
            p = os.path.join(tmp, name)
            with open(p, "wb") as f:
                f.write(blob)
            return p

        def expect(path, rc, words):
            r = porthog_run(["report", path], timeout=30)
            lines = r.stderr.strip().splitlines()
            check_eq(r.returncode, rc, f"{os.path.basename(path)}: exit code ({r.stderr!r})")
            check(len(lines) == 1 and lines[0].startswith("porthog: "),
                  f"{os.path.basename(path)}: one-line error, got {r.stderr!r}")
            for w in words:
                check(w in lines[0], f"{os.path.basename(path)}: {w!r} in {lines[0]!r}")
            return r

        newer = bytearray(data)
        newer[8:10] = (2).to_bytes(2, "little")
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x40
        rnd = random.Random(7)
        cases = [
            ("empty", b"", EXIT_BADFILE, ["empty"]),
            ("magic", b"NOTATRAC" + data[8:], EXIT_BADFILE, ["magic"]),
            ("newer", bytes(newer), EXIT_BADFILE, ["newer"]),
            ("random", bytes(rnd.getrandbits(8) for _ in range(4096)), EXIT_BADFILE, []),
            ("header_only", data[:40], EXIT_BADFILE, []),
        ]
        for name, blob, rc, words in cases:
            expect(variant(name, blob), rc, words)
        expect(os.path.join(tmp, "missing.phtrace"), EXIT_BADFILE, ["No such file"])

        # damaged after the header: the readable part is reported, then exit 8
        for name, blob in [("truncated", data[:len(data) // 2]), ("flipped", bytes(flipped))]:
            p = variant(name, blob)
            r = expect(p, EXIT_TRUNCATED, ["incomplete"])
            check("INCOMPLETE FILE" in r.stdout and "OFFENDERS" in r.stdout,
                  f"{name}: partial summary printed")
            rep = report_json(p, want_rc=EXIT_TRUNCATED)
            check_eq(rep["file"]["complete"], False, f"{name}: incomplete")
            check(0 < rep["events"] < full["events"], f"{name}: part of the events "
                  f"({rep['events']} of {full['events']})")
            check_eq(rep["file"]["bytes_valid"] + rep["file"]["bytes_cut"], len(blob),
                     f"{name}: byte accounting")
        # every cut point: never a crash, always 0, 6 or 8
        for cut in range(0, len(data), max(1, len(data) // 97)):
            r = porthog_run(["report", "--json", variant("cut", data[:cut])], timeout=30)
            check(r.returncode in (EXIT_BADFILE, EXIT_TRUNCATED),
                  f"cut at {cut}: exit code {r.returncode} ({r.stderr!r})")
    finally:
        ns.delete()


def test_disk_full_and_size_cap(tmp):
    ns = Netns("phfull", 41000, 41063)
    mnt = os.path.join(tmp, "small-fs")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", mnt], check=True)
    try:
        srv = Server(ns, tmp)
        out = os.path.join(mnt, "full.phtrace")
        ph = Porthog(tmp, ["record", "-o", out, "--flush-interval", "0.1",
                           "--netns", str(ns.inode)], name="full")
        c = Client(ns, tmp, srv, "churn", ["--rate", "2000", "--count", "20000", "--close", "rst"],
                   name="churn", wait=False)
        rc = wait_exit(ph, 60, "a full disk")
        check_eq(rc, EXIT_IO, f"exit code on a full disk ({ph.stderr()})")
        err = [l for l in ph.stderr().splitlines() if "No space left" in l]
        check(len(err) == 1 and "kept and readable" in err[0], f"one clear line: {ph.stderr()}")
        c.stop()
        r = porthog_run(["report", "--json", out])
        check(r.returncode in (0, EXIT_TRUNCATED), f"full-disk file readable ({r.stderr})")
        rep = json.loads(r.stdout)
        check(rep["events"] > 100, f"the events written before the disk filled ({rep['events']})")

        cap = os.path.join(tmp, "cap.phtrace")
        ph = Porthog(tmp, ["record", "-o", cap, "--max-size", "64K", "--flush-interval", "0.1",
                           "--netns", str(ns.inode)], name="cap")
        c = Client(ns, tmp, srv, "churn", ["--rate", "2000", "--count", "20000", "--close", "rst"],
                   name="churn2", wait=False)
        check_eq(wait_exit(ph, 60, "the size cap"), EXIT_IO, f"exit code at --max-size ({ph.stderr()})")
        check("--max-size reached" in ph.stderr(), "says the cap was reached")
        c.stop()
        check(os.path.getsize(cap) <= 64 * 1024, f"file under the cap ({os.path.getsize(cap)})")
        rep = report_json(cap)
        check_eq(rep["file"]["complete"], True, "a capped file still ends cleanly")
        check(rep["events"] > 100, f"events kept ({rep['events']})")
    finally:
        subprocess.run(["umount", mnt])
        ns.delete()


def test_usage_errors(tmp):
    cases = [
        (["record"], EXIT_USAGE),
        (["record", "-o", "x", "--ring", "5", "--until-fail"], EXIT_USAGE),
        (["record", "-o", "x", "--post", "5"], EXIT_USAGE),
        (["record", "-o", "x", "--max-size", "12Q"], EXIT_USAGE),
        (["record", "-o", "x", "--flush-interval", "0"], EXIT_USAGE),
        (["record", "-o", "x", "--trigger-pct", "101"], EXIT_USAGE),
        (["report"], EXIT_USAGE),
        (["report", "a", "b"], EXIT_USAGE),
        (["report", "--events", "--json", "a"], EXIT_USAGE),
    ]
    for args, rc in cases:
        r = porthog_run(args)
        check_eq(r.returncode, rc, f"porthog {' '.join(args)}: exit code ({r.stderr.strip()})")
    r = porthog_run(["record", "-o", "/proc/porthog/x.phtrace", "--duration", "1"])
    check_eq(r.returncode, 1, f"unwritable path ({r.stderr})")
    check_eq(len(r.stderr.strip().splitlines()), 1, "one line")
    check("creating /proc/porthog/x.phtrace" in r.stderr, r.stderr)


if __name__ == "__main__":
    run_tests(globals())
