/* The Job controller's compute step: see ctrl_job.h. The order of the
 * steps follows upstream's syncJob: count, decide failure, manage pods
 * (or suspend), decide completion, write status. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_job.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

struct job_ctx {
	const struct job_input *in;
	struct ctrl_plan *p;
	struct job_result *res;
	json_t *job;
	const char *ns, *name;
	bool indexed, suspended;
	long long completions; /* -1: unset */
	long long parallelism;
	json_t **active; /* pods still running (owned array, borrowed pods) */
	size_t n_active;
	long long n_new; /* pods created by this sync */
	long long n_deleted; /* active pods deleted by manage() */
	unsigned char *done; /* Indexed: the succeeded indexes */
	long long succeeded, failed, ready;
	time_t start;
	json_t *status; /* the status to write (owned) */
};

static void requeue(struct job_ctx *c, long long after)
{
	if (after < 1)
		after = 1;
	if (c->res->requeue_after == 0 || after < c->res->requeue_after)
		c->res->requeue_after = after;
}

/* ---- completedIndexes ---- */

int job_indexes_parse(const char *s, unsigned char *done, long long n)
{
	while (s && *s) {
		char *end;
		long long first = strtoll(s, &end, 10), last = first;

		if (end == s || first < 0)
			return -EINVAL;
		if (*end == '-') {
			s = end + 1;
			last = strtoll(s, &end, 10);
			if (end == s || last < first)
				return -EINVAL;
		}
		if (*end && *end != ',')
			return -EINVAL;
		for (long long i = first; i <= last && i < n; i++)
			done[i] = 1;
		s = *end ? end + 1 : end;
	}
	return 0;
}

