/* skiff-server's HTTP front: libmicrohttpd daemons (HTTPS and an optional
 * loopback-only plain port), authentication, request bodies, routing,
 * discovery and the health endpoints. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "control/api_internal.h"
#include "control/api_join.h"
#include "control/api_jwt.h"
#include "control/api_openapi.h"
#include "lib/log.h"
#include "lib/util.h"

#define SERVER_MAJOR "1"
#define SERVER_MINOR "30"
#define SERVER_GIT_VERSION "v1.30.0+skiff"
/* MHD's memory per connection (its default is 32 KiB): the request's
 * headers, the reply's and the chunk being sent (bodies are read into
 * our own buffer, api_upload). MHD zeroes the whole of it between
 * requests, so all of it is resident, for every watch too. 8 KiB is
 * what Go's net/http keeps per connection (a 4 KiB reader and a 4 KiB
 * writer) and nginx's header buffer; a request whose headers do not fit
 * (about 7 KiB) is answered 431 by MHD. */
#define API_CONN_MEMORY (8 * 1024)

/* ---- replies ---- */

void api_add_warnings(struct MHD_Response *resp, const char *warnings)
{
	const char *line = warnings;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		/* RFC 7234's warn-text: a quoted string, its quotes escaped. */
		char w[1200] = "299 - \"";
		size_t n = strlen(w);

		for (size_t i = 0; i < len && n < sizeof(w) - 3; i++) {
			if (line[i] == '"' || line[i] == '\\')
				w[n++] = '\\';
			w[n++] = line[i];
		}
		w[n++] = '"';
		w[n] = 0;
		MHD_add_response_header(resp, "Warning", w);
		line = end ? end + 1 : NULL;
	}
}

static enum MHD_Result queue(struct api_req *q, unsigned code, const char *ctype, char *body,
			     size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	if (code == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"skiff\"");
	api_add_warnings(resp, q->warning);
	r = MHD_queue_response(q->conn, code, resp);
	MHD_destroy_response(resp);
	q->code = code;
	return r;
}

enum MHD_Result api_reply_json(struct api_req *q, unsigned code, json_t *json)
{
	char *s = json ? json_dumps(json, JSON_COMPACT) : NULL;
	size_t len;

	json_decref(json);
	if (!s)
		return MHD_NO;
	len = strlen(s);
	/* One trailing newline, as the Go encoder writes. */
	s = realloc(s, len + 2);
	if (!s)
		return MHD_NO;
	s[len++] = '\n';
	s[len] = 0;
	return queue(q, code, "application/json", s, len);
}

enum MHD_Result api_reply_text(struct api_req *q, unsigned code, const char *ctype,
			       const char *text)
{
	char *s = strdup(text);

	if (!s)
		return MHD_NO;
	return queue(q, code, ctype, s, strlen(s));
}

enum MHD_Result api_reply_bytes(struct api_req *q, unsigned code, const char *ctype,
				unsigned char *body, size_t len)
{
	return queue(q, code, ctype, (char *)body, len);
}

enum MHD_Result api_reply_err(struct api_req *q, struct api_err *e)
{
	json_t *st = api_err_status(e);
	unsigned code = e->code;

	api_err_free(e);
	return api_reply_json(q, code, st);
}

/* ---- discovery ---- */

static json_t *verbs_json(const char *const *verbs)
{
	json_t *a = json_array();

	for (; *verbs; verbs++)
		json_array_append_new(a, json_string(*verbs));
	return a;
}

