#!/usr/bin/env bash
# skiff-server's shared paths (issue 5's performance work) over plain HTTP
# on loopback: every watcher of a resource gets every event in order from
# one shared rendering (plain, with a label selector, as a Table); a list
# served from the stored values equals the objects one by one (also for
# values with escapes and reals, which go the slow way) and pages the same;
# more than 1,100 connections at once (select() stopped near 1,024).
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server server-bench
require_cmd curl jq

DATA=$TMP/data
PORT=
SERVER_PID=
# One descriptor per connection, on both sides.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"

start_skiff_server "$DATA" "$TMP/server.log" plain --controllers=none --no-scheduler

URL() { echo "http://127.0.0.1:$PORT$1"; }
# api METHOD PATH [BODY [CONTENT-TYPE]]: the body; fails on an HTTP error.
api() {
	local m=$1 p=$2 body=${3:-} ct=${4:-application/json}
	if [ -n "$body" ]; then
		curl -sf -X "$m" -H "Content-Type: $ct" --data-binary "$body" "$(URL "$p")"
	else
		curl -sf -X "$m" "$(URL "$p")"
	fi || fail "$m $p failed"
}
NS=f-$RUN_ID
PODS=/api/v1/namespaces/$NS/pods
pod() { # NAME GRP [EXTRA-METADATA]
	echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\",\"labels\":{\"grp\":\"$2\"}${3:-}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"
}
api POST /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$NS\"}}" >/dev/null

case_watchers_share_events_in_order() {
	local rv i f want_plain want_sel want_table
	rv=$(api GET "$PODS" | jq -r .metadata.resourceVersion)
	for i in $(seq 1 12); do
		curl -sN "$(URL "$PODS?watch=true&resourceVersion=$rv&timeoutSeconds=8")" >"$TMP/plain.$i" &
	done
	for i in 1 2 3 4; do
		curl -sN "$(URL "$PODS?watch=true&resourceVersion=$rv&timeoutSeconds=8&labelSelector=grp%3Da")" \
			>"$TMP/sel.$i" &
	done
	for i in 1 2; do
		curl -sN -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' \
			"$(URL "$PODS?watch=true&resourceVersion=$rv&timeoutSeconds=8")" >"$TMP/table.$i" &
	done
	api POST "$PODS" "$(pod p1 a)" >/dev/null
	api POST "$PODS" "$(pod p2 b)" >/dev/null
	api PATCH "$PODS/p2" '{"metadata":{"labels":{"grp":"a"}}}' application/merge-patch+json >/dev/null
	api PATCH "$PODS/p1" '{"metadata":{"labels":{"grp":"b"}}}' application/merge-patch+json >/dev/null
	api DELETE "$PODS/p2" >/dev/null
	api DELETE "$PODS/p1" >/dev/null
	wait
	want_plain="ADDED p1 a,ADDED p2 b,MODIFIED p2 a,MODIFIED p1 b,DELETED p2 a,DELETED p1 b"
	want_sel="ADDED p1 a,ADDED p2 a,DELETED p1 b,DELETED p2 a"
	want_table="ADDED p1,ADDED p2,MODIFIED p2,MODIFIED p1,DELETED p2,DELETED p1"
	for f in "$TMP"/plain.*; do
		assert_eq "$(jq -r '.type + " " + .object.metadata.name + " " + .object.metadata.labels.grp' "$f" | paste -sd,)" \
			"$want_plain" "events of $(basename "$f")"
		# Resource versions rise, and every plain watcher got the same bytes.
		jq -r .object.metadata.resourceVersion "$f" | sort -c -n -u || fail "RVs out of order in $f"
		cmp -s "$f" "$TMP/plain.1" || fail "$(basename "$f") differs from plain.1"
	done
	for f in "$TMP"/sel.*; do
		assert_eq "$(jq -r '.type + " " + .object.metadata.name + " " + .object.metadata.labels.grp' "$f" | paste -sd,)" \
			"$want_sel" "selector events of $(basename "$f")"
	done
	for f in "$TMP"/table.*; do
		assert_eq "$(jq -r '.type + " " + .object.rows[0].cells[0]' "$f" | paste -sd,)" "$want_table" \
			"table events of $(basename "$f")"
		assert_eq "$(jq -r '.object.kind' "$f" | sort -u)" Table
	done
}

case_list_equals_objects() {
	local i list names paged cont page
	for i in 1 2 3 4 5 6; do api POST "$PODS" "$(pod "l$i" "g$((i % 2))")" >/dev/null; done
	# Escapes and a real number: the slow way, which must give the same.
	api POST "$PODS" "$(pod l7 g1 ',"annotations":{"note":"tab\t quote\" é \u0001 </>","n":"1"}')" >/dev/null
	api POST /api/v1/namespaces/$NS/configmaps \
		'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm1"},"data":{"a":"\u00e9\u0007"}}' >/dev/null
	list=$(api GET "$PODS")
	assert_eq "$(jq -r '.kind + " " + .apiVersion' <<<"$list")" "PodList v1"
	[[ $(jq -r .metadata.resourceVersion <<<"$list") =~ ^[0-9]+$ ]] || fail "list RV: $list"
	names=$(jq -r '[.items[].metadata.name] | join(",")' <<<"$list")
	assert_eq "$names" "l1,l2,l3,l4,l5,l6,l7"
	for i in 1 2 3 4 5 6 7; do
		assert_eq "$(jq -cS ".items[$((i - 1))]" <<<"$list")" "$(api GET "$PODS/l$i" | jq -cS .)" \
			"list item l$i as GET gives it"
	done
	assert_eq "$(jq -r '.items[6].metadata.annotations.note' <<<"$list")" "$(printf 'tab\t quote" é \001 </>')"
	assert_eq "$(api GET /api/v1/namespaces/$NS/configmaps | jq -cS '.items[0]')" \
		"$(api GET /api/v1/namespaces/$NS/configmaps/cm1 | jq -cS .)" "configmap in its list"
	# Paging (with a selector) collects what one list does.
	paged=""
	cont=""
	for i in $(seq 1 10); do
		page=$(api GET "$PODS?limit=2&labelSelector=grp%3Dg1${cont:+&continue=$cont}")
		paged+=$(jq -r '[.items[].metadata.name] | join(",")' <<<"$page"),
		cont=$(jq -r '.metadata.continue // ""' <<<"$page")
		[ -z "$cont" ] && break
	done
	assert_eq "${paged%,}" "l1,l3,l5,l7"
	assert_eq "$(api GET "$PODS?labelSelector=grp%3Dg1" | jq -r '[.items[].metadata.name] | join(",")')" \
		"l1,l3,l5,l7"
	# Every stored value again, unparsed: still valid JSON with its RV last.
	assert_eq "$(jq -r '[.items[] | (.metadata | keys_unsorted | last)] | unique | join(",")' <<<"$list")" \
		resourceVersion
}

case_more_than_1100_connections() {
	local out
	out=$("$TESTBIN/server-bench" --url "$(URL "")" --pods 20 --namespaces 2 --samples 5 --lists 1 \
		--watchers 1100 --events 3 --timeout 180 --server-pid "$SERVER_PID" 2>&1) ||
		fail "1,100 watchers: $(tail -n 5 <<<"$out")"
	assert_contains "$out" "watch-delivery n=3300 "
	curl -sf "$(URL /readyz)" >/dev/null || fail "server not ready after 1,100 watches"
}

# First: server-bench lists every pod and wants only its own.
run_case more_than_1100_connections
run_case watchers_share_events_in_order
run_case list_equals_objects
