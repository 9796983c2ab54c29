/* The disruption controller's compute step: a PodDisruptionBudget's status
 * from its pods and their controllers' scale, as upstream computes it. */
#include <stdio.h>
#include <string.h>

#include "control/ctrl_disruption.h"
#include "control/ctrl_util.h"
#include "lib/util.h"
#include "tests/harness/test.h"

#define NOW 1800000000 /* 2027-01-15T08:00:00Z */

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	if (!j)
		test_fail(__FILE__, __LINE__, "bad JSON in test: %s", s);
	return j;
}

/* A pod of the web ReplicaSet (uid rs-1), ready or not. */
static json_t *pod(const char *name, bool ready, const char *owner_uid)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\",\"labels\":{\"app\":\"web\"}%s%s%s},"
		 "\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		 name, owner_uid ? ",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web\",\"uid\":\"" : "",
		 owner_uid ? owner_uid : "", owner_uid ? "\",\"controller\":true}]" : "",
		 ready ? "True" : "False");
	return J(text);
}

static json_t *pdb(const char *spec_extra, const char *status)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\",\"generation\":2},"
		 "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"web\"}},%s}%s%s}",
		 spec_extra, status ? ",\"status\":" : "", status ? status : "");
	return J(text);
}

struct world {
	json_t *pdb, *pods[8], *owners[4];
	size_t n_pods, n_owners;
	struct ctrl_plan plan;
	json_t *status; /* the planned status, borrowed from the plan */
};

static void world_free(struct world *w)
{
	json_decref(w->pdb);
	for (size_t i = 0; i < w->n_pods; i++)
		json_decref(w->pods[i]);
	for (size_t i = 0; i < w->n_owners; i++)
		json_decref(w->owners[i]);
	ctrl_plan_clear(&w->plan);
}

/* Computes and returns the planned status (NULL when none is planned). */
static json_t *compute(struct world *w, time_t *recheck)
{
	struct ctrl_disruption_in in = { w->pdb, w->pods, w->n_pods, w->owners, w->n_owners, NOW };

	CHECK_OK(ctrl_disruption_compute(&in, &w->plan, recheck));
	for (size_t i = 0; i < w->plan.n; i++)
		if (w->plan.v[i].verb == CTRL_UPDATE_STATUS) {
			CHECK_STR_EQ(w->plan.v[i].resource, "poddisruptionbudgets.policy");
			CHECK_STR_EQ(w->plan.v[i].subresource, "status");
			CHECK_STR_EQ(w->plan.v[i].name, "web");
			return json_object_get(w->plan.v[i].body, "status");
		}
	return NULL;
}

static long long st_int(json_t *status, const char *key)
{
	return ctrl_int(status, key, -1);
}

static const char *allowed_condition(json_t *status, const char *key)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, c)
		if (streq(ctrl_str(c, "type"), "DisruptionAllowed"))
			return ctrl_str(c, key);
	return NULL;
}

TEST(min_available_int_counts_ready_pods)
{
	struct world w = { .pdb = pdb("\"minAvailable\":2", NULL) };
	json_t *st;

	w.pods[w.n_pods++] = pod("a", true, "rs-1");
	w.pods[w.n_pods++] = pod("b", true, "rs-1");
	w.pods[w.n_pods++] = pod("c", true, NULL);
	w.pods[w.n_pods++] = pod("d", false, "rs-1");
	st = compute(&w, NULL);
	CHECK(st != NULL);
	CHECK_INT_EQ(st_int(st, "expectedPods"), 4);
	CHECK_INT_EQ(st_int(st, "desiredHealthy"), 2);
	CHECK_INT_EQ(st_int(st, "currentHealthy"), 3);
	CHECK_INT_EQ(st_int(st, "disruptionsAllowed"), 1);
	CHECK_INT_EQ(st_int(st, "observedGeneration"), 2);
	CHECK_STR_EQ(allowed_condition(st, "status"), "True");
	CHECK_STR_EQ(allowed_condition(st, "reason"), "SufficientPods");
	/* An integer minAvailable needs no controllers: no event. */
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_EVENT, NULL), 0);
	world_free(&w);
}

