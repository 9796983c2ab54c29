/* The reviews: kinds whose create is answered from the request and never
 * stored, as kube-apiserver serves them.
 *   authentication.k8s.io/v1
 *     SelfSubjectReview   (`kubectl auth whoami`): the requester's user
 *                         (also in v1beta1, which kubectl 1.27 asks).
 *     TokenReview         a bearer token checked as the API checks it (the
 *                         token file, service-account tokens) for the
 *                         audiences asked, default the API's.
 *   authorization.k8s.io/v1
 *     SelfSubjectAccessReview  (`kubectl auth can-i`): whether the
 *                              requester may do what spec describes;
 *     SubjectAccessReview, LocalSubjectAccessReview (namespaced): whether
 *                              the user spec names (user, groups, uid,
 *                              extra, exactly as given) may;
 *     SelfSubjectRulesReview   (`kubectl auth can-i --list`): the rules
 *                              RBAC grants the requester in a namespace.
 * Access is decided by the server's own authorizers (api_authorize: the
 * Node authorizer, then RBAC); who may create each review is RBAC's
 * business like any create (everyone may create the Self ones, as
 * upstream's system:basic-user allows). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/api_internal.h"
#include "control/api_join.h"
#include "lib/util.h"

/* ---- shared pieces ---- */

static int check_kind(json_t *body, const char *want, struct api_err *e)
{
	const char *kind = api_jstr(body, "kind");

	if (kind && !streq(kind, want)) {
		api_err_set(e, 400, "BadRequest", "not a %s object: %s", want, kind);
		return -EINVAL;
	}
	return 0;
}

/* The answer: the request's metadata and spec, and status (stolen). */
static json_t *answer(struct api_req *q, json_t *body, json_t *status)
{
	json_t *meta = json_object_get(body, "metadata"), *spec = json_object_get(body, "spec"), *out;
	char av[128];

	snprintf(av, sizeof(av), "%s/%s", q->res->group, q->res->version);
	meta = json_is_object(meta) ? json_deep_copy(meta) : json_object();
	out = json_pack("{s:s,s:s,s:o,s:o}", "kind", q->res->kind, "apiVersion", av, "metadata",
			meta, "status", status);
	if (!json_object_get(meta, "creationTimestamp"))
		json_object_set_new(meta, "creationTimestamp", json_null());
	if (q->res->namespaced && q->ns[0])
		json_object_set_new(meta, "namespace", json_string(q->ns));
	if (spec)
		json_object_set(out, "spec", spec);
	return out;
}

/* A user as authentication.k8s.io's UserInfo. */
static json_t *user_info(const struct api_req *u)
{
	json_t *info = json_pack("{s:s}", "username", u->user), *groups = json_array();
	json_t *extra = json_object();

	if (u->uid[0])
		json_object_set_new(info, "uid", json_string(u->uid));
	for (size_t i = 0; i < u->n_groups; i++)
		json_array_append_new(groups, json_string(u->groups[i]));
	json_object_set_new(info, "groups", groups);
	for (size_t i = 0; i < u->n_extra; i++) {
		json_t *values = json_object_get(extra, u->extra[i].key);

		if (!values)
			json_object_set_new(extra, u->extra[i].key, values = json_array());
		json_array_append_new(values, json_string(u->extra[i].value));
	}
	if (json_object_size(extra))
		json_object_set_new(info, "extra", extra);
	else
		json_decref(extra);
	return info;
}

static int invalid(struct api_req *q, struct api_err *e, const char *field, const char *msg)
{
	json_t *causes = json_array();

	api_cause(causes, "FieldValueInvalid", field, "%s", msg);
	api_err_invalid(e, q->res, "", causes);
	return -EINVAL;
}

/* ---- authentication.k8s.io ---- */

static int self_subject_review(struct api_req *q, json_t *body, json_t **out, struct api_err *e)
{
	int r = check_kind(body, "SelfSubjectReview", e);

	if (r < 0)
		return r;
	*out = answer(q, body, json_pack("{s:o}", "userInfo", user_info(q)));
	return 0;
}

