#!/usr/bin/env bash
# The kubelet's probes and lifecycle hooks (issue 11): readiness (exec,
# httpGet on a named port, tcpSocket, grpc) flipping the pod's Ready condition
# both ways and, through skiff-server's endpointslice controller, its
# endpoint in the Service's EndpointSlice; a liveness failure restarting
# the container (Killing event); a startup probe holding liveness off,
# and one that never passes killing its container; preStop hooks running
# before SIGTERM (and FailedPreStopHook); postStart.
#
# The node is tests/dataplane/kubelet_env.sh's. A pod's script waits at
# `nc -l -p 9000` between its steps; the test moves it on with one
# connection (poke), so nothing here waits on a clock but the probes'.
. "$(dirname "$0")/../harness/lib.sh"
SUBNET_PREFIX=10.68.0
KUBELET_SERVER_FLAGS="--controllers endpointslice,serviceaccount,root-ca-cert-publisher --no-scheduler"
. "$SKIFF_ROOT/tests/dataplane/kubelet_env.sh"

GRACE="terminationGracePeriodSeconds: 1"
STEP='nc -l -p 9000 </dev/null >/dev/null'

# poke POD: moves its script to the next step.
poke() {
	local ip
	ip=$(jp "$1" '{.status.podIP}')
	[ -n "$ip" ] || fail "$1 has no IP"
	wait_for 10 eval "echo go | in_node nc -w 1 $ip 9000" || fail "cannot poke $1 at $ip:9000"
}
cond() { jp "$1" "{.status.conditions[?(@.type==\"$2\")].status}"; }
first_status() { jp "$1" "{.status.containerStatuses[0].$2}"; }
has_event() { events "$1" message | grep -q -- "$2"; }
wait_event() { wait_for "${3:-20}" has_event "$1" "$2" || fail "$1: no event \"$2\": $(events "$1" message) all: $(k get events -A 2>&1 | tail -5)"; }
not_ready() { [ "$(cond "$1" Ready)" = False ]; }
# slice_ready SERVICE: the ready conditions of its EndpointSlices' endpoints.
slice_ready() {
	k get endpointslices -l "kubernetes.io/service-name=$1" \
		-o 'jsonpath={.items[*].endpoints[*].conditions.ready}' 2>/dev/null
}
service() {
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec: {selector: {app: %s}, ports: [{port: 80, targetPort: 8080}]}\n' \
		"$1" "$1" | kapply
}
ms_since() { echo "($(date +%s%N) - $1) / 1000000" | bc; }

# Readiness by exec: false until the first success, then true and false
# as the file comes and goes; the Service's endpoint follows.
case_readiness_exec() {
	agent_up
	service rexec
	POD_LABELS="app: rexec" pod rexec "$GRACE" "containers:" "$(sh_container c \
		"$STEP; touch /tmp/ready; $STEP; rm /tmp/ready; exec sleep 3600" \
		'readinessProbe: {exec: {command: [test, -f, /tmp/ready]}, periodSeconds: 1, failureThreshold: 1}')"
	wait_for 30 phase_is rexec Running || fail "rexec never Running: $(jp rexec '{.status}')"
	wait_event rexec "Readiness probe failed"
	not_ready rexec || fail "Ready before its probe passed: $(jp rexec '{.status}')"
	assert_eq "$(cond rexec ContainersReady)" False
	assert_eq "$(first_status rexec ready)" false
	assert_eq "$(first_status rexec started)" true
	wait_for 20 eval '[ "$(slice_ready rexec)" = false ]' ||
		fail "no not-ready endpoint: $(k get endpointslices -o yaml)"
	local t0
	poke rexec
	t0=$(date +%s%N)
	wait_for 10 ready rexec || fail "rexec never Ready: $(jp rexec '{.status}')"
	echo "readiness exec: file made to Ready in $(ms_since "$t0") ms (period 1 s;" \
		"$(uptime | sed "s/.*load/load/"))"
	assert_eq "$(cond rexec ContainersReady)" True
	wait_for 10 eval '[ "$(slice_ready rexec)" = true ]' ||
		fail "endpoint not ready: $(k get endpointslices -o yaml)"
	echo "readiness exec: file made to a ready endpoint in $(ms_since "$t0") ms"
	poke rexec
	wait_for 10 not_ready rexec || fail "rexec still Ready: $(jp rexec '{.status}')"
	assert_contains "$(jp rexec '{.status.conditions[?(@.type=="Ready")].message}')" "[c]"
	wait_for 10 eval '[ "$(slice_ready rexec)" = false ]' ||
		fail "endpoint still ready: $(k get endpointslices -o yaml)"
	assert_eq "$(first_status rexec restartCount)" 0
	k delete service rexec >/dev/null
	delete_pod rexec
}

