/* Internals shared by the API server's files: the server context, one
 * request, error replies. */
#ifndef SKIFF_API_INTERNAL_H
#define SKIFF_API_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "control/api.h"
#include "control/api_crd.h"
#include "control/api_obj.h"

#define API_MAX_GROUPS 8
#define API_MAX_EXTRA 8

struct api_token {
	char *token;
	char *user;
	char *uid;    /* may be NULL */
	char *groups; /* comma-separated, may be NULL */
};

/* One value of a user's extra (a key may have several). */
struct api_extra {
	char key[96];
	char value[160];
};

struct api_server {
	struct api_config cfg;
	struct store *store;
	struct MHD_Daemon *secure;
	struct MHD_Daemon *insecure;
	char *tls_cert, *tls_key, *tls_ca;
	struct api_token *tokens;
	size_t n_tokens;
	atomic_bool stopping;
	pthread_mutex_t lock; /* guards the compactor's and kubesvc's sleeps */
	pthread_cond_t wake;
	pthread_t compactor;
	bool compactor_running;
	pthread_t kubesvc; /* default/kubernetes's endpoints (api_kubesvc.c) */
	bool kubesvc_running;
	struct api_svc_range ranges[2]; /* the primary family first */
	size_t n_ranges;
	struct api_render_cache *render_cache; /* watch events rendered once (api_watch.c) */
	struct api_rbac_cache *rbac_cache; /* roles and bindings parsed once (api_rbac.c) */
	struct api_jwt_key *sa_key; /* signs service-account tokens (api_token.c) */
	struct api_proxy *proxy; /* the kubelet client (api_proxy.c) */
	struct api_metrics *metrics; /* what GET /metrics shows (api_metrics.c) */
	struct api_openapi *openapi; /* group-versions other modules add (api_openapi.h) */
	struct api_crd_table *crds; /* the resources CRDs define (api_crd.c) */
};

struct api_req {
	struct api_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *body;
	size_t body_len;
	const char *ctype;
	const char *accept;
	bool table;
	const struct api_resource *res;
	char ns[256];
	char name[256];
	char sub[32];
	char user[128];
	char groups[API_MAX_GROUPS][96]; /* "system:serviceaccounts:" and a namespace fit */
	size_t n_groups;
	char uid[128];
	struct api_extra extra[API_MAX_EXTRA];
	size_t n_extra;
	char warning[512]; /* warnings, one a line, each sent as a Warning header */
	unsigned code;     /* the status answered, for the metrics (0: none yet) */
};

/* Adds a Warning header (299, the text quoted) for each line of warnings. */
void api_add_warnings(struct MHD_Response *resp, const char *warnings);

/* What a request asks to do, for authorization. resource NULL: a
 * non-resource path. */
struct api_rbac_attrs {
	const char *verb;
	const char *group;
	const char *resource;
	const char *subresource;
	const char *namespace;
	const char *name;
	const char *path;
};

bool api_rbac_allowed(struct api_req *q, const struct api_rbac_attrs *a);
void api_rbac_forbidden(struct api_req *q, const struct api_rbac_attrs *a, struct api_err *e);
bool api_rbac_in_group(const struct api_req *q, const char *group);
/* The authorizers in turn (the Node authorizer, then RBAC): whether q's
 * user may do a. When not, and e is not NULL, e is the 403 (with the
 * Node authorizer's reason); why (may be NULL) gets that reason. */
bool api_authorize(struct api_req *q, const struct api_rbac_attrs *a, char *why, size_t wlen,
		   struct api_err *e);
/* The rules RBAC grants q's user in namespace ns (NULL or "": cluster
 * rules only), as a SelfSubjectRulesReview's status: resourceRules,
 * nonResourceRules, incomplete. */
json_t *api_rbac_rules(struct api_req *q, const char *ns);
/* Who a request is: a group or an extra value added (once; past the
 * limits dropped). */
void api_req_add_group(struct api_req *q, const char *group);
void api_req_add_extra(struct api_req *q, const char *key, const char *value);
struct api_rbac_cache;
int api_rbac_cache_new(struct api_rbac_cache **out);
void api_rbac_cache_free(struct api_rbac_cache *c);
/* The ClusterRoles and ClusterRoleBindings the server makes for its own
 * components (system:kube-scheduler, system:kube-controller-manager), and
 * the unbound view, edit and admin, as a new array of objects. */
json_t *api_rbac_bootstrap_objects(void);

/* Replies; each returns the MHD result of queueing. json is stolen. */
enum MHD_Result api_reply_json(struct api_req *q, unsigned code, json_t *json);
enum MHD_Result api_reply_err(struct api_req *q, struct api_err *e);
enum MHD_Result api_reply_text(struct api_req *q, unsigned code, const char *ctype,
			       const char *text);
/* Answers with len bytes of body (malloc'd; taken, freed by the reply). */
enum MHD_Result api_reply_bytes(struct api_req *q, unsigned code, const char *ctype,
				unsigned char *body, size_t len);

