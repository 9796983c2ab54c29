/* The namespace controller, as kube-controller-manager's: a namespace
 * with a deletionTimestamp is Terminating; every object in it is deleted;
 * once none remains, the "kubernetes" finalizer leaves spec.finalizers
 * through the finalize subresource, and the API server removes the
 * namespace when no finalizer is left.
 *
 * Status (written when it changes): phase Terminating and upstream's five
 * conditions. NamespaceDeletionDiscoveryFailure and
 * NamespaceDeletionGroupVersionParsingFailure are always False (the
 * caller's list of resources is fixed, there is no discovery to fail);
 * NamespaceDeletionContentFailure is True when the caller reports an
 * error for a resource; NamespaceContentRemaining and
 * NamespaceFinalizersRemaining count what is left, with upstream's reasons
 * and messages. Upstream's pods-first deletion order is not done. */
#ifndef SKIFF_CTRL_NAMESPACE_H
#define SKIFF_CTRL_NAMESPACE_H

#include <time.h>

#include "control/ctrl_plan.h"

/* What one namespaced resource holds in the namespace. */
struct ns_content {
	const char *resource; /* as kc_resource_find takes it: "pods", "deployments.apps" */
	json_t *const *objs;  /* its objects in the namespace */
	size_t n;
	const char *error;    /* NULL, or why listing / deleting it last failed */
};

/* Plans for namespace ns (nothing unless it is being deleted and still has
 * the "kubernetes" finalizer) given everything in it. */
int namespace_compute(json_t *ns, const struct ns_content *content, size_t n_content,
		      time_t now, struct ctrl_plan *p);

#endif
