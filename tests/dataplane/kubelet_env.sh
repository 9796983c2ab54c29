# The kubelet tests' node (sourced by tests/dataplane/test_kubelet_*.sh
# after tests/harness/lib.sh): the test's own containerd with skiff-cni
# and the local pause and busybox images, skiff-server and kubectl in one
# node namespace, and helpers to start skiff-agent as the node's kubelet
# and to make and read pods.
#
# Set before sourcing: SUBNET_PREFIX (the pods' /24, one per test file),
# KUBELET_SERVER_FLAGS (skiff-server's flags; default no controllers and
# no scheduler: pods name their node, as the scheduler would bind them),
# KUBELET_API=1 (the agent serves the kubelet API, so kubectl logs and top
# reach it).
. "$SKIFF_ROOT/tests/dataplane/containerd.sh"

require_root
require_cmd containerd containerd-shim-runc-v2 runc ctr nsenter unshare curl
require_bin cri-tool skiff-cni skiff-ipam skiff-agent skiff-server
require_kubectl

SUBNET_PREFIX=${SUBNET_PREFIX:-10.67.0}
SUBNET=$SUBNET_PREFIX.0/24
# the node's address (on the node namespace's loopback) for hostPorts
guard_ranges "$SUBNET" 192.0.2.10/32

IMAGES="$SKIFF_BUILD/images"
if [ ! -f "$IMAGES/busybox.tar" ]; then
	make -C "$SKIFF_ROOT" --no-print-directory O="$SKIFF_BUILD" images >/dev/null 2>&1 ||
		skip "cannot build the local images (make images)"
fi
BUSYBOX=skiff.local/busybox:1.35
NODE=node-$RUN_ID

defer ctrd_cgroup_cleanup
setup_ns node
in_node() { nsenter --net="/run/netns/$(ns node)" "$@"; }

