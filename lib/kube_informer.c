/* Informers: list, watch, relist on 410, cache and indexes. See
 * kube_informer.h. */
#include "lib/kube_informer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/kube_versions.h"
#include "lib/util.h"

#define KC_MAX_HANDLERS 8
#define KC_MAX_INDEXES 16

struct kc_index {
	char *name;
	kc_index_fn fn;
	json_t *map; /* value -> { key: true } */
};

struct kc_informer {
	struct kc_client *c;
	const struct kc_resource *res;
	char *ns, *label_selector, *field_selector;
	long page_size;
	int backoff_initial_ms, backoff_max_ms, watch_timeout_s;
	bool first_list_by_page;

	struct kc_informer_handlers handlers[KC_MAX_HANDLERS];
	size_t n_handlers;
	struct kc_index indexes[KC_MAX_INDEXES];
	size_t n_indexes;

	json_t *cache;   /* key -> object */
	struct kc_versions *versions; /* versions_only: key -> resourceVersion */
	char *rv;        /* the last resourceVersion seen */
	bool synced, started;
	bool need_list;  /* the next retry lists (else it watches) */

	json_t *pending; /* a list in progress: key -> object */
	char *cont;      /* its continue token */
	struct kc_async *list_req;
	struct kc_watch *watch;
	struct kc_timer *retry;
	unsigned long long watch_started; /* now_ns() of the current watch */
	unsigned long watch_events;       /* events it delivered */
	unsigned failures; /* consecutive, for the backoff */
	unsigned short rand_state[3]; /* jitter, seeded per informer */
	struct kc_informer_stats stats;
};

static void list_begin(struct kc_informer *inf);
static void watch_begin(struct kc_informer *inf);

/* ---- cache and indexes ---- */

static void index_apply(struct kc_index *ix, const char *key, json_t *obj, bool add)
{
	json_t *values = json_array(), *v;
	size_t i;

	if (!values)
		return;
	ix->fn(obj, values);
	json_array_foreach(values, i, v) {
		const char *val = json_string_value(v);
		json_t *set;

		if (!val)
			continue;
		set = json_object_get(ix->map, val);
		if (add) {
			if (!set) {
				set = json_object();
				json_object_set_new(ix->map, val, set);
			}
			json_object_set(set, key, json_true());
		} else if (set) {
			json_object_del(set, key);
			if (!json_object_size(set))
				json_object_del(ix->map, val);
		}
	}
	json_decref(values);
}

static void indexes_apply(struct kc_informer *inf, const char *key, json_t *obj, bool add)
{
	for (size_t i = 0; i < inf->n_indexes; i++)
		index_apply(&inf->indexes[i], key, obj, add);
}

/* versions_only: what such a cache knows of an object, given to the
 * handlers in its place (a new reference): {metadata: {namespace, name,
 * resourceVersion}}, the key as client-go's DeletedFinalStateUnknown
 * carries it. The agent's handlers read only these fields of an old
 * object (api_source.c). */
static json_t *key_object(const char *key, const char *rv)
{
	const char *slash = strchr(key, '/');
	json_t *meta = json_object();

	if (!meta)
		return NULL;
	if (slash)
		json_object_set_new(meta, "namespace", json_stringn(key, (size_t)(slash - key)));
	json_object_set_new(meta, "name", json_string(slash ? slash + 1 : key));
	json_object_set_new(meta, "resourceVersion", json_string(rv));
	return json_pack("{s:o}", "metadata", meta);
}

/* The resourceVersion cached under key, or NULL. */
static const char *cached_rv(const struct kc_informer *inf, const char *key)
{
	if (inf->versions)
		return kc_versions_get(inf->versions, key);
	return kc_meta_str(json_object_get(inf->cache, key), "resourceVersion");
}

/* The object cached under key, for the handlers (a new reference), or
 * NULL. */
static json_t *cached_object(const struct kc_informer *inf, const char *key)
{
	const char *rv;

	if (!inf->versions)
		return json_incref(json_object_get(inf->cache, key));
	rv = kc_versions_get(inf->versions, key);
	return rv ? key_object(key, rv) : NULL;
}

