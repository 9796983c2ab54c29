/* The REST writes: create, update, patch, the status, scale and binding
 * subresources, delete and deletecollection. Each parses its request
 * (body, query, DeleteOptions) and calls one entry of the object layer
 * (control/api_obj.h), the one that in-process callers use too, then
 * answers with the object or with the Status of the entry's error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/json_patch.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

/* ---- the request's options ---- */

/* The options of a create, update or patch from the query (422 for a
 * dryRun or fieldValidation upstream refuses). */
static int write_opts(struct api_req *q, const char *kind, struct api_write_opts *o,
		      struct api_err *e)
{
	o->warning = q->warning;
	o->warning_len = sizeof(q->warning);
	o->reply = NULL;
	o->reply_len = NULL;
	return api_query_write_opts(q, kind, o, e);
}

/* The text of the object a write answers with, when the object layer
 * makes it from what it stored (o->reply): json_dumps's, not paid twice. */
struct answer {
	char *text;
	size_t len;
};

static void answer_ask(struct api_write_opts *o, struct answer *a)
{
	o->reply = &a->text;
	o->reply_len = &a->len;
}

/* The request body as JSON: 415 for a media type this server does not
 * decode, 400 for a malformed body; a member given twice as o's
 * fieldValidation says (upstream: the last value, a warning by default;
 * o NULL: the last value). */
static int decode_body(struct api_req *q, const struct api_write_opts *o, json_t **out,
		       struct api_err *e)
{
	char err[512] = "";
	int r = api_decode_body(q->body, q->body_len, q->ctype, out, err, sizeof(err));

	if (r == -EPROTONOSUPPORT)
		api_err_set(e, 415, "UnsupportedMediaType", "%s", err);
	else if (r < 0)
		api_err_set(e, 400, "BadRequest", "%s", err);
	if (r <= 0 || !o)
		return r < 0 ? r : 0;
	if (o->fields == API_FIELDS_STRICT) {
		json_decref(*out);
		api_err_set(e, 400, "BadRequest", "strict decoding error: %s", err);
		return -EINVAL;
	}
	if (o->fields == API_FIELDS_WARN && o->warning)
		snprintf(o->warning, o->warning_len, "%s", err);
	return 0;
}

/* Answers with out (code) or with e's Status. */
static enum MHD_Result reply(struct api_req *q, int r, unsigned code, json_t *out,
			     struct api_err *e)
{
	return r < 0 ? api_reply_err(q, e) : api_reply_json(q, code, out);
}

/* reply, with a's text for out when the write left one (the same bytes
 * api_reply_json writes: the text and one newline). */
static enum MHD_Result reply_object(struct api_req *q, int r, unsigned code, json_t *out,
				    struct answer *a, struct api_err *e)
{
	char *t = r < 0 || !a->text ? NULL : realloc(a->text, a->len + 2);

	if (!t) {
		free(a->text);
		return reply(q, r, code, out, e);
	}
	json_decref(out);
	t[a->len] = '\n';
	t[a->len + 1] = 0;
	return api_reply_bytes(q, code, "application/json", (unsigned char *)t, a->len + 1);
}

/* ---- create ---- */

/* POST, or a server-side apply of an object that does not exist, which
 * the URL names when the body does not. */
static enum MHD_Result create(struct api_req *q, bool name_from_url)
{
	struct api_err e = { 0 };
	struct api_write_opts o;
	struct answer a = { 0 };
	json_t *body, *out = NULL, *meta;
	int r = write_opts(q, name_from_url ? "PatchOptions" : "CreateOptions", &o, &e);

	if (r < 0 || (r = decode_body(q, &o, &body, &e)) < 0)
		return api_reply_err(q, &e);
	meta = json_object_get(body, "metadata");
	if (name_from_url && json_is_object(meta) && !api_jstr(meta, "name"))
		json_object_set_new(meta, "name", json_string(q->name));
	answer_ask(&o, &a);
	r = api_obj_create_take(q->srv, q->res, q->ns, body, &o, &out, &e);
	return reply_object(q, r, 201, out, &a, &e);
}

