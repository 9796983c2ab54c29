/* The SQLite store's reads (get, list, count: on a reader connection, in
 * a read transaction of their own) and writes (on the writer connection:
 * create, update and delete in group commits, compact in a BEGIN IMMEDIATE
 * transaction of its own). */
#include "control/store_sqlite.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/util.h"

int sq_get(struct store *store, const char *key, struct store_kv *out)
{
	struct sq_store *s = sq(store);
	struct sq_conn *c;
	int r;

	c = sq_reader(s);
	r = sq_kv_get(c, key, out);
	sq_reader_put(s, c);
	return r;
}

int sq_read_begin(struct sq_store *s, int64_t from, struct sq_conn **out, int64_t *rev)
{
	struct sq_conn *c = sq_reader(s);
	int64_t compact = 0;
	int r;

	r = sq_begin(c, false);
	if (r < 0) {
		sq_reader_put(s, c);
		return r;
	}
	r = sq_meta(c, rev, &compact);
	if (r == 0 && from >= 0 && from < compact)
		r = -ERANGE;
	if (r < 0) {
		sq_read_end(s, c);
		return r;
	}
	*out = c;
	return 0;
}

void sq_read_end(struct sq_store *s, struct sq_conn *c)
{
	(void)sq_commit(c);
	sq_reader_put(s, c);
}

static int sq_list_at(struct store *store, const char *prefix, const char *start_after,
		      size_t limit, int64_t at, struct store_kv **items, size_t *n,
		      int64_t *revision, bool *more);

int sq_list(struct store *store, const char *prefix, const char *start_after,
		   size_t limit, struct store_kv **items, size_t *n,
		   int64_t *revision, bool *more)
{
	return sq_list_at(store, prefix, start_after, limit, 0, items, n, revision, more);
}

