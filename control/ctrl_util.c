/* Helpers over cached objects for the controllers: see ctrl_util.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_plan.h"
#include "control/ctrl_util.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

int ctrl_time_parse(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	const char *end;

	if (!s)
		return -EINVAL;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -EINVAL;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z") != 0)
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

void ctrl_time_format(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t ctrl_time_at(json_t *obj, const char *path)
{
	time_t t;

	return ctrl_time_parse(ctrl_str(obj, path), &t) == 0 ? t : 0;
}

json_t *ctrl_get(json_t *obj, const char *path)
{
	char key[128];

	while (obj && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		obj = json_object_get(obj, key);
		path += n + (dot ? 1 : 0);
	}
	return obj;
}

const char *ctrl_str(json_t *obj, const char *path)
{
	return json_string_value(ctrl_get(obj, path));
}

long long ctrl_int(json_t *obj, const char *path, long long def)
{
	json_t *v = ctrl_get(obj, path);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

bool ctrl_pod_terminating(json_t *pod)
{
	return ctrl_get(pod, "metadata.deletionTimestamp") != NULL;
}

bool ctrl_pod_terminal(json_t *pod)
{
	const char *phase = ctrl_str(pod, "status.phase");

	return streq(phase, "Succeeded") || streq(phase, "Failed");
}

bool ctrl_pod_active(json_t *pod)
{
	return !ctrl_pod_terminal(pod) && !ctrl_pod_terminating(pod);
}

json_t *ctrl_status_condition(json_t *status, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, c)
		if (streq(ctrl_str(c, "type"), type))
			return c;
	return NULL;
}

void ctrl_status_condition_remove(json_t *status, const char *type)
{
	json_t *conds = json_object_get(status, "conditions"), *c;
	size_t i;

	json_array_foreach(conds, i, c)
		if (streq(ctrl_str(c, "type"), type)) {
			json_array_remove(conds, i);
			return;
		}
}

json_t *ctrl_condition(json_t *obj, const char *type)
{
	return ctrl_status_condition(json_object_get(obj, "status"), type);
}

/* obj's status.conditions, made when missing. */
static json_t *conditions_of(json_t *obj)
{
	json_t *status = json_object_get(obj, "status"), *conds;

	if (!json_is_object(status)) {
		status = json_object();
		if (json_object_set_new(obj, "status", status) < 0)
			return NULL;
	}
	conds = json_object_get(status, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		if (json_object_set_new(status, "conditions", conds) < 0)
			return NULL;
	}
	return conds;
}

int ctrl_condition_set(json_t *obj, const char *type, const char *status, const char *reason,
		       const char *message, time_t now)
{
	json_t *c = ctrl_condition(obj, type), *conds;
	char now_s[32];

	if (!c) {
		conds = conditions_of(obj);
		c = json_pack("{s:s}", "type", type);
		if (!conds || json_array_append_new(conds, c) < 0)
			return -ENOMEM;
	}
	ctrl_time_format(now, now_s);
	if (!streq(ctrl_str(c, "status"), status) &&
	    json_object_set_new(c, "lastTransitionTime", json_string(now_s)) < 0)
		return -ENOMEM;
	if (json_object_set_new(c, "status", json_string(status)) < 0 ||
	    (reason && json_object_set_new(c, "reason", json_string(reason)) < 0) ||
	    (message && json_object_set_new(c, "message", json_string(message)) < 0))
		return -ENOMEM;
	return 0;
}

bool ctrl_pod_ready(json_t *pod, time_t *since)
{
	json_t *c = ctrl_condition(pod, "Ready");

	if (!streq(ctrl_str(c, "status"), "True"))
		return false;
	if (since)
		*since = ctrl_time_at(c, "lastTransitionTime");
	return true;
}

bool ctrl_pod_available(json_t *pod, long long min_ready, time_t now)
{
	time_t since;

	if (!ctrl_pod_ready(pod, &since))
		return false;
	return min_ready <= 0 || (since && since + min_ready < now);
}

json_t *ctrl_controller_of(json_t *obj)
{
	json_t *refs = ctrl_get(obj, "metadata.ownerReferences"), *r;
	size_t i;

	json_array_foreach(refs, i, r)
		if (json_is_true(json_object_get(r, "controller")))
			return r;
	return NULL;
}

