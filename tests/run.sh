#!/usr/bin/env bash
# Run every test suite of porthog on the real kernel (needs root).
# Closes with one line: "N passed, N failed". Nothing is skipped.
set -u
cd "$(dirname "$0")/.."

pass=0
fail=0
failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Each suite prints "NAME: N passed, N failed" last; one that does not counts
# as a single test judged by its exit code.
suite() {
	local name=$1 rc line p f
	shift
	echo "=== $name: $*"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(grep -oE '[0-9]+ passed' <<<"$line" | tail -n 1 | cut -d' ' -f1)
		f=$(grep -oE '[0-9]+ failed' <<<"$line" | tail -n 1 | cut -d' ' -f1)
	elif [ "$rc" = 0 ]; then
		p=1 f=0
	else
		p=0 f=1
	fi
	# a suite that crashed after printing its counts still fails
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	[ "$f" = 0 ] || failed+=("$name")
}

suite unit build/unit_tests
mkdir -p build/fuzz-corpus
suite fuzz build/fuzz_tracefile -max_total_time="${FUZZ_SECONDS:-30}" -timeout=5 \
	-artifact_prefix=build/ build/fuzz-corpus tests/fuzz/corpus
for t in tests/e2e/test_*.py; do
	suite "$(basename "$t" .py)" python3 "$t"
done

echo
[ ${#failed[@]} -eq 0 ] || echo "failed suites: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
