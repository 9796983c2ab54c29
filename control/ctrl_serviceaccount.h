/* The service account controller (its controller part), as
 * kube-controller-manager's serviceaccounts-controller: every active
 * namespace has a ServiceAccount named "default". A namespace being
 * deleted (deletionTimestamp, or phase Terminating) gets none, so the
 * namespace controller's work is not undone. Issuing tokens
 * (TokenRequest) belongs to the API server, not here. */
#ifndef SKIFF_CTRL_SERVICEACCOUNT_H
#define SKIFF_CTRL_SERVICEACCOUNT_H

#include "control/ctrl_plan.h"

#define SA_DEFAULT_NAME "default"

/* Plans the create of ns's "default" ServiceAccount when none of sas (the
 * ServiceAccounts cached in ns) has that name. */
int serviceaccount_compute(json_t *ns, json_t *const *sas, size_t n_sas, struct ctrl_plan *p);

#endif
