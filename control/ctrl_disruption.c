/* The disruption controller's compute step: see ctrl_disruption.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "control/ctrl_disruption.h"
#include "control/ctrl_util.h"
#include "lib/kube_selector.h"
#include "lib/util.h"

#define PDB_RESOURCE "poddisruptionbudgets.policy"

/* What one computation found. */
struct pdb_state {
	long long expected, desired, healthy, allowed;
	json_t *disrupted; /* the disruptedPods still pending */
	size_t unmanaged;
	char error[256];   /* why the expected count could not be found */
};

/* Whether pod is one of the PDB's: v1 semantics, an empty selector
 * matches every pod, a missing one none. */
static bool pdb_selects(json_t *pdb, json_t *pod)
{
	json_t *sel = ctrl_get(pdb, "spec.selector");
	struct kube_selector *ks = NULL;
	bool match;

	if (!json_is_object(sel))
		return false;
	if (kube_selector_from_json(sel, &ks) < 0)
		return false;
	match = kube_selector_match_labels(ks, ctrl_get(pod, "metadata.labels"));
	kube_selector_free(ks);
	return match;
}

static json_t *owner_by_uid(const struct ctrl_disruption_in *in, const char *uid)
{
	for (size_t i = 0; uid && i < in->n_owners; i++)
		if (streq(ctrl_str(in->owners[i], "metadata.uid"), uid))
			return in->owners[i];
	return NULL;
}

/* The controller whose scale counts for a pod controlled by ref, and its
 * scale: a ReplicaSet's Deployment when it has one (upstream's finders),
 * else the ReplicaSet, StatefulSet or ReplicationController itself.
 * NULL when it is not in the cache. */
static json_t *scaled_controller(const struct ctrl_disruption_in *in, json_t *ref,
				 long long *scale)
{
	const char *kind = ctrl_str(ref, "kind");
	json_t *c = owner_by_uid(in, ctrl_str(ref, "uid"));

	if (!c || !(streq(kind, "ReplicaSet") || streq(kind, "StatefulSet") ||
		    streq(kind, "ReplicationController") || streq(kind, "Deployment")))
		return NULL;
	if (streq(kind, "ReplicaSet")) {
		json_t *dref = ctrl_controller_of(c);

		if (dref && streq(ctrl_str(dref, "kind"), "Deployment")) {
			json_t *d = owner_by_uid(in, ctrl_str(dref, "uid"));

			if (d)
				c = d;
		}
	}
	*scale = ctrl_int(c, "spec.replicas", 1);
	return c;
}

/* upstream's getExpectedScale: the sum of the scales of the pods'
 * controllers, each counted once; pods without a controller are
 * unmanaged. -ENOENT (st->error set) when a controller is missing. */
static int expected_scale(const struct ctrl_disruption_in *in, json_t **pods, size_t n,
			  struct pdb_state *st)
{
	const char **seen = calloc(n ? n : 1, sizeof(*seen));
	size_t n_seen = 0;

	if (!seen)
		return -ENOMEM;
	st->expected = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *ref = ctrl_controller_of(pods[i]), *c;
		long long scale = 0;
		bool known = false;

		if (!ref) {
			st->unmanaged++;
			continue;
		}
		c = scaled_controller(in, ref, &scale);
		if (!c) {
			snprintf(st->error, sizeof(st->error), "found no controllers for pod \"%s\"",
				 ctrl_str(pods[i], "metadata.name") ?: "");
			free(seen);
			return -ENOENT;
		}
		for (size_t j = 0; j < n_seen && !known; j++)
			known = streq(seen[j], ctrl_str(c, "metadata.uid"));
		if (known)
			continue;
		seen[n_seen++] = ctrl_str(c, "metadata.uid");
		st->expected += scale;
	}
	free(seen);
	return 0;
}

/* An IntOrString against a total: an integer as it is, "N%" scaled and
 * rounded up (upstream's GetScaledValueFromIntOrPercent). */
static long long scaled(json_t *v, long long total)
{
	const char *s = json_string_value(v);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (!s)
		return 0;
	return (long long)ceil((double)strtoll(s, NULL, 10) * (double)total / 100.0);
}