char *job_indexes_format(const unsigned char *done, long long n)
{
	char *buf = NULL, num[48];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (long long i = 0; i < n; i++) {
		long long last = i;

		if (!done[i])
			continue;
		while (last + 1 < n && done[last + 1])
			last++;
		if (last == i)
			snprintf(num, sizeof(num), "%lld", i);
		else
			snprintf(num, sizeof(num), "%lld%c%lld", i, last == i + 1 ? ',' : '-', last);
		fprintf(f, "%s%s", ftell(f) ? "," : "", num);
		i = last;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The pod's completion index, -1 when absent or out of range. */
static long long pod_index(json_t *pod, long long completions)
{
	const char *s;
	char *end;
	long long i;

	s = json_string_value(json_object_get(ctrl_get(pod, "metadata.annotations"), JOB_INDEX_KEY));
	if (!s)
		s = json_string_value(json_object_get(ctrl_get(pod, "metadata.labels"), JOB_INDEX_KEY));
	if (!s || !*s)
		return -1;
	i = strtoll(s, &end, 10);
	return *end || i < 0 || i >= completions ? -1 : i;
}

/* ---- time a pod finished, for the failure backoff ---- */

static time_t pod_finish_time(json_t *pod)
{
	json_t *st;
	time_t best = 0, t;
	size_t i;

	json_array_foreach(ctrl_get(pod, "status.containerStatuses"), i, st)
		if (ctrl_time_parse(ctrl_str(st, "state.terminated.finishedAt"), &t) == 0 && t > best)
			best = t;
	if (best)
		return best;
	if (ctrl_time_parse(ctrl_str(ctrl_condition(pod, "Ready"), "lastTransitionTime"), &t) == 0)
		return t;
	if (ctrl_time_parse(ctrl_str(pod, "metadata.deletionTimestamp"), &t) == 0)
		return t;
	return ctrl_time_parse(ctrl_str(pod, "metadata.creationTimestamp"), &t) == 0 ? t : 0;
}

/* Seconds still to wait before new pods: 10 s doubling per failure since
 * the last success, at most 6 min, counted from the last failure
 * (upstream backoffRecord + RemainingTimeForBackoff). */
static long long backoff_remaining(struct job_ctx *c)
{
	time_t last_success = 0, last_failure = 0;
	long long failures = 0, delay = JOB_BACKOFF_BASE;

	for (size_t i = 0; i < c->in->n_pods; i++) {
		json_t *pod = c->in->pods[i];
		const char *phase = ctrl_str(pod, "status.phase");

		if (ctrl_controlled_by(pod, c->job) && streq(phase, "Succeeded") &&
		    pod_finish_time(pod) > last_success)
			last_success = pod_finish_time(pod);
	}
	for (size_t i = 0; i < c->in->n_pods; i++) {
		json_t *pod = c->in->pods[i];
		time_t t = pod_finish_time(pod);

		if (!ctrl_controlled_by(pod, c->job) || !streq(ctrl_str(pod, "status.phase"), "Failed") ||
		    t < last_success)
			continue;
		failures++;
		if (t > last_failure)
			last_failure = t;
	}
	if (failures == 0)
		return 0;
	for (long long i = 1; i < failures && delay < JOB_BACKOFF_MAX; i++)
		delay *= 2;
	if (delay > JOB_BACKOFF_MAX)
		delay = JOB_BACKOFF_MAX;
	return delay - (long long)(c->in->now - last_failure);
}

/* ---- counting ---- */

static int count_pods(struct job_ctx *c)
{
	long long n_succeeded = 0, n_failed = 0;

	c->active = calloc(c->in->n_pods + 1, sizeof(*c->active));
	if (!c->active)
		return -ENOMEM;
	for (size_t i = 0; i < c->in->n_pods; i++) {
		json_t *pod = c->in->pods[i];
		const char *phase = ctrl_str(pod, "status.phase");

		if (!ctrl_controlled_by(pod, c->job))
			continue;
		if (streq(phase, "Succeeded")) {
			long long idx = c->indexed ? pod_index(pod, c->completions) : -1;

			n_succeeded++;
			if (idx >= 0)
				c->done[idx] = 1;
		} else if (streq(phase, "Failed")) {
			n_failed++;
		} else if (ctrl_pod_active(pod)) {
			c->active[c->n_active++] = pod;
			c->ready += ctrl_pod_ready(pod, NULL);
		}
	}
	if (c->indexed) {
		n_succeeded = 0;
		for (long long i = 0; i < c->completions; i++)
			n_succeeded += c->done[i];
	}
	c->succeeded = ctrl_int(c->job, "status.succeeded", 0);
	if (n_succeeded > c->succeeded)
		c->succeeded = n_succeeded;
	c->failed = ctrl_int(c->job, "status.failed", 0);
	if (n_failed > c->failed)
		c->failed = n_failed;
	return 0;
}

/* upstream pastBackoffLimitOnFailure: container restarts of running and
 * pending pods count as failures when the kubelet restarts in place. */
static bool past_backoff_on_failure(struct job_ctx *c, long long limit)
{
	static const char *const lists[] = { "status.initContainerStatuses",
					     "status.containerStatuses" };
	long long restarts = 0;
	json_t *st;
	size_t j;

	if (!streq(ctrl_str(c->job, "spec.template.spec.restartPolicy"), "OnFailure"))
		return false;
	for (size_t i = 0; i < c->n_active; i++) {
		const char *phase = ctrl_str(c->active[i], "status.phase");

		if (!streq(phase, "Running") && !streq(phase, "Pending"))
			continue;
		for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
			json_array_foreach(ctrl_get(c->active[i], lists[l]), j, st)
				restarts += ctrl_int(st, "restartCount", 0);
	}
	return limit == 0 ? restarts > 0 : restarts >= limit;
}

/* ---- conditions and events ---- */

static int set_condition(struct job_ctx *c, const char *type, const char *status,
			 const char *reason, const char *message)
{
	json_t *conds = json_object_get(c->status, "conditions"), *cond = NULL, *x;
	char now[32];
	size_t i;
	int r;

	ctrl_time_format(c->in->now, now);
	if (!json_is_array(conds)) {
		conds = json_array();
		if (!conds || json_object_set_new(c->status, "conditions", conds) < 0)
			return -ENOMEM;
	}
	json_array_foreach(conds, i, x)
		if (streq(ctrl_str(x, "type"), type))
			cond = x;
	if (cond && streq(ctrl_str(cond, "status"), status))
		return 0;
	x = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status,
		      "lastProbeTime", now, "lastTransitionTime", now, "reason", reason,
		      "message", message);
	if (!x)
		return -ENOMEM;
	if (!cond)
		return json_array_append_new(conds, x) < 0 ? -ENOMEM : 0;
	r = json_object_update(cond, x);
	json_decref(x);
	return r < 0 ? -ENOMEM : 0;
}

static int event(struct job_ctx *c, const char *type, const char *reason, const char *msg)
{
	return ctrl_plan_event(c->p, JOB_RESOURCE, c->ns, c->name, type, reason, "%s", msg);
}

/* ---- pods ---- */

static int phase_rank(json_t *pod)
{
	const char *phase = ctrl_str(pod, "status.phase");

	return streq(phase, "Running") ? 2 : streq(phase, "Pending") || !phase ? 0 : 1;
}

static long long restarts(json_t *pod)
{
	long long n = 0;
	json_t *st;
	size_t i;

	json_array_foreach(ctrl_get(pod, "status.containerStatuses"), i, st)
		n += ctrl_int(st, "restartCount", 0);
	return n;
}

/* upstream controller.ActivePods: the pods to delete first sort first
 * (unscheduled, pending before running, not ready, most restarts, newest). */
static int removal_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	bool sx = ctrl_str(x, "spec.nodeName") != NULL, sy = ctrl_str(y, "spec.nodeName") != NULL;
	const char *cx, *cy;
	int r;

	if (sx != sy)
		return sx - sy;
	if (phase_rank(x) != phase_rank(y))
		return phase_rank(x) - phase_rank(y);
	if (ctrl_pod_ready(x, NULL) != ctrl_pod_ready(y, NULL))
		return ctrl_pod_ready(x, NULL) - ctrl_pod_ready(y, NULL);
	if (restarts(x) != restarts(y))
		return restarts(x) > restarts(y) ? -1 : 1;
	cx = ctrl_str(x, "metadata.creationTimestamp") ?: "";
	cy = ctrl_str(y, "metadata.creationTimestamp") ?: "";
	r = strcmp(cy, cx);
	return r ? r : strcmp(ctrl_str(x, "metadata.name") ?: "", ctrl_str(y, "metadata.name") ?: "");
}

