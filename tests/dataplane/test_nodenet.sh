#!/usr/bin/env bash
# Node networking end to end: three simulated nodes (network namespaces on
# one bridged LAN), each with a pod wired by skiff-cni, and an "outside"
# namespace on the LAN. skiff-agent runs in every node with --node-routing,
# following kind: Node manifests in a shared folder (node 1 gets its pod
# CIDRs from flags, nodes 2 and 3 from their own Node objects). Pods reach
# pods on the other nodes in native-routing and VXLAN modes (TCP and UDP,
# IPv4 and IPv6), the outside sees pod traffic from the node's address,
# deleting a Node manifest removes only that node's entries, a bad Node
# object keeps the last good state, and a restart changes nothing. The
# agents' service proxy (nftables mode) serves a ClusterIP whose endpoints
# are pods on other nodes.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/manifests.sh"
require_root
require_cmd ip bridge jq socat awk nft
require_bin skiff-agent skiff-cni lb-client
guard_ranges 192.168.77.0/24 fd00:77::/64 10.244.0.0/16 fd00:244::/32 10.96.0.0/16

AGENT_BIN="$BIN/skiff-agent"
CLI="$TESTBIN/lb-client"
M="$TMP/manifests"
mkdir -p "$M"
setup_ns lan n1 n2 n3 p1 p2 p3 out
ip -n "$(ns lan)" link add br0 type bridge
ip -n "$(ns lan)" link set br0 up
for n in n1 n2 n3 p1 p2 p3 out; do
	in_ns "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
done
# lan_port NS ADDR4 ADDR6: NS gets eth0 on the LAN.
lan_port() {
	ip -n "$(ns lan)" link add "l-$1" type veth peer name eth0 netns "$(ns "$1")"
	ip -n "$(ns lan)" link set "l-$1" master br0 up
	ip -n "$(ns "$1")" addr add "$2/24" dev eth0
	ip -n "$(ns "$1")" addr add "$3/64" dev eth0 nodad
	ip -n "$(ns "$1")" link set eth0 up
}
for i in 1 2 3; do lan_port "n$i" "192.168.77.$i" "fd00:77::$i"; done
lan_port out 192.168.77.100 fd00:77::100

# Pods: skiff-cni in each node, pod CIDRs 10.244.i.0/24 and fd00:244:i::/64.
for i in 1 2 3; do
	jq -n --arg n "nodenet-$RUN_ID" --arg d "$TMP/ipam-$i" --arg s4 "10.244.$i.0/24" --arg s6 "fd00:244:$i::/64" \
		'{cniVersion: "1.0.0", name: $n, type: "skiff-cni", mtu: 1400,
		  ipam: {type: "skiff-ipam", dataDir: $d, ranges: [[{subnet: $s4}], [{subnet: $s6}]]}}' >"$TMP/cni-$i.json"
	in_ns "n$i" env CNI_COMMAND=ADD CNI_CONTAINERID="$RUN_ID-p$i" CNI_NETNS="/var/run/netns/$(ns "p$i")" \
		CNI_IFNAME=eth0 CNI_PATH="$BIN" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p$i" \
		"$BIN/skiff-cni" <"$TMP/cni-$i.json" >"$TMP/pod-$i.json" || fail "skiff-cni ADD p$i: $(cat "$TMP/pod-$i.json")"
	bg_ns "p$i" _pid socat TCP6-LISTEN:8000,fork,reuseaddr,ipv6only=0 SYSTEM:"echo p$i"
	bg_ns "p$i" _pid "$CLI" --serve-udp "p$i" 8001
	bg_ns "p$i" _pid socat TCP4-LISTEN:8002,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR'
done
pod4() { jq -r '.ips[].address' "$TMP/pod-$1.json" | grep -v : | cut -d/ -f1; }
pod6() { jq -r '.ips[].address' "$TMP/pod-$1.json" | grep : | cut -d/ -f1; }
# The outside answers every connection with the address it came from.
bg_ns out _pid socat TCP4-LISTEN:9000,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR'
wait_for 5 sh -c "ip netns exec $(ns out) ss -ltn | grep -q ':9000 '" || fail "outside server did not start"

