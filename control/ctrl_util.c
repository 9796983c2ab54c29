/* Object helpers the controllers' compute steps share: see ctrl.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

json_t *ctrl_get(json_t *obj, const char *path)
{
	const char *p = path;

	while (obj && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		obj = json_object_getn(obj, p, n);
		p += n + (dot ? 1 : 0);
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

time_t ctrl_parse_time(const char *s)
{
	struct tm tm = { 0 };

	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return timegm(&tm);
}

void ctrl_format_time(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *ctrl_condition(json_t *status, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(status, "conditions"), i, c)
		if (streq(ctrl_str(c, "type"), type))
			return c;
	return NULL;
}

void ctrl_condition_remove(json_t *status, const char *type)
{
	json_t *conds = json_object_get(status, "conditions"), *c;
	size_t i;

	json_array_foreach(conds, i, c)
		if (streq(ctrl_str(c, "type"), type)) {
			json_array_remove(conds, i);
			return;
		}
}

bool ctrl_pod_ready(json_t *pod, time_t *since)
{
	json_t *c = ctrl_condition(json_object_get(pod, "status"), "Ready");

	if (!c || !streq(ctrl_str(c, "status"), "True"))
		return false;
	if (since)
		*since = ctrl_parse_time(ctrl_str(c, "lastTransitionTime"));
	return true;
}

bool ctrl_pod_available(json_t *pod, long long min_ready, time_t now)
{
	time_t since;

	if (!ctrl_pod_ready(pod, &since))
		return false;
	return min_ready <= 0 || (since && since + min_ready < now);
}

bool ctrl_pod_terminal(json_t *pod)
{
	const char *phase = ctrl_str(pod, "status.phase");

	return streq(phase, "Succeeded") || streq(phase, "Failed");
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

json_t *ctrl_controller_ref(json_t *obj)
{
	size_t i;
	json_t *o;

	json_array_foreach(ctrl_get(obj, "metadata.ownerReferences"), i, o)
		if (json_is_true(json_object_get(o, "controller")))
			return o;
	return NULL;
}

json_t *ctrl_new_controller_ref(json_t *owner, const char *api_version, const char *kind)
{
	const char *uid = ctrl_str(owner, "metadata.uid");

	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api_version, "kind",
			 kind, "name", ctrl_str(owner, "metadata.name") ?: "", "uid", uid ?: "",
			 "controller", 1, "blockOwnerDeletion", 1);
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
	json_t *ref = ctrl_controller_ref(obj);
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
