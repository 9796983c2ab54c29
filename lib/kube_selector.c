/* Kubernetes label and field selectors: parse and match. */
#include "kube_selector.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool name_part_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

bool kube_label_value_valid(const char *v)
{
	return !*v || name_part_valid(v, strlen(v), 63);
}

bool kube_label_key_valid(const char *k)
{
	const char *slash = strchr(k, '/');

	if (slash) {
		size_t plen = (size_t)(slash - k);

		if (plen == 0 || plen > 253)
			return false;
		for (size_t i = 0; i < plen; i++)
			if (!islower((unsigned char)k[i]) && !isdigit((unsigned char)k[i]) &&
			    k[i] != '-' && k[i] != '.')
				return false;
		k = slash + 1;
	}
	return name_part_valid(k, strlen(k), 63);
}

void kube_selector_free(struct kube_selector *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->n; i++) {
		free(sel->reqs[i].key);
		for (size_t j = 0; j < sel->reqs[i].n_values; j++)
			free(sel->reqs[i].values[j]);
		free(sel->reqs[i].values);
	}
	free(sel->reqs);
	free(sel);
}

static struct kube_sel_req *sel_add(struct kube_selector *sel, const char *key, size_t klen,
				    enum kube_sel_op op)
{
	struct kube_sel_req *r = realloc(sel->reqs, (sel->n + 1) * sizeof(*r));

	if (!r)
		return NULL;
	sel->reqs = r;
	r = &sel->reqs[sel->n];
	memset(r, 0, sizeof(*r));
	r->key = strndup(key, klen);
	if (!r->key)
		return NULL;
	r->op = op;
	sel->n++;
	return r;
}

