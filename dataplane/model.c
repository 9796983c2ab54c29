/* Service and EndpointSlice from JSON, every field checked and named. */
#include "dataplane/model.h"
#include "util.h"

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

struct parse_ctx {
	const char *kind;
	char obj[200]; /* "ns/name" once known */
	struct model_error *e;
};

static int perr(struct parse_ctx *c, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct parse_ctx *c, const char *field, const char *fmt, ...)
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

static const char *json_type_name(const json_t *v)
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
		return perr(c, field, "must be %s, not %s", want, json_type_name(v));
	*out = v;
	return 0;
}

static int get_object(struct parse_ctx *c, const json_t *parent, const char *key,
		      const char *field, json_t **out)
{
	return get_typed(c, parent, key, field, JSON_OBJECT, "an object", out);
}

static int get_array(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
		     json_t **out)
{
	return get_typed(c, parent, key, field, JSON_ARRAY, "a list", out);
}

static int get_string(struct parse_ctx *c, const json_t *parent, const char *key,
		      const char *field, const char **out)
{
	json_t *v;
	int r = get_typed(c, parent, key, field, JSON_STRING, "a string", &v);

	*out = v ? json_string_value(v) : NULL;
	return r;
}

/* Optional boolean; *present tells whether it was given (non-null). */
static int get_bool(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
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
static int get_int(struct parse_ctx *c, const json_t *parent, const char *key, const char *field,
		   long long min, long long max, long long def, long long *out)
{
	json_t *v = parent ? json_object_get(parent, key) : NULL;
	long long x;

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return perr(c, field, "must be an integer, not %s", json_type_name(v));
	x = json_integer_value(v);
	if (x < min || x > max)
		return perr(c, field, "%lld is out of range %lld-%lld", x, min, max);
	*out = x;
	return 0;
}

static int dup_str(const char *s, char **out)
{
	*out = strdup(s ? s : "");
	return *out ? 0 : -ENOMEM;
}

static int parse_proto(struct parse_ctx *c, const json_t *parent, const char *field, uint8_t *out)
{
	const char *p;
	int r = get_string(c, parent, "protocol", field, &p);

	if (r < 0)
		return r;
	if (!p || streq(p, "TCP"))
		*out = MODEL_PROTO_TCP;
	else if (streq(p, "UDP"))
		*out = MODEL_PROTO_UDP;
	else if (streq(p, "SCTP"))
		*out = MODEL_PROTO_SCTP;
	else
		return perr(c, field, "\"%.40s\" is not one of TCP, UDP, SCTP", p);
	return 0;
}

/* metadata.name and metadata.namespace (default "default"). */
static int parse_meta(struct parse_ctx *c, const json_t *obj, char **ns, char **name,
		      json_t **meta_out)
{
	const char *n, *s;
	json_t *meta;
	int r;

	r = get_object(c, obj, "metadata", "metadata", &meta);
	if (r < 0)
		return r;
	if (!meta)
		return perr(c, "metadata", "is required");
	r = get_string(c, meta, "name", "metadata.name", &n);
	if (r < 0)
		return r;
	r = get_string(c, meta, "namespace", "metadata.namespace", &s);
	if (r < 0)
		return r;
	if (!s || !*s)
		s = "default";
	snprintf(c->obj, sizeof(c->obj), "%.90s/%.90s", s, n ? n : "");
	if (!n || !*n)
		return perr(c, "metadata.name", "is required");
	if (strlen(n) > 253 || strlen(s) > 63 || strchr(n, '/') || strchr(s, '/'))
		return perr(c, strchr(s, '/') || strlen(s) > 63 ? "metadata.namespace" : "metadata.name",
			    "is not a valid name");
	if (dup_str(s, ns) < 0 || dup_str(n, name) < 0)
		return -ENOMEM;
	*meta_out = meta;
	return 0;
}

int model_kind_of(const json_t *obj, enum model_kind *out, struct model_error *e)
{
	struct parse_ctx c = { .kind = "object", .e = e };
	const char *api, *kind;
	int r;

	if (!json_is_object(obj))
		return perr(&c, "(document)", "must be an object");
	r = get_string(&c, obj, "apiVersion", "apiVersion", &api);
	if (r < 0)
		return r;
	r = get_string(&c, obj, "kind", "kind", &kind);
	if (r < 0)
		return r;
	if (!kind)
		return perr(&c, "kind", "is required");
	if (streq(kind, "Service")) {
		if (!streq(api, "v1"))
			return perr(&c, "apiVersion", "Service needs \"v1\", not \"%.40s\"",
				    api ? api : "");
		*out = MODEL_KIND_SERVICE;
	} else if (streq(kind, "EndpointSlice")) {
		if (!streq(api, "discovery.k8s.io/v1"))
			return perr(&c, "apiVersion",
				    "EndpointSlice needs \"discovery.k8s.io/v1\", not \"%.40s\"",
				    api ? api : "");
		*out = MODEL_KIND_ENDPOINT_SLICE;
	} else if (streq(kind, "Node")) {
		if (!streq(api, "v1"))
			return perr(&c, "apiVersion", "Node needs \"v1\", not \"%.40s\"", api ? api : "");
		*out = MODEL_KIND_NODE;
	} else {
		*out = MODEL_KIND_OTHER;
	}
	return 0;
}

const char *model_kind_name(enum model_kind kind)
{
	switch (kind) {
	case MODEL_KIND_SERVICE:
		return "Service";
	case MODEL_KIND_ENDPOINT_SLICE:
		return "EndpointSlice";
	case MODEL_KIND_NODE:
		return "Node";
	case MODEL_KIND_OTHER:
		break;
	}
	return "object";
}

/* ---- Service ---------------------------------------------------------- */

void model_service_free(struct model_service *s)
{
	if (!s)
		return;
	free(s->ns);
	free(s->name);
	free(s->cluster_ips);
	free(s->external_ips);
	free(s->lb_ips);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	free(s);
}

static void service_freep(struct model_service **s)
{
	model_service_free(*s);
}

/* A list of IP strings at parent[key] into a new array. */
static int parse_ip_list(struct parse_ctx *c, const json_t *parent, const char *key,
			 const char *field, struct ipaddr **out, size_t *n_out)
{
	char f[96];
	json_t *arr, *v;
	size_t i;
	int r;

	r = get_array(c, parent, key, field, &arr);
	if (r < 0 || !arr)
		return r;
	*out = calloc(json_array_size(arr) + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		snprintf(f, sizeof(f), "%s[%zu]", field, i);
		if (!json_is_string(v))
			return perr(c, f, "must be a string, not %s", json_type_name(v));
		if (ipaddr_parse(json_string_value(v), &(*out)[*n_out]) < 0)
			return perr(c, f, "\"%.60s\" is not an IP address", json_string_value(v));
		(*n_out)++;
	}
	return 0;
}

static int parse_service_ports(struct parse_ctx *c, const json_t *spec, struct model_service *s)
{
	json_t *ports, *p;
	size_t i;
	int r;

	r = get_array(c, spec, "ports", "spec.ports", &ports);
	if (r < 0 || !ports)
		return r;
	s->ports = calloc(json_array_size(ports) + 1, sizeof(*s->ports));
	if (!s->ports)
		return -ENOMEM;
	json_array_foreach(ports, i, p) {
		struct model_service_port *sp = &s->ports[i];
		char f[64], ff[96];
		const char *name;
		long long x;

		snprintf(f, sizeof(f), "spec.ports[%zu]", i);
		if (!json_is_object(p))
			return perr(c, f, "must be an object, not %s", json_type_name(p));
		s->n_ports++;
		snprintf(ff, sizeof(ff), "%s.name", f);
		r = get_string(c, p, "name", ff, &name);
		if (r < 0)
			return r;
		if (dup_str(name, &sp->name) < 0)
			return -ENOMEM;
		snprintf(ff, sizeof(ff), "%s.protocol", f);
		r = parse_proto(c, p, ff, &sp->proto);
		if (r < 0)
			return r;
		snprintf(ff, sizeof(ff), "%s.port", f);
		if (!json_object_get(p, "port"))
			return perr(c, ff, "is required");
		r = get_int(c, p, "port", ff, 1, 65535, 0, &x);
		if (r < 0)
			return r;
		sp->port = (uint16_t)x;
		snprintf(ff, sizeof(ff), "%s.nodePort", f);
		r = get_int(c, p, "nodePort", ff, 0, 65535, 0, &x);
		if (r < 0)
			return r;
		sp->node_port = (uint16_t)x;
		snprintf(ff, sizeof(ff), "%s.targetPort", f);
		json_t *tp = json_object_get(p, "targetPort");
		if (tp && !json_is_null(tp)) {
			if (json_is_integer(tp)) {
				r = get_int(c, p, "targetPort", ff, 1, 65535, 0, &x);
				if (r < 0)
					return r;
			} else if (!json_is_string(tp) || !*json_string_value(tp)) {
				return perr(c, ff, "must be a port number or a port name");
			}
		}
		for (size_t j = 0; j < i; j++) {
			if (streq(s->ports[j].name, sp->name) && (s->n_ports > 1)) {
				snprintf(ff, sizeof(ff), "%s.name", f);
				return perr(c, ff, "\"%.40s\" is used by spec.ports[%zu] too%s",
					    sp->name, j,
					    *sp->name ? "" : " (name every port of a multi-port service)");
			}
		}
	}
	return 0;
}

static int parse_service_spec(struct parse_ctx *c, const json_t *obj, struct model_service *s)
{
	const char *type, *cip, *etp, *itp, *aff;
	json_t *spec, *status, *lb, *ingress, *v, *cfg, *clientip;
	long long x;
	size_t i;
	int r;

	r = get_object(c, obj, "spec", "spec", &spec);
	if (r < 0)
		return r;
	if (!spec)
		return perr(c, "spec", "is required");

	r = get_string(c, spec, "type", "spec.type", &type);
	if (r < 0)
		return r;
	if (!type || streq(type, "ClusterIP"))
		s->type = MODEL_SVC_CLUSTER_IP;
	else if (streq(type, "NodePort"))
		s->type = MODEL_SVC_NODE_PORT;
	else if (streq(type, "LoadBalancer"))
		s->type = MODEL_SVC_LOAD_BALANCER;
	else if (streq(type, "ExternalName"))
		s->type = MODEL_SVC_EXTERNAL_NAME;
	else
		return perr(c, "spec.type",
			    "\"%.40s\" is not one of ClusterIP, NodePort, LoadBalancer, ExternalName",
			    type);

	r = get_string(c, spec, "clusterIP", "spec.clusterIP", &cip);
	if (r < 0)
		return r;
	if (streq(cip, "None")) {
		s->headless = true;
	} else {
		r = get_array(c, spec, "clusterIPs", "spec.clusterIPs", &v);
		if (r < 0)
			return r;
		if (v && json_array_size(v) == 1 && streq(json_string_value(json_array_get(v, 0)), "None")) {
			s->headless = true;
		} else if (v && json_array_size(v) > 0) {
			r = parse_ip_list(c, spec, "clusterIPs", "spec.clusterIPs", &s->cluster_ips,
					  &s->n_cluster_ips);
			if (r < 0)
				return r;
			if (s->n_cluster_ips > 2 ||
			    (s->n_cluster_ips == 2 && s->cluster_ips[0].family == s->cluster_ips[1].family))
				return perr(c, "spec.clusterIPs", "holds at most one IPv4 and one IPv6 address");
			if (cip && *cip) {
				struct ipaddr a;

				if (ipaddr_parse(cip, &a) < 0)
					return perr(c, "spec.clusterIP", "\"%.60s\" is not an IP address", cip);
				if (ipaddr_cmp(&a, &s->cluster_ips[0]) != 0)
					return perr(c, "spec.clusterIP", "must equal spec.clusterIPs[0]");
			}
		} else if (cip && *cip) {
			s->cluster_ips = calloc(1, sizeof(*s->cluster_ips));
			if (!s->cluster_ips)
				return -ENOMEM;
			if (ipaddr_parse(cip, &s->cluster_ips[0]) < 0)
				return perr(c, "spec.clusterIP", "\"%.60s\" is not an IP address", cip);
			s->n_cluster_ips = 1;
		}
	}

	r = parse_service_ports(c, spec, s);
	if (r < 0)
		return r;
	for (i = 0; i < s->n_ports; i++) {
		if (s->ports[i].node_port &&
		    s->type != MODEL_SVC_NODE_PORT && s->type != MODEL_SVC_LOAD_BALANCER) {
			char f[64];

			snprintf(f, sizeof(f), "spec.ports[%zu].nodePort", i);
			return perr(c, f, "is only allowed for type NodePort or LoadBalancer");
		}
	}
	r = parse_ip_list(c, spec, "externalIPs", "spec.externalIPs", &s->external_ips,
			  &s->n_external_ips);
	if (r < 0)
		return r;

	r = get_string(c, spec, "externalTrafficPolicy", "spec.externalTrafficPolicy", &etp);
	if (r < 0)
		return r;
	if (streq(etp, "Local"))
		s->external_local = true;
	else if (etp && !streq(etp, "Cluster") && !streq(etp, "Global"))
		return perr(c, "spec.externalTrafficPolicy", "\"%.40s\" is not one of Cluster, Local", etp);
	r = get_string(c, spec, "internalTrafficPolicy", "spec.internalTrafficPolicy", &itp);
	if (r < 0)
		return r;
	if (streq(itp, "Local"))
		s->internal_local = true;
	else if (itp && !streq(itp, "Cluster"))
		return perr(c, "spec.internalTrafficPolicy", "\"%.40s\" is not one of Cluster, Local", itp);

	r = get_string(c, spec, "sessionAffinity", "spec.sessionAffinity", &aff);
	if (r < 0)
		return r;
	if (streq(aff, "ClientIP")) {
		r = get_object(c, spec, "sessionAffinityConfig", "spec.sessionAffinityConfig", &cfg);
		if (r < 0)
			return r;
		r = get_object(c, cfg, "clientIP", "spec.sessionAffinityConfig.clientIP", &clientip);
		if (r < 0)
			return r;
		r = get_int(c, clientip, "timeoutSeconds",
			    "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 1,
			    MODEL_AFFINITY_MAX_TIMEOUT, MODEL_AFFINITY_DEFAULT_TIMEOUT, &x);
		if (r < 0)
			return r;
		s->affinity_timeout = (uint32_t)x;
	} else if (aff && !streq(aff, "None")) {
		return perr(c, "spec.sessionAffinity", "\"%.40s\" is not one of None, ClientIP", aff);
	}

	r = get_object(c, obj, "status", "status", &status);
	if (r < 0)
		return r;
	r = get_object(c, status, "loadBalancer", "status.loadBalancer", &lb);
	if (r < 0)
		return r;
	r = get_array(c, lb, "ingress", "status.loadBalancer.ingress", &ingress);
	if (r < 0)
		return r;
	if (ingress) {
		s->lb_ips = calloc(json_array_size(ingress) + 1, sizeof(*s->lb_ips));
		if (!s->lb_ips)
			return -ENOMEM;
		json_array_foreach(ingress, i, v) {
			char f[80];
			const char *ip;

			snprintf(f, sizeof(f), "status.loadBalancer.ingress[%zu].ip", i);
			if (!json_is_object(v))
				return perr(c, f, "entry must be an object");
			r = get_string(c, v, "ip", f, &ip);
			if (r < 0)
				return r;
			if (!ip)
				continue; /* hostname-only entries carry no address */
			if (ipaddr_parse(ip, &s->lb_ips[s->n_lb_ips]) < 0)
				return perr(c, f, "\"%.60s\" is not an IP address", ip);
			s->n_lb_ips++;
		}
	}
	return 0;
}

int model_service_parse(const json_t *obj, struct model_service **out, struct model_error *e)
{
	_cleanup_(service_freep) struct model_service *s = NULL;
	struct parse_ctx c = { .kind = "Service", .e = e };
	json_t *meta, *ann;
	const char *alg;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	r = parse_meta(&c, obj, &s->ns, &s->name, &meta);
	if (r < 0)
		return r;
	r = get_object(&c, meta, "annotations", "metadata.annotations", &ann);
	if (r < 0)
		return r;
	r = get_string(&c, ann, MODEL_ANNOTATION_ALGORITHM,
		       "metadata.annotations[" MODEL_ANNOTATION_ALGORITHM "]", &alg);
	if (r < 0)
		return r;
	if (streq(alg, "maglev"))
		s->algorithm = MODEL_ALG_MAGLEV;
	else if (streq(alg, "random"))
		s->algorithm = MODEL_ALG_RANDOM;
	else if (alg)
		return perr(&c, "metadata.annotations[" MODEL_ANNOTATION_ALGORITHM "]",
			    "\"%.40s\" is not one of random, maglev", alg);
	r = parse_service_spec(&c, obj, s);
	if (r < 0)
		return r;
	*out = TAKE_PTR(s);
	return 0;
}

/* ---- EndpointSlice ---------------------------------------------------- */

void model_slice_free(struct model_slice *s)
{
	if (!s)
		return;
	free(s->ns);
	free(s->name);
	free(s->service_name);
	for (size_t i = 0; i < s->n_endpoints; i++)
		free(s->endpoints[i].node_name);
	free(s->endpoints);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	free(s);
}

static void slice_freep(struct model_slice **s)
{
	model_slice_free(*s);
}

static int parse_endpoint(struct parse_ctx *c, const json_t *v, const char *f,
			  struct model_slice *s, struct model_endpoint *ep)
{
	char ff[128];
	json_t *addrs, *cond, *a0;
	const char *node;
	bool present;
	int r;

	if (!json_is_object(v))
		return perr(c, f, "must be an object, not %s", json_type_name(v));
	snprintf(ff, sizeof(ff), "%s.addresses", f);
	r = get_array(c, v, "addresses", ff, &addrs);
	if (r < 0)
		return r;
	if (!addrs || json_array_size(addrs) == 0)
		return perr(c, ff, "needs at least one address");
	for (size_t i = 0; i < json_array_size(addrs); i++) {
		json_t *a = json_array_get(addrs, i);
		struct ipaddr parsed;

		snprintf(ff, sizeof(ff), "%s.addresses[%zu]", f, i);
		if (!json_is_string(a))
			return perr(c, ff, "must be a string, not %s", json_type_name(a));
		if (s->family == 0)
			continue; /* FQDN */
		if (ipaddr_parse(json_string_value(a), &parsed) < 0)
			return perr(c, ff, "\"%.60s\" is not an IP address", json_string_value(a));
		if (parsed.family != s->family)
			return perr(c, ff, "\"%.60s\" does not match addressType %s",
				    json_string_value(a), s->family == AF_INET ? "IPv4" : "IPv6");
	}
	a0 = json_array_get(addrs, 0);
	if (s->family)
		ipaddr_parse(json_string_value(a0), &ep->addr);

	snprintf(ff, sizeof(ff), "%s.conditions", f);
	r = get_object(c, v, "conditions", ff, &cond);
	if (r < 0)
		return r;
	snprintf(ff, sizeof(ff), "%s.conditions.ready", f);
	r = get_bool(c, cond, "ready", ff, &ep->ready, &present);
	if (r < 0)
		return r;
	if (!present)
		ep->ready = true; /* nil means ready */
	snprintf(ff, sizeof(ff), "%s.conditions.serving", f);
	r = get_bool(c, cond, "serving", ff, &ep->serving, &present);
	if (r < 0)
		return r;
	if (!present)
		ep->serving = true; /* nil means serving, as kube-proxy reads it */
	snprintf(ff, sizeof(ff), "%s.conditions.terminating", f);
	r = get_bool(c, cond, "terminating", ff, &ep->terminating, &present);
	if (r < 0)
		return r;

	snprintf(ff, sizeof(ff), "%s.nodeName", f);
	r = get_string(c, v, "nodeName", ff, &node);
	if (r < 0)
		return r;
	if (node && !(ep->node_name = strdup(node)))
		return -ENOMEM;
	return 0;
}

int model_slice_parse(const json_t *obj, struct model_slice **out, struct model_error *e)
{
	_cleanup_(slice_freep) struct model_slice *s = NULL;
	struct parse_ctx c = { .kind = "EndpointSlice", .e = e };
	json_t *meta, *labels, *eps, *ports, *v;
	const char *at, *svc;
	size_t i;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	r = parse_meta(&c, obj, &s->ns, &s->name, &meta);
	if (r < 0)
		return r;
	r = get_object(&c, meta, "labels", "metadata.labels", &labels);
	if (r < 0)
		return r;
	r = get_string(&c, labels, MODEL_LABEL_SERVICE_NAME,
		       "metadata.labels[" MODEL_LABEL_SERVICE_NAME "]", &svc);
	if (r < 0)
		return r;
	if (svc && *svc && !(s->service_name = strdup(svc)))
		return -ENOMEM;

	r = get_string(&c, obj, "addressType", "addressType", &at);
	if (r < 0)
		return r;
	if (!at)
		return perr(&c, "addressType", "is required");
	if (streq(at, "IPv4"))
		s->family = AF_INET;
	else if (streq(at, "IPv6"))
		s->family = AF_INET6;
	else if (streq(at, "FQDN"))
		s->family = 0;
	else
		return perr(&c, "addressType", "\"%.40s\" is not one of IPv4, IPv6, FQDN", at);

	r = get_array(&c, obj, "endpoints", "endpoints", &eps);
	if (r < 0)
		return r;
	if (eps) {
		s->endpoints = calloc(json_array_size(eps) + 1, sizeof(*s->endpoints));
		if (!s->endpoints)
			return -ENOMEM;
		json_array_foreach(eps, i, v) {
			char f[48];

			snprintf(f, sizeof(f), "endpoints[%zu]", i);
			s->n_endpoints++;
			r = parse_endpoint(&c, v, f, s, &s->endpoints[i]);
			if (r < 0)
				return r;
		}
	}

	r = get_array(&c, obj, "ports", "ports", &ports);
	if (r < 0)
		return r;
	if (ports) {
		s->ports = calloc(json_array_size(ports) + 1, sizeof(*s->ports));
		if (!s->ports)
			return -ENOMEM;
		json_array_foreach(ports, i, v) {
			struct model_slice_port *sp = &s->ports[i];
			char f[48], ff[80];
			const char *name;
			long long x;

			snprintf(f, sizeof(f), "ports[%zu]", i);
			if (!json_is_object(v))
				return perr(&c, f, "must be an object, not %s", json_type_name(v));
			s->n_ports++;
			snprintf(ff, sizeof(ff), "%s.name", f);
			r = get_string(&c, v, "name", ff, &name);
			if (r < 0)
				return r;
			if (dup_str(name, &sp->name) < 0)
				return -ENOMEM;
			snprintf(ff, sizeof(ff), "%s.protocol", f);
			r = parse_proto(&c, v, ff, &sp->proto);
			if (r < 0)
				return r;
			snprintf(ff, sizeof(ff), "%s.port", f);
			r = get_int(&c, v, "port", ff, 1, 65535, 0, &x);
			if (r < 0)
				return r;
			sp->port = (uint16_t)x;
		}
	}
	*out = TAKE_PTR(s);
	return 0;
}

/* ---- Node ------------------------------------------------------------- */

void model_node_free(struct model_node *n)
{
	if (!n)
		return;
	free(n->name);
	free(n);
}

static void node_freep(struct model_node **n)
{
	model_node_free(*n);
}

static int node_add_cidr(struct parse_ctx *c, struct model_node *n, const char *field,
			 const json_t *v)
{
	struct ipcidr cidr;
	const char *why;

	if (!json_is_string(v))
		return perr(c, field, "must be a string, not %s", json_type_name(v));
	if (ipcidr_parse(json_string_value(v), &cidr, &why) < 0)
		return perr(c, field, "\"%.60s\" is not a CIDR (network address/prefix length): %s",
			    json_string_value(v), why);
	for (size_t i = 0; i < n->n_pod_cidrs; i++) {
		if (n->pod_cidrs[i].addr.family == cidr.addr.family &&
		    !ipaddr_cmp(&n->pod_cidrs[i].addr, &cidr.addr) && n->pod_cidrs[i].len == cidr.len)
			return 0; /* podCIDR repeated in podCIDRs[0] */
		if (n->pod_cidrs[i].addr.family == cidr.addr.family)
			return perr(c, field, "a second %s CIDR (at most one per family)",
				    cidr.addr.family == AF_INET ? "IPv4" : "IPv6");
	}
	n->pod_cidrs[n->n_pod_cidrs++] = cidr;
	return 0;
}

int model_node_parse(const json_t *obj, struct model_node **out, struct model_error *e)
{
	_cleanup_(node_freep) struct model_node *n = NULL;
	struct parse_ctx c = { .kind = "Node", .e = e };
	json_t *meta, *spec, *status, *cidrs, *addrs, *v;
	const char *name, *one;
	size_t i;
	int r;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	/* Cluster-scoped: metadata.namespace, if any, is not read. */
	r = get_object(&c, obj, "metadata", "metadata", &meta);
	if (r < 0)
		return r;
	if (!meta)
		return perr(&c, "metadata", "is required");
	r = get_string(&c, meta, "name", "metadata.name", &name);
	if (r < 0)
		return r;
	snprintf(c.obj, sizeof(c.obj), "%.190s", name ? name : "");
	if (!name || !*name)
		return perr(&c, "metadata.name", "is required");
	if (strlen(name) > 253 || strchr(name, '/'))
		return perr(&c, "metadata.name", "is not a valid name");
	if (dup_str(name, &n->name) < 0)
		return -ENOMEM;

	r = get_object(&c, obj, "spec", "spec", &spec);
	if (r < 0)
		return r;
	r = get_array(&c, spec, "podCIDRs", "spec.podCIDRs", &cidrs);
	if (r < 0)
		return r;
	if (cidrs && json_array_size(cidrs) > MODEL_NODE_MAX_CIDRS)
		return perr(&c, "spec.podCIDRs", "at most %d (one per family)", MODEL_NODE_MAX_CIDRS);
	json_array_foreach(cidrs, i, v) {
		char f[48];

		snprintf(f, sizeof(f), "spec.podCIDRs[%zu]", i);
		r = node_add_cidr(&c, n, f, v);
		if (r < 0)
			return r;
	}
	r = get_string(&c, spec, "podCIDR", "spec.podCIDR", &one);
	if (r < 0)
		return r;
	if (one && *one) {
		r = node_add_cidr(&c, n, "spec.podCIDR", json_object_get(spec, "podCIDR"));
		if (r < 0)
			return r;
	}

	r = get_object(&c, obj, "status", "status", &status);
	if (r < 0)
		return r;
	r = get_array(&c, status, "addresses", "status.addresses", &addrs);
	if (r < 0)
		return r;
	json_array_foreach(addrs, i, v) {
		char f[48], ff[80];
		const char *type, *addr;
		struct ipaddr a;
		bool have = false;

		snprintf(f, sizeof(f), "status.addresses[%zu]", i);
		if (!json_is_object(v))
			return perr(&c, f, "must be an object, not %s", json_type_name(v));
		snprintf(ff, sizeof(ff), "%s.type", f);
		r = get_string(&c, v, "type", ff, &type);
		if (r < 0)
			return r;
		if (!type || !streq(type, "InternalIP"))
			continue;
		snprintf(ff, sizeof(ff), "%s.address", f);
		r = get_string(&c, v, "address", ff, &addr);
		if (r < 0)
			return r;
		if (ipaddr_parse(addr, &a) < 0)
			return perr(&c, ff, "\"%.60s\" is not an IP address", addr ? addr : "");
		for (size_t k = 0; k < n->n_addrs; k++)
			have |= n->addrs[k].family == a.family;
		if (!have)
			n->addrs[n->n_addrs++] = a;
	}
	*out = TAKE_PTR(n);
	return 0;
}

/* ---- store ------------------------------------------------------------ */

struct store_entry {
	struct store_entry *next;
	char *key;    /* "ns/name" */
	char *origin;
	void *obj;    /* struct model_service or struct model_slice */
};

struct store_table {
	struct store_entry **buckets;
	size_t n_buckets, count;
};

struct model_store {
	struct store_table services, slices, nodes;
	/* "ns/service" -> struct slice_vec of the slices labelled for it */
	struct store_table by_service;
	/* "ns/service" keys whose frontends may have changed (obj NULL) */
	struct store_table dirty;
	bool all_dirty;
	uint64_t generation;
	uint64_t node_generation;
};

/* The slices of one service, in one allocation. */
struct slice_vec {
	size_t n, cap;
	const struct store_entry *v[];
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void entry_free(struct store_entry *en, enum model_kind kind)
{
	if (!en)
		return;
	free(en->key);
	free(en->origin);
	if (kind == MODEL_KIND_SERVICE)
		model_service_free(en->obj);
	else if (kind == MODEL_KIND_ENDPOINT_SLICE)
		model_slice_free(en->obj);
	else if (kind == MODEL_KIND_NODE)
		model_node_free(en->obj);
	else
		free(en->obj); /* index and set tables */
	free(en);
}

static int table_grow(struct store_table *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : 64;
	struct store_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct store_entry *en = t->buckets[i], *next;

		for (; en; en = next) {
			next = en->next;
			en->next = b[hash_str(en->key) % n];
			b[hash_str(en->key) % n] = en;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
	return 0;
}

static struct store_entry **table_find(struct store_table *t, const char *key)
{
	struct store_entry **p;

	if (!t->n_buckets)
		return NULL;
	for (p = &t->buckets[hash_str(key) % t->n_buckets]; *p; p = &(*p)->next)
		if (streq((*p)->key, key))
			return p;
	return NULL;
}

static void table_clear(struct store_table *t, enum model_kind kind)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct store_entry *en = t->buckets[i], *next;

		for (; en; en = next) {
			next = en->next;
			entry_free(en, kind);
		}
	}
	free(t->buckets);
	*t = (struct store_table){ 0 };
}

int model_store_new(struct model_store **out)
{
	struct model_store *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->all_dirty = true;
	*out = st;
	return 0;
}

void model_store_free(struct model_store *st)
{
	if (!st)
		return;
	table_clear(&st->services, MODEL_KIND_SERVICE);
	table_clear(&st->slices, MODEL_KIND_ENDPOINT_SLICE);
	table_clear(&st->nodes, MODEL_KIND_NODE);
	table_clear(&st->by_service, MODEL_KIND_OTHER);
	table_clear(&st->dirty, MODEL_KIND_OTHER);
	free(st);
}

/* Inserts a new entry with key (copied) and obj into t; returns it. */
static struct store_entry *table_insert(struct store_table *t, const char *key, void *obj)
{
	struct store_entry *en;

	if (t->count + 1 > t->n_buckets && table_grow(t) < 0)
		return NULL;
	en = calloc(1, sizeof(*en));
	if (!en || !(en->key = strdup(key))) {
		free(en);
		return NULL;
	}
	en->obj = obj;
	en->next = t->buckets[hash_str(key) % t->n_buckets];
	t->buckets[hash_str(key) % t->n_buckets] = en;
	t->count++;
	return en;
}

/* Past this many, "everything" is cheaper to track than the list. */
#define STORE_DIRTY_MAX 4096

static void mark_dirty(struct model_store *st, const char *ns, const char *svc)
{
	char key[512];

	if (st->all_dirty || !svc)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, svc);
	if (table_find(&st->dirty, key))
		return;
	if (st->dirty.count >= STORE_DIRTY_MAX || !table_insert(&st->dirty, key, NULL)) {
		st->all_dirty = true;
		table_clear(&st->dirty, MODEL_KIND_OTHER);
	}
}

