/* The controller work queue: de-duplication, re-queue of a key added while
 * it is processed, per-key exponential retries and the overall bucket,
 * forget, the poll interface, and worker threads that never process one
 * key twice at once. Delays are small and asserted by order and counts. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/kube_workqueue.h"
#include "tests/harness/test.h"
#include "lib/util.h"

#define MS 1000000ULL

static struct kc_wq *new_queue(unsigned long long base, unsigned long long max)
{
	struct kc_wq_opts o = { .base_delay_ns = base, .max_delay_ns = max, .no_bucket = true };
	struct kc_wq *q;

	CHECK_OK(kc_wq_new(&o, &q));
	return q;
}

/* Gets a key without waiting and checks it. */
static void expect_get(struct kc_wq *q, int timeout_ms, const char *want)
{
	char *key = NULL;

	CHECK_OK(kc_wq_get(q, timeout_ms, &key));
	CHECK_STR_EQ(key, want);
	free(key);
}

TEST(workqueue_deduplicates_and_requeues_a_key_added_while_processing)
{
	struct kc_wq *q = new_queue(0, 0);
	char *key;

	CHECK_OK(kc_wq_add(q, "ns/a"));
	CHECK_OK(kc_wq_add(q, "ns/b"));
	CHECK_OK(kc_wq_add(q, "ns/a"));
	CHECK_INT_EQ(kc_wq_len(q), 2);

	CHECK_OK(kc_wq_get(q, 0, &key));
	CHECK_STR_EQ(key, "ns/a");
	/* Added (twice) while in processing: not handed out again now... */
	CHECK_OK(kc_wq_add(q, "ns/a"));
	CHECK_OK(kc_wq_add(q, "ns/a"));
	CHECK_INT_EQ(kc_wq_len(q), 1);
	expect_get(q, 0, "ns/b");
	char *none = NULL;
	CHECK_INT_EQ(kc_wq_get(q, 0, &none), -EAGAIN);
	/* ...but once, after done. */
	kc_wq_done(q, key);
	free(key);
	CHECK_INT_EQ(kc_wq_len(q), 1);
	expect_get(q, 0, "ns/a");
	kc_wq_done(q, "ns/a");
	kc_wq_done(q, "ns/b");
	CHECK_INT_EQ(kc_wq_len(q), 0);
	CHECK_INT_EQ(kc_wq_timeout_ms(q), -1);

	/* Shutdown: adds refused, getters told. */
	kc_wq_shutdown(q);
	CHECK_INT_EQ(kc_wq_add(q, "ns/c"), -ESHUTDOWN);
	CHECK_INT_EQ(kc_wq_get(q, -1, &none), -ESHUTDOWN);
	kc_wq_free(q);
}

TEST(workqueue_retries_back_off_per_key_and_forget_resets)
{
	struct kc_wq *q = new_queue(4 * MS, 64 * MS);

	/* x fails three times (next wait 32 ms), y once (4 ms): y first. */
	for (int i = 0; i < 3; i++) {
		CHECK_OK(kc_wq_add_rate_limited(q, "x"));
		expect_get(q, 1000, "x");
		kc_wq_done(q, "x");
	}
	CHECK_INT_EQ(kc_wq_num_requeues(q, "x"), 3);
	CHECK_OK(kc_wq_add_rate_limited(q, "x"));
	CHECK_OK(kc_wq_add_rate_limited(q, "y"));
	CHECK_INT_EQ(kc_wq_len(q), 0); /* both are waiting */
	CHECK(kc_wq_timeout_ms(q) > 0);
	expect_get(q, 1000, "y");
	expect_get(q, 1000, "x");
	kc_wq_done(q, "x");
	kc_wq_done(q, "y");
	CHECK_INT_EQ(kc_wq_num_requeues(q, "x"), 4);
	CHECK_INT_EQ(kc_wq_num_requeues(q, "y"), 1);

	/* After forget, x starts again at the base delay: x before y, whose
	 * second failure now waits longer. */
	kc_wq_forget(q, "x");
	CHECK_INT_EQ(kc_wq_num_requeues(q, "x"), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_OK(kc_wq_add_rate_limited(q, "y"));
		expect_get(q, 1000, "y");
		kc_wq_done(q, "y");
	}
	CHECK_OK(kc_wq_add_rate_limited(q, "y"));
	CHECK_OK(kc_wq_add_rate_limited(q, "x"));
	expect_get(q, 1000, "x");
	expect_get(q, 1000, "y");
	kc_wq_free(q);
}

