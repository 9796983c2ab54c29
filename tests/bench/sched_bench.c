/* sched-bench: the scheduler's core alone, in-process, on the shape of
 * scheduler_perf's SchedulingBasic (issue 10's table).
 *
 *   sched-bench [NODES [PODS [OWNERS]]]     (default 5000 10000 0)
 *
 * Registers NODES nodes (4 cpu, 32Gi, 110 pods, three zones), then feeds
 * PODS pending pods (100m cpu, 500Mi, as scheduler_perf's pod-default)
 * through the path the driver will take: the informer's add (parse +
 * queue), pop, sched_cycle (filters, sampling, scores, assume, the
 * binding plan), and the informer's update with spec.nodeName that
 * confirms the assumed pod. OWNERS > 0 gives the pods that many
 * ReplicaSet owners, so the default spreading score runs too. The JSON
 * objects are built before the clock starts (the client library decodes
 * them in the real driver). Prints one line per measure and the peak RSS;
 * exit 1 when a pod is left unscheduled or a node is overbooked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "control/sched.h"
#include "lib/util.h"

static json_t *make_node(size_t i)
{
	char name[32], zone[16];

	snprintf(name, sizeof(name), "node-%05zu", i);
	snprintf(zone, sizeof(zone), "zone-%zu", i % 3);
	return json_pack("{s:{s:s, s:{s:s, s:s}}, s:{s:{s:s, s:s, s:s}}}",
			 "metadata", "name", name, "labels", SCHED_LABEL_HOSTNAME, name,
			 SCHED_LABEL_ZONE, zone,
			 "status", "allocatable", "cpu", "4", "memory", "32Gi", "pods", "110");
}

static json_t *make_pod(size_t i, size_t owners)
{
	char name[32], uid[32], owner[32];
	json_t *p;

	snprintf(name, sizeof(name), "pod-%05zu", i);
	snprintf(uid, sizeof(uid), "uid-%05zu", i);
	p = json_pack("{s:{s:s, s:s, s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s, s:[{s:i}], s:{s:{s:s, s:s}}}]}}",
		      "metadata", "namespace", "default", "name", name, "uid", uid,
		      "creationTimestamp", "2026-01-01T00:00:00Z", "labels", "app", "bench",
		      "spec", "containers", "name", "pause", "image", "pause",
		      "ports", "containerPort", 80,
		      "resources", "requests", "cpu", "100m", "memory", "500Mi");
	if (p && owners) {
		snprintf(owner, sizeof(owner), "rs-%zu", i % owners);
		json_object_set_new(json_object_get(p, "metadata"), "ownerReferences",
				    json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1",
					      "kind", "ReplicaSet", "name", owner, "uid", owner,
					      "controller", 1));
	}
	return p;
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return (x > y) - (x < y);
}

static void rate(const char *what, size_t n, unsigned long long ns)
{
	printf("sched %-22s n=%zu total_ms=%.1f per_s=%.0f\n", what, n, ns / 1e6,
	       ns ? n * 1e9 / ns : 0.0);
}

/* Every pod bound, no node over its allocatable; the busiest node's count. */
static int check(struct sched *s, size_t n_nodes, size_t *max_pods)
{
	char name[32];

	*max_pods = 0;
	for (size_t i = 0; i < n_nodes; i++) {
		struct sched_node *n;

		snprintf(name, sizeof(name), "node-%05zu", i);
		n = sched_node_find(s, name);
		if (!n)
			return -1;
		for (size_t k = 0; k < SCHED_RES_MAX; k++)
			if (n->req[k] > n->alloc[k] && n->alloc[k])
				return -1;
		if (n->n_pods > *max_pods)
			*max_pods = n->n_pods;
	}
	return 0;
}

