#!/usr/bin/env bash
# kc-tool (the client library from a shell) against skiff-server over
# HTTPS with the kubeconfig the server writes: get, list with a selector,
# and watch: the informer's SYNCED line, then each change once, in order.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server kc-tool
require_cmd curl

DATA=$TMP/data
KC="$TESTBIN/kc-tool --kubeconfig $DATA/kubeconfig"
SERVER_PID=
PORT=

# no controllers: the root-CA publisher would add kube-root-ca.crt to the
# test's namespace, and the counts below are of the test's own objects
start_skiff_server "$DATA" "$TMP/server.log" tls --controllers none

NS=kc-$RUN_ID
# api METHOD PATH [BODY]: as the admin, with the server's client certificate;
# a PATCH body is a merge patch.
api() {
	local ct=application/json
	[ "$1" = PATCH ] && ct=application/merge-patch+json
	curl -sf --cacert "$DATA/tls/ca.crt" --cert "$DATA/tls/admin.crt" --key "$DATA/tls/admin.key" \
		-X "$1" -H "Content-Type: $ct" ${3:+--data-binary "$3"} \
		"https://127.0.0.1:$PORT$2" >/dev/null || fail "$1 $2 failed"
}
cm() { echo "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"$1\",\"labels\":{\"g\":\"$2\"}}}"; }

case_help() {
	$KC --help | grep -q '^Usage: kc-tool' || fail "no usage in --help"
	$KC frob configmaps 2>/dev/null && fail "an unknown verb succeeded"
	$KC list frobs 2>/dev/null && fail "an unknown resource succeeded"
	return 0
}

case_get_and_list() {
	api POST /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$NS\"}}"
	api POST "/api/v1/namespaces/$NS/configmaps" "$(cm a x)"
	api POST "/api/v1/namespaces/$NS/configmaps" "$(cm b y)"
	assert_eq "$($KC -n "$NS" list configmaps -l g=x | cut -d' ' -f1)" "$NS/a"
	assert_eq "$($KC -n "$NS" list configmaps | wc -l)" 2
	assert_contains "$($KC get namespaces "$NS")" "\"name\": \"$NS\""
	local err
	err=$($KC -n "$NS" get configmaps nope 2>&1) && fail "get of a missing object succeeded"
	assert_contains "$err" 'configmaps "nope" not found'
}

case_watch_sees_changes_once_in_order() {
	$KC -n "$NS" watch configmaps --count 3 --timeout 20 >"$TMP/watch.out" &
	local pid=$!
	defer "kill $pid"
	wait_for 10 grep -q '^SYNCED 2$' "$TMP/watch.out" || fail "no SYNCED line: $(cat "$TMP/watch.out")"
	api PATCH "/api/v1/namespaces/$NS/configmaps/a" '{"data":{"k":"v"}}'
	api DELETE "/api/v1/namespaces/$NS/configmaps/b"
	api POST "/api/v1/namespaces/$NS/configmaps" "$(cm c x)"
	wait "$pid" || fail "watch did not see 3 changes: $(cat "$TMP/watch.out")"
	assert_eq "$(sed -n '4,$p' "$TMP/watch.out" | cut -d' ' -f1,2 | tr '\n' ,)" \
		"UPDATE $NS/a,DELETE $NS/b,ADD $NS/c,"
}

run_case help
run_case get_and_list
run_case watch_sees_changes_once_in_order
finish
