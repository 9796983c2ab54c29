/* Informers: a local, always-current copy of one resource, kept by a list
 * and then a watch, with change notifications (client-go's reflector +
 * indexer + shared informer, on the client's event loop).
 *
 *   struct kc_informer *pods;
 *   kc_informer_new(c, kc_resource_find("pods"), NULL, &pods);
 *   kc_informer_add_index(pods, "node", kc_index_node_name);
 *   kc_informer_add_handlers(pods, &(struct kc_informer_handlers){
 *       .add = on_add, .update = on_update, .del = on_delete, .ud = ctl });
 *   kc_informer_start(pods);
 *   for (;;) kc_client_run_once(c, -1);   // or the program's own poll loop
 *
 * Semantics (as client-go's):
 *  - The first list (paged) fills the cache; synced turns true once it is
 *    in and its adds are delivered. Then a watch runs from the list's
 *    resourceVersion with bookmarks, restarted from the last seen
 *    resourceVersion whenever it ends (server timeout: at once; a failure
 *    or dropped connection: after a jittered exponential backoff), so
 *    nothing is lost or delivered twice.
 *  - 410 Gone (an HTTP answer or an ERROR event: the history was
 *    compacted) relists and reconciles the cache with the list: deletes
 *    for objects that vanished meanwhile (with the last object known),
 *    adds for new ones, updates for ones whose resourceVersion changed.
 *  - Handlers run from kc_client_dispatch in event order, after the cache
 *    and indexes are updated; objects are borrowed and shared with the
 *    cache: handlers must not modify them (json_deep_copy first). A
 *    controller's handler should only enqueue a key (kube_workqueue.h).
 *  - Indexers map an object to zero or more string values; lookups by
 *    index and value return every cached object with that value. */
#ifndef SKIFF_KUBE_INFORMER_H
#define SKIFF_KUBE_INFORMER_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/kube_client.h"

struct kc_informer_opts {
	const char *namespace;      /* NULL: every namespace */
	const char *label_selector; /* NULL: everything */
	const char *field_selector;
	long page_size;             /* list page (default 500) */
	int backoff_initial_ms;     /* default 800 */
	int backoff_max_ms;         /* default 30000 */
	int watch_timeout_s;        /* default: random in [300, 600) as client-go */
	/* The cache keeps each object's resourceVersion, not the object
	 * (kube_versions.h): for a consumer whose handlers keep what they
	 * need (skiff-agent's model), at a small part of the memory (10,000
	 * Services and their EndpointSlices of 10 endpoints: ~125 MiB of
	 * JSON, ~1 MiB of versions). Lists and watches, relists and their
	 * differences are as ever (a relist holds only the objects whose
	 * version changed); add and update get the object as it arrived;
	 * update's old object, and a delete's when a relist found the object
	 * gone, are {metadata: {namespace, name, resourceVersion}}.
	 * kc_informer_get finds nothing and kc_informer_items is empty
	 * (kc_informer_has, kc_informer_version and kc_informer_count
	 * answer); indexes are refused (-EINVAL). */
	bool versions_only;
	/* The first list's adds are delivered page by page as the pages come
	 * (synced still turns true once the whole list is in): with
	 * versions_only, no whole list of objects is ever held. Relists
	 * deliver their difference at their end, as ever. */
	bool first_list_by_page;
};

struct kc_informer_handlers {
	void (*add)(void *ud, json_t *obj);
	void (*update)(void *ud, json_t *old_obj, json_t *new_obj);
	void (*del)(void *ud, json_t *obj);
	void *ud;
};

/* Appends the object's index values (JSON strings) to values. */
typedef void (*kc_index_fn)(json_t *obj, json_t *values);

struct kc_informer_stats {
	unsigned long lists;    /* complete lists (the first, and relists) */
	unsigned long watches;  /* watch requests started */
	unsigned long expired;  /* 410 Gone seen */
	unsigned long failures; /* failed lists and watches (backoffs) */
	unsigned long events;   /* watch events applied */
};

struct kc_informer;

int kc_informer_new(struct kc_client *c, const struct kc_resource *res,
		    const struct kc_informer_opts *o, struct kc_informer **out);
/* Stops the list/watch and frees the cache. NULL-safe. Not from a handler. */
void kc_informer_free(struct kc_informer *inf);
/* At most 8 handler sets, added before or after start (a late one gets no
 * replay of the objects already cached; it can walk kc_informer_items). */
int kc_informer_add_handlers(struct kc_informer *inf, const struct kc_informer_handlers *h);
/* A named index (-EEXIST when the name is taken); may be added after
 * start: the cache is indexed at once. */
int kc_informer_add_index(struct kc_informer *inf, const char *name, kc_index_fn fn);
int kc_informer_start(struct kc_informer *inf);

bool kc_informer_synced(const struct kc_informer *inf);
/* The resourceVersion the cache reflects. */
const char *kc_informer_resource_version(const struct kc_informer *inf);
void kc_informer_get_stats(const struct kc_informer *inf, struct kc_informer_stats *st);

/* Borrowed cached object by "ns/name" (or "name"), or NULL. */
json_t *kc_informer_get(const struct kc_informer *inf, const char *key);
/* Borrowed: the cache itself, a JSON object from key to object. */
json_t *kc_informer_items(const struct kc_informer *inf);
/* Whether key is cached; its resourceVersion (borrowed until it changes)
 * or NULL; how many objects are cached. With versions_only too. */
bool kc_informer_has(const struct kc_informer *inf, const char *key);
const char *kc_informer_version(const struct kc_informer *inf, const char *key);
size_t kc_informer_count(const struct kc_informer *inf);
/* A new array (referencing the cached objects) of the objects whose
 * index name has value; -ENOENT for an unknown index. */
int kc_informer_by_index(const struct kc_informer *inf, const char *name, const char *value,
			 json_t **out);
/* The keys with that value (new array of strings). */
int kc_informer_keys_by_index(const struct kc_informer *inf, const char *name,
			      const char *value, json_t **out);

/* Index functions for the common cases. */
void kc_index_namespace(json_t *obj, json_t *values);  /* metadata.namespace */
void kc_index_node_name(json_t *obj, json_t *values);  /* spec.nodeName */
void kc_index_owner_uid(json_t *obj, json_t *values);  /* every ownerReferences[].uid */
void kc_index_labels(json_t *obj, json_t *values);     /* every "key=value" label */

#endif
