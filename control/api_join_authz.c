/* Upstream's Node authorizer and NodeRestriction admission, for users
 * system:node:NAME in the group system:nodes (see api_join.h). A node may
 *   - get, list and watch nodes, pods (and their status), services,
 *     endpoints and endpointslices;
 *   - create, update and patch its own Node (and its status), and its
 *     Lease in kube-node-lease (never set a node-restriction.kubernetes.io/
 *     label, nor change the taints of its Node once made);
 *   - update and patch the status of the pods bound to it, and delete them;
 *   - create, update and patch events;
 *   - get the Secrets and ConfigMaps its pods use (volumes, projected
 *     volumes, env, envFrom, image pull secrets), and request tokens
 *     (serviceaccounts/token) for the service accounts its pods run as;
 * and nothing else. Upstream keeps a graph of these relationships; here
 * the pods of the namespace are read from the store on each such request
 * (few: a kubelet asks when it starts a pod). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/api_join.h"
#include "lib/util.h"

#define NODE_USER_PREFIX "system:node:"
#define NODE_LEASE_NS "kube-node-lease"
#define RESTRICTED_LABEL_PREFIX "node-restriction.kubernetes.io/"

enum allow {
	ALLOW_READ = 1 << 0,  /* get, list, watch */
	ALLOW_WRITE = 1 << 1, /* create, update, patch */
};

/* What a node may do with any object of a resource. */
static const struct {
	const char *group, *resource;
	unsigned allow;
} open_rows[] = {
	{ "", "nodes", ALLOW_READ },
	{ "", "pods", ALLOW_READ },
	{ "", "services", ALLOW_READ },
	{ "", "endpoints", ALLOW_READ },
	{ "discovery.k8s.io", "endpointslices", ALLOW_READ },
	{ "", "events", ALLOW_WRITE },
	{ "events.k8s.io", "events", ALLOW_WRITE },
};

static bool is_read(const char *verb)
{
	return streq(verb, "get") || streq(verb, "list") || streq(verb, "watch");
}

static bool is_write(const char *verb)
{
	return streq(verb, "create") || streq(verb, "update") || streq(verb, "patch");
}

static bool sub_is(const struct api_rbac_attrs *a, const char *sub)
{
	return streq(a->subresource ? a->subresource : "", sub);
}

