/* A custom resource's objects under its version's structural schema, as
 * the apiextensions-apiserver treats them: fields the schema does not
 * name are pruned (unless x-kubernetes-preserve-unknown-fields), nulls
 * of non-nullable fields dropped, defaults set (on writes and on reads),
 * then the value checks (type, required, enum, minimum/maximum, length,
 * items, pattern) give 422 causes worded as upstream's. Also the
 * printer columns' cells and the scale subresource's view. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api.h"
#include "control/api_crd.h"
#include "control/api_obj.h"
#include "control/api_schema.h"
#include "lib/util.h"

json_t *api_crd_schema(const struct api_resource *r)
{
	return r->crd ? r->crd->schema : NULL;
}

static bool sch_flag(json_t *sch, const char *key)
{
	return json_is_true(json_object_get(sch, key));
}

/* path + "." + key, or key at the root. */
static void path_key(char *buf, size_t len, const char *path, const char *key)
{
	snprintf(buf, len, "%s%s%s", path, *path ? "." : "", key);
}

/* The root's apiVersion, kind and metadata (and an embedded resource's)
 * belong to the object layer, not to the schema. */
static bool type_meta(json_t *sch, bool root, const char *key)
{
	return (root || sch_flag(sch, "x-kubernetes-embedded-resource")) &&
	       (streq(key, "apiVersion") || streq(key, "kind") || streq(key, "metadata"));
}

/* The schema of member k of an object under sch: its property's, else
 * additionalProperties' (a schema); NULL when sch names neither. *map
 * tells which (paths name map keys as [k]). */
static json_t *member_schema(json_t *sch, const char *k, bool *map)
{
	json_t *ps = json_object_get(json_object_get(sch, "properties"), k);
	json_t *addl = json_object_get(sch, "additionalProperties");

	*map = !json_is_object(ps) && json_is_object(addl);
	return json_is_object(ps) ? ps : *map ? addl : NULL;
}

static void member_path(char *buf, size_t len, const char *path, const char *k, bool map)
{
	if (map)
		snprintf(buf, len, "%s[%s]", path, k);
	else
		path_key(buf, len, path, k);
}

/* ---- pruning ---- */

/* Removes from v what sch does not name; each removed field's path is
 * appended to pruned (may be NULL). */
static void prune(json_t *sch, json_t *v, const char *path, bool root, json_t *pruned)
{
	char sub[512];

	if (json_is_array(v)) {
		json_t *items = json_object_get(sch, "items"), *el;
		size_t i;

		json_array_foreach(v, i, el) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (json_is_object(items))
				prune(items, el, sub, false, pruned);
		}
		return;
	}
	if (!json_is_object(v))
		return;
	const char *k;
	json_t *val;
	void *tmp;

	json_object_foreach_safe(v, tmp, k, val) {
		bool map;
		json_t *ps = member_schema(sch, k, &map);

		if (type_meta(sch, root, k))
			continue;
		member_path(sub, sizeof(sub), path, k, map);
		if (ps) {
			prune(ps, val, sub, false, pruned);
		} else if (!json_is_true(json_object_get(sch, "additionalProperties")) &&
			   !sch_flag(sch, "x-kubernetes-preserve-unknown-fields")) {
			if (pruned)
				json_array_append_new(pruned, json_string(sub));
			json_object_del(v, k);
		}
	}
}

/* ---- defaulting ---- */

static void apply_defaults(json_t *sch, json_t *v)
{
	if (json_is_array(v)) {
		json_t *items = json_object_get(sch, "items"), *el;
		size_t i;

		if (json_is_object(items))
			json_array_foreach(v, i, el)
				apply_defaults(items, el);
		return;
	}
	if (!json_is_object(v))
		return;
	const char *k;
	json_t *ps, *val;
	bool map;

	json_object_foreach(json_object_get(sch, "properties"), k, ps) {
		json_t *cur = json_object_get(v, k), *d = json_object_get(ps, "default");

		if (json_is_null(cur) && !sch_flag(ps, "nullable")) {
			json_object_del(v, k);
			cur = NULL;
		}
		if (!cur && d)
			json_object_set_new(v, k, json_deep_copy(d));
	}
	json_object_foreach(v, k, val) {
		ps = member_schema(sch, k, &map);
		if (ps)
			apply_defaults(ps, val);
	}
}

/* ---- validation ---- */

