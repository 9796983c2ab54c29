#!/usr/bin/env bash
# skiff up's options, checks and second runs, on one 2-node cluster in BPF
# proxy mode (the default) plus a 1-node one on etcd:
#  - refusals before anything changes: not root (setpriv to nobody), the API
#    or etcd port taken, a data dir of another format, a kernel without
#    bpffs (a private mount namespace hides it in /proc/filesystems), no
#    containerd or etcd in PATH;
#  - --update-kubeconfig merges a context into $HOME/.kube/config, keeping
#    what is there; `skiff down` takes it out again;
#  - a second `skiff up` on the running cluster returns 0 and changes no
#    PID; one racing another `up` (holding DIR/up.lock) is refused; after
#    the supervisor is killed, `up` starts a new one that adopts the parts
#    (PIDs kept), and it restarts an adopted agent killed with -9;
#  - a LoadBalancer Service gets an EXTERNAL-IP from the bridge's pool that
#    curl from this machine reaches (the agents answer ARP for it), and
#    `skiff service` prints URLs (LoadBalancer, NodePort on both nodes)
#    that all answer;
#  - --store etcd: skiff starts etcd under DIR, the node turns Ready, and
#    down stops etcd with the rest.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/up_lib.sh"
UP_PREFIX=o up_require setpriv unshare python3 etcd

