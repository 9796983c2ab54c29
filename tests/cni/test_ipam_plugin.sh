#!/usr/bin/env bash
# skiff-ipam as a standalone CNI IPAM plugin: delegated to by Debian's
# reference ptp plugin inside a "node" namespace the test creates, and run
# 64 times in parallel on its own.
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_cmd ip jq ping
require_bin skiff-ipam
guard_ranges 10.123.0.0/16 10.125.0.0/16
REF=/usr/lib/cni
[ -x "$REF/ptp" ] || skip "needs $REF/ptp (containernetworking-plugins)"

NET="ipamtest-$RUN_ID"
DATA="$TMP/data"

# conf TYPE SUBNET: a network config with skiff-ipam as its IPAM.
conf() {
	jq -n --arg type "$1" --arg net "$NET" --arg subnet "$2" --arg data "$DATA" '{
		cniVersion: "1.0.0", name: $net, type: $type, ipMasq: false,
		ipam: { type: "skiff-ipam", dataDir: $data,
			ranges: [[{ subnet: $subnet }]],
			routes: [{ dst: "0.0.0.0/0" }] } }'
}

# cni NS PLUGIN COMMAND CONTAINERID [NETNS] [CNI_ARGS]: runs a plugin in the
# test namespace NS with the config on stdin; prints its stdout.
cni() {
	local n=$1 plugin=$2 cmd=$3 id=$4 netns=${5:-} args=${6:-}
	in_ns "$n" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="$netns" \
		CNI_IFNAME=eth0 CNI_PATH="$BIN:$REF" CNI_ARGS="$args" "$plugin"
}

