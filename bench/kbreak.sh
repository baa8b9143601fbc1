#!/usr/bin/env bash
# Where porthog's in-kernel time per connect goes: builds of porthog with one
# part of the state program taken out (or changed), each measured with
# kernel.bpf_stats_enabled=1 under the connect + RST loop of bench/run.sh, in
# rotating order, beside the floor (an empty tp_btf program). Needs root.
#
#   bench/kbreak.sh [REPS]        (default 5; about 20 s per run)
#
# Variants (a copy of the tree is patched per variant under build/kbreak/):
#   full           porthog as it is (top --json: catcher and bind()/UDP watch on)
#   no-ringbuf     events are filled but no ring buffer record is reserved
#   no-owner       connect records no owner: nothing after it finds one
#   dispatch       the state program returns at once (after the catcher's note)
#   owner-sk       owners in socket-local storage (bench/experiments/owner-sk.patch)
# plus porthog top with --no-nest-catch, --bind-udp=off, and the floor.
# Output: one line per run on stdout (JSON), a table at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=${1:-5}
OUT=$ROOT/build/kbreak
DUR=${KBREAK_DUR:-3}
mkdir -p "$OUT"
[ "$(id -u)" = 0 ] || { echo "kbreak: needs root" >&2; exit 1; }

variant_edit() { # DIR NAME: patch the copy in DIR
	local dir=$1 name=$2
	case $name in
	full) return 0 ;;
	owner-sk)
		(cd "$dir" && git apply "$ROOT/bench/experiments/owner-sk.patch")
		return
		;;
	esac
	python3 - "$dir/bpf/porthog.bpf.c" "$name" <<'PY'
import sys
path, name = sys.argv[1], sys.argv[2]
s = open(path).read()
edits = {
    "no-ringbuf": ("\te = bpf_ringbuf_reserve(&events, sizeof(*e), 0);\n\tif (!e) {\n\t\tstat_inc(PH_STAT_LOST);\n\t\treturn;\n\t}\n\tfill_event(e, sk, o, type, err, oldstate, flags, direct);\n\tsubmit(e);",
                   "\tstruct ph_event ev;\n\n\tfill_event(&ev, sk, o, type, err, oldstate, flags, direct);\n\te = &ev;\n\tasm volatile(\"\" : : \"r\"(e) : \"memory\");"),
    "no-owner": ("\tif (bpf_map_update_elem(&owners, &key, &o, BPF_ANY))",
                 "\treturn;\n\tif (bpf_map_update_elem(&owners, &key, &o, BPF_ANY))"),
    "dispatch": ("\tif (!state_matters(oldstate, newstate))\n\t\treturn 0;\n\treturn handle_set_state(sk, oldstate, newstate, true);\n}\n\nSEC(\"raw_tp",
                 "\treturn 0;\n}\n\nSEC(\"raw_tp"),
}
a, b = edits[name]
if s.count(a) != 1:
    sys.exit("kbreak: variant %s no longer applies to bpf/porthog.bpf.c" % name)
open(path, "w").write(s.replace(a, b))
PY
}

build_variant() {
	local name=$1 dir=$OUT/$1
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$dir")
	(cd "$dir" && git init -q && git add -A >/dev/null)
	variant_edit "$dir" "$name"
	make -s -C "$dir" build/porthog >/dev/null
}

VARIANTS="full no-ringbuf no-owner dispatch owner-sk"
make -s -C "$ROOT" build/porthog build/connstorm build/floor build/floor.bpf.o >/dev/null
for v in $VARIANTS; do
	echo "kbreak: building $v" >&2
	build_variant "$v"
done

