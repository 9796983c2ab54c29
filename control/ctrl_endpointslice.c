/* The EndpointSlice controller's compute step, as upstream's
 * endpointslice reconciler (staging/src/k8s.io/endpointslice): for each
 * address family of the Service, the pods' endpoints grouped by their
 * resolved ports; existing slices keep the endpoints still desired, slices
 * being updated are filled first, then one unchanged slice that fits the
 * rest, then new slices; a create and a delete pair up into an update; a
 * Service with no endpoints keeps one empty placeholder slice. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl.h"
#include "lib/util.h"

#define SLICE_RESOURCE "endpointslices.discovery.k8s.io"
#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define LABEL_MANAGED_BY "endpointslice.kubernetes.io/managed-by"
#define LABEL_HEADLESS "service.kubernetes.io/headless"
#define ANN_TRIGGER "endpoints.kubernetes.io/last-change-trigger-time"

struct ep_item {
	char *key; /* addresses, hostname, pod namespace/name */
	json_t *ep;
	bool taken;
};

/* The desired endpoints of one set of ports (upstream EndpointSet). */
struct port_group {
	char *key;
	json_t *ports;
	struct ep_item *v;
	size_t n, cap, left;
};

struct eps_ctx {
	const struct eps_input *in;
	const char *ns, *name;
	const char *family; /* "IPv4" / "IPv6" */
	size_t max;
	struct port_group *g;
	size_t n_g, cap_g;
	json_t *creates, *updates, *deletes;
	int skipped;
};

static bool is_ipv6(const char *ip)
{
	return ip && strchr(ip, ':');
}

static bool svc_headless(json_t *svc)
{
	const char *ip = ctrl_str(svc, "spec.clusterIP");

	return !ip || !*ip || streq(ip, "None");
}

/* getAddressTypesForService: ipFamilies, else the clusterIP's family, else
 * (headless without families) both. */
static void svc_families(json_t *svc, bool *v4, bool *v6)
{
	size_t i;
	json_t *f;
	const char *ip = ctrl_str(svc, "spec.clusterIP");

	*v4 = *v6 = false;
	json_array_foreach(ctrl_get(svc, "spec.ipFamilies"), i, f) {
		*v4 |= streq(json_string_value(f), "IPv4");
		*v6 |= streq(json_string_value(f), "IPv6");
	}
	if (*v4 || *v6)
		return;
	if (!svc_headless(svc)) {
		*(is_ipv6(ip) ? v6 : v4) = true;
		return;
	}
	*v4 = *v6 = true;
}

static long long find_port_in(json_t *containers, const char *name, const char *proto,
			      bool sidecars_only)
{
	size_t i, j;
	json_t *c, *p;

	json_array_foreach(containers, i, c) {
		if (sidecars_only && !streq(ctrl_str(c, "restartPolicy"), "Always"))
			continue;
		json_array_foreach(json_object_get(c, "ports"), j, p) {
			const char *pp = ctrl_str(p, "protocol") ?: "TCP";

			if (streq(ctrl_str(p, "name"), name) && streq(pp, proto))
				return ctrl_int(p, "containerPort", -1);
		}
	}
	return -1;
}

/* podutil.FindPort: a number as is, a name looked up in the pod's
 * containers (and restartable init containers) with the same protocol. */
