#!/usr/bin/env bash
# Cluster DNS benchmark (issue 12): skiff-agent's DNS against dnsmasq
# serving the same names from a hosts file, in one run, with dnsperf.
#
# In a namespace of its own (loopback only): BENCH_SERVICES ClusterIP
# Services (sN.nsM.svc.cluster.local) loaded by skiff-agent (nftables proxy
# mode with a table of the bench's own, --dns-listen 127.0.0.10:53) and the
# same names in a hosts file for dnsmasq (127.0.0.11:53, cache 10,000).
# Both forward other names to an upstream dnsmasq on 127.0.0.2:5300 that
# answers *.example.test (TTL 3600), so "external" measures each one's
# cache.
#
# Both servers answer from one thread (dnsmasq is single-threaded; skiff's
# server runs in the agent's loop), and on a machine of 2 or more CPUs
# both are pinned to the last CPU and dnsperf to the others (BENCH_PIN=0:
# no pinning), so that the generator and the server do not fight for one
# core and neither server gets more cores than the other. The rounds
# alternate which server goes first. Per server and query set, the best of
# BENCH_ROUNDS runs:
#   q/s         dnsperf, BENCH_CLIENTS clients, 100 outstanding, BENCH_DURATION s
#   lost        queries unanswered in that run
#   cpu_us/q    the server process's CPU time (user + system, from
#               /proc/PID/stat) per query answered, the lowest of the
#               rounds: what a query costs the server, whatever the
#               generator managed
#   q/s/core    1e6 / cpu_us/q: what one core of this machine would answer
#   gen%        dnsperf's CPU time over the run's length (near 100 per
#               CPU it has: the generator, not the server, was the limit)
#   gen_us/q    dnsperf's CPU time per query answered, the lowest of the
#               rounds: with dnsperf on one CPU, 1e6 / gen_us/q is the
#               most q/s this generator can ask of any server
#   p50/p99 us  latency of each query at BENCH_LAT_QPS queries/s (dnsperf -v)
# and then: the agent's and dnsmasq's RSS with the names loaded, and DNS
# programming latency from the manifests folder (a Service manifest
# written -> its name answers, p50/p99 of BENCH_PROG samples; includes the
# folder's 50 ms debounce and dig's start; the API path, without debounce,
# is the dns row of bench_agent_api.sh).
#
# Environment: BENCH_SERVICES (10000), BENCH_DURATION (5), BENCH_ROUNDS (3),
#   BENCH_CLIENTS (4), BENCH_LAT_QPS (2000), BENCH_PROG (20), BENCH_PIN (1),
#   BENCH_NOTRACK (0), BENCH_DNSPERF_ARGS (more dnsperf options, e.g. -T 2),
#   BENCH_PROFILE (a folder: instead of the table, one run per server under
#   perf record -a -g, written there as skiff.data and dnsmasq.data)
# Reproduce: make bench B=dns   (or: bash tests/bench/bench_dns.sh)
# Exit status: 0 unless a measurement failed; 4 when skipped.

case "${1:-}" in
-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"

n_svc=${BENCH_SERVICES:-10000}
duration=${BENCH_DURATION:-5}
rounds=${BENCH_ROUNDS:-3}
clients=${BENCH_CLIENTS:-4}
lat_qps=${BENCH_LAT_QPS:-2000}
n_prog=${BENCH_PROG:-20}
pin=${BENCH_PIN:-1}
for v in n_svc duration rounds clients lat_qps n_prog; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || fail "$v: expected a number >= 1, got '${!v}'"
done
require_root
require_cmd ip dnsperf dnsmasq dig nft taskset /usr/bin/time
require_bin skiff-agent

SKIFF=127.0.0.10
PEER=127.0.0.11
UP=127.0.0.2
M="$TMP/manifests"
ALOG="$TMP/agent.log"
TABLE="skiff-bdns-$RUN_ID"
mkdir -p "$M"
setup_ns dns
in_dns() { nsenter --net="/run/netns/$(ns dns)" "$@"; }