static const char *type_of(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

static bool type_ok(json_t *sch, json_t *v)
{
	const char *t = json_string_value(json_object_get(sch, "type"));

	if (sch_flag(sch, "x-kubernetes-int-or-string"))
		return json_is_integer(v) || json_is_string(v);
	if (json_is_null(v))
		return sch_flag(sch, "nullable") || !t;
	if (!t || !*t)
		return true;
	if (streq(t, "number"))
		return json_is_number(v);
	return streq(t, type_of(v));
}

/* v as upstream's messages quote it: strings quoted, others as JSON. */
static void quoted(json_t *v, char *buf, size_t len)
{
	char *s;

	if (json_is_string(v)) {
		snprintf(buf, len, "\"%s\"", json_string_value(v));
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(buf, len, "%s", s ? s : "null");
	free(s);
}

/* An ECMA/RE2 pattern as a POSIX extended one: the Perl classes
 * (\d \s \w and their negations) spelled as bracket classes, escapes of
 * punctuation inside brackets taken literally. */
static int pattern_compile(const char *pat, regex_t *re)
{
	static const struct {
		char c;
		const char *out, *in; /* outside and inside brackets */
	} classes[] = {
		{ 'd', "[0-9]", "0-9" },         { 'D', "[^0-9]", NULL },
		{ 's', "[[:space:]]", "[:space:]" }, { 'S', "[^[:space:]]", NULL },
		{ 'w', "[[:alnum:]_]", "[:alnum:]_" }, { 'W', "[^[:alnum:]_]", NULL },
	};
	size_t n = strlen(pat), o = 0, cap = n * 12 + 1;
	_cleanup_free_ char *out = malloc(cap);
	bool in_br = false;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		char one[3] = { pat[i], 0, 0 };

		if (pat[i] == '\\' && i + 1 < n) {
			i++;
			one[0] = '\\';
			one[1] = pat[i];
			for (size_t c = 0; c < ARRAY_SIZE(classes); c++)
				if (classes[c].c == pat[i])
					rep = in_br ? classes[c].in : classes[c].out;
			if (!rep && in_br) {
				one[0] = pat[i];
				one[1] = 0;
			}
		} else if (pat[i] == '[' && !in_br) {
			in_br = true;
		} else if (pat[i] == ']' && in_br && i > 0 && pat[i - 1] != '[' &&
			   !(i > 1 && pat[i - 1] == '^' && pat[i - 2] == '[')) {
			in_br = false;
		}
		if (!rep)
			rep = one;
		o += (size_t)snprintf(out + o, cap - o, "%s", rep);
	}
	return regcomp(re, out, REG_EXTENDED | REG_NOSUB) == 0 ? 0 : -EINVAL;
}

static void check_number(json_t *sch, json_t *v, const char *path, json_t *causes)
{
	json_t *min = json_object_get(sch, "minimum"), *max = json_object_get(sch, "maximum");
	double x = json_number_value(v);
	char q[64];

	quoted(v, q, sizeof(q));
	if (json_is_number(min)) {
		bool excl = sch_flag(sch, "exclusiveMinimum");
		double m = json_number_value(min);

		if (excl ? x <= m : x < m)
			api_cause(causes, "FieldValueInvalid", path,
				  "Invalid value: %s: %s in body should be greater than %s%g", q, path,
				  excl ? "" : "or equal to ", m);
	}
	if (json_is_number(max)) {
		bool excl = sch_flag(sch, "exclusiveMaximum");
		double m = json_number_value(max);

		if (excl ? x >= m : x > m)
			api_cause(causes, "FieldValueInvalid", path,
				  "Invalid value: %s: %s in body should be less than %s%g", q, path,
				  excl ? "" : "or equal to ", m);
	}
}

static void check_string(json_t *sch, json_t *v, const char *path, json_t *causes)
{
	const char *s = json_string_value(v), *pat = json_string_value(json_object_get(sch, "pattern"));
	json_t *minl = json_object_get(sch, "minLength"), *maxl = json_object_get(sch, "maxLength");
	size_t n = strlen(s);
	regex_t re;

	if (json_is_integer(minl) && (json_int_t)n < json_integer_value(minl))
		api_cause(causes, "FieldValueInvalid", path,
			  "Invalid value: \"%s\": %s in body should be at least %lld chars long", s,
			  path, (long long)json_integer_value(minl));
	if (json_is_integer(maxl) && (json_int_t)n > json_integer_value(maxl))
		api_cause(causes, "FieldValueTooLong", path,
			  "Too long: may not be longer than %lld", (long long)json_integer_value(maxl));
	if (pat && pattern_compile(pat, &re) == 0) {
		if (regexec(&re, s, 0, NULL, 0) != 0)
			api_cause(causes, "FieldValueInvalid", path,
				  "Invalid value: \"%s\": %s in body should match '%s'", s, path, pat);
		regfree(&re);
	}
}

static void check_enum(json_t *sch, json_t *v, const char *path, json_t *causes)
{
	json_t *en = json_object_get(sch, "enum"), *e;
	char q[256], list[512] = "";
	size_t i, off = 0;

	if (!json_is_array(en) || !json_array_size(en))
		return;
	json_array_foreach(en, i, e) {
		if (json_equal(e, v))
			return;
		quoted(e, q, sizeof(q));
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", q);
	}
	quoted(v, q, sizeof(q));
	api_cause(causes, "FieldValueNotSupported", path, "Unsupported value: %s: supported values: %s",
		  q, list);
}

static void validate(json_t *sch, json_t *v, const char *path, bool root, json_t *causes);

static void validate_object(json_t *sch, json_t *v, const char *path, bool root, json_t *causes)
{
	json_t *req = json_object_get(sch, "required"), *val, *ps;
	const char *k;
	char sub[512];
	size_t i;
	bool map;

	json_array_foreach(req, i, val) {
		k = json_string_value(val);
		if (k && !json_object_get(v, k)) {
			path_key(sub, sizeof(sub), path, k);
			api_cause(causes, "FieldValueRequired", sub, "Required value");
		}
	}
	json_object_foreach(v, k, val) {
		if (type_meta(sch, root, k))
			continue;
		ps = member_schema(sch, k, &map);
		member_path(sub, sizeof(sub), path, k, map);
		if (ps)
			validate(ps, val, sub, false, causes);
	}
}

static void validate(json_t *sch, json_t *v, const char *path, bool root, json_t *causes)
{
	json_t *items = json_object_get(sch, "items"), *el;
	json_t *mini = json_object_get(sch, "minItems"), *maxi = json_object_get(sch, "maxItems");
	char sub[512], q[256];
	size_t i;

	if (!type_ok(sch, v)) {
		const char *t = sch_flag(sch, "x-kubernetes-int-or-string")
					? "integer or string"
					: json_string_value(json_object_get(sch, "type"));

		snprintf(q, sizeof(q), "\"%s\"", type_of(v));
		api_cause(causes, "FieldValueTypeInvalid", path,
			  "Invalid value: %s: %s in body must be of type %s: %s", q, path, t, q);
		return;
	}
	check_enum(sch, v, path, causes);
	if (json_is_number(v))
		check_number(sch, v, path, causes);
	else if (json_is_string(v))
		check_string(sch, v, path, causes);
	else if (json_is_object(v))
		validate_object(sch, v, path, root, causes);
	else if (json_is_array(v)) {
		if (json_is_integer(mini) && (json_int_t)json_array_size(v) < json_integer_value(mini))
			api_cause(causes, "FieldValueInvalid", path,
				  "Invalid value: %zu: %s in body should have at least %lld items",
				  json_array_size(v), path, (long long)json_integer_value(mini));
		if (json_is_integer(maxi) && (json_int_t)json_array_size(v) > json_integer_value(maxi))
			api_cause(causes, "FieldValueTooMany", path,
				  "Too many: %zu: must have at most %lld items", json_array_size(v),
				  (long long)json_integer_value(maxi));
		if (json_is_object(items))
			json_array_foreach(v, i, el) {
				snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
				validate(items, el, sub, false, causes);
			}
	}
}

/* ---- the entries ---- */

void api_crd_admit(const struct api_resource *r, json_t *obj, json_t *causes)
{
	json_t *sch = api_crd_schema(r);

	if (!sch)
		return;
	prune(sch, obj, "", true, NULL);
	apply_defaults(sch, obj);
	validate(sch, obj, "", true, causes);
}

void api_crd_on_read(const struct api_resource *r, json_t *obj)
{
	json_t *sch = api_crd_schema(r);

	if (sch)
		apply_defaults(sch, obj);
}

size_t api_crd_unknown_fields(const struct api_resource *r, json_t *obj, char *buf, size_t len)
{
	json_t *sch = api_crd_schema(r), *copy, *pruned, *p;
	size_t i, off = 0, n;

	buf[0] = 0;
	if (!sch)
		return 0;
	copy = json_deep_copy(obj);
	pruned = json_array();
	prune(sch, copy, "", true, pruned);
	json_array_foreach(pruned, i, p) {
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%sunknown field \"%s\"",
						i ? API_SCHEMA_MSG_SEP : "", json_string_value(p));
	}
	n = json_array_size(pruned);
	json_decref(copy);
	json_decref(pruned);
	return n;
}

