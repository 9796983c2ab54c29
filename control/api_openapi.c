/* The OpenAPI documents: /openapi/v3 (an index, then one document per
 * group-version with the paths of its resources and the schemas of its
 * kinds, to their leaves) and /openapi/v2 (every served schema, as JSON
 * or, when asked, as the protobuf client-go decodes). The schemas are the
 * built-in ones (control/api_schema.def) and those other modules set
 * through api_openapi_set_gv. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "control/api_openapi.h"
#include "control/api_schema.h"
#include "lib/util.h"

#define V2_REF "#/definitions/"
#define SERVER_VERSION "v1.30.0"

struct api_openapi {
	pthread_mutex_t lock;
	json_t *extra; /* "group/version" -> {"schemas": {...}, "paths": {...}} */
};

int api_openapi_new(struct api_openapi **out)
{
	struct api_openapi *o = calloc(1, sizeof(*o));

	if (!o || !(o->extra = json_object())) {
		free(o);
		return -ENOMEM;
	}
	pthread_mutex_init(&o->lock, NULL);
	*out = o;
	return 0;
}

void api_openapi_free(struct api_openapi *o)
{
	if (!o)
		return;
	json_decref(o->extra);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

static void gv_key(const char *group, const char *version, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", group, version);
}

int api_openapi_set_gv(struct api_server *s, const char *group, const char *version,
		       const json_t *schemas, const json_t *paths)
{
	struct api_openapi *o = s->openapi;
	json_t *part = NULL;
	char key[256];
	int r = 0;

	gv_key(group, version, key, sizeof(key));
	if (schemas) {
		part = json_pack("{s:o,s:o}", "schemas", json_deep_copy(schemas), "paths",
				 paths ? json_deep_copy(paths) : json_object());
		if (!part)
			return -ENOMEM;
	}
	pthread_mutex_lock(&o->lock);
	if (part)
		r = json_object_set_new(o->extra, key, part) ? -ENOMEM : 0;
	else
		json_object_del(o->extra, key);
	pthread_mutex_unlock(&o->lock);
	return r;
}

/* ---- paths ---- */

void api_openapi_add_paths(json_t *paths, const char *group, const char *version, const char *kind,
			   const char *plural, bool namespaced)
{
	char base[256], path[512];
	json_t *params;

	if (*group)
		snprintf(base, sizeof(base), "/apis/%s/%s", group, version);
	else
		snprintf(base, sizeof(base), "/api/%s", version);
	if (namespaced)
		snprintf(path, sizeof(path), "%s/namespaces/{namespace}/%s/{name}", base, plural);
	else
		snprintf(path, sizeof(path), "%s/%s/{name}", base, plural);
	params = json_pack("[{s:s,s:s,s:s,s:{s:s}},{s:s,s:s,s:s,s:{s:s}},{s:s,s:s,s:s,s:{s:s}}]",
			   "name", "fieldValidation", "in", "query", "description",
			   "How to treat fields the schema does not know: Ignore, Warn or Strict.",
			   "schema", "type", "string", "name", "fieldManager", "in", "query",
			   "description", "The name of the writer, for managed fields.", "schema",
			   "type", "string", "name", "dryRun", "in", "query", "description",
			   "All: check and answer, but store nothing.", "schema", "type", "string");
	json_object_set_new(paths, path,
			    json_pack("{s:{s:s,s:o,s:{s:s,s:s,s:s},s:{s:{s:s}},s:s,s:s}}", "patch",
				      "description", "change part of the object", "parameters",
				      params, "x-kubernetes-group-version-kind", "group", group,
				      "version", version, "kind", kind, "responses", "200",
				      "description", "OK", "x-kubernetes-action", "patch",
				      "operationId", plural));
}

/* ---- one group-version's paths and schemas ---- */

static void closure_add(json_t *out, const json_t *own, const char *name);

/* Adds every schema v refers to, and theirs. */
static void closure_refs(json_t *out, const json_t *own, json_t *v)
{
	const char *ref = json_string_value(json_object_get(v, "$ref")), *k;
	json_t *x;
	size_t i;

	if (ref && strncmp(ref, API_SCHEMA_REF, strlen(API_SCHEMA_REF)) == 0)
		closure_add(out, own, ref + strlen(API_SCHEMA_REF));
	json_object_foreach(v, k, x)
		closure_refs(out, own, x);
	json_array_foreach(v, i, x)
		closure_refs(out, own, x);
}

/* Adds schema name (from own, else built in) to out, with its closure. */
static void closure_add(json_t *out, const json_t *own, const char *name)
{
	const json_t *s = own ? json_object_get(own, name) : NULL;
	json_t *copy;

	if (json_object_get(out, name))
		return;
	if (!s)
		s = json_object_get(api_schema_builtin(), name);
	if (!s || !(copy = json_deep_copy(s)))
		return;
	json_object_set_new(out, name, copy);
	closure_refs(out, own, copy);
}

/* Adds group/version's paths and schemas to paths and schemas; false
 * when the server serves nothing there. */
static bool gv_parts(struct api_server *s, const char *group, const char *version, json_t *paths,
		     json_t *schemas)
{
	struct api_openapi *o = s->openapi;
	bool found = false;
	json_t *part, *x;
	const char *name;
	char key[256];

	for (size_t i = 0; i < api_n_resources; i++) {
		const struct api_resource *r = &api_resources[i];

		if (!streq(r->group, group) || !streq(r->version, version))
			continue;
		found = true;
		api_openapi_add_paths(paths, group, version, r->kind, r->plural, r->namespaced);
		if (api_schema_kind(api_schema_builtin(), group, version, r->kind, &name))
			closure_add(schemas, NULL, name);
	}
	gv_key(group, version, key, sizeof(key));
	pthread_mutex_lock(&o->lock);
	part = json_object_get(o->extra, key);
	if (part) {
		found = true;
		json_object_update(paths, json_object_get(part, "paths"));
		json_object_foreach(json_object_get(part, "schemas"), name, x)
			closure_add(schemas, json_object_get(part, "schemas"), name);
	}
	pthread_mutex_unlock(&o->lock);
	return found;
}

json_t *api_openapi_v3_document(struct api_server *s, const char *group, const char *version)
{
	json_t *paths = json_object(), *schemas = json_object();

	if (!gv_parts(s, group, version, paths, schemas)) {
		json_decref(paths);
		json_decref(schemas);
		return NULL;
	}
	return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:o}}", "openapi", "3.0.0", "info", "title",
			 "Kubernetes", "version", SERVER_VERSION, "paths", paths, "components",
			 "schemas", schemas);
}

