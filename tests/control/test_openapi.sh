#!/usr/bin/env bash
# skiff-server's schemas (control/api_schema.def) as the real kubectl (1.27
# and 1.33) uses them: `kubectl explain` at depth for several kinds and
# --recursive (OpenAPI v3), explain from OpenAPI v2 (the protobuf kubectl
# asks for), and server-side field validation (Strict, Warn, Ignore)
# naming an unknown field deep in a pod template. The v3 documents and the
# v2 JSON parse, and every $ref in them resolves.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl
require_cmd jq
require_kubectl

DATA=$TMP/data
SERVER_PID=
PORT=
start_skiff_server "$DATA" "$TMP/server.log" tls --controllers=none --no-scheduler

# k VERSION args...: kubectl.1.VERSION with the server's kubeconfig and a
# cache of its own.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}

# get PATH [CURL-ARGS...]: the body of an authenticated GET.
get() {
	local p=$1; shift
	curl -sf --cacert "$DATA/tls/ca.crt" --cert "$DATA/tls/admin.crt" --key "$DATA/tls/admin.key" \
		"$@" "https://127.0.0.1:$PORT$p"
}

# dangling_refs DOC-FILE PREFIX: the $refs of a document that name no
# schema under PREFIX (components.schemas or definitions).
dangling_refs() {
	jq -r --arg p "$2" '($p | split(".")) as $at | getpath($at) as $defs
		| [.. | objects | select(has("$ref")) | ."$ref" | split("/") | last]
		| unique | map(select($defs[.] == null)) | join(",")' "$1"
}

deployment() { # NAME CONTAINER-EXTRA-YAML
	cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: default}
spec:
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
      - name: c
        image: busybox
        $2
EOF
}

case_explain_at_depth() {
	local v out
	for v in 27 33; do
		out=$(k $v explain deployment.spec.strategy.rollingUpdate.maxSurge 2>&1)
		assert_contains "$out" "KIND:       Deployment" "$v"
		assert_contains "$out" "FIELD: maxSurge" "$v"
		assert_contains "$out" "percentage" "$v"
		out=$(k $v explain pod.spec.containers.livenessProbe.httpGet 2>&1)
		assert_contains "$out" "port	<IntOrString> -required-" "$v"
		out=$(k $v explain service.spec.ports 2>&1)
		assert_contains "$out" "targetPort	<IntOrString>" "$v"
		assert_contains "$out" "nodePort	<integer>" "$v"
		out=$(k $v explain cronjob.spec.jobTemplate.spec.template.spec.containers.resources 2>&1)
		assert_contains "$out" "limits	<map[string]Quantity>" "$v"
		out=$(k $v explain ingress.spec.rules.http.paths.backend.service.port 2>&1)
		assert_contains "$out" "number	<integer>" "$v"
		out=$(k $v explain statefulset.spec.volumeClaimTemplates.spec.resources 2>&1)
		assert_contains "$out" "requests	<map[string]Quantity>" "$v"
		out=$(k $v explain deployment.spec.strategy.rollingUpdate.nope 2>&1) &&
			fail "explain of a field that does not exist succeeded ($v)"
		assert_contains "$out" 'field "nope" does not exist' "$v"
	done
}

case_explain_recursive() {
	local v out
	for v in 27 33; do
		out=$(k $v explain pods --recursive 2>&1)
		assert_contains "$out" "imagePullPolicy	<string>" "$v"
		assert_contains "$out" "nodeSelectorTerms	<[]NodeSelectorTerm> -required-" "$v"
		assert_contains "$out" "podIPs	<[]PodIP>" "$v"
		[ "$(grep -c . <<<"$out")" -gt 400 ] || fail "explain pods --recursive: $(grep -c . <<<"$out") lines ($v)"
	done
}

# kubectl 1.27 and 1.33 decode the protobuf /openapi/v2 for explain's v2 output.
case_explain_openapi_v2() {
	local v out
	for v in 27 33; do
		out=$(k $v explain --output plaintext-openapiv2 deployment.spec.strategy.rollingUpdate 2>&1)
		assert_contains "$out" "RESOURCE: rollingUpdate <Object>" "$v"
		assert_contains "$out" "maxUnavailable" "$v"
		out=$(k $v explain --output plaintext-openapiv2 job.spec.template.spec.containers.ports 2>&1)
		assert_contains "$out" "containerPort	<integer> -required-" "$v"
	done
}

