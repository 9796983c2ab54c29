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
 * the file. Writes of several threads that arrive while a commit is under
 * way are committed together (group commit, store_sqlite_rw.c): one
 * transaction and one fsync for the group, each write still checked on its
 * own and answered only once the group is durable. Reads (get, list, count, watch history) use a small pool of
 * reader connections, each in a read transaction of its own: one
 * consistent view, never waiting for a writer's fsync.
 *
 * Watch: one shared fan-out per open store, the watch window of
 * control/store_ring.h, fed by whoever learns of new rows: the writer of
 * this process right after its commit, or, for rows written by other
 * processes, one waiting watcher that polls the log table every
 * STORE_SQLITE_POLL_MS. A watcher behind the window (or new, asking for
 * old history) reads the log table until it catches up
 * (store_sqlite_watch.c).
 *
 * The code: see store_sqlite.h for which file holds what. */
#include "control/store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	/* One write of a group commit, undone alone when it fails half-way. */
	[ST_SAVEPOINT] = "SAVEPOINT w",
	[ST_SAVEPOINT_RELEASE] = "RELEASE w",
	[ST_SAVEPOINT_ROLLBACK] = "ROLLBACK TO w",
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
	/* A rowid table with an index on key: objects of a few KiB overflow
	 * the cells of an index b-tree (a WITHOUT ROWID table, which files
	 * made before keep: the statements are the same for both), where a
	 * lookup then read whole rows, overflow pages too, to compare keys. */
	"CREATE TABLE IF NOT EXISTS kv ("
	" key TEXT PRIMARY KEY,"
	" value BLOB NOT NULL,"
	" create_rev INTEGER NOT NULL,"
	" mod_rev INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta ("
	" id INTEGER PRIMARY KEY CHECK (id = 0),"
	" rev INTEGER NOT NULL,"
	" compact_rev INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta (id, rev, compact_rev) VALUES (0, 0, 0);";

int sq_err(int rc)
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

sqlite3_stmt *sq_stmt(struct sq_conn *s, enum sq_stmt id)
{
	sqlite3_stmt *st = s->st[id];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

int sq_exec(struct sq_conn *s, enum sq_stmt id)
{
	sqlite3_stmt *st = s->st[id];
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

int sq_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq_err(rc);
}

void sq_rollback(struct sq_conn *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)sq_exec(s, ST_ROLLBACK);
}

int sq_begin(struct sq_conn *s, bool write)
{
	return sq_exec(s, write ? ST_BEGIN_IMMEDIATE : ST_BEGIN);
}

int sq_commit(struct sq_conn *s)
{
	int r = sq_exec(s, ST_COMMIT);

	if (r < 0)
		sq_rollback(s);
	return r;
}

int sq_meta(struct sq_conn *s, int64_t *rev, int64_t *compact)
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

int sq_kv_from_row(sqlite3_stmt *st, int key_col, const char *key,
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

int sq_kv_get(struct sq_conn *s, const char *key, struct store_kv *out)
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

int sq_log_insert(struct sq_conn *s, int64_t rev, const char *key,
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

int sq_set_rev(struct sq_conn *s, int64_t rev)
{
	sqlite3_stmt *st = sq_stmt(s, ST_META_SET_REV);

	sqlite3_bind_int64(st, 1, rev);
	return sq_step_done(st);
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
	store_ring_destroy(&s->ring);
	pthread_cond_destroy(&s->rd_cond);
	pthread_mutex_destroy(&s->rd_lock);
	pthread_mutex_destroy(&s->q_lock);
	pthread_mutex_destroy(&s->db_lock);
	free(s);
}

struct sq_conn *sq_reader(struct sq_store *s)
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

void sq_reader_put(struct sq_store *s, struct sq_conn *c)
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
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &sq_ops;
	pthread_mutex_init(&s->db_lock, NULL);
	pthread_mutex_init(&s->q_lock, NULL);
	s->q_tail = &s->q_head;
	pthread_mutex_init(&s->rd_lock, NULL);
	pthread_cond_init(&s->rd_cond, NULL);
	r = store_ring_init(&s->ring);
	if (r == 0)
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
