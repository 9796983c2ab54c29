#!/usr/bin/env bash
# skiff-server's API machinery over plain HTTP on loopback (curl + jq):
# metadata, optimistic concurrency, status subresource, generation,
# dryRun, finalizers, patches, paging, watch semantics (RV, ADDED for RV
# 0, bookmarks, 410 after compaction, a future RV waited for 3 s then 504
# Too large resource version), Status errors (400, 404, 409, 413,
# 415, 422), 431 for headers past a connection's memory, ClusterIP/NodePort allocation across a restart, deletes as
# the garbage collector's finalizers and Terminating namespaces.
# The API alone: the server runs without its controllers and scheduler.
# SKIFF_TEST_STORE=URL runs it on that store (test_api_etcd.sh: on etcd).
. "$(dirname "$0")/../harness/lib.sh"

require_bin skiff-server store-tool
require_cmd curl jq ss

DATA=$TMP/data
PORT=
SERVER_PID=

# start_server [PORT]: a free loopback port (or PORT again after a restart);
# the PID is kept in a file so a restart inside a case is stopped at exit.
start_server() {
	local try
	for try in 1 2 3 4 5; do
		PORT=${1:-$(free_port)}
		"$BIN/skiff-server" --data-dir "$DATA" ${SKIFF_TEST_STORE:+--store "$SKIFF_TEST_STORE"} \
			--secure-port 0 --insecure-port "$PORT" --controllers=none --no-scheduler \
			--compaction-interval 3 --max-request-bytes 65536 \
			--service-cluster-ip-range "${IP_RANGE:-10.99.0.0/28}" \
			--service-node-port-range "${PORT_RANGE:-30000-30003}" \
			--log-level warn >>"$TMP/server.log" 2>&1 &
		SERVER_PID=$!
		echo "$SERVER_PID" >"$TMP/server.pid"
		await_ready "$SERVER_PID" 60 curl -sf "http://127.0.0.1:$PORT/readyz" && return 0
		kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null
	done
	fail "skiff-server did not start: $(tail -n 3 "$TMP/server.log")"
}
# stop_server: the server gone before anything starts on its port (kill_tree
# of the PID in the file: a restart in an earlier case left its own;
# waits for it; a case runs in a subshell, where `wait` cannot).
stop_server() { kill_tree "$(cat "$TMP/server.pid")"; }
start_server
defer 'kill_tree $(cat "$TMP/server.pid")'

. "$(dirname "$0")/api_curl.sh"

NS=t-$RUN_ID
PODS=/api/v1/namespaces/$NS/pods
pod() { # NAME [LABELS-JSON]
	echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\",\"labels\":${2:-{\}}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"
}

case_namespace_and_metadata() {
	local r
	r=$(api POST $PODS "$(pod early)")
	assert_eq "$(code "$r")" 404 "create in a missing namespace"
	assert_eq "$(jqr "$r" .message)" "namespaces \"$NS\" not found"
	r=$(api POST /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$NS\"}}")
	assert_eq "$(code "$r")" 201
	r=$(api POST $PODS '{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"gen-"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}')
	assert_eq "$(code "$r")" 201
	[[ "$(jqr "$r" .metadata.name)" =~ ^gen-[a-z0-9]{5}$ ]] || fail "generateName: $(jqr "$r" .metadata.name)"
	[[ "$(jqr "$r" .metadata.uid)" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}- ]] || fail "uid: $(jqr "$r" .metadata.uid)"
	[[ "$(jqr "$r" .metadata.resourceVersion)" =~ ^[0-9]+$ ]] || fail "resourceVersion"
	[[ "$(jqr "$r" .metadata.creationTimestamp)" =~ ^20[0-9-]+T[0-9:]+Z$ ]] || fail "creationTimestamp"
	assert_eq "$(jqr "$r" '.metadata.namespace + " " + .status.phase + " " + .spec.restartPolicy')" "$NS Pending Always"
	r=$(api POST $PODS "$(pod p1 '{"app":"a"}')")
	assert_eq "$(code "$r")" 201
	r=$(api POST $PODS "$(pod p1)")
	assert_eq "$(code "$r")" 409
	assert_eq "$(jqr "$r" '.reason + ": " + .message')" 'AlreadyExists: pods "p1" already exists'
}

case_update_conflict_generation_status() {
	local r rv obj
	r=$(api GET $PODS/p1); rv=$(jqr "$r" .metadata.resourceVersion); obj=$(body "$r")
	r=$(api PUT $PODS/p1 "$(jq -c '.spec.containers[0].image="busybox:2"' <<<"$obj")")
	assert_eq "$(code "$r")" 200
	assert_ne "$(jqr "$r" .metadata.resourceVersion)" "$rv" "update bumps resourceVersion"
	assert_eq "$(jqr "$r" .metadata.generation)" 2 "spec change bumps generation"
	# The same stale object again: 409.
	r=$(api PUT $PODS/p1 "$(jq -c '.spec.containers[0].image="busybox:3"' <<<"$obj")")
	assert_eq "$(code "$r")" 409
	assert_eq "$(jqr "$r" .reason)" Conflict
	assert_contains "$(jqr "$r" .message)" 'Operation cannot be fulfilled on pods "p1": the object has been modified'
	# Status writes go through /status only and keep the generation.
	r=$(api GET $PODS/p1); obj=$(body "$r")
	r=$(api PUT $PODS/p1/status "$(jq -c '.status.phase="Running" | .spec.containers[0].image="nope"' <<<"$obj")")
	assert_eq "$(code "$r")" 200
	assert_eq "$(jqr "$r" '.status.phase + " " + .spec.containers[0].image + " " + (.metadata.generation|tostring)')" "Running busybox:2 2"
	r=$(api GET $PODS/p1); obj=$(body "$r")
	r=$(api PUT $PODS/p1 "$(jq -c '.status.phase="Failed" | .metadata.labels.x="y"' <<<"$obj")")
	assert_eq "$(jqr "$r" '.status.phase + " " + .metadata.labels.x + " " + (.metadata.generation|tostring)')" "Running y 2"
	# A write that changes nothing keeps the resourceVersion.
	rv=$(jqr "$r" .metadata.resourceVersion)
	r=$(api PUT $PODS/p1 "$(body "$r")")
	assert_eq "$(jqr "$r" .metadata.resourceVersion)" "$rv" "no-op update"
	r=$(api PUT $PODS/nosuch "$(pod nosuch)")
	assert_eq "$(code "$r")" 404
}

