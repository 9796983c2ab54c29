#!/usr/bin/env bash
# The nftables proxy mode end to end: Service and EndpointSlice manifests in
# a folder, skiff-agent --proxy-mode=nftables in a node namespace programs
# its own inet table, and a client namespace talks through the node to real
# TCP/UDP servers in three backend namespaces. What is about the table
# itself: incremental batches that leave other services' chains alone, UDP
# conntrack cleanup, a golden dump. (test_proxy_agent.sh runs the service
# semantics against both proxy modes.)
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/manifests.sh"
. "$(dirname "$0")/../harness/topology.sh"
require_root
require_cmd ip socat nft conntrack awk
require_bin skiff-agent lb-client
guard_ranges 10.96.0.0/16 fd00:96::/64

AGENT_BIN="$BIN/skiff-agent"
CLI="$TESTBIN/lb-client"
GOLDEN="$SKIFF_ROOT/tests/dataplane/golden/nftproxy.nft"

client() { in_ns client "$CLI" --timeout-ms 2000 "$@"; }
backends_seen() { awk '$1 ~ /^b[0-9]$/ { print $1 }' | sort -u | tr '\n' ' '; }

topo_backends 10.210 10.211 fd00:210 fd00:211 1
topo_node_exit

# ---- manifests -----------------------------------------------------------

WEB_PORTS='[{name: http, port: 8080}, {name: dns, port: 8080, protocol: UDP}]'
web_service() {
	service web "clusterIPs: [10.96.0.10, 'fd00:96::10']" "type: NodePort" \
		"externalIPs: [192.0.2.10]" "ports:" \
		"- {name: http, port: 80, nodePort: 30080}" \
		"- {name: dns, port: 53, protocol: UDP, nodePort: 30053}" "$@"
}
ALL3="10.211.1.2 10.211.2.2 10.211.3.2"

# ---- the agent -----------------------------------------------------------

start_tool() {
	( exec ip netns exec "$(ns node)" "$AGENT_BIN" --manifests "$M" --proxy-mode nftables \
		--nft-table "$TABLE" --node-name node1 --node-ip 10.210.0.1 \
		--cluster-cidr 10.211.0.0/16 --bpffs "/sys/fs/bpf/skiff-nft-test-$RUN_ID" \
		--log-level debug "$@" ) >>"$ALOG" 2>&1 &
	TOOLPID=$!
	wait_for 10 grep -q "initial sync:" "$ALOG" || fail "agent never synced: $(tail -5 "$ALOG")"
}
case_setup() {
	M="$TMP/manifests-$1"
	ALOG="$TMP/agent-$1.log"
	TABLE="skiff-test-$RUN_ID-$1"
	mkdir -p "$M"
	: >"$ALOG"
	defer "ip netns exec '$(ns node)' nft delete table inet '$TABLE'"
	defer 'kill $TOOLPID; wait $TOOLPID'
}

# ---- cases -----------------------------------------------------------------

case_clusterip_nodeport_externalip_spread_tcp_udp_ipv6() {
	case_setup spread
	{ web_service; slice web-v4 web IPv4 "$WEB_PORTS" $ALL3
	  slice web-v6 web IPv6 "$WEB_PORTS" fd00:211:1::2 fd00:211:2::2; } | put web.yaml
	start_tool
	local out
	out=$(client --count 30 10.96.0.10 80) || fail "TCP ClusterIP: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "30 connections reach every backend"
	out=$(client --udp --count 20 10.96.0.10 53) || fail "UDP ClusterIP: $out"
	assert_ne "$(echo "$out" | backends_seen | wc -w)" 1 "datagrams spread: $out"
	out=$(client --count 24 fd00:96::10 80) || fail "IPv6 ClusterIP: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 " "IPv6 ClusterIP uses the IPv6 slice"
	out=$(client --count 30 10.210.0.1 30080) || fail "NodePort: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "NodePort from the outside namespace"
	out=$(client --udp --count 20 10.210.0.1 30053) || fail "UDP NodePort: $out"
	assert_ne "$(echo "$out" | backends_seen | wc -w)" 0 "UDP NodePort answers"
	out=$(client --count 30 192.0.2.10 80) || fail "externalIP: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "externalIP"
	# the client is outside the cluster CIDR: backends see the node's address
	local seen
	seen=$(in_ns node conntrack -L -p tcp --orig-src 10.210.0.2 --orig-dst 10.96.0.10 2>/dev/null |
		grep -c "src=10.211.1.2 dst=10.211.1.1 " || true)
	[ "$seen" -gt 0 ] || fail "masquerade: no connection to b1 from the node address"
}

