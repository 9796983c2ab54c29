#!/usr/bin/env bash
# Keeps the Deployment benchmark working: runs tests/bench/bench_deploy.sh
# with 40 replicas on 5 hollow nodes and checks the table's shape, that
# every phase reached 40 (ReplicaSet, created, bound, Ready, endpoints) in
# order, and the computed anchor row. Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server hollow-nodes ctrl-bench
require_cmd curl

case_bench_table_well_formed() {
	local out rc row prev=0 s
	out=$(BENCH_DEPLOY_NODES=5 BENCH_DEPLOY_REPLICAS=40 bash "$SKIFF_ROOT/tests/bench/bench_deploy.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_deploy.sh exit status; output: $out"
	assert_contains "$out" "command: make bench B=deploy"
	assert_contains "$out" "load average"
	grep -qE '^\| skiff: ReplicaSet created +\| +[0-9.]+ \| +1 \|$' <<<"$out" || fail "ReplicaSet row: $out"
	for row in "all pods created" "all pods bound" "all pods Ready" "all pods ready endpoints in the EndpointSlices"; do
		s=$(sed -n "s/^| skiff: $row *| *\([0-9.]*\) | *40 |\$/\1/p" <<<"$out")
		[ -n "$s" ] || fail "row '$row' did not reach 40: $out"
		awk -v a="$prev" -v b="$s" 'BEGIN { exit !(b >= a) }' || fail "'$row' at $s s, before the phase before it ($prev s)"
		prev=$s
	done
	grep -qE '^\| kube-controller-manager at --kube-api-qps 20: 40 pod creates \(anchor\) +\| +2.0 \| +40 \|$' <<<"$out" ||
		fail "anchor row: $out"
}

run_case bench_table_well_formed
finish