static void index_remove(struct model_store *st, const struct store_entry *en)
{
	const struct model_slice *sl = en->obj;
	struct store_entry **found;
	struct slice_vec *v;
	char key[512];

	if (!sl->service_name)
		return;
	snprintf(key, sizeof(key), "%s/%s", sl->ns, sl->service_name);
	found = table_find(&st->by_service, key);
	if (!found)
		return;
	v = (*found)->obj;
	for (size_t i = 0; i < v->n; i++)
		if (v->v[i] == en) {
			v->v[i] = v->v[--v->n];
			break;
		}
	if (v->n == 0) {
		struct store_entry *e = *found;

		*found = e->next;
		entry_free(e, MODEL_KIND_OTHER);
		st->by_service.count--;
	}
}

static int index_add(struct model_store *st, const struct store_entry *en)
{
	const struct model_slice *sl = en->obj;
	struct store_entry **found, *e;
	struct slice_vec *v;
	char key[512];

	if (!sl->service_name)
		return 0;
	snprintf(key, sizeof(key), "%s/%s", sl->ns, sl->service_name);
	found = table_find(&st->by_service, key);
	if (found) {
		e = *found;
	} else {
		v = calloc(1, sizeof(*v) + 4 * sizeof(v->v[0]));
		if (!v)
			return -ENOMEM;
		v->cap = 4;
		e = table_insert(&st->by_service, key, v);
		if (!e) {
			free(v);
			return -ENOMEM;
		}
	}
	v = e->obj;
	if (v->n == v->cap) {
		struct slice_vec *nv = realloc(v, sizeof(*v) + v->cap * 2 * sizeof(v->v[0]));

		if (!nv)
			return -ENOMEM;
		nv->cap *= 2;
		e->obj = v = nv;
	}
	v->v[v->n++] = en;
	return 0;
}

