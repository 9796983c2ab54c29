/* The --manifests folder as a model source. */
#include "dataplane/manifest.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/yamljson.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

/* What one file contributed last time it loaded without error. */
struct mobj {
	enum model_kind kind;
	const char *ns, *name; /* in the block of the file's objs */
};

struct mfile {
	char *name; /* basename in dir */
	struct mobj *objs; /* one allocation: the array, then every ns and name */
	size_t n_objs;
	bool dirty;
	bool broken; /* its last load failed: last good objects still served */
};

struct manifest {
	char *dir;
	struct model_store *store;
	int ifd;
	bool rescan; /* inotify queue overflowed: look at every file again */
	struct mfile *files;
	size_t n_files;
	log_report_fn report;
	void *report_ud;
};

#define mreport(m, ...) report_msg((m)->report, (m)->report_ud, __VA_ARGS__)

static bool manifest_name_wanted(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && streq(name + n - 5, ".yaml")) || (n > 4 && streq(name + n - 4, ".yml")) ||
	       (n > 5 && streq(name + n - 5, ".json"));
}

static bool name_is_json(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && streq(name + n - 5, ".json");
}

int manifest_parse_buffer(const char *label, const char *buf, size_t len, bool is_json,
			  json_t **out, char *msg, size_t msg_size)
{
	struct yamljson_error yerr;
	int r;

	if (is_json) {
		json_error_t jerr;
		json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
		json_t *docs;

		if (!doc) {
			snprintf(msg, msg_size, "%s:%d:%d: %s", label, jerr.line, jerr.column, jerr.text);
			return -EINVAL;
		}
		docs = json_pack("[o]", doc);
		if (!docs)
			return -ENOMEM;
		r = yamljson_flatten_objects(docs, out, &yerr);
		json_decref(docs);
	} else {
		r = yamljson_parse_objects(buf, len, out, &yerr);
	}
	if (r == -EINVAL) {
		if (yerr.line)
			snprintf(msg, msg_size, "%s:%d:%d: %s", label, yerr.line, yerr.column, yerr.msg);
		else
			snprintf(msg, msg_size, "%s: %s", label, yerr.msg);
	}
	return r;
}

void manifest_objects_clear(struct manifest_objects *o)
{
	for (size_t i = 0; i < o->n; i++)
		model_object_free(o->v[i].kind, o->v[i].obj);
	free(o->v);
	*o = (struct manifest_objects){ 0 };
}

int manifest_objects_from_json(const char *label, json_t *objs, struct manifest_objects *out,
			       char *msg, size_t msg_size)
{
	struct manifest_objects o = { 0 };
	size_t i;
	json_t *obj;
	int r = 0;

	o.v = calloc(json_array_size(objs) + 1, sizeof(*o.v));
	if (!o.v)
		return -ENOMEM;
	json_array_foreach(objs, i, obj) {
		struct model_error e;

		r = model_object_parse(obj, &o.v[o.n], &e);
		if (r == -EINVAL)
			snprintf(msg, msg_size, "%s: object %zu: %s", label, i + 1, e.msg);
		if (r < 0)
			break;
		if (o.v[o.n].kind == MODEL_KIND_OTHER)
			o.n_ignored++;
		else
			o.n++;
	}
	if (r < 0) {
		manifest_objects_clear(&o);
		return r;
	}
	*out = o;
	return 0;
}

/* ---- the folder -------------------------------------------------------- */

static void mfile_clear_objs(struct mfile *f)
{
	free(f->objs);
	f->objs = NULL;
	f->n_objs = 0;
}