enum MHD_Result api_rest_create(struct api_req *q)
{
	return create(q, false);
}

enum MHD_Result api_rest_apply_create(struct api_req *q)
{
	return create(q, true);
}

enum MHD_Result api_rest_answer(struct api_req *q)
{
	struct api_err e = { 0 };
	json_t *body, *out = NULL;
	int r = decode_body(q, NULL, &body, &e);

	if (r < 0)
		return api_reply_err(q, &e);
	r = api_review_answer(q, body, &out, &e);
	json_decref(body);
	return reply(q, r, 201, out, &e);
}

/* ---- update (PUT) ---- */

/* An entry that writes the request's body to the named object. */
typedef int (*body_write_fn)(struct api_server *s, const struct api_resource *r, const char *ns,
			     const char *name, json_t *body, const struct api_write_opts *o,
			     json_t **out, struct api_err *e);

/* object: fn answers with the object it wrote (not with a Status or
 * another kind), so the stored text may be its answer. */
static enum MHD_Result write_body(struct api_req *q, body_write_fn fn, unsigned code, bool object)
{
	struct api_err e = { 0 };
	struct api_write_opts o;
	struct answer a = { 0 };
	json_t *body, *out = NULL;
	int r = write_opts(q, streq(q->method, "POST") ? "CreateOptions" : "UpdateOptions", &o, &e);

	if (r < 0 || (r = decode_body(q, &o, &body, &e)) < 0)
		return api_reply_err(q, &e);
	if (object)
		answer_ask(&o, &a);
	r = fn(q->srv, q->res, q->ns, q->name, body, &o, &out, &e);
	json_decref(body);
	return reply_object(q, r, code, out, &a, &e);
}

enum MHD_Result api_rest_update(struct api_req *q)
{
	return write_body(q, streq(q->sub, "status") ? api_obj_update_status : api_obj_update, 200,
			  true);
}

/* ---- patch ---- */

enum patch_type {
	PATCH_JSON,      /* RFC 6902 */
	PATCH_MERGE,     /* RFC 7386 */
	PATCH_STRATEGIC, /* strategic merge; server-side apply is served the same way */
};

struct patch {
	enum patch_type type;
	json_t *body;
};

/* The request's patch (415 for a patch type this server does not apply). */
static int patch_parse(struct api_req *q, const struct api_write_opts *o, struct patch *p,
		       struct api_err *e)
{
	int r = decode_body(q, o, &p->body, e);

	if (r < 0)
		return r;
	if (ctype_has(q->ctype, "application/json-patch+json"))
		p->type = PATCH_JSON;
	else if (ctype_has(q->ctype, "application/merge-patch+json"))
		p->type = PATCH_MERGE;
	else if (ctype_has(q->ctype, "application/strategic-merge-patch+json") ||
		 ctype_has(q->ctype, "application/apply-patch+yaml"))
		p->type = PATCH_STRATEGIC;
	else {
		json_decref(p->body);
		api_err_set(e, 415, "UnsupportedMediaType",
			    "the body of the request was in an unknown format - accepted media types "
			    "include: application/json-patch+json, application/merge-patch+json, "
			    "application/apply-patch+yaml, application/strategic-merge-patch+json");
		return -EPROTONOSUPPORT;
	}
	return 0;
}

static int patch_apply(const struct patch *p, json_t *obj, json_t **out, struct api_err *e)
{
	char err[512] = "";
	int r;

	if (p->type == PATCH_JSON)
		r = json_patch_apply(obj, p->body, err, sizeof(err), out);
	else if (p->type == PATCH_MERGE)
		r = json_is_object(p->body) ? json_merge_patch(obj, p->body, out) : -EINVAL;
	else
		r = json_strategic_merge(obj, p->body, err, sizeof(err), out);
	if (r == -EILSEQ || r == -ENOENT) {
		api_err_set(e, 422, "Invalid", "the server rejected our request due to an error in "
			    "our request: %s", err);
		return r;
	}
	if (r < 0) {
		api_err_set(e, 400, "BadRequest", "error applying patch: %s",
			    err[0] ? err : "the patch must be a JSON object");
		return r;
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		api_err_set(e, 422, "Invalid", "the patch produced a value that is not an object");
		return -EINVAL;
	}
	return 0;
}