# ---- the names -----------------------------------------------------------------
awk -v n="$n_svc" -v M="$M/services.yaml" -v H="$TMP/hosts" -v Q="$TMP/cluster.q" 'BEGIN {
	for (i = 0; i < n; i++) {
		ip = sprintf("10.96.%d.%d", int(i / 250), i % 250 + 1)
		name = sprintf("s%d", i); ns = sprintf("ns%d", i % 50)
		printf "---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n", name, ns > M
		printf "spec: {clusterIP: %s, ports: [{name: http, port: 80}]}\n", ip > M
		printf "%s %s.%s.svc.cluster.local\n", ip, name, ns > H
		printf "%s.%s.svc.cluster.local A\n", name, ns > Q
	}
}'
shuf "$TMP/cluster.q" -o "$TMP/cluster.q"
echo "www.example.test A" >"$TMP/external.q"

# ---- the servers -----------------------------------------------------------------
# dnsmasq_bg ARGS...: a dnsmasq in the namespace; its PID in DM_PID.
dnsmasq_bg() {
	( exec nsenter --net="/run/netns/$(ns dns)" dnsmasq --no-daemon --no-resolv --no-hosts \
		--bind-interfaces "$@" ) >>"$TMP/dnsmasq.log" 2>&1 &
	DM_PID=$!
	defer "kill_tree $DM_PID"
}
dnsmasq_bg --listen-address=$UP --port=5300 --local-ttl=3600 --address=/example.test/192.0.2.7
dnsmasq_bg --listen-address=$PEER --port=53 --addn-hosts="$TMP/hosts" --local-ttl=5 \
	--cache-size=10000 --server=$UP#5300
PEER_PID=$DM_PID
t0=$(date +%s%N)
( exec nsenter --net="/run/netns/$(ns dns)" "$BIN/skiff-agent" --manifests "$M" \
	--proxy-mode nftables --nft-table "$TABLE" --node-name bench \
	--dns-listen $SKIFF:53 --dns-upstream $UP:5300 ) >"$ALOG" 2>&1 &
AGENT=$!
defer "in_dns nft delete table inet '$TABLE'"
defer "kill_tree $AGENT"
last="s$((n_svc - 1)).ns$(( (n_svc - 1) % 50 )).svc.cluster.local"
# answers SERVER NAME: NAME has an address there (dig +short prints its
# errors on stdout too: look for the address).
answers() {
	in_dns dig @"$1" +short +time=1 +tries=1 "$2" A | grep -qE '^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$'
}
wait_for 120 answers $SKIFF "$last" || fail "skiff never answered $last: $(tail -3 "$ALOG")"
ready_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait_for 30 answers $PEER "$last" || fail "dnsmasq never answered $last: $(tail -3 "$TMP/dnsmasq.log")"
wait_for 10 answers $SKIFF www.example.test || fail "skiff does not forward"
wait_for 10 answers $PEER www.example.test || fail "dnsmasq does not forward"

# BENCH_NOTRACK=1: no connection tracking for DNS on the namespace's
# loopback (a raw-priority notrack rule, for both servers alike): what the
# agent's nftables table and conntrack cost each side.
if [ "${BENCH_NOTRACK:-0}" = 1 ]; then
	in_dns nft -f - <<-EOF || fail "cannot add the notrack table"
	table inet bench-notrack {
		chain pre { type filter hook prerouting priority raw; udp dport 53 notrack; udp sport 53 notrack; }
		chain out { type filter hook output priority raw; udp dport 53 notrack; udp sport 53 notrack; }
	}
	EOF
fi

