/* Node lifecycle's compute step: see ctrl_nodelifecycle.h. */
#include <errno.h>
#include <string.h>

#include "control/ctrl_nodelifecycle.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

#define TAINT_NOT_READY "node.kubernetes.io/not-ready"
#define TAINT_UNREACHABLE "node.kubernetes.io/unreachable"

/* The conditions a silent kubelet leaves Unknown (not NetworkUnavailable,
 * which the control plane owns). */
static const char *const stale_conditions[] = { "Ready", "MemoryPressure", "DiskPressure",
						"PIDPressure" };

/* The taints conditions put on a node (condition NULL: spec.unschedulable). */
static const struct condition_taint {
	const char *condition, *status, *key, *effect;
} condition_taints[] = {
	{ "Ready", "False", TAINT_NOT_READY, "NoSchedule" },
	{ "Ready", "False", TAINT_NOT_READY, "NoExecute" },
	{ "Ready", "Unknown", TAINT_UNREACHABLE, "NoSchedule" },
	{ "Ready", "Unknown", TAINT_UNREACHABLE, "NoExecute" },
	{ "MemoryPressure", "True", "node.kubernetes.io/memory-pressure", "NoSchedule" },
	{ "DiskPressure", "True", "node.kubernetes.io/disk-pressure", "NoSchedule" },
	{ "PIDPressure", "True", "node.kubernetes.io/pid-pressure", "NoSchedule" },
	{ "NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable", "NoSchedule" },
	{ NULL, NULL, "node.kubernetes.io/unschedulable", "NoSchedule" },
};

/* When the kubelet last showed life: the newer of its Lease renewal and
 * its Ready heartbeat, else the node's creation. */
static time_t last_seen(json_t *node, json_t *lease)
{
	time_t renew = ctrl_time_at(lease, "spec.renewTime");
	time_t beat = ctrl_time_at(ctrl_condition(node, "Ready"), "lastHeartbeatTime");
	time_t t = renew > beat ? renew : beat;

	return t ? t : ctrl_time_at(node, "metadata.creationTimestamp");
}

static int stale_condition(json_t *conds, const char *type, json_t *node, const char *now_s)
{
	json_t *c = ctrl_condition(node, type);

	if (!c)
		return json_array_append_new(
			conds, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "type", type, "status",
					 "Unknown", "reason", "NodeStatusNeverUpdated", "message",
					 "Kubelet never posted node status.", "lastHeartbeatTime",
					 ctrl_str(node, "metadata.creationTimestamp"),
					 "lastTransitionTime", now_s));
	if (streq(ctrl_str(c, "status"), "Unknown"))
		return 0;
	if (json_object_set_new(c, "status", json_string("Unknown")) < 0 ||
	    json_object_set_new(c, "reason", json_string("NodeStatusUnknown")) < 0 ||
	    json_object_set_new(c, "message", json_string("Kubelet stopped posting node status.")) < 0 ||
	    json_object_set_new(c, "lastTransitionTime", json_string(now_s)) < 0)
		return -ENOMEM;
	return 0;
}

/* Writes the Unknown conditions into *updated (a copy of node) when the
 * kubelet has been silent past grace; *updated stays NULL otherwise. */
static int health(json_t *node, json_t *lease, long long grace, time_t now, json_t **updated,
		  time_t *next)
{
	time_t deadline = last_seen(node, lease) + grace;
	json_t *copy, *conds;
	char now_s[32];

	*updated = NULL;
	if (now <= deadline) {
		*next = deadline + 1;
		return 0;
	}
	copy = json_deep_copy(node);
	if (!copy)
		return -ENOMEM;
	conds = ctrl_get(copy, "status.conditions");
	if (!json_is_array(conds)) {
		if (!json_is_object(ctrl_get(copy, "status")))
			json_object_set_new(copy, "status", json_object());
		json_object_set_new(ctrl_get(copy, "status"), "conditions", json_array());
		conds = ctrl_get(copy, "status.conditions");
	}
	ctrl_time_format(now, now_s);
	for (size_t i = 0; conds && i < ARRAY_SIZE(stale_conditions); i++)
		if (stale_condition(conds, stale_conditions[i], copy, now_s) < 0)
			conds = NULL;
	if (!conds) {
		json_decref(copy);
		return -ENOMEM;
	}
	if (json_equal(copy, node))
		json_decref(copy);
	else
		*updated = copy;
	return 0;
}

/* Which of condition_taints the node wants (by index), from one pass over
 * its conditions: the first condition of each type counts, as
 * ctrl_condition finds it. A node reconciled on every Lease renewal and
 * every change of its pods: a lookup per taint and condition was ~2% of
 * skiff-server's CPU in bench_sched_api. */
