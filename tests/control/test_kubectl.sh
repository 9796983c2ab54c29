#!/usr/bin/env bash
# skiff-server driven by the real kubectl (1.27 and 1.33): apply, get
# (tables, wide, labels, yaml/json), watch, label, scale, run, describe,
# explain, delete, api-resources, config, errors, typed `create` (protobuf
# bodies from 1.33). HTTPS with the
# kubeconfig the server writes (CA + admin client certificate); no
# --insecure-skip-tls-verify, no --validate=false. Asserts on kubectl's
# output. The server listens on 127.0.0.1 only, on a free port.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl
require_kubectl

DATA=$TMP/data
SERVER_PID=
PORT=

ALICE=alice-$RANDOM$RANDOM
BOB=bob-$RANDOM$RANDOM
printf '%s,alice,1001\n%s,bob,1002,"viewers,staff"\n' "$ALICE" "$BOB" >"$TMP/tokens.csv"
# kubectl against the API alone: no controllers or scheduler act on what it
# creates (tests/control/test_ctrl_manager.sh runs kubectl with them).
start_skiff_server "$DATA" "$TMP/server.log" tls --token-auth-file "$TMP/tokens.csv" \
	--controllers=none --no-scheduler

# kubeconfig_for USER TOKEN: a kubeconfig with the server's CA and a token.
kubeconfig_for() {
	local ca
	ca=$(awk '/certificate-authority-data:/ {print $2}' "$DATA/kubeconfig")
	cat >"$TMP/kubeconfig-$1" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster: {certificate-authority-data: $ca, server: "https://127.0.0.1:$PORT"}
  name: skiff
contexts:
- context: {cluster: skiff, user: $1}
  name: $1
current-context: $1
users:
- name: $1
  user: {token: $2}
KC
	echo "$TMP/kubeconfig-$1"
}

# k VERSION args...: kubectl.1.VERSION with the server's kubeconfig and a
# cache of its own.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}

# lines_at_least FILE REGEX N: FILE has N lines matching REGEX.
lines_at_least() { [ "$(grep -c "$2" "$1")" -ge "$3" ]; }

# squeeze: one space between columns, for matching table rows.
squeeze() { tr -s ' '; }

manifests() { # NAMESPACE REPLICAS GREETING
	cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: $1
data:
  greeting: $3
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: $1
type: Opaque
data:
  password: czNjcmV0
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: $1
  labels: {app: web, tier: front}
spec:
  containers:
  - name: main
    image: busybox:1.36
    command: ["httpd", "-f", "-p", "80"]
    ports: [{containerPort: 80}]
    readinessProbe: {tcpSocket: {port: 80}}
    livenessProbe: {tcpSocket: {port: 80}}
  - name: sidecar
    image: busybox:1.36
    command: ["sleep", "3600"]
    env: [{name: MODE, value: one}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: cache
  namespace: $1
spec:
  replicas: 1
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers: [{name: cache, image: busybox:1.36}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: $1
spec:
  replicas: $2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: busybox:1.36}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: $1
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: web-np
  namespace: $1
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 8080, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: web-lb
  namespace: $1
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80}, {name: https, port: 443}]
YAML
}

