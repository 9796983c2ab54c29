#!/usr/bin/env bash
# The kubelet API (issue 11): skiff-agent serves container logs from the
# CRI log files and passes exec, attach and port-forward through to
# containerd's streaming server; skiff-server proxies pods/log, exec,
# attach and portforward to the pod's node with its kubelet client
# certificate. Driven with kubectl 1.27 (SPDY) and 1.33 (WebSocket:
# skiff-server translates v5.channel.k8s.io and tunnels port-forward's
# SPDY frames, and speaks SPDY with the kubelet, whose runtime, containerd
# 1.6, refuses v5), and with a WebSocket client of ours
# (ws_channel_client.py) for the older channel protocols kubectl does not
# speak, which skiff-server translates to SPDY too.
#
# One private containerd (in a node namespace made here), a sandbox and
# busybox containers made with cri-tool and labelled as upstream's kubelet
# labels them (so this runs without the pod lifecycle), a skiff-server in
# the same namespace with the Pod bound (pods/binding) to a Node whose
# InternalIP is 127.0.0.1 and whose kubelet port is the agent's.
. "$(dirname "$0")/../harness/lib.sh"
. "$SKIFF_ROOT/tests/dataplane/containerd.sh"

require_root
require_cmd containerd containerd-shim-runc-v2 runc ctr nsenter unshare openssl curl nc timeout python3 jq
require_bin cri-tool skiff-cni skiff-ipam skiff-server skiff-agent
require_kubectl

SUBNET=10.67.0.0/24
guard_ranges "$SUBNET"
IMAGES="$SKIFF_BUILD/images"
[ -f "$IMAGES/busybox.tar" ] || skip "no local images (make images)"
BUSYBOX=skiff.local/busybox:1.35
NS=default POD=web UID_=uid-$RUN_ID-web

defer ctrd_cgroup_cleanup

# k VERSION args...: kubectl.1.VERSION, as the admin, in the node namespace.
k() {
	local v=$1; shift
	in_ns node "$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" \
		--request-timeout 30s "$@"
}

# kt SECONDS VERSION args...: k, ended after SECONDS (for what does not
# end by itself: follow, attach, port-forward).
kt() {
	local t=$1 v=$2; shift 2
	timeout "$t" ip netns exec "$(ns node)" "$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" \
		--cache-dir "$TMP/cache-$v" "$@"
}

# ---- the node: containerd, a sandbox, containers ----

start_containerd() {
	setup_ns node
	cat >"$TMP/net.conflist" <<-JSON
	{"cniVersion": "1.0.0", "name": "skiff-$RUN_ID", "plugins": [
	  {"type": "skiff-cni", "mtu": 1400,
	   "ipam": {"type": "skiff-ipam", "ranges": [[{"subnet": "$SUBNET"}]],
	            "dataDir": "$TMP/ipam"}}]}
	JSON
	ctrd_start node "$TMP/net.conflist"
	ctrd_import "$IMAGES/pause.tar" || fail "cannot import pause"
	ctrd_import "$IMAGES/busybox.tar" || fail "cannot import busybox"
}

LOGDIR=
# The labels upstream's kubelet puts on a pod's sandbox and containers.
pod_labels() {
	printf '"io.kubernetes.pod.name": "%s", "io.kubernetes.pod.namespace": "%s", "io.kubernetes.pod.uid": "%s"' \
		"$POD" "$NS" "$UID_"
}

start_sandbox() {
	LOGDIR="$TMP/pods/${NS}_${POD}_${UID_}"
	mkdir -p "$LOGDIR"
	cat >"$TMP/pod.json" <<-JSON
	{"metadata": {"name": "$POD", "namespace": "$NS", "uid": "$UID_"},
	 "hostname": "$POD", "log_directory": "$LOGDIR",
	 "labels": {$(pod_labels)},
	 "linux": {"cgroup_parent": "$CTRD_CGROUP_PARENT"}}
	JSON
	SANDBOX=$(cri runp "$TMP/pod.json" 2>&1) || fail "runp: $SANDBOX"
}

