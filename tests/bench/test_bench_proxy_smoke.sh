#!/usr/bin/env bash
# Keeps the service proxy benchmark working (tests/bench/bench_proxy.sh):
# proxy-gen's kube-proxy replicas load into a fresh namespace with
# iptables-restore and nft -f and hold what was asked for, its manifests are
# what skiff-agent syncs, conn-bench measures against its own server and
# fails when nothing answers, and the bench's tables are well formed at tiny
# sizes. Never asserts on timings.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/bench.sh"

require_root
require_cmd ip awk iptables-restore iptables-save nft nsenter
require_bin proxy-gen conn-bench map-watch lb-tool skiff-agent
guard_ranges 10.250.0.0/16 10.96.0.0/16

GEN="$TESTBIN/proxy-gen"
CB="$TESTBIN/conn-bench"

# field N LINE: the Nth '|'-separated column of a table row, trimmed.
field() { awk -F'|' -v n="$1" '{ gsub(/^ +| +$/, "", $n); print $n }' <<<"$2"; }

case_replicas_load_and_hold_the_services() {
	local t="kp-$RUN_ID" out
	setup_ns ipt nft
	"$GEN" iptables --services 20 --endpoints 3 --out "$TMP/ipt" || fail "proxy-gen iptables"
	"$GEN" iptables --services 20 --endpoints 3 --add-one --out "$TMP/ipt1" || fail "proxy-gen iptables --add-one"
	assert_ok in_ns ipt iptables-restore "$TMP/ipt"
	out=$(in_ns ipt iptables-save -t nat)
	assert_eq "$(grep -c '^-A KUBE-SERVICES .* -j KUBE-SVC-' <<<"$out")" 20 "KUBE-SERVICES jumps"
	assert_eq "$(grep -c '^-A KUBE-SEP-.* -j DNAT --to-destination 10.128.0.[0-9]*:8080' <<<"$out")" 60 "DNAT rules"
	# 3 endpoints: probabilities 1/3, 1/2, then the last without statistic
	assert_contains "$out" "-m statistic --mode random --probability 0.33333333349"
	assert_contains "$out" "-m statistic --mode random --probability 0.50000000000"
	# kube-proxy's partial sync: KUBE-SERVICES rewritten, not doubled
	assert_ok in_ns ipt iptables-restore --noflush "$TMP/ipt1"
	out=$(in_ns ipt iptables-save -t nat)
	assert_eq "$(grep -c '^-A KUBE-SERVICES .* -j KUBE-SVC-' <<<"$out")" 21 "after adding one service"
	assert_contains "$out" "-d 10.96.0.21/32"

	"$GEN" nft --services 20 --endpoints 3 --table "$t" --out "$TMP/nft" || fail "proxy-gen nft"
	"$GEN" nft --services 20 --endpoints 3 --table "$t" --add-one --out "$TMP/nft1" || fail "proxy-gen nft --add-one"
	assert_ok in_ns nft nft -f "$TMP/nft"
	out=$(in_ns nft nft list map ip "$t" service-ips)
	assert_eq "$(grep -o ': goto service-' <<<"$out" | wc -l)" 20 "service-ips elements: $out"
	assert_contains "$(in_ns nft nft list chain ip "$t" service-"$(grep -o 'service-[A-Z0-9]*-bench/svc-0/' <<<"$out" | head -1 | cut -d- -f2)"-bench/svc-0/tcp/http)" \
		"numgen random mod 3 vmap"
	assert_ok in_ns nft nft -f "$TMP/nft1"
	out=$(in_ns nft nft list map ip "$t" service-ips)
	assert_eq "$(grep -o ': goto service-' <<<"$out" | wc -l)" 21 "after adding one service"
	# bad input names the option
	out=$("$GEN" nft --services x 2>&1) && fail "accepted --services x"
	assert_contains "$out" "--services: expected a number"
	out=$("$GEN" iptables --service-cidr 10.96.0.0/30 --services 20 2>&1) && fail "accepted a too small CIDR"
	assert_contains "$out" "--service-cidr"
}

