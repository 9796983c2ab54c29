/* The etcd store's watches.
 *
 * A feed is one Watch stream over a key range from a revision on, resumed
 * on the next endpoint from the revision after the last event when its
 * member goes away, so no event is lost or repeated.
 *
 * Watches share one feed per store over the whole namespace (the hub): a
 * thread of its own reads the stream into the watch window
 * (control/store_ring.h), each watch filters the window by its prefix.
 * 1,000 watches cost one etcd stream, and a watch busy sending never
 * holds up the others. The thread ends when the last watch has gone (seen
 * after its next read, within ETCD_PUMP_MS). A watch that asks for history
 * older than the hub's start, or falls behind the window, gets a feed of
 * its own instead; etcd says when that history is compacted (-ERANGE). */
#include "control/store_etcd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

#define ETCD_PUMP_MS 200

static void etcd_feed_disconnect(struct etcd_feed *f)
{
	grpc_stream_free(f->stream);
	f->stream = NULL;
	grpc_channel_free(f->ch);
	f->ch = NULL;
}

static void etcd_feed_clear(struct etcd_feed *f)
{
	etcd_feed_disconnect(f);
	free(f->key);
	free(f->range_end);
	f->key = f->range_end = NULL;
}

static int etcd_feed_init(struct etcd_feed *f, struct etcd_store *s, const char *prefix,
			  int64_t after)
{
	size_t end_len = 0;

	memset(f, 0, sizeof(*f));
	f->s = s;
	f->cursor = after;
	pthread_mutex_lock(&s->lock);
	f->endpoint = s->cur;
	pthread_mutex_unlock(&s->lock);
	return etcd_prefix_range(s, prefix, &f->key, &f->range_end, &end_len);
}

/* Opens the Watch stream at cursor + 1 on some endpoint, starting with
 * f->endpoint, and waits for etcd to confirm it. */
static int etcd_feed_connect(struct etcd_feed *f)
{
	struct etcd_store *s = f->s;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	_cleanup_free_ uint8_t *buf = NULL;
	struct grpc_status st = { 0 };
	size_t len;
	int r = -EIO;

	cr.key = bin(f->key, strlen(f->key) ? strlen(f->key) : 1);
	cr.range_end = bin(f->range_end, strlen(f->range_end) ? strlen(f->range_end) : 1);
	cr.start_revision = f->cursor + 1;
	cr.prev_kv = true;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &cr;
	len = protobuf_c_message_get_packed_size(&req.base);
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(&req.base, buf);

	for (size_t attempt = 0; attempt < ETCD_ROUNDS * s->n_endpoints; attempt++) {
		Etcdserverpb__WatchResponse *resp = NULL;
		uint8_t *msg = NULL;
		size_t msg_len = 0;

		if (attempt && attempt % s->n_endpoints == 0)
			usleep(ETCD_ROUND_PAUSE_MS * 1000);
		etcd_feed_disconnect(f);
		r = grpc_channel_new(s->endpoints[f->endpoint], &f->ch);
		if (r < 0)
			return r;
		r = grpc_stream_open(f->ch, ETCD_WATCH, buf, len, ETCD_CALL_TIMEOUT_MS, &f->stream,
				     &st);
		if (r == 0)
			r = grpc_stream_recv(f->stream, ETCD_CALL_TIMEOUT_MS, &msg, &msg_len, &st);
		if (r == 0) {
			resp = etcdserverpb__watch_response__unpack(NULL, msg_len, msg);
			free(msg);
			if (!resp) {
				etcd_feed_disconnect(f);
				return -EPROTO;
			}
			r = resp->created && !resp->canceled ? 0
			    : resp->compact_revision ? -ERANGE : -EIO;
			etcdserverpb__watch_response__free_unpacked(resp, NULL);
			if (r == 0)
				return 0;
			if (r == -ERANGE) {
				etcd_feed_disconnect(f);
				return r;
			}
		}
		f->endpoint = (f->endpoint + 1) % s->n_endpoints;
	}
	etcd_feed_disconnect(f);
	return r == -EREMOTEIO ? etcd_errno(&st) : -EIO;
}

