#!/usr/bin/env bash
# Request decoding as kube-apiserver does it, over plain HTTP with curl:
# apiVersion and kind taken from the path when a body leaves them out
# (another type still refused, naming the field); boolean query parameters
# as upstream converts them (watch=True is a watch; only 0 and false are
# false) and integers as strconv.ParseInt (400 naming the parameter);
# dryRun and fieldValidation values upstream refuses (422); a field given
# twice (the last wins, a warning, refused under Strict); the media types
# of writes and patches, an apply patch in YAML. The official clients'
# view of the same is tests/clients/.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl jq

DATA=$TMP/data
start_skiff_server "$DATA" "$TMP/server.log" plain --controllers=none --no-scheduler

. "$(dirname "$0")/api_curl.sh"

NS=dec-$RUN_ID
CMS=/api/v1/namespaces/$NS/configmaps
r=$(api POST /api/v1/namespaces "{\"metadata\":{\"name\":\"$NS\"}}")
[ "$(code "$r")" = 201 ] || fail "namespace without apiVersion/kind: $r"

case_type_from_path() {
	local r
	r=$(api POST $CMS '{"metadata":{"name":"t1"},"data":{"a":"1"}}')
	assert_eq "$(code "$r") $(jqr "$r" '.apiVersion + " " + .kind')" "201 v1 ConfigMap"
	r=$(api POST $CMS '{"apiVersion":null,"kind":"","metadata":{"name":"t2"}}')
	assert_eq "$(code "$r") $(jqr "$r" '.apiVersion + " " + .kind')" "201 v1 ConfigMap" "null and empty"
	r=$(api PUT $CMS/t1 '{"metadata":{"name":"t1"},"data":{"a":"2"}}')
	assert_eq "$(code "$r") $(jqr "$r" '.kind + " " + .data.a')" "200 ConfigMap 2" "update"
	r=$(api POST /apis/apps/v1/namespaces/$NS/deployments '{"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"d"}},"template":{"metadata":{"labels":{"a":"d"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}')
	assert_eq "$(code "$r") $(jqr "$r" '.apiVersion + " " + .kind')" "201 apps/v1 Deployment"
	# Another type, or not a string: 400 naming the field.
	r=$(api POST $CMS '{"apiVersion":"apps/v1","metadata":{"name":"t3"}}')
	assert_eq "$(code "$r") $(jqr "$r" .message)" "400 the API version in the data (apps/v1) does not match the expected API version (v1)"
	r=$(api POST $CMS '{"kind":"Secret","metadata":{"name":"t3"}}')
	assert_eq "$(code "$r") $(jqr "$r" .message)" "400 the kind in the data (Secret) does not match the expected kind (ConfigMap)"
	r=$(api POST $CMS '{"apiVersion":1,"metadata":{"name":"t3"}}')
	assert_eq "$(code "$r")" 400
	assert_contains "$(jqr "$r" .message)" "apiVersion of type string"
	r=$(api POST $CMS '{"apiVersion":"v1","kind":"ConfigMap"}')
	assert_eq "$(code "$r") $(jqr "$r" '.details.causes[0].field')" "422 metadata"
}

case_boolean_query() {
	local v out
	for v in True yes; do
		out=$(curl -s "$(URL "$CMS?watch=$v&resourceVersion=0&timeoutSeconds=1")" | head -n 1 | jq -r .type)
		assert_eq "$out" ADDED "watch=$v is a watch"
	done
	for v in FALSE 0; do
		out=$(curl -s "$(URL "$CMS?watch=$v&timeoutSeconds=1")" | jq -r .kind)
		assert_eq "$out" ConfigMapList "watch=$v is a list"
	done
	out=$(curl -s "$(URL "$CMS?watch&resourceVersion=0&timeoutSeconds=1")" | head -n 1 | jq -r .type)
	assert_eq "$out" ADDED "?watch without a value is a watch"
	rv=$(jqr "$(api GET $CMS)" .metadata.resourceVersion)
	out=$(curl -s "$(URL "$CMS?watch=1&resourceVersion=$rv&timeoutSeconds=2&allowWatchBookmarks=True")" | jq -r .type)
	assert_eq "$out" BOOKMARK "allowWatchBookmarks=True"
}