pids() { cat "$DATA"/run/*.pid | awk '{ print $1 }' | sort | tr '\n' ' '; }

# listen PORT: something listening on 127.0.0.1:PORT until the case ends.
listen() {
	python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$1" &
	defer "kill $!; wait $!"
	wait_for 10 eval "ss -Hltn 'sport = :$1' | grep -q ." || fail "no listener on $1"
}

case_refused_before_anything_changes() {
	local out
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN/skiff" up --data-dir "$DATA" 2>&1) &&
		fail "up as nobody ran: $out"
	assert_contains "$out" "needs root"
	[ ! -e "$DATA" ] || fail "up as nobody made $DATA"

	listen "$PORT"
	out=$(up 2>&1) && fail "up with port $PORT taken ran: $out"
	assert_contains "$out" "port $PORT (skiff-server's API) is taken"
	listen $(( PORT + 1 ))
	out=$(up --store etcd 2>&1) && fail "up with etcd's port taken ran: $out"
	assert_contains "$out" "port $(( PORT + 1 )) (etcd's clients) is taken"
	[ ! -e "$DATA" ] || fail "a refused up made $DATA"
	[ -z "$(ip -o link show | grep "$NAME")" ] || fail "a refused up made links"

	mkdir "$DATA"
	echo "skiff-data 99" >"$DATA/version"
	out=$(up --port $(( PORT + 3 )) 2>&1) && fail "up on a data dir of format 99 ran: $out"
	assert_contains "$out" "written by an incompatible skiff"
	assert_eq "$(ls "$DATA")" version "what the refused up left in the data dir"
	rm -r "$DATA"

	grep -vw bpf /proc/filesystems >"$TMP/filesystems"
	out=$(unshare -m sh -c 'mount --bind "$1" /proc/filesystems && shift && exec "$@"' sh \
		"$TMP/filesystems" "$BIN/skiff" up --data-dir "$DATA" --name "$NAME" \
		--bridge-net "$BRIDGE" --port $(( PORT + 3 )) --registry-port "$REGPORT" 2>&1) &&
		fail "up without bpffs ran: $out"
	assert_contains "$out" "the kernel has no bpffs"
	assert_contains "$out" "--proxy-mode nftables"
	[ ! -e "$DATA" ] || fail "up without bpffs made $DATA"

	out=$(PATH=/nonexistent up --port $(( PORT + 3 )) --store etcd 2>&1) && fail "up without containerd ran: $out"
	assert_contains "$out" "no containerd in PATH"
	assert_contains "$out" "no etcd in PATH, which --store etcd starts"
	[ ! -e "$DATA" ] || fail "up without containerd made $DATA"
}

lb_ip() { k get svc web -o 'jsonpath={.status.loadBalancer.ingress[0].ip}'; }
# answers URL: the web pods that answered 12 requests to URL, one a line.
answers() { for _ in $(seq 12); do curl -s -m 2 "$1"; done | grep -o 'hello web-[a-z0-9-]*' | sort -u; }

case_two_nodes_bpf() {
	local out before ip url old np i t0 sup home=$TMP/home
	defer "HOME='$home' '$BIN/skiff' down --data-dir '$DATA' --purge >/dev/null 2>&1"
	mkdir -p "$home/.kube"
	cat >"$home/.kube/config" <<-EOF
	apiVersion: v1
	kind: Config
	clusters: [{name: other, cluster: {server: "https://192.0.2.1:6443"}}]
	users: [{name: other, user: {token: "1234"}}]
	contexts: [{name: other, context: {cluster: other, user: other, namespace: "007"}}]
	current-context: other
	EOF
	HOME=$home up_case --nodes 2 --update-kubeconfig
	out=$UP_OUT
	assert_contains "$out" "every node Ready (proxy mode bpf)"
	assert_contains "$out" "context $NAME in $home/.kube/config"
	assert_eq "$(HOME=$home kc config current-context)" "$NAME"
	HOME=$home kc get nodes >/dev/null || fail "kubectl through the merged context: $(HOME=$home kc get nodes 2>&1)"
	assert_eq "$(HOME=$home kc config view -o 'jsonpath={.contexts[?(@.name=="other")].context.namespace}')" 007 \
		"the context that was there"

	# a second up: 0, nothing touched; one racing an up in progress: refused
	before=$(pids)
	out=$(up --nodes 2 2>&1) || fail "a second up on the running cluster failed: $out"
	assert_contains "$out" "runs (supervisor pid $(part_pid supervisor), 2 node(s)); starting only what is down"
	assert_eq "$(pids)" "$before" "PIDs after a second up"
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.lockf(f, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(60)' \
		"$DATA/up.lock" >"$TMP/locked" &
	defer "kill $!; wait $!"
	wait_for 10 grep -q locked "$TMP/locked" || fail "could not hold $DATA/up.lock"
	out=$(up --nodes 2 2>&1) && fail "an up racing another ran: $out"
	assert_contains "$out" "another skiff up (pid $!) is bringing up the cluster in $DATA"
	kill $!

	# a LoadBalancer Service: an address of the pool, reached from here
	web_yaml 2 LoadBalancer 8080 | k apply -f - >/dev/null || fail "kubectl apply failed"
	wait_for 60 ready_replicas_are web 2 || fail "web never had 2 Ready replicas: $(k get pods -o wide 2>&1)"
	wait_for 20 eval '[ "$(endpoints)" = 2 ]' || fail "web has $(endpoints) endpoints"
	wait_for 10 eval '[ -n "$(lb_ip)" ]' || fail "no EXTERNAL-IP: $(k get svc web 2>&1)"
	ip=$(lb_ip)
	[[ $ip =~ ^$BRIDGE\.(19[2-9]|2[0-5][0-9])$ ]] || fail "EXTERNAL-IP $ip is not in $BRIDGE.192/26"
	wait_for 10 curl -sf -m 2 "http://$ip:8080/" || fail "curl http://$ip:8080/ from the machine failed"
	assert_eq "$(answers "http://$ip:8080/" | wc -l)" 2 "web pods that answered at $ip"
	out=$("$BIN/skiff" service web --data-dir "$DATA") || fail "skiff service web: $out"
	np=$(k get svc web -o 'jsonpath={.spec.ports[0].nodePort}')
	assert_eq "$(echo "$out" | tr '\n' ' ')" "http://$ip:8080 http://$BRIDGE.1:$np http://$BRIDGE.3:$np " \
		"skiff service web: the LoadBalancer IP, then NodePort on each node"
	for url in $out; do
		[ -n "$(answers "$url")" ] || fail "$url (from skiff service) does not answer"
	done
	out=$("$BIN/skiff" service kubernetes --data-dir "$DATA" 2>&1) && fail "a ClusterIP Service has URLs: $out"
	assert_contains "$out" "no port reachable from this machine"

	# an agent crashing again and again waits longer each time (1, 2, 4,
	# 8 s); a second up starts it at once
	for i in 1 2 3 4; do
		old=$(part_pid n1-agent)
		kill -9 "$old"
		[ "$i" = 4 ] || wait_for 10 eval '[ "$(part_pid n1-agent)" != "'"$old"'" ]' ||
			fail "n1-agent not restarted after kill $i: $(tail -3 "$DATA/logs/supervisor.log")"
	done
	wait_for 5 grep -q "n1-agent (pid $old) exited (status 0x9); restart in 8 s" "$DATA/logs/supervisor.log" ||
		fail "no 8 s backoff: $(tail -3 "$DATA/logs/supervisor.log")"
	t0=$(date +%s%N)
	out=$(up --nodes 2 2>&1) || fail "up with an agent in its backoff: $out"
	(( $(date +%s%N) - t0 < 6000000000 )) || fail "up waited for the backoff ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
	[ "$(part_pid n1-agent)" != "$old" ] && kill -0 "$(part_pid n1-agent)" ||
		fail "up returned with n1-agent down: $("$BIN/skiff" status --data-dir "$DATA")"

	# the supervisor killed: up adopts the parts that run, then restarts one
	sup=$(part_pid supervisor)
	kill -9 "$sup"
	# (its lock goes with it: up must not find it held by a dying process)
	wait_for 50 eval '! kill -0 "$sup" 2>/dev/null' || fail "the supervisor did not die"
	before=$(pids | sed "s/\b$sup\b //")
	out=$(up --nodes 2 2>&1) || fail "up after the supervisor was killed: $out"
	assert_contains "$out" "adopting the parts that run"
	assert_eq "$(pids | sed "s/\b$(part_pid supervisor)\b //")" "$before" "the parts' PIDs after a new supervisor"
	old=$(part_pid n2-agent)
	kill -9 "$old"
	wait_for 15 eval '[ "$(part_pid n2-agent)" != "'"$old"'" ] && kill -0 "$(part_pid n2-agent)"' ||
		fail "the adopted agent was not restarted: $(tail -3 "$DATA/logs/supervisor.log")"
	wait_for 20 node_ready n2 || fail "n2 not Ready after its agent's restart"
	[ -n "$(answers "http://$ip:8080/")" ] || fail "the LoadBalancer IP stopped answering"

	out=$(HOME=$home down --purge 2>&1) || fail "skiff down: $out"
	assert_eq "$(HOME=$home kc config get-contexts -o name | tr '\n' ' ')" "other " "contexts after down"
	assert_eq "$(HOME=$home kc config current-context 2>&1)" "error: current-context is not set"
	out=$(up_leftovers)
	[ -z "$out" ] || fail "skiff down left: $out"
}

case_etcd_store() {
	local out
	up_case --store etcd
	assert_contains "$UP_OUT" "(store etcd)"
	node_ready n1 || fail "n1 not Ready on etcd: $(k get nodes 2>&1)"
	out=$("$BIN/skiff" status --data-dir "$DATA") || fail "skiff status: $out"
	[[ $out =~ etcd\ +$(part_pid etcd)\  ]] || fail "status shows no etcd: $out"
	ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$(( PORT + 1 ))" get --prefix --keys-only /skiff |
		grep -q nodes || fail "no node in etcd"
	out=$(down --purge 2>&1) || fail "skiff down: $out"
	out=$(up_leftovers)
	[ -z "$out" ] || fail "skiff down left: $out"
}

run_case refused_before_anything_changes
run_case two_nodes_bpf
run_case etcd_store
finish
