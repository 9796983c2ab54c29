#!/usr/bin/env bash
# Keeps the API server benchmark working: runs tests/bench/bench_server.sh
# with tiny counts and checks the table's shape (every watcher got every
# event, or server-bench fails), and that the driver catches a list that
# misses pods and a server that is not there. Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_cmd etcd ip curl
require_bin skiff-server server-bench fanout-floor
DRIVER="$TESTBIN/server-bench"

# cell ROW-LABEL COLUMN: a trimmed cell of the markdown table.
cell() { awk -F'|' -v r="$1" -v c="$2" 'index($2, r) == 2 { gsub(/^ +| +$/, "", $c); print $c }' <<<"$out"; }

case_bench_table_well_formed() {
	local rc row col
	out=$(BENCH_SERVER_PODS=40 BENCH_SERVER_SAMPLES=10 BENCH_SERVER_WATCHERS=12 BENCH_SERVER_EVENTS=4 \
		BENCH_SERVER_WRITERS=1,4 BENCH_SERVER_WRITE_PODS=8 \
		bash "$SKIFF_ROOT/tests/bench/bench_server.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_server.sh exit status; output: $out"
	assert_contains "$out" "40 pods of ~2 KiB in 4 namespaces, 10 sampled gets/updates, 12 watchers x 4 events"
	# 15 rows, then the write phase's header, rule and 2 x 3 rows.
	assert_eq "$(grep -c '^| ' <<<"$out")" 23 "table rows in: $out"
	for row in "create p50" "get p50" "update (PUT)" "list all 40 pods" "watch delivery"; do
		for col in 3 4; do
			[[ $(cell "$row" $col) =~ ^[0-9]+\.[0-9]{2}\ /\ [0-9]+\.[0-9]{2}$ ]] ||
				fail "'$row' column $col is not 'p50 / p99' in ms: $out"
		done
	done
	for row in "create p50" "get p50" "list all 40 pods"; do
		[[ $(cell "$row" 5) =~ ^[0-9]+\.[0-9]{2}\ /\ [0-9]+\.[0-9]{2}\ \( ]] ||
			fail "etcd itself has no '$row' figure: $out"
	done
	for col in 3 4; do
		[[ $(cell "server RSS, 40 pods created" $col) =~ ^[0-9]+\ MiB$ ]] || fail "no server memory: $out"
	done
	[[ $(cell "server RSS, 40 pods listed" 5) =~ ^[0-9]+\ MiB$ ]] || fail "no etcd memory: $out"
	# etcd's own watches, timed as skiff's.
	[[ $(cell "watch delivery" 5) =~ ^[0-9]+\.[0-9]{2}\ /\ [0-9]+\.[0-9]{2}\ \(watch\)$ ]] ||
		fail "etcd itself has no watch delivery figure: $out"
	# The kernel's floor (fanout-floor) beside them, and its CPU.
	[[ $(cell "watch delivery" 6) =~ ^[0-9]+\.[0-9]{2}\ /\ [0-9]+\.[0-9]{2}$ ]] ||
		fail "no kernel floor for the watch delivery: $out"
	[[ $(cell "server CPU s, the 4 watched" 6) =~ ^[0-9]+\.[0-9]{2}$ ]] ||
		fail "no kernel floor CPU: $out"
	assert_contains "$out" "kernel floor (loopback TCP, no HTTP): fanout-floor, 12 connections x 4 events of 2300 bytes"
	for col in 3 4 5; do
		[[ $(cell "server threads" $col) =~ ^[0-9]+$ ]] || fail "no thread count in column $col: $out"
		[[ $(cell "server RSS, 12 watching" $col) =~ ^[0-9]+\ MiB$ ]] ||
			fail "no memory while watching in column $col: $out"
	done
	assert_contains "$out" "goal sqlite server peak RSS <= 200 MiB (12 watchers): "
	assert_contains "$out" "goal sqlite single-object p99 <= 10 ms: "
	assert_contains "$out" "goal etcd watch delivery p99 <= 50 ms: "
	for row in "1, create" "1, bind" "4, status"; do
		for col in 3 6; do
			[[ $(cell "$row" $col) =~ ^[0-9]+$ ]] || fail "'$row' column $col is not writes/s: $out"
		done
		[[ $(cell "$row" 4) =~ ^[0-9]+\.[0-9]{2}/[0-9]+\.[0-9]{2}$ ]] ||
			fail "'$row' has no SQLite p50/p99: $out"
	done
}

# The write phase fails when a write does: run twice on one server, the
# second run's creates find the pods there (409).
case_write_phase_catches_failed_write() {
	local err rc
	start_server
	"$DRIVER" --url "http://127.0.0.1:$PORT" --writers 2 --write-pods 3 \
		--server-pid "$SERVER_PID" >"$TMP/w.out" 2>&1 || fail "first run: $(cat "$TMP/w.out")"
	assert_contains "$(cat "$TMP/w.out")" "skiff status-c2 n=3 "
	err=$("$DRIVER" --url "http://127.0.0.1:$PORT" --writers 2 --write-pods 3 2>&1)
	rc=$?
	assert_eq "$rc" 1 "exit status of the second run: $err"
	assert_contains "$err" "at 2 in flight: HTTP 409"
}

# start_server: a fresh skiff-server on loopback (a random free port).
start_server() { start_skiff_server "$TMP/data" "$TMP/server.log" plain; }

# The driver checks what the list returned: told to expect more pods than
# the server holds (--existing skips the creates), it fails and says so.
case_driver_catches_short_list() {
	local err rc
	start_server
	"$DRIVER" --url "http://127.0.0.1:$PORT" --pods 6 --watchers 2 --events 2 \
		--server-pid "$SERVER_PID" >"$TMP/first.out" 2>&1 || fail "first run: $(cat "$TMP/first.out")"
	assert_contains "$(cat "$TMP/first.out")" "skiff watch-delivery n=4 "
	err=$("$DRIVER" --url "http://127.0.0.1:$PORT" --existing --pods 7 --samples 1 --watchers 0 2>&1)
	rc=$?
	assert_eq "$rc" 1 "exit status with 6 pods listed of 7: $err"
	assert_contains "$err" "list: 6 items (want 7)"
}

case_driver_reports_unreachable_server() {
	local err rc
	err=$("$DRIVER" --url http://127.0.0.1:1 --pods 1 --watchers 0 2>&1)
	rc=$?
	assert_eq "$rc" 1 "exit status without a server"
	assert_contains "$err" "POST http://127.0.0.1:1/api/v1/namespaces: "
}

case_driver_rejects_bad_usage() {
	local err
	err=$("$DRIVER" --pods 3 2>&1 >/dev/null)
	assert_eq "$?" 2
	assert_contains "$err" "--url is required"
	err=$("$DRIVER" --url http://x --watchers many 2>&1 >/dev/null)
	assert_eq "$?" 2
	assert_contains "$err" "--watchers: expected an integer >= 0, got 'many'"
	assert_contains "$("$DRIVER" --help)" "Usage: server-bench"
	assert_contains "$("$TESTBIN/fanout-floor" --help)" "Usage: fanout-floor"
	err=$("$TESTBIN/fanout-floor" --conns 0 2>&1 >/dev/null)
	assert_eq "$?" 2
	assert_contains "$err" "--conns"
	err=$(BENCH_SERVER_BACKENDS=mysql bash "$SKIFF_ROOT/tests/bench/bench_server.sh" 2>&1)
	assert_eq "$?" 1
	assert_contains "$err" "BENCH_SERVER_BACKENDS: unknown backend 'mysql'"
}

run_case bench_table_well_formed
run_case driver_catches_short_list
run_case write_phase_catches_failed_write
run_case driver_reports_unreachable_server
run_case driver_rejects_bad_usage
finish
