#!/usr/bin/env bash
# The controllers and the scheduler inside skiff-server, seen through the
# real kubectl (1.27 and 1.33) and curl. There is no kubelet: nodes are
# made by hand (Ready), as a hollow node would post them.
#   schedule          - a pod is bound to the Ready node (Scheduled event in
#                       `kubectl get events`, spec.nodeName), through the
#                       scheduler's own identity (system:kube-scheduler,
#                       bootstrap ClusterRole/Binding); a pod that fits
#                       nowhere gets FailedScheduling with upstream's text
#                       and PodScheduled=False, and is bound once a node
#                       it fits joins
#   flags             - --controllers=none --no-scheduler leaves pods
#                       unbound and takes no Lease; an unknown controller
#                       name, a bad --lb-cidr, --leader-elect or
#                       --concurrent-*-syncs is refused
#   ipam              - node IPAM (--cluster-cidr) and LoadBalancer IPs
#                       (--lb-cidr), the default ServiceAccount of a new
#                       namespace
#   endpoints         - (3 EndpointSlice workers, 1 for Endpoints)
#                       a Service and its pods marked Ready by hand: an
#                       EndpointSlice and the Endpoints object list them;
#                       a pod turned unready is ready=false in its slice
#                       and leaves the Endpoints' addresses
#   workloads         - a DaemonSet gets a pod bound on each node, a Job its
#                       pod, with "Created pod: NAME" events; a Deployment
#                       its ReplicaSet and pods, `kubectl scale` more, one
#                       ScalingReplicaSet event for one scale-down, and
#                       `kubectl set image` a second ReplicaSet with
#                       ScalingReplicaSet events; a PodDisruptionBudget its
#                       status (expectedPods, disruptionsAllowed)
#   gc                - a pod whose owner does not exist is deleted by the
#                       garbage collector; with --terminated-pod-gc-threshold
#                       1, pod GC deletes the older of two Failed pods
#   leader_failover   - two servers on one etcd: one Lease holder for the
#                       controllers and one for the scheduler, every pod
#                       bound once (one Scheduled event each); kill -9 of
#                       the leader: the other takes both Leases within 15 s
#                       (leaseTransitions + 1) and binds the next pods; a
#                       ReplicaSet of 10 has exactly 10 pods before and
#                       after the failover, 12 once scaled by the new leader;
#                       etcd paused (SIGSTOP): the leader, unable to renew,
#                       stops its loops at the 10 s deadline, and leads
#                       again once etcd answers
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl jq
KDIR=$(dpkg -L kubectl 2>/dev/null | grep -m1 '/kubectl\.1\.33$' | xargs -r dirname)
[ -n "$KDIR" ] && [ -x "$KDIR/kubectl.1.27" ] || skip "needs kubectl.1.27 and kubectl.1.33 (Debian package kubectl)"

# k VERSION args...: kubectl.1.VERSION on $DATA's kubeconfig.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}

# node NAME CPU: a Ready node with CPU cores and 8Gi, as a kubelet posts it.
node() {
	cat <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels: {kubernetes.io/hostname: $1}
status:
  capacity: {cpu: "$2", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "$2", memory: 8Gi, pods: "110"}
  conditions:
  - {type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status}
YAML
}

# pod NAME CPU: a pod requesting CPU.
pod() {
	cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  containers:
  - {name: c, image: busybox, resources: {requests: {cpu: "$2"}}}
YAML
}

node_of() { k "$1" get pod "$2" -o jsonpath='{.spec.nodeName}'; }
bound_to() { [ "$(node_of "$1" "$2")" = "$3" ]; }

