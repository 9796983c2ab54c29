/* The ReplicaSet controller's compute step, as upstream's replica_set.go
 * with controller_utils.go: claim the namespace's active pods (adopt
 * orphans the selector matches, release owned pods it no longer matches),
 * create or delete the difference to spec.replicas (at most burst per
 * sync, deleting the least valuable pods first by ActivePods order), and
 * write the status. Expectations keep a second sync from acting twice
 * before the informer has seen the first one's pods. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

#define ANN_DELETION_COST "controller.kubernetes.io/pod-deletion-cost"

/* slowStartBatch: 1, 2, 4, ... each at most what remains. */
size_t rs_slow_start_batches(long long n, long long initial, long long *out, size_t max_batches)
{
	long long size = initial < n ? initial : n;
	size_t k = 0;

	while (size > 0 && k < max_batches) {
		out[k++] = size;
		n -= size;
		size = 2 * size < n ? 2 * size : n;
	}
	return k;
}

/* ---- ActivePods ordering ---- */

static int phase_ordinal(json_t *pod)
{
	const char *ph = ctrl_str(pod, "status.phase");

	if (streq(ph, "Unknown"))
		return 1;
	if (streq(ph, "Running"))
		return 2;
	return 0; /* Pending, or none yet */
}

static long long deletion_cost(json_t *pod)
{
	const char *v = json_string_value(
		json_object_get(ctrl_get(pod, "metadata.annotations"), ANN_DELETION_COST));

	return v ? strtoll(v, NULL, 10) : 0;
}

/* The highest restartCount of the regular containers, or (sidecars) of the
 * init containers with restartPolicy Always. */
static long long max_restarts(json_t *pod, bool sidecars)
{
	json_t *st = ctrl_get(pod, sidecars ? "status.initContainerStatuses"
					    : "status.containerStatuses"), *c;
	long long m = 0;
	size_t i;

	json_array_foreach(st, i, c) {
		if (sidecars) {
			json_t *spec = NULL, *ic;
			size_t j;

			json_array_foreach(ctrl_get(pod, "spec.initContainers"), j, ic)
				if (streq(ctrl_str(ic, "name"), ctrl_str(c, "name")))
					spec = ic;
			if (!streq(ctrl_str(spec, "restartPolicy"), "Always"))
				continue;
		}
		if (ctrl_int(c, "restartCount", 0) > m)
			m = ctrl_int(c, "restartCount", 0);
	}
	return m;
}

/* floor(log2(now - t)) in nanoseconds, -1 when not before now. */
static int log_rank(time_t t, time_t now)
{
	unsigned long long d;

	if (now <= t)
		return -1;
	d = (unsigned long long)(now - t) * 1000000000ULL;
	return 63 - __builtin_clzll(d);
}

/* afterOrZero: zero times first, then the later one first. */
static int after_or_zero(time_t a, time_t b)
{
	if (!a || !b)
		return !a ? -1 : 1;
	return a > b ? -1 : 1;
}

/* LogarithmicScaleDown: times within one power of two of age are equal;
 * then the pod UIDs decide. */
static int newer_first(time_t a, time_t b, json_t *pa, json_t *pb, time_t now)
{
	int d;

	if (a == b)
		return 0;
	if (!now || !a || !b)
		return after_or_zero(a, b);
	d = log_rank(a, now) - log_rank(b, now);
	if (d)
		return d < 0 ? -1 : 1;
	return strcmp(ctrl_str(pa, "metadata.uid") ?: "", ctrl_str(pb, "metadata.uid") ?: "") < 0
		       ? -1 : 1;
}

