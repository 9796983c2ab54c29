/* Services, EndpointSlices and Nodes from JSON, every field checked and
 * named; one row per kind in the kind table at the end. */
#include "lib/kube_model_parse.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *model_proto_name(uint8_t proto)
{
	switch (proto) {
	case MODEL_PROTO_TCP:
		return "TCP";
	case MODEL_PROTO_UDP:
		return "UDP";
	case MODEL_PROTO_SCTP:
		return "SCTP";
	}
	return "?";
}

/* ---- field access with named errors ---------------------------------- */

int kp_err(struct parse_ctx *c, const char *field, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (!c->e)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->e->msg, sizeof(c->e->msg), "%s %.200s: %.120s: %.160s", c->kind,
		 c->obj[0] ? c->obj : "(unnamed)", field, what);
	return -EINVAL;
}

const char *kp_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* Optional member of a given type: absent and null give NULL. */
static int get_typed(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
		     json_type type, const char *want, json_t **out)
{
	json_t *v = parent ? json_object_get(parent, key) : NULL;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v)))
		return kp_err(c, field, "must be %s, not %s", want, kp_type_name(v));
	*out = v;
	return 0;
}

int kp_object(struct parse_ctx *c, const json_t *parent, const char *key,
		      const char *field, json_t **out)
{
	return get_typed(c, parent, key, field, JSON_OBJECT, "an object", out);
}

int kp_array(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
		     json_t **out)
{
	return get_typed(c, parent, key, field, JSON_ARRAY, "a list", out);
}

int kp_string(struct parse_ctx *c, const json_t *parent, const char *key,
		      const char *field, const char **out)
{
	json_t *v;
	int r = get_typed(c, parent, key, field, JSON_STRING, "a string", &v);

	*out = v ? json_string_value(v) : NULL;
	return r;
}

/* Optional boolean; *present tells whether it was given (non-null). */
int kp_bool(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
		    bool *out, bool *present)
{
	json_t *v;
	int r = get_typed(c, parent, key, field, JSON_TRUE, "a boolean", &v);

	if (r < 0)
		return r;
	*present = v != NULL;
	*out = v && json_is_true(v);
	return 0;
}

/* Optional integer in [min, max]; absent gives def. */
int kp_int(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
		   long long min, long long max, long long def, long long *out)
{
	json_t *v = parent ? json_object_get(parent, key) : NULL;
	long long x;

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return kp_err(c, field, "must be an integer, not %s", kp_type_name(v));
	x = json_integer_value(v);
	if (x < min || x > max)
		return kp_err(c, field, "%lld is out of range %lld-%lld", x, min, max);
	*out = x;
	return 0;
}

int kp_strdup(const char *s, char **out)
{
	*out = strdup(s ? s : "");
	return *out ? 0 : -ENOMEM;
}

void *kp_array_with_strings(const json_t *arr, size_t esize, const char *const *keys,
			    char **strings)
{
	size_t n = json_array_size(arr), size = n * esize + 1; /* never malloc(0) */
	const json_t *v;
	size_t i;
	char *block;

	json_array_foreach(arr, i, v)
		for (const char *const *k = keys; *k; k++) {
			const json_t *s = json_object_get(v, *k);

			size += (json_is_string(s) ? json_string_length(s) : 0) + 1;
		}
	block = calloc(1, size);
	if (block)
		*strings = block + n * esize;
	return block;
}

char *kp_strput(char **strings, const char *s)
{
	char *at = *strings;

	*strings = stpcpy(at, s ? s : "") + 1;
	return at;
}

/* Optional string member that must be one of names (ended by { NULL });
 * absent leaves *out as it was (the default). */
int kp_enum(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
		    const struct enum_name *names, int *out)
{
	char list[160] = "";
	const char *s;
	int r = kp_string(c, parent, key, field, &s);

	if (r < 0 || !s)
		return r;
	for (const struct enum_name *n = names; n->name; n++)
		if (streq(s, n->name)) {
			*out = n->value;
			return 0;
		}
	for (const struct enum_name *n = names; n->name; n++)
		if (!n->alias)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? ", " : "", n->name);
	return kp_err(c, field, "\"%.40s\" is not one of %s", s, list);
}

static const struct enum_name protocols[] = {
	{ "TCP", MODEL_PROTO_TCP, false },
	{ "UDP", MODEL_PROTO_UDP, false },
	{ "SCTP", MODEL_PROTO_SCTP, false },
	{ NULL, 0, false },
};

