/* The EndpointSlice controller's compute step (control/ctrl_endpointslice.c):
 * one behaviour of upstream's reconciler per test, objects built from JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl.h"
#include "lib/util.h"
#include "tests/control/ctrl_test.h"

#define SLICES "endpointslices.discovery.k8s.io"

#define SVC_META "\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"svc-uid\"}"

static json_t *svc_web(void)
{
	return obj("{" SVC_META ",\"spec\":{\"clusterIP\":\"10.96.0.10\",\"ipFamilies\":[\"IPv4\"],"
		   "\"selector\":{\"app\":\"web\"},"
		   "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\",\"targetPort\":8080}]}}");
}

struct world {
	json_t *svc;
	json_t *pods[400];
	size_t n_pods;
	json_t *slices[64];
	size_t n_slices;
	struct ctrl_plan p;
	int seq;
};

static void world_free(struct world *w)
{
	ctrl_plan_clear(&w->p);
	for (size_t i = 0; i < w->n_pods; i++)
		json_decref(w->pods[i]);
	for (size_t i = 0; i < w->n_slices; i++)
		json_decref(w->slices[i]);
	json_decref(w->svc);
}

static int compute_max(struct world *w, size_t max)
{
	struct eps_input in = { .svc = w->svc, .pods = w->pods, .n_pods = w->n_pods,
				.slices = w->slices, .n_slices = w->n_slices, .max_per_slice = max };

	ctrl_plan_clear(&w->p);
	return eps_compute(&in, &w->p);
}

static int compute(struct world *w)
{
	return compute_max(w, 0);
}

static json_t *find_slice(struct world *w, const char *name)
{
	for (size_t i = 0; i < w->n_slices; i++)
		if (!strcmp(json_string_value(ctrl_get(w->slices[i], "metadata.name")), name))
			return w->slices[i];
	return NULL;
}

/* Plays the API server: creates get a name, updates replace, deletes go. */
static void apply(struct world *w)
{
	for (size_t i = 0; i < w->p.n; i++) {
		struct ctrl_action *a = &w->p.v[i];
		json_t *s;

		CHECK_STR_EQ(a->resource, SLICES);
		if (a->verb == CTRL_CREATE) {
			char name[64];

			s = json_deep_copy(a->body);
			snprintf(name, sizeof(name), "web-%d", ++w->seq);
			json_object_set_new(json_object_get(s, "metadata"), "name", json_string(name));
			w->slices[w->n_slices++] = s;
		} else if (a->verb == CTRL_UPDATE) {
			for (size_t j = 0; j < w->n_slices; j++)
				if (!strcmp(json_string_value(ctrl_get(w->slices[j], "metadata.name")),
					    a->name)) {
					json_decref(w->slices[j]);
					w->slices[j] = json_deep_copy(a->body);
				}
		} else if (a->verb == CTRL_DELETE) {
			for (size_t j = 0; j < w->n_slices; j++)
				if (!strcmp(json_string_value(ctrl_get(w->slices[j], "metadata.name")),
					    a->name)) {
					json_decref(w->slices[j]);
					w->slices[j] = w->slices[--w->n_slices];
					break;
				}
		}
	}
}

static size_t total_endpoints(struct world *w)
{
	size_t n = 0;

	for (size_t i = 0; i < w->n_slices; i++)
		n += json_array_size(json_object_get(w->slices[i], "endpoints"));
	return n;
}

static json_t *first_endpoint(struct ctrl_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (json_array_size(json_object_get(p->v[i].body, "endpoints")))
			return json_array_get(json_object_get(p->v[i].body, "endpoints"), 0);
	return NULL;
}