long long ctrl_find_port(json_t *pod, json_t *svc_port)
{
	json_t *tp = json_object_get(svc_port, "targetPort");
	const char *proto = ctrl_str(svc_port, "protocol") ?: "TCP";
	long long r;

	if (json_is_integer(tp) && json_integer_value(tp) > 0)
		return json_integer_value(tp);
	if (!json_is_string(tp) || !*json_string_value(tp))
		return ctrl_int(svc_port, "port", -1);
	r = find_port_in(ctrl_get(pod, "spec.containers"), json_string_value(tp), proto, false);
	if (r < 0)
		r = find_port_in(ctrl_get(pod, "spec.initContainers"), json_string_value(tp),
				 proto, true);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A canonical text for a set of ports (upstream NewPortMapKey). */
static char *ports_key(json_t *ports)
{
	size_t n = json_array_size(ports), i, len = 1;
	char **parts = calloc(n + 1, sizeof(*parts)), *key = NULL;
	json_t *p;

	if (!parts)
		return NULL;
	json_array_foreach(ports, i, p) {
		if (asprintf(&parts[i], "%s\x1f%s\x1f%lld\x1f%s", ctrl_str(p, "name") ?: "",
			     ctrl_str(p, "protocol") ?: "", ctrl_int(p, "port", 0),
			     ctrl_str(p, "appProtocol") ?: "") < 0) {
			parts[i] = NULL;
			goto out;
		}
		len += strlen(parts[i]) + 1;
	}
	qsort(parts, n, sizeof(*parts), cmp_str);
	key = calloc(1, len);
	for (i = 0; key && i < n; i++) {
		strcat(key, parts[i]);
		strcat(key, "\x1e");
	}
out:
	for (i = 0; i < n; i++)
		free(parts[i]);
	free(parts);
	return key;
}

/* getEndpointPorts: the Service's ports resolved for this pod; a port the
 * pod does not have is left out. */
static json_t *pod_ports(json_t *svc, json_t *pod)
{
	json_t *out = json_array(), *sp;
	size_t i;

	json_array_foreach(ctrl_get(svc, "spec.ports"), i, sp) {
		long long num = ctrl_find_port(pod, sp);
		json_t *ep;

		if (num <= 0)
			continue;
		ep = json_pack("{s:s, s:I, s:s}", "name", ctrl_str(sp, "name") ?: "", "port",
			       (json_int_t)num, "protocol", ctrl_str(sp, "protocol") ?: "TCP");
		if (ep && ctrl_str(sp, "appProtocol"))
			json_object_set(ep, "appProtocol", json_object_get(sp, "appProtocol"));
		json_array_append_new(out, ep);
	}
	return out;
}

static char *endpoint_key(json_t *ep)
{
	json_t *addrs = json_object_get(ep, "addresses"), *a;
	size_t n = json_array_size(addrs), i, len = 64;
	const char **v = calloc(n + 1, sizeof(*v));
	char *key;

	if (!v)
		return NULL;
	json_array_foreach(addrs, i, a) {
		v[i] = json_string_value(a) ?: "";
		len += strlen(v[i]) + 1;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	len += strlen(ctrl_str(ep, "hostname") ?: "") + strlen(ctrl_str(ep, "targetRef.namespace") ?: "") +
	       strlen(ctrl_str(ep, "targetRef.name") ?: "");
	key = calloc(1, len);
	for (i = 0; key && i < n; i++) {
		strcat(key, v[i]);
		strcat(key, ",");
	}
	if (key) {
		strcat(key, "|");
		strcat(key, ctrl_str(ep, "hostname") ?: "");
		strcat(key, "|");
		strcat(key, ctrl_str(ep, "targetRef.namespace") ?: "");
		strcat(key, "/");
		strcat(key, ctrl_str(ep, "targetRef.name") ?: "");
	}
	free(v);
	return key;
}

/* podToEndpoint */
static json_t *pod_endpoint(struct eps_ctx *c, json_t *pod, json_t *node)
{
	json_t *svc = c->in->svc, *addrs = json_array(), *ip, *ep;
	bool serving = ctrl_pod_ready(pod, NULL);
	bool terminating = ctrl_get(pod, "metadata.deletionTimestamp") != NULL;
	bool ready = json_is_true(ctrl_get(svc, "spec.publishNotReadyAddresses")) ||
		     (serving && !terminating);
	const char *hostname = ctrl_str(pod, "spec.hostname");
	const char *zone = json_string_value(
		json_object_get(ctrl_get(node, "metadata.labels"), "topology.kubernetes.io/zone"));
	size_t i;

	json_array_foreach(ctrl_get(pod, "status.podIPs"), i, ip) {
		const char *s = ctrl_str(ip, "ip");

		if (s && is_ipv6(s) == streq(c->family, "IPv6"))
			json_array_append_new(addrs, json_string(s));
	}
	if (!json_array_size(ctrl_get(pod, "status.podIPs"))) {
		const char *s = ctrl_str(pod, "status.podIP");

		if (s && *s && is_ipv6(s) == streq(c->family, "IPv6"))
			json_array_append_new(addrs, json_string(s));
	}
	ep = json_pack("{s:o, s:{s:b, s:b, s:b}, s:{s:s, s:s, s:s, s:s}}", "addresses", addrs,
		       "conditions", "ready", ready, "serving", serving, "terminating", terminating,
		       "targetRef", "kind", "Pod", "namespace", c->ns, "name",
		       ctrl_str(pod, "metadata.name") ?: "", "uid",
		       ctrl_str(pod, "metadata.uid") ?: "");
	if (!ep)
		return NULL;
	if (ctrl_str(pod, "spec.nodeName") && *ctrl_str(pod, "spec.nodeName"))
		json_object_set(ep, "nodeName", ctrl_get(pod, "spec.nodeName"));
	if (zone && *zone)
		json_object_set_new(ep, "zone", json_string(zone));
	/* ShouldSetHostname */
	if (hostname && *hostname && streq(ctrl_str(pod, "spec.subdomain"), c->name))
		json_object_set_new(ep, "hostname", json_string(hostname));
	return ep;
}

static struct port_group *group_get(struct eps_ctx *c, char *key, json_t *ports)
{
	struct port_group *g;

	for (size_t i = 0; i < c->n_g; i++)
		if (streq(c->g[i].key, key)) {
			free(key);
			json_decref(ports);
			return &c->g[i];
		}
	if (c->n_g == c->cap_g) {
		size_t cap = c->cap_g ? 2 * c->cap_g : 4;
		struct port_group *v = realloc(c->g, cap * sizeof(*v));

		if (!v)
			goto fail;
		c->g = v;
		c->cap_g = cap;
	}
	g = &c->g[c->n_g++];
	*g = (struct port_group){ .key = key, .ports = ports };
	return g;
fail:
	free(key);
	json_decref(ports);
	return NULL;
}

static int group_add(struct port_group *g, json_t *ep)
{
	char *key = endpoint_key(ep);

	if (!key) {
		json_decref(ep);
		return -ENOMEM;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		struct ep_item *v = realloc(g->v, cap * sizeof(*v));

		if (!v) {
			free(key);
			json_decref(ep);
			return -ENOMEM;
		}
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = (struct ep_item){ .key = key, .ep = ep };
	g->left++;
	return 0;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ep_item *)a)->key, ((const struct ep_item *)b)->key);
}

