#!/usr/bin/env bash
# EndpointSlice latency (issue 10): SERVICES Services on a fresh
# skiff-server (SQLite, HTTPS, controllers and scheduler in-process), each
# selecting one pod; the pods run on NODES hollow nodes. Once every pod is a
# ready endpoint, hollow-nodes stops writing for the node of pod p-0 (its
# control file) and ctrl-bench flips the Ready condition of that node's
# pods FLIPS times, one at a time, by a merge patch of pods/status; each
# latency runs from the patch sent to the slice event showing the change,
# both seen by ctrl-bench. The node's Lease stops too, so the node monitor
# grace period is raised past the run.
#
# Environment:
#   BENCH_EPS_SERVICES  Services, one pod each (default 10000)
#   BENCH_EPS_NODES     hollow nodes (default 100)
#   BENCH_EPS_FLIPS     readiness flips measured (default 400)
# Anchor (published): Kubernetes' network programming latency SLO, p99 of
# a pod's readiness change to its programming everywhere, is 30 s.
# Goal: p99 <= 20 ms from the status write to the slice.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/hollow_cluster.sh"

env_number services BENCH_EPS_SERVICES 10000
env_number nodes BENCH_EPS_NODES 100
env_number flips BENCH_EPS_FLIPS 400
[ "$services" -gt 0 ] && [ "$nodes" -gt 0 ] && [ "$flips" -gt 0 ] || fail "BENCH_EPS_*: counts must be positive"
require_bin skiff-server hollow-nodes ctrl-bench
require_cmd curl

CONTROL=$TMP/hollow.control
: >"$CONTROL"
max_pods=$(( (services + nodes - 1) / nodes * 3 / 2 + 5 ))
[ "$max_pods" -le 253 ] || fail "BENCH_EPS_NODES: $nodes nodes cannot hold $services pods"
cluster_start "$nodes" --node-monitor-grace-period 3600 -- --inflight 64 --max-pods "$max_pods" \
	--control "$CONTROL"
out=$("$TESTBIN/ctrl-bench" eps "$KCFG" "$services" "$flips" "$CONTROL" 2>&1)
rc=$?

val() {
	awk -v m="$1" -v f="$2" '$1 == m { for (i = 2; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == f) print kv[2] } }' <<<"$out"
}
echo "command: make bench B=eps_latency (tests/bench/bench_eps_latency.sh; $services Services of one pod" \
	"on $nodes hollow nodes, $flips Ready flips of the $(val flip pods) pods of $(val flip node)," \
	"one at a time); goal p99 <= 20 ms"
row() { printf '| %-64s | %8s | %8s | %8s |\n' "$1" "$2" "$3" "$4"; }
row "latency, ms" "p50" "p99" "max"
row "---" "---" "---" "---"
row "skiff: status patch sent -> slice updated, seen by a watch ($(val flip n) flips)" \
	"$(val flip p50_ms)" "$(val flip p99_ms)" "$(val flip max_ms)"
row "skiff: status patch answered -> slice updated" "$(val flip after_answer_p50_ms)" \
	"$(val flip after_answer_p99_ms)" "-"
row "skiff: the status patch itself (round trip)" "$(val flip patch_p50_ms)" "$(val flip patch_p99_ms)" "-"
row "Kubernetes network programming latency SLO (published)" "-" "30000" "-"
echo "setup: $services Services and pods created and every endpoint ready in $(val setup s) s;" \
	"load average $(loadavg) on $(nproc) cores"
[ "$rc" -eq 0 ] || fail "ctrl-bench eps failed: $out"
assert_eq "$(val flip n)" "$flips" "flips measured"
finish
