/* The Kubernetes object model every program reads: Services (v1),
 * EndpointSlices (discovery.k8s.io/v1) and Nodes (v1) parsed from their
 * JSON form, and a store of them that every source (the agent's
 * --manifests folder today, the API-server watch later) feeds.
 *
 *   struct model_error e;
 *   struct model_object o;
 *   if (model_object_parse(obj, &o, &e) < 0)
 *       log_error("%s", e.msg);   // "Service default/web: spec.ports[0].port: ..."
 *   else if (o.kind != MODEL_KIND_OTHER)
 *       model_store_put(store, "file.yaml", o.kind, o.obj);
 *
 * Parsing checks every field it reads and names the first bad one. Each
 * kind is one row of a table (kube_model.c: apiVersion/kind, parse, free,
 * key, equality); adding a kind (Pods next) is one more row. The model
 * holds no lb types: the proxy turns it into frontends (dataplane/proxy.h).
 */
#ifndef SKIFF_KUBE_MODEL_H
#define SKIFF_KUBE_MODEL_H

#include "lib/inet.h"

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_ANNOTATION_ALGORITHM "service.skiff.io/lb-algorithm"
#define MODEL_LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define MODEL_AFFINITY_DEFAULT_TIMEOUT 10800
#define MODEL_AFFINITY_MAX_TIMEOUT 86400

enum model_proto {
	MODEL_PROTO_TCP = IPPROTO_TCP,
	MODEL_PROTO_UDP = IPPROTO_UDP,
	MODEL_PROTO_SCTP = IPPROTO_SCTP,
};
const char *model_proto_name(uint8_t proto);

enum model_service_type {
	MODEL_SVC_CLUSTER_IP,
	MODEL_SVC_NODE_PORT,
	MODEL_SVC_LOAD_BALANCER,
	MODEL_SVC_EXTERNAL_NAME,
};

enum model_algorithm {
	MODEL_ALG_DEFAULT = 0, /* the agent's --maglev setting */
	MODEL_ALG_RANDOM,
	MODEL_ALG_MAGLEV,
};

struct model_service_port {
	char *name; /* "" when unnamed; in the ports array's allocation */
	uint8_t proto;
	uint16_t port;
	uint16_t node_port; /* 0: none */
};

struct model_service {
	char *ns, *name; /* one allocation, ns's */
	enum model_service_type type;
	bool headless; /* clusterIP: None */
	struct ipaddr *cluster_ips;
	size_t n_cluster_ips;
	struct ipaddr *external_ips;
	size_t n_external_ips;
	struct ipaddr *lb_ips; /* status.loadBalancer.ingress[].ip */
	size_t n_lb_ips;
	struct model_service_port *ports;
	size_t n_ports;
	bool external_local; /* externalTrafficPolicy: Local */
	bool internal_local; /* internalTrafficPolicy: Local */
	uint32_t affinity_timeout; /* sessionAffinity ClientIP; 0: none */
	enum model_algorithm algorithm;
	char *external_name; /* spec.externalName (type ExternalName); NULL: none */
};

struct model_endpoint {
	struct ipaddr addr; /* addresses[0], as kube-proxy uses it */
	bool ready;       /* conditions.ready, nil: true */
	bool serving;     /* conditions.serving, nil: true (as kube-proxy) */
	bool terminating; /* conditions.terminating, nil: false */
	/* Both in the endpoints array's allocation. */
	char *node_name;  /* NULL when unset */
	char *hostname;   /* hostname (DNS: HOSTNAME.SVC.NS.svc.ZONE); NULL when unset */
};

struct model_slice_port {
	char *name; /* "" when unnamed; in the ports array's allocation */
	uint8_t proto;
	uint16_t port; /* 0: nil (matches nothing) */
};

struct model_slice {
	char *ns, *name; /* one allocation, ns's */
	char *service_name; /* label kubernetes.io/service-name; NULL: none; in ns's allocation */
	int family;         /* AF_INET, AF_INET6, or 0 for FQDN (unused) */
	struct model_endpoint *endpoints;
	size_t n_endpoints;
	struct model_slice_port *ports;
	size_t n_ports;
};

#define MODEL_NODE_MAX_CIDRS 2 /* spec.podCIDRs: one per family */
#define MODEL_NODE_MAX_ADDRS 2 /* InternalIP: the first of each family */

/* A Node (cluster-scoped): what node networking and L2 announcements
 * need of it. */
struct model_node {
	char *name;
	struct ipcidr pod_cidrs[MODEL_NODE_MAX_CIDRS]; /* spec.podCIDRs (or podCIDR) */
	size_t n_pod_cidrs;
	struct ipaddr addrs[MODEL_NODE_MAX_ADDRS]; /* status.addresses type InternalIP */
	size_t n_addrs;
	/* status.conditions type Ready is "True" (no such condition: true) */
	bool ready;
};

struct model_error {
	char msg[512]; /* "<Kind> <ns>/<name>: <field>: <problem>" */
};

enum model_kind {
	MODEL_KIND_OTHER = 0, /* a kind the model does not parse: ignored */
	MODEL_KIND_SERVICE,
	MODEL_KIND_ENDPOINT_SLICE,
	MODEL_KIND_NODE,
	MODEL_KIND_COUNT,
};
/* "Service", "EndpointSlice", "Node" ("object" for the rest). */
const char *model_kind_name(enum model_kind kind);

