#!/usr/bin/env bash
# skiff-agent's cluster DNS, end to end: the agent (in a node namespace,
# nftables proxy mode with its own table) loads Service and EndpointSlice
# manifests and serves cluster.local on 127.0.0.10:53 of that namespace;
# dig and busybox nslookup ask it every record kind of the Kubernetes DNS
# spec, over UDP and TCP, with and without EDNS0. Other names go to a
# dnsmasq the test runs on 127.0.0.2:5300 in the same namespace (stopped
# by PID for the SERVFAIL case). Traffic stays on the namespace's loopback.
. "$(dirname "$0")/../harness/lib.sh"
require_root
require_cmd ip dig nft socat od python3
require_bin skiff-agent

DNS=127.0.0.10
UP=127.0.0.2
M="$TMP/manifests"
ALOG="$TMP/agent.log"
TABLE="skiff-dns-$RUN_ID"
mkdir -p "$M"
setup_ns node

in_node() { nsenter --net="/run/netns/$(ns node)" "$@"; }
# q ARGS...: dig against the agent, short timeouts, no retries.
q() { in_node dig @"$DNS" +time=4 +tries=1 "$@"; }
short() { q +short "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
status_of() { q "$@" | awk '/status:/ { gsub(",", "", $6); print $6; exit }'; }

# ---- manifests ---------------------------------------------------------------

svc() { printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec: %s\n' "$@"; }
slice() {
	printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: %s, ' "$1"
	printf 'namespace: %s, labels: {kubernetes.io/service-name: %s}}\naddressType: %s\nports: %s\nendpoints: %s\n' \
		"$2" "$3" "$4" "$5" "$6"
}
{
	svc web default "{clusterIPs: [10.96.0.20, 'fd00:96::20'], ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}, {port: 81}]}"
	svc pg db "{clusterIP: None, ports: [{name: pg, port: 5432}, {name: repl, port: 5433}]}"
	slice pg-1 db pg IPv4 "[{name: pg, port: 5432}, {name: repl, port: 5433}]" \
		"[{addresses: [10.244.1.5], hostname: pg-0}, {addresses: [10.244.1.6], hostname: pg-1}, {addresses: [10.244.1.7], conditions: {ready: false}, hostname: pg-2}]"
	svc empty db "{clusterIP: None}"
	slice empty-1 db empty IPv4 "[]" "[{addresses: [10.244.1.9], conditions: {ready: false}}]"
	svc ext default "{type: ExternalName, externalName: www.example.test}"
	svc big default "{clusterIP: None}"
	eps=$(for i in $(seq 1 100); do printf '{addresses: [10.244.2.%d]}, ' "$i"; done)
	slice big-1 default big IPv4 "[]" "[${eps%, }]"
} >"$M/cluster.yaml"

# ---- the upstream and the agent ------------------------------------------------

# dnsmasq answers example.test names (TTL 60) and a TXT set too big for
# 1232 bytes of UDP, which it truncates: the agent must retry over TCP.
long=$(printf 'x%.0s' $(seq 1 200))
txts=()
for i in $(seq 1 10); do txts+=("--txt-record=long.example.test,$i$long"); done
start_upstream() {
	( exec nsenter --net="/run/netns/$(ns node)" dnsmasq --no-daemon --no-resolv --no-hosts \
		--bind-interfaces --listen-address=$UP --port=5300 --local-ttl=60 \
		--address=/example.test/192.0.2.7 "${txts[@]}" ) >"$TMP/dnsmasq.log" 2>&1 &
	UPSTREAM=$!
	defer "kill_tree $UPSTREAM"
	wait_for 10 in_node dig @$UP -p 5300 +time=1 +tries=1 www.example.test ||
		fail "dnsmasq did not start: $(cat "$TMP/dnsmasq.log")"
}
command -v dnsmasq >/dev/null || skip "needs dnsmasq (run scripts/deps.sh)"
start_upstream

( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" --manifests "$M" \
	--proxy-mode nftables --nft-table "$TABLE" --node-name node1 \
	--dns-listen $DNS:53 --dns-upstream $UP:5300 ) >"$ALOG" 2>&1 &
AGENT=$!
defer "in_node nft delete table inet '$TABLE'"
defer "kill_tree $AGENT"
wait_for 30 grep -q "cluster DNS: zone" "$ALOG" || fail "agent never served: $(tail -5 "$ALOG")"
wait_for 10 q web.default.svc.cluster.local || fail "no answer: $(tail -5 "$ALOG")"

# ---- cases -----------------------------------------------------------------------

case_cluster_ip_service_records() {
	assert_eq "$(short web.default.svc.cluster.local A)" "10.96.0.20"
	assert_eq "$(short web.default.svc.cluster.local AAAA)" "fd00:96::20"
	assert_eq "$(short _http._tcp.web.default.svc.cluster.local SRV)" "0 100 80 web.default.svc.cluster.local."
	assert_eq "$(short _dns._udp.web.default.svc.cluster.local SRV)" "0 100 53 web.default.svc.cluster.local."
	assert_eq "$(short -x 10.96.0.20)" "web.default.svc.cluster.local."
	assert_eq "$(short -x fd00:96::20)" "web.default.svc.cluster.local."
	# the SRV target's addresses ride along
	assert_contains "$(q _http._tcp.web.default.svc.cluster.local SRV)" "ADDITIONAL: 3"
	# names compare without case
	assert_eq "$(short WEB.Default.SVC.cluster.local A)" "10.96.0.20"
	assert_eq "$(q web.default.svc.cluster.local A | grep -c 'flags:.* aa')" 1
}

case_headless_service_records() {
	assert_eq "$(short pg.db.svc.cluster.local A)" "10.244.1.5 10.244.1.6"
	assert_eq "$(short pg-0.pg.db.svc.cluster.local A)" "10.244.1.5"
	# N x M SRV: 2 ready endpoints x 2 named ports (pg-2 is not ready)
	assert_eq "$(short _pg._tcp.pg.db.svc.cluster.local SRV)" \
		"0 50 5432 pg-0.pg.db.svc.cluster.local. 0 50 5432 pg-1.pg.db.svc.cluster.local."
	assert_eq "$(short _repl._tcp.pg.db.svc.cluster.local SRV | wc -w)" 8
	assert_eq "$(short -x 10.244.1.6)" "pg-1.pg.db.svc.cluster.local."
	assert_eq "$(status_of pg-2.pg.db.svc.cluster.local A)" NXDOMAIN
}

case_external_name_version_pod() {
	# the CNAME, then what the upstream says of its target
	assert_eq "$(short ext.default.svc.cluster.local CNAME)" "www.example.test."
	assert_eq "$(short ext.default.svc.cluster.local A)" "192.0.2.7 www.example.test."
	assert_eq "$(short dns-version.cluster.local TXT)" '"1.1.0"'
	assert_eq "$(short 10-244-3-4.default.pod.cluster.local A)" "10.244.3.4"
}

case_nxdomain_versus_nodata() {
	local out
	# headless without ready endpoints: NXDOMAIN, as the spec says
	out=$(q empty.db.svc.cluster.local A)
	assert_contains "$out" "status: NXDOMAIN"
	assert_contains "$out" "AUTHORITY: 1"
	assert_contains "$out" "cluster.local.		5	IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local."
	assert_eq "$(status_of nope.default.svc.cluster.local A)" NXDOMAIN
	# a name that exists without the type asked: NODATA with the SOA
	out=$(q pg.db.svc.cluster.local AAAA)
	assert_contains "$out" "status: NOERROR"
	assert_contains "$out" "ANSWER: 0, AUTHORITY: 1"
	# an empty non-terminal exists too
	assert_eq "$(status_of db.svc.cluster.local A)" NOERROR
}

case_udp_tcp_edns_truncation() {
	local out
	# 100 endpoints do not fit 512 bytes: TC, nothing but the question
	out=$(q +notcp +noedns +ignore big.default.svc.cluster.local A)
	assert_contains "$out" "flags: qr aa tc rd ra"
	assert_contains "$out" "ANSWER: 0"
	# EDNS0 with 4096 bytes: it fits, and the answer says EDNS0 too
	out=$(q +notcp +bufsize=4096 big.default.svc.cluster.local A)
	assert_contains "$out" "ANSWER: 100"
	assert_contains "$out" "EDNS: version: 0"
	# a 1232-byte buffer is honoured: truncated again
	assert_contains "$(q +notcp +bufsize=1232 +ignore big.default.svc.cluster.local A)" " tc "
	# dig retries a truncated answer over TCP by itself; and TCP straight
	assert_eq "$(short +noedns big.default.svc.cluster.local A | wc -w)" 100
	assert_eq "$(short +tcp web.default.svc.cluster.local A)" "10.96.0.20"
	assert_contains "$(q +tcp +keepopen web.default.svc.cluster.local A web.default.svc.cluster.local AAAA)" "fd00:96::20"
}

case_search_path_from_pod_resolv_conf() {
	command -v busybox >/dev/null || skip_case "needs busybox"
	local etc=/etc/netns/$(ns node)
	mkdir -p "$etc"
	defer "rm -rf '$etc'"
	printf 'nameserver %s\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n' \
		"$DNS" >"$etc/resolv.conf"
	# `ip netns exec` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf
	assert_contains "$(in_ns node busybox nslookup web 2>&1)" "10.96.0.20"
	assert_contains "$(in_ns node getent hosts web)" "web.default.svc.cluster.local"
	# (getent hosts: getaddrinfo's AI_ADDRCONFIG sees only loopback here)
	assert_contains "$(in_ns node getent hosts pg-0.pg.db)" "10.244.1.5"
	assert_contains "$(in_ns node getent hosts www.example.test)" "192.0.2.7"
}

case_forwarding_cache_and_tcp_retry() {
	assert_eq "$(short www.example.test A)" "192.0.2.7"
	# the upstream truncates 10 x 200-byte TXT over UDP; asked over TCP,
	# the agent retries upstream over TCP and returns all of them
	assert_eq "$(q +tcp +short long.example.test TXT | grep -c x)" 10
	# a second ask is a cache hit, its TTL counting down from 60
	local ttl
	ttl=$(q +noall +answer www.example.test A | awk '{ print $2 }')
	[ "$ttl" -le 60 ] && [ "$ttl" -gt 0 ] || fail "cached TTL $ttl not in (0, 60]"
}

case_stopped_upstream_servfail() {
	local t0 t1 out
	short cached.example.test A >/dev/null
	kill_tree "$UPSTREAM"
	# what is cached still answers
	assert_eq "$(short cached.example.test A)" "192.0.2.7"
	t0=$(date +%s%N)
	out=$(q +timeout=6 fresh.example.test A)
	t1=$(date +%s%N)
	assert_contains "$out" "status: SERVFAIL"
	[ $(( (t1 - t0) / 1000000 )) -lt 4000 ] || fail "SERVFAIL took $(( (t1 - t0) / 1000000 )) ms"
	# the cluster zone does not depend on the upstream
	assert_eq "$(short web.default.svc.cluster.local A)" "10.96.0.20"
}

# A burst of UDP queries from one client while the server is stopped:
# answered in one batch, the replies to one client address grouped into
# UDP_SEGMENT sends (dataplane/dns/dns_server.c: gso_group). A plain
# socket must still get one datagram per answer, each id once, the type
# asked; a socket that asks for UDP_GRO gets the groups whole (with their
# segment size), which shows the grouping happened.
case_udp_burst_grouped_and_split() {
	cat >"$TMP/burst.py" <<'PY'
import os, signal, socket, struct, sys
UDP_GRO = 104
def query(qid, qtype):
    name = b"".join(bytes([len(l)]) + l for l in b"web.default.svc.cluster.local".split(b".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", qtype, 1)
def check(reply, asked):
    qid, flags, qd, an = struct.unpack(">HHHH", reply[:8])
    qtype = struct.unpack(">H", reply[12 + 31:12 + 33])[0]
    assert flags & 0x800f == 0x8000 and qd == 1 and an == 1, (qid, hex(flags), qd, an)
    assert asked.pop(qid) == qtype, qid
plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
gro = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
gro.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
asked = {}
for s in (plain, gro):
    s.settimeout(10)
    for i in range(1, 21):
        qid = i + (100 if s is gro else 0)
        asked[qid] = 1 if i % 2 else 28  # A and AAAA: two reply sizes
        s.sendto(query(qid, asked[qid]), (sys.argv[1], 53))
os.kill(int(sys.argv[2]), signal.SIGCONT)
for i in range(20):
    check(plain.recv(4096), asked)
grouped = 0
while any(q > 100 for q in asked):
    data, anc, _, _ = gro.recvmsg(65535, 64)
    seg = next((struct.unpack("=H", d[:2])[0] for l, t, d in anc if l == socket.SOL_UDP and t == UDP_GRO),
               len(data))
    grouped += len(data) > seg
    for off in range(0, len(data), seg):
        check(data[off:off + seg], asked)
print("grouped", grouped)
PY
	kill -STOP "$AGENT"
	local out
	out=$(in_node python3 "$TMP/burst.py" "$DNS" "$AGENT" 2>&1)
	kill -CONT "$AGENT"
	assert_contains "$out" "grouped "
	[[ $out =~ grouped\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] ||
		fail "no reply group reached the UDP_GRO socket: $out"
	assert_eq "$(short web.default.svc.cluster.local A)" "10.96.0.20"
}

# raw BYTES (printf escapes): sends them over UDP, prints the reply in hex.
raw() { printf "$1" | in_node socat -t 2 - UDP:$DNS:53 | od -An -tx1 | tr -d ' \n'; }
case_malformed_queries() {
	local out
	# a header announcing one question, and no question: FORMERR (rcode 1), id kept
	out=$(raw '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00')
	assert_eq "${out:0:8}" "12348101"
	# a name whose compression pointer points at itself: FORMERR
	out=$(raw '\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01')
	assert_eq "${out:0:8}" "abcd8101"
	# three bytes, and a response: no answer at all
	assert_eq "$(raw '\x01\x02\x03')" ""
	assert_eq "$(raw '\x12\x34\x81\x80\x00\x00\x00\x00\x00\x00\x00\x00')" ""
	# the server lives on
	assert_eq "$(short web.default.svc.cluster.local A)" "10.96.0.20"
	kill -0 "$AGENT" || fail "the agent died"
}

zone_logs() { grep -c "cluster DNS: zone" "$ALOG"; }
logged_since() { [ "$(zone_logs)" -gt "$1" ]; }
answers() { [ "$(status_of "$1" A)" = "$2" ]; }
case_config_change_logged_and_served() {
	local before
	before=$(zone_logs)
	svc late default "{clusterIP: 10.96.0.77}" >"$TMP/late.yaml"
	mv "$TMP/late.yaml" "$M/late.yaml"
	wait_for 10 logged_since "$before" ||
		fail "no log line for the change"
	assert_eq "$(short late.default.svc.cluster.local A)" "10.96.0.77"
	rm "$M/late.yaml"
	wait_for 10 answers late.default.svc.cluster.local NXDOMAIN ||
		fail "deleted Service still answers"
}

agent_gone() { ! kill -0 "$AGENT" 2>/dev/null; }
case_counters_per_rcode() {
	kill -TERM "$AGENT"
	wait_for 10 grep -q "cluster DNS: stopped" "$ALOG" || fail "no counters at exit"
	wait_for 30 agent_gone || fail "the agent did not stop"
	# under SANITIZE=address,undefined: nothing reported, no leak at exit
	assert_not_contains "$(cat "$ALOG")" "Sanitizer"
	local line
	line=$(grep "cluster DNS: stopped" "$ALOG")
	for rc in NOERROR NXDOMAIN SERVFAIL FORMERR; do
		[[ "$line" =~ $rc\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] ||
			fail "counter $rc is not > 0: $line"
	done
}

run_case cluster_ip_service_records
run_case headless_service_records
run_case external_name_version_pod
run_case nxdomain_versus_nodata
run_case udp_tcp_edns_truncation
run_case udp_burst_grouped_and_split
run_case search_path_from_pod_resolv_conf
run_case forwarding_cache_and_tcp_retry
run_case stopped_upstream_servfail
run_case malformed_queries
run_case config_change_logged_and_served
run_case counters_per_rcode
finish
