/* The Deployment controller's compute step, as upstream's
 * pkg/controller/deployment (deployment_controller.go, sync.go, rolling.go,
 * recreate.go, progress.go, util/deployment_util.go): claim the
 * ReplicaSets, find or create the new one (pod-template-hash, revision),
 * scale proportionally on a scaling event or while paused, else roll out
 * (RollingUpdate within maxSurge / maxUnavailable, or Recreate), clean up
 * old ReplicaSets beyond revisionHistoryLimit, and write the status with
 * the Available and Progressing conditions.
 *
 * Upstream writes as it goes and keeps using the objects it read; here
 * the writes are planned against a working copy of each ReplicaSet, each
 * changed ReplicaSet is written once (its ScalingReplicaSet Events after
 * it), and the Deployment's status once at the end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

#define RS_RESOURCE "replicasets.apps"
#define DEP_RESOURCE "deployments.apps"
#define HASH_LABEL "pod-template-hash"
#define ANN_REVISION "deployment.kubernetes.io/revision"
#define ANN_REVISION_HISTORY "deployment.kubernetes.io/revision-history"
#define ANN_DESIRED "deployment.kubernetes.io/desired-replicas"
#define ANN_MAX "deployment.kubernetes.io/max-replicas"
#define MAX_REV_HISTORY_CHARS 2000

/* ---- pod-template-hash ---- */

/* ---- the Deployment's spec, defaulted as apps/v1 does ---- */

static long long d_replicas(json_t *d)
{
	return ctrl_int(d, "spec.replicas", 1);
}

static bool d_rolling(json_t *d)
{
	const char *t = ctrl_str(d, "spec.strategy.type");

	return !t || streq(t, "RollingUpdate");
}

/* ResolveFenceposts: surge rounded up, unavailable down, never both 0. */
static void fenceposts(json_t *d, long long *surge, long long *unavail)
{
	json_t *ru = ctrl_get(d, "spec.strategy.rollingUpdate");
	json_t *ms = json_object_get(ru, "maxSurge"), *mu = json_object_get(ru, "maxUnavailable");
	long long want = d_replicas(d);
	json_t *q = json_string("25%");

	if (ctrl_intstr_scaled(ms ?: q, want, true, 0, surge) < 0)
		*surge = 0;
	if (ctrl_intstr_scaled(mu ?: q, want, false, 0, unavail) < 0)
		*unavail = 0;
	json_decref(q);
	if (*surge == 0 && *unavail == 0)
		*unavail = 1;
}

static long long max_surge(json_t *d)
{
	long long s, u;

	if (!d_rolling(d))
		return 0;
	fenceposts(d, &s, &u);
	return s;
}

static long long max_unavailable(json_t *d)
{
	long long s, u;

	if (!d_rolling(d) || d_replicas(d) == 0)
		return 0;
	fenceposts(d, &s, &u);
	return u > d_replicas(d) ? d_replicas(d) : u;
}

/* progressDeadlineSeconds: 600 by default; 0 when unset (MaxInt32). */
static long long progress_deadline(json_t *d)
{
	long long v = ctrl_int(d, "spec.progressDeadlineSeconds", 600);

	return v == 2147483647 ? 0 : v;
}

static long long history_limit(json_t *d)
{
	return ctrl_int(d, "spec.revisionHistoryLimit", 10);
}

/* ---- working state ---- */

struct dep_rs {
	json_t *orig; /* as read (NULL for one created in this sync) */
	json_t *cur;  /* the working copy (owned) */
	long long replicas0; /* spec.replicas as the status sees it */
	bool created;
	json_t *events; /* ScalingReplicaSet messages, recorded after its write */
};

struct dep_ctx {
	const struct dep_input *in;
	struct ctrl_plan *p;
	json_t *d;      /* working copy of the Deployment; its status is updated */
	json_t *status0; /* the status as read */
	const char *ns, *name;
	struct kube_selector *sel;
	struct dep_rs *rs;
	size_t n_rs;
	ssize_t new_rs; /* index of the new ReplicaSet, -1: none */
	json_t *revision; /* the revision annotation to write, NULL: as is */
};

static long long rs_replicas(struct dep_rs *r)
{
	return ctrl_int(r->cur, "spec.replicas", 1);
}

static long long rs_status(struct dep_rs *r, const char *field)
{
	return ctrl_int(r->cur, field, 0);
}

static const char *rs_name(struct dep_rs *r)
{
	return ctrl_str(r->cur, "metadata.name") ?: "";
}

static json_t *annotations_of(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata"), *a = json_object_get(meta, "annotations");

	if (!a) {
		a = json_object();
		json_object_set_new(meta, "annotations", a);
	}
	return a;
}

static const char *annotation(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(ctrl_get(obj, "metadata.annotations"), key));
}

static long long revision_of(json_t *rs)
{
	const char *v = annotation(rs, ANN_REVISION);

	return v ? strtoll(v, NULL, 10) : 0;
}

static time_t created_at(json_t *o)
{
	return ctrl_time_at(o, "metadata.creationTimestamp");
}

/* ReplicaSetsByCreationTimestamp: older first, then by name. */
static int by_creation(const struct dep_rs *a, const struct dep_rs *b)
{
	time_t ta = created_at(a->cur), tb = created_at(b->cur);

	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(rs_name((struct dep_rs *)a), rs_name((struct dep_rs *)b));
}