case_no_endpoints_and_unknown_port_refused_at_once() {
	case_setup refuse
	{ service empty "clusterIP: 10.96.0.30" "type: NodePort" "ports: [{name: http, port: 80, nodePort: 30090}]"
	  slice empty-1 empty IPv4 "$WEB_PORTS"
	  printf -- '---\n'; web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2; } | put svc.yaml
	start_tool
	local t0 out
	for target in "10.96.0.30 80" "10.210.0.1 30090" "10.96.0.10 81"; do
		t0=$(date +%s%N)
		# shellcheck disable=SC2086
		out=$(client --timeout-ms 3000 $target 2>&1) && fail "$target: connected without endpoints: $out"
		assert_contains "$out" "refused" "$target"
		[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1000 ] || fail "$target: refusal took more than 1 s"
	done
	# UDP: ICMP port unreachable, seen by a connected socket as refused
	out=$(client --udp --connected --timeout-ms 3000 10.96.0.30 80 2>&1) && fail "UDP answered: $out"
	assert_contains "$out" "refused"
	# endpoints appear: the same service answers
	change eval 'slice empty-1 empty IPv4 "$WEB_PORTS" 10.211.2.2 | put slice.yaml'
	assert_eq "$(client --count 3 10.96.0.30 80 | backends_seen)" "b2 "
}

case_client_ip_affinity() {
	case_setup affinity
	{ service sticky "clusterIP: 10.96.0.20" "sessionAffinity: ClientIP" \
		"sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}" "ports: [{name: http, port: 80}]"
	  slice sticky-1 sticky IPv4 "$WEB_PORTS" $ALL3; } | put svc.yaml
	start_tool
	local out
	out=$(client --count 15 10.96.0.20 80) || fail "affinity: $out"
	assert_eq "$(echo "$out" | backends_seen | wc -w)" 1 "ClientIP affinity keeps one backend: $out"
	out=$(in_ns node nft list table inet "$TABLE")
	assert_contains "$out" "10.210.0.2 expires" "the client is in an affinity set"
}

case_readiness_flip_incremental_and_restart() {
	case_setup ready
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $ALL3; } | put svc.yaml
	{ service other "clusterIP: 10.96.0.40" "ports: [{name: http, port: 80}]"
	  slice other-1 other IPv4 "$WEB_PORTS" 10.211.3.2; } | put other.yaml
	start_tool
	local h0 h1 out
	h0=$(in_ns node nft -a list table inet "$TABLE" | grep 'chain svc-default/other')
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2 10.211.2.2,false 10.211.3.2 | put svc2.yaml'
	assert_contains "$(tail -n 1 "$ALOG")" "(changed services)"
	assert_contains "$(grep "table inet $TABLE:" "$ALOG" | tail -n 1)" "an incremental batch of"
	out=$(client --count 30 10.96.0.10 80) || fail "after flip: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b3 " "not-ready b2 gets no new connection"
	# none ready, b3 serving and terminating: it takes the traffic
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2,false 10.211.2.2,false 10.211.3.2,false,true,true | put svc2.yaml'
	out=$(client --count 10 10.96.0.10 80) || fail "fallback: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b3 " "terminating fallback"
	# the other service's chain was never touched (same handle)
	h1=$(in_ns node nft -a list table inet "$TABLE" | grep 'chain svc-default/other')
	assert_eq "$h1" "$h0" "an unrelated frontend chain is unchanged"
	# restart: a full rebuild in one batch; traffic keeps flowing
	kill "$TOOLPID"; wait "$TOOLPID" 2>/dev/null
	assert_eq "$(client --count 3 10.96.0.40 80 | backends_seen)" "b3 " "table stays without the agent"
	rm "$M/svc2.yaml"
	: >"$ALOG"
	start_tool
	out=$(client --count 30 10.96.0.10 80) || fail "after restart: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 "
}

