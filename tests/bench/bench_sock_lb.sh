#!/usr/bin/env bash
# The per-connection cost of skiff's socket load balancer (issue 12), two
# ways, measured in one run:
#   hook ns/conn   the connect4 program's own run time per run, from the
#                  kernel's BPF statistics (kernel.bpf_stats_enabled, set
#                  for the run and restored): what the hook adds, and a
#                  number that load on the machine barely moves
#   conn/s         short connections (conn-bench rate) to the pod directly
#                  and to a ClusterIP in front of it, in BENCH_ROUNDS pairs
#                  of BENCH_DURATION seconds, direct and ClusterIP
#                  alternating so that load hits both alike; the ratio of
#                  the best of each
# A client namespace in a test cgroup (lb-tool attaches the hooks there)
# reaches one pod namespace running `conn-bench serve` through a veth;
# BENCH_SERVICES frontends are programmed (the measured one among them).
#
# Environment:
#   BENCH_ROUNDS     direct/ClusterIP pairs (default 5)
#   BENCH_DURATION   seconds per measurement (default 2)
#   BENCH_WORKERS    concurrent clients (default 4)
#   BENCH_SERVICES   frontends in the maps (default 100)
# Reproduce: bash tests/bench/bench_sock_lb.sh
# Exit status: 0 unless a measured step failed; 4 when skipped.

case "${1:-}" in
-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/bench.sh"

env_number rounds BENCH_ROUNDS 5
env_number workers BENCH_WORKERS 4
env_number n_svc BENCH_SERVICES 100
duration=${BENCH_DURATION:-2}
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "BENCH_DURATION: expected seconds, got '$duration'"
[ "$rounds" -ge 1 ] && [ "$workers" -ge 1 ] && [ "$n_svc" -ge 1 ] && [ "$n_svc" -le 60000 ] ||
	fail "BENCH_ROUNDS, BENCH_WORKERS >= 1; BENCH_SERVICES 1..60000"

require_root
require_cmd ip awk bpftool sysctl
require_bin lb-tool conn-bench
guard_ranges 10.96.0.0/16 10.246.0.0/16
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || skip "cannot mount bpffs"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || skip "no cgroup v2 mount"
CG="$CG2/skiff-bench-socklb-$RUN_ID"
BPFFS="/sys/fs/bpf/skiff-bench-socklb-$RUN_ID"
mkdir "$CG" || skip "cannot create cgroup $CG"
defer "rmdir '$CG'"
defer "rm -rf '$BPFFS'"
defer "[ -d '$BPFFS' ] && '$TESTBIN/lb-tool' --bpffs '$BPFFS' --cgroup '$CG' destroy"
CB="$TESTBIN/conn-bench"
LB=("$TESTBIN/lb-tool" --bpffs "$BPFFS" --cgroup "$CG")
status=0

setup_ns client pod
ip -n "$(ns client)" link add eth0 type veth peer name eth0 netns "$(ns pod)"
ip -n "$(ns client)" addr add 10.246.0.1/24 dev eth0
ip -n "$(ns pod)" addr add 10.246.0.2/24 dev eth0
ip -n "$(ns client)" link set eth0 up
ip -n "$(ns pod)" link set eth0 up
ip -n "$(ns client)" route add 10.96.0.0/16 dev eth0
bg_ns pod _pid "$CB" serve --port 8080 --threads 1 2>/dev/null
wait_for 5 in_ns client "$CB" rate --duration 0.05 --workers 1 10.246.0.2:8080 ||
	fail "the pod does not answer"
"${LB[@]}" attach || fail "lb-tool attach failed"
# the other services: batches of lb-tool set would take a process each
for (( i = 1; i < n_svc; i++ )); do
	echo "set 10.96.$(( i / 256 )).$(( i % 256 )) 80 tcp 10.246.0.2:8080"
done >"$TMP/svcs"
if [ "$n_svc" -gt 1 ]; then
	while read -r _ a p pr b; do "${LB[@]}" set "$a" "$p" "$pr" "$b" >/dev/null || fail "set $a"; done <"$TMP/svcs"
fi
"${LB[@]}" set 10.96.255.1 80 tcp 10.246.0.2:8080 --name bench/web:http || fail "set the measured service"
prog=$(bpftool cgroup show "$CG" | awk '$2 == "cgroup_inet4_connect" || $3 == "connect4" { print $1; exit }')
[ -n "$prog" ] || fail "no connect4 program on $CG: $(bpftool cgroup show "$CG")"

# run CGROUP TARGET: conn-bench rate from the client (in the cgroup when 1).
run() {
	if [ "$1" = 1 ]; then
		( echo "$BASHPID" >"$CG/cgroup.procs" &&
			exec ip netns exec "$(ns client)" "$CB" rate --duration "$duration" --workers "$workers" "$2" )
	else
		ip netns exec "$(ns client)" "$CB" rate --duration "$duration" --workers "$workers" "$2"
	fi 2>&1 | tail -1
}
prog_stat() { bpftool prog show id "$prog" | sed -n "s/.*$1 \([0-9]*\).*/\1/p"; }

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
defer "sysctl -qw kernel.bpf_stats_enabled=$old_stats"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
best_d=0 best_c=0 ns_runs=()
for (( r = 1; r <= rounds; r++ )); do
	out=$(run 0 10.246.0.2:8080)
	d=$(kv per_sec "$out")
	[ -n "$d" ] || { err "direct: $out"; continue; }
	t0=$(prog_stat run_time_ns) c0=$(prog_stat run_cnt)
	out=$(run 1 10.96.255.1:80)
	c=$(kv per_sec "$out")
	[ -n "$c" ] || { err "ClusterIP: $out"; continue; }
	t1=$(prog_stat run_time_ns) c1=$(prog_stat run_cnt)
	ns_runs+=("$(awk -v t=$(( t1 - t0 )) -v n=$(( c1 - c0 )) 'BEGIN { printf "%.0f", n ? t / n : 0 }')")
	awk -v a="$d" -v b="$best_d" 'BEGIN { exit !(a > b) }' && best_d=$d
	awk -v a="$c" -v b="$best_c" 'BEGIN { exit !(a > b) }' && best_c=$c
	printf 'round %d: direct %s conn/s, ClusterIP %s conn/s, connect4 %s ns/run\n' "$r" "$d" "$c" "${ns_runs[-1]}"
done
echo
echo "socket LB per connection: $n_svc services, $workers clients x ${duration}s, best of $rounds"
echo "alternating pairs; load average $load0 -> $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s | %10s | %8s | %16s\n' path "conn/s" ratio "connect4 ns/run"
printf '%-28s | %10s | %8s | %16s\n' "client -> pod IP (direct)" "$best_d" base -
printf '%-28s | %10s | %8s | %16s\n' "client -> ClusterIP (BPF)" "$best_c" \
	"$(awk -v a="$best_c" -v b="$best_d" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" \
	"$(median "${ns_runs[@]}") (median)"
exit $status
