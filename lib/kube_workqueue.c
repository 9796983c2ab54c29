/* The rate-limited work queue: see kube_workqueue.h. Sets are jansson
 * objects (hash tables keyed by the key string); delayed keys sit in a
 * binary heap with lazy deletion (an entry counts only while the waiting
 * map still holds its time). */
#include "lib/kube_workqueue.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>

#include "lib/prom.h"
#include "lib/util.h"

struct wq_delayed {
	unsigned long long at;
	char *key;
};

struct kc_wq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int efd;
	bool efd_set;       /* efd readable: written since last drained (saves the syscalls) */
	bool shutting_down;
	struct kc_wq_opts o;

	char **ready; /* FIFO: ready[head .. head+n) */
	size_t head, n, cap;
	json_t *dirty;      /* queued or to be queued after done */
	json_t *processing; /* handed out, not done */
	json_t *failures;   /* key -> count */
	json_t *waiting;    /* key -> at (ns), the earliest pending time */
	struct wq_delayed *heap;
	size_t n_heap, cap_heap;

	double tokens;
	unsigned long long bucket_ns;

	/* NULL without metrics */
	struct prom_series *depth, *adds, *retries, *queue_seconds, *work_seconds;
};

/* The series of client-go's workqueue metrics for o->name. */
static void metrics_init(struct kc_wq *q)
{
	const char *const labels[] = { "name", NULL };
	struct prom_registry *r = q->o.metrics;
	const char *name = q->o.name ? q->o.name : "";

	q->depth = prom_with(prom_gauge_new(r, "workqueue_depth", "Current depth of workqueue",
					    labels), name);
	q->adds = prom_with(prom_counter_new(r, "workqueue_adds_total",
					     "Total number of adds handled by workqueue", labels),
			    name);
	q->retries = prom_with(prom_counter_new(r, "workqueue_retries_total",
						"Total number of retries handled by workqueue",
						labels),
			       name);
	q->queue_seconds = prom_with(
		prom_histogram_new(r, "workqueue_queue_duration_seconds",
				   "How long in seconds an item stays in workqueue before being requested.",
				   labels, prom_buckets_workqueue, prom_n_buckets_workqueue),
		name);
	q->work_seconds = prom_with(
		prom_histogram_new(r, "workqueue_work_duration_seconds",
				   "How long in seconds processing an item from workqueue takes.",
				   labels, prom_buckets_workqueue, prom_n_buckets_workqueue),
		name);
}

/* Seconds since a json_integer of now_ns(). */
static double seconds_since(json_t *t)
{
	return (double)(now_ns() - (unsigned long long)json_integer_value(t)) / 1e9;
}

int kc_wq_new(const struct kc_wq_opts *o, struct kc_wq **out)
{
	struct kc_wq *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;

	if (!q)
		return -ENOMEM;
	if (o)
		q->o = *o;
	if (!q->o.base_delay_ns)
		q->o.base_delay_ns = 5000000ULL;
	if (!q->o.max_delay_ns)
		q->o.max_delay_ns = 1000ULL * 1000000000ULL;
	if (q->o.qps <= 0)
		q->o.qps = 10;
	if (q->o.burst <= 0)
		q->o.burst = 100;
	q->tokens = q->o.burst;
	q->bucket_ns = now_ns();
	metrics_init(q);
	q->dirty = json_object();
	q->processing = json_object();
	q->failures = json_object();
	q->waiting = json_object();
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!q->dirty || !q->processing || !q->failures || !q->waiting || q->efd < 0) {
		int r = q->efd < 0 ? -errno : -ENOMEM;

		kc_wq_free(q);
		return r;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = q;
	return 0;
}

void kc_wq_free(struct kc_wq *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->ready[q->head + i]);
	for (size_t i = 0; i < q->n_heap; i++)
		free(q->heap[i].key);
	free(q->ready);
	free(q->heap);
	if (q->dirty)
		prom_add(q->depth, -(double)json_object_size(q->dirty));
	json_decref(q->dirty);
	json_decref(q->processing);
	json_decref(q->failures);
	json_decref(q->waiting);
	if (q->efd >= 0) {
		close(q->efd);
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cond);
	}
	free(q);
}

/* ---- under the lock ---- */

