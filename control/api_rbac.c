/* RBAC: every authenticated request is checked against the Roles,
 * ClusterRoles and their bindings in the store, as kube-apiserver's RBAC
 * authorizer does. Members of system:masters may do anything; every
 * authenticated user may read discovery, OpenAPI, /version and health
 * (the built-in system:discovery and system:public-info-viewer roles). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/util.h"

/* Roles and bindings parsed once per version: a request from a user
 * outside system:masters (the scheduler's bindings and Events, every
 * controller write) walks every ClusterRoleBinding and reads the roles
 * they name, and parsing them again each time was ~8% of skiff-server's
 * CPU in bench_sched_api. The store is still read on every request, so a
 * change (from any server sharing the store) counts at once: an entry is
 * only reused for the same key at the same mod_revision, which no later
 * write repeats. */
#define RBAC_CACHE_MAX 4096 /* entries; past it the cache starts over */

struct api_rbac_cache {
	pthread_mutex_t lock;
	json_t *by_key; /* key -> [mod_revision, object] */
};

int api_rbac_cache_new(struct api_rbac_cache **out)
{
	struct api_rbac_cache *c = calloc(1, sizeof(*c));

	if (!c || !(c->by_key = json_object())) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void api_rbac_cache_free(struct api_rbac_cache *c)
{
	if (!c)
		return;
	json_decref(c->by_key);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* The parsed value of kv (a new reference; NULL if unreadable). The
 * objects are shared between threads and never modified. */
static json_t *rbac_parsed(struct api_server *s, const struct store_kv *kv)
{
	struct api_rbac_cache *c = s->rbac_cache;
	json_t *e, *obj;

	if (!c)
		return json_loadb(kv->value, kv->value_len, 0, NULL);
	pthread_mutex_lock(&c->lock);
	e = json_object_get(c->by_key, kv->key);
	obj = json_integer_value(json_array_get(e, 0)) == kv->mod_revision
		      ? json_incref(json_array_get(e, 1))
		      : NULL;
	pthread_mutex_unlock(&c->lock);
	if (obj)
		return obj;
	obj = json_loadb(kv->value, kv->value_len, 0, NULL);
	if (!obj)
		return NULL;
	pthread_mutex_lock(&c->lock);
	if (json_object_size(c->by_key) >= RBAC_CACHE_MAX)
		json_object_clear(c->by_key);
	json_object_set_new(c->by_key, kv->key, json_pack("[IO]", (json_int_t)kv->mod_revision, obj));
	pthread_mutex_unlock(&c->lock);
	return obj;
}

static bool in_list(json_t *list, const char *v)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e) {
		const char *s = json_string_value(e);

		if (streq(s, "*") || streq(s, v))
			return true;
	}
	return false;
}

bool api_rbac_in_group(const struct api_req *q, const char *group)
{
	for (size_t i = 0; i < q->n_groups; i++)
		if (streq(q->groups[i], group))
			return true;
	return false;
}

static bool subject_matches(const struct api_req *q, json_t *subj, const char *binding_ns)
{
	const char *kind = api_jstr(subj, "kind"), *name = api_jstr(subj, "name");

	if (!name)
		return false;
	if (streq(kind, "User"))
		return streq(name, q->user);
	if (streq(kind, "Group"))
		return api_rbac_in_group(q, name);
	if (streq(kind, "ServiceAccount")) {
		char sa[400];
		const char *ns = api_jstr(subj, "namespace");

		snprintf(sa, sizeof(sa), "system:serviceaccount:%s:%s", ns ? ns : binding_ns ? binding_ns : "",
			 name);
		return streq(sa, q->user);
	}
	return false;
}

static bool rule_allows(json_t *rule, const struct api_rbac_attrs *a)
{
	json_t *names = json_object_get(rule, "resourceNames");

	if (!in_list(json_object_get(rule, "verbs"), a->verb))
		return false;
	if (!a->resource) {
		json_t *e;
		size_t i;

		json_array_foreach(json_object_get(rule, "nonResourceURLs"), i, e) {
			const char *u = json_string_value(e);
			size_t n = u ? strlen(u) : 0;

			if (u && (streq(u, "*") || streq(u, a->path) ||
				  (n && u[n - 1] == '*' && strncmp(u, a->path, n - 1) == 0)))
				return true;
		}
		return false;
	}
	if (!in_list(json_object_get(rule, "apiGroups"), a->group))
		return false;
	if (a->subresource && *a->subresource) {
		char full[128], star[96];

		snprintf(full, sizeof(full), "%s/%s", a->resource, a->subresource);
		snprintf(star, sizeof(star), "*/%s", a->subresource);
		if (!in_list(json_object_get(rule, "resources"), full) &&
		    !in_list(json_object_get(rule, "resources"), star))
			return false;
	} else if (!in_list(json_object_get(rule, "resources"), a->resource)) {
		return false;
	}
	if (json_array_size(names) > 0 && (!a->name || !*a->name || !in_list(names, a->name)))
		return false;
	return true;
}

