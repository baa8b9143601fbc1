# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Network namespace helpers for porthog tests. Source from bash:
#   . tests/lib/netns.sh
# Needs root and iproute2. Functions return non-zero on failure and
# print a one-line reason on stderr; they never exit the caller.

# ns_create NAME LO HI
# Fresh netns NAME with lo up (127.0.0.1 and ::1), ephemeral port range
# LO..HI and tcp_tw_reuse=0.
ns_create() {
	local name=$1 lo=$2 hi=$3

	if [[ -z $name || -z $lo || -z $hi ]]; then
		echo "ns_create: usage: ns_create NAME LO HI" >&2
		return 2
	fi
	ns_delete "$name"
	ip netns add "$name" || {
		echo "ns_create: ip netns add $name failed" >&2
		return 1
	}
	ip -n "$name" link set lo up || {
		echo "ns_create: cannot bring lo up in $name" >&2
		return 1
	}
	ip netns exec "$name" sysctl -qw \
		net.ipv4.ip_local_port_range="$lo $hi" \
		net.ipv4.tcp_tw_reuse=0 || {
		echo "ns_create: sysctl failed in $name" >&2
		return 1
	}
	# ::1 appears when lo comes up unless IPv6 is disabled; add if absent.
	if ! ip -n "$name" -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/'; then
		ip netns exec "$name" sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 2>/dev/null
		ip -n "$name" -6 addr add ::1/128 dev lo 2>/dev/null
		if ! ip -n "$name" -6 addr show dev lo | grep -q 'inet6 ::1/'; then
			echo "ns_create: no ::1 on lo in $name" >&2
			return 1
		fi
	fi
	return 0
}

# ns_delete NAME  (no error if NAME does not exist)
# Processes still running inside keep the stack alive: stop them first.
ns_delete() {
	local name=$1

	[[ -n $name ]] || return 2
	if ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$name"; then
		ip netns del "$name" || {
			echo "ns_delete: ip netns del $name failed" >&2
			return 1
		}
	fi
	return 0
}

# ns_exec NAME CMD [ARGS...]  (foreground; use ns_spawn for background)
ns_exec() {
	local name=$1

	shift
	ip netns exec "$name" "$@"
}

# wait_file PATH TIMEOUT_S  (TIMEOUT_S may be fractional, e.g. 2.5)
wait_file() {
	local path=$1 timeout=${2:-10} int frac deadline now

	int=${timeout%%.*}
	frac=
	[[ $timeout == *.* ]] && frac=${timeout#*.}
	frac=${frac}000000
	frac=${frac:0:6}
	if [[ ! ${int:-0} =~ ^[0-9]+$ || ! $frac =~ ^[0-9]+$ ]]; then
		echo "wait_file: invalid timeout '$timeout'" >&2
		return 2
	fi
	# microseconds, from bash 5's EPOCHREALTIME
	now=${EPOCHREALTIME/[.,]/}
	deadline=$((now + 10#${int:-0} * 1000000 + 10#$frac))
	while [[ ! -e $path ]]; do
		now=${EPOCHREALTIME/[.,]/}
		if ((now >= deadline)); then
			echo "wait_file: timed out after ${timeout}s waiting for $path" >&2
			return 1
		fi
		sleep 0.02
	done
	return 0
}

# ns_spawn NAME CMD [ARGS...]
# Run CMD in NAME in the background; NS_PID is set to CMD's own pid
# (unlike "ns_exec ... &", where $! is a bash subshell, not CMD).
ns_spawn() {
	local name=$1

	shift
	ip netns exec "$name" "$@" &
	# shellcheck disable=SC2034  # read by the caller
	NS_PID=$!
}