# ---- measurements ------------------------------------------------------------------
# The generator's CPUs and the servers' one (the last), or none.
ncpu=$(nproc)
GEN=()
layout="not pinned (BENCH_PIN=0 or one CPU)"
if [ "$pin" = 1 ] && [ "$ncpu" -ge 2 ]; then
	SERVER_CPU=$((ncpu - 1))
	GEN=(taskset -c "0-$((ncpu - 2))")
	layout="servers on CPU $SERVER_CPU, dnsperf on CPUs 0-$((ncpu - 2))"
	for p in $AGENT $PEER_PID; do
		for t in /proc/$p/task/*; do taskset -pc "$SERVER_CPU" "${t##*/}" >/dev/null; done
	done
	# (nsenter and dnsmasq exec in place: these are the servers themselves)
fi
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# perf SERVER PID FILE: "q/s lost cpu_us/q gen%" of one dnsperf run.
perf() {
	local c0 c1 out
	c0=$(cpu_ticks "$2")
	out=$(in_dns "${GEN[@]}" /usr/bin/time -f 'gen %e %U %S' dnsperf -s "$1" -d "$3" \
		-l "$duration" -c "$clients" -q 100 ${BENCH_DNSPERF_ARGS:-} 2>&1)
	c1=$(cpu_ticks "$2")
	awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" '/Queries lost:/ { lost = $3 }
		/Queries completed:/ { done = $3 } /Queries per second:/ { qps = $4 }
		$1 == "gen" { gen = ($3 + $4) / $2 * 100; gen_us = ($3 + $4) * 1e6 }
		END { if (qps == "" || !done) exit 1
		      printf "%.0f %s %.2f %.0f %.2f\n", qps, lost, t / hz * 1e6 / done, gen, gen_us / done }' <<<"$out"
}
# latency SERVER FILE: "p50 p99" in microseconds at lat_qps (dnsperf -v
# prints each answer's latency in seconds as its last field).
latency() {
	in_dns "${GEN[@]}" dnsperf -s "$1" -d "$2" -l 3 -c 1 -Q "$lat_qps" -v 2>/dev/null |
		awk '$1 == ">" { print $NF * 1e6 }' | percentiles 1
}
# percentiles DIV: "p50 p99" of the numbers on stdin, divided by DIV.
percentiles() {
	sort -n | awk -v d="$1" 'function at(p,  i) { i = int(NR * p); if (i < 1) i = 1; return v[i] / d }
		{ v[NR] = $1 } END { if (!NR) exit 1; printf "%.1f %.1f\n", at(0.5), at(0.99) }'
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# breakdown DATA SERVER QUERIES: from perf record -a -g -F 1999, the CPU
# per query of the server and of dnsperf, by what the stack was doing (the
# first of these found anywhere in the stack, in this order).
breakdown() {
	command perf script -i "$1" --comms "dnsperf,skiff-agent,dnsmasq" -F comm,ip,sym,dso 2>/dev/null |
	awk -v q="$3" -v srv="$2" '
	BEGIN { n = split("netfilter:^(nf_hook_slow|nft_do_chain|nf_conntrack_in|nf_nat_|ipv4_conntrack)" \
		";wakeup:^(try_to_wake_up|sock_def_readable|ep_poll_callback|__wake_up)" \
		";sched:^(__schedule|schedule|finish_task_switch)" \
		";poll:^(do_sys_poll|do_epoll_wait|ep_poll)" \
		";udp-to-socket:^(__udp_enqueue_schedule_skb|udp_queue_rcv|__udp4_lib_rcv|udp_rcv)" \
		";ip-rx:^(process_backlog|__netif_receive_skb|ip_rcv|ip_local_deliver|net_rx_action|loopback_xmit|__dev_queue_xmit)" \
		";ip-tx:^(ip_make_skb|ip_route_output|ip_output|ip_finish_output|udp_send_skb|ip_local_out)" \
		";recv:^(udp_recvmsg|__sys_recvfrom|___sys_recvmsg|do_recvmmsg)" \
		";send:^(udp_sendmsg|__sys_sendto|___sys_sendmsg|__sys_sendmmsg)", c, ";")
		for (i = 1; i <= n; i++) { split(c[i], kv, ":"); cat[i] = kv[1]; re[i] = kv[2] } }
	function done_sample(   i, j, k) {
		if (comm == "") return
		k = "kernel-other"
		if (!leafk) k = "user"
		else for (i = 1; i <= n && k == "kernel-other"; i++)
			for (j = 1; j <= depth; j++) if (st[j] ~ re[i]) { k = cat[i]; break }
		tot[comm]++; part[comm, k]++; comm = ""
	}
	NF == 0 { done_sample(); next }
	comm == "" { comm = $1; depth = 0; next }
	{ st[++depth] = $2; sub(/[+].*/, "", st[depth]); if (depth == 1) leafk = /kernel.kallsyms/ }
	END { done_sample()
		for (c2 in tot) {
			line = sprintf("%s (%s run): %.2f us/query:", c2, srv, tot[c2] / 1999 / q * 1e6)
			for (i = 0; i <= n + 1; i++) {
				k = i == 0 ? "user" : i == n + 1 ? "kernel-other" : cat[i]
				if (part[c2, k]) line = line sprintf(" %s %.2f", k, part[c2, k] / 1999 / q * 1e6)
			}
			print line
		} }'
}
if [ -n "${BENCH_PROFILE:-}" ]; then
	mkdir -p "$BENCH_PROFILE"
	for server in skiff dnsmasq; do
		addr=$SKIFF; [ "$server" = dnsmasq ] && addr=$PEER
		command perf record -q -a -g -F 1999 -o "$BENCH_PROFILE/$server.data" -- \
			nsenter --net="/run/netns/$(ns dns)" "${GEN[@]}" dnsperf -s "$addr" -d "$TMP/cluster.q" -l "$duration" -c "$clients" \
			-q 100 ${BENCH_DNSPERF_ARGS:-} >"$BENCH_PROFILE/$server.dnsperf" 2>&1 ||
			fail "perf record against $server failed"
		breakdown "$BENCH_PROFILE/$server.data" "$server" \
			"$(awk '/Queries completed:/ { print $3 }' "$BENCH_PROFILE/$server.dnsperf")"
	done
	exit 0
fi
echo "$n_svc Services; dnsperf $clients clients x 100 outstanding, ${duration} s, best of $rounds" \
	"(alternating); latency at $lat_qps q/s; one server thread each;" \
	"$layout of $ncpu; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-9s %10s %8s %9s %9s %5s %9s %9s %9s\n' server names q/s lost cpu_us/q q/s/core gen% \
	gen_us/q \
	"p50 us" "p99 us"
declare -A best blost bcpu bgen bgcpu
order=(skiff dnsmasq)
for set in cluster external; do
	for server in skiff dnsmasq; do
		best[$server-$set]=0 blost[$server-$set]=0 bcpu[$server-$set]=0 bgen[$server-$set]=0
		bgcpu[$server-$set]=0
	done
	for (( r = 0; r < rounds; r++ )); do
		for server in "${order[@]}"; do
			addr=$SKIFF pid=$AGENT
			[ "$server" = dnsmasq ] && addr=$PEER pid=$PEER_PID
			read -r qps lost cpu gen gcpu < <(perf "$addr" "$pid" "$TMP/$set.q") ||
				fail "dnsperf against $server failed"
			k=$server-$set
			[ "$qps" -gt "${best[$k]}" ] && best[$k]=$qps blost[$k]=$lost bgen[$k]=$gen
			# the cheapest run's cost per query
			awk -v a="$cpu" -v b="${bcpu[$k]}" 'BEGIN { exit !(b == 0 || a < b) }' && bcpu[$k]=$cpu
			awk -v a="$gcpu" -v b="${bgcpu[$k]}" 'BEGIN { exit !(b == 0 || a < b) }' && bgcpu[$k]=$gcpu
		done
		order=("${order[1]}" "${order[0]}")
	done
	for server in skiff dnsmasq; do
		addr=$SKIFF
		[ "$server" = dnsmasq ] && addr=$PEER
		read -r p50 p99 < <(latency "$addr" "$TMP/$set.q") || fail "latency run against $server failed"
		k=$server-$set
		printf '%-8s %-9s %10s %8s %9s %9s %5s %9s %9s %9s\n' "$server" "$set" "${best[$k]}" "${blost[$k]}" \
			"${bcpu[$k]}" "$(awk -v c="${bcpu[$k]}" 'BEGIN { printf "%.0f", c ? 1e6 / c : 0 }')" \
			"${bgen[$k]}" "${bgcpu[$k]}" "$p50" "$p99"
	done
done
for set in cluster external; do
	awk -v a="${best[skiff-$set]}" -v b="${best[dnsmasq-$set]}" -v ca="${bcpu[skiff-$set]}" \
		-v cb="${bcpu[dnsmasq-$set]}" -v s="$set" 'BEGIN {
		printf "skiff / dnsmasq, %s names: q/s %.2f (goal >= 2), per core (CPU per query) %.2f\n",
			s, b ? a / b : 0, ca ? cb / ca : 0 }'
