/* The ReplicaSet controller's compute step (control/ctrl_replicaset.c):
 * one behaviour of upstream's replica_set.go per test. */
#include <stdio.h>
#include <string.h>

#include "control/ctrl.h"
#include "tests/control/ctrl_test.h"

#define NOW 1796623200 /* 2026-12-07T06:00:00Z */

static json_t *rs_web(int replicas)
{
	return obj("{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
		   "\"metadata\":{\"name\":\"web-7d9f\",\"namespace\":\"default\",\"uid\":\"rs-uid\","
		   "\"generation\":2},"
		   "\"spec\":{\"replicas\":%d,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		   "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"front\"},"
		   "\"annotations\":{\"a\":\"b\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}},"
		   "\"status\":{\"replicas\":0}}", replicas);
}

/* A pod of app=web owned by the ReplicaSet. */
static json_t *owned(const char *name, const char *ready)
{
	json_t *p = pod(name, "10.0.0.5", ready);

	json_object_set_new(ctrl_get(p, "metadata"), "ownerReferences",
			    json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1", "kind",
				      "ReplicaSet", "name", "web-7d9f", "uid", "rs-uid", "controller", 1));
	return p;
}

static void set(json_t *o, const char *path, json_t *v)
{
	char buf[256], *dot;

	snprintf(buf, sizeof(buf), "%s", path);
	dot = strrchr(buf, '.');
	if (!dot) {
		json_object_set_new(o, path, v);
		return;
	}
	*dot = 0;
	json_object_set_new(ctrl_get(o, buf), dot + 1, v);
}

static struct ctrl_action *first(struct ctrl_plan *p, enum ctrl_verb verb)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].verb == verb)
			return &p->v[i];
	test_fail(__FILE__, __LINE__, "no action of verb %d in the plan", verb);
}

TEST(missing_pods_are_created_from_the_template_with_an_owner_reference)
{
	json_t *rs = rs_web(3), *ref, *body;
	struct rs_input in = { .rs = rs, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(res.to_create, 3);
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_CREATE, "pods"), 3);
	body = first(&p, CTRL_CREATE)->body;
	CHECK_STR_EQ(ctrl_str(body, "metadata.generateName"), "web-7d9f-");
	CHECK_STR_EQ(ctrl_str(body, "metadata.labels.tier"), "front");
	CHECK_STR_EQ(ctrl_str(body, "metadata.annotations.a"), "b");
	CHECK_STR_EQ(ctrl_str(json_array_get(ctrl_get(body, "spec.containers"), 0), "image"), "busybox");
	ref = json_array_get(ctrl_get(body, "metadata.ownerReferences"), 0);
	CHECK_STR_EQ(ctrl_str(ref, "kind"), "ReplicaSet");
	CHECK_STR_EQ(ctrl_str(ref, "uid"), "rs-uid");
	CHECK(json_is_true(json_object_get(ref, "controller")));
	CHECK(json_is_true(json_object_get(ref, "blockOwnerDeletion")));
	ctrl_plan_clear(&p);
}

TEST(each_create_is_followed_by_its_successful_create_event)
{
	json_t *rs = rs_web(1);
	struct rs_input in = { .rs = rs, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(p.v[0].verb, CTRL_CREATE);
	CHECK_INT_EQ(p.v[1].verb, CTRL_EVENT);
	CHECK_STR_EQ(p.v[1].reason, "SuccessfulCreate");
	CHECK_STR_EQ(p.v[1].resource, "replicasets.apps");
	CHECK_OK(rs_event_created(&p.v[1], "web-7d9f-abcde"));
	CHECK_STR_EQ(p.v[1].message, "Created pod: web-7d9f-abcde");
	ctrl_plan_clear(&p);
}

TEST(creates_per_sync_are_limited_by_burst_replicas)
{
	json_t *rs = rs_web(600);
	struct rs_input in = { .rs = rs, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(res.to_create, 500);
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_CREATE, "pods"), 500);
	ctrl_plan_clear(&p);
}

TEST(slow_start_batches_double_up_to_the_rest)
{
	long long b[16];

	CHECK_INT_EQ(rs_slow_start_batches(10, 1, b, 16), 4);
	CHECK_INT_EQ(b[0], 1);
	CHECK_INT_EQ(b[1], 2);
	CHECK_INT_EQ(b[2], 4);
	CHECK_INT_EQ(b[3], 3);
	CHECK_INT_EQ(rs_slow_start_batches(0, 1, b, 16), 0);
}

TEST(expectations_stop_a_second_sync_from_creating_again)
{
	json_t *rs = rs_web(2);
	struct ctrl_expectations exp = { 0 };
	struct rs_input in = { .rs = rs, .now = NOW, .exp = &exp };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(res.to_create, 2);
	ctrl_plan_clear(&p);
	/* the informer has not shown the pods yet */
	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK(res.skipped_diff);
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_CREATE, NULL), 0);
	ctrl_plan_clear(&p);
	ctrl_expectations_observe_add(&exp);
	CHECK(!ctrl_expectations_satisfied(&exp, NOW));
	ctrl_expectations_observe_add(&exp);
	CHECK(ctrl_expectations_satisfied(&exp, NOW));
}