case_schedule() {
	local v out
	DATA=$TMP/sched
	start_skiff_server "$DATA" "$TMP/sched.log" tls --controllers=none
	node n1 4 | k 33 apply -f - >/dev/null || fail "node n1: cannot create"
	for v in 27 33; do
		pod "p$v" 100m | k "$v" apply -f - >/dev/null || fail "pod p$v: cannot create"
		wait_for 10 bound_to "$v" "p$v" n1 || fail "p$v not bound to n1: '$(node_of "$v" "p$v")'"
		wait_for 10 eval "k $v get events --field-selector involvedObject.name=p$v | grep -q Scheduled" ||
			fail "no Scheduled event for p$v: $(k "$v" get events 2>&1)"
		out=$(k "$v" get events --field-selector involvedObject.name=p$v)
		assert_contains "$out" "Successfully assigned default/p$v to n1" "kubectl 1.$v get events"
	done
	out=$(k 33 get clusterrolebinding system:kube-scheduler -o jsonpath='{.subjects[0].name}')
	assert_eq "$out" system:kube-scheduler "the scheduler's bootstrap binding"
	assert_ok test -s "$DATA/cred/scheduler.kubeconfig"

	# Fits nowhere: FailedScheduling as upstream words it, PodScheduled=False.
	pod big 6 | k 33 apply -f - >/dev/null || fail "pod big: cannot create"
	wait_for 10 eval "k 33 get events --field-selector involvedObject.name=big | grep -q FailedScheduling" ||
		fail "no FailedScheduling for big: $(k 33 get events 2>&1)"
	out=$(k 27 get events --field-selector involvedObject.name=big)
	assert_contains "$out" "0/1 nodes are available: 1 Insufficient cpu." "kubectl 1.27 get events"
	out=$(k 33 get pod big -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].status}/{.status.conditions[?(@.type=="PodScheduled")].reason}')
	assert_eq "$out" "False/Unschedulable" "big's PodScheduled condition"
	assert_eq "$(node_of 33 big)" "" "big must stay unbound"
	# A node it fits: the parked pod is retried and bound.
	node n2 8 | k 33 apply -f - >/dev/null || fail "node n2: cannot create"
	wait_for 10 bound_to 33 big n2 || fail "big not bound to n2 after it joined: '$(node_of 33 big)'"
}

case_flags() {
	local out rc
	DATA=$TMP/flags
	out=$("$BIN/skiff-server" --data-dir "$DATA" --controllers=replicaset,bogus 2>&1); rc=$?
	assert_eq "$rc" 2 "an unknown controller name"
	assert_contains "$out" 'unknown controller "bogus"'
	out=$("$BIN/skiff-server" --data-dir "$DATA" --lb-cidr 10.0.0.0/24,10.1.0.0/24 2>&1); rc=$?
	assert_eq "$rc" 2 "two --lb-cidr pools of one family"
	assert_contains "$out" '--lb-cidr: invalid'
	out=$("$BIN/skiff-server" --data-dir "$DATA" --leader-elect=maybe 2>&1); rc=$?
	assert_eq "$rc" 2 "--leader-elect=maybe"
	out=$("$BIN/skiff-server" --data-dir "$DATA" --concurrent-replicaset-syncs 0 2>&1); rc=$?
	assert_eq "$rc" 2 "--concurrent-replicaset-syncs 0"
	assert_contains "$out" '--concurrent-replicaset-syncs'
	start_skiff_server "$DATA" "$TMP/flags.log" tls --controllers=none --no-scheduler
	node n1 4 | k 33 apply -f - >/dev/null || fail "node n1: cannot create"
	pod idle 100m | k 33 apply -f - >/dev/null || fail "pod idle: cannot create"
	k 33 create namespace quiet >/dev/null || fail "namespace quiet: cannot create"
	sleep 2
	assert_eq "$(node_of 33 idle)" "" "no scheduler: the pod stays unbound"
	out=$(k 33 get leases -n kube-system -o name)
	assert_eq "$out" "" "no loop, no Lease"
}

