/* The embedded store: one SQLite file, revisioned like etcd.
 *
 * Tables (kine style):
 *   log  every write as a row: rev (the global revision), key, value,
 *        create_rev, prev_rev (mod revision of the value it replaced, 0 on
 *        create), deleted (1 for a deletion marker)
 *   kv   the current value of every live key, updated in the same
 *        transaction as the log row, so get and list never scan history
 *   meta one row: the current revision and the compacted revision
 *
 * Durability: WAL with synchronous=FULL, so a write that returned 0 has
 * been fsynced. Writes run in BEGIN IMMEDIATE transactions on one writer
 * connection, which serialise writers across threads and processes sharing
 * the file. Reads (get, list, count, watch history) use a small pool of
 * reader connections, each in a read transaction of its own: one
 * consistent view, never waiting for a writer's fsync.
 *
 * Watch: one shared fan-out per open store. A ring of recent events is fed
 * by whoever learns of new rows: the writer of this process right after
 * its commit, or, for rows written by other processes, one waiting watcher
 * that polls the log table every STORE_SQLITE_POLL_MS. Watchers read the
 * ring under a mutex and sleep on one condition variable; a watcher that
 * is behind the ring (or new, asking for old history) reads the log table
 * until it catches up. */
#include "control/store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define STORE_SQLITE_APP_ID 0x736b6666 /* "skff" */
#define STORE_SQLITE_SCHEMA_VERSION 1
#define STORE_SQLITE_POLL_MS 100
#define STORE_SQLITE_RING 4096
#define STORE_SQLITE_BATCH 1024
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
	ST_MAX,
};

#define EVENT_COLUMNS                                                          \
	"SELECT l.rev, l.key, l.value, l.create_rev, l.deleted, l.prev_rev, "  \
	"p.value, p.create_rev FROM log l LEFT JOIN log p ON p.rev = l.prev_rev AND p.key = l.key "

static const char *const sq_sql[ST_MAX] = {
	[ST_BEGIN] = "BEGIN",
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_META] = "SELECT rev, compact_rev FROM meta WHERE id = 0",
	[ST_META_SET_REV] = "UPDATE meta SET rev = ?1 WHERE id = 0",
	[ST_META_SET_COMPACT] = "UPDATE meta SET compact_rev = ?1 WHERE id = 0",
	[ST_KV_GET] = "SELECT value, create_rev, mod_rev FROM kv WHERE key = ?1",
	[ST_KV_INSERT] = "INSERT INTO kv (key, value, create_rev, mod_rev) "
			 "VALUES (?1, ?2, ?3, ?4)",
	[ST_KV_UPDATE] = "UPDATE kv SET value = ?2, mod_rev = ?3 WHERE key = ?1",
	[ST_KV_DELETE] = "DELETE FROM kv WHERE key = ?1",
	[ST_LOG_INSERT] = "INSERT INTO log (rev, key, value, create_rev, prev_rev, deleted) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_LIST_RANGE] = "SELECT key, value, create_rev, mod_rev FROM kv "
			  "WHERE key >= ?1 AND key > ?3 AND key < ?2 ORDER BY key LIMIT ?4",
	[ST_LIST_OPEN] = "SELECT key, value, create_rev, mod_rev FROM kv "
			 "WHERE key >= ?1 AND key > ?3 ORDER BY key LIMIT ?4",
	/* The newest version of each key at revision ?5, unless a deletion. */
	[ST_LIST_AT_RANGE] = "SELECT l.key, l.value, l.create_rev, l.rev FROM log l "
			     "WHERE l.key >= ?1 AND l.key > ?3 AND l.key < ?2 AND l.deleted = 0 "
			     "AND l.rev = (SELECT max(m.rev) FROM log m WHERE m.key = l.key "
			     "AND m.rev <= ?5) ORDER BY l.key LIMIT ?4",
	[ST_LIST_AT_OPEN] = "SELECT l.key, l.value, l.create_rev, l.rev FROM log l "
			    "WHERE l.key >= ?1 AND l.key > ?3 AND l.deleted = 0 "
			    "AND l.rev = (SELECT max(m.rev) FROM log m WHERE m.key = l.key "
			    "AND m.rev <= ?5) ORDER BY l.key LIMIT ?4",
	[ST_COUNT_RANGE] = "SELECT count(*) FROM kv WHERE key >= ?1 AND key < ?2",
	[ST_COUNT_OPEN] = "SELECT count(*) FROM kv WHERE key >= ?1",
	[ST_EVENTS_ALL] = EVENT_COLUMNS "WHERE l.rev > ?1 ORDER BY l.rev LIMIT ?4",
	[ST_EVENTS_RANGE] = EVENT_COLUMNS "WHERE l.rev > ?1 AND l.key >= ?2 AND l.key < ?3 "
					  "ORDER BY l.rev LIMIT ?4",
	[ST_EVENTS_OPEN] = EVENT_COLUMNS "WHERE l.rev > ?1 AND l.key >= ?2 "
					 "ORDER BY l.rev LIMIT ?4",
	/* etcd's rule: keep, per key, the newest version at or below the
	 * compaction revision unless it is a deletion marker; drop the rest. */
	[ST_COMPACT] = "DELETE FROM log WHERE rev <= ?1 AND (deleted = 1 OR rev < "
		       "(SELECT max(n.rev) FROM log n WHERE n.key = log.key AND n.rev <= ?1))",
};