/* The query parameters (api_params.c). api_query: the first value of
 * key, NULL when absent. api_query_bool: as kube-apiserver converts a
 * boolean (kube_param_bool). api_query_int64: 1 with *out set, 0 when
 * absent, negative errno with a 400 naming the parameter in e. */
const char *api_query(struct api_req *q, const char *key);
bool api_query_bool(struct api_req *q, const char *key);
int api_query_int64(struct api_req *q, const char *key, int64_t *out, struct api_err *e);
/* dryRun and fieldValidation of a write (kind: CreateOptions,
 * UpdateOptions or PatchOptions, named by the 422 for a value upstream
 * refuses); sets dry_run and fields. */
int api_query_write_opts(struct api_req *q, const char *kind, struct api_write_opts *o,
			 struct api_err *e);
/* A DeleteOptions object from the query (gracePeriodSeconds,
 * propagationPolicy, orphanDependents, dryRun), for a delete without a
 * body. */
int api_query_delete_options(struct api_req *q, json_t **out, struct api_err *e);
/* 422 for DeleteOptions (from the body or the query) upstream refuses: an
 * unknown propagationPolicy, one with orphanDependents, a dryRun not All. */
int api_check_delete_options(json_t *opts, struct api_err *e);

/* Whether a Content-Type names the media type (parameters ignored). */
static inline bool ctype_has(const char *ctype, const char *want)
{
	size_t n = strlen(want);

	return ctype && strncasecmp(ctype, want, n) == 0 && (ctype[n] == 0 || ctype[n] == ';');
}

/* pods/log, pods/exec, pods/attach, pods/portforward, passed on to the
 * kubelet of the pod's node (api_proxy.c). */
struct api_proxy;
int api_proxy_new(struct api_proxy **out);
void api_proxy_free(struct api_proxy *p);
/* Ends the relays of upgraded connections (waits up to 5 s for them), and
 * refuses new ones: before the daemons stop. */
void api_proxy_shutdown(struct api_proxy *p);
bool api_proxy_wants(const struct api_req *q);
enum MHD_Result api_proxy_pod(struct api_req *q);
/* GET path of the kubelet of node (as the proxy reaches it): the HTTP
 * status, with the body (malloc'd, NUL-terminated) in *body; negative
 * errno with why set when the kubelet cannot be asked. */
int api_proxy_get(struct api_server *s, const char *node, const char *path, char **body,
		  size_t *len, char *why, size_t why_len);

/* The REST verbs: dispatch, get and list (api_rest.c); the writes
 * (api_write.c), which parse a request and call the object layer. */
enum MHD_Result api_rest_dispatch(struct api_req *q);
enum MHD_Result api_rest_create(struct api_req *q);
enum MHD_Result api_rest_apply_create(struct api_req *q);
enum MHD_Result api_rest_update(struct api_req *q);
enum MHD_Result api_rest_patch(struct api_req *q);
enum MHD_Result api_rest_scale(struct api_req *q);
enum MHD_Result api_rest_binding(struct api_req *q);
/* A create of a row that answers instead of storing (api_resource.answer). */
enum MHD_Result api_rest_answer(struct api_req *q);
/* A row's own subresource (api_resource.subs): the body to its entry. */
enum MHD_Result api_rest_sub_write(struct api_req *q, const struct api_subresource *sr);
enum MHD_Result api_rest_delete(struct api_req *q);
enum MHD_Result api_rest_deletecollection(struct api_req *q);
/* The autoscaling/v1 Scale view of a workload or a custom resource. */
json_t *api_scale_of(const struct api_resource *r, json_t *obj);
/* The watch (api_watch.c). */
enum MHD_Result api_rest_watch(struct api_req *q);
/* The watch fan-out's shared rendering of events (api_watch.c). */
struct api_render_cache;
int api_render_cache_new(struct api_render_cache **out);
void api_render_cache_free(struct api_render_cache *c);
/* A list's JSON body built without a tree of every item (api_list.c):
 * add takes a stored value as it is where it can (obj: the parsed value
 * when the caller has it, else NULL); 1 added, 0 unreadable and left out,
 * negative errno. reply frees b. */
struct store_kv;
struct api_list_body;
struct api_list_body *api_list_body_new(const struct api_resource *r);
int api_list_body_add(struct api_list_body *b, const struct store_kv *kv, json_t *obj);
/* The items added so far, comma-separated (for the fuzz harness). */
const char *api_list_body_items(const struct api_list_body *b, size_t *len);
enum MHD_Result api_list_body_reply(struct api_req *q, struct api_list_body *b, int64_t rev,
				    const char *token);
void api_list_body_free(struct api_list_body *b);

/* Helpers of api_rest.c that the watch shares. */
struct kube_selector;
int api_parse_selectors(struct api_req *q, struct kube_selector **ls, struct kube_selector **fs,
			struct api_err *e);