case_ipam() {
	local v out
	DATA=$TMP/ipam
	start_skiff_server "$DATA" "$TMP/ipam.log" tls --no-scheduler \
		--controllers='*,-nodelifecycle' --cluster-cidr 10.244.0.0/16 --node-cidr-mask-size-ipv4 26 \
		--lb-cidr 192.0.2.16/30
	node n1 4 | k 33 apply -f - >/dev/null || fail "node n1: cannot create"
	wait_for 10 eval "[ -n \"\$(k 33 get node n1 -o jsonpath='{.spec.podCIDR}')\" ]" ||
		fail "n1 got no podCIDR"
	assert_eq "$(k 27 get node n1 -o jsonpath='{.spec.podCIDR} {.spec.podCIDRs[0]}')" \
		"10.244.0.0/26 10.244.0.0/26" "n1's podCIDR"
	k 33 create service loadbalancer lb --tcp=80:80 >/dev/null || fail "service lb: cannot create"
	wait_for 10 eval "[ -n \"\$(k 33 get svc lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')\" ]" ||
		fail "lb got no address"
	out=$(k 27 get svc lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
	case "$out" in 192.0.2.1[6-9]) ;; *) fail "lb's address $out is outside --lb-cidr";; esac
	wait_for 10 eval "k 33 get events --field-selector involvedObject.name=lb | grep -q IPAllocated" ||
		fail "no IPAllocated event: $(k 33 get events 2>&1)"
	k 33 create namespace team >/dev/null || fail "namespace team: cannot create"
	wait_for 10 k 33 get serviceaccount default -n team || fail "namespace team has no default ServiceAccount"
}

# ready VERSION POD IP READY: the pod's status as a kubelet would post it.
ready() {
	k "$1" patch pod "$2" --subresource=status --type=merge -p \
		"{\"status\":{\"phase\":\"Running\",\"podIP\":\"$3\",\"podIPs\":[{\"ip\":\"$3\"}],\"conditions\":[{\"type\":\"Ready\",\"status\":\"$4\"}]}}" >/dev/null
}

case_endpoints() {
	local out
	DATA=$TMP/eps
	# three EndpointSlice workers and one for Endpoints: the same outcome
	start_skiff_server "$DATA" "$TMP/eps.log" tls --controllers='*,-nodelifecycle' \
		--concurrent-service-endpoint-syncs 3 --concurrent-endpoint-syncs 1
	node n1 4 | k 33 apply -f - >/dev/null || fail "node n1: cannot create"
	k 33 run web1 --image=busybox --labels=app=web --port=8080 >/dev/null || fail "pod web1"
	k 27 run web2 --image=busybox --labels=app=web --port=8080 >/dev/null || fail "pod web2"
	k 33 create service clusterip web --tcp=80:8080 >/dev/null || fail "service web"
	wait_for 10 bound_to 33 web1 n1 || fail "web1 not bound"
	wait_for 10 bound_to 33 web2 n1 || fail "web2 not bound"
	ready 33 web1 10.244.0.11 True
	ready 27 web2 10.244.0.12 True
	slice() { k 33 get endpointslices -l kubernetes.io/service-name=web \
		-o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready}@{.nodeName} {end}'; }
	wait_for 10 eval '[ "$(slice)" = "10.244.0.11=true@n1 10.244.0.12=true@n1 " ]' ||
		fail "slice of web: '$(slice)'"
	out=$(k 27 get endpointslices -l kubernetes.io/service-name=web -o jsonpath='{.items[0].metadata.labels.endpointslice\.kubernetes\.io/managed-by}')
	assert_eq "$out" endpointslice-controller.k8s.io "managed-by label"
	out=$(k 27 get endpoints web -o jsonpath='{.subsets[0].addresses[*].ip}')
	assert_eq "$out" "10.244.0.11 10.244.0.12" "Endpoints of web"
	ready 33 web1 10.244.0.11 False
	wait_for 10 eval '[ "$(slice)" = "10.244.0.11=false@n1 10.244.0.12=true@n1 " ]' ||
		fail "web1 still ready in the slice: '$(slice)'"
	wait_for 10 eval '[ "$(k 33 get endpoints web -o jsonpath="{.subsets[0].addresses[*].ip}")" = 10.244.0.12 ]' ||
		fail "Endpoints after web1 turned unready: $(k 33 get endpoints web -o yaml)"
}

