/* Names, defaulting and validation hooks of the resource table, and the
 * Table rows built from it. */
#include <jansson.h>
#include <stdlib.h>

#include "control/api.h"
#include "lib/kube_names.h"
#include "tests/harness/test.h"

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	if (!j)
		test_fail(__FILE__, __LINE__, "bad JSON in test: %s", s);
	return j;
}

/* Runs defaults + validation; returns the causes as compact JSON. */
static char *validate(const char *plural, const char *group, const char *text)
{
	const struct api_resource *r = api_resource_find(group, "v1", plural);
	json_t *obj = J(text), *causes = json_array();
	char *s;

	if (!r)
		test_fail(__FILE__, __LINE__, "no resource %s", plural);
	if (r->defaults)
		r->defaults(obj);
	api_validate_meta(r, obj, causes);
	if (r->validate)
		r->validate(obj, causes);
	s = json_dumps(causes, JSON_COMPACT);
	json_decref(obj);
	json_decref(causes);
	return s;
}

TEST(name_rules)
{
	CHECK(kube_dns1123_subdomain_error("web.example-1") == NULL);
	CHECK(kube_dns1123_subdomain_error("Web") != NULL);
	CHECK(kube_dns1123_subdomain_error("a..b") != NULL);
	CHECK(kube_dns1123_subdomain_error("-a") != NULL);
	CHECK(kube_dns1123_label_error("a.b") != NULL);
	CHECK(kube_dns1123_label_error("1abc") == NULL);
	CHECK(kube_dns1035_label_error("1abc") != NULL);
	CHECK(kube_dns1035_label_error("abc-1") == NULL);
	CHECK(kube_dns1123_label_error("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") != NULL);
}

TEST(pod_validation_names_fields)
{
	char *c = validate("pods", "", "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
				       "[{\"name\":\"a\"},{\"name\":\"a\",\"image\":\"x\",\"ports\":"
				       "[{\"containerPort\":70000}]}]}}");

	CHECK_STR_CONTAINS(c, "\"field\":\"spec.containers[0].image\"");
	CHECK_STR_CONTAINS(c, "\"message\":\"Required value\"");
	CHECK_STR_CONTAINS(c, "\"reason\":\"FieldValueDuplicate\",\"message\":\"Duplicate value: \\\"a\\\"\",\"field\":\"spec.containers[1].name\"");
	CHECK_STR_CONTAINS(c, "spec.containers[1].ports[0].containerPort");
	free(c);
	c = validate("pods", "", "{\"metadata\":{\"name\":\"p\"}}");
	CHECK_STR_CONTAINS(c, "\"field\":\"spec\"");
	free(c);
	c = validate("pods", "", "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"b\"}]}}");
	CHECK_STR_EQ(c, "[]");
	free(c);
}

TEST(service_names_follow_rfc1035)
{
	char *c = validate("services", "", "{\"metadata\":{\"name\":\"1web\"},\"spec\":{\"ports\":[{\"port\":80}]}}");

	CHECK_STR_CONTAINS(c, "\"field\":\"metadata.name\"");
	CHECK_STR_CONTAINS(c, "DNS-1035");
	free(c);
	c = validate("services", "", "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"type\":\"Magic\",\"ports\":[{\"port\":80},{\"port\":0}]}}");
	CHECK_STR_CONTAINS(c, "spec.type");
	CHECK_STR_CONTAINS(c, "spec.ports[1].port");
	CHECK_STR_CONTAINS(c, "spec.ports[0].name");
	free(c);
}

TEST(deployment_selector_must_match_template)
{
	char *c = validate("deployments", "apps",
			   "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"selector\":{\"matchLabels\":"
			   "{\"app\":\"x\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"y\"}},"
			   "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}");

	CHECK_STR_CONTAINS(c, "spec.template.metadata.labels");
	CHECK_STR_CONTAINS(c, "`selector` does not match template `labels`");
	free(c);
}

