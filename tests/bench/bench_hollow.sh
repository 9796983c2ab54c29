#!/usr/bin/env bash
# Hollow nodes at scale (issue 10): build/tests/hollow-nodes registers NODES
# nodes (Node + Lease each, --inflight requests at once over HTTPS with the
# server's kubeconfig) against a fresh skiff-server on SQLite (its default
# store, WAL + fsync per commit), then renews every Lease each 10 s, spread
# over the interval (5,000 nodes: 500 renewals/s). Reports the registration
# time, the renewals/s held over a steady window after one lease interval of
# settling, renewal latency, both processes' CPU and RSS, and the time the
# SIGTERM cleanup takes to delete every Node and Lease. The bench fails when
# hollow-nodes saw an error or left anything behind.
#
# Environment:
#   BENCH_HOLLOW_NODES     nodes (default 5000)
#   BENCH_HOLLOW_STEADY    seconds of the steady window (default 30)
#   BENCH_HOLLOW_INFLIGHT  requests in flight (default 32)
#   BENCH_HOLLOW_INTERVAL  Lease renewal period, seconds (default 10, as the kubelet)
# Anchor: kubelets renew their Lease every 10 s (nodeLeaseRenewIntervalFraction
# 0.25 of the 40 s duration), so 5,000 nodes ask for 500 renewals/s; kubemark's
# 5,000-node runs hold that against kube-apiserver + etcd.
. "$(dirname "$0")/../harness/lib.sh"

env_number nodes BENCH_HOLLOW_NODES 5000
env_number steady BENCH_HOLLOW_STEADY 30
env_number inflight BENCH_HOLLOW_INFLIGHT 32
env_number INTERVAL BENCH_HOLLOW_INTERVAL 10
[ "$nodes" -gt 0 ] && [ "$steady" -gt 0 ] && [ "$inflight" -gt 0 ] && [ "$INTERVAL" -gt 0 ] ||
	fail "BENCH_HOLLOW_*: counts must be positive"
require_bin skiff-server hollow-nodes
require_cmd curl
ulimit -n 65536 2>/dev/null || true

DATA=$TMP/data
SERVER_PID=
PORT=
start_skiff_server "$DATA" "$TMP/server.log" tls
LOG=$TMP/hollow.log
TCK=$(getconf CLK_TCK)

# cpu_ticks PID: user + system clock ticks so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# rss_mib PID FIELD: VmRSS or VmHWM in MiB.
rss_mib() { awk -v f="$2:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# renewals: the cumulative count in the last progress line.
renewals() {
	awk '/ renewals [0-9]+ / { for (i = 1; i < NF; i++) if ($i == "renewals") n = $(i + 1) }
		END { print n + 0 }' "$LOG"
}
pct() { awk -v t="$1" -v s="$2" -v k="$TCK" 'BEGIN { printf "%.0f%%", t / k / s * 100 }'; }

echo "$nodes hollow nodes, Lease renewal every ${INTERVAL}s, $inflight requests in flight," \
	"skiff-server on SQLite over HTTPS; steady window ${steady}s"
"$TESTBIN/hollow-nodes" --kubeconfig "$DATA/kubeconfig" --nodes "$nodes" --prefix "b$RUN_ID" \
	--inflight "$inflight" --lease-interval "$INTERVAL" --progress 1 >"$LOG" 2>&1 &
HOLLOW_PID=$!
defer "kill_tree $HOLLOW_PID"

s0=$(cpu_ticks "$SERVER_PID")
limit=$(( nodes / 5 + 60 ))
wait_for "$limit" grep -q '^hollow-nodes: registered' "$LOG" ||
	fail "not registered in ${limit}s: $(tail -n 2 "$LOG")"
reg=$(awk '/^hollow-nodes: registered/ { print $(NF - 3) }' "$LOG")
reg_rate=$(awk '/^hollow-nodes: registered/ { print $(NF - 1) }' "$LOG")
s_reg=$(( $(cpu_ticks "$SERVER_PID") - s0 ))

sleep "$INTERVAL"
r0=$(renewals); s0=$(cpu_ticks "$SERVER_PID"); h0=$(cpu_ticks "$HOLLOW_PID"); t0=$(date +%s%N)
sleep "$steady"
r1=$(renewals); s1=$(cpu_ticks "$SERVER_PID"); h1=$(cpu_ticks "$HOLLOW_PID"); t1=$(date +%s%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
rate=$(awk -v a="$r0" -v b="$r1" -v s="$secs" 'BEGIN { printf "%.0f", (b - a) / s }')
srv_rss=$(rss_mib "$SERVER_PID" VmRSS); srv_hwm=$(rss_mib "$SERVER_PID" VmHWM)
hol_rss=$(rss_mib "$HOLLOW_PID" VmRSS); hol_hwm=$(rss_mib "$HOLLOW_PID" VmHWM)
# renewal latency in the window: the progress lines' per-second avg and max
lat=$(awk -v a="$r0" -v b="$r1" '/ renewals [0-9]+ \(/ {
	for (i = 1; i < NF; i++) {
		if ($i == "renewals") n = $(i + 1)
		if ($i == "avg") v = $(i + 1)
		if ($i == "max") m = $(i + 1)
	}
	if (n > a && n <= b) { sum += v; k++; if (m + 0 > max) max = m + 0 }
} END { if (k) printf "%.1f / %.1f", sum / k, max; else print "-" }' "$LOG")
late=$(grep ' renewals ' "$LOG" | tail -n 1 | sed -n 's/.*late \([0-9]*\),.*/\1/p')

t2=$(date +%s%N)
kill -TERM "$HOLLOW_PID"
wait "$HOLLOW_PID"
rc=$?
cleanup=$(awk -v a="$t2" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
summary=$(grep '^hollow-nodes: summary' "$LOG") || fail "no summary line: $(tail -n 3 "$LOG")"

row() { printf '| %-42s | %20s |\n' "$1" "$2"; }
row "measure" "value"
row "---" "---"
row "registration (Node + Lease), s" "$reg"
row "registration, nodes/s" "$reg_rate"
row "skiff-server CPU while registering, s" \
	"$(awk -v t="$s_reg" -v k="$TCK" 'BEGIN { printf "%.1f", t / k }')"
row "steady Lease renewals/s (goal $(( nodes / INTERVAL )))" "$rate"
row "renewal latency avg / max (steady), ms" "$lat"
row "renewals skipped (previous still pending)" "${late:-0}"
row "skiff-server CPU, steady" "$(pct $(( s1 - s0 )) "$secs")"
row "hollow-nodes CPU, steady" "$(pct $(( h1 - h0 )) "$secs")"
row "skiff-server RSS / peak, MiB" "$srv_rss / $srv_hwm"
row "hollow-nodes RSS / peak, MiB" "$hol_rss / $hol_hwm"
row "SIGTERM cleanup (delete all), s" "$cleanup"
echo "anchor: $nodes kubelets renewing every ${INTERVAL}s ask for $(( nodes / INTERVAL ))" \
	"renewals/s; kubemark holds 5,000 nodes on kube-apiserver + etcd"
echo "$summary"
assert_eq "$rc" 0 "hollow-nodes exit status"
assert_contains "$summary" " errors=0 "
assert_contains "$summary" "deleted_nodes=$nodes deleted_leases=$nodes "
