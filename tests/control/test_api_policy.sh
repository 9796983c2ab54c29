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
require_kubectl

DATA=$TMP/data
# The API alone: the test plays the disruption and service account
# controllers' part itself.
start_skiff_server "$DATA" "$TMP/server.log" tls --controllers=none --no-scheduler

# k VERSION args...: kubectl.1.VERSION with the server's kubeconfig.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}
squeeze() { tr -s ' '; }
# default_sa V NS: the "default" ServiceAccount the serviceaccount
# controller would make (it does not run here).
default_sa() {
	k "$1" create sa default -n "$2" >/dev/null || fail "create sa default in $2 ($1)"
}

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

# drain_setup VERSION: namespace, node and two running, ready pods of a
# ReplicaSet on it, and a PDB (minAvailable 1) over them whose status is
# set by hand (no disruption controller runs here). Prints the namespace.
drain_setup() {
	local v=$1 ns=drain-$1-$RUN_ID node=node-$1-$RUN_ID uid p
	k 33 create namespace "$ns" >/dev/null || fail "create namespace"
	printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s}\n' "$node" | k 33 apply -f - >/dev/null ||
		fail "create node"
	defer "$KDIR/kubectl.1.33 --kubeconfig $DATA/kubeconfig --cache-dir $TMP/cache-33 delete node $node"
	printf 'apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web, namespace: %s}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: busybox:1.36}]}\n' "$ns" |
		k 33 apply -f - >/dev/null || fail "create replicaset"
	uid=$(k 33 get rs web -n "$ns" -o jsonpath='{.metadata.uid}')
	for p in web-a web-b; do
		printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {app: web}\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: "%s", controller: true}]\nspec:\n  nodeName: %s\n  containers: [{name: c, image: busybox:1.36}]\n' \
			"$p" "$ns" "$uid" "$node" | k 33 apply -f - >/dev/null || fail "create pod $p"
		k 33 patch pod "$p" -n "$ns" --subresource status --type merge \
			-p '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}' >/dev/null ||
			fail "pod $p running"
	done
	k 33 create pdb web -n "$ns" --selector app=web --min-available 1 >/dev/null || fail "create pdb"
	echo "$ns"
}

# pdb_status NS ALLOWED: the status a disruption controller would write.
pdb_status() {
	k 33 patch pdb web -n "$1" --subresource status --type merge \
		-p "{\"status\":{\"observedGeneration\":1,\"disruptionsAllowed\":$2,\"currentHealthy\":2,\"desiredHealthy\":1,\"expectedPods\":2}}" >/dev/null ||
		fail "pdb status"
}

case_drain_honours_the_budget() {
	local v ns node out
	for v in 27 33; do
		ns=$(drain_setup "$v") || fail "setup ($v)"
		node=node-$v-$RUN_ID
		pdb_status "$ns" 0
		out=$(k $v drain "$node" --grace-period 0 --timeout 7s 2>&1) && fail "drain went through a budget of 0 ($v): $out"
		assert_contains "$out" "node/$node cordoned" "drain ($v)"
		assert_contains "$out" "Cannot evict pod as it would violate the pod's disruption budget." "drain ($v)"
		assert_eq "$(k $v get pods -n "$ns" -o name | wc -l)" 2 "no pod evicted ($v)"
		assert_eq "$(k $v get node "$node" -o jsonpath='{.spec.unschedulable}')" true "cordoned ($v)"
		# One disruption allowed: one pod goes, the other is refused.
		pdb_status "$ns" 1
		out=$(k $v drain "$node" --grace-period 0 --timeout 7s 2>&1) && fail "drain evicted both ($v): $out"
		assert_contains "$out" "evicted" "one eviction ($v)"
		assert_contains "$out" "Cannot evict pod as it would violate the pod's disruption budget."
		assert_eq "$(k $v get pods -n "$ns" -o name | wc -l)" 1 "one pod evicted ($v)"
		out=$(k $v get pdb web -n "$ns" -o json)
		assert_eq "$(jq -r '.status.disruptionsAllowed' <<<"$out")" 0 "budget taken ($v)"
		assert_eq "$(jq -r '.status.disruptedPods | keys | length' <<<"$out")" 1 "disruptedPods ($v)"
		assert_eq "$(jq -r '.status.conditions[] | select(.type=="DisruptionAllowed") | .reason' <<<"$out")" \
			InsufficientPods "condition ($v)"
	done
}