/* protocol, TCP when absent. */
int kp_proto(struct parse_ctx *c, const json_t *parent, const char *field, uint8_t *out)
{
	int proto = MODEL_PROTO_TCP;
	int r = kp_enum(c, parent, "protocol", field, protocols, &proto);

	if (r == 0)
		*out = (uint8_t)proto;
	return r;
}

/* metadata.name and, when ns is not NULL, metadata.namespace (default
 * "default"); a cluster-scoped kind passes ns NULL and its namespace, if
 * any, is not read. Names c's object. */
int kp_meta(struct parse_ctx *c, const json_t *obj, char **ns, char **name, json_t **meta_out)
{
	const char *n, *s = NULL;
	json_t *meta;
	int r;

	r = kp_object(c, obj, "metadata", "metadata", &meta);
	if (r < 0)
		return r;
	if (!meta)
		return kp_err(c, "metadata", "is required");
	r = kp_string(c, meta, "name", "metadata.name", &n);
	if (r < 0)
		return r;
	if (ns) {
		r = kp_string(c, meta, "namespace", "metadata.namespace", &s);
		if (r < 0)
			return r;
		if (!s || !*s)
			s = "default";
		snprintf(c->obj, sizeof(c->obj), "%.90s/%.90s", s, n ? n : "");
	} else {
		snprintf(c->obj, sizeof(c->obj), "%.190s", n ? n : "");
	}
	if (!n || !*n)
		return kp_err(c, "metadata.name", "is required");
	if (s && (strlen(s) > 63 || strchr(s, '/')))
		return kp_err(c, "metadata.namespace", "is not a valid name");
	if (strlen(n) > 253 || strchr(n, '/'))
		return kp_err(c, "metadata.name", "is not a valid name");
	if (ns) {
		/* One allocation for both (free(*ns) frees them). */
		size_t nl = strlen(s);

		*ns = malloc(nl + 1 + strlen(n) + 1);
		if (!*ns)
			return -ENOMEM;
		memcpy(*ns, s, nl + 1);
		*name = strcpy(*ns + nl + 1, n);
	} else if (kp_strdup(n, name) < 0) {
		return -ENOMEM;
	}
	if (meta_out)
		*meta_out = meta;
	return 0;
}

bool kp_addrs_equal(const struct ipaddr *a, size_t na, const struct ipaddr *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!ipaddr_eq(&a[i], &b[i]))
			return false;
	return true;
}


/* ---- Node ------------------------------------------------------------- */

void model_node_free(struct model_node *n)
{
	if (!n)
		return;
	free(n->name);
	free(n);
}

static int node_add_cidr(struct parse_ctx *c, struct model_node *n, const char *field,
			 const json_t *v)
{
	struct ipcidr cidr;
	const char *why;

	if (!json_is_string(v))
		return kp_err(c, field, "must be a string, not %s", kp_type_name(v));
	if (ipcidr_parse(json_string_value(v), &cidr, &why) < 0)
		return kp_err(c, field, "\"%.60s\" is not a CIDR (network address/prefix length): %s",
			    json_string_value(v), why);
	for (size_t i = 0; i < n->n_pod_cidrs; i++) {
		if (n->pod_cidrs[i].addr.family == cidr.addr.family &&
		    !ipaddr_cmp(&n->pod_cidrs[i].addr, &cidr.addr) && n->pod_cidrs[i].len == cidr.len)
			return 0; /* podCIDR repeated in podCIDRs[0] */
		if (n->pod_cidrs[i].addr.family == cidr.addr.family)
			return kp_err(c, field, "a second %s CIDR (at most one per family)",
				    cidr.addr.family == AF_INET ? "IPv4" : "IPv6");
	}
	n->pod_cidrs[n->n_pod_cidrs++] = cidr;
	return 0;
}

/* spec.podCIDRs, and spec.podCIDR (which repeats podCIDRs[0]). */
static int parse_node_cidrs(struct parse_ctx *c, const json_t *obj, struct model_node *n)
{
	json_t *spec, *cidrs, *v;
	const char *one;
	size_t i;
	int r;

	r = kp_object(c, obj, "spec", "spec", &spec);
	if (r < 0)
		return r;
	r = kp_array(c, spec, "podCIDRs", "spec.podCIDRs", &cidrs);
	if (r < 0)
		return r;
	if (cidrs && json_array_size(cidrs) > MODEL_NODE_MAX_CIDRS)
		return kp_err(c, "spec.podCIDRs", "at most %d (one per family)", MODEL_NODE_MAX_CIDRS);
	json_array_foreach(cidrs, i, v) {
		char f[48];

		snprintf(f, sizeof(f), "spec.podCIDRs[%zu]", i);
		r = node_add_cidr(c, n, f, v);
		if (r < 0)
			return r;
	}
	r = kp_string(c, spec, "podCIDR", "spec.podCIDR", &one);
	if (r < 0 || !one || !*one)
		return r;
	return node_add_cidr(c, n, "spec.podCIDR", json_object_get(spec, "podCIDR"));
}

