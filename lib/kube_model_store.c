/* The model store: every object by kind and namespace/name, with the
 * bookkeeping its consumers need (generations, the slices of a service,
 * the services that changed). Per-kind behaviour comes from the kind
 * table (kube_model.c) and, for the store's own indexes, kind_changed. */
#include "lib/kube_model.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- store ------------------------------------------------------------ */

/* One allocation: the key, then the origin, follow the entry (at 10,000
 * Services the two small strings of each entry, allocated apart, were
 * over a third of the store's memory, by malloc's chunk sizes). */
struct store_entry {
	struct store_entry *next;
	const char *origin; /* in key's block; "" in index and dirty tables */
	void *obj;    /* of the table's kind; index and dirty tables: their own */
	/* Index and dirty tables: "ns/service". A kind's table: "" (its
	 * objects hold their namespace and name). */
	char key[];
};

/* A kind's table is looked up by namespace and name, the others by key. */
struct store_table {
	struct store_entry **buckets;
	size_t n_buckets, count;
	enum model_kind kind; /* MODEL_KIND_OTHER: index or dirty table */
};

struct model_store {
	struct store_table by_kind[MODEL_KIND_COUNT]; /* [MODEL_KIND_OTHER] unused */
	/* "ns/service" -> struct slice_vec of the slices labelled for it */
	struct store_table by_service;
	/* "ns/service" keys whose frontends may have changed (obj NULL) */
	/* per reader (enum model_store_reader) */
	struct store_table dirty[MODEL_READER_COUNT];
	bool all_dirty[MODEL_READER_COUNT];
	uint64_t generation;
	uint64_t node_generation;
};

/* The slices of one service, in one allocation. */
struct slice_vec {
	size_t n, cap;
	const struct store_entry *v[];
};

#define HASH_START 1469598103934665603ULL

static uint64_t hash_more(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Of a key (a, b NULL) in an index or dirty table; of namespace a and
 * name b in a kind's table. */
static uint64_t hash_key(const char *a, const char *b)
{
	uint64_t h = hash_more(HASH_START, a);

	return b ? hash_more(hash_more(h, "/"), b) : h;
}

static uint64_t entry_hash(const struct store_table *t, const struct store_entry *en)
{
	const char *ns, *name;

	if (t->kind == MODEL_KIND_OTHER)
		return hash_key(en->key, NULL);
	model_object_key(t->kind, en->obj, &ns, &name);
	return hash_key(ns, name);
}

/* en has the key (a, b as hash_key's). */
static bool entry_is(const struct store_table *t, const struct store_entry *en, const char *a,
		     const char *b)
{
	const char *ns, *name;

	if (t->kind == MODEL_KIND_OTHER)
		return streq(en->key, a);
	model_object_key(t->kind, en->obj, &ns, &name);
	return streq(name, b) && streq(ns, a);
}

static void entry_free(struct store_entry *en, enum model_kind kind)
{
	if (!en)
		return;
	if (kind == MODEL_KIND_OTHER)
		free(en->obj); /* index and set tables */
	else
		model_object_free(kind, en->obj);
	free(en);
}

static int table_grow(struct store_table *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : 64;
	struct store_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct store_entry *en = t->buckets[i], *next;

		for (; en; en = next) {
			next = en->next;
			uint64_t h = entry_hash(t, en);

			en->next = b[h % n];
			b[h % n] = en;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
	return 0;
}

/* The entry keyed (a, b as hash_key's). */
static struct store_entry **table_find(const struct store_table *t, const char *a, const char *b)
{
	struct store_entry **p;

	if (!t->n_buckets)
		return NULL;
	for (p = &t->buckets[hash_key(a, b) % t->n_buckets]; *p; p = &(*p)->next)
		if (entry_is(t, *p, a, b))
			return p;
	return NULL;
}

static void table_clear(struct store_table *t, enum model_kind kind)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct store_entry *en = t->buckets[i], *next;

		for (; en; en = next) {
			next = en->next;
			entry_free(en, kind);
		}
	}
	free(t->buckets);
	*t = (struct store_table){ .kind = t->kind };
}

