/* The object layer's reads, creates and updates (deletes: api_delete.c),
 * over the revisioned store. The store holds each object as compact JSON
 * without metadata.resourceVersion; reads fill it in from the key's
 * mod_revision, and writes are made against the revision read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "control/api_internal.h"
#include "control/api_schema.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

#define UPDATE_RETRIES 16

static const struct api_write_opts no_opts;

/* ---- keys and objects ---- */

void api_key_for(const struct api_resource *r, const char *ns, const char *name, char *buf,
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

json_t *api_obj_meta(json_t *obj)
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
	json_object_set_new(api_obj_meta(obj), "resourceVersion", json_string(buf));
}

static void set_type(const struct api_resource *r, json_t *obj)
{
	char gv[128];

	api_resource_gv(r, gv, sizeof(gv));
	json_object_set_new(obj, "apiVersion", json_string(gv));
	json_object_set_new(obj, "kind", json_string(r->kind));
}

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
	if (r->crd)
		api_crd_on_read(r, obj);
	return obj;
}

/* ---- rendering stored text without parsing it ---- */

/* The end of the string starting at p (a '"'), or NULL. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* The end of the compact JSON value starting at p, or NULL when it is not
 * one (whitespace counts as not compact). */
static const char *skip_value(const char *p, const char *end)
{
	const char *start = p;
	int depth = 0;

	while (p < end) {
		switch (*p) {
		case '"':
			p = skip_string(p, end);
			if (!p)
				return NULL;
			if (!depth)
				return p;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (!depth)
				return p > start ? p : NULL;
			if (--depth == 0)
				return p + 1;
			break;
		case ',':
			if (!depth)
				return p > start ? p : NULL;
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			return NULL;
		}
		p++;
	}
	return depth || p == start ? NULL : p;
}

struct span {
	const char *p;
	size_t n;
};

