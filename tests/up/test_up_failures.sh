#!/usr/bin/env bash
# Failures while serving, on `skiff up --nodes 2`: kill -9 of skiff-server,
# of node 2's skiff-agent and of node 2's containerd, each in the middle of
# a rolling update of a 4-pod Deployment, while two client loops ask its
# Service, one through the NodePort on both nodes' addresses from the
# machine, one through the ClusterIP from a pod on node 1. Each time: the
# supervisor brings the part back, the rollout completes, exactly the 4
# new pods run (no pod duplicated or lost, in the API and in the
# runtimes), and the clients kept being answered (their failed requests
# are reported). A restarted containerd keeps the sandboxes it ran.
# Last, kill -9 of the registry during a rollout whose new pods pull
# their image (policy Always). Then `skiff down` leaves nothing.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/up_lib.sh"
up_require
require_bin cri-tool

REPLICAS=4

# The running containers of image busybox in node N's containerd.
runtime_busybox() {
	local sock=$DATA/nodes/n$1/containerd.sock
	join <(ctr --address "$sock" -n k8s.io containers ls 2>/dev/null |
		awk '$2 == "skiff.local/busybox:1.35" { print $1 }' | sort) \
	     <(ctr --address "$sock" -n k8s.io tasks ls 2>/dev/null |
		awk '$3 == "RUNNING" { print $1 }' | sort) | wc -l
}
# Whether each node's runtime runs as many busybox containers as the API
# has pods on it (the ClusterIP client is one more on n1).
runtimes_match_api() {
	local n want
	for n in 1 2; do
		want=$(k get pods -l app=web --field-selector "spec.nodeName=n$n" -o name | wc -l)
		[ "$n" = 1 ] && want=$(( want + 1 ))
		[ "$(runtime_busybox "$n")" = "$want" ] || return 1
	done
}

# loop NAME CMD...: runs CMD again and again in the background, one line
# "ok" or "fail: why" per try in $TMP/NAME.log; LOOPS gets its PID.
LOOPS=()
loop() {
	local name=$1; shift
	: >"$TMP/$name.log"
	( while :; do
		if out=$("$@" 2>&1); then echo ok; else echo "fail: ${out//$'\n'/ }"; fi
		sleep 0.05
	  done >>"$TMP/$name.log" ) &
	LOOPS+=($!)
}
stop_loops() {
	local p
	for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	LOOPS=()
}
tries() { grep -c . "$TMP/$1.log"; }
fails() { grep -c '^fail' "$TMP/$1.log"; }

# in_pod PID CMD...: CMD in the network namespace and the cgroup of
# process PID (a pod's): in BPF mode a ClusterIP is translated by the
# socket hooks on the node's pod cgroups, so a client must be in one.
in_pod() {
	local pid=$1 cg
	shift
	cg=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup") || return
	bash -c 'echo $$ >"$0/cgroup.procs" && exec nsenter -t "$1" -n "${@:2}"' "$CG2$cg" "$pid" "$@"
}

# client_loops: NodePort on both nodes' addresses from the machine, and
# the ClusterIP from inside the pod "cl" on n1 (its network namespace and
# cgroup).
client_loops() {
	local ips port cip pid
	ips=$(node_ips)
	port=$(k get svc web-np -o 'jsonpath={.spec.ports[0].nodePort}')
	cip=$(k get svc web -o 'jsonpath={.spec.clusterIP}')
	pid=$(find "$CG2/$NAME.up" -path "*pod$(k get pod cl -o 'jsonpath={.metadata.uid}')*" \
		-name cgroup.procs -exec cat {} + 2>/dev/null | head -n 1)
	[ -n "$port" ] && [ -n "$cip" ] && [ -n "$pid" ] || fail "no NodePort, ClusterIP or client pid"
	# shellcheck disable=SC2086
	set -- $ips
	loop nodeport1 curl -fsS -m 2 "http://$1:$port/"
	loop nodeport2 curl -fsS -m 2 "http://$2:$port/"
	loop clusterip in_pod "$pid" curl -fsS -m 2 "http://$cip/"
	defer stop_loops
}

# Some pods of the new template exist, and the rollout is not done (a new
# pod counts as available only minReadySeconds after it is Ready).
in_rollout() {
	local u a
	read -r u a < <(k get deploy web -o 'jsonpath={.status.updatedReplicas} {.status.availableReplicas}')
	[ "${u:-0}" -ge 1 ] && { [ "$u" -lt "$REPLICAS" ] || [ "${a:-0}" -lt "$REPLICAS" ]; }
}
rolled_out() { k rollout status deployment/web --timeout=5s; }
restarted() { local p; p=$(part_pid "$1"); [ "$p" != "$2" ] && kill -0 "$p"; }
new_pods_only() {
	local hash
	hash=$(k get rs -l app=web -o "jsonpath={.items[?(@.spec.replicas==$REPLICAS)].metadata.labels.pod-template-hash}")
	[ -n "$hash" ] && [ "$(ready_pod_ips web | wc -w)" = "$REPLICAS" ] &&
	[ "$(k get pods -l app=web -o 'jsonpath={.items[*].metadata.labels.pod-template-hash}' | xargs -n 1 | sort | uniq -c | xargs)" = \
	  "$REPLICAS $hash" ]
}