static int deny(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int deny(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return 0;
}

/* The node of a node's credentials, or NULL. */
static const char *node_of(const struct api_req *q)
{
	if (strncmp(q->user, NODE_USER_PREFIX, strlen(NODE_USER_PREFIX)) != 0 ||
	    !api_rbac_in_group(q, "system:nodes"))
		return NULL;
	return q->user + strlen(NODE_USER_PREFIX);
}

/* The request's body as an object (a create's), or NULL. */
static json_t *body_of(struct api_req *q)
{
	char err[256];
	json_t *obj = NULL;

	if (!q->body || !q->body_len ||
	    api_decode_body(q->body, q->body_len, q->ctype, &obj, err, sizeof(err)) < 0)
		return NULL;
	return obj;
}

/* A create names its object in the body, the other verbs in the URL. */
static bool names_own(struct api_req *q, const struct api_rbac_attrs *a, const char *node)
{
	json_t *obj;
	bool own;

	if (!streq(a->verb, "create"))
		return streq(a->name, node);
	obj = body_of(q);
	own = streq(api_jstr(obj, "metadata.name"), node);
	json_decref(obj);
	return own;
}

/* ---- NodeRestriction on a node's own Node ---- */

static bool has_prefix(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A label key of labels under node-restriction.kubernetes.io/, or NULL. */
static const char *restricted_key(json_t *labels)
{
	const char *key;
	json_t *v;

	json_object_foreach(labels, key, v)
		if (has_prefix(key, RESTRICTED_LABEL_PREFIX))
			return key;
	return NULL;
}

/* The taints of obj, an empty list when it has none. */
static json_t *taints_of(json_t *obj)
{
	json_t *t = api_jget(obj, "spec.taints");

	return json_is_array(t) ? json_incref(t) : json_array();
}

static bool taints_differ(json_t *a, json_t *b)
{
	json_t *x = taints_of(a), *y = taints_of(b);
	bool differ = !json_equal(x, y);

	json_decref(x);
	json_decref(y);
	return differ;
}

/* A JSON patch's operations: what they touch. */
static int check_json_patch(json_t *ops, const char *node, char *why, size_t size)
{
	json_t *op;
	size_t i;

	json_array_foreach(ops, i, op) {
		const char *path = api_jstr(op, "path") ?: "";

		if (has_prefix(path, "/metadata/labels/node-restriction.kubernetes.io~1") ||
		    ((streq(path, "/metadata/labels")) && restricted_key(json_object_get(op, "value"))))
			return deny(why, size, "node \"%s\" may not set " RESTRICTED_LABEL_PREFIX
				    " labels", node);
		if (has_prefix(path, "/spec/taints") || streq(path, "/spec") || streq(path, ""))
			return deny(why, size, "node \"%s\" may not modify its taints", node);
	}
	return 1;
}

/* Upstream's NodeRestriction for a node writing its own Node: no label
 * under node-restriction.kubernetes.io/, and once the Node exists no
 * change of its taints (the node lifecycle controller's). The body is an
 * object (create, update, merge and strategic patches) or a JSON patch. */
static int node_restriction(struct api_req *q, const struct api_rbac_attrs *a, const char *node,
			    char *why, size_t size)
{
	bool patch = streq(a->verb, "patch");
	json_t *body = patch ? (q->body ? json_loadb(q->body, q->body_len, 0, NULL) : NULL)
			     : body_of(q);
	json_t *stored = NULL;
	struct api_err e = { 0 };
	const char *key;
	int ret = 1;

	if (json_is_array(body)) {
		ret = check_json_patch(body, node, why, size);
		json_decref(body);
		return ret;
	}
	key = restricted_key(api_jget(body, "metadata.labels"));
	if (key)
		ret = deny(why, size, "node \"%s\" may not set the label %s", node, key);
	else if (!streq(a->verb, "create") && !sub_is(a, "status") &&
		 (!patch || api_jget(body, "spec.taints")) &&
		 api_obj_get(q->srv, api_resource_find("", "v1", "nodes"), NULL, node, &stored, &e) == 0 &&
		 taints_differ(stored, body))
		ret = deny(why, size, "node \"%s\" may not modify its taints", node);
	api_err_free(&e);
	json_decref(stored);
	json_decref(body);
	return ret;
}

static int own_node(struct api_req *q, const struct api_rbac_attrs *a, const char *node,
		    char *why, size_t size)
{
	if (!is_write(a->verb) || !(sub_is(a, "") || sub_is(a, "status")))
		return deny(why, size, "node \"%s\" may not %s nodes%s%s", node, a->verb,
			    sub_is(a, "") ? "" : "/", a->subresource);
	if (!names_own(q, a, node))
		return deny(why, size, "node \"%s\" may only change its own Node", node);
	return node_restriction(q, a, node, why, size);
}

static int own_lease(struct api_req *q, const struct api_rbac_attrs *a, const char *node,
		     char *why, size_t size)
{
	if (!streq(a->namespace, NODE_LEASE_NS) || !sub_is(a, "") ||
	    !(is_write(a->verb) || streq(a->verb, "get") || streq(a->verb, "delete")) ||
	    !names_own(q, a, node))
		return deny(why, size, "node \"%s\" may only use its own Lease %s/%s", node,
			    NODE_LEASE_NS, node);
	return 1;
}

/* ---- pods bound to the node, and what they use ---- */

static bool pod_on(json_t *pod, const char *node)
{
	return streq(api_jstr(pod, "spec.nodeName"), node);
}

static int bound_pod(struct api_req *q, const struct api_rbac_attrs *a, const char *node,
		     char *why, size_t size)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	struct api_err e = { 0 };
	json_t *pod = NULL;
	bool on;

	if (!((sub_is(a, "status") && (streq(a->verb, "update") || streq(a->verb, "patch"))) ||
	      (sub_is(a, "") && streq(a->verb, "delete"))))
		return deny(why, size, "node \"%s\" may not %s pods%s%s", node, a->verb,
			    sub_is(a, "") ? "" : "/", a->subresource);
	if (api_obj_get(q->srv, pods, a->namespace, a->name, &pod, &e) < 0) {
		api_err_free(&e);
		return deny(why, size, "no pod %s/%s is bound to node \"%s\"", a->namespace,
			    a->name, node);
	}
	on = pod_on(pod, node);
	json_decref(pod);
	if (!on)
		return deny(why, size, "pod %s/%s is not bound to node \"%s\"", a->namespace,
			    a->name, node);
	return 1;
}

/* What a pod refers to, by kind. */
enum ref_kind { REF_SECRET, REF_CONFIGMAP, REF_SERVICEACCOUNT };

static bool ref_is(json_t *obj, const char *path, const char *name)
{
	return streq(api_jstr(obj, path), name);
}

static bool volume_uses(json_t *vol, enum ref_kind kind, const char *name)
{
	json_t *src;
	size_t i;

	if (kind == REF_SECRET && ref_is(vol, "secret.secretName", name))
		return true;
	if (kind == REF_CONFIGMAP && ref_is(vol, "configMap.name", name))
		return true;
	json_array_foreach(api_jget(vol, "projected.sources"), i, src)
		if ((kind == REF_SECRET && ref_is(src, "secret.name", name)) ||
		    (kind == REF_CONFIGMAP && ref_is(src, "configMap.name", name)))
			return true;
	return false;
}

static bool container_uses(json_t *c, enum ref_kind kind, const char *name)
{
	const char *key = kind == REF_SECRET ? "valueFrom.secretKeyRef.name"
					     : "valueFrom.configMapKeyRef.name";
	const char *from = kind == REF_SECRET ? "secretRef.name" : "configMapRef.name";
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(c, "env"), i, v)
		if (ref_is(v, key, name))
			return true;
	json_array_foreach(json_object_get(c, "envFrom"), i, v)
		if (ref_is(v, from, name))
			return true;
	return false;
}

