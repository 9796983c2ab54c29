# Network topologies the load-balancer tests share (source after lib.sh).
#
#   topo_backends C4 B4 C6 B6 HOLD
#       namespaces node, client, b1..b3: the client on C4.0.2/24 and
#       C6::2/64 behind the node (.1 / ::1, forwarding on), backend i on
#       B4.i.2/24 and B6:i::2/64 behind the node. Each backend serves TCP
#       8080 (answers its name "bi", closes), TCP 8081 (answers, then stays
#       open HOLD seconds or until the client closes: nothing of it outlives
#       the connection) and UDP 8080 (answers every datagram with its
#       name). Returns once every backend answers the client directly.
#       The host routes those ranges nowhere meanwhile (guard_ranges).
#       Example: topo_backends 10.200 10.201 fd00:200 fd00:201 6
#
#   topo_two_nodes L P
#       namespaces lan (a bridge), cl, n1, n2 and p1: cl, n1 and n2 on one
#       LAN through device "ext" (192.168.L.100/.1/.2, fd00:L::100/::1/::2);
#       p1 a pod of node 1 (10.244.P.5, fd00:244:P::5; node side .1/::1,
#       device "pod"). Sets CLIENT N1 N2 POD CLIENT6 N16 N26 POD6. Starts
#       no servers.

topo_backends() {
	local c4=$1 b4=$2 c6=$3 b6=$4 hold=$5 n i
	local cli="$TESTBIN/lb-client"

	setup_ns node client b1 b2 b3
	guard_ranges "$c4.0.0/16" "$b4.0.0/16" "$c6::/64" "$b6::/32"
	for n in node client b1 b2 b3; do
		in_ns "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
	done
	in_ns node sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n "$(ns node)" link add vc type veth peer name eth0 netns "$(ns client)"
	ip -n "$(ns node)" addr add "$c4.0.1/24" dev vc
	ip -n "$(ns node)" addr add "$c6::1/64" dev vc nodad
	ip -n "$(ns node)" link set vc up
	ip -n "$(ns client)" addr add "$c4.0.2/24" dev eth0
	ip -n "$(ns client)" addr add "$c6::2/64" dev eth0 nodad
	ip -n "$(ns client)" link set eth0 up
	ip -n "$(ns client)" route add default via "$c4.0.1"
	ip -n "$(ns client)" -6 route add default via "$c6::1"
	for i in 1 2 3; do
		ip -n "$(ns node)" link add "vb$i" type veth peer name eth0 netns "$(ns "b$i")"
		ip -n "$(ns node)" addr add "$b4.$i.1/24" dev "vb$i"
		ip -n "$(ns node)" addr add "$b6:$i::1/64" dev "vb$i" nodad
		ip -n "$(ns node)" link set "vb$i" up
		ip -n "$(ns "b$i")" addr add "$b4.$i.2/24" dev eth0
		ip -n "$(ns "b$i")" addr add "$b6:$i::2/64" dev eth0 nodad
		ip -n "$(ns "b$i")" link set eth0 up
		ip -n "$(ns "b$i")" route add default via "$b4.$i.1"
		ip -n "$(ns "b$i")" -6 route add default via "$b6:$i::1"
		bg_ns "b$i" _pid socat TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=0 SYSTEM:"echo b$i"
		bg_ns "b$i" _pid socat TCP6-LISTEN:8081,fork,reuseaddr,ipv6only=0 \
			SYSTEM:"echo b$i; exec timeout $hold cat >/dev/null"
		bg_ns "b$i" _pid "$cli" --serve-udp "b$i" 8080
	done
	for i in 1 2 3; do
		wait_for 5 in_ns client "$cli" --timeout-ms 500 "$b4.$i.2" 8080 ||
			fail "backend b$i does not answer directly"
		wait_for 5 in_ns client "$cli" --timeout-ms 500 "$b6:$i::2" 8080 ||
			fail "backend b$i does not answer directly over IPv6"
	done
}

topo_two_nodes() {
	local l=$1 p=$2 n

	CLIENT=192.168.$l.100 N1=192.168.$l.1 N2=192.168.$l.2 POD=10.244.$p.5
	CLIENT6=fd00:$l::100 N16=fd00:$l::1 N26=fd00:$l::2 POD6=fd00:244:$p::5
	setup_ns lan cl n1 n2 p1
	guard_ranges "192.168.$l.0/24" "10.244.$p.0/24" "fd00:$l::/64" "fd00:244:$p::/64"
	for n in lan cl n1 n2 p1; do
		in_ns "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
	done
	ip -n "$(ns lan)" link add br0 type bridge
	ip -n "$(ns lan)" link set br0 up
	for n in cl n1 n2; do
		ip -n "$(ns lan)" link add "v$n" type veth peer name ext netns "$(ns "$n")"
		ip -n "$(ns lan)" link set "v$n" master br0 up
		ip -n "$(ns "$n")" link set ext up
	done
	ip -n "$(ns cl)" addr add "$CLIENT/24" dev ext
	ip -n "$(ns cl)" addr add "$CLIENT6/64" dev ext nodad
	ip -n "$(ns n1)" addr add "$N1/24" dev ext
	ip -n "$(ns n1)" addr add "$N16/64" dev ext nodad
	ip -n "$(ns n2)" addr add "$N2/24" dev ext
	ip -n "$(ns n2)" addr add "$N26/64" dev ext nodad
	in_ns n1 sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n "$(ns n1)" link add pod type veth peer name eth0 netns "$(ns p1)"
	ip -n "$(ns n1)" addr add "10.244.$p.1/24" dev pod
	ip -n "$(ns n1)" addr add "fd00:244:$p::1/64" dev pod nodad
	ip -n "$(ns n1)" link set pod up
	ip -n "$(ns p1)" addr add "$POD/24" dev eth0
	ip -n "$(ns p1)" addr add "$POD6/64" dev eth0 nodad
	ip -n "$(ns p1)" link set eth0 up
	ip -n "$(ns p1)" route add default via "10.244.$p.1"
	ip -n "$(ns p1)" -6 route add default via "fd00:244:$p::1"
}

# topo_node_exit: the node's way out, where nothing listens: a service
# address nothing translates is routed there (so the nftables mode's
# forward hook can refuse it), and a removed one goes nowhere.
topo_node_exit() {
	ip -n "$(ns node)" link add up0 type veth peer name up0p
	ip -n "$(ns node)" link set up0 up
	ip -n "$(ns node)" link set up0p up
	ip -n "$(ns node)" route add default dev up0
	ip -n "$(ns node)" -6 route add default dev up0
}