static json_t *str_list(const char *const *v, size_t max)
{
	json_t *a = json_array();

	for (size_t i = 0; i < max && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void add_sub(json_t *list, const struct api_resource *r, const char *sub,
		    const char *group, const char *version, const char *kind,
		    const char *const *verbs)
{
	char name[96];
	json_t *e;

	snprintf(name, sizeof(name), "%s/%s", r->plural, sub);
	e = json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", name, "singularName", "", "namespaced",
		      r->namespaced, "kind", kind, "verbs", verbs_json(verbs));
	if (group) {
		json_object_set_new(e, "group", json_string(group));
		json_object_set_new(e, "version", json_string(version));
	}
	json_array_append_new(list, e);
}

/* A group/version's entries of an APIResourceList. */
struct resource_list {
	const char *group, *version;
	json_t *list;
};

static void resource_list_add(const struct api_resource *r, void *ud)
{
	static const char *const all[] = { "create", "delete", "deletecollection", "get", "list",
					   "patch", "update", "watch", NULL };
	static const char *const gpu[] = { "get", "patch", "update", NULL };
	static const char *const get[] = { "get", NULL };
	static const char *const cg[] = { "create", "get", NULL };
	static const char *const create[] = { "create", NULL };
	struct resource_list *rl = ud;
	json_t *list = rl->list;

	if (streq(r->group, rl->group) && streq(r->version, rl->version)) {
		json_t *e = json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", r->plural, "singularName",
			      r->singular, "namespaced", r->namespaced, "kind", r->kind, "verbs",
			      verbs_json(r->answer ? create : all));
		if (r->short_names[0])
			json_object_set_new(e, "shortNames", str_list(r->short_names, 4));
		if (r->categories[0])
			json_object_set_new(e, "categories", str_list(r->categories, 2));
		json_array_append_new(list, e);
		if (r->subresources & API_SUB_STATUS)
			add_sub(list, r, "status", NULL, NULL, r->kind, gpu);
		if (r->subresources & API_SUB_SCALE)
			add_sub(list, r, "scale", "autoscaling", "v1", "Scale", gpu);
		if (r->subresources & API_SUB_LOG)
			add_sub(list, r, "log", NULL, NULL, r->kind, get);
		if (r->subresources & API_SUB_EXEC) {
			add_sub(list, r, "exec", NULL, NULL, "PodExecOptions", cg);
			add_sub(list, r, "attach", NULL, NULL, "PodAttachOptions", cg);
			add_sub(list, r, "portforward", NULL, NULL, "PodPortForwardOptions", cg);
		}
		if (r->subresources & API_SUB_BINDING)
			add_sub(list, r, "binding", NULL, NULL, "Binding", create);
		for (const struct api_subresource *sr = r->subs; sr && sr->name; sr++) {
			const char *verbs[] = { sr->verb, NULL };

			add_sub(list, r, sr->name, sr->group, sr->version, sr->kind ?: r->kind, verbs);
		}
	}
}

json_t *api_discovery_resources(struct api_server *s, const char *group, const char *version)
{
	struct resource_list rl = { group, version, json_array() };
	char gv[128];

	for (size_t i = 0; i < api_n_resources; i++)
		resource_list_add(&api_resources[i], &rl);
	api_crd_each(s, resource_list_add, &rl);
	if (*group)
		snprintf(gv, sizeof(gv), "%s/%s", group, version);
	else
		snprintf(gv, sizeof(gv), "%s", version);
	return json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1",
			 "groupVersion", gv, "resources", rl.list);
}

/* The group's APIGroup (versions preferred first), NULL when unknown. */
static json_t *group_json(struct api_server *s, const char *group)
{
	const char *vs[16];
	size_t n = api_group_versions(s, group, vs, ARRAY_SIZE(vs));
	json_t *versions = json_array(), *g;
	char gv[128];

	for (size_t i = n; i-- > 0;) {
		snprintf(gv, sizeof(gv), "%s/%s", group, vs[i]);
		json_array_insert_new(versions, 0, json_pack("{s:s,s:s}", "groupVersion", gv,
							     "version", vs[i]));
	}
	if (!n) {
		json_decref(versions);
		return NULL;
	}
	g = json_pack("{s:s,s:o,s:O}", "name", group, "versions", versions, "preferredVersion",
		      json_array_get(versions, 0));
	return g;
}

struct group_list {
	struct api_server *s;
	json_t *groups;
};

static void group_list_add(const struct api_resource *r, void *ud)
{
	struct group_list *gl = ud;
	json_t *g;
	size_t i;

	if (!*r->group)
		return;
	json_array_foreach(gl->groups, i, g)
		if (streq(json_string_value(json_object_get(g, "name")), r->group))
			return;
	json_array_append_new(gl->groups, group_json(gl->s, r->group));
}

json_t *api_discovery_groups(struct api_server *s)
{
	struct group_list gl = { s, json_array() };

	for (size_t i = 0; i < api_n_resources; i++)
		group_list_add(&api_resources[i], &gl);
	api_crd_each(s, group_list_add, &gl);
	json_array_append_new(gl.groups, api_top_group());
	return json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups",
			 gl.groups);
}

static bool group_serves(struct api_server *s, const char *group, const char *version)
{
	const char *vs[16];
	size_t n = api_group_versions(s, group, vs, ARRAY_SIZE(vs));

	for (size_t i = 0; i < n; i++)
		if (streq(vs[i], version))
			return true;
	return false;
}

static enum MHD_Result reply_version(struct api_req *q)
{
	return api_reply_json(q, 200,
			      json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major",
					SERVER_MAJOR, "minor", SERVER_MINOR, "gitVersion",
					SERVER_GIT_VERSION, "gitCommit", "", "gitTreeState", "clean",
					"buildDate", "1970-01-01T00:00:00Z", "goVersion", "",
					"compiler", "gcc", "platform", "linux/amd64"));
}

/* ---- routing ---- */

static bool authorize(struct api_req *q, const char *url, enum MHD_Result *ret);

static int split_path(const char *url, char segs[][256], size_t max)
{
	size_t n = 0;
	const char *p = url;

	while (*p) {
		const char *e;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		len = e ? (size_t)(e - p) : strlen(p);
		if (n == max || len >= 256)
			return -E2BIG;
		memcpy(segs[n], p, len);
		segs[n][len] = 0;
		n++;
		p += len;
	}
	return (int)n;
}

