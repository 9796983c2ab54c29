#!/usr/bin/env bash
# Authorization reviews, TokenReview and impersonation (control/api_review.c,
# control/api_impersonate.c) driven by the real kubectl: `auth can-i`
# (yes, no, -n, subresources, non-resource URLs, --list, --as), `auth
# whoami` for a client certificate, a token and a service account, a
# TokenReview of good and bad tokens and a SubjectAccessReview posted with
# `kubectl create -f`, and --as / --as-group allowed and refused by RBAC's
# impersonate verb. kubectl 1.33 sends SelfSubjectRulesReview and
# SelfSubjectReview as protobuf, 1.27 JSON. One server on 127.0.0.1, on a
# free port.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl openssl jq
require_kubectl

DATA=$TMP/data
ALICE=alice-$RANDOM$RANDOM
IMP=imp-$RANDOM$RANDOM
NS=review-$RUN_ID
printf '%s,alice,1001\n%s,imp,1003,"ops"\n' "$ALICE" "$IMP" >"$TMP/tokens.csv"
start_skiff_server "$DATA" "$TMP/server.log" tls --token-auth-file "$TMP/tokens.csv" \
	--controllers=none --no-scheduler

# k VERSION args...: kubectl.1.VERSION as the administrator.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}

# kubeconfig_for NAME USER-YAML: a kubeconfig with the server's CA and the
# user entry given.
kubeconfig_for() {
	cat >"$TMP/kubeconfig-$1" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster: {certificate-authority: "$DATA/tls/ca.crt", server: "https://127.0.0.1:$PORT"}
  name: skiff
contexts:
- context: {cluster: skiff, user: $1, namespace: $NS}
  name: $1
current-context: $1
users:
- name: $1
  user: $2
KC
}

# as NAME VERSION args...: kubectl with kubeconfig NAME.
as() {
	local u=$1 v=$2; shift 2
	"$KDIR/kubectl.1.$v" --kubeconfig "$TMP/kubeconfig-$u" --cache-dir "$TMP/cache-$u-$v" "$@"
}

squeeze() { tr -s ' '; }

# yaml NAME: stdin into $TMP/NAME.yaml, whose path it prints.
yaml() { cat >"$TMP/$1.yaml"; echo "$TMP/$1.yaml"; }

kubeconfig_for alice "{token: $ALICE}"
kubeconfig_for imp "{token: $IMP}"
k 33 create namespace "$NS" >/dev/null || fail "create namespace"
k 33 apply -f - >/dev/null <<YAML || fail "RBAC objects"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: $NS}
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads, namespace: $NS}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-alice-$RUN_ID}
rules:
- apiGroups: [""]
  resources: [users]
  verbs: [impersonate]
  resourceNames: [alice]
- apiGroups: [""]
  resources: [groups]
  verbs: [impersonate]
  resourceNames: [devs]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [impersonate]
  resourceNames: [robot]
- apiGroups: [authentication.k8s.io]
  resources: [uids, userextras/scopes]
  verbs: [impersonate]
  resourceNames: [u-1, view]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: imp-impersonates-$RUN_ID}
