/* The REST verbs of skiff-server: get, list, watch, create, update,
 * patch, delete and deletecollection, with the status and scale
 * subresources, over the revisioned store. The store holds each object as
 * compact JSON without metadata.resourceVersion; reads fill it in from the
 * key's mod_revision. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "control/api_internal.h"
#include "json_patch.h"
#include "kube_selector.h"
#include "util.h"

#define UPDATE_RETRIES 16

enum write_mode {
	WRITE_MAIN,
	WRITE_STATUS,
};

/* ---- keys and objects ---- */

static void key_for(const struct api_resource *r, const char *ns, const char *name, char *buf,
		    size_t len)
{
	const char *g = *r->group ? r->group : "core";

	if (r->namespaced)
		snprintf(buf, len, "/registry/%s/%s/%s/%s", g, r->plural, ns, name);
	else
		snprintf(buf, len, "/registry/%s/%s/%s", g, r->plural, name);
}

void api_prefix_for(const struct api_resource *r, const char *ns, char *buf, size_t len)
{
	const char *g = *r->group ? r->group : "core";

	if (r->namespaced && ns && *ns)
		snprintf(buf, len, "/registry/%s/%s/%s/", g, r->plural, ns);
	else
		snprintf(buf, len, "/registry/%s/%s/", g, r->plural);
}

static json_t *meta_of(json_t *obj)
{
	json_t *m = json_object_get(obj, "metadata");

	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(obj, "metadata", m);
	}
	return m;
}

void api_set_rv(json_t *obj, int64_t rev)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)rev);
	json_object_set_new(meta_of(obj), "resourceVersion", json_string(buf));
}

static void set_type(const struct api_resource *r, json_t *obj)
{
	char gv[128];

	api_resource_gv(r, gv, sizeof(gv));
	json_object_set_new(obj, "apiVersion", json_string(gv));
	json_object_set_new(obj, "kind", json_string(r->kind));
}

