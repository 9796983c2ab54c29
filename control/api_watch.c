/* Watch: ?watch=true streams, one JSON event per line over a chunked
 * response, fed by the store's watch from a resourceVersion. RV 0 or
 * absent first sends every existing object as ADDED; label and field
 * selectors turn updates that enter or leave the selection into ADDED or
 * DELETED; bookmarks (allowWatchBookmarks) every 30 s and just before the
 * timeout; a compacted RV yields an ERROR event with a 410 Expired Status,
 * and an RV the store has not reached within 3 s (as the watch cache waits
 * for it) one with upstream's 504 "Too large resource version" Status.
 * With a Table Accept header every event carries a one-row Table. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/api_internal.h"
#include "lib/kube_selector.h"
#include "lib/prom.h"
#include "lib/util.h"

struct watch {
	struct api_server *srv;
	struct MHD_Connection *conn;
	const struct api_resource *res;
	struct store_watch *w;
	struct kube_selector *ls, *fs;
	bool table;
	int include;
	bool sent_columns;
	bool bookmarks;
	bool final_bookmark; /* sent the one just before the deadline */
	bool ended;
	char *buf;
	size_t len, off;
	json_t *initial; /* objects to send as ADDED first */
	size_t initial_next;
	unsigned long long deadline, last_bookmark;
	char ns[256];
	json_t *error; /* an ERROR event to send, then end */
	struct prom_series *watchers; /* counted in while it runs (NULL: none) */
};

static void watch_free(void *cls)
{
	struct watch *w = cls;

	if (!w)
		return;
	prom_dec(w->watchers);
	store_watch_close(w->w);
	kube_selector_free(w->ls);
	kube_selector_free(w->fs);
	json_decref(w->initial);
	json_decref(w->error);
	free(w->buf);
	free(w);
}

static void watch_emit(struct watch *w, const char *type, json_t *obj)
{
	json_t *ev, *payload = obj;
	char *s;
	size_t n;

	if (w->table && !streq(type, "BOOKMARK") && !streq(type, "ERROR")) {
		payload = api_table_new(w->res, !w->sent_columns);
		w->sent_columns = true;
		json_object_set(json_object_get(payload, "metadata"), "resourceVersion",
				api_jget(obj, "metadata.resourceVersion"));
		api_table_add_row(w->res, payload, obj, w->include, time(NULL));
	} else {
		json_incref(payload);
	}
	ev = json_pack("{s:s,s:o}", "type", type, "object", payload);
	s = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!s)
		return;
	n = strlen(s);
	if (w->off == w->len) {
		w->off = w->len = 0;
	}
	{
		char *b = realloc(w->buf, w->len + n + 2);

		if (!b) {
			free(s);
			return;
		}
		w->buf = b;
	}
	memcpy(w->buf + w->len, s, n);
	w->buf[w->len + n] = '\n';
	w->len += n + 1;
	free(s);
}

static bool watch_client_gone(struct watch *w)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(w->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p;

	if (!ci)
		return true;
	p.fd = ci->connect_fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return true;
	return false;
}

/* ---- the render cache: each event rendered once per resource ----
 *
 * Every watcher of a resource sees the same events, so each event's value
 * (and previous value) is parsed and dumped once, by the first watcher to
 * get to it, and kept in a small direct-mapped cache of refcounted
 * entries for the others: a watcher without selectors only copies the
 * JSON into its stream; one with selectors or a Table reads the shared
 * parsed object (read-only). The JSON is spliced from the stored text
 * when it can be (api_obj_render_kv), and the object then parsed only
 * only for a Table; selectors read the members they name from the JSON
 * (api_obj_project), so most events are never parsed at all.
 *
 * This is not the store's watch window (control/store_ring.c), which
 * keeps the last 4,096 events as stored bytes for watches to resume from
 * and answers 410 below it. Renderings are kept apart from it because:
 * - they belong to the API: an object depends on the resource (kind,
 *   apiVersion, resourceVersion set by api_obj_from_kv), the store knows
 *   keys and bytes;
 * - they are needed only while the watchers pass over an event, and a
 *   parsed object is about ten times the stored bytes (a 2 KiB pod parses
 *   into about 24 KiB): held as long as the window holds its 4,096 events
 *   they would take 100 MiB and more; here 1,024 slots, replaced by hash;
 * - events also arrive from outside the window (a watcher behind it reads
 *   SQLite's log table or an etcd stream of its own) and still share
 *   renderings here, keyed by (resource, revision, key, previous or not). */