subjects: [{kind: User, name: imp, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: impersonate-alice-$RUN_ID, apiGroup: rbac.authorization.k8s.io}
YAML

case_can_i() {
	local v out
	assert_eq "$(as alice 27 auth can-i list pods)" yes "alice list pods in $NS (27)"
	out=$(as alice 27 auth can-i get /metrics) && fail "alice /metrics (27)"
	assert_eq "$(as alice 27 auth can-i get pods --subresource=log)" yes "pods/log (27)"
	for v in 33; do
		assert_eq "$(k $v auth can-i create pods -n "$NS")" yes "admin create pods ($v)"
		assert_eq "$(as alice $v auth can-i list pods)" yes "alice list pods in $NS ($v)"
		out=$(as alice $v auth can-i list pods -n default) && fail "alice list pods in default ($v)"
		assert_eq "$out" no "alice in default ($v)"
		out=$(as alice $v auth can-i delete pods) && fail "alice delete pods ($v)"
		assert_eq "$out" no "alice delete ($v)"
		assert_eq "$(as alice $v auth can-i get pods --subresource=log)" yes "pods/log ($v)"
		out=$(as alice $v auth can-i create pods --subresource=exec) && fail "alice exec ($v)"
		assert_eq "$(as alice $v auth can-i get /healthz)" yes "system:discovery ($v)"
		out=$(as alice $v auth can-i get /metrics) && fail "alice /metrics ($v)"
		assert_eq "$out" no "non-resource URL ($v)"
		assert_eq "$(k $v auth can-i get /metrics)" yes "admin /metrics ($v)"
	done
}

case_can_i_list() {
	local v out
	out=$(as alice 27 auth can-i --list 2>&1 | squeeze) || fail "can-i --list (27): $out"
	assert_contains "$out" "pods [] [] [get list]" "role's rule (27)"
	for v in 33; do
		out=$(as alice $v auth can-i --list 2>&1 | squeeze) || fail "can-i --list ($v): $out"
		assert_contains "$out" "pods [] [] [get list]" "role's rule ($v)"
		assert_contains "$out" "pods/log [] [] [get list]" "subresource rule ($v)"
		assert_contains "$out" "selfsubjectaccessreviews.authorization.k8s.io [] [] [create]"
		assert_contains "$out" " [/healthz] [] [get]" "non-resource rule ($v)"
		out=$(as alice $v auth can-i --list -n default 2>&1 | squeeze) || fail "--list -n default ($v)"
		assert_not_contains "$out" "pods [] [] [get list]" "role of another namespace ($v)"
	done
}

case_impersonation() {
	local v out
	out=$(as imp 27 get pods --as alice 2>&1) || fail "imp --as alice (27): $out"
	out=$(as imp 27 get pods --as bob 2>&1) && fail "imp impersonated bob (27)"
	assert_contains "$out" "users \"bob\" is forbidden"
	for v in 33; do
		out=$(as imp $v get pods --as alice 2>&1) || fail "imp --as alice ($v): $out"
		assert_contains "$out" "No resources found in $NS namespace."
		assert_eq "$(as imp $v auth can-i list pods --as alice)" yes "can-i --as alice ($v)"
		out=$(as imp $v get pods --as bob 2>&1) && fail "imp impersonated bob ($v)"
		assert_contains "$out" "users \"bob\" is forbidden: User \"imp\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
		out=$(as imp $v get pods --as alice --as-group admins 2>&1) && fail "imp impersonated admins ($v)"
		assert_contains "$out" "groups \"admins\" is forbidden: User \"imp\" cannot impersonate resource \"groups\""
		out=$(as alice $v get pods --as imp 2>&1) && fail "alice impersonated imp ($v)"
		assert_contains "$out" "users \"imp\" is forbidden: User \"alice\" cannot impersonate"
		# The administrator may impersonate anyone; RBAC judges the user impersonated.
		out=$(k $v auth can-i delete pods -n "$NS" --as alice) && fail "--as alice may delete ($v)"
		assert_eq "$out" no "admin --as alice ($v)"
	done
	out=$(as imp 33 auth whoami --as alice --as-group devs 2>&1 | squeeze) || fail "whoami --as: $out"
	assert_contains "$out" "Username alice"
	assert_contains "$out" "Groups [devs system:authenticated]"
	# A group without a user is refused before any authorization (kubectl
	# will not send it).
	out=$(curl -s -w ' %{http_code}' --cacert "$DATA/tls/ca.crt" -H "Authorization: Bearer $IMP" \
		-H "Impersonate-Group: devs" "https://127.0.0.1:$PORT/api/v1/namespaces/$NS/pods")
	assert_contains "$out" "without impersonating a user"
	assert_contains "$out" " 500"
	out=$(as imp 33 auth whoami --as alice --as-uid u-1 2>&1 | squeeze) || fail "whoami --as-uid: $out"
	assert_contains "$out" "UID u-1"
	out=$(as imp 33 get pods --as alice --as-uid u-2 2>&1) && fail "imp impersonated uid u-2"
	assert_contains "$out" "uids.authentication.k8s.io \"u-2\" is forbidden: User \"imp\" cannot impersonate resource \"uids\" in API group \"authentication.k8s.io\" at the cluster scope"
	# Extra, which kubectl cannot send from its flags: the header's key
	# lowercased, each value checked on userextras/KEY.
	out=$(imp_whoami -H "Impersonate-User: alice" -H "Impersonate-Extra-Scopes: view")
	assert_eq "$(jq -c .status.userInfo.extra <<<"$out")" '{"scopes":["view"]}' "extra impersonated"
	out=$(imp_whoami -H "Impersonate-User: alice" -H "Impersonate-Extra-Scopes: view" \
		-H "Impersonate-Extra-Scopes: admin")
	assert_contains "$out" "userextras.authentication.k8s.io \\\"admin\\\" is forbidden: User \\\"imp\\\" cannot impersonate resource \\\"userextras/scopes\\\""
	# A group without a user is refused before any authorization (kubectl
	# will not send it).
	out=$(imp_whoami -w ' %{http_code}' -H "Impersonate-Group: devs")
	assert_contains "$out" "without impersonating a user"
	assert_contains "$out" " 500"
	# A service account by its user name: the serviceaccounts resource,
	# and the account's groups when none are asked for.
	out=$(as imp 33 auth whoami --as "system:serviceaccount:$NS:robot" 2>&1 | squeeze) ||
		fail "whoami --as a service account: $out"
	assert_contains "$out" "Groups [system:serviceaccounts system:serviceaccounts:$NS system:authenticated]"
	out=$(as imp 33 get pods --as "system:serviceaccount:$NS:other" 2>&1) && fail "imp impersonated other"
	assert_contains "$out" "serviceaccounts \"other\" is forbidden: User \"imp\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"$NS\""
}

# imp_whoami CURL-ARGS...: a SelfSubjectReview posted by imp with curl.
imp_whoami() {
	curl -s --cacert "$DATA/tls/ca.crt" -H "Authorization: Bearer $IMP" \
		-H 'Content-Type: application/json' "$@" \
		--data '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' \
		"https://127.0.0.1:$PORT/apis/authentication.k8s.io/v1/selfsubjectreviews"
}

# cert_user NAME SUBJECT: a kubeconfig NAME with a client certificate for
# SUBJECT signed by the server's CA.
cert_user() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/$1.key" \
		-subj "$2" -out "$TMP/$1.csr" 2>/dev/null || fail "openssl req $2"
	printf 'extendedKeyUsage=clientAuth\n' >"$TMP/$1.ext"
	openssl x509 -req -in "$TMP/$1.csr" -CA "$DATA/tls/ca.crt" -CAkey "$DATA/tls/ca.key" \
		-CAcreateserial -days 1 -extfile "$TMP/$1.ext" -out "$TMP/$1.crt" 2>/dev/null ||
		fail "openssl x509 $2"
	kubeconfig_for "$1" "{client-certificate: $TMP/$1.crt, client-key: $TMP/$1.key}"
}

