#!/usr/bin/env bash
# The kubelet's pod startup latency and memory (issue 11), on the kubelet
# tests' node (tests/dataplane/kubelet_env.sh: a private containerd with
# the local images already imported, skiff-server, skiff-agent).
#
# Pod startup latency as SIG Scalability defines it: from the pod's
# creation to all its containers started, both seen by one watch of the
# pods (kubectl get --watch, each event stamped when it arrives; the
# ADDED event is the create, the first event with every container
# running and started is the end). One busybox container, image present.
#   single: SINGLE pods, one after another (each waits for the last)
#   burst:  BURST pods created at once (one kubectl create)
# The peer, in the same run and with the agent running: the same sandbox
# and container made directly over CRI by cri-tool (runp, create, start:
# three processes, a few ms each), one after another taking turns with the
# kubelet's pods, and as a burst just before the kubelet's (all started at
# one instant, which is each one's start), so the kubelet's own overhead
# shows.
# skiff-agent's VmRSS and VmHWM are read from /proc with BURST pods running.
# Where a burst's time goes: containerd's own log times each pod's CRI
# calls (RunPodSandbox, and in it the netns and CNI setup before the
# sandbox's shim; CreateContainer; StartContainer), for both bursts.
#
# Environment:
#   BENCH_KUBELET_SINGLE  pods one after another (default 20)
#   BENCH_KUBELET_BURST   pods in the burst (default 30)
#   KUBELET_AGENT_FLAGS   more skiff-agent flags (e.g. --pod-workers 8)
#   KUBELET_KEEP_LOG      copy the agent's log there; BENCH_KUBELET_KEEP_WATCH
#                         the stamped watch events (to see where time goes)
# Anchors: the SLO is p99 <= 5 s; Kubernetes' density test called 2-2.5 s
# normal at 30 pods per node and allows the kubelet 50 MiB.
# Goals: burst p99 <= 2.5 s; overhead over raw CRI <= 10% at p50; RSS <= 30 MiB.
. "$(dirname "$0")/../harness/lib.sh"

env_number single BENCH_KUBELET_SINGLE 20
env_number burst BENCH_KUBELET_BURST 30
[ "$single" -gt 0 ] && [ "$burst" -gt 0 ] || fail "BENCH_KUBELET_*: counts must be positive"
SUBNET_PREFIX=10.69.0
. "$SKIFF_ROOT/tests/dataplane/kubelet_env.sh"
require_cmd jq

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# stats FILE: "p50 p99 max count" of the seconds in FILE (one a line).
stats() {
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - - 0"; exit }
		i50 = int(NR * 0.50 + 0.999); i99 = int(NR * 0.99 + 0.999)
		printf "%.3f %.3f %.3f %d\n", v[i50], v[i99], v[NR], NR }'
}

# ---- the watch: every pod event, stamped when it arrives ----------------

WATCH="$TMP/watch.log"
[ -n "${BENCH_KUBELET_KEEP_WATCH:-}" ] && defer "cp '$WATCH' '$BENCH_KUBELET_KEEP_WATCH'"
mkfifo "$TMP/watch.fifo"
nsenter --net="/run/netns/$(ns node)" "$KDIR/kubectl.1.33" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/kcache" \
	get pods --watch --output-watch-events -o json >"$TMP/watch.fifo" 2>"$TMP/watch.err" &
WATCH_PID=$!
# "<time> <type> <name> <all containers running and started>"
jq -r --unbuffered '.object as $p | ($p.status.containerStatuses // []) as $c |
	"\(.type) \($p.metadata.name) \(($c | length) == ($p.spec.containers | length) and
	 all($c[]; .state.running != null and .started == true))"' <"$TMP/watch.fifo" |
	while IFS= read -r l; do echo "$EPOCHREALTIME $l"; done >"$WATCH" &
STAMP_PID=$!
defer "kill $WATCH_PID 2>/dev/null; wait $WATCH_PID $STAMP_PID 2>/dev/null"

# latencies PREFIX: "name seconds" of every pod named PREFIX-*, from its
# ADDED event to the first event with all containers started.
latencies() {
	awk -v p="$1-" 'index($3, p) == 1 {
		if ($2 == "ADDED" && !($3 in t0)) t0[$3] = $1
		if ($4 == "true" && ($3 in t0) && !($3 in t1)) t1[$3] = $1 }
		END { for (n in t1) printf "%s %.6f\n", n, t1[n] - t0[n] }' "$WATCH"
}
started_count() { latencies "$1" | wc -l; }
# span PREFIX: seconds from the first ADDED to the last start of PREFIX-*.
span() {
	awk -v p="$1-" 'index($3, p) == 1 {
		if ($2 == "ADDED" && (first == "" || $1 < first)) first = $1
		if ($4 == "true" && !($3 in t1)) { t1[$3] = $1; if ($1 > last) last = $1 } }
		END { printf "%.3f\n", last - first }' "$WATCH"
}

