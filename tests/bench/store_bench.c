/* store-bench: the store's numbers for issue 5's table, one backend per
 * run (tests/bench/bench_store.sh runs it for SQLite and etcd side by side).
 *
 *   store-bench URL OBJECTS VALUE_BYTES WATCHERS EVENTS
 *   store-bench --etcd-direct HOST:PORT OBJECTS VALUE_BYTES
 *
 * Stores OBJECTS pod-sized values under /registry/pods/, timing each
 * create, get and update; lists them all; then opens WATCHERS watches on
 * /registry/pods/ (one thread each), writes EVENTS updates 5 ms apart, and
 * times each event's delivery to every watcher. Prints one line per
 * measure:  <backend> <measure> n=<samples> p50_us=<> p99_us=<> [extra]
 * and the process's peak memory. Exit 1 when a call fails.
 *
 * --etcd-direct is etcd itself, the peer of skiff's etcd rows: the same
 * OBJECTS creates, gets and updates and five list-alls, as plain etcd v3
 * gRPC calls on one connection (Put, Range, Put, Range over the prefix in
 * pages of 1000), without the store's transactions and decoding; printed
 * as backend "etcd-direct". */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/etcd.pb-c.h"
#include "control/store.h"
#include "lib/grpc.h"
#include "lib/util.h"

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

#define USAGE                                                                  \
	"Usage: store-bench URL OBJECTS VALUE_BYTES WATCHERS EVENTS\n"             \
	"       store-bench --etcd-direct HOST:PORT OBJECTS VALUE_BYTES\n"
#define DIRECT_PREFIX "/direct/registry/pods/"
#define DIRECT_PAGE 1000

/* One etcd KV call: packs req, unpacks the answer as desc into *resp. */
static int direct_call(struct grpc_channel *ch, const char *method, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
	size_t len = protobuf_c_message_get_packed_size(req), out_len = 0;
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
	_cleanup_free_ uint8_t *out = NULL;
	struct grpc_status st = { 0 };
	int r;

	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(req, buf);
	r = grpc_unary(ch, method, buf, len, 5000, &out, &out_len, &st);
	if (r < 0) {
		fprintf(stderr, "store-bench: %s: %s (%s)\n", method, strerror(-r), st.message);
		return r;
	}
	*resp = protobuf_c_message_unpack(desc, NULL, out_len, out);
	return *resp ? 0 : -EPROTO;
}

static ProtobufCBinaryData direct_bytes(const char *p, size_t n)
{
	return (ProtobufCBinaryData){ .len = n, .data = (uint8_t *)p };
}

static int direct_put(struct grpc_channel *ch, const char *key, const char *value, size_t vlen)
{
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int r;

	req.key = direct_bytes(key, strlen(key));
	req.value = direct_bytes(value, vlen);
	r = direct_call(ch, "/etcdserverpb.KV/Put", &req.base, &etcdserverpb__put_response__descriptor,
			&resp);
	if (r == 0)
		protobuf_c_message_free_unpacked(resp, NULL);
	return r;
}

/* Range [key, end) (key_len bytes of key; end NULL: key alone), at most
 * limit (0: all): the number of keys in *n, the last one in last[size],
 * *more when etcd has more. */
static int direct_range(struct grpc_channel *ch, const char *key, size_t key_len, const char *end,
			int64_t limit, size_t *n, char *last, size_t size, bool *more)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	Etcdserverpb__RangeResponse *resp = NULL;
	int r;

	req.key = direct_bytes(key, key_len);
	if (end)
		req.range_end = direct_bytes(end, strlen(end));
	req.limit = limit;
	r = direct_call(ch, "/etcdserverpb.KV/Range", &req.base,
			&etcdserverpb__range_response__descriptor, (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	*n = resp->n_kvs;
	*more = resp->more;
	if (resp->n_kvs && last)
		snprintf(last, size, "%.*s", (int)resp->kvs[resp->n_kvs - 1]->key.len,
			 (const char *)resp->kvs[resp->n_kvs - 1]->key.data);
	etcdserverpb__range_response__free_unpacked(resp, NULL);
	return 0;
}

/* Every key under DIRECT_PREFIX, DIRECT_PAGE at a time: how many. */
static int direct_list(struct grpc_channel *ch, size_t *total)
{
	char from[96] = DIRECT_PREFIX;
	size_t from_len = strlen(from);
	bool more = true;
	int r;

	*total = 0;
	while (more) {
		size_t n = 0;

		r = direct_range(ch, from, from_len, "/direct/registry/pods0", DIRECT_PAGE, &n, from,
				 sizeof(from), &more);
		if (r < 0)
			return r;
		*total += n;
		if (!n)
			break;
		from_len = strlen(from) + 1; /* the next page starts right after the last key */
	}
	return 0;
}

static int etcd_direct(const char *target, size_t objects, const char *value, size_t vlen,
		       unsigned long long *lat)
{
	struct grpc_channel *ch = NULL;
	char key[96], extra[64];
	size_t n, dummy;
	bool more;
	int r;

	r = grpc_channel_new(target, &ch);
	if (r < 0)
		return fail(target, r);
	for (int pass = 0; pass < 3; pass++) {
		static const char *const what[] = { "create", "get", "update" };

		for (size_t i = 0; i < objects; i++) {
			size_t k = pass == 1 ? (i * 7919) % objects : i;
			unsigned long long t = now_ns();

			snprintf(key, sizeof(key), DIRECT_PREFIX "default/pod-%06zu", k);
			if (pass == 1)
				r = direct_range(ch, key, strlen(key), NULL, 0, &n, NULL, 0, &more);
			else
				r = direct_put(ch, key, value, vlen);
			if (r == 0 && pass == 1 && n != 1)
				r = -ENOENT;
			if (r < 0)
				return fail(what[pass], r);
			lat[i] = now_ns() - t;
		}
		report("etcd-direct", what[pass], lat, objects, NULL);
	}
	for (int round = 0; round < 5; round++) {
		unsigned long long t = now_ns();

		r = direct_list(ch, &dummy);
		if (r < 0)
			return fail("list", r);
		lat[round] = now_ns() - t;
		if (dummy != objects)
			return fail("list count", -EIO);
	}
	snprintf(extra, sizeof(extra), "objects=%zu", objects);
	report("etcd-direct", "list-all", lat, 5, extra);
	grpc_channel_free(ch);
	return 0;
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

	bool direct = argc == 5 && streq(argv[1], "--etcd-direct");

	if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		printf("%s", USAGE);
		return 0;
	}
	if (argc != 6 && !direct) {
		fprintf(stderr, "%s", USAGE);
		return 2;
	}
	objects = strtoul(argv[direct ? 3 : 2], NULL, 10);
	vlen = strtoul(argv[direct ? 4 : 3], NULL, 10);
	nwatch = direct ? 0 : strtoul(argv[4], NULL, 10);
	events = direct ? 0 : strtoul(argv[5], NULL, 10);
	if (!objects || vlen < 24) {
		fprintf(stderr, "store-bench: OBJECTS must be > 0 and VALUE_BYTES >= 24\n");
		return 2;
	}
	lat = calloc(objects > events ? objects : events, sizeof(*lat));
	revs = calloc(objects, sizeof(*revs));
	value = malloc(vlen + 1);
	if (!lat || !revs || !value)
		return fail("memory", -ENOMEM);
	memset(value, 'x', vlen);
	value[vlen] = '\0';
	if (direct)
		return etcd_direct(argv[2], objects, value, vlen, lat);
	r = store_open(argv[1], &s);
	if (r < 0)
		return fail(argv[1], r);
	backend = store_backend_name(s);

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