static bool span_is(struct span s, const char *lit)
{
	return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

/* Walks the members of the object at p, calling fn(key, value) with the
 * key's text without its quotes; returns the object's end or NULL. */
static const char *each_member(const char *p, const char *end,
			       bool (*fn)(struct span key, struct span val, void *ud), void *ud)
{
	if (p >= end || *p++ != '{')
		return NULL;
	if (p < end && *p == '}')
		return p + 1;
	while (p < end) {
		const char *k = p, *v;

		if (*p != '"' || !(p = skip_string(p, end)) || p >= end || *p++ != ':')
			return NULL;
		v = p;
		if (!(p = skip_value(p, end)))
			return NULL;
		if (!fn((struct span){ k + 1, (size_t)(v - k - 3) }, (struct span){ v, (size_t)(p - v) },
			ud))
			return NULL;
		if (p < end && *p == '}')
			return p + 1;
		if (p >= end || *p++ != ',')
			return NULL;
	}
	return NULL;
}

struct render_top {
	struct span api_version, kind, metadata;
};

static bool top_member(struct span key, struct span val, void *ud)
{
	struct render_top *t = ud;

	if (span_is(key, "apiVersion"))
		t->api_version = val;
	else if (span_is(key, "kind"))
		t->kind = val;
	else if (span_is(key, "metadata"))
		t->metadata = val;
	return true;
}

static bool meta_member(struct span key, struct span val, void *ud)
{
	(void)val;
	(void)ud;
	return !span_is(key, "resourceVersion");
}

/* s is the JSON string of text (plain: no quote or backslash in text). */
static bool span_is_string(struct span s, const char *text)
{
	size_t n = strlen(text);

	return s.n == n + 2 && s.p[0] == '"' && !memcmp(s.p + 1, text, n) && s.p[n + 1] == '"';
}

char *api_obj_render_kv(const struct api_resource *r, const char *value, size_t len,
			int64_t rev, size_t *out_len)
{
	const char *end = value + len;
	struct render_top t = { 0 };
	char gv[128], rv[48], *out;
	size_t head, rv_len;

	if (r->crd) /* a custom resource's schema defaults it as it is read */
		return NULL;
	api_resource_gv(r, gv, sizeof(gv));
	if (!value || each_member(value, end, top_member, &t) != end ||
	    !span_is_string(t.api_version, gv) || !span_is_string(t.kind, r->kind) ||
	    !t.metadata.p || t.metadata.p[0] != '{' || strpbrk(gv, "\\\"") ||
	    strpbrk(r->kind, "\\\"") ||
	    each_member(t.metadata.p, t.metadata.p + t.metadata.n, meta_member, NULL) !=
		    t.metadata.p + t.metadata.n)
		return NULL;
	/* resourceVersion goes last in metadata, where json_object_set_new
	 * appends it. */
	rv_len = (size_t)snprintf(rv, sizeof(rv), "%s\"resourceVersion\":\"%lld\"",
				  t.metadata.n > 2 ? "," : "", (long long)rev);
	head = (size_t)(t.metadata.p + t.metadata.n - 1 - value);
	out = malloc(len + rv_len + 1);
	if (!out)
		return NULL;
	memcpy(out, value, head);
	memcpy(out + head, rv, rv_len);
	memcpy(out + head + rv_len, value + head, len - head);
	out[len + rv_len] = '\0';
	*out_len = len + rv_len;
	return out;
}

struct member_find {
	struct span key, found;
};

static bool find_member(struct span key, struct span val, void *ud)
{
	struct member_find *f = ud;

	/* The last one, as parsing keeps the last of duplicate keys. */
	if (key.n == f->key.n && !memcmp(key.p, f->key.p, key.n))
		f->found = val;
	return true;
}

/* Sets mini's value at the dotted path to the value there in text (none
 * when absent); -EINVAL when text does not walk or the value does not
 * parse, so the caller parses the whole object instead. */
static int project_path(json_t *mini, const char *text, size_t len, const char *path)
{
	struct span at = { text, len };
	json_t *dst = mini, *v;

	for (;;) {
		const char *dot = strchr(path, '.');
		struct member_find f = { .key = { path, dot ? (size_t)(dot - path) : strlen(path) } };
		char seg[256];

		if (at.p[0] != '{')
			return 0; /* not an object: the path is absent */
		if (each_member(at.p, at.p + at.n, find_member, &f) != at.p + at.n)
			return -EINVAL;
		if (!f.found.p)
			return 0;
		if (f.key.n >= sizeof(seg))
			return -EINVAL;
		memcpy(seg, path, f.key.n);
		seg[f.key.n] = '\0';
		if (!dot) {
			v = json_loadb(f.found.p, f.found.n, JSON_DECODE_ANY, NULL);
			return v && json_object_set_new(dst, seg, v) == 0 ? 0 : -EINVAL;
		}
		v = json_object_get(dst, seg);
		if (!v) {
			v = json_object();
			if (!v || json_object_set_new(dst, seg, v) < 0)
				return -EINVAL;
		} else if (!json_is_object(v)) {
			return -EINVAL;
		}
		dst = v;
		at = f.found;
		path = dot + 1;
	}
}

json_t *api_obj_project(const char *text, size_t len, const struct kube_selector *ls,
			const struct kube_selector *fs)
{
	json_t *mini = json_object();
	int r = mini ? 0 : -ENOMEM;

	if (r == 0 && (!len || text[0] != '{'))
		r = -EINVAL;
	if (r == 0 && ls && ls->n)
		r = project_path(mini, text, len, "metadata.labels");
	for (size_t i = 0; r == 0 && fs && i < fs->n; i++)
		r = project_path(mini, text, len, fs->reqs[i].key);
	if (r < 0) {
		json_decref(mini);
		return NULL;
	}
	return mini;
}

/* Whether a stored text may hold one of words once read: it contains
 * one, or r's reads add members (a custom resource's defaults). */
static bool text_mentions(const struct api_resource *r, const char *text, size_t len,
			  const char *const *words)
{
	if (!words || r->crd)
		return true;
	for (; *words; words++)
		if (memmem(text, len, *words, strlen(*words)))
			return true;
	return false;
}

/* api_obj_load; *out NULL when the stored text mentions none of words
 * (NULL: parsed whatever it says). */
static int load_mentioning(struct api_server *s, const struct api_resource *r, const char *key,
			   const char *name, const char *const *words, json_t **out, int64_t *rev,
			   struct api_err *e)
{
	struct store_kv kv = { 0 };
	json_t *obj;
	int ret = store_get(s->store, key, &kv);

	if (ret == -ENOENT) {
		api_err_not_found(e, r, name);
		return ret;
	}
	if (ret < 0) {
		api_err_store(e, ret);
		return ret;
	}
	if (!text_mentions(r, kv.value, kv.value_len, words)) {
		if (rev)
			*rev = kv.mod_revision;
		store_kv_clear(&kv);
		*out = NULL;
		return 0;
	}
	obj = api_obj_from_kv(r, kv.value, kv.value_len, kv.mod_revision);
	if (obj && rev)
		*rev = kv.mod_revision;
	store_kv_clear(&kv);
	if (!obj) {
		api_err_store(e, -EIO);
		return -EIO;
	}
	*out = obj;
	return 0;
}

int api_obj_load(struct api_server *s, const struct api_resource *r, const char *key,
		 const char *name, json_t **out, int64_t *rev, struct api_err *e)
{
	return load_mentioning(s, r, key, name, NULL, out, rev, e);
}

int api_obj_get_mentioning(struct api_server *s, const struct api_resource *r, const char *ns,
			   const char *name, const char *const *words, json_t **out,
			   struct api_err *e)
{
	char key[1024];

	api_key_for(r, ns, name, key, sizeof(key));
	return load_mentioning(s, r, key, name, words, out, NULL, e);
}

bool api_obj_exists(struct api_server *s, const struct api_resource *r, const char *ns,
		    const char *name)
{
	char key[1024];
	struct store_kv kv = { 0 };

	api_key_for(r, ns, name, key, sizeof(key));
	if (store_get(s->store, key, &kv) < 0)
		return false;
	store_kv_clear(&kv);
	return true;
}

int api_obj_each(struct api_server *s, const struct api_resource *r, const char *ns,
		 api_obj_visit_fn fn, void *ud)
{
	return api_obj_each_mentioning(s, r, ns, NULL, fn, ud);
}

int api_obj_each_mentioning(struct api_server *s, const struct api_resource *r, const char *ns,
			    const char *word, api_obj_visit_fn fn, void *ud)
{
	const char *const words[] = { word, NULL };
	struct store_kv *kvs = NULL;
	size_t n = 0;
	int64_t rev;
	bool more;
	char prefix[512];
	int ret;

	api_prefix_for(r, ns, prefix, sizeof(prefix));
	ret = store_list(s->store, prefix, NULL, 0, &kvs, &n, &rev, &more);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		json_t *obj;

		if (!text_mentions(r, kvs[i].value, kvs[i].value_len, word ? words : NULL))
			continue;
		obj = api_obj_from_kv(r, kvs[i].value, kvs[i].value_len, kvs[i].mod_revision);
		fn(s, r, kvs[i].key, obj, kvs[i].mod_revision, ud);
		json_decref(obj);
	}
	store_kvs_free(kvs, n);
	return 0;
}

