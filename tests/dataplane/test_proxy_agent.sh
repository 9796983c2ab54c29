#!/usr/bin/env bash
# skiff-agent as a service proxy, end to end: Service and EndpointSlice
# manifests in a folder, the agent (in a node namespace) programs either the
# eBPF socket hooks attached to a test cgroup (--proxy-mode=bpf) or an
# nftables table in the node namespace (--proxy-mode=nftables), and a client
# in that cgroup, routed through the node, talks to real TCP/UDP servers in
# three backend namespaces through ClusterIPs. Every case that is not about
# one mode's machinery runs in both modes (names end in /bpf, /nftables).
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/manifests.sh"
. "$(dirname "$0")/../harness/topology.sh"
. "$(dirname "$0")/../harness/agent.sh"
require_root
require_cmd ip socat bpftool awk nsenter nft conntrack
require_bin skiff-agent lb-client lb-tool
guard_ranges 10.96.0.0/16 fd00:96::/64

AGENT_BIN="$BIN/skiff-agent"
agent_cgroup skiff-agent-test

# TCP 8080 answers its name and closes; 8081 answers and stays open;
# UDP 8080 answers every datagram with its name.
topo_backends 10.210 10.211 fd00:210 fd00:211 10
topo_node_exit

# ---- manifests -----------------------------------------------------------


WEB_PORTS='[{name: http, port: 8080}, {name: dns, port: 8080, protocol: UDP}, {name: hold, port: 8081}]'
web_service() {
	service web "clusterIPs: [10.96.0.10, 'fd00:96::10']" "type: NodePort" \
		"externalIPs: [192.0.2.10]" "ports:" \
		"- {name: http, port: 80, nodePort: 30080}" \
		"- {name: dns, port: 53, protocol: UDP}" \
		"- {name: hold, port: 81}" "$@"
}
ALL3="10.211.1.2 10.211.2.2 10.211.3.2"

# ---- the agent -------------------------------------------------------------

# start_agent ARGS...: runs skiff-agent in the node namespace over $M in
# mode $MODE, with the case's own bpffs folder, table and the test cgroup;
# waits for its first sync.
start_agent() { agent_start --manifests "$M" --node-ip 10.210.0.1 "$@"; }

# Each case: its own manifests folder, bpffs folder, table and agent.
case_setup() {
	local tag="$1-$MODE"
	M="$TMP/manifests-$tag"
	ALOG="$TMP/agent-$tag.log"
	BPFFS="/sys/fs/bpf/skiff-agent-test-$RUN_ID-$tag"
	TABLE="skiff-pa-$RUN_ID-$tag"
	mkdir -p "$M"
	agent_cleanup
}
nft_table() { in_node nft list table inet "$TABLE"; }
# refused OUT: a connection refused at once (the BPF hooks refuse in
# connect() itself; nftables answers with a reset or ICMP within a second).
refused() {
	if [ "$MODE" = bpf ]; then
		assert_contains "$1" "Connection refused (0.0"
	else
		assert_contains "$1" "Connection refused (0."
	fi
}

# ---- cases -----------------------------------------------------------------