case_integer_query() {
	local r i
	for i in 1 2 3; do api POST $CMS "{\"metadata\":{\"name\":\"n$i\",\"labels\":{\"n\":\"y\"}}}" >/dev/null; done
	r=$(api GET "$CMS?labelSelector=n&limit=%2B2")
	assert_eq "$(jqr "$r" '.items|length')" 2 "limit=+2"
	r=$(api GET "$CMS?labelSelector=n&limit=-1")
	assert_eq "$(jqr "$r" '.items|length')" 3 "limit=-1: no limit"
	r=$(api GET "$CMS?limit=2x")
	assert_eq "$(code "$r") $(jqr "$r" .message)" "400 limit: strconv.ParseInt: parsing \"2x\": invalid syntax"
	r=$(api GET "$CMS?watch=1&timeoutSeconds=%201")
	assert_eq "$(code "$r")" 400 "timeoutSeconds with a space"
	assert_contains "$(jqr "$r" .message)" "timeoutSeconds"
	r=$(api GET "$CMS?timeoutSeconds=30s")
	assert_eq "$(code "$r")" 400 "a list's timeoutSeconds"
	r=$(api GET "$CMS?limit=99999999999999999999")
	assert_contains "$(jqr "$r" .message)" "value out of range"
	r=$(api DELETE "$CMS/n1?gracePeriodSeconds=soon")
	assert_eq "$(code "$r")" 400
	assert_contains "$(jqr "$r" .message)" "gracePeriodSeconds"
	# pods/log options are checked before the kubelet is called.
	api POST /api/v1/namespaces/$NS/pods '{"metadata":{"name":"p"},"spec":{"nodeName":"nowhere","containers":[{"name":"c","image":"i"}]}}' >/dev/null
	r=$(api GET "/api/v1/namespaces/$NS/pods/p/log?tailLines=ten")
	assert_eq "$(code "$r")" 400 "tailLines=ten"
	r=$(api GET "/api/v1/namespaces/$NS/pods/p/log?tailLines=-1")
	assert_eq "$(code "$r")" 422 "tailLines=-1"
	assert_contains "$(jqr "$r" .message)" "tailLines: Invalid value: -1"
	r=$(api GET "/api/v1/namespaces/$NS/pods/p/log?sinceSeconds=0")
	assert_eq "$(code "$r")" 422 "sinceSeconds=0"
}

case_write_and_delete_options() {
	local r
	r=$(api POST "$CMS?dryRun=Some" '{"metadata":{"name":"o1"}}')
	assert_eq "$(code "$r")" 422
	assert_contains "$(jqr "$r" .message)" 'dryRun: Unsupported value: "Some"'
	r=$(api POST "$CMS?fieldValidation=strict" '{"metadata":{"name":"o1"}}')
	assert_eq "$(code "$r")" 422
	assert_contains "$(jqr "$r" .message)" 'fieldValidation: Unsupported value: "strict"'
	r=$(api PATCH "$CMS/o1?dryRun=x" '{}' application/merge-patch+json)
	assert_contains "$(code "$r") $(jqr "$r" .message)" "422 PatchOptions.meta.k8s.io"
	# DeleteOptions in the query when there is no body.
	api POST $CMS '{"metadata":{"name":"o2"}}' >/dev/null
	r=$(api DELETE "$CMS/o2?dryRun=All")
	assert_eq "$(code "$(api GET $CMS/o2)")" 200 "dryRun delete kept it"
	r=$(api DELETE "$CMS/o2?propagationPolicy=Sideways")
	assert_eq "$(code "$r")" 422 "unknown propagationPolicy"
	assert_contains "$(jqr "$r" .message)" 'propagationPolicy: Unsupported value: "Sideways"'
	r=$(api DELETE $CMS/o2 '{"propagationPolicy":"Orphan","orphanDependents":false}')
	assert_eq "$(code "$r")" 422 "propagationPolicy with orphanDependents"
	r=$(api DELETE "$CMS/o2?propagationPolicy=Foreground")
	assert_eq "$(jqr "$r" '.metadata.finalizers|join(",")')" foregroundDeletion
}

