/* The CronJob controller's compute step: see ctrl_cronjob.h. The order
 * follows upstream's sync: reconcile the active list with the Jobs, then
 * syncCronJob's checks (time zone, suspend, schedule, deadline, already
 * started, concurrency), create, clean up finished Jobs, write status. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_cronjob.h"
#include "control/ctrl_cronjob_sched.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

struct cj_ctx {
	const struct cj_input *in;
	struct ctrl_plan *p;
	struct cj_result *res;
	json_t *cj;
	const char *ns, *name;
	json_t *status; /* the status to write (owned) */
	json_t *active; /* status.active in it (borrowed) */
	struct cron_zone *zone;
	struct cron_schedule sched;
};

static int event(struct cj_ctx *c, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int event(struct cj_ctx *c, const char *type, const char *reason, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return ctrl_plan_event(c->p, CJ_RESOURCE, c->ns, c->name, type, reason, "%s", msg);
}

/* "Complete" or "Failed" for a finished Job, else NULL. */
static const char *finished(json_t *job)
{
	if (streq(ctrl_str(ctrl_condition(job, "Complete"), "status"), "True"))
		return "Complete";
	if (streq(ctrl_str(ctrl_condition(job, "Failed"), "status"), "True"))
		return "Failed";
	return NULL;
}

/* ---- the active list ---- */

/* The index of the active entry for job (by uid; an entry this controller
 * added before it knew the uid matches by name), or -1. */
static long active_index(struct cj_ctx *c, json_t *job)
{
	const char *uid = ctrl_str(job, "metadata.uid"), *name = ctrl_str(job, "metadata.name");
	json_t *ref;
	size_t i;

	json_array_foreach(c->active, i, ref) {
		const char *ruid = ctrl_str(ref, "uid");

		if ((ruid && *ruid && streq(ruid, uid)) ||
		    ((!ruid || !*ruid) && streq(ctrl_str(ref, "name"), name)))
			return (long)i;
	}
	return -1;
}

static json_t *job_ref(struct cj_ctx *c, const char *name, const char *uid)
{
	json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "batch/v1", "kind", "Job",
				"namespace", c->ns, "name", name);

	if (ref && uid && json_object_set_new(ref, "uid", json_string(uid)) < 0) {
		json_decref(ref);
		return NULL;
	}
	return ref;
}

static int later_success(struct cj_ctx *c, json_t *job)
{
	const char *done = ctrl_str(job, "status.completionTime");
	const char *last = ctrl_str(c->status, "lastSuccessfulTime");
	time_t a, b;

	if (ctrl_time_parse(done, &a) < 0)
		return 0;
	if (last && ctrl_time_parse(last, &b) == 0 && b >= a)
		return 0;
	return json_object_set_new(c->status, "lastSuccessfulTime", json_string(done)) < 0 ? -ENOMEM
											 : 0;
}

static bool job_listed(struct cj_ctx *c, json_t *ref)
{
	for (size_t i = 0; i < c->in->n_jobs; i++)
		if (ctrl_controlled_by(c->in->jobs[i], c->cj) &&
		    streq(ctrl_str(c->in->jobs[i], "metadata.uid"), ctrl_str(ref, "uid")))
			return true;
	return false;
}

/* upstream: unfinished Jobs not listed are UnexpectedJob, finished listed
 * ones leave the list (SawCompletedJob), finished successful ones move
 * lastSuccessfulTime, and listed Jobs that are gone leave it (MissingJob). */
static int reconcile_active(struct cj_ctx *c)
{
	json_t *ref;
	size_t i;
	int r = 0;

	for (size_t j = 0; j < c->in->n_jobs && r == 0; j++) {
		json_t *job = c->in->jobs[j];
		const char *name = ctrl_str(job, "metadata.name") ?: "", *done = finished(job);
		long at = active_index(c, job);

		if (!ctrl_controlled_by(job, c->cj))
			continue;
		if (at < 0 && !done)
			r = event(c, "Warning", "UnexpectedJob",
				  "Saw a job that the controller did not create or forgot: %s", name);
		else if (at >= 0 && done) {
			json_array_remove(c->active, (size_t)at);
			r = event(c, "Normal", "SawCompletedJob", "Saw completed job: %s, condition: %s",
				  name, done);
		} else if (at >= 0 && !ctrl_str(json_array_get(c->active, (size_t)at), "uid"))
			r = json_object_set_new(json_array_get(c->active, (size_t)at), "uid",
						json_string(ctrl_str(job, "metadata.uid") ?: "")) < 0
				    ? -ENOMEM
				    : 0;
		if (r == 0 && streq(done, "Complete"))
			r = later_success(c, job);
	}
	json_array_foreach(c->active, i, ref) {
		if (r < 0 || !*(ctrl_str(ref, "uid") ?: "") || job_listed(c, ref))
			continue;
		r = event(c, "Normal", "MissingJob", "Active job went missing: %s",
			  ctrl_str(ref, "name") ?: "");
		json_array_remove(c->active, i--);
	}
	return r;
}

