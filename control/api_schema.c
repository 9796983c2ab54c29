/* The schemas of the served kinds, read from control/api_schema.def (built
 * in as $(GEN)/control/api_schema_def.h) into OpenAPI v3 schemas, and the
 * unknown-field walk of fieldValidation over them.
 *
 * The .def format, one line each:
 *   type NAME [gv=GROUP/VERSION | gv=VERSION] [| description]
 *     FIELD TYPE [req] [merge[=KEY]] [retainKeys] [| description]
 * NAME is the definition name less "io.k8s.api." (for meta.*, less
 * "io.k8s.apimachinery.pkg.apis."; for metrics.*, less
 * "io.k8s.metrics.pkg.apis."; for apiextensions.*, less
 * "io.k8s.apiextensions-apiserver.pkg.apis."); gv marks a kind. TYPE is a scalar
 * (string, integer, int64, boolean, number, byte, object), an
 * apimachinery leaf (Quantity, IntOrString, Time, MicroTime, RawExtension,
 * FieldsV1), a NAME, [TYPE] (a list) or {TYPE} (a map with string keys).
 * req: the field is required; merge and retainKeys: its strategic-merge
 * patch strategy (merge=KEY: a list merged by KEY). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_schema.h"
#include "lib/util.h"

static const char schema_text[] =
#include "control/api_schema_def.h"
	;

/* The scalars, and the apimachinery types every version shares. */
static const struct {
	const char *token, *type, *format;
} scalars[] = {
	{ "string", "string", NULL },	 { "integer", "integer", "int32" },
	{ "int64", "integer", "int64" }, { "boolean", "boolean", NULL },
	{ "number", "number", "double" }, { "byte", "string", "byte" },
	{ "object", "object", NULL },
};

/* type NULL: one of two (as v3 writes Quantity and IntOrString, so
 * kubectl names them; v2 has a string there, control/api_openapi.c). */
static const struct {
	const char *token, *name, *type, *format, *desc;
} leaves[] = {
	{ "Quantity", "io.k8s.apimachinery.pkg.api.resource.Quantity", NULL, NULL,
	  "An amount written as a decimal number with an optional suffix: 250m, 1.5, 64Mi, 2G." },
	{ "IntOrString", "io.k8s.apimachinery.pkg.util.intstr.IntOrString", NULL, "int-or-string",
	  "A whole number, or a string such as a port name or a percentage (25%)." },
	{ "Time", "io.k8s.apimachinery.pkg.apis.meta.v1.Time", "string", "date-time",
	  "A moment in RFC 3339 form, to the second (2024-05-01T12:00:00Z)." },
	{ "MicroTime", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime", "string", "date-time",
	  "A moment in RFC 3339 form, to the microsecond." },
	{ "RawExtension", "io.k8s.apimachinery.pkg.runtime.RawExtension", "object", NULL,
	  "An embedded object of any kind, stored as it was sent." },
	{ "FieldsV1", "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1", "object", NULL,
	  "A tree of the field names one manager set, in server-side apply's encoding." },
};

/* Where a NAME's package lives: its definition name's prefix. */
static const struct {
	const char *pkg, *prefix;
} prefixes[] = {
	{ "meta.", "io.k8s.apimachinery.pkg.apis." },
	{ "metrics.", "io.k8s.metrics.pkg.apis." },
	{ "apiextensions.", "io.k8s.apiextensions-apiserver.pkg.apis." },
};

static void full_name(const char *tok, size_t n, char *buf, size_t len)
{
	const char *prefix = "io.k8s.api.";

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(tok, prefixes[i].pkg, strlen(prefixes[i].pkg)) == 0)
			prefix = prefixes[i].prefix;
	snprintf(buf, len, "%s%.*s", prefix, (int)n, tok);
}

static json_t *ref_to(const char *name)
{
	char ref[320];

	snprintf(ref, sizeof(ref), API_SCHEMA_REF "%s", name);
	return json_pack("{s:s}", "$ref", ref);
}

