#!/usr/bin/env bash
# skiff-cni end to end in network namespaces: a "node" namespace runs the
# plugin, pods are further namespaces. Connectivity (IPv4, dual-stack),
# result shape per cniVersion, DEL idempotence and lease release, CHECK,
# errors that leave nothing behind, GC and STATUS.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/cni_lib.sh"
require_root
require_cmd ip jq socat ping ss
require_bin skiff-cni
guard_ranges 10.244.0.0/16 fd00:244::/32

case_ipv4_pods_reach_each_other_and_node() {
	local r1 r2 a1 a2
	setup_ns node p1 p2
	conf v4 1.0.0 "$(skiff_ipam 10.244.1.0/24)" '.mtu = 1400'
	r1=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/v4.json") || fail "ADD p1: $r1"
	r2=$(cni ADD "$(cid b)" p2 eth0 <"$TMP/v4.json") || fail "ADD p2: $r2"
	a1=$(pod_ip "$r1" .); a2=$(pod_ip "$r2" .)
	assert_ne "$a1" "$a2" "two pods, two addresses"
	assert_contains "$(ip -n "$(ns p1)" addr show eth0)" "inet $a1/32"
	assert_contains "$(ip -n "$(ns p1)" link show eth0)" "mtu 1400"
	assert_contains "$(ip -n "$(ns p1)" route)" "default via 10.244.1.1 dev eth0"
	assert_contains "$(ip -n "$(ns node)" route)" "$a2 dev skf"
	assert_ok in_ns p1 ping -c1 -W2 "$a2"
	assert_ok in_ns p2 ping -c1 -W2 10.244.1.1
	assert_ok in_ns node ping -c1 -W2 "$a1"
	tcp_echo p2 8000 hello-p2
	tcp_echo p1 8001 hello-p1
	assert_eq "$(tcp_get p1 "$a2" 8000)" hello-p2 "pod to pod TCP"
	assert_eq "$(tcp_get node "$a1" 8001)" hello-p1 "node to pod TCP"
	assert_eq "$(in_ns node cat /proc/sys/net/ipv4/ip_forward)" 1
	assert_ok cni DEL "$(cid a)" p1 eth0 <"$TMP/v4.json"
	assert_ok cni DEL "$(cid b)" p2 eth0 <"$TMP/v4.json"
	assert_not_contains "$(ip -n "$(ns node)" route)" "$a1"
	assert_not_contains "$(ip -n "$(ns p1)" link)" eth0 "pod interface right after DEL"
	assert_deleted
}

case_dual_stack() {
	local r1 r2 a6 b6 b4
	setup_ns node p1 p2
	conf ds 1.0.0 "$(skiff_ipam 10.244.2.0/24 fd00:244:2::/64)"
	r1=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/ds.json") || fail "ADD p1: $r1"
	r2=$(cni ADD "$(cid b)" p2 eth0 <"$TMP/ds.json") || fail "ADD p2: $r2"
	a6=$(pod_ip "$r1" :); b6=$(pod_ip "$r2" :); b4=$(pod_ip "$r2" .)
	[ -n "$a6" ] && [ -n "$b6" ] && [ -n "$b4" ] || fail "missing addresses: $r1 $r2"
	assert_contains "$(ip -n "$(ns p1)" -6 addr show eth0)" "inet6 $a6/128"
	assert_contains "$(ip -n "$(ns p1)" -6 route)" "default via fd00:244:2::1 dev eth0"
	assert_eq "$(echo "$r1" | jq '.routes | length')" 2 "a default route per family"
	assert_ok wait_for 5 in_ns p1 ping -6 -c1 -W1 "$b6"
	assert_ok in_ns p1 ping -c1 -W2 "$b4"
	assert_ok in_ns node ping -6 -c1 -W2 "$a6"
	tcp_echo p2 8000 hello-v6
	assert_eq "$(tcp_get p1 "$b6" 8000)" hello-v6 "pod to pod TCP over IPv6"
	assert_eq "$(tcp_get node "$b6" 8000)" hello-v6 "node to pod TCP over IPv6"
	assert_eq "$(tcp_get p1 "$b4" 8000)" hello-v6 "pod to pod TCP over IPv4"
	assert_ok cni DEL "$(cid a)" p1 eth0 <"$TMP/ds.json"
	assert_ok cni DEL "$(cid b)" p2 eth0 <"$TMP/ds.json"
	assert_deleted
}

