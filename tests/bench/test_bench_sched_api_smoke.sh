#!/usr/bin/env bash
# Keeps the scheduler end-to-end benchmark working: runs
# tests/bench/bench_sched_api.sh with 20 hollow nodes and 200 pods and checks
# the table's shape (every row with a number, the published anchors in it)
# and that every pod was seen bound. Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server hollow-nodes sched-api-bench sched-bench
require_cmd curl

case_bench_table_well_formed() {
	local out rc row
	out=$(BENCH_SCHED_API_NODES=20 BENCH_SCHED_API_PODS=200 BENCH_SCHED_API_INFLIGHT=8 \
		bash "$SKIFF_ROOT/tests/bench/bench_sched_api.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_sched_api.sh exit status; output: $out"
	assert_contains "$out" "command: make bench B=sched_api"
	assert_contains "$out" "load average"
	for row in "skiff: first create -> last binding seen by a watch (200 bound," "skiff: pod creates alone" \
		"skiff: scheduler core in-process" "kube-scheduler CI floor, SchedulingBasic 5000/10000 (published)" \
		"Godel, per shard (published)"; do
		grep -qE "^\| ${row//[()+]/.}[^|]* +\| +[0-9]+ \|$" <<<"$out" || fail "row '$row' lacks a number: $out"
	done
	grep -qE '^\| kube-scheduler CI floor[^|]*\| +270 \|$' <<<"$out" || fail "anchor row: $out"
}

run_case bench_table_well_formed
finish
