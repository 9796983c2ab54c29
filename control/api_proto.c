/* Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf)
 * turned into the JSON object the rest of the server works on.
 *
 * The body is "k8s\0" and a runtime.Unknown: typeMeta (apiVersion, kind)
 * and raw, the object's own message. The kinds kubectl 1.32+ creates with
 * typed commands are declared in control/k8s.proto with their JSON names;
 * the object is written by walking protobuf-c's descriptors. Go's encoder
 * writes every non-pointer field, zero or not, so zero values are left
 * out as JSON's omitempty would, except for the pointer fields listed in
 * keep_zero, where a zero on the wire is the user's. Anything on the wire
 * that k8s.proto does not declare fails the request with a 415 naming the
 * field: never a silently dropped field. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control/api.h"
#include "control/k8s.pb-c.h"
#include "lib/base64.h"
#include "lib/util.h"

#define PROTO_MAGIC "k8s\0"
#define PROTO_MAX_DEPTH 16

struct proto_kind {
	const char *api_version;
	const char *kind;
	const ProtobufCMessageDescriptor *desc;
};

static const struct proto_kind proto_kinds[] = {
	{ "v1", "ConfigMap", &skiff__k8s__config_map__descriptor },
	{ "v1", "Secret", &skiff__k8s__secret__descriptor },
	{ "v1", "Namespace", &skiff__k8s__namespace__descriptor },
	{ "v1", "ServiceAccount", &skiff__k8s__service_account__descriptor },
	{ "v1", "Service", &skiff__k8s__service__descriptor },
	{ "apps/v1", "Deployment", &skiff__k8s__deployment__descriptor },
	{ "batch/v1", "Job", &skiff__k8s__job__descriptor },
	{ "batch/v1", "CronJob", &skiff__k8s__cron_job__descriptor },
	{ "rbac.authorization.k8s.io/v1", "Role", &skiff__k8s__role__descriptor },
	{ "rbac.authorization.k8s.io/v1", "RoleBinding", &skiff__k8s__role_binding__descriptor },
	{ "rbac.authorization.k8s.io/v1", "ClusterRole", &skiff__k8s__cluster_role__descriptor },
	{ "rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
	  &skiff__k8s__cluster_role_binding__descriptor },
	{ "networking.k8s.io/v1", "Ingress", &skiff__k8s__ingress__descriptor },
	{ "policy/v1", "PodDisruptionBudget", &skiff__k8s__pod_disruption_budget__descriptor },
	{ "scheduling.k8s.io/v1", "PriorityClass", &skiff__k8s__priority_class__descriptor },
	{ "policy/v1", "Eviction", &skiff__k8s__eviction__descriptor },
	{ "policy/v1beta1", "Eviction", &skiff__k8s__eviction__descriptor },
	{ "authentication.k8s.io/v1", "TokenRequest", &skiff__k8s__token_request__descriptor },
	{ "authentication.k8s.io/v1", "SelfSubjectReview",
	  &skiff__k8s__self_subject_review__descriptor },
	{ "authentication.k8s.io/v1", "TokenReview", &skiff__k8s__token_review__descriptor },
	{ "authorization.k8s.io/v1", "SelfSubjectAccessReview",
	  &skiff__k8s__self_subject_access_review__descriptor },
	{ "authorization.k8s.io/v1", "SubjectAccessReview",
	  &skiff__k8s__subject_access_review__descriptor },
	{ "authorization.k8s.io/v1", "LocalSubjectAccessReview",
	  &skiff__k8s__subject_access_review__descriptor },
	{ "authorization.k8s.io/v1", "SelfSubjectRulesReview",
	  &skiff__k8s__self_subject_rules_review__descriptor },
};

/* Pointer fields in Go: present on the wire only when set, so a zero
 * there is meaningful. */
static const char *const keep_zero[] = {
	"replicas", "parallelism", "completions", "backoffLimit", "activeDeadlineSeconds",
	"terminationGracePeriodSeconds", "startingDeadlineSeconds", "successfulJobsHistoryLimit",
	"failedJobsHistoryLimit", "revisionHistoryLimit", "progressDeadlineSeconds",
	"ttlSecondsAfterFinished", "suspend", "automountServiceAccountToken", "immutable",
	"deletionGracePeriodSeconds", "manualSelector", "controller", "blockOwnerDeletion",
	"optional", "defaultMode", "mode", "tolerationSeconds", "priority",
	"shareProcessNamespace", "enableServiceLinks", "setHostnameAsFQDN", "privileged",
	"runAsUser", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
	"runAsGroup", "fsGroup", "emptyDir", "securityContext", "preemptionPolicy",
	"minAvailable", "maxUnavailable", "value", "gracePeriodSeconds", "expirationSeconds",
};