case_ipv6_only() {
	local r a
	setup_ns node p1
	conf v6 1.1.0 "$(skiff_ipam fd00:244:8::/64)"
	r=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/v6.json") || fail "ADD: $r"
	a=$(pod_ip "$r" :)
	assert_eq "$(echo "$r" | jq -r '[.routes[].dst] | join(",")')" "::/0"
	assert_eq "$(pod_ip "$r" .)" "" "no IPv4 address"
	assert_ok wait_for 5 in_ns node ping -6 -c1 -W1 "$a"
	assert_eq "$(in_ns node cat /proc/sys/net/ipv6/conf/all/forwarding)" 1
	assert_ok cni DEL "$(cid a)" p1 eth0 <"$TMP/v6.json"
	assert_deleted
}

# "forwarding": "interface" (a node that is the machine itself): the host
# veth forwards, the node's other interfaces and ip_forward stay as they were.
case_forwarding_per_interface() {
	local r1 r2 a2 host
	setup_ns node p1 p2
	in_ns node sysctl -qw net.ipv4.ip_forward=0
	conf fi 1.0.0 "$(skiff_ipam 10.244.3.0/24)" '.forwarding = "interface"'
	r1=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/fi.json") || fail "ADD p1: $r1"
	r2=$(cni ADD "$(cid b)" p2 eth0 <"$TMP/fi.json") || fail "ADD p2: $r2"
	a2=$(pod_ip "$r2" .)
	host=$(echo "$r1" | jq -r '.interfaces[0].name')
	assert_eq "$(in_ns node cat /proc/sys/net/ipv4/ip_forward)" 0 "ip_forward"
	assert_eq "$(in_ns node cat /proc/sys/net/ipv4/conf/lo/forwarding)" 0 "lo's forwarding"
	assert_eq "$(in_ns node cat "/proc/sys/net/ipv4/conf/$host/forwarding")" 1 "$host's forwarding"
	assert_ok in_ns p1 ping -c1 -W2 "$a2"
	conf bad 1.0.0 "$(skiff_ipam 10.244.4.0/24)" '.forwarding = "host"'
	r1=$(cni ADD "$(cid c)" p1 eth1 <"$TMP/bad.json") && fail "forwarding \"host\" accepted: $r1"
	assert_contains "$r1" 'forwarding: \"host\" is neither'
	assert_ok cni DEL "$(cid a)" p1 eth0 <"$TMP/fi.json"
	assert_ok cni DEL "$(cid b)" p2 eth0 <"$TMP/fi.json"
	assert_deleted
}

# Parallel ADDs (as a node starting many pods): every pod gets its own
# address, its veth and routes, and the node reaches all of them.
case_parallel_adds() {
	local n=12 i pids=() a addrs
	for (( i = 0; i < n; i++ )); do setup_ns "q$i"; done
	setup_ns node
	conf par 1.0.0 "$(skiff_ipam 10.244.9.0/24)"
	for (( i = 0; i < n; i++ )); do
		cni ADD "$(cid q$i)" "q$i" eth0 <"$TMP/par.json" >"$TMP/par-$i.out" &
		pids+=($!)
	done
	for (( i = 0; i < n; i++ )); do
		wait "${pids[$i]}" || fail "parallel ADD $i failed: $(cat "$TMP/par-$i.out")"
	done
	addrs=$(for (( i = 0; i < n; i++ )); do pod_ip "$(cat "$TMP/par-$i.out")" .; done | sort)
	assert_eq "$(echo "$addrs" | sort -u | wc -l)" "$n" "distinct addresses"
	for a in $addrs; do
		assert_ok in_ns node ping -c1 -W2 "$a"
	done
	for (( i = 0; i < n; i++ )); do
		cni DEL "$(cid q$i)" "q$i" eth0 <"$TMP/par.json" &
		pids[$i]=$!
	done
	for (( i = 0; i < n; i++ )); do
		wait "${pids[$i]}" || fail "parallel DEL $i failed"
	done
	assert_deleted
}

