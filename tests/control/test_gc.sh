#!/usr/bin/env bash
# Cascading deletion through the real kubectl 1.27 and 1.33, with
# skiff-server running its controllers: the server only turns the
# propagation policy into finalizers and marks the owner; the garbage
# collector, namespace and serviceaccount controllers do the rest, as on
# Kubernetes. `kubectl delete` of a ReplicaSet (background: its pods go),
# --cascade=orphan (the pods stay, without their owner reference),
# --cascade=foreground (the owner stays with foregroundDeletion until its
# pods are gone), a Deployment (its ReplicaSets and pods go), a namespace
# (Terminating, refusing new content with 403, then gone with everything
# in it) and the default ServiceAccount of a new namespace.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl jq
require_kubectl

DATA=$TMP/data
start_skiff_server "$DATA" "$TMP/server.log" tls

# k VERSION args...: kubectl.1.VERSION with the server's kubeconfig.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}

# replicaset V NS NAME: a ReplicaSet of two pods labelled rs=NAME, and
# waits for the pods.
replicaset() {
	local v=$1 ns=$2 name=$3 out
	out=$(printf 'apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: %s, namespace: %s}\nspec:\n  replicas: 2\n  selector: {matchLabels: {rs: %s}}\n  template:\n    metadata: {labels: {rs: %s}}\n    spec: {containers: [{name: c, image: busybox}]}\n' \
		"$name" "$ns" "$name" "$name" | k $v apply -f - 2>&1) || fail "create rs $name ($v): $out"
	wait_for 30 eval '[ "$(pods $v "$ns" "rs=$name")" = 2 ]' ||
		fail "rs $name ($v): pods $(pods $v "$ns" "rs=$name"), not 2"
}

# deployment V NS: a Deployment "web" of two pods (app=web), and waits
# for the pods.
deployment() {
	local v=$1 ns=$2 out
	out=$(k $v create deployment web -n "$ns" --image=busybox --replicas=2 2>&1) ||
		fail "create deployment ($v): $out"
	wait_for 30 eval '[ "$(pods $v "$ns" app=web)" = 2 ]' || fail "deployment pods ($v)"
}

# pods V NS SELECTOR: how many pods match.
pods() { k "$1" get pods -n "$2" -l "$3" -o name 2>/dev/null | wc -l; }

gone() { ! k "$1" get "$2" -n "$3" >/dev/null 2>&1; }

new_ns() {
	k "$1" create namespace "$2" >/dev/null || fail "create namespace $2 ($1)"
}

case_default_service_account() {
	local v ns
	for v in 27 33; do
		ns=sa-$v-$RUN_ID
		new_ns $v "$ns"
		wait_for 20 k $v get sa default -n "$ns" || fail "no default ServiceAccount in $ns ($v)"
	done
}

case_replicaset_background() {
	local v ns out
	for v in 27 33; do
		ns=bg-$v-$RUN_ID
		new_ns $v "$ns"
		replicaset $v "$ns" web
		out=$(k $v delete rs web -n "$ns" 2>&1) || fail "delete rs ($v): $out"
		assert_contains "$out" 'replicaset.apps "web" deleted'
		gone $v rs/web "$ns" || fail "rs still there after kubectl delete ($v)"
		wait_for 30 eval '[ "$(pods $v "$ns" rs=web)" = 0 ]' ||
			fail "background ($v): $(pods $v "$ns" rs=web) pods left"
	done
}

case_replicaset_orphan() {
	local v ns out
	for v in 27 33; do
		ns=orphan-$v-$RUN_ID
		new_ns $v "$ns"
		replicaset $v "$ns" web
		# kubectl waits for the owner to go: the collector drops the
		# references, then the "orphan" finalizer.
		out=$(k $v delete rs web -n "$ns" --cascade=orphan --timeout=60s 2>&1) ||
			fail "delete --cascade=orphan ($v): $out"
		gone $v rs/web "$ns" || fail "orphaning rs still there ($v)"
		sleep 2 # what a wrong collector would have deleted by now
		assert_eq "$(pods $v "$ns" rs=web)" 2 "orphans stay ($v)"
		out=$(k $v get pods -n "$ns" -l rs=web -o json | jq -c '[.items[].metadata.ownerReferences // []] | add | length')
		assert_eq "$out" 0 "orphans lost their owner reference ($v)"
	done
}

