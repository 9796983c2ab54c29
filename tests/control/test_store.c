/* One suite, every backend: each STORE_TEST runs against SQLite (a fresh
 * file in the test's tmpdir) and against etcd (tests/control/
 * test_store_etcd.sh runs this binary with SKIFF_TEST_ETCD_URL set). */
#include "tests/harness/test.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/store.h"
#include "control/store_sqlite.h"
#include "tests/control/store_test_env.h"
#include "lib/util.h"

/* Each STORE_TEST registers sqlite_<name>, and etcd_<name> when
 * SKIFF_TEST_ETCD_URL names a cluster (test_store_etcd.sh starts one). */
#define STORE_TEST(name)                                                       \
	static void name(const char *url);                                     \
	TEST(sqlite_##name)                                                    \
	{                                                                      \
		name(store_test_sqlite_url());                                 \
	}                                                                      \
	static void test_etcd_##name(void)                                     \
	{                                                                      \
		name(store_test_etcd_url());                                   \
	}                                                                      \
	__attribute__((constructor)) static void register_etcd_##name(void)   \
	{                                                                      \
		if (getenv("SKIFF_TEST_ETCD_URL"))                             \
			test_register("etcd_" #name, test_etcd_##name);        \
	}                                                                      \
	static void name(const char *url)

static struct store *open_store(const char *url)
{
	struct store *s = NULL;

	CHECK_OK(store_open(url, &s));
	CHECK(s != NULL);
	return s;
}

static int64_t put(struct store *s, const char *key, const char *value)
{
	int64_t rev = 0;
	int r = store_create(s, key, value, strlen(value), &rev);

	if (r == -EEXIST)
		CHECK_OK(store_update(s, key, value, strlen(value), 0, &rev));
	else
		CHECK_OK(r);
	return rev;
}

STORE_TEST(crud_semantics)
{
	struct store *s = open_store(url);
	struct store_kv kv = { 0 }, prev = { 0 };
	int64_t base = store_revision(s), rev = 0, rev2 = 0;

	CHECK(base >= 0);
	CHECK_OK(store_create(s, "/registry/pods/a", "v1", 2, &rev));
	CHECK_INT_EQ(rev, base + 1);
	CHECK_INT_EQ(store_revision(s), rev);
	CHECK_INT_EQ(store_create(s, "/registry/pods/a", "x", 1, NULL), -EEXIST);

	CHECK_OK(store_get(s, "/registry/pods/a", &kv));
	CHECK_STR_EQ(kv.key, "/registry/pods/a");
	CHECK_STR_EQ(kv.value, "v1");
	CHECK_INT_EQ(kv.value_len, 2);
	CHECK_INT_EQ(kv.create_revision, rev);
	CHECK_INT_EQ(kv.mod_revision, rev);
	store_kv_clear(&kv);

	CHECK_OK(store_update(s, "/registry/pods/a", "v2-longer", 9, 0, &rev2));
	CHECK_INT_EQ(rev2, rev + 1);
	CHECK_OK(store_get(s, "/registry/pods/a", &kv));
	CHECK_STR_EQ(kv.value, "v2-longer");
	CHECK_INT_EQ(kv.create_revision, rev);
	CHECK_INT_EQ(kv.mod_revision, rev2);
	store_kv_clear(&kv);

	/* Binary values with NULs and the empty value round-trip. */
	CHECK_OK(store_create(s, "/bin", "a\0b", 3, NULL));
	CHECK_OK(store_get(s, "/bin", &kv));
	CHECK_INT_EQ(kv.value_len, 3);
	CHECK(memcmp(kv.value, "a\0b", 3) == 0);
	store_kv_clear(&kv);
	CHECK_OK(store_create(s, "/empty", NULL, 0, NULL));
	CHECK_OK(store_get(s, "/empty", &kv));
	CHECK_INT_EQ(kv.value_len, 0);
	CHECK_STR_EQ(kv.value, "");
	store_kv_clear(&kv);

	CHECK_INT_EQ(store_update(s, "/registry/pods/missing", "x", 1, 0, NULL), -ENOENT);
	CHECK_INT_EQ(store_get(s, "/registry/pods/missing", &kv), -ENOENT);

	rev = store_revision(s);
	CHECK_OK(store_delete(s, "/registry/pods/a", 0, &prev, &rev2));
	CHECK_INT_EQ(rev2, rev + 1);
	CHECK_STR_EQ(prev.value, "v2-longer");
	CHECK_INT_EQ(prev.mod_revision, rev - 2);
	store_kv_clear(&prev);
	CHECK_INT_EQ(store_get(s, "/registry/pods/a", &kv), -ENOENT);
	CHECK_INT_EQ(store_delete(s, "/registry/pods/a", 0, NULL, NULL), -ENOENT);

	/* A deleted key can be created again, with a new create_revision. */
	CHECK_OK(store_create(s, "/registry/pods/a", "v3", 2, &rev));
	CHECK_OK(store_get(s, "/registry/pods/a", &kv));
	CHECK_INT_EQ(kv.create_revision, rev);
	store_kv_clear(&kv);

	/* Bad arguments are refused before reaching the backend. */
	CHECK_INT_EQ(store_create(s, "", "x", 1, NULL), -EINVAL);
	CHECK_INT_EQ(store_create(s, NULL, "x", 1, NULL), -EINVAL);
	CHECK_INT_EQ(store_create(s, "/k", NULL, 3, NULL), -EINVAL);
	CHECK_INT_EQ(store_update(s, "/k", "x", 1, -1, NULL), -EINVAL);
	CHECK_INT_EQ(store_get(s, "", &kv), -EINVAL);
	store_close(s);
}

STORE_TEST(cas_on_mod_revision)
{
	struct store *s = open_store(url);
	int64_t r1 = 0, r2 = 0, r3 = 0;
	struct store_kv kv = { 0 };

	CHECK_OK(store_create(s, "/cas/k", "1", 1, &r1));
	CHECK_OK(store_update(s, "/cas/k", "2", 1, r1, &r2));
	/* A writer still holding r1 lost the race. */
	CHECK_INT_EQ(store_update(s, "/cas/k", "lost", 4, r1, &r3), -ESTALE);
	CHECK_INT_EQ(store_delete(s, "/cas/k", r1, NULL, NULL), -ESTALE);
	CHECK_OK(store_get(s, "/cas/k", &kv));
	CHECK_STR_EQ(kv.value, "2");
	CHECK_INT_EQ(kv.mod_revision, r2);
	store_kv_clear(&kv);
	/* Failed writes consume no revision. */
	CHECK_INT_EQ(store_revision(s), r2);
	CHECK_OK(store_delete(s, "/cas/k", r2, NULL, &r3));
	CHECK_INT_EQ(r3, r2 + 1);
	CHECK_INT_EQ(store_update(s, "/cas/k", "x", 1, r2, NULL), -ENOENT);
	store_close(s);
}

STORE_TEST(list_prefix_pagination_count)
{
	struct store *s = open_store(url);
	struct store_kv *items = NULL;
	size_t n = 0, total = 0, cnt = 0;
	int64_t rev = 0;
	bool more = false;
	char key[64], last[64] = "";

	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "/list/a/%02d", (i * 7) % 25);
		put(s, key, key);
	}
	put(s, "/list/b/x", "b");
	put(s, "/list/a", "not under /list/a/");

	/* Pages of 10, in key order, each reflecting the current revision. */
	for (int page = 0;; page++) {
		CHECK_OK(store_list(s, "/list/a/", page ? last : NULL, 10, &items, &n,
				    &rev, &more));
		CHECK_INT_EQ(rev, store_revision(s));
		for (size_t i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "/list/a/%02zu", total + i);
			CHECK_STR_EQ(items[i].key, key);
			CHECK_STR_EQ(items[i].value, key);
			CHECK(items[i].mod_revision > 0);
		}
		total += n;
		if (n)
			snprintf(last, sizeof(last), "%s", items[n - 1].key);
		store_kvs_free(items, n);
		CHECK_INT_EQ(more, total < 25);
		CHECK(page < 3);
		if (!more)
			break;
	}
	CHECK_INT_EQ(total, 25);

	CHECK_OK(store_list(s, "/list/a/0", NULL, 0, &items, &n, NULL, &more));
	CHECK_INT_EQ(n, 10);
	CHECK(!more);
	store_kvs_free(items, n);
	CHECK_OK(store_list(s, "/nothing/", NULL, 0, &items, &n, NULL, NULL));
	CHECK_INT_EQ(n, 0);
	store_kvs_free(items, n);

	CHECK_OK(store_count(s, "/list/a/", &cnt));
	CHECK_INT_EQ(cnt, 25);
	CHECK_OK(store_count(s, "/list/", &cnt));
	CHECK_INT_EQ(cnt, 27);
	CHECK_OK(store_delete(s, "/list/a/03", 0, NULL, NULL));
	CHECK_OK(store_count(s, "/list/a/", &cnt));
	CHECK_INT_EQ(cnt, 24);
	store_close(s);
}

