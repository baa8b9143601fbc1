#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# bench/run.sh quick|full - porthog and its peers, same run, same workload.
#
#   full   (make bench)        writes bench/RESULTS.md            (~15 min)
#   quick  (make bench-quick)  writes build/bench-quick.md, prints it (< 3 min)
#
# Needs root, build/porthog, build/connstorm (make all build/connstorm); builds
# build/holder itself. Raw data: build/bench-MODE/results.jsonl and logs.
# bench/README.md explains each measurement. Knobs (environment):
#   PORTHOG=path          porthog binary to measure (default build/porthog)
#   PORTHOG_ALT=path      also measure a candidate build in the same rounds, as tools
#                         alt-top, alt-serve, alt-record (PORTHOG_ALT_DESC describes it)
#   BENCH_TOOLS="..."     subset of: top serve record trace tcpstates tcplife bpftrace floor
#   BENCH_PHASES="..."    subset of: overhead kcost evcost lossless snapshot memory
#   BENCH_KCOST_TOOLS="..." kcost phase tools (default: floor-btf top top-nocatch record
#                         record-nocatch, plus alt-top alt-record with PORTHOG_ALT)
#   BENCH_ROUNDS, BENCH_DUR, BENCH_THREADS   overhead rounds, seconds per run, client threads
#   BENCH_OUT=file        results markdown (default per mode)
set -euo pipefail

MODE=${1:-quick}
case $MODE in
quick | full) ;;
*)
	echo "usage: $0 quick|full" >&2
	exit 2
	;;
esac
if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: needs root (BPF, network namespaces)" >&2
	exit 3
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
PORTHOG=${PORTHOG:-$BUILD/porthog}
CONNSTORM=$BUILD/connstorm
HOLDER=$BUILD/holder
PH=(python3 "$ROOT/bench/phbench.py")
WORK=$BUILD/bench-$MODE
LOGS=$WORK/logs
RES=$WORK/results.jsonl
T_START=$(date +%s)

# ------------------------------------------------------------ parameters
if [ "$MODE" = full ]; then
	ROUNDS=${BENCH_ROUNDS:-9}
	DUR=${BENCH_DUR:-3}
	EV_REPS=3 EV_DUR=4
	KC_REPS=3 KC_DUR=3
	LOSS_RINGBUFS="65536 262144 1048576 4194304 16777216"
	LOSS_THREADS="2 16"
	LOSS_REPS=3 LOSS_DUR=4
	SNAP_LEVELS="10000 40000 100000"
	SNAP_REPS=5
	MEM_PROCS=10000 MEM_PER=10
	OUT=${BENCH_OUT:-$ROOT/bench/RESULTS.md}
	REPRO="make bench"
else
	ROUNDS=${BENCH_ROUNDS:-2}
	DUR=${BENCH_DUR:-2}
	EV_REPS=1 EV_DUR=2
	KC_REPS=3 KC_DUR=3
	LOSS_RINGBUFS="262144 4194304"
	LOSS_THREADS="16"
	LOSS_REPS=1 LOSS_DUR=2
	SNAP_LEVELS="10000 40000"
	SNAP_REPS=3
	MEM_PROCS=10000 MEM_PER=10
	OUT=${BENCH_OUT:-$BUILD/bench-quick.md}
	REPRO="make bench-quick"
fi
THREADS=${BENCH_THREADS:-2}
[ -z "${PORTHOG_ALT:-}" ] || REPRO="PORTHOG_ALT=$PORTHOG_ALT $REPRO"
TOOLS=${BENCH_TOOLS:-"top serve record trace tcpstates tcplife bpftrace floor"}
PORTHOG_ALT=${PORTHOG_ALT:-}
PORTHOG_ALT_DESC=${PORTHOG_ALT_DESC:-$PORTHOG_ALT}
if [ -n "$PORTHOG_ALT" ] && [ -z "${BENCH_TOOLS:-}" ]; then
	TOOLS+=" alt-top alt-serve alt-record"
fi
PHASES=${BENCH_PHASES:-"overhead kcost evcost lossless snapshot memory"}
KC_TOOLS=${BENCH_KCOST_TOOLS:-"floor-btf top top-nocatch record record-nocatch"}
if [ -n "$PORTHOG_ALT" ] && [ -z "${BENCH_KCOST_TOOLS:-}" ]; then
	KC_TOOLS+=" alt-top alt-record"