int model_store_new(struct model_store **out)
{
	struct model_store *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	for (int r = 0; r < MODEL_READER_COUNT; r++)
		st->all_dirty[r] = true;
	for (int k = MODEL_KIND_OTHER + 1; k < MODEL_KIND_COUNT; k++)
		st->by_kind[k].kind = (enum model_kind)k;
	*out = st;
	return 0;
}

void model_store_free(struct model_store *st)
{
	if (!st)
		return;
	for (int k = MODEL_KIND_OTHER + 1; k < MODEL_KIND_COUNT; k++)
		table_clear(&st->by_kind[k], (enum model_kind)k);
	table_clear(&st->by_service, MODEL_KIND_OTHER);
	for (int r = 0; r < MODEL_READER_COUNT; r++)
		table_clear(&st->dirty[r], MODEL_KIND_OTHER);
	free(st);
}

/* A new entry with key and origin (either NULL: ""), not in any table. */
static struct store_entry *entry_new(const char *key, const char *origin)
{
	size_t kl = key ? strlen(key) : 0, ol = origin ? strlen(origin) : 0;
	struct store_entry *en = malloc(sizeof(*en) + kl + 1 + ol + 1);
	char *o;

	if (!en)
		return NULL;
	memcpy(en->key, key ? key : "", kl + 1);
	o = en->key + kl + 1;
	memcpy(o, origin ? origin : "", ol + 1);
	*en = (struct store_entry){ .origin = o };
	return en;
}

/* Inserts a new entry with key (copied) and obj into t; returns it. */
static struct store_entry *table_insert(struct store_table *t, const char *key, void *obj)
{
	struct store_entry *en;

	if (t->count + 1 > t->n_buckets && table_grow(t) < 0)
		return NULL;
	en = entry_new(key, NULL);
	if (!en)
		return NULL;
	en->obj = obj;
	en->next = t->buckets[hash_key(key, NULL) % t->n_buckets];
	t->buckets[hash_key(key, NULL) % t->n_buckets] = en;
	t->count++;
	return en;
}

/* Past this many, "everything" is cheaper to track than the list. */
#define STORE_DIRTY_MAX 4096

static void mark_dirty(struct model_store *st, const char *ns, const char *svc)
{
	char key[512];

	if (!svc)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, svc);
	for (int r = 0; r < MODEL_READER_COUNT; r++) {
		struct store_table *d = &st->dirty[r];

		if (st->all_dirty[r] || table_find(d, key, NULL))
			continue;
		if (d->count >= STORE_DIRTY_MAX || !table_insert(d, key, NULL)) {
			st->all_dirty[r] = true;
			table_clear(d, MODEL_KIND_OTHER);
		}
	}
}

static void index_remove(struct model_store *st, const struct store_entry *en)
{
	const struct model_slice *sl = en->obj;
	struct store_entry **found;
	struct slice_vec *v;
	char key[512];

	if (!sl->service_name)
		return;
	snprintf(key, sizeof(key), "%s/%s", sl->ns, sl->service_name);
	found = table_find(&st->by_service, key, NULL);
	if (!found)
		return;
	v = (*found)->obj;
	for (size_t i = 0; i < v->n; i++)
		if (v->v[i] == en) {
			v->v[i] = v->v[--v->n];
			break;
		}
	if (v->n == 0) {
		struct store_entry *e = *found;

		*found = e->next;
		entry_free(e, MODEL_KIND_OTHER);
		st->by_service.count--;
	}
}

static int index_add(struct model_store *st, const struct store_entry *en)
{
	const struct model_slice *sl = en->obj;
	struct store_entry **found, *e;
	struct slice_vec *v;
	char key[512];

	if (!sl->service_name)
		return 0;
	snprintf(key, sizeof(key), "%s/%s", sl->ns, sl->service_name);
	found = table_find(&st->by_service, key, NULL);
	if (found) {
		e = *found;
	} else {
		/* Most services have one slice (one per family, per 100 endpoints). */
		v = calloc(1, sizeof(*v) + sizeof(v->v[0]));
		if (!v)
			return -ENOMEM;
		v->cap = 1;
		e = table_insert(&st->by_service, key, v);
		if (!e) {
			free(v);
			return -ENOMEM;
		}
	}
	v = e->obj;
	if (v->n == v->cap) {
		struct slice_vec *nv = realloc(v, sizeof(*v) + v->cap * 2 * sizeof(v->v[0]));

		if (!nv)
			return -ENOMEM;
		nv->cap *= 2;
		e->obj = v = nv;
	}
	v->v[v->n++] = en;
	return 0;
}

