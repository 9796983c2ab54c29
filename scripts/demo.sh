#!/usr/bin/env bash
# skiff demo (make demo): the README's first kubectl session, run against a
# fresh cluster of its own.
#
# Brings up a 2-node cluster with `skiff up` (its own data dir, name,
# bridge and port, so a cluster of `make up` is left alone), runs each step
# of the README's walkthrough showing its command and output, and ends with
# `skiff down --purge`, also on a failed step or Ctrl-C.
#
# Environment: SKIFF_BUILD (build folder, default build), KUBECTL (default
# kubectl), DEMO_NODES (default 2).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SKIFF_BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
SKIFF="$BUILD/bin/skiff"
KUBECTL=${KUBECTL:-kubectl}
NODES=${DEMO_NODES:-2}
IMAGE=skiff.local/busybox:1.35

die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
# show CMD...: prints the command as a reader would type it, then runs it.
show() {
	local a line=""
	for a in "$@"; do
		if [[ $a =~ ^[][A-Za-z0-9_./:=,@%+{}-]+$ ]]; then line+=" $a"; else line+=" '$a'"; fi
	done
	printf '\033[36m$%s\033[0m\n' "$line"
	"$@" 2>&1 | sed 's/^/    /'
	return "${PIPESTATUS[0]}"
}
# The walkthrough's kubectl, without the demo's own kubeconfig in sight.
kubectl() { command "$KUBECTL" --kubeconfig "$DATA/kubeconfig" "$@"; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, containerd)"
[ -x "$SKIFF" ] || die "$SKIFF not built (run make)"
[ -f "$BUILD/images/busybox.tar" ] || die "no local images in $BUILD/images (run make images)"
for c in "$KUBECTL" curl containerd; do
	command -v "$c" >/dev/null || die "needs $c (run scripts/deps.sh)"
done

# A bridge /24 and a name no other cluster on this machine uses.
ID=$(printf '%04x' $(( $$ & 0xffff )))
NAME="demo$ID"
NET=""
for third in $(seq 200 239); do
	if ! ip -4 addr show | grep -q "inet 172\.31\.$third\." &&
	   [ -z "$(ip -4 route show 172.31.$third.0/24)" ]; then
		NET="172.31.$third"
		break
	fi
done
[ -n "$NET" ] || die "no free 172.31.200-239.0/24 for the nodes' bridge"
DATA=$(mktemp -d /tmp/skiff-demo-XXXXXX)
PF_PID=""

