/* The body of a list as JSON (GET on a collection without a Table
 * Accept header; rest_list in api_rest.c reads the store), written
 * straight into one growing buffer instead of a jansson tree of every
 * object: a stored value is the compact JSON the server itself
 * wrote (apiVersion and kind set, resourceVersion left out), so it is
 * served as it is with only "resourceVersion" added at the end of its
 * metadata, which is what parsing it and dumping it again would give.
 * A value that is not in that form (\u escapes, reals, non-ASCII bytes,
 * another apiVersion or kind, no metadata) goes the slow way, parsed and
 * dumped; either way the item is the same JSON (fuzz_api_list checks).
 *
 * Why a scanner beside jansson: GET /api/v1/pods of 10,000 stored pods
 * of ~2 KiB (tests/bench/list_compare.sh, SQLite, plain HTTP, median of
 * 3 rounds of 5 lists, both builds alternating in one run) took 117 ms
 * (102 ms server CPU per list) with the scanner and 1,146 ms (908 ms
 * CPU) parsing and dumping every value with jansson: 9.8 times slower,
 * and over the 500 ms goal for the list. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/util.h"

/* Freeing this much gives memory back to the system (malloc_trim). */
#define LIST_TRIM_BYTES (4u << 20)

struct lbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void lbuf_add(struct lbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void lbuf_str(struct lbuf *b, const char *s)
{
	lbuf_add(b, s, strlen(s));
}

/* ---- a scanner for the canonical (jansson compact) form ---- */

struct scan {
	const char *p, *end;
};

static bool scan_string(struct scan *s)
{
	if (s->p >= s->end || *s->p != '"')
		return false;
	for (s->p++; s->p < s->end; s->p++) {
		unsigned char c = (unsigned char)*s->p;

		if (c == '"') {
			s->p++;
			return true;
		}
		/* Control bytes are invalid; non-ASCII is left to jansson,
		 * which checks the UTF-8. */
		if (c < 0x20 || c >= 0x80)
			return false;
		if (c == '\\') {
			/* The short escapes are what jansson writes; \u and
			 * \/ may be spelled differently: the slow way. */
			if (++s->p >= s->end || !strchr("\"\\bfnrt", *s->p))
				return false;
		}
	}
	return false;
}

static bool scan_literal(struct scan *s, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool scan_value(struct scan *s, int depth);

static bool scan_object_members(struct scan *s, int depth, bool (*member)(void *, const char *,
									  size_t, struct scan *),
				void *cls)
{
	if (s->p >= s->end || *s->p != '{')
		return false;
	s->p++;
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		const char *k = s->p;

		if (!scan_string(s) || s->p >= s->end || *s->p != ':')
			return false;
		s->p++;
		if (member) {
			if (!member(cls, k + 1, (size_t)(s->p - k - 3), s))
				return false;
		} else if (!scan_value(s, depth + 1)) {
			return false;
		}
		if (s->p >= s->end)
			return false;
		if (*s->p == '}') {
			s->p++;
			return true;
		}
		if (*s->p++ != ',')
			return false;
	}
}

static bool scan_value(struct scan *s, int depth)
{
	if (depth > 64 || s->p >= s->end)
		return false;
	switch (*s->p) {
	case '"':
		return scan_string(s);
	case '{':
		return scan_object_members(s, depth, NULL, NULL);
	case '[':
		s->p++;
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return true;
		}
		for (;;) {
			if (!scan_value(s, depth + 1) || s->p >= s->end)
				return false;
			if (*s->p == ']') {
				s->p++;
				return true;
			}
			if (*s->p++ != ',')
				return false;
		}
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	default:
		/* Integers only: a real may be dumped differently. */
		if (*s->p == '-')
			s->p++;
		if (s->p >= s->end || *s->p < '0' || *s->p > '9' ||
		    (*s->p == '0' && s->p + 1 < s->end && s->p[1] >= '0' && s->p[1] <= '9'))
			return false;
		{
			const char *digits = s->p;

			while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
				s->p++;
			/* Beyond 18 digits jansson may not take it (int64). */
			if (s->p - digits > 18)
				return false;
		}
		return s->p >= s->end || !strchr(".eE", *s->p);
	}
}

struct top {
	const char *gv, *kind;
	bool seen_av, seen_kind, seen_meta, meta_empty;
	const char *meta_close; /* the metadata's closing brace */
};

static bool key_is(const char *k, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(k, want, n) == 0;
}

static bool string_is(struct scan *s, const char *want)
{
	const char *v = s->p;

	if (!scan_string(s))
		return false;
	return (size_t)(s->p - v) == strlen(want) + 2 && memcmp(v + 1, want, strlen(want)) == 0;
}

static bool meta_member(void *cls, const char *k, size_t n, struct scan *s)
{
	(void)cls;
	if (key_is(k, n, "resourceVersion"))
		return false;
	return scan_value(s, 2);
}