case_replicaset_foreground() {
	local v ns out
	for v in 27 33; do
		ns=fg-$v-$RUN_ID
		new_ns $v "$ns"
		replicaset $v "$ns" web
		# A finalizer on one pod holds it, and so its owner.
		k $v patch pod -n "$ns" "$(k $v get pods -n "$ns" -l rs=web -o name | head -n 1 | cut -d/ -f2)" \
			--type merge -p '{"metadata":{"finalizers":["test.skiff/hold"]}}' >/dev/null ||
			fail "hold a pod ($v)"
		out=$(k $v delete rs web -n "$ns" --cascade=foreground --wait=false 2>&1) ||
			fail "delete --cascade=foreground ($v): $out"
		out=$(k $v get rs web -n "$ns" -o json) || fail "foreground owner gone at once ($v)"
		assert_eq "$(jq -r '.metadata.finalizers | join(",")' <<<"$out")" foregroundDeletion \
			"foreground owner's finalizer ($v)"
		[ "$(jq -r '.metadata.deletionTimestamp' <<<"$out")" != null ] || fail "no deletionTimestamp ($v)"
		wait_for 30 eval '[ "$(k $v get pods -n "$ns" -l rs=web -o json | jq "[.items[] | select(.metadata.deletionTimestamp == null)] | length")" = 0 ]' ||
			fail "foreground ($v): pods not deleted"
		sleep 2
		k $v get rs web -n "$ns" >/dev/null 2>&1 || fail "owner went before its held pod ($v)"
		k $v patch pod -n "$ns" "$(k $v get pods -n "$ns" -l rs=web -o name | head -n 1 | cut -d/ -f2)" \
			--type merge -p '{"metadata":{"finalizers":null}}' >/dev/null || fail "release the pod ($v)"
		wait_for 30 gone $v rs/web "$ns" || fail "foreground owner stayed after its pods ($v)"
		assert_eq "$(pods $v "$ns" rs=web)" 0 "foreground ($v)"
	done
}

case_deployment() {
	local v ns out
	for v in 27 33; do
		ns=dep-$v-$RUN_ID
		new_ns $v "$ns"
		deployment $v "$ns"
		out=$(k $v delete deployment web -n "$ns" 2>&1) || fail "delete deployment ($v): $out"
		wait_for 30 eval '[ -z "$(k $v get rs -n "$ns" -o name 2>/dev/null)" ]' ||
			fail "ReplicaSets left ($v): $(k $v get rs -n "$ns" -o name)"
		wait_for 30 eval '[ "$(pods $v "$ns" app=web)" = 0 ]' ||
			fail "deployment ($v): $(pods $v "$ns" app=web) pods left"
	done
}

case_namespace() {
	local v ns out
	for v in 27 33; do
		ns=term-$v-$RUN_ID
		new_ns $v "$ns"
		deployment $v "$ns"
		# A ConfigMap with a finalizer keeps the namespace Terminating.
		printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: %s, finalizers: [test.skiff/hold]}\n' \
			"$ns" | k $v apply -f - >/dev/null || fail "held configmap ($v)"
		out=$(k $v delete ns "$ns" --wait=false 2>&1) || fail "delete ns ($v): $out"
		assert_contains "$out" "namespace \"$ns\" deleted"
		assert_eq "$(k $v get ns "$ns" -o jsonpath='{.status.phase}')" Terminating "phase ($v)"
		out=$(k $v create configmap late -n "$ns" 2>&1) && fail "created in a Terminating namespace ($v)"
		assert_contains "$out" "configmaps \"late\" is forbidden: unable to create new content in namespace $ns because it is being terminated"
		out=$(k $v delete ns "$ns" --wait=false 2>&1) && fail "second delete of a Terminating namespace ($v)"
		assert_contains "$out" "(Conflict)"
		wait_for 30 eval '[ "$(pods $v "$ns" app=web)" = 0 ] && [ -z "$(k $v get deploy,rs -n "$ns" -o name 2>/dev/null)" ]' ||
			fail "namespace contents left ($v): $(k $v get all -n "$ns" -o name 2>&1)"
		k $v get ns "$ns" >/dev/null 2>&1 || fail "namespace gone while a finalizer holds content ($v)"
		k $v patch configmap held -n "$ns" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null ||
			fail "release the configmap ($v)"
		wait_for 30 gone $v "ns/$ns" "$ns" || fail "namespace $ns stayed ($v)"
	done
}

run_case default_service_account
run_case replicaset_background
run_case replicaset_orphan
run_case replicaset_foreground
run_case deployment
run_case namespace
finish