# An endpoint replaced by another (their number unchanged): only the
# elements of the frontends' ranges of the endpoints maps change; their chains stay (the same
# handles), so the commit has nothing to validate, however many services
# the table holds.
case_endpoint_swap_changes_map_elements_only() {
	case_setup swap
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2 10.211.2.2; } | put svc.yaml
	start_tool
	local h0 h1 out
	h0=$(in_ns node nft -a list table inet "$TABLE" | grep 'chain svc-default/web:http-tcp-10.96.0.10:80 ')
	[ -n "$h0" ] || fail "no chain for the ClusterIP frontend"
	change eval '{ web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2 10.211.3.2; } | put svc.yaml'
	assert_contains "$(grep "table inet $TABLE:" "$ALOG" | tail -n 1)" "an incremental batch of"
	h1=$(in_ns node nft -a list table inet "$TABLE" | grep 'chain svc-default/web:http-tcp-10.96.0.10:80 ')
	assert_eq "$h1" "$h0" "the frontend chain is kept (same handle)"
	# the frontend's second key of its endpoints map now holds the new one
	local rule map key
	rule=$(in_ns node nft list table inet "$TABLE" |
		awk '/chain svc-default\/web:http-tcp-10.96.0.10:80 /,/}/' | grep numgen)
	map=$(echo "$rule" | sed -n 's/.* map @\(endpoints-[0-9]*\).*/\1/p')
	[ -n "$map" ] || fail "no endpoints map in: $rule"
	key=$(echo "$rule" | sed -n 's/.* offset \([0-9]*\) .*/\1/p')
	key=$(printf '0x%08x' $(( ${key:-0} + 1 )))
	assert_contains "$(in_ns node nft list map inet "$TABLE" "$map")" "$key : 10.211.3.2 . 8080"
	out=$(client --count 30 10.96.0.10 80) || fail "after the swap: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b3 " "the new endpoint replaces the old"
	out=$(client --udp --count 20 10.96.0.10 53) || fail "UDP after the swap: $out"
	assert_not_contains "$(echo "$out" | backends_seen)" "b2" "UDP frontend swapped too"
	# one endpoint fewer: the chain is replaced (numgen's modulus changes)
	change eval '{ web_service; slice web-1 web IPv4 "$WEB_PORTS" 10.211.3.2; } | put svc.yaml'
	assert_eq "$(client --count 10 10.96.0.10 80 | backends_seen)" "b3 " "one endpoint left"
	assert_not_contains "$(in_ns node nft list table inet "$TABLE" | awk '/map endpoints-/,/}/')" \
		"10.211.1.2 . 8080" "the replaced chains' endpoint keys are deleted"
}

case_udp_conntrack_of_removed_endpoint_deleted() {
	case_setup ct
	service dns "clusterIP: 10.96.0.50" "ports: [{name: dns, port: 53, protocol: UDP}]" | put svc.yaml
	slice dns-1 dns IPv4 "$WEB_PORTS" 10.211.1.2 10.211.2.2 | put slice.yaml
	start_tool
	# a connected UDP flow: the entry is kept alive by its own timeout
	client --udp --connected --count 4 10.96.0.50 53 >/dev/null || fail "UDP service does not answer"
	local n
	n=$(ct_count node -p udp --reply-src 10.211.1.2)
	n=$((n + $(ct_count node -p udp --reply-src 10.211.2.2)))
	[ "$n" -gt 0 ] || fail "no conntrack entry for the UDP flow"
	change eval 'slice dns-1 dns IPv4 "$WEB_PORTS" 10.211.3.2 | put slice.yaml'
	assert_eq "$(ct_count node -p udp --reply-src 10.211.1.2)" 0
	assert_eq "$(ct_count node -p udp --reply-src 10.211.2.2)" 0
	assert_contains "$(grep "table inet $TABLE:" "$ALOG" | tail -n 1)" "$n UDP conntrack entries deleted"
	assert_eq "$(client --udp --count 3 10.96.0.50 53 | backends_seen)" "b3 "
}

case_golden_table_dump() {
	case_setup golden
	{ web_service "sessionAffinity: ClientIP" "sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}"
	  slice web-1 web IPv4 "$WEB_PORTS" 10.211.1.2 10.211.2.2,false
	  slice web-6 web IPv6 "$WEB_PORTS" fd00:211:1::2
	  printf -- '---\n'
	  service empty "clusterIP: 10.96.0.30" "ports: [{name: http, port: 80}]"
	  printf -- '---\n'
	  service local "clusterIP: 10.96.0.31" "type: LoadBalancer" "externalTrafficPolicy: Local" \
		"ports: [{name: http, port: 80, nodePort: 30031}]"
	  slice local-1 local IPv4 "$WEB_PORTS" 10.211.3.2; } | put svc.yaml
	start_tool
	local got="$TMP/golden.nft"
	in_ns node nft list table inet "$TABLE" | sed "s/table inet $TABLE /table inet skiff-proxy /" >"$got"
	if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then cp "$got" "$GOLDEN"; fi
	diff -u "$GOLDEN" "$got" >&2 || fail "nft list table differs from $GOLDEN (UPDATE_GOLDEN=1 rewrites it)"
}