TEST(max_unavailable_percent_scales_by_the_deployment_over_its_replicaset)
{
	struct world w = { .pdb = pdb("\"maxUnavailable\":\"25%\"", NULL) };
	json_t *st;

	/* rs-1 belongs to deployment d-1 with 5 replicas: 25% of 5 rounds up
	 * to 2 unavailable, so 3 must stay healthy. */
	w.owners[w.n_owners++] = J("{\"metadata\":{\"name\":\"web-x\",\"uid\":\"rs-1\",\"ownerReferences\":"
				   "[{\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"d-1\",\"controller\":true}]},"
				   "\"spec\":{\"replicas\":5}}");
	w.owners[w.n_owners++] = J("{\"metadata\":{\"name\":\"web\",\"uid\":\"d-1\"},\"spec\":{\"replicas\":5}}");
	for (int i = 0; i < 4; i++) {
		char n[8];

		snprintf(n, sizeof(n), "p%d", i);
		w.pods[w.n_pods++] = pod(n, true, "rs-1");
	}
	st = compute(&w, NULL);
	CHECK(st != NULL);
	CHECK_INT_EQ(st_int(st, "expectedPods"), 5);
	CHECK_INT_EQ(st_int(st, "desiredHealthy"), 3);
	CHECK_INT_EQ(st_int(st, "currentHealthy"), 4);
	CHECK_INT_EQ(st_int(st, "disruptionsAllowed"), 1);
	world_free(&w);
}

TEST(too_few_healthy_allows_nothing_and_says_insufficient)
{
	struct world w = { .pdb = pdb("\"minAvailable\":\"100%\"", NULL) };
	json_t *st;

	w.owners[w.n_owners++] = J("{\"metadata\":{\"name\":\"web\",\"uid\":\"rs-1\"},\"spec\":{\"replicas\":2}}");
	w.pods[w.n_pods++] = pod("a", true, "rs-1");
	w.pods[w.n_pods++] = pod("b", false, "rs-1");
	st = compute(&w, NULL);
	CHECK_INT_EQ(st_int(st, "desiredHealthy"), 2);
	CHECK_INT_EQ(st_int(st, "currentHealthy"), 1);
	CHECK_INT_EQ(st_int(st, "disruptionsAllowed"), 0);
	CHECK_STR_EQ(allowed_condition(st, "status"), "False");
	CHECK_STR_EQ(allowed_condition(st, "reason"), "InsufficientPods");
	world_free(&w);
}

TEST(a_missing_controller_fails_safe_keeping_the_old_counts)
{
	struct world w = { .pdb = pdb("\"maxUnavailable\":1",
				      "{\"disruptionsAllowed\":3,\"currentHealthy\":4,\"observedGeneration\":1}") };
	json_t *st;

	w.pods[w.n_pods++] = pod("a", true, "rs-gone");
	st = compute(&w, NULL);
	CHECK(st != NULL);
	CHECK_INT_EQ(st_int(st, "disruptionsAllowed"), 0);
	CHECK_INT_EQ(st_int(st, "currentHealthy"), 4);
	CHECK_INT_EQ(st_int(st, "observedGeneration"), 1);
	CHECK_STR_EQ(allowed_condition(st, "reason"), "SyncFailed");
	CHECK_STR_EQ(allowed_condition(st, "message"), "found no controllers for pod \"a\"");
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_EVENT, "poddisruptionbudgets.policy"), 1);
	world_free(&w);
}

