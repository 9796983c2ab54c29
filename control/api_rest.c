/* The REST reads of skiff-server (get, list; watch: api_watch.c) and
 * the dispatch of every resource request to its verb. The writes are in
 * api_write.c, over the object layer (api_obj.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

int api_include_object(struct api_req *q)
{
	const char *io = api_query(q, "includeObject");

	if (streq(io, "Object"))
		return 1;
	if (streq(io, "None"))
		return -1;
	return 0;
}

/* ---- selectors ---- */

/* Whether the resource serves a field selector on key. */
static bool field_supported(const struct api_resource *r, const char *key)
{
	if (streq(key, "metadata.name") || streq(key, "metadata.namespace"))
		return true;
	for (size_t j = 0; j < ARRAY_SIZE(r->fields) && r->fields[j]; j++)
		if (streq(key, r->fields[j]))
			return true;
	return false;
}

int api_parse_selectors(struct api_req *q, struct kube_selector **ls, struct kube_selector **fs,
			struct api_err *e)
{
	char err[256] = "";
	const char *l = api_query(q, "labelSelector"), *f = api_query(q, "fieldSelector");
	struct kube_selector *lsel = NULL, *fsel = NULL;

	if (kube_label_selector_parse(l, &lsel, err, sizeof(err)) < 0) {
		api_err_set(e, 400, "BadRequest", "unable to parse requirement: %s", err);
		return -EINVAL;
	}
	if (kube_field_selector_parse(f, &fsel, err, sizeof(err)) < 0) {
		kube_selector_free(lsel);
		api_err_set(e, 400, "BadRequest", "invalid field selector: %s", err);
		return -EINVAL;
	}
	for (size_t i = 0; i < fsel->n; i++) {
		if (!field_supported(q->res, fsel->reqs[i].key)) {
			api_err_set(e, 400, "BadRequest", "field label not supported: %s",
				    fsel->reqs[i].key);
			kube_selector_free(lsel);
			kube_selector_free(fsel);
			return -EINVAL;
		}
	}
	*ls = lsel;
	*fs = fsel;
	return 0;
}

bool api_obj_matches(json_t *obj, const struct kube_selector *ls, const struct kube_selector *fs)
{
	return kube_selector_match_labels(ls, api_jget(obj, "metadata.labels")) &&
	       kube_selector_match_fields(fs, obj);
}

/* ---- continue tokens: "<list revision>:<hex of the last key returned>";
 * the pages after the first are read at that revision ---- */

static void hex_encode(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 <= len; s++, o += 2)
		snprintf(out + o, 3, "%02x", (unsigned char)*s);
	out[o < len ? o : len - 1] = 0;
}

static int hex_decode(const char *s, char *out, size_t len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 >= len)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;

		if (sscanf(s + i, "%2x", &v) != 1)
			return -EINVAL;
		out[i / 2] = (char)v;
	}
	out[n / 2] = 0;
	return 0;
}

/* ---- get ---- */

static bool sub_allowed(struct api_req *q)
{
	const struct api_resource *r = q->res;

	if (!q->sub[0])
		return true;
	if (streq(q->sub, "status"))
		return r->subresources & API_SUB_STATUS;
	if (streq(q->sub, "scale"))
		return r->subresources & API_SUB_SCALE;
	if (streq(q->sub, "log"))
		return r->subresources & API_SUB_LOG;
	if (streq(q->sub, "exec"))
		return r->subresources & API_SUB_EXEC;
	if (streq(q->sub, "binding"))
		return r->subresources & API_SUB_BINDING;
	return api_subresource_find(r, q->sub) != NULL;
}

static enum MHD_Result rest_get(struct api_req *q)
{
	struct api_err e = { 0 };
	json_t *obj = NULL, *t;

	if (api_obj_get(q->srv, q->res, q->ns, q->name, &obj, &e) < 0)
		return api_reply_err(q, &e);
	if (streq(q->sub, "scale")) {
		t = api_scale_of(q->res, obj);
		json_decref(obj);
		return api_reply_json(q, 200, t);
	}
	if (!q->table)
		return api_reply_json(q, 200, obj);
	t = api_table_new(q->res, true);
	json_object_set(json_object_get(t, "metadata"), "resourceVersion",
			api_jget(obj, "metadata.resourceVersion"));
	api_table_add_row(q->res, t, obj, api_include_object(q), time(NULL));
	json_decref(obj);
	return api_reply_json(q, 200, t);
}

/* ---- list ---- */

