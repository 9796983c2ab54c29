/* Nodes and pods parsed once per change into the scheduler's compact
 * structs (sched.h): labels, taints, allocatable, requests, host ports,
 * tolerations, affinity terms and spread constraints. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/sched_internal.h"
#include "lib/kube_quantity.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

/* Upstream's non-zero defaults for containers that request nothing
 * (scheduler util DefaultMilliCPURequest, DefaultMemoryRequest). */
#define DEFAULT_MILLI_CPU 100
#define DEFAULT_MEMORY (200LL * 1024 * 1024)

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static enum sched_effect parse_effect(const char *e)
{
	if (streq(e, "NoSchedule"))
		return SCHED_NO_SCHEDULE;
	if (streq(e, "PreferNoSchedule"))
		return SCHED_PREFER_NO_SCHEDULE;
	if (streq(e, "NoExecute"))
		return SCHED_NO_EXECUTE;
	return SCHED_EFFECT_ALL;
}

/* The slot of a resource name; extended ones get a slot the first time
 * (create), -1 when unknown or when every slot is taken. */
static int res_slot(struct sched *s, const char *name, bool create)
{
	static const char *const builtin[] = { "cpu", "memory", "ephemeral-storage", "pods" };

	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		if (streq(name, builtin[i]))
			return (int)i;
	/* Scalar resources as upstream counts them: extended (domain/name) and hugepages. */
	if (!strchr(name, '/') && strncmp(name, "hugepages-", 10) != 0)
		return -1;
	for (size_t i = SCHED_RES_BUILTIN; i < SCHED_RES_BUILTIN + s->n_res; i++)
		if (streq(s->res_names[i], name))
			return (int)i;
	if (!create || SCHED_RES_BUILTIN + s->n_res >= SCHED_RES_MAX)
		return -1;
	s->res_names[SCHED_RES_BUILTIN + s->n_res] = strdup(name);
	if (!s->res_names[SCHED_RES_BUILTIN + s->n_res])
		return -1;
	return (int)(SCHED_RES_BUILTIN + s->n_res++);
}

const char *sched_res_name(const struct sched *s, size_t slot)
{
	static const char *const builtin[] = { "cpu", "memory", "ephemeral-storage", "pods" };

	return slot < SCHED_RES_BUILTIN ? builtin[slot] : s->res_names[slot];
}

/* A resource list ({"cpu": "100m", ...}) added into v. */
static int add_resources(struct sched *s, json_t *list, int64_t *v)
{
	const char *k;
	json_t *q;

	json_object_foreach(list, k, q) {
		int slot = res_slot(s, k, true);
		int64_t x;
		int r;

		if (slot < 0)
			continue;
		r = slot == SCHED_CPU ? kube_quantity_json_milli(q, &x) : kube_quantity_json_value(q, &x);
		if (r < 0)
			return r;
		v[slot] += x;
	}
	return 0;
}

/* Allocates *out (void **) zeroed for the items of arr; NULL when there
 * are none. -ENOMEM. */
static int alloc_items(json_t *arr, size_t elem, void *out)
{
	size_t n = json_array_size(arr);
	void **o = out;

	*o = n ? calloc(n, elem) : NULL;
	return n && !*o ? -ENOMEM : 0;
}

/* An array of strings (other items refused); -EINVAL, -ENOMEM. */
static int parse_strings(json_t *arr, char ***out, size_t *n_out)
{
	json_t *x;
	size_t j;

	*n_out = 0;
	if (alloc_items(arr, sizeof(char *), out) < 0)
		return -ENOMEM;
	json_array_foreach(arr, j, x) {
		if (!json_is_string(x))
			return -EINVAL;
		(*out)[*n_out] = strdup(json_string_value(x));
		if (!(*out)[(*n_out)++])
			return -ENOMEM;
	}
	return 0;
}

static void strings_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- nodes ---- */

static void node_fields_free(struct sched_node *n)
{
	for (size_t i = 0; i < n->n_taints; i++) {
		free(n->taints[i].key);
		free(n->taints[i].value);
	}
	free(n->taints);
	json_decref(n->labels);
	n->taints = NULL;
	n->n_taints = 0;
	n->labels = NULL;
	n->hostname = n->zone = NULL;
}

/* Fills the parsed fields of n (name, labels, taints, unschedulable,
 * allocatable) from a Node; n's pods and requests are left alone. */
