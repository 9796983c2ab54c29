#!/usr/bin/env bash
# CNI benchmark (issue 2): skiff-cni side by side with Debian's reference
# plugins, measured in one run by build/tests/cni-bench.
#
# Everything happens inside namespaces this script creates: a "node"
# namespace that the plugins treat as the host (they run under
# `ip netns exec`), and pod namespaces. The real host's interfaces are never
# touched. Prints one table:
#   plugin | ADD p50 | ADD p99 | DEL p50 | DEL p99 | ADD+DEL p50 | 64xADD total
#          | distinct | ratio vs fastest reference (ADD+DEL p50)
# and the goal line (skiff-cni ADD+DEL p50 <= 0.20 x the fastest reference).
#
# Environment:
#   BENCH_ITERATIONS   sequential ADD/DEL pairs per plugin (default 200)
#   BENCH_CONCURRENCY  concurrent ADDs per plugin (default 64)
#   BENCH_WARMUP       untimed ADD/DEL pairs first (default 2)
#   BENCH_TIMEOUT      seconds before a hung plugin call is killed (default 60)
#   BENCH_PLUGINS      rows to run, any of: bridge ptp skiff skiff-host-local
#                      (default all; skiff rows are skipped when
#                      build/bin/skiff-cni is not built)
#   CNI_REF_DIR        the reference plugins (default /usr/lib/cni)
# Exit status: 0 unless a plugin call failed or concurrent ADDs handed out
# the same address twice (the goal line is informational).

. "$(dirname "$0")/../harness/lib.sh"

iterations=${BENCH_ITERATIONS:-200}
concurrency=${BENCH_CONCURRENCY:-64}
warmup=${BENCH_WARMUP:-2}
timeout=${BENCH_TIMEOUT:-60}
plugins=${BENCH_PLUGINS:-bridge ptp skiff skiff-host-local}
ref_dir=${CNI_REF_DIR:-/usr/lib/cni}
goal_ratio=0.20

for v in iterations concurrency warmup timeout; do
	[[ ${!v} =~ ^[0-9]+$ ]] || fail "BENCH_${v^^}: expected a number, got '${!v}'"
done
[ "$iterations" -gt 0 ] || fail "BENCH_ITERATIONS: must be at least 1"

require_root
require_cmd ip awk
require_bin cni-bench
for p in bridge ptp host-local; do
	[ -x "$ref_dir/$p" ] || skip "reference plugin $ref_dir/$p missing (containernetworking-plugins)"
done

# Pod namespaces: one per concurrent ADD, at least 4 for the sequential run.
n_pods=$(( concurrency > 4 ? concurrency : 4 ))
setup_ns node
netns_args=()
defer "for (( _pod = 0; _pod < $n_pods; _pod++ )); do ip netns del $(ns p)\$_pod; done"
for (( i = 0; i < n_pods; i++ )); do
	ip netns add "$(ns "p$i")" || fail "cannot create netns $(ns "p$i")"
	netns_args+=(--netns "/run/netns/$(ns "p$i")")
done

# plugin_conf TAG: the network config of row TAG, dataDir under $TMP.
# Each row has its own subnet and data dir, so no state is shared.
plugin_conf() {
	local tag=$1 type ipam subnet name
	case "$tag" in
	bridge)           type=bridge;    ipam=host-local; subnet=10.240.0.0/16 ;;
	ptp)              type=ptp;       ipam=host-local; subnet=10.241.0.0/16 ;;
	skiff)            type=skiff-cni; ipam=skiff-ipam; subnet=10.242.0.0/16 ;;
	skiff-host-local) type=skiff-cni; ipam=host-local; subnet=10.243.0.0/16 ;;
	esac
	name="bench-$RUN_ID-$tag"
	case "$type" in
	bridge) extra=$(printf '"bridge": "skb%s", "isGateway": true, "ipMasq": false,' "$RUN_ID") ;;
	ptp)    extra='"ipMasq": false,' ;;
	*)      extra='"mtu": 1500,' ;;
	esac
	cat <<-EOF
	{
	  "cniVersion": "1.0.0",
	  "name": "$name",
	  "type": "$type",
	  $extra
	  "ipam": {
	    "type": "$ipam",
	    "ranges": [[{ "subnet": "$subnet" }]],
	    "dataDir": "$TMP/data-$tag"
	  }
	}
	EOF
}

row_label() {
	case "$1" in
	bridge) echo "bridge+host-local" ;;
	ptp) echo "ptp+host-local" ;;
	skiff) echo "skiff-cni+skiff-ipam" ;;
	skiff-host-local) echo "skiff-cni+host-local" ;;
	esac
}