/* ---- JSON paths, columns, scale ---- */

json_t *api_crd_jsonpath(json_t *obj, const char *path)
{
	char seg[256];
	json_t *v = obj;
	const char *p = path;
	size_t n;

	if (*p == '{')
		p++;
	while (v && *p && *p != '}') {
		if (*p == '.') {
			p++;
			n = strcspn(p, ".[}");
			if (!n || n >= sizeof(seg))
				return NULL;
			memcpy(seg, p, n);
			seg[n] = 0;
			v = json_object_get(v, seg);
			p += n;
		} else if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);

			if (end == p + 1 || *end != ']' || !json_is_array(v))
				return NULL;
			if (i < 0)
				i += (long)json_array_size(v);
			v = json_array_get(v, (size_t)i);
			p = end + 1;
		} else {
			return NULL;
		}
	}
	return v;
}

void api_crd_row_cells(const struct api_resource *r, json_t *obj, time_t now, json_t *cells)
{
	json_t *cols = r->crd->columns, *c;
	size_t i;

	if (!json_array_size(cols)) {
		api_default_cells(obj, now, cells); /* NAME, AGE */
		return;
	}
	json_array_append_new(cells, json_string(api_jstr(obj, "metadata.name") ?: ""));
	json_array_foreach(cols, i, c) {
		const char *type = json_string_value(json_object_get(c, "type")) ?: "string";
		json_t *v = api_crd_jsonpath(obj, json_string_value(json_object_get(c, "jsonPath")) ?: "");
		char buf[64];

		if (!v || json_is_null(v)) {
			json_array_append_new(cells, json_null());
		} else if (streq(type, "date")) {
			time_t t = json_is_string(v) ? api_parse_time(json_string_value(v)) : 0;

			if (t > 0)
				api_human_age(t, now, buf, sizeof(buf));
			else
				snprintf(buf, sizeof(buf), "<invalid>");
			json_array_append_new(cells, json_string(buf));
		} else if (streq(type, "integer") && json_is_number(v)) {
			json_array_append_new(cells, json_integer((json_int_t)json_number_value(v)));
		} else if ((streq(type, "number") && json_is_number(v)) ||
			   (streq(type, "boolean") && json_is_boolean(v))) {
			json_array_append(cells, v);
		} else if (json_is_string(v)) {
			json_array_append_new(cells, json_string(json_string_value(v)));
		} else {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			json_array_append_new(cells, json_string(s ? s : ""));
			free(s);
		}
	}
}