/* The schema a TYPE token stands for, or NULL when it names nothing. */
static json_t *type_schema(const char *tok, size_t n)
{
	char name[256];

	if (n >= 2 && ((tok[0] == '[' && tok[n - 1] == ']') || (tok[0] == '{' && tok[n - 1] == '}'))) {
		json_t *inner = type_schema(tok + 1, n - 2);

		if (!inner)
			return NULL;
		return tok[0] == '[' ? json_pack("{s:s,s:o}", "type", "array", "items", inner)
				     : json_pack("{s:s,s:o}", "type", "object", "additionalProperties",
						 inner);
	}
	for (size_t i = 0; i < ARRAY_SIZE(scalars); i++) {
		if (strlen(scalars[i].token) != n || strncmp(tok, scalars[i].token, n))
			continue;
		json_t *s = json_pack("{s:s}", "type", scalars[i].type);

		if (scalars[i].format)
			json_object_set_new(s, "format", json_string(scalars[i].format));
		return s;
	}
	for (size_t i = 0; i < ARRAY_SIZE(leaves); i++)
		if (strlen(leaves[i].token) == n && strncmp(tok, leaves[i].token, n) == 0)
			return ref_to(leaves[i].name);
	if (!memchr(tok, '.', n) || n >= 200)
		return NULL;
	full_name(tok, n, name, sizeof(name));
	return ref_to(name);
}

/* Splits line (modified) into up to max words and a description (after
 * " | "); returns the number of words. */
static size_t split(char *line, char **w, size_t max, const char **desc)
{
	char *bar = strstr(line, " | "), *save = NULL;
	size_t n = 0;

	*desc = NULL;
	if (bar) {
		*bar = 0;
		*desc = bar + 3;
	}
	for (char *t = strtok_r(line, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save))
		w[n++] = t;
	return n;
}

static int add_type(json_t *schemas, char **w, size_t n, const char *desc, json_t **cur)
{
	char name[256];
	json_t *s = json_pack("{s:s,s:{}}", "type", "object", "properties");

	full_name(w[1], strlen(w[1]), name, sizeof(name));
	if (desc)
		json_object_set_new(s, "description", json_string(desc));
	for (size_t i = 2; i < n; i++) {
		const char *gv = w[i] + 3, *slash = strchr(gv, '/');
		const char *kind = strrchr(w[1], '.') + 1;

		if (strncmp(w[i], "gv=", 3)) {
			json_decref(s);
			return -EINVAL;
		}
		json_object_set_new(
			s, "x-kubernetes-group-version-kind",
			json_pack("[{s:s%,s:s,s:s}]", "group", gv, slash ? (size_t)(slash - gv) : 0,
				  "kind", kind, "version", slash ? slash + 1 : gv));
	}
	*cur = s;
	return json_object_set_new(schemas, name, s) ? -EINVAL : 0;
}

/* A property's patch strategy from its flags. */
static void set_strategy(json_t *p, bool merge, bool retain)
{
	if (merge || retain)
		json_object_set_new(p, "x-kubernetes-patch-strategy",
				    json_string(merge && retain ? "merge,retainKeys"
						: merge	    ? "merge"
								    : "retainKeys"));
}

static int add_field(json_t *type, char **w, size_t n, const char *desc)
{
	json_t *p = type_schema(w[1], strlen(w[1]));
	bool merge = false, retain = false;

	if (!p)
		return -EINVAL;
	if (desc && json_object_get(p, "$ref")) {
		/* A $ref has no siblings in v3: the description wraps it. */
		p = json_pack("{s:[o]}", "allOf", p);
	}
	if (desc)
		json_object_set_new(p, "description", json_string(desc));
	for (size_t i = 2; i < n; i++) {
		if (streq(w[i], "req")) {
			json_t *req = json_object_get(type, "required");

			if (!req)
				json_object_set_new(type, "required", req = json_array());
			json_array_append_new(req, json_string(w[0]));
		} else if (strncmp(w[i], "merge", 5) == 0 && (!w[i][5] || w[i][5] == '=')) {
			merge = true;
			if (w[i][5])
				json_object_set_new(p, "x-kubernetes-patch-merge-key",
						    json_string(w[i] + 6));
		} else if (streq(w[i], "retainKeys")) {
			retain = true;
		} else {
			json_decref(p);
			return -EINVAL;
		}
	}
	set_strategy(p, merge, retain);
	return json_object_set_new(json_object_get(type, "properties"), w[0], p) ? -EINVAL : 0;
}