/* Parses a stored value into an object carrying its resourceVersion. */
json_t *api_obj_from_kv(const struct api_resource *r, const char *value, size_t len,
			   int64_t rev)
{
	json_t *obj = json_loadb(value, len, 0, NULL);

	if (!json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	set_type(r, obj);
	api_set_rv(obj, rev);
	return obj;
}

static int obj_load(struct api_server *s, const struct api_resource *r, const char *key,
		    json_t **out, int64_t *rev)
{
	struct store_kv kv = { 0 };
	json_t *obj;
	int ret = store_get(s->store, key, &kv);

	if (ret < 0)
		return ret;
	obj = api_obj_from_kv(r, kv.value, kv.value_len, kv.mod_revision);
	if (obj && rev)
		*rev = kv.mod_revision;
	store_kv_clear(&kv);
	if (!obj)
		return -EIO;
	*out = obj;
	return 0;
}

/* Compact JSON of obj without resourceVersion, as stored. */
static char *obj_dump(json_t *obj)
{
	json_t *c = json_deep_copy(obj);
	char *s;

	json_object_del(meta_of(c), "resourceVersion");
	json_object_del(meta_of(c), "selfLink");
	s = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	return s;
}

static void gen_uid(char *buf, size_t len)
{
	unsigned char b[16] = { 0 };

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(now_ns() >> (i % 8));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(buf, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

static void now_rfc3339(char *buf, size_t len)
{
	api_format_time(time(NULL), buf, len);
}

/* ---- errors ---- */

static void err_named(struct api_err *e, const struct api_resource *r, const char *name)
{
	e->kind = r->plural;
	e->group = r->group;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
}

static void err_not_found(struct api_err *e, const struct api_resource *r, const char *name)
{
	char q[128];

	api_resource_qualified(r, q, sizeof(q));
	api_err_set(e, 404, "NotFound", "%s \"%s\" not found", q, name);
	err_named(e, r, name);
}

static void err_conflict(struct api_err *e, const struct api_resource *r, const char *name)
{
	char q[128];

	api_resource_qualified(r, q, sizeof(q));
	api_err_set(e, 409, "Conflict",
		    "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
		    "please apply your changes to the latest version and try again",
		    q, name);
	err_named(e, r, name);
}

void api_err_store(struct api_err *e, int r)
{
	api_err_set(e, 500, "InternalError", "Internal error occurred: storage: %s", strerror(-r));
}

/* 422 from the causes gathered (steals causes). */
static void err_invalid(struct api_err *e, const struct api_resource *r, const char *name,
			json_t *causes)
{
	char msg[900] = "";
	size_t off = 0, n = json_array_size(causes);
	json_t *c;
	size_t i;

	json_array_foreach(causes, i, c) {
		off += (size_t)snprintf(msg + off, off < sizeof(msg) ? sizeof(msg) - off : 0,
					"%s%s: %s", i ? ", " : "", api_jstr(c, "field"),
					api_jstr(c, "message"));
		if (off >= sizeof(msg))
			break;
	}
	/* Kubernetes names the kind with its group: Deployment.apps. */
	if (n > 1)
		api_err_set(e, 422, "Invalid", "%s%s%s \"%s\" is invalid: [%s]", r->kind,
			    *r->group ? "." : "", r->group, name ? name : "", msg);
	else
		api_err_set(e, 422, "Invalid", "%s%s%s \"%s\" is invalid: %s", r->kind,
			    *r->group ? "." : "", r->group, name ? name : "", msg);
	e->kind = r->kind;
	e->group = r->group;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	e->causes = causes;
}

static void err_bad_request(struct api_err *e, const char *msg)
{
	api_err_set(e, 400, "BadRequest", "%s", msg);
}

static enum MHD_Result reply_decode_error(struct api_req *q, int r, const char *msg)
{
	struct api_err e = { 0 };

	if (r == -EPROTONOSUPPORT)
		api_err_set(&e, 415, "UnsupportedMediaType", "%s", msg);
	else
		err_bad_request(&e, msg);
	return api_reply_err(q, &e);
}

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

int api_parse_selectors(struct api_req *q, struct kube_selector **ls, struct kube_selector **fs,
			   struct api_err *e)
{
	char err[256] = "";
	const char *l = api_query(q, "labelSelector"), *f = api_query(q, "fieldSelector");

	if (kube_label_selector_parse(l, ls, err, sizeof(err)) < 0) {
		api_err_set(e, 400, "BadRequest", "unable to parse requirement: %s", err);
		return -EINVAL;
	}
	if (kube_field_selector_parse(f, fs, err, sizeof(err)) < 0) {
		kube_selector_free(*ls);
		api_err_set(e, 400, "BadRequest", "invalid field selector: %s", err);
		return -EINVAL;
	}
	for (size_t i = 0; i < (*fs)->n; i++) {
		const char *k = (*fs)->reqs[i].key;
		bool ok = streq(k, "metadata.name") || streq(k, "metadata.namespace");

		for (size_t j = 0; !ok && j < ARRAY_SIZE(q->res->fields) && q->res->fields[j]; j++)
			ok = streq(k, q->res->fields[j]);
		if (!ok) {
			api_err_set(e, 400, "BadRequest",
				    "field label not supported: %s", k);
			kube_selector_free(*ls);
			kube_selector_free(*fs);
			return -EINVAL;
		}
	}
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

static json_t *scale_of(const struct api_resource *r, json_t *obj)
{
	json_t *m = meta_of(obj);
	json_t *sel = api_jget(obj, "spec.selector.matchLabels"), *v;
	char text[512] = "";
	size_t off = 0;
	const char *k;

	(void)r;
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
	return false;
}

static enum MHD_Result rest_get(struct api_req *q)
{
	char key[1024];
	json_t *obj;
	struct api_err e = { 0 };
	int r;

	key_for(q->res, q->ns, q->name, key, sizeof(key));
	r = obj_load(q->srv, q->res, key, &obj, NULL);
	if (r == -ENOENT) {
		err_not_found(&e, q->res, q->name);
		return api_reply_err(q, &e);
	}
	if (r < 0) {
		api_err_store(&e, r);
		return api_reply_err(q, &e);
	}
	if (streq(q->sub, "scale")) {
		json_t *sc = scale_of(q->res, obj);

		json_decref(obj);
		return api_reply_json(q, 200, sc);
	}
	if (streq(q->sub, "log") || streq(q->sub, "exec")) {
		json_decref(obj);
		api_err_set(&e, 503, "ServiceUnavailable",
			    "pods/%s is not served yet: no node agent connection for pod %s/%s",
			    q->sub, q->ns, q->name);
		return api_reply_err(q, &e);
	}
	if (q->table) {
		json_t *t = api_table_new(q->res, true);

		json_object_set(json_object_get(t, "metadata"), "resourceVersion",
				api_jget(obj, "metadata.resourceVersion"));
		api_table_add_row(q->res, t, obj, api_include_object(q), time(NULL));
		json_decref(obj);
		return api_reply_json(q, 200, t);
	}
	return api_reply_json(q, 200, obj);
}

/* ---- list ---- */

static enum MHD_Result rest_list(struct api_req *q)
{
	struct kube_selector *ls = NULL, *fs = NULL;
	struct api_err e = { 0 };
	char prefix[512], start[1024] = "", token[2200] = "";
	const char *cont = api_query(q, "continue"), *lim = api_query(q, "limit");
	size_t limit = lim ? strtoul(lim, NULL, 10) : 0, count = 0;
	int64_t list_rev = 0;
	bool more = true, first = true;
	struct api_list_body *items = NULL;
	json_t *table = NULL;
	time_t now = time(NULL);
	int io = api_include_object(q);

	if (api_parse_selectors(q, &ls, &fs, &e) < 0)
		return api_reply_err(q, &e);
	api_prefix_for(q->res, q->ns, prefix, sizeof(prefix));
	if (cont && *cont) {
		const char *colon = strchr(cont, ':');
		char *end = NULL;

		if (colon) {
			list_rev = strtoll(cont, &end, 10);
			if (end != colon || list_rev <= 0)
				list_rev = -1;
			cont = colon + 1;
		}
		if (list_rev < 0 || hex_decode(cont, start, sizeof(start)) < 0 ||
		    strncmp(start, prefix, strlen(prefix)) != 0) {
			kube_selector_free(ls);
			kube_selector_free(fs);
			api_list_body_free(items);
			api_err_set(&e, 400, "BadRequest", "continue key is not valid: %s", cont);
			return api_reply_err(q, &e);
		}
	}
	if (q->table)
		table = api_table_new(q->res, true);
	else if (!(items = api_list_body_new(q->res))) {
		kube_selector_free(ls);
		kube_selector_free(fs);
		return MHD_NO;
	}
	while (more && (!limit || count < limit)) {
		struct store_kv *kvs = NULL;
		size_t n = 0;
		int64_t rev = 0;
		int r;

		/* One view for the whole list: the first read's revision. */
		if (list_rev)
			r = store_list_at(q->srv->store, prefix, start[0] ? start : NULL,
					  limit ? limit - count : 0, list_rev, &kvs, &n, &more);
		else
			r = store_list(q->srv->store, prefix, start[0] ? start : NULL,
				       limit ? limit - count : 0, &kvs, &n, &rev, &more);
		if (r < 0) {
			kube_selector_free(ls);
			kube_selector_free(fs);
			api_list_body_free(items);
			json_decref(table);
			if (r == -ERANGE)
				api_err_set(&e, 410, "Expired",
					    "The provided continue parameter is too old to display a "
					    "consistent list result. You can start a new list without "
					    "the continue parameter.");
			else
				api_err_store(&e, r);
			return api_reply_err(q, &e);
		}
		if (first && !list_rev)
			list_rev = rev;
		first = false;
		for (size_t i = 0; i < n; i++) {
			json_t *obj;

			snprintf(start, sizeof(start), "%s", kvs[i].key);
			if (!table && !ls->n && !fs->n) {
				/* Nothing to look at: served as stored, unparsed. */
				if (api_list_body_add(items, &kvs[i], NULL) > 0)
					count++;
				continue;
			}
			obj = api_obj_from_kv(q->res, kvs[i].value, kvs[i].value_len,
					      kvs[i].mod_revision);
			if (!obj)
				continue;
			if (api_obj_matches(obj, ls, fs)) {
				count++;
				if (table)
					api_table_add_row(q->res, table, obj, io, now);
				else
					api_list_body_add(items, &kvs[i], obj);
			}
			json_decref(obj);
		}
		store_kvs_free(kvs, n);
		if (n == 0)
			break;
	}
	kube_selector_free(ls);
	kube_selector_free(fs);
	if (more && limit) {
		int w = snprintf(token, sizeof(token), "%lld:", (long long)list_rev);

		hex_encode(start, token + w, sizeof(token) - (size_t)w);
	}
	if (table) {
		json_t *m = json_object_get(table, "metadata");
		char rv[32];

		api_list_body_free(items);
		snprintf(rv, sizeof(rv), "%lld", (long long)list_rev);
		json_object_set_new(m, "resourceVersion", json_string(rv));
		if (token[0])
			json_object_set_new(m, "continue", json_string(token));
		return api_reply_json(q, 200, table);
	}
	return api_list_body_reply(q, items, list_rev, token);
}

/* ---- create ---- */

static bool namespace_exists(struct api_server *s, const char *ns)
{
	char key[512];
	struct store_kv kv = { 0 };

	snprintf(key, sizeof(key), "/registry/core/namespaces/%s", ns);
	if (store_get(s->store, key, &kv) < 0)
		return false;
	store_kv_clear(&kv);
	return true;
}

/* Checks apiVersion and kind of a body against the resource. */
static int check_type(const struct api_resource *r, json_t *obj, json_t *causes,
		      struct api_err *e)
{
	const char *av = json_string_value(json_object_get(obj, "apiVersion"));
	const char *k = json_string_value(json_object_get(obj, "kind"));
	char gv[128];

	api_resource_gv(r, gv, sizeof(gv));
	if (!av)
		api_cause(causes, "FieldValueRequired", "apiVersion", "Required value");
	if (!k)
		api_cause(causes, "FieldValueRequired", "kind", "Required value");
	if (av && !streq(av, gv)) {
		api_err_set(e, 400, "BadRequest",
			    "the API version in the data (%s) does not match the expected API version (%s)",
			    av, gv);
		return -EINVAL;
	}
	if (k && !streq(k, r->kind)) {
		api_err_set(e, 400, "BadRequest",
			    "the kind in the data (%s) does not match the expected kind (%s)", k,
			    r->kind);
		return -EINVAL;
	}
	if (!json_is_object(json_object_get(obj, "metadata")))
		api_cause(causes, "FieldValueRequired", "metadata", "Required value");
	return 0;
}

static void generate_name(json_t *meta)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	const char *gen = json_string_value(json_object_get(meta, "generateName"));
	unsigned char rnd[5] = { 0 };
	char name[300];
	size_t n;

	if (!gen || json_object_get(meta, "name"))
		return;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(now_ns() >> (i * 3));
	n = (size_t)snprintf(name, sizeof(name) - 6, "%.58s", gen);
	for (size_t i = 0; i < 5; i++)
		name[n + i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
	name[n + 5] = 0;
	json_object_set_new(meta, "name", json_string(name));
}

static int write_defaults_and_validate(const struct api_resource *r, json_t *obj,
				       struct api_err *e)
{
	json_t *causes = json_array();

	if (r->defaults)
		r->defaults(obj);
	api_validate_meta(r, obj, causes);
	if (r->validate)
		r->validate(obj, causes);
	if (json_array_size(causes)) {
		err_invalid(e, r, api_jstr(obj, "metadata.name"), causes);
		return -EINVAL;
	}
	json_decref(causes);
	return 0;
}

static void pod_default_sa(struct api_server *s, json_t *ns_obj);

/* fieldValidation: Strict rejects unknown fields (400), Warn (the
 * default) names them in a Warning header, Ignore drops them silently. */
static int check_fields(struct api_req *q, const struct api_resource *r, json_t *obj,
			struct api_err *e)
{
	const char *fv = q ? api_query(q, "fieldValidation") : NULL;
	char buf[480];

	if (!q || streq(fv, "Ignore") || !api_unknown_fields(r, obj, buf, sizeof(buf)))
		return 0;
	if (streq(fv, "Strict")) {
		api_err_set(e, 400, "BadRequest", "strict decoding error: %s", buf);
		return -EINVAL;
	}
	snprintf(q->warning, sizeof(q->warning), "%s", buf);
	return 0;
}

/* Creates obj (a new reference is returned in *out with its RV). */
static int create_obj(struct api_server *s, struct api_req *q, const struct api_resource *r,
		      const char *ns, json_t *body, bool dry_run, struct api_err *e, json_t **out)
{
	json_t *obj = json_deep_copy(body), *meta, *causes = json_array();
	char key[1024], uid[40], ts[40];
	const char *name, *ons;
	_cleanup_free_ char *text = NULL;
	int64_t rev = 0;
	int ret;

	if (!json_is_object(obj)) {
		json_decref(obj);
		json_decref(causes);
		err_bad_request(e, "the request body must be a JSON object");
		return -EINVAL;
	}
	ret = check_type(r, obj, causes, e);
	if (ret < 0 || json_array_size(causes)) {
		if (ret == 0)
			err_invalid(e, r, api_jstr(obj, "metadata.name"), causes);
		else
			json_decref(causes);
		json_decref(obj);
		return -EINVAL;
	}
	json_decref(causes);
	ret = check_fields(q, r, obj, e);
	if (ret < 0) {
		json_decref(obj);
		return ret;
	}
	meta = meta_of(obj);
	generate_name(meta);
	ons = json_string_value(json_object_get(meta, "namespace"));
	if (r->namespaced) {
		if (ons && *ons && ns && *ns && !streq(ons, ns)) {
			json_decref(obj);
			err_bad_request(e, "the namespace of the provided object does not match the "
					   "namespace sent on the request");
			return -EINVAL;
		}
		if (!ns || !*ns)
			ns = ons && *ons ? ons : "default";
		json_object_set_new(meta, "namespace", json_string(ns));
	} else {
		json_object_del(meta, "namespace");
	}
	set_type(r, obj);
	if ((r->subresources & API_SUB_STATUS) && !streq(r->plural, "nodes"))
		json_object_del(obj, "status");
	ret = write_defaults_and_validate(r, obj, e);
	if (ret < 0) {
		json_decref(obj);
		return ret;
	}
	name = api_jstr(obj, "metadata.name");
	if (r->namespaced && !namespace_exists(s, ns)) {
		const struct api_resource *nsr = api_resource_find("", "v1", "namespaces");

		err_not_found(e, nsr, ns);
		json_decref(obj);
		return -ENOENT;
	}
	gen_uid(uid, sizeof(uid));
	now_rfc3339(ts, sizeof(ts));
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(ts));
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "deletionTimestamp");
	json_object_del(meta, "deletionGracePeriodSeconds");
	json_object_del(meta, "managedFields");
	if (r->has_spec)
		json_object_set_new(meta, "generation", json_integer(1));
	else
		json_object_del(meta, "generation");
	key_for(r, ns, name, key, sizeof(key));
	{
		struct store_kv kv = { 0 };

		/* Checked first so a duplicate never takes an address. */
		if (store_get(s->store, key, &kv) == 0) {
			store_kv_clear(&kv);
			ret = -EEXIST;
			goto failed;
		}
	}
	if (streq(r->plural, "services")) {
		ret = api_alloc_service(s, obj, NULL, dry_run, e);
		if (ret < 0) {
			json_decref(obj);
			return ret;
		}
	}
	if (dry_run) {
		ret = 0;
	} else {
		text = obj_dump(obj);
		ret = text ? store_create(s->store, key, text, strlen(text), &rev) : -ENOMEM;
	}
	if (ret < 0 && streq(r->plural, "services") && !dry_run)
		api_alloc_release(s, obj, NULL);
failed:
	if (ret < 0) {
		char qn[128];

		if (ret == -EEXIST) {
			api_resource_qualified(r, qn, sizeof(qn));
			api_err_set(e, 409, "AlreadyExists", "%s \"%s\" already exists", qn, name);
			err_named(e, r, name);
		} else {
			api_err_store(e, ret);
		}
		json_decref(obj);
		return ret;
	}
	if (rev)
		api_set_rv(obj, rev);
	if (streq(r->plural, "namespaces") && !dry_run)
		pod_default_sa(s, obj);
	*out = obj;
	return 0;
}

/* The "default" ServiceAccount of a new namespace, as the controller
 * manager would create it. */
static void pod_default_sa(struct api_server *s, json_t *ns_obj)
{
	const struct api_resource *sa = api_resource_find("", "v1", "serviceaccounts");
	const char *ns = api_jstr(ns_obj, "metadata.name");
	json_t *obj = json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "v1", "kind",
				"ServiceAccount", "metadata", "name", "default", "namespace", ns);
	json_t *out = NULL;
	struct api_err e = { 0 };

	if (create_obj(s, NULL, sa, ns, obj, false, &e, &out) == 0)
		json_decref(out);
	api_err_free(&e);
	json_decref(obj);
}

int api_rest_create_internal(struct api_server *s, const struct api_resource *r, json_t *obj)
{
	struct api_err e = { 0 };
	json_t *out = NULL;
	int ret = create_obj(s, NULL, r, api_jstr(obj, "metadata.namespace"), obj, false, &e, &out);

	api_err_free(&e);
	json_decref(out);
	return ret;
}

static bool dry_run(struct api_req *q)
{
	return streq(api_query(q, "dryRun"), "All");
}

static enum MHD_Result rest_create(struct api_req *q)
{
	struct api_err e = { 0 };
	char err[512];
	json_t *body, *out;
	int r;

	r = api_decode_body(q->body, q->body_len, q->ctype, &body, err, sizeof(err));
	if (r < 0)
		return reply_decode_error(q, r, err);
	r = create_obj(q->srv, q, q->res, q->ns, body, dry_run(q), &e, &out);
	json_decref(body);
	if (r < 0)
		return api_reply_err(q, &e);
	return api_reply_json(q, 201, out);
}

/* ---- update, patch ---- */

/* Produces the new object from the current one. */
typedef int (*mutate_fn)(struct api_req *q, json_t *old, json_t **out, struct api_err *e);

static void preserve_meta(json_t *old, json_t *obj)
{
	static const char *const keep[] = { "uid", "creationTimestamp", "generation",
					    "deletionTimestamp", "deletionGracePeriodSeconds",
					    "namespace", "name" };
	json_t *om = meta_of(old), *nm = meta_of(obj);

	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		json_t *v = json_object_get(om, keep[i]);

		if (v)
			json_object_set(nm, keep[i], v);
		else
			json_object_del(nm, keep[i]);
	}
}