# The apply sequence, per kubectl version (each in its own namespace).
case_apply() {
	local v ns out
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		manifests "$ns" 2 hello >"$TMP/app-$v.yaml"
		out=$(k $v apply -f "$TMP/app-$v.yaml" 2>&1) || fail "apply ($v): $out"
		for o in "namespace/$ns created" "configmap/web-config created" "secret/web-secret created" \
			"pod/web created" "replicaset.apps/cache created" "deployment.apps/api created" \
			"service/web created" "service/web-np created" "service/web-lb created"; do
			assert_contains "$out" "$o" "kubectl $v apply"
		done
		out=$(k $v apply -f "$TMP/app-$v.yaml" 2>&1) || fail "re-apply ($v): $out"
		for o in "namespace/$ns unchanged" "configmap/web-config unchanged" "secret/web-secret unchanged" \
			"pod/web unchanged" "deployment.apps/api unchanged" "service/web unchanged" \
			"service/web-np unchanged" "service/web-lb unchanged"; do
			assert_contains "$out" "$o" "kubectl $v apply again"
		done
		manifests "$ns" 3 goodbye >"$TMP/app-$v.yaml"
		out=$(k $v apply -f "$TMP/app-$v.yaml" 2>&1) || fail "apply changed ($v): $out"
		assert_contains "$out" "configmap/web-config configured"
		assert_contains "$out" "deployment.apps/api configured"
		assert_contains "$out" "pod/web unchanged"
		assert_eq "$(k $v get cm web-config -n "$ns" -o jsonpath='{.data.greeting}')" goodbye
		# Server-side apply: created when missing, then merged.
		for data in '{a: "1"}' '{a: "2", b: "3"}'; do
			out=$(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: %s}\ndata: %s\n' "$ns" "$data" |
				k $v apply --server-side -f - 2>&1) || fail "apply --server-side ($v): $out"
			assert_contains "$out" "configmap/ssa serverside-applied"
		done
		assert_eq "$(k $v get cm ssa -n "$ns" -o jsonpath='{.data.a} {.data.b}')" "2 3"
		assert_eq "$(k $v get deploy api -n "$ns" -o jsonpath='{.spec.replicas} {.metadata.generation}')" "3 2"
	done
}