/* A patched object whose apiVersion or kind the patch changed or removed:
 * 422, as upstream's decoding of the patched object refuses it. */
static int patch_kept_type(const struct api_resource *r, json_t *old, json_t *patched,
			   struct api_err *e)
{
	static const char *const keys[] = { "apiVersion", "kind" };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *was = json_object_get(old, keys[i]), *now = json_object_get(patched, keys[i]);
		char qn[128];

		if (json_equal(was, now))
			continue;
		api_resource_qualified(r, qn, sizeof(qn));
		api_err_set(e, 422, "Invalid",
			    "%s \"%s\" is invalid: patch: Invalid value: %s: a patch cannot change "
			    "it (%s)", qn, api_jstr(old, "metadata.name") ?: "", keys[i],
			    json_string_value(now) ?: "removed");
		return -EINVAL;
	}
	return 0;
}

static int mutate_patch(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			struct api_err *e)
{
	int ret = patch_apply(ud, old, out, e);

	if (ret == 0 && (ret = patch_kept_type(r, old, *out, e)) < 0)
		json_decref(*out);
	return ret;
}

enum MHD_Result api_rest_patch(struct api_req *q)
{
	enum api_write_part part = streq(q->sub, "status") ? API_WRITE_STATUS : API_WRITE_MAIN;
	struct api_err e = { 0 };
	struct api_write_opts o;
	struct answer a = { 0 };
	struct patch p;
	json_t *out = NULL;
	int r = write_opts(q, "PatchOptions", &o, &e);

	if (r < 0 || (r = patch_parse(q, &o, &p, &e)) < 0)
		return api_reply_err(q, &e);
	answer_ask(&o, &a);
	r = api_obj_mutate(q->srv, q->res, q->ns, q->name, part, mutate_patch, &p, &o, &out, &e);
	json_decref(p.body);
	return reply_object(q, r, 200, out, &a, &e);
}

/* ---- scale ---- */

static json_t *workload_scale_of(json_t *obj)
{
	json_t *m = api_obj_meta(obj);
	json_t *sel = api_jget(obj, "spec.selector.matchLabels"), *v;
	char text[512] = "";
	size_t off = 0;
	const char *k;

	json_object_foreach(sel, k, v) {
		off += (size_t)snprintf(text + off, off < sizeof(text) ? sizeof(text) - off : 0,
					"%s%s=%s", off ? "," : "", k, json_string_value(v) ?: "");
		if (off >= sizeof(text))
			break;
	}
	return json_pack("{s:s,s:s,s:{s:O*,s:O*,s:O*,s:O*,s:O*},s:{s:I},s:{s:I,s:s}}", "kind",
			 "Scale", "apiVersion", "autoscaling/v1", "metadata", "name",
			 json_object_get(m, "name"), "namespace", json_object_get(m, "namespace"),
			 "uid", json_object_get(m, "uid"), "resourceVersion",
			 json_object_get(m, "resourceVersion"), "creationTimestamp",
			 json_object_get(m, "creationTimestamp"), "spec", "replicas",
			 (json_int_t)json_integer_value(api_jget(obj, "spec.replicas")), "status",
			 "replicas", (json_int_t)json_integer_value(api_jget(obj, "status.replicas")),
			 "selector", text);
}

json_t *api_scale_of(const struct api_resource *r, json_t *obj)
{
	return r->crd ? api_crd_scale_of(r, obj) : workload_scale_of(obj);
}

/* A PUT's Scale, or a PATCH to apply to the current one. */
struct scale_write {
	json_t *scale;
	struct patch patch;
};

/* The new Scale's spec.replicas (and resourceVersion, a precondition)
 * flows back into the object. */