/* One list request: what it reads, where it stands, what it answers. */
struct list {
	struct kube_selector *ls, *fs;
	char prefix[512];
	char start[1024]; /* the last key read */
	size_t limit, count;
	int64_t rev;      /* the revision of the whole list */
	bool more;
	struct api_list_body *items; /* the answer: a List, */
	json_t *table;               /* or a Table */
	int include;
	time_t now;
};

static void list_free(struct list *l)
{
	kube_selector_free(l->ls);
	kube_selector_free(l->fs);
	api_list_body_free(l->items);
	json_decref(l->table);
}

static int continue_parse(struct list *l, const char *cont, struct api_err *e)
{
	const char *colon = strchr(cont, ':');
	char *end = NULL;

	if (colon) {
		l->rev = strtoll(cont, &end, 10);
		if (end != colon || l->rev <= 0)
			l->rev = -1;
		cont = colon + 1;
	}
	if (l->rev < 0 || hex_decode(cont, l->start, sizeof(l->start)) < 0 ||
	    strncmp(l->start, l->prefix, strlen(l->prefix)) != 0) {
		api_err_set(e, 400, "BadRequest", "continue key is not valid: %s", cont);
		return -EINVAL;
	}
	return 0;
}

static void continue_token(const struct list *l, char *buf, size_t len)
{
	int w;

	buf[0] = 0;
	if (!l->more || !l->limit)
		return;
	w = snprintf(buf, len, "%lld:", (long long)l->rev);
	hex_encode(l->start, buf + w, len - (size_t)w);
}

static int list_begin(struct api_req *q, struct list *l, struct api_err *e)
{
	const char *cont = api_query(q, "continue");
	int64_t lim = 0, timeout;

	/* timeoutSeconds bounds a list upstream; here it is only checked. */
	if (api_query_int64(q, "limit", &lim, e) < 0 ||
	    api_query_int64(q, "timeoutSeconds", &timeout, e) < 0)
		return -EINVAL;
	l->limit = lim > 0 ? (size_t)lim : 0; /* 0 or less: no limit, as upstream */
	l->more = true;
	l->include = api_include_object(q);
	l->now = time(NULL);
	if (api_parse_selectors(q, &l->ls, &l->fs, e) < 0)
		return -EINVAL;
	api_prefix_for(q->res, q->ns, l->prefix, sizeof(l->prefix));
	if (cont && *cont && continue_parse(l, cont, e) < 0)
		return -EINVAL;
	if (q->table)
		l->table = api_table_new(q->res, true);
	else if (!(l->items = api_list_body_new(q->res)))
		return -ENOMEM;
	return 0;
}

/* Adds the page's objects that the selectors match. */
static void list_add(struct api_req *q, struct list *l, struct store_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *obj;

		snprintf(l->start, sizeof(l->start), "%s", kvs[i].key);
		if (!l->table && !l->ls->n && !l->fs->n) {
			/* Nothing to look at: served as stored, unparsed. */
			if (api_list_body_add(l->items, &kvs[i], NULL) > 0)
				l->count++;
			continue;
		}
		obj = api_obj_from_kv(q->res, kvs[i].value, kvs[i].value_len, kvs[i].mod_revision);
		if (obj && api_obj_matches(obj, l->ls, l->fs)) {
			l->count++;
			if (l->table)
				api_table_add_row(q->res, l->table, obj, l->include, l->now);
			else
				api_list_body_add(l->items, &kvs[i], obj);
		}
		json_decref(obj);
	}
}

/* Reads pages until the limit is filled or the prefix ends, all at the
 * first read's revision (one view for the whole list). */
static int list_read(struct api_req *q, struct list *l, struct api_err *e)
{
	while (l->more && (!l->limit || l->count < l->limit)) {
		const char *from = l->start[0] ? l->start : NULL;
		size_t want = l->limit ? l->limit - l->count : 0;
		struct store_kv *kvs = NULL;
		size_t n = 0;
		int64_t rev = 0;
		int r = l->rev ? store_list_at(q->srv->store, l->prefix, from, want, l->rev, &kvs,
					       &n, &l->more)
			       : store_list(q->srv->store, l->prefix, from, want, &kvs, &n, &rev,
					    &l->more);

		if (r == -ERANGE) {
			api_err_set(e, 410, "Expired",
				    "The provided continue parameter is too old to display a "
				    "consistent list result. You can start a new list without the "
				    "continue parameter.");
			return r;
		}
		if (r < 0) {
			api_err_store(e, r);
			return r;
		}
		if (!l->rev)
			l->rev = rev;
		list_add(q, l, kvs, n);
		store_kvs_free(kvs, n);
		if (n == 0)
			break;
	}
	return 0;
}

