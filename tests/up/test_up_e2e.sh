#!/usr/bin/env bash
# The README's walkthrough on `skiff up --nodes 2`, with the answers
# checked: a Deployment spreads over both nodes and each page names the pod
# and node that served it; ClusterIP by DNS name from pods on both nodes;
# the API from pods through 10.96.0.1:443; endpoints follow scaling and
# readiness; NodePort answers on both nodes' addresses from the machine;
# LoadBalancer (when up gives a pool); a rolling update, a bad image and
# rollout undo; logs, exec, port-forward, describe, events; a Job; a
# ConfigMap and a Secret in a pod; delete.
# One cluster for the file: the cases follow each other like the
# walkthrough's steps.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/up_lib.sh"
up_require

case_deployment_answers_from_both_nodes() {
	web_yaml 2 | k apply -f - >/dev/null || fail "kubectl apply web failed"
	wait_ready_replicas web 2 || fail "web never had 2 Ready replicas: $(k get pods -o wide 2>&1)"
	assert_eq "$(k get pods -l app=web -o 'jsonpath={.items[*].spec.nodeName}' | tr ' ' '\n' | sort -u | xargs)" \
		"n1 n2" "nodes the scheduler spread web over"
	client_pod c1 n1
	client_pod c2 n2
	local c out pods
	pods=$(pod_nodes web)
	for c in c1 c2; do
		out=$(ask "$c" web 16) || fail "$c could not reach web: $out"
		# every answer is "GREETING POD NODE" of a web pod, on its node
		check_answers "$out" "$pods" "$c"
		assert_eq "$(echo "$out" | awk '{ print $3 }' | sort -u | xargs)" "n1 n2" "nodes that answered $c: $out"
	done
}

