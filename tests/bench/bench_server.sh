#!/usr/bin/env bash
# API server benchmark (issue 5): skiff-server through its HTTP API, on
# SQLite and on etcd, side by side in one run, with etcd's own put/range
# latency through its HTTP gateway (curl, one kept-alive connection) as
# the peer.
#
# build/tests/server-bench does the work per backend against a fresh
# skiff-server (plain HTTP on loopback, --insecure-port): PODS pods of
# about 2 KiB created one by one (POST), a sample of them read (GET) and
# updated (PUT), all pods listed (GET /api/v1/pods), then WATCHERS
# concurrent watches receiving EVENTS updates (delivery latency from the
# PUT's response to each watcher's event), and the server's memory from
# /proc (RSS and threads with every watch open). etcd's own watches are
# the peer of the watch phase: as many streams through its gateway
# (POST /v3/watch) receiving as many 2 KiB puts, timed the same way. Then,
# on another fresh server per backend, the write phase: the
# writes of controllers and a scheduler (create, bind, status patch of
# WRITE_PODS pods, each step over all pods before the next) from 1, 4,
# 16, 64 connections at once, with writes/s, latency and the server's CPU
# per write. Last, the kernel's floor under the watch phase (fanout-floor):
# as many loopback TCP connections, each sent the same events (one send()
# of ~2.3 KiB per connection and event) with no HTTP, JSON or store, timed
# from before the first send: what no server on this machine can beat.
# Everything runs in a network namespace of this script's own
# (loopback only); etcd gets its own data dir; both stopped by PID.
#
# Environment:
#   BENCH_SERVER_PODS      pods stored (default 10000)
#   BENCH_SERVER_SAMPLES   gets and updates timed (default 2000)
#   BENCH_SERVER_WATCHERS  concurrent watch connections (default 10000)
#   BENCH_SERVER_EVENTS    updates delivered to the watchers (default 100)
#   BENCH_SERVER_INTERVAL_MS  pause between those updates (default 100)
#   BENCH_SERVER_BACKENDS  any of: sqlite etcd (default both)
#   BENCH_SERVER_WRITERS   in-flight counts of the write phase (default 1,4,16,64;
#                          0: no write phase)
#   BENCH_SERVER_WRITE_PODS  pods per in-flight count (default 2000)
#   BENCH_SERVER_SKIFF     the skiff-server binary (default the build's; another
#                          build's, e.g. of main, gives the "before" column)
# Goals (issue 5): single-object p99 <= 10 ms on SQLite, list of 10,000
# pods <= 500 ms, watch delivery p99 <= 50 ms; (issue 15) with 10,000
# watchers, server RSS <= 200 MiB. The goal lines are
# informational: the bench fails only when a call fails.
. "$(dirname "$0")/../harness/lib.sh"

pods=${BENCH_SERVER_PODS:-10000}
samples=${BENCH_SERVER_SAMPLES:-2000}
watchers=${BENCH_SERVER_WATCHERS:-10000}
interval=${BENCH_SERVER_INTERVAL_MS:-100}
events=${BENCH_SERVER_EVENTS:-100}
backends=${BENCH_SERVER_BACKENDS:-sqlite etcd}
writers=${BENCH_SERVER_WRITERS:-1,4,16,64}
write_pods=${BENCH_SERVER_WRITE_PODS:-2000}
[[ $writers =~ ^[0-9]+(,[0-9]+)*$ ]] ||
	fail "BENCH_SERVER_WRITERS: expected numbers separated by commas, got '$writers'"
[ "$writers" = 0 ] && writers=
for v in pods samples watchers events write_pods interval; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] ||
		fail "BENCH_SERVER_${v^^}: expected a positive number, got '${!v}'"
done
for b in $backends; do
	case $b in sqlite|etcd) ;; *) fail "BENCH_SERVER_BACKENDS: unknown backend '$b' (sqlite, etcd)" ;; esac