# Readiness by httpGet on a named port, with a header, against busybox
# httpd: 404 until the file is there, 200 then (kept across an agent
# restart), 404 again.
case_readiness_http() {
	agent_up
	pod rhttp "$GRACE" "containers:" "$(sh_container c \
		"mkdir /www; httpd -p 8080 -h /www; $STEP; echo ok > /www/healthz; $STEP; rm /www/healthz; exec sleep 3600" \
		'ports: [{name: web, containerPort: 8080}]' \
		'readinessProbe: {httpGet: {path: /healthz, port: web, httpHeaders: [{name: X-Probe, value: skiff}]}, periodSeconds: 1, failureThreshold: 1}')"
	wait_for 30 phase_is rhttp Running || fail "rhttp never Running: $(jp rhttp '{.status}')"
	wait_event rhttp "Readiness probe failed: HTTP probe failed with statuscode: 404"
	not_ready rhttp || fail "Ready on a 404"
	poke rhttp
	wait_for 10 ready rhttp || fail "rhttp never Ready: $(events rhttp message)"
	# an agent killed and started again keeps the result: no flap
	local since
	since=$(jp rhttp '{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')
	agent_kill
	agent_start
	sleep 3 # relists and probes of the new agent
	assert_eq "$(jp rhttp '{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')" "$since"
	ready rhttp || fail "rhttp not Ready after the agent's restart"
	poke rhttp
	wait_for 10 not_ready rhttp || fail "rhttp still Ready"
	delete_pod rhttp
}

# Readiness by tcpSocket: refused until the server listens.
case_tcp_socket() {
	agent_up
	pod rtcp "$GRACE" "containers:" "$(sh_container c \
		"$STEP; mkdir /www; exec httpd -f -p 8080 -h /www" \
		'readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}')"
	wait_for 30 phase_is rtcp Running || fail "rtcp never Running: $(jp rtcp '{.status}')"
	wait_event rtcp "Readiness probe failed: dial tcp $SUBNET_PREFIX"
	assert_contains "$(events rtcp message)" "connection refused"
	not_ready rtcp || fail "Ready with nothing listening"
	poke rtcp
	wait_for 10 ready rtcp || fail "rtcp never Ready: $(events rtcp message)"
	delete_pod rtcp
}

