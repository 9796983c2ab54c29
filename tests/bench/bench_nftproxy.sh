#!/usr/bin/env bash
# nftables proxy mode benchmark (issue 4): programming times of skiff's
# nftables mode (skiff-agent --proxy-mode nftables, and its library
# dataplane/nft_proxy.c alone, timed by build/tests/nft-bench), skiff's
# BPF mode (skiff-agent, as bench_proxy.sh times it) and the
# kube-proxy nftables and iptables replicas (build/tests/proxy-gen files
# loaded with nft -f / iptables-restore), for the same services, one run.
#
# Every rule set goes into a network namespace this script creates (one
# per proxy and size, fresh), the BPF programs into a cgroup and a bpffs
# folder of its own; the host's tables are never touched.
#
# Table, per size (services x endpoints), times in ms:
#   full sync   from an empty namespace to all services programmed
#   1 svc add   one more service (a new ClusterIP, its endpoints) with all
#               the others in place; the median of BENCH_ADDS adds
# Rows:
#   skiff nftables (agent, logged)  skiff-agent's own sync time from its log
#                                (an add: only the changed service recomputed
#                                and sent)
#   skiff nftables (agent, e2e)  full: agent start until it logs the initial
#                                sync; add: manifest rename until it logs the
#                                sync (polled every ~5 ms; includes the
#                                file-watch debounce)
#   skiff nftables (batch)       nft-bench, the library alone: the netlink
#                                batch built, sent and acked (the first
#                                replaces the table; an add sends only the
#                                new service's chains, sets and elements)
#   skiff nftables (+parse)      the same plus computing the state, and for
#                                the full sync reading the manifests
#   skiff BPF (agent apply)      skiff-agent's own sync time from its log
#   skiff BPF (end to end)       full: skiff-agent --once, process start to
#                                exit; add: manifest rename until the pinned
#                                lb_frontends map has the ClusterIP (map-watch;
#                                includes the agent's file-watch debounce)
#   kube-proxy nftables replica  nft -f of the whole table; add: the
#                                transaction kube-proxy sends (the service and
#                                endpoint chains, rules and map/set elements)
#   kube-proxy iptables replica  iptables-restore (nf_tables backend); add:
#                                kube-proxy's full sync, iptables-restore
#                                --noflush of every chain and rule (N+1
#                                services), once, cut at BENCH_IPT_TIMEOUT
#   ... iptables (minimized)     add: the partial --noflush restore kube-proxy
#                                writes with MinimizeIPTablesRestore
#   ... iptables-legacy replica  the same full restore with the legacy backend
#                                (when iptables-legacy-restore is installed)
#
# Environment:
#   BENCH_SIZES        service counts (default "1000 10000")
#   BENCH_ENDPOINTS    endpoints per service (default 10)
#   BENCH_ADDS         one-service adds timed per size (default 3)
#   BENCH_IPT_TIMEOUT  seconds for one iptables --noflush full restore (default 120)
#   BENCH_BPF          0 to skip the skiff BPF rows (default 1)
#   BENCH_AGENT        0 to skip the skiff-agent nftables rows (default 1)
# Reproduce: make bench B=nftproxy   (or: bash tests/bench/bench_nftproxy.sh)
# Exit status: 0 unless a measured step failed; 4 when skipped.

case "${1:-}" in
-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/bench.sh"

sizes=${BENCH_SIZES:-1000 10000}
env_number n_eps BENCH_ENDPOINTS 10
env_number adds BENCH_ADDS 3
env_number ipt_timeout BENCH_IPT_TIMEOUT 120
env_number bpf BENCH_BPF 1
env_number agent BENCH_AGENT 1

[ -n "$sizes" ] || fail "BENCH_SIZES: empty"
for v in $sizes; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 2 ] && [ "$v" -le 60000 ] ||
		fail "BENCH_SIZES: expected numbers from 2 to 60000, got '$v'"
done
[ "$n_eps" -ge 1 ] && [ "$n_eps" -le 100 ] || fail "BENCH_ENDPOINTS: expected 1 to 100"
[ "$adds" -ge 1 ] && [ "$adds" -le 50 ] || fail "BENCH_ADDS: expected 1 to 50"
[ "$ipt_timeout" -ge 1 ] || fail "BENCH_IPT_TIMEOUT: at least 1"

require_root
require_cmd ip awk nsenter nft iptables-restore timeout
require_bin proxy-gen nft-bench
have_legacy=0
command -v iptables-legacy-restore >/dev/null && have_legacy=1