/* Each object of the list status.LIST whose "type" is type: fn gets the
 * string under key (NULL when absent) and its field name for errors. */
typedef int (*status_item_fn)(struct parse_ctx *c, const char *field, const char *value,
			      struct model_node *n);
static int status_items(struct parse_ctx *c, const json_t *obj, const char *list,
			const char *type_wanted, const char *key, status_item_fn fn,
			struct model_node *n)
{
	json_t *status, *items, *v;
	char lf[32];
	size_t i;
	int r;

	r = kp_object(c, obj, "status", "status", &status);
	if (r < 0)
		return r;
	snprintf(lf, sizeof(lf), "status.%s", list);
	r = kp_array(c, status, list, lf, &items);
	if (r < 0)
		return r;
	json_array_foreach(items, i, v) {
		char f[64], ff[96];
		const char *type, *value;

		snprintf(f, sizeof(f), "%s[%zu]", lf, i);
		if (!json_is_object(v))
			return kp_err(c, f, "must be an object, not %s", kp_type_name(v));
		snprintf(ff, sizeof(ff), "%s.type", f);
		r = kp_string(c, v, "type", ff, &type);
		if (r < 0)
			return r;
		if (!type || !streq(type, type_wanted))
			continue;
		snprintf(ff, sizeof(ff), "%s.%s", f, key);
		r = kp_string(c, v, key, ff, &value);
		if (r < 0)
			return r;
		r = fn(c, ff, value, n);
		if (r < 0)
			return r;
	}
	return 0;
}

/* status.addresses of type InternalIP: the first of each family. */
static int node_addr(struct parse_ctx *c, const char *field, const char *addr, struct model_node *n)
{
	struct ipaddr a;
	bool have = false;

	if (ipaddr_parse(addr, &a) < 0)
		return kp_err(c, field, "\"%.60s\" is not an IP address", addr ? addr : "");
	for (size_t k = 0; k < n->n_addrs; k++)
		have |= n->addrs[k].family == a.family;
	if (!have)
		n->addrs[n->n_addrs++] = a;
	return 0;
}

/* status.conditions type Ready: ready unless its status is other than
 * "True"; a Node without that condition (a hand-written manifest) counts
 * as ready, as an endpoint without conditions does. */
static int node_ready(struct parse_ctx *c, const char *field, const char *status,
		      struct model_node *n)
{
	(void)c;
	(void)field;
	n->ready = status && streq(status, "True");
	return 0;
}

static int node_fill(struct parse_ctx *c, const json_t *obj, void *out)
{
	struct model_node *n = out;
	int r;

	n->ready = true;
	if ((r = kp_meta(c, obj, NULL, &n->name, NULL)) < 0 || (r = parse_node_cidrs(c, obj, n)) < 0 ||
	    (r = status_items(c, obj, "addresses", "InternalIP", "address", node_addr, n)) < 0)
		return r;
	return status_items(c, obj, "conditions", "Ready", "status", node_ready, n);
}

static bool node_equal(const void *pa, const void *pb)
{
	const struct model_node *a = pa, *b = pb;

	if (!streq(a->name, b->name) || a->ready != b->ready || a->n_pod_cidrs != b->n_pod_cidrs ||
	    !kp_addrs_equal(a->addrs, a->n_addrs, b->addrs, b->n_addrs))
		return false;
	for (size_t i = 0; i < a->n_pod_cidrs; i++)
		if (!ipcidr_eq(&a->pod_cidrs[i], &b->pod_cidrs[i]))
			return false;
	return true;
}

/* ---- the kind table ------------------------------------------------------ */

static void service_free(void *o)
{
	model_service_free(o);
}

static void slice_free(void *o)
{
	model_slice_free(o);
}

static void node_free(void *o)
{
	model_node_free(o);
}

#define NO_NAMESPACE SIZE_MAX