static int ready_push(struct kc_wq *q, const char *key)
{
	char *k = strdup(key);
	uint64_t one = 1;

	if (!k)
		return -ENOMEM;
	if (q->head + q->n == q->cap) {
		if (q->head > q->cap / 2) {
			memmove(q->ready, q->ready + q->head, q->n * sizeof(*q->ready));
			q->head = 0;
		} else {
			size_t ncap = q->cap ? q->cap * 2 : 64;
			char **nr = realloc(q->ready, ncap * sizeof(*nr));

			if (!nr) {
				free(k);
				return -ENOMEM;
			}
			q->ready = nr;
			q->cap = ncap;
		}
	}
	q->ready[q->head + q->n++] = k;
	if (!q->efd_set && write(q->efd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: it is readable anyway */
	}
	q->efd_set = true;
	pthread_cond_signal(&q->cond);
	return 0;
}

static int add_locked(struct kc_wq *q, const char *key)
{
	if (q->shutting_down)
		return -ESHUTDOWN;
	if (json_object_get(q->dirty, key))
		return 0;
	/* The time of the add, for the queue duration. */
	if (json_object_set_new(q->dirty, key, json_integer((json_int_t)now_ns())) < 0)
		return -ENOMEM;
	prom_inc(q->adds);
	prom_inc(q->depth);
	if (json_object_get(q->processing, key))
		return 0; /* queued again by kc_wq_done */
	return ready_push(q, key);
}

static void heap_swap(struct kc_wq *q, size_t a, size_t b)
{
	struct wq_delayed t = q->heap[a];

	q->heap[a] = q->heap[b];
	q->heap[b] = t;
}

static int heap_push(struct kc_wq *q, const char *key, unsigned long long at)
{
	size_t i;

	if (q->n_heap == q->cap_heap) {
		size_t ncap = q->cap_heap ? q->cap_heap * 2 : 16;
		struct wq_delayed *nh = realloc(q->heap, ncap * sizeof(*nh));

		if (!nh)
			return -ENOMEM;
		q->heap = nh;
		q->cap_heap = ncap;
	}
	q->heap[q->n_heap] = (struct wq_delayed){ at, strdup(key) };
	if (!q->heap[q->n_heap].key)
		return -ENOMEM;
	for (i = q->n_heap++; i > 0 && q->heap[(i - 1) / 2].at > q->heap[i].at; i = (i - 1) / 2)
		heap_swap(q, i, (i - 1) / 2);
	return 0;
}

static void heap_pop(struct kc_wq *q)
{
	size_t i = 0;

	free(q->heap[0].key);
	q->heap[0] = q->heap[--q->n_heap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < q->n_heap && q->heap[l].at < q->heap[m].at)
			m = l;
		if (r < q->n_heap && q->heap[r].at < q->heap[m].at)
			m = r;
		if (m == i)
			break;
		heap_swap(q, i, m);
		i = m;
	}
}

/* Moves the delayed keys that are due to the ready queue; returns the
 * time of the next one (0: none). */
static unsigned long long promote_due(struct kc_wq *q)
{
	unsigned long long now = now_ns();

	while (q->n_heap) {
		struct wq_delayed *d = &q->heap[0];
		json_t *at = json_object_get(q->waiting, d->key);

		if (!at || (unsigned long long)json_integer_value(at) != d->at) {
			heap_pop(q); /* superseded by an earlier time */
			continue;
		}
		if (d->at > now)
			return d->at;
		json_object_del(q->waiting, d->key);
		add_locked(q, d->key);
		heap_pop(q);
	}
	return 0;
}

static int add_after_locked(struct kc_wq *q, const char *key, unsigned long long delay_ns)
{
	unsigned long long at = now_ns() + delay_ns;
	json_t *cur;
	int r;

	if (q->shutting_down)
		return -ESHUTDOWN;
	if (!delay_ns)
		return add_locked(q, key);
	cur = json_object_get(q->waiting, key);
	if (cur && (unsigned long long)json_integer_value(cur) <= at)
		return 0;
	r = heap_push(q, key, at);
	if (r == 0 && json_object_set_new(q->waiting, key, json_integer((json_int_t)at)) < 0)
		r = -ENOMEM;
	pthread_cond_signal(&q->cond); /* a blocked getter may need to wake sooner */
	return r;
}

