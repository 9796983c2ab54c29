#!/usr/bin/env bash
# Preemption end to end (issue 10), through the real kubectl 1.27 and
# 1.33: skiff-server with its scheduler, and two hollow nodes of 2 cpu
# (hollow-nodes plays their kubelets: bound pods run, deleted pods go).
# Four pods of a low PriorityClass fill both nodes; the API resolves
# priorityClassName to spec.priority. A pod of a high class with
# preemptionPolicy Never waits (FailedScheduling) and evicts nobody; a pod
# of a high class that preempts gets exactly one low pod deleted (its
# Preempted Event names the preemptor's uid and the node), is bound on
# that node, and the waiting Never pod does not take the room it made.
# The FailedScheduling messages carry upstream's "preemption: ..."
# sentence, and the victim is marked DisruptionTarget (reason
# PreemptionByScheduler) before its delete, keeping its other conditions.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server hollow-nodes
require_cmd curl
require_kubectl

DATA=$TMP/data
start_skiff_server "$DATA" "$TMP/server.log" tls
P=pre$RUN_ID
NS=preempt-$RUN_ID
HLOG=$TMP/hollow.log

k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}

"$TESTBIN/hollow-nodes" --kubeconfig "$DATA/kubeconfig" --nodes 2 --cpu 2 --prefix "$P" \
	--stop-delay 0 --progress 1 >"$HLOG" 2>&1 &
defer "kill_tree $!"
wait_for 30 grep -q '^hollow-nodes: registered 2 nodes' "$HLOG" ||
	fail "hollow nodes not registered: $(tail -n 3 "$HLOG")"
k 33 create namespace "$NS" >/dev/null || fail "cannot create namespace $NS"

# class NAME VALUE [POLICY]: a PriorityClass (removed at the end).
class() {
	k 33 apply -f - >/dev/null <<YAML || fail "cannot create PriorityClass $1"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: $1}
value: $2
preemptionPolicy: ${3:-PreemptLowerPriority}
YAML
	defer "k 33 delete priorityclass $1 --wait=false >/dev/null 2>&1"
}

# pod NAME CLASS: a pod of one cpu.
pod() {
	k 33 -n "$NS" apply -f - >/dev/null <<YAML || fail "cannot create pod $1"
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: $P}}
spec:
  priorityClassName: $2
  containers:
  - {name: c, image: pause, resources: {requests: {cpu: "1"}}}
YAML
}

node_of() { k 33 -n "$NS" get pod "$1" -o jsonpath='{.spec.nodeName}' 2>/dev/null; }
bound() { [ -n "$(node_of "$1")" ]; }
# low_left: the low pods that exist and are not being deleted.
low_left() {
	k 33 -n "$NS" get pods -o json |
		jq -r '[.items[] | select((.metadata.name | startswith("low-")) and .metadata.deletionTimestamp == null)] | length'
}
events() { k "$1" -n "$NS" get events --field-selector "reason=$2" -o custom-columns=OBJ:.involvedObject.name,MSG:.message --no-headers 2>/dev/null; }

class "low-$RUN_ID" 100
class "high-$RUN_ID" 1000
class "never-$RUN_ID" 1000 Never

case_fill() {
	local i
	for i in 0 1 2 3; do pod "low-$i" "low-$RUN_ID"; done
	for i in 0 1 2 3; do
		wait_for 20 bound "low-$i" || fail "low-$i not bound: $(k 33 -n "$NS" get pods -o wide 2>&1)"
	done
	assert_eq "$(k 27 -n "$NS" get pod low-0 -o jsonpath='{.spec.priority}')" 100 \
		"priorityClassName resolved to spec.priority at admission"
}

case_never_waits() {
	pod polite "never-$RUN_ID"
	wait_for 20 eval 'events 33 FailedScheduling | grep -q "^polite .*Insufficient cpu"' ||
		fail "no FailedScheduling for polite: $(events 33 FailedScheduling)"
	assert_eq "$(low_left)" 4 "preemptionPolicy Never evicts nobody"
	assert_eq "$(k 33 -n "$NS" get pod polite -o jsonpath='{.status.nominatedNodeName}')" "" \
		"polite is nominated nowhere"
	assert_eq "$(events 33 Preempted)" "" "no Preempted event yet"
	assert_contains "$(events 27 FailedScheduling | grep '^polite ')" \
		"0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never." \
		"upstream's preemption sentence"
}

case_preempts_one() {
	local uid node victim ev conds
	k 33 -n "$NS" get pods -w -o json >"$TMP/watch.json" 2>/dev/null &
	defer "kill_tree $!"
	pod urgent "high-$RUN_ID"
	wait_for 30 bound urgent || fail "urgent not bound: $(k 33 -n "$NS" get pods -o wide 2>&1; events 33 FailedScheduling)"
	node=$(node_of urgent)
	uid=$(k 33 -n "$NS" get pod urgent -o jsonpath='{.metadata.uid}')
	wait_for 10 eval '[ -n "$(events 27 Preempted)" ]' || fail "no Preempted event"
	ev=$(events 27 Preempted)
	assert_eq "$(wc -l <<<"$ev")" 1 "one victim: $ev"
	victim=${ev%% *}
	assert_contains "$ev" "Preempted by pod $uid on node $node" "the victim's Preempted event"
	case $victim in low-[0-3]) ;; *) fail "the victim is not a low pod: $ev" ;; esac
	assert_eq "$(low_left)" 3 "exactly one low pod preempted"
	# shellcheck disable=SC2016
	wait_for 10 eval 'grep -q PreemptionByScheduler "$TMP/watch.json"' ||
		fail "the victim was never marked DisruptionTarget"
	conds=$(jq -r --arg v "$victim" 'select(.metadata.name == $v and
		any(.status.conditions[]?; .type == "DisruptionTarget")) |
		[.status.conditions[] | "\(.type)=\(.status)/\(.reason // "")"] | join(" ")' "$TMP/watch.json" | head -n 1)
	assert_contains "$conds" "DisruptionTarget=True/PreemptionByScheduler" "the victim's condition"
	assert_contains "$conds" "Ready=True" "the victim keeps its other conditions"
	wait_for 10 eval '! k 33 -n "$NS" get pod "$victim" >/dev/null 2>&1' || fail "$victim not gone"
	assert_eq "$(node_of polite)" "" "the Never pod did not take the room urgent made"
	assert_eq "$(low_left)" 3 "still three low pods"
}

run_case fill
run_case never_waits
run_case preempts_one
finish
