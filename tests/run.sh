#!/usr/bin/env bash
# Runs every test of skiff and prints one summary line at the end:
#   N passed, N failed, N skipped
# Tests: C unit-test binaries build/tests/test_*, fuzz corpus replays
# build/tests/fuzz_* (corpus in tests/fuzz/corpus/<name>), and shell tests
# tests/**/test_*.sh. Each prints PASS/FAIL/SKIP lines; a program that
# exits non-zero without a FAIL line counts as one failure. What a test
# file leaves behind (processes, namespaces, links, routes, mounts, pins,
# cgroups, nft tables) is a FAIL line too, and is removed before the next
# file (tests/harness/leftovers.sh).
# Usage: tests/run.sh [PATTERN]   (runs only files whose path has PATTERN)
set -u
cd "$(dirname "$0")/.."
export SKIFF_ROOT=$PWD
export SKIFF_BUILD=${SKIFF_BUILD:-build}
pattern=${1:-}
per_file_timeout=${SKIFF_TEST_TIMEOUT:-900}
passed=0 failed=0 skipped=0
failed_names=()
log=$(mktemp -d /tmp/skiff-run-XXXXXX)
build_abs=$SKIFF_BUILD
[[ $build_abs == /* ]] || build_abs=$PWD/$build_abs
. tests/harness/leftovers.sh

# run NAME CMD...: runs one test file in a session of its own, tagged (see
# tests/harness/leftovers.sh), then reports and removes what it left.
run() {
	local name=$1 out rc p f s start sid tag last
	shift
	out="$log/$(echo "$name" | tr '/' '_').log"
	start=$(date +%s)
	echo "== $name"
	leftover_snapshot "$build_abs" >"$log/before"
	tag=z$(printf '%02x' $(( RANDOM & 0xff )))
	while grep -q "$tag" "$log/before"; do tag=z$(printf '%02x' $(( RANDOM & 0xff ))); done
	SKIFF_RUN_PREFIX=$tag setsid timeout --kill-after=10 "$per_file_timeout" "$@" >"$out" 2>&1 </dev/null &
	sid=$!
	wait "$sid"
	rc=$?
	last=$(tail -n 1 "$out")
	leftover_check "$name" "$build_abs" "$sid" "$tag" "$log/before" >>"$out"
	p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out"); s=$(grep -c '^SKIP ' "$out")
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && [ "$f" -eq 0 ]; then
		[ "$rc" -eq 124 ] && echo "FAIL $name: timed out after ${per_file_timeout}s" >>"$out" \
			|| echo "FAIL $name: exited $rc" >>"$out"
		f=1
	fi
	if [ "$rc" -eq 4 ] && [ "$p" -eq 0 ] && [ "$s" -eq 0 ]; then
		echo "SKIP $name: $last" >>"$out"; s=1
	fi
	grep -E '^(PASS |SKIP |note: )' "$out"
	if [ "$f" -gt 0 ]; then
		# FAIL lines and assertion locations first: a long "got" value
		# or a chatty program can push them out of the tail.
		grep -E '^FAIL |^[^ :|]+\.(sh|c|h):[0-9]+: ' "$out" | cut -c 1-300 | head -n 20
		echo "--- output of $name (last 60 lines):"
		tail -n 60 "$out" | sed 's/^/  /'
		failed_names+=("$name")
	fi
	echo "   ($(( $(date +%s) - start ))s)"
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

shopt -s nullglob globstar
for t in "$SKIFF_BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	[[ "$t" == *"$pattern"* ]] || continue
	run "unit/$(basename "$t")" "$t"
done
for t in "$SKIFF_BUILD"/tests/fuzz_*; do
	[ -x "$t" ] || continue
	[[ "$t" == *"$pattern"* ]] || continue
	name=$(basename "$t"); name=${name#fuzz_}
	run "fuzz/$name" "$t" "tests/fuzz/corpus/$name"
done
for t in tests/**/test_*.sh; do
	[[ "$t" == *"$pattern"* ]] || continue
	run "${t#tests/}" bash "$t"
done

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failed_names[@]}"
fi
rm -rf "$log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
