/* The CronJob controller and its cron schedules, one behaviour per test. */
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "control/ctrl_cronjob.h"
#include "control/ctrl_cronjob_sched.h"
#include "tests/control/ctrl_workload_test.h"

static time_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi };

	return timegm(&tm);
}

static struct cron_schedule parse(const char *spec)
{
	struct cron_schedule s;
	char err[200];

	if (cron_parse(spec, &s, err, sizeof(err)) < 0)
		test_fail(__FILE__, __LINE__, "%s: %s", spec, err);
	return s;
}

static struct cron_zone *zone(const char *name)
{
	struct cron_zone *z = NULL;

	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0)
		SKIP("no tz database in /usr/share/zoneinfo (Debian package tzdata)");
	CHECK_OK(cron_zone_load(name, &z));
	return z;
}

TEST(cron_fields_take_ranges_steps_lists_and_names)
{
	struct cron_schedule s = parse("*/15 9-17/4 1,15 JAN-mar mon,Fri");

	CHECK(s.minute == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)));
	CHECK(s.hour == ((1ULL << 9) | (1ULL << 13) | (1ULL << 17)));
	CHECK(s.dom == ((1ULL << 1) | (1ULL << 15)));
	CHECK(s.month == ((1ULL << 1) | (1ULL << 2) | (1ULL << 3)));
	CHECK(s.dow == ((1ULL << 1) | (1ULL << 5)));
	s = parse("5/20 * * * *");
	CHECK(s.minute == ((1ULL << 5) | (1ULL << 25) | (1ULL << 45)));
	CHECK(s.hour & CRON_STAR);
}