case_patches() {
	local r
	r=$(api PATCH $PODS/p1 '{"metadata":{"labels":{"app":null,"m":"1"}}}' application/merge-patch+json)
	assert_eq "$(code "$r")" 200
	assert_eq "$(jqr "$r" '.metadata.labels|keys|join(",")')" "m,x"
	r=$(api PATCH $PODS/p1 '[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}},{"op":"test","path":"/metadata/labels/m","value":"1"}]' application/json-patch+json)
	assert_eq "$(code "$r")" 200
	assert_eq "$(jqr "$r" .metadata.annotations.a)" b
	r=$(api PATCH $PODS/p1 '[{"op":"remove","path":"/metadata/nope"}]' application/json-patch+json)
	assert_eq "$(code "$r")" 422
	r=$(api PATCH $PODS/p1 '{"spec":{"containers":[{"name":"side","image":"busybox"}]}}' application/strategic-merge-patch+json)
	assert_eq "$(jqr "$r" '[.spec.containers[].name]|join(",")')" "c,side"
	r=$(api PATCH $PODS/p1 '{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}' application/strategic-merge-patch+json)
	assert_eq "$(jqr "$r" '[.spec.containers[].name]|join(",")')" "c"
	r=$(api PATCH $PODS/p1 '{"metadata":{"resourceVersion":"1"},"spec":{}}' application/merge-patch+json)
	assert_eq "$(code "$r")" 409 "patch with a stale resourceVersion"
	r=$(api PATCH $PODS/p1 '{}' application/yaml)
	assert_eq "$(code "$r")" 415
	# Server-side apply creates when missing, then merges.
	r=$(api PATCH "$PODS/applied?fieldManager=test" "$(pod applied)" application/apply-patch+yaml)
	assert_eq "$(code "$r")" 201
	r=$(api PATCH "$PODS/applied?fieldManager=test" '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"applied","labels":{"v":"2"}}}' application/apply-patch+yaml)
	assert_eq "$(code "$r") $(jqr "$r" .metadata.labels.v)" "200 2"
}

case_errors_are_status() {
	local r big
	r=$(api POST $PODS '{"apiVersion":"v1",')
	assert_eq "$(code "$r")" 400
	assert_eq "$(jqr "$r" '.kind + " " + .status + " " + .reason')" "Status Failure BadRequest"
	r=$(api POST $PODS $'\x0a\x02k8s' application/vnd.kubernetes.protobuf)
	assert_eq "$(code "$r") $(jqr "$r" .reason)" "415 UnsupportedMediaType"
	# Kubernetes protobuf ("k8s\0" + runtime.Unknown): decoded for the kinds
	# kubectl creates, a 415 naming what is not understood, 400 if broken.
	local cms=/api/v1/namespaces/$NS/configmaps
	pb() { # FILE OCTAL-ESCAPES...
		local f=$1; shift
		printf 'k8s\000'"$(printf '%s' "$@")" >"$TMP/$f"
		curl -s -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' \
			--data-binary "@$TMP/$f" -w '\n%{http_code}' "$(URL "$cms")"
	}
	# ConfigMap pb1 with data a=b.
	r=$(pb ok '\012\017\012\002v1\022\011ConfigMap' '\022\017' '\012\005\012\003pb1' '\022\006\012\001a\022\001b')
	assert_eq "$(code "$r") $(jqr "$r" '.metadata.name + " " + .data.a + " " + .kind')" "201 pb1 b ConfigMap"
	# The same with a field 9 no ConfigMap has.
	r=$(pb unknown '\012\017\012\002v1\022\011ConfigMap' '\022\011' '\012\005\012\003pb2' '\110\001')
	assert_eq "$(code "$r") $(jqr "$r" .reason)" "415 UnsupportedMediaType"
	assert_contains "$(jqr "$r" .message)" "protobuf field 9 of ConfigMap is not supported"
	r=$(pb pod '\012\011\012\002v1\022\003Pod' '\022\002\012\000')
	assert_eq "$(code "$r") $(jqr "$r" .message)" "415 protobuf bodies of v1 Pod are not supported by this server; send application/json (kubectl apply -f or create -f)"
	r=$(pb cut '\012\040\012')
	assert_eq "$(code "$r") $(jqr "$r" .reason)" "400 BadRequest"
	r=$(api POST $PODS '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},"spec":{"containers":[{"name":"c"},{"name":"C","image":"x"}]}}')
	assert_eq "$(code "$r")" 422
	assert_eq "$(jqr "$r" '.reason + " " + .details.kind + " " + .details.name')" "Invalid Pod bad"
	assert_eq "$(jqr "$r" '[.details.causes[].field]|join(",")')" "spec.containers[0].image,spec.containers[1].name"
	assert_eq "$(jqr "$r" '.details.causes[0].message')" "Required value"
	r=$(api POST $PODS '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nospec"}}')
	assert_eq "$(jqr "$r" '.details.causes[0].field')" spec
	# apiVersion and kind absent: taken from the path (test_api_decode.sh).
	r=$(api POST "$PODS?dryRun=All" '{"metadata":{"name":"notype"},"spec":{"containers":[{"name":"c","image":"i"}]}}')
	assert_eq "$(code "$r") $(jqr "$r" '.apiVersion + " " + .kind')" "201 v1 Pod"
	r=$(api POST $PODS '{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"x"}}')
	assert_eq "$(code "$r")" 400
	big=$(head -c 70000 /dev/zero | tr '\0' a)
	r=$(api POST $PODS "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"big\",\"annotations\":{\"a\":\"$big\"}}}")
	assert_eq "$(code "$r") $(jqr "$r" .reason)" "413 RequestEntityTooLarge"
	r=$(api POST "$PODS?fieldValidation=Strict" '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"typo","lables":{}},"sepc":{},"spec":{"containers":[{"name":"c","image":"i"}]}}')
	assert_eq "$(code "$r")" 400
	# In the body's order, as upstream's strict decoder finds them.
	assert_eq "$(jqr "$r" .message)" 'strict decoding error: unknown field "metadata.lables", unknown field "sepc"'
	r=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' --data '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"typo"},"sepc":{},"spec":{"containers":[{"name":"c","image":"i"}]}}' "$(URL "$PODS?fieldValidation=Warn")")
	assert_contains "$r" "201"
	assert_contains "$r" 'Warning: 299 - "unknown field \"sepc\""'
	r=$(api POST "$PODS?fieldValidation=Ignore" '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"typo2"},"sepc":{},"spec":{"containers":[{"name":"c","image":"i"}]}}')
	assert_eq "$(code "$r")" 201
	# Warn and Ignore drop what they name, as upstream's decoder does.
	assert_eq "$(jqr "$r" 'has("sepc")')" false
	r=$(api GET $PODS/typo)
	assert_eq "$(jqr "$r" 'has("sepc")')" false
	r=$(api GET $PODS/nosuch)
	assert_eq "$(code "$r")" 404
	assert_eq "$(jqr "$r" '.details.kind + "/" + .details.name')" "pods/nosuch"
	r=$(api GET /apis/apps/v1/namespaces/$NS/deployments/nosuch)
	assert_eq "$(jqr "$r" .message)" 'deployments.apps "nosuch" not found'
	r=$(api GET "$PODS?labelSelector=a%20in%20(")
	assert_eq "$(code "$r")" 400
	r=$(api GET "$PODS?fieldSelector=spec.frob%3Dx")
	assert_eq "$(code "$r")" 400
	assert_contains "$(jqr "$r" .message)" "spec.frob"
	r=$(api GET /api/v1/frobs)
	assert_eq "$(code "$r")" 404
	r=$(api DELETE /api/v1/namespaces/default)
	assert_eq "$(code "$r") $(jqr "$r" .reason)" "403 Forbidden"
	# Headers: a long bearer token's worth is read; past the connection's
	# memory (8 KiB), 431, and the next request is served.
	big=$(head -c 5000 /dev/zero | tr '\0' a)
	assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Long: $big" "$(URL "$PODS/typo")")" 200
	big=$(head -c 20000 /dev/zero | tr '\0' a)
	assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Long: $big" "$(URL "$PODS/typo")")" 431
	assert_eq "$(code "$(api GET "$PODS/typo")")" 200
}