# The replicas' rules really balance: a client namespace reaches a real
# server through the generated ClusterIP DNAT in a router namespace.
case_replicas_dnat_real_traffic() {
	local out
	setup_ns node client pod
	in_ns node sysctl -qw net.ipv4.ip_forward=1
	ip -n "$(ns node)" link add vc type veth peer name eth0 netns "$(ns client)"
	ip -n "$(ns node)" link add vp type veth peer name eth0 netns "$(ns pod)"
	ip -n "$(ns node)" addr add 10.250.0.1/24 dev vc
	ip -n "$(ns node)" addr add 10.250.1.1/24 dev vp
	ip -n "$(ns node)" link set vc up; ip -n "$(ns node)" link set vp up
	ip -n "$(ns client)" addr add 10.250.0.2/24 dev eth0; ip -n "$(ns client)" link set eth0 up
	ip -n "$(ns client)" route add default via 10.250.0.1
	ip -n "$(ns pod)" addr add 10.250.1.2/24 dev eth0; ip -n "$(ns pod)" link set eth0 up
	ip -n "$(ns pod)" route add default via 10.250.1.1
	bg_ns pod _pid "$CB" serve --port 8080 --threads 1
	wait_for 5 in_ns client "$CB" rate --duration 0.05 --workers 1 10.250.1.2:8080 || fail "server does not answer"
	# nothing loaded: the ClusterIP is not there
	out=$(in_ns client "$CB" rate --duration 0.2 --workers 1 --timeout-ms 200 10.96.0.6:80 2>&1) &&
		fail "ClusterIP answered without rules: $out"
	"$GEN" iptables --services 20 --endpoints 3 --real-service 5 --real-endpoints 10.250.1.2 \
		--out "$TMP/ipt" || fail "proxy-gen"
	assert_ok in_ns node iptables-restore "$TMP/ipt"
	out=$(in_ns client "$CB" rate --duration 0.3 --workers 2 10.96.0.6:80) || fail "through iptables: $out"
	assert_eq "$(kv errors "$out")" 0 "iptables replica: $out"
	printf '*nat\nCOMMIT\n*filter\nCOMMIT\n' | in_ns node iptables-restore
	"$GEN" nft --services 20 --endpoints 3 --real-service 5 --real-endpoints 10.250.1.2 \
		--table "kp-$RUN_ID" --out "$TMP/nft" || fail "proxy-gen"
	assert_ok in_ns node nft -f "$TMP/nft"
	out=$(in_ns client "$CB" rate --duration 0.3 --workers 2 10.96.0.6:80) || fail "through nft: $out"
	assert_eq "$(kv errors "$out")" 0 "nft replica: $out"
}

