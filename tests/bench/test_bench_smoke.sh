#!/usr/bin/env bash
# Keeps `make bench` working: runs the CNI benchmark with tiny counts and
# checks the driver's bookkeeping (distinct addresses, failed calls, the
# table's shape). Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_cmd ip awk
require_bin cni-bench skiff-cni skiff-ipam
[ -x /usr/lib/cni/ptp ] && [ -x /usr/lib/cni/host-local ] ||
	skip "reference plugins missing in /usr/lib/cni (containernetworking-plugins)"

DRIVER="$TESTBIN/cni-bench"

# field N LINE: the Nth '|'-separated column of a table row, trimmed.
field() { awk -F'|' -v n="$1" '{ gsub(/^ +| +$/, "", $n); print $n }' <<<"$2"; }

# The table has a header and one well-formed row per plugin (the
# references and skiff's), with every concurrent ADD's address distinct.
case_bench_table_well_formed() {
	local rows="bridge ptp ipam-host-local skiff skiff-host-local ipam-skiff" out rc row col label ratios=""
	out=$(BENCH_ITERATIONS=5 BENCH_CONCURRENCY=4 BENCH_WARMUP=1 BENCH_TIMEOUT=10 BENCH_PLUGINS="$rows" \
		bash "$SKIFF_ROOT/tests/bench/bench_cni.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_cni.sh exit status; output: $out"
	assert_contains "$out" "5 sequential iterations"
	assert_eq "$(grep -c '^plugin ' <<<"$out")" 2 "two tables (CNI, IPAM alone) in: $out"
	row=$(grep -m1 '^plugin ' <<<"$out")
	assert_eq "$(awk -F'|' '{ print NF }' <<<"$row")" 9 "header columns: $row"
	assert_eq "$(field 7 "$row")" "4xADD total"
	assert_eq "$(field 9 "$row")" "ratio"

	for label in bridge+host-local ptp+host-local; do
		row=$(grep "^$label " <<<"$out")
		assert_ne "$row" "" "no $label row in: $out"
		assert_eq "$(awk -F'|' '{ print NF }' <<<"$row")" 9 "row columns: $row"
		for col in 2 3 4 5 6 7; do
			[[ $(field $col "$row") =~ ^[0-9]+\.[0-9]{2}$ ]] ||
				fail "column $col of '$row' is not a time in ms"
		done
		assert_eq "$(field 8 "$row")" "4/4" "$label distinct addresses"
		ratios+=" $(field 9 "$row")"
	done
	# Ratios are against the faster reference: one is 1.00, neither below.
	assert_contains "$ratios " " 1.00 " "reference ratios"
	for col in $ratios; do
		awk -v r="$col" 'BEGIN { exit !(r >= 1.0) }' || fail "reference ratio $col below 1.00"
	done

	# The IPAM table: host-local alone is its own reference.
	row=$(grep '^host-local-alone ' <<<"$out")
	assert_eq "$(field 8 "$row")" "4/4" "host-local alone distinct addresses: $out"
	assert_eq "$(field 9 "$row")" "1.00" "host-local alone ratio"
	row=$(grep '^skiff-ipam-alone ' <<<"$out")
	assert_eq "$(field 8 "$row")" "4/4" "skiff-ipam alone distinct addresses: $out"

	for col in skiff-cni+skiff-ipam skiff-cni+host-local; do
		row=$(grep "^$col " <<<"$out")
		assert_ne "$row" "" "no $col row in: $out"
		assert_eq "$(field 8 "$row")" "4/4" "$col distinct addresses"
		[[ $(field 9 "$row") =~ ^[0-9]+\.[0-9]{2}$ ]] || fail "$col ratio in '$row'"
	done
	assert_contains "$out" "goal: skiff-cni+skiff-ipam ADD+DEL p50 / fastest reference = "
}

# A plugin that hands every pod the same address must be caught: the
# driver reports fewer distinct addresses and exits 1.
case_driver_catches_duplicate_addresses() {
	mkdir -p "$TMP/dup"
	cat >"$TMP/dup/same-ip" <<-'EOF'
	#!/bin/sh
	cat >/dev/null
	[ "$CNI_COMMAND" = ADD ] || exit 0
	echo '{"cniVersion":"1.0.0","ips":[{"address":"10.9.9.9/24"}]}'
	EOF
	chmod +x "$TMP/dup/same-ip"
	echo '{"cniVersion":"1.0.0","name":"dup","type":"same-ip"}' >"$TMP/dup/conf.json"
	local out rc
	out=$("$DRIVER" --config "$TMP/dup/conf.json" --cni-path "$TMP/dup" --iterations 0 \
		--concurrency 3 --netns /x/a --netns /x/b --netns /x/c 2>"$TMP/dup/err")
	rc=$?
	assert_eq "$rc" 1 "exit status with duplicate addresses"
	assert_contains "$out" " count=3 failures=0 addresses=3 distinct=1 "
	assert_contains "$(cat "$TMP/dup/err")" "address 10.9.9.9 was handed out more than once"
}

# A failing plugin call is counted and its CNI error is shown: ptp with an
# invalid subnet, inside a namespace of the test's own.
case_driver_reports_plugin_errors() {
	setup_ns node pod
	cat >"$TMP/bad.json" <<-EOF
	{"cniVersion":"1.0.0","name":"bad-$RUN_ID","type":"ptp","ipMasq":false,
	 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.2.300/24"}]],"dataDir":"$TMP/bad"}}
	EOF
	local out rc
	out=$(in_ns node "$DRIVER" --config "$TMP/bad.json" --cni-path /usr/lib/cni \
		--iterations 2 --warmup 0 --id-prefix "$RUN_ID-bad" \
		--netns "/run/netns/$(ns pod)" 2>"$TMP/bad.err")
	rc=$?
	assert_eq "$rc" 1 "exit status when every ADD fails"
	assert_contains "$out" " iterations=2 ok=0 failures=4 "
	assert_contains "$(cat "$TMP/bad.err")" "ADD $RUN_ID"
	assert_contains "$(cat "$TMP/bad.err")" "10.1.2.300"
}

# A plugin call that never returns is killed after --timeout and counted
# as failed, so a hung plugin cannot hang the bench.
case_driver_kills_hung_plugin() {
	mkdir -p "$TMP/hang"
	printf '#!/bin/sh\ncat >/dev/null\nexec sleep 30\n' >"$TMP/hang/hang"
	chmod +x "$TMP/hang/hang"
	echo '{"cniVersion":"1.0.0","name":"hang","type":"hang"}' >"$TMP/hang/conf.json"
	local out rc start=$SECONDS
	out=$("$DRIVER" --config "$TMP/hang/conf.json" --cni-path "$TMP/hang" --iterations 0 \
		--concurrency 2 --timeout 1 --netns /x/a --netns /x/b 2>"$TMP/hang/err")
	rc=$?
	assert_eq "$rc" 1 "exit status with a hung plugin"
	assert_contains "$out" " count=2 failures=2 addresses=0 "
	assert_contains "$(cat "$TMP/hang/err")" "still running after --timeout, killed"
	[ $(( SECONDS - start )) -lt 10 ] || fail "hung plugin held the driver $(( SECONDS - start ))s"
}

case_driver_rejects_bad_usage() {
	local err
	err=$("$DRIVER" --netns /x 2>&1 >/dev/null)
	assert_eq "$?" 2
	assert_contains "$err" "--config is required"
	err=$("$DRIVER" --config /dev/null --netns /x --iterations lots 2>&1 >/dev/null)
	assert_eq "$?" 2
	assert_contains "$err" "--iterations: expected an integer"
	assert_contains "$("$DRIVER" --help)" "Usage: cni-bench"
}

run_case bench_table_well_formed
run_case driver_catches_duplicate_addresses
run_case driver_reports_plugin_errors
run_case driver_kills_hung_plugin
run_case driver_rejects_bad_usage
finish
