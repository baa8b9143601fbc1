#!/usr/bin/env python3
"""Ports taken by bind() and by UDP, and their failures, on the real kernel.

Each workload (tests/workloads/ph_ports.c) runs in a namespace with a 64-port range
and prints the port of every socket and the errno of every failure; porthog's
events must name the same PID, ports, errnos and protocol.
"""
import collections
import json
import os
import subprocess
import time

from phlib import (BUILD, Netns, Porthog, Server, check, check_eq, porthog_run, run_tests,
                   wait_for)
from test_serve import Serve, fetch, one, parse

PORTS = os.path.join(BUILD, "ph_ports")
FAMILIES = (("ipv4", "127.0.0.1"), ("ipv6", "::1"))


class Ports:
    """One ph_ports run: its pid, the ports it got and the (op, errno) of its failures."""

    def __init__(self, ns, tmp, name, args):
        self.ready = os.path.join(tmp, f"{name}.ready")
        self.log = os.path.join(tmp, f"{name}.log")
        with open(self.log, "w") as out:
            self.proc = ns.popen([PORTS, "--ready-file", self.ready] + list(args), stdout=out)
        wait_for(lambda: os.path.exists(self.ready), 30, f"{name} ready")
        self.pid, self.ports, self.failures = None, [], []
        with open(self.log) as f:
            for line in f:
                w = line.split()
                if w[0] == "pid":
                    self.pid = int(w[1])
                elif w[0] == "port":
                    self.ports.append(int(w[1]))
                elif w[0] == "failed":
                    self.failures.append((w[1], int(w[2])))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def by_pid(events, pid):
    out = collections.defaultdict(list)
    for e in events:
        if e["pid"] == pid:
            out[e["event"]].append(e)
    return out


def trace(tmp, ns_list, name="porthog"):
    args = ["trace", "--json", "--bind-udp=on"]
    return Porthog(tmp, args, name=name)


def finish(ph, workloads):
    for w in workloads:
        w.stop()
    time.sleep(0.5)
    check_eq(ph.stop(), 0, "porthog trace exit code on SIGINT")
    return ph.json_lines()


def test_tcp_bind_exhaustion(tmp):
    """64 bind(ADDR:0) succeed, the 65th fails with EADDRINUSE; IPv4 and IPv6."""
    nss = [Netns(f"bubind{i}") for i in range(2)]
    try:
        ph = trace(tmp, nss)
        ws = [Ports(ns, tmp, f"bind-{fam}", ["--mode", "tcp-bind", "--addr", addr, "--count", "65"])
              for ns, (fam, addr) in zip(nss, FAMILIES)]
        for w in ws:
            check_eq(len(w.ports), 64, "binds that got a port")
            check_eq(w.failures, [("bind", 98)], "the workload's own failure")
        events = finish(ph, ws)
        for w, (fam, addr), ns in zip(ws, FAMILIES, nss):
            ev = by_pid(events, w.pid)
            check_eq(sorted(e["sport"] for e in ev["bind"]), sorted(w.ports), f"{fam} bind ports")
            for e in ev["bind"]:
                check_eq((e["protocol"], e["family"], e["saddr"], e["netns"]),
                         ("tcp", fam, addr, ns.inode), "bind event fields")
                check_eq(e["bind_ephemeral"], True, "bind(0) without IP_BIND_ADDRESS_NO_PORT")
            check_eq([(e["protocol"], e["errno"], e["errname"], e["errno_source"], e["sport"])
                      for e in ev["bind_failed"]],
                     [("tcp", 98, "EADDRINUSE", "inferred", 0)], f"{fam} bind_failed")
            check_eq(sorted(e["sport"] for e in ev["close"]), sorted(w.ports),
                     f"{fam} close of every bound port")
            check_eq(set(ev), {"bind", "bind_failed", "close"}, "event kinds")
    finally:
        for ns in nss:
            ns.delete()