STORE_TEST(revisions_monotonic)
{
	struct store *s = open_store(url);
	int64_t prev = store_revision(s), rev = 0, mod = 0;
	char key[32];

	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "/mono/%d", i % 4);
		if (i < 4) {
			CHECK_OK(store_create(s, key, "c", 1, &rev));
		} else if (i % 5 == 0) {
			CHECK_OK(store_delete(s, key, 0, NULL, &rev));
			CHECK_OK(store_create(s, key, "c", 1, &mod));
			CHECK_INT_EQ(mod, rev + 1);
			rev = mod;
			prev++;
		} else {
			CHECK_OK(store_update(s, key, "u", 1, 0, &rev));
		}
		CHECK_INT_EQ(rev, prev + 1);
		prev = rev;
	}
	store_close(s);
}

/* Reads events until n arrived or a 5 s deadline passed. */
static size_t watch_collect(struct store_watch *w, struct store_event *out, size_t want)
{
	size_t got = 0;

	for (unsigned long long end = now_ns() + 5000000000ULL; got < want && now_ns() < end;) {
		struct store_event *ev = NULL;
		size_t n = 0;

		CHECK_OK(store_watch_next(w, 100, &ev, &n));
		for (size_t i = 0; i < n; i++) {
			CHECK(got < want);
			out[got++] = ev[i];
		}
		free(ev);
	}
	return got;
}

static void events_clear(struct store_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		store_kv_clear(&ev[i].kv);
		store_kv_clear(&ev[i].prev);
	}
}

#define GROUP_PER 25

struct writer_arg {
	const char *url;
	int count;
	int delay_ms;
};

static void *late_writer(void *p)
{
	struct writer_arg *a = p;
	struct store *s = NULL;
	char key[32];

	if (store_open(a->url, &s) < 0)
		return (void *)1;
	for (int i = 0; i < a->count; i++) {
		usleep((useconds_t)a->delay_ms * 1000);
		snprintf(key, sizeof(key), "/w/b/other%d", i);
		if (store_create(s, key, "other", 5, NULL) < 0)
			return (void *)1;
		snprintf(key, sizeof(key), "/w/a/live%d", i);
		if (store_create(s, key, "live", 4, NULL) < 0)
			return (void *)1;
	}
	store_close(s);
	return NULL;
}

STORE_TEST(watch_history_live_prefix)
{
	struct store *s = open_store(url);
	struct store_watch *w = NULL;
	struct store_event ev[16];
	struct writer_arg arg = { .url = url, .count = 3, .delay_ms = 50 };
	int64_t base = store_revision(s), r1, r2, r3;
	pthread_t th;
	void *thr = NULL;
	size_t n;

	r1 = put(s, "/w/a/1", "one");
	put(s, "/w/b/1", "filtered");
	r2 = put(s, "/w/a/1", "uno");
	CHECK_OK(store_delete(s, "/w/a/1", 0, NULL, &r3));

	CHECK_OK(store_watch_open(s, "/w/a/", base, &w));
	n = watch_collect(w, ev, 3);
	CHECK_INT_EQ(n, 3);
	CHECK_INT_EQ(ev[0].type, STORE_EVENT_PUT);
	CHECK_INT_EQ(ev[0].revision, r1);
	CHECK_STR_EQ(ev[0].kv.value, "one");
	CHECK(ev[0].prev.key == NULL);
	CHECK_INT_EQ(ev[1].type, STORE_EVENT_PUT);
	CHECK_INT_EQ(ev[1].revision, r2);
	CHECK_STR_EQ(ev[1].kv.value, "uno");
	CHECK_INT_EQ(ev[1].kv.create_revision, r1);
	CHECK_INT_EQ(ev[1].kv.mod_revision, r2);
	CHECK_STR_EQ(ev[1].prev.value, "one");
	CHECK_INT_EQ(ev[1].prev.mod_revision, r1);
	CHECK_INT_EQ(ev[2].type, STORE_EVENT_DELETE);
	CHECK_INT_EQ(ev[2].revision, r3);
	CHECK_STR_EQ(ev[2].kv.key, "/w/a/1");
	CHECK_INT_EQ(ev[2].kv.value_len, 0);
	CHECK_STR_EQ(ev[2].prev.value, "uno");
	events_clear(ev, n);

	/* Nothing new: a timeout, not an error. */
	{
		struct store_event *none = NULL;
		size_t zero = 7;

		CHECK_INT_EQ(store_watch_next(w, 50, &none, &zero), 0);
		CHECK_INT_EQ(zero, 0);
		free(none);
	}

	/* Live events from another connection (another store handle, as a
	 * second server would have), only those under the prefix. */
	CHECK_INT_EQ(pthread_create(&th, NULL, late_writer, &arg), 0);
	n = watch_collect(w, ev, 3);
	pthread_join(th, &thr);
	CHECK(thr == NULL);
	CHECK_INT_EQ(n, 3);
	for (size_t i = 0; i < n; i++) {
		char key[32];

		snprintf(key, sizeof(key), "/w/a/live%zu", i);
		CHECK_STR_EQ(ev[i].kv.key, key);
		CHECK(i == 0 || ev[i].revision > ev[i - 1].revision);
		CHECK_INT_EQ(ev[i].type, STORE_EVENT_PUT);
	}
	events_clear(ev, n);
	store_watch_close(w);
	store_close(s);
}