NS=phkb$$
SP=
cleanup() {
	[ -n "$SP" ] && kill "$SP" 2>/dev/null
	sysctl -q -w kernel.bpf_stats_enabled=0
	ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
	net.ipv4.tcp_fin_timeout=1 net.core.somaxconn=65535
ip netns exec "$NS" "$ROOT/build/connstorm" --server --addr 127.0.0.1 --port 5000 --threads 2 \
	>"$OUT/server.out" 2>&1 &
SP=$!
sleep 0.3
load() {
	ip netns exec "$NS" "$ROOT/build/connstorm" --addr 127.0.0.1 --port 5000 --threads 2 \
		--mode rst --duration "$1" --json
}
load 1 >/dev/null
sysctl -q -w kernel.bpf_stats_enabled=1

# tool label -> command
declare -A CMD=(
	[floor]="$ROOT/build/floor"
	[full]="$OUT/full/build/porthog top --json"
	[no-nest-catch]="$OUT/full/build/porthog top --json --no-nest-catch"
	[no-bind-udp]="$OUT/full/build/porthog top --json --bind-udp=off"
	[no-ringbuf]="$OUT/no-ringbuf/build/porthog top --json"
	[no-owner]="$OUT/no-owner/build/porthog top --json"
	[dispatch]="$OUT/dispatch/build/porthog top --json"
	[owner-sk]="$OUT/owner-sk/build/porthog top --json"
)
TOOLS="floor full no-nest-catch no-bind-udp no-ringbuf no-owner dispatch owner-sk"
read -r -a tl <<<"$TOOLS"
RES=$OUT/results.jsonl
: >"$RES"
for ((r = 0; r < REPS; r++)); do
	for ((k = 0; k < ${#tl[@]}; k++)); do
		t=${tl[$(((k + r) % ${#tl[@]}))]}
		# shellcheck disable=SC2086
		${CMD[$t]} >/dev/null 2>"$OUT/$t.err" &
		tp=$!
		sleep 1.5
		bpftool prog show --json >"$OUT/a.json"
		load "$DUR" >"$OUT/load.json"
		bpftool prog show --json >"$OUT/b.json"
		kill -INT "$tp"
		wait "$tp" || true
		python3 - "$t" "$r" "$OUT" >>"$RES" <<'PY'
import json, sys
t, r, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
a = {p["id"]: p for p in json.load(open(out + "/a.json"))}
b = json.load(open(out + "/b.json"))
n = json.load(open(out + "/load.json"))["connects"]
progs = {}
for p in b:
    q = a.get(p["id"])
    if not q or p.get("type") == "tracing" and p.get("name", "").startswith("iter_"):
        continue
    dn = p.get("run_cnt", 0) - q.get("run_cnt", 0)
    dt = p.get("run_time_ns", 0) - q.get("run_time_ns", 0)
    if dn > 0:
        progs[p["name"]] = round(dt / n, 1)
print(json.dumps({"tool": t, "rep": r, "connects": n, "ns_per_connect": round(sum(progs.values()), 1),
                  "progs": progs}))
PY
		tail -n 1 "$RES"
	done
done

python3 - "$RES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["tool"], []).append(r)
floor = statistics.median(r["ns_per_connect"] for r in by["floor"])
print("\n| variant | ns per connect | × floor | state program | catcher | cgroup programs |")
print("| --- | --- | --- | --- | --- | --- |")
for t, rs in by.items():
    def med(f):
        return statistics.median(f(r) for r in rs)
    tot = med(lambda r: r["ns_per_connect"])
    sp = med(lambda r: sum(v for k, v in r["progs"].items() if k in ("tp_set_state", "floor_set_state")))
    ca = med(lambda r: r["progs"].get("tp_catch_state", 0))
    cg = med(lambda r: sum(v for k, v in r["progs"].items() if k.startswith("ph_")))
    lo, hi = min(r["ns_per_connect"] for r in rs), max(r["ns_per_connect"] for r in rs)
    print("| %s | %s [%s–%s] | %.1f | %s | %s | %s |" % (
        t, f"{tot:,.0f}", f"{lo:,.0f}", f"{hi:,.0f}", tot / floor, f"{sp:,.0f}", f"{ca:,.0f}", f"{cg:,.0f}"))
PY
