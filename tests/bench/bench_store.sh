#!/usr/bin/env bash
# Store benchmark (issue 5, storage layer): skiff's store on SQLite and on
# etcd, side by side in one run, with etcd itself as the peer: the same
# number of creates, gets, updates and list-alls as plain etcd v3 gRPC calls
# (store-bench --etcd-direct: Put, Range, Put, paged Range; one connection).
#
# build/tests/store-bench does the work per backend: OBJECTS pod-sized
# values created, read and updated one by one (p50/p99), all of them listed
# (list-all), then WATCHERS concurrent watches receiving EVENTS updates
# (delivery latency from write to each watcher, p50/p99), and the client
# process's peak RSS. etcd runs in a network namespace of this script's own
# (loopback only), with its own data dir, stopped by PID.
#
# Environment:
#   BENCH_STORE_OBJECTS   objects stored (default 10000)
#   BENCH_STORE_VALUE     bytes per object (default 2048)
#   BENCH_STORE_WATCHERS  concurrent watchers (default 1000)
#   BENCH_STORE_EVENTS    updates delivered to the watchers (default 100)
#   BENCH_STORE_BACKENDS  any of: sqlite etcd (default both)
# Goals (issue 5): single-object p99 <= 10 ms on SQLite, list of 10,000
# <= 500 ms, watch delivery p99 <= 50 ms. The goal lines are informational.
. "$(dirname "$0")/../harness/lib.sh"

env_number objects BENCH_STORE_OBJECTS 10000
env_number vlen BENCH_STORE_VALUE 2048
env_number watchers BENCH_STORE_WATCHERS 1000
env_number events BENCH_STORE_EVENTS 100
backends=${BENCH_STORE_BACKENDS:-sqlite etcd}
require_bin store-bench
DRIVER="$TESTBIN/store-bench"
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null

echo "$objects objects of $vlen bytes, $watchers watchers x $events events"
results="$TMP/results"
: >"$results"

# val BACKEND MEASURE FIELD: a number from store-bench's output.
val() {
	awk -v b="$1" -v m="$2" -v f="$3" '$1 == b && $2 == m {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$results"
}

run_sqlite() {
	"$DRIVER" "$TMP/bench.db" "$objects" "$vlen" "$watchers" "$events" >>"$results" ||
		fail "store-bench on SQLite failed"
}

etcd_pid=
run_etcd() {
	require_root
	require_cmd etcd ip curl
	setup_ns b
	mkdir -p "$TMP/etcd"
	bg_ns b etcd_pid etcd --name b1 --data-dir "$TMP/etcd/data" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster b1=http://127.0.0.1:2380 --quota-backend-bytes 4294967296 \
		>"$TMP/etcd/log" 2>&1
	wait_for 15 in_ns b curl -sf http://127.0.0.1:2379/health || fail "etcd did not start"
	in_ns b "$DRIVER" etcd://127.0.0.1:2379/bench "$objects" "$vlen" "$watchers" "$events" >>"$results" ||
		fail "store-bench on etcd failed"
	echo "etcd server rss_kib=$(awk '/^VmRSS/ { print $2 }' /proc/"$etcd_pid"/status)" >>"$results"
	in_ns b "$DRIVER" --etcd-direct 127.0.0.1:2379 "$objects" "$vlen" >>"$results" ||
		fail "store-bench --etcd-direct failed"
}

for b in $backends; do
	case $b in
	sqlite) run_sqlite ;;
	etcd) run_etcd ;;
	*) fail "BENCH_STORE_BACKENDS: unknown backend '$b' (sqlite, etcd)" ;;
	esac
done

printf '%-11s | %-17s | %-17s | %-17s | %-9s | %-17s | %s\n' backend "create p50/p99 us" \
	"get p50/p99 us" "update p50/p99 us" "list ms" "watch p50/p99 us" "client peak RSS"
for b in sqlite etcd etcd-direct; do
	[ -n "$(val "$b" create n)" ] || continue
	watch="$(val "$b" watch-delivery p50_us)/$(val "$b" watch-delivery p99_us)"
	mem="$(val "$b" memory peak_rss_kib) KiB"
	[ "$b" = etcd-direct ] && watch=- mem="etcd server RSS $(val etcd server rss_kib) KiB"
	printf '%-11s | %-17s | %-17s | %-17s | %-9s | %-17s | %s\n' "$b" \
		"$(val "$b" create p50_us)/$(val "$b" create p99_us)" \
		"$(val "$b" get p50_us)/$(val "$b" get p99_us)" \
		"$(val "$b" update p50_us)/$(val "$b" update p99_us)" \
		"$(( $(val "$b" list-all p50_us) / 1000 ))" "$watch" "$mem"
done
echo "etcd-direct: etcd itself, plain Put / Range / Put / paged Range over gRPC, same counts"
if [ -n "$(val sqlite create n)" ]; then
	worst=0
	for m in create get update; do
		p=$(val sqlite "$m" p99_us); [ "$p" -gt "$worst" ] && worst=$p
	done
	echo "goal sqlite single-object p99 <= 10000 us: ${worst} us" \
		"$([ "$worst" -le 10000 ] && echo met || echo MISSED)"
	l=$(( $(val sqlite list-all p50_us) / 1000 ))
	echo "goal list of $objects <= 500 ms: $l ms $([ "$l" -le 500 ] && echo met || echo MISSED)"
	w=$(val sqlite watch-delivery p99_us)
	[ -n "$w" ] && echo "goal watch delivery p99 <= 50000 us: $w us" \
		"$([ "$w" -le 50000 ] && echo met || echo MISSED)"
fi
exit 0