case_help_and_version() {
	local out
	out=$("$BIN/skiff-ipam" --help) || fail "--help failed"
	assert_contains "$out" "Usage: skiff-ipam"
	out=$(env -u CNI_COMMAND "$BIN/skiff-ipam") || fail "no CNI_COMMAND should print usage"
	assert_contains "$out" "ranges"
	out=$(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$BIN/skiff-ipam")
	assert_eq "$(echo "$out" | jq -c .supportedVersions)" '["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'
}

case_bad_config_names_the_field() {
	local out rc=0
	setup_ns node
	out=$(conf ptp 10.123.0.0/33 | cni node "$BIN/skiff-ipam" ADD c1 /dev/null) || rc=$?
	assert_eq "$rc" 1 "exit status"
	assert_eq "$(echo "$out" | jq .code)" 7
	assert_eq "$(echo "$out" | jq -r .msg)" 'ipam.ranges[0][0].subnet: "10.123.0.0/33" is not a CIDR'
	rc=0
	out=$(echo '{"cniVersion":"1.0.0",' | cni node "$BIN/skiff-ipam" ADD c1 /dev/null) || rc=$?
	assert_eq "$rc" 1
	assert_eq "$(echo "$out" | jq .code)" 6
	[ ! -e "$DATA/$NET" ] || fail "a failed ADD left $DATA/$NET behind"
}

case_ptp_add_del_through_skiff_ipam() {
	local out addr rc=0 pod
	setup_ns node pod
	pod=/var/run/netns/$(ns pod)
	defer "conf ptp 10.123.0.0/24 | cni node $REF/ptp DEL ctr1 $pod"

	out=$(conf ptp 10.123.0.0/24 | cni node "$REF/ptp" ADD ctr1 "$pod") || fail "ptp ADD: $out"
	addr=$(echo "$out" | jq -r '.ips[0].address')
	assert_eq "$addr" 10.123.0.2/24 "ptp result: $out"
	assert_eq "$(echo "$out" | jq -r '.ips[0].gateway')" 10.123.0.1
	assert_contains "$(ip -n "$(ns pod)" -o addr show dev eth0)" "inet 10.123.0.2/24"
	# The node reaches the pod over ptp's veth and host route.
	assert_ok in_ns node ping -c 1 -W 2 10.123.0.2
	# The lease is held: skiff-ipam's own CHECK says so.
	out=$(conf ptp 10.123.0.0/24 | cni node "$BIN/skiff-ipam" CHECK ctr1 "$pod") || fail "CHECK while held: $out"

	out=$(conf ptp 10.123.0.0/24 | cni node "$REF/ptp" DEL ctr1 "$pod") || fail "ptp DEL: $out"
	rc=0
	out=$(conf ptp 10.123.0.0/24 | cni node "$BIN/skiff-ipam" CHECK ctr1 "$pod") || rc=$?
	assert_eq "$rc" 1 "CHECK after DEL: $out"
	assert_contains "$(echo "$out" | jq -r .msg)" "ctr1/eth0 holds no lease"
	# Released: another container can now ask for exactly that address.
	out=$(conf ptp 10.123.0.0/24 | cni node "$BIN/skiff-ipam" ADD ctr2 "$pod" "IP=10.123.0.2") \
		|| fail "requesting the released address: $out"
	assert_eq "$(echo "$out" | jq -r '.ips[0].address')" 10.123.0.2/24
	# DEL again, and DEL with no netns at all, succeed.
	out=$(conf ptp 10.123.0.0/24 | cni node "$REF/ptp" DEL ctr1 "") || fail "repeated DEL: $out"
}

case_64_parallel_adds_get_distinct_addresses() {
	local i pids=() rc n distinct
	setup_ns node
	conf ptp 10.124.0.0/24 >"$TMP/conf.json"
	for i in $(seq 1 64); do
		cni node "$BIN/skiff-ipam" ADD "par$i" /dev/null <"$TMP/conf.json" >"$TMP/add.$i" 2>&1 &
		pids+=($!)
	done
	rc=0
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	[ "$rc" -eq 0 ] || fail "an ADD failed: $(grep -l msg "$TMP"/add.* | head -1 | xargs cat)"
	n=$(cat "$TMP"/add.* | jq -r '.ips[0].address' | wc -l)
	distinct=$(cat "$TMP"/add.* | jq -r '.ips[0].address' | sort -u | wc -l)
	assert_eq "$n" 64
	assert_eq "$distinct" 64 "duplicate addresses"
	[ "$(cat "$TMP"/add.* | jq -r '.ips[0].address' | grep -vc '^10\.124\.0\.[0-9]*/24$')" = 0 ] \
		|| fail "an address outside 10.124.0.0/24"
	# DEL releases every lease.
	for i in $(seq 1 64); do
		cni node "$BIN/skiff-ipam" DEL "par$i" "" <"$TMP/conf.json" >/dev/null || fail "DEL par$i"
	done
	for i in $(seq 1 64); do
		rc=0
		cni node "$BIN/skiff-ipam" CHECK "par$i" /dev/null <"$TMP/conf.json" >/dev/null || rc=$?
		assert_eq "$rc" 1 "par$i still holds a lease after DEL"
	done
}

case_bridge_pods_reach_each_other() {
	local a b out rc id
	[ -x "$REF/bridge" ] || skip_case "needs $REF/bridge"
	setup_ns node pa pb
	# The bridge lives in the node namespace and goes with it.
	bconf() {
		jq -n --arg net "$NET" --arg data "$DATA" --arg br "skbr${RUN_ID:0:6}" '{
			cniVersion: "1.0.0", name: $net, type: "bridge", bridge: $br,
			isGateway: true, ipMasq: false,
			ipam: { type: "skiff-ipam", dataDir: $data,
				ranges: [[{ subnet: "10.125.0.0/24" }]] } }'
	}
	out=$(bconf | cni node "$REF/bridge" ADD pa "/var/run/netns/$(ns pa)") || fail "bridge ADD pa: $out"
	a=$(echo "$out" | jq -r '.ips[0].address')
	out=$(bconf | cni node "$REF/bridge" ADD pb "/var/run/netns/$(ns pb)") || fail "bridge ADD pb: $out"
	b=$(echo "$out" | jq -r '.ips[0].address')
	assert_eq "$a" 10.125.0.2/24
	assert_eq "$b" 10.125.0.3/24
	# The gateway skiff-ipam named is the one bridge put on the bridge.
	assert_contains "$(ip -n "$(ns node)" -o addr show dev "skbr${RUN_ID:0:6}")" "10.125.0.1/24"
	assert_ok ip netns exec "$(ns pa)" ping -c 1 -W 2 10.125.0.3
	out=$(bconf | cni node "$REF/bridge" DEL pa "/var/run/netns/$(ns pa)") || fail "bridge DEL pa: $out"
	out=$(bconf | cni node "$REF/bridge" DEL pb "") || fail "bridge DEL pb without netns: $out"
	for id in pa pb; do
		rc=0
		bconf | cni node "$BIN/skiff-ipam" CHECK "$id" /dev/null >/dev/null || rc=$?
		assert_eq "$rc" 1 "$id still holds a lease after DEL"
	done
}