/* One row per kind the model parses. */
static const struct kind_row {
	const char *api_version, *kind;
	size_t size;
	int (*fill)(struct parse_ctx *c, const json_t *obj, void *out);
	void (*free)(void *obj);
	size_t ns_offset, name_offset; /* of the char * fields; NO_NAMESPACE: cluster-scoped */
	bool (*equal)(const void *a, const void *b);
} kinds[MODEL_KIND_COUNT] = {
	[MODEL_KIND_SERVICE] = { "v1", "Service", sizeof(struct model_service), kp_service_fill,
				 service_free, offsetof(struct model_service, ns),
				 offsetof(struct model_service, name), kp_service_equal },
	[MODEL_KIND_ENDPOINT_SLICE] = { "discovery.k8s.io/v1", "EndpointSlice",
					sizeof(struct model_slice), kp_slice_fill, slice_free,
					offsetof(struct model_slice, ns),
					offsetof(struct model_slice, name), kp_slice_equal },
	[MODEL_KIND_NODE] = { "v1", "Node", sizeof(struct model_node), node_fill, node_free,
			      NO_NAMESPACE, offsetof(struct model_node, name), node_equal },
};

static const struct kind_row *row_of(enum model_kind kind)
{
	return kind > MODEL_KIND_OTHER && kind < MODEL_KIND_COUNT ? &kinds[kind] : NULL;
}

const char *model_kind_name(enum model_kind kind)
{
	const struct kind_row *k = row_of(kind);

	return k ? k->kind : "object";
}

int model_kind_of(const json_t *obj, enum model_kind *out, struct model_error *e)
{
	struct parse_ctx c = { .kind = "object", .e = e };
	const char *api, *kind;
	int r;

	if (!json_is_object(obj))
		return kp_err(&c, "(document)", "must be an object");
	r = kp_string(&c, obj, "apiVersion", "apiVersion", &api);
	if (r < 0)
		return r;
	r = kp_string(&c, obj, "kind", "kind", &kind);
	if (r < 0)
		return r;
	if (!kind)
		return kp_err(&c, "kind", "is required");
	for (int k = MODEL_KIND_OTHER + 1; k < MODEL_KIND_COUNT; k++) {
		if (!streq(kind, kinds[k].kind))
			continue;
		if (!streq(api, kinds[k].api_version))
			return kp_err(&c, "apiVersion", "%s needs \"%s\", not \"%.40s\"", kind,
				    kinds[k].api_version, api ? api : "");
		*out = (enum model_kind)k;
		return 0;
	}
	*out = MODEL_KIND_OTHER;
	return 0;
}

/* Allocates an object of kind and fills it from obj. */
static int parse_as(enum model_kind kind, const json_t *obj, void **out, struct model_error *e)
{
	const struct kind_row *k = &kinds[kind];
	struct parse_ctx c = { .kind = k->kind, .e = e };
	void *o = calloc(1, k->size);
	int r;

	if (!o)
		return -ENOMEM;
	r = k->fill(&c, obj, o);
	if (r < 0) {
		k->free(o);
		return r;
	}
	*out = o;
	return 0;
}

int model_object_parse(const json_t *obj, struct model_object *out, struct model_error *e)
{
	struct model_object o = { 0 };
	int r = model_kind_of(obj, &o.kind, e);

	if (r == 0 && o.kind != MODEL_KIND_OTHER)
		r = parse_as(o.kind, obj, &o.obj, e);
	if (r == 0)
		*out = o;
	return r;
}

/* The typed entry points: parse_as for one kind. */
#define TYPED_PARSE(fn, type, kind)                                              \
	int fn(const json_t *obj, type **out, struct model_error *e)             \
	{                                                                        \
		void *o = NULL;                                                  \
		int r = parse_as(kind, obj, &o, e);                              \
                                                                                 \
		if (r == 0)                                                      \
			*out = o;                                                \
		return r;                                                        \
	}
TYPED_PARSE(model_service_parse, struct model_service, MODEL_KIND_SERVICE)
TYPED_PARSE(model_slice_parse, struct model_slice, MODEL_KIND_ENDPOINT_SLICE)
TYPED_PARSE(model_node_parse, struct model_node, MODEL_KIND_NODE)

void model_object_free(enum model_kind kind, void *obj)
{
	const struct kind_row *k = row_of(kind);

	if (k && obj)
		k->free(obj);
}

void model_object_key(enum model_kind kind, const void *obj, const char **ns, const char **name)
{
	const struct kind_row *k = &kinds[kind];
	const char *base = obj;

	*ns = k->ns_offset == NO_NAMESPACE ? "" : *(char *const *)(base + k->ns_offset);
	*name = *(char *const *)(base + k->name_offset);
}

bool model_object_equal(enum model_kind kind, const void *a, const void *b)
{
	return kinds[kind].equal(a, b);
}
