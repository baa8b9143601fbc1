#!/usr/bin/env bash
# make demo: reproduce the port leak in a network namespace and let porthog find it.
#
# A "web server" (ph_client --mode leaky) opens a new connection to its message
# broker (ph_server, port 5672) for every request and never closes it. A
# well-behaved neighbour uses one pooled connection. The namespace has only 64
# ephemeral ports, so the leak runs the host out in seconds instead of hours.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build
NS=porthog-demo
TMP=$(mktemp -d)

cleanup() {
	set +e
	[ -n "${TRACE_PID:-}" ] && kill -INT "$TRACE_PID" 2>/dev/null && wait "$TRACE_PID" 2>/dev/null
	[ -n "${REC_PID:-}" ] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
	[ -n "${EXPLAIN_PID:-}" ] && kill -INT "$EXPLAIN_PID" 2>/dev/null && wait "$EXPLAIN_PID" 2>/dev/null
	# the broker and the clients: every process in the demo's namespace, nothing else
	ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="41000 41063"
INODE=$(stat -c %i /run/netns/$NS)

say "network namespace $NS: ip_local_port_range 41000-41063 (64 ports), netns inode $INODE"
ip netns exec "$NS" $B/ph_server --addr 127.0.0.1 --port 5672 --ready-file "$TMP/broker" >/dev/null &
while [ ! -f "$TMP/broker" ]; do sleep 0.05; done
echo "message broker (ph_server) listening on 127.0.0.1:5672"

say "porthog trace: every connect(), failure and close, in the background"
$B/porthog trace --netns "$INODE" > "$TMP/trace.txt" 2> "$TMP/trace.err" &
TRACE_PID=$!
while ! grep -q "attached with backend" "$TMP/trace.err" 2>/dev/null; do
	kill -0 "$TRACE_PID" 2>/dev/null || { cat "$TMP/trace.err" >&2; exit 1; }
	sleep 0.05
done
cat "$TMP/trace.err"

say "porthog record --ring 30: a flight recorder that writes the last 30 s on the first EADDRNOTAVAIL"
$B/porthog record -o "$TMP/incident.phtrace" --ring 30 --post 1 --netns "$INODE" 2> "$TMP/rec.err" &
REC_PID=$!
while ! grep -q "flight recorder:" "$TMP/rec.err" 2>/dev/null; do
	kill -0 "$REC_PID" 2>/dev/null || { cat "$TMP/rec.err" >&2; exit 1; }
	sleep 0.05
done

say "porthog explain --duration 12: watches while it happens, then says why and what to do"
$B/porthog explain --duration 12 --netns "$INODE" > "$TMP/explain.txt" 2> "$TMP/explain.err" &
EXPLAIN_PID=$!
while ! grep -q "attached with backend" "$TMP/explain.err" 2>/dev/null; do
	kill -0 "$EXPLAIN_PID" 2>/dev/null || { cat "$TMP/explain.err" >&2; exit 1; }
	sleep 0.05
done

say "starting a pooled client (1 connection) and a leaky web server (1 new connection per request, 15 req/s, a heartbeat on each every second)"
ip netns exec "$NS" $B/ph_client --addr 127.0.0.1 --port 5672 --mode pooled --count 100 \
	--out "$TMP/pooled.log" --ready-file "$TMP/pooled.ready" &
while [ ! -f "$TMP/pooled.ready" ]; do sleep 0.05; done
ip netns exec "$NS" $B/ph_client --addr 127.0.0.1 --port 5672 --mode leaky --rate 15 \
	--heartbeat 1 --fail-count 5 --out "$TMP/leaky.log" --ready-file "$TMP/leaky.ready" &

say "porthog top --batch: headroom shrinks, the forecast counts down, then connects fail"
$B/porthog top --batch --interval 1 --count 6 --netns "$INODE" --eta-window 3 2>/dev/null

while [ ! -f "$TMP/leaky.ready" ]; do sleep 0.1; done
sleep 0.5
kill -INT "$TRACE_PID"
wait "$TRACE_PID" || true
TRACE_PID=

say "porthog trace caught every failed connect() (EADDRNOTAVAIL):"
head -n 1 "$TMP/trace.txt"
grep connect_failed "$TMP/trace.txt"

say "porthog snapshot: who holds the ports right now"
$B/porthog snapshot --netns "$INODE"

LEAKY=$(awk '$1=="pid"{print $2}' "$TMP/leaky.log")
HELD=$(grep -c '^connect ' "$TMP/leaky.log")
FAILS=$(grep -c '^failed 99' "$TMP/leaky.log")
say "offender: PID $LEAKY ($(tr '\0' ' ' < /proc/$LEAKY/cmdline | cut -c1-60)...) holds $HELD of 64 ports; $FAILS connects failed with EADDRNOTAVAIL"

wait "$REC_PID" || true
REC_PID=
say "porthog report: the postmortem from the flight recorder's file (no root needed)"
grep "trigger:" "$TMP/rec.err" || true
$B/porthog report "$TMP/incident.phtrace" | sed -n '/^OFFENDERS/,$p'

wait "$EXPLAIN_PID" || true
EXPLAIN_PID=
say "porthog explain: what is wrong, and what to do"
cat "$TMP/explain.txt"