static bool pod_uses(json_t *pod, enum ref_kind kind, const char *name)
{
	static const char *const lists[] = { "spec.containers", "spec.initContainers",
					     "spec.ephemeralContainers" };
	json_t *v;
	size_t i;

	if (kind == REF_SERVICEACCOUNT)
		return streq(api_jstr(pod, "spec.serviceAccountName") ?: "default", name);
	/* the kubelet's own service-account volume (ca.crt) */
	if (kind == REF_CONFIGMAP && streq(name, "kube-root-ca.crt") &&
	    !json_is_false(api_jget(pod, "spec.automountServiceAccountToken")))
		return true;
	json_array_foreach(api_jget(pod, "spec.volumes"), i, v)
		if (volume_uses(v, kind, name))
			return true;
	for (size_t k = 0; k < ARRAY_SIZE(lists); k++)
		json_array_foreach(api_jget(pod, lists[k]), i, v)
			if (container_uses(v, kind, name))
				return true;
	if (kind == REF_SECRET)
		json_array_foreach(api_jget(pod, "spec.imagePullSecrets"), i, v)
			if (ref_is(v, "name", name))
				return true;
	return false;
}

struct uses {
	const char *node, *name;
	const char *pod; /* NULL: any pod; else only this one */
	enum ref_kind kind;
	bool found;
};

static void visit_pod(struct api_server *s, const struct api_resource *r, const char *key,
		      json_t *pod, int64_t mod_rev, void *ud)
{
	struct uses *u = ud;

	(void)s;
	(void)r;
	(void)key;
	(void)mod_rev;
	if (!u->found && pod && pod_on(pod, u->node) &&
	    (!u->pod || streq(api_jstr(pod, "metadata.name"), u->pod)))
		u->found = pod_uses(pod, u->kind, u->name);
}