# pod_yaml NAME: a pod bound to the node, one busybox container.
pod_yaml() {
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n' "$1"
	printf '  nodeName: %s\n  terminationGracePeriodSeconds: 1\n' "$NODE"
	printf '  automountServiceAccountToken: false\n'
	printf '  containers: [{name: c, image: %s, command: [sleep, "3600"]}]\n' "$BUSYBOX"
}
delete_all() {
	k delete pods --all --wait=false >/dev/null 2>&1
	wait_for 120 eval '[ -z "$(k get pods -o name 2>/dev/null)" ]' || fail "pods left: $(k get pods 2>&1)"
}

# ---- the peer: the same sandbox and container over CRI -------------------

# cri_pod NAME: runp, create, start of one pod and its container.
cri_pod() {
	local n=$1 sb c
	cat >"$TMP/cri/$n.pod.json" <<-JSON
	{"metadata": {"name": "$n", "namespace": "bench", "uid": "uid-$RUN_ID-$n"},
	 "hostname": "$n", "log_directory": "$TMP/logs/cri-$n",
	 "linux": {"cgroup_parent": "$CTRD_CGROUP_PARENT/cri/pod-$n"}}
	JSON
	cat >"$TMP/cri/$n.ctr.json" <<-JSON
	{"metadata": {"name": "c"}, "image": "$BUSYBOX", "command": ["sleep", "3600"], "log_path": "c/0.log"}
	JSON
	sb=$(cri runp "$TMP/cri/$n.pod.json" 2>&1) || { echo "runp $n: $sb" >&2; return 1; }
	echo "$sb" >"$TMP/cri/$n.sandbox"
	c=$(cri create "$sb" "$TMP/cri/$n.ctr.json" "$TMP/cri/$n.pod.json" 2>&1) ||
		{ echo "create $n: $c" >&2; return 1; }
	cri start "$c" >/dev/null || { echo "start $n failed" >&2; return 1; }
}
# cri_cleanup: the peer's sandboxes (never the kubelet's) are removed.
cri_cleanup() {
	local f ids=() id left
	for f in "$TMP"/cri/*.sandbox; do
		[ -e "$f" ] && ids+=("$(cat "$f")") && rm -f "$f"
	done
	for id in "${ids[@]}"; do
		cri stopp "$id" >/dev/null 2>&1
		cri rmp "$id" >/dev/null 2>&1
	done
	left=$(cri pods --quiet 2>/dev/null)
	for id in "${ids[@]}"; do
		! grep -qx "$id" <<<"$left" || fail "CRI peer sandbox $id left"
	done
}
mkdir -p "$TMP/cri"

agent_up # (the watch is established meanwhile)
pid_agent=$AGENT

# 1. one after another, the peer and the kubelet taking turns (so the
# machine's changing load falls on both alike)
: >"$TMP/cri_single"
for (( i = 0; i < single; i++ )); do
	t0=$EPOCHREALTIME
	cri_pod "cs-$i" || fail "CRI peer pod cs-$i failed"
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }' >>"$TMP/cri_single"
	pod_yaml "ks-$i" | kapply
	wait_for 60 eval '[ "$(started_count ks)" -gt '"$i"' ]' ||
		fail "pod ks-$i never started: $(tail -5 "$ALOG")"
done
latencies ks | awk '{ print $2 }' >"$TMP/k_single"
cri_cleanup
delete_all

# 2. the peer's burst, then at once the kubelet's
pids=()
t0=$EPOCHREALTIME
for (( i = 0; i < burst; i++ )); do
	( cri_pod "cb-$i" && echo "$EPOCHREALTIME" >"$TMP/cri/cb-$i.done" ) &
	pids+=($!)
done
for j in "${pids[@]}"; do wait "$j" || fail "CRI peer burst: a pod failed"; done
for (( i = 0; i < burst; i++ )); do
	awk -v a="$t0" -v b="$(cat "$TMP/cri/cb-$i.done")" 'BEGIN { printf "%.6f\n", b - a }'
done >"$TMP/cri_burst"
cri_cleanup

# 3. the kubelet, a burst
for (( i = 0; i < burst; i++ )); do pod_yaml "kb-$i"; done >"$TMP/burst.yaml"
k create -f "$TMP/burst.yaml" >/dev/null || fail "kubectl create of the burst failed"
wait_for 120 eval '[ "$(started_count kb)" -ge '"$burst"' ]' ||
	fail "burst: $(started_count kb) of $burst started: $(tail -5 "$ALOG")"
latencies kb | awk '{ print $2 }' >"$TMP/k_burst"
kb_total=$(span kb)
rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid_agent/status")
hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid_agent/status")
load=$(loadavg)
delete_all

# ---- where the time goes: containerd's own log ---------------------------

# ctrd_calls PREFIX: "call seconds" lines, one per CRI call of each pod
# PREFIX-*, from containerd's info lines (each call logged at its start
# and at its return): runp, pre_shim (RunPodSandbox's netns, CNI and pause
# snapshot, before the sandbox's shim starts), create, start.
ctrd_calls() {
	awk -v p="$1-" '
	function t(  s, a) {
		match($0, /time="[^"]*"/); s = substr($0, RSTART + 6, RLENGTH - 7)
		split(substr(s, 9), a, /[T:Z]/)
		return a[1] * 86400 + a[2] * 3600 + a[3] * 60 + a[4]
	}
	function q(s,  a) { split(s, a, /\\"/); return a[2] }
	/RunPodSandbox for &PodSandboxMetadata/ {
		match($0, /Name:[^,]*/); n = substr($0, RSTART + 5, RLENGTH - 5)
		if (index(n, p) != 1) next
		if (index($0, "returns sandbox id")) { sb[q(substr($0, index($0, "returns")))] = n; rpe[n] = t() }
		else rp[n] = t()
	}
	/starting signal loop/ { match($0, /[0-9a-f]+ pid=/); shim[substr($0, RSTART, RLENGTH - 5)] = t() }
	/CreateContainer within sandbox/ {
		id = q($0)
		if (index($0, "returns container id")) { cce[id] = t(); ctr[q(substr($0, index($0, "returns")))] = id }
		else cc[id] = t()
	}
	/StartContainer for/ { id = q($0); if (index($0, "returns successfully")) sce[id] = t(); else sc[id] = t() }
	END {
		for (id in sb) {
			printf "runp %.6f\n", rpe[sb[id]] - rp[sb[id]]
			if (id in shim) printf "pre_shim %.6f\n", shim[id] - rp[sb[id]]
			if ((id in cc) && (id in cce)) printf "create %.6f\n", cce[id] - cc[id]
		}
		for (id in ctr)
			if ((id in sc) && (id in sce) && (ctr[id] in sb)) printf "start %.6f\n", sce[id] - sc[id]
	}' "$CTRD_DIR/logs/containerd.log"
}
# ctrd_p50s PREFIX: "runp pre_shim create start", the p50 of each.
ctrd_p50s() {
	local call out=()
	ctrd_calls "$1" >"$TMP/calls"
	for call in runp pre_shim create start; do
		awk -v c="$call" '$1 == c { print $2 }' "$TMP/calls" >"$TMP/call"
		out+=("$(stats "$TMP/call" | cut -d' ' -f1)")
	done
	echo "${out[*]}"
}
read -r kb_runp kb_pre kb_create kb_start < <(ctrd_p50s kb)
read -r cb_runp cb_pre cb_create cb_start < <(ctrd_p50s cb)

