#!/usr/bin/env bash
# skiff-server over its two store backends, end to end through the API
# (plain HTTP on the loopback of a namespace of the test's own, curl + jq):
#   snapshot_sqlite  - `skiff-server snapshot save` while serving, objects
#                      changed and deleted, `snapshot restore` refused while
#                      the server runs; server stopped, `snapshot
#                      restore`, restarted: the objects and allocations are
#                      back as saved, resource versions keep growing and a
#                      watch from before the restore gets 410 Gone
#   snapshot_etcd    - the same on etcd
#   two_servers_one_etcd - two servers on one etcd: a write through one is
#                      seen by get and by a running watch through the
#                      other; services created through both at once never
#                      share a ClusterIP or NodePort, and the range fills
#                      to exactly its size
#   etcd_member_loss - a server on a 3-member etcd keeps serving creates,
#                      lists, patches and a running watch when the leader
#                      member is killed
. "$(dirname "$0")/../harness/lib.sh"

require_root
require_bin skiff-server
require_cmd curl jq ip

ETCD_URL=etcd://127.0.0.1:2379

# start_etcd NS: a one-member etcd on the namespace's loopback.
start_etcd() {
	local pid
	mkdir -p "$TMP/etcd"
	bg_ns "$1" pid etcd --name e1 --data-dir "$TMP/etcd/data" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster e1=http://127.0.0.1:2380 --initial-cluster-state new \
		--initial-cluster-token "skiff-$RUN_ID" >"$TMP/etcd/log" 2>&1
	wait_for 20 in_ns "$1" etcdctl --endpoints=127.0.0.1:2379 endpoint health ||
		fail "etcd did not start: $(tail -n 5 "$TMP/etcd/log")"
}

# start_server NS NAME PORT [ARGS...]: skiff-server on 127.0.0.1:PORT of
# NS with data dir $TMP/NAME; its PID is written to $TMP/NAME.pid.
start_server() {
	local n=$1 name=$2 port=$3 pid; shift 3
	ip netns exec "$(ns "$n")" "$BIN/skiff-server" --data-dir "$TMP/$name" --secure-port 0 \
		--insecure-port "$port" --service-cluster-ip-range 10.99.0.0/28 \
		--service-node-port-range 30000-30015 --log-level warn "$@" >>"$TMP/$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$TMP/$name.pid"
	defer "kill_tree $pid"
	wait_for 20 in_ns "$n" curl -sf "http://127.0.0.1:$port/readyz" ||
		fail "skiff-server $name did not start: $(tail -n 3 "$TMP/$name.log")"
}
stop_server() { # NAME
	local pid
	pid=$(cat "$TMP/$1.pid")
	kill "$pid"
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	fail "skiff-server $1 did not stop"
}

# api NS PORT METHOD PATH [BODY [CONTENT-TYPE]]: the body, then the HTTP
# code on the last line.
api() {
	local n=$1 port=$2 m=$3 p=$4 body=${5:-} ct=${6:-application/json}
	if [ -n "$body" ]; then
		in_ns "$n" curl -s -X "$m" -H "Content-Type: $ct" --data-binary "$body" \
			-w '\n%{http_code}' "http://127.0.0.1:$port$p"
	else
		in_ns "$n" curl -s -X "$m" -w '\n%{http_code}' "http://127.0.0.1:$port$p"
	fi
}
code() { tail -n 1 <<<"$1"; }
jqr() { sed '$d' <<<"$1" | jq -r "$2"; }

cm() { # NAME VALUE
	echo "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"$1\"},\"data\":{\"v\":\"$2\"}}"
}
svc() { # NAME
	echo "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"type\":\"NodePort\",\"selector\":{\"app\":\"$1\"},\"ports\":[{\"port\":80}]}}"
}

