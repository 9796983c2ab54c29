/* Service-account tokens: the TokenRequest subresource
 * (POST serviceaccounts/NAME/token, `kubectl create token`) issues JWTs
 * signed with the server's service-account key (control/api_jwt.h), with
 * kube-apiserver's claims; and a bearer token is taken back as
 * system:serviceaccount:NS:NAME while it is in time and the account (and
 * the pod or secret it is bound to) is the one it was issued for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "control/api_internal.h"
#include "control/api_jwt.h"
#include "lib/util.h"

#define TOKEN_MIN_SECONDS 600
#define TOKEN_DEFAULT_SECONDS 3600
#define TOKEN_MAX_SECONDS (1LL << 32)
#define TOKEN_LEEWAY 60

/* For the messages of a TokenRequest, which has no row of its own. */
static const struct api_resource token_request = {
	.group = "authentication.k8s.io", .version = "v1", .kind = "TokenRequest",
	.plural = "tokenrequests", .singular = "tokenrequest",
};

/* ---- issuing ---- */

static int invalid(struct api_err *e, const char *name, long long v, const char *why)
{
	json_t *causes = json_array();

	api_cause(causes, "FieldValueInvalid", "spec.expirationSeconds", "Invalid value: %lld: %s",
		  v, why);
	api_err_invalid(e, &token_request, name, causes);
	return -EINVAL;
}

/* spec.expirationSeconds: 1 hour unless asked, at least 10 minutes. */
static int token_lifetime(json_t *spec, const char *name, long long *out, struct api_err *e)
{
	json_t *v = json_object_get(spec, "expirationSeconds");
	long long secs = json_is_integer(v) ? json_integer_value(v) : TOKEN_DEFAULT_SECONDS;

	if (secs < TOKEN_MIN_SECONDS)
		return invalid(e, name, secs, "may not specify a duration less than 10 minutes");
	if (secs > TOKEN_MAX_SECONDS)
		return invalid(e, name, secs, "may not specify a duration larger than 2^32 seconds");
	*out = secs;
	return 0;
}

/* The object spec.boundObjectRef names (a Pod or a Secret of the
 * account's namespace), checked against the uid it gives; *claim is what
 * the token says of it, NULL without a reference. */
static int bound_object(struct api_server *s, const char *ns, json_t *ref, json_t **claim,
			const char **kind_out, struct api_err *e)
{
	const char *kind = api_jstr(ref, "kind"), *name = api_jstr(ref, "name");
	const char *uid = api_jstr(ref, "uid");
	const struct api_resource *r = NULL;
	json_t *obj = NULL;
	int ret;

	*claim = NULL;
	if (!ref)
		return 0;
	if (streq(kind, "Pod"))
		r = api_resource_find("", "v1", "pods");
	else if (streq(kind, "Secret"))
		r = api_resource_find("", "v1", "secrets");
	if (!r) {
		api_err_set(e, 400, "BadRequest", "cannot bind token to object of type %s",
			    kind ? kind : "");
		return -EINVAL;
	}
	ret = api_obj_get(s, r, ns, name ? name : "", &obj, e);
	if (ret < 0)
		return ret;
	if (uid && *uid && !streq(uid, api_jstr(obj, "metadata.uid"))) {
		api_err_set(e, 409, "Conflict",
			    "the UID in the bound object reference (%s) does not match the UID in "
			    "record. The object might have been deleted and then recreated", uid);
		json_decref(obj);
		return -EBUSY;
	}
	*claim = json_pack("{s:O,s:O}", "name", api_jget(obj, "metadata.name"), "uid",
			   api_jget(obj, "metadata.uid"));
	*kind_out = streq(kind, "Pod") ? "pod" : "secret";
	json_decref(obj);
	return 0;
}

static void jti(char *buf, size_t len)
{
	unsigned char b[16] = { 0 };

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(now_ns() >> (i % 8));
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], (b[6] & 0x0f) | 0x40, b[7],
		 (b[8] & 0x3f) | 0x80, b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* kube-apiserver's claims for sa (and the object bound, may be NULL). */
static json_t *token_claims(json_t *sa, json_t *audiences, long long now, long long secs,
			    const char *bound_kind, json_t *bound)
{
	const char *ns = api_jstr(sa, "metadata.namespace"), *name = api_jstr(sa, "metadata.name");
	char sub[600], id[40];
	json_t *k8s;

	snprintf(sub, sizeof(sub), "system:serviceaccount:%s:%s", ns, name);
	jti(id, sizeof(id));
	k8s = json_pack("{s:s,s:{s:s,s:O}}", "namespace", ns, "serviceaccount", "name", name, "uid",
			api_jget(sa, "metadata.uid"));
	if (bound)
		json_object_set(k8s, bound_kind, bound);
	return json_pack("{s:O,s:I,s:I,s:s,s:s,s:o,s:I,s:s}", "aud", audiences, "exp",
			 (json_int_t)(now + secs), "iat", (json_int_t)now, "iss", API_SA_ISSUER,
			 "jti", id, "kubernetes.io", k8s, "nbf", (json_int_t)now, "sub", sub);
}

/* The TokenRequest answered: its spec as defaulted, the token and when it
 * expires. */