/* Deletes the active pods marked in del[] and drops them from the list. */
static int delete_marked(struct job_ctx *c, const bool *del)
{
	size_t kept = 0;
	int r = 0;

	for (size_t i = 0; i < c->n_active; i++) {
		if (del[i] && r == 0) {
			r = ctrl_pod_delete(c->p, JOB_RESOURCE, c->job, c->active[i]);
			c->n_deleted += r == 0;
		} else if (!del[i])
			c->active[kept++] = c->active[i];
	}
	c->n_active = kept;
	return r;
}

static int delete_all_active(struct job_ctx *c)
{
	int r = 0;

	for (size_t i = 0; i < c->n_active && r == 0; i++)
		r = ctrl_pod_delete(c->p, JOB_RESOURCE, c->job, c->active[i]);
	c->n_active = 0;
	return r;
}

static int set_str(json_t *obj, const char *key, const char *val)
{
	return json_object_set_new(obj, key, json_string(val)) < 0 ? -ENOMEM : 0;
}

static json_t *child(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_object(v)) {
		v = json_object();
		if (json_object_set_new(obj, key, v) < 0)
			return NULL;
	}
	return v;
}

/* upstream addCompletionIndexEnvVariables: every container and init
 * container reads its index through the downward API. */
static int add_index_env(json_t *spec)
{
	static const char *const lists[] = { "initContainers", "containers" };
	char path[128];
	json_t *ctr, *env, *e;
	size_t i, j;

	snprintf(path, sizeof(path), "metadata.labels['%s']", JOB_INDEX_KEY);
	for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
		json_array_foreach(json_object_get(spec, lists[l]), i, ctr) {
			bool has = false;

			env = json_object_get(ctr, "env");
			json_array_foreach(env, j, e)
				has = has || streq(ctrl_str(e, "name"), JOB_INDEX_ENV);
			if (has)
				continue;
			if (!json_is_array(env) &&
			    json_object_set_new(ctr, "env", (env = json_array())) < 0)
				return -ENOMEM;
			if (json_array_append_new(env, json_pack("{s:s, s:{s:{s:s}}}", "name",
								 JOB_INDEX_ENV, "valueFrom",
								 "fieldRef", "fieldPath", path)) < 0)
				return -ENOMEM;
		}
	return 0;
}