/* ---- schedule times ---- */

struct recent {
	time_t earliest, time; /* time 0: no schedule time has come */
	long long missed;
};

/* upstream mostRecentScheduleTime: the latest schedule time at or before
 * now since lastScheduleTime (or creation, or the starting deadline), and
 * roughly how many were missed. -EINVAL when two schedule times are less
 * than a second apart (an impossible date such as Feb 31). */
static int most_recent(struct cj_ctx *c, bool with_deadline, struct recent *out)
{
	time_t now = c->in->now, t1, t2, t;
	long long sds = ctrl_int(c->cj, "spec.startingDeadlineSeconds", -1), interval;

	memset(out, 0, sizeof(*out));
	if (ctrl_time_parse(ctrl_str(c->cj, "status.lastScheduleTime"), &out->earliest) < 0 &&
	    ctrl_time_parse(ctrl_str(c->cj, "metadata.creationTimestamp"), &out->earliest) < 0)
		out->earliest = 0;
	if (with_deadline && sds >= 0 && now - sds > out->earliest)
		out->earliest = now - sds;
	t1 = cron_next(&c->sched, c->zone, out->earliest);
	if (!t1 || now < t1)
		return 0;
	t2 = cron_next(&c->sched, c->zone, t1);
	out->time = t1;
	out->missed = 1;
	if (!t2 || now < t2)
		return 0;
	interval = (long long)(t2 - t1);
	if (interval < 1)
		return -EINVAL;
	out->missed = (long long)(now - t1) / interval + 1;
	/* jump near now by whole intervals, then let the schedule walk */
	t = t1 + (time_t)((out->missed - 2) * interval);
	for (t = cron_next(&c->sched, c->zone, t); t && t <= now; t = cron_next(&c->sched, c->zone, t))
		out->time = t;
	if (out->time == t1) /* irregular schedule: walk from t1 */
		for (t = t1; t && t <= now; t = cron_next(&c->sched, c->zone, t))
			out->time = t;
	return 0;
}

/* upstream nextScheduleTimeDuration: from the most recent time (without
 * the starting deadline) to the next one. */
static void requeue_next(struct cj_ctx *c)
{
	struct recent rc;
	time_t from, next;

	if (most_recent(c, false, &rc) < 0)
		return;
	from = rc.time ? rc.time : rc.earliest;
	next = cron_next(&c->sched, c->zone, from);
	if (next)
		c->res->requeue_after = next > c->in->now ? (long long)(next - c->in->now) : 1;
}

/* ---- Jobs ---- */

static int scheduled_stamp(struct cj_ctx *c, time_t t, char buf[40])
{
	long off = cron_zone_offset(c->zone, t);
	time_t l = t + off;
	struct tm tm;
	size_t n;

	gmtime_r(&l, &tm);
	n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	if (off == 0)
		snprintf(buf + n, 40 - n, "Z");
	else
		snprintf(buf + n, 40 - n, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 3600,
			 labs(off) % 3600 / 60);
	return 0;
}

/* upstream getJobFromTemplate2 */
static json_t *job_from_template(struct cj_ctx *c, const char *name, time_t scheduled)
{
	json_t *tmpl = ctrl_get(c->cj, "spec.jobTemplate");
	json_t *labels = json_deep_copy(ctrl_get(tmpl, "metadata.labels"));
	json_t *ann = json_deep_copy(ctrl_get(tmpl, "metadata.annotations"));
	json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
	char stamp[40];

	if (!json_is_object(ann)) {
		json_decref(ann);
		ann = json_object();
	}
	scheduled_stamp(c, scheduled, stamp);
	if (!ann || json_object_set_new(ann, CJ_SCHEDULED_ANNOTATION, json_string(stamp)) < 0) {
		json_decref(labels);
		json_decref(ann);
		json_decref(spec);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:o*, s:o, s:[o]}, s:o}", "apiVersion", "batch/v1",
			 "kind", "Job", "metadata", "name", name, "namespace", c->ns, "labels",
			 labels, "annotations", ann, "ownerReferences", ctrl_new_controller_ref(c->cj, NULL, NULL),
			 "spec", spec ? spec : json_object());
}

