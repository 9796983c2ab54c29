#!/usr/bin/env bash
# Workloads end to end: one skiff-server with its controllers and scheduler,
# 6 hollow nodes (tests/tools/hollow-nodes) playing the kubelets, driven by
# the real kubectl 1.27 and 1.33 (each where the behaviour is kubectl's).
#   deployment_rollout  create -> pods Running/Ready on hollow nodes and
#                       `rollout status` returns; `set image` rolls a new
#                       ReplicaSet within maxSurge 1 / maxUnavailable 1 (the
#                       ReplicaSets' replicas and the pods' readiness
#                       watched); history with change-cause, undo
#                       (revision advances, revision 1's ReplicaSet scaled
#                       up again as revision 3, no third ReplicaSet),
#                       pause/resume, restart, scale.
#   progress_deadline   new pods that never turn ready: the rollout stops at
#                       maxUnavailable, ProgressDeadlineExceeded (10 s) in the
#                       conditions and in `rollout status`
#   events              ScalingReplicaSet, SuccessfulCreate, Scheduled in
#                       `get events`, and each under its object in
#                       `describe deployment | rs | pod` (which select
#                       Events by involvedObject.uid)
#   rs_adopt_orphan     `delete rs --cascade=orphan` leaves the pods; a new
#                       ReplicaSet with the same selector adopts them
#   daemonset           one pod per node; a tainted node without toleration
#                       gets none; nodeSelector honoured
#   statefulset         web-0..2 in order (each after the previous is Ready),
#                       hostname/subdomain; scale down removes the highest
#                       first; volumeClaimTemplates -> 422
#   job                 completions 3 parallelism 2 -> Complete; exit code 1
#                       -> Failed/BackoffLimitExceeded; Indexed mode's index
#   cronjob             `create job --from=cronjob/` (both kubectl); the
#                       */1 schedule's first run (created early, checked
#                       last: cronjob_schedule)
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

N=6
e2e_start $N

# deploy NS NAME REPLICAS IMAGE [PROGRESS_DEADLINE]
deploy() {
	cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $2, namespace: $1}
spec:
  replicas: $3
  progressDeadlineSeconds: ${5:-600}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}
  selector: {matchLabels: {app: $2}}
  template:
    metadata: {labels: {app: $2}}
    spec: {containers: [{name: c, image: "$4"}]}
YAML
}
# pods_state V NS SELECTOR: "phase/ready/node" of each pod, sorted.
pods_state() {
	k "$1" -n "$2" get pods -l "$3" -o jsonpath='{range .items[*]}{.status.phase}/{.status.conditions[?(@.type=="Ready")].status}/{.spec.nodeName}{"\n"}{end}' |
		sed "s|/hollow-$HP-[0-9]*$|/hollow|" | sort | uniq -c | tr -s ' ' | sed 's/^ //'
}
dfield() { k 33 -n "$1" get deploy "$2" -o jsonpath="$3"; }
rs_count() { k 33 -n "$1" get rs -l "app=$2" -o name | wc -l; }

