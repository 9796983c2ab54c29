#!/usr/bin/env bash
# Node 1 of `skiff up` is the machine itself, as in kind's single node or
# k3s: its InternalIP is the bridge's host address, its pods' veths and
# routes are on the host, and from the machine `curl` reaches a ClusterIP
# (BPF mode: the socket hooks' copy at the cgroup v2 root, for the
# machine's own network namespace and no other; nftables mode: the host's
# output path), a NodePort on the bridge address and every pod IP. Pods on the
# two nodes reach each other both ways. A second cluster with the same
# ranges is refused before it changes anything. `skiff down` leaves the
# machine as it was (links, routes, nftables tables, pins, cgroup
# attachments, forwarding sysctls, the default route), in each proxy mode.
# From node 2, node 1's NodePort answers with the pods of both nodes. In
# BPF mode the machine's sockets that the hooks balanced to a backend end
# when it leaves the Service, its direct ones to that pod stay.
# The first nftables cluster runs with --node-routing vxlan: each node
# routes the other's pods through the cluster's vxlan device, and the
# pods' MTU is the bridge's less VXLAN's 50 bytes; a second one, native,
# only asks n1's NodePort from n2 (the bridge's netfilter path).
# The cluster's own ranges (bridge, pods, Services) are unique to the run
# and guarded, so no packet of the test leaves the machine.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/up_lib.sh"
up_require
require_cmd bpftool nft socat

SVC_NET=172.30.${BRIDGE##*.}
SVC_CIDR=$SVC_NET.0/24
POD_CIDR=10.$(( 150 + RANDOM % 50 )).0.0/16
guard_ranges "$SVC_CIDR" "$POD_CIDR"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)

# the machine's state a cluster must leave as it found it: the default
# route, forwarding (global, and the default route's interface's)
host_state() {
	local dev
	ip -4 route show default
	sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding \
		net.ipv6.conf.all.forwarding
	for dev in $(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }'); do
		echo "$dev $(sysctl -n "net.ipv4.conf.$dev.forwarding" "net.ipv6.conf.$dev.forwarding" | xargs)"
	done
}
BEFORE=$(host_state)

hup() {
	"$BIN/skiff" up --data-dir "$DATA" --name "$NAME" --bridge-net "$BRIDGE" --port "$PORT" \
		--registry-port "$REGPORT" --nodes 2 --service-cidr "$SVC_CIDR" --cluster-cidr "$POD_CIDR" "$@"
}