TEST(cron_refuses_what_robfig_refuses_with_its_messages)
{
	struct cron_schedule s;
	char err[200];

	CHECK_INT_EQ(cron_parse("0-60 * * * *", &s, err, sizeof(err)), -EINVAL);
	CHECK_STR_EQ(err, "end of range (60) above maximum (59): 0-60");
	CHECK_INT_EQ(cron_parse("* * * *", &s, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "expected exactly 5 fields, found 4");
	CHECK_INT_EQ(cron_parse("* * * * 7", &s, err, sizeof(err)), -EINVAL);
	CHECK_INT_EQ(cron_parse("5-1 * * * *", &s, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "beginning of range (5) beyond end of range (1)");
	CHECK_INT_EQ(cron_parse("*/0 * * * *", &s, err, sizeof(err)), -EINVAL);
	CHECK_INT_EQ(cron_parse("@every 1h", &s, err, sizeof(err)), -EINVAL);
	CHECK_INT_EQ(cron_parse("TZ=UTC 0 * * * *", &s, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "use timeZone field instead");
}

TEST(cron_descriptors_are_their_five_fields)
{
	struct cron_schedule a = parse("@weekly"), b = parse("0 0 * * 0");

	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	a = parse("@annually");
	b = parse("@yearly");
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK_INT_EQ(cron_next(&a, NULL, utc(2026, 12, 7, 0, 0)), utc(2027, 1, 1, 0, 0));
	a = parse("@hourly");
	CHECK_INT_EQ(cron_next(&a, NULL, utc(2026, 12, 7, 10, 0)), utc(2026, 12, 7, 11, 0));
}

TEST(cron_next_walks_to_the_first_matching_minute)
{
	struct cron_schedule s = parse("*/15 9-17 * * mon-fri");

	/* Saturday 2026-12-12 18:00 -> Monday 09:00 */
	CHECK_INT_EQ(cron_next(&s, NULL, utc(2026, 12, 12, 18, 0)), utc(2026, 12, 14, 9, 0));
	CHECK_INT_EQ(cron_next(&s, NULL, utc(2026, 12, 14, 9, 0)), utc(2026, 12, 14, 9, 15));
	CHECK_INT_EQ(cron_next(&s, NULL, utc(2026, 12, 14, 17, 45)), utc(2026, 12, 15, 9, 0));
	s = parse("0 0 31 2 *");
	CHECK_INT_EQ(cron_next(&s, NULL, utc(2026, 12, 14, 0, 0)), 0);
}

TEST(cron_day_fields_are_ored_unless_one_is_a_star)
{
	struct cron_schedule s = parse("0 0 13 * fri");

	/* Friday 2026-12-11 comes before the 13th */
	CHECK_INT_EQ(cron_next(&s, NULL, utc(2026, 12, 7, 0, 0)), utc(2026, 12, 11, 0, 0));
	CHECK_INT_EQ(cron_next(&s, NULL, utc(2026, 12, 11, 0, 0)), utc(2026, 12, 13, 0, 0));
	s = parse("0 0 13 * *");
	CHECK_INT_EQ(cron_next(&s, NULL, utc(2026, 12, 7, 0, 0)), utc(2026, 12, 13, 0, 0));
	s = parse("0 0 13 * */2"); /* a stepped star is not a star: ORed */
	CHECK_INT_EQ(cron_next(&s, NULL, utc(2026, 12, 7, 0, 0)), utc(2026, 12, 8, 0, 0));
}

TEST(cron_runs_in_its_time_zone_across_daylight_saving)
{
	struct cron_zone *berlin = zone("Europe/Berlin"), *ny = zone("America/New_York");
	struct cron_schedule nine = parse("0 9 * * *"), half_two = parse("30 2 * * *");

	CHECK_INT_EQ(cron_zone_offset(berlin, utc(2026, 12, 8, 0, 0)), 3600);
	CHECK_INT_EQ(cron_next(&nine, berlin, utc(2026, 12, 8, 0, 0)), utc(2026, 12, 8, 8, 0));
	CHECK_INT_EQ(cron_next(&nine, berlin, utc(2026, 7, 8, 0, 0)), utc(2026, 7, 8, 7, 0));
	/* 02:30 does not exist in New York on 2026-03-08: skipped, as robfig does */
	CHECK_INT_EQ(cron_next(&half_two, ny, utc(2026, 3, 8, 0, 0)), utc(2026, 3, 9, 6, 30));
	cron_zone_free(berlin);
	cron_zone_free(ny);
}

TEST(unknown_or_refused_zones_do_not_load)
{
	struct cron_zone *z = NULL;

	CHECK_INT_EQ(cron_zone_load("Mars/Olympus_Mons", &z), -ENOENT);
	CHECK_INT_EQ(cron_zone_load("../etc/passwd", &z), -EINVAL);
	CHECK_INT_EQ(cron_zone_load("Local", &z), -EINVAL);
	CHECK_OK(cron_zone_load(NULL, &z));
	CHECK_INT_EQ(cron_zone_offset(z, 0), 0);
	cron_zone_free(z);
}

/* ---- the controller ---- */

/* CronJob "nightly" created at T0 (Monday 2026-12-07 00:00Z); spec: extra
 * fields ending in a comma; status JSON. */
static json_t *cronjob(const char *schedule, const char *spec, const char *status)
{
	return J("{'apiVersion':'batch/v1','kind':'CronJob','metadata':{'name':'nightly',"
		 "'namespace':'ops','uid':'cj-uid','creationTimestamp':'%s'},'spec':{%s"
		 "'schedule':'%s','jobTemplate':{'metadata':{'labels':{'team':'ops'}},'spec':{"
		 "'template':{'spec':{'restartPolicy':'Never','containers':[{'name':'c',"
		 "'image':'busybox'}]}}}}},'status':%s}",
		 at(0), spec, schedule, status);
}

/* A Job of the CronJob; state "running", "Complete" or "Failed"; started at t. */
static json_t *cjob(const char *name, const char *state, long long t)
{
	const char *done = strcmp(state, "running") == 0 ? "" : state;

	return J("{'metadata':{'name':'%s','namespace':'ops','uid':'uid-%s','ownerReferences':"
		 "[{'controller':true,'uid':'cj-uid'}]},'status':{'startTime':'%s'%s%s%s%s%s}}",
		 name, name, at(t), *done ? ",'completionTime':'" : "", *done ? at(t + 30) : "",
		 *done ? "','conditions':[{'type':'" : "", done,
		 *done ? "','status':'True'}]" : "");
}

struct run {
	struct ctrl_plan p;
	struct cj_result res;
	json_t *status;
};

static struct run sync_cj(json_t *cj, json_t **jobs, size_t n, long long now)
{
	struct cj_input in = { cj, jobs, n, (time_t)(T0 + now) };
	struct run r = { .p = CTRL_PLAN_INIT };
	struct ctrl_action *st;

	CHECK_OK(cj_compute(&in, &r.p, &r.res));
	st = nth(&r.p, CTRL_UPDATE_STATUS, CJ_RESOURCE, 0);
	r.status = st ? json_object_get(st->body, "status") : NULL;
	return r;
}

static const char *jname(long long t)
{
	static char b[64];

	snprintf(b, sizeof(b), "nightly-%lld", (T0 + t) / 60);
	return b;
}

TEST(a_due_schedule_starts_a_job_named_after_its_minute)
{
	json_t *cj = cronjob("0 * * * *", "", "{}");
	struct run r = sync_cj(cj, NULL, 0, 3600 + 20);
	struct ctrl_action *c = nth(&r.p, CTRL_CREATE, "jobs.batch", 0);

	CHECK(c != NULL);
	CHECK_STR_EQ(c->name, jname(3600));
	CHECK_STR_EQ(ctrl_str(c->body, "metadata.name"), jname(3600));
	CHECK_STR_EQ(ctrl_str(c->body, "metadata.labels.team"), "ops");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(c->body, "metadata.annotations"),
						       CJ_SCHEDULED_ANNOTATION)), "2026-12-07T01:00:00Z");
	CHECK_STR_EQ(ctrl_str(c->body, "spec.template.spec.restartPolicy"), "Never");
	CHECK(ctrl_controlled_by(c->body, cj));
	CHECK_STR_EQ(ctrl_str(r.status, "lastScheduleTime"), at(3600));
	CHECK_STR_EQ(ctrl_str(json_array_get(json_object_get(r.status, "active"), 0), "name"),
		     jname(3600));
	CHECK(event_of(&r.p, "SuccessfulCreate") != NULL);
	CHECK_INT_EQ(r.res.requeue_after, 3600 - 20);
	ctrl_plan_clear(&r.p);
}