case_spreads_tcp_udp_ipv6_nodeport_externalip_lb() {
	case_setup spread
	{ web_service | sed 's/type: NodePort/type: LoadBalancer/'
	  printf 'status: {loadBalancer: {ingress: [{ip: 198.51.100.10}]}}\n'
	  slice web-v4 web IPv4 "$WEB_PORTS" $ALL3
	  slice web-v6 web IPv6 "$WEB_PORTS" fd00:211:1::2 fd00:211:2::2; } | put web.yaml
	start_agent
	# 3 ports x (ClusterIP v4 + v6, externalIP, LB ingress) + NodePort on http
	assert_contains "$(cat "$ALOG")" "service default/web: 5 backends (5 ready), 13 frontends"
	local out
	out=$(client --count 30 10.96.0.10 80) || fail "TCP: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "30 connections reach every backend"
	assert_eq "$(echo "$out" | awk '$2 != "10.96.0.10:80"' | wc -l)" 0 "peer is the service: $out"
	out=$(client --udp --count 20 10.96.0.10 53) || fail "UDP: $out"
	assert_ne "$(echo "$out" | backends_seen | wc -w)" 1 "datagrams spread: $out"
	out=$(client --count 24 fd00:96::10 80) || fail "IPv6: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 " "IPv6 ClusterIP uses the IPv6 slice"
	out=$(client --count 40 10.210.0.1 30080) || fail "NodePort: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "NodePort on the node address"
	out=$(client --count 40 192.0.2.10 80) || fail "externalIP: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "externalIP"
	out=$(client --count 40 198.51.100.10 80) || fail "LoadBalancer ingress: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "LoadBalancer ingress IP"
	# the maps (or chains) name the service for bpftool (nft) readers
	if [ "$MODE" = bpf ]; then
		assert_contains "$(bpftool map dump pinned "$BPFFS/lb_names")" '"name": "default/web:http"'
		assert_contains "$(bpftool map dump pinned "$BPFFS/lb_node_ips")" '"epoch": ' \
			"node addresses carry the write that put them there"
	else
		assert_contains "$(nft_table)" "chain svc-default/web:http-tcp-10.96.0.10:80"
	fi
}

case_client_ip_affinity_and_maglev_annotation() {
	case_setup affinity
	{ service sticky "clusterIP: 10.96.0.20" "sessionAffinity: ClientIP" \
		"sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}" "ports: [{name: http, port: 80}]"
	  slice sticky-1 sticky IPv4 "$WEB_PORTS" $ALL3
	  printf -- '---\n'
	  service hashed "clusterIP: 10.96.0.21" "ports: [{name: http, port: 80}]" |
		sed 's|^  namespace: default|  namespace: default\n  annotations: {service.skiff.io/lb-algorithm: maglev}|'
	  slice hashed-1 hashed IPv4 "$WEB_PORTS" $ALL3; } | put svc.yaml
	start_agent
	local out
	out=$(client --count 12 10.96.0.20 80) || fail "affinity: $out"
	assert_eq "$(echo "$out" | backends_seen | wc -w)" 1 "ClientIP affinity keeps one backend: $out"
	out=$(client --count 30 10.96.0.21 80) || fail "maglev: $out"
	assert_ne "$(echo "$out" | backends_seen | wc -w)" 1 "maglev spreads connections: $out"
	if [ "$MODE" = bpf ]; then
		assert_contains "$(bpftool map dump pinned "$BPFFS/lb_frontends")" '"affinity": 60'
	else
		assert_contains "$(nft_table)" "10.210.0.2 expires"
	fi
}

case_readiness_flip_terminating_fallback_and_refusal() {
	case_setup ready
	web_service | put svc.yaml
	slice web-1 web IPv4 "$WEB_PORTS" $ALL3 | put slice.yaml
	start_agent
	local out
	# b2 turns not ready: no new connection reaches it
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2 10.211.2.2,false 10.211.3.2 | put slice.yaml'
	assert_contains "$(cat "$ALOG")" "service default/web: 2 backends (2 ready, 1 not ready)"
	assert_contains "$(tail -n 1 "$ALOG")" "(changed services)" "only the changed service is recomputed"
	out=$(client --count 30 10.96.0.10 80) || fail "after flip: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b3 " "not ready b2 excluded"
	# none ready, b3 serving and terminating: it takes the traffic
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2,false 10.211.2.2,false 10.211.3.2,false,true,true | put slice.yaml'
	assert_contains "$(cat "$ALOG")" "1 backend (0 ready, 1 terminating-fallback, 2 not ready)"
	out=$(client --count 12 10.96.0.10 80) || fail "fallback: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b3 " "terminating fallback"
	# nothing usable: refused at once, not a timeout
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2,false 10.211.3.2,false,false,true | put slice.yaml'
	out=$(client --timeout-ms 3000 10.96.0.10 80) && fail "connected with no usable endpoint: $out"
	assert_contains "$out" "ERR connect:"
	refused "$out"
	# (an ICMP error reaches only a connected UDP socket)
	out=$(client --udp --connected --timeout-ms 3000 10.96.0.10 53) &&
		fail "UDP sent with no usable endpoint"
	refused "$out"
	# back to ready
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.211.2.2 | put slice.yaml'
	assert_contains "$(client 10.96.0.10 80)" "b2 10.96.0.10:80"
}

