#!/usr/bin/env bash
# skiff-agent fed by the API server (--kubeconfig): a skiff-server the test
# starts, Services and EndpointSlices written with the real kubectl, the
# agent in a node namespace programming the eBPF socket hooks of a test
# cgroup (--proxy-mode=bpf) or an nftables table (--proxy-mode=nftables),
# and a client in that cgroup reaching three backend namespaces through
# ClusterIPs (the topology of test_proxy_agent.sh).
#
# The server runs in the node namespace, on the agent's loopback
# (agent_server_start); kubectl runs there too. skiff-server runs no
# EndpointSlice controller: the test writes the slices.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/manifests.sh"
. "$(dirname "$0")/../harness/topology.sh"
. "$(dirname "$0")/../harness/agent.sh"
require_root
require_cmd ip socat bpftool awk nsenter nft curl
require_bin skiff-agent skiff-server lb-client lb-tool
require_kubectl
guard_ranges 10.96.0.0/16

AGENT_BIN="$BIN/skiff-agent"
agent_cgroup skiff-agent-api

topo_backends 10.220 10.221 fd00:220 fd00:221 10
topo_node_exit

# ---- the API server, in the node namespace ---------------------------------

# server_start FLAG...: skiff-server on $DATA (SQLite), in the node
# namespace; SERVER_PORT=$PORT restarts it where the agent knows it.
server_start() {
	agent_server_start "$DATA" "$SLOG" tls \
		--service-cluster-ip-range 10.96.0.0/16 --cluster-dns 10.96.255.253 "$@"
}
server_stop() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; }
k() { in_node "$KDIR/kubectl.1.33" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/kcache" "$@"; }
kapply() { k apply -f - >/dev/null || fail "kubectl apply failed"; }

WEB_PORTS='[{name: http, port: 8080}, {name: hold, port: 8081}]'
web_service() {
	service web "clusterIP: 10.96.0.10" "ports:" "- {name: http, port: 80}" \
		"- {name: hold, port: 81}" "$@"
}
ALL3="10.221.1.2 10.221.2.2 10.221.3.2"

# The Service the client loops of the restart cases aim at: its backends
# never change. A connection to a backend that a change removes is ended
# on purpose (in BPF mode, by the socket iterator), so a loop aimed at the
# Service being changed would fail by design, not because of a restart.
steady_service() {
	printf -- '---\n'
	service steady "clusterIP: 10.96.0.12" "ports: [{name: http, port: 80}]"
	slice steady-1 steady IPv4 "$WEB_PORTS" $ALL3
}

# ---- the agent ---------------------------------------------------------------

# start_agent ARGS...: skiff-agent on the server's kubeconfig in the node
# namespace, in mode $MODE; waits for its first sync.
start_agent() { agent_start --kubeconfig "$DATA/kubeconfig" --node-ip 10.220.0.1 "$@"; }

# case_setup TAG [SERVER_FLAG...]: the case's names, cleanup and server.
case_setup() {
	local tag="$1-$MODE"
	shift
	DATA="$TMP/data-$tag"
	SLOG="$TMP/server-$tag.log"
	ALOG="$TMP/agent-$tag.log"
	BPFFS="/sys/fs/bpf/skiff-agent-api-$RUN_ID-$tag"
	TABLE="skiff-api-$RUN_ID-$tag"
	mkdir -p "$DATA"
	agent_cleanup
	server_start "$@"
}
# state: what the agent programmed, without ids or handles: the service
# names and backends of the BPF maps, or the words of the nftables table
# (without the keys a frontend got in the endpoints maps: they follow the
# order of its changes).
state() {
	if [ "$MODE" = bpf ]; then
		bpftool -j map dump pinned "$BPFFS/lb_names" | grep -o '"name": "[^"]*"' | sort
	else
		in_node nft list table inet "$TABLE" | sed -E "s/$TABLE/T/;
			s/(endpoints6?)-[0-9]+/\1-G/g; s/ offset [0-9]+//; s/0x[0-9a-f]{8} :/K :/g" |
			tr ' ,{}' '\n\n\n\n' | grep -v '^$' | sort
	fi
}
has_service() {
	if [ "$MODE" = bpf ]; then
		bpftool map dump pinned "$BPFFS/lb_names" | grep -q "\"name\": \"$1\""
	else
		in_node nft list table inet "$TABLE" | grep -q "chain svc-$1-"
	fi
}

# ---- cases -------------------------------------------------------------------

case_flags_one_source() {
	local out
	out=$("$AGENT_BIN" --once 2>&1) && fail "started without a source"
	assert_contains "$out" "no source: give exactly one of --manifests DIR, --kubeconfig FILE"
	out=$("$AGENT_BIN" --once --manifests "$TMP" --kubeconfig "$TMP/x" 2>&1) &&
		fail "started with two sources"
	assert_contains "$out" "more than one source"
	out=$("$AGENT_BIN" --once --manifests "$TMP" --token t 2>&1) && fail "--token without --server"
	assert_contains "$out" "--token and --certificate-authority go with --server"
	out=$("$AGENT_BIN" --once --kubeconfig "$TMP/none" 2>&1) && fail "a missing kubeconfig"
	assert_contains "$out" "API $TMP/none:"
}

case_kubectl_changes_reach_the_datapath() {
	case_setup crud
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $ALL3; } | kapply
	start_agent
	assert_contains "$(cat "$ALOG")" "service default/web: 3 backends (3 ready)"
	has_service default/web:http || fail "no frontend for default/web:http: $(state)"
	local out
	out=$(client --count 30 10.96.0.10 80) || fail "ClusterIP: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b2 b3 " "30 connections reach every backend"
	# changed: b2 not ready
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.221.1.2 10.221.2.2,false 10.221.3.2 | kapply'
	assert_contains "$(tail -n 3 "$ALOG")" "(changed services)" "only the changed service"
	assert_eq "$(client --count 30 10.96.0.10 80 | backends_seen)" "b1 b3 " "not ready b2 excluded"
	# a service created through the API, with its slice
	change eval '{ service api2 "clusterIP: 10.96.0.12" "ports: [{name: http, port: 80}]"
		slice api2-1 api2 IPv4 "$WEB_PORTS" 10.221.2.2; } | kapply'
	wait_for 5 has_service default/api2:http || fail "created service not programmed: $(state)"
	assert_contains "$(client 10.96.0.12 80)" "b2 10.96.0.12:80"
	# service deleted: its frontends go, the other's stay
	change eval 'k delete service api2 >/dev/null'
	wait_for 5 eval '! has_service default/api2:http' || fail "deleted service still programmed"
	has_service default/web:http || fail "the other service went too"
	# slice deleted: nothing usable, refused at once
	change eval 'k delete endpointslice web-1 >/dev/null'
	out=$(client --timeout-ms 3000 10.96.0.10 80) && fail "connected with no endpoint: $out"
	assert_contains "$out" "Connection refused"
}

