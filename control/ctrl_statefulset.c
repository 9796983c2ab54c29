/* The StatefulSet controller's compute step: see ctrl_statefulset.h. The
 * order follows upstream's updateStatefulSet: revisions, the replicas in
 * ordinal order, the condemned pods from the highest ordinal down, the
 * rolling update, the status. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_statefulset.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

/* One ordinal of the wanted range: its pod, or the one planned this sync. */
struct slot {
	json_t *pod;     /* borrowed; NULL when missing */
	bool planned;    /* created by this sync */
	const char *rev; /* the planned pod's revision */
};

struct sts_counts {
	long long replicas, ready, available, current, updated;
};

struct sts_ctx {
	const struct sts_input *in;
	struct ctrl_plan *p;
	struct sts_result *res;
	json_t *sts;
	const char *ns, *name;
	long long replicas, start, min_ready;
	bool monotonic;
	char update_rev[300], current_rev[300];
	json_t *current_tmpl; /* the current revision's template (owned) */
	struct slot *slots;   /* replicas of them (owned) */
	json_t **condemned;   /* pods outside the range, by ordinal ascending (owned array) */
	size_t n_condemned;
	struct sts_counts k;
};

/* ---- pods and their ordinals ---- */

/* The ordinal in "<set>-<n>", -1 when the name is not of this set. */
static long long ordinal(struct sts_ctx *c, json_t *pod)
{
	const char *name = ctrl_str(pod, "metadata.name");
	size_t n = strlen(c->name);
	char *end;
	long long o;

	if (!name || strncmp(name, c->name, n) != 0 || name[n] != '-' || name[n + 1] < '0' ||
	    name[n + 1] > '9')
		return -1;
	o = strtoll(name + n + 1, &end, 10);
	return *end ? -1 : o;
}

static const char *revision_of(json_t *pod)
{
	return json_string_value(
		json_object_get(ctrl_get(pod, "metadata.labels"), CTRL_REVISION_HASH_LABEL));
}

static bool running_ready(json_t *pod)
{
	return streq(ctrl_str(pod, "status.phase"), "Running") && ctrl_pod_ready(pod, NULL);
}


static bool ended(json_t *pod)
{
	const char *phase = ctrl_str(pod, "status.phase");

	return streq(phase, "Failed") || streq(phase, "Succeeded");
}

static const char *slot_rev(const struct slot *s)
{
	return s->planned ? s->rev : revision_of(s->pod);
}

static int by_ordinal(const void *a, const void *b, void *ctx)
{
	long long x = ordinal(ctx, *(json_t *const *)a), y = ordinal(ctx, *(json_t *const *)b);

	return (x > y) - (x < y);
}

/* upstream computeReplicaStatus, for one pod */
static void count_pod(struct sts_ctx *c, json_t *pod)
{
	const char *rev = revision_of(pod);

	c->k.replicas++;
	if (running_ready(pod)) {
		c->k.ready++;
		c->k.available += ctrl_pod_available(pod, c->min_ready, c->in->now);
	}
	if (!ctrl_pod_terminating(pod)) {
		c->k.current += streq(rev, c->current_rev);
		c->k.updated += streq(rev, c->update_rev);
	}
}

static int claim_pods(struct sts_ctx *c)
{
	c->slots = calloc((size_t)c->replicas + 1, sizeof(*c->slots));
	c->condemned = calloc(c->in->n_pods + 1, sizeof(*c->condemned));
	if (!c->slots || !c->condemned)
		return -ENOMEM;
	for (size_t i = 0; i < c->in->n_pods; i++) {
		json_t *pod = c->in->pods[i];
		long long o = ordinal(c, pod);

		if (o < 0 || !ctrl_controlled_by(pod, c->sts))
			continue;
		count_pod(c, pod);
		if (o >= c->start && o < c->start + c->replicas)
			c->slots[o - c->start].pod = pod;
		else
			c->condemned[c->n_condemned++] = pod;
	}
	qsort_r(c->condemned, c->n_condemned, sizeof(*c->condemned), by_ordinal, c);
	return 0;
}

/* ---- writes ---- */

