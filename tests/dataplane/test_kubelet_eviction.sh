#!/usr/bin/env bash
# Node-lifecycle eviction end to end (issue 11): skiff-server with its
# controllers and scheduler; node A is skiff-agent as a kubelet with the
# test's containerd (kubelet_env.sh), node B a second skiff-agent (no
# runtime: it is Ready and takes the replacement, which is as far as this
# test follows it). A Deployment's pod runs on A with tolerationSeconds 2
# for the unreachable and not-ready taints. A's agent is killed: the node
# turns Unknown, the node-lifecycle loop taints it NoExecute, the pod is
# deleted 2 s later (TaintManagerEviction) and the ReplicaSet's replacement
# is bound to B. A pod tolerating the taint forever stays; a pod given the
# 300 s default tolerations by admission (DefaultTolerationSeconds) stays
# within the test's time.
SUBNET_PREFIX=10.63.0
GRACE=15 # the Lease is renewed every 10 s
. "$(dirname "$0")/../harness/lib.sh"
require_cmd jq
KUBELET_SERVER_FLAGS="--controllers nodelifecycle,replicaset,deployment,serviceaccount,root-ca-cert-publisher --node-monitor-grace-period $GRACE"
. "$SKIFF_ROOT/tests/dataplane/kubelet_env.sh"

NODE_B=nodeb-$RUN_ID
AGENT_B=
agent_b_stop() { [ -n "$AGENT_B" ] && { kill -9 "$AGENT_B"; wait "$AGENT_B"; } 2>/dev/null; AGENT_B=; }
# The second node: an agent joining with the admin kubeconfig, no runtime.
agent_b_up() {
	defer agent_b_stop
	( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" \
		--kubeconfig "$DATA/kubeconfig" --node-name "$NODE_B" --node-ip 192.0.2.11 \
		--proxy-mode nftables --nft-table "skiff-b-$RUN_ID" ) >>"$TMP/agent-b.log" 2>&1 &
	AGENT_B=$!
}
node_ready_is() {
	[ "$(k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = "$2" ]
}
# web_pods FIELD: FIELD of the Deployment's pods, one a line.
web_pods() {
	k get pods -l app=web -o jsonpath="{range .items[*]}$1{\"\\n\"}{end}" 2>/dev/null
}
toleration() {
	printf '{key: node.kubernetes.io/%s, operator: Exists, effect: NoExecute%s}' "$1" "${2:+, tolerationSeconds: $2}"
}

case_evicted_and_replaced() {
	local first taints out
	agent_up
	wait_for 30 node_ready_is "$NODE" True || fail "node A never Ready: $(tail -3 "$ALOG")"
	kapply <<-YAML
	apiVersion: apps/v1
	kind: Deployment
	metadata: {name: web}
	spec:
	  replicas: 1
	  selector: {matchLabels: {app: web}}
	  template:
	    metadata: {labels: {app: web}}
	    spec:
	      terminationGracePeriodSeconds: 1
	      tolerations: [$(toleration unreachable 2), $(toleration not-ready 2)]
	      containers:
	      - {name: c, image: $BUSYBOX, command: [sleep, "3600"]}
	YAML
	pod forever "tolerations: [$(toleration unreachable), $(toleration not-ready)]" \
		"containers:" "$(sh_container c 'exec sleep 3600')"
	pod dflt "containers:" "$(sh_container c 'exec sleep 3600')"
	wait_for 60 eval '[ "$(web_pods "{.status.phase}")" = Running ]' ||
		fail "the Deployment's pod does not run: $(k get pods -o wide 2>&1)"
	first=$(web_pods '{.metadata.name}')
	assert_eq "$(web_pods '{.spec.nodeName}')" "$NODE" "the first pod's node"
	# DefaultTolerationSeconds: 300 s for a pod that names none.
	assert_eq "$(jp dflt '{range .spec.tolerations[*]}{.key}={.tolerationSeconds} {end}')" \
		"node.kubernetes.io/not-ready=300 node.kubernetes.io/unreachable=300 " "dflt's tolerations"

	agent_b_up
	wait_for 30 node_ready_is "$NODE_B" True || fail "node B never Ready: $(tail -3 "$TMP/agent-b.log")"
	agent_kill
	wait_for $((GRACE + 30)) node_ready_is "$NODE" Unknown ||
		fail "node A still $(k get node "$NODE" -o jsonpath='{.status.conditions}')"
	wait_for 15 eval '[[ "$(k get node "$NODE" -o jsonpath="{.spec.taints}")" == *unreachable*NoExecute* ]]' ||
		fail "node A not tainted: $(k get node "$NODE" -o jsonpath='{.spec.taints}')"
	taints=$(k get node "$NODE" -o jsonpath='{range .spec.taints[*]}{.key}:{.effect} {end}')
	assert_contains "$taints" "node.kubernetes.io/unreachable:NoSchedule"
	# tolerationSeconds 2: marked for deletion (the dead kubelet cannot
	# end it, so it stays Terminating) and replaced on node B.
	wait_for 20 eval '[ -n "$(k get pod "$first" -o jsonpath="{.metadata.deletionTimestamp}")" ]' ||
		fail "$first not deleted: $(k get pod "$first" -o jsonpath='{.metadata}')"
	assert_contains "$(events "$first" reason)" "TaintManagerEviction"
	wait_for 30 eval 'web_pods "{.metadata.name} {.spec.nodeName}" | grep -q " $NODE_B\$"' ||
		fail "no replacement on node B: $(k get pods -o wide 2>&1)"
	out=$(web_pods '{.metadata.name} {.spec.nodeName}')
	assert_not_contains "$(grep -v "^$first " <<<"$out")" " $NODE" "a replacement on node A"
	# The pods that tolerate longer stay.
	[ -z "$(jp forever '{.metadata.deletionTimestamp}')" ] || fail "forever was evicted"
	[ -z "$(jp dflt '{.metadata.deletionTimestamp}')" ] || fail "dflt was evicted before 300 s"
	# Back: A's agent ends what was deleted while it was away.
	agent_start
	wait_for 60 eval '! k get pod "$first" >/dev/null 2>&1' || fail "$first still exists"
	delete_pod forever
	delete_pod dflt
	k delete deployment web >/dev/null
}

run_case evicted_and_replaced
finish
