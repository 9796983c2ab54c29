/* The revisioned key-value store under skiff-server, with etcd v3
 * semantics: every write creates a new global revision; each key has
 * create_revision and mod_revision; updates and deletes can be made
 * conditional on mod_revision (CAS); watches deliver every event after a
 * given revision, in order, until that history is compacted.
 *
 * Backends: embedded SQLite (default, durable on return: a write that
 * returned 0 survives kill -9) and etcd v3. Every function is safe to call
 * from several threads at once. Returns 0 or a negative errno:
 *   -ENOENT  key absent          -EEXIST  create of an existing key
 *   -ESTALE  CAS mismatch (the API server's 409 Conflict)
 *   -ERANGE  revision compacted (the API server's 410 Gone)
 *   -EIO     backend failure */
#ifndef SKIFF_STORE_H
#define SKIFF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_watch;

struct store_kv {
	char *key;
	char *value; /* NUL-terminated for convenience; value_len excludes it */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
};

enum store_event_type {
	STORE_EVENT_PUT,    /* create or update: prev.key is NULL on create */
	STORE_EVENT_DELETE, /* kv.value is empty; prev holds the last value */
};

struct store_event {
	enum store_event_type type;
	int64_t revision;
	struct store_kv kv;
	struct store_kv prev;
};

/* url: "sqlite:///path/to/file.db", a plain path (SQLite), or
 * "etcd://host:port[,host:port...][/namespace]" (namespace: a key prefix
 * of the store's own, so several stores share one etcd cluster). */
int store_open(const char *url, struct store **out);
/* Close a store's watches before the store. */
void store_close(struct store *s);

/* The current (latest) revision. */
int64_t store_revision(struct store *s);

int store_get(struct store *s, const char *key, struct store_kv *out);

/* Keys with the prefix, in key order, after start_after (exclusive; NULL
 * for the first page), at most limit (0 = all). *revision is the store
 * revision the list reflects; *more is set when keys remain. */
int store_list(struct store *s, const char *prefix, const char *start_after,
	       size_t limit, struct store_kv **items, size_t *n,
	       int64_t *revision, bool *more);
/* store_list as the store was at revision at (0: now), so the pages of one
 * list are one consistent view; -ERANGE when at is older than the
 * compacted history. */
int store_list_at(struct store *s, const char *prefix, const char *start_after,
		  size_t limit, int64_t at, struct store_kv **items, size_t *n, bool *more);
/* Number of keys with the prefix. */
int store_count(struct store *s, const char *prefix, size_t *n);

int store_create(struct store *s, const char *key, const char *value,
		 size_t len, int64_t *revision);
/* expect_mod_revision 0: unconditional. */
int store_update(struct store *s, const char *key, const char *value,
		 size_t len, int64_t expect_mod_revision, int64_t *revision);
/* prev (optional) receives the deleted value. */
int store_delete(struct store *s, const char *key, int64_t expect_mod_revision,
		 struct store_kv *prev, int64_t *revision);

/* Events for keys with the prefix whose revision is > after_revision.
 * -ERANGE when after_revision is older than the compacted history. */
int store_watch_open(struct store *s, const char *prefix, int64_t after_revision,
		     struct store_watch **out);
/* Waits up to timeout_ms for events; returns the number stored in
 * *events (0 on timeout). Free them with store_events_free. */
int store_watch_next(struct store_watch *w, int timeout_ms,
		     struct store_event **events, size_t *n);
void store_watch_close(struct store_watch *w);

/* Drops history (old values and deletions) at and below revision. */
int store_compact(struct store *s, int64_t revision);
/* The oldest revision still watchable. */
int64_t store_compacted_revision(struct store *s);

/* Consistent backup of the whole store to a file, and restore from one
 * into an empty store. The restored store's revision moves past anything
 * a client can have seen from the store the snapshot was taken of (SQLite:
 * the snapshot's revision + STORE_RESTORE_BUMP, as etcdutl snapshot
 * restore --bump-revision; etcd: the restored keys' new revisions), and
 * its history is compacted up to it (--mark-compacted): a watch from any
 * revision handed out before the restore gets -ERANGE (410 Gone), never
 * the restored keys as if they were new. */
#define STORE_RESTORE_BUMP 1000000000LL
int store_snapshot_save(struct store *s, const char *path);
int store_snapshot_restore(struct store *s, const char *path);
/* Restores the snapshot at path into the store at url whatever it holds
 * (with no server using the store): a store that has been written to is
 * first saved to backup (skipped when backup is NULL), then emptied (a
 * SQLite file is removed and made anew; etcd keys are deleted). Revisions
 * never go back: a SQLite store restored over a newer one continues past
 * the old current revision (bumped as store_snapshot_restore does); etcd
 * gives the restored keys new revisions. Either way history is compacted
 * up to the restore, so watches from revisions handed out before it get
 * -ERANGE. *revision (optional) receives the store's
 * revision after the restore; *backed_up whether backup was written. */
int store_snapshot_replace(const char *url, const char *path, const char *backup,
			   int64_t *revision, bool *backed_up);
/* Marks the (open) store at url as in use by this process until *fd is
 * closed: a shared flock on a SQLite file, so that store_snapshot_replace
 * refuses it (-EBUSY) while a server runs; *fd is -1 for etcd, whose
 * servers may be anywhere. */
int store_mark_in_use(const char *url, int *fd);

/* Compacts to keep revisions below the current one (a periodic
 * compaction step for the server); *compacted (optional) receives the
 * revision compacted to, 0 when there was nothing to do. */
int store_compact_keep(struct store *s, int64_t keep, int64_t *compacted);
/* "sqlite" or "etcd". */
const char *store_backend_name(struct store *s);
/* From now on, times each get, list, count, create, update and delete
 * into reg's etcd_request_duration_seconds{operation,type} (type: the
 * resource of the key, as /registry/GROUP/RESOURCE/... names it). Call
 * before the store is shared. */
struct prom_registry;
void store_set_metrics(struct store *s, struct prom_registry *reg);

void store_kv_clear(struct store_kv *kv);
void store_kvs_free(struct store_kv *kvs, size_t n);
void store_events_free(struct store_event *ev, size_t n);

#endif