/* Bookkeeping when old (may be NULL) is replaced by new (may be NULL);
 * called before old is freed. */
static int store_changed(struct model_store *st, enum model_kind kind,
			 const struct store_entry *old, const struct store_entry *now)
{
	if (kind == MODEL_KIND_NODE) {
		st->node_generation++; /* no service depends on a Node */
		return 0;
	}
	st->generation++;
	if (kind == MODEL_KIND_SERVICE) {
		const struct model_service *s = (old ? old : now)->obj;

		mark_dirty(st, s->ns, s->name);
		return 0;
	}
	if (old) {
		const struct model_slice *sl = old->obj;

		mark_dirty(st, sl->ns, sl->service_name);
		index_remove(st, old);
	}
	if (now) {
		const struct model_slice *sl = now->obj;

		mark_dirty(st, sl->ns, sl->service_name);
		return index_add(st, now);
	}
	return 0;
}

static bool addrs_equal(const struct ipaddr *a, size_t na, const struct ipaddr *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (ipaddr_cmp(&a[i], &b[i]))
			return false;
	return true;
}

/* Equal in everything the model holds (fields the proxy does not read,
 * such as other labels, do not count as a change). */
static bool service_equal(const struct model_service *a, const struct model_service *b)
{
	if (!streq(a->ns, b->ns) || !streq(a->name, b->name) || a->type != b->type ||
	    a->headless != b->headless || a->external_local != b->external_local ||
	    a->internal_local != b->internal_local || a->affinity_timeout != b->affinity_timeout ||
	    a->algorithm != b->algorithm || a->n_ports != b->n_ports ||
	    !addrs_equal(a->cluster_ips, a->n_cluster_ips, b->cluster_ips, b->n_cluster_ips) ||
	    !addrs_equal(a->external_ips, a->n_external_ips, b->external_ips, b->n_external_ips) ||
	    !addrs_equal(a->lb_ips, a->n_lb_ips, b->lb_ips, b->n_lb_ips))
		return false;
	for (size_t i = 0; i < a->n_ports; i++)
		if (!streq(a->ports[i].name, b->ports[i].name) || a->ports[i].proto != b->ports[i].proto ||
		    a->ports[i].port != b->ports[i].port || a->ports[i].node_port != b->ports[i].node_port)
			return false;
	return true;
}