static int token_review(struct api_req *q, json_t *body, json_t **out, struct api_err *e)
{
	json_t *spec = json_object_get(body, "spec"), *asked = json_object_get(spec, "audiences");
	json_t *audiences = json_array(), *status;
	const char *token = api_jstr(spec, "token");
	struct api_req who = { .srv = q->srv };
	bool known = false;
	size_t i;
	int r = check_kind(body, "TokenReview", e);

	if (r < 0 || !token || !*token) {
		json_decref(audiences);
		if (r < 0)
			return r;
		api_err_set(e, 400, "BadRequest", "token is required for TokenReview in authentication.k8s.io");
		return -EINVAL;
	}
	if (!json_array_size(asked))
		json_array_append_new(audiences, json_string(API_SA_ISSUER));
	else
		json_array_extend(audiences, asked);
	/* The audiences the token is good for, of those asked. */
	for (i = 0; i < json_array_size(audiences);) {
		struct api_req t = { .srv = q->srv };
		const char *aud = json_string_value(json_array_get(audiences, i));

		if (aud && api_authn_bearer(&t, token, aud)) {
			who = t;
			known = true;
			i++;
		} else {
			json_array_remove(audiences, i);
		}
	}
	if (known) {
		status = json_pack("{s:b,s:o,s:o}", "authenticated", true, "user", user_info(&who),
				   "audiences", audiences);
	} else {
		json_decref(audiences);
		status = json_pack("{s:{},s:s}", "user", "error", "invalid bearer token");
	}
	*out = answer(q, body, status);
	return 0;
}

/* ---- authorization.k8s.io ---- */

static const char *str_or_empty(json_t *obj, const char *key)
{
	return api_jstr(obj, key) ?: "";
}

/* What spec asks about: exactly one of resourceAttributes and
 * nonResourceAttributes. The strings point into spec. */
static int access_attrs(struct api_req *q, json_t *spec, struct api_rbac_attrs *a,
			struct api_err *e)
{
	json_t *res = json_object_get(spec, "resourceAttributes");
	json_t *nonres = json_object_get(spec, "nonResourceAttributes");

	if (json_is_object(res) && json_is_object(nonres))
		return invalid(q, e, "spec.resourceAttributes",
			       "Invalid value: \"resourceAttributes\": cannot be specified in "
			       "combination with nonResourceAttributes");
	if (!json_is_object(res) && !json_is_object(nonres))
		return invalid(q, e, "spec.resourceAttributes",
			       "Invalid value: null: exactly one of nonResourceAttributes or "
			       "resourceAttributes must be specified");
	if (json_is_object(nonres)) {
		*a = (struct api_rbac_attrs){
			.verb = str_or_empty(nonres, "verb"),
			.path = str_or_empty(nonres, "path"),
		};
		return 0;
	}
	*a = (struct api_rbac_attrs){
		.verb = str_or_empty(res, "verb"),
		.group = str_or_empty(res, "group"),
		.resource = str_or_empty(res, "resource"),
		.subresource = str_or_empty(res, "subresource"),
		.namespace = str_or_empty(res, "namespace"),
		.name = str_or_empty(res, "name"),
	};
	return 0;
}

/* The status of an access review of subject doing a. */
static json_t *access_status(struct api_req *subject, const struct api_rbac_attrs *a)
{
	char why[400];
	bool ok = api_authorize(subject, a, why, sizeof(why), NULL);
	json_t *status = json_pack("{s:b}", "allowed", ok);

	if (why[0])
		json_object_set_new(status, "reason", json_string(why));
	return status;
}

static int self_access_review(struct api_req *q, json_t *body, json_t **out, struct api_err *e)
{
	struct api_rbac_attrs a;
	int r = check_kind(body, "SelfSubjectAccessReview", e);

	if (r < 0 || (r = access_attrs(q, json_object_get(body, "spec"), &a, e)) < 0)
		return r;
	*out = answer(q, body, access_status(q, &a));
	return 0;
}