/* Every served group-version as "group/version" keys of an object. */
static json_t *served_gvs(struct api_server *s)
{
	json_t *gvs = json_object(), *x;
	const char *k;
	char key[256];

	for (size_t i = 0; i < api_n_resources; i++) {
		gv_key(api_resources[i].group, api_resources[i].version, key, sizeof(key));
		json_object_set_new(gvs, key, json_true());
	}
	pthread_mutex_lock(&s->openapi->lock);
	json_object_foreach(s->openapi->extra, k, x)
		json_object_set_new(gvs, k, json_true());
	pthread_mutex_unlock(&s->openapi->lock);
	return gvs;
}

/* Splits "group/version" (the group may be empty). */
static void gv_split(const char *key, char *group, size_t glen, const char **version)
{
	const char *slash = strrchr(key, '/');

	snprintf(group, glen, "%.*s", (int)(slash - key), key);
	*version = slash + 1;
}

/* ---- /openapi/v3 ---- */

/* FNV-1a of the document's text: the index's hash, which changes when
 * the document does (kubectl keys its cache on the URL). */
static uint64_t doc_hash(json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *c = text; c && *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
	free(text);
	return h;
}

json_t *api_openapi_v3_index(struct api_server *s)
{
	json_t *paths = json_object(), *gvs = served_gvs(s), *x;
	const char *k, *version;
	char group[200], rel[256], url[300];

	json_object_foreach(gvs, k, x) {
		json_t *doc;

		gv_split(k, group, sizeof(group), &version);
		doc = api_openapi_v3_document(s, group, version);
		if (!doc)
			continue;
		if (*group)
			snprintf(rel, sizeof(rel), "apis/%s/%s", group, version);
		else
			snprintf(rel, sizeof(rel), "api/%s", version);
		snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%016" PRIX64, rel, doc_hash(doc));
		json_decref(doc);
		json_object_set_new(paths, rel, json_pack("{s:s}", "serverRelativeURL", url));
	}
	json_decref(gvs);
	return json_pack("{s:o}", "paths", paths);
}

/* ---- /openapi/v2 ---- */

/* v3 schema s in v2's form, in place: $refs into #/definitions/, and a
 * described $ref without its allOf wrapper. */