TEST(defaults_fill_what_kubernetes_fills)
{
	const struct api_resource *r = api_resource_find("apps", "v1", "deployments");
	json_t *d = J("{\"metadata\":{\"name\":\"d\"},\"spec\":{\"template\":{\"spec\":"
		      "{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"},{\"name\":\"e\",\"image\":\"x:1.0\"}]}}}}");

	r->defaults(d);
	CHECK_INT_EQ(json_integer_value(api_jget(d, "spec.replicas")), 1);
	CHECK_STR_EQ(api_jstr(d, "spec.strategy.type"), "RollingUpdate");
	CHECK_STR_EQ(api_jstr(d, "spec.strategy.rollingUpdate.maxSurge"), "25%");
	CHECK_STR_EQ(api_jstr(d, "spec.template.spec.restartPolicy"), "Always");
	CHECK_STR_EQ(api_jstr(json_array_get(api_jget(d, "spec.template.spec.containers"), 0),
			      "imagePullPolicy"), "Always");
	CHECK_STR_EQ(api_jstr(json_array_get(api_jget(d, "spec.template.spec.containers"), 1),
			      "imagePullPolicy"), "IfNotPresent");
	json_decref(d);
	r = api_resource_find("", "v1", "secrets");
	d = J("{\"metadata\":{\"name\":\"s\"},\"stringData\":{\"k\":\"hello\"}}");
	r->defaults(d);
	CHECK_STR_EQ(api_jstr(d, "data.k"), "aGVsbG8=");
	CHECK(json_object_get(d, "stringData") == NULL);
	CHECK_STR_EQ(api_jstr(d, "type"), "Opaque");
	json_decref(d);
}

TEST(pod_table_row)
{
	const struct api_resource *r = api_resource_find("", "v1", "pods");
	json_t *t = api_table_new(r, true);
	json_t *pod = J("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"creationTimestamp\":"
			"\"2020-01-01T00:00:00Z\"},\"spec\":{\"nodeName\":\"n1\",\"containers\":"
			"[{\"name\":\"a\"},{\"name\":\"b\"}]},\"status\":{\"phase\":\"Running\","
			"\"podIP\":\"10.1.0.5\",\"containerStatuses\":[{\"name\":\"a\",\"ready\":true,"
			"\"restartCount\":2},{\"name\":\"b\",\"ready\":false,\"restartCount\":1,"
			"\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}");
	json_t *row, *cols = json_object_get(t, "columnDefinitions");
	char *s;

	CHECK_STR_EQ(api_jstr(json_array_get(cols, 0), "format"), "name");
	CHECK_STR_EQ(api_jstr(json_array_get(cols, 1), "name"), "Ready");
	CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(cols, 5), "priority")), 1);
	CHECK_OK(api_table_add_row(r, t, pod, 0, api_parse_time("2020-01-03T01:00:00Z")));
	row = json_array_get(json_object_get(t, "rows"), 0);
	s = json_dumps(json_object_get(row, "cells"), JSON_COMPACT);
	CHECK_STR_EQ(s, "[\"p\",\"1/2\",\"CrashLoopBackOff\",\"3\",\"2d1h\",\"10.1.0.5\",\"n1\",\"<none>\",\"<none>\"]");
	free(s);
	CHECK_STR_EQ(api_jstr(row, "object.kind"), "PartialObjectMetadata");
	CHECK_STR_EQ(api_jstr(row, "object.metadata.namespace"), "n");
	json_decref(t);
	json_decref(pod);
}

