#!/usr/bin/env bash
# CustomResourceDefinitions with the real kubectl (1.33; 1.27 for the
# printer columns): a CRD with a schema (required, enum, pattern,
# minimum/maximum, defaults, a field that keeps unknown fields), printer
# columns, the status and scale subresources and two versions is served
# at once (kubectl's discovery cache made before it, in --cache-dir,
# finds it); custom resources are applied, patched, scaled, watched,
# refused with 422 naming the field, pruned, defaulted on read, kept
# across a restart, and removed with their CRD. A cluster-scoped CRD too.
# Then the same round trip, short, with the store on etcd (loopback
# ports of the test's own), and a second server on that etcd that serves
# a CRD the first was given.
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server
require_cmd curl jq
require_kubectl

# k VERSION args...: kubectl.1.VERSION with the server's kubeconfig and a
# discovery cache of its own.
k() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$TMP/cache-$v" "$@"
}

# kfresh VERSION args...: the same with a cache made now (kubectl keeps
# the OpenAPI documents it read in its cache).
kfresh() {
	local v=$1; shift
	"$KDIR/kubectl.1.$v" --kubeconfig "$DATA/kubeconfig" --cache-dir "$(mktemp -d -p "$TMP")" "$@"
}

squeeze() { tr -s ' '; }

crontab_crd() { # EXTRA_PROPERTY_YAML
	cat <<YAML
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas,
              labelSelectorPath: .status.selector}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Mode, type: string, jsonPath: .spec.mode, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec: {type: string, pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'}
              image: {type: string, default: busybox}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
              mode: {type: string, enum: [fast, slow]}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
$1
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
YAML
}

crontab() { # NAME CRONSPEC [MORE_SPEC_YAML]
	cat <<YAML
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: $1, labels: {app: $1}}
spec:
  cronSpec: "$2"
${3:-}
YAML
}

widget_crd() {
	cat <<YAML
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.org}
spec:
  group: example.org
  scope: Cluster
  names: {plural: widgets, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
YAML
}

