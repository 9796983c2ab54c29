#!/usr/bin/env bash
# Keeps the kubelet benchmark working: runs tests/bench/bench_kubelet.sh
# with 3 pods one after another and a burst of 4, and checks the table's
# shape: every measured row with its numbers and every pod counted, p99 no
# lower than p50, the overhead and memory lines, the anchors. Never asserts
# on timings; what the bench made (pods, sandboxes, cgroups, namespaces,
# processes) the harness finds if it was left.
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_bin skiff-server skiff-agent cri-tool skiff-cni skiff-ipam
require_cmd containerd jq

num='[0-9]+\.[0-9]{3}'
case_bench_table_well_formed() {
	local out rc row n p50 p99
	out=$(BENCH_KUBELET_SINGLE=3 BENCH_KUBELET_BURST=4 bash "$SKIFF_ROOT/tests/bench/bench_kubelet.sh" 2>&1)
	rc=$?
	[ "$rc" -eq 4 ] && skip "the bench skipped: ${out##*$'\n'}"
	assert_eq "$rc" 0 "bench_kubelet.sh exit status; output: $out"
	assert_contains "$out" "command: make bench B=kubelet"
	assert_contains "$out" "load average"
	for row in "skiff kubelet: one after another=3" "raw CRI (cri-tool runp+create+start): one after another=3" \
		"skiff kubelet: burst=4" "raw CRI: burst (all from one instant)=4"; do
		n=${row##*=} row=${row%=*}
		read -r p50 p99 < <(awk -F'|' -v r="$row" 'index($2, " " r " ") == 1 { print $3, $4 }' <<<"$out")
		[[ "$p50" =~ ^$num$ && "$p99" =~ ^$num$ ]] || fail "row '$row' lacks p50/p99: $out"
		awk -v a="$p50" -v b="$p99" 'BEGIN { exit !(a > 0 && b >= a) }' || fail "row '$row': p50 $p50, p99 $p99"
		grep -qE "^\| $(sed 's/[][().+*]/\\&/g' <<<"$row") +\|.*\| +$n \|\$" <<<"$out" || fail "row '$row' did not count $n pods: $out"
	done
	grep -qE "^\| skiff kubelet: burst +\| +$num \| +$num \| +$num \| +4 \|\$" <<<"$out" || fail "burst total: $out"
	grep -qE '^kubelet overhead over raw CRI at p50: one after another [+-][0-9]+%, burst [+-][0-9]+% \(its total: [+-][0-9]+%\)$' <<<"$out" ||
		fail "overhead line: $out"
	grep -qE '^skiff-agent with 4 pods running: VmRSS [0-9.]+ MiB, VmHWM [0-9.]+ MiB' <<<"$out" || fail "memory line: $out"
	assert_contains "$out" "| SLO (anchor)"
	assert_contains "$out" "| Kubernetes density test, 30 pods per node (anchor)"
}

run_case bench_table_well_formed
finish
