/* The garbage collector's compute step: see ctrl_gc.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_gc.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

struct gc_node {
	const struct gc_kind *k;
	json_t *obj;
	const char *uid, *ns; /* ns "" for cluster-scoped objects */
};

/* dep names owner_uid through ref. */
struct gc_edge {
	const char *owner_uid;
	const struct gc_node *dep;
	json_t *ref;
};

struct gc_graph {
	const struct gc_kind *kinds;
	size_t n_kinds;
	struct gc_node *nodes; /* sorted by uid */
	size_t n;
	struct gc_edge *edges; /* sorted by owner_uid */
	size_t n_edges;
};

enum owner_state { OWNER_SOLID, OWNER_WAITING, OWNER_DANGLING, OWNER_INVALID };

static int node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gc_node *)a)->uid, ((const struct gc_node *)b)->uid);
}

static int edge_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gc_edge *)a)->owner_uid, ((const struct gc_edge *)b)->owner_uid);
}

static const struct gc_node *node_find(const struct gc_graph *g, const char *uid)
{
	struct gc_node key = { .uid = uid };

	return uid ? bsearch(&key, g->nodes, g->n, sizeof(key), node_cmp) : NULL;
}

static int graph_nodes(struct gc_graph *g)
{
	size_t total = 0;

	for (size_t i = 0; i < g->n_kinds; i++)
		total += g->kinds[i].n;
	g->nodes = calloc(total ?: 1, sizeof(*g->nodes));
	if (!g->nodes)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_kinds; i++)
		for (size_t j = 0; j < g->kinds[i].n; j++) {
			json_t *o = g->kinds[i].objs[j];
			const char *uid = ctrl_str(o, "metadata.uid");

			if (!uid)
				continue;
			g->nodes[g->n++] = (struct gc_node){
				.k = &g->kinds[i], .obj = o, .uid = uid,
				.ns = g->kinds[i].namespaced ? ctrl_str(o, "metadata.namespace") ?: "" : "",
			};
		}
	qsort(g->nodes, g->n, sizeof(*g->nodes), node_cmp);
	return 0;
}

static int graph_edges(struct gc_graph *g)
{
	size_t total = 0, i, k;
	json_t *ref;

	for (i = 0; i < g->n; i++)
		total += json_array_size(ctrl_get(g->nodes[i].obj, "metadata.ownerReferences"));
	g->edges = calloc(total ?: 1, sizeof(*g->edges));
	if (!g->edges)
		return -ENOMEM;
	for (i = 0; i < g->n; i++)
		json_array_foreach(ctrl_get(g->nodes[i].obj, "metadata.ownerReferences"), k, ref)
			if (ctrl_str(ref, "uid"))
				g->edges[g->n_edges++] = (struct gc_edge){ ctrl_str(ref, "uid"),
									   &g->nodes[i], ref };
	qsort(g->edges, g->n_edges, sizeof(*g->edges), edge_cmp);
	return 0;
}

int gc_graph_new(const struct gc_kind *kinds, size_t n_kinds, struct gc_graph **out)
{
	struct gc_graph *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->kinds = kinds;
	g->n_kinds = n_kinds;
	r = graph_nodes(g);
	if (r == 0)
		r = graph_edges(g);
	if (r < 0) {
		gc_graph_free(g);
		return r;
	}
	*out = g;
	return 0;
}

void gc_graph_free(struct gc_graph *g)
{
	if (!g)
		return;
	free(g->nodes);
	free(g->edges);
	free(g);
}

/* The edges naming owner that count as its dependents: in its namespace
 * when it is namespaced. Returns the first edge and sets *n (some of the
 * run may be skipped by edge_counts). */
static const struct gc_edge *edges_of(const struct gc_graph *g, const char *uid, size_t *n)
{
	struct gc_edge key = { .owner_uid = uid };
	const struct gc_edge *e = bsearch(&key, g->edges, g->n_edges, sizeof(key), edge_cmp);

	*n = 0;
	if (!e)
		return NULL;
	while (e > g->edges && streq(e[-1].owner_uid, uid))
		e--;
	while (e + *n < g->edges + g->n_edges && streq(e[*n].owner_uid, uid))
		(*n)++;
	return e;
}