static enum MHD_Result not_found(struct api_req *q)
{
	struct api_err e = { 0 };

	api_err_set(&e, 404, "NotFound", "the server could not find the requested resource");
	return api_reply_err(q, &e);
}

/* segs after the group/version prefix. */
static enum MHD_Result route_resource(struct api_req *q, const char *url, const char *group,
				      const char *version, char segs[][256], int n)
{
	enum MHD_Result ret;
	int i = 0;

	if (n >= 3 && streq(segs[0], "namespaces") &&
	    !(n == 3 && !*group && (streq(segs[2], "status") || streq(segs[2], "finalize")))) {
		snprintf(q->ns, sizeof(q->ns), "%s", segs[1]);
		i = 2;
	}
	q->res = api_resource_lookup(q->srv, group, version, segs[i]);
	if (!q->res)
		return not_found(q);
	if (q->ns[0] && !q->res->namespaced)
		return not_found(q);
	if (n > i + 1)
		snprintf(q->name, sizeof(q->name), "%s", segs[i + 1]);
	if (n > i + 2)
		snprintf(q->sub, sizeof(q->sub), "%s", segs[i + 2]);
	if (n > i + 3)
		return not_found(q);
	if (!authorize(q, url, &ret))
		return ret;
	if (api_proxy_wants(q))
		return api_proxy_pod(q);
	return api_rest_dispatch(q);
}

static enum MHD_Result route(struct api_req *q, const char *url)
{
	char segs[8][256];
	int n = split_path(url, segs, ARRAY_SIZE(segs));
	enum MHD_Result ret;

	if (n < 0)
		return not_found(q);
	if (!(n >= 2 && (streq(segs[0], "api") || streq(segs[0], "apis")) && n > (streq(segs[0], "api") ? 2 : 3)) &&
	    !authorize(q, url, &ret))
		return ret;
	if (n == 1 && (streq(segs[0], "healthz") || streq(segs[0], "livez") ||
		       streq(segs[0], "readyz")))
		return api_reply_text(q, 200, "text/plain; charset=utf-8", "ok");
	if (n == 1 && streq(segs[0], "version"))
		return reply_version(q);
	if (n >= 1 && streq(segs[0], "openapi"))
		return api_openapi(q, url);
	if (n == 1 && streq(segs[0], "metrics"))
		return api_metrics_serve(q);
	if (n == 1 && (streq(segs[0], "api") || streq(segs[0], "apis")) &&
	    api_discovery_wanted(q->accept))
		return api_discovery_aggregated(q, streq(segs[0], "api"));
	if (n >= 1 && streq(segs[0], "api")) {
		if (n == 1)
			return api_reply_json(q, 200,
					      json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions",
							"versions", "v1", "serverAddressByClientCIDRs",
							"clientCIDR", "0.0.0.0/0", "serverAddress", ""));
		if (!streq(segs[1], "v1"))
			return not_found(q);
		if (n == 2)
			return api_reply_json(q, 200, api_discovery_resources(q->srv, "", "v1"));
		return route_resource(q, url, "", "v1", segs + 2, n - 2);
	}
	if (n >= 1 && streq(segs[0], "apis")) {
		json_t *g;

		if (n >= 2 && streq(segs[1], "metrics.k8s.io"))
			return api_top_route(q, url, segs + 1, n - 1);

		if (n == 1)
			return api_reply_json(q, 200, api_discovery_groups(q->srv));
		if (n == 2) {
			g = group_json(q->srv, segs[1]);
			if (!g)
				return not_found(q);
			json_object_set_new(g, "kind", json_string("APIGroup"));
			json_object_set_new(g, "apiVersion", json_string("v1"));
			return api_reply_json(q, 200, g);
		}
		if (!group_serves(q->srv, segs[1], segs[2]))
			return not_found(q);
		if (n == 3)
			return api_reply_json(q, 200, api_discovery_resources(q->srv, segs[1], segs[2]));
		return route_resource(q, url, segs[1], segs[2], segs + 3, n - 3);
	}
	return not_found(q);
}

/* ---- authentication ---- */

static bool public_path(const char *url)
{
	return streq(url, "/healthz") || streq(url, "/livez") || streq(url, "/readyz");
}

static void add_groups_csv(struct api_req *q, const char *csv)
{
	char buf[512], *save = NULL;

	if (!csv)
		return;
	snprintf(buf, sizeof(buf), "%s", csv);
	for (char *g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save))
		api_req_add_group(q, g);
}

/* What a TLS connection's client certificate proved, kept for the
 * connection's later requests: the peer's chain cannot change within a
 * session (MHD answers no renegotiation), so verifying it again on every
 * request (a fifth of the server's CPU under a write load) only repeats
 * the answer. The certificate's expiry is checked on each request. */
struct api_conn_auth {
	bool verified;
	time_t not_after;
	char user[128];
	char orgs[API_MAX_GROUPS][96];
	size_t n_orgs;
};

