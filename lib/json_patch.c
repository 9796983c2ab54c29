/* JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes
 * strategic merge patch on jansson values. */
#include "lib/json_patch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* ---- RFC 7386 ---- */

static json_t *merge_rec(json_t *target, json_t *patch)
{
	json_t *res, *v;
	const char *k;

	if (!json_is_object(patch))
		return json_deep_copy(patch);
	res = json_is_object(target) ? json_deep_copy(target) : json_object();
	if (!res)
		return NULL;
	json_object_foreach(patch, k, v) {
		if (json_is_null(v)) {
			json_object_del(res, k);
		} else {
			json_t *m = merge_rec(json_object_get(res, k), v);

			if (!m || json_object_set_new(res, k, m) < 0) {
				json_decref(res);
				return NULL;
			}
		}
	}
	return res;
}

int json_merge_patch(json_t *target, json_t *patch, json_t **out)
{
	json_t *r;

	if (!patch)
		return -EINVAL;
	r = merge_rec(target, patch);
	if (!r)
		return -ENOMEM;
	*out = r;
	return 0;
}

/* ---- RFC 6902 ---- */

/* Decodes one reference token (~1 -> /, ~0 -> ~) of len bytes. */
static char *ptr_token(const char *s, size_t len)
{
	char *t = malloc(len + 1), *o = t;

	if (!t)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '~' && i + 1 < len && (s[i + 1] == '0' || s[i + 1] == '1')) {
			*o++ = s[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return t;
}

static int parse_index(const char *tok, size_t max, bool allow_end, size_t *out)
{
	char *end;
	unsigned long v;

	if (allow_end && strcmp(tok, "-") == 0) {
		*out = max;
		return 0;
	}
	if (!*tok || (tok[0] == '0' && tok[1]) || tok[0] < '0' || tok[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(tok, &end, 10);
	if (*end || errno)
		return -EINVAL;
	if (v > max || (!allow_end && v == max))
		return -ENOENT;
	*out = v;
	return 0;
}

/* Resolves path to its parent container and last token. */
static int ptr_parent(json_t *doc, const char *path, json_t **parent, char **last)
{
	json_t *cur = doc;
	const char *p = path;

	if (*p != '/')
		return -EINVAL;
	for (;;) {
		const char *next = strchr(p + 1, '/');
		size_t len = next ? (size_t)(next - p - 1) : strlen(p + 1);
		_cleanup_free_ char *tok = ptr_token(p + 1, len);

		if (!tok)
			return -ENOMEM;
		if (!next) {
			*parent = cur;
			*last = TAKE_PTR(tok);
			return 0;
		}
		if (json_is_object(cur)) {
			cur = json_object_get(cur, tok);
		} else if (json_is_array(cur)) {
			size_t i;

			if (parse_index(tok, json_array_size(cur), false, &i) < 0)
				return -ENOENT;
			cur = json_array_get(cur, i);
		} else {
			return -ENOENT;
		}
		if (!cur)
			return -ENOENT;
		p = next;
	}
}

static json_t *ptr_get(json_t *doc, const char *path)
{
	json_t *parent;
	_cleanup_free_ char *last = NULL;
	size_t i;

	if (!*path)
		return doc;
	if (ptr_parent(doc, path, &parent, &last) < 0)
		return NULL;
	if (json_is_object(parent))
		return json_object_get(parent, last);
	if (json_is_array(parent) && parse_index(last, json_array_size(parent), false, &i) == 0)
		return json_array_get(parent, i);
	return NULL;
}

/* Takes a reference to val. On "" replaces *doc. */
static int ptr_add(json_t **doc, const char *path, json_t *val)
{
	json_t *parent;
	_cleanup_free_ char *last = NULL;
	size_t i;
	int r;

	if (!*path) {
		json_decref(*doc);
		*doc = val;
		return 0;
	}
	r = ptr_parent(*doc, path, &parent, &last);
	if (r < 0)
		goto fail;
	if (json_is_object(parent)) {
		if (json_object_set_new(parent, last, val) < 0)
			return -ENOMEM;
		return 0;
	}
	if (json_is_array(parent)) {
		r = parse_index(last, json_array_size(parent), true, &i);
		if (r < 0)
			goto fail;
		if (json_array_insert_new(parent, i, val) < 0)
			return -ENOMEM;
		return 0;
	}
	r = -ENOENT;
fail:
	json_decref(val);
	return r;
}

/* Detaches the value at path into *taken (a new reference) if taken. */
static int ptr_remove(json_t *doc, const char *path, json_t **taken)
{
	json_t *parent, *v;
	_cleanup_free_ char *last = NULL;
	size_t i;
	int r;

	if (!*path)
		return -EINVAL;
	r = ptr_parent(doc, path, &parent, &last);
	if (r < 0)
		return r;
	if (json_is_object(parent)) {
		v = json_object_get(parent, last);
		if (!v)
			return -ENOENT;
		if (taken)
			*taken = json_incref(v);
		json_object_del(parent, last);
		return 0;
	}
	if (json_is_array(parent)) {
		r = parse_index(last, json_array_size(parent), false, &i);
		if (r < 0)
			return r;
		if (taken)
			*taken = json_incref(json_array_get(parent, i));
		json_array_remove(parent, i);
		return 0;
	}
	return -ENOENT;
}

static int patch_op(json_t **doc, json_t *op, size_t idx, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(op, "op"));
	const char *path = json_string_value(json_object_get(op, "path"));
	const char *from = json_string_value(json_object_get(op, "from"));
	json_t *value = json_object_get(op, "value"), *v;
	int r;

	if (!name || !path)
		return set_err(err, errlen, -EINVAL,
			       "operation %zu: missing %s", idx, name ? "path" : "op");
	if (*path && *path != '/')
		return set_err(err, errlen, -EINVAL,
			       "operation %zu: path %s must start with /", idx, path);
	if (streq(name, "add") || streq(name, "replace") || streq(name, "test")) {
		if (!value)
			return set_err(err, errlen, -EINVAL,
				       "operation %zu (%s): missing value", idx, name);
	}
	if (streq(name, "add")) {
		r = ptr_add(doc, path, json_deep_copy(value));
	} else if (streq(name, "remove")) {
		r = ptr_remove(*doc, path, NULL);
	} else if (streq(name, "replace")) {
		if (!ptr_get(*doc, path))
			r = -ENOENT;
		else if (!*path)
			r = ptr_add(doc, path, json_deep_copy(value));
		else if ((r = ptr_remove(*doc, path, NULL)) == 0)
			r = ptr_add(doc, path, json_deep_copy(value));
	} else if (streq(name, "move") || streq(name, "copy")) {
		if (!from)
			return set_err(err, errlen, -EINVAL,
				       "operation %zu (%s): missing from", idx, name);
		if (streq(name, "move")) {
			size_t fl = strlen(from);

			if (strncmp(path, from, fl) == 0 && path[fl] == '/')
				return set_err(err, errlen, -EINVAL,
					       "operation %zu: cannot move %s into itself", idx, from);
			r = ptr_remove(*doc, from, &v);
		} else {
			v = ptr_get(*doc, from);
			r = v ? 0 : -ENOENT;
			if (v)
				v = json_deep_copy(v);
		}
		if (r == 0)
			r = ptr_add(doc, path, v);
	} else if (streq(name, "test")) {
		v = ptr_get(*doc, path);
		if (v && !json_equal(v, value))
			return set_err(err, errlen, -EILSEQ,
				       "operation %zu: test failed at %s", idx, path);
		r = v ? 0 : -ENOENT;
	} else {
		return set_err(err, errlen, -EINVAL, "operation %zu: unknown op \"%s\"", idx, name);
	}
	if (r == -ENOENT)
		return set_err(err, errlen, r, "operation %zu (%s): path %s does not exist", idx, name,
			       from && (streq(name, "move") || streq(name, "copy")) ? from : path);
	if (r < 0)
		return set_err(err, errlen, r,
			       "operation %zu (%s): invalid path %s", idx, name, path);
	return r;
}

int json_patch_apply(json_t *target, json_t *patch, char *err, size_t errlen,
		     json_t **out)
{
	json_t *doc, *op;
	size_t i;
	int r;

	if (!json_is_array(patch))
		return set_err(err, errlen, -EINVAL, "a JSON patch must be an array of operations");
	doc = json_deep_copy(target);
	if (!doc)
		return -ENOMEM;
	json_array_foreach(patch, i, op) {
		if (!json_is_object(op)) {
			json_decref(doc);
			return set_err(err, errlen, -EINVAL, "operation %zu is not an object", i);
		}
		r = patch_op(&doc, op, i, err, errlen);
		if (r < 0) {
			json_decref(doc);
			return r;
		}
	}
	*out = doc;
	return 0;
}

/* ---- strategic merge patch ---- */

static const struct {
	const char *field;
	const char *key;
} smp_keys[] = {
	{ "containers", "name" },
	{ "initContainers", "name" },
	{ "ephemeralContainers", "name" },
	{ "volumes", "name" },
	{ "env", "name" },
	{ "imagePullSecrets", "name" },
	{ "volumeMounts", "mountPath" },
	{ "volumeDevices", "devicePath" },
	{ "hostAliases", "ip" },
	{ "conditions", "type" },
	{ "ownerReferences", "uid" },
	{ "topologySpreadConstraints", "topologyKey" },
	{ "containerStatuses", "name" },
	{ "initContainerStatuses", "name" },
};

const char *json_smp_merge_key(const char *field, json_t *sample)
{
	if (streq(field, "ports")) {
		/* Container ports merge on containerPort, Service ports on port. */
		if (json_is_object(sample) && !json_object_get(sample, "containerPort") &&
		    json_object_get(sample, "port"))
			return "port";
		return "containerPort";
	}
	for (size_t i = 0; i < ARRAY_SIZE(smp_keys); i++)
		if (streq(field, smp_keys[i].field))
			return smp_keys[i].key;
	return NULL;
}

#define SMP_DELETE ((json_t *)-1)

static json_t *smp_rec(json_t *target, json_t *patch, int depth, char *err, size_t errlen,
		       int *rc);

static bool is_directive(const char *k)
{
	return k[0] == '$';
}

static ssize_t find_by_key(json_t *list, const char *key, json_t *val)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e) {
		if (json_is_object(e) && json_equal(json_object_get(e, key), val))
			return (ssize_t)i;
	}
	return -1;
}