static bool same_ignoring_rv(json_t *a, json_t *b)
{
	json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
	bool eq;

	json_object_del(meta_of(x), "resourceVersion");
	json_object_del(meta_of(y), "resourceVersion");
	eq = json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return eq;
}

static void cascade_delete(struct api_server *s, const char *ns, const char *uid, int depth);

/* One attempt: -ESTALE when the object moved on under us. */
static int commit_update(struct api_req *q, enum write_mode mode, json_t *old, int64_t old_rev,
			 json_t *mutated, struct api_err *e, json_t **out)
{
	const struct api_resource *r = q->res;
	json_t *obj;
	char key[1024];
	_cleanup_free_ char *text = NULL;
	const char *want_rv = api_jstr(mutated, "metadata.resourceVersion");
	const char *have_rv = api_jstr(old, "metadata.resourceVersion");
	bool dry = dry_run(q);
	int64_t rev = 0;
	int ret;

	if (want_rv && *want_rv && !streq(want_rv, have_rv)) {
		err_conflict(e, r, q->name);
		return -EBUSY;
	}
	if (mode == WRITE_STATUS) {
		obj = json_deep_copy(old);
		if (json_object_get(mutated, "status"))
			json_object_set(obj, "status", json_object_get(mutated, "status"));
		else
			json_object_del(obj, "status");
	} else {
		const char *n = api_jstr(mutated, "metadata.name");

		if (n && !streq(n, q->name)) {
			api_err_set(e, 400, "BadRequest",
				    "the name of the object (%s) does not match the name on the URL (%s)",
				    n, q->name);
			return -EINVAL;
		}
		ret = check_fields(q, r, mutated, e);
		if (ret < 0)
			return ret;
		obj = json_deep_copy(mutated);
		set_type(r, obj);
		preserve_meta(old, obj);
		if (r->subresources & API_SUB_STATUS) {
			if (json_object_get(old, "status"))
				json_object_set(obj, "status", json_object_get(old, "status"));
			else
				json_object_del(obj, "status");
		}
		ret = write_defaults_and_validate(r, obj, e);
		if (ret < 0) {
			json_decref(obj);
			return ret;
		}
		if (r->has_spec && !json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec")))
			json_object_set_new(meta_of(obj), "generation",
					    json_integer(json_integer_value(api_jget(old, "metadata.generation")) + 1));
		if (streq(r->plural, "services")) {
			ret = api_alloc_service(q->srv, obj, old, dry, e);
			if (ret < 0) {
				json_decref(obj);
				return ret;
			}
		}
	}
	api_set_rv(obj, old_rev);
	if (same_ignoring_rv(old, obj)) {
		/* A no-op write keeps the resourceVersion, as Kubernetes does. */
		*out = obj;
		return 0;
	}
	key_for(r, q->ns, q->name, key, sizeof(key));
	if (dry) {
		*out = obj;
		return 0;
	}
	if (api_jget(obj, "metadata.deletionTimestamp") &&
	    json_array_size(api_jget(obj, "metadata.finalizers")) == 0) {
		/* The last finalizer is gone: the object goes. */
		ret = store_delete(q->srv->store, key, old_rev, NULL, &rev);
		if (ret == 0) {
			if (streq(r->plural, "services"))
				api_alloc_release(q->srv, old, NULL);
			*out = obj;
			return 0;
		}
	} else {
		text = obj_dump(obj);
		ret = text ? store_update(q->srv->store, key, text, strlen(text), old_rev, &rev)
			   : -ENOMEM;
	}
	if (ret < 0) {
		if (streq(r->plural, "services"))
			api_alloc_release(q->srv, obj, old);
		json_decref(obj);
		if (ret == -ESTALE || ret == -ENOENT)
			return -ESTALE;
		api_err_store(e, ret);
		return ret;
	}
	if (streq(r->plural, "services"))
		api_alloc_release(q->srv, old, obj);
	api_set_rv(obj, rev);
	*out = obj;
	return 0;
}

static enum MHD_Result update_loop(struct api_req *q, enum write_mode mode, mutate_fn fn,
				   unsigned ok_code, bool scale_reply)
{
	struct api_err e = { 0 };
	char key[1024];

	key_for(q->res, q->ns, q->name, key, sizeof(key));
	for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
		json_t *old = NULL, *mutated = NULL, *out = NULL;
		int64_t rev = 0;
		int r = obj_load(q->srv, q->res, key, &old, &rev);

		if (r == -ENOENT) {
			err_not_found(&e, q->res, q->name);
			return api_reply_err(q, &e);
		}
		if (r < 0) {
			api_err_store(&e, r);
			return api_reply_err(q, &e);
		}
		r = fn(q, old, &mutated, &e);
		if (r < 0) {
			json_decref(old);
			return api_reply_err(q, &e);
		}
		r = commit_update(q, mode, old, rev, mutated, &e, &out);
		json_decref(old);
		json_decref(mutated);
		if (r == -ESTALE)
			continue;
		if (r < 0)
			return api_reply_err(q, &e);
		if (scale_reply) {
			json_t *sc = scale_of(q->res, out);

			json_decref(out);
			return api_reply_json(q, ok_code, sc);
		}
		return api_reply_json(q, ok_code, out);
	}
	err_conflict(&e, q->res, q->name);
	return api_reply_err(q, &e);
}

