/* What a storage backend provides to control/store.c: one table of
 * operations. store.c validates arguments and dispatches; a backend sees
 * only well-formed calls (non-empty keys, non-negative revisions). */
#ifndef SKIFF_STORE_BACKEND_H
#define SKIFF_STORE_BACKEND_H

#include "control/store.h"

struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	int64_t (*revision)(struct store *s);
	int (*get)(struct store *s, const char *key, struct store_kv *out);
	int (*list)(struct store *s, const char *prefix, const char *start_after,
		    size_t limit, struct store_kv **items, size_t *n,
		    int64_t *revision, bool *more);
	int (*list_at)(struct store *s, const char *prefix, const char *start_after,
		       size_t limit, int64_t at, struct store_kv **items, size_t *n, bool *more);
	int (*count)(struct store *s, const char *prefix, size_t *n);
	int (*create)(struct store *s, const char *key, const char *value,
		      size_t len, int64_t *revision);
	int (*update)(struct store *s, const char *key, const char *value,
		      size_t len, int64_t expect_mod_revision, int64_t *revision);
	int (*del)(struct store *s, const char *key, int64_t expect_mod_revision,
		   struct store_kv *prev, int64_t *revision);
	int (*watch_open)(struct store *s, const char *prefix,
			  int64_t after_revision, struct store_watch **out);
	int (*watch_next)(struct store_watch *w, int timeout_ms,
			  struct store_event **events, size_t *n);
	void (*watch_close)(struct store_watch *w);
	int (*compact)(struct store *s, int64_t revision);
	int64_t (*compacted_revision)(struct store *s);
	int (*snapshot_save)(struct store *s, const char *path);
	int (*snapshot_restore)(struct store *s, const char *path);
	int (*set_ring_size)(struct store *s, size_t events);
};

/* Every backend's store and watch begin with these. */
struct store {
	const struct store_ops *ops;
	struct prom_metric *latency; /* NULL: not timed (store_set_metrics) */
};

struct store_watch {
	struct store *store;
};

int store_sqlite_open(const char *path, struct store **out);
int store_etcd_open(const char *endpoints, struct store **out);
/* The number of recent events a store's watch fan-out keeps in memory
 * (for tests and tuning); -EBUSY while watches are open. */
int store_set_ring_size(struct store *s, size_t events);

/* Logical snapshots in the SQLite store format (what the etcd backend
 * saves and restores): write creates path holding kvs as the live keys at
 * revision (history compacted up to it); read returns the live keys of any
 * SQLite store file in key order, and its revision. */
int store_sqlite_snapshot_write(const char *path, const struct store_kv *kvs, size_t n,
				int64_t revision);
int store_sqlite_snapshot_read(const char *path, struct store_kv **kvs, size_t *n,
			       int64_t *revision);

/* Shared helpers for backends. */
/* Fills kv with copies of key and value (value NUL-terminated). */
int store_kv_set(struct store_kv *kv, const char *key, size_t key_len,
		 const void *value, size_t value_len, int64_t create_revision,
		 int64_t mod_revision);
int store_kv_copy(struct store_kv *dst, const struct store_kv *src);
int store_event_copy(struct store_event *dst, const struct store_event *src);
void store_event_clear(struct store_event *ev);
/* Room for one more event in *evs (cnt held, *cap allocated). */
int store_events_grow(struct store_event **evs, size_t cnt, size_t *cap);
/* The smallest key greater than every key with prefix, etcd style: the
 * prefix with its last byte below 0xff incremented and what follows cut.
 * *end is NULL when no such key exists (empty or all-0xff prefix). */
int store_prefix_end(const char *prefix, char **end);
bool store_key_has_prefix(const char *key, const char *prefix, size_t prefix_len);

#endif
