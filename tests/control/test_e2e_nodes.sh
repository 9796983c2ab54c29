#!/usr/bin/env bash
# Nodes end to end: one skiff-server (--node-monitor-grace-period 8) with its
# controllers and scheduler, 5 hollow nodes, the real kubectl 1.27 and 1.33.
#   cordon_drain   (each kubectl) `cordon` -> a pod only the node could take
#                  gets FailedScheduling "0/5 nodes are available: ..." and is
#                  bound after `uncordon`; `drain --ignore-daemonsets` with a
#                  PodDisruptionBudget letting one pod go: evictions within
#                  the budget, 429s retried, done once the replacements are
#                  Ready elsewhere; the DaemonSet's pod stays
#   taint          `taint nodes ... NoSchedule` honoured, its removal too
#   silent_node    a node that stops renewing its Lease turns Ready=Unknown,
#                  gets the unreachable taint, its pod leaves the Service's
#                  EndpointSlice at once and is evicted after its 5 s
#                  toleration, replaced on another node
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

N=5
e2e_start $N --node-monitor-grace-period 8

# deploy NS NAME REPLICAS [POD SPEC LINE...]
deploy() {
	local ns=$1 name=$2 n=$3; shift 3
	printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: %s}\nspec:\n' "$name" "$ns"
	printf '  replicas: %s\n  selector: {matchLabels: {app: %s}}\n  template:\n' "$n" "$name"
	printf '    metadata: {labels: {app: %s}}\n    spec:\n      containers: [{name: c, image: registry.local/%s:1}]\n' "$name" "$name"
	[ $# -eq 0 ] || printf '      %s\n' "$@"
}
# on NS SELECTOR: "node ready" of each pod not terminating, sorted.
on() {
	k 33 -n "$1" get pods -l "$2" -o json |
		jq -r '.items[] | select(.metadata.deletionTimestamp == null) |
			"\(.spec.nodeName // "-") \([.status.conditions[]? | select(.type == "Ready") | .status][0] // "-")"' | sort
}
others() { local i; for i in $(seq 0 $((N - 1))); do [ "$i" = "$1" ] || hnode "$i"; done; }

case_cordon_drain() {
	local v ns out x i
	for v in 27 33; do
		ns=drain$v; x=$(hnode 1)
		k $v create namespace $ns >/dev/null || fail "namespace $ns"
		k $v cordon "$x" >/dev/null || fail "kubectl 1.$v cordon"
		defer "k 33 uncordon $x"
		k $v -n $ns run pinned --image=registry.local/p:1 \
			--overrides="{\"spec\":{\"nodeSelector\":{\"kubernetes.io/hostname\":\"$x\"}}}" >/dev/null ||
			fail "pod pinned"
		wait_for 20 eval 'k 33 -n $ns get events --field-selector involvedObject.name=pinned | grep -q FailedScheduling' ||
			fail "no FailedScheduling for pinned: $(k 33 -n $ns get events 2>&1)"
		out=$(k $v -n $ns get events --field-selector involvedObject.name=pinned)
		assert_contains "$out" "0/$N nodes are available: 1 node(s) were unschedulable, $((N - 1)) node(s) didn't match Pod's node affinity/selector." "kubectl 1.$v get events"
		k $v uncordon "$x" >/dev/null || fail "kubectl 1.$v uncordon"
		wait_for 20 eval '[ "$(k 33 -n $ns get pod pinned -o jsonpath={.spec.nodeName})" = $x ]' ||
			fail "pinned not bound after uncordon"
		k 33 -n $ns delete pod pinned --wait=false >/dev/null

		# Everything on node 1: cordon the others while the pods are made.
		for i in $(others 1); do k 33 cordon "$i" >/dev/null; defer "k 33 uncordon $i"; done
		{ deploy $ns app 3; echo ---
		  printf 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: %s}\n' $ns
		  printf 'spec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n'
		  printf '    spec: {containers: [{name: c, image: registry.local/agent:1}]}\n---\n'
		  printf 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: app, namespace: %s}\n' $ns
		  printf 'spec: {minAvailable: 2, selector: {matchLabels: {app: app}}}\n'
		} | k $v apply -f - >/dev/null || fail "Deployment, DaemonSet and budget"
		wait_for 30 eval '[ "$(on $ns app=app | uniq -c | tr -s " ")" = " 3 $x True" ]' ||
			fail "app's pods: $(on $ns app=app)"
		for i in $(others 1); do k 33 uncordon "$i" >/dev/null; done
		wait_for 30 eval '[ "$(on $ns app=agent | wc -l)" = $N ]' || fail "agent's pods: $(on $ns app=agent)"
		wait_for 10 eval '[ "$(k 33 -n $ns get pdb app -o jsonpath={.status.disruptionsAllowed})" = 1 ]' ||
			fail "budget: $(k 33 -n $ns get pdb app -o jsonpath='{.status}')"

		out=$(k $v drain "$x" --ignore-daemonsets --timeout=90s 2>&1) ||
			fail "kubectl 1.$v drain failed: $out"
		echo "$out" | head -n 20 >&2
		assert_contains "$out" "evicting pod $ns/app-"
		assert_contains "$out" "Cannot evict pod as it would violate the pod's disruption budget."
		assert_contains "$out" "node/$x drained"
		out=$(on $ns app=app)
		assert_eq "$(grep -c " True$" <<<"$out")" 3 "app's Ready pods after the drain: $out"
		assert_eq "$(grep -c "^$x " <<<"$out")" 0 "app's pods left on $x: $out"
		assert_eq "$(k 33 -n $ns get pods -l app=agent --field-selector spec.nodeName=$x -o name | wc -l)" 1 \
			"the DaemonSet pod on the drained node"
		assert_eq "$(k 33 get node "$x" -o jsonpath='{.spec.unschedulable}')" true
		k $v uncordon "$x" >/dev/null || fail "kubectl 1.$v uncordon"
		assert_eq "$(k 33 get node "$x" -o jsonpath='{.spec.unschedulable}')" "" "after uncordon"
		k 33 delete namespace $ns --wait=false >/dev/null
	done
}