case_manifests_are_what_the_agent_syncs() {
	local cg2 cg b out
	"$GEN" manifests --services 20 --endpoints 3 --out "$TMP/m" || fail "proxy-gen manifests"
	assert_eq "$(ls "$TMP/m" | wc -l)" 20 "one file per service"
	"$GEN" manifests --services 20 --endpoints 3 --only 4 --change --out "$TMP/c" || fail "--change"
	assert_eq "$(ls "$TMP/c")" "svc-00004.json"
	assert_ne "$(cat "$TMP/c/svc-00004.json")" "$(cat "$TMP/m/svc-00004.json")" "the change changes"
	cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$cg2" ] || skip_case "no cgroup v2 mount"
	cg="$cg2/skiff-smoke-$RUN_ID" b="/sys/fs/bpf/skiff-smoke-$RUN_ID"
	mkdir "$cg" || fail "cannot create $cg"
	defer "rmdir '$cg'"
	defer "'$TESTBIN/lb-tool' --bpffs '$b' --cgroup '$cg' destroy; rm -rf '$b'"
	setup_ns node
	out=$(nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" --manifests "$TMP/m" --bpffs "$b" \
		--cgroup "$cg" --node-name n1 --once 2>&1) || fail "skiff-agent --once: $out"
	assert_contains "$out" "initial sync: 20 services, 20 endpoint slices, 20 frontends"
	assert_contains "$out" "service bench/svc-19: 3 backends (3 ready), 1 frontend"
	# map-watch sees the entry; an absent one is an error
	out=$("$TESTBIN/map-watch" --map "$b/lb_frontends" --frontend 10.96.0.99:80 --timeout-ms 50 2>&1) &&
		fail "map-watch accepted an absent frontend"
	assert_contains "$out" "not in the map"
}

case_conn_bench_against_its_server() {
	local out
	setup_ns c
	bg_ns c _pid "$CB" serve --port 8080 --threads 1
	wait_for 5 in_ns c "$CB" rate --duration 0.05 --workers 1 127.0.0.1:8080 || fail "server does not answer"
	out=$(in_ns c "$CB" rate --duration 0.3 --workers 2 127.0.0.1:8080 '[::1]:8080') || fail "rate: $out"
	assert_eq "$(kv errors "$out")" 0 "$out"
	[ "$(kv conns "$out")" -gt 0 ] || fail "no connections: $out"
	[[ $(kv per_sec "$out") =~ ^[0-9]+\.[0-9]$ ]] || fail "per_sec: $out"
	out=$(in_ns c "$CB" latency --duration 0.3 --warmup 5 127.0.0.1:8080) || fail "latency: $out"
	[ "$(kv requests "$out")" -gt 0 ] && [ "$(kv p50_us "$out")" -le "$(kv p99_us "$out")" ] ||
		fail "latency line: $out"
	# nothing listening: failures, exit 1
	out=$(in_ns c "$CB" rate --duration 0.1 --workers 1 127.0.0.1:8099 2>&1) && fail "rate to a closed port: $out"
	assert_contains "$out" "Connection refused"
	# --random reaches every target: the open one and the closed one
	out=$(in_ns c "$CB" rate --duration 0.2 --workers 1 --random 127.0.0.1:8080 127.0.0.1:8099 2>&1) &&
		fail "rate, half to a closed port: $out"
	assert_contains "$out" "Connection refused"
	[ "$(kv conns "$(tail -1 <<<"$out")")" -gt 0 ] || fail "--random: none to the open port: $out"
	out=$("$CB" rate 10.0.0.1 2>&1); assert_eq "$?" 2 "bad target exit"
	assert_contains "$out" "TARGET: expected ADDR:PORT"
}

case_bench_tables_well_formed() {
	local out rc row n label labels col base r
	out=$(BENCH_SIZES="20 40" BENCH_ENDPOINTS=3 BENCH_CHANGES=2 BENCH_DURATION=0.8 BENCH_SLICES=2 BENCH_ROUNDS=1 \
		BENCH_WORKERS=2 bash "$SKIFF_ROOT/tests/bench/bench_proxy.sh" 2>&1)
	rc=$?
	assert_eq "$rc" 0 "bench_proxy.sh exit status; output: $out"
	row=$(grep '^proxy ' <<<"$out")
	assert_eq "$(awk -F'|' '{ print NF }' <<<"$row")" 5 "programming header: $row"
	for n in 20 40; do
		labels=("kube-proxy iptables replica" "kube-proxy nftables replica")
		command -v iptables-legacy-restore >/dev/null && labels+=("kube-proxy iptables replica (legacy)")
		for label in "${labels[@]}"; do
			row=$(grep "^$label *| *$n " <<<"$out")
			assert_ne "$row" "" "no '$label' row for $n in: $out"
			[[ $(field 3 "$row") =~ ^[0-9]+\.[0-9]$ ]] || fail "full sync of '$row'"
			[[ $(field 5 "$row") =~ ^[0-9]+\.[0-9]$ ]] || fail "service add of '$row'"
		done
		row=$(grep "^skiff BPF (agent apply, logged) *| *$n " <<<"$out")
		for col in 3 4 5; do
			[[ $(field $col "$row") =~ ^[0-9]+\.[0-9]+$ ]] || fail "column $col of '$row'"
		done
		row=$(grep "^skiff BPF (end to end) *| *$n " <<<"$out")
		for col in 3 4 5; do
			[[ $(field $col "$row") =~ ^[0-9]+\.[0-9]+$ ]] || fail "column $col of '$row'"
		done
		row=$(grep "^$n *| " <<<"$out")
		[[ $(field 2 "$row") =~ ^[0-9]+\.[0-9]$ ]] || fail "memory row '$row'"
	done
	row=$(grep '^path ' <<<"$out")
	assert_eq "$(awk -F'|' '{ print NF }' <<<"$row")" 7 "data path header: $row"
	# Every ClusterIP row carried traffic and is divided by the direct row
	# through its own router: "skiff BPF" by "direct", a replica by the pod
	# IPs through its router.
	labels=("skiff BPF|direct" "iptables rep.|iptables router" "nftables rep.|nftables router")
	command -v iptables-legacy-restore >/dev/null && labels+=("legacy ipt rep.|legacy router")
	for label in "${labels[@]}"; do
		base=$(grep "^client -> pod IPs (${label#*|})" <<<"$out")
		row=$(grep "^client -> ClusterIP (${label%|*})" <<<"$out")
		assert_ne "$row" "" "no '${label%|*}' row in: $out"
		assert_eq "$(field 5 "$base")" base "baseline row of '${label%|*}': $out"
		for r in "$base" "$row"; do
			[[ $(field 2 "$r") =~ ^[0-9]+\.[0-9]$ ]] || fail "rate of '$r'"
			awk -v v="$(field 2 "$r")" 'BEGIN { exit !(v > 0) }' || fail "no traffic: '$r'"
			[[ $(field 6 "$r") =~ ^[0-9]+$ ]] || fail "latency of '$r'"
		done
		assert_eq "$(field 5 "$row")" \
			"$(awk -v a="$(field 2 "$row")" -v b="$(field 2 "$base")" 'BEGIN { printf "%.2f", a / b }')" \
			"ratio of '$row' to '$base'"
	done
	assert_contains "$out" "goal: ClusterIP (skiff BPF) conn/s / direct = "
}

run_case replicas_load_and_hold_the_services
run_case replicas_dnat_real_traffic
run_case manifests_are_what_the_agent_syncs
run_case conn_bench_against_its_server
run_case bench_tables_well_formed
finish
