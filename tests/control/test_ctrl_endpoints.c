/* The legacy Endpoints object (control/ctrl_endpoints.c): one behaviour of
 * upstream's endpoints controller per test. */
#include <stdio.h>
#include <string.h>

#include "control/ctrl.h"
#include "tests/control/ctrl_test.h"

static json_t *svc_web(void)
{
	return obj("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"svc-uid\","
		   "\"labels\":{\"tier\":\"front\"}},"
		   "\"spec\":{\"clusterIP\":\"10.96.0.10\",\"selector\":{\"app\":\"web\"},"
		   "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\",\"targetPort\":8080}]}}");
}

static json_t *subset(struct ctrl_plan *p, size_t i)
{
	return json_array_get(json_object_get(p->v[0].body, "subsets"), i);
}

TEST(ready_and_unready_pods_split_into_addresses_and_not_ready_addresses)
{
	json_t *svc = svc_web(), *pods[] = { pod("a", "10.0.0.5", "True"), pod("b", "10.0.0.6", "False") };
	struct ctrl_plan p = CTRL_PLAN_INIT;
	json_t *ss;

	CHECK_OK(endpoints_compute(svc, pods, 2, NULL, 0, &p));
	CHECK_INT_EQ(p.n, 1);
	CHECK_INT_EQ(p.v[0].verb, CTRL_CREATE);
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "metadata.name"), "web");
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "metadata.labels.tier"), "front");
	ss = subset(&p, 0);
	CHECK_INT_EQ(json_array_size(json_object_get(p.v[0].body, "subsets")), 1);
	CHECK_STR_EQ(ctrl_str(json_array_get(json_object_get(ss, "addresses"), 0), "ip"), "10.0.0.5");
	CHECK_STR_EQ(ctrl_str(json_array_get(json_object_get(ss, "addresses"), 0), "nodeName"), "node-1");
	CHECK_STR_EQ(ctrl_str(json_array_get(json_object_get(ss, "addresses"), 0), "targetRef.name"), "a");
	CHECK_STR_EQ(ctrl_str(json_array_get(json_object_get(ss, "notReadyAddresses"), 0), "ip"),
		     "10.0.0.6");
	CHECK_INT_EQ(ctrl_int(json_array_get(json_object_get(ss, "ports"), 0), "port", 0), 8080);
	CHECK_STR_EQ(ctrl_str(json_array_get(json_object_get(ss, "ports"), 0), "name"), "http");
	ctrl_plan_clear(&p);
}

TEST(terminating_pods_are_left_out_unless_published)
{
	json_t *svc = svc_web(), *pods[] = { pod("a", "10.0.0.5", "True") };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	json_object_set_new(ctrl_get(pods[0], "metadata"), "deletionTimestamp",
			    json_string("2026-12-07T06:00:00Z"));
	CHECK_OK(endpoints_compute(svc, pods, 1, NULL, 0, &p));
	CHECK(!json_object_get(p.v[0].body, "subsets"));
	ctrl_plan_clear(&p);
	json_object_set_new(ctrl_get(svc, "spec"), "publishNotReadyAddresses", json_true());
	CHECK_OK(endpoints_compute(svc, pods, 1, NULL, 0, &p));
	CHECK_INT_EQ(json_array_size(json_object_get(subset(&p, 0), "addresses")), 1);
	ctrl_plan_clear(&p);
}

TEST(pods_with_different_port_numbers_form_different_subsets)
{
	json_t *svc = svc_web(), *pods[] = { pod("a", "10.0.0.5", "True"), pod("b", "10.0.0.6", "True") };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	json_object_set_new(json_array_get(ctrl_get(svc, "spec.ports"), 0), "targetPort",
			    json_string("http"));
	json_object_set_new(json_array_get(json_object_get(json_array_get(
				ctrl_get(pods[1], "spec.containers"), 0), "ports"), 0),
			    "containerPort", json_integer(9090));
	CHECK_OK(endpoints_compute(svc, pods, 2, NULL, 0, &p));
	CHECK_INT_EQ(json_array_size(json_object_get(p.v[0].body, "subsets")), 2);
	ctrl_plan_clear(&p);
}