static const char sq_schema[] =
	"CREATE TABLE IF NOT EXISTS log ("
	" rev INTEGER PRIMARY KEY,"
	" key TEXT NOT NULL,"
	" value BLOB,"
	" create_rev INTEGER NOT NULL,"
	" prev_rev INTEGER NOT NULL,"
	" deleted INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev);"
	"CREATE TABLE IF NOT EXISTS kv ("
	" key TEXT PRIMARY KEY,"
	" value BLOB NOT NULL,"
	" create_rev INTEGER NOT NULL,"
	" mod_rev INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS meta ("
	" id INTEGER PRIMARY KEY CHECK (id = 0),"
	" rev INTEGER NOT NULL,"
	" compact_rev INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta (id, rev, compact_rev) VALUES (0, 0, 0);";

/* A connection to the file and its prepared statements. */
struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST_MAX];
};

struct sq_store {
	struct store base;
	/* The writer: writes, compaction, feeding the watch ring, snapshots.
	 * db_lock serialises its use; it is taken before hub_lock, never
	 * while holding it. */
	struct sq_conn w;
	pthread_mutex_t db_lock;
	/* Readers for get, list, count and watch history: in WAL mode they
	 * read while the writer commits (and fsyncs). */
	struct sq_conn rd[STORE_SQLITE_READERS];
	bool rd_busy[STORE_SQLITE_READERS];
	pthread_mutex_t rd_lock;
	pthread_cond_t rd_cond;

	/* The shared fan-out. The ring holds every event in
	 * (ring_base, ring_last], oldest at ring_head. */
	pthread_mutex_t hub_lock;
	pthread_cond_t hub_cond;
	struct store_event *ring;
	size_t ring_cap, ring_head, ring_len;
	int64_t ring_base, ring_last;
	size_t watchers;
	bool polling;
	unsigned long long last_poll_ns;
};

struct sq_watch {
	struct store_watch base;
	struct sq_store *s;
	char *prefix;
	size_t prefix_len;
	char *prefix_end;
	int64_t cursor; /* every matching event <= cursor has been delivered */
};

static struct sq_conn *sq_reader(struct sq_store *s);
static void sq_reader_put(struct sq_store *s, struct sq_conn *c);

static struct sq_store *sq(struct store *s)
{
	return (struct sq_store *)s;
}

static int sq_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EINVAL;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/* A statement ready to bind: reset and cleared. */
static sqlite3_stmt *sq_stmt(struct sq_conn *s, enum sq_stmt id)
{
	sqlite3_stmt *st = s->st[id];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* Runs a statement that returns no rows. */
static int sq_exec(struct sq_conn *s, enum sq_stmt id)
{
	sqlite3_stmt *st = s->st[id];
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

static int sq_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

static void sq_rollback(struct sq_conn *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)sq_exec(s, ST_ROLLBACK);
}

static int sq_begin(struct sq_conn *s, bool write)
{
	return sq_exec(s, write ? ST_BEGIN_IMMEDIATE : ST_BEGIN);
}

static int sq_commit(struct sq_conn *s)
{
	int r = sq_exec(s, ST_COMMIT);

	if (r < 0)
		sq_rollback(s);
	return r;
}

static int sq_meta(struct sq_conn *s, int64_t *rev, int64_t *compact)
{
	sqlite3_stmt *st = sq_stmt(s, ST_META);
	int rc = sqlite3_step(st);

	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -EIO : sq_err(rc);
	}
	if (rev)
		*rev = sqlite3_column_int64(st, 0);
	if (compact)
		*compact = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

static int sq_kv_from_row(sqlite3_stmt *st, int key_col, const char *key,
			  int value_col, int create_col, int mod_col,
			  struct store_kv *kv)
{
	const void *v = sqlite3_column_blob(st, value_col);
	size_t vlen = (size_t)sqlite3_column_bytes(st, value_col);

	if (key_col >= 0) {
		key = (const char *)sqlite3_column_text(st, key_col);
		if (!key)
			return -ENOMEM;
	}
	return store_kv_set(kv, key, strlen(key), v, vlen,
			    sqlite3_column_int64(st, create_col),
			    sqlite3_column_int64(st, mod_col));
}

/* Reads the live value of key inside the current transaction. */
static int sq_kv_get(struct sq_conn *s, const char *key, struct store_kv *out)
{
	sqlite3_stmt *st = sq_stmt(s, ST_KV_GET);
	int rc, r;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return sq_err(rc);
	}
	r = sq_kv_from_row(st, -1, key, 0, 1, 2, out);
	sqlite3_reset(st);
	return r;
}

static int sq_log_insert(struct sq_conn *s, int64_t rev, const char *key,
			 const char *value, size_t len, int64_t create_rev,
			 int64_t prev_rev, bool deleted)
{
	sqlite3_stmt *st = sq_stmt(s, ST_LOG_INSERT);

	sqlite3_bind_int64(st, 1, rev);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (deleted)
		sqlite3_bind_null(st, 3);
	else
		sqlite3_bind_blob64(st, 3, value, len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, create_rev);
	sqlite3_bind_int64(st, 5, prev_rev);
	sqlite3_bind_int(st, 6, deleted);
	return sq_step_done(st);
}

static int sq_set_rev(struct sq_conn *s, int64_t rev)
{
	sqlite3_stmt *st = sq_stmt(s, ST_META_SET_REV);

	sqlite3_bind_int64(st, 1, rev);
	return sq_step_done(st);
}