# ---- the table -------------------------------------------------------------

read -r ks50 ks99 _ ksn < <(stats "$TMP/k_single")
read -r kb50 kb99 _ kbn < <(stats "$TMP/k_burst")
read -r cs50 cs99 _ csn < <(stats "$TMP/cri_single")
read -r cb50 cb99 cbmax cbn < <(stats "$TMP/cri_burst")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.0f%%", (a / b - 1) * 100 }'; }

echo "command: make bench B=kubelet (tests/bench/bench_kubelet.sh; $single pods one after" \
	"another, a burst of $burst, one busybox container each, image present;" \
	"agent flags: ${KUBELET_AGENT_FLAGS:-defaults})"
echo "goals: burst p99 <= 2.5 s; kubelet over raw CRI <= +10% at p50; agent RSS <= 30 MiB"
row() { printf '| %-56s | %8s | %8s | %8s | %5s |\n' "$@"; }
row "pod startup (create -> all containers started)" "p50 s" "p99 s" "total s" "pods"
row "---" "---" "---" "---" "---"
row "skiff kubelet: one after another" "$ks50" "$ks99" "" "$ksn"
row "raw CRI (cri-tool runp+create+start): one after another" "$cs50" "$cs99" "" "$csn"
row "skiff kubelet: burst" "$kb50" "$kb99" "$kb_total" "$kbn"
row "raw CRI: burst (all from one instant)" "$cb50" "$cb99" "$cbmax" "$cbn"
row "SLO (anchor)" "" "5" "" ""
row "Kubernetes density test, 30 pods per node (anchor)" "" "2-2.5" "" "30"
echo "kubelet overhead over raw CRI at p50: one after another $(ratio "$ks50" "$cs50")," \
	"burst $(ratio "$kb50" "$cb50") (its total: $(ratio "$kb_total" "$cbmax"))"
echo "inside containerd, each pod of a burst (p50 s): RunPodSandbox (of it, before the sandbox's" \
	"shim: netns, CNI, pause snapshot), CreateContainer, StartContainer:" \
	"kubelet $kb_runp ($kb_pre), $kb_create, $kb_start; raw CRI $cb_runp ($cb_pre), $cb_create, $cb_start"
echo "skiff-agent with $burst pods running: VmRSS $rss MiB, VmHWM $hwm MiB" \
	"(anchor: Kubernetes' node density test allows the kubelet 50 MiB)"
echo "load average $load (at the burst), $(loadavg) (end) on $(nproc) cores"
assert_eq "$ksn" "$single" "single pods measured"
assert_eq "$kbn" "$burst" "burst pods measured"
finish
