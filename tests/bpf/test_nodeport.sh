#!/usr/bin/env bash
# NodePort from outside through the tc programs, with real traffic: a client
# namespace and two nodes on one LAN (a bridge in its own namespace); node 1
# runs the load balancer on its LAN device "ext" and has a local pod; node 2
# runs a backend of its own (a remote backend for node 1).
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/topology.sh"
require_root
require_cmd ip socat nsenter awk
require_bin lb-tool lb-client
guard_ranges 10.96.0.0/16

LBT="$TESTBIN/lb-tool"
CLI="$TESTBIN/lb-client"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || skip "no cgroup v2 mount"
CG="$CG2/skiff-test-$RUN_ID"
BPFFS="/sys/fs/bpf/skiff-test-$RUN_ID"

# lb ARGS...: lb-tool as node 1's agent would run it (its netns, the host's
# mounts so that bpffs and the cgroup stay visible).
lb() {
	nsenter --net="/run/netns/$(ns n1)" "$LBT" --bpffs "$BPFFS" --cgroup "$CG" \
		--nodeport-device ext "$@"
}

mkdir "$CG" || skip "cannot create cgroup $CG"
defer "rmdir '$CG'"
defer "rm -rf '$BPFFS'"
defer "[ -d '$BPFFS' ] && nsenter --net=/run/netns/$(ns n1) '$LBT' --bpffs '$BPFFS' --cgroup '$CG' --nodeport-device ext destroy"

topo_two_nodes 60 1
# each server answers its name and the address it sees the client as
bg_ns p1 _pid socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo p1 \$SOCAT_PEERADDR'
bg_ns n2 _pid socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo n2 \$SOCAT_PEERADDR'
bg_ns p1 _pid "$CLI" --serve-udp p1 8053
bg_ns p1 _pid socat TCP6-LISTEN:8086,fork,reuseaddr,ipv6only=1 SYSTEM:'echo p1 \$SOCAT_PEERADDR'
bg_ns n2 _pid socat TCP6-LISTEN:8086,fork,reuseaddr,ipv6only=1 SYSTEM:'echo n2 \$SOCAT_PEERADDR'
wait_for 5 in_ns n1 "$CLI" --timeout-ms 500 "$POD" 8080 || fail "pod backend does not answer"
wait_for 5 in_ns cl "$CLI" --timeout-ms 500 "$N2" 8080 || fail "node 2 backend does not answer"
wait_for 5 in_ns n1 "$CLI" --timeout-ms 500 "$POD6" 8086 || fail "IPv6 pod backend does not answer"
wait_for 5 in_ns cl "$CLI" --timeout-ms 500 "$N26" 8086 || fail "IPv6 node 2 backend does not answer"
lb attach || fail "lb-tool attach on node 1 failed"

case_local_backend_sees_the_client() {
	lb set "$N1" 30080 tcp "$POD:8080" --kind NodePort --name default/web:http || fail "set"
	local out
	out=$(in_ns cl "$CLI" --count 3 "$N1" 30080) || fail "NodePort to a local pod: $out"
	assert_eq "$(echo "$out" | sort -u)" "p1 $CLIENT $N1:30080" "answered by the pod, client kept, from the NodePort"
}

case_remote_backend_is_snated_and_answers() {
	lb set "$N1" 30081 tcp "$N2:8080" --kind NodePort --name default/remote:http || fail "set"
	local out
	out=$(in_ns cl "$CLI" --count 3 "$N1" 30081) || fail "NodePort to node 2: $out"
	# node 2 sees node 1 (SNAT), the client sees the NodePort
	assert_eq "$(echo "$out" | sort -u)" "n2 $N1 $N1:30081"
	assert_contains "$(lb stats "$N1" 30081 tcp)" "connections 3"
}

case_udp_nodeport() {
	lb set "$N1" 30053 udp "$POD:8053" --kind NodePort || fail "set"
	local out
	out=$(in_ns cl "$CLI" --udp --count 3 "$N1" 30053) || fail "UDP NodePort: $out"
	assert_eq "$(echo "$out" | sort -u)" "p1 $N1:30053"
}

case_ipv6_local_and_remote_backends() {
	lb set "$N16" 30086 tcp "[$POD6]:8086" --kind NodePort || fail "set local"
	lb set "$N16" 30087 tcp "[$N26]:8086" --kind NodePort || fail "set remote"
	local out
	out=$(in_ns cl "$CLI" --count 2 "$N16" 30086) || fail "IPv6 NodePort to a local pod: $out"
	# socat prints the peer in full form
	assert_eq "$(echo "$out" | sort -u)" "p1 [fd00:0060:0000:0000:0000:0000:0000:0100] [$N16]:30086"
	out=$(in_ns cl "$CLI" --count 2 "$N16" 30087) || fail "IPv6 NodePort to node 2: $out"
	assert_eq "$(echo "$out" | sort -u)" "n2 [fd00:0060:0000:0000:0000:0000:0000:0001] [$N16]:30087"
}

case_no_backend_refused_clusterip_closed_from_outside() {
	lb set "$N1" 30099 tcp --kind NodePort || fail "set"
	lb set "$N16" 30099 tcp --kind NodePort || fail "set v6"
	lb set 10.96.0.10 80 tcp "$POD:8080" || fail "set ClusterIP"
	local out
	# refused at once (an RST from the NodePort), not a timeout
	out=$(in_ns cl "$CLI" --timeout-ms 3000 "$N1" 30099) && fail "a NodePort without backends answered: $out"
	assert_contains "$out" "ERR connect: Connection refused (0.0"
	out=$(in_ns cl "$CLI" --timeout-ms 3000 "$N16" 30099) && fail "an IPv6 NodePort without backends answered: $out"
	assert_contains "$out" "ERR connect: Connection refused (0.0"
	in_ns cl ip route add 10.96.0.0/16 via "$N1"
	out=$(in_ns cl "$CLI" --timeout-ms 500 10.96.0.10 80) && fail "a ClusterIP answered from outside: $out"
	return 0
}

case_destroy_detaches_from_the_device() {
	lb destroy || fail "destroy"
	assert_not_contains "$(ip netns exec "$(ns n1)" tc filter show dev ext ingress)" "lb_nodeport"
	local out
	out=$(in_ns cl "$CLI" --timeout-ms 500 "$N1" 30080) && fail "NodePort still answers: $out"
	return 0
}

run_case local_backend_sees_the_client
run_case remote_backend_is_snated_and_answers
run_case udp_nodeport
run_case ipv6_local_and_remote_backends
run_case no_backend_refused_clusterip_closed_from_outside
run_case destroy_detaches_from_the_device
finish