static int mutate_put(struct api_req *q, json_t *old, json_t **out, struct api_err *e)
{
	char err[512];
	json_t *body, *causes = json_array();
	int r = api_decode_body(q->body, q->body_len, q->ctype, &body, err, sizeof(err));

	(void)old;
	if (r < 0) {
		json_decref(causes);
		api_err_set(e, r == -EPROTONOSUPPORT ? 415 : 400,
			    r == -EPROTONOSUPPORT ? "UnsupportedMediaType" : "BadRequest", "%s", err);
		return r;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		json_decref(causes);
		err_bad_request(e, "the request body must be a JSON object");
		return -EINVAL;
	}
	if (check_type(q->res, body, causes, e) < 0) {
		json_decref(causes);
		json_decref(body);
		return -EINVAL;
	}
	if (json_array_size(causes)) {
		err_invalid(e, q->res, q->name, causes);
		json_decref(body);
		return -EINVAL;
	}
	json_decref(causes);
	*out = body;
	return 0;
}

/* Applies the request's patch to obj. */
static int apply_patch_body(struct api_req *q, json_t *obj, json_t **out, struct api_err *e)
{
	char err[512] = "";
	json_t *patch;
	int r = api_decode_body(q->body, q->body_len, q->ctype, &patch, err, sizeof(err));

	if (r < 0) {
		api_err_set(e, r == -EPROTONOSUPPORT ? 415 : 400,
			    r == -EPROTONOSUPPORT ? "UnsupportedMediaType" : "BadRequest", "%s", err);
		return r;
	}
	if (ctype_has(q->ctype, "application/json-patch+json"))
		r = json_patch_apply(obj, patch, err, sizeof(err), out);
	else if (ctype_has(q->ctype, "application/merge-patch+json"))
		r = json_is_object(patch) ? json_merge_patch(obj, patch, out) : -EINVAL;
	else if (ctype_has(q->ctype, "application/strategic-merge-patch+json") ||
		 ctype_has(q->ctype, "application/apply-patch+yaml"))
		r = json_strategic_merge(obj, patch, err, sizeof(err), out);
	else {
		json_decref(patch);
		api_err_set(e, 415, "UnsupportedMediaType",
			    "the body of the request was in an unknown format - accepted media types "
			    "include: application/json-patch+json, application/merge-patch+json, "
			    "application/apply-patch+yaml, application/strategic-merge-patch+json");
		return -EPROTONOSUPPORT;
	}
	json_decref(patch);
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

static int mutate_patch(struct api_req *q, json_t *old, json_t **out, struct api_err *e)
{
	return apply_patch_body(q, old, out, e);
}

/* Scale: the patch or body acts on the Scale view; spec.replicas flows
 * back into the object. */
static int mutate_scale(struct api_req *q, json_t *old, json_t **out, struct api_err *e)
{
	json_t *sc = scale_of(q->res, old), *nsc = NULL, *obj;
	json_t *rep;
	int r;

	if (streq(q->method, "PATCH")) {
		r = apply_patch_body(q, sc, &nsc, e);
	} else {
		char err[512];

		r = api_decode_body(q->body, q->body_len, q->ctype, &nsc, err, sizeof(err));
		if (r < 0)
			api_err_set(e, 400, "BadRequest", "%s", err);
	}
	json_decref(sc);
	if (r < 0)
		return r;
	rep = api_jget(nsc, "spec.replicas");
	if (!json_is_integer(rep) || json_integer_value(rep) < 0) {
		json_t *causes = json_array();

		api_cause(causes, "FieldValueInvalid", "spec.replicas",
			  "Invalid value: must be greater than or equal to 0");
		json_decref(nsc);
		err_invalid(e, q->res, q->name, causes);
		e->kind = "Scale";
		return -EINVAL;
	}
	obj = json_deep_copy(old);
	json_object_set(json_object_get(obj, "spec"), "replicas", rep);
	{
		const char *rv = api_jstr(nsc, "metadata.resourceVersion");

		if (rv && *rv)
			json_object_set_new(meta_of(obj), "resourceVersion", json_string(rv));
	}
	json_decref(nsc);
	*out = obj;
	return 0;
}

/* POST pods/NAME/binding: assigns the node. */
static int mutate_binding(struct api_req *q, json_t *old, json_t **out, struct api_err *e)
{
	char err[512];
	json_t *body, *obj;
	const char *node;
	int r = api_decode_body(q->body, q->body_len, q->ctype, &body, err, sizeof(err));

	if (r < 0) {
		api_err_set(e, 400, "BadRequest", "%s", err);
		return r;
	}
	node = api_jstr(body, "target.name");
	if (!node || !*node) {
		json_t *causes = json_array();

		api_cause(causes, "FieldValueRequired", "target.name", "Required value");
		json_decref(body);
		err_invalid(e, q->res, q->name, causes);
		e->kind = "Binding";
		return -EINVAL;
	}
	if (api_jstr(old, "spec.nodeName") && *api_jstr(old, "spec.nodeName")) {
		api_err_set(e, 409, "Conflict", "pod %s is already assigned to node \"%s\"", q->name,
			    api_jstr(old, "spec.nodeName"));
		json_decref(body);
		return -EBUSY;
	}
	obj = json_deep_copy(old);
	json_object_set_new(json_object_get(obj, "spec"), "nodeName", json_string(node));
	json_decref(body);
	*out = obj;
	return 0;
}

static enum MHD_Result rest_apply_create(struct api_req *q)
{
	struct api_err e = { 0 };
	char err[512];
	json_t *body, *out;
	int r = api_decode_body(q->body, q->body_len, q->ctype, &body, err, sizeof(err));

	if (r < 0)
		return reply_decode_error(q, r, err);
	if (json_is_object(body) && !api_jstr(body, "metadata.name") && json_is_object(json_object_get(body, "metadata")))
		json_object_set_new(json_object_get(body, "metadata"), "name", json_string(q->name));
	r = create_obj(q->srv, q, q->res, q->ns, body, dry_run(q), &e, &out);
	json_decref(body);
	if (r < 0)
		return api_reply_err(q, &e);
	return api_reply_json(q, 201, out);
}

/* ---- delete ---- */

static bool protected_namespace(const char *name)
{
	return streq(name, "default") || streq(name, "kube-system") || streq(name, "kube-public");
}

static int delete_key(struct api_server *s, const struct api_resource *r, const char *key,
		      json_t *obj, int64_t rev)
{
	int ret = store_delete(s->store, key, rev, NULL, NULL);

	if (ret == 0 && streq(r->plural, "services"))
		api_alloc_release(s, obj, NULL);
	return ret;
}

/* Deletes every object in a namespace. */
static void empty_namespace(struct api_server *s, const char *ns)
{
	for (size_t i = 0; i < api_n_resources; i++) {
		const struct api_resource *r = &api_resources[i];
		struct store_kv *kvs = NULL;
		size_t n = 0;
		int64_t rev;
		bool more;
		char prefix[512];

		if (!r->namespaced)
			continue;
		api_prefix_for(r, ns, prefix, sizeof(prefix));
		if (store_list(s->store, prefix, NULL, 0, &kvs, &n, &rev, &more) < 0)
			continue;
		for (size_t j = 0; j < n; j++) {
			json_t *obj = api_obj_from_kv(r, kvs[j].value, kvs[j].value_len, kvs[j].mod_revision);

			delete_key(s, r, kvs[j].key, obj, 0);
			json_decref(obj);
		}
		store_kvs_free(kvs, n);
	}
}

static bool owned_by(json_t *obj, const char *uid)
{
	json_t *ref;
	size_t i;

	json_array_foreach(api_jget(obj, "metadata.ownerReferences"), i, ref) {
		if (streq(api_jstr(ref, "uid"), uid))
			return true;
	}
	return false;
}

/* The kinds that have owners, for garbage collection. */
static const char *const gc_dependents[][2] = {
	{ "apps", "replicasets" }, { "", "pods" }, { "batch", "jobs" },
	{ "discovery.k8s.io", "endpointslices" },
};

/* Drops the owner references to uid from obj (stored under key at
 * mod_rev), as the garbage collector does for orphans; best effort. */
static void orphan_one(struct api_server *s, const struct api_resource *r, const char *key,
		       json_t *obj, int64_t mod_rev, const char *uid, void *ud)
{
	json_t *refs = api_jget(obj, "metadata.ownerReferences"), *keep = json_array(), *ref;
	_cleanup_free_ char *text = NULL;
	size_t i;

	(void)r;
	(void)ud;
	json_array_foreach(refs, i, ref) {
		if (!streq(api_jstr(ref, "uid"), uid))
			json_array_append(keep, ref);
	}
	if (json_array_size(keep))
		json_object_set_new(meta_of(obj), "ownerReferences", keep);
	else {
		json_object_del(meta_of(obj), "ownerReferences");
		json_decref(keep);
	}
	text = obj_dump(obj);
	if (text)
		store_update(s->store, key, text, strlen(text), mod_rev, NULL);
}

/* Calls fn for every object in namespace ns that uid owns (the kinds of
 * gc_dependents), with the object parsed and its key and revision. */
typedef void dependent_fn(struct api_server *s, const struct api_resource *r, const char *key,
			  json_t *obj, int64_t mod_rev, const char *uid, void *ud);

static void for_each_dependent(struct api_server *s, const char *ns, const char *uid,
			       dependent_fn *fn, void *ud)
{
	for (size_t i = 0; uid && i < ARRAY_SIZE(gc_dependents); i++) {
		const struct api_resource *r =
			api_resource_find(gc_dependents[i][0], "v1", gc_dependents[i][1]);
		struct store_kv *kvs = NULL;
		size_t n = 0;
		int64_t rev;
		bool more;
		char prefix[512];

		api_prefix_for(r, ns, prefix, sizeof(prefix));
		if (store_list(s->store, prefix, NULL, 0, &kvs, &n, &rev, &more) < 0)
			continue;
		for (size_t j = 0; j < n; j++) {
			json_t *obj = api_obj_from_kv(r, kvs[j].value, kvs[j].value_len, kvs[j].mod_revision);

			if (obj && owned_by(obj, uid))
				fn(s, r, kvs[j].key, obj, kvs[j].mod_revision, uid, ud);
			json_decref(obj);
		}
		store_kvs_free(kvs, n);
	}
}

struct cascade {
	const char *ns;
	int depth;
};

static void cascade_one(struct api_server *s, const struct api_resource *r, const char *key,
			json_t *obj, int64_t mod_rev, const char *uid, void *ud)
{
	const struct cascade *c = ud;
	char child_uid[64];

	(void)uid;
	snprintf(child_uid, sizeof(child_uid), "%s", api_jstr(obj, "metadata.uid") ?: "");
	if (delete_key(s, r, key, obj, mod_rev) == 0)
		cascade_delete(s, c->ns, child_uid, c->depth + 1);
}

/* Garbage collection of dependents (synchronous, in the namespace). */
static void cascade_delete(struct api_server *s, const char *ns, const char *uid, int depth)
{
	struct cascade c = { ns, depth };

	if (depth > 3)
		return;
	for_each_dependent(s, ns, uid, cascade_one, &c);
}

/* Dependents of an orphaning delete lose their reference to the owner. */
static void orphan_dependents(struct api_server *s, const char *ns, const char *uid)
{
	for_each_dependent(s, ns, uid, orphan_one, NULL);
}

static bool node_exists(struct api_server *s, const char *node)
{
	char key[512];
	struct store_kv kv = { 0 };

	snprintf(key, sizeof(key), "/registry/core/nodes/%s", node);
	if (store_get(s->store, key, &kv) < 0)
		return false;
	store_kv_clear(&kv);
	return true;
}

/* The grace period a delete gets: pods bound to an existing node wait for
 * their kubelet (the agent deletes them with grace 0 once stopped);
 * everything else goes at once. */
static long grace_period(struct api_req *q, const struct api_resource *r, json_t *opts,
			 json_t *obj)
{
	const char *node = api_jstr(obj, "spec.nodeName");
	const char *qs = api_query(q, "gracePeriodSeconds");
	json_t *g = json_object_get(opts, "gracePeriodSeconds");
	long grace;

	if (!streq(r->plural, "pods") || !node || !*node)
		return 0;
	if (json_is_integer(g))
		grace = (long)json_integer_value(g);
	else if (qs)
		grace = strtol(qs, NULL, 10);
	else if (json_is_integer(api_jget(obj, "metadata.deletionGracePeriodSeconds")))
		grace = (long)json_integer_value(api_jget(obj, "metadata.deletionGracePeriodSeconds"));
	else if (json_is_integer(api_jget(obj, "spec.terminationGracePeriodSeconds")))
		grace = (long)json_integer_value(api_jget(obj, "spec.terminationGracePeriodSeconds"));
	else
		grace = 30;
	if (grace < 0)
		grace = 0;
	/* No kubelet can finish it: an orphan goes at once (pod GC). */
	if (grace > 0 && !node_exists(q->srv, node))
		grace = 0;
	return grace;
}

/* Deletes one object; *out is what the reply shows. */
static int delete_one(struct api_req *q, const char *key, json_t *opts, struct api_err *e,
		      json_t **out)
{
	const struct api_resource *r = q->res;
	const char *policy = api_jstr(opts, "propagationPolicy");
	const char *pre_uid = api_jstr(opts, "preconditions.uid");
	const char *pre_rv = api_jstr(opts, "preconditions.resourceVersion");
	bool dry = dry_run(q) || json_is_array(json_object_get(opts, "dryRun"));

	if (!policy && json_is_true(json_object_get(opts, "orphanDependents")))
		policy = "Orphan";
	for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
		json_t *obj = NULL;
		int64_t rev = 0;
		int ret = obj_load(q->srv, r, key, &obj, &rev);
		const char *name;
		long grace;

		if (ret == -ENOENT) {
			err_not_found(e, r, q->name);
			return ret;
		}
		if (ret < 0) {
			api_err_store(e, ret);
			return ret;
		}
		name = api_jstr(obj, "metadata.name");
		if ((pre_uid && !streq(pre_uid, api_jstr(obj, "metadata.uid"))) ||
		    (pre_rv && !streq(pre_rv, api_jstr(obj, "metadata.resourceVersion")))) {
			char qn[128];

			api_resource_qualified(r, qn, sizeof(qn));
			api_err_set(e, 409, "Conflict",
				    "Operation cannot be fulfilled on %s \"%s\": precondition failed",
				    qn, name);
			err_named(e, r, name);
			json_decref(obj);
			return -EBUSY;
		}
		if (streq(r->plural, "namespaces") && protected_namespace(name)) {
			api_err_set(e, 403, "Forbidden",
				    "namespaces \"%s\" is forbidden: this namespace may not be deleted", name);
			err_named(e, r, name);
			json_decref(obj);
			return -EPERM;
		}
		if (dry) {
			*out = obj;
			return 0;
		}
		grace = grace_period(q, r, opts, obj);
		if (json_array_size(api_jget(obj, "metadata.finalizers")) > 0 || grace > 0) {
			_cleanup_free_ char *text = NULL;
			int64_t nrev = 0;

			if (!api_jget(obj, "metadata.deletionTimestamp")) {
				char ts[40];

				/* Kubernetes sets it to when the grace period ends. */
				api_format_time(time(NULL) + (grace > 0 ? grace : 0), ts, sizeof(ts));
				json_object_set_new(meta_of(obj), "deletionTimestamp", json_string(ts));
				json_object_set_new(meta_of(obj), "deletionGracePeriodSeconds",
						    json_integer(grace > 0 ? grace : 0));
				text = obj_dump(obj);
				ret = text ? store_update(q->srv->store, key, text, strlen(text), rev,
							  &nrev)
					   : -ENOMEM;
				if (ret == -ESTALE) {
					json_decref(obj);
					continue;
				}
				if (ret < 0) {
					json_decref(obj);
					api_err_store(e, ret);
					return ret;
				}
				api_set_rv(obj, nrev);
			}
			*out = obj;
			return 0;
		}
		if (streq(r->plural, "namespaces"))
			empty_namespace(q->srv, name);
		ret = delete_key(q->srv, r, key, obj, rev);
		if (ret == -ESTALE || ret == -ENOENT) {
			json_decref(obj);
			continue;
		}
		if (ret < 0) {
			json_decref(obj);
			api_err_store(e, ret);
			return ret;
		}
		if (streq(policy, "Orphan") && r->namespaced)
			orphan_dependents(q->srv, api_jstr(obj, "metadata.namespace"),
					  api_jstr(obj, "metadata.uid"));
		else if (r->namespaced)
			cascade_delete(q->srv, api_jstr(obj, "metadata.namespace"),
				       api_jstr(obj, "metadata.uid"), 0);
		*out = obj;
		return 0;
	}
	err_conflict(e, r, q->name);
	return -EBUSY;
}