case_no_endpoints_and_unknown_port_refused_at_once() {
	case_setup empty
	service lonely "clusterIP: 10.96.0.30" "ports: [{name: http, port: 80}]" | put lonely.yaml
	start_agent
	local out
	out=$(client --timeout-ms 3000 10.96.0.30 80) && fail "connected to a service without endpoints"
	refused "$out"
	out=$(client --timeout-ms 3000 10.96.0.30 8443) && fail "connected to an unknown port"
	refused "$out"
	# the service removed: its address is left alone again (times out)
	change rm "$M/lonely.yaml"
	assert_contains "$(cat "$ALOG")" "service default/lonely: removed"
	out=$(client --timeout-ms 300 10.96.0.30 80) && fail "connected to a removed service"
	assert_not_contains "$out" "refused"
}

case_traffic_policy_local() {
	case_setup local
	{ service web "clusterIP: 10.96.0.40" "internalTrafficPolicy: Local" \
		"ports: [{name: http, port: 80}]"
	  slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2,true,true,false,node1 \
		10.211.2.2,true,true,false,node2 10.211.3.2,true,true,false,node1; } | put web.yaml
	start_agent
	local out
	out=$(client --count 20 10.96.0.40 80) || fail "local: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b3 " "only this node's endpoints"
}

case_bad_manifest_keeps_service_running() {
	case_setup bad
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $ALL3; } | put web.yaml
	start_agent
	local before
	before=$(grep -c "spec.ports\[0\].port" "$ALOG")
	{ service web "clusterIP: 10.96.0.10" "ports: [{name: http, port: 99999}]"; } | put web.yaml
	wait_for 5 grep -q "web.yaml: object 1: Service default/web: spec.ports\[0\].port: 99999 is out of range" "$ALOG" ||
		fail "no error naming file, object and field: $(tail -3 "$ALOG")"
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: x\n' | put broken.yaml
	wait_for 5 grep -q "broken.yaml:[0-9]*:[0-9]*:" "$ALOG" || fail "no line:column for a YAML error"
	local out
	out=$(client --count 40 10.96.0.10 80) || fail "service lost after a bad manifest: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "last good state serves"
	assert_eq "$before" 0
	# fixed again: the change is taken
	change eval '{ web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2; } | put web.yaml'
	assert_contains "$(cat "$ALOG")" "web.yaml: loaded again without errors"
	assert_eq "$(client --count 6 10.96.0.10 80 | backends_seen)" "b1 "
}