TEST(ready_pod_becomes_a_ready_endpoint_in_a_new_slice)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	json_t *s, *ep;

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_INT_EQ(compute(&w), 0);
	CHECK_INT_EQ(w.p.n, 1);
	CHECK_INT_EQ(w.p.v[0].verb, CTRL_CREATE);
	s = w.p.v[0].body;
	CHECK_STR_EQ(ctrl_str(s, "metadata.generateName"), "web-");
	CHECK_STR_EQ(ctrl_str(s, "addressType"), "IPv4");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(s, "metadata.labels"),
						       "kubernetes.io/service-name")), "web");
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(s, "metadata.labels"),
			"endpointslice.kubernetes.io/managed-by")), "endpointslice-controller.k8s.io");
	CHECK_STR_EQ(ctrl_str(json_array_get(ctrl_get(s, "metadata.ownerReferences"), 0), "uid"),
		     "svc-uid");
	CHECK_INT_EQ(ctrl_int(json_array_get(json_object_get(s, "ports"), 0), "port", 0), 8080);
	ep = json_array_get(json_object_get(s, "endpoints"), 0);
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(ep, "addresses"), 0)),
		     "10.0.0.5");
	CHECK(json_is_true(ctrl_get(ep, "conditions.ready")));
	CHECK(json_is_true(ctrl_get(ep, "conditions.serving")));
	CHECK(json_is_false(ctrl_get(ep, "conditions.terminating")));
	CHECK_STR_EQ(ctrl_str(ep, "nodeName"), "node-1");
	CHECK_STR_EQ(ctrl_str(ep, "targetRef.name"), "web-a");
	CHECK_STR_EQ(ctrl_str(ep, "targetRef.uid"), "uid-web-a");
}

TEST(unready_pod_is_neither_ready_nor_serving)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	json_t *ep;

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "False");
	CHECK_OK(compute(&w));
	ep = first_endpoint(&w.p);
	CHECK(ep);
	CHECK(json_is_false(ctrl_get(ep, "conditions.ready")));
	CHECK(json_is_false(ctrl_get(ep, "conditions.serving")));
}

TEST(terminating_ready_pod_is_serving_but_not_ready)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	json_t *ep;

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	json_object_set_new(ctrl_get(w.pods[0], "metadata"), "deletionTimestamp",
			    json_string("2026-12-07T06:00:00Z"));
	CHECK_OK(compute(&w));
	ep = first_endpoint(&w.p);
	CHECK(ep);
	CHECK(json_is_false(ctrl_get(ep, "conditions.ready")));
	CHECK(json_is_true(ctrl_get(ep, "conditions.serving")));
	CHECK(json_is_true(ctrl_get(ep, "conditions.terminating")));
}

TEST(publish_not_ready_addresses_makes_unready_pods_ready)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	json_t *ep;

	json_object_set_new(ctrl_get(w.svc, "spec"), "publishNotReadyAddresses", json_true());
	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "False");
	CHECK_OK(compute(&w));
	ep = first_endpoint(&w.p);
	CHECK(json_is_true(ctrl_get(ep, "conditions.ready")));
	CHECK(json_is_false(ctrl_get(ep, "conditions.serving")));
}

TEST(pods_not_selected_without_ip_or_finished_are_left_out)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	w.pods[w.n_pods++] = pod("no-ip", "", "False");
	w.pods[w.n_pods++] = pod("other", "10.0.0.6", "True");
	json_object_set_new(ctrl_get(w.pods[1], "metadata.labels"), "app", json_string("db"));
	w.pods[w.n_pods++] = pod("done", "10.0.0.7", "False");
	json_object_set_new(ctrl_get(w.pods[2], "status"), "phase", json_string("Succeeded"));
	CHECK_OK(compute(&w));
	/* nothing to publish: one empty placeholder slice */
	CHECK_INT_EQ(w.p.n, 1);
	CHECK_INT_EQ(json_array_size(json_object_get(w.p.v[0].body, "endpoints")), 0);
	CHECK_INT_EQ(json_array_size(json_object_get(w.p.v[0].body, "ports")), 0);
}

TEST(placeholder_slice_is_kept_not_recreated)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	CHECK_OK(compute(&w));
	apply(&w);
	CHECK_INT_EQ(w.n_slices, 1);
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(w.p.n, 0);
}