static int delete_pod(struct sts_ctx *c, json_t *pod)
{
	const char *name = ctrl_str(pod, "metadata.name") ?: "";
	int r = ctrl_plan_add(c->p, CTRL_DELETE, "pods", c->ns, name, NULL);

	return r < 0 ? r : ctrl_plan_event(c->p, STS_RESOURCE, c->ns, c->name, "Normal",
					   "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful",
					   name, c->name);
}

static int set_label(json_t *labels, const char *key, const char *value)
{
	return json_object_set_new(labels, key, json_string(value)) < 0 ? -ENOMEM : 0;
}

/* upstream newVersionedStatefulSetPod + initIdentity: below the partition
 * of a rolling update, pods are made from the current revision. */
static int create_pod(struct sts_ctx *c, long long i)
{
	const char *part_type = ctrl_str(c->sts, "spec.updateStrategy.type") ?: "RollingUpdate";
	long long part = ctrl_int(c->sts, "spec.updateStrategy.rollingUpdate.partition", 0);
	bool old = streq(part_type, "RollingUpdate") && c->start + i < part && c->current_tmpl;
	const char *svc = ctrl_str(c->sts, "spec.serviceName");
	char name[300], idx[24];
	json_t *pod, *md, *labels, *spec;
	int r;

	snprintf(name, sizeof(name), "%s-%lld", c->name, c->start + i);
	snprintf(idx, sizeof(idx), "%lld", c->start + i);
	pod = ctrl_pod_from_template(old ? c->current_tmpl : ctrl_get(c->sts, "spec.template"),
				     c->sts, name);
	md = json_object_get(pod, "metadata");
	spec = json_object_get(pod, "spec");
	labels = json_object_get(md, "labels");
	if (pod && !json_is_object(labels))
		json_object_set_new(md, "labels", (labels = json_object()));
	c->slots[i].planned = true;
	c->slots[i].rev = old ? c->current_rev : c->update_rev;
	r = pod && labels ? 0 : -ENOMEM;
	if (r == 0)
		r = set_label(labels, STS_POD_NAME_LABEL, name);
	if (r == 0)
		r = set_label(labels, STS_POD_INDEX_LABEL, idx);
	if (r == 0)
		r = set_label(labels, CTRL_REVISION_HASH_LABEL, c->slots[i].rev);
	if (r == 0)
		r = set_label(spec, "hostname", name);
	if (r == 0 && svc && *svc)
		r = set_label(spec, "subdomain", svc);
	if (r == 0)
		r = ctrl_plan_add(c->p, CTRL_CREATE, "pods", c->ns, name, json_incref(pod));
	json_decref(pod);
	/* upstream counts it at the next sync, once the server has it */
	return r < 0 ? r : ctrl_plan_event(c->p, STS_RESOURCE, c->ns, c->name, "Normal", "SuccessfulCreate",
			       "create Pod %s in StatefulSet %s successful", name, c->name);
}

/* ---- the three passes; each returns 1 when the set must wait ---- */

static int wait_available(struct sts_ctx *c, json_t *pod)
{
	json_t *ready = ctrl_condition(pod, "Ready");
	time_t since;

	if (ctrl_pod_available(pod, c->min_ready, c->in->now))
		return 0;
	if (ctrl_time_parse(ctrl_str(ready, "lastTransitionTime"), &since) == 0)
		c->res->requeue_after = (long long)(since + c->min_ready - c->in->now);
	if (c->res->requeue_after < 1)
		c->res->requeue_after = 1;
	return 1;
}

static int replica_pass(struct sts_ctx *c)
{
	int r = 0;

	for (long long i = 0; i < c->replicas; i++) {
		struct slot *s = &c->slots[i];

		/* upstream: a new pod is made at the next sync, once the
		 * ended one is gone */
		if (s->pod && ended(s->pod)) {
			r = ctrl_pod_terminating(s->pod) ? 0 : delete_pod(c, s->pod);
			if (r < 0 || c->monotonic)
				return r < 0 ? r : 1;
			continue;
		}
		if (!s->pod) {
			r = create_pod(c, i);
			if (r < 0 || c->monotonic)
				return r < 0 ? r : 1;
			continue;
		}
		if (!c->monotonic)
			continue;
		if (ctrl_pod_terminating(s->pod) || !running_ready(s->pod))
			return 1;
		if (wait_available(c, s->pod))
			return 1;
	}
	return 0;
}

