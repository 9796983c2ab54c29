/* The store's front door: picks the backend from the URL, checks every
 * argument once (so backends see only well-formed calls), and holds the
 * helpers that every backend shares. */
#include "control/store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <string.h>
#include <unistd.h>

#include "lib/prom.h"
#include "lib/util.h"

#define STORE_SQLITE_SCHEME "sqlite://"
#define STORE_ETCD_SCHEME "etcd://"

int store_open(const char *url, struct store **out)
{
	const char *sep;

	if (!url || !*url || !out)
		return -EINVAL;
	if (strncmp(url, STORE_SQLITE_SCHEME, strlen(STORE_SQLITE_SCHEME)) == 0) {
		url += strlen(STORE_SQLITE_SCHEME);
		if (!*url)
			return -EINVAL;
		return store_sqlite_open(url, out);
	}
	if (strncmp(url, STORE_ETCD_SCHEME, strlen(STORE_ETCD_SCHEME)) == 0) {
		url += strlen(STORE_ETCD_SCHEME);
		if (!*url)
			return -EINVAL;
		return store_etcd_open(url, out);
	}
	/* Any other "scheme://" is a mistake, not a file name. */
	sep = strstr(url, "://");
	if (sep && !memchr(url, '/', (size_t)(sep - url)))
		return -EPROTONOSUPPORT;
	return store_sqlite_open(url, out);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int64_t store_revision(struct store *s)
{
	if (!s)
		return -EINVAL;
	return s->ops->revision(s);
}

static bool key_ok(const char *key)
{
	return key && *key;
}

void store_set_metrics(struct store *s, struct prom_registry *reg)
{
	s->latency = prom_histogram_new(reg, "etcd_request_duration_seconds",
					"Store request latency in seconds for each operation and object type.",
					(const char *const[]){ "operation", "type", NULL },
					prom_buckets_apiserver, prom_n_buckets_apiserver);
}

/* Records an operation on key (or prefix) that began at start; returns r. */
static int timed(struct store *s, const char *op, const char *key, unsigned long long start, int r)
{
	char type[64] = "";
	const char *p;

	if (!s->latency)
		return r;
	/* /registry/GROUP/RESOURCE/...: RESOURCE */
	if (key && strncmp(key, "/registry/", 10) == 0 && (p = strchr(key + 10, '/'))) {
		size_t n = strcspn(p + 1, "/");

		if (n < sizeof(type)) {
			memcpy(type, p + 1, n);
			type[n] = 0;
		}
	}
	prom_observe_since(prom_with(s->latency, op, type), start);
	return r;
}

int store_get(struct store *s, const char *key, struct store_kv *out)
{
	unsigned long long start;

	if (!s || !key_ok(key) || !out)
		return -EINVAL;
	start = now_ns();
	return timed(s, "get", key, start, s->ops->get(s, key, out));
}

int store_list(struct store *s, const char *prefix, const char *start_after,
	       size_t limit, struct store_kv **items, size_t *n,
	       int64_t *revision, bool *more)
{
	unsigned long long start;

	if (!s || !items || !n)
		return -EINVAL;
	if (!prefix)
		prefix = "";
	if (start_after && !*start_after)
		start_after = NULL;
	start = now_ns();
	return timed(s, "list", prefix, start,
		     s->ops->list(s, prefix, start_after, limit, items, n, revision, more));
}

int store_list_at(struct store *s, const char *prefix, const char *start_after,
		  size_t limit, int64_t at, struct store_kv **items, size_t *n, bool *more)
{
	unsigned long long start;

	if (!s || !items || !n || at < 0)
		return -EINVAL;
	if (start_after && !*start_after)
		start_after = NULL;
	start = now_ns();
	return timed(s, "list", prefix, start,
		     s->ops->list_at(s, prefix ? prefix : "", start_after, limit, at, items, n, more));
}

int store_count(struct store *s, const char *prefix, size_t *n)
{
	unsigned long long start;

	if (!s || !n)
		return -EINVAL;
	start = now_ns();
	return timed(s, "count", prefix, start, s->ops->count(s, prefix ? prefix : "", n));
}

int store_create(struct store *s, const char *key, const char *value,
		 size_t len, int64_t *revision)
{
	unsigned long long start;

	if (!s || !key_ok(key) || (!value && len))
		return -EINVAL;
	start = now_ns();
	return timed(s, "create", key, start,
		     s->ops->create(s, key, value ? value : "", len, revision));
}

int store_update(struct store *s, const char *key, const char *value,
		 size_t len, int64_t expect_mod_revision, int64_t *revision)
{
	unsigned long long start;

	if (!s || !key_ok(key) || (!value && len) || expect_mod_revision < 0)
		return -EINVAL;
	start = now_ns();
	return timed(s, "update", key, start,
		     s->ops->update(s, key, value ? value : "", len, expect_mod_revision, revision));
}

int store_delete(struct store *s, const char *key, int64_t expect_mod_revision,
		 struct store_kv *prev, int64_t *revision)
{
	unsigned long long start;

	if (!s || !key_ok(key) || expect_mod_revision < 0)
		return -EINVAL;
	start = now_ns();
	return timed(s, "delete", key, start,
		     s->ops->del(s, key, expect_mod_revision, prev, revision));
}

int store_watch_open(struct store *s, const char *prefix, int64_t after_revision,
		     struct store_watch **out)
{
	if (!s || !out || after_revision < 0)
		return -EINVAL;
	return s->ops->watch_open(s, prefix ? prefix : "", after_revision, out);
}

int store_watch_next(struct store_watch *w, int timeout_ms,
		     struct store_event **events, size_t *n)
{
	if (!w || !events || !n)
		return -EINVAL;
	return w->store->ops->watch_next(w, timeout_ms, events, n);
}

void store_watch_close(struct store_watch *w)
{
	if (w)
		w->store->ops->watch_close(w);
}

int store_compact(struct store *s, int64_t revision)
{
	if (!s || revision < 0)
		return -EINVAL;
	return s->ops->compact(s, revision);
}

int64_t store_compacted_revision(struct store *s)
{
	if (!s)
		return -EINVAL;
	return s->ops->compacted_revision(s);
}

int store_compact_keep(struct store *s, int64_t keep, int64_t *compacted)
{
	int64_t rev, target;
	int r;

	if (!s || keep < 0)
		return -EINVAL;
	rev = store_revision(s);
	if (rev < 0)
		return (int)rev;
	target = rev - keep;
	if (target <= store_compacted_revision(s)) {
		if (compacted)
			*compacted = 0;
		return 0;
	}
	r = store_compact(s, target);
	if (r < 0)
		return r;
	if (compacted)
		*compacted = target;
	return 0;
}

int store_snapshot_save(struct store *s, const char *path)
{
	if (!s || !path || !*path)
		return -EINVAL;
	return s->ops->snapshot_save(s, path);
}

int store_snapshot_restore(struct store *s, const char *path)
{
	int64_t rev;
	int r;

	if (!s || !path || !*path)
		return -EINVAL;
	r = s->ops->snapshot_restore(s, path);
	/* History from before the restore is not the restored store's: watches
	 * from it must start over. (SQLite's restore bumps and compacts.) */
	rev = store_revision(s);
	if (r == 0 && rev > store_compacted_revision(s))
		r = store_compact(s, rev);
	return r;
}

/* The SQLite file a URL names, NULL for another backend. */
static const char *sqlite_path(const char *url)
{
	if (strncmp(url, STORE_SQLITE_SCHEME, strlen(STORE_SQLITE_SCHEME)) == 0)
		return url + strlen(STORE_SQLITE_SCHEME);
	if (strncmp(url, STORE_ETCD_SCHEME, strlen(STORE_ETCD_SCHEME)) == 0)
		return NULL;
	return url;
}

/* Removes a SQLite store file with its WAL and shared-memory files. */
static int sqlite_remove(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	char buf[4096];

	for (size_t i = 0; i < ARRAY_SIZE(suffix); i++) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s%s", path, suffix[i]) >= sizeof(buf))
			return -ENAMETOOLONG;
		if (unlink(buf) < 0 && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* Deletes every key of a store, a page at a time. */
static int store_delete_all(struct store *s)
{
	for (;;) {
		struct store_kv *kvs = NULL;
		size_t n = 0;
		bool more = false;
		int r = store_list(s, "", NULL, 500, &kvs, &n, NULL, &more);

		for (size_t i = 0; r == 0 && i < n; i++) {
			r = store_delete(s, kvs[i].key, 0, NULL, NULL);
			if (r == -ENOENT)
				r = 0;
		}
		store_kvs_free(kvs, n);
		if (r < 0)
			return r;
		if (!n)
			return 0;
	}
}

int store_snapshot_replace(const char *url, const char *path, const char *backup,
			   int64_t *revision, bool *backed_up)
{
	const char *file;
	struct store *s = NULL;
	struct store_kv *kvs = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int lock = -1;
	size_t n = 0;
	int64_t old_rev, snap_rev = 0;
	int r;

	if (!url || !*url || !path || !*path)
		return -EINVAL;
	if (access(path, R_OK) < 0)
		return -errno;
	if (backed_up)
		*backed_up = false;
	file = sqlite_path(url);
	if (file) {
		/* Held (shared) by every server on it: then it is not ours. */
		lock = open(file, O_RDONLY | O_CLOEXEC);
		if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0)
			return errno == EWOULDBLOCK ? -EBUSY : -errno;
	}
	r = store_open(url, &s);
	if (r < 0)
		return r;
	old_rev = store_revision(s);
	if (old_rev < 0) {
		r = (int)old_rev;
		goto out;
	}
	if (old_rev > 0 && backup) {
		r = store_snapshot_save(s, backup);
		if (r < 0)
			goto out;
		if (backed_up)
			*backed_up = true;
	}
	if (!file) {
		/* etcd: empty the namespace, then write the keys again. */
		r = store_delete_all(s);
		if (r == 0)
			r = store_snapshot_restore(s, path);
		goto out;
	}
	store_close(s);
	s = NULL;
	/* SQLite: a new file, at the snapshot's revision or the old one,
	 * whichever is newer (then bumped by the restore). */
	r = store_sqlite_snapshot_read(path, &kvs, &n, &snap_rev);
	if (r < 0)
		goto out;
	if (asprintf(&tmp, "%s.restore-%d", file, (int)getpid()) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = store_sqlite_snapshot_write(tmp, kvs, n, snap_rev > old_rev ? snap_rev : old_rev);
	if (r < 0)
		goto out;
	r = sqlite_remove(file);
	if (r == 0)
		r = store_open(url, &s);
	if (r == 0)
		r = store_snapshot_restore(s, tmp);
	unlink(tmp);
out:
	if (r == 0 && revision)
		*revision = store_revision(s);
	store_kvs_free(kvs, n);
	store_close(s);
	return r;
}

int store_mark_in_use(const char *url, int *fd)
{
	const char *file;
	int f;

	if (!url || !fd)
		return -EINVAL;
	*fd = -1;
	file = sqlite_path(url);
	if (!file)
		return 0;
	f = open(file, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	if (flock(f, LOCK_SH) < 0) {
		int r = -errno;

		close(f);
		return r;
	}
	*fd = f;
	return 0;
}

int store_set_ring_size(struct store *s, size_t events)
{
	if (!s || !events)
		return -EINVAL;
	return s->ops->set_ring_size(s, events);
}

const char *store_backend_name(struct store *s)
{
	return s ? s->ops->name : NULL;
}

/* Helpers shared by the backends. */

void store_kv_clear(struct store_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void store_kvs_free(struct store_kv *kvs, size_t n)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < n; i++)
		store_kv_clear(&kvs[i]);
	free(kvs);
}

void store_event_clear(struct store_event *ev)
{
	store_kv_clear(&ev->kv);
	store_kv_clear(&ev->prev);
}

void store_events_free(struct store_event *ev, size_t n)
{
	if (!ev)
		return;
	for (size_t i = 0; i < n; i++)
		store_event_clear(&ev[i]);
	free(ev);
}

int store_events_grow(struct store_event **evs, size_t cnt, size_t *cap)
{
	size_t ncap;
	struct store_event *t;

	if (cnt < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	t = realloc(*evs, ncap * sizeof(**evs));
	if (!t)
		return -ENOMEM;
	*evs = t;
	*cap = ncap;
	return 0;
}

int store_kv_set(struct store_kv *kv, const char *key, size_t key_len,
		 const void *value, size_t value_len, int64_t create_revision,
		 int64_t mod_revision)
{
	_cleanup_free_ char *k = malloc(key_len + 1);
	_cleanup_free_ char *v = malloc(value_len + 1);

	if (!k || !v)
		return -ENOMEM;
	memcpy(k, key, key_len);
	k[key_len] = '\0';
	if (value_len)
		memcpy(v, value, value_len);
	v[value_len] = '\0';
	kv->key = TAKE_PTR(k);
	kv->value = TAKE_PTR(v);
	kv->value_len = value_len;
	kv->create_revision = create_revision;
	kv->mod_revision = mod_revision;
	return 0;
}

int store_kv_copy(struct store_kv *dst, const struct store_kv *src)
{
	if (!src->key) {
		memset(dst, 0, sizeof(*dst));
		dst->create_revision = src->create_revision;
		dst->mod_revision = src->mod_revision;
		return 0;
	}
	return store_kv_set(dst, src->key, strlen(src->key), src->value,
			    src->value_len, src->create_revision, src->mod_revision);
}

int store_event_copy(struct store_event *dst, const struct store_event *src)
{
	int r;

	memset(dst, 0, sizeof(*dst));
	dst->type = src->type;
	dst->revision = src->revision;
	r = store_kv_copy(&dst->kv, &src->kv);
	if (r < 0)
		return r;
	r = store_kv_copy(&dst->prev, &src->prev);
	if (r < 0) {
		store_kv_clear(&dst->kv);
		return r;
	}
	return 0;
}

int store_prefix_end(const char *prefix, char **end)
{
	size_t n = strlen(prefix);
	char *e;

	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0) {
		*end = NULL;
		return 0;
	}
	e = strndup(prefix, n);
	if (!e)
		return -ENOMEM;
	e[n - 1] = (char)((unsigned char)e[n - 1] + 1);
	*end = e;
	return 0;
}

bool store_key_has_prefix(const char *key, const char *prefix, size_t prefix_len)
{
	return strncmp(key, prefix, prefix_len) == 0;
}
