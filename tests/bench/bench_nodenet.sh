#!/usr/bin/env bash
# Node networking benchmark (issue 4): pod to pod across two simulated
# nodes, in skiff's native-routing and VXLAN modes, against a plain veth
# between two namespaces (no skiff) and the same nodes routed by hand.
#
# Topology (as tests/dataplane/test_nodenet.sh): nodes n1 and n2 are
# namespaces on a LAN namespace's bridge (192.168.77.0/24); each node has a
# pod wired by build/bin/skiff-cni (pod CIDRs 10.244.<i>.0/24, MTU
# BENCH_MTU); skiff-agent --once programs each node for the mode measured
# from the two Node manifests (its service proxy in nftables mode, with an
# empty table of the bench's own), and --once --destroy-on-exit clears it
# before the next. The baseline is two more
# namespaces joined by one veth pair (same MTU). Only namespaces this
# script creates carry traffic.
#
# Per path, from pod 1 to pod 2, best of BENCH_ROUNDS interleaved rounds:
#   Gbit/s      iperf3 TCP, one stream, BENCH_DURATION seconds (received)
#   conn/s      short connections (connect, request, reply, close) with
#               BENCH_WORKERS clients (build/tests/conn-bench rate)
#   req p50/p99 kept-alive request round trip on one connection, in us
#               (conn-bench latency)
#   ratio       Gbit/s and conn/s of the path / those of the nodes routed
#               by hand: the same pod -> node -> bridge -> node -> pod path
#               without skiff ("hand"; "-" when it is not measured). The
#               single veth pair is shown as the floor, not divided by.
#
# Environment:
#   BENCH_DURATION  seconds per measurement (default 5)
#   BENCH_ROUNDS    rounds (default 2)
#   BENCH_WORKERS   concurrent short-connection clients (default 4)
#   BENCH_MTU       pod and baseline veth MTU (default 1400: VXLAN fits in 1500)
#   BENCH_PATHS     paths measured (default "veth hand native vxlan")
# Reproduce: make bench B=nodenet   (or: bash tests/bench/bench_nodenet.sh)
# Exit status: 0 unless a measurement failed; 4 when skipped.

case "${1:-}" in
-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/bench.sh"

duration=${BENCH_DURATION:-5}
rounds=${BENCH_ROUNDS:-2}
workers=${BENCH_WORKERS:-4}
mtu=${BENCH_MTU:-1400}
read -r -a paths <<<"${BENCH_PATHS:-veth hand native vxlan}"
[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 1 ] && [ "$duration" -le 600 ] ||
	fail "BENCH_DURATION: expected whole seconds from 1 to 600, got '$duration'"
[[ $rounds =~ ^[0-9]+$ ]] && [ "$rounds" -ge 1 ] || fail "BENCH_ROUNDS: expected a number >= 1, got '$rounds'"
[[ $workers =~ ^[0-9]+$ ]] && [ "$workers" -ge 1 ] || fail "BENCH_WORKERS: expected a number >= 1, got '$workers'"
[[ $mtu =~ ^[0-9]+$ ]] && [ "$mtu" -ge 1280 ] && [ "$mtu" -le 9000 ] ||
	fail "BENCH_MTU: expected 1280 to 9000, got '$mtu'"
[ ${#paths[@]} -gt 0 ] || fail "BENCH_PATHS: empty"
for p in "${paths[@]}"; do
	case $p in veth|hand|native|vxlan) ;; *) fail "BENCH_PATHS: expected veth, hand, native or vxlan, got '$p'" ;; esac
done

require_root
require_cmd ip jq iperf3 awk
require_bin skiff-cni skiff-ipam skiff-agent conn-bench
guard_ranges 192.168.77.0/24 10.244.0.0/16 10.99.0.0/24

AGENT="$BIN/skiff-agent"
CB="$TESTBIN/conn-bench"
status=0

# ---- topology --------------------------------------------------------------

setup_ns lan n1 n2 p1 p2 b1 b2
ip -n "$(ns lan)" link add br0 type bridge
ip -n "$(ns lan)" link set br0 up
for i in 1 2; do
	ip -n "$(ns lan)" link add "l-n$i" type veth peer name eth0 netns "$(ns "n$i")"
	ip -n "$(ns lan)" link set "l-n$i" master br0 up
	ip -n "$(ns "n$i")" addr add "192.168.77.$i/24" dev eth0
	ip -n "$(ns "n$i")" link set eth0 up
