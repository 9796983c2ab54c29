#!/usr/bin/env bash
# Keeps the nftables proxy and node networking benchmarks working
# (tests/bench/bench_nftproxy.sh, bench_nodenet.sh): nft-bench programs
# skiff's nftables table for real (a full sync, then an add that changes
# only what is new), refuses bad options naming them, and both benches
# print well formed tables at tiny sizes. Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/bench.sh"

require_root
require_cmd ip nft awk
require_bin proxy-gen nft-bench skiff-agent

GEN="$TESTBIN/proxy-gen"
NFTB="$TESTBIN/nft-bench"

field() { awk -F'|' -v n="$1" '{ gsub(/^ +| +$/, "", $n); print $n }' <<<"$2"; }
is_ms() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

case_nft_bench_full_sync_then_one_add() {
	local t="skb-$RUN_ID" out line
	setup_ns a
	"$GEN" manifests --services 5 --endpoints 3 --out "$TMP/m" >/dev/null || fail "proxy-gen manifests"
	mkdir "$TMP/st"
	"$GEN" manifests --services 6 --endpoints 3 --only 5 --out "$TMP/st" >/dev/null || fail "proxy-gen --only"
	out=$(in_ns a "$NFTB" --manifests "$TMP/m" --table "$t" --cluster-cidr 10.128.0.0/9 \
		"$TMP/st/svc-00005.json" 2>&1) || fail "nft-bench: $out"
	line=$(grep '^full ' <<<"$out")
	assert_eq "$(kv services "$line")" 5 "full sync: $out"
	assert_eq "$(kv full "$line")" 1 "the first apply rebuilds the table"
	is_ms "$(kv apply_ms "$line")" || fail "full sync without a time: $line"
	line=$(grep '^step ' <<<"$out")
	assert_eq "$(kv services "$line")" 6 "after the add: $out"
	assert_eq "$(kv full "$line")" 0 "the add is incremental"
	assert_eq "$(kv changed "$line")" 1 "only the added service is recomputed"
	[ "$(kv msgs "$line")" -lt 30 ] || fail "the add sent more than the new service: $line"
	out=$(in_ns a nft list map inet "$t" service-ips)
	assert_eq "$(grep -o ': goto ' <<<"$out" | wc -l)" 6 "service-ips elements: $out"
	assert_contains "$out" "10.96.0.6 . tcp . 80"
	[ -e "$TMP/m/svc-00005.json" ] || fail "the staged file was not moved into the folder"
	# bad input
	out=$("$NFTB" --table x 2>&1) && fail "ran without --manifests"
	assert_contains "$out" "--manifests"
	out=$("$NFTB" --manifests "$TMP/m" --cluster-cidr 10.0.0.1 2>&1) && fail "accepted a CIDR without a length"
	assert_contains "$out" "--cluster-cidr"
	out=$(in_ns a "$NFTB" --manifests "$TMP/m" --table "$t" "$TMP/st/none.json" 2>&1) &&
		fail "a missing staged file passed"
	assert_contains "$out" "none.json"
	assert_contains "$("$NFTB" --help)" "--manifests DIR"
}

case_nftproxy_bench_table() {
	local out row n=0
	out=$(BENCH_SIZES=10 BENCH_ADDS=1 BENCH_IPT_TIMEOUT=20 bash "$SKIFF_ROOT/tests/bench/bench_nftproxy.sh" 2>&1) ||
		fail "bench_nftproxy.sh failed: $(tail -5 <<<"$out")"
	while read -r row; do
		n=$((n + 1))
		assert_eq "$(field 3 "$row")" 10 "services column: $row"
		is_ms "$(field 4 "$row")" || fail "no full sync time: $row"
		is_ms "$(field 5 "$row")" || fail "no add time: $row"
	done < <(grep -E '^\| (skiff|kube-proxy)' <<<"$out")
	[ "$n" -ge 5 ] || fail "expected at least 5 rows: $out"
	assert_contains "$out" "| skiff nftables (batch)"
	assert_contains "$out" "| kube-proxy nftables replica (nft -f)"
	assert_contains "$out" "| skiff nftables (agent, logged)"
	assert_contains "$out" "services recomputed per add: 1)"
	out=$(BENCH_SIZES=1 bash "$SKIFF_ROOT/tests/bench/bench_nftproxy.sh" 2>&1) && fail "accepted 1 service"
	assert_contains "$out" "BENCH_SIZES"
}

case_nodenet_bench_table() {
	local out row
	command -v iperf3 >/dev/null && command -v jq >/dev/null || skip_case "needs iperf3 and jq"
	require_bin skiff-cni skiff-agent
	out=$(BENCH_DURATION=1 BENCH_ROUNDS=1 BENCH_PATHS="veth hand vxlan" \
		bash "$SKIFF_ROOT/tests/bench/bench_nodenet.sh" 2>&1) || fail "bench_nodenet.sh failed: $(tail -5 <<<"$out")"
	for p in "veth pair" "nodes, pod routes by hand" "skiff VXLAN"; do
		row=$(grep "^| $p" <<<"$out") || fail "no $p row: $out"
		is_ms "$(field 3 "$row")" || fail "no throughput: $row"
		is_ms "$(field 5 "$row")" || fail "no connection rate: $row"
		[[ $(field 7 "$row") =~ ^[0-9]+$ ]] || fail "no request p50: $row"
	done
	# VXLAN's ratios are against the hand-routed nodes, the same path
	assert_eq "$(field 4 "$row")" "$(awk -v a="$(field 3 "$row")" -v b="$(field 3 "$(grep '^| nodes, pod routes by hand' <<<"$out")")" \
		'BEGIN { printf "%.2f", a / b }')" "Gbit/s ratio of: $out"
	out=$(BENCH_PATHS="veth nope" bash "$SKIFF_ROOT/tests/bench/bench_nodenet.sh" 2>&1) && fail "accepted path nope"
	assert_contains "$out" "BENCH_PATHS"
}

run_case nft_bench_full_sync_then_one_add
run_case nftproxy_bench_table
run_case nodenet_bench_table
finish
