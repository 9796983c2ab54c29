# What the end-to-end tests and the benchmark on `skiff up` share (sourced
# after tests/harness/lib.sh): clusters with a unique name, data dir,
# bridge and ports; kubectl on them; the walkthrough's web Deployment,
# whose every page reads "GREETING POD NODE"; clients that ask it.

# up_require [CMD...]: skips the file unless skiff up (and CMD...) can run
# here. NAME (${UP_PREFIX:-w}$RUN_ID), DATA, BRIDGE (a /24 no address or
# route of the machine's uses), PORT (free with the three after it: the
# API, etcd's clients and peers, node 1's kubelet) and REGPORT (the
# registry's) of the cluster.
up_require() {
	local b
	require_root
	require_cmd containerd containerd-shim-runc-v2 runc ctr curl nsenter jq "$@"
	require_bin skiff skiff-server skiff-agent skiff-cni skiff-ipam
	require_kubectl
	[ -f "$SKIFF_BUILD/images/busybox.tar" ] || skip "no local images (make images)"
	NAME=${UP_PREFIX:-w}$RUN_ID
	DATA=$TMP/cluster
	BRIDGE=
	for _ in $(seq 32); do
		b=172.31.$(( 160 + (RANDOM % 80) ))
		ip -o addr show | grep -qF " $b." || ip route show | grep -qF "$b." || { BRIDGE=$b; break; }
	done
	[ -n "$BRIDGE" ] || skip "no free 172.31.160-239.0/24 for the bridge"
	PORT=$(free_port 4)
	REGPORT=$(free_port)
	guard_ranges "$BRIDGE.0/24"
}