done
for i in 1 2; do
	jq -n --arg n "bench-nodenet-$RUN_ID" --arg d "$TMP/ipam-$i" --arg s4 "10.244.$i.0/24" --argjson mtu "$mtu" \
		'{cniVersion: "1.0.0", name: $n, type: "skiff-cni", mtu: $mtu,
		  ipam: {type: "skiff-ipam", dataDir: $d, ranges: [[{subnet: $s4}]]}}' >"$TMP/cni-$i.json"
	in_ns "n$i" env CNI_COMMAND=ADD CNI_CONTAINERID="$RUN_ID-p$i" CNI_NETNS="/var/run/netns/$(ns "p$i")" \
		CNI_IFNAME=eth0 CNI_PATH="$BIN" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p$i" \
		"$BIN/skiff-cni" <"$TMP/cni-$i.json" >"$TMP/pod-$i.json" || fail "skiff-cni ADD p$i: $(cat "$TMP/pod-$i.json")"
done
POD2=$(jq -r '.ips[0].address' "$TMP/pod-2.json" | cut -d/ -f1)
[ -n "$POD2" ] && [ "$POD2" != null ] || fail "skiff-cni gave pod 2 no address: $(cat "$TMP/pod-2.json")"

# The baseline: b1 -- veth -- b2, no skiff.
ip -n "$(ns b1)" link add eth0 mtu "$mtu" type veth peer name eth0 netns "$(ns b2)" mtu "$mtu"
ip -n "$(ns b1)" addr add 10.99.0.1/24 dev eth0
ip -n "$(ns b2)" addr add 10.99.0.2/24 dev eth0
ip -n "$(ns b1)" link set eth0 up
ip -n "$(ns b2)" link set eth0 up

# listening NS PORT: whether a TCP socket listens on PORT in namespace NS.
listening() { in_ns "$1" ss -Hltn "sport = :$2" | grep -q .; }
for s in p2 b2; do
	bg_ns "$s" _pid "$CB" serve --port 8080 --threads 1 2>/dev/null
	bg_ns "$s" _pid iperf3 -s -p 5201 >/dev/null 2>&1
done
# The first path is measured at once: its servers must be up (on a busy
# machine iperf3 -s takes a moment).
for s in p2 b2; do
	wait_for 10 listening "$s" 5201 && wait_for 10 listening "$s" 8080 ||
		fail "servers in $(ns "$s") did not start listening"
done

# ---- node programming ---------------------------------------------------------

# The Node objects both agents read: pod CIDR 10.244.<i>.0/24, InternalIP
# on the LAN.
mkdir -p "$TMP/nodes"
for i in 1 2; do
	{ printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node%s}\nspec: {podCIDRs: [10.244.%s.0/24]}\n' "$i" "$i"
	  printf 'status: {addresses: [{type: InternalIP, address: 192.168.77.%s}]}\n' "$i"; } >"$TMP/nodes/node-$i.yaml"
done
agent() { # NODE ARGS...: skiff-agent --once in node NODE
	local i=$1; shift
	in_ns "n$i" "$AGENT" --manifests "$TMP/nodes" --node-name "node$i" --node-ip "192.168.77.$i" \
		--nat-table "skiff-nat-$RUN_ID" --vxlan-name "skv$RUN_ID" --proxy-mode nftables \
		--nft-table "skiff-proxy-$RUN_ID" --bpffs "/sys/fs/bpf/skiff-bench-nodenet-$RUN_ID" \
		--once "$@" >>"$TMP/agent-$i.log" 2>&1
}
# program PATH: sets the nodes up for PATH (hand, native, vxlan; none clears).
program() {
	local i o
	for i in 1 2; do
		o=$(( 3 - i ))
		ip -n "$(ns "n$i")" route del "10.244.$o.0/24" proto static 2>/dev/null
		# native mode removes a vxlan device of an earlier run too
		agent "$i" --node-routing native --destroy-on-exit || return 1
		case $1 in
		hand) ip -n "$(ns "n$i")" route add "10.244.$o.0/24" via "192.168.77.$o" proto static || return 1 ;;
		native|vxlan)
			agent "$i" --node-routing "$1" --pod-cidr "10.244.$i.0/24" \
				--cluster-cidr 10.244.0.0/16 || return 1 ;;
		esac
	done
}
defer "program none"

# ---- measurements ----------------------------------------------------------------