case_workloads() {
	local out
	DATA=$TMP/work
	start_skiff_server "$DATA" "$TMP/work.log" tls --controllers='*,-nodelifecycle'
	node n1 4 | k 33 apply -f - >/dev/null || fail "node n1: cannot create"
	node n2 4 | k 33 apply -f - >/dev/null || fail "node n2: cannot create"
	cat <<YAML | k 33 apply -f - >/dev/null || fail "DaemonSet ds"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {matchLabels: {app: ds}}
  template:
    metadata: {labels: {app: ds}}
    spec: {containers: [{name: c, image: busybox}]}
YAML
	k 27 create job j1 --image=busybox -- true >/dev/null || fail "Job j1"
	nodes_of_ds() { k 33 get pods -l app=ds -o jsonpath='{range .items[*]}{.spec.nodeName} {end}' |
		tr ' ' '\n' | sort | tr '\n' ' '; }
	wait_for 10 eval '[ "$(nodes_of_ds)" = "n1 n2 " ]' || fail "DaemonSet pods on: '$(nodes_of_ds)'"
	wait_for 10 eval '[ -n "$(k 33 get pods -l job-name=j1 -o name)" ]' || fail "Job j1 made no pod"
	out=$(k 33 get pods -l job-name=j1 -o jsonpath='{.items[0].metadata.name}')
	wait_for 10 eval 'k 33 get events --field-selector involvedObject.name=j1 | grep -q "Created pod: $out"' ||
		fail "no 'Created pod: $out' event: $(k 33 get events 2>&1)"

	k 27 create deployment web --image=busybox --replicas=3 >/dev/null || fail "Deployment web"
	pods_of_web() { k 33 get pods -l app=web -o name | wc -l; }
	wait_for 15 eval '[ "$(pods_of_web)" = 3 ]' || fail "web has $(pods_of_web) pods, not 3"
	k 33 scale deployment web --replicas=5 >/dev/null || fail "kubectl scale"
	wait_for 15 eval '[ "$(pods_of_web)" = 5 ]' || fail "web has $(pods_of_web) pods after scale, not 5"
	# one scale-down, one event: not one per sync while the ReplicaSet's
	# status follows its pods (they stay Terminating: there is no kubelet)
	k 33 scale deployment web --replicas=4 >/dev/null || fail "kubectl scale down"
	wait_for 15 eval '[ "$(k 33 get rs -l app=web -o jsonpath={.items[0].status.replicas})" = 4 ]' ||
		fail "web's ReplicaSet: $(k 33 get rs -l app=web 2>&1)"
	sleep 2
	out=$(k 33 get events -o json | jq '[.items[] | select(.involvedObject.name == "web" and .reason == "ScalingReplicaSet") | select(.message | test("Scaled down replica set web-[a-z0-9]+ to 4 from 5$")) | .count] | add')
	assert_eq "$out" 1 "ScalingReplicaSet events (counts summed) for one scale-down"
	k 33 set image deployment/web busybox=busybox:2 >/dev/null || fail "kubectl set image"
	wait_for 15 eval '[ "$(k 33 get rs -l app=web -o name | wc -l)" = 2 ]' ||
		fail "no second ReplicaSet: $(k 33 get rs 2>&1)"
	out=$(k 27 get events --field-selector involvedObject.name=web)
	assert_contains "$out" "Scaled up replica set web-" "ScalingReplicaSet events"
	out=$(k 33 rollout history deployment/web)
	assert_contains "$out" "2 " "rollout history lists revision 2"

	k 33 create deployment db --image=busybox --replicas=2 >/dev/null || fail "Deployment db"
	k 27 create pdb db --selector=app=db --min-available=1 >/dev/null || fail "PodDisruptionBudget db"
	pdb() { k 33 get pdb db -o jsonpath='{.status.expectedPods}/{.status.currentHealthy}/{.status.disruptionsAllowed}'; }
	wait_for 15 eval '[ "$(pdb)" = 2/0/0 ]' || fail "PDB db status: '$(pdb)'"
}