# rollout_bounds FILE REPLICAS: "MAX MIN NEW" over the watch in FILE: the
# most pods not terminating at once, the fewest of them Ready (after the
# initial REPLICAS), and how many pods were added during the watch.
rollout_bounds() {
	jq -rs --argjson n "$2" '
		reduce .[] as $e ({p: {}, seen: 0, max: 0, min: 1000000, added: 0};
			.seen += 1
			| (if $e.type == "DELETED" then .p |= del(.[$e.object.metadata.name])
			   else .p[$e.object.metadata.name] = {
				t: ($e.object.metadata.deletionTimestamp != null),
				r: ([$e.object.status.conditions[]? | select(.type == "Ready") | .status][0] == "True")} end)
			| (if .seen > $n and $e.type == "ADDED" then .added += 1 else . end)
			| .max = ([.max, ([.p[] | select(.t | not)] | length)] | max)
			| (if .seen >= $n then .min = ([.min, ([.p[] | select(.r and (.t | not))] | length)] | min) else . end))
		| "\(.max) \(.min) \(.added)"' "$1"
}
# rs_spec_max FILE: the most replicas the watch in FILE (of ReplicaSets)
# saw asked of them at once (the sum of their spec.replicas).
rs_spec_max() {
	jq -rs 'reduce .[] as $e ({r: {}, max: 0};
			(if $e.type == "DELETED" then .r |= del(.[$e.object.metadata.name])
			 else .r[$e.object.metadata.name] = ($e.object.spec.replicas // 0) end)
			| .max = ([.max, ([.r[]] | add // 0)] | max))
		| .max' "$1"
}

case_deployment_rollout() {
	local v ns out b rev n_rs max min added rs1 asked
	for v in 27 33; do
		ns=dep$v
		k $v create namespace $ns >/dev/null || fail "namespace $ns"
		deploy $ns web 4 registry.local/web:1 | k $v apply -f - >/dev/null || fail "Deployment web"
		k $v -n $ns rollout status deploy/web --timeout=60s >/dev/null ||
			fail "kubectl 1.$v rollout status did not return: $(k $v -n $ns get deploy,rs,pods 2>&1)"
		assert_eq "$(pods_state $v $ns app=web)" "4 Running/True/hollow" "web's pods (kubectl 1.$v)"

		rs1=$(k 33 -n $ns get rs -l app=web -o jsonpath='{.items[0].metadata.name}')

		# set image: every pod event watched, within maxSurge / maxUnavailable
		watch_start "$TMP/roll$v" -n $ns pods -l app=web
		watch_start "$TMP/rsroll$v" -n $ns rs -l app=web
		k $v -n $ns set image deploy/web c=registry.local/web:2 >/dev/null || fail "set image"
		k $v -n $ns annotate deploy/web kubernetes.io/change-cause="image 2" >/dev/null || fail "annotate"
		k $v -n $ns rollout status deploy/web --timeout=60s >/dev/null || fail "rollout to image 2 did not finish"
		wait_for 10 eval '[ "$(pods_state $v $ns app=web)" = "4 Running/True/hollow" ]' ||
			fail "after the rollout: $(pods_state $v $ns app=web)"
		watch_stop "$TMP/roll$v"
		watch_stop "$TMP/rsroll$v"
		b=$(rollout_bounds "$TMP/roll$v" 4)
		echo "rollout (kubectl 1.$v): most pods $(cut -d' ' -f1 <<<"$b"), fewest ready $(cut -d' ' -f2 <<<"$b"), added $(cut -d' ' -f3 <<<"$b"), most replicas asked $(rs_spec_max "$TMP/rsroll$v")" >&2
		read -r max min added <<<"$b"
		[ "$added" -ge 4 ] || fail "the watch saw $added new pods, not the 4 of the rollout"
		# maxSurge bounds what the ReplicaSets are asked (upstream's
		# NewRSNewReplicas sums their spec.replicas); the old set's pod
		# leaves and the new set's comes through the ReplicaSet
		# controller separately, so for a moment both can exist (the
		# pods' count is reported above, not bounded).
		asked=$(rs_spec_max "$TMP/rsroll$v")
		[ "$asked" -ge 4 ] || fail "the ReplicaSets' watch saw $asked replicas asked, not the 4 running"
		[ "$asked" -le 5 ] || fail "$asked replicas asked at once: over replicas 4 + maxSurge 1"
		[ "$min" -ge 3 ] || fail "$min ready pods at one time: under replicas 4 - maxUnavailable 1"
		assert_eq "$(rs_count $ns web)" 2 "ReplicaSets after set image"

		out=$(k $v -n $ns rollout history deploy/web)
		grep -qE '^1 +<none>' <<<"$out" || fail "history without revision 1: $out"
		grep -qE '^2 +image 2' <<<"$out" || fail "history without revision 2 'image 2': $out"
		out=$(k $v -n $ns rollout history deploy/web --revision=2)
		assert_contains "$out" "registry.local/web:2" "history --revision=2"

		# undo: back to image 1 as revision 3
		k $v -n $ns rollout undo deploy/web >/dev/null || fail "rollout undo"
		k $v -n $ns rollout status deploy/web --timeout=60s >/dev/null || fail "undo did not finish"
		assert_eq "$(dfield $ns web '{.spec.template.spec.containers[0].image}')" registry.local/web:1
		wait_for 10 eval '[ "$(dfield $ns web "{.metadata.annotations.deployment\.kubernetes\.io/revision}")" = 3 ]' ||
			fail "revision after undo: $(dfield $ns web '{.metadata.annotations}')"
		out=$(k $v -n $ns rollout history deploy/web)
		grep -qE '^3 ' <<<"$out" || fail "history without revision 3: $out"
		grep -qE '^1 ' <<<"$out" && fail "revision 1 still in the history after undo: $out"
		assert_eq "$(rs_count $ns web)" 2 "ReplicaSets after undo (revision 1's is reused)"
		assert_eq "$(k 33 -n $ns get rs "$rs1" -o jsonpath='{.spec.replicas}/{.metadata.annotations.deployment\.kubernetes\.io/revision}')" \
			4/3 "revision 1's ReplicaSet after undo"
		n_rs=$(rs_count $ns web)

		# pause: a template change makes no ReplicaSet until resume
		k $v -n $ns rollout pause deploy/web >/dev/null || fail "rollout pause"
		k $v -n $ns set image deploy/web c=registry.local/web:3 >/dev/null || fail "set image while paused"
		wait_for 10 eval '[ "$(dfield $ns web "{.status.observedGeneration}")" = "$(dfield $ns web "{.metadata.generation}")" ]' ||
			fail "the paused Deployment's change was not observed"
		assert_eq "$(dfield $ns web '{.status.conditions[?(@.type=="Progressing")].reason}')" DeploymentPaused
		assert_eq "$(rs_count $ns web)" $n_rs "no new ReplicaSet while paused"
		k $v -n $ns rollout resume deploy/web >/dev/null || fail "rollout resume"
		k $v -n $ns rollout status deploy/web --timeout=60s >/dev/null || fail "resumed rollout did not finish"
		assert_eq "$(rs_count $ns web)" $((n_rs + 1)) "a ReplicaSet for image 3 after resume"

		# restart: a new ReplicaSet stamped restartedAt
		k $v -n $ns rollout restart deploy/web >/dev/null || fail "rollout restart"
		k $v -n $ns rollout status deploy/web --timeout=60s >/dev/null || fail "restart did not finish"
		[ -n "$(dfield $ns web '{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}')" ] ||
			fail "no restartedAt in the template"
		assert_eq "$(rs_count $ns web)" $((n_rs + 2)) "a ReplicaSet after restart"
		rev=$(dfield $ns web '{.metadata.annotations.deployment\.kubernetes\.io/revision}')
		assert_eq "$rev" 5 "revision after restart"

		k $v -n $ns scale deploy/web --replicas=6 >/dev/null || fail "kubectl scale"
		k $v -n $ns rollout status deploy/web --timeout=60s >/dev/null || fail "scale did not finish"
		wait_for 10 eval '[ "$(pods_state $v $ns app=web)" = "6 Running/True/hollow" ]' ||
			fail "after scale 6: $(pods_state $v $ns app=web)"
		assert_eq "$(dfield $ns web '{.status.readyReplicas}/{.status.updatedReplicas}')" 6/6
	done
}

case_progress_deadline() {
	local out v
	k 33 create namespace pd >/dev/null || fail "namespace pd"
	deploy pd slow 4 registry.local/slow:1 10 | k 33 apply -f - >/dev/null || fail "Deployment slow"
	k 33 -n pd rollout status deploy/slow --timeout=60s >/dev/null || fail "first rollout did not finish"
	k 33 -n pd patch deploy slow --type=merge \
		-p '{"spec":{"template":{"metadata":{"labels":{"hollow.skiff.io/ready":"false"}}}}}' >/dev/null ||
		fail "patch the template"
	out=$(k 27 -n pd rollout status deploy/slow --timeout=60s 2>&1) && fail "rollout status succeeded: $out"
	assert_contains "$out" 'deployment "slow" exceeded its progress deadline' "kubectl 1.27 rollout status"
	out=$(k 33 -n pd rollout status deploy/slow --timeout=20s 2>&1) && fail "rollout status succeeded: $out"
	assert_contains "$out" 'deployment "slow" exceeded its progress deadline' "kubectl 1.33 rollout status"
	assert_eq "$(dfield pd slow '{.status.conditions[?(@.type=="Progressing")].status}/{.status.conditions[?(@.type=="Progressing")].reason}')" \
		False/ProgressDeadlineExceeded
	# stopped at maxUnavailable: 3 old pods ready, 2 new (surge 1) unready
	assert_eq "$(pods_state 33 pd "app=slow,!hollow.skiff.io/ready")" "3 Running/True/hollow" "ready pods"
	assert_eq "$(pods_state 33 pd hollow.skiff.io/ready=false)" "2 Running/False/hollow" "new unready pods"
	assert_eq "$(dfield pd slow '{.status.replicas}/{.status.readyReplicas}/{.status.updatedReplicas}/{.status.unavailableReplicas}')" \
		5/3/2/2
}

case_events() {
	local v out pod rs
	k 33 create namespace ev >/dev/null || fail "namespace ev"
	deploy ev api 2 registry.local/api:1 | k 33 apply -f - >/dev/null || fail "Deployment api"
	k 33 -n ev rollout status deploy/api --timeout=60s >/dev/null || fail "api did not roll out"
	rs=$(k 33 -n ev get rs -l app=api -o jsonpath='{.items[0].metadata.name}')
	pod=$(k 33 -n ev get pods -l app=api -o jsonpath='{.items[0].metadata.name}')
	wait_for 10 eval 'k 33 -n ev get events | grep -q "Successfully assigned ev/$pod"' ||
		fail "no Scheduled event of $pod: $(k 33 -n ev get events 2>&1)"
	for v in 27 33; do
		out=$(k $v -n ev get events)
		assert_contains "$out" "ScalingReplicaSet" "kubectl 1.$v get events"
		assert_contains "$out" "Scaled up replica set $rs" "kubectl 1.$v get events"
		assert_contains "$out" "SuccessfulCreate" "kubectl 1.$v get events"
		assert_contains "$out" "Created pod: $pod" "kubectl 1.$v get events"
		assert_contains "$out" "Scheduled" "kubectl 1.$v get events"
		out=$(k $v -n ev describe deployment api)
		assert_contains "$out" "ScalingReplicaSet" "kubectl 1.$v describe deployment"
		assert_contains "$out" "Scaled up replica set $rs" "kubectl 1.$v describe deployment"
		out=$(k $v -n ev describe rs "$rs")
		assert_contains "$out" "SuccessfulCreate" "kubectl 1.$v describe rs"
		assert_contains "$out" "Created pod: $pod" "kubectl 1.$v describe rs"
		out=$(k $v -n ev describe pod "$pod")
		assert_contains "$out" "Scheduled" "kubectl 1.$v describe pod"
		assert_contains "$out" "Successfully assigned ev/$pod" "kubectl 1.$v describe pod"
	done
}

# rs NS NAME REPLICAS: a ReplicaSet selecting app=pool.
rs() {
	cat <<YAML
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: $2, namespace: $1}
spec:
  replicas: $3
  selector: {matchLabels: {app: pool}}
  template:
    metadata: {labels: {app: pool}}
    spec: {containers: [{name: c, image: registry.local/pool:1}]}
YAML
}

case_rs_adopt_orphan() {
	local v ns names uid owners
	for v in 27 33; do
		ns=rs$v
		k $v create namespace $ns >/dev/null || fail "namespace $ns"
		rs $ns first 3 | k $v apply -f - >/dev/null || fail "ReplicaSet first"
		wait_for 20 eval '[ "$(pods_state $v $ns app=pool)" = "3 Running/True/hollow" ]' ||
			fail "first's pods: $(pods_state $v $ns app=pool)"
		names=$(k $v -n $ns get pods -l app=pool -o name | sort)
		k $v -n $ns delete rs first --cascade=orphan >/dev/null || fail "kubectl 1.$v delete --cascade=orphan"
		wait_for 20 eval '! k 33 -n $ns get rs first' || fail "ReplicaSet first still there"
		owners() { k 33 -n $ns get pods -l app=pool -o jsonpath='{range .items[*]}{.metadata.ownerReferences[*].uid}{"\n"}{end}' | sort | uniq -c | tr -s ' ' | sed 's/^ //'; }
		wait_for 10 eval '[ -z "$(owners | tr -d "0-9 \n")" ]' || fail "orphans still owned: $(owners)"
		sleep 1 # a second for a wrong cascade to show
		assert_eq "$(k 33 -n $ns get pods -l app=pool -o name | sort)" "$names" "pods left by the orphaning delete"
		rs $ns second 3 | k $v apply -f - >/dev/null || fail "ReplicaSet second"
		uid=$(k 33 -n $ns get rs second -o jsonpath='{.metadata.uid}')
		wait_for 20 eval '[ "$(owners)" = "3 $uid" ]' || fail "not adopted by second ($uid): $(owners)"
		assert_eq "$(k 33 -n $ns get pods -l app=pool -o jsonpath='{.items[*].metadata.ownerReferences[0].controller}')" \
			"true true true" "controller references"
		wait_for 10 eval '[ "$(k 33 -n $ns get rs second -o jsonpath="{.status.readyReplicas}")" = 3 ]' ||
			fail "second's status: $(k 33 -n $ns get rs second -o jsonpath='{.status}')"
		sleep 1 # no extra pod: the adopted ones count
		assert_eq "$(k 33 -n $ns get pods -l app=pool -o name | sort)" "$names" "pods after adoption"
	done
}

# ds NAME [SPEC LINE...]: a DaemonSet in namespace ds.
ds() {
	local name=$1; shift
	printf 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: %s, namespace: ds}\nspec:\n' "$name"
	printf '  selector: {matchLabels: {ds: %s}}\n  template:\n    metadata: {labels: {ds: %s}}\n    spec:\n' "$name" "$name"
	printf '      containers: [{name: c, image: registry.local/agent:1}]\n'
	printf '      %s\n' "$@"
}
ds_nodes() {
	k 33 -n ds get pods -l "ds=$1" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | tr '\n' ' '
}
nodes_list() { local i; for i in "$@"; do printf '%s\n' "$(hnode $i)"; done | sort | tr '\n' ' '; }

case_daemonset() {
	local all rest
	k 33 taint nodes "$(hnode 0)" "e2e-$RUN_ID=ds:NoSchedule" >/dev/null || fail "taint $(hnode 0)"
	defer "k 33 taint nodes $(hnode 0) e2e-$RUN_ID-"
	k 33 label nodes "$(hnode 2)" "$(hnode 4)" "e2e-$RUN_ID=ds" >/dev/null || fail "label nodes"
	defer "k 33 label nodes $(hnode 2) $(hnode 4) e2e-$RUN_ID-"
	k 33 create namespace ds >/dev/null || fail "namespace ds"
	{ ds every '# no selector'; echo ---
	  ds picky "nodeSelector: {e2e-$RUN_ID: ds}"; echo ---
	  ds tolerant "tolerations: [{key: e2e-$RUN_ID, operator: Exists, effect: NoSchedule}]"
	} | k 27 apply -f - >/dev/null || fail "DaemonSets"
	all=$(nodes_list $(seq 0 $((N - 1))))
	rest=$(nodes_list $(seq 1 $((N - 1))))
	wait_for 20 eval '[ "$(ds_nodes every)" = "$rest" ]' || fail "every's pods on '$(ds_nodes every)', not '$rest'"
	wait_for 20 eval '[ "$(ds_nodes picky)" = "$(nodes_list 2 4)" ]' || fail "picky's pods on '$(ds_nodes picky)'"
	wait_for 20 eval '[ "$(ds_nodes tolerant)" = "$all" ]' || fail "tolerant's pods on '$(ds_nodes tolerant)'"
	wait_for 20 eval '[ "$(k 33 -n ds get ds every -o jsonpath="{.status.desiredNumberScheduled}/{.status.numberReady}")" = $((N - 1))/$((N - 1)) ]' ||
		fail "every's status: $(k 33 -n ds get ds every -o jsonpath='{.status}')"
	sleep 1 # a second for a pod on the tainted node to show
	assert_eq "$(ds_nodes every)" "$rest" "every's pods, a second later"
}

# first_line FILE REGEX: the number of the first event line matching REGEX.
first_line() { watch_events "$1" | grep -nE -m1 "$2" | cut -d: -f1; }

case_statefulset() {
	local out i a b
	k 33 create namespace sts >/dev/null || fail "namespace sts"
	k 33 -n sts create service clusterip web --clusterip=None --tcp=80:80 >/dev/null || fail "Service web"
	watch_start "$TMP/sts" -n sts pods
	cat <<YAML | k 33 apply -f - >/dev/null || fail "StatefulSet web"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: sts}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: registry.local/web:1}]}