# gRPC: grpc.health.v1 Health/Check against etcd (which serves it) run in
# the pod's network namespace: refused, SERVING, then gone again.
case_grpc() {
	command -v etcd >/dev/null || skip_case "no etcd to serve grpc.health.v1"
	agent_up
	pod rgrpc "$GRACE" "containers:" "$(sh_container c 'exec sleep 3600' \
		'readinessProbe: {grpc: {port: 2379}, periodSeconds: 1, failureThreshold: 1}')"
	wait_for 30 phase_is rgrpc Running || fail "rgrpc never Running: $(jp rgrpc '{.status}')"
	wait_event rgrpc "Readiness probe failed: failed to connect service"
	local uid ip id pid ep
	uid=$(jp rgrpc '{.metadata.uid}')
	ip=$(jp rgrpc '{.status.podIP}')
	for id in $(cri pods --quiet); do
		cri inspectp "$id" | grep -q "\"$uid\"" && break
	done
	pid=$(cri inspectp "$id" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' | head -1)
	[ -n "$pid" ] || fail "no sandbox pid for $uid"
	nsenter --net="/proc/$pid/ns/net" etcd --name p --data-dir "$TMP/etcd" \
		--listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster p=http://127.0.0.1:2380 >"$TMP/etcd.log" 2>&1 &
	ep=$!
	defer "kill_tree $ep"
	wait_for 30 ready rgrpc ||
		fail "rgrpc never Ready: $(events rgrpc message) $(tail -3 "$TMP/etcd.log")"
	kill_tree "$ep"
	wait_for 10 not_ready rgrpc || fail "rgrpc still Ready without its server"
	delete_pod rgrpc
}

# A liveness failure (failureThreshold 2) restarts the container: restart
# count 1, a Killing event saying why; the new instance is live again.
case_liveness_restarts() {
	agent_up
	pod live "$GRACE" "containers:" "$(sh_container c \
		"touch /tmp/alive; $STEP; rm /tmp/alive; exec sleep 3600" \
		'livenessProbe: {exec: {command: [test, -f, /tmp/alive]}, periodSeconds: 1, failureThreshold: 2}')"
	wait_for 30 ready live || fail "live never Ready: $(jp live '{.status}')"
	sleep 2 # two periods: a live container is left alone
	assert_eq "$(first_status live restartCount)" 0
	poke live
	wait_for 30 restarts_at_least live 1 || fail "live never restarted: $(jp live '{.status}')"
	assert_eq "$(first_status live restartCount)" 1
	assert_contains "$(first_status live lastState.terminated.reason)" Error
	wait_event live "Container c failed liveness probe, will be restarted"
	assert_contains "$(events live message)" "Liveness probe failed"
	assert_contains "$(events live reason)" Killing
	wait_for 20 ready live || fail "live not Ready after its restart"
	sleep 2
	assert_eq "$(first_status live restartCount)" 1
	delete_pod live
}

# Liveness waits for the startup probe (which would otherwise kill the
# container within a second); a startup probe that never passes kills it.
case_startup_probe() {
	agent_up
	pod slow "$GRACE" "containers:" "$(sh_container c \
		"$STEP; touch /tmp/started; exec sleep 3600" \
		'startupProbe: {exec: {command: [test, -f, /tmp/started]}, periodSeconds: 1, failureThreshold: 60}' \
		'livenessProbe: {exec: {command: [test, -f, /tmp/started]}, periodSeconds: 1, failureThreshold: 1}')"
	wait_for 30 phase_is slow Running || fail "slow never Running: $(jp slow '{.status}')"
	wait_event slow "Startup probe failed"
	sleep 2
	assert_eq "$(first_status slow started)" false
	assert_eq "$(first_status slow ready)" false
	assert_eq "$(first_status slow restartCount)" 0
	has_event slow "Liveness probe" && fail "liveness ran before startup passed"
	poke slow
	wait_for 10 ready slow || fail "slow never Ready: $(jp slow '{.status}')"
	assert_eq "$(first_status slow started)" true
	assert_eq "$(first_status slow restartCount)" 0

	pod stuck "$GRACE" "containers:" "$(sh_container c 'exec sleep 3600' \
		'startupProbe: {exec: {command: [test, -f, /nonexistent]}, periodSeconds: 1, failureThreshold: 2}')"
	wait_for 30 restarts_at_least stuck 1 || fail "stuck never restarted: $(jp stuck '{.status}')"
	wait_event stuck "Container c failed startup probe, will be restarted"
	assert_eq "$(first_status stuck started)" false
	delete_pod slow
	delete_pod stuck
}

# preStop runs in the running container before SIGTERM (it reaches a
# listener on the node); a failing one is a FailedPreStopHook event and
# the pod still goes. postStart runs after the start (the readiness probe
# sees its file).
case_hooks() {
	local lp out="$TMP/prestop.out"
	agent_up
	in_node ip addr replace 192.0.2.10/32 dev lo
	in_node timeout 60 nc -l 192.0.2.10 19000 >"$out" </dev/null &
	lp=$!
	defer "kill_tree $lp"
	pod stopper "terminationGracePeriodSeconds: 10" "containers:" "$(sh_container c \
		'trap \"echo got-term; exit 0\" TERM; while true; do sleep 0.2; done' \
		'lifecycle: {preStop: {exec: {command: [sh, -c, "echo prestop-'"$RUN_ID"' | nc -w 1 192.0.2.10 19000"]}},
			postStart: {exec: {command: [sh, -c, "echo started > /tmp/poststart"]}}}' \
		'readinessProbe: {exec: {command: [test, -f, /tmp/poststart]}, periodSeconds: 1}')"
	wait_for 30 ready stopper || fail "stopper never Ready (postStart?): $(events stopper message)"
	delete_pod stopper
	wait_for 10 grep -q "prestop-$RUN_ID" "$out" || fail "preStop never ran: $(cat "$out")"
	has_event stopper FailedPreStopHook && fail "preStop failed: $(events stopper message)"

	pod badstop "$GRACE" "containers:" "$(sh_container c 'exec sleep 3600' \
		'lifecycle: {preStop: {exec: {command: [sh, -c, "echo no; exit 3"]}}}')"
	wait_for 30 ready badstop || fail "badstop never Ready"
	delete_pod badstop
	wait_event badstop "Exec lifecycle hook (\[sh -c echo no; exit 3\]) for Container \"c\""
	assert_contains "$(events badstop reason)" FailedPreStopHook
}

# Everything the kubelet made is gone once its pods are.
case_nothing_left() {
	assert_eq "$(cri pods --quiet | wc -l)" 0
	assert_eq "$(cri ps --quiet | wc -l)" 0
	! grep -m3 "AddressSanitizer\|runtime error" "$ALOG" || fail "the agent's log has errors"
	return 0
}

# KUBELET_CASES="a b": only those (while working on one).
for c in ${KUBELET_CASES:-readiness_exec readiness_http tcp_socket grpc liveness_restarts \
	startup_probe hooks nothing_left}; do
	run_case "$c"
done
finish
