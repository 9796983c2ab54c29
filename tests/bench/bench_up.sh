#!/usr/bin/env bash
# skiff up end to end (issue 13): real clusters (a registry, skiff-server,
# per node a network namespace, containerd and skiff-agent), images already
# built. Each round is its own cluster (its own --name, --data-dir,
# --bridge-net and ports, so it never touches one someone else runs) and
# ends with `skiff down --purge`.
#   - time from `skiff up` to its return (every node Ready) and to a
#     one-pod Deployment Ready, for 1 and NODES nodes, ROUNDS rounds each
#   - memory of each part of the idle NODES-node cluster (RSS and PSS)
#   - a PODS-pod Deployment across the NODES nodes: time until all are
#     Ready and all are endpoints of its Service
#
# Environment:
#   BENCH_UP_ROUNDS  rounds per node count (default 3)
#   BENCH_UP_NODES   nodes of the larger cluster (default 3)
#   BENCH_UP_PODS    replicas of the large Deployment (default 100)
# Anchors: minikube's time-to-k8s benchmark (v1.36.0): k3d 19.9 s, kind
# 33.0 s, minikube 50.8 s; k3s measured 1,596 MB for its server with a
# workload and 275 MB per agent. Goals: up and a pod Ready in <= 5 s for
# one node and <= 10 s for three; server and agents <= 150 MB in all.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/hollow_cluster.sh"

env_number rounds BENCH_UP_ROUNDS 3
env_number big BENCH_UP_NODES 3
env_number pods BENCH_UP_PODS 100
[ "$rounds" -gt 0 ] && [ "$big" -gt 0 ] && [ "$pods" -gt 0 ] || fail "BENCH_UP_*: counts must be positive"
. "$(dirname "$0")/../up/up_lib.sh"
UP_PREFIX=ub up_require docker-registry ss

DATA= NAME=
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
round_down() { [ -z "$DATA" ] || down --purge >/dev/null 2>&1; DATA=; }
defer round_down

deploy_yaml() { # NAME REPLICAS
	workload_yaml Deployment "$1" "$2" <<-YAML
	terminationGracePeriodSeconds: 0
	containers:
	- {name: c, image: skiff.local/busybox:1.35, command: [sleep, "3600"]}
	YAML
	cat <<-YAML
	---
	apiVersion: v1
	kind: Service
	metadata: {name: $1}
	spec:
	  selector: {app: $1}
	  ports: [{port: 80}]
	YAML
}

# up_round NODES ROUND: a fresh cluster; seconds to up's return and to a
# one-pod Deployment Ready in UP_S and POD_S; leaves it running (DATA,
# NAME) for the caller to measure or take down.
up_round() {
	local t0 t1 t2 out
	NAME=ub$(( $1 * 10 + $2 ))${RUN_ID: -3}
	DATA=$TMP/c$1-$2
	t0=$(now)
	out=$(up --nodes "$1" 2>&1) ||
		fail "skiff up --nodes $1 (round $2): $out $(tail -n 3 "$DATA"/logs/*.log 2>&1)"
	t1=$(now)
	deploy_yaml one 1 | k apply -f - >/dev/null || fail "apply one"
	k rollout status deployment/one --timeout=120s >/dev/null ||
		fail "one-pod Deployment not Ready: $(k get pods -o wide 2>&1)" \
			"$(tail -n 5 "$DATA"/logs/{supervisor,server}.log 2>&1)"
	t2=$(now)
	UP_S=$(secs "$t0" "$t1") POD_S=$(secs "$t0" "$t2")
}

# stats VALUES...: "median max".
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f %.2f", v[int((NR + 1) / 2)], v[NR] }'; }

# rss_kib PID; pss_kib PID (its share of pages shared with other
# processes, so the parts' PSS add up to what they take).
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
pss_kib() { awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup"; }

# memory: rows "part|RSS MiB|PSS MiB" of the running cluster into
# MEM_ROWS; the sums (KiB) of skiff's own parts, server and agents, into
# OWN_RSS and OWN_PSS.
memory() {
	local part pid
	MEM_ROWS=() OWN_RSS=0 OWN_PSS=0
	for part in server $(for i in $(seq "$big"); do echo "n$i-agent"; done) registry \
		$(for i in $(seq "$big"); do echo "n$i-containerd"; done); do
		pid=$(part_pid "$part")
		MEM_ROWS+=("$part|$(( $(rss_kib "$pid") / 1024 ))|$(( $(pss_kib "$pid") / 1024 ))")
		case $part in server|*-agent)
			OWN_RSS=$(( OWN_RSS + $(rss_kib "$pid") ))
			OWN_PSS=$(( OWN_PSS + $(pss_kib "$pid") )) ;;
		esac
	done
}

