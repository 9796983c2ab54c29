/* The StatefulSet controller's compute step (upstream
 * pkg/controller/statefulset, stateful_set_control.go): from a StatefulSet,
 * the pods it controls and its ControllerRevisions, the pods to create and
 * delete, the revision to record, the status and the Events. Pure: "now"
 * is an input.
 *
 *   struct sts_input in = { sts, pods, n_pods, revs, n_revs, now };
 *   sts_compute(&in, &plan, &res);   // send plan; requeue after res.requeue_after s
 *
 * Pods are <set>-<ordinal> for ordinals spec.ordinals.start (0) ..
 * start+replicas-1, with hostname = pod name and subdomain =
 * spec.serviceName (DNS through the headless Service), the labels
 * statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and
 * controller-revision-hash (the revision's name, "<set>-<hash>").
 * OrderedReady (the default) creates ordinal i only once 0..i-1 are
 * Running and Ready (and available for minReadySeconds), and scales down
 * from the highest ordinal, one pod at a time, only while the others are
 * healthy; Parallel creates and deletes without waiting. RollingUpdate
 * replaces pods from the highest ordinal down to spec.updateStrategy.
 * rollingUpdate.partition, one at a time, each after the one above is
 * healthy again; pods below the partition are made from the current
 * revision's template. OnDelete makes new pods from the update revision
 * only when the user deletes old ones. Failed (and Succeeded) pods are
 * deleted, and made again at the next sync once gone. As upstream, status
 * counts the pods that exist (a pod created by this sync counts from the
 * next one).
 *
 * Not covered: volumeClaimTemplates (refused at admission: see
 * sts_validate_create), persistentVolumeClaimRetentionPolicy,
 * maxUnavailable for rolling updates (alpha upstream), identity repair of
 * pods whose labels were edited. */
#ifndef SKIFF_CTRL_STATEFULSET_H
#define SKIFF_CTRL_STATEFULSET_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "control/ctrl_plan.h"

#define STS_RESOURCE "statefulsets.apps"
#define STS_POD_NAME_LABEL "statefulset.kubernetes.io/pod-name"
#define STS_POD_INDEX_LABEL "apps.kubernetes.io/pod-index"

struct sts_input {
	json_t *sts;
	json_t **pods; /* pods of the StatefulSet's namespace; others than its own are skipped */
	size_t n_pods;
	json_t **revisions; /* ControllerRevisions of the namespace; likewise */
	size_t n_revisions;
	time_t now;
};

struct sts_result {
	long long requeue_after; /* seconds; 0: none */
};

/* Plans one sync. -EINVAL for a malformed StatefulSet, -ENOMEM. */
int sts_compute(const struct sts_input *in, struct ctrl_plan *p, struct sts_result *res);

/* Admission check the API server runs on a StatefulSet create (and
 * update): volumeClaimTemplates need storage, which skiff does not have
 * yet. -EINVAL with the field error in err ("spec.volumeClaimTemplates:
 * Forbidden: ..."), for a 422 Invalid. */
int sts_validate_create(json_t *sts, char *err, size_t len);

#endif
