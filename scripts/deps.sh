#!/usr/bin/env bash
# Install the Debian packages porthog needs to build, test and benchmark.
# Safe to run any number of times: it only installs what is missing.
set -euo pipefail

PKGS=(
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc
	libmnl-dev libmicrohttpd-dev libncurses-dev
	iproute2 procps python3 python3-yaml util-linux tmux dpkg-dev lintian binutils nftables
	prometheus chromium libbpf-tools bpftrace libclang-rt-14-dev
	nginx redis-server curl python3-redis
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "porthog: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi
echo "porthog: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