/* The event of one row of an EVENT_COLUMNS query. */
static int sq_event_from_row(sqlite3_stmt *st, struct store_event *ev)
{
	int64_t rev = sqlite3_column_int64(st, 0);
	int64_t prev_rev = sqlite3_column_int64(st, 5);
	const char *key = (const char *)sqlite3_column_text(st, 1);
	int r;

	memset(ev, 0, sizeof(*ev));
	if (!key)
		return -ENOMEM;
	ev->revision = rev;
	if (sqlite3_column_int(st, 4)) {
		ev->type = STORE_EVENT_DELETE;
		r = store_kv_set(&ev->kv, key, strlen(key), "", 0, 0, rev);
	} else {
		ev->type = STORE_EVENT_PUT;
		r = sq_kv_from_row(st, -1, key, 2, 3, 0, &ev->kv);
	}
	if (r < 0)
		return r;
	if (prev_rev && sqlite3_column_type(st, 6) != SQLITE_NULL) {
		const void *pv = sqlite3_column_blob(st, 6);

		r = store_kv_set(&ev->prev, key, strlen(key), pv,
				 (size_t)sqlite3_column_bytes(st, 6),
				 sqlite3_column_int64(st, 7), prev_rev);
		if (r < 0) {
			store_event_clear(ev);
			return r;
		}
	}
	return 0;
}

/* Appends the events of a prepared EVENT_COLUMNS query to *evs. */
static int sq_events_read(sqlite3_stmt *st, struct store_event **evs, size_t *n)
{
	size_t cap = 0;
	int rc, r = 0;

	*evs = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store_event *t = realloc(*evs, ncap * sizeof(**evs));

			if (!t) {
				r = -ENOMEM;
				break;
			}
			*evs = t;
			cap = ncap;
		}
		r = sq_event_from_row(st, &(*evs)[*n]);
		if (r < 0)
			break;
		(*n)++;
	}
	if (!r && rc != SQLITE_DONE)
		r = sq_err(rc);
	sqlite3_reset(st);
	if (r < 0) {
		store_events_free(*evs, *n);
		*evs = NULL;
		*n = 0;
	}
	return r;
}

/* Hub. */

static struct store_event *ring_at(struct sq_store *s, size_t i)
{
	return &s->ring[(s->ring_head + i) % s->ring_cap];
}

static void ring_clear(struct sq_store *s)
{
	for (size_t i = 0; i < s->ring_len; i++)
		store_event_clear(ring_at(s, i));
	s->ring_head = 0;
	s->ring_len = 0;
}

/* Moves ev into the ring; the oldest event falls out when it is full. */
static void ring_push(struct sq_store *s, struct store_event *ev)
{
	if (s->ring_len == s->ring_cap) {
		struct store_event *old = ring_at(s, 0);

		s->ring_base = old->revision;
		store_event_clear(old);
		s->ring_head = (s->ring_head + 1) % s->ring_cap;
		s->ring_len--;
	}
	*ring_at(s, s->ring_len) = *ev;
	s->ring_len++;
	s->ring_last = ev->revision;
	memset(ev, 0, sizeof(*ev));
}

/* Brings the ring up to the newest row of the file. Called with db_lock
 * held (by a writer after its commit, or by the polling watcher). */
static int sq_ingest(struct sq_store *s)
{
	struct store_event *evs = NULL;
	int64_t last, rev, compact;
	size_t n = 0;
	bool active;
	int r;

	pthread_mutex_lock(&s->hub_lock);
	active = s->watchers > 0;
	last = s->ring_last;
	pthread_mutex_unlock(&s->hub_lock);
	if (!active)
		return 0;

	r = sq_begin(&s->w, false);
	if (r < 0)
		return r;
	r = sq_meta(&s->w, &rev, &compact);
	if (r < 0 || rev <= last)
		goto out;
	if (rev - last <= (int64_t)s->ring_cap) {
		sqlite3_stmt *st = sq_stmt(&s->w, ST_EVENTS_ALL);

		sqlite3_bind_int64(st, 1, last);
		sqlite3_bind_int64(st, 4, (int64_t)s->ring_cap);
		r = sq_events_read(st, &evs, &n);
		if (r < 0)
			goto out;
	}
	pthread_mutex_lock(&s->hub_lock);
	if (compact > last || rev - last > (int64_t)s->ring_cap) {
		/* Rows may be missing (compacted before we saw them) or too
		 * many to hold: restart the ring; watchers behind it read the
		 * log table, which tells them when history is gone. */
		ring_clear(s);
		s->ring_base = rev - last > (int64_t)s->ring_cap ? rev : compact;
		s->ring_last = s->ring_base;
	}
	for (size_t i = 0; i < n; i++)
		if (evs[i].revision > s->ring_last)
			ring_push(s, &evs[i]);
	s->ring_last = rev;
	pthread_cond_broadcast(&s->hub_cond);
	pthread_mutex_unlock(&s->hub_lock);
out:
	store_events_free(evs, n);
	(void)sq_commit(&s->w);
	return r;
}

/* Operations. */

static int64_t sq_revision(struct store *store)
{
	struct sq_store *s = sq(store);
	struct sq_conn *c;
	int64_t rev = 0;
	int r;

	c = sq_reader(s);
	r = sq_meta(c, &rev, NULL);
	sq_reader_put(s, c);
	return r < 0 ? r : rev;
}

static int64_t sq_compacted_revision(struct store *store)
{
	struct sq_store *s = sq(store);
	struct sq_conn *c;
	int64_t compact = 0;
	int r;

	c = sq_reader(s);
	r = sq_meta(c, NULL, &compact);
	sq_reader_put(s, c);
	return r < 0 ? r : compact;
}

static int sq_get(struct store *store, const char *key, struct store_kv *out)
{
	struct sq_store *s = sq(store);
	struct sq_conn *c;
	int r;

	c = sq_reader(s);
	r = sq_kv_get(c, key, out);
	sq_reader_put(s, c);
	return r;
}

static int sq_list_at(struct store *store, const char *prefix, const char *start_after,
		      size_t limit, int64_t at, struct store_kv **items, size_t *n,
		      int64_t *revision, bool *more);