static bool role_allows(struct api_server *s, const char *kind, const char *role_ns,
			const char *name, const struct api_rbac_attrs *a)
{
	char key[600];
	struct store_kv kv = { 0 };
	json_t *role, *rule;
	size_t i;
	bool ok = false;

	if (streq(kind, "ClusterRole"))
		snprintf(key, sizeof(key), "/registry/rbac.authorization.k8s.io/clusterroles/%s", name);
	else if (streq(kind, "Role") && role_ns)
		snprintf(key, sizeof(key), "/registry/rbac.authorization.k8s.io/roles/%s/%s", role_ns, name);
	else
		return false;
	if (store_get(s->store, key, &kv) < 0)
		return false;
	role = rbac_parsed(s, &kv);
	store_kv_clear(&kv);
	json_array_foreach(json_object_get(role, "rules"), i, rule) {
		if (rule_allows(rule, a)) {
			ok = true;
			break;
		}
	}
	json_decref(role);
	return ok;
}

/* Walks the bindings under prefix; role_ns is the namespace a Role
 * reference resolves in (NULL for cluster bindings). */
static bool bindings_allow(struct api_req *q, const char *prefix, const char *role_ns,
			   const struct api_rbac_attrs *a)
{
	struct store_kv *kvs = NULL;
	size_t n = 0;
	int64_t rev;
	bool more, ok = false;

	if (store_list(q->srv->store, prefix, NULL, 0, &kvs, &n, &rev, &more) < 0)
		return false;
	for (size_t i = 0; i < n && !ok; i++) {
		json_t *b = rbac_parsed(q->srv, &kvs[i]), *subj;
		size_t j;

		json_array_foreach(json_object_get(b, "subjects"), j, subj) {
			if (!subject_matches(q, subj, role_ns))
				continue;
			ok = role_allows(q->srv, api_jstr(b, "roleRef.kind"), role_ns,
					 api_jstr(b, "roleRef.name"), a);
			break;
		}
		json_decref(b);
	}
	store_kvs_free(kvs, n);
	return ok;
}

static bool public_info(const char *path)
{
	static const char *const prefixes[] = { "/api", "/api/", "/apis", "/apis/", "/openapi/", "/version",
						"/healthz", "/livez", "/readyz" };

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (streq(path, prefixes[i]) ||
		    (prefixes[i][strlen(prefixes[i]) - 1] == '/' &&
		     strncmp(path, prefixes[i], strlen(prefixes[i])) == 0))
			return true;
	return false;
}

bool api_rbac_allowed(struct api_req *q, const struct api_rbac_attrs *a)
{
	char prefix[512];

	if (api_rbac_in_group(q, "system:masters"))
		return true;
	if (!a->resource && public_info(a->path))
		return true;
	/* system:basic-user: everyone may ask who they are. */
	if (a->resource && streq(a->group, "authentication.k8s.io") &&
	    streq(a->resource, "selfsubjectreviews") && streq(a->verb, "create"))
		return true;
	if (bindings_allow(q, "/registry/rbac.authorization.k8s.io/clusterrolebindings/", NULL, a))
		return true;
	if (a->resource && a->namespace && *a->namespace) {
		snprintf(prefix, sizeof(prefix), "/registry/rbac.authorization.k8s.io/rolebindings/%s/",
			 a->namespace);
		if (bindings_allow(q, prefix, a->namespace, a))
			return true;
	}
	return false;
}

void api_rbac_forbidden(struct api_req *q, const struct api_rbac_attrs *a, struct api_err *e)
{
	char what[300], where[300];

	if (!a->resource) {
		api_err_set(e, 403, "Forbidden", "forbidden: User \"%s\" cannot %s path \"%s\"",
			    q->user, a->verb, a->path);
		return;
	}
	if (a->subresource && *a->subresource)
		snprintf(what, sizeof(what), "%s/%s", a->resource, a->subresource);
	else
		snprintf(what, sizeof(what), "%s", a->resource);
	if (a->namespace && *a->namespace)
		snprintf(where, sizeof(where), "in the namespace \"%s\"", a->namespace);
	else
		snprintf(where, sizeof(where), "at the cluster scope");
	if (a->name && *a->name)
		api_err_set(e, 403, "Forbidden",
			    "%s \"%s\" is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s",
			    a->resource, a->name, q->user, a->verb, what, a->group, where);
	else
		api_err_set(e, 403, "Forbidden",
			    "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s",
			    a->resource, q->user, a->verb, what, a->group, where);
	e->kind = a->resource;
	e->group = a->group;
	snprintf(e->name, sizeof(e->name), "%s", a->name ? a->name : "");
}

