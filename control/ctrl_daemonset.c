/* The DaemonSet controller's compute step: see ctrl_daemonset.h. The
 * order follows upstream's syncDaemonSet: revision history, manage (create
 * and delete per node), rolling update when manage had nothing to do (its
 * expectations), status. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_daemonset.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

struct ds_ctx {
	const struct ds_input *in;
	struct ctrl_plan *p;
	struct ds_result *res;
	json_t *ds;
	const char *ns, *name;
	json_t *template; /* spec.template with the default tolerations (owned) */
	json_t *by_node;  /* node name -> [pods], pods borrowed by reference (owned) */
	long long min_ready;
};

/* ---- the pod template and where a pod runs ---- */

static int add_toleration(json_t *tols, const char *key, const char *effect)
{
	json_t *t;
	size_t i;

	json_array_foreach(tols, i, t)
		if (streq(ctrl_str(t, "key"), key) && streq(ctrl_str(t, "operator"), "Exists") &&
		    streq(ctrl_str(t, "effect"), effect) && !*(ctrl_str(t, "value") ?: ""))
			return 0;
	return json_array_append_new(tols, json_pack("{s:s, s:s, s:s}", "key", key, "operator",
						     "Exists", "effect", effect)) < 0 ? -ENOMEM : 0;
}

/* upstream AddOrUpdateDaemonPodTolerations */
static int add_default_tolerations(json_t *spec)
{
	static const struct {
		const char *key, *effect;
	} defaults[] = {
		{ "node.kubernetes.io/not-ready", "NoExecute" },
		{ "node.kubernetes.io/unreachable", "NoExecute" },
		{ "node.kubernetes.io/disk-pressure", "NoSchedule" },
		{ "node.kubernetes.io/memory-pressure", "NoSchedule" },
		{ "node.kubernetes.io/pid-pressure", "NoSchedule" },
		{ "node.kubernetes.io/unschedulable", "NoSchedule" },
	};
	json_t *tols = json_object_get(spec, "tolerations");
	int r = 0;

	if (!json_is_array(tols) && json_object_set_new(spec, "tolerations", (tols = json_array())) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(defaults) && r == 0; i++)
		r = add_toleration(tols, defaults[i].key, defaults[i].effect);
	if (r == 0 && json_is_true(json_object_get(spec, "hostNetwork")))
		r = add_toleration(tols, "node.kubernetes.io/network-unavailable", "NoSchedule");
	return r;
}

static json_t *daemon_template(json_t *ds)
{
	json_t *t = json_deep_copy(ctrl_get(ds, "spec.template"));
	json_t *spec = json_object_get(t, "spec");

	if (!t)
		return NULL;
	if (!json_is_object(spec) && json_object_set_new(t, "spec", (spec = json_object())) < 0) {
		json_decref(t);
		return NULL;
	}
	if (add_default_tolerations(spec) < 0) {
		json_decref(t);
		return NULL;
	}
	return t;
}

static void node_should_run(json_t *tmpl_spec, json_t *node, bool *run, bool *cont)
{
	const char *want = ctrl_str(tmpl_spec, "nodeName");
	json_t *taints = ctrl_get(node, "spec.taints");
	json_t *tols = json_object_get(tmpl_spec, "tolerations");

	*run = *cont = false;
	if ((want && *want && !streq(want, ctrl_str(node, "metadata.name"))) ||
	    !ctrl_pod_fits_node_affinity(tmpl_spec, node))
		return;
	if (!ctrl_untolerated_taint(taints, tols, "NoSchedule,NoExecute")) {
		*run = *cont = true;
		return;
	}
	/* a running pod stays unless a NoExecute taint evicts it */
	*cont = !ctrl_untolerated_taint(taints, tols, "NoExecute");
}

void ds_node_should_run(json_t *ds, json_t *node, bool *should_run, bool *should_continue)
{
	json_t *t = daemon_template(ds);

	node_should_run(json_object_get(t, "spec"), node, should_run, should_continue);
	json_decref(t);
}

/* upstream GetTargetNodeName: spec.nodeName, else the node that the
 * metadata.name affinity term names. */
