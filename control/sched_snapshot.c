/* The scheduler's snapshot: nodes and the pods placed on them, kept
 * current by incremental updates (no rebuild per event), and the
 * assumed-pod cache: a pod the scheduler chose counts on its node at once
 * and is confirmed by its binding, or forgotten. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/sched_internal.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

#define DEFAULT_ASSUME_TTL (30ULL * 1000000000ULL)
#define DEFAULT_BACKOFF_INITIAL (1ULL * 1000000000ULL)
#define DEFAULT_BACKOFF_MAX (10ULL * 1000000000ULL)
#define DEFAULT_UNSCHEDULABLE_MAX (300ULL * 1000000000ULL)

/* Grows *vp (an array of elem-sized items, *cap long) to hold need. */
int grow_array(void *vp, size_t *cap, size_t need, size_t elem)
{
	void **v = vp;
	size_t c = *cap ? *cap : 8;
	void *n;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*v, c * elem);
	if (!n)
		return -ENOMEM;
	*v = n;
	*cap = c;
	return 0;
}

/* Name -> pointer maps are jansson objects (a string hash table) holding
 * the address as an integer. */
static void *map_get(json_t *m, const char *k)
{
	json_t *v = json_object_get(m, k);

	return v ? (void *)(uintptr_t)json_integer_value(v) : NULL;
}

static int map_put(json_t *m, const char *k, void *ptr)
{
	return json_object_set_new(m, k, json_integer((json_int_t)(uintptr_t)ptr)) < 0 ? -ENOMEM : 0;
}

const char *sched_label(json_t *labels, const char *key)
{
	return json_string_value(json_object_get(labels, key));
}

int sched_new(const struct sched_opts *opts, struct sched **out)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (opts)
		s->o = *opts;
	if (!s->o.assume_ttl_ns)
		s->o.assume_ttl_ns = DEFAULT_ASSUME_TTL;
	if (!s->o.backoff_initial_ns)
		s->o.backoff_initial_ns = DEFAULT_BACKOFF_INITIAL;
	if (!s->o.backoff_max_ns)
		s->o.backoff_max_ns = DEFAULT_BACKOFF_MAX;
	if (!s->o.unschedulable_max_ns)
		s->o.unschedulable_max_ns = DEFAULT_UNSCHEDULABLE_MAX;
	if (!s->o.scheduler_name)
		s->o.scheduler_name = "default-scheduler";
	s->rng = s->o.seed ? s->o.seed : 0x9e3779b97f4a7c15ULL;
	s->node_by_name = json_object();
	s->pod_by_key = json_object();
	s->pdbs = json_object();
	s->by_owner = json_object();
	s->namespaces = json_object();
	if (!s->node_by_name || !s->pod_by_key || !s->by_owner || !s->pdbs || !s->namespaces) {
		sched_free(s);
		return -ENOMEM;
	}
	sched_queue_init(s);
	*out = s;
	return 0;
}

void sched_free(struct sched *s)
{
	const char *k;
	json_t *v;

	if (!s)
		return;
	json_object_foreach(s->pod_by_key, k, v)
		sched_pod_free(map_get(s->pod_by_key, k));
	for (size_t i = 0; i < s->n_nodes; i++) {
		sched_node_fields_free(s->nodes[i]);
		free(s->nodes[i]->name);
		free(s->nodes[i]->pods);
		free(s->nodes[i]->nominated);
		free(s->nodes[i]);
	}
	for (size_t i = 0; i < s->n_res; i++)
		free(s->res_names[SCHED_RES_BUILTIN + i]);
	sched_queue_release(s);
	json_object_foreach(s->by_owner, k, v) {
		struct sched_owner *o = map_get(s->by_owner, k);

		free(o->v);
		free(o);
	}
	json_decref(s->by_owner);
	json_object_foreach(s->namespaces, k, v) {
		struct sched_ns *n = map_get(s->namespaces, k);

		json_decref(n->labels);
		free(n);
	}
	json_decref(s->namespaces);
	json_decref(s->node_by_name);
	json_decref(s->pod_by_key);
	sched_pdbs_release(s);
	free(s->nodes);
	free(s->affine);
	free(s->orphans);
	free(s->unsched);
	free(s->feasible);
	free(s->score);
	free(s->part);
	free(s);
}

/* ---- namespaces ---- */

struct sched_ns *sched_ns_get(struct sched *s, const char *name)
{
	struct sched_ns *n = map_get(s->namespaces, name);

	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (n && map_put(s->namespaces, name, n) < 0) {
		free(n);
		n = NULL;
	}
	return n;
}

