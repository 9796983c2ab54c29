/* The namespace controller's compute step: a deleted namespace turns
 * Terminating, its content is deleted, and once empty it is finalized. */
#include "control/ctrl_namespace.h"
#include "tests/control/ctrl_test.h"
#include "tests/harness/test.h"

#define T0 "2026-12-07T06:00:00Z"
#define NS(status)                                                                        \
	"{\"metadata\":{\"name\":\"shop\",\"uid\":\"n1\",\"resourceVersion\":\"4\","         \
	"\"deletionTimestamp\":\"" T0 "\"},\"spec\":{\"finalizers\":[\"kubernetes\"]}"       \
	status "}"
#define POD(name, extra)                                                                  \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"uid\":\"" name "\"" \
	extra "}}"

static json_t *condition(const struct ctrl_action *a, const char *type)
{
	return a ? ctrl_condition(a->body, type) : NULL;
}

TEST(active_namespace_is_left_alone)
{
	json_t *ns = tobj("{\"metadata\":{\"name\":\"shop\"},\"spec\":{\"finalizers\":"
			  "[\"kubernetes\"]}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(namespace_compute(ns, NULL, 0, tat(T0), &p));
	CHECK_INT_EQ(p.n, 0);
	json_decref(ns);
}

TEST(deleted_namespace_turns_terminating_and_its_content_is_deleted)
{
	json_t *ns = tobj(NS(""));
	json_t *pods[] = { tobj(POD("a", "")), tobj(POD("b", ",\"deletionTimestamp\":\"" T0 "\"")) };
	struct ns_content c[] = { { "pods", pods, 2, NULL }, { "services", NULL, 0, NULL } };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *st;

	CHECK_OK(namespace_compute(ns, c, 2, tat(T0), &p));
	st = tfind(&p, CTRL_UPDATE_STATUS, "namespaces");
	CHECK(st != NULL);
	CHECK_STR_EQ(ctrl_str(st->body, "status.phase"), "Terminating");
	CHECK_STR_EQ(ctrl_str(condition(st, "NamespaceContentRemaining"), "status"), "True");
	CHECK_STR_EQ(ctrl_str(condition(st, "NamespaceContentRemaining"), "message"),
		     "Some resources are remaining: pods has 2 resource instances");
	CHECK_STR_EQ(ctrl_str(condition(st, "NamespaceDeletionContentFailure"), "reason"),
		     "ContentDeleted");
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, "pods"), 1);
	CHECK_STR_EQ(tfind(&p, CTRL_DELETE, "pods")->name, "a");
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE, "namespaces"), 0);
	ctrl_plan_clear(&p);
	json_decref(ns);
	json_decref(pods[0]);
	json_decref(pods[1]);
}

TEST(finalizers_left_on_the_content_are_named_with_their_counts)
{
	json_t *ns = tobj(NS(""));
	json_t *pods[] = { tobj(POD("a", ",\"finalizers\":[\"x.io/b\",\"x.io/a\"]")),
			   tobj(POD("b", ",\"finalizers\":[\"x.io/b\"]")) };
	struct ns_content c[] = { { "pods", pods, 2, NULL } };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(namespace_compute(ns, c, 1, tat(T0), &p));
	CHECK_STR_EQ(ctrl_str(condition(tfind(&p, CTRL_UPDATE_STATUS, "namespaces"),
					 "NamespaceFinalizersRemaining"), "message"),
		     "Some content in the namespace has finalizers remaining: x.io/a in 1 "
		     "resource instances, x.io/b in 2 resource instances");
	ctrl_plan_clear(&p);
	json_decref(ns);
	json_decref(pods[0]);
	json_decref(pods[1]);
}

TEST(a_failed_resource_sets_content_failure)
{
	json_t *ns = tobj(NS(""));
	struct ns_content c[] = { { "pods", NULL, 0, "pods: 503 Service Unavailable" } };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	json_t *cond;

	CHECK_OK(namespace_compute(ns, c, 1, tat(T0), &p));
	cond = condition(tfind(&p, CTRL_UPDATE_STATUS, "namespaces"),
			 "NamespaceDeletionContentFailure");
	CHECK_STR_EQ(ctrl_str(cond, "status"), "True");
	CHECK_STR_EQ(ctrl_str(cond, "message"), "Failed to delete all resource types, 1 "
						"remaining: pods: 503 Service Unavailable");
	ctrl_plan_clear(&p);
	json_decref(ns);
}

TEST(empty_namespace_is_finalized_through_the_subresource)
{
	json_t *ns = tobj(NS(""));
	struct ns_content c[] = { { "pods", NULL, 0, NULL } };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *fin;

	CHECK_OK(namespace_compute(ns, c, 1, tat(T0), &p));
	fin = tfind(&p, CTRL_UPDATE, "namespaces");
	CHECK(fin != NULL);
	CHECK_STR_EQ(fin->subresource, "finalize");
	CHECK_STR_EQ(fin->name, "shop");
	CHECK_INT_EQ(json_array_size(ctrl_get(fin->body, "spec.finalizers")), 0);
	CHECK(ctrl_get(fin->body, "metadata.resourceVersion") == NULL);
	CHECK_STR_EQ(ctrl_str(condition(tfind(&p, CTRL_UPDATE_STATUS, "namespaces"),
					 "NamespaceContentRemaining"), "reason"), "ContentRemoved");
	ctrl_plan_clear(&p);
	json_decref(ns);
}

TEST(status_already_written_is_not_written_again)
{
	json_t *ns = tobj(NS("")), *again;
	json_t *pods[] = { tobj(POD("a", "")) };
	struct ns_content c[] = { { "pods", pods, 1, NULL } };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(namespace_compute(ns, c, 1, tat(T0), &p));
	again = json_incref(tfind(&p, CTRL_UPDATE_STATUS, "namespaces")->body);
	ctrl_plan_clear(&p);
	CHECK_OK(namespace_compute(again, c, 1, tat("2026-12-07T06:00:30Z"), &p));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, NULL), 0);
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, "pods"), 1);
	ctrl_plan_clear(&p);
	json_decref(again);
	json_decref(ns);
	json_decref(pods[0]);
}

TEST(finalized_namespace_is_left_to_the_api_server)
{
	json_t *ns = tobj("{\"metadata\":{\"name\":\"shop\",\"deletionTimestamp\":\"" T0 "\"},"
			  "\"spec\":{\"finalizers\":[]}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(namespace_compute(ns, NULL, 0, tat(T0), &p));
	CHECK_INT_EQ(p.n, 0);
	json_decref(ns);
}
