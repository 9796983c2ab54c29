/* The SQLite store's watches. Events reach the watch window
 * (control/store_ring.h) from sq_ingest: the writer of this process calls
 * it right after its commit, and a waiting watcher calls it every
 * STORE_SQLITE_POLL_MS for rows other processes wrote. A watcher behind
 * the window, or new and asking for older history, reads the log table
 * (sq_watch_catch_up) until it is back in the window; the log table says
 * when that history is compacted (-ERANGE). */
#include "control/store_sqlite.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct sq_watch {
	struct store_watch base;
	struct sq_store *s;
	struct store_ring_cursor at;
	char *prefix_end;
};

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
		r = store_events_grow(evs, *n, &cap);
		if (r == 0)
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


int sq_ingest(struct sq_store *s)
{
	struct store_event *evs = NULL;
	int64_t last, rev, compact, cap;
	size_t n = 0;
	bool active;
	int r;

	pthread_mutex_lock(&s->ring.lock);
	active = s->ring.watchers > 0;
	last = s->ring.last;
	cap = (int64_t)s->ring.cap;
	pthread_mutex_unlock(&s->ring.lock);
	if (!active)
		return 0;

	r = sq_begin(&s->w, false);
	if (r < 0)
		return r;
	r = sq_meta(&s->w, &rev, &compact);
	if (r < 0 || rev <= last)
		goto out;
	if (rev - last <= cap) {
		sqlite3_stmt *st = sq_stmt(&s->w, ST_EVENTS_ALL);

		sqlite3_bind_int64(st, 1, last);
		sqlite3_bind_int64(st, 4, cap);
		r = sq_events_read(st, &evs, &n);
		if (r < 0)
			goto out;
	}
	pthread_mutex_lock(&s->ring.lock);
	store_ring_compacted_locked(&s->ring, compact);
	if (compact > last || rev - last > cap)
		/* Rows may be missing (compacted before we saw them) or too
		 * many to hold: restart the window; watchers behind it read
		 * the log table, which tells them when history is gone. */
		store_ring_reset_locked(&s->ring, rev - last > cap ? rev : compact);
	for (size_t i = 0; i < n; i++)
		if (evs[i].revision > s->ring.last)
			store_ring_push_locked(&s->ring, &evs[i]);
	store_ring_publish_locked(&s->ring, rev);
	pthread_mutex_unlock(&s->ring.lock);
out:
	store_events_free(evs, n);
	(void)sq_commit(&s->w);
	return r;
}

/* Watch. */

int sq_watch_open(struct store *store, const char *prefix, int64_t after_revision,
		  struct store_watch **out)
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
	r = store_ring_cursor_init(&w->at, prefix, after_revision);
	if (r == 0)
		r = store_prefix_end(prefix, &w->prefix_end);
	if (r < 0)
		goto fail;

	pthread_mutex_lock(&s->db_lock);
	r = sq_meta(&s->w, &rev, &compact);
	if (r == 0 && after_revision < compact)
		r = -ERANGE;
	if (r == 0) {
		pthread_mutex_lock(&s->ring.lock);
		/* Nobody fed the window while no one watched. */
		if (s->ring.watchers++ == 0)
			store_ring_reset_locked(&s->ring, rev);
		store_ring_compacted_locked(&s->ring, compact);
		pthread_mutex_unlock(&s->ring.lock);
	}
	pthread_mutex_unlock(&s->db_lock);
	if (r < 0)
		goto fail;
	*out = &w->base;
	return 0;
fail:
	store_ring_cursor_clear(&w->at);
	free(w->prefix_end);
	free(w);
	return r;
}

void sq_watch_close(struct store_watch *base)
{
	struct sq_watch *w = (struct sq_watch *)base;
	struct sq_store *s = w->s;

	pthread_mutex_lock(&s->ring.lock);
	if (--s->ring.watchers == 0)
		store_ring_reset_locked(&s->ring, s->ring.last);
	pthread_mutex_unlock(&s->ring.lock);
	store_ring_cursor_clear(&w->at);
	free(w->prefix_end);
	free(w);
}