static void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)conn;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = calloc(1, sizeof(struct api_conn_auth)); /* NULL: verify each time */
	} else {
		free(*socket_context);
		*socket_context = NULL;
	}
}

/* Verifies the peer's certificate against our CA and reads its CN and O
 * entries into a. */
static bool cert_verify(gnutls_session_t session, struct api_conn_auth *a)
{
	const gnutls_datum_t *certs;
	unsigned int status = 0, n = 0;
	gnutls_x509_crt_t crt;
	size_t ulen = sizeof(a->user);
	bool ok = false;

	certs = gnutls_certificate_get_peers(session, &n);
	if (!certs || n == 0)
		return false;
	if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0)
		return false;
	if (gnutls_x509_crt_init(&crt) < 0)
		return false;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, a->user, &ulen) == 0) {
		ok = true;
		a->not_after = gnutls_x509_crt_get_expiration_time(crt);
		for (a->n_orgs = 0; a->n_orgs < API_MAX_GROUPS; a->n_orgs++) {
			size_t olen = sizeof(a->orgs[0]);

			if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME,
							  (unsigned)a->n_orgs, 0, a->orgs[a->n_orgs],
							  &olen) < 0)
				break;
		}
	}
	gnutls_x509_crt_deinit(crt);
	return ok;
}

/* A client certificate signed by our CA: the user is its CN, the groups
 * its O entries (as Kubernetes reads client certificates). Verified once
 * per connection (struct api_conn_auth). */
static bool cert_user(struct api_req *q)
{
	const union MHD_ConnectionInfo *ci;
	struct api_conn_auth *a, fresh;

	ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	a = ci ? ci->socket_context : NULL;
	if (!a || !a->verified || time(NULL) >= a->not_after) {
		ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		if (!ci || !ci->tls_session)
			return false;
		if (!a)
			a = &fresh;
		*a = (struct api_conn_auth){ 0 };
		if (!cert_verify((gnutls_session_t)ci->tls_session, a))
			return false;
		a->verified = true;
	}
	snprintf(q->user, sizeof(q->user), "%s", a->user);
	for (size_t i = 0; i < a->n_orgs; i++)
		api_req_add_group(q, a->orgs[i]);
	return true;
}

/* A service-account token (control/api_token.c): the account's user and
 * uid, the groups Kubernetes gives every service account, and the extra
 * upstream adds (the pod a token is bound to, the token's id). */
static bool sa_token_user(struct api_req *q, const char *token, const char *audience)
{
	struct api_sa_identity id;
	char group[96], cred[80];

	if (api_sa_token_user(q->srv, token, audience, &id) < 0)
		return false;
	snprintf(q->user, sizeof(q->user), "%s", id.user);
	snprintf(q->uid, sizeof(q->uid), "%s", id.uid);
	snprintf(group, sizeof(group), "system:serviceaccounts:%s", id.ns);
	api_req_add_group(q, "system:serviceaccounts");
	api_req_add_group(q, group);
	api_req_add_group(q, "system:authenticated");
	if (id.jti[0]) {
		snprintf(cred, sizeof(cred), "JTI=%s", id.jti);
		api_req_add_extra(q, "authentication.kubernetes.io/credential-id", cred);
	}
	if (id.pod_name[0]) {
		api_req_add_extra(q, "authentication.kubernetes.io/pod-name", id.pod_name);
		api_req_add_extra(q, "authentication.kubernetes.io/pod-uid", id.pod_uid);
	}
	return true;
}

bool api_authn_bearer(struct api_req *q, const char *token, const char *audience)
{
	/* The token file's users are the API's own audience's only, as
	 * upstream's audience-agnostic authenticators are. */
	for (size_t i = 0; i < q->srv->n_tokens && streq(audience, API_SA_ISSUER); i++) {
		if (streq(q->srv->tokens[i].token, token)) {
			snprintf(q->user, sizeof(q->user), "%s", q->srv->tokens[i].user);
			snprintf(q->uid, sizeof(q->uid), "%s", q->srv->tokens[i].uid ?: "");
			add_groups_csv(q, q->srv->tokens[i].groups);
			api_req_add_group(q, "system:authenticated");
			return true;
		}
	}
	return sa_token_user(q, token, audience);
}

static bool authenticate(struct api_req *q, bool tls, const char *url)
{
	const char *auth;

	if (!tls) {
		/* The plain port is loopback-only and trusted. */
		snprintf(q->user, sizeof(q->user), "system:admin");
		api_req_add_group(q, "system:masters");
		api_req_add_group(q, "system:authenticated");
		return true;
	}
	if (public_path(url))
		return true;
	auth = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Authorization");
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		return api_authn_bearer(q, auth + 7, API_SA_ISSUER);
	if (!cert_user(q))
		return false;
	api_req_add_group(q, "system:authenticated");
	return true;
}