case_crd_lifecycle() {
	local out wpid
	DATA=$TMP/data
	start_skiff_server "$DATA" "$TMP/server.log" tls --controllers=none --no-scheduler
	k 33 get ns >/dev/null || fail "kubectl get ns"  # discovery cached before the CRD
	k 27 get ns >/dev/null || fail "kubectl 1.27 get ns"

	crontab_crd "" | k 33 apply -f - >/dev/null || fail "apply the CRD"
	k 33 wait --for condition=established --timeout=5s crd/crontabs.stable.example.com >/dev/null ||
		fail "CRD not Established"
	out=$(k 33 get crd crontabs.stable.example.com -o json)
	assert_eq "$(jq -r '.status.conditions[] | select(.type == "NamesAccepted") | .status' <<<"$out")" True \
		"NamesAccepted"
	assert_eq "$(jq -r '.status.acceptedNames.listKind, .status.storedVersions[0]' <<<"$out" | xargs)" \
		"CronTabList v1" "acceptedNames, storedVersions"
	out=$(k 33 api-resources --api-group=stable.example.com)
	assert_contains "$(squeeze <<<"$out")" "crontabs ct stable.example.com/v1 true CronTab"
	# Aggregated discovery (what kubectl asked for above): v1 preferred.
	out=$(curl -sf --cacert "$DATA/tls/ca.crt" --cert "$DATA/tls/admin.crt" --key "$DATA/tls/admin.key" \
		-H 'Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' \
		"https://127.0.0.1:$PORT/apis")
	assert_eq "$(jq -c '.items[] | select(.metadata.name == "stable.example.com") |
		[.versions[].version, (.versions[0].resources[0] | .resource, .scope, [.subresources[].subresource])]' <<<"$out")" \
		'["v1","v1beta1","crontabs","Namespaced",["status","scale"]]' "aggregated discovery"

	# `kubectl explain` reads the version's schema from /openapi/v3 (and
	# v2 for its v2 output) as soon as the CRD is there.
	for v in 27 33; do
		out=$(kfresh $v explain crontabs.spec.replicas 2>&1)
		assert_contains "$out" "KIND:       CronTab" "$v"
		assert_contains "$out" "FIELD: replicas <integer>" "$v"
		assert_contains "$(kfresh $v explain ct.spec 2>&1)" "cronSpec	<string> -required-" "$v"
		assert_contains "$(kfresh $v explain crontabs.metadata.name 2>&1)" "FIELD: name <string>" "$v"
		out=$(kfresh $v explain crontabs --api-version=stable.example.com/v1beta1 2>&1)
		assert_contains "$out" "VERSION:    v1beta1" "$v"
		assert_contains "$out" "spec	<Object>" "$v"
		out=$(kfresh $v explain --output plaintext-openapiv2 crontabs.spec 2>&1)
		assert_contains "$out" "replicas	<integer>" "$v"
	done
	out=$(k 33 get --raw /openapi/v3/apis/stable.example.com/v1)
	assert_eq "$(jq -c '.components.schemas | [.["com.example.stable.v1.CronTab"]["x-kubernetes-group-version-kind"][0].kind,
		.["com.example.stable.v1.CronTabList"].properties.items.items["$ref"]]' <<<"$out")" \
		'["CronTab","#/components/schemas/com.example.stable.v1.CronTab"]' "the kind's and list's schemas"
	assert_eq "$(jq -r '[.. | objects | select(has("$ref")) | ."$ref" | ltrimstr("#/components/schemas/")] - (.components.schemas | keys) | join(",")' <<<"$out")" \
		"" "refs that resolve nowhere"

	# Create, with an unknown field pruned (kubectl's own check off) and
	# the defaults set.
	crontab c1 "*/5 * * * *" "  bogus: 1
  extra: {anything: [1, 2]}" | k 33 apply --validate=false -f - >/dev/null || fail "apply c1"
	out=$(k 33 get ct c1 -o json)
	assert_eq "$(jq -c '.spec' <<<"$out")" \
		'{"cronSpec":"*/5 * * * *","extra":{"anything":[1,2]},"image":"busybox","replicas":1}' \
		"pruned and defaulted spec"
	assert_eq "$(jq -r '.metadata.generation' <<<"$out")" 1 "generation"
	out=$(crontab c9 "* * * * *" "  bogus: 1" | k 33 apply -f - 2>&1) && fail "strict apply took an unknown field"
	assert_contains "$out" 'unknown field "spec.bogus"'

	# 422s name the field.
	out=$(crontab c2 "* * * * *" "  replicas: 50" | k 33 apply -f - 2>&1) && fail "replicas 50 accepted"
	assert_contains "$out" 'The CronTab "c2" is invalid: spec.replicas: Invalid value: 50: spec.replicas in body should be less than or equal to 10'
	out=$(k 33 patch ct c1 --type=merge -p '{"spec":{"cronSpec":"often","mode":"sometimes"}}' 2>&1) &&
		fail "bad patch accepted"
	assert_contains "$out" "spec.cronSpec: Invalid value: \"often\": spec.cronSpec in body should match"
	assert_contains "$out" 'spec.mode: Unsupported value: "sometimes": supported values: "fast", "slow"'
	out=$(printf 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: c3}\nspec: {replicas: "2"}\n' |
		k 33 create -f - 2>&1) && fail "no cronSpec accepted"
	assert_contains "$out" "spec.cronSpec: Required value"
	assert_contains "$out" 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer'

	# A watch sees the changes that follow.
	k 33 get ct --watch-only --output-watch-events >"$TMP/watch" 2>&1 &
	wpid=$!
	defer "kill $wpid"
	sleep 0.5
	k 33 patch ct c1 --type=merge -p '{"spec":{"mode":"fast"}}' >/dev/null || fail "patch c1"
	assert_eq "$(k 33 get ct c1 -o jsonpath='{.metadata.generation}')" 2 "generation after a spec change"
	k 33 scale ct c1 --replicas=3 >/dev/null || fail "kubectl scale"
	k 33 patch ct c1 --subresource=status --type=merge \
		-p '{"status":{"replicas":3,"selector":"app=c1"}}' >/dev/null || fail "status patch"
	crontab c2 "0 * * * *" | k 33 apply -f - >/dev/null || fail "apply c2"

	# The table: printer columns (Mode only with -o wide), both clients.
	out=$(k 27 get crontabs | squeeze)
	assert_contains "$out" "NAME SPEC REPLICAS AGE"
	assert_contains "$out" "c1 */5 * * * * 3 "
	out=$(k 33 get ct -o wide | squeeze)
	assert_contains "$out" "NAME SPEC REPLICAS MODE AGE"
	assert_contains "$out" "c1 */5 * * * * 3 fast "
	assert_eq "$(k 33 get --raw /apis/stable.example.com/v1/namespaces/default/crontabs/c1/scale | jq -c '[.spec.replicas, .status.replicas, .status.selector]')" \
		'[3,3,"app=c1"]' "the Scale"
	# Selectors; the other version reads the same object.
	assert_eq "$(k 33 get ct -l app=c2 -o name)" "crontab.stable.example.com/c2" "label selector"
	assert_eq "$(k 33 get ct -A --field-selector metadata.namespace=default,metadata.name=c1 -o name)" \
		"crontab.stable.example.com/c1" "field selector"
	assert_eq "$(k 33 get crontabs.v1beta1.stable.example.com c1 -o jsonpath='{.apiVersion} {.spec.replicas}')" \
		"stable.example.com/v1beta1 3" "read as v1beta1"
	k 33 delete ct c2 >/dev/null || fail "delete c2"
	sleep 0.5
	kill "$wpid"
	out=$(squeeze <"$TMP/watch")
	assert_contains "$out" "MODIFIED c1 */5 * * * * 1 "
	assert_contains "$out" "MODIFIED c1 */5 * * * * 3 "
	assert_contains "$out" "ADDED c2 0 * * * * 1 "
	assert_contains "$out" "DELETED c2 "

	# Defaults of a field added later show on read.
	crontab_crd "              tier: {type: string, default: gold}" | k 33 apply -f - >/dev/null ||
		fail "update the CRD"
	assert_eq "$(k 33 get ct c1 -o jsonpath='{.spec.tier}')" gold "default on read"
	out=$(crontab_crd "" | sed 's/scope: Namespaced/scope: Cluster/' | k 33 apply -f - 2>&1) &&
		fail "scope changed"
	assert_contains "$out" 'spec.scope: Invalid value: "Cluster": field is immutable'

	# A namespace removed takes its custom resources along (finalized by
	# hand: no namespace controller runs here).
	k 33 create ns "crd-$RUN_ID" >/dev/null || fail "create a namespace"
	crontab c5 "* * * * *" | k 33 apply -n "crd-$RUN_ID" -f - >/dev/null || fail "apply c5"
	k 33 delete ns "crd-$RUN_ID" --wait=false >/dev/null || fail "delete the namespace"
	k 33 get ns "crd-$RUN_ID" -o json | jq '.spec.finalizers = []' |
		k 33 replace --raw "/api/v1/namespaces/crd-$RUN_ID/finalize" -f - >/dev/null || fail "finalize"
	assert_eq "$(k 33 get --raw "/apis/stable.example.com/v1/namespaces/crd-$RUN_ID/crontabs" | jq '.items | length')" 0 \
		"custom resources of a removed namespace"

	# Cluster scope.
	widget_crd | k 33 apply -f - >/dev/null || fail "apply the Widget CRD"
	printf 'apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 2}\n' |
		k 33 apply -f - >/dev/null || fail "apply a Widget"
	assert_eq "$(k 33 get widgets -o name)" "widget.example.org/w1" "cluster-scoped get"
	for v in 27 33; do
		assert_contains "$(kfresh $v explain widgets.spec.size 2>&1)" "FIELD: size <integer>" "$v"
	done
	out=$(k 33 get --raw /apis/example.org/v1/namespaces/default/widgets 2>&1) && fail "namespaced path served"

	# A restart keeps the CRDs and their objects.
	kill_tree "$SERVER_PID"
	SERVER_PORT=$PORT start_skiff_server "$DATA" "$TMP/server.log" tls --controllers=none --no-scheduler
	out=$(k 33 get ct -o wide | squeeze)
	assert_contains "$out" "c1 */5 * * * * 3 fast "
	assert_eq "$(k 33 get widget w1 -o jsonpath='{.spec.size}')" 2 "widget after the restart"
	assert_contains "$(kfresh 33 explain widgets.spec.size 2>&1)" "FIELD: size <integer>" "after the restart"

	# Deleting the CRD deletes its objects.
	k 33 delete crd crontabs.stable.example.com >/dev/null || fail "delete the CRD"
	k 33 get --raw /apis/stable.example.com/v1/namespaces/default/crontabs >/dev/null 2>&1 &&
		fail "crontabs still served"
	assert_eq "$(k 33 get --raw /openapi/v3 | jq -c '.paths | [has("apis/stable.example.com/v1", "apis/stable.example.com/v1beta1", "apis/example.org/v1")]')" \
		'[false,false,true]' "OpenAPI documents after the delete"
	crontab_crd "" | k 33 apply -f - >/dev/null || fail "apply the CRD again"
	assert_eq "$(k 33 get --raw /apis/stable.example.com/v1/crontabs | jq '.items | length')" 0 \
		"objects of the deleted CRD"
}