#define RENDER_SLOTS 1024

struct render_entry {
	atomic_int refs;
	const struct api_resource *res;
	int64_t rev;
	bool prev;
	char *key;
	json_t *obj; /* parsed from json when first asked for (entry_obj) */
	bool parsed; /* obj is final (NULL: json does not parse) */
	char *json; /* NULL: the value does not parse */
	size_t len;
};

struct api_render_cache {
	pthread_rwlock_t lock; /* read: look up; write: render and store */
	struct render_entry *slots[RENDER_SLOTS];
};

static void render_unref(struct render_entry *e)
{
	if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	json_decref(e->obj);
	free(e->json);
	free(e->key);
	free(e);
}

int api_render_cache_new(struct api_render_cache **out)
{
	struct api_render_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pthread_rwlock_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void api_render_cache_free(struct api_render_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < RENDER_SLOTS; i++)
		render_unref(c->slots[i]);
	pthread_rwlock_destroy(&c->lock);
	free(c);
}

static size_t render_slot(const struct api_resource *res, int64_t rev, bool prev, const char *key)
{
	uint64_t h = (uint64_t)rev * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)res ^ prev;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 0x100000001b3ULL;
	return (size_t)(h % RENDER_SLOTS);
}

/* e with a new reference when it renders this (res, rev, prev, key). */
static struct render_entry *render_hit(struct render_entry *e, const struct api_resource *res,
				       int64_t rev, bool prev, const char *key)
{
	if (!e || e->res != res || e->rev != rev || e->prev != prev || !streq(e->key, key))
		return NULL;
	atomic_fetch_add(&e->refs, 1);
	return e;
}

/* e's JSON from kv's stored value: spliced when the text allows it (the
 * object is parsed later if a watcher needs it), else parsed and dumped. */
static void render_value(struct render_entry *e, const struct api_resource *res,
			 const struct store_kv *kv, int64_t rev)
{
	e->json = api_obj_render_kv(res, kv->value, kv->value_len, rev, &e->len);
	if (e->json)
		return;
	e->parsed = true;
	e->obj = api_obj_from_kv(res, kv->value, kv->value_len, rev);
	if (!e->obj)
		return;
	e->json = json_dumps(e->obj, JSON_COMPACT);
	if (!e->json) {
		json_decref(e->obj);
		e->obj = NULL;
	} else {
		e->len = strlen(e->json);
	}
}

/* e's parsed object (read-only, owned by e), parsed from its JSON by the
 * first watcher that needs it; NULL when it does not parse. */
static json_t *entry_obj(struct api_render_cache *c, struct render_entry *e)
{
	json_t *obj;

	pthread_rwlock_rdlock(&c->lock);
	obj = e->obj;
	if (e->parsed) {
		pthread_rwlock_unlock(&c->lock);
		return obj;
	}
	pthread_rwlock_unlock(&c->lock);
	pthread_rwlock_wrlock(&c->lock);
	if (!e->parsed) {
		e->obj = json_loadb(e->json, e->len, 0, NULL);
		if (!json_is_object(e->obj)) {
			json_decref(e->obj);
			e->obj = NULL;
		}
		e->parsed = true;
	}
	obj = e->obj;
	pthread_rwlock_unlock(&c->lock);
	return obj;
}

/* The rendering of ev's value (prev: its previous value) for res, with a
 * reference the caller drops with render_unref; NULL without memory. */