static void to_v2(json_t *s)
{
	const char *ref = json_string_value(json_object_get(s, "$ref")), *k;
	json_t *all = json_object_get(s, "allOf"), *x;
	size_t i;

	if (ref && strncmp(ref, API_SCHEMA_REF, strlen(API_SCHEMA_REF)) == 0) {
		char v2[320];

		snprintf(v2, sizeof(v2), V2_REF "%s", ref + strlen(API_SCHEMA_REF));
		json_object_set_new(s, "$ref", json_string(v2));
	}
	if (json_object_get(s, "oneOf")) {
		/* v2 has no oneOf: Quantity and IntOrString are strings there. */
		json_object_del(s, "oneOf");
		json_object_set_new(s, "type", json_string("string"));
	}
	if (json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields")) ||
	    json_is_true(json_object_get(s, "nullable"))) {
		/* A custom resource's open or nullable field, as upstream writes
		 * it in v2: kubectl's v2 validation would refuse what the
		 * properties do not name, and cannot type a null. */
		json_object_del(s, "properties");
		json_object_del(s, "items");
		if (json_is_true(json_object_get(s, "nullable")))
			json_object_del(s, "type");
		json_object_del(s, "nullable");
	}
	if (streq(api_jstr(s, "type"), "array") && !json_object_get(s, "items"))
		json_object_del(s, "type");
	if (json_array_size(all) == 1 && json_object_get(json_array_get(all, 0), "$ref")) {
		json_object_update(s, json_array_get(all, 0));
		json_object_del(s, "allOf");
		to_v2(s);
		return;
	}
	json_object_foreach(s, k, x)
		to_v2(x);
	json_array_foreach(s, i, x)
		to_v2(x);
}

static json_t *v2_document(struct api_server *s)
{
	json_t *defs = json_object(), *gvs = served_gvs(s), *paths = json_object(), *x;
	const char *k, *version;
	char group[200];

	json_object_foreach(gvs, k, x) {
		gv_split(k, group, sizeof(group), &version);
		gv_parts(s, group, version, paths, defs);
	}
	json_decref(gvs);
	json_decref(paths);
	to_v2(defs);
	return json_pack("{s:s,s:{s:s,s:s},s:{},s:o}", "swagger", "2.0", "info", "title",
			 "Kubernetes", "version", SERVER_VERSION, "paths", "definitions", defs);
}

/* The protobuf encoding of gnostic's openapi_v2.Document, which
 * client-go's OpenAPISchema decodes: field numbers of OpenAPIv2.proto. */
struct pb {
	unsigned char *b;
	size_t len, cap;
	bool oom;
};

static void pb_raw(struct pb *p, const void *d, size_t n)
{
	if (p->oom)
		return;
	if (p->len + n > p->cap) {
		size_t cap = (p->cap ? p->cap * 2 : 256) + n;
		unsigned char *b = realloc(p->b, cap);

		if (!b) {
			p->oom = true;
			return;
		}
		p->b = b;
		p->cap = cap;
	}
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	pb_raw(p, b, n);
}

static void pb_bytes(struct pb *p, unsigned field, const void *d, size_t n)
{
	pb_varint(p, (uint64_t)field << 3 | 2);
	pb_varint(p, n);
	pb_raw(p, d, n);
}

static void pb_str(struct pb *p, unsigned field, const char *s)
{
	if (s)
		pb_bytes(p, field, s, strlen(s));
}

/* Appends sub as message field of p, and frees sub. */
static void pb_msg(struct pb *p, unsigned field, struct pb *sub)
{
	p->oom |= sub->oom;
	pb_bytes(p, field, sub->b ? sub->b : (unsigned char *)"", sub->len);
	free(sub->b);
}

enum {
	PB_DOC_SWAGGER = 1, PB_DOC_INFO = 2, PB_DOC_DEFINITIONS = 9,
	PB_INFO_TITLE = 1, PB_INFO_VERSION = 2,
	PB_NAMED_NAME = 1, PB_NAMED_VALUE = 2, /* NamedSchema, NamedAny */
	PB_ANY_YAML = 2,
	PB_SCHEMA_REF = 1, PB_SCHEMA_FORMAT = 2, PB_SCHEMA_DESCRIPTION = 4,
	PB_SCHEMA_REQUIRED = 19, PB_SCHEMA_ADDITIONAL = 21, PB_SCHEMA_TYPE = 22,
	PB_SCHEMA_ITEMS = 23, PB_SCHEMA_PROPERTIES = 25, PB_SCHEMA_EXTENSION = 31,
	PB_LIST_ENTRY = 1, /* TypeItem, ItemsItem, Properties, Definitions, AdditionalPropertiesItem */
};

static void pb_schema(struct pb *p, json_t *s);

/* A NamedSchema: name and schema. */
static void pb_named_schema(struct pb *p, unsigned field, const char *name, json_t *s)
{
	struct pb named = { 0 }, value = { 0 };

	pb_str(&named, PB_NAMED_NAME, name);
	pb_schema(&value, s);
	pb_msg(&named, PB_NAMED_VALUE, &value);
	pb_msg(p, field, &named);
}