# etcd on two loopback ports of the test's own; sets ETCD_PORT.
start_etcd() {
	local try pp pid
	for try in 1 2 3 4 5; do
		ETCD_PORT=$(free_port 2)
		pp=$(( ETCD_PORT + 1 ))
		etcd --name e1 --data-dir "$TMP/etcd" \
			--listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
			--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
			--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
			--initial-cluster "e1=http://127.0.0.1:$pp" --initial-cluster-state new \
			--initial-cluster-token "skiff-$RUN_ID" >"$TMP/etcd.log" 2>&1 &
		pid=$!
		if await_ready "$pid" 60 etcdctl --endpoints="127.0.0.1:$ETCD_PORT" endpoint health; then
			defer "kill_tree $pid"
			return 0
		fi
		kill_tree "$pid"
		rm -rf "$TMP/etcd"
	done
	fail "etcd did not start: $(tail -n 3 "$TMP/etcd.log")"
}

case_crd_on_etcd() {
	local out
	command -v etcd >/dev/null && command -v etcdctl >/dev/null || skip_case "needs etcd and etcdctl"
	DATA=$TMP/data-etcd
	start_etcd
	start_skiff_server "$DATA" "$TMP/server-etcd.log" tls --controllers=none --no-scheduler \
		--store "etcd://127.0.0.1:$ETCD_PORT/crd-$RUN_ID"
	crontab_crd "" | k 33 apply -f - >/dev/null || fail "apply the CRD"
	crontab e1 "* * * * *" "  replicas: 2" | k 33 apply -f - >/dev/null || fail "apply e1"
	out=$(k 33 get ct | squeeze)
	assert_contains "$out" "e1 * * * * * 2 "
	out=$(etcdctl --endpoints="127.0.0.1:$ETCD_PORT" get --prefix --keys-only "/crd-$RUN_ID/registry/stable.example.com/")
	assert_contains "$out" "crontabs/default/e1"
	# A second server on the same etcd serves what the first was told.
	DATA_B=$TMP/data-etcd-b
	start_skiff_server "$DATA_B" "$TMP/server-etcd-b.log" tls --controllers=none --no-scheduler \
		--store "etcd://127.0.0.1:$ETCD_PORT/crd-$RUN_ID"
	widget_crd | k 33 apply -f - >/dev/null || fail "apply the Widget CRD"
	wait_for 5 "$KDIR/kubectl.1.33" --kubeconfig "$DATA_B/kubeconfig" --cache-dir "$TMP/cache-b" \
		get widgets || fail "the second server does not serve widgets"
	k 33 delete crd crontabs.stable.example.com >/dev/null || fail "delete the CRD"
	out=$(etcdctl --endpoints="127.0.0.1:$ETCD_PORT" get --prefix --keys-only "/crd-$RUN_ID/registry/stable.example.com/")
	assert_eq "$out" "" "objects of the deleted CRD in etcd"
}

run_case crd_lifecycle
run_case crd_on_etcd
finish
