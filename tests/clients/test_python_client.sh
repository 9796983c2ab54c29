#!/usr/bin/env bash
# Kubernetes' official Python client (Debian's python3-kubernetes, which
# scripts/deps.sh installs) against skiff-server over HTTPS with the
# kubeconfig the server writes: objects built with the client's model
# classes (no apiVersion or kind: the server takes them from the path),
# list with label and field selectors and limit/continue, watch from a
# resourceVersion (the client sends watch=True) and the 410 of a compacted
# one, the three patch types and server-side apply, delete with
# propagationPolicy in the query (the garbage collector runs), the dynamic
# client. The cases are in python_client.py beside this file.
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

py() {
	KUBECONFIG=$DATA/kubeconfig NS=py-$RUN_ID CACHE=$TMP \
		"$PY" "$SKIFF_ROOT/tests/clients/python_client.py" "$1"
}

for c in create_without_type list_selectors_paging watch_from_resource_version \
	watch_expired_410 patch_types delete_propagation dynamic_client; do
	eval "case_$c() { py $c; }"
	run_case "$c"
done
finish
