#!/usr/bin/env bash
# hollow-nodes against skiff-server over HTTPS (the kubeconfig the server
# writes), checked with the real kubectl 1.27 and 1.33: 20 nodes Ready with
# their Leases renewed; a pod bound to a hollow node turns Running and Ready
# with an address and the kubelet's containerStatuses (Ready after
# --ready-delay), from the node's spec.podCIDR once set; the not-ready label
# keeps a pod unready until it goes; Job-style pods end Succeeded / Failed;
# a deleted pod (grace 30) is gone after --stop-delay; a node named in the
# control file stops renewing; --no-lease; SIGTERM removes every node and
# Lease.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server hollow-nodes
require_cmd curl
require_kubectl

DATA=$TMP/data
SERVER_PID=
PORT=
start_skiff_server "$DATA" "$TMP/server.log" tls

P=t$RUN_ID
NS=hollow-$RUN_ID
N=20
CONTROL=$TMP/control
HOLLOW_LOG=$TMP/hollow.log

# k VERSION args...: kubectl.1.VERSION with the server's kubeconfig.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}
node() { echo "hollow-$P-$1"; }
renew_time() { k 33 -n kube-node-lease get lease "$(node "$1")" -o jsonpath='{.spec.renewTime}'; }
# renewed_since I T: node I's Lease has a renewTime other than T.
renewed_since() { local t; t=$(renew_time "$1") && [ -n "$t" ] && [ "$t" != "$2" ]; }

: >"$CONTROL"
# In a wrapper that keeps its exit status (cases run in subshells).
(
	"$TESTBIN/hollow-nodes" --kubeconfig "$DATA/kubeconfig" --nodes "$N" --prefix "$P" --zones 3 \
		--taint hollow.skiff.io/test=yes:PreferNoSchedule --lease-interval 2 --no-lease 7 \
		--control "$CONTROL" --ready-delay 1500 --stop-delay 1000 --exit-delay 500 --progress 1 \
		--log-level info >"$HOLLOW_LOG" 2>&1 &
	echo $! >"$TMP/hollow.pid"
	wait $!
	echo $? >"$TMP/hollow.rc"
) &
defer "kill_tree $!"
wait_for 5 test -s "$TMP/hollow.pid" || fail "hollow-nodes did not start"
HOLLOW_PID=$(cat "$TMP/hollow.pid")
wait_for 30 grep -q "^hollow-nodes: registered $N nodes" "$HOLLOW_LOG" ||
	fail "hollow-nodes did not register $N nodes: $(tail -n 5 "$HOLLOW_LOG")"
k 33 create namespace "$NS" >/dev/null || fail "cannot create namespace $NS"

# pod NAME NODE [LABELS [ANNOTATIONS [RESTART]]]: a pod bound to node NODE.
pod() {
	k 33 -n "$NS" apply -f - >/dev/null <<YAML || fail "cannot create pod $1"
apiVersion: v1
kind: Pod
metadata:
  name: $1
  labels: {app: hollow${3:+, $3}}
  annotations: {${4:-}}
spec:
  nodeName: $(node "$2")
  restartPolicy: ${5:-Always}
  containers:
  - {name: web, image: "registry.local/web:1"}
  - {name: side, image: "registry.local/side:2"}
YAML
}
# pod_field NAME JSONPATH
pod_field() { k 33 -n "$NS" get pod "$1" -o jsonpath="$2"; }
ready_of() { pod_field "$1" '{.status.conditions[?(@.type=="Ready")].status}'; }
phase_is() { [ "$(pod_field "$1" '{.status.phase}')" = "$2" ]; }
ready_is() { [ "$(ready_of "$1")" = "$2" ]; }

case_help() {
	"$TESTBIN/hollow-nodes" --help | grep -q '^Usage: hollow-nodes' || fail "no usage in --help"
	local err
	err=$("$TESTBIN/hollow-nodes" --taint nocolon 2>&1) && fail "a bad --taint was accepted"
	assert_contains "$err" "--taint"
}

