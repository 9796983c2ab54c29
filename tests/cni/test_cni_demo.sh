#!/usr/bin/env bash
# scripts/cni-demo.sh, run inside a namespace standing in for the
# host so the test leaves the real host alone: it must pass traffic, say
# so, and leave no namespace, link or sysctl change behind.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/cni_lib.sh"
require_root
require_cmd ip jq socat ss
require_bin skiff-cni
# the demo picks a free 10.24x.0.0/24 (fd00:24x::/64) in the node namespace
guard_ranges 10.240.0.0/12 fd00:240::/28

demo_in_node() { in_ns node env SKIFF_BUILD="$SKIFF_BUILD" "$@" "$SKIFF_ROOT/scripts/cni-demo.sh"; }

# setup_node: the "host" namespace starts with forwarding off, as the
# assertions below expect: a new namespace inherits the real host's
# net.ipv4.ip_forward (net.core.devconf_inherit_init_net), so it is set.
setup_node() {
	setup_ns node
	in_ns node sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
}

case_demo_ipv4() {
	local out
	setup_node
	out=$(demo_in_node 2>&1) || fail "demo failed: $out"
	assert_contains "$out" "pod a -> pod b"
	assert_contains "$out" "host  -> pod b"
	assert_contains "$out" "demo passed"
	assert_contains "$out" "restored net.ipv4.ip_forward=0"
	assert_eq "$(in_ns node cat /proc/sys/net/ipv4/ip_forward)" 0 "ip_forward after the demo"
	assert_ok wait_for 3 veths_gone
	assert_eq "$(ip netns list | grep -c "skiff-demo-" || true)" 0 "demo namespaces left"
}

case_demo_dual_stack() {
	local out
	setup_node
	out=$(demo_in_node DEMO_IPV6=1 2>&1) || fail "demo failed: $out"
	assert_contains "$out" "-> hello from pod b"
	assert_contains "$out" "(fd00:"
	assert_contains "$out" "demo passed"
	assert_eq "$(in_ns node cat /proc/sys/net/ipv6/conf/all/forwarding)" 0 "IPv6 forwarding after the demo"
	assert_ok wait_for 3 veths_gone
}

run_case demo_ipv4
run_case demo_dual_stack
finish