YAML
	wait_for 30 eval '[ "$(pods_state 33 sts app=web)" = "3 Running/True/hollow" ]' ||
		fail "web's pods: $(pods_state 33 sts app=web)"
	for i in 0 1 2; do
		assert_eq "$(k 33 -n sts get pod web-$i -o jsonpath='{.spec.hostname}.{.spec.subdomain}')" "web-$i.web"
	done
	# OrderedReady: web-N+1 is created only after web-N was seen Ready
	for i in 0 1; do
		a=$(first_line "$TMP/sts" "^MODIFIED web-$i True ")
		b=$(first_line "$TMP/sts" "^ADDED web-$((i + 1)) ")
		[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] ||
			fail "web-$((i + 1)) added (event $b) before web-$i was Ready (event $a): $(watch_events "$TMP/sts")"
	done
	k 27 -n sts scale sts web --replicas=1 >/dev/null || fail "kubectl scale sts"
	wait_for 30 eval '[ "$(k 33 -n sts get pods -o name)" = pod/web-0 ]' ||
		fail "after scale 1: $(k 33 -n sts get pods -o name)"
	watch_stop "$TMP/sts"
	a=$(first_line "$TMP/sts" "^(MODIFIED web-2 [^ ]+ true|DELETED web-2) ")
	b=$(first_line "$TMP/sts" "^(MODIFIED web-1 [^ ]+ true|DELETED web-1) ")
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] ||
		fail "web-1 went (event $b) before web-2 (event $a): $(watch_events "$TMP/sts")"
	out=$(cat <<YAML | k 33 apply -f - -v=6 2>&1
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: sts}
spec:
  serviceName: web
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: registry.local/db:1}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
YAML
	) && fail "a StatefulSet with volumeClaimTemplates was accepted"
	grep -qE 'statefulsets.*422' <<<"$out" || fail "not a 422: $out"
	assert_contains "$out" "spec.volumeClaimTemplates"
}