static const char *verb_of(struct api_req *q)
{
	if (streq(q->method, "GET") || streq(q->method, "HEAD")) {
		if (api_query_bool(q, "watch"))
			return "watch";
		return q->name[0] ? "get" : "list";
	}
	if (streq(q->method, "POST"))
		return "create";
	if (streq(q->method, "PUT"))
		return "update";
	if (streq(q->method, "PATCH"))
		return "patch";
	if (streq(q->method, "DELETE"))
		return q->name[0] ? "delete" : "deletecollection";
	return "unknown";
}

/* Answers 403 unless the authorizers allow; false when the request was
 * answered. */
static bool authorize(struct api_req *q, const char *url, enum MHD_Result *ret)
{
	struct api_rbac_attrs a = {
		.verb = verb_of(q),
		.path = url,
	};
	struct api_err e = { 0 };

	if (!q->user[0])
		return true; /* anonymous health checks */
	if (q->res) {
		a.group = q->res->group;
		a.resource = q->res->plural;
		a.subresource = q->sub;
		a.verb = api_policy_sub_verb(a.group, a.resource, q->sub, a.verb);
		a.namespace = q->ns;
		a.name = q->name;
	} else {
		a.verb = streq(q->method, "GET") ? "get" : verb_of(q);
	}
	if (api_authorize(q, &a, NULL, 0, &e))
		return true;
	*ret = api_reply_err(q, &e);
	return false;
}

/* ---- the MHD callbacks ---- */

struct api_upload {
	char *buf;
	size_t len, cap;
	bool too_large;
	unsigned long long start_ns; /* the request's first call */
};

static enum MHD_Result serve(struct api_req *q, const char *url, struct api_upload *up, bool tls);

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_size, void **req_cls, bool tls)
{
	struct api_server *s = cls;
	struct api_upload *up = *req_cls;
	struct api_req q = { .srv = s, .conn = conn, .method = method };
	enum MHD_Result ret;

	(void)version;
	if (!up) {
		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		*req_cls = up;
		up->start_ns = now_ns();
		return MHD_YES;
	}
	if (*data_size) {
		if (!up->too_large && up->len + *data_size > s->cfg.max_body) {
			up->too_large = true;
			free(up->buf);
			up->buf = NULL;
			up->len = up->cap = 0;
		}
		if (!up->too_large) {
			if (up->len + *data_size + 1 > up->cap) {
				size_t cap = (up->len + *data_size + 1) * 2;
				char *b = realloc(up->buf, cap);

				if (!b)
					return MHD_NO;
				up->buf = b;
				up->cap = cap;
			}
			memcpy(up->buf + up->len, data, *data_size);
			up->len += *data_size;
			up->buf[up->len] = 0;
		}
		*data_size = 0;
		return MHD_YES;
	}
	ret = serve(&q, url, up, tls);
	api_metrics_request(&q, up->start_ns);
	return ret;
}

/* A request whose body has arrived. */
static enum MHD_Result serve(struct api_req *q, const char *url, struct api_upload *up, bool tls)
{
	struct api_err e = { 0 };
	enum MHD_Result ret;

	q->body = up->buf;
	q->body_len = up->len;
	q->ctype = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Content-Type");
	q->accept = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Accept");
	q->table = q->accept && strstr(q->accept, "as=Table");
	if (tls && api_join_path(url))
		return api_join_serve(q, url);
	if (!authenticate(q, tls, url)) {
		api_err_set(&e, 401, "Unauthorized", "Unauthorized");
		return api_reply_err(q, &e);
	}
	if (q->user[0] && !api_impersonate(q, &ret))
		return ret;
	if (up->too_large) {
		api_err_set(&e, 413, "RequestEntityTooLarge",
			    "Request entity too large: limit is %zu", q->srv->cfg.max_body);
		return api_reply_err(q, &e);
	}
	return route(q, url);
}

static enum MHD_Result handle_tls(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **req_cls)
{
	return handle(cls, conn, url, method, version, data, data_size, req_cls, true);
}

static enum MHD_Result handle_plain(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version, const char *data,
				    size_t *data_size, void **req_cls)
{
	return handle(cls, conn, url, method, version, data, data_size, req_cls, false);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_upload *up = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (up) {
		free(up->buf);
		free(up);
		*req_cls = NULL;
	}
}

/* ---- lifecycle ---- */

static int read_file(const char *dir, const char *name, char **out)
{
	char path[4096];
	_cleanup_close_ int fd = -1;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return read_all(fd, 1 << 20, out, &len);
}

/* Splits one CSV line (fields may be double-quoted) in place. */
static size_t csv_split(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (*p && n < max) {
		char *out;

		if (*p == '"') {
			fields[n++] = out = ++p;
			while (*p && *p != '"')
				*out++ = *p++;
			if (*p)
				p++;
			*out = 0;
			while (*p && *p != ',')
				p++;
		} else {
			fields[n++] = p;
			while (*p && *p != ',')
				p++;
		}
		if (*p == ',')
			*p++ = 0;
	}
	return n;
}