/* Sorted by key, a duplicate (two pods with one address) counted once. */
static void group_seal(struct port_group *g)
{
	qsort(g->v, g->n, sizeof(*g->v), item_cmp);
	for (size_t i = 1; i < g->n; i++)
		if (streq(g->v[i].key, g->v[i - 1].key) && !g->v[i - 1].taken) {
			g->v[i - 1].taken = true;
			g->left--;
		}
}

/* desiredSet.Get + Delete: the desired version of an existing endpoint. */
static json_t *group_take(struct port_group *g, json_t *existing)
{
	struct ep_item k = { .key = endpoint_key(existing) }, *it;

	if (!k.key)
		return NULL;
	it = bsearch(&k, g->v, g->n, sizeof(*g->v), item_cmp);
	free(k.key);
	while (it && it + 1 < g->v + g->n && streq(it[1].key, it->key))
		it++; /* the last of duplicates is the one kept */
	if (!it || it->taken)
		return NULL;
	it->taken = true;
	g->left--;
	return it->ep;
}

static json_t *group_pop(struct port_group *g)
{
	for (size_t i = 0; i < g->n; i++)
		if (!g->v[i].taken) {
			g->v[i].taken = true;
			g->left--;
			return g->v[i].ep;
		}
	return NULL;
}

static void groups_clear(struct eps_ctx *c)
{
	for (size_t i = 0; i < c->n_g; i++) {
		for (size_t j = 0; j < c->g[i].n; j++) {
			free(c->g[i].v[j].key);
			json_decref(c->g[i].v[j].ep);
		}
		free(c->g[i].v);
		free(c->g[i].key);
		json_decref(c->g[i].ports);
	}
	free(c->g);
	c->g = NULL;
	c->n_g = c->cap_g = 0;
}

