/* The Job controller's compute step, one behaviour per test. */
#include <stdbool.h>
#include <stdlib.h>

#include "control/ctrl_job.h"
#include "tests/control/ctrl_workload_test.h"

#define TEMPLATE                                                                          \
	"'template':{'metadata':{'labels':{'app':'pi'}},'spec':{'restartPolicy':'%s',"      \
	"'containers':[{'name':'c','image':'busybox'}]}}"

/* A Job "pi" with extra spec fields (ending in a comma) and a status. */
static json_t *job(const char *spec, const char *status)
{
	return J("{'apiVersion':'batch/v1','kind':'Job','metadata':{'name':'pi','namespace':'ns',"
		 "'uid':'job-uid'},'spec':{%s" TEMPLATE "},'status':%s}",
		 spec, strstr(spec, "'OnFailure'") ? "OnFailure" : "Never", status);
}

/* A pod of the Job; t: when its Ready condition last changed (its finish
 * time once terminated); meta: more metadata fields, starting with a comma. */
static json_t *jpod(const char *name, const char *phase, bool ready, long long t, const char *meta)
{
	return J("{'metadata':{'name':'%s','namespace':'ns','creationTimestamp':'%s',"
		 "'ownerReferences':[{'controller':true,'uid':'job-uid'}]%s},"
		 "'spec':{'nodeName':'n1'},'status':{'phase':'%s','conditions':[{'type':'Ready',"
		 "'status':'%s','lastTransitionTime':'%s'}]}}",
		 name, at(t - 60), meta, phase, ready ? "True" : "False", at(t));
}

struct run {
	struct ctrl_plan p;
	struct job_result res;
	json_t *status; /* the status written, or NULL */
};

/* One sync at T0 + now seconds; exp: the expectations kept between syncs
 * (NULL: none). */
static struct run sync_exp(json_t *j, json_t **pods, size_t n, long long now,
			   struct ctrl_expectations *exp)
{
	struct job_input in = { j, pods, n, (time_t)(T0 + now), exp };
	struct run r = { .p = CTRL_PLAN_INIT };
	struct ctrl_action *st;

	CHECK_OK(job_compute(&in, &r.p, &r.res));
	st = nth(&r.p, CTRL_UPDATE_STATUS, JOB_RESOURCE, 0);
	r.status = st ? json_object_get(st->body, "status") : NULL;
	return r;
}

static struct run sync_at(json_t *j, json_t **pods, size_t n, long long now)
{
	return sync_exp(j, pods, n, now, NULL);
}

static const char *cond_reason(json_t *status, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, c)
		if (streq(ctrl_str(c, "type"), type) && streq(ctrl_str(c, "status"), "True"))
			return ctrl_str(c, "reason");
	return NULL;
}

TEST(creates_parallelism_pods_labelled_for_the_job)
{
	json_t *j = job("'completions':5,'parallelism':2,", "{}");
	struct run r = sync_at(j, NULL, 0, 0);
	json_t *pod = nth(&r.p, CTRL_CREATE, "pods", 0)->body;

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 2);
	CHECK_STR_EQ(ctrl_str(pod, "metadata.generateName"), "pi-");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(pod, "metadata.labels"),
						       JOB_LABEL_UID)), "job-uid");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(pod, "metadata.labels"),
						       JOB_LABEL_LEGACY_NAME)), "pi");
	CHECK_STR_EQ(ctrl_str(pod, "metadata.labels.app"), "pi");
	CHECK(ctrl_controlled_by(pod, j));
	CHECK_STR_EQ(ctrl_str(r.status, "startTime"), at(0));
	CHECK_INT_EQ(ctrl_int(r.status, "active", -1), 2);
	CHECK(event_of(&r.p, "SuccessfulCreate") != NULL);
	ctrl_plan_clear(&r.p);
	json_decref(j);
}

TEST(active_never_exceeds_the_remaining_completions)
{
	json_t *j = job("'completions':3,'parallelism':2,", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pods[] = { jpod("pi-a", "Succeeded", false, 0, ""),
			   jpod("pi-b", "Succeeded", false, 0, "") };
	struct run r = sync_at(j, pods, 2, 10);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	CHECK_INT_EQ(ctrl_int(r.status, "succeeded", -1), 2);
	CHECK_INT_EQ(ctrl_int(r.status, "active", -1), 1);
	ctrl_plan_clear(&r.p);
}

TEST(excess_active_pods_go_not_ready_first)
{
	json_t *j = job("'parallelism':1,", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pods[] = { jpod("pi-ready", "Running", true, 0, ""),
			   jpod("pi-slow", "Running", false, 0, "") };
	struct run r = sync_at(j, pods, 2, 10);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 1);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "pi-slow");
	CHECK_INT_EQ(ctrl_int(r.status, "active", -1), 1);
	CHECK_INT_EQ(ctrl_int(r.status, "ready", -1), 1);
	ctrl_plan_clear(&r.p);
}

