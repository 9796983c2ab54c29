# Helpers shared by the skiff-cni shell tests (sourced after lib.sh).
# Every plugin call runs inside the test's "node" namespace; pods live in
# further namespaces; data dirs are under $TMP.

# conf NAME VERSION IPAM_JSON [EXTRA_JQ]: writes $TMP/NAME.json, a skiff-cni
# network config for network NAME (unique per run).
conf() {
	local name=$1 version=$2 ipam=$3 extra=${4:-.}
	jq -n --arg v "$version" --arg n "$name-$RUN_ID" --argjson ipam "$ipam" \
		'{cniVersion: $v, name: $n, type: "skiff-cni", ipam: $ipam}' | jq "$extra" >"$TMP/$name.json"
}

# skiff_ipam SUBNET...: an in-process skiff-ipam section, one range set each.
skiff_ipam() {
	local sets=() s
	for s in "$@"; do sets+=("[{\"subnet\": \"$s\"}]"); done
	local IFS=,
	echo "{\"type\": \"skiff-ipam\", \"dataDir\": \"$TMP/data\", \"ranges\": [${sets[*]}]}"
}

# cni CMD CONTAINER NETNS IFNAME [plugin]: runs the plugin in the node
# namespace with the config on stdin; NETNS is a test namespace name or "".
# CNI_ARGS as containerd sends them (plus an unknown key), unless
# TEST_CNI_ARGS is set.
cni() {
	local cmd=$1 id=$2 netns=$3 ifname=$4 plugin=${5:-$BIN/skiff-cni} path=""
	[ -n "$netns" ] && path=/var/run/netns/$(ns "$netns")
	in_ns node env CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="$path" \
		CNI_IFNAME="$ifname" CNI_PATH="${TEST_CNI_PATH:-$BIN:/usr/lib/cni}" \
		CNI_ARGS="${TEST_CNI_ARGS-IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$id;K8S_POD_INFRA_CONTAINER_ID=$id;FUTURE_KEY=1}" \
		"$plugin"
}

# cid NAME: a container ID unique to this run.
cid() { echo "$RUN_ID$1"; }

# attached NET CONTAINER IFNAME: a host veth of skiff-cni for the attachment
# exists in the node namespace (found by the alias skiff-cni puts on it).
attached() {
	ip -n "$(ns node)" -d link show type veth | grep -qF "alias skiff-cni $1-$RUN_ID $2 $3"
}

# node_veths: the number of skiff host veths in the node namespace: skf*
# in use, skd* retired by an older DEL (down, renamed, being unregistered).
node_veths() { ip -n "$(ns node)" -o link show type veth | grep -c ': sk[fd]' || true; }
active_veths() { ip -n "$(ns node)" -o link show type veth | grep -c ': skf' || true; }
veths_gone() { [ "$(node_veths)" = 0 ]; }
# assert_deleted: right after DEL no host veth has its name or is up, soon
# nothing is left.
assert_deleted() {
	[ "$(active_veths)" = 0 ] || _assert_fail "host veth still named after DEL"
	[ "$(ip -n "$(ns node)" -o link show type veth up | grep -c ': sk[fd]')" = 0 ] ||
		_assert_fail "host veth still up after DEL"
	wait_for 3 veths_gone || _assert_fail "host veth not removed within 3 s of DEL"
}

# expect_error CODE OUTPUT: the spec's error JSON with that code.
expect_error() {
	local code
	code=$(echo "$2" | jq -r .code 2>/dev/null)
	[ "$code" = "$1" ] || _assert_fail "expected error code $1, got: $2"
	[ -n "$(echo "$2" | jq -r '.msg // empty')" ] || _assert_fail "error without msg: $2"
}

# tcp_echo NS PORT TEXT: a TCP server in NS answering TEXT (IPv4 and IPv6).
tcp_echo() {
	local pid
	bg_ns "$1" pid socat TCP6-LISTEN:"$2",ipv6only=0,reuseaddr,fork SYSTEM:"echo $3"
	wait_for 5 sh -c "ip netns exec $(ns "$1") ss -ltn | grep -q ':$2 '" || fail "server on port $2 did not start"
}

# tcp_get NS HOST PORT: prints what the server at HOST:PORT answers.
tcp_get() {
	local host=$2
	case "$host" in *:*) host="[$host]" ;; esac
	in_ns "$1" socat -T3 - TCP:"$host":"$3" </dev/null
}

pod_ip() { echo "$1" | jq -r ".ips[] | select(.address | contains(\"$2\")) | .address" | cut -d/ -f1; }