TEST(named_target_port_with_different_numbers_splits_slices)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	json_object_set_new(json_array_get(ctrl_get(w.svc, "spec.ports"), 0), "targetPort",
			    json_string("http"));
	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	w.pods[w.n_pods++] = pod("web-b", "10.0.0.6", "True");
	json_object_set_new(json_array_get(json_object_get(json_array_get(
				ctrl_get(w.pods[1], "spec.containers"), 0), "ports"), 0),
			    "containerPort", json_integer(9090));
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(ctrl_plan_count(&w.p, CTRL_CREATE, SLICES), 2);
	apply(&w);
	for (size_t i = 0; i < w.n_slices; i++) {
		json_t *s = w.slices[i];
		long long port = ctrl_int(json_array_get(json_object_get(s, "ports"), 0), "port", 0);
		const char *who = ctrl_str(json_array_get(json_object_get(s, "endpoints"), 0),
					   "targetRef.name");

		CHECK_INT_EQ(port, !strcmp(who, "web-a") ? 8080 : 9090);
	}
}

TEST(pod_without_the_named_port_gets_an_endpoint_without_that_port)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	json_object_set_new(json_array_get(ctrl_get(w.svc, "spec.ports"), 0), "targetPort",
			    json_string("metrics"));
	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(w.p.n, 1);
	CHECK_INT_EQ(json_array_size(json_object_get(w.p.v[0].body, "ports")), 0);
	CHECK_INT_EQ(json_array_size(json_object_get(w.p.v[0].body, "endpoints")), 1);
}

TEST(dual_stack_service_gets_one_slice_per_family)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	json_t *p6;

	json_object_set_new(ctrl_get(w.svc, "spec"), "ipFamilies", json_pack("[s,s]", "IPv4", "IPv6"));
	w.pods[w.n_pods++] = p6 = pod("web-a", "10.0.0.5", "True");
	json_array_append_new(ctrl_get(p6, "status.podIPs"), json_pack("{s:s}", "ip", "fd00::5"));
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(w.p.n, 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *s = w.p.v[i].body;
		const char *a = json_string_value(json_array_get(
			json_object_get(json_array_get(json_object_get(s, "endpoints"), 0), "addresses"), 0));

		CHECK_STR_EQ(a, !strcmp(ctrl_str(s, "addressType"), "IPv6") ? "fd00::5" : "10.0.0.5");
	}
}

TEST(slices_hold_at_most_100_endpoints)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	char name[32], ip[32];

	for (int i = 0; i < 250; i++) {
		snprintf(name, sizeof(name), "web-%d", i);
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 200, i % 200 + 1);
		w.pods[w.n_pods++] = pod(name, ip, "True");
	}
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(ctrl_plan_count(&w.p, CTRL_CREATE, SLICES), 3);
	apply(&w);
	CHECK_INT_EQ(total_endpoints(&w), 250);
	for (size_t i = 0; i < w.n_slices; i++)
		CHECK(json_array_size(json_object_get(w.slices[i], "endpoints")) <= 100);
}

TEST(unchanged_pods_plan_nothing)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	w.pods[w.n_pods++] = pod("web-b", "10.0.0.6", "False");
	CHECK_OK(compute(&w));
	apply(&w);
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(w.p.n, 0);
}

TEST(pod_turning_unready_updates_its_slice_in_place)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	json_t *ep;

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_OK(compute(&w));
	apply(&w);
	json_object_set_new(json_array_get(ctrl_get(w.pods[0], "status.conditions"), 0), "status",
			    json_string("False"));
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(w.p.n, 1);
	CHECK_INT_EQ(w.p.v[0].verb, CTRL_UPDATE);
	CHECK_STR_EQ(w.p.v[0].name, "web-1");
	ep = json_array_get(json_object_get(w.p.v[0].body, "endpoints"), 0);
	CHECK(json_is_false(ctrl_get(ep, "conditions.ready")));
}

TEST(new_pod_fills_an_existing_slice_before_creating_one)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_OK(compute(&w));
	apply(&w);
	w.pods[w.n_pods++] = pod("web-b", "10.0.0.6", "True");
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(w.p.n, 1);
	CHECK_INT_EQ(w.p.v[0].verb, CTRL_UPDATE);
	CHECK_INT_EQ(json_array_size(json_object_get(w.p.v[0].body, "endpoints")), 2);
}