/* ShouldPodBeInEndpoints(pod, includeTerminating=true) */
static bool pod_wanted(json_t *pod)
{
	const char *ip = ctrl_str(pod, "status.podIP");

	if (ctrl_pod_terminal(pod))
		return false;
	return (ip && *ip) || json_array_size(ctrl_get(pod, "status.podIPs"));
}

/* The desired endpoints of the address family, grouped by ports. */
static int collect_pods(struct eps_ctx *c)
{
	json_t *svc = c->in->svc, *sel = ctrl_get(svc, "spec.selector");
	bool publish = json_is_true(ctrl_get(svc, "spec.publishNotReadyAddresses"));
	bool no_ports = !json_array_size(ctrl_get(svc, "spec.ports")) && svc_headless(svc);

	for (size_t i = 0; i < c->in->n_pods; i++) {
		json_t *pod = c->in->pods[i], *node = NULL, *ports, *ep;
		struct port_group *g;
		int r;

		if (!ctrl_map_selects(sel, ctrl_get(pod, "metadata.labels")) || !pod_wanted(pod))
			continue;
		ports = no_ports ? json_array() : pod_ports(svc, pod);
		if (!ports)
			return -ENOMEM;
		g = group_get(c, ports_key(ports), ports);
		if (!g || !g->key)
			return -ENOMEM;
		if (c->in->node_get) {
			node = c->in->node_get(c->in->node_ud, ctrl_str(pod, "spec.nodeName") ?: "");
			if (!node && !publish) {
				c->skipped++;
				continue;
			}
		}
		ep = pod_endpoint(c, pod, node);
		if (!ep)
			return -ENOMEM;
		if (!json_array_size(json_object_get(ep, "addresses"))) {
			json_decref(ep);
			continue;
		}
		r = group_add(g, json_incref(ep));
		json_decref(ep);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < c->n_g; i++)
		group_seal(&c->g[i]);
	return 0;
}

/* setEndpointSliceLabels: the Service's labels (reserved keys left out),
 * the headless label, the service-name and managed-by labels. */
static json_t *slice_labels(struct eps_ctx *c)
{
	json_t *l = json_object(), *v;
	const char *k;

	json_object_foreach(ctrl_get(c->in->svc, "metadata.labels"), k, v)
		if (!streq(k, LABEL_SERVICE_NAME) && !streq(k, LABEL_MANAGED_BY) &&
		    !streq(k, LABEL_HEADLESS))
			json_object_set(l, k, v);
	if (svc_headless(c->in->svc))
		json_object_set_new(l, LABEL_HEADLESS, json_string(""));
	json_object_set_new(l, LABEL_SERVICE_NAME, json_string(c->name));
	json_object_set_new(l, LABEL_MANAGED_BY, json_string(EPS_MANAGED_BY));
	return l;
}

/* A slice to create; ports NULL: none (the placeholder). */
static json_t *new_slice(struct eps_ctx *c, json_t *ports)
{
	char prefix[256];

	snprintf(prefix, sizeof(prefix), "%s-", c->name);
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[o]}, s:s, s:[], s:o}", "apiVersion",
			 "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "generateName",
			 prefix, "namespace", c->ns, "labels", slice_labels(c), "ownerReferences",
			 ctrl_new_controller_ref(c->in->svc, "v1", "Service"), "addressType",
			 c->family, "endpoints", "ports", ports ? json_incref(ports) : json_array());
}

/* Slices of other controllers (another managed-by) are left alone. */
static bool slice_managed(json_t *slice)
{
	return streq(json_string_value(json_object_get(ctrl_get(slice, "metadata.labels"),
							LABEL_MANAGED_BY)),
		     EPS_MANAGED_BY);
}

static bool owned_by_svc(json_t *slice, json_t *svc)
{
	size_t i;
	json_t *o;

	json_array_foreach(ctrl_get(slice, "metadata.ownerReferences"), i, o)
		if (streq(ctrl_str(o, "uid"), ctrl_str(svc, "metadata.uid")) &&
		    streq(ctrl_str(o, "kind"), "Service") && streq(ctrl_str(o, "apiVersion"), "v1"))
			return true;
	return false;
}