case_taint() {
	local v x out
	x=$(hnode 3)
	k 33 create namespace taint >/dev/null || fail "namespace taint"
	k 27 taint nodes "$x" "e2e-$RUN_ID=yes:NoSchedule" >/dev/null || fail "kubectl 1.27 taint"
	defer "k 33 taint nodes $x e2e-$RUN_ID-"
	k 33 -n taint run t1 --image=registry.local/t:1 \
		--overrides="{\"spec\":{\"nodeSelector\":{\"kubernetes.io/hostname\":\"$x\"}}}" >/dev/null || fail "pod t1"
	wait_for 20 eval 'k 33 -n taint get events --field-selector involvedObject.name=t1 | grep -q FailedScheduling' ||
		fail "no FailedScheduling for t1: $(k 33 -n taint get events 2>&1)"
	out=$(k 33 -n taint get events --field-selector involvedObject.name=t1)
	assert_contains "$out" "1 node(s) had untolerated taint {e2e-$RUN_ID: yes}"
	deploy taint spread 8 | k 33 apply -f - >/dev/null || fail "Deployment spread"
	wait_for 30 eval '[ "$(on taint app=spread | grep -c " True$")" = 8 ]' || fail "spread: $(on taint app=spread)"
	assert_eq "$(on taint app=spread | grep -c "^$x ")" 0 "spread's pods on the tainted node"
	k 33 taint nodes "$x" "e2e-$RUN_ID-" >/dev/null || fail "kubectl 1.33 taint (remove)"
	wait_for 20 eval '[ "$(k 33 -n taint get pod t1 -o jsonpath={.spec.nodeName})" = $x ]' ||
		fail "t1 not bound once the taint went"
}

case_silent_node() {
	local x ip out
	k 33 create namespace quiet >/dev/null || fail "namespace quiet"
	deploy quiet web 4 "tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}, {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}]" |
		k 33 apply -f - >/dev/null || fail "Deployment web"
	k 33 -n quiet create service clusterip web --tcp=80:80 >/dev/null || fail "Service web"
	wait_for 30 eval '[ "$(on quiet app=web | grep -c " True$")" = 4 ]' || fail "web: $(on quiet app=web)"
	read -r x ip <<<"$(k 33 -n quiet get pods -l app=web -o jsonpath='{.items[0].spec.nodeName} {.items[0].status.podIP}')"
	slice() { k 33 -n quiet get endpointslices -l kubernetes.io/service-name=web \
		-o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready}{"\n"}{end}'; }
	wait_for 10 eval 'slice | grep -qx "$ip=true"' || fail "$ip not ready in the slice: $(slice)"
	echo "silent $x" >"$CONTROL"
	wait_for 30 eval '[ "$(k 33 get node $x -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}")" = Unknown ]' ||
		fail "$x not Ready=Unknown: $(k 33 get node $x -o jsonpath='{.status.conditions}')"
	# its endpoints leave at once (a few seconds), before the 5 s eviction
	wait_for 3 eval '! slice | grep -qx "$ip=true"' || fail "$ip still ready in the slice: $(slice)"
	out=$(k 33 get node "$x" -o jsonpath='{range .spec.taints[*]}{.key}:{.effect} {end}')
	assert_contains "$out" "node.kubernetes.io/unreachable:NoExecute"
	wait_for 30 eval '[ "$(on quiet app=web | grep -c " True$")" = 4 ] && ! on quiet app=web | grep -q "^$x "' ||
		fail "web's pods not replaced off $x: $(on quiet app=web)"
	wait_for 10 eval 'k 33 -n quiet get events | grep -q TaintManagerEviction' ||
		fail "no TaintManagerEviction event: $(k 33 -n quiet get events 2>&1)"
	: >"$CONTROL"
	wait_for 30 eval '[ "$(k 33 get node $x -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}")" = True ]' ||
		fail "$x not Ready again once it spoke"
}

run_case cordon_drain
run_case taint
run_case silent_node
finish
