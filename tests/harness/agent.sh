# What the skiff-agent tests share (source after lib.sh): a client in a test
# cgroup (the BPF mode's socket hooks attach there), the node namespace of
# topology.sh's topo_backends, and waiting for the agent's syncs ($ALOG is
# the agent's log).
#
#   agent_cgroup NAME        CG: a cgroup v2 folder for the client, removed
#                            at exit (skips the file without cgroup v2)
#   client ARGS...           lb-client in CG, in the client namespace
#   client_bg VAR ARGS...    the same in the background; VAR gets its PID
#   backends_seen            stdin's lb-client lines -> "b1 b3 "
#   in_node CMD...           CMD in the node namespace
#   change CMD...            runs CMD and waits for the agent's next sync

CLI="$TESTBIN/lb-client"

agent_cgroup() {
	local cg2
	cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$cg2" ] || skip "no cgroup v2 mount"
	CG="$cg2/$1-$RUN_ID"
	mkdir "$CG" || skip "cannot create cgroup $CG"
	defer "rmdir '$CG'"
}

# nsenter execs (ip netns exec forks): a background client's $! is the
# client itself, so killing it by PID works.
client() {
	( echo "$BASHPID" >"$CG/cgroup.procs" && exec nsenter --net="/run/netns/$(ns client)" "$CLI" "$@" )
}
client_bg() {
	local var=$1
	shift
	( echo "$BASHPID" >"$CG/cgroup.procs" && exec nsenter --net="/run/netns/$(ns client)" "$CLI" "$@" ) &
	printf -v "$var" '%s' "$!"
	defer "kill_tree $!"
}
backends_seen() { awk '$1 ~ /^b[0-9]$/ { print $1 }' | sort -u | tr '\n' ' '; }

# nsenter, not `ip netns exec`: that one remounts /sys, hiding the bpffs
# the pins live in.
in_node() { nsenter --net="/run/netns/$(ns node)" "$@"; }

nsync() { grep -c "sync: " "$ALOG"; }
synced_since() { [ "$(nsync)" -gt "$1" ]; }
change() {
	local before
	before=$(nsync)
	"$@"
	wait_for 10 synced_since "$before" || fail "agent did not sync after: $*"
}

# agent_server_start DATA LOG MODE FLAG...: start_skiff_server (server.sh)
# in the node namespace, on the agent's loopback: the binary through a
# wrapper that enters the namespace, the readiness probe (curl) from there.
agent_server_start() {
	local nodebin="$TMP/nodebin-$(ns node)"
	if [ ! -x "$nodebin/skiff-server" ]; then
		mkdir -p "$nodebin"
		printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$(ns node)" \
			"$BIN/skiff-server" >"$nodebin/skiff-server"
		chmod +x "$nodebin/skiff-server"
	fi
	curl() { nsenter --net="/run/netns/$(ns node)" "$(type -P curl)" "$@"; }
	BIN=$nodebin start_skiff_server "$@"
	unset -f curl
}

# agent_start ARGS...: skiff-agent in the node namespace as node1, with the
# case's $BPFFS, $TABLE, $MODE and the cgroup, logging to $ALOG (ARGS: the
# source and the rest); AGENT gets its PID. Waits for its first sync.
agent_start() {
	( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" --bpffs "$BPFFS" \
		--cgroup "$CG" --node-name node1 --log-level debug --proxy-mode "$MODE" \
		--nft-table "$TABLE" "$@" ) >>"$ALOG" 2>&1 &
	AGENT=$!
	wait_for 30 grep -q "initial sync:" "$ALOG" || fail "agent never synced: $(tail -5 "$ALOG")"
}
# agent_cleanup: at the case's end, the agent stopped and its table, pins
# and programs removed.
agent_cleanup() {
	defer "in_node nft delete table inet '$TABLE'"
	defer "rm -rf '$BPFFS'"
	defer "[ -d '$BPFFS' ] && '$TESTBIN/lb-tool' --bpffs '$BPFFS' --cgroup '$CG' destroy"
	defer 'kill -9 $AGENT; wait $AGENT'
}
