/* Custom resources in the OpenAPI documents, as the apiextensions-apiserver
 * publishes them: after every reload of the CRD table that changed its
 * rows, each served custom group-version gets its kinds' schemas (the
 * version's openAPIV3Schema, with apiVersion, kind and metadata as every
 * kind has them, and x-kubernetes-group-version-kind), its list kinds',
 * and the paths that tell kubectl the server validates fields; those no
 * longer served are withdrawn. So `kubectl explain widgets.spec` works as
 * soon as the CRD is established. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/api_crd.h"
#include "control/api_openapi.h"
#include "control/api_schema.h"
#include "lib/log.h"
#include "lib/util.h"

#define META_PKG "io.k8s.apimachinery.pkg.apis.meta.v1."

/* The definition name upstream gives a custom kind: the group's labels
 * reversed, then the version and the kind (example.org/v1 Widget:
 * "org.example.v1.Widget"). */
static void def_name(char *buf, size_t len, const char *group, const char *version,
		     const char *kind)
{
	size_t end = strlen(group), n = 0;

	buf[0] = 0;
	if (end + strlen(version) + strlen(kind) + 3 > len)
		return;
	while (end > 0) {
		size_t start = end;

		while (start > 0 && group[start - 1] != '.')
			start--;
		memcpy(buf + n, group + start, end - start);
		n += end - start;
		buf[n++] = '.';
		end = start ? start - 1 : 0;
	}
	snprintf(buf + n, len - n, "%s.%s", version, kind);
}

static json_t *ref_to(const char *name, const char *desc)
{
	return json_pack("{s:[{s:o}],s:s}", "allOf", "$ref", json_sprintf(API_SCHEMA_REF "%s", name),
			 "description", desc);
}

static json_t *gvk(const char *group, const char *version, const char *kind)
{
	return json_pack("[{s:s,s:s,s:s}]", "group", group, "version", version, "kind", kind);
}

/* apiVersion and kind in props, as every kind declares them. */
static void type_meta(json_t *props)
{
	json_object_set_new(props, "apiVersion",
			    json_pack("{s:s,s:s}", "type", "string", "description",
				      "The versioned schema of this object, such as v1 or apps/v1."));
	json_object_set_new(props, "kind",
			    json_pack("{s:s,s:s}", "type", "string", "description",
				      "The type of this object, such as Pod."));
}

static json_t *props_of(json_t *s)
{
	json_t *props = json_object_get(s, "properties");

	if (!json_is_object(props)) {
		props = json_object();
		json_object_set_new(s, "properties", props);
	}
	return props;
}

/* A field marked x-kubernetes-embedded-resource holds an object of its
 * own: it gets apiVersion, kind (both required) and metadata too. */
static void embedded(json_t *s)
{
	json_t *x;
	const char *k;

	if (!json_is_object(s))
		return;
	json_object_foreach(json_object_get(s, "properties"), k, x)
		embedded(x);
	embedded(json_object_get(s, "items"));
	embedded(json_object_get(s, "additionalProperties"));
	if (!json_is_true(json_object_get(s, "x-kubernetes-embedded-resource")))
		return;
	type_meta(props_of(s));
	json_object_set_new(props_of(s), "metadata",
			    ref_to(META_PKG "ObjectMeta", "Name, labels and other metadata of the object."));
	if (!json_is_array(json_object_get(s, "required")))
		json_object_set_new(s, "required", json_array());
	json_array_append_new(json_object_get(s, "required"), json_string("apiVersion"));
	json_array_append_new(json_object_get(s, "required"), json_string("kind"));
}

/* The schema of r's kind: its version's openAPIV3Schema completed. */
static json_t *kind_schema(const struct api_resource *r)
{
	json_t *src = api_crd_schema(r), *s;

	s = src ? json_deep_copy(src) : json_pack("{s:s}", "type", "object");
	if (!s)
		return NULL;
	if (src) {
		embedded(s);
		type_meta(props_of(s));
		json_object_set_new(props_of(s), "metadata",
				    ref_to(META_PKG "ObjectMeta",
					   "Name, namespace, labels and other metadata of the object."));
	}
	json_object_set_new(s, "x-kubernetes-group-version-kind", gvk(r->group, r->version, r->kind));
	return s;
}

/* The schema of r's list kind, whose items are the kind named item. */
static json_t *list_schema(const struct api_resource *r, const char *list_kind, const char *item)
{
	json_t *s;

	s = json_pack("{s:s,s:o,s:[s],s:{s:{s:s,s:{s:o},s:s},s:o},s:o}", "type", "object",
		      "description", json_sprintf("%s is a list of %s.", list_kind, r->kind),
		      "required", "items", "properties", "items", "type", "array", "items", "$ref",
		      json_sprintf(API_SCHEMA_REF "%s", item), "description", "The objects of the list.",
		      "metadata",
		      ref_to(META_PKG "ListMeta", "The version of the list and where its next page begins."),
		      "x-kubernetes-group-version-kind", gvk(r->group, r->version, list_kind));
	if (s)
		type_meta(props_of(s));
	return s;
}

/* Adds r's kind, list kind and paths to its group-version's part of out
 * ("group/version" -> {group, version, schemas, paths}). */
static void gv_add(const struct api_resource *r, void *ud)
{
	json_t *out = ud, *part, *schemas;
	const char *list_kind = api_jstr(r->crd->crd, "spec.names.listKind");
	char key[512], name[512], list_name[512], list_buf[256];

	snprintf(key, sizeof(key), "%s/%s", r->group, r->version);
	if (!list_kind) {
		snprintf(list_buf, sizeof(list_buf), "%sList", r->kind);
		list_kind = list_buf;
	}
	def_name(name, sizeof(name), r->group, r->version, r->kind);
	def_name(list_name, sizeof(list_name), r->group, r->version, list_kind);
	if (!*name || !*list_name)
		return;
	part = json_object_get(out, key);
	if (!part) {
		part = json_pack("{s:s,s:s,s:{},s:{}}", "group", r->group, "version", r->version,
				 "schemas", "paths");
		if (json_object_set_new(out, key, part) < 0)
			return;
	}
	schemas = json_object_get(part, "schemas");
	json_object_set_new(schemas, name, kind_schema(r));
	json_object_set_new(schemas, list_name, list_schema(r, list_kind, name));
	api_openapi_add_paths(json_object_get(part, "paths"), r->group, r->version, r->kind,
			      r->plural, r->namespaced);
}

void api_crd_openapi_publish(struct api_server *s, json_t *published)
{
	json_t *now = json_object(), *part;
	const char *key;
	void *tmp;
	int ret;

	if (!now) {
		log_warn("customresourcedefinitions: OpenAPI documents not updated: %s",
			 strerror(ENOMEM));
		return;
	}
	api_crd_each(s, gv_add, now);
	json_object_foreach(now, key, part) {
		ret = api_openapi_set_gv(s, api_jstr(part, "group"), api_jstr(part, "version"),
					 json_object_get(part, "schemas"),
					 json_object_get(part, "paths"));
		if (ret < 0)
			log_warn("custom resources of %s: not in the OpenAPI documents: %s", key,
				 strerror(-ret));
	}
	json_object_foreach_safe(published, tmp, key, part) {
		if (json_object_get(now, key))
			continue;
		api_openapi_set_gv(s, api_jstr(part, "group"), api_jstr(part, "version"), NULL, NULL);
		json_object_del(published, key);
	}
	json_object_foreach(now, key, part)
		json_object_set_new(published, key,
				    json_pack("{s:s,s:s}", "group", api_jstr(part, "group"), "version",
					      api_jstr(part, "version")));
	json_decref(now);
}
