#!/usr/bin/env python3
"""Hostile process names: a client whose comm and argv carry ESC, BEL, CR, LF, TAB, bytes
that are not UTF-8 and HTML markup. No output may pass a control byte to the terminal or
split a record over two rows; JSON must parse and give back the exact bytes."""
import json
import os
import re
import subprocess
import time
import urllib.request

from phlib import (CLIENT, PORTHOG, Client, Netns, Porthog, Server, Workload, check, check_eq,
                   run_tests, wait_for)

# 15 bytes, the most a comm holds
COMM = b"\x1b[2J\x07\r\n\t\xff<i>&\xc3("
# what every text output must show for it (user/textesc.h)
COMM_TEXT = r"\x1b[2J\x07\r\n\t\xff<i>&\xc3("
# an argv element: OSC window title, clear screen, colour, a new line, a tab, bad UTF-8, HTML
NOTE = b"\x1b]0;pwned\x07\x1b[2J\x1b[31mRED\nline2\t\xc3(<script>alert(1)</script>"
NOTE_TEXT = r"\x1b]0;pwned\x07\x1b[2J\x1b[31mRED\nline2\t\xc3(<script>alert(1)</script>"

# C0 except LF (rows end with it), DEL, and the C1 range as UTF-8
UNSAFE = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def assert_clean(data, what):
    """No control byte, and the whole output is valid UTF-8."""
    m = UNSAFE.search(data)
    if m:
        check(False, f"{what}: control byte {m.group(0)!r} at {m.start()}: "
              f"{data[max(0, m.start() - 40):m.start() + 40]!r}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError(f"{what}: not UTF-8: {e}")


def rows_with(data, pid):
    return [l for l in data.decode().splitlines() if re.search(rf"(^|\s){pid}\s", l)]


def exact(s):
    """A JSON string back to the bytes it stands for (surrogateescape)."""
    return s.encode("utf-8", "surrogateescape")


class HostileClient(Workload):
    """A leaky ph_client whose argv[0] is NOTE (so that it leads the cmdline) and comm COMM."""

    def __init__(self, ns, tmp, srv):
        super().__init__(tmp, "hostile")
        self.proc = ns.popen(["python3", "-c", "import os, sys; os.execv(sys.argv[1], sys.argv[2:])",
                              CLIENT, NOTE, "--addr", srv.addr, "--port", str(srv.port),
                              "--mode", "leaky", "--fail-count", "2", "--comm", COMM,
                              "--out", self.log, "--ready-file", self.ready])
        self.wait_ready()

    parse = Client.parse


def hostile_client(ns, tmp, srv):
    return HostileClient(ns, tmp, srv)


def cmdline_of(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().rstrip(b"\0").replace(b"\0", b" ")


def proc_of(state, pid):
    ps = [p for p in state["processes"] if p["pid"] == pid]
    check(ps, f"pid {pid} in {[p['pid'] for p in state['processes']]}")
    return ps[0]


def test_live_outputs_escape_hostile_names(tmp):
    ns = Netns("phhostile", 41000, 41063)
    try:
        srv = Server(ns, tmp)
        trace = Porthog(tmp, ["trace", "--netns", str(ns.inode)], name="trace")
        trace_json = Porthog(tmp, ["trace", "--json", "--netns", str(ns.inode)], name="tracej")
        cl = hostile_client(ns, tmp, srv)
        pid = cl.parse()["pid"]
        check_eq(len(cl.parse()["ports"]), 64, "the hostile client got 64 ports")
        check_eq(len(cl.parse()["failures"]), 2, "and 2 failures")
        with open(f"/proc/{pid}/comm", "rb") as f:
            check_eq(f.read().rstrip(b"\n"), COMM, "the kernel holds the hostile comm")
        cmd = cmdline_of(pid)

        # trace, text: one row per event, the comm shown escaped
        wait_for(lambda: len(rows_with(open(trace.out, "rb").read(), pid)) >= 66, 15,
                 "66 event rows in trace")
        trace.stop()
        out = open(trace.out, "rb").read()
        assert_clean(out, "trace")
        rows = rows_with(out, pid)
        check_eq(len(rows), 66, "trace rows for the client (64 connects + 2 failures)")
        check(all(COMM_TEXT in r for r in rows), f"escaped comm in every row: {rows[0]!r}")

        # trace --json: parses, exact bytes back
        wait_for(lambda: len([e for e in trace_json.json_lines() if e["pid"] == pid]) >= 66,
                 15, "66 JSON events")
        trace_json.stop()
        evs = [e for e in trace_json.json_lines() if e["pid"] == pid]
        check_eq(len(evs), 66, "trace --json events")
        check(all(exact(e["comm"]) == COMM for e in evs), f"exact comm: {evs[0]['comm']!r}")
        assert_clean(open(trace_json.out, "rb").read(), "trace --json")

        # top --batch and snapshot (text): one row, comm and cmdline escaped
        for args in (["top", "--batch", "--count", "1", "--interval", "0.2"], ["snapshot"]):
            r = subprocess.run([PORTHOG] + args + ["--netns", str(ns.inode)],
                               capture_output=True, timeout=60)
            check_eq(r.returncode, 0, f"{args[0]} exit code ({r.stderr[-200:]!r})")
            assert_clean(r.stdout, args[0])
            assert_clean(r.stderr, args[0] + " stderr")
            rows = rows_with(r.stdout, pid)
            check_eq(len(rows), 1, f"{args[0]}: one row for the client: {rows!r}")
            check(COMM_TEXT in rows[0], f"{args[0]}: escaped comm in {rows[0]!r}")
            check(r"\x1b]0;pwned\x07\x1b[2J" in rows[0], f"{args[0]}: escaped cmdline")
            check("line2" not in "".join(l for l in r.stdout.decode().splitlines()
                                         if l not in rows), f"{args[0]}: no split row")

        # top --json and snapshot --json: parse, exact comm and cmdline
        for args in (["top", "--json", "--count", "1", "--interval", "0.2"],
                     ["snapshot", "--json"]):
            r = subprocess.run([PORTHOG] + args + ["--netns", str(ns.inode)],
                               capture_output=True, timeout=60)
            check_eq(r.returncode, 0, f"{args[0]} --json exit code")
            assert_clean(r.stdout, args[0] + " --json")
            p = proc_of(json.loads(r.stdout.decode().splitlines()[-1]), pid)
            check_eq(exact(p["comm"]), COMM, f"{args[0]} --json comm")
            check_eq(exact(p["cmdline"]), cmd, f"{args[0]} --json cmdline")
            check(NOTE in exact(p["cmdline"]), f"{args[0]} --json cmdline holds the note")
            check_eq(p["ports_held"], 64, f"{args[0]} --json ports_held")

        # serve: the exposition passes promtool; no control byte reaches whoever curls it
        ph = Porthog(tmp, ["serve", "--listen", "127.0.0.1:0", "--netns", str(ns.inode)],
                     name="serve")
        m = wait_for(lambda: re.search(r"http://127\.0\.0\.1:(\d+)/metrics", ph.stderr()), 10,
                     "serve's address")
        url = f"http://127.0.0.1:{m.group(1)}/metrics"

        def series():
            body = urllib.request.urlopen(url, timeout=5).read()
            ls = [l for l in body.decode().split("\n")
                  if l.startswith("porthog_process_ports_held{") and f'pid="{pid}"' in l]
            return (body, ls) if ls and ls[0].endswith(" 64") else None
        body, ls = wait_for(series, 15, "the client's ports_held series")
        check_eq(len(ls), 1, "one series line for the client")
        assert_clean(body, "/metrics")
        check('comm="\u241b[2J\u2407\u240d\\n\u2409\ufffd<i>&\ufffd("' in ls[0],
              f"comm label escaped as the exposition format wants: {ls[0]!r}")
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
        check_eq(r.returncode, 0, f"promtool check metrics ({r.stdout[-300:]!r} {r.stderr[-300:]!r})")
        ph.stop()
    finally:
        ns.delete()


def test_screen_escapes_hostile_names(tmp):
    """The ncurses screen: the escaped name is shown, and the OSC title never lands."""
    ns = Netns("phhostscr", 41000, 41063)
    session = os.environ.get("PH_NS_PREFIX", "") + "porthog-hostile"
    try:
        srv = Server(ns, tmp)
        pid = hostile_client(ns, tmp, srv).parse()["pid"]
        subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "220", "-y", "50",
                        f"{PORTHOG} top --interval 0.5 --netns {ns.inode}"], check=True)
        subprocess.run(["tmux", "set-option", "-t", session, "set-titles", "on"])

        def pane():
            out = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                 capture_output=True).stdout
            rows = rows_with(out, pid)
            return (out, rows) if rows and " 64 " in rows[0] else None
        out, rows = wait_for(pane, 20, "the client's row on the screen")
        check_eq(len(rows), 1, "one row for the client")
        check(COMM_TEXT in rows[0], f"escaped comm on the screen: {rows[0]!r}")
        check(r"\x1b]0;pwned" in rows[0], f"escaped cmdline on the screen: {rows[0]!r}")
        check("RED" not in out.decode().replace(rows[0], ""), "no split row")
        title = subprocess.run(["tmux", "display-message", "-p", "-t", session,
                                "#{pane_title}"], capture_output=True, text=True).stdout
        check("pwned" not in title, f"the pane title was not set by the process: {title!r}")
        subprocess.run(["tmux", "send-keys", "-t", session, "q"])
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)
        ns.delete()