# snapshot_case NS STORE-ARGS...: the snapshot round trip on one store.
snapshot_case() {
	local n=$1 p=18001 r rv_saved rv_changed ip port new_rv; shift
	local CMS=/api/v1/namespaces/snap/configmaps SVCS=/api/v1/namespaces/snap/services
	start_server "$n" s "$p" "$@"
	r=$(api "$n" $p POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"snap"}}')
	assert_eq "$(code "$r")" 201 "namespace: $r"
	for c in keep change drop; do
		assert_eq "$(code "$(api "$n" $p POST $CMS "$(cm "$c" before)")")" 201 "configmap $c"
	done
	r=$(api "$n" $p POST $SVCS "$(svc web)")
	assert_eq "$(code "$r")" 201 "service: $r"
	ip=$(jqr "$r" .spec.clusterIP); port=$(jqr "$r" '.spec.ports[0].nodePort')
	rv_saved=$(jqr "$(api "$n" $p GET $CMS)" .metadata.resourceVersion)

	# Saved while serving.
	in_ns "$n" "$BIN/skiff-server" --data-dir "$TMP/s" "$@" snapshot save "$TMP/backup.snap" \
		>"$TMP/save.out" 2>&1 || fail "snapshot save: $(cat "$TMP/save.out")"
	assert_contains "$(cat "$TMP/save.out")" "saved"

	r=$(api "$n" $p PATCH $CMS/change '{"data":{"v":"after"}}' application/merge-patch+json)
	assert_eq "$(jqr "$r" .data.v)" after
	assert_eq "$(code "$(api "$n" $p DELETE $CMS/drop)")" 200
	assert_eq "$(code "$(api "$n" $p POST $CMS "$(cm new after)")")" 201
	assert_eq "$(code "$(api "$n" $p DELETE $SVCS/web)")" 200
	rv_changed=$(jqr "$(api "$n" $p GET $CMS)" .metadata.resourceVersion)
	[ "$rv_changed" -gt "$rv_saved" ] || fail "resourceVersion did not grow: $rv_saved -> $rv_changed"
	if [ $# -eq 0 ]; then
		# SQLite: a restore under a running server is refused.
		in_ns "$n" "$BIN/skiff-server" --data-dir "$TMP/s" snapshot restore "$TMP/backup.snap" \
			>"$TMP/busy.out" 2>&1 && fail "restore under a running server succeeded"
		assert_contains "$(cat "$TMP/busy.out")" "a server is using the store; stop it first"
		assert_eq "$(jqr "$(api "$n" $p GET $CMS/new)" .data.v)" after "the refused restore changed nothing"
	fi
	stop_server s

	assert_fails in_ns "$n" "$BIN/skiff-server" --data-dir "$TMP/s" "$@" snapshot restore "$TMP/nope.snap"
	echo garbage >"$TMP/garbage.snap"
	in_ns "$n" "$BIN/skiff-server" --data-dir "$TMP/s" "$@" snapshot restore "$TMP/garbage.snap" \
		>"$TMP/bad.out" 2>&1 && fail "restore of a file that is no snapshot succeeded"
	assert_contains "$(cat "$TMP/bad.out")" "not a skiff snapshot"
	in_ns "$n" "$BIN/skiff-server" --data-dir "$TMP/s" "$@" snapshot restore "$TMP/backup.snap" \
		>"$TMP/restore.out" 2>&1 || fail "snapshot restore: $(cat "$TMP/restore.out")"
	assert_contains "$(cat "$TMP/restore.out")" "previous content"
	ls "$TMP"/s/pre-restore-*.snap >/dev/null 2>&1 || fail "no pre-restore backup in $(ls "$TMP/s")"
	start_server "$n" s "$p" "$@"

	r=$(api "$n" $p GET $CMS)
	assert_eq "$(jqr "$r" '[.items[] | .metadata.name + "=" + .data.v] | join(" ")')" \
		"change=before drop=before keep=before" "configmaps after the restore"
	r=$(api "$n" $p GET $SVCS/web)
	assert_eq "$(code "$r")" 200 "the service is back"
	assert_eq "$(jqr "$r" '.spec.clusterIP + " " + (.spec.ports[0].nodePort|tostring)')" "$ip $port"
	# Its allocations came back with it.
	r=$(api "$n" $p POST $SVCS "$(svc other | jq -c ".spec.ports[0].nodePort = $port")")
	assert_eq "$(code "$r")" 422 "NodePort $port is taken again: $r"
	r=$(api "$n" $p POST $SVCS "$(svc third | jq -c ".spec.clusterIP = \"$ip\"")")
	assert_eq "$(code "$r")" 422 "ClusterIP $ip is taken again: $r"
	# Resource versions never go back.
	r=$(api "$n" $p POST $CMS "$(cm later x)")
	new_rv=$(jqr "$r" .metadata.resourceVersion)
	[ "$new_rv" -gt "$rv_changed" ] || fail "resourceVersion went back: $rv_changed, then $new_rv"
	r=$(api "$n" $p GET "$CMS?resourceVersion=$rv_saved&watch=true&timeoutSeconds=2")
	assert_eq "$(jqr "$r" '.type + " " + (.object.code|tostring)')" "ERROR 410" "watch from before the restore"
	# Also from the newest RV a client had before it: the restored objects
	# are not served to it as news (the revision moved past it, compacted).
	r=$(api "$n" $p GET "$CMS?resourceVersion=$rv_changed&watch=true&timeoutSeconds=2")
	assert_eq "$(jqr "$r" '.type + " " + (.object.code|tostring)')" "ERROR 410" "watch from the last RV before the restore"
	r=$(api "$n" $p PATCH $CMS/keep '{"data":{"v":"x"}}' application/merge-patch+json)
	assert_eq "$(code "$r")" 200
}

