#!/usr/bin/env bash
# skiff up / status / down: one command brings up a cluster (skiff-server,
# and per node a network namespace on a bridge, containerd and skiff-agent,
# under one supervisor); a Deployment of busybox httpd becomes Ready through
# the scheduler and the kubelet, its Service gets endpoints, a pod reaches it
# by its DNS name; a second up on the data dir is refused; kill -9 of the
# agent is undone by the supervisor; `skiff down --purge` leaves nothing.
. "$(dirname "$0")/../harness/lib.sh"
require_root
require_cmd containerd containerd-shim-runc-v2 runc ctr
require_bin skiff skiff-server skiff-agent skiff-cni skiff-ipam
require_kubectl
[ -f "$SKIFF_BUILD/images/busybox.tar" ] || skip "no local images (make images)"

NAME=u$RUN_ID
DATA=$TMP/cluster
BRIDGE=172.31.$(( 160 + (RANDOM % 80) ))
PORT=$(( 20000 + (RANDOM % 20000) ))
guard_ranges "$BRIDGE.0/24"

k() { "$KDIR/kubectl.1.33" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/kc" "$@"; }
up() { "$BIN/skiff" up --data-dir "$DATA" --name "$NAME" --bridge-net "$BRIDGE" --port "$PORT" "$@"; }
down() { "$BIN/skiff" down --data-dir "$DATA" "$@"; }
part_pid() { awk '{ print $1 }' "$DATA/run/$1.pid"; }
logs() { tail -n 5 "$DATA"/logs/*.log 2>&1; }

# leftovers: what of the cluster's the machine still holds
leftovers() {
	ip netns list | grep "$NAME"
	ip -o link show | grep "$NAME"
	grep "$DATA" /proc/self/mounts
	ps -eo pid=,args= | grep -F "$DATA" | grep -v grep
	find /sys/fs/cgroup -maxdepth 3 -name "$NAME" 2>/dev/null
	[ -e "$DATA" ] && echo "$DATA"
}

web_yaml() {
	cat <<-YAML
	apiVersion: apps/v1
	kind: Deployment
	metadata: {name: web}
	spec:
	  replicas: 2
	  selector: {matchLabels: {app: web}}
	  template:
	    metadata: {labels: {app: web}}
	    spec:
	      containers:
	      - name: web
	        image: skiff.local/busybox:1.35
	        command: [sh, -c, "mkdir -p /w && echo hello-\$(hostname) >/w/index.html && exec httpd -f -p 80 -h /w"]
	        readinessProbe: {tcpSocket: {port: 80}, periodSeconds: 1}
	---
	apiVersion: v1
	kind: Service
	metadata: {name: web}
	spec:
	  selector: {app: web}
	  ports: [{port: 80}]
	YAML
}

client_yaml() {
	cat <<-YAML
	apiVersion: v1
	kind: Pod
	metadata: {name: $1}
	spec:
	  restartPolicy: Never
	  containers:
	  - name: c
	    image: skiff.local/busybox:1.35
	    command: [sh, -c, "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 3 web 80 && exit 0; sleep 1; done; exit 1"]
	YAML
}

endpoints() { k get endpointslices -l kubernetes.io/service-name=web -o 'jsonpath={.items[*].endpoints[*].addresses[0]}' | wc -w; }
ready_replicas() { [ "$(k get deploy web -o 'jsonpath={.status.readyReplicas}')" = 2 ]; }
phase_is() { [ "$(k get pod "$1" -o 'jsonpath={.status.phase}')" = "$2" ]; }
node_ready() { [ "$(k get node n1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }

case_up_serves_heals_and_down_leaves_nothing() {
	local out t0 t1 old new
	defer "'$BIN/skiff' down --data-dir '$DATA' --purge >/dev/null 2>&1"
	t0=$(date +%s%N)
	out=$(up 2>&1) || fail "skiff up failed: $out
$(logs)"
	t1=$(date +%s%N)
	echo "skiff up (1 node): $(( (t1 - t0) / 1000000 )) ms" >&2
	assert_contains "$out" "kubectl --kubeconfig $DATA/kubeconfig get nodes"
	assert_contains "$out" "every node Ready"
	node_ready || fail "n1 not Ready after up: $(k get nodes 2>&1)"
	k get sa default >/dev/null || fail "no default ServiceAccount after up"

	# one supervisor per data dir
	out=$(up 2>&1) && fail "a second up on $DATA ran: $out"
	assert_contains "$out" "already runs on $DATA"

	out=$("$BIN/skiff" status --data-dir "$DATA") || fail "skiff status: $out"
	assert_contains "$out" "n1-agent"
	assert_contains "$out" "n1-containerd"
	assert_contains "$out" "server"
	assert_contains "$out" "n1=True"

	# a Deployment through the scheduler and the kubelet, its Service, DNS
	web_yaml | k apply -f - >/dev/null || fail "kubectl apply failed"
	wait_for 60 ready_replicas || fail "web never had 2 Ready replicas: $(k get pods -o wide 2>&1)
$(logs)"
	wait_for 20 eval '[ "$(endpoints)" = 2 ]' || fail "the Service web has $(endpoints) endpoints, not 2"
	client_yaml client | k apply -f - >/dev/null || fail "kubectl apply client failed"
	wait_for 40 phase_is client Succeeded || fail "client never reached web: $(k logs client 2>&1)"
	assert_contains "$(k logs client)" "hello-web-"

	# kill -9 of the agent: the supervisor starts it again
	old=$(part_pid n1-agent)
	kill -9 "$old"
	wait_for 15 eval '[ "$(part_pid n1-agent)" != "'"$old"'" ] && kill -0 "$(part_pid n1-agent)"' ||
		fail "the agent was not restarted: $(tail -3 "$DATA/logs/supervisor.log")"
	new=$(part_pid n1-agent)
	out=$("$BIN/skiff" status --data-dir "$DATA")
	[[ $out =~ n1-agent\ +$new\ +[0-9a-z]+\ +1 ]] || fail "status shows no restart: $out"
	client_yaml client2 | k apply -f - >/dev/null || fail "kubectl apply client2 failed"
	wait_for 40 phase_is client2 Succeeded || fail "after the agent's restart, client2 never reached web: $(k logs client2 2>&1)"

	out=$(down --purge 2>&1) || fail "skiff down: $out"
	out=$(leftovers)
	[ -z "$out" ] || fail "skiff down left: $out"
	# down on nothing is fine
	down --purge >/dev/null || fail "a second down failed"
}

run_case up_serves_heals_and_down_leaves_nothing
finish
