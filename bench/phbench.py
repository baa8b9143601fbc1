#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Helpers for bench/run.sh (python3 stdlib only).

  phbench.py machine                    machine description (JSON)
  phbench.py proc PID                   utime+stime (s), VmHWM/VmRSS (KiB) of PID (JSON)
  phbench.py bpf PID                    BPF programs and maps PID holds, run_cnt/run_time_ns,
                                        memlock, and porthog's stats map if it has one (JSON)
  phbench.py ready PID [--timeout S]    wait until PID holds a BPF program and sleeps in a
                                        poll-type syscall (its event loop); exit 1 if it died
  phbench.py tplinks                    BPF programs attached to sock:inet_sock_set_state
  phbench.py measure --label L --out F [--reps N] -- CMD...
                                        run CMD N times; append wall/user/sys/maxrss as JSON lines
  phbench.py runload --out F [--pid PID] [--extra JSON] -- CMD...
                                        run the load generator CMD (connstorm --json); append
                                        its result plus PID's CPU time, porthog stats and BPF
                                        program run time deltas over the run as one JSON line
  phbench.py sample PID                 proc + bpf of PID in one JSON object
  phbench.py memrec --out F --label L --pid PID [--idle FILE] [--top-json FILE]
                    [--serve-log FILE] [--extra JSON]
                                        memory record of a running porthog: VmHWM now and in
                                        the idle sample FILE, BPF memlock, what it tracks
  phbench.py sockstat                   TCP line of /proc/net/sockstat of the current netns (JSON)
  phbench.py report RESULTS.jsonl OUT.md
                                        render the markdown results file
"""
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
# x86_64 / aarch64 syscall numbers of the calls an idle event loop sleeps in
POLL_SYSCALLS = {
    "x86_64": {7, 23, 232, 270, 271, 281, 441, 35, 230, 202},
    "aarch64": {72, 73, 22, 101, 115, 98, 441},
}


def jprint(obj):
    print(json.dumps(obj, sort_keys=True))


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# ---------------------------------------------------------------- machine
def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if not model:
        model = sh(["sh", "-c", "lscpu | sed -n 's/^Model name:[[:space:]]*//p'"])
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rev = sh(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])
    virt = ""
    if shutil.which("systemd-detect-virt"):
        vm = sh(["systemd-detect-virt", "--vm"])
        ct = sh(["systemd-detect-virt", "--container"])
        virt = ", ".join(x for x in (vm and vm != "none" and "vm " + vm,
                                    ct and ct != "none" and "container " + ct) if x)
    if not virt:
        virt = "hypervisor" if " hypervisor" in open("/proc/cpuinfo").read() else "none"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model or platform.processor() or "unknown",
        "kernel": platform.release(),
        "arch": platform.machine(),
        "mem_gib": round(mem_kb / 1048576, 1),
        "virt": virt,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "porthog_rev": rev + ("-dirty" if dirty else ""),
        "bpftrace": sh(["bpftrace", "--version"]),
        "libbpf_tools": sh(["dpkg-query", "-W", "-f", "${Version}", "libbpf-tools"]),
        "ss": sh(["ss", "-V"]),
        "cc": sh(["cc", "--version"]).split("\n")[0],
    }


# ---------------------------------------------------------------- processes
def proc(pid):
    out = {"pid": pid, "alive": False}
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        out["cpu_s"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        out["utime_s"] = int(fields[11]) / CLK_TCK
        out["stime_s"] = int(fields[12]) / CLK_TCK
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    out[k.lower() + "_kb"] = int(v.split()[0])
        out["alive"] = fields[0] not in ("Z", "X")
    except (OSError, ValueError, IndexError):
        pass
    return out


def cpu_ns(pid):
    """On-CPU time of every live thread of PID, ns (sum_exec_runtime); stat ticks if absent."""
    total, found = 0.0, False
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/sched") as f:
                for line in f:
                    if line.startswith("se.sum_exec_runtime"):
                        total += float(line.split(":")[1]) * 1e6
                        found = True
                        break
        except (OSError, ValueError):
            pass
    if found:
        return total
    p = proc(pid)
    return p["cpu_s"] * 1e9 if "cpu_s" in p else None


def fd_objects(pid):
    """BPF prog and map ids referenced by PID's file descriptors."""
    progs, maps = set(), set()
    d = f"/proc/{pid}/fdinfo"
    try:
        names = os.listdir(d)
    except OSError:
        return progs, maps
    for n in names:
        try:
            with open(os.path.join(d, n)) as f:
                txt = f.read()
        except OSError:
            continue
        for m in re.finditer(r"^(prog_id|map_id):\s*(\d+)", txt, re.M):
            (progs if m.group(1) == "prog_id" else maps).add(int(m.group(2)))
    return progs, maps


def bpftool_json(args):
    out = sh(["bpftool", "-j"] + args)
    try:
        return json.loads(out) if out else None
    except ValueError:
        return None