case_sigkill_restart_under_load_fails_nothing() {
	case_setup restart
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $ALL3; } | put web.yaml
	{ service old "clusterIP: 10.96.0.11" "ports: [{name: http, port: 80}]"
	  slice old-1 old IPv4 "$WEB_PORTS" 10.211.1.2; } | put old.yaml
	start_agent
	assert_contains "$(client 10.96.0.11 80)" "b1 10.96.0.11:80"
	local load old=$AGENT
	# (a generous read timeout: a refused or reset connection is the
	# failure looked for; a reply late on a loaded machine is not)
	client_bg load --count 400 --interval-ms 5 --timeout-ms 8000 10.96.0.10 80 >"$TMP/load.out"
	sleep 0.5
	kill -9 "$AGENT"; wait "$AGENT" 2>/dev/null
	# while no agent runs: everything keeps serving; a service goes away
	assert_contains "$(client 10.96.0.11 80)" "b1 10.96.0.11:80"
	rm "$M/old.yaml"
	: >"$ALOG"
	start_agent
	assert_ne "$AGENT" "$old"
	wait "$load" || fail "requests failed across the restart: $(grep ERR "$TMP/load.out" | head -3)"
	assert_eq "$(grep -c . "$TMP/load.out")" 400
	assert_eq "$(backends_seen <"$TMP/load.out")" "b1 b2 b3 "
	# the restarted agent swept the frontend of the service removed meanwhile
	local out
	out=$(client --timeout-ms 300 10.96.0.11 80) && fail "a removed service still answers: $out"
	assert_not_contains "$out" "refused"
	# the restarted agent reconciles without flushing: still exactly one
	# frontend per ClusterIP port, and changes are followed
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.211.3.2 | put web2.yaml; rm "$M/web.yaml"; { web_service; } | put web.yaml'
	wait_for 5 grep -q "service default/web: 1 backend (1 ready)" "$ALOG" || fail "no resync: $(tail -3 "$ALOG")"
	assert_eq "$(client --count 6 10.96.0.10 80 | backends_seen)" "b3 "
}

# BPF only: the agent ends the sockets of a removed backend (TCP and
# connected UDP) with bpf_sock_destroy through a socket iterator.
case_removed_backend_connections_end() {
	case_setup remove
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2 10.211.2.2; } | put web.yaml
	start_agent
	local hpid got keep
	client_bg hpid --hold --timeout-ms 8000 10.96.0.10 81 >"$TMP/hold.out"
	wait_for 3 grep -q "^b[12] " "$TMP/hold.out" || fail "held connection never answered: $(cat "$TMP/hold.out")"
	got=$(awk '{ print $1; exit }' "$TMP/hold.out")
	[ "$got" = b1 ] && keep=10.211.2.2 || keep=10.211.1.2
	# a connected UDP socket to the same backend: it ends too (kube-proxy
	# and Cilium leave these stale)
	local upid=""
	for _ in $(seq 1 20); do
		client_bg upid --udp --connected --hold --timeout-ms 8000 10.96.0.10 53 >"$TMP/udp.out"
		wait_for 3 grep -q "^b[12] " "$TMP/udp.out" || fail "UDP never answered: $(cat "$TMP/udp.out")"
		grep -q "^$got " "$TMP/udp.out" && break
		kill "$upid"
		wait "$upid" 2>/dev/null
		upid=""
	done
	[ -n "$upid" ] || fail "no connected UDP socket landed on $got"
	local t0=$SECONDS
	change eval '{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $keep; } | put web.yaml'
	wait "$hpid"
	wait "$upid"
	assert_contains "$(cat "$TMP/hold.out")" "closed: Software caused connection abort"
	assert_contains "$(cat "$TMP/udp.out")" "closed: Software caused connection abort"
	# (the server would close by itself after 10 s, with an EOF, not this)
	[ $((SECONDS - t0)) -le 8 ] || fail "the connections outlived their backend by $((SECONDS - t0))s"
	wait_for 3 grep -q "backend 10.211.[12].2:8081/TCP removed, 1 socket ended" "$ALOG" ||
		fail "no log of the ended socket: $(grep removed "$ALOG")"
	wait_for 3 grep -q "backend 10.211.[12].2:8080/UDP removed, 1 socket ended" "$ALOG" ||
		fail "no log of the ended UDP socket: $(grep removed "$ALOG")"
	# a readiness flip does not end connections: only removal does
	client_bg hpid --hold --timeout-ms 8000 10.96.0.10 81 >"$TMP/hold2.out"
	wait_for 3 grep -q "^b[12] " "$TMP/hold2.out" || fail "second held connection never answered"
	change eval '{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $keep,false; } | put web.yaml'
	sleep 0.5
	assert_not_contains "$(cat "$TMP/hold2.out")" "closed" "a not-ready endpoint keeps its connections"
	kill "$hpid"
	wait "$hpid" 2>/dev/null || true
}