int sched_namespace_upsert(struct sched *s, json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	struct sched_ns *n;

	if (!name || !*name)
		return -EINVAL;
	n = sched_ns_get(s, name);
	if (!n)
		return -ENOMEM;
	json_decref(n->labels);
	n->labels = json_incref(json_object_get(meta, "labels"));
	return 0;
}

int sched_namespace_delete(struct sched *s, const char *name)
{
	struct sched_ns *n = map_get(s->namespaces, name);

	if (n) {
		json_decref(n->labels);
		n->labels = NULL;
	}
	return 0;
}

/* ---- pods on nodes ---- */

static bool has_pod_affinity(const struct sched_pod *p)
{
	return p->n_aff_req || p->n_aff_pref || p->n_anti_req || p->n_anti_pref;
}

static void orphan_add(struct sched *s, struct sched_pod *p)
{
	if (grow_array(&s->orphans, &s->cap_orphans, s->n_orphans + 1, sizeof(*s->orphans)) < 0)
		return; /* it then counts nowhere until updated: the lesser harm */
	p->node = NULL;
	p->node_slot = s->n_orphans;
	s->orphans[s->n_orphans++] = p;
}

static void orphan_remove(struct sched *s, struct sched_pod *p)
{
	size_t i = p->node_slot;

	if (i >= s->n_orphans || s->orphans[i] != p)
		return;
	s->orphans[i] = s->orphans[--s->n_orphans];
	s->orphans[i]->node_slot = i;
	p->node_slot = SIZE_MAX;
}

const struct sched_owner *sched_owner_pods(const struct sched *s, const char *owner)
{
	return owner ? map_get(s->by_owner, owner) : NULL;
}

/* Adds p to its owner's placed pods (creating the entry). */
static int owner_add(struct sched *s, struct sched_pod *p)
{
	struct sched_owner *o;

	if (!p->owner)
		return 0;
	o = map_get(s->by_owner, p->owner);
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o || map_put(s->by_owner, p->owner, o) < 0) {
			free(o);
			return -ENOMEM;
		}
	}
	if (grow_array(&o->v, &o->cap, o->n + 1, sizeof(*o->v)) < 0)
		return -ENOMEM;
	p->owner_slot = o->n;
	o->v[o->n++] = p;
	return 0;
}

static void owner_remove(struct sched *s, struct sched_pod *p)
{
	struct sched_owner *o = p->owner ? map_get(s->by_owner, p->owner) : NULL;

	if (!o || p->owner_slot >= o->n || o->v[p->owner_slot] != p)
		return;
	o->v[p->owner_slot] = o->v[--o->n];
	o->v[p->owner_slot]->owner_slot = p->owner_slot;
	if (!o->n) {
		json_object_del(s->by_owner, p->owner);
		free(o->v);
		free(o);
	}
}

void sched_node_add_pod(struct sched *s, struct sched_node *n, struct sched_pod *p)
{
	if (owner_add(s, p) < 0 ||
	    grow_array(&n->pods, &n->cap_pods, n->n_pods + 1, sizeof(*n->pods)) < 0 ||
	    (has_pod_affinity(p) &&
	     grow_array(&s->affine, &s->cap_affine, s->n_affine + 1, sizeof(*s->affine)) < 0)) {
		owner_remove(s, p);
		orphan_add(s, p);
		return;
	}
	p->node = n;
	p->node_slot = n->n_pods;
	n->pods[n->n_pods++] = p;
	for (size_t k = 0; k < SCHED_RES_MAX; k++)
		n->req[k] += p->req[k];
	n->nonzero_cpu += p->nonzero_cpu;
	n->nonzero_mem += p->nonzero_mem;
	if (p->n_ports)
		n->n_port_pods++;
	if (has_pod_affinity(p)) {
		p->anti_slot = s->n_affine;
		s->affine[s->n_affine++] = p;
	}
}

/* Takes p off its node (or the orphan list); its resources return. */
void sched_node_remove_pod(struct sched *s, struct sched_pod *p)
{
	struct sched_node *n = p->node;

	if (!n) {
		orphan_remove(s, p);
		return;
	}
	owner_remove(s, p);
	n->pods[p->node_slot] = n->pods[--n->n_pods];
	n->pods[p->node_slot]->node_slot = p->node_slot;
	for (size_t k = 0; k < SCHED_RES_MAX; k++)
		n->req[k] -= p->req[k];
	n->nonzero_cpu -= p->nonzero_cpu;
	n->nonzero_mem -= p->nonzero_mem;
	if (p->n_ports)
		n->n_port_pods--;
	if (p->anti_slot != SIZE_MAX) {
		s->affine[p->anti_slot] = s->affine[--s->n_affine];
		s->affine[p->anti_slot]->anti_slot = p->anti_slot;
		p->anti_slot = SIZE_MAX;
	}
	p->node = NULL;
}

