/* The OpenAPI documents (control/api_openapi.c) from the built-in schemas
 * and from a group-version another module sets, as a CRD module would. */
#include <jansson.h>
#include <stdlib.h>

#include "control/api_internal.h"
#include "control/api_openapi.h"
#include "control/api_schema.h"
#include "tests/harness/test.h"

static struct api_server *server(void)
{
	struct api_server *s = calloc(1, sizeof(*s));

	CHECK(s);
	CHECK_OK(api_openapi_new(&s->openapi));
	return s;
}

static void server_free(struct api_server *s)
{
	api_openapi_free(s->openapi);
	free(s);
}

static json_t *schema(json_t *doc, const char *name)
{
	return json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), name);
}

TEST(builtin_group_version_documents)
{
	struct api_server *s = server();
	json_t *doc = api_openapi_v3_document(s, "apps", "v1");

	CHECK(doc);
	CHECK(schema(doc, "io.k8s.api.apps.v1.Deployment"));
	/* The closure reaches the pod template's leaves. */
	CHECK(schema(doc, "io.k8s.api.core.v1.Container"));
	CHECK(schema(doc, "io.k8s.apimachinery.pkg.util.intstr.IntOrString"));
	CHECK(!schema(doc, "io.k8s.api.batch.v1.Job"));
	CHECK(json_object_get(json_object_get(doc, "paths"),
			      "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"));
	json_decref(doc);
	CHECK(!api_openapi_v3_document(s, "example.com", "v1"));
	server_free(s);
}

TEST(a_module_adds_and_withdraws_a_group_version)
{
	struct api_server *s = server();
	json_t *schemas = json_loads(
		"{\"com.example.v1.Widget\":{\"type\":\"object\",\"properties\":{"
		"\"metadata\":{\"$ref\":\"" API_SCHEMA_REF "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta\"},"
		"\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":\"integer\"}}}},"
		"\"x-kubernetes-group-version-kind\":[{\"group\":\"example.com\",\"version\":\"v1\","
		"\"kind\":\"Widget\"}]}}",
		0, NULL);
	json_t *paths = json_object(), *doc, *index;

	CHECK(schemas);
	api_openapi_add_paths(paths, "example.com", "v1", "Widget", "widgets", true);
	CHECK_OK(api_openapi_set_gv(s, "example.com", "v1", schemas, paths));
	doc = api_openapi_v3_document(s, "example.com", "v1");
	CHECK(doc);
	CHECK(schema(doc, "com.example.v1.Widget"));
	CHECK(schema(doc, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
	CHECK(schema(doc, "io.k8s.apimachinery.pkg.apis.meta.v1.Time"));
	CHECK(json_object_get(json_object_get(doc, "paths"),
			      "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"));
	json_decref(doc);
	index = api_openapi_v3_index(s);
	CHECK(json_object_get(json_object_get(index, "paths"), "apis/example.com/v1"));
	CHECK(json_object_get(json_object_get(index, "paths"), "api/v1"));
	json_decref(index);
	CHECK_OK(api_openapi_set_gv(s, "example.com", "v1", NULL, NULL));
	CHECK(!api_openapi_v3_document(s, "example.com", "v1"));
	json_decref(schemas);
	json_decref(paths);
	server_free(s);
}