def bpf(pid):
    progs, maps = fd_objects(pid)
    res = {"pid": pid, "progs": [], "maps": [], "memlock": 0, "stats": None}
    for pid_ in sorted(progs):
        p = bpftool_json(["prog", "show", "id", str(pid_)])
        if not p or "error" in p:
            continue
        res["progs"].append({k: p.get(k) for k in ("id", "name", "type", "run_cnt",
                                                   "run_time_ns", "bytes_memlock",
                                                   "recursion_misses")})
    for mid in sorted(maps):
        m = bpftool_json(["map", "show", "id", str(mid)])
        if not m or "error" in m:
            continue
        res["maps"].append({k: m.get(k) for k in ("id", "name", "type", "max_entries",
                                                  "bytes_memlock")})
        res["memlock"] += m.get("bytes_memlock") or 0
        if m.get("name") == "stats" and m.get("type") == "percpu_array":
            dump = bpftool_json(["map", "dump", "id", str(mid)]) or []
            vals = {}
            for e in dump:
                f = e.get("formatted") or {}
                vals[f.get("key")] = sum(v["value"] for v in f.get("values", []))
            # enum ph_stat in bpf/porthog.h
            res["stats"] = {"events": vals.get(0, 0), "lost": vals.get(1, 0),
                            "owner_miss": vals.get(2, 0), "owners_added": vals.get(3, 0),
                            "caught": vals.get(4, 0), "owner_busy": vals.get(5, 0)}
    res["memlock"] += sum(p.get("bytes_memlock") or 0 for p in res["progs"])
    return res


def ready(pid, timeout):
    arch = platform.machine()
    calls = POLL_SYSCALLS.get(arch, set())
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = proc(pid)
        if not info["alive"]:
            return 1
        progs, _ = fd_objects(pid)
        if progs:
            try:
                with open(f"/proc/{pid}/syscall") as f:
                    nr = f.read().split()[0]
                if nr.isdigit() and (int(nr) in calls or not calls):
                    return 0
            except (OSError, IndexError):
                pass
        time.sleep(0.05)
    return 2


def tplinks():
    links = bpftool_json(["link", "show"]) or []
    n = sum(1 for l in links if l.get("tp_name") == "inet_sock_set_state")
    n_perf = sum(1 for l in links if l.get("type") == "perf_event")
    return {"inet_sock_set_state": n, "perf_event": n_perf}


def sockstat():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                v = line.split()[1:]
                return {v[i]: int(v[i + 1]) for i in range(0, len(v) - 1, 2)}
    return {}


def measure(label, out, reps, cmd, extra):
    """Wall time here; CPU and peak RSS from GNU time, whose small fork is what the command
    starts from (a child forked from python would carry python's RSS in ru_maxrss)."""
    gtime = shutil.which("time", path="/usr/bin:/bin")
    with open(out, "a") as f, tempfile.NamedTemporaryFile("r") as tf:
        for r in range(reps):
            argv = [gtime, "-q", "-f", "%M %x", "-o", tf.name] + cmd if gtime else cmd
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.monotonic() - t0
            rc = os.waitstatus_to_exitcode(status)
            user, sys_, rss = ru.ru_utime, ru.ru_stime, ru.ru_maxrss
            if gtime:
                try:
                    tf.seek(0)
                    # CPU from wait4 (µs; includes GNU time's waited-for child), peak
                    # RSS and exit code of the command from GNU time
                    m, x = tf.read().split()[-2:]
                    rss, rc = int(m), int(x)
                except ValueError:
                    pass
            rec = {"kind": "snapshot", "label": label, "rep": r, "wall_s": wall,
                   "user_s": user, "sys_s": sys_, "maxrss_kb": rss, "rc": rc}
            rec.update(extra)
            f.write(json.dumps(rec, sort_keys=True) + "\n")