int sched_node_parse_into(struct sched *s, json_t *obj, struct sched_node *n)
{
	json_t *spec = json_object_get(obj, "spec"), *taints = json_object_get(spec, "taints"), *t;
	size_t i;
	int r;

	node_fields_free(n);
	memset(n->alloc, 0, sizeof(n->alloc));
	n->labels = json_incref(json_object_get(json_object_get(obj, "metadata"), "labels"));
	n->hostname = sched_label(n->labels, SCHED_LABEL_HOSTNAME);
	n->zone = sched_label(n->labels, SCHED_LABEL_ZONE);
	n->unschedulable = json_is_true(json_object_get(spec, "unschedulable"));
	if (alloc_items(taints, sizeof(*n->taints), &n->taints) < 0)
		return -ENOMEM;
	json_array_foreach(taints, i, t) {
		struct sched_taint *x = &n->taints[n->n_taints];

		x->key = strdup(jstr(t, "key") ? jstr(t, "key") : "");
		x->value = strdup(jstr(t, "value") ? jstr(t, "value") : "");
		x->effect = parse_effect(jstr(t, "effect"));
		n->n_taints++;
		if (!x->key || !x->value)
			return -ENOMEM;
	}
	r = add_resources(s, json_object_get(json_object_get(obj, "status"), "allocatable"),
			  n->alloc);
	return r;
}

void sched_node_fields_free(struct sched_node *n)
{
	node_fields_free(n);
}

/* ---- pods: node affinity ---- */

static void reqs_free(struct sched_req *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].key);
		strings_free(r[i].values, r[i].n_values);
	}
	free(r);
}

static int parse_reqs(json_t *arr, struct sched_req **out, size_t *n_out)
{
	struct sched_req *v;
	json_t *e;
	size_t i;

	*n_out = 0;
	if (alloc_items(arr, sizeof(*v), out) < 0)
		return -ENOMEM;
	v = *out;
	json_array_foreach(arr, i, e) {
		const char *op = jstr(e, "operator");
		json_t *vals = json_object_get(e, "values");
		struct sched_req *q = &v[i];
		int r;

		q->key = strdup(jstr(e, "key") ? jstr(e, "key") : "");
		(*n_out)++;
		if (!q->key)
			return -ENOMEM;
		if (streq(op, "In"))
			q->op = SCHED_OP_IN;
		else if (streq(op, "NotIn"))
			q->op = SCHED_OP_NOTIN;
		else if (streq(op, "Exists"))
			q->op = SCHED_OP_EXISTS;
		else if (streq(op, "DoesNotExist"))
			q->op = SCHED_OP_DOESNOTEXIST;
		else if (streq(op, "Gt") || streq(op, "Lt")) {
			char *end;
			const char *s0 = json_string_value(json_array_get(vals, 0));

			q->op = streq(op, "Gt") ? SCHED_OP_GT : SCHED_OP_LT;
			if (json_array_size(vals) != 1 || !s0)
				return -EINVAL;
			q->num = strtoll(s0, &end, 10);
			if (end == s0 || *end)
				return -EINVAL;
		} else
			return -EINVAL;
		r = parse_strings(vals, &q->values, &q->n_values);
		if (r < 0)
			return r;
	}
	return 0;
}

static void terms_free(struct sched_term *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		reqs_free(t[i].reqs, t[i].n_reqs);
		reqs_free(t[i].fields, t[i].n_fields);
	}
	free(t);
}

/* NodeSelectorTerms, or PreferredSchedulingTerms (preferred: each has a
 * weight and a "preference" term). */