/* upstream isUnavailable: missing, ending, not Running and Ready, or not
 * ready for minReadySeconds yet. */
static bool unavailable(struct sts_ctx *c, json_t *pod)
{
	return !pod || ctrl_pod_terminating(pod) || !running_ready(pod) ||
	       !ctrl_pod_available(pod, c->min_ready, c->in->now);
}

/* upstream firstUnavailablePod: among the replicas in ordinal order (the
 * missing ones included), then the condemned from the lowest ordinal. */
static json_t *first_unavailable(struct sts_ctx *c, bool *in_replicas)
{
	*in_replicas = true;
	for (long long i = 0; i < c->replicas; i++)
		if (unavailable(c, c->slots[i].pod))
			return c->slots[i].pod;
	*in_replicas = false;
	for (size_t i = 0; i < c->n_condemned; i++)
		if (unavailable(c, c->condemned[i]))
			return c->condemned[i];
	return NULL;
}

/* upstream processCondemned: from the highest ordinal; in OrderedReady
 * one pod at a time, after the terminating one is gone, and an unhealthy
 * pod only when it is the first unhealthy one. */
static int condemned_pass(struct sts_ctx *c)
{
	bool in_replicas;
	json_t *first = first_unavailable(c, &in_replicas);
	int r;

	for (size_t t = c->n_condemned; t-- > 0;) {
		json_t *pod = c->condemned[t];

		if (ctrl_pod_terminating(pod)) {
			if (c->monotonic)
				return 1;
			continue;
		}
		if (c->monotonic && unavailable(c, pod) && (in_replicas || pod != first))
			return 1;
		r = delete_pod(c, pod);
		if (r < 0 || c->monotonic)
			return r < 0 ? r : 1;
	}
	return 0;
}

static int update_pass(struct sts_ctx *c)
{
	long long part = ctrl_int(c->sts, "spec.updateStrategy.rollingUpdate.partition", 0);

	if (streq(ctrl_str(c->sts, "spec.updateStrategy.type"), "OnDelete"))
		return 0;
	for (long long t = c->replicas - 1; t >= 0 && c->start + t >= part; t--) {
		struct slot *s = &c->slots[t];

		if (!s->planned && !streq(slot_rev(s), c->update_rev) &&
		    !ctrl_pod_terminating(s->pod)) {
			c->k.current--;
			return delete_pod(c, s->pod);
		}
		if (s->planned || unavailable(c, s->pod))
			return 0;
	}
	return 0;
}

/* ---- revisions and status ---- */

/* A revision stays while it is the current one or a pod of it lives. */
static bool revision_in_use(void *ctx, json_t *rev)
{
	struct sts_ctx *c = ctx;
	const char *name = ctrl_str(rev, "metadata.name");

	if (streq(name, c->current_rev))
		return true;
	for (size_t i = 0; i < c->in->n_pods; i++)
		if (ctrl_controlled_by(c->in->pods[i], c->sts) &&
		    streq(revision_of(c->in->pods[i]), name))
			return true;
	return false;
}

/* The current revision: status.currentRevision while its ControllerRevision
 * exists (its template makes the pods below the partition), else the
 * update revision. */
static int find_current(struct sts_ctx *c)
{
	const char *cur = ctrl_str(c->sts, "status.currentRevision");

	snprintf(c->current_rev, sizeof(c->current_rev), "%s", c->update_rev);
	if (!cur || streq(cur, c->update_rev))
		return 0;
	for (size_t i = 0; i < c->in->n_revisions; i++) {
		json_t *rev = c->in->revisions[i];
		json_t *tmpl = ctrl_get(rev, "data.spec.template");

		if (!streq(ctrl_str(rev, "metadata.name"), cur) || !ctrl_controlled_by(rev, c->sts) ||
		    !json_is_object(tmpl))
			continue;
		c->current_tmpl = json_deep_copy(tmpl);
		if (!c->current_tmpl)
			return -ENOMEM;
		json_object_del(c->current_tmpl, "$patch");
		snprintf(c->current_rev, sizeof(c->current_rev), "%s", cur);
	}
	return 0;
}