# (with --server, --token and --certificate-authority instead of a kubeconfig)
case_traffic_policy_local() {
	local token="agent-$RUN_ID-$MODE"
	printf '%s,skiff-agent,agent-uid,system:masters\n' "$token" >"$TMP/tokens-$MODE.csv"
	case_setup local --token-auth-file "$TMP/tokens-$MODE.csv"
	{ service web "clusterIP: 10.96.0.40" "internalTrafficPolicy: Local" \
		"ports: [{name: http, port: 80}]"
	  slice web-1 web IPv4 "$WEB_PORTS" 10.221.1.2,true,true,false,node1 \
		10.221.2.2,true,true,false,node2 10.221.3.2,true,true,false,node1; } | kapply
	agent_start --server "https://127.0.0.1:$PORT" --token "$token" \
		--certificate-authority "$DATA/tls/ca.crt" --node-ip 10.220.0.1
	local out
	out=$(client --count 20 10.96.0.40 80) || fail "local: $out"
	assert_eq "$(echo "$out" | backends_seen)" "b1 b3 " "only this node's endpoints (nodeName node1)"
}

# The server stopped, restarted, and restored from a snapshot under a
# client loop: not one connection fails, and changes made after each
# return reach the datapath.
case_server_restart_and_restore_fail_nothing() {
	case_setup restart
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $ALL3; steady_service; } | kapply
	start_agent
	local load
	client_bg load --count 600 --interval-ms 20 --timeout-ms 2000 10.96.0.12 80 >"$TMP/load.out"
	sleep 0.5
	server_stop
	wait_for 10 grep -q "unreachable; serving the last state" "$ALOG" ||
		fail "agent did not notice the server going: $(tail -3 "$ALOG")"
	sleep 1
	SERVER_PORT=$PORT server_start
	wait_for 15 grep -q "reachable again; listing again" "$ALOG" ||
		fail "watches not resumed: $(tail -3 "$ALOG")"
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.221.1.2 10.221.2.2 | kapply'
	wait_for 5 grep -q "service default/web: 2 backends (2 ready)" "$ALOG" || fail "no change after restart"
	# a snapshot of this state; a change; then the snapshot restored
	in_node "$BIN/skiff-server" --data-dir "$DATA" snapshot save "$TMP/snap.db" >>"$SLOG" 2>&1 ||
		fail "snapshot save: $(tail -2 "$SLOG")"
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" 10.221.3.2 | kapply'
	server_stop
	in_node "$BIN/skiff-server" --data-dir "$DATA" snapshot restore "$TMP/snap.db" >>"$SLOG" 2>&1 ||
		fail "snapshot restore: $(tail -2 "$SLOG")"
	SERVER_PORT=$PORT server_start
	# the restored state (b1 b2) comes back to the agent
	wait_for 20 eval '[ "$(client --count 12 10.96.0.10 80 | backends_seen)" = "b1 b2 " ]' ||
		fail "restored state not followed: $(tail -5 "$ALOG")"
	wait "$load" || fail "connections failed: $(grep -c ERR "$TMP/load.out") of 600: $(grep ERR "$TMP/load.out" | head -3)"
	assert_eq "$(grep -c . "$TMP/load.out")" 600
	assert_eq "$(grep -c ERR "$TMP/load.out")" 0 "zero failed connections"
}