/* The first $ref under v that names no schema, or NULL. */
static const char *dangling_ref(const json_t *schemas, json_t *v)
{
	const char *k, *ref = json_string_value(json_object_get(v, "$ref"));
	json_t *x;
	size_t i;

	if (ref && (strncmp(ref, API_SCHEMA_REF, strlen(API_SCHEMA_REF)) ||
		    !json_object_get(schemas, ref + strlen(API_SCHEMA_REF))))
		return ref;
	json_object_foreach(v, k, x) {
		if ((ref = dangling_ref(schemas, x)))
			return ref;
	}
	json_array_foreach(v, i, x) {
		if ((ref = dangling_ref(schemas, x)))
			return ref;
	}
	return NULL;
}

static void add_leaves(json_t *schemas)
{
	for (size_t i = 0; i < ARRAY_SIZE(leaves); i++) {
		json_t *s = json_pack("{s:s}", "description", leaves[i].desc);

		if (leaves[i].type)
			json_object_set_new(s, "type", json_string(leaves[i].type));
		else
			json_object_set_new(s, "oneOf",
					    json_pack("[{s:s},{s:s}]", "type", "integer", "type",
						      "string"));

		if (leaves[i].format)
			json_object_set_new(s, "format", json_string(leaves[i].format));
		json_object_set_new(schemas, leaves[i].name, s);
	}
}

static int parse_line(json_t *schemas, char *line, json_t **cur)
{
	char *w[8];
	const char *desc;
	bool field = line[0] == ' ' || line[0] == '\t';
	size_t n = split(line, w, ARRAY_SIZE(w), &desc);

	if (n == 0 || w[0][0] == '#')
		return 0;
	if (!field && n >= 2 && streq(w[0], "type"))
		return add_type(schemas, w, n, desc, cur);
	if (field && n >= 2 && *cur)
		return add_field(*cur, w, n, desc);
	return -EINVAL;
}

int api_schema_parse(const char *text, json_t **out, char *err, size_t errlen)
{
	json_t *schemas = json_object(), *cur = NULL;
	char *copy = strdup(text);
	const char *bad;
	size_t lineno = 0;
	int r = 0;

	if (!copy) {
		json_decref(schemas);
		return -ENOMEM;
	}
	/* strtok_r would merge empty lines; count them by hand. */
	for (char *line = copy, *next; line && r == 0; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		r = parse_line(schemas, line, &cur);
		if (r < 0)
			snprintf(err, errlen, "line %zu: not a type or field line", lineno);
	}
	free(copy);
	add_leaves(schemas);
	if (r == 0 && (bad = dangling_ref(schemas, schemas))) {
		snprintf(err, errlen, "%s names no schema", bad);
		r = -EINVAL;
	}
	if (r < 0) {
		json_decref(schemas);
		return r;
	}
	*out = schemas;
	return 0;
}

/* ---- the built-in schemas, read once ---- */

static json_t *builtin;
/* The built-in schemas' names by "group/version/kind", the first of each
 * (every write looks its kind up: a scan of them all cost 2% of the
 * server's CPU in bench_sched_api). */
static json_t *builtin_kinds;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

/* The group, version and kind of schema s, or NULL. */
static json_t *schema_gvk(const json_t *s)
{
	return json_array_get(json_object_get(s, "x-kubernetes-group-version-kind"), 0);
}

static void gvk_key(const char *group, const char *version, const char *kind, char *buf,
		    size_t len)
{
	snprintf(buf, len, "%s/%s/%s", group, version, kind);
}

static void builtin_load(void)
{
	char err[256], key[384];
	const char *k;
	json_t *s, *g;

	if (api_schema_parse(schema_text, &builtin, err, sizeof(err)) < 0)
		builtin = json_object();
	builtin_kinds = json_object();
	json_object_foreach(builtin, k, s) {
		const char *gr, *ver, *kind;

		g = schema_gvk(s);
		gr = json_string_value(json_object_get(g, "group"));
		ver = json_string_value(json_object_get(g, "version"));
		kind = json_string_value(json_object_get(g, "kind"));
		if (!gr || !ver || !kind) /* matches no lookup, as api_schema_kind's scan */
			continue;
		gvk_key(gr, ver, kind, key, sizeof(key));
		if (!json_object_get(builtin_kinds, key))
			json_object_set_new(builtin_kinds, key, json_string(k));
	}
}

const json_t *api_schema_builtin(void)
{
	pthread_once(&builtin_once, builtin_load);
	return builtin;
}

