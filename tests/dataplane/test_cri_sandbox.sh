#!/usr/bin/env bash
# Real runtime (issue 2): a private containerd whose CRI uses a CNI
# conflist, driven through skiff's own CRI client (cri-tool), with the
# locally built pause image. A pod sandbox gets an address from the
# configured subnet, the address is on eth0 in the sandbox and answers ping
# from the node, the IPAM store holds its lease under the sandbox id;
# StopPodSandbox + RemovePodSandbox release the lease and the host-side veth.
# containerd runs inside a node namespace made here (see containerd.sh).
. "$(dirname "$0")/../harness/lib.sh"
. "$SKIFF_ROOT/tests/dataplane/containerd.sh"

require_root
require_cmd containerd containerd-shim-runc-v2 runc ctr nsenter unshare ping sqlite3 nc
require_bin cri-tool skiff-cni skiff-ipam

SUBNET_PREFIX=10.66.0
SUBNET=$SUBNET_PREFIX.0/24
SUBNET6_PREFIX=fd00:66::
SUBNET6=${SUBNET6_PREFIX}/64
guard_ranges "$SUBNET" "$SUBNET6"

# Images are built by `make test-bins`; build them here when missing.
IMAGES="$SKIFF_BUILD/images"
if [ ! -f "$IMAGES/pause.tar" ]; then
	make -C "$SKIFF_ROOT" --no-print-directory O="$SKIFF_BUILD" images >/dev/null 2>&1 ||
		skip "cannot build the local images (make images)"
fi

defer ctrd_cgroup_cleanup

# conflist_skiff FILE: skiff-cni with skiff-ipam, chained with portmap.
conflist_skiff() {
	cat >"$1" <<-JSON
	{"cniVersion": "1.0.0", "name": "skiff-$RUN_ID", "plugins": [
	  {"type": "skiff-cni", "mtu": 1400,
	   "ipam": {"type": "skiff-ipam", "ranges": [[{"subnet": "$SUBNET"}]],
	            "dataDir": "$TMP/ipam"}},
	  {"type": "portmap", "capabilities": {"portMappings": true}}]}
	JSON
}

# conflist_ptp FILE: the reference ptp plugin with skiff-ipam as its IPAM.
conflist_ptp() {
	cat >"$1" <<-JSON
	{"cniVersion": "1.0.0", "name": "skiff-$RUN_ID", "plugins": [
	  {"type": "ptp", "mtu": 1400,
	   "ipam": {"type": "skiff-ipam", "ranges": [[{"subnet": "$SUBNET"}]],
	            "dataDir": "$TMP/ipam"}},
	  {"type": "portmap", "capabilities": {"portMappings": true}}]}
	JSON
}

# conflist_dual FILE: skiff-cni, dual-stack ranges.
conflist_dual() {
	cat >"$1" <<-JSON
	{"cniVersion": "1.0.0", "name": "skiff-$RUN_ID", "plugins": [
	  {"type": "skiff-cni", "mtu": 1400,
	   "ipam": {"type": "skiff-ipam", "ranges": [[{"subnet": "$SUBNET"}], [{"subnet": "$SUBNET6"}]],
	            "dataDir": "$TMP/ipam"}}]}
	JSON
}

# pod_config NAME [EXTRA_JSON_FIELDS]: writes a pod sandbox config and
# prints its path.
pod_config() {
	local f="$TMP/pod-$1.json"
	cat >"$f" <<-JSON
	{"metadata": {"name": "$1", "namespace": "skiff-test", "uid": "uid-$RUN_ID-$1"},
	 "hostname": "$1", "log_directory": "$TMP/logs/$1", ${2:+$2,}
	 "labels": {"app": "$1"},
	 "linux": {"cgroup_parent": "$CTRD_CGROUP_PARENT"}}
	JSON
	echo "$f"
}