/* What the store keeps besides the objects, per kind: called when old
 * (may be NULL) is replaced by now (may be NULL), before old is freed. */
static int service_changed(struct model_store *st, const struct store_entry *old,
			   const struct store_entry *now)
{
	const struct model_service *s = (old ? old : now)->obj;

	st->generation++;
	mark_dirty(st, s->ns, s->name);
	return 0;
}

static int slice_changed(struct model_store *st, const struct store_entry *old,
			 const struct store_entry *now)
{
	st->generation++;
	if (old) {
		const struct model_slice *sl = old->obj;

		mark_dirty(st, sl->ns, sl->service_name);
		index_remove(st, old);
	}
	if (now) {
		const struct model_slice *sl = now->obj;

		mark_dirty(st, sl->ns, sl->service_name);
		return index_add(st, now);
	}
	return 0;
}

static int node_changed(struct model_store *st, const struct store_entry *old,
			const struct store_entry *now)
{
	(void)old;
	(void)now;
	st->node_generation++; /* no service depends on a Node */
	return 0;
}

static int (*const kind_changed[MODEL_KIND_COUNT])(struct model_store *st,
						  const struct store_entry *old,
						  const struct store_entry *now) = {
	[MODEL_KIND_SERVICE] = service_changed,
	[MODEL_KIND_ENDPOINT_SLICE] = slice_changed,
	[MODEL_KIND_NODE] = node_changed,
};

static bool kind_ok(enum model_kind kind)
{
	return kind > MODEL_KIND_OTHER && kind < MODEL_KIND_COUNT;
}

static struct store_table *table_of(const struct model_store *st, enum model_kind kind)
{
	return (struct store_table *)&st->by_kind[kind];
}

int model_store_put(struct model_store *st, const char *origin, enum model_kind kind, void *obj)
{
	struct store_table *t = table_of(st, kind);
	struct store_entry *en, **found;
	const char *ns, *name;
	int r;

	if (!kind_ok(kind)) {
		model_object_free(kind, obj);
		return -EINVAL;
	}
	model_object_key(kind, obj, &ns, &name);
	en = entry_new(NULL, origin);
	if (!en) {
		model_object_free(kind, obj);
		return -ENOMEM;
	}
	en->obj = obj;
	found = table_find(t, ns, name);
	if (found) {
		struct store_entry *old = *found;
		bool same = model_object_equal(kind, old->obj, obj);

		if (same && streq(old->origin, en->origin)) {
			entry_free(en, kind); /* the same object: nothing changes */
			return 0;
		}
		en->next = old->next;
		*found = en;
		r = kind_changed[kind](st, old, en);
		entry_free(old, kind);
		return r < 0 ? r : 1;
	}
	if (t->count + 1 > t->n_buckets) {
		r = table_grow(t);
		if (r < 0) {
			entry_free(en, kind);
			return r;
		}
	}
	en->next = t->buckets[hash_key(ns, name) % t->n_buckets];
	t->buckets[hash_key(ns, name) % t->n_buckets] = en;
	t->count++;
	r = kind_changed[kind](st, NULL, en);
	return r < 0 ? r : 1;
}

int model_store_delete(struct model_store *st, enum model_kind kind, const char *origin,
		       const char *ns, const char *name)
{
	struct store_table *t = table_of(st, kind);
	struct store_entry **found, *en;

	if (!kind_ok(kind))
		return 0;
	found = table_find(t, ns, name);
	if (!found || !streq((*found)->origin, origin))
		return 0;
	en = *found;
	*found = en->next;
	kind_changed[kind](st, en, NULL);
	entry_free(en, kind);
	t->count--;
	return 1;
}

uint64_t model_store_generation(const struct model_store *st)
{
	return st->generation;
}

