/* skiff-server's API layer: the Kubernetes REST surface over the store.
 *
 * The resource table (api_resources.c) is data: one row per resource with
 * its names, scope, subresources, table columns, defaulting, validation
 * and write hooks. The object layer (api_obj.h) admits and stores objects
 * for every caller; api_http.c serves HTTP with libmicrohttpd, one thread
 * per connection, and the REST handlers (api_rest.c, api_write.c) map
 * each request onto it. */
#ifndef SKIFF_API_H
#define SKIFF_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "control/store.h"

#define API_SUB_STATUS  (1u << 0)
#define API_SUB_SCALE   (1u << 1)
#define API_SUB_LOG     (1u << 2)
#define API_SUB_EXEC    (1u << 3)
#define API_SUB_BINDING (1u << 4)

struct api_column {
	const char *name;
	const char *type; /* string, integer, date, ... */
	const char *format;
	const char *description;
	int priority; /* 1: only with -o wide */
};

/* Validation appends causes {reason, message, field} to the array. */
typedef void (*api_validate_fn)(json_t *obj, json_t *causes);
typedef void (*api_default_fn)(json_t *obj);
/* Appends one cell per column to cells. */
typedef void (*api_cells_fn)(json_t *obj, time_t now, json_t *cells);

/* What metadata.name must look like. */
enum api_name_rule {
	API_NAME_SUBDOMAIN,  /* DNS-1123 subdomain, the default */
	API_NAME_LABEL,      /* DNS-1123 label (Namespace) */
	API_NAME_LABEL_1035, /* DNS-1035 label (Service) */
	API_NAME_ANY,        /* any path segment (RBAC) */
};

struct api_server;
struct api_err;
struct api_resource;
struct api_crd_version;

/* What a write means for a kind beyond storing it (control/api_hooks.c),
 * called by the object layer (control/api_obj.c, api_delete.c) on every
 * path, kubectl's and the in-process callers' alike. Each hook may be
 * NULL. */
struct api_obj_hooks {
	/* After defaulting and validation, before storing: takes what obj
	 * needs (a Service's addresses and node ports); old is the stored
	 * object on update, NULL on create. Sets e on failure. */
	int (*allocate)(struct api_server *s, json_t *obj, json_t *old, bool dry_run,
			struct api_err *e);
	/* Gives back what obj holds and keep (may be NULL) does not. */
	void (*release)(struct api_server *s, json_t *obj, json_t *keep);
	/* Whether obj may be deleted: 0, or -EPERM with e set. */
	int (*may_delete)(const struct api_resource *r, json_t *obj, struct api_err *e);
	/* The grace period of a delete in seconds (0: at once); requested
	 * is what the caller asked for, when it asked (has_requested). */
	long (*grace)(struct api_server *s, json_t *obj, bool has_requested, long requested);
	/* What besides metadata.finalizers keeps a deleting obj stored (a
	 * Namespace's spec.finalizers): NULL, or the reason a repeated
	 * delete's 409 gives. */
	const char *(*held)(json_t *obj);
	/* When obj is first marked as being deleted (a Namespace turns
	 * Terminating). */
	void (*deleting)(json_t *obj);
	/* Mutating admission of a create, before defaulting (a Pod's
	 * priority and default tolerations); 0, or a negative errno with e
	 * set. */
	int (*admit)(struct api_server *s, const struct api_resource *r, json_t *obj,
		     struct api_err *e);
	/* After obj was stored (created, updated, marked as being deleted;
	 * gone: removed), never on a dry run (a CRD's resources are served
	 * or dropped). */
	void (*written)(struct api_server *s, const struct api_resource *r, json_t *obj,
			bool gone);
};

struct api_write_opts;

/* A subresource served by a write entry of the object layer (a pod's
 * eviction, a service account's token, a namespace's finalize): the
 * request body goes to write, *out is the answer. */
typedef int (*api_sub_write_fn)(struct api_server *s, const struct api_resource *r,
				const char *ns, const char *name, json_t *body,
				const struct api_write_opts *o, json_t **out, struct api_err *e);