static int delete_options(struct api_req *q, json_t **opts, struct api_err *e)
{
	char err[512];
	int r;

	if (!q->body_len) {
		*opts = json_object();
		return 0;
	}
	r = api_decode_body(q->body, q->body_len, q->ctype ? q->ctype : "application/json", opts,
			    err, sizeof(err));
	if (r < 0) {
		api_err_set(e, 400, "BadRequest", "%s", err);
		return r;
	}
	if (!json_is_object(*opts)) {
		json_decref(*opts);
		err_bad_request(e, "DeleteOptions must be a JSON object");
		return -EINVAL;
	}
	return 0;
}

static enum MHD_Result rest_delete(struct api_req *q)
{
	struct api_err e = { 0 };
	char key[1024];
	json_t *opts, *out = NULL;
	int r;

	if (delete_options(q, &opts, &e) < 0)
		return api_reply_err(q, &e);
	key_for(q->res, q->ns, q->name, key, sizeof(key));
	r = delete_one(q, key, opts, &e, &out);
	json_decref(opts);
	if (r < 0)
		return api_reply_err(q, &e);
	return api_reply_json(q, 200, out);
}

static enum MHD_Result rest_deletecollection(struct api_req *q)
{
	struct kube_selector *ls = NULL, *fs = NULL;
	struct api_err e = { 0 };
	struct store_kv *kvs = NULL;
	size_t n = 0;
	int64_t rev;
	bool more;
	char prefix[512], kind[96], gv[128];
	json_t *opts, *items = json_array(), *out;
	int r;