static int etcd_event_out(struct etcd_store *s, const Etcdserverpb__Event *e,
			  struct store_event *ev)
{
	int r;

	memset(ev, 0, sizeof(*ev));
	if (!e->kv)
		return -EPROTO;
	ev->type = e->type == ETCDSERVERPB__EVENT__EVENT_TYPE__DELETE ? STORE_EVENT_DELETE
								       : STORE_EVENT_PUT;
	ev->revision = e->kv->mod_revision;
	r = etcd_kv_out(s, e->kv, &ev->kv);
	if (r == 0 && ev->type == STORE_EVENT_DELETE) {
		ev->kv.create_revision = 0;
		ev->kv.value_len = 0;
		ev->kv.value[0] = '\0';
	}
	if (r == 0 && e->prev_kv)
		r = etcd_kv_out(s, e->prev_kv, &ev->prev);
	if (r < 0)
		store_event_clear(ev);
	return r;
}

/* Appends the events of one WatchResponse newer than the cursor. */
static int etcd_feed_take(struct etcd_feed *f, const Etcdserverpb__WatchResponse *resp,
			  struct store_event **evs, size_t *cnt, size_t *cap)
{
	for (size_t i = 0; i < resp->n_events; i++) {
		int r;

		/* After a reconnect etcd may send what we already had. */
		if (resp->events[i]->kv && resp->events[i]->kv->mod_revision <= f->cursor)
			continue;
		r = store_events_grow(evs, *cnt, cap);
		if (r == 0)
			r = etcd_event_out(f->s, resp->events[i], &(*evs)[*cnt]);
		if (r < 0)
			return r;
		f->cursor = (*evs)[*cnt].revision;
		(*cnt)++;
	}
	return 0;
}

/* Waits up to timeout_ms (< 0: forever) for events, then takes what else
 * has already arrived, up to max. Appends to *evs; 0 with none on timeout.
 * A negative return after some events were taken leaves them in *evs. */
static int etcd_feed_read(struct etcd_feed *f, int timeout_ms, size_t max,
			  struct store_event **evs, size_t *cnt, size_t *cap)
{
	unsigned long long deadline = timeout_ms < 0 ? 0
				      : now_ns() + (unsigned long long)timeout_ms * 1000000ULL;
	size_t first = *cnt;
	struct grpc_status st;
	int r = 0;

