#!/usr/bin/env bash
# skiff-agent NodePort from outside the node, driven by manifests: a client
# namespace and two nodes on one LAN (a bridge namespace); node 1 runs the
# agent with --nodeport-device ext (tc programs) and has a local pod; node 2
# serves a backend of its own (a remote endpoint for node 1). Covers local
# and remote backends, externalTrafficPolicy Local (client address kept,
# nothing local: refused), IPv6. Every case runs against both proxy modes
# (names end in /bpf and /nftables): the tc programs on ext, or the
# nftables table in node 1's namespace.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/manifests.sh"
. "$(dirname "$0")/../harness/topology.sh"
require_root
require_cmd ip socat nsenter awk nft
require_bin skiff-agent lb-client lb-tool
guard_ranges 10.96.0.0/16 fd00:96::/64

AGENT_BIN="$BIN/skiff-agent"
CLI="$TESTBIN/lb-client"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || skip "no cgroup v2 mount"
CG="$CG2/skiff-np-test-$RUN_ID"
BPFFS="/sys/fs/bpf/skiff-np-test-$RUN_ID"
M="$TMP/manifests"
ALOG="$TMP/agent.log"
TABLE="skiff-np-$RUN_ID"

mkdir "$CG" || skip "cannot create cgroup $CG"
defer "rmdir '$CG'"
defer "rm -rf '$BPFFS'"
defer "[ -d '$BPFFS' ] && nsenter --net=/run/netns/$(ns n1) '$TESTBIN/lb-tool' --bpffs '$BPFFS' --cgroup '$CG' --nodeport-device ext destroy"
defer "nsenter --net=/run/netns/$(ns n1) nft delete table inet '$TABLE'"

topo_two_nodes 61 61
# each server answers its name and the address it sees the client as
bg_ns p1 _pid socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo p1 \$SOCAT_PEERADDR'
bg_ns p1 _pid socat TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=1 SYSTEM:'echo p1 \$SOCAT_PEERADDR'
bg_ns n2 _pid socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo n2 \$SOCAT_PEERADDR'
wait_for 5 in_ns n1 "$CLI" --timeout-ms 500 "$POD" 8080 || fail "the pod does not answer"
wait_for 5 in_ns cl "$CLI" --timeout-ms 500 "$N2" 8080 || fail "node 2 does not answer"

mkdir -p "$M"
# web POLICY: the NodePort service (dual-stack) with a local and a remote
# endpoint (IPv4) and the local pod (IPv6).
web() {
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIPs: [10.96.61.10, "fd00:96::61"]
  externalTrafficPolicy: $1
  ports: [{name: http, port: 80, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-v4, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [$POD], nodeName: n1}
- {addresses: [$N2], nodeName: n2}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-v6, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: ["$POD6"], nodeName: n1}
EOF
}
gone() { ! kill -0 "$1" 2>/dev/null; }

# start_agent MODE: the agent in node 1, from a Cluster-policy service.
start_agent() {
	MODE=$1
	web Cluster | put web.yaml
	: >"$ALOG"
	( exec nsenter --net="/run/netns/$(ns n1)" "$AGENT_BIN" --manifests "$M" --bpffs "$BPFFS" \
		--cgroup "$CG" --node-name n1 --node-ip "$N1" --node-ip "$N16" --nodeport-device ext \
		--proxy-mode "$MODE" --nft-table "$TABLE" --destroy-on-exit ) >>"$ALOG" 2>&1 &
	AGENT=$!
	defer "kill $AGENT; wait $AGENT"
	wait_for 10 grep -q "initial sync:" "$ALOG" || fail "agent never synced: $(tail -5 "$ALOG")"
}

case_cluster_policy_reaches_local_and_remote() {
	local out
	out=$(in_ns cl "$CLI" --count 24 "$N1" 30080) || fail "NodePort: $out"
	assert_contains "$out" "p1 "
	assert_contains "$out" "n2 "
	# node 2 answers through node 1 (SNAT): it sees node 1, the client
	# sees the NodePort
	assert_contains "$(echo "$out" | awk '$1 == "n2"' | sort -u)" "n2 $N1"
	assert_eq "$(echo "$out" | awk '$3 != "'"$N1"':30080"' | wc -l)" 0 "peer is the NodePort: $out"
}

case_ipv6_nodeport() {
	local out
	out=$(in_ns cl "$CLI" --count 4 "$N16" 30080) || fail "IPv6 NodePort: $out"
	assert_eq "$(echo "$out" | awk '{ print $1 }' | sort -u)" "p1"
}

case_local_policy_keeps_client_and_refuses_without_local() {
	local out
	change eval 'web Local | put web.yaml'
	out=$(in_ns cl "$CLI" --count 12 "$N1" 30080) || fail "Local NodePort: $out"
	assert_eq "$(echo "$out" | awk '{ print $1, $2 }' | sort -u)" "p1 $CLIENT" \
		"only the local pod, and it sees the client's own address"
	# no local endpoint left: no answer from a remote one
	change eval 'web Local | sed "/nodeName: n1/d" | put web.yaml'
	out=$(in_ns cl "$CLI" --timeout-ms 2000 "$N1" 30080) && fail "answered without a local endpoint: $out"
	assert_not_contains "$out" "n2 "
	# back to Cluster: the remote endpoint serves again
	change eval 'web Cluster | sed "/nodeName: n1/d" | put web.yaml'
	out=$(in_ns cl "$CLI" --count 3 "$N1" 30080) || fail "Cluster again: $out"
	assert_eq "$(echo "$out" | awk '{ print $1 }' | sort -u)" "n2"
}

case_clean_stop_detaches_the_devices() {
	tables() { nsenter --net="/run/netns/$(ns n1)" nft list tables; }
	if [ "$MODE" = bpf ]; then
		assert_contains "$(in_ns n1 tc filter show dev ext ingress)" "bpf"
	else
		assert_contains "$(tables)" "$TABLE"
	fi
	kill -TERM "$AGENT"
	wait_for 30 gone "$AGENT" || fail "agent did not stop"
	if [ "$MODE" = bpf ]; then
		assert_contains "$(cat "$ALOG")" "datapath: programs detached, maps removed"
	else
		assert_contains "$(cat "$ALOG")" "table inet $TABLE removed"
	fi
	assert_not_contains "$(in_ns n1 tc filter show dev ext ingress)" "bpf"
	assert_not_contains "$(tables)" "$TABLE"
	[ -e "$BPFFS" ] && fail "$BPFFS still exists"
	local out
	out=$(in_ns cl "$CLI" --timeout-ms 500 "$N1" 30080) && fail "NodePort still answers: $out"
	return 0
}

for mode in bpf nftables; do
	start_agent "$mode"
	for c in cluster_policy_reaches_local_and_remote ipv6_nodeport \
		local_policy_keeps_client_and_refuses_without_local clean_stop_detaches_the_devices; do
		eval "case_$c/$mode() { case_$c; }"
		run_case "$c/$mode"
	done
done
finish