/* ---- bootstrap roles of the server's own components ---- */

/* One rule: "groups|resources|verbs[|resourceNames]", comma-separated lists. */
struct rbac_role {
	const char *name;
	const char *user; /* bound as a User subject */
	const char *rules[16];
};

/* Upstream's system:kube-scheduler (plugin/pkg/auth/authorizer/rbac/
 * bootstrappolicy), with PriorityClasses readable. Upstream's
 * system:kube-controller-manager grants little because each controller
 * there runs with its own service account (--use-service-account-
 * credentials); skiff's controllers share one identity, so its role is
 * the union of theirs: every resource, no non-resource URL. */
static const struct rbac_role bootstrap_roles[] = {
	{ "system:kube-scheduler", "system:kube-scheduler", {
		",events.k8s.io|events|create,patch,update",
		"coordination.k8s.io|leases|create",
		"coordination.k8s.io|leases|get,update|kube-scheduler",
		"|endpoints|create",
		"|endpoints|get,update|kube-scheduler",
		"|nodes,namespaces,services,replicationcontrollers,persistentvolumeclaims,persistentvolumes|get,list,watch",
		"|pods|delete,get,list,watch",
		"|bindings,pods/binding|create",
		"|pods/status|patch,update",
		"apps|replicasets,statefulsets|get,list,watch",
		"policy|poddisruptionbudgets|get,list,watch",
		"scheduling.k8s.io|priorityclasses|get,list,watch",
		"authentication.k8s.io|tokenreviews|create",
		"authorization.k8s.io|subjectaccessreviews|create",
	} },
	{ "system:kube-controller-manager", "system:kube-controller-manager", {
		"*|*|get,list,watch,create,update,patch,delete,deletecollection",
	} },
};

static json_t *csv_array(const char *csv, size_t n)
{
	json_t *a = json_array();
	const char *p = csv, *end = csv + n;

	while (a && p <= end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t len = c ? (size_t)(c - p) : (size_t)(end - p);

		json_array_append_new(a, json_stringn(p, len));
		if (!c)
			break;
		p = c + 1;
	}
	return a;
}

static json_t *rule_new(const char *row)
{
	const char *f[5] = { row };
	size_t n = 1;
	json_t *rule;

	for (const char *p = row; *p && n < 5; p++)
		if (*p == '|')
			f[n++] = p + 1;
	f[n] = row + strlen(row) + 1;
	rule = json_pack("{s:o,s:o,s:o}", "apiGroups", csv_array(f[0], (size_t)(f[1] - f[0] - 1)),
			 "resources", csv_array(f[1], (size_t)(f[2] - f[1] - 1)), "verbs",
			 csv_array(f[2], (size_t)(f[3] - f[2] - 1)));
	if (rule && n > 3)
		json_object_set_new(rule, "resourceNames",
				    csv_array(f[3], (size_t)(f[4] - f[3] - 1)));
	return rule;
}

json_t *api_rbac_bootstrap_objects(void)
{
	json_t *out = json_array();

	for (size_t i = 0; out && i < ARRAY_SIZE(bootstrap_roles); i++) {
		const struct rbac_role *r = &bootstrap_roles[i];
		json_t *rules = json_array();

		for (size_t j = 0; j < ARRAY_SIZE(r->rules) && r->rules[j]; j++)
			json_array_append_new(rules, rule_new(r->rules[j]));
		json_array_append_new(out, json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:o}", "apiVersion",
						     "rbac.authorization.k8s.io/v1", "kind", "ClusterRole",
						     "metadata", "name", r->name, "labels",
						     "kubernetes.io/bootstrapping", "rbac-defaults",
						     "rules", rules));
		json_array_append_new(out, json_pack(
			"{s:s,s:s,s:{s:s,s:{s:s}},s:{s:s,s:s,s:s},s:[{s:s,s:s,s:s}]}", "apiVersion",
			"rbac.authorization.k8s.io/v1", "kind", "ClusterRoleBinding", "metadata", "name",
			r->name, "labels", "kubernetes.io/bootstrapping", "rbac-defaults", "roleRef",
			"apiGroup", "rbac.authorization.k8s.io", "kind", "ClusterRole", "name", r->name,
			"subjects", "apiGroup", "rbac.authorization.k8s.io", "kind", "User", "name",
			r->user));
	}
	return out;
}