static struct render_entry *render_get(struct api_render_cache *c, const struct api_resource *res,
			       const struct store_event *ev, bool prev)
{
	const struct store_kv *kv = prev ? &ev->prev : &ev->kv;
	const char *key = ev->kv.key ? ev->kv.key : "";
	size_t i = render_slot(res, ev->revision, prev, key);
	struct render_entry *e;

	pthread_rwlock_rdlock(&c->lock);
	e = render_hit(c->slots[i], res, ev->revision, prev, key);
	pthread_rwlock_unlock(&c->lock);
	if (e)
		return e;
	/* Rendered under the write lock: the other watchers of this event
	 * wait for it rather than render it too. */
	pthread_rwlock_wrlock(&c->lock);
	e = render_hit(c->slots[i], res, ev->revision, prev, key);
	if (e) {
		pthread_rwlock_unlock(&c->lock);
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		pthread_rwlock_unlock(&c->lock);
		return NULL;
	}
	e->res = res;
	e->rev = ev->revision;
	e->prev = prev;
	if (kv->value && kv->value_len)
		render_value(e, res, kv, ev->revision);
	atomic_init(&e->refs, 2);
	render_unref(c->slots[i]);
	c->slots[i] = e;
	pthread_rwlock_unlock(&c->lock);
	return e;
}

static void watch_append(struct watch *w, const char *parts[], const size_t lens[], size_t n)
{
	size_t total = 0;
	char *b;

	if (w->off == w->len)
		w->off = w->len = 0;
	for (size_t i = 0; i < n; i++)
		total += lens[i];
	b = realloc(w->buf, w->len + total + 1);
	if (!b)
		return;
	w->buf = b;
	for (size_t i = 0; i < n; i++) {
		memcpy(w->buf + w->len, parts[i], lens[i]);
		w->len += lens[i];
	}
}

/* One event line from a shared rendering. */
static void watch_emit_entry(struct watch *w, const char *type, struct render_entry *e)
{
	const char *parts[5] = { "{\"type\":\"", type, "\",\"object\":", e->json, "}\n" };
	size_t lens[5];

	if (w->table) {
		json_t *obj = entry_obj(w->srv->render_cache, e);

		if (obj)
			watch_emit(w, type, obj);
		return;
	}
	for (size_t i = 0; i < 5; i++)
		lens[i] = i == 3 ? e->len : strlen(parts[i]);
	watch_append(w, parts, lens, 5);
}

/* Whether e renders an object w selects; without selectors, whether it
 * renders one at all. Neither parses the object: selectors look at the
 * few members they name (api_obj_project). */
static bool entry_matches(struct watch *w, struct render_entry *e, bool selecting)
{
	json_t *obj;
	bool match;

	if (!e || !e->json)
		return false;
	if (!selecting)
		return true;
	obj = api_obj_project(e->json, e->len, w->ls, w->fs);
	if (obj) {
		match = api_obj_matches(obj, w->ls, w->fs);
		json_decref(obj);
		return match;
	}
	obj = entry_obj(w->srv->render_cache, e);
	return obj && api_obj_matches(obj, w->ls, w->fs);
}

static void watch_event(struct watch *w, struct store_event *ev)
{
	struct api_render_cache *c = w->srv->render_cache;
	struct render_entry *obj = NULL, *prev = NULL;
	bool has_prev = ev->prev.key && ev->prev.value && ev->prev.value_len;
	bool selecting = (w->ls && w->ls->n) || (w->fs && w->fs->n);
	bool now_match, was_match;

	if (ev->type == STORE_EVENT_DELETE) {
		if (has_prev) {
			prev = render_get(c, w->res, ev, true);
			if (entry_matches(w, prev, selecting))
				watch_emit_entry(w, "DELETED", prev);
		}
	} else if (ev->kv.value && ev->kv.value_len) {
		obj = render_get(c, w->res, ev, false);
		if (!obj || !obj->json)
			goto out;
		now_match = entry_matches(w, obj, selecting);
		if (selecting) {
			if (has_prev)
				prev = render_get(c, w->res, ev, true);
			was_match = entry_matches(w, prev, selecting);
		} else {
			/* The previous value is not needed, only whether
			 * there was one. */
			was_match = has_prev;
		}
		if (now_match && was_match)
			watch_emit_entry(w, "MODIFIED", obj);
		else if (now_match)
			watch_emit_entry(w, "ADDED", obj);
		else if (was_match)
			watch_emit_entry(w, "DELETED", obj);
	}
out:
	render_unref(obj);
	render_unref(prev);
}