def runload(out, pid, server_pid, extra, cmd):
    bbefore = bpf(pid) if pid else None
    links = tplinks()["inet_sock_set_state"]
    srv0 = cpu_ns(server_pid) if server_pid else None
    cpu0 = cpu_ns(pid) if pid else None
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        stdout, stderr = fo.read(), fe.read()
    wall = time.monotonic() - t0
    cpu1 = cpu_ns(pid) if pid else None
    srv1 = cpu_ns(server_pid) if server_pid else None
    rec = {"ok": False, "wall_s": wall, "tplinks": links}
    rec.update(extra)
    try:
        res = json.loads(stdout.strip().splitlines()[-1])
        rec.update(res)
        rec["ok"] = p.returncode == 0 and res.get("connects", 0) > 0
    except (ValueError, IndexError):
        rec["error"] = (stderr.strip().splitlines() or ["no output"])[-1][:200]
    if ru is not None and srv0 is not None and srv1 is not None:
        rec["load_cpu_s"] = ru.ru_utime + ru.ru_stime + (srv1 - srv0) / 1e9
    if pid:
        after = proc(pid)
        bafter = bpf(pid)
        if not after["alive"]:
            rec["ok"] = False
            rec["error"] = "tracer exited during the run"
        if cpu0 is not None and cpu1 is not None:
            rec["tool_cpu_s"] = (cpu1 - cpu0) / 1e9
        rec["vmhwm_kb"] = after.get("vmhwm_kb")
        if bbefore["stats"] and bafter["stats"]:
            rec["events"] = bafter["stats"]["events"] - bbefore["stats"]["events"]
            rec["lost"] = bafter["stats"]["lost"] - bbefore["stats"]["lost"]
            rec["caught"] = bafter["stats"]["caught"] - bbefore["stats"]["caught"]
        prev = {q["id"]: q for q in bbefore["progs"]}
        progs = []
        for q in bafter["progs"]:
            b = prev.get(q["id"], {})
            if q.get("run_cnt") is None:
                continue
            progs.append({"name": q["name"], "runs": q["run_cnt"] - (b.get("run_cnt") or 0),
                          "ns": q["run_time_ns"] - (b.get("run_time_ns") or 0),
                          "misses": (q.get("recursion_misses") or 0)
                          - (b.get("recursion_misses") or 0)})
        if progs:
            rec["progs"] = progs
            # skipped by the kernel and not caught: misses of the main state program
            # less what the catcher handled (the catcher's own misses are no loss)
            main = sum(q["misses"] for q in progs if q["name"] in ("tp_set_state", "raw_set_state"))
            if "caught" in rec:
                rec["skipped"] = max(main - rec["caught"], 0)
        rec["memlock"] = bafter["memlock"]
    with open(out, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    return 0 if rec["ok"] else 1


def last_json_line(path):
    last = None
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - (8 << 20)))
            for line in f.read().splitlines():
                try:
                    last = json.loads(line)
                except ValueError:
                    pass
    except OSError:
        pass
    return last


def scrape(serve_log):
    import urllib.request
    url = None
    try:
        with open(serve_log) as f:
            for line in f:
                m = re.search(r"serving metrics on (http://\S+)", line)
                if m:
                    url = m.group(1)
    except OSError:
        return {}
    if not url:
        return {}
    try:
        txt = urllib.request.urlopen(url, timeout=30).read().decode()
    except OSError:
        return {}
    out = {}
    for line in txt.splitlines():
        m = re.match(r"porthog_tracked_(sockets|processes) (\d+)", line)
        if m:
            out[m.group(1) + "_tracked" if m.group(1) == "sockets" else "processes_tracked"] = \
                int(m.group(2))
    return out


def memrec(o):
    pid = int(o["--pid"])
    rec = {"kind": "memory", "label": o["--label"]}
    rec.update(json.loads(o.get("--extra", "{}")))
    if o.get("--idle"):
        with open(o["--idle"]) as f:
            idle = json.load(f)
        rec["idle_kb"] = idle["proc"].get("vmhwm_kb")
    p, b = proc(pid), bpf(pid)
    rec["peak_kb"] = p.get("vmhwm_kb")
    rec["rss_kb"] = p.get("vmrss_kb")
    rec["memlock"] = b["memlock"]
    rec["maps"] = [m for m in b["maps"]]
    if o.get("--top-json"):
        j = last_json_line(o["--top-json"]) or {}
        rec["sockets_tracked"] = j.get("sockets_tracked")
        rec["processes_tracked"] = j.get("processes_tracked")
        rec["lost_events"] = j.get("lost_events")
    if o.get("--serve-log"):
        rec.update(scrape(o["--serve-log"]))
    with open(o["--out"], "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


# ---------------------------------------------------------------- report
def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, nd=2):
    if x is None:
        return "n/a"
    if isinstance(x, int) or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def mmm(xs, nd=2, unit=""):
    """median [min–max]"""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return f"{fmt(xs[0], nd)}{unit}"
    return f"{fmt(med(xs), nd)}{unit} [{fmt(min(xs), nd)}–{fmt(max(xs), nd)}]"


TOOL_ORDER = ["top", "serve", "record", "trace", "alt-top", "alt-serve", "alt-record",
              "tcpstates", "tcplife", "bpftrace", "floor"]
TOOL_DESC = {
    "base": "no tracer",
    "top": "porthog `top --json`",
    "serve": "porthog `serve`",
    "record": "porthog `record -o FILE`",
    "trace": "porthog `trace --json >/dev/null`",
    "tcpstates": "libbpf-tools `tcpstates`",
    "tcplife": "libbpf-tools `tcplife`",
    "bpftrace": "bpftrace `bench/peer.bt`",
    "floor": "floor: an empty program on `inet_sock_set_state`",
    "floor-btf": "floor: an empty `tp_btf` program on `inet_sock_set_state`",
    "top-nocatch": "porthog `top --json --no-nest-catch`",
    "record-nocatch": "porthog `record -o FILE --no-nest-catch`",
    "alt-top": "candidate `top --json`",
    "alt-serve": "candidate `serve`",
    "alt-record": "candidate `record -o FILE`",
}
PORTHOG_TOOLS = {"top", "serve", "record", "trace", "alt-top", "alt-serve", "alt-record",
                 "top-nocatch", "record-nocatch"}