/* argv[i] as a count, or def when absent; exits 2 on anything else. */
static size_t arg_count(int argc, char **argv, int i, size_t def)
{
	char *end;
	unsigned long v;

	if (argc <= i)
		return def;
	v = strtoul(argv[i], &end, 10);
	if (end == argv[i] || *end || argv[i][0] == '-') {
		fprintf(stderr, "Usage: sched-bench [NODES [PODS [OWNERS]]]: '%s' is not a count\n",
			argv[i]);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	size_t n_nodes = arg_count(argc, argv, 1, 5000);
	size_t n_pods = arg_count(argc, argv, 2, 10000);
	size_t owners = arg_count(argc, argv, 3, 0);
	json_t **pods = calloc(n_pods ? n_pods : 1, sizeof(*pods));
	unsigned long long *lat = calloc(n_pods ? n_pods : 1, sizeof(*lat)), t0, t_add = 0, t_cycle = 0, t_conf = 0;
	size_t bound = 0, failed = 0, max_pods, evaluated = 0;
	struct sched_pod *p;
	struct sched *s;
	struct rusage ru;

	if (!pods || !lat || sched_new(NULL, &s) < 0)
		return 1;
	t0 = now_ns();
	for (size_t i = 0; i < n_nodes; i++) {
		json_t *n = make_node(i);

		if (!n || sched_node_upsert(s, n) < 0)
			return 1;
		json_decref(n);
	}
	rate("nodes_add", n_nodes, now_ns() - t0);
	for (size_t i = 0; i < n_pods; i++)
		if (!(pods[i] = make_pod(i, owners)))
			return 1;

	unsigned long long start = now_ns();

	/* As the informer hands them over: every pod created, then scheduled. */
	for (size_t i = 0; i < n_pods; i++)
		if (sched_pod_upsert(s, pods[i], 0) < 0)
			return 1;
	t_add = now_ns() - start;
	while ((p = sched_queue_pop(s, 0))) {
		struct ctrl_plan plan = CTRL_PLAN_INIT;
		struct sched_result res;
		char key[64];
		size_t idx;

		t0 = now_ns();
		if (sched_cycle(s, p, 0, &plan, &res) < 0)
			return 1;
		lat[bound + failed] = now_ns() - t0;
		t_cycle += lat[bound + failed];
		evaluated += res.evaluated;
		if (!res.node) {
			failed++;
			ctrl_plan_clear(&plan);
			continue;
		}
		/* The watch sees the binding: the update confirms the assumed pod. */
		snprintf(key, sizeof(key), "%s", p->name);
		idx = strtoul(key + 4, NULL, 10);
		t0 = now_ns();
		json_object_set_new(json_object_get(pods[idx], "spec"), "nodeName",
				    json_string(res.node->name));
		if (sched_pod_upsert(s, pods[idx], 0) < 0)
			return 1;
		t_conf += now_ns() - t0;
		bound++;
		ctrl_plan_clear(&plan);
	}

	unsigned long long total = now_ns() - start;

	rate("pods_queue_add", n_pods, t_add);
	rate("schedule_cycle", bound + failed, t_cycle);
	rate("binding_confirmed", bound, t_conf);
	rate("end_to_end", bound, total);
	qsort(lat, bound + failed, sizeof(*lat), cmp_ull);
	if (bound + failed)
		printf("sched cycle_latency_us p50=%.1f p99=%.1f max=%.1f nodes_evaluated_per_pod=%.0f\n",
		       lat[(bound + failed) / 2] / 1e3, lat[(bound + failed) * 99 / 100] / 1e3,
		       lat[bound + failed - 1] / 1e3, (double)evaluated / (double)(bound + failed));
	getrusage(RUSAGE_SELF, &ru);
	if (check(s, n_nodes, &max_pods) < 0) {
		fprintf(stderr, "sched-bench: a node is overbooked or missing\n");
		return 1;
	}
	printf("sched summary nodes=%zu pods=%zu owners=%zu bound=%zu unschedulable=%zu max_pods_per_node=%zu "
	       "peak_rss_mib=%.1f\n", n_nodes, n_pods, owners, bound, failed, max_pods,
	       ru.ru_maxrss / 1024.0);
	for (size_t i = 0; i < n_pods; i++)
		json_decref(pods[i]);
	free(pods);
	free(lat);
	sched_free(s);
	return failed ? 1 : 0;
}
