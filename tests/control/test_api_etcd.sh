#!/usr/bin/env bash
# test_api.sh, the whole API machinery suite, with skiff-server on etcd
# (--store etcd://...) instead of SQLite: same behaviour on both backends.
# etcd and the suite run in a network namespace of the test's own, so
# their loopback ports cannot collide with anything.
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_cmd etcd etcdctl ip curl jq
require_bin skiff-server

case_api_suite_on_etcd() {
	local pid out rc
	setup_ns a
	mkdir -p "$TMP/etcd"
	bg_ns a pid etcd --name e1 --data-dir "$TMP/etcd/data" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster e1=http://127.0.0.1:2380 --initial-cluster-state new \
		--initial-cluster-token "skiff-$RUN_ID" >"$TMP/etcd/log" 2>&1
	wait_for 20 in_ns a etcdctl --endpoints=127.0.0.1:2379 endpoint health ||
		fail "etcd did not start: $(tail -n 5 "$TMP/etcd/log")"
	out=$(in_ns a env SKIFF_TEST_STORE="etcd://127.0.0.1:2379/api-$RUN_ID" RUN_ID="$RUN_ID" \
		bash "$(dirname "$0")/test_api.sh" 2>&1)
	rc=$?
	# The suite's own PASS/FAIL lines count too.
	echo "$out" | grep -E '^(PASS|FAIL|SKIP) ' | sed 's/test_api\//test_api(etcd)\//'
	assert_eq "$rc" 0 "test_api.sh on etcd: $(echo "$out" | grep -A3 '^FAIL' | head -n 8)"
	assert_not_contains "$out" "SKIP "
}

run_case api_suite_on_etcd
finish
