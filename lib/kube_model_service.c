/* Services (v1) and EndpointSlices (discovery.k8s.io/v1) from JSON: the
 * fill and equality functions of their rows in the kind table. */
#include "lib/kube_model_parse.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- Service ---------------------------------------------------------- */

/* Equal strings, either NULL (unset). */
static bool opt_streq(const char *a, const char *b)
{
	return a || b ? a && b && streq(a, b) : true;
}

void model_service_free(struct model_service *s)
{
	if (!s)
		return;
	free(s->ns); /* and name, in its allocation */
	free(s->cluster_ips);
	free(s->external_ips);
	free(s->lb_ips);
	free(s->external_name);
	free(s->ports); /* and the port names, in its allocation */
	free(s);
}

/* A list of IP strings at parent[key] into a new array. */
static int parse_ip_list(struct parse_ctx *c, const json_t *parent, const char *key,
			 const char *field, struct ipaddr **out, size_t *n_out)
{
	char f[96];
	json_t *arr, *v;
	size_t i;
	int r;

	r = kp_array(c, parent, key, field, &arr);
	if (r < 0 || !arr)
		return r;
	*out = calloc(json_array_size(arr) + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		snprintf(f, sizeof(f), "%s[%zu]", field, i);
		if (!json_is_string(v))
			return kp_err(c, f, "must be a string, not %s", kp_type_name(v));
		if (ipaddr_parse(json_string_value(v), &(*out)[*n_out]) < 0)
			return kp_err(c, f, "\"%.60s\" is not an IP address", json_string_value(v));
		(*n_out)++;
	}
	return 0;
}

static const char *const port_keys[] = { "name", NULL };

static int parse_service_ports(struct parse_ctx *c, const json_t *spec, struct model_service *s)
{
	json_t *ports, *p;
	char *names;
	size_t i;
	int r;

	r = kp_array(c, spec, "ports", "spec.ports", &ports);
	if (r < 0 || !ports)
		return r;
	s->ports = kp_array_with_strings(ports, sizeof(*s->ports), port_keys, &names);
	if (!s->ports)
		return -ENOMEM;
	json_array_foreach(ports, i, p) {
		struct model_service_port *sp = &s->ports[i];
		char f[64], ff[96];
		const char *name;
		long long x;

		snprintf(f, sizeof(f), "spec.ports[%zu]", i);
		if (!json_is_object(p))
			return kp_err(c, f, "must be an object, not %s", kp_type_name(p));
		s->n_ports++;
		snprintf(ff, sizeof(ff), "%s.name", f);
		r = kp_string(c, p, "name", ff, &name);
		if (r < 0)
			return r;
		sp->name = kp_strput(&names, name);
		snprintf(ff, sizeof(ff), "%s.protocol", f);
		r = kp_proto(c, p, ff, &sp->proto);
		if (r < 0)
			return r;
		snprintf(ff, sizeof(ff), "%s.port", f);
		if (!json_object_get(p, "port"))
			return kp_err(c, ff, "is required");
		r = kp_int(c, p, "port", ff, 1, 65535, 0, &x);
		if (r < 0)
			return r;
		sp->port = (uint16_t)x;
		snprintf(ff, sizeof(ff), "%s.nodePort", f);
		r = kp_int(c, p, "nodePort", ff, 0, 65535, 0, &x);
		if (r < 0)
			return r;
		sp->node_port = (uint16_t)x;
		snprintf(ff, sizeof(ff), "%s.targetPort", f);
		json_t *tp = json_object_get(p, "targetPort");
		if (tp && !json_is_null(tp)) {
			if (json_is_integer(tp)) {
				r = kp_int(c, p, "targetPort", ff, 1, 65535, 0, &x);
				if (r < 0)
					return r;
			} else if (!json_is_string(tp) || !*json_string_value(tp)) {
				return kp_err(c, ff, "must be a port number or a port name");
			}
		}
		for (size_t j = 0; j < i; j++) {
			if (streq(s->ports[j].name, sp->name) && (s->n_ports > 1)) {
				snprintf(ff, sizeof(ff), "%s.name", f);
				return kp_err(c, ff, "\"%.40s\" is used by spec.ports[%zu] too%s",
					    sp->name, j,
					    *sp->name ? "" : " (name every port of a multi-port service)");
			}
		}
	}
	for (i = 0; i < s->n_ports; i++) {
		if (s->ports[i].node_port && s->type != MODEL_SVC_NODE_PORT &&
		    s->type != MODEL_SVC_LOAD_BALANCER) {
			char f[64];

			snprintf(f, sizeof(f), "spec.ports[%zu].nodePort", i);
			return kp_err(c, f, "is only allowed for type NodePort or LoadBalancer");
		}
	}
	return 0;
}