# json_field JSON KEY: the first string or number value of "KEY".
json_field() { sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" <<<"$1" | head -n 1; }

ip_hex() { local IFS=.; set -- $1; printf '%02X%02X%02X%02X' "$1" "$2" "$3" "$4"; }

# lease_count ID: how many addresses skiff-ipam holds for container ID.
lease_count() {
	sqlite3 "$TMP/ipam/skiff-$RUN_ID/leases.db" \
		"SELECT count(*) FROM leases WHERE container_id = '$1';" 2>/dev/null
}

# lease_owner IP: the container id holding IP in skiff-ipam's store.
lease_owner() {
	sqlite3 "$TMP/ipam/skiff-$RUN_ID/leases.db" \
		"SELECT container_id FROM leases WHERE hex(ip) = '$(ip_hex "$1")';" 2>/dev/null
}

in_sandbox() { local pid=$1; shift; nsenter --net="/proc/$pid/ns/net" "$@"; }

# start_pod NAME [EXTRA_JSON_FIELDS]: runs a sandbox; sets POD_ID, POD_IP,
# POD_PID.
start_pod() {
	local out
	POD_ID=$(cri runp "$(pod_config "$1" "${2:-}")" 2>&1) || fail "runp $1: $POD_ID"
	out=$(cri inspectp "$POD_ID") || fail "inspectp $POD_ID failed"
	assert_eq "$(json_field "$out" state)" SANDBOX_READY "state of $1"
	assert_eq "$(json_field "$out" name)" "$1" "metadata.name of $1"
	assert_eq "$(json_field "$out" uid)" "uid-$RUN_ID-$1" "metadata.uid of $1"
	POD_IP=$(json_field "$out" ip)
	POD_PID=$(json_field "$out" pid)
	[ "${POD_PID:-0}" -gt 1 ] || fail "inspectp printed no pid: $out"
}

# The whole life of one sandbox with the network of conflist function $1.
sandbox_lifecycle() {
	local veth out
	setup_ns node
	"$1" "$TMP/net.conflist"
	ctrd_start node "$TMP/net.conflist"
	assert_ok ctrd_import "$IMAGES/pause.tar"

	start_pod web
	case "$POD_IP" in
	"$SUBNET_PREFIX".*) ;;
	*) fail "PodSandboxStatus ip '$POD_IP' is not in $SUBNET" ;;
	esac
	# The address is on eth0 inside the sandbox ...
	out=$(in_sandbox "$POD_PID" ip -4 -o addr show dev eth0) || fail "no eth0 in the sandbox"
	assert_contains "$out" "inet $POD_IP/"
	assert_contains "$(in_sandbox "$POD_PID" ip -o link show dev eth0)" "mtu 1400"
	# ... answers from the node namespace, where the host side lives ...
	assert_ok in_ns node ping -c 1 -W 2 "$POD_IP"
	veth=$(in_ns node ip -o route get "$POD_IP" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
	[ -n "$veth" ] && [ "$veth" != lo ] || fail "no host route to $POD_IP in the node namespace"
	assert_ok in_ns node ip link show dev "$veth"
	# ... and nothing of it is on the real host.
	assert_fails ip link show dev "$veth"
	# skiff-ipam leased it to this sandbox.
	assert_eq "$(lease_owner "$POD_IP")" "$POD_ID" "lease owner of $POD_IP"

	assert_ok cri stopp "$POD_ID"
	assert_eq "$(lease_owner "$POD_IP")" "" "lease of $POD_IP after StopPodSandbox"
	assert_fails in_ns node ip link show dev "$veth"
	assert_ok cri rmp "$POD_ID"
	# The runtime's NOT_FOUND reaches the user with its gRPC status.
	out=$(cri inspectp "$POD_ID" 2>&1) && fail "inspectp of a removed sandbox succeeded"
	assert_contains "$out" "grpc-status 5 NOT_FOUND"
	assert_eq "$(cri pods --quiet)" "" "sandboxes left after RemovePodSandbox"
}

# Two sandboxes: different addresses, and each reaches the other.
two_sandboxes() {
	local id1 ip1 pid1
	setup_ns node
	"$1" "$TMP/net.conflist"
	ctrd_start node "$TMP/net.conflist"
	assert_ok ctrd_import "$IMAGES/pause.tar"

	start_pod alpha
	id1=$POD_ID ip1=$POD_IP pid1=$POD_PID
	start_pod beta
	assert_ne "$POD_IP" "$ip1" "two sandboxes got the same address"
	assert_ok in_sandbox "$pid1" ping -c 1 -W 2 "$POD_IP"
	assert_ok in_sandbox "$POD_PID" ping -c 1 -W 2 "$ip1"
	assert_eq "$(lease_owner "$ip1")" "$id1"
	assert_eq "$(lease_owner "$POD_IP")" "$POD_ID"

	for id in "$id1" "$POD_ID"; do
		assert_ok cri stopp "$id"
		assert_ok cri rmp "$id"
	done
	assert_eq "$(lease_owner "$ip1")" ""
	assert_eq "$(lease_owner "$POD_IP")" ""
}

# http_get IP PORT PATH OUT: one HTTP/1.0 GET from the node namespace.
http_get() {
	printf 'GET %s HTTP/1.0\r\n\r\n' "$3" | in_ns node nc -N -w 2 "$1" "$2" >"$4" &&
		grep -q '^HTTP/1.[01] 200' "$4"
}

