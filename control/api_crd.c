/* CustomResourceDefinitions: the CRD row's validation, defaulting and
 * hooks, and the rows of the resources CRDs define.
 *
 * The custom rows live in a snapshot (an array of row pointers) that
 * readers load with one atomic read and never lock; a reload (after
 * every stored change of a CRD, and at start) builds a new snapshot under
 * the table's mutex and swaps it in. A request or a watch holds its row
 * for as long as it runs, so rows and retired snapshots are freed only
 * with the table, at server stop; a reload reuses the rows of a CRD whose
 * spec did not change, so only spec changes (rare, made by people) grow
 * what is kept.
 *
 * A CRD carries the finalizer upstream gives it: its delete marks it,
 * the reload then stops serving it, removes its objects and lets it go
 * (a server stopped in between finishes on its next start). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/api_crd.h"
#include "control/api_internal.h"
#include "lib/kube_names.h"
#include "lib/log.h"
#include "lib/util.h"

#define CRD_FINALIZER "customresourcecleanup.apiextensions.k8s.io"
#define CRD_MAX_VERSIONS 16

struct crd_row {
	struct api_resource res;
	struct api_crd_version ver;
	struct api_column *cols;
	char *top_fields;
	struct crd_row *next_made; /* every row made, freed with the table */
};

struct crd_snapshot {
	size_t n;
	struct crd_row **rows;
	struct crd_snapshot *retired; /* the one it replaced, freed with the table */
};

struct api_crd_table {
	pthread_mutex_t lock; /* reloads */
	_Atomic(struct crd_snapshot *) cur;
	struct crd_row *made;
	api_crd_published_fn *on_publish; /* and what it published, for it to keep */
	json_t *published;
	pthread_t watcher;
	bool watching;
};

static const struct api_resource *crd_res(void)
{
	return api_resource_find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
}

/* ---- the table ---- */