done
require_root
require_cmd ip curl
require_bin skiff-server server-bench fanout-floor
SKIFF=${BENCH_SERVER_SKIFF:-$BIN/skiff-server}
[ -x "$SKIFF" ] || fail "BENCH_SERVER_SKIFF: '$SKIFF' is not an executable"
[[ " $backends " == *" etcd "* ]] && require_cmd etcd
DRIVER="$TESTBIN/server-bench"
# One descriptor per watch, on both sides (the server inherits this).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -gt $(( watchers + 128 )) ] ||
	fail "open-file limit $(ulimit -n) is too low for $watchers watchers"

echo "$pods pods of ~2 KiB in 4 namespaces, $samples sampled gets/updates," \
	"$watchers watchers x $events events ${interval} ms apart, skiff-server over plain HTTP on loopback"
results="$TMP/results"
: >"$results"
setup_ns b
PORT=8080

# val LABEL MEASURE FIELD: a number from server-bench's output.
val() {
	awk -v b="$1" -v m="$2" -v f="$3" '$1 == b && $2 == m {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$results"
}
# ms MICROSECONDS: milliseconds with two decimals, or "-".
ms() { [ -n "$1" ] && awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }' || echo -; }
mib() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }' || echo -; }
or_dash() { echo "${1:--}"; }
cpu_s() { # LABEL MEASURE DIVISOR: the server's CPU seconds in a phase / DIVISOR
	local c
	c=$(val "$1" "$2" server_cpu_ms)
	[ -n "$c" ] && awk -v c="$c" -v d="$3" 'BEGIN { printf "%.2f", c / d / 1000 }' || echo -
}

etcd_pid=
start_etcd() {
	mkdir -p "$TMP/etcd"
	bg_ns b etcd_pid etcd --name b1 --data-dir "$TMP/etcd/data" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster b1=http://127.0.0.1:2380 --quota-backend-bytes 4294967296 \
		>"$TMP/etcd/log" 2>&1
	wait_for 30 in_ns b curl -sf http://127.0.0.1:2379/health ||
		fail "etcd did not start: $(tail -n 3 "$TMP/etcd/log")"
}

# run_skiff BACKEND [write]: a fresh skiff-server on that store, measured
# (with "write": the write phase only, on a store of its own).
run_skiff() {
	local b=$1 pid store=() dir=$1 args args_loops=()
	local mode=${2:-}
	[ "$mode" = write ] && dir=$b-w
	[ "$b" = etcd ] && store=(--store "etcd://127.0.0.1:2379/$([ "$mode" = write ] && echo skiff-w || echo skiff)")
	args=(--pods "$pods" --samples "$samples" --watchers "$watchers" --events "$events"
		--interval-ms "$interval")
	[ "$mode" = write ] && args=(--writers "$writers" --write-pods "$write_pods")
	mkdir -p "$TMP/$dir"
	# The API alone: no scheduler or controller writes beside the bench's
	# (a binary from before they existed has no such flags).
	"$SKIFF" --help | grep -q -- --no-scheduler && args_loops=(--controllers=none --no-scheduler)
	bg_ns b pid "$SKIFF" --data-dir "$TMP/$dir/data" "${store[@]}" \
		--secure-port 0 --insecure-port "$PORT" "${args_loops[@]}" --log-level warn \
		>"$TMP/$dir/server.log" 2>&1
	wait_for 30 in_ns b curl -sf "http://127.0.0.1:$PORT/readyz" ||
		fail "skiff-server on $b did not start: $(tail -n 3 "$TMP/$dir/server.log")"
	[ "$(cat /proc/"$pid"/comm)" = skiff-server ] || fail "PID $pid is not skiff-server"
	in_ns b "$DRIVER" --url "http://127.0.0.1:$PORT" --label "$dir" "${args[@]}" \
		--server-pid "$pid" >>"$results" 2>"$TMP/$dir/driver.err"
	local rc=$?
	kill "$pid"
	wait "$pid" 2>/dev/null
	[ "$rc" -eq 0 ] || fail "server-bench on $dir failed: $(tail -n 5 "$TMP/$dir/driver.err")" \
		"; server log: $(tail -n 5 "$TMP/$dir/server.log")"
}