struct api_subresource {
	const char *name;   /* "eviction"; NULL ends a row's list */
	const char *method; /* "POST" or "PUT" */
	const char *verb;   /* as discovery lists it: "create", "update" */
	/* Discovery's group, version and kind of the body (group NULL: the
	 * row's own, kind NULL: the row's). */
	const char *group, *version, *kind;
	api_sub_write_fn write;
	unsigned code; /* the answer's status on success */
};

struct api_resource {
	const char *group; /* "" for the core group */
	const char *version;
	const char *kind;
	const char *plural;
	const char *singular;
	const char *short_names[4];
	const char *categories[2];
	bool namespaced;
	bool has_spec; /* spec is required */
	unsigned subresources;
	const struct api_column *columns;
	size_t n_columns;
	api_cells_fn cells;
	api_default_fn defaults;
	api_validate_fn validate;
	/* Field selectors beyond metadata.name and metadata.namespace. */
	const char *fields[6];
	/* Top-level fields beyond apiVersion, kind, metadata, spec, status
	 * (comma-separated), for fieldValidation of a kind that has no
	 * schema in control/api_schema.def. */
	const char *top_fields;
	/* The fields below are set by name, in the rows that need them. */
	enum api_name_rule name_rule;
	bool create_keeps_status; /* status is written on create (Node) */
	/* A delete without a propagation policy orphans the dependents, as
	 * upstream's DefaultGarbageCollectionPolicy for batch/v1 Jobs (and
	 * the legacy v1beta versions); else Background. */
	bool orphan_by_default;
	const struct api_obj_hooks *hooks;
	const struct api_subresource *subs; /* written subresources, NULL-name ended */
	/* Only create is served, answered from the request and never stored
	 * (the reviews of control/api_review.c). */
	bool answer;
	/* A custom resource's version (control/api_crd.h): its schema
	 * prunes, defaults and validates, its printer columns give the
	 * cells; NULL for the built-in rows. */
	const struct api_crd_version *crd;
};

/* The hooks of the rows that have any (control/api_hooks.c). */
extern const struct api_obj_hooks api_service_hooks, api_namespace_hooks, api_pod_hooks,
	api_priorityclass_hooks, api_job_hooks;
/* The written subresources of the rows that have any (control/api_hooks.c). */
extern const struct api_subresource api_pod_subs[], api_namespace_subs[],
	api_serviceaccount_subs[];
/* A row's written subresource named name, or NULL. */
const struct api_subresource *api_subresource_find(const struct api_resource *r,
						   const char *name);

/* The rows of control/api_policy.c: PodDisruptionBudget, ControllerRevision,
 * PriorityClass. */
#define API_PDB_NCOLS 5
#define API_CONTROLLERREVISION_NCOLS 4
#define API_PRIORITYCLASS_NCOLS 5
extern const struct api_column api_pdb_columns[API_PDB_NCOLS];
extern const struct api_column api_controllerrevision_columns[API_CONTROLLERREVISION_NCOLS];
extern const struct api_column api_priorityclass_columns[API_PRIORITYCLASS_NCOLS];
void api_pdb_cells(json_t *obj, time_t now, json_t *cells);
void api_pdb_validate(json_t *obj, json_t *causes);
void api_controllerrevision_cells(json_t *obj, time_t now, json_t *cells);
void api_controllerrevision_validate(json_t *obj, json_t *causes);
void api_priorityclass_cells(json_t *obj, time_t now, json_t *cells);
void api_priorityclass_defaults(json_t *obj);
void api_priorityclass_validate(json_t *obj, json_t *causes);
/* A pod's admission on create: priority from its class, default
 * tolerations (the Pod row's admit hook). */
int api_pod_admit(struct api_server *s, const struct api_resource *r, json_t *pod,
		  struct api_err *e);
/* POST pods/NAME/eviction (policy/v1 or v1beta1 Eviction): the pod is
 * deleted with the Eviction's deleteOptions when its
 * PodDisruptionBudget allows, one disruption taken from the budget's
 * status; 429 when it does not. *out is a Status. */