# kv KEY LINE: the value of KEY=... in a cni-bench output line.
kv() { local k=$1 w; for w in $2; do [ "${w%%=*}" = "$k" ] && { echo "${w#*=}"; return; }; done; echo ""; }
# ms MICROSECONDS: "12.34"
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

status=0
declare -A seq conc
configs=() ran=()
cni_path=$ref_dir
for tag in $plugins; do
	case "$tag" in
	bridge|ptp) ;;
	skiff|skiff-host-local)
		if [ ! -x "$BIN/skiff-cni" ]; then
			echo "note: $(row_label "$tag") skipped: $BIN/skiff-cni is not built"
			continue
		fi
		# Reference plugins first, so bridge, ptp and host-local are always
		# Debian's; skiff-cni and skiff-ipam come from the build.
		cni_path="$ref_dir:$BIN" ;;
	*) fail "BENCH_PLUGINS: unknown row '$tag' (bridge ptp skiff skiff-host-local)" ;;
	esac
	plugin_conf "$tag" >"$TMP/$tag.json" || exit 1
	mkdir -p "$TMP/data-$tag"
	configs+=(--config "$TMP/$tag.json")
done
[ ${#configs[@]} -gt 0 ] || skip "no plugin to measure (BENCH_PLUGINS='$plugins')"

# One run: the sequential pairs of all plugins interleaved, then each
# plugin's concurrent burst.
out=$(in_ns node "$TESTBIN/cni-bench" "${configs[@]}" --cni-path "$cni_path" \
	--iterations "$iterations" --warmup "$warmup" --concurrency "$concurrency" \
	--timeout "$timeout" --id-prefix "$RUN_ID" "${netns_args[@]}" 2>"$TMP/bench.err")
rc=$?
if [ $rc -ne 0 ]; then
	echo "error: cni-bench exited $rc:"
	tail -n 20 "$TMP/bench.err" | sed 's/^/  | /'
	status=1
fi
while read -r kind line; do
	tag=$(basename "$(kv config "$line")" .json)
	case "$kind" in
	seq) seq[$tag]=$line; ran+=("$tag") ;;
	conc) conc[$tag]=$line ;;
	esac
done <<<"$out"

# The fastest reference row by ADD+DEL median.
best=""
for tag in "${ran[@]}"; do
	case "$tag" in bridge|ptp) ;; *) continue ;; esac
	v=$(kv adddel_p50_us "${seq[$tag]}")
	[ "$(kv ok "${seq[$tag]}")" -gt 0 ] || continue
	if [ -z "$best" ] || [ "$v" -lt "$best" ]; then best=$v; best_tag=$tag; fi
done

echo "CNI ADD/DEL latency: $iterations sequential iterations (median, p99), $concurrency concurrent ADDs"
echo "times in ms; ratio = ADD+DEL p50 / fastest reference's${best:+ ($(row_label "$best_tag"))}"
fmt='%-22s | %8s | %8s | %8s | %8s | %11s | %13s | %8s | %5s\n'
# shellcheck disable=SC2059
printf "$fmt" plugin "ADD p50" "ADD p99" "DEL p50" "DEL p99" "ADD+DEL p50" \
	"${concurrency}xADD total" distinct ratio
for tag in "${ran[@]}"; do
	s=${seq[$tag]} c=${conc[$tag]}
	v=$(kv adddel_p50_us "$s")
	if [ -n "$best" ] && [ "$best" -gt 0 ]; then
		ratio=$(awk -v a="$v" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
	else
		ratio=-
	fi
	if [ -n "$c" ]; then
		total=$(ms "$(kv add_total_us "$c")")
		distinct="$(kv distinct "$c")/$(kv count "$c")"
	else
		total=- distinct=-
	fi
	# shellcheck disable=SC2059
	printf "$fmt" "$(row_label "$tag")" "$(ms "$(kv add_p50_us "$s")")" \
		"$(ms "$(kv add_p99_us "$s")")" "$(ms "$(kv del_p50_us "$s")")" \
		"$(ms "$(kv del_p99_us "$s")")" "$(ms "$v")" "$total" "$distinct" "$ratio"
	[ "$(kv failures "$s")" = 0 ] || echo "  $(row_label "$tag"): $(kv failures "$s") sequential calls failed"
done

for tag in skiff skiff-host-local; do
	[[ " ${ran[*]} " == *" $tag "* ]] || continue
	[ -n "$best" ] && [ "$best" -gt 0 ] || continue
	v=$(kv adddel_p50_us "${seq[$tag]}")
	verdict=$(awk -v a="$v" -v b="$best" -v g="$goal_ratio" \
		'BEGIN { r = a / b; printf "%.2f %s", r, (r <= g ? "PASS" : "MISS") }')
	echo "goal: $(row_label "$tag") ADD+DEL p50 / fastest reference = ${verdict% *} (<= $goal_ratio): ${verdict#* }"
done
exit $status