case_field_validation() {
	local v out bad='imagePullPolicyy: Always'
	for v in 27 33; do
		# kubectl's default is Strict.
		out=$(deployment strict-$v "$bad" | k $v apply -f - 2>&1) &&
			fail "Strict accepted an unknown field ($v)"
		assert_contains "$out" 'strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy"' "$v"
		out=$(deployment warn-$v "$bad" | k $v create --validate=warn -f - 2>&1) ||
			fail "Warn refused the object ($v): $out"
		assert_contains "$out" 'Warning: unknown field "spec.template.spec.containers[0].imagePullPolicyy"' "$v"
		# What Warn names is dropped, as upstream drops it.
		out=$(k $v get deployment warn-$v -o jsonpath='{.spec.template.spec.containers[0]}')
		assert_contains "$out" '"image":"busybox"' "$v"
		assert_not_contains "$out" "imagePullPolicyy" "$v"
		out=$(deployment ignore-$v "$bad" | k $v create --validate=false -f - 2>&1) ||
			fail "Ignore refused the object ($v): $out"
		assert_not_contains "$out" "unknown field" "$v"
		# Known fields at depth pass Strict.
		out=$(deployment ok-$v 'resources: {limits: {cpu: 100m}}
        livenessProbe: {httpGet: {port: http, path: /}}
        ports: [{name: http, containerPort: 80}]' | k $v apply -f - 2>&1) ||
			fail "Strict refused known fields ($v): $out"
	done
	# Several unknown fields, at several depths, are all named.
	out=$(printf '%s\n  paused: true\n  foo: 1\n' "$(deployment two "$bad")" | k 33 create -f - 2>&1) &&
		fail "Strict accepted unknown fields"
	assert_contains "$out" 'unknown field "spec.foo"'
	assert_contains "$out" 'unknown field "spec.template.spec.containers[0].imagePullPolicyy"'
	# Warn: a Warning header each, as upstream sends them (kubectl prints a line each).
	out=$(printf '%s\n  paused: true\n  foo: 1\n' "$(deployment warn-two "$bad")" |
		k 33 create --validate=warn -f - 2>&1) || fail "Warn refused unknown fields: $out"
	assert_eq "$(grep -c '^Warning: unknown field "[^"]*"$' <<<"$out")" 2 "one warning a field"
	assert_contains "$out" 'Warning: unknown field "spec.foo"'
	# A Service: the same at another kind.
	out=$(k 33 create -f - 2>&1 <<EOF
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: default}
spec: {ports: [{port: 80, targetPortt: 8080}]}
EOF
	) && fail "Strict accepted a Service with an unknown field"
	assert_contains "$out" 'unknown field "spec.ports[0].targetPortt"'
}

case_documents_resolve() {
	local rel n=0 bad
	get /openapi/v3 >"$TMP/index.json" || fail "GET /openapi/v3"
	for rel in $(jq -r '.paths[].serverRelativeURL' "$TMP/index.json"); do
		get "$rel" >"$TMP/doc.json" || fail "GET $rel"
		jq -e '.openapi == "3.0.0"' "$TMP/doc.json" >/dev/null || fail "$rel: not an OpenAPI v3 document"
		bad=$(dangling_refs "$TMP/doc.json" components.schemas)
		assert_eq "$bad" "" "$rel: refs that resolve nowhere"
		n=$((n + 1))
	done
	[ "$n" -ge 10 ] || fail "only $n group-version documents"
	get /openapi/v3/apis/apps/v1 >"$TMP/apps.json"
	assert_eq "$(jq -r '.components.schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0].kind' "$TMP/apps.json")" Deployment
	get /openapi/v2 -H 'Accept: application/json' >"$TMP/v2.json" || fail "GET /openapi/v2"
	assert_eq "$(jq -r .swagger "$TMP/v2.json")" 2.0
	assert_eq "$(dangling_refs "$TMP/v2.json" definitions)" "" "v2 refs that resolve nowhere"
	jq -e '.definitions["io.k8s.api.core.v1.PodSpec"].properties.containers["x-kubernetes-patch-merge-key"] == "name"' \
		"$TMP/v2.json" >/dev/null || fail "v2 PodSpec.containers lacks its merge key"
	get /openapi/v3/apis/nope.example.com/v1 >/dev/null && fail "a document for an unserved group"
	return 0
}

run_case explain_at_depth
run_case explain_recursive
run_case explain_openapi_v2
run_case field_validation
run_case documents_resolve
finish