static void place(struct sched *s, struct sched_pod *p, const char *node_name)
{
	struct sched_node *n = sched_node_find(s, node_name);

	if (n)
		sched_node_add_pod(s, n, p);
	else
		orphan_add(s, p);
}

/* ---- nodes ---- */

struct sched_node *sched_node_find(const struct sched *s, const char *name)
{
	return name ? map_get(s->node_by_name, name) : NULL;
}

size_t sched_node_count(const struct sched *s)
{
	return s->n_nodes;
}

int sched_node_upsert(struct sched *s, json_t *obj)
{
	const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	struct sched_node *n;
	int r;

	if (!name || !*name)
		return -EINVAL;
	n = sched_node_find(s, name);
	if (n)
		return sched_node_parse_into(s, obj, n);
	if (grow_array(&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof(*s->nodes)) < 0)
		return -ENOMEM;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return -ENOMEM;
	}
	r = sched_node_parse_into(s, obj, n);
	if (r >= 0)
		r = map_put(s->node_by_name, name, n);
	if (r < 0) {
		sched_node_fields_free(n);
		free(n->name);
		free(n);
		return r;
	}
	n->idx = s->n_nodes;
	s->nodes[s->n_nodes++] = n;
	/* Pods bound to it before it was known join it now. */
	for (size_t i = 0; i < s->n_orphans;) {
		struct sched_pod *p = s->orphans[i];

		if (streq(p->node_name, name)) {
			orphan_remove(s, p);
			sched_node_add_pod(s, n, p);
		} else
			i++;
	}
	return 0;
}

int sched_node_delete(struct sched *s, const char *name)
{
	struct sched_node *n = sched_node_find(s, name);

	if (!n)
		return -ENOENT;
	while (n->n_pods) {
		struct sched_pod *p = n->pods[n->n_pods - 1];

		sched_node_remove_pod(s, p);
		orphan_add(s, p);
	}
	s->nodes[n->idx] = s->nodes[--s->n_nodes];
	s->nodes[n->idx]->idx = n->idx;
	if (s->next_start >= s->n_nodes)
		s->next_start = 0;
	json_object_del(s->node_by_name, name);
	sched_node_drop_nominated(n);
	sched_node_fields_free(n);
	free(n->name);
	free(n->pods);
	free(n);
	return 0;
}

/* ---- pods ---- */

struct sched_pod *sched_pod_find(const struct sched *s, const char *ns, const char *name)
{
	char key[320];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	return map_get(s->pod_by_key, key);
}

static void pod_forget(struct sched *s, struct sched_pod *p)
{
	sched_unnominate(p);
	sched_queue_remove(s, p);
	if (p->state != SCHED_POD_PENDING)
		sched_node_remove_pod(s, p);
	json_object_del(s->pod_by_key, p->key);
	sched_pod_free(p);
}

int sched_pod_delete(struct sched *s, const char *ns, const char *name)
{
	struct sched_pod *p = sched_pod_find(s, ns, name);

	if (!p)
		return -ENOENT;
	pod_forget(s, p);
	return 0;
}

static bool pod_finished(json_t *obj)
{
	const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));

	return streq(phase, "Succeeded") || streq(phase, "Failed");
}

/* Whether an unbound pod is this scheduler's to place now. */
static bool pod_wants_scheduling(const struct sched *s, json_t *obj, const struct sched_pod *p)
{
	json_t *spec = json_object_get(obj, "spec");
	const char *sn = json_string_value(json_object_get(spec, "schedulerName"));

	if (p->terminating || json_array_size(json_object_get(spec, "schedulingGates")))
		return false;
	return !sn || !*sn || streq(sn, s->o.scheduler_name);
}

static bool same_json(json_t *a, json_t *b)
{
	return a == b || (a && b && json_equal(a, b));
}

/* Whether obj has the spec and labels old was parsed from. */
bool sched_pod_same(const struct sched_pod *old, json_t *obj)
{
	return same_json(old->spec, json_object_get(obj, "spec")) &&
	       same_json(old->labels, json_object_get(json_object_get(obj, "metadata"), "labels"));
}

/* A placed pod's update that changes nothing the scheduler keeps (its
 * kubelet's status writes): old stays as it is, unparsed. */
static bool placed_unchanged(const struct sched_pod *old, json_t *obj)
{
	const char *node = json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName"));

	return old->state == SCHED_POD_BOUND && node && streq(node, old->node_name) &&
	       !json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") ==
		       !old->terminating &&
	       sched_pod_same(old, obj);
}