TEST(slice_of_pods_that_left_is_reused_for_new_ports)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_OK(compute(&w));
	apply(&w);
	/* new target port: the old slice's ports are no longer wanted; its
	 * delete and the new slice's create pair into one update */
	json_object_set_new(json_array_get(ctrl_get(w.svc, "spec.ports"), 0), "targetPort",
			    json_integer(8081));
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(w.p.n, 1);
	CHECK_INT_EQ(w.p.v[0].verb, CTRL_UPDATE);
	CHECK_STR_EQ(w.p.v[0].name, "web-1");
	CHECK_INT_EQ(ctrl_int(json_array_get(json_object_get(w.p.v[0].body, "ports"), 0), "port", 0),
		     8081);
}

TEST(last_pod_gone_empties_to_the_placeholder)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_OK(compute(&w));
	apply(&w);
	json_decref(w.pods[0]);
	w.n_pods = 0;
	CHECK_OK(compute(&w));
	apply(&w);
	CHECK_INT_EQ(w.n_slices, 1);
	CHECK_INT_EQ(total_endpoints(&w), 0);
	CHECK(find_slice(&w, "web-1"));
}

TEST(service_without_selector_is_left_alone)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	json_object_del(ctrl_get(w.svc, "spec"), "selector");
	w.slices[w.n_slices++] = obj("{\"metadata\":{\"name\":\"web-manual\",\"labels\":{"
				     "\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\"}");
	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_INT_EQ(compute(&w), 0);
	CHECK_INT_EQ(w.p.n, 0);
}

static json_t *empty_slice(const char *name, const char *manager, const char *family)
{
	return obj("{\"metadata\":{\"name\":\"%s\",\"labels\":{\"kubernetes.io/service-name\":\"web\","
		   "\"endpointslice.kubernetes.io/managed-by\":\"%s\"}},"
		   "\"addressType\":\"%s\",\"endpoints\":[]}", name, manager, family);
}

TEST(slices_of_another_manager_are_left_alone)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	w.slices[w.n_slices++] = empty_slice("web-mirror", "someone-else", "IPv6");
	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(ctrl_plan_count(&w.p, CTRL_DELETE, NULL), 0);
	CHECK_INT_EQ(ctrl_plan_count(&w.p, CTRL_CREATE, SLICES), 1);
}

TEST(slice_of_a_family_the_service_lost_is_deleted)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };

	w.slices[w.n_slices++] = empty_slice("web-v6", EPS_MANAGED_BY, "IPv6");
	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(ctrl_plan_count(&w.p, CTRL_DELETE, SLICES), 1);
	CHECK_INT_EQ(ctrl_plan_count(&w.p, CTRL_CREATE, SLICES), 1);
}

TEST(headless_service_slices_carry_the_headless_label_and_hostname)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	json_t *ep;

	json_object_set_new(ctrl_get(w.svc, "spec"), "clusterIP", json_string("None"));
	json_object_del(ctrl_get(w.svc, "spec"), "ports");
	w.pods[w.n_pods++] = pod("web-0", "10.0.0.5", "True");
	json_object_set_new(ctrl_get(w.pods[0], "spec"), "hostname", json_string("web-0"));
	json_object_set_new(ctrl_get(w.pods[0], "spec"), "subdomain", json_string("web"));
	CHECK_OK(compute(&w));
	CHECK_INT_EQ(w.p.n, 1);
	CHECK_STR_EQ(json_string_value(json_object_get(ctrl_get(w.p.v[0].body, "metadata.labels"),
						       "service.kubernetes.io/headless")), "");
	ep = first_endpoint(&w.p);
	CHECK_STR_EQ(ctrl_str(ep, "hostname"), "web-0");
}

static json_t *node_named(void *ud, const char *name)
{
	return !strcmp(ctrl_str(ud, "metadata.name"), name) ? ud : NULL;
}

