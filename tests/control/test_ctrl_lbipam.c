/* LoadBalancer IPs' compute step: addresses from the pools, kept across
 * restarts, requested ones honoured, released on type change, other
 * classes left alone, AllocationFailed when exhausted. */
#include <errno.h>

#include "control/ctrl_lbipam.h"
#include "tests/control/ctrl_test.h"
#include "tests/harness/test.h"

#define SVC(name, spec, status)                                                           \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"uid\":\"" name "\"}," \
	"\"spec\":{\"type\":\"LoadBalancer\"" spec "},\"status\":{" status "}}"
#define HOLDS(ip) "\"loadBalancer\":{\"ingress\":[{\"ip\":\"" ip "\"}]}"

static void config(struct lbipam_config *cfg, const char *v4, const char *v6)
{
	*cfg = (struct lbipam_config){ 0 };
	if (v4)
		ipcidr_parse(v4, &cfg->pools[cfg->n_pools++], NULL);
	if (v6)
		ipcidr_parse(v6, &cfg->pools[cfg->n_pools++], NULL);
}

static const char *ingress_ip(const struct ctrl_action *a, size_t i)
{
	return a ? ctrl_str(json_array_get(ctrl_get(a->body, "status.loadBalancer.ingress"), i),
			    "ip")
		 : NULL;
}

static void free_all(json_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(v[i]);
}

TEST(new_service_gets_the_lowest_free_address_and_an_event)
{
	struct lbipam_config cfg;
	json_t *svcs[] = { tobj(SVC("a", "", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "192.0.2.0/30", NULL);
	CHECK_OK(lbipam_compute(&cfg, svcs, 1, &p));
	CHECK_STR_EQ(ingress_ip(tfind(&p, CTRL_UPDATE_STATUS, "services"), 0), "192.0.2.0");
	CHECK(thas_event(&p, "IPAllocated"));
	CHECK_STR_EQ(tfind(&p, CTRL_EVENT, "services")->message, "Assigned IP [\"192.0.2.0\"]");
	ctrl_plan_clear(&p);
	free_all(svcs, 1);
}

TEST(held_addresses_survive_a_restart_and_are_not_given_twice)
{
	struct lbipam_config cfg;
	json_t *svcs[] = { tobj(SVC("b", "", "")), tobj(SVC("a", "", HOLDS("192.0.2.0"))) };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *st;

	config(&cfg, "192.0.2.0/30", NULL);
	CHECK_OK(lbipam_compute(&cfg, svcs, 2, &p));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, NULL), 1);
	st = tfind(&p, CTRL_UPDATE_STATUS, "services");
	CHECK_STR_EQ(st ? st->name : NULL, "b");
	CHECK_STR_EQ(ingress_ip(st, 0), "192.0.2.1");
	ctrl_plan_clear(&p);
	free_all(svcs, 2);
}

TEST(requested_address_is_honoured_when_in_the_pool_and_free)
{
	struct lbipam_config cfg;
	json_t *svcs[] = { tobj(SVC("a", ",\"loadBalancerIP\":\"192.0.2.3\"", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "192.0.2.0/30", NULL);
	CHECK_OK(lbipam_compute(&cfg, svcs, 1, &p));
	CHECK_STR_EQ(ingress_ip(tfind(&p, CTRL_UPDATE_STATUS, "services"), 0), "192.0.2.3");
	ctrl_plan_clear(&p);
	free_all(svcs, 1);
}

TEST(requested_address_taken_or_outside_the_pool_fails)
{
	struct lbipam_config cfg;
	json_t *svcs[] = { tobj(SVC("a", "", HOLDS("192.0.2.3"))),
			   tobj(SVC("b", ",\"loadBalancerIP\":\"192.0.2.3\"", "")),
			   tobj(SVC("c", ",\"loadBalancerIP\":\"198.51.100.1\"", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "192.0.2.0/30", NULL);
	CHECK_OK(lbipam_compute(&cfg, svcs, 3, &p));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, NULL), 0);
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_EVENT, "services"), 2);
	CHECK_STR_EQ(p.v[0].reason, "AllocationFailed");
	CHECK_STR_CONTAINS(p.v[0].message, "already in use");
	CHECK_STR_CONTAINS(p.v[1].message, "not in the pool");
	ctrl_plan_clear(&p);
	free_all(svcs, 3);
}

