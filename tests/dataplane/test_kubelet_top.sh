#!/usr/bin/env bash
# `kubectl top` (issue 14): skiff-agent, as a real node's kubelet with its
# own containerd (kubelet_env.sh), serves /stats/summary on its kubelet API
# (port 10250 of the node namespace, a serving certificate the cluster CA
# signed); skiff-server aggregates the node's and the pods' CPU and
# working-set memory into metrics.k8s.io/v1beta1 NodeMetrics and
# PodMetrics, which kubectl 1.33 finds by discovery. A pod burning CPU
# shows its CPU; an idle one shows little; the node shows its usage;
# label and field selectors pick by the Pod's own.
SUBNET_PREFIX=10.65.0
. "$(dirname "$0")/../harness/lib.sh"
require_cmd openssl jq

KUBELET_API=1
. "$SKIFF_ROOT/tests/dataplane/kubelet_env.sh"

# millicores QUANTITY: "123456789n" or "12m" -> millicores.
millicores() {
	case $1 in
	*n) echo $(( ${1%n} / 1000000 )) ;;
	*m) echo "${1%m}" ;;
	*) echo $(( $1 * 1000 )) ;;
	esac
}
kubelet_port_is() {
	[ "$(k get node "$NODE" -o 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}')" = "$1" ]
}
raw() { k get --raw "/apis/metrics.k8s.io/v1beta1/$1"; }

case_top_pods_and_nodes() {
	local out m mem
	agent_up
	POD_LABELS="app: burn" pod burn "containers:" "$(sh_container spin 'while :; do :; done')" \
		"$(sh_container idle 'exec sleep 3600')"
	wait_for 30 ready burn || fail "burn never Ready: $(jp burn '{.status}')"
	wait_for 10 kubelet_port_is 10250 || fail "the node does not name its kubelet port"
	# Discovery: kubectl finds the API.
	assert_contains "$(k api-versions)" "metrics.k8s.io/v1beta1"
	assert_contains "$(k api-resources --api-group=metrics.k8s.io)" "PodMetrics"
	out=$(k top pods 2>&1) || fail "kubectl top pods: $out; server: $(grep metrics.k8s.io "$SLOG" | tail -3)"
	assert_contains "$out" "CPU(cores)"
	assert_contains "$out" "burn"
	out=$(k top pod burn --containers 2>&1) || fail "kubectl top pod --containers: $out"
	assert_contains "$out" "spin"
	assert_contains "$out" "idle"
	echo "$out"
	# The spinning container uses CPU (its share of a busy machine: the CI
	# host's load may be 10 on 2 cores), the idle one next to none.
	out=$(raw namespaces/default/pods/burn) || fail "GET PodMetrics burn: $out"
	assert_eq "$(jq -r .kind <<<"$out")" PodMetrics
	m=$(millicores "$(jq -r '.containers[] | select(.name == "spin") | .usage.cpu' <<<"$out")")
	[ "$m" -ge 30 ] || fail "spin uses ${m}m CPU, expected >= 30m ($(uptime))"
	m=$(millicores "$(jq -r '.containers[] | select(.name == "idle") | .usage.cpu' <<<"$out")")
	[ "$m" -le 10 ] || fail "idle uses ${m}m CPU, expected <= 10m"
	mem=$(jq -r '.containers[] | select(.name == "idle") | .usage.memory' <<<"$out")
	[ "${mem%Ki}" -gt 0 ] || fail "idle's working set is $mem"
	out=$(k top nodes 2>&1) || fail "kubectl top nodes: $out"
	assert_contains "$out" "$NODE"
	assert_not_contains "$out" "<unknown>"
	echo "$out ($(uptime | sed 's/.*load/load/'))"
	out=$(raw "nodes/$NODE") || fail "GET NodeMetrics: $out"
	m=$(millicores "$(jq -r .usage.cpu <<<"$out")")
	[ "$m" -ge 30 ] || fail "the node uses ${m}m CPU with spin running, expected >= 30m"
	assert_ne "$(jq -r .usage.memory <<<"$out")" "0Ki"
	# Selectors select by the Pod's labels and fields.
	out=$(k top pods -l app=burn 2>&1) || fail "kubectl top pods -l: $out"
	assert_contains "$out" "burn"
	assert_eq "$(raw 'namespaces/default/pods?labelSelector=app%3Dother' | jq '.items | length')" 0
	assert_eq "$(raw 'pods?fieldSelector=metadata.name%3Dburn' | jq -r '.items[0].metadata.name')" burn
	# Absent objects are 404s, as metrics-server answers.
	assert_contains "$(raw namespaces/default/pods/nope-$RUN_ID 2>&1)" "NotFound"
	assert_eq "$(raw namespaces/kube-system/pods | jq '.items | length')" 0
	delete_pod burn
}

run_case top_pods_and_nodes
finish