static bool cached_has(const struct kc_informer *inf, const char *key)
{
	return inf->versions ? kc_versions_get(inf->versions, key) != NULL :
			       json_object_get(inf->cache, key) != NULL;
}

/* Caches obj (a new reference is taken), or its resourceVersion. */
static void cache_put(struct kc_informer *inf, const char *key, json_t *obj)
{
	const char *rv = kc_meta_str(obj, "resourceVersion");

	if (inf->versions)
		kc_versions_set(inf->versions, key, rv ? rv : "");
	else
		json_object_set(inf->cache, key, obj);
}

/* Puts obj (a new reference is taken) under key and tells the handlers. */
static void cache_upsert(struct kc_informer *inf, const char *key, json_t *obj)
{
	json_t *old = cached_object(inf, key);

	if (old)
		indexes_apply(inf, key, old, false);
	cache_put(inf, key, obj);
	indexes_apply(inf, key, obj, true);
	for (size_t i = 0; i < inf->n_handlers; i++) {
		const struct kc_informer_handlers *h = &inf->handlers[i];

		if (old && h->update)
			h->update(h->ud, old, obj);
		else if (!old && h->add)
			h->add(h->ud, obj);
	}
	json_decref(old);
}

static void cache_remove(struct kc_informer *inf, const char *key, json_t *last)
{
	json_t *old;

	if (!cached_has(inf, key))
		return; /* a delete of something never seen: nothing to tell */
	old = cached_object(inf, key);
	if (old)
		indexes_apply(inf, key, old, false);
	if (inf->versions)
		kc_versions_del(inf->versions, key);
	else
		json_object_del(inf->cache, key);
	for (size_t i = 0; i < inf->n_handlers; i++) {
		if (inf->handlers[i].del && (last || old))
			inf->handlers[i].del(inf->handlers[i].ud, last ? last : old);
	}
	json_decref(old);
}

static void set_rv(struct kc_informer *inf, const char *rv)
{
	char *n;

	if (!rv || !*rv || streq(rv, inf->rv))
		return;
	n = strdup(rv);
	if (n) {
		free(inf->rv);
		inf->rv = n;
	}
}

struct gone {
	json_t *fresh, *keys;
};

static int gone_one(const char *key, const char *rv, void *ud)
{
	struct gone *g = ud;

	(void)rv;
	if (!json_object_get(g->fresh, key))
		json_array_append_new(g->keys, json_string(key));
	return 0;
}

/* A full list replaces the cache: deletes for what vanished, adds for
 * what is new, updates for what changed (resourceVersion differs). */
static void cache_replace(struct kc_informer *inf, json_t *fresh)
{
	struct gone g = { fresh, json_array() };
	json_t *obj;
	const char *key;
	size_t i;

	if (inf->versions)
		kc_versions_foreach(inf->versions, gone_one, &g);
	else
		json_object_foreach(inf->cache, key, obj)
			gone_one(key, NULL, &g);
	json_array_foreach(g.keys, i, obj)
		cache_remove(inf, json_string_value(obj), NULL);
	json_decref(g.keys);
	json_object_foreach(fresh, key, obj) {
		if (!json_is_object(obj))
			continue; /* delivered already, or unchanged (list_keep) */
		if (!streq(cached_rv(inf, key), kc_meta_str(obj, "resourceVersion")))
			cache_upsert(inf, key, obj);
	}
}

/* A listed object into the list in progress (pending). With
 * versions_only, one the cache has at the same resourceVersion is kept
 * as a mark (true), not as the object; with first_list_by_page, the first
 * list's objects go to the cache and the handlers at once, marked too. */
static void list_keep(struct kc_informer *inf, const char *key, json_t *obj)
{
	bool done = inf->versions && streq(cached_rv(inf, key), kc_meta_str(obj, "resourceVersion"));

	if (!done && inf->first_list_by_page && !inf->synced) {
		cache_upsert(inf, key, obj);
		done = true;
	}
	json_object_set(inf->pending, key, done ? json_true() : obj);
}

/* ---- retries ---- */

static void retry_fire(void *ud)
{
	struct kc_informer *inf = ud;

	inf->retry = NULL;
	if (inf->need_list)
		list_begin(inf);
	else
		watch_begin(inf);
}