# A busybox container in a sandbox shares its network: it serves on the
# pod address; stop and remove end it.
container_in_sandbox() {
	local ctr out cpid
	setup_ns node
	"$1" "$TMP/net.conflist"
	ctrd_start node "$TMP/net.conflist"
	assert_ok ctrd_import "$IMAGES/pause.tar"
	assert_ok ctrd_import "$IMAGES/busybox.tar"
	assert_contains "$(cri inspecti skiff.local/busybox:1.35)" '"skiff.local/busybox:1.35"'

	start_pod shop '"port_mappings": [{"container_port": 8080, "host_port": 18080}]'
	cat >"$TMP/ctr.json" <<-JSON
	{"metadata": {"name": "httpd"}, "image": "skiff.local/busybox:1.35",
	 "command": ["/bin/httpd", "-f", "-p", "8080", "-h", "/etc"],
	 "log_path": "httpd.log", "labels": {"app": "shop"}}
	JSON
	ctr=$(cri create "$POD_ID" "$TMP/ctr.json" "$TMP/pod-shop.json" 2>&1) || fail "create: $ctr"
	assert_ok cri start "$ctr"
	out=$(cri inspect "$ctr")
	assert_eq "$(json_field "$out" state)" CONTAINER_RUNNING
	cpid=$(json_field "$out" pid)
	assert_eq "$(readlink "/proc/$cpid/ns/net")" "$(readlink "/proc/$POD_PID/ns/net")" \
		"container and sandbox network namespaces"
	wait_for 5 http_get "$POD_IP" 8080 /passwd "$TMP/passwd" ||
		fail "no HTTP answer from the container on $POD_IP:8080"
	assert_contains "$(cat "$TMP/passwd")" "root:x:0:0"
	# The pod's hostPort: containerd passes portMappings down the chain
	# to portmap, which needs the prevResult of the first plugin.
	http_get 127.0.0.1 18080 /group "$TMP/group" || fail "no HTTP answer on hostPort 18080"
	assert_contains "$(cat "$TMP/group")" "root:x:0:"
	assert_contains "$(cri ps --quiet)" "$ctr"

	assert_ok cri stop "$ctr" 2
	assert_eq "$(json_field "$(cri inspect "$ctr")" state)" CONTAINER_EXITED
	assert_ok cri rm "$ctr"
	assert_eq "$(cri ps --quiet)" ""
	assert_ok cri stopp "$POD_ID"
	assert_ok cri rmp "$POD_ID"
}

# Bad input is refused before any call, naming the field.
case_bad_pod_config_names_the_field() {
	local out
	echo '{"metadata": {"name": "x", "namespace": "y"}}' >"$TMP/bad.json"
	out=$("$TESTBIN/cri-tool" --socket "$TMP/none.sock" runp "$TMP/bad.json" 2>&1) &&
		fail "runp accepted a config without metadata.uid"
	assert_contains "$out" "metadata.uid: required"
	out=$("$TESTBIN/cri-tool" --socket "$TMP/none.sock" version 2>&1) && fail "version without a runtime succeeded"
	assert_contains "$out" "none.sock"
}

# Dual-stack: PodSandboxStatus has the IPv4 address as ip and the IPv6 one
# in additional_ips; both are on eth0, answer from the node, and are leased.
dual_stack_sandbox() {
	local out ip6
	setup_ns node
	conflist_dual "$TMP/net.conflist"
	ctrd_start node "$TMP/net.conflist"
	assert_ok ctrd_import "$IMAGES/pause.tar"

	start_pod dual
	case "$POD_IP" in "$SUBNET_PREFIX".*) ;; *) fail "ip '$POD_IP' is not in $SUBNET" ;; esac
	out=$(cri inspectp "$POD_ID")
	ip6=$(sed -n '/"additional_ips"/,/]/s/^ *"\([0-9a-f:]*\)",\{0,1\}$/\1/p' <<<"$out" | head -n 1)
	case "$ip6" in "$SUBNET6_PREFIX"*) ;; *) fail "additional_ips has no address of $SUBNET6: $out" ;; esac
	out=$(in_sandbox "$POD_PID" ip -o addr show dev eth0)
	assert_contains "$out" "inet $POD_IP/"
	assert_contains "$out" "inet6 $ip6/"
	assert_ok in_ns node ping -c 1 -W 2 "$POD_IP"
	wait_for 3 in_ns node ping -6 -c 1 -W 1 "$ip6" || fail "no answer from $ip6"
	assert_eq "$(lease_count "$POD_ID")" 2 "leases of the dual-stack sandbox"

	assert_ok cri stopp "$POD_ID"
	assert_eq "$(lease_count "$POD_ID")" 0 "leases after StopPodSandbox"
	assert_ok cri rmp "$POD_ID"
}

