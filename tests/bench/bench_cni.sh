#!/usr/bin/env bash
# CNI benchmark (issue 2): skiff-cni side by side with Debian's reference
# plugins, measured in one run by build/tests/cni-bench.
#
# Everything happens inside namespaces this script creates: a "node"
# namespace that the plugins treat as the host (they run under
# `ip netns exec`), and pod namespaces. The real host's interfaces are never
# touched. Prints the table of CNI plugins:
#   plugin | ADD p50 | ADD p99 | DEL p50 | DEL p99 | ADD+DEL p50 | 64xADD total
#          | distinct | ratio vs fastest reference (ADD+DEL p50)
# for bridge+host-local, ptp+host-local, skiff-cni+skiff-ipam and
# skiff-cni+host-local, the goal line (skiff-cni ADD+DEL p50 <= 0.20 x the
# fastest reference), and the same table for the IPAM plugins alone
# (host-local, skiff-ipam; ratio vs host-local).
#
# Environment:
#   BENCH_ITERATIONS   sequential ADD/DEL pairs per plugin (default 200)
#   BENCH_CONCURRENCY  concurrent ADDs per plugin (default 64)
#   BENCH_WARMUP       untimed ADD/DEL pairs first (default 2)
#   BENCH_TIMEOUT      seconds before a hung plugin call is killed (default 60)
#   BENCH_PLUGINS      rows to run, any of: bridge ptp skiff skiff-host-local
#                      ipam-host-local ipam-skiff (default all; a skiff row is
#                      skipped, with a note, when its binary is not built)
#   CNI_REF_DIR        the reference plugins (default /usr/lib/cni)
# Exit status: 0 unless a plugin call failed or concurrent ADDs handed out
# the same address twice (the goal line is informational).

case "${1:-}" in
-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/bench.sh"

env_number iterations BENCH_ITERATIONS 200
env_number concurrency BENCH_CONCURRENCY 64
env_number warmup BENCH_WARMUP 2
env_number timeout BENCH_TIMEOUT 60
plugins=${BENCH_PLUGINS:-bridge ptp skiff skiff-host-local ipam-host-local ipam-skiff}
ref_dir=${CNI_REF_DIR:-/usr/lib/cni}
goal_ratio=0.20

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

# Rows: tag, label, plugin type, ipam type, subnet. The ipam-* rows run
# an IPAM plugin alone (the runtime-facing "type" is the IPAM plugin, which
# reads the config's "ipam" object), as skiff-cni and the reference
# plugins call it.
rows_table='
bridge           bridge+host-local       bridge     host-local 10.240.0.0/16
ptp              ptp+host-local          ptp        host-local 10.241.0.0/16
skiff            skiff-cni+skiff-ipam    skiff-cni  skiff-ipam 10.242.0.0/16
skiff-host-local skiff-cni+host-local    skiff-cni  host-local 10.243.0.0/16
ipam-host-local  host-local-alone        host-local host-local 10.244.0.0/16
ipam-skiff       skiff-ipam-alone        skiff-ipam skiff-ipam 10.245.0.0/16
'
# row TAG FIELD: field 2..5 of row TAG; empty for an unknown tag.
row() { awk -v t="$1" -v f="$2" '$1 == t { print $f }' <<<"$rows_table"; }
row_label() { row "$1" 2; }

# plugin_conf TAG: the network config of row TAG, dataDir under $TMP.
# Each row has its own subnet and data dir, so no state is shared.
plugin_conf() {
	local tag=$1 type ipam extra
	type=$(row "$tag" 3) ipam=$(row "$tag" 4)
	case "$type" in
	bridge) extra=$(printf '"bridge": "skb%s", "isGateway": true, "ipMasq": false,' "$RUN_ID") ;;
	ptp)    extra='"ipMasq": false,' ;;
	skiff-cni) extra='"mtu": 1500,' ;;
	*)      extra= ;;
	esac
	cat <<-EOF
	{
	  "cniVersion": "1.0.0",
	  "name": "bench-$RUN_ID-$tag",
	  "type": "$type",
	  $extra
	  "ipam": {
	    "type": "$ipam",
	    "ranges": [[{ "subnet": "$(row "$tag" 5)" }]],
	    "dataDir": "$TMP/data-$tag"
	  }
	}
	EOF
}

# ms MICROSECONDS: "12.34"
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