# Hairpin: an endpoint reaching itself through its service is masqueraded
# (else it would answer itself directly); another pod is not.
case_hairpin_masquerade_only_to_itself() {
	case_setup hairpin
	{ service hp "clusterIP: 10.96.0.60" "ports: [{name: http, port: 80}]"
	  slice hp-1 hp IPv4 "$WEB_PORTS" 10.211.1.2
	  printf -- '---\n'
	  service hpa "clusterIP: 10.96.0.61" "sessionAffinity: ClientIP" "ports: [{name: http, port: 80}]"
	  slice hpa-1 hpa IPv4 "$WEB_PORTS" 10.211.1.2; } | put svc.yaml
	start_tool
	local ip out
	for ip in 10.96.0.60 10.96.0.61; do
		out=$(in_ns b1 "$CLI" --timeout-ms 2000 --count 3 "$ip" 80) || fail "hairpin to $ip: $out"
		assert_eq "$(echo "$out" | backends_seen)" "b1 " "b1 reaches itself through $ip"
		out=$(in_ns node conntrack -L -p tcp --orig-src 10.211.1.2 --orig-dst "$ip" 2>/dev/null)
		assert_contains "$out" "src=10.211.1.2 dst=10.211.1.1 " "hairpin to $ip masqueraded to the node address"
		out=$(in_ns b2 "$CLI" --timeout-ms 2000 --count 2 "$ip" 80) || fail "b2 to $ip: $out"
		assert_eq "$(echo "$out" | backends_seen)" "b1 " "b2 reaches b1 through $ip"
		out=$(in_ns node conntrack -L -p tcp --orig-src 10.211.2.2 --orig-dst "$ip" 2>/dev/null)
		assert_contains "$out" "src=10.211.1.2 dst=10.211.2.2 " "b2 keeps its address (no masquerade)"
	done
	assert_contains "$(in_ns node nft list set inet "$TABLE" hairpin)" "10.211.1.2 . 10.211.1.2"
	# the endpoint goes: its hairpin element too
	hp_services() {
		service hp "clusterIP: 10.96.0.60" "ports: [{name: http, port: 80}]"
		slice hp-1 hp IPv4 "$WEB_PORTS" 10.211.3.2
		printf -- '---\n'
		service hpa "clusterIP: 10.96.0.61" "sessionAffinity: ClientIP" "ports: [{name: http, port: 80}]"
		slice hpa-1 hpa IPv4 "$WEB_PORTS" 10.211.3.2
	}
	change eval 'hp_services | put svc.yaml'
	out=$(in_ns node nft list set inet "$TABLE" hairpin)
	assert_contains "$out" "10.211.3.2 . 10.211.3.2"
	assert_not_contains "$out" "10.211.1.2" "a removed endpoint leaves the hairpin set"
}

# More than 1024 frontends: the services are spread over shard tables
# (<table>-s<k>, each with its own nat base chains and service maps) so a
# commit validates one shard. Traffic, hairpin (masqueraded by the main
# table), an incremental add into a shard, and the agent's exit removing
# every shard.
case_sharded_tables() {
	case_setup shards
	require_bin proxy-gen
	"$TESTBIN/proxy-gen" manifests --services 1100 --endpoints 2 --real-service 701 \
		--real-endpoints 10.211.1.2,10.211.2.2 --cluster-cidr 10.211.0.0/16 --out "$M" >/dev/null ||
		fail "proxy-gen"
	defer "for k in \$(seq 1 15); do ip netns exec '$(ns node)' nft delete table inet '$TABLE-s'\$k 2>/dev/null; done; true"
	start_tool
	local tables out
	tables=$(in_ns node nft list tables | grep -c "table inet $TABLE-s" || true)
	assert_eq "$tables" 1 "1100 frontends: the main table and one shard"
	assert_contains "$(in_ns node nft list table inet "$TABLE-s1")" \
		"chain svc-bench/svc-701:http-tcp-10.96.2.190:80 {" "service 701 lives in shard 1"
	out=$(client --count 20 10.96.2.190 80) || fail "a sharded service: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 " "a service in a shard spreads over its endpoints"
	# 20 connections: the chance that none picks b1 itself is 2^-20
	out=$(in_ns b1 "$CLI" --timeout-ms 2000 --count 20 10.96.2.190 80) || fail "hairpin: $out"
	assert_contains "$(in_ns node conntrack -L -p tcp --orig-src 10.211.1.2 --orig-dst 10.96.2.190 2>/dev/null)" \
		"dst=10.211.1.1 " "hairpin through a shard masqueraded"
	# a new service: an incremental batch, into a shard
	change eval '"$TESTBIN/proxy-gen" manifests --services 1101 --endpoints 2 --only 1100 \
		--real-service 1100 --real-endpoints 10.211.3.2 --out "$M" >/dev/null'
	assert_contains "$(grep "table inet $TABLE:" "$ALOG" | tail -n 1)" "an incremental batch of"
	assert_eq "$(client --count 3 10.96.4.77 80 | backends_seen)" "b3 " "the added service answers"
	assert_contains "$(in_ns node nft list table inet "$TABLE-s1")" "chain svc-bench/svc-1100:http"
	kill "$TOOLPID"; wait "$TOOLPID" 2>/dev/null
	: >"$ALOG"
	start_tool --destroy-on-exit
	kill -TERM "$TOOLPID"; wait "$TOOLPID" 2>/dev/null
	assert_not_contains "$(in_ns node nft list tables)" "$TABLE" "--destroy-on-exit removes every shard"
}