/* obj without metadata.resourceVersion (and selfLink when asked): a
 * shallow copy sharing every other value with obj (which stays as it is),
 * so a write pays for two small objects, not a copy of the whole tree. */
static json_t *without_rv(json_t *obj, bool self_link)
{
	json_t *c = json_copy(obj), *m = json_object_get(obj, "metadata");

	if (c && json_is_object(m)) {
		m = json_copy(m);
		json_object_del(m, "resourceVersion");
		if (self_link)
			json_object_del(m, "selfLink");
		json_object_set_new(c, "metadata", m);
	}
	return c;
}

char *api_obj_dump(json_t *obj)
{
	json_t *c = without_rv(obj, true);
	char *s = c ? json_dumps(c, JSON_COMPACT) : NULL;

	json_decref(c);
	return s;
}

/* The answer's text for obj, just stored as text (api_obj_dump's) at
 * rev, when the caller asked for it (o->reply) and it is the same as
 * json_dumps(obj) would write: metadata's resourceVersion last (where
 * api_obj_render_kv puts it), no selfLink (the stored text has none), and
 * no hook that might see obj after the write. */
static void keep_reply(const struct api_resource *r, const struct api_write_opts *o,
		       json_t *obj, const char *text, int64_t rev)
{
	json_t *meta = json_object_get(obj, "metadata"), *v;
	const char *k, *last = NULL;

	if (!o->reply || (r->hooks && r->hooks->written) || !json_is_object(meta) ||
	    json_object_get(meta, "selfLink"))
		return;
	json_object_foreach(meta, k, v)
		last = k;
	if (!last || !streq(last, "resourceVersion"))
		return;
	free(*o->reply);
	*o->reply = api_obj_render_kv(r, text, strlen(text), rev, o->reply_len);
}

