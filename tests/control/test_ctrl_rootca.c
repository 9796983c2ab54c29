/* The root CA publisher's compute step: kube-root-ca.crt made, corrected
 * when its ca.crt differs, left alone when right, none in a terminating
 * namespace. */
#include "control/ctrl_rootca.h"
#include "tests/control/ctrl_test.h"
#include "tests/harness/test.h"

#define CA "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

TEST(namespace_without_configmap_gets_one)
{
	json_t *ns = tobj("{\"metadata\":{\"name\":\"shop\"},\"status\":{\"phase\":\"Active\"}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(rootca_compute(ns, NULL, CA, &p));
	CHECK_INT_EQ(p.n, 1);
	CHECK_INT_EQ(p.v[0].verb, CTRL_CREATE);
	CHECK_STR_EQ(p.v[0].resource, "configmaps");
	CHECK_STR_EQ(p.v[0].ns, "shop");
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "metadata.name"), "kube-root-ca.crt");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(p.v[0].body, "data"),
						       "ca.crt")), CA);
	ctrl_plan_clear(&p);
	json_decref(ns);
}

TEST(changed_configmap_is_written_back_and_right_one_left_alone)
{
	json_t *ns = tobj("{\"metadata\":{\"name\":\"shop\"}}");
	json_t *bad = tobj("{\"metadata\":{\"name\":\"kube-root-ca.crt\",\"namespace\":\"shop\","
			   "\"resourceVersion\":\"7\"},\"data\":{\"ca.crt\":\"x\",\"extra\":\"y\"}}");
	json_t *good = tobj("{\"metadata\":{\"name\":\"kube-root-ca.crt\",\"namespace\":\"shop\"},"
			    "\"data\":{\"ca.crt\":\"" "-----BEGIN CERTIFICATE-----\\nMIIB\\n"
			    "-----END CERTIFICATE-----\\n" "\"}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(rootca_compute(ns, good, CA, &p));
	CHECK_INT_EQ(p.n, 0);
	CHECK_OK(rootca_compute(ns, bad, CA, &p));
	CHECK_INT_EQ(p.n, 1);
	CHECK_INT_EQ(p.v[0].verb, CTRL_UPDATE);
	CHECK_STR_EQ(ctrl_str(p.v[0].body, "metadata.resourceVersion"), "7");
	CHECK_INT_EQ(json_object_size(json_object_get(p.v[0].body, "data")), 1);
	ctrl_plan_clear(&p);
	json_decref(ns);
	json_decref(bad);
	json_decref(good);
}

TEST(terminating_namespace_or_no_ca_gets_none)
{
	json_t *ns = tobj("{\"metadata\":{\"name\":\"shop\",\"deletionTimestamp\":"
			  "\"2026-12-07T06:00:00Z\"}}");
	json_t *live = tobj("{\"metadata\":{\"name\":\"shop\"}}");
	struct ctrl_plan p = CTRL_PLAN_INIT;

	CHECK_OK(rootca_compute(ns, NULL, CA, &p));
	CHECK_OK(rootca_compute(live, NULL, NULL, &p));
	CHECK_INT_EQ(p.n, 0);
	json_decref(ns);
	json_decref(live);
}
