/* YAML -> JSON (jansson) with libyaml's event parser. See yamljson.h. */
#include <yaml.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yamljson.h"

#define YAMLJSON_MAX_DEPTH 256
/* Nodes a stream may expand to, counting each alias as the size of what
 * it names: a billion-laughs document stops here. */
#define YAMLJSON_MAX_NODES (1u << 20)

struct frame {
	json_t *container; /* object or array */
	char *key;         /* mapping: the key waiting for its value */
	char *anchor;      /* anchor of this container, registered at its end */
	size_t first_node; /* node counter at the container's start */
};

struct builder {
	struct frame stack[YAMLJSON_MAX_DEPTH];
	int depth;
	json_t *root;    /* the current document's root, once complete */
	json_t *anchors; /* name -> [value, size] */
	size_t nodes;
	struct yamljson_error *err;
};

static int set_err(struct yamljson_error *err, const yaml_mark_t *mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_err(struct yamljson_error *err, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	err->line = mark ? (int)mark->line + 1 : 0;
	err->column = mark ? (int)mark->column + 1 : 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool all_digits(const char *s, size_t n, int base)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = base == 16 ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					(c >= 'A' && c <= 'F'))
				     : (c >= '0' && c < (char)('0' + base));
		if (!ok)
			return false;
	}
	return true;
}

static bool is_core_int(const char *s, size_t n)
{
	if (n > 2 && s[0] == '0' && s[1] == 'o')
		return all_digits(s + 2, n - 2, 8);
	if (n > 2 && s[0] == '0' && s[1] == 'x')
		return all_digits(s + 2, n - 2, 16);
	if (n > 0 && (s[0] == '-' || s[0] == '+'))
		s++, n--;
	return all_digits(s, n, 10);
}

static bool is_core_float(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (digits == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp = 0;

		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, exp++;
		if (exp == 0)
			return false;
	}
	return i == n;
}

static bool word_in(const char *s, size_t n, const char *const *words)
{
	for (; *words; words++)
		if (strlen(*words) == n && memcmp(s, *words, n) == 0)
			return true;
	return false;
}

static const char *const null_words[] = { "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = { "true", "True", "TRUE", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", NULL };

/* A number that does not fit in json_int_t becomes a real, as a JSON
 * parser reading it would. */
static json_t *make_int(const char *s, size_t n)
{
	char buf[80];
	long long v;
	char *end;
	int base = 10;
	const char *p = buf;

	if (n >= sizeof(buf))
		return json_real(strtod(s, NULL));
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (n > 2 && buf[0] == '0' && buf[1] == 'o')
		base = 8, p = buf + 2;
	else if (n > 2 && buf[0] == '0' && buf[1] == 'x')
		base = 16, p = buf + 2;
	errno = 0;
	v = strtoll(p, &end, base);
	if (errno == ERANGE)
		return json_real(strtod(buf, NULL));
	return json_integer((json_int_t)v);
}

static json_t *make_real(const char *s, size_t n)
{
	char buf[128];

	if (n >= sizeof(buf))
		return NULL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return json_real(strtod(buf, NULL));
}

static json_t *scalar_value(const yaml_event_t *ev, struct yamljson_error *err, int *r)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	json_t *v;

	*r = 0;
	if (tag && strcmp(tag, "!") != 0) {
		if (strcmp(tag, YAML_STR_TAG) == 0)
			return json_stringn(s, n);
		if (strcmp(tag, YAML_INT_TAG) == 0) {
			if (!is_core_int(s, n))
				goto bad_tagged;
			return make_int(s, n);
		}
		if (strcmp(tag, YAML_FLOAT_TAG) == 0) {
			if (!is_core_float(s, n))
				goto bad_tagged;
			return make_real(s, n);
		}
		if (strcmp(tag, YAML_BOOL_TAG) == 0) {
			if (word_in(s, n, true_words))
				return json_true();
			if (word_in(s, n, false_words))
				return json_false();
			goto bad_tagged;
		}
		if (strcmp(tag, YAML_NULL_TAG) == 0)
			return json_null();
		/* Other tags do not change the value. */
	} else if (tag) {
		/* The non-specific tag "!" forces a string. */
		return json_stringn(s, n);
	}
	if (!plain)
		return json_stringn(s, n);
	if (n == 0 || word_in(s, n, null_words))
		return json_null();
	if (word_in(s, n, true_words))
		return json_true();
	if (word_in(s, n, false_words))
		return json_false();
	if (is_core_int(s, n))
		return make_int(s, n);
	if (is_core_float(s, n)) {
		v = make_real(s, n);
		if (v)
			return v;
	}
	return json_stringn(s, n);

