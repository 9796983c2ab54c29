#!/usr/bin/env bash
# Socket-level load balancing through the cgroup hooks, with real TCP and
# UDP servers: a client namespace and three backend namespaces wired through
# a node namespace; the client runs in a test cgroup the programs attach to;
# lb-tool programs frontends by hand (no agent).
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/topology.sh"
require_root
require_cmd ip socat bpftool awk
require_bin lb-tool lb-client
guard_ranges 10.96.0.0/16 fd00:96::/64

LBT="$TESTBIN/lb-tool"
CLI="$TESTBIN/lb-client"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || skip "no cgroup v2 mount"
CG="$CG2/skiff-test-$RUN_ID"
BPFFS="/sys/fs/bpf/skiff-test-$RUN_ID"

LB=("$LBT" --bpffs "$BPFFS" --cgroup "$CG" --node-address 10.200.0.1)
lb() { "${LB[@]}" "$@"; }
# client NS ARGS...: lb-client inside the test cgroup and namespace NS.
client() {
	local n=$1; shift
	( echo "$BASHPID" >"$CG/cgroup.procs" && exec ip netns exec "$(ns "$n")" "$CLI" "$@" )
}
backends_seen() { awk '$1 ~ /^b[0-9]$/ { print $1 }' | sort -u | tr '\n' ' '; }

mkdir "$CG" || skip "cannot create cgroup $CG"
defer "rmdir '$CG'"
defer "rm -rf '$BPFFS'"
defer "[ -d '$BPFFS' ] && '$LBT' --bpffs '$BPFFS' --cgroup '$CG' destroy"

# 8080: answers its name and closes; 8081: answers and stays open
topo_backends 10.200 10.201 fd00:200 fd00:201 6
lb attach || fail "lb-tool attach failed"

case_tcp_spreads_over_all_backends() {
	lb set 10.96.0.10 80 tcp 10.201.1.2:8080 10.201.2.2:8080 10.201.3.2:8080 \
		--name default/web:http || fail "set"
	local out
	out=$(client client --count 30 10.96.0.10 80) || fail "a connection failed: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "30 connections reach every backend"
	# getpeername shows the service, never the backend
	assert_eq "$(echo "$out" | awk '$2 != "10.96.0.10:80"' | wc -l)" 0 "peer is the service: $out"
	assert_contains "$(lb stats 10.96.0.10 80 tcp)" "connections 30"
	assert_contains "$(lb backend-stats 10.201.2.2:8080 tcp)" "connections "
}

case_udp_unconnected_and_connected() {
	lb set 10.96.0.11 53 udp 10.201.1.2:8080 10.201.2.2:8080 10.201.3.2:8080 \
		--name kube-system/dns:dns || fail "set"
	local out
	out=$(client client --udp --count 20 10.96.0.11 53) || fail "a datagram got no answer: $out"
	# recvmsg rewrites the reply's source back to the service
	assert_eq "$(echo "$out" | awk '$2 != "10.96.0.11:53"' | wc -l)" 0 "reply from the service: $out"
	assert_ne "$(echo "$out" | backends_seen | wc -w)" 1 "datagrams spread: $out"
	out=$(client client --udp --connected --count 5 10.96.0.11 53) || fail "connected UDP: $out"
	assert_eq "$(echo "$out" | awk '$2 != "10.96.0.11:53"' | wc -l)" 0 "peer is the service: $out"
}

case_no_backend_is_refused_at_once() {
	lb set 10.96.0.12 80 tcp --name default/empty:http || fail "set"
	lb set 10.96.0.12 53 udp --name default/empty:dns || fail "set"
	local out
	out=$(client client --timeout-ms 3000 10.96.0.12 80) && fail "connected to a service without backends"
	assert_contains "$out" "ERR connect: Connection refused (0.0"
	# a known service address on a port it does not serve
	out=$(client client --timeout-ms 3000 10.96.0.12 8443) && fail "connected to an unknown port"
	assert_contains "$out" "ERR connect: Connection refused (0.0"
	out=$(client client --udp --timeout-ms 3000 10.96.0.12 53) && fail "sent to a service without backends"
	assert_contains "$out" "ERR sendto: Connection refused (0.0"
	# an address that is no service is left alone
	out=$(client client --timeout-ms 3000 10.201.1.2 8080) || fail "direct connection: $out"
}

