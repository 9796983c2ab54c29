#!/usr/bin/env bash
# skiff-agent's --metrics-bind-address: the agent (in a node namespace,
# nftables proxy mode with its own table, cluster DNS on 127.0.0.10:53)
# serves Prometheus text on 127.0.0.1:10249 of that namespace, as
# kube-proxy does. The text passes promtool; a manifest change moves the
# sync and network-programming histograms and the frontends gauge; DNS
# answers are counted by rcode; other paths are 404, an address without
# a port is refused.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/prom.sh"
. "$(dirname "$0")/../harness/manifests.sh"
require_root
require_cmd ip dig nft curl promtool
require_bin skiff-agent

DNS=127.0.0.10
MET=127.0.0.1:10249
M="$TMP/manifests"
ALOG="$TMP/agent.log"
TABLE="skiff-met-$RUN_ID"
mkdir -p "$M"
setup_ns node

in_node() { nsenter --net="/run/netns/$(ns node)" "$@"; }
metrics() { in_node curl -sf "http://$MET/metrics"; }

{
	service web "clusterIP: 10.96.0.20" "ports: [{name: http, port: 80}]"
	slice web-1 web IPv4 "[{name: http, port: 8080}]" 10.244.1.5
} | put web.yaml

( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" --manifests "$M" \
	--proxy-mode nftables --nft-table "$TABLE" --node-name node1 \
	--dns-listen $DNS:53 --dns-upstream 127.0.0.2:5300 \
	--metrics-bind-address $MET ) >"$ALOG" 2>&1 &
AGENT=$!
defer "in_node nft delete table inet '$TABLE'"
defer "kill_tree $AGENT"
wait_for 30 grep -q "cluster DNS: zone" "$ALOG" || fail "agent never served: $(tail -5 "$ALOG")"
wait_for 10 metrics || fail "no /metrics on $MET: $(tail -5 "$ALOG")"

case_text_passes_promtool_and_sync_metrics_move() {
	local before after out
	before=$(metrics) || fail "GET /metrics"
	out=$(promtool check metrics <<<"$before" 2>&1) || fail "promtool: $out"
	assert_eq "$(prom_sample "$before" skiff_agent_proxy_frontends 'mode="nftables"')" 1
	[ "$(prom_sample "$before" kubeproxy_sync_proxy_rules_duration_seconds_count)" -ge 1 ] ||
		fail "the initial sync was not timed"
	change put api.yaml < <(service api "clusterIP: 10.96.0.21" \
		"ports: [{name: http, port: 80}, {name: https, port: 443}]")
	after=$(metrics) || fail "GET /metrics again"
	out=$(promtool check metrics <<<"$after" 2>&1) || fail "promtool, second scrape: $out"
	assert_eq "$(prom_sample "$after" skiff_agent_proxy_frontends 'mode="nftables"')" 3
	assert_eq "$(prom_sample "$after" skiff_agent_services)" 2
	[ "$(prom_sample "$after" kubeproxy_sync_proxy_rules_duration_seconds_count)" -gt \
	  "$(prom_sample "$before" kubeproxy_sync_proxy_rules_duration_seconds_count)" ] ||
		fail "the sync histogram did not move"
	[ "$(prom_sample "$after" skiff_agent_network_programming_duration_seconds_count)" -gt \
	  "$(prom_sample "$before" skiff_agent_network_programming_duration_seconds_count)" ] ||
		fail "the programming latency histogram did not move"
	assert_contains "$after" '# TYPE skiff_agent_sockets_destroyed_total counter'
	[ "$(prom_sample "$after" process_resident_memory_bytes)" -gt 1000000 ] ||
		fail "process_resident_memory_bytes: $(grep '^process_resident' <<<"$after")"
}

case_dns_answers_are_counted_by_rcode() {
	local before after
	before=$(metrics)
	in_node dig @$DNS +time=4 +tries=1 web.default.svc.cluster.local >/dev/null || fail "dig web"
	in_node dig @$DNS +time=4 +tries=1 web.default.svc.cluster.local >/dev/null || fail "dig web"
	in_node dig @$DNS +time=4 +tries=1 nope.default.svc.cluster.local >/dev/null ||
		fail "dig nope"
	after=$(metrics)
	assert_eq $(( $(prom_sample "$after" coredns_dns_responses_total 'rcode="NOERROR"') -
		      $(prom_sample "$before" coredns_dns_responses_total 'rcode="NOERROR"') )) 2
	assert_eq $(( $(prom_sample "$after" coredns_dns_responses_total 'rcode="NXDOMAIN"') -
		      $(prom_sample "$before" coredns_dns_responses_total 'rcode="NXDOMAIN"') )) 1
}

case_other_paths_404_and_a_bad_address_refused() {
	local out
	assert_eq "$(in_node curl -s -o /dev/null -w '%{http_code}' "http://$MET/nope")" 404
	out=$(in_node "$BIN/skiff-agent" --manifests "$M" --proxy-mode nftables \
		--nft-table "$TABLE-2" --node-name node1 --once --metrics-bind-address 127.0.0.1 2>&1) &&
		fail "an address without a port was taken"
	assert_contains "$out" "cannot serve metrics on 127.0.0.1: not ADDR:PORT"
}

run_case text_passes_promtool_and_sync_metrics_move
run_case dns_answers_are_counted_by_rcode
run_case other_paths_404_and_a_bad_address_refused
finish
