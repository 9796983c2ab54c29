#!/usr/bin/env bash
# Keeps the hollow-nodes benchmark working: runs tests/bench/bench_hollow.sh
# with 50 nodes renewing every 2 s and checks the table's shape, that the
# steady window saw renewals and that the cleanup deleted every node and
# Lease; and that hollow-nodes refuses bad usage. Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server hollow-nodes
require_cmd curl

case_bench_table_well_formed() {
	local out rc row rate
	out=$(BENCH_HOLLOW_NODES=50 BENCH_HOLLOW_STEADY=3 BENCH_HOLLOW_INTERVAL=2 \
		bash "$SKIFF_ROOT/tests/bench/bench_hollow.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_hollow.sh exit status; output: $out"
	assert_contains "$out" "50 hollow nodes, Lease renewal every 2s"
	for row in "registration (Node + Lease), s" "registration, nodes/s" "renewals skipped" "renewal latency avg / max" \
		"skiff-server CPU, steady" "hollow-nodes CPU, steady" "skiff-server RSS / peak, MiB" \
		"hollow-nodes RSS / peak, MiB" "SIGTERM cleanup (delete all), s"; do
		grep -qE "^\| ${row//[()+]/.}[^|]* +\| +[0-9.]+%?( / [0-9.]+)? \|$" <<<"$out" ||
			fail "row '$row' lacks a number: $out"
	done
	rate=$(sed -n 's/^| steady Lease renewals\/s (goal 25) *| *\([0-9]*\) |$/\1/p' <<<"$out")
	[ -n "$rate" ] && [ "$rate" -gt 0 ] || fail "no steady renewals: $out"
	assert_contains "$out" "deleted_nodes=50 deleted_leases=50 "
}

case_tool_rejects_bad_usage() {
	local err
	err=$("$TESTBIN/hollow-nodes" --nodes 0 2>&1 >/dev/null)
	assert_eq "$?" 2
	assert_contains "$err" '--nodes: "0" is not a number from 1 to 32000'
	err=$("$TESTBIN/hollow-nodes" --nodes 5 --first-index 3 --no-lease 9 2>&1 >/dev/null)
	assert_eq "$?" 2
	assert_contains "$err" "--no-lease 9: no such node (nodes are 3..7)"
}

run_case bench_table_well_formed
run_case tool_rejects_bad_usage
finish