static int sq_list(struct store *store, const char *prefix, const char *start_after,
		   size_t limit, struct store_kv **items, size_t *n,
		   int64_t *revision, bool *more)
{
	return sq_list_at(store, prefix, start_after, limit, 0, items, n, revision, more);
}

static int sq_list_at_op(struct store *store, const char *prefix, const char *start_after,
			 size_t limit, int64_t at, struct store_kv **items, size_t *n, bool *more)
{
	return sq_list_at(store, prefix, start_after, limit, at, items, n, NULL, more);
}

static int sq_list_at(struct store *store, const char *prefix, const char *start_after,
		      size_t limit, int64_t at, struct store_kv **items, size_t *n,
		      int64_t *revision, bool *more)
{
	struct sq_store *s = sq(store);
	struct sq_conn *c;
	_cleanup_free_ char *end = NULL;
	struct store_kv *kvs = NULL;
	size_t cnt = 0, cap = 0;
	int64_t rev = 0, compact = 0;
	sqlite3_stmt *st;
	bool has_more = false;
	int r, rc;

	r = store_prefix_end(prefix, &end);
	if (r < 0)
		return r;
	c = sq_reader(s);
	r = sq_begin(c, false);
	if (r < 0)
		goto unlock;
	r = sq_meta(c, &rev, &compact);
	if (r < 0)
		goto out;
	if (at && at < compact) {
		r = -ERANGE;
		goto out;
	}
	if (at >= rev)
		at = 0; /* now: the kv table */
	if (at)
		st = sq_stmt(c, end ? ST_LIST_AT_RANGE : ST_LIST_AT_OPEN);
	else
		st = sq_stmt(c, end ? ST_LIST_RANGE : ST_LIST_OPEN);
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	if (end)
		sqlite3_bind_text(st, 2, end, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, start_after ? start_after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, limit ? (int64_t)limit + 1 : -1);
	if (at)
		sqlite3_bind_int64(st, 5, at);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (limit && cnt == limit) {
			has_more = true;
			break;
		}
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct store_kv *t = realloc(kvs, ncap * sizeof(*kvs));

			if (!t) {
				r = -ENOMEM;
				break;
			}
			kvs = t;
			cap = ncap;
		}
		r = sq_kv_from_row(st, 0, NULL, 1, 2, 3, &kvs[cnt]);
		if (r < 0)
			break;
		cnt++;
	}
	if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sq_err(rc);
	sqlite3_reset(st);
out:
	(void)sq_commit(c);
unlock:
	sq_reader_put(s, c);
	if (r < 0) {
		store_kvs_free(kvs, cnt);
		return r;
	}
	*items = kvs;
	*n = cnt;
	if (revision)
		*revision = at ? at : rev;
	if (more)
		*more = has_more;
	return 0;
}