/* kube-apiserver's --token-auth-file: token,user,uid[,"group1,group2"]. */
static int load_tokens(struct api_server *s, const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[1024];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *fields[4] = { 0 };
		size_t n;
		struct api_token *t;

		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == '#' || !line[0])
			continue;
		n = csv_split(line, fields, 4);
		if (n < 2 || !*fields[0] || !*fields[1])
			return -EINVAL;
		t = realloc(s->tokens, (s->n_tokens + 1) * sizeof(*t));
		if (!t)
			return -ENOMEM;
		s->tokens = t;
		t = &s->tokens[s->n_tokens];
		t->token = strdup(fields[0]);
		t->user = strdup(fields[1]);
		t->uid = n > 2 ? strdup(fields[2]) : NULL;
		t->groups = n > 3 ? strdup(fields[3]) : NULL;
		s->n_tokens++;
		if (!t->token || !t->user || (n > 2 && !t->uid) || (n > 3 && !t->groups))
			return -ENOMEM;
	}
	return 0;
}

/* <data-dir>/tls/service-account.key, made on first start and kept, so
 * the tokens issued stay valid across restarts. */
static int sa_key_load(struct api_server *s)
{
	char dir[4096], path[4200];

	if (!s->cfg.data_dir)
		return 0;
	snprintf(dir, sizeof(dir), "%s/tls", s->cfg.data_dir);
	snprintf(path, sizeof(path), "%s/service-account.key", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return api_jwt_key_load(path, true, &s->sa_key);
}

int api_server_new(const struct api_config *cfg, struct store *store, struct api_server **out)
{
	struct api_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->store = store;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	if (!s->cfg.max_body)
		s->cfg.max_body = 3 * 1024 * 1024;
	r = api_render_cache_new(&s->render_cache);
	if (r == 0)
		r = api_rbac_cache_new(&s->rbac_cache);
	if (r == 0)
		r = api_crd_table_new(&s->crds);
	if (r < 0)
		goto fail;
	api_crd_on_publish(s->crds, api_crd_openapi_publish);
	r = api_proxy_new(&s->proxy);
	if (r == 0)
		r = api_metrics_new(cfg->metrics, &s->metrics);
	if (r == 0)
		r = api_openapi_new(&s->openapi);
	if (r < 0)
		goto fail;
	r = api_svc_ranges_parse(cfg->service_cidr ? cfg->service_cidr : API_DEFAULT_SERVICE_CIDR, s->ranges,
				 &s->n_ranges);
	if (r < 0)
		goto fail;
	if (cfg->token_file) {
		r = load_tokens(s, cfg->token_file);
		if (r < 0)
			goto fail;
	}
	r = sa_key_load(s);
	if (r < 0)
		goto fail;
	if (cfg->secure_port) {
		if ((r = read_file(cfg->data_dir, "tls/server.crt", &s->tls_cert)) < 0 ||
		    (r = read_file(cfg->data_dir, "tls/server.key", &s->tls_key)) < 0 ||
		    (r = read_file(cfg->data_dir, "tls/ca.crt", &s->tls_ca)) < 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	api_server_free(s);
	return r;
}

/* Creates an object the server itself keeps (through the object layer,
 * as kubectl's would be). */
static int bootstrap_create(struct api_server *s, const struct api_resource *r, json_t *obj)
{
	struct api_err e = { 0 };
	json_t *out = NULL;
	int ret = api_obj_create(s, r, NULL, obj, NULL, &out, &e);

	api_err_free(&e);
	json_decref(out);
	return ret;
}

static int ensure_namespace(struct api_server *s, const char *name)
{
	const struct api_resource *ns = api_resource_find("", "v1", "namespaces");
	json_t *obj = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
				"metadata", "name", name);
	int r = bootstrap_create(s, ns, obj);

	json_decref(obj);
	return r == -EEXIST ? 0 : r;
}

/* The bootstrap roles kube-apiserver makes: cluster-admin for
 * system:masters, and (api_rbac_bootstrap_objects) view, edit and admin
 * to bind and the roles of the server's own components. */
static int ensure_bootstrap_rbac(struct api_server *s)
{
	const struct api_resource *cr = api_resource_find("rbac.authorization.k8s.io", "v1", "clusterroles");
	const struct api_resource *crb =
		api_resource_find("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
	json_t *objs[2];
	int r = 0;

	objs[0] = json_pack("{s:s,s:s,s:{s:s},s:[{s:[s],s:[s],s:[s]},{s:[s],s:[s]}]}", "apiVersion",
			    "rbac.authorization.k8s.io/v1", "kind", "ClusterRole", "metadata", "name",
			    "cluster-admin", "rules", "apiGroups", "*", "resources", "*", "verbs", "*",
			    "nonResourceURLs", "*", "verbs", "*");
	objs[1] = json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:s,s:s},s:[{s:s,s:s,s:s}]}", "apiVersion",
			    "rbac.authorization.k8s.io/v1", "kind", "ClusterRoleBinding", "metadata",
			    "name", "cluster-admin", "roleRef", "apiGroup", "rbac.authorization.k8s.io",
			    "kind", "ClusterRole", "name", "cluster-admin", "subjects", "apiGroup",
			    "rbac.authorization.k8s.io", "kind", "Group", "name", "system:masters");
	json_t *own = api_rbac_bootstrap_objects(), *o;
	size_t k;

	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		int c = bootstrap_create(s, i < 1 ? cr : crb, objs[i]);

		json_decref(objs[i]);
		if (c < 0 && c != -EEXIST && r == 0)
			r = c;
	}
	json_array_foreach(own, k, o) {
		int c = bootstrap_create(s, streq(api_jstr(o, "kind"), "ClusterRole") ? cr : crb, o);

		if (c < 0 && c != -EEXIST && r == 0)
			r = c;
	}
	json_decref(own);
	return r;
}