# run_container NAME ATTEMPT EXTRA_JSON SCRIPT: creates and starts a
# busybox container running sh -c SCRIPT; prints its id.
run_container() {
	local name=$1 attempt=$2 extra=$3 script=$4 id
	jq -n --arg name "$name" --argjson attempt "$attempt" --arg image "$BUSYBOX" \
		--arg script "$script" --arg log "$name/$attempt.log" --arg pod "$POD" \
		--arg ns "$NS" --arg uid "$UID_" --argjson extra "{${extra}}" \
		'{metadata: {name: $name, attempt: $attempt}, image: $image,
		  command: ["/bin/sh", "-c", $script], log_path: $log,
		  labels: {"io.kubernetes.pod.name": $pod, "io.kubernetes.pod.namespace": $ns,
		           "io.kubernetes.pod.uid": $uid, "io.kubernetes.container.name": $name}}
		 + $extra' >"$TMP/ctr-$name-$attempt.json"
	id=$(cri create "$SANDBOX" "$TMP/ctr-$name-$attempt.json" "$TMP/pod.json" 2>&1) ||
		fail "create $name: $id"
	cri start "$id" >/dev/null || fail "start $name"
	echo "$id"
}

MAIN_SCRIPT='echo first; sleep 0.2; echo second >&2; printf "%20000s\n" | tr " " x
mkdir -p /tmp/www; echo pf-ok >/tmp/www/index.html; httpd -p 8080 -h /tmp/www
i=0; while :; do echo tick $i; i=$((i+1)); sleep 1; done'

start_containers() {
	local old
	# Attempt 0 of main ran and ended: its log is the one --previous reads.
	old=$(run_container main 0 "" 'echo old-run; exit 1')
	wait_for 10 sh -c "$TESTBIN/cri-tool --socket $CTRD_SOCK inspect $old | grep -q CONTAINER_EXITED" ||
		fail "attempt 0 of main did not end"
	run_container main 1 "" "$MAIN_SCRIPT" >/dev/null
	# reader echoes what it reads on stdin (for attach -i).
	run_container reader 0 '"stdin": true' \
		'echo reader-up; while read l; do echo "got $l"; done' >/dev/null
	wait_for 10 grep -q 'tick 1' "$LOGDIR/main/1.log" || fail "main does not log: $(ls -R "$LOGDIR")"
}

# ---- the cluster: skiff-server, the agent's kubelet API, Node and Pod ----

DATA=
start_server() {
	local try pid
	DATA="$TMP/server"
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		bg_ns node pid "$BIN/skiff-server" --data-dir "$DATA" --bind-address 127.0.0.1 \
			--secure-port "$PORT" --controllers none --no-scheduler --log-level warn \
			>>"$TMP/server.log" 2>&1
		if await_ready "$pid" 60 in_ns node curl -sf --cacert "$DATA/tls/ca.crt" "https://127.0.0.1:$PORT/readyz"; then
			SERVER_PID=$pid
			return 0
		fi
		kill_tree "$pid"
	done
	fail "skiff-server did not start: $(tail -n 3 "$TMP/server.log")"
}

KPORT=
KMAX=4 # connections the kubelet API serves at once (the cases need at most 2)
start_agent() {
	local try pid
	kubelet_serving_cert n1 127.0.0.1
	for try in 1 2 3 4 5; do
		KPORT=$(free_port)
		bg_ns node pid "$BIN/skiff-agent" --tls-cert-file "$TMP/kubelet.crt" \
			--tls-private-key-file "$TMP/kubelet.key" --client-ca-file "$DATA/tls/ca.crt" \
			--kubelet-address 127.0.0.1 --kubelet-port "$KPORT" --kubelet-max-connections "$KMAX" \
			--container-runtime-endpoint "$CTRD_SOCK" --log-level debug >>"$TMP/agent.log" 2>&1
		if await_ready "$pid" 60 in_ns node curl -sf --cacert "$DATA/tls/ca.crt" \
			--cert "$DATA/tls/kube-apiserver-kubelet-client.crt" \
			--key "$DATA/tls/kube-apiserver-kubelet-client.key" "https://127.0.0.1:$KPORT/healthz"; then
			AGENT_PID=$pid
			return 0
		fi
		kill_tree "$pid"
	done
	fail "skiff-agent did not serve the kubelet API: $(tail -n 3 "$TMP/agent.log")"
}