static int req_add_value(struct kube_sel_req *r, const char *v, size_t len)
{
	char **vals = realloc(r->values, (r->n_values + 1) * sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	r->values = vals;
	vals[r->n_values] = strndup(v, len);
	if (!vals[r->n_values])
		return -ENOMEM;
	r->n_values++;
	return 0;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static bool key_char(char c)
{
	return c && c != ' ' && c != '\t' && c != '=' && c != '!' && c != ',' && c != '(' &&
	       c != ')';
}

static int parse(const char *s, bool fields, struct kube_selector **out, char *err, size_t errlen)
{
	struct kube_selector *sel = calloc(1, sizeof(*sel));
	const char *p = s ? s : "";
	int r = -EINVAL;

	if (!sel)
		return -ENOMEM;
	p = skip_ws(p);
	while (*p) {
		const char *key;
		size_t klen;
		bool neg = false;
		struct kube_sel_req *req;

		if (!fields && *p == '!') {
			neg = true;
			p = skip_ws(p + 1);
		}
		key = p;
		while (key_char(*p))
			p++;
		klen = (size_t)(p - key);
		if (klen == 0) {
			set_err(err, errlen, -EINVAL, "expected a key at \"%s\"", key);
			goto fail;
		}
		{
			_cleanup_free_ char *k = strndup(key, klen);

			if (!fields && (!k || !kube_label_key_valid(k))) {
				set_err(err, errlen, -EINVAL,
					"invalid label key \"%s\"", k ? k : "");
				goto fail;
			}
		}
		p = skip_ws(p);
		if (neg) {
			if (*p && *p != ',') {
				set_err(err, errlen, -EINVAL,
					"unexpected \"%s\" after !%.*s", p, (int)klen, key);
				goto fail;
			}
			if (!sel_add(sel, key, klen, KUBE_SEL_NOTEXISTS))
				goto nomem;
		} else if (!*p || *p == ',') {
			if (fields) {
				set_err(err, errlen, -EINVAL,
					"field selector \"%.*s\" needs an operator", (int)klen, key);
				goto fail;
			}
			if (!sel_add(sel, key, klen, KUBE_SEL_EXISTS))
				goto nomem;
		} else if (*p == '=' || (*p == '!' && p[1] == '=')) {
			enum kube_sel_op op = *p == '!' ? KUBE_SEL_NE : KUBE_SEL_EQ;
			const char *v;

			p += (*p == '!' || p[1] == '=') ? 2 : 1;
			p = skip_ws(p);
			v = p;
			while (*p && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			req = sel_add(sel, key, klen, op);
			if (!req || req_add_value(req, v, (size_t)(p - v)) < 0)
				goto nomem;
			if (!fields && !kube_label_value_valid(req->values[0])) {
				set_err(err, errlen, -EINVAL,
					"invalid label value \"%s\"", req->values[0]);
				goto fail;
			}
		} else if (!fields && (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0)) {
			enum kube_sel_op op = p[0] == 'i' ? KUBE_SEL_IN : KUBE_SEL_NOTIN;

			p = skip_ws(p + (op == KUBE_SEL_IN ? 2 : 5));
			if (*p != '(') {
				set_err(err, errlen, -EINVAL,
					"expected ( after %s", op == KUBE_SEL_IN ? "in" : "notin");
				goto fail;
			}
			req = sel_add(sel, key, klen, op);
			if (!req)
				goto nomem;
			p++;
			for (;;) {
				const char *v;

				p = skip_ws(p);
				v = p;
				while (*p && *p != ',' && *p != ')' && *p != ' ')
					p++;
				if (req_add_value(req, v, (size_t)(p - v)) < 0)
					goto nomem;
				if (!kube_label_value_valid(req->values[req->n_values - 1])) {
					set_err(err, errlen, -EINVAL, "invalid label value \"%s\"",
						req->values[req->n_values - 1]);
					goto fail;
				}
				p = skip_ws(p);
				if (*p == ',') {
					p++;
					continue;
				}
				if (*p == ')') {
					p++;
					break;
				}
				set_err(err, errlen, -EINVAL,
					"unterminated set for key %.*s", (int)klen, key);
				goto fail;
			}
		} else {
			set_err(err, errlen, -EINVAL,
				"unexpected \"%s\" after key %.*s", p, (int)klen, key);
			goto fail;
		}
		p = skip_ws(p);
		if (*p == ',') {
			p = skip_ws(p + 1);
			if (!*p) {
				set_err(err, errlen, -EINVAL, "trailing comma");
				goto fail;
			}
		} else if (*p) {
			set_err(err, errlen, -EINVAL, "unexpected \"%s\"", p);
			goto fail;
		}
	}
	*out = sel;
	return 0;
nomem:
	r = -ENOMEM;
fail:
	kube_selector_free(sel);
	return r;
}

int kube_label_selector_parse(const char *s, struct kube_selector **out, char *err,
			      size_t errlen)
{
	return parse(s, false, out, err, errlen);
}

int kube_field_selector_parse(const char *s, struct kube_selector **out, char *err,
			      size_t errlen)
{
	return parse(s, true, out, err, errlen);
}

static bool req_match(const struct kube_sel_req *r, const char *have)
{
	bool in = false;

	for (size_t j = 0; have && j < r->n_values; j++)
		if (strcmp(have, r->values[j]) == 0)
			in = true;
	switch (r->op) {
	case KUBE_SEL_EQ:
	case KUBE_SEL_IN:
		return in;
	case KUBE_SEL_NE:
	case KUBE_SEL_NOTIN:
		return !in;
	case KUBE_SEL_EXISTS:
		return have != NULL;
	case KUBE_SEL_NOTEXISTS:
		return have == NULL;
	}
	return false;
}

bool kube_selector_match_labels(const struct kube_selector *sel, json_t *labels)
{
	for (size_t i = 0; sel && i < sel->n; i++) {
		json_t *v = json_is_object(labels) ? json_object_get(labels, sel->reqs[i].key) : NULL;

		if (!req_match(&sel->reqs[i], json_string_value(v)))
			return false;
	}
	return true;
}

/* The text of the value at a dotted path; "" when absent (as Kubernetes
 * field selectors treat missing fields). */
static void field_text(json_t *obj, const char *path, char *buf, size_t len)
{
	char seg[256];
	json_t *cur = obj;

	buf[0] = 0;
	while (*path && cur) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(seg))
			return;
		memcpy(seg, path, n);
		seg[n] = 0;
		cur = json_object_get(cur, seg);
		path += n + (dot ? 1 : 0);
	}
	if (json_is_string(cur))
		snprintf(buf, len, "%s", json_string_value(cur));
	else if (json_is_integer(cur))
		snprintf(buf, len, "%lld", (long long)json_integer_value(cur));
	else if (json_is_boolean(cur))
		snprintf(buf, len, "%s", json_is_true(cur) ? "true" : "false");
}

bool kube_selector_match_fields(const struct kube_selector *sel, json_t *obj)
{
	for (size_t i = 0; sel && i < sel->n; i++) {
		char buf[1024];

		field_text(obj, sel->reqs[i].key, buf, sizeof(buf));
		if (!req_match(&sel->reqs[i], buf))
			return false;
	}
	return true;
}

int kube_selector_from_json(json_t *ls, struct kube_selector **out)
{
	struct kube_selector *sel = calloc(1, sizeof(*sel));
	json_t *ml = json_object_get(ls, "matchLabels"), *v, *e;
	const char *k;
	size_t i;

	if (!sel)
		return -ENOMEM;
	json_object_foreach(ml, k, v) {
		struct kube_sel_req *r = sel_add(sel, k, strlen(k), KUBE_SEL_EQ);

		if (!r || !json_is_string(v) ||
		    req_add_value(r, json_string_value(v), json_string_length(v)) < 0)
			goto fail;
	}
	json_array_foreach(json_object_get(ls, "matchExpressions"), i, e) {
		const char *key = json_string_value(json_object_get(e, "key"));
		const char *op = json_string_value(json_object_get(e, "operator"));
		enum kube_sel_op o;
		struct kube_sel_req *r;
		json_t *x;
		size_t j;

		if (!key || !op)
			goto fail;
		if (streq(op, "In"))
			o = KUBE_SEL_IN;
		else if (streq(op, "NotIn"))
			o = KUBE_SEL_NOTIN;
		else if (streq(op, "Exists"))
			o = KUBE_SEL_EXISTS;
		else if (streq(op, "DoesNotExist"))
			o = KUBE_SEL_NOTEXISTS;
		else
			goto fail;
		r = sel_add(sel, key, strlen(key), o);
		if (!r)
			goto fail;
		json_array_foreach(json_object_get(e, "values"), j, x) {
			if (!json_is_string(x) ||
			    req_add_value(r, json_string_value(x), json_string_length(x)) < 0)
				goto fail;
		}
	}
	*out = sel;
	return 0;
fail:
	kube_selector_free(sel);
	return -EINVAL;
}