/* upstream's getExpectedPodCount: expectedPods and desiredHealthy. */
static int expected_count(const struct ctrl_disruption_in *in, json_t **pods, size_t n,
			  struct pdb_state *st)
{
	json_t *max = ctrl_get(in->pdb, "spec.maxUnavailable");
	json_t *min = ctrl_get(in->pdb, "spec.minAvailable");
	int r;

	st->expected = st->desired = 0;
	if (max) {
		r = expected_scale(in, pods, n, st);
		if (r < 0)
			return r;
		st->desired = st->expected - scaled(max, st->expected);
		if (st->desired < 0)
			st->desired = 0;
	} else if (json_is_integer(min)) {
		st->desired = json_integer_value(min);
		st->expected = (long long)n;
	} else if (min) {
		r = expected_scale(in, pods, n, st);
		if (r < 0)
			return r;
		st->desired = scaled(min, st->expected);
	}
	return 0;
}

/* upstream's buildDisruptedPodMap: the evictions of pods not yet being
 * deleted whose DeletionTimeout has not passed; the others get a
 * NotDeleted Event. */
static int disrupted_pods(const struct ctrl_disruption_in *in, json_t **pods, size_t n,
			  struct pdb_state *st, struct ctrl_plan *p, time_t *recheck)
{
	json_t *was = ctrl_get(in->pdb, "status.disruptedPods");
	const char *ns = ctrl_str(in->pdb, "metadata.namespace") ?: "";

	st->disrupted = json_object();
	if (!st->disrupted)
		return -ENOMEM;
	for (size_t i = 0; json_is_object(was) && i < n; i++) {
		const char *name = ctrl_str(pods[i], "metadata.name");
		json_t *when = name ? json_object_get(was, name) : NULL;
		time_t t, expires;
		int r;

		if (!when || ctrl_pod_terminating(pods[i]) ||
		    ctrl_time_parse(json_string_value(when), &t) < 0)
			continue;
		expires = t + CTRL_DISRUPTION_DELETION_TIMEOUT;
		if (expires < in->now) {
			r = ctrl_plan_event(p, "pods", ns, name, "Warning", "NotDeleted",
					    "Pod was expected by PDB %s/%s to be deleted but it wasn't",
					    ns, ctrl_str(in->pdb, "metadata.name") ?: "");
			if (r < 0)
				return r;
			continue;
		}
		if (recheck && (!*recheck || expires < *recheck))
			*recheck = expires;
		json_object_set(st->disrupted, name, when);
	}
	return 0;
}

/* upstream's countHealthyPods: ready pods neither being deleted nor
 * about to be (in disruptedPods). */
static long long healthy_pods(json_t **pods, size_t n, json_t *disrupted)
{
	long long healthy = 0;

	for (size_t i = 0; i < n; i++) {
		const char *name = ctrl_str(pods[i], "metadata.name");

		if (ctrl_pod_terminating(pods[i]) || (name && json_object_get(disrupted, name)))
			continue;
		if (ctrl_pod_ready(pods[i], NULL))
			healthy++;
	}
	return healthy;
}

/* upstream's failSafe: the status as it was, but nothing may be
 * disrupted while the budget cannot be computed. */
static json_t *fail_safe_status(const struct ctrl_disruption_in *in, const char *why)
{
	json_t *old = ctrl_get(in->pdb, "status"), *c;
	json_t *s = json_is_object(old) ? json_deep_copy(old) : json_object();
	size_t i;

	if (!s)
		return NULL;
	json_object_set_new(s, "disruptionsAllowed", json_integer(0));
	ctrl_pdb_allowed_condition(s, in->now);
	json_array_foreach(json_object_get(s, "conditions"), i, c)
		if (streq(ctrl_str(c, "type"), "DisruptionAllowed")) {
			json_object_set_new(c, "reason", json_string("SyncFailed"));
			json_object_set_new(c, "message", json_string(why));
		}
	return s;
}