case_gc_and_status() {
	local out rc
	setup_ns node
	conf ptp 10.126.0.0/29 >"$TMP/conf.json"
	for id in g1 g2 g3; do
		cni node "$BIN/skiff-ipam" ADD "$id" /dev/null <"$TMP/conf.json" >/dev/null || fail "ADD $id"
	done
	# 10.126.0.2-.6 minus three leases: STATUS still ready.
	out=$(cni node "$BIN/skiff-ipam" STATUS "" <"$TMP/conf.json") || fail "STATUS: $out"
	cni node "$BIN/skiff-ipam" ADD g4 /dev/null <"$TMP/conf.json" >/dev/null || fail "ADD g4"
	cni node "$BIN/skiff-ipam" ADD g5 /dev/null <"$TMP/conf.json" >/dev/null || fail "ADD g5"
	rc=0
	out=$(cni node "$BIN/skiff-ipam" STATUS "" <"$TMP/conf.json") || rc=$?
	assert_eq "$rc" 1 "STATUS of a full network"
	assert_eq "$(echo "$out" | jq .code)" 50
	rc=0
	out=$(cni node "$BIN/skiff-ipam" ADD g6 /dev/null <"$TMP/conf.json") || rc=$?
	assert_eq "$(echo "$out" | jq .code)" 11 "exhaustion"
	assert_contains "$(echo "$out" | jq -r .msg)" "10.126.0.1-10.126.0.6"
	# GC keeps g2 only.
	jq '. + {cniVersion: "1.1.0", "cni.dev/valid-attachments": [{containerID: "g2", ifname: "eth0"}]}' \
		"$TMP/conf.json" >"$TMP/gc.json"
	out=$(cni node "$BIN/skiff-ipam" GC "" <"$TMP/gc.json") || fail "GC: $out"
	cni node "$BIN/skiff-ipam" CHECK g2 /dev/null <"$TMP/conf.json" >/dev/null || fail "GC released g2"
	for id in g1 g3 g4 g5; do
		rc=0
		cni node "$BIN/skiff-ipam" CHECK "$id" /dev/null <"$TMP/conf.json" >/dev/null || rc=$?
		assert_eq "$rc" 1 "$id survived GC"
	done
	out=$(cni node "$BIN/skiff-ipam" STATUS "" <"$TMP/conf.json") || fail "STATUS after GC: $out"
}

case_sigkilled_adds_leave_a_consistent_store() {
	local i pids=() n distinct
	setup_ns node
	conf ptp 10.127.0.0/24 >"$TMP/conf.json"
	for i in $(seq 1 48); do
		# A simple command, so that $! is the plugin itself (ip and env exec it).
		ip netns exec "$(ns node)" env CNI_COMMAND=ADD CNI_CONTAINERID="k$i" CNI_NETNS=/dev/null \
			CNI_IFNAME=eth0 CNI_PATH="$BIN" "$BIN/skiff-ipam" <"$TMP/conf.json" >/dev/null 2>&1 &
		pids+=($!)
	done
	sleep 0.05
	# SIGKILL every other one, wherever it is (queued, mid-transaction, done).
	for (( i=0; i<${#pids[@]}; i+=2 )); do kill -9 "${pids[$i]}" 2>/dev/null; done
	for i in "${pids[@]}"; do wait "$i" 2>/dev/null; done
	# ADD again for all: an attachment whose ADD committed gets its lease
	# back, the others a new one; all 48 must be distinct.
	for i in $(seq 1 48); do
		cni node "$BIN/skiff-ipam" ADD "k$i" /dev/null <"$TMP/conf.json" >"$TMP/k.$i" \
			|| fail "ADD k$i after the kills: $(cat "$TMP/k.$i")"
	done
	n=$(cat "$TMP"/k.* | jq -r '.ips[0].address' | wc -l)
	distinct=$(cat "$TMP"/k.* | jq -r '.ips[0].address' | sort -u | wc -l)
	assert_eq "$n" 48
	assert_eq "$distinct" 48 "duplicate addresses after SIGKILL"
}

run_case help_and_version
run_case bad_config_names_the_field
run_case ptp_add_del_through_skiff_ipam
run_case 64_parallel_adds_get_distinct_addresses
run_case sigkilled_adds_leave_a_consistent_store
run_case bridge_pods_reach_each_other
run_case gc_and_status
finish