# BPF only: a sync that removes many backends at once (a scale-down) ends
# every connection to them, in one pass of the socket iterators, and none
# to a backend that stays. 40 backends (20 more addresses on b1 and b2), 40
# held connections; 30 backends removed in one change.
case_many_removed_backends_end_in_one_pass() {
	case_setup many
	local b i eps=() keep=() hpid peers lport peer n_closed=0 n_open=0 logged
	for b in 1 2; do
		for i in $(seq 10 29); do
			ip -n "$(ns "b$b")" addr add "10.211.$b.$i/24" dev eth0 || fail "address 10.211.$b.$i"
			defer "ip -n '$(ns "b$b")' addr del 10.211.$b.$i/24 dev eth0"
			eps+=("10.211.$b.$i")
			[ "$i" -lt 15 ] && keep+=("10.211.$b.$i")
		done
	done
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" "${eps[@]}"; } | put web.yaml
	start_agent
	# (the hold server ends a connection after 10 s: all is done before)
	client_bg hpid --hold-all --count 40 --timeout-ms 7000 10.96.0.10 81 >"$TMP/many.out"
	wait_for 5 eval '[ "$(grep -c "^b[12] " "$TMP/many.out")" -eq 40 ]' ||
		fail "40 held connections never answered: $(cat "$TMP/many.out")"
	# the sockets' real peers (the hooks rewrote connect): local port -> backend
	peers=$(nsenter --net="/run/netns/$(ns client)" ss -Htn state established '( dport = :8081 )' |
		awk '{ split($3, l, ":"); split($4, p, ":"); print l[2], p[1] }')
	[ "$(echo "$peers" | grep -c .)" -eq 40 ] || fail "expected 40 sockets to port 8081: $peers"
	change eval '{ web_service; slice web-1 web IPv4 "$WEB_PORTS" ${keep[*]}; } | put web.yaml'
	wait "$hpid"
	while read -r lport peer; do
		if [[ " ${keep[*]} " == *" $peer "* ]]; then
			assert_contains "$(cat "$TMP/many.out")" "open $lport" "connection to $peer (kept)"
			n_open=$((n_open + 1))
		else
			assert_contains "$(cat "$TMP/many.out")" \
				"closed $lport: Software caused connection abort" "connection to $peer (removed)"
			n_closed=$((n_closed + 1))
		fi
	done <<<"$peers"
	[ "$n_closed" -gt 0 ] && [ "$n_open" -gt 0 ] ||
		fail "connections should land on both kinds of backend: $n_closed removed, $n_open kept"
	# one sync, one pass: its log counts every ended socket per backend
	logged=$(grep -o "8081/TCP removed, [0-9]* socket" "$ALOG" | awk '{ s += $3 } END { print s + 0 }')
	assert_eq "$logged" "$n_closed" "sockets the agent logged as ended"
	assert_eq "$(grep -c "8081/TCP removed" "$ALOG")" 30 "removed backends logged"
	assert_contains "$(grep " sync: " "$ALOG" | tail -n 1)" "ms ending sockets"
}