STORE_TEST(watch_sees_other_process)
{
	struct store *s = open_store(url);
	struct store_watch *w = NULL;
	struct store_event ev[8];
	pid_t pid;
	int status;
	size_t n;

	CHECK_OK(store_watch_open(s, "/proc/", store_revision(s), &w));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct store *c = NULL;

		usleep(150 * 1000);
		if (store_open(url, &c) < 0 || store_create(c, "/proc/x", "child", 5, NULL) < 0 ||
		    store_update(c, "/proc/x", "child2", 6, 0, NULL) < 0)
			_exit(1);
		store_close(c);
		_exit(0);
	}
	n = watch_collect(w, ev, 2);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(ev[0].kv.value, "child");
	CHECK_STR_EQ(ev[1].kv.value, "child2");
	CHECK_STR_EQ(ev[1].prev.value, "child");
	events_clear(ev, n);
	store_watch_close(w);
	store_close(s);
}

STORE_TEST(compaction_gone)
{
	struct store *s = open_store(url);
	struct store_watch *w = NULL, *behind = NULL;
	struct store_event ev[8];
	struct store_kv kv = { 0 };
	int64_t base = store_revision(s), mid, rev;
	size_t n;

	put(s, "/c/a", "1");
	put(s, "/c/a", "2");
	put(s, "/c/gone", "x");
	CHECK_OK(store_delete(s, "/c/gone", 0, NULL, NULL));
	mid = put(s, "/c/b", "1");
	put(s, "/c/a", "3");
	rev = store_revision(s);
	/* A watcher that has not read yet, from before the compaction. */
	CHECK_OK(store_watch_open(s, "/c/", base, &behind));

	CHECK_INT_EQ(store_compact(s, rev + 10), -EINVAL);
	CHECK_OK(store_compact(s, mid));
	CHECK_INT_EQ(store_compacted_revision(s), mid);
	CHECK_OK(store_compact(s, mid)); /* again: nothing to do */
	CHECK_INT_EQ(store_compact(s, mid - 1), -ERANGE);

	CHECK_INT_EQ(store_watch_open(s, "/c/", mid - 1, &w), -ERANGE);
	CHECK_INT_EQ(store_watch_open(s, "/c/", base, &w), -ERANGE);
	{
		/* The watch opened before the compaction ends with -ERANGE where
		 * the history it needs is gone; events the store had already read
		 * into its window (etcd's hub reads on its own thread, as etcd
		 * keeps serving a synced watcher) come first, in order from base.
		 * Without -ERANGE, all six arrive. */
		struct store_event got[8];
		size_t k = 0;
		int r = 0;

		for (unsigned long long end = now_ns() + 5000000000ULL; k < 6 && now_ns() < end;) {
			struct store_event *e = NULL;
			size_t m = 0;

			r = store_watch_next(behind, 100, &e, &m);
			if (r == -ERANGE)
				break;
			CHECK_OK(r);
			for (size_t x = 0; x < m; x++) {
				CHECK(k < 8);
				got[k++] = e[x];
			}
			free(e);
		}
		CHECK(r == -ERANGE || k == 6);
		for (size_t x = 0; x < k; x++)
			CHECK_INT_EQ(got[x].revision, base + 1 + (int64_t)x);
		events_clear(got, k);
	}
	store_watch_close(behind);

	/* From the compaction revision on, history is whole, prev included. */
	CHECK_OK(store_watch_open(s, "/c/", mid, &w));
	n = watch_collect(w, ev, 1);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].revision, rev);
	CHECK_STR_EQ(ev[0].kv.value, "3");
	CHECK_STR_EQ(ev[0].prev.value, "2");
	events_clear(ev, n);
	store_watch_close(w);

	/* Live data is untouched. */
	CHECK_OK(store_get(s, "/c/a", &kv));
	CHECK_STR_EQ(kv.value, "3");
	store_kv_clear(&kv);
	CHECK_OK(store_get(s, "/c/b", &kv));
	CHECK_INT_EQ(kv.mod_revision, mid);
	store_kv_clear(&kv);
	CHECK_INT_EQ(store_get(s, "/c/gone", &kv), -ENOENT);

	/* The periodic helper: keep 1 revision of history. */
	put(s, "/c/b", "2");
	{
		int64_t to = 0;

		CHECK_OK(store_compact_keep(s, 1, &to));
		CHECK_INT_EQ(to, store_revision(s) - 1);
		CHECK_INT_EQ(store_compacted_revision(s), to);
	}
	store_close(s);
}

/* Lists as of a past revision: values, creations and deletions after it
 * are not seen; pages continue in that view; compacted: -ERANGE. */