cat >"$TMP/conflist" <<JSON
{"cniVersion": "1.0.0", "name": "skiff-$RUN_ID", "plugins": [
  {"type": "skiff-cni", "mtu": 1400,
   "ipam": {"type": "skiff-ipam", "ranges": [[{"subnet": "$SUBNET"}]], "dataDir": "$TMP/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
# The kubelet's --root-dir is a shared mount (as upstream's kubelet makes
# it), before containerd's private mount namespace copies it: a memory
# emptyDir the agent mounts there reaches the containers.
mkdir -p "$TMP/kubelet"
mount --bind "$TMP/kubelet" "$TMP/kubelet" || fail "cannot bind-mount the root dir"
defer "umount -l '$TMP/kubelet'"
mount --make-rshared "$TMP/kubelet" || fail "cannot make the root dir shared"
ctrd_start node "$TMP/conflist"
ctrd_import "$IMAGES/pause.tar"
ctrd_import "$IMAGES/busybox.tar"

# ---- the server (in the node namespace) and kubectl ------------------------

DATA="$TMP/data"
SLOG="$TMP/server.log"
nodebin="$TMP/nodebin"
mkdir -p "$nodebin"
printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$(ns node)" "$BIN/skiff-server" \
	>"$nodebin/skiff-server"
chmod +x "$nodebin/skiff-server"
curl() { in_node "$(type -P curl)" "$@"; }
BIN=$nodebin start_skiff_server "$DATA" "$SLOG" tls ${KUBELET_SERVER_FLAGS:---controllers none --no-scheduler}
unset -f curl

k() { in_node "$KDIR/kubectl.1.33" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/kcache" "$@"; }
kapply() { k apply -f - >/dev/null || fail "kubectl apply failed"; }
# The Node object (the joining work registers it; here the test does): a
# pod bound to an existing node waits for its kubelet when deleted.
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s}\n' "$NODE" | kapply
# what every pod's service-account volume reads, when the server runs the
# controllers that make it
if [[ "${KUBELET_SERVER_FLAGS:-}" == *root-ca-cert-publisher* ]]; then
	wait_for 30 eval 'k get sa default >/dev/null 2>&1 && k get cm kube-root-ca.crt >/dev/null 2>&1' ||
		fail "no default ServiceAccount or kube-root-ca.crt: $(tail -5 "$SLOG")"
	assert_eq "$(k get cm kube-root-ca.crt -o 'jsonpath={.data.ca\.crt}')" "$(cat "$DATA/tls/ca.crt")"
fi

# The kubelet API: a serving certificate from the cluster CA, at the Node's
# InternalIP (--node-ip), where the server reaches it.
if [ -n "${KUBELET_API:-}" ]; then
	kubelet_serving_cert "$NODE" 192.0.2.10
	KUBELET_AGENT_FLAGS+=" --tls-cert-file $TMP/kubelet.crt --tls-private-key-file $TMP/kubelet.key"
	KUBELET_AGENT_FLAGS+=" --client-ca-file $DATA/tls/ca.crt"
	in_node ip addr add 192.0.2.10/32 dev lo || fail "cannot add the node address"
fi

# jp POD JSONPATH: one field of a pod.
jp() { k get pod "$1" -o "jsonpath=$2" 2>/dev/null; }

# ---- the agent ----------------------------------------------------------------

ALOG="$TMP/agent.log"
[ -n "${KUBELET_KEEP_LOG:-}" ] && defer "cp '$ALOG' '$KUBELET_KEEP_LOG'"
AGENT=
# agent_start: skiff-agent as the node's kubelet (and its proxy, in
# nftables mode in the node namespace), with KUBELET_AGENT_FLAGS added;
# waits until it listed its pods.
# Each case starts its own (agent_up), so a case's cleanup stops it.
agent_start() {
	local n
	n=$(grep -c "pods bound here" "$ALOG" 2>/dev/null)
	( exec nsenter --net="/run/netns/$(ns node)" "$BIN/skiff-agent" \
		--kubeconfig "$DATA/kubeconfig" --node-name "$NODE" --node-ip 192.0.2.10 \
		--proxy-mode nftables --nft-table "skiff-$RUN_ID" --log-level debug \
		--container-runtime-endpoint "unix:$CTRD_SOCK" --pod-log-root "$TMP/logs" \
		--root-dir "$TMP/kubelet" --cgroup-root "$CTRD_CGROUP_PARENT" ${KUBELET_AGENT_FLAGS:-} ) >>"$ALOG" 2>&1 &
	AGENT=$!
	wait_for 30 eval '[ "$(grep -c "pods bound here" "$ALOG")" -gt '"${n:-0}"' ]' ||
		fail "kubelet never synced: $(tail -5 "$ALOG")"
}
agent_kill() { [ -n "$AGENT" ] && { kill -9 "$AGENT"; wait "$AGENT"; } 2>/dev/null; AGENT=; }
agent_up() { defer agent_kill; agent_start; }

# pod NAME [SPEC_LINE...]: a pod bound to the node (YAML lines of its spec,
# indented by two spaces, after nodeName); POD_LABELS="k: v" labels it.
pod() {
	local name=$1
	shift
	{
		local labels=""
		[ -n "${POD_LABELS:-}" ] && labels=", labels: {$POD_LABELS}"
		printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s%s}\nspec:\n  nodeName: %s\n' \
			"$name" "$labels" "$NODE"
		printf '  %s\n' "$@"
	} | kapply
}
# sh_container NAME SCRIPT [FIELD...]: a busybox container line running
# SCRIPT, with more fields ("env: [...]").
sh_container() {
	local extra=""
	[ $# -gt 2 ] && extra=$(printf ', %s' "${@:3}")
	printf -- '- {name: %s, image: %s, command: [sh, -c, "%s"]%s}' "$1" "$BUSYBOX" "$2" "$extra"
}

# waiting_is POD REASON: its first container waits for REASON.
waiting_is() { [ "$(jp "$1" '{.status.containerStatuses[0].state.waiting.reason}')" = "$2" ]; }
restarts_at_least() {
	local n
	n=$(jp "$1" '{.status.containerStatuses[0].restartCount}')
	[ "${n:-0}" -ge "$2" ]
}
# events POD FIELD: the reasons (or messages) of the pod's events.
events() {
	k get events --field-selector "involvedObject.name=$1" -o "jsonpath={.items[*].$2}" 2>&1
}
phase_is() { [ "$(jp "$1" '{.status.phase}')" = "$2" ]; }
ready() { [ "$(jp "$1" '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
# pod_log POD CONTAINER [ATTEMPT]: the CRI log file of one container instance.
pod_log() {
	local uid
	uid=$(jp "$1" '{.metadata.uid}')
	cat "$TMP/logs/default_$1_$uid/$2/${3:-0}.log" 2>/dev/null
}
# gone POD: the pod object is deleted (by the kubelet, after stopping it).
gone() { ! k get pod "$1" >/dev/null 2>&1; }
delete_pod() {
	k delete pod "$1" --wait=false >/dev/null
	wait_for 60 gone "$1" || fail "$1 not deleted"
}
# sandboxes_of UID: how many sandboxes the runtime holds for pod UID.
sandboxes_of() { cri pods 2>/dev/null | grep -c "\"io.kubernetes.pod.uid\": *\"$1\"" ; }
epoch() { date -d "$1" +%s; }
# field_env NAME=FIELDPATH...: an env field of fieldRefs.
field_env() {
	local e out=""
	for e in "$@"; do
		out+="${out:+, }{name: ${e%%=*}, valueFrom: {fieldRef: {fieldPath: ${e#*=}}}}"
	done
	echo "env: [$out]"
}

