#!/usr/bin/env bash
# list_compare.sh: GET /api/v1/pods of PODS stored pods (server-bench's
# ~2 KiB pods), through two or more builds of skiff-server side by side
# on one SQLite store: the pods are created once, then each build in turn
# serves the same data dir and is timed (server-bench --existing, LISTS
# lists per round, ROUNDS rounds, builds alternating so drift hits all).
# Also checks that every build answers with the same bytes (the list's
# items, resourceVersions included). Not run by make bench (an
# experiment, issue 9: control/api_list.c's scanner against jansson).
#
#   tests/bench/list_compare.sh LABEL=SKIFF-SERVER-BINARY...
#
# The jansson row of api_list.c's comment came from a build whose
# api_list_body_add always parses the value (api_obj_from_kv) and dumps
# it (json_dumps), i.e. with the add_fast call removed:
#   tests/bench/list_compare.sh scanner=build/bin/skiff-server jansson=/tmp/skiff-server
#
# Environment: PODS (default 10000), LISTS (5), ROUNDS (3).
# Plain HTTP on loopback in a network namespace of this script's own.
case "${1:-}" in
-h|--help|"") sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"
require_root
require_cmd ip curl
require_bin server-bench
env_number pods PODS 10000
env_number lists LISTS 5
env_number rounds ROUNDS 3
builds=("$@")
for b in "${builds[@]}"; do
	[ -x "${b#*=}" ] && [[ $b == *=* ]] || fail "not LABEL=EXECUTABLE: '$b'"
done
DRIVER="$TESTBIN/server-bench"
DATA=$TMP/data
PORT=8080
setup_ns b

# serve BINARY: that build on the shared data dir; sets PID.
serve() {
	bg_ns b PID "$1" --data-dir "$DATA" --secure-port 0 --insecure-port "$PORT" \
		--log-level warn >>"$TMP/server.log" 2>&1
	wait_for 30 in_ns b curl -sf "http://127.0.0.1:$PORT/readyz" ||
		fail "$1 did not start: $(tail -n 3 "$TMP/server.log")"
}
stop() { kill "$PID" && wait "$PID" 2>/dev/null; }

# bench LABEL ARGS...: one server-bench run without watchers.
bench() {
	local label=$1; shift
	in_ns b "$DRIVER" --url "http://127.0.0.1:$PORT" --label "$label" --pods "$pods" \
		--samples 1 --watchers 0 --server-pid "$PID" "$@" >>"$TMP/results" 2>"$TMP/driver.err" ||
		fail "server-bench ($label) failed: $(tail -n 5 "$TMP/driver.err")"
}

echo "$pods pods of ~2 KiB, $lists lists x $rounds rounds per build, SQLite, plain HTTP on loopback"
serve "${builds[0]#*=}"
bench create --lists 1
stop
: >"$TMP/results"
for (( r = 1; r <= rounds; r++ )); do
	for b in "${builds[@]}"; do
		serve "${b#*=}"
		bench "${b%%=*}" --existing --lists "$lists"
		[ "$r" -eq 1 ] && in_ns b curl -sf "http://127.0.0.1:$PORT/api/v1/pods" \
			>"$TMP/body.${b%%=*}"
		stop
	done
done

# list-all lines: "LABEL list-all n=.. p50_us=.. ... server_cpu_ms=.."
field() { awk -v l="$1" -v f="$2" '$1 == l && $2 == "list-all" {
	for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$TMP/results"; }
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
first=${builds[0]%%=*}
base=$(field "$first" p50_us | median)
echo
echo "| build | list p50 (median of rounds) | list max | server CPU per list | vs $first |"
echo "|---|---:|---:|---:|---:|"
for b in "${builds[@]}"; do
	l=${b%%=*}
	p50=$(field "$l" p50_us | median)
	max=$(field "$l" max_us | sort -g | tail -n 1)
	cpu=$(paste <(field "$l" server_cpu_ms) <(field "$l" n) | awk '{ print $1 / $2 }' | median)
	printf '| %s | %.1f ms | %.1f ms | %s ms | %.2f |\n' "$l" "$(awk -v u="$p50" 'BEGIN { print u / 1000 }')" \
		"$(awk -v u="$max" 'BEGIN { print u / 1000 }')" "$cpu" "$(awk -v a="$p50" -v b="$base" 'BEGIN { print a / b }')"
	cmp -s "$TMP/body.$first" "$TMP/body.$l" ||
		echo "  $l answers with other bytes than $first ($(wc -c <"$TMP/body.$l") vs $(wc -c <"$TMP/body.$first"))"
done