TEST(completes_once_completions_succeeded)
{
	json_t *j = job("'completions':2,'ttlSecondsAfterFinished':100,",
			"{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pods[] = { jpod("pi-a", "Succeeded", false, 0, ""),
			   jpod("pi-b", "Succeeded", false, 0, "") };
	struct run r = sync_at(j, pods, 2, 30);

	CHECK_STR_EQ(cond_reason(r.status, "Complete"), "CompletionsReached");
	CHECK_STR_EQ(ctrl_str(r.status, "completionTime"), at(30));
	CHECK_INT_EQ(ctrl_int(r.status, "succeeded", -1), 2);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	CHECK_STR_EQ(event_of(&r.p, "Completed")->message, "Job completed");
	CHECK_INT_EQ(r.res.requeue_after, 100);
	ctrl_plan_clear(&r.p);
}

TEST(without_completions_one_success_ends_the_job_once_others_stop)
{
	json_t *j = job("'parallelism':2,", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pods[] = { jpod("pi-a", "Succeeded", false, 0, ""),
			   jpod("pi-b", "Running", true, 0, "") };
	struct run r = sync_at(j, pods, 2, 10);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 0);
	CHECK(cond_reason(r.status, "Complete") == NULL);
	ctrl_plan_clear(&r.p);
	json_decref(pods[1]);
	pods[1] = jpod("pi-b", "Succeeded", false, 5, "");
	r = sync_at(j, pods, 2, 10);
	CHECK(cond_reason(r.status, "Complete") != NULL);
	ctrl_plan_clear(&r.p);
}

TEST(indexed_pods_carry_index_hostname_and_env)
{
	json_t *j = job("'completionMode':'Indexed','completions':3,'parallelism':3,", "{}");
	json_t *pods[] = { jpod("pi-1-x", "Succeeded", false, 0,
				",'annotations':{'batch.kubernetes.io/job-completion-index':'1'}") };
	struct run r = sync_at(j, pods, 1, 0);
	json_t *p0 = nth(&r.p, CTRL_CREATE, "pods", 0)->body;
	json_t *p2 = nth(&r.p, CTRL_CREATE, "pods", 1)->body;
	json_t *env = json_array_get(ctrl_get(p0, "spec.containers.0.env"), 0);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 2);
	CHECK_STR_EQ(ctrl_str(p0, "metadata.generateName"), "pi-0-");
	CHECK_STR_EQ(ctrl_str(p2, "spec.hostname"), "pi-2");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(p2, "metadata.annotations"),
						       JOB_INDEX_KEY)), "2");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(p2, "metadata.labels"),
						       JOB_INDEX_KEY)), "2");
	env = json_array_get(json_object_get(json_array_get(ctrl_get(p0, "spec.containers"), 0),
					     "env"), 0);
	CHECK_STR_EQ(ctrl_str(env, "name"), "JOB_COMPLETION_INDEX");
	CHECK_STR_EQ(ctrl_str(env, "valueFrom.fieldRef.fieldPath"),
		     "metadata.labels['batch.kubernetes.io/job-completion-index']");
	CHECK_STR_EQ(ctrl_str(r.status, "completedIndexes"), "1");
	ctrl_plan_clear(&r.p);
}

TEST(indexed_duplicates_and_finished_indexes_are_deleted)
{
	json_t *j = job("'completionMode':'Indexed','completions':2,'parallelism':2,",
			"{'startTime':'2026-12-07T00:00:00Z','completedIndexes':'0'}");
	const char *i0 = ",'annotations':{'batch.kubernetes.io/job-completion-index':'0'}";
	const char *i1 = ",'annotations':{'batch.kubernetes.io/job-completion-index':'1'}";
	json_t *pods[] = { jpod("pi-0-late", "Running", true, 0, i0),
			   jpod("pi-1-a", "Running", true, 0, i1),
			   jpod("pi-1-b", "Pending", false, 0, i1) };
	struct run r = sync_at(j, pods, 3, 10);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 2);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "pi-1-b");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 1)), "pi-0-late");
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	CHECK_INT_EQ(ctrl_int(r.status, "active", -1), 1);
	ctrl_plan_clear(&r.p);
}