/* Delivers from the log table: for a watcher behind the window. */
static int sq_watch_catch_up(struct sq_watch *w, struct store_event **evs, size_t *n)
{
	struct sq_store *s = w->s;
	struct sq_conn *c;
	int64_t rev;
	sqlite3_stmt *st;
	int r;

	*evs = NULL;
	*n = 0;
	r = sq_read_begin(s, w->at.revision, &c, &rev);
	if (r < 0)
		return r;
	st = sq_stmt(c, !w->at.prefix_len ? ST_EVENTS_ALL
				       : w->prefix_end ? ST_EVENTS_RANGE : ST_EVENTS_OPEN);
	sqlite3_bind_int64(st, 1, w->at.revision);
	if (w->at.prefix_len)
		sqlite3_bind_text(st, 2, w->at.prefix, -1, SQLITE_STATIC);
	if (w->at.prefix_len && w->prefix_end)
		sqlite3_bind_text(st, 3, w->prefix_end, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, STORE_SQLITE_BATCH);
	r = sq_events_read(st, evs, n);
	if (r == 0)
		w->at.revision = *n == STORE_SQLITE_BATCH ? (*evs)[*n - 1].revision : rev;
	sq_read_end(s, c);
	return r;
}

/* What the window holds for w; ring.lock held. STORE_RING_BEHIND when it
 * is sq_watch_catch_up's turn. */
static int sq_watch_take_locked(struct sq_watch *w, struct store_event **evs, size_t *n)
{
	return store_ring_collect_locked(&w->s->ring, &w->at, evs, n);
}

/* Delivers what is available now, from the window or the log table. */
static int sq_watch_collect(struct sq_watch *w, struct store_event **evs, size_t *n)
{
	struct sq_store *s = w->s;
	int r;

	pthread_mutex_lock(&s->ring.lock);
	r = sq_watch_take_locked(w, evs, n);
	pthread_mutex_unlock(&s->ring.lock);
	if (r == STORE_RING_BEHIND)
		return sq_watch_catch_up(w, evs, n);
	return r;
}

/* Waits, ring.lock held, until the window has news for w (0), deadline
 * passes (-ETIMEDOUT) or a poll fails. Waiting watchers take turns to poll
 * the file for other processes' writes. */
static int sq_watch_wait_locked(struct sq_watch *w, unsigned long long deadline)
{
	struct sq_store *s = w->s;
	const unsigned long long poll_ns = STORE_SQLITE_POLL_MS * 1000000ULL;

	while (s->ring.last <= w->at.revision) {
		unsigned long long now = now_ns(), wake;
		int r;

		/* A poll that is due happens even with timeout 0, so a caller
		 * that never waits still sees other processes. */
		if (!s->polling && now - s->last_poll_ns >= poll_ns) {
			s->polling = true;
			pthread_mutex_unlock(&s->ring.lock);
			pthread_mutex_lock(&s->db_lock);
			r = sq_ingest(s);
			pthread_mutex_unlock(&s->db_lock);
			pthread_mutex_lock(&s->ring.lock);
			s->polling = false;
			s->last_poll_ns = now_ns();
			if (r < 0)
				return r;
			continue;
		}
		if (now >= deadline)
			return -ETIMEDOUT;
		wake = s->last_poll_ns + poll_ns;
		if (wake > deadline)
			wake = deadline;
		if (wake <= now)
			wake = now + poll_ns;
		store_ring_wait_locked(&s->ring, wake);
	}
	return 0;
}

int sq_watch_next(struct store_watch *base, int timeout_ms, struct store_event **events,
		  size_t *n)
{
	struct sq_watch *w = (struct sq_watch *)base;
	struct sq_store *s = w->s;
	unsigned long long deadline = timeout_ms < 0 ? ULLONG_MAX
				      : now_ns() + (unsigned long long)timeout_ms * 1000000ULL;
	struct store_event *evs;
	size_t cnt;
	int r;

	*events = NULL;
	*n = 0;
	for (;;) {
		r = sq_watch_collect(w, &evs, &cnt);
		if (r < 0)
			return r;
		if (cnt > 0)
			break;
		free(evs);

		pthread_mutex_lock(&s->ring.lock);
		r = sq_watch_wait_locked(w, deadline);
		if (r < 0) {
			pthread_mutex_unlock(&s->ring.lock);
			return r == -ETIMEDOUT ? 0 : r;
		}
		/* Woken by news: take it with the lock still held (1,000
		 * watchers wake at once and queue for it). */
		r = sq_watch_take_locked(w, &evs, &cnt);
		pthread_mutex_unlock(&s->ring.lock);
		if (r < 0)
			return r;
		if (r == 0 && cnt > 0)
			break;
		free(evs); /* behind the window: the log table's turn */
	}
	*events = evs;
	*n = cnt;
	return (int)cnt;
}

int sq_set_ring_size(struct store *store, size_t events)
{
	struct sq_store *s = sq(store);
	int r;

	pthread_mutex_lock(&s->ring.lock);
	r = store_ring_resize_locked(&s->ring, events);
	pthread_mutex_unlock(&s->ring.lock);
	return r;
}
