/* Node lifecycle, as kube-controller-manager's nodelifecycle and
 * taint-eviction controllers do it, for one node at a time:
 *
 *  - Health: the kubelet renews its Lease (kube-node-lease/NODE,
 *    spec.renewTime) every 10 s and posts the Ready condition's
 *    lastHeartbeatTime. When the newer of the two (the node's
 *    creationTimestamp if it never posted) is older than grace, Ready,
 *    MemoryPressure, DiskPressure and PIDPressure become Unknown with
 *    reason NodeStatusUnknown, "Kubelet stopped posting node status." (a
 *    missing one is added with NodeStatusNeverUpdated, "Kubelet never
 *    posted node status."); the node gets a NodeNotReady event. The times
 *    are compared with now, so the servers' clocks must agree (upstream
 *    instead times the change it observes; a pure step cannot).
 *  - Taints from conditions (TaintNodesByCondition and the NoExecute
 *    tainting pass): Ready False -> node.kubernetes.io/not-ready NoSchedule
 *    and NoExecute, Ready Unknown -> node.kubernetes.io/unreachable
 *    NoSchedule and NoExecute, pressure conditions True ->
 *    memory-/disk-/pid-pressure NoSchedule, NetworkUnavailable True ->
 *    network-unavailable NoSchedule, spec.unschedulable ->
 *    unschedulable NoSchedule; each removed when its cause goes.
 *    NoExecute taints carry timeAdded. Taints set by users are kept.
 *  - Pods (bound to the node) while Ready is not True: Ready=False at once
 *    (MarkPodsNotReady), with a Warning NodeNotReady "Node is not ready".
 *  - Eviction (taint-eviction): a pod on a node with NoExecute taints is
 *    deleted when one of them is not tolerated, else when the earliest
 *    timeAdded + tolerationSeconds of the tolerations used has passed (no
 *    tolerationSeconds: never; <= 0: at once); event TaintManagerEviction.
 *    Upstream also writes a DisruptionTarget condition first: not done.
 */
#ifndef SKIFF_CTRL_NODELIFECYCLE_H
#define SKIFF_CTRL_NODELIFECYCLE_H

#include <time.h>

#include "control/ctrl_plan.h"

#define NODELC_GRACE_DEFAULT 50 /* --node-monitor-grace-period, seconds */
#define NODELC_LEASE_NAMESPACE "kube-node-lease"

/* Plans for node (its Lease, or NULL, and the pods bound to it) at now.
 * *next is set to when the node should be looked at again without a
 * change (its grace running out, a toleration expiring), 0 for never. */
int nodelc_compute(json_t *node, json_t *lease, json_t *const *pods, size_t n_pods,
		   long long grace, time_t now, struct ctrl_plan *p, time_t *next);

/* Admission, upstream's DefaultTolerationSeconds: a pod without a
 * toleration for node.kubernetes.io/not-ready:NoExecute (and the same for
 * unreachable) gets one, operator Exists, tolerationSeconds 300. The API
 * server calls it on pod create, before validation. -ENOMEM. */
#define NODELC_DEFAULT_TOLERATION_SECONDS 300
int admission_default_tolerations(json_t *pod);

#endif