static int parse_terms(json_t *arr, bool preferred, struct sched_term **out, size_t *n_out)
{
	json_t *e;
	size_t i;
	int r;

	*n_out = 0;
	if (alloc_items(arr, sizeof(**out), out) < 0)
		return -ENOMEM;
	json_array_foreach(arr, i, e) {
		struct sched_term *t = &(*out)[i];
		json_t *term = preferred ? json_object_get(e, "preference") : e;

		(*n_out)++;
		t->weight = preferred ? (int)json_integer_value(json_object_get(e, "weight")) : 0;
		r = parse_reqs(json_object_get(term, "matchExpressions"), &t->reqs, &t->n_reqs);
		if (r < 0)
			return r;
		r = parse_reqs(json_object_get(term, "matchFields"), &t->fields, &t->n_fields);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- pods: pod affinity and spread ---- */

static void pod_terms_free(struct sched_pod_term *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kube_selector_free(t[i].sel);
		kube_selector_free(t[i].ns_sel);
		strings_free(t[i].namespaces, t[i].n_namespaces);
		free(t[i].topology_key);
	}
	free(t);
}

/* A labelSelector, or NULL (matches nothing) when absent. */
static int parse_selector(json_t *ls, struct kube_selector **out)
{
	*out = NULL;
	if (!json_is_object(ls))
		return 0;
	return kube_selector_from_json(ls, out);
}

/* Appends "key OP (the pod's value)" to exprs for each key the pod has a
 * label for. */
static int add_key_reqs(json_t *exprs, json_t *keys, const char *op, json_t *labels)
{
	json_t *k;
	size_t i;

	json_array_foreach(keys, i, k) {
		const char *v = sched_label(labels, json_string_value(k));

		if (v && json_array_append_new(exprs, json_pack("{s:s, s:s, s:[s]}", "key",
							       json_string_value(k), "operator", op,
							       "values", v)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* A labelSelector narrowed by matchLabelKeys ("key In (the pod's value)")
 * and mismatchLabelKeys ("key NotIn ..."), as upstream merges them (the
 * kube-apiserver does it for pod affinity terms when the pod is created;
 * done here, the merge is the same). */
static int keyed_selector(json_t *term, json_t *labels, struct kube_selector **out)
{
	json_t *ls = json_object_get(term, "labelSelector");
	json_t *in = json_object_get(term, "matchLabelKeys");
	json_t *notin = json_object_get(term, "mismatchLabelKeys");
	json_t *merged, *exprs;
	int r = 0;

	if (!json_is_object(ls) || (!json_array_size(in) && !json_array_size(notin)))
		return parse_selector(ls, out);
	merged = json_deep_copy(ls);
	exprs = json_object_get(merged, "matchExpressions");
	if (!merged || (!json_is_array(exprs) &&
			json_object_set_new(merged, "matchExpressions", exprs = json_array()) < 0))
		r = -ENOMEM;
	if (r == 0)
		r = add_key_reqs(exprs, in, "In", labels);
	if (r == 0)
		r = add_key_reqs(exprs, notin, "NotIn", labels);
	if (r == 0)
		r = parse_selector(merged, out);
	json_decref(merged);
	return r;
}

static int parse_pod_terms(json_t *arr, bool weighted, json_t *labels,
			   struct sched_pod_term **out, size_t *n_out)
{
	json_t *e;
	size_t i;
	int r;

	*n_out = 0;
	if (alloc_items(arr, sizeof(**out), out) < 0)
		return -ENOMEM;
	json_array_foreach(arr, i, e) {
		struct sched_pod_term *t = &(*out)[i];
		json_t *term = weighted ? json_object_get(e, "podAffinityTerm") : e;
		json_t *nss = json_object_get(term, "namespaces"), *nsel;

		(*n_out)++;
		t->weight = weighted ? (int)json_integer_value(json_object_get(e, "weight")) : 1;
		t->topology_key = strdup(jstr(term, "topologyKey") ? jstr(term, "topologyKey") : "");
		if (!t->topology_key)
			return -ENOMEM;
		r = keyed_selector(term, labels, &t->sel);
		if (r < 0)
			return r;
		nsel = json_object_get(term, "namespaceSelector");
		t->all_ns = json_is_object(nsel) && !json_object_size(nsel);
		if (json_object_size(nsel) && (r = kube_selector_from_json(nsel, &t->ns_sel)) < 0)
			return r;
		r = parse_strings(nss, &t->namespaces, &t->n_namespaces);
		if (r < 0)
			return r;
	}
	return 0;
}

static void spread_free(struct sched_spread *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kube_selector_free(v[i].sel);
		free(v[i].topology_key);
	}
	free(v);
}

/* spec.topologySpreadConstraints; without any, upstream's system default
 * (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway) over the pods of
 * the same controller (upstream selects them through the Services,
 * ReplicaSets and StatefulSets that select the pod; the owner is the same
 * set for pods a controller made). */
static int parse_spread(json_t *arr, const char *owner, struct sched_pod *p)
{
	size_t n = json_array_size(arr), i;
	json_t *e;
	int r;

	if (!n && !owner)
		return 0;
	p->spread = calloc(n ? n : 2, sizeof(*p->spread));
	if (!p->spread)
		return -ENOMEM;
	if (!n) {
		p->spread[0] = (struct sched_spread){ .max_skew = 3, .owner = owner,
			.topology_key = strdup(SCHED_LABEL_HOSTNAME), .topo = SCHED_TOPO_HOSTNAME };
		p->spread[1] = (struct sched_spread){ .max_skew = 5, .owner = owner,
			.topology_key = strdup(SCHED_LABEL_ZONE), .topo = SCHED_TOPO_ZONE };
		p->n_spread = 2;
		return p->spread[0].topology_key && p->spread[1].topology_key ? 0 : -ENOMEM;
	}
	json_array_foreach(arr, i, e) {
		struct sched_spread *c = &p->spread[i];
		json_t *md = json_object_get(e, "minDomains");

		p->n_spread++;
		c->max_skew = (int)json_integer_value(json_object_get(e, "maxSkew"));
		c->min_domains = json_is_integer(md) ? (int)json_integer_value(md) : 1;
		c->hard = !streq(jstr(e, "whenUnsatisfiable"), "ScheduleAnyway");
		c->topology_key = strdup(jstr(e, "topologyKey") ? jstr(e, "topologyKey") : "");
		if (!c->topology_key)
			return -ENOMEM;
		c->topo = streq(c->topology_key, SCHED_LABEL_HOSTNAME) ? SCHED_TOPO_HOSTNAME
			: streq(c->topology_key, SCHED_LABEL_ZONE)   ? SCHED_TOPO_ZONE
								      : SCHED_TOPO_OTHER;
		if (c->max_skew < 1)
			return -EINVAL;
		c->affinity_ignore = streq(jstr(e, "nodeAffinityPolicy"), "Ignore");
		c->taints_honor = streq(jstr(e, "nodeTaintsPolicy"), "Honor");
		r = keyed_selector(e, p->labels, &c->sel);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- pods: requests, ports, tolerations ---- */

/* One container's requests into one; its cpu and memory with upstream's
 * non-zero defaults into nz (dflt: apply them to what it leaves out). */
static int container_requests(struct sched *s, json_t *c, bool dflt, int64_t *one, int64_t *nz)
{
	json_t *req = json_object_get(json_object_get(c, "resources"), "requests");
	int r = add_resources(s, req, one);

	nz[0] = json_object_get(req, "cpu") ? one[SCHED_CPU] : dflt ? DEFAULT_MILLI_CPU : 0;
	nz[1] = json_object_get(req, "memory") ? one[SCHED_MEM] : dflt ? DEFAULT_MEMORY : 0;
	return r;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static void res_add(int64_t *to, const int64_t *v)
{
	for (size_t k = 0; k < SCHED_RES_MAX; k++)
		to[k] += v[k];
}

static void res_max(int64_t *to, const int64_t *v)
{
	for (size_t k = 0; k < SCHED_RES_MAX; k++)
		if (v[k] > to[k])
			to[k] = v[k];
}

/* upstream's PodRequests: the containers and the restartable (sidecar)
 * init containers (restartPolicy Always) run together; each ordinary init
 * container runs beside the sidecars started before it; the pod needs
 * the largest of these, plus its overhead. The same with upstream's
 * non-zero defaults for cpu and memory (scoring). */
static int pod_requests(struct sched *s, json_t *spec, struct sched_pod *p)
{
	int64_t side[SCHED_RES_MAX] = { 0 }, init[SCHED_RES_MAX] = { 0 }, over[SCHED_RES_MAX] = { 0 };
	int64_t side_nz[2] = { 0 }, init_nz[2] = { 0 };
	json_t *c;
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(spec, "containers"), i, c) {
		int64_t one[SCHED_RES_MAX] = { 0 }, nz[2];

		r = container_requests(s, c, true, one, nz);
		if (r < 0)
			return r;
		res_add(p->req, one);
		p->nonzero_cpu += nz[0];
		p->nonzero_mem += nz[1];
	}
	json_array_foreach(json_object_get(spec, "initContainers"), i, c) {
		bool sidecar = streq(jstr(c, "restartPolicy"), "Always");
		int64_t one[SCHED_RES_MAX] = { 0 }, nz[2];

		r = container_requests(s, c, sidecar, one, nz);
		if (r < 0)
			return r;
		if (sidecar) {
			res_add(side, one);
			side_nz[0] += nz[0];
			side_nz[1] += nz[1];
			memcpy(one, side, sizeof(one));
		} else {
			res_add(one, side);
		}
		res_max(init, one);
		init_nz[0] = max64(init_nz[0], sidecar ? side_nz[0] : nz[0] + side_nz[0]);
		init_nz[1] = max64(init_nz[1], sidecar ? side_nz[1] : nz[1] + side_nz[1]);
	}
	res_add(p->req, side);
	res_max(p->req, init);
	p->nonzero_cpu = max64(p->nonzero_cpu + side_nz[0], init_nz[0]);
	p->nonzero_mem = max64(p->nonzero_mem + side_nz[1], init_nz[1]);
	r = add_resources(s, json_object_get(spec, "overhead"), over);
	if (r < 0)
		return r;
	res_add(p->req, over);
	p->nonzero_cpu += over[SCHED_CPU];
	p->nonzero_mem += over[SCHED_MEM];
	p->req[SCHED_PODS] = 1;
	return 0;
}

static int pod_ports(json_t *spec, struct sched_pod *p)
{
	json_t *c, *port;
	size_t i, j, n = 0;

	json_array_foreach(json_object_get(spec, "containers"), i, c)
		json_array_foreach(json_object_get(c, "ports"), j, port)
			if (json_integer_value(json_object_get(port, "hostPort")) > 0)
				n++;
	if (!n)
		return 0;
	p->ports = calloc(n, sizeof(*p->ports));
	if (!p->ports)
		return -ENOMEM;
	json_array_foreach(json_object_get(spec, "containers"), i, c)
		json_array_foreach(json_object_get(c, "ports"), j, port) {
			json_int_t hp = json_integer_value(json_object_get(port, "hostPort"));
			const char *proto = jstr(port, "protocol"), *ip = jstr(port, "hostIP");
			struct sched_port *x = &p->ports[p->n_ports];

			if (hp <= 0 || hp > 65535)
				continue;
			x->port = (uint16_t)hp;
			x->proto = proto && *proto ? proto[0] : 'T';
			snprintf(x->ip, sizeof(x->ip), "%s", ip && *ip ? ip : "0.0.0.0");
			p->n_ports++;
		}
	return 0;
}

static int pod_tolerations(json_t *spec, struct sched_pod *p)
{
	json_t *arr = json_object_get(spec, "tolerations"), *t;
	size_t i;

	if (alloc_items(arr, sizeof(*p->tols), &p->tols) < 0)
		return -ENOMEM;
	json_array_foreach(arr, i, t) {
		struct sched_toleration *x = &p->tols[p->n_tols++];
		const char *k = jstr(t, "key");

		x->key = k && *k ? strdup(k) : NULL;
		x->value = strdup(jstr(t, "value") ? jstr(t, "value") : "");
		x->exists = streq(jstr(t, "operator"), "Exists");
		x->effect = parse_effect(jstr(t, "effect"));
		if ((k && *k && !x->key) || !x->value)
			return -ENOMEM;
	}
	return 0;
}

/* upstream VolumeBinding's podHasPVCs: the first claim the pod uses,
 * which in skiff never exists (its API stores no PersistentVolumeClaims):
 * the pod waits with upstream's words. 0 or -ENOMEM. */
static int pod_volumes(json_t *spec, struct sched_pod *p)
{
	json_t *v;
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(spec, "volumes"), i, v) {
		const char *claim = jstr(json_object_get(v, "persistentVolumeClaim"), "claimName");

		if (claim)
			r = asprintf(&p->prefilter_msg, "persistentvolumeclaim \"%s\" not found", claim);
		else if (json_is_object(json_object_get(v, "ephemeral")))
			r = asprintf(&p->prefilter_msg,
				     "waiting for ephemeral volume controller to create the "
				     "persistentvolumeclaim \"%s-%s\"", p->name,
				     jstr(v, "name") ? jstr(v, "name") : "");
		else
			continue;
		if (r < 0) {
			p->prefilter_msg = NULL;
			return -ENOMEM;
		}
		break;
	}
	return 0;
}

static long long parse_time(const char *s)
{
	struct tm tm = { 0 };

	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (long long)timegm(&tm);
}

static const char *controller_uid(json_t *meta)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(meta, "ownerReferences"), i, o)
		if (json_is_true(json_object_get(o, "controller")))
			return jstr(o, "uid");
	return NULL;
}

static int pod_affinity(json_t *aff, struct sched_pod *p)
{
	json_t *na = json_object_get(aff, "nodeAffinity");
	json_t *pa = json_object_get(aff, "podAffinity"), *paa = json_object_get(aff, "podAntiAffinity");
	json_t *req = json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution");
	const char *R = "requiredDuringSchedulingIgnoredDuringExecution";
	const char *P = "preferredDuringSchedulingIgnoredDuringExecution";
	int r;

	p->has_node_req = json_is_object(req);
	r = parse_terms(json_object_get(req, "nodeSelectorTerms"), false, &p->node_req, &p->n_node_req);
	if (r >= 0)
		r = parse_terms(json_object_get(na, P), true, &p->node_pref, &p->n_node_pref);
	if (r >= 0)
		r = parse_pod_terms(json_object_get(pa, R), false, p->labels, &p->aff_req, &p->n_aff_req);
	if (r >= 0)
		r = parse_pod_terms(json_object_get(pa, P), true, p->labels, &p->aff_pref, &p->n_aff_pref);
	if (r >= 0)
		r = parse_pod_terms(json_object_get(paa, R), false, p->labels, &p->anti_req, &p->n_anti_req);
	if (r >= 0)
		r = parse_pod_terms(json_object_get(paa, P), true, p->labels, &p->anti_pref, &p->n_anti_pref);
	return r;
}

void sched_pod_free(struct sched_pod *p)
{
	if (!p)
		return;
	free(p->key);
	free(p->ns);
	free(p->name);
	free(p->uid);
	free(p->owner);
	free(p->node_name);
	free(p->nominated);
	free(p->prefilter_msg);
	json_decref(p->spec);
	json_decref(p->labels);
	json_decref(p->node_selector);
	free(p->ports);
	terms_free(p->node_req, p->n_node_req);
	terms_free(p->node_pref, p->n_node_pref);
	for (size_t i = 0; i < p->n_tols; i++) {
		free(p->tols[i].key);
		free(p->tols[i].value);
	}
	free(p->tols);
	pod_terms_free(p->aff_req, p->n_aff_req);
	pod_terms_free(p->aff_pref, p->n_aff_pref);
	pod_terms_free(p->anti_req, p->n_anti_req);
	pod_terms_free(p->anti_pref, p->n_anti_pref);
	spread_free(p->spread, p->n_spread);
	free(p);
}

int sched_pod_parse(struct sched *s, json_t *obj, struct sched_pod **out)
{
	json_t *meta = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
	const char *ns = jstr(meta, "namespace"), *name = jstr(meta, "name");
	const char *node = jstr(spec, "nodeName");
	struct sched_pod *p;
	int r = -ENOMEM;

	if (!name || !*name)
		return -EINVAL;
	if (!ns || !*ns)
		ns = "default";
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->anti_slot = SIZE_MAX;
	if (asprintf(&p->key, "%s/%s", ns, name) < 0) {
		p->key = NULL;
		goto fail;
	}
	p->ns = strdup(ns);
	p->name = strdup(name);
	p->uid = strdup(jstr(meta, "uid") ? jstr(meta, "uid") : "");
	p->nsrec = sched_ns_get(s, ns);
	p->owner = dup_or_null(controller_uid(meta));
	p->node_name = strdup(node ? node : "");
	if (!p->ns || !p->name || !p->uid || !p->node_name || !p->nsrec ||
	    (controller_uid(meta) && !p->owner))
		goto fail;
	p->labels = json_incref(json_object_get(meta, "labels"));
	p->spec = json_incref(spec);
	p->priority = (int32_t)json_integer_value(json_object_get(spec, "priority"));
	p->preempt_never = streq(jstr(spec, "preemptionPolicy"), "Never");
	node = jstr(json_object_get(obj, "status"), "nominatedNodeName");
	if (node && *node && !(p->nominated = strdup(node)))
		goto fail;
	p->created = parse_time(jstr(meta, "creationTimestamp"));
	p->terminating = json_object_get(meta, "deletionTimestamp") != NULL;
	if (json_object_size(json_object_get(spec, "nodeSelector")))
		p->node_selector = json_incref(json_object_get(spec, "nodeSelector"));
	r = pod_requests(s, spec, p);
	if (r >= 0)
		r = pod_ports(spec, p);
	if (r >= 0)
		r = pod_tolerations(spec, p);
	if (r >= 0)
		r = pod_volumes(spec, p);
	if (r >= 0)
		r = pod_affinity(json_object_get(spec, "affinity"), p);
	if (r >= 0)
		r = parse_spread(json_object_get(spec, "topologySpreadConstraints"), p->owner, p);
	if (r < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	sched_pod_free(p);
	return r;
}