static bool slice_equal(const struct model_slice *a, const struct model_slice *b)
{
	if (!streq(a->ns, b->ns) || !streq(a->name, b->name) || a->family != b->family ||
	    (a->service_name || b->service_name ? !streq(a->service_name, b->service_name) : false) ||
	    a->n_endpoints != b->n_endpoints || a->n_ports != b->n_ports)
		return false;
	for (size_t i = 0; i < a->n_endpoints; i++) {
		const struct model_endpoint *x = &a->endpoints[i], *y = &b->endpoints[i];

		if (ipaddr_cmp(&x->addr, &y->addr) || x->ready != y->ready || x->serving != y->serving ||
		    x->terminating != y->terminating ||
		    (x->node_name || y->node_name ? !streq(x->node_name, y->node_name) : false))
			return false;
	}
	for (size_t i = 0; i < a->n_ports; i++)
		if (!streq(a->ports[i].name, b->ports[i].name) || a->ports[i].proto != b->ports[i].proto ||
		    a->ports[i].port != b->ports[i].port)
			return false;
	return true;
}

static bool node_equal(const struct model_node *a, const struct model_node *b)
{
	if (!streq(a->name, b->name) || a->n_pod_cidrs != b->n_pod_cidrs || a->n_addrs != b->n_addrs ||
	    !addrs_equal(a->addrs, a->n_addrs, b->addrs, b->n_addrs))
		return false;
	for (size_t i = 0; i < a->n_pod_cidrs; i++)
		if (ipaddr_cmp(&a->pod_cidrs[i].addr, &b->pod_cidrs[i].addr) ||
		    a->pod_cidrs[i].len != b->pod_cidrs[i].len)
			return false;
	return true;
}