case_result_shape_per_version() {
	local v r n=0
	setup_ns node p1
	for v in 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
		n=$((n + 1))
		conf "ver$n" "$v" "$(skiff_ipam 10.244.3.0/24 fd00:244:3::/64)" '.mtu = 1450'
		r=$(cni ADD "$(cid v$n)" p1 "net$n" <"$TMP/ver$n.json") || fail "ADD $v: $r"
		assert_eq "$(echo "$r" | jq -r .cniVersion)" "$v"
		assert_eq "$(echo "$r" | jq -r '.interfaces[1].name')" "net$n"
		assert_eq "$(echo "$r" | jq -r '.interfaces[1].sandbox')" "/var/run/netns/$(ns p1)"
		assert_eq "$(echo "$r" | jq -r '[.ips[].interface] | unique | join(",")')" 1 "$v ips point at the pod interface"
		assert_eq "$(echo "$r" | jq -r '.ips[0].gateway')" 10.244.3.1
		assert_eq "$(echo "$r" | jq -r '.interfaces[0].name')" "$(echo "$r" | jq -r '.interfaces[0].name' | grep -E '^skf[0-9a-f]{12}$')"
		case $v in
		0.*)
			assert_eq "$(echo "$r" | jq -r '[.ips[].version] | join(",")')" "4,6" "$v has ips[].version"
			;;
		*)
			assert_eq "$(echo "$r" | jq -r '[.ips[] | has("version")] | any')" false "$v has no ips[].version"
			;;
		esac
		if [ "$v" = 1.1.0 ]; then
			assert_eq "$(echo "$r" | jq -r '.interfaces[1].mtu')" 1450 "1.1.0 reports mtu"
		else
			assert_eq "$(echo "$r" | jq -r '.interfaces[1] | has("mtu")')" false "$v has no mtu"
		fi
		assert_ok cni DEL "$(cid v$n)" p1 "net$n" <"$TMP/ver$n.json"
	done
	r=$(echo '{"cniVersion":"1.0.0"}' | cni VERSION "" "" "") || fail "VERSION: $r"
	assert_eq "$(echo "$r" | jq -r '.supportedVersions | join(" ")')" "0.3.0 0.3.1 0.4.0 1.0.0 1.1.0"
}

# A /30 holds exactly one pod address: a second ADD succeeds only when the
# first lease was released.
case_del_idempotent_after_netns_gone() {
	local r
	setup_ns node p1 p2
	conf one 1.0.0 "$(skiff_ipam 10.244.4.0/30)"
	r=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/one.json") || fail "ADD: $r"
	r=$(cni ADD "$(cid b)" p2 eth0 <"$TMP/one.json") && fail "second ADD in a full range succeeded"
	expect_error 11 "$r"
	assert_contains "$r" "10.244.4"
	assert_eq "$(node_veths)" 1 "the failed ADD left a host veth"
	assert_not_contains "$(ip -n "$(ns p2)" link)" eth0
	ip netns del "$(ns p1)"
	# containerd sends CNI_NETNS="" once the netns is gone.
	assert_ok cni DEL "$(cid a)" "" eth0 <"$TMP/one.json"
	assert_deleted
	assert_ok cni DEL "$(cid a)" "" eth0 <"$TMP/one.json"
	assert_ok cni DEL "$(cid a)" p1 eth0 <"$TMP/one.json"
	assert_ok cni DEL "$(cid a)" p2 eth0 <"$TMP/one.json"
	r=$(cni ADD "$(cid b)" p2 eth0 <"$TMP/one.json") || fail "ADD after DEL (lease not released?): $r"
	assert_eq "$(pod_ip "$r" .)" 10.244.4.2
	assert_ok cni DEL "$(cid b)" p2 eth0 <"$TMP/one.json"
}

