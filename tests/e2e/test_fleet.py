#!/usr/bin/env python3
"""Fleet use on the real kernel: pod and container attribution from real cgroup v2
directories in the shapes the kubelet and the container runtimes create."""
import json
import os
import re
import secrets
import subprocess

import yaml

from phlib import (PORTHOG, ROOT, Cgroups, Client, Netns, Porthog, Server, TestFailure, check,
                   check_eq, join_cgroup, porthog_run, run_tests, shapes, wait_for)
from test_serve import Serve, fetch, parse, values

MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "porthog.yaml")
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")


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


def sigint_caught(pid):
    with open(f"/proc/{pid}/status") as f:
        cgt = [line.split()[1] for line in f if line.startswith("SigCgt:")][0]
    return int(cgt, 16) & (1 << (2 - 1))


def test_explain_names_the_pod(tmp):
    """A client in one pod leaks the namespace's 64 ports; a client in another pod then
    fails to connect: porthog explain finds that victim, with its pod UID and container,
    and --pod-uid keeps only its pod's findings."""
    sh = shapes()
    (_, vrel, vpod, vcid), (_, lrel, lpod, _) = sh[0], sh[1]
    cg = Cgroups([vrel, lrel])
    ns = Netns("phfleet", 41000, 41063)
    try:
        args = ["explain", "--json", "--duration", "600", "--netns", str(ns.inode)]
        every = Porthog(tmp, args, name="explain")
        mine = Porthog(tmp, args + ["--pod-uid", vpod], name="explain-pod")
        srv = Server(ns, tmp)
        lk = Client(ns, tmp, srv, "leaky", ["--fail-count", "1"], cgroup=cg.path(lrel)[0]).parse()
        vc = Client(ns, tmp, srv, "pooled", ["--count", "1"], name="victim",
                    cgroup=cg.path(vrel)[0]).parse()
        check_eq((len(lk["ports"]), vc["ports"], vc["failures"]), (64, [], [99]),
                 "the leak takes every port, the victim's connect fails")
        found = {}
        for ph in (every, mine):
            # SIGINT concludes once the watch began (after the start-up walk)
            wait_for(lambda: sigint_caught(ph.proc.pid), 60, "explain to watch")
            check_eq(ph.stop(), 0, "explain exit code on SIGINT")
            found[ph] = [(f["kind"], f["pid"], f["pod_uid"], f["container"])
                         for f in ph.json_lines()[0]["findings"]]
        victim = ("victim", vc["pid"], vpod, vcid[:12])
        check(victim in found[every], f"the victim with its pod and container: {found[every]}")
        check(any(f[0] == "range" for f in found[every]), "the 64-port range, without --pod-uid")
        check_eq(found[mine], [victim], "explain --pod-uid: the pod's findings only")
    finally:
        ns.delete()
        cg.remove()


def manifest():
    """The objects of deploy/kubernetes/porthog.yaml by kind, and the DaemonSet's container."""
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    kinds = {d["kind"]: d for d in docs}
    check_eq(sorted(kinds), ["DaemonSet", "Namespace", "Service"], "objects in the manifest")
    ds = kinds["DaemonSet"]
    check_eq(ds["apiVersion"], "apps/v1", "DaemonSet apiVersion")
    cs = ds["spec"]["template"]["spec"]["containers"]
    check_eq(len(cs), 1, "one container")
    return kinds, ds["spec"]["template"], cs[0]


def mib(q):
    m = re.fullmatch(r"(\d+)(Mi|Gi)", q)
    check(m, f"a memory quantity in Mi or Gi: {q!r}")
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)


def bench_memory():
    """serve's idle and loaded peak RSS and the BPF memlock, MiB, from bench/RESULTS.md."""
    with open(RESULTS) as f:
        for line in f:
            if line.startswith("| `porthog serve` |") and "MiB" in line:
                v = [float(x) for x in re.findall(r"([\d.]+) MiB", line)]
                check_eq(len(v), 3, f"idle, loaded and BPF memory in {line.strip()!r}")
                return v
    raise TestFailure("no memory row of porthog serve in bench/RESULTS.md")


# What porthog's serve needs of a container (README, "Fleet"): tested by running it so.
NEEDED_CAPS = {"BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"}


