/* The schema text (control/api_schema.def) and the unknown-field walk of
 * fieldValidation over it (control/api_schema.c). */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "control/api.h"
#include "control/api_schema.h"
#include "tests/harness/test.h"

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	if (!j)
		test_fail(__FILE__, __LINE__, "bad JSON in test: %s", s);
	return j;
}

/* Every row of the resource table but the answered-only ones has a
 * schema, and the built-in text parsed (its refs all resolve). */
TEST(builtin_covers_the_table)
{
	const json_t *schemas = api_schema_builtin();
	const char *name = NULL;

	CHECK(json_object_size(schemas) > 250);
	for (size_t i = 0; i < api_n_resources; i++) {
		const struct api_resource *r = &api_resources[i];

		if (!api_schema_kind(schemas, r->group, r->version, r->kind, NULL))
			test_fail(__FILE__, __LINE__, "no schema for %s %s", r->group, r->kind);
	}
	CHECK(api_schema_kind(schemas, "apps", "v1", "Deployment", &name));
	CHECK_STR_EQ(name, "io.k8s.api.apps.v1.Deployment");
}

TEST(parse_errors_name_the_line)
{
	char err[256];
	json_t *out = NULL;

	CHECK_INT_EQ(api_schema_parse("type core.v1.A\n  x string\n  y strin\n", &out, err,
				      sizeof(err)),
		     -EINVAL);
	CHECK_STR_CONTAINS(err, "line 3");
	CHECK_INT_EQ(api_schema_parse("type core.v1.A\n  x core.v1.B\n", &out, err, sizeof(err)),
		     -EINVAL);
	CHECK_STR_CONTAINS(err, "io.k8s.api.core.v1.B names no schema");
	CHECK_OK(api_schema_parse("# c\ntype core.v1.A gv=v1 | An A.\n  x [{core.v1.A}] req merge=k"
				  " | Xs.\n",
				  &out, err, sizeof(err)));
	CHECK_STR_EQ(json_string_value(json_object_get(
			     json_object_get(json_object_get(json_object_get(out, "io.k8s.api.core.v1.A"),
							     "properties"),
					     "x"),
			     "x-kubernetes-patch-merge-key")),
		     "k");
	json_decref(out);
}

static char *unknown(const char *group, const char *kind, const char *text, size_t *n)
{
	const json_t *schemas = api_schema_builtin();
	json_t *obj = J(text);
	char *buf = calloc(1, 512);

	*n = api_schema_unknown(schemas, api_schema_kind(schemas, group, "v1", kind, NULL), obj,
				buf, 512);
	json_decref(obj);
	return buf;
}

TEST(unknown_fields_at_any_depth)
{
	size_t n;
	char *s = unknown("apps", "Deployment",
			  "{\"metadata\":{\"name\":\"d\",\"labels\":{\"any\":\"x\"}},\"spec\":{\"foo\":1,"
			  "\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\","
			  "\"imagePullPolicyy\":\"Always\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]}}}}",
			  &n);

	CHECK_INT_EQ(n, 2);
	CHECK_STR_CONTAINS(s, "unknown field \"spec.foo\"");
	CHECK_STR_CONTAINS(s, "unknown field \"spec.template.spec.containers[1].imagePullPolicyy\"");
	free(s);
	/* RawExtension and managedFields' FieldsV1 hold anything. */
	s = unknown("apps", "ControllerRevision",
		    "{\"data\":{\"spec\":{\"x\":1}},\"metadata\":{\"managedFields\":[{\"fieldsV1\":"
		    "{\"f:spec\":{}}}]},\"revision\":1}",
		    &n);
	CHECK_INT_EQ(n, 0);
	free(s);
}

/* Warn and Ignore drop what they name; what the schema knows stays. */
TEST(drop_removes_only_unknown_fields)
{
	const json_t *schemas = api_schema_builtin();
	json_t *obj = J("{\"spec\":{\"foo\":1,\"replicas\":2,\"template\":{\"spec\":{\"containers\":"
			"[{\"name\":\"a\",\"imagePullPolicyy\":\"Always\",\"image\":\"i\"}]}}}}");
	char buf[256], *s;

	CHECK_INT_EQ(api_schema_drop_unknown(schemas,
					     api_schema_kind(schemas, "apps", "v1", "Deployment", NULL),
					     obj, buf, sizeof(buf)),
		     2);
	s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR_EQ(s, "{\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":"
			"[{\"image\":\"i\",\"name\":\"a\"}]}}}}");
	free(s);
	json_decref(obj);
}
