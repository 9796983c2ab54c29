# Sourced by the controller benchmarks (issue 10): a fresh skiff-server on
# SQLite over HTTPS with its controllers and scheduler, and hollow-nodes
# playing the kubelets of NODES nodes.
#
#   cluster_start NODES [SERVER_FLAGS...] [-- HOLLOW_FLAGS...]
# sets SERVER_PID, HOLLOW_PID, KCFG (the admin kubeconfig) and HLOG (the
# hollow-nodes log, a progress line a second), and returns once every node
# and Lease is registered. Both processes are stopped by the test's defer.

# cpu_ticks PID: user + system clock ticks so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# rss_mib PID FIELD: VmRSS or VmHWM in MiB.
rss_mib() { awk -v f="$2:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# loadavg: the 1, 5 and 15 minute load averages, for the line under a table.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# hollow_count FIELD: the number after FIELD ("ready", "running", "pods")
# in the last progress line of hollow-nodes.
hollow_count() {
	awk -v f="$1" '/^hollow-nodes: [0-9.]+s / { for (i = 1; i < NF; i++) if ($i == f) n = $(i + 1) }
		END { print n + 0 }' "$HLOG"
}

cluster_start() {
	local nodes=$1 server=() hollow=() limit
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do server+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	hollow=("$@")
	ulimit -n 65536 2>/dev/null || true
	start_skiff_server "$TMP/data" "$TMP/server.log" tls "${server[@]}"
	KCFG=$TMP/data/kubeconfig
	HLOG=$TMP/hollow.log
	"$TESTBIN/hollow-nodes" --kubeconfig "$KCFG" --nodes "$nodes" --prefix "b$RUN_ID" \
		--progress 1 --keep-nodes "${hollow[@]}" >"$HLOG" 2>&1 &
	HOLLOW_PID=$!
	defer "kill_tree $HOLLOW_PID"
	limit=$(( nodes / 5 + 60 ))
	wait_for "$limit" grep -q '^hollow-nodes: registered' "$HLOG" ||
		fail "$nodes hollow nodes not registered in ${limit}s: $(tail -n 2 "$HLOG")"
}