/* Creates a Service the server keeps. Another server on the same store
 * may be making it at this moment: its claim on the address fails ours
 * until its create lands (then -EEXIST, fine) or is undone (then ours
 * succeeds). Takes obj. */
static int ensure_service(struct api_server *s, json_t *obj)
{
	const struct api_resource *svc = api_resource_find("", "v1", "services");
	int r = -ENOMEM;

	for (int try = 0; obj && try < 10; try++) {
		r = bootstrap_create(s, svc, obj);
		if (r == 0 || r == -EEXIST)
			break;
		usleep(200 * 1000);
	}
	json_decref(obj);
	return r == -EEXIST ? 0 : r;
}

/* default/kubernetes: the first address of the service range, port 443
 * to the secure port, as kube-apiserver keeps it. */
static int ensure_kubernetes_service(struct api_server *s)
{
	char ip[INET6_ADDRSTRLEN];

	api_svc_range_addr(&s->ranges[0], 1, ip, sizeof(ip));
	return ensure_service(
		s, json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s}},s:{s:s,s:s,s:[{s:s,s:i,s:i,s:s}]}}",
			     "apiVersion", "v1", "kind", "Service", "metadata", "name", "kubernetes",
			     "namespace", "default", "labels", "component", "apiserver", "provider",
			     "kubernetes", "spec", "type", "ClusterIP", "clusterIP", ip, "ports",
			     "name", "https", "port", 443, "targetPort",
			     s->cfg.secure_port ? s->cfg.secure_port : 6443, "protocol", "TCP"));
}

/* kube-system/kube-dns, the cluster DNS Service pods' resolv.conf names:
 * the 10th address of the service range (or --cluster-dns), ports 53
 * UDP "dns" and TCP "dns-tcp", as kubeadm makes it for CoreDNS. It has no
 * selector: every skiff-agent answers its ClusterIP itself, node-locally
 * (dataplane/dns/dns_local.c). */
static int ensure_kube_dns_service(struct api_server *s)
{
	char ip[INET6_ADDRSTRLEN];
	int r;

	if (s->cfg.cluster_dns)
		strscpy(ip, s->cfg.cluster_dns, sizeof(ip));
	else
		api_svc_range_addr(&s->ranges[0], 10, ip, sizeof(ip));
	r = ensure_service(
		s, json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s,s:s}},s:{s:s,s:s,s:[{s:s,s:i,s:i,s:s},"
			     "{s:s,s:i,s:i,s:s}]}}",
			     "apiVersion", "v1", "kind", "Service", "metadata", "name", "kube-dns",
			     "namespace", "kube-system", "labels", "k8s-app", "kube-dns",
			     "kubernetes.io/cluster-service", "true", "kubernetes.io/name", "CoreDNS",
			     "spec", "type", "ClusterIP", "clusterIP", ip, "ports", "name", "dns",
			     "port", 53, "targetPort", 53, "protocol", "UDP", "name", "dns-tcp", "port",
			     53, "targetPort", 53, "protocol", "TCP"));
	if (r < 0)
		log_error("Service kube-system/kube-dns: cannot create it with clusterIP %s (in %s?): %s",
			  ip, s->ranges[0].text, strerror(-r));
	return r;
}

/* As many connections as descriptors allow: each watch holds one (and a
 * thread), and select() would stop near 1,024. */
static unsigned connection_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 65536;
	/* Room for the store's, the log's and the listeners' descriptors. */
	return rl.rlim_cur > 256 ? (unsigned)(rl.rlim_cur - 128) : (unsigned)rl.rlim_cur / 2;
}