case_nodes_registered_ready_with_leases() {
	local v out
	for v in 27 33; do
		out=$(k "$v" get nodes -l "hollow.skiff.io/prefix=$P" --no-headers)
		assert_eq "$(grep -c ' Ready ' <<<"$out")" "$N" "kubectl.1.$v: $out"
	done
	out=$(k 27 describe node "$(node 4)")
	assert_contains "$out" "topology.kubernetes.io/zone=hollow-zone-1"
	assert_contains "$out" "InternalIP:  10.255.0.5"
	assert_contains "$out" "hollow.skiff.io/test=yes:PreferNoSchedule"
	assert_contains "$out" "HolderIdentity:  $(node 4)"
	assert_eq "$(k 33 get node "$(node 4)" -o jsonpath='{.status.capacity.pods}')" 110
	# every node but 7 (--no-lease 7) holds its Lease
	out=$(k 33 -n kube-node-lease get leases --no-headers -o custom-columns=H:.spec.holderIdentity)
	assert_eq "$(grep -c "^hollow-$P-" <<<"$out")" $((N - 1)) "$out"
	[ "$(grep -cx "$(node 7)" <<<"$out")" = 0 ] || fail "node 7 has a Lease: $out"
}

case_lease_renewals_advance() {
	local t0
	t0=$(renew_time 3)
	[ -n "$t0" ] || fail "lease of $(node 3) has no renewTime"
	wait_for 10 renewed_since 3 "$t0" || fail "renewTime of $(node 3) stayed $t0"
}