case_dry_run_and_finalizers() {
	local r
	r=$(api POST "$PODS?dryRun=All" "$(pod dry)")
	assert_eq "$(code "$r")" 201
	r=$(api GET $PODS/dry)
	assert_eq "$(code "$r")" 404 "dry-run create persisted"
	r=$(api DELETE "$PODS/p1?dryRun=All")
	assert_eq "$(code "$r")" 200
	assert_eq "$(code "$(api GET $PODS/p1)")" 200 "dry-run delete deleted"
	r=$(api PATCH "$PODS/p1?dryRun=All" '{"metadata":{"labels":{"dry":"yes"}}}' application/merge-patch+json)
	assert_eq "$(code "$r") $(jqr "$r" .metadata.labels.dry)" "200 yes" "dry-run patch answers the result"
	r=$(api PUT "$PODS/p1?dryRun=All" "$(body "$(api GET $PODS/p1)" | jq -c '.metadata.labels.dry = "put"')")
	assert_eq "$(code "$r") $(jqr "$r" .metadata.labels.dry)" "200 put" "dry-run update answers the result"
	r=$(api DELETE "$PODS?dryRun=All")
	assert_eq "$(code "$r")" 200
	r=$(api GET $PODS/p1)
	assert_eq "$(code "$r") $(jqr "$r" '.metadata.labels.dry // "-"')" "200 -" "dry runs changed nothing"
	r=$(api POST $PODS '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"fin","finalizers":["test/hold"]},"spec":{"containers":[{"name":"c","image":"i"}]}}')
	r=$(api DELETE $PODS/fin '{"propagationPolicy":"Background"}')
	assert_eq "$(code "$r")" 200
	[ "$(jqr "$r" .metadata.deletionTimestamp)" != null ] || fail "no deletionTimestamp"
	assert_eq "$(code "$(api GET $PODS/fin)")" 200 "object with a finalizer is kept"
	r=$(api PATCH $PODS/fin '{"metadata":{"finalizers":null}}' application/merge-patch+json)
	assert_eq "$(code "$r")" 200
	assert_eq "$(code "$(api GET $PODS/fin)")" 404 "object gone with its last finalizer"
}