case_ipv6_and_v4_mapped() {
	lb set fd00:96::10 80 tcp '[fd00:201:1::2]:8080' '[fd00:201:2::2]:8080' || fail "set v6"
	lb set 10.96.0.18 80 tcp 10.201.1.2:8080 10.201.3.2:8080 || fail "set v4"
	local out
	out=$(client client --count 10 fd00:96::10 80) || fail "IPv6: $out"
	assert_eq "$(echo "$out" | awk '$2 != "[fd00:96::10]:80"' | wc -l)" 0 "peer: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 " "IPv6 backends"
	out=$(client client --count 10 ::ffff:10.96.0.18 80) || fail "v4-mapped: $out"
	assert_eq "$(echo "$out" | awk '$2 != "[::ffff:10.96.0.18]:80"' | wc -l)" 0 "peer: $out"
	assert_not_contains "$out" "b2"
}

case_affinity_and_maglev() {
	lb set 10.96.0.13 80 tcp 10.201.1.2:8080 10.201.2.2:8080 10.201.3.2:8080 \
		--affinity 60 || fail "set"
	local out
	out=$(client client --count 12 10.96.0.13 80) || fail "affinity: $out"
	assert_eq "$(echo "$out" | backends_seen | wc -w)" 1 "ClientIP affinity keeps one backend: $out"
	lb set 10.96.0.14 80 tcp 10.201.1.2:8080 10.201.2.2:8080 10.201.3.2:8080 \
		--algorithm maglev || fail "set maglev"
	out=$(client client --count 30 10.96.0.14 80) || fail "maglev: $out"
	assert_ne "$(echo "$out" | backends_seen | wc -w)" 1 "maglev spreads connections: $out"
}

case_backend_swap_under_load_drops_nothing() {
	lb set 10.96.0.15 80 tcp 10.201.1.2:8080 || fail "set"
	client client --count 300 --interval-ms 3 10.96.0.15 80 >"$TMP/swap.out" &
	local pid=$! i
	for i in $(seq 1 15); do
		lb set 10.96.0.15 80 tcp 10.201.2.2:8080 || fail "set b2"
		sleep 0.05
		lb set 10.96.0.15 80 tcp 10.201.1.2:8080 || fail "set b1"
		sleep 0.05
	done
	wait "$pid" || fail "connections failed during the swaps: $(grep ERR "$TMP/swap.out" | head -3)"
	assert_eq "$(grep -c . "$TMP/swap.out")" 300
	assert_eq "$(backends_seen <"$TMP/swap.out")" "b1 b2 " "only the old or new set"
}

case_removed_backend_sockets_end() {
	lb set 10.96.0.16 80 tcp 10.201.1.2:8081 || fail "set tcp"
	lb set 10.96.0.17 53 udp 10.201.1.2:8080 || fail "set udp"
	client client --hold --timeout-ms 5000 10.96.0.16 80 >"$TMP/tcp.out" &
	local tpid=$!
	client client --udp --connected --hold --timeout-ms 5000 10.96.0.17 53 >"$TMP/udp.out" &
	local upid=$!
	wait_for 3 grep -q b1 "$TMP/tcp.out" || fail "TCP client never connected: $(cat "$TMP/tcp.out")"
	wait_for 3 grep -q b1 "$TMP/udp.out" || fail "UDP client never answered: $(cat "$TMP/udp.out")"
	lb set 10.96.0.16 80 tcp 10.201.2.2:8081 || fail "replace tcp"
	lb set 10.96.0.17 53 udp 10.201.2.2:8080 || fail "replace udp"
	local n
	n=$(lb terminate 10.201.1.2:8081 tcp --netns "/run/netns/$(ns client)") || fail "terminate tcp"
	assert_eq "$n" 1 "one TCP socket ended"
	n=$(lb terminate 10.201.1.2:8080 udp --netns "/run/netns/$(ns client)") || fail "terminate udp"
	assert_eq "$n" 1 "one UDP socket ended"
	wait "$tpid"; wait "$upid"
	assert_contains "$(cat "$TMP/tcp.out")" "closed: Software caused connection abort"
	assert_contains "$(cat "$TMP/udp.out")" "closed: Software caused connection abort"
	# a new connection goes to the new backend
	assert_contains "$(client client 10.96.0.16 80)" "b2 10.96.0.16:80"
}