TEST(nothing_due_only_requeues_for_the_next_time)
{
	json_t *cj = cronjob("30 * * * *", "", "{}");
	struct run r = sync_cj(cj, NULL, 0, 600);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	CHECK_INT_EQ(r.res.requeue_after, 1200);
	ctrl_plan_clear(&r.p);
}

TEST(the_scheduled_timestamp_is_written_in_the_time_zone)
{
	json_t *cj = cronjob("0 9 * * *", "'timeZone':'Europe/Berlin',", "{}");
	struct run r;
	struct ctrl_action *c;

	cron_zone_free(zone("Europe/Berlin")); /* skips without a tz database */
	r = sync_cj(cj, NULL, 0, 8 * 3600 + 5);
	c = nth(&r.p, CTRL_CREATE, "jobs.batch", 0);
	CHECK_STR_EQ(aname(c), jname(8 * 3600));
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(c->body, "metadata.annotations"),
						       CJ_SCHEDULED_ANNOTATION)),
		     "2026-12-07T09:00:00+01:00");
	ctrl_plan_clear(&r.p);
}

TEST(the_most_recent_missed_time_runs_and_too_many_are_reported)
{
	json_t *cj = cronjob("* * * * *", "", "{}");
	struct run r = sync_cj(cj, NULL, 0, 200 * 60 + 10);

	CHECK_STR_EQ(aname(nth(&r.p, CTRL_CREATE, "jobs.batch", 0)), jname(200 * 60));
	CHECK_STR_CONTAINS(event_of(&r.p, "TooManyMissedTimes")->message,
			   "too many missed start times: 200");
	ctrl_plan_clear(&r.p);
	r = sync_cj(cj, NULL, 0, 50 * 60 + 10);
	CHECK(event_of(&r.p, "TooManyMissedTimes") == NULL);
	ctrl_plan_clear(&r.p);
}