# node NAME PORT: a Node at 127.0.0.1 whose kubelet listens on PORT.
make_node() {
	k 33 create -f - >/dev/null <<-YAML || fail "create node $1"
	apiVersion: v1
	kind: Node
	metadata: {name: $1}
	YAML
	k 33 patch node "$1" --subresource=status --type=merge -p \
		"{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$2}}}}" \
		>/dev/null || fail "patch node $1 status"
}

# make_pod NAME [NODE]: the Pod object (containers main and reader),
# bound to NODE with a pods/binding when given.
make_pod() {
	k 33 create -f - >/dev/null <<-YAML || fail "create pod $1"
	apiVersion: v1
	kind: Pod
	metadata: {name: $1, namespace: $NS}
	spec:
	  containers:
	  - {name: main, image: $BUSYBOX}
	  - {name: reader, image: $BUSYBOX, stdin: true}
	YAML
	[ -n "${2:-}" ] || return 0
	printf '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"%s"},"target":{"apiVersion":"v1","kind":"Node","name":"%s"}}' \
		"$1" "$2" >"$TMP/binding-$1.json"
	k 33 create --raw "/api/v1/namespaces/$NS/pods/$1/binding" -f "$TMP/binding-$1.json" \
		>/dev/null || fail "bind $1 to $2"
	# What the pod lifecycle would report (kubectl port-forward asks for it).
	k 33 patch pod "$1" --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' \
		>/dev/null || fail "pod $1 status"
}

setup_cluster() {
	start_containerd
	start_sandbox
	start_containers
	start_server
	start_agent
	make_pod "$POD" n1
	make_node n1 "$KPORT"
}

# ---- cases ----

case_kubelet_port_takes_only_the_api_server() {
	local kc=(--cacert "$DATA/tls/ca.crt" "https://127.0.0.1:$KPORT/healthz") out
	out=$("$BIN/skiff-agent" --tls-cert-file "$TMP/kubelet.crt" 2>&1) && fail "a half-configured kubelet API started"
	assert_contains "$out" "needs --tls-cert-file, --tls-private-key-file and --client-ca-file together"
	out=$("$BIN/skiff-agent" --tls-cert-file "$TMP/kubelet.key" --tls-private-key-file "$TMP/kubelet.key" \
		--client-ca-file "$DATA/tls/ca.crt" --kubelet-port "$KPORT" 2>&1) && fail "a key as certificate"
	assert_contains "$out" "cannot serve the kubelet API"
	# No client certificate: the handshake itself fails.
	assert_fails in_ns node curl -sf "${kc[@]}"
	# A certificate of the cluster CA with another CN (the admin's): 403.
	assert_eq "$(in_ns node curl -s -o /dev/null -w '%{http_code}' --cert "$DATA/tls/admin.crt" \
		--key "$DATA/tls/admin.key" "${kc[@]}")" 403 "admin certificate at the kubelet"
	assert_eq "$(in_ns node curl -s --cert "$DATA/tls/kube-apiserver-kubelet-client.crt" \
		--key "$DATA/tls/kube-apiserver-kubelet-client.key" "${kc[@]}")" ok "healthz"
}

# At most --kubelet-max-connections served at once (a thread each): with
# KMAX idle connections held open (in the TLS handshake), one more is
# closed as soon as it is accepted, and served again once they go.
case_kubelet_api_caps_connections() {
	local kc=(--cacert "$DATA/tls/ca.crt" --cert "$DATA/tls/kube-apiserver-kubelet-client.crt"
		--key "$DATA/tls/kube-apiserver-kubelet-client.key" --max-time 5
		"https://127.0.0.1:$KPORT/healthz")
	local i pid pids=()
	for (( i = 0; i < KMAX; i++ )); do
		bg_ns node pid bash -c "exec 3<>/dev/tcp/127.0.0.1/$KPORT && exec sleep 30"
		pids+=("$pid")
	done
	# Bounded by the held connections' own 30 s (the agent's handshake
	# timeout); a loaded machine may take seconds to start the holders.
	wait_for 25 eval '! in_ns node curl -sf "${kc[@]}"' ||
		fail "served with $KMAX connections open already"
	assert_contains "$(cat "$TMP/agent.log")" \
		"closed: $KMAX connections served already (the cap"
	kill_tree "${pids[@]}"
	wait_for 10 in_ns node curl -sf "${kc[@]}" ||
		fail "not served again after the idle connections closed"
}