static enum MHD_Result list_reply(struct api_req *q, struct list *l)
{
	char token[2200], rv[32];
	json_t *m, *t = l->table;
	struct api_list_body *items = l->items;

	continue_token(l, token, sizeof(token));
	l->table = NULL;
	l->items = NULL;
	list_free(l);
	if (!t)
		return api_list_body_reply(q, items, l->rev, token);
	m = json_object_get(t, "metadata");
	snprintf(rv, sizeof(rv), "%lld", (long long)l->rev);
	json_object_set_new(m, "resourceVersion", json_string(rv));
	if (token[0])
		json_object_set_new(m, "continue", json_string(token));
	return api_reply_json(q, 200, t);
}

static enum MHD_Result rest_list(struct api_req *q)
{
	struct list l = { 0 };
	struct api_err e = { 0 };
	int r = list_begin(q, &l, &e);

	if (r == 0)
		r = list_read(q, &l, &e);
	if (r == -ENOMEM) {
		list_free(&l);
		return MHD_NO;
	}
	if (r < 0) {
		list_free(&l);
		return api_reply_err(q, &e);
	}
	return list_reply(q, &l);
}

/* ---- dispatch ---- */

static enum MHD_Result method_not_allowed(struct api_req *q)
{
	struct api_err e = { 0 };

	api_err_set(&e, 405, "MethodNotAllowed", "the server does not allow this method on the "
		    "requested resource");
	return api_reply_err(q, &e);
}

/* PATCH with application/apply-patch+yaml creates what does not exist. */
static bool apply_creates(struct api_req *q)
{
	return ctype_has(q->ctype, "application/apply-patch+yaml") && !q->sub[0] &&
	       !api_obj_exists(q->srv, q->res, q->ns, q->name);
}

/* Requests on the collection (no name in the path). */
static enum MHD_Result dispatch_collection(struct api_req *q, bool is_watch)
{
	const char *m = q->method;

	if (streq(m, "GET"))
		return is_watch ? api_rest_watch(q) : rest_list(q);
	if (streq(m, "POST"))
		return q->res->answer ? api_rest_answer(q) : api_rest_create(q);
	if (streq(m, "DELETE"))
		return api_rest_deletecollection(q);
	return method_not_allowed(q);
}

/* Writes to a subresource: status, scale, binding and the rows' own. */
static enum MHD_Result dispatch_sub(struct api_req *q)
{
	const struct api_subresource *sr = api_subresource_find(q->res, q->sub);
	const char *m = q->method;

	if (sr && streq(m, sr->method))
		return api_rest_sub_write(q, sr);
	if (streq(q->sub, "binding") && streq(m, "POST"))
		return api_rest_binding(q);
	if (streq(q->sub, "scale") && (streq(m, "PUT") || streq(m, "PATCH")))
		return api_rest_scale(q);
	if (streq(q->sub, "status") && streq(m, "PUT"))
		return api_rest_update(q);
	if (streq(q->sub, "status") && streq(m, "PATCH"))
		return api_rest_patch(q);
	return method_not_allowed(q);
}

enum MHD_Result api_rest_dispatch(struct api_req *q)
{
	const char *m = q->method;
	bool is_watch = api_query_bool(q, "watch");

	if (!sub_allowed(q) || (q->res->answer && (q->name[0] || !streq(m, "POST"))))
		return method_not_allowed(q);
	if (q->res->namespaced && !q->ns[0] && q->name[0]) {
		/* Namespaced objects need a namespace in the path. */
		struct api_err e = { 0 };

		api_err_set(&e, 404, "NotFound", "the server could not find the requested resource");
		return api_reply_err(q, &e);
	}
	if (!q->name[0])
		return dispatch_collection(q, is_watch);
	if (streq(m, "GET"))
		return is_watch ? api_rest_watch(q) : rest_get(q);
	if (q->sub[0])
		return dispatch_sub(q);
	if (streq(m, "PUT"))
		return api_rest_update(q);
	if (streq(m, "PATCH"))
		return apply_creates(q) ? api_rest_apply_create(q) : api_rest_patch(q);
	if (streq(m, "DELETE"))
		return api_rest_delete(q);
	return method_not_allowed(q);
}