# cluster_up MODE [ARGS...]: the 2-node cluster in proxy mode MODE (up's
# further ARGS), web on both nodes
# behind a ClusterIP and a NodePort Service; in BPF mode clients c1 on n1
# and c2 on n2.
cluster_up() {
	local out t0=$SECONDS
	MODE=$1
	defer "'$BIN/skiff' down --data-dir '$DATA' --purge >/dev/null 2>&1"
	out=$(hup --proxy-mode "$@" 2>&1) || {
		echo "FAIL $TEST_FILE/up-$1: skiff up --proxy-mode $1 failed: $out"
		tail -n 5 "$DATA"/logs/*.log 2>&1
		exit 1
	}
	echo "skiff up --nodes 2 --proxy-mode $*: $(( SECONDS - t0 )) s" >&2
	run_case "web_on_both_nodes_$1"
}

case_web_on_both_nodes_bpf() { web_on_both_nodes; }
case_web_on_both_nodes_nftables() { web_on_both_nodes; }
web_on_both_nodes() {
	web_yaml 2 | k apply -f - >/dev/null || fail "kubectl apply web failed"
	k expose deployment web --name web-np --type NodePort --port 80 >/dev/null || fail "expose NodePort failed"
	if [ "$MODE" = bpf ]; then
		client_pod c1 n1
		client_pod c2 n2
	fi
	wait_ready_replicas web 2 || fail "web never had 2 Ready replicas: $(k get pods -o wide 2>&1)"
	assert_eq "$(k get pods -l app=web -o 'jsonpath={.items[*].spec.nodeName}' | tr ' ' '\n' | sort -u | xargs)" \
		"n1 n2" "nodes web runs on"
	within 30 endpoints_are_ready_pods web || fail "endpoints $(ready_endpoints web) are not the pods $(ready_pod_ips web)"
}

# cross_node_routes HOW1 HOW2: the machine's route to n2's pod range reads
# HOW1 (in `ip route`'s words), n2's route to n1's reads HOW2.
cross_node_routes() {
	local n1cidr n2cidr
	n1cidr=$(k get node n1 -o 'jsonpath={.spec.podCIDR}')
	n2cidr=$(k get node n2 -o 'jsonpath={.spec.podCIDR}')
	within 20 eval "ip -4 route show '$n2cidr' | grep -q '$1'" ||
		fail "the machine's route to n2's $n2cidr is not '$1': $(ip -4 route show "$n2cidr")"
	within 20 eval "ip netns exec '$NAME-n2' ip -4 route show '$n1cidr' | grep -q '$2'" ||
		fail "n2's route to n1's $n1cidr is not '$2': $(ip netns exec "$NAME-n2" ip -4 route)"
}

pod_ip_on() { k get pods -l app=web --field-selector "spec.nodeName=$1" -o 'jsonpath={.items[0].status.podIP}'; }

case_node1_is_the_machine() {
	local ip1 dev
	assert_eq "$(k get node n1 -o 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}')" \
		"$BRIDGE.1" "n1's InternalIP"
	assert_eq "$(k get node n2 -o 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}')" \
		"$BRIDGE.3" "n2's InternalIP"
	ip netns list | grep -q "^$NAME-n1\b" && fail "node 1 has a network namespace: $(ip netns list | grep "$NAME")"
	# n1's pod: its veth and its route are the host's own
	ip1=$(pod_ip_on n1)
	dev=$(ip -4 route show "$ip1" | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }')
	[[ $dev == skf* ]] || fail "no host route to n1's pod $ip1 through its veth: $(ip -4 route show "$ip1")"
	ip -o link show dev "$dev" >/dev/null 2>&1 || fail "n1's pod veth $dev is not in the host's namespace"
	echo "$dev" >>"$TMP/veths"
	# each node routes the other's pod CIDR through the other's bridge address
	cross_node_routes "via $BRIDGE.3 dev $NAME-br" "via $BRIDGE.1"
	assert_contains "$(ip -4 route show "$SVC_CIDR")" "dev $NAME-br" "the service range's route"
}

case_machine_reaches_clusterip_nodeport_and_pods() {
	local cip np out ip
	cip=$(k get svc web -o 'jsonpath={.spec.clusterIP}')
	np=$(k get svc web-np -o 'jsonpath={.spec.ports[0].nodePort}')
	within 20 curl -fsS -m 2 "http://$cip/" || fail "ClusterIP $cip never answered the machine"
	out=$(curl_n 12 "http://$cip/") || fail "ClusterIP $cip from the machine: $out"
	check_answers "$out" "$(pod_nodes web)" "ClusterIP $cip from the machine"
	assert_eq "$(echo "$out" | awk '{ print $3 }' | sort -u | xargs)" "n1 n2" "nodes that answered the machine at $cip"
	within 20 curl -fsS -m 2 "http://$BRIDGE.1:$np/" || fail "NodePort $BRIDGE.1:$np never answered"
	out=$(curl_n 4 "http://$BRIDGE.1:$np/") || fail "NodePort $BRIDGE.1:$np: $out"
	check_answers "$out" "$(pod_nodes web)" "NodePort on $BRIDGE.1"
	for ip in $(ready_pod_ips web); do
		out=$(curl -fsS -m 5 "http://$ip/") || fail "pod $ip from the machine"
		check_answers "$out" "$(pod_nodes web)" "pod $ip"
	done
}

# From node 2's namespace, a client of the bridge as another machine
# would be, n1's NodePort answers with the pods of both nodes. n1's pod:
# its reply is not masqueraded on the way back (BPF mode: the NodePort's
# reverse translation would not know it). n2's pod, nftables mode: the
# bridge's netfilter DNATs the request, and with native routing bridges
# it back out n2's port (so that port is a hairpin one), masqueraded so
# the reply comes back the same way; with vxlan routing the reply comes
# in through the vxlan device, whose forwarding is on.
case_n1_nodeport_answers_n2() {
	local np out
	np=$(k get svc web-np -o 'jsonpath={.spec.ports[0].nodePort}')
	within 20 ip netns exec "$NAME-n2" curl -fsS -m 2 "http://$BRIDGE.1:$np/" ||
		fail "NodePort $BRIDGE.1:$np never answered n2"
	out=$(for _ in $(seq 12); do ip netns exec "$NAME-n2" curl -fsS -m 5 "http://$BRIDGE.1:$np/" || exit 1; done) ||
		fail "NodePort $BRIDGE.1:$np from n2: $out"
	check_answers "$out" "$(pod_nodes web)" "NodePort on $BRIDGE.1 from n2"
	assert_eq "$(echo "$out" | awk '{ print $3 }' | sort -u | xargs)" "n1 n2" \
		"nodes that answered n2 at $BRIDGE.1:$np"
}

# --node-routing vxlan: each node reaches the other's pod range through the
# cluster's vxlan device, and the pods' MTU leaves room for its headers.
case_vxlan_carries_the_pods() {
	local pod mtu
	cross_node_routes "dev $NAME-vx" "dev $NAME-vx"
	mtu=$(( $(cat "/sys/class/net/$NAME-br/mtu") - 50 ))
	for pod in $(k get pods -l app=web -o 'jsonpath={.items[*].metadata.name}'); do
		assert_eq "$(k exec "$pod" -- cat /sys/class/net/eth0/mtu)" "$mtu" "the MTU of $pod's eth0"
	done
}

case_pods_reach_each_other_across_nodes() {
	local out
	out=$(ask c1 "$(pod_ip_on n2)" 2) || fail "c1 on n1 to the web pod on n2: $out"
	assert_contains "$out" " n2" "c1 (n1) to n2's pod"
	out=$(ask c2 "$(pod_ip_on n1)" 2) || fail "c2 on n2 to the web pod on n1: $out"
	assert_contains "$out" " n1" "c2 (n2) to n1's pod"
	out=$(ask c2 web 8) || fail "c2 on n2 to web by name: $out"
	check_answers "$out" "$(pod_nodes web)" "c2 to web"
}

# BPF mode: the hooks' copy at the cgroup v2 root serves the machine's
# network namespace only. A namespace of the test's own that holds the
# ClusterIP itself, with a listener on it, gets its own listener: no hook
# rewrote its connect to a pod (which it has no route to).
case_other_namespaces_are_left_alone() {
	local cip out lp
	cip=$(k get svc web -o 'jsonpath={.spec.clusterIP}')
	setup_ns iso
	ip -n "$(ns iso)" addr add "$cip/32" dev lo
	bg_ns iso lp socat "TCP-LISTEN:80,bind=$cip,fork,reuseaddr" SYSTEM:'echo iso-listener'
	wait_for 5 eval "ip netns exec '$(ns iso)' ss -Hltn 'sport = :80' | grep -q ." || fail "no listener in iso"
	out=$(in_ns iso socat -T3 - "TCP:$cip:80" </dev/null 2>&1)
	assert_eq "$out" "iso-listener" "a connect to $cip:80 from another namespace"
	out=$(curl -fsS -m 5 "http://$cip/") || fail "ClusterIP $cip from the machine meanwhile: $out"
	check_answers "$out" "$(pod_nodes web)" "ClusterIP $cip from the machine"
}

# hold_conn VAR HOST: a connection of the machine's to HOST:80, held
# (by a process whose PID goes in VAR) until it ends or 60 s pass; it
# prints its local port, then how the connection ended.
hold_conn() {
	python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=5)
print("local", s.getsockname()[1], flush=True)
s.settimeout(60)
try:
    print("closed: eof" if not s.recv(1) else "data", flush=True)
except socket.timeout:
    print("still open", flush=True)
except OSError as e:
    print("closed:", e.strerror, flush=True)
' "$2" >"$TMP/hold-$2" 2>&1 &
	printf -v "$1" '%s' "$!"
	defer kill_tree "$!"
	within 10 grep -q '^local' "$TMP/hold-$2" || fail "no connection to $2:80: $(cat "$TMP/hold-$2")"
}

# the peer (address) the kernel holds for the machine's connection from
# local port $1
kernel_peer() { ss -Htn "sport = :$1" | awk '{ sub(/:[0-9]+$/, "", $5); print $5 }'; }

# BPF mode: a backend that leaves the Service has node 1's agent end the
# machine's sockets that the hooks at the cgroup v2 root balanced to it,
# and only those: the machine's connection straight to the pod's address
# stays (a probe's or a curl's, never balanced).
case_machines_sockets_to_a_removed_backend_end() {
	local cip svc_pid pod_pid ip pod
	cip=$(k get svc web -o 'jsonpath={.spec.clusterIP}')
	hold_conn svc_pid "$cip"
	ip=$(kernel_peer "$(awk '/^local/ { print $2 }' "$TMP/hold-$cip")")
	[[ $ip == "${POD_CIDR%%.0.0/16}".* ]] || fail "the connection to $cip:80 holds no pod as its peer: '$ip'"
	hold_conn pod_pid "$ip"
	pod=$(k get pods -l app=web -o jsonpath="{.items[?(@.status.podIP==\"$ip\")].metadata.name}")
	[ -n "$pod" ] || fail "no web pod has $ip: $(k get pods -o wide)"
	k label pod "$pod" app- >/dev/null || fail "cannot take $pod out of the Service"
	within 30 grep -q "backend $ip:80/TCP removed" "$DATA/logs/n1-agent.log" ||
		fail "n1's agent never removed $ip:80: $(grep removed "$DATA/logs/n1-agent.log")"
	within 10 grep -q '^closed' "$TMP/hold-$cip" ||
		fail "the machine's connection to $cip:80 (to $ip) is still open: $(cat "$TMP/hold-$cip")"
	assert_contains "$(cat "$TMP/hold-$cip")" "closed: Software caused connection abort" \
		"the machine's connection through $cip:80"
	kill -0 "$pod_pid" 2>/dev/null && [ "$(grep -c . "$TMP/hold-$ip")" = 1 ] ||
		fail "the machine's connection straight to $ip:80 ended: $(cat "$TMP/hold-$ip")"
	kill "$pod_pid" "$svc_pid" 2>/dev/null
	wait "$pod_pid" "$svc_pid" 2>/dev/null
	return 0
}

case_same_ranges_refused() {
	local out
	out=$("$BIN/skiff" up --data-dir "$TMP/other" --name "x$RUN_ID" --bridge-net "$BRIDGE" \
		--port "$(free_port 4)" --registry-port "$(free_port)" --service-cidr "$SVC_CIDR" --cluster-cidr "$POD_CIDR" 2>&1) &&
		fail "a second cluster with the same ranges started: $out"
	assert_contains "$out" "the pods' range $POD_CIDR is routed on this machine already"
	assert_contains "$out" "the Services' range $SVC_CIDR is routed on this machine already"
	[ -e "$TMP/other" ] && fail "the refused up made $TMP/other"
	ip -o link show | grep -q "x$RUN_ID" && fail "the refused up made a link"
	return 0
}

# BPF mode: the host links' ids, to see them gone after down.
record_host_links() {
	local p
	for p in "/sys/fs/bpf/$NAME-up/n1"/host_link_*; do
		[ -e "$p" ] || fail "no pinned host link in /sys/fs/bpf/$NAME-up/n1"
		bpftool -j link show pinned "$p" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
	done >"$TMP/links"
	bpftool cgroup show "$CG2" | grep -q lb_connect4 || fail "no lb_connect4 at the cgroup v2 root $CG2"
}

case_down_leaves_the_machine_as_it_was() {
	local out id dev
	[ "$MODE" = bpf ] && record_host_links
	ip -o link show | awk -F': ' '$2 ~ /^skf/ { sub(/@.*/, "", $2); print $2 }' >>"$TMP/veths"
	[ -n "$(nft list tables | grep "$NAME-")" ] || fail "no nftables table of $NAME while up"
	kill -9 "$(part_pid supervisor)" "$(part_pid n1-agent)"
	out=$("$BIN/skiff" down --data-dir "$DATA" --purge 2>&1) || fail "skiff down: $out"
	out=$(up_leftovers)
	[ -z "$out" ] || fail "skiff down left: $out"
	out=$(nft list tables | grep "$NAME-")
	[ -z "$out" ] || fail "skiff down left nftables tables: $out"
	[ -e "/sys/fs/bpf/$NAME-up" ] && fail "skiff down left /sys/fs/bpf/$NAME-up"
	for id in $(cat "$TMP/links" 2>/dev/null); do
		bpftool link show id "$id" >/dev/null 2>&1 && fail "host link $id still attached after down"
	done
	for dev in $(sort -u "$TMP/veths"); do
		# veths of other runs' pods are not ours: only those of this cluster's pods' IPs
		ip -4 route show dev "$dev" 2>/dev/null | grep -q "^${POD_CIDR%%.0.0/16}\." &&
			fail "pod veth $dev (and its route) left: $(ip -4 route show dev "$dev")"
	done
	out=$(ip -4 route show | grep -v '^unreachable' | grep -E "$NAME-br|^${POD_CIDR%%.0.0/16}\.|^$SVC_NET\.")
	[ -z "$out" ] || fail "skiff down left routes: $out"
	assert_eq "$(host_state)" "$BEFORE" "the default route, forwarding sysctls and interfaces' forwarding"
	rm -f "$TMP/veths" "$TMP/links"
}

cluster_up bpf
run_case node1_is_the_machine
run_case machine_reaches_clusterip_nodeport_and_pods
run_case n1_nodeport_answers_n2
run_case pods_reach_each_other_across_nodes
run_case other_namespaces_are_left_alone
run_case same_ranges_refused
run_case machines_sockets_to_a_removed_backend_end
run_case down_leaves_the_machine_as_it_was

DATA=$TMP/cluster-nftables # the first cluster's containerd may still be exiting
cluster_up nftables --node-routing vxlan
run_case vxlan_carries_the_pods
run_case machine_reaches_clusterip_nodeport_and_pods
run_case n1_nodeport_answers_n2
run_case down_leaves_the_machine_as_it_was

DATA=$TMP/cluster-nftables-native
cluster_up nftables
run_case n1_nodeport_answers_n2
run_case down_leaves_the_machine_as_it_was