status=0
declare -A seq conc
configs=() ran=()
cni_path=$ref_dir
for tag in $plugins; do
	[ -n "$(row "$tag" 2)" ] ||
		fail "BENCH_PLUGINS: unknown row '$tag' ($(awk 'NF { printf "%s ", $1 }' <<<"$rows_table"))"
	for p in $(row "$tag" 3) $(row "$tag" 4); do
		case "$p" in
		skiff-*)
			if [ ! -x "$BIN/$p" ]; then
				echo "note: $(row_label "$tag") skipped: $BIN/$p is not built"
				continue 2
			fi
			# Reference plugins first, so bridge, ptp and host-local
			# are always Debian's; skiff's come from the build.
			cni_path="$ref_dir:$BIN" ;;
		esac
	done
	plugin_conf "$tag" >"$TMP/$tag.json" || exit 1
	mkdir -p "$TMP/data-$tag"
	configs+=(--config "$TMP/$tag.json")
done
[ ${#configs[@]} -gt 0 ] || skip "no plugin to measure (BENCH_PLUGINS='$plugins')"

# One run: the sequential pairs of all plugins interleaved, then each
# plugin's concurrent burst. CNI_ARGS as containerd sends them.
out=$(in_ns node "$TESTBIN/cni-bench" "${configs[@]}" --cni-path "$cni_path" \
	--args "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=bench-$RUN_ID" \
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
has_run() { [[ " ${ran[*]} " == *" $1 "* ]]; }

# fastest TAG...: the tag with the lowest ADD+DEL median among those that
# ran with at least one good iteration; empty when none.
fastest() {
	local tag v best="" best_tag=""
	for tag in "$@"; do
		has_run "$tag" || continue
		[ "$(kv ok "${seq[$tag]}")" -gt 0 ] || continue
		v=$(kv adddel_p50_us "${seq[$tag]}")
		if [ -z "$best" ] || [ "$v" -lt "$best" ]; then best=$v best_tag=$tag; fi
	done
	echo "$best_tag"
}

# ratio TAG REF: TAG's ADD+DEL median over REF's, "-" when undefined.
ratio() {
	local a b
	[ -n "$2" ] || { echo -; return; }
	a=$(kv adddel_p50_us "${seq[$1]}") b=$(kv adddel_p50_us "${seq[$2]}")
	[ "$b" -gt 0 ] || { echo -; return; }
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
}

# table TITLE REF TAG...: one table of the rows that ran, ratios against REF.
table() {
	local title=$1 ref=$2 tag s c total distinct
	local fmt='%-22s | %8s | %8s | %8s | %8s | %11s | %13s | %8s | %5s\n'
	shift 2
	echo
	echo "$title: $iterations sequential iterations (median, p99), $concurrency concurrent ADDs"
	if [ -n "$ref" ]; then
		echo "times in ms; ratio = ADD+DEL p50 / that of $(row_label "$ref")"
	else
		echo "times in ms; no reference ran, no ratio"
	fi
	# shellcheck disable=SC2059
	printf "$fmt" plugin "ADD p50" "ADD p99" "DEL p50" "DEL p99" "ADD+DEL p50" \
		"${concurrency}xADD total" distinct ratio
	for tag in "$@"; do
		has_run "$tag" || continue
		s=${seq[$tag]} c=${conc[$tag]:-}
		if [ -n "$c" ]; then
			total=$(ms "$(kv add_total_us "$c")")
			distinct="$(kv distinct "$c")/$(kv count "$c")"
		else
			total=- distinct=-
		fi
		# shellcheck disable=SC2059
		printf "$fmt" "$(row_label "$tag")" "$(ms "$(kv add_p50_us "$s")")" \
			"$(ms "$(kv add_p99_us "$s")")" "$(ms "$(kv del_p50_us "$s")")" \
			"$(ms "$(kv del_p99_us "$s")")" "$(ms "$(kv adddel_p50_us "$s")")" \
			"$total" "$distinct" "$(ratio "$tag" "$ref")"
		[ "$(kv failures "$s")" = 0 ] ||
			echo "  $(row_label "$tag"): $(kv failures "$s") sequential calls failed"
		[ -z "$c" ] || [ "$(kv failures "$c")" = 0 ] ||
			echo "  $(row_label "$tag"): $(kv failures "$c") concurrent ADDs failed"
	done
}

ref=$(fastest bridge ptp)
if has_run bridge || has_run ptp || has_run skiff || has_run skiff-host-local; then
	table "CNI plugin ADD/DEL" "$ref" bridge ptp skiff skiff-host-local
	for tag in skiff skiff-host-local; do
		has_run "$tag" && [ -n "$ref" ] || continue
		r=$(ratio "$tag" "$ref")
		verdict=$(awk -v r="$r" -v g="$goal_ratio" 'BEGIN { print (r <= g ? "PASS" : "MISS") }')
		echo "goal: $(row_label "$tag") ADD+DEL p50 / fastest reference = $r (<= $goal_ratio): $verdict"
	done
fi
if has_run ipam-host-local || has_run ipam-skiff; then
	has_run ipam-host-local && ref=ipam-host-local || ref=
	table "IPAM alone ADD/DEL" "$ref" ipam-host-local ipam-skiff
fi
exit $status
