#!/usr/bin/env bash
# The cluster DNS Service answered node-locally: a pod-like namespace
# behind a node namespace asks `dig @10.96.0.10`, the kube-dns ClusterIP
# (the Service as skiff-server makes it, no endpoints of its own); the
# node's skiff-agent serves DNS on 169.254.20.10:53 on a dummy device it
# creates (NodeLocal DNSCache's address) and balances the ClusterIP to
# that server alone, through its proxy: the socket hooks (BPF mode, the
# pod in the agent's cgroup) or the nftables table. UDP and TCP; the
# device goes with --destroy-on-exit. Nothing else serves DNS here, so
# every answer is the node's own server's. Then the same with the agent
# on a skiff-server, whose own kube-dns Service it serves.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/agent.sh"
require_root
require_cmd ip dig nft nsenter curl
require_bin skiff-agent lb-tool

P=10.244.78 LOCAL=169.254.20.10 KUBE_DNS=10.96.0.10 DEV=skiff-dns0
M="$TMP/manifests"
ALOG="$TMP/agent.log"
BPFFS="/sys/fs/bpf/skiff-dnsl-$RUN_ID"
TABLE="skiff-dnsl-$RUN_ID"
guard_ranges 10.96.0.0/16 "$P.0/24" "$LOCAL/32"
agent_cgroup skiff-dnsl

setup_ns node pod
ip -n "$(ns node)" link add vpod type veth peer name eth0 netns "$(ns pod)"
ip -n "$(ns node)" addr add "$P.1/24" dev vpod
ip -n "$(ns node)" link set vpod up
ip -n "$(ns pod)" addr add "$P.2/24" dev eth0
ip -n "$(ns pod)" link set eth0 up
ip -n "$(ns pod)" route add default via "$P.1"

mkdir -p "$M"
cat >"$M/cluster.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $KUBE_DNS
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80}]
EOF

# in_pod CMD...: CMD in the pod namespace, in the agent's cgroup (where
# the BPF mode's socket hooks are).
in_pod() { ( echo "$BASHPID" >"$CG/cgroup.procs" && exec nsenter --net="/run/netns/$(ns pod)" "$@" ); }
ask() { in_pod dig +time=3 +tries=1 +short "$@" | tr '\n' ' ' | sed 's/ $//'; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# start MODE SOURCE...: the agent in the node namespace.
start() {
	MODE=$1
	shift
	: >"$ALOG"
	# upstream: a loopback port where nothing listens (no query leaves)
	( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" "$@" \
		--bpffs "$BPFFS" --cgroup "$CG" --node-name node1 --proxy-mode "$MODE" \
		--nft-table "$TABLE" --dns-listen "$LOCAL:53" --dns-device "$DEV" \
		--dns-upstream 127.0.0.2:5300 --destroy-on-exit ) >>"$ALOG" 2>&1 &
	AGENT=$!
	defer "kill $AGENT; wait $AGENT"
	defer "in_node nft delete table inet '$TABLE'"
	defer "rm -rf '$BPFFS'"
	defer "[ -d '$BPFFS' ] && '$TESTBIN/lb-tool' --bpffs '$BPFFS' --cgroup '$CG' destroy"
	wait_for 30 grep -q "initial sync:" "$ALOG" || fail "agent never synced: $(tail -5 "$ALOG")"
}

case_pods_ask_the_kube_dns_cluster_ip() {
	assert_contains "$(cat "$ALOG")" \
		"Service kube-system/kube-dns (ports dns/UDP, dns-tcp/TCP) balanced to this node's server on $LOCAL:53 alone"
	assert_eq "$(ask @$KUBE_DNS web.default.svc.cluster.local)" "10.96.0.20" "UDP"
	assert_eq "$(ask @$KUBE_DNS +tcp web.default.svc.cluster.local)" "10.96.0.20" "TCP"
	assert_eq "$(ask @$KUBE_DNS -x 10.96.0.20)" "web.default.svc.cluster.local." "PTR"
	# the answer comes from the address asked (dig checks it), and a
	# name the zone lacks is the server's own NXDOMAIN
	assert_contains "$(in_pod dig +time=3 +tries=1 @$KUBE_DNS nope.default.svc.cluster.local)" \
		"status: NXDOMAIN"
	# the node-local address itself, as with NodeLocal DNSCache
	assert_eq "$(ask @$LOCAL web.default.svc.cluster.local)" "10.96.0.20" "link-local address"
	# the server is on the dummy device
	assert_contains "$(ip -n "$(ns node)" -br addr show dev "$DEV")" "$LOCAL/32"
}

case_stop_removes_the_device() {
	kill -TERM "$AGENT"
	wait_for 30 gone "$AGENT" || fail "agent did not stop"
	assert_contains "$(cat "$ALOG")" "cluster DNS: device $DEV removed"
	ip -n "$(ns node)" link show "$DEV" >/dev/null 2>&1 && fail "$DEV is still there"
	return 0
}

# From the API server: the kube-dns Service skiff-server makes itself, at
# the 10th address of its range, reached the same way.
case_the_servers_kube_dns_service() {
	assert_contains "$(cat "$ALOG")" \
		"Service kube-system/kube-dns (ports dns/UDP, dns-tcp/TCP) balanced to this node's server"
	assert_eq "$(ask @$KUBE_DNS kube-dns.kube-system.svc.cluster.local)" "$KUBE_DNS"
	assert_eq "$(ask @$KUBE_DNS +tcp kubernetes.default.svc.cluster.local)" "10.96.0.1"
}

for mode in bpf nftables; do
	start "$mode" --manifests "$M"
	for c in pods_ask_the_kube_dns_cluster_ip stop_removes_the_device; do
		eval "case_$c/$mode() { case_$c; }"
		run_case "$c/$mode"
	done
done
agent_server_start "$TMP/data" "$TMP/server.log" tls --service-cluster-ip-range 10.96.0.0/16
for mode in bpf nftables; do
	start "$mode" --kubeconfig "$TMP/data/kubeconfig"
	for c in the_servers_kube_dns_service stop_removes_the_device; do
		eval "case_$c/api/$mode() { case_$c; }"
		run_case "$c/api/$mode"
	done
done
finish