static const struct enum_name service_types[] = {
	{ "ClusterIP", MODEL_SVC_CLUSTER_IP, false },
	{ "NodePort", MODEL_SVC_NODE_PORT, false },
	{ "LoadBalancer", MODEL_SVC_LOAD_BALANCER, false },
	{ "ExternalName", MODEL_SVC_EXTERNAL_NAME, false },
	{ NULL, 0, false },
};

static const struct enum_name external_policies[] = {
	{ "Cluster", false, false },
	{ "Local", true, false },
	{ "Global", false, true }, /* the old name of Cluster */
	{ NULL, 0, false },
};

static const struct enum_name internal_policies[] = {
	{ "Cluster", false, false },
	{ "Local", true, false },
	{ NULL, 0, false },
};

static const struct enum_name affinities[] = {
	{ "None", false, false },
	{ "ClientIP", true, false },
	{ NULL, 0, false },
};

static const struct enum_name algorithms[] = {
	{ "random", MODEL_ALG_RANDOM, false },
	{ "maglev", MODEL_ALG_MAGLEV, false },
	{ NULL, 0, false },
};

static int parse_service_type(struct parse_ctx *c, const json_t *spec, struct model_service *s)
{
	int type = MODEL_SVC_CLUSTER_IP;
	int r = kp_enum(c, spec, "type", "spec.type", service_types, &type);

	s->type = (enum model_service_type)type;
	return r;
}

/* clusterIP and clusterIPs: "None" (headless), or one address per family
 * with clusterIP equal to clusterIPs[0]. */
static int parse_cluster_ips(struct parse_ctx *c, const json_t *spec, struct model_service *s)
{
	struct ipaddr a;
	const char *cip;
	json_t *v;
	int r;

	r = kp_string(c, spec, "clusterIP", "spec.clusterIP", &cip);
	if (r < 0)
		return r;
	if (streq(cip, "None")) {
		s->headless = true;
		return 0;
	}
	r = kp_array(c, spec, "clusterIPs", "spec.clusterIPs", &v);
	if (r < 0)
		return r;
	if (v && json_array_size(v) == 1 && streq(json_string_value(json_array_get(v, 0)), "None")) {
		s->headless = true;
		return 0;
	}
	if (cip && *cip && ipaddr_parse(cip, &a) < 0)
		return kp_err(c, "spec.clusterIP", "\"%.60s\" is not an IP address", cip);
	if (!v || json_array_size(v) == 0) {
		if (!cip || !*cip)
			return 0;
		s->cluster_ips = calloc(1, sizeof(*s->cluster_ips));
		if (!s->cluster_ips)
			return -ENOMEM;
		s->cluster_ips[s->n_cluster_ips++] = a;
		return 0;
	}
	r = parse_ip_list(c, spec, "clusterIPs", "spec.clusterIPs", &s->cluster_ips,
			  &s->n_cluster_ips);
	if (r < 0)
		return r;
	if (s->n_cluster_ips > 2 ||
	    (s->n_cluster_ips == 2 && s->cluster_ips[0].family == s->cluster_ips[1].family))
		return kp_err(c, "spec.clusterIPs", "holds at most one IPv4 and one IPv6 address");
	if (cip && *cip && ipaddr_cmp(&a, &s->cluster_ips[0]) != 0)
		return kp_err(c, "spec.clusterIP", "must equal spec.clusterIPs[0]");
	return 0;
}