# nftables only: what a removed backend's flows do there. As kube-proxy,
# skiff deletes the UDP conntrack entries whose reply comes from it (or its
# flows would stick to it), and leaves established TCP connections alone:
# their conntrack entry keeps them going to the old backend until either
# side ends them (the BPF mode ends them; see the case above).
case_removed_backend_udp_flows_deleted_tcp_kept() {
	case_setup remove
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2 10.211.2.2; } | put web.yaml
	start_agent
	local hpid got keep n
	client_bg hpid --hold --timeout-ms 8000 10.96.0.10 81 >"$TMP/hold.out"
	wait_for 3 grep -q "^b[12] " "$TMP/hold.out" || fail "held connection never answered: $(cat "$TMP/hold.out")"
	got=$(awk '{ print $1; exit }' "$TMP/hold.out")
	[ "$got" = b1 ] && keep=10.211.2.2 || keep=10.211.1.2
	client --udp --connected --count 6 10.96.0.10 53 >/dev/null || fail "UDP service does not answer"
	n=$(ct_count node -p udp --reply-src "10.211.${got#b}.2")
	n=$((n + $(ct_count node -p udp --reply-src "$keep")))
	[ "$n" -gt 0 ] || fail "no conntrack entry for the UDP flows"
	change eval '{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $keep; } | put web.yaml'
	assert_eq "$(ct_count node -p udp --reply-src "10.211.${got#b}.2")" 0 \
		"UDP conntrack entries of the removed backend"
	assert_contains "$(cat "$ALOG")" "backend 10.211.${got#b}.2:8080/UDP removed, its conntrack entries deleted"
	assert_contains "$(cat "$ALOG")" "backend 10.211.${got#b}.2:8081/TCP removed, established connections left to end"
	sleep 0.5
	assert_not_contains "$(cat "$TMP/hold.out")" "closed" "the TCP connection is kept"
	kill -0 "$hpid" || fail "the held TCP connection ended: $(cat "$TMP/hold.out")"
	assert_eq "$(client --count 6 10.96.0.10 80 | backends_seen)" "b${keep:7:1} " "new connections avoid it"
	kill "$hpid"
	wait "$hpid" 2>/dev/null || true
}

# gone_state: neither the BPF mode's nor the nftables mode's state is left.
no_bpf_state() {
	[ -e "$BPFFS" ] && fail "$BPFFS still exists"
	assert_not_contains "$(bpftool cgroup show "$CG")" "connect4"
}
no_nft_state() { assert_not_contains "$(in_node nft list tables)" "$TABLE"; }

case_destroy_on_exit_removes_everything() {
	case_setup destroy
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2; } | put web.yaml
	start_agent --destroy-on-exit
	if [ "$MODE" = bpf ]; then
		assert_contains "$(bpftool cgroup show "$CG")" "connect4"
	else
		assert_contains "$(in_node nft list tables)" "$TABLE"
	fi
	# SIGHUP: everything read again and recomputed, still serving
	change kill -HUP "$AGENT"
	assert_contains "$(cat "$ALOG")" "signal Hangup: reloading manifests"
	assert_contains "$(tail -n 1 "$ALOG")" "(full)"
	assert_contains "$(client 10.96.0.10 80)" "b1 10.96.0.10:80"
	kill -TERM "$AGENT"
	wait "$AGENT" || fail "agent exited with an error: $(tail -3 "$ALOG")"
	no_bpf_state
	no_nft_state
	local out
	out=$(client --timeout-ms 300 10.96.0.10 80) && fail "service still answers: $out"
	# --once syncs and exits, leaving the datapath serving
	in_node "$AGENT_BIN" --manifests "$M" --bpffs "$BPFFS" --cgroup "$CG" --once \
		--proxy-mode "$MODE" --nft-table "$TABLE" >>"$ALOG" 2>&1 || fail "--once failed: $(tail -3 "$ALOG")"
	assert_contains "$(client 10.96.0.10 80)" "b1 10.96.0.10:80"
}