case_logs() {
	local v out n
	for v in 27 33; do
		out=$(k "$v" logs "$POD" -c main) || fail "kubectl 1.$v logs: $out"
		assert_contains "$out" "first" "1.$v logs"
		assert_contains "$out" "second" "1.$v logs (stderr)"
		assert_contains "$out" "tick 0" "1.$v logs"
		# A line longer than containerd's 16 KiB record: P records joined.
		n=$(awk 'length($0) == 20000' <<<"$out" | wc -l)
		assert_eq "$n" 1 "1.$v: the 20000-byte line, whole"
		out=$(k "$v" logs "$POD" -c main --tail 1) || fail "1.$v --tail: $out"
		assert_eq "$(wc -l <<<"$out")" 1 "1.$v --tail 1 lines"
		assert_contains "$out" "tick" "1.$v --tail 1"
		out=$(k "$v" logs "$POD" -c main --tail 1 --timestamps) || fail "1.$v --timestamps: $out"
		[[ $out =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.]+Z\ tick\ [0-9]+$ ]] ||
			fail "1.$v --timestamps: '$out'"
		out=$(k "$v" logs "$POD" -c main --limit-bytes 5) || fail "1.$v --limit-bytes: $out"
		assert_eq "$out" "first" "1.$v --limit-bytes 5"
		out=$(k "$v" logs "$POD" -c main --since 2s) || fail "1.$v --since: $out"
		assert_not_contains "$out" "first" "1.$v --since 2s"
		assert_contains "$out" "tick" "1.$v --since 2s"
		out=$(k "$v" logs "$POD" -c main --previous) || fail "1.$v --previous: $out"
		assert_eq "$out" "old-run" "1.$v --previous"
		out=$(k "$v" logs "$POD" -c reader --previous 2>&1) && fail "1.$v: --previous of reader"
		assert_contains "$out" 'previous terminated container "reader" in pod "web" not found'
		out=$(k "$v" logs "$POD" -c nosuch 2>&1) && fail "1.$v: logs of a container not in the pod"
		assert_contains "$out" "container nosuch is not valid for pod web"
	done
}

# kubectl logs deployment/NAME: kubectl finds a pod by the Deployment's
# selector (no controller runs here: the pod is labelled by hand).
case_logs_of_a_deployment() {
	local v out
	k 33 label pod "$POD" app=webd >/dev/null || fail "label pod"
	k 33 create deployment webd --image "$BUSYBOX" --dry-run=client -o json |
		k 33 create -f - >/dev/null || fail "create deployment"
	for v in 27 33; do
		out=$(k "$v" logs deployment/webd -c main --tail 1 2>&1) || fail "1.$v logs deployment/webd: $out"
		assert_contains "$out" "tick" "1.$v logs deployment/webd"
	done
}

case_logs_follow() {
	local v out last
	for v in 27 33; do
		last=$(k "$v" logs "$POD" -c main --tail 1 | awk '{ print $2 }')
		out=$(kt 3.5 "$v" logs -f "$POD" -c main --tail 1 2>&1 </dev/null)
		assert_contains "$out" "tick $((last + 2))" "1.$v logs -f (from tick $last)"
	done
}