TEST(completed_indexes_round_trip_in_upstream_form)
{
	unsigned char done[8] = { 0 };
	char *s;

	CHECK_OK(job_indexes_parse("1,3-5", done, 8));
	CHECK(done[1] && !done[2] && done[3] && done[4] && done[5] && !done[6]);
	s = job_indexes_format(done, 8);
	CHECK_STR_EQ(s, "1,3-5");
	free(s);
	memset(done, 0, sizeof(done));
	done[6] = done[7] = 1;
	s = job_indexes_format(done, 8);
	CHECK_STR_EQ(s, "6,7");
	free(s);
	CHECK_INT_EQ(job_indexes_parse("2-1", done, 8), -EINVAL);
	CHECK_INT_EQ(job_indexes_parse("x", done, 8), -EINVAL);
}

TEST(backoff_limit_exceeded_fails_the_job_and_stops_its_pods)
{
	json_t *j = job("'backoffLimit':1,'parallelism':2,",
			"{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pods[] = { jpod("pi-a", "Failed", false, 0, ""), jpod("pi-b", "Failed", false, 5, ""),
			   jpod("pi-c", "Running", true, 0, "") };
	struct run r = sync_at(j, pods, 3, 10);

	CHECK_STR_EQ(cond_reason(r.status, "Failed"), "BackoffLimitExceeded");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "pi-c");
	CHECK_INT_EQ(ctrl_int(r.status, "failed", -1), 3);
	CHECK_INT_EQ(ctrl_int(r.status, "active", -1), 0);
	CHECK_STR_EQ(event_of(&r.p, "BackoffLimitExceeded")->event_type, "Warning");
	CHECK(ctrl_str(r.status, "completionTime") == NULL);
	ctrl_plan_clear(&r.p);
}