STORE_TEST(list_at_revision)
{
	struct store *s = open_store(url);
	struct store_kv *kvs = NULL;
	size_t n = 0;
	bool more = false;
	int64_t at, first;

	first = put(s, "/l/a", "a1");
	put(s, "/l/b", "b1");
	put(s, "/l/c", "c1");
	put(s, "/l/gone-before", "x");
	CHECK_OK(store_delete(s, "/l/gone-before", 0, NULL, NULL));
	at = store_revision(s);
	put(s, "/l/a", "a2");
	CHECK_OK(store_delete(s, "/l/b", 0, NULL, NULL));
	put(s, "/l/bb", "new");
	put(s, "/l/c", "c2");

	CHECK_OK(store_list_at(s, "/l/", NULL, 2, at, &kvs, &n, &more));
	CHECK_INT_EQ(n, 2);
	CHECK(more);
	CHECK_STR_EQ(kvs[0].key, "/l/a");
	CHECK_STR_EQ(kvs[0].value, "a1");
	CHECK_INT_EQ(kvs[0].mod_revision, first);
	CHECK_INT_EQ(kvs[0].create_revision, first);
	CHECK_STR_EQ(kvs[1].key, "/l/b");
	store_kvs_free(kvs, n);
	CHECK_OK(store_list_at(s, "/l/", "/l/b", 0, at, &kvs, &n, &more));
	CHECK_INT_EQ(n, 1);
	CHECK(!more);
	CHECK_STR_EQ(kvs[0].key, "/l/c");
	CHECK_STR_EQ(kvs[0].value, "c1");
	store_kvs_free(kvs, n);
	/* 0 and the current revision: now. */
	CHECK_OK(store_list_at(s, "/l/", NULL, 0, 0, &kvs, &n, &more));
	CHECK_INT_EQ(n, 3);
	CHECK_STR_EQ(kvs[1].key, "/l/bb");
	store_kvs_free(kvs, n);
	CHECK_OK(store_list_at(s, "/l/", NULL, 0, store_revision(s), &kvs, &n, &more));
	CHECK_INT_EQ(n, 3);
	store_kvs_free(kvs, n);

	/* Compacted at the revision: still whole; beyond it: gone. */
	CHECK_OK(store_compact(s, at));
	CHECK_OK(store_list_at(s, "/l/", NULL, 0, at, &kvs, &n, &more));
	CHECK_INT_EQ(n, 3);
	CHECK_STR_EQ(kvs[2].value, "c1");
	store_kvs_free(kvs, n);
	CHECK_OK(store_compact(s, at + 1));
	CHECK_INT_EQ(store_list_at(s, "/l/", NULL, 0, at, &kvs, &n, &more), -ERANGE);
	store_close(s);
}

static void snapshot_path(char *buf, size_t size)
{
	snprintf(buf, size, "%s/snap.db", test_tmpdir());
}

STORE_TEST(snapshot_round_trip)
{
	struct store *s = open_store(url), *t;
	struct store_kv *a = NULL, *b = NULL, kv = { 0 };
	size_t na = 0, nb = 0;
	int64_t ra = 0, rb = 0, seen;
	char path[512], garbage[512];
	const char *url2;
	bool sqlite = strncmp(url, "etcd://", 7) != 0;

	for (int i = 0; i < 30; i++) {
		char key[32];

		snprintf(key, sizeof(key), "/snap/%02d", i % 12);
		put(s, key, key + 6);
	}
	CHECK_OK(store_delete(s, "/snap/05", 0, NULL, NULL));
	snapshot_path(path, sizeof(path));
	CHECK_OK(store_snapshot_save(s, path));
	CHECK(access(path, R_OK) == 0);

	seen = store_revision(s); /* the newest a client of s can have */
	url2 = store_test_other_url(url, "second");
	t = open_store(url2);
	CHECK_OK(store_snapshot_restore(t, path));
	CHECK_OK(store_list(s, "/snap/", NULL, 0, &a, &na, &ra, NULL));
	CHECK_OK(store_list(t, "/snap/", NULL, 0, &b, &nb, &rb, NULL));
	CHECK_INT_EQ(na, 11);
	CHECK_INT_EQ(nb, na);
	/* SQLite restores revisions too, the store's bumped past anything
	 * handed out before; etcd writes the keys anew. */
	if (sqlite)
		CHECK_INT_EQ(rb, seen + STORE_RESTORE_BUMP);
	CHECK(rb > seen);
	for (size_t i = 0; i < na; i++) {
		CHECK_STR_EQ(b[i].key, a[i].key);
		CHECK_STR_EQ(b[i].value, a[i].value);
		if (sqlite) {
			CHECK_INT_EQ(b[i].create_revision, a[i].create_revision);
			CHECK_INT_EQ(b[i].mod_revision, a[i].mod_revision);
		}
	}
	store_kvs_free(a, na);
	store_kvs_free(b, nb);
	/* A watch from a revision handed out before the restore (the newest
	 * the old store had, or on SQLite one it never reached) is gone: 410,
	 * never the restored keys served as news. From the restored store's
	 * own revision: fine. */
	{
		struct store_watch *w = NULL;

		CHECK_INT_EQ(store_watch_open(t, "/snap/", seen, &w), -ERANGE);
		if (sqlite)
			CHECK_INT_EQ(store_watch_open(t, "/snap/", seen + 100, &w), -ERANGE);
		CHECK_OK(store_watch_open(t, "/snap/", rb, &w));
		store_watch_close(w);
	}
	/* The restored store goes on from there. */
	rb = store_revision(t);
	CHECK_INT_EQ(put(t, "/snap/new", "n"), rb + 1);
	CHECK_OK(store_get(t, "/snap/00", &kv));
	store_kv_clear(&kv);

	/* Only into an empty store; only from a snapshot. */
	CHECK_INT_EQ(store_snapshot_restore(t, path), -ENOTEMPTY);
	snprintf(garbage, sizeof(garbage), "%s/garbage", test_tmpdir());
	{
		FILE *f = fopen(garbage, "w");

		CHECK(f != NULL);
		fputs("this is not a snapshot, not even close; padding padding padding", f);
		fclose(f);
	}
	store_close(t);
	t = open_store(store_test_other_url(url, "third"));
	CHECK(store_snapshot_restore(t, garbage) < 0);
	CHECK_INT_EQ(store_count(t, "", &nb), 0);
	CHECK_INT_EQ(nb, 0);
	store_close(t);
	store_close(s);
}

