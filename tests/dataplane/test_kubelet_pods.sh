#!/usr/bin/env bash
# The kubelet's pod lifecycle (issue 11): skiff-agent
# --container-runtime-endpoint runs the pods bound to its node under the
# test's own containerd (skiff-cni addresses, the local pause and busybox
# images), reports their status to the test's skiff-server, and is driven
# with the real kubectl: Running/Ready with a podIP, containers of a pod
# on one localhost, init containers in order, restart policies and exit
# reasons, the CrashLoopBackOff schedule (measured), graceful deletion,
# adoption after SIGKILL, a missing image and a malformed spec; env from
# every source and every volume kind, the service-account token accepted
# by the server, a configMap change reaching its file.
#
# containerd, skiff-server and skiff-agent run in one node namespace; the
# pods' cgroups go under the test's cgroup tree (--cgroup-root), logs and
# per-pod files under $TMP. The server runs no scheduler and only the
# controllers a pod's service-account volume needs (the default
# ServiceAccount, kube-root-ca.crt): pods name their node
# (spec.nodeName), as the scheduler would bind them.
. "$(dirname "$0")/../harness/lib.sh"
KUBELET_SERVER_FLAGS="--controllers serviceaccount,root-ca-cert-publisher --no-scheduler"
. "$SKIFF_ROOT/tests/dataplane/kubelet_env.sh"

# ---- cases ----------------------------------------------------------------------

