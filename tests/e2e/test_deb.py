#!/usr/bin/env python3
"""make deb: the package Debian's tools build, its contents and Depends, lintian, and
porthog run from a root the package was unpacked into."""
import gzip
import os
import re
import subprocess

from phlib import PORTHOG, ROOT, check, check_eq, run_tests

FILES = {
    "usr/sbin/porthog",
    "usr/share/man/man8/porthog.8.gz",
    "usr/lib/systemd/system/porthog.service",
    "usr/share/doc/porthog/alerts.yml",
    "usr/share/doc/porthog/grafana-dashboard.json",
    "usr/share/doc/porthog/copyright",
    "usr/share/doc/porthog/changelog.gz",
    "usr/share/lintian/overrides/porthog",
}


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def source_version():
    with open(os.path.join(ROOT, "user", "common.h")) as f:
        return re.search(r'#define PORTHOG_VERSION "([^"]+)"', f.read()).group(1)


def build():
    r = run(["make", "-s", "-C", ROOT, "deb"])
    check_eq(r.returncode, 0, f"make deb: {r.stderr[-2000:]}")
    deb = os.path.join(ROOT, r.stdout.strip().splitlines()[-1])
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    check_eq(os.path.basename(deb), f"porthog_{source_version()}_{arch}.deb", "package file name")
    return deb


def test_package_contents_and_depends(tmp):
    deb = build()
    field = lambda name: run(["dpkg-deb", "-f", deb, name]).stdout.strip()  # noqa: E731
    check_eq((field("Package"), field("Version"), field("Section")),
             ("porthog", source_version(), "net"), "control fields")
    listing = run(["dpkg-deb", "-c", deb]).stdout.splitlines()
    files = {line.split()[-1].lstrip("./") for line in listing if not line.startswith("d")}
    check_eq(files, FILES, "files in the package")
    for line in listing:
        check(" root/root " in line, f"owned by root: {line}")
    mode = {line.split()[-1].lstrip("./"): line.split()[0] for line in listing}
    check_eq(mode["usr/sbin/porthog"], "-rwxr-xr-x", "binary mode")
    check_eq(mode["usr/lib/systemd/system/porthog.service"], "-rw-r--r--", "unit mode")
    # installed, not enabled: no maintainer scripts, no symlink under /etc
    ctrl = run(["sh", "-c", f"dpkg-deb --ctrl-tarfile {deb} | tar -t"]).stdout.split()
    check_eq(sorted(c.lstrip("./") for c in ctrl if c.strip("./")), ["control", "md5sums"],
             "control members (no postinst that could enable the unit)")
    # Depends: every library the binary needs, by the package that ships it (shlibs)
    root = os.path.join(tmp, "root")
    check_eq(run(["dpkg", "-x", deb, root]).returncode, 0, "dpkg -x")
    deps = {d.split()[0] for d in field("Depends").split(", ")}
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]",
                        run(["readelf", "-d", f"{root}/usr/sbin/porthog"]).stdout)
    check(needed, "the binary is linked dynamically")
    for so in needed:
        path = run(["sh", "-c", f"ldconfig -p | awk '$1 == \"{so}\" {{print $NF; exit}}'"])
        path = os.path.realpath(path.stdout.strip())
        owner = run(["dpkg", "-S", path])
        if owner.returncode:  # usrmerge: dpkg knows the /lib path
            owner = run(["dpkg", "-S", path.replace("/usr/lib/", "/lib/", 1)])
        pkg = owner.stdout.split(":")[0]
        check(pkg in deps, f"{so} ({pkg}) in Depends: {sorted(deps)}")
    with open(os.path.join(root, "usr/share/doc/porthog/alerts.yml"), "rb") as a, \
            open(os.path.join(ROOT, "docs/alerts.yml"), "rb") as b:
        check_eq(a.read(), b.read(), "alert rules")
    with open(os.path.join(root, "usr/share/doc/porthog/grafana-dashboard.json"), "rb") as a, \
            open(os.path.join(ROOT, "deploy/grafana/porthog.json"), "rb") as b:
        check_eq(a.read(), b.read(), "dashboard")
    with gzip.open(os.path.join(root, "usr/share/man/man8/porthog.8.gz"), "rt") as f:
        check(f.readline().startswith(".TH PORTHOG 8 "), "man page")
    with open(os.path.join(root, "usr/lib/systemd/system/porthog.service")) as f:
        unit = f.read()
    check("\nExecStart=/usr/sbin/porthog serve\n" in unit, "the unit starts the packaged binary")


def test_unpacked_porthog_runs(tmp):
    """porthog --version, --help and a usage error from a temporary root: the packaged
    binary, with the host's libraries, no build tree."""
    deb = build()
    root = os.path.join(tmp, "root")
    check_eq(run(["dpkg", "-x", deb, root]).returncode, 0, "dpkg -x")
    bin_ = os.path.join(root, "usr", "sbin", "porthog")
    r = run([bin_, "--version"], cwd=tmp)
    check_eq((r.returncode, r.stdout, r.stderr), (0, f"porthog {source_version()}\n", ""),
             "porthog --version from the package")
    check_eq(r.stdout, run([PORTHOG, "--version"]).stdout, "the same version as the build")
    r = run([bin_, "--help"], cwd=tmp)
    check(r.returncode == 0 and "serve" in r.stdout, "porthog --help")
    r = run([bin_, "top", "--interval", "x"], cwd=tmp)
    check_eq(r.returncode, 2, f"usage error exit code: {r.stderr}")


def test_lintian_clean(tmp):
    deb = build()
    r = run(["lintian", "--pedantic", "--display-info", "--fail-on",
             "error,warning,info,pedantic", deb])
    tags = [line for line in (r.stdout + r.stderr).splitlines()
            if not line.startswith("running with root privileges")]
    check_eq((r.returncode, tags), (0, []), "lintian --pedantic")


if __name__ == "__main__":
    run_tests(globals())