case_wildcard_nodeport_answers_on_node_addresses_only() {
	lb set 0.0.0.0 30080 tcp 10.201.2.2:8080 --kind NodePort --name default/np:http || fail "set"
	assert_fails lb set 0.0.0.0 80 tcp 10.201.2.2:8080 --kind ClusterIP
	local out
	out=$(client client --count 3 10.200.0.1 30080) || fail "NodePort on the node address: $out"
	assert_eq "$(echo "$out" | sort -u)" "b2 10.200.0.1:30080"
	# the same port on an address that is not the node's is left alone
	out=$(client client --timeout-ms 1000 10.201.3.2 30080) && fail "hijacked a non-node address: $out"
	assert_contains "$out" "ERR connect: Connection refused"
}

case_maps_dump_with_names() {
	lb set 10.96.0.19 80 tcp 10.201.3.2:8080 --name shop/cart:http || fail "set"
	local out
	out=$(bpftool map dump pinned "$BPFFS/lb_names")
	assert_contains "$out" '"name": "shop/cart:http"'
	out=$(bpftool map dump pinned "$BPFFS/lb_frontends")
	assert_contains "$out" '"port": 80'
	assert_contains "$out" '10,96,0,19'
	out=$(bpftool map dump pinned "$BPFFS/lb_backends")
	assert_contains "$out" '"port": 8080'
	assert_contains "$out" '10,201,3,2'
}

case_killed_loader_keeps_serving_destroy_removes_all() {
	lb set 10.96.0.20 80 tcp 10.201.1.2:8080 || fail "set"
	# connections keep flowing while the loader is killed and restarted
	client client --count 150 --interval-ms 5 10.96.0.20 80 >"$TMP/load.out" &
	local load=$! pid i
	for i in 1 2 3; do
		# lb-tool itself in the background (not the function lb in a
		# subshell): $! must be the loader, or kill -9 leaves it running
		"${LB[@]}" hold >"$TMP/hold.out" &
		pid=$!
		wait_for 3 grep -q ready "$TMP/hold.out" || fail "lb-tool hold never got ready"
		kill -9 "$pid"; wait "$pid" 2>/dev/null
		rm -f "$TMP/hold.out"
		assert_contains "$(client client 10.96.0.20 80)" "b1 10.96.0.20:80"
		# a restarted loader reuses the maps and moves the pinned links
		lb attach || fail "re-attach"
	done
	wait "$load" || fail "connections failed across restarts: $(grep ERR "$TMP/load.out" | head -3)"
	assert_eq "$(awk '$2 == "10.96.0.20:80"' "$TMP/load.out" | wc -l)" 150
	assert_contains "$(bpftool cgroup show "$CG")" "connect4"
	lb destroy || fail "destroy"
	[ -e "$BPFFS" ] && fail "$BPFFS still exists after destroy"
	assert_not_contains "$(bpftool cgroup show "$CG")" "connect4"
	local out
	out=$(client client --timeout-ms 500 10.96.0.20 80) && fail "service still answers: $out"
	return 0
}

run_case tcp_spreads_over_all_backends
run_case udp_unconnected_and_connected
run_case no_backend_is_refused_at_once
run_case ipv6_and_v4_mapped
run_case affinity_and_maglev
run_case backend_swap_under_load_drops_nothing
run_case removed_backend_sockets_end
run_case wildcard_nodeport_answers_on_node_addresses_only
run_case maps_dump_with_names
run_case killed_loader_keeps_serving_destroy_removes_all
finish