int api_pod_evict(struct api_server *s, const struct api_resource *r, const char *ns,
		  const char *name, json_t *body, const struct api_write_opts *o, json_t **out,
		  struct api_err *e);
/* The verb a request on a subresource is authorized as: create for
 * pods/exec, pods/attach and pods/portforward (GET or POST), get for
 * pods/log; else verb. */
const char *api_policy_sub_verb(const char *group, const char *resource, const char *sub,
				const char *verb);
/* The issuer of service-account tokens, and their default audience (the
 * API server's, as kube-apiserver's --api-audiences defaults to it). */
#define API_SA_ISSUER "https://kubernetes.default.svc.cluster.local"
/* POST serviceaccounts/NAME/token (authentication.k8s.io/v1
 * TokenRequest): a signed token for the account (control/api_token.c);
 * *out is the TokenRequest with status.token. */
int api_sa_token(struct api_server *s, const struct api_resource *r, const char *ns,
		 const char *name, json_t *body, const struct api_write_opts *o, json_t **out,
		 struct api_err *e);
/* The built-in priority classes, created at start when missing. */
int api_policy_bootstrap(struct api_server *s);

/* Unknown fields of obj, at any depth its kind's schema reaches
 * (control/api_schema.h; top level and metadata for a row without one),
 * as "unknown field \"spec.x\"" messages one a line into buf
 * (API_SCHEMA_MSG_SEP);
 * returns how many. drop: removes them from obj too (a row without a
 * schema keeps them). */
size_t api_unknown_fields(const struct api_resource *r, json_t *obj, bool drop, char *buf,
			  size_t len);

extern const struct api_resource api_resources[];
extern const size_t api_n_resources;

const struct api_resource *api_resource_find(const char *group, const char *version,
					     const char *plural);
/* The group's preferred version, or NULL when the group is unknown. */
bool api_group_known(const char *group);

/* "apps/v1" or "v1". */
void api_resource_gv(const struct api_resource *r, char *buf, size_t len);
/* "pods" or "deployments.apps", as Kubernetes names them in messages. */
void api_resource_qualified(const struct api_resource *r, char *buf, size_t len);

