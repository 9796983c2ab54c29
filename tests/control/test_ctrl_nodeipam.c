/* Node IPAM's compute step: podCIDRs per family from the cluster CIDRs,
 * rebuilt from the nodes, released when a node goes, CIDRNotAvailable
 * when exhausted. */
#include <errno.h>

#include "control/ctrl_nodeipam.h"
#include "tests/control/ctrl_test.h"
#include "tests/harness/test.h"

#define NODE(name, cidrs) "{\"metadata\":{\"name\":\"" name "\"},\"spec\":{" cidrs "}}"
#define HOLDS(c) "\"podCIDR\":\"" c "\",\"podCIDRs\":[\"" c "\"]"

static void config(struct nodeipam_config *cfg, const char *v4, const char *v6)
{
	*cfg = (struct nodeipam_config){ 0 };
	if (v4)
		ipcidr_parse(v4, &cfg->cidrs[cfg->n_cidrs++], NULL);
	if (v6)
		ipcidr_parse(v6, &cfg->cidrs[cfg->n_cidrs++], NULL);
}

static void free_all(json_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(v[i]);
}

TEST(dual_stack_node_gets_one_block_per_family_in_cluster_cidr_order)
{
	struct nodeipam_config cfg;
	json_t *nodes[] = { tobj(NODE("n1", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	json_t *cidrs;

	config(&cfg, "10.244.0.0/16", "fd00:244::/56");
	CHECK_OK(nodeipam_compute(&cfg, nodes, 1, &p));
	CHECK_INT_EQ(p.n, 1);
	CHECK_INT_EQ(p.v[0].verb, CTRL_PATCH);
	CHECK_STR_EQ(p.v[0].name, "n1");
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "spec.podCIDR"), "10.244.0.0/24");
	cidrs = ctrl_get(p.v[0].body, "spec.podCIDRs");
	CHECK_INT_EQ(json_array_size(cidrs), 2);
	CHECK_STR_EQ(json_string_value(json_array_get(cidrs, 1)), "fd00:244::/64");
	ctrl_plan_clear(&p);
	free_all(nodes, 1);
}

TEST(allocations_are_rebuilt_from_the_nodes_that_hold_them)
{
	struct nodeipam_config cfg;
	json_t *nodes[] = { tobj(NODE("n1", HOLDS("10.244.0.0/24"))), tobj(NODE("n2", "")),
			    tobj(NODE("n3", "\"podCIDR\":\"10.244.1.0/24\"")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "10.244.0.0/16", NULL);
	CHECK_OK(nodeipam_compute(&cfg, nodes, 3, &p));
	CHECK_INT_EQ(p.n, 1);
	CHECK_STR_EQ(p.v[0].name, "n2");
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "spec.podCIDR"), "10.244.2.0/24");
	ctrl_plan_clear(&p);
	free_all(nodes, 3);
}

TEST(block_of_a_node_that_went_is_free_again)
{
	struct nodeipam_config cfg;
	json_t *nodes[] = { tobj(NODE("n2", HOLDS("10.244.1.0/24"))), tobj(NODE("n3", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "10.244.0.0/16", NULL);
	CHECK_OK(nodeipam_compute(&cfg, nodes, 2, &p));
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "spec.podCIDR"), "10.244.0.0/24");
	ctrl_plan_clear(&p);
	free_all(nodes, 2);
}

TEST(mask_size_is_a_parameter)
{
	struct nodeipam_config cfg;
	json_t *nodes[] = { tobj(NODE("n1", HOLDS("10.244.0.0/26"))), tobj(NODE("n2", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "10.244.0.0/16", NULL);
	cfg.mask_v4 = 26;
	CHECK_OK(nodeipam_compute(&cfg, nodes, 2, &p));
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "spec.podCIDR"), "10.244.0.64/26");
	ctrl_plan_clear(&p);
	free_all(nodes, 2);
}

TEST(exhausted_cluster_cidr_gives_cidr_not_available)
{
	struct nodeipam_config cfg;
	json_t *nodes[] = { tobj(NODE("n1", "")), tobj(NODE("n2", "")), tobj(NODE("n3", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "10.244.0.0/23", NULL);
	CHECK_OK(nodeipam_compute(&cfg, nodes, 3, &p));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_PATCH, "nodes"), 2);
	CHECK_INT_EQ(p.v[2].verb, CTRL_EVENT);
	CHECK_STR_EQ(p.v[2].name, "n3");
	CHECK_STR_EQ(p.v[2].reason, "CIDRNotAvailable");
	ctrl_plan_clear(&p);
	free_all(nodes, 3);
}

TEST(two_cluster_cidrs_of_one_family_are_refused)
{
	struct nodeipam_config cfg;
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "10.244.0.0/16", NULL);
	ipcidr_parse("10.245.0.0/16", &cfg.cidrs[cfg.n_cidrs++], NULL);
	CHECK_INT_EQ(nodeipam_compute(&cfg, NULL, 0, &p), -EINVAL);
}
