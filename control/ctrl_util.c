/* Helpers over cached objects for the controllers: see ctrl_util.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_plan.h"
#include "control/ctrl_util.h"
#include "lib/json_path.h"
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
	return json_path_get(obj, path);
}

const char *ctrl_str(json_t *obj, const char *path)
{
	return json_path_str(obj, path);
}

long long ctrl_int(json_t *obj, const char *path, long long def)
{
	return json_path_int(obj, path, def);
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

bool ctrl_toleration_tolerates(json_t *tol, json_t *taint)
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
		if (ctrl_toleration_tolerates(tol, taint))
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

static bool value_in(json_t *values, const char *have)
{
	json_t *v;
	size_t i;

	json_array_foreach(values, i, v)
		if (streq(json_string_value(v), have))
			return true;
	return false;
}

/* Gt / Lt: one integer value, compared with the label's integer value. */
static bool int_compare(json_t *values, const char *have, int sign)
{
	const char *want = json_string_value(json_array_get(values, 0));
	char *e1, *e2;
	long long a, b;

	if (!have || !want || json_array_size(values) != 1)
		return false;
	errno = 0;
	a = strtoll(have, &e1, 10);
	b = strtoll(want, &e2, 10);
	if (errno || *e1 || *e2 || e1 == have || e2 == want)
		return false;
	return sign > 0 ? a > b : a < b;
}

/* One NodeSelectorRequirement against the value found (NULL: absent). */
static bool requirement_matches(json_t *req, const char *have)
{
	const char *op = ctrl_str(req, "operator");
	json_t *values = json_object_get(req, "values");

	if (streq(op, "In"))
		return have && value_in(values, have);
	if (streq(op, "NotIn"))
		return !have || !value_in(values, have);
	if (streq(op, "Exists"))
		return have != NULL;
	if (streq(op, "DoesNotExist"))
		return have == NULL;
	if (streq(op, "Gt"))
		return int_compare(values, have, 1);
	if (streq(op, "Lt"))
		return int_compare(values, have, -1);
	return false;
}

static bool term_matches(json_t *term, json_t *node)
{
	json_t *exprs = json_object_get(term, "matchExpressions");
	json_t *fields = json_object_get(term, "matchFields");
	json_t *labels = ctrl_get(node, "metadata.labels"), *req;
	size_t i;

	if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
		return false;
	json_array_foreach(exprs, i, req)
		if (!requirement_matches(
			    req, json_string_value(json_object_get(labels, ctrl_str(req, "key") ?: ""))))
			return false;
	json_array_foreach(fields, i, req) {
		/* metadata.name is the one field upstream supports */
		if (!streq(ctrl_str(req, "key"), "metadata.name") ||
		    !requirement_matches(req, ctrl_str(node, "metadata.name")))
			return false;
	}
	return true;
}

bool ctrl_node_selector_matches(json_t *node_selector, json_t *node)
{
	json_t *term;
	size_t i;

	json_array_foreach(json_object_get(node_selector, "nodeSelectorTerms"), i, term)
		if (term_matches(term, node))
			return true;
	return false;
}

bool ctrl_pod_fits_node_affinity(json_t *pod_spec, json_t *node)
{
	json_t *labels = ctrl_get(node, "metadata.labels"), *v;
	json_t *required = ctrl_get(pod_spec,
				    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
	const char *k;

	json_object_foreach(json_object_get(pod_spec, "nodeSelector"), k, v)
		if (!streq(json_string_value(json_object_get(labels, k)), json_string_value(v)))
			return false;
	return !required || ctrl_node_selector_matches(required, node);
}

static bool effect_listed(const char *effects, const char *effect)
{
	size_t n = effect ? strlen(effect) : 0;

	for (const char *p = effects; n && p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, effect, n) == 0 && (p[n] == ',' || p[n] == 0))
			return true;
	return false;
}

json_t *ctrl_untolerated_taint(json_t *taints, json_t *tolerations, const char *effects)
{
	json_t *taint, *tol;
	size_t i, j;

	json_array_foreach(taints, i, taint) {
		bool tolerated = false;

		if (!effect_listed(effects, ctrl_str(taint, "effect")))
			continue;
		json_array_foreach(tolerations, j, tol)
			if ((tolerated = ctrl_toleration_tolerates(tol, taint)))
				break;
		if (!tolerated)
			return taint;
	}
	return NULL;
}