static json_t *token_answer(json_t *sa, json_t *audiences, long long secs, json_t *ref,
			    const char *token, long long exp)
{
	char ts[40];
	json_t *out;

	api_format_time((time_t)exp, ts, sizeof(ts));
	out = json_pack("{s:s,s:s,s:{s:O,s:O,s:n},s:{s:O,s:I},s:{s:s,s:s}}", "kind",
			"TokenRequest", "apiVersion", "authentication.k8s.io/v1", "metadata", "name",
			api_jget(sa, "metadata.name"), "namespace", api_jget(sa, "metadata.namespace"),
			"creationTimestamp", "spec", "audiences", audiences, "expirationSeconds",
			(json_int_t)secs, "status", "token", token, "expirationTimestamp", ts);
	if (ref)
		json_object_set(json_object_get(out, "spec"), "boundObjectRef", ref);
	else
		json_object_set_new(json_object_get(out, "spec"), "boundObjectRef", json_null());
	return out;
}

int api_sa_token(struct api_server *s, const struct api_resource *r, const char *ns,
		 const char *name, json_t *body, const struct api_write_opts *o, json_t **out,
		 struct api_err *e)
{
	json_t *spec = json_object_get(body, "spec"), *sa = NULL, *bound = NULL, *claims;
	json_t *aud = json_object_get(spec, "audiences"), *ref = json_object_get(spec, "boundObjectRef");
	const char *kind = api_jstr(body, "kind"), *bound_kind = NULL;
	_cleanup_free_ char *token = NULL;
	long long secs = 0, now = (long long)time(NULL);
	int ret;

	(void)o;
	if (!s->sa_key) {
		api_err_set(e, 500, "InternalError", "service account tokens are not configured");
		return -ENOKEY;
	}
	if (kind && !streq(kind, "TokenRequest")) {
		api_err_set(e, 400, "BadRequest", "not a TokenRequest object: %s", kind);
		return -EINVAL;
	}
	if ((ret = token_lifetime(spec, name, &secs, e)) < 0 ||
	    (ret = api_obj_get(s, r, ns, name, &sa, e)) < 0)
		return ret;
	ret = bound_object(s, ns, json_is_object(ref) ? ref : NULL, &bound, &bound_kind, e);
	if (ret < 0) {
		json_decref(sa);
		return ret;
	}
	aud = json_array_size(aud) ? json_incref(aud) : json_pack("[s]", API_SA_ISSUER);
	claims = token_claims(sa, aud, now, secs, bound_kind, bound);
	ret = claims ? api_jwt_sign(s->sa_key, claims, &token) : -ENOMEM;
	if (ret == 0)
		*out = token_answer(sa, aud, secs, json_is_object(ref) ? ref : NULL, token, now + secs);
	else
		api_err_set(e, 500, "InternalError", "cannot sign the token: %s", strerror(-ret));
	json_decref(claims);
	json_decref(bound);
	json_decref(aud);
	json_decref(sa);
	return ret;
}

/* ---- authenticating ---- */

/* Whether the object of kind (in ns) named by the claim still exists with
 * the uid the token was issued for. */
static bool still_there(struct api_server *s, const char *plural, const char *ns, json_t *claim)
{
	const struct api_resource *r = api_resource_find("", "v1", plural);
	const char *name = api_jstr(claim, "name"), *uid = api_jstr(claim, "uid");
	struct api_err e = { 0 };
	json_t *obj = NULL;
	bool ok;

	if (!name || !uid || api_obj_get(s, r, ns, name, &obj, &e) < 0) {
		api_err_free(&e);
		return false;
	}
	ok = streq(api_jstr(obj, "metadata.uid"), uid);
	json_decref(obj);
	return ok;
}

static void copy_claim(char *buf, size_t len, json_t *obj, const char *path)
{
	snprintf(buf, len, "%s", api_jstr(obj, path) ?: "");
}

int api_sa_token_user(struct api_server *s, const char *token, const char *audience,
		      struct api_sa_identity *out)
{
	json_t *claims = NULL, *k8s;
	const char *ns;
	int ret;

	if (!s->sa_key)
		return -ENOKEY;
	ret = api_jwt_verify(s->sa_key, token, &claims);
	if (ret == 0)
		ret = api_jwt_check(claims, API_SA_ISSUER, audience, time(NULL), TOKEN_LEEWAY);
	k8s = json_object_get(claims, "kubernetes.io");
	ns = api_jstr(k8s, "namespace");
	if (ret == 0 && (!ns || !still_there(s, "serviceaccounts", ns, json_object_get(k8s, "serviceaccount")) ||
			 (json_object_get(k8s, "pod") && !still_there(s, "pods", ns, json_object_get(k8s, "pod"))) ||
			 (json_object_get(k8s, "secret") &&
			  !still_there(s, "secrets", ns, json_object_get(k8s, "secret")))))
		ret = -EACCES;
	/* The user is the account the private claims name, as upstream. */
	if (ret == 0 && (snprintf(out->user, sizeof(out->user), "system:serviceaccount:%s:%s", ns,
				  api_jstr(k8s, "serviceaccount.name")) >= (int)sizeof(out->user) ||
			 snprintf(out->ns, sizeof(out->ns), "%s", ns) >= (int)sizeof(out->ns)))
		ret = -EBADMSG;
	if (ret == 0) {
		copy_claim(out->uid, sizeof(out->uid), k8s, "serviceaccount.uid");
		copy_claim(out->pod_name, sizeof(out->pod_name), k8s, "pod.name");
		copy_claim(out->pod_uid, sizeof(out->pod_uid), k8s, "pod.uid");
		copy_claim(out->jti, sizeof(out->jti), claims, "jti");
	}
	json_decref(claims);
	return ret;
}