declare -A gbps rate lat50 lat99
# measure PATH CLIENT-NS SERVER-ADDR: one round; keeps the best numbers.
measure() {
	local p=$1 c=$2 a=$3 out v
	out=$(in_ns "$c" iperf3 -c "$a" -p 5201 -t "$duration" -J 2>&1)
	v=$(echo "$out" | jq -r '.end.sum_received.bits_per_second // empty' 2>/dev/null)
	if [ -z "$v" ]; then
		err "$p: iperf3: $(echo "$out" | jq -r '.error // empty' 2>/dev/null || echo "$out" | tail -1)"
	else
		v=$(awk -v b="$v" 'BEGIN { printf "%.2f", b / 1e9 }')
		awk -v a="$v" -v b="${gbps[$p]:-0}" 'BEGIN { exit !(a > b) }' && gbps[$p]=$v
	fi
	out=$(in_ns "$c" "$CB" rate --duration "$duration" --workers "$workers" "$a:8080" 2>&1 | tail -1)
	v=$(kv per_sec "$out")
	if [ -z "$v" ] || [ "$(kv conns "$out")" = 0 ]; then
		err "$p: rate: $out"
	else
		awk -v a="$v" -v b="${rate[$p]:-0}" 'BEGIN { exit !(a > b) }' && rate[$p]=$v
	fi
	out=$(in_ns "$c" "$CB" latency --duration "$duration" "$a:8080" 2>&1 | tail -1)
	v=$(kv p50_us "$out")
	if [ -z "$v" ]; then
		err "$p: latency: $out"
	elif [ -z "${lat50[$p]:-}" ] || [ "$v" -lt "${lat50[$p]}" ]; then
		lat50[$p]=$v; lat99[$p]=$(kv p99_us "$out")
	fi
}
# reachable CLIENT-NS ADDR: a short connection gets its reply.
reachable() { in_ns "$1" "$CB" rate --duration 0.05 --workers 1 --timeout-ms 500 "$2:8080" | grep -qv 'conns=0 '; }

# routed PATH: node 1's route to pod 2 is the one PATH sets up.
routed() {
	local r
	r=$(ip -n "$(ns n1)" route show 10.244.2.0/24)
	case $1 in
	hand) [[ $r == *"via 192.168.77.2 dev eth0 proto static"* ]] ;;
	native) [[ $r == *"via 192.168.77.2 dev eth0 proto 92"* ]] ;;
	vxlan) [[ $r == *"dev skv$RUN_ID proto 92"* ]] ;;
	esac || { echo "node 1's route to pod 2 for $1: '$r'"; return 1; }
}

declare -A skipped
for (( round = 1; round <= rounds; round++ )); do
	for p in "${paths[@]}"; do
		[ -n "${skipped[$p]:-}" ] && continue
		if [ "$p" = veth ]; then
			wait_for 10 reachable b1 10.99.0.2 || { err "veth: b2 does not answer"; skipped[$p]=1; continue; }
			measure veth b1 10.99.0.2
			continue
		fi
		if ! program "$p"; then
			err "$p: cannot program the nodes: $(tail -2 "$TMP/agent-1.log")"; skipped[$p]=1; continue
		fi
		routed "$p" || { err "$p: not set up as asked"; skipped[$p]=1; continue; }
		wait_for 10 reachable p1 "$POD2" || { err "$p: pod 2 does not answer pod 1"; skipped[$p]=1; continue; }
		measure "$p" p1 "$POD2"
	done
done
program none

# ---- table --------------------------------------------------------------------------

declare -A label=([veth]="veth pair, two namespaces (no skiff)" [hand]="nodes, pod routes by hand (no skiff)"
	[native]="skiff native routing" [vxlan]="skiff VXLAN")
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
fmt='| %-38s | %7s | %7s | %8s | %7s | %8s | %8s |\n'
echo
echo "pod 1 -> pod 2 across nodes, MTU $mtu; iperf3: 1 TCP stream x ${duration}s; short connections:"
echo "$workers clients x ${duration}s; kept-alive: 1 connection x ${duration}s; best of $rounds rounds;"
echo "ratio: of the nodes routed by hand, the same path without skiff (Gbit/s, conn/s)"
# shellcheck disable=SC2059
printf "$fmt" path "Gbit/s" ratio "conn/s" ratio "req p50" "req p99"
# shellcheck disable=SC2059
printf "$fmt" -------------------------------------- ------- ------- -------- ------- -------- --------
for p in "${paths[@]}"; do
	# shellcheck disable=SC2059
	printf "$fmt" "${label[$p]}" "${gbps[$p]:--}" "$(ratio "${gbps[$p]:-}" "${gbps[hand]:-}")" \
		"${rate[$p]:--}" "$(ratio "${rate[$p]:-}" "${rate[hand]:-}")" "${lat50[$p]:--}" "${lat99[$p]:--}"
done
echo "(req p50/p99 in us; pods are wired by skiff-cni, nodes joined by a bridge namespace)"
exit $status