static int index_pod(struct job_ctx *c, json_t *pod, long long idx)
{
	json_t *md = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
	json_t *ann = child(md, "annotations"), *labels = child(md, "labels");
	char num[24], buf[300];
	int r;

	if (!ann || !labels || !spec)
		return -ENOMEM;
	snprintf(num, sizeof(num), "%lld", idx);
	snprintf(buf, sizeof(buf), "%s-%lld-", c->name, idx);
	r = set_str(ann, JOB_INDEX_KEY, num);
	if (r == 0)
		r = set_str(labels, JOB_INDEX_KEY, num);
	if (r == 0)
		r = set_str(md, "generateName", buf);
	if (r == 0 && !*(ctrl_str(spec, "hostname") ?: "")) {
		snprintf(buf, sizeof(buf), "%s-%lld", c->name, idx);
		r = set_str(spec, "hostname", buf);
	}
	return r == 0 ? add_index_env(spec) : r;
}

static int create_pod(struct job_ctx *c, long long idx)
{
	json_t *pod = ctrl_pod_from_template(ctrl_get(c->job, "spec.template"), c->job, NULL);
	json_t *labels = pod ? child(json_object_get(pod, "metadata"), "labels") : NULL;
	const char *uid = ctrl_str(c->job, "metadata.uid") ?: "";
	int r = labels ? 0 : -ENOMEM;

	if (r == 0)
		r = set_str(labels, JOB_LABEL_UID, uid);
	if (r == 0)
		r = set_str(labels, JOB_LABEL_NAME, c->name);
	if (r == 0)
		r = set_str(labels, JOB_LABEL_LEGACY_UID, uid);
	if (r == 0)
		r = set_str(labels, JOB_LABEL_LEGACY_NAME, c->name);
	if (r == 0 && idx >= 0)
		r = index_pod(c, pod, idx);
	if (r < 0) {
		json_decref(pod);
		return r;
	}
	return ctrl_pod_create(c->p, JOB_RESOURCE, c->job, pod);
}

/* Indexed: active pods without a valid index, of an index already
 * succeeded, or a second pod of one index go first (upstream
 * activePodsForRemoval's duplicates and out-of-range pods). */
static int drop_bad_indexes(struct job_ctx *c, unsigned char *running)
{
	_cleanup_free_ bool *del = calloc(c->n_active + 1, sizeof(*del));

	if (!del)
		return -ENOMEM;
	qsort(c->active, c->n_active, sizeof(*c->active), removal_cmp);
	for (size_t i = c->n_active; i-- > 0;) { /* the best pod of an index is kept */
		long long idx = pod_index(c->active[i], c->completions);

		if (idx < 0 || c->done[idx] || running[idx])
			del[i] = true;
		else
			running[idx] = 1;
	}
	return delete_marked(c, del);
}

static long long want_active(struct job_ctx *c)
{
	long long want;

	if (c->completions < 0)
		return c->succeeded > 0 ? (long long)c->n_active : c->parallelism;
	want = c->completions - c->succeeded;
	if (want > c->parallelism)
		want = c->parallelism;
	return want < 0 ? 0 : want;
}

static int create_missing(struct job_ctx *c, long long want, const unsigned char *running)
{
	long long diff = want - (long long)c->n_active, idx = 0, wait;
	int r = 0;

	if (diff <= 0)
		return 0;
	wait = backoff_remaining(c);
	if (wait > 0) {
		requeue(c, wait);
		return 0;
	}
	if (diff > JOB_MAX_CREATES)
		diff = JOB_MAX_CREATES;
	for (long long i = 0; i < diff && r == 0; i++) {
		if (c->indexed) {
			while (idx < c->completions && (c->done[idx] || running[idx]))
				idx++;
			if (idx >= c->completions)
				break;
			r = create_pod(c, idx++);
		} else {
			r = create_pod(c, -1);
		}
		c->n_new += r == 0;
	}
	return r;
}

/* upstream manageJob: delete what is over the wanted number of active pods,
 * create what is missing (after the failure backoff). */
static int manage_pods(struct job_ctx *c)
{
	_cleanup_free_ unsigned char *running = calloc((size_t)(c->indexed ? c->completions : 0) + 1, 1);
	_cleanup_free_ bool *del = calloc(c->n_active + 1, sizeof(*del));
	long long want, rm;
	int r = 0;

	if (!running || !del)
		return -ENOMEM;
	if (c->indexed)
		r = drop_bad_indexes(c, running);
	if (r < 0)
		return r;
	want = want_active(c);
	rm = (long long)c->n_active - want;
	if (rm > 0) {
		qsort(c->active, c->n_active, sizeof(*c->active), removal_cmp);
		for (long long i = 0; i < rm; i++) {
			del[i] = true;
			if (c->indexed)
				running[pod_index(c->active[i], c->completions)] = 0;
		}
		return delete_marked(c, del);
	}
	return create_missing(c, want, running);
}