/* A list replaced as a whole by the patch's elements, directives stripped. */
static json_t *smp_list_replace(json_t *patch, int depth, char *err, size_t errlen, int *rc)
{
	json_t *res = json_array(), *e;
	size_t i;

	json_array_foreach(patch, i, e) {
		json_t *c;

		if (json_is_object(e) && json_object_get(e, "$patch"))
			continue;
		c = smp_rec(NULL, e, depth + 1, err, errlen, rc);
		if (!c) {
			json_decref(res);
			return NULL;
		}
		if (c != SMP_DELETE)
			json_array_append_new(res, c);
	}
	return res;
}

static json_t *smp_list(json_t *target, json_t *patch, const char *field, int depth,
			char *err, size_t errlen, int *rc)
{
	const char *key = NULL;
	json_t *res, *e;
	size_t i;

	json_array_foreach(patch, i, e) {
		const char *d = json_string_value(json_object_get(e, "$patch"));

		if (json_is_object(e) && streq(d, "replace")) {
			/* The list is replaced by the other elements. */
			return smp_list_replace(patch, depth, err, errlen, rc);
		}
	}
	if (json_array_size(patch) > 0)
		key = json_smp_merge_key(field, json_array_get(patch, 0));
	if (!key && json_array_size(target) > 0)
		key = json_smp_merge_key(field, json_array_get(target, 0));
	if (!key || !json_is_array(target)) {
		/* Replaced as a whole (directives stripped). */
		return smp_list_replace(patch, depth, err, errlen, rc);
	}
	res = json_deep_copy(target);
	json_array_foreach(patch, i, e) {
		json_t *kv, *m;
		ssize_t at;

		if (!json_is_object(e) || !(kv = json_object_get(e, key))) {
			*rc = set_err(err, errlen, -EINVAL, "%s[%zu]: element has no merge key \"%s\"",
				      field, i, key);
			json_decref(res);
			return NULL;
		}
		at = find_by_key(res, key, kv);
		if (streq(json_string_value(json_object_get(e, "$patch")), "delete")) {
			while (at >= 0) {
				json_array_remove(res, (size_t)at);
				at = find_by_key(res, key, kv);
			}
			continue;
		}
		m = smp_rec(at >= 0 ? json_array_get(res, (size_t)at) : NULL, e, depth + 1, err,
			    errlen, rc);
		if (!m) {
			json_decref(res);
			return NULL;
		}
		if (m == SMP_DELETE) {
			if (at >= 0)
				json_array_remove(res, (size_t)at);
		} else if (at >= 0) {
			json_array_set_new(res, (size_t)at, m);
		} else {
			json_array_append_new(res, m);
		}
	}
	return res;
}

