"""Shared pieces of porthog's end-to-end tests: real namespaces, real sockets, real BPF.

Every test runs against the real kernel. Nothing is skipped: if BPF cannot load,
porthog exits non-zero and the test fails.
"""
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
PORTHOG = os.path.join(BUILD, "porthog")
SERVER = os.path.join(BUILD, "ph_server")
CLIENT = os.path.join(BUILD, "ph_client")


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure(f"{what}: got {got!r}, want {want!r}")


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise TestFailure(f"timed out after {timeout}s waiting for {what}")


class Netns:
    """A fresh network namespace with a narrowed ephemeral port range."""

    def __init__(self, name, lo=41000, hi=41063):
        # PH_NS_PREFIX keeps concurrent test runs (several work trees) apart
        self.name = name = os.environ.get("PH_NS_PREFIX", "") + name
        subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.run(["ip", "link", "set", "lo", "up"])
        self.sysctl("net.ipv4.ip_local_port_range", f"{lo} {hi}")
        self.sysctl("net.ipv4.tcp_tw_reuse", "0")
        self.inode = os.stat(f"/run/netns/{name}").st_ino
        self.procs = []

    def sysctl(self, key, value):
        self.run(["sysctl", "-qw", f"{key}={value}"])

    def run(self, args, **kw):
        return subprocess.run(["ip", "netns", "exec", self.name] + args, check=True, **kw)

    def popen(self, args, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.name] + args, **kw)
        self.procs.append(p)
        return p

    def delete(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", self.name], stderr=subprocess.DEVNULL)


class Workload:
    def __init__(self, tmp, name):
        self.tmp = tmp
        self.name = name
        self.log = os.path.join(tmp, f"{name}.log")
        self.ready = os.path.join(tmp, f"{name}.ready")
        self.proc = None

    def wait_ready(self, timeout=20):
        wait_for(lambda: os.path.exists(self.ready), timeout, f"{self.name} ready")

    @property
    def pid(self):
        with open(self.ready) as f:
            return int(f.read().split()[1])

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Server(Workload):
    def __init__(self, ns, tmp, addr="127.0.0.1", port=8080, extra=(), name="server"):
        super().__init__(tmp, name)
        self.addr, self.port = addr, port
        self.proc = ns.popen([SERVER, "--addr", addr, "--port", str(port),
                              "--ready-file", self.ready] + list(extra),
                             stdout=subprocess.DEVNULL)
        self.wait_ready()


def join_cgroup(directory):
    """A preexec_fn: move the child into a cgroup v2 directory before it execs (the
    mount namespace of `ip netns exec` no longer shows the cgroup mounts)."""
    def join():
        with open(os.path.join(directory, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    return join


class Client(Workload):
    """ph_client; its log says which ports it got and how often connect() failed.
    cgroup: a cgroup v2 directory it runs in from its start."""

    def __init__(self, ns, tmp, server, mode, extra=(), name=None, wait=True, timeout=60,
                 cgroup=None):
        super().__init__(tmp, name or mode)
        self.proc = ns.popen([CLIENT, "--addr", server.addr, "--port", str(server.port),
                              "--mode", mode, "--out", self.log,
                              "--ready-file", self.ready] + list(extra),
                             preexec_fn=join_cgroup(cgroup) if cgroup else None)
        if wait:
            self.wait_ready(timeout)

    def parse(self):
        res = {"pid": None, "ports": [], "failures": [], "errors": []}
        if not os.path.exists(self.log):
            return res
        with open(self.log) as f:
            for line in f:
                w = line.split()
                if not w:
                    continue
                if w[0] == "pid":
                    res["pid"] = int(w[1])
                elif w[0] == "connect":
                    res["ports"].append(int(w[1]))
                elif w[0] == "failed":
                    res["failures"].append(int(w[1]))
                elif w[0] == "error":
                    res["errors"].append(int(w[1]))
        return res


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


# Every porthog a test started and may not have stopped: run_tests kills what is
# left of them after each test, passed or failed.
_RUNNING = []


def kill_porthogs():
    """Kill (SIGKILL) and reap every porthog started through Porthog that still runs."""
    while _RUNNING:
        _RUNNING.pop().kill()


class Porthog:
    """porthog running in the root namespace, output captured to files.

    Never left running: if the constructor fails (porthog does not attach) it kills
    porthog before raising; `with Porthog(...) as ph:` kills it on leaving the block;
    run_tests kills any that a test (failing or not) left behind."""

    def __init__(self, tmp, args, name="porthog", wait_attach=True):
        self.out = os.path.join(tmp, f"{name}.out")
        self.err = os.path.join(tmp, f"{name}.err")
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([PORTHOG] + list(args), stdout=out, stderr=err)
        _RUNNING.append(self)
        if wait_attach:
            try:
                wait_for(lambda: self._ready(), 30, "porthog to attach")
            except BaseException:
                self.kill()
                raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    def kill(self):
        """SIGKILL porthog if it still runs, and reap it. Idempotent."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if self in _RUNNING:
            _RUNNING.remove(self)

    def _ready(self):
        if self.proc.poll() is not None:
            raise TestFailure(f"porthog exited with {self.proc.returncode}: {self.stderr()}")
        return "attached with backend" in self.stderr()

    def stderr(self):
        with open(self.err, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGINT, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("porthog did not exit on signal")
        if self in _RUNNING:
            _RUNNING.remove(self)
        return rc

    def json_lines(self):
        out = []
        with open(self.out) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
        return out


def porthog_run(args, timeout=120, **kw):
    return subprocess.run([PORTHOG] + list(args), capture_output=True, text=True,
                          timeout=timeout, **kw)


def run_tests(mod_globals):
    """Run every test_* function of the calling module; print a summary line."""
    name = os.path.basename(mod_globals["__file__"]).replace(".py", "")
    only = os.environ.get("PH_TEST_ONLY")
    passed = failed = 0
    for fn_name, fn in sorted(mod_globals.items()):
        if not fn_name.startswith("test_") or not callable(fn):
            continue
        if only and only not in fn_name:
            continue
        tmp = tempfile.mkdtemp(prefix=f"ph-{fn_name}-")
        t0 = time.time()
        try:
            fn(tmp)
            passed += 1
            print(f"ok   {name}.{fn_name} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # a failed assertion or a crash: both fail the test
            failed += 1
            print(f"FAIL {name}.{fn_name}: {e}", flush=True)
            if not isinstance(e, TestFailure):
                traceback.print_exc()
            print(f"     artifacts in {tmp}", flush=True)
        finally:
            kill_porthogs()
    print(f"{name}: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
