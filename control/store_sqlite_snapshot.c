/* The SQLite store's snapshots: SQLite's online backup, page by page, of
 * a consistent state; restore into an empty store; and the logical
 * snapshot file (live keys at one revision) that the etcd backend saves
 * and restores, so a snapshot moves between backends. */
#include "control/store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

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

int sq_snapshot_save(struct store *store, const char *path)
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

/* The store at revision rev with its history compacted up to it, in the
 * transaction open on w. */
static int set_rev_compacted(struct sq_conn *w, int64_t rev)
{
	sqlite3_stmt *st;
	int r = sq_set_rev(w, rev);

	if (r == 0) {
		st = sq_stmt(w, ST_META_SET_COMPACT);
		sqlite3_bind_int64(st, 1, rev);
		r = sq_step_done(st);
	}
	return r;
}

/* The restored store moved to revision rev (see store_snapshot_restore). */
static int restore_bump(struct sq_store *s, int64_t rev)
{
	int r = sq_begin(&s->w, true);

	if (r == 0)
		r = set_rev_compacted(&s->w, rev);
	if (r == 0)
		r = sq_commit(&s->w);
	else
		sq_rollback(&s->w);
	return r;
}

int sq_snapshot_restore(struct store *store, const char *path)
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
		r = sq_meta(&s->w, &rev, NULL);
	if (r == 0)
		r = restore_bump(s, rev + STORE_RESTORE_BUMP);
	if (r == 0)
		r = sq_meta(&s->w, &rev, &compact);
	if (r == 0) {
		pthread_mutex_lock(&s->ring.lock);
		store_ring_reset_locked(&s->ring, rev);
		store_ring_compacted_locked(&s->ring, compact);
		pthread_mutex_unlock(&s->ring.lock);
	}
	pthread_mutex_unlock(&s->db_lock);
out:
	sqlite3_close_v2(src);
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
		r = set_rev_compacted(&s->w, revision);
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