TEST(exhausted_pool_gives_allocation_failed)
{
	struct lbipam_config cfg;
	json_t *svcs[] = { tobj(SVC("a", "", "")), tobj(SVC("b", "", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "192.0.2.7/32", NULL);
	CHECK_OK(lbipam_compute(&cfg, svcs, 2, &p));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, NULL), 1);
	CHECK_STR_EQ(p.v[p.n - 1].reason, "AllocationFailed");
	CHECK_STR_EQ(p.v[p.n - 1].message, "Failed to allocate IP for \"shop/b\": no available IPs");
	ctrl_plan_clear(&p);
	free_all(svcs, 2);
}

TEST(type_change_clears_the_status_and_frees_the_address)
{
	struct lbipam_config cfg;
	json_t *svcs[] = {
		tobj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"shop\"},\"spec\":{\"type\":"
		     "\"ClusterIP\"},\"status\":{" HOLDS("192.0.2.7") "}}"),
		tobj(SVC("b", "", "")),
	};
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "192.0.2.7/32", NULL);
	CHECK_OK(lbipam_compute(&cfg, svcs, 2, &p));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, NULL), 2);
	CHECK_STR_EQ(p.v[0].name, "a");
	CHECK_INT_EQ(json_object_size(ctrl_get(p.v[0].body, "status.loadBalancer")), 0);
	CHECK_STR_EQ(ingress_ip(&p.v[1], 0), "192.0.2.7");
	ctrl_plan_clear(&p);
	free_all(svcs, 2);
}

TEST(service_of_another_load_balancer_class_is_left_alone)
{
	struct lbipam_config cfg;
	json_t *svcs[] = { tobj(SVC("a", ",\"loadBalancerClass\":\"example.com/lb\"", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "192.0.2.0/30", NULL);
	CHECK_OK(lbipam_compute(&cfg, svcs, 1, &p));
	CHECK_INT_EQ(p.n, 0);
	cfg.class = "example.com/lb";
	CHECK_OK(lbipam_compute(&cfg, svcs, 1, &p));
	CHECK_INT_EQ(ctrl_plan_count(&p, CTRL_UPDATE_STATUS, NULL), 1);
	ctrl_plan_clear(&p);
	free_all(svcs, 1);
}

TEST(dual_stack_service_gets_one_address_per_family_in_its_order)
{
	struct lbipam_config cfg;
	json_t *svcs[] = { tobj(SVC("a", ",\"ipFamilies\":[\"IPv6\",\"IPv4\"]", "")) };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	const struct ctrl_action *st;

	config(&cfg, "192.0.2.0/30", "2001:db8::/126");
	CHECK_OK(lbipam_compute(&cfg, svcs, 1, &p));
	st = tfind(&p, CTRL_UPDATE_STATUS, "services");
	CHECK_STR_EQ(ingress_ip(st, 0), "2001:db8::");
	CHECK_STR_EQ(ingress_ip(st, 1), "192.0.2.0");
	ctrl_plan_clear(&p);
	free_all(svcs, 1);
}

TEST(two_pools_of_one_family_are_refused)
{
	struct lbipam_config cfg;
	struct ctrl_plan p = CTRL_PLAN_INIT;

	config(&cfg, "192.0.2.0/30", NULL);
	ipcidr_parse("198.51.100.0/30", &cfg.pools[cfg.n_pools++], NULL);
	CHECK_INT_EQ(lbipam_compute(&cfg, NULL, 0, &p), -EINVAL);
}