# etcd_peer N: etcd's own put, range and prefix range (over skiff's pods,
# when skiff/etcd ran before) through its gateway, one kept-alive curl.
etcd_peer() {
	local n=$1 url=http://127.0.0.1:2379 cfg="$TMP/curl.cfg" i k v s e m
	v=$(head -c 2048 /dev/zero | tr '\0' x | base64 -w0)
	: >"$cfg"
	for (( i = 0; i < n; i++ )); do
		k=$(printf '/peer/pod-%06d' "$i" | base64 -w0)
		printf 'url = "%s/v3/kv/put"\ndata = "{\\"key\\":\\"%s\\",\\"value\\":\\"%s\\"}"\n' "$url" "$k" "$v"
		printf 'output = "/dev/null"\nwrite-out = "put %%{time_total}\\n"\nnext\n'
	done >>"$cfg"
	for (( i = 0; i < n; i++ )); do
		k=$(printf '/peer/pod-%06d' "$(( (i * 7919) % n ))" | base64 -w0)
		printf 'url = "%s/v3/kv/range"\ndata = "{\\"key\\":\\"%s\\"}"\n' "$url" "$k"
		printf 'output = "/dev/null"\nwrite-out = "range %%{time_total}\\n"\nnext\n'
	done >>"$cfg"
	# The whole pod prefix skiff wrote (/skiff/registry/core/pods/), five times.
	s=$(printf '/skiff/registry/core/pods/' | base64 -w0)
	e=$(printf '/skiff/registry/core/pods0' | base64 -w0)
	for (( i = 0; i < 5; i++ )); do
		printf 'url = "%s/v3/kv/range"\ndata = "{\\"key\\":\\"%s\\",\\"range_end\\":\\"%s\\"}"\n' "$url" "$s" "$e"
		printf 'output = "%s"\nwrite-out = "list %%{time_total}\\n"\nnext\n' "$TMP/peer.list.json"
	done >>"$cfg"
	printf 'url = "%s/version"\noutput = "/dev/null"\n' "$url" >>"$cfg"
	in_ns b curl -s -K "$cfg" >"$TMP/peer.out" || fail "curl against etcd's gateway failed"
	for m in put range list; do
		awk -v m="$m" '$1 == m { printf "%d\n", $2 * 1000000 }' "$TMP/peer.out" | sort -n >"$TMP/peer.$m"
		i=$(wc -l <"$TMP/peer.$m")
		[ "$i" -gt 0 ] || fail "etcd gateway answered no $m"
		echo "etcd-peer $m n=$i p50_us=$(sed -n "$(( i / 2 + 1 ))p" "$TMP/peer.$m")" \
			"p99_us=$(sed -n "$(( i * 99 / 100 > 0 ? i * 99 / 100 : 1 ))p" "$TMP/peer.$m")" \
			"max_us=$(tail -n 1 "$TMP/peer.$m")" >>"$results"
	done
	i=$(grep -o '"count":"[0-9]*"' "$TMP/peer.list.json" | tr -dc 0-9)
	[ "$i" = "$pods" ] || fail "etcd's range over skiff's pods found '$i' keys, not $pods"
	echo "etcd-peer memory rss_kib=$(awk '/^VmRSS/ { print $2 }' /proc/"$etcd_pid"/status)" \
		"hwm_kib=$(awk '/^VmHWM/ { print $2 }' /proc/"$etcd_pid"/status)" >>"$results"
}

# etcd_peer_watch: etcd's own watches, as many as skiff's, through its
# gateway (a server-bench binary from before --etcd-watch: none). A peer
# that fails (etcd times its puts out under 10,000 gateway streams on a
# busy machine) is said so, and its cells stay empty.
etcd_peer_watch() {
	"$DRIVER" --help | grep -q -- --etcd-watch || return 0
	in_ns b "$DRIVER" --url http://127.0.0.1:2379 --label etcd-peer --etcd-watch \
		--watchers "$watchers" --events "$events" --interval-ms "$interval" \
		--server-pid "$etcd_pid" >>"$results" 2>"$TMP/etcd/driver.err" ||
		echo "note: etcd's own watches ($watchers through its gateway) failed:" \
			"$(tail -n 1 "$TMP/etcd/driver.err")"
}

for b in $backends; do
	[ "$b" = etcd ] && start_etcd
	run_skiff "$b"
	[ "$b" = etcd ] && etcd_peer "$(( pods < 2000 ? pods : 2000 ))" && etcd_peer_watch
	[ -n "$writers" ] && run_skiff "$b" write