static bool obj_equal(enum model_kind kind, const void *a, const void *b)
{
	return kind == MODEL_KIND_SERVICE ? service_equal(a, b)
	       : kind == MODEL_KIND_NODE  ? node_equal(a, b)
					  : slice_equal(a, b);
}

static void obj_free(enum model_kind kind, void *obj)
{
	if (kind == MODEL_KIND_SERVICE)
		model_service_free(obj);
	else if (kind == MODEL_KIND_NODE)
		model_node_free(obj);
	else
		model_slice_free(obj);
}

static struct store_table *table_of(const struct model_store *st, enum model_kind kind)
{
	return (struct store_table *)(kind == MODEL_KIND_SERVICE ? &st->services
				      : kind == MODEL_KIND_NODE  ? &st->nodes
								 : &st->slices);
}

static int store_put(struct model_store *st, struct store_table *t, enum model_kind kind,
		     const char *origin, const char *ns, const char *name, void *obj)
{
	struct store_entry *en, **found;
	int r;

	en = calloc(1, sizeof(*en));
	if (!en) {
		obj_free(kind, obj);
		return -ENOMEM;
	}
	en->obj = obj;
	if (asprintf(&en->key, "%s/%s", ns, name) < 0)
		en->key = NULL;
	en->origin = strdup(origin);
	if (!en->key || !en->origin) {
		entry_free(en, kind);
		return -ENOMEM;
	}
	found = table_find(t, en->key);
	if (found) {
		struct store_entry *old = *found;
		bool same = obj_equal(kind, old->obj, obj);

		if (same && streq(old->origin, en->origin)) {
			entry_free(en, kind); /* the same object: nothing changes */
			return 0;
		}
		en->next = old->next;
		*found = en;
		r = store_changed(st, kind, old, en);
		entry_free(old, kind);
		return r < 0 ? r : 1;
	}
	if (t->count + 1 > t->n_buckets) {
		r = table_grow(t);
		if (r < 0) {
			entry_free(en, kind);
			return r;
		}
	}
	en->next = t->buckets[hash_str(en->key) % t->n_buckets];
	t->buckets[hash_str(en->key) % t->n_buckets] = en;
	t->count++;
	r = store_changed(st, kind, NULL, en);
	return r < 0 ? r : 1;
}