/* A kind of the built-in schemas through their index (and its name). */
static const json_t *builtin_kind(const char *group, const char *version, const char *kind,
				  const char **name)
{
	char key[384];
	const char *k;

	gvk_key(group, version, kind, key, sizeof(key));
	k = json_string_value(json_object_get(builtin_kinds, key));
	if (k && name)
		*name = k;
	return k ? json_object_get(builtin, k) : NULL;
}

const json_t *api_schema_kind(const json_t *schemas, const char *group, const char *version,
			      const char *kind, const char **name)
{
	const char *k;
	json_t *s;

	if (schemas == api_schema_builtin() && group && version && kind)
		return builtin_kind(group, version, kind, name);
	json_object_foreach((json_t *)schemas, k, s) {
		json_t *g = schema_gvk(s);

		if (g && streq(json_string_value(json_object_get(g, "kind")), kind) &&
		    streq(json_string_value(json_object_get(g, "group")), group) &&
		    streq(json_string_value(json_object_get(g, "version")), version)) {
			if (name)
				*name = k;
			return s;
		}
	}
	return NULL;
}

/* ---- unknown fields ---- */

struct unknown_walk {
	const json_t *schemas;
	bool drop; /* remove what is reported */
	char path[512];
	char *buf;
	size_t len, off, n;
};

/* s with its $ref or allOf followed to the schema that says what it is. */
static const json_t *resolve(const json_t *schemas, const json_t *s)
{
	for (int hops = 0; s && hops < 8; hops++) {
		const char *ref = json_string_value(json_object_get(s, "$ref"));
		json_t *all = json_object_get(s, "allOf");

		if (ref && strncmp(ref, API_SCHEMA_REF, strlen(API_SCHEMA_REF)) == 0)
			s = json_object_get(schemas, ref + strlen(API_SCHEMA_REF));
		else if (json_array_size(all) == 1)
			s = json_array_get(all, 0);
		else
			return s;
	}
	return NULL;
}

static void report(struct unknown_walk *w)
{
	if (w->off < w->len)
		w->off += (size_t)snprintf(w->buf + w->off, w->len - w->off,
					   "%sunknown field \"%s\"",
					   w->n ? API_SCHEMA_MSG_SEP : "", w->path);
	w->n++;
}

static void walk(struct unknown_walk *w, const json_t *s, json_t *v);

/* Walks v under s with the path extended by .key (or [idx] when key is
 * NULL), restored after; unknown: v's field is reported instead. */
static void walk_into(struct unknown_walk *w, const json_t *s, json_t *v, bool unknown,
		      const char *key, size_t idx)
{
	size_t at = strlen(w->path);

	if (key)
		snprintf(w->path + at, sizeof(w->path) - at, "%s%s", at ? "." : "", key);
	else
		snprintf(w->path + at, sizeof(w->path) - at, "[%zu]", idx);
	if (unknown)
		report(w);
	else
		walk(w, s, v);
	w->path[at] = 0;
}

static void walk(struct unknown_walk *w, const json_t *s, json_t *v)
{
	json_t *props, *more, *x;
	const char *k;
	void *tmp;
	size_t i;

	s = resolve(w->schemas, s);
	if (!s || json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields")))
		return;
	props = json_object_get(s, "properties");
	more = json_object_get(s, "additionalProperties");
	if (json_is_object(v) && (props || json_is_object(more))) {
		json_object_foreach_safe(v, tmp, k, x) {
			json_t *p = props ? json_object_get(props, k) : more;

			walk_into(w, p, x, !p, k, 0);
			if (!p && w->drop)
				json_object_del(v, k);
		}
	} else if (json_is_array(v) && json_object_get(s, "items")) {
		json_array_foreach(v, i, x)
			walk_into(w, json_object_get(s, "items"), x, false, NULL, i);
	}
}

static size_t unknown(const json_t *schemas, const json_t *schema, json_t *obj, bool drop,
		      char *buf, size_t len)
{
	struct unknown_walk w = { .schemas = schemas, .drop = drop, .buf = buf, .len = len };

	if (len)
		buf[0] = 0;
	walk(&w, schema, obj);
	return w.n;
}

size_t api_schema_unknown(const json_t *schemas, const json_t *schema, json_t *obj, char *buf,
			  size_t len)
{
	return unknown(schemas, schema, obj, false, buf, len);
}

size_t api_schema_drop_unknown(const json_t *schemas, const json_t *schema, json_t *obj,
			       char *buf, size_t len)
{
	return unknown(schemas, schema, obj, true, buf, len);
}
