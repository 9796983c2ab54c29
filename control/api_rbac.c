/* RBAC: every authenticated request is checked against the Roles,
 * ClusterRoles and their bindings in the store, as kube-apiserver's RBAC
 * authorizer does. Members of system:masters may do anything (upstream's
 * cluster-admin binding); every authenticated user may read discovery,
 * OpenAPI, /version and health and ask who they are and what they may do
 * (the built-in system:discovery, system:public-info-viewer and
 * system:basic-user roles, bound to system:authenticated). The same walk
 * lists a user's rules for SelfSubjectRulesReview. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "control/api_join.h"
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
	json_t *builtin; /* the rules of every authenticated user (builtin_rules()) */
};

static json_t *builtin_rules(void);

int api_rbac_cache_new(struct api_rbac_cache **out)
{
	struct api_rbac_cache *c = calloc(1, sizeof(*c));

	if (!c || !(c->by_key = json_object()) || !(c->builtin = builtin_rules())) {
		if (c)
			json_decref(c->by_key);
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
	json_decref(c->builtin);
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

void api_req_add_group(struct api_req *q, const char *group)
{
	if (q->n_groups < API_MAX_GROUPS && !api_rbac_in_group(q, group))
		snprintf(q->groups[q->n_groups++], sizeof(q->groups[0]), "%s", group);
}

void api_req_add_extra(struct api_req *q, const char *key, const char *value)
{
	struct api_extra *x;

	if (q->n_extra >= API_MAX_EXTRA)
		return;
	x = &q->extra[q->n_extra++];
	snprintf(x->key, sizeof(x->key), "%s", key);
	snprintf(x->value, sizeof(x->value), "%s", value);
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

/* The role a binding names (a Role resolves in role_ns), parsed: a new
 * reference, or NULL. */
static json_t *role_of(struct api_server *s, json_t *binding, const char *role_ns)
{
	const char *kind = api_jstr(binding, "roleRef.kind"), *name = api_jstr(binding, "roleRef.name");
	char key[600];
	struct store_kv kv = { 0 };
	json_t *role;

	if (!name)
		return NULL;
	if (streq(kind, "ClusterRole"))
		snprintf(key, sizeof(key), "/registry/rbac.authorization.k8s.io/clusterroles/%s", name);
	else if (streq(kind, "Role") && role_ns)
		snprintf(key, sizeof(key), "/registry/rbac.authorization.k8s.io/roles/%s/%s", role_ns, name);
	else
		return NULL;
	if (store_get(s->store, key, &kv) < 0)
		return NULL;
	role = rbac_parsed(s, &kv);
	store_kv_clear(&kv);
	return role;
}

/* Called with the rules of each role bound to the user, and the binding
 * and its subject that bind it (NULL for the built-in roles); true stops
 * the walk. */
typedef bool (*rules_fn)(json_t *rules, json_t *binding, json_t *subject, void *ud);

/* A check of attrs; why (may be NULL) gets what allowed it. */
struct rbac_check {
	const struct api_rbac_attrs *a;
	char *why;
	size_t wlen;
};

/* Upstream's reason: 'RBAC: allowed by ClusterRoleBinding "b" of
 * ClusterRole "r" to User "u"' (a RoleBinding named "b/namespace", a
 * service account "name/namespace"). */
static void describe_binding(json_t *b, json_t *subj, char *why, size_t wlen)
{
	const char *ns = api_jstr(b, "metadata.namespace"), *kind = api_jstr(subj, "kind") ?: "";
	const char *sa_ns = api_jstr(subj, "namespace") ?: ns;
	char bname[600], sname[600];

	if (ns)
		snprintf(bname, sizeof(bname), "%s/%s", api_jstr(b, "metadata.name") ?: "", ns);
	else
		snprintf(bname, sizeof(bname), "%s", api_jstr(b, "metadata.name") ?: "");
	if (streq(kind, "ServiceAccount"))
		snprintf(sname, sizeof(sname), "%s/%s", api_jstr(subj, "name") ?: "", sa_ns ?: "");
	else
		snprintf(sname, sizeof(sname), "%s", api_jstr(subj, "name") ?: "");
	snprintf(why, wlen, "RBAC: allowed by %s \"%s\" of %s \"%s\" to %s \"%s\"",
		 ns ? "RoleBinding" : "ClusterRoleBinding", bname, api_jstr(b, "roleRef.kind") ?: "",
		 api_jstr(b, "roleRef.name") ?: "", kind, sname);
}

static bool rules_allow(json_t *rules, json_t *binding, json_t *subject, void *ud)
{
	struct rbac_check *c = ud;
	json_t *rule;
	size_t i;

	json_array_foreach(rules, i, rule) {
		if (!rule_allows(rule, c->a))
			continue;
		if (c->why && binding)
			describe_binding(binding, subject, c->why, c->wlen);
		else if (c->why)
			snprintf(c->why, c->wlen, "RBAC: allowed by the built-in roles of "
				 "system:authenticated");
		return true;
	}
	return false;
}

/* Walks the bindings under prefix whose subjects name q's user; role_ns
 * is the namespace a Role reference resolves in (NULL for cluster
 * bindings). True when fn stopped the walk. */
static bool bindings_each(struct api_req *q, const char *prefix, const char *role_ns, rules_fn fn,
			  void *ud)
{
	struct store_kv *kvs = NULL;
	size_t n = 0;
	int64_t rev;
	bool more, stop = false;

	if (store_list(q->srv->store, prefix, NULL, 0, &kvs, &n, &rev, &more) < 0)
		return false;
	for (size_t i = 0; i < n && !stop; i++) {
		json_t *b = rbac_parsed(q->srv, &kvs[i]), *subj, *role;
		size_t j;

		json_array_foreach(json_object_get(b, "subjects"), j, subj) {
			if (!subject_matches(q, subj, role_ns))
				continue;
			role = role_of(q->srv, b, role_ns);
			stop = role && fn(json_object_get(role, "rules"), b, subj, ud);
			json_decref(role);
			break;
		}
		json_decref(b);
	}
	store_kvs_free(kvs, n);
	return stop;
}

/* Every role bound to q's user, the cluster's bindings first, then those
 * of namespace ns (NULL or "": none). */
static bool roles_each(struct api_req *q, const char *ns, rules_fn fn, void *ud)
{
	char prefix[512];

	if (bindings_each(q, "/registry/rbac.authorization.k8s.io/clusterrolebindings/", NULL, fn, ud))
		return true;
	if (!ns || !*ns)
		return false;
	snprintf(prefix, sizeof(prefix), "/registry/rbac.authorization.k8s.io/rolebindings/%s/", ns);
	return bindings_each(q, prefix, ns, fn, ud);
}

/* ---- built-in roles ---- */

/* Upstream's system:discovery, system:public-info-viewer and
 * system:basic-user, which bind to system:authenticated. */
static json_t *builtin_rules(void)
{
	return json_pack(
		"[{s:[s],s:[s,s,s,s,s,s,s,s,s,s,s]},{s:[s],s:[s],s:[s,s]},{s:[s],s:[s],s:[s]}]",
		"verbs", "get", "nonResourceURLs", "/api", "/api/*", "/apis", "/apis/*", "/healthz",
		"/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/",
		"verbs", "create", "apiGroups", "authorization.k8s.io", "resources",
		"selfsubjectaccessreviews", "selfsubjectrulesreviews",
		"verbs", "create", "apiGroups", "authentication.k8s.io", "resources",
		"selfsubjectreviews");
}

/* The built-in rules of q's user (a new reference). system:masters may
 * do anything whatever the bindings say, as upstream's privileged group
 * (its rules are listed from the cluster-admin binding the server makes). */
static json_t *builtin_of(struct api_req *q)
{
	if (!api_rbac_in_group(q, "system:authenticated"))
		return json_array();
	return q->srv->rbac_cache ? json_incref(q->srv->rbac_cache->builtin) : builtin_rules();
}

/* RBAC's decision; why (may be NULL) gets what allowed it. */
static bool rbac_allowed(struct api_req *q, const struct api_rbac_attrs *a, char *why, size_t wlen)
{
	struct rbac_check c = { a, why, wlen };
	json_t *builtin;
	bool ok;

	if (api_rbac_in_group(q, "system:masters")) {
		if (why)
			snprintf(why, wlen, "RBAC: allowed to the group system:masters");
		return true;
	}
	builtin = builtin_of(q);
	ok = rules_allow(builtin, NULL, NULL, &c);
	json_decref(builtin);
	return ok || roles_each(q, a->resource ? a->namespace : NULL, rules_allow, &c);
}

bool api_rbac_allowed(struct api_req *q, const struct api_rbac_attrs *a)
{
	return rbac_allowed(q, a, NULL, 0);
}

bool api_authorize(struct api_req *q, const struct api_rbac_attrs *a, char *why, size_t wlen,
		   struct api_err *e)
{
	char reason[400] = "";
	int node = api_node_authorize(q, a, reason, sizeof(reason));
	size_t n;

	if (why && wlen)
		why[0] = 0;
	if (node > 0 || rbac_allowed(q, a, why, wlen))
		return true;
	if (why && wlen)
		snprintf(why, wlen, "%s", node == 0 ? reason : "");
	if (!e)
		return false;
	api_rbac_forbidden(q, a, e);
	n = strlen(e->message);
	if (node == 0)
		snprintf(e->message + n, sizeof(e->message) - n, ": %s", reason);
	return false;
}

/* ---- the rules of a user ---- */

struct rules_out {
	json_t *resource, *nonresource;
};

static json_t *list_or_empty(json_t *rule, const char *key)
{
	json_t *v = json_object_get(rule, key);

	return json_is_array(v) ? json_incref(v) : json_array();
}

static bool rules_add(json_t *rules, json_t *binding, json_t *subject, void *ud)
{
	struct rules_out *o = ud;
	json_t *rule;
	size_t i;

	(void)binding;
	(void)subject;
	json_array_foreach(rules, i, rule) {
		json_t *r = json_pack("{s:o}", "verbs", list_or_empty(rule, "verbs"));

		if (json_array_size(json_object_get(rule, "nonResourceURLs"))) {
			json_object_set_new(r, "nonResourceURLs", list_or_empty(rule, "nonResourceURLs"));
			json_array_append_new(o->nonresource, r);
			continue;
		}
		json_object_set_new(r, "apiGroups", list_or_empty(rule, "apiGroups"));
		json_object_set_new(r, "resources", list_or_empty(rule, "resources"));
		if (json_array_size(json_object_get(rule, "resourceNames")))
			json_object_set_new(r, "resourceNames", list_or_empty(rule, "resourceNames"));
		json_array_append_new(o->resource, r);
	}
	return false;
}

json_t *api_rbac_rules(struct api_req *q, const char *ns)
{
	struct rules_out o = { json_array(), json_array() };
	json_t *builtin = builtin_of(q);

	rules_add(builtin, NULL, NULL, &o);
	json_decref(builtin);
	roles_each(q, ns, rules_add, &o);
	return json_pack("{s:o,s:o,s:b}", "resourceRules", o.resource, "nonResourceRules",
			 o.nonresource, "incomplete", false);
}

/* As upstream's Forbidden Status: the resource qualified by its group
 * ("deployments.apps \"x\" is forbidden: ..."). */
void api_rbac_forbidden(struct api_req *q, const struct api_rbac_attrs *a, struct api_err *e)
{
	char what[300], where[300], qualified[300];

	if (!a->resource) {
		api_err_set(e, 403, "Forbidden", "forbidden: User \"%s\" cannot %s path \"%s\"",
			    q->user, a->verb, a->path);
		return;
	}
	if (a->subresource && *a->subresource)
		snprintf(what, sizeof(what), "%s/%s", a->resource, a->subresource);
	else
		snprintf(what, sizeof(what), "%s", a->resource);
	if (a->group && *a->group)
		snprintf(qualified, sizeof(qualified), "%s.%s", a->resource, a->group);
	else
		snprintf(qualified, sizeof(qualified), "%s", a->resource);
	if (a->namespace && *a->namespace)
		snprintf(where, sizeof(where), "in the namespace \"%s\"", a->namespace);
	else
		snprintf(where, sizeof(where), "at the cluster scope");
	if (a->name && *a->name)
		api_err_set(e, 403, "Forbidden",
			    "%s \"%s\" is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s",
			    qualified, a->name, q->user, a->verb, what, a->group ?: "", where);
	else
		api_err_set(e, 403, "Forbidden",
			    "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s",
			    qualified, q->user, a->verb, what, a->group ?: "", where);
	e->kind = a->resource;
	e->group = a->group;
	snprintf(e->name, sizeof(e->name), "%s", a->name ? a->name : "");
}

/* ---- bootstrap roles: the server's own components', and view, edit, admin ---- */

/* One rule: "groups|resources|verbs[|resourceNames]", comma-separated lists. */
struct rbac_role {
	const char *name;
	const char *user; /* bound as a User subject; NULL: not bound */
	const char *rules[16];
};

/* What view reads, and what metrics-server's system:aggregated-metrics-
 * reader adds to view, edit and admin (through their aggregation
 * upstream): `kubectl top` for whoever may read pods. */
#define VIEW_GROUPS ",apps,batch,discovery.k8s.io,networking.k8s.io,coordination.k8s.io,autoscaling"
#define VIEW_RESOURCES                                                                       \
	"pods,pods/log,pods/status,services,endpoints,configmaps,serviceaccounts,events,"    \
	"namespaces,deployments,deployments/scale,replicasets,daemonsets,statefulsets,jobs," \
	"endpointslices"
#define METRICS_READER "metrics.k8s.io|pods,nodes|get,list,watch"
#define WRITE_VERBS "create,delete,deletecollection,patch,update"
/* Upstream's edit, less what skiff does not serve: view's reads, secrets
 * and the other namespaced kinds too, and writes to them. */
#define EDIT_RULES                                                                             \
	VIEW_GROUPS ",policy|" VIEW_RESOURCES ",secrets,persistentvolumeclaims,cronjobs,"       \
		    "ingresses,networkpolicies,poddisruptionbudgets,horizontalpodautoscalers,"  \
		    "replicasets/scale,statefulsets/scale|get,list,watch",                      \
		"|pods,pods/attach,pods/exec,pods/portforward,pods/proxy,configmaps,endpoints," \
		"persistentvolumeclaims,secrets,serviceaccounts,services|" WRITE_VERBS,         \
		"|serviceaccounts/token|create",                                                \
		"apps|deployments,deployments/scale,replicasets,replicasets/scale,statefulsets," \
		"statefulsets/scale,daemonsets|" WRITE_VERBS,                                    \
		"batch|jobs,cronjobs|" WRITE_VERBS,                                              \
		"autoscaling|horizontalpodautoscalers|" WRITE_VERBS,                             \
		"networking.k8s.io|ingresses,networkpolicies|" WRITE_VERBS,                      \
		"policy|poddisruptionbudgets|" WRITE_VERBS, METRICS_READER

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
	/* The roles a cluster's users are given (bound by RoleBindings). */
	{ "view", NULL, { VIEW_GROUPS "|" VIEW_RESOURCES "|get,list,watch", METRICS_READER } },
	{ "edit", NULL, { EDIT_RULES } },
	{ "admin", NULL, {
		EDIT_RULES,
		"rbac.authorization.k8s.io|roles,rolebindings|" WRITE_VERBS ",get,list,watch",
		"authorization.k8s.io|localsubjectaccessreviews|create",
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
		if (!r->user)
			continue;
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