bool ctrl_controlled_by(json_t *obj, json_t *owner)
{
	json_t *ref = ctrl_controller_of(obj);

	return ref && streq(ctrl_str(ref, "uid"), ctrl_str(owner, "metadata.uid"));
}

json_t *ctrl_new_controller_ref(json_t *owner, const char *api_version, const char *kind)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}",
			 "apiVersion", api_version ?: ctrl_str(owner, "apiVersion") ?: "",
			 "kind", kind ?: ctrl_str(owner, "kind") ?: "",
			 "name", ctrl_str(owner, "metadata.name") ?: "",
			 "uid", ctrl_str(owner, "metadata.uid") ?: "", "controller", 1,
			 "blockOwnerDeletion", 1);
}

bool ctrl_strlist_has(json_t *obj, const char *path, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(ctrl_get(obj, path), i, v)
		if (streq(json_string_value(v), s))
			return true;
	return false;
}

bool ctrl_has_finalizer(json_t *obj, const char *name)
{
	return ctrl_strlist_has(obj, "metadata.finalizers", name);
}

json_t *ctrl_finalizer_removal(json_t *obj, const char *name)
{
	json_t *keep = json_array(), *f;
	const char *rv = ctrl_str(obj, "metadata.resourceVersion");
	size_t i;

	if (!keep)
		return NULL;
	json_array_foreach(ctrl_get(obj, "metadata.finalizers"), i, f)
		if (!streq(json_string_value(f), name) && json_array_append(keep, f) < 0) {
			json_decref(keep);
			return NULL;
		}
	if (json_array_size(keep) == 0) {
		json_decref(keep);
		keep = json_null();
	}
	return json_pack("{s:{s:o, s:s?}}", "metadata", "finalizers", keep, "resourceVersion", rv);
}