case_pod_runs_ready() {
	agent_up
	local script='echo name=$POD_NAME ns=$POD_NS ip=$POD_IP node=$NODE host=$HOST_IP;
		cat /etc/resolv.conf; hostname; exec sleep 3600'
	local t0 t1
	t0=$(date +%s.%N)
	pod web "containers:" "$(sh_container c "${script//$'\n'/ }" "$(field_env POD_NAME=metadata.name \
		POD_NS=metadata.namespace POD_IP=status.podIP NODE=spec.nodeName HOST_IP=status.hostIP)")"
	wait_for 30 ready web || fail "web never Ready: $(jp web '{.status}')"
	t1=$(date +%s.%N)
	echo "web: created to Ready (seen by kubectl polls) in $(echo "$t1 - $t0" | bc)s" \
		"($(uptime | sed "s/.*load/load/"))"
	local ip uid log
	ip=$(jp web '{.status.podIP}')
	uid=$(jp web '{.metadata.uid}')
	assert_contains "$ip" "$SUBNET_PREFIX."
	assert_eq "$(jp web '{.status.phase}')" Running
	assert_eq "$(jp web '{.status.podIPs[0].ip}')" "$ip"
	assert_eq "$(jp web '{.status.hostIP}')" 192.0.2.10
	assert_eq "$(jp web '{.status.qosClass}')" BestEffort
	assert_contains "$(jp web '{.status.containerStatuses[0].containerID}')" "containerd://"
	assert_eq "$(jp web '{.status.containerStatuses[0].restartCount}')" 0
	assert_eq "$(jp web '{.status.containerStatuses[0].started}')" true
	assert_eq "$(jp web '{.status.conditions[?(@.type=="PodReadyToStartContainers")].status}')" True
	assert_eq "$(jp web '{.status.conditions[?(@.type=="Initialized")].status}')" True
	wait_for 10 eval 'pod_log web c | grep -q nameserver' || fail "no log: $(ls -R "$TMP/logs")"
	log=$(pod_log web c)
	assert_contains "$log" "name=web ns=default ip=$ip node=$NODE host=192.0.2.10"
	assert_contains "$log" "nameserver 10.96.0.10"
	assert_contains "$log" "search default.svc.cluster.local svc.cluster.local cluster.local"
	assert_contains "$log" "options ndots:5"
	assert_contains "$log" "F web"
	# the pod's cgroup, by QoS class, under the test's tree
	ls -d /sys/fs/cgroup/*"$CTRD_CGROUP_PARENT/kubepods/besteffort/pod$uid" >/dev/null 2>&1 ||
		fail "no cgroup kubepods/besteffort/pod$uid"
	assert_contains "$(events web reason)" "Pulled Created Started"
	delete_pod web
	assert_eq "$(sandboxes_of "$uid")" 0
	ls -d /sys/fs/cgroup/*"$CTRD_CGROUP_PARENT/kubepods/besteffort/pod$uid" 2>/dev/null &&
		fail "pod cgroup left behind"
	return 0
}

case_containers_share_localhost() {
	agent_up
	pod duo "containers:" \
		"$(sh_container server 'while true; do echo pong | nc -l -p 8080; done' \
			'ports: [{containerPort: 8080, hostPort: 18080}]')" \
		"$(sh_container client 'until echo ping | nc 127.0.0.1 8080; do sleep 0.2; done;
			exec sleep 3600' 'resources: {requests: {cpu: 100m, memory: 16Mi}}')"
	wait_for 30 ready duo || fail "duo never Ready: $(jp duo '{.status}')"
	wait_for 10 eval 'pod_log duo client | grep -q pong' ||
		fail "client got no pong: $(pod_log duo client)"
	assert_eq "$(jp duo '{.status.qosClass}')" Burstable
	# the hostPort (portmap, from the sandbox's port mappings) on the node's address
	in_node ip addr add 192.0.2.10/32 dev lo
	wait_for 10 eval 'echo hi | in_node nc -w 2 192.0.2.10 18080 | grep -q pong' ||
		fail "hostPort 18080 does not reach the server container"
	delete_pod duo
}

# securityContext (the pod's runAsUser, the container's runAsGroup over
# it, a read-only root, capabilities) and resources (Guaranteed: its own
# cgroup tier; the memory limit on the container's cgroup).
case_security_and_resources() {
	agent_up
	local script='id -u; id -g; touch /probe 2>/dev/null && echo rw || echo ro;
		grep CapBnd /proc/self/status; exec sleep 3600'
	pod sec "securityContext: {runAsUser: 1234, runAsGroup: 1111}" "containers:" \
		"$(sh_container c "${script//$'\n'/ }" 'securityContext: {runAsGroup: 2345,
			readOnlyRootFilesystem: true, capabilities: {drop: [ALL], add: [NET_ADMIN]}}' \
			'resources: {limits: {cpu: 200m, memory: 64Mi}}')"
	wait_for 30 ready sec || fail "sec never Ready: $(jp sec '{.status}')"
	wait_for 10 eval 'pod_log sec c | grep -q CapBnd' || fail "no log: $(pod_log sec c)"
	local log uid id lim mem
	log=$(pod_log sec c)
	assert_contains "$log" "F 1234"
	assert_contains "$log" "F 2345"
	assert_contains "$log" "F ro"
	assert_contains "$log" "CapBnd:	0000000000001000" # CAP_NET_ADMIN (12) alone
	assert_eq "$(jp sec '{.status.qosClass}')" Guaranteed
	uid=$(jp sec '{.metadata.uid}')
	id=$(jp sec '{.status.containerStatuses[0].containerID}')
	id=${id#containerd://}
	# the memory controller: cgroup v1 here (hybrid), else the v2 tree
	mem=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
	if [ -n "$mem" ]; then
		lim=$(cat "$mem$CTRD_CGROUP_PARENT/kubepods/pod$uid/$id/memory.limit_in_bytes")
	else
		mem=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
		lim=$(cat "$mem$CTRD_CGROUP_PARENT/kubepods/pod$uid/$id/memory.max")
	fi
	assert_eq "$lim" $(( 64 * 1024 * 1024 ))
	delete_pod sec
}

case_init_containers_in_order() {
	agent_up
	pod init "initContainers:" "$(sh_container one 'sleep 1')" "$(sh_container two 'sleep 1')" \
		"containers:" "$(sh_container app 'exec sleep 3600')"
	wait_for 30 ready init || fail "init never Ready: $(jp init '{.status}')"
	local f1 s2 f2 sa
	f1=$(epoch "$(jp init '{.status.initContainerStatuses[0].state.terminated.finishedAt}')")
	s2=$(epoch "$(jp init '{.status.initContainerStatuses[1].state.terminated.startedAt}')")
	f2=$(epoch "$(jp init '{.status.initContainerStatuses[1].state.terminated.finishedAt}')")
	sa=$(epoch "$(jp init '{.status.containerStatuses[0].state.running.startedAt}')")
	[ "$f1" -le "$s2" ] && [ "$f2" -le "$sa" ] ||
		fail "not in order: one ends $f1, two $s2-$f2, app $sa"
	assert_eq "$(jp init '{.status.initContainerStatuses[*].state.terminated.reason}')" \
		"Completed Completed"
	delete_pod init

	# a failing init container with restartPolicy Never fails the pod; the app never runs
	pod initfail "restartPolicy: Never" "initContainers:" "$(sh_container bad 'exit 7')" \
		"containers:" "$(sh_container app 'exec sleep 3600')"
	wait_for 30 phase_is initfail Failed || fail "initfail: $(jp initfail '{.status}')"
	assert_eq "$(jp initfail '{.status.initContainerStatuses[0].state.terminated.exitCode}')" 7
	assert_eq "$(jp initfail '{.status.containerStatuses[0].state.waiting.reason}')" PodInitializing
	delete_pod initfail
}

case_restart_policies() {
	agent_up
	pod never "restartPolicy: Never" "containers:" \
		"$(sh_container c 'echo bye-never > /dev/termination-log; exit 3')"
	pod onfail "restartPolicy: OnFailure" "containers:" "$(sh_container c 'exit 0')"
	pod onfail2 "restartPolicy: OnFailure" "containers:" "$(sh_container c 'sleep 1; exit 2')"
	wait_for 30 phase_is never Failed || fail "never: $(jp never '{.status}')"
	assert_eq "$(jp never '{.status.containerStatuses[0].state.terminated.exitCode}')" 3
	assert_eq "$(jp never '{.status.containerStatuses[0].state.terminated.reason}')" Error
	assert_eq "$(jp never '{.status.containerStatuses[0].state.terminated.message}')" "bye-never"
	assert_eq "$(jp never '{.status.containerStatuses[0].restartCount}')" 0
	wait_for 30 phase_is onfail Succeeded || fail "onfail: $(jp onfail '{.status}')"
	assert_eq "$(jp onfail '{.status.containerStatuses[0].state.terminated.reason}')" Completed
	assert_eq "$(jp onfail '{.status.conditions[?(@.type=="Ready")].reason}')" PodCompleted
	wait_for 30 restarts_at_least onfail2 1 ||
		fail "onfail2 never restarted: $(jp onfail2 '{.status}')"
	assert_eq "$(jp onfail2 '{.status.containerStatuses[0].lastState.terminated.exitCode}')" 2
	assert_eq "$(jp onfail2 '{.status.phase}')" Running
	delete_pod never
	delete_pod onfail
	delete_pod onfail2
}

# ns_of ID FIELD: a container's started_at or finished_at (ns), from CRI.
ns_of() { cri inspect "${1#containerd://}" | sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p"; }

# The first restart comes at once, then 10 s after the container's exit,
# then 20 s (upstream's backoff); measured from CRI's exit and start times
# of the instances.
case_crashloop_backoff_schedule() {
	local prev cur n count id gap gaps=()
	agent_up
	pod crash "containers:" "$(sh_container c 'exit 1')"
	wait_for 30 eval '[ -n "$(jp crash "{.status.containerStatuses[0].containerID}")" ]' ||
		fail "crash never ran: $(jp crash '{.status}')"
	prev=$(jp crash '{.status.containerStatuses[0].containerID}')
	for n in 1 2 3; do
		wait_for 40 restarts_at_least crash $n ||
			fail "restart $n never came: $(jp crash '{.status}')"
		read -r count id < <(jp crash \
			'{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].containerID}')
		assert_eq "$count" "$n"
		gap=$(echo "($(ns_of "$id" started_at) - $(ns_of "$prev" finished_at)) / 10^9" | bc -l)
		gaps+=("$(printf '%.1f' "$gap")")
		prev=$id
		if [ $n = 1 ]; then
			wait_for 15 waiting_is crash CrashLoopBackOff ||
				fail "no CrashLoopBackOff: $(jp crash '{.status}')"
		fi
	done
	echo "crashloop: restarts ${gaps[*]} s after the exits ($(uptime | sed "s/.*load/load/"))"
	[ "$(echo "${gaps[0]} < 5" | bc)" = 1 ] || fail "first restart after ${gaps[0]}s, not at once"
	[ "$(echo "${gaps[1]} >= 10 && ${gaps[1]} < 14" | bc)" = 1 ] ||
		fail "second restart after ${gaps[1]}s, not 10"
	[ "$(echo "${gaps[2]} >= 20 && ${gaps[2]} < 24" | bc)" = 1 ] ||
		fail "third restart after ${gaps[2]}s, not 20"
	assert_eq "$(jp crash '{.status.containerStatuses[0].lastState.terminated.exitCode}')" 1
	assert_eq "$(jp crash '{.status.containerStatuses[0].lastState.terminated.reason}')" Error
	assert_eq "$(jp crash '{.status.phase}')" Running
	assert_contains "$(events crash reason)" BackOff
	delete_pod crash
}

case_delete_with_grace() {
	agent_up
	local t0 t1 uid
	# SIGTERM ignored: the runtime kills after the grace period (3 s)
	pod ignores-term "terminationGracePeriodSeconds: 3" "containers:" \
		"$(sh_container c 'trap \"\" TERM; while true; do sleep 0.2; done')"
	# SIGTERM handled: gone long before its 30 s
	pod handles-term "containers:" "$(sh_container c 'trap \"exit 0\" TERM; while true; do sleep 0.2; done')"
	wait_for 30 ready ignores-term || fail "ignores-term never Ready"
	wait_for 30 ready handles-term || fail "handles-term never Ready"
	uid=$(jp ignores-term '{.metadata.uid}')
	t0=$(date +%s.%N)
	k delete pod ignores-term --wait=false >/dev/null
	wait_for 30 gone ignores-term || fail "ignores-term not deleted"
	t1=$(date +%s.%N)
	echo "delete: ignores-term (grace 3 s) gone after $(echo "$t1 - $t0" | bc)s"
	[ "$(echo "$t1 - $t0 >= 2.9" | bc)" = 1 ] || fail "ignores-term gone before its grace"
	[ "$(echo "$t1 - $t0 < 10" | bc)" = 1 ] || fail "ignores-term took $(echo "$t1 - $t0" | bc)s"
	assert_eq "$(sandboxes_of "$uid")" 0
	t0=$(date +%s.%N)
	k delete pod handles-term --wait=false >/dev/null
	wait_for 30 gone handles-term || fail "handles-term not deleted"
	t1=$(date +%s.%N)
	echo "delete: handles-term gone after $(echo "$t1 - $t0" | bc)s"
	[ "$(echo "$t1 - $t0 < 12" | bc)" = 1 ] || fail "handles-term took $(echo "$t1 - $t0" | bc)s"
	assert_contains "$(events handles-term reason)" Killing
}

case_agent_restart_adopts() {
	local id ip uid gone_uid
	agent_up
	pod keep "containers:" "$(sh_container c 'exec sleep 3600')"
	pod doomed "containers:" "$(sh_container c 'exec sleep 3600')"
	wait_for 30 ready keep || fail "keep never Ready"
	wait_for 30 ready doomed || fail "doomed never Ready"
	id=$(jp keep '{.status.containerStatuses[0].containerID}')
	ip=$(jp keep '{.status.podIP}')
	uid=$(jp keep '{.metadata.uid}')
	gone_uid=$(jp doomed '{.metadata.uid}')
	agent_kill
	# deleted while the agent is down (force: nobody finishes a graceful delete)
	k delete pod doomed --grace-period=0 --force >/dev/null 2>&1
	assert_eq "$(sandboxes_of "$gone_uid")" 1
	agent_start
	wait_for 20 eval '[ "$(sandboxes_of '"$gone_uid"')" = 0 ]' || fail "doomed's sandbox left running"
	sleep 2 # a relist or two: nothing restarts
	assert_eq "$(jp keep '{.status.containerStatuses[0].containerID}')" "$id"
	assert_eq "$(jp keep '{.status.containerStatuses[0].restartCount}')" 0
	assert_eq "$(jp keep '{.status.podIP}')" "$ip"
	assert_eq "$(sandboxes_of "$uid")" 1
	ready keep || fail "keep not Ready after adoption"
	delete_pod keep
}

# containerd restarted under the agent: the pods keep running, the agent
# reconnects and starts new ones.
case_runtime_restart() {
	local id ip old
	agent_up
	pod stay "containers:" "$(sh_container c 'exec sleep 3600')"
	wait_for 30 ready stay || fail "stay never Ready"
	id=$(jp stay '{.status.containerStatuses[0].containerID}')
	ip=$(jp stay '{.status.podIP}')
	old=$CTRD_PID
	ctrd_restart node
	assert_ne "$CTRD_PID" "$old"
	kill -0 "$old" 2>/dev/null && fail "the old containerd still runs"
	pod after "containers:" "$(sh_container c 'exec sleep 3600')"
	wait_for 30 ready after || fail "no pod started after the restart: $(jp after '{.status}')"
	assert_eq "$(jp stay '{.status.containerStatuses[0].containerID}')" "$id"
	assert_eq "$(jp stay '{.status.containerStatuses[0].restartCount}')" 0
	assert_eq "$(jp stay '{.status.podIP}')" "$ip"
	ready stay || fail "stay not Ready after the runtime restart"
	kill -0 "$AGENT" || fail "the agent died"
	delete_pod stay
	delete_pod after
}

case_missing_image() {
	agent_up
	pod noimg "containers:" "- {name: c, image: skiff.local/nope:1, imagePullPolicy: IfNotPresent}"
	wait_for 30 waiting_is noimg ErrImagePull ||
		fail "no ErrImagePull: $(jp noimg '{.status}')"
	wait_for 30 waiting_is noimg ImagePullBackOff ||
		fail "no ImagePullBackOff: $(jp noimg '{.status}')"
	assert_eq "$(jp noimg '{.status.phase}')" Pending
	assert_contains "$(events noimg message)" 'Failed to pull image "skiff.local/nope:1"'
	delete_pod noimg
}

case_malformed_spec() {
	agent_up
	pod fine "containers:" "$(sh_container c 'exec sleep 3600')"
	pod bad "containers:" "$(sh_container c 'exec sleep 3600' \
		'env: [{name: X, valueFrom: {fieldRef: {fieldPath: metadata.bogus}}}]')"
	wait_for 30 waiting_is bad CreateContainerConfigError ||
		fail "bad: $(jp bad '{.status}')"
	assert_contains "$(jp bad '{.status.containerStatuses[0].state.waiting.message}')" metadata.bogus
	assert_contains "$(events bad message)" "metadata.bogus"
	wait_for 30 ready fine || fail "fine never Ready next to a bad pod"
	kill -0 "$AGENT" || fail "the agent died"
	delete_pod bad
	delete_pod fine
	# SIGTERM ends the agent, its kubelet threads with it
	kill -TERM "$AGENT"
	wait_for 30 eval '! kill -0 "$AGENT"' || fail "the agent did not stop on SIGTERM"
}

# ---- env and volumes ----------------------------------------------------------

# pod_dir POD: the pod's folder under the kubelet's --root-dir.
pod_dir() { echo "$TMP/kubelet/pods/$(jp "$1" '{.metadata.uid}')"; }
# with_token TOKEN CA KUBECTL_ARGS...: kubectl as the token's subject.
with_token() {
	local t=$1 ca=$2
	shift 2
	in_node "$KDIR/kubectl.1.33" --kubeconfig /dev/null --cache-dir "$TMP/kcache-tok" \
		--server "$(grep -m1 'server:' "$DATA/kubeconfig" | awk '{print $2}')" \
		--certificate-authority "$ca" --token "$t" "$@"
}

case_env_sources() {
	agent_up
	k create configmap envcm --from-literal=a=A1 --from-literal=b=B1 >/dev/null
	k create secret generic envsec --from-literal=pw=s3cret --from-literal=user=bob >/dev/null
	kapply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: envs, labels: {app: envapp}, annotations: {note: hello}}
spec:
  nodeName: $NODE
  containers:
  - name: c
    image: $BUSYBOX
    command: [sh, -c, 'echo "cmd=\$(SEC) args=\$1 \$2"; env | sort; exec sleep 3600', x]
    args: ["\$(CM_A)", "\$\$(CM_A)"]
    resources: {limits: {cpu: 250m, memory: 64Mi}, requests: {cpu: 100m, memory: 32Mi}}
    envFrom:
    - {configMapRef: {name: envcm}, prefix: CM_}
    - {secretRef: {name: envsec}}
    - {configMapRef: {name: nosuchcm, optional: true}}
    env:
    - {name: CM_A, valueFrom: {configMapKeyRef: {name: envcm, key: a}}}
    - {name: SEC, valueFrom: {secretKeyRef: {name: envsec, key: pw}}}
    - {name: OPT, valueFrom: {configMapKeyRef: {name: envcm, key: nokey, optional: true}}}
    - {name: OPT2, valueFrom: {secretKeyRef: {name: nosuch, key: k, optional: true}}}
    - {name: CPU_LIM, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
    - {name: CPU_REQ, valueFrom: {resourceFieldRef: {resource: requests.cpu}}}
    - {name: MEM_LIM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: MEM_REQ, valueFrom: {resourceFieldRef: {resource: requests.memory}}}
    - {name: LBL, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: ANN, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['note']"}}}
    - {name: IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
    - {name: SAN, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
    - {name: EXP, value: "x-\$(CM_A)-\$(LBL)-\$\$(CM_A)-\$(UNDEF)"}
YAML
	wait_for 30 ready envs || fail "envs never Ready: $(jp envs '{.status}')"
	wait_for 10 eval 'pod_log envs c | grep -q SAN=' || fail "no log: $(pod_log envs c)"
	local log ip
	log=$(pod_log envs c)
	ip=$(jp envs '{.status.podIP}')
	local want
	for want in "cmd=s3cret args=A1 \$(CM_A)" CM_A=A1 CM_b=B1 pw=s3cret user=bob SEC=s3cret \
		CPU_LIM=250 CPU_REQ=1 MEM_LIM=64 MEM_REQ=33554432 LBL=envapp ANN=hello "IPS=$ip" \
		SAN=default "EXP=x-A1-envapp-\$(CM_A)-\$(UNDEF)"; do
		assert_contains "$log" "$want"
	done
	case "$log" in *OPT=* | *OPT2=*) fail "optional missing keys were set: $log" ;; esac
	delete_pod envs
	# a missing required key or object: CreateContainerConfigError with upstream's message
	pod nokey "containers:" "$(sh_container c 'exec sleep 3600' \
		'env: [{name: X, valueFrom: {configMapKeyRef: {name: envcm, key: nope}}}]')"
	wait_for 30 waiting_is nokey CreateContainerConfigError || fail "nokey: $(jp nokey '{.status}')"
	assert_eq "$(jp nokey '{.status.containerStatuses[0].state.waiting.message}')" \
		"couldn't find key nope in ConfigMap default/envcm"
	pod nocm "containers:" "$(sh_container c 'exec sleep 3600' \
		'envFrom: [{secretRef: {name: gone}}]')"
	wait_for 30 waiting_is nocm CreateContainerConfigError || fail "nocm: $(jp nocm '{.status}')"
	assert_contains "$(jp nocm '{.status.containerStatuses[0].state.waiting.message}')" '"gone" not found'
	delete_pod nokey
	delete_pod nocm
	k delete configmap envcm >/dev/null
	k delete secret envsec >/dev/null
}

case_volumes() {
	agent_up
	k create configmap volcm --from-literal=a=A1 --from-literal=b=B1 >/dev/null
	k create secret generic volsec --from-literal=pw=s3cret >/dev/null
	mkdir -p "$TMP/hostdir"
	echo from-host >"$TMP/hostdir/f"
	kapply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {app: volapp}}
spec:
  nodeName: $NODE
  hostname: h
  subdomain: sd
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
  - {name: host, hostPath: {path: $TMP/hostdir, type: Directory}}
  - {name: made, hostPath: {path: $TMP/made/here, type: DirectoryOrCreate}}
  - {name: cfg, configMap: {name: volcm}}
  - {name: cfgitems, configMap: {name: volcm, defaultMode: 0600, items: [{key: b, path: sub/bee}]}}
  - {name: sec, secret: {secretName: volsec}}
  - {name: optsec, secret: {secretName: nosuch, optional: true}}
  - name: dapi
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: mem, resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}}
  - name: proj
    projected:
      sources:
      - configMap: {name: volcm, items: [{key: a, path: pa}]}
      - secret: {name: volsec}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
  containers:
  - name: c
    image: $BUSYBOX
    resources: {limits: {memory: 64Mi}}
    command: [sh, -c]
    args:
    - |
      echo wrote >/scratch/x && echo "scratch=\$(cat /scratch/x)"
      echo "memfs=\$(grep ' /mem ' /proc/mounts | cut -d' ' -f3,4)"
      echo "host=\$(cat /host/f) sub=\$(cat /hostsub/f)"
      echo "cfg=\$(cat /cfg/a)\$(cat /cfg/b) items=\$(cat /cfgitems/sub/bee) mode=\$(stat -L -c %a /cfgitems/sub/bee)"
      echo "secfs=\$(grep ' /sec ' /proc/mounts | cut -d' ' -f3) projfs=\$(grep ' /proj ' /proc/mounts | cut -d' ' -f3)"
      echo "sec=\$(cat /sec/pw) ro=\$(touch /sec/new 2>/dev/null && echo rw || echo ro)"
      echo "dapi=\$(cat /dapi/labels) \$(cat /dapi/name) \$(cat /dapi/mem)"
      echo "proj=\$(cat /proj/pa) \$(cat /proj/pw) \$(cat /proj/ns)"
      echo "sa=\$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace) \$(ls /var/run/secrets/kubernetes.io/serviceaccount | tr '\n' ' ')"
      echo "hosts:"; cat /etc/hosts; echo "hosts end"
      exec sleep 3600
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: mem, mountPath: /mem}
    - {name: host, mountPath: /host, readOnly: true}
    - {name: host, mountPath: /hostsub, subPath: .}
    - {name: made, mountPath: /made}
    - {name: cfg, mountPath: /cfg}
    - {name: cfgitems, mountPath: /cfgitems}
    - {name: sec, mountPath: /sec, readOnly: true}
    - {name: optsec, mountPath: /optsec}
    - {name: dapi, mountPath: /dapi}
    - {name: proj, mountPath: /proj}
YAML
	wait_for 30 ready vols || fail "vols never Ready: $(jp vols '{.status}') $(events vols message)"
	wait_for 10 eval 'pod_log vols c | grep -q "hosts end"' || fail "no log: $(pod_log vols c)"
	local log ip dir uid want
	log=$(pod_log vols c)
	ip=$(jp vols '{.status.podIP}')
	dir=$(pod_dir vols)
	uid=$(jp vols '{.metadata.uid}')
	for want in "scratch=wrote" "memfs=tmpfs rw,nosuid,nodev" "size=16384k" "host=from-host sub=from-host" \
		"cfg=A1B1 items=B1 mode=600" "secfs=tmpfs projfs=tmpfs" "sec=s3cret ro=ro" 'dapi=app="volapp" vols 64' \
		"proj=A1 s3cret default" "sa=default ca.crt namespace token" \
		"$ip	h.sd.default.svc.cluster.local	h" "127.0.0.1	localhost"; do
		assert_contains "$log" "$want"
	done
	[ -d "$TMP/made/here" ] || fail "hostPath DirectoryOrCreate made nothing"
	assert_eq "$(cat "$dir/volumes/kubernetes.io~empty-dir/scratch/x")" wrote
	grep -q " $dir/volumes/kubernetes.io~empty-dir/mem tmpfs" /proc/mounts || fail "no tmpfs on the host"
	# Secrets (and projected volumes, the token's among them) only in memory
	for want in secret/sec secret/optsec projected/proj projected/kube-api-access; do
		grep -q " $dir/volumes/kubernetes.io~$want tmpfs" /proc/mounts ||
			fail "$want is not a tmpfs on the host: $(grep "$uid" /proc/mounts)"
	done
	grep -q " $dir/volumes/kubernetes.io~configmap/cfg tmpfs" /proc/mounts &&
		fail "a configMap volume is a tmpfs (upstream keeps those on disk)"
	# the atomic writer's layout, and a change reaching the file
	local cfg="$dir/volumes/kubernetes.io~configmap/cfg"
	[ -L "$cfg/..data" ] && [ -L "$cfg/a" ] || fail "no ..data layout: $(ls -la "$cfg")"
	k patch configmap volcm -p '{"data": {"a": "A2"}}' >/dev/null
	local t0=$SECONDS
	wait_for 60 eval '[ "$(cat "$cfg/a")" = A2 ]' || fail "the configMap change never reached the file"
	echo "configMap change reached the file in $((SECONDS - t0))s"
	assert_eq "$(ls "$cfg" | tr '\n' ' ')" "a b "
	# the service-account token, accepted by the server with the volume's ca.crt
	local sa="$dir/volumes/kubernetes.io~projected/kube-api-access"
	cp "$sa/token" "$TMP/token"
	cp "$sa/ca.crt" "$TMP/sa-ca.crt"
	assert_contains "$(with_token "$(cat "$TMP/token")" "$TMP/sa-ca.crt" auth whoami 2>&1)" \
		"system:serviceaccount:default:default"
	# a hostPath type check failing
	pod badhp "volumes: [{name: h, hostPath: {path: $TMP/hostdir/f, type: Directory}}]" \
		"containers:" "$(sh_container c 'exec sleep 3600' 'volumeMounts: [{name: h, mountPath: /h}]')"
	wait_for 30 waiting_is badhp CreateContainerConfigError || fail "badhp: $(jp badhp '{.status}')"
	assert_contains "$(jp badhp '{.status.containerStatuses[0].state.waiting.message}')" \
		"hostPath type check failed: $TMP/hostdir/f is not a directory"
	delete_pod badhp
	delete_pod vols
	grep -q "$uid" /proc/mounts && fail "a mount of the pod left behind: $(grep "$uid" /proc/mounts)"
	[ -e "$dir" ] && fail "the pod's folder left behind: $(ls -R "$dir")"
	k delete configmap volcm >/dev/null
	k delete secret volsec >/dev/null
	return 0
}

# No service-account volume with automountServiceAccountToken false; an
# empty one (the volume the kubelet adds is best effort, the reason
# logged) when the pod's ServiceAccount does not exist: both pods run.
case_sa_volume_absent() {
	agent_up
	local d=/var/run/secrets/kubernetes.io/serviceaccount
	local ls="echo sa=[\$(ls $d)] \$(test -d $d && echo dir || echo nodir); exec sleep 3600"
	pod noauto "automountServiceAccountToken: false" "containers:" "$(sh_container c "$ls")"
	pod ghost "serviceAccountName: ghost-$RUN_ID" "containers:" "$(sh_container c "$ls")"
	local p
	for p in noauto ghost; do
		wait_for 30 ready $p || fail "$p never Ready: $(jp $p '{.status}')"
		wait_for 10 eval "pod_log $p c | grep -q sa=" || fail "$p: no log"
	done
	assert_contains "$(pod_log noauto c)" "sa=[] nodir"
	assert_contains "$(pod_log ghost c)" "sa=[] dir"
	assert_contains "$(grep 'default/ghost: service-account volume' "$ALOG")" "failed to fetch token"
	delete_pod noauto
	delete_pod ghost
}

# Everything the kubelet made is gone once its pods are.
case_nothing_left() {
	assert_eq "$(cri pods --quiet | wc -l)" 0
	assert_eq "$(cri ps --quiet | wc -l)" 0
	ls -d /sys/fs/cgroup/*"$CTRD_CGROUP_PARENT"/kubepods/*/pod* 2>/dev/null &&
		fail "pod cgroups left behind"
	assert_eq "$(ls "$TMP/logs" "$TMP/kubelet/pods" 2>/dev/null | grep -v ':$' | grep -c .)" 0
	! grep -m3 "AddressSanitizer\|runtime error" "$ALOG" || fail "the agent's log has errors"
	return 0
}

# KUBELET_CASES="a b": only those (while working on one).
for c in ${KUBELET_CASES:-pod_runs_ready containers_share_localhost security_and_resources \
	init_containers_in_order \
	restart_policies crashloop_backoff_schedule delete_with_grace agent_restart_adopts \
	runtime_restart missing_image malformed_spec env_sources volumes sa_volume_absent nothing_left}; do
	run_case "$c"
done
finish