/* m->files is sorted by name: found by bisection, read in name order. */
static size_t manifest_lower(const struct manifest *m, const char *name)
{
	size_t lo = 0, hi = m->n_files;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(m->files[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The file named name, added when create. The pointer is valid until the
 * next file is added. */
static struct mfile *manifest_file(struct manifest *m, const char *name, bool create)
{
	size_t at = manifest_lower(m, name);
	struct mfile *p;
	char *copy;

	if (at < m->n_files && streq(m->files[at].name, name))
		return &m->files[at];
	if (!create)
		return NULL;
	copy = strdup(name);
	p = realloc(m->files, (m->n_files + 1) * sizeof(*p));
	if (!copy || !p) {
		free(copy);
		if (p)
			m->files = p;
		return NULL;
	}
	m->files = p;
	memmove(&m->files[at + 1], &m->files[at], (m->n_files - at) * sizeof(*p));
	m->files[at] = (struct mfile){ .name = copy };
	m->n_files++;
	return &m->files[at];
}

static int mfile_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->name, ((const struct mfile *)b)->name);
}

static bool mobj_in(const struct mobj *objs, size_t n, enum model_kind kind, const char *ns,
		    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (objs[i].kind == kind && streq(objs[i].ns, ns) && streq(objs[i].name, name))
			return true;
	return false;
}

/* Removes from the store what f contributed and is not in keep[]. */
static void drop_objs(struct manifest *m, struct mfile *f, const struct mobj *keep, size_t n_keep)
{
	for (size_t i = 0; i < f->n_objs; i++) {
		const struct mobj *o = &f->objs[i];

		if (mobj_in(keep, n_keep, o->kind, o->ns, o->name))
			continue;
		if (model_store_delete(m->store, o->kind, f->name, o->ns, o->name) > 0)
			mreport(m, LOG_LEVEL_INFO, "%s: %s %s%s%s removed", f->name, model_kind_name(o->kind), o->ns,
				 *o->ns ? "/" : "", o->name);
	}
}

/* The keys of o's objects as a file's objs: one allocation. */
static struct mobj *mobjs_of(const struct manifest_objects *o)
{
	size_t size = o->n * sizeof(struct mobj) + 1; /* never malloc(0) */
	struct mobj *v;
	char *p;

	for (size_t i = 0; i < o->n; i++) {
		const char *ns, *name;

		model_object_key(o->v[i].kind, o->v[i].obj, &ns, &name);
		size += strlen(ns) + 1 + strlen(name) + 1;
	}
	v = calloc(1, size);
	if (!v)
		return NULL;
	p = (char *)&v[o->n];
	for (size_t i = 0; i < o->n; i++) {
		const char *ns, *name;

		model_object_key(o->v[i].kind, o->v[i].obj, &ns, &name);
		v[i] = (struct mobj){ .kind = o->v[i].kind, .ns = p };
		p = stpcpy(p, ns) + 1;
		v[i].name = p;
		p = stpcpy(p, name) + 1;
	}
	return v;
}

/* The same object in two files: the file read last wins, say so. */
static void warn_clash(struct manifest *m, const struct mfile *f, enum model_kind kind,
		       const char *ns, const char *name)
{
	const char *other = model_store_origin(m->store, kind, ns, name);

	if (other && !streq(other, f->name))
		mreport(m, LOG_LEVEL_WARN, "%s: %s %s%s%s is also in %s; the copy in %s is used", f->name,
			 model_kind_name(kind), ns, *ns ? "/" : "", name, other, f->name);
}

/* Loads one file into the store; on error reports it and keeps its last good
 * objects. */
static int manifest_load(struct manifest *m, struct mfile *f)
{
	struct manifest_objects o = { 0 };
	_cleanup_free_ char *path = NULL, *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct mobj *now = NULL;
	size_t n_now = 0, len;
	json_t *objs = NULL;
	char msg[600];
	int r;

	if (asprintf(&path, "%s/%s", m->dir, f->name) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	/* Symlinks are followed: a ConfigMap volume links every file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT) {
			/* Gone: everything it gave goes too. */
			drop_objs(m, f, NULL, 0);
			mfile_clear_objs(f);
			f->broken = false;
			return 0;
		}
		mreport(m, LOG_LEVEL_ERROR, "%s: cannot open: %s", path, strerror(-r));
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mreport(m, LOG_LEVEL_ERROR, "%s: not a regular file, ignored", path);
		drop_objs(m, f, NULL, 0);
		mfile_clear_objs(f);
		return 0;
	}
	r = read_all(fd, MANIFEST_MAX_FILE, &buf, &len);
	if (r < 0) {
		mreport(m, LOG_LEVEL_ERROR, "%s: cannot read: %s", path, strerror(-r));
		f->broken = true;
		return 0;
	}
	msg[0] = '\0';
	r = manifest_parse_buffer(f->name, buf, len, name_is_json(f->name), &objs, msg, sizeof(msg));
	if (r == 0) {
		r = manifest_objects_from_json(f->name, objs, &o, msg, sizeof(msg));
		json_decref(objs);
	}
	if (r == -EINVAL) {
		mreport(m, LOG_LEVEL_ERROR, "%s%s", msg,
			f->n_objs ? " (keeping the file's last good objects)" : "");
		f->broken = true;
		return 0;
	}
	if (r < 0)
		return r;

	now = mobjs_of(&o);
	if (!now) {
		manifest_objects_clear(&o);
		return -ENOMEM;
	}
	n_now = o.n;
	if (r == 0) {
		drop_objs(m, f, now, n_now);
		/* The store takes each object; clear what was handed over. */
		for (size_t i = 0; i < o.n && r >= 0; i++) {
			warn_clash(m, f, now[i].kind, now[i].ns, now[i].name);
			r = model_store_put(m->store, f->name, o.v[i].kind, TAKE_PTR(o.v[i].obj));
		}
	}
	manifest_objects_clear(&o);
	mfile_clear_objs(f);
	f->objs = now;
	f->n_objs = n_now;
	if (r < 0)
		return r;
	if (f->broken)
		mreport(m, LOG_LEVEL_INFO, "%s: loaded again without errors", f->name);
	f->broken = false;
	mreport(m, LOG_LEVEL_DEBUG, "%s: %zu objects", f->name, n_now);
	return 0;
}