int api_crd_table_new(struct api_crd_table **out)
{
	struct api_crd_table *t = calloc(1, sizeof(*t));
	struct crd_snapshot *snap = calloc(1, sizeof(*snap));

	if (!t || !snap) {
		free(t);
		free(snap);
		return -ENOMEM;
	}
	t->published = json_object();
	if (!t->published) {
		free(t);
		free(snap);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	atomic_init(&t->cur, snap);
	*out = t;
	return 0;
}

static void row_free(struct crd_row *row)
{
	json_decref(row->ver.crd);
	free(row->cols);
	free(row->top_fields);
	free(row);
}

void api_crd_table_free(struct api_crd_table *t)
{
	struct crd_snapshot *snap;

	if (!t)
		return;
	snap = atomic_load(&t->cur);
	while (snap) {
		struct crd_snapshot *older = snap->retired;

		free(snap->rows);
		free(snap);
		snap = older;
	}
	while (t->made) {
		struct crd_row *next = t->made->next_made;

		row_free(t->made);
		t->made = next;
	}
	json_decref(t->published);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct crd_snapshot *snapshot(struct api_server *s)
{
	return atomic_load_explicit(&s->crds->cur, memory_order_acquire);
}

const struct api_resource *api_resource_lookup(struct api_server *s, const char *group,
					       const char *version, const char *plural)
{
	const struct api_resource *r = api_resource_find(group, version, plural);
	struct crd_snapshot *snap;

	if (r || !s->crds)
		return r;
	snap = snapshot(s);
	for (size_t i = 0; i < snap->n; i++) {
		r = &snap->rows[i]->res;
		if (streq(r->group, group) && streq(r->version, version) && streq(r->plural, plural))
			return r;
	}
	return NULL;
}

void api_crd_each(struct api_server *s, void (*fn)(const struct api_resource *r, void *ud),
		  void *ud)
{
	struct crd_snapshot *snap = s->crds ? snapshot(s) : NULL;

	for (size_t i = 0; snap && i < snap->n; i++)
		fn(&snap->rows[i]->res, ud);
}

/* A version's standing: 3 GA ("v2"), 2 beta ("v1beta1"), 1 alpha, 0 not
 * a Kubernetes version ("foo"); its major and minor numbers. */
static int version_rank(const char *v, long *major, long *minor)
{
	char stage[8] = "";
	int n = 0;

	*major = *minor = 0;
	if (sscanf(v, "v%ld%n", major, &n) != 1)
		return 0;
	if (!v[n])
		return 3;
	if (sscanf(v + n, "%5[a-z]%ld", stage, minor) != 2)
		return 0;
	return streq(stage, "beta") ? 2 : streq(stage, "alpha") ? 1 : 0;
}

/* Kubernetes' version priority: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 >
 * anything else (by name). Positive: a is preferred. */
static int version_cmp(const char *a, const char *b)
{
	long ma, mb, la, lb;
	int ka = version_rank(a, &ma, &la), kb = version_rank(b, &mb, &lb);

	if (ka != kb)
		return ka - kb;
	if (!ka)
		return strcmp(b, a);
	if (ma != mb)
		return ma > mb ? 1 : -1;
	return la == lb ? 0 : la > lb ? 1 : -1;
}

size_t api_group_versions(struct api_server *s, const char *group, const char **out,
			  size_t max)
{
	struct crd_snapshot *snap = s->crds ? snapshot(s) : NULL;
	size_t n = 0, rows = api_n_resources + (snap ? snap->n : 0);

	for (size_t i = 0; i < rows; i++) {
		const struct api_resource *r = i < api_n_resources ? &api_resources[i]
								   : &snap->rows[i - api_n_resources]->res;
		bool seen = false;

		if (!streq(r->group, group))
			continue;
		for (size_t j = 0; j < n && !seen; j++)
			seen = streq(out[j], r->version);
		if (!seen && n < max)
			out[n++] = r->version;
	}
	for (size_t i = 1; i < n; i++) /* insertion sort, preferred first */
		for (size_t j = i; j > 0 && version_cmp(out[j], out[j - 1]) > 0; j--) {
			const char *t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* ---- rows from a CRD ---- */

static const char *jstr_or(json_t *o, const char *path, const char *dflt)
{
	const char *v = api_jstr(o, path);

	return v && *v ? v : dflt;
}

static void copy_names(json_t *arr, const char **out, size_t max)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) {
		if (i < max)
			out[i] = json_string_value(v);
	}
}

/* NAME and the version's printer columns; none: NULL (NAME, AGE). */
static int row_columns(struct crd_row *row)
{
	json_t *cols = row->ver.columns, *c;
	size_t i;

	if (!json_array_size(cols))
		return 0;
	row->cols = calloc(json_array_size(cols) + 1, sizeof(*row->cols));
	if (!row->cols)
		return -ENOMEM;
	row->cols[0] = (struct api_column){ "Name", "string", "name",
					    "Name must be unique within a namespace.", 0 };
	json_array_foreach(cols, i, c) {
		row->cols[i + 1] = (struct api_column){
			.name = jstr_or(c, "name", ""),
			.type = jstr_or(c, "type", "string"),
			.format = jstr_or(c, "format", ""),
			.description = jstr_or(c, "description", ""),
			.priority = (int)json_integer_value(json_object_get(c, "priority")),
		};
	}
	row->res.columns = row->cols;
	row->res.n_columns = json_array_size(cols) + 1;
	return 0;
}

/* The root schema's properties beyond the common ones, for
 * fieldValidation's unknown top-level fields. */
static char *top_fields(json_t *schema)
{
	json_t *props = json_object_get(schema, "properties"), *v;
	size_t len = 1;
	const char *k;
	char *s;

	json_object_foreach(props, k, v)
		len += strlen(k) + 1;
	s = calloc(1, len);
	if (!s)
		return NULL;
	json_object_foreach(props, k, v) {
		if (*s)
			strcat(s, ",");
		strcat(s, k);
	}
	return s;
}

static const char *storage_version(json_t *crd)
{
	json_t *v;
	size_t i;

	json_array_foreach(api_jget(crd, "spec.versions"), i, v) {
		if (json_is_true(json_object_get(v, "storage")))
			return json_string_value(json_object_get(v, "name"));
	}
	return NULL;
}

static struct crd_row *row_new(json_t *crd, json_t *ver)
{
	struct crd_row *row = calloc(1, sizeof(*row));
	struct api_resource *r;
	json_t *sub = json_object_get(ver, "subresources");

	if (!row)
		return NULL;
	row->ver.crd = json_incref(crd);
	row->ver.schema = api_jget(ver, "schema.openAPIV3Schema");
	row->ver.columns = json_object_get(ver, "additionalPrinterColumns");
	row->ver.storage = storage_version(crd);
	row->ver.spec_replicas = api_jstr(sub, "scale.specReplicasPath");
	row->ver.status_replicas = api_jstr(sub, "scale.statusReplicasPath");
	row->ver.label_selector = api_jstr(sub, "scale.labelSelectorPath");
	r = &row->res;
	r->group = api_jstr(crd, "spec.group");
	r->version = json_string_value(json_object_get(ver, "name"));
	r->kind = api_jstr(crd, "spec.names.kind");
	r->plural = api_jstr(crd, "spec.names.plural");
	r->singular = jstr_or(crd, "spec.names.singular", r->plural);
	copy_names(api_jget(crd, "spec.names.shortNames"), r->short_names, 4);
	copy_names(api_jget(crd, "spec.names.categories"), r->categories, 2);
	r->namespaced = streq(api_jstr(crd, "spec.scope"), "Namespaced");
	if (json_object_get(sub, "status"))
		r->subresources |= API_SUB_STATUS;
	if (json_object_get(sub, "scale") && row->ver.spec_replicas)
		r->subresources |= API_SUB_SCALE;
	r->crd = &row->ver;
	row->top_fields = top_fields(row->ver.schema);
	r->top_fields = row->top_fields;
	if (!r->group || !r->version || !r->kind || !r->plural || row_columns(row) < 0) {
		row_free(row);
		return NULL;
	}
	return row;
}

/* The row of crd's version ver in snap, when its spec is the same. */
static struct crd_row *row_reuse(struct crd_snapshot *snap, json_t *crd, const char *ver)
{
	for (size_t i = 0; i < snap->n; i++) {
		struct crd_row *row = snap->rows[i];

		if (streq(row->res.version, ver) &&
		    streq(api_jstr(row->ver.crd, "metadata.name"), api_jstr(crd, "metadata.name")) &&
		    json_equal(json_object_get(row->ver.crd, "spec"), json_object_get(crd, "spec")))
			return row;
	}
	return NULL;
}

static bool condition_false(json_t *crd, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(api_jget(crd, "status.conditions"), i, c) {
		if (streq(api_jstr(c, "type"), type))
			return streq(api_jstr(c, "status"), "False");
	}
	return false;
}

/* ---- reload ---- */

struct crd_list {
	json_t *all;      /* the stored CRDs */
	json_t *deleting; /* names of those marked for deletion */
};

static void collect(struct api_server *s, const struct api_resource *r, const char *key,
		    json_t *obj, int64_t rev, void *ud)
{
	struct crd_list *l = ud;

	(void)s;
	(void)r;
	(void)key;
	(void)rev;
	if (!obj)
		return;
	if (api_jget(obj, "metadata.deletionTimestamp"))
		json_array_append_new(l->deleting, json_string(api_jstr(obj, "metadata.name")));
	else if (!condition_false(obj, "NamesAccepted"))
		json_array_append(l->all, obj);
}

static int snapshot_add(struct api_crd_table *t, struct crd_snapshot *old,
			struct crd_snapshot *snap, json_t *crd)
{
	json_t *ver;
	size_t i;

	json_array_foreach(api_jget(crd, "spec.versions"), i, ver) {
		const char *name = json_string_value(json_object_get(ver, "name"));
		struct crd_row *row;

		if (!name || !json_is_true(json_object_get(ver, "served")))
			continue;
		row = row_reuse(old, crd, name);
		if (!row) {
			row = row_new(crd, ver);
			if (!row)
				return -ENOMEM;
			row->next_made = t->made;
			t->made = row;
		}
		snap->rows[snap->n++] = row;
	}
	return 0;
}

static bool snapshot_same(struct crd_snapshot *a, struct crd_snapshot *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->rows[i] != b->rows[i])
			return false;
	return true;
}

/* Publishes the rows of the CRDs in list; 1 when they changed. */
static int publish(struct api_crd_table *t, json_t *list)
{
	struct crd_snapshot *old = atomic_load(&t->cur);
	struct crd_snapshot *snap = calloc(1, sizeof(*snap));
	json_t *crd;
	size_t i;
	int ret = 0;

	if (snap)
		snap->rows = calloc(json_array_size(list) * CRD_MAX_VERSIONS + 1, sizeof(*snap->rows));
	if (!snap || !snap->rows)
		ret = -ENOMEM;
	json_array_foreach(list, i, crd) {
		if (ret == 0 && json_array_size(api_jget(crd, "spec.versions")) <= CRD_MAX_VERSIONS)
			ret = snapshot_add(t, old, snap, crd);
	}
	if (ret < 0 || snapshot_same(old, snap)) {
		if (snap)
			free(snap->rows);
		free(snap);
		return ret;
	}
	snap->retired = old;
	atomic_store_explicit(&t->cur, snap, memory_order_release);
	return 1;
}

static void remove_object(struct api_server *s, const struct api_resource *r, const char *key,
			  json_t *obj, int64_t rev, void *ud)
{
	(void)rev;
	(void)ud;
	api_obj_remove(s, r, key, obj, 0);
}

static bool has_finalizer(json_t *fins)
{
	json_t *f;
	size_t i;

	json_array_foreach(fins, i, f) {
		if (streq(json_string_value(f), CRD_FINALIZER))
			return true;
	}
	return false;
}

static int drop_finalizer(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			  struct api_err *e)
{
	json_t *obj = json_deep_copy(old), *fins = api_jget(obj, "metadata.finalizers"), *f;
	size_t i;

	(void)r;
	(void)ud;
	(void)e;
	json_array_foreach(fins, i, f) {
		if (streq(json_string_value(f), CRD_FINALIZER)) {
			json_array_remove(fins, i);
			break;
		}
	}
	*out = obj;
	return 0;
}

void api_crd_namespace_written(struct api_server *s, const struct api_resource *r, json_t *ns,
			       bool gone)
{
	const char *name = api_jstr(ns, "metadata.name");
	struct crd_snapshot *snap = s->crds ? snapshot(s) : NULL;

	(void)r;
	if (!gone || !name || !*name)
		return;
	/* Each version's row reads the same keys: the first removes them. */
	for (size_t i = 0; snap && i < snap->n; i++)
		if (snap->rows[i]->res.namespaced)
			api_obj_each(s, &snap->rows[i]->res, name, remove_object, NULL);
}

/* Removes the objects of the CRD named name, then its finalizer. */
static void finish_delete(struct api_server *s, const char *name)
{
	const struct api_resource *cr = crd_res();
	struct api_err e = { 0 };
	json_t *crd = NULL, *out = NULL;
	struct api_resource objs = { 0 };
	int ret;

	if (api_obj_get(s, cr, NULL, name, &crd, &e) < 0) {
		api_err_free(&e);
		return;
	}
	objs.group = api_jstr(crd, "spec.group");
	objs.plural = api_jstr(crd, "spec.names.plural");
	objs.kind = api_jstr(crd, "spec.names.kind");
	objs.version = "v1";
	objs.namespaced = streq(api_jstr(crd, "spec.scope"), "Namespaced");
	ret = objs.group && objs.plural && objs.kind ? api_obj_each(s, &objs, NULL, remove_object, NULL)
						     : 0;
	if (ret < 0)
		log_warn("customresourcedefinition %s: objects not removed: %s", name, strerror(-ret));
	else if (api_obj_mutate(s, cr, NULL, name, API_WRITE_MAIN, drop_finalizer, NULL, NULL,
				&out, &e) < 0 && e.code != 404) /* 404: another server finished */
		log_warn("customresourcedefinition %s: finalizer not removed: %s", name, e.message);
	api_err_free(&e);
	json_decref(out);
	json_decref(crd);
}

int api_crd_reload(struct api_server *s)
{
	struct crd_list l = { json_array(), json_array() };
	json_t *name;
	size_t i;
	int ret;

	if (!s->crds) /* an object layer without the HTTP server (tests) */
		return 0;
	pthread_mutex_lock(&s->crds->lock);
	ret = api_obj_each(s, crd_res(), NULL, collect, &l);
	if (ret == 0)
		ret = publish(s->crds, l.all);
	if (ret > 0 && s->crds->on_publish)
		s->crds->on_publish(s, s->crds->published);
	pthread_mutex_unlock(&s->crds->lock);
	json_array_foreach(l.deleting, i, name)
		finish_delete(s, json_string_value(name));
	json_decref(l.all);
	json_decref(l.deleting);
	return ret < 0 ? ret : 0;
}

void api_crd_on_publish(struct api_crd_table *t, api_crd_published_fn *fn)
{
	t->on_publish = fn;
}

/* ---- CRDs written through another server on the same store ---- */

#define CRD_WATCH_WAIT_MS 200

/* Reloads on every change of a stored CRD, so that servers sharing one
 * etcd serve what any of them was told (this server's own writes reload
 * at once, from the row's hook). */
static void *crd_watcher(void *arg)
{
	struct api_server *s = arg;
	struct store_watch *w = NULL;
	char prefix[256];

	api_prefix_for(crd_res(), NULL, prefix, sizeof(prefix));
	while (!atomic_load(&s->stopping)) {
		struct store_event *ev = NULL;
		size_t n = 0;

		if (!w) {
			if (store_watch_open(s->store, prefix, store_revision(s->store), &w) < 0) {
				w = NULL;
				usleep(CRD_WATCH_WAIT_MS * 1000);
				continue;
			}
			api_crd_reload(s); /* what changed before the watch began */
		}
		if (store_watch_next(w, CRD_WATCH_WAIT_MS, &ev, &n) < 0) {
			store_watch_close(w); /* compacted past it, or the store failed: again */
			w = NULL;
			continue;
		}
		if (n) {
			store_events_free(ev, n);
			api_crd_reload(s);
		}
	}
	if (w)
		store_watch_close(w);
	return NULL;
}

int api_crd_watch_start(struct api_server *s)
{
	int ret = -pthread_create(&s->crds->watcher, NULL, crd_watcher, s);

	s->crds->watching = ret == 0;
	return ret;
}

void api_crd_watch_stop(struct api_server *s)
{
	if (s->crds && s->crds->watching) {
		pthread_join(s->crds->watcher, NULL);
		s->crds->watching = false;
	}
}

/* ---- the CustomResourceDefinition row ---- */

void api_crd_defaults(json_t *crd)
{
	json_t *names = api_jget(crd, "spec.names"), *spec = json_object_get(crd, "spec");
	const char *kind = api_jstr(names, "kind");
	char buf[256];

	if (json_is_object(names) && kind) {
		size_t n = strlen(kind);

		for (size_t i = 0; i < n && i < sizeof(buf) - 1; i++)
			buf[i] = (char)tolower((unsigned char)kind[i]);
		buf[n < sizeof(buf) - 1 ? n : sizeof(buf) - 1] = 0;
		api_jdefault(names, "singular", json_string(buf));
		snprintf(buf, sizeof(buf), "%sList", kind);
		api_jdefault(names, "listKind", json_string(buf));
	}
	if (json_is_object(spec))
		api_jdefault(spec, "conversion", json_pack("{s:s}", "strategy", "None"));
}

/* A structural schema names a type at every level (but where it keeps
 * unknown fields or takes an int or a string). */
static void validate_schema(json_t *sch, const char *path, json_t *causes)
{
	json_t *props = json_object_get(sch, "properties"), *ps, *items = json_object_get(sch, "items");
	const char *k;
	char sub[512];

	if (!json_object_get(sch, "type") &&
	    !json_is_true(json_object_get(sch, "x-kubernetes-preserve-unknown-fields")) &&
	    !json_is_true(json_object_get(sch, "x-kubernetes-int-or-string"))) {
		snprintf(sub, sizeof(sub), "%s.type", path);
		api_cause(causes, "FieldValueRequired", sub,
			  "Required value: must not be empty for specified object fields");
	}
	json_object_foreach(props, k, ps) {
		snprintf(sub, sizeof(sub), "%s.properties[%s]", path, k);
		validate_schema(ps, sub, causes);
	}
	if (json_is_object(items)) {
		snprintf(sub, sizeof(sub), "%s.items", path);
		validate_schema(items, sub, causes);
	}
	ps = json_object_get(sch, "additionalProperties");
	if (json_is_object(ps)) {
		snprintf(sub, sizeof(sub), "%s.additionalProperties", path);
		validate_schema(ps, sub, causes);
	}
}

static void validate_version(json_t *v, size_t i, bool namespaced, json_t *causes)
{
	static const char *const types[] = { "integer", "number", "string", "boolean", "date" };
	const char *name = api_jstr(v, "name"), *bad;
	json_t *sch = api_jget(v, "schema.openAPIV3Schema"), *c;
	char f[128];
	size_t j;

	(void)namespaced;
	snprintf(f, sizeof(f), "spec.versions[%zu].name", i);
	if (!name || !*name)
		api_cause(causes, "FieldValueRequired", f, "Required value");
	else if ((bad = kube_dns1035_label_error(name)))
		api_cause(causes, "FieldValueInvalid", f, "Invalid value: \"%s\": %s", name, bad);
	snprintf(f, sizeof(f), "spec.versions[%zu].schema.openAPIV3Schema", i);
	if (!json_is_object(sch))
		api_cause(causes, "FieldValueRequired", f, "Required value: schemas are required");
	else if (!streq(api_jstr(sch, "type"), "object"))
		api_cause(causes, "FieldValueInvalid", f, "Invalid value: \"%s\": must be object at the root",
			  api_jstr(sch, "type") ?: "");
	else
		validate_schema(sch, f, causes);
	snprintf(f, sizeof(f), "spec.versions[%zu].subresources.scale", i);
	if (api_jget(v, "subresources.scale") &&
	    (!api_jstr(v, "subresources.scale.specReplicasPath") ||
	     !api_jstr(v, "subresources.scale.statusReplicasPath")))
		api_cause(causes, "FieldValueRequired", f,
			  "Required value: specReplicasPath and statusReplicasPath are required");
	json_array_foreach(json_object_get(v, "additionalPrinterColumns"), j, c) {
		const char *t = api_jstr(c, "type");
		bool known = false;

		for (size_t k = 0; k < ARRAY_SIZE(types); k++)
			known = known || streq(t, types[k]);
		snprintf(f, sizeof(f), "spec.versions[%zu].additionalPrinterColumns[%zu]", i, j);
		if (!api_jstr(c, "name") || !api_jstr(c, "jsonPath"))
			api_cause(causes, "FieldValueRequired", f, "Required value: name and jsonPath");
		if (!known)
			api_cause(causes, "FieldValueNotSupported", f,
				  "Unsupported value: \"%s\": supported values: \"integer\", \"number\", "
				  "\"string\", \"boolean\", \"date\"", t ?: "");
	}
}

static void validate_versions(json_t *crd, json_t *causes)
{
	json_t *vs = api_jget(crd, "spec.versions"), *v;
	size_t i, storage = 0;

	if (!json_array_size(vs)) {
		api_cause(causes, "FieldValueInvalid", "spec.versions",
			  "Invalid value: null: must have exactly one version marked as storage version");
		return;
	}
	if (json_array_size(vs) > CRD_MAX_VERSIONS)
		api_cause(causes, "FieldValueTooMany", "spec.versions",
			  "Too many: %zu: must have at most %d items", json_array_size(vs),
			  CRD_MAX_VERSIONS);
	json_array_foreach(vs, i, v) {
		storage += json_is_true(json_object_get(v, "storage"));
		validate_version(v, i, streq(api_jstr(crd, "spec.scope"), "Namespaced"), causes);
		for (size_t j = 0; j < i; j++)
			if (streq(api_jstr(v, "name"), api_jstr(json_array_get(vs, j), "name")))
				api_cause(causes, "FieldValueDuplicate", "spec.versions",
					  "Duplicate value: \"%s\"", api_jstr(v, "name"));
	}
	if (storage != 1)
		api_cause(causes, "FieldValueInvalid", "spec.versions",
			  "Invalid value: %zu: must have exactly one version marked as storage version",
			  storage);
}

void api_crd_validate(json_t *crd, json_t *causes)
{
	const char *group = api_jstr(crd, "spec.group"), *plural = api_jstr(crd, "spec.names.plural");
	const char *scope = api_jstr(crd, "spec.scope"), *name = api_jstr(crd, "metadata.name");
	const char *bad;
	char want[512];

	if (!group || !*group)
		api_cause(causes, "FieldValueRequired", "spec.group", "Required value");
	else if (!strchr(group, '.') || (bad = kube_dns1123_subdomain_error(group)))
		api_cause(causes, "FieldValueInvalid", "spec.group",
			  "Invalid value: \"%s\": should be a domain with at least one dot", group);
	else if (api_group_known(group))
		api_cause(causes, "FieldValueInvalid", "spec.group",
			  "Invalid value: \"%s\": is a group of the built-in API", group);
	if (!plural || !*plural)
		api_cause(causes, "FieldValueRequired", "spec.names.plural", "Required value");
	else if ((bad = kube_dns1123_label_error(plural)))
		api_cause(causes, "FieldValueInvalid", "spec.names.plural", "Invalid value: \"%s\": %s",
			  plural, bad);
	if (!api_jstr(crd, "spec.names.kind") || !*api_jstr(crd, "spec.names.kind"))
		api_cause(causes, "FieldValueRequired", "spec.names.kind", "Required value");
	if (!scope)
		api_cause(causes, "FieldValueRequired", "spec.scope", "Required value");
	else if (!streq(scope, "Namespaced") && !streq(scope, "Cluster"))
		api_cause(causes, "FieldValueNotSupported", "spec.scope",
			  "Unsupported value: \"%s\": supported values: \"Cluster\", \"Namespaced\"", scope);
	snprintf(want, sizeof(want), "%s.%s", plural ?: "", group ?: "");
	if (name && plural && group && !streq(name, want))
		api_cause(causes, "FieldValueInvalid", "metadata.name",
			  "Invalid value: \"%s\": must be spec.names.plural+\".\"+spec.group", name);
	validate_versions(crd, causes);
}

const struct api_column api_crd_columns[API_CRD_NCOLS] = {
	{ "Name", "string", "name", "Name must be unique within a namespace.", 0 },
	{ "Created At", "date", "", "CreationTimestamp of the CustomResourceDefinition.", 0 },
};

void api_crd_cells(json_t *obj, time_t now, json_t *cells)
{
	(void)now;
	json_array_append_new(cells, json_string(api_jstr(obj, "metadata.name") ?: ""));
	json_array_append_new(cells, json_string(api_jstr(obj, "metadata.creationTimestamp") ?: ""));
}

/* ---- the row's hooks ---- */

static json_t *condition(const char *type, const char *status, const char *reason,
			 const char *msg, const char *ts)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status, "reason", reason,
			 "message", msg, "lastTransitionTime", ts);
}

