#!/usr/bin/env bash
# Scheduler core benchmark (issue 10): build/tests/sched-bench in-process on
# scheduler_perf's SchedulingBasic shape (NODES nodes of 4 cpu / 32Gi, PODS
# pods of 100m / 500Mi): informer add, pop, sched_cycle (filters, sampling,
# scores, assume, binding plan), the binding's confirmation. Once with pods
# of no controller (SchedulingBasic), once with OWNERS ReplicaSets so the
# default spreading score runs. The end-to-end figure over the API (HTTP
# binding, watch) is the driver's, measured with hollow nodes elsewhere.
#
# Environment:
#   BENCH_SCHED_NODES   nodes (default 5000)
#   BENCH_SCHED_PODS    pods (default 10000)
#   BENCH_SCHED_OWNERS  controllers in the second run (default 100)
# Anchor: kube-scheduler's CI floor for SchedulingBasic 5000 nodes / 10000
# pods is 270 pods/s end to end; issue 10's goal is 1,000 pods/s end to end.
. "$(dirname "$0")/../harness/lib.sh"

env_number nodes BENCH_SCHED_NODES 5000
env_number pods BENCH_SCHED_PODS 10000
env_number owners BENCH_SCHED_OWNERS 100
require_bin sched-bench

# val OUTPUT MEASURE FIELD: a number from sched-bench's output.
val() {
	awk -v m="$2" -v f="$3" '$2 == m { for (i = 3; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == f) print kv[2] } }' <<<"$1"
}

echo "$nodes nodes, $pods pods (scheduler core, in-process, one thread)"
printf '| %-34s | %14s | %14s |\n' "measure" "no controller" "$owners controllers"
printf '| %-34s | %14s | %14s |\n' "---" "---" "---"
outs=()
for o in 0 "$owners"; do
	out=$("$TESTBIN/sched-bench" "$nodes" "$pods" "$o") || { echo "$out"; exit 1; }
	outs+=("$out")
done
row() { printf '| %-34s | %14s | %14s |\n' "$1" "$2" "$3"; }
row "scheduling cycles, pods/s" "$(val "${outs[0]}" schedule_cycle per_s)" "$(val "${outs[1]}" schedule_cycle per_s)"
row "add + cycle + confirm, pods/s" "$(val "${outs[0]}" end_to_end per_s)" "$(val "${outs[1]}" end_to_end per_s)"
row "cycle p50 / p99, us" "$(val "${outs[0]}" cycle_latency_us p50) / $(val "${outs[0]}" cycle_latency_us p99)" \
	"$(val "${outs[1]}" cycle_latency_us p50) / $(val "${outs[1]}" cycle_latency_us p99)"
row "nodes evaluated per pod" "$(val "${outs[0]}" cycle_latency_us nodes_evaluated_per_pod)" \
	"$(val "${outs[1]}" cycle_latency_us nodes_evaluated_per_pod)"
row "peak RSS, MiB" "$(val "${outs[0]}" summary peak_rss_mib)" "$(val "${outs[1]}" summary peak_rss_mib)"
echo "anchor: kube-scheduler CI floor 270 pods/s end to end (scheduler_perf SchedulingBasic 5000/10000); goal 1,000 pods/s end to end"