case_check_passes_then_names_removed_route() {
	local r out
	setup_ns node p1
	conf chk 1.0.0 "$(skiff_ipam 10.244.5.0/24)"
	r=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/chk.json") || fail "ADD: $r"
	jq --argjson r "$r" '. + {prevResult: $r}' "$TMP/chk.json" >"$TMP/chk-prev.json"
	out=$(cni CHECK "$(cid a)" p1 eth0 <"$TMP/chk-prev.json") || fail "CHECK of a fresh pod failed: $out"
	ip -n "$(ns p1)" route del default
	out=$(cni CHECK "$(cid a)" p1 eth0 <"$TMP/chk-prev.json") && fail "CHECK passed without the default route"
	assert_contains "$(echo "$out" | jq -r .msg)" "route 0.0.0.0/0 via 10.244.5.1 dev eth0 missing"
	ip -n "$(ns p1)" route add default via 10.244.5.1 dev eth0
	assert_ok cni CHECK "$(cid a)" p1 eth0 <"$TMP/chk-prev.json"
	ip -n "$(ns node)" route del "$(pod_ip "$r" .)/32"
	out=$(cni CHECK "$(cid a)" p1 eth0 <"$TMP/chk-prev.json") && fail "CHECK passed without the host route"
	assert_contains "$(echo "$out" | jq -r .msg)" "host route $(pod_ip "$r" .)/32"
	out=$(cni CHECK "$(cid a)" p1 eth0 <"$TMP/chk.json") && fail "CHECK without prevResult passed"
	expect_error 7 "$out"
	assert_contains "$out" prevResult
	out=$(jq '.cniVersion = "0.3.1"' "$TMP/chk-prev.json" | cni CHECK "$(cid a)" p1 eth0) && fail "CHECK at 0.3.1 passed"
	expect_error 1 "$out"
	assert_ok cni DEL "$(cid a)" p1 eth0 <"$TMP/chk.json"
}