fi
FLOOR=$BUILD/floor
DEFAULT_RINGBUF=4194304
SNAP_PER_PROC=10000
LOAD_PORT=5000

log() { printf '[bench %4ds] %s\n' $(($(date +%s) - T_START)) "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }

# ------------------------------------------------------------ cleanup
declare -A BG=() # pid -> name of every background process we started
NETNS_LIST=()
TRACEFS_MOUNTED=0
OLD_BPF_STATS=
BGPID=

alive() {
	local s
	s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $s != Z* ]]
}

# start_bg NAME CMD...: run CMD in the background, remember it; pid in BGPID
start_bg() {
	local name=$1
	shift
	"$@" &
	BGPID=$!
	BG[$BGPID]=$name
}

# stop_bg PID [SIGNAL]: signal, wait up to 5 s, then SIGKILL; reap
stop_bg() {
	local pid=$1 sig=${2:-INT} i
	[ -n "${BG[$pid]+x}" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "BG[$pid]"
}

netns_add() {
	ip netns add "$1"
	NETNS_LIST+=("$1")
	ip -n "$1" link set lo up
	# wide port range, quick FIN_WAIT2 reaping, deep accept queues
	ip netns exec "$1" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
		net.ipv4.tcp_fin_timeout=1 net.core.somaxconn=65535 >/dev/null
}

netns_del() {
	local ns=$1 p
	for p in $(ip netns pids "$ns" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null || true
	done
	ip netns del "$ns" 2>/dev/null || true
	local keep=() x
	for x in "${NETNS_LIST[@]}"; do
		[ "$x" = "$ns" ] || keep+=("$x")
	done
	NETNS_LIST=("${keep[@]}")
}

cleanup() {
	local rc=$? pid ns
	set +e
	trap - EXIT INT TERM
	for pid in "${!BG[@]}"; do
		kill -INT "$pid" 2>/dev/null
	done
	for pid in "${!BG[@]}"; do
		stop_bg "$pid" TERM
	done
	for ns in "${NETNS_LIST[@]}"; do
		[ -n "$ns" ] && netns_del "$ns"
	done
	[ -n "$OLD_BPF_STATS" ] && sysctl -q -w kernel.bpf_stats_enabled="$OLD_BPF_STATS" >/dev/null
	[ "$TRACEFS_MOUNTED" = 1 ] && umount /sys/kernel/tracing 2>/dev/null
	rm -f "$WORK"/*.phog
	if [ "$rc" != 0 ]; then
		log "failed or interrupted (exit $rc); everything we started is stopped"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ preflight
[ -x "$PORTHOG" ] || die "$PORTHOG missing: run make"
[ -x "$CONNSTORM" ] || make -C "$ROOT" build/connstorm >/dev/null
if has_phase kcost && { [ ! -x "$FLOOR" ] || [ ! -f "$BUILD/floor.bpf.o" ]; }; then
	make -C "$ROOT" build/floor build/floor.bpf.o >/dev/null
fi
if [ ! -x "$HOLDER" ] || [ "$ROOT/bench/holder.c" -nt "$HOLDER" ]; then
	cc -O2 -g -std=gnu11 -Wall -Wextra -Werror "$ROOT/bench/holder.c" -o "$HOLDER"
fi
for t in tcpstates tcplife; do
	p=$(command -v "$t" || true)
	[ -n "$p" ] || p=$(dpkg -L libbpf-tools 2>/dev/null | grep -m1 "/$t\$" || true)
	printf -v "BIN_${t^^}" '%s' "$p"
done
BIN_BPFTRACE=$(command -v bpftrace || true)
if ! mountpoint -q /sys/kernel/tracing; then
	mount -t tracefs nodev /sys/kernel/tracing
	TRACEFS_MOUNTED=1
fi
mkdir -p "$LOGS"
rm -f "$RES" "$LOGS"/* "$WORK"/*.phog
# measure a private copy: build/ may be rebuilt while the benchmark runs
cp "$PORTHOG" "$WORK/porthog"
PORTHOG=$WORK/porthog
if [ -n "$PORTHOG_ALT" ]; then
	cp "$PORTHOG_ALT" "$WORK/porthog-alt"
	PORTHOG_ALT=$WORK/porthog-alt
fi

# record may not exist in every build: try it once
RECORD_OK=1 RECORD_ERR=
if ! "$PORTHOG" record --help >/dev/null 2>&1; then
	RECORD_OK=0
	RECORD_ERR=$("$PORTHOG" record --help 2>&1 | tail -n1 || true)
	RECORD_ERR=${RECORD_ERR//\"/\'}
	log "porthog record unavailable: $RECORD_ERR"
fi

"${PH[@]}" machine | python3 -c 'import json,sys; d=json.load(sys.stdin); d["kind"]="machine"; print(json.dumps(d))' >>"$RES"
log "machine: $(nproc) CPUs, $(uname -r); mode $MODE; results -> $OUT"

# ------------------------------------------------------------ tracers
SKIP=" "
LAST_ERR=

# start_tracer TOOL TAG [extra porthog args...]: start, wait for its event loop; pid in TPID
start_tracer() {
	local tool=$1 tag=$2
	shift 2
	local err=$LOGS/$tool-$tag.err bin=$PORTHOG
	TPID=
	if [[ $tool == alt-* ]]; then
		[ -x "$PORTHOG_ALT" ] || {
			LAST_ERR="PORTHOG_ALT not set or not executable"
			return 1
		}
		bin=$PORTHOG_ALT
	fi
	case ${tool#alt-} in
	top) start_bg "$tool" "$bin" top --json --interval 1 "$@" >/dev/null 2>"$err" ;;
	top-nocatch)
		start_bg "$tool" "$bin" top --json --interval 1 --no-nest-catch "$@" >/dev/null 2>"$err"
		;;
	record-nocatch)
		start_bg "$tool" "$bin" record -o "$WORK/$tool-$tag.phog" --no-nest-catch "$@" \
			>/dev/null 2>"$err"
		;;
	floor-btf) start_bg "$tool" "$FLOOR" "$BUILD/floor.bpf.o" >/dev/null 2>"$err" ;;
	serve) start_bg "$tool" "$bin" serve --listen 127.0.0.1:0 "$@" >/dev/null 2>"$err" ;;
	record)
		if ! "$bin" record --help >/dev/null 2>&1; then
			LAST_ERR="record: $("$bin" record --help 2>&1 | tail -n1 | tr -d '"\\')"
			return 1
		fi
		start_bg "$tool" "$bin" record -o "$WORK/$tool-$tag.phog" "$@" >/dev/null 2>"$err"
		;;
	trace) start_bg "$tool" "$bin" trace --json "$@" >/dev/null 2>"$err" ;;
	tcpstates | tcplife)
		local bin=BIN_${tool^^}
		[ -n "${!bin}" ] || {
			LAST_ERR="$tool not installed (libbpf-tools)"
			return 1
		}
		start_bg "$tool" "${!bin}" >/dev/null 2>"$err"
		;;
	bpftrace)
		[ -n "$BIN_BPFTRACE" ] || {
			LAST_ERR="bpftrace not installed"
			return 1
		}
		start_bg "$tool" env BPFTRACE_MAP_KEYS_MAX=131072 "$BIN_BPFTRACE" "$ROOT/bench/peer.bt" \
			>/dev/null 2>"$err"
		;;
	floor)
		# the floor: an empty BPF program on the same tracepoint (what any
		# tracer of inet_sock_set_state pays before doing anything)
		[ -n "$BIN_BPFTRACE" ] || {
			LAST_ERR="bpftrace not installed"
			return 1
		}
		start_bg "$tool" "$BIN_BPFTRACE" -e 'tracepoint:sock:inet_sock_set_state { }' \
			>/dev/null 2>"$err"
		;;
	*) die "unknown tool $tool" ;;
	esac
	TPID=$BGPID
	if ! "${PH[@]}" ready "$TPID" --timeout 60; then
		LAST_ERR="$tool did not start: $(grep -v '^$' "$err" | tail -n1 | tr -d '"\\' | cut -c1-150)"
		stop_bg "$TPID"
		TPID=
		return 1
	fi
	sleep 0.3
}

stop_tracer() {
	[ -n "${TPID:-}" ] && stop_bg "$TPID" INT
	TPID=
	rm -f "$WORK"/*.phog
}

# runload OUT-EXTRA-JSON THREADS DURATION [PID]: one connstorm client run in $NS
runload() {
	local extra=$1 threads=$2 dur=$3 pid=${4:-0}
	"${PH[@]}" runload --out "$RES" --pid "$pid" --server-pid "$SERVER_PID" --extra "$extra" -- \
		ip netns exec "$NS" "$CONNSTORM" --addr 127.0.0.1 --port "$LOAD_PORT" \
		--threads "$threads" --mode rst --duration "$dur" --json || true
}

json_err() { printf '%s' "$1" | tr -d '"\\' | cut -c1-200; }

NS=phb$$-load
SERVER_CMD="connstorm --server --addr 127.0.0.1 --port $LOAD_PORT --threads 2"
LOAD_CMD="connstorm --addr 127.0.0.1 --port $LOAD_PORT --threads $THREADS --mode rst --duration $DUR --json"
if has_phase overhead || has_phase kcost || has_phase evcost || has_phase lossless; then
	netns_add "$NS"
	start_bg server ip netns exec "$NS" "$CONNSTORM" --server --addr 127.0.0.1 \
		--port "$LOAD_PORT" --threads 2 >"$LOGS/server.out" 2>&1
	SERVER_PID=$BGPID
	for ((i = 0; i < 100; i++)); do
		grep -q READY "$LOGS/server.out" && break
		sleep 0.05
	done
	grep -q READY "$LOGS/server.out" || die "connstorm server did not start"
	# warm up (page cache, CPU frequency, socket slabs)
	ip netns exec "$NS" "$CONNSTORM" --addr 127.0.0.1 --port "$LOAD_PORT" --threads "$THREADS" \
		--mode rst --duration 1 --json >/dev/null
fi

# ------------------------------------------------------------ 1. overhead
if has_phase overhead; then
	read -r -a tl <<<"$TOOLS"
	n=${#tl[@]}
	for ((r = 1; r <= ROUNDS; r++)); do
		log "overhead round $r/$ROUNDS"
		seq=0
		runload "{\"kind\":\"overhead\",\"round\":$r,\"seq\":$seq,\"tool\":\"base\",\"threads\":$THREADS}" "$THREADS" "$DUR"
		for ((k = 0; k < n; k++)); do
			t=${tl[$(((k + r - 1) % n))]}
			[[ $SKIP == *" $t "* ]] && continue
			seq=$((seq + 1))
			if start_tracer "$t" "r$r"; then
				runload "{\"kind\":\"overhead\",\"round\":$r,\"seq\":$seq,\"tool\":\"$t\",\"threads\":$THREADS}" \
					"$THREADS" "$DUR" "$TPID"
				stop_tracer
			else
				log "  $LAST_ERR (skipped from now on)"
				SKIP+="$t "
				echo "{\"kind\":\"overhead\",\"round\":$r,\"seq\":$seq,\"tool\":\"$t\",\"ok\":false,\"error\":\"$(json_err "$LAST_ERR")\"}" >>"$RES"
			fi
			seq=$((seq + 1))
			runload "{\"kind\":\"overhead\",\"round\":$r,\"seq\":$seq,\"tool\":\"base\",\"threads\":$THREADS}" "$THREADS" "$DUR"
		done
	done
fi

# ------------------------------------------------------------ 1b. in-kernel ns per connect
# Each tool alone under the connect + RST loop, KC_REPS times in rotating order,
# kernel.bpf_stats_enabled=1: run_time_ns of its programs over the load / connects.
if has_phase kcost; then
	OLD_BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
	read -r -a kl <<<"$KC_TOOLS"
	for ((r = 1; r <= KC_REPS; r++)); do
		log "in-kernel cost per connect $r/$KC_REPS"
		for ((k = 0; k < ${#kl[@]}; k++)); do
			t=${kl[$(((k + r - 1) % ${#kl[@]}))]}
			if start_tracer "$t" "kc$r"; then
				runload "{\"kind\":\"kcost\",\"rep\":$r,\"tool\":\"$t\"}" "$THREADS" "$KC_DUR" "$TPID"
				stop_tracer
			else
				log "  $LAST_ERR"
				echo "{\"kind\":\"kcost\",\"rep\":$r,\"tool\":\"$t\",\"ok\":false,\"error\":\"$(json_err "$LAST_ERR")\"}" >>"$RES"
			fi
		done
	done
	sysctl -q -w kernel.bpf_stats_enabled="$OLD_BPF_STATS" >/dev/null
	OLD_BPF_STATS=
fi

# ------------------------------------------------------------ 2. per-event cost
if has_phase evcost; then
	OLD_BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
	for ((r = 1; r <= EV_REPS; r++)); do
		log "per-event cost $r/$EV_REPS"
		for t in $TOOLS; do
			# same BPF programs as top
			if [ "${t#alt-}" = serve ] || [ "$t" = alt-record ]; then continue; fi
			[[ $SKIP == *" $t "* ]] && continue
			if start_tracer "$t" "ev$r"; then
				runload "{\"kind\":\"evcost\",\"rep\":$r,\"tool\":\"$t\"}" "$THREADS" "$EV_DUR" "$TPID"
				stop_tracer
			else
				log "  $LAST_ERR"
			fi
		done
	done
	sysctl -q -w kernel.bpf_stats_enabled="$OLD_BPF_STATS" >/dev/null
	OLD_BPF_STATS=
fi

# ------------------------------------------------------------ 3. throughput without loss
LOSS_TOOL=record
[ "$RECORD_OK" = 1 ] || LOSS_TOOL=trace
if has_phase lossless; then
	for ((r = 1; r <= LOSS_REPS; r++)); do
		for rb in $LOSS_RINGBUFS; do
			for th in $LOSS_THREADS; do
				log "lossless: $LOSS_TOOL --ringbuf-size $rb, $th threads ($r/$LOSS_REPS)"
				if start_tracer "$LOSS_TOOL" "loss$rb-$th-$r" --ringbuf-size "$rb"; then
					runload "{\"kind\":\"lossless\",\"cmd\":\"$LOSS_TOOL\",\"ringbuf\":$rb,\"threads\":$th,\"rep\":$r}" \
						"$th" "$LOSS_DUR" "$TPID"
					stop_tracer
				else
					log "  $LAST_ERR"
				fi
			done
		done
	done
fi

for pid in "${!BG[@]}"; do
	if [ "${BG[$pid]}" = server ]; then
		stop_bg "$pid" TERM
	fi
done
if [[ " ${NETNS_LIST[*]} " == *" $NS "* ]]; then
	netns_del "$NS"
fi

# ------------------------------------------------------------ 4. snapshot scale
# wait_sockets NS N: until N client sockets hold ports and FIN_WAIT2 leftovers are gone
wait_sockets() {
	local ns=$1 want=$2 i st inuse tw last=-1 same=0
	for ((i = 0; i < 1200; i++)); do
		st=$(ip netns exec "$ns" awk '/^TCP:/ {print $3, $7}' /proc/net/sockstat)
		read -r inuse tw <<<"$st"
		if [ "$tw" -le $((want / 100 + 10)) ]; then
			[ "$inuse" -lt "$want" ] || return 0
			# a few connects may fail; go on once the count holds still for 3 s
			if [ "$inuse" = "$last" ]; then
				same=$((same + 1))
				if [ "$same" -ge 30 ] && [ "$inuse" -ge $((want * 99 / 100)) ]; then
					log "  $inuse of $want sockets in use; going on"
					return 0
				fi
			else
				same=0
			fi
		fi
		last=$inuse
		sleep 0.1
	done
	log "  only $inuse sockets in use ($tw timewait) after 120 s, wanted $want"
	return 0
}

if has_phase snapshot; then
	for N in $SNAP_LEVELS; do
		ns=phb$$-snap$N
		P=$(((N + SNAP_PER_PROC - 1) / SNAP_PER_PROC))
		[ "$P" -ge 2 ] || P=2
		per=$((N / P))
		log "snapshot scale: $N sockets ($P processes x $per)"
		netns_add "$ns"
		pids=()
		for ((s = 0; s < (P + 1) / 2; s++)); do
			start_bg srv ip netns exec "$ns" "$CONNSTORM" --server --addr 127.0.0.1 \
				--port $((6000 + s)) --threads 1 >/dev/null 2>"$LOGS/snap-srv-$N-$s.err"
			pids+=("$BGPID")
		done
		sleep 0.3
		for ((c = 0; c < P; c++)); do
			start_bg held ip netns exec "$ns" "$CONNSTORM" --addr 127.0.0.1 --port $((6000 + c / 2)) \
				--threads 2 --mode held --max-held "$per" --duration 3600 --json \
				>/dev/null 2>"$LOGS/snap-held-$N-$c.err"
			pids+=("$BGPID")
		done
		wait_sockets "$ns" $((per * P))
		inuse=$(ip netns exec "$ns" awk '/^TCP:/ {print $3}' /proc/net/sockstat)
		echo "{\"kind\":\"snaplevel\",\"sockets\":$N,\"inuse\":$inuse,\"procs\":$P}" >>"$RES"
		ino=$(stat -c %i "/run/netns/$ns")
		cmds=("porthog snapshot" "porthog snapshot --json" "porthog snapshot --snapshot=diag" "ss -tanp" "ss -tan"
			"porthog snapshot --json --netns NS" "porthog snapshot --json --netns NS --no-sock-activity")
		[ -z "$PORTHOG_ALT" ] || cmds+=("alt snapshot --json")
		for ((r = 0; r < SNAP_REPS; r++)); do
			for ((k = 0; k < ${#cmds[@]}; k++)); do
				lb=${cmds[$(((k + r) % ${#cmds[@]}))]}
				case $lb in
				porthog*) read -r -a argv <<<"$PORTHOG ${lb#porthog }" ;;&
				*NS*) for i in "${!argv[@]}"; do [ "${argv[$i]}" != NS ] || argv[$i]=$ino; done ;;&
				alt*) read -r -a argv <<<"$PORTHOG_ALT ${lb#alt }" ;;
				ss*) read -r -a argv <<<"nsenter --net=/run/netns/$ns $lb" ;;
				esac
				"${PH[@]}" measure --label "$lb" --out "$RES" --extra "{\"sockets\":$N}" -- "${argv[@]}"
			done
		done
		for pid in "${pids[@]}"; do
			stop_bg "$pid" TERM
		done
		netns_del "$ns"
	done
fi

# ------------------------------------------------------------ 5. memory
if has_phase memory; then
	ns=phb$$-mem
	log "memory: $MEM_PROCS processes x $MEM_PER connections"
	netns_add "$ns"
	mpids=()
	# one listener for 127.0.0.1-10: at most 10k connections per destination
	start_bg srv ip netns exec "$ns" "$CONNSTORM" --server --addr 0.0.0.0 --port 7000 \
		--threads 2 >/dev/null 2>"$LOGS/mem-srv.err"
	mpids+=("$BGPID")
	start_bg top "$PORTHOG" top --json --interval 1 >"$WORK/mem-top.jsonl" 2>"$LOGS/mem-top.err"
	TOP_PID=$BGPID
	start_bg serve "$PORTHOG" serve --listen 127.0.0.1:0 >/dev/null 2>"$LOGS/mem-serve.err"
	SERVE_PID=$BGPID
	"${PH[@]}" ready "$TOP_PID" --timeout 60 || die "porthog top did not start (memory phase)"
	"${PH[@]}" ready "$SERVE_PID" --timeout 60 || die "porthog serve did not start (memory phase)"
	sleep 2
	"${PH[@]}" sample "$TOP_PID" >"$WORK/mem-top-idle.json"
	"${PH[@]}" sample "$SERVE_PID" >"$WORK/mem-serve-idle.json"
	start_bg holder ip netns exec "$ns" "$HOLDER" --addr 127.0.0.1 --port 7000 --addrs 10 \
		--procs "$MEM_PROCS" --per-proc "$MEM_PER" >"$WORK/holder.out" 2>"$LOGS/holder.err"
	HOLDER_PID=$BGPID
	for ((i = 0; i < 1800; i++)); do
		grep -q READY "$WORK/holder.out" && break
		alive "$HOLDER_PID" || break
		sleep 0.1
	done
	grep -q READY "$WORK/holder.out" || die "holder did not get ready: $(tail -n1 "$LOGS/holder.err")"
	log "  $(cat "$WORK/holder.out")"
	# let top, serve and their 1 s reconcile walks catch up
	sleep 4
	x="{\"procs\":$MEM_PROCS,\"per_proc\":$MEM_PER}"
	"${PH[@]}" memrec --out "$RES" --label "porthog top --json" --pid "$TOP_PID" \
		--idle "$WORK/mem-top-idle.json" --top-json "$WORK/mem-top.jsonl" --extra "$x"
	"${PH[@]}" memrec --out "$RES" --label "porthog serve" --pid "$SERVE_PID" \
		--idle "$WORK/mem-serve-idle.json" --serve-log "$LOGS/mem-serve.err" --extra "$x"
	stop_bg "$TOP_PID" INT
	stop_bg "$SERVE_PID" INT
	# one-shot commands: rusage peak RSS
	"${PH[@]}" measure --label "porthog snapshot --json" --out "$WORK/mem-oneshot.jsonl" -- \
		"$PORTHOG" snapshot --json
	"${PH[@]}" measure --label "ss -tanp" --out "$WORK/mem-oneshot.jsonl" -- \
		nsenter --net=/run/netns/$ns ss -tanp
	"$PORTHOG" snapshot --json >"$WORK/mem-snapshot.json" 2>/dev/null || true
	python3 - "$WORK/mem-oneshot.jsonl" "$WORK/mem-snapshot.json" "$RES" "$MEM_PROCS" "$MEM_PER" <<'EOF'
import json, sys
one, snap, res, procs, per = sys.argv[1:6]
try:
    s = json.load(open(snap))
except ValueError:
    s = {}
with open(res, "a") as out:
    for line in open(one):
        r = json.loads(line)
        rec = {"kind": "memory", "label": r["label"], "peak_kb": r["maxrss_kb"],
               "procs": int(procs), "per_proc": int(per)}
        if r["label"].startswith("porthog"):
            rec["sockets_tracked"] = s.get("sockets_tracked")
            rec["processes_tracked"] = s.get("processes_tracked")
        out.write(json.dumps(rec) + "\n")
EOF
	stop_bg "$HOLDER_PID" TERM
	for pid in "${mpids[@]}"; do
		stop_bg "$pid" TERM
	done
	netns_del "$ns"
fi

# ------------------------------------------------------------ report
ELAPSED=$(($(date +%s) - T_START))
ATTACH=$(cat "$LOGS"/*.err 2>/dev/null | grep -m1 -o 'attached with backend [^ ]*' | awk '{print $NF}' || true)
B_MODE=$MODE B_REPRO=$REPRO B_RAW=${WORK#"$ROOT"/}/results.jsonl B_ELAPSED=$ELAPSED \
	B_ATTACH=$ATTACH B_ROUNDS=$ROUNDS B_DUR=$DUR B_EV_REPS=$EV_REPS B_EV_DUR=$EV_DUR \
	B_LOSS_REPS=$LOSS_REPS B_LOSS_DUR=$LOSS_DUR B_KC_REPS=$KC_REPS B_KC_DUR=$KC_DUR B_DEFAULT_RINGBUF=$DEFAULT_RINGBUF \
	B_SNAP_REPS=$SNAP_REPS B_SNAP_PER_PROC=$SNAP_PER_PROC B_LOAD_CMD=$LOAD_CMD \
	B_SERVER_CMD=$SERVER_CMD B_RECORD_ERROR=$RECORD_ERR B_TOOLS=$TOOLS B_PHASES=$PHASES \
	B_ALT=$PORTHOG_ALT B_ALT_DESC=$PORTHOG_ALT_DESC \
	python3 - "$RES" <<'EOF'
import json, os, sys
e = {k[2:].lower(): v for k, v in os.environ.items() if k.startswith("B_")}
for k in ("elapsed", "rounds", "dur", "ev_reps", "ev_dur", "kc_reps", "kc_dur", "loss_reps", "loss_dur",
          "default_ringbuf", "snap_reps", "snap_per_proc"):
    e[k] = int(e[k])
e["elapsed_s"] = e.pop("elapsed")
e["kind"] = "meta"
e["command"] = "bench/run.sh " + e["mode"]
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(e) + "\n")
EOF
"${PH[@]}" report "$RES" "$OUT"
log "done in $((ELAPSED / 60))m$((ELAPSED % 60))s: $OUT"
if [ "$MODE" = quick ]; then
	cat "$OUT"
fi