/* Sets to[key] to from[key], or removes it when from has none. */
static void copy_field(json_t *from, json_t *to, const char *key)
{
	json_t *v = json_object_get(from, key);

	if (v)
		json_object_set(to, key, v);
	else
		json_object_del(to, key);
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

/* ---- admission: what every write of an object goes through ---- */

/* A member of the type ("apiVersion", "kind"): its text, "" when absent
 * or null (as Go decodes it into a string), NULL when it is not a
 * string (400 naming it). */
static const char *type_member(json_t *obj, const char *key, struct api_err *e)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return "";
	if (json_is_string(v))
		return json_string_value(v);
	api_err_set(e, 400, "BadRequest",
		    "couldn't get version/kind; json parse error: json: cannot unmarshal %s into Go "
		    "struct field .%s of type string",
		    json_is_object(v) ? "object" : json_is_array(v) ? "array" :
		    json_is_boolean(v) ? "bool" : "number", key);
	return NULL;
}

/* A JSON object whose apiVersion and kind are the resource's. Absent or
 * empty, they are taken from the request's path, as kube-apiserver's
 * decoder defaults them (so clients that leave them out, the Python
 * one, work); naming another type, 400 naming the field. metadata
 * absent: 422 naming name. */
static int check_type(const struct api_resource *r, json_t *obj, const char *name,
		      struct api_err *e)
{
	const char *av, *k;
	json_t *causes;
	char gv[128];

	if (!json_is_object(obj)) {
		api_err_set(e, 400, "BadRequest", "the request body must be a JSON object");
		return -EINVAL;
	}
	if (!(av = type_member(obj, "apiVersion", e)) || !(k = type_member(obj, "kind", e)))
		return -EINVAL;
	api_resource_gv(r, gv, sizeof(gv));
	if (*av && !streq(av, gv)) {
		api_err_set(e, 400, "BadRequest",
			    "the API version in the data (%s) does not match the expected API version (%s)",
			    av, gv);
		return -EINVAL;
	}
	if (*k && !streq(k, r->kind)) {
		api_err_set(e, 400, "BadRequest",
			    "the kind in the data (%s) does not match the expected kind (%s)", k,
			    r->kind);
		return -EINVAL;
	}
	set_type(r, obj);
	if (!json_is_object(json_object_get(obj, "metadata"))) {
		causes = json_array();
		api_cause(causes, "FieldValueRequired", "metadata", "Required value");
		api_err_invalid(e, r, name, causes);
		return -EINVAL;
	}
	return 0;
}

/* Unknown fields, as o->fields says; obj loses them unless Strict
 * refuses it (naming them all in one message); Warn adds a warning each. */
static int check_fields(const struct api_resource *r, json_t *obj, const struct api_write_opts *o,
			struct api_err *e)
{
	bool strict = o->fields == API_FIELDS_STRICT;
	char buf[480], joined[720];
	size_t n = 0;