/* manage_pods once the pods show what earlier syncs created and deleted
 * (upstream's satisfiedExpectations); the expectations then wait for what
 * this sync plans. */
static int manage(struct job_ctx *c)
{
	struct ctrl_expectations *exp = c->in->exp;
	int r;

	if (!ctrl_expectations_satisfied(exp, c->in->now))
		return 0;
	r = manage_pods(c);
	c->res->to_create = c->n_new;
	c->res->to_delete = c->n_deleted;
	if (r == 0 && exp && (c->n_new || c->n_deleted))
		ctrl_expectations_expect(exp, c->n_new, c->n_deleted, c->in->now);
	return r;
}

/* ---- finished Jobs: ttlSecondsAfterFinished ---- */

static bool finished(json_t *job, time_t *when)
{
	static const char *const types[] = { "Complete", "Failed" };

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		json_t *cond = ctrl_condition(job, types[i]);

		if (!streq(ctrl_str(cond, "status"), "True"))
			continue;
		if (ctrl_time_parse(ctrl_str(job, "status.completionTime"), when) < 0 &&
		    ctrl_time_parse(ctrl_str(cond, "lastTransitionTime"), when) < 0)
			*when = 0;
		return true;
	}
	return false;
}

/* upstream's ttl-after-finished controller: once finish + ttl has passed,
 * delete the Job (its pods follow through background propagation), with
 * the Job's uid as precondition. */
static int ttl_step(struct job_ctx *c, time_t finish)
{
	long long ttl = ctrl_int(c->job, "spec.ttlSecondsAfterFinished", -1);
	long long left = (long long)(finish + ttl - c->in->now);

	if (ttl < 0 || finish == 0) /* upstream: no finish time, no expiry */
		return 0;
	if (left > 0) {
		requeue(c, left);
		return 0;
	}
	return ctrl_plan_add(c->p, CTRL_DELETE, JOB_RESOURCE, c->ns, c->name,
			     ctrl_delete_options("Background", ctrl_str(c->job, "metadata.uid") ?: "", -1));
}

/* ---- one sync ---- */

static int start_or_resume(struct job_ctx *c)
{
	json_t *susp = ctrl_condition(c->job, "Suspended");
	char now[32];
	int r = 0;

	ctrl_time_format(c->in->now, now);
	if (c->suspended)
		return 0;
	if (streq(ctrl_str(susp, "status"), "True")) {
		/* upstream resets startTime so activeDeadlineSeconds restarts */
		r = set_condition(c, "Suspended", "False", "JobResumed", "Job resumed");
		if (r == 0)
			r = event(c, "Normal", "Resumed", "Job resumed");
		if (r == 0)
			r = set_str(c->status, "startTime", now);
	} else if (!ctrl_str(c->status, "startTime")) {
		r = set_str(c->status, "startTime", now);
	}
	if (r == 0 && ctrl_time_parse(ctrl_str(c->status, "startTime"), &c->start) < 0)
		c->start = 0;
	return r;
}

/* The reason the Job fails now (NULL: it does not), and its message. */
static const char *failure(struct job_ctx *c, const char **msg)
{
	long long limit = ctrl_int(c->job, "spec.backoffLimit", 6);
	long long deadline = ctrl_int(c->job, "spec.activeDeadlineSeconds", -1);

	if (c->failed > limit || past_backoff_on_failure(c, limit)) {
		*msg = "Job has reached the specified backoff limit";
		return "BackoffLimitExceeded";
	}
	if (deadline >= 0 && c->start && !c->suspended) {
		if (c->in->now - c->start >= deadline) {
			*msg = "Job was active longer than specified deadline";
			return "DeadlineExceeded";
		}
		requeue(c, deadline - (long long)(c->in->now - c->start));
	}
	return NULL;
}

static int fail(struct job_ctx *c, const char *reason, const char *msg)
{
	/* upstream counts the active pods it deletes as failed */
	long long n = (long long)c->n_active;
	int r = delete_all_active(c);

	c->failed += n;
	if (r == 0)
		r = set_condition(c, "Failed", "True", reason, msg);
	return r == 0 ? event(c, "Warning", reason, msg) : r;
}