case_exec() {
	local v out rc
	for v in 27 33; do
		out=$(kt 60 "$v" exec "$POD" -c main -- sh -c 'echo hi; exit 3' 2>"$TMP/exec.err")
		rc=$?
		assert_eq "$out" "hi" "1.$v exec output"
		assert_eq "$rc" 3 "1.$v exec exit code"
		out=$(printf 'one\ntwo\n' | kt 60 "$v" exec -i "$POD" -c main -- sh -c 'cat; echo end') ||
			fail "1.$v exec -i: $out"
		assert_eq "$out" "$(printf 'one\ntwo\nend')" "1.$v exec -i (stdin read to its end)"
		out=$(kt 60 "$v" exec "$POD" -c main -- sh -c 'echo err >&2' 2>&1 >/dev/null) ||
			fail "1.$v exec stderr: $out"
		assert_eq "$out" "err" "1.$v exec stderr"
		# Without -c kubectl picks the first container (main).
		out=$(kt 60 "$v" exec "$POD" -- cat /tmp/www/index.html 2>/dev/null) || fail "1.$v exec default container"
		assert_eq "$out" "pf-ok" "1.$v exec in the default container"
		assert_fails kt 60 "$v" exec "$POD" -c main -- /no/such/binary
	done
	# 1.33 speaks WebSocket (v5.channel.k8s.io) with skiff-server, which
	# speaks SPDY with the kubelet (containerd 1.6 refuses WebSocket): no
	# fallback, and no WebSocket request (a GET) reaches the kubelet.
	out=$(kt 60 33 -v=6 exec "$POD" -c main -- sh -c 'echo hi; exit 4' 2>&1)
	assert_contains "$out" "The subprotocol is v5.channel.k8s.io" "1.33 exec over WebSocket"
	assert_not_contains "$out" "allback" "1.33 exec fell back to SPDY"
	assert_contains "$out" "command terminated with exit code 4" "1.33 exec (-v=6) exit code"
	assert_not_contains "$(cat "$TMP/agent.log")" "GET /exec/$NS/$POD/main"
	assert_contains "$(cat "$TMP/agent.log")" "POST /exec/$NS/$POD/main"
}

# exec -it: a terminal in the container (kubectl's own stdin is a pty
# made by script(1)); the remote side sees a tty.
case_exec_tty() {
	local v out
	for v in 27 33; do
		out=$(printf 'tty; exit 5\n' | timeout 60 script -qec "ip netns exec $(ns node) \
			$KDIR/kubectl.1.$v --kubeconfig $DATA/kubeconfig --cache-dir $TMP/cache-$v \
			exec -it $POD -c main -- sh" /dev/null 2>&1)
		assert_contains "$out" "/dev/pts/" "1.$v exec -it: tty"
		assert_contains "$out" "exit code 5" "1.$v exec -it: exit code"
	done
}

case_cp() {
	local v out
	head -c 300000 /dev/urandom >"$TMP/blob"
	for v in 27 33; do
		out=$(kt 60 "$v" cp "$TMP/blob" "$NS/$POD:/tmp/blob-$v" -c main 2>&1) ||
			fail "1.$v cp into the pod: $out"
		kt 60 "$v" exec "$POD" -c main -- cat "/tmp/blob-$v" >"$TMP/in-$v" || fail "1.$v cat"
		assert_ok cmp "$TMP/blob" "$TMP/in-$v"
		rm -f "$TMP/back-$v"
		out=$(kt 60 "$v" cp "$NS/$POD:/tmp/blob-$v" "$TMP/back-$v" -c main 2>&1) ||
			fail "1.$v cp out of the pod: $out"
		assert_ok cmp "$TMP/blob" "$TMP/back-$v"
	done
}

# Each attach runs until what it waits for shows (30 s at most), not for
# a fixed time (kubectl's own start takes seconds on a loaded machine).
case_attach() {
	local v pid rc
	for v in 27 33; do
		# Output: the main container's stream as it goes on.
		kt 60 "$v" attach "$POD" -c main >"$TMP/attach-$v.out" 2>&1 </dev/null &
		pid=$!
		wait_for 30 grep -q tick "$TMP/attach-$v.out"
		rc=$?
		kill_tree "$pid"
		[ "$rc" = 0 ] || fail "1.$v attach output: $(cat "$TMP/attach-$v.out")"
		# Input: what reader reads comes back.
		rm -f "$TMP/attach-in"
		mkfifo "$TMP/attach-in"
		kt 60 "$v" attach -i "$POD" -c reader <"$TMP/attach-in" >"$TMP/attach-i-$v.out" 2>&1 &
		pid=$!
		exec 7>"$TMP/attach-in"
		echo "hello-$v" >&7
		wait_for 30 grep -q "got hello-$v" "$TMP/attach-i-$v.out"
		rc=$?
		exec 7>&-
		kill_tree "$pid"
		[ "$rc" = 0 ] || fail "1.$v attach -i: $(cat "$TMP/attach-i-$v.out")"
	done
}

