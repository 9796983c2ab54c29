#!/usr/bin/env bash
# Policy on skiff-server through the real kubectl 1.27 and 1.33: PodDisruptionBudgets
# (create, validation, the eviction subresource that `kubectl drain` uses),
# PriorityClasses (the built-ins, a pod's priority resolved at admission,
# globalDefault), ControllerRevisions, service-account tokens
# (`kubectl create token`, used as a bearer token, refused once the account
# is recreated), default tolerations and the StatefulSet
# volumeClaimTemplates refusal. HTTPS on 127.0.0.1 with the kubeconfig the
# server writes.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl
KDIR=$(dpkg -L kubectl 2>/dev/null | grep -m1 '/kubectl\.1\.33$' | xargs -r dirname)
[ -n "$KDIR" ] && [ -x "$KDIR/kubectl.1.27" ] || skip "needs kubectl.1.27 and kubectl.1.33 (Debian package kubectl)"

DATA=$TMP/data
start_skiff_server "$DATA" "$TMP/server.log" tls

# k VERSION args...: kubectl.1.VERSION with the server's kubeconfig.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}
squeeze() { tr -s ' '; }

case_pdb_create_and_validate() {
	local v ns out
	for v in 27 33; do
		ns=pdb-$v-$RUN_ID
		k $v create namespace "$ns" >/dev/null || fail "create namespace ($v)"
		out=$(k $v create pdb web -n "$ns" --selector app=web --min-available 2 2>&1) ||
			fail "create pdb ($v): $out"
		assert_contains "$out" "poddisruptionbudget.policy/web created" "create pdb ($v)"
		out=$(k $v create pdb half -n "$ns" --selector app=web --max-unavailable 50% 2>&1) ||
			fail "create pdb percent ($v): $out"
		out=$(k $v get pdb -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE" "pdb table ($v)"
		assert_contains "$out" "web 2 N/A 0 " "pdb row ($v)"
		assert_contains "$out" "half N/A 50% 0 " "pdb row ($v)"
		out=$(printf 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: both, namespace: %s}\nspec: {minAvailable: 1, maxUnavailable: 1, selector: {matchLabels: {app: web}}}\n' "$ns" |
			k $v apply -f - 2>&1) && fail "both set accepted ($v)"
		assert_contains "$out" 'The PodDisruptionBudget "both" is invalid' "both set ($v)"
		assert_contains "$out" "minAvailable and maxUnavailable cannot be both set"
		out=$(k $v create pdb bad -n "$ns" --selector app=web --max-unavailable 150% 2>&1) &&
			fail "150% accepted ($v)"
		assert_contains "$out" "spec.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
	done
}

case_priority_classes() {
	local v ns out
	out=$(k 33 get priorityclasses 2>&1 | squeeze)
	assert_contains "$out" "system-cluster-critical 2000000000 false"
	assert_contains "$out" "system-node-critical 2000001000 false"
	for v in 27 33; do
		ns=prio-$v-$RUN_ID
		k $v create namespace "$ns" >/dev/null || fail "create namespace ($v)"
		out=$(k $v create priorityclass high-$v --value 1000 2>&1) || fail "create pc ($v): $out"
		assert_contains "$out" "priorityclass.scheduling.k8s.io/high-$v created"
		out=$(k $v run p1 -n "$ns" --image busybox:1.36 \
			--overrides "{\"spec\":{\"priorityClassName\":\"high-$v\"}}" 2>&1) || fail "run ($v): $out"
		assert_eq "$(k $v get pod p1 -n "$ns" -o jsonpath='{.spec.priority} {.spec.preemptionPolicy}')" \
			"1000 PreemptLowerPriority" "priority resolved ($v)"
		out=$(k $v run p2 -n "$ns" --image busybox:1.36 \
			--overrides '{"spec":{"priorityClassName":"nope"}}' 2>&1) && fail "unknown class accepted ($v)"
		assert_contains "$out" 'pods "p2" is forbidden: no PriorityClass with name nope was found'
		out=$(k $v run p3 -n "$ns" --image busybox:1.36 \
			--overrides '{"spec":{"priorityClassName":"high-'$v'","priority":5}}' 2>&1) &&
			fail "a conflicting priority accepted ($v)"
		assert_contains "$out" "must not be provided in pod spec"
		out=$(k $v create priorityclass sys-$v --value 2000000001 2>&1) && fail "user class over 1e9 ($v)"
		assert_contains "$out" "maximum allowed value of a user defined priority is 1000000000"
	done
	# globalDefault: a pod without a class gets it; a second default is refused.
	ns=prio-33-$RUN_ID
	k 33 create priorityclass dflt --value 7 --global-default --preemption-policy Never >/dev/null ||
		fail "create default class"
	defer "$KDIR/kubectl.1.33 --kubeconfig $DATA/kubeconfig --cache-dir $TMP/cache-33 delete priorityclass dflt"
	out=$(k 33 create priorityclass dflt2 --value 8 --global-default 2>&1) && fail "second default accepted"
	assert_contains "$out" "PriorityClass dflt is marked as default. Only one default can exist"
	k 33 run p4 -n "$ns" --image busybox:1.36 >/dev/null || fail "run p4"
	assert_eq "$(k 33 get pod p4 -n "$ns" -o jsonpath='{.spec.priorityClassName} {.spec.priority} {.spec.preemptionPolicy}')" \
		"dflt 7 Never" "global default applied"
}

case_controller_revisions() {
	local ns=cr-$RUN_ID out
	k 33 create namespace "$ns" >/dev/null || fail "create namespace"
	out=$(printf 'apiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: web-1\n  namespace: %s\n  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: web, uid: 0c1a, controller: true}]\nrevision: 1\ndata: {spec: {template: {}}}\n' "$ns" |
		k 27 apply -f - 2>&1) || fail "apply controllerrevision: $out"
	out=$(k 33 get controllerrevisions -n "$ns" 2>&1 | squeeze)
	assert_contains "$out" "NAME CONTROLLER REVISION AGE"
	assert_contains "$out" "web-1 statefulset.apps/web 1 "
}

run_case pdb_create_and_validate
run_case priority_classes
run_case controller_revisions
finish