TEST(zone_comes_from_the_node_and_missing_node_skips_the_pod)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	json_t *node = obj("{\"metadata\":{\"name\":\"node-1\",\"labels\":{"
			   "\"topology.kubernetes.io/zone\":\"zone-a\"}}}");
	struct eps_input in = { .svc = w.svc, .pods = w.pods, .node_get = node_named, .node_ud = node };
	json_t *ep;

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	w.pods[w.n_pods++] = pod("web-b", "10.0.0.6", "True");
	json_object_set_new(ctrl_get(w.pods[1], "spec"), "nodeName", json_string("gone"));
	in.n_pods = w.n_pods;
	CHECK_INT_EQ(eps_compute(&in, &w.p), 1);
	CHECK_INT_EQ(json_array_size(json_object_get(w.p.v[0].body, "endpoints")), 1);
	ep = first_endpoint(&w.p);
	CHECK_STR_EQ(ctrl_str(ep, "zone"), "zone-a");
	json_decref(node);
}

TEST(trigger_time_is_annotated)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	struct eps_input in = { .svc = w.svc, .pods = w.pods, .trigger_time = 1796623200 };
	json_t *ann;

	w.pods[w.n_pods++] = pod("web-a", "10.0.0.5", "True");
	in.n_pods = w.n_pods;
	CHECK_OK(eps_compute(&in, &w.p));
	ann = ctrl_get(w.p.v[0].body, "metadata.annotations");
	CHECK_STR_EQ(json_string_value(json_object_get(
			     ann, "endpoints.kubernetes.io/last-change-trigger-time")),
		     "2026-12-07T06:00:00Z");
}

/* Random pod churn (readiness flips, pods leaving and coming back, IPs
 * appearing): after each applied plan every published pod is in exactly
 * one slice with its current readiness, no slice is over the limit, and
 * computing again plans nothing (one sync converges). */
TEST(random_churn_converges_in_one_sync_with_every_pod_once)
{
	_cleanup_(world_free) struct world w = { .svc = svc_web() };
	char name[32], ip[32];
	unsigned seed = 7;

	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "web-%d", i);
		snprintf(ip, sizeof(ip), "10.2.%d.%d", i / 200, i % 200 + 1);
		w.pods[w.n_pods++] = pod(name, ip, i % 3 ? "True" : "False");
	}
	for (int step = 0; step < 60; step++) {
		for (int k = 0; k < 25; k++) {
			json_t *p = w.pods[rand_r(&seed) % w.n_pods];
			json_t *c = json_array_get(ctrl_get(p, "status.conditions"), 0);

			if (rand_r(&seed) % 4)
				json_object_set_new(c, "status", json_string(rand_r(&seed) % 2 ? "True" : "False"));
			else
				json_object_set_new(ctrl_get(p, "status"), "phase",
						    json_string(rand_r(&seed) % 2 ? "Running" : "Failed"));
		}
		CHECK_OK(compute_max(&w, 20));
		apply(&w);
		CHECK_OK(compute_max(&w, 20));
		CHECK_INT_EQ(w.p.n, 0);
		size_t want = 0, seen = 0;

		for (size_t i = 0; i < w.n_pods; i++)
			want += strcmp(ctrl_str(w.pods[i], "status.phase"), "Failed") != 0;
		for (size_t i = 0; i < w.n_slices; i++) {
			json_t *eps = json_object_get(w.slices[i], "endpoints"), *ep;
			size_t j;

			CHECK(json_array_size(eps) <= 20);
			json_array_foreach(eps, j, ep) {
				const char *who = ctrl_str(ep, "targetRef.name");
				json_t *p = NULL;

				for (size_t k = 0; k < w.n_pods; k++)
					if (!strcmp(ctrl_str(w.pods[k], "metadata.name"), who))
						p = w.pods[k];
				CHECK(p);
				CHECK(json_is_true(ctrl_get(ep, "conditions.ready")) == ctrl_pod_ready(p, NULL));
				seen++;
			}
		}
		CHECK_INT_EQ(seen, want);
	}
}