done
# The floor, alone on the namespace's loopback once the servers are gone.
in_ns b "$TESTBIN/fanout-floor" --conns "$watchers" --events "$events" --interval-ms "$interval" \
	>>"$results" 2>"$TMP/floor.err" || fail "fanout-floor failed: $(tail -n 3 "$TMP/floor.err")"

# The table: one row per metric; skiff on each store, etcd itself, the
# kernel's floor, goal. row METRIC SQLITE ETCD ETCD-ITSELF GOAL [FLOOR]
row() {
	printf '| %-34s | %-17s | %-17s | %-19s | %-21s | %-20s |\n' "$1" "$2" "$3" "$4" "${6:--}" "$5"
}
pair() { # LABEL MEASURE A B: "a / b" in ms, or "-"
	local a b
	a=$(val "$1" "$2" "$3"); b=$(val "$1" "$2" "$4")
	[ -n "$a" ] && echo "$(ms "$a") / $(ms "$b")" || echo -
}
peer() { # MEASURE A B WHAT: etcd itself, "a / b (what)" or "-"
	local p
	p=$(pair etcd-peer "$1" "$2" "$3")
	[ "$p" = - ] && echo - || echo "$p ($4)"
}
echo
row "metric (ms unless noted)" "skiff/SQLite" "skiff/etcd" "etcd itself" "goal" "kernel floor, no HTTP"
row "---" "---" "---" "---" "---" "---"
row "create p50 / p99" "$(pair sqlite create p50_us p99_us)" "$(pair etcd create p50_us p99_us)" \
	"$(peer put p50_us p99_us put)" "p99 <= 10 (SQLite)"
row "get p50 / p99" "$(pair sqlite get p50_us p99_us)" "$(pair etcd get p50_us p99_us)" \
	"$(peer range p50_us p99_us range)" "p99 <= 10 (SQLite)"
row "update (PUT) p50 / p99" "$(pair sqlite update p50_us p99_us)" "$(pair etcd update p50_us p99_us)" \
	"$(peer put p50_us p99_us put)" "p99 <= 10 (SQLite)"
row "list all $pods pods median / max" "$(pair sqlite list-all p50_us max_us)" \
	"$(pair etcd list-all p50_us max_us)" "$(peer list p50_us max_us prefix)" "<= 500"
row "watch delivery p50 / p99 ($watchers w)" "$(pair sqlite watch-delivery p50_us p99_us)" \
	"$(pair etcd watch-delivery p50_us p99_us)" "$(peer watch-delivery p50_us p99_us watch)" "p99 <= 50" \
	"$(pair floor watch-delivery p50_us p99_us)"
row "$watchers watches all live after" "$(or_dash "$(val sqlite watch-connect all_live_ms)")" \
	"$(or_dash "$(val etcd watch-connect all_live_ms)")" "-" "-"
row "server CPU s, the $events watched PUTs" "$(cpu_s sqlite watch-delivery 1)" \
	"$(cpu_s etcd watch-delivery 1)" "$(cpu_s etcd-peer watch-delivery 1)" "-" \
	"$(cpu_s floor watch-delivery 1)"
row "server CPU s per list-all" "$(cpu_s sqlite list-all "$(val sqlite list-all n)")" \
	"$(cpu_s etcd list-all "$(val etcd list-all n)")" "-" "-"
row "server RSS, $pods pods created" "$(mib "$(val sqlite memory-created rss_kib)")" \
	"$(mib "$(val etcd memory-created rss_kib)")" "-" "-"
row "server RSS, $pods pods listed" "$(mib "$(val sqlite memory-loaded rss_kib)")" \
	"$(mib "$(val etcd memory-loaded rss_kib)")" "$(mib "$(val etcd-peer memory rss_kib)")" "-"
row "server RSS, $watchers watching" "$(mib "$(val sqlite memory-watching rss_kib)")" \
	"$(mib "$(val etcd memory-watching rss_kib)")" "$(mib "$(val etcd-peer memory-watching rss_kib)")" \
	"<= 200 MiB"
