#!/usr/bin/env bash
# Keeps the memory benchmark working: runs tests/bench/bench_server_mem.sh
# with 20 hollow nodes and 100 pods and checks the table's shape: every
# stage with an RSS and a peak no lower than it, the anchor row. Never
# asserts on sizes.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server hollow-nodes sched-api-bench
require_cmd curl

case_bench_table_well_formed() {
	local out rc row rss peak
	out=$(BENCH_MEM_NODES=20 BENCH_MEM_PODS=100 BENCH_MEM_STEADY=1 \
		bash "$SKIFF_ROOT/tests/bench/bench_server_mem.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_server_mem.sh exit status; output: $out"
	assert_contains "$out" "command: make bench B=server_mem"
	assert_contains "$out" "load average"
	for row in "20 nodes registered" "100 pods created and bound" "100 pods Running and Ready" "steady, 1s later"; do
		read -r rss peak < <(awk -F'|' -v r="skiff-server: $row" 'index($2, r) == 2 { print $3, $4 }' <<<"$out")
		[[ "$rss" =~ ^[0-9]+$ && "$peak" =~ ^[0-9]+$ ]] || fail "row '$row' lacks numbers: $out"
		[ "$rss" -gt 0 ] && [ "$peak" -ge "$rss" ] || fail "row '$row': RSS $rss, peak $peak: $out"
	done
	grep -qE '^\| the objects on disk: data dir with state.db and WAL \(anchor\) +\| +[0-9]+ \| +- \|$' <<<"$out" ||
		fail "anchor row: $out"
}

run_case bench_table_well_formed
finish