TEST(on_failure_container_restarts_count_against_the_backoff_limit)
{
	json_t *j = job("'backoffLimit':2,'x':'OnFailure',", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pod = jpod("pi-a", "Running", false, 0, "");
	struct run r;

	json_object_set_new(json_object_get(pod, "status"), "containerStatuses",
			    J("[{'name':'c','restartCount':1}]"));
	r = sync_at(j, &pod, 1, 10);
	CHECK(cond_reason(r.status, "Failed") == NULL);
	ctrl_plan_clear(&r.p);
	json_object_set_new(json_object_get(pod, "status"), "containerStatuses",
			    J("[{'name':'c','restartCount':2}]"));
	r = sync_at(j, &pod, 1, 10);
	CHECK_STR_EQ(cond_reason(r.status, "Failed"), "BackoffLimitExceeded");
	ctrl_plan_clear(&r.p);
}

TEST(new_pods_wait_out_the_exponential_failure_backoff)
{
	json_t *j = job("'completions':1,", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pods[] = { jpod("pi-a", "Failed", false, 0, ""), jpod("pi-b", "Failed", false, 100, "") };
	struct run r = sync_at(j, pods, 2, 105); /* 2 failures: 20 s from the last */

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	CHECK_INT_EQ(r.res.requeue_after, 15);
	ctrl_plan_clear(&r.p);
	r = sync_at(j, pods, 2, 120);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	ctrl_plan_clear(&r.p);
}

TEST(failure_backoff_is_capped_at_six_minutes)
{
	json_t *j = job("'completions':1,'backoffLimit':100,", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pods[7];
	char name[16];
	struct run r;

	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "pi-%d", i);
		pods[i] = jpod(name, "Failed", false, i, "");
	}
	r = sync_at(j, pods, 7, 6 + 359); /* 10 * 2^6 = 640 s, capped to 360 */
	CHECK_INT_EQ(r.res.requeue_after, 1);
	ctrl_plan_clear(&r.p);
	r = sync_at(j, pods, 7, 6 + 360);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	ctrl_plan_clear(&r.p);
}

TEST(active_deadline_fails_the_job_or_requeues_until_it)
{
	json_t *j = job("'activeDeadlineSeconds':60,", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pod = jpod("pi-a", "Running", true, 0, "");
	struct run r = sync_at(j, &pod, 1, 40);

	CHECK(cond_reason(r.status, "Failed") == NULL);
	CHECK_INT_EQ(r.res.requeue_after, 20);
	ctrl_plan_clear(&r.p);
	r = sync_at(j, &pod, 1, 60);
	CHECK_STR_EQ(cond_reason(r.status, "Failed"), "DeadlineExceeded");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "pi-a");
	CHECK_STR_EQ(event_of(&r.p, "DeadlineExceeded")->message,
		     "Job was active longer than specified deadline");
	ctrl_plan_clear(&r.p);
}

TEST(suspend_deletes_active_pods_and_resume_restarts_the_clock)
{
	json_t *j = job("'suspend':true,", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *pod = jpod("pi-a", "Running", true, 0, "");
	struct run r = sync_at(j, &pod, 1, 50);

	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "pi-a");
	CHECK_STR_EQ(cond_reason(r.status, "Suspended"), "JobSuspended");
	CHECK_INT_EQ(ctrl_int(r.status, "active", -1), 0);
	CHECK_INT_EQ(ctrl_int(r.status, "failed", -1), 0);
	json_decref(j);
	j = job("", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_object_set(json_object_get(j, "status"), "conditions",
			json_object_get(r.status, "conditions"));
	ctrl_plan_clear(&r.p);
	r = sync_at(j, NULL, 0, 90);
	CHECK_STR_EQ(ctrl_str(r.status, "startTime"), at(90));
	CHECK(event_of(&r.p, "Resumed") != NULL);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	ctrl_plan_clear(&r.p);
}

TEST(finished_job_is_deleted_in_the_background_after_its_ttl)
{
	json_t *j = job("'ttlSecondsAfterFinished':100,",
			"{'completionTime':'2026-12-07T00:00:00Z','conditions':[{'type':'Complete',"
			"'status':'True','lastTransitionTime':'2026-12-07T00:00:00Z'}]}");
	struct run r = sync_at(j, NULL, 0, 40);
	struct ctrl_action *del;

	CHECK_INT_EQ(r.p.n, 0);
	CHECK_INT_EQ(r.res.requeue_after, 60);
	r = sync_at(j, NULL, 0, 100);
	del = nth(&r.p, CTRL_DELETE, JOB_RESOURCE, 0);
	CHECK(del != NULL);
	CHECK_STR_EQ(del->name, "pi");
	CHECK_STR_EQ(ctrl_str(del->body, "propagationPolicy"), "Background");
	CHECK_STR_EQ(ctrl_str(del->body, "preconditions.uid"), "job-uid");
	ctrl_plan_clear(&r.p);
}

TEST(pods_of_other_owners_are_not_counted)
{
	json_t *j = job("'completions':1,", "{'startTime':'2026-12-07T00:00:00Z'}");
	json_t *other = J("{'metadata':{'name':'x','namespace':'ns','ownerReferences':[{'controller':"
			  "true,'uid':'other'}]},'status':{'phase':'Succeeded'}}");
	struct run r = sync_at(j, &other, 1, 10);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	CHECK_INT_EQ(ctrl_int(r.status, "succeeded", -1), 0);
	ctrl_plan_clear(&r.p);
}

TEST(an_unchanged_job_writes_nothing)
{
	json_t *j = job("'completions':1,",
			"{'startTime':'2026-12-07T00:00:00Z','active':1,'succeeded':0,'failed':0,"
			"'ready':1}");
	json_t *pod = jpod("pi-a", "Running", true, 0, "");
	struct run r = sync_at(j, &pod, 1, 10);

	CHECK_INT_EQ(r.p.n, 0);
}

/* The creates of a sync stay expected until the pod cache shows them, up
 * to upstream's 5-minute ExpectationsTimeout: a cache 11 s or 4 min behind
 * (a slow watch) must not make the Job create its pods again. */
TEST(expectations_keep_a_lagging_cache_from_creating_twice)
{
	json_t *j = job("'completions':4,'parallelism':2,", "{}");
	json_t *pods[2] = { jpod("pi-a", "Running", true, 0, ""), jpod("pi-b", "Running", true, 0, "") };
	struct ctrl_expectations exp = { 0 };
	struct run r = sync_exp(j, NULL, 0, 0, &exp);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 2);
	CHECK_INT_EQ(r.res.to_create, 2);
	ctrl_plan_clear(&r.p);
	r = sync_exp(j, NULL, 0, 11, &exp); /* past the manager's 10 s writes-seen give-up */
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	ctrl_plan_clear(&r.p);
	r = sync_exp(j, NULL, 0, 240, &exp);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	ctrl_plan_clear(&r.p);
	/* the informer sees both: the next sync trusts its cache again */
	ctrl_expectations_observe_add(&exp);
	ctrl_expectations_observe_add(&exp);
	r = sync_exp(j, pods, 2, 241, &exp);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	CHECK_INT_EQ(ctrl_int(r.status, "active", -1), 2);
	ctrl_plan_clear(&r.p);
	json_decref(pods[0]);
	json_decref(pods[1]);
	json_decref(j);
}

TEST(expectations_expire_after_five_minutes_and_the_job_creates_again)
{
	json_t *j = job("'completions':4,'parallelism':2,", "{}");
	struct ctrl_expectations exp = { 0 };
	struct run r = sync_exp(j, NULL, 0, 0, &exp);

	ctrl_plan_clear(&r.p);
	r = sync_exp(j, NULL, 0, CTRL_EXPECTATIONS_TTL, &exp);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	ctrl_plan_clear(&r.p);
	r = sync_exp(j, NULL, 0, CTRL_EXPECTATIONS_TTL + 1, &exp);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 2);
	ctrl_plan_clear(&r.p);
	json_decref(j);
}
