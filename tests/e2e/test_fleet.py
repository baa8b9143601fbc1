#!/usr/bin/env python3
"""Fleet use on the real kernel: pod and container attribution from real cgroup v2
directories in the shapes the kubelet and the container runtimes create."""
import json
import os
import secrets
import uuid

from phlib import (Client, Netns, Porthog, Server, TestFailure, check, check_eq,
                   porthog_run, run_tests, wait_for)
from test_serve import Serve, fetch, parse, values


def cgroup2_root():
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified
    on hybrid hosts), from mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.split()[:1] == ["cgroup2"]:
                fields = pre.split()
                check_eq(fields[3], "/", "the cgroup v2 mount shows the whole hierarchy")
                return fields[4].encode().decode("unicode_escape")
    raise TestFailure("no cgroup2 mount in /proc/self/mountinfo")


class Cgroups:
    """cgroup v2 directories in real shapes, under one test directory of the v2 root."""

    def __init__(self, shapes):
        self.root = cgroup2_root()
        self.base = os.path.join(self.root, os.environ.get("PH_NS_PREFIX", "") +
                                 f"porthog-e2e-{os.getpid()}")
        self.dirs = []
        for rel in shapes:
            path = self.base
            for part in [""] + rel.split("/"):
                path = os.path.join(path, part) if part else path
                if path not in self.dirs:
                    os.makedirs(path, exist_ok=True)
                    self.dirs.append(path)

    def path(self, rel):
        """The directory, and the path /proc/PID/cgroup shows for it."""
        d = os.path.join(self.base, rel)
        return d, "/" + os.path.relpath(d, self.root)

    def remove(self):
        for d in sorted(self.dirs, key=len, reverse=True):
            try:
                os.rmdir(d)
            except OSError:
                pass


def shapes():
    """(name, cgroup directory, pod UID or None, container id): every kubelet driver,
    QoS class and runtime; UIDs and ids are fresh per run."""
    out = []
    for name, fmt, pod in (
            ("systemd burstable containerd",
             "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u_}.slice/"
             "cri-containerd-{c}.scope", True),
            ("cgroupfs besteffort containerd", "kubepods/besteffort/pod{u}/{c}", True),
            ("systemd guaranteed cri-o", "kubepods.slice/kubepods-pod{u_}.slice/crio-{c}.scope",
             True),
            ("docker", "system.slice/docker-{c}.scope", False),
            ("podman", "machine.slice/libpod-{c}.scope", False)):
        u, c = str(uuid.uuid4()), secrets.token_hex(32)
        out.append((name, fmt.format(u=u, u_=u.replace("-", "_"), c=c), u if pod else None, c))
    return out


def proc(state, pid):
    return next((p for p in state["processes"] if p["pid"] == pid), None)