static void watch_bookmark(struct watch *w)
{
	char gv[128];
	json_t *bm;

	api_resource_gv(w->res, gv, sizeof(gv));
	bm = json_pack("{s:s,s:s,s:{}}", "kind", w->res->kind, "apiVersion", gv, "metadata");
	api_set_rv(bm, store_revision(w->srv->store));
	watch_emit(w, "BOOKMARK", bm);
	json_decref(bm);
	w->last_bookmark = now_ns();
}

static ssize_t watch_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct watch *w = cls;

	(void)pos;
	for (;;) {
		if (w->off < w->len) {
			size_t n = w->len - w->off < max ? w->len - w->off : max;

			memcpy(out, w->buf + w->off, n);
			w->off += n;
			return (ssize_t)n;
		}
		if (w->ended || atomic_load(&w->srv->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (w->error) {
			watch_emit(w, "ERROR", w->error);
			json_decref(w->error);
			w->error = NULL;
			w->ended = true;
			continue;
		}
		if (w->initial && w->initial_next < json_array_size(w->initial)) {
			watch_emit(w, "ADDED", json_array_get(w->initial, w->initial_next++));
			continue;
		}
		if (now_ns() > w->deadline)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (watch_client_gone(w))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (w->bookmarks && !w->final_bookmark && now_ns() + 1000000000ULL >= w->deadline) {
			/* A last bookmark so the client resumes from here. */
			w->final_bookmark = true;
			watch_bookmark(w);
			continue;
		}
		{
			struct store_event *evs = NULL;
			size_t n = 0;
			unsigned long long left = w->deadline > now_ns() ? w->deadline - now_ns() : 0;
			int wait_ms = left / 1000000ULL < 1000 ? (int)(left / 1000000ULL) : 1000;
			int r;

			if (w->bookmarks && !w->final_bookmark && left > 1000000000ULL &&
			    (left - 1000000000ULL) / 1000000ULL < (unsigned long long)wait_ms)
				wait_ms = (int)((left - 1000000000ULL) / 1000000ULL);
			r = store_watch_next(w->w, wait_ms, &evs, &n);

			if (r == -ERANGE) {
				w->error = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status",
						     "apiVersion", "v1", "metadata", "status",
						     "Failure", "message",
						     "too old resource version", "reason", "Expired",
						     "code", 410);
				continue;
			}
			if (r < 0)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			for (size_t i = 0; i < n; i++)
				watch_event(w, &evs[i]);
			store_events_free(evs, n);
		}
		if (w->bookmarks && w->off == w->len &&
		    now_ns() - w->last_bookmark > 30ULL * 1000000000ULL)
			watch_bookmark(w);
	}
}

#define WATCH_RV_WAIT_NS 3000000000ULL /* the watch cache's blockTimeout */

/* NULL once the store has reached rv (waiting up to WATCH_RV_WAIT_NS, as
 * upstream's watch cache waits to be fresh), else the Status of
 * storage.NewTooLargeResourceVersionError: 504 Timeout, cause
 * ResourceVersionTooLarge, retry after 1 s. */
static json_t *rv_too_large(struct store *st, int64_t rv)
{
	unsigned long long until = now_ns() + WATCH_RV_WAIT_NS;
	int64_t cur;
	char msg[160];

	while ((cur = store_revision(st)) >= 0 && cur < rv && now_ns() < until)
		usleep(10000);
	if (cur < 0 || cur >= rv)
		return NULL;
	snprintf(msg, sizeof(msg), "Timeout: Too large resource version: %lld, current: %lld",
		 (long long)rv, (long long)cur);
	return json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:{s:[{s:s,s:s}],s:i},s:i}", "kind", "Status",
			 "apiVersion", "v1", "metadata", "status", "Failure", "message", msg,
			 "reason", "Timeout", "details", "causes", "reason",
			 "ResourceVersionTooLarge", "message", "Too large resource version",
			 "retryAfterSeconds", 1, "code", 504);
}