case_duplicate_fields() {
	local r
	r=$(curl -s -D - -H 'Content-Type: application/json' \
		--data '{"metadata":{"name":"dup"},"data":{"a":"1","a":"2"}}' "$(URL "$CMS")")
	assert_contains "$r" " 201"
	assert_contains "$r" 'Warning: 299 - "duplicate field \"a\""'
	assert_eq "$(jqr "$(api GET $CMS/dup)" .data.a)" 2 "the last value wins"
	r=$(api POST "$CMS?fieldValidation=Strict" '{"metadata":{"name":"dup2"},"data":{"a":"1","a":"2"}}')
	assert_eq "$(code "$r") $(jqr "$r" .message)" '400 strict decoding error: duplicate field "a"'
	r=$(api POST "$CMS?fieldValidation=Ignore" '{"metadata":{"name":"dup3"},"data":{"a":"1","a":"2"}}')
	assert_eq "$(code "$r")" 201
}

case_media_types() {
	local r
	r=$(api POST $CMS '{"metadata":{"name":"m1"}}' 'application/json;charset=utf-8')
	assert_eq "$(code "$r")" 201 "charset"
	r=$(api POST $CMS '{"metadata":{"name":"m2"}}' 'Application/JSON; charset=UTF-8')
	assert_eq "$(code "$r")" 201 "case and a space"
	r=$(api POST $CMS "$(printf 'metadata:\n  name: m5\ndata:\n  k: v\n')" application/yaml)
	assert_eq "$(code "$r") $(jqr "$r" .data.k)" "201 v" "application/yaml"
	r=$(api POST $CMS '{"metadata":{"name":"m3"}}' 'text/plain')
	assert_eq "$(code "$r")" 415
	r=$(api PATCH $CMS/m1 '{"data":{"a":"1"}}' application/merge-patch+json)
	assert_eq "$(code "$r") $(jqr "$r" .data.a)" "200 1" "merge patch"
	r=$(api PATCH $CMS/m1 '{"data":{"b":"2"}}' 'application/strategic-merge-patch+json; charset=utf-8')
	assert_eq "$(code "$r") $(jqr "$r" .data.b)" "200 2" "strategic merge patch"
	r=$(api PATCH $CMS/m1 '[{"op":"remove","path":"/data/a"}]' application/json-patch+json)
	assert_eq "$(code "$r") $(jqr "$r" '.data|keys|join(",")')" "200 b" "JSON patch"
	r=$(api PATCH "$CMS/m4?fieldManager=t" "$(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m4\ndata:\n  y: "yaml"\n')" application/apply-patch+yaml)
	assert_eq "$(code "$r") $(jqr "$r" .data.y)" "201 yaml" "apply patch in YAML"
	r=$(api PATCH $CMS/m1 '{"apiVersion":"v2"}' application/merge-patch+json)
	assert_eq "$(code "$r")" 422 "a patch changing apiVersion"
	r=$(api PATCH $CMS/m1 '[{"op":"remove","path":"/kind"}]' application/json-patch+json)
	assert_eq "$(code "$r")" 422 "a patch removing kind"
	r=$(api PATCH $CMS/m1 '{"data":' application/merge-patch+json)
	assert_eq "$(code "$r")" 400 "malformed patch"
}

run_case type_from_path
run_case boolean_query
run_case integer_query
run_case write_and_delete_options
run_case duplicate_fields
run_case media_types
finish
