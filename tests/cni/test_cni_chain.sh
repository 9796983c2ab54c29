#!/usr/bin/env bash
# skiff-cni with the reference plugins: host-local as a delegated IPAM, and
# a conflist chain skiff-cni -> portmap driven the way libcni does it
# (prevResult passed on, runtimeConfig with containerd's capitalised keys,
# DEL in reverse order).
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/cni_lib.sh"
require_root
require_cmd ip jq socat ping ss
require_bin skiff-cni
guard_ranges 10.245.0.0/16 fd00:245::/32

case_host_local_delegation() {
	local r a out ipam
	[ -x /usr/lib/cni/host-local ] || skip_case "needs /usr/lib/cni/host-local (containernetworking-plugins)"
	setup_ns node p1
	ipam=$(jq -n --arg d "$TMP/hl" '{type: "host-local", dataDir: $d,
		ranges: [[{subnet: "10.245.1.0/24"}], [{subnet: "fd00:245:1::/64"}]]}')
	conf hl 0.4.0 "$ipam"
	r=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/hl.json") || fail "ADD: $r"
	a=$(pod_ip "$r" .)
	assert_eq "$a" 10.245.1.2
	assert_eq "$(echo "$r" | jq -r '[.ips[].version] | join(",")')" "4,6"
	assert_eq "$(head -n1 "$TMP/hl/hl-$RUN_ID/$a" | tr -d '\r')" "$(cid a)" "host-local lease file"
	assert_ok in_ns p1 ping -c1 -W2 10.245.1.1
	assert_ok wait_for 5 in_ns node ping -6 -c1 -W1 "$(pod_ip "$r" :)"
	jq --argjson r "$r" '. + {prevResult: $r}' "$TMP/hl.json" >"$TMP/hl-prev.json"
	out=$(cni CHECK "$(cid a)" p1 eth0 <"$TMP/hl-prev.json") || fail "CHECK: $out"
	ip netns del "$(ns p1)"
	assert_ok cni DEL "$(cid a)" "" eth0 <"$TMP/hl.json"
	[ -e "$TMP/hl/hl-$RUN_ID/$a" ] && fail "host-local lease $a left after DEL"
	assert_deleted
	assert_ok cni DEL "$(cid a)" "" eth0 <"$TMP/hl.json"
	# An IPAM plugin that is not there: a clear error, nothing made.
	setup_ns p2
	out=$(jq '.ipam.type = "no-such-ipam"' "$TMP/hl.json" | cni ADD "$(cid b)" p2 eth0) && fail "missing IPAM plugin accepted"
	expect_error 7 "$out"
	assert_contains "$out" no-such-ipam
	assert_eq "$(node_veths)" 0
}

