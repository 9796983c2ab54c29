/* L2 announcements: who announces each LoadBalancer and external IP
 * (l2_plan_compute): every agent must compute the same owner from the same
 * objects, only Ready Nodes own, and when an owner goes only its
 * addresses move. */
#include "tests/harness/test.h"
#include "dataplane/l2_announce.h"
#include "lib/util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void put_json(struct model_store *st, const char *text)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	struct model_object mo;
	struct model_error e;

	if (!o)
		test_fail(__FILE__, __LINE__, "json: %s: %s", je.text, text);
	if (model_object_parse(o, &mo, &e) < 0)
		test_fail(__FILE__, __LINE__, "%s", e.msg);
	CHECK_OK(model_store_put(st, "test", mo.kind, mo.obj));
	json_decref(o);
}

static void put_node(struct model_store *st, const char *name, const char *ready)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},"
		 "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		 name, ready);
	put_json(st, buf);
}

/* A Service of TYPE with one externalIP and one ingress IP. */
static void put_service(struct model_store *st, const char *name, const char *type,
			const char *external_ip, const char *ingress_ip)
{
	char buf[512];

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
		 "\"namespace\":\"default\"},\"spec\":{\"type\":\"%s\",\"clusterIP\":\"10.96.0.20\","
		 "\"externalIPs\":[\"%s\"],\"ports\":[{\"port\":80}]},"
		 "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"%s\"}]}}}",
		 name, type, external_ip, ingress_ip);
	put_json(st, buf);
}

static const char *owner_of(const struct l2_plan *p, const char *addr)
{
	struct ipaddr a;
	const struct l2_entry *e;

	CHECK_OK(ipaddr_parse(addr, &a));
	e = l2_plan_find(p, &a);
	CHECK(e != NULL);
	return e->owner ? e->owner : "(none)";
}

TEST(l2_plan_takes_ingress_and_external_ips_once_each)
{
	struct model_store *st = NULL;
	struct l2_plan p;
	struct ipaddr a;

	CHECK_OK(model_store_new(&st));
	put_node(st, "n1", "True");
	put_service(st, "web", "LoadBalancer", "192.0.2.10", "192.0.2.20");
	/* a ClusterIP Service's stale ingress IP is not served, so not announced */
	put_service(st, "old", "ClusterIP", "2001:db8::10", "192.0.2.30");
	/* the same address in two Services: once, with the first by key */
	put_service(st, "alt", "LoadBalancer", "192.0.2.10", "192.0.2.21");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_INT_EQ(p.n, 4);
	CHECK_STR_EQ(owner_of(&p, "192.0.2.10"), "n1");
	CHECK_STR_EQ(l2_plan_find(&p, &p.v[0].addr)->service, "default/alt");
	CHECK_STR_EQ(owner_of(&p, "192.0.2.20"), "n1");
	CHECK_STR_EQ(owner_of(&p, "192.0.2.21"), "n1");
	CHECK_STR_EQ(owner_of(&p, "2001:db8::10"), "n1");
	CHECK_OK(ipaddr_parse("192.0.2.30", &a));
	CHECK(l2_plan_find(&p, &a) == NULL);
	l2_plan_clear(&p);
	model_store_free(st);
}

TEST(l2_plan_only_ready_nodes_announce)
{
	struct model_store *st = NULL;
	struct l2_plan p;

	CHECK_OK(model_store_new(&st));
	put_node(st, "n1", "False");
	put_node(st, "n2", "Unknown");
	put_service(st, "web", "LoadBalancer", "192.0.2.10", "192.0.2.20");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_STR_EQ(owner_of(&p, "192.0.2.10"), "(none)");
	l2_plan_clear(&p);
	put_node(st, "n2", "True");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_STR_EQ(owner_of(&p, "192.0.2.10"), "n2");
	CHECK_STR_EQ(owner_of(&p, "192.0.2.20"), "n2");
	l2_plan_clear(&p);
	model_store_free(st);
}

/* externalTrafficPolicy Local: only a node with a ready endpoint of the
 * Service announces (192.168.75.200 hashes to n1 of n1, n2). */