static bool edge_counts(const struct gc_node *owner, const struct gc_edge *e)
{
	return !owner->k->namespaced || streq(e->dep->ns, owner->ns);
}

static size_t count_dependents(const struct gc_graph *g, const struct gc_node *owner,
			       bool blocking_only)
{
	size_t n, c = 0;
	const struct gc_edge *e = edges_of(g, owner->uid, &n);

	for (size_t i = 0; i < n; i++)
		if (edge_counts(owner, &e[i]) &&
		    (!blocking_only || json_is_true(json_object_get(e[i].ref, "blockOwnerDeletion"))))
			c++;
	return c;
}

static bool deleting(json_t *obj)
{
	return ctrl_get(obj, "metadata.deletionTimestamp") != NULL;
}

static const struct gc_kind *kind_of_ref(const struct gc_graph *g, json_t *ref)
{
	const char *av = ctrl_str(ref, "apiVersion") ?: "", *slash = strchr(av, '/');
	size_t glen = slash ? (size_t)(slash - av) : 0;

	for (size_t i = 0; i < g->n_kinds; i++) {
		const struct gc_kind *k = &g->kinds[i];

		if (streq(k->kind, ctrl_str(ref, "kind")) && strlen(k->group) == glen &&
		    strncmp(k->group, av, glen) == 0)
			return k;
	}
	return NULL;
}

static int invalid_namespace_event(struct ctrl_plan *p, const struct gc_node *x, json_t *ref)
{
	return ctrl_plan_event(p, x->k->resource, x->ns, ctrl_str(x->obj, "metadata.name"),
			       "Warning", "OwnerRefInvalidNamespace",
			       "ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in "
			       "namespace \"%s\"",
			       ctrl_str(ref, "apiVersion") ?: "", ctrl_str(ref, "kind") ?: "", x->ns,
			       ctrl_str(ref, "name") ?: "", ctrl_str(ref, "uid") ?: "", x->ns);
}

static int classify(const struct gc_graph *g, const struct gc_node *x, json_t *ref,
		    struct ctrl_plan *p, enum owner_state *st)
{
	const struct gc_kind *k = kind_of_ref(g, ref);
	const struct gc_node *o;

	*st = OWNER_SOLID;
	if (!k)
		return 0;
	if (!x->k->namespaced && k->namespaced) {
		*st = OWNER_INVALID;
		return invalid_namespace_event(p, x, ref);
	}
	o = node_find(g, ctrl_str(ref, "uid"));
	if (!o || o->k != k) {
		*st = OWNER_DANGLING;
		return 0;
	}
	if (k->namespaced && !streq(o->ns, x->ns)) {
		*st = OWNER_DANGLING;
		return invalid_namespace_event(p, x, ref);
	}
	if (deleting(o->obj) && ctrl_has_finalizer(o->obj, "foregroundDeletion"))
		*st = OWNER_WAITING;
	return 0;
}

/* A merge patch of x's ownerReferences without those of drop (a bit per
 * reference), with uid and resourceVersion as preconditions. */
static int patch_refs(struct ctrl_plan *p, const struct gc_node *x, const bool *drop)
{
	json_t *keep = json_array(), *ref;
	size_t i;

	if (!keep)
		return -ENOMEM;
	json_array_foreach(ctrl_get(x->obj, "metadata.ownerReferences"), i, ref)
		if (!drop[i] && json_array_append(keep, ref) < 0) {
			json_decref(keep);
			return -ENOMEM;
		}
	if (json_array_size(keep) == 0) {
		json_decref(keep);
		keep = json_null();
	}
	return ctrl_plan_add(p, CTRL_PATCH, x->k->resource, x->ns,
			     ctrl_str(x->obj, "metadata.name"),
			     json_pack("{s:{s:o, s:s, s:s?}}", "metadata", "ownerReferences", keep,
				       "uid", x->uid, "resourceVersion",
				       ctrl_str(x->obj, "metadata.resourceVersion")));
}

static int delete_node(struct ctrl_plan *p, const struct gc_node *x, const char *policy)
{
	return ctrl_plan_add(p, CTRL_DELETE, x->k->resource, x->ns,
			     ctrl_str(x->obj, "metadata.name"),
			     ctrl_delete_options(policy, x->uid, -1));
}