cleanup() {
	local rc=$?
	set +e
	[ "$rc" -eq 0 ] || printf '\ndemo: stopped (exit %d); removing the cluster\n' "$rc" >&2
	[ -n "$PF_PID" ] && kill "$PF_PID" 2>/dev/null && wait "$PF_PID" 2>/dev/null
	step "skiff down --purge: the cluster and everything it made go away"
	"$SKIFF" down --data-dir "$DATA" --purge 2>&1 | sed 's/^/    /'
	rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "skiff up --nodes $NODES (data dir $DATA, bridge $NET.0/24)"
show "$SKIFF" up --data-dir "$DATA" --name "$NAME" --bridge-net "$NET" --nodes "$NODES"
show kubectl get nodes -o wide

step "a Deployment of two web servers; each page names the pod that served it"
show kubectl create deployment web --image="$IMAGE" --replicas=2 --port=80 -- \
	sh -c 'mkdir -p /www && echo "${GREETING:-hello} from $(hostname)" >/www/index.html && exec httpd -f -v -p 80 -h /www'
show kubectl rollout status deployment/web --timeout=120s
show kubectl get pods -o wide

step "expose it as a ClusterIP Service; a client pod reaches it by name"
show kubectl expose deployment web --port=80
show kubectl run client --image="$IMAGE" -- sleep 3600
show kubectl wait --for=condition=Ready pod/client --timeout=120s
show kubectl exec client -- sh -c 'for i in 1 2 3 4; do printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 web 80 | tail -n 1; done'
show kubectl exec client -- nslookup web.default.svc.cluster.local

step "NodePort: the Service on every node's address, from this machine"
show kubectl expose deployment web --name=web-np --type=NodePort --port=80
show kubectl get service web-np
node_port=$(kubectl get service web-np -o 'jsonpath={.spec.ports[0].nodePort}')
for ip in $(kubectl get nodes -o 'jsonpath={.items[*].status.addresses[?(@.type=="InternalIP")].address}'); do
	show curl -sS -m 5 "http://$ip:$node_port/"
done

step "LoadBalancer: an EXTERNAL-IP from the cluster's address pool"
show kubectl expose deployment web --name=web-lb --type=LoadBalancer --port=80
lb_ip="" deadline=$(( SECONDS + 5 ))
while [ -z "$lb_ip" ] && [ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
	lb_ip=$(kubectl get service web-lb -o 'jsonpath={.status.loadBalancer.ingress[0].ip}')
done
show kubectl get service web-lb
if [ -n "$lb_ip" ]; then
	show curl -sS -m 5 "http://$lb_ip/"
else
	echo "    (no EXTERNAL-IP: this skiff up gives LoadBalancers no address pool)"
fi

step "scale to 4: the Service's endpoints follow"
show kubectl scale deployment web --replicas=4
show kubectl rollout status deployment/web --timeout=120s
show kubectl get endpoints web

step "a rolling update (set env), then a bad image (set image), then undo"
show kubectl set env deployment/web GREETING=hola
show kubectl rollout status deployment/web --timeout=120s
show kubectl exec client -- sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 web 80 | tail -n 1'
show kubectl set image deployment/web busybox=skiff.local/busybox:9.9
# There is no 9.9: the new pods stay in ErrImagePull, the old ones serve on.
show kubectl rollout status deployment/web --timeout=15s || true
show kubectl get pods
show kubectl rollout history deployment/web
show kubectl rollout undo deployment/web
show kubectl rollout status deployment/web --timeout=120s
show kubectl get deployment web -o 'jsonpath={.spec.template.spec.containers[0].image}{"\n"}'

step "logs, exec, port-forward, describe, events"
show kubectl exec deployment/web -- sh -c 'hostname; cat /www/index.html'
pf_port=$(( 20000 + RANDOM % 20000 ))
printf '\033[36m$ %s\033[0m\n' "kubectl port-forward service/web $pf_port:80 &"
kubectl port-forward service/web "$pf_port:80" >"$DATA/port-forward.log" 2>&1 &
PF_PID=$!
for _ in $(seq 100); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$pf_port/" && break; sleep 0.1; done
show curl -sS -m 5 "http://127.0.0.1:$pf_port/"
kill "$PF_PID"; wait "$PF_PID" 2>/dev/null || true; PF_PID=""
show kubectl logs deployment/web --tail=2
show kubectl describe deployment web
show kubectl get events --sort-by=.lastTimestamp

step "a Job runs to completion"
show kubectl create job hello --image="$IMAGE" -- sh -c 'echo "the job ran on $(hostname)"'
show kubectl wait --for=condition=complete job/hello --timeout=120s
show kubectl get jobs
show kubectl logs job/hello

step "a ConfigMap and a Secret, as environment and files in a pod"
show kubectl create configmap web-config --from-literal=greeting=hola --from-literal=color=blue
show kubectl create secret generic web-secret --from-literal=password=s3cr3t
printf '\033[36m$ kubectl apply -f - <<EOF\033[0m\n'
grep -v '^#' "$ROOT/scripts/config-demo.yaml" | sed 's/^/    /'
printf '\033[36m    EOF\033[0m\n'
grep -v '^#' "$ROOT/scripts/config-demo.yaml" | kubectl apply -f - 2>&1 | sed 's/^/    /'
show kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/config-demo --timeout=120s
show kubectl logs config-demo

step "delete what the walkthrough made"
show kubectl delete deployment web
show kubectl delete service web web-np web-lb
show kubectl delete job hello
show kubectl delete pod client config-demo --wait=false
show kubectl delete configmap/web-config secret/web-secret
show kubectl get all

step "the walkthrough passed"