bad_tagged:
	*r = set_err(err, &ev->start_mark, "value \"%.*s\" does not match its tag %s",
		     (int)(n > 40 ? 40 : n), s, tag);
	return NULL;
}

/* Adds v (reference stolen) where the builder stands. */
static int builder_add(struct builder *b, json_t *v, const yaml_mark_t *mark)
{
	struct frame *f;
	int r = 0;

	if (!v)
		return -ENOMEM;
	if (b->depth == 0) {
		json_decref(b->root);
		b->root = v;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (json_is_array(f->container)) {
		if (json_array_append_new(f->container, v) < 0)
			r = -ENOMEM;
		return r;
	}
	if (!f->key) {
		json_decref(v);
		return set_err(b->err, mark, "mapping key must be a scalar");
	}
	if (json_object_get(f->container, f->key)) {
		r = set_err(b->err, mark, "duplicate key \"%.60s\"", f->key);
		json_decref(v);
	} else if (json_object_set_new(f->container, f->key, v) < 0) {
		r = -ENOMEM;
	}
	free(f->key);
	f->key = NULL;
	return r;
}

static bool builder_wants_key(const struct builder *b)
{
	const struct frame *f;

	if (b->depth == 0)
		return false;
	f = &b->stack[b->depth - 1];
	return json_is_object(f->container) && !f->key;
}

static int register_anchor(struct builder *b, const char *anchor, json_t *v, size_t size)
{
	json_t *entry;

	if (!anchor)
		return 0;
	entry = json_pack("[Oi]", v, (json_int_t)size);
	if (!entry || json_object_set_new(b->anchors, anchor, entry) < 0)
		return -ENOMEM;
	return 0;
}

static int count_node(struct builder *b, size_t n, const yaml_mark_t *mark)
{
	b->nodes += n;
	if (b->nodes > YAMLJSON_MAX_NODES)
		return set_err(b->err, mark, "document expands to more than %u nodes",
			       YAMLJSON_MAX_NODES);
	return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	json_t *v;
	int r;

	if (builder_wants_key(b)) {
		struct frame *f = &b->stack[b->depth - 1];
		const char *s = (const char *)ev->data.scalar.value;

		if (memchr(s, '\0', ev->data.scalar.length))
			return set_err(b->err, &ev->start_mark, "mapping key contains a NUL byte");
		f->key = strdup(s);
		if (!f->key)
			return -ENOMEM;
		return count_node(b, 1, &ev->start_mark);
	}
	r = count_node(b, 1, &ev->start_mark);
	if (r < 0)
		return r;
	v = scalar_value(ev, b->err, &r);
	if (r < 0)
		return r;
	if (!v)
		return -ENOMEM;
	r = register_anchor(b, (const char *)ev->data.scalar.anchor, v, 1);
	if (r < 0) {
		json_decref(v);
		return r;
	}
	return builder_add(b, v, &ev->start_mark);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	json_t *entry = json_object_get(b->anchors, name);
	int r;

	if (!entry)
		return set_err(b->err, &ev->start_mark, "unknown alias *%.60s", name);
	if (builder_wants_key(b))
		return set_err(b->err, &ev->start_mark, "alias *%.60s used as a mapping key", name);
	r = count_node(b, (size_t)json_integer_value(json_array_get(entry, 1)), &ev->start_mark);
	if (r < 0)
		return r;
	return builder_add(b, json_incref(json_array_get(entry, 0)), &ev->start_mark);
}

static int on_start(struct builder *b, const yaml_event_t *ev, bool mapping)
{
	struct frame *f;
	const char *anchor = (const char *)(mapping ? ev->data.mapping_start.anchor
						    : ev->data.sequence_start.anchor);
	int r;

	if (builder_wants_key(b))
		return set_err(b->err, &ev->start_mark, "mapping key must be a scalar");
	if (b->depth == YAMLJSON_MAX_DEPTH)
		return set_err(b->err, &ev->start_mark, "nesting deeper than %d levels",
			       YAMLJSON_MAX_DEPTH);
	r = count_node(b, 1, &ev->start_mark);
	if (r < 0)
		return r;
	f = &b->stack[b->depth];
	*f = (struct frame){ .first_node = b->nodes };
	f->container = mapping ? json_object() : json_array();
	if (!f->container)
		return -ENOMEM;
	if (anchor) {
		f->anchor = strdup(anchor);
		if (!f->anchor) {
			json_decref(f->container);
			return -ENOMEM;
		}
	}
	b->depth++;
	return 0;
}

static int on_end(struct builder *b, const yaml_event_t *ev)
{
	struct frame f = b->stack[--b->depth];
	int r;

	free(f.key);
	r = register_anchor(b, f.anchor, f.container, b->nodes - f.first_node + 1);
	free(f.anchor);
	if (r < 0) {
		json_decref(f.container);
		return r;
	}
	return builder_add(b, f.container, &ev->start_mark);
}

static void builder_reset(struct builder *b)
{
	while (b->depth > 0) {
		struct frame *f = &b->stack[--b->depth];

		json_decref(f->container);
		free(f->key);
		free(f->anchor);
	}
	json_decref(b->root);
	b->root = NULL;
	json_object_clear(b->anchors);
}

static int parser_error(const yaml_parser_t *p, struct yamljson_error *err)
{
	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (p->context)
		return set_err(err, &p->problem_mark, "%s %s", p->problem ? p->problem : "error",
			       p->context);
	return set_err(err, &p->problem_mark, "%s", p->problem ? p->problem : "syntax error");
}

int yamljson_parse(const char *buf, size_t len, json_t **out, struct yamljson_error *err)
{
	struct yamljson_error scratch;
	struct builder *b;
	yaml_parser_t parser;
	json_t *docs;
	bool done = false;
	int r = 0;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	b = calloc(1, sizeof(*b));
	docs = json_array();
	if (!b || !docs || !(b->anchors = json_object())) {
		free(b);
		json_decref(docs);
		return -ENOMEM;
	}
	b->err = err;
	if (!yaml_parser_initialize(&parser)) {
		json_decref(b->anchors);
		free(b);
		json_decref(docs);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

	while (!done && r == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			r = parser_error(&parser, err);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			builder_reset(b);
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (json_array_append_new(docs, b->root ? b->root : json_null()) < 0)
				r = -ENOMEM;
			b->root = NULL;
			break;
		case YAML_SCALAR_EVENT:
			r = on_scalar(b, &ev);
			break;
		case YAML_ALIAS_EVENT:
			r = on_alias(b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			r = on_start(b, &ev, false);
			break;
		case YAML_MAPPING_START_EVENT:
			r = on_start(b, &ev, true);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			r = on_end(b, &ev);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	builder_reset(b);
	json_decref(b->anchors);
	free(b);
	if (r < 0) {
		json_decref(docs);
		return r;
	}
	*out = docs;
	return 0;
}

static bool is_list_kind(const json_t *obj)
{
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	size_t n = kind ? strlen(kind) : 0;

	return n >= 4 && strcmp(kind + n - 4, "List") == 0 &&
	       json_is_array(json_object_get(obj, "items"));
}

int yamljson_flatten_objects(json_t *docs, json_t **out, struct yamljson_error *err)
{
	struct yamljson_error scratch;
	json_t *objs, *doc;
	size_t i;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	if (!json_is_array(docs))
		return set_err(err, NULL, "expected a list of documents");
	objs = json_array();
	if (!objs)
		return -ENOMEM;
	json_array_foreach(docs, i, doc) {
		json_t *item;
		size_t j;

		if (json_is_null(doc))
			continue;
		if (!json_is_object(doc)) {
			json_decref(objs);
			return set_err(err, NULL, "document %zu: expected an object", i + 1);
		}
		if (!is_list_kind(doc)) {
			if (json_array_append(objs, doc) < 0)
				goto nomem;
			continue;
		}
		json_array_foreach(json_object_get(doc, "items"), j, item) {
			if (!json_is_object(item)) {
				json_decref(objs);
				return set_err(err, NULL, "document %zu: items[%zu]: expected an object",
					       i + 1, j);
			}
			if (json_array_append(objs, item) < 0)
				goto nomem;
		}
	}
	*out = objs;
	return 0;
nomem:
	json_decref(objs);
	return -ENOMEM;
}

int yamljson_parse_objects(const char *buf, size_t len, json_t **out, struct yamljson_error *err)
{
	json_t *docs;
	int r;

	r = yamljson_parse(buf, len, &docs, err);
	if (r < 0)
		return r;
	r = yamljson_flatten_objects(docs, out, err);
	json_decref(docs);
	return r;
}

/* ---- JSON to YAML ---- */

struct emit_buf {
	char *buf;
	size_t len, cap;
};

static int emit_write(void *data, unsigned char *buf, size_t size)
{
	struct emit_buf *b = data;

	if (b->len + size + 1 > b->cap) {
		size_t cap = (b->len + size + 1) * 2;
		char *n = realloc(b->buf, cap);
		if (!n)
			return 0;
		b->buf = n;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, buf, size);
	b->len += size;
	b->buf[b->len] = '\0';
	return 1;
}

/* A string that a plain scalar would turn into another type is quoted. */
static bool plain_is_typed(const char *s, size_t n)
{
	return n == 0 || word_in(s, n, null_words) || word_in(s, n, true_words) ||
	       word_in(s, n, false_words) || is_core_int(s, n) || is_core_float(s, n);
}

static int emit_scalar(yaml_emitter_t *em, const char *s, size_t n, bool quoted)
{
	yaml_event_t ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, !quoted, 1,
				     quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
	return yaml_emitter_emit(em, &ev) ? 0 : -EINVAL;
}

static int emit_value(yaml_emitter_t *em, json_t *v, int depth)
{
	yaml_event_t ev;
	const char *key;
	json_t *item;
	size_t i;
	int r = 0;

	if (depth > 64)
		return -ELOOP;
	if (json_is_object(v)) {
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return -EINVAL;
		json_object_foreach(v, key, item) {
			r = emit_scalar(em, key, strlen(key), plain_is_typed(key, strlen(key)));
			if (r == 0)
				r = emit_value(em, item, depth + 1);
			if (r < 0)
				return r;
		}
		yaml_mapping_end_event_initialize(&ev);
	} else if (json_is_array(v)) {
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return -EINVAL;
		json_array_foreach(v, i, item)
			if ((r = emit_value(em, item, depth + 1)) < 0)
				return r;
		yaml_sequence_end_event_initialize(&ev);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		return emit_scalar(em, s, n, plain_is_typed(s, n));
	} else {
		char *s = json_dumps(v, JSON_ENCODE_ANY);
		if (!s)
			return -ENOMEM;
		r = emit_scalar(em, s, strlen(s), false);
		free(s);
		return r;
	}
	return yaml_emitter_emit(em, &ev) ? 0 : -EINVAL;
}

int yamljson_emit(json_t *doc, char **out, size_t *len)
{
	struct emit_buf b = { 0 };
	yaml_emitter_t em;
	yaml_event_t ev;
	int r = -EINVAL;

	if (!yaml_emitter_initialize(&em))
		return -ENOMEM;
	yaml_emitter_set_output(&em, emit_write, &b);
	yaml_emitter_set_unicode(&em, 1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(&em, &ev))
		goto out;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	if (!yaml_emitter_emit(&em, &ev))
		goto out;
	r = emit_value(&em, doc, 0);
	if (r < 0)
		goto out;
	r = -EINVAL;
	yaml_document_end_event_initialize(&ev, 1);
	if (!yaml_emitter_emit(&em, &ev))
		goto out;
	yaml_stream_end_event_initialize(&ev);
	if (!yaml_emitter_emit(&em, &ev) || !yaml_emitter_flush(&em))
		goto out;
	r = b.buf ? 0 : -ENOMEM;
out:
	yaml_emitter_delete(&em);
	if (r < 0) {
		free(b.buf);
		return r;
	}
	*out = b.buf;
	if (len)
		*len = b.len;
	return 0;
}