KCOST_ORDER = ["floor-btf", "top", "top-nocatch", "record", "record-nocatch", "alt-top",
               "alt-record"]


def kcost_section(kc, meta, w):
    """In-kernel ns per connect of each tool, against the empty-program floor."""
    per = {}
    for r in kc:
        if not r.get("ok") or not r.get("connects"):
            continue
        ns = sum(p["ns"] for p in r.get("progs", []) if not p["name"].startswith("iter_"))
        per.setdefault(r["tool"], []).append(ns / r["connects"])
    if not per:
        return
    w("## 1b. In-kernel time per connect")
    w("")
    w("`sysctl kernel.bpf_stats_enabled=1`; each tool alone under the connect + RST loop "
      f"({meta.get('kc_dur')} s, {meta.get('kc_reps')} runs each in rotating order): the "
      "`run_time_ns` of all its BPF programs over the load (iterators excluded) divided by "
      "the connects the load made. The floor is an empty `tp_btf` program on "
      "`inet_sock_set_state` (`bench/floor.bpf.c`), what any tracer of it pays. "
      "Median [min–max]; \"over the floor\" subtracts the floor's median. Statistics add "
      "a clock read or two per program run, so absolute figures are a little high.")
    w("")
    w("| tool | ns per connect | over the floor | catcher cost | skipped hits caught per 100k connects |")
    w("| --- | --- | --- | --- | --- |")
    fl = med(per.get("floor-btf", [])) if per.get("floor-btf") else None
    pairs = {"top": "top-nocatch", "record": "record-nocatch"}
    for t in KCOST_ORDER:
        xs = per.get(t)
        if not xs:
            bad = [r for r in kc if r["tool"] == t and not r.get("ok")]
            if bad:
                w(f"| {TOOL_DESC[t]} | n/a ({bad[0].get('error', 'failed')}) | | | |")
            continue
        over = f"{fmt(med(xs) - fl, 0)}" if fl is not None and t != "floor-btf" else "–"
        cc = "–"
        if t in pairs and per.get(pairs[t]):
            cc = f"+{fmt(med(xs) - med(per[pairs[t]]), 0)}"
        rs = [r for r in kc if r["tool"] == t and r.get("ok") and r.get("connects")]
        caught = [1e5 * r.get("caught", 0) / r["connects"] for r in rs if "caught" in r]
        w(f"| {TOOL_DESC[t]} | {mmm(xs, 0)} | {over} | {cc} | "
          f"{mmm(caught, 1) if caught and t != 'floor-btf' else '–'} |")
    w("")
    w("*Catcher cost*: the tool's median less that of the same command with "
      "`--no-nest-catch` in the same run (the second program on the tracepoint, and the "
      "note the first one leaves for it). Baselines from issue 12 (same machine, earlier "
      "run): floor 361 ns, top 2,213 ns, record 1,733 ns per connect.")
    w("")


def overhead_ratios(recs):
    """Per round, ratio of each tracer run to the mean of the baselines around it."""
    by_round = {}
    for r in recs:
        by_round.setdefault(r["round"], []).append(r)
    ratios, lat, costs = {}, {}, {}
    for rnd, rs in by_round.items():
        rs.sort(key=lambda r: r["seq"])
        for i, r in enumerate(rs):
            if r["tool"] == "base" or not r.get("ok"):
                continue
            before = [x for x in rs[:i] if x["tool"] == "base" and x.get("ok")]
            after = [x for x in rs[i + 1:] if x["tool"] == "base" and x.get("ok")]
            near = ([before[-1]] if before else []) + ([after[0]] if after else [])
            if not near:
                continue
            base = sum(x["rate"] for x in near) / len(near)
            ratios.setdefault(r["tool"], []).append(r["rate"] / base)
            lat.setdefault(r["tool"], []).append(r)
            cpc = [x["load_cpu_s"] / x["connects"] for x in near if x.get("load_cpu_s")]
            if cpc and r.get("load_cpu_s") and r.get("tool_cpu_s") is not None:
                traced = (r["load_cpu_s"] + r["tool_cpu_s"]) / r["connects"]
                costs.setdefault(r["tool"], []).append(sum(cpc) / len(cpc) / traced)
    return ratios, lat, costs