void ctrl_template_hash(json_t *template, long long collision_count, char out[16])
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	_cleanup_free_ char *dump = json_dumps(template, JSON_COMPACT | JSON_SORT_KEYS);
	uint32_t h = 2166136261u;
	char dec[24];
	size_t i;

	for (const char *p = dump ? dump : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	if (collision_count >= 0)
		for (i = 0; i < 8; i++)
			h = (h ^ (unsigned char)(collision_count >> (8 * i))) * 16777619u;
	snprintf(dec, sizeof(dec), "%u", h);
	for (i = 0; dec[i] && i < 15; i++)
		out[i] = alphabet[(unsigned char)dec[i] % (sizeof(alphabet) - 1)];
	out[i] = 0;
}

/* Drops the null members of v's objects, at every depth. */
static void drop_nulls(json_t *v)
{
	const char *k;
	json_t *m;
	void *tmp;
	size_t i;

	if (json_is_array(v))
		json_array_foreach(v, i, m)
			drop_nulls(m);
	if (!json_is_object(v))
		return;
	json_object_foreach_safe(v, tmp, k, m) {
		if (json_is_null(m))
			json_object_del(v, k);
		else
			drop_nulls(m);
	}
}

bool ctrl_template_equal(json_t *a, json_t *b, const char *ignore_label)
{
	json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
	bool eq;

	for (int i = 0; i < 2; i++) {
		json_t *t = i ? y : x, *meta, *labels;

		drop_nulls(t);
		meta = json_object_get(t, "metadata");
		labels = json_object_get(meta, "labels");
		if (ignore_label)
			json_object_del(labels, ignore_label);
		if (labels && !json_object_size(labels))
			json_object_del(meta, "labels");
		if (meta && !json_object_size(meta))
			json_object_del(t, "metadata");
	}
	eq = json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return eq;
}

int ctrl_status_update(struct ctrl_plan *p, const char *resource, json_t *obj, json_t *status)
{
	json_t *body;

	if (!status)
		return -ENOMEM;
	if (json_equal(status, json_object_get(obj, "status"))) {
		json_decref(status);
		return 0;
	}
	body = json_deep_copy(obj);
	if (!body || json_object_set_new(body, "status", status) < 0) {
		json_decref(body);
		return -ENOMEM;
	}
	return ctrl_plan_add(p, CTRL_UPDATE_STATUS, resource, ctrl_str(obj, "metadata.namespace"),
			     ctrl_str(obj, "metadata.name"), body);
}

json_t *ctrl_revision_new(json_t *owner, const char *hash, long long number)
{
	json_t *tmpl = json_deep_copy(ctrl_get(owner, "spec.template"));
	json_t *labels = json_deep_copy(ctrl_get(owner, "spec.template.metadata.labels"));
	char name[300];

	snprintf(name, sizeof(name), "%s-%s", ctrl_str(owner, "metadata.name") ?: "", hash);
	if (!json_is_object(labels)) {
		json_decref(labels);
		labels = json_object();
	}
	if (!json_is_object(tmpl)) {
		json_decref(tmpl);
		tmpl = json_object();
	}
	if (!tmpl || !labels || json_object_set_new(tmpl, "$patch", json_string("replace")) < 0 ||
	    json_object_set_new(labels, CTRL_REVISION_HASH_LABEL, json_string(hash)) < 0) {
		json_decref(tmpl);
		json_decref(labels);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:{s:s, s:s*, s:o, s:O*, s:[o]}, s:{s:{s:o}}, s:I}",
			 "apiVersion", "apps/v1", "kind", "ControllerRevision", "metadata", "name",
			 name, "namespace", ctrl_str(owner, "metadata.namespace"), "labels", labels,
			 "annotations", ctrl_get(owner, "metadata.annotations"), "ownerReferences",
			 ctrl_new_controller_ref(owner, NULL, NULL), "data", "spec", "template", tmpl, "revision",
			 (json_int_t)number);
}

static int by_revision(const void *a, const void *b)
{
	long long x = ctrl_int(*(json_t *const *)a, "revision", 0);
	long long y = ctrl_int(*(json_t *const *)b, "revision", 0);

	return (x > y) - (x < y);
}

