/* Pod garbage collection, as kube-controller-manager's podgc, in its
 * order:
 *  1. terminated pods (phase neither Pending, Running nor Unknown) beyond
 *     threshold (--terminated-pod-gc-threshold, 12500 by default; <= 0
 *     turns it off) are deleted, evicted ones first, then oldest
 *     creationTimestamp, then name;
 *  2. terminating pods on a node that is not Ready and has the
 *     node.kubernetes.io/out-of-service taint are force-deleted;
 *  3. pods bound to a node that is gone are force-deleted, after a status
 *     write to phase Failed with the DisruptionTarget condition
 *     (DeletionByPodGC, "PodGC: node no longer exists");
 *  4. terminating pods never scheduled are force-deleted.
 * Force deletion is grace 0 with the uid precondition; a pod not yet
 * Succeeded or Failed is marked Failed first (steps 2-4). A pod is
 * deleted at most once per plan.
 *
 * Gone nodes and the quarantine: a node missing from the cache may be a
 * cache lag, so upstream waits 40 s before believing it. The caller asks
 * podgc_absent_nodes which nodes pods name but the cache lacks, notes when
 * it first saw each absent, and passes to podgc_compute those absent for
 * PODGC_QUARANTINE seconds (confirmed by a GET returning 404, as
 * upstream). */
#ifndef SKIFF_CTRL_PODGC_H
#define SKIFF_CTRL_PODGC_H

#include <time.h>

#include "control/ctrl_plan.h"

#define PODGC_THRESHOLD_DEFAULT 12500
#define PODGC_QUARANTINE 40 /* seconds */

struct podgc_input {
	json_t *const *pods;
	size_t n_pods;
	json_t *const *nodes;
	size_t n_nodes;
	const char *const *gone_nodes; /* absent past the quarantine */
	size_t n_gone;
	long long threshold;
};

/* now stamps the conditions written. */
int podgc_compute(const struct podgc_input *in, time_t now, struct ctrl_plan *p);

/* The names (a new array of strings, each once, in the order pods name
 * them) of the nodes pods are bound to that are not among nodes; NULL on
 * allocation failure. */
json_t *podgc_absent_nodes(json_t *const *pods, size_t n_pods, json_t *const *nodes,
			   size_t n_nodes);

#endif