/* Insertion sort: a Deployment has few ReplicaSets. */
static void sort_rs(struct dep_rs **v, size_t n, int (*cmp)(const struct dep_rs *, const struct dep_rs *))
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && cmp(v[j - 1], v[j]) > 0; j--) {
			struct dep_rs *t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

/* The other ReplicaSets (all but the new one), in a given order. */
static size_t old_rss(struct dep_ctx *c, struct dep_rs **out,
		      int (*cmp)(const struct dep_rs *, const struct dep_rs *))
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_rs; i++)
		if ((ssize_t)i != c->new_rs)
			out[n++] = &c->rs[i];
	if (cmp)
		sort_rs(out, n, cmp);
	return n;
}

static struct dep_rs *new_rs(struct dep_ctx *c)
{
	return c->new_rs < 0 ? NULL : &c->rs[c->new_rs];
}

/* EqualIgnoreHash: templates equal but for the pod-template-hash label. */
static bool equal_ignore_hash(json_t *a, json_t *b)
{
	return ctrl_template_equal(a, b, HASH_LABEL);
}

/* SetReplicasAnnotations: desired and max replicas; true when changed. */
static bool set_replicas_annotations(struct dep_ctx *c, json_t *rs)
{
	json_t *ann = annotations_of(rs);
	char want[24], max[24];
	bool changed;

	snprintf(want, sizeof(want), "%lld", d_replicas(c->d));
	snprintf(max, sizeof(max), "%lld", d_replicas(c->d) + max_surge(c->d));
	changed = !streq(annotation(rs, ANN_DESIRED), want) || !streq(annotation(rs, ANN_MAX), max);
	json_object_set_new(ann, ANN_DESIRED, json_string(want));
	json_object_set_new(ann, ANN_MAX, json_string(max));
	return changed;
}

/* scaleReplicaSet: the new size and the replicas annotations on the
 * working copy; an Event when the size changed. */
static void scale_rs(struct dep_ctx *c, struct dep_rs *r, long long to, const char *op)
{
	long long from = rs_replicas(r);

	json_object_set_new(json_object_get(r->cur, "spec"), "replicas", json_integer(to));
	set_replicas_annotations(c, r->cur);
	if (from != to)
		json_array_append_new(r->events,
				      json_sprintf("Scaled %s replica set %s to %lld from %lld", op,
						   rs_name(r), to, from));
}

/* scaleReplicaSetAndRecordEvent; true when the size changed. */
static bool scale_rs_event(struct dep_ctx *c, struct dep_rs *r, long long to)
{
	long long from = rs_replicas(r);

	if (from == to)
		return false;
	scale_rs(c, r, to, from < to ? "up" : "down");
	return true;
}

/* ---- finding the ReplicaSets ---- */

/* getReplicaSetsForDeployment: claim by selector (adopt, release). */
static int claim_rss(struct dep_ctx *c)
{
	struct ctrl_owner owner = { .obj = c->in->dep, .api_version = "apps/v1", .kind = "Deployment",
				    .sel = c->sel };
	int r = 0;

	c->rs = calloc(c->in->n_rss + 1, sizeof(*c->rs));
	if (!c->rs)
		return -ENOMEM;
	for (size_t i = 0; i < c->in->n_rss && r >= 0; i++) {
		json_t *o = c->in->rss[i];
		struct dep_rs *x;

		if (!streq(ctrl_str(o, "metadata.namespace") ?: "default", c->ns))
			continue;
		r = ctrl_claim(&owner, o, RS_RESOURCE, c->p);
		if (r <= 0)
			continue;
		x = &c->rs[c->n_rs++];
		x->orig = o;
		x->cur = json_deep_copy(o);
		x->events = json_array();
		if (!x->cur || !x->events)
			return -ENOMEM;
		x->replicas0 = rs_replicas(x);
	}
	return r < 0 ? r : 0;
}

/* FindNewReplicaSet: the oldest whose template equals the Deployment's. */
static void find_new_rs(struct dep_ctx *c)
{
	json_t *t = ctrl_get(c->d, "spec.template");

	c->new_rs = -1;
	for (size_t i = 0; i < c->n_rs; i++)
		if (equal_ignore_hash(ctrl_get(c->rs[i].cur, "spec.template"), t) &&
		    (c->new_rs < 0 || by_creation(&c->rs[i], &c->rs[c->new_rs]) < 0))
			c->new_rs = (ssize_t)i;
}

/* copyDeploymentAnnotationsToReplicaSet: all but the controller's own and
 * kubectl's last-applied-configuration (kubernetes.io/change-cause is
 * copied this way). */
static bool copy_annotations(json_t *d, json_t *rs)
{
	static const char *const skip[] = { "kubectl.kubernetes.io/last-applied-configuration",
					    ANN_REVISION, ANN_REVISION_HISTORY, ANN_DESIRED, ANN_MAX,
					    "deprecated.deployment.rollback.to" };
	json_t *ann = annotations_of(rs), *v;
	const char *k;
	bool changed = false;

	json_object_foreach(ctrl_get(d, "metadata.annotations"), k, v) {
		bool skipped = false;

		for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
			skipped |= streq(k, skip[i]);
		if (skipped || json_equal(json_object_get(ann, k), v))
			continue;
		json_object_set(ann, k, v);
		changed = true;
	}
	return changed;
}

/* SetNewReplicaSetAnnotations: the revision (raised only), the history of
 * a reused ReplicaSet's revisions (rollback), the replicas annotations of
 * one about to be created. */