STORE_TEST(list_larger_than_one_response)
{
	/* 2,100 values of 8 KiB: more than one etcd page (1,000 keys) and
	 * more than one gRPC message may carry (16 MiB); the list is still
	 * whole, ordered, and at one revision. */
	enum { N = 2100, VLEN = 8192 };
	struct store *s = open_store(url);
	struct store_kv *items = NULL;
	size_t n = 0;
	int64_t rev = 0;
	bool more = true;
	char *value = malloc(VLEN);
	char key[64];

	CHECK(value != NULL);
	memset(value, 'v', VLEN);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/big/%05d", i);
		CHECK_OK(store_create(s, key, value, VLEN, NULL));
	}
	CHECK_OK(store_list(s, "/big/", NULL, 0, &items, &n, &rev, &more));
	CHECK_INT_EQ(n, N);
	CHECK(!more);
	CHECK_INT_EQ(rev, store_revision(s));
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "/big/%05zu", i);
		CHECK_STR_EQ(items[i].key, key);
		CHECK_INT_EQ(items[i].value_len, VLEN);
	}
	store_kvs_free(items, n);
	/* A limit across a page boundary. */
	CHECK_OK(store_list(s, "/big/", "/big/00500", 1200, &items, &n, NULL, &more));
	CHECK_INT_EQ(n, 1200);
	CHECK(more);
	CHECK_STR_EQ(items[0].key, "/big/00501");
	CHECK_STR_EQ(items[n - 1].key, "/big/01700");
	store_kvs_free(items, n);
	free(value);
	store_close(s);
}

struct rw_arg {
	struct store *s;
	int id;
	int rounds;
	int bad;
};

static void *rw_writer(void *p)
{
	struct rw_arg *a = p;
	char key[32], val[32];

	snprintf(key, sizeof(key), "/rw/%d", a->id);
	for (int i = 1; i <= a->rounds; i++) {
		snprintf(val, sizeof(val), "%d", i);
		if (store_update(a->s, key, val, strlen(val), 0, NULL) < 0)
			a->bad++;
	}
	return NULL;
}

/* Lists while the writers run: every list is one consistent view (no
 * item newer than the list's revision) and no key goes back in time. */
static void *rw_reader(void *p)
{
	struct rw_arg *a = p;
	long last[2] = { 0, 0 };

	for (int i = 0; i < a->rounds; i++) {
		struct store_kv *items = NULL, kv = { 0 };
		size_t n = 0;
		int64_t rev = 0;

		if (store_list(a->s, "/rw/", NULL, 0, &items, &n, &rev, NULL) < 0 || n != 2) {
			a->bad++;
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			long v = strtol(items[j].value, NULL, 10);

			if (items[j].mod_revision > rev || v < last[j])
				a->bad++;
			last[j] = v;
		}
		store_kvs_free(items, n);
		if (store_get(a->s, "/rw/0", &kv) < 0 || strtol(kv.value, NULL, 10) < last[0])
			a->bad++;
		store_kv_clear(&kv);
	}
	return NULL;
}