def test_pod_and_container_attribution(tmp):
    """Five clients, each in a cgroup of another shape; the one in the systemd-driver
    pod leaks until its connects fail. top --json, its --pod-uid and --container
    filters, and serve's /metrics name each client's pod UID and container."""
    sh = shapes()
    cg = Cgroups([rel for _, rel, _, _ in sh])
    ns = Netns("phfleet", 41000, 41063)
    try:
        ph = Porthog(tmp, ["top", "--json", "--interval", "0.5", "--netns", str(ns.inode)])
        sv = Serve(tmp, ["--interval", "0.5", "--netns", str(ns.inode)])
        trace = os.path.join(tmp, "fleet.phtrace")
        rec = Porthog(tmp, ["record", "-o", trace, "--netns", str(ns.inode)], name="record")
        srv = Server(ns, tmp)
        clients = []
        # the others hold 3, 4, 5 and 6 ports; the leaky one gets the other 46
        for i, (name, rel, _, _) in reversed(list(enumerate(sh))):
            extra = ["--count", str(i + 2)] if i else ["--fail-count", "3"]
            c = Client(ns, tmp, srv, "leaky", extra, name=f"client{i}", cgroup=cg.path(rel)[0])
            clients.insert(0, c.parse())
        check_eq([len(c["ports"]) for c in clients], [46, 3, 4, 5, 6], "ports each client got")
        check_eq(clients[0]["failures"], [99, 99, 99], "the leaky client's EADDRNOTAVAIL")
        for c, (name, rel, _, _) in zip(clients, sh):
            with open(f"/proc/{c['pid']}/cgroup") as f:
                check(f"0::{cg.path(rel)[1]}\n" in f.read(), f"{name}: the client is in {rel}")

        def all_attributed(s):
            return all(proc(s, c["pid"]) and proc(s, c["pid"])["ports_held"] == len(c["ports"])
                       for c in clients) and proc(s, clients[0]["pid"])["failed"] == 3

        def last():
            for s in reversed(ph.json_lines()):
                if all_attributed(s):
                    return s
            if ph.proc.poll() is not None:
                raise TestFailure(f"porthog exited: {ph.stderr()}")
            return None
        s = wait_for(last, 15, "top to show every client with its ports")
        for c, (name, rel, pod, cid) in zip(clients, sh):
            p = proc(s, c["pid"])
            check_eq(p["cgroup"], cg.path(rel)[1], f"{name}: cgroup")
            check_eq(p["container"], cid[:12], f"{name}: container")
            check_eq(p["pod_uid"], pod, f"{name}: pod_uid")
        check_eq(ph.stop(), 0, "top exit code")

        # the filters, in a one-shot top and in snapshot
        name, rel, pod, cid = sh[0]
        r = porthog_run(["top", "--json", "--count", "1", "--netns", str(ns.inode),
                         "--pod-uid", pod.replace("-", "_")])
        check_eq(r.returncode, 0, f"top --pod-uid exit code ({r.stderr.strip()})")
        got = [(p["pid"], p["ports_held"], p["pod_uid"]) for p in json.loads(r.stdout)["processes"]]
        check_eq(got, [(clients[0]["pid"], 46, pod)], "top --pod-uid (systemd spelling)")
        r = porthog_run(["snapshot", "--json", "--netns", str(ns.inode),
                         "--container", sh[4][3][:16].upper()])
        check_eq(r.returncode, 0, f"snapshot --container exit code ({r.stderr.strip()})")
        got = [(p["pid"], p["ports_held"], p["container"], p["pod_uid"])
               for p in json.loads(r.stdout)["processes"]]
        check_eq(got, [(clients[4]["pid"], 6, sh[4][3][:12], None)], "snapshot --container")
        r = porthog_run(["snapshot", "--json", "--netns", str(ns.inode), "--pod-uid", pod,
                         "--container", sh[1][3][:12]])
        check_eq(r.returncode, 0, "snapshot with both filters")
        check_eq(json.loads(r.stdout)["processes"], [], "pod of one, container of another")
        for bad in (["--pod-uid", "1a2b"], ["--container", "xyz"], ["--container", "a" * 65]):
            r = porthog_run(["snapshot", "--json"] + bad)
            check_eq(r.returncode, 2, f"{bad}: exit code")
            check(f"invalid {bad[0]}" in r.stderr, f"{bad}: one-line error: {r.stderr!r}")

        # serve: the process series carry pod_uid and container
        def scraped():
            st, _, body = fetch(sv.url)
            smp = parse(body) if st == 200 else []
            ok = all(values(smp, "porthog_process_ports_held", pid=c["pid"]) ==
                     [len(c["ports"])] for c in clients)
            return smp if ok else None
        smp = wait_for(scraped, 15, "/metrics to show every client")
        for c, (name, rel, pod, cid) in zip(clients, sh):
            lb = [lb for n, lb, _ in smp if n == "porthog_process_ports_held" and
                  lb["pid"] == str(c["pid"])][0]
            check_eq((lb["pod_uid"], lb["container"], lb["cgroup"]),
                     (pod or "", cid[:12], cg.path(rel)[1]), f"{name}: /metrics labels")
        check_eq(values(smp, "porthog_process_connect_failures_total", pid=clients[0]["pid"],
                        pod_uid=sh[0][2], container=sh[0][3][:12]), [3],
                 "the leaky pod's failures by pod_uid and container")
        check_eq(sv.stop(), 0, "serve exit code")

        # report, from the trace file: the offenders with their pod and container
        check_eq(rec.stop(), 0, "record exit code")
        r = porthog_run(["report", "--json", trace])
        check_eq(r.returncode, 0, f"report exit code ({r.stderr.strip()})")
        off = {o["pid"]: o for o in json.loads(r.stdout)["offenders"]}
        for c, (name, rel, pod, cid) in zip(clients, sh):
            o = off[c["pid"]]
            check_eq((o["peak_ports_held"], o["container"], o["pod_uid"]),
                     (len(c["ports"]), cid[:12], pod), f"{name}: report offender")
    finally:
        ns.delete()
        cg.remove()


if __name__ == "__main__":
    run_tests(globals())