case_errors_leave_nothing_behind() {
	local out
	setup_ns node p1
	conf err 1.0.0 "$(skiff_ipam 10.244.6.0/30)"
	out=$(echo '{"cniVersion": "1.0.0", "name": ' | cni ADD "$(cid a)" p1 eth0) && fail "bad JSON accepted"
	expect_error 6 "$out"
	out=$(cni ADD "$(cid a)" p1 "eth/0" <"$TMP/err.json") && fail "bad ifname accepted"
	expect_error 4 "$out"; assert_contains "$out" CNI_IFNAME
	out=$(cni ADD "-bad" p1 eth0 <"$TMP/err.json") && fail "bad container ID accepted"
	expect_error 4 "$out"; assert_contains "$out" CNI_CONTAINERID
	out=$(jq '.cniVersion = "0.2.0"' "$TMP/err.json" | cni ADD "$(cid a)" p1 eth0) && fail "0.2.0 accepted"
	expect_error 1 "$out"; assert_contains "$out" cniVersion
	out=$(jq '.mtu = 10' "$TMP/err.json" | cni ADD "$(cid a)" p1 eth0) && fail "mtu 10 accepted"
	expect_error 7 "$out"; assert_contains "$out" mtu
	out=$(jq 'del(.ipam)' "$TMP/err.json" | cni ADD "$(cid a)" p1 eth0) && fail "config without ipam accepted"
	expect_error 7 "$out"; assert_contains "$out" ipam
	out=$(jq '.ipam.ranges[0][0].subnet = "10.0.0.300/24"' "$TMP/err.json" | cni ADD "$(cid a)" p1 eth0) && fail "bad subnet accepted"
	expect_error 7 "$out"; assert_contains "$out" subnet
	out=$(TEST_CNI_ARGS="K8S_POD_NAME=x;FOO=1" cni ADD "$(cid a)" p1 eth0 <"$TMP/err.json") && fail "unknown CNI_ARGS key accepted without IgnoreUnknown"
	expect_error 4 "$out"; assert_contains "$out" FOO
	out=$(TEST_CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME" cni ADD "$(cid a)" p1 eth0 <"$TMP/err.json") && fail "malformed CNI_ARGS accepted"
	expect_error 4 "$out"; assert_contains "$out" CNI_ARGS
	out=$(cni ADD "$(cid a)" nosuchns eth0 <"$TMP/err.json") && fail "missing netns accepted"
	expect_error 4 "$out"; assert_contains "$out" CNI_NETNS
	# Fails inside the pod side's netlink batch, after its address and
	# link up went through: the second route's gateway is on no link.
	out=$(jq '.ipam.routes = [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "172.16.0.1"}]' \
		"$TMP/err.json" | cni ADD "$(cid a)" p1 eth0) && fail "route through an unreachable gateway accepted"
	expect_error 999 "$out"
	assert_contains "$out" "adding route 192.168.0.0/16 via 172.16.0.1 dev eth0"
	# Fails after IPAM allocated: lo already exists in the pod.
	out=$(cni ADD "$(cid a)" p1 lo <"$TMP/err.json") && fail "ifname lo accepted"
	assert_contains "$out" "already exists"
	assert_eq "$(node_veths)" 0 "host veths left by failed ADDs"
	assert_eq "$(ip -n "$(ns p1)" -o link | wc -l)" 1 "pod interfaces left by failed ADDs"
	# The one address of the /30 is still free.
	out=$(cni ADD "$(cid b)" p1 eth0 <"$TMP/err.json") || fail "lease left by a failed ADD: $out"
	assert_ok cni DEL "$(cid b)" p1 eth0 <"$TMP/err.json"
}

# GC (1.1.0) removes what is not in cni.dev/valid-attachments; STATUS
# reports a full range. The range has exactly two addresses.
case_gc_releases_unlisted_attachment() {
	local out ipam
	setup_ns node p1 p2 p3
	ipam=$(jq -n --arg d "$TMP/data" '{type: "skiff-ipam", dataDir: $d,
		ranges: [[{subnet: "10.244.7.0/24", rangeStart: "10.244.7.2", rangeEnd: "10.244.7.3"}]]}')
	conf gc 1.1.0 "$ipam"
	assert_ok cni STATUS "" "" "" <"$TMP/gc.json"
	out=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/gc.json") || fail "ADD a: $out"
	out=$(cni ADD "$(cid b)" p2 eth0 <"$TMP/gc.json") || fail "ADD b: $out"
	out=$(cni STATUS "" "" "" <"$TMP/gc.json") && fail "STATUS ready with a full range"
	out=$(cni ADD "$(cid c)" p3 eth0 <"$TMP/gc.json") && fail "ADD in a full range"
	expect_error 11 "$out"
	out=$(jq '.cniVersion = "1.0.0" | . + {"cni.dev/valid-attachments": []}' "$TMP/gc.json" |
		cni GC "" "" "") && fail "GC allowed at 1.0.0"
	expect_error 1 "$out"
	jq --arg a "$(cid a)" '. + {"cni.dev/valid-attachments": [{containerID: $a, ifname: "eth0"}],
		"cni.dev/attachments": [{containerID: $a, ifname: "eth0"}]}' "$TMP/gc.json" >"$TMP/gc-keep-a.json"
	assert_ok cni GC "" "" "" <"$TMP/gc-keep-a.json"
	attached gc "$(cid a)" eth0 || fail "GC removed a listed attachment's veth"
	attached gc "$(cid b)" eth0 && fail "GC left the unlisted attachment's veth"
	assert_ok in_ns p1 ping -c1 -W2 10.244.7.1
	out=$(cni ADD "$(cid c)" p3 eth0 <"$TMP/gc.json") || fail "ADD after GC (lease not released?): $out"
	assert_eq "$(pod_ip "$out" .)" "$(pod_ip "$out" . | grep -E '^10\.244\.7\.[23]$')"
	# A veth an older DEL retired (down, renamed skd*) and did not get to
	# remove is GC's even when the attachment is listed.
	local left
	left=$(ip -n "$(ns node)" -d -o link show type veth | grep -F "alias skiff-cni gc-$RUN_ID $(cid a) eth0" | awk -F': ' '{print $2}' | cut -d@ -f1)
	[ -n "$left" ] || fail "cannot find the host veth of $(cid a)"
	ip -n "$(ns node)" link set "$left" down
	ip -n "$(ns node)" link set "$left" name skd99999
	assert_ok cni GC "" "" "" <"$TMP/gc-keep-a.json"
	assert_fails ip -n "$(ns node)" link show skd99999
	# ... and c, not listed either, went with it.
	attached gc "$(cid c)" eth0 && fail "GC left c's veth"
	out=$(jq 'del(.["cni.dev/valid-attachments"])' "$TMP/gc.json" | cni GC "" "" "") && fail "GC without a list accepted"
	expect_error 7 "$out"
	assert_eq "$(node_veths)" 0
}