static int history_cleanup(struct ctrl_plan *p, const struct ctrl_history *h, json_t **old,
			   size_t n_old)
{
	long long kill = (long long)n_old - ctrl_int(h->owner, "spec.revisionHistoryLimit", 10);
	int r = 0;

	qsort(old, n_old, sizeof(*old), by_revision);
	for (size_t i = 0; i < n_old && kill > 0 && r == 0; i++) {
		if (h->in_use && h->in_use(h->ctx, old[i]))
			continue;
		r = ctrl_plan_add(p, CTRL_DELETE, CTRL_REVISION_RESOURCE,
				  ctrl_str(old[i], "metadata.namespace"),
				  ctrl_str(old[i], "metadata.name"), NULL);
		kill--;
	}
	return r;
}

int ctrl_history_sync(struct ctrl_plan *p, const struct ctrl_history *h, json_t **current)
{
	_cleanup_free_ json_t **old = calloc(h->n_revisions + 1, sizeof(*old));
	const char *ns = ctrl_str(h->owner, "metadata.namespace");
	json_t *cur = NULL, *body;
	long long max = 0;
	size_t n_old = 0;

	if (!old)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_revisions; i++) {
		json_t *rev = h->revisions[i];
		const char *hash = json_string_value(
			json_object_get(ctrl_get(rev, "metadata.labels"), CTRL_REVISION_HASH_LABEL));

		if (!ctrl_controlled_by(rev, h->owner))
			continue;
		if (!cur && streq(hash, h->hash)) {
			cur = rev;
			continue;
		}
		old[n_old++] = rev;
		if (ctrl_int(rev, "revision", 0) > max)
			max = ctrl_int(rev, "revision", 0);
	}
	if (current)
		*current = cur;
	if (!cur)
		return ctrl_plan_add(p, CTRL_CREATE, CTRL_REVISION_RESOURCE, ns, NULL,
				     ctrl_revision_new(h->owner, h->hash, max + 1));
	if (ctrl_int(cur, "revision", 0) <= max) {
		body = json_deep_copy(cur);
		if (!body || json_object_set_new(body, "revision", json_integer(max + 1)) < 0) {
			json_decref(body);
			return -ENOMEM;
		}
		return ctrl_plan_add(p, CTRL_UPDATE, CTRL_REVISION_RESOURCE, ns,
				     ctrl_str(cur, "metadata.name"), body);
	}
	return h->cleanup ? history_cleanup(p, h, old, n_old) : 0;
}

int ctrl_pod_create(struct ctrl_plan *p, const char *owner_resource, json_t *owner, json_t *pod)
{
	const char *ns = ctrl_str(owner, "metadata.namespace");
	const char *name = ctrl_str(pod, "metadata.name");
	int r;

	if (!pod)
		return -ENOMEM;
	r = ctrl_plan_add(p, CTRL_CREATE, "pods", ns, name, json_incref(pod));
	if (r == 0)
		r = ctrl_plan_event(p, owner_resource, ns, ctrl_str(owner, "metadata.name"), "Normal",
				    "SuccessfulCreate", "Created pod: %s", name ?: "");
	json_decref(pod);
	return r;
}

int ctrl_pod_delete(struct ctrl_plan *p, const char *owner_resource, json_t *owner, json_t *pod)
{
	const char *ns = ctrl_str(owner, "metadata.namespace");
	const char *name = ctrl_str(pod, "metadata.name") ?: "";
	int r = ctrl_plan_add(p, CTRL_DELETE, "pods", ns, name, NULL);

	return r < 0 ? r : ctrl_plan_event(p, owner_resource, ns, ctrl_str(owner, "metadata.name"),
					   "Normal", "SuccessfulDelete", "Deleted pod: %s", name);
}

/* ---- expectations (upstream ControllerExpectations) ---- */

bool ctrl_expectations_satisfied(const struct ctrl_expectations *e, time_t now)
{
	if (!e || !e->set_at)
		return true;
	if (e->add <= 0 && e->del <= 0)
		return true;
	return now - e->set_at > CTRL_EXPECTATIONS_TTL;
}

void ctrl_expectations_expect(struct ctrl_expectations *e, long long add, long long del, time_t now)
{
	e->add = add;
	e->del = del;
	e->set_at = now;
}

void ctrl_expectations_observe_add(struct ctrl_expectations *e)
{
	e->add--;
}

void ctrl_expectations_observe_del(struct ctrl_expectations *e)
{
	e->del--;
}