# up ARGS...: skiff up on the file's cluster (registry on REGPORT, never
# the default 5001 another cluster of the machine may hold); down ARGS...
up() {
	"$BIN/skiff" up --data-dir "$DATA" --name "$NAME" --bridge-net "$BRIDGE" --port "$PORT" \
		--registry-port "$REGPORT" "$@"
}
down() { "$BIN/skiff" down --data-dir "$DATA" "$@"; }
logs() { tail -n 5 "$DATA"/logs/*.log 2>&1; }

# up_case ARGS...: the case's cluster (down --purge when the case ends),
# up's output in UP_OUT; the case fails without it.
up_case() {
	defer "'$BIN/skiff' down --data-dir '$DATA' --purge >/dev/null 2>&1"
	UP_OUT=$(up "$@" 2>&1) || fail "skiff up $* failed: $UP_OUT
$(logs)"
}

# within SECONDS cmd...: retries cmd until it succeeds or SECONDS of time
# pass (wait_for counts tries, and a kubectl call takes a while here).
within() {
	local end=$(( SECONDS + $1 )); shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

kc() { "$KDIR/kubectl.1.33" --cache-dir "$TMP/kc" "$@"; }
k() { kc --kubeconfig "$DATA/kubeconfig" "$@"; }
part_pid() { awk '{ print $1 }' "$DATA/run/$1.pid"; }

# up_start NODES: the file's cluster; the file fails without it.
up_start() {
	local out t0=$SECONDS
	defer "'$BIN/skiff' down --data-dir '$DATA' --purge >/dev/null 2>&1"
	out=$(up --nodes "$1" 2>&1) || {
		echo "FAIL $TEST_FILE/up: skiff up --nodes $1 failed: $out"
		logs
		exit 1
	}
	echo "skiff up --nodes $1: $(( SECONDS - t0 )) s" >&2
}

# up_leftovers: what of the cluster the machine still holds.
up_leftovers() {
	ip netns list | grep "$NAME"
	ip -o link show | grep "$NAME"
	grep "$DATA" /proc/self/mounts
	ps -eo pid=,args= | grep -F "$DATA" | grep -v grep
	find /sys/fs/cgroup -maxdepth 3 -name "$NAME.up" 2>/dev/null
	ls -d "/sys/fs/bpf/$NAME-up" 2>/dev/null
	[ -e "$DATA" ] && echo "$DATA"
}

case_down_leaves_nothing() {
	local out
	out=$("$BIN/skiff" down --data-dir "$DATA" --purge 2>&1) || fail "skiff down: $out"
	out=$(up_leftovers)
	[ -z "$out" ] || fail "skiff down left: $out"
}
up_stop() { run_case down_leaves_nothing; }

# web_yaml REPLICAS [TYPE [PORT]]: busybox httpd answering "GREETING POD
# NODE", ready while /www/ready exists, behind the Service web (TYPE,
# default ClusterIP; PORT, default 80, to the pods' 80).
web_yaml() {
	workload_yaml Deployment web "$1" <<-'YAML'
	containers:
	- name: web
	  image: skiff.local/busybox:1.35
	  env:
	  - name: NODE_NAME
	    valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
	  command: [sh, -c, 'mkdir -p /www && echo "${GREETING:-hello} $(hostname) $NODE_NAME" >/www/index.html && : >/www/ready && exec httpd -f -vv -p 80 -h /www']
	  readinessProbe: {httpGet: {path: /ready, port: 80}, periodSeconds: 1, failureThreshold: 1}
	YAML
	cat <<-YAML
	---
	apiVersion: v1
	kind: Service
	metadata: {name: web}
	spec:
	  type: ${2:-ClusterIP}
	  selector: {app: web}
	  ports: [{port: ${3:-80}, targetPort: 80}]
	YAML
}

# wait_ready_replicas DEPLOY N
ready_replicas_are() { [ "$(k get deploy "$1" -o 'jsonpath={.status.readyReplicas}')" = "$2" ]; }
phase_is() { [ "$(k get pod "$1" -o 'jsonpath={.status.phase}')" = "$2" ]; }
node_ready() { [ "$(k get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
# endpoints: how many endpoints the Service web's slices list
endpoints() {
	k get endpointslices -l kubernetes.io/service-name=web \
		-o 'jsonpath={.items[*].endpoints[*].addresses[0]}' | wc -w
}
wait_ready_replicas() { within 120 ready_replicas_are "$1" "$2"; }
# count_is N cmd...: cmd prints N words.
count_is() {
	local out
	out=$("${@:2}") || return 1
	[ "$(wc -w <<<"$out")" = "$1" ]
}

# client_pod NAME NODE: a busybox pod that sleeps on NODE, Ready.
client_pod() {
	k run "$1" --image=skiff.local/busybox:1.35 --overrides="{\"spec\":{\"nodeName\":\"$2\"}}" \
		-- sleep 3600 >/dev/null || fail "kubectl run $1 failed"
	k wait --for=condition=Ready "pod/$1" --timeout=120s >/dev/null ||
		fail "client $1 on $2 not Ready: $(k get pod "$1" -o wide 2>&1)"
}

# ask CLIENT HOST N: N requests from the pod CLIENT to HOST:80, one answer
# a line; fails unless all N answered.
ask() {
	local out
	out=$(k exec "$1" -- sh -c "for i in \$(seq $3); do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $2 80 | tail -n 1; done" 2>&1)
	echo "$out"
	[ "$(echo "$out" | grep -c .)" = "$3" ]
}

# curl_n N URL: N requests from this machine, one answer a line.
curl_n() {
	local i
	for (( i = 0; i < $1; i++ )); do curl -fsS -m 5 "$2" || return 1; done
}

# pod_nodes DEPLOY_LABEL: "POD NODE" lines of the Running pods app=LABEL.
pod_nodes() {
	k get pods -l "app=$1" --field-selector=status.phase=Running \
		-o 'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}'
}

# check_answers ANSWERS PODS WHAT: each answer "GREETING POD NODE" names a
# pod of PODS ("POD NODE" lines) and the node that pod runs on.
check_answers() {
	local greeting pod node
	[ -n "$1" ] || fail "no answers to $3"
	while read -r greeting pod node; do
		[ -n "$greeting" ] || continue
		grep -qx "$pod $node" <<<"$2" ||
			fail "$3: the answer '$greeting $pod $node' names no pod on its node (pods: $(echo $2))"
	done <<<"$1"
}

# ready_endpoints SVC: its Endpoints' ready addresses, sorted.
ready_endpoints() {
	k get endpoints "$1" -o 'jsonpath={.subsets[*].addresses[*].ip}' | tr ' ' '\n' | sort | xargs
}
# ready_pod_ips LABEL: the IPs of the Ready pods app=LABEL, sorted.
ready_pod_ips() {
	k get pods -l "app=$1" -o 'jsonpath={range .items[*]}{.status.podIP} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}' |
		awk '$2 == "True" && $3 == "" { print $1 }' | sort | xargs
}
endpoints_are_ready_pods() { [ "$(ready_endpoints "$1")" = "$(ready_pod_ips "$1")" ]; }

node_ips() {
	k get nodes -o 'jsonpath={.items[*].status.addresses[?(@.type=="InternalIP")].address}'
}