int model_store_put_service(struct model_store *st, const char *origin, struct model_service *svc)
{
	return store_put(st, &st->services, MODEL_KIND_SERVICE, origin, svc->ns, svc->name, svc);
}

int model_store_put_slice(struct model_store *st, const char *origin, struct model_slice *slice)
{
	return store_put(st, &st->slices, MODEL_KIND_ENDPOINT_SLICE, origin, slice->ns, slice->name,
			 slice);
}

int model_store_put_node(struct model_store *st, const char *origin, struct model_node *node)
{
	return store_put(st, &st->nodes, MODEL_KIND_NODE, origin, "", node->name, node);
}

int model_store_delete(struct model_store *st, enum model_kind kind, const char *origin,
		       const char *ns, const char *name)
{
	struct store_table *t = table_of(st, kind);
	_cleanup_free_ char *key = NULL;
	struct store_entry **found, *en;

	if (asprintf(&key, "%s/%s", ns, name) < 0) {
		key = NULL;
		return -ENOMEM;
	}
	found = table_find(t, key);
	if (!found || !streq((*found)->origin, origin))
		return 0;
	en = *found;
	*found = en->next;
	store_changed(st, kind, en, NULL);
	entry_free(en, kind);
	t->count--;
	return 1;
}

uint64_t model_store_generation(const struct model_store *st)
{
	return st->generation;
}

