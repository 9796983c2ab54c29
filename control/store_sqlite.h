/* Inside the SQLite backend (control/store_sqlite*.c): the store, its
 * connections and prepared statements, and what its files call in each
 * other. The layout and the locking are described in store_sqlite.c.
 *
 *   store_sqlite.c           schema, connections, the reader pool, open/close
 *   store_sqlite_rw.c        get, list, count; create, update, delete, compact
 *   store_sqlite_watch.c     feeding the watch window, watches, log-table catch-up
 *   store_sqlite_snapshot.c  snapshots: backup, restore, the logical file format */
#ifndef SKIFF_STORE_SQLITE_H
#define SKIFF_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/store_backend.h"
#include "control/store_ring.h"

#define STORE_SQLITE_APP_ID 0x736b6666 /* "skff" */
#define STORE_SQLITE_SCHEMA_VERSION 1
#define STORE_SQLITE_POLL_MS 100
#define STORE_SQLITE_BATCH STORE_RING_BATCH
#define STORE_SQLITE_BUSY_MS 30000
#define STORE_SQLITE_READERS 4

enum sq_stmt {
	ST_BEGIN,
	ST_BEGIN_IMMEDIATE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_META,
	ST_META_SET_REV,
	ST_META_SET_COMPACT,
	ST_KV_GET,
	ST_KV_INSERT,
	ST_KV_UPDATE,
	ST_KV_DELETE,
	ST_LOG_INSERT,
	ST_LIST_RANGE,
	ST_LIST_OPEN,
	ST_LIST_AT_RANGE,
	ST_LIST_AT_OPEN,
	ST_COUNT_RANGE,
	ST_COUNT_OPEN,
	ST_EVENTS_ALL,
	ST_EVENTS_RANGE,
	ST_EVENTS_OPEN,
	ST_COMPACT,
	ST_SAVEPOINT,
	ST_SAVEPOINT_RELEASE,
	ST_SAVEPOINT_ROLLBACK,
	ST_MAX,
};

/* One create, update or delete waiting for the group commit
 * (store_sqlite_rw.c). */
struct sq_wreq;

/* A connection to the file and its prepared statements. */
struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST_MAX];
};

struct sq_store {
	struct store base;
	/* The writer: writes, compaction, feeding the watch window,
	 * snapshots. db_lock serialises its use; it is taken before
	 * ring.lock, never while holding it. */
	struct sq_conn w;
	pthread_mutex_t db_lock;
	/* Group commit: writes queue here; the first writer that finds no
	 * leader commits every queued write in one transaction (one fsync),
	 * then hands over to the next queued one. Under q_lock. */
	pthread_mutex_t q_lock;
	struct sq_wreq *q_head, **q_tail;
	bool q_leader;
	/* Readers for get, list, count and watch history: in WAL mode they
	 * read while the writer commits (and fsyncs). */
	struct sq_conn rd[STORE_SQLITE_READERS];
	bool rd_busy[STORE_SQLITE_READERS];
	pthread_mutex_t rd_lock;
	pthread_cond_t rd_cond;

	/* The watch window; polling and last_poll_ns are under its lock. */
	struct store_ring ring;
	bool polling;
	unsigned long long last_poll_ns;
};

static inline struct sq_store *sq(struct store *s)
{
	return (struct sq_store *)s;
}

/* store_sqlite.c: statements, transactions, rows. */
int sq_err(int rc);
/* A statement ready to bind: reset and cleared. */
sqlite3_stmt *sq_stmt(struct sq_conn *s, enum sq_stmt id);
/* Runs a statement that returns no rows. */
int sq_exec(struct sq_conn *s, enum sq_stmt id);
int sq_step_done(sqlite3_stmt *st);
void sq_rollback(struct sq_conn *s);
int sq_begin(struct sq_conn *s, bool write);
int sq_commit(struct sq_conn *s);
int sq_meta(struct sq_conn *s, int64_t *rev, int64_t *compact);
int sq_kv_from_row(sqlite3_stmt *st, int key_col, const char *key, int value_col,
		   int create_col, int mod_col, struct store_kv *kv);
/* Reads the live value of key inside the current transaction. */
int sq_kv_get(struct sq_conn *s, const char *key, struct store_kv *out);
int sq_log_insert(struct sq_conn *s, int64_t rev, const char *key, const char *value,
		  size_t len, int64_t create_rev, int64_t prev_rev, bool deleted);
int sq_set_rev(struct sq_conn *s, int64_t rev);
/* A reader connection from the pool, waiting while all are in use. */
struct sq_conn *sq_reader(struct sq_store *s);
void sq_reader_put(struct sq_store *s, struct sq_conn *c);

/* store_sqlite_rw.c */
/* A reader in a read transaction whose history still reaches back to
 * revision from (-1: no history needed; -ERANGE once compacted past it),
 * and the current revision in *rev. Ended by sq_read_end. */
int sq_read_begin(struct sq_store *s, int64_t from, struct sq_conn **out, int64_t *rev);
void sq_read_end(struct sq_store *s, struct sq_conn *c);
int sq_get(struct store *store, const char *key, struct store_kv *out);
int sq_list(struct store *store, const char *prefix, const char *start_after, size_t limit,
	    struct store_kv **items, size_t *n, int64_t *revision, bool *more);
int sq_list_at_op(struct store *store, const char *prefix, const char *start_after,
		  size_t limit, int64_t at, struct store_kv **items, size_t *n, bool *more);
int sq_count(struct store *store, const char *prefix, size_t *n);
int sq_create(struct store *s, const char *key, const char *value, size_t len,
	      int64_t *revision);
int sq_update(struct store *s, const char *key, const char *value, size_t len,
	      int64_t expect, int64_t *revision);
int sq_delete(struct store *s, const char *key, int64_t expect, struct store_kv *prev,
	      int64_t *revision);
int sq_compact(struct store *store, int64_t revision);

/* store_sqlite_watch.c */
/* Brings the watch window up to the newest row of the file; db_lock held. */
int sq_ingest(struct sq_store *s);
int sq_watch_open(struct store *store, const char *prefix, int64_t after_revision,
		  struct store_watch **out);
int sq_watch_next(struct store_watch *base, int timeout_ms, struct store_event **events,
		  size_t *n);
void sq_watch_close(struct store_watch *base);
int sq_set_ring_size(struct store *store, size_t events);

/* store_sqlite_snapshot.c */
int sq_snapshot_save(struct store *store, const char *path);
int sq_snapshot_restore(struct store *store, const char *path);

#endif
