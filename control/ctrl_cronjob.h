/* The CronJob controller's compute step (upstream
 * pkg/controller/cronjob/cronjob_controllerv2.go): from a CronJob and the
 * Jobs it controls, the Job to start (if a schedule time has come), the
 * Jobs to delete (Replace, history limits), the status and the Events.
 * Pure but for reading the time zone from the system's tz database;
 * "now" is an input and the next schedule time comes back as requeue_after.
 *
 *   struct cj_input in = { cronjob, jobs, n_jobs, now };
 *   cj_compute(&in, &plan, &res);   // send plan; requeue after res.requeue_after s
 *
 * Jobs are named <cronjob>-<scheduled time in minutes since the epoch>, so
 * a schedule time never makes two; each carries the template's labels and
 * annotations plus batch.kubernetes.io/cronjob-scheduled-timestamp (RFC
 * 3339 in spec.timeZone). The most recent missed time since
 * lastScheduleTime (or creation) runs, unless startingDeadlineSeconds has
 * passed (MissSchedule); more than 100 missed times is TooManyMissedTimes.
 * concurrencyPolicy Allow / Forbid (JobAlreadyActive) / Replace (the active
 * Jobs are deleted first); suspend; successfulJobsHistoryLimit (3) and
 * failedJobsHistoryLimit (1) delete the oldest finished Jobs (background
 * propagation); status.active, lastScheduleTime, lastSuccessfulTime.
 *
 * Differences: a Job this sync creates enters status.active by name (its
 * uid is filled in once the Job is seen); an active entry whose Job is
 * not in the cache is dropped (MissingJob) only once it has a uid, since
 * upstream confirms with a GET that a cache cannot. */
#ifndef SKIFF_CTRL_CRONJOB_H
#define SKIFF_CTRL_CRONJOB_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "control/ctrl_plan.h"

#define CJ_RESOURCE "cronjobs.batch"
#define CJ_SCHEDULED_ANNOTATION "batch.kubernetes.io/cronjob-scheduled-timestamp"
#define CJ_MAX_MISSED 100

struct cj_input {
	json_t *cronjob;
	json_t **jobs; /* Jobs of the CronJob's namespace; those it does not control are skipped */
	size_t n_jobs;
	time_t now;
};

struct cj_result {
	long long requeue_after; /* seconds to the next schedule time; 0: none */
};

/* Plans one sync. -ENOMEM; a bad schedule or time zone is an Event, not
 * an error. */
int cj_compute(const struct cj_input *in, struct ctrl_plan *p, struct cj_result *res);

/* Admission check for a CronJob create or update, as upstream's
 * validation: the schedule parses (a TZ= or CRON_TZ= prefix is refused),
 * timeZone names a zone of the tz database. -EINVAL with the field error
 * in err, "<field path>: Invalid value: ...", for a 422 Invalid. */
int cj_validate_spec(json_t *cronjob, char *err, size_t len);

#endif