/* The kind of a JSON object, from apiVersion and kind. -EINVAL (with e)
 * when a kind the proxy uses comes with an apiVersion it does not know, or
 * apiVersion/kind are not strings. */
int model_kind_of(const json_t *obj, enum model_kind *out, struct model_error *e);

int model_service_parse(const json_t *obj, struct model_service **out, struct model_error *e);
void model_service_free(struct model_service *s);
int model_slice_parse(const json_t *obj, struct model_slice **out, struct model_error *e);
void model_slice_free(struct model_slice *s);
int model_node_parse(const json_t *obj, struct model_node **out, struct model_error *e);
void model_node_free(struct model_node *n);

/* Any kind through its row of the kind table. obj is a struct
 * model_service, model_slice or model_node as kind says. */
struct model_object {
	enum model_kind kind;
	void *obj; /* NULL for MODEL_KIND_OTHER */
};
/* Parses obj as the kind its apiVersion/kind name; a kind the model does
 * not parse gives MODEL_KIND_OTHER and obj NULL. */
int model_object_parse(const json_t *obj, struct model_object *out, struct model_error *e);
void model_object_free(enum model_kind kind, void *obj);
/* Namespace ("" for cluster-scoped kinds) and name. */
void model_object_key(enum model_kind kind, const void *obj, const char **ns, const char **name);
/* Equal in every field the model holds (fields the model does not read,
 * such as other labels, do not count as a change). */
bool model_object_equal(enum model_kind kind, const void *a, const void *b);

/* The store: every object by kind and namespace/name. An object put by one
 * origin (a file, the API server) replaces the same object from any
 * origin; deletion names the origin, so a file that drops an object only
 * removes its own copy. */
struct model_store;

int model_store_new(struct model_store **out);
void model_store_free(struct model_store *st);
/* Takes ownership of obj, of the given kind (freed even on failure).
 * Returns 1 when the store changed, 0 when an equal object (in every field
 * the model holds) from the same origin was already there. Nodes are
 * cluster-scoped: their namespace in the store is "". */
int model_store_put(struct model_store *st, const char *origin, enum model_kind kind, void *obj);
/* Removes an object if it came from origin; 1 when removed, 0 otherwise. */
int model_store_delete(struct model_store *st, enum model_kind kind, const char *origin,
		       const char *ns, const char *name);
/* Counts at most "changes" since creation: compare to know if a sync is due.
 * Services and EndpointSlices count in the first, Nodes in the second. */
uint64_t model_store_generation(const struct model_store *st);
uint64_t model_store_node_generation(const struct model_store *st);

/* Iteration: callback per object, in no particular order; a negative
 * return stops and is returned. */
typedef int (*model_service_fn)(const struct model_service *s, const char *origin, void *ud);
typedef int (*model_slice_fn)(const struct model_slice *s, const char *origin, void *ud);
int model_store_foreach_service(const struct model_store *st, model_service_fn fn, void *ud);
int model_store_foreach_slice(const struct model_store *st, model_slice_fn fn, void *ud);
typedef int (*model_node_fn)(const struct model_node *n, const char *origin, void *ud);
int model_store_foreach_node(const struct model_store *st, model_node_fn fn, void *ud);
/* Any kind: obj is of that kind. */
typedef int (*model_object_fn)(const void *obj, const char *origin, void *ud);
int model_store_foreach(const struct model_store *st, enum model_kind kind, model_object_fn fn,
			void *ud);
size_t model_store_count(const struct model_store *st, enum model_kind kind);

/* Where the object in the store came from (NULL: not there). */
const char *model_store_origin(const struct model_store *st, enum model_kind kind, const char *ns,
			       const char *name);
const struct model_service *model_store_get_service(const struct model_store *st, const char *ns,
						    const char *name);
/* The slices labelled kubernetes.io/service-name=service in ns (indexed). */
int model_store_foreach_slice_of(const struct model_store *st, const char *ns, const char *service,
				 model_slice_fn fn, void *ud);
/* The services ("ns/name") whose frontends may have changed since the last
 * call: a service or a slice labelled for it was put or deleted. *all is
 * true at first and when too many changed to list; then keys is empty.
 * keys (an array of strings) belongs to the caller. */
int model_store_take_dirty(struct model_store *st, char ***keys, size_t *n, bool *all);
/* Each reader of the changed services takes them from a set of its own:
 * model_store_take_dirty is the service proxy's. */
enum model_store_reader {
	MODEL_READER_PROXY,
	MODEL_READER_DNS,
	MODEL_READER_COUNT,
};
int model_store_take_dirty_of(struct model_store *st, enum model_store_reader reader, char ***keys,
			      size_t *n, bool *all);

/* A source of objects feeding a store: the --manifests folder today, the
 * API-server watch later. The agent's loop polls fd; when it is readable
 * it calls on_readable (which only takes note), and after a short quiet
 * period flush, which brings the store up to date. */
struct model_source {
	const char *name;
	void *ctx;
	/* Loads everything the source has into the store, once at start. */
	int (*start)(void *ctx);
	int (*fd)(void *ctx);
	/* Drains fd; > 0 when a flush is due. */
	int (*on_readable)(void *ctx);
	/* Applies what changed since the last flush to the store. */
	int (*flush)(void *ctx);
	void (*free)(void *ctx);
};

static inline void model_source_free(struct model_source *src)
{
	if (src && src->free)
		src->free(src->ctx);
}

#endif
