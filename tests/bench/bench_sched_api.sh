#!/usr/bin/env bash
# Scheduler end to end (issue 10), scheduler_perf's SchedulingBasic shape:
# NODES hollow nodes (4 cpu / 32Gi / 110 pods) registered by hollow-nodes
# on a fresh skiff-server (SQLite, HTTPS, controllers and scheduler
# in-process), then PODS pods of 100m / 500Mi created through the API by
# sched-api-bench with INFLIGHT requests (connections) at once; pods/s runs
# from the first create to the last binding seen by a watch. hollow-nodes
# marks the bound pods Running and Ready meanwhile, as kubelets would. The
# scheduler core alone (sched-bench, in-process, no API) runs on the same
# shape, so the API's share shows. Under the table: the CPU each process
# spent per pod over the same window (skiff-server with its loops,
# hollow-nodes, sched-api-bench), which other work on the machine
# disturbs less than the rate does, and the server's peak RSS.
#
# Environment:
#   BENCH_SCHED_API_NODES     hollow nodes (default 5000)
#   BENCH_SCHED_API_PODS      pods (default 10000)
#   BENCH_SCHED_API_INFLIGHT  pod creates in flight (default 16)
# Anchors (published): kube-scheduler's CI floor for SchedulingBasic
# 5000 nodes / 10000 pods is 270 pods/s (scheduler_perf
# performance-config.yaml); Gödel reports 2,500 pods/s per shard.
# Goal: 1,000 pods/s.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/hollow_cluster.sh"

env_number nodes BENCH_SCHED_API_NODES 5000
env_number pods BENCH_SCHED_API_PODS 10000
env_number inflight BENCH_SCHED_API_INFLIGHT 16
[ "$nodes" -gt 0 ] && [ "$pods" -gt 0 ] && [ "$inflight" -gt 0 ] || fail "BENCH_SCHED_API_*: counts must be positive"
require_bin skiff-server hollow-nodes sched-api-bench sched-bench
require_cmd curl

cluster_start "$nodes" -- --memory 32Gi --inflight 32
s0=$(cpu_ticks "$SERVER_PID"); h0=$(cpu_ticks "$HOLLOW_PID")
out=$("$TESTBIN/sched-api-bench" "$KCFG" 0 "$pods" "$inflight" 2>&1)
rc=$?
s1=$(cpu_ticks "$SERVER_PID"); h1=$(cpu_ticks "$HOLLOW_PID")
hwm=$(rss_mib "$SERVER_PID" VmHWM)
core=$("$TESTBIN/sched-bench" "$nodes" "$pods" 0) || fail "sched-bench: $core"

# val TEXT MEASURE FIELD: a number from a "MEASURE key=value ..." line.
val() {
	awk -v m="$2" -v f="$3" '$1 " " $2 == m { for (i = 3; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == f) print kv[2] } }' <<<"$1"
}
e2e=$(val "$out" "schedule end_to_end" per_s)
e2e_s=$(val "$out" "schedule end_to_end" seconds)
bound=$(val "$out" "schedule end_to_end" bound)
creates=$(val "$out" "pods create" per_s)
cycle=$(awk '$2 == "end_to_end" { for (i = 3; i <= NF; i++) { split($i, kv, "=");
	if (kv[1] == "per_s") print kv[2] } }' <<<"$core")
bench_cpu=$(val "$out" "schedule end_to_end" cpu_s)
srv_cpu=$(awk -v t="$(( s1 - s0 ))" -v k="$(getconf CLK_TCK)" -v s="$e2e_s" \
	'BEGIN { printf "%.0f%%", (s > 0 ? t / k / s * 100 : 0) }')
# per_pod TICKS: milliseconds of CPU per pod.
per_pod() { awk -v t="$1" -v k="$(getconf CLK_TCK)" -v n="$pods" 'BEGIN { printf "%.2f", t / k * 1000 / n }'; }

echo "command: make bench B=sched_api (tests/bench/bench_sched_api.sh; $nodes hollow nodes, $pods pods," \
	"$inflight creates in flight over HTTPS); goal >= 1,000 pods/s end to end"
row() { printf '| %-70s | %9s |\n' "$1" "$2"; }
row "case" "pods/s"
row "---" "---"
row "skiff: first create -> last binding seen by a watch ($bound bound, ${e2e_s}s)" "$e2e"
row "skiff: pod creates alone (same run)" "$creates"
row "skiff: scheduler core in-process, add + cycle + confirm (no API)" "$cycle"
row "kube-scheduler CI floor, SchedulingBasic 5000/10000 (published)" "270"
row "Godel, per shard (published)" "2500"
echo "skiff-server CPU during the run: $srv_cpu of one core, VmHWM $hwm MiB; load average $(loadavg) on $(nproc) cores"
echo "CPU per pod (ms): skiff-server $(per_pod $(( s1 - s0 ))), hollow-nodes $(per_pod $(( h1 - h0 )))," \
	"sched-api-bench $(awk -v c="${bench_cpu:-0}" -v n="$pods" 'BEGIN { printf "%.2f", c * 1000 / n }')"
[ "$rc" -eq 0 ] || fail "sched-api-bench failed: $out"
assert_eq "$bound" "$pods" "pods seen bound"
finish
