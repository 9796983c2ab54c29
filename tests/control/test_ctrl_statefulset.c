/* The StatefulSet controller's compute step, one behaviour per test. */
#include <stdbool.h>
#include <stdlib.h>

#include "control/ctrl_statefulset.h"
#include "tests/control/ctrl_workload_test.h"

/* A StatefulSet "web" of the given replicas with extra spec fields (ending
 * in a comma) and an image that names the template's version. */
static json_t *sts(int replicas, const char *spec, const char *image)
{
	return J("{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web',"
		 "'namespace':'shop','uid':'sts-uid','generation':3},'spec':{'replicas':%d,%s"
		 "'serviceName':'web-headless','selector':{'matchLabels':{'app':'web'}},"
		 "'template':{'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{"
		 "'name':'c','image':'%s'}]}}}}",
		 replicas, spec, image);
}

/* The revision name of a StatefulSet's current template. */
static const char *rev_of(json_t *s)
{
	static char bufs[2][64];
	static int n;
	char hash[16], *b = bufs[n++ % 2];

	ctrl_template_hash(ctrl_get(s, "spec.template"), -1, hash);
	snprintf(b, 64, "web-%s", hash);
	return b;
}

/* Pod web-<ord> of revision rev; state: "ready", "unready", "failed",
 * "terminating". */
static json_t *spod(int ord, const char *rev, const char *state)
{
	bool ready = streq(state, "ready") || streq(state, "terminating");

	return J("{'metadata':{'name':'web-%d','namespace':'shop',%s'labels':{'app':'web',"
		 "'controller-revision-hash':'%s'},'ownerReferences':[{'controller':true,"
		 "'uid':'sts-uid'}]},'status':{'phase':'%s','conditions':[{'type':'Ready',"
		 "'status':'%s','lastTransitionTime':'%s'}]}}",
		 ord, streq(state, "terminating") ? "'deletionTimestamp':'2026-12-07T00:00:00Z'," : "",
		 rev, streq(state, "failed") ? "Failed" : "Running", ready ? "True" : "False", at(0));
}

struct run {
	struct ctrl_plan p;
	struct sts_result res;
	json_t *status;
};

static struct run sync_sts(json_t *s, json_t **pods, size_t n, json_t **revs, size_t n_revs)
{
	struct sts_input in = { s, pods, n, revs, n_revs, (time_t)(T0 + 1000) };
	struct run r = { .p = CTRL_PLAN_INIT };
	struct ctrl_action *st;

	CHECK_OK(sts_compute(&in, &r.p, &r.res));
	st = nth(&r.p, CTRL_UPDATE_STATUS, STS_RESOURCE, 0);
	r.status = st ? json_object_get(st->body, "status") : NULL;
	return r;
}

TEST(first_pod_has_a_stable_name_and_dns_identity)
{
	json_t *s = sts(3, "", "v1");
	struct run r = sync_sts(s, NULL, 0, NULL, 0);
	struct ctrl_action *c = nth(&r.p, CTRL_CREATE, "pods", 0);
	json_t *labels = ctrl_get(c->body, "metadata.labels");

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	CHECK_STR_EQ(c->name, "web-0");
	CHECK_STR_EQ(ctrl_str(c->body, "metadata.name"), "web-0");
	CHECK_STR_EQ(ctrl_str(c->body, "spec.hostname"), "web-0");
	CHECK_STR_EQ(ctrl_str(c->body, "spec.subdomain"), "web-headless");
	CHECK_STR_EQ(json_string_value(json_object_get(labels, STS_POD_NAME_LABEL)), "web-0");
	CHECK_STR_EQ(json_string_value(json_object_get(labels, STS_POD_INDEX_LABEL)), "0");
	CHECK_STR_EQ(json_string_value(json_object_get(labels, CTRL_REVISION_HASH_LABEL)), rev_of(s));
	CHECK(ctrl_controlled_by(c->body, s));
	CHECK_STR_EQ(event_of(&r.p, "SuccessfulCreate")->message,
		     "create Pod web-0 in StatefulSet web successful");
	CHECK_STR_EQ(ctrl_str(nth(&r.p, CTRL_CREATE, CTRL_REVISION_RESOURCE, 0)->body,
			      "metadata.name"), rev_of(s));
	CHECK_INT_EQ(ctrl_int(r.status, "replicas", -1), 0); /* counted once it exists */
	CHECK_STR_EQ(ctrl_str(r.status, "updateRevision"), rev_of(s));
	ctrl_plan_clear(&r.p);
}

TEST(ordered_ready_waits_for_predecessors_to_be_running_and_ready)
{
	json_t *s = sts(3, "", "v1");
	json_t *pods[] = { spod(0, rev_of(s), "unready") };
	struct run r = sync_sts(s, pods, 1, NULL, 0);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	ctrl_plan_clear(&r.p);
	json_decref(pods[0]);
	pods[0] = spod(0, rev_of(s), "ready");
	r = sync_sts(s, pods, 1, NULL, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 1);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_CREATE, "pods", 0)), "web-1");
	ctrl_plan_clear(&r.p);
}