case_whoami() {
	local out tok
	# A client certificate: CN the user, O the groups.
	cert_user carol "/O=team1/O=team2/CN=carol"
	out=$(as carol 33 auth whoami 2>&1 | squeeze) || fail "whoami (cert): $out"
	assert_contains "$out" "Username carol"
	assert_contains "$out" "Groups [team1 team2 system:authenticated]"
	out=$(as alice 33 auth whoami -o json 2>&1) || fail "whoami (token): $out"
	assert_eq "$(jq -r '.status.userInfo | [.username, .uid, (.groups | join(","))] | join(" ")' <<<"$out")" \
		"alice 1001 system:authenticated"
	# kubectl 1.27 asks authentication.k8s.io/v1beta1 (or v1alpha1) only.
	out=$(as carol 27 auth whoami 2>&1 | squeeze) || fail "whoami (1.27, cert): $out"
	assert_contains "$out" "Username carol"
	assert_contains "$out" "Groups [team1 team2 system:authenticated]"
	out=$(as alice 27 auth whoami -o json 2>&1) || fail "whoami (1.27, token): $out"
	assert_eq "$(jq -r '[.apiVersion, .status.userInfo.username, .status.userInfo.uid] | join(" ")' <<<"$out")" \
		"authentication.k8s.io/v1beta1 alice 1001"
	# A service account's token bound to a pod: uid and extra as upstream.
	k 33 create serviceaccount robot -n "$NS" >/dev/null || fail "create sa"
	k 33 run p --image=busybox -n "$NS" --restart=Never >/dev/null || fail "create pod"
	tok=$(k 33 create token robot -n "$NS" --bound-object-kind Pod --bound-object-name p 2>&1) ||
		fail "create token: $tok"
	kubeconfig_for robot "{token: $tok}"
	out=$(as robot 33 auth whoami -o json 2>&1) || fail "whoami (sa): $out"
	assert_eq "$(jq -r '.status.userInfo | [.username, .uid, (.groups | join(",")), .extra["authentication.kubernetes.io/pod-name"][0]] | join(" ")' <<<"$out")" \
		"system:serviceaccount:$NS:robot $(k 33 get sa robot -n "$NS" -o jsonpath='{.metadata.uid}') system:serviceaccounts,system:serviceaccounts:$NS,system:authenticated p"
	assert_eq "$(jq -r '.status.userInfo.extra["authentication.kubernetes.io/pod-uid"][0]' <<<"$out")" \
		"$(k 33 get pod p -n "$NS" -o jsonpath='{.metadata.uid}')" "pod-uid extra"
}

