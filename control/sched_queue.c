/* The scheduling queue, as upstream's PriorityQueue: an active heap
 * (spec.priority, higher first, then the oldest creationTimestamp), a
 * backoff heap (per-pod exponential backoff from 1 s doubling to 10 s by
 * attempts), and the unschedulable pods, parked until a cluster event
 * (sched_queue_move_all) or for at most unschedulable_max_ns. Time is
 * always passed in, so tests run on a simulated clock. */
#include <stdint.h>
#include <string.h>

#include "control/sched_internal.h"
#include "lib/util.h"

static bool active_before(const struct sched_pod *a, const struct sched_pod *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	if (a->created != b->created)
		return a->created < b->created;
	return strcmp(a->key, b->key) < 0;
}

static bool backoff_before(const struct sched_pod *a, const struct sched_pod *b)
{
	if (a->backoff_until != b->backoff_until)
		return a->backoff_until < b->backoff_until;
	return active_before(a, b);
}

static void heap_set(struct sched_heap *h, size_t i, struct sched_pod *p)
{
	h->v[i] = p;
	p->qslot = i;
}

static void heap_up(struct sched_heap *h, size_t i)
{
	struct sched_pod *p = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!h->before(p, h->v[parent]))
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, p);
}

static void heap_down(struct sched_heap *h, size_t i)
{
	struct sched_pod *p = h->v[i];

	for (;;) {
		size_t l = 2 * i + 1, best = i;
		struct sched_pod *bp = p;

		if (l < h->n && h->before(h->v[l], bp))
			best = l, bp = h->v[l];
		if (l + 1 < h->n && h->before(h->v[l + 1], bp))
			best = l + 1, bp = h->v[l + 1];
		if (best == i)
			break;
		heap_set(h, i, bp);
		i = best;
	}
	heap_set(h, i, p);
}

static int heap_push(struct sched_heap *h, struct sched_pod *p)
{
	if (grow_array(&h->v, &h->cap, h->n + 1, sizeof(*h->v)) < 0)
		return -ENOMEM;
	h->v[h->n] = p;
	heap_up(h, h->n++);
	return 0;
}

static void heap_remove(struct sched_heap *h, size_t i)
{
	struct sched_pod *last = h->v[--h->n];

	if (i == h->n)
		return;
	heap_set(h, i, last);
	heap_up(h, i);
	heap_down(h, last->qslot);
}

void sched_queue_init(struct sched *s)
{
	s->active.before = active_before;
	s->backoff.before = backoff_before;
}

void sched_queue_release(struct sched *s)
{
	free(s->active.v);
	free(s->backoff.v);
}

static unsigned long long backoff_ns(const struct sched *s, unsigned attempts)
{
	unsigned long long d = s->o.backoff_initial_ns;

	for (unsigned i = 1; i < attempts; i++) {
		d *= 2;
		if (d >= s->o.backoff_max_ns)
			return s->o.backoff_max_ns;
	}
	return d;
}

/* On failure to grow a heap, the pod stays out of the queue until its
 * next update: memory is gone anyway. */
static void to_active(struct sched *s, struct sched_pod *p)
{
	p->qstate = heap_push(&s->active, p) < 0 ? SCHED_Q_NONE : SCHED_Q_ACTIVE;
}

static void to_backoff(struct sched *s, struct sched_pod *p)
{
	p->qstate = heap_push(&s->backoff, p) < 0 ? SCHED_Q_NONE : SCHED_Q_BACKOFF;
}

/* Active if its backoff is over, else the backoff heap. */
static void requeue(struct sched *s, struct sched_pod *p, unsigned long long now)
{
	if (p->backoff_until > now)
		to_backoff(s, p);
	else
		to_active(s, p);
}

void sched_queue_remove(struct sched *s, struct sched_pod *p)
{
	size_t i = p->qslot;

	switch (p->qstate) {
	case SCHED_Q_ACTIVE:
		heap_remove(&s->active, i);
		break;
	case SCHED_Q_BACKOFF:
		heap_remove(&s->backoff, i);
		break;
	case SCHED_Q_UNSCHED:
		s->unsched[i] = s->unsched[--s->n_unsched];
		s->unsched[i]->qslot = i;
		break;
	}
	p->qstate = SCHED_Q_NONE;
}