def udp_exhaustion(tmp, mode, errno_source):
    nss = [Netns(f"bu{mode[4:]}{i}") for i in range(2)]
    try:
        ph = trace(tmp, nss)
        ws = [Ports(ns, tmp, f"{mode}-{fam}",
                    ["--mode", mode, "--addr", addr, "--port", "5353", "--count", "66"])
              for ns, (fam, addr) in zip(nss, FAMILIES)]
        op = mode[4:]
        for w in ws:
            check_eq(len(w.ports), 64, f"UDP {op}s that got a port")
            check_eq(w.failures, [(op, 11), (op, 11)], "the workload's own failures")
        events = finish(ph, ws)
        for w, (fam, addr) in zip(ws, FAMILIES):
            ev = by_pid(events, w.pid)
            check_eq(sorted(e["sport"] for e in ev["connect"]), sorted(w.ports),
                     f"{fam} UDP {op} ports")
            for e in ev["connect"]:
                check_eq((e["protocol"], e["family"]), ("udp", fam), "connect event fields")
                # connect() binds the socket to its destination; sendto() leaves it unconnected
                want = (addr, 5353) if op == "connect" else ("::" if fam == "ipv6" else "0.0.0.0", 0)
                check_eq((e["daddr"], e["dport"]), want, "destination of a UDP socket")
            check_eq([(e["protocol"], e["errno"], e["errname"], e["errno_source"])
                      for e in ev["connect_failed"]],
                     [("udp", 11, "EAGAIN", errno_source)] * 2, f"{fam} UDP {op} failures")
            check_eq(sorted(e["sport"] for e in ev["close"]), sorted(w.ports),
                     f"{fam} UDP close of every port")
            check("bind" not in ev, "no bind event for an autobind")
    finally:
        for ns in nss:
            ns.delete()


def test_udp_connect_exhaustion(tmp):
    """64 UDP connect() get a port, the next ones fail with EAGAIN (inferred: no port came)."""
    udp_exhaustion(tmp, "udp-connect", "inferred")


def test_udp_sendto_exhaustion(tmp):
    """sendto() on fresh UDP sockets: 64 autobind, then EAGAIN (seen at sendmsg's return)."""
    udp_exhaustion(tmp, "udp-sendto", "kernel")


def test_bind_before_connect(tmp):
    """bind(0)+connect takes ports host-wide and is flagged; with IP_BIND_ADDRESS_NO_PORT
    64 sockets to each of two destinations all get a port, and none is flagged."""
    for fam, addr in FAMILIES:
        ns = Netns("bubc")
        try:
            ph = trace(tmp, [ns], name=f"porthog-{fam}")
            s1 = Server(ns, tmp, addr=addr, port=8080, name=f"s1-{fam}")
            s2 = Server(ns, tmp, addr=addr, port=8081, name=f"s2-{fam}")
            free = [Ports(ns, tmp, f"noport{p}-{fam}",
                          ["--mode", "bind-connect", "--no-port", "--addr", addr, "--port", str(p),
                           "--count", "64"]) for p in (8080, 8081)]
            for w in free:
                check_eq((len(w.ports), w.failures), (64, []), "IP_BIND_ADDRESS_NO_PORT connects")
            check_eq(len(set(free[0].ports) & set(free[1].ports)), 64,
                     "the two destinations share all 64 ports")
            for w in free:
                w.stop()
            # their ports stay in TIME_WAIT per destination: bind(0) finds none free
            hog = Ports(ns, tmp, f"hog-{fam}", ["--mode", "bind-connect", "--addr", addr,
                                                 "--port", "8080", "--count", "1"])
            check_eq((hog.ports, hog.failures), ([], [("bind", 98)]), "bind(0) after TIME_WAIT")
            events = finish(ph, [hog, s1, s2])
            for w in free:
                ev = by_pid(events, w.pid)
                check_eq(sorted(e["sport"] for e in ev["connect"]), sorted(w.ports),
                         f"{fam} connect ports with IP_BIND_ADDRESS_NO_PORT")
                for e in ev["connect"]:
                    check_eq((e["protocol"], e["bound_before_connect"], e["bind_ephemeral"]),
                             ("tcp", False, False), "IP_BIND_ADDRESS_NO_PORT is not flagged")
                check("bind" not in ev and "bind_failed" not in ev, "no bind event without a port")
            ev = by_pid(events, hog.pid)
            check_eq([(e["errno"], e["protocol"]) for e in ev["bind_failed"]], [(98, "tcp")],
                     f"{fam} bind_failed of the hog")
        finally:
            ns.delete()
    # bind(0) then connect, without the option: flagged on bind and connect
    for fam, addr in FAMILIES:
        ns = Netns("bubc")
        try:
            ph = trace(tmp, [ns], name=f"porthog-flag-{fam}")
            srv = Server(ns, tmp, addr=addr, port=8080, name=f"s-{fam}")
            w = Ports(ns, tmp, f"bc-{fam}", ["--mode", "bind-connect", "--addr", addr,
                                              "--port", "8080", "--count", "3"])
            check_eq((len(w.ports), w.failures), (3, []), "bind-before-connect sockets")
            events = finish(ph, [w, srv])
            ev = by_pid(events, w.pid)
            check_eq(sorted(e["sport"] for e in ev["bind"]), sorted(w.ports), f"{fam} bind ports")
            check_eq(sorted(e["sport"] for e in ev["connect"]), sorted(w.ports),
                     f"{fam} connect ports")
            for e in ev["bind"] + ev["connect"]:
                check_eq((e["protocol"], e["bind_ephemeral"]), ("tcp", True),
                         "bind(0) without IP_BIND_ADDRESS_NO_PORT is flagged")
            for e in ev["connect"]:
                check_eq((e["bound_before_connect"], e["dport"]), (True, 8080), "connect fields")
        finally:
            ns.delete()