# node I [CIDRS...]: the Node object of node I (its InternalIPs on the LAN;
# pod CIDRs 10.244.I.0/24 and fd00:244:I::/64 unless given).
node() {
	local i=$1
	shift
	[ $# -gt 0 ] || set -- "10.244.$i.0/24" "fd00:244:$i::/64"
	printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node%s}\nspec:\n  podCIDRs: [' "$i"
	printf '"%s",' "$@" | sed 's/,$//'
	printf ']\nstatus:\n  addresses:\n  - {type: Hostname, address: node%s}\n' "$i"
	printf '  - {type: InternalIP, address: 192.168.77.%s}\n  - {type: InternalIP, address: "fd00:77::%s"}\n' "$i" "$i"
}
# A ClusterIP service whose endpoints are the pods of nodes 2 and 3.
web() {
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n'
	printf 'spec: {clusterIP: 10.96.0.50, ports: [{name: http, port: 80}, {name: peer, port: 81}]}\n---\n'
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
	printf 'metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\n'
	printf 'addressType: IPv4\nports: [{name: http, port: 8000}, {name: peer, port: 8002}]\n'
	printf 'endpoints: [{addresses: ["%s"]}, {addresses: ["%s"]}]\n' "$(pod4 2)" "$(pod4 3)"
}

LOGS=("" "$TMP/agent-1.log" "$TMP/agent-2.log" "$TMP/agent-3.log")
nsync() { grep -c "node networking: sync: " "${LOGS[$1]}" 2>/dev/null || true; }
synced_since() { [ "$(nsync "$1")" -gt "$2" ]; }
# start_agents MODE [NODE...]: skiff-agent in those nodes (default all),
# each waiting for its own first node sync. The service proxy runs too
# (nftables mode, in a table of the test's own).
start_agents() {
	local mode=$1 i extra n0
	shift
	for i in "${@:-1 2 3}"; do
		for i in $i; do
			n0=$(nsync "$i")
			extra=()
			[ "$i" = 1 ] && extra=(--pod-cidr 10.244.1.0/24 --pod-cidr fd00:244:1::/64)
			( exec ip netns exec "$(ns "n$i")" "$AGENT_BIN" --manifests "$M" --node-name "node$i" \
				--node-ip "192.168.77.$i" --node-ip "fd00:77::$i" --node-routing "$mode" \
				--cluster-cidr 10.244.0.0/16 --service-cidr 10.96.0.0/16 \
				--nat-table "skiff-nat-$RUN_ID" --vxlan-name "skv$RUN_ID" \
				--proxy-mode nftables --nft-table "skiff-proxy-$RUN_ID" \
				--bpffs "/sys/fs/bpf/skiff-nodenet-$RUN_ID" "${extra[@]}" ) >>"${LOGS[$i]}" 2>&1 &
			eval "AGENT$i=$!"
			wait_for 10 synced_since "$i" "$n0" || fail "node $i: no sync: $(tail -3 "${LOGS[$i]}")"
		done
	done
}
stop_agents() {
	local i p
	for i in 1 2 3; do
		eval "p=\${AGENT$i:-}"
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
		eval "AGENT$i="
	done
	return 0
}
# remove_all: every agent once more with --destroy-on-exit, stopped at once.
remove_all() {
	local i p
	stop_agents
	for i in 1 2 3; do
		ip netns exec "$(ns "n$i")" "$AGENT_BIN" --manifests "$M" --node-name "node$i" \
			--node-ip "192.168.77.$i" --node-routing "$1" --nat-table "skiff-nat-$RUN_ID" \
			--vxlan-name "skv$RUN_ID" --proxy-mode nftables --nft-table "skiff-proxy-$RUN_ID" \
			--bpffs "/sys/fs/bpf/skiff-nodenet-$RUN_ID" --once --destroy-on-exit >/dev/null 2>&1
	done
}

# reach FROM TO: TCP and UDP from pod FROM to pod TO, IPv4 and IPv6.
reach() {
	local out
	out=$(in_ns "p$1" "$CLI" --timeout-ms 2000 "$(pod4 "$2")" 8000) || fail "p$1 -> p$2 TCP/IPv4: $out"
	assert_contains "$out" "p$2" "p$1 -> p$2 TCP/IPv4"
	out=$(in_ns "p$1" "$CLI" --timeout-ms 2000 "$(pod6 "$2")" 8000) || fail "p$1 -> p$2 TCP/IPv6: $out"
	assert_contains "$out" "p$2" "p$1 -> p$2 TCP/IPv6"
	out=$(in_ns "p$1" "$CLI" --udp --timeout-ms 2000 "$(pod4 "$2")" 8001) || fail "p$1 -> p$2 UDP/IPv4: $out"
	assert_contains "$out" "p$2" "p$1 -> p$2 UDP/IPv4"
	out=$(in_ns "p$1" "$CLI" --udp --timeout-ms 2000 "$(pod6 "$2")" 8001) || fail "p$1 -> p$2 UDP/IPv6: $out"
	assert_contains "$out" "p$2" "p$1 -> p$2 UDP/IPv6"
}

# the common part of both modes
check_mode() {
	local mode=$1 out before i
	rm -f "$M"/*
	for i in 1 2 3; do node "$i" | put "node-$i.yaml"; : >"${LOGS[$i]}"; done
	web | put web.yaml
	defer "remove_all $mode"
	start_agents "$mode"
	reach 1 2
	reach 2 3
	reach 3 1
	# a Service (the agent's nftables proxy mode in node 1) with pods of
	# the other nodes as endpoints: reached across the nodes, unmasqueraded
	out=$(in_ns p1 "$CLI" --count 20 10.96.0.50 80) || fail "ClusterIP from pod 1: $out"
	assert_eq "$(echo "$out" | awk '{ print $1 }' | sort -u | tr '\n' ' ')" "p2 p3 " \
		"ClusterIP spreads over the pods of nodes 2 and 3"
	out=$(in_ns p1 socat -T3 - TCP:10.96.0.50:81 </dev/null)
	assert_contains "$out" "$(pod4 1)" "the endpoint sees pod 1's own address"
	# pod to outside: seen with its node's address
	out=$(in_ns p1 socat -T3 - TCP:192.168.77.100:9000 </dev/null)
	assert_contains "$out" "192.168.77.1" "outside sees node 1's address"
	out=$(in_ns p2 socat -T3 - TCP:192.168.77.100:9000 </dev/null)
	assert_contains "$out" "192.168.77.2" "outside sees node 2's address"
	# pod to pod is not masqueraded
	out=$(in_ns p1 socat -T3 - "TCP:$(pod4 2):8002" </dev/null)
	assert_contains "$out" "$(pod4 1)" "pod 2 sees pod 1's own address"
	# a bad Node object: named, and the last good state stays
	before=$(grep -c "Node node3" "${LOGS[1]}" || true)
	node 3 10.244.3.0/24 nope | put node-3.yaml
	wait_for 10 grep -q 'node-3.yaml: object 1: Node node3: spec.podCIDRs\[1\]: "nope" is not a CIDR' \
		"${LOGS[1]}" || fail "no error naming file, object and field: $(tail -3 "${LOGS[1]}")"
	reach 1 3
	# removing node 3 (its agent first, as a node leaving does): only its
	# entries go
	kill "$AGENT3"; wait "$AGENT3" 2>/dev/null; AGENT3=
	before=$(nsync 1)
	rm "$M/node-3.yaml"
	wait_for 10 synced_since 1 "$before" || fail "node 1 did not sync the removal"
	assert_contains "$(grep "node networking: sync: " "${LOGS[1]}" | tail -n 1)" \
		"1 other node, 0 entries added or replaced, $2 deleted"
	assert_not_contains "$(ip -n "$(ns n1)" route)" "10.244.3.0/24"
	assert_not_contains "$(ip -n "$(ns n1)" -6 route)" "fd00:244:3::/64"
	reach 1 2
	out=$(in_ns p1 "$CLI" --timeout-ms 500 "$(pod4 3)" 8000 2>&1) && fail "node 3 still routed: $out"
	# a restart changes nothing that works
	stop_agents
	reach 1 2
	: >"${LOGS[1]}"
	start_agents "$mode" 1 2
	assert_contains "$(cat "${LOGS[1]}")" "1 other node, 0 entries added or replaced, 0 deleted"
	# node 3 back: reachable again
	before=$(nsync 1)
	node 3 | put node-3.yaml
	wait_for 10 synced_since 1 "$before" || fail "node 1 did not sync the addition"
	assert_contains "$(grep "node networking: sync: " "${LOGS[1]}" | tail -n 1)" \
		"2 other nodes, $2 entries added or replaced, 0 deleted"
	start_agents "$mode" 3
	reach 1 3
	reach 3 2
}

case_native_routing() {
	check_mode native 2
	assert_contains "$(ip -n "$(ns n1)" route)" "10.244.2.0/24 via 192.168.77.2 dev eth0 proto 92"
	assert_contains "$(ip -n "$(ns n1)" -6 route)" "fd00:244:2::/64 via fd00:77::2 dev eth0 proto 92"
	assert_contains "$(ip netns exec "$(ns n1)" nft list table inet "skiff-nat-$RUN_ID")" "masquerade"
}

case_vxlan_overlay() {
	check_mode vxlan 5
	local dev="skv$RUN_ID"
	assert_contains "$(ip -n "$(ns n1)" -d link show "$dev")" "vxlan id 1"
	assert_contains "$(ip -n "$(ns n1)" route)" "10.244.2.0/24 via 10.244.2.0 dev $dev proto 92 onlink"
	assert_contains "$(ip -n "$(ns n1)" -6 route)" "fd00:244:2::/64 via fd00:244:2:: dev $dev proto 92"
	assert_contains "$(bridge -n "$(ns n1)" fdb show dev "$dev")" "dst 192.168.77.2"
	assert_contains "$(bridge -n "$(ns n1)" fdb show dev "$dev")" "dst 192.168.77.3"
	# no route via the LAN: the packets really cross the overlay
	assert_not_contains "$(ip -n "$(ns n1)" route)" "via 192.168.77.2"
}

# Restarting every agent with the other --node-routing: vxlan -> native
# leaves no vxlan device, and pods still reach each other.
case_routing_mode_switch() {
	local i
	rm -f "$M"/*
	for i in 1 2 3; do node "$i" | put "node-$i.yaml"; : >"${LOGS[$i]}"; done
	defer "remove_all native"
	start_agents vxlan
	reach 1 2
	stop_agents
	start_agents native
	for i in 1 2 3; do
		ip -n "$(ns "n$i")" link show "skv$RUN_ID" >/dev/null 2>&1 &&
			fail "node $i: the vxlan device stayed: $(grep -v debug "${LOGS[$i]}" | tail -5)"
	done
	assert_contains "$(ip -n "$(ns n1)" route)" "10.244.2.0/24 via 192.168.77.2 dev eth0 proto 92"
	reach 1 2
	reach 2 3
}

case_agent_flags_named() {
	local out
	out=$("$AGENT_BIN" --manifests "$M" --node-routing bgp 2>&1) && fail "bad --node-routing accepted"
	assert_contains "$out" '--node-routing: "bgp" is not none, native or vxlan'
	out=$("$AGENT_BIN" --manifests "$M" --node-routing native 2>&1) && fail "no --node-ip accepted"
	assert_contains "$out" "--node-routing: needs --node-ip"
	out=$("$AGENT_BIN" --manifests "$M" --pod-cidr 10.244.1.0/24 --pod-cidr 10.244.2.0/24 2>&1) &&
		fail "two IPv4 pod CIDRs accepted"
	assert_contains "$out" "--pod-cidr: \"10.244.2.0/24\": at most one IPv4 and one IPv6 CIDR"
	# The one CIDR parser (lib/inet.c): host bits are an error, not cleared.
	for f in --cluster-cidr --service-cidr --pod-cidr; do
		out=$("$AGENT_BIN" --manifests "$M" "$f" 10.244.1.5/16 2>&1) &&
			fail "$f with host bits accepted"
		assert_contains "$out" "$f: \"10.244.1.5/16\" is not a CIDR"
		assert_contains "$out" "host bits set past the prefix"
	done
	out=$("$AGENT_BIN" --manifests "$M" --vni 0 2>&1) && fail "VNI 0 accepted"
	assert_contains "$out" '--vni: "0" is not a number from 1 to 16777215'
	out=$("$AGENT_BIN" --help)
	for f in --node-routing --pod-cidr --service-cidr --cluster-cidr --no-masquerade \
		--vxlan-name --vni --vxlan-port --nat-table; do
		grep -qE "^  (-[a-z], )? *$f( |\$)" <<<"$out" || fail "--help lists $f"
	done
}

run_case native_routing
run_case vxlan_overlay
run_case routing_mode_switch
run_case agent_flags_named
finish
