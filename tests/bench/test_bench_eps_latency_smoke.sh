#!/usr/bin/env bash
# Keeps the EndpointSlice latency benchmark working: runs
# tests/bench/bench_eps_latency.sh with 60 Services on 3 hollow nodes and 30
# flips, and checks the table's shape, that all 30 flips reached their
# slice (p50 <= p99 <= max) and the published anchor. Never asserts on
# timings.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server hollow-nodes ctrl-bench
require_cmd curl

case_bench_table_well_formed() {
	local out rc line p50 p99 max
	out=$(BENCH_EPS_SERVICES=60 BENCH_EPS_NODES=3 BENCH_EPS_FLIPS=30 \
		bash "$SKIFF_ROOT/tests/bench/bench_eps_latency.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_eps_latency.sh exit status; output: $out"
	assert_contains "$out" "command: make bench B=eps_latency"
	assert_contains "$out" "load average"
	line=$(grep -E '^\| skiff: status patch sent -> slice updated, seen by a watch \(30 flips\) +\|' <<<"$out") ||
		fail "no latency row over 30 flips: $out"
	read -r p50 p99 max < <(awk -F'|' '{ print $3, $4, $5 }' <<<"$line")
	awk -v a="$p50" -v b="$p99" -v c="$max" 'BEGIN { exit !(a > 0 && a <= b && b <= c) }' ||
		fail "p50 $p50, p99 $p99, max $max out of order: $out"
	grep -qE '^\| skiff: the status patch itself \(round trip\) +\| +[0-9.]+ \| +[0-9.]+ \| +- \|$' <<<"$out" ||
		fail "patch row: $out"
	grep -qE '^\| Kubernetes network programming latency SLO \(published\) +\| +- \| +30000 \| +- \|$' <<<"$out" ||
		fail "anchor row: $out"
}

run_case bench_table_well_formed
finish