def test_socket_port_range(tmp):
    """IP_LOCAL_PORT_RANGE 41010-41019 on each socket: 10 ports, then failures, all in range."""
    nss = [Netns(f"burange{i}") for i in range(2)]
    try:
        ph = trace(tmp, nss)
        ws = []
        for ns, (fam, addr) in zip(nss, FAMILIES):
            ws.append(Ports(ns, tmp, f"udp-{fam}", ["--mode", "udp-connect", "--addr", addr,
                                                   "--port", "5353", "--count", "11",
                                                   "--port-range", "41010:41019"]))
            ws.append(Ports(ns, tmp, f"tcp-{fam}", ["--mode", "tcp-bind", "--addr", addr,
                                                   "--count", "11", "--port-range", "41020:41029"]))
        for w, (lo, err, op) in zip(ws, [(41010, 11, "connect"), (41020, 98, "bind")] * 2):
            check_eq(sorted(w.ports), list(range(lo, lo + 10)), "ports inside the socket's range")
            check_eq(w.failures, [(op, err)], "the workload's own failure")
        events = finish(ph, ws)
        for w, (lo, kind, fail) in zip(ws, [(41010, "connect", "connect_failed"),
                                            (41020, "bind", "bind_failed")] * 2):
            ev = by_pid(events, w.pid)
            check_eq(sorted(e["sport"] for e in ev[kind]), sorted(w.ports), f"{kind} ports")
            for e in ev[kind] + ev[fail]:
                check_eq(e["socket_port_range"], [lo, lo + 9], "per-socket range in the event")
            check_eq(len(ev[fail]), 1, f"{fail} events")
    finally:
        for ns in nss:
            ns.delete()


def accounting_checks(doc, ns, w, what):
    """What top, snapshot and report --at show of the four workloads of test_accounting."""
    procs = {p["pid"]: p for p in doc["processes"]}
    for pid, held, tcp, udp, bound, eph in [
            (w["bind"].pid, 10, 10, 0, 10, 10), (w["udpc"].pid, 5, 0, 5, 0, 0),
            (w["udps"].pid, 3, 0, 3, 0, 0), (w["bc"].pid, 4, 4, 0, 0, 4)]:
        p = procs.get(pid)
        check(p is not None, f"{what}: process {pid} listed")
        check_eq((p["ports_held"], p["ports_held_by_protocol"], p["bound_only"], p["bind_ephemeral"]),
                 (held, {"tcp": tcp, "udp": udp}, bound, eph), f"{what}: ports of {pid}")
    dests = {(d["protocol"], d["daddr"], d["dport"]): d for d in doc["destinations"]
             if d["netns"] == ns.inode}
    udp = dests[("udp", "127.0.0.1", 5353)]
    check_eq((udp["in_use"], udp["pool"], udp["capacity"], udp["pool_in_use"]), (5, False, 64, 8),
             f"{what}: connected UDP destination")
    check_eq(udp["headroom_pct"], 100.0 * (64 - 8) / 64, f"{what}: UDP headroom counts every UDP port")
    pool = dests[("udp", "0.0.0.0", 0)]
    check_eq((pool["in_use"], pool["pool"]), (3, True), f"{what}: unconnected UDP pool")
    tcp = dests[("tcp", "127.0.0.1", 8080)]
    # 10 bound-only ports are not connect()'s
    check_eq((tcp["in_use"], tcp["bind_ephemeral"], tcp["capacity"]), (4, 4, 54),
             f"{what}: bind-before-connect destination")
    net = [n for n in doc["netns"] if n["inode"] == ns.inode][0]
    check_eq((net["tcp"]["in_use"], net["tcp"]["capacity"], net["tcp"]["bound_only"]), (14, 64, 10),
             f"{what}: TCP port space")
    check_eq((net["udp"]["in_use"], net["udp"]["capacity"]), (8, 64), f"{what}: UDP port space")