# The server turns the propagation policy into the garbage collector's
# finalizers and leaves the dependents to it (no collector runs here).
case_propagation_policy() {
	local r uid rv rs=/apis/apps/v1/namespaces/$NS/replicasets jobs=/apis/batch/v1/namespaces/$NS/jobs mode
	for mode in Orphan Foreground Background; do
		local o=owner-${mode,,} d=dep-${mode,,}
		r=$(api POST $rs "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"$o\"},\"spec\":{\"replicas\":0,\"selector\":{\"matchLabels\":{\"o\":\"$o\"}},\"template\":{\"metadata\":{\"labels\":{\"o\":\"$o\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}")
		assert_eq "$(code "$r")" 201 "$mode: owner"
		uid=$(jqr "$r" .metadata.uid)
		r=$(api POST $PODS "$(pod "$d" | jq -c ".metadata.ownerReferences = [{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"$o\",\"uid\":\"$uid\",\"controller\":true}]")")
		assert_eq "$(code "$r")" 201 "$mode: dependent"
		r=$(api DELETE $rs/$o "{\"propagationPolicy\":\"$mode\"}")
		assert_eq "$(code "$r")" 200 "$mode: delete"
		case $mode in
		Orphan) assert_eq "$(jqr "$r" '.metadata.finalizers | join(",")')" orphan ;;
		Foreground) assert_eq "$(jqr "$r" '.metadata.finalizers | join(",")')" foregroundDeletion ;;
		Background) assert_eq "$(code "$(api GET $rs/$o)")" 404 "background: the owner goes at once" ;;
		esac
		r=$(api GET $PODS/$d)
		assert_eq "$(code "$r") $(jqr "$r" '.metadata.ownerReferences | length')" "200 1" \
			"$mode: the dependent is the garbage collector's"
	done
	# Owners marked, kept until the collector removes its finalizer.
	r=$(api GET $rs/owner-orphan)
	[ "$(jqr "$r" .metadata.deletionTimestamp)" != null ] || fail "orphaning owner not marked"
	# A second delete changes the policy (orphan -> foreground), a third
	# with the same one changes nothing; the legacy orphanDependents too.
	r=$(api DELETE $rs/owner-orphan '{"propagationPolicy":"Foreground"}')
	assert_eq "$(code "$r") $(jqr "$r" '.metadata.finalizers | join(",")')" "200 foregroundDeletion"
	rv=$(jqr "$r" .metadata.resourceVersion)
	r=$(api DELETE $rs/owner-orphan '{"propagationPolicy":"Foreground"}')
	assert_eq "$(code "$r") $(jqr "$r" .metadata.resourceVersion)" "200 $rv" "same policy again: no write"
	r=$(api DELETE $rs/owner-orphan '{"orphanDependents":true}')
	assert_eq "$(jqr "$r" '.metadata.finalizers | join(",")')" orphan "the legacy orphanDependents"
	# Background on a marked owner: the finalizer goes, and the owner.
	r=$(api DELETE $rs/owner-foreground '{"propagationPolicy":"Background"}')
	assert_eq "$(code "$r")" 200
	assert_eq "$(code "$(api GET $rs/owner-foreground)")" 404 "background after foreground"
	r=$(api PATCH $rs/owner-orphan '{"metadata":{"finalizers":null}}' application/merge-patch+json)
	assert_eq "$(code "$r")" 200
	assert_eq "$(code "$(api GET $rs/owner-orphan)")" 404 "gone with the collector's finalizer"
	# No policy: the resource's default (a batch/v1 Job orphans, as upstream).
	r=$(api POST $jobs '{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"i"}]}}}}')
	assert_eq "$(code "$r")" 201
	r=$(api DELETE $jobs/j)
	assert_eq "$(code "$r") $(jqr "$r" '.metadata.finalizers | join(",")')" "200 orphan" "a Job's default policy"
	api PATCH $jobs/j '{"metadata":{"finalizers":null}}' application/merge-patch+json >/dev/null
	for mode in orphan foreground background; do api DELETE $PODS/dep-$mode >/dev/null; done
}

case_event_selectors_and_loopback() {
	local r ev=/api/v1/namespaces/$NS/events
	for o in Pod:web:u1 Pod:db:u2 Deployment:web:u3; do
		IFS=: read -r kind name uid <<<"$o"
		r=$(api POST $ev "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"generateName\":\"e-\"},\"involvedObject\":{\"kind\":\"$kind\",\"name\":\"$name\",\"namespace\":\"$NS\",\"uid\":\"$uid\"},\"reason\":\"R$uid\",\"message\":\"m\",\"type\":\"Normal\"}")
		assert_eq "$(code "$r")" 201 "event for $o"
	done
	# What kubectl describe asks for.
	r=$(api GET "$ev?fieldSelector=involvedObject.name%3Dweb,involvedObject.namespace%3D$NS,involvedObject.uid%3Du1")
	assert_eq "$(jqr "$r" '[.items[].reason]|join(",")')" Ru1
	r=$(api GET "$ev?fieldSelector=involvedObject.name%3Dweb,involvedObject.kind%3DDeployment")
	assert_eq "$(jqr "$r" '[.items[].reason]|join(",")')" Ru3
	r=$(api GET "$ev?fieldSelector=involvedObject.kind%21%3DDeployment")
	assert_eq "$(jqr "$r" '[.items[].reason]|sort|join(",")')" Ru1,Ru2
	# Plain HTTP listens on loopback only.
	assert_eq "$(ss -Hltn "sport = :$PORT" | awk '{print $4}' | sort -u)" "127.0.0.1:$PORT"
	"$BIN/skiff-server" --data-dir "$TMP/nohttp" --secure-port 0 --insecure-port 0 >"$TMP/nohttp.log" 2>&1 &&
		fail "a server with nothing to serve started"
	assert_contains "$(cat "$TMP/nohttp.log")" "nothing to serve"
}