	if (delete_options(q, &opts, &e) < 0 || api_parse_selectors(q, &ls, &fs, &e) < 0) {
		json_decref(items);
		return api_reply_err(q, &e);
	}
	api_prefix_for(q->res, q->ns, prefix, sizeof(prefix));
	r = store_list(q->srv->store, prefix, NULL, 0, &kvs, &n, &rev, &more);
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_t *obj = api_obj_from_kv(q->res, kvs[i].value, kvs[i].value_len, kvs[i].mod_revision);
		struct api_err e2 = { 0 };
		json_t *gone = NULL;

		if (obj && api_obj_matches(obj, ls, fs)) {
			snprintf(q->name, sizeof(q->name), "%s", api_jstr(obj, "metadata.name") ?: "");
			if (delete_one(q, kvs[i].key, opts, &e2, &gone) == 0)
				json_array_append_new(items, gone);
			api_err_free(&e2);
		}
		json_decref(obj);
	}
	store_kvs_free(kvs, n);
	kube_selector_free(ls);
	kube_selector_free(fs);
	json_decref(opts);
	if (r < 0) {
		json_decref(items);
		api_err_store(&e, r);
		return api_reply_err(q, &e);
	}
	snprintf(kind, sizeof(kind), "%sList", q->res->kind);
	api_resource_gv(q->res, gv, sizeof(gv));
	out = json_pack("{s:s,s:s,s:{},s:o}", "kind", kind, "apiVersion", gv, "metadata", "items",
			items);
	api_set_rv(out, store_revision(q->srv->store));
	return api_reply_json(q, 200, out);
}

