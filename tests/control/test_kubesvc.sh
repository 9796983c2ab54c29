#!/usr/bin/env bash
# The endpoints of Service default/kubernetes, as kube-apiserver's lease
# endpoint reconciler keeps them (no agent: the addresses are TEST-NET
# ones, written, never dialled).
#   endpoints_follow_the_server - the Endpoints and the EndpointSlice
#                       "kubernetes" list --advertise-address with port
#                       https = the secure port (the Service's targetPort),
#                       upstream's labels (skip-mirror; service-name, no
#                       managed-by); unchanged between renewals; made again
#                       when a user deletes them; after a restart with
#                       another address, only the new one
#   defaults          - without --advertise-address, a server bound to
#                       loopback advertises its default route's interface
#                       address (as kube-apiserver); --endpoint-reconciler-type
#                       none writes no endpoints
#   two_servers_on_etcd - both servers' addresses; one killed (no graceful
#                       removal) drops out once its lease expires
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl jq
require_kubectl

k() { "$KDIR/kubectl.1.33" --kubeconfig "$DATA/kubeconfig" -s "https://127.0.0.1:$PORT" \
	--cache-dir "$TMP/cache" "$@"; }
ep_ips() { k get endpoints kubernetes -o jsonpath='{.subsets[*].addresses[*].ip}'; }
slice_ips() { k get endpointslice kubernetes -o jsonpath='{.endpoints[*].addresses[*]}'; }
both_are() { [ "$(ep_ips)" = "$1" ] && [ "$(slice_ips)" = "$1" ]; }

case_endpoints_follow_the_server() {
	local out rv
	DATA=$TMP/one
	start_skiff_server "$DATA" "$TMP/one.log" tls --advertise-address 198.51.100.10 --endpoint-lease-ttl 2
	wait_for 10 both_are 198.51.100.10 || fail "endpoints '$(ep_ips)', slice '$(slice_ips)', not 198.51.100.10"
	out=$(k get endpoints kubernetes -o jsonpath='{.subsets[0].ports[0].name}/{.subsets[0].ports[0].port}/{.subsets[0].ports[0].protocol} {.metadata.labels}')
	assert_eq "$out" "https/$PORT/TCP {\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}" "Endpoints kubernetes"
	out=$(k get endpointslice kubernetes -o jsonpath='{.addressType} {.endpoints[0].conditions.ready} {.ports[0].name}/{.ports[0].port}/{.ports[0].protocol} {.metadata.labels}')
	assert_eq "$out" "IPv4 true https/$PORT/TCP {\"kubernetes.io/service-name\":\"kubernetes\"}" \
		"EndpointSlice kubernetes"
	out=$(k get service kubernetes -o jsonpath='{.spec.ports[0].name}/{.spec.ports[0].port}/{.spec.ports[0].targetPort}')
	assert_eq "$out" "https/443/$PORT" "Service kubernetes"
	# renewals (every 1.3 s) write nothing when nothing changed
	rv=$(k get endpointslice kubernetes -o jsonpath='{.metadata.resourceVersion}')
	sleep 3
	assert_eq "$(k get endpointslice kubernetes -o jsonpath='{.metadata.resourceVersion}')" "$rv" \
		"the slice's resourceVersion after two renewals"

	k delete endpoints kubernetes >/dev/null || fail "cannot delete the Endpoints"
	k delete endpointslice kubernetes >/dev/null || fail "cannot delete the EndpointSlice"
	wait_for 10 both_are 198.51.100.10 || fail "not made again: endpoints '$(ep_ips)', slice '$(slice_ips)'"

	# a graceful stop removes the lease; the next server's address replaces it
	kill -TERM "$SERVER_PID"
	wait_for 10 eval '! kill -0 $SERVER_PID' || fail "skiff-server did not stop on SIGTERM"
	start_skiff_server "$DATA" "$TMP/one.log" tls --advertise-address 198.51.100.20 --endpoint-lease-ttl 2
	wait_for 10 both_are 198.51.100.20 || fail "after a restart as 198.51.100.20: endpoints '$(ep_ips)', slice '$(slice_ips)'"
}

# host_address: the IPv4 address of the interface with the default route.
host_address() {
	local dev
	dev=$(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
	[ -n "$dev" ] && ip -4 -o addr show dev "$dev" | awk '{ sub("/.*", "", $4); print $4; exit }'
}

case_defaults() {
	local want
	want=$(host_address)
	DATA=$TMP/def
	start_skiff_server "$DATA" "$TMP/def.log" tls --endpoint-lease-ttl 2
	if [ -n "$want" ]; then
		wait_for 10 both_are "$want" || fail "endpoints '$(ep_ips)', not the host's $want"
	else
		echo "no IPv4 default route: the default advertise address is not checked" >&2
	fi
	assert_contains "$(grep server "$DATA/kubeconfig")" "https://127.0.0.1:$PORT" \
		"the kubeconfig of a server bound to 127.0.0.1"
	DATA=$TMP/none
	start_skiff_server "$DATA" "$TMP/none.log" tls --advertise-address 198.51.100.30 \
		--endpoint-reconciler-type none --endpoint-lease-ttl 1
	sleep 2
	assert_fails k get endpoints kubernetes
	assert_fails k get endpointslice kubernetes
}

ETCD_PORT=$(free_port 2)

case_two_servers_on_etcd() {
	local pid_a
	require_cmd etcd etcdctl
	start_etcd "$ETCD_PORT"
	DATA=$TMP/a
	start_skiff_server "$DATA" "$TMP/a.log" tls --store "etcd://127.0.0.1:$ETCD_PORT/kubesvc-$RUN_ID" \
		--advertise-address 198.51.100.11 --endpoint-lease-ttl 2 --controllers=none --no-scheduler
	pid_a=$SERVER_PID
	DATA=$TMP/b
	start_skiff_server "$DATA" "$TMP/b.log" tls --store "etcd://127.0.0.1:$ETCD_PORT/kubesvc-$RUN_ID" \
		--advertise-address 198.51.100.12 --endpoint-lease-ttl 2 --controllers=none --no-scheduler
	wait_for 10 both_are "198.51.100.11 198.51.100.12" ||
		fail "endpoints '$(ep_ips)', slice '$(slice_ips)', not both servers"
	kill -9 "$pid_a"
	wait_for 10 both_are 198.51.100.12 ||
		fail "the killed server stayed: endpoints '$(ep_ips)', slice '$(slice_ips)'"
}

run_case endpoints_follow_the_server
run_case defaults
run_case two_servers_on_etcd
finish