static int sq_count(struct store *store, const char *prefix, size_t *n)
{
	struct sq_store *s = sq(store);
	struct sq_conn *c;
	_cleanup_free_ char *end = NULL;
	sqlite3_stmt *st;
	int r, rc;

	r = store_prefix_end(prefix, &end);
	if (r < 0)
		return r;
	c = sq_reader(s);
	st = sq_stmt(c, end ? ST_COUNT_RANGE : ST_COUNT_OPEN);
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	if (end)
		sqlite3_bind_text(st, 2, end, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = (size_t)sqlite3_column_int64(st, 0);
	else
		r = rc == SQLITE_DONE ? -EIO : sq_err(rc);
	sqlite3_reset(st);
	sq_reader_put(s, c);
	return r;
}

enum sq_write {
	SQ_CREATE,
	SQ_UPDATE,
	SQ_DELETE,
};

/* One write in one BEGIN IMMEDIATE transaction: read the live value,
 * check the precondition, append the log row, update kv and meta. */
static int sq_write(struct sq_store *s, enum sq_write op, const char *key,
		    const char *value, size_t len, int64_t expect,
		    struct store_kv *prev_out, int64_t *revision)
{
	struct store_kv cur = { 0 };
	sqlite3_stmt *st;
	int64_t rev;
	int r;

	pthread_mutex_lock(&s->db_lock);
	r = sq_begin(&s->w, true);
	if (r < 0)
		goto unlock;
	r = sq_meta(&s->w, &rev, NULL);
	if (r < 0)
		goto fail;
	rev++;
	r = sq_kv_get(&s->w, key, &cur);
	if (op == SQ_CREATE) {
		if (r == 0) {
			r = -EEXIST;
			goto fail;
		}
		if (r != -ENOENT)
			goto fail;
		r = sq_log_insert(&s->w, rev, key, value, len, rev, 0, false);
		if (r < 0)
			goto fail;
		st = sq_stmt(&s->w, ST_KV_INSERT);
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(st, 2, value, len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, rev);
		sqlite3_bind_int64(st, 4, rev);
	} else {
		if (r < 0)
			goto fail;
		if (expect && expect != cur.mod_revision) {
			r = -ESTALE;
			goto fail;
		}
		r = sq_log_insert(&s->w, rev, key, value, len, cur.create_revision,
				  cur.mod_revision, op == SQ_DELETE);
		if (r < 0)
			goto fail;
		if (op == SQ_UPDATE) {
			st = sq_stmt(&s->w, ST_KV_UPDATE);
			sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
			sqlite3_bind_blob64(st, 2, value, len, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, rev);
		} else {
			st = sq_stmt(&s->w, ST_KV_DELETE);
			sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		}
	}
	r = sq_step_done(st);
	if (r < 0)
		goto fail;
	r = sq_set_rev(&s->w, rev);
	if (r < 0)
		goto fail;
	r = sq_commit(&s->w);
	if (r < 0)
		goto unlock;
	/* Durable now; feeding the watchers cannot undo it. */
	(void)sq_ingest(s);
	pthread_mutex_unlock(&s->db_lock);
	if (revision)
		*revision = rev;
	if (prev_out)
		*prev_out = cur;
	else
		store_kv_clear(&cur);
	return 0;
fail:
	sq_rollback(&s->w);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	store_kv_clear(&cur);
	return r;
}

static int sq_create(struct store *s, const char *key, const char *value,
		     size_t len, int64_t *revision)
{
	return sq_write(sq(s), SQ_CREATE, key, value, len, 0, NULL, revision);
}

static int sq_update(struct store *s, const char *key, const char *value,
		     size_t len, int64_t expect, int64_t *revision)
{
	return sq_write(sq(s), SQ_UPDATE, key, value, len, expect, NULL, revision);
}

static int sq_delete(struct store *s, const char *key, int64_t expect,
		     struct store_kv *prev, int64_t *revision)
{
	return sq_write(sq(s), SQ_DELETE, key, NULL, 0, expect, prev, revision);
}

static int sq_compact(struct store *store, int64_t revision)
{
	struct sq_store *s = sq(store);
	sqlite3_stmt *st;
	int64_t rev, compact;
	int r;

	pthread_mutex_lock(&s->db_lock);
	r = sq_begin(&s->w, true);
	if (r < 0)
		goto unlock;
	r = sq_meta(&s->w, &rev, &compact);
	if (r < 0)
		goto fail;
	if (revision > rev) {
		r = -EINVAL; /* a future revision */
		goto fail;
	}
	if (revision < compact) {
		r = -ERANGE;
		goto fail;
	}
	if (revision == compact) {
		sq_rollback(&s->w);
		goto unlock;
	}
	st = sq_stmt(&s->w, ST_COMPACT);
	sqlite3_bind_int64(st, 1, revision);
	r = sq_step_done(st);
	if (r < 0)
		goto fail;
	st = sq_stmt(&s->w, ST_META_SET_COMPACT);
	sqlite3_bind_int64(st, 1, revision);
	r = sq_step_done(st);
	if (r < 0)
		goto fail;
	r = sq_commit(&s->w);
	goto unlock;
fail:
	sq_rollback(&s->w);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

/* Watch. */

static int sq_watch_open(struct store *store, const char *prefix,
			 int64_t after_revision, struct store_watch **out)
{
	struct sq_store *s = sq(store);
	struct sq_watch *w;
	int64_t rev, compact;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->base.store = store;
	w->s = s;
	w->cursor = after_revision;
	w->prefix = strdup(prefix);
	w->prefix_len = strlen(prefix);
	if (!w->prefix) {
		r = -ENOMEM;
		goto fail;
	}
	r = store_prefix_end(prefix, &w->prefix_end);
	if (r < 0)
		goto fail;

	pthread_mutex_lock(&s->db_lock);
	r = sq_meta(&s->w, &rev, &compact);
	if (r == 0 && after_revision < compact)
		r = -ERANGE;
	if (r == 0) {
		pthread_mutex_lock(&s->hub_lock);
		if (s->watchers++ == 0) {
			/* Nobody fed the ring while no one watched. */
			ring_clear(s);
			s->ring_base = s->ring_last = rev;
		}
		pthread_mutex_unlock(&s->hub_lock);
	}
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0)
		goto fail;
	*out = &w->base;
	return 0;
fail:
	free(w->prefix);
	free(w->prefix_end);
	free(w);
	return r;
}

static void sq_watch_close(struct store_watch *base)
{
	struct sq_watch *w = (struct sq_watch *)base;
	struct sq_store *s = w->s;

	pthread_mutex_lock(&s->hub_lock);
	if (--s->watchers == 0)
		ring_clear(s);
	pthread_mutex_unlock(&s->hub_lock);
	free(w->prefix);
	free(w->prefix_end);
	free(w);
}

/* Delivers from the log table: for a watcher behind the ring. */
static int sq_watch_catch_up(struct sq_watch *w, struct store_event **evs, size_t *n)
{
	struct sq_store *s = w->s;
	struct sq_conn *c;
	int64_t rev, compact;
	sqlite3_stmt *st;
	int r;

	*evs = NULL;
	*n = 0;
	c = sq_reader(s);
	r = sq_begin(c, false);
	if (r < 0)
		goto unlock;
	r = sq_meta(c, &rev, &compact);
	if (r < 0)
		goto out;
	if (w->cursor < compact) {
		r = -ERANGE;
		goto out;
	}
	st = sq_stmt(c, !w->prefix_len ? ST_EVENTS_ALL
				       : w->prefix_end ? ST_EVENTS_RANGE : ST_EVENTS_OPEN);
	sqlite3_bind_int64(st, 1, w->cursor);
	if (w->prefix_len)
		sqlite3_bind_text(st, 2, w->prefix, -1, SQLITE_STATIC);
	if (w->prefix_len && w->prefix_end)
		sqlite3_bind_text(st, 3, w->prefix_end, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, STORE_SQLITE_BATCH);
	r = sq_events_read(st, evs, n);
	if (r < 0)
		goto out;
	w->cursor = *n == STORE_SQLITE_BATCH ? (*evs)[*n - 1].revision : rev;
out:
	(void)sq_commit(c);
unlock:
	sq_reader_put(s, c);
	return r;
}

/* Delivers what the ring has for w; hub_lock held. 1 when w is behind
 * the ring (sq_watch_catch_up's turn). */
static int sq_watch_collect_locked(struct sq_watch *w, struct store_event **evs, size_t *n)
{
	struct sq_store *s = w->s;
	struct store_event *out = NULL;
	size_t cnt = 0, cap = 0, lo, hi;
	int64_t seen;
	int r = 0;

	*evs = NULL;
	*n = 0;
	if (w->cursor < s->ring_base)
		return 1;
	/* First event newer than the cursor. */
	lo = 0;
	hi = s->ring_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ring_at(s, mid)->revision <= w->cursor)
			lo = mid + 1;
		else
			hi = mid;
	}
	seen = s->ring_last;
	for (size_t i = lo; i < s->ring_len; i++) {
		struct store_event *ev = ring_at(s, i);

		if (!store_key_has_prefix(ev->kv.key, w->prefix, w->prefix_len))
			continue;
		if (cnt == STORE_SQLITE_BATCH) {
			seen = out[cnt - 1].revision;
			break;
		}
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_event *t = realloc(out, ncap * sizeof(*out));

			if (!t) {
				r = -ENOMEM;
				break;
			}
			out = t;
			cap = ncap;
		}
		r = store_event_copy(&out[cnt], ev);
		if (r < 0)
			break;
		cnt++;
	}
	if (r == 0 && seen > w->cursor)
		w->cursor = seen;
	if (r < 0) {
		store_events_free(out, cnt);
		return r;
	}
	*evs = out;
	*n = cnt;
	return 0;
}