# GC and STATUS through a delegated IPAM plugin that speaks 1.1.0: the
# skiff-ipam binary under another name (so it is exec'd, not in-process),
# and host-local, which predates them (skipped with a warning).
case_gc_status_delegated() {
	local out ipam
	require_bin skiff-ipam
	mkdir -p "$TMP/bin"
	ln -s "$BIN/skiff-ipam" "$TMP/bin/ipam-exec"
	export TEST_CNI_PATH="$TMP/bin:/usr/lib/cni"
	setup_ns node p1 p2 p3
	ipam=$(jq -n --arg d "$TMP/data" '{type: "ipam-exec", dataDir: $d,
		ranges: [[{subnet: "10.245.3.0/24", rangeStart: "10.245.3.2", rangeEnd: "10.245.3.3"}]]}')
	conf dg 1.1.0 "$ipam"
	out=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/dg.json") || fail "ADD a: $out"
	out=$(cni ADD "$(cid b)" p2 eth0 <"$TMP/dg.json") || fail "ADD b: $out"
	out=$(cni STATUS "" "" "" <"$TMP/dg.json") && fail "delegated STATUS ready with a full range"
	jq --arg a "$(cid a)" '. + {"cni.dev/valid-attachments": [{containerID: $a, ifname: "eth0"}]}' \
		"$TMP/dg.json" >"$TMP/dg-gc.json"
	assert_ok cni GC "" "" "" <"$TMP/dg-gc.json"
	attached dg "$(cid b)" eth0 && fail "GC left the unlisted attachment's veth"
	out=$(cni ADD "$(cid c)" p3 eth0 <"$TMP/dg.json") || fail "ADD after delegated GC: $out"
	# host-local (1.0.0 at most) knows neither: GC and STATUS still
	# succeed, and GC still removes the stale veth.
	jq --arg d "$TMP/hl" '.ipam = {type: "host-local", dataDir: $d, ranges: [[{subnet: "10.245.4.0/24"}]]}' \
		"$TMP/dg.json" >"$TMP/hl.json"
	jq '.name = "hl-'"$RUN_ID"'"' "$TMP/hl.json" >"$TMP/hl2.json"
	out=$(jq '.cniVersion = "1.0.0"' "$TMP/hl2.json" | cni ADD "$(cid d)" p2 eth0) || fail "ADD host-local: $out"
	jq '. + {"cni.dev/valid-attachments": []}' "$TMP/hl2.json" >"$TMP/hl-gc.json"
	out=$(cni GC "" "" "" <"$TMP/hl-gc.json" 2>&1) || fail "GC with host-local: $out"
	assert_contains "$out" "predates GC"
	attached hl "$(cid d)" eth0 && fail "GC with host-local left the stale veth"
	assert_ok cni STATUS "" "" "" <"$TMP/hl2.json"
	out=$(jq '.ipam.type = "no-such-ipam"' "$TMP/hl2.json" | cni STATUS "" "" "") && fail "STATUS ready without its IPAM plugin"
	expect_error 50 "$out"; assert_contains "$out" no-such-ipam
	out=$(jq '.cniVersion = "1.0.0"' "$TMP/hl2.json" | cni DEL "$(cid d)" "" eth0) || fail "DEL host-local: $out"
}

case_portmap_chain_reaches_pod_from_outside() {
	local r pm out
	[ -x /usr/lib/cni/portmap ] || skip_case "needs /usr/lib/cni/portmap"
	command -v iptables >/dev/null || skip_case "portmap needs iptables"
	setup_ns node p1 out
	# The outside world: a link from "out" to the node, 10.245.9.0/24.
	ip link add "skn$RUN_ID" netns "$(ns node)" type veth peer name eth0 netns "$(ns out)"
	ip -n "$(ns node)" addr add 10.245.9.1/24 dev "skn$RUN_ID"
	ip -n "$(ns node)" link set "skn$RUN_ID" up
	ip -n "$(ns out)" addr add 10.245.9.2/24 dev eth0
	ip -n "$(ns out)" link set eth0 up
	conf pm 1.0.0 "$(skiff_ipam 10.245.2.0/24)"
	r=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/pm.json") || fail "skiff-cni ADD: $r"
	# libcni: the next plugin gets name, cniVersion, its own keys,
	# runtimeConfig for its capabilities and the previous result.
	jq --argjson r "$r" '{cniVersion, name, type: "portmap", capabilities: {portMappings: true},
		runtimeConfig: {portMappings: [{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: ""}]},
		prevResult: $r}' "$TMP/pm.json" >"$TMP/portmap.json"
	out=$(cni ADD "$(cid a)" p1 eth0 /usr/lib/cni/portmap <"$TMP/portmap.json") || fail "portmap ADD: $out"
	assert_eq "$(echo "$out" | jq -r '.ips[0].address')" "$(echo "$r" | jq -r '.ips[0].address')" "prevResult passed through portmap"
	tcp_echo p1 80 hello-through-portmap
	assert_eq "$(tcp_get out 10.245.9.1 8080)" hello-through-portmap "outside -> hostPort -> pod"
	assert_ok cni DEL "$(cid a)" p1 eth0 /usr/lib/cni/portmap <"$TMP/portmap.json"
	assert_fails tcp_get out 10.245.9.1 8080
	jq --argjson r "$r" '. + {prevResult: $r}' "$TMP/pm.json" >"$TMP/pm-prev.json"
	assert_ok cni DEL "$(cid a)" p1 eth0 <"$TMP/pm-prev.json"
	assert_deleted
}

run_case host_local_delegation
run_case gc_status_delegated
run_case portmap_chain_reaches_pod_from_outside
finish
