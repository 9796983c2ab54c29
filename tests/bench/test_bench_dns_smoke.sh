#!/usr/bin/env bash
# Keeps the DNS benchmark working: runs bench_dns.sh with 200 Services and
# one-second runs, and checks the table's shape and that every query of
# every run was answered. Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_cmd ip dnsperf dnsmasq dig nft
require_bin skiff-agent

case_bench_dns_table() {
	local out rc set server row
	out=$(BENCH_SERVICES=200 BENCH_DURATION=1 BENCH_ROUNDS=1 BENCH_PROG=2 BENCH_LAT_QPS=500 \
		bash "$SKIFF_ROOT/tests/bench/bench_dns.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_dns.sh exit status; output: $out"
	for set in cluster external; do
		for server in skiff dnsmasq; do
			row=$(awk -v s="$server" -v n="$set" '$1 == s && $2 == n' <<<"$out")
			[ -n "$row" ] || fail "no row for $server $set in: $out"
			# q/s a number, nothing lost, the server's CPU per query and
			# per core, the generator's CPU share and CPU per query,
			# two latencies
			[[ $row =~ ^[a-z]+\ +[a-z]+\ +[0-9]+\ +0\ +[0-9.]+\ +[0-9]+\ +[0-9]+\ +[0-9.]+\ +[0-9.]+\ +[0-9.]+$ ]] ||
				fail "bad row: $row"
		done
	done
	assert_contains "$out" "200 services, "
	assert_contains "$out" "RSS with the names loaded: skiff-agent "
	assert_contains "$out" "DNS programming latency"
	assert_contains "$out" "per core (CPU per query)"
}

run_case bench_dns_table
finish