enum slice_state { SLICE_UNCHANGED, SLICE_UPDATE, SLICE_DELETE };

struct slice_work {
	json_t *obj; /* the existing slice, or its modified copy (owned) */
	enum slice_state state;
};

static size_t n_eps(json_t *slice)
{
	return json_array_size(json_object_get(slice, "endpoints"));
}

static int work_len_desc(const void *a, const void *b)
{
	const struct slice_work *x = *(struct slice_work *const *)a;
	const struct slice_work *y = *(struct slice_work *const *)b;

	if (n_eps(x->obj) != n_eps(y->obj))
		return n_eps(x->obj) > n_eps(y->obj) ? -1 : 1;
	return strcmp(ctrl_str(x->obj, "metadata.name") ?: "", ctrl_str(y->obj, "metadata.name") ?: "");
}

static void fill(json_t *slice, struct port_group *g, size_t max)
{
	json_t *eps = json_object_get(slice, "endpoints");

	while (g->left && json_array_size(eps) < max)
		json_array_append(eps, group_pop(g));
}

/* Step 1 for one existing slice: keep the endpoints still desired, in
 * their desired version. */
static int keep_desired(struct eps_ctx *c, struct port_group *g, struct slice_work *w)
{
	json_t *old = json_object_get(w->obj, "endpoints"), *kept = json_array(), *ep, *got;
	json_t *labels = slice_labels(c);
	bool changed = false;
	size_t i;

	if (!kept || !labels) {
		json_decref(kept);
		json_decref(labels);
		return -ENOMEM;
	}
	json_array_foreach(old, i, ep) {
		got = g ? group_take(g, ep) : NULL;
		if (!got)
			continue;
		json_array_append(kept, got);
		changed |= !json_equal(got, ep);
	}
	if (changed || json_array_size(kept) != json_array_size(old)) {
		w->state = json_array_size(kept) ? SLICE_UPDATE : SLICE_DELETE;
	} else if (!json_equal(labels, ctrl_get(w->obj, "metadata.labels"))) {
		w->state = SLICE_UPDATE;
	}
	if (w->state == SLICE_UPDATE) {
		w->obj = json_deep_copy(w->obj);
		if (!w->obj)
			return -ENOMEM;
		json_object_set(w->obj, "endpoints", kept);
		json_object_set(json_object_get(w->obj, "metadata"), "labels", labels);
	}
	json_decref(kept);
	json_decref(labels);
	return 0;
}

/* getSliceToFill: the unchanged slice that the rest fits closest. */
static struct slice_work *slice_to_fill(struct slice_work *w, size_t n, size_t left, size_t max)
{
	struct slice_work *best = NULL;
	size_t best_diff = max;

	for (size_t i = 0; i < n; i++) {
		size_t have = n_eps(w[i].obj);

		if (w[i].state != SLICE_UNCHANGED || left + have > max)
			continue;
		if (max - (left + have) < best_diff) {
			best_diff = max - (left + have);
			best = &w[i];
		}
	}
	return best;
}

/* reconcileByPortMapping for one group of ports. */
static int reconcile_ports(struct eps_ctx *c, struct port_group *g, json_t **existing, size_t n)
{
	struct slice_work *w = calloc(n + 1, sizeof(*w)), **upd = calloc(n + 1, sizeof(*upd));
	size_t n_upd = 0, i;
	int r = 0;

	if (!w || !upd) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && r == 0; i++) {
		w[i].obj = existing[i];
		r = keep_desired(c, g, &w[i]);
	}
	/* 2. fill the slices being updated, fullest first */
	for (i = 0; i < n && r == 0; i++)
		if (w[i].state == SLICE_UPDATE)
			upd[n_upd++] = &w[i];
	if (n_upd > 1)
		qsort(upd, n_upd, sizeof(*upd), work_len_desc);
	for (i = 0; i < n_upd && g->left; i++)
		fill(upd[i]->obj, g, c->max);
	/* 3. the rest into one unchanged slice that fits, else new slices */
	while (r == 0 && g->left) {
		struct slice_work *sw = NULL;
		json_t *s;

		if (g->left < c->max)
			sw = slice_to_fill(w, n, g->left, c->max);
		if (sw) {
			sw->obj = json_deep_copy(sw->obj);
			sw->state = SLICE_UPDATE;
			if (!sw->obj) {
				r = -ENOMEM;
				break;
			}
			fill(sw->obj, g, c->max);
			continue;
		}
		s = new_slice(c, g->ports);
		if (!s) {
			r = -ENOMEM;
			break;
		}
		fill(s, g, c->max);
		json_array_append_new(c->creates, s);
	}
	for (i = 0; i < n; i++) {
		if (w[i].state == SLICE_UPDATE)
			json_array_append_new(c->updates, w[i].obj);
		else if (w[i].state == SLICE_DELETE)
			json_array_append(c->deletes, w[i].obj);
	}
