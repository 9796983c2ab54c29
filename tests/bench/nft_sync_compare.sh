#!/usr/bin/env bash
# nft_sync_compare.sh: skiff's nftables proxy mode (dataplane/nft_proxy.c,
# timed by nft-bench), one or more builds side by side: full sync, one
# service added, changed (its last endpoint replaced) and deleted, at
# each size (services x endpoints), medians of REPS, in ms (the batch
# built, sent and acked). Not run by make bench (an experiment, issue 4):
# it compares builds of nft-bench, e.g. one from an older commit.
#
#   tests/bench/nft_sync_compare.sh [LABEL=NFT-BENCH-BINARY]...
#
# Default: "now=build/tests/nft-bench". An older build:
#   git show REV:dataplane/nft_proxy.c >/tmp/old/dataplane/nft_proxy.c (and .h),
#   cc -std=gnu11 -D_GNU_SOURCE -O2 -I/tmp/old -I. -Ilib -Ibuild/gen -c \
#      /tmp/old/dataplane/nft_proxy.c -o /tmp/old/nft_proxy.o
#   cc -o /tmp/old/nft-bench build/obj/tests/bench/nft_bench.o /tmp/old/nft_proxy.o \
#      build/obj/dataplane/{proxy,model,manifest}.o build/libskiff.a \
#      -ljansson -lyaml -lnftnl -lmnl -lpthread
# Environment: SIZES (default "1000 10000"), ENDPOINTS (10), REPS (3).
# Every run gets a fresh network namespace of its own.
case "${1:-}" in
-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"
require_root
require_bin proxy-gen nft-bench

sizes=${SIZES:-1000 10000}
eps=${ENDPOINTS:-10}
reps=${REPS:-3}
[[ $eps =~ ^[0-9]+$ && $reps =~ ^[0-9]+$ && $reps -ge 1 ]] || fail "ENDPOINTS, REPS: numbers"
builds=("$@")
[ ${#builds[@]} -gt 0 ] || builds=("now=$TESTBIN/nft-bench")
GEN="$TESTBIN/proxy-gen"

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
kv() { local w; for w in $2; do [[ $w == "$1="* ]] && { echo "${w#*=}"; return; }; done; }

echo "| build | services x endpoints | full sync | 1 svc add | 1 svc change | 1 svc delete |"
echo "|---|---|---:|---:|---:|---:|"
for n in $sizes; do
	for bl in "${builds[@]}"; do
		label=${bl%%=*} bin=${bl#*=}
		[ -x "$bin" ] || fail "$bin: not an executable"
		m="$TMP/m-$n" st="$TMP/st-$n"
		rm -rf "$m" "$st"; mkdir -p "$st"
		"$GEN" manifests --services "$n" --endpoints "$eps" --out "$m" >/dev/null || fail "proxy-gen"
		args=()
		for (( k = 0; k < reps; k++ )); do
			"$GEN" manifests --services $(( n + reps )) --endpoints "$eps" --only $(( n + k )) \
				--out "$st" >/dev/null || fail "proxy-gen --only"
			args+=("$st/$(printf 'svc-%05u.json' $(( n + k )))")
		done
		mkdir -p "$st/chg"
		for (( k = 0; k < reps; k++ )); do
			"$GEN" manifests --services "$n" --endpoints "$eps" --only $(( 5 + k )) --change \
				--out "$st/chg" >/dev/null || fail "proxy-gen --change"
			args+=("$st/chg/$(printf 'svc-%05u.json' $(( 5 + k )))")
		done
		for (( k = 0; k < reps; k++ )); do
			args+=("rm:$(printf 'svc-%05u.json' $(( 20 + k )))")
		done
		setup_ns "cmp$n"
		out=$(ip netns exec "$(ns "cmp$n")" "$bin" --manifests "$m" --table "skiff-cmp-$RUN_ID" \
			--cluster-cidr 10.128.0.0/9 --timeout-ms 30000 "${args[@]}" 2>&1) ||
			fail "$label, $n services: $(echo "$out" | tail -2)"
		ip netns del "$(ns "cmp$n")"
		full=$(kv apply_ms "$(echo "$out" | grep '^full ')")
		mapfile -t steps < <(echo "$out" | grep '^step ')
		add=() chg=() del=()
		for (( k = 0; k < reps; k++ )); do
			add+=("$(kv apply_ms "${steps[k]}")")
			chg+=("$(kv apply_ms "${steps[reps + k]}")")
			del+=("$(kv apply_ms "${steps[2 * reps + k]}")")
		done
		printf '| %s | %s x %s | %.1f | %s | %s | %s |\n' "$label" "$n" "$eps" "$full" \
			"$(median "${add[@]}")" "$(median "${chg[@]}")" "$(median "${del[@]}")"
	done
done