static bool set_new_rs_annotations(struct dep_ctx *c, json_t *rs, long long revision, bool exists)
{
	bool changed = copy_annotations(c->d, rs);
	json_t *ann = annotations_of(rs);
	const char *old = json_string_value(json_object_get(ann, ANN_REVISION));
	long long old_rev = old ? strtoll(old, NULL, 10) : 0;
	char rev[24];

	snprintf(rev, sizeof(rev), "%lld", revision);
	if (old_rev < revision) {
		const char *hist = json_string_value(json_object_get(ann, ANN_REVISION_HISTORY));

		if (old) {
			char *h = NULL, *start;

			if (!hist || !*hist) {
				h = strdup(old);
			} else {
				start = (char *)hist;
				/* drop the oldest while over the length limit */
				while (strlen(start) + strlen(old) + 1 > MAX_REV_HISTORY_CHARS &&
				       strchr(start, ','))
					start = strchr(start, ',') + 1;
				if (strlen(start) + strlen(old) + 1 <= MAX_REV_HISTORY_CHARS &&
				    asprintf(&h, "%s,%s", start, old) < 0)
					h = NULL;
			}
			if (h)
				json_object_set_new(ann, ANN_REVISION_HISTORY, json_string(h));
			free(h);
		}
		json_object_set_new(ann, ANN_REVISION, json_string(rev));
		changed = true;
	}
	if (!exists && set_replicas_annotations(c, rs))
		changed = true;
	return changed;
}

static long long max_old_revision(struct dep_ctx *c)
{
	long long m = 0;

	for (size_t i = 0; i < c->n_rs; i++)
		if ((ssize_t)i != c->new_rs && revision_of(c->rs[i].cur) > m)
			m = revision_of(c->rs[i].cur);
	return m;
}

/* SetDeploymentCondition: same status and reason keep the old one; same
 * status keeps its lastTransitionTime. */
static void set_condition(struct dep_ctx *c, json_t *status, const char *type, const char *st,
			  const char *reason, const char *msg)
{
	json_t *cur = ctrl_status_condition(status, type), *conds, *n;
	char now[32];

	if (cur && streq(ctrl_str(cur, "status"), st) && streq(ctrl_str(cur, "reason"), reason))
		return;
	ctrl_time_format(c->in->now, now);
	n = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", st, "lastUpdateTime",
		      now, "lastTransitionTime", now, "reason", reason, "message", msg);
	if (cur && streq(ctrl_str(cur, "status"), st))
		json_object_set(n, "lastTransitionTime", json_object_get(cur, "lastTransitionTime"));
	ctrl_status_condition_remove(status, type);
	conds = json_object_get(status, "conditions");
	if (!conds) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	json_array_append_new(conds, n);
}

static json_t *d_status(struct dep_ctx *c)
{
	json_t *st = json_object_get(c->d, "status");

	if (!st) {
		st = json_object();
		json_object_set_new(c->d, "status", st);
	}
	return st;
}

/* SetDeploymentRevision: the annotation the Deployment carries. */
static void set_deployment_revision(struct dep_ctx *c, const char *rev)
{
	if (!rev || streq(annotation(c->d, ANN_REVISION), rev))
		return;
	json_object_set_new(annotations_of(c->d), ANN_REVISION, json_string(rev));
	json_decref(c->revision);
	c->revision = json_string(rev);
}

static long long sum_replicas(struct dep_ctx *c)
{
	long long n = 0;

	for (size_t i = 0; i < c->n_rs; i++)
		n += rs_replicas(&c->rs[i]);
	return n;
}

/* NewRSNewReplicas */
static long long new_rs_new_replicas(struct dep_ctx *c, struct dep_rs *nr)
{
	long long want = d_replicas(c->d), surge, total, up;

	if (!d_rolling(c->d))
		return want;
	if (ctrl_intstr_scaled(ctrl_get(c->d, "spec.strategy.rollingUpdate.maxSurge"), want, true,
			       (want + 3) / 4, &surge) < 0)
		surge = 0;
	total = sum_replicas(c);
	if (total >= want + surge)
		return rs_replicas(nr);
	up = want + surge - total;
	if (up > want - rs_replicas(nr))
		up = want - rs_replicas(nr);
	return rs_replicas(nr) + up;
}

static json_t *new_rs_object(struct dep_ctx *c, const char *hash)
{
	json_t *t = json_deep_copy(ctrl_get(c->d, "spec.template")) ?: json_object();
	json_t *sel = json_deep_copy(ctrl_get(c->d, "spec.selector")) ?: json_object();
	json_t *labels, *rs;
	char name[300];

	if (!json_object_get(t, "metadata"))
		json_object_set_new(t, "metadata", json_object());
	labels = ctrl_get(t, "metadata.labels");
	if (!labels) {
		labels = json_object();
		json_object_set_new(json_object_get(t, "metadata"), "labels", labels);
	}
	json_object_set_new(labels, HASH_LABEL, json_string(hash));
	if (!json_object_get(sel, "matchLabels"))
		json_object_set_new(sel, "matchLabels", json_object());
	json_object_set_new(json_object_get(sel, "matchLabels"), HASH_LABEL, json_string(hash));
	snprintf(name, sizeof(name), "%s-%s", c->name, hash);
	rs = json_pack("{s:s, s:s, s:{s:s, s:s, s:[o], s:O}, s:{s:i, s:I, s:o, s:o}}", "apiVersion",
		       "apps/v1", "kind", "ReplicaSet", "metadata", "name", name, "namespace", c->ns,
		       "ownerReferences", ctrl_new_controller_ref(c->in->dep, "apps/v1", "Deployment"),
		       "labels", labels, "spec", "replicas", 0, "minReadySeconds",
		       (json_int_t)ctrl_int(c->d, "spec.minReadySeconds", 0), "selector", sel,
		       "template", t);
	return rs;
}