# job NAME COMPLETIONS PARALLELISM EXIT [SPEC LINE...]: a Job in namespace
# job whose hollow pods exit with EXIT.
job() {
	local name=$1 c=$2 p=$3 code=$4; shift 4
	printf 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: %s, namespace: job}\nspec:\n' "$name"
	printf '  completions: %s\n  parallelism: %s\n' "$c" "$p"
	[ $# -eq 0 ] || printf '  %s\n' "$@"
	printf '  template:\n    metadata: {annotations: {hollow.skiff.io/exit-code: "%s"}}\n' "$code"
	printf '    spec: {restartPolicy: Never, containers: [{name: c, image: registry.local/batch:1}]}\n'
}
jfield() { k 33 -n job get job "$1" -o jsonpath="$2"; }

# most_active FILE: the most pods of the watch neither Succeeded nor Failed at once.
most_active() {
	jq -s 'reduce .[] as $e ({p: {}, max: 0};
		(if $e.type == "DELETED" or ($e.object.status.phase | IN("Succeeded", "Failed"))
		 then .p |= del(.[$e.object.metadata.name]) else .p[$e.object.metadata.name] = 1 end)
		| .max = ([.max, (.p | length)] | max)) | .max' "$1"
}

case_job() {
	local out
	k 33 create namespace job >/dev/null || fail "namespace job"
	watch_start "$TMP/job" -n job pods -l job-name=ok
	{ job ok 3 2 0; echo ---
	  job bad 1 1 1 "backoffLimit: 1"; echo ---
	  job idx 3 3 0 "completionMode: Indexed"
	} | k 33 apply -f - >/dev/null || fail "Jobs"
	k 27 -n job wait --for=condition=complete job/ok --timeout=60s >/dev/null ||
		fail "ok not Complete: $(jfield ok '{.status}')"
	assert_eq "$(jfield ok '{.status.succeeded}')" 3 "ok's succeeded"
	watch_stop "$TMP/job"
	out=$(most_active "$TMP/job")
	[ "$out" -ge 1 ] && [ "$out" -le 2 ] || fail "ok ran $out pods at once (parallelism 2)"
	k 33 -n job wait --for=condition=complete job/idx --timeout=60s >/dev/null ||
		fail "idx not Complete: $(jfield idx '{.status}')"
	out=$(k 33 -n job get pods -l job-name=idx \
		-o jsonpath='{range .items[*]}{.metadata.annotations.batch\.kubernetes\.io/job-completion-index}{"\n"}{end}' | sort | tr '\n' ' ')
	assert_eq "$out" "0 1 2 " "idx's completion indexes"
	assert_eq "$(jfield idx '{.status.completedIndexes}')" 0-2
	k 33 -n job wait --for=condition=failed job/bad --timeout=60s >/dev/null ||
		fail "bad not Failed: $(jfield bad '{.status}')"
	assert_eq "$(jfield bad '{.status.conditions[?(@.type=="Failed")].reason}')" BackoffLimitExceeded
	assert_eq "$(jfield bad '{.status.failed}')" 2 "bad's failed pods (backoffLimit 1)"
}