int sched_pod_upsert(struct sched *s, json_t *obj, unsigned long long now)
{
	struct sched_pod *p, *old;
	int old_q = SCHED_Q_NONE, r;
	bool queue = false, same = false;
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	if (pod_finished(obj)) {
		sched_pod_delete(s, ns && *ns ? ns : "default", name ? name : "");
		return 0;
	}
	old = sched_pod_find(s, ns && *ns ? ns : "default", name ? name : "");
	if (old && placed_unchanged(old, obj))
		return 0;
	r = sched_pod_parse(s, obj, &p);
	if (r < 0)
		return r;
	if (p->node_name[0]) {
		p->state = SCHED_POD_BOUND; /* confirms an assumed pod, wherever assumed */
		place(s, p, p->node_name);
	} else if (old && old->state == SCHED_POD_ASSUMED) {
		/* Updated while its binding is in flight: stays assumed there. */
		p->state = SCHED_POD_ASSUMED;
		p->assume_deadline = old->assume_deadline;
		if (old->node)
			sched_node_add_pod(s, old->node, p);
		else
			orphan_add(s, p);
	} else {
		p->state = SCHED_POD_PENDING;
		queue = pod_wants_scheduling(s, obj, p);
	}
	if (old && old->nominated && !p->nominated)
		p->nominated = strdup(old->nominated); /* ours, not written back yet */
	if (old) {
		sched_unnominate(old);
		p->attempts = old->attempts;
		p->backoff_until = old->backoff_until;
		p->unsched_since = old->unsched_since;
		same = sched_pod_same(old, obj);
		old_q = old->qstate;
		sched_queue_remove(s, old);
		if (old->state != SCHED_POD_PENDING)
			sched_node_remove_pod(s, old);
		sched_pod_free(old);
	}
	r = map_put(s->pod_by_key, p->key, p);
	if (r < 0) {
		if (p->state != SCHED_POD_PENDING)
			sched_node_remove_pod(s, p);
		sched_pod_free(p);
		return r;
	}
	if (p->state == SCHED_POD_PENDING && p->nominated)
		sched_nominate(s, p, p->nominated);
	if (queue)
		sched_queue_updated(s, p, old_q, same, now);
	return 0;
}

/* ---- the assumed-pod cache ---- */

int sched_assume(struct sched *s, struct sched_pod *p, struct sched_node *node)
{
	if (p->state != SCHED_POD_PENDING)
		return -EBUSY;
	sched_queue_remove(s, p);
	sched_unnominate(p);
	p->state = SCHED_POD_ASSUMED;
	p->assume_deadline = 0; /* the binding is in flight */
	sched_node_add_pod(s, node, p);
	return 0;
}

static void unassume(struct sched *s, struct sched_pod *p)
{
	sched_node_remove_pod(s, p);
	p->state = SCHED_POD_PENDING;
	p->assume_deadline = 0;
}

int sched_bind_done(struct sched *s, const char *ns, const char *name, int err,
		    unsigned long long now)
{
	struct sched_pod *p = sched_pod_find(s, ns, name);

	if (!p)
		return -ENOENT;
	if (p->state != SCHED_POD_ASSUMED)
		return 0; /* already confirmed by the informer */
	if (err >= 0) {
		p->assume_deadline = now + s->o.assume_ttl_ns;
		return 0;
	}
	unassume(s, p);
	sched_queue_backoff(s, p, now);
	return 0;
}

size_t sched_expire_assumed(struct sched *s, unsigned long long now)
{
	size_t n = 0;
	const char *k;
	json_t *v;

	json_object_foreach(s->pod_by_key, k, v) {
		struct sched_pod *p = map_get(s->pod_by_key, k);

		if (p->state == SCHED_POD_ASSUMED && p->assume_deadline &&
		    p->assume_deadline <= now) {
			unassume(s, p);
			sched_queue_backoff(s, p, now);
			n++;
		}
	}
	return n;
}

/* ---- pod affinity terms against pods ---- */

/* upstream's AffinityTerm.Matches: the namespaces named and those the
 * namespaceSelector selects; neither: the term's own pod's namespace. */
bool sched_pod_in_namespaces(const struct sched_pod_term *t, const struct sched_pod *owner,
			     const struct sched_pod *other)
{
	if (t->all_ns)
		return true;
	if (!t->n_namespaces && !t->ns_sel)
		return streq(other->ns, owner->ns);
	for (size_t i = 0; i < t->n_namespaces; i++)
		if (streq(t->namespaces[i], other->ns))
			return true;
	return t->ns_sel && other->nsrec && other->nsrec->labels &&
	       kube_selector_match_labels(t->ns_sel, other->nsrec->labels);
}

/* Whether other is a pod that owner's term selects. */
bool sched_term_matches_pod(const struct sched_pod_term *t, const struct sched_pod *owner,
			    const struct sched_pod *other)
{
	return t->sel && sched_pod_in_namespaces(t, owner, other) &&
	       kube_selector_match_labels(t->sel, other->labels);
}