static const char *target_node(json_t *pod)
{
	json_t *terms = ctrl_get(pod, "spec.affinity.nodeAffinity."
				      "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
	json_t *term, *f;
	size_t i, j;

	if (ctrl_str(pod, "spec.nodeName") && *ctrl_str(pod, "spec.nodeName"))
		return ctrl_str(pod, "spec.nodeName");
	json_array_foreach(terms, i, term)
		json_array_foreach(json_object_get(term, "matchFields"), j, f)
			if (streq(ctrl_str(f, "key"), "metadata.name") &&
			    streq(ctrl_str(f, "operator"), "In") &&
			    json_array_size(json_object_get(f, "values")) == 1)
				return json_string_value(json_array_get(json_object_get(f, "values"), 0));
	return NULL;
}

static bool terminal(json_t *pod)
{
	const char *phase = ctrl_str(pod, "status.phase");

	return streq(phase, "Succeeded") || streq(phase, "Failed");
}

/* Pods by the node they run on or are meant for; deleted pods that have
 * already ended are left out (upstream getNodesToDaemonPods). */
static int map_pods(struct ds_ctx *c)
{
	c->by_node = json_object();
	if (!c->by_node)
		return -ENOMEM;
	for (size_t i = 0; i < c->in->n_pods; i++) {
		json_t *pod = c->in->pods[i], *list;
		const char *node = target_node(pod);

		if (!node || !ctrl_controlled_by(pod, c->ds) ||
		    (ctrl_pod_terminating(pod) && terminal(pod)))
			continue;
		list = json_object_get(c->by_node, node);
		if (!list && json_object_set_new(c->by_node, node, (list = json_array())) < 0)
			return -ENOMEM;
		if (json_array_append(list, pod) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* upstream podByCreationTimestampAndPhase: scheduled first, then oldest. */
static int oldest_first(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	bool sx = *(ctrl_str(x, "spec.nodeName") ?: ""), sy = *(ctrl_str(y, "spec.nodeName") ?: "");
	int r;

	if (sx != sy)
		return sy - sx;
	r = strcmp(ctrl_str(x, "metadata.creationTimestamp") ?: "",
		   ctrl_str(y, "metadata.creationTimestamp") ?: "");
	return r ? r : strcmp(ctrl_str(x, "metadata.name") ?: "", ctrl_str(y, "metadata.name") ?: "");
}

/* The pods on the node (an allocated array of borrowed pods, sorted oldest
 * first), their number in *n; NULL when out of memory. */
static json_t **pods_on(struct ds_ctx *c, json_t *node, size_t *n)
{
	json_t *list = json_object_get(c->by_node, ctrl_str(node, "metadata.name") ?: "");
	json_t **out = calloc(json_array_size(list) + 1, sizeof(*out)), *pod;
	size_t i;

	if (!out)
		return NULL;
	*n = 0;
	json_array_foreach(list, i, pod)
		out[(*n)++] = pod;
	qsort(out, *n, sizeof(*out), oldest_first);
	return out;
}

static bool updated(json_t *pod, const char *hash)
{
	return streq(json_string_value(json_object_get(ctrl_get(pod, "metadata.labels"),
						       CTRL_REVISION_HASH_LABEL)),
		     hash);
}

/* ---- writes ---- */

/* upstream ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms
 * become one matchFields term on the node's name; preferred terms stay. */
static int place_on(json_t *spec, const char *node)
{
	json_t *aff = json_object_get(spec, "affinity"), *na;

	if (!json_is_object(aff) && json_object_set_new(spec, "affinity", (aff = json_object())) < 0)
		return -ENOMEM;
	na = json_object_get(aff, "nodeAffinity");
	if (!json_is_object(na) && json_object_set_new(aff, "nodeAffinity", (na = json_object())) < 0)
		return -ENOMEM;
	return json_object_set_new(
		       na, "requiredDuringSchedulingIgnoredDuringExecution",
		       json_pack("{s:[{s:[{s:s, s:s, s:[s]}]}]}", "nodeSelectorTerms", "matchFields",
				 "key", "metadata.name", "operator", "In", "values", node)) < 0
		       ? -ENOMEM
		       : 0;
}

static int create_pod(struct ds_ctx *c, const char *node)
{
	json_t *pod = ctrl_pod_from_template(c->template, c->ds, NULL);
	json_t *md = json_object_get(pod, "metadata"), *labels = json_object_get(md, "labels");
	char gen[24];
	int r;

	if (!pod)
		return -ENOMEM;
	snprintf(gen, sizeof(gen), "%lld", ctrl_int(c->ds, "metadata.generation", 0));
	if (!json_is_object(labels) && json_object_set_new(md, "labels", (labels = json_object())) < 0)
		r = -ENOMEM;
	else if (json_object_set_new(labels, CTRL_REVISION_HASH_LABEL, json_string(c->res->hash)) < 0 ||
		 json_object_set_new(labels, DS_GENERATION_LABEL, json_string(gen)) < 0)
		r = -ENOMEM;
	else
		r = place_on(json_object_get(pod, "spec"), node);
	if (r < 0) {
		json_decref(pod);
		return r;
	}
	return ctrl_pod_create(c->p, DS_RESOURCE, c->ds, pod);
}

/* ---- manage: one pod on each node that should run one ---- */

/* upstream podsShouldBeOnNode for a node that may keep its pods: ended
 * pods go (FailedDaemonPod for failed ones), and of several running pods
 * the oldest stays. */
static int clean_node(struct ds_ctx *c, const char *node, json_t **pods, size_t n)
{
	size_t running = 0;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		json_t *pod = pods[i];
		const char *phase = ctrl_str(pod, "status.phase");

		if (ctrl_pod_terminating(pod))
			continue;
		if (streq(phase, "Failed"))
			r = ctrl_plan_event(c->p, DS_RESOURCE, c->ns, c->name, "Warning",
					    "FailedDaemonPod",
					    "Found failed daemon pod %s/%s on node %s, will try to kill it",
					    c->ns, ctrl_str(pod, "metadata.name") ?: "", node);
		if (r == 0 && (terminal(pod) || running++ > 0))
			r = ctrl_pod_delete(c->p, DS_RESOURCE, c->ds, pod);
	}
	return r;
}

static int manage_node(struct ds_ctx *c, json_t *node, size_t *creates)
{
	size_t n;
	_cleanup_free_ json_t **pods = pods_on(c, node, &n);
	bool run, cont;
	int r = 0;

	if (!pods)
		return -ENOMEM;
	node_should_run(json_object_get(c->template, "spec"), node, &run, &cont);
	if (run && n == 0) {
		if ((*creates)++ < DS_BURST)
			r = create_pod(c, ctrl_str(node, "metadata.name") ?: "");
	} else if (cont) {
		r = clean_node(c, ctrl_str(node, "metadata.name") ?: "", pods, n);
	} else {
		for (size_t i = 0; i < n && r == 0; i++)
			if (!ctrl_pod_terminating(pods[i]))
				r = ctrl_pod_delete(c->p, DS_RESOURCE, c->ds, pods[i]);
	}
	return r;
}

/* Unscheduled pods meant for a node that is gone: nobody else ends them. */
static int delete_orphans(struct ds_ctx *c)
{
	json_t *names = json_object(), *list, *pod;
	const char *node;
	size_t i;
	int r = names ? 0 : -ENOMEM;

	for (i = 0; i < c->in->n_nodes && r == 0; i++)
		r = json_object_set_new(names, ctrl_str(c->in->nodes[i], "metadata.name") ?: "",
					json_true()) < 0 ? -ENOMEM : 0;
	json_object_foreach(c->by_node, node, list) {
		if (json_object_get(names, node))
			continue;
		json_array_foreach(list, i, pod)
			if (r == 0 && !*(ctrl_str(pod, "spec.nodeName") ?: "") &&
			    !ctrl_pod_terminating(pod))
				r = ctrl_pod_delete(c->p, DS_RESOURCE, c->ds, pod);
	}
	json_decref(names);
	return r;
}

static int manage(struct ds_ctx *c)
{
	size_t creates = 0;
	int r = 0;

	for (size_t i = 0; i < c->in->n_nodes && r == 0; i++)
		r = manage_node(c, c->in->nodes[i], &creates);
	return r < 0 ? r : delete_orphans(c);
}

/* ---- rolling update ---- */

/* upstream findUpdatedPodsOnNode: the node's current and old pod; false
 * when it has two of either. */
static bool split_pods(json_t **pods, size_t n, const char *hash, json_t **cur, json_t **old)
{
	*cur = *old = NULL;
	for (size_t i = 0; i < n; i++) {
		json_t **slot = updated(pods[i], hash) ? cur : old;

		if (ctrl_pod_terminating(pods[i]))
			continue;
		if (*slot)
			return false;
		*slot = pods[i];
	}
	return true;
}

struct roll {
	long long max_unavailable, unavailable;
	json_t **now;        /* old pods already unavailable: replaced at once */
	json_t **candidates; /* old available pods, taken while the budget lasts */
	size_t n_now, n_candidates;
};

static void roll_node(struct ds_ctx *c, struct roll *rl, json_t **pods, size_t n)
{
	json_t *cur, *old;

	if (!split_pods(pods, n, c->res->hash, &cur, &old) || (!cur && !old) || (cur && old)) {
		rl->unavailable++; /* manage sorts this node out first */
		return;
	}
	if (cur) {
		rl->unavailable += !ctrl_pod_available(cur, c->min_ready, c->in->now);
		return;
	}
	if (!ctrl_pod_available(old, c->min_ready, c->in->now))
		rl->now[rl->n_now++] = old;
	else if (rl->unavailable < rl->max_unavailable)
		rl->candidates[rl->n_candidates++] = old;
}

static int max_unavailable(struct ds_ctx *c, long long desired, long long *out)
{
	json_t *ru = ctrl_get(c->ds, "spec.updateStrategy.rollingUpdate");
	long long surge;
	int r = ctrl_intstr_scaled(json_object_get(ru, "maxUnavailable"), desired, true, 1, out);

	if (r == 0)
		r = ctrl_intstr_scaled(json_object_get(ru, "maxSurge"), desired, true, 0, &surge);
	if (r == 0 && *out == 0 && surge == 0)
		*out = 1;
	return r;
}

/* upstream rollingUpdate without surge: delete old pods while the
 * unavailable ones stay within maxUnavailable; manage makes the new ones. */
static int rolling_update(struct ds_ctx *c, long long desired)
{
	size_t n_nodes = c->in->n_nodes;
	_cleanup_free_ json_t **now = calloc(n_nodes + 1, sizeof(*now));
	_cleanup_free_ json_t **cand = calloc(n_nodes + 1, sizeof(*cand));
	struct roll rl = { .now = now, .candidates = cand };
	int r = max_unavailable(c, desired, &rl.max_unavailable);
	long long budget;

	if (r < 0 || !now || !cand)
		return r < 0 ? r : -ENOMEM;
	for (size_t i = 0; i < n_nodes; i++) {
		size_t n;
		_cleanup_free_ json_t **pods = pods_on(c, c->in->nodes[i], &n);
		bool run, cont;

		if (!pods)
			return -ENOMEM;
		/* upstream updatedDesiredNodeCounts: a node that wants a pod
		 * and has none counts as unavailable */
		node_should_run(json_object_get(c->template, "spec"), c->in->nodes[i], &run, &cont);
		if (n || run)
			roll_node(c, &rl, pods, n);
	}
	budget = rl.max_unavailable - rl.unavailable;
	if (budget < 0)
		budget = 0;
	if (budget > (long long)rl.n_candidates)
		budget = (long long)rl.n_candidates;
	for (size_t i = 0; i < rl.n_now && r == 0; i++)
		r = ctrl_pod_delete(c->p, DS_RESOURCE, c->ds, rl.now[i]);
	for (long long i = 0; i < budget && r == 0; i++)
		r = ctrl_pod_delete(c->p, DS_RESOURCE, c->ds, rl.candidates[i]);
	return r;
}

/* ---- ControllerRevisions ---- */

/* A revision stays while a pod of its hash lives. */
static bool hash_live(void *ctx, json_t *rev)
{
	struct ds_ctx *c = ctx;
	const char *hash = json_string_value(
		json_object_get(ctrl_get(rev, "metadata.labels"), CTRL_REVISION_HASH_LABEL));

	for (size_t i = 0; hash && i < c->in->n_pods; i++)
		if (ctrl_controlled_by(c->in->pods[i], c->ds) && updated(c->in->pods[i], hash))
			return true;
	return false;
}

static int sync_history(struct ds_ctx *c, bool idle)
{
	struct ctrl_history h = { .owner = c->ds, .revisions = c->in->revisions,
				  .n_revisions = c->in->n_revisions, .hash = c->res->hash,
				  .cleanup = idle, .in_use = hash_live, .ctx = c };

	return ctrl_history_sync(c->p, &h, NULL);
}

/* ---- status ---- */

struct ds_counts {
	long long desired, current, misscheduled, ready, available, updated;
};

static int count(struct ds_ctx *c, struct ds_counts *k)
{
	for (size_t i = 0; i < c->in->n_nodes; i++) {
		size_t n;
		_cleanup_free_ json_t **pods = pods_on(c, c->in->nodes[i], &n);
		bool run, cont;

		if (!pods)
			return -ENOMEM;
		node_should_run(json_object_get(c->template, "spec"), c->in->nodes[i], &run, &cont);
		if (!run) {
			k->misscheduled += n > 0;
			continue;
		}
		k->desired++;
		if (n == 0)
			continue;
		k->current++;
		if (ctrl_pod_ready(pods[0], NULL)) {
			k->ready++;
			k->available += ctrl_pod_available(pods[0], c->min_ready, c->in->now);
		}
		k->updated += updated(pods[0], c->res->hash);
	}
	return 0;
}

static int write_status(struct ds_ctx *c, const struct ds_counts *k)
{
	json_t *old = json_object_get(c->ds, "status");
	json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
	const struct {
		const char *key;
		long long v;
	} fields[] = {
		{ "observedGeneration", ctrl_int(c->ds, "metadata.generation", 0) },
		{ "desiredNumberScheduled", k->desired },
		{ "currentNumberScheduled", k->current },
		{ "numberMisscheduled", k->misscheduled },
		{ "numberReady", k->ready },
		{ "numberAvailable", k->available },
		{ "updatedNumberScheduled", k->updated },
		{ "numberUnavailable", k->desired - k->available },
	};

	for (size_t i = 0; st && i < ARRAY_SIZE(fields); i++)
		if (json_object_set_new(st, fields[i].key, json_integer(fields[i].v)) < 0) {
			json_decref(st);
			return -ENOMEM;
		}
	if (!st)
		return -ENOMEM;
	return ctrl_status_update(c->p, DS_RESOURCE, c->ds, st);
}

/* ---- one sync ---- */

static int sync_ds(struct ds_ctx *c)
{
	struct ds_counts k = { 0 };
	size_t before;
	bool idle;
	int r;

	r = map_pods(c);
	if (r == 0)
		r = count(c, &k); /* from the pods as they are, as upstream */
	before = ctrl_plan_count(c->p, CTRL_CREATE, "pods") + ctrl_plan_count(c->p, CTRL_DELETE, "pods");
	if (r == 0)
		r = manage(c);
	idle = ctrl_plan_count(c->p, CTRL_CREATE, "pods") + ctrl_plan_count(c->p, CTRL_DELETE, "pods") ==
	       before;
	if (r == 0 && idle &&
	    streq(ctrl_str(c->ds, "spec.updateStrategy.type") ?: "RollingUpdate", "RollingUpdate"))
		r = rolling_update(c, k.desired);
	if (r == 0)
		r = sync_history(c, idle);
	if (r == 0)
		r = write_status(c, &k);
	if (r == 0 && c->min_ready > 0 && k.ready != k.available)
		c->res->requeue_after = c->min_ready;
	return r;
}

int ds_compute(const struct ds_input *in, struct ctrl_plan *p, struct ds_result *res)
{
	struct ds_ctx c = { .in = in, .p = p, .res = res, .ds = in->ds };
	int r;

	memset(res, 0, sizeof(*res));
	if (ctrl_get(in->ds, "metadata.deletionTimestamp"))
		return 0;
	c.ns = ctrl_str(in->ds, "metadata.namespace") ?: "";
	c.name = ctrl_str(in->ds, "metadata.name") ?: "";
	c.min_ready = ctrl_int(in->ds, "spec.minReadySeconds", 0);
	ctrl_template_hash(ctrl_get(in->ds, "spec.template"),
			   ctrl_int(in->ds, "status.collisionCount", -1), res->hash);
	c.template = daemon_template(in->ds);
	r = c.template ? sync_ds(&c) : -ENOMEM;
	json_decref(c.template);
	json_decref(c.by_node);
	return r;
}