struct walk {
	char *err;
	size_t errlen;
};

static bool is_keep_zero(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keep_zero); i++)
		if (streq(name, keep_zero[i]))
			return true;
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && streq(s + n - m, suffix);
}

static json_t *walk_msg(struct walk *w, const ProtobufCMessage *m, int depth);

/* One value of a field (an element, for repeated fields); NULL for a
 * value to leave out, *fail set on error. */
static json_t *walk_value(struct walk *w, const ProtobufCFieldDescriptor *f, const void *p,
			  bool keep, int depth, bool *fail)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return s && (*s || keep) ? json_string(s) : NULL;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		_cleanup_free_ char *s = NULL;

		if (!b->len && !keep)
			return NULL;
		s = b64_encode(b->data, b->len, B64_STD);
		return s ? json_string(s) : NULL;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean v = *(const protobuf_c_boolean *)p;

		return v || keep ? json_boolean(v) : NULL;
	}
	case PROTOBUF_C_TYPE_INT32: {
		int32_t v = *(const int32_t *)p;

		return v || keep ? json_integer(v) : NULL;
	}
	case PROTOBUF_C_TYPE_INT64: {
		int64_t v = *(const int64_t *)p;

		return v || keep ? json_integer(v) : NULL;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		json_t *j;

		if (!sub)
			return NULL;
		j = walk_msg(w, sub, depth + 1);
		if (!j) {
			*fail = true;
			return NULL;
		}
		if (json_is_object(j) && !json_object_size(j) && !keep) {
			json_decref(j);
			return NULL;
		}
		return j;
	}
	default:
		snprintf(w->err, w->errlen, "protobuf field %s has a type this server does not decode",
			 f->name);
		*fail = true;
		return NULL;
	}
}

/* A map: repeated *Entry messages. */
static json_t *walk_map(struct walk *w, const ProtobufCFieldDescriptor *f, ProtobufCMessage **e,
			size_t n, int depth, bool *fail)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(d, 1);
	const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(d, 2);
	json_t *obj = json_object();

	for (size_t i = 0; i < n && !*fail; i++) {
		const char *key = *(char *const *)((const char *)e[i] + kf->offset);
		json_t *v;

		if (e[i]->n_unknown_fields) {
			snprintf(w->err, w->errlen, "protobuf field %u of an entry of %s is not "
				 "supported by this server", e[i]->unknown_fields[0].tag, f->name);
			*fail = true;
			break;
		}
		v = walk_value(w, vf, (const char *)e[i] + vf->offset, true, depth, fail);
		if (!*fail)
			json_object_set_new(obj, key ? key : "", v ? v : json_string(""));
	}
	if (*fail) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* The apimachinery types with a JSON form of their own. */
static json_t *walk_special(const ProtobufCMessage *m, bool *handled)
{
	const char *name = m->descriptor->short_name;

	*handled = true;
	if (streq(name, "Quantity")) {
		const Skiff__K8s__Quantity *q = (const Skiff__K8s__Quantity *)m;

		return json_string(q->string ? q->string : "0");
	}
	if (streq(name, "IntOrString")) {
		const Skiff__K8s__IntOrString *v = (const Skiff__K8s__IntOrString *)m;

		if (v->type == 1)
			return json_string(v->strval ? v->strval : "");
		return json_integer(v->intval);
	}
	if (streq(name, "Time")) {
		const Skiff__K8s__Time *t = (const Skiff__K8s__Time *)m;
		time_t sec = (time_t)t->seconds;
		struct tm tm;
		char buf[40];

		if (!t->seconds && !t->nanos)
			return json_object(); /* Go's zero Time: left out */
		if (!gmtime_r(&sec, &tm))
			return json_object();
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		return json_string(buf);
	}
	*handled = false;
	return NULL;
}