static int mutate_scale(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			struct api_err *e)
{
	struct scale_write *w = ud;
	json_t *sc = NULL, *rep, *obj;
	const char *rv;
	int ret = 0;

	if (w->scale) {
		sc = json_incref(w->scale);
	} else {
		json_t *cur = api_scale_of(r, old);

		ret = patch_apply(&w->patch, cur, &sc, e);
		json_decref(cur);
		if (ret < 0)
			return ret;
	}
	rep = api_jget(sc, "spec.replicas");
	if (!json_is_integer(rep) || json_integer_value(rep) < 0) {
		json_t *causes = json_array();

		api_cause(causes, "FieldValueInvalid", "spec.replicas",
			  "Invalid value: must be greater than or equal to 0");
		json_decref(sc);
		api_err_invalid(e, r, api_jstr(old, "metadata.name"), causes);
		e->kind = "Scale";
		return -EINVAL;
	}
	obj = json_deep_copy(old);
	if (r->crd)
		api_crd_scale_set(r, obj, rep);
	else
		json_object_set(json_object_get(obj, "spec"), "replicas", rep);
	rv = api_jstr(sc, "metadata.resourceVersion");
	if (rv && *rv)
		json_object_set_new(api_obj_meta(obj), "resourceVersion", json_string(rv));
	json_decref(sc);
	*out = obj;
	return 0;
}

enum MHD_Result api_rest_scale(struct api_req *q)
{
	struct scale_write w = { 0 };
	struct api_err e = { 0 };
	struct api_write_opts o;
	json_t *out = NULL, *sc;
	bool patch = streq(q->method, "PATCH");
	int r = write_opts(q, patch ? "PatchOptions" : "UpdateOptions", &o, &e);

	if (r < 0 ||
	    (r = patch ? patch_parse(q, &o, &w.patch, &e) : decode_body(q, &o, &w.scale, &e)) < 0)
		return api_reply_err(q, &e);
	r = api_obj_mutate(q->srv, q->res, q->ns, q->name, API_WRITE_MAIN, mutate_scale, &w, &o,
			   &out, &e);
	json_decref(w.scale);
	json_decref(w.patch.body);
	if (r < 0)
		return api_reply_err(q, &e);
	sc = api_scale_of(q->res, out);
	json_decref(out);
	return api_reply_json(q, 200, sc);
}

/* ---- binding ---- */

/* POST pods/NAME/binding: assigns the node (ud: the Binding). */
static int mutate_binding(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			  struct api_err *e)
{
	const char *name = api_jstr(old, "metadata.name");
	const char *node = api_jstr(ud, "target.name"), *bound = api_jstr(old, "spec.nodeName");
	json_t *obj, *spec;

	if (!node || !*node) {
		json_t *causes = json_array();

		api_cause(causes, "FieldValueRequired", "target.name", "Required value");
		api_err_invalid(e, r, name, causes);
		e->kind = "Binding";
		return -EINVAL;
	}
	if (bound && *bound) {
		api_err_set(e, 409, "Conflict", "pod %s is already assigned to node \"%s\"", name,
			    bound);
		return -EBUSY;
	}
	/* A shallow copy with a spec of its own: the write's admission
	 * copies what it changes (admit_main). */
	obj = json_copy(old);
	spec = json_copy(json_object_get(old, "spec"));
	if (json_is_object(spec)) {
		json_object_set_new(spec, "nodeName", json_string(node));
		json_object_set_new(obj, "spec", spec);
	}
	*out = obj;
	return 0;
}

/* Answers as upstream's BindingREST: a Status with Success and the
 * create's 201, not the bound pod. */
static int bind_pod(struct api_server *s, const struct api_resource *r, const char *ns,
		    const char *name, json_t *binding, const struct api_write_opts *o,
		    json_t **out, struct api_err *e)
{
	json_t *pod = NULL;
	int ret = api_obj_mutate(s, r, ns, name, API_WRITE_MAIN, mutate_binding, binding, o, &pod, e);

	json_decref(pod);
	if (ret < 0)
		return ret;
	*out = json_pack("{s:s,s:s,s:{},s:s,s:i}", "kind", "Status", "apiVersion", "v1", "metadata",
			 "status", "Success", "code", 201);
	return 0;
}

enum MHD_Result api_rest_binding(struct api_req *q)
{
	return write_body(q, bind_pod, 201, false);
}

