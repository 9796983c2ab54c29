#!/usr/bin/env bash
# skiff-agent's L2 announcements: a LoadBalancer Service's ingress IPs and
# its externalIP answer on the nodes' network. A client, two nodes and a
# backend share one LAN (a bridge namespace); both nodes run skiff-agent
# with --l2-announce on the same manifests folder (what the API server
# would give both). The client reaches http://LB-IP/ with no route of its
# own (the address is on its link): exactly one node answers ARP / NDP
# for each address, the one rendezvous hashing elects (with the names and
# addresses fixed here: n1 for both ingress IPs, n2 for the externalIP).
# Then n1's agent stops and its Node goes NotReady: n2 takes n1's
# addresses over, tells the client with a gratuitous ARP / unsolicited
# neighbor advertisement (its neighbour entry moves before any traffic),
# and the client reaches the service again. Both proxy modes.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/manifests.sh"
. "$(dirname "$0")/../harness/agent.sh"
require_root
require_cmd ip socat nsenter awk nft curl arping ndisc6
require_bin skiff-agent lb-tool

L=75
CLIENT=192.168.$L.100 N1=192.168.$L.1 N2=192.168.$L.2 BE=192.168.$L.50
CLIENT6=fd00:$L::100 N16=fd00:$L::1 N26=fd00:$L::2 BE6=fd00:$L::50
LB=192.168.$L.200 LB6=fd00:$L::200 EXT=192.168.$L.201
M="$TMP/manifests"

guard_ranges 10.96.0.0/16 fd00:96::/64 "192.168.$L.0/24" "fd00:$L::/64"
agent_cgroup skiff-l2-1
CG1=$CG
agent_cgroup skiff-l2-2
CG2=$CG

# lan (a bridge), cl, n1, n2 and be on it through device "ext"
setup_ns lan cl n1 n2 be
for n in lan cl n1 n2 be; do
	in_ns "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
done
ip -n "$(ns lan)" link add br0 type bridge
ip -n "$(ns lan)" link set br0 up
for n in cl n1 n2 be; do
	ip -n "$(ns lan)" link add "v$n" type veth peer name ext netns "$(ns "$n")"
	ip -n "$(ns lan)" link set "v$n" master br0 up
	ip -n "$(ns "$n")" link set ext up
done
addr() { ip -n "$(ns "$1")" addr add "$2/24" dev ext; ip -n "$(ns "$1")" addr add "$3/64" dev ext nodad; }
addr cl "$CLIENT" "$CLIENT6"
addr n1 "$N1" "$N16"
addr n2 "$N2" "$N26"
addr be "$BE" "$BE6"
for n in n1 n2; do
	in_ns "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
done
mac() { ip -n "$(ns "$1")" -br link show ext | awk '{ print tolower($3) }'; }
MAC1=$(mac n1) MAC2=$(mac n2)
# an HTTP server (socat reads escapes in its address: the reply in a script)
printf '#!/bin/sh\nread -r l\nprintf "HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nbe\\n"\n' >"$TMP/http.sh"
chmod +x "$TMP/http.sh"
bg_ns be _pid socat TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=0 EXEC:"$TMP/http.sh"
wait_for 5 in_ns cl curl -sf -m 1 "http://$BE:8080/" || fail "the backend does not answer directly"

mkdir -p "$M"
# node NAME IP IP6 READY
node() {
	cat <<EOF
apiVersion: v1
kind: Node
metadata: {name: $1}
status:
  addresses: [{type: InternalIP, address: $2}, {type: InternalIP, address: "$3"}]
  conditions: [{type: Ready, status: "$4"}]
EOF
}
cat >"$M/web.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  clusterIPs: [10.96.$L.10, "fd00:96::$L"]
  externalIPs: [$EXT]
  ports: [{name: http, port: 80, nodePort: 300$L}]
