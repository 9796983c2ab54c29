#!/usr/bin/env bash
# Joining and the Node: skiff-server and skiff-agent in a namespace of the
# test's; the agent joins with the server's node token (K10...), gets
# system:node:NAME credentials and registers its Node (addresses, capacity,
# nodeInfo, labels, conditions), renews its Lease and writes the CNI config
# with the podCIDR node IPAM gave it. A wrong token is refused; node
# credentials reach only what the Node authorizer allows (kubectl with a
# node's certificate); a restarted agent reuses its certificates; a stopped
# one turns Unknown once the node-lifecycle grace period passes. With a
# containerd of the test's, the Node reports the runtime's version and
# containerd runs a sandbox on the agent's CNI config.
. "$(dirname "$0")/../harness/lib.sh"
. "$SKIFF_ROOT/tests/dataplane/containerd.sh"
require_root
require_cmd curl openssl jq
require_bin skiff-server skiff-agent
require_kubectl

# The lease is renewed every 10 s; the grace period must exceed that.
GRACE=15

# server_start DATA: skiff-server in the node namespace with node IPAM and
# the node-lifecycle loop; sets PORT and SERVER.
server_start() {
	local try
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		bg_ns node SERVER "$BIN/skiff-server" --data-dir "$1" --bind-address 127.0.0.1 \
			--secure-port "$PORT" --log-level info --cluster-cidr 10.244.0.0/16 \
			--node-monitor-grace-period "$GRACE" >>"$1.log" 2>&1
		await_ready "$SERVER" 60 in_ns node curl -sf --cacert "$1/tls/ca.crt" \
			"https://127.0.0.1:$PORT/readyz" && return 0
		kill_tree "$SERVER"
	done
	fail "skiff-server did not start: $(tail -n 3 "$1.log")"
}

# agent_start NAME DIR [FLAG...]: skiff-agent joining as NAME with the
# token of $DATA, data dir DIR, CNI config in $CNI_DIR (default DIR/cni);
# AGENT gets its PID.
agent_start() {
	local name=$1 dir=$2
	shift 2
	bg_ns node AGENT "$BIN/skiff-agent" --server "https://127.0.0.1:$PORT" \
		--token "$(cat "$DATA/token")" --data-dir "$dir" --node-name "$name" \
		--proxy-mode nftables --nft-table "skiff-kn-$RUN_ID" --cni-conf-dir "${CNI_DIR:-$dir/cni}" \
		"$@" >>"$dir.log" 2>&1
}