uint64_t model_store_node_generation(const struct model_store *st)
{
	return st->node_generation;
}

size_t model_store_count(const struct model_store *st, enum model_kind kind)
{
	return kind == MODEL_KIND_OTHER ? 0 : table_of(st, kind)->count;
}

int model_store_foreach_node(const struct model_store *st, model_node_fn fn, void *ud)
{
	for (size_t i = 0; i < st->nodes.n_buckets; i++)
		for (struct store_entry *en = st->nodes.buckets[i]; en; en = en->next) {
			int r = fn(en->obj, en->origin, ud);

			if (r < 0)
				return r;
		}
	return 0;
}

int model_store_foreach_service(const struct model_store *st, model_service_fn fn, void *ud)
{
	for (size_t i = 0; i < st->services.n_buckets; i++)
		for (struct store_entry *en = st->services.buckets[i]; en; en = en->next) {
			int r = fn(en->obj, en->origin, ud);

			if (r < 0)
				return r;
		}
	return 0;
}

int model_store_foreach_slice(const struct model_store *st, model_slice_fn fn, void *ud)
{
	for (size_t i = 0; i < st->slices.n_buckets; i++)
		for (struct store_entry *en = st->slices.buckets[i]; en; en = en->next) {
			int r = fn(en->obj, en->origin, ud);

			if (r < 0)
				return r;
		}
	return 0;
}

