/* store-bench: the store's numbers for issue 5's table, one backend per
 * run (tests/bench/bench_store.sh runs it for SQLite and etcd side by side).
 *
 *   store-bench URL OBJECTS VALUE_BYTES WATCHERS EVENTS
 *
 * Stores OBJECTS pod-sized values under /registry/pods/, timing each
 * create, get and update; lists them all; then opens WATCHERS watches on
 * /registry/pods/ (one thread each), writes EVENTS updates 5 ms apart, and
 * times each event's delivery to every watcher. Prints one line per
 * measure:  <backend> <measure> n=<samples> p50_us=<> p99_us=<> [extra]
 * and the process's peak memory. Exit 1 when a call fails. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/store.h"
#include "util.h"

struct watcher {
	pthread_t th;
	struct store_watch *w;
	size_t want, got;
	unsigned long long *lat;
	int err;
};

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return (x > y) - (x < y);
}

static void report(const char *backend, const char *what, unsigned long long *ns, size_t n,
		   const char *extra)
{
	size_t p99 = n ? (n * 99) / 100 : 0;

	if (!n) {
		printf("%s %s n=0\n", backend, what);
		return;
	}
	qsort(ns, n, sizeof(*ns), cmp_ull);
	printf("%s %s n=%zu p50_us=%llu p99_us=%llu%s%s\n", backend, what, n, ns[n / 2] / 1000,
	       ns[p99 < n ? p99 : n - 1] / 1000, extra ? " " : "", extra ? extra : "");
	fflush(stdout);
}

static void *watch_thread(void *p)
{
	struct watcher *w = p;
	unsigned long long end = now_ns() + 60ULL * 1000000000ULL;

	while (w->got < w->want && now_ns() < end) {
		struct store_event *ev = NULL;
		size_t n = 0;
		int r = store_watch_next(w->w, 1000, &ev, &n);

		if (r < 0) {
			w->err = r;
			break;
		}
		for (size_t i = 0; i < n && w->got < w->want; i++) {
			unsigned long long sent = strtoull(ev[i].kv.value, NULL, 10);
			unsigned long long now = now_ns();

			w->lat[w->got++] = now > sent ? now - sent : 0;
		}
		store_events_free(ev, n);
	}
	return NULL;
}

static long peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "store-bench: %s: %s\n", what, strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	struct store *s = NULL;
	size_t objects, vlen, nwatch, events;
	_cleanup_free_ unsigned long long *lat = NULL;
	_cleanup_free_ int64_t *revs = NULL;
	_cleanup_free_ char *value = NULL;
	struct watcher *ws = NULL;
	const char *backend;
	char key[64], extra[64];
	int r;

	if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		printf("Usage: store-bench URL OBJECTS VALUE_BYTES WATCHERS EVENTS\n");
		return 0;
	}
	if (argc != 6) {
		fprintf(stderr, "Usage: store-bench URL OBJECTS VALUE_BYTES WATCHERS EVENTS\n");
		return 2;
	}
	objects = strtoul(argv[2], NULL, 10);
	vlen = strtoul(argv[3], NULL, 10);
	nwatch = strtoul(argv[4], NULL, 10);
	events = strtoul(argv[5], NULL, 10);
	if (!objects || vlen < 24) {
		fprintf(stderr, "store-bench: OBJECTS must be > 0 and VALUE_BYTES >= 24\n");
		return 2;
	}
	r = store_open(argv[1], &s);
	if (r < 0)
		return fail(argv[1], r);
	backend = store_backend_name(s);
	lat = calloc(objects > events ? objects : events, sizeof(*lat));
	revs = calloc(objects, sizeof(*revs));
	value = malloc(vlen + 1);
	if (!lat || !revs || !value)
		return fail("memory", -ENOMEM);
	memset(value, 'x', vlen);
	value[vlen] = '\0';

	for (size_t i = 0; i < objects; i++) {
		unsigned long long t = now_ns();

		snprintf(key, sizeof(key), "/registry/pods/default/pod-%06zu", i);
		r = store_create(s, key, value, vlen, &revs[i]);
		if (r < 0)
			return fail("create", r);
		lat[i] = now_ns() - t;
	}
	report(backend, "create", lat, objects, NULL);
	for (size_t i = 0; i < objects; i++) {
		struct store_kv kv = { 0 };
		unsigned long long t = now_ns();

		snprintf(key, sizeof(key), "/registry/pods/default/pod-%06zu", (i * 7919) % objects);
		r = store_get(s, key, &kv);
		if (r < 0)
			return fail("get", r);
		lat[i] = now_ns() - t;
		store_kv_clear(&kv);
	}
	report(backend, "get", lat, objects, NULL);
	for (size_t i = 0; i < objects; i++) {
		unsigned long long t = now_ns();

		snprintf(key, sizeof(key), "/registry/pods/default/pod-%06zu", i);
		r = store_update(s, key, value, vlen, revs[i], NULL);
		if (r < 0)
			return fail("update", r);
		lat[i] = now_ns() - t;
	}
	report(backend, "update", lat, objects, NULL);
	for (int round = 0; round < 5; round++) {
		struct store_kv *items = NULL;
		size_t n = 0;
		unsigned long long t = now_ns();

		r = store_list(s, "/registry/pods/", NULL, 0, &items, &n, NULL, NULL);
		if (r < 0)
			return fail("list", r);
		lat[round] = now_ns() - t;
		store_kvs_free(items, n);
		if (n != objects)
			return fail("list count", -EIO);
	}
	snprintf(extra, sizeof(extra), "objects=%zu", objects);
	report(backend, "list-all", lat, 5, extra);

	if (nwatch && events) {
		int64_t from = store_revision(s);
		size_t total = 0;
		_cleanup_free_ unsigned long long *all = NULL;
		pthread_attr_t attr;

		ws = calloc(nwatch, sizeof(*ws));
		all = calloc(nwatch * events, sizeof(*all));
		if (!ws || !all)
			return fail("memory", -ENOMEM);
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		for (size_t i = 0; i < nwatch; i++) {
			ws[i].want = events;
			ws[i].lat = all + i * events;
			r = store_watch_open(s, "/registry/pods/", from, &ws[i].w);
			if (r < 0)
				return fail("watch", r);
			r = -pthread_create(&ws[i].th, &attr, watch_thread, &ws[i]);
			if (r < 0)
				return fail("thread", r);
		}
		pthread_attr_destroy(&attr);
		usleep(200 * 1000);
		for (size_t i = 0; i < events; i++) {
			snprintf(value, vlen + 1, "%llu", now_ns());
			snprintf(key, sizeof(key), "/registry/pods/default/pod-%06zu", i % objects);
			r = store_update(s, key, value, strlen(value), 0, NULL);
			if (r < 0)
				return fail("update for watchers", r);
			usleep(5000);
		}
		for (size_t i = 0; i < nwatch; i++) {
			pthread_join(ws[i].th, NULL);
			if (ws[i].err)
				return fail("watch next", ws[i].err);
			if (ws[i].got != events)
				return fail("watch lost events", -EIO);
			memmove(all + total, ws[i].lat, ws[i].got * sizeof(*all));
			total += ws[i].got;
			store_watch_close(ws[i].w);
		}
		snprintf(extra, sizeof(extra), "watchers=%zu events=%zu", nwatch, events);
		report(backend, "watch-delivery", all, total, extra);
		free(ws);
	}
	printf("%s memory peak_rss_kib=%ld\n", backend, peak_rss_kib());
	store_close(s);
	return 0;
}
