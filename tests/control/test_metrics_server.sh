#!/usr/bin/env bash
# skiff-server's GET /metrics through kubectl 1.33 (`get --raw /metrics`),
# on HTTPS with the controllers and the scheduler running: the text passes
# promtool (Debian's prometheus package), the request counter and latency
# histogram move after requests, the controllers' work queues, the store's
# latency, the watchers and the scheduler's attempts are there; and the
# path is authorized as kube-apiserver does it: system:masters and a user
# whose ClusterRole grants get on the nonResourceURL /metrics may read it,
# a user without such a rule gets 403.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/prom.sh"

require_bin skiff-server
require_cmd curl promtool
require_kubectl

DATA=$TMP/data
cat >"$TMP/tokens.csv" <<EOF
reader-$RUN_ID,reader,1001
scraper-$RUN_ID,scraper,1002
EOF
start_skiff_server "$DATA" "$TMP/server.log" tls --token-auth-file "$TMP/tokens.csv"

k() { "$KDIR/kubectl.1.33" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache" "$@"; }
metrics() { k get --raw /metrics; }
LIST_NS='verb="LIST",group="",version="v1",resource="namespaces",subresource="",scope="cluster"'

case_text_passes_promtool_and_counters_move() {
	local before after out n
	before=$(metrics) || fail "GET /metrics as admin: $before"
	out=$(promtool check metrics <<<"$before" 2>&1) || fail "promtool: $out"
	for n in 1 2 3; do k get namespaces >/dev/null || fail "kubectl get namespaces"; done
	k get pods -n default nope-$RUN_ID >/dev/null 2>&1
	after=$(metrics) || fail "GET /metrics again"
	out=$(promtool check metrics <<<"$after" 2>&1) || fail "promtool, second scrape: $out"
	n=$(( $(prom_sample "$after" apiserver_request_total "$LIST_NS,code=\"200\"") -
	      $(prom_sample "$before" apiserver_request_total "$LIST_NS,code=\"200\"") ))
	[ "$n" -ge 3 ] || fail "apiserver_request_total LIST namespaces moved by $n, expected >= 3"
	n=$(( $(prom_sample "$after" apiserver_request_duration_seconds_count "$LIST_NS") -
	      $(prom_sample "$before" apiserver_request_duration_seconds_count "$LIST_NS") ))
	[ "$n" -ge 3 ] || fail "apiserver_request_duration_seconds_count moved by $n, expected >= 3"
	assert_contains "$after" 'apiserver_request_total{verb="GET",group="",version="v1",resource="pods",subresource="",scope="resource",code="404"}'
	assert_contains "$after" 'apiserver_request_duration_seconds_bucket{verb="LIST",group="",version="v1",resource="namespaces",subresource="",scope="cluster",le="+Inf"}'
	# The informers of the controllers and the scheduler watch.
	[ "$(prom_sample "$after" apiserver_registered_watchers 'group="",version="v1",kind="Pod"')" -ge 1 ] ||
		fail "no Pod watchers counted"
	assert_contains "$after" 'etcd_request_duration_seconds_count{operation="list",type="namespaces"}'
	assert_contains "$after" 'workqueue_depth{name="deployment"}'
	assert_contains "$after" 'workqueue_adds_total{name="namespace"}'
	assert_contains "$after" '# TYPE workqueue_work_duration_seconds histogram'
	assert_contains "$after" '# TYPE scheduler_schedule_attempts_total counter'
	[ "$(prom_sample "$after" process_resident_memory_bytes)" -gt 1000000 ] ||
		fail "process_resident_memory_bytes: $(grep '^process_resident' <<<"$after")"
}

unschedulable_at_least() {
	[ "$(prom_sample "$(metrics)" scheduler_schedule_attempts_total \
		'result="unschedulable",profile="default-scheduler"')" -ge "$1" ]
}

case_controllers_and_scheduler_count_their_work() {
	local out adds
	k create deployment web-$RUN_ID --image=registry.invalid/web --replicas=2 >/dev/null ||
		fail "create deployment"
	# The pods stay unschedulable (no node): the scheduler's attempts say so.
	wait_for 20 unschedulable_at_least 2 ||
		fail "no unschedulable attempts counted: $(metrics | grep '^scheduler_schedule')"
	out=$(metrics)
	adds=$(prom_sample "$out" workqueue_adds_total 'name="deployment"')
	[ "$adds" -ge 1 ] || fail "workqueue_adds_total{name=deployment} is $adds"
	[ "$(prom_sample "$out" workqueue_work_duration_seconds_count 'name="replicaset"')" -ge 1 ] ||
		fail "no replicaset reconcile timed"
	k delete deployment web-$RUN_ID >/dev/null
}

case_metrics_is_authorized_as_a_non_resource_url() {
	local out code
	out=$(k --token "reader-$RUN_ID" get --raw /metrics 2>&1) &&
		fail "a user without a rule read /metrics"
	assert_contains "$out" "Forbidden"
	code=$(curl -s -o "$TMP/body" -w '%{http_code}' --cacert "$DATA/tls/ca.crt" \
		-H "Authorization: Bearer reader-$RUN_ID" "https://127.0.0.1:$PORT/metrics")
	assert_eq "$code" 403 "reader's GET /metrics"
	assert_contains "$(cat "$TMP/body")" 'cannot get path \"/metrics\"'
	k create clusterrole metrics-reader-$RUN_ID --verb=get --non-resource-url=/metrics >/dev/null ||
		fail "create clusterrole"
	k create clusterrolebinding metrics-reader-$RUN_ID --clusterrole=metrics-reader-$RUN_ID \
		--user=scraper >/dev/null || fail "create clusterrolebinding"
	wait_for 10 k --token "scraper-$RUN_ID" get --raw /metrics ||
		fail "scraper cannot read /metrics: $(k --token "scraper-$RUN_ID" get --raw /metrics 2>&1)"
	out=$(k --token "scraper-$RUN_ID" get --raw /metrics)
	assert_contains "$out" "# TYPE apiserver_request_total counter"
	# The rule is for /metrics alone.
	assert_fails k --token "scraper-$RUN_ID" get --raw /api/v1/namespaces
	assert_fails k --token "reader-$RUN_ID" get --raw /metrics
}

run_case text_passes_promtool_and_counters_move
run_case controllers_and_scheduler_count_their_work
run_case metrics_is_authorized_as_a_non_resource_url
finish