static void taints_wanted(json_t *node, bool wanted[ARRAY_SIZE(condition_taints)])
{
	bool seen[ARRAY_SIZE(condition_taints)] = { false };
	json_t *c;
	size_t i, j;

	json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c) {
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *status = json_string_value(json_object_get(c, "status"));

		for (j = 0; type && j < ARRAY_SIZE(condition_taints); j++) {
			const struct condition_taint *t = &condition_taints[j];

			if (t->condition && !seen[j] && streq(t->condition, type)) {
				seen[j] = true;
				wanted[j] = streq(status, t->status);
			}
		}
	}
	for (j = 0; j < ARRAY_SIZE(condition_taints); j++) {
		if (!condition_taints[j].condition)
			wanted[j] = json_is_true(ctrl_get(node, "spec.unschedulable"));
		else if (!seen[j])
			wanted[j] = false;
	}
}

static const struct condition_taint *managed(json_t *taint)
{
	for (size_t i = 0; i < ARRAY_SIZE(condition_taints); i++)
		if (streq(ctrl_str(taint, "key"), condition_taints[i].key) &&
		    streq(ctrl_str(taint, "effect"), condition_taints[i].effect))
			return &condition_taints[i];
	return NULL;
}

static json_t *taint_find(json_t *taints, const char *key, const char *effect)
{
	json_t *t;
	size_t i;

	json_array_foreach(taints, i, t)
		if (streq(ctrl_str(t, "key"), key) && streq(ctrl_str(t, "effect"), effect))
			return t;
	return NULL;
}

/* The node's taints as its conditions want them (a new array): users'
 * taints and ours still wanted kept as they are, ours newly wanted added. */
static json_t *wanted_taints(json_t *node, time_t now)
{
	json_t *old = ctrl_get(node, "spec.taints"), *out = json_array(), *t;
	bool wanted[ARRAY_SIZE(condition_taints)];
	const struct condition_taint *m;
	char now_s[32] = "";
	size_t i;

	taints_wanted(node, wanted);
	json_array_foreach(old, i, t)
		if (!(m = managed(t)) || wanted[m - condition_taints])
			json_array_append(out, t);
	for (i = 0; i < ARRAY_SIZE(condition_taints); i++) {
		m = &condition_taints[i];
		if (!wanted[i] || taint_find(old, m->key, m->effect))
			continue;
		t = json_pack("{s:s, s:s}", "key", m->key, "effect", m->effect);
		if (t && streq(m->effect, "NoExecute")) {
			if (!*now_s)
				ctrl_time_format(now, now_s);
			json_object_set_new(t, "timeAdded", json_string(now_s));
		}
		json_array_append_new(out, t);
	}
	return out;
}

static int plan_taints(json_t *node, json_t *taints, struct ctrl_plan *p)
{
	json_t *old = ctrl_get(node, "spec.taints");

	if (old ? json_equal(old, taints) : json_array_size(taints) == 0) {
		json_decref(taints);
		return 0;
	}
	return ctrl_plan_add(p, CTRL_PATCH, "nodes", NULL, ctrl_str(node, "metadata.name"),
			     json_pack("{s:{s:o}}", "spec", "taints", taints));
}

/* MarkPodsNotReady for one pod. */
static int pod_not_ready(json_t *pod, time_t now, struct ctrl_plan *p)
{
	const char *ns = ctrl_str(pod, "metadata.namespace"), *name = ctrl_str(pod, "metadata.name");
	json_t *copy;
	int r;

	if (!ctrl_pod_ready(pod, NULL))
		return 0;
	copy = json_deep_copy(pod);
	if (!copy || ctrl_condition_set(copy, "Ready", "False", NULL, NULL, now) < 0) {
		json_decref(copy);
		return -ENOMEM;
	}
	r = ctrl_plan_add(p, CTRL_UPDATE_STATUS, "pods", ns, name, copy);
	if (r < 0)
		return r;
	return ctrl_plan_event(p, "pods", ns, name, "Warning", "NodeNotReady", "Node is not ready");
}

/* When the pod must leave a node with these taints: now when one NoExecute
 * taint is not tolerated, the earliest timeAdded + tolerationSeconds, or
 * 0 when it tolerates them all forever. */
static time_t eviction_time(json_t *pod, json_t *taints, time_t now)
{
	time_t when = 0;
	json_t *t;
	size_t i;

	json_array_foreach(taints, i, t) {
		json_t *tol, *secs;
		time_t added, at;

		if (!streq(ctrl_str(t, "effect"), "NoExecute"))
			continue;
		tol = ctrl_toleration_for(pod, t);
		if (!tol)
			return now;
		secs = json_object_get(tol, "tolerationSeconds");
		if (!json_is_integer(secs))
			continue;
		added = ctrl_time_at(t, "timeAdded") ?: now;
		at = json_integer_value(secs) <= 0 ? now : added + json_integer_value(secs);
		if (!when || at < when)
			when = at;
	}
	return when;
}