TEST(a_time_past_its_starting_deadline_is_missed)
{
	json_t *cj = cronjob("0 * * * *", "'startingDeadlineSeconds':60,", "{}");
	struct run r = sync_cj(cj, NULL, 0, 3600 + 120);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "jobs.batch"), 0);
	ctrl_plan_clear(&r.p);
	/* times older than now - startingDeadlineSeconds are never looked at;
	 * within the window the time runs */
	r = sync_cj(cj, NULL, 0, 3600 + 30);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "jobs.batch"), 1);
	ctrl_plan_clear(&r.p);
}

TEST(a_time_already_started_is_not_started_again)
{
	json_t *cj = cronjob("0 * * * *", "", "{'lastScheduleTime':'2026-12-07T01:00:00Z'}");
	struct run r = sync_cj(cj, NULL, 0, 3600 + 30);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "jobs.batch"), 0);
	CHECK_INT_EQ(r.res.requeue_after, 3600 - 30);
	ctrl_plan_clear(&r.p);
}

static json_t *active_status(void)
{
	return J("{'lastScheduleTime':'%s','active':[{'kind':'Job','name':'nightly-old',"
		 "'namespace':'ops','uid':'uid-nightly-old'}]}", at(0));
}

TEST(forbid_waits_for_the_running_job)
{
	json_t *cj = cronjob("0 * * * *", "'concurrencyPolicy':'Forbid',", "{}");
	json_t *job = cjob("nightly-old", "running", 0);
	struct run r;

	json_object_set_new(cj, "status", active_status());
	r = sync_cj(cj, &job, 1, 3600 + 5);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "jobs.batch"), 0);
	CHECK(event_of(&r.p, "JobAlreadyActive") != NULL);
	ctrl_plan_clear(&r.p);
}

TEST(replace_deletes_the_running_job_first)
{
	json_t *cj = cronjob("0 * * * *", "'concurrencyPolicy':'Replace',", "{}");
	json_t *job = cjob("nightly-old", "running", 0);
	struct ctrl_action *del;
	struct run r;

	json_object_set_new(cj, "status", active_status());
	r = sync_cj(cj, &job, 1, 3600 + 5);
	del = nth(&r.p, CTRL_DELETE, "jobs.batch", 0);
	CHECK_STR_EQ(aname(del), "nightly-old");
	CHECK_STR_EQ(ctrl_str(del->body, "propagationPolicy"), "Background");
	CHECK_STR_EQ(event_of(&r.p, "SuccessfulDelete")->message, "Deleted job nightly-old");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_CREATE, "jobs.batch", 0)), jname(3600));
	CHECK_INT_EQ(json_array_size(json_object_get(r.status, "active")), 1);
	ctrl_plan_clear(&r.p);
}

TEST(allow_runs_alongside)
{
	json_t *cj = cronjob("0 * * * *", "", "{}");
	json_t *job = cjob("nightly-old", "running", 0);
	struct run r;

	json_object_set_new(cj, "status", active_status());
	r = sync_cj(cj, &job, 1, 3600 + 5);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "jobs.batch"), 1);
	CHECK_INT_EQ(json_array_size(json_object_get(r.status, "active")), 2);
	ctrl_plan_clear(&r.p);
}

TEST(suspend_starts_nothing)
{
	json_t *cj = cronjob("0 * * * *", "'suspend':true,", "{}");
	struct run r = sync_cj(cj, NULL, 0, 3600 + 5);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	CHECK_INT_EQ(r.res.requeue_after, 0);
	ctrl_plan_clear(&r.p);
}