case_list_paging_selectors() {
	local r i names cont rv
	for i in 1 2 3 4 5; do api POST $PODS "$(pod "page$i" "{\"grp\":\"g$((i % 2))\"}")" >/dev/null; done
	r=$(api GET "$PODS?labelSelector=grp%3Dg1&limit=2")
	assert_eq "$(jqr "$r" '[.items[].metadata.name]|join(",")')" "page1,page3"
	cont=$(jqr "$r" .metadata.continue)
	[ "$cont" != null ] && [ -n "$cont" ] || fail "no continue token"
	assert_eq "$(jqr "$r" .kind)" PodList
	r=$(api GET "$PODS?labelSelector=grp%3Dg1&limit=2&continue=$cont")
	assert_eq "$(jqr "$r" '([.items[].metadata.name]|join(",")) + " " + (.metadata.continue // "")')" "page5 "
	# The pages of one list are one view, at the first page's revision.
	r=$(api GET "$PODS?labelSelector=grp&limit=2")
	rv=$(jqr "$r" .metadata.resourceVersion)
	cont=$(jqr "$r" .metadata.continue)
	api DELETE $PODS/page4 >/dev/null
	api POST $PODS "$(pod page33 '{"grp":"g1"}')" >/dev/null
	api PATCH $PODS/page5 '{"metadata":{"labels":{"late":"yes"}}}' application/merge-patch+json >/dev/null
	r=$(api GET "$PODS?labelSelector=grp&limit=10&continue=$cont")
	assert_eq "$(code "$r")" 200 "continue: $r"
	assert_eq "$(jqr "$r" '([.items[].metadata.name]|join(",")) + " " + .metadata.resourceVersion + " " + (.items[-1].metadata.labels.late // "-")')" \
		"page3,page4,page5 $rv -" "pages after the first as of revision $rv"
	# Once compacted past it, the token is too old: 410.
	wait_for 15 eval '[ "$(code "$(api GET "$PODS?labelSelector=grp&limit=10&continue=$cont")")" = 410 ]' ||
		fail "continue token still served after compaction"
	r=$(api GET "$PODS?labelSelector=grp&limit=10&continue=$cont")
	assert_eq "$(jqr "$r" .reason)" Expired
	api POST $PODS "$(pod page4 '{"grp":"g0"}')" >/dev/null
	api DELETE $PODS/page33 >/dev/null
	r=$(api GET "$PODS?continue=zz")
	assert_eq "$(code "$r")" 400
	r=$(api GET "$PODS?fieldSelector=metadata.name%3Dpage2")
	assert_eq "$(jqr "$r" '[.items[].metadata.name]|join(",")')" "page2"
	r=$(curl -s -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' "$(URL "$PODS?labelSelector=grp%3Dg0&includeObject=Object")")
	assert_eq "$(jq -r '.kind + " " + ([.columnDefinitions[].name]|join(","))' <<<"$r")" "Table Name,Ready,Status,Restarts,Age,IP,Node,Nominated Node,Readiness Gates"
	assert_eq "$(jq -r '([.rows[].cells[0]]|join(",")) + " " + .rows[0].object.kind + " " + .rows[0].object.spec.containers[0].name' <<<"$r")" "page2,page4 Pod c"
	[[ "$(jq -r .metadata.resourceVersion <<<"$r")" =~ ^[0-9]+$ ]] || fail "table without resourceVersion"
	r=$(api DELETE "$PODS?labelSelector=grp")
	assert_eq "$(code "$r")" 200
	names=$(jqr "$(api GET "$PODS")" '[.items[].metadata.name]|join(",")')
	assert_not_contains "$names" page
	assert_contains "$names" p1
}

case_watch() {
	local r rv out
	r=$(api GET $PODS); rv=$(jqr "$r" .metadata.resourceVersion)
	curl -sN "$(URL "$PODS?watch=true&resourceVersion=$rv&timeoutSeconds=30")" >"$TMP/w1" &
	local wp=$!
	api POST $PODS "$(pod w1)" >/dev/null
	api PATCH $PODS/w1 '{"metadata":{"labels":{"l":"1"}}}' application/merge-patch+json >/dev/null
	api DELETE $PODS/w1 >/dev/null
	wait_for 20 grep -q DELETED "$TMP/w1" || fail "no DELETED event in 20 s; the stream: '$(cat "$TMP/w1")'"
	kill $wp; wait $wp 2>/dev/null
	assert_eq "$(jq -r '.type + ":" + .object.metadata.name' "$TMP/w1" | tr '\n' ' ')" "ADDED:w1 MODIFIED:w1 DELETED:w1 " "watch from the list RV"
	# RV 0: every existing object as ADDED first; the label selector filters.
	out=$(curl -sN "$(URL "$PODS?watch=1&resourceVersion=0&timeoutSeconds=1&labelSelector=app%21%3Dzz")" | jq -r '.type' | sort | uniq -c | tr -s ' ')
	assert_contains "$out" " ADDED"
	assert_not_contains "$out" "MODIFIED"
	# Bookmarks: one before the timeout, carrying the current RV.
	rv=$(jqr "$(api GET $PODS)" .metadata.resourceVersion)
	out=$(curl -sN "$(URL "$PODS?watch=true&resourceVersion=$rv&timeoutSeconds=2&allowWatchBookmarks=true")" | jq -r 'select(.type=="BOOKMARK") | .object.kind + " " + .object.metadata.resourceVersion')
	[[ "$out" =~ ^Pod\ [0-9]+$ ]] || fail "no bookmark: '$out'"
	# After compaction (every 3 s here) an old RV is gone: 410 Expired.
	out=$(curl -sN "$(URL "$PODS?watch=true&resourceVersion=1&timeoutSeconds=2")")
	assert_eq "$(jq -r '.type + " " + (.object.code|tostring) + " " + .object.reason' <<<"$out")" "ERROR 410 Expired"
	# An RV the store reaches within the 3 s the watch cache waits: served.
	rv=$(jqr "$(api GET $PODS)" .metadata.resourceVersion)
	curl -sN "$(URL "$PODS?watch=true&resourceVersion=$((rv + 1))&timeoutSeconds=30")" >"$TMP/w4" &
	wp=$!
	sleep 0.5
	api POST $PODS "$(pod w4)" >/dev/null
	api PATCH $PODS/w4 '{"metadata":{"labels":{"l":"4"}}}' application/merge-patch+json >/dev/null
	wait_for 20 grep -q MODIFIED "$TMP/w4" || fail "no MODIFIED event in 20 s; the stream: '$(cat "$TMP/w4")'"
	kill $wp; wait $wp 2>/dev/null
	assert_eq "$(jq -r '.type + ":" + .object.metadata.name' "$TMP/w4" | tr '\n' ' ')" "MODIFIED:w4 " \
		"watch from the next RV"
	# One it does not reach: after 3 s, upstream's Too large resource version.
	rv=$(jqr "$(api GET $PODS)" .metadata.resourceVersion)
	local t0=$SECONDS
	out=$(curl -sN --max-time 20 "$(URL "$PODS?watch=true&resourceVersion=$((rv + 1000))")")
	[ $((SECONDS - t0)) -ge 2 ] && [ $((SECONDS - t0)) -le 6 ] ||
		fail "the future RV was answered after $((SECONDS - t0)) s, not about 3"
	assert_eq "$(jq -r '[.type, .object.code, .object.reason, .object.details.causes[0].reason, .object.details.retryAfterSeconds] | map(tostring) | join(" ")' <<<"$out")" \
		"ERROR 504 Timeout ResourceVersionTooLarge 1" "watch from a future RV: $out"
	assert_eq "$(jq -r .object.message <<<"$out")" \
		"Timeout: Too large resource version: $((rv + 1000)), current: $rv"
	# A watch on one name. The RV is read before curl goes to the
	# background: read in the background job, it could come after w2's
	# creation (the stream then rightly empty: a flake at load 18).
	rv=$(jqr "$(api GET $PODS)" .metadata.resourceVersion)
	curl -sN "$(URL "$PODS?watch=true&fieldSelector=metadata.name%3Dw2&resourceVersion=$rv&timeoutSeconds=30")" >"$TMP/w2" &
	wp=$!
	api POST $PODS "$(pod w3)" >/dev/null
	api POST $PODS "$(pod w2)" >/dev/null
	wait_for 20 grep -q '"w2"' "$TMP/w2" || fail "no event for w2 in 20 s; the stream: '$(cat "$TMP/w2")'"
	sleep 0.5 # anything else (w3) would have come by now
	kill $wp; wait $wp 2>/dev/null
	assert_eq "$(jq -r '.type + ":" + (.object.metadata.name // "")' "$TMP/w2" | tr '\n' ' ')" "ADDED:w2 " \
		"the stream: $(cat "$TMP/w2")"
}

case_binding_and_graceful_pod_delete() {
	local r node=node-$RUN_ID
	r=$(api POST /api/v1/nodes "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$node\"},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}")
	assert_eq "$(code "$r") $(jqr "$r" '.status.conditions[0].type')" "201 Ready" "a node keeps the status it is created with"
	api POST $PODS "$(pod bound)" >/dev/null
	r=$(api POST $PODS/bound/binding "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"bound\"},\"target\":{\"kind\":\"Node\",\"name\":\"$node\"}}")
	assert_eq "$(code "$r") $(jqr "$r" .kind) $(jqr "$r" .status) $(jqr "$r" .code)" "201 Status Success 201" \
		"a binding answers with a Status, as upstream's"
	assert_eq "$(jqr "$(api GET $PODS/bound)" .spec.nodeName)" "$node"
	r=$(api POST $PODS/bound/binding '{"target":{"name":"other"}}')
	assert_eq "$(code "$r")" 409 "binding twice"
	# Bound to a live node: the kubelet gets the grace period.
	r=$(api DELETE $PODS/bound)
	assert_eq "$(code "$r") $(jqr "$r" .metadata.deletionGracePeriodSeconds)" "200 30"
	r=$(api GET $PODS/bound)
	assert_eq "$(code "$r")" 200 "graceful delete keeps the pod for its kubelet"
	r=$(api GET "$PODS?fieldSelector=spec.nodeName%3D$node")
	assert_eq "$(jqr "$r" '[.items[].metadata.name]|join(",")')" bound
	r=$(api DELETE "$PODS/bound" '{"gracePeriodSeconds":0}')
	assert_eq "$(code "$r")" 200
	assert_eq "$(code "$(api GET $PODS/bound)")" 404 "grace 0 deletes"
	api DELETE /api/v1/nodes/$node >/dev/null
}

svc() { # NAME TYPE [NODEPORT] [CLUSTERIP]
	local np=${3:+,\"nodePort\":$3} ip=${4:+,\"clusterIP\":\"$4\"}
	echo "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"type\":\"$2\"$ip,\"ports\":[{\"port\":80$np}]}}"
}

case_service_allocation() {
	local S=/api/v1/namespaces/$NS/services r ip1 ips i
	r=$(api POST $S "$(svc a NodePort 30001)")
	assert_eq "$(code "$r") $(jqr "$r" .spec.ports[0].nodePort)" "201 30001"
	ip1=$(jqr "$r" .spec.clusterIP)
	[[ "$ip1" =~ ^10\.99\.0\.([2-9]|1[1-4])$ ]] ||
		fail "cluster IP $ip1 outside 10.99.0.0/28 (minus .0 .1 .10 .15)"
	r=$(api POST $S "$(svc b NodePort 30001)")
	assert_eq "$(code "$r")" 422 "same nodePort twice"
	assert_contains "$(jqr "$r" .message)" "provided port is already allocated"
	r=$(api POST $S "$(svc c ClusterIP "" "$ip1")")
	assert_eq "$(code "$r")" 422 "same clusterIP twice"
	assert_contains "$(jqr "$r" .message)" "provided IP is already allocated"
	r=$(api POST $S "$(svc d NodePort 40000)")
	assert_eq "$(code "$r")" 422 "nodePort out of range"
	# Fill the tiny range: 13 usable addresses, the kubernetes service has
	# .1, kube-system/kube-dns .10.
	ips="$ip1"
	for i in $(seq 1 11); do
		r=$(api POST $S "$(svc "f$i" ClusterIP)")
		assert_eq "$(code "$r")" 201 "service f$i"
		ips="$ips $(jqr "$r" .spec.clusterIP)"
	done
	assert_eq "$(tr ' ' '\n' <<<"$ips" | sort -u | wc -l)" 12 "addresses are distinct"
	r=$(api POST $S "$(svc full ClusterIP)")
	assert_eq "$(code "$r")" 500 "range exhausted"
	assert_contains "$(jqr "$r" .message)" "range is full"
	# The allocations survive a restart.
	stop_server
	start_server "$PORT"
	r=$(api POST $S "$(svc full ClusterIP)")
	assert_eq "$(code "$r")" 500 "range still full after restart"
	api DELETE $S/f2 >/dev/null
	r=$(api POST $S "$(svc b NodePort 30001)")
	assert_eq "$(code "$r")" 422 "nodePort still held after restart"
	# Deleting releases both.
	r=$(api DELETE $S/a)
	assert_eq "$(code "$r")" 200
	r=$(api POST $S "$(svc b NodePort 30001)")
	assert_eq "$(code "$r") $(jqr "$r" .spec.ports[0].nodePort)" "201 30001" "nodePort released on delete"
	r=$(api POST $S "$(svc c ClusterIP "" "$(jqr "$(api GET $S/b)" .spec.clusterIP)")")
	assert_eq "$(code "$r")" 422
	r=$(api DELETE $S/f1)
	r=$(api POST $S "$(svc c2 ClusterIP)")
	assert_eq "$(code "$r")" 201 "address released on delete"
	r=$(api GET /api/v1/namespaces/default/services/kubernetes)
	assert_eq "$(jqr "$r" '.spec.clusterIP + " " + (.spec.ports[0].port|tostring)')" "10.99.0.1 443"
	# the cluster DNS Service, at the 10th address as kubeadm puts it
	r=$(api GET /api/v1/namespaces/kube-system/services/kube-dns)
	assert_eq "$(jqr "$r" '[.spec.clusterIP, .metadata.labels["k8s-app"], (.spec.ports[] | "\(.name) \(.port)/\(.protocol)")] | join(", ")')" \
		"10.99.0.10, kube-dns, dns 53/UDP, dns-tcp 53/TCP"
}

# Dynamic allocations keep out of the static band at the range's start
# (KEP-3070: min(max(16, n/16), 256) addresses; KEP-3668: min(max(16,
# n/32), 128) ports) while the rest has room, so an address or port a
# user picks there is free. A /24 has 253 usable addresses: .2-.17 are
# the band; 30000-30099 has 100 ports: 30000-30015.
case_service_allocation_static_band() {
	local S=/api/v1/namespaces/default/services r i ip np low="" data=$DATA
	# A data dir of its own, so these Services stay out of the other
	# cases' store (on etcd the store is shared: they are deleted below).
	stop_server
	DATA=$TMP/band-data IP_RANGE=10.99.0.0/24 PORT_RANGE=30000-30099 start_server "$PORT"
	for i in $(seq 1 40); do
		r=$(api POST $S "$(svc "band$i" NodePort)")
		assert_eq "$(code "$r")" 201 "service band$i: $(jqr "$r" .message)"
		ip=$(jqr "$r" .spec.clusterIP) np=$(jqr "$r" .spec.ports[0].nodePort)
		(( ${ip##*.} >= 2 && ${ip##*.} <= 17 )) && low="$low $ip"
		(( np <= 30015 )) && low="$low $np"
	done
	assert_eq "$low" "" "dynamic allocations in the static band"
	# Outside the /28 and 30000-30003 of the other cases (on etcd the
	# store, and what they hold, is shared).
	r=$(api POST $S "$(svc band-static NodePort 30015 10.99.0.17)")
	assert_eq "$(code "$r") $(jqr "$r" .spec.clusterIP) $(jqr "$r" .spec.ports[0].nodePort)" \
		"201 10.99.0.17 30015" "a user's pick in the band: $(jqr "$r" .message)"
	for i in $(seq 1 40) -static; do api DELETE "$S/band$i" >/dev/null; done
	stop_server
	DATA=$data start_server "$PORT"
}

case_allocation_repair() {
	local S=/api/v1/namespaces/$NS/services r store=${SKIFF_TEST_STORE:-$DATA/state.db}
	# A claim no service holds, as a server stopped between claiming and
	# creating leaves it.
	"$TESTBIN/store-tool" --store "$store" create /registry/ranges/servicenodeports/30002 "$NS/ghost" \
		>/dev/null || fail "cannot write the stray claim"
	r=$(api POST $S "$(svc ghost2 NodePort 30002)")
	assert_eq "$(code "$r")" 422 "the stray claim holds the port at first"
	# Released once two repair passes (one per compaction tick, 3 s here)
	# found it unheld.
	wait_for 30 eval '[ "$(code "$(api POST $S "$(svc ghost2 NodePort 30002)")")" = 201 ]' ||
		fail "stray claim of port 30002 never released"
	api DELETE $S/ghost2 >/dev/null
	r=$(api POST $S "$(svc b2 NodePort 30001)")
	assert_eq "$(code "$r") $(jqr "$r" .message)" \
		"422 Service \"b2\" is invalid: spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated" \
		"a held port stays held"
}

case_dual_stack_services() {
	local r S=/api/v1/namespaces/default/services port data=$TMP/ds pid
	out=$("$BIN/skiff-server" --data-dir "$data" --insecure-port 1 --service-cluster-ip-range 10.1.0.0/8 2>&1) &&
		fail "a /8 service range was accepted"
	assert_contains "$out" "--service-cluster-ip-range"
	r=$(api POST $S "$(svc ds1 ClusterIP | jq -c '.spec.ipFamilyPolicy="RequireDualStack"')")
	assert_eq "$(code "$r")" 422 "RequireDualStack on a single-stack cluster"
	for try in 1 2 3 4 5; do
		port=$(free_port)
		"$BIN/skiff-server" --data-dir "$data" --secure-port 0 --insecure-port "$port" \
			--service-cluster-ip-range 10.98.0.0/24,fd00:98::/120 --log-level warn >>"$TMP/ds.log" 2>&1 &
		pid=$!
		defer "kill_tree $pid"
		await_ready "$pid" 60 curl -sf "http://127.0.0.1:$port/readyz" && break
	done
	PORT=$port
	r=$(api POST $S "$(svc v4 ClusterIP)")
	assert_eq "$(jqr "$r" '(.spec.ipFamilies|join(",")) + " " + .spec.ipFamilyPolicy + " " + (.spec.clusterIPs|length|tostring)')" "IPv4 SingleStack 1"
	r=$(api POST $S "$(svc both ClusterIP | jq -c '.spec.ipFamilyPolicy="PreferDualStack"')")
	assert_eq "$(jqr "$r" '.spec.ipFamilies|join(",")')" "IPv4,IPv6"
	[[ "$(jqr "$r" '.spec.clusterIPs[0]')" =~ ^10\.98\.0\.[0-9]+$ ]] || fail "first address $(jqr "$r" '.spec.clusterIPs[0]')"
	[[ "$(jqr "$r" '.spec.clusterIPs[1]')" =~ ^fd00:98::[0-9a-f]+$ ]] || fail "second address $(jqr "$r" '.spec.clusterIPs[1]')"
	assert_eq "$(jqr "$r" .spec.clusterIP)" "$(jqr "$r" '.spec.clusterIPs[0]')"
	r=$(api POST $S "$(svc v6 ClusterIP | jq -c '.spec.ipFamilies=["IPv6"]')")
	assert_eq "$(jqr "$r" '(.spec.ipFamilies|join(",")) + " " + (.spec.clusterIPs|length|tostring)')" "IPv6 1"
	# An address the random allocations above did not take (1 in ~100 runs
	# they took ::77).
	local taken want=
	taken=$(jqr "$(api GET $S)" '.items[]?.spec.clusterIPs[]?')
	for want in fd00:98::77 fd00:98::78 fd00:98::79; do
		grep -qx "$want" <<<"$taken" || break
	done
	r=$(api POST $S "$(svc v6b ClusterIP "" "$want")")
	assert_eq "$(code "$r") $(jqr "$r" '.spec.ipFamilies|join(",")')" "201 IPv6"
	r=$(api POST $S "$(svc v6c ClusterIP "" "$want")")
	assert_eq "$(code "$r")" 422 "IPv6 address taken twice"
	r=$(api POST $S "$(svc v6d ClusterIP "" fd00:99::1)")
	assert_eq "$(code "$r")" 422 "IPv6 address outside the range"
	assert_contains "$(jqr "$r" .message)" "not in the valid range"
	api DELETE $S/v6b >/dev/null
	r=$(api POST $S "$(svc v6c ClusterIP "" fd00:98::77)")
	assert_eq "$(code "$r")" 201 "IPv6 address released on delete"
	r=$(api GET $S/kubernetes)
	assert_eq "$(jqr "$r" .spec.clusterIP)" 10.98.0.1
}

case_scale_and_discovery() {
	local D=/apis/apps/v1/namespaces/$NS/deployments r
	r=$(api POST $D "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}")
	assert_eq "$(code "$r") $(jqr "$r" .spec.replicas)" "201 1"
	r=$(api GET $D/d/scale)
	assert_eq "$(jqr "$r" '.kind + " " + .apiVersion + " " + (.spec.replicas|tostring) + " " + .status.selector')" "Scale autoscaling/v1 1 a=b"
	r=$(api PATCH $D/d/scale '{"spec":{"replicas":4}}' application/merge-patch+json)
	assert_eq "$(jqr "$r" '.kind + " " + (.spec.replicas|tostring)')" "Scale 4"
	assert_eq "$(jqr "$(api GET $D/d)" '(.spec.replicas|tostring) + " " + (.metadata.generation|tostring)')" "4 2"
	r=$(api PATCH $D/d/scale '{"spec":{"replicas":-1}}' application/merge-patch+json)
	assert_eq "$(code "$r")" 422
	r=$(api GET /apis/apps/v1)
	assert_eq "$(jqr "$r" '.resources[] | select(.name=="deployments/scale") | .group + "/" + .version + " " + .kind')" "autoscaling/v1 Scale"
	assert_eq "$(jqr "$r" '.resources[] | select(.name=="deployments") | (.shortNames|join(",")) + " " + (.categories|join(","))')" "deploy all"
	r=$(api GET /apis)
	assert_contains "$(jqr "$r" '[.groups[].name]|join(",")')" "apps,batch"
	r=$(api GET /api)
	assert_eq "$(jqr "$r" '.versions|join(",")')" v1
	r=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$(URL /openapi/v2)")
	assert_eq "$r" "200 application/json"
	r=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' \
		-H 'Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf' "$(URL /openapi/v2)")
	assert_eq "$r" "200 application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	r=$(api GET /openapi/v3)
	assert_contains "$(jqr "$r" '.paths|keys|join(",")')" "api/v1,apis/"
	assert_contains "$(jqr "$r" '.paths|keys|join(",")')" ",apis/apps/v1,"
	r=$(api GET /openapi/v3/apis/apps/v1)
	assert_eq "$(jqr "$r" ".paths[\"/apis/apps/v1/namespaces/{namespace}/deployments/{name}\"].patch.parameters[0].name")" fieldValidation
	# A deleted namespace is Terminating: its contents are the namespace
	# controller's (none runs here), nothing new may be created in it,
	# and it goes once finalized.
	r=$(api DELETE /api/v1/namespaces/$NS)
	assert_eq "$(code "$r") $(jqr "$r" .status.phase)" "200 Terminating"
	[ "$(jqr "$r" .metadata.deletionTimestamp)" != null ] || fail "namespace not marked"
	assert_eq "$(code "$(api GET $D/d)")" 200 "the server deletes no content itself"
	r=$(api POST $PODS "$(pod late)")
	assert_eq "$(code "$r") $(jqr "$r" .reason)" "403 Forbidden"
	assert_eq "$(jqr "$r" .message)" "pods \"late\" is forbidden: unable to create new content in namespace $NS because it is being terminated"
	assert_eq "$(jqr "$r" '.details.causes[0] | .reason + " " + .field')" "NamespaceTerminating metadata.namespace"
	r=$(api DELETE /api/v1/namespaces/$NS)
	assert_eq "$(code "$r") $(jqr "$r" .reason)" "409 Conflict" "a second delete while it empties"
	r=$(api PUT /api/v1/namespaces/$NS/finalize "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$NS\"},\"spec\":{\"finalizers\":[]}}")
	assert_eq "$(code "$r")" 200 "finalize"
	assert_eq "$(code "$(api GET /api/v1/namespaces/$NS)")" 404 "finalized: gone"
}

run_case namespace_and_metadata
run_case update_conflict_generation_status
run_case patches
run_case errors_are_status
run_case dry_run_and_finalizers
run_case propagation_policy
run_case list_paging_selectors
run_case event_selectors_and_loopback
run_case watch
run_case binding_and_graceful_pod_delete
run_case service_allocation
run_case service_allocation_static_band
run_case allocation_repair
run_case dual_stack_services
run_case scale_and_discovery
finish