STORE_TEST(concurrent_reads_see_consistent_views)
{
	struct store *s = open_store(url);
	struct rw_arg args[4];
	pthread_t th[4];

	put(s, "/rw/0", "0");
	put(s, "/rw/1", "0");
	for (int i = 0; i < 4; i++) {
		args[i] = (struct rw_arg){ .s = s, .id = i % 2, .rounds = 60 };
		CHECK_INT_EQ(pthread_create(&th[i], NULL, i < 2 ? rw_writer : rw_reader, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT_EQ(args[i].bad, 0);
	}
	store_close(s);
}

struct thread_arg {
	const char *url;
	struct store *shared;
	int id, count;
	int64_t *revs;
};

static void *thread_writer(void *p)
{
	struct thread_arg *a = p;
	char key[32];

	for (int i = 0; i < a->count; i++) {
		snprintf(key, sizeof(key), "/t/%d/%d", a->id, i);
		if (store_create(a->shared, key, key, strlen(key), &a->revs[i]) < 0)
			return (void *)1;
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Every revision in base+1 .. base+n exactly once. */
static void check_contiguous(int64_t *revs, size_t n, int64_t base)
{
	qsort(revs, n, sizeof(*revs), cmp_i64);
	for (size_t i = 0; i < n; i++)
		CHECK_INT_EQ(revs[i], base + 1 + (int64_t)i);
}

STORE_TEST(concurrent_threads_unique_revisions)
{
	enum { THREADS = 4, PER = 40 };
	struct store *s = open_store(url);
	struct thread_arg args[THREADS];
	int64_t revs[THREADS * PER];
	pthread_t th[THREADS];
	int64_t base = store_revision(s);
	size_t cnt = 0;

	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct thread_arg){ .shared = s, .id = i, .count = PER,
					       .revs = &revs[i * PER] };
		CHECK_INT_EQ(pthread_create(&th[i], NULL, thread_writer, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *ret = NULL;

		pthread_join(th[i], &ret);
		CHECK(ret == NULL);
	}
	check_contiguous(revs, THREADS * PER, base);
	CHECK_INT_EQ(store_revision(s), base + THREADS * PER);
	CHECK_OK(store_count(s, "/t/", &cnt));
	CHECK_INT_EQ(cnt, THREADS * PER);
	store_close(s);
}

/* A writer of concurrent_writers_group_commit: what it wrote (revision,
 * key) and what went against the rules; no CHECK off the main thread. */
struct group_arg {
	struct store *s;
	int id;
	size_t n;
	int64_t revs[GROUP_PER * 4 + 4];
	char keys[GROUP_PER * 4 + 4][24];
	int bad; /* the line of the first broken rule, 0 when none */
};

static void group_record(struct group_arg *a, const char *key, int64_t rev)
{
	a->revs[a->n] = rev;
	snprintf(a->keys[a->n++], sizeof(a->keys[0]), "%s", key);
}

#define GROUP_EXPECT(a, cond)                                                  \
	do {                                                                   \
		if (!(cond) && !(a)->bad)                                      \
			(a)->bad = __LINE__;                                   \
	} while (0)

/* Per writer: races for GROUP_PER shared keys (one create wins each),
 * GROUP_PER compare-and-swap increments of one shared counter (retried on
 * -ESTALE), and on a key of its own an update, a stale update and a stale
 * delete (both -ESTALE) and a delete. */
static void *group_writer(void *p)
{
	struct group_arg *a = p;
	struct store_kv kv = { 0 };
	char key[24], val[24];
	int64_t rev, rev1, rev2;
	int r;

	for (int i = 0; i < GROUP_PER; i++) {
		snprintf(key, sizeof(key), "/g/race/%d", i);
		r = store_create(a->s, key, key, strlen(key), &rev);
		GROUP_EXPECT(a, r == 0 || r == -EEXIST);
		if (r == 0)
			group_record(a, key, rev);
	}
	for (int i = 0; i < GROUP_PER; i++) {
		do {
			GROUP_EXPECT(a, store_get(a->s, "/g/counter", &kv) == 0);
			snprintf(val, sizeof(val), "%lld", atoll(kv.value ? kv.value : "0") + 1);
			r = store_update(a->s, "/g/counter", val, strlen(val), kv.mod_revision, &rev);
			store_kv_clear(&kv);
			GROUP_EXPECT(a, r == 0 || r == -ESTALE);
		} while (r == -ESTALE && !a->bad);
		if (r == 0)
			group_record(a, "/g/counter", rev);
	}
	snprintf(key, sizeof(key), "/g/own/%d", a->id);
	GROUP_EXPECT(a, store_create(a->s, key, "1", 1, &rev1) == 0);
	group_record(a, key, rev1);
	GROUP_EXPECT(a, store_update(a->s, key, "2", 1, rev1, &rev2) == 0);
	group_record(a, key, rev2);
	GROUP_EXPECT(a, store_update(a->s, key, "3", 1, rev1, &rev) == -ESTALE);
	GROUP_EXPECT(a, store_delete(a->s, key, rev1, NULL, &rev) == -ESTALE);
	GROUP_EXPECT(a, store_delete(a->s, key, rev2, &kv, &rev) == 0);
	GROUP_EXPECT(a, kv.value && streq(kv.value, "2") && kv.mod_revision == rev2);
	store_kv_clear(&kv);
	group_record(a, key, rev);
	return NULL;
}

/* Many writers at once (SQLite commits them in groups, one transaction
 * and one fsync each): every create race has one winner, no CAS increment
 * is lost, stale writes fail alone, and the revisions handed out are
 * gapless and are the ones the watch delivers, in order, with their keys. */
STORE_TEST(concurrent_writers_group_commit)
{
	enum { THREADS = 16, TOTAL = GROUP_PER * (THREADS + 1) + THREADS * 3 };
	struct store *s = open_store(url);
	static struct group_arg args[THREADS];
	struct store_event *ev = calloc(TOTAL, sizeof(*ev));
	int64_t base, revs[TOTAL];
	const char *key_of[TOTAL];
	struct store_watch *w = NULL;
	struct store_kv kv = { 0 };
	pthread_t th[THREADS];
	size_t n = 0, got;

	CHECK(ev != NULL);
	put(s, "/g/counter", "0");
	base = store_revision(s);
	CHECK_OK(store_watch_open(s, "/g/", base, &w));
	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct group_arg){ .s = s, .id = i };
		CHECK_INT_EQ(pthread_create(&th[i], NULL, group_writer, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		CHECK_INT_EQ(args[i].bad, 0);
		for (size_t k = 0; k < args[i].n; k++) {
			CHECK(n < TOTAL);
			CHECK(args[i].revs[k] > base && args[i].revs[k] <= base + TOTAL);
			key_of[args[i].revs[k] - base - 1] = args[i].keys[k];
			revs[n++] = args[i].revs[k];
		}
	}
	CHECK_INT_EQ(n, TOTAL);
	check_contiguous(revs, n, base);
	CHECK_INT_EQ(store_revision(s), base + TOTAL);
	CHECK_OK(store_get(s, "/g/counter", &kv));
	CHECK_INT_EQ(atoll(kv.value), THREADS * GROUP_PER);
	store_kv_clear(&kv);
	got = watch_collect(w, ev, TOTAL);
	CHECK_INT_EQ(got, TOTAL);
	for (size_t i = 0; i < got; i++) {
		CHECK_INT_EQ(ev[i].revision, base + 1 + (int64_t)i);
		CHECK_STR_EQ(ev[i].kv.key, key_of[i]);
	}
	events_clear(ev, got);
	free(ev);
	store_watch_close(w);
	store_close(s);
}

STORE_TEST(concurrent_processes_unique_revisions)
{
	enum { PROCS = 3, PER = 30 };
	struct store *s = open_store(url);
	int64_t base = store_revision(s), revs[PROCS * PER];
	struct store_watch *w = NULL;
	struct store_event *ev = NULL;
	int fds[2];
	pid_t pids[PROCS];
	size_t got = 0, n = 0, seen = 0;
	int64_t last = base;

	CHECK_OK(store_watch_open(s, "/p/", base, &w));
	CHECK(pipe(fds) == 0);
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		CHECK(pids[p] >= 0);
		if (pids[p] == 0) {
			struct store *c = NULL;
			char key[32];
			int64_t rev;

			close(fds[0]);
			if (store_open(url, &c) < 0)
				_exit(1);
			for (int i = 0; i < PER; i++) {
				snprintf(key, sizeof(key), "/p/%d/%d", p, i);
				if (store_create(c, key, "v", 1, &rev) < 0 ||
				    write(fds[1], &rev, sizeof(rev)) != sizeof(rev))
					_exit(1);
			}
			store_close(c);
			_exit(0);
		}
	}
	close(fds[1]);
	while (got < PROCS * PER && read(fds[0], &revs[got], sizeof(revs[0])) == sizeof(revs[0]))
		got++;
	close(fds[0]);
	for (int p = 0; p < PROCS; p++) {
		int status;

		waitpid(pids[p], &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_INT_EQ(got, PROCS * PER);
	check_contiguous(revs, got, base);
	/* The watcher saw every write once, in revision order. */
	for (unsigned long long end = now_ns() + 10000000000ULL; seen < PROCS * PER && now_ns() < end;) {
		CHECK_OK(store_watch_next(w, 100, &ev, &n));
		for (size_t i = 0; i < n; i++) {
			CHECK_INT_EQ(ev[i].revision, last + 1);
			last = ev[i].revision;
		}
		seen += n;
		store_events_free(ev, n);
	}
	CHECK_INT_EQ(seen, PROCS * PER);
	store_watch_close(w);
	store_close(s);
}

STORE_TEST(acknowledged_writes_survive_kill)
{
	struct store *s;
	int fds[2];
	pid_t pid;
	int64_t acked[4096];
	size_t n = 0;
	int status;

	CHECK(pipe(fds) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct store *c = NULL;
		char key[32];

		close(fds[0]);
		if (store_open(url, &c) < 0)
			_exit(1);
		for (int64_t i = 0;; i++) {
			snprintf(key, sizeof(key), "/dur/%" PRId64, i);
			if (store_create(c, key, key, strlen(key), NULL) < 0)
				_exit(1);
			/* Acknowledged: store_create returned. */
			if (write(fds[1], &i, sizeof(i)) != sizeof(i))
				_exit(1);
		}
	}
	close(fds[1]);
	while (n < 60 && read(fds[0], &acked[n], sizeof(acked[0])) == sizeof(acked[0]))
		n++;
	CHECK_INT_EQ(kill(pid, SIGKILL), 0);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));
	while (n < ARRAY_SIZE(acked) &&
	       read(fds[0], &acked[n], sizeof(acked[0])) == sizeof(acked[0]))
		n++;
	close(fds[0]);
	CHECK(n >= 60);

	s = open_store(url);
	for (size_t i = 0; i < n; i++) {
		struct store_kv kv = { 0 };
		char key[32];

		snprintf(key, sizeof(key), "/dur/%" PRId64, acked[i]);
		CHECK_OK(store_get(s, key, &kv));
		CHECK_STR_EQ(kv.value, key);
		store_kv_clear(&kv);
	}
	/* The store is whole and goes on after the crash. */
	{
		size_t cnt = 0;
		int64_t rev = store_revision(s), next = 0;

		CHECK_OK(store_count(s, "/dur/", &cnt));
		CHECK(cnt >= n && cnt <= n + 1); /* + the write the kill cut short */
		CHECK_OK(store_create(s, "/after-crash", "x", 1, &next));
		CHECK_INT_EQ(next, rev + 1);
	}
	store_close(s);
}

STORE_TEST(thousand_watchers_one_fanout)
{
	enum { WATCHERS = 1000 };
	struct store *s = open_store(url);
	struct store_watch **w = calloc(WATCHERS, sizeof(*w));
	int64_t base = store_revision(s), rev;
	unsigned long long t0, t1;

	CHECK(w != NULL);
	for (int i = 0; i < WATCHERS; i++)
		CHECK_OK(store_watch_open(s, i % 2 ? "/fan/odd/" : "/fan/", base, &w[i]));
	rev = put(s, "/fan/odd/x", "v");
	put(s, "/fan/even", "v");
	t0 = now_ns();
	for (int i = 0; i < WATCHERS; i++) {
		struct store_event *ev = NULL;
		size_t n = 0, want = i % 2 ? 1 : 2;
		size_t got = 0;

		for (unsigned long long end = now_ns() + 5000000000ULL; got < want && now_ns() < end;) {
			CHECK_OK(store_watch_next(w[i], 200, &ev, &n));
			CHECK(got + n <= want);
			if (n && got == 0)
				CHECK_INT_EQ(ev[0].revision, rev);
			got += n;
			store_events_free(ev, n);
		}
		CHECK_INT_EQ(got, want);
	}
	t1 = now_ns();
	/* SQLite delivers from memory, far below a query per watcher per
	 * write; etcd has a stream per watcher, so only a loose bound. */
	CHECK((t1 - t0) / 1000000ULL < (strncmp(url, "etcd://", 7) ? 2000 : 20000));
	for (int i = 0; i < WATCHERS; i++)
		store_watch_close(w[i]);
	free(w);
	store_close(s);
}

/* Every event under prefix with revision in (from, to], in order. */
static void expect_range(struct store_watch *w, int64_t from, int64_t to)
{
	int64_t last = from;

	for (unsigned long long end = now_ns() + 5000000000ULL; last < to && now_ns() < end;) {
		struct store_event *ev = NULL;
		size_t n = 0;

		CHECK_OK(store_watch_next(w, 100, &ev, &n));
		for (size_t i = 0; i < n; i++) {
			CHECK_INT_EQ(ev[i].revision, last + 1);
			last = ev[i].revision;
		}
		store_events_free(ev, n);
	}
	CHECK_INT_EQ(last, to);
}

STORE_TEST(watcher_behind_ring_catches_up)
{
	/* More writes than the fan-out's ring holds: the watcher opened
	 * first falls behind the ring and must still get all of them, in
	 * order (SQLite: from the log table; etcd: a stream of its own). */
	struct store *s = open_store(url);
	struct store_watch *w = NULL;
	int64_t base = store_revision(s);
	const int total = 200;
	char key[32];

	CHECK_OK(store_set_ring_size(s, 16));
	CHECK_OK(store_watch_open(s, "/ring/", base, &w));
	CHECK_INT_EQ(store_set_ring_size(s, 8), -EBUSY);
	for (int i = 0; i < total; i++) {
		snprintf(key, sizeof(key), "/ring/%d", i % 50);
		put(s, key, "v");
		/* Half way: drain, so the rest comes from the ring. */
		if (i == total / 2)
			expect_range(w, base, base + i + 1);
	}
	expect_range(w, base + total / 2 + 1, base + total);
	store_watch_close(w);
	store_close(s);
}

STORE_TEST(watch_window_resumes_until_compacted)
{
	/* The watch window (control/store_ring.c) holds the newest 8 events.
	 * A watch the window covers resumes from it, even past a compaction
	 * (it kept up); one older than the window resumes from the history
	 * until that is compacted, then it is gone (-ERANGE: the API's 410),
	 * whether it was already open or opens after. */
	struct store *s = open_store(url);
	struct store_watch *head = NULL, *slow = NULL, *old = NULL, *inside = NULL, *w = NULL;
	int64_t base = store_revision(s);
	char key[32];

	CHECK_OK(store_set_ring_size(s, 8));
	CHECK_OK(store_watch_open(s, "/win/", base, &head));
	CHECK_OK(store_watch_open(s, "/win/", base, &slow));
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "/win/%d", i % 5);
		put(s, key, "v");
	}
	expect_range(head, base, base + 20); /* the window: (base + 12, base + 20] */
	CHECK_OK(store_watch_open(s, "/win/", base + 2, &old));
	expect_range(old, base + 2, base + 20);
	CHECK_OK(store_watch_open(s, "/win/", base + 14, &inside));

	CHECK_OK(store_compact(s, base + 16));
	expect_range(inside, base + 14, base + 20);
	{
		struct store_event *ev = NULL;
		size_t n = 0;

		CHECK_INT_EQ(store_watch_next(slow, 100, &ev, &n), -ERANGE);
		CHECK_INT_EQ(n, 0);
	}
	CHECK_INT_EQ(store_watch_open(s, "/win/", base + 10, &w), -ERANGE);
	CHECK_OK(store_watch_open(s, "/win/", base + 16, &w));
	expect_range(w, base + 16, base + 20);
	put(s, "/win/new", "v");
	expect_range(head, base + 20, base + 21);
	expect_range(w, base + 20, base + 21);
	store_watch_close(w);
	store_watch_close(inside);
	store_watch_close(old);
	store_watch_close(slow);
	store_watch_close(head);
	store_close(s);
}

STORE_TEST(watchers_from_different_revisions)
{
	/* The first watch decides where the shared fan-out starts; watches
	 * from older and newer revisions still get exactly their events. */
	struct store *s = open_store(url);
	struct store_watch *mid_w = NULL, *old_w = NULL, *now_w = NULL;
	int64_t base = store_revision(s), mid, now, end;
	char key[32];

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "/rev/%d", i);
		put(s, key, "a");
	}
	mid = base + 5;
	now = store_revision(s);
	CHECK_OK(store_watch_open(s, "/rev/", mid, &mid_w));
	CHECK_OK(store_watch_open(s, "/rev/", base, &old_w));
	CHECK_OK(store_watch_open(s, "/rev/", now, &now_w));
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "/rev/%d", i);
		put(s, key, "b");
	}
	end = store_revision(s);
	expect_range(now_w, now, end);
	expect_range(mid_w, mid, end);
	expect_range(old_w, base, end);
	store_watch_close(old_w);
	store_watch_close(mid_w);
	store_watch_close(now_w);
	store_close(s);
}