def test_accounting(tmp):
    """top, snapshot, serve and report show TCP and UDP apart: exact ports per process,
    destination, pool and namespace."""
    ns = Netns("buacct")
    try:
        top = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--netns", str(ns.inode),
                            "--bind-udp=on"], name="top")
        srv = Serve(tmp, ["--interval", "0.3", "--netns", str(ns.inode), "--bind-udp=on"])
        rec = os.path.join(tmp, "acct.phtrace")
        record = Porthog(tmp, ["record", "-o", rec, "--netns", str(ns.inode), "--bind-udp=on"],
                         name="record")
        server = Server(ns, tmp, addr="127.0.0.1", port=8080)
        w = {
            "bind": Ports(ns, tmp, "bind", ["--mode", "tcp-bind", "--addr", "127.0.0.1",
                                            "--count", "10"]),
            "udpc": Ports(ns, tmp, "udpc", ["--mode", "udp-connect", "--addr", "127.0.0.1",
                                            "--port", "5353", "--count", "5"]),
            "udps": Ports(ns, tmp, "udps", ["--mode", "udp-sendto", "--addr", "127.0.0.1",
                                            "--port", "5353", "--count", "3"]),
            "bc": Ports(ns, tmp, "bc", ["--mode", "bind-connect", "--addr", "127.0.0.1",
                                        "--port", "8080", "--count", "4"]),
        }
        t_all = time.time()
        r = porthog_run(["snapshot", "--json", "--netns", str(ns.inode)])
        check_eq(r.returncode, 0, f"snapshot exit code ({r.stderr})")
        accounting_checks(json.loads(r.stdout), ns, w, "snapshot")

        def top_done():
            docs = top.json_lines()
            return docs and docs[-1]["ts"] > t_all + 1 and docs[-1]
        accounting_checks(wait_for(top_done, 20, "a top refresh"), ns, w, "top")

        st, _, text = fetch(srv.url)
        check_eq(st, 200, "metrics status")
        s = parse(text)
        n = str(ns.inode)
        check_eq(one(s, "porthog_process_protocol_ports_held", pid=w["udpc"].pid, protocol="udp"),
                 5, "serve: UDP ports of the connecting process")
        check_eq(one(s, "porthog_process_protocol_ports_held", pid=w["bind"].pid, protocol="tcp"),
                 10, "serve: TCP bound ports")
        check_eq(one(s, "porthog_process_bind_ephemeral_sockets", pid=w["bc"].pid), 4,
                 "serve: bind(0) sockets")
        check_eq(one(s, "porthog_destination_ports_in_use", netns=n, protocol="udp", dport=5353), 5,
                 "serve: UDP destination")
        check_eq(one(s, "porthog_destination_ports_in_use", netns=n, protocol="udp", dport=0), 3,
                 "serve: UDP pool")
        check_eq(one(s, "porthog_destination_ports_in_use", netns=n, protocol="tcp", dport=8080), 4,
                 "serve: TCP destination")
        check_eq(one(s, "porthog_netns_protocol_ports_in_use", netns=n, protocol="udp"), 8,
                 "serve: UDP port space")
        check_eq(one(s, "porthog_netns_protocol_ports_in_use", netns=n, protocol="tcp"), 14,
                 "serve: TCP port space")
        at = time.time()
        time.sleep(0.5)
        check_eq(record.stop(), 0, "record exit code")
        r = porthog_run(["report", "--json", "--at", time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(at + 0.5)), rec])
        check_eq(r.returncode, 0, f"report --at exit code ({r.stderr})")
        accounting_checks(json.loads(r.stdout), ns, w, "report --at")
        r = porthog_run(["report", "--json", rec])
        check_eq(r.returncode, 0, f"report exit code ({r.stderr})")
        offs = {o["pid"]: o for o in json.loads(r.stdout)["offenders"]}
        for k, want in [("bind", {"tcp": 10, "udp": 0}), ("udpc", {"tcp": 0, "udp": 5}),
                        ("udps", {"tcp": 0, "udp": 3}), ("bc", {"tcp": 4, "udp": 0})]:
            check_eq(offs[w[k].pid]["peak_ports_held_by_protocol"], want, f"report: peak of {k}")
        for x in w.values():
            x.stop()
        server.stop()
    finally:
        ns.delete()


if __name__ == "__main__":
    run_tests(globals())