static const char *own_policy(json_t *obj)
{
	if (ctrl_has_finalizer(obj, "orphan"))
		return "Orphan";
	if (ctrl_has_finalizer(obj, "foregroundDeletion"))
		return "Foreground";
	return "Background";
}

/* x as a dependent: upstream's attemptToDeleteItem. */
static int reconcile_dependent(const struct gc_graph *g, const struct gc_node *x,
			       struct ctrl_plan *p)
{
	json_t *refs = ctrl_get(x->obj, "metadata.ownerReferences");
	size_t n = json_array_size(refs), solid = 0, waiting = 0, dropped = 0;
	bool drop[n ?: 1];
	int r;

	for (size_t i = 0; i < n; i++) {
		enum owner_state st;

		r = classify(g, x, json_array_get(refs, i), p, &st);
		if (r < 0)
			return r;
		if (st == OWNER_INVALID)
			return 0;
		solid += st == OWNER_SOLID;
		waiting += st == OWNER_WAITING;
		drop[i] = st != OWNER_SOLID;
		dropped += drop[i];
	}
	if (solid)
		return dropped ? patch_refs(p, x, drop) : 0;
	if (waiting && count_dependents(g, x, false))
		return delete_node(p, x, "Foreground");
	return delete_node(p, x, own_policy(x->obj));
}

/* x being deleted with "orphan": upstream's attemptToOrphan. */
static int reconcile_orphaning(const struct gc_graph *g, const struct gc_node *x,
			       struct ctrl_plan *p)
{
	size_t n, orphaned = 0;
	const struct gc_edge *e = edges_of(g, x->uid, &n);

	for (size_t i = 0; i < n; i++) {
		json_t *refs = ctrl_get(e[i].dep->obj, "metadata.ownerReferences");
		size_t nr = json_array_size(refs);
		bool drop[nr ?: 1];
		int r;

		if (!edge_counts(x, &e[i]))
			continue;
		for (size_t j = 0; j < nr; j++)
			drop[j] = streq(ctrl_str(json_array_get(refs, j), "uid"), x->uid);
		r = patch_refs(p, e[i].dep, drop);
		if (r < 0)
			return r;
		orphaned++;
	}
	if (orphaned)
		return 0;
	return ctrl_plan_add(p, CTRL_PATCH, x->k->resource, x->ns,
			     ctrl_str(x->obj, "metadata.name"),
			     ctrl_finalizer_removal(x->obj, "orphan"));
}

static int reconcile_node(const struct gc_graph *g, const struct gc_node *x, struct ctrl_plan *p)
{
	if (deleting(x->obj)) {
		if (ctrl_has_finalizer(x->obj, "orphan"))
			return reconcile_orphaning(g, x, p);
		if (ctrl_has_finalizer(x->obj, "foregroundDeletion") &&
		    count_dependents(g, x, true) == 0)
			return ctrl_plan_add(p, CTRL_PATCH, x->k->resource, x->ns,
					     ctrl_str(x->obj, "metadata.name"),
					     ctrl_finalizer_removal(x->obj, "foregroundDeletion"));
		return 0;
	}
	if (json_array_size(ctrl_get(x->obj, "metadata.ownerReferences")) == 0)
		return 0;
	return reconcile_dependent(g, x, p);
}

int gc_compute_one(const struct gc_graph *g, const char *uid, struct ctrl_plan *p)
{
	const struct gc_node *x = node_find(g, uid);
	const struct gc_edge *e;
	size_t n;
	int r;

	if (!x)
		return 0;
	r = reconcile_node(g, x, p);
	if (r < 0 || !deleting(x->obj) || !ctrl_has_finalizer(x->obj, "foregroundDeletion"))
		return r;
	e = edges_of(g, x->uid, &n);
	for (size_t i = 0; i < n && r == 0; i++)
		if (edge_counts(x, &e[i]))
			r = reconcile_node(g, e[i].dep, p);
	return r;
}

int gc_compute(const struct gc_kind *kinds, size_t n_kinds, struct ctrl_plan *p)
{
	struct gc_graph *g = NULL;
	int r = gc_graph_new(kinds, n_kinds, &g);

	for (size_t i = 0; r == 0 && i < g->n; i++)
		r = reconcile_node(g, &g->nodes[i], p);
	gc_graph_free(g);
	return r;
}