	if (!(r->crd ? api_crd_unknown_fields(r, obj, buf, sizeof(buf))
		     : api_unknown_fields(r, obj, !strict, buf, sizeof(buf))) ||
	    o->fields == API_FIELDS_IGNORE)
		return 0;
	if (strict) {
		for (const char *c = buf; *c && n < sizeof(joined) - 3; c++) {
			if (*c == API_SCHEMA_MSG_SEP[0]) {
				joined[n++] = ',';
				joined[n++] = ' ';
			} else {
				joined[n++] = *c;
			}
		}
		joined[n] = 0;
		api_err_set(e, 400, "BadRequest", "strict decoding error: %s", joined);
		return -EINVAL;
	}
	if (o->warning) /* a write retried on a conflict comes here again: no append */
		snprintf(o->warning, o->warning_len, "%s", buf);
	return 0;
}

/* The row's defaulting, then validation of metadata and of the kind. */
static int defaults_and_validate(const struct api_resource *r, json_t *obj, struct api_err *e)
{
	json_t *causes = json_array();

	if (r->defaults)
		r->defaults(obj);
	if (r->crd)
		api_crd_admit(r, obj, causes);
	api_validate_meta(r, obj, causes);
	if (r->validate)
		r->validate(obj, causes);
	if (json_array_size(causes)) {
		api_err_invalid(e, r, api_jstr(obj, "metadata.name"), causes);
		return -EINVAL;
	}
	json_decref(causes);
	return 0;
}

/* ---- get ---- */

int api_obj_get(struct api_server *s, const struct api_resource *r, const char *ns,
		const char *name, json_t **out, struct api_err *e)
{
	char key[1024];

	api_key_for(r, ns, name, key, sizeof(key));
	return api_obj_load(s, r, key, name, out, NULL, e);
}

/* ---- create ---- */

/* metadata.namespace: the request's (ns), which the object may repeat
 * but not contradict, else the object's, else "default"; none for
 * cluster-scoped kinds. */
static int set_namespace(const struct api_resource *r, json_t *meta, const char *ns,
			 struct api_err *e)
{
	const char *ons = json_string_value(json_object_get(meta, "namespace"));

	if (!r->namespaced) {
		json_object_del(meta, "namespace");
		return 0;
	}
	if (ons && *ons && ns && *ns && !streq(ons, ns)) {
		api_err_set(e, 400, "BadRequest", "the namespace of the provided object does not "
			    "match the namespace sent on the request");
		return -EINVAL;
	}
	if (!ns || !*ns)
		ns = ons && *ons ? ons : "default";
	json_object_set_new(meta, "namespace", json_string(ns));
	return 0;
}

/* A namespaced object is created in a namespace that exists and is not
 * being terminated (upstream's NamespaceLifecycle admission: 403 with a
 * NamespaceTerminating cause). */
static int check_namespace(struct api_server *s, const struct api_resource *r, json_t *obj,
			   struct api_err *e)
{
	/* The members looked at: a namespace without them (most) is not parsed. */
	static const char *const words[] = { "\"deletionTimestamp\"", "\"Terminating\"", NULL };
	const struct api_resource *nsr = api_resource_find("", "v1", "namespaces");
	const char *ns = api_jstr(obj, "metadata.namespace"), *name = api_jstr(obj, "metadata.name");
	json_t *ns_obj = NULL;
	char qn[128];
	bool terminating;
	int ret = api_obj_get_mentioning(s, nsr, NULL, ns, words, &ns_obj, e);

	if (ret < 0 || !ns_obj)
		return ret;
	terminating = api_jget(ns_obj, "metadata.deletionTimestamp") ||
		      streq(api_jstr(ns_obj, "status.phase"), "Terminating");
	json_decref(ns_obj);
	if (!terminating)
		return 0;
	api_resource_qualified(r, qn, sizeof(qn));
	api_err_set(e, 403, "Forbidden",
		    "%s \"%s\" is forbidden: unable to create new content in namespace %s because it "
		    "is being terminated", qn, name, ns);
	api_err_named(e, r, name);
	e->causes = json_array();
	api_cause(e->causes, "NamespaceTerminating", "metadata.namespace",
		  "namespace %s is being terminated", ns);
	return -EPERM;
}