enum MHD_Result api_rest_watch(struct api_req *q)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct api_err e = { 0 };
	const char *rv = api_query(q, "resourceVersion");
	int64_t to = 0;
	char prefix[512];
	int64_t after;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int r;

	if (!w)
		return MHD_NO;
	w->srv = q->srv;
	w->conn = q->conn;
	w->res = q->res;
	w->table = q->table;
	w->include = api_include_object(q);
	w->bookmarks = api_query_bool(q, "allowWatchBookmarks");
	w->last_bookmark = now_ns();
	/* timeoutSeconds 0 or absent: the server's own; negative: over at once. */
	if (api_query_int64(q, "timeoutSeconds", &to, &e) < 0) {
		free(w);
		return api_reply_err(q, &e);
	}
	if (!to)
		to = 1800;
	w->deadline = now_ns() + (unsigned long long)(to > 0 ? (to < INT32_MAX ? to : INT32_MAX) : 0) *
					 1000000000ULL;
	if (api_parse_selectors(q, &w->ls, &w->fs, &e) < 0) {
		free(w);
		return api_reply_err(q, &e);
	}
	if (q->name[0]) {
		/* The old /watch/<name> form: one object. */
		char sel[300];
		struct kube_selector *fs2 = NULL;

		snprintf(sel, sizeof(sel), "metadata.name=%s", q->name);
		kube_field_selector_parse(sel, &fs2, NULL, 0);
		kube_selector_free(w->fs);
		w->fs = fs2;
	}
	api_prefix_for(q->res, q->ns, prefix, sizeof(prefix));
	if (!rv || !*rv || streq(rv, "0")) {
		struct store_kv *kvs = NULL;
		size_t n = 0;
		bool more = false;

		r = store_list(q->srv->store, prefix, NULL, 0, &kvs, &n, &after, &more);
		if (r < 0) {
			watch_free(w);
			api_err_store(&e, r);
			return api_reply_err(q, &e);
		}
		w->initial = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *obj = api_obj_from_kv(q->res, kvs[i].value, kvs[i].value_len,
						  kvs[i].mod_revision);

			if (obj && api_obj_matches(obj, w->ls, w->fs))
				json_array_append(w->initial, obj);
			json_decref(obj);
		}
		store_kvs_free(kvs, n);
	} else {
		char *end;

		after = strtoll(rv, &end, 10);
		if (*end || after < 0) {
			watch_free(w);
			api_err_set(&e, 400, "BadRequest", "invalid resourceVersion \"%s\"", rv);
			return api_reply_err(q, &e);
		}
	}
	w->error = rv && *rv && !streq(rv, "0") ? rv_too_large(q->srv->store, after) : NULL;
	r = w->error ? 0 : store_watch_open(q->srv->store, prefix, after, &w->w);
	if (r == -ERANGE) {
		char msg[128];

		snprintf(msg, sizeof(msg), "too old resource version: %lld (%lld)", (long long)after,
			 (long long)store_compacted_revision(q->srv->store));
		w->error = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion",
				     "v1", "metadata", "status", "Failure", "message", msg, "reason",
				     "Expired", "code", 410);
	} else if (r < 0) {
		watch_free(w);
		api_err_store(&e, r);
		return api_reply_err(q, &e);
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, watch_read, w,
						 watch_free);
	if (!resp) {
		watch_free(w);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	w->watchers = api_metrics_watchers(q);
	prom_inc(w->watchers);
	ret = MHD_queue_response(q->conn, 200, resp);
	q->code = 200;
	MHD_destroy_response(resp);
	return ret;
}