TEST(every_resource_has_a_consistent_row)
{
	for (size_t i = 0; i < api_n_resources; i++) {
		const struct api_resource *r = &api_resources[i];
		json_t *t = api_table_new(r, true);
		json_t *obj = J("{\"metadata\":{\"name\":\"x\"}}");
		json_t *row;

		CHECK_OK(api_table_add_row(r, t, obj, 1, 0));
		row = json_array_get(json_object_get(t, "rows"), 0);
		if (json_array_size(json_object_get(row, "cells")) !=
		    json_array_size(json_object_get(t, "columnDefinitions")))
			test_fail(__FILE__, __LINE__, "%s: %zu cells for %zu columns", r->plural,
				  json_array_size(json_object_get(row, "cells")),
				  json_array_size(json_object_get(t, "columnDefinitions")));
		json_decref(t);
		json_decref(obj);
	}
}

TEST(human_age)
{
	char b[32];

	api_human_age(1000, 1059, b, sizeof(b));
	CHECK_STR_EQ(b, "59s");
	api_human_age(1000, 1000 + 5 * 60 + 3, b, sizeof(b));
	CHECK_STR_EQ(b, "5m3s");
	api_human_age(1000, 1000 + 3600 * 5 + 120, b, sizeof(b));
	CHECK_STR_EQ(b, "5h2m");
	api_human_age(1000, 1000 + 86400 * 30, b, sizeof(b));
	CHECK_STR_EQ(b, "30d");
}

TEST(pdb_validation_as_upstream)
{
	char *c = validate("poddisruptionbudgets", "policy",
			   "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"minAvailable\":1,\"maxUnavailable\":\"150%\"}}");

	CHECK_STR_CONTAINS(c, "\"field\":\"spec\"");
	CHECK_STR_CONTAINS(c, "minAvailable and maxUnavailable cannot be both set");
	CHECK_STR_CONTAINS(c, "\"field\":\"spec.maxUnavailable\"");
	CHECK_STR_CONTAINS(c, "must not be greater than 100%");
	free(c);
	c = validate("poddisruptionbudgets", "policy",
		     "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"minAvailable\":\"half\",\"unhealthyPodEvictionPolicy\":\"Never\"}}");
	CHECK_STR_CONTAINS(c, "a valid percent string must be a numeric string followed by an ending '%'");
	CHECK_STR_CONTAINS(c, "\"field\":\"spec.unhealthyPodEvictionPolicy\"");
	free(c);
	c = validate("poddisruptionbudgets", "policy",
		     "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"maxUnavailable\":-1}}");
	CHECK_STR_CONTAINS(c, "must be greater than or equal to 0");
	free(c);
	c = validate("poddisruptionbudgets", "policy",
		     "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"maxUnavailable\":\"25%\",\"selector\":{}}}");
	CHECK_STR_EQ(c, "[]");
	free(c);
}

TEST(priorityclass_names_and_values_as_upstream)
{
	char *c = validate("priorityclasses", "scheduling.k8s.io",
			   "{\"metadata\":{\"name\":\"system-mine\"},\"value\":5}");

	CHECK_STR_CONTAINS(c, "priority class names with 'system-' prefix are reserved");
	free(c);
	c = validate("priorityclasses", "scheduling.k8s.io",
		     "{\"metadata\":{\"name\":\"huge\"},\"value\":1000000001}");
	CHECK_STR_CONTAINS(c, "maximum allowed value of a user defined priority is 1000000000");
	free(c);
	c = validate("priorityclasses", "scheduling.k8s.io",
		     "{\"metadata\":{\"name\":\"system-node-critical\"},\"value\":2000001000}");
	CHECK_STR_EQ(c, "[]");
	free(c);
}

TEST(statefulset_claims_are_refused_until_storage)
{
	char *c = validate("statefulsets", "apps",
			   "{\"metadata\":{\"name\":\"db\"},\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
			   "\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":"
			   "[{\"name\":\"c\",\"image\":\"x\"}]}},\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"d\"}}]}}");

	CHECK_STR_CONTAINS(c, "\"reason\":\"FieldValueForbidden\"");
	CHECK_STR_CONTAINS(c, "\"field\":\"spec.volumeClaimTemplates\"");
	free(c);
}
