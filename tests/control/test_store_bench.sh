#!/usr/bin/env bash
# Keeps the store benchmark working: runs tests/bench/bench_store.sh with
# tiny counts and checks the table's shape and that every watcher got
# every event (store-bench fails otherwise). Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_cmd etcd ip curl
require_bin store-bench

case_bench_table_well_formed() {
	local out rc row
	out=$(BENCH_STORE_OBJECTS=50 BENCH_STORE_WATCHERS=8 BENCH_STORE_EVENTS=5 \
		bash "$SKIFF_ROOT/tests/bench/bench_store.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_store.sh exit status; output: $out"
	assert_contains "$out" "50 objects of 2048 bytes, 8 watchers x 5 events"
	for row in sqlite etcd etcd-direct; do
		# backend | c/c | g/g | u/u | list | w/w | rss: numbers in every cell
		grep -Eq "^$row +\| [0-9]+/[0-9]+ .*\| [0-9]+/[0-9]+ .*\| " <<<"$out" ||
			fail "no well-formed '$row' row in: $out"
	done
	grep -Eq '^sqlite .*\| [0-9]+/[0-9]+ +\| [0-9]+ KiB$' <<<"$out" ||
		fail "sqlite row lacks watch latency or memory: $out"
	assert_contains "$out" "goal sqlite single-object p99 <= 10000 us"
}

run_case bench_table_well_formed
finish