/* Delivers what is available now, from the ring or the log table. */
static int sq_watch_collect(struct sq_watch *w, struct store_event **evs, size_t *n)
{
	struct sq_store *s = w->s;
	int r;

	pthread_mutex_lock(&s->hub_lock);
	r = sq_watch_collect_locked(w, evs, n);
	pthread_mutex_unlock(&s->hub_lock);
	if (r == 1)
		return sq_watch_catch_up(w, evs, n);
	return r;
}

static struct timespec ns_to_abs(unsigned long long ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ULL),
		.tv_nsec = (long)(ns % 1000000000ULL),
	};
	return ts;
}

static int sq_watch_next(struct store_watch *base, int timeout_ms,
			 struct store_event **events, size_t *n)
{
	struct sq_watch *w = (struct sq_watch *)base;
	struct sq_store *s = w->s;
	const unsigned long long poll_ns = STORE_SQLITE_POLL_MS * 1000000ULL;
	unsigned long long deadline = timeout_ms < 0 ? ULLONG_MAX
				      : now_ns() + (unsigned long long)timeout_ms * 1000000ULL;
	struct store_event *evs;
	size_t cnt;
	int r;

	for (;;) {
		bool waited_out = false;

		r = sq_watch_collect(w, &evs, &cnt);
		if (r < 0)
			return r;
		if (cnt > 0) {
			*events = evs;
			*n = cnt;
			return (int)cnt;
		}
		free(evs);

		pthread_mutex_lock(&s->hub_lock);
		while (s->ring_last <= w->cursor) {
			unsigned long long now = now_ns(), wake;
			struct timespec ts;

			/* A poll that is due happens even with timeout 0, so a
			 * caller that never waits still sees other processes. */
			if (!s->polling && now - s->last_poll_ns >= poll_ns) {
				/* Our turn to look for other processes' writes. */
				s->polling = true;
				pthread_mutex_unlock(&s->hub_lock);
				pthread_mutex_lock(&s->db_lock);
				r = sq_ingest(s);
				pthread_mutex_unlock(&s->db_lock);
				pthread_mutex_lock(&s->hub_lock);
				s->polling = false;
				s->last_poll_ns = now_ns();
				if (r < 0)
					break;
				continue;
			}
			if (now >= deadline) {
				waited_out = true;
				break;
			}
			wake = s->last_poll_ns + poll_ns;
			if (wake > deadline)
				wake = deadline;
			if (wake <= now)
				wake = now + poll_ns;
			ts = ns_to_abs(wake);
			pthread_cond_timedwait(&s->hub_cond, &s->hub_lock, &ts);
		}
		if (r == 0 && !waited_out) {
			/* Woken by news: take it with the lock still held
			 * (1,000 watchers wake at once and queue for it). */
			r = sq_watch_collect_locked(w, &evs, &cnt);
			pthread_mutex_unlock(&s->hub_lock);
			if (r < 0)
				return r;
			if (r == 0 && cnt > 0) {
				*events = evs;
				*n = cnt;
				return (int)cnt;
			}
			free(evs);
			r = 0;
			continue;
		}
		pthread_mutex_unlock(&s->hub_lock);
		if (r < 0)
			return r;
		if (waited_out) {
			*events = NULL;
			*n = 0;
			return 0;
		}
	}
}

/* Snapshots: SQLite's online backup, page by page, of a consistent state. */

static int sq_backup(sqlite3 *dst, sqlite3 *src)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc;

	if (!b)
		return sq_err(sqlite3_errcode(dst));
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		return sq_err(rc);
	return sq_err(sqlite3_errcode(dst));
}