static int delete_job(struct cj_ctx *c, json_t *job_or_ref, const char *name_path)
{
	const char *name = ctrl_str(job_or_ref, name_path) ?: "";
	int r = ctrl_plan_add(c->p, CTRL_DELETE, "jobs.batch", c->ns, name,
			      ctrl_delete_options("Background", NULL, -1));

	return r < 0 ? r : event(c, "Normal", "SuccessfulDelete", "Deleted job %s", name);
}

static json_t *job_named(struct cj_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->in->n_jobs; i++)
		if (streq(ctrl_str(c->in->jobs[i], "metadata.name"), name))
			return c->in->jobs[i];
	return NULL;
}

static int start_job(struct cj_ctx *c, time_t scheduled, const char *name)
{
	json_t *existing = job_named(c, name);
	char when[32];
	int r = 0;

	if (!existing) {
		r = ctrl_plan_add(c->p, CTRL_CREATE, "jobs.batch", c->ns, name,
				  job_from_template(c, name, scheduled));
		if (r == 0)
			r = event(c, "Normal", "SuccessfulCreate", "Created job %s", name);
	} else if (!ctrl_controlled_by(existing, c->cj) || active_index(c, existing) >= 0) {
		return 0; /* another actor's Job, or already listed */
	}
	ctrl_time_format(scheduled, when);
	if (r == 0 && json_array_append_new(c->active, job_ref(c, name,
							       ctrl_str(existing, "metadata.uid"))) < 0)
		r = -ENOMEM;
	if (r == 0 && json_object_set_new(c->status, "lastScheduleTime", json_string(when)) < 0)
		r = -ENOMEM;
	return r;
}

/* ---- syncCronJob: whether and what to start now ---- */

static int replace_active(struct cj_ctx *c)
{
	int r = 0;

	while (json_array_size(c->active) > 0 && r == 0) {
		r = delete_job(c, json_array_get(c->active, 0), "name");
		json_array_remove(c->active, 0);
	}
	return r;
}

static int may_start(struct cj_ctx *c, time_t scheduled, const char *name)
{
	long long sds = ctrl_int(c->cj, "spec.startingDeadlineSeconds", -1);
	const char *policy = ctrl_str(c->cj, "spec.concurrencyPolicy") ?: "Allow";
	time_t last;
	char when[64];
	struct tm tm;
	json_t *ref;
	size_t i;

	if (sds >= 0 && scheduled + sds < c->in->now) {
		gmtime_r(&scheduled, &tm);
		strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		return event(c, "Warning", "MissSchedule",
			     "Missed scheduled time to start a job: %s", when) < 0 ? -ENOMEM : 0;
	}
	json_array_foreach(c->active, i, ref)
		if (streq(ctrl_str(ref, "name"), name))
			return 0;
	if (ctrl_time_parse(ctrl_str(c->cj, "status.lastScheduleTime"), &last) == 0 &&
	    last == scheduled)
		return 0;
	if (streq(policy, "Forbid") && json_array_size(c->active) > 0)
		return event(c, "Normal", "JobAlreadyActive",
			     "Not starting job because prior execution is running and "
			     "concurrency policy is Forbid") < 0 ? -ENOMEM : 0;
	return 1;
}

static int schedule_step(struct cj_ctx *c)
{
	const char *tz = ctrl_str(c->cj, "spec.timeZone");
	char err[256] = "", name[300];
	struct recent rc;
	int r;

	r = cron_zone_load(tz, &c->zone);
	if (r < 0)
		return event(c, "Warning", "UnknownTimeZone", "invalid timeZone: %s: %s",
			     tz ?: "", strerror(-r));
	if (json_is_true(ctrl_get(c->cj, "spec.suspend")))
		return 0;
	if (cron_parse(ctrl_str(c->cj, "spec.schedule"), &c->sched, err, sizeof(err)) < 0)
		return event(c, "Warning", "UnparseableSchedule", "unparseable schedule: %s : %s",
			     ctrl_str(c->cj, "spec.schedule") ?: "", err);
	if (most_recent(c, true, &rc) < 0)
		return event(c, "Warning", "InvalidSchedule",
			     "invalid schedule: %s : time difference between two schedules is "
			     "less than 1 second", ctrl_str(c->cj, "spec.schedule"));
	if (rc.missed > CJ_MAX_MISSED &&
	    (r = event(c, "Warning", "TooManyMissedTimes",
		       "too many missed start times: %lld. Set or decrease "
		       ".spec.startingDeadlineSeconds or check clock skew", rc.missed)) < 0)
		return r;
	requeue_next(c);
	if (!rc.time)
		return 0;
	snprintf(name, sizeof(name), "%s-%lld", c->name, (long long)rc.time / 60);
	r = may_start(c, rc.time, name);
	if (r <= 0)
		return r;
	if (streq(ctrl_str(c->cj, "spec.concurrencyPolicy"), "Replace"))
		r = replace_active(c);
	return r < 0 ? r : start_job(c, rc.time, name);
}

