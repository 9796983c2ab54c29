#!/usr/bin/env bash
# Kubernetes' official Python client (Debian's python3-kubernetes, which
# scripts/deps.sh installs) against skiff-server over HTTPS with the
# kubeconfig the server writes: objects built with the client's model
# classes (no apiVersion or kind: the server takes them from the path),
# list with label and field selectors and limit/continue, watch from a
# resourceVersion (the client sends watch=True) and the 410 of a compacted
# one, the three patch types and server-side apply, delete with
# propagationPolicy in the query (the garbage collector runs), the dynamic
# client, a CustomResourceDefinition round trip with CustomObjectsApi. The
# cases are in python_client.py beside this file.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl
# Debian's interpreter, where Debian's package is (not one a PATH may put first).
PY=/usr/bin/python3
"$PY" -c 'import kubernetes' 2>/dev/null ||
	skip "python3-kubernetes is not installed (scripts/deps.sh installs it)"

DATA=$TMP/data
start_skiff_server "$DATA" "$TMP/server.log" tls --controllers=garbagecollector --no-scheduler \
	--compaction-interval 3

# Every case in one interpreter (python_client.py), then one result each.
CASES=(create_without_type list_selectors_paging watch_from_resource_version watch_expired_410
	patch_types delete_propagation dynamic_client custom_resource_round_trip)
mkdir "$TMP/py"
KUBECONFIG=$DATA/kubeconfig NS=py-$RUN_ID CACHE=$TMP timeout 150 \
	"$PY" "$SKIFF_ROOT/tests/clients/python_client.py" "$TMP/py" "${CASES[@]}" >"$TMP/py.log" 2>&1

# py_result CASE: passes when the case wrote ok; else its traceback and last line.
py_result() {
	local f=$TMP/py/$1
	[ -f "$f" ] || fail "python_client.py did not run $1: $(tail -n 3 "$TMP/py.log")"
	[ "$(cat "$f")" = ok ] && return 0
	cat "$f" >&2
	fail "$(grep -v '^[[:space:]]*$' "$f" | tail -n 1)"
}

for c in "${CASES[@]}"; do
	eval "case_$c() { py_result $c; }"
	run_case "$c"
done
finish
