/* A controller's work queue: string keys ("ns/name") with de-duplication
 * and per-key rate-limited retries, as client-go's rate-limited workqueue.
 *
 *   kc_wq_add(q, key);                  // from an informer handler
 *   ...
 *   char *key;
 *   while (kc_wq_get(q, 0, &key) == 0) { // the event loop drains it
 *       int r = reconcile(ctl, key);      // reads the cache, not the event
 *       if (r < 0) kc_wq_add_rate_limited(q, key); else kc_wq_forget(q, key);
 *       kc_wq_done(q, key);
 *       free(key);
 *   }
 *
 * Guarantees: a key is queued at most once however often it is added; a
 * key is never handed out twice at the same time: added while being
 * processed, it is queued again (once) when kc_wq_done is called.
 *
 * Retries: kc_wq_add_rate_limited waits the larger of the key's own
 * exponential backoff (base * 2^failures, capped) and an overall token
 * bucket (client-go's DefaultControllerRateLimiter: 5 ms .. 1000 s, 10 qps
 * with a burst of 100); kc_wq_forget resets the key's failures.
 *
 * Threads: no hidden ones. One event loop uses kc_wq_get(q, 0, ...) and
 * polls kc_wq_fd() / kc_wq_timeout_ms(); worker threads may instead block
 * in kc_wq_get(q, -1, ...). Every function is thread-safe. */
#ifndef SKIFF_KUBE_WORKQUEUE_H
#define SKIFF_KUBE_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct kc_wq_opts {
	unsigned long long base_delay_ns; /* default 5 ms */
	unsigned long long max_delay_ns;  /* default 1000 s */
	double qps;                       /* overall bucket; default 10 */
	int burst;                        /* default 100 */
	bool no_bucket;                   /* per-key backoff only */
	/* Optional: client-go's workqueue metrics, labelled name=name
	 * (workqueue_depth, _adds_total, _retries_total,
	 * _queue_duration_seconds, _work_duration_seconds: get to done). */
	struct prom_registry *metrics;
	const char *name;
};

struct kc_wq;
struct prom_registry;

int kc_wq_new(const struct kc_wq_opts *o, struct kc_wq **out);
void kc_wq_free(struct kc_wq *q);

int kc_wq_add(struct kc_wq *q, const char *key);
/* Queues key after delay_ns (an earlier pending time for it wins). */
int kc_wq_add_after(struct kc_wq *q, const char *key, unsigned long long delay_ns);
/* Queues key after its rate-limited delay, and counts a failure. */
int kc_wq_add_rate_limited(struct kc_wq *q, const char *key);
/* Clears the key's failures (its next retry starts at the base delay). */
void kc_wq_forget(struct kc_wq *q, const char *key);
/* Failures counted since the last forget. */
int kc_wq_num_requeues(struct kc_wq *q, const char *key);

/* The next key (a malloc'd copy for the caller to free, after
 * kc_wq_done). timeout_ms 0: do not wait; -1: wait until a key or
 * shutdown. -EAGAIN when none is ready in time, -ESHUTDOWN after
 * kc_wq_shutdown once the queue is empty. */
int kc_wq_get(struct kc_wq *q, int timeout_ms, char **key);
/* Ends the processing of key; it is queued again if added meanwhile. */
void kc_wq_done(struct kc_wq *q, const char *key);
/* Wakes blocked getters; adds are refused (-ESHUTDOWN) from now on. */
void kc_wq_shutdown(struct kc_wq *q);

/* Keys ready now (not counting delayed ones and ones in processing). */
size_t kc_wq_len(struct kc_wq *q);
/* For poll(): 0 when a key is ready, the ms until the next delayed key,
 * or -1 when there is none. */
int kc_wq_timeout_ms(struct kc_wq *q);
/* An eventfd that turns readable when a key is queued (drained by
 * kc_wq_get when the queue runs empty). */
int kc_wq_fd(struct kc_wq *q);

#endif