/* Jittered exponential backoff: d = initial * 2^failures (capped), then a
 * delay in [d, 2d) as client-go's jitter 1.0. */
static void retry_later(struct kc_informer *inf)
{
	unsigned long long d = (unsigned long long)inf->backoff_initial_ms;

	inf->stats.failures++;
	for (unsigned i = 0; i < inf->failures && d < (unsigned long long)inf->backoff_max_ms; i++)
		d *= 2;
	if (d > (unsigned long long)inf->backoff_max_ms)
		d = (unsigned long long)inf->backoff_max_ms;
	inf->failures++;
	d = d * 1000000ULL + (unsigned long long)(erand48(inf->rand_state) * (double)d * 1e6);
	if (kc_timer_add(inf->c, now_ns() + d, retry_fire, inf, &inf->retry) < 0)
		inf->retry = NULL;
}

/* ---- list ---- */

static void list_done(void *ud, int err, const struct kc_status *st, json_t *body);

static void list_request(struct kc_informer *inf)
{
	struct kc_list_opts lo = {
		.label_selector = inf->label_selector,
		.field_selector = inf->field_selector,
		.limit = inf->page_size,
		.continue_token = inf->cont,
	};
	char q[4096], path[4600];
	int r = kc_list_query(&lo, q, sizeof(q));

	if (r == 0)
		r = kc_path(inf->res, inf->ns, NULL, NULL, q, path, sizeof(path));
	if (r == 0)
		r = kc_request_async(inf->c, "GET", path, NULL, list_done, inf, &inf->list_req);
	if (r < 0)
		retry_later(inf);
}

static void list_begin(struct kc_informer *inf)
{
	inf->need_list = true;
	json_decref(inf->pending);
	inf->pending = json_object();
	free(inf->cont);
	inf->cont = NULL;
	list_request(inf);
}

static void list_done(void *ud, int err, const struct kc_status *st, json_t *body)
{
	struct kc_informer *inf = ud;
	json_t *items = json_object_get(body, "items"), *obj, *meta = json_object_get(body, "metadata");
	const char *cont = json_string_value(json_object_get(meta, "continue"));
	char key[512];
	size_t i;

	(void)st;
	inf->list_req = NULL;
	if (err < 0) {
		/* An expired continue token starts the list again; else back off. */
		free(inf->cont);
		inf->cont = NULL;
		json_decref(inf->pending);
		inf->pending = NULL;
		if (err == -ERANGE) {
			inf->stats.expired++;
			list_begin(inf);
		} else {
			retry_later(inf);
		}
		return;
	}
	json_array_foreach(items, i, obj) {
		if (kc_object_key(obj, key, sizeof(key)) == 0)
			list_keep(inf, key, obj);
	}
	free(inf->cont);
	inf->cont = cont && *cont ? strdup(cont) : NULL;
	if (inf->cont) {
		list_request(inf);
		return;
	}
	inf->stats.lists++;
	inf->failures = 0;
	inf->need_list = false;
	set_rv(inf, json_string_value(json_object_get(meta, "resourceVersion")));
	cache_replace(inf, inf->pending);
	json_decref(inf->pending);
	inf->pending = NULL;
	inf->synced = true;
	watch_begin(inf);
}

/* ---- watch ---- */

static void watch_stop(struct kc_informer *inf)
{
	if (inf->watch)
		kc_watch_stop(inf->c, inf->watch);
	inf->watch = NULL;
}

static void watch_event(void *ud, const char *type, json_t *obj)
{
	struct kc_informer *inf = ud;
	char key[512];

	if (streq(type, "ERROR")) {
		long code = json_integer_value(json_object_get(obj, "code"));

		watch_stop(inf);
		if (code == 410) {
			inf->stats.expired++;
			list_begin(inf);
		} else {
			retry_later(inf);
		}
		return;
	}
	set_rv(inf, kc_meta_str(obj, "resourceVersion"));
	inf->failures = 0;
	if (streq(type, "BOOKMARK") || kc_object_key(obj, key, sizeof(key)) < 0)
		return;
	inf->stats.events++;
	inf->watch_events++;
	if (streq(type, "DELETED"))
		cache_remove(inf, key, obj);
	else
		cache_upsert(inf, key, obj);
}