int rs_pod_delete_cmp(json_t *a, long long rank_a, json_t *b, long long rank_b, time_t now)
{
	const char *na = ctrl_str(a, "spec.nodeName") ?: "", *nb = ctrl_str(b, "spec.nodeName") ?: "";
	time_t ta = 0, tb = 0;
	bool ra = ctrl_pod_ready(a, &ta), rb = ctrl_pod_ready(b, &tb);
	int c;

	if (!streq(na, nb) && (!*na || !*nb)) /* 1. unscheduled first */
		return !*na ? -1 : 1;
	if (phase_ordinal(a) != phase_ordinal(b)) /* 2. Pending < Unknown < Running */
		return phase_ordinal(a) < phase_ordinal(b) ? -1 : 1;
	if (ra != rb) /* 3. not ready first */
		return !ra ? -1 : 1;
	if (deletion_cost(a) != deletion_cost(b)) /* 4. lower pod-deletion-cost */
		return deletion_cost(a) < deletion_cost(b) ? -1 : 1;
	if (rank_a != rank_b) /* 5. more pods on the same node first */
		return rank_a > rank_b ? -1 : 1;
	if (ra && rb && (c = newer_first(ta, tb, a, b, now))) /* 6. ready more recently */
		return c;
	for (int side = 0; side < 2; side++) /* 7. more restarts first */
		if (max_restarts(a, side) != max_restarts(b, side))
			return max_restarts(a, side) > max_restarts(b, side) ? -1 : 1;
	/* 8. created more recently first */
	return newer_first(ctrl_time_at(a, "metadata.creationTimestamp"),
			   ctrl_time_at(b, "metadata.creationTimestamp"), a, b, now);
}

/* ---- the sync ---- */

#define RS_RESOURCE "replicasets.apps"

struct rs_ctx {
	const struct rs_input *in;
	const char *ns, *name, *uid;
	struct kube_selector *sel;
	json_t **claimed; /* the active pods that are ours after claiming */
	size_t n_claimed;
};

/* IsPodActive */
static bool pod_active(json_t *pod)
{
	return !ctrl_pod_terminal(pod) && !ctrl_get(pod, "metadata.deletionTimestamp");
}

/* ClaimPods over the active pods of the namespace. */
static int claim_pods(struct rs_ctx *c, struct ctrl_plan *p)
{
	struct ctrl_owner owner = { .obj = c->in->rs, .api_version = "apps/v1", .kind = "ReplicaSet",
				    .sel = c->sel };
	int r = 0;

	for (size_t i = 0; i < c->in->n_pods && r >= 0; i++) {
		json_t *pod = c->in->pods[i];

		if (!pod_active(pod))
			continue;
		r = ctrl_claim(&owner, pod, "pods", p);
		if (r > 0)
			c->claimed[c->n_claimed++] = pod;
	}
	return r < 0 ? r : 0;
}

/* GetPodFromTemplate: the template's labels, annotations, finalizers and
 * spec, generateName "<rs>-", our controller reference. */
static json_t *pod_from_template(struct rs_ctx *c)
{
	json_t *t = ctrl_get(c->in->rs, "spec.template"), *meta, *pod;
	char prefix[256];
	static const char *const keep[] = { "labels", "annotations", "finalizers" };

	snprintf(prefix, sizeof(prefix), "%s-", c->name);
	pod = json_pack("{s:s, s:s, s:{s:s, s:s, s:[o]}, s:O}", "apiVersion", "v1", "kind", "Pod",
			"metadata", "generateName", prefix, "namespace", c->ns, "ownerReferences",
			ctrl_new_controller_ref(c->in->rs, "apps/v1", "ReplicaSet"), "spec",
			json_object_get(t, "spec") ?: json_object());
	meta = json_object_get(pod, "metadata");
	for (size_t i = 0; pod && i < ARRAY_SIZE(keep); i++)
		if (ctrl_get(t, "metadata") && json_object_get(ctrl_get(t, "metadata"), keep[i]))
			json_object_set(meta, keep[i], json_object_get(ctrl_get(t, "metadata"), keep[i]));
	return pod;
}

int rs_event_created(struct ctrl_action *ev, const char *pod_name)
{
	char *m;

	if (asprintf(&m, "Created pod: %s", pod_name) < 0)
		return -ENOMEM;
	free(ev->message);
	ev->message = m;
	return 0;
}

static int create_pods(struct rs_ctx *c, long long n, struct ctrl_plan *p)
{
	int r = 0;

	if (!json_object_size(ctrl_get(c->in->rs, "spec.template.metadata.labels")))
		return -EINVAL; /* upstream: "unable to create pods, no labels" */
	for (long long i = 0; i < n && r == 0; i++) {
		r = ctrl_plan_add(p, CTRL_CREATE, "pods", c->ns, NULL, pod_from_template(c));
		if (r == 0)
			r = ctrl_plan_event(p, RS_RESOURCE, c->ns, c->name, "Normal",
					    "SuccessfulCreate", "Created pod: ");
	}
	return r;
}