# pods_state NAME: "BOUND READY ENDPOINTS": Deployment NAME's pods bound
# to a node, its ready replicas, Service NAME's ready endpoints.
pods_state() {
	echo "$(k get pods -l "app=$1" -o 'jsonpath={.items[*].spec.nodeName}' | wc -w)" \
		"$(k get deployment "$1" -o 'jsonpath={.status.readyReplicas}')" \
		"$(k get endpointslices -l "kubernetes.io/service-name=$1" \
			-o 'jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}' | wc -w)"
}

# big_deploy: PODS replicas on the running cluster; BIG_BOUND, BIG_READY
# and BIG_EPS are the seconds from apply until all are bound to a node,
# all are Ready, all are ready endpoints (each as first seen by a poll).
big_deploy() {
	local t0 t b r e
	BIG_BOUND=- BIG_READY=- BIG_EPS=-
	t0=$(now)
	deploy_yaml many "$pods" | k apply -f - >/dev/null || fail "apply many"
	for _ in $(seq 600); do
		read -r b r e < <(pods_state many)
		t=$(now)
		[ "${b:-0}" -ge "$pods" ] && [ "$BIG_BOUND" = - ] && BIG_BOUND=$(secs "$t0" "$t")
		[ "${r:-0}" -ge "$pods" ] && [ "$BIG_READY" = - ] && BIG_READY=$(secs "$t0" "$t")
		[ "${e:-0}" -ge "$pods" ] && [ "$BIG_EPS" = - ] && BIG_EPS=$(secs "$t0" "$t")
		[ "$BIG_READY" != - ] && [ "$BIG_EPS" != - ] && return 0
		[ "$(secs "$t0" "$t" | cut -d. -f1)" -lt 300 ] || break
		sleep 0.2
	done
	fail "$pods pods: ${b:-0} bound, ${r:-0} Ready, ${e:-0} ready endpoints after 300 s"
}

declare -A up_t pod_t load_t
node_counts=$(printf '%s\n' 1 "$big" | sort -nu)
for n in $node_counts; do
	ups=() pods1=() loads=()
	for r in $(seq "$rounds"); do
		up_round "$n" "$r"
		ups+=("$UP_S") pods1+=("$POD_S") loads+=("$(cut -d' ' -f1 /proc/loadavg)")
		if [ "$n" = "$big" ] && [ "$r" = "$rounds" ]; then
			sleep 5
			memory
			mem_load=$(loadavg)
			big_deploy
			big_load=$(loadavg)
		fi
		round_down
	done
	up_t[$n]=$(stats "${ups[@]}")
	pod_t[$n]=$(stats "${pods1[@]}")
	load_t[$n]="${loads[*]}"
done

echo "command: make bench B=up (tests/bench/bench_up.sh; $rounds rounds each, a fresh cluster" \
	"per round, images built); goals <= 5 s (1 node), <= 10 s ($big nodes) to a pod Ready"
row() { printf '| %-62s | %9s | %9s | %-18s |\n' "$1" "$2" "$3" "$4"; }
row "time from skiff up" "median, s" "max, s" "load (1 min)"
row "---" "---" "---" "---"
for n in $node_counts; do
	read -r um ux <<<"${up_t[$n]}"
	read -r pm px <<<"${pod_t[$n]}"
	row "skiff, $n node(s): up returns (every node Ready)" "$um" "$ux" "${load_t[$n]}"
	row "skiff, $n node(s): a one-pod Deployment Ready" "$pm" "$px" "${load_t[$n]}"
done
row "k3d (minikube time-to-k8s, v1.36.0; anchor)" "19.9" "-" "-"
row "kind (minikube time-to-k8s, v1.36.0; anchor)" "33.0" "-" "-"
row "minikube (minikube time-to-k8s, v1.36.0; anchor)" "50.8" "-" "-"
echo
row "idle $big-node cluster (one 1-pod Deployment), 5 s after Ready" "RSS, MiB" "PSS, MiB" ""
row "---" "---" "---" ""
for m in "${MEM_ROWS[@]}"; do IFS='|' read -r a b c <<<"$m"; row "$a" "$b" "$c" ""; done
row "skiff's own parts (server + $big agents); goal <= 150 MB" \
	"$(( OWN_RSS / 1024 ))" "$(( OWN_PSS / 1024 ))" ""
row "k3s: server with a workload (anchor)" "1596" "-" ""
row "k3s: per agent (anchor)" "275" "-" ""
echo "load average $mem_load"
echo
row "a $pods-pod Deployment on $big nodes, from apply (polled by kubectl)" "s" "" ""
row "---" "---" "" ""
row "all $pods pods bound to a node" "$BIG_BOUND" "" ""
row "all $pods pods Ready" "$BIG_READY" "" ""
row "all $pods pods ready endpoints of its Service" "$BIG_EPS" "" ""
echo "load average $big_load on $(nproc) cores"
finish