static void watch_done(void *ud, int err, const struct kc_status *st)
{
	struct kc_informer *inf = ud;

	(void)st;
	inf->watch = NULL;
	if (err == 0 && (inf->watch_events || now_ns() - inf->watch_started > 1000000000ULL)) {
		watch_begin(inf); /* the server's timeout: resume at once */
	} else if (err == 0) {
		retry_later(inf); /* a "very short watch", as client-go calls it */
	} else if (err == -ERANGE) {
		inf->stats.expired++;
		list_begin(inf);
	} else {
		retry_later(inf);
	}
}

static void watch_begin(struct kc_informer *inf)
{
	struct kc_watch_opts o = {
		.label_selector = inf->label_selector,
		.field_selector = inf->field_selector,
		.resource_version = inf->rv,
		.bookmarks = true,
		.timeout_seconds = inf->watch_timeout_s > 0 ? inf->watch_timeout_s :
							      300 + (int)(erand48(inf->rand_state) * 300),
	};

	inf->stats.watches++;
	inf->watch_started = now_ns();
	inf->watch_events = 0;
	if (kc_watch_start(inf->c, inf->res, inf->ns, &o, watch_event, watch_done, inf,
			   &inf->watch) < 0) {
		inf->watch = NULL;
		retry_later(inf);
	}
}

/* ---- the public face ---- */

static char *dup_opt(const char *s, bool *oom)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* Different in every process and informer, so that clients cut off
 * together do not all come back at the same moment. */
static void seed_jitter(struct kc_informer *inf)
{
	unsigned long long seed = now_ns() ^ ((unsigned long long)getpid() << 32) ^
				  (unsigned long long)(uintptr_t)inf;

	memcpy(inf->rand_state, &seed, sizeof(inf->rand_state));
}

int kc_informer_new(struct kc_client *c, const struct kc_resource *res,
		    const struct kc_informer_opts *o, struct kc_informer **out)
{
	static const struct kc_informer_opts none = { 0 };
	struct kc_informer *inf = calloc(1, sizeof(*inf));
	bool oom = false;

	if (!inf)
		return -ENOMEM;
	if (!o)
		o = &none;
	inf->c = c;
	inf->res = res;
	inf->ns = dup_opt(o->namespace, &oom);
	inf->label_selector = dup_opt(o->label_selector, &oom);
	inf->field_selector = dup_opt(o->field_selector, &oom);
	inf->page_size = o->page_size > 0 ? o->page_size : 500;
	inf->backoff_initial_ms = o->backoff_initial_ms > 0 ? o->backoff_initial_ms : 800;
	inf->backoff_max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms : 30000;
	inf->watch_timeout_s = o->watch_timeout_s;
	inf->first_list_by_page = o->first_list_by_page;
	seed_jitter(inf);
	inf->cache = json_object();
	if (o->versions_only && kc_versions_new(&inf->versions) < 0)
		oom = true;
	if (oom || !inf->cache) {
		kc_informer_free(inf);
		return -ENOMEM;
	}
	*out = inf;
	return 0;
}

void kc_informer_free(struct kc_informer *inf)
{
	if (!inf)
		return;
	watch_stop(inf);
	if (inf->list_req)
		kc_async_cancel(inf->c, inf->list_req);
	if (inf->retry)
		kc_timer_cancel(inf->c, inf->retry);
	for (size_t i = 0; i < inf->n_indexes; i++) {
		free(inf->indexes[i].name);
		json_decref(inf->indexes[i].map);
	}
	json_decref(inf->cache);
	kc_versions_free(inf->versions);
	json_decref(inf->pending);
	free(inf->cont);
	free(inf->rv);
	free(inf->ns);
	free(inf->label_selector);
	free(inf->field_selector);
	free(inf);
}

int kc_informer_add_handlers(struct kc_informer *inf, const struct kc_informer_handlers *h)
{
	if (inf->n_handlers == KC_MAX_HANDLERS)
		return -ENOSPC;
	inf->handlers[inf->n_handlers++] = *h;
	return 0;
}

