/* Kubernetes label and field selectors: parse and match. */
#include "lib/kube_selector.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

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

/* A selector being parsed: where the text is, and what it has given. */
struct sel_parser {
	const char *p;
	bool fields; /* a field selector: no !key, key alone, in or notin */
	struct kube_selector *sel;
	char *err;
	size_t errlen;
};

/* A key (after "!" for a label's not-exists): *key, *klen. */
static int parse_key(struct sel_parser *ps, const char **key, size_t *klen, bool *neg)
{
	_cleanup_free_ char *k = NULL;

	*neg = false;
	if (!ps->fields && *ps->p == '!') {
		*neg = true;
		ps->p = skip_ws(ps->p + 1);
	}
	*key = ps->p;
	while (key_char(*ps->p))
		ps->p++;
	*klen = (size_t)(ps->p - *key);
	if (*klen == 0)
		return set_err(ps->err, ps->errlen, -EINVAL, "expected a key at \"%s\"", *key);
	k = strndup(*key, *klen);
	if (!ps->fields && (!k || !kube_label_key_valid(k)))
		return set_err(ps->err, ps->errlen, -EINVAL, "invalid label key \"%s\"",
			       k ? k : "");
	ps->p = skip_ws(ps->p);
	return 0;
}

/* "!key" or "key" alone: the key must (not) exist. */
static int parse_existence(struct sel_parser *ps, const char *key, size_t klen, bool neg)
{
	if (neg && *ps->p && *ps->p != ',')
		return set_err(ps->err, ps->errlen, -EINVAL, "unexpected \"%s\" after !%.*s", ps->p,
			       (int)klen, key);
	if (!neg && ps->fields)
		return set_err(ps->err, ps->errlen, -EINVAL,
			       "field selector \"%.*s\" needs an operator", (int)klen, key);
	return sel_add(ps->sel, key, klen, neg ? KUBE_SEL_NOTEXISTS : KUBE_SEL_EXISTS) ? 0
											 : -ENOMEM;
}

/* "key=v", "key==v" or "key!=v". */
static int parse_equality(struct sel_parser *ps, const char *key, size_t klen)
{
	enum kube_sel_op op = *ps->p == '!' ? KUBE_SEL_NE : KUBE_SEL_EQ;
	struct kube_sel_req *req;
	const char *v;

	ps->p += (*ps->p == '!' || ps->p[1] == '=') ? 2 : 1;
	ps->p = skip_ws(ps->p);
	v = ps->p;
	while (*ps->p && *ps->p != ',' && *ps->p != ' ' && *ps->p != '\t')
		ps->p++;
	req = sel_add(ps->sel, key, klen, op);
	if (!req || req_add_value(req, v, (size_t)(ps->p - v)) < 0)
		return -ENOMEM;
	if (!ps->fields && !kube_label_value_valid(req->values[0]))
		return set_err(ps->err, ps->errlen, -EINVAL, "invalid label value \"%s\"",
			       req->values[0]);
	return 0;
}

/* The values of "(a, b)" into req. */
static int parse_set_values(struct sel_parser *ps, struct kube_sel_req *req, const char *key,
			    size_t klen)
{
	const char *v;

	for (;;) {
		ps->p = skip_ws(ps->p);
		v = ps->p;
		while (*ps->p && *ps->p != ',' && *ps->p != ')' && *ps->p != ' ')
			ps->p++;
		if (req_add_value(req, v, (size_t)(ps->p - v)) < 0)
			return -ENOMEM;
		if (!kube_label_value_valid(req->values[req->n_values - 1]))
			return set_err(ps->err, ps->errlen, -EINVAL, "invalid label value \"%s\"",
				       req->values[req->n_values - 1]);
		ps->p = skip_ws(ps->p);
		if (*ps->p != ',' && *ps->p != ')')
			return set_err(ps->err, ps->errlen, -EINVAL,
				       "unterminated set for key %.*s", (int)klen, key);
		if (*ps->p++ == ')')
			return 0;
	}
}

/* "key in (a, b)" or "key notin (a, b)". */
static int parse_set(struct sel_parser *ps, const char *key, size_t klen)
{
	enum kube_sel_op op = ps->p[0] == 'i' ? KUBE_SEL_IN : KUBE_SEL_NOTIN;
	struct kube_sel_req *req;

	ps->p = skip_ws(ps->p + (op == KUBE_SEL_IN ? 2 : 5));
	if (*ps->p != '(')
		return set_err(ps->err, ps->errlen, -EINVAL, "expected ( after %s",
			       op == KUBE_SEL_IN ? "in" : "notin");
	req = sel_add(ps->sel, key, klen, op);
	if (!req)
		return -ENOMEM;
	ps->p++;
	return parse_set_values(ps, req, key, klen);
}

/* The comma after a requirement, or the end. */
static int parse_separator(struct sel_parser *ps)
{
	ps->p = skip_ws(ps->p);
	if (*ps->p == ',') {
		ps->p = skip_ws(ps->p + 1);
		if (!*ps->p)
			return set_err(ps->err, ps->errlen, -EINVAL, "trailing comma");
	} else if (*ps->p) {
		return set_err(ps->err, ps->errlen, -EINVAL, "unexpected \"%s\"", ps->p);
	}
	return 0;
}

/* One requirement: a key, then what it must be. */
static int parse_requirement(struct sel_parser *ps)
{
	const char *key, *p;
	size_t klen;
	bool neg;
	int r;

	r = parse_key(ps, &key, &klen, &neg);
	if (r < 0)
		return r;
	p = ps->p;
	if (neg || !*p || *p == ',')
		r = parse_existence(ps, key, klen, neg);
	else if (*p == '=' || (*p == '!' && p[1] == '='))
		r = parse_equality(ps, key, klen);
	else if (!ps->fields && (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0))
		r = parse_set(ps, key, klen);
	else
		r = set_err(ps->err, ps->errlen, -EINVAL, "unexpected \"%s\" after key %.*s", p,
			    (int)klen, key);
	return r < 0 ? r : parse_separator(ps);
}

static int parse(const char *s, bool fields, struct kube_selector **out, char *err, size_t errlen)
{
	struct sel_parser ps = { .p = skip_ws(s ? s : ""), .fields = fields, .err = err,
				 .errlen = errlen };
	int r = 0;

	ps.sel = calloc(1, sizeof(*ps.sel));
	if (!ps.sel)
		return -ENOMEM;
	while (*ps.p && r == 0)
		r = parse_requirement(&ps);
	if (r < 0) {
		kube_selector_free(ps.sel);
		return r;
	}
	*out = ps.sel;
	return 0;
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