enum { NEW_RS_OK, NEW_RS_COLLISION };

/* The new ReplicaSet, created when missing and create is set. */
static int create_new_rs(struct dep_ctx *c, long long revision)
{
	json_t *st = d_status(c), *cc = json_object_get(st, "collisionCount"), *rs;
	long long count = json_integer_value(cc);
	char hash[16], name[300];
	struct dep_rs *nr;

	ctrl_template_hash(ctrl_get(c->d, "spec.template"), cc ? count : -1, hash);
	snprintf(name, sizeof(name), "%s-%s", c->name, hash);
	for (size_t i = 0; i < c->in->n_rss; i++) {
		json_t *o = c->in->rss[i];

		if (!streq(ctrl_str(o, "metadata.name"), name) ||
		    !streq(ctrl_str(o, "metadata.namespace") ?: "default", c->ns))
			continue;
		/* a ReplicaSet of another template holds the name: count the
		 * collision, requeue, and hash again next time */
		json_object_set_new(st, "collisionCount", json_integer(count + 1));
		return NEW_RS_COLLISION;
	}
	rs = new_rs_object(c, hash);
	if (!rs)
		return -ENOMEM;
	nr = &c->rs[c->n_rs];
	*nr = (struct dep_rs){ .cur = rs, .created = true, .events = json_array() };
	c->new_rs = (ssize_t)c->n_rs++;
	json_object_set_new(json_object_get(rs, "spec"), "replicas",
			    json_integer(new_rs_new_replicas(c, nr)));
	nr->replicas0 = rs_replicas(nr);
	set_new_rs_annotations(c, rs, revision, false);
	if (rs_replicas(nr) > 0)
		json_array_append_new(nr->events, json_sprintf("Scaled up replica set %s to %lld", name,
								 rs_replicas(nr)));
	set_deployment_revision(c, annotation(rs, ANN_REVISION));
	if (progress_deadline(c->d)) {
		char msg[400];

		snprintf(msg, sizeof(msg), "Created new replica set \"%s\"", name);
		set_condition(c, st, "Progressing", "True", "NewReplicaSetCreated", msg);
	}
	return NEW_RS_OK;
}

/* getAllReplicaSetsAndSyncRevision / getNewReplicaSet */
static int sync_revision(struct dep_ctx *c, bool create)
{
	struct dep_rs *nr;
	long long revision;

	find_new_rs(c);
	nr = new_rs(c);
	revision = max_old_revision(c) + 1;
	if (!nr)
		return create ? create_new_rs(c, revision) : NEW_RS_OK;
	if (set_new_rs_annotations(c, nr->cur, revision, true) ||
	    ctrl_int(nr->cur, "spec.minReadySeconds", 0) != ctrl_int(c->d, "spec.minReadySeconds", 0)) {
		json_object_set_new(json_object_get(nr->cur, "spec"), "minReadySeconds",
				    json_integer(ctrl_int(c->d, "spec.minReadySeconds", 0)));
		return NEW_RS_OK;
	}
	set_deployment_revision(c, annotation(nr->cur, ANN_REVISION));
	if (progress_deadline(c->d) && !ctrl_status_condition(d_status(c), "Progressing")) {
		char msg[400];

		snprintf(msg, sizeof(msg), "Found new replica set \"%s\"", rs_name(nr));
		set_condition(c, d_status(c), "Progressing", "True", "FoundNewReplicaSet", msg);
	}
	return NEW_RS_OK;
}

/* ---- scaling (sync.go: scale) ---- */

static bool active(struct dep_rs *r)
{
	return rs_replicas(r) > 0;
}

/* FindActiveOrLatest */
static struct dep_rs *active_or_latest(struct dep_ctx *c)
{
	struct dep_rs *only = NULL, *newest = NULL;
	size_t n_active = 0;

	for (size_t i = 0; i < c->n_rs; i++) {
		struct dep_rs *r = &c->rs[i];

		if (active(r)) {
			n_active++;
			only = r;
		}
		if ((ssize_t)i != c->new_rs && (!newest || by_creation(newest, r) < 0))
			newest = r;
	}
	if (!c->n_rs)
		return NULL;
	if (n_active == 0)
		return new_rs(c) ?: newest;
	return n_active == 1 ? only : NULL;
}

/* IsSaturated */
static bool saturated(struct dep_ctx *c, struct dep_rs *r)
{
	char want[24];

	if (!r)
		return false;
	snprintf(want, sizeof(want), "%lld", d_replicas(c->d));
	return streq(annotation(r->cur, ANN_DESIRED), want) && rs_replicas(r) == d_replicas(c->d) &&
	       rs_status(r, "status.availableReplicas") == d_replicas(c->d);
}

/* getReplicaSetFraction */
static long long rs_fraction(struct dep_ctx *c, struct dep_rs *r)
{
	long long want = d_replicas(c->d), max = want + max_surge(c->d), before;
	const char *a = annotation(r->cur, ANN_MAX);
	double size;

	if (want == 0)
		return -rs_replicas(r);
	before = a ? strtoll(a, NULL, 10) : 0;
	if (before == 0) {
		before = ctrl_int(c->status0, "replicas", 0);
		if (before == 0)
			return 0;
	}
	size = (double)(rs_replicas(r) * max) / (double)before;
	return (long long)(size + 0.5) - rs_replicas(r); /* math.Round, size >= 0 */
}

