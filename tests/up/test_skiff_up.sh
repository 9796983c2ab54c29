#!/usr/bin/env bash
# skiff up / status / down: one command brings up a 2-node cluster (skiff-server,
# and per node a network namespace on a bridge, containerd and skiff-agent,
# under one supervisor); a Deployment of busybox httpd becomes Ready through
# the scheduler and the kubelet, its Service gets endpoints, a pod reaches it
# by its DNS name; a second up on the data dir starts nothing; kill -9 of the
# agent is undone by the supervisor; `skiff down --purge` leaves nothing,
# also after the supervisor itself was killed.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/up_lib.sh"
up_require

up() { "$BIN/skiff" up --data-dir "$DATA" --name "$NAME" --bridge-net "$BRIDGE" --port "$PORT" --registry-port "$REGPORT" "$@"; }
down() { "$BIN/skiff" down --data-dir "$DATA" "$@"; }
logs() { tail -n 5 "$DATA"/logs/*.log 2>&1; }

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

# client_yaml NAME NODE: a pod on NODE asking web by name 16 times.
client_yaml() {
	cat <<-YAML
	apiVersion: v1
	kind: Pod
	metadata: {name: $1}
	spec:
	  nodeName: $2
	  restartPolicy: Never
	  containers:
	  - name: c
	    image: skiff.local/busybox:1.35
	    command: [sh, -c, "ok=0; for i in \$(seq 16); do printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 3 web 80 | tail -n 1 | grep hello && ok=1; done; [ \$ok = 1 ]"]
	YAML
}

endpoints() { k get endpointslices -l kubernetes.io/service-name=web -o 'jsonpath={.items[*].endpoints[*].addresses[0]}' | wc -w; }
ready_replicas() { [ "$(k get deploy web -o 'jsonpath={.status.readyReplicas}')" = 2 ]; }
phase_is() { [ "$(k get pod "$1" -o 'jsonpath={.status.phase}')" = "$2" ]; }
node_ready() { [ "$(k get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
# backends_seen POD: how many web pods answered POD
backends_seen() { k logs "$1" | grep -o 'hello-web-[a-z0-9-]*' | sort -u | wc -l; }
# client NAME NODE: runs a client on NODE; fails unless it reached both web pods.
client() {
	client_yaml "$1" "$2" | k apply -f - >/dev/null || fail "kubectl apply $1 failed"
	wait_for 90 phase_is "$1" Succeeded || fail "$1 on $2 never reached web: $(k logs "$1" 2>&1 | tail -3)"
	assert_eq "$(backends_seen "$1")" 2 "web pods that answered $1 on $2: $(k logs "$1" | sort | uniq -c)"
}

case_up_serves_heals_and_down_leaves_nothing() {
	local out t0 t1 old new sup
	defer "'$BIN/skiff' down --data-dir '$DATA' --purge >/dev/null 2>&1"
	t0=$(date +%s%N)
	out=$(up --nodes 2 2>&1) || fail "skiff up failed: $out
$(logs)"
	t1=$(date +%s%N)
	echo "skiff up (2 nodes): $(( (t1 - t0) / 1000000 )) ms" >&2
	assert_contains "$out" "kubectl --kubeconfig $DATA/kubeconfig get nodes"
	assert_contains "$out" "every node Ready"
	node_ready n1 && node_ready n2 || fail "a node not Ready after up: $(k get nodes 2>&1)"
	k get sa default >/dev/null || fail "no default ServiceAccount after up"

	# one supervisor per data dir: a second up finds it and starts nothing
	sup=$(part_pid supervisor)
	out=$(up 2>&1) || fail "a second up on $DATA failed: $out"
	assert_contains "$out" "runs (supervisor pid $sup"
	assert_eq "$(part_pid supervisor)" "$sup" "the supervisor after a second up"

	out=$("$BIN/skiff" status --data-dir "$DATA") || fail "skiff status: $out"
	assert_contains "$out" "n1-agent"
	assert_contains "$out" "n1-containerd"
	assert_contains "$out" "server"
	assert_contains "$out" "n1=True n2=True"

	# a Deployment through the scheduler and the kubelet, its Service, DNS
	web_yaml | k apply -f - >/dev/null || fail "kubectl apply failed"
	wait_for 60 ready_replicas || fail "web never had 2 Ready replicas: $(k get pods -o wide 2>&1)
$(logs)"
	[ -n "$(find /sys/fs/cgroup -maxdepth 3 -name "$NAME.up")" ] || fail "no pod cgroup tree $NAME.up"
	wait_for 20 eval '[ "$(endpoints)" = 2 ]' || fail "the Service web has $(endpoints) endpoints, not 2"
	assert_eq "$(k get pods -l app=web -o 'jsonpath={.items[*].spec.nodeName}' | tr ' ' '\n' | sort -u | wc -l)" 2 \
		"nodes the scheduler spread web over: $(k get pods -o wide)"
	# from each node, by name, both pods answer: one across the bridge
	client c1 n1
	client c2 n2

	# kill -9 of the agent: the supervisor starts it again
	old=$(part_pid n2-agent)
	kill -9 "$old"
	wait_for 15 eval '[ "$(part_pid n2-agent)" != "'"$old"'" ] && kill -0 "$(part_pid n2-agent)"' ||
		fail "the agent was not restarted: $(tail -3 "$DATA/logs/supervisor.log")"
	new=$(part_pid n2-agent)
	out=$("$BIN/skiff" status --data-dir "$DATA")
	[[ $out =~ n2-agent\ +$new\ +[0-9a-z]+\ +1 ]] || fail "status shows no restart: $out"
	wait_for 20 node_ready n2 || fail "n2 not Ready after its agent's restart"
	client c3 n2

	out=$(down --purge 2>&1) || fail "skiff down: $out"
	out=$(up_leftovers)
	[ -z "$out" ] || fail "skiff down left: $out"
	# down on nothing is fine
	down --purge >/dev/null || fail "a second down failed"
}

# A supervisor killed with its parts still running (pods too): down
# finds them by the PIDs it recorded, and purges. In nftables proxy mode.
case_down_after_supervisor_killed() {
	local out sup
	defer "'$BIN/skiff' down --data-dir '$DATA' --purge >/dev/null 2>&1"
	out=$(up --proxy-mode nftables 2>&1) || fail "skiff up failed: $out
$(logs)"
	web_yaml | k apply -f - >/dev/null || fail "kubectl apply failed"
	wait_for 60 ready_replicas || fail "web never had 2 Ready replicas: $(k get pods -o wide 2>&1)"
	sup=$(part_pid supervisor)
	kill -9 "$sup"
	wait_for 5 eval '! kill -0 '"$sup" || fail "the supervisor outlived kill -9"
	out=$("$BIN/skiff" status --data-dir "$DATA") && fail "status says all is up without a supervisor: $out"
	[[ $out =~ supervisor\ +-\ +down ]] || fail "status does not show the supervisor down: $out"
	out=$(down --purge 2>&1) || fail "skiff down: $out"
	out=$(up_leftovers)
	[ -z "$out" ] || fail "skiff down left: $out"
}

run_case up_serves_heals_and_down_leaves_nothing
run_case down_after_supervisor_killed
finish
