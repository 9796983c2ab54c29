/* The Job controller's compute step (upstream pkg/controller/job): from a
 * Job and the pods it controls, the pods to create or delete, the status
 * to write and the Events to record. Pure: "now" is an input, and the
 * delays upstream waits with its queue come back as requeue_after.
 *
 *   struct job_input in = { job, pods, n_pods, now };
 *   struct job_result res;
 *   struct ctrl_plan plan = CTRL_PLAN_INIT;
 *   job_compute(&in, &plan, &res);   // send plan; requeue after res.requeue_after s
 *
 * Covered: completions and parallelism (active = min(parallelism,
 * remaining)), NonIndexed and Indexed completion modes (index annotation
 * and label, JOB_COMPLETION_INDEX, hostname <job>-<index>,
 * completedIndexes "1,3-5"), backoffLimit counted from failed pods and, for
 * restartPolicy OnFailure, container restarts; the exponential delay before
 * new pods after failures (10 s doubling, at most 6 min);
 * activeDeadlineSeconds; suspend and resume; the Complete and Failed
 * conditions (BackoffLimitExceeded, DeadlineExceeded); ttlSecondsAfterFinished
 * (upstream's ttl-after-finished controller: a background delete once due).
 *
 * Not covered: the batch.kubernetes.io/job-tracking finalizer (succeeded
 * and failed are counted from the pods that exist, never below what
 * status already says, as upstream did before 1.26: pods removed by pod GC
 * before a sync are not counted), podFailurePolicy, successPolicy,
 * backoffLimitPerIndex, podReplacementPolicy, the FailureTarget and
 * SuccessCriteriaMet interim conditions, status.terminating. */
#ifndef SKIFF_CTRL_JOB_H
#define SKIFF_CTRL_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "control/ctrl_plan.h"
#include "control/ctrl_util.h"

#define JOB_RESOURCE "jobs.batch"
#define JOB_LABEL_UID "batch.kubernetes.io/controller-uid"
#define JOB_LABEL_NAME "batch.kubernetes.io/job-name"
#define JOB_LABEL_LEGACY_UID "controller-uid"
#define JOB_LABEL_LEGACY_NAME "job-name"
#define JOB_INDEX_KEY "batch.kubernetes.io/job-completion-index"
#define JOB_INDEX_ENV "JOB_COMPLETION_INDEX"
#define JOB_BACKOFF_BASE 10     /* s, upstream DefaultJobPodFailureBackOff */
#define JOB_BACKOFF_MAX 360     /* s, upstream MaxJobPodFailureBackOff */
#define JOB_MAX_CREATES 500     /* upstream MaxPodCreateDeletePerSync */

struct job_input {
	json_t *job;
	json_t **pods; /* pods of the Job's namespace; those it does not control are skipped */
	size_t n_pods;
	time_t now;
	/* The creates and deletes of earlier syncs not seen in pods yet
	 * (upstream's expectations, shared with the ReplicaSet): while they
	 * are outstanding no pod is created or deleted, only the status is
	 * written. Set when this sync plans creates or deletes. NULL: none
	 * kept. */
	struct ctrl_expectations *exp;
};

struct job_result {
	long long requeue_after; /* seconds until the Job needs another look; 0: none */
	long long to_create, to_delete; /* pod creates / deletes planned (manageJob's) */
};

/* Plans one sync of the Job. -EINVAL for a malformed Job (completion
 * mode, completedIndexes), -ENOMEM. */
int job_compute(const struct job_input *in, struct ctrl_plan *p, struct job_result *res);

/* completedIndexes text <-> a set of indexes below n (done[i] != 0).
 * Upstream's form: "1,3-5"; two neighbours are written "1,2". */
int job_indexes_parse(const char *s, unsigned char *done, long long n);
char *job_indexes_format(const unsigned char *done, long long n);

#endif
