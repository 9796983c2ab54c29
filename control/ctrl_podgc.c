/* Pod GC's compute step: see ctrl_podgc.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_podgc.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

struct podgc {
	const struct podgc_input *in;
	bool *done; /* per pod: planned already */
	struct ctrl_plan *p;
	time_t now;
	json_t **nodes; /* in->nodes sorted by name */
};

static bool terminated(json_t *pod)
{
	const char *phase = ctrl_str(pod, "status.phase") ?: "";

	return !streq(phase, "Pending") && !streq(phase, "Running") && !streq(phase, "Unknown") &&
	       *phase;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(ctrl_str(*(json_t *const *)a, "metadata.name") ?: "",
		      ctrl_str(*(json_t *const *)b, "metadata.name") ?: "");
}

/* The nodes sorted by name (a new array of borrowed pointers). */
static json_t **nodes_sorted(json_t *const *nodes, size_t n)
{
	json_t **v = calloc(n ?: 1, sizeof(*v));

	if (v && n) {
		memcpy(v, nodes, n * sizeof(*v));
		qsort(v, n, sizeof(*v), by_name);
	}
	return v;
}

static json_t *node_find(json_t **sorted, size_t n, const char *name)
{
	json_t *key = json_pack("{s:{s:s}}", "metadata", "name", name ?: ""), **hit;

	hit = key ? bsearch(&key, sorted, n, sizeof(*sorted), by_name) : NULL;
	json_decref(key);
	return hit ? *hit : NULL;
}

static bool node_gone(const struct podgc *g, const char *name)
{
	for (size_t i = 0; name && *name && i < g->in->n_gone; i++)
		if (streq(g->in->gone_nodes[i], name))
			return !node_find(g->nodes, g->in->n_nodes, name);
	return false;
}

/* A pod and its index in the input. */
struct pod_at {
	json_t *pod;
	size_t i;
};

/* upstream's byEvictionAndCreationTimestamp */
static int eviction_then_age(const void *a, const void *b)
{
	json_t *x = ((const struct pod_at *)a)->pod, *y = ((const struct pod_at *)b)->pod;
	bool ex = streq(ctrl_str(x, "status.reason"), "Evicted");
	bool ey = streq(ctrl_str(y, "status.reason"), "Evicted");
	const char *cx = ctrl_str(x, "metadata.creationTimestamp") ?: "";
	const char *cy = ctrl_str(y, "metadata.creationTimestamp") ?: "";

	if (ex != ey)
		return ex ? -1 : 1;
	if (strcmp(cx, cy))
		return strcmp(cx, cy); /* RFC 3339 in UTC orders as text */
	return strcmp(ctrl_str(x, "metadata.name") ?: "", ctrl_str(y, "metadata.name") ?: "");
}

/* Marks pod i Failed (with the DisruptionTarget condition when message is
 * set) unless it has finished, then deletes it with grace 0. */
static int force_delete(struct podgc *g, size_t i, const char *message)
{
	json_t *pod = g->in->pods[i];
	const char *ns = ctrl_str(pod, "metadata.namespace"), *name = ctrl_str(pod, "metadata.name");
	int r;

	if (g->done[i])
		return 0;
	g->done[i] = true;
	if (!terminated(pod)) {
		json_t *copy = json_deep_copy(pod);

		if (!copy ||
		    (!json_is_object(json_object_get(copy, "status")) &&
		     json_object_set_new(copy, "status", json_object()) < 0) ||
		    json_object_set_new(json_object_get(copy, "status"), "phase",
					json_string("Failed")) < 0 ||
		    (message && ctrl_condition_set(copy, "DisruptionTarget", "True",
						   "DeletionByPodGC", message, g->now) < 0)) {
			json_decref(copy);
			return -ENOMEM;
		}
		r = ctrl_plan_add(g->p, CTRL_UPDATE_STATUS, "pods", ns, name, copy);
		if (r < 0)
			return r;
	}
	return ctrl_plan_add(g->p, CTRL_DELETE, "pods", ns, name,
			     ctrl_delete_options(NULL, ctrl_str(pod, "metadata.uid"), 0));
}

static int gc_terminated(struct podgc *g)
{
	const struct podgc_input *in = g->in;
	struct pod_at *v;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < in->n_pods; i++)
		n += terminated(in->pods[i]);
	if (in->threshold <= 0 || n <= (size_t)in->threshold)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < in->n_pods; i++)
		if (terminated(in->pods[i]))
			v[n++] = (struct pod_at){ in->pods[i], i };
	qsort(v, n, sizeof(*v), eviction_then_age);
	for (size_t k = 0; r == 0 && k < n - (size_t)in->threshold; k++)
		r = force_delete(g, v[k].i, NULL);
	free(v);
	return r;
}

static bool out_of_service(json_t *node)
{
	json_t *t;
	size_t i;

	if (!node || streq(ctrl_str(ctrl_condition(node, "Ready"), "status"), "True"))
		return false;
	json_array_foreach(ctrl_get(node, "spec.taints"), i, t)
		if (streq(ctrl_str(t, "key"), "node.kubernetes.io/out-of-service"))
			return true;
	return false;
}

int podgc_compute(const struct podgc_input *in, time_t now, struct ctrl_plan *p)
{
	struct podgc g = { in, calloc(in->n_pods ?: 1, sizeof(bool)), p, now,
			   nodes_sorted(in->nodes, in->n_nodes) };
	int r = g.done && g.nodes ? 0 : -ENOMEM;

	if (r == 0)
		r = gc_terminated(&g);
	for (size_t i = 0; r == 0 && i < in->n_pods; i++) {
		json_t *pod = in->pods[i];
		const char *node = ctrl_str(pod, "spec.nodeName");

		if (ctrl_pod_terminating(pod) && out_of_service(node_find(g.nodes, in->n_nodes, node)))
			r = force_delete(&g, i, NULL);
	}
	for (size_t i = 0; r == 0 && i < in->n_pods; i++)
		if (node_gone(&g, ctrl_str(in->pods[i], "spec.nodeName")))
			r = force_delete(&g, i, "PodGC: node no longer exists");
	for (size_t i = 0; r == 0 && i < in->n_pods; i++) {
		const char *node = ctrl_str(in->pods[i], "spec.nodeName");

		if (ctrl_pod_terminating(in->pods[i]) && (!node || !*node))
			r = force_delete(&g, i, NULL);
	}
	free(g.done);
	free(g.nodes);
	return r;
}

json_t *podgc_absent_nodes(json_t *const *pods, size_t n_pods, json_t *const *nodes,
			   size_t n_nodes)
{
	json_t **sorted = nodes_sorted(nodes, n_nodes);
	json_t *seen = json_object(), *out = json_array(), *v;
	const char *name;

	for (size_t i = 0; sorted && seen && i < n_pods; i++) {
		name = ctrl_str(pods[i], "spec.nodeName");
		if (name && *name && !node_find(sorted, n_nodes, name))
			json_object_set_new(seen, name, json_true());
	}
	json_object_foreach(seen, name, v)
		json_array_append_new(out, json_string(name));
	if (!sorted || !seen) {
		json_decref(out);
		out = NULL;
	}
	free(sorted);
	json_decref(seen);
	return out;
}