static int suspend(struct job_ctx *c)
{
	int r = delete_all_active(c);

	if (r == 0 && !streq(ctrl_str(ctrl_condition(c->job, "Suspended"), "status"), "True")) {
		r = set_condition(c, "Suspended", "True", "JobSuspended", "Job suspended");
		if (r == 0)
			r = event(c, "Normal", "Suspended", "Job suspended");
	}
	return r;
}

static int complete_if_done(struct job_ctx *c)
{
	long long active = (long long)c->n_active + c->n_new;
	bool complete = c->completions < 0 ? c->succeeded > 0 && active == 0
					   : c->succeeded >= c->completions && active == 0;
	long long ttl = ctrl_int(c->job, "spec.ttlSecondsAfterFinished", -1);
	char now[32];
	int r;

	if (!complete)
		return 0;
	ctrl_time_format(c->in->now, now);
	r = set_condition(c, "Complete", "True", "CompletionsReached",
			  "Reached expected number of succeeded pods");
	if (r == 0)
		r = set_str(c->status, "completionTime", now);
	if (r == 0 && ttl >= 0)
		requeue(c, ttl);
	return r == 0 ? event(c, "Normal", "Completed", "Job completed") : r;
}

static int write_status(struct job_ctx *c)
{
	json_t *st = c->status;
	int r = 0;

	if (json_object_set_new(st, "active", json_integer((long long)c->n_active + c->n_new)) < 0 ||
	    json_object_set_new(st, "succeeded", json_integer(c->succeeded)) < 0 ||
	    json_object_set_new(st, "failed", json_integer(c->failed)) < 0 ||
	    json_object_set_new(st, "ready", json_integer(c->ready)) < 0)
		return -ENOMEM;
	if (c->indexed) {
		_cleanup_free_ char *s = job_indexes_format(c->done, c->completions);

		if (!s)
			return -ENOMEM;
		r = set_str(st, "completedIndexes", s);
	}
	return r < 0 ? r : ctrl_status_update(c->p, JOB_RESOURCE, c->job, json_incref(st));
}

static int sync_job(struct job_ctx *c)
{
	const char *reason, *msg = NULL;
	int r;

	r = count_pods(c);
	if (r == 0)
		r = start_or_resume(c);
	if (r < 0)
		return r;
	reason = failure(c, &msg);
	if (reason)
		r = fail(c, reason, msg);
	else if (c->suspended)
		r = suspend(c);
	else {
		r = manage(c);
		if (r == 0)
			r = complete_if_done(c);
	}
	return r == 0 ? write_status(c) : r;
}

static int ctx_init(struct job_ctx *c)
{
	json_t *job = c->job;
	const char *mode = ctrl_str(job, "spec.completionMode");

	c->ns = ctrl_str(job, "metadata.namespace") ?: "";
	c->name = ctrl_str(job, "metadata.name") ?: "";
	c->suspended = json_is_true(ctrl_get(job, "spec.suspend"));
	c->completions = ctrl_int(job, "spec.completions", -1);
	c->parallelism = ctrl_int(job, "spec.parallelism", 1);
	if (mode && !streq(mode, "NonIndexed") && !streq(mode, "Indexed"))
		return -EINVAL;
	c->indexed = streq(mode, "Indexed");
	/* upstream's API caps Indexed Jobs at 100,000 completions */
	if (c->indexed && (c->completions < 0 || c->completions > 100000))
		return -EINVAL;
	c->done = calloc((size_t)(c->indexed ? c->completions : 0) + 1, 1);
	c->status = json_deep_copy(json_object_get(job, "status"));
	if (!json_is_object(c->status)) {
		json_decref(c->status);
		c->status = json_object();
	}
	if (!c->done || !c->status)
		return -ENOMEM;
	return c->indexed ? job_indexes_parse(ctrl_str(job, "status.completedIndexes"), c->done,
					      c->completions)
			  : 0;
}

int job_compute(const struct job_input *in, struct ctrl_plan *p, struct job_result *res)
{
	struct job_ctx c = { .in = in, .p = p, .res = res, .job = in->job };
	time_t finish;
	int r;

	res->requeue_after = res->to_create = res->to_delete = 0;
	if (ctrl_get(in->job, "metadata.deletionTimestamp"))
		return 0;
	r = ctx_init(&c);
	if (r == 0)
		r = finished(in->job, &finish) ? ttl_step(&c, finish) : sync_job(&c);
	free(c.active);
	free(c.done);
	json_decref(c.status);
	return r;
}
