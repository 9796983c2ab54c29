#!/usr/bin/env bash
# A Deployment end to end (issue 10): REPLICAS replicas on NODES hollow
# nodes (hollow-nodes marks each bound pod Running and Ready at once) on a
# fresh skiff-server (SQLite, HTTPS, controllers and scheduler in-process),
# with a Service selecting them. ctrl-bench creates the Deployment and times,
# from that create, by its own watches: the ReplicaSet seen, every pod seen
# created, bound, Ready, and every pod a ready endpoint in the Service's
# EndpointSlices.
#
# Environment:
#   BENCH_DEPLOY_NODES     hollow nodes (default 100)
#   BENCH_DEPLOY_REPLICAS  replicas (default 1000)
# Anchor: kube-controller-manager's client is limited to 20 requests/s by
# default (--kube-api-qps 20), so its 1,000 pod creates alone take 50 s.
# Goal: 3 s to 1,000 endpoints.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/hollow_cluster.sh"

env_number nodes BENCH_DEPLOY_NODES 100
env_number replicas BENCH_DEPLOY_REPLICAS 1000
[ "$nodes" -gt 0 ] && [ "$replicas" -gt 0 ] || fail "BENCH_DEPLOY_*: counts must be positive"
require_bin skiff-server hollow-nodes ctrl-bench
require_cmd curl

cluster_start "$nodes" -- --inflight 32
s0=$(cpu_ticks "$SERVER_PID")
out=$("$TESTBIN/ctrl-bench" deploy "$KCFG" "$replicas" 2>&1)
rc=$?
s1=$(cpu_ticks "$SERVER_PID")

# phase NAME FIELD: a field of ctrl-bench's "phase NAME s=<> count=<>" line.
phase() {
	awk -v p="$1" -v f="$2" '$1 == "phase" && $2 == p { for (i = 3; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == f) print kv[2] } }' <<<"$out"
}
echo "command: make bench B=deploy (tests/bench/bench_deploy.sh; a Deployment of $replicas replicas" \
	"on $nodes hollow nodes, a Service selecting it); goal <= 3 s to $replicas endpoints"
row() { printf '| %-66s | %10s | %7s |\n' "$1" "$2" "$3"; }
row "phase (seen by a watch)" "s from create" "count"
row "---" "---" "---"
row "skiff: ReplicaSet created" "$(phase replicaset s)" "$(phase replicaset count)"
row "skiff: all pods created" "$(phase created s)" "$(phase created count)"
row "skiff: all pods bound" "$(phase bound s)" "$(phase bound count)"
row "skiff: all pods Ready" "$(phase ready s)" "$(phase ready count)"
row "skiff: all pods ready endpoints in the EndpointSlices" "$(phase endpoints s)" "$(phase endpoints count)"
row "skiff: ReplicaSet status.readyReplicas = $replicas" "$(phase rs_status s)" "$(phase rs_status count)"
row "skiff: Deployment status.readyReplicas = $replicas" "$(phase dep_status s)" "$(phase dep_status count)"
row "kube-controller-manager at --kube-api-qps 20: $replicas pod creates (anchor)" \
	"$(awk -v n="$replicas" 'BEGIN { printf "%.1f", n / 20 }')" "$replicas"
echo "skiff-server CPU: $(awk -v t="$(( s1 - s0 ))" -v k="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / k }') s;" \
	"load average $(loadavg) on $(nproc) cores"
[ "$rc" -eq 0 ] || fail "ctrl-bench deploy failed: $out"
assert_eq "$(phase endpoints count)" "$replicas" "ready endpoints"
finish