# kill_during_rollout PART [CHANGE...]: the case's body for PART of
# DIR/run; CHANGE starts the rollout (default: a new env value).
kill_during_rollout() {
	local part=$1 old out name t0 f
	shift
	[ $# -gt 0 ] || set -- k set env deployment/web "ROUND=$part"
	client_loops
	within 20 eval '[ "$(tries nodeport1)" -ge 5 ] && [ "$(tries clusterip)" -ge 5 ]' ||
		fail "the client loops do not run: $(tail -n 2 "$TMP"/*.log)"
	t0=$SECONDS
	"$@" >/dev/null || fail "$* failed"
	within 60 in_rollout || fail "the rollout never started: $(k get rs -l app=web 2>&1)"
	old=$(part_pid "$part")
	kill -9 "$old"
	within 60 restarted "$part" "$old" ||
		fail "$part was not restarted: $(tail -n 3 "$DATA/logs/supervisor.log")"
	out=$("$BIN/skiff" status --data-dir "$DATA")
	[[ $out =~ $part\ +[0-9]+\ +[0-9a-z]+\ +1 ]] || fail "status shows no restart of $part: $out"
	within 180 rolled_out || fail "the rollout did not complete after $part's kill: $(k get pods -o wide 2>&1)"
	within 60 new_pods_only ||
		fail "not exactly $REPLICAS ready pods of the new template: $(k get pods -l app=web -o wide 2>&1)"
	within 60 runtimes_match_api ||
		fail "runtimes run $(runtime_busybox 1) and $(runtime_busybox 2) busybox containers, the API has: $(k get pods -o wide 2>&1)"
	within 20 eval 'k get nodes | grep -c " Ready " | grep -qx 2' || fail "a node not Ready: $(k get nodes 2>&1)"
	# the clients were answered all along: a few failures at most
	stop_loops
	for name in nodeport1 nodeport2 clusterip; do
		f=$(fails "$name")
		echo "note: kill -9 $part during a rollout ($(( SECONDS - t0 )) s): $name $f of $(tries "$name") requests failed $(grep -m 2 '^fail' "$TMP/$name.log" | cut -c 1-100 | xargs)"
		[ "$(tries "$name")" -ge 20 ] || fail "$name made only $(tries "$name") requests"
		[ $(( f * 20 )) -le "$(tries "$name")" ] ||
			fail "$name: $f of $(tries "$name") requests failed: $(grep '^fail' "$TMP/$name.log" | sort | uniq -c | head -5)"
	done
}

case_kill_server_during_rollout() { kill_during_rollout server; }
case_kill_agent_during_rollout() { kill_during_rollout n2-agent; }
case_kill_containerd_during_rollout() { kill_during_rollout n2-containerd; }
# The web sandboxes node 2's containerd runs: "ID STATE IP" each, sorted.
n2_sandboxes() {
	local cri=("$TESTBIN/cri-tool" -s "$DATA/nodes/n2/containerd.sock") id
	for id in $("${cri[@]}" pods | jq -r '.[] | select(.labels.app == "web") | .id'); do
		"${cri[@]}" inspectp "$id" | jq -r '"\(.id) \(.state) \(.network.ip)"' || return
	done | sort
}
n2_pods() {
	k get pods -l app=web --field-selector spec.nodeName=n2 \
		-o 'jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}'
}
# A containerd restarted after kill -9 finds the sandboxes the one before
# it ran, Ready with their IPs (their network namespaces, mounted under
# its state dir, are in the node's mount namespace it enters again): the
# kubelet keeps the pods and their IPs (it replaces a sandbox without an
# IP, as upstream's does).
case_containerd_restart_keeps_sandboxes() {
	local before pods old
	before=$(n2_sandboxes)
	pods=$(n2_pods)
	[ -n "$before" ] && ! grep -qv ' SANDBOX_READY [0-9a-f.:]*[0-9a-f]$' <<<"$before" ||
		fail "not every web sandbox on n2 Ready with an IP: $before"
	old=$(part_pid n2-containerd)
	kill -9 "$old"
	within 60 restarted n2-containerd "$old" ||
		fail "n2-containerd was not restarted: $(tail -n 3 "$DATA/logs/supervisor.log")"
	within 30 eval '[ "$(n2_sandboxes)" = "$before" ]' ||
		fail "after the restart the sandboxes are: $(n2_sandboxes) (before: $before)"
	[ "$(n2_pods)" = "$pods" ] || fail "the pods on n2 are: $(n2_pods) (before: $pods)"
}
# The new pods pull their image (policy Always) from the registry that is
# killed: pulls fail until the supervisor restarts it, then go through.
case_kill_registry_during_rollout() {
	kill_during_rollout registry k patch deployment web --type=json -p \
		'[{"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Always"}]'
}

up_start 2
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
{
	# minReadySeconds (the Deployment's spec, the first): a rollout lasts
	# long enough to kill something in it
	web_yaml "$REPLICAS" | sed '0,/^spec:$/s//spec:\n  minReadySeconds: 3/' | k apply -f - >/dev/null &&
	k expose deployment web --name=web-np --type=NodePort --port=80 >/dev/null &&
	k run cl --image=skiff.local/busybox:1.35 --overrides='{"spec":{"nodeName":"n1"}}' -- sleep 3600 >/dev/null &&
	within 120 ready_replicas_are web "$REPLICAS" &&
	k wait --for=condition=Ready pod/cl --timeout=120s >/dev/null
} || {
	echo "FAIL $TEST_FILE/setup: web or cl not Ready"
	k get pods -o wide 2>&1
	exit 1
}
run_case kill_server_during_rollout
run_case kill_agent_during_rollout
run_case kill_containerd_during_rollout
run_case containerd_restart_keeps_sandboxes
run_case kill_registry_during_rollout
up_stop
finish
