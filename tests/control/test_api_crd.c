/* Custom resources under a structural schema (control/api_crd_schema.c):
 * pruning, defaults, the checks and their 422 causes, printer-column
 * paths; and the CustomResourceDefinition row's own validation. */
#include <jansson.h>
#include <stdlib.h>

#include "control/api.h"
#include "control/api_crd.h"
#include "tests/harness/test.h"

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	if (!j)
		test_fail(__FILE__, __LINE__, "bad JSON in test: %s", s);
	return j;
}

static const char schema_text[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"spec\":{\"type\":\"object\",\"required\":[\"size\"],\"properties\":{"
	"\"size\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5,\"default\":2},"
	"\"name\":{\"type\":\"string\",\"pattern\":\"^[a-z]+\\\\d$\",\"maxLength\":4},"
	"\"mode\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},"
	"\"port\":{\"x-kubernetes-int-or-string\":true},"
	"\"opts\":{\"type\":\"object\",\"properties\":{\"deep\":{\"type\":\"boolean\",\"default\":true}}},"
	"\"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
	"\"free\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true},"
	"\"items\":{\"type\":\"array\",\"maxItems\":2,\"items\":{\"type\":\"object\",\"properties\":{"
	"\"v\":{\"type\":\"integer\",\"default\":7}}}}}}}}";

/* Admits text as a custom resource of the schema above; *causes_out the
 * causes as compact JSON, the object returned as compact JSON. */
static char *admit(const char *text, char **causes_out)
{
	struct api_crd_version v = { .schema = J(schema_text) };
	struct api_resource r = { .group = "example.org", .version = "v1", .kind = "Thing",
				  .plural = "things", .crd = &v };
	json_t *obj = J(text), *causes = json_array();
	char *s;

	api_crd_admit(&r, obj, causes);
	*causes_out = json_dumps(causes, JSON_COMPACT);
	s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
	json_decref(causes);
	json_decref(v.schema);
	return s;
}

TEST(prune_and_default)
{
	char *causes, *out = admit("{\"apiVersion\":\"example.org/v1\",\"kind\":\"Thing\","
				   "\"metadata\":{\"name\":\"t\"},\"top\":1,\"spec\":{\"x\":1,"
				   "\"opts\":{\"y\":2},\"free\":{\"z\":{\"w\":1}},\"labels\":{\"k\":\"v\"},"
				   "\"items\":[{\"u\":1}],\"mode\":null}}",
				   &causes);

	CHECK_STR_EQ(causes, "[]");
	CHECK_STR_EQ(out, "{\"apiVersion\":\"example.org/v1\",\"kind\":\"Thing\",\"metadata\":{\"name\":\"t\"},"
			  "\"spec\":{\"free\":{\"z\":{\"w\":1}},\"items\":[{\"v\":7}],\"labels\":{\"k\":\"v\"},"
			  "\"opts\":{\"deep\":true},\"size\":2}}");
	free(causes);
	free(out);
}

TEST(causes_name_the_field)
{
	char *causes, *out = admit("{\"spec\":{\"size\":9,\"name\":\"abcde\",\"mode\":\"c\","
				   "\"port\":true,\"labels\":{\"k\":1},\"items\":[{},{},{\"v\":\"x\"}]}}",
				   &causes);

	CHECK_STR_CONTAINS(causes, "\"message\":\"Invalid value: 9: spec.size in body should be less than or equal to 5\",\"field\":\"spec.size\"");
	CHECK_STR_CONTAINS(causes, "spec.name in body should match '^[a-z]+\\\\d$'");
	CHECK_STR_CONTAINS(causes, "\"message\":\"Too long: may not be longer than 4\",\"field\":\"spec.name\"");
	CHECK_STR_CONTAINS(causes, "Unsupported value: \\\"c\\\": supported values: \\\"a\\\", \\\"b\\\"");
	CHECK_STR_CONTAINS(causes, "spec.port in body must be of type integer or string: \\\"boolean\\\"");
	CHECK_STR_CONTAINS(causes, "\"field\":\"spec.labels[k]\"");
	CHECK_STR_CONTAINS(causes, "\"message\":\"Too many: 3: must have at most 2 items\",\"field\":\"spec.items\"");
	CHECK_STR_CONTAINS(causes, "\"field\":\"spec.items[2].v\"");
	free(causes);
	free(out);
	out = admit("{\"spec\":{\"name\":\"ab1\"}}", &causes);
	CHECK_STR_EQ(causes, "[]"); /* size defaulted before required is checked */
	free(causes);
	free(out);
	out = admit("{}", &causes);
	CHECK_STR_EQ(causes, "[]");
	free(causes);
	free(out);
}

TEST(unknown_fields_named)
{
	struct api_crd_version v = { .schema = J(schema_text) };
	struct api_resource r = { .group = "example.org", .version = "v1", .kind = "Thing",
				  .plural = "things", .crd = &v };
	json_t *obj = J("{\"metadata\":{},\"spec\":{\"bogus\":1,\"free\":{\"ok\":1}},\"extra\":2}");
	char buf[256];

	CHECK_INT_EQ(api_crd_unknown_fields(&r, obj, buf, sizeof(buf)), 2);
	CHECK_STR_CONTAINS(buf, "unknown field \"spec.bogus\"");
	CHECK_STR_CONTAINS(buf, "unknown field \"extra\"");
	CHECK(json_object_get(json_object_get(obj, "spec"), "bogus")); /* obj itself untouched */
	json_decref(obj);
	json_decref(v.schema);
}

TEST(jsonpath)
{
	json_t *obj = J("{\"spec\":{\"a\":[{\"b\":1},{\"b\":2}],\"s\":\"x\"}}");

	CHECK_INT_EQ(json_integer_value(api_crd_jsonpath(obj, ".spec.a[1].b")), 2);
	CHECK_INT_EQ(json_integer_value(api_crd_jsonpath(obj, ".spec.a[-1].b")), 2);
	CHECK_STR_EQ(json_string_value(api_crd_jsonpath(obj, "{.spec.s}")), "x");
	CHECK(!api_crd_jsonpath(obj, ".spec.missing.b"));
	CHECK(!api_crd_jsonpath(obj, ".spec.a[9]"));
	json_decref(obj);
}

TEST(crd_validation)
{
	json_t *crd = J("{\"metadata\":{\"name\":\"things.example\"},\"spec\":{\"group\":\"example\","
			"\"scope\":\"Global\",\"names\":{\"plural\":\"things\",\"kind\":\"Thing\"},"
			"\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true},"
			"{\"name\":\"v2\",\"served\":true,\"storage\":true,\"schema\":{\"openAPIV3Schema\":"
			"{\"type\":\"object\",\"properties\":{\"spec\":{}}}}}]}}");
	json_t *causes = json_array();
	char *s;

	api_crd_defaults(crd);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(json_object_get(crd, "spec"), "names"), "listKind")),
		     "ThingList");
	api_crd_validate(crd, causes);
	s = json_dumps(causes, JSON_COMPACT);
	CHECK_STR_CONTAINS(s, "\"field\":\"spec.group\"");
	CHECK_STR_CONTAINS(s, "\"field\":\"spec.scope\"");
	CHECK_STR_CONTAINS(s, "\"message\":\"Required value: schemas are required\",\"field\":\"spec.versions[0].schema.openAPIV3Schema\"");
	CHECK_STR_CONTAINS(s, "\"field\":\"spec.versions[1].schema.openAPIV3Schema.properties[spec].type\"");
	CHECK_STR_CONTAINS(s, "must have exactly one version marked as storage version");
	free(s);
	json_decref(causes);
	json_decref(crd);
}