def report(results, out):
    recs = []
    with open(results) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    meta = next((r for r in recs if r["kind"] == "meta"), {})
    mach = next((r for r in recs if r["kind"] == "machine"), {})
    kinds = {}
    for r in recs:
        kinds.setdefault(r["kind"], []).append(r)
    L = []
    w = L.append
    w(f"# porthog benchmark results ({meta.get('mode', '?')})")
    w("")
    w(f"Generated by `{meta.get('command', 'bench/run.sh')}` on {mach.get('date', '?')}; "
      f"total run time {fmt(meta.get('elapsed_s', 0) / 60, 1)} min.")
    w("")
    w("**Machine:** " + f"{mach.get('nproc')} CPUs, {mach.get('cpu_model')}, "
      f"{mach.get('mem_gib')} GiB, Linux {mach.get('kernel')} ({mach.get('arch')}), "
      f"virtualization: {mach.get('virt')}; load average at start "
      f"{' '.join(mach.get('loadavg', []))}.  ")
    w(f"**Software:** porthog {mach.get('porthog_rev')} (attach: {meta.get('attach', '?')}), "
      f"{mach.get('bpftrace')}, libbpf-tools {mach.get('libbpf_tools')}, {mach.get('ss')}.  ")
    w(f"**Reproduce:** `{meta.get('repro', 'make bench')}` as root "
      f"(`{meta.get('command')}`); raw data: `{meta.get('raw', '')}`.")
    if meta.get("alt"):
        w(f"**Candidate build** (rows marked *candidate*): `{meta.get('alt')}` — "
          f"{meta.get('alt_desc')}.  ")
    w("")
    w("Figures are **median [min–max]** over the runs given. Ratios are connstorm's connect "
      "rate under a tracer divided by the mean rate of the no-tracer runs just before and "
      "after it, in the same round (interleaved A/B). 1.00x = no measurable cost.")
    fl = [r.get("tplinks", 0) for r in kinds.get("overhead", []) if r["tool"] == "base"]
    if any(fl):
        w("")
        w(f"**Caveat:** other users of the machine had BPF programs of their own attached to "
          f"`sock:inet_sock_set_state` during {sum(1 for x in fl if x)} of {len(fl)} "
          f"no-tracer runs (up to {max(fl)} at once). They slow the baseline and every "
          f"tracer alike, which pulls the ratios towards 1.")
    w("")

    # 1. overhead
    ov = [r for r in kinds.get("overhead", [])]
    w("## 1. Overhead on a connect-heavy load")
    w("")
    w(f"Workload: `{meta.get('load_cmd', '')}` (client) against "
      f"`{meta.get('server_cmd', '')}` in a private network namespace; "
      f"{meta.get('rounds')} rounds of {meta.get('dur')} s per run; tracer order rotates "
      f"every round. Target: porthog top and serve ≥ 0.98x, record ≥ 0.95x, each better "
      f"than every peer.")
    w("")
    ratios, lat, costs = overhead_ratios(ov)
    base = [r for r in ov if r["tool"] == "base" and r.get("ok")]
    w("| tracer | rate vs no tracer | CPU-cost ratio | connects/s | connect p50 µs | "
      "connect p99 µs | tracer CPU, % of one CPU | target (on rate) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    w(f"| {TOOL_DESC['base']} | 1.00x | 1.00x | {mmm([r['rate'] for r in base], 0)} | "
      f"{mmm([r['p50_us'] for r in base], 1)} | {mmm([r['p99_us'] for r in base], 1)} | – | – |")
    targets = {"top": 0.98, "serve": 0.98, "record": 0.95,
               "alt-top": 0.98, "alt-serve": 0.98, "alt-record": 0.95}
    peers_best = max((med(ratios[t]) for t in ("tcpstates", "tcplife", "bpftrace")
                      if t in ratios), default=None)
    verdict = {}
    for t in TOOL_ORDER:
        rs = lat.get(t)
        if not rs:
            skipped = [r for r in ov if r["tool"] == t]
            if skipped:
                why = skipped[0].get("error", "failed")
                w(f"| {TOOL_DESC[t]} | n/a ({why}) | | | | | | |")
            continue
        cpu = [100 * r["tool_cpu_s"] / r["duration_s"] for r in rs if r.get("tool_cpu_s") is not None]
        tgt = "–"
        if t in targets:
            m = med(ratios[t])
            ok = m >= targets[t] and (peers_best is None or m > peers_best)
            tgt = f"≥ {targets[t]:.2f}x: **{'met' if ok else 'missed'}**"
            verdict[t] = ok
        w(f"| {TOOL_DESC[t]} | {mmm(ratios[t])}x | {mmm(costs.get(t, []))}x | "
          f"{mmm([r['rate'] for r in rs], 0)} | "
          f"{mmm([r['p50_us'] for r in rs], 1)} | {mmm([r['p99_us'] for r in rs], 1)} | "
          f"{mmm(cpu, 1)} | {tgt} |")
    w("")
    w("*CPU-cost ratio*: on-CPU time per connect of the load (connstorm client and server) "
      "in the no-tracer runs around it, divided by that of the load plus the tracer process "
      "in the traced run. It is insensitive to other work competing for the CPUs, but misses "
      "interrupt work (wake-up IPIs) charged to unrelated tasks; the rate ratio is the "
      "measure of record.")
    w("")
    lostruns = [r for r in ov if r["tool"] in PORTHOG_TOOLS and (r.get("lost") or 0) > 0]
    if lostruns:
        w(f"porthog lost events in {len(lostruns)} of these runs: "
          + ", ".join(f"{r['tool']} round {r['round']}: {r['lost']}" for r in lostruns) + ".")
        w("")

    kcost_section(kinds.get("kcost", []), meta, w)

    # 2. per-event cost
    ev = kinds.get("evcost", [])
    if ev:
        w("## 2. Per-event cost in the kernel")
        w("")
        w("`sysctl kernel.bpf_stats_enabled=1`; each tracer runs alone under the same load for "
          f"{meta.get('ev_dur')} s, {meta.get('ev_reps')} time(s). `run_time_ns / run_cnt` of "
          "its BPF programs (deltas over the load), and their total per connect (one connect "
          "+ RST close fires `inet_sock_set_state` about 7 times, client and server side).")
        w("")
        w("| tracer | program | ns per run | runs per connect | ns per connect (all programs) |")
        w("| --- | --- | --- | --- | --- |")
        for t in TOOL_ORDER:
            rs = [r for r in ev if r["tool"] == t and r.get("ok")]
            if not rs:
                continue
            names, mult = [], {}
            for r in rs:
                cnt = {}
                for p in r.get("progs", []):
                    if p["name"].startswith("iter_"):
                        continue
                    cnt[p["name"]] = cnt.get(p["name"], 0) + 1
                    if p["name"] not in names:
                        names.append(p["name"])
                for k, v in cnt.items():
                    mult[k] = max(mult.get(k, 0), v)
            per_conn = [sum(p["ns"] for p in r.get("progs", []) if not p["name"].startswith("iter_"))
                        / max(r["connects"], 1) for r in rs]
            first = True
            for n in names:
                per_run, runs_pc = [], []
                for r in rs:
                    for p in r.get("progs", []):
                        if p["name"] == n and p["runs"]:
                            per_run.append(p["ns"] / p["runs"])
                            runs_pc.append(p["runs"] / max(r["connects"], 1))
                if not per_run:
                    continue
                label = f"`{n}`" + (f" ×{mult[n]}" if mult.get(n, 1) > 1 else "")
                w(f"| {TOOL_DESC[t] if first else ''} | {label} | {mmm(per_run, 0)} | "
                  f"{mmm(runs_pc, 2)} | {mmm(per_conn, 0) if first else ''} |")
                first = False
        w("")
        w("×N: N programs of that name, each run on every hit (figures per program). "
          "Iterator programs (porthog's start-up snapshot and reconcile walks) are not in "
          "this table; their cost is in the overhead ratios above. BPF statistics add a "
          "clock read or two per run, so absolute figures are a little high.")
        w("")

    # 3. lossless throughput
    ls = kinds.get("lossless", [])
    if ls:
        cmd = ls[0].get("cmd", "record")
        w("## 3. Throughput without loss")
        w("")
        w(f"porthog `{ls[0].get('cmdline', cmd)}` with `--ringbuf-size` from the table, under "
          f"connstorm with the given number of client threads ({meta.get('loss_dur')} s each, "
          f"{meta.get('loss_reps')} run(s)). Events/s = events the BPF side submitted plus "
          "the ones it dropped, over the run; lost = failed ring buffer reservations "
          "(porthog's `lost_events`); skipped = tracepoint hits the kernel skipped "
          "(porthog's program already running on that CPU) that the catcher did not handle "
          "(`skipped_events`: recursion misses of the state program less the hits caught); "
          "caught = skipped hits the catcher handled (no loss).")
        if cmd != "record":
            w("")
            w(f"**Note:** `porthog record` was not available in this build "
              f"({meta.get('record_error', '')}); the consumer measured is `{cmd}`.")
        w("")
        w("| ring buffer | client threads | events/s | lost events | lost % | skipped events | "
          "caught | runs with loss (either cause) |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- |")
        keys = sorted({(r["ringbuf"], r["threads"]) for r in ls})
        best_default = None
        for rb, th in keys:
            rs = [r for r in ls if r["ringbuf"] == rb and r["threads"] == th and r.get("ok")]
            if not rs:
                continue
            rate = [(r["events"] + r["lost"]) / r["duration_s"] for r in rs]
            lost = [r["lost"] for r in rs]
            pct = [100 * r["lost"] / max(r["events"] + r["lost"], 1) for r in rs]
            skipped = [r.get("skipped", 0) for r in rs]
            caught = [r.get("caught", 0) for r in rs]
            nloss = sum(1 for x, y in zip(lost, skipped) if x or y)
            tag = " (default)" if rb == meta.get("default_ringbuf") else ""
            w(f"| {rb // 1024:,} KiB{tag} | {th} | {mmm(rate, 0)} | {mmm(lost, 0)} | "
              f"{mmm(pct, 3)} | {mmm(skipped, 0)} | {mmm(caught, 0)} | {nloss}/{len(rs)} |")
            if tag:
                for r, x in zip(rs, rate):
                    if r["lost"] == 0 and r.get("skipped", 0) == 0 and \
                            (best_default is None or x > best_default):
                        best_default = x
        w("")
        if best_default:
            w(f"Highest event rate with zero lost and zero skipped events at the default buffer: "
              f"**{fmt(best_default, 0)} events/s** (the most this machine's load "
              f"generator produced in a loss-free run).")
            w("")

    # 4. snapshot scale
    sn = kinds.get("snapshot", [])
    if sn:
        w("## 4. Snapshot scale")
        w("")
        w("Held connections from several connstorm `--mode held` processes (at most "
          f"{meta.get('snap_per_proc', 10000):,} sockets each) in a fresh network namespace "
          "with `ip_local_port_range` 1024–65535; the server accepts and closes, so the "
          "client sockets sit in CLOSE_WAIT holding their ports. porthog walks every network "
          "namespace, ss only the one it runs in (`--netns NS`: porthog limited to that one too). "
          "Output goes to /dev/null; "
          f"{meta.get('snap_reps')} runs each, wall clock time.")
        w("")
        levels = sorted({r["sockets"] for r in sn})
        labels = []
        for r in sn:
            if r["label"] not in labels:
                labels.append(r["label"])
        w("| command | " + " | ".join(f"{n:,} sockets" for n in levels) + " |")
        w("| --- | " + " | ".join("---" for _ in levels) + " |")
        for lb in labels:
            cells = []
            for n in levels:
                rs = [r for r in sn if r["label"] == lb and r["sockets"] == n and r["rc"] == 0]
                cells.append(f"{mmm([r['wall_s'] * 1000 for r in rs], 0)} ms" if rs else "n/a")
            w(f"| `{lb}` | " + " | ".join(cells) + " |")
        w("")
        w("CPU time (user+sys) and peak RSS, median:")
        w("")
        w("| command | " + " | ".join(f"{n:,} sockets" for n in levels) + " |")
        w("| --- | " + " | ".join("---" for _ in levels) + " |")
        for lb in labels:
            cells = []
            for n in levels:
                rs = [r for r in sn if r["label"] == lb and r["sockets"] == n and r["rc"] == 0]
                if rs:
                    cells.append(f"{fmt(med([(r['user_s'] + r['sys_s']) * 1000 for r in rs]), 0)} ms, "
                                 f"{fmt(med([r['maxrss_kb'] / 1024 for r in rs]), 1)} MiB")
                else:
                    cells.append("n/a")
            w(f"| `{lb}` | " + " | ".join(cells) + " |")
        w("")
        def snap_med(lb, n):
            rs = [r["wall_s"] for r in sn if r["label"] == lb and r["sockets"] == n and r["rc"] == 0]
            return med(rs) if rs else None
        for lb, what in (("porthog snapshot --json", "every namespace"),
                         ("porthog snapshot --json --netns NS", "ss's namespace only")):
            ratios = []
            for n in levels:
                ss, ph = snap_med("ss -tanp", n), snap_med(lb, n)
                if ss and ph:
                    ratios.append(f"{n:,} sockets **{ss / ph:.1f}×**")
            if ratios:
                w(f"`ss -tanp` time over `{lb}` time ({what}; medians; goal ≥ 10×): " +
                  ", ".join(ratios) + ".")
                w("")
        def snap_cpu(lb, n):
            rs = [(r["user_s"] + r["sys_s"]) for r in sn
                  if r["label"] == lb and r["sockets"] == n and r["rc"] == 0]
            return med(rs) if rs else None
        act, plain = "porthog snapshot --json --netns NS", \
            "porthog snapshot --json --netns NS --no-sock-activity"
        cost = []
        for n in levels:
            a, p, ac, pc = snap_med(act, n), snap_med(plain, n), snap_cpu(act, n), snap_cpu(plain, n)
            if a and p and ac and pc:
                cost.append(f"{n:,} sockets {a * 1000:.0f} vs {p * 1000:.0f} ms wall "
                            f"(**{a / p:.2f}×**), {ac * 1000:.0f} vs {pc * 1000:.0f} ms CPU "
                            f"(**{ac / pc:.2f}×**)")
        if cost:
            w("Socket activity (what `explain` judges: idle times, bytes, segments, SYN "
              "retransmits, bound ports, read from each `tcp_sock` in the walk): "
              f"`{act}` over `{plain}` (medians): " + "; ".join(cost) + ".")
            w("")
        if any(r["label"].startswith("alt ") for r in sn):
            w(f"`alt` is the candidate build `{meta.get('alt_desc') or meta.get('alt')}`, "
              "measured in the same rounds.")
            w("")
        lv = kinds.get("snaplevel", [])
        if lv:
            w("Sockets actually present (`/proc/net/sockstat` in the namespace): " +
              ", ".join(f"{r['sockets']:,} requested → {r['inuse']:,} in use by "
                        f"{r['procs']} processes" for r in lv) + ".")
            w("")

    # 5. memory
    mem = kinds.get("memory", [])
    if mem:
        w("## 5. Memory")
        w("")
        m0 = mem[0]
        w(f"{m0.get('procs'):,} processes holding {m0.get('procs', 0) * m0.get('per_proc', 0):,} "
          "connections (bench/holder.c) in a private namespace. `top` and `serve` were started "
          "before the processes (they see every connect), `snapshot` after. Peak RSS is "
          "VmHWM (GNU time's maximum RSS for one-shot commands); BPF memory is the sum of "
          "`bytes_memlock` of the maps and programs the process holds (`bpftool map show`).")
        w("")
        w("| command | sockets tracked | processes tracked | peak RSS idle | peak RSS loaded | "
          "BPF memlock |")
        w("| --- | --- | --- | --- | --- | --- |")
        # one row per command: the median over its repetitions, with min and max
        by_label = {}
        for r in mem:
            by_label.setdefault(r["label"], []).append(r)
        for label, rs in by_label.items():
            r = rs[0]
            idle = [x["idle_kb"] / 1024 for x in rs if x.get("idle_kb")]
            peak = [x["peak_kb"] / 1024 for x in rs if x.get("peak_kb")]
            w(f"| `{label}` | {fmt(r.get('sockets_tracked'))} | "
              f"{fmt(r.get('processes_tracked'))} | "
              f"{mmm(idle, 1, ' MiB') if idle else '–'} | "
              f"{mmm(peak, 1, ' MiB')} | "
              f"{fmt(r['memlock'] / 1048576, 1) + ' MiB' if r.get('memlock') else '–'} |")
        w("")
        maps = m0.get("maps")
        if maps:
            w("BPF maps of porthog (`max_entries`, memlock): " + ", ".join(
                f"`{m['name']}` {m['max_entries']:,} → {m['bytes_memlock'] / 1048576:.2f} MiB"
                for m in maps if (m.get("bytes_memlock") or 0) >= 65536) + ".")
            w("")

    # 6. user-space CPU
    if ov:
        w("## 6. User-space CPU per 100k events")
        w("")
        w("From the overhead runs of section 1: on-CPU time of the tracer process over the "
          "load (`se.sum_exec_runtime` of its threads, /proc/PID/task/*/sched), divided by "
          "the events porthog's BPF side submitted (its `stats` map), and by connects for "
          "every tracer (a connect is 2 porthog events: connect and close).")
        w("")
        w("| tracer | CPU ms per 100k events | CPU ms per 100k connects | events per connect |")
        w("| --- | --- | --- | --- |")
        for t in TOOL_ORDER:
            rs = lat.get(t)
            if not rs:
                continue
            pe = [1000 * r["tool_cpu_s"] / r["events"] * 1e5 for r in rs
                  if r.get("events") and r.get("tool_cpu_s") is not None]
            pc = [1000 * r["tool_cpu_s"] / r["connects"] * 1e5 for r in rs
                  if r.get("connects") and r.get("tool_cpu_s") is not None]
            epc = [r["events"] / r["connects"] for r in rs if r.get("events") and r.get("connects")]
            w(f"| {TOOL_DESC[t]} | {mmm(pe, 1) if pe else '–'} | {mmm(pc, 1)} | "
              f"{mmm(epc, 2) if epc else '–'} |")
        w("")

    notes = meta.get("notes") or []
    if notes:
        w("## Notes")
        w("")
        for n in notes:
            w(f"* {n}")
        w("")
    with open(out, "w") as f:
        f.write("\n".join(L))
    return verdict


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "machine":
        jprint(machine())
    elif cmd == "proc":
        jprint(proc(int(argv[2])))
    elif cmd == "bpf":
        jprint(bpf(int(argv[2])))
    elif cmd == "ready":
        timeout = float(argv[4]) if len(argv) > 4 and argv[3] == "--timeout" else 30.0
        return ready(int(argv[2]), timeout)
    elif cmd == "tplinks":
        jprint(tplinks())
    elif cmd == "sockstat":
        jprint(sockstat())
    elif cmd == "measure":
        args = argv[2:]
        sep = args.index("--")
        opts, command = args[:sep], args[sep + 1:]
        o = {"--reps": "1", "--extra": "{}"}
        for i in range(0, len(opts), 2):
            o[opts[i]] = opts[i + 1]
        measure(o["--label"], o["--out"], int(o["--reps"]), command, json.loads(o["--extra"]))
    elif cmd == "sample":
        jprint({"proc": proc(int(argv[2])), "bpf": bpf(int(argv[2]))})
    elif cmd == "memrec":
        o = {}
        for i in range(2, len(argv) - 1, 2):
            o[argv[i]] = argv[i + 1]
        memrec(o)
    elif cmd == "runload":
        args = argv[2:]
        sep = args.index("--")
        opts, command = args[:sep], args[sep + 1:]
        o = {"--pid": "0", "--server-pid": "0", "--extra": "{}"}
        for i in range(0, len(opts), 2):
            o[opts[i]] = opts[i + 1]
        return runload(o["--out"], int(o["--pid"]), int(o["--server-pid"]),
                       json.loads(o["--extra"]), command)
    elif cmd == "report":
        report(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
