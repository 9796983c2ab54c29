/* The DaemonSet controller's compute step (upstream pkg/controller/daemon):
 * from a DaemonSet, the nodes, the pods it controls and its
 * ControllerRevisions, the pods to create and delete, the revision to
 * record, the status to write and the Events. Pure: "now" is an input.
 *
 *   struct ds_input in = { ds, nodes, n_nodes, pods, n_pods, revs, n_revs, now };
 *   struct ds_result res;
 *   ds_compute(&in, &plan, &res);   // send plan; requeue after res.requeue_after s
 *
 * One pod per eligible node: the template's nodeSelector and required node
 * affinity must match and the node's NoSchedule / NoExecute taints be
 * tolerated, counting the tolerations upstream adds to every daemon pod
 * (not-ready and unreachable NoExecute; disk-, memory-, pid-pressure and
 * unschedulable NoSchedule; network-unavailable for hostNetwork pods). A
 * pod is placed by a required node affinity on metadata.name (matchFields),
 * as upstream does, and the scheduler binds it. A node whose new NoSchedule
 * taint is not tolerated keeps its running pod; one with an untolerated
 * NoExecute taint loses it. Extra pods on a node: the oldest is kept.
 * Failed and succeeded pods are deleted (FailedDaemonPod) and made again.
 *
 * Updates: every pod carries controller-revision-hash (the template's hash,
 * also naming the ControllerRevision "<ds>-<hash>" created here);
 * RollingUpdate deletes old pods while at most maxUnavailable (default 1,
 * percentages of desiredNumberScheduled rounded up) are unavailable, and the
 * next sync makes their replacements; OnDelete waits for the user.
 *
 * Not covered: maxSurge > 0 (treated as 0), the failed-pod backoff (a
 * failed pod is replaced at the next sync), the deprecated
 * templateGeneration match (the hash alone says whether a pod is current). */
#ifndef SKIFF_CTRL_DAEMONSET_H
#define SKIFF_CTRL_DAEMONSET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "control/ctrl_plan.h"

#define DS_RESOURCE "daemonsets.apps"
#define DS_GENERATION_LABEL "pod-template-generation"
#define DS_BURST 250 /* upstream BurstReplicas: creates per sync */

struct ds_input {
	json_t *ds;
	json_t **nodes; /* every node */
	size_t n_nodes;
	json_t **pods; /* pods of the DaemonSet's namespace; others than its own are skipped */
	size_t n_pods;
	json_t **revisions; /* ControllerRevisions of the namespace; likewise */
	size_t n_revisions;
	time_t now;
};

struct ds_result {
	long long requeue_after; /* seconds; 0: none */
	char hash[16];           /* the current revision's hash */
};

/* Plans one sync. -EINVAL for a malformed DaemonSet (maxUnavailable),
 * -ENOMEM. */
int ds_compute(const struct ds_input *in, struct ctrl_plan *p, struct ds_result *res);

/* Whether a DaemonSet's pods should run on node, and whether a pod already
 * there may go on running (upstream NodeShouldRunDaemonPod). */
void ds_node_should_run(json_t *ds, json_t *node, bool *should_run, bool *should_continue);

#endif