/* ---- history limits ---- */

static int by_start_time(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *sx = ctrl_str(x, "status.startTime"), *sy = ctrl_str(y, "status.startTime");
	int r;

	if (!sx != !sy) /* Jobs without a start time last */
		return sx ? -1 : 1;
	r = strcmp(sx ?: "", sy ?: "");
	return r ? r : strcmp(ctrl_str(x, "metadata.name") ?: "", ctrl_str(y, "metadata.name") ?: "");
}

/* upstream removeOldestJobs for one kind of finished Job. */
static int remove_oldest(struct cj_ctx *c, const char *kind, long long limit)
{
	_cleanup_free_ json_t **v = calloc(c->in->n_jobs + 1, sizeof(*v));
	size_t n = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < c->in->n_jobs; i++)
		if (ctrl_controlled_by(c->in->jobs[i], c->cj) && streq(finished(c->in->jobs[i]), kind))
			v[n++] = c->in->jobs[i];
	qsort(v, n, sizeof(*v), by_start_time);
	for (size_t i = 0; (long long)i < (long long)n - limit && r == 0; i++) {
		long at = active_index(c, v[i]);

		if (at >= 0)
			json_array_remove(c->active, (size_t)at);
		r = delete_job(c, v[i], "metadata.name");
	}
	return r;
}

/* ---- one sync ---- */

static int sync_cj(struct cj_ctx *c)
{
	int r = reconcile_active(c);

	if (r == 0 && !ctrl_get(c->cj, "metadata.deletionTimestamp"))
		r = schedule_step(c);
	if (r == 0)
		r = remove_oldest(c, "Complete", ctrl_int(c->cj, "spec.successfulJobsHistoryLimit", 3));
	if (r == 0)
		r = remove_oldest(c, "Failed", ctrl_int(c->cj, "spec.failedJobsHistoryLimit", 1));
	if (r == 0 && json_array_size(c->active) == 0) /* omitted when empty, as upstream */
		json_object_del(c->status, "active");
	return r < 0 ? r : ctrl_status_update(c->p, CJ_RESOURCE, c->cj, json_incref(c->status));
}

int cj_compute(const struct cj_input *in, struct ctrl_plan *p, struct cj_result *res)
{
	struct cj_ctx c = { .in = in, .p = p, .res = res, .cj = in->cronjob };
	json_t *old = json_object_get(in->cronjob, "status");
	int r;

	memset(res, 0, sizeof(*res));
	c.ns = ctrl_str(in->cronjob, "metadata.namespace") ?: "";
	c.name = ctrl_str(in->cronjob, "metadata.name") ?: "";
	c.status = json_is_object(old) ? json_deep_copy(old) : json_object();
	c.active = json_object_get(c.status, "active");
	if (c.status && !json_is_array(c.active))
		json_object_set_new(c.status, "active", (c.active = json_array()));
	r = c.status && c.active ? sync_cj(&c) : -ENOMEM;
	json_decref(c.status);
	cron_zone_free(c.zone);
	return r;
}

int cj_validate_spec(json_t *cronjob, char *err, size_t len)
{
	const char *tz = ctrl_str(cronjob, "spec.timeZone");
	const char *sched = ctrl_str(cronjob, "spec.schedule");
	struct cron_schedule s;
	struct cron_zone *z = NULL;
	char why[200];

	if (cron_parse(sched, &s, why, sizeof(why)) < 0)
		return set_err(err, len, -EINVAL, "spec.schedule: Invalid value: \"%s\": %s",
			       sched ?: "", why);
	if (tz && !*tz)
		return set_err(err, len, -EINVAL, "spec.timeZone: Invalid value: \"\": timeZone "
			       "must be nil or non-empty string");
	if (streq(tz, "Local"))
		return set_err(err, len, -EINVAL, "spec.timeZone: Invalid value: \"Local\": timeZone "
			       "must be an explicit time zone as defined in "
			       "https://www.iana.org/time-zones");
	if (tz && cron_zone_load(tz, &z) < 0)
		return set_err(err, len, -EINVAL,
			       "spec.timeZone: Invalid value: \"%s\": unknown time zone %s", tz, tz);
	cron_zone_free(z);
	return 0;
}
