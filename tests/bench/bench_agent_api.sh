#!/usr/bin/env bash
# Network programming latency of skiff-agent fed by the API server (issue
# 12), as SIG Scalability's SLI defines it: an EndpointSlice written
# through the API -> the change is in the load-balancing mechanism: the BPF
# map the datapath reads (--proxy-mode bpf), or the nftables map element
# (--proxy-mode nftables), one row per mode; and DNS programming latency
# (row dns): a Service created through the API -> the agent's cluster DNS
# (--dns-listen on the namespace's loopback, nftables mode) answers its
# name, asked every 250 us; timed once the agent's zone is built (the
# first full zone at 10,000 Services takes 100-200 ms after the proxy's
# initial sync, and a change timed meanwhile measured that).
#
# Per size: a skiff-server (SQLite, plain HTTP on the node namespace's
# loopback) loaded through its API with N Services and one EndpointSlice
# each (BENCH_ENDPOINTS endpoints; written with one curl over one kept-alive
# connection), then, per mode, skiff-agent --server in that namespace. Each
# of BENCH_CHANGES changes replaces the last endpoint of a random service's
# slice with a merge patch, all of them sent by one map-watch --server over
# one kept-alive connection (no process starts inside the timed window: a
# curl started per change cost 30 ms of its own at load 25). The clock
# starts as the request is handed to the client and stops when the change
# is in: BPF, the frontend's entry in the pinned lb_frontends map has a new
# generation; nftables, nf_tables commits an element carrying the new
# endpoint's address (an endpoints-<g> map). p50/p99 of those. The
# "write" columns are the time until the server's answer to the same
# request: the server's share of the number (the agent may program the
# map before the answer is in), and "after_write" the time from the
# server's answer until the change was in (0 when it was in before the
# answer): what the agent adds to what the server took. The
# server's data is on tmpfs (BENCH_DATA, default /dev/shm): with SQLite's
# fsync on this VM's disk a write takes ~20-30 ms, which would be the
# disk's number, and loading 10,000 Services would take minutes.
#
# Memory (issue 15: at most 32 MiB at 10,000 Services): each bpf/nftables
# agent's VmRSS once its initial sync is in ("sync") and after the timed
# changes ("end"), VmHWM (the peak) then, and RssAnon after the sync
# ("anon": without the libraries' pages, of which OpenSSL's initialisation
# by curl_global_init touches ~2 MiB); beside it, per size and mode,
# skiff-agent --manifests on the same objects (the server's lists written
# to a folder as one ServiceList and one EndpointSliceList), read once its
# initial sync is in: the standalone mode's figure for the same data.
#
# Environment:
#   BENCH_SIZES      service counts (default "1000 10000")
#   BENCH_ENDPOINTS  endpoints per service (default 10)
#   BENCH_CHANGES    timed changes per size and mode (default 100)
#   BENCH_MODES      rows (default "bpf nftables dns")
#   BENCH_DATA       folder for the server's data (default /dev/shm)
#   BENCH_LOGS       a folder to keep the server's and agents' logs and
#                    map-watch's lines in (default: none, they go with the run)
#   BENCH_LOG_LEVEL  the agents' --log-level (default info)
#   BENCH_TLS        1: the agents reach the server over HTTPS with its
#                    kubeconfig (--kubeconfig), as on a node; the loading
#                    and the changes still go to a plain HTTP port
#                    (default 0: --server on the plain port)
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
env_number tls BENCH_TLS 0
modes=${BENCH_MODES:-bpf nftables dns}
for v in $modes; do
	[ "$v" = bpf ] || [ "$v" = nftables ] || [ "$v" = dns ] ||
		fail "BENCH_MODES: expected some of bpf, nftables and dns, got '$v'"
done
for v in $sizes; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] && [ "$v" -le 60000 ] ||
		fail "BENCH_SIZES: expected numbers from 1 to 60000, got '$v'"
	# (60,000 ClusterIPs from 10.96.0.2 stay below 10.96.234.100 and the
	# dns rows' Services, allocated by the server, find room above)
done
[ "$n_eps" -ge 1 ] && [ "$n_eps" -le 200 ] || fail "BENCH_ENDPOINTS: expected 1 to 200"
[ "$changes" -ge 1 ] && [ "$changes" -le 32000 ] || fail "BENCH_CHANGES: expected 1 to 32000"
DATA_ROOT=$(mktemp -d "${BENCH_DATA:-/dev/shm}/skiff-bench-api-XXXXXX") || fail "BENCH_DATA: cannot make a folder"
defer "rm -rf '$DATA_ROOT'"