/* GetProportion */
static long long proportion(struct dep_ctx *c, struct dep_rs *r, long long to_add, long long added)
{
	long long frac, allowed = to_add - added;

	if (rs_replicas(r) == 0 || to_add == 0 || to_add == added)
		return 0;
	frac = rs_fraction(c, r);
	if (to_add > 0)
		return frac < allowed ? frac : allowed;
	return frac > allowed ? frac : allowed;
}

static int larger_newer_first(const struct dep_rs *a, const struct dep_rs *b)
{
	long long ra = rs_replicas((struct dep_rs *)a), rb = rs_replicas((struct dep_rs *)b);

	if (ra != rb)
		return ra > rb ? -1 : 1;
	return -by_creation(a, b);
}

static int larger_older_first(const struct dep_rs *a, const struct dep_rs *b)
{
	long long ra = rs_replicas((struct dep_rs *)a), rb = rs_replicas((struct dep_rs *)b);

	if (ra != rb)
		return ra > rb ? -1 : 1;
	return by_creation(a, b);
}

/* Proportional scaling of the active ReplicaSets of a rolling Deployment:
 * each gets its share of the change, the largest the leftover. */
static void scale_proportionally(struct dep_ctx *c, struct dep_rs **all, size_t n)
{
	long long total = 0, allowed = 0, to_add, added = 0;
	long long *size = calloc(n + 1, sizeof(*size));
	const char *op = NULL;
	size_t i;

	if (!size)
		return;
	for (i = 0; i < n; i++)
		total += rs_replicas(all[i]);
	if (d_replicas(c->d) > 0)
		allowed = d_replicas(c->d) + max_surge(c->d);
	to_add = allowed - total;
	if (to_add > 0) {
		sort_rs(all, n, larger_newer_first);
		op = "up";
	} else if (to_add < 0) {
		sort_rs(all, n, larger_older_first);
		op = "down";
	}
	for (i = 0; i < n; i++) {
		long long pr = to_add ? proportion(c, all[i], to_add, added) : 0;

		size[i] = rs_replicas(all[i]) + pr;
		added += pr;
	}
	for (i = 0; i < n; i++) {
		if (i == 0 && to_add) {
			size[0] += to_add - added;
			if (size[0] < 0)
				size[0] = 0;
		}
		/* scaleReplicaSet: the annotations are refreshed even when
		 * the size stays */
		scale_rs(c, all[i], size[i], op ?: "");
	}
	free(size);
}

/* sync.go: scale */
static void scale(struct dep_ctx *c)
{
	struct dep_rs *one = active_or_latest(c), **all;
	size_t n = 0;

	if (one) {
		if (rs_replicas(one) != d_replicas(c->d))
			scale_rs_event(c, one, d_replicas(c->d));
		return;
	}
	if (saturated(c, new_rs(c))) {
		for (size_t i = 0; i < c->n_rs; i++)
			if ((ssize_t)i != c->new_rs && active(&c->rs[i]))
				scale_rs_event(c, &c->rs[i], 0);
		return;
	}
	if (!d_rolling(c->d))
		return;
	all = calloc(c->n_rs + 1, sizeof(*all));
	if (!all)
		return;
	for (size_t i = 0; i < c->n_rs; i++)
		if (active(&c->rs[i]))
			all[n++] = &c->rs[i];
	scale_proportionally(c, all, n);
	free(all);
}

/* isScalingEvent: an active ReplicaSet was sized for another replicas. */
static bool scaling_event(struct dep_ctx *c)
{
	char want[24];

	snprintf(want, sizeof(want), "%lld", d_replicas(c->d));
	for (size_t i = 0; i < c->n_rs; i++) {
		const char *a = annotation(c->rs[i].cur, ANN_DESIRED);

		if (active(&c->rs[i]) && a && !streq(a, want))
			return true;
	}
	return false;
}

/* ---- rollouts (rolling.go, recreate.go) ---- */

/* reconcileNewReplicaSet */
static bool reconcile_new_rs(struct dep_ctx *c)
{
	struct dep_rs *nr = new_rs(c);
	long long want = d_replicas(c->d);

	if (rs_replicas(nr) == want)
		return false;
	if (rs_replicas(nr) > want)
		return scale_rs_event(c, nr, want);
	return scale_rs_event(c, nr, new_rs_new_replicas(c, nr));
}

/* cleanupUnhealthyReplicas: old ReplicaSets lose their unavailable pods
 * first, oldest first, at most max in all. */
static long long cleanup_unhealthy(struct dep_ctx *c, struct dep_rs **old, size_t n, long long max)
{
	long long done = 0;

	for (size_t i = 0; i < n && done < max; i++) {
		long long rep = rs_replicas(old[i]), avail = rs_status(old[i], "status.availableReplicas");
		long long down;

		if (rep == 0 || rep == avail)
			continue;
		down = max - done < rep - avail ? max - done : rep - avail;
		scale_rs_event(c, old[i], rep - down);
		done += down;
	}
	return done;
}

static long long available_of_all(struct dep_ctx *c)
{
	long long n = 0;

	for (size_t i = 0; i < c->n_rs; i++)
		n += rs_status(&c->rs[i], "status.availableReplicas");
	return n;
}

/* scaleDownOldReplicaSetsForRollingUpdate: as far as the available pods
 * exceed replicas - maxUnavailable, oldest first. */