json_t *api_crd_scale_of(const struct api_resource *r, json_t *obj)
{
	const struct api_crd_version *v = r->crd;
	json_t *m = api_obj_meta(obj);
	json_t *spec = v->spec_replicas ? api_crd_jsonpath(obj, v->spec_replicas) : NULL;
	json_t *st = v->status_replicas ? api_crd_jsonpath(obj, v->status_replicas) : NULL;
	json_t *sel = v->label_selector ? api_crd_jsonpath(obj, v->label_selector) : NULL;
	json_t *sc = json_pack("{s:s,s:s,s:{s:O*,s:O*,s:O*,s:O*,s:O*},s:{s:I},s:{s:I}}", "kind",
			       "Scale", "apiVersion", "autoscaling/v1", "metadata", "name",
			       json_object_get(m, "name"), "namespace", json_object_get(m, "namespace"),
			       "uid", json_object_get(m, "uid"), "resourceVersion",
			       json_object_get(m, "resourceVersion"), "creationTimestamp",
			       json_object_get(m, "creationTimestamp"), "spec", "replicas",
			       (json_int_t)json_integer_value(spec), "status", "replicas",
			       (json_int_t)json_integer_value(st));

	if (json_is_string(sel))
		json_object_set_new(json_object_get(sc, "status"), "selector",
				    json_string(json_string_value(sel)));
	return sc;
}

int api_crd_scale_set(const struct api_resource *r, json_t *obj, json_t *replicas)
{
	const char *p = r->crd->spec_replicas;
	char seg[256];
	json_t *v = obj;

	if (!p)
		return -EINVAL;
	for (;;) {
		size_t n;

		if (*p == '.')
			p++;
		n = strcspn(p, ".");
		if (!n || n >= sizeof(seg))
			return -EINVAL;
		memcpy(seg, p, n);
		seg[n] = 0;
		p += n;
		if (!*p)
			return json_object_set_new(v, seg, json_integer(json_integer_value(replicas)));
		if (!json_is_object(json_object_get(v, seg)))
			json_object_set_new(v, seg, json_object());
		v = json_object_get(v, seg);
	}
}