TEST(min_ready_seconds_hold_the_next_ordinal_and_requeue)
{
	json_t *s = sts(2, "'minReadySeconds':1100,", "v1");
	json_t *pod = spod(0, rev_of(s), "ready"); /* ready since T0, now T0+1000 */
	struct run r = sync_sts(s, &pod, 1, NULL, 0);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	CHECK_INT_EQ(r.res.requeue_after, 100);
	CHECK_INT_EQ(ctrl_int(r.status, "availableReplicas", -1), 0);
	ctrl_plan_clear(&r.p);
}

TEST(parallel_creates_every_missing_pod_at_once)
{
	json_t *s = sts(3, "'podManagementPolicy':'Parallel',", "v1");
	json_t *pod = spod(1, rev_of(s), "unready");
	struct run r = sync_sts(s, &pod, 1, NULL, 0);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 2);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_CREATE, "pods", 0)), "web-0");
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_CREATE, "pods", 1)), "web-2");
	ctrl_plan_clear(&r.p);
}

TEST(scale_down_removes_the_highest_ordinal_first_one_at_a_time)
{
	json_t *s = sts(1, "", "v1");
	const char *v = rev_of(s);
	json_t *pods[] = { spod(0, v, "ready"), spod(1, v, "ready"), spod(2, v, "ready") };
	struct run r = sync_sts(s, pods, 3, NULL, 0);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 1);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "web-2");
	CHECK_STR_EQ(event_of(&r.p, "SuccessfulDelete")->message,
		     "delete Pod web-2 in StatefulSet web successful");
	ctrl_plan_clear(&r.p);
	json_decref(pods[2]);
	pods[2] = spod(2, v, "terminating");
	r = sync_sts(s, pods, 3, NULL, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 0);
	ctrl_plan_clear(&r.p);
}

TEST(scale_down_waits_for_unhealthy_replicas_but_not_for_the_first_unhealthy_pod)
{
	json_t *s = sts(2, "", "v1");
	const char *v = rev_of(s);
	json_t *pods[] = { spod(0, v, "unready"), spod(1, v, "ready"), spod(2, v, "ready") };
	struct run r = sync_sts(s, pods, 3, NULL, 0);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 0);
	ctrl_plan_clear(&r.p);
	json_decref(pods[0]);
	pods[0] = spod(0, v, "ready");
	json_decref(pods[2]);
	pods[2] = spod(2, v, "unready"); /* the first unhealthy pod: it may go */
	r = sync_sts(s, pods, 3, NULL, 0);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "web-2");
	ctrl_plan_clear(&r.p);
	s = sts(0, "", "v1");
	json_decref(pods[1]);
	pods[1] = spod(1, v, "unready"); /* web-2 unhealthy but not the first: wait */
	r = sync_sts(s, pods, 3, NULL, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 0);
	ctrl_plan_clear(&r.p);
	s = sts(0, "'podManagementPolicy':'Parallel',", "v1");
	r = sync_sts(s, pods, 3, NULL, 0);
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 3);
	ctrl_plan_clear(&r.p);
}

TEST(failed_pods_are_deleted_to_be_made_again)
{
	json_t *s = sts(2, "", "v1");
	json_t *pods[] = { spod(0, rev_of(s), "failed"), spod(1, rev_of(s), "ready") };
	struct run r = sync_sts(s, pods, 2, NULL, 0);

	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "web-0");
	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_CREATE, "pods"), 0);
	ctrl_plan_clear(&r.p);
	r = sync_sts(s, &pods[1], 1, NULL, 0);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_CREATE, "pods", 0)), "web-0");
	ctrl_plan_clear(&r.p);
}

/* Pods of v1 on a set now at v2, with v1's revision known as current. */
static struct run rolling(const char *spec, json_t **pods, const char *states[3])
{
	json_t *v1 = sts(3, "", "v1"), *v2 = sts(3, spec, "v2");
	json_t *rev = ctrl_revision_new(v1, rev_of(v1) + 4, 1);

	json_object_set_new(v2, "status", J("{'currentRevision':'%s'}", rev_of(v1)));
	for (int i = 0; i < 3; i++)
		pods[i] = spod(i, strcmp(states[i], "new") == 0 ? rev_of(v2) : rev_of(v1),
			       strcmp(states[i], "new") == 0 ? "ready" : states[i]);
	return sync_sts(v2, pods, 3, &rev, 1);
}

TEST(rolling_update_replaces_the_highest_ordinal_first)
{
	json_t *pods[3];
	const char *states[] = { "ready", "ready", "ready" };
	struct run r = rolling("", pods, states);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 1);
	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "web-2");
	CHECK_INT_EQ(ctrl_int(r.status, "currentReplicas", -1), 2); /* upstream: less the one deleted */
	CHECK_INT_EQ(ctrl_int(r.status, "updatedReplicas", -1), 0);
	ctrl_plan_clear(&r.p);
}