static int parse_traffic_policies(struct parse_ctx *c, const json_t *spec, struct model_service *s)
{
	int ext = false, in = false;
	int r = kp_enum(c, spec, "externalTrafficPolicy", "spec.externalTrafficPolicy",
			 external_policies, &ext);

	if (r < 0)
		return r;
	r = kp_enum(c, spec, "internalTrafficPolicy", "spec.internalTrafficPolicy",
		     internal_policies, &in);
	if (r < 0)
		return r;
	s->external_local = ext;
	s->internal_local = in;
	return 0;
}

/* sessionAffinity ClientIP and its timeout. */
static int parse_affinity(struct parse_ctx *c, const json_t *spec, struct model_service *s)
{
	json_t *cfg, *clientip;
	int client_ip = false;
	long long x;
	int r;

	r = kp_enum(c, spec, "sessionAffinity", "spec.sessionAffinity", affinities, &client_ip);
	if (r < 0 || !client_ip)
		return r;
	r = kp_object(c, spec, "sessionAffinityConfig", "spec.sessionAffinityConfig", &cfg);
	if (r < 0)
		return r;
	r = kp_object(c, cfg, "clientIP", "spec.sessionAffinityConfig.clientIP", &clientip);
	if (r < 0)
		return r;
	r = kp_int(c, clientip, "timeoutSeconds",
		    "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 1, MODEL_AFFINITY_MAX_TIMEOUT,
		    MODEL_AFFINITY_DEFAULT_TIMEOUT, &x);
	if (r < 0)
		return r;
	s->affinity_timeout = (uint32_t)x;
	return 0;
}

/* status.loadBalancer.ingress[].ip (hostname-only entries carry none). */
static int parse_lb_status(struct parse_ctx *c, const json_t *obj, struct model_service *s)
{
	json_t *status, *lb, *ingress, *v;
	size_t i;
	int r;

	r = kp_object(c, obj, "status", "status", &status);
	if (r < 0)
		return r;
	r = kp_object(c, status, "loadBalancer", "status.loadBalancer", &lb);
	if (r < 0)
		return r;
	r = kp_array(c, lb, "ingress", "status.loadBalancer.ingress", &ingress);
	if (r < 0 || !ingress)
		return r;
	s->lb_ips = calloc(json_array_size(ingress) + 1, sizeof(*s->lb_ips));
	if (!s->lb_ips)
		return -ENOMEM;
	json_array_foreach(ingress, i, v) {
		char f[80];
		const char *ip;

		snprintf(f, sizeof(f), "status.loadBalancer.ingress[%zu].ip", i);
		if (!json_is_object(v))
			return kp_err(c, f, "entry must be an object");
		r = kp_string(c, v, "ip", f, &ip);
		if (r < 0)
			return r;
		if (!ip)
			continue;
		if (ipaddr_parse(ip, &s->lb_ips[s->n_lb_ips]) < 0)
			return kp_err(c, f, "\"%.60s\" is not an IP address", ip);
		s->n_lb_ips++;
	}
	return 0;
}

/* spec.externalName: required for type ExternalName, ignored otherwise. */
static int parse_external_name(struct parse_ctx *c, const json_t *spec, struct model_service *s)
{
	const char *name;
	int r = kp_string(c, spec, "externalName", "spec.externalName", &name);

	if (r < 0 || s->type != MODEL_SVC_EXTERNAL_NAME)
		return r;
	if (!name || !*name)
		return kp_err(c, "spec.externalName", "is required for type ExternalName");
	return kp_strdup(name, &s->external_name);
}

