/* The watch window both backends share (control/store_ring.h). */
#include "control/store_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/store_backend.h"

int store_ring_cursor_init(struct store_ring_cursor *c, const char *prefix, int64_t revision)
{
	c->prefix = strdup(prefix);
	if (!c->prefix)
		return -ENOMEM;
	c->prefix_len = strlen(prefix);
	c->revision = revision;
	return 0;
}

void store_ring_cursor_clear(struct store_ring_cursor *c)
{
	free(c->prefix);
	c->prefix = NULL;
}

int store_ring_init(struct store_ring *r)
{
	pthread_condattr_t ca;

	memset(r, 0, sizeof(*r));
	r->ev = calloc(STORE_RING_EVENTS, sizeof(*r->ev));
	if (!r->ev)
		return -ENOMEM;
	r->cap = STORE_RING_EVENTS;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

static struct store_event *ring_at(struct store_ring *r, size_t i)
{
	return &r->ev[(r->head + i) % r->cap];
}

static void ring_clear(struct store_ring *r)
{
	for (size_t i = 0; i < r->len; i++)
		store_event_clear(ring_at(r, i));
	r->head = 0;
	r->len = 0;
}

void store_ring_destroy(struct store_ring *r)
{
	if (!r->ev)
		return;
	ring_clear(r);
	free(r->ev);
	r->ev = NULL;
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

int store_ring_resize_locked(struct store_ring *r, size_t cap)
{
	struct store_event *ev;

	if (r->watchers)
		return -EBUSY;
	ev = calloc(cap, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ring_clear(r);
	free(r->ev);
	r->ev = ev;
	r->cap = cap;
	return 0;
}

void store_ring_reset_locked(struct store_ring *r, int64_t revision)
{
	ring_clear(r);
	r->base = r->last = revision;
}

void store_ring_push_locked(struct store_ring *r, struct store_event *ev)
{
	if (r->len == r->cap) {
		struct store_event *old = ring_at(r, 0);

		r->base = old->revision;
		store_event_clear(old);
		r->head = (r->head + 1) % r->cap;
		r->len--;
	}
	*ring_at(r, r->len) = *ev;
	r->len++;
	if (ev->revision > r->last)
		r->last = ev->revision;
	memset(ev, 0, sizeof(*ev));
}

void store_ring_publish_locked(struct store_ring *r, int64_t last)
{
	if (last > r->last)
		r->last = last;
	pthread_cond_broadcast(&r->cond);
}

void store_ring_compacted_locked(struct store_ring *r, int64_t revision)
{
	if (revision > r->compacted)
		r->compacted = revision;
}

/* The index of the first event newer than rev. */
static size_t ring_first_after(struct store_ring *r, int64_t rev)
{
	size_t lo = 0, hi = r->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ring_at(r, mid)->revision <= rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int store_ring_collect_locked(struct store_ring *r, struct store_ring_cursor *c,
			      struct store_event **evs, size_t *n)
{
	struct store_event *out = NULL;
	size_t cnt = 0, cap = 0;
	int64_t seen = r->last;
	int err = 0;

	*evs = NULL;
	*n = 0;
	if (c->revision < r->base)
		return c->revision < r->compacted ? -ERANGE : STORE_RING_BEHIND;
	for (size_t i = ring_first_after(r, c->revision); i < r->len; i++) {
		struct store_event *ev = ring_at(r, i);

		if (!store_key_has_prefix(ev->kv.key, c->prefix, c->prefix_len))
			continue;
		/* A full batch ends between revisions, so the cursor can say
		 * where the next one starts. */
		if (cnt >= STORE_RING_BATCH && ev->revision != out[cnt - 1].revision) {
			seen = out[cnt - 1].revision;
			break;
		}
		err = store_events_grow(&out, cnt, &cap);
		if (err == 0)
			err = store_event_copy(&out[cnt], ev);
		if (err < 0)
			break;
		cnt++;
	}
	if (err < 0) {
		store_events_free(out, cnt);
		return err;
	}
	if (seen > c->revision)
		c->revision = seen;
	*evs = out;
	*n = cnt;
	return 0;
}

void store_ring_wait_locked(struct store_ring *r, unsigned long long until_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(until_ns / 1000000000ULL),
		.tv_nsec = (long)(until_ns % 1000000000ULL),
	};

	pthread_cond_timedwait(&r->cond, &r->lock, &ts);
}