TEST(l2_plan_policy_local_announces_from_a_node_with_an_endpoint)
{
	struct model_store *st = NULL;
	struct l2_plan p;

	CHECK_OK(model_store_new(&st));
	put_node(st, "n1", "True");
	put_node(st, "n2", "True");
	put_json(st, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
		     "\"namespace\":\"default\"},\"spec\":{\"type\":\"LoadBalancer\","
		     "\"clusterIP\":\"10.96.0.20\",\"externalTrafficPolicy\":\"Local\","
		     "\"ports\":[{\"port\":80}]},"
		     "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.168.75.200\"}]}}}");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_STR_EQ(owner_of(&p, "192.168.75.200"), "(none)"); /* no endpoint anywhere */
	l2_plan_clear(&p);
	put_json(st, "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
		     "\"metadata\":{\"name\":\"web-1\",\"namespace\":\"default\",\"labels\":"
		     "{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
		     "\"ports\":[{\"port\":8080}],\"endpoints\":["
		     "{\"addresses\":[\"10.244.1.5\"],\"nodeName\":\"n1\",\"conditions\":{\"ready\":false}},"
		     "{\"addresses\":[\"10.244.2.5\"],\"nodeName\":\"n2\"}]}");
	CHECK_OK(l2_plan_compute(st, &p));
	CHECK_STR_EQ(owner_of(&p, "192.168.75.200"), "n2");
	l2_plan_clear(&p);
	model_store_free(st);
}

#define N_ADDRS 600

/* The owners of 10.9.x.y for N_ADDRS addresses, with nodes n1..n3 put in
 * the order given (n3 NotReady when n3_ready is false). */
static void owners(const char *order, bool n3_ready, char out[N_ADDRS][4])
{
	struct model_store *st = NULL;
	struct l2_plan p;

	CHECK_OK(model_store_new(&st));
	for (const char *c = order; *c; c++) {
		char name[4] = { 'n', *c, 0 };

		put_node(st, name, *c == '3' && !n3_ready ? "False" : "True");
	}
	for (int i = 0; i < N_ADDRS; i++) {
		char svc[32], ip[32], ip2[32];

		snprintf(svc, sizeof(svc), "s%d", i);
		snprintf(ip, sizeof(ip), "10.9.%d.%d", i / 200, i % 200 + 1);
		snprintf(ip2, sizeof(ip2), "10.8.%d.%d", i / 200, i % 200 + 1);
		put_service(st, svc, "LoadBalancer", ip2, ip);
	}
	CHECK_OK(l2_plan_compute(st, &p));
	for (int i = 0; i < N_ADDRS; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.9.%d.%d", i / 200, i % 200 + 1);
		strscpy(out[i], owner_of(&p, ip), 4);
	}
	l2_plan_clear(&p);
	model_store_free(st);
}

TEST(l2_plan_agrees_balances_and_moves_only_the_gone_nodes_addresses)
{
	static char a[N_ADDRS][4], b[N_ADDRS][4], c[N_ADDRS][4];
	int count[4] = { 0 }, moved = 0;

	owners("123", true, a);
	owners("312", true, b); /* another agent, objects in another order */
	for (int i = 0; i < N_ADDRS; i++) {
		CHECK_STR_EQ(a[i], b[i]);
		count[a[i][1] - '0']++;
	}
	/* spread: each node a third, give or take */
	for (int k = 1; k <= 3; k++)
		CHECK(count[k] > N_ADDRS / 4 && count[k] < N_ADDRS * 5 / 12);
	/* n3 goes: its addresses move, no other does */
	owners("123", false, c);
	for (int i = 0; i < N_ADDRS; i++) {
		if (streq(a[i], "n3")) {
			CHECK(!streq(c[i], "n3"));
			moved++;
		} else {
			CHECK_STR_EQ(c[i], a[i]);
		}
	}
	CHECK_INT_EQ(moved, count[3]);
}

TEST(l2_score_depends_on_address_and_node)
{
	struct ipaddr a, b;

	CHECK_OK(ipaddr_parse("192.0.2.10", &a));
	CHECK_OK(ipaddr_parse("192.0.2.11", &b));
	CHECK(l2_score(&a, "n1") == l2_score(&a, "n1"));
	CHECK(l2_score(&a, "n1") != l2_score(&a, "n2"));
	CHECK(l2_score(&a, "n1") != l2_score(&b, "n1"));
}
