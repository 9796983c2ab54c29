#!/usr/bin/env bash
# Ending the sockets of removed backends (issue 12): the time skiff-agent's
# BPF mode spends in its socket-ending pass after a sync that removes 1, 10
# or 100 backends at once, as the agent logs it ("then X ms ending
# sockets"). The pass runs on the agent's loop, so it delays the next
# change.
#
# A node namespace runs skiff-agent over a manifests folder with one
# Service whose slice has BENCH_BACKENDS endpoints (nothing listens: only
# the pass is timed); BENCH_PODS pod namespaces each hold a process in the
# agent's cgroup (the pass looks in every network namespace of the cgroup)
# with BENCH_CONNS idle TCP sockets of their own. Per count: the slice loses
# that many endpoints (one sync), then gets them back; BENCH_ROUNDS times.
#
# Environment:
#   BENCH_COUNTS     removed backends per sync (default "1 10 100")
#   BENCH_BACKENDS   endpoints of the service (default 200)
#   BENCH_PODS       pod namespaces in the cgroup (default 4)
#   BENCH_CONNS      connected TCP sockets per pod, on its loopback (default 50)
#   BENCH_ROUNDS     removals timed per count (default 3)
# Reproduce: bash tests/bench/bench_sock_destroy.sh
# Exit status: 0 unless a measured step failed; 4 when skipped.

case "${1:-}" in
-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/bench.sh"
. "$(dirname "$0")/../harness/manifests.sh"
. "$(dirname "$0")/../harness/agent.sh"

counts=${BENCH_COUNTS:-1 10 100}
env_number n_be BENCH_BACKENDS 200
env_number n_pods BENCH_PODS 4
env_number n_conns BENCH_CONNS 50
env_number rounds BENCH_ROUNDS 3
for v in $counts; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] && [ "$v" -lt "$n_be" ] ||
		fail "BENCH_COUNTS: expected numbers from 1 to BENCH_BACKENDS - 1, got '$v'"
done
[ "$n_be" -le 60000 ] && [ "$rounds" -ge 1 ] || fail "BENCH_BACKENDS <= 60000, BENCH_ROUNDS >= 1"

require_root
require_cmd nsenter socat
require_bin skiff-agent lb-tool conn-bench
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || skip "cannot mount bpffs"
agent_cgroup skiff-bench-sockd
setup_ns node
status=0
M="$TMP/manifests" ALOG="$TMP/agent.log" MODE=bpf
BPFFS="/sys/fs/bpf/skiff-bench-sockd-$RUN_ID" TABLE="skiff-bsd-$RUN_ID"
mkdir -p "$M"

# Pods: a conn-bench server and a socat client per connection on the pod's
# loopback, all in the cgroup.
for (( p = 1; p <= n_pods; p++ )); do
	setup_ns "pod$p"
	bg_ns "pod$p" _pid "$TESTBIN/conn-bench" serve --port 9000 --threads 1
	for (( c = 1; c <= n_conns; c++ )); do
		( echo "$BASHPID" >"$CG/cgroup.procs" &&
			exec ip netns exec "$(ns "pod$p")" socat -u TCP:127.0.0.1:9000,retry=20 - ) \
			</dev/null >/dev/null 2>&1 &
		defer "kill_tree $!"
	done
done

ep_ip() { echo "10.$(( 128 + $1 / 65536 )).$(( $1 / 256 % 256 )).$(( $1 % 256 + 1 ))"; }
# web N: the service with endpoints 0..N-1.
web() {
	local eps=() i
	for (( i = 0; i < $1; i++ )); do eps+=("$(ep_ip "$i")"); done
	{ service web "clusterIP: 10.96.0.10" "ports: [{name: http, port: 80}]"
	  slice web-1 web IPv4 "[{name: http, port: 8080}]" "${eps[@]}"; } | put web.yaml
}
# resync N: the service with N endpoints, and the agent's sync after it (the
# old one-backend-at-a-time pass took a second per backend on a busy machine).
resync() {
	local before
	before=$(nsync)
	web "$1"
	wait_for 600 synced_since "$before" || fail "agent did not sync to $1 endpoints: $(tail -3 "$ALOG")"
}
web "$n_be"
agent_cleanup
agent_start --manifests "$M" --log-level info

echo "socket-ending pass of skiff-agent (BPF mode): $n_pods pods x $n_conns TCP sockets in the cgroup,"
echo "a service of $n_be backends; ms per sync, best and median of $rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s | %8s | %8s | %14s\n' "removed backends" "best ms" "median" "ms per backend"
for n in $counts; do
	t=()
	for (( r = 0; r < rounds; r++ )); do
		resync $(( n_be - n ))
		ms=$(grep " sync: " "$ALOG" | tail -n 1 | sed -n 's/.*then \([0-9.]*\) ms ending sockets.*/\1/p')
		[ -n "$ms" ] && t+=("$ms") || err "no socket-ending time after removing $n: $(grep " sync: " "$ALOG" | tail -n 1)"
		resync "$n_be"
	done
	best=$(printf '%s\n' "${t[@]}" | sort -g | head -1)
	printf '%-18s | %8s | %8s | %14s\n' "$n" "${best:--}" "$(median "${t[@]}")" \
		"$(awk -v b="${best:-0}" -v n="$n" 'BEGIN { printf "%.2f", b / n }')"
done
exit $status