/* A vendor extension: its value as YAML (JSON is YAML). */
static void pb_extension(struct pb *p, const char *name, json_t *v)
{
	struct pb named = { 0 }, any = { 0 };
	char *yaml = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	pb_str(&named, PB_NAMED_NAME, name);
	pb_str(&any, PB_ANY_YAML, yaml ? yaml : "null");
	free(yaml);
	pb_msg(&named, PB_NAMED_VALUE, &any);
	pb_msg(p, PB_SCHEMA_EXTENSION, &named);
}

/* The part of a schema that is itself a schema, wrapped in field 1. */
static void pb_wrapped(struct pb *p, unsigned field, json_t *s)
{
	struct pb wrap = { 0 }, inner = { 0 };

	pb_schema(&inner, s);
	pb_msg(&wrap, PB_LIST_ENTRY, &inner);
	pb_msg(p, field, &wrap);
}

static void pb_schema(struct pb *p, json_t *s)
{
	const char *k, *pk;
	json_t *v, *pv;
	size_t i;

	json_object_foreach(s, k, v) {
		if (streq(k, "$ref")) {
			pb_str(p, PB_SCHEMA_REF, json_string_value(v));
		} else if (streq(k, "format")) {
			pb_str(p, PB_SCHEMA_FORMAT, json_string_value(v));
		} else if (streq(k, "description")) {
			pb_str(p, PB_SCHEMA_DESCRIPTION, json_string_value(v));
		} else if (streq(k, "required")) {
			json_array_foreach(v, i, pv)
				pb_str(p, PB_SCHEMA_REQUIRED, json_string_value(pv));
		} else if (streq(k, "type")) {
			struct pb t = { 0 };

			pb_str(&t, PB_LIST_ENTRY, json_string_value(v));
			pb_msg(p, PB_SCHEMA_TYPE, &t);
		} else if (streq(k, "items")) {
			pb_wrapped(p, PB_SCHEMA_ITEMS, v);
		} else if (streq(k, "additionalProperties") && json_is_object(v)) {
			pb_wrapped(p, PB_SCHEMA_ADDITIONAL, v);
		} else if (streq(k, "properties")) {
			struct pb props = { 0 };

			json_object_foreach(v, pk, pv)
				pb_named_schema(&props, PB_LIST_ENTRY, pk, pv);
			pb_msg(p, PB_SCHEMA_PROPERTIES, &props);
		} else if (strncmp(k, "x-", 2) == 0) {
			pb_extension(p, k, v);
		}
	}
}

/* The v2 document as protobuf in *out (malloc'd), its length in *len. */
static int v2_protobuf(json_t *doc, unsigned char **out, size_t *len)
{
	struct pb p = { 0 }, info = { 0 }, defs = { 0 };
	const char *k;
	json_t *v;

	pb_str(&p, PB_DOC_SWAGGER, "2.0");
	pb_str(&info, PB_INFO_TITLE, "Kubernetes");
	pb_str(&info, PB_INFO_VERSION, SERVER_VERSION);
	pb_msg(&p, PB_DOC_INFO, &info);
	json_object_foreach(json_object_get(doc, "definitions"), k, v)
		pb_named_schema(&defs, PB_LIST_ENTRY, k, v);
	pb_msg(&p, PB_DOC_DEFINITIONS, &defs);
	if (p.oom) {
		free(p.b);
		return -ENOMEM;
	}
	*out = p.b;
	*len = p.len;
	return 0;
}

static enum MHD_Result reply_v2(struct api_req *q)
{
	json_t *doc = v2_document(q->srv);
	unsigned char *pb;
	size_t len;

	if (!q->accept || !strstr(q->accept, "protobuf"))
		return api_reply_json(q, 200, doc);
	if (v2_protobuf(doc, &pb, &len) < 0) {
		json_decref(doc);
		return MHD_NO;
	}
	json_decref(doc);
	return api_reply_bytes(q, 200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
			       pb, len);
}

/* ---- routing ---- */

enum MHD_Result api_openapi(struct api_req *q, const char *path)
{
	char group[200] = "", version[64] = "", rest[2] = "";
	json_t *doc = NULL;

	if (streq(path, "/openapi/v2"))
		return reply_v2(q);
	if (streq(path, "/openapi/v3"))
		return api_reply_json(q, 200, api_openapi_v3_index(q->srv));
	if (sscanf(path, "/openapi/v3/api/%63[^/]%1s", version, rest) == 1)
		doc = api_openapi_v3_document(q->srv, "", version);
	else if (sscanf(path, "/openapi/v3/apis/%199[^/]/%63[^/]%1s", group, version, rest) == 2)
		doc = api_openapi_v3_document(q->srv, group, version);
	if (doc)
		return api_reply_json(q, 200, doc);
	{
		struct api_err e = { 0 };

		api_err_set(&e, 404, "NotFound", "the server could not find the requested resource");
		return api_reply_err(q, &e);
	}
}