# evict NS POD [BODY-EXTRA]: POSTs an Eviction with kubectl create --raw.
evict() {
	printf '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"%s","namespace":"%s"}%s}' "$2" "$1" "${3:-}" >"$TMP/eviction.json"
	k 33 create --raw "/api/v1/namespaces/$1/pods/$2/eviction" -f "$TMP/eviction.json" 2>&1
}

case_eviction_edges() {
	local ns out
	ns=$(drain_setup 99) || fail "setup"
	pdb_status "$ns" 1
	# Dry run: answered, nothing taken, nothing deleted.
	out=$(evict "$ns" web-a ',"deleteOptions":{"dryRun":["All"]}') || fail "dry-run eviction: $out"
	assert_contains "$out" '"status":"Success"'
	assert_eq "$(k 33 get pdb web -n "$ns" -o jsonpath='{.status.disruptionsAllowed}')" 1 "dry run took nothing"
	assert_eq "$(k 33 get pods -n "$ns" -o name | wc -l)" 2 "dry run deleted nothing"
	# A budget whose status is older than its spec: 429 still being processed.
	k 33 patch pdb web -n "$ns" --type merge -p '{"spec":{"minAvailable":2}}' >/dev/null || fail "pdb spec"
	out=$(evict "$ns" web-a) && fail "evicted past a stale budget"
	assert_contains "$out" "Cannot evict pod as it would violate the pod's disruption budget."
	# Two budgets over one pod: 500, as upstream.
	k 33 create pdb other -n "$ns" --selector app=web --max-unavailable 1 >/dev/null || fail "second pdb"
	out=$(evict "$ns" web-a) && fail "evicted with two budgets"
	assert_contains "$out" "This pod has more than one PodDisruptionBudget"
	# A pending pod needs no budget; the name must match the URL.
	k 33 delete pdb other -n "$ns" >/dev/null
	k 33 patch pod web-b -n "$ns" --subresource status --type merge -p '{"status":{"phase":"Pending"}}' >/dev/null
	out=$(printf '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-a"}}' >"$TMP/e.json"
		k 33 create --raw "/api/v1/namespaces/$ns/pods/web-b/eviction" -f "$TMP/e.json" 2>&1) &&
		fail "a mismatched name was accepted"
	assert_contains "$out" "name in URL does not match name in Eviction object"
	out=$(evict "$ns" web-b ',"deleteOptions":{"gracePeriodSeconds":0}') || fail "pending pod eviction: $out"
	assert_eq "$(k 33 get pods -n "$ns" -o name)" "pod/web-a" "pending pod evicted"
	# An evicted pod on a live node waits for its kubelet, marked as the
	# eviction's target.
	k 33 patch pdb web -n "$ns" --subresource status --type merge \
		-p '{"status":{"observedGeneration":2,"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1}}' >/dev/null
	out=$(evict "$ns" web-a) || fail "eviction with a budget: $out"
	out=$(k 33 get pod web-a -n "$ns" -o json)
	assert_eq "$(jq -r '[.metadata.deletionGracePeriodSeconds, (.status.conditions[] | select(.type=="DisruptionTarget") | .status, .reason, .message)] | join(" ")' <<<"$out")" \
		"30 True EvictionByEvictionAPI Eviction API: evicting"
	# Discovery names the subresource as kubectl drain looks for it.
	out=$(k 33 get --raw /api/v1 | jq -c '.resources[] | select(.name=="pods/eviction") | [.group,.version,.kind,.verbs]')
	assert_eq "$out" '["policy","v1","Eviction",["create"]]'
}

# with_token VERSION TOKEN args...: kubectl with nothing but the CA and a
# bearer token.
with_token() {
	local v=$1 t=$2; shift 2
	"$KDIR/kubectl.1.$v" --kubeconfig /dev/null --cache-dir "$TMP/cache-tok-$v" \
		--server "https://127.0.0.1:$PORT" --certificate-authority "$DATA/tls/ca.crt" --token "$t" "$@"
}