done
# What the goal asks, from CPU per query (which the machine's load moves
# far less than q/s): dnsmasq answers at most 1e6 / cpu_us/q on its one
# CPU; twice that needs dnsperf (gen_us/q of its own CPU per query, most
# of it the kernel's path of the query, which no server can take off it)
# and skiff's server to have the CPUs printed.
awk -v g="${bgcpu[skiff-cluster]}" -v cd="${bcpu[dnsmasq-cluster]}" -v c="${bcpu[skiff-cluster]}" \
	-v n="$(( ${#GEN[@]} ? ncpu - 1 : ncpu ))" 'BEGIN { if (!g || !c || !cd) exit
	q = 2 * 1e6 / cd
	printf "2x dnsmasq on one CPU (cluster) is %.0f q/s: dnsperf at %.2f us/q needs %.2f CPUs for it" \
		" (it has %d here), the skiff server at %.2f us/q %.2f\n", q, g, q * g / 1e6, n, c, q * c / 1e6 }'
echo "RSS with the names loaded: skiff-agent $(( $(rss_kb $AGENT) / 1024 )) MiB (proxy and DNS;" \
	"first answer $ready_ms ms after start), dnsmasq $(( $(rss_kb "$PEER_PID") / 1024 )) MiB"
grep -m1 "cluster DNS: zone" "$ALOG" | sed 's/.*cluster DNS: /skiff zone build: /; s/ (answered.*//'