case_port_forward() {
	local v lport out pid
	for v in 27 33; do
		lport=$(free_port)
		kt 20 "$v" -v=6 port-forward "pod/$POD" "$lport:8080" >"$TMP/pf-$v.log" 2>&1 &
		pid=$!
		wait_for 10 grep -q "Forwarding from" "$TMP/pf-$v.log" ||
			{ kill "$pid"; fail "1.$v port-forward did not start: $(cat "$TMP/pf-$v.log")"; }
		out=$(printf 'GET /index.html HTTP/1.0\r\n\r\n' | in_ns node nc -w 5 127.0.0.1 "$lport")
		assert_contains "$out" "pf-ok" "1.$v port-forward: first connection"
		out=$(printf 'GET /index.html HTTP/1.0\r\n\r\n' | in_ns node nc -w 5 127.0.0.1 "$lport")
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		assert_contains "$out" "pf-ok" "1.$v port-forward: second connection"
	done
	# 1.33 tunnels its SPDY frames in WebSocket messages to skiff-server
	# (SPDY/3.1+portforward.k8s.io), which passes them to the kubelet's
	# SPDY upgrade; 1.27 speaks SPDY itself.
	assert_contains "$(cat "$TMP/pf-33.log")" "negotiated protocol: portforward.k8s.io" \
		"1.33 port-forward over WebSocket"
	assert_not_contains "$(cat "$TMP/pf-27.log")" "negotiated protocol: portforward.k8s.io"
}

# ---- the other WebSocket subprotocols (not kubectl's): a client of ours ----

# ws PROTOCOLS PATH?QUERY [client args...]: the WebSocket client
# (tests/dataplane/ws_channel_client.py) as the admin; prints its JSON.
ws() {
	local protos=$1 path=$2; shift 2
	in_ns node python3 "$SKIFF_ROOT/tests/dataplane/ws_channel_client.py" \
		"https://127.0.0.1:$PORT/api/v1/namespaces/$NS/pods/$POD/$path" \
		--ca "$DATA/tls/ca.crt" --cert "$DATA/tls/admin.crt" --key "$DATA/tls/admin.key" \
		--protocols "$protos" "$@"
}

# cmd_query ARGS...: command=ARG for each (URL-encoded).
cmd_query() {
	local a q=
	for a in "$@"; do q+="&command=$(jq -rn --arg a "$a" '$a|@uri')"; done
	echo "${q#&}"
}

# wsj JSON FILTER: jq -r FILTER of the client's answer.
wsj() { jq -r "$2" <<<"$1"; }