case_dns_names_resolve_from_pods() {
	local cip c out
	cip=$(k get svc web -o 'jsonpath={.spec.clusterIP}')
	for c in c1 c2; do
		out=$(k exec "$c" -- nslookup web.default.svc.cluster.local 2>&1) || fail "nslookup on $c: $out"
		assert_contains "$out" "Address: $cip" "web.default.svc.cluster.local from $c"
		out=$(k exec "$c" -- nslookup kubernetes.default.svc.cluster.local 2>&1) ||
			fail "nslookup kubernetes on $c: $out"
		assert_contains "$out" "Address: 10.96.0.1" "kubernetes.default from $c"
		out=$(k exec "$c" -- nslookup nothere.default.svc.cluster.local 2>&1) &&
			fail "a name of no Service resolved on $c: $out"
		assert_contains "$out" "NXDOMAIN" "nothere.default from $c"
	done
	# the short name, through the pod's search path
	out=$(k exec c1 -- sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 web.default 80 | tail -n 1') ||
		fail "web.default from c1: $out"
	assert_contains "$out" "hello web-"
}

# The API from pods: default/kubernetes's endpoint is the server on the
# bridge (port 443 to its secure port), and pods on both nodes connect to
# 10.96.0.1:443 through the proxy (a TCP connect: busybox has no TLS
# client this server's handshake accepts).
case_pods_reach_the_api_through_the_kubernetes_service() {
	local c
	within 30 eval '[ "$(k get endpointslice kubernetes -o "jsonpath={.endpoints[*].addresses[*]}:{.ports[0].port}")" = "$BRIDGE.1:$PORT" ]' ||
		fail "kubernetes's EndpointSlice: $(k get endpointslice kubernetes -o yaml 2>&1)"
	for c in c1 c2; do
		within 30 k exec "$c" -- nc -w 3 10.96.0.1 443 </dev/null ||
			fail "$c could not connect to 10.96.0.1:443: $(k exec "$c" -- nc -w 3 10.96.0.1 443 </dev/null 2>&1)"
	done
}

case_endpoints_follow_scaling_and_readiness() {
	local victim vip out
	k scale deployment web --replicas=4 >/dev/null || fail "kubectl scale failed"
	wait_ready_replicas web 4 || fail "web never had 4 Ready replicas: $(k get pods -o wide 2>&1)"
	within 30 endpoints_are_ready_pods web ||
		fail "endpoints $(ready_endpoints web) are not the ready pods $(ready_pod_ips web)"
	assert_eq "$(ready_endpoints web | wc -w)" 4 "endpoints after scaling to 4"

	# a pod failing its readiness probe leaves the endpoints, and serves no one
	victim=$(k get pods -l app=web -o 'jsonpath={.items[0].metadata.name}')
	vip=$(k get pod "$victim" -o 'jsonpath={.status.podIP}')
	k exec "$victim" -- rm /www/ready || fail "kubectl exec rm on $victim failed"
	within 30 count_is 3 ready_endpoints web ||
		fail "an unready pod stayed an endpoint: $(ready_endpoints web)"
	assert_not_contains " $(ready_endpoints web) " " $vip " "endpoints without the unready $victim"
	assert_contains "$(k get endpoints web -o 'jsonpath={.subsets[*].notReadyAddresses[*].ip}')" "$vip"
	out=$(ask c1 web 16) || fail "c1 could not reach web with one pod unready: $out"
	assert_not_contains "$out" "$victim" "answers while $victim is unready"
	k exec "$victim" -- sh -c ": >/www/ready" || fail "kubectl exec on $victim failed"
	within 30 count_is 4 ready_endpoints web ||
		fail "a pod ready again did not come back: $(ready_endpoints web)"

	k scale deployment web --replicas=2 >/dev/null || fail "kubectl scale failed"
	within 60 count_is 2 k get pods -l app=web -o name ||
		fail "scaled to 2, pods: $(k get pods -l app=web 2>&1)"
	within 30 endpoints_are_ready_pods web ||
		fail "after scaling down, endpoints $(ready_endpoints web) are not the pods $(ready_pod_ips web)"
	assert_eq "$(ready_endpoints web | wc -w)" 2 "endpoints after scaling to 2"
	# one event for the one scale-down, however often the Deployment
	# synced while its pods terminated
	out=$(k get events -o json | jq '[.items[] | select(.involvedObject.name == "web" and .reason == "ScalingReplicaSet") | select(.message | test("Scaled down replica set web-[a-z0-9]+ to 2 from 4$")) | .count] | add')
	assert_eq "$out" 1 "ScalingReplicaSet events (counts summed) for one scale-down"
}

case_nodeport_answers_on_both_nodes() {
	local port ip out all="" pods
	k expose deployment web --name=web-np --type=NodePort --port=80 >/dev/null || fail "expose NodePort failed"
	port=$(k get svc web-np -o 'jsonpath={.spec.ports[0].nodePort}')
	[ -n "$port" ] || fail "web-np has no nodePort"
	pods=$(pod_nodes web)
	for ip in $(node_ips); do
		within 20 curl -fsS -m 2 "http://$ip:$port/" || fail "NodePort $ip:$port never answered"
		out=$(curl_n 12 "http://$ip:$port/") || fail "NodePort on $ip: $out"
		check_answers "$out" "$pods" "NodePort on $ip"
		all+="$out"$'\n'
	done
	# each pod answered, wherever it runs: through either node's address
	assert_eq "$(echo "$all" | awk 'NF { print $2 }' | sort -u | xargs)" \
		"$(echo "$pods" | awk '{ print $1 }' | sort | xargs)" "pods that answered the NodePort: $all"
}

case_loadbalancer_answers_from_the_machine() {
	local ip="" deadline out
	k expose deployment web --name=web-lb --type=LoadBalancer --port=80 >/dev/null ||
		fail "expose LoadBalancer failed"
	deadline=$(( SECONDS + 5 ))
	while [ -z "$ip" ] && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.2
		ip=$(k get svc web-lb -o 'jsonpath={.status.loadBalancer.ingress[0].ip}')
	done
	[ -n "$ip" ] || skip_case "the LoadBalancer Service got no EXTERNAL-IP in 5 s (skiff up gives no address pool)"
	within 20 curl -fsS -m 2 "http://$ip/" || fail "LoadBalancer $ip never answered"
	out=$(curl_n 8 "http://$ip/") || fail "LoadBalancer $ip: $out"
	check_answers "$out" "$(pod_nodes web)" "LoadBalancer $ip"
}

pull_failing() {
	k get pods -l app=web -o 'jsonpath={.items[*].status.containerStatuses[*].state.waiting.reason}' |
		grep -Eq 'ErrImagePull|ImagePullBackOff'
}

case_rolling_update_bad_image_and_undo() {
	local out old_rs
	k set env deployment/web GREETING=hola >/dev/null || fail "kubectl set env failed"
	out=$(k rollout status deployment/web --timeout=120s 2>&1) || fail "rollout of GREETING=hola: $out"
	within 30 eval 'count_is 2 ready_endpoints web && endpoints_are_ready_pods web' ||
		fail "endpoints after the rollout: $(ready_endpoints web), pods $(ready_pod_ips web)"
	out=$(ask c2 web 8) || fail "c2 after the rollout: $out"
	check_answers "$out" "$(pod_nodes web)" "c2 after the rollout"
	assert_eq "$(echo "$out" | awk '{ print $1 }' | sort -u)" hola "greetings after set env"
	old_rs=$(k get rs -l app=web -o 'jsonpath={.items[?(@.spec.replicas==2)].metadata.name}')

	# an image no node has: the new pods stay in ErrImagePull, the old serve on
	k set image deployment/web web=skiff.local/busybox:9.9 >/dev/null || fail "kubectl set image failed"
	within 60 pull_failing ||
		fail "no pod waits in ErrImagePull: $(k get pods -o wide 2>&1)"
	out=$(k rollout status deployment/web --timeout=2s 2>&1) && fail "a rollout to a missing image completed: $out"
	out=$(ask c1 web 8) || fail "c1 while the rollout is stuck: $out"
	assert_eq "$(echo "$out" | awk '{ print $1 }' | sort -u)" hola "answers while the rollout is stuck"
	out=$(k rollout history deployment/web 2>&1) || fail "rollout history: $out"
	assert_eq "$(echo "$out" | awk '$1 ~ /^[0-9]+$/' | wc -l)" 3 "revisions: $out"

	k rollout undo deployment/web >/dev/null || fail "kubectl rollout undo failed"
	out=$(k rollout status deployment/web --timeout=120s 2>&1) || fail "rollout after undo: $out"
	assert_eq "$(k get deploy web -o 'jsonpath={.spec.template.spec.containers[0].image}')" \
		skiff.local/busybox:1.35 "image after undo"
	within 60 count_is 2 k get pods -l app=web -o name ||
		fail "pods after undo: $(k get pods -l app=web 2>&1)"
	assert_eq "$(k get pods -l app=web -o 'jsonpath={.items[*].status.containerStatuses[*].image}' | tr ' ' '\n' | sort -u)" \
		skiff.local/busybox:1.35 "images the pods run after undo"
	assert_eq "$(k get pods -l app=web -o 'jsonpath={.items[*].metadata.labels.pod-template-hash}' | tr ' ' '\n' | sort -u)" \
		"$(k get rs "$old_rs" -o 'jsonpath={.metadata.labels.pod-template-hash}')" "undo brings back the ReplicaSet $old_rs"
}

case_logs_exec_port_forward() {
	local pod pip out port pf c1ip
	pod=$(k get pods -l app=web -o 'jsonpath={.items[0].metadata.name}')
	pip=$(k get pod "$pod" -o 'jsonpath={.status.podIP}')
	assert_eq "$(k exec "$pod" -- hostname)" "$pod" "hostname by exec"
	out=$(k exec "$pod" -- sh -c 'echo exec-$$ >/tmp/mark; cat /tmp/mark') || fail "exec: $out"
	[[ $out =~ ^exec-[0-9]+$ ]] || fail "exec wrote and read back '$out'"
	k exec "$pod" -- sh -c 'exit 7'
	assert_eq "$?" 7 "exit status through exec"

	# logs: httpd -v logs each request with its client's address
	k exec c1 -- sh -c "printf 'GET /from-c1 HTTP/1.0\r\n\r\n' | nc -w 3 $pip 80" >/dev/null ||
		fail "c1 could not reach $pod at $pip"
	c1ip=$(k get pod c1 -o 'jsonpath={.status.podIP}')
	within 10 eval 'k logs "$pod" | grep -q "$c1ip\]:[0-9]*: url:/from-c1"' ||
		fail "the logs of $pod lack c1's request: $(k logs "$pod" --tail=5 2>&1)"

	port=$(free_port)
	k port-forward service/web "$port:80" >"$TMP/pf.log" 2>&1 &
	pf=$!
	defer "kill $pf"
	within 20 curl -fsS -m 2 "http://127.0.0.1:$port/" || fail "port-forward never answered: $(cat "$TMP/pf.log")"
	out=$(curl -fsS -m 5 "http://127.0.0.1:$port/") || fail "port-forward: $out"
	check_answers "$out" "$(pod_nodes web)" "port-forward"

	out=$(k describe deployment web 2>&1) || fail "describe: $out"
	assert_contains "$out" "Image:      skiff.local/busybox:1.35"
	assert_contains "$out" "ScalingReplicaSet"
	out=$(k get events --field-selector "involvedObject.name=$pod" 2>&1) || fail "get events: $out"
	assert_contains "$out" "Successfully assigned default/$pod to n"
	assert_contains "$out" "Started container web"
	out=$(k get events --field-selector involvedObject.kind=ReplicaSet 2>&1) || fail "get events: $out"
	assert_contains "$out" "replicaset/web-" "the OBJECT column of a ReplicaSet's events"
}

case_job_runs_to_completion() {
	local out pod
	k create job hello --image=skiff.local/busybox:1.35 -- sh -c 'echo "the job ran on $(hostname)"' >/dev/null ||
		fail "kubectl create job failed"
	out=$(k wait --for=condition=complete job/hello --timeout=120s 2>&1) || fail "job: $out $(k get pods 2>&1)"
	assert_eq "$(k get job hello -o 'jsonpath={.status.succeeded}')" 1 "succeeded pods"
	pod=$(k get pods -l job-name=hello -o 'jsonpath={.items[*].metadata.name}')
	assert_eq "$(echo "$pod" | wc -w)" 1 "pods of the job: $pod"
	assert_eq "$(k logs job/hello 2>/dev/null)" "the job ran on $pod" "kubectl logs job/hello"
}

case_configmap_and_secret_reach_the_pod() {
	local out
	k create configmap web-config --from-literal=greeting=hola --from-literal=color=blue >/dev/null ||
		fail "create configmap failed"
	k create secret generic web-secret --from-literal=password=s3cr3t >/dev/null || fail "create secret failed"
	k apply -f "$SKIFF_ROOT/scripts/config-demo.yaml" >/dev/null || fail "apply config-demo failed"
	within 120 eval '[ "$(k get pod config-demo -o "jsonpath={.status.phase}")" = Succeeded ]' ||
		fail "config-demo did not succeed: $(k get pod config-demo -o wide 2>&1)"
	assert_eq "$(k logs config-demo)" "greeting=hola color=blue password=s3cr3t" "what config-demo saw"
}

case_delete_removes_pods_and_endpoints() {
	k delete deployment web >/dev/null || fail "delete deployment failed"
	within 90 count_is 0 k get pods -l app=web -o name ||
		fail "web's pods outlived their Deployment: $(k get pods -l app=web 2>&1)"
	within 30 count_is 0 ready_endpoints web || fail "web kept endpoints: $(ready_endpoints web)"
	k delete service web web-np web-lb --ignore-not-found >/dev/null || fail "delete services failed"
	k delete job hello >/dev/null || fail "delete job failed"
	k delete pod c1 c2 config-demo --wait=false >/dev/null || fail "delete pods failed"
	k delete configmap/web-config secret/web-secret >/dev/null || fail "delete configmap, secret failed"
	within 90 count_is 0 k get pods -o name || fail "pods left: $(k get pods 2>&1)"
	assert_eq "$(k get svc -o name)" "service/kubernetes" "services left"
}

up_start 2
run_case deployment_answers_from_both_nodes
run_case dns_names_resolve_from_pods
run_case pods_reach_the_api_through_the_kubernetes_service
run_case endpoints_follow_scaling_and_readiness
run_case nodeport_answers_on_both_nodes
run_case loadbalancer_answers_from_the_machine
run_case rolling_update_bad_image_and_undo
run_case logs_exec_port_forward
run_case job_runs_to_completion
run_case configmap_and_secret_reach_the_pod
run_case delete_removes_pods_and_endpoints
up_stop
finish