/* ---- the rows' own subresources (eviction, token, finalize) ---- */

enum MHD_Result api_rest_sub_write(struct api_req *q, const struct api_subresource *sr)
{
	return write_body(q, sr->write, sr->code, false);
}

/* ---- delete ---- */

/* The DeleteOptions body; without one, the options in the query (as
 * upstream: the query is read only when there is no body). */
static int delete_body(struct api_req *q, json_t **body, struct api_err *e)
{
	char err[512];
	int r;

	if (!q->body_len)
		return api_query_delete_options(q, body, e);
	r = api_decode_body(q->body, q->body_len, q->ctype ? q->ctype : "application/json", body,
			    err, sizeof(err));
	if (r < 0) {
		api_err_set(e, 400, "BadRequest", "%s", err);
		return r;
	}
	if (!json_is_object(*body)) {
		json_decref(*body);
		api_err_set(e, 400, "BadRequest", "DeleteOptions must be a JSON object");
		return -EINVAL;
	}
	return 0;
}

/* The options of a delete from its body or query; o points into body. */
static int delete_options(struct api_req *q, json_t **body, struct api_delete_opts *o,
			  struct api_err *e)
{
	int r = delete_body(q, body, e);

	if (r < 0)
		return r;
	r = api_check_delete_options(*body, e);
	if (r < 0) {
		json_decref(*body);
		return r;
	}
	api_delete_opts_parse(*body, o);
	o->dry_run = o->dry_run || streq(api_query(q, "dryRun"), "All");
	return 0;
}

enum MHD_Result api_rest_delete(struct api_req *q)
{
	struct api_delete_opts o;
	struct api_err e = { 0 };
	json_t *body, *out = NULL;
	int r = delete_options(q, &body, &o, &e);

	if (r < 0)
		return api_reply_err(q, &e);
	r = api_obj_delete(q->srv, q->res, q->ns, q->name, &o, &out, &e);
	json_decref(body);
	return reply(q, r, 200, out, &e);
}

/* A deletecollection: its options and selectors, and what it deleted. */
struct collection_delete {
	const struct api_delete_opts *o;
	const struct kube_selector *ls, *fs;
	json_t *items;
};

static void delete_matching(struct api_server *s, const struct api_resource *r, const char *key,
			    json_t *obj, int64_t mod_rev, void *ud)
{
	struct collection_delete *c = ud;
	struct api_err e = { 0 };
	json_t *gone = NULL;

	(void)key;
	(void)mod_rev;
	if (obj && api_obj_matches(obj, c->ls, c->fs) &&
	    api_obj_delete(s, r, api_jstr(obj, "metadata.namespace"),
			   api_jstr(obj, "metadata.name"), c->o, &gone, &e) == 0)
		json_array_append_new(c->items, gone);
	api_err_free(&e);
}

enum MHD_Result api_rest_deletecollection(struct api_req *q)
{
	struct kube_selector *ls = NULL, *fs = NULL;
	struct collection_delete c;
	struct api_delete_opts o;
	struct api_err e = { 0 };
	char kind[96], gv[128];
	json_t *body, *out;
	int r = delete_options(q, &body, &o, &e);

	if (r < 0)
		return api_reply_err(q, &e);
	if (api_parse_selectors(q, &ls, &fs, &e) < 0) {
		json_decref(body);
		return api_reply_err(q, &e);
	}
	c = (struct collection_delete){ &o, ls, fs, json_array() };
	r = api_obj_each(q->srv, q->res, q->ns, delete_matching, &c);
	kube_selector_free(ls);
	kube_selector_free(fs);
	json_decref(body);
	if (r < 0) {
		json_decref(c.items);
		api_err_store(&e, r);
		return api_reply_err(q, &e);
	}
	snprintf(kind, sizeof(kind), "%sList", q->res->kind);
	api_resource_gv(q->res, gv, sizeof(gv));
	out = json_pack("{s:s,s:s,s:{},s:o}", "kind", kind, "apiVersion", gv, "metadata", "items",
			c.items);
	api_set_rv(out, store_revision(q->srv->store));
	return api_reply_json(q, 200, out);
}