# claims TOKEN: the token's payload as JSON.
claims() {
	local p
	p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
	while [ $(( ${#p} % 4 )) -ne 0 ]; do p+="="; done
	base64 -d <<<"$p"
}

case_service_account_tokens() {
	local v ns out tok uid bad
	for v in 27 33; do
		ns=tok-$v-$RUN_ID
		k $v create namespace "$ns" >/dev/null || fail "create namespace ($v)"
		default_sa $v "$ns"
		tok=$(k $v create token default -n "$ns" --duration 10m 2>&1) || fail "create token ($v): $tok"
		uid=$(k $v get sa default -n "$ns" -o jsonpath='{.metadata.uid}')
		out=$(claims "$tok")
		assert_eq "$(jq -r '[.iss, .sub, .aud[0], .["kubernetes.io"].namespace, .["kubernetes.io"].serviceaccount.name, .["kubernetes.io"].serviceaccount.uid, .exp - .iat, .nbf == .iat] | join(" ")' <<<"$out")" \
			"https://kubernetes.default.svc.cluster.local system:serviceaccount:$ns:default https://kubernetes.default.svc.cluster.local $ns default $uid 600 true" \
			"claims ($v)"
		# Authenticated as the account; RBAC as for any user.
		out=$(with_token $v "$tok" get pods -n "$ns" 2>&1) && fail "unbound account listed pods ($v)"
		assert_contains "$out" "User \"system:serviceaccount:$ns:default\" cannot list resource \"pods\""
		k $v create rolebinding sa-view -n "$ns" --clusterrole view --serviceaccount "$ns:default" >/dev/null ||
			fail "rolebinding ($v)"
		out=$(with_token $v "$tok" get pods -n "$ns" 2>&1) || fail "token get pods ($v): $out"
		assert_contains "$out" "No resources found in $ns namespace."
		if [ $v = 33 ]; then # SelfSubjectReview is v1 from kubectl 1.28
			out=$(with_token $v "$tok" auth whoami 2>&1 | squeeze) || fail "auth whoami: $out"
			assert_contains "$out" "Username system:serviceaccount:$ns:default"
			assert_contains "$out" "Groups [system:serviceaccounts system:serviceaccounts:$ns system:authenticated]"
		fi
		# A token whose signature is not the server's (one character in
		# the middle of the signature changed).
		bad=${tok:0:$(( ${#tok} - 20 ))}
		[ "${tok:$(( ${#tok} - 20 )):1}" = A ] && bad+=B || bad+=A
		bad+=${tok:$(( ${#tok} - 19 ))}
		out=$(with_token $v "$bad" get pods -n "$ns" 2>&1) && fail "bad signature accepted ($v)"
		assert_contains "$out" "Unauthorized"
		# Too short a duration.
		out=$(k $v create token default -n "$ns" --duration 1m 2>&1) && fail "1m token issued ($v)"
		assert_contains "$out" "may not specify a duration less than 10 minutes"
		# The same account name again is another account: the old token is refused.
		k $v delete sa default -n "$ns" >/dev/null || fail "delete sa ($v)"
		default_sa $v "$ns"
		out=$(with_token $v "$tok" get pods -n "$ns" 2>&1) && fail "token of a deleted account accepted ($v)"
		assert_contains "$out" "Unauthorized"
		tok=$(k $v create token default -n "$ns") || fail "token after recreate ($v)"
		assert_ok with_token $v "$tok" get pods -n "$ns"
	done
}

case_bound_token_follows_its_pod() {
	local ns=bound-$RUN_ID tok out
	k 33 create namespace "$ns" >/dev/null || fail "create namespace"
	default_sa 33 "$ns"
	k 33 create rolebinding sa-view -n "$ns" --clusterrole view --serviceaccount "$ns:default" >/dev/null
	k 33 run p1 -n "$ns" --image busybox:1.36 >/dev/null || fail "run p1"
	tok=$(k 33 create token default -n "$ns" --bound-object-kind Pod --bound-object-name p1 2>&1) ||
		fail "bound token: $tok"
	assert_eq "$(claims "$tok" | jq -r '.["kubernetes.io"].pod.name')" p1
	assert_ok with_token 33 "$tok" get pods -n "$ns"
	k 33 delete pod p1 -n "$ns" --grace-period 0 >/dev/null 2>&1
	out=$(with_token 33 "$tok" get pods -n "$ns" 2>&1) && fail "token of a deleted pod accepted"
	assert_contains "$out" "Unauthorized"
	out=$(k 33 create token default -n "$ns" --bound-object-kind Pod --bound-object-name p1 2>&1) &&
		fail "token bound to a missing pod"
	assert_contains "$out" 'pods "p1" not found'
}

# The signing key is kept in the data dir: a token outlives a restart.
case_token_survives_restart() {
	local ns=restart-$RUN_ID tok
	k 33 create namespace "$ns" >/dev/null || fail "create namespace"
	default_sa 33 "$ns"
	k 33 create rolebinding sa-view -n "$ns" --clusterrole view --serviceaccount "$ns:default" >/dev/null
	tok=$(k 33 create token default -n "$ns") || fail "create token"
	assert_ok with_token 33 "$tok" get pods -n "$ns"
	kill_tree "$SERVER_PID"
	SERVER_PORT=$PORT start_skiff_server "$DATA" "$TMP/server.log" tls
	assert_ok with_token 33 "$tok" get pods -n "$ns"
}

case_default_tolerations() {
	local ns=tol-$RUN_ID out
	k 33 create namespace "$ns" >/dev/null || fail "create namespace"
	k 27 run plain -n "$ns" --image busybox:1.36 >/dev/null || fail "run plain"
	out=$(k 33 get pod plain -n "$ns" -o json | jq -c '[.spec.tolerations[] | [.key, .operator, .effect, .tolerationSeconds]]')
	assert_eq "$out" '[["node.kubernetes.io/not-ready","Exists","NoExecute",300],["node.kubernetes.io/unreachable","Exists","NoExecute",300]]'
	# A pod that tolerates not-ready its own way keeps it and gets unreachable only.
	k 33 run own -n "$ns" --image busybox:1.36 --overrides \
		'{"spec":{"tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":10}]}}' >/dev/null ||
		fail "run own"
	out=$(k 33 get pod own -n "$ns" -o json | jq -c '[.spec.tolerations[] | [.key, .tolerationSeconds]]')
	assert_eq "$out" '[["node.kubernetes.io/not-ready",10],["node.kubernetes.io/unreachable",300]]'
	# Tolerating every taint needs nothing more.
	k 33 run all -n "$ns" --image busybox:1.36 --overrides '{"spec":{"tolerations":[{"operator":"Exists"}]}}' >/dev/null ||
		fail "run all"
	assert_eq "$(k 33 get pod all -n "$ns" -o json | jq -c '.spec.tolerations')" '[{"operator":"Exists"}]'
}

case_statefulset_claims_refused() {
	local v ns out
	for v in 27 33; do
		ns=sts-$v-$RUN_ID
		k $v create namespace "$ns" >/dev/null || fail "create namespace ($v)"
		out=$(printf 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: %s}\nspec:\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: c, image: busybox:1.36}]}\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n' "$ns" |
			k $v apply -f - 2>&1) && fail "volumeClaimTemplates accepted ($v)"
		assert_contains "$out" 'The StatefulSet "db" is invalid: spec.volumeClaimTemplates: Forbidden: not supported' "($v)"
		assert_fails k $v get sts db -n "$ns"
	done
}

case_namespace_finalize() {
	local ns=fin-$RUN_ID out
	k 33 create namespace "$ns" >/dev/null || fail "create namespace"
	assert_eq "$(k 33 get ns "$ns" -o jsonpath='{.spec.finalizers}')" '["kubernetes"]'
	k 33 get ns "$ns" -o json | jq '.spec.finalizers = []' >"$TMP/ns.json"
	out=$(k 33 replace --raw "/api/v1/namespaces/$ns/finalize" -f "$TMP/ns.json" 2>&1) || fail "finalize: $out"
	assert_eq "$(jq -c '.spec.finalizers' <<<"$out")" '[]'
	assert_eq "$(k 33 get ns "$ns" -o json | jq -c '.spec.finalizers')" '[]'
	# A stale resourceVersion is a conflict, as for any write.
	out=$(k 33 replace --raw "/api/v1/namespaces/$ns/finalize" -f "$TMP/ns.json" 2>&1) && fail "stale finalize accepted"
	assert_contains "$out" "the object has been modified"
	out=$(k 33 get --raw /api/v1 | jq -c '.resources[] | select(.name=="namespaces/finalize") | .verbs')
	assert_eq "$out" '["update"]'
}

run_case pdb_create_and_validate
run_case priority_classes
run_case controller_revisions
run_case drain_honours_the_budget
run_case eviction_edges
run_case default_tolerations
run_case statefulset_claims_refused
run_case namespace_finalize
run_case service_account_tokens
run_case bound_token_follows_its_pod
run_case token_survives_restart
finish