# token_review VERSION TOKEN [AUDIENCE]: the status of a TokenReview.
token_review() {
	local aud=${3:+"audiences: [$3]"}
	k "$1" create -o json -f - <<YAML | jq -c .status
apiVersion: authentication.k8s.io/v1
kind: TokenReview
spec: {token: "$2" ${aud:+, $aud}}
YAML
}

case_token_review() {
	local v out tok f
	tok=$(k 33 create token robot -n "$NS" --audience "vault-$RUN_ID") || fail "create token"
	out=$(token_review 27 "$IMP") || fail "TokenReview (27): $out"
	assert_eq "$(jq -r .user.username <<<"$out")" imp "token file user (27)"
	for v in 33; do
		out=$(token_review $v "$IMP") || fail "TokenReview ($v): $out"
		assert_eq "$(jq -r '[.authenticated, .user.username, .user.uid, (.user.groups | join(",")), .audiences[0]] | join(" ")' <<<"$out")" \
			"true imp 1003 ops,system:authenticated https://kubernetes.default.svc.cluster.local" "token file user ($v)"
		out=$(token_review $v "not-$IMP") || fail "TokenReview of a bad token ($v): $out"
		assert_eq "$(jq -r '[.authenticated // false, .error] | join(" ")' <<<"$out")" "false invalid bearer token"
		# A service-account token is good for its own audience only.
		out=$(token_review $v "$tok" "vault-$RUN_ID") || fail "TokenReview (sa) ($v): $out"
		assert_eq "$(jq -r '[.authenticated, .user.username, .audiences[0]] | join(" ")' <<<"$out")" \
			"true system:serviceaccount:$NS:robot vault-$RUN_ID" "sa token, its audience ($v)"
		out=$(token_review $v "$tok") || fail "TokenReview (sa, API audience) ($v): $out"
		assert_eq "$(jq -r '.authenticated // false' <<<"$out")" false "sa token, the API's audience ($v)"
	done
	# The node join token opens the join endpoints only, not the API.
	out=$(token_review 33 "$(cat "$DATA/token")") || fail "TokenReview (node token): $out"
	assert_eq "$(jq -r '.authenticated // false' <<<"$out")" false "node join token"
	f=$(yaml alice-tr <<YAML
apiVersion: authentication.k8s.io/v1
kind: TokenReview
spec: {token: "$IMP"}
YAML
)
	out=$(as alice 33 create -f "$f" 2>&1) && fail "alice reviewed a token"
	assert_contains "$out" "User \"alice\" cannot create resource \"tokenreviews\" in API group \"authentication.k8s.io\""
}

