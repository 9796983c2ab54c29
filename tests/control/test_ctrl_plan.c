/* The plan a controller's compute step returns: actions keep their order,
 * own their bodies, and are counted by verb and resource. */
#include <errno.h>
#include <string.h>

#include "control/ctrl_plan.h"
#include "tests/harness/test.h"

TEST(plan_keeps_order_and_counts_by_verb)
{
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(ctrl_plan_add(&p, CTRL_CREATE, "pods", "default", NULL, json_object()));
	CHECK_OK(ctrl_plan_add(&p, CTRL_DELETE, "pods", "default", "web-1", NULL));
	CHECK_OK(ctrl_plan_event(&p, "replicasets.apps", "default", "web", "Normal",
				 "SuccessfulCreate", "Created pod: %s", "web-2"));
	CHECK_INT_EQ(p.n, 3);
	CHECK_INT_EQ(p.v[0].verb, CTRL_CREATE);
	CHECK_STR_EQ(p.v[1].name, "web-1");
	CHECK_STR_EQ(p.v[2].message, "Created pod: web-2");
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_CREATE, "pods"), 1);
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_DELETE, NULL), 1);
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_CREATE, "services"), 0);
	ctrl_plan_clear(&p);
	CHECK_INT_EQ(p.n, 0);
}

TEST(plan_refuses_a_name_too_long)
{
	struct ctrl_plan p = CTRL_PLAN_INIT;
	char name[300];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	CHECK_INT_EQ(ctrl_plan_add(&p, CTRL_CREATE, "pods", "default", name, json_object()),
		     -ENAMETOOLONG);
	CHECK_INT_EQ(p.n, 0);
	ctrl_plan_clear(&p);
}

TEST(plan_keeps_the_subresource)
{
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(ctrl_plan_add_sub(&p, CTRL_CREATE, "pods", "binding", "default", "web-1",
				   json_object()));
	CHECK_OK(ctrl_plan_add(&p, CTRL_CREATE, "pods", "default", "web-2", json_object()));
	CHECK_STR_EQ(p.v[0].subresource, "binding");
	CHECK(p.v[1].subresource == NULL);
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_CREATE, "pods"), 2);
	ctrl_plan_clear(&p);
}

TEST(plan_names_the_subresource_of_an_action)
{
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(ctrl_plan_add(&p, CTRL_DELETE, "pods", "default", "web-1", NULL));
	CHECK_OK(ctrl_plan_add_sub(&p, CTRL_UPDATE, "namespaces", "finalize", NULL, "shop",
				   json_object()));
	CHECK(p.v[0].subresource == NULL);
	CHECK_STR_EQ(p.v[1].subresource, "finalize");
	CHECK_STR_EQ(p.v[1].name, "shop");
	ctrl_plan_clear(&p);
}
