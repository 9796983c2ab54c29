# Shared by tests/control/test_e2e_*.sh (source after lib.sh): skiff-server
# with its loops and hollow nodes, driven by the real kubectl.
#
#   e2e_start N [SERVER FLAG...]  a fresh skiff-server (TLS, DATA=$TMP/data)
#                                 and N hollow nodes hollow-$HP-0..N-1 with
#                                 Leases renewed every 2 s; $CONTROL is their
#                                 control file ("silent NAME" lines)
#   k VERSION ARGS...             kubectl.1.VERSION on the server
#   hnode I                       the name of hollow node I
#   watch_start FILE ARGS...      `kubectl get ARGS -w --output-watch-events
#                                 -o json` into FILE until watch_stop FILE

require_bin skiff-server hollow-nodes
require_cmd curl jq
require_kubectl

HP=e$RUN_ID
CONTROL=$TMP/control

k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}
hnode() { echo "hollow-$HP-$1"; }

e2e_start() {
	local n=$1; shift
	DATA=$TMP/data
	start_skiff_server "$DATA" "$TMP/server.log" tls "$@"
	: >"$CONTROL"
	"$TESTBIN/hollow-nodes" --kubeconfig "$DATA/kubeconfig" --nodes "$n" --prefix "$HP" \
		--lease-interval 2 --control "$CONTROL" --exit-delay 300 --progress 0 \
		>"$TMP/hollow.log" 2>&1 &
	HOLLOW_PID=$!
	defer "kill_tree $HOLLOW_PID"
	wait_for 30 grep -q "^hollow-nodes: registered $n nodes" "$TMP/hollow.log" ||
		fail "hollow-nodes did not register $n nodes: $(tail -n 5 "$TMP/hollow.log")"
}

watch_start() {
	local f=$1; shift
	k 33 get "$@" -w --output-watch-events -o json -v=6 >"$f" 2>"$f.err" &
	echo $! >"$f.pid"
	defer "kill $! 2>/dev/null"
	# -v=6 logs the watch request once the server answered it
	wait_for 10 grep -q 'watch=true.*200 OK' "$f.err" || fail "watch $* did not start: $(cat "$f.err")"
}
watch_stop() { kill "$(cat "$1.pid")" 2>/dev/null; wait "$(cat "$1.pid")" 2>/dev/null; true; }

# watch_events FILE: one line "TYPE NAME READY TERMINATING NODE" per event.
watch_events() {
	jq -r '[.type, .object.metadata.name,
		([.object.status.conditions[]? | select(.type == "Ready") | .status][0] // "-"),
		(.object.metadata.deletionTimestamp != null), (.object.spec.nodeName // "-")] | join(" ")' "$1"
}