/* Whether a pod of ns bound to node (only, when given, the pod named)
 * uses the object. */
static bool node_uses(struct api_req *q, const char *ns, const char *node, const char *pod,
		      enum ref_kind kind, const char *name)
{
	struct uses u = { node, name, pod, kind, false };

	return api_obj_each(q->srv, api_resource_find("", "v1", "pods"), ns, visit_pod, &u) == 0 &&
	       u.found;
}

static int used_object(struct api_req *q, const struct api_rbac_attrs *a, const char *node,
		       enum ref_kind kind, char *why, size_t size)
{
	if (!streq(a->verb, "get") || !sub_is(a, "") || !a->name || !*a->name)
		return deny(why, size, "node \"%s\" may only get single %s its pods use", node,
			    a->resource);
	if (!node_uses(q, a->namespace, node, NULL, kind, a->name))
		return deny(why, size, "no pod bound to node \"%s\" uses %s %s/%s", node,
			    kind == REF_SECRET ? "secret" : "configmap", a->namespace, a->name);
	return 1;
}

/* serviceaccounts/token: the account of a pod bound to the node; a
 * token bound to a pod (spec.boundObjectRef) only to such a pod. */
static int token_request(struct api_req *q, const struct api_rbac_attrs *a, const char *node,
			 char *why, size_t size)
{
	json_t *body;
	const char *pod = NULL;
	bool ok;

	if (!streq(a->verb, "create") || !sub_is(a, "token"))
		return deny(why, size, "node \"%s\" may only create tokens of service accounts",
			    node);
	body = body_of(q);
	if (streq(api_jstr(body, "spec.boundObjectRef.kind"), "Pod"))
		pod = api_jstr(body, "spec.boundObjectRef.name");
	ok = node_uses(q, a->namespace, node, pod, REF_SERVICEACCOUNT, a->name);
	json_decref(body);
	if (!ok)
		return deny(why, size, "no pod%s%s bound to node \"%s\" runs as service account %s/%s",
			    pod ? " " : "", pod ? pod : "", node, a->namespace, a->name);
	return 1;
}

bool api_node_user(const struct api_req *q)
{
	return node_of(q) != NULL;
}

int api_node_authorize(struct api_req *q, const struct api_rbac_attrs *a, char *why,
		       size_t size)
{
	const char *node = node_of(q), *g = a->group ? a->group : "";

	if (!node)
		return -1;
	if (!a->resource)
		return deny(why, size, "the Node authorizer grants no non-resource path");
	for (size_t i = 0; i < ARRAY_SIZE(open_rows); i++)
		if (streq(g, open_rows[i].group) && streq(a->resource, open_rows[i].resource) &&
		    (((open_rows[i].allow & ALLOW_READ) && is_read(a->verb) &&
		      (sub_is(a, "") || sub_is(a, "status"))) ||
		     ((open_rows[i].allow & ALLOW_WRITE) && is_write(a->verb) && sub_is(a, ""))))
			return 1;
	if (!*g && streq(a->resource, "nodes"))
		return own_node(q, a, node, why, size);
	if (streq(g, "coordination.k8s.io") && streq(a->resource, "leases"))
		return own_lease(q, a, node, why, size);
	if (!*g && streq(a->resource, "pods"))
		return bound_pod(q, a, node, why, size);
	if (!*g && streq(a->resource, "secrets"))
		return used_object(q, a, node, REF_SECRET, why, size);
	if (!*g && streq(a->resource, "configmaps"))
		return used_object(q, a, node, REF_CONFIGMAP, why, size);
	if (!*g && streq(a->resource, "serviceaccounts"))
		return token_request(q, a, node, why, size);
	return deny(why, size, "the Node authorizer grants nodes no %s on %s%s%s", a->verb,
		    a->resource, *g ? "." : "", g);
}