case_command_line_for_humans() {
	local out
	out=$("$BIN/skiff-cni" --help) || fail "--help failed"
	assert_contains "$out" "Usage:"
	assert_contains "$out" CNI_COMMAND
	out=$("$BIN/skiff-cni" --version) || fail "--version failed"
	assert_contains "$out" "0.3.0 0.3.1 0.4.0 1.0.0 1.1.0"
	out=$(env -u CNI_COMMAND "$BIN/skiff-cni" 2>&1) && fail "no CNI_COMMAND: exit 0"
	assert_contains "$out" "CNI_COMMAND is not set"
	out=$(echo '{}' | CNI_COMMAND=FROB "$BIN/skiff-cni" 2>/dev/null) && fail "unknown command accepted"
	expect_error 4 "$out"; assert_contains "$out" FROB
}

# A config broken after ADD (here: an impossible subnet) must not leave the
# runtime unable to remove the pod: DEL still removes the host veth and
# succeeds; a malformed environment is still refused.
case_del_with_config_broken_after_add() {
	local r
	setup_ns node p1
	conf good 1.0.0 "$(skiff_ipam 10.244.6.0/24)"
	jq '.ipam.ranges[0][0].subnet = "10.244.6.0/33"' "$TMP/good.json" >"$TMP/broken.json"
	jq '.mtu = "big"' "$TMP/good.json" >"$TMP/badmtu.json"
	r=$(cni ADD "$(cid a)" p1 eth0 <"$TMP/good.json") || fail "ADD: $r"
	assert_eq "$(active_veths)" 1
	r=$(cni ADD "$(cid x)" p1 eth1 <"$TMP/broken.json") && fail "ADD with a /33 subnet succeeded"
	expect_error 7 "$r"
	assert_ok cni DEL "$(cid a)" p1 eth0 <"$TMP/broken.json"
	assert_deleted
	assert_not_contains "$(ip -n "$(ns p1)" link)" eth0 "pod side after DEL"
	# The same when the plugin's own keys are broken.
	r=$(cni ADD "$(cid b)" p1 eth0 <"$TMP/good.json") || fail "ADD: $r"
	r=$(cni ADD "$(cid y)" p1 eth1 <"$TMP/badmtu.json") && fail "ADD with mtu \"big\" succeeded"
	expect_error 7 "$r"
	assert_ok cni DEL "$(cid b)" p1 eth0 <"$TMP/badmtu.json"
	assert_deleted
	r=$(cni DEL "bad/id" p1 eth0 <"$TMP/broken.json") && fail "DEL with a bad container ID succeeded"
	expect_error 4 "$r"
}

run_case command_line_for_humans
run_case ipv4_pods_reach_each_other_and_node
run_case dual_stack
run_case ipv6_only
run_case forwarding_per_interface
run_case parallel_adds
run_case result_shape_per_version
run_case del_idempotent_after_netns_gone
run_case check_passes_then_names_removed_route
run_case errors_leave_nothing_behind
run_case del_with_config_broken_after_add
run_case gc_releases_unlisted_attachment
finish