static struct MHD_Daemon *start_daemon(struct api_server *s, bool tls, const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr *sa = (struct sockaddr *)&sin;
	/* Upgrades: pods/exec, attach and portforward hand the connection
	 * over to a relay (api_proxy.c). */
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_ALLOW_UPGRADE;
	unsigned limit = connection_limit();

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) != 1)
			return NULL;
		sa = (struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	}
	if (tls)
		return MHD_start_daemon(flags | MHD_USE_TLS, (uint16_t)port, NULL, NULL, handle_tls, s,
					MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_HTTPS_MEM_CERT,
					s->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key,
					MHD_OPTION_HTTPS_MEM_TRUST, s->tls_ca,
					MHD_OPTION_NOTIFY_COMPLETED, request_done, s,
					MHD_OPTION_NOTIFY_CONNECTION, conn_notify, s,
					MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
					MHD_OPTION_CONNECTION_LIMIT, limit,
					MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY,
					MHD_OPTION_END);
	return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle_plain, s,
				MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_NOTIFY_COMPLETED, request_done,
				s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
				MHD_OPTION_CONNECTION_LIMIT, limit,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY, MHD_OPTION_END);
}

/* Raises the open-file limit to the hard limit: one descriptor per
 * connection. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open-file limit to %llu: %s",
				 (unsigned long long)rl.rlim_max, strerror(errno));
	}
}

/* Every interval, drops the history older than the revision seen at the
 * previous tick, so a watch can resume from any RV younger than one
 * interval (kube-apiserver's --etcd-compaction-interval), and runs the
 * allocation repair pass (kube-apiserver's repair controllers). */
static void *compactor(void *arg)
{
	struct api_server *s = arg;
	struct api_alloc_repair rep = { 0 };
	int64_t prev = 0;

	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stopping)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += s->cfg.compact_interval;
		while (!atomic_load(&s->stopping) &&
		       pthread_cond_timedwait(&s->wake, &s->lock, &ts) != ETIMEDOUT)
			;
		if (atomic_load(&s->stopping))
			break;
		pthread_mutex_unlock(&s->lock);
		if (prev > store_compacted_revision(s->store)) {
			int r = store_compact(s->store, prev);

			if (r < 0)
				log_warn("compaction to revision %lld failed: %s", (long long)prev,
					 strerror(-r));
			else
				log_debug("compacted to revision %lld", (long long)prev);
		}
		prev = store_revision(s->store);
		{
			size_t freed = 0;
			int r = api_alloc_repair(s, &rep, &freed);

			if (r < 0)
				log_warn("allocation repair failed: %s", strerror(-r));
			else if (freed)
				log_info("released %zu service address/port allocation(s) no service held",
					 freed);
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	api_alloc_repair_clear(&rep);
	return NULL;
}

int api_server_start(struct api_server *s)
{
	static const char *const defaults[] = { "default", "kube-system", "kube-public",
						"kube-node-lease" };
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++) {
		r = ensure_namespace(s, defaults[i]);
		if (r < 0)
			return r;
	}
	r = ensure_kubernetes_service(s);
	if (r < 0)
		return r;
	r = ensure_kube_dns_service(s);
	if (r < 0)
		return r;
	r = ensure_bootstrap_rbac(s);
	if (r < 0)
		return r;
	r = api_policy_bootstrap(s);
	if (r < 0)
		return r;
	r = api_crd_reload(s);
	if (r == 0)
		r = api_crd_watch_start(s);
	if (r < 0)
		return r;
	raise_nofile();
	if (s->cfg.secure_port) {
		s->secure = start_daemon(s, true, s->cfg.bind_address ? s->cfg.bind_address : "0.0.0.0",
					 s->cfg.secure_port);
		if (!s->secure)
			return -EADDRINUSE;
	}
	if (s->cfg.insecure_port) {
		s->insecure = start_daemon(s, false, "127.0.0.1", s->cfg.insecure_port);
		if (!s->insecure)
			return -EADDRINUSE;
	}
	if (s->cfg.compact_interval > 0) {
		r = -pthread_create(&s->compactor, NULL, compactor, s);
		if (r < 0)
			return r;
		s->compactor_running = true;
	}
	return api_kubesvc_start(s);
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stopping, true);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (s->compactor_running) {
		pthread_join(s->compactor, NULL);
		s->compactor_running = false;
	}
	api_kubesvc_stop(s);
	api_crd_watch_stop(s);
	api_proxy_shutdown(s->proxy);
	if (s->secure)
		MHD_stop_daemon(s->secure);
	if (s->insecure)
		MHD_stop_daemon(s->insecure);
	s->secure = s->insecure = NULL;
}

void api_server_free(struct api_server *s)
{
	if (!s)
		return;
	api_server_stop(s);
	for (size_t i = 0; i < s->n_tokens; i++) {
		free(s->tokens[i].token);
		free(s->tokens[i].user);
		free(s->tokens[i].uid);
		free(s->tokens[i].groups);
	}
	free(s->tokens);
	free(s->tls_cert);
	free(s->tls_key);
	free(s->tls_ca);
	api_jwt_key_free(s->sa_key);
	api_render_cache_free(s->render_cache);
	api_proxy_free(s->proxy);
	api_metrics_free(s->metrics);
	api_openapi_free(s->openapi);
	api_rbac_cache_free(s->rbac_cache);
	api_crd_table_free(s->crds);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}
