#!/usr/bin/env bash
# Network programming latency of skiff-agent fed by the API server (issue
# 12), as SIG Scalability's SLI defines it: an EndpointSlice written
# through the API -> the change is in the BPF map the datapath reads.
#
# Per size: a skiff-server (SQLite, plain HTTP on the node namespace's
# loopback) loaded through its API with N Services and one EndpointSlice
# each (BENCH_ENDPOINTS endpoints; written with one curl over one kept-alive
# connection), then skiff-agent --server in BPF mode in that namespace. Each
# of BENCH_CHANGES changes replaces the last endpoint of a random service's
# slice with a merge patch sent by curl; map-watch starts the clock just
# before it starts curl and stops it when the frontend's entry in the
# pinned lb_frontends map has a new generation. p50/p99 of those. The
# "write alone" column is curl's own time (time_total) for a change the
# model does not hold (an annotation) on the same slice: the server's
# share of the number (the agent may program the map before curl has its
# answer). The
# server's data is on tmpfs (BENCH_DATA, default /dev/shm): with SQLite's
# fsync on this VM's disk a write takes ~20-30 ms, which would be the
# disk's number, and loading 10,000 Services would take minutes.
#
# Environment:
#   BENCH_SIZES      service counts (default "1000 10000")
#   BENCH_ENDPOINTS  endpoints per service (default 10)
#   BENCH_CHANGES    timed changes per size (default 100)
#   BENCH_DATA       folder for the server's data (default /dev/shm)
#   BENCH_GAP_MS     pause after each change (default 0: back to back; the
#                    BPF mode's socket-ending pass after a removed backend
#                    runs on the agent's loop and delays the next change)
# Reproduce: bash tests/bench/bench_agent_api.sh
# Exit status: 0 unless a measured step failed.

case "${1:-}" in
-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/agent.sh"

sizes=${BENCH_SIZES:-1000 10000}
env_number n_eps BENCH_ENDPOINTS 10
env_number changes BENCH_CHANGES 100
env_number gap_ms BENCH_GAP_MS 0
for v in $sizes; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] && [ "$v" -le 60000 ] ||
		fail "BENCH_SIZES: expected numbers from 1 to 60000, got '$v'"
done
[ "$n_eps" -ge 1 ] && [ "$n_eps" -le 200 ] || fail "BENCH_ENDPOINTS: expected 1 to 200"
[ "$changes" -ge 1 ] || fail "BENCH_CHANGES: at least 1"
DATA_ROOT=$(mktemp -d "${BENCH_DATA:-/dev/shm}/skiff-bench-api-XXXXXX") || fail "BENCH_DATA: cannot make a folder"
defer "rm -rf '$DATA_ROOT'"

require_root
require_cmd curl awk nsenter
require_bin skiff-agent skiff-server map-watch
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || skip "cannot mount bpffs"
guard_ranges 10.96.0.0/16
setup_ns node
agent_cgroup skiff-bench-api
WATCH="$TESTBIN/map-watch"
status=0
err() { echo "error: $*"; status=1; }