TEST(sqlite_watch_without_waiting_sees_other_process)
{
	/* A caller that only ever asks with timeout 0 still gets another
	 * process's writes (the poll runs when due, not only when waiting). */
	struct store *s = open_store(store_test_sqlite_url());
	struct store_watch *w = NULL;
	unsigned long long end;
	size_t got = 0;
	pid_t pid;
	int status;

	CHECK_OK(store_watch_open(s, "/nowait/", store_revision(s), &w));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct store *c = NULL;

		if (store_open(store_test_sqlite_url(), &c) < 0 ||
		    store_create(c, "/nowait/x", "v", 1, NULL) < 0)
			_exit(1);
		store_close(c);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (end = now_ns() + 3000000000ULL; !got && now_ns() < end;) {
		struct store_event *ev = NULL;
		size_t n = 0;

		CHECK_OK(store_watch_next(w, 0, &ev, &n));
		if (n)
			CHECK_STR_EQ(ev[0].kv.key, "/nowait/x");
		got += n;
		store_events_free(ev, n);
		usleep(20 * 1000);
	}
	CHECK_INT_EQ(got, 1);
	store_watch_close(w);
	store_close(s);
}

TEST(open_rejects_bad_urls_and_foreign_files)
{
	struct store *s = NULL;
	char path[512];
	FILE *f;

	CHECK_INT_EQ(store_open("redis://localhost:1", &s), -EPROTONOSUPPORT);
	CHECK_INT_EQ(store_open("", &s), -EINVAL);
	CHECK_INT_EQ(store_open("sqlite://", &s), -EINVAL);
	CHECK_INT_EQ(store_open("etcd://", &s), -EINVAL);
	CHECK_INT_EQ(store_open("etcd://no-port", &s), -EINVAL);
	CHECK_INT_EQ(store_open("etcd://127.0.0.1:2379,http://x:1", &s), -EINVAL);
	/* Nobody listens on loopback port 1: a clear failure, soon. */
	{
		unsigned long long t0 = now_ns();

		CHECK_INT_EQ(store_open("etcd://127.0.0.1:1", &s), -EIO);
		CHECK((now_ns() - t0) / 1000000ULL < 5000);
	}
	snprintf(path, sizeof(path), "%s/not-a-db", test_tmpdir());
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("plain text, not a database file at all, long enough to be read.....\n", f);
	fclose(f);
	CHECK_INT_EQ(store_open(path, &s), -EINVAL);
	snprintf(path, sizeof(path), "%s/no/such/dir/x.db", test_tmpdir());
	CHECK(store_open(path, &s) < 0);
	/* Both spellings of a SQLite file open the same store. */
	snprintf(path, sizeof(path), "%s/same.db", test_tmpdir());
	CHECK_OK(store_open(path, &s));
	put(s, "/x", "y");
	store_close(s);
	{
		char url[600];
		struct store_kv kv = { 0 };

		snprintf(url, sizeof(url), "sqlite://%s", path);
		CHECK_OK(store_open(url, &s));
		CHECK_STR_EQ(store_backend_name(s), "sqlite");
		CHECK_OK(store_get(s, "/x", &kv));
		store_kv_clear(&kv);
		store_close(s);
	}
}