/* Everything a new object must pass before it is stored. */
static int admit_create(struct api_server *s, const struct api_resource *r, const char *ns,
			json_t *obj, const struct api_write_opts *o, struct api_err *e)
{
	int ret = check_type(r, obj, api_jstr(obj, "metadata.name"), e);

	if (ret == 0)
		ret = check_fields(r, obj, o, e);
	if (ret < 0)
		return ret;
	generate_name(api_obj_meta(obj));
	ret = set_namespace(r, api_obj_meta(obj), ns, e);
	if (ret < 0)
		return ret;
	set_type(r, obj);
	if ((r->subresources & API_SUB_STATUS) && !r->create_keeps_status)
		json_object_del(obj, "status");
	if (r->hooks && r->hooks->admit) {
		ret = r->hooks->admit(s, r, obj, e);
		if (ret < 0)
			return ret;
	}
	ret = defaults_and_validate(r, obj, e);
	if (ret < 0)
		return ret;
	return r->namespaced ? check_namespace(s, r, obj, e) : 0;
}

/* The metadata the server owns on a new object. */
static void stamp_new(const struct api_resource *r, json_t *meta)
{
	char uid[40], ts[40];

	gen_uid(uid, sizeof(uid));
	api_format_time(time(NULL), ts, sizeof(ts));
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(ts));
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "deletionTimestamp");
	json_object_del(meta, "deletionGracePeriodSeconds");
	json_object_del(meta, "managedFields");
	if (r->has_spec || r->crd) /* a custom resource counts its generations too */
		json_object_set_new(meta, "generation", json_integer(1));
	else
		json_object_del(meta, "generation");
}

/* Takes what obj needs (the row's allocate hook) and stores it. */
static int store_new(struct api_server *s, const struct api_resource *r, json_t *obj,
		     const struct api_write_opts *o, struct api_err *e)
{
	const struct api_obj_hooks *h = r->hooks;
	const char *name = api_jstr(obj, "metadata.name");
	_cleanup_free_ char *text = NULL;
	char key[1024];
	int64_t rev = 0;
	int ret;

	/* Checked first so a duplicate never takes an address (and a dry
	 * run, which stores nothing, still finds it); otherwise the store's
	 * create says so. */
	if ((o->dry_run || (h && h->allocate)) &&
	    api_obj_exists(s, r, api_jstr(obj, "metadata.namespace"), name)) {
		api_err_exists(e, r, name);
		return -EEXIST;
	}
	if (h && h->allocate) {
		ret = h->allocate(s, obj, NULL, o->dry_run, e);
		if (ret < 0)
			return ret;
	}
	if (o->dry_run)
		return 0;
	api_key_for(r, api_jstr(obj, "metadata.namespace"), name, key, sizeof(key));
	text = api_obj_dump(obj);
	ret = text ? store_create(s->store, key, text, strlen(text), &rev) : -ENOMEM;
	if (ret < 0) {
		if (h && h->release)
			h->release(s, obj, NULL);
		if (ret == -EEXIST)
			api_err_exists(e, r, name);
		else
			api_err_store(e, ret);
		return ret;
	}
	api_set_rv(obj, rev);
	if (h && h->written)
		h->written(s, r, obj, false);
	keep_reply(r, o, obj, text, rev);
	return 0;
}

int api_obj_create(struct api_server *s, const struct api_resource *r, const char *ns,
		   json_t *body, const struct api_write_opts *o, json_t **out, struct api_err *e)
{
	return api_obj_create_take(s, r, ns, json_deep_copy(body), o, out, e);
}

int api_obj_create_take(struct api_server *s, const struct api_resource *r, const char *ns,
			json_t *obj, const struct api_write_opts *o, json_t **out,
			struct api_err *e)
{
	int ret;