bool api_obj_matches(json_t *obj, const struct kube_selector *ls, const struct kube_selector *fs);
int api_include_object(struct api_req *q);

/* Allocation of service addresses and node ports (api_alloc.c): a
 * Service row's allocate and release hooks. */
int api_alloc_service(struct api_server *s, json_t *svc, json_t *old, bool dry_run,
		      struct api_err *e);
void api_alloc_release(struct api_server *s, json_t *svc, json_t *keep);
/* Allocation keys no service holds, seen by the last repair pass. */
struct api_alloc_suspect {
	char *key;
	int64_t mod_revision;
};
struct api_alloc_repair {
	struct api_alloc_suspect *v;
	size_t n;
};
/* One repair pass: releases the keys found unheld by this pass and the
 * previous one, unchanged in between (*released: how many). */
int api_alloc_repair(struct api_server *s, struct api_alloc_repair *rep, size_t *released);
void api_alloc_repair_clear(struct api_alloc_repair *rep);

/* What a service-account token says of its user (api_token.c). */
struct api_sa_identity {
	char user[128]; /* system:serviceaccount:NS:NAME */
	char ns[64];
	char uid[64];	   /* the account's */
	char pod_name[256]; /* of the pod the token is bound to, else empty */
	char pod_uid[64];
	char jti[64];
};
/* The identity of a service-account token for audience: -EACCES when it
 * expired, is for another audience or issuer, or its account, pod or
 * secret is gone or was recreated; -EKEYREJECTED for a bad signature;
 * -EBADMSG when it is no JWT. */
int api_sa_token_user(struct api_server *s, const char *token, const char *audience,
		      struct api_sa_identity *out);
/* Authentication of a bearer token for audience (API_SA_ISSUER for the
 * API's own): the server's token file, then service-account tokens.
 * Sets q's user, uid, groups (with system:authenticated) and extra;
 * false when the token is none of these. */
bool api_authn_bearer(struct api_req *q, const char *token, const char *audience);

/* Impersonation (api_impersonate.c): the Impersonate-* headers, each
 * checked with the verb impersonate; q becomes the user impersonated.
 * False when the request was answered (403, or 500 for groups, uid or
 * extra without a user). */
bool api_impersonate(struct api_req *q, enum MHD_Result *ret);

/* The create of a row answered instead of stored (api_resource.answer):
 * the reviews of api_review.c. */
int api_review_answer(struct api_req *q, json_t *body, json_t **out, struct api_err *e);

/* The server's own metrics (api_metrics.c): request counts and
 * latencies, registered watchers; GET /metrics renders cfg.metrics. */
struct api_metrics;
int api_metrics_new(struct prom_registry *reg, struct api_metrics **out);
void api_metrics_free(struct api_metrics *m);
/* One request answered (q->code, 200 when unset), begun at start_ns. */
void api_metrics_request(struct api_req *q, unsigned long long start_ns);
/* The watchers gauge of the request's resource (NULL without metrics):
 * prom_inc when a watch starts, prom_dec when it ends. */
struct prom_series *api_metrics_watchers(struct api_req *q);
enum MHD_Result api_metrics_serve(struct api_req *q);

/* metrics.k8s.io/v1beta1 for `kubectl top` (api_top.c): the APIGroup of
 * /apis, and the requests under /apis/metrics.k8s.io (segs from the
 * group's segment on, n of them). */
json_t *api_top_group(void);
/* metrics.k8s.io/v1beta1's APIResourceList (the discovery documents). */
json_t *api_top_resources(void);
enum MHD_Result api_top_route(struct api_req *q, const char *url, char segs[][256], int n);

/* Discovery: the APIResourceList of a group version and the
 * APIGroupList (api_http.c), built-in and custom resources alike; the
 * aggregated form of both (apidiscovery.k8s.io v2 and v2beta1, as
 * kubectl 1.26+ asks for it first) made from them (api_discovery.c). */
json_t *api_discovery_resources(struct api_server *s, const char *group, const char *version);
json_t *api_discovery_groups(struct api_server *s);
/* The aggregated discovery version an Accept header asks for first
 * ("v2", "v2beta1"), or NULL. */
const char *api_discovery_wanted(const char *accept);
/* GET /api (core) or /apis as an APIGroupDiscoveryList. */
enum MHD_Result api_discovery_aggregated(struct api_req *q, bool core);

/* OpenAPI documents (api_openapi.c). */
enum MHD_Result api_openapi(struct api_req *q, const char *path);

/* control/api_kubesvc.c: the endpoints of Service default/kubernetes,
 * kube-apiserver's lease reconciler. Start runs it when the server has a
 * secure port, cfg.advertise_address and cfg.endpoint_lease_ttl; stop
 * (after s->stopping is set and s->wake broadcast) waits for it to remove
 * this server's lease. */
int api_kubesvc_start(struct api_server *s);
void api_kubesvc_stop(struct api_server *s);

#endif
