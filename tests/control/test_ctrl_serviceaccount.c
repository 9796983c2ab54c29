/* The service account controller's compute step: "default" in every
 * active namespace, none in a terminating one. */
#include "control/ctrl_serviceaccount.h"
#include "tests/control/ctrl_test.h"
#include "tests/harness/test.h"

TEST(active_namespace_without_default_gets_one)
{
	json_t *ns = tobj("{\"metadata\":{\"name\":\"shop\"},\"status\":{\"phase\":\"Active\"}}");
	json_t *other = tobj("{\"metadata\":{\"name\":\"builder\",\"namespace\":\"shop\"}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(serviceaccount_compute(ns, &other, 1, &p));
	CHECK_INT_EQ(p.n, 1);
	CHECK_INT_EQ(p.v[0].verb, CTRL_CREATE);
	CHECK_STR_EQ(p.v[0].resource, "serviceaccounts");
	CHECK_STR_EQ(p.v[0].ns, "shop");
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "metadata.name"), "default");
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "kind"), "ServiceAccount");
	ctrl_plan_clear(&p);
	json_decref(ns);
	json_decref(other);
}

TEST(namespace_with_default_is_left_alone)
{
	json_t *ns = tobj("{\"metadata\":{\"name\":\"shop\"}}");
	json_t *sa = tobj("{\"metadata\":{\"name\":\"default\",\"namespace\":\"shop\"}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(serviceaccount_compute(ns, &sa, 1, &p));
	CHECK_INT_EQ(p.n, 0);
	json_decref(ns);
	json_decref(sa);
}

TEST(terminating_namespace_gets_none)
{
	json_t *ns = tobj("{\"metadata\":{\"name\":\"shop\",\"deletionTimestamp\":"
			  "\"2026-12-07T06:00:00Z\"},\"status\":{\"phase\":\"Terminating\"}}");
	json_t *ns2 = tobj("{\"metadata\":{\"name\":\"shop\"},\"status\":{\"phase\":"
			   "\"Terminating\"}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(serviceaccount_compute(ns, NULL, 0, &p));
	CHECK_OK(serviceaccount_compute(ns2, NULL, 0, &p));
	CHECK_INT_EQ(p.n, 0);
	json_decref(ns);
	json_decref(ns2);
}