k() { in_ns node "$KDIR/kubectl.1.33" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/kc" "$@"; }
node_json() { k get node "$1" -o json; }
ready_is() { [ "$(k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = "$2" ]; }
renew_time() { k get lease -n kube-node-lease "$1" -o jsonpath='{.spec.renewTime}'; }
renewed_since() { [ "$(renew_time "$1")" != "$2" ]; }

case_setup() {
	setup_ns node
	DATA=$TMP/server-$1
	server_start "$DATA"
}

# ---- the cases ----------------------------------------------------------------

case_join_registers_node() {
	local j nodedir=$TMP/agent-reg lease1 lease2 memkib
	case_setup reg
	agent_start n1 "$nodedir"
	wait_for 20 ready_is n1 True || fail "node n1 never Ready: $(tail -5 "$nodedir.log")"
	j=$(node_json n1)
	assert_eq "$(jq -r '.metadata.labels["kubernetes.io/hostname"]' <<<"$j")" n1 "hostname label"
	assert_eq "$(jq -r '.metadata.labels["kubernetes.io/os"]' <<<"$j")" linux "os label"
	assert_eq "$(jq -r '.metadata.labels["kubernetes.io/arch"]' <<<"$j")" amd64 "arch label"
	assert_eq "$(jq -r '.status.addresses[] | select(.type=="InternalIP") | .address' <<<"$j")" \
		127.0.0.1 "InternalIP: the address toward the server"
	assert_eq "$(jq -r '.status.addresses[] | select(.type=="Hostname") | .address' <<<"$j")" n1
	assert_eq "$(jq -r '.status.capacity.cpu' <<<"$j")" "$(nproc)" "cpu capacity"
	memkib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
	assert_eq "$(jq -r '.status.capacity.memory' <<<"$j")" "${memkib}Ki" "memory capacity"
	assert_eq "$(jq -r '.status.allocatable.memory' <<<"$j")" "$((memkib - 102400))Ki" \
		"memory allocatable: capacity less the 100Mi eviction threshold"
	assert_eq "$(jq -r '.status.capacity.pods' <<<"$j")" 110
	[[ $(jq -r '.status.capacity["ephemeral-storage"]' <<<"$j") =~ ^[1-9][0-9]*Ki$ ]] ||
		fail "ephemeral-storage capacity: $(jq -c .status.capacity <<<"$j")"
	assert_eq "$(jq -r '.status.nodeInfo.kernelVersion' <<<"$j")" "$(uname -r)"
	assert_eq "$(jq -r '.status.nodeInfo.operatingSystem' <<<"$j")" linux
	assert_eq "$(jq -r '.status.nodeInfo.architecture' <<<"$j")" amd64
	assert_contains "$(jq -r '.status.nodeInfo.osImage' <<<"$j")" "$(. /etc/os-release; echo "$NAME")"
	assert_eq "$(jq -r '.status.nodeInfo.kubeletVersion' <<<"$j")" "v1.30.0+skiff"
	assert_eq "$(jq -r '.status.daemonEndpoints.kubeletEndpoint.Port' <<<"$j")" 10250
	assert_eq "$(jq -r '[.status.conditions[].type] | sort | join(",")' <<<"$j")" \
		"DiskPressure,MemoryPressure,PIDPressure,Ready"
	assert_eq "$(jq -r '[.status.conditions[] | select(.type!="Ready") | .status] | unique | join(",")' <<<"$j")" \
		False "pressure conditions"
	assert_eq "$(jq -r '.status.conditions[] | select(.type=="Ready") | .reason' <<<"$j")" KubeletReady
	jq -e '.status.conditions | all(.lastHeartbeatTime and .lastTransitionTime)' <<<"$j" >/dev/null ||
		fail "conditions without heartbeat/transition times: $(jq -c .status.conditions <<<"$j")"

	# The credentials: a client certificate of system:node:n1 in system:nodes,
	# a serving certificate for n1, both from the cluster CA.
	assert_eq "$(openssl x509 -in "$nodedir/client.crt" -noout -subject)" \
		"subject=O = system:nodes, CN = system:node:n1"
	assert_contains "$(openssl x509 -in "$nodedir/serving.crt" -noout -ext subjectAltName)" "DNS:n1"
	assert_ok openssl verify -CAfile "$DATA/tls/ca.crt" "$nodedir/client.crt" "$nodedir/serving.crt"
	assert_eq "$(stat -c %a "$nodedir/client.key")" 600
	! grep -rqF "$(sed -n 2p "$DATA/tls/admin.key")" "$nodedir" ||
		fail "the admin key reached the node"

	# The CNI config: the podCIDR node IPAM gave the Node.
	local cidr
	cidr=$(k get node n1 -o jsonpath='{.spec.podCIDR}')
	[ -n "$cidr" ] || fail "node IPAM gave n1 no podCIDR"
	wait_for 10 test -s "$nodedir/cni/10-skiff.conflist" || fail "no CNI config in $nodedir/cni"
	assert_eq "$(jq -r '.plugins[0].type, .plugins[0].ipam.type, .plugins[0].ipam.ranges[0][0].subnet' \
		"$nodedir/cni/10-skiff.conflist" | tr '\n' ' ')" "skiff-cni skiff-ipam $cidr "

	# The Lease: owned by the Node, renewed every 10 s.
	lease1=$(renew_time n1)
	[ -n "$lease1" ] || fail "no Lease kube-node-lease/n1"
	assert_eq "$(k get lease -n kube-node-lease n1 -o jsonpath='{.spec.holderIdentity} {.metadata.ownerReferences[0].kind}')" "n1 Node"
	wait_for 15 renewed_since n1 "$lease1" || fail "the Lease was not renewed (still $lease1)"
	lease2=$(renew_time n1)
	[[ $lease2 > $lease1 ]] || fail "renewTime went from $lease1 to $lease2"
}

case_wrong_token_refused() {
	local good bad out
	case_setup tok
	good=$(cat "$DATA/token")
	bad="${good%:*}:0123456789abcdef0123456789abcdef"
	out=$(in_ns node "$BIN/skiff-agent" --server "https://127.0.0.1:$PORT" --token "$bad" \
		--data-dir "$TMP/agent-bad" --node-name n9 --proxy-mode nftables \
		--nft-table "skiff-kn-$RUN_ID" 2>&1) && fail "the agent joined with a wrong secret"
	assert_contains "$out" "HTTP 401: the node token is not this server's"
	assert_contains "$(cat "$DATA.log")" "refused: the node token is not this server's"
	assert_contains "$(grep refused "$DATA.log")" "from 127.0.0.1"
	# A token naming another CA: the agent stops before sending its secret.
	bad="K10$(printf '%064d' 0)::server:${good##*:}"
	out=$(in_ns node "$BIN/skiff-agent" --server "https://127.0.0.1:$PORT" --token "$bad" \
		--data-dir "$TMP/agent-bad2" --node-name n9 --proxy-mode nftables \
		--nft-table "skiff-kn-$RUN_ID" 2>&1) && fail "the agent trusted a CA the token does not name"
	assert_contains "$out" "not the server of this token"
	[ ! -e "$TMP/agent-bad2/client.crt" ] || fail "a certificate was fetched"
	assert_fails k get node n9
}

# node_cert NAME: NAME's client pair from the join endpoint, as the agent
# fetches it (curl), into $TMP/NAME.crt/.key.
node_cert() {
	local secret
	secret=$(sed 's/.*://' "$DATA/token")
	in_ns node curl -sf --cacert "$DATA/tls/ca.crt" -u "node:$secret" \
		-H "Skiff-Node-Name: $1" -H "Skiff-Node-Password: pw-$1" \
		"https://127.0.0.1:$PORT/v1-skiff/client-kubelet.crt" >"$TMP/$1.pem" ||
		fail "no certificate for $1"
	sed -n '/BEGIN CERT/,/END CERT/p' "$TMP/$1.pem" >"$TMP/$1.crt"
	sed -n '/BEGIN PRIVATE/,/END PRIVATE/p' "$TMP/$1.pem" >"$TMP/$1.key"
}
# as NODE kubectl-args...: kubectl with NODE's certificate.
as() {
	local n=$1
	shift
	in_ns node "$KDIR/kubectl.1.33" --server "https://127.0.0.1:$PORT" \
		--certificate-authority "$DATA/tls/ca.crt" --client-certificate "$TMP/$n.crt" \
		--client-key "$TMP/$n.key" --cache-dir "$TMP/kc-$n" "$@"
}
# pod NAME NODE SECRET CONFIGMAP: a pod bound to NODE using both.
pod() {
	k apply -f - >/dev/null <<-EOF || fail "cannot create pod $1"
	apiVersion: v1
	kind: Pod
	metadata: {name: $1, namespace: default}
	spec:
	  nodeName: $2
	  serviceAccountName: sa-$1
	  containers:
	  - name: c
	    image: busybox
	    env:
	    - name: X
	      valueFrom: {configMapKeyRef: {name: $4, key: x}}
	  volumes:
	  - name: s
	    secret: {secretName: $3}
	EOF
}

case_node_authorizer() {
	local out
	case_setup authz
	node_cert n1
	node_cert n2
	# The Nodes first: the pod GC deletes pods bound to a node that stays
	# absent for 40 s, which a slow machine reaches before the checks below.
	assert_ok as n1 create -f - <<<'{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}'
	k create -f - >/dev/null <<<'{"apiVersion":"v1","kind":"Node","metadata":{"name":"n2"}}'
	for n in n1 n2; do
		k create secret generic "s-$n" --from-literal=k=v >/dev/null
		k create configmap "cm-$n" --from-literal=x=y >/dev/null
		k create serviceaccount "sa-p-$n" >/dev/null
		pod "p-$n" "$n" "s-$n" "cm-$n"
	done
	assert_eq "$(as n1 auth whoami -o jsonpath='{.status.userInfo.username}')" system:node:n1

	# Reads every node may make.
	assert_ok as n1 get pods -A
	assert_ok as n1 get services -A
	assert_ok as n1 get endpointslices -A

	# Its own Node and Lease; not another's.
	assert_ok as n1 label node n1 role=test
	# NodeRestriction: no node-restriction.kubernetes.io/ label, no taints.
	out=$(as n1 label node n1 node-restriction.kubernetes.io/pool=a 2>&1) &&
		fail "n1 set a node-restriction.kubernetes.io/ label"
	assert_contains "$out" "may not set the label node-restriction.kubernetes.io/pool"
	out=$(as n1 patch node n1 --type json \
		-p '[{"op":"add","path":"/metadata/labels/node-restriction.kubernetes.io~1pool","value":"a"}]' 2>&1) &&
		fail "n1 set a node-restriction.kubernetes.io/ label by JSON patch"
	out=$(as n1 taint node n1 k=v:NoSchedule 2>&1) && fail "n1 tainted itself"
	assert_contains "$out" 'node "n1" may not modify its taints'
	assert_ok k taint node n1 k=v:NoSchedule
	out=$(as n1 taint node n1 k- 2>&1) && fail "n1 removed its taint"
	assert_ok as n1 label node n1 role=test2 --overwrite
	out=$(as n1 create -f - <<<'{"apiVersion":"v1","kind":"Node","metadata":{"name":"n3"}}' 2>&1) &&
		fail "n1 created node n3"
	assert_contains "$out" 'node "n1" may only change its own Node'
	out=$(as n1 label node n2 role=test 2>&1) && fail "n1 labelled node n2"
	assert_contains "$out" 'nodes "n2" is forbidden: User "system:node:n1"'
	out=$(as n1 patch node n2 --subresource status --type merge \
		-p '{"status":{"conditions":[]}}' 2>&1) && fail "n1 patched the status of n2"
	assert_contains "$out" "Forbidden"
	assert_ok as n1 create -f - <<<'{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1","namespace":"kube-node-lease"},"spec":{"holderIdentity":"n1"}}'
	out=$(as n1 create -f - <<<'{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n2","namespace":"kube-node-lease"},"spec":{"holderIdentity":"n1"}}' 2>&1) &&
		fail "n1 created the Lease of n2"
	assert_contains "$out" "may only use its own Lease kube-node-lease/n1"

	# What its pods use, and only that.
	assert_eq "$(as n1 get secret s-n1 -o jsonpath='{.data.k}')" "$(printf v | base64)"
	assert_ok as n1 get configmap cm-n1
	out=$(as n1 get secret s-n2 2>&1) && fail "n1 read the secret of a pod on n2"
	assert_contains "$out" 'no pod bound to node "n1" uses secret default/s-n2'
	assert_fails as n1 get configmap cm-n2
	out=$(as n1 get secrets 2>&1) && fail "n1 listed secrets"
	assert_contains "$out" "Forbidden"
	assert_ok as n1 create token sa-p-n1 --bound-object-kind Pod --bound-object-name p-n1
	out=$(as n1 create token sa-p-n2 2>&1) && fail "n1 got a token of the account of a pod on n2"
	assert_contains "$out" 'runs as service account default/sa-p-n2'

	# The status of its pods, and deleting them; not another node's.
	assert_ok as n1 patch pod p-n1 --subresource status --type merge -p '{"status":{"phase":"Running"}}'
	out=$(as n1 patch pod p-n2 --subresource status --type merge -p '{"status":{"phase":"Running"}}' 2>&1) &&
		fail "n1 changed the status of a pod on n2"
	assert_contains "$out" 'pod default/p-n2 is not bound to node "n1"'
	assert_fails as n1 delete pod p-n2 --wait=false
	assert_fails as n1 label pod p-n1 x=y
	assert_ok as n1 delete pod p-n1 --wait=false
	# Nothing else: no writes elsewhere, no cluster-wide secrets.
	assert_fails as n1 create namespace "ns-$RUN_ID"
	assert_fails as n1 delete node n1
}

case_restart_reuses_and_unknown_after_grace() {
	local nodedir=$TMP/agent-rs sum t0 t1 lease
	case_setup rs
	agent_start n1 "$nodedir"
	wait_for 20 ready_is n1 True || fail "node n1 never Ready: $(tail -5 "$nodedir.log")"
	sum=$(md5sum "$nodedir/client.crt" "$nodedir/serving.crt")
	# The agent stops: the Lease ages; after the grace period the node
	# lifecycle loop marks it Unknown.
	kill_tree "$AGENT"
	t0=$(date +%s)
	wait_for $((GRACE + 30)) ready_is n1 Unknown || fail "n1 still $(k get node n1 -o wide)"
	t1=$(date +%s)
	echo "Ready=Unknown $((t1 - t0)) s after the agent stopped (grace ${GRACE} s)" >&2
	[ $((t1 - t0)) -ge $((GRACE - 10)) ] || fail "Unknown after $((t1 - t0)) s, before the grace period"
	# Started again: the same certificates, no new join, Ready again.
	agent_start n1 "$nodedir"
	wait_for 30 ready_is n1 True || fail "n1 not Ready after the restart: $(tail -5 "$nodedir.log")"
	assert_eq "$(md5sum "$nodedir/client.crt" "$nodedir/serving.crt")" "$sum" "certificates changed"
	assert_contains "$(cat "$nodedir.log")" "reusing the certificates in $nodedir"
	assert_eq "$(grep -c 'client certificate issued' "$DATA.log")" 1 "joins seen by the server"
	# The node's kubeconfig works as --kubeconfig too (no token at all).
	kill_tree "$AGENT"
	lease=$(renew_time n1)
	bg_ns node AGENT "$BIN/skiff-agent" --kubeconfig "$nodedir/kubeconfig" --node-name n1 \
		--data-dir "$nodedir" --proxy-mode nftables --nft-table "skiff-kn-$RUN_ID" \
		>>"$nodedir.log" 2>&1
	wait_for 15 renewed_since n1 "$lease" ||
		fail "no Lease renewal with --kubeconfig: $(tail -5 "$nodedir.log")"
	# Another name in the same data dir joins again, for that name.
	kill_tree "$AGENT"
	agent_start n2 "$nodedir"
	wait_for 20 ready_is n2 True || fail "node n2 never Ready: $(tail -5 "$nodedir.log")"
	assert_eq "$(openssl x509 -in "$nodedir/client.crt" -noout -subject)" \
		"subject=O = system:nodes, CN = system:node:n2"
}

# With containerd: the runtime's version in nodeInfo, the agent's CNI
# config used by containerd for a sandbox (an address from the podCIDR),
# and Ready=False while the runtime is down.
case_runtime_and_cni_with_containerd() {
	local nodedir=$TMP/agent-ctrd j cidr out pod
	for c in containerd containerd-shim-runc-v2 runc ctr nsenter unshare; do
		command -v "$c" >/dev/null || skip_case "needs $c"
	done
	[ -x "$TESTBIN/cri-tool" ] && [ -x "$BIN/skiff-cni" ] && [ -x "$BIN/skiff-ipam" ] ||
		skip_case "needs cri-tool, skiff-cni and skiff-ipam (make test-bins)"
	[ -f "$SKIFF_BUILD/images/pause.tar" ] || skip_case "needs the pause image (make images)"
	guard_ranges 10.244.0.0/16
	case_setup ctrd
	# containerd needs a CNI config to start: a first one on a subnet of
	# its own; the agent's (from the Node's podCIDR) replaces it, and the
	# case checks that the sandbox got an address from the podCIDR.
	printf '{"cniVersion":"1.0.0","name":"skiff","plugins":[{"type":"skiff-cni","ipam":{"type":"skiff-ipam","ranges":[[{"subnet":"10.244.255.0/24"}]],"dataDir":"%s"}}]}\n' \
		"$TMP/ipam" >"$TMP/initial.conflist"
	ctrd_start node "$TMP/initial.conflist"
	ctrd_import "$SKIFF_BUILD/images/pause.tar"
	CNI_DIR=$CTRD_DIR/cni-conf agent_start n1 "$nodedir" --container-runtime-endpoint "$CTRD_SOCK" \
		--cni-ipam-data-dir "$TMP/ipam"
	wait_for 20 ready_is n1 True || fail "node n1 never Ready: $(tail -5 "$nodedir.log")"
	j=$(node_json n1)
	[[ $(jq -r .status.nodeInfo.containerRuntimeVersion <<<"$j") =~ ^containerd://1\.[0-9]+ ]] ||
		fail "containerRuntimeVersion: $(jq -c .status.nodeInfo <<<"$j")"
	cidr=$(jq -r .spec.podCIDR <<<"$j")
	wait_for 10 grep -q "\"$cidr\"" "$CTRD_DIR/cni-conf/10-skiff.conflist" ||
		fail "the CNI config lacks $cidr: $(cat "$CTRD_DIR/cni-conf/10-skiff.conflist")"
	cat >"$TMP/pod.json" <<-JSON
	{"metadata": {"name": "p1", "namespace": "default", "uid": "uid-$RUN_ID-p1"},
	 "hostname": "p1", "log_directory": "$TMP/logs/p1",
	 "linux": {"cgroup_parent": "$CTRD_CGROUP_PARENT"}}
	JSON
	sleep 1 # containerd reloads its CNI folder on a change
	pod=$(cri runp "$TMP/pod.json" 2>&1) || fail "runp: $pod"
	out=$(cri inspectp "$pod")
	assert_contains "$out" "\"ip\": \"${cidr%.0/24}."
	# The runtime goes away: the node is not Ready, and says why.
	ctrd_stop
	wait_for 25 ready_is n1 False || fail "n1 still Ready with containerd stopped"
	assert_contains "$(k get node n1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')" \
		"container runtime is down"
}

run_case join_registers_node
run_case wrong_token_refused
run_case node_authorizer
run_case restart_reuses_and_unknown_after_grace
run_case runtime_and_cni_with_containerd
finish
