#!/usr/bin/env bash
# skiff-server killed with SIGKILL in the middle of scaling a Deployment to
# 500 (20 hollow nodes): restarted on the same data dir and port, it ends
# with exactly 500 pods, one ReplicaSet's, no name twice, every one bound
# to a hollow node and Ready, and still 500 after a resync's worth of time.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

N=20
e2e_start $N

pods_json() { k 33 -n big get pods -l app=big -o json; }
count() { pods_json | jq '[.items[] | select(.metadata.deletionTimestamp == null)] | length'; }

case_sigkill_scaling_to_500() {
	local c i out
	k 33 create namespace big >/dev/null || fail "namespace big"
	k 33 -n big create deployment big --image=registry.local/big:1 --replicas=10 >/dev/null || fail "Deployment big"
	k 33 -n big rollout status deploy/big --timeout=60s >/dev/null || fail "big did not roll out"
	k 27 -n big scale deploy/big --replicas=500 >/dev/null || fail "kubectl scale 500"
	for (( i = 0; i < 300; i++ )); do
		c=$(count)
		[ "$c" -ge 40 ] && break
		sleep 0.05
	done
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null
	echo "killed at $c pods" >&2
	[ "$c" -ge 40 ] && [ "$c" -lt 500 ] || fail "not killed mid-scale: $c pods seen"
	SERVER_PORT=$PORT start_skiff_server "$DATA" "$TMP/server.log" tls
	wait_for 120 eval '[ "$(count)" = 500 ]' || fail "after the restart: $(count) pods"
	wait_for 120 eval '[ "$(pods_json | jq "[.items[] | select(.status.conditions[]? | select(.type == \"Ready\" and .status == \"True\"))] | length")" = 500 ]' ||
		fail "not every pod Ready"
	sleep 3 # a late duplicate create would show here
	out=$(pods_json)
	assert_eq "$(jq '.items | length' <<<"$out")" 500 "pods, terminating ones included"
	assert_eq "$(jq '[.items[].metadata.name] | unique | length' <<<"$out")" 500 "distinct names"
	assert_eq "$(jq '[.items[].metadata.ownerReferences[0].uid] | unique | length' <<<"$out")" 1 "owning ReplicaSets"
	assert_eq "$(jq --arg p "hollow-$HP-" '[.items[] | select(.spec.nodeName | startswith($p))] | length' <<<"$out")" 500 \
		"pods bound to hollow nodes"
	# the ReplicaSet's and then the Deployment's status follow the pods
	wait_for 30 eval '[ "$(k 33 -n big get deploy big -o jsonpath="{.status.replicas}/{.status.readyReplicas}")" = 500/500 ]' ||
		fail "Deployment status: $(k 33 -n big get deploy big -o jsonpath='{.status.replicas}/{.status.readyReplicas}'), ReplicaSet: $(k 33 -n big get rs -o jsonpath='{.items[*].status.readyReplicas}')"
}

run_case sigkill_scaling_to_500
finish