# access_review VERSION USER GROUPS VERB RESOURCE [NS]: status.allowed of a
# SubjectAccessReview.
access_review() {
	k "$1" create -o json -f - <<YAML | jq -r .status.allowed
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: "$2"
  groups: $3
  resourceAttributes: {verb: $4, resource: $5, namespace: "${6:-}"}
YAML
}

case_subject_access_review() {
	local v out f
	assert_eq "$(access_review 27 alice '[]' list pods "$NS")" true "alice list (27)"
	for v in 33; do
		assert_eq "$(access_review $v alice '[]' list pods "$NS")" true "alice list ($v)"
		assert_eq "$(access_review $v alice '[]' delete pods "$NS")" false "alice delete ($v)"
		assert_eq "$(access_review $v bob '[system:masters]' delete nodes)" true "a master ($v)"
		# The user is exactly as given: no system:authenticated added.
		assert_eq "$(access_review $v alice '[]' create selfsubjectaccessreviews)" false "no groups ($v)"
	done
	f=$(yaml nobody <<YAML
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec: {resourceAttributes: {verb: get, resource: pods}}
YAML
)
	out=$(k 33 create -f "$f" 2>&1) && fail "review of nobody accepted"
	assert_contains "$out" "spec.user: Invalid value: \"\": at least one of user or group must be specified"
	# LocalSubjectAccessReview: the namespace of the path, and only it.
	f=$(yaml local <<YAML
apiVersion: authorization.k8s.io/v1
kind: LocalSubjectAccessReview
metadata: {namespace: $NS}
spec: {user: alice, resourceAttributes: {verb: list, resource: pods, namespace: $NS}}
YAML
)
	out=$(k 33 create -f "$f" -o json 2>&1) || fail "LocalSubjectAccessReview: $out"
	assert_eq "$(jq -r '[.metadata.namespace, .status.allowed] | join(" ")' <<<"$out")" "$NS true"
	assert_eq "$(jq -r .status.reason <<<"$out")" \
		"RBAC: allowed by RoleBinding \"alice-reads/$NS\" of Role \"pod-reader\" to User \"alice\""
	sed -i "s/namespace: $NS}}/namespace: default}}/" "$f"
	out=$(k 33 create -f "$f" 2>&1) && fail "LocalSubjectAccessReview of another namespace accepted"
	assert_contains "$out" "spec.resourceAttributes.namespace must match namespace: $NS"
	f=$(yaml alice-sar <<YAML
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec: {user: imp, resourceAttributes: {verb: get, resource: pods}}
YAML
)
	out=$(as alice 33 create -f "$f" 2>&1) && fail "alice posted a SubjectAccessReview"
	assert_contains "$out" "cannot create resource \"subjectaccessreviews\" in API group \"authorization.k8s.io\""
}