/* Parks p among the unschedulable since `since`. */
static void park(struct sched *s, struct sched_pod *p, unsigned long long since)
{
	if (grow_array(&s->unsched, &s->cap_unsched, s->n_unsched + 1, sizeof(*s->unsched)) < 0) {
		to_backoff(s, p);
		return;
	}
	p->qstate = SCHED_Q_UNSCHED;
	p->qslot = s->n_unsched;
	p->unsched_since = since;
	if (!s->n_unsched || since + s->o.unschedulable_max_ns < s->unsched_due)
		s->unsched_due = since + s->o.unschedulable_max_ns;
	s->unsched[s->n_unsched++] = p;
}

void sched_queue_updated(struct sched *s, struct sched_pod *p, int old_q, bool same,
			 unsigned long long now)
{
	p->qstate = SCHED_Q_NONE;
	if (old_q == SCHED_Q_ACTIVE)
		to_active(s, p);
	else if (old_q == SCHED_Q_UNSCHED && same)
		park(s, p, p->unsched_since);
	else
		requeue(s, p, now); /* new, or an update that may make it fit: retry */
}

void sched_queue_unschedulable(struct sched *s, struct sched_pod *p, unsigned long long now)
{
	sched_queue_remove(s, p);
	p->backoff_until = now + backoff_ns(s, p->attempts);
	park(s, p, now);
}

void sched_queue_backoff(struct sched *s, struct sched_pod *p, unsigned long long now)
{
	sched_queue_remove(s, p);
	p->backoff_until = now + backoff_ns(s, p->attempts ? p->attempts : 1);
	to_backoff(s, p);
}

void sched_queue_move_all(struct sched *s, unsigned long long now)
{
	while (s->n_unsched) {
		struct sched_pod *p = s->unsched[--s->n_unsched];

		p->qstate = SCHED_Q_NONE;
		requeue(s, p, now);
	}
}

/* Backoffs that ended, and pods parked unschedulable too long, go active. */
static void flush(struct sched *s, unsigned long long now)
{
	while (s->backoff.n && s->backoff.v[0]->backoff_until <= now) {
		struct sched_pod *p = s->backoff.v[0];

		heap_remove(&s->backoff, 0);
		to_active(s, p);
	}
	if (!s->n_unsched || now < s->unsched_due)
		return;
	s->unsched_due = UINT64_MAX;
	for (size_t i = 0; i < s->n_unsched;) {
		struct sched_pod *p = s->unsched[i];
		unsigned long long due = p->unsched_since + s->o.unschedulable_max_ns;

		if (due <= now) {
			sched_queue_remove(s, p);
			requeue(s, p, now);
			continue;
		}
		if (due < s->unsched_due)
			s->unsched_due = due;
		i++;
	}
}

struct sched_pod *sched_queue_pop(struct sched *s, unsigned long long now)
{
	struct sched_pod *p;

	flush(s, now);
	if (!s->active.n)
		return NULL;
	p = s->active.v[0];
	heap_remove(&s->active, 0);
	p->qstate = SCHED_Q_NONE;
	p->attempts++;
	return p;
}

unsigned long long sched_queue_next_ready(const struct sched *s, unsigned long long now)
{
	unsigned long long t = UINT64_MAX;

	if (s->active.n)
		return 0;
	if (s->backoff.n)
		t = s->backoff.v[0]->backoff_until;
	if (s->n_unsched && s->unsched_due < t)
		t = s->unsched_due;
	return t <= now ? 0 : t;
}

void sched_queue_counts(const struct sched *s, size_t *active, size_t *backoff,
			size_t *unschedulable)
{
	*active = s->active.n;
	*backoff = s->backoff.n;
	*unschedulable = s->n_unsched;
}