/* The larger of the key's exponential backoff and the bucket's wait. */
static unsigned long long rate_limit_delay(struct kc_wq *q, const char *key)
{
	json_int_t fails = json_integer_value(json_object_get(q->failures, key));
	unsigned long long d = q->o.base_delay_ns, bucket = 0, now;

	for (json_int_t i = 0; i < fails && d < q->o.max_delay_ns; i++)
		d *= 2;
	if (d > q->o.max_delay_ns)
		d = q->o.max_delay_ns;
	json_object_set_new(q->failures, key, json_integer(fails + 1));
	if (!q->o.no_bucket) {
		now = now_ns();
		q->tokens += (double)(now - q->bucket_ns) / 1e9 * q->o.qps;
		if (q->tokens > q->o.burst)
			q->tokens = q->o.burst;
		q->bucket_ns = now;
		q->tokens -= 1; /* a reservation: below zero is a wait */
		if (q->tokens < 0)
			bucket = (unsigned long long)(-q->tokens / q->o.qps * 1e9);
	}
	return d > bucket ? d : bucket;
}

/* ---- the public face ---- */

int kc_wq_add(struct kc_wq *q, const char *key)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = add_locked(q, key);
	pthread_mutex_unlock(&q->lock);
	return r;
}

int kc_wq_add_after(struct kc_wq *q, const char *key, unsigned long long delay_ns)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = add_after_locked(q, key, delay_ns);
	pthread_mutex_unlock(&q->lock);
	return r;
}

int kc_wq_add_rate_limited(struct kc_wq *q, const char *key)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = q->shutting_down ? -ESHUTDOWN : add_after_locked(q, key, rate_limit_delay(q, key));
	if (r == 0)
		prom_inc(q->retries);
	pthread_mutex_unlock(&q->lock);
	return r;
}

void kc_wq_forget(struct kc_wq *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	json_object_del(q->failures, key);
	pthread_mutex_unlock(&q->lock);
}

int kc_wq_num_requeues(struct kc_wq *q, const char *key)
{
	int n;

	pthread_mutex_lock(&q->lock);
	n = (int)json_integer_value(json_object_get(q->failures, key));
	pthread_mutex_unlock(&q->lock);
	return n;
}

int kc_wq_get(struct kc_wq *q, int timeout_ms, char **key)
{
	unsigned long long deadline = timeout_ms > 0 ? now_ns() + timeout_ms * 1000000ULL : 0;
	uint64_t drained;
	int r = 0;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		unsigned long long next = promote_due(q), until = deadline;
		struct timespec ts;

		if (q->n || q->shutting_down || timeout_ms == 0)
			break;
		if (next && (!until || next < until))
			until = next;
		if (deadline && now_ns() >= deadline)
			break;
		if (!until) {
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		ts.tv_sec = (time_t)(until / 1000000000ULL);
		ts.tv_nsec = (long)(until % 1000000000ULL);
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	}
	if (q->n) {
		char *k = q->ready[q->head++];

		q->n--;
		prom_dec(q->depth);
		prom_observe(q->queue_seconds, seconds_since(json_object_get(q->dirty, k)));
		json_object_del(q->dirty, k);
		json_object_set_new(q->processing, k, json_integer((json_int_t)now_ns()));
		*key = k;
	} else {
		r = q->shutting_down ? -ESHUTDOWN : -EAGAIN;
	}
	if (!q->n && q->efd_set) {
		if (read(q->efd, &drained, sizeof(drained)) < 0) {
			/* already drained */
		}
		q->efd_set = false;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

void kc_wq_done(struct kc_wq *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	if (q->work_seconds && json_object_get(q->processing, key))
		prom_observe(q->work_seconds, seconds_since(json_object_get(q->processing, key)));
	json_object_del(q->processing, key);
	if (json_object_get(q->dirty, key) && !q->shutting_down)
		ready_push(q, key);
	pthread_mutex_unlock(&q->lock);
}

void kc_wq_shutdown(struct kc_wq *q)
{
	pthread_mutex_lock(&q->lock);
	q->shutting_down = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

size_t kc_wq_len(struct kc_wq *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	promote_due(q);
	n = q->n;
	pthread_mutex_unlock(&q->lock);
	return n;
}

int kc_wq_timeout_ms(struct kc_wq *q)
{
	unsigned long long next, now;
	int ms;

	pthread_mutex_lock(&q->lock);
	next = promote_due(q);
	now = now_ns();
	if (q->n)
		ms = 0;
	else if (!next)
		ms = -1;
	else
		ms = (int)((next - now + 999999) / 1000000);
	pthread_mutex_unlock(&q->lock);
	return ms;
}

int kc_wq_fd(struct kc_wq *q)
{
	return q->efd;
}