GEN="$TESTBIN/proxy-gen"
NFTB="$TESTBIN/nft-bench"
AGENT_BIN="$BIN/skiff-agent"
CIDR=10.128.0.0/9
KTABLE="kp-$RUN_ID"
STABLE="skiff-proxy-$RUN_ID"
status=0

if [ "$bpf" = 1 ] && { [ ! -x "$TESTBIN/map-watch" ] || [ ! -x "$TESTBIN/lb-tool" ]; }; then
	echo "note: skiff BPF rows skipped: map-watch or lb-tool not built"
	bpf=0
fi
if [ "$bpf$agent" != 00 ] && [ ! -x "$AGENT_BIN" ]; then
	echo "note: skiff-agent rows skipped: $AGENT_BIN not built"
	bpf=0 agent=0
fi
# The agent (either mode) gets a cgroup and a bpffs folder of its own: the
# nftables mode clears the BPF mode's state there.
if [ "$bpf$agent" != 00 ]; then
	CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	if [ -z "$CG2" ] || ! { mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf; }; then
		echo "note: skiff-agent rows skipped: no cgroup v2 or bpffs"
		bpf=0 agent=0
	else
		CG="$CG2/skiff-bench-nftproxy-$RUN_ID"
		mkdir "$CG" || fail "cannot create cgroup $CG"
		defer "rmdir '$CG'"
	fi
fi

# ---- helpers ------------------------------------------------------------

# ns_timed NETNS CMD...: runs CMD inside NETNS (network only: nsenter keeps
# /sys), prints its wall time in ms; fails as CMD does.
ns_timed() {
	local n=$1; shift
	nsenter --net="/run/netns/$n" bash -c 's=$EPOCHREALTIME; "$@" >/dev/null || exit $?
		awk -v s="$s" -v e="$EPOCHREALTIME" "BEGIN { printf \"%.1f\", (e - s) * 1000 }"' _ "$@"
}
gen() { local mode=$1 n=$2; shift 2; "$GEN" "$mode" --services "$n" --endpoints "$n_eps" "$@"; }

declare -A res

# ---- skiff nftables ---------------------------------------------------------

