#!/usr/bin/env bash
# The store against real etcd, inside a network namespace of the test's own
# (so its loopback ports cannot collide with anything):
#   suite          - test_store's whole suite on a one-member etcd
#   member_loss    - a 3-member cluster keeps serving a store (writes, CAS,
#                    list and a running watch) when the member it talks to,
#                    made the leader first, is killed
#   snapshot_across_backends - a SQLite snapshot restored into etcd, and an
#                    etcd snapshot restored into SQLite, hold the same keys
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_cmd etcd ip
require_bin test_store store-tool

TOOL="$TESTBIN/store-tool"

# start_member NS NAME CLIENT_PORT PEER_PORT CLUSTER VAR: starts one etcd
# member in namespace NS; its PID goes to VAR (stopped at cleanup).
start_member() {
	local ns=$1 name=$2 cport=$3 pport=$4 cluster=$5 var=$6
	mkdir -p "$TMP/$name"
	bg_ns "$ns" "$var" etcd --name "$name" --data-dir "$TMP/$name/data" \
		--listen-client-urls "http://127.0.0.1:$cport" \
		--advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "skiff-$RUN_ID" \
		--heartbeat-interval 50 --election-timeout 500 \
		>"$TMP/$name/log" 2>&1
}

case_suite() {
	local pid out rc
	setup_ns e
	start_member e s1 2379 2380 "s1=http://127.0.0.1:2380" pid
	wait_for 15 in_ns e "$TOOL" --store etcd://127.0.0.1:2379 revision ||
		fail "etcd did not start: $(tail -n 5 "$TMP/s1/log")"
	out=$(in_ns e env SKIFF_TEST_ETCD_URL=etcd://127.0.0.1:2379 "$TESTBIN/test_store" etcd 2>&1)
	rc=$?
	# The suite's own PASS/FAIL lines count too.
	echo "$out" | grep -E '^(PASS|FAIL|SKIP) '
	assert_eq "$rc" 0 "test_store etcd: $(echo "$out" | grep '^FAIL' | head -n 3)"
	assert_not_contains "$out" "SKIP "
}

case_member_loss() {
	local p1 p2 p3 wpid url cluster i out rev events
	cluster="m1=http://127.0.0.1:2380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380"
	setup_ns c
	start_member c m1 2379 2380 "$cluster" p1
	start_member c m2 22379 22380 "$cluster" p2
	start_member c m3 32379 32380 "$cluster" p3
	url="etcd://127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379/ha"
	wait_for 20 in_ns c "$TOOL" --store "$url" create /ready 1 ||
		fail "cluster did not form: $(tail -n 5 "$TMP/m1/log")"
	# m1 leads, so losing it costs an election as well as the connection.
	local eps=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 m1id
	m1id=$(in_ns c etcdctl --endpoints="$eps" member list | awk -F', ' '$3 == "m1" { print $1 }')
	[ -n "$m1id" ] || fail "no member m1 in: $(in_ns c etcdctl --endpoints="$eps" member list 2>&1)"
	# On a busy machine an election may be under way: move the lead to m1
	# until it holds.
	m1_leads() {
		[ "$(in_ns c etcdctl --endpoints=127.0.0.1:2379 endpoint status | awk -F', ' '{ print $5 }')" = true ]
	}
	lead_to_m1() {
		m1_leads || in_ns c etcdctl --endpoints="$eps" move-leader "$m1id" >/dev/null 2>"$TMP/err"
		m1_leads
	}
	: >"$TMP/err"
	wait_for 30 lead_to_m1 || fail "m1 never became the leader: $(cat "$TMP/err")"

	# A watcher from the start, connected (like every client) to m1 first.
	ip netns exec "$(ns c)" "$TOOL" --store "$url" watch /ha/ 0 20 >"$TMP/watch.out" 2>"$TMP/watch.err" &
	wpid=$!
	defer kill_tree "$wpid"
	for i in $(seq 1 10); do
		assert_ok in_ns c "$TOOL" --store "$url" create "/ha/k$i" "before$i"
	done

	kill -9 "$p1"
	wait "$p1" 2>/dev/null

	for i in $(seq 11 20); do
		in_ns c "$TOOL" --store "$url" create "/ha/k$i" "after$i" >/dev/null 2>"$TMP/err" ||
			fail "create /ha/k$i after losing m1: $(cat "$TMP/err")"
	done
	out=$(in_ns c "$TOOL" --store "$url" count /ha/)
	assert_eq "$out" 20 "keys after losing a member"
	rev=$(in_ns c "$TOOL" --store "$url" update /ha/k1 changed 2>&1)
	assert_fails in_ns c "$TOOL" --store "$url" update /ha/k1 stale "$((rev - 1))"
	out=$(in_ns c "$TOOL" --store "$url" get /ha/k1 2>/dev/null)
	assert_eq "$out" changed "CAS after failover"

	# The watch moved to another member and missed nothing.
	for i in $(seq 1 100); do
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$wpid" 2>/dev/null && fail "watch still waiting: $(cat "$TMP/watch.out" | wc -l) events"
	wait "$wpid" || fail "watch failed: $(cat "$TMP/watch.err")"
	events=$(awk '{print $3}' "$TMP/watch.out" | tr '\n' ' ')
	assert_eq "$events" "$(for i in $(seq 1 20); do printf '/ha/k%s ' "$i"; done)" "watched keys"
	sort -n -k2 -c "$TMP/watch.out" || fail "watch revisions out of order"
}

case_snapshot_across_backends() {
	local pid e=etcd://127.0.0.1:2379 i a b
	setup_ns x
	start_member x x1 2379 2380 "x1=http://127.0.0.1:2380" pid
	wait_for 15 in_ns x "$TOOL" --store "$e" revision || fail "etcd did not start"
	for i in $(seq 1 30); do
		"$TOOL" --store "$TMP/a.db" create "/registry/k$i" "value $i" >/dev/null || fail "create k$i"
	done
	"$TOOL" --store "$TMP/a.db" delete /registry/k7 >/dev/null
	assert_ok "$TOOL" --store "$TMP/a.db" snapshot save "$TMP/a.snap"
	assert_ok in_ns x "$TOOL" --store "$e/from-sqlite" snapshot restore "$TMP/a.snap"
	a=$("$TOOL" --store "$TMP/a.db" list / | cut -f1,3)
	b=$(in_ns x "$TOOL" --store "$e/from-sqlite" list / | cut -f1,3)
	assert_eq "$(wc -l <<<"$a")" 29
	assert_eq "$b" "$a" "etcd restored from a SQLite snapshot"
	# A store that is not empty refuses a restore.
	assert_fails in_ns x "$TOOL" --store "$e/from-sqlite" snapshot restore "$TMP/a.snap"

	assert_ok in_ns x "$TOOL" --store "$e/from-sqlite" snapshot save "$TMP/b.snap"
	assert_ok "$TOOL" --store "$TMP/b.db" snapshot restore "$TMP/b.snap"
	b=$("$TOOL" --store "$TMP/b.db" list / | cut -f1,3)
	assert_eq "$b" "$a" "SQLite restored from an etcd snapshot"
	# ... and goes on past the snapshot's revision (bumped by 10^9, as
	# etcdutl --bump-revision: past anything handed out before), watchable
	# from there.
	assert_eq "$("$TOOL" --store "$TMP/b.db" revision)" \
		"$(( $(in_ns x "$TOOL" --store "$e/from-sqlite" revision) + 1000000000 ))"
	i=$("$TOOL" --store "$TMP/b.db" update /registry/k1 again)
	assert_eq "$("$TOOL" --store "$TMP/b.db" watch /registry/ "$((i - 1))" 1)" "PUT $i /registry/k1 again"
}

run_case suite
run_case member_loss
run_case snapshot_across_backends
finish