	if (!o)
		o = &no_opts;
	ret = admit_create(s, r, ns, obj, o, e);
	if (ret == 0) {
		stamp_new(r, api_obj_meta(obj));
		ret = store_new(s, r, obj, o, e);
	}
	if (ret < 0) {
		json_decref(obj);
		return ret;
	}
	*out = obj;
	return 0;
}

/* ---- update ---- */

/* One update: what it writes, where, and how. */
struct update {
	struct api_server *s;
	const struct api_resource *r;
	const char *name;
	enum api_write_part part;
	const struct api_write_opts *o;
	char key[1024];
};

/* The metadata no write changes. */
static void preserve_meta(json_t *old, json_t *obj)
{
	static const char *const keep[] = { "uid", "creationTimestamp", "generation",
					    "deletionTimestamp", "deletionGracePeriodSeconds",
					    "namespace", "name" };

	for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
		copy_field(api_obj_meta(old), api_obj_meta(obj), keep[i]);
}

static bool same_ignoring_rv(json_t *a, json_t *b)
{
	json_t *x = without_rv(a, false), *y = without_rv(b, false);
	bool eq = x && y && json_equal(x, y);

	json_decref(x);
	json_decref(y);
	return eq;
}

/* A write of spec and metadata: mutated admitted, old's identity and
 * status kept, the generation counted, the row's allocations updated. */
static int admit_main(const struct update *u, json_t *old, json_t *mutated, json_t **out,
		      struct api_err *e)
{
	const struct api_resource *r = u->r;
	const char *n = api_jstr(mutated, "metadata.name");
	json_t *obj;
	int ret;

	if (n && !streq(n, u->name)) {
		api_err_set(e, 400, "BadRequest",
			    "the name of the object (%s) does not match the name on the URL (%s)", n,
			    u->name);
		return -EINVAL;
	}
	obj = json_deep_copy(mutated);
	ret = check_fields(r, obj, u->o, e);
	if (ret < 0) {
		json_decref(obj);
		return ret;
	}
	set_type(r, obj);
	preserve_meta(old, obj);
	if (r->subresources & API_SUB_STATUS)
		copy_field(old, obj, "status");
	ret = defaults_and_validate(r, obj, e);
	if (ret == 0 && (r->has_spec || r->crd) &&
	    !json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec")))
		json_object_set_new(api_obj_meta(obj), "generation",
				    json_integer(json_integer_value(api_jget(old, "metadata.generation")) + 1));
	if (ret == 0 && r->hooks && r->hooks->allocate)
		ret = r->hooks->allocate(u->s, obj, old, u->o->dry_run, e);
	if (ret < 0) {
		json_decref(obj);
		return ret;
	}
	*out = obj;
	return 0;
}

/* Whether a deleting obj is still kept by its finalizers (metadata's, or
 * the row's hold: a namespace's spec.finalizers). */
static bool finalizers_hold(const struct api_resource *r, json_t *obj)
{
	return json_array_size(api_jget(obj, "metadata.finalizers")) > 0 ||
	       (r->hooks && r->hooks->held && r->hooks->held(obj));
}

/* Whether the write of obj over old removes the object: it is being
 * deleted, its grace period is over, and this write took its last
 * finalizer (as upstream's shouldDeleteDuringUpdate). */
static bool last_finalizer_went(const struct api_resource *r, json_t *old, json_t *obj)
{
	return api_jget(obj, "metadata.deletionTimestamp") &&
	       json_integer_value(api_jget(obj, "metadata.deletionGracePeriodSeconds")) <= 0 &&
	       finalizers_hold(r, old) && !finalizers_hold(r, obj);
}

/* Stores obj over old (read at old_rev), or deletes the object when its
 * last finalizer went; the side that lost gives back what it held.
 * -ESTALE when the object moved on. */
static int store_write(const struct update *u, json_t *old, int64_t old_rev, json_t *obj,
		       struct api_err *e)
{
	const struct api_obj_hooks *h = u->r->hooks;
	_cleanup_free_ char *text = NULL;
	int64_t rev = 0;
	int ret;