static int parse_service_spec(struct parse_ctx *c, const json_t *obj, struct model_service *s)
{
	json_t *spec;
	int r;

	r = kp_object(c, obj, "spec", "spec", &spec);
	if (r < 0)
		return r;
	if (!spec)
		return kp_err(c, "spec", "is required");
	if ((r = parse_service_type(c, spec, s)) < 0 || (r = parse_cluster_ips(c, spec, s)) < 0 ||
	    (r = parse_service_ports(c, spec, s)) < 0 ||
	    (r = parse_ip_list(c, spec, "externalIPs", "spec.externalIPs", &s->external_ips,
			       &s->n_external_ips)) < 0 ||
	    (r = parse_traffic_policies(c, spec, s)) < 0 || (r = parse_affinity(c, spec, s)) < 0 ||
	    (r = parse_external_name(c, spec, s)) < 0)
		return r;
	return parse_lb_status(c, obj, s);
}

int kp_service_fill(struct parse_ctx *c, const json_t *obj, void *out)
{
	struct model_service *s = out;
	int algorithm = MODEL_ALG_DEFAULT;
	json_t *meta, *ann;
	int r;

	r = kp_meta(c, obj, &s->ns, &s->name, &meta);
	if (r < 0)
		return r;
	r = kp_object(c, meta, "annotations", "metadata.annotations", &ann);
	if (r < 0)
		return r;
	r = kp_enum(c, ann, MODEL_ANNOTATION_ALGORITHM,
		     "metadata.annotations[" MODEL_ANNOTATION_ALGORITHM "]", algorithms, &algorithm);
	if (r < 0)
		return r;
	s->algorithm = (enum model_algorithm)algorithm;
	return parse_service_spec(c, obj, s);
}

bool kp_service_equal(const void *pa, const void *pb)
{
	const struct model_service *a = pa, *b = pb;

	if (!streq(a->ns, b->ns) || !streq(a->name, b->name) || a->type != b->type ||
	    a->headless != b->headless || a->external_local != b->external_local ||
	    a->internal_local != b->internal_local || a->affinity_timeout != b->affinity_timeout ||
	    a->algorithm != b->algorithm || a->n_ports != b->n_ports ||
	    !opt_streq(a->external_name, b->external_name) ||
	    !kp_addrs_equal(a->cluster_ips, a->n_cluster_ips, b->cluster_ips, b->n_cluster_ips) ||
	    !kp_addrs_equal(a->external_ips, a->n_external_ips, b->external_ips, b->n_external_ips) ||
	    !kp_addrs_equal(a->lb_ips, a->n_lb_ips, b->lb_ips, b->n_lb_ips))
		return false;
	for (size_t i = 0; i < a->n_ports; i++)
		if (!streq(a->ports[i].name, b->ports[i].name) || a->ports[i].proto != b->ports[i].proto ||
		    a->ports[i].port != b->ports[i].port || a->ports[i].node_port != b->ports[i].node_port)
			return false;
	return true;
}

/* ---- EndpointSlice ---------------------------------------------------- */

void model_slice_free(struct model_slice *s)
{
	if (!s)
		return;
	free(s->ns); /* and name and service_name, in its allocation */
	free(s->endpoints); /* and their strings, in its allocation */
	free(s->ports);     /* and the port names */
	free(s);
}

static int parse_endpoint(struct parse_ctx *c, const json_t *v, const char *f,
			  struct model_slice *s, struct model_endpoint *ep, char **strings)
{
	char ff[128];
	json_t *addrs, *cond, *a0;
	const char *node;
	bool present;
	int r;

