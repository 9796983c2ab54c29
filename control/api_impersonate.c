/* Impersonation, as kube-apiserver's impersonation filter: a request
 * with Impersonate-User (and optionally Impersonate-Group, -Uid and
 * -Extra-KEY headers) runs as that user when its sender may impersonate
 * each of them: the verb impersonate on users, groups or serviceaccounts
 * (core group; a user system:serviceaccount:NS:NAME is the service
 * account NAME in NS) and on uids and userextras/KEY
 * (authentication.k8s.io), each named by the value. The first one refused
 * answers 403 and the request goes no further. The user impersonated has
 * exactly the groups, uid and extra asked for, and system:authenticated
 * unless system:authenticated or system:unauthenticated is among them (a
 * service account without groups asked for gets its own groups). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/util.h"

#define USER_HEADER "Impersonate-User"
#define GROUP_HEADER "Impersonate-Group"
#define UID_HEADER "Impersonate-Uid"
#define EXTRA_PREFIX "Impersonate-Extra-"
#define SA_PREFIX "system:serviceaccount:"

struct imp_request {
	const char *user, *uid;
	const char *groups[API_MAX_GROUPS];
	size_t n_groups;
	struct api_extra extra[API_MAX_EXTRA];
	size_t n_extra;
	bool too_many;
};

/* An extra's key as upstream reads it from the header name: lowercased
 * (Go canonicalizes header names), then percent-decoded. */
static void extra_key(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; in[i] && o + 1 < len; i++) {
		if (in[i] == '%' && isxdigit((unsigned char)in[i + 1]) &&
		    isxdigit((unsigned char)in[i + 2])) {
			char hex[3] = { in[i + 1], in[i + 2], 0 };

			out[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			out[o++] = (char)tolower((unsigned char)in[i]);
		}
	}
	out[o] = 0;
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct imp_request *r = cls;

	(void)kind;
	if (!key || !value)
		return MHD_YES;
	if (strcasecmp(key, USER_HEADER) == 0) {
		r->user = *value ? value : NULL; /* empty: none, as upstream */
	} else if (strcasecmp(key, UID_HEADER) == 0) {
		r->uid = *value ? value : NULL;
	} else if (strcasecmp(key, GROUP_HEADER) == 0) {
		if (r->n_groups + 1 < API_MAX_GROUPS) /* room for system:authenticated */
			r->groups[r->n_groups++] = value;
		else
			r->too_many = true;
	} else if (strncasecmp(key, EXTRA_PREFIX, strlen(EXTRA_PREFIX)) == 0) {
		struct api_extra *x = &r->extra[r->n_extra];

		if (r->n_extra >= API_MAX_EXTRA) {
			r->too_many = true;
			return MHD_YES;
		}
		extra_key(key + strlen(EXTRA_PREFIX), x->key, sizeof(x->key));
		snprintf(x->value, sizeof(x->value), "%s", value);
		r->n_extra++;
	}
	return MHD_YES;
}

/* Whether q's user may impersonate name as resource (group; sub and ns
 * may be NULL); else e is the 403. */
static bool may(struct api_req *q, const char *group, const char *resource, const char *sub,
		const char *ns, const char *name, struct api_err *e)
{
	struct api_rbac_attrs a = {
		.verb = "impersonate",
		.group = group,
		.resource = resource,
		.subresource = sub,
		.namespace = ns,
		.name = name,
	};

	return api_authorize(q, &a, NULL, 0, e);
}

/* The user asked for: a service account (its namespace into ns) or a
 * plain user. */
static bool may_be_user(struct api_req *q, const char *user, char *ns, size_t nlen,
			struct api_err *e)
{
	const char *rest = user + strlen(SA_PREFIX), *colon;

	ns[0] = 0;
	if (strncmp(user, SA_PREFIX, strlen(SA_PREFIX)) == 0 && (colon = strchr(rest, ':')) &&
	    colon > rest && colon[1] && !strchr(colon + 1, ':')) {
		snprintf(ns, nlen, "%.*s", (int)(colon - rest), rest);
		return may(q, "", "serviceaccounts", NULL, ns, colon + 1, e);
	}
	return may(q, "", "users", NULL, NULL, user, e);
}

static bool may_all(struct api_req *q, const struct imp_request *r, char *sa_ns, size_t nlen,
		    struct api_err *e)
{
	if (!may_be_user(q, r->user, sa_ns, nlen, e))
		return false;
	for (size_t i = 0; i < r->n_groups; i++)
		if (!may(q, "", "groups", NULL, NULL, r->groups[i], e))
			return false;
	for (size_t i = 0; i < r->n_extra; i++)
		if (!may(q, "authentication.k8s.io", "userextras", r->extra[i].key, NULL,
			 r->extra[i].value, e))
			return false;
	return !r->uid || may(q, "authentication.k8s.io", "uids", NULL, NULL, r->uid, e);
}

/* q becomes the user r asks for. */
static void become(struct api_req *q, const struct imp_request *r, const char *sa_ns)
{
	bool add_authenticated = true;
	char group[96];

	snprintf(q->user, sizeof(q->user), "%s", r->user);
	snprintf(q->uid, sizeof(q->uid), "%s", r->uid ?: "");
	q->n_groups = 0;
	for (size_t i = 0; i < r->n_groups; i++)
		api_req_add_group(q, r->groups[i]);
	if (sa_ns[0] && !r->n_groups) {
		snprintf(group, sizeof(group), "system:serviceaccounts:%s", sa_ns);
		api_req_add_group(q, "system:serviceaccounts");
		api_req_add_group(q, group);
	}
	q->n_extra = 0;
	for (size_t i = 0; i < r->n_extra; i++)
		api_req_add_extra(q, r->extra[i].key, r->extra[i].value);
	if (streq(q->user, "system:anonymous")) {
		api_req_add_group(q, "system:unauthenticated");
		return;
	}
	for (size_t i = 0; i < q->n_groups; i++)
		if (streq(q->groups[i], "system:authenticated") ||
		    streq(q->groups[i], "system:unauthenticated"))
			add_authenticated = false;
	if (add_authenticated)
		api_req_add_group(q, "system:authenticated");
}

bool api_impersonate(struct api_req *q, enum MHD_Result *ret)
{
	struct imp_request r = { 0 };
	struct api_err e = { 0 };
	char sa_ns[64];

	MHD_get_connection_values(q->conn, MHD_HEADER_KIND, collect, &r);
	if (!r.user && !r.uid && !r.n_groups && !r.n_extra && !r.too_many)
		return true;
	if (r.too_many) {
		api_err_set(&e, 400, "BadRequest",
			    "too many Impersonate-Group or Impersonate-Extra- headers (at most %d and %d)",
			    API_MAX_GROUPS - 1, API_MAX_EXTRA);
	} else if (!r.user) {
		api_err_set(&e, 500, "InternalError",
			    "Internal error occurred: requested impersonation of groups, a uid or "
			    "extra without impersonating a user");
	} else if (may_all(q, &r, sa_ns, sizeof(sa_ns), &e)) {
		become(q, &r, sa_ns);
		return true;
	}
	*ret = api_reply_err(q, &e);
	return false;
}