case_gc() {
	local out
	DATA=$TMP/gc
	start_skiff_server "$DATA" "$TMP/gc.log" tls --controllers='*,-nodelifecycle' --no-scheduler \
		--terminated-pod-gc-threshold 1
	cat <<YAML | k 33 apply -f - >/dev/null || fail "pod orphan"
apiVersion: v1
kind: Pod
metadata:
  name: orphan
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: gone, uid: 6a3e5b0e-0000-4000-8000-000000000001, controller: true}
spec: {containers: [{name: c, image: busybox}]}
YAML
	wait_for 10 eval '! k 33 get pod orphan' || fail "the pod of a missing owner is still there"
	for p in old new; do
		pod "$p" 10m | k 33 apply -f - >/dev/null || fail "pod $p"
		k 33 patch pod "$p" --subresource=status --type=merge -p '{"status":{"phase":"Failed"}}' \
			>/dev/null || fail "pod $p: status"
		sleep 1.1 # creationTimestamp has seconds: old is older
	done
	wait_for 25 eval '! k 33 get pod old' || fail "pod GC left the older Failed pod"
	assert_ok k 33 get pod new
}

# ---- two servers on one etcd ----

ETCD_PORT=$(free_port 2)

# server NAME: skiff-server NAME on the shared etcd (plain HTTP on its
# loopback port); its PID in $TMP/NAME.pid, its port in $TMP/NAME.port.
server() {
	local SERVER_PID PORT
	start_skiff_server "$TMP/$1" "$TMP/$1.log" plain --store "etcd://127.0.0.1:$ETCD_PORT/ha-$RUN_ID" \
		--controllers='*,-nodelifecycle' --log-level info
	echo "$SERVER_PID" >"$TMP/$1.pid"
	echo "$PORT" >"$TMP/$1.port"
}

# kp NAME args...: kubectl 1.33 against server NAME.
kp() {
	local s=$1; shift
	"$KDIR/kubectl.1.33" -s "http://127.0.0.1:$(cat "$TMP/$s.port")" --cache-dir "$TMP/cache-p" "$@"
}

holder() { kp "$1" get lease -n kube-system "$2" -o jsonpath='{.spec.holderIdentity}'; }
# identity NAME: the identity server NAME logged when it took a Lease.
identity() { sed -n 's/.*lease kube-system\/kube-scheduler: acquired as //p' "$TMP/$1.log" | tail -n 1; }
scheduled_events() {
	kp "$1" get events -o json | jq '[.items[] | select(.reason == "Scheduled")] | length'
}
all_bound() {
	[ "$(kp "$1" get pods -o json | jq '[.items[] | select(.spec.nodeName == "n1")] | length')" = "$2" ]
}

