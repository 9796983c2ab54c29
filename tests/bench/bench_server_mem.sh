#!/usr/bin/env bash
# skiff-server's memory at scale (issue 10): a fresh skiff-server (SQLite,
# HTTPS, controllers and scheduler in-process), NODES hollow nodes, then
# PODS pods created through the API (sched-api-bench), bound by the
# scheduler and marked Running and Ready by hollow-nodes. RSS is read at
# each stage; the peak is the kernel's high-water mark (VmHWM); steady is
# after STEADY seconds with every pod Ready (Leases renewing meanwhile).
#
# Environment:
#   BENCH_MEM_NODES   hollow nodes (default 5000)
#   BENCH_MEM_PODS    pods (default 10000)
#   BENCH_MEM_STEADY  seconds of the steady window (default 20)
# Anchor: the size of the objects themselves, the SQLite file (state.db
# with its WAL), in the same table.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/hollow_cluster.sh"

env_number nodes BENCH_MEM_NODES 5000
env_number pods BENCH_MEM_PODS 10000
env_number steady BENCH_MEM_STEADY 20
[ "$nodes" -gt 0 ] && [ "$pods" -gt 0 ] || fail "BENCH_MEM_*: counts must be positive"
require_bin skiff-server hollow-nodes sched-api-bench
require_cmd curl

all_ready() { [ "$(hollow_count ready)" -ge "$pods" ]; }
db_mib() { du -sm "$TMP/data" | cut -f1; }

rows=()
stage() { rows+=("$1|$(rss_mib "$SERVER_PID" VmRSS)|$(rss_mib "$SERVER_PID" VmHWM)"); }
cluster_start "$nodes" -- --memory 32Gi --inflight 32
stage "$nodes nodes registered (Node + Lease each)"
out=$("$TESTBIN/sched-api-bench" "$KCFG" 0 "$pods" 16 2>&1) || fail "sched-api-bench: $out"
stage "$pods pods created and bound"
limit=$(( pods / 50 + 60 ))
wait_for "$limit" all_ready || fail "pods not Ready in ${limit}s: $(tail -n 1 "$HLOG")"
stage "$pods pods Running and Ready"
sleep "$steady"
stage "steady, ${steady}s later"

echo "command: make bench B=server_mem (tests/bench/bench_server_mem.sh; $nodes hollow nodes," \
	"$pods pods, controllers and scheduler running)"
row() { printf '| %-60s | %9s | %9s |\n' "$1" "$2" "$3"; }
row "skiff-server, stage" "RSS, MiB" "peak, MiB"
row "---" "---" "---"
for r in "${rows[@]}"; do IFS='|' read -r a b c <<<"$r"; row "skiff-server: $a" "$b" "$c"; done
row "the objects on disk: data dir with state.db and WAL (anchor)" "$(db_mib)" "-"
row "hollow-nodes (the $nodes kubelets' part), for scale" "$(rss_mib "$HOLLOW_PID" VmRSS)" \
	"$(rss_mib "$HOLLOW_PID" VmHWM)"
echo "load average $(loadavg) on $(nproc) cores"
finish