int kc_informer_add_index(struct kc_informer *inf, const char *name, kc_index_fn fn)
{
	struct kc_index *ix;
	const char *key;
	json_t *obj;

	if (inf->versions)
		return -EINVAL; /* index functions read objects */
	for (size_t i = 0; i < inf->n_indexes; i++) {
		if (streq(inf->indexes[i].name, name))
			return -EEXIST;
	}
	if (inf->n_indexes == KC_MAX_INDEXES)
		return -ENOSPC;
	ix = &inf->indexes[inf->n_indexes];
	ix->name = strdup(name);
	ix->map = json_object();
	ix->fn = fn;
	if (!ix->name || !ix->map) {
		free(ix->name);
		json_decref(ix->map);
		return -ENOMEM;
	}
	inf->n_indexes++;
	json_object_foreach(inf->cache, key, obj)
		index_apply(ix, key, obj, true);
	return 0;
}

int kc_informer_start(struct kc_informer *inf)
{
	if (inf->started)
		return -EALREADY;
	inf->started = true;
	list_begin(inf);
	return 0;
}

bool kc_informer_synced(const struct kc_informer *inf)
{
	return inf->synced;
}

const char *kc_informer_resource_version(const struct kc_informer *inf)
{
	return inf->rv;
}

void kc_informer_get_stats(const struct kc_informer *inf, struct kc_informer_stats *st)
{
	*st = inf->stats;
}

json_t *kc_informer_get(const struct kc_informer *inf, const char *key)
{
	return json_object_get(inf->cache, key);
}

json_t *kc_informer_items(const struct kc_informer *inf)
{
	return inf->cache;
}

bool kc_informer_has(const struct kc_informer *inf, const char *key)
{
	return cached_has(inf, key);
}

const char *kc_informer_version(const struct kc_informer *inf, const char *key)
{
	return cached_rv(inf, key);
}

size_t kc_informer_count(const struct kc_informer *inf)
{
	return inf->versions ? kc_versions_count(inf->versions) : json_object_size(inf->cache);
}

static const struct kc_index *index_find(const struct kc_informer *inf, const char *name)
{
	for (size_t i = 0; i < inf->n_indexes; i++) {
		if (streq(inf->indexes[i].name, name))
			return &inf->indexes[i];
	}
	return NULL;
}

/* The keys (or the cached objects) under one value of an index. */
static int index_lookup(const struct kc_informer *inf, const char *name, const char *value,
			bool objects, json_t **out)
{
	const struct kc_index *ix = index_find(inf, name);
	json_t *arr, *v;
	const char *key;

	if (!ix)
		return -ENOENT;
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	json_object_foreach(json_object_get(ix->map, value), key, v) {
		if (objects)
			json_array_append(arr, json_object_get(inf->cache, key));
		else
			json_array_append_new(arr, json_string(key));
	}
	*out = arr;
	return 0;
}

int kc_informer_keys_by_index(const struct kc_informer *inf, const char *name,
			      const char *value, json_t **out)
{
	return index_lookup(inf, name, value, false, out);
}

int kc_informer_by_index(const struct kc_informer *inf, const char *name, const char *value,
			 json_t **out)
{
	return index_lookup(inf, name, value, true, out);
}

/* ---- index functions ---- */

static void add_str(json_t *values, const char *s)
{
	if (s && *s)
		json_array_append_new(values, json_string(s));
}

void kc_index_namespace(json_t *obj, json_t *values)
{
	add_str(values, kc_meta_str(obj, "namespace"));
}

void kc_index_node_name(json_t *obj, json_t *values)
{
	add_str(values, json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName")));
}

void kc_index_owner_uid(json_t *obj, json_t *values)
{
	json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), *r;
	size_t i;

	json_array_foreach(refs, i, r)
		add_str(values, json_string_value(json_object_get(r, "uid")));
}

void kc_index_labels(json_t *obj, json_t *values)
{
	json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels"), *v;
	const char *k;

	json_object_foreach(labels, k, v) {
		char buf[640];

		if (json_is_string(v) &&
		    (size_t)snprintf(buf, sizeof(buf), "%s=%s", k, json_string_value(v)) < sizeof(buf))
			add_str(values, buf);
	}
}