# skiff_nft N: nft-bench into a fresh namespace: the full sync, then the
# adds (services N .. N+adds-1 staged and renamed in one by one).
skiff_nft() {
	local n=$1 m="$TMP/snft-m$1" st="$TMP/snft-st$1" out line k files=() ap=() tot=()
	gen manifests "$n" --out "$m" >/dev/null || { err "proxy-gen manifests $n"; return; }
	mkdir -p "$st"
	for (( k = 0; k < adds; k++ )); do
		gen manifests $(( n + adds )) --only $(( n + k )) --out "$st" >/dev/null ||
			{ err "proxy-gen manifests --only"; return; }
		files+=("$st/$(printf 'svc-%05u.json' $(( n + k )))")
	done
	setup_ns "snft$n"
	out=$(ip netns exec "$(ns "snft$n")" "$NFTB" --manifests "$m" --table "$STABLE" \
		--cluster-cidr "$CIDR" --timeout-ms 30000 "${files[@]}" 2>&1) ||
		err "nft-bench with $n services: $(echo "$out" | tail -2)"
	line=$(echo "$out" | grep '^load ')
	local load_ms; load_ms=$(kv load_ms "$line")
	line=$(echo "$out" | grep '^full ')
	if [ -n "$line" ]; then
		[ "$(kv full "$line")" = 1 ] || err "skiff nftables: the first apply was not a full one"
		res[snft-full,$n]=$(sum "$(kv apply_ms "$line")")
		res[snft-full-all,$n]=$(sum "$load_ms" "$(kv compute_ms "$line")" "$(kv apply_ms "$line")")
		res[snft-msgs,$n]=$(kv msgs "$line")
	fi
	while read -r line; do
		[ "$(kv full "$line")" = 0 ] || err "skiff nftables: an add rebuilt the table"
		ap+=("$(kv apply_ms "$line")")
		tot+=("$(sum "$(kv compute_ms "$line")" "$(kv apply_ms "$line")")")
		res[snft-add-msgs,$n]=$(kv msgs "$line")
		res[snft-add-changed,$n]=$(kv changed "$line")
	done < <(echo "$out" | grep '^step ')
	[ ${#ap[@]} -eq "$adds" ] || err "skiff nftables: ${#ap[@]} of $adds adds measured"
	res[snft-add,$n]=$(median "${ap[@]}")
	res[snft-add-all,$n]=$(median "${tot[@]}")
	ip netns del "$(ns "snft$n")"
	rm -rf "$m" "$st"
}

# ---- skiff-agent --proxy-mode nftables --------------------------------------------

AGENT=
defer 'if [ -n "$AGENT" ]; then kill -9 "$AGENT"; wait "$AGENT"; fi'
agent_stop() { # BPFFS
	[ -n "$AGENT" ] && { kill "$AGENT"; wait "$AGENT"; } 2>/dev/null
	AGENT=
	"$TESTBIN/lb-tool" --bpffs "$1" --cgroup "$CG" destroy >/dev/null 2>&1
	rm -rf "$1"
}
logged_ms() { grep "$2" "$1" | sed -n 's/.* in \([0-9.]*\) ms.*/\1/p'; }


# sync_count LOG: the agent's sync lines so far.
sync_count() { grep -c " sync: " "$1"; }
# wait_sync LOG BEFORE SECONDS: until LOG has more than BEFORE sync lines,
# polling every ~5 ms.
wait_sync() {
	local end=$(( SECONDS + $3 ))
	while [ "$(sync_count "$1")" -le "$2" ]; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.005
	done
}

# skiff_nft_agent N: the agent's nftables mode in a namespace of its own:
# its initial sync of N services, then the adds.
skiff_nft_agent() {
	local n=$1 m="$TMP/nfta-m$1" st="$TMP/nfta-st$1" b="/sys/fs/bpf/skiff-bench-nfta-$RUN_ID-$1"
	local log="$TMP/nft-agent$1.log" s k f before e2e=() t=()
	gen manifests "$n" --out "$m" >/dev/null || { err "proxy-gen manifests $n"; return; }
	mkdir -p "$st"
	setup_ns "nfta$n"
	: >"$log"
	s=$EPOCHREALTIME
	( exec nsenter --net="/run/netns/$(ns "nfta$n")" "$AGENT_BIN" --manifests "$m" --proxy-mode nftables \
		--nft-table "$STABLE" --cluster-cidr "$CIDR" --bpffs "$b" --cgroup "$CG" \
		--node-name node1 ) >>"$log" 2>&1 &
	AGENT=$!
	if ! wait_sync "$log" 0 900; then
		err "skiff-agent (nftables) never synced $n services: $(tail -2 "$log")"
		agent_stop "$b"; return
	fi
	res[nfta-e2e,$n]=$(ms_since "$s")
	res[nfta-full,$n]=$(logged_ms "$log" "initial sync:" | tail -1)
	grep -q "initial sync: .*(full" "$log" || err "skiff-agent (nftables): no full initial sync: $(grep "initial sync" "$log")"
	for (( k = 0; k < adds; k++ )); do
		gen manifests $(( n + adds )) --only $(( n + k )) --out "$st" >/dev/null
		f=$(printf 'svc-%05u.json' $(( n + k )))
		before=$(sync_count "$log")
		s=$EPOCHREALTIME
		mv "$st/$f" "$m/$f"
		if ! wait_sync "$log" "$before" 30; then
			err "skiff-agent (nftables) did not sync the add of service $(( n + k ))"; continue
		fi
		e2e+=("$(ms_since "$s")")
		t+=("$(logged_ms "$log" " sync: " | tail -1)")
		grep " sync: " "$log" | tail -1 | grep -q "changed services" ||
			err "skiff-agent (nftables): the add was not applied as one changed service"
		sleep 0.2
	done
	ip netns exec "$(ns "nfta$n")" nft list set inet "$STABLE" cluster-ips 2>/dev/null |
		grep -q "$(svc_ip $(( n + adds - 1 )))" ||
		err "skiff-agent (nftables): the last added ClusterIP is not in the table"
	res[nfta-add,$n]=$(median "${t[@]}")
	res[nfta-add-e2e,$n]=$(median "${e2e[@]}")
	agent_stop "$b"
	ip netns del "$(ns "nfta$n")"
	rm -rf "$m" "$st"
}

# ---- skiff BPF ----------------------------------------------------------------


# skiff_bpf N: the agent in a namespace of its own: --once for the full
# sync, then as a daemon for the adds.
skiff_bpf() {
	local n=$1 m="$TMP/bpf-m$1" st="$TMP/bpf-st$1" b="/sys/fs/bpf/skiff-bench-nft-$RUN_ID-$1"
	local log="$TMP/agent$1.log" s out k f before e2e=() t=()
	gen manifests "$n" --out "$m" >/dev/null || { err "proxy-gen manifests $n"; return; }
	mkdir -p "$st"
	setup_ns "bpf$n"
	defer "'$TESTBIN/lb-tool' --bpffs '$b' --cgroup '$CG' destroy; rm -rf '$b'"
	s=$EPOCHREALTIME
	if nsenter --net="/run/netns/$(ns "bpf$n")" "$AGENT_BIN" --manifests "$m" --bpffs "$b" \
		--cgroup "$CG" --node-name node1 --once >"$log.once" 2>&1; then
		res[bpf-once,$n]=$(ms_since "$s")
		res[bpf-full,$n]=$(logged_ms "$log.once" "initial sync:" | tail -1)
	else
		err "skiff-agent --once with $n services: $(tail -2 "$log.once")"
	fi
	agent_stop "$b"

	( exec nsenter --net="/run/netns/$(ns "bpf$n")" "$AGENT_BIN" --manifests "$m" --bpffs "$b" \
		--cgroup "$CG" --node-name node1 ) >>"$log" 2>&1 &
	AGENT=$!
	if ! wait_for 120 grep -q "initial sync:" "$log"; then
		err "skiff-agent never synced $n services: $(tail -2 "$log")"; agent_stop "$b"; return
	fi
	for (( k = 0; k < adds; k++ )); do
		gen manifests $(( n + adds )) --only $(( n + k )) --out "$st" >/dev/null
		f=$(printf 'svc-%05u.json' $(( n + k )))
		before=$(grep -c " sync: " "$log")
		out=$("$TESTBIN/map-watch" --map "$b/lb_frontends" --frontend "$(svc_ip $(( n + k ))):80" \
			--appear --rename "$st/$f" "$m/$f" 2>&1) || { err "BPF service add: $out"; continue; }
		e2e+=("$(awk -v u="$(kv us "$out")" 'BEGIN { printf "%.2f", u / 1000 }')")
		wait_for 10 eval '[ "$(grep -c " sync: " "$log")" -gt "$before" ]' ||
			err "skiff-agent did not log the add of service $(( n + k ))"
		t+=("$(logged_ms "$log" " sync: " | tail -1)")
	done
	res[bpf-add,$n]=$(median "${t[@]}")
	res[bpf-add-e2e,$n]=$(median "${e2e[@]}")
	agent_stop "$b"
	ip netns del "$(ns "bpf$n")"
	rm -rf "$m" "$st"
}

# ---- kube-proxy replicas -------------------------------------------------------

# replica_nft N: nft -f of the whole table, then the add transactions.
replica_nft() {
	local n=$1 f="$TMP/nft$1" k t a=()
	gen nft "$n" --table "$KTABLE" --out "$f" || { err "proxy-gen nft"; return; }
	setup_ns "nft$n"
	t=$(ns_timed "$(ns "nft$n")" nft -f "$f") && res[nft-full,$n]=$t || { err "nft -f of $n services failed"; return; }
	rm -f "$f"
	for (( k = 0; k < adds; k++ )); do
		gen nft $(( n + k )) --table "$KTABLE" --add-one --out "$f.add" || { err "proxy-gen nft --add-one"; return; }
		t=$(ns_timed "$(ns "nft$n")" nft -f "$f.add") && a+=("$t") || err "nft -f (service $(( n + k ))) failed"
	done
	res[nft-add,$n]=$(median "${a[@]}")
	ip netns del "$(ns "nft$n")"
}

# replica_ipt N CMD KEY: CMD (iptables-restore or iptables-legacy-restore)
# of all rules; adds: the minimized partial restore (nf_tables backend) or
# the full --noflush restore (legacy, where it is what kube-proxy does
# fast enough to repeat); for the nf_tables backend the full --noflush
# restore once, within BENCH_IPT_TIMEOUT.
replica_ipt() {
	local n=$1 cmd=$2 key=$3 f="$TMP/ipt$1" k t a=() rc
	gen iptables "$n" --out "$f" || { err "proxy-gen iptables"; return; }
	setup_ns "$key$n"
	t=$(ns_timed "$(ns "$key$n")" "$cmd" "$f") && res[$key-full,$n]=$t || { err "$cmd of $n services failed"; return; }
	for (( k = 0; k < adds; k++ )); do
		if [ "$key" = ipt ]; then
			gen iptables $(( n + k )) --add-one --out "$f.add" || { err "proxy-gen iptables --add-one"; return; }
		else
			gen iptables $(( n + k + 1 )) --out "$f.add" || { err "proxy-gen iptables"; return; }
		fi
		t=$(ns_timed "$(ns "$key$n")" "$cmd" --noflush "$f.add") && a+=("$t") ||
			err "$cmd --noflush (service $(( n + k ))) failed"
	done
	if [ "$key" = ipt ]; then
		res[ipt-add-min,$n]=$(median "${a[@]}")
		# kube-proxy's full sync: every chain declared (so flushed) and refilled
		gen iptables $(( n + adds + 1 )) --out "$f.add" || { err "proxy-gen iptables"; return; }
		t=$(ns_timed "$(ns "$key$n")" timeout "$ipt_timeout" "$cmd" --noflush "$f.add")
		rc=$?
		if [ $rc -eq 0 ]; then
			res[ipt-add,$n]=$t
		elif [ $rc -eq 124 ]; then
			res[ipt-add,$n]=">$(( ipt_timeout * 1000 ))"
		else
			err "$cmd --noflush of $(( n + adds + 1 )) services failed"
		fi
	else
		res[$key-add,$n]=$(median "${a[@]}")
	fi
	ip netns del "$(ns "$key$n")"
	rm -f "$f" "$f.add"
}

for n in $sizes; do
	[ "$agent" = 1 ] && skiff_nft_agent "$n"
	skiff_nft "$n"
	[ "$bpf" = 1 ] && skiff_bpf "$n"
	replica_nft "$n"
	replica_ipt "$n" iptables-restore ipt
	[ "$have_legacy" = 1 ] && replica_ipt "$n" iptables-legacy-restore lgc
done

# ---- table --------------------------------------------------------------------------

r() { echo "${res[$1]:--}"; }
fmt='| %-40s | %8s | %12s | %12s |\n'
# shellcheck disable=SC2059
row() { printf "$fmt" "$@"; }
echo
echo "programming: services x $n_eps endpoints, times in ms; 1 svc add: median of $adds"
row proxy services "full sync" "1 svc add"
row "$(printf '%.40s' -----------------------------------------)" -------- ------------ ------------
for n in $sizes; do
	if [ "$agent" = 1 ]; then
		row "skiff nftables (agent, logged)" "$n" "$(r "nfta-full,$n")" "$(r "nfta-add,$n")"
		row "skiff nftables (agent, end to end)" "$n" "$(r "nfta-e2e,$n")" "$(r "nfta-add-e2e,$n")"
	fi
	row "skiff nftables (batch)" "$n" "$(r "snft-full,$n")" "$(r "snft-add,$n")"
	row "skiff nftables (+parse, compute)" "$n" "$(r "snft-full-all,$n")" "$(r "snft-add-all,$n")"
	if [ "$bpf" = 1 ]; then
		row "skiff BPF (agent apply, logged)" "$n" "$(r "bpf-full,$n")" "$(r "bpf-add,$n")"
		row "skiff BPF (end to end)" "$n" "$(r "bpf-once,$n")" "$(r "bpf-add-e2e,$n")"
	fi
	row "kube-proxy nftables replica (nft -f)" "$n" "$(r "nft-full,$n")" "$(r "nft-add,$n")"
	row "kube-proxy iptables replica (full sync)" "$n" "$(r "ipt-full,$n")" "$(r "ipt-add,$n")"
	row "kube-proxy iptables replica (minimized)" "$n" "$(r "ipt-full,$n")" "$(r "ipt-add-min,$n")"
	[ "$have_legacy" = 1 ] &&
		row "kube-proxy iptables-legacy replica" "$n" "$(r "lgc-full,$n")" "$(r "lgc-add,$n")"
done
echo
echo "skiff nftables batches: full sync ${res[snft-msgs,${sizes##* }]:--} netlink messages, one add" \
	"${res[snft-add-msgs,${sizes##* }]:--} (${sizes##* } services; services recomputed per add:" \
	"${res[snft-add-changed,${sizes##* }]:--})."
echo "iptables (nf_tables backend) full sync add: iptables-restore --noflush of every chain and rule,"
echo "once (>N: cut after BENCH_IPT_TIMEOUT); minimized: only the changed chains (kube-proxy's"
echo "MinimizeIPTablesRestore); legacy add: the full --noflush restore. Replicas and skiff nftables"
echo "each load into a fresh namespace; BPF end to end add includes the agent's file-watch debounce."
exit $status