	if (!json_is_object(v))
		return kp_err(c, f, "must be an object, not %s", kp_type_name(v));
	snprintf(ff, sizeof(ff), "%s.addresses", f);
	r = kp_array(c, v, "addresses", ff, &addrs);
	if (r < 0)
		return r;
	if (!addrs || json_array_size(addrs) == 0)
		return kp_err(c, ff, "needs at least one address");
	for (size_t i = 0; i < json_array_size(addrs); i++) {
		json_t *a = json_array_get(addrs, i);
		struct ipaddr parsed;

		snprintf(ff, sizeof(ff), "%s.addresses[%zu]", f, i);
		if (!json_is_string(a))
			return kp_err(c, ff, "must be a string, not %s", kp_type_name(a));
		if (s->family == 0)
			continue; /* FQDN */
		if (ipaddr_parse(json_string_value(a), &parsed) < 0)
			return kp_err(c, ff, "\"%.60s\" is not an IP address", json_string_value(a));
		if (parsed.family != s->family)
			return kp_err(c, ff, "\"%.60s\" does not match addressType %s",
				    json_string_value(a), s->family == AF_INET ? "IPv4" : "IPv6");
	}
	a0 = json_array_get(addrs, 0);
	if (s->family)
		ipaddr_parse(json_string_value(a0), &ep->addr);

	snprintf(ff, sizeof(ff), "%s.conditions", f);
	r = kp_object(c, v, "conditions", ff, &cond);
	if (r < 0)
		return r;
	snprintf(ff, sizeof(ff), "%s.conditions.ready", f);
	r = kp_bool(c, cond, "ready", ff, &ep->ready, &present);
	if (r < 0)
		return r;
	if (!present)
		ep->ready = true; /* nil means ready */
	snprintf(ff, sizeof(ff), "%s.conditions.serving", f);
	r = kp_bool(c, cond, "serving", ff, &ep->serving, &present);
	if (r < 0)
		return r;
	if (!present)
		ep->serving = true; /* nil means serving, as kube-proxy reads it */
	snprintf(ff, sizeof(ff), "%s.conditions.terminating", f);
	r = kp_bool(c, cond, "terminating", ff, &ep->terminating, &present);
	if (r < 0)
		return r;

	snprintf(ff, sizeof(ff), "%s.nodeName", f);
	r = kp_string(c, v, "nodeName", ff, &node);
	if (r < 0)
		return r;
	if (node)
		ep->node_name = kp_strput(strings, node);
	snprintf(ff, sizeof(ff), "%s.hostname", f);
	r = kp_string(c, v, "hostname", ff, &node);
	if (r < 0)
		return r;
	if (node && *node)
		ep->hostname = kp_strput(strings, node);
	return 0;
}

static const struct enum_name address_types[] = {
	{ "IPv4", AF_INET, false },
	{ "IPv6", AF_INET6, false },
	{ "FQDN", 0, false },
	{ NULL, 0, false },
};