static bool top_member(void *cls, const char *k, size_t n, struct scan *s)
{
	struct top *t = cls;

	if (key_is(k, n, "apiVersion")) {
		if (t->seen_av)
			return false;
		t->seen_av = true;
		return string_is(s, t->gv);
	}
	if (key_is(k, n, "kind")) {
		if (t->seen_kind)
			return false;
		t->seen_kind = true;
		return string_is(s, t->kind);
	}
	if (key_is(k, n, "metadata")) {
		const char *open = s->p;

		if (t->seen_meta)
			return false;
		t->seen_meta = true;
		if (!scan_object_members(s, 1, meta_member, NULL))
			return false;
		t->meta_close = s->p - 1;
		t->meta_empty = s->p - open == 2;
		return true;
	}
	return scan_value(s, 1);
}

/* Appends value as served at rev when it is in the canonical form; false
 * (nothing appended) when it must go the slow way. */
static bool add_fast(struct lbuf *b, const char *gv, const char *kind, const char *value,
		     size_t len, int64_t rev)
{
	struct scan s = { .p = value, .end = value + len };
	struct top t = { .gv = gv, .kind = kind };
	char rv[48];

	if (!scan_object_members(&s, 0, top_member, &t) || s.p != s.end || !t.seen_av ||
	    !t.seen_kind || !t.seen_meta)
		return false;
	snprintf(rv, sizeof(rv), "%s\"resourceVersion\":\"%lld\"", t.meta_empty ? "" : ",",
		 (long long)rev);
	lbuf_add(b, value, (size_t)(t.meta_close - value));
	lbuf_str(b, rv);
	lbuf_add(b, t.meta_close, (size_t)(value + len - t.meta_close));
	return true;
}

static void add_slow(struct lbuf *b, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	if (!s) {
		b->failed = true;
		return;
	}
	lbuf_str(b, s);
	free(s);
}

/* ---- the body ---- */

struct api_list_body {
	const struct api_resource *res;
	char gv[128];
	struct lbuf items;
	size_t count;
};

struct api_list_body *api_list_body_new(const struct api_resource *r)
{
	struct api_list_body *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->res = r;
	api_resource_gv(r, b->gv, sizeof(b->gv));
	return b;
}

const char *api_list_body_items(const struct api_list_body *b, size_t *len)
{
	*len = b->items.len;
	return b->items.p ? b->items.p : "";
}

void api_list_body_free(struct api_list_body *b)
{
	if (!b)
		return;
	free(b->items.p);
	free(b);
}

int api_list_body_add(struct api_list_body *b, const struct store_kv *kv, json_t *obj)
{
	struct lbuf *it = &b->items;
	size_t mark = it->len;
	json_t *parsed = NULL;

	if (b->count)
		lbuf_add(it, ",", 1);
	if (b->res->crd || /* defaulted as it is read */
	    !add_fast(it, b->gv, b->res->kind, kv->value, kv->value_len, kv->mod_revision)) {
		if (!obj)
			obj = parsed = api_obj_from_kv(b->res, kv->value, kv->value_len,
						       kv->mod_revision);
		if (!obj) {
			/* Unreadable: left out. */
			it->len = mark;
			if (it->p)
				it->p[mark] = 0;
			return 0;
		}
		add_slow(it, obj);
		json_decref(parsed);
	}
	if (it->failed)
		return -ENOMEM;
	b->count++;
	return 1;
}

static void free_body(void *p)
{
	free(p);
	malloc_trim(0);
}

enum MHD_Result api_list_body_reply(struct api_req *q, struct api_list_body *b, int64_t rev,
				    const char *token)
{
	struct lbuf out = b->items;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char head[2600];
	size_t hlen;

	b->items = (struct lbuf){ 0 };
	snprintf(head, sizeof(head),
		 "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":\"%lld\"%s%s%s},\"items\":[",
		 b->res->kind, b->gv, (long long)rev, token && *token ? ",\"continue\":\"" : "",
		 token ? token : "", token && *token ? "\"" : "");
	api_list_body_free(b);
	/* The envelope in front of the items, then its end. */
	hlen = strlen(head);
	lbuf_add(&out, head, hlen);
	if (!out.failed) {
		memmove(out.p + hlen, out.p, out.len - hlen);
		memcpy(out.p, head, hlen);
	}
	lbuf_add(&out, "]}\n", 3);
	if (out.failed) {
		free(out.p);
		return MHD_NO;
	}
	resp = MHD_create_response_from_buffer_with_free_callback(
		out.len, out.p, out.len >= LIST_TRIM_BYTES ? free_body : free);
	if (!resp) {
		free(out.p);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	api_add_warnings(resp, q->warning);
	ret = MHD_queue_response(q->conn, 200, resp);
	q->code = 200;
	MHD_destroy_response(resp);
	return ret;
}