# The big sets get their size at a full sync (half again their elements,
# and 256 more); a change that would pass a size is made as a full sync,
# which sizes them anew. 1 service, then 400 (800 endpoints): cluster-ips,
# service-ips and hairpin pass their sizes of 257-259.
# set_size set|map NAME
set_size() { in_ns node nft list "$1" inet "$TABLE" "$2" | awk '$1 == "size" { print $2 }'; }
case_sets_resized_when_a_change_passes_their_size() {
	case_setup sizes
	require_bin proxy-gen
	local st="$TMP/sizes-staged" f
	"$TESTBIN/proxy-gen" manifests --services 1 --endpoints 2 --real-service 0 \
		--real-endpoints 10.211.1.2,10.211.2.2 --out "$M" >/dev/null || fail "proxy-gen"
	"$TESTBIN/proxy-gen" manifests --services 400 --endpoints 2 --real-service 399 \
		--real-endpoints 10.211.3.2 --out "$st" >/dev/null || fail "proxy-gen"
	rm "$st/svc-00000.json"
	start_tool
	assert_eq "$(set_size set cluster-ips)" 257 "1 ClusterIP: size 1 + 256"
	: >"$ALOG"
	for f in "$st"/*.json; do mv "$f" "$M/"; done
	wait_for 20 eval 'in_ns node nft list map inet "$TABLE" service-ips | grep -q "10.96.1.144 . tcp . 80"' ||
		fail "service 399 never programmed: $(tail -3 "$ALOG")"
	assert_contains "$(grep "table inet $TABLE:" "$ALOG")" "a full batch" "a change past a size: a full sync"
	# not the kernel refusing an element past a size, then a full sync
	assert_not_contains "$(cat "$ALOG")" "cannot apply" "no batch refused"
	# sized at a full sync of 258 to 400 services (the folder watch may
	# report the files in more than one change)
	[ "$(set_size set cluster-ips)" -ge 400 ] ||
		fail "cluster-ips not resized: size $(set_size set cluster-ips)"
	[ "$(set_size set hairpin)" -ge 799 ] || fail "hairpin not resized: size $(set_size set hairpin)"
	[ "$(set_size map service-ips)" -ge 400 ] ||
		fail "service-ips not resized: size $(set_size map service-ips)"
	assert_eq "$(client --count 3 10.96.1.144 80 | backends_seen)" "b3 " "the last service added answers"
	assert_eq "$(client --count 20 10.96.0.1 80 | backends_seen)" "b1 b2 " "the first one still spreads"
}

# The nftables mode's flags, named in their errors (before anything runs).
case_agent_bad_flags_named() {
	local out
	out=$("$AGENT_BIN" --manifests /nonexistent --proxy-mode nftables --cluster-cidr 10.0.0.0/99 2>&1) &&
		fail "bad CIDR accepted"
	assert_contains "$out" "--cluster-cidr"
	out=$("$AGENT_BIN" --manifests /nonexistent --proxy-mode nftables --node-ip nope 2>&1) &&
		fail "bad address accepted"
	assert_contains "$out" "--node-ip"
	out=$("$AGENT_BIN" --manifests /nonexistent --proxy-mode nft 2>&1) && fail "bad mode accepted"
	assert_contains "$out" '--proxy-mode: "nft" is not bpf or nftables'
	assert_contains "$("$AGENT_BIN" --help)" "--nft-table NAME"
}

run_case clusterip_nodeport_externalip_spread_tcp_udp_ipv6
run_case no_endpoints_and_unknown_port_refused_at_once
run_case client_ip_affinity
run_case readiness_flip_incremental_and_restart
run_case udp_conntrack_of_removed_endpoint_deleted
run_case hairpin_masquerade_only_to_itself
run_case sharded_tables
run_case sets_resized_when_a_change_passes_their_size
run_case golden_table_dump
run_case endpoint_swap_changes_map_elements_only
run_case agent_bad_flags_named
finish