# Exec and attach over each channel protocol upstream's kubelet takes
# (remotecommand websocket.go) but kubectl does not speak: stdout and
# stderr, the exit status (v4: a JSON Status on the error channel; v1:
# a failure's message as text, nothing for success), stdin, resize on
# channel 4, the base64 encoding (text messages, the channel a digit).
case_ws_channel_protocols() {
	local p name out resize
	resize='i=0; while [ $i -lt 200 ]; do s=$(stty size); [ "$s" = "33 77" ] && break; i=$((i+1)); sleep 0.1; done; echo "size $s"'
	for p in v4.channel.k8s.io v4.base64.channel.k8s.io channel.k8s.io base64.channel.k8s.io ""; do
		name=${p:-no subprotocol}
		out=$(ws "$p" "exec?container=main&stdout=true&stderr=true&$(cmd_query sh -c 'echo out; echo err >&2; exit 3')")
		assert_eq "$(wsj "$out" .status)" 101 "$name: exec upgraded ($out)"
		assert_eq "$(wsj "$out" '.protocol // ""')" "$p" "$name: the subprotocol"
		assert_eq "$(wsj "$out" .text)" "$([[ $p == *base64* ]] && echo true || echo false)" \
			"$name: text messages"
		assert_eq "$(wsj "$out" '.channels["1"]')" out "$name: stdout"
		assert_eq "$(wsj "$out" '.channels["2"]')" err "$name: stderr"
		assert_eq "$(wsj "$out" '.first["1"]')" "" "$name: an empty first message on stdout"
		if [[ $p == v4.* ]]; then
			assert_eq "$(wsj "$out" '.channels["3"] | fromjson | .reason + " " +
				(.details.causes[] | select(.reason == "ExitCode") | .message)')" \
				"NonZeroExitCode 3" "$name: exit status (JSON)"
			out=$(ws "$p" "exec?container=main&stdout=true&$(cmd_query true)")
			assert_eq "$(wsj "$out" '.channels["3"] | fromjson | .status')" Success \
				"$name: success status"
		else
			assert_contains "$(wsj "$out" '.channels["3"]')" "exit code 3" "$name: exit status (text)"
			assert_not_contains "$(wsj "$out" '.channels["3"]')" "{" "$name: exit status, not JSON"
			out=$(ws "$p" "exec?container=main&stdout=true&$(cmd_query true)")
			assert_eq "$(wsj "$out" '.status')" 101 "$name: exec true"
			assert_eq "$(wsj "$out" '.channels["3"] // ""')" "" "$name: nothing on success"
		fi
		out=$(ws "$p" "exec?container=main&stdin=true&stdout=true&$(cmd_query head -n 1)" \
			--send "0:hello $name\n")
		assert_eq "$(wsj "$out" '.channels["1"]')" "hello $name" "$name: exec stdin"
		out=$(ws "$p" "exec?container=main&stdin=true&stdout=true&tty=true&$(cmd_query sh -c "$resize")" \
			--send '4:{"Width":77,"Height":33}')
		assert_contains "$(wsj "$out" '.channels["1"]')" "size 33 77" "$name: resize"
		out=$(ws "$p" "attach?container=reader&stdin=true&stdout=true" \
			--send "0:att $name\n" --wait-for "1:got att $name")
		assert_contains "$(wsj "$out" '.channels["1"]')" "got att $name" "$name: attach"
	done
	# The first of the client's subprotocols that upstream takes.
	out=$(ws "bogus.k8s.io,base64.channel.k8s.io,v5.channel.k8s.io" \
		"exec?container=main&stdout=true&$(cmd_query echo x)")
	assert_eq "$(wsj "$out" .protocol)" base64.channel.k8s.io "the client's order"
	out=$(ws "v5.channel.k8s.io,v4.channel.k8s.io" "exec?container=main&stdout=true&$(cmd_query echo x)")
	assert_eq "$(wsj "$out" .protocol)" v5.channel.k8s.io "the client's order (v5 first)"
	assert_eq "$(wsj "$out" '.channels["1"]')" x "v5 stdout"
	# v5's CLOSE ends stdin; the older protocols have none (ignored there).
	out=$(ws v5.channel.k8s.io "exec?container=main&stdin=true&stdout=true&$(cmd_query sh -c 'cat; echo end')" \
		--send '0:a\n' --close 0)
	assert_eq "$(wsj "$out" '.channels["1"]')" "$(printf 'a\nend')" "v5 CLOSE of stdin"
	# All of it reached the kubelet as SPDY (skiff-agent's runtime may
	# not take WebSocket): no GET there.
	assert_not_contains "$(grep -E 'GET /(exec|attach)/' "$TMP/agent.log")" "$NS/$POD" \
		"a WebSocket request passed to the kubelet"
}

# Port-forward over the channel protocols of upstream's kubelet
# (portforward websocket.go): channel 0 the data, 1 the errors of the
# first ?ports=, the port (little-endian) first on both.
case_ws_port_forward_protocols() {
	local p name out
	for p in v4.channel.k8s.io v4.base64.channel.k8s.io ""; do
		name=${p:-no subprotocol}
		out=$(ws "$p" "portforward?ports=8080" --send '0:GET /index.html HTTP/1.0\r\n\r\n')
		assert_eq "$(wsj "$out" .status)" 101 "$name: port-forward upgraded ($out)"
		assert_eq "$(wsj "$out" '.protocol // ""')" "$p" "$name: the subprotocol"
		assert_eq "$(wsj "$out" '.first["0"]')" 901f "$name: the port first on the data channel"
		assert_eq "$(wsj "$out" '.first["1"]')" 901f "$name: the port first on the error channel"
		assert_contains "$(wsj "$out" '.channels["0"]')" "pf-ok" "$name: port-forward data"
		assert_eq "$(wsj "$out" .end)" null "$name: the server closed the WebSocket"
	done
	# Two ports: channels 2 and 3 are the second's.
	out=$(ws v4.channel.k8s.io "portforward?ports=8080&ports=8080" --send '2:GET /index.html HTTP/1.0\r\n\r\n' \
		--wait-for '2:pf-ok')
	assert_eq "$(wsj "$out" '.first["2"] + .first["3"]')" 901f901f "second port's prefixes"
	assert_contains "$(wsj "$out" '.channels["2"]')" "pf-ok" "data of the second port"
	assert_not_contains "$(cat "$TMP/agent.log")" "GET /portForward/$NS/$POD" \
		"a WebSocket request passed to the kubelet"
}