TEST(a_finished_job_leaves_the_active_list_and_marks_success)
{
	json_t *cj = cronjob("0 0 1 1 *", "", "{}");
	json_t *job = cjob("nightly-old", "Complete", 10);
	struct run r;

	json_object_set_new(cj, "status", active_status());
	r = sync_cj(cj, &job, 1, 100);
	CHECK_STR_EQ(event_of(&r.p, "SawCompletedJob")->message,
		     "Saw completed job: nightly-old, condition: Complete");
	CHECK(json_object_get(r.status, "active") == NULL);
	CHECK_STR_EQ(ctrl_str(r.status, "lastSuccessfulTime"), at(40));
	ctrl_plan_clear(&r.p);
}

TEST(history_limits_delete_the_oldest_finished_jobs)
{
	json_t *cj = cronjob("0 0 1 1 *", "'successfulJobsHistoryLimit':2,", "{}");
	json_t *jobs[] = { cjob("nightly-3", "Complete", 30), cjob("nightly-1", "Complete", 10),
			   cjob("nightly-2", "Complete", 20), cjob("nightly-f1", "Failed", 5),
			   cjob("nightly-f2", "Failed", 15), cjob("nightly-run", "running", 40) };
	struct run r = sync_cj(cj, jobs, 6, 100);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "jobs.batch"), 2);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "jobs.batch", 0)), "nightly-1");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "jobs.batch", 1)), "nightly-f1");
	ctrl_plan_clear(&r.p);
}

TEST(a_bad_time_zone_or_schedule_is_an_event_not_an_error)
{
	json_t *tz = cronjob("0 * * * *", "'timeZone':'Mars/Base',", "{}");
	json_t *bad = cronjob("61 * * * *", "", "{}");
	struct run r = sync_cj(tz, NULL, 0, 3600 + 5);

	CHECK_STR_EQ(event_of(&r.p, "UnknownTimeZone")->event_type, "Warning");
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, NULL), 0);
	ctrl_plan_clear(&r.p);
	r = sync_cj(bad, NULL, 0, 3600 + 5);
	CHECK_STR_CONTAINS(event_of(&r.p, "UnparseableSchedule")->message, "above maximum (59)");
	ctrl_plan_clear(&r.p);
}

TEST(validation_refuses_tz_prefixes_and_unknown_zones)
{
	json_t *prefix = cronjob("TZ=Europe/Berlin 0 * * * *", "", "{}");
	json_t *zone_bad = cronjob("0 * * * *", "'timeZone':'Nowhere/Town',", "{}");
	json_t *good = cronjob("0 * * * *", "", "{}");
	char err[256];

	CHECK_INT_EQ(cj_validate_spec(prefix, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "spec.schedule: Invalid value");
	CHECK_INT_EQ(cj_validate_spec(zone_bad, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "spec.timeZone: Invalid value");
	CHECK_OK(cj_validate_spec(good, err, sizeof(err)));
	json_object_set_new(json_object_get(good, "spec"), "timeZone", json_string("Local"));
	CHECK_INT_EQ(cj_validate_spec(good, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "must be an explicit time zone");
}

TEST(a_settled_cronjob_writes_nothing)
{
	json_t *cj = cronjob("0 * * * *", "", "{}");
	struct run r = sync_cj(cj, NULL, 0, 3600 + 5);
	json_t *job = J("{'metadata':{'name':'%s','namespace':'ops','uid':'uid-new',"
			"'ownerReferences':[{'controller':true,'uid':'cj-uid'}]},'status':{}}",
			jname(3600));

	json_object_set(cj, "status", r.status);
	ctrl_plan_clear(&r.p);
	r = sync_cj(cj, &job, 1, 3600 + 10); /* the Job is seen: its uid is recorded */
	CHECK_STR_EQ(ctrl_str(json_array_get(json_object_get(r.status, "active"), 0), "uid"),
		     "uid-new");
	json_object_set(cj, "status", r.status);
	ctrl_plan_clear(&r.p);
	r = sync_cj(cj, &job, 1, 3600 + 20);
	CHECK_INT_EQ(r.p.n, 0);
	CHECK_INT_EQ(r.res.requeue_after, 3600 - 20);
}