struct ranked {
	json_t *pod;
	long long rank;
	time_t now;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	return rs_pod_delete_cmp(x->pod, x->rank, y->pod, y->rank, x->now);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* How many of the names equal name (names sorted). */
static long long count_sorted(const char **names, size_t n, const char *name)
{
	const char **hit = bsearch(&name, names, n, sizeof(*names), str_cmp);
	const char **lo = hit, **hi = hit;

	if (!hit)
		return 0;
	while (lo > names && streq(lo[-1], name))
		lo--;
	while (hi + 1 < names + n && streq(hi[1], name))
		hi++;
	return hi - lo + 1;
}

/* getPodsRankedByRelatedPodsOnSameNode: each pod's rank is the number of
 * active related pods (ours and our siblings') on its node. */
static int rank_pods(struct rs_ctx *c, struct ranked *v)
{
	size_t n = 0, cap = c->n_claimed + c->in->n_related;
	const char **nodes = calloc(cap + 1, sizeof(*nodes));

	if (!nodes)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_claimed; i++)
		nodes[n++] = ctrl_str(c->claimed[i], "spec.nodeName") ?: "";
	for (size_t i = 0; i < c->in->n_related; i++)
		if (pod_active(c->in->related[i]))
			nodes[n++] = ctrl_str(c->in->related[i], "spec.nodeName") ?: "";
	qsort(nodes, n, sizeof(*nodes), str_cmp);
	for (size_t i = 0; i < c->n_claimed; i++)
		v[i] = (struct ranked){ .pod = c->claimed[i], .now = c->in->now,
					.rank = count_sorted(nodes, n,
							     ctrl_str(c->claimed[i], "spec.nodeName") ?: "") };
	free(nodes);
	return 0;
}

/* getPodsToDelete: the least valuable first (ActivePods order). */
static int delete_pods(struct rs_ctx *c, long long n, struct ctrl_plan *p)
{
	struct ranked *v = calloc(c->n_claimed + 1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	r = rank_pods(c, v);
	if (r < 0) {
		free(v);
		return r;
	}
	if ((size_t)n < c->n_claimed)
		qsort(v, c->n_claimed, sizeof(*v), ranked_cmp);
	for (long long i = 0; i < n && r == 0; i++) {
		const char *pname = ctrl_str(v[i].pod, "metadata.name");

		r = ctrl_plan_add(p, CTRL_DELETE, "pods", c->ns, pname, NULL);
		if (r == 0)
			r = ctrl_plan_event(p, RS_RESOURCE, c->ns, c->name, "Normal",
					    "SuccessfulDelete", "Deleted pod: %s", pname);
	}
	free(v);
	return r;
}

/* manageReplicas */
static int manage(struct rs_ctx *c, struct ctrl_plan *p, struct rs_result *res)
{
	long long want = ctrl_int(c->in->rs, "spec.replicas", 1);
	long long diff = (long long)c->n_claimed - want;
	long long burst = c->in->burst ?: RS_BURST_REPLICAS;
	int r;

	if (diff < 0) {
		res->to_create = -diff < burst ? -diff : burst;
		r = create_pods(c, res->to_create, p);
		if (r == 0 && c->in->exp)
			ctrl_expectations_expect(c->in->exp, res->to_create, 0, c->in->now);
		return r;
	}
	if (diff > 0) {
		res->to_delete = diff < burst ? diff : burst;
		r = delete_pods(c, res->to_delete, p);
		if (r == 0 && c->in->exp)
			ctrl_expectations_expect(c->in->exp, 0, res->to_delete, c->in->now);
		return r;
	}
	return 0;
}

/* calculateStatus + the ReplicaFailure condition */
static json_t *new_status(struct rs_ctx *c)
{
	json_t *rs = c->in->rs, *st = json_deep_copy(ctrl_get(rs, "status")) ?: json_object();
	json_t *tl = ctrl_get(rs, "spec.template.metadata.labels"), *conds, *cond;
	long long min_ready = ctrl_int(rs, "spec.minReadySeconds", 0);
	long long full = 0, ready = 0, avail = 0;
	long long diff = (long long)c->n_claimed - ctrl_int(rs, "spec.replicas", 1);
	size_t i;

	for (i = 0; i < c->n_claimed; i++) {
		json_t *pod = c->claimed[i], *labels = ctrl_get(pod, "metadata.labels"), *v;
		const char *k;
		bool all = true;

		json_object_foreach(tl, k, v)
			all &= json_equal(v, json_object_get(labels, k));
		full += all;
		if (ctrl_pod_ready(pod, NULL)) {
			ready++;
			avail += ctrl_pod_available(pod, min_ready, c->in->now);
		}
	}
	cond = ctrl_status_condition(st, "ReplicaFailure");
	if (c->in->manage_error && !cond) {
		char t[32];

		ctrl_time_format(c->in->now, t);
		conds = json_object_get(st, "conditions");
		if (!conds) {
			conds = json_array();
			json_object_set_new(st, "conditions", conds);
		}
		json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
						       "ReplicaFailure", "status", "True",
						       "lastTransitionTime", t, "reason",
						       diff < 0 ? "FailedCreate" : diff > 0 ? "FailedDelete" : "",
						       "message", c->in->manage_error));
	} else if (!c->in->manage_error && cond) {
		ctrl_status_condition_remove(st, "ReplicaFailure");
		if (!json_array_size(json_object_get(st, "conditions")))
			json_object_del(st, "conditions");
	}
	json_object_set_new(st, "replicas", json_integer((json_int_t)c->n_claimed));
	json_object_set_new(st, "fullyLabeledReplicas", json_integer(full));
	json_object_set_new(st, "readyReplicas", json_integer(ready));
	json_object_set_new(st, "availableReplicas", json_integer(avail));
	return st;
}