static int evict(json_t *pod, json_t *taints, time_t now, struct ctrl_plan *p, time_t *next)
{
	const char *ns = ctrl_str(pod, "metadata.namespace"), *name = ctrl_str(pod, "metadata.name");
	time_t when = eviction_time(pod, taints, now);
	int r;

	if (!when)
		return 0;
	if (when > now) {
		if (!*next || when < *next)
			*next = when;
		return 0;
	}
	r = ctrl_plan_add(p, CTRL_DELETE, "pods", ns, name,
			  ctrl_delete_options(NULL, ctrl_str(pod, "metadata.uid"), -1));
	if (r < 0)
		return r;
	return ctrl_plan_event(p, "pods", ns, name, "Normal", "TaintManagerEviction",
			       "Marking for deletion Pod %s/%s", ns ?: "", name ?: "");
}

static int plan_pods(json_t *node, json_t *taints, json_t *const *pods, size_t n_pods,
		     time_t now, struct ctrl_plan *p, time_t *next)
{
	bool ready = streq(ctrl_str(ctrl_condition(node, "Ready"), "status"), "True");
	const char *name = ctrl_str(node, "metadata.name");
	int r = 0;

	for (size_t i = 0; r == 0 && i < n_pods; i++) {
		if (!streq(ctrl_str(pods[i], "spec.nodeName"), name) ||
		    ctrl_pod_terminating(pods[i]))
			continue;
		if (!ready)
			r = pod_not_ready(pods[i], now, p);
		if (r == 0)
			r = evict(pods[i], taints, now, p, next);
	}
	return r;
}

int nodelc_compute(json_t *node, json_t *lease, json_t *const *pods, size_t n_pods,
		   long long grace, time_t now, struct ctrl_plan *p, time_t *next)
{
	const char *name = ctrl_str(node, "metadata.name");
	json_t *updated = NULL, *cur, *taints;
	int r;

	*next = 0;
	r = health(node, lease, grace, now, &updated, next);
	if (r < 0)
		return r;
	cur = updated ? updated : node;
	if (updated) {
		bool was_ready = streq(ctrl_str(ctrl_condition(node, "Ready"), "status"), "True");

		r = ctrl_plan_add(p, CTRL_UPDATE_STATUS, "nodes", NULL, name, json_incref(updated));
		if (r == 0 && was_ready)
			r = ctrl_plan_event(p, "nodes", NULL, name, "Normal", "NodeNotReady",
					    "Node %s status is now: NodeNotReady", name ?: "");
	}
	taints = r == 0 ? wanted_taints(cur, now) : NULL;
	if (r == 0 && !taints)
		r = -ENOMEM;
	if (r == 0)
		r = plan_pods(cur, taints, pods, n_pods, now, p, next);
	if (r == 0)
		r = plan_taints(cur, taints, p);
	else
		json_decref(taints);
	json_decref(updated);
	return r;
}

static const char *const default_toleration_keys[] = { TAINT_NOT_READY, TAINT_UNREACHABLE };

/* Upstream: a toleration with this key or no key, and NoExecute or no
 * effect, is enough. */
static bool has_toleration(json_t *pod, const char *key)
{
	json_t *tol;
	size_t i;

	json_array_foreach(ctrl_get(pod, "spec.tolerations"), i, tol) {
		const char *k = ctrl_str(tol, "key"), *e = ctrl_str(tol, "effect");

		if ((!k || !*k || streq(k, key)) && (!e || !*e || streq(e, "NoExecute")))
			return true;
	}
	return false;
}

int admission_default_tolerations(json_t *pod)
{
	json_t *spec = json_object_get(pod, "spec"), *tols;

	if (!json_is_object(spec))
		return 0;
	tols = json_object_get(spec, "tolerations");
	for (size_t i = 0; i < ARRAY_SIZE(default_toleration_keys); i++) {
		const char *key = default_toleration_keys[i];

		if (has_toleration(pod, key))
			continue;
		if (!json_is_array(tols)) {
			tols = json_array();
			if (json_object_set_new(spec, "tolerations", tols) < 0)
				return -ENOMEM;
		}
		if (json_array_append_new(tols, json_pack("{s:s, s:s, s:s, s:I}", "key", key,
							  "operator", "Exists", "effect", "NoExecute",
							  "tolerationSeconds",
							  (json_int_t)NODELC_DEFAULT_TOLERATION_SECONDS)) < 0)
			return -ENOMEM;
	}
	return 0;
}