static int sync_revisions(struct sts_ctx *c)
{
	char hash[16];
	struct ctrl_history h = { .owner = c->sts, .revisions = c->in->revisions,
				  .n_revisions = c->in->n_revisions, .hash = hash, .cleanup = true,
				  .in_use = revision_in_use, .ctx = c };
	int r;

	ctrl_template_hash(ctrl_get(c->sts, "spec.template"),
			   ctrl_int(c->sts, "status.collisionCount", -1), hash);
	snprintf(c->update_rev, sizeof(c->update_rev), "%s-%s", c->name, hash);
	r = find_current(c);
	return r < 0 ? r : ctrl_history_sync(c->p, &h, NULL);
}

static int write_status(struct sts_ctx *c)
{
	json_t *old = json_object_get(c->sts, "status");
	json_t *st = json_is_object(old) ? json_deep_copy(old) : json_object();
	const char *cur = c->current_rev;

	/* upstream completeRollingUpdate */
	if (!streq(ctrl_str(c->sts, "spec.updateStrategy.type"), "OnDelete") &&
	    c->k.updated == c->k.replicas && c->k.ready == c->k.replicas) {
		c->k.current = c->k.updated;
		cur = c->update_rev;
	}
	if (!st || json_object_set_new(st, "observedGeneration",
				       json_integer(ctrl_int(c->sts, "metadata.generation", 0))) < 0 ||
	    json_object_set_new(st, "replicas", json_integer(c->k.replicas)) < 0 ||
	    json_object_set_new(st, "readyReplicas", json_integer(c->k.ready)) < 0 ||
	    json_object_set_new(st, "availableReplicas", json_integer(c->k.available)) < 0 ||
	    json_object_set_new(st, "currentReplicas", json_integer(c->k.current)) < 0 ||
	    json_object_set_new(st, "updatedReplicas", json_integer(c->k.updated)) < 0 ||
	    json_object_set_new(st, "currentRevision", json_string(cur)) < 0 ||
	    json_object_set_new(st, "updateRevision", json_string(c->update_rev)) < 0) {
		json_decref(st);
		return -ENOMEM;
	}
	return ctrl_status_update(c->p, STS_RESOURCE, c->sts, st);
}

static int sync_sts(struct sts_ctx *c)
{
	int r = sync_revisions(c);

	if (r == 0)
		r = claim_pods(c);
	if (r == 0)
		r = replica_pass(c);
	if (r == 0)
		r = condemned_pass(c);
	if (r == 0)
		r = update_pass(c);
	return r < 0 ? r : write_status(c);
}

int sts_compute(const struct sts_input *in, struct ctrl_plan *p, struct sts_result *res)
{
	struct sts_ctx c = { .in = in, .p = p, .res = res, .sts = in->sts };
	const char *policy = ctrl_str(in->sts, "spec.podManagementPolicy");
	int r;

	memset(res, 0, sizeof(*res));
	if (ctrl_get(in->sts, "metadata.deletionTimestamp"))
		return 0;
	c.ns = ctrl_str(in->sts, "metadata.namespace") ?: "";
	c.name = ctrl_str(in->sts, "metadata.name") ?: "";
	c.replicas = ctrl_int(in->sts, "spec.replicas", 1);
	c.start = ctrl_int(in->sts, "spec.ordinals.start", 0);
	c.min_ready = ctrl_int(in->sts, "spec.minReadySeconds", 0);
	c.monotonic = !streq(policy, "Parallel");
	if (c.replicas < 0 || c.start < 0 || (policy && !streq(policy, "Parallel") &&
					      !streq(policy, "OrderedReady")))
		return -EINVAL;
	r = sync_sts(&c);
	json_decref(c.current_tmpl);
	free(c.slots);
	free(c.condemned);
	return r;
}

int sts_validate_create(json_t *sts, char *err, size_t len)
{
	if (json_array_size(ctrl_get(sts, "spec.volumeClaimTemplates")) > 0)
		return set_err(err, len, -EINVAL,
			       "spec.volumeClaimTemplates: Forbidden: this cluster has no storage "
			       "provisioner yet; volume claim templates are not supported");
	return 0;
}