TEST(rolling_update_moves_down_once_the_updated_pod_is_healthy)
{
	json_t *pods[3];
	const char *states[] = { "ready", "ready", "new" };
	struct run r = rolling("", pods, states);

	CHECK_STR_EQ(aname(nth(&r.p, CTRL_DELETE, "pods", 0)), "web-1");
	CHECK_INT_EQ(ctrl_int(r.status, "updatedReplicas", -1), 1);
	ctrl_plan_clear(&r.p);
}

#define PARTITION_1 "'updateStrategy':{'type':'RollingUpdate','rollingUpdate':{'partition':1}},"

TEST(rolling_update_stops_at_the_partition)
{
	json_t *pods[3];
	const char *states[] = { "ready", "new", "new" };
	struct run r = rolling(PARTITION_1, pods, states);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 0);
	CHECK_INT_EQ(ctrl_int(r.status, "updatedReplicas", -1), 2);
	CHECK_INT_EQ(ctrl_int(r.status, "currentReplicas", -1), 1);
	ctrl_plan_clear(&r.p);
}

TEST(pods_below_the_partition_are_made_from_the_current_revision)
{
	json_t *v1 = sts(3, "", "v1"), *v2 = sts(3, PARTITION_1, "v2");
	json_t *rev = ctrl_revision_new(v1, rev_of(v1) + 4, 1);
	json_t *pods[] = { spod(1, rev_of(v2), "ready"), spod(2, rev_of(v2), "ready") };
	struct ctrl_action *c;
	struct run r;

	json_object_set_new(v2, "status", J("{'currentRevision':'%s'}", rev_of(v1)));
	r = sync_sts(v2, pods, 2, &rev, 1);
	c = nth(&r.p, CTRL_CREATE, "pods", 0);
	CHECK_STR_EQ(aname(c), "web-0");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(c->body, "metadata.labels"),
						       CTRL_REVISION_HASH_LABEL)), rev_of(v1));
	CHECK_STR_EQ(ctrl_str(json_array_get(ctrl_get(c->body, "spec.containers"), 0), "image"), "v1");
	CHECK(ctrl_get(c->body, "$patch") == NULL);
	ctrl_plan_clear(&r.p);
}

TEST(on_delete_leaves_old_pods_until_deleted)
{
	json_t *pods[3];
	const char *states[] = { "ready", "ready", "ready" };
	struct run r = rolling("'updateStrategy':{'type':'OnDelete'},", pods, states);

	CHECK_INT_EQ(ctrl_plan_count(&r.p, CTRL_DELETE, "pods"), 0);
	ctrl_plan_clear(&r.p);
}

TEST(a_finished_rollout_makes_the_update_revision_current)
{
	json_t *pods[3];
	const char *states[] = { "new", "new", "new" };
	struct run r = rolling("", pods, states);

	CHECK_INT_EQ(ctrl_int(r.status, "updatedReplicas", -1), 3);
	CHECK_INT_EQ(ctrl_int(r.status, "currentReplicas", -1), 3);
	CHECK_INT_EQ(ctrl_int(r.status, "readyReplicas", -1), 3);
	CHECK_STR_EQ(ctrl_str(r.status, "currentRevision"), ctrl_str(r.status, "updateRevision"));
	CHECK_INT_EQ(ctrl_int(r.status, "observedGeneration", -1), 3);
	ctrl_plan_clear(&r.p);
}

TEST(volume_claim_templates_are_refused_until_storage_exists)
{
	json_t *plain = sts(1, "", "v1");
	json_t *claims = sts(1, "'volumeClaimTemplates':[{'metadata':{'name':'data'}}],", "v1");
	char err[256] = "";

	CHECK_OK(sts_validate_create(plain, err, sizeof(err)));
	CHECK_INT_EQ(sts_validate_create(claims, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "spec.volumeClaimTemplates: Forbidden");
}

TEST(a_settled_statefulset_writes_nothing)
{
	json_t *s = sts(2, "", "v1");
	json_t *pods[] = { spod(0, rev_of(s), "ready"), spod(1, rev_of(s), "ready") };
	struct run r = sync_sts(s, pods, 2, NULL, 0);
	json_t *rev = json_deep_copy(nth(&r.p, CTRL_CREATE, CTRL_REVISION_RESOURCE, 0)->body);

	CHECK_INT_EQ(ctrl_int(r.status, "replicas", -1), 2);
	CHECK_INT_EQ(ctrl_int(r.status, "readyReplicas", -1), 2);
	json_object_set(s, "status", r.status);
	ctrl_plan_clear(&r.p);
	r = sync_sts(s, pods, 2, &rev, 1);
	CHECK_INT_EQ(r.p.n, 0);
}