static long long scale_down_old(struct dep_ctx *c, struct dep_rs **old, size_t n)
{
	long long min_avail = d_replicas(c->d) - max_unavailable(c->d);
	long long avail = available_of_all(c), want, done = 0;

	if (avail <= min_avail)
		return 0;
	want = avail - min_avail;
	for (size_t i = 0; i < n && done < want; i++) {
		long long rep = rs_replicas(old[i]), down;

		if (rep == 0)
			continue;
		down = rep < want - done ? rep : want - done;
		scale_rs_event(c, old[i], rep - down);
		done += down;
	}
	return done;
}

/* reconcileOldReplicaSets */
static bool reconcile_old_rss(struct dep_ctx *c)
{
	struct dep_rs **old = calloc(c->n_rs + 1, sizeof(*old)), *nr = new_rs(c);
	size_t n = old ? old_rss(c, old, by_creation) : 0, k = 0;
	long long old_pods = 0, min_avail, max_down, done = 0;

	for (size_t i = 0; i < n; i++)
		if (active(old[i])) {
			old[k++] = old[i];
			old_pods += rs_replicas(old[i]);
		}
	n = k;
	if (old_pods > 0) {
		min_avail = d_replicas(c->d) - max_unavailable(c->d);
		max_down = sum_replicas(c) - min_avail -
			   (rs_replicas(nr) - rs_status(nr, "status.availableReplicas"));
		if (max_down > 0) {
			done = cleanup_unhealthy(c, old, n, max_down);
			done += scale_down_old(c, old, n);
		}
	}
	free(old);
	return done > 0;
}

/* DeploymentComplete, against a status */
static bool complete(struct dep_ctx *c, json_t *st)
{
	long long want = d_replicas(c->d);

	return ctrl_int(st, "updatedReplicas", 0) == want && ctrl_int(st, "replicas", 0) == want &&
	       ctrl_int(st, "availableReplicas", 0) == want &&
	       ctrl_int(st, "observedGeneration", 0) >= ctrl_int(c->d, "metadata.generation", 0);
}

/* ReplicaSetsByRevision: lower revision first, then older. */
static int by_revision(const struct dep_rs *a, const struct dep_rs *b)
{
	long long ra = revision_of(a->cur), rb = revision_of(b->cur);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	return by_creation(a, b);
}

/* cleanupDeployment: old ReplicaSets beyond revisionHistoryLimit, lowest
 * revision first, only those scaled to 0 and settled. */
static int cleanup(struct dep_ctx *c)
{
	struct dep_rs **old = calloc(c->n_rs + 1, sizeof(*old));
	size_t n = 0;
	long long diff;
	int r = 0;

	if (!old)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_rs; i++)
		if ((ssize_t)i != c->new_rs && !c->rs[i].created &&
		    !ctrl_get(c->rs[i].cur, "metadata.deletionTimestamp"))
			old[n++] = &c->rs[i];
	diff = (long long)n - history_limit(c->d);
	sort_rs(old, n, by_revision);
	for (long long i = 0; i < diff && r == 0; i++) {
		struct dep_rs *x = old[i];

		if (rs_status(x, "status.replicas") != 0 || rs_replicas(x) != 0 ||
		    ctrl_int(x->cur, "metadata.generation", 0) >
			    ctrl_int(x->cur, "status.observedGeneration", 0))
			continue;
		r = ctrl_plan_add(c->p, CTRL_DELETE, RS_RESOURCE, c->ns, rs_name(x), NULL);
	}
	free(old);
	return r;
}

/* recreate.go: old ReplicaSets to 0, wait for their pods, then the new. */
static int rollout_recreate(struct dep_ctx *c, bool *status_only)
{
	long long old_pods = c->in->old_pods;
	bool scaled = false;
	int r;

	for (size_t i = 0; i < c->n_rs; i++)
		if ((ssize_t)i != c->new_rs && active(&c->rs[i]))
			scaled |= scale_rs_event(c, &c->rs[i], 0);
	if (scaled)
		return 0;
	for (size_t i = 0; i < c->n_rs; i++) /* oldPodsRunning */
		if ((ssize_t)i != c->new_rs)
			old_pods += rs_status(&c->rs[i], "status.replicas");
	if (old_pods > 0)
		return 0;
	if (!new_rs(c)) {
		r = sync_revision(c, true);
		if (r != NEW_RS_OK) {
			*status_only = r == NEW_RS_COLLISION;
			return r < 0 ? r : 0;
		}
	}
	scale_rs_event(c, new_rs(c), d_replicas(c->d));
	return complete(c, c->status0) ? cleanup(c) : 0;
}

/* rolling.go */
static int rollout_rolling(struct dep_ctx *c, bool *status_only)
{
	int r = sync_revision(c, true);

	if (r != NEW_RS_OK) {
		*status_only = r == NEW_RS_COLLISION;
		return r < 0 ? r : 0;
	}
	if (reconcile_new_rs(c) || reconcile_old_rss(c))
		return 0;
	return complete(c, c->status0) ? cleanup(c) : 0;
}

/* ---- status (sync.go: calculateStatus, progress.go) ---- */

/* calculateStatus: counts from the ReplicaSets as read (upstream keeps
 * using the objects it read), the Available condition. */