	if (last_finalizer_went(u->r, old, obj)) {
		ret = api_obj_remove(u->s, u->r, u->key, old, old_rev);
		if (ret == 0)
			return 0;
	} else {
		text = api_obj_dump(obj);
		ret = text ? store_update(u->s->store, u->key, text, strlen(text), old_rev, &rev)
			   : -ENOMEM;
	}
	if (ret < 0) {
		if (h && h->release)
			h->release(u->s, obj, old);
		if (ret == -ESTALE || ret == -ENOENT)
			return -ESTALE;
		api_err_store(e, ret);
		return ret;
	}
	if (h && h->release)
		h->release(u->s, old, obj);
	api_set_rv(obj, rev);
	if (h && h->written)
		h->written(u->s, u->r, obj, false);
	if (text)
		keep_reply(u->r, u->o, obj, text, rev);
	return 0;
}

/* One attempt: -ESTALE when the object moved on under us. */
static int commit_update(const struct update *u, json_t *old, int64_t old_rev, json_t *mutated,
			 json_t **out, struct api_err *e)
{
	const char *want_rv = api_jstr(mutated, "metadata.resourceVersion");
	json_t *obj = NULL;
	int ret = 0;

	if (want_rv && *want_rv && !streq(want_rv, api_jstr(old, "metadata.resourceVersion"))) {
		api_err_conflict(e, u->r, u->name);
		return -EBUSY;
	}
	if (u->part == API_WRITE_STATUS) {
		/* old's values but a top level and metadata of its own, the
		 * parts this write changes (status, resourceVersion). */
		obj = json_copy(old);
		json_object_set_new(obj, "metadata", json_copy(api_obj_meta(old)));
		copy_field(mutated, obj, "status");
	} else {
		ret = admit_main(u, old, mutated, &obj, e);
		if (ret < 0)
			return ret;
	}
	api_set_rv(obj, old_rev);
	/* A no-op write keeps the resourceVersion, as Kubernetes does. */
	if (!u->o->dry_run && !same_ignoring_rv(old, obj))
		ret = store_write(u, old, old_rev, obj, e);
	if (ret < 0) {
		json_decref(obj);
		return ret;
	}
	*out = obj;
	return 0;
}

int api_obj_mutate(struct api_server *s, const struct api_resource *r, const char *ns,
		   const char *name, enum api_write_part part, api_mutate_fn fn, void *ud,
		   const struct api_write_opts *o, json_t **out, struct api_err *e)
{
	struct update u = { s, r, name, part, o ? o : &no_opts, "" };

	api_key_for(r, ns, name, u.key, sizeof(u.key));
	for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
		json_t *old = NULL, *mutated = NULL;
		int64_t rev = 0;
		int ret = api_obj_load(s, r, u.key, name, &old, &rev, e);

		if (ret < 0)
			return ret;
		ret = fn(r, old, ud, &mutated, e);
		if (ret == 0)
			ret = commit_update(&u, old, rev, mutated, out, e);
		json_decref(old);
		json_decref(mutated);
		if (ret != -ESTALE)
			return ret;
	}
	api_err_conflict(e, r, name);
	return -EBUSY;
}

/* The mutation of a replace: the caller's object (ud), as a PUT sends it. */
static int replace_with(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			struct api_err *e)
{
	json_t *obj = ud;
	int ret = check_type(r, obj, api_jstr(old, "metadata.name"), e);

	if (ret < 0)
		return ret;
	*out = json_incref(obj);
	return 0;
}

int api_obj_update(struct api_server *s, const struct api_resource *r, const char *ns,
		   const char *name, json_t *obj, const struct api_write_opts *o, json_t **out,
		   struct api_err *e)
{
	return api_obj_mutate(s, r, ns, name, API_WRITE_MAIN, replace_with, obj, o, out, e);
}

int api_obj_update_status(struct api_server *s, const struct api_resource *r, const char *ns,
			  const char *name, json_t *obj, const struct api_write_opts *o,
			  json_t **out, struct api_err *e)
{
	return api_obj_mutate(s, r, ns, name, API_WRITE_STATUS, replace_with, obj, o, out, e);
}