# svc_ip I: ClusterIP of service I; ep_ip I J: endpoint J of service I
# (10.128.0.0/9, nothing listens: only the maps are read).
svc_ip() { echo "10.96.$(( (1 + $1) / 256 )).$(( (1 + $1) % 256 ))"; }
ep_ip() { local a=$(( $1 * n_eps + $2 + 1 )); echo "10.$(( 128 + a / 65536 )).$(( a / 256 % 256 )).$(( a % 256 ))"; }
# endpoints I LAST: the JSON endpoints of service I's slice, the last one LAST.
endpoints() {
	local i=$1 j out=""
	for (( j = 0; j < n_eps - 1; j++ )); do out+="{\"addresses\":[\"$(ep_ip "$i" "$j")\"]},"; done
	echo "[$out{\"addresses\":[\"$2\"]}]"
}
# load N: curl config creating N Services and their slices, one connection.
load_config() {
	local n=$1 i
	for (( i = 0; i < n; i++ )); do
		printf 'url = "%s/api/v1/namespaces/default/services"\n' "$API"
		printf 'data = "{\\"apiVersion\\":\\"v1\\",\\"kind\\":\\"Service\\",\\"metadata\\":{\\"name\\":\\"s%d\\",\\"namespace\\":\\"default\\"},\\"spec\\":{\\"clusterIP\\":\\"%s\\",\\"ports\\":[{\\"name\\":\\"http\\",\\"port\\":80,\\"targetPort\\":8080}]}}"\n' \
			"$i" "$(svc_ip "$i")"
		printf 'header = "Content-Type: application/json"\noutput = /dev/null\nnext\n'
		printf 'url = "%s/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"\n' "$API"
		printf 'data = "%s"\n' "$(printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"s%d-1","namespace":"default","labels":{"kubernetes.io/service-name":"s%d"}},"addressType":"IPv4","ports":[{"name":"http","port":8080}],"endpoints":%s}' \
			"$i" "$i" "$(endpoints "$i" "$(ep_ip "$i" $(( n_eps - 1 )))")" | sed 's/"/\\"/g')"
		printf 'header = "Content-Type: application/json"\noutput = /dev/null\nnext\n'
	done
}
# patch_cmd I BODY: PATCH, curl's command line for a merge patch of service
# I's slice.
patch_cmd() {
	PATCH=(curl -sf -o /dev/null -X PATCH -H "Content-Type: application/merge-patch+json"
		--data-binary "$2" "$API/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/s$1-1")
}
# pct P [SCALE]: the P-th percentile of stdin's numbers times SCALE
# (default 0.001: us -> ms).
pct() { sort -g | awk -v p="$1" -v k="${2:-0.001}" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.1f", v[i] * k }'; }

echo "network programming latency (API write -> BPF map), $changes changes per size, ${gap_ms} ms apart"
printf '%-9s %-10s %-9s %-9s %-9s %-16s\n' services endpoints load_s p50_ms p99_ms write_alone_p50
for n in $sizes; do
	DATA="$DATA_ROOT/data-$n" SLOG="$TMP/server-$n.log" ALOG="$TMP/agent-$n.log"
	BPFFS="/sys/fs/bpf/skiff-bench-api-$RUN_ID-$n"
	agent_server_start "$DATA" "$SLOG" plain --service-cluster-ip-range 10.96.0.0/16 \
		--cluster-dns 10.96.255.253 # .10 is one of the services here
	API="http://127.0.0.1:$PORT"
	t0=$EPOCHREALTIME
	load_config "$n" | sed '$d' >"$TMP/load-$n.cfg" # no "next" after the last
	in_node curl -sf -K "$TMP/load-$n.cfg" || { err "loading $n services failed"; continue; }
	load_s=$(awk -v s="$t0" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }')
	defer "rm -rf '$BPFFS'"
	defer "[ -d '$BPFFS' ] && '$TESTBIN/lb-tool' --bpffs '$BPFFS' --cgroup '$CG' destroy"
	( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" --server "$API" \
		--bpffs "$BPFFS" --cgroup "$CG" --node-name node1 --nft-table "skiff-b-$RUN_ID" \
		--log-level info ) >>"$ALOG" 2>&1 &
	agent=$!
	defer "kill $agent"
	wait_for 300 grep -q "initial sync:" "$ALOG" ||
		{ err "agent never synced $n services: $(tail -3 "$ALOG")"; continue; }
	: >"$TMP/lat-$n" ; : >"$TMP/write-$n"
	for (( c = 0; c < changes; c++ )); do
		i=$(( (RANDOM * 32768 + RANDOM) % n ))
		body="{\"endpoints\":$(endpoints "$i" "10.127.$(( c / 256 )).$(( c % 256 + 1 ))")}"
		patch_cmd "$i" "$body"
		out=$(in_node "$WATCH" --map "$BPFFS/lb_frontends" --frontend "$(svc_ip "$i"):80" \
			--timeout-ms 5000 --run "${PATCH[@]}") || { err "change $c of s$i not seen"; continue; }
		echo "${out#change us=}" | awk '{ print $1 }' >>"$TMP/lat-$n"
		patch_cmd "$i" "{\"metadata\":{\"annotations\":{\"bench\":\"$c\"}}}"
		in_node "${PATCH[@]}" -w '%{time_total}\n' >>"$TMP/write-$n" || err "annotation write"
		[ "$gap_ms" -eq 0 ] || sleep "$(awk -v g="$gap_ms" 'BEGIN { print g / 1000 }')"
	done
	printf '%-9s %-10s %-9s %-9s %-9s %-16s\n' "$n" "$n_eps" "$load_s" "$(pct 50 <"$TMP/lat-$n")" \
		"$(pct 99 <"$TMP/lat-$n")" "$(pct 50 1000 <"$TMP/write-$n")"
	kill "$agent"; wait "$agent" 2>/dev/null
	kill_tree "$SERVER_PID"
done
echo "goal (issue 12): p99 <= 20 ms end to end; anchors: kube-proxy minSyncPeriod 1 s, kind 5 s"
exit $status