status:
  loadBalancer:
    ingress: [{ip: $LB}, {ip: "$LB6"}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-v4, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [$BE]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-v6, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
ports: [{name: http, port: 8080}]
endpoints: [{addresses: ["$BE6"]}]
EOF
node n1 "$N1" "$N16" True | put n1.yaml
node n2 "$N2" "$N26" True | put n2.yaml

gone() { ! kill -0 "$1" 2>/dev/null; }

# start_agent I MODE: skiff-agent of node nI (log $TMP/agentI.log, PID
# AGENTI), its interface found from --node-ip.
start_agent() {
	local i=$1 ip ip6 cg
	eval "ip=\$N$i ip6=\$N${i}6 cg=\$CG$i"
	( exec nsenter --net="/run/netns/$(ns "n$i")" "$BIN/skiff-agent" --manifests "$M" \
		--bpffs "/sys/fs/bpf/skiff-l2-$i-$RUN_ID" --cgroup "$cg" --node-name "n$i" \
		--node-ip "$ip" --node-ip "$ip6" --nodeport-device ext --proxy-mode "$2" \
		--nft-table "skiff-l2-$i-$RUN_ID" --l2-announce --log-level debug \
		--destroy-on-exit ) >>"$TMP/agent$i.log" 2>&1 &
	eval "AGENT$i=$!"
	defer "kill $!; wait $!"
	defer "nsenter --net=/run/netns/$(ns "n$i") nft delete table inet skiff-l2-$i-$RUN_ID"
	defer "rm -rf /sys/fs/bpf/skiff-l2-$i-$RUN_ID"
	defer "[ -d /sys/fs/bpf/skiff-l2-$i-$RUN_ID ] && nsenter --net=/run/netns/$(ns "n$i") '$TESTBIN/lb-tool' --bpffs /sys/fs/bpf/skiff-l2-$i-$RUN_ID --cgroup '$cg' --nodeport-device ext destroy"
	wait_for 10 grep -q "initial sync:" "$TMP/agent$i.log" ||
		fail "agent n$i never synced: $(tail -5 "$TMP/agent$i.log")"
}
stop_agent() {
	local pid
	eval "pid=\$AGENT$1"
	kill -TERM "$pid" 2>/dev/null
	wait_for 30 gone "$pid" || fail "agent n$1 did not stop"
}
announced() { grep -q "L2: $2 (service default/web) announced here" "$TMP/agent$1.log"; }

# The MACs that answer ARP for $1 from the client, one a line.
arp_macs() {
	in_ns cl arping -I ext -c 3 -w 4 "$1" 2>/dev/null |
		awk -F'[][]' '/reply from/ { print tolower($2) }' | sort -u
}
ndp_macs() {
	in_ns cl ndisc6 -m -n -r 2 -w 1000 "$1" ext 2>/dev/null |
		awk '/link-layer address/ { print tolower($NF) }' | sort -u
}
neigh_mac() { in_ns cl ip neigh show "$1" dev ext | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }'; }
get() { in_ns cl curl -sf -m 3 -g "http://$1/"; }

case_one_node_answers_each_address() {
	wait_for 5 announced 1 "$LB" || fail "n1 does not announce $LB: $(grep 'L2' "$TMP/agent1.log")"
	wait_for 5 announced 1 "$LB6" || fail "n1 does not announce $LB6"
	wait_for 5 announced 2 "$EXT" || fail "n2 does not announce $EXT"
	assert_eq "$(arp_macs "$LB")" "$MAC1" "ARP replies for $LB (n1 is $MAC1, n2 $MAC2)"
	assert_eq "$(arp_macs "$EXT")" "$MAC2" "ARP replies for $EXT"
	assert_eq "$(ndp_macs "$LB6")" "$MAC1" "NDP replies for $LB6"
	assert_contains "$(cat "$TMP/agent2.log")" "L2: $LB (service default/web) is announced by n1"
}

case_client_reaches_the_lb_ip_on_its_link() {
	assert_eq "$(in_ns cl ip route get "$LB" | awk '{ print $2 }' | head -1)" "dev" \
		"the client has no route but its link's"
	assert_eq "$(get "$LB")" "be"
	assert_eq "$(get "[$LB6]")" "be"
	assert_eq "$(get "$EXT")" "be"
	assert_eq "$(neigh_mac "$LB")" "$MAC1"
}

case_another_node_takes_over() {
	local t0 ms
	stop_agent 1
	t0=$EPOCHREALTIME
	node n1 "$N1" "$N16" False | put n1.yaml
	wait_for 10 grep -q "L2: $LB (service default/web) announced here on ext, taking over from n1" \
		"$TMP/agent2.log" || fail "n2 did not take $LB over: $(grep 'L2' "$TMP/agent2.log")"
	wait_for 5 announced 2 "$LB6" || fail "n2 did not take $LB6 over"
	# the gratuitous ARP and the unsolicited advertisement moved the
	# client's entries, before any traffic
	wait_for 3 eval '[ "$(neigh_mac "$LB")" = "$MAC2" ]' ||
		fail "the client's neighbour entry for $LB is $(neigh_mac "$LB"), not n2's $MAC2"
	wait_for 3 eval '[ "$(neigh_mac "$LB6")" = "$MAC2" ]' ||
		fail "the client's neighbour entry for $LB6 is $(neigh_mac "$LB6"), not n2's $MAC2"
	ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
	echo "    takeover: $ms ms from Node n1 NotReady (a manifest) to the client's entries on n2"
	assert_eq "$(get "$LB")" "be"
	assert_eq "$(get "[$LB6]")" "be"
	assert_eq "$(get "$EXT")" "be"
	assert_eq "$(arp_macs "$LB")" "$MAC2" "ARP replies for $LB after the takeover"
	assert_eq "$(ndp_macs "$LB6")" "$MAC2" "NDP replies for $LB6 after the takeover"
	# the externalIP was n2's all along: it never moved
	assert_eq "$(grep -c "L2: $EXT (service default/web) announced here" "$TMP/agent2.log")" 1
}

case_the_node_back_takes_its_addresses_again() {
	node n1 "$N1" "$N16" True | put n1.yaml
	wait_for 10 grep -q "L2: $LB (service default/web) moves to n1: no longer announced here" \
		"$TMP/agent2.log" || fail "n2 kept $LB: $(grep 'L2' "$TMP/agent2.log")"
	: >"$TMP/agent1.log"
	start_agent 1 "$MODE"
	wait_for 5 announced 1 "$LB" || fail "n1 does not announce $LB again"
	wait_for 3 eval '[ "$(neigh_mac "$LB")" = "$MAC1" ]' || fail "the client's entry did not move back"
	assert_eq "$(get "$LB")" "be"
	assert_eq "$(arp_macs "$LB")" "$MAC1"
}

for MODE in bpf nftables; do
	: >"$TMP/agent1.log"
	: >"$TMP/agent2.log"
	node n1 "$N1" "$N16" True | put n1.yaml
	in_ns cl ip neigh flush dev ext
	start_agent 1 "$MODE"
	start_agent 2 "$MODE"
	for c in one_node_answers_each_address client_reaches_the_lb_ip_on_its_link \
		another_node_takes_over the_node_back_takes_its_addresses_again; do
		eval "case_$c/$MODE() { case_$c; }"
		run_case "$c/$MODE"
	done
	stop_agent 1
	stop_agent 2
done
finish