const struct model_service *model_store_get_service(const struct model_store *st, const char *ns,
						    const char *name)
{
	struct store_entry **found;
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	found = table_find((struct store_table *)&st->services, key);
	return found ? (*found)->obj : NULL;
}

int model_store_foreach_slice_of(const struct model_store *st, const char *ns, const char *service,
				 model_slice_fn fn, void *ud)
{
	struct store_entry **found;
	const struct slice_vec *v;
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", ns, service);
	found = table_find((struct store_table *)&st->by_service, key);
	if (!found)
		return 0;
	v = (*found)->obj;
	for (size_t i = 0; i < v->n; i++) {
		int r = fn(v->v[i]->obj, v->v[i]->origin, ud);

		if (r < 0)
			return r;
	}
	return 0;
}

int model_store_take_dirty(struct model_store *st, char ***keys, size_t *n, bool *all)
{
	char **v = calloc(st->dirty.count + 1, sizeof(*v));
	size_t m = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < st->dirty.n_buckets; i++)
		for (struct store_entry *en = st->dirty.buckets[i]; en; en = en->next)
			v[m++] = TAKE_PTR(en->key);
	*all = st->all_dirty;
	*keys = v;
	*n = m;
	table_clear(&st->dirty, MODEL_KIND_OTHER);
	st->all_dirty = false;
	return 0;
}

const char *model_store_origin(const struct model_store *st, enum model_kind kind, const char *ns,
			       const char *name)
{
	struct store_table *t = table_of(st, kind);
	struct store_entry **found;
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	found = table_find(t, key);
	return found ? (*found)->origin : NULL;
}