require_root
require_cmd curl awk nsenter jq
require_bin skiff-agent skiff-server map-watch
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || skip "cannot mount bpffs"
guard_ranges 10.96.0.0/16
setup_ns node
agent_cgroup skiff-bench-api
WATCH="$TESTBIN/map-watch"
status=0
err() { echo "error: $*"; status=1; }

# svc_ip I: ClusterIP of service I, from 10.96.0.2 (.1 is the kubernetes
# Service's: s0 was refused, and its slice's changes timed out); ep_ip I J:
# endpoint J of service I (10.128.0.0/9, nothing listens: only the maps are
# read).
svc_ip() { echo "10.96.$(( (2 + $1) / 256 )).$(( (2 + $1) % 256 ))"; }
ep_ip() { local a=$(( $1 * n_eps + $2 + 1 )); echo "10.$(( 128 + a / 65536 )).$(( a / 256 % 256 )).$(( a % 256 ))"; }
# endpoints I LAST: the JSON endpoints of service I's slice, the last one LAST.
endpoints() {
	local i=$1 j out=""
	for (( j = 0; j < n_eps - 1; j++ )); do out+="{\"addresses\":[\"$(ep_ip "$i" "$j")\"]},"; done
	echo "[$out{\"addresses\":[\"$2\"]}]"
}
# load N: curl config creating N Services and their slices, one connection
# (one awk program: a subshell per endpoint took minutes on a busy machine).
load_config() {
	awk -v n="$1" -v k="$n_eps" -v api="$API" 'BEGIN {
		q = "\\\""
		for (i = 0; i < n; i++) {
			printf "url = \"%s/api/v1/namespaces/default/services\"\n", api
			printf "data = \"{%sapiVersion%s:%sv1%s,%skind%s:%sService%s,%smetadata%s:{%sname%s:%ss%d%s,%snamespace%s:%sdefault%s},%sspec%s:{%sclusterIP%s:%s10.96.%d.%d%s,%sports%s:[{%sname%s:%shttp%s,%sport%s:80,%stargetPort%s:8080}]}}\"\n",
				q, q, q, q, q, q, q, q, q, q, q, q, q, i, q, q, q, q, q, q, q, q, q, q,
				int((2 + i) / 256), (2 + i) % 256, q, q, q, q, q, q, q, q, q, q, q, q, q
			printf "header = \"Content-Type: application/json\"\noutput = /dev/null\nnext\n"
			printf "url = \"%s/apis/discovery.k8s.io/v1/namespaces/default/endpointslices\"\n", api
			eps = ""
			for (j = 0; j < k; j++) {
				a = i * k + j + 1
				eps = eps (j ? "," : "") "{" q "addresses" q ":[" q sprintf("10.%d.%d.%d", 128 + int(a / 65536), int(a / 256) % 256, a % 256) q "]}"
			}
			printf "data = \"{%sapiVersion%s:%sdiscovery.k8s.io/v1%s,%skind%s:%sEndpointSlice%s,%smetadata%s:{%sname%s:%ss%d-1%s,%snamespace%s:%sdefault%s,%slabels%s:{%skubernetes.io/service-name%s:%ss%d%s}},%saddressType%s:%sIPv4%s,%sports%s:[{%sname%s:%shttp%s,%sport%s:8080}],%sendpoints%s:[%s]}\"\n",
				q, q, q, q, q, q, q, q, q, q, q, q, q, i, q, q, q, q, q, q, q, q, q, q, i, q,
				q, q, q, q, q, q, q, q, q, q, q, q, q, q, eps
			printf "header = \"Content-Type: application/json\"\noutput = /dev/null\n"
			if (i < n - 1)
				printf "next\n"
		}
	}'
}
# pct P [SCALE]: the P-th percentile of stdin's numbers times SCALE
# (default 0.001: us -> ms).
# status_kib PID FIELD: /proc/PID/status's FIELD (VmRSS, VmHWM) in KiB.
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
declare -A mem
# dump_folder N DIR: the server's Services and EndpointSlices as --manifests
# reads them (a list's items carry no kind: jq adds it).
dump_folder() {
	mkdir -p "$2" &&
	in_node curl -sf "$API/api/v1/namespaces/default/services" |
		jq -c '{apiVersion: "v1", kind: "List", items: [.items[] |
			. + {apiVersion: "v1", kind: "Service"}]}' >"$2/services.json" &&
	in_node curl -sf "$API/apis/discovery.k8s.io/v1/namespaces/default/endpointslices" |
		jq -c '{apiVersion: "v1", kind: "List", items: [.items[] |
			. + {apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice"}]}' >"$2/slices.json"
}
# folder_memory N MODE DIR: mem[folder,N,MODE] from skiff-agent --manifests DIR.
folder_memory() {
	local n=$1 mode=$2 b="/sys/fs/bpf/skiff-bench-apim-$RUN_ID-$1-$2" log="$TMP/folder-$1-$2.log" pid
	defer "rm -rf '$b'"
	defer "[ -d '$b' ] && '$TESTBIN/lb-tool' --bpffs '$b' --cgroup '$CG' destroy"
	( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" --manifests "$3" \
		--bpffs "$b" --cgroup "$CG" --node-name node1 --proxy-mode "$mode" \
		--nft-table "skiff-bm-$RUN_ID-$n" ) >>"$log" 2>&1 &
	pid=$!
	defer "kill $pid 2>/dev/null"
	if wait_for 300 grep -q "initial sync:" "$log"; then
		mem[folder,$n,$mode]="$(status_kib "$pid" VmRSS) - $(status_kib "$pid" VmHWM) $(status_kib "$pid" RssAnon)"
	else
		err "$mode agent --manifests never synced $n services: $(tail -3 "$log")"
	fi
	kill "$pid"; wait "$pid" 2>/dev/null
}
pct() { sort -g | awk -v p="$1" -v k="${2:-0.001}" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.1f", v[i] * k }'; }

# change_lines MODE: the timed changes' lines for map-watch --server, one per
# change of a random service's last endpoint to a new address (one per
# change and mode: the nftables watcher waits for an element carrying it),
# or (dns) per new Service dC.
change_lines() {
	local c i ep slices=/apis/discovery.k8s.io/v1/namespaces/default/endpointslices
	for (( c = 0; c < changes; c++ )); do
		if [ "$1" = dns ]; then
			echo "- - d$c.default.svc.cluster.local. POST /api/v1/namespaces/default/services" \
				"{\"metadata\":{\"name\":\"d$c\"},\"spec\":{\"ports\":[{\"port\":80}]}}"
			continue
		fi
		i=$(( (RANDOM * 32768 + RANDOM) % n ))
		ep="10.127.$(( c / 250 )).$(( c % 250 + 1 ))"
		[ "$1" = nftables ] && ep="10.127.$(( c / 250 + 128 )).$(( c % 250 + 1 ))"
		echo "$(svc_ip "$i"):80 $ep - PATCH $slices/s$i-1 {\"endpoints\":$(endpoints "$i" "$ep")}"
	done
}
# paced: stdin's lines, BENCH_GAP_MS apart (map-watch makes each change
# once it has read its line, after the last one is in).
paced() {
	local line
	while IFS= read -r line; do
		echo "$line"
		[ "$gap_ms" -eq 0 ] || sleep "$(awk -v g="$gap_ms" 'BEGIN { print g / 1000 }')"
	done
}

echo "network programming latency (API write -> BPF map entry / nftables element; dns: Service"
echo "created -> its name answers), $changes changes"
echo "per size and mode, ${gap_ms} ms apart; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %-9s %-10s %-9s %-9s %-9s %-12s %-12s %-12s %s\n' mode services endpoints load_s p50_ms \
	p99_ms write_p50_ms write_p99_ms after_write_p99 loadavg
for n in $sizes; do
	DATA="$DATA_ROOT/data-$n" SLOG="$TMP/server-$n.log"
	if [ "$tls" = 1 ]; then
		plain_port=$(free_port)
		agent_server_start "$DATA" "$SLOG" tls --insecure-port "$plain_port" \
			--service-cluster-ip-range 10.96.0.0/16 --cluster-dns 10.96.255.253
		API="http://127.0.0.1:$plain_port" source=(--kubeconfig "$DATA/kubeconfig")
	else
		agent_server_start "$DATA" "$SLOG" plain --service-cluster-ip-range 10.96.0.0/16 \
			--cluster-dns 10.96.255.253 # .10 is one of the services here
		API="http://127.0.0.1:$PORT" source=(--server "$API")
	fi
	t0=$EPOCHREALTIME
	load_config "$n" >"$TMP/load-$n.cfg"
	in_node curl -sf --fail-early -K "$TMP/load-$n.cfg" || { err "loading $n services failed"; continue; }
	load_s=$(awk -v s="$t0" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }')
	for mode in $modes; do
		ALOG="$TMP/agent-$n-$mode.log"
		BPFFS="/sys/fs/bpf/skiff-bench-api-$RUN_ID-$n-$mode"
		defer "rm -rf '$BPFFS'"
		defer "[ -d '$BPFFS' ] && '$TESTBIN/lb-tool' --bpffs '$BPFFS' --cgroup '$CG' destroy"
		pmode=$mode dns=()
		[ "$mode" = dns ] && pmode=nftables dns=(--dns-listen 127.0.0.53:53)
		( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" "${source[@]}" \
			--bpffs "$BPFFS" --cgroup "$CG" --node-name node1 --proxy-mode "$pmode" "${dns[@]}" \
			--nft-table "skiff-b-$RUN_ID-$n" --log-level "${BENCH_LOG_LEVEL:-info}" ) >>"$ALOG" 2>&1 &
		agent=$!
		defer "kill $agent"
		wait_for 300 grep -q "initial sync:" "$ALOG" ||
			{ err "$mode agent never synced $n services: $(tail -3 "$ALOG")"; continue; }
		rss_sync=$(status_kib "$agent" VmRSS) anon_sync=$(status_kib "$agent" RssAnon)
		[ "$mode" != dns ] || wait_for 300 grep -q "cluster DNS: zone" "$ALOG" ||
			{ err "dns agent never built its zone of $n services: $(tail -3 "$ALOG")"; continue; }
		: >"$TMP/lat-$n-$mode"; : >"$TMP/write-$n-$mode"
		change_lines "$mode" >"$TMP/changes-$n-$mode"
		target=(--map "$BPFFS/lb_frontends")
		[ "$mode" = nftables ] && target=(--nft)
		[ "$mode" = dns ] && target=(--dns 127.0.0.53:53)
		paced <"$TMP/changes-$n-$mode" |
			in_node "$WATCH" --server "$API" "${target[@]}" --timeout-ms 5000 >"$TMP/out-$n-$mode" ||
			err "$mode: a change was not seen: $(tail -1 "$TMP/out-$n-$mode")"
		awk '{ sub("us=", "", $2); sub("write_us=", "", $3); print $2 >"'"$TMP/lat-$n-$mode"'";
			print $3 >"'"$TMP/write-$n-$mode"'"
			print ($2 > $3 ? $2 - $3 : 0) >"'"$TMP/after-$n-$mode"'" }' "$TMP/out-$n-$mode"
		printf '%-9s %-9s %-10s %-9s %-9s %-9s %-12s %-12s %-15s %s\n' "$mode" "$n" "$n_eps" "$load_s" \
			"$(pct 50 <"$TMP/lat-$n-$mode")" "$(pct 99 <"$TMP/lat-$n-$mode")" \
			"$(pct 50 <"$TMP/write-$n-$mode")" "$(pct 99 <"$TMP/write-$n-$mode")" \
			"$(pct 99 <"$TMP/after-$n-$mode")" "$(cut -d' ' -f1 /proc/loadavg)"
		[ "$mode" = dns ] ||
			mem[api,$n,$mode]="$rss_sync $(status_kib "$agent" VmRSS) $(status_kib "$agent" VmHWM) $anon_sync"
		kill "$agent"; wait "$agent" 2>/dev/null
		[ -z "${BENCH_LOGS:-}" ] || cp "$ALOG" "$TMP/out-$n-$mode" "$BENCH_LOGS/"
	done
	for mode in $modes; do
		[ "$mode" = dns ] && continue
		[ -d "$TMP/folder-$n" ] || dump_folder "$n" "$TMP/folder-$n" ||
			{ err "cannot write the folder of $n services"; break; }
		folder_memory "$n" "$mode" "$TMP/folder-$n"
	done
	kill_tree "$SERVER_PID"
	[ -z "${BENCH_LOGS:-}" ] || cp "$SLOG" "$BENCH_LOGS/"
done
echo "goal (issue 12): p99 <= 20 ms end to end; anchors: kube-proxy minSyncPeriod 1 s, kind 5 s"
echo
echo "agent memory (MiB): VmRSS after the initial sync and after the changes, VmHWM, RssAnon after the sync;"
echo "API over $([ "$tls" = 1 ] && echo "HTTPS (--kubeconfig)" || echo "plain HTTP (--server)"); load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %-9s %-10s %-9s %-9s %-9s %-9s\n' services mode source rss_sync rss_end hwm anon_sync
for n in $sizes; do
	for mode in $modes; do
		[ "$mode" = dns ] && continue
		for src in api folder; do
			printf '%-9s %-9s %-10s' "$n" "$mode" "$src"
			for k in ${mem[$src,$n,$mode]:-- - - -}; do
				awk -v k="$k" 'BEGIN { if (k == "-") printf " %-9s", "-"; else printf " %-9.1f", k / 1024 }'
			done
			echo
		done
	done
done
echo "goal (issue 15): at most 32 MiB at 10,000 Services (the folder mode's figure)"
exit $status