case_get_tables() {
	local v ns out ip np
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		out=$(k $v get pods -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "NAME READY STATUS RESTARTS AGE" "pods header ($v)"
		assert_contains "$out" "web 0/2 Pending 0 "
		out=$(k $v get pod web -n "$ns" -o wide 2>&1 | squeeze)
		assert_contains "$out" "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
		[[ "$out" =~ web\ 0/2\ Pending\ 0\ [0-9]+[smh]\ \<none\>\ \<none\>\ \<none\>\ \<none\> ]] ||
			fail "pod row with -o wide ($v): $out"
		out=$(k $v get pods -n "$ns" --show-labels 2>&1 | squeeze)
		assert_contains "$out" "LABELS"
		assert_contains "$out" "app=web,tier=front"
		out=$(k $v get svc -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE"
		ip=$(k $v get svc web -n "$ns" -o jsonpath='{.spec.clusterIP}')
		assert_contains "$out" "web ClusterIP $ip <none> 80/TCP"
		case "$ip" in 10.9[6-9].*|10.10[0-9].*|10.11[01].*) ;; *) fail "cluster IP $ip not in 10.96.0.0/12" ;; esac
		np=$(k $v get svc web-np -n "$ns" -o jsonpath='{.spec.ports[0].nodePort}')
		[ "$np" -ge 30000 ] && [ "$np" -le 32767 ] || fail "nodePort $np out of range"
		assert_contains "$out" "8080:$np/TCP"
		assert_contains "$out" "web-lb LoadBalancer"
		assert_contains "$out" "<pending>"
		out=$(k $v get deploy -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "NAME READY UP-TO-DATE AVAILABLE AGE"
		assert_contains "$out" "api 0/3 0 0"
		out=$(k $v get all -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "pod/web"
		assert_contains "$out" "service/web-np NodePort"
		assert_contains "$out" "deployment.apps/api"
		assert_contains "$out" "replicaset.apps/cache 1 0 0"
		out=$(k $v get ns 2>&1 | squeeze)
		assert_contains "$out" "$ns Active"
		assert_contains "$out" "kube-system Active"
		out=$(k $v get cm,secret -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "configmap/web-config 1"
		assert_contains "$out" "secret/web-secret Opaque 1"
	done
}

case_get_yaml_json() {
	local v ns out
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		out=$(k $v get pod web -n "$ns" -o yaml 2>&1)
		assert_contains "$out" "kind: Pod"
		assert_contains "$out" "resourceVersion: \""
		assert_contains "$out" "uid: "
		assert_contains "$out" "restartPolicy: Always"
		assert_contains "$out" "kubectl.kubernetes.io/last-applied-configuration"
		out=$(k $v get pod web -n "$ns" -o json 2>&1)
		assert_contains "$out" '"kind": "Pod"'
		assert_eq "$(k $v get pod web -n "$ns" -o jsonpath='{.spec.containers[*].name}')" "main sidecar"
		assert_eq "$(k $v get pods -n "$ns" -o name)" "pod/web"
		out=$(k $v get pods -A -o wide 2>&1 | squeeze)
		assert_contains "$out" "$ns web 0/2 Pending"
	done
}

case_watch_sees_change() {
	local v ns wpid
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		k $v get pods -n "$ns" -w >"$TMP/watch-$v.out" 2>&1 &
		wpid=$!
		wait_for 10 grep -q '^web ' "$TMP/watch-$v.out" || fail "watch printed nothing ($v)"
		k $v label pod web -n "$ns" watched=$RANDOM --overwrite >/dev/null || fail "label for watch"
		wait_for 10 lines_at_least "$TMP/watch-$v.out" '^web ' 2 ||
			{ kill $wpid; fail "watch ($v) did not see the change: $(cat "$TMP/watch-$v.out")"; }
		k $v run "w$v" -n "$ns" --image=busybox:1.36 >/dev/null || fail "run for watch"
		wait_for 10 grep -q "^w$v " "$TMP/watch-$v.out" ||
			{ kill $wpid; fail "watch ($v) did not see the new pod: $(cat "$TMP/watch-$v.out")"; }
		kill $wpid; wait $wpid 2>/dev/null || true
	done
}

case_label_scale_run() {
	local v ns out
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		out=$(k $v label pod web -n "$ns" color=blue 2>&1)
		assert_contains "$out" "pod/web labeled"
		assert_eq "$(k $v get pods -n "$ns" -l 'color in (blue,green),tier' -o name)" "pod/web"
		assert_eq "$(k $v get pods -n "$ns" -l 'app=web,color!=blue' -o name)" ""
		assert_eq "$(k $v get pods -n "$ns" -l '!color,app=web' -o name)" ""
		out=$(k $v label pod web -n "$ns" color- 2>&1)
		assert_contains "$out" "pod/web unlabeled"
		out=$(k $v scale deploy api -n "$ns" --replicas=5 2>&1)
		assert_contains "$out" "deployment.apps/api scaled"
		assert_eq "$(k $v get deploy api -n "$ns" -o jsonpath='{.spec.replicas}')" 5
		out=$(k $v run tmp -n "$ns" --image=busybox:1.36 2>&1)
		assert_contains "$out" "pod/tmp created"
		out=$(k $v get pod tmp -n "$ns" --show-labels 2>&1 | squeeze)
		assert_contains "$out" "run=tmp"
		assert_eq "$(k $v get pods -n "$ns" --field-selector metadata.name=tmp -o name)" "pod/tmp"
	done
}

case_describe_events() {
	local v ns uid out
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		uid=$(k $v get pod web -n "$ns" -o jsonpath='{.metadata.uid}')
		cat >"$TMP/ev-$v.json" <<JSON
{"apiVersion":"v1","kind":"Event","metadata":{"name":"web.1","namespace":"$ns"},
 "involvedObject":{"kind":"Pod","name":"web","namespace":"$ns","uid":"$uid","apiVersion":"v1"},
 "reason":"Scheduled","message":"Successfully assigned $ns/web to node-a","type":"Normal",
 "source":{"component":"default-scheduler"},"count":1,
 "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z"}
JSON
		k $v create -f "$TMP/ev-$v.json" >/dev/null 2>&1 || k $v get ev -n "$ns" web.1 >/dev/null ||
			fail "create event ($v)"
		out=$(k $v describe pod web -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "Containers:"
		assert_contains "$out" "main:"
		assert_contains "$out" "sidecar:"
		assert_contains "$out" "Events:"
		assert_contains "$out" "Normal Scheduled"
		assert_contains "$out" "default-scheduler Successfully assigned $ns/web to node-a"
		out=$(k $v describe svc web-np -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "Type: NodePort"
		assert_contains "$out" "Events: <none>"
		uid=$(k $v get deploy api -n "$ns" -o jsonpath='{.metadata.uid}')
		k $v create -f - >/dev/null <<JSON || fail "create deployment event ($v)"
{"apiVersion":"v1","kind":"Event","metadata":{"name":"api.1","namespace":"$ns"},
 "involvedObject":{"kind":"Deployment","name":"api","namespace":"$ns","uid":"$uid","apiVersion":"apps/v1"},
 "reason":"ScalingReplicaSet","message":"Scaled up replica set api-1 to 5","type":"Normal",
 "source":{"component":"deployment-controller"},"count":1,
 "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z"}
JSON
		out=$(k $v describe deploy api -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "Replicas: 5 desired"
		assert_contains "$out" "Events:"
		assert_contains "$out" "Normal ScalingReplicaSet"
		assert_contains "$out" "deployment-controller Scaled up replica set api-1 to 5"
	done
}

case_errors() {
	local v ns out
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		out=$(k $v run bad -n "$ns" --image= 2>&1) && fail "run without image succeeded"
		cat >"$TMP/bad-$v.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: $ns}
spec:
  containers: [{name: c}]
YAML
		out=$(k $v apply -f "$TMP/bad-$v.yaml" 2>&1) && fail "invalid pod accepted"
		assert_contains "$out" 'The Pod "bad" is invalid: spec.containers[0].image: Required value'
		out=$(k $v apply -f - 2>&1 <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: typo, namespace: $ns}
data: {a: b}
dta: {c: d}
YAML
) && fail "unknown field accepted under --validate=strict"
		assert_contains "$out" 'strict decoding error: unknown field "dta"'
		out=$(k $v get pod nosuch -n "$ns" 2>&1) && fail "get of a missing pod succeeded"
		assert_contains "$out" 'pods "nosuch" not found'
		out=$(k $v apply -f - <<<"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"Bad_Name\"}}" 2>&1) &&
			fail "invalid namespace name accepted"
		assert_contains "$out" 'is invalid: metadata.name: Invalid value: "Bad_Name"'
		out=$(k $v create configmap web-config -n "$ns" --from-literal=a=b 2>&1) && fail "duplicate create succeeded"
		assert_contains "$out" 'configmaps "web-config" already exists'
		out=$(k $v apply -f - <<<"apiVersion: v1
kind: Pod
metadata: {name: p2, namespace: nosuch-$RUN_ID}
spec: {containers: [{name: c, image: busybox}]}" 2>&1) && fail "create in a missing namespace succeeded"
		assert_contains "$out" "not found"
		out=$(k $v get pods -n "$ns" -l 'a in (' 2>&1) && fail "bad selector accepted"
		assert_contains "$out" "unable to parse requirement"
	done
}

case_delete() {
	local v ns out
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		out=$(k $v delete pod tmp -n "$ns" 2>&1)
		assert_contains "$out" 'pod "tmp" deleted'
		out=$(k $v get pod tmp -n "$ns" 2>&1) && fail "deleted pod still there"
		assert_contains "$out" 'pods "tmp" not found'
		out=$(k $v delete svc web-np -n "$ns" 2>&1)
		assert_contains "$out" 'service "web-np" deleted'
		# The namespace is Terminating: emptying it is the namespace
		# controller's (none runs here; test_gc.sh runs them).
		out=$(k $v delete -f "$TMP/app-$v.yaml" --ignore-not-found --wait=false 2>&1)
		assert_contains "$out" "namespace \"$ns\" deleted"
		assert_eq "$(k $v get ns "$ns" -o jsonpath='{.status.phase}')" Terminating "namespace $ns"
		out=$(k $v run late -n "$ns" --image busybox:1.36 2>&1) && fail "pod created in a Terminating namespace"
		assert_contains "$out" "unable to create new content in namespace $ns because it is being terminated"
	done
}

case_discovery_explain_config() {
	local v out
	for v in 27 33; do
		out=$(k $v api-resources 2>&1 | squeeze)
		assert_contains "$out" "pods po v1 true Pod"
		assert_contains "$out" "deployments deploy apps/v1 true Deployment"
		assert_contains "$out" "services svc v1 true Service"
		assert_contains "$out" "endpointslices discovery.k8s.io/v1 true EndpointSlice"
		assert_contains "$out" "clusterroles rbac.authorization.k8s.io/v1 false ClusterRole"
		out=$(k $v api-versions 2>&1)
		assert_contains "$out" "apps/v1"
		out=$(k $v explain pod.spec.containers 2>&1)
		assert_contains "$out" "containers <[]Container>"
		assert_contains "$out" "The containers of the pod; at least one."
		assert_contains "$out" "image"
		out=$(k $v config get-contexts 2>&1 | squeeze)
		assert_contains "$out" "* skiff skiff skiff-admin"
		out=$(k $v version -o json 2>/dev/null)
		assert_contains "$out" '"gitVersion": "v1.30.0+skiff"'
	done
}

# same_as_client VERSION NS RESOURCE NAME -- CREATE-ARGS...: `kubectl create
# CREATE-ARGS` made RESOURCE/NAME, and everything the client meant to send
# (its --dry-run=client -o json, less nulls, empty objects and status) is
# in the object the server keeps. 1.32+ sends these typed creates as
# protobuf, 1.27 as JSON.
same_as_client() {
	local v=$1 ns=$2 res=$3 name=$4 want have out; shift 5
	local strip='walk(if type == "object" then with_entries(select(.value != null and .value != {})) else . end) | del(.status)'
	want=$(k $v create -n "$ns" --dry-run=client -o json "$@" | jq -S "$strip") || fail "dry run: $*"
	out=$(k $v create -n "$ns" "$@" 2>&1) || fail "kubectl $v create $*: $out"
	assert_contains "$out" "$name created"
	have=$(k $v get -n "$ns" "$res" "$name" -o json | jq -S 'del(.status)')
	[ "$(jq -n --argjson h "$have" --argjson w "$want" '$h | contains($w)')" = true ] ||
		fail "kubectl $v create $*: the server keeps $(jq -c . <<<"$have"), the client sent $(jq -c . <<<"$want")"
}

case_create_typed() {
	local v ns out want have
	for v in 27 33; do
		ns=typed-$v-$RUN_ID
		out=$(k $v create namespace "$ns" 2>&1) || fail "create namespace ($v): $out"
		assert_contains "$out" "namespace/$ns created"
		same_as_client $v "$ns" cm c1 -- configmap c1 --from-literal=a=1 --from-literal=empty=
		same_as_client $v "$ns" secret s1 -- secret generic s1 --from-literal=pw=s3cret --from-literal=none=
		assert_eq "$(k $v get secret s1 -n "$ns" -o jsonpath='{.data.pw}' | base64 -d)" s3cret
		same_as_client $v "$ns" sa robot -- serviceaccount robot
		same_as_client $v "$ns" deploy d0 -- deployment d0 --image=busybox:1.36 --replicas=0 --port=8080 -- sleep 3600
		assert_eq "$(k $v get deploy d0 -n "$ns" -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].command}')" \
			'0 ["sleep","3600"]' "replicas 0 is kept, not defaulted"
		same_as_client $v "$ns" deploy d3 -- deployment d3 --image=busybox:1.36 --replicas=3
		same_as_client $v "$ns" svc np -- service nodeport np --tcp=80:http
		assert_eq "$(k $v get svc np -n "$ns" -o jsonpath='{.spec.ports[0].targetPort}')" http
		same_as_client $v "$ns" svc cip -- service clusterip cip --tcp=5678:8080
		same_as_client $v "$ns" job j1 -- job j1 --image=busybox:1.36 -- echo hi
		same_as_client $v "$ns" cronjob cj1 -- cronjob cj1 --image=busybox:1.36 --schedule='*/5 * * * *'
		same_as_client $v "$ns" role r1 -- role r1 --verb=get,list --resource=pods,services
		same_as_client $v "$ns" rolebinding rb1 -- rolebinding rb1 --role=r1 --user=u1 --group=g1
		same_as_client $v "$ns" ingress i1 -- ingress i1 --rule=foo.example/bar=svc1:8080
		# A Job made by kubectl from a CronJob carries the whole pod
		# template (volumes, env sources, probes, security contexts).
		k $v apply -f - >/dev/null <<YAML || fail "rich cronjob ($v)"
apiVersion: batch/v1
kind: CronJob
metadata: {name: rich, namespace: $ns, labels: {a: b}}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    metadata: {labels: {tmpl: x}}
    spec:
      backoffLimit: 0
      template:
        metadata: {labels: {pod: "yes"}, annotations: {note: z}}
        spec:
          restartPolicy: OnFailure
          serviceAccountName: default
          automountServiceAccountToken: false
          securityContext: {runAsUser: 0, runAsNonRoot: false, fsGroup: 2000, supplementalGroups: [1, 2]}
          imagePullSecrets: [{name: regcred}]
          tolerations: [{key: k, operator: Exists, effect: NoExecute, tolerationSeconds: 0}]
          hostAliases: [{ip: 10.0.0.1, hostnames: [a.example, b.example]}]
          nodeSelector: {disk: ssd}
          volumes:
          - {name: v, emptyDir: {}}
          - {name: s, secret: {secretName: sec, defaultMode: 0400, items: [{key: k, path: p, mode: 0}]}}
          - {name: c, configMap: {name: cm, optional: true}}
          - {name: h, hostPath: {path: /tmp, type: Directory}}
          - {name: p, persistentVolumeClaim: {claimName: pvc, readOnly: true}}
          initContainers:
          - {name: init, image: busybox, command: [sh, -c, "true"]}
          containers:
          - name: c
            image: busybox
            args: ["x", "why"]
            workingDir: /w
            ports: [{name: http, containerPort: 8080, protocol: TCP}]
            env:
            - {name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: B, valueFrom: {configMapKeyRef: {name: cm, key: k, optional: false}}}
            - {name: C, valueFrom: {secretKeyRef: {name: sec, key: k}}}
            - {name: D, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
            - {name: E, value: e}
            envFrom: [{prefix: P_, configMapRef: {name: cm}}, {secretRef: {name: sec, optional: true}}]
            volumeMounts: [{name: v, mountPath: /v}, {name: s, mountPath: /s, readOnly: true, subPath: x}]
            readinessProbe: {exec: {command: ["true"]}, periodSeconds: 5}
            livenessProbe: {httpGet: {path: /h, port: http, httpHeaders: [{name: X, value: "v"}]}, initialDelaySeconds: 3}
            startupProbe: {tcpSocket: {port: 8080}, failureThreshold: 30}
            resources: {limits: {cpu: 100m, memory: 64Mi}, requests: {cpu: 50m}}
            securityContext: {privileged: false, runAsUser: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL], add: [NET_ADMIN]}, seccompProfile: {type: RuntimeDefault}}
          - name: g
            image: busybox
            readinessProbe: {grpc: {port: 9090, service: s}}
YAML
		out=$(k $v create job rich-now --from=cronjob/rich -n "$ns" 2>&1) || fail "create job --from ($v): $out"
		want=$(k $v get cronjob rich -n "$ns" -o json | jq '.spec.jobTemplate.spec.template')
		have=$(k $v get job rich-now -n "$ns" -o json)
		[ "$(jq -n --argjson h "$(jq .spec.template <<<"$have")" --argjson w "$want" '$h | contains($w)')" = true ] ||
			fail "job from cronjob ($v): $(jq -c .spec.template <<<"$have") lacks parts of $(jq -c . <<<"$want")"
		assert_eq "$(jq -r '.spec.backoffLimit, .metadata.ownerReferences[0].kind, .metadata.annotations["cronjob.kubernetes.io/instantiate"]' <<<"$have" | tr '\n' ' ')" \
			"0 CronJob manual "
		out=$(k $v get cm,deploy -n "$ns" 2>&1 | squeeze)
		assert_contains "$out" "configmap/c1 2"
		assert_contains "$out" "deployment.apps/d3 0/3 0 0"
		out=$(k $v create configmap c1 -n "$ns" --from-literal=a=b 2>&1) && fail "duplicate create succeeded"
		assert_contains "$out" 'configmaps "c1" already exists'
		out=$(k $v create deployment Bad --image=x -n "$ns" 2>&1) && fail "invalid name accepted"
		assert_contains "$out" 'Deployment.apps "Bad" is invalid: metadata.name'
		k $v delete ns "$ns" --wait=false >/dev/null 2>&1
	done
	# A kind the protobuf decoder does not know: a clear 415, nothing created.
	out=$(k 33 create quota "q-$RUN_ID" --hard=pods=1 2>&1) && fail "resourcequota created?"
	assert_contains "$out" "the server could not find the requested resource"
}

# as USER VERSION args...: kubectl as a token user.
as() {
	local u=$1 v=$2; shift 2
	"$KDIR/kubectl.1.$v" --kubeconfig "$TMP/kubeconfig-$u" --cache-dir "$TMP/cache-$u-$v" "$@"
}

case_rbac() {
	local v ns out
	kubeconfig_for alice "$ALICE" >/dev/null
	kubeconfig_for bob "$BOB" >/dev/null
	for v in 27 33; do
		ns=demo-$v-$RUN_ID
		out=$(as alice $v get pods -n "$ns" 2>&1) && fail "alice listed pods without a role"
		assert_contains "$out" "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"$ns\""
		out=$(k $v apply -f - 2>&1 <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: $ns}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads, namespace: $ns}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io}
YAML
) || fail "RBAC objects: $out"
		assert_contains "$out" "role.rbac.authorization.k8s.io/pod-reader created"
		assert_contains "$out" "rolebinding.rbac.authorization.k8s.io/alice-reads created"
		out=$(as alice $v get pods -n "$ns" -o name 2>&1) || fail "alice with a role: $out"
		assert_contains "$out" "pod/web"
		out=$(as alice $v delete pod web -n "$ns" 2>&1) && fail "alice deleted a pod"
		assert_contains "$out" "pods \"web\" is forbidden: User \"alice\" cannot delete resource \"pods\""
		out=$(as alice $v get pods -n default 2>&1) && fail "alice read another namespace"
		assert_contains "$out" "Forbidden"
		out=$(as alice $v get svc -n "$ns" 2>&1) && fail "alice read services"
	done
	out=$(as bob 33 get deploy -A 2>&1) && fail "bob read deployments without a binding"
	assert_contains "$out" "at the cluster scope"
	# A typed create: protobuf from kubectl 1.33.
	out=$(k 33 create clusterrolebinding "viewers-$RUN_ID" --clusterrole=view --group=viewers 2>&1)
	assert_contains "$out" "clusterrolebinding.rbac.authorization.k8s.io/viewers-$RUN_ID created"
	out=$(as bob 33 get deploy -A 2>&1 | squeeze) || fail "bob in group viewers: $out"
	assert_contains "$out" "demo-33-$RUN_ID api"
	out=$(as bob 33 scale deploy api -n "demo-33-$RUN_ID" --replicas=1 2>&1) && fail "a viewer scaled"
	assert_contains "$out" "cannot patch resource \"deployments/scale\" in API group \"apps\""
}

case_https_auth() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.crt" "https://127.0.0.1:$PORT/api/v1/pods")
	assert_eq "$code" 401 "anonymous request"
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.crt" \
		--cert "$DATA/tls/admin.crt" --key "$DATA/tls/admin.key" "https://127.0.0.1:$PORT/api/v1/pods")
	assert_eq "$code" 200 "admin client certificate"
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/tls/ca.crt" \
		-H 'Authorization: Bearer nope' "https://127.0.0.1:$PORT/api/v1/pods")
	assert_eq "$code" 401 "unknown bearer token"
}

run_case apply
run_case get_tables
run_case get_yaml_json
run_case watch_sees_change
run_case label_scale_run
run_case describe_events
run_case errors
run_case create_typed
run_case discovery_explain_config
run_case rbac
run_case delete
run_case https_auth
finish