json_t *ctrl_delete_options(const char *propagation, const char *uid, long long grace)
{
	json_t *o = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");

	if (!o)
		return NULL;
	if ((propagation &&
	     json_object_set_new(o, "propagationPolicy", json_string(propagation)) < 0) ||
	    (uid && json_object_set_new(o, "preconditions", json_pack("{s:s}", "uid", uid)) < 0) ||
	    (grace >= 0 && json_object_set_new(o, "gracePeriodSeconds", json_integer(grace)) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool tolerates(json_t *tol, json_t *taint)
{
	const char *effect = ctrl_str(tol, "effect"), *key = ctrl_str(tol, "key");
	const char *op = ctrl_str(tol, "operator");

	if (effect && *effect && !streq(effect, ctrl_str(taint, "effect")))
		return false;
	if (key && *key && !streq(key, ctrl_str(taint, "key")))
		return false;
	if (streq(op, "Exists"))
		return true;
	if (op && *op && !streq(op, "Equal"))
		return false;
	if (!key || !*key)
		return false; /* an empty key needs Exists */
	return streq(ctrl_str(tol, "value") ?: "", ctrl_str(taint, "value") ?: "");
}

json_t *ctrl_toleration_for(json_t *pod, json_t *taint)
{
	json_t *tol;
	size_t i;

	json_array_foreach(ctrl_get(pod, "spec.tolerations"), i, tol)
		if (tolerates(tol, taint))
			return tol;
	return NULL;
}

int ctrl_selector_matches(json_t *label_selector, json_t *obj, bool *match)
{
	struct kube_selector *sel = NULL;
	int r;

	if (!json_is_object(label_selector) || json_object_size(label_selector) == 0) {
		*match = false;
		return 0;
	}
	r = kube_selector_from_json(label_selector, &sel);
	if (r < 0)
		return r;
	*match = kube_selector_match_labels(sel, ctrl_get(obj, "metadata.labels"));
	kube_selector_free(sel);
	return 0;
}

static int pod_metadata(json_t *md, json_t *template, json_t *owner, const char *name)
{
	json_t *labels = ctrl_get(template, "metadata.labels");
	json_t *annotations = ctrl_get(template, "metadata.annotations");
	char prefix[256];

	if (labels && json_object_set_new(md, "labels", json_deep_copy(labels)) < 0)
		return -ENOMEM;
	if (annotations && json_object_set_new(md, "annotations", json_deep_copy(annotations)) < 0)
		return -ENOMEM;
	if (name) {
		if (json_object_set_new(md, "name", json_string(name)) < 0)
			return -ENOMEM;
	} else {
		snprintf(prefix, sizeof(prefix), "%s-", ctrl_str(owner, "metadata.name") ?: "");
		if (json_object_set_new(md, "generateName", json_string(prefix)) < 0)
			return -ENOMEM;
	}
	if (ctrl_str(owner, "metadata.namespace") &&
	    json_object_set_new(md, "namespace",
				json_string(ctrl_str(owner, "metadata.namespace"))) < 0)
		return -ENOMEM;
	return json_object_set_new(md, "ownerReferences",
				   json_pack("[o]", ctrl_new_controller_ref(owner, NULL, NULL))) < 0 ? -ENOMEM : 0;
}

json_t *ctrl_pod_from_template(json_t *template, json_t *owner, const char *name)
{
	json_t *spec = ctrl_get(template, "spec");
	json_t *pod = json_pack("{s:s, s:s, s:{}, s:o}", "apiVersion", "v1", "kind", "Pod",
				"metadata", "spec", spec ? json_deep_copy(spec) : json_object());

	if (!pod)
		return NULL;
	if (pod_metadata(json_object_get(pod, "metadata"), template, owner, name) < 0) {
		json_decref(pod);
		return NULL;
	}
	return pod;
}

bool ctrl_map_selects(json_t *selector, json_t *labels)
{
	const char *k;
	json_t *v;

	if (!json_object_size(selector))
		return false;
	json_object_foreach(selector, k, v)
		if (!json_equal(v, json_object_get(labels, k)))
			return false;
	return true;
}

int ctrl_intstr_scaled(json_t *v, long long total, bool round_up, long long def,
		       long long *out)
{
	const char *s;
	char *end;
	long long pct;

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	s = json_string_value(v);
	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	pct = strtoll(s, &end, 10);
	if (errno || end == s || !streq(end, "%") || pct < 0)
		return -EINVAL;
	/* upstream: math.Ceil / math.Floor of float64(pct*total)/100 */
	*out = round_up ? (pct * total + 99) / 100 : (pct * total) / 100;
	return 0;
}

/* A merge patch of obj's ownerReferences (uid and resourceVersion as
 * preconditions): the owner's appended (adopt) or removed (release). */
static json_t *owner_patch(const struct ctrl_owner *o, json_t *obj, bool adopt)
{
	const char *uid = ctrl_str(o->obj, "metadata.uid");
	json_t *refs = json_array(), *ref;
	size_t i;

	json_array_foreach(ctrl_get(obj, "metadata.ownerReferences"), i, ref)
		if (!streq(ctrl_str(ref, "uid"), uid))
			json_array_append(refs, ref);
	if (adopt)
		json_array_append_new(refs, ctrl_new_controller_ref(o->obj, o->api_version, o->kind));
	return json_pack("{s:{s:o, s:s, s:s}}", "metadata", "ownerReferences", refs, "uid",
			 ctrl_str(obj, "metadata.uid") ?: "", "resourceVersion",
			 ctrl_str(obj, "metadata.resourceVersion") ?: "");
}

int ctrl_claim(const struct ctrl_owner *o, json_t *obj, const char *resource, struct ctrl_plan *p)
{
	json_t *ref = ctrl_controller_of(obj);
	const char *uid = ctrl_str(o->obj, "metadata.uid");
	const char *ns = ctrl_str(obj, "metadata.namespace"), *name = ctrl_str(obj, "metadata.name");
	bool match = kube_selector_match_labels(o->sel, ctrl_get(obj, "metadata.labels"));
	bool deleting = ctrl_get(o->obj, "metadata.deletionTimestamp") != NULL;
	int r;

	if (ref && !streq(ctrl_str(ref, "uid"), uid))
		return 0; /* another controller's */
	if (ref && match)
		return 1;
	if (ref) {
		if (deleting)
			return 0;
		r = ctrl_plan_add(p, CTRL_PATCH, resource, ns, name, owner_patch(o, obj, false));
		return r < 0 ? r : 0;
	}
	if (!match || deleting || ctrl_get(obj, "metadata.deletionTimestamp"))
		return 0;
	r = ctrl_plan_add(p, CTRL_PATCH, resource, ns, name, owner_patch(o, obj, true));
	return r < 0 ? r : 1;
}