# A ServiceAccount with the view role reads logs but may not exec.
case_forbidden() {
	local v out token
	k 33 create serviceaccount "viewer" -n "$NS" >/dev/null || fail "create serviceaccount"
	k 33 create rolebinding viewer --clusterrole view --serviceaccount "$NS:viewer" -n "$NS" \
		>/dev/null || fail "create rolebinding"
	token=$(k 33 create token viewer -n "$NS") || fail "create token: $token"
	cat >"$TMP/viewer.kubeconfig" <<-YAML
	apiVersion: v1
	kind: Config
	clusters: [{name: c, cluster: {server: "https://127.0.0.1:$PORT", certificate-authority: "$DATA/tls/ca.crt"}}]
	users: [{name: viewer, user: {token: "$token"}}]
	contexts: [{name: c, context: {cluster: c, user: viewer}}]
	current-context: c
	YAML
	for v in 27 33; do
		out=$(in_ns node "$KDIR/kubectl.1.$v" --kubeconfig "$TMP/viewer.kubeconfig" \
			--cache-dir "$TMP/cache-viewer-$v" logs "$POD" -c main --tail 1 2>&1) ||
			fail "1.$v: the viewer cannot read logs: $out"
		out=$(in_ns node "$KDIR/kubectl.1.$v" --kubeconfig "$TMP/viewer.kubeconfig" \
			--cache-dir "$TMP/cache-viewer-$v" exec "$POD" -c main -- true 2>&1) &&
			fail "1.$v: the viewer could exec"
		assert_contains "$out" 'cannot create resource "pods/exec"' "1.$v exec as viewer"
	done
}

case_pod_without_node_or_kubelet() {
	local v out
	make_pod loose
	make_pod far n2
	make_node n2 1
	for v in 27 33; do
		out=$(k "$v" logs loose -c main 2>&1) && fail "1.$v logs of an unbound pod"
		assert_contains "$out" "pod loose does not have a host assigned"
		out=$(k "$v" logs far -c main 2>&1) && fail "1.$v logs on a node without a kubelet"
		assert_contains "$out" 'the kubelet of node "n2"'
		out=$(kt 60 "$v" exec far -c main -- true 2>&1) && fail "1.$v exec on a node without a kubelet"
		assert_contains "$out" 'n2'
	done
}

# Last: skiff-server stops promptly with a log follow and an exec session
# open (the relays of upgraded connections are ended, not waited for).
case_server_stops_with_streams_open() {
	local i
	kt 60 33 logs -f "$POD" -c main >/dev/null 2>&1 &
	kt 60 27 exec -i "$POD" -c main -- sh -c 'sleep 50' </dev/zero >/dev/null 2>&1 &
	sleep 3
	assert_contains "$(cat "$TMP/agent.log")" "POST /exec/$NS/$POD/main"
	kill -TERM "$SERVER_PID"
	# Gone or a zombie (the top-level shell, its parent, reaps it later).
	running() { local st; st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
	for (( i=0; i<100; i++ )); do running "$SERVER_PID" || break; sleep 0.1; done
	running "$SERVER_PID" && fail "skiff-server still runs 10 s after SIGTERM"
	wait
	true
}

setup_cluster
for c in ${CASES:-kubelet_port_takes_only_the_api_server kubelet_api_caps_connections logs logs_of_a_deployment logs_follow \
	exec exec_tty cp attach \
	port_forward ws_channel_protocols ws_port_forward_protocols forbidden pod_without_node_or_kubelet server_stops_with_streams_open}; do
	run_case "$c"
done
finish
