#!/usr/bin/env bash
# Node networking end to end: three simulated nodes (network namespaces on
# one bridged LAN), each with a pod wired by skiff-cni, and an "outside"
# namespace on the LAN. skiff-nodenet-tool runs in every node; pods reach
# pods on the other nodes in native-routing and VXLAN modes (TCP and UDP,
# IPv4 and IPv6), the outside sees pod traffic from the node's address,
# removing a node removes only its entries, and a restart changes nothing.
. "$(dirname "$0")/../harness/lib.sh"
require_root
require_cmd ip bridge jq socat awk
require_bin skiff-nodenet-tool skiff-cni lb-client

TOOL="$TESTBIN/skiff-nodenet-tool"
CLI="$TESTBIN/lb-client"

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

# peers FILE NODE...: the peers file listing those nodes.
peers() {
	local f=$1 i
	shift
	for i in "$@"; do
		jq -n --arg n "node$i" --arg a "192.168.77.$i" --arg a6 "fd00:77::$i" \
			--arg c4 "10.244.$i.0/24" --arg c6 "fd00:244:$i::/64" \
			'{name: $n, addresses: [$a, $a6], podCIDRs: [$c4, $c6]}'
	done | jq -s . >"$f.tmp" && mv "$f.tmp" "$f"
}

nsync() { grep -c "sync: " "$TMP/tool-$1.log"; }
synced_since() { [ "$(nsync "$1")" -gt "$2" ]; }
# start_tools MODE: the tool in every node, following $TMP/peers.json.
start_tools() {
	local i
	for i in 1 2 3; do
		( exec ip netns exec "$(ns "n$i")" "$TOOL" --mode "$1" --node-addr "192.168.77.$i" \
			--node-addr "fd00:77::$i" --pod-cidr "10.244.$i.0/24" --pod-cidr "fd00:244:$i::/64" \
			--cluster-cidr 10.244.0.0/16 --service-cidr 10.96.0.0/16 \
			--nat-table "skiff-nat-$RUN_ID" --vxlan-name "skv$RUN_ID" \
			--peers "$TMP/peers.json" --follow ) >>"$TMP/tool-$i.log" 2>&1 &
		eval "TOOL$i=$!"
		wait_for 5 grep -q "sync: " "$TMP/tool-$i.log" || fail "node $i: no sync: $(tail -3 "$TMP/tool-$i.log")"
	done
}
stop_tools() {
	local i p
	for i in 1 2 3; do
		eval "p=\${TOOL$i:-}"
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	return 0
}
remove_all() {
	local i
	stop_tools
	for i in 1 2 3; do
		ip netns exec "$(ns "n$i")" "$TOOL" --mode "$1" --node-addr "192.168.77.$i" \
			--nat-table "skiff-nat-$RUN_ID" --vxlan-name "skv$RUN_ID" --remove
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
	local mode=$1 out before
	peers "$TMP/peers.json" 1 2 3
	: >"$TMP/tool-1.log"; : >"$TMP/tool-2.log"; : >"$TMP/tool-3.log"
	defer "remove_all $mode"
	start_tools "$mode"
	reach 1 2
	reach 2 3
	reach 3 1
	# pod to outside: seen with its node's address
	out=$(in_ns p1 socat -T3 - TCP:192.168.77.100:9000 </dev/null)
	assert_contains "$out" "192.168.77.1" "outside sees node 1's address"
	out=$(in_ns p2 socat -T3 - TCP:192.168.77.100:9000 </dev/null)
	assert_contains "$out" "192.168.77.2" "outside sees node 2's address"
	# pod to pod is not masqueraded
	out=$(in_ns p1 socat -T3 - "TCP:$(pod4 2):8002" </dev/null)
	assert_contains "$out" "$(pod4 1)" "pod 2 sees pod 1's own address"
	# removing node 3: only its entries go
	before=$(nsync 1)
	peers "$TMP/peers.json" 1 2
	wait_for 5 synced_since 1 "$before" || fail "node 1 did not sync the removal"
	assert_contains "$(tail -n 1 "$TMP/tool-1.log")" "0 entries added or replaced"
	assert_not_contains "$(ip -n "$(ns n1)" route)" "10.244.3.0/24"
	assert_not_contains "$(ip -n "$(ns n1)" -6 route)" "fd00:244:3::/64"
	reach 1 2
	out=$(in_ns p1 "$CLI" --timeout-ms 500 "$(pod4 3)" 8000 2>&1) && fail "node 3 still routed: $out"
	# a restart changes nothing that works
	stop_tools
	reach 1 2
	: >"$TMP/tool-1.log"
	start_tools "$mode"
	assert_contains "$(cat "$TMP/tool-1.log")" "0 entries added or replaced, 0 deleted"
	# node 3 back: reachable again
	before=$(nsync 1)
	peers "$TMP/peers.json" 1 2 3
	wait_for 5 synced_since 1 "$before" || fail "node 1 did not sync the addition"
	reach 1 3
}

case_native_routing() {
	check_mode native
	assert_contains "$(ip -n "$(ns n1)" route)" "10.244.2.0/24 via 192.168.77.2 dev eth0 proto 92"
	assert_contains "$(ip -n "$(ns n1)" -6 route)" "fd00:244:2::/64 via fd00:77::2 dev eth0 proto 92"
	assert_contains "$(ip netns exec "$(ns n1)" nft list table inet "skiff-nat-$RUN_ID")" "masquerade"
}

case_vxlan_overlay() {
	check_mode vxlan
	local dev="skv$RUN_ID"
	assert_contains "$(ip -n "$(ns n1)" -d link show "$dev")" "vxlan id 1"
	assert_contains "$(ip -n "$(ns n1)" route)" "10.244.2.0/24 via 10.244.2.0 dev $dev proto 92 onlink"
	assert_contains "$(ip -n "$(ns n1)" -6 route)" "fd00:244:2::/64 via fd00:244:2:: dev $dev proto 92"
	assert_contains "$(bridge -n "$(ns n1)" fdb show dev "$dev")" "dst 192.168.77.2"
	assert_contains "$(bridge -n "$(ns n1)" fdb show dev "$dev")" "dst 192.168.77.3"
	# no route via the LAN: the packets really cross the overlay
	assert_not_contains "$(ip -n "$(ns n1)" route)" "via 192.168.77.2"
}

case_bad_peers_file_named() {
	local out
	echo '[{"name": "x", "addresses": ["nope"], "podCIDRs": []}]' >"$TMP/bad.json"
	out=$(in_ns n1 "$TOOL" --mode native --node-addr 192.168.77.1 --peers "$TMP/bad.json" \
		--nat-table "skiff-nat-$RUN_ID-bad" 2>&1) && fail "bad peers file accepted"
	assert_contains "$out" "[0].addresses[0]: not an IP address"
	out=$("$TOOL" --mode bogus --node-addr 1.2.3.4 --peers x 2>&1) && fail "bad mode accepted"
	assert_contains "$out" "--mode"
	assert_contains "$("$TOOL" --help)" "--peers FILE"
}

run_case native_routing
run_case vxlan_overlay
run_case bad_peers_file_named
finish