/* $setElementOrder/<field>: listed elements first, in that order. */
static void smp_order(json_t *obj, const char *field, json_t *order)
{
	json_t *list = json_object_get(obj, field), *res, *e;
	const char *key;
	size_t i;

	if (!json_is_array(list) || !json_is_array(order) || json_array_size(order) == 0)
		return;
	key = json_smp_merge_key(field, json_array_get(order, 0));
	res = json_array();
	json_array_foreach(order, i, e) {
		ssize_t at;

		if (key && json_is_object(e))
			at = find_by_key(list, key, json_object_get(e, key));
		else {
			at = -1;
			for (size_t j = 0; j < json_array_size(list); j++)
				if (json_equal(json_array_get(list, j), e)) {
					at = (ssize_t)j;
					break;
				}
		}
		if (at >= 0) {
			json_array_append(res, json_array_get(list, (size_t)at));
			json_array_remove(list, (size_t)at);
		}
	}
	json_array_extend(res, list);
	json_object_set_new(obj, field, res);
}

static json_t *smp_rec(json_t *target, json_t *patch, int depth, char *err, size_t errlen,
		       int *rc)
{
	const char *k, *directive;
	json_t *res, *v, *retain;

	if (depth > 64) {
		*rc = set_err(err, errlen, -EINVAL, "patch nested too deeply");
		return NULL;
	}
	if (!json_is_object(patch))
		return json_deep_copy(patch);
	directive = json_string_value(json_object_get(patch, "$patch"));
	if (streq(directive, "delete"))
		return SMP_DELETE;
	if (streq(directive, "replace"))
		target = NULL;
	else if (directive && !streq(directive, "merge")) {
		*rc = set_err(err, errlen, -EINVAL, "unknown $patch directive \"%s\"", directive);
		return NULL;
	}
	res = json_is_object(target) ? json_deep_copy(target) : json_object();
	json_object_foreach(patch, k, v) {
		json_t *m;

		if (is_directive(k)) {
			if (strncmp(k, "$deleteFromPrimitiveList/", 25) == 0) {
				json_t *l = json_object_get(res, k + 25), *x;
				size_t i;

				if (!json_is_array(l) || !json_is_array(v))
					continue;
				json_array_foreach(v, i, x) {
					for (size_t j = json_array_size(l); j-- > 0;)
						if (json_equal(json_array_get(l, j), x))
							json_array_remove(l, j);
				}
			}
			continue;
		}
		if (json_is_null(v)) {
			json_object_del(res, k);
			continue;
		}
		if (json_is_array(v))
			m = smp_list(json_object_get(res, k), v, k, depth, err, errlen, rc);
		else
			m = smp_rec(json_object_get(res, k), v, depth + 1, err, errlen, rc);
		if (!m) {
			json_decref(res);
			return NULL;
		}
		if (m == SMP_DELETE)
			json_object_del(res, k);
		else
			json_object_set_new(res, k, m);
	}
	json_object_foreach(patch, k, v) {
		if (strncmp(k, "$setElementOrder/", 17) == 0)
			smp_order(res, k + 17, v);
	}
	retain = json_object_get(patch, "$retainKeys");
	if (json_is_array(retain)) {
		void *tmp;

		json_object_foreach_safe(res, tmp, k, v) {
			bool keep = false;
			json_t *x;
			size_t i;

			json_array_foreach(retain, i, x)
				if (streq(json_string_value(x), k))
					keep = true;
			if (!keep)
				json_object_del(res, k);
		}
	}
	return res;
}

int json_strategic_merge(json_t *target, json_t *patch, char *err, size_t errlen,
			 json_t **out)
{
	json_t *r;
	int rc = -ENOMEM;

	if (!json_is_object(patch))
		return set_err(err, errlen, -EINVAL,
			       "a strategic merge patch must be a JSON object");
	r = smp_rec(target, patch, 0, err, errlen, &rc);
	if (!r)
		return rc;
	if (r == SMP_DELETE)
		return set_err(err, errlen, -EINVAL, "$patch: delete at the top level");
	*out = r;
	return 0;
}