static int sq_fsync_path(const char *path, bool dir)
{
	_cleanup_close_ int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

static int sq_publish(const char *tmp, const char *path);

static int sq_snapshot_save(struct store *store, const char *path)
{
	struct sq_store *s = sq(store);
	_cleanup_free_ char *tmp = NULL;
	sqlite3 *dst = NULL;
	int r, rc;

	if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	unlink(tmp);
	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_close_v2(dst);
		return sq_err(rc);
	}
	pthread_mutex_lock(&s->db_lock);
	r = sq_backup(dst, s->w.db);
	pthread_mutex_unlock(&s->db_lock);
	if (r == 0) {
		/* A snapshot is one self-contained file. */
		rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
		r = sq_err(rc);
	}
	sqlite3_close_v2(dst);
	if (r == 0)
		r = sq_publish(tmp, path);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Checks that db is a skiff store; -EINVAL otherwise. */
static int sq_check_ours(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int app = -1, rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(rc);
	if (sqlite3_step(st) == SQLITE_ROW)
		app = sqlite3_column_int(st, 0);
	rc = sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return sq_err(rc);
	return app == STORE_SQLITE_APP_ID ? 0 : -EINVAL;
}

static int sq_snapshot_restore(struct store *store, const char *path)
{
	struct sq_store *s = sq(store);
	sqlite3 *src = NULL;
	int64_t rev = 0, compact = 0;
	int r, rc;

	if (access(path, R_OK) < 0)
		return -errno;
	rc = sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		r = sq_err(rc);
		goto out;
	}
	r = sq_check_ours(src);
	if (r < 0)
		goto out;
	pthread_mutex_lock(&s->db_lock);
	r = sq_meta(&s->w, &rev, NULL);
	if (r == 0 && rev != 0)
		r = -ENOTEMPTY;
	if (r == 0)
		r = sq_backup(s->w.db, src);
	if (r == 0)
		r = sq_meta(&s->w, &rev, &compact);
	if (r == 0) {
		pthread_mutex_lock(&s->hub_lock);
		ring_clear(s);
		s->ring_base = s->ring_last = rev;
		pthread_mutex_unlock(&s->hub_lock);
	}
	pthread_mutex_unlock(&s->db_lock);
out:
	sqlite3_close_v2(src);
	return r;
}

/* Open and close. */