# Restarting with the other --proxy-mode leaves only the new mode's state:
# bpf -> nftables -> bpf, serving all along.
case_mode_switch_leaves_only_the_current_mode() {
	MODE=bpf
	case_setup switch
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2; } | put web.yaml
	start_agent
	[ -e "$BPFFS/lb_frontends" ] || fail "no pinned maps in bpf mode"
	assert_contains "$(bpftool cgroup show "$CG")" "connect4"
	no_nft_state
	assert_contains "$(client 10.96.0.10 80)" "b1 10.96.0.10:80"
	kill "$AGENT"; wait "$AGENT" 2>/dev/null
	MODE=nftables
	: >"$ALOG"
	start_agent
	assert_contains "$(cat "$ALOG")" "bpf mode: programs detached, maps under $BPFFS removed"
	no_bpf_state
	assert_contains "$(nft_table)" "chain svc-default/web:http-tcp-10.96.0.10:80"
	assert_contains "$(client 10.96.0.10 80)" "b1 10.96.0.10:80"
	kill "$AGENT"; wait "$AGENT" 2>/dev/null
	MODE=bpf
	: >"$ALOG"
	start_agent
	no_nft_state
	[ -e "$BPFFS/lb_frontends" ] || fail "no pinned maps in bpf mode again"
	assert_contains "$(bpftool cgroup show "$CG")" "connect4"
	assert_contains "$(client 10.96.0.10 80)" "b1 10.96.0.10:80"
}

case_flags_help_and_bad_values() {
	local out
	out=$("$AGENT_BIN" --help) || fail "--help failed"
	for f in --manifests --proxy-mode --nft-table --cluster-cidr --bpffs --cgroup --node-name \
		--node-ip --nodeport-device --maglev --log-level --destroy-on-exit --once; do
		grep -qE "^  (-[a-z], )? *$f( |\$)" <<<"$out" || fail "--help lists $f"
	done
	out=$("$AGENT_BIN" --manifests "$TMP" --node-ip 10.0.0.300 2>&1) && fail "bad --node-ip accepted"
	assert_contains "$out" '--node-ip: "10.0.0.300" is not an IP address'
	out=$("$AGENT_BIN" --manifests "$TMP" --log-level loud 2>&1) && fail "bad --log-level accepted"
	assert_contains "$out" '--log-level: "loud"'
	out=$("$AGENT_BIN" --manifests "$TMP" --proxy-mode ipvs 2>&1) && fail "bad --proxy-mode accepted"
	assert_contains "$out" '--proxy-mode: "ipvs" is not bpf or nftables'
	out=$("$AGENT_BIN" --manifests "$TMP" --cluster-cidr 10.0.0.0/33 2>&1) && fail "bad --cluster-cidr accepted"
	assert_contains "$out" '--cluster-cidr: "10.0.0.0/33" is not a CIDR'
	out=$("$AGENT_BIN" --node-ip 10.0.0.1 2>&1) && fail "no --manifests accepted"
	assert_contains "$out" "no source: give exactly one of --manifests DIR"
	out=$(in_node "$AGENT_BIN" --manifests "$TMP/nope" --once 2>&1) && fail "missing folder accepted"
	assert_contains "$out" "manifests $TMP/nope: No such file or directory"
}

# both CASE: runs case_CASE as CASE/bpf and CASE/nftables.
both() {
	local m
	for m in bpf nftables; do
		eval "case_$1/$m() { MODE=$m; case_$1; }"
		run_case "$1/$m"
	done
}
# bpf_only CASE / nft_only CASE: the same, in one mode.
bpf_only() { eval "case_$1/bpf() { MODE=bpf; case_$1; }"; run_case "$1/bpf"; }
nft_only() { eval "case_$1/nftables() { MODE=nftables; case_$1; }"; run_case "$1/nftables"; }

run_case flags_help_and_bad_values
both spreads_tcp_udp_ipv6_nodeport_externalip_lb
both client_ip_affinity_and_maglev_annotation
both readiness_flip_terminating_fallback_and_refusal
both no_endpoints_and_unknown_port_refused_at_once
both traffic_policy_local
both bad_manifest_keeps_service_running
both sigkill_restart_under_load_fails_nothing
bpf_only removed_backend_connections_end
bpf_only many_removed_backends_end_in_one_pass
nft_only removed_backend_udp_flows_deleted_tcp_kept
both destroy_on_exit_removes_everything
run_case mode_switch_leaves_only_the_current_mode
finish
