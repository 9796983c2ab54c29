#!/usr/bin/env bash
# Keeps the scheduler benchmark working: runs tests/bench/bench_sched.sh
# with tiny counts and checks the table's shape, and that sched-bench fails
# when pods cannot all be placed and on bad usage. Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"

require_bin sched-bench
DRIVER="$TESTBIN/sched-bench"

case_bench_table_well_formed() {
	local out rc row
	out=$(BENCH_SCHED_NODES=150 BENCH_SCHED_PODS=300 BENCH_SCHED_OWNERS=7 \
		bash "$SKIFF_ROOT/tests/bench/bench_sched.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_sched.sh exit status; output: $out"
	assert_contains "$out" "150 nodes, 300 pods"
	for row in "scheduling cycles, pods/s" "add + cycle + confirm, pods/s" "peak RSS, MiB"; do
		grep -qE "^\| ${row//+/\\+} +\| +[0-9.]+ \| +[0-9.]+ \|$" <<<"$out" ||
			fail "row '$row' lacks two numbers: $out"
	done
	# 150 nodes: 50% - 1% = 49%, at least 100 nodes
	grep -qE "^\| nodes evaluated per pod +\| +100 \| +100 \|$" <<<"$out" || fail "sampling: $out"
}

case_driver_fails_when_pods_do_not_fit() {
	local out rc
	# one node of 4 cpu takes 40 pods of 100m: 10 stay unschedulable
	out=$("$DRIVER" 1 50 0 2>&1)
	rc=$?
	assert_eq "$rc" 1 "exit status with unschedulable pods; output: $out"
	assert_contains "$out" "bound=40 unschedulable=10"
}

case_driver_rejects_bad_usage() {
	local err
	err=$("$DRIVER" many 2>&1 >/dev/null)
	assert_eq "$?" 2
	assert_contains "$err" "Usage: sched-bench [NODES [PODS [OWNERS]]]: 'many' is not a count"
}

run_case bench_table_well_formed
run_case driver_fails_when_pods_do_not_fit
run_case driver_rejects_bad_usage
finish