case_snapshot_sqlite() {
	setup_ns q
	snapshot_case q
}

case_snapshot_etcd() {
	require_cmd etcd etcdctl
	setup_ns e
	start_etcd e
	snapshot_case e --store "$ETCD_URL/snap-$RUN_ID"
}

case_two_servers_one_etcd() {
	local a=18001 b=18002 r rv wp i ips ports ok pa pb ra rb s
	local CMS=/api/v1/namespaces/default/configmaps SVCS=/api/v1/namespaces/default/services
	setup_ns t
	start_etcd t
	# Started at once: both make the default namespaces and services.
	start_server t a $a --store "$ETCD_URL/two-$RUN_ID" &
	pa=$!
	start_server t b $b --store "$ETCD_URL/two-$RUN_ID" &
	pb=$!
	wait "$pa"; ra=$?
	wait "$pb"; rb=$?
	for s in a b; do [ -s "$TMP/$s.pid" ] && defer "kill_tree $(cat "$TMP/$s.pid")"; done
	[ "$ra" -eq 0 ] || fail "server a: $(tail -n 3 "$TMP/a.log")"
	[ "$rb" -eq 0 ] || fail "server b: $(tail -n 3 "$TMP/b.log")"

	rv=$(jqr "$(api t $b GET $CMS)" .metadata.resourceVersion)
	in_ns t curl -sN "http://127.0.0.1:$b$CMS?watch=true&resourceVersion=$rv&timeoutSeconds=5" >"$TMP/watch" &
	wp=$!
	sleep 0.5
	r=$(api t $a POST $CMS "$(cm via-a 1)")
	assert_eq "$(code "$r")" 201
	r=$(api t $b GET $CMS/via-a)
	assert_eq "$(jqr "$r" .data.v)" 1 "written through a, read through b"
	r=$(api t $b PATCH $CMS/via-a '{"data":{"v":"2"}}' application/merge-patch+json)
	assert_eq "$(jqr "$(api t $a GET $CMS/via-a)" .data.v)" 2 "written through b, read through a"
	wait "$wp"
	assert_eq "$(jq -r '.type + ":" + .object.metadata.name' "$TMP/watch" | tr '\n' ' ')" \
		"ADDED:via-a MODIFIED:via-a " "b's watch of writes through a and b"

	local pids=
	# 16 services, 8 through each server at once, for 12 free addresses
	# (of 14: kubernetes has .1, kube-system/kube-dns .10).
	for i in $(seq 1 16); do
		if [ $((i % 2)) -eq 0 ]; then s=$a; else s=$b; fi
		api t $s POST $SVCS "$(svc "s$i")" >"$TMP/svc$i" &
		pids+=" $!"
	done
	for i in $pids; do wait "$i"; done
	ok=0
	for i in $(seq 1 16); do
		case "$(code "$(cat "$TMP/svc$i")")" in
		201) ok=$((ok + 1)) ;;
		*) assert_contains "$(cat "$TMP/svc$i")" "range is full" "s$i" ;;
		esac
	done
	assert_eq "$ok" 12 "services created in a range of 12 free addresses"
	r=$(api t $a GET $SVCS)
	ips=$(jqr "$r" '[.items[] | select(.metadata.name != "kubernetes") | .spec.clusterIP] | length')
	assert_eq "$ips" 12
	assert_eq "$(jqr "$r" '[.items[] | select(.metadata.name != "kubernetes") | .spec.clusterIP] | unique | length')" 12 \
		"distinct ClusterIPs"
	ports=$(jqr "$r" '[.items[] | select(.metadata.name != "kubernetes") | .spec.ports[0].nodePort] | unique | length')
	assert_eq "$ports" 12 "distinct NodePorts"
	# Released through one server, allocatable through the other.
	r=$(api t $a DELETE "$SVCS/$(jqr "$(api t $a GET $SVCS)" '[.items[] | select(.metadata.name != "kubernetes")][0].metadata.name')")
	assert_eq "$(code "$r")" 200
	r=$(api t $b POST $SVCS "$(svc last)")
	assert_eq "$(code "$r")" 201 "after a release: $r"
}