# A 410: the agent's watches resume from a revision the restarted server
# compacted away; the relist's difference is applied in one sync, and the
# result equals a fresh agent's.
case_relist_after_410_equals_fresh_agent() {
	case_setup relist
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $ALL3
	  printf -- '---\n'
	  service old "clusterIP: 10.96.0.11" "ports: [{name: http, port: 80}]"
	  slice old-1 old IPv4 "$WEB_PORTS" 10.221.1.2; steady_service; } | kapply
	start_agent
	local load
	client_bg load --count 300 --interval-ms 20 --timeout-ms 2000 10.96.0.12 80 >"$TMP/load.out"
	# the agent paused: it cannot follow what happens next
	kill -STOP "$AGENT"
	server_stop
	SERVER_PORT=$PORT server_start --compaction-interval 1
	k delete service old >/dev/null
	k delete endpointslice old-1 >/dev/null
	{ service new "clusterIP: 10.96.0.13" "ports: [{name: http, port: 80}]"
	  slice new-1 new IPv4 "$WEB_PORTS" 10.221.3.2
	  slice web-1 web IPv4 "$WEB_PORTS" 10.221.1.2 10.221.3.2; } | kapply
	sleep 3 # compaction passes the agent's revision
	local before
	before=$(nsync)
	kill -CONT "$AGENT"
	wait_for 20 grep -q "watch history expired (410): relisting" "$ALOG" ||
		fail "no 410 relist: $(tail -5 "$ALOG")"
	wait_for 10 has_service default/new:http || fail "relist did not add the new service"
	wait_for 10 eval '! has_service default/old:http' || fail "relist did not remove old"
	# (each informer meets its own 410 and relists on its own: the slices'
	# may follow the Services' by a moment on a loaded machine)
	wait_for 10 eval '[ "$(client --count 20 10.96.0.10 80 | backends_seen)" = "b1 b3 " ]' ||
		fail "relisted slice not followed: $(client --count 20 10.96.0.10 80 | backends_seen)"
	assert_contains "$(client 10.96.0.13 80)" "b3 10.96.0.13:80"
	wait "$load" || fail "connections failed across the relist: $(grep ERR "$TMP/load.out" | head -3)"
	local relisted fresh
	relisted=$(state)
	# a fresh agent on the same API, into its own table / bpffs, once
	local b=$BPFFS t=$TABLE
	BPFFS="$b-fresh" TABLE="$t-f"
	agent_cleanup
	kill -9 "$AGENT"; wait "$AGENT" 2>/dev/null
	in_node "$AGENT_BIN" --kubeconfig "$DATA/kubeconfig" --bpffs "$BPFFS" --cgroup "$CG" \
		--node-name node1 --node-ip 10.220.0.1 --proxy-mode "$MODE" --nft-table "$TABLE" \
		--once >"$TMP/fresh.log" 2>&1 || fail "fresh agent: $(tail -3 "$TMP/fresh.log")"
	fresh=$(state | sed "s/$TABLE/$t/")
	assert_eq "$relisted" "$fresh" "relisted state equals a fresh agent's"
}

# BPF mode on the API: the sockets of a removed backend end after the
# change is programmed, in a pass of their own (deferred by
# PROXY_SOCKETS_DEFER_MS, so a change arriving meanwhile is not held up
# by it), and the log and the metric count them.
case_removed_backend_sockets_end_after_the_change() {
	MODE=bpf
	case_setup socks
	{ web_service; slice web-1 web IPv4 "$WEB_PORTS" $ALL3; } | kapply
	start_agent
	local hpid got keep=()
	client_bg hpid --hold --timeout-ms 8000 10.96.0.10 81 >"$TMP/hold.out"
	wait_for 5 grep -q "^b[123] " "$TMP/hold.out" || fail "held connection never answered: $(cat "$TMP/hold.out")"
	got=$(awk '{ print $1; exit }' "$TMP/hold.out")
	for b in 1 2 3; do [ "b$b" = "$got" ] || keep+=("10.221.$b.2"); done
	change eval 'slice web-1 web IPv4 "$WEB_PORTS" ${keep[*]} | kapply'
	wait "$hpid"
	assert_contains "$(cat "$TMP/hold.out")" "closed: Software caused connection abort"
	wait_for 5 grep -q "backend 10.221.${got#b}.2:8081/TCP removed, 1 socket ended" "$ALOG" ||
		fail "no log of the ended socket: $(grep removed "$ALOG")"
	assert_contains "$(cat "$ALOG")" "datapath: sockets of removed backends ended in"
}

both() {
	local m
	for m in bpf nftables; do
		eval "case_$1/$m() { MODE=$m; case_$1; }"
		run_case "$1/$m"
	done
}

run_case flags_one_source
both kubectl_changes_reach_the_datapath
both traffic_policy_local
both server_restart_and_restore_fail_nothing
both relist_after_410_equals_fresh_agent
run_case removed_backend_sockets_end_after_the_change
finish