static int manifest_scan(struct manifest *m)
{
	DIR *d = opendir(m->dir);
	struct mfile *added = NULL;
	size_t n_added = 0, cap = 0;
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	for (size_t i = 0; i < m->n_files; i++)
		m->files[i].dirty = true; /* present or not, look again */
	while ((de = readdir(d))) {
		if (!manifest_name_wanted(de->d_name) || manifest_file(m, de->d_name, false))
			continue;
		if (n_added == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct mfile *p = realloc(added, c * sizeof(*p));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			added = p;
			cap = c;
		}
		added[n_added] = (struct mfile){ .name = strdup(de->d_name), .dirty = true };
		if (!added[n_added].name) {
			r = -ENOMEM;
			break;
		}
		n_added++;
	}
	closedir(d);
	if (r == 0 && n_added) {
		/* one sort and one merge, not an insertion per file */
		struct mfile *all = malloc((m->n_files + n_added) * sizeof(*all));
		size_t i = 0, j = 0, n = 0;

		if (!all) {
			r = -ENOMEM;
		} else {
			qsort(added, n_added, sizeof(*added), mfile_cmp);
			while (i < m->n_files || j < n_added)
				all[n++] = j == n_added || (i < m->n_files && mfile_cmp(&m->files[i], &added[j]) < 0)
						   ? m->files[i++]
						   : added[j++];
			free(m->files);
			m->files = all;
			m->n_files = n;
			n_added = 0;
		}
	}
	for (size_t i = 0; i < n_added; i++)
		free(added[i].name);
	free(added);
	return r;
}

static int manifest_flush(void *ctx)
{
	struct manifest *m = ctx;
	int r;

	if (m->rescan) {
		m->rescan = false;
		r = manifest_scan(m);
		if (r < 0)
			return r;
	}
	/* In name order, so a clash between files resolves the same way. */
	for (size_t i = 0; i < m->n_files; i++) {
		if (!m->files[i].dirty)
			continue;
		m->files[i].dirty = false;
		r = manifest_load(m, &m->files[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int manifest_start(void *ctx)
{
	struct manifest *m = ctx;
	int r = manifest_scan(m);

	if (r < 0)
		return r;
	return manifest_flush(m);
}

static int manifest_fd(void *ctx)
{
	return ((struct manifest *)ctx)->ifd;
}

static int manifest_on_readable(void *ctx)
{
	struct manifest *m = ctx;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int due = 0;

	for (;;) {
		ssize_t n = read(m->ifd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF)) {
				m->rescan = true;
				due = 1;
				continue;
			}
			/* A ConfigMap volume swaps its "..data" link: every
			 * visible file may have changed at once. */
			if (ev->len && strncmp(ev->name, "..", 2) == 0) {
				m->rescan = true;
				due = 1;
				continue;
			}
			if (!ev->len || !manifest_name_wanted(ev->name))
				continue;
			struct mfile *f = manifest_file(m, ev->name, true);
			if (!f)
				return -ENOMEM;
			f->dirty = true;
			due = 1;
		}
	}
	return due;
}

static void manifest_free(void *ctx)
{
	struct manifest *m = ctx;

	if (!m)
		return;
	for (size_t i = 0; i < m->n_files; i++) {
		mfile_clear_objs(&m->files[i]);
		free(m->files[i].name);
	}
	free(m->files);
	if (m->ifd >= 0)
		close(m->ifd);
	free(m->dir);
	free(m);
}

int manifest_source_new(const char *dir, struct model_store *store, log_report_fn report,
			void *ud, struct model_source *out)
{
	struct manifest *m = calloc(1, sizeof(*m));
	struct stat st;
	int r;

	if (!m)
		return -ENOMEM;
	m->ifd = -1;
	m->store = store;
	m->report = report;
	m->report_ud = ud;
	if (stat(dir, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = -ENOTDIR;
		goto fail;
	}
	m->dir = strdup(dir);
	if (!m->dir) {
		r = -ENOMEM;
		goto fail;
	}
	m->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->ifd < 0) {
		r = -errno;
		goto fail;
	}
	if (inotify_add_watch(m->ifd, dir,
			      IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM |
				      IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB) < 0) {
		r = -errno;
		goto fail;
	}
	*out = (struct model_source){
		.name = "manifests",
		.ctx = m,
		.start = manifest_start,
		.fd = manifest_fd,
		.on_readable = manifest_on_readable,
		.flush = manifest_flush,
		.free = manifest_free,
	};
	return 0;
fail:
	manifest_free(m);
	return r;
}