static void sq_conn_close(struct sq_conn *c)
{
	for (int i = 0; i < ST_MAX; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close_v2(c->db);
	memset(c, 0, sizeof(*c));
}

static void sq_close(struct store *store)
{
	struct sq_store *s = sq(store);

	for (int i = 0; i < STORE_SQLITE_READERS; i++)
		sq_conn_close(&s->rd[i]);
	sq_conn_close(&s->w);
	ring_clear(s);
	free(s->ring);
	pthread_cond_destroy(&s->rd_cond);
	pthread_mutex_destroy(&s->rd_lock);
	pthread_cond_destroy(&s->hub_cond);
	pthread_mutex_destroy(&s->hub_lock);
	pthread_mutex_destroy(&s->db_lock);
	free(s);
}

/* A reader connection from the pool, waiting while all are in use. */
static struct sq_conn *sq_reader(struct sq_store *s)
{
	struct sq_conn *c = NULL;

	pthread_mutex_lock(&s->rd_lock);
	while (!c) {
		for (int i = 0; i < STORE_SQLITE_READERS && !c; i++) {
			if (!s->rd_busy[i]) {
				s->rd_busy[i] = true;
				c = &s->rd[i];
			}
		}
		if (!c)
			pthread_cond_wait(&s->rd_cond, &s->rd_lock);
	}
	pthread_mutex_unlock(&s->rd_lock);
	return c;
}

static void sq_reader_put(struct sq_store *s, struct sq_conn *c)
{
	pthread_mutex_lock(&s->rd_lock);
	s->rd_busy[c - s->rd] = false;
	pthread_cond_signal(&s->rd_cond);
	pthread_mutex_unlock(&s->rd_lock);
}

static const struct store_ops sq_ops;

static int sq_pragma_int(sqlite3 *db, const char *sql, int *val)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sq_err(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*val = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : sq_err(rc);
}

/* Creates the schema in a new file, or checks an existing one. */
static int sq_init_schema(sqlite3 *db)
{
	char sql[128];
	int app = 0, ver = 0, r, rc;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_err(rc);
	r = sq_pragma_int(db, "PRAGMA application_id", &app);
	if (r == 0)
		r = sq_pragma_int(db, "PRAGMA user_version", &ver);
	if (r < 0)
		goto fail;
	if (app == 0) {
		sqlite3_stmt *st = NULL;
		bool empty;

		/* Only a file without tables becomes a store. */
		rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema", -1, &st, NULL);
		if (rc != SQLITE_OK) {
			r = sq_err(rc);
			goto fail;
		}
		empty = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_finalize(st);
		if (!empty) {
			r = -EINVAL;
			goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d;",
			 STORE_SQLITE_APP_ID, STORE_SQLITE_SCHEMA_VERSION);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, sq_schema, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			r = sq_err(rc);
			goto fail;
		}
	} else if (app != STORE_SQLITE_APP_ID || ver != STORE_SQLITE_SCHEMA_VERSION) {
		r = -EINVAL; /* another program's database, or a newer layout */
		goto fail;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return sq_err(rc);
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Opens a connection to path; the writer also sets the file up. */
static int sq_conn_open(struct sq_conn *c, const char *path, bool writer)
{
	int r, rc;

	rc = sqlite3_open_v2(path, &c->db,
			     SQLITE_OPEN_READWRITE | (writer ? SQLITE_OPEN_CREATE : 0) |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK)
		return c->db ? sq_err(sqlite3_extended_errcode(c->db)) : -ENOMEM;
	sqlite3_busy_timeout(c->db, STORE_SQLITE_BUSY_MS);
	/* WAL, and fsync on every commit: durable when a write returns. */
	rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
			  NULL);
	if (rc != SQLITE_OK)
		return sq_err(rc);
	if (writer) {
		r = sq_init_schema(c->db);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < ST_MAX; i++) {
		rc = sqlite3_prepare_v3(c->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
					NULL);
		if (rc != SQLITE_OK)
			return sq_err(rc);
	}
	return 0;
}

int store_sqlite_open(const char *path, struct store **out)
{
	struct sq_store *s;
	pthread_condattr_t ca;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &sq_ops;
	s->ring_cap = STORE_SQLITE_RING;
	s->ring = calloc(s->ring_cap, sizeof(*s->ring));
	pthread_mutex_init(&s->db_lock, NULL);
	pthread_mutex_init(&s->rd_lock, NULL);
	pthread_cond_init(&s->rd_cond, NULL);
	pthread_mutex_init(&s->hub_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->hub_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!s->ring) {
		r = -ENOMEM;
		goto fail;
	}
	r = sq_conn_open(&s->w, path, true);
	for (int i = 0; r == 0 && i < STORE_SQLITE_READERS; i++)
		r = sq_conn_open(&s->rd[i], path, false);
	if (r < 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	sq_close(&s->base);
	return r;
}

static int sq_set_ring_size(struct store *store, size_t events)
{
	struct sq_store *s = sq(store);
	struct store_event *ring;
	int r = 0;

	ring = calloc(events, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	pthread_mutex_lock(&s->hub_lock);
	if (s->watchers) {
		r = -EBUSY;
	} else {
		ring_clear(s);
		free(s->ring);
		s->ring = TAKE_PTR(ring);
		s->ring_cap = events;
	}
	pthread_mutex_unlock(&s->hub_lock);
	free(ring);
	return r;
}

/* Creates the file next to path, then renames it into place. */
static int sq_publish(const char *tmp, const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;
	int r;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	r = sq_fsync_path(tmp, false);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		r = sq_fsync_path(dir, true);
	return r;
}

int store_sqlite_snapshot_write(const char *path, const struct store_kv *kvs, size_t n,
				int64_t revision)
{
	_cleanup_free_ char *tmp = NULL;
	struct store *store = NULL;
	struct sq_store *s;
	sqlite3_stmt *st;
	int r;

	if (asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	unlink(tmp);
	r = store_sqlite_open(tmp, &store);
	if (r < 0)
		return r;
	s = sq(store);
	r = sq_begin(&s->w, true);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct store_kv *kv = &kvs[i];

		/* Keys written by one etcd Txn share a revision; the log keeps
		 * one row per revision, so only the first gets history. */
		if (kv->mod_revision > revision || kv->mod_revision <= 0) {
			r = -EINVAL;
			break;
		}
		r = sq_log_insert(&s->w, kv->mod_revision, kv->key, kv->value, kv->value_len,
				  kv->create_revision, 0, false);
		if (r == -EEXIST)
			r = 0;
		if (r < 0)
			break;
		st = sq_stmt(&s->w, ST_KV_INSERT);
		sqlite3_bind_text(st, 1, kv->key, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(st, 2, kv->value, kv->value_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, kv->create_revision);
		sqlite3_bind_int64(st, 4, kv->mod_revision);
		r = sq_step_done(st);
	}
	if (r == 0)
		r = sq_set_rev(&s->w, revision);
	if (r == 0) {
		st = sq_stmt(&s->w, ST_META_SET_COMPACT);
		sqlite3_bind_int64(st, 1, revision);
		r = sq_step_done(st);
	}
	if (r == 0)
		r = sq_commit(&s->w);
	else
		sq_rollback(&s->w);
	store_close(store);
	if (r == 0) {
		/* One self-contained file: out of WAL, with every reader of
		 * the store closed. */
		sqlite3 *db = NULL;
		int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL);

		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
		r = sq_err(rc);
		sqlite3_close_v2(db);
	}
	if (r == 0)
		r = sq_publish(tmp, path);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return 0;
}

int store_sqlite_snapshot_read(const char *path, struct store_kv **kvs, size_t *n,
			       int64_t *revision)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct store_kv *out = NULL;
	size_t cnt = 0, cap = 0;
	int r, rc;

	if (access(path, R_OK) < 0)
		return -errno;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	r = sq_err(rc);
	if (r == 0)
		r = sq_check_ours(db);
	if (r == 0)
		r = sq_err(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL));
	if (r == 0) {
		rc = sqlite3_prepare_v2(db, "SELECT rev FROM meta WHERE id = 0", -1, &st, NULL);
		if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			*revision = sqlite3_column_int64(st, 0);
		else
			r = rc == SQLITE_OK ? -EINVAL : sq_err(rc);
		sqlite3_finalize(st);
		st = NULL;
	}
	if (r == 0) {
		rc = sqlite3_prepare_v2(db, "SELECT key, value, create_rev, mod_rev FROM kv ORDER BY key",
					-1, &st, NULL);
		r = sq_err(rc);
	}
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct store_kv *t = realloc(out, ncap * sizeof(*out));

			if (!t) {
				r = -ENOMEM;
				break;
			}
			out = t;
			cap = ncap;
		}
		r = sq_kv_from_row(st, 0, NULL, 1, 2, 3, &out[cnt]);
		if (r == 0)
			cnt++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_err(rc);
	sqlite3_finalize(st);
	sqlite3_close_v2(db);
	if (r < 0) {
		store_kvs_free(out, cnt);
		return r;
	}
	*kvs = out;
	*n = cnt;
	return 0;
}

static const struct store_ops sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.revision = sq_revision,
	.get = sq_get,
	.list = sq_list,
	.list_at = sq_list_at_op,
	.count = sq_count,
	.create = sq_create,
	.update = sq_update,
	.del = sq_delete,
	.watch_open = sq_watch_open,
	.watch_next = sq_watch_next,
	.watch_close = sq_watch_close,
	.compact = sq_compact,
	.compacted_revision = sq_compacted_revision,
	.snapshot_save = sq_snapshot_save,
	.snapshot_restore = sq_snapshot_restore,
	.set_ring_size = sq_set_ring_size,
};