static void calculate_status(struct dep_ctx *c)
{
	json_t *st = d_status(c);
	long long total = 0, actual = 0, updated = 0, ready = 0, avail = 0, unavail;

	for (size_t i = 0; i < c->n_rs; i++) {
		struct dep_rs *r = &c->rs[i];

		total += r->replicas0;
		actual += rs_status(r, "status.replicas");
		ready += rs_status(r, "status.readyReplicas");
		avail += rs_status(r, "status.availableReplicas");
		if ((ssize_t)i == c->new_rs)
			updated = rs_status(r, "status.replicas");
	}
	unavail = total - avail > 0 ? total - avail : 0;
	json_object_set_new(st, "observedGeneration",
			    json_integer(ctrl_int(c->d, "metadata.generation", 0)));
	json_object_set_new(st, "replicas", json_integer(actual));
	json_object_set_new(st, "updatedReplicas", json_integer(updated));
	json_object_set_new(st, "readyReplicas", json_integer(ready));
	json_object_set_new(st, "availableReplicas", json_integer(avail));
	json_object_set_new(st, "unavailableReplicas", json_integer(unavail));
	if (avail >= d_replicas(c->d) - max_unavailable(c->d))
		set_condition(c, st, "Available", "True", "MinimumReplicasAvailable",
			      "Deployment has minimum availability.");
	else
		set_condition(c, st, "Available", "False", "MinimumReplicasUnavailable",
			      "Deployment does not have minimum availability.");
}

/* DeploymentProgressing: more updated, fewer old, more ready or available
 * pods than the status as read says. */
static bool progressing(struct dep_ctx *c, json_t *st)
{
	json_t *o = c->status0;

	return ctrl_int(st, "updatedReplicas", 0) > ctrl_int(o, "updatedReplicas", 0) ||
	       ctrl_int(st, "replicas", 0) - ctrl_int(st, "updatedReplicas", 0) <
		       ctrl_int(o, "replicas", 0) - ctrl_int(o, "updatedReplicas", 0) ||
	       ctrl_int(st, "readyReplicas", 0) > ctrl_int(o, "readyReplicas", 0) ||
	       ctrl_int(st, "availableReplicas", 0) > ctrl_int(o, "availableReplicas", 0);
}

/* DeploymentTimedOut */
static bool timed_out(struct dep_ctx *c, json_t *st)
{
	json_t *cd = ctrl_status_condition(st, "Progressing");

	if (!progress_deadline(c->d) || !cd || streq(ctrl_str(cd, "reason"), "NewReplicaSetAvailable"))
		return false;
	if (streq(ctrl_str(cd, "reason"), "ProgressDeadlineExceeded"))
		return true;
	return ctrl_time_at(cd, "lastUpdateTime") + progress_deadline(c->d) < c->in->now;
}

static void progress_message(struct dep_ctx *c, char *buf, size_t len, const char *what)
{
	struct dep_rs *nr = new_rs(c);

	if (nr)
		snprintf(buf, len, "ReplicaSet \"%s\" %s.", rs_name(nr), what);
	else
		snprintf(buf, len, "Deployment \"%s\" %s.", c->name, what);
}

/* syncRolloutStatus: the Progressing condition, the ReplicaSets' failure. */
static void rollout_status(struct dep_ctx *c, struct dep_result *res)
{
	json_t *st = d_status(c), *cur = ctrl_status_condition(st, "Progressing");
	bool done = ctrl_int(st, "replicas", 0) == ctrl_int(st, "updatedReplicas", 0) && cur &&
		    streq(ctrl_str(cur, "reason"), "NewReplicaSetAvailable");
	char msg[400];

	if (!progress_deadline(c->d))
		ctrl_status_condition_remove(st, "Progressing");
	if (progress_deadline(c->d) && !done) {
		if (complete(c, st)) {
			progress_message(c, msg, sizeof(msg), "has successfully progressed");
			set_condition(c, st, "Progressing", "True", "NewReplicaSetAvailable", msg);
		} else if (progressing(c, st)) {
			json_t *keep = cur && streq(ctrl_str(cur, "status"), "True")
					       ? json_incref(json_object_get(cur, "lastTransitionTime"))
					       : NULL;

			progress_message(c, msg, sizeof(msg), "is progressing");
			ctrl_status_condition_remove(st, "Progressing");
			set_condition(c, st, "Progressing", "True", "ReplicaSetUpdated", msg);
			if (keep)
				json_object_set_new(ctrl_status_condition(st, "Progressing"), "lastTransitionTime", keep);
		} else if (timed_out(c, st)) {
			progress_message(c, msg, sizeof(msg), "has timed out progressing");
			set_condition(c, st, "Progressing", "False", "ProgressDeadlineExceeded", msg);
		}
	}
	/* getReplicaFailures: the new ReplicaSet's, else any one's */
	json_t *failure = NULL;

	for (ssize_t i = -1; i < (ssize_t)c->n_rs && !failure; i++) {
		struct dep_rs *r = i < 0 ? new_rs(c) : &c->rs[i];
		json_t *f = r ? ctrl_status_condition(json_object_get(r->cur, "status"), "ReplicaFailure") : NULL;

		if (f && streq(ctrl_str(f, "status"), "True"))
			failure = f;
	}
	if (failure)
		set_condition(c, st, "ReplicaFailure", "True", ctrl_str(failure, "reason") ?: "",
			      ctrl_str(failure, "message") ?: "");
	else
		ctrl_status_condition_remove(st, "ReplicaFailure");
	/* requeueStuckDeployment: look again when the deadline passes */
	cur = ctrl_status_condition(st, "Progressing");
	if (cur && progress_deadline(c->d) && !complete(c, st) &&
	    !streq(ctrl_str(cur, "reason"), "ProgressDeadlineExceeded")) {
		long long left = ctrl_time_at(cur, "lastUpdateTime") +
				 progress_deadline(c->d) - c->in->now;

		res->requeue_after = left >= 1 ? left : 1;
	}
}