case_pod_runs_ready_with_address() {
	local out ip v
	pod web 3
	wait_for 10 ready_is web True || fail "pod web not Ready: $(pod_field web '{.status}')"
	assert_eq "$(pod_field web '{.status.phase}')" Running
	ip=$(pod_field web '{.status.podIP}')
	[[ $ip == 10.128.3.* ]] || fail "pod web IP $ip is not from $(node 3)'s made-up /24"
	assert_eq "$(pod_field web '{.status.podIPs[0].ip}')" "$ip"
	assert_eq "$(pod_field web '{.status.hostIP}')" 10.255.0.4
	assert_eq "$(pod_field web '{.status.containerStatuses[*].ready}')" "true true"
	assert_eq "$(pod_field web '{.status.containerStatuses[*].started}')" "true true"
	assert_eq "$(pod_field web '{.status.containerStatuses[*].restartCount}')" "0 0"
	assert_eq "$(pod_field web '{.status.containerStatuses[?(@.name=="side")].image}')" \
		registry.local/side:2
	# --ready-delay 1500: Running first, Ready at least a second later
	local cond='{.status.conditions[?(@.type=="%s")].lastTransitionTime}'
	out=$(pod_field web "$(printf "$cond $cond" PodReadyToStartContainers Ready)")
	[[ ${out% *} < ${out#* } ]] || fail "Ready did not wait for --ready-delay: $out"
	out=$(pod_field web '{.status.containerStatuses[0].containerID}
		{.status.containerStatuses[0].state.running.startedAt}' | tr -s ' \n\t' ' ')
	[[ $out == hollow://*-web\ 20* ]] || fail "containerID / running state: $out"
	for v in 27 33; do
		out=$(k "$v" -n "$NS" get pod web -o wide --no-headers | tr -s ' ')
		assert_contains "$out" "web 2/2 Running 0" "kubectl.1.$v"
		assert_contains "$out" "$ip $(node 3)" "kubectl.1.$v"
	done
	out=$(k 33 -n "$NS" describe pod web)
	grep -qE "^Status: +Running$" <<<"$out" || fail "describe: no Status Running: $out"
	grep -qE "^IP: +$ip$" <<<"$out" || fail "describe: no IP $ip: $out"
	grep -qE "^Node: +$(node 3)/10.255.0.4$" <<<"$out" || fail "describe: no Node: $out"
	grep -qE "^ +Container ID: +hollow://" <<<"$out" || fail "describe: no Container ID: $out"
}

case_pod_address_from_node_pod_cidr() {
	# as node IPAM would set it
	k 33 patch node "$(node 11)" --type merge -p '{"spec":{"podCIDR":"10.99.11.0/24"}}' >/dev/null ||
		fail "cannot set spec.podCIDR of $(node 11)"
	sleep 1 # for hollow-nodes' node informer: one watch event on another stream than the pod's
	pod ipam 11
	wait_for 10 ready_is ipam True || fail "pod ipam not Ready"
	[[ $(pod_field ipam '{.status.podIP}') == 10.99.11.* ]] ||
		fail "pod ipam IP $(pod_field ipam '{.status.podIP}') is not from spec.podCIDR 10.99.11.0/24"
}

case_not_ready_label_keeps_pod_unready() {
	pod lazy 5 'hollow.skiff.io/ready: "false"'
	wait_for 10 phase_is lazy Running || fail "pod lazy not Running: $(pod_field lazy '{.status}')"
	sleep 2 # past --ready-delay
	assert_eq "$(ready_of lazy)" False
	assert_eq "$(pod_field lazy '{.status.containerStatuses[*].ready}')" "false false"
	assert_contains "$(k 27 -n "$NS" get pod lazy --no-headers | tr -s ' ')" "lazy 0/2 Running"
	k 33 -n "$NS" label pod lazy hollow.skiff.io/ready- >/dev/null
	wait_for 10 ready_is lazy True || fail "pod lazy not Ready once the label went"
}

case_job_pods_finish() {
	pod ok 6 "" 'hollow.skiff.io/exit-code: "0"' Never
	pod bad 6 "" 'hollow.skiff.io/exit-code: "3"' OnFailure
	wait_for 10 phase_is ok Succeeded || fail "pod ok: $(pod_field ok '{.status}')"
	wait_for 10 phase_is bad Failed || fail "pod bad: $(pod_field bad '{.status}')"
	assert_eq "$(pod_field bad '{.status.containerStatuses[0].state.terminated.exitCode}')" 3
	assert_eq "$(pod_field ok '{.status.containerStatuses[0].state.terminated.reason}')" Completed
	assert_eq "$(ready_of ok)" False
}

case_deleted_pod_disappears() {
	local t0
	pod doomed 8
	wait_for 10 ready_is doomed True || fail "pod doomed not Ready"
	t0=$(date +%s%N)
	k 33 -n "$NS" delete pod doomed --grace-period 30 --wait=false >/dev/null
	wait_for 10 sh -c "! '$KDIR/kubectl.1.33' --kubeconfig '$DATA/kubeconfig' -n '$NS' get pod doomed" ||
		fail "pod doomed still there 10 s after its delete"
	t0=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ "$t0" -lt 5000 ] || fail "pod doomed took $t0 ms to go"
	[ "$t0" -ge 1000 ] || fail "pod doomed went after $t0 ms, before --stop-delay 1000"
}

case_silent_node_stops_renewing() {
	local t_quiet t_other
	echo "silent $(node 9)" >"$CONTROL"
	wait_for 10 grep -q "node $(node 9): silent" "$HOLLOW_LOG" || fail "control file not read"
	sleep 1
	t_quiet=$(renew_time 9)
	t_other=$(renew_time 10)
	sleep 5
	assert_eq "$(renew_time 9)" "$t_quiet" "renewals of the silent node"
	assert_ne "$(renew_time 10)" "$t_other" "renewals of its neighbour"
	: >"$CONTROL"
	wait_for 10 renewed_since 9 "$t_quiet" || fail "$(node 9) did not speak again"
}

case_sigterm_leaves_nothing() {
	local out
	kill -TERM "$HOLLOW_PID"
	wait_for 30 test -s "$TMP/hollow.rc" || fail "hollow-nodes still runs 30 s after SIGTERM"
	assert_eq "$(cat "$TMP/hollow.rc")" 0 "exit status after SIGTERM: $(tail -n 3 "$HOLLOW_LOG")"
	out=$(grep '^hollow-nodes: summary' "$HOLLOW_LOG") || fail "no summary line"
	assert_contains "$out" "deleted_nodes=$N deleted_leases=$((N - 1))"
	assert_contains "$out" " errors=0 "
	assert_eq "$(k 33 get nodes -l "hollow.skiff.io/prefix=$P" --no-headers 2>&1)" "No resources found"
	out=$(k 33 -n kube-node-lease get leases --no-headers 2>&1)
	assert_not_contains "$out" "hollow-$P-"
}

run_case help
run_case nodes_registered_ready_with_leases
run_case lease_renewals_advance
run_case pod_runs_ready_with_address
run_case pod_address_from_node_pod_cidr
run_case not_ready_label_keeps_pod_unready
run_case job_pods_finish
run_case deleted_pod_disappears
run_case silent_node_stops_renewing
run_case sigterm_leaves_nothing
finish