/* A file made before kv became a rowid table (kv WITHOUT ROWID, the same
 * schema version) opens, and reads, lists, writes and watches work on it. */
TEST(sqlite_file_with_earlier_kv_layout)
{
	static const char old_schema[] =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA application_id=1936418406; PRAGMA user_version=1;"
		"CREATE TABLE log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, value BLOB,"
		" create_rev INTEGER NOT NULL, prev_rev INTEGER NOT NULL, deleted INTEGER NOT NULL);"
		"CREATE INDEX log_key_rev ON log (key, rev);"
		"CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
		" create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;"
		"CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 0), rev INTEGER NOT NULL,"
		" compact_rev INTEGER NOT NULL);"
		"INSERT INTO meta VALUES (0, 1, 0);"
		"INSERT INTO log VALUES (1, '/old/a', 'A', 1, 0, 0);"
		"INSERT INTO kv VALUES ('/old/a', 'A', 1, 1);";
	const char *url = store_test_sqlite_url();
	const char *path = url + strlen("sqlite://");
	struct store_kv kv = { 0 }, *items = NULL;
	struct store_event ev[2];
	struct store_watch *w = NULL;
	struct store *s;
	sqlite3 *db = NULL;
	int64_t rev = 0;
	size_t n = 0;
	bool more;

	CHECK_INT_EQ(STORE_SQLITE_APP_ID, 1936418406);
	CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_exec(db, old_schema, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = open_store(url);
	CHECK_OK(store_get(s, "/old/a", &kv));
	CHECK_STR_EQ(kv.value, "A");
	store_kv_clear(&kv);
	CHECK_OK(store_watch_open(s, "/old/", 1, &w));
	CHECK_OK(store_create(s, "/old/b", "B", 1, &rev));
	CHECK_INT_EQ(rev, 2);
	CHECK_OK(store_update(s, "/old/a", "A2", 2, 1, &rev));
	CHECK_INT_EQ(store_update(s, "/old/a", "A3", 2, 1, &rev), -ESTALE);
	CHECK_OK(store_list(s, "/old/", NULL, 0, &items, &n, &rev, &more));
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(items[0].value, "A2");
	CHECK_STR_EQ(items[1].key, "/old/b");
	store_kvs_free(items, n);
	CHECK_INT_EQ(watch_collect(w, ev, 2), 2);
	CHECK_INT_EQ(ev[0].revision, 2);
	CHECK_INT_EQ(ev[1].revision, 3);
	CHECK_STR_EQ(ev[1].prev.value, "A");
	events_clear(ev, 2);
	store_watch_close(w);
	store_close(s);
}