/* Another served resource of the group with crd's kind, or its plural as
 * a built-in: the names conflict (NamesAccepted False). */
static const char *names_conflict(struct api_server *s, json_t *crd)
{
	const char *group = api_jstr(crd, "spec.group"), *kind = api_jstr(crd, "spec.names.kind");
	const char *plural = api_jstr(crd, "spec.names.plural");
	struct crd_snapshot *snap = s->crds ? snapshot(s) : NULL;

	for (size_t i = 0; snap && i < snap->n; i++) {
		const struct api_resource *r = &snap->rows[i]->res;

		if (streq(r->group, group) && !streq(r->plural, plural) && streq(r->kind, kind))
			return "KindConflict";
	}
	return NULL;
}

/* A new CRD: upstream's finalizer, and the status its controllers would
 * write (names accepted unless they conflict, then established). */
static int crd_admit(struct api_server *s, const struct api_resource *r, json_t *crd,
		     struct api_err *e)
{
	json_t *meta = api_obj_meta(crd), *fins = json_object_get(meta, "finalizers");
	const char *conflict, *stored;
	json_t *st, *conds;
	char ts[40];

	(void)r;
	(void)e;
	api_crd_defaults(crd);
	if (!json_is_array(fins)) {
		fins = json_array();
		json_object_set_new(meta, "finalizers", fins);
	}
	if (!has_finalizer(fins))
		json_array_append_new(fins, json_string(CRD_FINALIZER));
	api_format_time(time(NULL), ts, sizeof(ts));
	conflict = names_conflict(s, crd);
	conds = json_array();
	if (conflict) {
		json_array_append_new(conds, condition("NamesAccepted", "False", conflict,
						       "the kind is in use by another resource of the group", ts));
		json_array_append_new(conds, condition("Established", "False", "NotAccepted",
						       "not all names are accepted", ts));
	} else {
		json_array_append_new(conds, condition("NamesAccepted", "True", "NoConflicts",
						       "no conflicts found", ts));
		json_array_append_new(conds, condition("Established", "True", "InitialNamesAccepted",
						       "the initial names have been accepted", ts));
	}
	stored = storage_version(crd);
	st = json_pack("{s:o,s:O*,s:[s*]}", "conditions", conds, "acceptedNames",
		       conflict ? NULL : api_jget(crd, "spec.names"), "storedVersions", stored);
	if (!json_object_get(st, "acceptedNames"))
		json_object_set_new(st, "acceptedNames", json_object());
	json_object_set_new(crd, "status", st);
	return 0;
}