def test_record_report_escape_hostile_names(tmp):
    ns = Netns("phhostrec", 41000, 41063)
    try:
        trace = os.path.join(tmp, "hostile.phtrace")
        rec = Porthog(tmp, ["record", "-o", trace, "--until-fail=1", "--netns", str(ns.inode)],
                      name="record")
        srv = Server(ns, tmp)
        cl = hostile_client(ns, tmp, srv)
        pid = cl.parse()["pid"]
        cmd = cmdline_of(pid)
        check_eq(rec.proc.wait(30), 0, "record stops 1 s after the first failure")
        assert_clean(open(rec.err, "rb").read(), "record stderr (the trigger line)")
        check(COMM_TEXT in open(rec.err, "rb").read().decode(), "trigger line names the comm")

        r = subprocess.run([PORTHOG, "report", trace], capture_output=True, timeout=60)
        check_eq(r.returncode, 0, f"report exit code ({r.stderr[-200:]!r})")
        assert_clean(r.stdout, "report")
        rows = rows_with(r.stdout, pid)
        off = [l for l in rows if re.match(rf"^{pid}\s", l)]
        check_eq(len(off), 1, f"one offender row: {rows!r}")
        check(COMM_TEXT in off[0] and r"\x1b]0;pwned" in off[0], f"offender row {off[0]!r}")
        first = [l for l in r.stdout.decode().splitlines() if l.startswith("FIRST FAILURE")]
        check(first and f"pid {pid} ({COMM_TEXT})" in first[0], f"first failure: {first!r}")

        r = subprocess.run([PORTHOG, "report", "--json", trace], capture_output=True, timeout=60)
        check_eq(r.returncode, 0, "report --json")
        rep = json.loads(r.stdout)
        o = [x for x in rep["offenders"] if x["pid"] == pid][0]
        check_eq((exact(o["comm"]), exact(o["cmdline"])), (COMM, cmd), "report --json bytes")
        check_eq(exact(rep["first_failure"]["comm"]), COMM, "first failure comm")

        r = subprocess.run([PORTHOG, "report", "--events", trace], capture_output=True,
                           timeout=60)
        check_eq(r.returncode, 0, "report --events")
        evs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        mine = [e for e in evs if e.get("pid") == pid]
        check_eq(len(mine), 66, "report --events: 64 connects and 2 failures")
        check(all(exact(e["comm"]) == COMM for e in mine), "report --events: exact comm")

        html = os.path.join(tmp, "r.html")
        r = subprocess.run([PORTHOG, "report", "--html", html, trace], capture_output=True,
                           timeout=60)
        check_eq(r.returncode, 0, "report --html")
        page = open(html, "rb").read()
        assert_clean(page.replace(b"\n", b""), "report --html")
        check(b"<script>alert" not in page and b"&lt;script&gt;alert(1)" in page,
              "markup from argv is escaped in HTML")
        check(b"&lt;i&gt;&amp;" in page, "markup from comm is escaped in HTML")
    finally:
        ns.delete()


if __name__ == "__main__":
    run_tests(globals())
