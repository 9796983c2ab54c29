/* The disruption controller's compute step: a PodDisruptionBudget's
 * status from the pods its selector matches and their controllers'
 * scale, as kube-controller-manager's disruption controller computes it
 * (expectedPods, currentHealthy, desiredHealthy, disruptionsAllowed,
 * disruptedPods, observedGeneration, the DisruptionAllowed condition).
 * Pure: objects in, a ctrl_plan out (control/ctrl_plan.h).
 *
 *   struct ctrl_disruption_in in = { pdb, pods, n_pods, owners, n_owners, now };
 *   r = ctrl_disruption_compute(&in, &plan, &recheck);
 */
#ifndef SKIFF_CTRL_DISRUPTION_H
#define SKIFF_CTRL_DISRUPTION_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control/ctrl_plan.h"

/* How long an eviction's entry in status.disruptedPods keeps its pod out
 * of currentHealthy while the pod has not been deleted (upstream's
 * DeletionTimeout). */
#define CTRL_DISRUPTION_DELETION_TIMEOUT 120

struct ctrl_disruption_in {
	json_t *pdb;
	json_t **pods;   /* the pods of the PDB's namespace (the selector is applied here) */
	size_t n_pods;
	json_t **owners; /* the controllers that may own them: ReplicaSets,
	                  * Deployments, StatefulSets, ReplicationControllers,
	                  * found by metadata.uid */
	size_t n_owners;
	time_t now;
};

/* Appends to p: the PDB's status write (CTRL_UPDATE_STATUS on
 * "poddisruptionbudgets.policy", the whole object) when it changed, and
 * the Events upstream records (NoPods, UnmanagedPods,
 * CalculateExpectedPodCountFailed, NotDeleted). *recheck (may be NULL)
 * is when to compute again because an entry of disruptedPods expires, 0
 * for never. A controller that cannot be found makes the status
 * fail-safe (disruptionsAllowed 0, condition reason SyncFailed), as
 * upstream's failSafe. -EINVAL for a PDB without metadata, -ENOMEM. */
int ctrl_disruption_compute(const struct ctrl_disruption_in *in, struct ctrl_plan *p,
			    time_t *recheck);

/* Sets the DisruptionAllowed condition of a PDB's status from its
 * disruptionsAllowed (True/SufficientPods, else False/InsufficientPods),
 * keeping lastTransitionTime when the status does not change; shared
 * with the eviction subresource (control/api_policy.c), which decrements
 * disruptionsAllowed. */
static inline void ctrl_pdb_allowed_condition(json_t *status, time_t now)
{
	json_t *conds = json_object_get(status, "conditions"), *c = NULL, *it;
	json_int_t allowed = json_integer_value(json_object_get(status, "disruptionsAllowed"));
	const char *want = allowed > 0 ? "True" : "False";
	size_t i;
	char ts[32];
	struct tm tm;

	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	json_array_foreach(conds, i, it)
		if (json_is_string(json_object_get(it, "type")) &&
		    strcmp(json_string_value(json_object_get(it, "type")), "DisruptionAllowed") == 0)
			c = it;
	if (!c) {
		c = json_object();
		json_object_set_new(c, "type", json_string("DisruptionAllowed"));
		json_array_append_new(conds, c);
	}
	if (!json_is_string(json_object_get(c, "status")) ||
	    strcmp(json_string_value(json_object_get(c, "status")), want) != 0 ||
	    !json_object_get(c, "lastTransitionTime")) {
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(c, "lastTransitionTime", json_string(ts));
	}
	json_object_set_new(c, "status", json_string(want));
	json_object_set_new(c, "reason", json_string(allowed > 0 ? "SufficientPods" : "InsufficientPods"));
	json_object_set_new(c, "message", json_string(""));
	json_object_set_new(c, "observedGeneration", json_integer(json_integer_value(
						      json_object_get(status, "observedGeneration"))));
}

#endif
