#!/usr/bin/env bash
# The scheduler's plugins that read more than a pod (issue 10), through the
# real kubectl 1.27 and 1.33: skiff-server with its scheduler and two
# hollow nodes of 4 cpu (tests/control/e2e_lib.sh).
# - namespaceSelector in a pod affinity term selects pods by their
#   namespace's labels, and relabelling a namespace lets a waiting pod in;
# - a restartable (sidecar) init container counts beside the containers;
# - a pod using a PersistentVolumeClaim (skiff stores none) waits with
#   upstream's words, and preemption is said not to help.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

e2e_start 2
NA=team-a-$RUN_ID
NB=team-b-$RUN_ID
NODE0=$(hnode 0)

node_of() { k 33 -n "$1" get pod "$2" -o jsonpath='{.spec.nodeName}' 2>/dev/null; }
# failed NS POD: the pod's FailedScheduling messages (kubectl 1.27).
failed() {
	k 27 -n "$1" get events --field-selector "involvedObject.name=$2,reason=FailedScheduling" \
		-o jsonpath='{range .items[*]}{.message}{"\n"}{end}' 2>/dev/null
}

# client NAME TEAM: a pod in $NA that must share a node with an app=db pod
# of a namespace labelled team=TEAM.
client() {
	k 33 -n "$NA" apply -f - >/dev/null <<YAML || fail "cannot create pod $1"
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: db}}
        topologyKey: kubernetes.io/hostname
        namespaceSelector: {matchLabels: {team: $2}}
  containers:
  - {name: c, image: pause}
YAML
}

case_namespace_selector() {
	k 33 create namespace "$NA" >/dev/null && k 33 label namespace "$NA" team=a >/dev/null ||
		fail "namespace $NA"
	k 33 create namespace "$NB" >/dev/null && k 33 label namespace "$NB" team=b >/dev/null ||
		fail "namespace $NB"
	k 33 -n "$NB" apply -f - >/dev/null <<YAML || fail "cannot create pod db"
apiVersion: v1
kind: Pod
metadata: {name: db, labels: {app: db}}
spec:
  nodeName: $NODE0
  containers:
  - {name: c, image: pause}
YAML
	client near b
	wait_for 20 eval '[ "$(node_of "$NA" near)" = "$NODE0" ]' ||
		fail "near not bound beside db: '$(node_of "$NA" near)' $(failed "$NA" near)"
	client later c
	wait_for 20 eval 'failed "$NA" later | grep -q "2 node(s) didn.t match pod affinity rules"' ||
		fail "no FailedScheduling for later: $(failed "$NA" later)"
	assert_eq "$(node_of "$NA" later)" "" "no namespace of team c has a db yet"
	k 27 label namespace "$NB" team=c --overwrite >/dev/null || fail "relabel $NB"
	wait_for 20 eval '[ "$(node_of "$NA" later)" = "$NODE0" ]' ||
		fail "later not bound after $NB joined team c: '$(node_of "$NA" later)'"
}

case_sidecar() {
	k 33 -n "$NA" apply -f - >/dev/null <<YAML || fail "cannot create pod sidecar"
apiVersion: v1
kind: Pod
metadata: {name: sidecar}
spec:
  initContainers:
  - {name: proxy, image: pause, restartPolicy: Always, resources: {requests: {cpu: "2"}}}
  containers:
  - {name: c, image: pause, resources: {requests: {cpu: 2500m}}}
YAML
	wait_for 20 eval 'failed "$NA" sidecar | grep -q "Insufficient cpu"' ||
		fail "the sidecar's cpu was not counted: '$(node_of "$NA" sidecar)' $(failed "$NA" sidecar)"
	assert_eq "$(node_of "$NA" sidecar)" "" "4.5 cpu fit on no 4-cpu node"
}

case_missing_claim() {
	k 33 -n "$NA" apply -f - >/dev/null <<YAML || fail "cannot create pod claim"
apiVersion: v1
kind: Pod
metadata: {name: claim}
spec:
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data-$RUN_ID}}
  containers:
  - {name: c, image: pause, volumeMounts: [{name: data, mountPath: /data}]}
YAML
	wait_for 20 eval '[ -n "$(failed "$NA" claim)" ]' || fail "no FailedScheduling for claim"
	assert_contains "$(failed "$NA" claim)" \
		"0/2 nodes are available: persistentvolumeclaim \"data-$RUN_ID\" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling." \
		"upstream's VolumeBinding message"
	assert_eq "$(node_of "$NA" claim)" "" "claim stays pending"
}

run_case namespace_selector
run_case sidecar
run_case missing_claim
finish