case_cronjob() {
	local v
	k 33 create namespace cron >/dev/null || fail "namespace cron"
	date +%s >"$TMP/cron.t0"
	cat <<YAML | k 33 apply -f - >/dev/null || fail "CronJob tick"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick, namespace: cron}
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {annotations: {hollow.skiff.io/exit-code: "0"}}
        spec: {restartPolicy: Never, containers: [{name: c, image: registry.local/tick:1}]}
YAML
	for v in 27 33; do
		k $v -n cron create job "by$v" --from=cronjob/tick >/dev/null || fail "kubectl 1.$v create job --from"
		k $v -n cron wait --for=condition=complete "job/by$v" --timeout=60s >/dev/null ||
			fail "by$v not Complete: $(k 33 -n cron get job by$v -o jsonpath='{.status}')"
		assert_eq "$(k 33 -n cron get job by$v -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.annotations.cronjob\.kubernetes\.io/instantiate}')" \
			CronJob/tick/manual "by$v's owner and annotation"
	done
}

# The */1 schedule fires at the first minute boundary after case_cronjob.
case_cronjob_schedule() {
	local t0 left last job out
	t0=$(cat "$TMP/cron.t0") || fail "case_cronjob did not run"
	left=$(( t0 + 75 - $(date +%s) ))
	[ $left -gt 0 ] || left=1
	wait_for $left eval '[ -n "$(k 33 -n cron get cronjob tick -o jsonpath="{.status.lastScheduleTime}")" ]' ||
		fail "no lastScheduleTime 75 s after the */1 CronJob: $(k 33 -n cron get cronjob tick -o jsonpath='{.status}')"
	last=$(date -d "$(k 33 -n cron get cronjob tick -o jsonpath='{.status.lastScheduleTime}')" +%s)
	assert_eq "$((last % 60))" 0 "lastScheduleTime on a minute boundary"
	[ "$last" -ge "$t0" ] || fail "lastScheduleTime $last before the CronJob ($t0)"
	# The Job of lastScheduleTime is named for it (minutes since the
	# epoch); on a busy machine the cases before this one can outlast a
	# minute, and earlier ticks have their Jobs too.
	job=tick-$((last / 60))
	out=$(k 33 -n cron get jobs -o jsonpath='{range .items[?(@.metadata.ownerReferences[0].name=="tick")]}{.metadata.name}{"\n"}{end}' | grep -v '^by')
	grep -qx "$job" <<<"$out" || fail "no Job $job for lastScheduleTime; the CronJob's: $out"
	k 27 -n cron wait --for=condition=complete "job/$job" --timeout=30s >/dev/null || fail "$job not Complete"
}

run_case cronjob
run_case deployment_rollout
run_case progress_deadline
run_case events
run_case rs_adopt_orphan
run_case daemonset
run_case statefulset
run_case job
run_case cronjob_schedule
finish