case_etcd_member_loss() {
	local p=18001 c1 c2 c3 cluster eps lead lid i r rv wp
	local CMS=/api/v1/namespaces/default/configmaps
	require_cmd etcd etcdctl
	setup_ns m
	cluster="m1=http://127.0.0.1:2380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380"
	for i in 1 2 3; do
		local cp=$((i == 1 ? 2379 : i * 10000 + 2379)) pp=$((i == 1 ? 2380 : i * 10000 + 2380))
		mkdir -p "$TMP/m$i"
		bg_ns m "c$i" etcd --name "m$i" --data-dir "$TMP/m$i/data" \
			--listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
			--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
			--initial-cluster "$cluster" --initial-cluster-state new \
			--initial-cluster-token "skiff-$RUN_ID" --heartbeat-interval 50 --election-timeout 500 \
			>"$TMP/m$i/log" 2>&1
	done
	eps=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
	wait_for 30 in_ns m etcdctl --endpoints="$eps" endpoint health --cluster ||
		fail "etcd cluster did not form: $(tail -n 3 "$TMP/m1/log")"
	start_server m s $p --store "etcd://$eps/ha-$RUN_ID"
	for i in 1 2 3; do
		assert_eq "$(code "$(api m $p POST $CMS "$(cm "before$i" x)")")" 201
	done
	rv=$(jqr "$(api m $p GET $CMS)" .metadata.resourceVersion)
	in_ns m curl -sN "http://127.0.0.1:$p$CMS?watch=true&resourceVersion=$rv&timeoutSeconds=60" >"$TMP/watch" &
	wp=$!
	# Stop the leader: the server's connection and the election both go.
	lead=$(in_ns m etcdctl --endpoints="$eps" endpoint status | awk -F', ' '$5 == "true" { print $1 }')
	case "$lead" in
	127.0.0.1:2379) lid=$c1 ;; 127.0.0.1:22379) lid=$c2 ;; 127.0.0.1:32379) lid=$c3 ;;
	*) fail "no leader in: $(in_ns m etcdctl --endpoints="$eps" endpoint status 2>&1)" ;;
	esac
	kill -9 "$lid"
	wait "$lid" 2>/dev/null
	assert_fails in_ns m etcdctl --endpoints="$lead" --command-timeout=2s endpoint health
	for i in 1 2 3; do
		r=$(api m $p POST $CMS "$(cm "after$i" y)")
		assert_eq "$(code "$r")" 201 "create after losing the leader ($lead): $r"
	done
	r=$(api m $p GET $CMS)
	assert_eq "$(jqr "$r" '[.items[].metadata.name] | join(",")')" "after1,after2,after3,before1,before2,before3"
	r=$(api m $p PATCH $CMS/before1 '{"data":{"v":"z"}}' application/merge-patch+json)
	assert_eq "$(jqr "$r" .data.v)" z
	wait_for 30 grep -q '"before1"' "$TMP/watch" ||
		{ kill "$wp"; fail "the watch saw nothing after the loss: $(cat "$TMP/watch")"; }
	kill "$wp"; wait "$wp" 2>/dev/null
	assert_eq "$(jq -r '.type + ":" + .object.metadata.name' "$TMP/watch" | tr '\n' ' ')" \
		"ADDED:after1 ADDED:after2 ADDED:after3 MODIFIED:before1 " "a watch across the member loss"
}

run_case snapshot_sqlite
run_case snapshot_etcd
run_case two_servers_one_etcd
run_case etcd_member_loss
finish