static json_t *walk_msg(struct walk *w, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *obj, *special;
	bool handled, fail = false;

	if (depth > PROTO_MAX_DEPTH) {
		snprintf(w->err, w->errlen, "protobuf body nested too deeply");
		return NULL;
	}
	if (m->n_unknown_fields) {
		snprintf(w->err, w->errlen, "protobuf field %u of %s is not supported by this server",
			 m->unknown_fields[0].tag, d->short_name);
		return NULL;
	}
	special = walk_special(m, &handled);
	if (handled)
		return special;
	obj = json_object();
	for (unsigned i = 0; i < d->n_fields && !fail; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		const void *p = base + f->offset;
		json_t *v = NULL;

		if (streq(f->name, "status"))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)p;
			size_t sz;

			if (!n)
				continue;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    ends_with(((const ProtobufCMessageDescriptor *)f->descriptor)->name, "Entry")) {
				v = walk_map(w, f, (ProtobufCMessage **)arr, n, depth, &fail);
			} else {
				sz = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE
					     ? sizeof(void *)
				     : f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
				     : f->type == PROTOBUF_C_TYPE_INT64 ? sizeof(int64_t)
				     : f->type == PROTOBUF_C_TYPE_INT32 ? sizeof(int32_t)
									: sizeof(protobuf_c_boolean);
				v = json_array();
				for (size_t k = 0; k < n && !fail; k++) {
					json_t *e = walk_value(w, f, arr + k * sz, true, depth, &fail);

					json_array_append_new(v, e ? e : json_object());
				}
			}
		} else {
			bool keep = is_keep_zero(f->name);

			if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE &&
			    !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
				continue;
			v = walk_value(w, f, p, keep, depth, &fail);
		}
		if (fail) {
			json_decref(v);
			break;
		}
		if (!v)
			continue;
		if (streq(f->name, "inlined") && json_is_object(v))
			json_object_update(obj, v), json_decref(v);
		else
			json_object_set_new(obj, f->name, v);
	}
	if (fail) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

bool api_proto_body(const char *body, size_t len)
{
	return body && len >= 4 && memcmp(body, PROTO_MAGIC, 4) == 0;
}

int api_proto_decode(const char *body, size_t len, json_t **out, char *err, size_t errlen)
{
	Skiff__K8s__Unknown *u = NULL;
	ProtobufCMessage *m = NULL;
	const struct proto_kind *k = NULL;
	struct walk w = { .err = err, .errlen = errlen };
	json_t *obj = NULL;
	int r = -EPROTONOSUPPORT;

	if (!api_proto_body(body, len)) {
		snprintf(err, errlen, "a protobuf body must begin with the \"k8s\\0\" prefix");
		return -EINVAL;
	}
	u = skiff__k8s__unknown__unpack(NULL, len - 4, (const uint8_t *)body + 4);
	if (!u || !u->typemeta || !u->typemeta->kind || !u->typemeta->apiversion || !u->has_raw) {
		snprintf(err, errlen, "error decoding the protobuf body: not a runtime.Unknown with "
			 "typeMeta and raw");
		r = -EINVAL;
		goto out;
	}
	if (u->contentencoding && *u->contentencoding) {
		snprintf(err, errlen, "protobuf body: contentEncoding \"%s\" is not supported",
			 u->contentencoding);
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(proto_kinds); i++)
		if (streq(proto_kinds[i].kind, u->typemeta->kind) &&
		    streq(proto_kinds[i].api_version, u->typemeta->apiversion))
			k = &proto_kinds[i];
	if (!k) {
		snprintf(err, errlen, "protobuf bodies of %s %s are not supported by this server; "
			 "send application/json (kubectl apply -f or create -f)", u->typemeta->apiversion,
			 u->typemeta->kind);
		goto out;
	}
	m = protobuf_c_message_unpack(k->desc, NULL, u->raw.len, u->raw.data);
	if (!m) {
		snprintf(err, errlen, "error decoding the protobuf body of %s %s", k->api_version,
			 k->kind);
		r = -EINVAL;
		goto out;
	}
	obj = walk_msg(&w, m, 0);
	if (!obj) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n, " (in a %s %s); send application/json (kubectl apply -f "
			 "or create -f)", k->api_version, k->kind);
		goto out;
	}
	json_object_set_new(obj, "apiVersion", json_string(k->api_version));
	json_object_set_new(obj, "kind", json_string(k->kind));
	*out = obj;
	r = 0;
out:
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	if (u)
		skiff__k8s__unknown__free_unpacked(u, NULL);
	return r;
}