# ---- DNS programming latency ----------------------------------------------------------
samples=()
for (( i = 0; i < n_prog; i++ )); do
	name="prog$i"
	t0=$(date +%s%N)
	printf -- 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: bench}\nspec: {clusterIP: 10.97.0.%d}\n' \
		"$name" $((i + 1)) >"$M/.$name.tmp" && mv "$M/.$name.tmp" "$M/$name.yaml"
	until answers $SKIFF "$name.bench.svc.cluster.local"; do
		[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 10000 ] || fail "$name never answered"
	done
	samples+=($(( ($(date +%s%N) - t0) / 1000 )))
done
read -r p50 p99 < <(printf '%s\n' "${samples[@]}" | percentiles 1000)
echo "DNS programming latency from the folder (Service written -> name answers, $n_prog samples," \
	"includes the folder's 50 ms debounce and dig start-up):" \
	"p50 $p50 ms, p99 $p99 ms (goal p99 <= 20 ms)"
read -r p50 p99 < <(sed -n 's/.*cluster DNS: zone .* in \([0-9.]*\) ms (1 changed service;.*/\1/p' "$ALOG" |
	percentiles 1) || fail "no incremental zone update in the agent's log"
echo "  of which the zone update (agent log, per changed Service): p50 $p50 ms, p99 $p99 ms"
read -r p50 p99 < <(sed -n 's/.*sync: .* in \([0-9.]*\) ms (changed services).*/\1/p' "$ALOG" |
	percentiles 1) || fail "no proxy sync in the agent's log"
echo "  and the proxy's sync after it (nftables mode): p50 $p50 ms, p99 $p99 ms"