TEST(workqueue_delayed_add_keeps_the_earliest_time)
{
	struct kc_wq *q = new_queue(0, 0);

	CHECK_OK(kc_wq_add_after(q, "late", 60 * MS));
	CHECK_OK(kc_wq_add_after(q, "early", 5 * MS));
	CHECK_OK(kc_wq_add_after(q, "late", 120 * MS)); /* later: ignored */
	CHECK_OK(kc_wq_add_after(q, "early", 10 * MS));
	CHECK_INT_EQ(kc_wq_len(q), 0);
	expect_get(q, 1000, "early");
	expect_get(q, 1000, "late");
	char *none = NULL;
	CHECK_INT_EQ(kc_wq_get(q, 150, &none), -EAGAIN); /* each came once */
	kc_wq_free(q);
}

TEST(workqueue_bucket_limits_the_overall_retry_rate)
{
	struct kc_wq_opts o = { .base_delay_ns = 1, .max_delay_ns = 1, .qps = 1, .burst = 2 };
	struct kc_wq *q;

	CHECK_OK(kc_wq_new(&o, &q));
	CHECK_OK(kc_wq_add_rate_limited(q, "a"));
	CHECK_OK(kc_wq_add_rate_limited(q, "b"));
	CHECK_OK(kc_wq_add_rate_limited(q, "c"));
	/* Two tokens: a and b are ready, c waits for the bucket (~1 s). */
	expect_get(q, 100, "a");
	expect_get(q, 100, "b");
	char *none = NULL;
	CHECK_INT_EQ(kc_wq_get(q, 50, &none), -EAGAIN);
	CHECK(kc_wq_timeout_ms(q) > 500);
	kc_wq_free(q);
}

TEST(workqueue_fd_wakes_a_poll_loop)
{
	struct kc_wq *q = new_queue(0, 0);
	struct pollfd p = { .fd = kc_wq_fd(q), .events = POLLIN };

	CHECK_INT_EQ(poll(&p, 1, 0), 0);
	CHECK_OK(kc_wq_add(q, "k"));
	CHECK_INT_EQ(poll(&p, 1, 0), 1);
	expect_get(q, 0, "k");
	CHECK_INT_EQ(poll(&p, 1, 0), 0); /* drained with the last key */
	kc_wq_done(q, "k");
	kc_wq_free(q);
}

#define N_KEYS 50
#define N_ROUNDS 20

struct workers {
	struct kc_wq *q;
	atomic_int busy[N_KEYS];    /* workers on the key right now */
	atomic_int overlap;         /* times two were on one key */
	atomic_int processed[N_KEYS];
	atomic_int last_round_seen[N_KEYS];
	atomic_int round;
};

static void *worker(void *arg)
{
	struct workers *w = arg;
	char *key;

	while (kc_wq_get(w->q, -1, &key) == 0) {
		int k = atoi(key);

		if (atomic_fetch_add(&w->busy[k], 1) != 0)
			atomic_fetch_add(&w->overlap, 1);
		atomic_store(&w->last_round_seen[k], atomic_load(&w->round));
		usleep(100);
		atomic_fetch_add(&w->processed[k], 1);
		atomic_fetch_sub(&w->busy[k], 1);
		kc_wq_done(w->q, key);
		free(key);
	}
	return NULL;
}

TEST(workqueue_workers_never_process_one_key_twice_at_once)
{
	struct workers w = { .q = new_queue(0, 0) };
	pthread_t t[4];
	char key[16];
	int total = 0;

	for (int i = 0; i < 4; i++)
		CHECK_INT_EQ(pthread_create(&t[i], NULL, worker, &w), 0);
	for (int r = 1; r <= N_ROUNDS; r++) {
		atomic_store(&w.round, r);
		for (int k = 0; k < N_KEYS; k++) {
			snprintf(key, sizeof(key), "%d", k);
			CHECK_OK(kc_wq_add(w.q, key));
		}
	}
	/* Drain: every key is seen after the last round's add. */
	for (int i = 0; i < 500 && (kc_wq_len(w.q) || total < N_KEYS); i++) {
		total = 0;
		for (int k = 0; k < N_KEYS; k++)
			total += atomic_load(&w.last_round_seen[k]) == N_ROUNDS;
		usleep(10000);
	}
	kc_wq_shutdown(w.q);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_INT_EQ(atomic_load(&w.overlap), 0);
	CHECK_INT_EQ(total, N_KEYS);
	for (int k = 0; k < N_KEYS; k++) {
		/* De-duplicated: at most one run per round, at least one in all. */
		CHECK(atomic_load(&w.processed[k]) >= 1);
		CHECK(atomic_load(&w.processed[k]) <= N_ROUNDS);
	}
	kc_wq_free(w.q);
}
