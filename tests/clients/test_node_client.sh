#!/usr/bin/env bash
# Kubernetes' official JavaScript client, @kubernetes/client-node from npm
# (scripts/deps.sh installs it under /var/cache/skiff-npm), against
# skiff-server over HTTPS with the kubeconfig the server writes: its
# list-watch informer sees an add, an update and a delete
# (node_informer.js beside this file).
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl
NODE_MODULES=${SKIFF_NPM_DIR:-/var/cache/skiff-npm}/node_modules
command -v node >/dev/null || skip "node is not installed (scripts/deps.sh installs nodejs)"
[ -d "$NODE_MODULES/@kubernetes/client-node" ] ||
	skip "@kubernetes/client-node is not installed in $NODE_MODULES (scripts/deps.sh installs it)"

DATA=$TMP/data
start_skiff_server "$DATA" "$TMP/server.log" tls --controllers=none --no-scheduler

case_informer_add_update_delete() {
	local out
	out=$(KUBECONFIG=$DATA/kubeconfig NS=js-$RUN_ID NODE_PATH=$NODE_MODULES \
		timeout 30 node "$SKIFF_ROOT/tests/clients/node_informer.js") ||
		fail "node_informer.js failed: $out"
	assert_eq "$(echo $out)" "add c1 1 update c1 2 delete c1 2"
}
run_case informer_add_update_delete
finish
