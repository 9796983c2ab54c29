#!/usr/bin/env bash
# skiff-cni demo: two pods wired by skiff-cni, traffic between them (no
# cluster; `make demo` runs the kubectl walkthrough, scripts/demo.sh).
#
# Creates two pod network namespaces, runs skiff-cni ADD for each from this
# (the host's) namespace, prints their addresses and routes, passes TCP
# between the pods and from the host, then removes everything it made
# (namespaces, host veths, leases, and any sysctl it changed).
#
# Environment: SKIFF_BUILD (build folder, default build), DEMO_IPV6=1 to add
# an IPv6 range (sets net.ipv6.conf.all.forwarding for the run, which stops
# the host accepting router advertisements meanwhile; restored at exit).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SKIFF_BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PLUGIN="$BUILD/bin/skiff-cni"
ID=$(printf '%04x' $(( $$ & 0xffff )))
NET="skiff-demo-$ID"
PODS=(a b)

step() { printf '==> %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces and veths)"
[ -x "$PLUGIN" ] || die "$PLUGIN not built (run make)"
for c in ip jq socat; do command -v "$c" >/dev/null || die "needs $c (run scripts/deps.sh)"; done

# A subnet the host does not use yet.
SUBNET=""
for third in 244 245 246 247 248 249; do
	if ! ip -4 addr show | grep -q "inet 10\.$third\.0\." &&
	   [ -z "$(ip -4 route show 10.$third.0.0/24)" ] &&
	   [ -z "$(ip -4 route show match 10.$third.0.1 | grep -v '^default')" ]; then
		SUBNET="10.$third.0.0/24"
		break
	fi
done
[ -n "$SUBNET" ] || die "no free 10.24x.0.0/24 subnet on this host"
SUBNET6="fd00:${SUBNET#10.}"; SUBNET6="${SUBNET6%%.*}::/64"

WORK=$(mktemp -d /tmp/skiff-demo-XXXXXX)
declare -A SYSCTL_BEFORE=()
CLEANUP_ADDED=()

remember_sysctl() {
	local key=$1
	[ -n "${SYSCTL_BEFORE[$key]+x}" ] || SYSCTL_BEFORE[$key]=$(sysctl -n "$key")
}

cleanup() {
	local p key
	set +e
	step "cleaning up"
	for p in "${CLEANUP_ADDED[@]}"; do
		CNI_COMMAND=DEL CNI_CONTAINERID="demo-$ID-$p" CNI_NETNS="" CNI_IFNAME=eth0 \
			CNI_PATH="$BUILD/bin:/usr/lib/cni" "$PLUGIN" <"$WORK/net.json" >/dev/null 2>&1
	done
	for p in "${PODS[@]}"; do
		ip netns del "$NET-$p" 2>/dev/null
	done
	[ -n "${SERVER_A:-}" ] && kill "$SERVER_A" 2>/dev/null
	[ -n "${SERVER_B:-}" ] && kill "$SERVER_B" 2>/dev/null
	for key in "${!SYSCTL_BEFORE[@]}"; do
		if [ "$(sysctl -n "$key")" != "${SYSCTL_BEFORE[$key]}" ]; then
			sysctl -qw "$key=${SYSCTL_BEFORE[$key]}"
			echo "    restored $key=${SYSCTL_BEFORE[$key]}"
		fi
	done
	rm -rf "$WORK"
	echo "    removed namespaces $NET-{${PODS[*]// /,}}, their host veths and leases"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ranges="[[{\"subnet\": \"$SUBNET\"}]"
[ "${DEMO_IPV6:-0}" = 1 ] && ranges+=", [{\"subnet\": \"$SUBNET6\"}]"
ranges+="]"
cat >"$WORK/net.json" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "type": "skiff-cni",
  "mtu": 1500,
  "ipam": {"type": "skiff-ipam", "dataDir": "$WORK/ipam", "ranges": $ranges}
}
EOF

step "network config ($WORK/net.json)"
sed 's/^/    /' "$WORK/net.json"
remember_sysctl net.ipv4.ip_forward
[ "${DEMO_IPV6:-0}" = 1 ] && remember_sysctl net.ipv6.conf.all.forwarding

declare -A ADDR=() ADDR6=()
for p in "${PODS[@]}"; do
	step "pod $p: creating netns $NET-$p and running skiff-cni ADD"
	ip netns add "$NET-$p"
	ip -n "$NET-$p" link set lo up
	start=$(date +%s%N)
	CLEANUP_ADDED+=("$p")
	result=$(CNI_COMMAND=ADD CNI_CONTAINERID="demo-$ID-$p" CNI_NETNS="/var/run/netns/$NET-$p" \
		CNI_IFNAME=eth0 CNI_PATH="$BUILD/bin:/usr/lib/cni" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=demo-$p" \
		"$PLUGIN" <"$WORK/net.json") || die "ADD failed for pod $p: $result"
	echo "    ADD took $(( ($(date +%s%N) - start) / 1000000 )) ms"
	ADDR[$p]=$(echo "$result" | jq -r '.ips[] | select(.address | contains(".")) | .address' | cut -d/ -f1)
	ADDR6[$p]=$(echo "$result" | jq -r '.ips[] | select(.address | contains(":")) | .address' | cut -d/ -f1)
	host_if=$(echo "$result" | jq -r '.interfaces[0].name')
	echo "    pod $p: eth0 ${ADDR[$p]}${ADDR6[$p]:+ and ${ADDR6[$p]}}, host side $host_if"
	echo "    addresses in pod $p:"
	ip -n "$NET-$p" -br addr show eth0 | sed 's/^/      /'
	echo "    routes in pod $p:"
	ip -n "$NET-$p" route | sed 's/^/      /'
	if [ -n "${ADDR6[$p]}" ]; then
		ip -n "$NET-$p" -6 route | grep -v '^fe80' | sed 's/^/      /'
	fi
	echo "    host route: $(ip route show "${ADDR[$p]}")"
done
if [ "$(sysctl -n net.ipv4.ip_forward)" = 1 ] && [ "${SYSCTL_BEFORE[net.ipv4.ip_forward]}" != 1 ]; then
	echo "    note: skiff-cni set net.ipv4.ip_forward=1 (routing between pods needs it); restored at exit"
fi

step "TCP server in each pod (socat, port 8080)"
ip netns exec "$NET-a" socat TCP6-LISTEN:8080,ipv6only=0,reuseaddr,fork SYSTEM:'echo hello from pod a' &
SERVER_A=$!
ip netns exec "$NET-b" socat TCP6-LISTEN:8080,ipv6only=0,reuseaddr,fork SYSTEM:'echo hello from pod b' &
SERVER_B=$!
for p in "${PODS[@]}"; do
	for _ in $(seq 50); do
		ip netns exec "$NET-$p" ss -ltn | grep -q ':8080 ' && break
		sleep 0.1
	done
done

check() { # label, netns ("" for the host), address
	local label=$1 ns=$2 addr=$3 out
	[[ "$addr" == *:* ]] && addr="[$addr]"
	if [ -n "$ns" ]; then
		out=$(ip netns exec "$ns" socat -T3 - "TCP:$addr:8080" </dev/null 2>&1) || true
	else
		out=$(socat -T3 - "TCP:$addr:8080" </dev/null 2>&1) || true
	fi
	if [[ "$out" == hello* ]]; then
		printf '    %-28s -> %s\n' "$label" "$out"
	else
		die "$label failed: $out"
	fi
}
step "TCP traffic"
check "pod a -> pod b (${ADDR[b]})" "$NET-a" "${ADDR[b]}"
check "pod b -> pod a (${ADDR[a]})" "$NET-b" "${ADDR[a]}"
check "host  -> pod a (${ADDR[a]})" "" "${ADDR[a]}"
check "host  -> pod b (${ADDR[b]})" "" "${ADDR[b]}"
if [ -n "${ADDR6[a]}" ]; then
	check "pod a -> pod b (${ADDR6[b]})" "$NET-a" "${ADDR6[b]}"
	check "host  -> pod a (${ADDR6[a]})" "" "${ADDR6[a]}"
fi
step "demo passed"