TEST(ports_with_the_same_addresses_share_one_subset)
{
	json_t *svc = svc_web(), *pods[] = { pod("a", "10.0.0.5", "True") };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	json_array_append_new(ctrl_get(svc, "spec.ports"),
			      json_pack("{s:s, s:i, s:i}", "name", "admin", "port", 81, "targetPort", 9000));
	CHECK_OK(endpoints_compute(svc, pods, 1, NULL, 0, &p));
	CHECK_INT_EQ(json_array_size(json_object_get(p.v[0].body, "subsets")), 1);
	CHECK_INT_EQ(json_array_size(json_object_get(subset(&p, 0), "ports")), 2);
	ctrl_plan_clear(&p);
}

TEST(unchanged_endpoints_plan_nothing)
{
	json_t *svc = svc_web(), *pods[] = { pod("a", "10.0.0.5", "True") }, *ex;
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(endpoints_compute(svc, pods, 1, NULL, 0, &p));
	ex = json_deep_copy(p.v[0].body);
	ctrl_plan_clear(&p);
	CHECK_OK(endpoints_compute(svc, pods, 1, ex, 0, &p));
	CHECK_INT_EQ(p.n, 0);
	json_object_set_new(json_array_get(ctrl_get(pods[0], "status.conditions"), 0), "status",
			    json_string("False"));
	CHECK_OK(endpoints_compute(svc, pods, 1, ex, 1796623200, &p));
	CHECK_INT_EQ(p.n, 1);
	CHECK_INT_EQ(p.v[0].verb, CTRL_UPDATE);
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(p.v[0].body, "metadata.annotations"),
			"endpoints.kubernetes.io/last-change-trigger-time")), "2026-12-07T06:00:00Z");
	ctrl_plan_clear(&p);
}

TEST(over_1000_addresses_are_truncated_and_annotated)
{
	json_t *svc = svc_web(), *pods[1200];
	struct ctrl_plan p = CTRL_PLAN_INIT;
	char name[32], ip[32];
	json_t *ss;

	for (int i = 0; i < 1200; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250 + 1);
		pods[i] = pod(name, ip, i < 900 ? "True" : "False");
	}
	CHECK_OK(endpoints_compute(svc, pods, 1200, NULL, 0, &p));
	ss = subset(&p, 0);
	/* every ready address kept, the not ready ones cut to the rest */
	CHECK_INT_EQ(json_array_size(json_object_get(ss, "addresses")), 900);
	CHECK_INT_EQ(json_array_size(json_object_get(ss, "notReadyAddresses")), 100);
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(p.v[0].body, "metadata.annotations"),
			"endpoints.kubernetes.io/over-capacity")), "truncated");
	ctrl_plan_clear(&p);
}

TEST(headless_service_without_ports_lists_addresses_and_is_labelled)
{
	json_t *svc = svc_web(), *pods[] = { pod("a", "10.0.0.5", "True") };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	json_object_set_new(ctrl_get(svc, "spec"), "clusterIP", json_string("None"));
	json_object_del(ctrl_get(svc, "spec"), "ports");
	CHECK_OK(endpoints_compute(svc, pods, 1, NULL, 0, &p));
	CHECK_INT_EQ(json_array_size(json_object_get(subset(&p, 0), "addresses")), 1);
	CHECK(!json_object_get(subset(&p, 0), "ports"));
	CHECK(json_object_get(ctrl_get(p.v[0].body, "metadata.labels"), "service.kubernetes.io/headless"));
	ctrl_plan_clear(&p);
}

TEST(service_without_selector_gets_no_endpoints_written)
{
	json_t *svc = svc_web(), *pods[] = { pod("a", "10.0.0.5", "True") };
	struct ctrl_plan p = CTRL_PLAN_INIT;

	json_object_del(ctrl_get(svc, "spec"), "selector");
	CHECK_OK(endpoints_compute(svc, pods, 1, NULL, 0, &p));
	CHECK_INT_EQ(p.n, 0);
}