/* The user a SubjectAccessReview's spec names, exactly as given. */
static int subject_of(struct api_req *q, json_t *spec, struct api_req *s, struct api_err *e)
{
	json_t *groups = json_object_get(spec, "groups"), *v, *values;
	const char *key;
	size_t i, j;

	*s = (struct api_req){ .srv = q->srv };
	snprintf(s->user, sizeof(s->user), "%s", str_or_empty(spec, "user"));
	snprintf(s->uid, sizeof(s->uid), "%s", str_or_empty(spec, "uid"));
	json_array_foreach(groups, i, v)
		if (json_string_value(v))
			api_req_add_group(s, json_string_value(v));
	json_object_foreach(json_object_get(spec, "extra"), key, values)
		json_array_foreach(values, j, v)
			if (json_string_value(v))
				api_req_add_extra(s, key, json_string_value(v));
	if (!s->user[0] && !s->n_groups)
		return invalid(q, e, "spec.user",
			       "Invalid value: \"\": at least one of user or group must be specified");
	return 0;
}

static int subject_access_review(struct api_req *q, json_t *body, json_t **out, struct api_err *e)
{
	json_t *spec = json_object_get(body, "spec");
	struct api_rbac_attrs a;
	struct api_req subject;
	bool local = q->res->namespaced;
	int r = check_kind(body, q->res->kind, e);

	if (r < 0 || (r = access_attrs(q, spec, &a, e)) < 0 || (r = subject_of(q, spec, &subject, e)) < 0)
		return r;
	if (local && !a.resource)
		return invalid(q, e, "spec.nonResourceAttributes",
			       "Invalid value: disallowed on this kind of request");
	if (local && !streq(a.namespace, q->ns)) {
		api_err_set(e, 400, "BadRequest",
			    "spec.resourceAttributes.namespace must match namespace: %s", q->ns);
		return -EINVAL;
	}
	*out = answer(q, body, access_status(&subject, &a));
	return 0;
}

static int self_rules_review(struct api_req *q, json_t *body, json_t **out, struct api_err *e)
{
	const char *ns = api_jstr(body, "spec.namespace");
	json_t *status;
	int r = check_kind(body, "SelfSubjectRulesReview", e);

	if (r < 0)
		return r;
	if (!ns || !*ns) {
		api_err_set(e, 400, "BadRequest", "no namespace on request");
		return -EINVAL;
	}
	status = api_rbac_rules(q, ns);
	/* As upstream's Node authorizer: a node's permissions are not rules. */
	if (api_node_user(q)) {
		json_object_set_new(status, "incomplete", json_true());
		json_object_set_new(status, "evaluationError",
				    json_string("node authorizer does not support user rule resolution"));
	}
	*out = answer(q, body, status);
	return 0;
}

/* ---- the table ---- */

static const struct {
	const char *group, *plural;
	int (*fn)(struct api_req *q, json_t *body, json_t **out, struct api_err *e);
} reviews[] = {
	{ "authentication.k8s.io", "selfsubjectreviews", self_subject_review },
	{ "authentication.k8s.io", "tokenreviews", token_review },
	{ "authorization.k8s.io", "selfsubjectaccessreviews", self_access_review },
	{ "authorization.k8s.io", "subjectaccessreviews", subject_access_review },
	{ "authorization.k8s.io", "localsubjectaccessreviews", subject_access_review },
	{ "authorization.k8s.io", "selfsubjectrulesreviews", self_rules_review },
};

int api_review_answer(struct api_req *q, json_t *body, json_t **out, struct api_err *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(reviews); i++)
		if (streq(q->res->group, reviews[i].group) && streq(q->res->plural, reviews[i].plural))
			return reviews[i].fn(q, body, out, e);
	api_err_set(e, 405, "MethodNotAllowed", "the server does not allow this method on %s",
		    q->res->plural);
	return -EOPNOTSUPP;
}