out:
	free(w);
	free(upd);
	return r;
}

static bool is_placeholder_of(struct eps_ctx *c, json_t *slice)
{
	json_t *want = new_slice(c, NULL);
	bool same;

	if (!want)
		return false;
	same = streq(ctrl_str(slice, "metadata.namespace"), c->ns) &&
	       json_equal(ctrl_get(slice, "metadata.labels"), ctrl_get(want, "metadata.labels")) &&
	       json_equal(ctrl_get(slice, "metadata.ownerReferences"),
			  ctrl_get(want, "metadata.ownerReferences")) &&
	       streq(ctrl_str(slice, "addressType"), c->family) && !n_eps(slice) &&
	       !json_array_size(json_object_get(slice, "ports"));
	json_decref(want);
	return same;
}

static void set_trigger_time(struct eps_ctx *c, json_t *slice)
{
	json_t *meta = json_object_get(slice, "metadata");
	json_t *ann = json_object_get(meta, "annotations");
	char t[32];

	if (!c->in->trigger_time) {
		json_object_del(ann, ANN_TRIGGER);
		return;
	}
	if (!ann) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	ctrl_time_format(c->in->trigger_time, t);
	json_object_set_new(ann, ANN_TRIGGER, json_string(t));
}

/* finalize: a create takes the name of a slice being deleted (same
 * family, owned by this Service) and becomes an update; then the plan. */
static int finalize(struct eps_ctx *c, struct ctrl_plan *p)
{
	size_t i = 0;
	json_t *s;
	int r = 0;

	while (i < json_array_size(c->deletes) && json_array_size(c->creates)) {
		json_t *del = json_array_get(c->deletes, i);
		size_t last = json_array_size(c->creates) - 1;
		json_t *cr = json_array_get(c->creates, last);

		if (!streq(ctrl_str(del, "addressType"), ctrl_str(cr, "addressType")) ||
		    !owned_by_svc(del, c->in->svc)) {
			i++;
			continue;
		}
		json_object_set(json_object_get(cr, "metadata"), "name",
				ctrl_get(del, "metadata.name"));
		if (ctrl_get(del, "metadata.resourceVersion"))
			json_object_set(json_object_get(cr, "metadata"), "resourceVersion",
					ctrl_get(del, "metadata.resourceVersion"));
		json_array_append(c->updates, cr);
		json_array_remove(c->creates, last);
		json_array_remove(c->deletes, i);
	}
	if (!ctrl_get(c->in->svc, "metadata.deletionTimestamp"))
		json_array_foreach(c->creates, i, s) {
			set_trigger_time(c, s);
			if (r == 0)
				r = ctrl_plan_add(p, CTRL_CREATE, SLICE_RESOURCE, c->ns, NULL,
						  json_incref(s));
		}
	json_array_foreach(c->updates, i, s) {
		set_trigger_time(c, s);
		if (r == 0)
			r = ctrl_plan_add(p, CTRL_UPDATE, SLICE_RESOURCE, c->ns,
					  ctrl_str(s, "metadata.name"), json_incref(s));
	}
	json_array_foreach(c->deletes, i, s) {
		if (r == 0)
			r = ctrl_plan_add(p, CTRL_DELETE, SLICE_RESOURCE, c->ns,
					  ctrl_str(s, "metadata.name"), NULL);
	}
	return r;
}

