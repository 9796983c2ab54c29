/* Aggregated discovery (apidiscovery.k8s.io v2 and v2beta1): every group,
 * version and resource in one answer to GET /api or /apis, the form
 * kubectl 1.26+ asks for first (it falls back to the per-group lists
 * otherwise). Made from the same APIResourceLists the per-group
 * endpoints serve, so both forms name the same resources, custom ones
 * included. */
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/util.h"

#define DISCOVERY_MEDIA "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList"

const char *api_discovery_wanted(const char *accept)
{
	const char *p = accept;

	/* The first media range of the list that names one we serve. */
	while (p && *p) {
		size_t n = strcspn(p, ",");
		const char *v2 = memmem(p, n, "g=apidiscovery.k8s.io;v=v2;", 27);
		const char *v2b = memmem(p, n, "g=apidiscovery.k8s.io;v=v2beta1;", 32);

		if ((v2 || v2b) && memmem(p, n, "as=APIGroupDiscoveryList", 24))
			return v2 ? "v2" : "v2beta1";
		p = p[n] ? p + n + 1 : NULL;
	}
	return NULL;
}

static json_t *response_kind(json_t *entry)
{
	return json_pack("{s:s,s:s,s:s}", "group", api_jstr(entry, "group") ?: "", "version",
			 api_jstr(entry, "version") ?: "", "kind", api_jstr(entry, "kind") ?: "");
}

/* The resource named name among out's, or NULL. */
static json_t *find_resource(json_t *out, const char *name, size_t len)
{
	json_t *r;
	size_t i;

	json_array_foreach(out, i, r) {
		const char *n = api_jstr(r, "resource");

		if (n && strlen(n) == len && !strncmp(n, name, len))
			return r;
	}
	return NULL;
}

/* An APIResourceList's entries as APIResourceDiscovery, "x/sub" entries
 * as subresources of x. */
static json_t *version_resources(json_t *list)
{
	json_t *out = json_array(), *e;
	size_t i;

	json_array_foreach(json_object_get(list, "resources"), i, e) {
		const char *name = api_jstr(e, "name"), *slash = name ? strchr(name, '/') : NULL;
		json_t *d, *parent;

		if (!name)
			continue;
		if (!slash) {
			d = json_pack("{s:s,s:o,s:s,s:s,s:O}", "resource", name, "responseKind",
				      response_kind(e), "scope",
				      json_is_true(json_object_get(e, "namespaced")) ? "Namespaced" : "Cluster",
				      "singularResource", api_jstr(e, "singularName") ?: "", "verbs",
				      json_object_get(e, "verbs"));
			if (json_object_get(e, "shortNames"))
				json_object_set(d, "shortNames", json_object_get(e, "shortNames"));
			if (json_object_get(e, "categories"))
				json_object_set(d, "categories", json_object_get(e, "categories"));
			json_array_append_new(out, d);
			continue;
		}
		parent = find_resource(out, name, (size_t)(slash - name));
		if (!parent)
			continue;
		if (!json_object_get(parent, "subresources"))
			json_object_set_new(parent, "subresources", json_array());
		json_array_append_new(json_object_get(parent, "subresources"),
				      json_pack("{s:s,s:o,s:O}", "subresource", slash + 1,
						"responseKind", response_kind(e), "verbs",
						json_object_get(e, "verbs")));
	}
	return out;
}

static json_t *group_discovery(struct api_server *s, const char *group, json_t *versions)
{
	json_t *vs = json_array(), *v;
	size_t i;

	json_array_foreach(versions, i, v) {
		const char *ver = api_jstr(v, "version");
		/* metrics.k8s.io is served beside the table (api_top.c) */
		json_t *list = streq(group, "metrics.k8s.io") ? api_top_resources()
							      : api_discovery_resources(s, group, ver);

		json_array_append_new(vs, json_pack("{s:s,s:o,s:s}", "version", ver, "resources",
						    version_resources(list), "freshness", "Current"));
		json_decref(list);
	}
	return json_pack("{s:{s:s},s:o}", "metadata", "name", group, "versions", vs);
}

enum MHD_Result api_discovery_aggregated(struct api_req *q, bool core)
{
	const char *v = api_discovery_wanted(q->accept);
	json_t *items = json_array(), *groups, *g, *doc;
	char gv[64], ctype[128];
	_cleanup_free_ char *text = NULL;
	size_t i;

	if (core) {
		json_t *vs = json_pack("[{s:s}]", "version", "v1");

		json_array_append_new(items, group_discovery(q->srv, "", vs));
		json_decref(vs);
	} else {
		groups = api_discovery_groups(q->srv);
		json_array_foreach(json_object_get(groups, "groups"), i, g)
			json_array_append_new(items, group_discovery(q->srv, api_jstr(g, "name"),
								     json_object_get(g, "versions")));
		json_decref(groups);
	}
	snprintf(gv, sizeof(gv), "apidiscovery.k8s.io/%s", v);
	snprintf(ctype, sizeof(ctype), DISCOVERY_MEDIA, v);
	doc = json_pack("{s:s,s:s,s:{},s:o}", "kind", "APIGroupDiscoveryList", "apiVersion", gv,
			"metadata", "items", items);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text)
		return MHD_NO;
	return api_reply_text(q, 200, ctype, text);
}