case_leader_failover() {
	local lead other i t0 t1 before after id l
	start_etcd "$ETCD_PORT"
	server a
	server b
	wait_for 10 eval '[ -n "$(holder a kube-scheduler)" ] && [ -n "$(holder a kube-controller-manager)" ]' ||
		fail "no Lease holders"
	for lead in a b; do
		id=$(identity $lead)
		[ -n "$id" ] && [ "$(holder a kube-scheduler)" = "$id" ] && break
	done
	[ "$(holder a kube-scheduler)" = "$(identity $lead)" ] || fail "the scheduler Lease holder is neither server"
	other=$([ $lead = a ] && echo b || echo a)
	assert_eq "$(holder a kube-controller-manager)" "$(identity $lead)" "one process holds both Leases"
	assert_eq "$(grep -c 'scheduler: leading' "$TMP/$other.log")" 0 "the other server runs no scheduler"
	assert_eq "$(grep -c 'controller manager: leading' "$TMP/$other.log")" 0 \
		"the other server runs no controllers"

	node n1 16 | kp a apply -f - >/dev/null || fail "node n1: cannot create"
	for i in $(seq 1 20); do pod "w$i" 10m; echo ---; done | kp b apply -f - >/dev/null ||
		fail "pods: cannot create"
	wait_for 20 all_bound a 20 || fail "not every pod bound: $(kp a get pods -o wide)"
	wait_for 10 eval '[ "$(scheduled_events a)" = 20 ]' || true
	assert_eq "$(scheduled_events a)" 20 "one Scheduled event per pod"

	rs() { # NAME REPLICAS
		echo "containers: [{name: c, image: busybox, resources: {requests: {cpu: 10m}}}]" |
			workload_yaml ReplicaSet "$1" "$2"
	}
	rs_pods() { kp "$1" get pods -l app=rs1 -o name | wc -l; }
	rs rs1 10 | kp b apply -f - >/dev/null || fail "ReplicaSet rs1"
	wait_for 15 eval '[ "$(rs_pods a)" = 10 ]' || fail "rs1 has $(rs_pods a) pods, not 10"
	sleep 2
	assert_eq "$(rs_pods a)" 10 "rs1's pods with two servers running"

	before=$(kp "$other" get lease -n kube-system kube-scheduler -o jsonpath='{.spec.leaseTransitions}')
	t0=$(date +%s.%N)
	kill -9 "$(cat "$TMP/$lead.pid")"
	wait_for 20 eval '[ "$(holder $other kube-scheduler)" = "$(identity $other)" ] &&
		[ "$(holder $other kube-controller-manager)" = "$(identity $other)" ]' ||
		fail "$other did not take the Leases: $(tail -n 5 "$TMP/$other.log")"
	# When the new holder wrote each Lease (its acquireTime), after the kill.
	for l in kube-scheduler kube-controller-manager; do
		t1=$(date -d "$(kp "$other" get lease -n kube-system $l -o jsonpath='{.spec.acquireTime}')" +%s.%N)
		echo "$l: taken over $(echo "$t1 - $t0" | bc) s after the kill" >&2
		[ "$(echo "$t1 - $t0 <= 15.3" | bc)" = 1 ] ||
			fail "$l taken over $(echo "$t1 - $t0" | bc) s after the kill (over 15 s)"
	done
	after=$(kp "$other" get lease -n kube-system kube-scheduler -o jsonpath='{.spec.leaseTransitions}')
	assert_eq "$after" "$((before + 1))" "leaseTransitions after the takeover"
	for i in $(seq 21 25); do pod "w$i" 10m; echo ---; done | kp "$other" apply -f - >/dev/null ||
		fail "pods: cannot create"
	wait_for 10 eval '[ "$(kp "$other" get pods -o json | jq "[.items[] | select(.metadata.name | startswith(\"w\")) | select(.spec.nodeName == \"n1\")] | length")" = 25 ]' ||
		fail "the new leader did not bind: $(kp "$other" get pods -o wide)"
	assert_eq "$(rs_pods "$other")" 10 "rs1's pods after the failover"
	rs rs1 12 | kp "$other" apply -f - >/dev/null || fail "ReplicaSet rs1 scaled"
	wait_for 15 eval '[ "$(rs_pods "$other")" = 12 ]' || fail "rs1 has $(rs_pods "$other") pods, not 12"
	sleep 2
	assert_eq "$(rs_pods "$other")" 12 "rs1's pods once scaled by the new leader"

	# The store stops answering: the leader cannot renew, and stops its
	# loops at the renew deadline (10 s), before anyone could take over (15 s).
	t0=$(date +%s)
	kill -STOP "$ETCD_PID"
	wait_for 14 grep -q "lease kube-system/kube-scheduler: leadership lost" "$TMP/$other.log" ||
		{ kill -CONT "$ETCD_PID"; fail "the leader kept leading without renewing: $(tail -n 5 "$TMP/$other.log")"; }
	t1=$(date +%s)
	kill -CONT "$ETCD_PID"
	[ $((t1 - t0)) -ge 9 ] || fail "leadership dropped after $((t1 - t0)) s, before the 10 s deadline"
	# its workers' requests in flight are cancelled within about a second
	wait_for 10 grep -q "controller manager: stopped (no longer leading)" "$TMP/$other.log" ||
		fail "the controller manager did not stop: $(tail -n 5 "$TMP/$other.log")"
	wait_for 20 eval '[ "$(grep -c "scheduler: leading" "$TMP/$other.log")" = 2 ]' ||
		fail "$other did not lead again once the store answered: $(tail -n 5 "$TMP/$other.log")"
}

run_case schedule
run_case flags
run_case ipam
run_case endpoints
run_case workloads
run_case gc
run_case leader_failover
finish