def test_kubernetes_manifest_fields(tmp):
    """deploy/kubernetes/porthog.yaml parses, and gives porthog what it needs, no more."""
    kinds, tpl, c = manifest()
    spec = tpl["spec"]
    check_eq(spec.get("hostPID"), True, "hostPID: /proc and BPF's PIDs are the host's")
    check(not spec.get("hostNetwork"), "a network namespace of its own")
    sc = c["securityContext"]
    check(not sc.get("privileged"), "not privileged")
    check_eq(sc.get("allowPrivilegeEscalation"), False, "no privilege escalation")
    check_eq(sc.get("readOnlyRootFilesystem"), True, "serve writes no file")
    check_eq(sc["capabilities"]["drop"], ["ALL"], "every capability dropped first")
    check_eq(set(sc["capabilities"]["add"]), NEEDED_CAPS, "capabilities added")
    check_eq(c["command"], ["/usr/sbin/porthog"], "command: where the .deb installs porthog")
    args = c["args"]
    check_eq(args[0], "serve", "runs serve")
    listen = args[args.index("--listen") + 1]
    check_eq(listen, "$(POD_IP):9873", "listens on the pod IP")
    check("--allow-remote" in args, "--allow-remote, as a non-loopback --listen needs")
    env = {e["name"]: e for e in c["env"]}
    check_eq(env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP", "POD_IP")
    port = [p for p in c["ports"] if p["name"] == "metrics"][0]
    check_eq((port["containerPort"], port["protocol"]), (9873, "TCP"), "container port")
    for probe, path in (("readinessProbe", "/metrics"), ("livenessProbe", "/")):
        check_eq(c[probe]["httpGet"], {"path": path, "port": "metrics"}, probe)
    ann = tpl["metadata"]["annotations"]
    check_eq((ann["prometheus.io/scrape"], ann["prometheus.io/port"], ann["prometheus.io/path"]),
             ("true", "9873", "/metrics"), "scrape annotations")
    svc = kinds["Service"]["spec"]
    check_eq(svc["selector"], tpl["metadata"]["labels"], "the Service selects the pods")
    check_eq([(p["port"], p["targetPort"]) for p in svc["ports"]], [(9873, "metrics")],
             "Service port")
    # read-only host paths, each one porthog reads
    vols = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    mounts = {m["mountPath"]: vols[m["name"]] for m in c["volumeMounts"]}
    check(all(m.get("readOnly") for m in c["volumeMounts"]), "every host path read-only")
    check_eq(mounts, {"/sys/kernel/btf": "/sys/kernel/btf", "/sys/fs/cgroup": "/sys/fs/cgroup",
                      "/boot": "/boot"}, "host paths")
    check(os.path.exists("/sys/kernel/btf/vmlinux"), "the BTF porthog loads against")
    # memory from the benchmark: requests cover idle RSS + BPF maps, the limit the
    # peak at 100k sockets + maps
    idle, loaded, bpf = bench_memory()
    res = c["resources"]
    req, lim = mib(res["requests"]["memory"]), mib(res["limits"]["memory"])
    check(idle + bpf <= req <= loaded + bpf, f"request {req} MiB between idle+BPF "
          f"{idle + bpf:.1f} and loaded+BPF {loaded + bpf:.1f}")
    check(lim >= 1.5 * (loaded + bpf), f"limit {lim} MiB leaves room over {loaded + bpf:.1f}")


def cap_mask(names):
    bits = {"BPF": 39, "PERFMON": 38, "SYS_ADMIN": 21, "SYS_PTRACE": 19, "NET_ADMIN": 12}
    return sum(1 << bits[n] for n in names)


class Pod:
    """porthog as the kubelet and the runtime run the manifest's container: its command,
    args and env (POD_IP on a veth pair), its capabilities (setpriv) and no_new_privs,
    its read-only host paths over a sysfs of its own, a procfs of the host's PID
    namespace, no /run/netns; network, mount and cgroup namespaces of its own, in a
    kubepods cgroup. caps and extra args change the manifest's, to show what each needs."""

    def __init__(self, tmp, cgroup_dir, caps=None, extra=()):
        kinds, tpl, c = manifest()
        self.c = c
        self.caps = caps if caps is not None else c["securityContext"]["capabilities"]["add"]
        tag = secrets.token_hex(2)
        self.podns = os.environ.get("PH_NS_PREFIX", "") + "phpod"
        self.host_if, pod_if = f"phh{tag}", f"php{tag}"
        net = f"10.213.{secrets.randbelow(250)}"
        self.ip = f"{net}.2"
        self.url = f"http://{self.ip}:9873"
        self.proc = None
        subprocess.run(["ip", "netns", "del", self.podns], stderr=subprocess.DEVNULL)
        for cmd in (["ip", "netns", "add", self.podns],
                    ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", pod_if,
                     "netns", self.podns],
                    ["ip", "addr", "add", f"{net}.1/30", "dev", self.host_if],
                    ["ip", "link", "set", self.host_if, "up"],
                    ["ip", "-n", self.podns, "addr", "add", f"{self.ip}/30", "dev", pod_if],
                    ["ip", "-n", self.podns, "link", "set", pod_if, "up"],
                    ["ip", "-n", self.podns, "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True)
        env = {"POD_IP": self.ip}
        argv = [PORTHOG] + [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a)
                            for a in c["args"]] + list(extra)
        vols = {v["name"]: v["hostPath"]["path"] for v in tpl["spec"]["volumes"]}
        stage = os.path.join(tmp, "stage")
        os.mkdir(stage)
        script = ["set -e", f"mount -t tmpfs none {stage}"]
        for i, m in enumerate(c["volumeMounts"]):
            script += [f"mkdir {stage}/{i}", f"mount --rbind {vols[m['name']]} {stage}/{i}"]
        script += ["mount -t sysfs -o ro sysfs /sys", "mount -t proc proc /proc",
                   "mount -t tmpfs none /run"]
        for i, m in enumerate(c["volumeMounts"]):
            script += [f"mount --rbind {stage}/{i} {m['mountPath']}",
                       f"mount -o remount,bind,ro {m['mountPath']}"]
        script.append("exec setpriv --bounding-set -all," +
                      ",".join("+" + x.lower() for x in self.caps) +
                      " --inh-caps -all --no-new-privs " + " ".join(argv))
        self.err = os.path.join(tmp, "pod.err")
        with open(os.path.join(tmp, "pod.out"), "wb") as fo, open(self.err, "wb") as fe:
            self.proc = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.podns}", "unshare", "--mount", "--cgroup",
                 "--propagation", "private", "--", "sh", "-c", "\n".join(script)],
                stdout=fo, stderr=fe, preexec_fn=join_cgroup(cgroup_dir))

        def serving():
            if self.proc.poll() is not None:
                raise TestFailure(f"porthog exited with {self.proc.returncode}: {self.stderr()}")
            return f"serving metrics on {self.url}/metrics" in self.stderr()
        wait_for(serving, 30, "porthog in the pod to serve")

    def stderr(self):
        with open(self.err, errors="replace") as f:
            return f.read()

    def scrape_until(self, pred, what):
        def get():
            st, _, body = fetch(self.url + "/metrics")
            smp = parse(body) if st == 200 else []
            return smp if pred(smp) else None
        return wait_for(get, 20, what)

    def delete(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["ip", "netns", "del", self.podns], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", self.host_if], stderr=subprocess.DEVNULL)


def leak(ns, tmp, cgroup_dir):
    srv = Server(ns, tmp)
    Client(ns, tmp, srv, "pooled", ["--count", "20"])
    lk = Client(ns, tmp, srv, "leaky", ["--fail-count", "3"], cgroup=cgroup_dir).parse()
    check_eq((len(lk["ports"]), lk["failures"]), (63, [99, 99, 99]), "the leak")
    return lk


def test_kubernetes_pod_as_the_manifest_runs_it(tmp):
    """The pod must serve, on the pod IP only, a leaking workload of the host: its pod
    and container, its ports, its failures, its namespace's port range."""
    (pod_cg, wl_cg) = shapes()[0], shapes()[1]
    cg = Cgroups([pod_cg[1], wl_cg[1]])
    ns = Netns("phk8s", 41000, 41063)
    pod = None
    try:
        pod = Pod(tmp, cg.path(pod_cg[1])[0])
        c, pid = pod.c, pod.proc.pid
        check("warning" not in pod.stderr(), f"no warnings: {pod.stderr()}")
        # the process is what the pod spec says
        with open(f"/proc/{pid}/status") as f:
            st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        check_eq(int(st["CapEff"], 16), cap_mask(pod.caps), "effective capabilities")
        check_eq(int(st["CapBnd"], 16), cap_mask(pod.caps), "bounding set")
        check_eq(st["NoNewPrivs"], "1", "no_new_privs (allowPrivilegeEscalation: false)")
        for kind in ("net", "mnt"):
            check(os.stat(f"/proc/{pid}/ns/{kind}").st_ino !=
                  os.stat(f"/proc/self/ns/{kind}").st_ino, f"a {kind} namespace of its own")
        # started in a cgroup namespace of its own (unshare --cgroup), it entered the host's
        check_eq(os.stat(f"/proc/{pid}/ns/cgroup").st_ino,
                 os.stat("/proc/self/ns/cgroup").st_ino, "the host's cgroup namespace")
        check_eq(os.stat(f"/proc/{pid}/ns/pid").st_ino, os.stat("/proc/self/ns/pid").st_ino,
                 "the host's PID namespace")

        lk = leak(ns, tmp, cg.path(wl_cg[1])[0])
        n = ns.inode
        smp = pod.scrape_until(
            lambda s: values(s, "porthog_process_ports_held", pid=lk["pid"]) == [63] and
            values(s, "porthog_netns_port_range_low", netns=n) == [41000],
            "/metrics on the pod IP to show the leak")
        lb = [lb for nm, lb, _ in smp if nm == "porthog_process_ports_held" and
              lb["pid"] == str(lk["pid"])][0]
        check_eq((lb["comm"], lb["cgroup"], lb["pod_uid"], lb["container"]),
                 ("ph_client", cg.path(wl_cg[1])[1], wl_cg[2], wl_cg[3][:12]),
                 "the workload's labels: host cgroup path, pod, container")
        d = dict(netns=n, daddr="127.0.0.1", dport=8080)
        check_eq(values(smp, "porthog_destination_connect_failures_total", **d), [3], "failures")
        check_eq(values(smp, "porthog_destination_ports_in_use", **d), [64], "ports in use")
        check_eq(values(smp, "porthog_netns_port_range_high", netns=n), [41063], "range high")
        # the probes, as the kubelet sends them to the pod IP
        for probe in ("readinessProbe", "livenessProbe"):
            check_eq(fetch(pod.url + c[probe]["httpGet"]["path"])[0], 200, f"{probe} answered")
        # the pod IP only: nothing on the pod's loopback
        r = subprocess.run(["ip", "netns", "exec", pod.podns, "python3", "-c",
                            "import socket; socket.create_connection(('127.0.0.1', 9873), 2)"],
                           capture_output=True, text=True)
        check("ConnectionRefusedError" in r.stderr, f"pod loopback refused: {r.stderr[-200:]}")
        pod.proc.terminate()
        check_eq(pod.proc.wait(20), 0, "exit code on SIGTERM")
    finally:
        if pod:
            pod.delete()
        ns.delete()
        cg.remove()


def test_kubernetes_pod_capabilities(tmp):
    """NET_ADMIN is not needed: with --snapshot=diag the pod finds a leak that predates
    it through sock_diag in the workload's namespace. SYS_PTRACE is: without it the pod
    cannot open the namespaces of the host's processes."""
    (pod_cg, wl_cg) = shapes()[0], shapes()[1]
    cg = Cgroups([pod_cg[1], wl_cg[1]])
    ns = Netns("phk8s", 41000, 41063)
    pod = None
    try:
        lk = leak(ns, tmp, cg.path(wl_cg[1])[0])
        n = ns.inode
        pod = Pod(tmp, cg.path(pod_cg[1])[0], extra=["--snapshot=diag"])
        check("NET_ADMIN" not in pod.caps, "the manifest's set has no NET_ADMIN")
        smp = pod.scrape_until(
            lambda s: values(s, "porthog_process_ports_held", pid=lk["pid"]) == [63],
            "the leak from the sock_diag snapshot")
        check_eq(values(smp, "porthog_netns_port_range_low", netns=n), [41000], "range low")
        check_eq(values(smp, "porthog_destination_ports_in_use", netns=n, dport=8080), [64],
                 "ports in use")
        check_eq(values(smp, "porthog_info", snapshot="diag"), [1], "the sock_diag snapshot")
        check("warning" not in pod.stderr(), f"no warnings: {pod.stderr()}")
        pod.delete()
        os.rename(os.path.join(tmp, "stage"), os.path.join(tmp, "stage-diag"))

        caps = [x for x in manifest()[2]["securityContext"]["capabilities"]["add"]
                if x != "SYS_PTRACE"]
        pod = Pod(tmp, cg.path(pod_cg[1])[0], caps=caps, extra=["--snapshot=diag"])
        check("cannot enter the host's cgroup namespace (Permission denied)" in pod.stderr(),
              f"without SYS_PTRACE: {pod.stderr()}")
        smp = pod.scrape_until(lambda s: values(s, "porthog_info", snapshot="diag") == [1],
                               "the pod without SYS_PTRACE to serve")
        check(values(smp, "porthog_netns_port_range_low", netns=n) != [41000] and
              values(smp, "porthog_process_ports_held", pid=lk["pid"]) != [63],
              "without SYS_PTRACE the workload's namespace stays out of reach")
    finally:
        if pod:
            pod.delete()
        ns.delete()
        cg.remove()

if __name__ == "__main__":
    run_tests(globals())