static int parse_slice_endpoints(struct parse_ctx *c, const json_t *obj, struct model_slice *s)
{
	static const char *const keys[] = { "nodeName", "hostname", NULL };
	json_t *eps, *v;
	char *strings;
	size_t i;
	int r;

	r = kp_array(c, obj, "endpoints", "endpoints", &eps);
	if (r < 0 || !eps)
		return r;
	s->endpoints = kp_array_with_strings(eps, sizeof(*s->endpoints), keys, &strings);
	if (!s->endpoints)
		return -ENOMEM;
	json_array_foreach(eps, i, v) {
		char f[48];

		snprintf(f, sizeof(f), "endpoints[%zu]", i);
		s->n_endpoints++;
		r = parse_endpoint(c, v, f, s, &s->endpoints[i], &strings);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_slice_port(struct parse_ctx *c, const json_t *v, const char *f,
			    struct model_slice_port *sp, char **names)
{
	char ff[80];
	const char *name;
	long long x;
	int r;

	if (!json_is_object(v))
		return kp_err(c, f, "must be an object, not %s", kp_type_name(v));
	snprintf(ff, sizeof(ff), "%s.name", f);
	r = kp_string(c, v, "name", ff, &name);
	if (r < 0)
		return r;
	sp->name = kp_strput(names, name);
	snprintf(ff, sizeof(ff), "%s.protocol", f);
	r = kp_proto(c, v, ff, &sp->proto);
	if (r < 0)
		return r;
	snprintf(ff, sizeof(ff), "%s.port", f);
	r = kp_int(c, v, "port", ff, 1, 65535, 0, &x);
	if (r < 0)
		return r;
	sp->port = (uint16_t)x;
	return 0;
}

static int parse_slice_ports(struct parse_ctx *c, const json_t *obj, struct model_slice *s)
{
	json_t *ports, *v;
	char *names;
	size_t i;
	int r;

	r = kp_array(c, obj, "ports", "ports", &ports);
	if (r < 0 || !ports)
		return r;
	s->ports = kp_array_with_strings(ports, sizeof(*s->ports), port_keys, &names);
	if (!s->ports)
		return -ENOMEM;
	json_array_foreach(ports, i, v) {
		char f[48];

		snprintf(f, sizeof(f), "ports[%zu]", i);
		if (json_is_object(v))
			s->n_ports++;
		r = parse_slice_port(c, v, f, &s->ports[i], &names);
		if (r < 0)
			return r;
	}
	return 0;
}

int kp_slice_fill(struct parse_ctx *c, const json_t *obj, void *out)
{
	struct model_slice *s = out;
	json_t *meta, *labels;
	const char *svc;
	int family = -1;
	int r;

	r = kp_meta(c, obj, &s->ns, &s->name, &meta);
	if (r < 0)
		return r;
	r = kp_object(c, meta, "labels", "metadata.labels", &labels);
	if (r < 0)
		return r;
	r = kp_string(c, labels, MODEL_LABEL_SERVICE_NAME,
		       "metadata.labels[" MODEL_LABEL_SERVICE_NAME "]", &svc);
	if (r < 0)
		return r;
	if (svc && *svc) {
		/* In the block of ns and name too (kp_meta's): one allocation. */
		size_t nl = strlen(s->ns) + 1, ml = strlen(s->name) + 1;
		char *block = realloc(s->ns, nl + ml + strlen(svc) + 1);

		if (!block)
			return -ENOMEM;
		s->ns = block;
		s->name = block + nl;
		s->service_name = strcpy(block + nl + ml, svc);
	}
	r = kp_enum(c, obj, "addressType", "addressType", address_types, &family);
	if (r < 0)
		return r;
	if (family < 0)
		return kp_err(c, "addressType", "is required");
	s->family = family;
	r = parse_slice_endpoints(c, obj, s);
	if (r < 0)
		return r;
	return parse_slice_ports(c, obj, s);
}

bool kp_slice_equal(const void *pa, const void *pb)
{
	const struct model_slice *a = pa, *b = pb;

	if (!streq(a->ns, b->ns) || !streq(a->name, b->name) || a->family != b->family ||
	    (a->service_name || b->service_name ? !streq(a->service_name, b->service_name) : false) ||
	    a->n_endpoints != b->n_endpoints || a->n_ports != b->n_ports)
		return false;
	for (size_t i = 0; i < a->n_endpoints; i++) {
		const struct model_endpoint *x = &a->endpoints[i], *y = &b->endpoints[i];

		if (!ipaddr_eq(&x->addr, &y->addr) || x->ready != y->ready ||
		    x->serving != y->serving || x->terminating != y->terminating ||
		    !opt_streq(x->node_name, y->node_name) || !opt_streq(x->hostname, y->hostname))
			return false;
	}
	for (size_t i = 0; i < a->n_ports; i++)
		if (!streq(a->ports[i].name, b->ports[i].name) || a->ports[i].proto != b->ports[i].proto ||
		    a->ports[i].port != b->ports[i].port)
			return false;
	return true;
}