int sq_list_at_op(struct store *store, const char *prefix, const char *start_after,
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
	int64_t rev = 0;
	sqlite3_stmt *st;
	bool has_more = false;
	int r, rc;

	r = store_prefix_end(prefix, &end);
	if (r < 0)
		return r;
	r = sq_read_begin(s, at ? at : -1, &c, &rev);
	if (r < 0)
		return r;
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
	sq_read_end(s, c);
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

int sq_count(struct store *store, const char *prefix, size_t *n)
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

struct sq_wreq {
	enum sq_write op;
	const char *key, *value;
	size_t len;
	int64_t expect;
	struct store_kv cur; /* the value replaced (or deleted) */
	int64_t rev;
	int r; /* 0 or a negative errno once tried */
	bool done;
	pthread_cond_t cond;
	struct sq_wreq *next;
};

/* The statements of one write inside the group's transaction, at revision
 * rev: read the live value, check the precondition, append the log row,
 * update kv. Fails before changing anything when the check fails. */
static int sq_apply(struct sq_conn *w, struct sq_wreq *q, int64_t rev)
{
	sqlite3_stmt *st;
	int r = sq_kv_get(w, q->key, &q->cur);

	if (q->op == SQ_CREATE) {
		if (r == 0)
			return -EEXIST;
		if (r != -ENOENT)
			return r;
		r = sq_log_insert(w, rev, q->key, q->value, q->len, rev, 0, false);
		if (r < 0)
			return r;
		st = sq_stmt(w, ST_KV_INSERT);
		sqlite3_bind_text(st, 1, q->key, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(st, 2, q->value, q->len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, rev);
		sqlite3_bind_int64(st, 4, rev);
		return sq_step_done(st);
	}
	if (r < 0)
		return r;
	if (q->expect && q->expect != q->cur.mod_revision)
		return -ESTALE;
	r = sq_log_insert(w, rev, q->key, q->value, q->len, q->cur.create_revision,
			  q->cur.mod_revision, q->op == SQ_DELETE);
	if (r < 0)
		return r;
	if (q->op == SQ_UPDATE) {
		st = sq_stmt(w, ST_KV_UPDATE);
		sqlite3_bind_text(st, 1, q->key, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(st, 2, q->value, q->len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, rev);
	} else {
		st = sq_stmt(w, ST_KV_DELETE);
		sqlite3_bind_text(st, 1, q->key, -1, SQLITE_STATIC);
	}
	return sq_step_done(st);
}

/* One write of the group inside a savepoint of its own, so that a write
 * failing half-way leaves the others. */
static int sq_apply_alone(struct sq_conn *w, struct sq_wreq *q, int64_t rev)
{
	int r = sq_exec(w, ST_SAVEPOINT);

	if (r == 0)
		r = sq_apply(w, q, rev);
	if (r < 0) {
		(void)sq_exec(w, ST_SAVEPOINT_ROLLBACK);
		(void)sq_exec(w, ST_SAVEPOINT_RELEASE);
		store_kv_clear(&q->cur);
		return r;
	}
	return sq_exec(w, ST_SAVEPOINT_RELEASE);
}

/* Commits the writes of the list in one BEGIN IMMEDIATE transaction, in
 * list order: each gets the next revision or its own error (a failed one
 * uses no revision); a failed BEGIN or COMMIT fails all of them. */
static void sq_group_commit(struct sq_store *s, struct sq_wreq *group)
{
	struct sq_wreq *q;
	int64_t rev = 0;
	bool wrote = false;
	int r;

	pthread_mutex_lock(&s->db_lock);
	r = sq_begin(&s->w, true);
	if (r == 0)
		r = sq_meta(&s->w, &rev, NULL);
	for (q = group; r == 0 && q; q = q->next) {
		q->r = sq_apply_alone(&s->w, q, rev + 1);
		if (q->r == 0) {
			q->rev = ++rev;
			wrote = true;
		}
	}
	if (r == 0 && wrote)
		r = sq_set_rev(&s->w, rev);
	if (r == 0 && wrote)
		r = sq_commit(&s->w);
	else
		sq_rollback(&s->w);
	/* Durable now; feeding the watchers cannot undo it. */
	if (r == 0 && wrote)
		(void)sq_ingest(s);
	pthread_mutex_unlock(&s->db_lock);
	for (q = group; r < 0 && q; q = q->next) {
		if (q->r == 0)
			store_kv_clear(&q->cur);
		if (q->r >= 0) /* done, or never tried */
			q->r = r;
	}
}

/* Queues the write; the first queued writer that finds no leader commits
 * the whole queue (its own write and those behind it) and wakes them, then
 * the next queued writer leads the next group. */
static int sq_write(struct sq_store *s, enum sq_write op, const char *key,
		    const char *value, size_t len, int64_t expect,
		    struct store_kv *prev_out, int64_t *revision)
{
	struct sq_wreq req = { .op = op, .key = key, .value = value, .len = len,
			       .expect = expect, .r = 1 /* not tried yet */ };

	pthread_cond_init(&req.cond, NULL);
	pthread_mutex_lock(&s->q_lock);
	*s->q_tail = &req;
	s->q_tail = &req.next;
	while (!req.done) {
		struct sq_wreq *group = s->q_head, *q;

		if (s->q_leader) {
			pthread_cond_wait(&req.cond, &s->q_lock);
			continue;
		}
		s->q_leader = true;
		s->q_head = NULL;
		s->q_tail = &s->q_head;
		pthread_mutex_unlock(&s->q_lock);
		sq_group_commit(s, group);
		pthread_mutex_lock(&s->q_lock);
		s->q_leader = false;
		while ((q = group)) {
			group = q->next; /* q belongs to its writer once done */
			q->done = true;
			pthread_cond_signal(&q->cond);
		}
		if (s->q_head)
			pthread_cond_signal(&s->q_head->cond);
	}
	pthread_mutex_unlock(&s->q_lock);
	pthread_cond_destroy(&req.cond);
	if (req.r < 0)
		return req.r;
	if (revision)
		*revision = req.rev;
	if (prev_out)
		*prev_out = req.cur;
	else
		store_kv_clear(&req.cur);
	return 0;
}

int sq_create(struct store *s, const char *key, const char *value,
		     size_t len, int64_t *revision)
{
	return sq_write(sq(s), SQ_CREATE, key, value, len, 0, NULL, revision);
}

int sq_update(struct store *s, const char *key, const char *value,
		     size_t len, int64_t expect, int64_t *revision)
{
	return sq_write(sq(s), SQ_UPDATE, key, value, len, expect, NULL, revision);
}

int sq_delete(struct store *s, const char *key, int64_t expect,
		     struct store_kv *prev, int64_t *revision)
{
	return sq_write(sq(s), SQ_DELETE, key, NULL, 0, expect, prev, revision);
}

int sq_compact(struct store *store, int64_t revision)
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
	if (r == 0) {
		pthread_mutex_lock(&s->ring.lock);
		store_ring_compacted_locked(&s->ring, revision);
		pthread_mutex_unlock(&s->ring.lock);
	}
	goto unlock;
fail:
	sq_rollback(&s->w);
unlock:
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