static bool stored_version_known(json_t *crd)
{
	const char *stored = storage_version(crd);
	json_t *v;
	size_t i;

	json_array_foreach(api_jget(crd, "status.storedVersions"), i, v) {
		if (streq(json_string_value(v), stored))
			return true;
	}
	return !stored;
}

/* The status an updated spec asks for: the storage version added to
 * storedVersions, the names accepted again (unless they conflicted). */
static int status_follows(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			  struct api_err *e)
{
	json_t *obj = json_deep_copy(old), *st = json_object_get(obj, "status"), *sv;

	(void)r;
	(void)ud;
	(void)e;
	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(obj, "status", st);
	}
	sv = json_object_get(st, "storedVersions");
	if (!json_is_array(sv)) {
		sv = json_array();
		json_object_set_new(st, "storedVersions", sv);
	}
	if (!stored_version_known(obj))
		json_array_append_new(sv, json_string(storage_version(obj)));
	if (!condition_false(obj, "NamesAccepted"))
		json_object_set(st, "acceptedNames", api_jget(obj, "spec.names"));
	*out = obj;
	return 0;
}

static void crd_written(struct api_server *s, const struct api_resource *r, json_t *crd, bool gone)
{
	const char *name = api_jstr(crd, "metadata.name") ?: "?";
	struct api_err e = { 0 };
	json_t *out = NULL;
	int ret;

	if (!gone && !api_jget(crd, "metadata.deletionTimestamp") &&
	    (!stored_version_known(crd) ||
	     (!condition_false(crd, "NamesAccepted") &&
	      !json_equal(api_jget(crd, "status.acceptedNames"), api_jget(crd, "spec.names"))))) {
		/* Written again, this hook runs again and reloads. */
		if (api_obj_mutate(s, r, NULL, name, API_WRITE_STATUS, status_follows, NULL, NULL,
				   &out, &e) == 0) {
			json_decref(out);
			return;
		}
		log_warn("customresourcedefinition %s: status not updated: %s", name, e.message);
		api_err_free(&e);
	}
	ret = api_crd_reload(s);
	if (ret < 0)
		log_warn("customresourcedefinition %s: resources not reloaded: %s", name,
			 strerror(-ret));
}

/* What an update may not change: the scope and the kind (the stored
 * objects' keys and types). */
static int crd_update_check(struct api_server *s, json_t *crd, json_t *old, bool dry_run,
			    struct api_err *e)
{
	static const char *const fixed[] = { "spec.scope", "spec.names.kind" };
	json_t *causes;

	(void)s;
	(void)dry_run;
	if (!old)
		return 0;
	causes = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		const char *now = api_jstr(crd, fixed[i]), *was = api_jstr(old, fixed[i]);

		if (now && was && !streq(now, was))
			api_cause(causes, "FieldValueInvalid", fixed[i],
				  "Invalid value: \"%s\": field is immutable", now);
	}
	if (!json_array_size(causes)) {
		json_decref(causes);
		return 0;
	}
	api_err_invalid(e, crd_res(), api_jstr(crd, "metadata.name"), causes);
	return -EINVAL;
}

const struct api_obj_hooks api_crd_hooks = {
	.allocate = crd_update_check,
	.admit = crd_admit,
	.written = crd_written,
};