TEST(evicted_pods_stay_out_of_healthy_until_their_timeout)
{
	char fresh[32], stale[32], status[256];
	struct world w;
	time_t recheck = 0;
	json_t *st;

	ctrl_time_format(NOW - 30, fresh);
	ctrl_time_format(NOW - CTRL_DISRUPTION_DELETION_TIMEOUT - 1, stale);
	snprintf(status, sizeof(status), "{\"disruptedPods\":{\"a\":\"%s\",\"b\":\"%s\"}}", fresh, stale);
	w = (struct world){ .pdb = pdb("\"minAvailable\":1", status) };
	w.pods[w.n_pods++] = pod("a", true, "rs-1");
	w.pods[w.n_pods++] = pod("b", true, "rs-1");
	w.pods[w.n_pods++] = pod("c", true, "rs-1");
	st = compute(&w, &recheck);
	/* a: evicted 30 s ago, not counted and kept; b: its eviction expired,
	 * counted again with a NotDeleted event on the pod. */
	CHECK_INT_EQ(st_int(st, "currentHealthy"), 2);
	CHECK_INT_EQ(st_int(st, "disruptionsAllowed"), 1);
	CHECK_STR_EQ(ctrl_str(st, "disruptedPods.a"), fresh);
	CHECK(ctrl_get(st, "disruptedPods.b") == NULL);
	CHECK_INT_EQ(recheck, NOW - 30 + CTRL_DISRUPTION_DELETION_TIMEOUT);
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_EVENT, "pods"), 1);
	world_free(&w);
}

TEST(terminating_and_unselected_pods_do_not_count)
{
	struct world w = { .pdb = pdb("\"minAvailable\":1", NULL) };
	json_t *st, *other = pod("z", true, "rs-1");

	w.pods[w.n_pods++] = pod("a", true, "rs-1");
	w.pods[w.n_pods++] = pod("b", true, "rs-1");
	json_object_set_new(json_object_get(w.pods[1], "metadata"), "deletionTimestamp",
			    json_string("2027-01-15T08:00:00Z"));
	json_object_set_new(json_object_get(other, "metadata"), "labels", J("{\"app\":\"db\"}"));
	w.pods[w.n_pods++] = other;
	st = compute(&w, NULL);
	CHECK_INT_EQ(st_int(st, "expectedPods"), 2);
	CHECK_INT_EQ(st_int(st, "currentHealthy"), 1);
	CHECK_INT_EQ(st_int(st, "disruptionsAllowed"), 0);
	world_free(&w);
}

TEST(no_pods_is_an_event_and_allows_nothing)
{
	struct world w = { .pdb = pdb("\"maxUnavailable\":1", NULL) };
	json_t *st = compute(&w, NULL);

	CHECK_INT_EQ(st_int(st, "expectedPods"), 0);
	CHECK_INT_EQ(st_int(st, "disruptionsAllowed"), 0);
	CHECK_INT_EQ(ctrl_plan_count(&w.plan, CTRL_EVENT, "poddisruptionbudgets.policy"), 1);
	CHECK_STR_EQ(w.plan.v[0].reason, "NoPods");
	world_free(&w);
}

TEST(an_unchanged_status_plans_no_write)
{
	struct world w = { .pdb = pdb("\"minAvailable\":1", NULL) };
	json_t *st;

	w.pods[w.n_pods++] = pod("a", true, "rs-1");
	w.pods[w.n_pods++] = pod("b", true, "rs-1");
	st = compute(&w, NULL);
	CHECK(st != NULL);
	json_object_set(w.pdb, "status", st);
	ctrl_plan_clear(&w.plan);
	CHECK(compute(&w, NULL) == NULL);
	CHECK_INT_EQ(w.plan.n, 0);
	world_free(&w);
}

TEST(eviction_condition_helper_keeps_transition_time)
{
	json_t *s = J("{\"disruptionsAllowed\":1,\"observedGeneration\":3}");

	ctrl_pdb_allowed_condition(s, NOW);
	CHECK_STR_EQ(allowed_condition(s, "lastTransitionTime"), "2027-01-15T08:00:00Z");
	ctrl_pdb_allowed_condition(s, NOW + 60);
	CHECK_STR_EQ(allowed_condition(s, "lastTransitionTime"), "2027-01-15T08:00:00Z");
	json_object_set_new(s, "disruptionsAllowed", json_integer(0));
	ctrl_pdb_allowed_condition(s, NOW + 60);
	CHECK_STR_EQ(allowed_condition(s, "status"), "False");
	CHECK_STR_EQ(allowed_condition(s, "lastTransitionTime"), "2027-01-15T08:01:00Z");
	json_decref(s);
}