# conflist_one FILE: skiff-cni with a range of exactly one address.
conflist_one() {
	cat >"$1" <<-JSON
	{"cniVersion": "1.0.0", "name": "skiff-$RUN_ID", "plugins": [
	  {"type": "skiff-cni", "mtu": 1400,
	   "ipam": {"type": "skiff-ipam", "ranges": [[{"subnet": "$SUBNET",
	            "rangeStart": "$SUBNET_PREFIX.5", "rangeEnd": "$SUBNET_PREFIX.5"}]],
	            "dataDir": "$TMP/ipam"}}]}
	JSON
}

# A sandbox whose network cannot be set up (range exhausted): RunPodSandbox
# fails with the plugin's message, and nothing of it stays behind.
exhausted_range() {
	local id1 out links
	setup_ns node
	conflist_one "$TMP/net.conflist"
	ctrd_start node "$TMP/net.conflist"
	assert_ok ctrd_import "$IMAGES/pause.tar"

	start_pod first
	id1=$POD_ID
	assert_eq "$POD_IP" "$SUBNET_PREFIX.5"
	links=$(in_ns node ip -o link show | wc -l)
	out=$(cri runp "$(pod_config second)" 2>&1) && fail "second sandbox got an address from a full range: $out"
	assert_contains "$out" 'plugin type="skiff-cni" failed (add)'
	assert_contains "$out" "$SUBNET_PREFIX.5"
	assert_eq "$(in_ns node ip -o link show | wc -l)" "$links" "links in the node after the failed ADD"
	# containerd undoes the failed sandbox with a DEL of an attachment that
	# got nothing; that DEL must succeed (else the sandbox stays listed).
	assert_eq "$(cri pods --quiet)" "$id1" "sandboxes after the failed RunPodSandbox"
	assert_eq "$(lease_owner "$SUBNET_PREFIX.5")" "$id1" "lease after the failed sandbox"
	assert_ok cri stopp "$id1"
	assert_ok cri rmp "$id1"
	assert_eq "$(lease_count "$id1")" 0
}

# The pause binary: PID 1 of a PID namespace, it reaps orphans reparented
# to it and exits 0 on SIGTERM and SIGINT.
case_pause_reaps_orphans_and_exits_on_signals() {
	local pid ppid sig rc
	for sig in TERM INT; do
		unshare --pid --fork --kill-child "$IMAGES/pause" &
		ppid=$!
		defer kill -9 "$ppid"
		for (( rc=0; rc<50; rc++ )); do
			pid=$(pgrep -P "$ppid" -x pause) && break
			sleep 0.05
		done
		[ -n "$pid" ] || fail "pause did not start"
		# A shell in its PID namespace leaves an orphan that exits at once.
		nsenter --target "$pid" --pid sh -c '(sleep 0.1 &) ; exit 0'
		sleep 0.5
		assert_eq "$(ps --ppid "$pid" -o stat= | grep -c Z)" 0 "zombies under pause"
		kill -s "$sig" "$pid"
		wait "$ppid"
		rc=$?
		assert_eq "$rc" 0 "exit status of pause after SIG$sig"
	done
}

case_skiff_cni_sandbox_gets_address_and_releases_it() { sandbox_lifecycle conflist_skiff; }
case_skiff_cni_two_sandboxes_reach_each_other() { two_sandboxes conflist_skiff; }
case_skiff_cni_dual_stack_sandbox() { dual_stack_sandbox; }
case_skiff_cni_exhausted_range_leaves_nothing() { exhausted_range; }
# The same through the reference ptp plugin, with skiff-ipam as its IPAM.
case_ptp_with_skiff_ipam_sandbox_lifecycle() { sandbox_lifecycle conflist_ptp; }
case_ptp_with_skiff_ipam_two_sandboxes() { two_sandboxes conflist_ptp; }
case_container_in_sandbox_serves_on_pod_address() { container_in_sandbox conflist_skiff; }

run_case skiff_cni_sandbox_gets_address_and_releases_it
run_case skiff_cni_two_sandboxes_reach_each_other
run_case skiff_cni_dual_stack_sandbox
run_case skiff_cni_exhausted_range_leaves_nothing
run_case ptp_with_skiff_ipam_sandbox_lifecycle
run_case ptp_with_skiff_ipam_two_sandboxes
run_case container_in_sandbox_serves_on_pod_address
run_case bad_pod_config_names_the_field
run_case pause_reaps_orphans_and_exits_on_signals
finish