row "server peak RSS (VmHWM), watching" "$(mib "$(val sqlite memory-end hwm_kib)")" \
	"$(mib "$(val etcd memory-end hwm_kib)")" "$(mib "$(val etcd-peer memory-end hwm_kib)")" "-"
row "server threads, watching" "$(or_dash "$(val sqlite memory-watching threads)")" \
	"$(or_dash "$(val etcd memory-watching threads)")" \
	"$(or_dash "$(val etcd-peer memory-watching threads)")" "-"
# The write phase: one row per in-flight count and step.
wrow() { printf '| %-16s | %-13s | %-17s | %-13s | %-13s | %-17s | %-13s |\n' "$@"; }
wcells() { # LABEL MEASURE: writes/s, p50 / p99 ms, CPU µs/write
	local n
	n=$(val "$1" "$2" writes_per_s)
	if [ -z "$n" ]; then
		echo "- - -"
		return
	fi
	echo "$n $(pair "$1" "$2" p50_us p99_us | tr -d ' ') $(val "$1" "$2" server_cpu_us_per_write)"
}
fl() { val floor watch-delivery "$1"; } # a field of fanout-floor's line
echo
echo "kernel floor (loopback TCP, no HTTP): fanout-floor, $(fl conns) connections x $(fl events)" \
	"events of $(fl msg_bytes) bytes, one send() each, $(fl senders) sender threads, $(fl receivers)" \
	"epoll receiver: p50 / p99 / max $(pair floor watch-delivery p50_us p99_us) / $(ms "$(fl max_us)") ms;" \
	"one fan-out $(ms "$(fl send_pass_p50_us)") ms median; CPU per delivery: sender" \
	"$(fl sender_cpu_ns_per_delivery) ns (the receiving TCP stack runs in its send), receiver" \
	"$(fl receiver_cpu_ns_per_delivery) ns; before it: load1 $(fl load1), $(fl runnable) runnable;" \
	"other work meanwhile: $(fl others_cpus) CPUs"
if [ -n "$writers" ]; then
	echo
	echo "Write phase: $write_pods pods created, bound, status-patched per in-flight count"
	wrow "in flight, step" "SQLite wr/s" "SQLite p50/p99 ms" "SQLite CPU us" "etcd wr/s" \
		"etcd p50/p99 ms" "etcd CPU us"
	wrow "---" "---" "---" "---" "---" "---" "---"
	for c in ${writers//,/ }; do
		for step in create bind status; do
			read -r s1 s2 s3 <<<"$(wcells sqlite-w "$step-c$c")"
			read -r e1 e2 e3 <<<"$(wcells etcd-w "$step-c$c")"
			wrow "$c, $step" "$s1" "$s2" "$s3" "$e1" "$e2" "$e3"
		done
	done
	c=$(val sqlite-w create-c16 writes_per_s)
	[ -n "$c" ] && echo "goal sqlite creates/s at 16 in flight >= 2000: $c" \
		"$([ "$c" -ge 2000 ] && echo met || echo MISSED)"
fi
echo
for b in sqlite etcd; do
	[ -n "$(val "$b" create n)" ] || continue
	worst=0
	for m in create get update; do
		p=$(val "$b" "$m" p99_us); [ "$p" -gt "$worst" ] && worst=$p
	done
	l=$(val "$b" list-all p50_us)
	w=$(val "$b" watch-delivery p99_us)
	[ "$b" = sqlite ] && echo "goal $b single-object p99 <= 10 ms: $(ms "$worst") ms" \
		"$([ "$worst" -le 10000 ] && echo met || echo MISSED)"
	echo "goal $b list of $pods <= 500 ms: $(ms "$l") ms $([ "$l" -le 500000 ] && echo met || echo MISSED)"
	echo "goal $b watch delivery p99 <= 50 ms: $(ms "$w") ms $([ "$w" -le 50000 ] && echo met || echo MISSED)"
	m=$(val "$b" memory-end hwm_kib)
	[ -n "$m" ] && echo "goal $b server peak RSS <= 200 MiB ($watchers watchers): $(mib "$m")" \
		"$([ "$m" -le 204800 ] && echo met || echo MISSED)"
done
exit 0