case_discovery() {
	local out
	out=$(k 33 api-resources --api-group=authorization.k8s.io -o wide 2>&1 | squeeze) || fail "api-resources: $out"
	assert_contains "$out" "selfsubjectaccessreviews authorization.k8s.io/v1 false SelfSubjectAccessReview create"
	assert_contains "$out" "localsubjectaccessreviews authorization.k8s.io/v1 true LocalSubjectAccessReview create"
	out=$(k 33 api-resources --api-group=authentication.k8s.io -o name 2>&1) || fail "api-resources: $out"
	assert_contains "$out" "tokenreviews.authentication.k8s.io"
	# v1 preferred; v1beta1 serves SelfSubjectReview alone.
	assert_eq "$(k 33 get --raw /apis/authentication.k8s.io | jq -c '[.preferredVersion.version, [.versions[].version]]')" \
		'["v1",["v1","v1beta1"]]' "authentication.k8s.io's versions"
	assert_eq "$(k 33 get --raw /apis/authentication.k8s.io/v1beta1 | jq -c '[.resources[].name]')" \
		'["selfsubjectreviews"]' "authentication.k8s.io/v1beta1's resources"
	# Nothing is stored: a get is not served.
	out=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.crt" --cert "$DATA/tls/admin.crt" \
		--key "$DATA/tls/admin.key" "https://127.0.0.1:$PORT/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
	assert_eq "$out" 405 "GET of a review"
}

run_case can_i
run_case can_i_list
run_case impersonation
run_case whoami
run_case token_review
run_case subject_access_review
# A node's permissions come from the Node authorizer, which has no rules to
# list: the list says it is incomplete, as upstream's.
case_node_rules() {
	local out
	cert_user node1 "/O=system:nodes/CN=system:node:n1"
	out=$(as node1 33 auth can-i --list 2>&1) || fail "can-i --list (node): $out"
	assert_contains "$out" "node authorizer does not support user rule resolution"
	assert_eq "$(as node1 33 auth can-i list services -A)" yes "Node authorizer (can-i)"
	out=$(as node1 33 auth can-i create pods) && fail "a node may create pods?"
	assert_eq "$out" "no - node \"n1\" may not create pods" "the Node authorizer's reason"
}

# The default view, edit and admin, bound in a namespace: each reads
# metrics.k8s.io (`kubectl top`), as upstream's aggregate
# system:aggregated-metrics-reader into them; edit writes, admin binds.
case_default_roles() {
	local role
	for role in view edit admin; do
		k 33 create rolebinding "$role-$RUN_ID" -n "$NS" --clusterrole=$role --user=$role-user >/dev/null ||
			fail "bind $role"
		assert_eq "$(k 33 auth can-i list pods.metrics.k8s.io -n "$NS" --as $role-user)" yes "$role: list pod metrics"
		assert_eq "$(k 27 auth can-i get pods.metrics.k8s.io -n "$NS" --as $role-user)" yes "$role: get pod metrics (1.27)"
		assert_eq "$(k 33 auth can-i list pods.metrics.k8s.io -n default --as $role-user)" no "$role: another namespace"
		assert_eq "$(k 33 auth can-i list pods -n "$NS" --as $role-user)" yes "$role: list pods"
	done
	assert_eq "$(k 33 auth can-i create deployments -n "$NS" --as view-user)" no "view creates"
	assert_eq "$(k 33 auth can-i get secrets -n "$NS" --as view-user)" no "view reads secrets"
	assert_eq "$(k 33 auth can-i create deployments -n "$NS" --as edit-user)" yes "edit creates"
	assert_eq "$(k 33 auth can-i create rolebindings -n "$NS" --as edit-user)" no "edit binds"
	assert_eq "$(k 33 auth can-i create rolebindings -n "$NS" --as admin-user)" yes "admin binds"
	k 33 create clusterrolebinding "view-$RUN_ID" --clusterrole=view --user=viewer >/dev/null ||
		fail "bind view at the cluster scope"
	assert_eq "$(k 33 auth can-i list nodes.metrics.k8s.io --as viewer)" yes "view: node metrics"
}

run_case discovery
run_case node_rules
run_case default_roles
finish