/* The status the computation says; conditions kept from old. */
static json_t *new_status(const struct ctrl_disruption_in *in, const struct pdb_state *st)
{
	json_t *old = ctrl_get(in->pdb, "status.conditions");
	json_t *s;

	if (st->error[0])
		return fail_safe_status(in, st->error);
	s = json_pack("{s:I,s:I,s:I,s:I,s:I}", "observedGeneration",
		      (json_int_t)ctrl_int(in->pdb, "metadata.generation", 0), "disruptionsAllowed",
		      (json_int_t)st->allowed, "currentHealthy", (json_int_t)st->healthy,
		      "desiredHealthy", (json_int_t)st->desired, "expectedPods",
		      (json_int_t)st->expected);
	if (!s)
		return NULL;
	if (json_object_size(st->disrupted))
		json_object_set(s, "disruptedPods", st->disrupted);
	if (json_is_array(old))
		json_object_set_new(s, "conditions", json_deep_copy(old));
	ctrl_pdb_allowed_condition(s, in->now);
	return s;
}

/* The events of the computation, then the status write when it moved. */
static int plan_status(const struct ctrl_disruption_in *in, struct pdb_state *st,
		       struct ctrl_plan *p, size_t n_pods)
{
	const char *ns = ctrl_str(in->pdb, "metadata.namespace") ?: "";
	const char *name = ctrl_str(in->pdb, "metadata.name") ?: "";
	json_t *status = new_status(in, st), *obj;
	int r = 0;

	if (!status)
		return -ENOMEM;
	if (n_pods == 0)
		r = ctrl_plan_event(p, PDB_RESOURCE, ns, name, "Normal", "NoPods",
				    "No matching pods found");
	if (r == 0 && st->error[0])
		r = ctrl_plan_event(p, PDB_RESOURCE, ns, name, "Warning",
				    "CalculateExpectedPodCountFailed",
				    "Failed to calculate the number of expected pods: %s", st->error);
	if (r == 0 && st->unmanaged)
		r = ctrl_plan_event(p, PDB_RESOURCE, ns, name, "Normal", "UnmanagedPods",
				    "Pods selected by this PodDisruptionBudget were found to be "
				    "unmanaged. As a result, the status of the PDB cannot be "
				    "calculated correctly, which may result in undefined behavior. To "
				    "account for these pods please set \".spec.minAvailable\" field "
				    "of the PDB to an integer value.");
	if (r < 0 || json_equal(status, ctrl_get(in->pdb, "status"))) {
		json_decref(status);
		return r;
	}
	obj = json_deep_copy(in->pdb);
	if (!obj) {
		json_decref(status);
		return -ENOMEM;
	}
	json_object_set_new(obj, "status", status);
	return ctrl_plan_add_sub(p, CTRL_UPDATE_STATUS, PDB_RESOURCE, "status", ns, name, obj);
}

int ctrl_disruption_compute(const struct ctrl_disruption_in *in, struct ctrl_plan *p,
			    time_t *recheck)
{
	struct pdb_state st = { 0 };
	json_t **pods;
	size_t n = 0;
	int r;

	if (!json_is_object(ctrl_get(in->pdb, "metadata")))
		return -EINVAL;
	if (recheck)
		*recheck = 0;
	pods = calloc(in->n_pods ? in->n_pods : 1, sizeof(*pods));
	if (!pods)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_pods; i++)
		if (streq(ctrl_str(in->pods[i], "metadata.namespace"),
			  ctrl_str(in->pdb, "metadata.namespace")) &&
		    pdb_selects(in->pdb, in->pods[i]))
			pods[n++] = in->pods[i];
	r = expected_count(in, pods, n, &st);
	if (r == -ENOENT) {
		r = 0;
	} else if (r == 0) {
		r = disrupted_pods(in, pods, n, &st, p, recheck);
		st.healthy = healthy_pods(pods, n, st.disrupted);
		st.allowed = st.healthy - st.desired;
		/* A PDB that expects no pods is safe until it sees its first. */
		if (st.expected <= 0 || st.allowed < 0)
			st.allowed = 0;
	}
	if (r == 0)
		r = plan_status(in, &st, p, n);
	json_decref(st.disrupted);
	free(pods);
	return r;
}