	while (*cnt - first < max) {
		Etcdserverpb__WatchResponse *resp = NULL;
		uint8_t *msg = NULL;
		size_t msg_len = 0;
		int left = -1;

		if (*cnt > first) {
			left = 0;
		} else if (timeout_ms >= 0) {
			unsigned long long now = now_ns();

			left = now >= deadline ? 0 : (int)((deadline - now) / 1000000ULL);
		}
		if (!f->stream) {
			r = etcd_feed_connect(f);
			if (r < 0)
				return r;
		}
		r = grpc_stream_recv(f->stream, left, &msg, &msg_len, &st);
		if (r == -ETIMEDOUT)
			return 0;
		if (r < 0) {
			/* The member went away: resume on the next one. */
			etcd_feed_disconnect(f);
			f->endpoint = (f->endpoint + 1) % f->s->n_endpoints;
			if (*cnt > first)
				return 0;
			continue;
		}
		resp = etcdserverpb__watch_response__unpack(NULL, msg_len, msg);
		free(msg);
		if (!resp)
			return -EPROTO;
		if (resp->canceled || resp->compact_revision)
			r = resp->compact_revision ? -ERANGE : -EIO;
		else
			r = etcd_feed_take(f, resp, evs, cnt, cap);
		etcdserverpb__watch_response__free_unpacked(resp, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}


struct etcd_watch {
	struct store_watch base;
	struct etcd_store *s;
	bool shared;           /* reads the window, not a feed of its own */
	struct etcd_feed feed; /* not shared: a feed of its own */
	struct store_ring_cursor at;
	int err;        /* to report after the events already delivered */
};

/* The hub's reader: the stream into the window, until no watch is left,
 * the store closes or the stream fails (then every watch gets the error). */
static void *hub_reader(void *arg)
{
	struct etcd_store *s = arg;
	struct store_ring *ring = &s->ring;

	pthread_mutex_lock(&ring->lock);
	while (ring->watchers > 0 && !s->hub_stop && !s->hub_err) {
		struct store_event *got = NULL;
		size_t n = 0, gcap = 0;
		int r;

		pthread_mutex_unlock(&ring->lock);
		r = etcd_feed_read(&s->hub, ETCD_PUMP_MS, STORE_RING_BATCH, &got, &n, &gcap);
		pthread_mutex_lock(&ring->lock);
		for (size_t i = 0; i < n; i++)
			store_ring_push_locked(ring, &got[i]);
		free(got);
		if (r < 0)
			s->hub_err = r;
		if (n || r < 0)
			store_ring_publish_locked(ring, s->hub.cursor);
	}
	etcd_feed_clear(&s->hub);
	if (!ring->watchers) {
		store_ring_reset_locked(ring, ring->last);
		s->hub_err = 0;
	}
	s->hub_live = false;
	pthread_cond_broadcast(&ring->cond);
	pthread_mutex_unlock(&ring->lock);
	return NULL;
}

/* Starts the hub at revision after (the first watch's). ring.lock held. */
static int hub_start(struct etcd_store *s, int64_t after)
{
	pthread_t t;
	pthread_attr_t attr;
	int r;

	r = etcd_feed_init(&s->hub, s, "", after);
	if (r == 0)
		r = etcd_feed_connect(&s->hub);
	if (r == 0) {
		store_ring_reset_locked(&s->ring, after);
		s->hub_err = 0;
		s->ring.watchers++; /* so the thread does not end at once */
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = -pthread_create(&t, &attr, hub_reader, s);
		pthread_attr_destroy(&attr);
		s->ring.watchers--;
		if (r == 0)
			s->hub_live = true;
	}
	if (r < 0)
		etcd_feed_clear(&s->hub);
	return r;
}

void etcd_hub_stop(struct etcd_store *s)
{
	/* The hub's reader ends within one read. */
	pthread_mutex_lock(&s->ring.lock);
	s->hub_stop = true;
	while (s->hub_live)
		pthread_cond_wait(&s->ring.cond, &s->ring.lock);
	pthread_mutex_unlock(&s->ring.lock);
	etcd_feed_clear(&s->hub);
}

void etcd_watch_close(struct store_watch *base)
{
	struct etcd_watch *w = (struct etcd_watch *)base;
	struct etcd_store *s = w->s;

	if (w->shared) {
		/* After the last watch out the reader thread closes its
		 * stream. */
		pthread_mutex_lock(&s->ring.lock);
		s->ring.watchers--;
		pthread_mutex_unlock(&s->ring.lock);
	}
	etcd_feed_clear(&w->feed);
	store_ring_cursor_clear(&w->at);
	free(w);
}

/* Gives w a feed of its own from its cursor on. */
static int etcd_watch_go_private(struct etcd_watch *w)
{
	int r = etcd_feed_init(&w->feed, w->s, w->at.prefix, w->at.revision);

	if (r == 0)
		r = etcd_feed_connect(&w->feed);
	return r;
}

int etcd_watch_open(struct store *store, const char *prefix, int64_t after_revision,
		    struct store_watch **out)
{
	struct etcd_store *s = es(store);
	struct etcd_watch *w;
	int r;

	/* etcd accepts a watch below its compaction and only then cancels
	 * it; ask first, so the caller gets -ERANGE here. */
	r = etcd_readable_at(s, after_revision > 0 ? after_revision : 1);
	if (r == 0)
		return -ERANGE;
	if (r < 0 && r != -EINVAL) /* -EINVAL: a future revision, fine */
		return r;
	r = 0;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->base.store = store;
	w->s = s;
	if (store_ring_cursor_init(&w->at, prefix, after_revision) < 0) {
		free(w);
		return -ENOMEM;
	}

	pthread_mutex_lock(&s->ring.lock);
	/* A failed hub ends its thread; the next watch after the last of
	 * its watches starts anew. */
	while (s->hub_live && s->hub_err && s->ring.watchers == 0)
		pthread_cond_wait(&s->ring.cond, &s->ring.lock);
	if (!s->hub_live && s->ring.watchers == 0)
		r = hub_start(s, after_revision);
	if (r == 0 && s->hub_live && after_revision >= s->ring.base && !s->hub_err) {
		/* The thread checks watchers under ring.lock: held here. */
		w->shared = true;
		s->ring.watchers++;
	}
	pthread_mutex_unlock(&s->ring.lock);
	if (r == 0 && !w->shared)
		r = etcd_watch_go_private(w);
	if (r < 0) {
		etcd_watch_close(&w->base);
		return r;
	}
	*out = &w->base;
	return 0;
}

/* A shared watch: from the window, waiting for the hub's reader.
 * STORE_RING_BEHIND when w must go private. */
static int hub_next(struct etcd_watch *w, unsigned long long deadline, bool forever,
		    struct store_event **evs, size_t *cnt)
{
	struct etcd_store *s = w->s;
	int r;

	pthread_mutex_lock(&s->ring.lock);
	for (;;) {
		unsigned long long now, wake;

		r = store_ring_collect_locked(&s->ring, &w->at, evs, cnt);
		if (r != 0 || *cnt)
			break;
		if (s->hub_err) {
			r = s->hub_err;
			break;
		}
		if (!s->hub_live) {
			r = -EIO;
			break;
		}
		now = now_ns();
		if (!forever && now >= deadline)
			break;
		wake = now + ETCD_PUMP_MS * 1000000ULL;
		if (!forever && wake > deadline)
			wake = deadline;
		store_ring_wait_locked(&s->ring, wake);
	}
	if (r == STORE_RING_BEHIND) {
		w->shared = false;
		s->ring.watchers--;
	}
	pthread_mutex_unlock(&s->ring.lock);
	return r;
}

int etcd_watch_next(struct store_watch *base, int timeout_ms, struct store_event **events,
		    size_t *n)
{
	struct etcd_watch *w = (struct etcd_watch *)base;
	unsigned long long deadline = timeout_ms < 0 ? 0
				      : now_ns() + (unsigned long long)timeout_ms * 1000000ULL;
	struct store_event *evs = NULL;
	size_t cnt = 0, cap = 0;
	int r = 0;

	*events = NULL;
	*n = 0;
	if (w->err)
		return w->err;
	if (w->shared) {
		r = hub_next(w, deadline, timeout_ms < 0, &evs, &cnt);
		if (r == STORE_RING_BEHIND)
			r = etcd_watch_go_private(w);
	}
	if (!w->shared && r == 0 && !cnt) {
		int left = -1;

		if (timeout_ms >= 0) {
			unsigned long long now = now_ns();

			left = now >= deadline ? 0 : (int)((deadline - now) / 1000000ULL);
		}
		w->feed.cursor = w->at.revision;
		r = etcd_feed_read(&w->feed, left, STORE_RING_BATCH, &evs, &cnt, &cap);
		if (cnt)
			w->at.revision = evs[cnt - 1].revision;
	}
	if (r < 0 && !cnt) {
		free(evs);
		return r;
	}
	/* Events already taken are delivered; an error shows next call. */
	if (r < 0)
		w->err = r;
	if (!cnt) {
		free(evs);
		return 0;
	}
	*events = evs;
	*n = cnt;
	return (int)cnt;
}

int etcd_set_ring_size(struct store *store, size_t events)
{
	struct etcd_store *s = es(store);
	int r;

	pthread_mutex_lock(&s->ring.lock);
	while (!s->ring.watchers && s->hub_live)
		pthread_cond_wait(&s->ring.cond, &s->ring.lock);
	r = store_ring_resize_locked(&s->ring, events);
	pthread_mutex_unlock(&s->ring.lock);
	return r;
}