uint64_t model_store_node_generation(const struct model_store *st)
{
	return st->node_generation;
}

size_t model_store_count(const struct model_store *st, enum model_kind kind)
{
	return kind_ok(kind) ? table_of(st, kind)->count : 0;
}

/* The entries of t in turn, from en (NULL: the first); NULL at the end. */
static const struct store_entry *table_next(const struct store_table *t, size_t *bucket,
					    const struct store_entry *en)
{
	if (en && en->next)
		return en->next;
	for (*bucket = en ? *bucket + 1 : 0; *bucket < t->n_buckets; (*bucket)++)
		if (t->buckets[*bucket])
			return t->buckets[*bucket];
	return NULL;
}

int model_store_foreach(const struct model_store *st, enum model_kind kind, model_object_fn fn,
			void *ud)
{
	const struct store_entry *en = NULL;
	size_t b = 0;

	if (!kind_ok(kind))
		return 0;
	while ((en = table_next(table_of(st, kind), &b, en))) {
		int r = fn(en->obj, en->origin, ud);

		if (r < 0)
			return r;
	}
	return 0;
}

/* The typed iterations: model_store_foreach over one kind. */
#define TYPED_FOREACH(fn, fn_type, kind)                                             \
	int fn(const struct model_store *st, fn_type cb, void *ud)                   \
	{                                                                            \
		const struct store_entry *en = NULL;                                 \
		size_t b = 0;                                                        \
                                                                                     \
		while ((en = table_next(table_of(st, kind), &b, en))) {              \
			int r = cb(en->obj, en->origin, ud);                         \
                                                                                     \
			if (r < 0)                                                   \
				return r;                                            \
		}                                                                    \
		return 0;                                                            \
	}
TYPED_FOREACH(model_store_foreach_service, model_service_fn, MODEL_KIND_SERVICE)
TYPED_FOREACH(model_store_foreach_slice, model_slice_fn, MODEL_KIND_ENDPOINT_SLICE)
TYPED_FOREACH(model_store_foreach_node, model_node_fn, MODEL_KIND_NODE)

const struct model_service *model_store_get_service(const struct model_store *st, const char *ns,
						    const char *name)
{
	struct store_entry **found;

	found = table_find(&st->by_kind[MODEL_KIND_SERVICE], ns, name);
	return found ? (*found)->obj : NULL;
}

int model_store_foreach_slice_of(const struct model_store *st, const char *ns, const char *service,
				 model_slice_fn fn, void *ud)
{
	struct store_entry **found;
	const struct slice_vec *v;
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", ns, service);
	found = table_find(&st->by_service, key, NULL);
	if (!found)
		return 0;
	v = (*found)->obj;
	for (size_t i = 0; i < v->n; i++) {
		int r = fn(v->v[i]->obj, v->v[i]->origin, ud);

		if (r < 0)
			return r;
	}
	return 0;
}

int model_store_take_dirty_of(struct model_store *st, enum model_store_reader reader, char ***keys,
			      size_t *n, bool *all)
{
	struct store_table *d;
	char **v;
	size_t m = 0;

	if ((unsigned)reader >= MODEL_READER_COUNT)
		return -EINVAL;
	d = &st->dirty[reader];
	v = calloc(d->count + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_buckets; i++)
		for (struct store_entry *en = d->buckets[i]; en; en = en->next)
			if (!(v[m++] = strdup(en->key))) {
				while (m)
					free(v[--m]);
				free(v);
				return -ENOMEM;
			}
	*all = st->all_dirty[reader];
	*keys = v;
	*n = m;
	table_clear(d, MODEL_KIND_OTHER);
	st->all_dirty[reader] = false;
	return 0;
}

int model_store_take_dirty(struct model_store *st, char ***keys, size_t *n, bool *all)
{
	return model_store_take_dirty_of(st, MODEL_READER_PROXY, keys, n, all);
}

const char *model_store_origin(const struct model_store *st, enum model_kind kind, const char *ns,
			       const char *name)
{
	struct store_table *t = table_of(st, kind);
	struct store_entry **found;

	if (!kind_ok(kind))
		return NULL;
	found = table_find(t, ns, name);
	return found ? (*found)->origin : NULL;
}