/* checkPausedConditions */
static void paused_conditions(struct dep_ctx *c)
{
	json_t *st = d_status(c), *cur = ctrl_status_condition(st, "Progressing");
	bool paused = json_is_true(ctrl_get(c->d, "spec.paused"));
	bool marked = cur && streq(ctrl_str(cur, "reason"), "DeploymentPaused");

	if (!progress_deadline(c->d) ||
	    (cur && streq(ctrl_str(cur, "reason"), "ProgressDeadlineExceeded")))
		return;
	if (paused && !marked)
		set_condition(c, st, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused");
	else if (!paused && marked)
		set_condition(c, st, "Progressing", "Unknown", "DeploymentResumed",
			      "Deployment is resumed");
}

/* ---- the sync ---- */

/* Each changed ReplicaSet written once, its Events after it; then the
 * Deployment's revision annotation and status. */
static int emit(struct dep_ctx *c)
{
	int r = 0;

	for (size_t i = 0; i < c->n_rs && r == 0; i++) {
		struct dep_rs *x = &c->rs[i];
		json_t *m;
		size_t j;

		if (x->created)
			r = ctrl_plan_add(c->p, CTRL_CREATE, RS_RESOURCE, c->ns, rs_name(x),
					  json_incref(x->cur));
		else if (!json_equal(x->cur, x->orig))
			r = ctrl_plan_add(c->p, CTRL_UPDATE, RS_RESOURCE, c->ns, rs_name(x),
					  json_incref(x->cur));
		json_array_foreach(x->events, j, m)
			if (r == 0)
				r = ctrl_plan_event(c->p, DEP_RESOURCE, c->ns, c->name, "Normal",
						    "ScalingReplicaSet", "%s", json_string_value(m));
	}
	if (r == 0 && c->revision)
		r = ctrl_plan_add(c->p, CTRL_PATCH, DEP_RESOURCE, c->ns, c->name,
				  json_pack("{s:{s:{s:O}}}", "metadata", "annotations", ANN_REVISION,
					    c->revision));
	if (r == 0 && !json_equal(d_status(c), c->status0 ?: json_null()) &&
	    (c->status0 || json_object_size(d_status(c))))
		r = ctrl_plan_add(c->p, CTRL_UPDATE_STATUS, DEP_RESOURCE, c->ns, c->name,
				  json_incref(c->d));
	return r;
}

/* syncDeployment after the ReplicaSets are claimed. */
static int sync_deployment(struct dep_ctx *c, struct dep_result *res)
{
	bool status_only = false, rollout = true;
	int r;

	if (ctrl_get(c->d, "metadata.deletionTimestamp")) {
		r = sync_revision(c, false);
		calculate_status(c);
		return r < 0 ? r : 0;
	}
	paused_conditions(c);
	r = sync_revision(c, false);
	if (r < 0)
		return r;
	if (json_is_true(ctrl_get(c->d, "spec.paused")) || scaling_event(c)) {
		/* sync: proportional scaling, no rollout progress */
		scale(c);
		if (json_is_true(ctrl_get(c->d, "spec.paused")))
			r = cleanup(c);
		rollout = false;
	} else if (d_rolling(c->d)) {
		r = rollout_rolling(c, &status_only);
	} else {
		r = rollout_recreate(c, &status_only);
	}
	if (r < 0)
		return r;
	if (status_only) /* hash collision: only collisionCount is written */
		return 0;
	calculate_status(c);
	if (rollout)
		rollout_status(c, res);
	return 0;
}

int dep_compute(const struct dep_input *in, struct ctrl_plan *p, struct dep_result *res)
{
	struct dep_ctx c = { .in = in, .p = p, .new_rs = -1 };
	json_t *sel = ctrl_get(in->dep, "spec.selector");
	int r;

	*res = (struct dep_result){ 0 };
	c.ns = ctrl_str(in->dep, "metadata.namespace") ?: "default";
	c.name = ctrl_str(in->dep, "metadata.name");
	if (!c.name)
		return -EINVAL;
	c.d = json_deep_copy(in->dep);
	c.status0 = ctrl_get(in->dep, "status");
	if (!c.d)
		return -ENOMEM;
	if (!json_object_size(json_object_get(sel, "matchLabels")) &&
	    !json_array_size(json_object_get(sel, "matchExpressions"))) {
		r = ctrl_plan_event(p, DEP_RESOURCE, c.ns, c.name, "Warning", "SelectingAll",
				    "This deployment is selecting all pods. A non-empty selector is required.");
		if (r == 0 && ctrl_int(c.status0, "observedGeneration", 0) <
				      ctrl_int(in->dep, "metadata.generation", 0)) {
			json_object_set_new(d_status(&c), "observedGeneration",
					    json_integer(ctrl_int(in->dep, "metadata.generation", 0)));
			r = emit(&c);
		}
		goto out;
	}
	r = kube_selector_from_json(sel, &c.sel);
	if (r == 0)
		r = claim_rss(&c);
	if (r == 0)
		r = sync_deployment(&c, res);
	if (r == 0)
		r = emit(&c);
out:
	for (size_t i = 0; i < c.n_rs; i++) {
		json_decref(c.rs[i].cur);
		json_decref(c.rs[i].events);
	}
	free(c.rs);
	kube_selector_free(c.sel);
	json_decref(c.revision);
	json_decref(c.d);
	return r;
}
