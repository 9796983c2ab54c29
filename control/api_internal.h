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

struct api_token {
	char *token;
	char *user;
	char *groups; /* comma-separated, may be NULL */
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
	pthread_mutex_t lock; /* guards the compactor's sleep */
	pthread_cond_t wake;
	pthread_t compactor;
	bool compactor_running;
	struct api_svc_range ranges[2]; /* the primary family first */
	size_t n_ranges;
	struct api_render_cache *render_cache; /* watch events rendered once (api_watch.c) */
	struct api_rbac_cache *rbac_cache; /* roles and bindings parsed once (api_rbac.c) */
	struct api_jwt_key *sa_key; /* signs service-account tokens (api_token.c) */
	struct api_proxy *proxy; /* the kubelet client (api_proxy.c) */
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
	char warning[512]; /* sent as a Warning header when set */
};

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
struct api_rbac_cache;
int api_rbac_cache_new(struct api_rbac_cache **out);
void api_rbac_cache_free(struct api_rbac_cache *c);
/* The ClusterRoles and ClusterRoleBindings the server makes for its own
 * components (system:kube-scheduler, system:kube-controller-manager), as
 * a new array of objects. */
json_t *api_rbac_bootstrap_objects(void);

/* Replies; each returns the MHD result of queueing. json is stolen. */
enum MHD_Result api_reply_json(struct api_req *q, unsigned code, json_t *json);
enum MHD_Result api_reply_err(struct api_req *q, struct api_err *e);
enum MHD_Result api_reply_text(struct api_req *q, unsigned code, const char *ctype,
			       const char *text);

const char *api_query(struct api_req *q, const char *key);

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

/* The user a service-account token names (system:serviceaccount:NS:NAME)
 * and its namespace (api_token.c): -EACCES when it expired, is not for
 * this server, or its account, pod or secret is gone or was recreated;
 * -EKEYREJECTED for a bad signature; -EBADMSG when it is no JWT. */
int api_sa_token_user(struct api_server *s, const char *token, char *user, size_t ulen,
		      char *ns, size_t nlen);

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

#endif