/* Helpers the hooks share. */
void api_cause(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void api_human_age(time_t created, time_t now, char *buf, size_t len);
time_t api_parse_time(const char *rfc3339);
void api_format_time(time_t t, char *buf, size_t len);
/* Dotted path lookup ("spec.nodeName"). */
json_t *api_jget(json_t *obj, const char *path);
const char *api_jstr(json_t *obj, const char *path);
/* Sets a default when the field is absent. */
void api_jdefault(json_t *obj, const char *key, json_t *val);
/* Default table (NAME, AGE). */
extern const struct api_column api_default_columns[];
extern const size_t api_n_default_columns;
void api_default_cells(json_t *obj, time_t now, json_t *cells);
/* Validation of metadata common to all kinds (name rules by kind). */
void api_validate_meta(const struct api_resource *r, json_t *obj, json_t *causes);

/* A service CIDR: IPv4 /12../30 or IPv6 /108../126. */
struct api_svc_range {
	int family;
	unsigned char base[16]; /* network address, network order */
	uint32_t size;          /* number of addresses */
	char text[64];
};

/* The ClusterIP range when none is given (kubeadm's: kube-dns is its 10th
 * address, 10.96.0.10). */
#define API_DEFAULT_SERVICE_CIDR "10.96.0.0/12"

/* "10.96.0.0/12" or "10.96.0.0/12,fd00:43::/112". */
int api_svc_ranges_parse(const char *csv, struct api_svc_range *out, size_t *n);
/* The address at offset k of the range. */
void api_svc_range_addr(const struct api_svc_range *r, uint32_t k, char *buf, size_t len);

/* The server. */
struct prom_registry;

struct api_config {
	const char *data_dir;
	const char *store_url;
	const char *bind_address;
	int secure_port;       /* 0: no HTTPS listener */
	int insecure_port;     /* 0: no plain HTTP listener (loopback only) */
	const char *service_cidr;
	int node_port_min, node_port_max;
	const char *token_file; /* static bearer tokens, "token,user,uid[,groups]" */
	size_t max_body;
	const char *advertise_host; /* name in the kubeconfig server URL */
	/* The address this server gives the endpoints of Service
	 * default/kubernetes (NULL: none), and how long they list it without
	 * a renewal (seconds; 0: the lease reconciler is off). */
	const char *advertise_address;
	int endpoint_lease_ttl;
	int compact_interval; /* seconds between compactions; 0: never */
	/* ClusterIP of kube-system/kube-dns; NULL: the 10th address of the
	 * first service range (as kubeadm: 10.96.0.10 in 10.96.0.0/12). */
	const char *cluster_dns;
	/* Where the server, its store, controllers and scheduler count
	 * (GET /metrics); NULL: nowhere. */
	struct prom_registry *metrics;
};

struct api_server;

int api_server_new(const struct api_config *cfg, struct store *store, struct api_server **out);
/* Creates the default namespaces; starts the listeners. */
int api_server_start(struct api_server *s);
void api_server_stop(struct api_server *s);
void api_server_free(struct api_server *s);

/* Decodes a request body (JSON, or the Kubernetes protobuf encoding of the
 * kinds control/k8s.proto declares; YAML for application/yaml and apply
 * patches) the way the API does, with the message a 400 (-EINVAL) or 415
 * (-EPROTONOSUPPORT) would carry. A member given twice is taken at its
 * last value, as upstream's decoder does: 1, with err naming it
 * (`duplicate field "x"`) for fieldValidation to warn about or refuse.
 * Exposed for the fuzz harness. */
int api_decode_body(const char *body, size_t len, const char *content_type, json_t **out,
		    char *err, size_t errlen);
/* control/api_proto.c: whether body has the "k8s\0" protobuf prefix, and
 * its decoding into the JSON object (-EPROTONOSUPPORT for a kind or field
 * this server does not decode, -EINVAL for a malformed body). */
bool api_proto_body(const char *body, size_t len);
int api_proto_decode(const char *body, size_t len, json_t **out, char *err, size_t errlen);

/* Table and object helpers, exposed for tests. */
json_t *api_table_new(const struct api_resource *r, bool include_columns);
/* include: 1 the whole object, 0 PartialObjectMetadata, -1 none. */
int api_table_add_row(const struct api_resource *r, json_t *table, json_t *obj, int include,
		      time_t now);

/* TLS material under data_dir: ca.crt/ca.key, server.crt/server.key,
 * admin.crt/admin.key, the kubelet client pair
 * API_KUBELET_CLIENT_CN.crt/.key and the kubeconfig. */
#define API_KUBELET_CLIENT_CN "kube-apiserver-kubelet-client"
int api_tls_ensure(const char *data_dir, const char *hosts_csv, const char *server_url,
		   const char *token);
/* A client identity of the server's own components: tls/<base>.crt/.key
 * with CN cn (no group; RBAC grants it what upstream's bootstrap roles
 * do) signed by the CA of api_tls_ensure, and the kubeconfig
 * cred/<base>.kubeconfig (as k3s keeps them; rewritten on every start
 * for the current URL) for server_url, whose path goes to kubeconfig. */
int api_tls_component(const char *data_dir, const char *base, const char *cn,
		      const char *server_url, char *kubeconfig, size_t size);
/* A node's certificate and its new key, signed by the CA of data_dir, as
 * one PEM text (certificate, then PKCS#8 key) in *pem (free()): serving
 * false, a client certificate CN system:node:<node>, O system:nodes;
 * true, a serving certificate CN <node> for the names and addresses of
 * hosts_csv (comma-separated; the caller names the node there). */
int api_tls_node_pair(const char *data_dir, bool serving, const char *node,
		      const char *hosts_csv, char **pem);

#endif