/* reconcileByAddressType */
static int reconcile_family(struct eps_ctx *c, struct ctrl_plan *p)
{
	const struct eps_input *in = c->in;
	size_t n_ex = 0, n_owned = 0, i, j;
	json_t **owned = calloc(in->n_slices + 1, sizeof(*owned));
	char **okeys = calloc(in->n_slices + 1, sizeof(*okeys));
	bool *matched = calloc(in->n_slices + 1, sizeof(*matched));
	json_t **grp = calloc(in->n_slices + 1, sizeof(*grp));
	int r = -ENOMEM;

	c->creates = json_array();
	c->updates = json_array();
	c->deletes = json_array();
	if (!owned || !okeys || !matched || !grp || !c->creates || !c->updates || !c->deletes)
		goto out;
	for (i = 0; i < in->n_slices; i++) {
		json_t *s = in->slices[i];

		if (!slice_managed(s) || !streq(ctrl_str(s, "addressType"), c->family))
			continue;
		n_ex++;
		if (!owned_by_svc(s, in->svc)) {
			json_array_append(c->deletes, s);
			continue;
		}
		okeys[n_owned] = ports_key(json_object_get(s, "ports"));
		if (!okeys[n_owned])
			goto out;
		owned[n_owned++] = s;
	}
	r = collect_pods(c);
	for (i = 0; i < c->n_g && r == 0; i++) {
		size_t n = 0;

		for (j = 0; j < n_owned; j++)
			if (streq(okeys[j], c->g[i].key)) {
				grp[n++] = owned[j];
				matched[j] = true;
			}
		r = reconcile_ports(c, &c->g[i], grp, n);
	}
	if (r < 0)
		goto out;
	for (j = 0; j < n_owned; j++)
		if (!matched[j])
			json_array_append(c->deletes, owned[j]);
	/* no endpoints at all: one empty placeholder slice */
	if (n_ex == json_array_size(c->deletes) && !json_array_size(c->creates)) {
		if (json_array_size(c->deletes) == 1 &&
		    is_placeholder_of(c, json_array_get(c->deletes, 0)))
			json_array_clear(c->deletes);
		else
			json_array_append_new(c->creates, new_slice(c, NULL));
	}
	r = finalize(c, p);
out:
	for (i = 0; i < n_owned; i++)
		free(okeys[i]);
	free(okeys);
	free(owned);
	free(matched);
	free(grp);
	groups_clear(c);
	json_decref(c->creates);
	json_decref(c->updates);
	json_decref(c->deletes);
	c->creates = c->updates = c->deletes = NULL;
	return r;
}

int eps_compute(const struct eps_input *in, struct ctrl_plan *p)
{
	struct eps_ctx c = { .in = in, .max = in->max_per_slice ?: EPS_MAX_PER_SLICE };
	bool v4, v6;
	int r = 0;

	c.ns = ctrl_str(in->svc, "metadata.namespace") ?: "default";
	c.name = ctrl_str(in->svc, "metadata.name");
	if (!c.name)
		return -EINVAL;
	/* Services without a selector get their slices from their user;
	 * ExternalName Services get none. */
	if (!json_object_size(ctrl_get(in->svc, "spec.selector")) ||
	    streq(ctrl_str(in->svc, "spec.type"), "ExternalName"))
		return 0;
	svc_families(in->svc, &v4, &v6);
	if (v4) {
		c.family = "IPv4";
		r = reconcile_family(&c, p);
	}
	if (v6 && r == 0) {
		c.family = "IPv6";
		r = reconcile_family(&c, p);
	}
	/* slices of a family the Service no longer has */
	for (size_t i = 0; i < in->n_slices && r == 0; i++) {
		const char *f = ctrl_str(in->slices[i], "addressType");

		if (slice_managed(in->slices[i]) &&
		    !((v4 && streq(f, "IPv4")) || (v6 && streq(f, "IPv6"))))
			r = ctrl_plan_add(p, CTRL_DELETE, SLICE_RESOURCE, c.ns,
					  ctrl_str(in->slices[i], "metadata.name"), NULL);
	}
	return r < 0 ? r : c.skipped;
}