/* updateReplicaSetStatus: written when a count, the conditions or the
 * observed generation changed. */
static int plan_status(struct rs_ctx *c, struct ctrl_plan *p, struct rs_result *res)
{
	json_t *rs = c->in->rs, *st = new_status(c), *old = ctrl_get(rs, "status"), *body;
	long long gen = ctrl_int(rs, "metadata.generation", 0);
	long long want = ctrl_int(rs, "spec.replicas", 1);
	static const char *const counts[] = { "replicas", "fullyLabeledReplicas", "readyReplicas",
					      "availableReplicas" };
	bool same = ctrl_int(old, "observedGeneration", 0) == gen &&
		    json_equal(json_object_get(st, "conditions") ?: json_null(),
			       json_object_get(old, "conditions") ?: json_null());

	if (!st)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
		same &= ctrl_int(st, counts[i], 0) == ctrl_int(old, counts[i], 0);
	/* resync after minReadySeconds, the last line of defence against skew */
	if (!c->in->manage_error && ctrl_int(rs, "spec.minReadySeconds", 0) > 0 &&
	    ctrl_int(st, "readyReplicas", 0) == want && ctrl_int(st, "availableReplicas", 0) != want)
		res->requeue_after = ctrl_int(rs, "spec.minReadySeconds", 0);
	if (same) {
		json_decref(st);
		return 0;
	}
	json_object_set_new(st, "observedGeneration", json_integer(gen));
	body = json_deep_copy(rs);
	if (!body) {
		json_decref(st);
		return -ENOMEM;
	}
	json_object_set_new(body, "status", st);
	return ctrl_plan_add(p, CTRL_UPDATE_STATUS, RS_RESOURCE, c->ns, c->name, body);
}

int rs_compute(const struct rs_input *in, struct ctrl_plan *p, struct rs_result *res)
{
	struct rs_ctx c = { .in = in };
	int r;

	*res = (struct rs_result){ 0 };
	c.ns = ctrl_str(in->rs, "metadata.namespace") ?: "default";
	c.name = ctrl_str(in->rs, "metadata.name");
	c.uid = ctrl_str(in->rs, "metadata.uid");
	if (!c.name || !c.uid)
		return -EINVAL;
	r = kube_selector_from_json(ctrl_get(in->rs, "spec.selector"), &c.sel);
	if (r < 0)
		return r;
	c.claimed = calloc(in->n_pods + 1, sizeof(*c.claimed));
	if (!c.claimed) {
		r = -ENOMEM;
		goto out;
	}
	r = claim_pods(&c, p);
	if (r < 0)
		goto out;
	res->skipped_diff = !ctrl_expectations_satisfied(in->exp, in->now);
	if (!res->skipped_diff && !ctrl_get(in->rs, "metadata.deletionTimestamp"))
		r = manage(&c, p, res);
	if (r == 0)
		r = plan_status(&c, p, res);
out:
	kube_selector_free(c.sel);
	free(c.claimed);
	return r;
}