/* ---- dispatch ---- */

static enum MHD_Result method_not_allowed(struct api_req *q)
{
	struct api_err e = { 0 };

	api_err_set(&e, 405, "MethodNotAllowed", "the server does not allow this method on the "
		    "requested resource");
	return api_reply_err(q, &e);
}

enum MHD_Result api_rest_dispatch(struct api_req *q)
{
	const char *m = q->method;
	const char *watch = api_query(q, "watch");
	bool is_watch = streq(watch, "true") || streq(watch, "1");

	if (!sub_allowed(q))
		return method_not_allowed(q);
	if (q->res->namespaced && !q->ns[0] && q->name[0]) {
		/* Namespaced objects need a namespace in the path. */
		struct api_err e = { 0 };

		api_err_set(&e, 404, "NotFound", "the server could not find the requested resource");
		return api_reply_err(q, &e);
	}
	if (!q->name[0]) {
		if (streq(m, "GET"))
			return is_watch ? api_rest_watch(q) : rest_list(q);
		if (streq(m, "POST"))
			return rest_create(q);
		if (streq(m, "DELETE"))
			return rest_deletecollection(q);
		return method_not_allowed(q);
	}
	if (streq(m, "GET"))
		return is_watch ? api_rest_watch(q) : rest_get(q);
	if (streq(q->sub, "binding")) {
		if (!streq(m, "POST"))
			return method_not_allowed(q);
		return update_loop(q, WRITE_MAIN, mutate_binding, 201, false);
	}
	if (streq(q->sub, "scale")) {
		if (streq(m, "PUT") || streq(m, "PATCH"))
			return update_loop(q, WRITE_MAIN, mutate_scale, 200, true);
		return method_not_allowed(q);
	}
	if (streq(m, "PUT"))
		return update_loop(q, q->sub[0] ? WRITE_STATUS : WRITE_MAIN, mutate_put, 200, false);
	if (streq(m, "PATCH")) {
		if (ctype_has(q->ctype, "application/apply-patch+yaml") && !q->sub[0]) {
			char key[1024];
			struct store_kv kv = { 0 };

			key_for(q->res, q->ns, q->name, key, sizeof(key));
			if (store_get(q->srv->store, key, &kv) == -ENOENT)
				return rest_apply_create(q);
			store_kv_clear(&kv);
		}
		return update_loop(q, q->sub[0] ? WRITE_STATUS : WRITE_MAIN, mutate_patch, 200, false);
	}
	if (streq(m, "DELETE") && !q->sub[0])
		return rest_delete(q);
	return method_not_allowed(q);
}