TEST(expectations_expire_after_five_minutes)
{
	struct ctrl_expectations exp = { 0 };

	ctrl_expectations_expect(&exp, 3, 0, NOW);
	CHECK(!ctrl_expectations_satisfied(&exp, NOW + 300));
	CHECK(ctrl_expectations_satisfied(&exp, NOW + 301));
}

TEST(extra_pods_are_deleted_with_their_events)
{
	json_t *rs = rs_web(1), *pods[] = { owned("a", "True"), owned("b", "False") };
	struct rs_input in = { .rs = rs, .pods = pods, .n_pods = 2, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;
	struct ctrl_action *ev;

	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(res.to_delete, 1);
	CHECK_STR_EQ(first(&p, CTRL_DELETE)->name, "b"); /* the not ready one */
	ev = first(&p, CTRL_EVENT);
	CHECK_STR_EQ(ev->reason, "SuccessfulDelete");
	CHECK_STR_EQ(ev->message, "Deleted pod: b");
	ctrl_plan_clear(&p);
}

static int cmp(json_t *a, json_t *b)
{
	return rs_pod_delete_cmp(a, 1, b, 1, NOW);
}

TEST(delete_order_unscheduled_before_scheduled)
{
	json_t *a = owned("a", "False"), *b = owned("b", "False");

	json_object_del(ctrl_get(a, "spec"), "nodeName");
	CHECK(cmp(a, b) < 0);
	CHECK(cmp(b, a) > 0);
}

TEST(delete_order_pending_before_unknown_before_running)
{
	json_t *a = owned("a", "False"), *b = owned("b", "False"), *c = owned("c", "False");

	set(a, "status.phase", json_string("Pending"));
	set(b, "status.phase", json_string("Unknown"));
	CHECK(cmp(a, b) < 0);
	CHECK(cmp(b, c) < 0);
}

TEST(delete_order_not_ready_before_ready)
{
	CHECK(cmp(owned("a", "False"), owned("b", "True")) < 0);
}

TEST(delete_order_lower_deletion_cost_first)
{
	json_t *a = owned("a", "True"), *b = owned("b", "True");

	set(a, "metadata.annotations", json_pack("{s:s}", "controller.kubernetes.io/pod-deletion-cost", "-5"));
	CHECK(cmp(a, b) < 0);
}

TEST(delete_order_more_pods_on_the_node_first)
{
	CHECK(rs_pod_delete_cmp(owned("a", "True"), 3, owned("b", "True"), 1, NOW) < 0);
}

TEST(scale_down_deletes_from_the_node_crowded_by_sibling_pods)
{
	json_t *rs = rs_web(1), *pods[] = { owned("a", "True"), owned("b", "True") };
	json_t *related[] = { pod("old-1", "10.0.0.7", "True"), pod("old-2", "10.0.0.8", "True") };
	struct rs_input in = { .rs = rs, .pods = pods, .n_pods = 2, .related = related,
			       .n_related = 2, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	set(pods[1], "spec.nodeName", json_string("node-2"));
	set(related[0], "spec.nodeName", json_string("node-2"));
	set(related[1], "spec.nodeName", json_string("node-2"));
	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_STR_EQ(first(&p, CTRL_DELETE)->name, "b");
	ctrl_plan_clear(&p);
}

TEST(delete_order_ready_more_recently_first)
{
	json_t *a = owned("a", "True"), *b = owned("b", "True");

	set(json_array_get(ctrl_get(a, "status.conditions"), 0), "lastTransitionTime",
	    json_string("2026-12-07T05:59:00Z"));
	set(json_array_get(ctrl_get(b, "status.conditions"), 0), "lastTransitionTime",
	    json_string("2026-12-06T06:00:00Z"));
	CHECK(cmp(a, b) < 0);
	CHECK(cmp(b, a) > 0);
}

TEST(delete_order_more_restarts_first)
{
	json_t *a = owned("a", "False"), *b = owned("b", "False");

	set(a, "status.containerStatuses", json_pack("[{s:s, s:i}]", "name", "c", "restartCount", 4));
	CHECK(cmp(a, b) < 0);
}

TEST(delete_order_newer_first)
{
	json_t *a = owned("a", "False"), *b = owned("b", "False");

	set(a, "metadata.creationTimestamp", json_string("2026-12-07T05:59:00Z"));
	set(b, "metadata.creationTimestamp", json_string("2026-12-01T06:00:00Z"));
	CHECK(cmp(a, b) < 0);
}

TEST(orphans_matching_the_selector_are_adopted_and_counted)
{
	json_t *rs = rs_web(1), *pods[] = { pod("orphan", "10.0.0.5", "True") }, *patch, *ref;
	struct rs_input in = { .rs = rs, .pods = pods, .n_pods = 1, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	set(pods[0], "metadata.resourceVersion", json_string("41"));
	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(res.to_create, 0);
	CHECK_STR_EQ(first(&p, CTRL_PATCH)->name, "orphan");
	patch = first(&p, CTRL_PATCH)->body;
	ref = json_array_get(ctrl_get(patch, "metadata.ownerReferences"), 0);
	CHECK_STR_EQ(ctrl_str(ref, "uid"), "rs-uid");
	CHECK_STR_EQ(ctrl_str(patch, "metadata.uid"), "uid-orphan");
	CHECK_STR_EQ(ctrl_str(patch, "metadata.resourceVersion"), "41");
	ctrl_plan_clear(&p);
}

TEST(owned_pods_the_selector_no_longer_matches_are_released)
{
	json_t *rs = rs_web(1), *pods[] = { owned("a", "True") };
	struct rs_input in = { .rs = rs, .pods = pods, .n_pods = 1, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	set(pods[0], "metadata.labels.app", json_string("debug"));
	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(json_array_size(ctrl_get(first(&p, CTRL_PATCH)->body, "metadata.ownerReferences")), 0);
	CHECK_INT_EQ(res.to_create, 1); /* the released pod no longer counts */
	ctrl_plan_clear(&p);
}

TEST(pods_of_other_controllers_and_finished_pods_do_not_count)
{
	json_t *rs = rs_web(2), *pods[] = { owned("a", "True"), owned("b", "True"), owned("c", "True") };
	struct rs_input in = { .rs = rs, .pods = pods, .n_pods = 3, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	set(json_array_get(ctrl_get(pods[1], "metadata.ownerReferences"), 0), "uid", json_string("other"));
	set(pods[2], "status.phase", json_string("Failed"));
	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_PATCH, NULL), 0);
	CHECK_INT_EQ(res.to_create, 1);
	ctrl_plan_clear(&p);
}

TEST(status_counts_ready_and_available_after_min_ready_seconds)
{
	json_t *rs = rs_web(2), *pods[] = { owned("a", "True"), owned("b", "True") }, *st;
	struct rs_input in = { .rs = rs, .pods = pods, .n_pods = 2, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	set(rs, "spec.minReadySeconds", json_integer(30));
	set(pods[0], "metadata.labels.tier", json_string("front"));
	set(json_array_get(ctrl_get(pods[0], "status.conditions"), 0), "lastTransitionTime",
	    json_string("2026-12-07T05:59:00Z"));
	set(json_array_get(ctrl_get(pods[1], "status.conditions"), 0), "lastTransitionTime",
	    json_string("2026-12-07T05:59:50Z"));
	CHECK_OK(rs_compute(&in, &p, &res));
	st = ctrl_get(first(&p, CTRL_UPDATE_STATUS)->body, "status");
	CHECK_INT_EQ(ctrl_int(st, "replicas", -1), 2);
	CHECK_INT_EQ(ctrl_int(st, "fullyLabeledReplicas", -1), 1);
	CHECK_INT_EQ(ctrl_int(st, "readyReplicas", -1), 2);
	CHECK_INT_EQ(ctrl_int(st, "availableReplicas", -1), 1);
	CHECK_INT_EQ(ctrl_int(st, "observedGeneration", -1), 2);
	CHECK_INT_EQ(res.requeue_after, 30);
	ctrl_plan_clear(&p);
}

TEST(unchanged_status_is_not_written)
{
	json_t *rs = rs_web(1), *pods[] = { owned("a", "False") };
	struct rs_input in = { .rs = rs, .pods = pods, .n_pods = 1, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	set(rs, "status", json_pack("{s:i, s:i, s:i, s:i, s:i}", "replicas", 1, "fullyLabeledReplicas",
				   0, "readyReplicas", 0, "availableReplicas", 0,
				   "observedGeneration", 2));
	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(p.n, 0);
}

TEST(failed_creates_set_and_success_clears_replica_failure)
{
	json_t *rs = rs_web(1), *cond;
	struct rs_input in = { .rs = rs, .now = NOW, .manage_error = "pods \"x\" is forbidden: quota" };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	CHECK_OK(rs_compute(&in, &p, &res));
	cond = json_array_get(ctrl_get(first(&p, CTRL_UPDATE_STATUS)->body, "status.conditions"), 0);
	CHECK_STR_EQ(ctrl_str(cond, "type"), "ReplicaFailure");
	CHECK_STR_EQ(ctrl_str(cond, "reason"), "FailedCreate");
	CHECK_STR_EQ(ctrl_str(cond, "message"), "pods \"x\" is forbidden: quota");
	json_object_set(rs, "status", ctrl_get(first(&p, CTRL_UPDATE_STATUS)->body, "status"));
	ctrl_plan_clear(&p);
	in.manage_error = NULL;
	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK(!ctrl_get(first(&p, CTRL_UPDATE_STATUS)->body, "status.conditions"));
	ctrl_plan_clear(&p);
}

TEST(replica_set_being_deleted_creates_nothing)
{
	json_t *rs = rs_web(3);
	struct rs_input in = { .rs = rs, .now = NOW };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	struct rs_result res;

	set(rs, "metadata.deletionTimestamp", json_string("2026-12-07T06:00:00Z"));
	CHECK_OK(rs_compute(&in, &p, &res));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_CREATE, NULL), 0);
	ctrl_plan_clear(&p);
}
