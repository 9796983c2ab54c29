/* The garbage collector: dependents follow their owners through
 * metadata.ownerReferences, as kube-controller-manager's garbagecollector
 * does. It is THE cascading mechanism: the API server only sets
 * deletionTimestamp and, for the Orphan and Foreground policies, the
 * "orphan" or "foregroundDeletion" finalizer; this loop deletes the
 * dependents, drops references, and removes those finalizers.
 *
 * Per object X (all from the caller's caches, which must have synced):
 *  - X being deleted with "orphan": every dependent loses its reference to
 *    X (merge patch with resourceVersion precondition); once none refers to
 *    X any more, the finalizer goes (a later pass, so a failed patch never
 *    leaves a dependent pointing at a deleted owner).
 *  - X being deleted with "foregroundDeletion": its dependents are deleted
 *    (each from its own side, below); once no dependent with
 *    blockOwnerDeletion=true remains, the finalizer goes.
 *  - X with owner references: each owner is solid (exists, not deleting in
 *    foreground), waiting (exists, deleting in foreground) or dangling
 *    (no object with that uid, or a namespaced one in another namespace:
 *    Warning OwnerRefInvalidNamespace). With a solid owner, the dangling
 *    and waiting references are patched away; else, with a waiting owner
 *    and dependents of its own, X is deleted with Foreground; else X is
 *    deleted with its own finalizer's policy (Orphan, Foreground) or
 *    Background. Deletes carry the uid precondition.
 *  - A cluster-scoped X naming a namespaced owner kind is invalid: Warning
 *    OwnerRefInvalidNamespace and X is left alone (as upstream, which never
 *    retries it). A reference to a kind not among the caches is solid: an
 *    owner that cannot be looked up is never taken for gone.
 * Not done: upstream's cycle unblocking between two foreground deletes.
 *
 * Driving it per key: call gc_compute_one for an object that changed, for
 * the owners its old and new versions name, and, when it vanished, for the
 * objects that named it (gc_compute_one of a foreground-deleting owner also
 * reconsiders its dependents). gc_compute does every object (resync). */
#ifndef SKIFF_CTRL_GC_H
#define SKIFF_CTRL_GC_H

#include <stdbool.h>
#include <stddef.h>

#include "control/ctrl_plan.h"

/* One watched kind and its cache. */
struct gc_kind {
	const char *group;    /* "" for core, "apps", "batch", ... */
	const char *kind;     /* "ReplicaSet" */
	const char *resource; /* as kc_resource_find takes it: "replicasets.apps" */
	bool namespaced;
	json_t *const *objs;
	size_t n;
};

/* An index of the caches by uid and by owner; it points into the objects,
 * which must outlive it. */
struct gc_graph;

int gc_graph_new(const struct gc_kind *kinds, size_t n_kinds, struct gc_graph **out);
void gc_graph_free(struct gc_graph *g);

/* Plans for the object of that uid (nothing when it is not cached). */
int gc_compute_one(const struct gc_graph *g, const char *uid, struct ctrl_plan *p);
/* Plans for every cached object. */
int gc_compute(const struct gc_kind *kinds, size_t n_kinds, struct ctrl_plan *p);

#endif
